//! Webhook subscriptions of institutions (their owners manage them) and of
//! partnerships (their coordinators), their delivery logs, and the fan-out
//! that queues a message for every subscription that may see an event — in
//! the transaction of the event (`app::events::record_all` calls
//! [`fan_out`]). WebhookDelivery is `jobs::webhooks`; the rules (signatures, the
//! SSRF guard, who receives what) are `domain::webhook`. docs/WEBHOOKS.md.
//!
//! Access: an institution's hooks are its owners' (other members: 403,
//! anyone else: 404); a partnership's hooks are its coordinators' (anyone
//! else: 404); admins may do both.
//!
//! Every change — creating, changing, deleting a subscription, rotating
//! its secret, redelivering, pinging — is written to the audit log in its
//! own transaction ([`audited`]): who, which subscription, what changed;
//! never a secret. These are audit entries only, not domain events: the
//! management of a hook is nobody's business in the change feed, and no
//! hook is told of it.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::db::audit::{self, AuditEvent, Context};
use crate::db::events::NewEvent;
use crate::db::institutions as inst_store;
use crate::db::partnerships as part_store;
use crate::db::webhooks::{self as store, Changes, NewMessage, SubscriptionRow};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::events::Event;
use crate::domain::field::{FieldError, Invalid};
use crate::domain::policy::{self, Action, InstitutionFacts};
use crate::domain::webhook::{self as rules, EventFacts, Owner, Secret, Target};
use crate::error::ApiError;
use crate::http::pagination::{Page, Paginated};
use crate::problem_types::ProblemType;
use crate::state::AppState;

/// Who owns the subscriptions a request is about, by slug.
#[derive(Debug, Clone)]
pub enum OwnerRef {
    Institution(String),
    Partnership(String),
}

/// A webhook subscription. `secret` appears once, in the answer that
/// created it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a5c2-7f10-7000-8000-00000000b001", "url": "https://lms.example.ac.ke/kujenga-hooks", "description": "LMS catalogue sync", "event_types": ["resource.published", "resource.updated"], "enabled": true, "disabled_reason": null, "consecutive_failures": 0, "previous_secret_valid_until": null, "created_at": "2026-12-11T09:30:00Z", "updated_at": "2026-12-11T09:30:00Z"}))]
pub struct Webhook {
    pub id: String,
    /// `https` URL the events are POSTed to.
    pub url: String,
    pub description: String,
    /// Event types delivered (names from the event catalogue, docs/EVENTS.md).
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why the platform disabled it: `gone` (the target answered 410) or
    /// `failures` (too many failed attempts in a row); `null` otherwise.
    pub disabled_reason: Option<String>,
    /// Failed attempts in a row since the last success.
    pub consecutive_failures: i32,
    /// Until when the previous secret also signs, after a rotation.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The signing secret (`whsec_…`): only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl Webhook {
    fn of(row: &SubscriptionRow) -> Self {
        Self {
            id: row.id.clone(),
            url: row.url.clone(),
            description: row.description.clone(),
            event_types: row.types(),
            enabled: row.enabled,
            disabled_reason: row.disabled_reason.clone(),
            consecutive_failures: row.consecutive_failures,
            previous_secret_valid_until: row
                .previous_secret_until
                .filter(|until| *until > now())
                .map(|t| t.and_utc()),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            secret: None,
        }
    }
}

