//! The webhook delivery worker: claims due messages under a lease (the
//! email outbox's discipline: `db::webhooks::claim`), POSTs them signed
//! (Standard Webhooks 1.0), records every attempt, and retries on the
//! Standard Webhooks schedule. Runs inside `serve` and in `kujenga worker`;
//! several workers may share one database.
//!
//! The HTTP client follows no redirect, uses no proxy, sends no credential
//! of the platform, times out (connect and whole request), reads at most
//! 64 kB of an answer, and resolves names through [`GuardedResolver`]: it
//! refuses a host any of whose addresses is not global (unless the host is
//! in `webhooks.allowed_insecure_hosts`) and hands the connector only the
//! addresses it checked, so nothing resolves the name again between the
//! check and the connection. Literal addresses were checked already
//! (`domain::webhook::parse_target`, again at each delivery).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::config::WebhookSettings;
use crate::db::webhooks::{self as store, Attempt, Claimed, Outcome, SubscriptionRow};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::webhook::{self as rules, Secret};
use crate::http::metrics::Metrics;
use crate::mail::{Email, Outbox, Template};

/// The most of an answer's body read.
pub const MAX_BODY: usize = 64 * 1024;
/// The most of an answer's body kept in the delivery log.
pub const EXCERPT: usize = 1024;

/// Why the resolver refused a host (the SSRF guard).
#[derive(Debug, thiserror::Error)]
#[error("refused by the SSRF guard: {0}")]
pub struct Refused(pub String);

/// A DNS resolver that refuses hosts resolving to any non-global address.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allowed: Arc<Vec<String>>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !rules::host_allowed(&host, &allowed) {
                if addrs.is_empty() {
                    return Err(Box::new(Refused(format!("{host} resolves to no address")))
                        as Box<dyn std::error::Error + Send + Sync>);
                }
                for a in &addrs {
                    if let Some(reason) = rules::forbidden_address(a.ip()) {
                        return Err(Box::new(Refused(format!(
                            "{host} resolves to {}, a {reason}",
                            a.ip()
                        )))
                            as Box<dyn std::error::Error + Send + Sync>);
                    }
                }
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The delivery client (see the module's notes).
pub fn client(settings: &WebhookSettings) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .no_gzip()
        .no_brotli()
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .timeout(Duration::from_millis(settings.timeout_ms))
        .user_agent(concat!("Kujenga-Webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver {
            allowed: Arc::new(settings.allowed_insecure_hosts.clone()),
        }))
        .build()?)
}

/// A worker; several may run against one database.
#[derive(Debug, Clone)]
pub struct Deliverer {
    db: Db,
    client: reqwest::Client,
    settings: WebhookSettings,
    outbox: Arc<Outbox>,
    id: String,
    metrics: Option<Metrics>,
}

/// What one attempt came to.
struct Result_ {
    status: Option<u16>,
    excerpt: Option<String>,
    error: Option<String>,
    retry_after: Option<Duration>,
    refused: bool,
}

