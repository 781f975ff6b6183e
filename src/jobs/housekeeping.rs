//! The hourly round: each job on its own (one failing does not stop the
//! others), with the clock passed in.

use chrono::NaiveDateTime;

use crate::db::{self, DbConnection};
use crate::state::AppState;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Expired `Idempotency-Key` entries removed.
    pub idempotency_keys: usize,
    /// Sign-in records past their use removed (faded failure counts,
    /// clients not seen within `auth.known_client_days`).
    pub sign_in_records: usize,
    /// Partnerships whose digest went out.
    pub digests: usize,
    /// What the dataset access sweep did.
    pub access: super::access::Swept,
    /// Embargoes lifted, retention reminders sent and periods ended.
    pub dates: crate::app::embargo::Swept,
    /// Delivered and failed webhook messages past `webhooks.retention_secs`
    /// removed (with their attempts).
    pub webhook_messages: usize,
}

/// Webhook messages deleted per transaction.
const WEBHOOK_PRUNE_BATCH: i64 = 500;

/// Runs every periodic job once, as of `now`.
pub fn run(conn: &mut DbConnection, state: &AppState, now: NaiveDateTime) -> Round {
    state.limits.shrink();
    let settings = &state.settings;
    let mut round = Round::default();
    let ttl = chrono::Duration::hours(i64::from(settings.http.idempotency_ttl_hours));
    match db::idempotency::purge_expired(conn, now - ttl) {
        Ok(n) => round.idempotency_keys = n,
        Err(err) => tracing::warn!(error = %err, "idempotency key purge failed"),
    }
    let known = chrono::Duration::days(i64::from(settings.auth.known_client_days));
    match db::accounts::purge_sign_in_records(conn, now, now - known) {
        Ok(n) => round.sign_in_records = n,
        Err(err) => tracing::warn!(error = %err, "sign-in record purge failed"),
    }
    // Here rather than in the webhook worker: every `serve` runs this
    // round (whether or not it delivers webhooks), on a clock tests pass.
    let kept = chrono::Duration::seconds(
        i64::try_from(settings.webhooks.retention_secs).unwrap_or(i64::MAX),
    );
    match db::webhooks::prune(conn, now - kept, WEBHOOK_PRUNE_BATCH) {
        Ok(n) => round.webhook_messages = n,
        Err(err) => tracing::warn!(error = %err, "webhook message prune failed"),
    }
    match super::digests::send(conn, state) {
        Ok(n) => round.digests = n,
        Err(err) => tracing::warn!(error = %err, "shared-resource digests failed"),
    }
    match super::access::sweep(conn, state, now) {
        Ok(s) => round.access = s,
        Err(err) => tracing::warn!(error = %err, "dataset access sweep failed"),
    }
    match crate::app::embargo::sweep(conn, state, now) {
        Ok(s) => round.dates = s,
        Err(err) => tracing::warn!(error = %err, "dataset embargo and retention sweep failed"),
    }
    // The OAI-PMH records follow the events even when nobody harvests, so
    // their datestamps stay close to the changes and a prune finds them read.
    if let Err(err) = crate::app::oai::catch_up(conn) {
        tracing::warn!(error = %err, "OAI-PMH records catch-up failed");
    }
    // Likewise the change feed: its projection follows the events, and its
    // log is pruned past `feed.retention_secs`, without waiting for a
    // reader (who would otherwise pay for every event since the last one).
    if let Err(err) = crate::app::changes::catch_up(conn, settings.feed.retention_secs) {
        tracing::warn!(error = %err, "change feed catch-up failed");
    }
    if let Err(err) = db::optimize(conn, false) {
        tracing::warn!(error = %err, "refreshing the planner's statistics failed");
    }
    round
}
