//! `/partnerships*`: cross-border lab partnerships, their member
//! institutions, coordinators and shared resources. Every access question
//! goes to `domain::policy`; every change runs in one write transaction
//! (under the partnership row's lock) with its audit event and emails.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::api::resources::path_id;
use crate::api::types::utc;
use crate::app::notifications::{Kind, notify};
use crate::app::resources::facts;
use crate::auth::{MaybePrincipal, Principal};
use crate::db::accounts::user_by_id;
use crate::db::audit::{self, Context};
use crate::db::institutions as institutions_store;
use crate::db::partnerships::{self as store, Member, MemberRow, PartnershipRow};
use crate::db::resources::{self as resources_store, Viewer};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::CountryCode;
use crate::domain::policy::{self, Action, InstitutionRole, PartnershipFacts};
use crate::domain::resource::{self as doc, ResourceKind, Visibility};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
use crate::problem_types::ProblemType;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get = crate::api::get;
    cfg.service(
        web::resource("/partnerships")
            .route(get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/partnerships/{slug}")
            .route(get().to(show))
            .route(web::patch().to(update)),
    )
    .service(web::resource("/partnerships/{slug}/activate").route(web::post().to(activate)))
    .service(web::resource("/partnerships/{slug}/conclude").route(web::post().to(conclude)))
    .service(web::resource("/partnerships/{slug}/dissolve").route(web::post().to(dissolve)))
    .service(
        web::resource("/partnerships/{slug}/members")
            .route(get().to(members))
            .route(web::post().to(invite)),
    )
    .service(
        web::resource("/partnerships/{slug}/members/{institution}")
            .route(web::patch().to(change_member))
            .route(web::delete().to(end_membership)),
    )
    .service(
        web::resource("/partnerships/{slug}/members/{institution}/accept")
            .route(web::post().to(accept)),
    )
    .service(
        web::resource("/partnerships/{slug}/members/{institution}/decline")
            .route(web::post().to(decline)),
    )
    .service(
        web::resource("/partnerships/{slug}/coordinators")
            .route(get().to(coordinators))
            .route(web::post().to(add_coordinator)),
    )
    .service(
        web::resource("/partnerships/{slug}/coordinators/{user_id}")
            .route(web::delete().to(remove_coordinator)),
    )
    .service(
        web::resource("/partnerships/{slug}/resources")
            .route(get().to(shared))
            .route(web::post().to(share)),
    )
    .service(
        web::resource("/partnerships/{slug}/resources/{resource_id}")
            .route(web::delete().to(unshare)),
    );
}

// ----- representations ---------------------------------------------------------------

pub use crate::domain::partnership::{MemberStatus, PartnershipStatus};

/// A member institution.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartnershipMember {
    /// The institution's slug.
    pub institution: String,
    pub name: String,
    #[schema(value_type = crate::api::vocab::Country)]
    pub country: String,
    pub status: MemberStatus,
    pub updated_at: DateTime<Utc>,
}

