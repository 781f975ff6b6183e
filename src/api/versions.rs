//! Published versions and the draft of the next one (issue #19):
//! `GET PATCH DELETE /{kind}/{id}/draft`, `GET /{kind}/{id}/versions`,
//! `…/versions/{label}`, `…/versions/{a}/diff/{b}`. The rules are in
//! `app::versions`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use crate::api::resources::path_id;
use crate::app::deaccession::DeaccessionRequest;
use crate::app::resources::{AnyResource, Course, Dataset, ModelCard};
use crate::app::versions::{self as app, VersionDiff, VersionInfo};
use crate::auth::Principal;
use crate::auth::principal::MaybePrincipal;
use crate::db::Db;
use crate::db::audit::Context;
use crate::domain::resource::ResourceKind;
use crate::domain::version::Tombstone;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};

pub fn routes(cfg: &mut web::ServiceConfig) {
    for (collection, kind) in [
        ("courses", ResourceKind::Course),
        ("datasets", ResourceKind::Dataset),
        ("model-cards", ResourceKind::ModelCard),
    ] {
        let kind_data = web::Data::new(kind);
        cfg.service(
            web::resource(format!("/{collection}/{{id}}/draft"))
                .app_data(kind_data.clone())
                .route(super::get().to(draft))
                .route(web::patch().to(patch_draft))
                .route(web::delete().to(discard_draft)),
        )
        .service(
            web::resource(format!("/{collection}/{{id}}/versions"))
                .app_data(kind_data.clone())
                .route(super::get().to(list)),
        )
        .service(
            web::resource(format!("/{collection}/{{id}}/versions/{{label}}"))
                .app_data(kind_data.clone())
                .route(super::get().to(read)),
        )
        .service(
            web::resource(format!("/{collection}/{{id}}/deaccession"))
                .app_data(kind_data.clone())
                .route(web::post().to(deaccession)),
        )
        .service(
            web::resource(format!("/{collection}/{{id}}/versions/{{a}}/diff/{{b}}"))
                .app_data(kind_data)
                .route(super::get().to(diff)),
        );
    }
}

async fn draft(
    req: HttpRequest,
    db: web::Data<Db>,
    kind: web::Data<ResourceKind>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (kind, id) = (**kind, path_id(&path.into_inner())?);
    let resource = db
        .run(move |conn| app::draft(conn, &principal, kind, &id))
        .await?;
    private(&req, &resource)
}

/// An editor's view: never kept by a shared cache.
fn private(req: &HttpRequest, resource: &AnyResource) -> Result<HttpResponse, ApiError> {
    let mut res = etag::respond(req, &resource.to_json()?)?;
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("private, no-cache"),
    );
    Ok(res)
}

async fn patch_draft(
    req: HttpRequest,
    db: web::Data<Db>,
    kind: web::Data<ResourceKind>,
    principal: Principal,
    path: web::Path<String>,
    Json(patch): Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let (kind, id) = (**kind, path_id(&path.into_inner())?);
    let ctx = Context::new(Some(&principal.user.id));
    let if_match = etag::if_match(&req);
    let resource = db
        .run(move |conn| {
            app::patch_draft(
                conn,
                &ctx,
                &principal,
                kind,
                &id,
                patch,
                if_match.as_deref(),
            )
        })
        .await?;
    private(&req, &resource)
}

async fn discard_draft(
    req: HttpRequest,
    db: web::Data<Db>,
    kind: web::Data<ResourceKind>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (kind, id) = (**kind, path_id(&path.into_inner())?);
    let ctx = Context::new(Some(&principal.user.id));
    let if_match = etag::if_match(&req);
    db.run(move |conn| app::discard_draft(conn, &ctx, &principal, kind, &id, if_match.as_deref()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    kind: web::Data<ResourceKind>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (kind, id) = (**kind, path_id(&path.into_inner())?);
    let page = page.parse::<String>()?;
    let (before, limit) = (page.after.clone(), page.fetch_limit());
    let anonymous = principal.is_none();
    let rows = db
        .run(move |conn| app::list(conn, principal.as_ref(), kind, &id, before, limit))
        .await?;
    let page = Paginated::from_rows(rows, &page, |(_, k)| k.clone()).map(|(v, _)| v);
    let mut res = page.respond(&req);
    etag::public_read(&mut res, anonymous);
    Ok(res)
}

async fn read(
    req: HttpRequest,
    db: web::Data<Db>,
    kind: web::Data<ResourceKind>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, label) = path.into_inner();
    let (kind, id) = (**kind, path_id(&id)?);
    let anonymous = principal.is_none();
    let resource = db
        .run(move |conn| app::read(conn, principal.as_ref(), kind, &id, &label))
        .await?;
    let mut res = etag::respond(&req, &resource.to_json()?)?;
    etag::public_read(&mut res, anonymous);
    // RFC 5829: where the latest version is, and the list of versions.
    let core = resource.core();
    let latest = format!("/api/v1/{}/{}", kind.collection(), core.id);
    let link =
        format!("<{latest}>; rel=\"latest-version\", <{latest}/versions>; rel=\"version-history\"");
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&link) {
        res.headers_mut().append(actix_web::http::header::LINK, v);
    }
    Ok(res)
}

