//! Typed settings, built once at start-up and passed down.
//!
//! Sources, later ones winning: built-in defaults → an optional TOML file
//! (`--config PATH` or `KUJENGA_CONFIG`) → `KUJENGA_*` environment variables
//! (nested keys with `__`, e.g. `KUJENGA_DATABASE__POOL_SIZE`) and
//! `DATABASE_URL` → command-line flags. Nothing else in the code reads the
//! environment. Every setting is documented in `kujenga.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Everything the application can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds to; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Folder for the SQLite database, the signing key and the mail folder.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; defaults to `<data_dir>/kujenga.db`.
    #[serde(default)]
    pub database_url: Option<SecretString>,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub platform: PlatformSettings,
    pub mail: MailSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub access: AccessSettings,
    pub feed: FeedSettings,
    pub webhooks: WebhookSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Maximum connections in the pool.
    pub pool_size: u32,
    /// Seconds to wait for a connection (start-up, and each request).
    pub connect_timeout_secs: u64,
    /// Run pending migrations when the server starts.
    pub run_migrations: bool,
    /// SQLite only: milliseconds a writer waits for a lock.
    pub sqlite_busy_timeout_ms: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Origins allowed to call the API from a browser (exact match, e.g. `https://app.example.org`).
    pub cors_allowed_origins: Vec<String>,
    /// Hours an `Idempotency-Key` and its stored response are kept.
    pub idempotency_ttl_hours: u32,
    /// Addresses of reverse proxies / load balancers in front of Kujenga.
    /// When a request comes from one of them, the client's address is read
    /// from `X-Forwarded-For` (the rightmost entry that is not itself a
    /// trusted proxy); otherwise the header is ignored, so clients cannot
    /// spoof it. Used by the per-IP rate limits.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds a client has to send a whole request body (408 and the
    /// connection closed beyond).
    pub body_timeout_secs: u64,
    /// Seconds a whole request may take, from its head to the answer
    /// (408 and the connection closed beyond).
    pub request_timeout_secs: u64,
    /// Memory for the anonymous catalogue cache, in MiB (0 turns it off):
    /// rendered public answers kept until the data changes.
    pub public_cache_mib: u32,
    /// How often, in milliseconds, the server looks for writes made by
    /// other processes on the same database (other instances, `kujenga`
    /// commands), to stop serving cached answers they made stale.
    pub public_cache_poll_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter, e.g. `info` or `kujenga=debug,actix_web=info`.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSettings {
    /// Name shown in emails and the API description.
    pub name: String,
    /// Base URL of the frontend that links in emails point to.
    pub frontend_url: String,
    /// The API's public origin (scheme, host, port; no path), as harvesters
    /// and citations name it: the OAI-PMH `baseURL` and identifiers,
    /// citation URLs, signposting links. Request headers are never trusted
    /// to build these.
    #[serde(default = "default_public_url")]
    pub public_url: String,
}