/// A new subscription.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://lms.example.ac.ke/kujenga-hooks", "event_types": ["resource.published", "resource.updated"], "description": "LMS catalogue sync"}))]
pub struct NewWebhook {
    /// `https` URL (`http` only for hosts in `webhooks.allowed_insecure_hosts`);
    /// its host must not be, or resolve to, a non-global address.
    pub url: String,
    /// Event types wanted (1–100 names from the event catalogue).
    pub event_types: Vec<String>,
    /// What it is for (at most 500 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A change to a subscription (absent: unchanged). Enabling it again
/// clears `disabled_reason` and the failure count.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true, "event_types": ["resource.published"]}))]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// The new secret after a rotation (shown once).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "previous_secret_valid_until": "2026-12-12T09:30:00Z"}))]
pub struct RotatedSecret {
    /// The new signing secret (`whsec_…`).
    pub secret: String,
    /// Until then deliveries carry a signature with the previous secret too.
    pub previous_secret_valid_until: DateTime<Utc>,
}

/// One attempt to deliver a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"attempt": 1, "started_at": "2026-12-11T09:31:00Z", "latency_ms": 84, "status_code": 503, "outcome": "retry", "error": "answered 503", "response_excerpt": "upstream unavailable", "retry_at": "2026-12-11T09:31:05Z"}))]
pub struct WebhookAttempt {
    /// 1 for the first attempt of the message.
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i64,
    /// The HTTP status answered; `null` when none came (timeout, refused).
    pub status_code: Option<i32>,
    /// `delivered`, `retry`, `failed` or `refused` (by the SSRF guard).
    pub outcome: String,
    pub error: Option<String>,
    /// The first 1 kB of the answer's body.
    pub response_excerpt: Option<String>,
    /// When the next attempt is due, after a `retry`.
    pub retry_at: Option<DateTime<Utc>>,
}

/// A message (one event for one subscription) and its attempts.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "msg_0193a5c27f10700080000000000b0002", "event_type": "resource.published", "status": "delivered", "attempts": [{"attempt": 1, "started_at": "2026-12-11T09:31:00Z", "latency_ms": 84, "status_code": 200, "outcome": "delivered", "error": null, "response_excerpt": "ok", "retry_at": null}], "next_attempt_at": null, "last_error": null, "created_at": "2026-12-11T09:31:00Z"}))]
pub struct WebhookDelivery {
    /// The `webhook-id` every attempt carries (`msg_…`).
    pub id: String,
    pub event_type: String,
    /// `queued`, `sending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: Vec<WebhookAttempt>,
    /// When the next attempt is due (while `queued`).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDelivery>,
    pub next_cursor: Option<String>,
}

/// A page of webhooks, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookPage {
    pub items: Vec<Webhook>,
    pub next_cursor: Option<String>,
}

pub type Cursor = (DateTime<Utc>, String);

/// The owner, resolved and checked: the caller may manage its hooks.
#[derive(Debug, Clone)]
struct Managed {
    owner: Owner,
}

impl Managed {
    fn institution_id(&self) -> Option<&str> {
        match &self.owner {
            Owner::Institution(id) => Some(id),
            Owner::Partnership(_) => None,
        }
    }

    fn partnership_id(&self) -> Option<&str> {
        match &self.owner {
            Owner::Partnership(id) => Some(id),
            Owner::Institution(_) => None,
        }
    }
}

impl Managed {
    /// The owner, as the audit detail names it.
    fn audit_owner(&self) -> serde_json::Value {
        match &self.owner {
            Owner::Institution(id) => serde_json::json!({"kind": "institution", "id": id}),
            Owner::Partnership(id) => serde_json::json!({"kind": "partnership", "id": id}),
        }
    }
}

/// Writes the audit entry of a change to subscription `webhook_id`, in the
/// caller's transaction: `action` (`webhook.created`, …), the owner and
/// `detail` (never a secret).
fn audited(
    conn: &mut DbConnection,
    ctx: &Context,
    managed: &Managed,
    action: &str,
    webhook_id: &str,
    mut detail: serde_json::Value,
) -> diesel::QueryResult<()> {
    detail["owner"] = managed.audit_owner();
    audit::record_all(
        conn,
        &[AuditEvent {
            id: uuid::Uuid::now_v7().to_string(),
            actor_id: ctx.actor_id.clone(),
            action: action.into(),
            subject_type: "webhook".into(),
            subject_id: webhook_id.into(),
            detail: detail.to_string(),
            request_id: ctx.request_id.clone(),
            created_at: now(),
        }],
    )
}

