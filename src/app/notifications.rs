//! In-app notifications and their emails: `notify` records the notification
//! and queues its email (unless the person switched that kind off) in the
//! caller's transaction. Commands reach it through the event dispatcher
//! (`app::events::record_notifying`), so each notification belongs to the
//! domain event that caused it: its `type` is that event's name, its
//! `subject` the event's subject, and its `data` the fields an app needs to
//! render it in its own language (docs/FRONTEND-NOTIFICATIONS.md). Where it
//! leads in the app is a named route with parameters, derived from the kind
//! and the data, never a path of the platform.
//!
//! Also what a person does with theirs: read them, count the unread ones,
//! mark one or all read, choose which kinds are emailed.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::app::events::{self, Notice};
use crate::db::audit::Context;
use crate::db::notifications::{self as store, NotificationRow};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::events::Event;
use crate::error::{ApiError, FieldError, Invalid};
use crate::mail::{Email, Template};
use crate::state::AppState;

/// Events a person is notified of. Each has an email template; security
/// events are always emailed, the others can be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    PasswordChanged,
    ApiTokenCreated,
    MembershipAdded,
    MemberRoleChanged,
    MemberRemoved,
    InstitutionVerified,
    EnrollmentConfirmed,
    CourseCompleted,
    PartnershipInvitation,
    PartnershipResponse,
    PartnershipMembershipEnded,
    PartnershipStatusChanged,
    PartnershipSharedDigest,
    AccessRequested,
    AccessDecided,
    AccessEnded,
    AccessReminder,
    DatasetDates,
    CourseNewVersion,
}

impl Kind {
    pub const ALL: [Kind; 19] = [
        Kind::PasswordChanged,
        Kind::ApiTokenCreated,
        Kind::MembershipAdded,
        Kind::MemberRoleChanged,
        Kind::MemberRemoved,
        Kind::InstitutionVerified,
        Kind::EnrollmentConfirmed,
        Kind::CourseCompleted,
        Kind::PartnershipInvitation,
        Kind::PartnershipResponse,
        Kind::PartnershipMembershipEnded,
        Kind::PartnershipStatusChanged,
        Kind::PartnershipSharedDigest,
        Kind::AccessRequested,
        Kind::AccessDecided,
        Kind::AccessEnded,
        Kind::AccessReminder,
        Kind::DatasetDates,
        Kind::CourseNewVersion,
    ];

    pub fn template(self) -> Template {
        match self {
            Self::PasswordChanged => Template::PasswordChanged,
            Self::ApiTokenCreated => Template::ApiTokenCreated,
            Self::MembershipAdded => Template::MembershipAdded,
            Self::MemberRoleChanged => Template::MemberRoleChanged,
            Self::MemberRemoved => Template::MemberRemoved,
            Self::InstitutionVerified => Template::InstitutionVerified,
            Self::EnrollmentConfirmed => Template::EnrollmentConfirmed,
            Self::CourseCompleted => Template::CourseCompleted,
            Self::PartnershipInvitation => Template::PartnershipInvitation,
            Self::PartnershipResponse => Template::PartnershipResponse,
            Self::PartnershipMembershipEnded => Template::PartnershipMembershipEnded,
            Self::PartnershipStatusChanged => Template::PartnershipStatusChanged,
            Self::PartnershipSharedDigest => Template::PartnershipSharedDigest,
            Self::AccessRequested => Template::AccessRequested,
            Self::AccessDecided => Template::AccessDecided,
            Self::AccessEnded => Template::AccessEnded,
            Self::AccessReminder => Template::AccessReminder,
            Self::DatasetDates => Template::DatasetDates,
            Self::CourseNewVersion => Template::CourseNewVersion,
        }
    }

