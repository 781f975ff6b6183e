//! The partnerships' digests of newly shared resources (the hourly round's
//! part; `app::partnerships::send_digests` does the work, and a share sends
//! its partnership's digest at once when one is due).

use chrono::NaiveDateTime;

use crate::app::partnerships::send_digests;
use crate::db::DbConnection;
use crate::db::audit::Context;
use crate::error::ApiError;
use crate::state::AppState;

/// Sends the digest of newly shared resources to the owners of each
/// partnership's active member institutions — at most one per partnership
/// per day: the first share after a quiet day goes out at once (from the
/// share), the rest wait for the housekeeping loop, which calls this hourly.
pub fn send(conn: &mut DbConnection, state: &AppState) -> Result<usize, ApiError> {
    send_at(conn, state, crate::db::now())
}

/// [`send`] as of `now` (tests bring their own clock). The digests are the
/// system's doing: their events have no actor.
pub fn send_at(
    conn: &mut DbConnection,
    state: &AppState,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    send_digests(conn, state, &Context::new(None), now, None)
}