impl From<&Member> for PartnershipMember {
    fn from(m: &Member) -> Self {
        Self {
            institution: m.slug.clone(),
            name: m.name.clone(),
            country: m.country.clone(),
            status: MemberStatus::parse(&m.row.status),
            updated_at: utc(m.row.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Coordinator {
    #[schema(format = "uuid")]
    pub user_id: String,
    pub display_name: String,
}

/// A partnership.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Partnership {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub goals: String,
    pub agreement_url: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub status: PartnershipStatus,
    /// Anyone may read a public partnership's page.
    pub public: bool,
    /// The active member institutions' countries.
    #[schema(value_type = Vec<crate::api::vocab::Country>)]
    pub countries: Vec<String>,
    /// Active members (coordinators and admins: every member, whatever its status).
    pub members: Vec<PartnershipMember>,
    pub coordinators: Vec<Coordinator>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A partnership with what the policy needs about the caller.
struct Loaded {
    row: PartnershipRow,
    members: Vec<Member>,
    coordinators: Vec<(String, String)>,
    facts: PartnershipFacts,
    /// The caller's institutions and roles.
    viewer: Viewer,
}

impl Loaded {
    fn status(&self) -> PartnershipStatus {
        PartnershipStatus::parse(&self.row.status)
    }

    fn member(&self, slug: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.slug == slug)
    }

    fn active_members(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.row.status == "active")
    }

    fn represent(&self, admin: bool) -> Partnership {
        let row = &self.row;
        let full = admin || self.facts.coordinator;
        let mut countries: Vec<String> = self.active_members().map(|m| m.country.clone()).collect();
        countries.sort_unstable();
        countries.dedup();
        Partnership {
            slug: row.slug.clone(),
            title: row.title.clone(),
            description: row.description.clone(),
            goals: row.goals.clone(),
            agreement_url: row.agreement_url.clone(),
            starts_on: row.starts_on,
            ends_on: row.ends_on,
            status: self.status(),
            public: row.public,
            countries,
            members: self
                .members
                .iter()
                .filter(|m| full || m.row.status == "active")
                .map(PartnershipMember::from)
                .collect(),
            coordinators: self
                .coordinators
                .iter()
                .map(|(user_id, display_name)| Coordinator {
                    user_id: user_id.clone(),
                    display_name: display_name.clone(),
                })
                .collect(),
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        }
    }
}

fn load(
    conn: &mut DbConnection,
    slug: &str,
    principal: Option<&Principal>,
) -> Result<Loaded, ApiError> {
    if slug.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let row = store::by_slug(conn, slug)?.ok_or(ApiError::NotFound)?;
    let members = store::members(conn, &row.id)?;
    let coordinators = store::coordinators(conn, &row.id)?;
    let viewer = Viewer::load(
        conn,
        principal.map(|p| p.user.id.as_str()),
        principal.is_some_and(Principal::is_admin),
    )?;
    let user_id = principal.map(|p| p.user.id.as_str());
    let facts = PartnershipFacts {
        public: row.public,
        coordinator: user_id.is_some_and(|u| coordinators.iter().any(|(c, _)| c == u)),
        member: members.iter().any(|m| {
            matches!(m.row.status.as_str(), "active" | "invited")
                && viewer.role_in(&m.row.institution_id).is_some()
        }),
    };
    Ok(Loaded {
        row,
        members,
        coordinators,
        facts,
        viewer,
    })
}

/// [`load`] for a change: takes the partnership row's lock first, so that
/// every check runs on what concurrent changes left (PostgreSQL; SQLite
/// write transactions are serial).
fn load_locked(
    conn: &mut DbConnection,
    slug: &str,
    principal: &Principal,
) -> Result<Loaded, ApiError> {
    if slug.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let row = store::by_slug(conn, slug)?.ok_or(ApiError::NotFound)?;
    store::lock(conn, &row.id)?;
    load(conn, slug, Some(principal))
}

fn ended() -> ApiError {
    ApiError::Conflict {
        problem: ProblemType::PartnershipEnded,
        detail: "Concluded and dissolved partnerships are read-only.".into(),
    }
}

/// Emails everyone in `user_ids` (each once), in the caller's transaction.
pub(crate) fn tell(
    conn: &mut DbConnection,
    state: &AppState,
    user_ids: &[String],
    kind: Kind,
    data: &serde_json::Value,
) -> Result<(), ApiError> {
    let mut seen: Vec<&String> = Vec::new();
    for id in user_ids {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        if let Some(user) = user_by_id(conn, id)?.filter(|u| u.deactivated_at.is_none()) {
            let mut d = data.clone();
            d["display_name"] = json!(user.display_name);
            notify(conn, state, &user, kind, d)?;
        }
    }
    Ok(())
}

fn coordinator_ids(l: &Loaded) -> Vec<String> {
    l.coordinators.iter().map(|(u, _)| u.clone()).collect()
}

// ----- validation ------------------------------------------------------------------

/// Years both backends store (PostgreSQL refuses far-off dates).
fn date_in_range(date: NaiveDate) -> bool {
    use chrono::Datelike;
    (1900..=9999).contains(&date.year())
}

fn check_text(field: &str, raw: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let t = raw.trim_end();
    if t.chars().count() > max {
        errors.push(FieldError::new(field, format!("At most {max} characters.")));
    }
    t.to_string()
}

// ----- partnerships ---------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartnership {
    #[schema(
        min_length = 3,
        max_length = 64,
        pattern = "^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
    )]
    pub slug: String,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Markdown.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: String,
    /// Markdown.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub goals: String,
    /// http or https.
    #[schema(max_length = 2048)]
    pub agreement_url: Option<String>,
    pub starts_on: NaiveDate,
    /// After `starts_on`.
    pub ends_on: NaiveDate,
    /// Default true.
    pub public: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnershipPage {
    pub items: Vec<Partnership>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PartnershipFilter {
    pub status: Option<PartnershipStatus>,
    /// A member institution's country.
    #[param(value_type = Option<crate::api::vocab::Country>)]
    pub country: Option<String>,
    /// An active member institution's slug.
    pub institution: Option<String>,
}

/// Partnerships you may see: public ones, and those you coordinate or
/// belong to.
#[utoipa::path(get, operation_id = "list_partnerships", path = "/api/v1/partnerships", tag = "partnerships",
    params(PageQuery, PartnershipFilter),
    responses(
        (status = 200, description = "One page", body = PartnershipPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<PartnershipFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let country = filter
        .country
        .as_deref()
        .map(CountryCode::parse)
        .transpose()
        .map_err(|m| ApiError::field("country", m))?;
    if filter.institution.as_ref().is_some_and(|s| s.len() > 64) {
        return Err(ApiError::field("institution", "At most 64 characters."));
    }
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let admin = principal.as_ref().is_some_and(Principal::is_admin);
    let items = db
        .run(move |conn| {
            let also = if admin {
                None
            } else {
                Some(match &principal {
                    Some(p) => {
                        let insts = institutions_store::institutions_of(conn, &p.user.id)?;
                        let mut ids = store::involving(conn, &insts)?;
                        ids.extend(store::coordinated_by(conn, &p.user.id)?);
                        ids
                    }
                    None => Vec::new(),
                })
            };
            let f = store::ListFilter {
                status: filter.status.map(|s| s.as_str().to_string()),
                country: country.map(|c| c.as_str().to_string()),
                institution: filter.institution.clone(),
                also,
            };
            let rows = store::list(conn, &f, after, limit)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let l = load(conn, &row.slug, principal.as_ref())?;
                out.push((utc(row.created_at), row.id.clone(), l.represent(admin)));
            }
            Ok::<_, ApiError>(out)
        })
        .await?;
    Ok(
        Paginated::from_rows(items, &page, |(at, id, _)| (*at, id.clone()))
            .map(|(_, _, p)| p)
            .respond(&req),
    )
}

/// Create a partnership (platform coordinators and admins); you become its
/// first coordinator.
#[utoipa::path(post, operation_id = "create_partnership", path = "/api/v1/partnerships", tag = "partnerships", security(("bearer" = [])),
    request_body = NewPartnership,
    responses(
        (status = 201, description = "Created, proposed", body = Partnership),
        (status = 400, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Platform coordinators and admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The slug is taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Json(body): Json<NewPartnership>,
) -> Result<HttpResponse, ApiError> {
    policy::enforce(policy::may(&principal.actor(), Action::CreatePartnership))?;
    let mut errors = Vec::new();
    if let Err(m) = crate::domain::check_slug(&body.slug) {
        errors.push(FieldError::new("slug", m));
    }
    let title = doc::check_title(&body.title)
        .map_err(|m| errors.push(FieldError::new("title", m)))
        .unwrap_or_default();
    let description = check_text("description", &body.description, 20_000, &mut errors);
    let goals = check_text("goals", &body.goals, 20_000, &mut errors);
    let agreement_url = match body
        .agreement_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        Some(u) => doc::check_url(u)
            .map_err(|m| errors.push(FieldError::new("agreement_url", m)))
            .ok(),
        None => None,
    };
    for (field, date) in [("starts_on", body.starts_on), ("ends_on", body.ends_on)] {
        if !date_in_range(date) {
            errors.push(FieldError::new(field, "A date from 1900 to 9999."));
        }
    }
    if body.ends_on <= body.starts_on {
        errors.push(FieldError::new("ends_on", "Must be after `starts_on`."));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = now();
    let row = PartnershipRow {
        id: uuid::Uuid::now_v7().to_string(),
        slug: body.slug.clone(),
        title,
        description,
        goals,
        agreement_url,
        starts_on: body.starts_on,
        ends_on: body.ends_on,
        status: "proposed".into(),
        public: body.public.unwrap_or(true),
        created_by: Some(principal.user.id.clone()),
        created_at: now,
        updated_at: now,
        last_digest_at: None,
    };
    let ctx = Context::new(Some(&principal.user.id));
    let slug = row.slug.clone();
    let p = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !store::insert(conn, &row)? {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::SlugTaken,
                        detail: format!("A partnership already uses `{}`.", row.slug),
                    });
                }
                store::add_coordinator(conn, &row.id, &principal.user.id, None, now)?;
                audit::record(
                    conn,
                    &ctx,
                    "partnership.created",
                    "partnership",
                    &row.id,
                    json!({"slug": row.slug, "title": row.title}),
                )?;
                let l = load(conn, &row.slug, Some(&principal))?;
                Ok(l.represent(principal.is_admin()))
            })
        })
        .await?;
    let mut res = etag::respond_with_status(&req, StatusCode::CREATED, &p)?;
    res.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/partnerships/{slug}"))
            .map_err(ApiError::internal)?,
    );
    Ok(res)
}

