//! `/institutions*` and `/invitations/accept`: institutions, their members
//! and invitations. Every access question goes to `domain::policy`; every
//! change writes an audit event in its transaction.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::client_ip;
use crate::api::types::utc;
use crate::app::notifications::{Kind, notify};
use crate::auth::{MaybePrincipal, Principal, random_token, token_hash};
use crate::db::accounts::UserRow;
use crate::db::audit::{self, Context};
use crate::db::institutions::{self as store, InstitutionRow, InvitationRow};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::policy::{self, Action, InstitutionFacts, InstitutionRole};
use crate::domain::{CountryCode, EmailAddress};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
use crate::mail::{Email, Template};
use crate::problem_types::ProblemType;
use crate::state::AppState;

/// Days an invitation stays valid.
pub const INVITATION_DAYS: i64 = 7;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get = crate::api::get;
    cfg.service(
        web::resource("/institutions")
            .route(get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/institutions/{slug}")
            .route(get().to(show))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/institutions/{slug}/verify").route(web::post().to(verify)))
    .service(web::resource("/institutions/{slug}/members").route(get().to(members)))
    .service(
        web::resource("/institutions/{slug}/members/{user_id}")
            .route(web::patch().to(change_member))
            .route(web::delete().to(remove_member)),
    )
    .service(
        web::resource("/institutions/{slug}/invitations")
            .route(get().to(invitations))
            .route(web::post().to(invite)),
    )
    .service(
        web::resource("/institutions/{slug}/invitations/{id}").route(web::delete().to(withdraw)),
    )
    .service(web::resource("/invitations/accept").route(web::post().to(accept)));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstitutionKind {
    University,
    ResearchLab,
    Ngo,
    Government,
    Company,
    Other,
}

impl InstitutionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::University => "university",
            Self::ResearchLab => "research_lab",
            Self::Ngo => "ngo",
            Self::Government => "government",
            Self::Company => "company",
            Self::Other => "other",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "university" => Self::University,
            "research_lab" => Self::ResearchLab,
            "ngo" => Self::Ngo,
            "government" => Self::Government,
            "company" => Self::Company,
            _ => Self::Other,
        }
    }
}

