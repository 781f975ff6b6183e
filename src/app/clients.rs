//! Client apps — the partner frontends — and what they change:
//!
//! - admins register them (`/admin/clients`), every change an audited event;
//! - register, password reset, verification resend and invitations may name
//!   one (`client_id`, optionally `link_base`): their emailed links then use
//!   one of its registered bases ([`link_base`]), never a base the request
//!   made up;
//! - CORS lets in their origins besides the configured ones, read through a
//!   cache ([`ClientOrigins`], refreshed at most every [`ORIGINS_TTL`]);
//! - a sign-in for an app with `cookie_sessions` is a cookie session: the
//!   refresh token travels in an HttpOnly cookie, and requests using it pass
//!   the CSRF check ([`check_cookie_request`]).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::admin::Admin;
use crate::app::events;
use crate::auth::{random_token, token_hash};
use crate::db::clients::{self as store, ClientRow, TokenSession};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::client::{
    self, ClientDraft, ClientSettings, CsrfFailure, CsrfProof, LinkChoice,
};
use crate::domain::events::Event;
use crate::error::{ApiError, FieldCode};
use crate::http::etag;
use crate::http::pagination::{Page, Paginated};
use crate::problem_types::ProblemType;
use crate::state::AppState;

/// How long the CORS layer trusts its copy of the apps' origins. A change
/// made through this instance takes effect at once; other instances see it
/// within this time.
pub const ORIGINS_TTL: Duration = Duration::from_secs(5);

/// A page's position: the creation time and id of its last item.
pub type Cursor = (DateTime<Utc>, String);

// ----- representations ---------------------------------------------------------

/// A registered client app (a partner web or mobile frontend).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a5c2-7f10-7000-8000-00000000c11e",
    "name": "Jifunze web",
    "link_base": "https://jifunze.example.ke",
    "allowed_link_bases": ["https://jifunze.example.ke", "https://beta.jifunze.example.ke"],
    "allowed_origins": ["https://jifunze.example.ke"],
    "cookie_sessions": true,
    "created_at": "2026-12-08T09:30:00Z",
    "updated_at": "2026-12-08T09:30:00Z"
}))]
pub struct ClientApp {
    pub id: String,
    pub name: String,
    /// The default link base (the first of `allowed_link_bases`).
    pub link_base: String,
    /// Where emailed links for this app may point: `<base>/verify-email?token=…`,
    /// `<base>/reset-password?token=…`, `<base>/invitations/accept?token=…`.
    pub allowed_link_bases: Vec<String>,
    /// Browser origins allowed by CORS (with credentials) and by the CSRF check.
    pub allowed_origins: Vec<String>,
    /// Sign-ins for this app keep the refresh token in an HttpOnly cookie.
    pub cookie_sessions: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

fn list_of(row: &ClientRow, json: &str) -> Result<Vec<String>, ApiError> {
    serde_json::from_str(json).map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "client app {}: a stored list is not a JSON array of strings: {e}",
            row.id
        ))
    })
}

impl TryFrom<&ClientRow> for ClientApp {
    type Error = ApiError;

    fn try_from(row: &ClientRow) -> Result<Self, ApiError> {
        let allowed_link_bases = list_of(row, &row.link_bases)?;
        Ok(Self {
            id: row.id.clone(),
            name: row.name.clone(),
            link_base: allowed_link_bases.first().cloned().unwrap_or_default(),
            allowed_link_bases,
            allowed_origins: list_of(row, &row.allowed_origins)?,
            cookie_sessions: row.cookie_sessions,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        })
    }
}

impl ClientApp {
    fn settings(&self) -> ClientSettings {
        ClientSettings {
            name: self.name.clone(),
            link_bases: self.allowed_link_bases.clone(),
            allowed_origins: self.allowed_origins.clone(),
            cookie_sessions: self.cookie_sessions,
        }
    }
}

/// A new client app. Give `link_base` (one) or `allowed_link_bases` (several,
/// the first the default).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Jifunze web",
    "allowed_link_bases": ["https://jifunze.example.ke"],
    "allowed_origins": ["https://jifunze.example.ke"],
    "cookie_sessions": true
}))]
pub struct NewClientApp {
    /// 1–100 characters.
    pub name: String,
    /// An https URL (http only for localhost); no user info, query or fragment.
    #[serde(default)]
    pub link_base: Option<String>,
    /// 1–10 link bases, each like `link_base`.
    #[serde(default)]
    pub allowed_link_bases: Option<Vec<String>>,
    /// 0–20 origins, `scheme://host[:port]` (https; http only for localhost).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Keep the refresh token of this app's sign-ins in a cookie (needs an origin).
    #[serde(default)]
    pub cookie_sessions: bool,
}

