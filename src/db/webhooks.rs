//! Webhooks: subscriptions, the messages queued for them in the
//! transaction of each event (an outbox like `db::outbox`: claimed under a
//! lease, `FOR UPDATE SKIP LOCKED` on PostgreSQL), and delivery attempts.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};

use super::DbConnection;
use super::schema::{
    institutions as is, partnership_members as pm, partnership_resources as pr, partnerships as ps,
    resources as rs, webhook_attempts as wa, webhook_messages as wm, webhook_subscriptions as ws,
};
use crate::domain::resource::Visibility;
use crate::domain::webhook::SharedResource;

pub const QUEUED: &str = "queued";
pub const SENDING: &str = "sending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";
pub const STATUSES: [&str; 4] = [QUEUED, SENDING, DELIVERED, FAILED];

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ws)]
pub struct SubscriptionRow {
    pub id: String,
    pub institution_id: Option<String>,
    pub partnership_id: Option<String>,
    pub url: String,
    pub description: String,
    pub event_types: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub consecutive_failures: i32,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl SubscriptionRow {
    /// The event types it asked for.
    pub fn types(&self) -> Vec<String> {
        serde_json::from_str(&self.event_types).unwrap_or_default()
    }
}

pub fn insert(conn: &mut DbConnection, row: &SubscriptionRow) -> QueryResult<()> {
    diesel::insert_into(ws::table).values(row).execute(conn)?;
    Ok(())
}

/// One subscription of an owner (`None` for another owner's).
pub fn get(
    conn: &mut DbConnection,
    id: &str,
    institution_id: Option<&str>,
    partnership_id: Option<&str>,
) -> QueryResult<Option<SubscriptionRow>> {
    let mut q = ws::table
        .filter(ws::id.eq(id))
        .select(SubscriptionRow::as_select())
        .into_boxed();
    q = match (institution_id, partnership_id) {
        (Some(i), _) => q.filter(ws::institution_id.eq(i.to_owned())),
        (None, Some(p)) => q.filter(ws::partnership_id.eq(p.to_owned())),
        (None, None) => return Ok(None),
    };
    q.first(conn).optional()
}

/// A page of an owner's subscriptions, oldest first.
pub fn list(
    conn: &mut DbConnection,
    institution_id: Option<&str>,
    partnership_id: Option<&str>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<SubscriptionRow>> {
    let mut q = ws::table
        .select(SubscriptionRow::as_select())
        .order((ws::created_at.asc(), ws::id.asc()))
        .limit(limit)
        .into_boxed();
    q = match (institution_id, partnership_id) {
        (Some(i), _) => q.filter(ws::institution_id.eq(i.to_owned())),
        (None, Some(p)) => q.filter(ws::partnership_id.eq(p.to_owned())),
        (None, None) => return Ok(Vec::new()),
    };
    if let Some((at, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(ws::created_at.ge(at));
        q = q.filter(
            ws::created_at
                .gt(at)
                .or(ws::created_at.eq(at).and(ws::id.gt(id))),
        );
    }
    q.load(conn)
}

/// What a PATCH changes (`None`: unchanged).
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = ws)]
pub struct Changes {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<String>,
    pub enabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub consecutive_failures: Option<i32>,
    pub secret: Option<String>,
    pub previous_secret: Option<Option<String>>,
    pub previous_secret_until: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update(conn: &mut DbConnection, id: &str, changes: &Changes) -> QueryResult<()> {
    diesel::update(ws::table.filter(ws::id.eq(id)))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// Takes the subscription's row lock until commit (PostgreSQL; SQLite
/// write transactions are serial).
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(ws::table.filter(ws::id.eq(id)))
        .set(ws::updated_at.eq(ws::updated_at))
        .execute(conn)?;
    Ok(())
}

/// Deletes a subscription; its messages and their attempts go with it
/// (`ON DELETE CASCADE`).
pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(ws::table.filter(ws::id.eq(id))).execute(conn)?;
    Ok(())
}

/// Every enabled subscription (the fan-out reads them once per batch of
/// events).
pub fn enabled(conn: &mut DbConnection) -> QueryResult<Vec<SubscriptionRow>> {
    ws::table
        .filter(ws::enabled.eq(true))
        .select(SubscriptionRow::as_select())
        .load(conn)
}

/// What a partnership hook may know of `resource_id` now: `None` unless
/// it is shared into `partnership_id`, the partnership is active and the
/// resource's own institution is an active member of it (the reader's
/// rule, `db::partnerships::visible_through_partnerships`); then whether
/// it is published, its institution verified, and its visibility.
pub fn shared_resource(
    conn: &mut DbConnection,
    partnership_id: &str,
    resource_id: &str,
) -> QueryResult<Option<SharedResource>> {
    let shares: i64 = pr::table
        .inner_join(ps::table)
        .filter(pr::partnership_id.eq(partnership_id))
        .filter(pr::resource_id.eq(resource_id))
        .filter(ps::status.eq("active"))
        .count()
        .get_result(conn)?;
    if shares == 0 {
        return Ok(None);
    }
    let Some((institution_id, status, visibility)) = rs::table
        .filter(rs::id.eq(resource_id))
        .select((rs::institution_id, rs::status, rs::visibility))
        .first::<(String, String, String)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let member: i64 = pm::table
        .filter(pm::partnership_id.eq(partnership_id))
        .filter(pm::institution_id.eq(&institution_id))
        .filter(pm::status.eq("active"))
        .count()
        .get_result(conn)?;
    if member == 0 {
        return Ok(None);
    }
    let verified = is::table
        .filter(is::id.eq(&institution_id))
        .select(is::verified)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false);
    // An unknown stored word would be a broken row: shown to nobody.
    let Some(visibility) = Visibility::parse(&visibility) else {
        return Ok(None);
    };
    Ok(Some(SharedResource {
        published: status != "draft",
        verified,
        visibility,
    }))
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = wm)]
pub struct NewMessage {
    pub id: String,
    pub subscription_id: String,
    pub event_type: String,
    pub body: String,
    pub status: &'static str,
    pub attempts: i32,
    pub round_start: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Queues messages in the caller's transaction.
pub fn enqueue(conn: &mut DbConnection, messages: &[NewMessage]) -> QueryResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    insert_batched!(conn, wm::table, messages, 10)
}