/// An institution.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Institution {
    pub slug: String,
    pub name: String,
    #[schema(value_type = crate::api::vocab::Country)]
    pub country: String,
    pub kind: InstitutionKind,
    pub website: Option<String>,
    /// Markdown.
    pub description: String,
    pub verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&InstitutionRow> for Institution {
    fn from(r: &InstitutionRow) -> Self {
        Self {
            slug: r.slug.clone(),
            name: r.name.clone(),
            country: r.country.clone(),
            kind: InstitutionKind::parse(&r.kind),
            website: r.website.clone(),
            description: r.description.clone(),
            verified: r.verified,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

/// The institution and what the policy needs to know about it; 404 if none.
async fn load(
    db: &Db,
    slug: String,
    principal: Option<&Principal>,
) -> Result<(InstitutionRow, InstitutionFacts), ApiError> {
    if slug.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let user_id = principal.map(|p| p.user.id.clone());
    let (row, role) = db
        .run(move |conn| {
            let Some(row) = store::by_slug(conn, &slug)? else {
                return Ok::<_, diesel::result::Error>((None, None));
            };
            let role = match &user_id {
                Some(u) => store::role_of(conn, &row.id, u)?,
                None => None,
            };
            Ok((Some(row), role))
        })
        .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    let facts = InstitutionFacts {
        verified: row.verified,
        caller_role: role.as_deref().and_then(InstitutionRole::parse),
    };
    Ok((row, facts))
}

// ----- validation --------------------------------------------------------

fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > 200 || name.chars().any(char::is_control) {
        Err("1–200 characters, no control characters.".into())
    } else {
        Ok(name.to_string())
    }
}

fn check_website(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw.trim()).map_err(|_| "Not a URL.".to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || raw.len() > 2048 {
        return Err("Use an http or https address (at most 2048 characters).".into());
    }
    Ok(url.to_string())
}

fn check_description(raw: &str) -> Result<String, String> {
    if raw.chars().count() > 20_000 {
        Err("At most 20000 characters.".into())
    } else {
        Ok(raw.to_string())
    }
}

// ----- institutions ------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct InstitutionPage {
    pub items: Vec<Institution>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct InstitutionFilter {
    #[param(value_type = Option<crate::api::vocab::Country>)]
    pub country: Option<String>,
    pub kind: Option<InstitutionKind>,
    pub verified: Option<bool>,
    /// Part of the name.
    pub q: Option<String>,
}

/// Institutions you may see: verified ones, yours, or (admins) all.
#[utoipa::path(get, operation_id = "list_institutions", path = "/api/v1/institutions", tag = "institutions",
    params(PageQuery, InstitutionFilter),
    responses(
        (status = 200, description = "One page", body = InstitutionPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<InstitutionFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let country = filter
        .country
        .as_deref()
        .map(CountryCode::parse)
        .transpose()
        .map_err(|m| ApiError::field("country", m))?;
    let q = filter
        .q
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::field("q", "At most 200 characters."));
    }
    let admin = principal.as_ref().is_some_and(Principal::is_admin);
    let user_id = principal.map(|p| p.user.id);
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let rows = db
        .run(move |conn| {
            let visible_unverified = if admin {
                None
            } else {
                Some(match &user_id {
                    Some(u) => store::institutions_of(conn, u)?,
                    None => Vec::new(),
                })
            };
            let f = store::ListFilter {
                country: country.map(|c| c.as_str().to_string()),
                kind: filter.kind.map(|k| k.as_str().to_string()),
                verified: filter.verified,
                q,
                visible_unverified,
            };
            store::list(conn, &f, after, limit)
        })
        .await?;
    Ok(
        Paginated::from_rows(rows, &page, |r| (utc(r.created_at), r.id.clone()))
            .map(|r| Institution::from(&r))
            .respond(&req),
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInstitution {
    /// 3–64 lowercase letters, digits and hyphens; the institution's URL name.
    #[schema(
        min_length = 3,
        max_length = 64,
        pattern = "^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
    )]
    pub slug: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(value_type = crate::api::vocab::Country)]
    pub country: String,
    pub kind: InstitutionKind,
    /// http or https.
    #[schema(max_length = 2048)]
    pub website: Option<String>,
    /// Markdown, at most 20000 characters.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: String,
}

/// Create an institution (verified users); you become its owner.
#[utoipa::path(post, path = "/api/v1/institutions", tag = "institutions", security(("bearer" = [])),
    request_body = NewInstitution,
    responses(
        (status = 201, description = "Created", body = Institution),
        (status = 400, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Verify your email address first", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The slug is taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Json(body): Json<NewInstitution>,
) -> Result<HttpResponse, ApiError> {
    policy::enforce(policy::may(
        &Principal::actor_of(Some(&principal)),
        Action::CreateInstitution,
    ))?;
    let mut errors = Vec::new();
    if let Err(m) = crate::domain::check_slug(&body.slug) {
        errors.push(FieldError::new("slug", m));
    }
    let name = check_name(&body.name)
        .map_err(|m| errors.push(FieldError::new("name", m)))
        .ok();
    let country = CountryCode::parse(&body.country)
        .map_err(|m| errors.push(FieldError::new("country", m)))
        .ok();
    let website = match body.website.as_deref().filter(|w| !w.trim().is_empty()) {
        Some(w) => check_website(w)
            .map_err(|m| errors.push(FieldError::new("website", m)))
            .ok(),
        None => None,
    };
    let description = check_description(&body.description)
        .map_err(|m| errors.push(FieldError::new("description", m)))
        .ok();
    let (Some(name), Some(country), Some(description), true) =
        (name, country, description, errors.is_empty())
    else {
        return Err(ApiError::validation(errors));
    };
    let now = now();
    let row = InstitutionRow {
        id: uuid::Uuid::now_v7().to_string(),
        slug: body.slug,
        name_lower: name.to_lowercase(),
        name,
        country: country.as_str().into(),
        kind: body.kind.as_str().into(),
        website,
        description,
        verified: false,
        verified_at: None,
        created_by: Some(principal.user.id.clone()),
        created_at: now,
        updated_at: now,
    };
    let ctx = Context::new(Some(&principal.user.id));
    let user_id = principal.user.id.clone();
    let stored = row.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            if !store::insert(conn, &stored)? {
                return Err(ApiError::Conflict {
                    problem: ProblemType::SlugTaken,
                    detail: format!(
                        "An institution already uses `{}`; choose another slug.",
                        stored.slug
                    ),
                });
            }
            store::upsert_member(
                conn,
                &stored.id,
                &user_id,
                InstitutionRole::Owner.as_str(),
                now,
            )?;
            audit::record(
                conn,
                &ctx,
                "institution.created",
                "institution",
                &stored.id,
                json!({"slug": stored.slug, "name": stored.name, "country": stored.country}),
            )?;
            audit::record(
                conn,
                &ctx,
                "membership.added",
                "institution",
                &stored.id,
                json!({"user_id": user_id, "role": "owner"}),
            )?;
            Ok(())
        })
    })
    .await?;
    let mut res = etag::respond_with_status(
        &req,
        actix_web::http::StatusCode::CREATED,
        &Institution::from(&row),
    )?;
    res.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/institutions/{}", row.slug))
            .map_err(ApiError::internal)?,
    );
    Ok(res)
}

