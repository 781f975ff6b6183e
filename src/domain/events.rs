//! The catalogue of domain events: what can happen, what it is about and
//! what it carries. One `events!` entry per event: its wire name
//! (`access_request.approved`), the kind of its subject, and its payload's
//! fields. `docs/EVENTS.md` lists the same catalogue (a test keeps them
//! equal); `app::events::record` writes an event and the audit entry derived
//! from it in the caller's transaction.
//!
//! Areas are moved onto events one at a time; the ones not yet moved still
//! write their audit entries directly (docs/EVENTS.md says which).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::resource::{ResourceKind, Visibility};

macro_rules! events {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident = $name:literal on $subject:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    )*) => {
        /// Every kind of domain event, with its typed payload.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", content = "data")]
        pub enum Event {
            $(
                $(#[doc = $doc])+
                #[serde(rename = $name)]
                $variant { $( $(#[$fmeta])* $field: $ty ),* },
            )*
        }

        impl Event {
            /// The wire name, e.g. `access_request.approved`.
            pub fn name(&self) -> &'static str {
                match self { $( Self::$variant { .. } => $name, )* }
            }

            /// The kind of thing the event is about.
            pub fn subject_kind(&self) -> &'static str {
                match self { $( Self::$variant { .. } => $subject, )* }
            }

            /// `(name, subject kind, when)` of every event, in catalogue order.
            pub const CATALOGUE: &'static [(&'static str, &'static str, &'static str)] = &[
                $( ($name, $subject, concat!($($doc),+)), )*
            ];
        }
    };
}

events! {
    // ----- accounts (add this area's events here) -----

    // ----- institutions (add this area's events here) -----

    // ----- resources -----
    /// A draft course, dataset or model card was created.
    ResourceCreated = "resource.created" on "resource" {
        kind: ResourceKind,
        title: String,
        /// The owning institution's slug.
        institution: String,
        visibility: Visibility,
    }
    /// A resource's content changed (`changed` names the fields; the
    /// version is the new one).
    ResourceUpdated = "resource.updated" on "resource" {
        kind: ResourceKind,
        changed: Vec<String>,
        version: i64,
    }
    /// A change widened or narrowed who may see a resource (recorded with
    /// its `resource.updated`).
    ResourceVisibilityChanged = "resource.visibility_changed" on "resource" {
        kind: ResourceKind,
        from: Visibility,
        to: Visibility,
    }
    /// A draft was published.
    ResourcePublished = "resource.published" on "resource" {
        #[serde(flatten)]
        resource: ResourceSummary,
        visibility: Visibility,
    }
    /// A published resource was archived (readable, no longer changes).
    ResourceArchived = "resource.archived" on "resource" {
        #[serde(flatten)]
        resource: ResourceSummary,
        visibility: Visibility,
    }
    /// A draft was deleted.
    ResourceDeleted = "resource.deleted" on "resource" {
        #[serde(flatten)]
        resource: ResourceSummary,
    }
    /// A resource was loaded already published, with its own dates (bulk
    /// import: `kujenga seed-demo`).
    ResourceImported = "resource.imported" on "resource" {
        #[serde(flatten)]
        resource: ResourceSummary,
        visibility: Visibility,
        published_at: DateTime<Utc>,
        files: usize,
        modules: usize,
    }
    /// A file was added to a dataset.
    DatasetFileAdded = "dataset.file_added" on "resource" {
        file_id: String,
        name: String,
        size_bytes: i64,
    }
    /// A file was removed from a dataset.
    DatasetFileRemoved = "dataset.file_removed" on "resource" {
        file_id: String,
        name: String,
    }

    // ----- learning (add this area's events here) -----

    // ----- partnerships (add this area's events here) -----

    // ----- access -----
    /// Someone asked for access to a restricted dataset.
    AccessRequestCreated = "access_request.created" on "access_request" {
        dataset_id: String,
        institution: Option<String>,
        from_country: Option<String>,
        to_country: Option<String>,
        duration_days: i32,
    }
    /// The owning institution approved an access request (a grant begins).
    AccessRequestApproved = "access_request.approved" on "access_request" {
        #[serde(flatten)]
        change: AccessChange,
    }
    /// The owning institution rejected an access request.
    AccessRequestRejected = "access_request.rejected" on "access_request" {
        #[serde(flatten)]
        change: AccessChange,
    }
    /// The requester withdrew a pending access request.
    AccessRequestWithdrawn = "access_request.withdrawn" on "access_request" {
        #[serde(flatten)]
        change: AccessChange,
    }
    /// The owning institution revoked a grant.
    AccessRequestRevoked = "access_request.revoked" on "access_request" {
        #[serde(flatten)]
        change: AccessChange,
    }
    /// A grant ran out, or a request waited too long (the periodic sweep).
    AccessRequestExpired = "access_request.expired" on "access_request" {
        dataset_id: String,
        from: String,
        to: String,
    }
    /// A file link was issued (who, which file, from which country to which).
    FileLinkIssued = "dataset.file_link_issued" on "dataset_file" {
        dataset_id: String,
        file: String,
        link_id: String,
        access_request_id: Option<String>,
        from_country: Option<String>,
        to_country: Option<String>,
        expires_at: DateTime<Utc>,
    }
    /// A file link was refused (at most one event per caller, file and reason
    /// in ten minutes; `repeats` counts the ones held back before it).
    FileLinkRefused = "dataset.file_link_refused" on "dataset_file" {
        dataset_id: String,
        reason: String,
        client_ip: Option<String>,
        repeats: u64,
    }
}

/// How an access request moved (approve, reject, withdraw, revoke).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessChange {
    pub dataset_id: String,
    pub from: String,
    pub to: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub from_country: Option<String>,
    pub to_country: Option<String>,
}

/// Which resource an event is about, by kind, title and owner (resource
/// events other than create and update).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSummary {
    pub kind: ResourceKind,
    pub title: String,
    pub institution_id: String,
}

impl Event {
    /// The payload alone, as JSON (what the `events.payload` column and the
    /// derived audit entry's `detail` hold).
    pub fn payload(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("data").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_dotted() {
        let mut names: Vec<&str> = Event::CATALOGUE.iter().map(|(n, _, _)| *n).collect();
        for n in &names {
            assert!(
                n.contains('.')
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{n}"
            );
        }
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn payloads_round_trip_and_carry_no_type() {
        let event = Event::AccessRequestApproved {
            change: AccessChange {
                dataset_id: "d".into(),
                from: "pending".into(),
                to: "approved".into(),
                expires_at: Some(DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
                from_country: Some("KE".into()),
                to_country: None,
            },
        };
        assert_eq!(event.name(), "access_request.approved");
        assert_eq!(event.subject_kind(), "access_request");
        let payload = event.payload();
        assert_eq!(payload["to"], "approved");
        assert!(payload.get("type").is_none() && payload.get("change").is_none());
        let back: Event = serde_json::from_value(serde_json::json!({
            "type": event.name(), "data": payload
        }))
        .unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn the_catalogue_is_documented() {
        let doc = include_str!("../../docs/EVENTS.md");
        for (name, subject, _) in Event::CATALOGUE {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/EVENTS.md does not list {name}"
            );
            assert!(doc.contains(subject), "{subject}");
        }
    }
}
