//! `/admin/clients`: admins register the partner apps (web and mobile
//! frontends) whose link bases emailed links may use, whose origins CORS
//! lets in, and whose sign-ins may be cookie sessions.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::admin::Admin;
use crate::app::clients::{self as app, ClientApp, ClientAppPatch, Cursor, NewClientApp};
use crate::auth::Principal;
use crate::db::Db;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::PageQuery;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/clients")
            .route(crate::api::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/admin/clients/{id}")
            .route(crate::api::get().to(show))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientAppPage {
    pub items: Vec<ClientApp>,
    pub next_cursor: Option<String>,
}

/// The registered client apps, oldest first (admins only).
#[utoipa::path(get, operation_id = "list_clients", path = "/api/v1/admin/clients", tag = "admin", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page", body = ClientAppPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Query(page): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let admin = Admin::check(&principal)?;
    let page = page.parse::<Cursor>()?;
    Ok(app::list(&db, &admin, &page).await?.respond(&req))
}

/// Register a client app (admins only; audited as `client_app.created`).
#[utoipa::path(post, operation_id = "create_client", path = "/api/v1/admin/clients", tag = "admin", security(("bearer" = [])),
    request_body = NewClientApp,
    responses(
        (status = 201, description = "Registered", body = ClientApp,
            headers(("ETag" = String, description = "Strong validator"), ("Location" = String, description = "The app's URL"))),
        (status = 400, description = "Invalid fields (a link base that is not an https URL, an origin with a path…)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    Json(body): Json<NewClientApp>,
) -> Result<HttpResponse, ApiError> {
    let admin = Admin::check(&principal)?;
    let created = app::create(&db, &state.into_inner(), &admin, body).await?;
    let mut res = etag::respond_with_status(&req, StatusCode::CREATED, &created)?;
    res.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/admin/clients/{}", created.id))
            .map_err(ApiError::internal)?,
    );
    Ok(res)
}

/// One client app (admins only).
#[utoipa::path(get, operation_id = "show_client", path = "/api/v1/admin/clients/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Client app id")),
    responses(
        (status = 200, description = "The app", body = ClientApp, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = Admin::check(&principal)?;
    let client = app::get(&db, &admin, &path.into_inner()).await?;
    etag::respond(&req, &client)
}

/// Change a client app: each field given replaces the stored one (admins
/// only; audited as `client_app.updated`).
#[utoipa::path(patch, operation_id = "update_client", path = "/api/v1/admin/clients/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Client app id"),
           ("If-Match" = Option<String>, Header, description = "ETag of the app you edited")),
    request_body = ClientAppPatch,
    responses(
        (status = 200, description = "Updated", body = ClientApp, headers(("ETag" = String, description = "Strong validator"))),
        (status = 400, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<ClientAppPatch>,
) -> Result<HttpResponse, ApiError> {
    let admin = Admin::check(&principal)?;
    let id = path.into_inner();
    let if_match = etag::if_match(&req);
    let updated = app::update(&db, &state.into_inner(), &admin, &id, body, if_match).await?;
    etag::respond(&req, &updated)
}

/// Delete a client app (admins only; audited as `client_app.deleted`): its
/// link bases and origins stop working, its cookie sessions can no longer be
/// refreshed.
#[utoipa::path(delete, operation_id = "delete_client", path = "/api/v1/admin/clients/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Client app id"),
           ("If-Match" = Option<String>, Header, description = "ETag of the app you saw")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = Admin::check(&principal)?;
    let if_match = etag::if_match(&req);
    app::delete(
        &db,
        &state.into_inner(),
        &admin,
        &path.into_inner(),
        if_match,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
