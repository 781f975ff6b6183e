//! Operations endpoints (no `/api/v1` prefix): liveness, readiness, metrics.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::Db;
use crate::error::{ApiError, Problem};
use crate::http::metrics::Metrics;

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: String,
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"database": "ok", "status": "ok"}))]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// The process is alive (no I/O).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// The service can take traffic: the database answers and commits a write.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "The database does not answer or cannot commit a write (read-only, disk full)", body = Problem,
         content_type = "application/problem+json",
         headers(("Retry-After" = u32, description = "Seconds to wait")))
    )
)]
pub async fn readyz(db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    db.probe_write(Duration::from_secs(2))
        .await
        .map_err(ApiError::Unavailable)?;
    let database = match db.backend() {
        crate::config::Backend::Sqlite => "sqlite",
        crate::config::Backend::Postgres => "postgres",
    };
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready".into(),
        database: database.into(),
    }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String,
               content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics(
    metrics: web::Data<Metrics>,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    let counts = db.run(crate::db::outbox::counts).await?;
    metrics.set_outbox_counts(&counts);
    let hooks = db.run(crate::db::webhooks::counts).await?;
    metrics.set_webhook_counts(&hooks);
    let text = metrics.render(&db).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