    pub fn name(self) -> &'static str {
        self.template().name()
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The fields an app renders a notification of this kind with, taken
    /// from the template's data (`t`) and the event's payload (`p`) under
    /// names that are the same for every kind (`institution_slug`,
    /// `dataset_title`, …). Nothing in it is English prose: statuses and
    /// reasons are words of the API's vocabularies.
    fn app_data(self, subject_id: &str, t: &Value, p: &Value) -> Value {
        let mut d = Map::new();
        let institution = [
            ("slug", "institution_slug"),
            ("institution", "institution_name"),
        ];
        let partnership = [
            ("slug", "partnership_slug"),
            ("partnership", "partnership_title"),
            ("institution", "institution_name"),
        ];
        let dataset = [
            ("request_id", "request_id"),
            ("dataset", "dataset_title"),
            ("owner_institution", "owner_institution_name"),
        ];
        match self {
            Self::PasswordChanged => {}
            Self::ApiTokenCreated => {
                d.insert("token_id".into(), json!(subject_id));
                copy(&mut d, t, &[("token_name", "token_name")]);
            }
            Self::MembershipAdded | Self::InstitutionVerified => {
                copy(&mut d, t, &institution);
                copy(&mut d, t, &[("role", "role")]);
            }
            Self::MemberRoleChanged => {
                copy(&mut d, t, &institution);
                copy(
                    &mut d,
                    t,
                    &[("role", "role"), ("previous_role", "previous_role")],
                );
            }
            Self::MemberRemoved => {
                copy(&mut d, t, &institution);
                copy(&mut d, p, &[("role", "previous_role")]);
            }
            Self::EnrollmentConfirmed => copy(
                &mut d,
                t,
                &[
                    ("course_id", "course_id"),
                    ("course", "course_title"),
                    ("modules", "module_count"),
                    ("download_bytes", "download_bytes"),
                ],
            ),
            Self::CourseCompleted => copy(
                &mut d,
                t,
                &[
                    ("course_id", "course_id"),
                    ("course", "course_title"),
                    ("completion_id", "completion_id"),
                ],
            ),
            Self::PartnershipInvitation => {
                copy(&mut d, t, &partnership);
                copy(&mut d, t, &[("inviter", "inviter_name")]);
                copy(&mut d, p, &[("institution", "institution_slug")]);
            }
            Self::PartnershipResponse | Self::PartnershipMembershipEnded => {
                copy(&mut d, t, &partnership);
                copy(
                    &mut d,
                    p,
                    &[("institution", "institution_slug"), ("to", "member_status")],
                );
            }
            Self::PartnershipStatusChanged => {
                copy(&mut d, t, &partnership[..2]);
                copy(&mut d, t, &[("status", "status")]);
                copy(&mut d, p, &[("from", "previous_status")]);
            }
            Self::PartnershipSharedDigest => {
                copy(&mut d, t, &partnership[..2]);
                copy(&mut d, t, &[("resources", "resources")]);
            }
            Self::AccessRequested => {
                copy(&mut d, t, &dataset);
                copy(
                    &mut d,
                    t,
                    &[
                        ("requester", "requester_name"),
                        ("institution", "institution_name"),
                        ("duration_days", "duration_days"),
                        ("purpose", "purpose"),
                    ],
                );
                copy(
                    &mut d,
                    p,
                    &[
                        ("dataset_id", "dataset_id"),
                        ("institution", "institution_slug"),
                    ],
                );
            }
            Self::AccessDecided => {
                copy(&mut d, t, &dataset);
                copy(&mut d, t, &[("note", "note")]);
                // The payload's RFC 3339 time, not the email's wording.
                copy(
                    &mut d,
                    p,
                    &[
                        ("dataset_id", "dataset_id"),
                        ("to", "status"),
                        ("expires_at", "expires_at"),
                    ],
                );
            }
            Self::AccessEnded => {
                copy(&mut d, t, &dataset);
                copy(&mut d, t, &[("how", "reason"), ("note", "note")]);
                copy(&mut d, p, &[("dataset_id", "dataset_id"), ("to", "status")]);
            }
            Self::DatasetDates => copy(
                &mut d,
                t,
                &[
                    ("dataset_id", "dataset_id"),
                    ("dataset", "dataset_title"),
                    ("what", "what"),
                    ("file", "file_name"),
                    ("date", "date"),
                    ("days", "days"),
                ],
            ),
            Self::CourseNewVersion => copy(
                &mut d,
                t,
                &[
                    ("course_id", "course_id"),
                    ("course", "course_title"),
                    ("version", "version"),
                    ("your_version", "your_version"),
                    ("note", "note"),
                ],
            ),
            Self::AccessReminder => {
                copy(
                    &mut d,
                    t,
                    &[("after_days", "after_days"), ("expire_days", "expire_days")],
                );
                let requests: Vec<Value> = t["requests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        let mut item = Map::new();
                        copy(
                            &mut item,
                            r,
                            &[
                                ("id", "request_id"),
                                ("dataset", "dataset_title"),
                                ("requester", "requester_name"),
                                ("created_on", "created_on"),
                            ],
                        );
                        Value::Object(item)
                    })
                    .collect();
                d.insert("requests".into(), Value::Array(requests));
            }
        }
        Value::Object(d)
    }

    /// Where a notification of this kind leads in the app: a route template
    /// of docs/FRONTEND-NOTIFICATIONS.md with its parameters from `data`
    /// (`None` when the data lacks them, e.g. an old notification).
    fn route(self, data: &Value) -> Option<Route> {
        let param = |route: RouteName, name: &str, key: &str| {
            data.get(key)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(|v| Route {
                    route,
                    params: BTreeMap::from([(name.to_string(), v.to_string())]),
                })
        };
        let bare = |route: RouteName| {
            Some(Route {
                route,
                params: BTreeMap::new(),
            })
        };
        match self {
            Self::PasswordChanged => bare(RouteName::SecuritySettings),
            Self::ApiTokenCreated => bare(RouteName::ApiTokens),
            Self::MembershipAdded
            | Self::MemberRoleChanged
            | Self::MemberRemoved
            | Self::InstitutionVerified => {
                param(RouteName::Institution, "slug", "institution_slug")
            }
            Self::EnrollmentConfirmed | Self::CourseCompleted | Self::CourseNewVersion => {
                param(RouteName::Course, "id", "course_id")
            }
            Self::PartnershipInvitation
            | Self::PartnershipResponse
            | Self::PartnershipMembershipEnded
            | Self::PartnershipStatusChanged
            | Self::PartnershipSharedDigest => {
                param(RouteName::Partnership, "slug", "partnership_slug")
            }
            Self::AccessRequested | Self::AccessDecided | Self::AccessEnded => {
                param(RouteName::AccessRequest, "id", "request_id")
            }
            Self::AccessReminder => bare(RouteName::PendingAccessRequests),
            Self::DatasetDates => param(RouteName::Dataset, "id", "dataset_id"),
        }
    }
}

