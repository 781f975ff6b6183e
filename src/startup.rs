//! Builds the application from settings: database, signing key, mail
//! folder, middleware stack and routes, bound to a listener. `main` and the
//! integration tests start the very same thing.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{Method, header};
use actix_web::middleware::{Compress, DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};

use crate::api::{self, OpenApiJson};
use crate::auth::jwt::KeyRing;
use crate::auth::password::Hasher;
use crate::auth::ratelimit::RateLimits;
use crate::config::Settings;
use crate::db::Db;
use crate::http::SECURITY_HEADERS;
use crate::http::idempotency::IdempotencyTtl;
use crate::http::json::{self, BodyLimit};
use crate::http::metrics::Metrics;
use crate::http::observe::observe;
use crate::http::problems::ensure_problem;
use crate::keys::{self, SigningKey};
use crate::mail::Outbox;
use crate::mail::worker::{self, Worker};
use std::sync::Arc;
use tokio::sync::watch;

/// A built, bound, not yet running application.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    db: Db,
    worker: Option<Worker>,
    idempotency_ttl: Duration,
    limits: Arc<RateLimits>,
    state: AppState,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Where things live, for the start-up log line.
#[derive(Debug, Clone)]
pub struct Locations {
    pub database: String,
    pub signing_key: PathBuf,
    pub mail_dir: PathBuf,
}