fn default_public_url() -> String {
    "http://localhost:8080".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// One `.eml` file per email under `mail.dir`.
    File,
    /// Only a log line per email.
    Log,
    /// Deliver over SMTP (`[mail.smtp]`).
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection (a relay on localhost, tests).
    None,
    /// STARTTLS required (usually port 587).
    Starttls,
    /// Implicit TLS (usually port 465).
    Tls,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `file` (default), `log` or `smtp`.
    pub transport: MailTransport,
    /// The From address, e.g. `Kujenga <no-reply@example.org>`; its domain
    /// also names the Message-IDs.
    pub from: String,
    /// Folder for `.eml` files of the `file` transport; defaults to `<data_dir>/mail`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Run the delivery worker inside `kujenga serve`.
    pub worker: bool,
    /// Emails claimed per round.
    pub batch_size: u32,
    /// Emails sent at once by one worker.
    pub concurrency: u32,
    /// Milliseconds between polls when idle (enqueues wake the worker at once).
    pub poll_interval_ms: u64,
    /// Seconds a claim lasts; a claim of a worker that died is retried after it.
    pub lease_secs: u64,
    /// Delivery attempts before an email is `dead`.
    pub max_attempts: u32,
    /// First retry delay ceiling in milliseconds; doubles per attempt.
    pub retry_base_ms: u64,
    /// Largest retry delay in milliseconds.
    pub retry_max_ms: u64,
    /// Full jitter: each delay is random between 0 and its ceiling.
    pub retry_jitter: bool,
    pub smtp: SmtpSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `starttls` (default), `tls` (implicit) or `none`.
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
    /// Seconds for connecting and for each SMTP command.
    pub timeout_secs: u64,
    /// Connections kept open to the server.
    pub pool_size: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Token-signing key file; generated on first start. Defaults to
    /// `<data_dir>/signing-key.json`. Point several instances at one file
    /// (or copy it) so they accept each other's tokens.
    #[serde(default)]
    pub signing_key_file: Option<PathBuf>,
    /// Older key files whose tokens are still accepted (key rotation).
    pub previous_signing_key_files: Vec<PathBuf>,
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Lifetime of access tokens, seconds.
    pub access_token_ttl_secs: u32,
    /// Lifetime of refresh tokens, days.
    pub refresh_token_ttl_days: u32,
    /// Lifetime of email verification links, hours.
    pub verification_ttl_hours: u32,
    /// Lifetime of password reset links, minutes.
    pub password_reset_ttl_minutes: u32,
    /// argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (OWASP: 2).
    pub argon2_iterations: u32,
    /// argon2id parallelism (OWASP: 1).
    pub argon2_parallelism: u32,
    /// Failed logins for one address before it is throttled.
    pub lockout_threshold: u32,
    /// First lock-out, seconds; doubles with each further failure.
    pub lockout_base_secs: u32,
    /// Longest lock-out, seconds.
    pub lockout_max_secs: u32,
    /// Failed logins for one address from all clients (in a day) before
    /// the address-wide brake spaces out attempts from clients that have
    /// not signed in to it before.
    pub brake_threshold: u32,
    /// Once braked, such attempts are spaced this many seconds apart.
    pub brake_interval_secs: u32,
    /// An attempt that would wait longer than this for its turn is
    /// answered 429 with Retry-After instead.
    pub brake_max_wait_secs: u32,
    /// A client address that signed in to an account (or reset its
    /// password) is known to it for this many days: the brake lets it by.
    pub known_client_days: u32,
    /// Least seconds between two emailed links (password reset, email
    /// verification) for one address.
    pub email_link_interval_secs: u32,
    /// Most emailed links of one kind per address in 24 hours.
    pub email_links_per_day: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Registrations per client IP per hour.
    pub register_per_hour: u32,
    /// Login attempts per client IP per minute.
    pub login_per_minute: u32,
    /// Token refreshes per client IP per minute.
    pub refresh_per_minute: u32,
    /// Password reset requests per client IP per hour.
    pub password_reset_per_hour: u32,
}

/// Dataset access requests, grants and file links.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSettings {
    /// A request nobody decided expires after this many days.
    pub pending_expiry_days: u32,
    /// The deciders are reminded of a request pending this many days (and
    /// again after each further period).
    pub reminder_after_days: u32,
    /// How long an issued file link works, minutes.
    pub link_ttl_minutes: u32,
    /// The longest grant a request may ask for, days.
    pub max_duration_days: u32,
}

/// The change feed (`GET /api/v1/changes`, docs/FEED.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSettings {
    /// How long changes are kept, seconds (default 30 days): a cursor older
    /// than the oldest change kept answers 410 `resync-required`.
    pub retention_secs: u64,
}