/// Resolves the owner and checks the caller may manage its hooks.
fn managed(
    conn: &mut DbConnection,
    principal: &Principal,
    owner: &OwnerRef,
) -> Result<Managed, ApiError> {
    let actor = principal.actor();
    match owner {
        OwnerRef::Institution(slug) => {
            if slug.len() > 64 {
                return Err(ApiError::NotFound);
            }
            let row = inst_store::by_slug(conn, slug)?.ok_or(ApiError::NotFound)?;
            let role = inst_store::role_of(conn, &row.id, &principal.user.id)?;
            let facts = InstitutionFacts {
                verified: row.verified,
                caller_role: role,
            };
            policy::enforce(policy::may(&actor, Action::ViewInstitution(facts)))?;
            // Hooks are the institution's private business: outsiders do
            // not learn whether it has any.
            if role.is_none() && !principal.is_admin() {
                return Err(ApiError::NotFound);
            }
            policy::enforce(policy::may(&actor, Action::UpdateInstitution(facts)))?;
            Ok(Managed {
                owner: Owner::Institution(row.id),
            })
        }
        OwnerRef::Partnership(slug) => {
            if slug.len() > 64 {
                return Err(ApiError::NotFound);
            }
            let row = part_store::by_slug(conn, slug)?.ok_or(ApiError::NotFound)?;
            let coordinator = part_store::coordinators(conn, &row.id)?
                .iter()
                .any(|(u, _)| *u == principal.user.id);
            if !coordinator && !principal.is_admin() {
                return Err(ApiError::NotFound);
            }
            let facts = crate::domain::policy::PartnershipFacts {
                public: row.public,
                coordinator,
                member: false,
            };
            policy::enforce(policy::may(&actor, Action::ManagePartnership(facts)))?;
            Ok(Managed {
                owner: Owner::Partnership(row.id),
            })
        }
    }
}

fn check_event_types(types: &[String]) -> Result<Vec<String>, FieldError> {
    if types.is_empty() {
        return Err(Invalid::required("Name at least one event type.").at("event_types"));
    }
    if types.len() > 100 {
        return Err(Invalid::too_many(100, "At most 100 event types.").at("event_types"));
    }
    let known: Vec<&str> = Event::CATALOGUE.iter().map(|(n, _, _)| *n).collect();
    let mut out: Vec<String> = Vec::new();
    for (i, t) in types.iter().enumerate() {
        if !known.contains(&t.as_str()) {
            return Err(Invalid::not_allowed(
                &known,
                format!("`{t}` is not in the event catalogue (docs/EVENTS.md)."),
            )
            .at(format!("event_types[{i}]")));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

fn check_description(d: Option<&str>) -> Result<String, FieldError> {
    let d = d.unwrap_or("").trim();
    if d.chars().count() > 500 {
        return Err(Invalid::too_long(500, "At most 500 characters.").at("description"));
    }
    Ok(d.to_string())
}

/// Checks a target URL, resolving its host (unless it is allowed by the
/// setting or a literal address): every address must be global.
async fn check_url(state: &AppState, raw: &str) -> Result<Target, FieldError> {
    let allowed = &state.settings.webhooks.allowed_insecure_hosts;
    let target = rules::parse_target(raw, allowed).map_err(|e| e.at("url"))?;
    if target.allowed || target.literal.is_some() {
        return Ok(target);
    }
    let addrs: Vec<IpAddr> =
        match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        };
    if let Err(reason) = rules::check_resolved(&target, &addrs) {
        tracing::warn!(url = %target.url, %reason, "webhook target refused by the SSRF guard");
        return Err(
            Invalid::format("url", format!("Refused by the SSRF guard: {reason}.")).at("url"),
        );
    }
    Ok(target)
}

/// Creates a subscription; the answer carries its secret, once.
pub async fn create(
    db: &Db,
    state: &AppState,
    principal: &Principal,
    owner: OwnerRef,
    body: NewWebhook,
) -> Result<Webhook, ApiError> {
    let p = principal.clone();
    let o = owner.clone();
    let managed = db.run(move |conn| managed(conn, &p, &o)).await?;
    let mut errors = Vec::new();
    let target = check_url(state, &body.url)
        .await
        .map_err(|e| errors.push(e))
        .ok();
    let types = check_event_types(&body.event_types)
        .map_err(|e| errors.push(e))
        .ok();
    let description = check_description(body.description.as_deref())
        .map_err(|e| errors.push(e))
        .ok();
    let (Some(target), Some(types), Some(description), true) =
        (target, types, description, errors.is_empty())
    else {
        return Err(ApiError::validation(errors));
    };
    let secret = Secret::generate();
    let now = now();
    let row = SubscriptionRow {
        id: uuid::Uuid::now_v7().to_string(),
        institution_id: managed.institution_id().map(str::to_owned),
        partnership_id: managed.partnership_id().map(str::to_owned),
        url: target.url.to_string(),
        description,
        event_types: serde_json::to_string(&types).map_err(ApiError::internal)?,
        enabled: body.enabled.unwrap_or(true),
        disabled_reason: None,
        secret: secret.expose(),
        previous_secret: None,
        previous_secret_until: None,
        consecutive_failures: 0,
        created_by: Some(principal.user.id.clone()),
        created_at: now,
        updated_at: now,
    };
    let inserted = row.clone();
    let ctx = Context::new(Some(&principal.user.id));
    let detail = serde_json::json!({
        "url": row.url,
        "event_types": types,
        "description": row.description,
        "enabled": row.enabled,
    });
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            store::insert(conn, &inserted)?;
            audited(
                conn,
                &ctx,
                &managed,
                "webhook.created",
                &inserted.id,
                detail,
            )
        })
    })
    .await?;
    let mut view = Webhook::of(&row);
    view.secret = Some(secret.expose());
    Ok(view)
}

