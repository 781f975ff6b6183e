//! The database of one test: a temp SQLite file, or a PostgreSQL database
//! created for the test and dropped after it; and whether the PostgreSQL
//! variant of a test runs, skips or fails.

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use kujenga::config::{Overrides, Settings};
use secrecy::SecretString;

pub const PG_ENV: &str = "KUJENGA_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Set this to run only on SQLite on purpose where `CI` is set.
pub const SQLITE_ONLY_ENV: &str = "KUJENGA_TEST_SQLITE_ONLY";

/// The PostgreSQL server URL for tests, if one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|v| !v.is_empty())
}

/// Whether a PostgreSQL variant without a server skips (a developer's
/// machine) or fails: under `CI` a missing URL is a broken set-up, not a
/// pass, unless the run says it is SQLite only.
pub fn skip_postgres() -> bool {
    if postgres_url().is_some() {
        return false;
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    assert!(
        !ci || std::env::var_os(SQLITE_ONLY_ENV).is_some(),
        "CI is set but {PG_ENV} is not: this PostgreSQL test cannot run \
         (set {SQLITE_ONLY_ENV}=1 to run on SQLite only on purpose)"
    );
    eprintln!("skipped: set {PG_ENV} to run on PostgreSQL");
    true
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