/// Webhooks: who may be reached, and how the delivery worker behaves.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Hosts (names or addresses, as in URLs) that targets may reach over
    /// plain http and that the SSRF guard lets through (tests, intranets).
    pub allowed_insecure_hosts: Vec<String>,
    /// Run the delivery worker inside `serve` (`kujenga worker` always does).
    pub worker: bool,
    /// How often the worker looks for due messages, milliseconds.
    pub poll_interval_ms: u64,
    /// Messages claimed per round.
    pub batch_size: u32,
    /// Deliveries in flight at once per worker.
    pub concurrency: u32,
    /// How long a claim lasts before another worker may take the message over.
    pub lease_secs: u64,
    /// TCP (and TLS) connection timeout, milliseconds.
    pub connect_timeout_ms: u64,
    /// The whole request's timeout (answer included), milliseconds.
    pub timeout_ms: u64,
    /// A subscription is disabled (and its owners emailed) after this many
    /// failed attempts in a row.
    pub max_consecutive_failures: u32,
    /// Multiplies every delay of the retry schedule and of `Retry-After`
    /// (1.0 in production; tests shorten the clock with it).
    pub retry_scale: f64,
    /// After a secret rotation, how long the previous secret still signs
    /// (both signatures are sent), hours.
    pub rotation_overlap_hours: u32,
    /// How long delivered and finally failed messages (and their attempts)
    /// stay in the delivery log before the hourly housekeeping deletes
    /// them, seconds (default 30 days; at least an hour).
    pub retention_secs: u64,
}

/// The defaults, as one serialisable tree (the bottom layer of the figment).
#[derive(Serialize)]
struct Defaults {
    bind: String,
    data_dir: PathBuf,
    database: DatabaseSettings,
    http: HttpSettings,
    log: LogSettings,
    platform: PlatformSettings,
    mail: MailSettings,
    auth: AuthSettings,
    rate_limit: RateLimitSettings,
    access: AccessSettings,
    feed: FeedSettings,
    webhooks: WebhookSettings,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database: DatabaseSettings {
                pool_size: 10,
                connect_timeout_secs: 5,
                run_migrations: true,
                sqlite_busy_timeout_ms: 5000,
            },
            http: HttpSettings {
                body_limit_bytes: 1024 * 1024,
                workers: 0,
                shutdown_timeout_secs: 30,
                cors_allowed_origins: Vec::new(),
                idempotency_ttl_hours: 24,
                trusted_proxies: Vec::new(),
                body_timeout_secs: 30,
                request_timeout_secs: 60,
                public_cache_mib: 16,
                public_cache_poll_ms: 500,
            },
            log: LogSettings {
                level: "info".into(),
                format: LogFormat::Text,
            },
            platform: PlatformSettings {
                name: "Kujenga".into(),
                frontend_url: "http://localhost:3000".into(),
                public_url: default_public_url(),
            },
            mail: MailSettings {
                transport: MailTransport::File,
                from: "Kujenga <no-reply@kujenga.localhost>".into(),
                dir: None,
                worker: true,
                batch_size: 16,
                concurrency: 8,
                poll_interval_ms: 2000,
                lease_secs: 60,
                max_attempts: 8,
                retry_base_ms: 30_000,
                retry_max_ms: 3_600_000,
                retry_jitter: true,
                smtp: SmtpSettings {
                    host: "localhost".into(),
                    port: 587,
                    security: SmtpSecurity::Starttls,
                    username: None,
                    password: None,
                    timeout_secs: 15,
                    pool_size: 8,
                },
            },
            auth: AuthSettings {
                signing_key_file: None,
                previous_signing_key_files: Vec::new(),
                issuer: "kujenga".into(),
                audience: "kujenga-api".into(),
                access_token_ttl_secs: 900,
                refresh_token_ttl_days: 30,
                verification_ttl_hours: 48,
                password_reset_ttl_minutes: 60,
                argon2_memory_kib: 19456,
                argon2_iterations: 2,
                argon2_parallelism: 1,
                lockout_threshold: 5,
                lockout_base_secs: 1,
                lockout_max_secs: 900,
                brake_threshold: 20,
                brake_interval_secs: 5,
                brake_max_wait_secs: 10,
                known_client_days: 90,
                email_link_interval_secs: 300,
                email_links_per_day: 5,
            },
            rate_limit: RateLimitSettings {
                register_per_hour: 20,
                login_per_minute: 30,
                refresh_per_minute: 60,
                password_reset_per_hour: 10,
            },
            access: AccessSettings {
                pending_expiry_days: 30,
                reminder_after_days: 7,
                link_ttl_minutes: 15,
                max_duration_days: 730,
            },
            feed: FeedSettings {
                retention_secs: 30 * 24 * 3600,
            },
            webhooks: WebhookSettings {
                allowed_insecure_hosts: Vec::new(),
                worker: true,
                poll_interval_ms: 1000,
                batch_size: 32,
                concurrency: 16,
                lease_secs: 60,
                connect_timeout_ms: 5000,
                timeout_ms: 15_000,
                max_consecutive_failures: 50,
                retry_scale: 1.0,
                rotation_overlap_hours: 24,
                retention_secs: 30 * 24 * 3600,
            },
        }
    }
}