/// An owner's subscriptions.
pub async fn list(
    db: &Db,
    principal: &Principal,
    owner: OwnerRef,
    page: &Page<Cursor>,
) -> Result<Paginated<Webhook>, ApiError> {
    let p = principal.clone();
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let rows = db
        .run(move |conn| {
            let m = managed(conn, &p, &owner)?;
            Ok::<_, ApiError>(store::list(
                conn,
                m.institution_id(),
                m.partnership_id(),
                after,
                limit,
            )?)
        })
        .await?;
    Ok(
        Paginated::from_rows(rows, page, |r| (r.created_at.and_utc(), r.id.clone()))
            .map(|r| Webhook::of(&r)),
    )
}

fn find(
    conn: &mut DbConnection,
    principal: &Principal,
    owner: &OwnerRef,
    id: &str,
) -> Result<(Managed, SubscriptionRow), ApiError> {
    let m = managed(conn, principal, owner)?;
    if id.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let row =
        store::get(conn, id, m.institution_id(), m.partnership_id())?.ok_or(ApiError::NotFound)?;
    Ok((m, row))
}

pub async fn show(
    db: &Db,
    principal: &Principal,
    owner: OwnerRef,
    id: String,
) -> Result<Webhook, ApiError> {
    let p = principal.clone();
    let (_, row) = db.run(move |conn| find(conn, &p, &owner, &id)).await?;
    Ok(Webhook::of(&row))
}

pub async fn update(
    db: &Db,
    state: &AppState,
    principal: &Principal,
    owner: OwnerRef,
    id: String,
    body: WebhookPatch,
) -> Result<Webhook, ApiError> {
    let (p, o, i) = (principal.clone(), owner.clone(), id.clone());
    db.run(move |conn| find(conn, &p, &o, &i)).await?;
    let mut errors = Vec::new();
    let mut changes = Changes::default();
    if let Some(url) = &body.url {
        match check_url(state, url).await {
            Ok(t) => changes.url = Some(t.url.to_string()),
            Err(e) => errors.push(e),
        }
    }
    if let Some(types) = &body.event_types {
        match check_event_types(types) {
            Ok(t) => {
                changes.event_types = Some(serde_json::to_string(&t).map_err(ApiError::internal)?)
            }
            Err(e) => errors.push(e),
        }
    }
    if let Some(d) = &body.description {
        match check_description(Some(d)) {
            Ok(d) => changes.description = Some(d),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if let Some(enabled) = body.enabled {
        changes.enabled = Some(enabled);
        if enabled {
            changes.disabled_reason = Some(None);
            changes.consecutive_failures = Some(0);
        }
    }
    changes.updated_at = Some(now());
    let mut detail = serde_json::Map::new();
    for (name, value) in [
        ("url", changes.url.clone().map(serde_json::Value::from)),
        (
            "event_types",
            changes
                .event_types
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok()),
        ),
        (
            "description",
            changes.description.clone().map(serde_json::Value::from),
        ),
        ("enabled", changes.enabled.map(serde_json::Value::from)),
    ] {
        if let Some(value) = value {
            detail.insert(name.into(), value);
        }
    }
    let ctx = Context::new(Some(&principal.user.id));
    let p = principal.clone();
    let row = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let (m, row) = find(conn, &p, &owner, &id)?;
                store::lock(conn, &row.id)?;
                store::update(conn, &row.id, &changes)?;
                audited(
                    conn,
                    &ctx,
                    &m,
                    "webhook.updated",
                    &row.id,
                    serde_json::json!({"changed": detail}),
                )?;
                let (_, row) = find(conn, &p, &owner, &id)?;
                Ok::<_, ApiError>(row)
            })
        })
        .await?;
    Ok(Webhook::of(&row))
}