/// One institution.
#[utoipa::path(get, path = "/api/v1/institutions/{slug}", tag = "institutions",
    params(("slug" = String, Path, description = "Institution slug")),
    responses(
        (status = 200, description = "The institution", body = Institution, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such institution (or not visible to you)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (row, facts) = load(&db, path.into_inner(), principal.as_ref()).await?;
    policy::enforce(policy::may(
        &Principal::actor_of(principal.as_ref()),
        Action::ViewInstitution(facts),
    ))?;
    etag::respond(&req, &Institution::from(&row))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstitutionPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(value_type = Option<crate::api::vocab::Country>)]
    pub country: Option<String>,
    pub kind: Option<InstitutionKind>,
    /// http or https; null removes it.
    #[serde(default, deserialize_with = "crate::api::me::double_option")]
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub website: Option<Option<String>>,
    #[schema(max_length = 20000)]
    pub description: Option<String>,
}

/// Change an institution (owners). `If-Match` guards against lost updates.
#[utoipa::path(patch, path = "/api/v1/institutions/{slug}", tag = "institutions", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Institution slug"),
           ("If-Match" = Option<String>, Header, description = "ETag you edited")),
    request_body = InstitutionPatch,
    responses(
        (status = 200, description = "Updated", body = Institution),
        (status = 403, description = "Owners only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such institution", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<InstitutionPatch>,
) -> Result<HttpResponse, ApiError> {
    let (row, facts) = load(&db, path.into_inner(), Some(&principal)).await?;
    policy::enforce(policy::may(
        &Principal::actor_of(Some(&principal)),
        Action::UpdateInstitution(facts),
    ))?;
    let mut errors = Vec::new();
    let mut changes = store::Changes::default();
    if let Some(n) = &body.name {
        match check_name(n) {
            Ok(n) => {
                changes.name_lower = Some(n.to_lowercase());
                changes.name = Some(n);
            }
            Err(m) => errors.push(FieldError::new("name", m)),
        }
    }
    if let Some(c) = &body.country {
        match CountryCode::parse(c) {
            Ok(c) => changes.country = Some(c.as_str().into()),
            Err(m) => errors.push(FieldError::new("country", m)),
        }
    }
    changes.kind = body.kind.map(|k| k.as_str().into());
    if let Some(w) = &body.website {
        match w
            .as_deref()
            .filter(|w| !w.trim().is_empty())
            .map(check_website)
            .transpose()
        {
            Ok(w) => changes.website = Some(w),
            Err(m) => errors.push(FieldError::new("website", m)),
        }
    }
    if let Some(d) = &body.description {
        match check_description(d) {
            Ok(d) => changes.description = Some(d),
            Err(m) => errors.push(FieldError::new("description", m)),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    etag::check_if_match(&req, &etag::etag_of_json(&Institution::from(&row))?)?;
    changes.updated_at = Some(now());
    // Verification vouches for a name and a country: changing either (by
    // anyone but an admin) sends the institution back for verification.
    let identity_changed = changes.name.as_ref().is_some_and(|n| *n != row.name)
        || changes.country.as_ref().is_some_and(|c| *c != row.country);
    let unverify = row.verified && identity_changed && !principal.is_admin();
    if unverify {
        changes.verified = Some(false);
        changes.verified_at = Some(None);
    }
    let detail = json!({
        "unverified": unverify,
        "name": changes.name,
        "country": changes.country,
        "kind": changes.kind,
        "website": changes.website,
        "description_changed": changes.description.is_some(),
    });
    let ctx = Context::new(Some(&principal.user.id));
    let updated = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                store::update(conn, &row.id, &changes)?;
                audit::record(
                    conn,
                    &ctx,
                    "institution.updated",
                    "institution",
                    &row.id,
                    detail,
                )?;
                store::by_slug(conn, &row.slug)?
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("institution vanished")))
            })
        })
        .await?;
    etag::respond(&req, &Institution::from(&updated))
}

