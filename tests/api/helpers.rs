//! Starting the real application for a test: port 0, its own temp data
//! folder, its own database (a temp SQLite file, or a PostgreSQL database
//! created for the test and dropped after it).

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use kujenga::config::{Overrides, Settings};
use kujenga::db::Db;
use kujenga::startup::Application;
use secrecy::SecretString;

pub const PG_ENV: &str = "KUJENGA_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server URL for tests, if one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|v| !v.is_empty())
}

/// A PostgreSQL database that exists for one test.
pub struct PgDatabase {
    server_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create(server_url: &str) -> Self {
        let name = format!("kujenga_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::establish(server_url).expect("connect to the test PostgreSQL");
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let mut url = url::Url::parse(server_url).expect("PostgreSQL URL");
        url.set_path(&name);
        Self {
            server_url: server_url.to_string(),
            name,
            url: url.to_string(),
        }
    }

    /// Drops the database now (killing its connections), e.g. to test readiness.
    pub fn drop_now(&self) {
        if let Ok(mut conn) = PgConnection::establish(&self.server_url) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// A database for a test: the URL and what keeps it alive.
pub struct TestDatabase {
    pub url: String,
    pub pg: Option<PgDatabase>,
    pub dir: tempfile::TempDir,
}

impl TestDatabase {
    pub fn new(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Some(Self {
                url: format!("sqlite://{}", dir.path().join("kujenga.db").display()),
                pg: None,
                dir,
            }),
            Backend::Postgres => {
                let server = postgres_url()?;
                let pg = PgDatabase::create(&server);
                Some(Self {
                    url: pg.url.clone(),
                    pg: Some(pg),
                    dir,
                })
            }
        }
    }

    pub fn settings(&self) -> Settings {
        let mut settings = Settings::load(
            None,
            &[],
            &Overrides {
                bind: Some("127.0.0.1:0".into()),
                data_dir: Some(self.dir.path().join("data")),
            },
        )
        .expect("default settings");
        settings.database_url = Some(SecretString::from(self.url.clone()));
        settings.database.pool_size = 4;
        settings.http.workers = 1;
        settings.http.shutdown_timeout_secs = 1;
        settings
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

/// A running application and a client for it.
#[allow(dead_code)]
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub database: TestDatabase,
    handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the database guard then drops the database.
        drop(self.handle.stop(false));
    }
}

/// Starts the application on `backend`, with `adjust` applied to its
/// settings. `None` when the backend is PostgreSQL and no server is set.
pub async fn spawn_app_with(
    backend: Backend,
    adjust: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    init_logs();
    let database = TestDatabase::new(backend)?;
    let mut settings = database.settings();
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .no_brotli()
        .build()
        .expect("client");
    Some(TestApp {
        address,
        client,
        db,
        database,
        handle,
    })
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        kujenga::telemetry::init(&kujenga::config::LogSettings {
            level: "debug".into(),
            format: kujenga::config::LogFormat::Text,
        });
    }
}

/// Reads a problem+json body, checking the media type and status field.
pub async fn problem(res: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: serde_json::Value = res.json().await.expect("problem body");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert!(body["type"].is_string(), "{body}");
    body
}

/// Defines a test that runs once on SQLite and once on PostgreSQL (the
/// latter only when `KUJENGA_TEST_POSTGRES_URL` is set).
#[macro_export]
macro_rules! api_test {
    ($(#[$meta:meta])* $name:ident, |$backend:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::helpers::*;

            async fn run($backend: Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if postgres_url().is_none() {
                    eprintln!("skipped: set {PG_ENV} to run on PostgreSQL");
                    return;
                }
                run(Backend::Postgres).await;
            }
        }
    };
}
