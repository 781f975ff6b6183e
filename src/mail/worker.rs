//! The delivery worker: claims due emails in batches under a lease, sends
//! them, and records every attempt. Transient failures retry with
//! exponential backoff and full jitter; permanent ones go to `dead`.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use futures_util::StreamExt;
use lettre::message::Mailbox;
use rand::Rng;
use tokio::sync::watch;

use super::transport::{SendError, Transport};
use crate::config::MailSettings;
use crate::db::outbox::{self, Attempt, Claimed, Outcome};
use crate::db::{Db, now};
use crate::http::metrics::Metrics;

/// Retry delays: the ceiling doubles per attempt from `base` up to `max`;
/// with jitter each delay is uniform in `[0, ceiling]` ("full jitter").
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    pub jitter: bool,
}

impl Backoff {
    /// The ceiling after attempt number `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.base.saturating_mul(factor).min(self.max)
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        if self.jitter {
            let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
            Duration::from_millis(rand::rng().random_range(0..=ms))
        } else {
            ceiling
        }
    }
}

/// A worker; several may run against one database (in one process or many).
#[derive(Debug, Clone)]
pub struct Worker {
    db: Db,
    transport: Transport,
    from: Mailbox,
    id: String,
    batch_size: i64,
    concurrency: usize,
    poll_interval: Duration,
    lease: Duration,
    backoff: Backoff,
    metrics: Option<Metrics>,
}

impl Worker {
    pub fn new(
        db: Db,
        transport: Transport,
        settings: &MailSettings,
        metrics: Option<Metrics>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            transport,
            from: settings
                .from
                .parse()
                .map_err(|e| anyhow::anyhow!("mail.from: {e}"))?,
            id: format!(
                "{}-{}-{}",
                hostname(),
                std::process::id(),
                &uuid::Uuid::now_v7().simple().to_string()[20..]
            ),
            batch_size: i64::from(settings.batch_size),
            concurrency: usize::try_from(settings.concurrency).unwrap_or(1).max(1),
            poll_interval: Duration::from_millis(settings.poll_interval_ms),
            // Exactly the setting: validation makes sure it outlasts a
            // whole batch (config::Settings::validate_mail).
            lease: Duration::from_secs(settings.lease_secs),
            backoff: Backoff {
                base: Duration::from_millis(settings.retry_base_ms),
                max: Duration::from_millis(settings.retry_max_ms),
                jitter: settings.retry_jitter,
            },
            metrics,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown` turns true; finishes the batch in hand first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let signal = self.db.outbox_signal();
        tracing::info!(worker = %self.id, transport = ?self.transport, "email worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.run_once().await {
                Ok(claimed) if claimed > 0 => continue,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(worker = %self.id, error = %err, "email worker round failed")
                }
            }
            tokio::select! {
                _ = signal.notified() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.id, "email worker stopped");
    }

    /// Claims one batch and delivers it; returns how many were claimed.
    pub async fn run_once(&self) -> Result<usize, crate::db::RunError<diesel::result::Error>> {
        let worker = self.id.clone();
        let batch = self.batch_size;
        let lease = chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(60));
        let claimed = self
            .db
            .run(move |conn| {
                let now = now();
                outbox::claim(conn, &worker, now, now + lease, batch)
            })
            .await?;
        let count = claimed.len();
        futures_util::stream::iter(claimed)
            .for_each_concurrent(self.concurrency, |email| self.deliver(email))
            .await;
        Ok(count)
    }

    async fn deliver(&self, email: Claimed) {
        let started_at = now();
        let clock = Instant::now();
        let result = self.transport.send(&self.from, &email).await;
        let elapsed = clock.elapsed();
        let finished_at = now();
        let attempt_no = u32::try_from(email.attempts).unwrap_or(1);
        let (outcome, label, error, retry_at) = match result {
            Ok(()) => (Outcome::Sent, "sent", None, None),
            Err(SendError::Permanent(e)) => (Outcome::Dead(e.clone()), "permanent", Some(e), None),
            Err(SendError::Transient(e)) if email.attempts >= email.max_attempts => (
                Outcome::Dead(format!("gave up after {} attempts: {e}", email.attempts)),
                "transient",
                Some(e),
                None,
            ),
            Err(SendError::Transient(e)) => {
                let delay = chrono::Duration::from_std(self.backoff.delay(attempt_no))
                    .unwrap_or(chrono::Duration::seconds(60));
                let at: NaiveDateTime = finished_at + delay;
                (
                    Outcome::Retry(at, e.clone()),
                    "transient",
                    Some(e),
                    Some(at),
                )
            }
        };
        if let Some(m) = &self.metrics {
            m.observe_email(label, elapsed.as_secs_f64());
        }
        match &outcome {
            Outcome::Sent => {
                tracing::info!(email = %email.id, to = %email.recipient, attempt = email.attempts, "email sent")
            }
            Outcome::Retry(at, e) => {
                tracing::warn!(email = %email.id, attempt = email.attempts, error = %e, retry_at = %at, "email delivery failed; will retry")
            }
            Outcome::Dead(e) => {
                tracing::error!(email = %email.id, attempt = email.attempts, error = %e, "email delivery failed for good")
            }
        }
        let attempt = Attempt {
            email_id: email.id.clone(),
            attempt: email.attempts,
            worker: self.id.clone(),
            started_at,
            finished_at,
            outcome: label.to_string(),
            error,
            retry_at,
        };
        let worker = self.id.clone();
        let recorded = self
            .db
            .run(move |conn| outbox::finish(conn, &worker, &attempt, &outcome, now()))
            .await;
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(email = %email.id, "lease lost before the outcome was recorded")
            }
            Err(err) => {
                tracing::error!(email = %email.id, error = %err, "could not record the outcome; the lease will expire and the email be retried")
            }
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kujenga".into())
}

/// Shared handle so `serve` and `worker` build the worker the same way.
pub fn build(
    db: &Db,
    settings: &crate::config::Settings,
    metrics: Option<Metrics>,
) -> anyhow::Result<Worker> {
    let transport = Transport::from_settings(&settings.mail, settings.mail_dir())?;
    Worker::new(db.clone(), transport, &settings.mail, metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            jitter: false,
        };
        let delays: Vec<u128> = (1..=6).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.ceiling(1000).as_millis(), 1000, "no overflow");
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling_and_varies() {
        let b = Backoff {
            base: Duration::from_millis(1000),
            max: Duration::from_secs(60),
            jitter: true,
        };
        let samples: Vec<Duration> = (0..200).map(|_| b.delay(3)).collect();
        assert!(samples.iter().all(|d| *d <= Duration::from_millis(4000)));
        let distinct: std::collections::HashSet<_> = samples.iter().collect();
        assert!(distinct.len() > 50, "random, not fixed");
        assert!(samples.iter().any(|d| *d < Duration::from_millis(2000)));
    }
}