impl Deliverer {
    pub fn new(
        db: Db,
        settings: &WebhookSettings,
        outbox: Arc<Outbox>,
        metrics: Option<Metrics>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            client: client(settings)?,
            settings: settings.clone(),
            outbox,
            id: format!(
                "{}-{}-{}",
                std::env::var("HOSTNAME")
                    .ok()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "kujenga".into()),
                std::process::id(),
                &uuid::Uuid::now_v7().simple().to_string()[20..]
            ),
            metrics,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown` turns true; finishes the batch in hand first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, "webhook worker started");
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.run_once().await {
                Ok(claimed) if claimed > 0 => continue,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(worker = %self.id, error = %err, "webhook worker round failed")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.id, "webhook worker stopped");
    }

    /// Claims one batch and delivers it; returns how many were claimed.
    pub async fn run_once(&self) -> Result<usize, crate::db::RunError<diesel::result::Error>> {
        let worker = self.id.clone();
        let batch = i64::from(self.settings.batch_size);
        let lease =
            chrono::Duration::seconds(i64::try_from(self.settings.lease_secs).unwrap_or(60));
        let (claimed, subs) = self
            .db
            .run(move |conn| {
                let now = now();
                let claimed = store::claim(conn, &worker, now, now + lease, batch)?;
                let mut ids: Vec<String> =
                    claimed.iter().map(|c| c.subscription_id.clone()).collect();
                ids.sort();
                ids.dedup();
                let subs = store::by_ids(conn, &ids)?;
                Ok::<_, diesel::result::Error>((claimed, subs))
            })
            .await?;
        let count = claimed.len();
        let concurrency = usize::try_from(self.settings.concurrency)
            .unwrap_or(1)
            .max(1);
        futures_util::stream::iter(claimed)
            .for_each_concurrent(concurrency, |message| {
                let sub = subs
                    .iter()
                    .find(|s| s.id == message.subscription_id)
                    .cloned();
                async move {
                    if let Some(sub) = sub {
                        self.deliver(message, sub).await;
                    }
                }
            })
            .await;
        Ok(count)
    }

    async fn attempt(&self, message: &Claimed, sub: &SubscriptionRow) -> Result_ {
        let refused = |reason: String| {
            tracing::warn!(webhook = %sub.id, message = %message.id, url = %sub.url, %reason,
                "webhook delivery refused by the SSRF guard");
            Result_ {
                status: None,
                excerpt: None,
                error: Some(format!("refused by the SSRF guard: {reason}")),
                retry_after: None,
                refused: true,
            }
        };
        // Literal addresses and `localhost` (the resolver sees names only).
        let target = match rules::parse_target(&sub.url, &self.settings.allowed_insecure_hosts) {
            Ok(t) => t,
            Err(e) => return refused(e.message),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let mut secrets = Vec::new();
        if let Some(s) = Secret::parse(&sub.secret) {
            secrets.push(s);
        }
        if let (Some(prev), Some(until)) = (&sub.previous_secret, sub.previous_secret_until)
            && until > now()
            && let Some(s) = Secret::parse(prev)
        {
            secrets.push(s);
        }
        let signature = rules::signature_header(&secrets, &message.id, timestamp, &message.body);
        let sent = self
            .client
            .post(target.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(message.body.clone())
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(err) => {
                if let Some(r) = refusal_in(&err) {
                    return refused(r);
                }
                let kind = if err.is_timeout() {
                    "timed out"
                } else if err.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                };
                return Result_ {
                    status: None,
                    excerpt: None,
                    error: Some(format!("{kind}: {}", chain(&err))),
                    retry_after: None,
                    refused: false,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut body: Vec<u8> = Vec::new();
        let mut read_error = None;
        while body.len() < MAX_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_BODY - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(if e.is_timeout() {
                        "timed out reading the answer".to_string()
                    } else {
                        format!("reading the answer: {}", chain(&e))
                    });
                    break;
                }
            }
        }
        let excerpt = String::from_utf8_lossy(&body[..body.len().min(EXCERPT)]).into_owned();
        let error = match (read_error, status) {
            (Some(e), _) => Some(e),
            (None, 200..=299) => None,
            (None, s) => Some(format!("answered {s}")),
        };
        Result_ {
            // A 2xx whose body timed out still counts as delivered only if
            // read completely; a read timeout is retried like any timeout.
            status: Some(status),
            excerpt: Some(excerpt),
            error,
            retry_after,
            refused: false,
        }
    }

    async fn deliver(&self, message: Claimed, sub: SubscriptionRow) {
        let started_at = now();
        let clock = Instant::now();
        let result = self.attempt(&message, &sub).await;
        let latency = clock.elapsed();
        let finished = now();
        let in_round = message.attempts - message.round_start;
        let success =
            result.error.is_none() && result.status.is_some_and(|s| (200..300).contains(&s));
        let timed_out = result.status.is_none() && !result.refused;
        let retry = !success
            && !result.refused
            && (timed_out
                || result.status.is_some_and(rules::retryable)
                || result
                    .error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("timed out")));
        let gone = result.status == Some(410);
        let (outcome, label, retry_at) = if success {
            (Outcome::Delivered, "delivered", None)
        } else if retry {
            match rules::next_delay(in_round, result.retry_after, self.settings.retry_scale) {
                Some(delay) => {
                    let at: NaiveDateTime = finished
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(10));
                    (Outcome::Retry(at), "retry", Some(at))
                }
                None => (Outcome::Failed, "failed", None),
            }
        } else if result.refused {
            (Outcome::Failed, "refused", None)
        } else {
            (Outcome::Failed, "failed", None)
        };
        if let Some(m) = &self.metrics {
            m.observe_webhook(&message.event_type, label, latency.as_secs_f64());
        }
        match &outcome {
            Outcome::Delivered => tracing::info!(webhook = %sub.id, message = %message.id,
                attempt = message.attempts, "webhook delivered"),
            Outcome::Retry(at) => tracing::warn!(webhook = %sub.id, message = %message.id,
                attempt = message.attempts, error = ?result.error, retry_at = %at,
                "webhook delivery failed; will retry"),
            Outcome::Failed => tracing::warn!(webhook = %sub.id, message = %message.id,
                attempt = message.attempts, error = ?result.error, "webhook delivery failed"),
        }
        let attempt = Attempt {
            id: uuid::Uuid::now_v7().to_string(),
            message_id: message.id.clone(),
            attempt: message.attempts,
            worker: self.id.clone(),
            started_at,
            latency_ms: i64::try_from(latency.as_millis()).unwrap_or(i64::MAX),
            status_code: result.status.map(i32::from),
            outcome: label.to_string(),
            error: result.error.clone(),
            response_excerpt: result.excerpt.clone(),
            retry_at,
        };
        let worker = self.id.clone();
        let max = i32::try_from(self.settings.max_consecutive_failures).unwrap_or(i32::MAX);
        let outbox = self.outbox.clone();
        let sub_id = sub.id.clone();
        let recorded = self
            .db
            .run(move |conn| {
                write_transaction(conn, |conn| {
                    let finished =
                        store::finish(conn, &worker, &sub_id, &attempt, &outcome, now())?;
                    if !finished.recorded {
                        return Ok::<_, anyhow::Error>(false);
                    }
                    let reason = if gone {
                        Some(("gone", "the receiver answered 410 Gone".to_string()))
                    } else if finished.consecutive_failures >= max {
                        Some((
                            "failures",
                            format!("{} failed attempts in a row", finished.consecutive_failures),
                        ))
                    } else {
                        None
                    };
                    if let Some((word, text)) = reason
                        && store::disable(conn, &sub.id, word, now())?
                    {
                        tracing::warn!(webhook = %sub.id, reason = %text, "webhook disabled");
                        tell_owners(conn, &outbox, &sub, &text)?;
                    }
                    Ok(true)
                })
            })
            .await;
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::warn!(message = %message.id,
                "lease lost before the outcome was recorded"),
            Err(err) => tracing::error!(message = %message.id, error = %err,
                "could not record the outcome; the lease will expire and the message be retried"),
        }
    }
}

/// Emails the people who manage a subscription that it was disabled: the
/// institution's owners, or the partnership's coordinators (in the
/// caller's transaction, through the email outbox).
fn tell_owners(
    conn: &mut DbConnection,
    outbox: &Outbox,
    sub: &SubscriptionRow,
    reason: &str,
) -> anyhow::Result<()> {
    let (owner_name, people) = match (&sub.institution_id, &sub.partnership_id) {
        (Some(i), _) => {
            let name = crate::db::institutions::by_id(conn, i)?
                .map(|r| r.name)
                .unwrap_or_default();
            (
                name,
                crate::db::partnerships::owners_of(conn, std::slice::from_ref(i))?,
            )
        }
        (None, Some(p)) => {
            use diesel::prelude::*;
            let name = crate::db::schema::partnerships::table
                .filter(crate::db::schema::partnerships::id.eq(p))
                .select(crate::db::schema::partnerships::title)
                .first::<String>(conn)
                .optional()?
                .unwrap_or_default();
            let people = crate::db::partnerships::coordinators(conn, p)?
                .into_iter()
                .map(|(u, _)| u)
                .collect();
            (name, people)
        }
        (None, None) => return Ok(()),
    };
    for user_id in people {
        let Some(user) = crate::db::accounts::user_by_id(conn, &user_id)? else {
            continue;
        };
        if !user.active {
            continue;
        }
        let email = Email::new(
            user.email.clone(),
            Template::WebhookDisabled,
            serde_json::json!({
                "display_name": user.display_name,
                "owner": owner_name,
                "url": sub.url,
                "reason": reason,
                "webhook_id": sub.id,
            }),
        )
        .for_user(user.id.clone());
        outbox.enqueue(conn, email)?;
    }
    Ok(())
}

/// The SSRF guard's refusal, if that is what failed the request.
fn refusal_in(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r.0.clone());
        }
        source = e.source();
    }
    None
}

/// An error with its causes, one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out.chars().take(500).collect()
}

/// Shared so `serve` and `worker` build the worker the same way.
pub fn build(
    db: &Db,
    state: &crate::state::AppState,
    metrics: Option<Metrics>,
) -> anyhow::Result<Deliverer> {
    Deliverer::new(
        db.clone(),
        &state.settings.webhooks,
        state.outbox.clone(),
        metrics,
    )
}
