//! Dataset access and data sovereignty over HTTP: access requests and the
//! grants they become (`/datasets/{id}/access-requests`,
//! `/access-requests/{id}*`, `/me/access-requests`), file links
//! (`/datasets/{id}/files/{file_id}/link`, followed at
//! `/file-links/{token}`) and the public transparency report
//! (`/transparency/access-report`).
//!
//! Each handler extracts, calls one function of `app::access` (which owns
//! the workflow: locks, policy, transfer checks, the state machine, events
//! and notifications) and renders. The periodic sweep is `jobs::access`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::resources::path_id;
use crate::api::types::utc;
/// Where `state::AppState` names it (its home is `app::access`).
use crate::app::access::{self as app, AccessReport, IssuedLink, LinkAsker, NewRequest, Shown};
use crate::app::permissions::AccessRequestPermissions;
use crate::auth::{MaybePrincipal, Principal};
use crate::db::Db;
use crate::db::access::Listed;
use crate::db::audit::Context;
use crate::domain::access::RequestStatus;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get = crate::api::get;
    cfg.service(
        web::resource("/datasets/{id}/access-requests")
            .route(get().to(list_for_dataset))
            .route(web::post().to(create)),
    )
    .service(web::resource("/access-requests/{id}").route(get().to(show)))
    .service(web::resource("/access-requests/{id}/approve").route(web::post().to(approve)))
    .service(web::resource("/access-requests/{id}/reject").route(web::post().to(reject)))
    .service(web::resource("/access-requests/{id}/withdraw").route(web::post().to(withdraw)))
    .service(web::resource("/access-requests/{id}/revoke").route(web::post().to(revoke)))
    .service(web::resource("/me/access-requests").route(get().to(mine)))
    // GET only: a HEAD would issue (and audit) a link nobody receives.
    .service(web::resource("/datasets/{id}/files/{file_id}/link").route(web::get().to(file_link)))
    .service(web::resource("/file-links/{token}").route(get().to(follow_link)))
    .service(web::resource("/transparency/access-report").route(get().to(report)));
}

// ----- representation --------------------------------------------------------------

/// A request for access to a restricted dataset, and the grant it becomes.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"created_at": "2026-12-08T09:30:00Z", "dataset_id": "0193a5c2-7f10-7000-8000-000000000a01", "dataset_title": "Twi speech corpus", "decided_at": "2026-12-09T10:00:00Z", "decision_note": "Please cite the corpus paper.", "duration_days": 90, "expires_at": "2027-03-09T10:00:00Z", "id": "0193a5c2-7f10-7000-8000-000000000a02", "institution": "makerere-ai-lab", "purpose": "Fine-tuning a speech recogniser for community radio transcripts.", "requester_id": "0193a5c2-7f10-7000-8000-000000000a03", "requester_name": "Amina Wanjiru", "status": "approved", "updated_at": "2026-12-08T09:30:00Z"}))]
pub struct AccessRequest {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = "uuid")]
    pub dataset_id: String,
    pub dataset_title: String,
    #[schema(format = "uuid")]
    pub requester_id: String,
    pub requester_name: String,
    /// Slug of the institution the request is made on behalf of.
    pub institution: Option<String>,
    pub purpose: String,
    pub duration_days: i32,
    pub status: RequestStatus,
    /// The deciders' note to the requester with their decision.
    pub decision_note: Option<String>,
    /// The owners' note when they revoked the grant.
    pub revocation_note: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// When an approved grant ends.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What you may do with it: on a single read and what its moves answer
    /// (not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<AccessRequestPermissions>,
}

impl From<&Shown> for AccessRequest {
    fn from((l, permissions): &Shown) -> Self {
        Self {
            permissions: Some(permissions.clone()),
            ..Self::from(l)
        }
    }
}