/// Copies `from`'s fields named on the left into `to` under the names on
/// the right (fields `from` lacks are left out; nulls are copied).
fn copy(to: &mut Map<String, Value>, from: &Value, pairs: &[(&str, &str)]) {
    for (src, dst) in pairs {
        if let Some(v) = from.get(*src) {
            to.insert((*dst).to_string(), v.clone());
        }
    }
}

/// What caused a notification: the domain event's wire name, its subject
/// and its payload (`app::events::record_notifying` passes it).
#[derive(Debug, Clone, Copy)]
pub struct Cause<'a> {
    pub event_type: &'static str,
    pub subject_kind: &'static str,
    pub subject_id: &'a str,
    pub payload: &'a Value,
}

/// Records an in-app notification and queues its email (unless the person
/// switched that kind off), in the caller's transaction.
pub fn notify(
    conn: &mut DbConnection,
    state: &AppState,
    notice: &Notice,
    cause: &Cause<'_>,
) -> Result<(), ApiError> {
    let (user, kind, data) = (&notice.to, notice.kind, &notice.data);
    let rendered = state
        .outbox
        .templates()
        .render(kind.template(), data)
        .map_err(ApiError::internal)?;
    let body = rendered
        .text
        .lines()
        .skip_while(|l| l.trim().is_empty() || l.starts_with("Hello"))
        .take_while(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let app_data = kind.app_data(cause.subject_id, data, cause.payload);
    store::insert(
        conn,
        &NotificationRow {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.id.clone(),
            kind: kind.name().into(),
            title: rendered.subject,
            body,
            // Paths of the platform are not links of an app: the route is
            // derived from the kind and the data when read.
            link: None,
            created_at: now(),
            read_at: None,
            event_type: Some(cause.event_type.into()),
            subject_kind: Some(cause.subject_kind.into()),
            subject_id: Some(cause.subject_id.into()),
            data: Some(app_data.to_string()),
        },
    )?;
    let essential = kind.template().essential();
    if essential || store::wants_email(conn, &user.id, kind.name())? {
        state.outbox.enqueue(
            conn,
            Email::new(user.email.clone(), kind.template(), data.clone())
                .for_user(&user.id)
                .with_link_base(notice.link_base.clone()),
        )?;
    }
    Ok(())
}

// ----- what a person reads ---------------------------------------------------------

// What a notification is about: the subject of the event that caused it
// (no doc comment: it would become the schema's description).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Subject {
    /// `user`, `api_token`, `institution`, `resource`, `partnership`,
    /// `access_request`, as in the event stream.
    #[schema(example = "access_request")]
    pub kind: String,
    #[schema(example = "0193a1f2-7c4e-7d3a-9b1e-2f4a5c6d7e8f")]
    pub id: String,
}