/// Delete an institution (owners).
#[utoipa::path(delete, path = "/api/v1/institutions/{slug}", tag = "institutions", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Institution slug"),
           ("If-Match" = Option<String>, Header, description = "ETag you saw")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Owners only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such institution", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It still owns published resources", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (row, facts) = load(&db, path.into_inner(), Some(&principal)).await?;
    policy::enforce(policy::may(
        &Principal::actor_of(Some(&principal)),
        Action::DeleteInstitution(facts),
    ))?;
    etag::check_if_match(&req, &etag::etag_of_json(&Institution::from(&row))?)?;
    let ctx = Context::new(Some(&principal.user.id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            // Drafts go with the institution; what it published stays
            // (learners and links depend on it) until archived elsewhere.
            let published = crate::db::resources::count_published(conn, &row.id)?;
            if published > 0 {
                return Err(ApiError::Conflict {
                    problem: ProblemType::InstitutionHasResources,
                    detail: format!(
                        "`{}` owns {published} published or archived resource(s); \
                         an institution is deleted only while it owns none (its drafts go with it).",
                        row.slug
                    ),
                });
            }
            audit::record(
                conn,
                &ctx,
                "institution.deleted",
                "institution",
                &row.id,
                json!({"slug": row.slug, "name": row.name}),
            )?;
            store::delete(conn, &row.id)?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mark an institution verified (admins); its owners are told.
#[utoipa::path(post, path = "/api/v1/institutions/{slug}/verify", tag = "institutions", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Institution slug")),
    responses(
        (status = 200, description = "Verified", body = Institution),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such institution", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (row, facts) = load(&db, path.into_inner(), Some(&principal)).await?;
    policy::enforce(policy::may(
        &Principal::actor_of(Some(&principal)),
        Action::VerifyInstitution(facts),
    ))?;
    let ctx = Context::new(Some(&principal.user.id));
    let state = state.clone();
    let updated = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !row.verified {
                    let now = now();
                    store::update(
                        conn,
                        &row.id,
                        &store::Changes {
                            verified: Some(true),
                            verified_at: Some(Some(now)),
                            updated_at: Some(now),
                            ..Default::default()
                        },
                    )?;
                    audit::record(
                        conn,
                        &ctx,
                        "institution.verified",
                        "institution",
                        &row.id,
                        json!({"slug": row.slug}),
                    )?;
                    for owner in store::users_with_role(conn, &row.id, "owner")? {
                        notify(
                            conn,
                            &state,
                            &owner,
                            Kind::InstitutionVerified,
                            json!({
                                "display_name": owner.display_name,
                                "institution": row.name,
                                "slug": row.slug,
                                "role": "owner",
                            }),
                        )?;
                    }
                }
                store::by_slug(conn, &row.slug)?
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("institution vanished")))
            })
        })
        .await?;
    etag::respond(&req, &Institution::from(&updated))
}

