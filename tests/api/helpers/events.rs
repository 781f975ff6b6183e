//! The event stream as a test reads it: every event after a position, each
//! with the institutions it concerns; the newest position; and the checks
//! that a command left exactly one expected event, or none.

use kujenga::db::events::{self, EventRow};
use serde_json::Value;

use super::app::TestApp;

/// Every event after `seq` (a sequence number), oldest first, each with the
/// institutions it concerns (sorted), read page by page to the end.
pub async fn events_after(app: &TestApp, seq: i64) -> Vec<(EventRow, Vec<String>)> {
    app.db
        .run(move |conn| {
            let mut out = Vec::new();
            let mut cursor = seq;
            loop {
                let rows = events::after(conn, cursor, 1000)?;
                if rows.is_empty() {
                    return Ok::<_, diesel::result::Error>(out);
                }
                for e in rows {
                    cursor = e.seq;
                    let concerned = events::institutions_of(conn, e.seq)?;
                    out.push((e, concerned));
                }
            }
        })
        .await
        .expect("events")
}

/// The sequence number of the newest event (0 when there is none).
pub async fn last_seq(app: &TestApp) -> i64 {
    all_events(app).await.last().map_or(0, |e| e.seq)
}

/// Every event so far, oldest first.
pub async fn all_events(app: &TestApp) -> Vec<EventRow> {
    events_after(app, 0)
        .await
        .into_iter()
        .map(|(e, _)| e)
        .collect()
}

/// The events recorded since the stream had `seen` of them; moves `seen` on.
pub async fn new_events(app: &TestApp, seen: &mut usize) -> Vec<EventRow> {
    let all = all_events(app).await;
    let fresh = all[*seen..].to_vec();
    *seen = all.len();
    fresh
}

/// Checks the one event a command left since `seen`: type, subject, actor,
/// payload, and exactly the institutions it concerns (`&[]` for none).
pub async fn only_event(
    app: &TestApp,
    seen: &mut usize,
    event_type: &str,
    subject: (&str, &str),
    actor: Option<&str>,
    payload: Value,
    institutions: &[&str],
) {
    let fresh = new_events(app, seen).await;
    assert_eq!(fresh.len(), 1, "one event for {event_type}: {fresh:?}");
    let e = &fresh[0];
    assert_eq!(e.event_type, event_type);
    assert_eq!((e.subject_kind.as_str(), e.subject_id.as_str()), subject);
    assert_eq!(e.actor_id.as_deref(), actor, "{event_type}");
    let stored: Value = serde_json::from_str(&e.payload).unwrap();
    assert_eq!(stored, payload, "{event_type}");
    let seq = e.seq;
    let concerned = app
        .db
        .run(move |conn| events::institutions_of(conn, seq))
        .await
        .unwrap();
    let mut want: Vec<&str> = institutions.to_vec();
    want.sort_unstable();
    assert_eq!(concerned, want, "{event_type}: {concerned:?}");
}

/// Nothing was recorded since the stream had `seen` events.
pub async fn none_since(app: &TestApp, seen: &mut usize, what: &str) {
    let fresh = new_events(app, seen).await;
    assert!(fresh.is_empty(), "{what} left events: {fresh:?}");
}