/// The app screens a notification can lead to (docs/FRONTEND-NOTIFICATIONS.md
/// says which parameters each takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteName {
    SecuritySettings,
    ApiTokens,
    Institution,
    Course,
    Partnership,
    AccessRequest,
    PendingAccessRequests,
    Dataset,
}

// Where a notification leads in the app: a route template name and its
// parameters, for the app to turn into its own link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Route {
    pub route: RouteName,
    #[schema(example = json!({"id": "0193a1f2-7c4e-7d3a-9b1e-2f4a5c6d7e8f"}))]
    pub params: BTreeMap<String, String>,
}

// A notification, as its person sees it (no doc comment: it would become
// the schema's description).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1f3-0000-7000-8000-000000000001",
    "type": "access_request.approved",
    "kind": "access_decided",
    "subject": {"kind": "access_request", "id": "0193a1f2-7c4e-7d3a-9b1e-2f4a5c6d7e8f"},
    "data": {
        "request_id": "0193a1f2-7c4e-7d3a-9b1e-2f4a5c6d7e8f",
        "dataset_id": "0193a1e0-1111-7222-8333-444455556666",
        "dataset_title": "Swahili speech corpus",
        "owner_institution_name": "University of Nairobi",
        "status": "approved",
        "note": "For the stated purpose only.",
        "expires_at": "2027-03-01T00:00:00Z"
    },
    "route": {"route": "access_request", "params": {"id": "0193a1f2-7c4e-7d3a-9b1e-2f4a5c6d7e8f"}},
    "title": "Your request for Swahili speech corpus was approved",
    "body": "University of Nairobi approved your request for access to Swahili speech corpus.",
    "created_at": "2026-12-08T10:00:00Z",
    "read_at": null
}))]
pub struct Notification {
    pub id: String,
    /// The domain event that caused it (docs/EVENTS.md), e.g.
    /// `access_request.approved`: stable, what an app renders by.
    #[serde(rename = "type")]
    #[schema(example = "access_request.approved")]
    pub event_type: String,
    /// The notification kind (what email preferences switch).
    pub kind: Kind,
    pub subject: Subject,
    /// The fields to render it with in the app's own language; which ones
    /// each `type` carries: docs/FRONTEND-NOTIFICATIONS.md. Notifications
    /// written before types existed carry what could be recovered and
    /// `"legacy": true`.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Where it leads in the app, if anywhere (never a platform path).
    pub route: Option<Route>,
    /// English, as in the email.
    pub title: String,
    /// English, as in the email.
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// Ids of the institutions and partnerships named by slug in old
/// notifications' links (loaded once for a page).
#[derive(Debug, Default)]
struct SlugIds {
    institutions: HashMap<String, String>,
    partnerships: HashMap<String, String>,
}

impl SlugIds {
    fn load(conn: &mut DbConnection, rows: &[NotificationRow]) -> diesel::QueryResult<Self> {
        let slugs = |prefix: &str| -> Vec<String> {
            rows.iter()
                .filter(|r| r.event_type.is_none())
                .filter_map(|r| r.link.as_deref()?.strip_prefix(prefix))
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        Ok(Self {
            institutions: store::institution_ids(conn, &slugs("/institutions/"))?
                .into_iter()
                .collect(),
            partnerships: store::partnership_ids(conn, &slugs("/partnerships/"))?
                .into_iter()
                .collect(),
        })
    }
}

/// The type, subject and data of a notification written before they were
/// stored: the type the kind was written for (the title tells apart the
/// kinds two events share), the subject and data its frontend link named
/// (else the person), and `legacy: true`.
fn legacy(row: &NotificationRow, kind: Kind, ids: &SlugIds) -> (String, Subject, Value) {
    let title = row.title.as_str();
    let event_type = match kind {
        Kind::PasswordChanged => "user.password_changed",
        Kind::ApiTokenCreated => "api_token.created",
        Kind::MembershipAdded => "membership.added",
        Kind::MemberRoleChanged => "membership.role_changed",
        Kind::MemberRemoved => "membership.removed",
        Kind::InstitutionVerified => "institution.verified",
        Kind::EnrollmentConfirmed => "enrollment.created",
        Kind::CourseCompleted => "enrollment.completed",
        Kind::PartnershipInvitation => "partnership.member_invited",
        Kind::PartnershipResponse if title.contains(" declined the invitation to ") => {
            "partnership.member_declined"
        }
        Kind::PartnershipResponse => "partnership.member_active",
        Kind::PartnershipMembershipEnded if title.contains(" was removed from ") => {
            "partnership.member_removed"
        }
        Kind::PartnershipMembershipEnded => "partnership.member_left",
        Kind::PartnershipStatusChanged => "partnership.status_changed",
        Kind::PartnershipSharedDigest => "partnership.digest_sent",
        Kind::AccessRequested => "access_request.created",
        Kind::AccessDecided if title.ends_with(" was rejected") => "access_request.rejected",
        Kind::AccessDecided => "access_request.approved",
        Kind::AccessEnded if title.ends_with(" was revoked") => "access_request.revoked",
        Kind::AccessEnded => "access_request.expired",
        Kind::AccessReminder => "access_request.reminder_sent",
        Kind::DatasetDates if title.contains("retention") => "resource.retention_reminder",
        Kind::DatasetDates => "resource.embargo_lifted",
        Kind::CourseNewVersion => "resource.version_published",
    };
    let mut data = Map::new();
    data.insert("legacy".into(), Value::Bool(true));
    let link = row.link.as_deref().unwrap_or_default();
    let tail = |prefix: &str| link.strip_prefix(prefix).filter(|s| !s.is_empty());
    let mut subject = None;
    if let Some(id) = tail("/access-requests/") {
        data.insert("request_id".into(), json!(id));
        subject = Some(("access_request", id.to_string()));
    } else if let Some(id) = tail("/courses/") {
        data.insert("course_id".into(), json!(id));
        subject = Some(("resource", id.to_string()));
    } else if let Some(slug) = tail("/institutions/") {
        data.insert("institution_slug".into(), json!(slug));
        subject = ids
            .institutions
            .get(slug)
            .map(|id| ("institution", id.clone()));
    } else if let Some(slug) = tail("/partnerships/") {
        data.insert("partnership_slug".into(), json!(slug));
        subject = ids
            .partnerships
            .get(slug)
            .map(|id| ("partnership", id.clone()));
    }
    if let Some(status) = event_type
        .strip_prefix("access_request.")
        .filter(|s| ["approved", "rejected", "revoked", "expired"].contains(s))
    {
        data.insert("status".into(), json!(status));
    }
    let (kind, id) = subject.unwrap_or(("user", row.user_id.clone()));
    (
        event_type.to_string(),
        Subject {
            kind: kind.into(),
            id,
        },
        Value::Object(data),
    )
}

impl Notification {
    /// A stored kind that is not one of `Kind`, or stored data that is not
    /// JSON, is an error, never a default; rows from before types existed
    /// get theirs from [`legacy`].
    fn read(n: NotificationRow, ids: &SlugIds) -> Result<Self, ApiError> {
        let kind = stored_kind(&n.kind, "notification", &n.id)?;
        let (event_type, subject, data) = match (&n.event_type, &n.subject_kind, &n.subject_id) {
            (Some(t), Some(sk), Some(si)) => {
                let data = match n.data.as_deref() {
                    Some(text) => serde_json::from_str(text).map_err(|e| {
                        ApiError::internal(anyhow::anyhow!(
                            "notification {}: stored data is not JSON: {e}",
                            n.id
                        ))
                    })?,
                    None => Value::Object(Map::new()),
                };
                (
                    t.clone(),
                    Subject {
                        kind: sk.clone(),
                        id: si.clone(),
                    },
                    data,
                )
            }
            _ => legacy(&n, kind, ids),
        };
        Ok(Self {
            id: n.id,
            event_type,
            kind,
            subject,
            route: kind.route(&data),
            data,
            title: n.title,
            body: n.body,
            created_at: n.created_at.and_utc(),
            read_at: n.read_at.map(|t| t.and_utc()),
        })
    }