/// A setting that cannot be used; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{setting}`: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

/// Values given on the command line; they win over every other source.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Settings {
    /// Loads settings from every source. `env` is the process environment
    /// (passed in so tests can supply their own).
    pub fn load(
        config_file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Defaults::default()));
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "config",
                    format!("file {} does not exist", path.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let kujenga_env: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with("KUJENGA_"))
            .filter(|(k, _)| k != "KUJENGA_CONFIG" && !k.starts_with("KUJENGA_TEST_"))
            .cloned()
            .collect();
        let database_url = env
            .iter()
            .find(|(k, _)| k == "DATABASE_URL")
            .map(|(_, v)| v.clone());
        for (var, value) in &kujenga_env {
            let key = env_key(var);
            // String settings stay strings (`KUJENGA_PLATFORM__NAME=2024`);
            // the others are parsed like TOML values (numbers, booleans, lists).
            let value: figment::value::Value = if STRING_KEYS.contains(&key.as_str()) {
                figment::value::Value::from(value.clone())
            } else {
                match value.parse() {
                    Ok(v) => v,
                    Err(never) => match never {},
                }
            };
            figment = figment.merge(Serialized::default(&key, value));
        }
        if let Some(url) = database_url {
            figment = figment.merge(Serialized::default("database_url", url));
        }
        if let Some(bind) = &overrides.bind {
            figment = figment.merge(Serialized::default("bind", bind));
        }
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("data_dir", dir));
        }
        let settings: Settings = figment.extract().map_err(|err| {
            let err = err.into_iter().next();
            match err {
                Some(e) => {
                    let setting = if e.path.is_empty() {
                        match &e.kind {
                            figment::error::Kind::UnknownField(f, _) => f.clone(),
                            _ => "settings".to_string(),
                        }
                    } else {
                        let mut p = e.path.join(".");
                        if let figment::error::Kind::UnknownField(f, _) = &e.kind
                            && e.path.last() != Some(f)
                        {
                            p = format!("{p}.{f}");
                        }
                        p
                    };
                    let source = kujenga_env
                        .iter()
                        .find(|(var, _)| env_key(var) == setting)
                        .map(|(var, _)| format!(" (from environment variable {var})"))
                        .or_else(|| config_file.map(|f| format!(" (from {})", f.display())))
                        .unwrap_or_default();
                    ConfigError::new(setting, format!("{}{source}", e.kind))
                }
                None => ConfigError::new("settings", "could not be read"),
            }
        })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate_webhooks(&self) -> Result<(), ConfigError> {
        let w = &self.webhooks;
        if w.batch_size == 0 || w.concurrency == 0 || w.poll_interval_ms == 0 {
            return Err(ConfigError::new(
                "webhooks",
                "batch_size, concurrency and poll_interval_ms must be at least 1",
            ));
        }
        if w.connect_timeout_ms == 0 || w.timeout_ms == 0 {
            return Err(ConfigError::new(
                "webhooks.timeout_ms",
                "connect_timeout_ms and timeout_ms must be at least 1",
            ));
        }
        // A lease must outlast a whole batch (deliveries run `concurrency`
        // at a time, each at most `timeout_ms`).
        let rounds = u64::from(w.batch_size.div_ceil(w.concurrency));
        if w.lease_secs.saturating_mul(1000) <= rounds.saturating_mul(w.timeout_ms) {
            return Err(ConfigError::new(
                "webhooks.lease_secs",
                format!(
                    "must outlast a batch: more than {} ms (batch_size / concurrency × timeout_ms)",
                    rounds.saturating_mul(w.timeout_ms)
                ),
            ));
        }
        if !(w.retry_scale.is_finite() && w.retry_scale >= 0.0) {
            return Err(ConfigError::new(
                "webhooks.retry_scale",
                "must be a number, 0 or more",
            ));
        }
        if w.max_consecutive_failures == 0 {
            return Err(ConfigError::new(
                "webhooks.max_consecutive_failures",
                "must be at least 1",
            ));
        }
        // The delivery log (and redelivery) need the messages for a while;
        // beyond `i64` seconds the clock arithmetic would overflow.
        if !(3600..=100 * 365 * 24 * 3600).contains(&w.retention_secs) {
            return Err(ConfigError::new(
                "webhooks.retention_secs",
                "must be between 3600 (an hour) and 3153600000 (100 years)",
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_webhooks()?;
        if self.database.pool_size == 0 {
            return Err(ConfigError::new("database.pool_size", "must be at least 1"));
        }
        if self.database.connect_timeout_secs == 0 {
            return Err(ConfigError::new(
                "database.connect_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.http.body_limit_bytes < 1024 {
            return Err(ConfigError::new(
                "http.body_limit_bytes",
                "must be at least 1024",
            ));
        }
        if self.http.body_timeout_secs == 0 {
            return Err(ConfigError::new(
                "http.body_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.http.request_timeout_secs < self.http.body_timeout_secs {
            return Err(ConfigError::new(
                "http.request_timeout_secs",
                "must be at least http.body_timeout_secs",
            ));
        }
        if !(50..=60_000).contains(&self.http.public_cache_poll_ms) {
            return Err(ConfigError::new(
                "http.public_cache_poll_ms",
                "must be between 50 and 60000",
            ));
        }
        if self.http.idempotency_ttl_hours == 0 {
            return Err(ConfigError::new(
                "http.idempotency_ttl_hours",
                "must be at least 1",
            ));
        }
        for origin in &self.http.cors_allowed_origins {
            // Exactly the serialised origin: scheme, lowercase ASCII host,
            // port if not the default; no path, query or user info.
            let ok = url::Url::parse(origin)
                .map(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.origin().ascii_serialization() == *origin
                })
                .unwrap_or(false);
            if !ok {
                return Err(ConfigError::new(
                    "http.cors_allowed_origins",
                    format!("`{origin}` is not an origin like https://app.example.org"),
                ));
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(ConfigError::new(
                "log.level",
                format!("`{}` is not a log filter", self.log.level),
            ));
        }
        match url::Url::parse(&self.platform.frontend_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(ConfigError::new(
                    "platform.frontend_url",
                    "must be an http or https URL",
                ));
            }
        }
        match url::Url::parse(&self.platform.public_url) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty() => {}
            _ => {
                return Err(ConfigError::new(
                    "platform.public_url",
                    "must be an http or https origin without path, query or user info",
                ));
            }
        }
        if self.platform.name.trim().is_empty() {
            return Err(ConfigError::new("platform.name", "must not be empty"));
        }
        self.validate_mail()?;
        self.validate_auth()?;
        self.database_target()?;
        Ok(())
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        let a = &self.auth;
        let positive: [(&str, u32); 19] = [
            ("auth.brake_threshold", a.brake_threshold),
            ("auth.brake_interval_secs", a.brake_interval_secs),
            ("auth.known_client_days", a.known_client_days),
            ("auth.email_links_per_day", a.email_links_per_day),
            (
                "access.pending_expiry_days",
                self.access.pending_expiry_days,
            ),
            (
                "access.reminder_after_days",
                self.access.reminder_after_days,
            ),
            ("access.link_ttl_minutes", self.access.link_ttl_minutes),
            ("access.max_duration_days", self.access.max_duration_days),
            ("auth.access_token_ttl_secs", a.access_token_ttl_secs),
            ("auth.refresh_token_ttl_days", a.refresh_token_ttl_days),
            ("auth.verification_ttl_hours", a.verification_ttl_hours),
            (
                "auth.password_reset_ttl_minutes",
                a.password_reset_ttl_minutes,
            ),
            ("auth.argon2_iterations", a.argon2_iterations),
            ("auth.argon2_parallelism", a.argon2_parallelism),
            ("auth.lockout_threshold", a.lockout_threshold),
            (
                "rate_limit.register_per_hour",
                self.rate_limit.register_per_hour,
            ),
            (
                "rate_limit.login_per_minute",
                self.rate_limit.login_per_minute,
            ),
            (
                "rate_limit.refresh_per_minute",
                self.rate_limit.refresh_per_minute,
            ),
            (
                "rate_limit.password_reset_per_hour",
                self.rate_limit.password_reset_per_hour,
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::new(name, "must be at least 1"));
            }
        }
        for (name, value, max) in [
            (
                "access.pending_expiry_days",
                self.access.pending_expiry_days,
                3650,
            ),
            (
                "access.reminder_after_days",
                self.access.reminder_after_days,
                3650,
            ),
            (
                "access.max_duration_days",
                self.access.max_duration_days,
                3650,
            ),
            (
                "access.link_ttl_minutes",
                self.access.link_ttl_minutes,
                1440,
            ),
        ] {
            if value > max {
                return Err(ConfigError::new(name, format!("must be at most {max}")));
            }
        }
        if a.lockout_base_secs == 0 || a.lockout_max_secs < a.lockout_base_secs {
            return Err(ConfigError::new(
                "auth.lockout_base_secs",
                "lock-outs need 0 < lockout_base_secs <= lockout_max_secs",
            ));
        }
        if a.argon2_memory_kib < 8 * a.argon2_parallelism {
            return Err(ConfigError::new(
                "auth.argon2_memory_kib",
                "must be at least 8 × argon2_parallelism",
            ));
        }
        if a.issuer.trim().is_empty() || a.audience.trim().is_empty() {
            return Err(ConfigError::new(
                "auth.issuer",
                "issuer and audience must be set",
            ));
        }
        Ok(())
    }

    fn validate_mail(&self) -> Result<(), ConfigError> {
        let mail = &self.mail;
        if mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "mail.from",
                format!("`{}` is not an email address", mail.from),
            ));
        }
        let positive: [(&str, u64); 7] = [
            ("mail.batch_size", u64::from(mail.batch_size)),
            ("mail.concurrency", u64::from(mail.concurrency)),
            ("mail.poll_interval_ms", mail.poll_interval_ms),
            ("mail.lease_secs", mail.lease_secs),
            ("mail.max_attempts", u64::from(mail.max_attempts)),
            ("mail.smtp.timeout_secs", mail.smtp.timeout_secs),
            ("mail.smtp.pool_size", u64::from(mail.smtp.pool_size)),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::new(name, "must be at least 1"));
            }
        }
        // A claim must outlast a whole batch even when every send takes the
        // full SMTP timeout (twice: connect and data), or another worker
        // takes over emails still being sent and sends them twice.
        let rounds = u64::from(mail.batch_size).div_ceil(u64::from(mail.concurrency));
        let needed = rounds * mail.smtp.timeout_secs * 2;
        if mail.lease_secs < needed {
            return Err(ConfigError::new(
                "mail.lease_secs",
                format!(
                    "must be at least 2 × mail.smtp.timeout_secs × ⌈mail.batch_size / \
                     mail.concurrency⌉ = {needed} (the longest a batch can take); \
                     raise it or lower the batch size"
                ),
            ));
        }
        if mail.retry_base_ms == 0 || mail.retry_max_ms < mail.retry_base_ms {
            return Err(ConfigError::new(
                "mail.retry_max_ms",
                "retry delays need 0 < retry_base_ms <= retry_max_ms",
            ));
        }
        if mail.transport == MailTransport::Smtp && mail.smtp.host.trim().is_empty() {
            return Err(ConfigError::new("mail.smtp.host", "must not be empty"));
        }
        if mail.smtp.username.is_some() != mail.smtp.password.is_some() {
            return Err(ConfigError::new(
                "mail.smtp.password",
                "set both mail.smtp.username and mail.smtp.password, or neither",
            ));
        }
        Ok(())
    }

    /// The database URL in force (the default SQLite file if none was given).
    pub fn database_url(&self) -> SecretString {
        match &self.database_url {
            Some(url) => url.clone(),
            None => SecretString::from(format!(
                "sqlite://{}",
                self.data_dir.join("kujenga.db").display()
            )),
        }
    }

    /// The backend and a printable description of the database (host and
    /// database name, or file path; never a password).
    pub fn database_target(&self) -> Result<(Backend, String), ConfigError> {
        let url = self.database_url();
        describe_database_url(url.expose_secret())
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.mail
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("mail"))
    }

    pub fn signing_key_file(&self) -> PathBuf {
        self.auth
            .signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing-key.json"))
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.database.connect_timeout_secs)
    }
}