pub async fn delete(
    db: &Db,
    principal: &Principal,
    owner: OwnerRef,
    id: String,
) -> Result<(), ApiError> {
    let p = principal.clone();
    let ctx = Context::new(Some(&principal.user.id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let (m, row) = find(conn, &p, &owner, &id)?;
            store::delete(conn, &row.id)?;
            audited(
                conn,
                &ctx,
                &m,
                "webhook.deleted",
                &row.id,
                serde_json::json!({"url": row.url, "event_types": row.types()}),
            )?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(())
}

/// A new secret; the previous one keeps signing (both signatures are sent)
/// for `webhooks.rotation_overlap_hours`.
pub async fn rotate_secret(
    db: &Db,
    state: &AppState,
    principal: &Principal,
    owner: OwnerRef,
    id: String,
) -> Result<RotatedSecret, ApiError> {
    let p = principal.clone();
    let overlap =
        chrono::Duration::hours(i64::from(state.settings.webhooks.rotation_overlap_hours));
    let secret = Secret::generate();
    let exposed = secret.expose();
    let until = now() + overlap;
    let ctx = Context::new(Some(&principal.user.id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let (m, row) = find(conn, &p, &owner, &id)?;
            store::lock(conn, &row.id)?;
            store::update(
                conn,
                &row.id,
                &Changes {
                    secret: Some(exposed),
                    previous_secret: Some(Some(row.secret.clone())),
                    previous_secret_until: Some(Some(until)),
                    updated_at: Some(now()),
                    ..Changes::default()
                },
            )?;
            audited(
                conn,
                &ctx,
                &m,
                "webhook.secret_rotated",
                &row.id,
                serde_json::json!({"previous_secret_valid_until": until.and_utc()}),
            )?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(RotatedSecret {
        secret: secret.expose(),
        previous_secret_valid_until: until.and_utc(),
    })
}

/// A subscription's messages, newest first, with their attempts.
pub async fn deliveries(
    db: &Db,
    principal: &Principal,
    owner: OwnerRef,
    id: String,
    page: &Page<Cursor>,
) -> Result<Paginated<WebhookDelivery>, ApiError> {
    let p = principal.clone();
    let before = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let (rows, attempts) = db
        .run(move |conn| {
            let (_, sub) = find(conn, &p, &owner, &id)?;
            let rows = store::messages(conn, &sub.id, before, limit)?;
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let attempts = store::attempts_of(conn, &ids)?;
            Ok::<_, ApiError>((rows, attempts))
        })
        .await?;
    Ok(
        Paginated::from_rows(rows, page, |r| (r.created_at.and_utc(), r.id.clone())).map(|r| {
            WebhookDelivery {
                attempts: attempts
                    .iter()
                    .filter(|a| a.message_id == r.id)
                    .map(|a| WebhookAttempt {
                        attempt: a.attempt,
                        started_at: a.started_at.and_utc(),
                        latency_ms: a.latency_ms,
                        status_code: a.status_code,
                        outcome: a.outcome.clone(),
                        error: a.error.clone(),
                        response_excerpt: a.response_excerpt.clone(),
                        retry_at: a.retry_at.map(|t| t.and_utc()),
                    })
                    .collect(),
                next_attempt_at: (r.status == store::QUEUED).then(|| r.next_attempt_at.and_utc()),
                id: r.id,
                event_type: r.event_type,
                status: r.status,
                last_error: r.last_error,
                created_at: r.created_at.and_utc(),
            }
        }),
    )
}

/// Queues a delivered or failed message again (same `webhook-id`, a new
/// round of attempts). 409 while it is queued or being sent.
pub async fn redeliver(
    db: &Db,
    principal: &Principal,
    owner: OwnerRef,
    id: String,
    message_id: String,
) -> Result<(), ApiError> {
    let p = principal.clone();
    let ctx = Context::new(Some(&principal.user.id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let (m, sub) = find(conn, &p, &owner, &id)?;
            if message_id.len() > 64 {
                return Err(ApiError::NotFound);
            }
            store::message(conn, &sub.id, &message_id)?.ok_or(ApiError::NotFound)?;
            if !store::redeliver(conn, &message_id, now())? {
                return Err(ApiError::Conflict {
                    problem: ProblemType::InvalidTransition,
                    detail: "The message is queued or being sent already.".into(),
                });
            }
            audited(
                conn,
                &ctx,
                &m,
                "webhook.redelivered",
                &sub.id,
                serde_json::json!({"message_id": message_id}),
            )?;
            Ok(())
        })
    })
    .await?;
    Ok(())
}

/// The id of the queued ping.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "msg_0193a5c27f10700080000000000b0003"}))]
pub struct PingQueued {
    /// The message's `webhook-id`; see `…/deliveries` for its outcome.
    pub id: String,
}

/// Queues a `webhook.ping` message for the subscription (whatever its event
/// types; also when disabled, then it waits until enabled).
pub async fn ping(
    db: &Db,
    principal: &Principal,
    owner: OwnerRef,
    id: String,
) -> Result<PingQueued, ApiError> {
    let p = principal.clone();
    let ctx = Context::new(Some(&principal.user.id));
    let queued = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let (m, sub) = find(conn, &p, &owner, &id)?;
                let now = now();
                let message_id = message_id();
                let body = serde_json::json!({
                    "type": rules::PING,
                    "timestamp": now.and_utc(),
                    "data": {"webhook_id": sub.id},
                });
                store::enqueue(
                    conn,
                    &[NewMessage {
                        id: message_id.clone(),
                        subscription_id: sub.id.clone(),
                        event_type: rules::PING.into(),
                        body: body.to_string(),
                        status: store::QUEUED,
                        attempts: 0,
                        round_start: 0,
                        next_attempt_at: now,
                        created_at: now,
                        updated_at: now,
                    }],
                )?;
                audited(
                    conn,
                    &ctx,
                    &m,
                    "webhook.pinged",
                    &sub.id,
                    serde_json::json!({"message_id": message_id}),
                )?;
                Ok::<_, ApiError>(message_id)
            })
        })
        .await?;
    Ok(PingQueued { id: queued })
}