/// A message a worker has claimed and must deliver.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub subscription_id: String,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    /// This attempt's number (1 for the first, ever).
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// Attempts before this round (a redelivery starts a new round).
    #[diesel(sql_type = Integer)]
    pub round_start: i32,
}

const RETURNING: &str = "RETURNING id, subscription_id, event_type, body, attempts, round_start";
const ENABLED: &str = "subscription_id IN (SELECT id FROM webhook_subscriptions WHERE enabled)";

/// Claims up to `batch` due messages of enabled subscriptions (first those
/// whose worker's lease ran out, then queued and due) for `worker` until
/// `lease_until`. PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: inside
/// `BEGIN IMMEDIATE` (the email outbox's claim, `db::outbox::claim`).
pub fn claim(
    conn: &mut DbConnection,
    worker: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    batch: i64,
) -> QueryResult<Vec<Claimed>> {
    let statement = |pg: bool, reclaim: bool| {
        let (p, lock) = if pg {
            (["$1", "$2", "$3", "$4", "$5"], " FOR UPDATE SKIP LOCKED")
        } else {
            (["?", "?", "?", "?", "?"], "")
        };
        let due = if reclaim {
            format!(
                "status = 'sending' AND lease_expires_at <= {} AND {ENABLED} ORDER BY lease_expires_at",
                p[3]
            )
        } else {
            format!(
                "status = 'queued' AND next_attempt_at <= {} AND {ENABLED} ORDER BY next_attempt_at",
                p[3]
            )
        };
        format!(
            "UPDATE webhook_messages SET status = 'sending', lease_owner = {}, lease_expires_at = {}, \
             attempts = attempts + 1, updated_at = {} \
             WHERE id IN (SELECT id FROM webhook_messages WHERE {due} LIMIT {}{lock}) {RETURNING}",
            p[0], p[1], p[2], p[4]
        )
    };
    macro_rules! run {
        ($c:expr, $sql:expr, $limit:expr) => {
            diesel::sql_query($sql)
                .bind::<Text, _>(worker)
                .bind::<Timestamp, _>(lease_until)
                .bind::<Timestamp, _>(now)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>($limit)
                .load::<Claimed>($c)
        };
    }
    match conn {
        DbConnection::Postgres(c) => {
            let mut claimed = run!(c, statement(true, true), batch)?;
            let rest = batch - i64::try_from(claimed.len()).unwrap_or(batch);
            if rest > 0 {
                claimed.extend(run!(c, statement(true, false), rest)?);
            }
            Ok(claimed)
        }
        DbConnection::Sqlite(c) => c.immediate_transaction(|c| {
            let mut claimed = run!(c, statement(false, true), batch)?;
            let rest = batch - i64::try_from(claimed.len()).unwrap_or(batch);
            if rest > 0 {
                claimed.extend(run!(c, statement(false, false), rest)?);
            }
            Ok(claimed)
        }),
    }
}