/// Splits a database URL into its backend and a description safe to log.
pub fn describe_database_url(url: &str) -> Result<(Backend, String), ConfigError> {
    if let Some(path) = sqlite_path(url) {
        if path.as_os_str().is_empty() {
            return Err(ConfigError::new("database_url", "the SQLite path is empty"));
        }
        let text = path.to_string_lossy();
        if text.contains(":memory:") || text.contains("mode=memory") {
            return Err(ConfigError::new(
                "database_url",
                "an in-memory SQLite database is not shared between pool connections; use a file",
            ));
        }
        return Ok((Backend::Sqlite, format!("sqlite {}", path.display())));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let parsed = url::Url::parse(url).map_err(|e| {
            ConfigError::new("database_url", format!("not a valid PostgreSQL URL: {e}"))
        })?;
        let host = parsed.host_str().unwrap_or("localhost");
        let port = parsed.port().unwrap_or(5432);
        let db = parsed.path().trim_start_matches('/');
        return Ok((Backend::Postgres, format!("postgres {host}:{port}/{db}")));
    }
    Err(ConfigError::new(
        "database_url",
        "must start with sqlite:// or postgres:// (or postgresql://)",
    ))
}

/// The file path of a `sqlite://` or `sqlite:` URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(PathBuf::from)
}