/// A new `webhook-id`.
fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// Queues, in the caller's transaction, one message per (event, enabled
/// subscription that wants its type and whose owner may see it —
/// `domain::webhook::receives`). Called by `app::events::record_all` with
/// the events it is about to append (before the append, so that the
/// append lock is held no longer than before).
pub fn fan_out(conn: &mut DbConnection, events: &[NewEvent]) -> diesel::QueryResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let subs = store::enabled(conn)?;
    if subs.is_empty() {
        return Ok(());
    }
    let subs: Vec<(SubscriptionRow, Vec<String>, Owner)> = subs
        .into_iter()
        .filter_map(|s| {
            let owner = match (&s.institution_id, &s.partnership_id) {
                (Some(i), _) => Owner::Institution(i.clone()),
                (None, Some(p)) => Owner::Partnership(p.clone()),
                (None, None) => return None,
            };
            let types = s.types();
            Some((s, types, owner))
        })
        .collect();
    let now = now();
    let mut messages = Vec::new();
    for event in events {
        let wanted: Vec<&(SubscriptionRow, Vec<String>, Owner)> = subs
            .iter()
            .filter(|(_, types, _)| types.iter().any(|t| t == event.event_type))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let payload: serde_json::Value =
            serde_json::from_str(&event.payload).unwrap_or(serde_json::Value::Null);
        let facts = EventFacts {
            event_type: event.event_type,
            subject_kind: event.subject_kind,
            subject_id: &event.subject_id,
            institutions: &event.institutions,
            payload: &payload,
        };
        let body = serde_json::json!({
            "type": event.event_type,
            "timestamp": event.occurred_at.and_utc(),
            "data": {
                "event_id": event.id,
                "subject": {"kind": event.subject_kind, "id": event.subject_id},
                "payload": payload,
            },
        })
        .to_string();
        for (sub, _, owner) in wanted {
            let mut shared_error = None;
            let receives = rules::receives(owner, &facts, || match owner {
                Owner::Partnership(p) => store::shared_resource(conn, p, &event.subject_id)
                    .unwrap_or_else(|e| {
                        shared_error = Some(e);
                        None
                    }),
                Owner::Institution(_) => None,
            });
            if let Some(e) = shared_error {
                return Err(e);
            }
            if receives {
                messages.push(NewMessage {
                    id: message_id(),
                    subscription_id: sub.id.clone(),
                    event_type: event.event_type.to_string(),
                    body: body.clone(),
                    status: store::QUEUED,
                    attempts: 0,
                    round_start: 0,
                    next_attempt_at: now,
                    created_at: now,
                    updated_at: now,
                });
            }
        }
    }
    store::enqueue(conn, &messages)
}
