//! Builds the application from settings: database, signing key, mail
//! folder, middleware stack and routes, bound to a listener. `main` and the
//! integration tests start the very same thing.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive};
use actix_service::{ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::dev::Server;
use actix_web::middleware::{Compress, DefaultHeaders, from_fn};
use actix_web::{App, web};

use crate::api::{self, OpenApiJson};
use crate::config::Settings;
use crate::db::{ConnectionManager, Db};
use crate::http::SECURITY_HEADERS;
use crate::http::cors::{self, AllowedOrigins};
use crate::http::deadline::{RequestTimeout, request_deadline};
use crate::http::idempotency::IdempotencyTtl;
use crate::http::json::{self, BodyLimit, BodyTimeout};
use crate::http::metrics::Metrics;
use crate::http::observe::observe;
use crate::http::problems::ensure_problem;
use crate::http::public_cache::{self, PublicCache};
use crate::http::text::refuse_control_in_uri;
use crate::http::wire::ProblemIo;
use crate::keys;
use crate::mail::worker::{self, Worker};
use crate::state::AppState;
use std::sync::Arc;
use tokio::sync::watch;

/// A built, bound, not yet running application.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    db: Db,
    worker: Option<Worker>,
    /// The webhook delivery worker (`jobs::webhooks`).
    hooks: Option<crate::jobs::webhooks::Deliverer>,
    state: AppState,
    /// Where and how often to look for other processes' writes (None: no cache).
    cache_poll: Option<(Arc<ConnectionManager>, Duration)>,
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
        if settings.database.run_migrations {
            // Resources written before search existed get indexed once.
            let indexed = db
                .run(crate::app::resources::index_unindexed)
                .await
                .map_err(|e| anyhow::anyhow!("indexing resources for search failed: {e}"))?;
            if indexed > 0 {
                tracing::info!(resources = indexed, "indexed resources for search");
            }
            db.run(move |conn| crate::db::optimize(conn, indexed > 0))
                .await
                .map_err(|e| anyhow::anyhow!("refreshing the planner's statistics failed: {e}"))?;
        }
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
        let housekeeping_state = state.clone();
        let worker = if settings.mail.worker {
            Some(worker::build(&db, &settings, Some(metrics.clone()))?)
        } else {
            None
        };
        let hooks = if settings.webhooks.worker {
            Some(crate::jobs::webhooks::build(
                &db,
                &state,
                Some(metrics.clone()),
            )?)
        } else {
            None
        };
        let cache = PublicCache::new(settings.http.public_cache_mib);
        let cache_poll = if cache.enabled() {
            Some((
                Arc::new(ConnectionManager::new(&settings)?),
                Duration::from_millis(settings.http.public_cache_poll_ms),
            ))
        } else {
            None
        };
        let server = build_server(listener, &settings, db.clone(), state, metrics, cache)?;
        tracing::info!(%addr, "listening on http://{addr}");
        Ok(Self {
            server,
            addr,
            db,
            worker,
            hooks,
            state: housekeeping_state,
            cache_poll,
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
        let hooks = self.hooks.map(|w| tokio::spawn(w.run(stopped.clone())));
        let housekeeping = tokio::spawn(housekeeping(
            self.db.clone(),
            self.state.clone(),
            stopped.clone(),
        ));
        let poll = self.cache_poll.map(|(manager, every)| {
            let mut stopped = stopped;
            tokio::spawn(async move {
                tokio::select! {
                    _ = public_cache::poll(manager, every) => {}
                    _ = stopped.changed() => {}
                }
            })
        });
        let result = self.server.await;
        let _ = stop.send(true);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        if let Some(hooks) = hooks {
            let _ = hooks.await;
        }
        let _ = housekeeping.await;
        if let Some(poll) = poll {
            let _ = poll.await;
        }
        result
    }

    /// A handle to stop the server from elsewhere (tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Every hour (and at start): the periodic jobs (`jobs::housekeeping::run`:
/// idempotency keys, sign-in records, webhook messages, partnership
/// digests, the dataset access sweep, the OAI-PMH and change-feed
/// projections). A grant stops working at `expires_at` whenever the sweep
/// runs: access checks compare with the clock themselves.
async fn housekeeping(db: Db, state: AppState, mut stopped: watch::Receiver<bool>) {
    loop {
        let st = state.clone();
        match db
            .run(move |conn| {
                Ok::<_, crate::error::ApiError>(crate::jobs::housekeeping::run(
                    conn,
                    &st,
                    crate::db::now(),
                ))
            })
            .await
        {
            Ok(round) if round == crate::jobs::housekeeping::Round::default() => {}
            Ok(round) => tracing::info!(?round, "housekeeping done"),
            Err(err) => tracing::warn!(error = %err, "housekeeping could not run"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stopped.changed() => return,
        }
    }
}

fn build_server(
    listener: TcpListener,
    settings: &Settings,
    db: Db,
    state: AppState,
    metrics: Metrics,
    cache: PublicCache,
) -> anyhow::Result<Server> {
    let metrics = web::Data::new(metrics);
    let cache = web::Data::new(cache);
    let db = web::Data::new(db);
    let openapi = web::Data::new(OpenApiJson(api::openapi_json()));
    let body_limit = web::Data::new(BodyLimit(settings.http.body_limit_bytes));
    let idempotency_ttl = web::Data::new(IdempotencyTtl(Duration::from_secs(
        u64::from(settings.http.idempotency_ttl_hours) * 3600,
    )));
    let clients = state.clients.clone();
    let state = web::Data::new(state);
    let body_timeout = web::Data::new(BodyTimeout(Duration::from_secs(
        settings.http.body_timeout_secs,
    )));
    let request_timeout = web::Data::new(RequestTimeout(Duration::from_secs(
        settings.http.request_timeout_secs,
    )));
    let origins = settings.http.cors_allowed_origins.clone();
    let allowed_origins = web::Data::new(AllowedOrigins(origins.clone()));
    let limit = settings.http.body_limit_bytes;

    let app = move || {
        App::new()
            .app_data(state.clone())
            .app_data(db.clone())
            .app_data(metrics.clone())
            .app_data(cache.clone())
            .app_data(openapi.clone())
            .app_data(body_limit.clone())
            .app_data(body_timeout.clone())
            .app_data(request_timeout.clone())
            .app_data(allowed_origins.clone())
            .app_data(idempotency_ttl.clone())
            .app_data(web::PayloadConfig::new(limit))
            .app_data(json::path_config())
            .app_data(json::query_config())
            .configure(api::routes)
            .default_service(web::to(api::not_found))
            // Middleware runs bottom-up: observe sees every request first.
            .wrap(from_fn(refuse_control_in_uri))
            .wrap(from_fn(request_deadline))
            .wrap(from_fn(ensure_problem))
            .wrap(cors::cors(&origins, clients.clone()))
            .wrap(from_fn(cors::foreign_preflight))
            .wrap(from_fn(cors::fresh_client_origins))
            .wrap(
                SECURITY_HEADERS
                    .iter()
                    .fold(DefaultHeaders::new(), |h, (name, value)| {
                        h.add((name.clone(), *value))
                    }),
            )
            .wrap(Compress::default())
            .wrap(from_fn(observe))
    };

    // actix-web's HttpServer, assembled by hand for one reason: each
    // connection's stream is wrapped in `ProblemIo`, so the answers the
    // HTTP/1 dispatcher writes by itself (unparseable or oversized heads,
    // slow heads) are problem+json too. Timeouts as HttpServer's defaults.
    let addr = listener.local_addr()?;
    let mut builder =
        actix_server::Server::build().shutdown_timeout(settings.http.shutdown_timeout_secs);
    if settings.http.workers > 0 {
        builder = builder.workers(settings.http.workers);
    }
    let server = builder
        .listen("kujenga-http", listener, move || {
            let h1 = HttpService::build()
                .keep_alive(KeepAlive::Timeout(Duration::from_secs(5)))
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .h1(map_config(app(), |_| AppConfig::default()));
            fn_service(|io: actix_web::rt::net::TcpStream| {
                let peer = io.peer_addr().ok();
                let _ = io.set_nodelay(true);
                std::future::ready(Ok::<_, DispatchError>((ProblemIo::new(io), peer)))
            })
            .and_then(h1)
        })?
        .run();
    Ok(server)
}