    fn read_all(
        conn: &mut DbConnection,
        rows: Vec<NotificationRow>,
    ) -> Result<Vec<Self>, ApiError> {
        let ids = if rows.iter().any(|r| r.event_type.is_none()) {
            SlugIds::load(conn, &rows)?
        } else {
            SlugIds::default()
        };
        rows.into_iter().map(|r| Self::read(r, &ids)).collect()
    }
}

fn stored_kind(raw: &str, what: &str, id: &str) -> Result<Kind, ApiError> {
    Kind::parse(raw).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "{what} {id}: stored notification kind is not valid: {raw:?}"
        ))
    })
}

/// The person's notifications, newest first (only unread ones if asked),
/// before the `(created_at, id)` keyset.
pub async fn list(
    db: &Db,
    user_id: &str,
    unread_only: bool,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<Notification>, ApiError> {
    let user_id = user_id.to_string();
    db.run(move |conn| {
        let rows = store::list(conn, &user_id, unread_only, before, limit)?;
        Notification::read_all(conn, rows)
    })
    .await
    .map_err(ApiError::from)
}

/// Marks one of the person's notifications read (reading is not an event:
/// it changes nothing but the person's own inbox). Someone else's is 404.
pub async fn mark_read(db: &Db, user_id: &str, id: &str) -> Result<Notification, ApiError> {
    let (user_id, id) = (user_id.to_string(), id.to_string());
    db.run(move |conn| {
        let row = store::mark_read(conn, &user_id, &id, now())?.ok_or(ApiError::NotFound)?;
        Notification::read_all(conn, vec![row])?
            .pop()
            .ok_or(ApiError::NotFound)
    })
    .await
    .map_err(ApiError::from)
}

/// How many notifications are waiting to be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"unread": 3}))]
pub struct UnreadCount {
    pub unread: i64,
}

/// How many of the person's notifications are unread (one indexed count).
pub async fn unread_count(db: &Db, user_id: &str) -> Result<UnreadCount, ApiError> {
    let user_id = user_id.to_string();
    let unread = db
        .run(move |conn| store::count_unread(conn, &user_id))
        .await?;
    Ok(UnreadCount { unread })
}

/// How many notifications `read-all` marked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"marked": 3}))]
pub struct Marked {
    /// Notifications that were unread and now are read (0 when none were).
    pub marked: usize,
}

/// Marks every unread notification of the person read (not an event, as
/// for one).
pub async fn mark_all_read(db: &Db, user_id: &str) -> Result<Marked, ApiError> {
    let user_id = user_id.to_string();
    let marked = db
        .run(move |conn| store::mark_all_read(conn, &user_id, now()))
        .await?;
    Ok(Marked { marked })
}

/// Whether a kind of notification is also emailed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preference {
    pub kind: Kind,
    /// Send an email for this kind.
    pub email: bool,
    /// Security notices are always emailed.
    pub essential: bool,
}