/// One partnership, with its countries, members and coordinators.
#[utoipa::path(get, operation_id = "show_partnership", path = "/api/v1/partnerships/{slug}", tag = "partnerships",
    params(("slug" = String, Path, description = "Partnership slug")),
    responses(
        (status = 200, description = "The partnership", body = Partnership, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such partnership (or not visible to you)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let p = db
        .run(move |conn| {
            let l = load(conn, &slug, principal.as_ref())?;
            let act = Principal::actor_of(principal.as_ref());
            policy::enforce(policy::may(&act, Action::ViewPartnership(l.facts)))?;
            Ok::<_, ApiError>(l.represent(principal.as_ref().is_some_and(Principal::is_admin)))
        })
        .await?;
    etag::respond(&req, &p)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnershipPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    #[schema(max_length = 20000)]
    pub goals: Option<String>,
    /// null removes it.
    #[serde(default, deserialize_with = "crate::api::me::double_option")]
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub agreement_url: Option<Option<String>>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub public: Option<bool>,
}

/// Change a partnership (coordinators). `If-Match` guards against lost updates.
#[utoipa::path(patch, operation_id = "update_partnership", path = "/api/v1/partnerships/{slug}", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug"),
           ("If-Match" = Option<String>, Header, description = "ETag you edited")),
    request_body = PartnershipPatch,
    responses(
        (status = 200, description = "Updated", body = Partnership),
        (status = 403, description = "Coordinators only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partnership", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The partnership has ended", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<PartnershipPatch>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let mut errors = Vec::new();
    let mut changes = store::Changes {
        title: body.title.as_deref().and_then(|t| {
            doc::check_title(t)
                .map_err(|m| errors.push(FieldError::new("title", m)))
                .ok()
        }),
        ..store::Changes::default()
    };
    changes.description = body
        .description
        .as_deref()
        .map(|d| check_text("description", d, 20_000, &mut errors));
    changes.goals = body
        .goals
        .as_deref()
        .map(|d| check_text("goals", d, 20_000, &mut errors));
    if let Some(u) = &body.agreement_url {
        match u
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(doc::check_url)
            .transpose()
        {
            Ok(u) => changes.agreement_url = Some(u),
            Err(m) => errors.push(FieldError::new("agreement_url", m)),
        }
    }
    for (field, date) in [("starts_on", body.starts_on), ("ends_on", body.ends_on)] {
        if date.is_some_and(|d| !date_in_range(d)) {
            errors.push(FieldError::new(field, "A date from 1900 to 9999."));
        }
    }
    changes.starts_on = body.starts_on;
    changes.ends_on = body.ends_on;
    changes.public = body.public;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let if_match = etag::if_match(&req);
    let ctx = Context::new(Some(&principal.user.id));
    let p = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let l = load_locked(conn, &slug, &principal)?;
                policy::enforce(policy::may(
                    &principal.actor(),
                    Action::ManagePartnership(l.facts),
                ))?;
                if l.status().ended() {
                    return Err(ended());
                }
                let starts = changes.starts_on.unwrap_or(l.row.starts_on);
                let ends = changes.ends_on.unwrap_or(l.row.ends_on);
                if ends <= starts {
                    return Err(ApiError::field("ends_on", "Must be after `starts_on`."));
                }
                etag::check_if_match_value(
                    if_match.as_deref(),
                    &etag::etag_of_json(&l.represent(principal.is_admin()))?,
                )?;
                changes.updated_at = Some(now());
                store::update(conn, &l.row.id, &changes)?;
                audit::record(
                    conn,
                    &ctx,
                    "partnership.updated",
                    "partnership",
                    &l.row.id,
                    json!({"title": changes.title, "public": changes.public,
                           "starts_on": changes.starts_on, "ends_on": changes.ends_on}),
                )?;
                Ok(load(conn, &slug, Some(&principal))?.represent(principal.is_admin()))
            })
        })
        .await?;
    etag::respond(&req, &p)
}