/// Settings whose values are strings, whatever they look like.
const STRING_KEYS: &[&str] = &[
    "bind",
    "data_dir",
    "database_url",
    "log.level",
    "platform.name",
    "platform.frontend_url",
    "platform.public_url",
    "mail.dir",
    "mail.from",
    "mail.smtp.host",
    "mail.smtp.username",
    "mail.smtp.password",
    "auth.signing_key_file",
    "auth.issuer",
    "auth.audience",
];

/// The settings key a `KUJENGA_*` variable sets: `KUJENGA_DATABASE__POOL_SIZE`
/// → `database.pool_size`.
fn env_key(var: &str) -> String {
    var["KUJENGA_".len()..]
        .to_ascii_lowercase()
        .replace("__", ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load(None, &env, &Overrides::default())
    }

    #[test]
    fn defaults_are_valid() {
        let s = load(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("data"));
        let (backend, desc) = s.database_target().unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert_eq!(desc, "sqlite data/kujenga.db");
        assert_eq!(s.http.body_limit_bytes, 1024 * 1024);
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let s = Settings {
            database_url: Some(SecretString::from(
                "postgres://kujenga:s3cr3t-pw@db.example.org/kujenga",
            )),
            ..load(&[]).unwrap()
        };
        let mut s = s;
        s.mail.smtp.username = Some("mailer".into());
        s.mail.smtp.password = Some(SecretString::from("smtp-pa55word"));
        let printed = format!("{s:?}");
        assert!(!printed.contains("s3cr3t-pw"), "{printed}");
        assert!(!printed.contains("smtp-pa55word"), "{printed}");
        let (_, desc) = s.database_target().unwrap();
        assert_eq!(desc, "postgres db.example.org:5432/kujenga");
    }

    #[test]
    fn file_then_overrides_layering() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kujenga.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:9000\"\n[database]\npool_size = 3\n",
        )
        .unwrap();
        let s = Settings::load(Some(&file), &[], &Overrides::default()).unwrap();
        assert_eq!(s.bind.port(), 9000);
        assert_eq!(s.database.pool_size, 3);
        let s = Settings::load(
            Some(&file),
            &[],
            &Overrides {
                bind: Some("127.0.0.1:0".into()),
                data_dir: None,
            },
        )
        .unwrap();
        assert_eq!(s.bind.port(), 0);
        assert_eq!(s.database.pool_size, 3);
    }

    #[test]
    fn environment_beats_the_file_and_database_url_beats_its_alias() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kujenga.toml");
        std::fs::write(
            &file,
            "[database]\npool_size = 3\n[platform]\nname = \"File\"\n",
        )
        .unwrap();
        let env: Vec<(String, String)> = [
            ("KUJENGA_DATABASE__POOL_SIZE", "7"),
            ("KUJENGA_PLATFORM__NAME", "2024"),
            ("KUJENGA_DATABASE_URL", "sqlite://alias.db"),
            ("DATABASE_URL", "sqlite://winner.db"),
            ("KUJENGA_TEST_POSTGRES_URL", "postgres://ignored"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = Settings::load(Some(&file), &env, &Overrides::default()).unwrap();
        assert_eq!(s.database.pool_size, 7);
        assert_eq!(s.platform.name, "2024", "string settings stay strings");
        assert_eq!(s.database_target().unwrap().1, "sqlite winner.db");
    }

    #[test]
    fn environment_errors_name_the_variable() {
        let err = load(&[("KUJENGA_DATABASE__POOL_SIZE", "many")]).unwrap_err();
        assert_eq!(err.setting, "database.pool_size");
        assert!(err.message.contains("KUJENGA_DATABASE__POOL_SIZE"), "{err}");
    }

    #[test]
    fn origins_must_be_exact() {
        for (origin, ok) in [
            ("https://app.example.org", true),
            ("http://localhost:3000", true),
            ("https://app.example.org/", false),
            ("https://APP.example.org", false),
            ("https://app.example.org?x=1", false),
            ("https://user@app.example.org", false),
            ("https://app.example.org:443", false),
        ] {
            let value = format!("[\"{origin}\"]");
            let result = load(&[("KUJENGA_HTTP__CORS_ALLOWED_ORIGINS", &value)]);
            assert_eq!(result.is_ok(), ok, "{origin}");
        }
    }

    #[test]
    fn in_memory_sqlite_is_refused() {
        for url in [
            "sqlite://:memory:",
            "sqlite::memory:",
            "sqlite://file:x?mode=memory",
        ] {
            let err = load(&[("DATABASE_URL", url)]).unwrap_err();
            assert_eq!(err.setting, "database_url", "{url}");
        }
    }

    #[test]
    fn invalid_settings_name_the_setting() {
        let cases: &[(&str, &str, &str)] = &[
            ("bind", "not-an-address", "bind"),
            ("database.pool_size", "0", "database.pool_size"),
            ("http.body_limit_bytes", "12", "http.body_limit_bytes"),
            ("http.body_timeout_secs", "0", "http.body_timeout_secs"),
            (
                "http.request_timeout_secs",
                "10",
                "http.request_timeout_secs",
            ),
            // A claim must outlast a batch: 2 × 15 s × ⌈16 / 8⌉ = 60 s.
            ("mail.lease_secs", "59", "mail.lease_secs"),
            ("mail.batch_size", "17", "mail.lease_secs"),
            ("auth.brake_threshold", "0", "auth.brake_threshold"),
            ("webhooks.retention_secs", "3599", "webhooks.retention_secs"),
            (
                "webhooks.retention_secs",
                "9223372036854775807",
                "webhooks.retention_secs",
            ),
            ("auth.email_links_per_day", "0", "auth.email_links_per_day"),
            (
                "http.cors_allowed_origins",
                "[\"ftp://x\"]",
                "http.cors_allowed_origins",
            ),
            (
                "platform.frontend_url",
                "\"javascript:alert(1)\"",
                "platform.frontend_url",
            ),
            ("database_url", "\"mysql://x\"", "database_url"),
            ("log.format", "\"xml\"", "log.format"),
            ("nonsense", "1", "nonsense"),
        ];
        for (key, value, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("k.toml");
            let (section, leaf) = match key.split_once('.') {
                Some((s, l)) => (Some(s), l),
                None => (None, *key),
            };
            let value = if *key == "bind" {
                format!("\"{value}\"")
            } else {
                value.to_string()
            };
            let text = match section {
                Some(s) => format!("[{s}]\n{leaf} = {value}\n"),
                None => format!("{leaf} = {value}\n"),
            };
            std::fs::write(&file, text).unwrap();
            let err = Settings::load(Some(&file), &[], &Overrides::default())
                .expect_err(&format!("{key} should be rejected"));
            assert!(
                err.setting.contains(expected),
                "case {key}: error names `{}` ({err})",
                err.setting
            );
        }
    }
}