// ----- members -----------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: InstitutionRole,
    pub joined_at: DateTime<Utc>,
}

/// Members (for members and admins); others of a verified institution see
/// only `member_count`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    pub items: Vec<Member>,
    pub next_cursor: Option<String>,
    pub member_count: i64,
}

/// The members of an institution.
#[utoipa::path(get, path = "/api/v1/institutions/{slug}/members", tag = "institutions",
    params(("slug" = String, Path, description = "Institution slug"), PageQuery),
    responses(
        (status = 200, description = "Members, or only their count for outsiders", body = MemberPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such institution", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn members(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let (row, facts) = load(&db, path.into_inner(), principal.as_ref()).await?;
    policy::enforce(policy::may(
        &Principal::actor_of(principal.as_ref()),
        Action::ListMembers(facts),
    ))?;
    let insider =
        facts.caller_role.is_some() || principal.as_ref().is_some_and(Principal::is_admin);
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let (rows, count) = db
        .run(move |conn| {
            let count = store::count_members(conn, &row.id)?;
            let rows = if insider {
                store::members(conn, &row.id, after, limit)?
            } else {
                Vec::new()
            };
            Ok::<_, diesel::result::Error>((rows, count))
        })
        .await?;
    let page = Paginated::from_rows(rows, &page, |(_, at, u)| (utc(*at), u.id.clone()));
    let body = MemberPage {
        next_cursor: page.next_cursor.clone(),
        items: page
            .items
            .iter()
            .map(|(role, at, u)| Member {
                user_id: u.id.clone(),
                email: u.email.clone(),
                display_name: u.display_name.clone(),
                role: InstitutionRole::parse(role).unwrap_or(InstitutionRole::Member),
                joined_at: utc(*at),
            })
            .collect(),
        member_count: count,
    };
    let mut res = HttpResponse::Ok();
    if let Some(c) = &body.next_cursor {
        res.insert_header((
            header::LINK,
            crate::http::pagination::next_link(req.path(), req.query_string(), c),
        ));
    }
    Ok(res.json(body))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    pub role: InstitutionRole,
}

fn last_owner() -> ApiError {
    ApiError::Conflict {
        problem: ProblemType::LastOwner,
        detail: "This is the institution's last owner: make someone else owner first.".into(),
    }
}

/// The target's membership, 404 if they are not a member.
fn membership(
    conn: &mut DbConnection,
    institution_id: &str,
    user_id: &str,
) -> Result<(InstitutionRole, UserRow), ApiError> {
    let role = store::role_of(conn, institution_id, user_id)?
        .and_then(|r| InstitutionRole::parse(&r))
        .ok_or(ApiError::NotFound)?;
    let user = crate::db::accounts::user_by_id(conn, user_id)?.ok_or(ApiError::NotFound)?;
    Ok((role, user))
}

/// Change a member's role (owners). The last owner cannot be demoted.
#[utoipa::path(patch, path = "/api/v1/institutions/{slug}/members/{user_id}", tag = "institutions", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Institution slug"), ("user_id" = String, Path, description = "Member's user id")),
    request_body = MemberPatch,
    responses(
        (status = 200, description = "Changed", body = Member),
        (status = 403, description = "Owners only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such institution or member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last owner cannot be demoted", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_member(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
    Json(body): Json<MemberPatch>,
) -> Result<HttpResponse, ApiError> {
    let (slug, user_id) = path.into_inner();
    let (row, facts) = load(&db, slug, Some(&principal)).await?;
    policy::enforce(policy::may(
        &Principal::actor_of(Some(&principal)),
        Action::ChangeMemberRole(facts),
    ))?;
    let ctx = Context::new(Some(&principal.user.id));
    let state = state.clone();
    let member = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let (previous, user) = membership(conn, &row.id, &user_id)?;
                if previous == InstitutionRole::Owner
                    && body.role != InstitutionRole::Owner
                    && store::count_owners_locked(conn, &row.id)? <= 1
                {
                    return Err(last_owner());
                }
                let now = now();
                if previous != body.role {
                    store::upsert_member(conn, &row.id, &user_id, body.role.as_str(), now)?;
                    audit::record(conn, &ctx, "membership.role_changed", "institution", &row.id,
                        json!({"user_id": user_id, "from": previous.as_str(), "to": body.role.as_str()}))?;
                    notify(conn, &state, &user, Kind::MemberRoleChanged, json!({
                        "display_name": user.display_name,
                        "institution": row.name,
                        "slug": row.slug,
                        "role": body.role.as_str(),
                        "previous_role": previous.as_str(),
                    }))?;
                }
                let joined = store::joined_at(conn, &row.id, &user_id)?.unwrap_or(now);
                Ok(Member {
                    user_id: user.id.clone(),
                    email: user.email.clone(),
                    display_name: user.display_name.clone(),
                    role: body.role,
                    joined_at: utc(joined),
                })
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(member))
}

/// Remove a member (owners), or leave (any member). The last owner cannot leave.
#[utoipa::path(delete, path = "/api/v1/institutions/{slug}/members/{user_id}", tag = "institutions", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Institution slug"), ("user_id" = String, Path, description = "Member's user id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Only owners remove others", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such institution or member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last owner cannot leave", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_member(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, user_id) = path.into_inner();
    let (row, facts) = load(&db, slug, Some(&principal)).await?;
    let own = user_id == principal.user.id;
    policy::enforce(policy::may(
        &Principal::actor_of(Some(&principal)),
        Action::RemoveMember {
            institution: facts,
            own,
        },
    ))?;
    let ctx = Context::new(Some(&principal.user.id));
    let state = state.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let (role, user) = membership(conn, &row.id, &user_id)?;
            if role == InstitutionRole::Owner && store::count_owners_locked(conn, &row.id)? <= 1 {
                return Err(last_owner());
            }
            store::remove_member(conn, &row.id, &user_id)?;
            audit::record(
                conn,
                &ctx,
                if own {
                    "membership.left"
                } else {
                    "membership.removed"
                },
                "institution",
                &row.id,
                json!({"user_id": user_id, "role": role.as_str()}),
            )?;
            if !own {
                notify(
                    conn,
                    &state,
                    &user,
                    Kind::MemberRemoved,
                    json!({
                        "display_name": user.display_name,
                        "institution": row.name,
                    }),
                )?;
            }
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ----- invitations -------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    pub id: String,
    /// The institution's slug.
    pub institution: String,
    pub email: String,
    pub role: InstitutionRole,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

fn invitation(slug: &str, r: &InvitationRow) -> Invitation {
    Invitation {
        id: r.id.clone(),
        institution: slug.to_string(),
        email: r.email.clone(),
        role: InstitutionRole::parse(&r.role).unwrap_or(InstitutionRole::Member),
        expires_at: utc(r.expires_at),
        created_at: utc(r.created_at),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationPage {
    pub items: Vec<Invitation>,
    pub next_cursor: Option<String>,
}

/// Pending invitations (owners and editors).
#[utoipa::path(get, path = "/api/v1/institutions/{slug}/invitations", tag = "institutions", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Institution slug"), PageQuery),
    responses(
        (status = 200, description = "One page", body = InvitationPage),
        (status = 403, description = "Owners and editors only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such institution", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invitations(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let (row, facts) = load(&db, path.into_inner(), Some(&principal)).await?;
    policy::enforce(policy::may(
        &Principal::actor_of(Some(&principal)),
        Action::ListInvitations(facts),
    ))?;
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let id = row.id.clone();
    let rows = db
        .run(move |conn| store::pending(conn, &id, now(), after, limit))
        .await?;
    Ok(
        Paginated::from_rows(rows, &page, |r| (utc(r.created_at), r.id.clone()))
            .map(|r| invitation(&row.slug, &r))
            .respond(&req),
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    pub role: InstitutionRole,
}

/// Invite someone by email (owners any role; editors `member` only). Inviting
/// the same address again replaces the earlier invitation.
#[utoipa::path(post, path = "/api/v1/institutions/{slug}/invitations", tag = "institutions", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Institution slug")),
    request_body = NewInvitation,
    responses(
        (status = 201, description = "Invitation sent", body = Invitation),
        (status = 403, description = "Your role may not invite with this role, or your email is not verified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such institution", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invite(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<NewInvitation>,
) -> Result<HttpResponse, ApiError> {
    let (row, facts) = load(&db, path.into_inner(), Some(&principal)).await?;
    policy::enforce(policy::may(
        &Principal::actor_of(Some(&principal)),
        Action::Invite {
            institution: facts,
            role: body.role,
        },
    ))?;
    let email = EmailAddress::parse(&body.email).map_err(|m| ApiError::field("email", m))?;
    let token = random_token("");
    let now = now();
    let inv = InvitationRow {
        id: uuid::Uuid::now_v7().to_string(),
        institution_id: row.id.clone(),
        email: email.as_str().into(),
        email_normalized: email.normalized().into(),
        role: body.role.as_str().into(),
        token_hash: token_hash(&token),
        invited_by: Some(principal.user.id.clone()),
        expires_at: now + chrono::Duration::days(INVITATION_DAYS),
        accepted_at: None,
        accepted_by: None,
        withdrawn_at: None,
        created_at: now,
    };
    let ctx = Context::new(Some(&principal.user.id));
    let who = Principal::actor_of(Some(&principal));
    let inviter = principal.user.display_name.clone();
    let stored = inv.clone();
    let (slug, name) = (row.slug.clone(), row.name.clone());
    let state = state.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            if let Some(existing) =
                crate::db::accounts::user_by_email(conn, &stored.email_normalized)?
                && store::role_of(conn, &stored.institution_id, &existing.id)?.is_some()
            {
                return Err(ApiError::Conflict {
                    problem: ProblemType::AlreadyMember,
                    detail: "This address belongs to a member already; change their role instead."
                        .into(),
                });
            }
            if let Some(old) = store::pending_role(
                conn,
                &stored.institution_id,
                store::PendingBy::Email(&stored.email_normalized),
                now,
            )?
            .and_then(|r| InstitutionRole::parse(&r))
            {
                policy::enforce(policy::may(
                    &who,
                    Action::WithdrawInvitation {
                        institution: facts,
                        role: old,
                    },
                ))?;
            }
            store::replace_invitation(conn, &stored, now)?;
            audit::record(
                conn,
                &ctx,
                "invitation.sent",
                "institution",
                &stored.institution_id,
                json!({"invitation_id": stored.id, "email": stored.email, "role": stored.role}),
            )?;
            state.outbox.enqueue(
                conn,
                Email::new(
                    stored.email.clone(),
                    Template::Invitation,
                    json!({
                        "inviter": inviter,
                        "institution": name,
                        "role": stored.role,
                        "token": token,
                        "expires_in_days": INVITATION_DAYS,
                    }),
                ),
            )?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/institutions/{slug}/invitations/{}", inv.id),
        ))
        .json(invitation(&slug, &inv)))
}

/// Withdraw a pending invitation (owners and editors).
#[utoipa::path(delete, path = "/api/v1/institutions/{slug}/invitations/{id}", tag = "institutions", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Institution slug"), ("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 403, description = "Owners and editors only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pending invitation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn withdraw(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, id) = path.into_inner();
    let (row, facts) = load(&db, slug, Some(&principal)).await?;
    // Whoever may not see the invitations gets 404/403 before learning
    // whether this one exists.
    policy::enforce(policy::may(
        &Principal::actor_of(Some(&principal)),
        Action::ListInvitations(facts),
    ))?;
    let ctx = Context::new(Some(&principal.user.id));
    let who = Principal::actor_of(Some(&principal));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let role = store::pending_role(conn, &row.id, store::PendingBy::Id(&id), now())?
                .and_then(|r| InstitutionRole::parse(&r))
                .ok_or(ApiError::NotFound)?;
            policy::enforce(policy::may(
                &who,
                Action::WithdrawInvitation {
                    institution: facts,
                    role,
                },
            ))?;
            if !store::withdraw(conn, &row.id, &id, now())? {
                return Err(ApiError::NotFound);
            }
            audit::record(
                conn,
                &ctx,
                "invitation.withdrawn",
                "institution",
                &row.id,
                json!({"invitation_id": id}),
            )?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The token from the emailed link.
    pub token: String,
}

/// What accepting an invitation made you.
#[derive(Debug, Serialize, ToSchema)]
pub struct Membership {
    /// The institution's slug.
    pub institution: String,
    pub role: InstitutionRole,
}

/// Accept an invitation sent to your (verified) address.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "institutions", security(("bearer" = [])),
    request_body = AcceptInvitation,
    responses(
        (status = 200, description = "You are a member", body = Membership),
        (status = 400, description = "Invalid, used, withdrawn or expired invitation", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not your address, or it is not verified", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    Json(body): Json<AcceptInvitation>,
) -> Result<HttpResponse, ApiError> {
    state
        .limits
        .check(crate::auth::ratelimit::Bucket::Refresh, client_ip(&req))?;
    policy::enforce(policy::may(
        &Principal::actor_of(Some(&principal)),
        Action::AcceptInvitation,
    ))?;
    let hash = token_hash(&body.token);
    let user = principal.user.clone();
    let ctx = Context::new(Some(&user.id));
    let state = state.clone();
    let membership = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let now = now();
                let inv = store::usable_by_token(conn, &hash, now)?.ok_or_else(|| {
                    ApiError::validation(vec![FieldError::new(
                        "token",
                        "This invitation is invalid, already used, withdrawn or expired.",
                    )])
                })?;
                if inv.email_normalized != user.email_normalized {
                    return Err(ApiError::Forbidden {
                        problem: ProblemType::InvitationForAnotherAddress,
                        detail:
                            "Sign in with the account of the address the invitation was sent to."
                                .into(),
                    });
                }
                if !store::mark_accepted(conn, &inv.id, &user.id, now)? {
                    return Err(ApiError::validation(vec![FieldError::new(
                        "token",
                        "This invitation was just used.",
                    )]));
                }
                let invited = InstitutionRole::parse(&inv.role).unwrap_or(InstitutionRole::Member);
                // Never a demotion: an existing higher role stays.
                let current = store::role_of(conn, &inv.institution_id, &user.id)?
                    .and_then(|r| InstitutionRole::parse(&r));
                let role = current.map_or(invited, |c| c.max(invited));
                store::upsert_member(conn, &inv.institution_id, &user.id, role.as_str(), now)?;
                let inst: InstitutionRow = {
                    use diesel::prelude::*;
                    crate::db::schema::institutions::table
                        .filter(crate::db::schema::institutions::id.eq(&inv.institution_id))
                        .select(InstitutionRow::as_select())
                        .first(conn)?
                };
                audit::record(
                    conn,
                    &ctx,
                    "invitation.accepted",
                    "institution",
                    &inst.id,
                    json!({"invitation_id": inv.id}),
                )?;
                audit::record(
                    conn,
                    &ctx,
                    "membership.added",
                    "institution",
                    &inst.id,
                    json!({"user_id": user.id, "role": role.as_str()}),
                )?;
                notify(
                    conn,
                    &state,
                    &user,
                    Kind::MembershipAdded,
                    json!({
                        "display_name": user.display_name,
                        "institution": inst.name,
                        "slug": inst.slug,
                        "role": role.as_str(),
                    }),
                )?;
                Ok(Membership {
                    institution: inst.slug,
                    role,
                })
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(membership))
}