impl Application {
    /// Connects the database (running migrations if configured), loads or
    /// creates the signing key, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = {
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || Db::connect(&settings)).await??
        };
        let key_path = settings.signing_key_file();
        let (key, created) = {
            let path = key_path.clone();
            tokio::task::spawn_blocking(move || keys::load_or_create(&path)).await??
        };
        if created {
            tracing::info!(path = %key_path.display(), kid = %key.kid, "generated a new signing key");
        }
        let mail_dir = settings.mail_dir();
        std::fs::create_dir_all(&mail_dir).map_err(|e| {
            anyhow::anyhow!("cannot create mail folder {}: {e}", mail_dir.display())
        })?;

        let listener = TcpListener::bind(settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let addr = listener.local_addr()?;
        let locations = Locations {
            database: db.target().to_string(),
            signing_key: key_path,
            mail_dir,
        };
        tracing::info!(
            database = %locations.database,
            signing_key = %locations.signing_key.display(),
            mail_dir = %locations.mail_dir.display(),
            "data: database {}, signing key {}, mail folder {}",
            locations.database,
            locations.signing_key.display(),
            locations.mail_dir.display(),
        );

        let metrics = Metrics::new()?;
        let state = {
            let (settings, key) = (settings.clone(), key.clone());
            // Hashing the dummy password takes a moment: off the executor.
            tokio::task::spawn_blocking(move || AppState::new(&settings, &key)).await??
        };
        let limits = state.limits.clone();
        let housekeeping_state = state.clone();
        let worker = if settings.mail.worker {
            Some(worker::build(&db, &settings, Some(metrics.clone()))?)
        } else {
            None
        };
        let server = build_server(listener, &settings, db.clone(), state, metrics)?;
        tracing::info!(%addr, "listening on http://{addr}");
        Ok(Self {
            server,
            addr,
            db,
            worker,
            idempotency_ttl: Duration::from_secs(
                u64::from(settings.http.idempotency_ttl_hours) * 3600,
            ),
            limits,
            state: housekeeping_state,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// What the handlers share (tests run the periodic jobs with it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM/SIGINT (then finishes in-flight requests), with
    /// the email worker and housekeeping running beside it; both stop when
    /// the server does.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let worker = self.worker.map(|w| tokio::spawn(w.run(stopped.clone())));
        let housekeeping = tokio::spawn(housekeeping(
            self.db.clone(),
            self.idempotency_ttl,
            self.limits.clone(),
            self.state.clone(),
            stopped,
        ));
        let result = self.server.await;
        let _ = stop.send(true);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        let _ = housekeeping.await;
        result
    }

    /// A handle to stop the server from elsewhere (tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Every hour (and at start): removes expired `Idempotency-Key` entries,
/// forgets idle clients of the rate limiters, sends the partnerships'
/// digests of newly shared resources that are due, and sweeps dataset access
/// (expires grants and stale requests, reminds deciders: `api::access::sweep`).
/// A grant stops working at `expires_at` whenever the sweep runs: access
/// checks compare with the clock themselves.
async fn housekeeping(
    db: Db,
    ttl: Duration,
    limits: Arc<RateLimits>,
    state: AppState,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        limits.shrink();
        let cutoff =
            crate::db::now() - chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1));
        match db
            .run(move |conn| crate::db::idempotency::purge_expired(conn, cutoff))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired idempotency keys removed"),
            Err(err) => tracing::warn!(error = %err, "idempotency key purge failed"),
        }
        let st = state.clone();
        match db
            .run(move |conn| crate::api::partnerships::send_digests(conn, &st))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(partnerships = n, "shared-resource digests sent"),
            Err(err) => tracing::warn!(error = %err, "shared-resource digests failed"),
        }
        let st = state.clone();
        match db
            .run(move |conn| crate::api::access::sweep(conn, &st, crate::db::now()))
            .await
        {
            Ok(s) if s == crate::api::access::Swept::default() => {}
            Ok(s) => tracing::info!(
                grants_expired = s.grants_expired,
                requests_expired = s.requests_expired,
                reminders = s.reminders,
                "dataset access swept"
            ),
            Err(err) => tracing::warn!(error = %err, "dataset access sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Shared, immutable state handed to every worker.
#[derive(Debug, Clone)]
pub struct AppState {
    pub settings: Settings,
    pub outbox: Arc<Outbox>,
    pub keys: Arc<KeyRing>,
    pub hasher: Arc<Hasher>,
    pub limits: Arc<RateLimits>,
}

impl AppState {
    /// Everything the handlers share, from settings and the signing key.
    pub fn new(settings: &Settings, key: &SigningKey) -> anyhow::Result<Self> {
        let mut previous = Vec::new();
        for path in &settings.auth.previous_signing_key_files {
            previous.push(
                keys::load(path)
                    .map_err(|e| anyhow::anyhow!("auth.previous_signing_key_files: {e}"))?,
            );
        }
        let auth = &settings.auth;
        Ok(Self {
            settings: settings.clone(),
            outbox: Arc::new(Outbox::new(
                &settings.mail,
                &settings.platform.name,
                &settings.platform.frontend_url,
            )?),
            keys: Arc::new(KeyRing::new(
                key,
                &previous,
                &auth.issuer,
                &auth.audience,
                i64::from(auth.access_token_ttl_secs),
            )?),
            hasher: Arc::new(Hasher::new(
                auth.argon2_memory_kib,
                auth.argon2_iterations,
                auth.argon2_parallelism,
            )?),
            limits: Arc::new(RateLimits::new(&settings.rate_limit)),
        })
    }
}

fn build_server(
    listener: TcpListener,
    settings: &Settings,
    db: Db,
    state: AppState,
    metrics: Metrics,
) -> anyhow::Result<Server> {
    let metrics = web::Data::new(metrics);
    let db = web::Data::new(db);
    let openapi = web::Data::new(OpenApiJson(api::openapi_json()));
    let body_limit = web::Data::new(BodyLimit(settings.http.body_limit_bytes));
    let idempotency_ttl = web::Data::new(IdempotencyTtl(Duration::from_secs(
        u64::from(settings.http.idempotency_ttl_hours) * 3600,
    )));
    let state = web::Data::new(state);
    let origins = settings.http.cors_allowed_origins.clone();
    let limit = settings.http.body_limit_bytes;

    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(db.clone())
            .app_data(metrics.clone())
            .app_data(openapi.clone())
            .app_data(body_limit.clone())
            .app_data(idempotency_ttl.clone())
            .app_data(web::PayloadConfig::new(limit))
            .app_data(json::path_config())
            .app_data(json::query_config())
            .configure(api::routes)
            .default_service(web::to(api::not_found))
            // Middleware runs bottom-up: observe sees every request first.
            .wrap(from_fn(ensure_problem))
            .wrap(cors(&origins))
            .wrap(
                SECURITY_HEADERS
                    .iter()
                    .fold(DefaultHeaders::new(), |h, (name, value)| {
                        h.add((name.clone(), *value))
                    }),
            )
            .wrap(Compress::default())
            .wrap(from_fn(observe))
    })
    .listen(listener)?
    .shutdown_timeout(settings.http.shutdown_timeout_secs);
    let server = if settings.http.workers > 0 {
        server.workers(settings.http.workers)
    } else {
        server
    };
    Ok(server.run())
}

/// CORS for the configured origins only. A request from another origin is
/// served without CORS headers (the browser then blocks it) rather than
/// rejected, so non-browser clients that send `Origin` keep working.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LINK,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(3600)
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}