async fn change_status(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    slug: String,
    to: PartnershipStatus,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(Some(&principal.user.id));
    let state = state.into_inner();
    let p = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let l = load_locked(conn, &slug, &principal)?;
                policy::enforce(policy::may(&principal.actor(), Action::ManagePartnership(l.facts)))?;
                let from = l.status();
                if !from.can_become(to) {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::InvalidTransition,
                        detail: format!(
                            "A {} partnership cannot become {}: proposed → active → concluded, or dissolved from proposed or active.",
                            from.as_str(),
                            to.as_str()
                        ),
                    });
                }
                if to == PartnershipStatus::Active {
                    let active: Vec<&Member> = l.active_members().collect();
                    let mut countries: Vec<&str> = active.iter().map(|m| m.country.as_str()).collect();
                    countries.sort_unstable();
                    countries.dedup();
                    if active.len() < 2 || countries.len() < 2 {
                        return Err(ApiError::Unprocessable {
                            problem: ProblemType::NotCrossBorder,
                            detail: format!(
                                "It has {} active member institution(s) from {} countr{}: it needs at least two, from at least two countries.",
                                active.len(),
                                countries.len(),
                                if countries.len() == 1 { "y" } else { "ies" }
                            ),
                            errors: Vec::new(),
                        });
                    }
                }
                store::update(
                    conn,
                    &l.row.id,
                    &store::Changes {
                        status: Some(to.as_str().into()),
                        updated_at: Some(now()),
                        ..store::Changes::default()
                    },
                )?;
                audit::record(
                    conn,
                    &ctx,
                    "partnership.status_changed",
                    "partnership",
                    &l.row.id,
                    json!({"from": from.as_str(), "to": to.as_str()}),
                )?;
                let institutions: Vec<String> =
                    l.active_members().map(|m| m.row.institution_id.clone()).collect();
                let owners = store::owners_of(conn, &institutions)?;
                tell(
                    conn,
                    &state,
                    &owners,
                    Kind::PartnershipStatusChanged,
                    &json!({"partnership": l.row.title, "slug": l.row.slug, "status": to.as_str()}),
                )?;
                Ok(load(conn, &slug, Some(&principal))?.represent(principal.is_admin()))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

macro_rules! status_endpoint {
    ($name:ident, $to:expr, $path:literal, $doc:literal, $errors:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "partnerships", security(("bearer" = [])),
            params(("slug" = String, Path, description = "Partnership slug")),
            responses(
                (status = 200, description = "Done", body = Partnership),
                (status = 403, description = "Coordinators only", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such partnership", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = $errors, body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Not cross-border (activation)", body = Problem, content_type = "application/problem+json"),
            ))]
        pub async fn $name(
            state: web::Data<AppState>,
            db: web::Data<Db>,
            principal: Principal,
            path: web::Path<String>,
        ) -> Result<HttpResponse, ApiError> {
            change_status(state, db, principal, path.into_inner(), $to).await
        }
    };
}

status_endpoint!(
    activate,
    PartnershipStatus::Active,
    "/api/v1/partnerships/{slug}/activate",
    "Activate a proposed partnership: it needs at least two active member institutions from at least two countries.",
    "Not proposed"
);
status_endpoint!(
    conclude,
    PartnershipStatus::Concluded,
    "/api/v1/partnerships/{slug}/conclude",
    "Conclude an active partnership: it becomes read-only and grants no more access.",
    "Not active"
);
status_endpoint!(
    dissolve,
    PartnershipStatus::Dissolved,
    "/api/v1/partnerships/{slug}/dissolve",
    "Dissolve a proposed or active partnership: it becomes read-only and grants no more access.",
    "Already ended"
);