/// Every kind, and whether it is emailed: essential kinds always, the
/// others unless the person switched them off.
fn current(user_id: &str, rows: &[(String, bool)]) -> Result<Vec<Preference>, ApiError> {
    let mut stored = Vec::with_capacity(rows.len());
    for (kind, email) in rows {
        stored.push((
            stored_kind(kind, "notification preference of", user_id)?,
            *email,
        ));
    }
    Ok(Kind::ALL
        .into_iter()
        .map(|kind| {
            let essential = kind.template().essential();
            let email = essential
                || stored
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .is_none_or(|(_, e)| *e);
            Preference {
                kind,
                email,
                essential,
            }
        })
        .collect())
}

/// Which notifications the person also gets by email.
pub async fn preferences(db: &Db, user_id: &str) -> Result<Vec<Preference>, ApiError> {
    let user_id = user_id.to_string();
    let rows = {
        let user_id = user_id.clone();
        db.run(move |conn| store::preferences(conn, &user_id))
            .await?
    };
    current(&user_id, &rows)
}

/// Switches emails of kinds on or off (`(kind, email)` per item; security
/// notices cannot be switched off). Records
/// `user.notification_preferences_changed` when a kind's setting changed.
pub async fn set_preferences(
    db: &Db,
    user_id: &str,
    changes: Vec<(Kind, bool)>,
) -> Result<Vec<Preference>, ApiError> {
    if changes.len() > Kind::ALL.len() {
        return Err(Invalid::too_many(
            Kind::ALL.len(),
            format!("At most {} items, one per kind.", Kind::ALL.len()),
        )
        .at("items")
        .into());
    }
    let errors: Vec<FieldError> = changes
        .iter()
        .enumerate()
        .filter(|(_, (kind, email))| kind.template().essential() && !email)
        .map(|(i, _)| {
            Invalid::not_allowed(&["true"], "Security notices are always emailed.")
                .at(format!("items[{i}].email"))
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let user_id = user_id.to_string();
    let ctx = Context::new(Some(&user_id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let before = current(&user_id, &store::preferences(conn, &user_id)?)?;
            for (kind, email) in &changes {
                store::set_preference(conn, &user_id, kind.name(), *email)?;
            }
            let after = current(&user_id, &store::preferences(conn, &user_id)?)?;
            let switched = |on: bool| -> Vec<String> {
                before
                    .iter()
                    .zip(&after)
                    .filter(|(b, a)| b.email != a.email && a.email == on)
                    .map(|(_, a)| a.kind.name().to_string())
                    .collect()
            };
            let (email_on, email_off) = (switched(true), switched(false));
            if !email_on.is_empty() || !email_off.is_empty() {
                events::record(
                    conn,
                    &ctx,
                    &user_id,
                    &[],
                    &Event::NotificationPreferencesChanged {
                        email_on,
                        email_off,
                    },
                )?;
            }
            Ok::<_, ApiError>(after)
        })
    })
    .await
    .map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_stored_as_its_template_name() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
            let word = serde_json::to_value(kind).unwrap();
            assert_eq!(word, kind.name(), "the API and the store say the same word");
        }
        assert!(stored_kind("no_such_kind", "notification", "n1").is_err());
    }

    /// The template's example data with what every command also passes
    /// (the slug of an institution a member was removed from).
    fn example(kind: Kind) -> Value {
        let mut t = kind.template().example();
        if kind == Kind::MemberRemoved {
            t["slug"] = json!("makerere-ai");
        }
        t
    }

    #[test]
    fn app_data_names_no_person_and_no_path() {
        for kind in Kind::ALL {
            let payload = json!({"dataset_id": "d1", "to": "approved", "from": "proposed",
                                 "institution": "uon", "role": "member"});
            let data = kind.app_data("s1", &example(kind), &payload);
            let text = data.to_string();
            assert!(data.is_object(), "{kind:?}");
            assert!(!text.contains("display_name"), "{kind:?}: {text}");
            assert!(!text.contains("\"/"), "{kind:?}: {text}");
        }
    }

    #[test]
    fn every_kind_leads_somewhere_when_its_data_is_complete() {
        for kind in Kind::ALL {
            let data = kind.app_data("s1", &example(kind), &json!({}));
            let route = kind
                .route(&data)
                .unwrap_or_else(|| panic!("{kind:?}: {data}"));
            for value in route.params.values() {
                assert!(!value.is_empty() && !value.contains('/'), "{kind:?}");
            }
        }
        // Without its parameter, no route rather than a broken one.
        assert_eq!(Kind::AccessDecided.route(&json!({})), None);
        assert_eq!(
            Kind::AccessDecided.route(&json!({"request_id": "r1"})),
            Some(Route {
                route: RouteName::AccessRequest,
                params: BTreeMap::from([("id".to_string(), "r1".to_string())]),
            })
        );
    }

    fn old(kind: Kind, title: &str, link: Option<&str>) -> NotificationRow {
        NotificationRow {
            id: "n1".into(),
            user_id: "u1".into(),
            kind: kind.name().into(),
            title: title.into(),
            body: String::new(),
            link: link.map(str::to_string),
            created_at: NaiveDateTime::default(),
            read_at: None,
            event_type: None,
            subject_kind: None,
            subject_id: None,
            data: None,
        }
    }

    #[test]
    fn old_notifications_get_a_catalogued_type_and_a_subject() {
        let ids = SlugIds {
            institutions: HashMap::from([("uon".to_string(), "i1".to_string())]),
            partnerships: HashMap::new(),
        };
        let catalogue: Vec<&str> = Event::CATALOGUE.iter().map(|(n, _, _)| *n).collect();
        for kind in Kind::ALL {
            let (ty, subject, data) = legacy(&old(kind, "Something", None), kind, &ids);
            assert!(catalogue.contains(&ty.as_str()), "{kind:?}: {ty}");
            assert_eq!(
                subject,
                Subject {
                    kind: "user".into(),
                    id: "u1".into()
                }
            );
            assert_eq!(data["legacy"], true);
        }
        let cases = [
            (
                Kind::AccessDecided,
                "Your request for X was rejected",
                "access_request.rejected",
            ),
            (
                Kind::AccessDecided,
                "Your request for X was approved",
                "access_request.approved",
            ),
            (
                Kind::AccessEnded,
                "Your access to X was revoked",
                "access_request.revoked",
            ),
            (
                Kind::AccessEnded,
                "Your access to X has expired",
                "access_request.expired",
            ),
            (
                Kind::AccessEnded,
                "Your request for X expired",
                "access_request.expired",
            ),
            (
                Kind::PartnershipResponse,
                "A declined the invitation to P",
                "partnership.member_declined",
            ),
            (
                Kind::PartnershipResponse,
                "A accepted the invitation to P",
                "partnership.member_active",
            ),
            (
                Kind::PartnershipMembershipEnded,
                "A was removed from P",
                "partnership.member_removed",
            ),
            (
                Kind::PartnershipMembershipEnded,
                "A left P",
                "partnership.member_left",
            ),
        ];
        for (kind, title, ty) in cases {
            assert_eq!(legacy(&old(kind, title, None), kind, &ids).0, ty, "{title}");
        }
        let (_, subject, data) = legacy(
            &old(Kind::InstitutionVerified, "T", Some("/institutions/uon")),
            Kind::InstitutionVerified,
            &ids,
        );
        assert_eq!(
            subject,
            Subject {
                kind: "institution".into(),
                id: "i1".into()
            }
        );
        assert_eq!(data, json!({"legacy": true, "institution_slug": "uon"}));
        let (_, subject, data) = legacy(
            &old(Kind::CourseCompleted, "T", Some("/courses/c1")),
            Kind::CourseCompleted,
            &ids,
        );
        assert_eq!(
            subject,
            Subject {
                kind: "resource".into(),
                id: "c1".into()
            }
        );
        assert_eq!(
            Kind::CourseCompleted.route(&data).map(|r| r.route),
            Some(RouteName::Course)
        );
    }
}
