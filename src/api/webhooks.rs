//! `/institutions/{slug}/webhooks*` and `/partnerships/{slug}/webhooks*`:
//! webhook subscriptions, their secrets, delivery logs, redelivery and
//! pings. The same handlers for both owners (`owner_endpoints!` makes the
//! documented per-owner wrappers); the workflows live in `app::webhooks`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::webhooks::{self as app, Cursor, OwnerRef};
pub use crate::app::webhooks::{
    NewWebhook, PingQueued, RotatedSecret, Webhook, WebhookAttempt, WebhookDelivery,
    WebhookDeliveryPage, WebhookPage, WebhookPatch,
};
use crate::auth::Principal;
use crate::db::Db;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::PageQuery;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    institutions::routes(cfg);
    partnerships::routes(cfg);
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

async fn create(
    req: HttpRequest,
    db: web::Data<Db>,
    state: web::Data<AppState>,
    principal: Principal,
    owner: OwnerRef,
    base: String,
    body: NewWebhook,
) -> Result<HttpResponse, ApiError> {
    let created = app::create(&db, &state, &principal, owner, body).await?;
    let mut res = etag::respond_with_status(&req, StatusCode::CREATED, &created)?;
    res.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("{base}/{}", created.id))
            .map_err(ApiError::internal)?,
    );
    // The secret is in this answer only: never cached, never replayed.
    Ok(no_store(res))
}