/// A change: each field given replaces the stored one (`link_base` replaces
/// the whole list by one base).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"allowed_origins": ["https://jifunze.example.ke", "http://localhost:5173"]}))]
pub struct ClientAppPatch {
    pub name: Option<String>,
    pub link_base: Option<String>,
    pub allowed_link_bases: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    pub cookie_sessions: Option<bool>,
}

fn to_json(list: &[String]) -> Result<String, ApiError> {
    serde_json::to_string(list).map_err(ApiError::internal)
}

// ----- administration ------------------------------------------------------------

/// The apps, oldest first, one page.
pub async fn list(
    db: &Db,
    _admin: &Admin<'_>,
    page: &Page<Cursor>,
) -> Result<Paginated<ClientApp>, ApiError> {
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let rows = db.run(move |conn| store::list(conn, after, limit)).await?;
    let items = rows
        .iter()
        .map(ClientApp::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Paginated::from_rows(items, page, |c| {
        (c.created_at, c.id.clone())
    }))
}

/// One app (404 if there is none).
pub async fn get(db: &Db, _admin: &Admin<'_>, id: &str) -> Result<ClientApp, ApiError> {
    let id = id.to_string();
    let row = db
        .run(move |conn| store::get(conn, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    ClientApp::try_from(&row)
}

/// Registers an app (`client_app.created`).
pub async fn create(
    db: &Db,
    state: &Arc<AppState>,
    admin: &Admin<'_>,
    body: NewClientApp,
) -> Result<ClientApp, ApiError> {
    let settings = client::validate(&ClientDraft {
        name: body.name,
        link_base: body.link_base,
        allowed_link_bases: body.allowed_link_bases,
        allowed_origins: body.allowed_origins,
        cookie_sessions: body.cookie_sessions,
    })
    .map_err(ApiError::validation)?;
    let now = now();
    let row = ClientRow {
        id: uuid::Uuid::now_v7().to_string(),
        name: settings.name.clone(),
        link_bases: to_json(&settings.link_bases)?,
        allowed_origins: to_json(&settings.allowed_origins)?,
        cookie_sessions: settings.cookie_sessions,
        created_by: Some(admin.id().to_string()),
        created_at: now,
        updated_at: now,
    };
    let ctx = admin.context();
    let stored = row.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            store::insert(conn, &stored)?;
            events::record(
                conn,
                &ctx,
                &stored.id,
                &[],
                &Event::ClientAppCreated { settings },
            )?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    state.clients.invalidate();
    tracing::info!(admin = %admin.id(), client = %row.id, "admin registered a client app");
    ClientApp::try_from(&row)
}

/// Changes an app after `If-Match` accepted its current version
/// (`client_app.updated` when something changed).
pub async fn update(
    db: &Db,
    state: &Arc<AppState>,
    admin: &Admin<'_>,
    id: &str,
    patch: ClientAppPatch,
    if_match: Option<String>,
) -> Result<ClientApp, ApiError> {
    let id = id.to_string();
    let ctx = admin.context();
    let updated = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !store::lock(conn, &id)? {
                    return Err(ApiError::NotFound);
                }
                let row = store::get(conn, &id)?.ok_or(ApiError::NotFound)?;
                let current = ClientApp::try_from(&row)?;
                etag::check_if_match_value(if_match.as_deref(), &etag::etag_of_json(&current)?)?;
                let (link_base, allowed_link_bases) =
                    match (patch.link_base, patch.allowed_link_bases) {
                        (None, None) => (None, Some(current.allowed_link_bases.clone())),
                        given => given,
                    };
                let settings = client::validate(&ClientDraft {
                    name: patch.name.unwrap_or_else(|| current.name.clone()),
                    link_base,
                    allowed_link_bases,
                    allowed_origins: patch
                        .allowed_origins
                        .unwrap_or_else(|| current.allowed_origins.clone()),
                    cookie_sessions: patch.cookie_sessions.unwrap_or(current.cookie_sessions),
                })
                .map_err(ApiError::validation)?;
                let before = current.settings();
                let changed: Vec<String> = [
                    ("name", before.name != settings.name),
                    (
                        "allowed_link_bases",
                        before.link_bases != settings.link_bases,
                    ),
                    (
                        "allowed_origins",
                        before.allowed_origins != settings.allowed_origins,
                    ),
                    (
                        "cookie_sessions",
                        before.cookie_sessions != settings.cookie_sessions,
                    ),
                ]
                .into_iter()
                .filter(|(_, c)| *c)
                .map(|(f, _)| f.to_string())
                .collect();
                if changed.is_empty() {
                    return Ok(row);
                }
                store::update(
                    conn,
                    &id,
                    &settings.name,
                    &to_json(&settings.link_bases)?,
                    &to_json(&settings.allowed_origins)?,
                    settings.cookie_sessions,
                    now(),
                )?;
                events::record(
                    conn,
                    &ctx,
                    &id,
                    &[],
                    &Event::ClientAppUpdated { changed, settings },
                )?;
                store::get(conn, &id)?.ok_or(ApiError::NotFound)
            })
        })
        .await?;
    state.clients.invalidate();
    tracing::info!(admin = %admin.id(), client = %updated.id, "admin changed a client app");
    ClientApp::try_from(&updated)
}