// ----- members ------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnershipMemberPage {
    pub items: Vec<PartnershipMember>,
    pub next_cursor: Option<String>,
}

/// The member institutions (coordinators and admins see every status,
/// others the active ones).
#[utoipa::path(get, operation_id = "list_partnership_members", path = "/api/v1/partnerships/{slug}/members", tag = "partnerships",
    params(("slug" = String, Path, description = "Partnership slug"), PageQuery),
    responses(
        (status = 200, description = "One page", body = PartnershipMemberPage),
        (status = 404, description = "No such partnership", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn members(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let items = db
        .run(move |conn| {
            let l = load(conn, &slug, principal.as_ref())?;
            policy::enforce(policy::may(
                &Principal::actor_of(principal.as_ref()),
                Action::ViewPartnership(l.facts),
            ))?;
            let full = l.facts.coordinator || principal.as_ref().is_some_and(Principal::is_admin);
            Ok::<_, ApiError>(
                l.members
                    .into_iter()
                    .filter(|m| full || m.row.status == "active")
                    .collect::<Vec<_>>(),
            )
        })
        .await?;
    Ok(Paginated::from_sorted(items, &page, |m| {
        (utc(m.row.created_at), m.row.institution_id.clone())
    })
    .map(|m| PartnershipMember::from(&m))
    .respond(&req))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartnershipMember {
    /// The institution's slug (a verified institution).
    pub institution: String,
}

/// Invite an institution (coordinators); its owners are emailed.
#[utoipa::path(post, operation_id = "invite_institution", path = "/api/v1/partnerships/{slug}/members", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug")),
    request_body = NewPartnershipMember,
    responses(
        (status = 201, description = "Invited", body = PartnershipMember),
        (status = 403, description = "Coordinators only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partnership or institution", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already invited or a member, or the partnership has ended", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The institution is not verified", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invite(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<NewPartnershipMember>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let ctx = Context::new(Some(&principal.user.id));
    let state = state.into_inner();
    let member = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let l = load_locked(conn, &slug, &principal)?;
                policy::enforce(policy::may(
                    &principal.actor(),
                    Action::ManagePartnership(l.facts),
                ))?;
                if l.status().ended() {
                    return Err(ended());
                }
                let inst = institutions_store::by_slug(conn, body.institution.trim())?
                    .filter(|i| {
                        i.verified || principal.is_admin() || l.viewer.role_in(&i.id).is_some()
                    })
                    .ok_or_else(|| {
                        ApiError::NotFoundNamed(format!(
                            "There is no institution `{}` that you can see.",
                            body.institution
                        ))
                    })?;
                if !inst.verified {
                    return Err(ApiError::Unprocessable {
                        problem: ProblemType::InstitutionNotVerified,
                        detail: "Only verified institutions can be invited.".into(),
                        errors: vec![FieldError::new("institution", "Not verified yet.")],
                    });
                }
                if l.member(&inst.slug)
                    .is_some_and(|m| matches!(m.row.status.as_str(), "active" | "invited"))
                {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::AlreadyMember,
                        detail: format!(
                            "`{}` is already invited to or a member of this partnership.",
                            inst.slug
                        ),
                    });
                }
                let now = now();
                store::upsert_member(
                    conn,
                    &MemberRow {
                        partnership_id: l.row.id.clone(),
                        institution_id: inst.id.clone(),
                        status: "invited".into(),
                        invited_by: Some(principal.user.id.clone()),
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                audit::record(
                    conn,
                    &ctx,
                    "partnership.member_invited",
                    "partnership",
                    &l.row.id,
                    json!({"institution": inst.slug}),
                )?;
                let owners = store::owners_of(conn, std::slice::from_ref(&inst.id))?;
                tell(
                    conn,
                    &state,
                    &owners,
                    Kind::PartnershipInvitation,
                    &json!({"inviter": principal.user.display_name, "institution": inst.name,
                            "partnership": l.row.title, "slug": l.row.slug}),
                )?;
                let l = load(conn, &slug, Some(&principal))?;
                l.member(&inst.slug)
                    .map(PartnershipMember::from)
                    .ok_or(ApiError::NotFound)
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(member))
}

/// Moves a member institution to `to`, if the caller may and the
/// transition is allowed; emails whom it concerns. `None` ends the
/// membership: an owner of an active member leaves, anyone else removes.
async fn member_transition(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    slug: String,
    institution: String,
    to: Option<MemberStatus>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(Some(&principal.user.id));
    let state = state.into_inner();
    let member = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let l = load_locked(conn, &slug, &principal)?;
                let member = l.member(&institution).ok_or(ApiError::NotFound)?;
                let owner = l.viewer.role_in(&member.row.institution_id)
                    == Some(InstitutionRole::Owner.as_str());
                // Invitations, refusals and past members are listed to
                // coordinators and admins only: to anyone else but the
                // institution's own people they do not exist.
                let listed = member.row.status == "active"
                    || l.facts.coordinator
                    || principal.is_admin()
                    || l.viewer.role_in(&member.row.institution_id).is_some();
                if !listed {
                    return Err(ApiError::NotFound);
                }
                let from = MemberStatus::parse(&member.row.status);
                let to = to.unwrap_or(if from == MemberStatus::Active && owner {
                    MemberStatus::Left
                } else {
                    MemberStatus::Removed
                });
                let act = principal.actor();
                // Accepting, declining and leaving are the institution's
                // owners' to do; removing is the coordinators'.
                let action = match to {
                    MemberStatus::Removed => Action::ManagePartnership(l.facts),
                    _ => Action::ActForMemberInstitution { partnership: l.facts, owner },
                };
                policy::enforce(policy::may(&act, action))?;
                if l.status().ended() {
                    return Err(ended());
                }
                if !from.can_become(to) {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::InvalidTransition,
                        detail: format!(
                            "A member that is {} cannot become {}.",
                            from.as_str(),
                            to.as_str()
                        ),
                    });
                }
                store::set_member_status(conn, &l.row.id, &member.row.institution_id, to.as_str(), now())?;
                audit::record(
                    conn,
                    &ctx,
                    &format!("partnership.member_{}", to.as_str()),
                    "partnership",
                    &l.row.id,
                    json!({"institution": member.slug, "from": from.as_str(), "to": to.as_str()}),
                )?;
                let base = json!({"institution": member.name, "partnership": l.row.title, "slug": l.row.slug});
                match to {
                    MemberStatus::Active | MemberStatus::Declined => {
                        let mut d = base.clone();
                        d["response"] = json!(if to == MemberStatus::Active { "accepted" } else { "declined" });
                        tell(conn, &state, &coordinator_ids(&l), Kind::PartnershipResponse, &d)?;
                    }
                    MemberStatus::Left => {
                        let mut d = base.clone();
                        d["how"] = json!("left");
                        tell(conn, &state, &coordinator_ids(&l), Kind::PartnershipMembershipEnded, &d)?;
                    }
                    MemberStatus::Removed => {
                        let mut d = base.clone();
                        d["how"] = json!("was removed from");
                        let owners = store::owners_of(conn, std::slice::from_ref(&member.row.institution_id))?;
                        tell(conn, &state, &owners, Kind::PartnershipMembershipEnded, &d)?;
                    }
                    MemberStatus::Invited => {}
                }
                let l = load(conn, &slug, Some(&principal))?;
                l.member(&institution)
                    .map(PartnershipMember::from)
                    .ok_or(ApiError::NotFound)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(member))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnershipMemberPatch {
    /// `active` (accept) or `declined` by the institution's owners; `left` by
    /// them; `removed` by coordinators.
    pub status: MemberStatus,
}

/// Change a member's status: the same transitions as accept, decline,
/// leave and remove, by the same people.
#[utoipa::path(patch, operation_id = "change_partnership_member", path = "/api/v1/partnerships/{slug}/members/{institution}", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug"),
           ("institution" = String, Path, description = "Institution slug")),
    request_body = PartnershipMemberPatch,
    responses(
        (status = 200, description = "Changed", body = PartnershipMember),
        (status = 403, description = "Not yours to change", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partnership or member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible in this status", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_member(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
    Json(body): Json<PartnershipMemberPatch>,
) -> Result<HttpResponse, ApiError> {
    let (slug, institution) = path.into_inner();
    member_transition(state, db, principal, slug, institution, Some(body.status)).await
}

/// Leave (an owner of that institution) or remove (coordinators; also
/// withdraws an invitation).
#[utoipa::path(delete, operation_id = "end_partnership_membership", path = "/api/v1/partnerships/{slug}/members/{institution}", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug"),
           ("institution" = String, Path, description = "Institution slug")),
    responses(
        (status = 200, description = "Left or removed", body = PartnershipMember),
        (status = 403, description = "Not yours to do", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partnership or member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a member any more, or the partnership has ended", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn end_membership(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, institution) = path.into_inner();
    member_transition(state, db, principal, slug, institution, None).await
}

/// Accept an invitation (an owner of the invited institution, with a verified email).
#[utoipa::path(post, operation_id = "accept_partnership_invitation", path = "/api/v1/partnerships/{slug}/members/{institution}/accept", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug"),
           ("institution" = String, Path, description = "Institution slug")),
    responses(
        (status = 200, description = "Now an active member", body = PartnershipMember),
        (status = 403, description = "Owners of that institution, with a verified email", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partnership or invitation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not invited", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, institution) = path.into_inner();
    member_transition(
        state,
        db,
        principal,
        slug,
        institution,
        Some(MemberStatus::Active),
    )
    .await
}

/// Decline an invitation (an owner of the invited institution).
#[utoipa::path(post, path = "/api/v1/partnerships/{slug}/members/{institution}/decline", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug"),
           ("institution" = String, Path, description = "Institution slug")),
    responses(
        (status = 200, description = "Declined", body = PartnershipMember),
        (status = 403, description = "Owners of that institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partnership or invitation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not invited", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn decline(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, institution) = path.into_inner();
    member_transition(
        state,
        db,
        principal,
        slug,
        institution,
        Some(MemberStatus::Declined),
    )
    .await
}

// ----- coordinators -------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct CoordinatorPage {
    pub items: Vec<Coordinator>,
    pub next_cursor: Option<String>,
}

/// The partnership's coordinators.
#[utoipa::path(get, operation_id = "list_coordinators", path = "/api/v1/partnerships/{slug}/coordinators", tag = "partnerships",
    params(("slug" = String, Path, description = "Partnership slug"), PageQuery),
    responses(
        (status = 200, description = "Every coordinator", body = CoordinatorPage),
        (status = 404, description = "No such partnership", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn coordinators(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let page = page.parse::<String>()?;
    let list = db
        .run(move |conn| {
            let l = load(conn, &slug, principal.as_ref())?;
            policy::enforce(policy::may(
                &Principal::actor_of(principal.as_ref()),
                Action::ViewPartnership(l.facts),
            ))?;
            Ok::<_, ApiError>(l.coordinators)
        })
        .await?;
    let mut rows = list;
    rows.sort();
    Ok(Paginated::from_sorted(rows, &page, |(u, _)| u.clone())
        .map(|(user_id, display_name)| Coordinator {
            user_id,
            display_name,
        })
        .respond(&req))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCoordinator {
    #[schema(format = "uuid")]
    pub user_id: String,
}

/// Add a coordinator (coordinators): a member of an active member
/// institution, or a platform coordinator.
#[utoipa::path(post, path = "/api/v1/partnerships/{slug}/coordinators", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug")),
    request_body = NewCoordinator,
    responses(
        (status = 201, description = "Added", body = Coordinator),
        (status = 403, description = "Coordinators only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partnership or user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a coordinator, or the partnership has ended", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The user is not eligible", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_coordinator(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<NewCoordinator>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let user_id = uuid::Uuid::parse_str(body.user_id.trim())
        .map_err(|_| ApiError::field("user_id", "Not an id (a UUID)."))?
        .to_string();
    let ctx = Context::new(Some(&principal.user.id));
    let c = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let l = load_locked(conn, &slug, &principal)?;
                policy::enforce(policy::may(&principal.actor(), Action::ManagePartnership(l.facts)))?;
                if l.status().ended() {
                    return Err(ended());
                }
                let user = user_by_id(conn, &user_id)?
                    .filter(|u| u.deactivated_at.is_none())
                    .ok_or_else(|| ApiError::NotFoundNamed("There is no such user.".into()))?;
                let eligible = user.role == "coordinator"
                    || store::is_member_person(conn, &l.row.id, &user.id)?;
                if !eligible {
                    return Err(ApiError::Unprocessable {
                        problem: ProblemType::NotEligible,
                        detail: "A coordinator belongs to an active member institution, or is a platform coordinator.".into(),
                        errors: vec![FieldError::new("user_id", "Not eligible.")],
                    });
                }
                if !store::add_coordinator(conn, &l.row.id, &user.id, Some(&principal.user.id), now())? {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::AlreadyCoordinator,
                        detail: "This person already coordinates the partnership.".into(),
                    });
                }
                audit::record(
                    conn,
                    &ctx,
                    "partnership.coordinator_added",
                    "partnership",
                    &l.row.id,
                    json!({"user_id": user.id}),
                )?;
                Ok(Coordinator {
                    user_id: user.id,
                    display_name: user.display_name,
                })
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(c))
}

/// Remove a coordinator (coordinators); the last one stays.
#[utoipa::path(delete, path = "/api/v1/partnerships/{slug}/coordinators/{user_id}", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug"),
           ("user_id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Coordinators only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partnership or coordinator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last coordinator, or the partnership has ended", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_coordinator(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, user_id) = path.into_inner();
    let ctx = Context::new(Some(&principal.user.id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let l = load_locked(conn, &slug, &principal)?;
            policy::enforce(policy::may(
                &principal.actor(),
                Action::ManagePartnership(l.facts),
            ))?;
            if l.status().ended() {
                return Err(ended());
            }
            if !l.coordinators.iter().any(|(u, _)| *u == user_id) {
                return Err(ApiError::NotFound);
            }
            if l.coordinators.len() <= 1 {
                return Err(ApiError::Conflict {
                    problem: ProblemType::LastCoordinator,
                    detail: "A partnership keeps at least one coordinator: add another first."
                        .into(),
                });
            }
            store::remove_coordinator(conn, &l.row.id, &user_id)?;
            audit::record(
                conn,
                &ctx,
                "partnership.coordinator_removed",
                "partnership",
                &l.row.id,
                json!({"user_id": user_id}),
            )?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ----- shared resources ---------------------------------------------------------------

/// A resource shared into a partnership.
#[derive(Debug, Serialize, ToSchema)]
pub struct SharedResource {
    #[schema(format = "uuid")]
    pub id: String,
    pub kind: ResourceKind,
    pub title: String,
    /// The owning institution's slug.
    pub institution: String,
    pub visibility: Visibility,
    pub shared_at: DateTime<Utc>,
}

impl SharedResource {
    fn of(r: &resources_store::Loaded, shared_at: chrono::NaiveDateTime) -> Self {
        Self {
            id: r.row.id.clone(),
            kind: r.row.kind,
            title: r.row.title.clone(),
            institution: r.institution_slug.clone(),
            visibility: r.row.visibility,
            shared_at: utc(shared_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SharedResourcePage {
    pub items: Vec<SharedResource>,
    pub next_cursor: Option<String>,
}

/// The resources shared into the partnership that you may see.
#[utoipa::path(get, operation_id = "list_shared_resources", path = "/api/v1/partnerships/{slug}/resources", tag = "partnerships",
    params(("slug" = String, Path, description = "Partnership slug"), PageQuery),
    responses(
        (status = 200, description = "One page", body = SharedResourcePage),
        (status = 404, description = "No such partnership", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn shared(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let items = db
        .run(move |conn| {
            let l = load(conn, &slug, principal.as_ref())?;
            let act = Principal::actor_of(principal.as_ref());
            policy::enforce(policy::may(&act, Action::ViewPartnership(l.facts)))?;
            let shares = store::shared(conn, &l.row.id)?;
            let ids: Vec<String> = shares.iter().map(|(r, _)| r.clone()).collect();
            let found = resources_store::by_ids(conn, &ids)?;
            let mut out = Vec::new();
            for (id, at) in shares {
                if let Some(r) = found.iter().find(|r| r.row.id == id)
                    && policy::resource_visible(&act, &facts(r, &l.viewer))
                {
                    out.push(SharedResource::of(r, at));
                }
            }
            Ok::<_, ApiError>(out)
        })
        .await?;
    Ok(Paginated::from_sorted(items, &page, |s| (s.shared_at, s.id.clone())).respond(&req))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSharedResource {
    #[schema(format = "uuid")]
    pub resource_id: String,
}

/// Share a resource (an editor or owner of its institution, which must be
/// an active member). Member owners get at most one digest email a day.
#[utoipa::path(post, operation_id = "share_resource", path = "/api/v1/partnerships/{slug}/resources", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug")),
    request_body = NewSharedResource,
    responses(
        (status = 201, description = "Shared", body = SharedResource),
        (status = 403, description = "Editors of an active member institution only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partnership or resource", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already shared, or the partnership has ended", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn share(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<NewSharedResource>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let resource_id = path_id(body.resource_id.trim())
        .map_err(|_| ApiError::field("resource_id", "Not an id (a UUID)."))?;
    let ctx = Context::new(Some(&principal.user.id));
    let state = state.into_inner();
    let shared = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let l = load_locked(conn, &slug, &principal)?;
                let act = principal.actor();
                policy::enforce(policy::may(&act, Action::ViewPartnership(l.facts)))?;
                let r = resources_store::by_id(conn, &resource_id)?
                    .filter(|r| policy::resource_visible(&act, &facts(r, &l.viewer)))
                    .ok_or_else(|| {
                        ApiError::NotFoundNamed(
                            "There is no resource with this id that you can see.".into(),
                        )
                    })?;
                let role = l.viewer.role_in(&r.row.institution_id);
                let editor = matches!(role, Some("owner" | "editor"))
                    && l.active_members()
                        .any(|m| m.row.institution_id == r.row.institution_id);
                policy::enforce(policy::may(
                    &act,
                    Action::ShareResource {
                        partnership: l.facts,
                        editor,
                    },
                ))?;
                if l.status().ended() {
                    return Err(ended());
                }
                let now = now();
                if !store::share(conn, &l.row.id, &r.row.id, &principal.user.id, now)? {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::AlreadyShared,
                        detail: "This resource is already shared into the partnership.".into(),
                    });
                }
                audit::record(
                    conn,
                    &ctx,
                    "partnership.resource_shared",
                    "partnership",
                    &l.row.id,
                    json!({"resource_id": r.row.id, "kind": r.row.kind}),
                )?;
                crate::jobs::digests::send_for(conn, &state, Some(&l.row.id))?;
                Ok(SharedResource::of(&r, now))
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(shared))
}

/// Stop sharing a resource (editors of its institution, or coordinators).
#[utoipa::path(delete, operation_id = "unshare_resource", path = "/api/v1/partnerships/{slug}/resources/{resource_id}", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug"),
           ("resource_id" = String, Path, description = "Resource id")),
    responses(
        (status = 204, description = "No longer shared"),
        (status = 403, description = "Its institution's editors, or coordinators", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partnership or shared resource", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unshare(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, resource_id) = path.into_inner();
    let resource_id = path_id(&resource_id)?;
    let ctx = Context::new(Some(&principal.user.id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let l = load_locked(conn, &slug, &principal)?;
            let act = principal.actor();
            policy::enforce(policy::may(&act, Action::ViewPartnership(l.facts)))?;
            if l.status().ended() {
                return Err(ended());
            }
            if !store::shared(conn, &l.row.id)?
                .iter()
                .any(|(r, _)| *r == resource_id)
            {
                return Err(ApiError::NotFound);
            }
            let r = resources_store::by_id(conn, &resource_id)?.ok_or(ApiError::NotFound)?;
            let editor = matches!(
                l.viewer.role_in(&r.row.institution_id),
                Some("owner" | "editor")
            );
            if !editor {
                policy::enforce(policy::may(&act, Action::ManagePartnership(l.facts)))?;
            }
            store::unshare(conn, &l.row.id, &resource_id)?;
            audit::record(
                conn,
                &ctx,
                "partnership.resource_unshared",
                "partnership",
                &l.row.id,
                json!({"resource_id": resource_id}),
            )?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