macro_rules! owner_endpoints {
    (
        $module:ident, $variant:ident, $tag:literal, $who:literal, $prefix:literal,
        $coll:literal, $item:literal, $rotate:literal, $deliveries:literal,
        $redeliver:literal, $ping:literal
    ) => {
        pub mod $module {
            use super::*;

            pub fn routes(cfg: &mut web::ServiceConfig) {
                let get = crate::api::get;
                cfg.service(
                    web::resource(concat!("/", $prefix, "/{slug}/webhooks"))
                        .route(get().to(list))
                        .route(web::post().to(create)),
                )
                .service(
                    web::resource(concat!("/", $prefix, "/{slug}/webhooks/{id}"))
                        .route(get().to(show))
                        .route(web::patch().to(update))
                        .route(web::delete().to(delete)),
                )
                .service(
                    web::resource(concat!("/", $prefix, "/{slug}/webhooks/{id}/rotate-secret"))
                        .route(web::post().to(rotate_secret)),
                )
                .service(
                    web::resource(concat!("/", $prefix, "/{slug}/webhooks/{id}/deliveries"))
                        .route(get().to(deliveries)),
                )
                .service(
                    web::resource(concat!(
                        "/", $prefix, "/{slug}/webhooks/{id}/deliveries/{delivery_id}/redeliver"
                    ))
                    .route(web::post().to(redeliver)),
                )
                .service(
                    web::resource(concat!("/", $prefix, "/{slug}/webhooks/{id}/ping"))
                        .route(web::post().to(ping)),
                );
            }

            #[doc = concat!("Create a webhook subscription (", $who, "). The answer carries the signing secret, once.")]
            #[utoipa::path(post, path = $coll, tag = "webhooks", operation_id = concat!("create_", stringify!($module), "_webhook"),
                security(("bearer" = [])),
                params(("slug" = String, Path, description = $tag)),
                request_body = NewWebhook,
                responses(
                    (status = 201, description = "Created; `secret` is shown this once", body = Webhook),
                    (status = 400, description = "Invalid fields: a URL that is not https, or that the SSRF guard refuses (the message names the rule); an unknown event type", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = concat!("Not one of the ", $who), body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such owner, or not yours to see", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn create(
                req: HttpRequest,
                db: web::Data<Db>,
                state: web::Data<AppState>,
                principal: Principal,
                path: web::Path<String>,
                Json(body): Json<NewWebhook>,
            ) -> Result<HttpResponse, ApiError> {
                let slug = path.into_inner();
                let base = format!("/api/v1/{}/{slug}/webhooks", $prefix);
                super::create(req, db, state, principal, OwnerRef::$variant(slug), base, body).await
            }

            #[doc = concat!("The webhook subscriptions (", $who, "), oldest first.")]
            #[utoipa::path(get, path = $coll, tag = "webhooks", operation_id = concat!("list_", stringify!($module), "_webhooks"),
                security(("bearer" = [])),
                params(("slug" = String, Path, description = $tag), PageQuery),
                responses(
                    (status = 200, description = "One page", body = WebhookPage),
                    (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = concat!("Not one of the ", $who), body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such owner, or not yours to see", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn list(
                req: HttpRequest,
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<String>,
                Query(page): Query<PageQuery>,
            ) -> Result<HttpResponse, ApiError> {
                let page = page.parse::<Cursor>()?;
                let items = app::list(&db, &principal, OwnerRef::$variant(path.into_inner()), &page).await?;
                Ok(items.respond(&req))
            }

            #[doc = concat!("One webhook subscription (", $who, ").")]
            #[utoipa::path(get, path = $item, tag = "webhooks", operation_id = concat!("show_", stringify!($module), "_webhook"),
                security(("bearer" = [])),
                params(("slug" = String, Path, description = $tag), ("id" = String, Path, description = "Webhook id")),
                responses(
                    (status = 200, description = "The subscription", body = Webhook, headers(("ETag" = String, description = "Strong validator"))),
                    (status = 304, description = "Not modified"),
                    (status = 403, description = concat!("Not one of the ", $who), body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn show(
                req: HttpRequest,
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<(String, String)>,
            ) -> Result<HttpResponse, ApiError> {
                let (slug, id) = path.into_inner();
                let hook = app::show(&db, &principal, OwnerRef::$variant(slug), id).await?;
                etag::respond(&req, &hook)
            }

            #[doc = concat!("Change a webhook subscription (", $who, "): URL, event types, description, enabled. Enabling it again clears `disabled_reason` and the failure count.")]
            #[utoipa::path(patch, path = $item, tag = "webhooks", operation_id = concat!("update_", stringify!($module), "_webhook"),
                security(("bearer" = [])),
                params(("slug" = String, Path, description = $tag), ("id" = String, Path, description = "Webhook id")),
                request_body = WebhookPatch,
                responses(
                    (status = 200, description = "Changed", body = Webhook),
                    (status = 400, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = concat!("Not one of the ", $who), body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn update(
                req: HttpRequest,
                db: web::Data<Db>,
                state: web::Data<AppState>,
                principal: Principal,
                path: web::Path<(String, String)>,
                Json(body): Json<WebhookPatch>,
            ) -> Result<HttpResponse, ApiError> {
                let (slug, id) = path.into_inner();
                let hook = app::update(&db, &state, &principal, OwnerRef::$variant(slug), id, body).await?;
                etag::respond(&req, &hook)
            }

            #[doc = concat!("Delete a webhook subscription and its delivery log (", $who, ").")]
            #[utoipa::path(delete, path = $item, tag = "webhooks", operation_id = concat!("delete_", stringify!($module), "_webhook"),
                security(("bearer" = [])),
                params(("slug" = String, Path, description = $tag), ("id" = String, Path, description = "Webhook id")),
                responses(
                    (status = 204, description = "Deleted"),
                    (status = 403, description = concat!("Not one of the ", $who), body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn delete(
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<(String, String)>,
            ) -> Result<HttpResponse, ApiError> {
                let (slug, id) = path.into_inner();
                app::delete(&db, &principal, OwnerRef::$variant(slug), id).await?;
                Ok(HttpResponse::NoContent().finish())
            }

            #[doc = concat!("A new signing secret (", $who, "), shown once; the previous one keeps signing beside it (both signatures are sent) for `webhooks.rotation_overlap_hours`.")]
            #[utoipa::path(post, path = $rotate, tag = "webhooks", operation_id = concat!("rotate_", stringify!($module), "_webhook_secret"),
                security(("bearer" = [])),
                params(("slug" = String, Path, description = $tag), ("id" = String, Path, description = "Webhook id")),
                responses(
                    (status = 200, description = "The new secret", body = RotatedSecret),
                    (status = 403, description = concat!("Not one of the ", $who), body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn rotate_secret(
                db: web::Data<Db>,
                state: web::Data<AppState>,
                principal: Principal,
                path: web::Path<(String, String)>,
            ) -> Result<HttpResponse, ApiError> {
                let (slug, id) = path.into_inner();
                let rotated = app::rotate_secret(&db, &state, &principal, OwnerRef::$variant(slug), id).await?;
                Ok(no_store(HttpResponse::Ok().json(rotated)))
            }

            #[doc = concat!("The delivery log of a webhook (", $who, "): its messages, newest first, each with its attempts (time, status, latency, the first 1 kB of the answer).")]
            #[utoipa::path(get, path = $deliveries, tag = "webhooks", operation_id = concat!("list_", stringify!($module), "_webhook_deliveries"),
                security(("bearer" = [])),
                params(("slug" = String, Path, description = $tag), ("id" = String, Path, description = "Webhook id"), PageQuery),
                responses(
                    (status = 200, description = "One page", body = WebhookDeliveryPage),
                    (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = concat!("Not one of the ", $who), body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn deliveries(
                req: HttpRequest,
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<(String, String)>,
                Query(page): Query<PageQuery>,
            ) -> Result<HttpResponse, ApiError> {
                let (slug, id) = path.into_inner();
                let page = page.parse::<Cursor>()?;
                let items = app::deliveries(&db, &principal, OwnerRef::$variant(slug), id, &page).await?;
                Ok(items.respond(&req))
            }

            #[doc = concat!("Send a delivered or failed message again (", $who, "): the same `webhook-id`, a new round of attempts.")]
            #[utoipa::path(post, path = $redeliver, tag = "webhooks", operation_id = concat!("redeliver_", stringify!($module), "_webhook_message"),
                security(("bearer" = [])),
                params(("slug" = String, Path, description = $tag), ("id" = String, Path, description = "Webhook id"),
                       ("delivery_id" = String, Path, description = "The message's `webhook-id`")),
                responses(
                    (status = 202, description = "Queued"),
                    (status = 403, description = concat!("Not one of the ", $who), body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such webhook or message", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "It is queued or being sent already", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn redeliver(
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<(String, String, String)>,
            ) -> Result<HttpResponse, ApiError> {
                let (slug, id, message) = path.into_inner();
                app::redeliver(&db, &principal, OwnerRef::$variant(slug), id, message).await?;
                Ok(HttpResponse::Accepted().finish())
            }

            #[doc = concat!("Queue a `webhook.ping` message to test the target (", $who, "); its outcome shows in the delivery log.")]
            #[utoipa::path(post, path = $ping, tag = "webhooks", operation_id = concat!("ping_", stringify!($module), "_webhook"),
                security(("bearer" = [])),
                params(("slug" = String, Path, description = $tag), ("id" = String, Path, description = "Webhook id")),
                responses(
                    (status = 202, description = "Queued: the message's id", body = PingQueued),
                    (status = 403, description = concat!("Not one of the ", $who), body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn ping(
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<(String, String)>,
            ) -> Result<HttpResponse, ApiError> {
                let (slug, id) = path.into_inner();
                let queued = app::ping(&db, &principal, OwnerRef::$variant(slug), id).await?;
                Ok(HttpResponse::Accepted().json(queued))
            }
        }
    };
}

owner_endpoints!(
    institutions,
    Institution,
    "Institution slug",
    "the institution's owners",
    "institutions",
    "/api/v1/institutions/{slug}/webhooks",
    "/api/v1/institutions/{slug}/webhooks/{id}",
    "/api/v1/institutions/{slug}/webhooks/{id}/rotate-secret",
    "/api/v1/institutions/{slug}/webhooks/{id}/deliveries",
    "/api/v1/institutions/{slug}/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    "/api/v1/institutions/{slug}/webhooks/{id}/ping"
);

owner_endpoints!(
    partnerships,
    Partnership,
    "Partnership slug",
    "the partnership's coordinators",
    "partnerships",
    "/api/v1/partnerships/{slug}/webhooks",
    "/api/v1/partnerships/{slug}/webhooks/{id}",
    "/api/v1/partnerships/{slug}/webhooks/{id}/rotate-secret",
    "/api/v1/partnerships/{slug}/webhooks/{id}/deliveries",
    "/api/v1/partnerships/{slug}/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    "/api/v1/partnerships/{slug}/webhooks/{id}/ping"
);
