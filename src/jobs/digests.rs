//! The partnerships' digests of newly shared resources.

use serde_json::json;

use crate::api::partnerships::tell;
use crate::app::notifications::Kind;
use crate::db::partnerships as store;
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::partnership::PartnershipStatus;
use crate::error::ApiError;
use crate::state::AppState;

/// Sends the digest of newly shared resources to the owners of each
/// partnership's active member institutions — at most one per partnership
/// per day: the first share after a quiet day goes out at once (from the
/// share), the rest wait for the housekeeping loop, which calls this hourly.
pub fn send(conn: &mut DbConnection, state: &AppState) -> Result<usize, ApiError> {
    send_for(conn, state, None)
}

/// The digests due, of one partnership (`only`, right after a share) or of all.
pub fn send_for(
    conn: &mut DbConnection,
    state: &AppState,
    only: Option<&str>,
) -> Result<usize, ApiError> {
    let now = now();
    let due = store::digests_due(conn, now - chrono::Duration::hours(24), only)?;
    let mut sent = 0;
    let before = now - chrono::Duration::hours(24);
    for (p, items) in due {
        let sent_now = write_transaction(conn, |conn| {
            // Another instance (or a share) may have sent it meanwhile.
            store::lock(conn, &p.id)?;
            let fresh = store::by_slug(conn, &p.slug)?;
            if fresh.is_none_or(|f| f.last_digest_at.is_some_and(|at| at >= before)) {
                return Ok::<_, ApiError>(false);
            }
            if PartnershipStatus::parse(&p.status).ended() {
                store::mark_digested(conn, &p.id, now)?;
                return Ok(false);
            }
            let members = store::members(conn, &p.id)?;
            let institutions: Vec<String> = members
                .iter()
                .filter(|m| m.row.status == "active")
                .map(|m| m.row.institution_id.clone())
                .collect();
            let owners = store::owners_of(conn, &institutions)?;
            let resources: Vec<serde_json::Value> = items
                .iter()
                .map(|(id, title)| json!({"id": id, "title": title}))
                .collect();
            tell(
                conn,
                state,
                &owners,
                Kind::PartnershipSharedDigest,
                &json!({"partnership": p.title, "slug": p.slug, "resources": resources}),
            )?;
            store::mark_digested(conn, &p.id, now)?;
            Ok(true)
        })?;
        if sent_now {
            sent += 1;
        }
    }
    Ok(sent)
}
