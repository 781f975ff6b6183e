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
    /// A person signed up: a new, unverified account (not audited: see
    /// `Event::audited`).
    UserRegistered = "user.registered" on "user" {}
    /// A person confirmed their account's address through the emailed link
    /// (not audited).
    UserEmailVerified = "user.email_verified" on "user" {}
    /// A person changed their profile: display name, country, languages, or
    /// the new address awaiting verification (set or dropped).
    UserProfileUpdated = "user.profile_updated" on "user" {
        /// The fields that changed: `display_name`, `country`, `languages`,
        /// `pending_email`.
        changed: Vec<String>,
    }
    /// A new address was confirmed through its emailed link and replaced
    /// the account's address.
    UserEmailChanged = "user.email_changed" on "user" {}
    /// A person changed their password (their other sessions, API tokens
    /// and a pending address change ended).
    UserPasswordChanged = "user.password_changed" on "user" {}
    /// A password was set through an emailed reset link (every session, API
    /// token and pending address change ended; lock-outs lifted).
    UserPasswordReset = "user.password_reset" on "user" {
        /// The link also verified the account's address.
        email_verified: bool,
    }
    /// A person signed out of one session.
    UserSignedOut = "user.signed_out" on "user" {}
    /// A person ended every session (their API tokens and a pending address
    /// change ended too).
    UserSignedOutEverywhere = "user.signed_out_everywhere" on "user" {}
    /// An account was deactivated, by its owner or by an admin (its sessions
    /// and API tokens ended).
    UserDeactivated = "user.deactivated" on "user" {
        /// `self` or `admin`.
        by: String,
    }
    /// An admin reactivated an account.
    UserReactivated = "user.reactivated" on "user" {}
    /// An admin changed an account's platform role (its sessions ended).
    UserRoleChanged = "user.role_changed" on "user" {
        from: crate::domain::Role,
        to: crate::domain::Role,
    }
    /// A person switched emails of some notification kinds on or off.
    NotificationPreferencesChanged = "user.notification_preferences_changed" on "user" {
        /// Kinds now emailed.
        email_on: Vec<String>,
        /// Kinds no longer emailed.
        email_off: Vec<String>,
    }
    /// A person created a personal API token.
    ApiTokenCreated = "api_token.created" on "api_token" {
        name: String,
        scopes: Vec<crate::domain::Scope>,
        expires_at: Option<DateTime<Utc>>,
    }
    /// A person revoked one of their API tokens.
    ApiTokenRevoked = "api_token.revoked" on "api_token" {}
    /// An admin queued a dead email again.
    OutboxRetried = "outbox.retried" on "email" {
        recipient: String,
    }
    /// An admin registered a client app (a partner frontend: its link bases,
    /// origins and cookie-session choice).
    ClientAppCreated = "client_app.created" on "client_app" {
        #[serde(flatten)]
        settings: crate::domain::client::ClientSettings,
    }
    /// An admin changed a client app (`changed` names the fields; the
    /// settings are the new ones).
    ClientAppUpdated = "client_app.updated" on "client_app" {
        changed: Vec<String>,
        #[serde(flatten)]
        settings: crate::domain::client::ClientSettings,
    }
    /// An admin deleted a client app (its links and origins stop working;
    /// its cookie sessions can no longer be refreshed).
    ClientAppDeleted = "client_app.deleted" on "client_app" {
        name: String,
    }

    // ----- institutions -----
    /// Someone created an institution (they become its owner: a
    /// `membership.added` follows).
    InstitutionCreated = "institution.created" on "institution" {
        slug: String,
        name: String,
        country: String,
    }
    /// An owner (or an admin) changed an institution.
    InstitutionUpdated = "institution.updated" on "institution" {
        #[serde(flatten)]
        change: crate::domain::institution::InstitutionChange,
    }
    /// An owner (or an admin) deleted an institution.
    InstitutionDeleted = "institution.deleted" on "institution" {
        slug: String,
        name: String,
    }
    /// An admin verified an institution (its owners are told).
    InstitutionVerified = "institution.verified" on "institution" {
        slug: String,
    }
    /// Someone became a member: the creator of an institution, or who
    /// accepted an invitation (then told).
    MembershipAdded = "membership.added" on "institution" {
        #[serde(flatten)]
        member: crate::domain::institution::MemberRole,
    }
    /// An owner changed a member's role (the member is told).
    MembershipRoleChanged = "membership.role_changed" on "institution" {
        user_id: String,
        from: crate::domain::policy::InstitutionRole,
        to: crate::domain::policy::InstitutionRole,
    }
    /// A member left the institution.
    MembershipLeft = "membership.left" on "institution" {
        #[serde(flatten)]
        member: crate::domain::institution::MemberRole,
    }
    /// An owner (or an admin) removed a member (the member is told).
    MembershipRemoved = "membership.removed" on "institution" {
        #[serde(flatten)]
        member: crate::domain::institution::MemberRole,
    }
    /// An owner or editor invited an address (replacing a pending
    /// invitation of the same address, if there was one).
    InvitationSent = "invitation.sent" on "institution" {
        invitation_id: String,
        email: String,
        role: crate::domain::policy::InstitutionRole,
        /// The pending invitation this one withdrew, if any.
        replaces: Option<String>,
    }
    /// An owner or editor withdrew a pending invitation.
    InvitationWithdrawn = "invitation.withdrawn" on "institution" {
        invitation_id: String,
    }
    /// The invited person accepted (a `membership.added` follows).
    InvitationAccepted = "invitation.accepted" on "institution" {
        invitation_id: String,
    }

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
    /// A version was published: `1.0` with the first publication, then
    /// each draft of a next version published (its content change is the
    /// `resource.updated` recorded with it).
    ResourceVersionPublished = "resource.version_published" on "resource" {
        kind: ResourceKind,
        /// `1.2`.
        label: String,
        /// A new major version (`2.0`); the first is one too.
        major: bool,
        note: Option<String>,
        visibility: Visibility,
    }
    /// The whole resource was withdrawn (deaccessioned): a tombstone
    /// answers for it, and it left lists, search, the feed and the
    /// harvests; grants on it ended. `visibility` is the one it had.
    ResourceDeaccessioned = "resource.deaccessioned" on "resource" {
        #[serde(flatten)]
        resource: ResourceSummary,
        visibility: Visibility,
        /// Its latest version then (`1.2`).
        label: Option<String>,
        reason: String,
        /// The access grants that ended with it.
        grants_ended: usize,
    }
    /// One earlier version was withdrawn: it answers with a tombstone; the
    /// resource and its other versions stay.
    ResourceVersionDeaccessioned = "resource.version_deaccessioned" on "resource" {
        kind: ResourceKind,
        label: String,
        reason: String,
    }
    /// A dataset's embargo (or one file's: `file_id`) ended: its files may
    /// be linked to as its access level says.
    ResourceEmbargoLifted = "resource.embargo_lifted" on "resource" {
        file_id: Option<String>,
        embargo_until: DateTime<Utc>,
    }
    /// A dataset's retention period ended: its files are no longer handed
    /// out, and the grants on it ended.
    ResourceRetentionEnded = "resource.retention_ended" on "resource" {
        retention_until: DateTime<Utc>,
        grants_ended: usize,
    }
    /// A dataset's owners were reminded that its retention period ends
    /// soon (30 and 7 days before).
    ResourceRetentionReminder = "resource.retention_reminder" on "resource" {
        retention_until: DateTime<Utc>,
        days: i64,
    }
    /// An editor changed the draft of a published resource's next version
    /// (the published version is unchanged).
    ResourceDraftUpdated = "resource.draft_updated" on "resource" {
        kind: ResourceKind,
        changed: Vec<String>,
        /// Counts the draft's changes.
        revision: i64,
    }
    /// The draft of a published resource's next version was discarded.
    ResourceDraftDiscarded = "resource.draft_discarded" on "resource" {
        kind: ResourceKind,
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

    // ----- learning -----
    /// An editor added a module to a course (the ones from its position on moved down).
    ModuleCreated = "module.created" on "resource" {
        #[serde(flatten)]
        module: crate::domain::learning::ModulePlace,
    }
    /// An editor changed or moved a module of a course.
    ModuleUpdated = "module.updated" on "resource" {
        module_id: String,
        from_position: i32,
        position: i32,
        /// The fields the change set, in request order.
        changed: Vec<String>,
    }
    /// An editor removed a module from a course (the ones after it moved up).
    ModuleDeleted = "module.deleted" on "resource" {
        #[serde(flatten)]
        module: crate::domain::learning::ModulePlace,
    }
    /// A learner enrolled in a course for the first time.
    EnrollmentCreated = "enrollment.created" on "resource" {
        user_id: String,
    }
    /// A learner who had withdrawn enrolled again, back where they were.
    EnrollmentResumed = "enrollment.resumed" on "resource" {
        #[serde(flatten)]
        change: crate::domain::learning::EnrollmentChange,
    }
    /// A learner withdrew from a course (their progress is kept).
    EnrollmentWithdrawn = "enrollment.withdrawn" on "resource" {
        #[serde(flatten)]
        change: crate::domain::learning::EnrollmentChange,
    }
    /// A learner moved on to the course's latest version (they keep the
    /// version they started on until they choose to).
    EnrollmentUpgraded = "enrollment.upgraded" on "resource" {
        user_id: String,
        /// The version they were on (`1.2`; null for an enrollment older
        /// than versions).
        from: Option<String>,
        to: String,
    }
    /// A learner completed a course: every counted module is done (by their
    /// own mark, or because an editor removed or relaxed the rest).
    EnrollmentCompleted = "enrollment.completed" on "resource" {
        #[serde(flatten)]
        change: crate::domain::learning::EnrollmentChange,
        completion_id: String,
    }
    /// A learner marked a module done (the first time only).
    ModuleDone = "enrollment.module_done" on "resource" {
        #[serde(flatten)]
        progress: crate::domain::learning::ModuleProgress,
    }
    /// A learner un-marked a module they had marked done.
    ModuleUndone = "enrollment.module_undone" on "resource" {
        #[serde(flatten)]
        progress: crate::domain::learning::ModuleProgress,
    }

    // ----- partnerships (add this area's events here) -----
    // Subject: the partnership (its id). Payload words are typed enums
    // (`domain::partnership`), serialized as the same words as before.
    /// A platform coordinator or admin proposed a partnership (and became
    /// its first coordinator).
    PartnershipCreated = "partnership.created" on "partnership" {
        slug: String,
        title: String,
    }
    /// Coordinators changed a partnership's details (`null`: not changed).
    PartnershipUpdated = "partnership.updated" on "partnership" {
        title: Option<String>,
        public: Option<bool>,
        starts_on: Option<chrono::NaiveDate>,
        ends_on: Option<chrono::NaiveDate>,
        /// The fields the change set, in the request's vocabulary.
        fields: Vec<String>,
    }
    /// A partnership was activated, concluded or dissolved.
    PartnershipStatusChanged = "partnership.status_changed" on "partnership" {
        from: crate::domain::partnership::PartnershipStatus,
        to: crate::domain::partnership::PartnershipStatus,
    }
    /// Coordinators invited an institution (again, after it left, declined
    /// or was removed).
    PartnershipMemberInvited = "partnership.member_invited" on "partnership" {
        /// The institution's slug.
        institution: String,
    }
    /// An invited institution's owner accepted: it is an active member.
    PartnershipMemberAccepted = "partnership.member_active" on "partnership" {
        #[serde(flatten)]
        change: crate::domain::partnership::MemberChange,
    }
    /// An invited institution's owner declined the invitation.
    PartnershipMemberDeclined = "partnership.member_declined" on "partnership" {
        #[serde(flatten)]
        change: crate::domain::partnership::MemberChange,
    }
    /// An active member institution's owner left the partnership.
    PartnershipMemberLeft = "partnership.member_left" on "partnership" {
        #[serde(flatten)]
        change: crate::domain::partnership::MemberChange,
    }
    /// Coordinators removed a member institution (or withdrew its invitation).
    PartnershipMemberRemoved = "partnership.member_removed" on "partnership" {
        #[serde(flatten)]
        change: crate::domain::partnership::MemberChange,
    }
    /// Coordinators added a coordinator.
    PartnershipCoordinatorAdded = "partnership.coordinator_added" on "partnership" {
        user_id: String,
    }
    /// Coordinators removed a coordinator.
    PartnershipCoordinatorRemoved = "partnership.coordinator_removed" on "partnership" {
        user_id: String,
    }
    /// An editor of an active member institution shared one of its resources.
    PartnershipResourceShared = "partnership.resource_shared" on "partnership" {
        resource_id: String,
        kind: crate::domain::resource::ResourceKind,
    }
    /// A resource stopped being shared into a partnership.
    PartnershipResourceUnshared = "partnership.resource_unshared" on "partnership" {
        resource_id: String,
    }
    /// The digest of newly shared resources went to the owners of the
    /// active member institutions (at most one a day per partnership).
    PartnershipDigestSent = "partnership.digest_sent" on "partnership" {
        /// The resources announced (ids, oldest share first).
        resources: Vec<String>,
        /// How many people were told.
        recipients: usize,
    }

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
    /// A decider was reminded of the requests pending for longer than
    /// `access.reminder_after_days` (the periodic sweep: one per decider and run).
    AccessRemindersSent = "access_request.reminder_sent" on "user" {
        /// The pending requests listed in the reminder (ids).
        requests: Vec<String>,
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
    /// Whether the dispatcher also writes an audit entry for the event. The
    /// audit log is the accountable record of decisions and governance;
    /// signing up and confirming one's own address decide nothing for anyone
    /// else, so they are in the event stream only.
    pub fn audited(&self) -> bool {
        !matches!(
            self,
            Self::UserRegistered { .. } | Self::UserEmailVerified { .. }
        )
    }

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
