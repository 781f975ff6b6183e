//! Prometheus metrics: requests by route and status, a latency histogram,
//! and the database pool's usage (read at scrape time).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::db::Db;

#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    outbox: IntGaugeVec,
    emails: IntCounterVec,
    webhook_messages: IntGaugeVec,
    webhook_attempts: IntCounterVec,
    webhook_latency: HistogramVec,
    send_latency: HistogramVec,
}

/// Methods that become labels; anything else is `OTHER`, so clients cannot
/// grow the label set.
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "OTHER",
    }
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("kujenga".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request to response head, by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["method", "route"],
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )?;
        let pool_max = IntGauge::new("db_pool_max_connections", "Database pool size limit")?;
        let outbox = IntGaugeVec::new(
            Opts::new("mail_outbox_emails", "Emails in the outbox by status"),
            &["status"],
        )?;
        let emails = IntCounterVec::new(
            Opts::new(
                "mail_attempts_total",
                "Email delivery attempts by outcome (sent, transient, permanent)",
            ),
            &["outcome"],
        )?;
        let send_latency = HistogramVec::new(
            HistogramOpts::new(
                "mail_send_duration_seconds",
                "Time to hand one email to the transport",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["outcome"],
        )?;
        let webhook_messages = IntGaugeVec::new(
            Opts::new(
                "webhook_messages",
                "Webhook messages by event type and status (queued, sending, delivered, failed)",
            ),
            &["event_type", "status"],
        )?;
        let webhook_attempts = IntCounterVec::new(
            Opts::new(
                "webhook_attempts_total",
                "Webhook delivery attempts by event type and outcome (delivered, retry, failed, refused)",
            ),
            &["event_type", "outcome"],
        )?;
        let webhook_latency = HistogramVec::new(
            HistogramOpts::new(
                "webhook_delivery_duration_seconds",
                "Time of one webhook delivery attempt",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(webhook_messages.clone()))?;
        registry.register(Box::new(webhook_attempts.clone()))?;
        registry.register(Box::new(webhook_latency.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        registry.register(Box::new(outbox.clone()))?;
        registry.register(Box::new(emails.clone()))?;
        registry.register(Box::new(send_latency.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool_connections,
            pool_max,
            outbox,
            webhook_messages,
            webhook_attempts,
            webhook_latency,
            emails,
            send_latency,
        })
    }

    /// Counts one delivery attempt and its duration.
    pub fn observe_email(&self, outcome: &str, seconds: f64) {
        self.emails.with_label_values(&[outcome]).inc();
        self.send_latency
            .with_label_values(&[outcome])
            .observe(seconds);
    }

    /// Counts one webhook delivery attempt and its duration.
    pub fn observe_webhook(&self, event_type: &str, outcome: &str, seconds: f64) {
        self.webhook_attempts
            .with_label_values(&[event_type, outcome])
            .inc();
        self.webhook_latency
            .with_label_values(&[outcome])
            .observe(seconds);
    }

    /// Sets the webhook message gauges (counted in the database at each
    /// scrape): `(event_type, status, count)`.
    pub fn set_webhook_counts(&self, counts: &[(String, String, i64)]) {
        self.webhook_messages.reset();
        for (event_type, status, n) in counts {
            self.webhook_messages
                .with_label_values(&[event_type.as_str(), status.as_str()])
                .set(*n);
        }
    }

    /// Sets the outbox depth gauges (every status, zero when absent).
    pub fn set_outbox_counts(&self, counts: &[(String, i64)]) {
        for status in crate::db::outbox::STATUSES {
            let n = counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            self.outbox.with_label_values(&[status]).set(n);
        }
    }

    /// Counts one finished request. `route` is the matched pattern
    /// (`/api/v1/courses/{id}`), never the raw path, so labels stay few.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let method = method_label(method);
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self, db: &Db) -> Result<String, prometheus::Error> {
        let state = db.pool().state();
        let idle = i64::from(state.idle_connections);
        let total = i64::from(state.connections);
        self.pool_connections.with_label_values(&["idle"]).set(idle);
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(total - idle);
        self.pool_max.set(i64::from(db.pool().max_size()));
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
