//! `/institutions*` and `/invitations/accept`: institutions, their members
//! and invitations. The handlers extract, call one `app::institutions`
//! function and render; the workflows (policy, lifecycles, events) live
//! there.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::auth::client_ip;
use crate::app::institutions::{self as app, Cursor};
// The representations and request bodies the handlers speak are the app's
// typed views and inputs (their schemas unchanged).
pub use crate::app::institutions::{
    AcceptInvitation, Institution, InstitutionFilter, InstitutionPatch, Invitation, Member,
    MemberPage, MemberPatch, Membership, NewInstitution, NewInvitation,
};
use crate::auth::{MaybePrincipal, Principal};
use crate::db::Db;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
use crate::state::AppState;

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

// ----- institutions ------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct InstitutionPage {
    pub items: Vec<Institution>,
    pub next_cursor: Option<String>,
}

/// Institutions you may see: verified ones, yours, or (admins) all.
#[utoipa::path(get, operation_id = "list_institutions", path = "/api/v1/institutions", tag = "institutions",
    params(PageQuery, InstitutionFilter),
    responses(
        (status = 200, description = "One page", body = InstitutionPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`member=me` without signing in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<InstitutionFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<Cursor>()?;
    let items = app::list(&db, principal.as_ref(), filter, &page).await?;
    Ok(items.respond(&req))
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
    let created = app::create(&db, &principal, body).await?;
    let mut res = etag::respond_with_status(&req, StatusCode::CREATED, &created)?;
    res.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/institutions/{}", created.slug))
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
    let institution = app::show(&db, principal.as_ref(), path.into_inner()).await?;
    etag::respond(&req, &institution)
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
    let if_match = etag::if_match(&req);
    let updated = app::update(&db, &principal, path.into_inner(), body, if_match).await?;
    etag::respond(&req, &updated)
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
    app::delete(&db, &principal, path.into_inner(), etag::if_match(&req)).await?;
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
    let verified = app::verify(&db, state.into_inner(), &principal, path.into_inner()).await?;
    etag::respond(&req, &verified)
}

// ----- members -----------------------------------------------------------

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
    let page = page.parse::<Cursor>()?;
    let body = app::members(&db, principal.as_ref(), path.into_inner(), &page).await?;
    // A page like every other (Link, weak ETag), with the count beside it.
    let mut extra = serde_json::Map::new();
    extra.insert("member_count".into(), body.member_count.into());
    let page = Paginated {
        items: body.items,
        next_cursor: body.next_cursor,
    };
    Ok(page.respond_with(&req, extra))
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
    let member =
        app::change_member(&db, state.into_inner(), &principal, slug, user_id, body).await?;
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
    app::remove_member(&db, state.into_inner(), &principal, slug, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ----- invitations -------------------------------------------------------

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
    let page = page.parse::<Cursor>()?;
    let items = app::invitations(&db, &principal, path.into_inner(), &page).await?;
    Ok(items.respond(&req))
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
    let sent = app::invite(&db, state.into_inner(), &principal, path.into_inner(), body).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!(
                "/api/v1/institutions/{}/invitations/{}",
                sent.institution, sent.id
            ),
        ))
        .json(sent))
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
    app::withdraw(&db, &principal, slug, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accept an invitation sent to your (verified) address.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "institutions", security(("bearer" = [])),
    request_body = AcceptInvitation,
    responses(
        (status = 200, description = "You are a member", body = Membership),
        (status = 400, description = "Invalid, used, withdrawn or expired invitation", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not your address, or it is not verified", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from your address (shared with token refreshes); see Retry-After", body = Problem, content_type = "application/problem+json"),
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
    let membership = app::accept(&db, state.into_inner(), &principal, body).await?;
    Ok(HttpResponse::Ok().json(membership))
}
