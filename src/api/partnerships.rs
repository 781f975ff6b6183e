//! `/partnerships*`: cross-border lab partnerships, their member
//! institutions, coordinators and shared resources. Handlers extract, call
//! one `app::partnerships` function and render; the workflows (locks,
//! policy, lifecycles, events and notifications) live there.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::resources::path_id;
use crate::api::types::utc;
use crate::app::partnerships as app;
use crate::auth::{MaybePrincipal, Principal};
use crate::db::Db;
use crate::db::audit::Context;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
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

pub use crate::app::partnerships::{
    Coordinator, NewPartnership, Partnership, PartnershipFilter, PartnershipMember,
    PartnershipPatch, SharedResource,
};
pub use crate::domain::partnership::{MemberStatus, PartnershipStatus};

/// Who acts, in which request: captured here, before the blocking call.
fn context(principal: &Principal) -> Context {
    Context::new(Some(&principal.user.id))
}

// ----- partnerships ---------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnershipPage {
    pub items: Vec<Partnership>,
    pub next_cursor: Option<String>,
}

/// Partnerships you may see: public ones, and those you coordinate or
/// belong to.
#[utoipa::path(get, operation_id = "list_partnerships", path = "/api/v1/partnerships", tag = "partnerships",
    params(PageQuery, PartnershipFilter),
    responses(
        (status = 200, description = "One page", body = PartnershipPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`member=me` without signing in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<PartnershipFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let items = db
        .run(move |conn| app::list(conn, principal.as_ref(), &filter, after, limit))
        .await?;
    Ok(
        Paginated::from_rows(items, &page, |l| (l.created_at, l.id.clone()))
            .map(|l| l.partnership)
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
    let ctx = context(&principal);
    let p = db
        .run(move |conn| app::create(conn, &ctx, &principal, body))
        .await?;
    let mut res = etag::respond_with_status(&req, StatusCode::CREATED, &p)?;
    res.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/partnerships/{}", p.slug))
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
        .run(move |conn| app::show(conn, principal.as_ref(), &slug))
        .await?;
    etag::respond(&req, &p)
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
    let if_match = etag::if_match(&req);
    let ctx = context(&principal);
    let p = db
        .run(move |conn| app::update(conn, &ctx, &principal, &slug, body, if_match.as_deref()))
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
    let ctx = context(&principal);
    let state = state.into_inner();
    let p = db
        .run(move |conn| app::change_status(conn, &state, &ctx, &principal, &slug, to))
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
        .run(move |conn| app::members(conn, principal.as_ref(), &slug))
        .await?;
    Ok(Paginated::from_sorted(items, &page, |m| {
        (utc(m.row.created_at), m.row.institution_id.clone())
    })
    .map(|m| PartnershipMember::from(&m))
    .respond(&req))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"institution": "makerere-ai-lab", "client_id": "0193a5c2-7f10-7000-8000-00000000c11e"}))]
pub struct NewPartnershipMember {
    /// The institution's slug (a verified institution).
    pub institution: String,
    /// A registered client app (`/admin/clients`): the owners' emails then
    /// link under its link base instead of the platform's frontend URL
    /// (400 if there is no such app).
    #[serde(default)]
    pub client_id: Option<String>,
    /// One of that app's registered link bases (default: its first).
    #[serde(default)]
    pub link_base: Option<String>,
}

/// Invite an institution (coordinators); its owners are emailed.
#[utoipa::path(post, operation_id = "invite_institution", path = "/api/v1/partnerships/{slug}/members", tag = "partnerships", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Partnership slug")),
    request_body = NewPartnershipMember,
    responses(
        (status = 201, description = "Invited", body = PartnershipMember),
        (status = 400, description = "Malformed request, or an unknown client_id / link_base", body = Problem, content_type = "application/problem+json"),
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
    let ctx = context(&principal);
    let state = state.into_inner();
    let link = crate::app::clients::link_choice(body.client_id, body.link_base)?;
    let member = db
        .run(move |conn| {
            app::invite(
                conn,
                &state,
                &ctx,
                &principal,
                &slug,
                &body.institution,
                link.as_ref(),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(member))
}

/// Moves a member institution (`None`: leave or remove, whichever the
/// caller may); `app::partnerships::move_member` says who may do what.
async fn member_transition(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    slug: String,
    institution: String,
    to: Option<MemberStatus>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&principal);
    let state = state.into_inner();
    let member = db
        .run(move |conn| app::move_member(conn, &state, &ctx, &principal, &slug, &institution, to))
        .await?;
    Ok(HttpResponse::Ok().json(member))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "active"}))]
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
    let rows = db
        .run(move |conn| app::coordinators(conn, principal.as_ref(), &slug))
        .await?;
    Ok(Paginated::from_sorted(rows, &page, |c| c.user_id.clone()).respond(&req))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "0193a5c2-7f10-7000-8000-000000000a11"}))]
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
    let ctx = context(&principal);
    let c = db
        .run(move |conn| app::add_coordinator(conn, &ctx, &principal, &slug, &body.user_id))
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
    let ctx = context(&principal);
    db.run(move |conn| app::remove_coordinator(conn, &ctx, &principal, &slug, &user_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ----- shared resources ---------------------------------------------------------------

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
        .run(move |conn| app::shared(conn, principal.as_ref(), &slug))
        .await?;
    Ok(Paginated::from_sorted(items, &page, |s| (s.shared_at, s.id.clone())).respond(&req))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"resource_id": "0193a5c2-7f10-7000-8000-000000000a13"}))]
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
    let ctx = context(&principal);
    let state = state.into_inner();
    let shared = db
        .run(move |conn| app::share(conn, &state, &ctx, &principal, &slug, &body.resource_id))
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
    let ctx = context(&principal);
    db.run(move |conn| app::unshare(conn, &ctx, &principal, &slug, &resource_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
