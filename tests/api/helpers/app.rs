//! Starting the real application for a test: port 0, its own temp data
//! folder, its own database, and a client for it.

use kujenga::config::Settings;
use kujenga::db::Db;
use kujenga::startup::Application;

use super::database::{Backend, TestDatabase};

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

/// The application with cheap password hashing and generous rate limits:
/// these tests sign many people up from one address.
pub async fn start(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.rate_limit.register_per_hour = 10_000;
        s.rate_limit.login_per_minute = 10_000;
        s.rate_limit.refresh_per_minute = 10_000;
    })
    .await
    .expect("app")
}