async fn diff(
    req: HttpRequest,
    db: web::Data<Db>,
    kind: web::Data<ResourceKind>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, a, b) = path.into_inner();
    let (kind, id) = (**kind, path_id(&id)?);
    let anonymous = principal.is_none();
    let diff = db
        .run(move |conn| app::diff(conn, principal.as_ref(), kind, &id, &a, &b))
        .await?;
    let json = serde_json::to_value(&diff).map_err(ApiError::internal)?;
    let mut res = etag::respond(&req, &json)?;
    etag::public_read(&mut res, anonymous);
    Ok(res)
}

async fn deaccession(
    state: web::Data<crate::state::AppState>,
    db: web::Data<Db>,
    kind: web::Data<ResourceKind>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<DeaccessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (kind, id) = (**kind, path_id(&path.into_inner())?);
    let ctx = Context::new(Some(&principal.user.id));
    let origin = state.settings.platform.public_url.clone();
    let platform = state.settings.platform.name.clone();
    let st = state.into_inner();
    let tombstone = db
        .run(move |conn| {
            crate::app::deaccession::deaccession(
                conn, &st, &ctx, &principal, kind, &id, &body, &origin, &platform,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(tombstone))
}

// ----- the OpenAPI document ----------------------------------------------------------------
// The handlers above serve all three kinds; these describe them per kind.

/// A page of versions (`GET …/versions`).
#[derive(Debug, utoipa::ToSchema)]
#[schema(example = json!({"items": [{"label": "1.1", "note": null, "summary": "Changed: title.", "published_at": "2026-12-12T09:30:00Z", "url": "/api/v1/datasets/0190f7a8-54c1-7cc2-9d23-fb0a4a0c8f31/versions/1.1", "diff_url": "/api/v1/datasets/0190f7a8-54c1-7cc2-9d23-fb0a4a0c8f31/versions/1.0/diff/1.1"}], "next_cursor": null}))]
#[allow(dead_code, reason = "documents the page's shape")]
pub struct VersionPage {
    items: Vec<VersionInfo>,
    next_cursor: Option<String>,
}

macro_rules! documented {
    ($module:ident, $coll:literal, $body:ty, $patch:ty, $what:literal) => {
        pub mod $module {
            use super::*;

            #[doc = concat!("The draft of the next version of a published ", $what, " (its editors and owners); of a ", $what, " never published, the ", $what, " itself.")]
            #[utoipa::path(get, path = concat!("/api/v1/", $coll, "/{id}/draft"), tag = "resources", operation_id = concat!("draft_", stringify!($module)), security(("bearer" = [])),
                params(("id" = String, Path, description = "Resource id")),
                responses(
                    (status = 200, description = "The draft (`status: draft`)", body = $body, headers(("ETag" = String, description = "The draft's validator, for If-Match"))),
                    (status = 304, description = "Not modified"),
                    (status = 404, description = "No such resource, no draft, or not yours to edit", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn draft() {}

            #[doc = concat!("Change the draft of the next version (JSON merge patch; editors and owners): created from the latest version by the first change (`{}` creates it unchanged). The published version does not change until the draft is published (`POST …/publish`). Of a ", $what, " never published: the same as `PATCH …/{id}`.")]
            #[utoipa::path(patch, path = concat!("/api/v1/", $coll, "/{id}/draft"), tag = "resources", operation_id = concat!("patch_draft_", stringify!($module)), security(("bearer" = [])),
                params(("id" = String, Path, description = "Resource id"),
                       ("If-Match" = Option<String>, Header, description = "ETag of the draft you edited")),
                request_body = $patch,
                responses(
                    (status = 200, description = "The draft", body = $body),
                    (status = 400, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Archived resources are read-only", body = Problem, content_type = "application/problem+json"),
                    (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
                    (status = 422, description = "The draft would not be complete enough to publish", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn patch_draft() {}

            #[doc = concat!("Discard the draft of the next version (the published version stays). Of a ", $what, " never published: deletes it, as `DELETE …/{id}`.")]
            #[utoipa::path(delete, path = concat!("/api/v1/", $coll, "/{id}/draft"), tag = "resources", operation_id = concat!("discard_draft_", stringify!($module)), security(("bearer" = [])),
                params(("id" = String, Path, description = "Resource id"),
                       ("If-Match" = Option<String>, Header, description = "ETag of the draft you saw")),
                responses(
                    (status = 204, description = "Discarded"),
                    (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource, or no draft", body = Problem, content_type = "application/problem+json"),
                    (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn discard_draft() {}

            #[doc = concat!("The published versions of a ", $what, ", newest first, each with a one-line summary of what changed.")]
            #[utoipa::path(get, path = concat!("/api/v1/", $coll, "/{id}/versions"), tag = "resources", operation_id = concat!("versions_", stringify!($module)),
                params(("id" = String, Path, description = "Resource id"), PageQuery),
                responses(
                    (status = 200, description = "One page of versions", body = VersionPage),
                    (status = 400, description = "Bad cursor or limit", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource (or not visible to you)", body = Problem, content_type = "application/problem+json"),
                    (status = 410, description = "Withdrawn: the body's `tombstone` says what it was, why and when", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn list(_page: Query<PageQuery>) {}

            #[doc = concat!("One published version of a ", $what, ", exactly as it was published (links to what you may not see left out).")]
            #[utoipa::path(get, path = concat!("/api/v1/", $coll, "/{id}/versions/{label}"), tag = "resources", operation_id = concat!("version_", stringify!($module)),
                params(("id" = String, Path, description = "Resource id"),
                       ("label" = String, Path, description = "The version, e.g. `1.2`")),
                responses(
                    (status = 200, description = "The version", body = $body, headers(("ETag" = String, description = "This version's validator"), ("Link" = String, description = "`rel=\"latest-version\"` (the resource) and `rel=\"version-history\"` (its versions), RFC 5829"))),
                    (status = 304, description = "Not modified"),
                    (status = 404, description = "No such resource or version (or not visible to you)", body = Problem, content_type = "application/problem+json"),
                    (status = 410, description = "Withdrawn: the body's `tombstone` says what it was, why and when", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn read() {}

            #[doc = concat!("What changed from version `a` to version `b` of a ", $what, ", field by field (files and modules by id).")]
            #[utoipa::path(get, path = concat!("/api/v1/", $coll, "/{id}/versions/{a}/diff/{b}"), tag = "resources", operation_id = concat!("version_diff_", stringify!($module)),
                params(("id" = String, Path, description = "Resource id"),
                       ("a" = String, Path, description = "The version before, e.g. `1.0`"),
                       ("b" = String, Path, description = "The version after, e.g. `1.1`")),
                responses(
                    (status = 200, description = "The changes", body = VersionDiff),
                    (status = 304, description = "Not modified"),
                    (status = 404, description = "No such resource or version (or not visible to you)", body = Problem, content_type = "application/problem+json"),
                    (status = 410, description = "Withdrawn: the body's `tombstone` says what it was, why and when", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn diff() {}

            #[doc = concat!("Withdraw a published ", $what, " (or one earlier version of it) for good, with a reason (its institution's owners, or an administrator): it then answers `410 Gone` with a tombstone (title, institution, version, citation, reason, date), leaves lists, search and the harvests (a deleted record), and its access grants and requests end, their holders told by email.")]
            #[utoipa::path(post, path = concat!("/api/v1/", $coll, "/{id}/deaccession"), tag = "resources", operation_id = concat!("deaccession_", stringify!($module)), security(("bearer" = [])),
                params(("id" = String, Path, description = "Resource id")),
                request_body = DeaccessionRequest,
                responses(
                    (status = 200, description = "Withdrawn: the tombstone that answers for it from now on", body = Tombstone),
                    (status = 400, description = "No reason, or not a version label", body = Problem, content_type = "application/problem+json"),
                    (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Not an owner of its institution", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource or version (or not visible to you)", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Never published (delete the draft), or the latest version (publish a newer one first)", body = Problem, content_type = "application/problem+json"),
                    (status = 410, description = "Already withdrawn: its tombstone", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn deaccession(_body: Json<DeaccessionRequest>) {}
        }
    };
}

documented!(
    courses,
    "courses",
    Course,
    crate::api::resources::CoursePatch,
    "course"
);
documented!(
    datasets,
    "datasets",
    Dataset,
    crate::api::resources::DatasetPatch,
    "dataset"
);
documented!(
    model_cards,
    "model-cards",
    ModelCard,
    crate::api::resources::ModelCardPatch,
    "model card"
);