impl From<&Listed> for AccessRequest {
    fn from(l: &Listed) -> Self {
        let r = &l.row;
        Self {
            id: r.id.clone(),
            dataset_id: r.dataset_id.clone(),
            dataset_title: l.dataset_title.clone(),
            requester_id: r.requester_id.clone(),
            requester_name: l.requester_name.clone(),
            institution: r.institution_slug.clone(),
            purpose: r.purpose.clone(),
            duration_days: r.duration_days,
            status: r.status,
            decision_note: r.decision_note.clone(),
            revocation_note: r.revocation_note.clone(),
            decided_at: r.decided_at.map(utc),
            expires_at: r.expires_at.map(utc),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            permissions: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRequestPage {
    pub items: Vec<AccessRequest>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"duration_days": 90, "institution": "makerere-ai-lab", "purpose": "Fine-tuning a speech recogniser for community radio transcripts."}))]
pub struct NewAccessRequest {
    /// What the data is for, 20–2000 characters.
    #[schema(min_length = 20, max_length = 2000)]
    pub purpose: String,
    /// Slug of an institution you belong to, to ask on its behalf (its
    /// country then counts for the transfer policy).
    #[schema(max_length = 64)]
    pub institution: Option<String>,
    /// How long you need access, in days: 1 to `access.max_duration_days`
    /// (730 unless configured otherwise).
    #[schema(minimum = 1)]
    pub duration_days: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"expires_at": "2027-03-09T10:00:00Z", "note": "Please cite the corpus paper."}))]
pub struct Approval {
    /// To the requester, 1–2000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
    /// When the grant ends (in the future); default: now + `duration_days`.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "Please cite the corpus paper."}))]
pub struct Rejection {
    /// Why, to the requester, 1–2000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "Please cite the corpus paper."}))]
pub struct Revocation {
    /// Why, to the requester (optional).
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
}

impl From<NewAccessRequest> for NewRequest {
    fn from(b: NewAccessRequest) -> Self {
        Self {
            purpose: b.purpose,
            institution: b.institution,
            duration_days: b.duration_days,
        }
    }
}

// ----- requests --------------------------------------------------------------------

/// Ask for access to a restricted dataset (a verified account). The
/// transfer policy is checked now: a request that could never be granted is
/// refused with the rule and why. The owning institution's owners and
/// editors are told.
#[utoipa::path(post, operation_id = "request_dataset_access", path = "/api/v1/datasets/{id}/access-requests", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Dataset id")),
    request_body = NewAccessRequest,
    responses(
        (status = 201, description = "Requested", body = AccessRequest, headers(("Location" = String, description = "The new request"))),
        (status = 400, description = "Invalid fields (`errors` lists each)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Email not verified, or the transfer policy rules it out (the detail names the rule)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset (or not visible to you)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already pending or granted, not needed (not restricted, or your own institution's), or the dataset is not published", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Three requests for this dataset in the last day already (`Retry-After` says when the next may be made)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<NewAccessRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let state = state.into_inner();
    let ctx = Context::new(Some(&principal.user.id));
    let created = db
        .run(move |conn| app::create(conn, &state, &ctx, &principal, &id, body.into()))
        .await?;
    let created = AccessRequest::from(&created);
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/access-requests/{}", created.id),
        ))
        .json(created))
}

/// A dataset's access requests, newest first (its institution's owners and
/// editors; admins may look).
#[utoipa::path(get, operation_id = "list_dataset_access_requests", path = "/api/v1/datasets/{id}/access-requests", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Dataset id"), PageQuery, RequestFilter),
    responses(
        (status = 200, description = "One page", body = AccessRequestPage),
        (status = 403, description = "Not an owner or editor of the dataset's institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset (or not visible to you)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_for_dataset(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
    Query(filter): Query<RequestFilter>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let (before, limit) = keyset(&page);
    let rows = db
        .run(move |conn| app::list_for_dataset(conn, &principal, &id, filter.status, before, limit))
        .await?;
    Ok(page_of(rows, &page).respond(&req))
}

/// Where the previous page ended, and how many rows to fetch.
fn keyset(page: &Page<(DateTime<Utc>, String)>) -> (Option<(chrono::NaiveDateTime, String)>, i64) {
    let before = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    (before, page.fetch_limit())
}

fn page_of(rows: Vec<Listed>, page: &Page<(DateTime<Utc>, String)>) -> Paginated<AccessRequest> {
    Paginated::from_rows(rows, page, |l| (utc(l.row.created_at), l.row.id.clone()))
        .map(|l| AccessRequest::from(&l))
}

/// Your access requests and grants, newest first.
#[utoipa::path(get, operation_id = "my_access_requests", path = "/api/v1/me/access-requests", tag = "access", security(("bearer" = [])),
    params(PageQuery, RequestFilter),
    responses((status = 200, description = "One page", body = AccessRequestPage)))]