/// The subscriptions of claimed messages (url and secrets).
pub fn by_ids(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<SubscriptionRow>> {
    ws::table
        .filter(ws::id.eq_any(ids))
        .select(SubscriptionRow::as_select())
        .load(conn)
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = wa)]
pub struct Attempt {
    pub id: String,
    pub message_id: String,
    pub attempt: i32,
    pub worker: String,
    pub started_at: NaiveDateTime,
    pub latency_ms: i64,
    pub status_code: Option<i32>,
    pub outcome: String,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub retry_at: Option<NaiveDateTime>,
}

/// What becomes of the message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retry(NaiveDateTime),
    Failed,
}

/// What `finish` did to the subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finished {
    /// The worker still held the lease: the message moved on.
    pub recorded: bool,
    /// Failed attempts in a row now (0 after a success).
    pub consecutive_failures: i32,
}

/// Records an attempt and moves the message on if `worker` still holds its
/// lease, and counts the subscription's failures in a row (reset by a
/// success). One transaction.
pub fn finish(
    conn: &mut DbConnection,
    worker: &str,
    subscription_id: &str,
    attempt: &Attempt,
    outcome: &Outcome,
    now: NaiveDateTime,
) -> QueryResult<Finished> {
    super::write_transaction(conn, |conn| {
        diesel::insert_into(wa::table)
            .values(attempt)
            .execute(conn)?;
        let mine = wm::table
            .filter(wm::id.eq(&attempt.message_id))
            .filter(wm::status.eq(SENDING))
            .filter(wm::lease_owner.eq(worker));
        let (status, next) = match outcome {
            Outcome::Delivered => (DELIVERED, None),
            Outcome::Retry(at) => (QUEUED, Some(*at)),
            Outcome::Failed => (FAILED, None),
        };
        let moved = diesel::update(mine)
            .set((
                wm::status.eq(status),
                wm::lease_owner.eq(None::<String>),
                wm::lease_expires_at.eq(None::<NaiveDateTime>),
                wm::last_error.eq(attempt.error.clone()),
                wm::updated_at.eq(now),
            ))
            .execute(conn)?
            == 1;
        if moved {
            if let Some(at) = next {
                diesel::update(wm::table.filter(wm::id.eq(&attempt.message_id)))
                    .set(wm::next_attempt_at.eq(at))
                    .execute(conn)?;
            }
            let sub = ws::table.filter(ws::id.eq(subscription_id));
            if *outcome == Outcome::Delivered {
                diesel::update(sub)
                    .set(ws::consecutive_failures.eq(0))
                    .execute(conn)?;
            } else {
                diesel::update(sub)
                    .set(ws::consecutive_failures.eq(ws::consecutive_failures + 1))
                    .execute(conn)?;
            }
        }
        let failures = ws::table
            .filter(ws::id.eq(subscription_id))
            .select(ws::consecutive_failures)
            .first::<i32>(conn)
            .optional()?
            .unwrap_or(0);
        Ok(Finished {
            recorded: moved,
            consecutive_failures: failures,
        })
    })
}