/// Deletes an app after `If-Match` accepted its current version
/// (`client_app.deleted`). Its link bases and origins stop working; its
/// cookie sessions can no longer be refreshed (the CSRF check has no origin
/// left to accept).
pub async fn delete(
    db: &Db,
    state: &Arc<AppState>,
    admin: &Admin<'_>,
    id: &str,
    if_match: Option<String>,
) -> Result<(), ApiError> {
    let id = id.to_string();
    let ctx = admin.context();
    let deleted = id.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            if !store::lock(conn, &id)? {
                return Err(ApiError::NotFound);
            }
            let row = store::get(conn, &id)?.ok_or(ApiError::NotFound)?;
            etag::check_if_match_value(
                if_match.as_deref(),
                &etag::etag_of_json(&ClientApp::try_from(&row)?)?,
            )?;
            store::delete(conn, &id)?;
            events::record(
                conn,
                &ctx,
                &id,
                &[],
                &Event::ClientAppDeleted { name: row.name },
            )?;
            Ok(())
        })
    })
    .await?;
    state.clients.invalidate();
    tracing::info!(admin = %admin.id(), client = %deleted, "admin deleted a client app");
    Ok(())
}

// ----- emailed links ------------------------------------------------------------------

fn unknown_client() -> ApiError {
    ApiError::field(
        "client_id",
        FieldCode::NotFound,
        "No client app has this id.",
    )
}

/// The link base `choice` asks for, in `conn`'s transaction: 400 on
/// `client_id` for an unknown app, on `link_base` for a base it did not
/// register.
pub fn resolve_link(conn: &mut DbConnection, choice: &LinkChoice) -> Result<String, ApiError> {
    let row = store::get(conn, &choice.client_id)?.ok_or_else(unknown_client)?;
    let app = ClientApp::try_from(&row)?;
    client::choose_link_base(&app.allowed_link_bases, choice.link_base.as_deref())
        .map_err(|e| ApiError::from(e.at("link_base")))
}

/// [`resolve_link`] in its own read; `None` (the platform's frontend URL)
/// without a choice.
pub async fn link_base(db: &Db, choice: Option<LinkChoice>) -> Result<Option<String>, ApiError> {
    let Some(choice) = choice else {
        return Ok(None);
    };
    let base = db.run(move |conn| resolve_link(conn, &choice)).await?;
    Ok(Some(base))
}

/// Parses a request's `client_id` and `link_base` fields (400 naming the
/// field when `link_base` comes alone).
pub fn link_choice(
    client_id: Option<String>,
    link_base: Option<String>,
) -> Result<Option<LinkChoice>, ApiError> {
    LinkChoice::from_fields(client_id, link_base).map_err(|e| ApiError::validation(vec![e]))
}

// ----- sessions -------------------------------------------------------------------------

/// The app a sign-in names (400 on `client_id` if there is none).
pub async fn for_sign_in(db: &Db, client_id: Option<&str>) -> Result<Option<ClientRow>, ApiError> {
    let Some(id) = client_id.map(str::to_string) else {
        return Ok(None);
    };
    let row = db
        .run(move |conn| store::get(conn, &id))
        .await?
        .ok_or_else(unknown_client)?;
    Ok(Some(row))
}

