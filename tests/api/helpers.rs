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

/// A running application and a client for it.
#[allow(dead_code)]
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    /// What the handlers share: tests run periodic jobs with it, on their own clock.
    pub state: kujenga::state::AppState,
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
    let database = TestDatabase::new(backend)?;
    Some(spawn_app_on(database, adjust).await)
}

/// Starts the application on an existing test database.
pub async fn spawn_app_on(database: TestDatabase, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let mut settings = database.settings();
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    let state = app.state().clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .no_brotli()
        .build()
        .expect("client");
    TestApp {
        address,
        client,
        db,
        state,
        database,
        handle,
    }
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
/// latter when `KUJENGA_TEST_POSTGRES_URL` is set; without it the variant
/// skips, or fails under `CI` unless `KUJENGA_TEST_SQLITE_ONLY` is set).
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
            $(#[$meta])*
            async fn sqlite() {
                run(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$meta])*
            async fn postgres() {
                if skip_postgres() {
                    return;
                }
                run(Backend::Postgres).await;
            }
        }
    };
}

/// A password strong enough for the policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-up, verified, signed-in person.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub async fn post_json(
        &self,
        path: &str,
        body: serde_json::Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/register",
            serde_json::json!({"email": email, "password": password, "display_name": "Test Person"}),
            None,
        )
        .await
    }

    /// The newest outbox email of `template` to `recipient`: its data. Once
    /// an email is sent the outbox forgets its data, so the token of a
    /// delivered email is read back from the `.eml` file the worker wrote.
    pub async fn last_email_data(
        &self,
        recipient: &str,
        template: &str,
    ) -> Option<serde_json::Value> {
        use diesel::prelude::*;
        use kujenga::db::schema::outbox_emails as oe;
        let (recipient, template) = (recipient.to_string(), template.to_string());
        let row: Option<(String, String)> = self
            .db
            .run(move |conn| {
                oe::table
                    .filter(oe::recipient.eq(recipient))
                    .filter(oe::template.eq(template))
                    .order((oe::created_at.desc(), oe::id.desc()))
                    .select((oe::id, oe::data))
                    .first::<(String, String)>(conn)
                    .optional()
            })
            .await
            .expect("outbox query");
        let (id, data) = row?;
        let data: serde_json::Value = serde_json::from_str(&data).expect("outbox data is JSON");
        if data.as_object().is_some_and(|o| !o.is_empty()) {
            return Some(data);
        }
        let path = self
            .database
            .data_dir()
            .join("mail")
            .join(format!("{id}.eml"));
        let text = crate::smtp::decode_qp(&std::fs::read_to_string(path).ok()?);
        let start = text.find("?token=")? + "?token=".len();
        let token: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        Some(serde_json::json!({ "token": token }))
    }

    /// How many outbox emails of `template` went to `recipient`.
    pub async fn count_emails(&self, recipient: &str, template: &str) -> i64 {
        use diesel::prelude::*;
        use kujenga::db::schema::outbox_emails as oe;
        let (recipient, template) = (recipient.to_string(), template.to_string());
        self.db
            .run(move |conn| {
                oe::table
                    .filter(oe::recipient.eq(recipient))
                    .filter(oe::template.eq(template))
                    .count()
                    .get_result::<i64>(conn)
            })
            .await
            .expect("outbox query")
    }

    /// Waits (up to 10 s) until at least `n` outbox emails of `template`
    /// went to `recipient` (a password reset queues its email after
    /// answering), and returns how many there are.
    pub async fn wait_emails(&self, recipient: &str, template: &str, n: i64) -> i64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let count = self.count_emails(recipient, template).await;
            if count >= n || std::time::Instant::now() > deadline {
                return count;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Asks for a password reset link and waits until its email is queued.
    pub async fn reset_password_email(&self, email: &str) -> String {
        let before = self.count_emails(email, "password_reset").await;
        let res = self
            .post_json(
                "/api/v1/auth/password-reset",
                serde_json::json!({"email": email}),
                None,
            )
            .await;
        assert_eq!(res.status(), 202, "password reset for {email}");
        assert!(
            self.wait_emails(email, "password_reset", before + 1).await > before,
            "no reset email for {email}"
        );
        self.last_email_data(email, "password_reset")
            .await
            .expect("reset email")["token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Registers, verifies (with the emailed token) and signs in.
    pub async fn signup(&self, email: &str) -> Account {
        let res = self.register(email, PASSWORD).await;
        assert_eq!(res.status(), 202, "register {email}");
        let token = self
            .last_email_data(email, "verify_email")
            .await
            .expect("verification email")["token"]
            .as_str()
            .expect("token")
            .to_string();
        let res = self
            .post_json(
                "/api/v1/auth/verify-email",
                serde_json::json!({"token": token}),
                None,
            )
            .await;
        assert_eq!(res.status(), 200, "verify {email}");
        self.signin(email).await
    }

    /// Signs in an existing account.
    pub async fn signin(&self, email: &str) -> Account {
        let res = self.login(email, PASSWORD).await;
        assert_eq!(res.status(), 200, "login {email}");
        let pair: serde_json::Value = res.json().await.expect("token pair");
        let access = pair["access_token"].as_str().expect("access").to_string();
        let me: serde_json::Value = self
            .get_auth("/api/v1/me", &access)
            .await
            .json()
            .await
            .expect("me");
        Account {
            id: me["id"].as_str().expect("id").to_string(),
            email: email.to_string(),
            access,
            refresh: pair["refresh_token"].as_str().expect("refresh").to_string(),
        }
    }

    /// Makes a user a platform admin (directly in the database).
    pub async fn make_admin(&self, user_id: &str) {
        use diesel::prelude::*;
        use kujenga::db::schema::users;
        let id = user_id.to_string();
        self.db
            .run(move |conn| {
                diesel::update(users::table.filter(users::id.eq(id)))
                    .set(users::role.eq("admin"))
                    .execute(conn)
            })
            .await
            .expect("make admin");
    }
}