/// Disables a subscription for `reason`; `false` if it was disabled already.
pub fn disable(
    conn: &mut DbConnection,
    id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(ws::table.filter(ws::id.eq(id)).filter(ws::enabled.eq(true)))
        .set((
            ws::enabled.eq(false),
            ws::disabled_reason.eq(Some(reason)),
            ws::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wm)]
pub struct MessageRow {
    pub id: String,
    pub subscription_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A page of a subscription's messages, newest first.
pub fn messages(
    conn: &mut DbConnection,
    subscription_id: &str,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<MessageRow>> {
    let mut q = wm::table
        .filter(wm::subscription_id.eq(subscription_id))
        .select(MessageRow::as_select())
        .order((wm::created_at.desc(), wm::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = before {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(wm::created_at.le(at));
        q = q.filter(
            wm::created_at
                .lt(at)
                .or(wm::created_at.eq(at).and(wm::id.lt(id))),
        );
    }
    q.load(conn)
}

pub fn message(
    conn: &mut DbConnection,
    subscription_id: &str,
    id: &str,
) -> QueryResult<Option<MessageRow>> {
    wm::table
        .filter(wm::subscription_id.eq(subscription_id))
        .filter(wm::id.eq(id))
        .select(MessageRow::as_select())
        .first(conn)
        .optional()
}

/// The attempts of the given messages, in order.
pub fn attempts_of(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<Attempt>> {
    wa::table
        .filter(wa::message_id.eq_any(ids))
        .order((wa::message_id, wa::attempt, wa::started_at))
        .select(Attempt::as_select())
        .load(conn)
}

/// Queues a delivered or failed message again now, for a new round of
/// attempts with the same `webhook-id`. `false` if it is queued or being
/// sent.
pub fn redeliver(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        wm::table
            .filter(wm::id.eq(id))
            .filter(wm::status.eq_any([DELIVERED, FAILED])),
    )
    .set((
        wm::status.eq(QUEUED),
        wm::next_attempt_at.eq(now),
        wm::round_start.eq(wm::attempts),
        wm::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes delivered and failed messages last changed before `before`,
/// `batch` at a time (each batch its own short transaction); their
/// attempts go with them (`ON DELETE CASCADE`). Never a queued or sending
/// message: the status is checked again by the `DELETE` itself, so a
/// message redelivered meanwhile stays. How many messages went.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let (found, deleted) = super::write_transaction(conn, |conn| {
            // A finished message's `next_attempt_at` is never after its
            // `updated_at` (it was due before it was tried): the bound lets
            // the (status, next_attempt_at) index find the candidates.
            let ids: Vec<String> = wm::table
                .filter(wm::status.eq_any([DELIVERED, FAILED]))
                .filter(wm::next_attempt_at.lt(before))
                .filter(wm::updated_at.lt(before))
                .order(wm::next_attempt_at)
                .select(wm::id)
                .limit(batch)
                .load(conn)?;
            if ids.is_empty() {
                return Ok::<_, diesel::result::Error>((0, 0));
            }
            let deleted = diesel::delete(
                wm::table
                    .filter(wm::id.eq_any(&ids))
                    .filter(wm::status.eq_any([DELIVERED, FAILED]))
                    .filter(wm::updated_at.lt(before)),
            )
            .execute(conn)?;
            Ok((ids.len(), deleted))
        })?;
        total += deleted;
        if i64::try_from(found).unwrap_or(0) < batch {
            return Ok(total);
        }
    }
}

/// Messages by event type and status (the metrics' gauges).
pub fn counts(conn: &mut DbConnection) -> QueryResult<Vec<(String, String, i64)>> {
    wm::table
        .group_by((wm::event_type, wm::status))
        .select((wm::event_type, wm::status, diesel::dsl::count_star()))
        .load(conn)
}