pub async fn mine(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<RequestFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let (before, limit) = keyset(&page);
    let rows = db
        .run(move |conn| app::mine(conn, &principal, filter.status, before, limit))
        .await?;
    Ok(page_of(rows, &page).respond(&req))
}

/// One access request (the requester, the dataset's owners and editors, admins).
#[utoipa::path(get, operation_id = "show_access_request", path = "/api/v1/access-requests/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Access request id")),
    responses(
        (status = 200, description = "The request", body = AccessRequest, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such request (or not yours to see)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let r = db.run(move |conn| app::show(conn, &principal, &id)).await?;
    etag::respond(&req, &AccessRequest::from(&r))
}

/// Approve a pending request (the dataset's owners and editors). The
/// transfer policy is checked again; the grant lasts `duration_days` unless
/// `expires_at` says otherwise. The requester is told, with the note.
#[utoipa::path(post, operation_id = "approve_access_request", path = "/api/v1/access-requests/{id}/approve", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Access request id")),
    request_body = Approval,
    responses(
        (status = 200, description = "Approved", body = AccessRequest),
        (status = 400, description = "Invalid note or expiry", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a decider (nor on your own request), the transfer policy now rules it out, or the requester no longer belongs to the institution they asked for (`no-longer-a-member`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request (or not yours to see)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<Approval>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let (state, ctx) = (state.into_inner(), Context::new(Some(&principal.user.id)));
    let r = db
        .run(move |conn| {
            app::approve(
                conn,
                &state,
                &ctx,
                &principal,
                &id,
                &body.note,
                body.expires_at,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(AccessRequest::from(&r)))
}

/// Reject a pending request, saying why (the dataset's owners and editors).
#[utoipa::path(post, operation_id = "reject_access_request", path = "/api/v1/access-requests/{id}/reject", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Access request id")),
    request_body = Rejection,
    responses(
        (status = 200, description = "Rejected", body = AccessRequest),
        (status = 400, description = "Invalid note", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a decider", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request (or not yours to see)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reject(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<Rejection>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let (state, ctx) = (state.into_inner(), Context::new(Some(&principal.user.id)));
    let r = db
        .run(move |conn| app::reject(conn, &state, &ctx, &principal, &id, &body.note))
        .await?;
    Ok(HttpResponse::Ok().json(AccessRequest::from(&r)))
}

/// Withdraw your pending request.
#[utoipa::path(post, operation_id = "withdraw_access_request", path = "/api/v1/access-requests/{id}/withdraw", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Access request id")),
    responses(
        (status = 200, description = "Withdrawn", body = AccessRequest),
        (status = 403, description = "Not your request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request (or not yours to see)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn withdraw(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let (state, ctx) = (state.into_inner(), Context::new(Some(&principal.user.id)));
    let r = db
        .run(move |conn| app::withdraw(conn, &state, &ctx, &principal, &id))
        .await?;
    Ok(HttpResponse::Ok().json(AccessRequest::from(&r)))
}

/// End an approved grant early (the owning institution's owners). The
/// requester is told, with the note if there is one.
#[utoipa::path(post, operation_id = "revoke_access_grant", path = "/api/v1/access-requests/{id}/revoke", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Access request id")),
    request_body = Revocation,
    responses(
        (status = 200, description = "Revoked", body = AccessRequest),
        (status = 400, description = "Invalid note", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of the dataset's institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request (or not yours to see)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an approved grant", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<Revocation>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let (state, ctx) = (state.into_inner(), Context::new(Some(&principal.user.id)));
    let r = db
        .run(move |conn| app::revoke(conn, &state, &ctx, &principal, &id, body.note.as_deref()))
        .await?;
    Ok(HttpResponse::Ok().json(AccessRequest::from(&r)))
}

// ----- file links ------------------------------------------------------------------

/// A short-lived link to a file.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"expires_at": "2026-12-08T09:45:00Z", "url": "/api/v1/file-links/fL7w_example-link"}))]
pub struct FileLink {
    /// Follow it (GET) to be redirected to the file; it works until
    /// `expires_at`. A path on the API's origin (`/api/v1/file-links/…`).
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LinkQuery {
    /// Slug of an institution you belong to, to download on its behalf (its
    /// country then counts for the transfer policy). A grant made on behalf
    /// of an institution always counts for that institution.
    pub institution: Option<String>,
}

/// A link to one of a dataset's files, for callers who pass both its access
/// level and its transfer policy. Every link issued is audited (who, which
/// file, from which country to which).
#[utoipa::path(get, operation_id = "dataset_file_link", path = "/api/v1/datasets/{id}/files/{file_id}/link", tag = "access",
    params(("id" = String, Path, description = "Dataset id"),
           ("file_id" = String, Path, description = "File id"), LinkQuery),
    responses(
        (status = 200, description = "A link, valid until `expires_at`", body = FileLink),
        (status = 400, description = "`institution` is not one of yours", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "You may see the dataset but not download: the problem says why (account, grant, or the transfer policy's rule)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset or file (or not visible to you)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn file_link(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<(String, String)>,
    Query(query): Query<LinkQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (id, file_id) = path.into_inner();
    let id = path_id(&id)?;
    let file_id = path_id(&file_id)?;
    let ctx = Context::new(principal.as_ref().map(|p| p.user.id.as_str()));
    let client_ip = crate::api::auth::client_ip(&req).to_string();
    let state = state.into_inner();
    let IssuedLink { token, expires_at } = db
        .run(move |conn| {
            let asker = LinkAsker {
                principal: principal.as_ref(),
                institution: query.institution.as_deref(),
                client_ip: &client_ip,
            };
            app::issue_link(conn, &state, &ctx, &asker, &id, &file_id)
        })
        .await?;
    // Relative to the API's origin: the Host and X-Forwarded-* headers a
    // request arrives with are not to be trusted with building URLs.
    let url = format!("/api/v1/file-links/{token}");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(FileLink {
            url,
            expires_at: utc(expires_at),
        }))
}

/// Follow a file link: a redirect to the file while the link is valid (and,
/// for a link issued under a grant, while the grant is in force).
#[utoipa::path(get, operation_id = "follow_file_link", path = "/api/v1/file-links/{token}", tag = "access",
    params(("token" = String, Path, description = "The token of a link from `…/files/{file_id}/link`")),
    responses(
        (status = 302, description = "To the file", headers(("Location" = String, description = "The file"))),
        (status = 404, description = "No such link", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The link expired (`link-expired`), the grant it was issued under ended (`access-ended`), or the file was removed (`file-removed`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn follow_link(
    db: web::Data<Db>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let url = db.run(move |conn| app::follow_link(conn, &token)).await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .finish())
}

// ----- the transparency report ------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// First month, `YYYY-MM`; default eleven months before `to`. At most
    /// 36 months in one report.
    pub from: Option<String>,
    /// Last month, `YYYY-MM`, one that has ended; default last month.
    pub to: Option<String>,
}

/// The public transparency report: for a range of calendar months, per
/// month, requests, approvals, rejections and issued file links by (origin
/// country of the data → country of the requester), and the median time to
/// a decision. Counts from 1 to 4 are shown as "<5" so no one can be
/// singled out.
#[utoipa::path(get, operation_id = "access_report", path = "/api/v1/transparency/access-report", tag = "access",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = AccessReport, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Invalid range: not YYYY-MM, a month not yet ended, `from` after `to`, or over 36 months", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn report(
    req: HttpRequest,
    db: web::Data<Db>,
    Query(q): Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let report = db
        .run(move |conn| app::report(conn, q.from.as_deref(), q.to.as_deref()))
        .await?;
    let mut res = etag::respond(&req, &report)?;
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=300"),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem_types::ProblemType;

    #[test]
    fn status_codes_of_the_new_problems() {
        let gone = ApiError::Gone {
            problem: ProblemType::LinkExpired,
            detail: "d".into(),
        };
        assert_eq!(
            actix_web::ResponseError::status_code(&gone),
            actix_web::http::StatusCode::GONE
        );
    }
}