/// Records that session `sid` is `client`'s; for a cookie-session app,
/// returns the session's new CSRF token (its hash is kept).
pub fn bind_session(
    conn: &mut DbConnection,
    sid: &str,
    client: &ClientRow,
    now: NaiveDateTime,
) -> Result<Option<String>, ApiError> {
    let csrf = client.cookie_sessions.then(|| random_token(""));
    store::bind_session(
        conn,
        sid,
        &client.id,
        csrf.as_deref().map(token_hash).as_deref(),
        now,
    )?;
    Ok(csrf)
}

/// What a request carries against CSRF (owned, to cross into the blocking pool).
#[derive(Debug, Clone, Default)]
pub struct CsrfEvidence {
    pub origin: Option<String>,
    pub referer: Option<String>,
    pub header_token: Option<String>,
    pub cookie_token: Option<String>,
}

impl CsrfEvidence {
    fn proof(&self) -> CsrfProof<'_> {
        CsrfProof {
            origin: self.origin.as_deref(),
            referer: self.referer.as_deref(),
            header_token: self.header_token.as_deref(),
            cookie_token: self.cookie_token.as_deref(),
        }
    }
}

fn csrf_failed(failure: CsrfFailure) -> ApiError {
    ApiError::Forbidden {
        problem: ProblemType::CsrfFailed,
        detail: failure.message().into(),
    }
}

/// The CSRF check of a request on `session` that uses the cookie (or
/// whose session is a cookie session): the origin must be one of the
/// session's app's allowed origins (none if the app is gone), and the
/// `X-CSRF-Token` header must echo the `kj_csrf` cookie, which must be
/// this session's token. Returns the token (403 `csrf-failed` otherwise).
pub fn check_cookie_request(
    conn: &mut DbConnection,
    session: &TokenSession,
    evidence: &CsrfEvidence,
) -> Result<String, ApiError> {
    let origins = match &session.client_id {
        Some(id) => match store::get(conn, id)? {
            Some(row) => ClientApp::try_from(&row)?.allowed_origins,
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let token = client::check_csrf(&origins, &evidence.proof()).map_err(csrf_failed)?;
    let ours = session
        .csrf_hash
        .as_deref()
        .is_some_and(|h| client::same(h.as_bytes(), token_hash(token).as_bytes()));
    if !ours {
        return Err(csrf_failed(CsrfFailure::TokenMismatch));
    }
    Ok(token.to_string())
}

// ----- the CORS cache ----------------------------------------------------------------------

/// The registered apps' origins, as the CORS layer reads them: a copy
/// reloaded when older than [`ORIGINS_TTL`] (by the first request with an
/// `Origin` the configured list does not hold, one reload at a time), and
/// dropped at once when an app changes through this instance.
#[derive(Debug, Default)]
pub struct ClientOrigins {
    snapshot: RwLock<Snapshot>,
    reload: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Snapshot {
    loaded_at: Option<Instant>,
    origins: HashSet<String>,
}

impl ClientOrigins {
    /// Whether a registered app allows `origin` (by the current copy).
    pub fn allows(&self, origin: &str) -> bool {
        self.snapshot
            .read()
            .map(|s| s.origins.contains(origin))
            .unwrap_or(false)
    }

    /// Forgets the copy: the next request with an `Origin` reloads it.
    pub fn invalidate(&self) {
        if let Ok(mut s) = self.snapshot.write() {
            s.loaded_at = None;
        }
    }

    fn fresh(&self) -> bool {
        self.snapshot
            .read()
            .map(|s| s.loaded_at.is_some_and(|at| at.elapsed() < ORIGINS_TTL))
            .unwrap_or(false)
    }

    /// Reloads the copy if it is stale. A failed read keeps the old copy
    /// (logged) until the next period.
    pub async fn refresh_if_stale(&self, db: &Db) {
        if self.fresh() {
            return;
        }
        let _one_at_a_time = self.reload.lock().await;
        if self.fresh() {
            return;
        }
        let loaded = db.run(store::all_origins).await;
        let Ok(mut snapshot) = self.snapshot.write() else {
            return;
        };
        snapshot.loaded_at = Some(Instant::now());
        match loaded {
            Ok(lists) => {
                snapshot.origins = lists
                    .iter()
                    .filter_map(|l| serde_json::from_str::<Vec<String>>(l).ok())
                    .flatten()
                    .collect();
            }
            Err(err) => {
                tracing::warn!(error = %err, "the client apps' origins could not be read");
            }
        }
    }
}
