//! The change feed (`GET /api/v1/changes`, docs/FEED.md).
//!
//! `catch_up` keeps a projection of the domain events (like `app::oai`):
//! for every subject an event touched, its audience now (`feed_subjects`)
//! and a log row with the audience before and after (`feed_log`); for every
//! person whose memberships, partnerships or platform role changed, their
//! keys now (`feed_viewers`) and a log row (`feed_viewer_log`). Rows carry the
//! seq of the last event of the batch that touched them, and the batches
//! follow the event log's `seq`, so a reader of the projection misses
//! nothing either.
//!
//! `page` answers one page to one caller, with the rule (docs/FEED.md):
//! - a subject the caller sees now (its current audience meets their keys
//!   now): `changed`;
//! - a subject the caller does not see now, but saw at some moment since
//!   the cursor — just before or after one of its changes, or just before or
//!   after a change of the caller's own keys — : `gone` (`deleted: true`);
//! - anything else: nothing (a change never reveals what the caller never
//!   saw).
//!
//! Subjects come from two streams merged in seq order: the subjects' own
//! changes, and, for each change of the caller's keys, every subject whose
//! audience held one of the keys gained or lost (then or now).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::QueryResult;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::db::changes::{self as store, LogRow, SubjectRow, ViewerLogRow};
use crate::db::{self, DbConnection};
use crate::domain::changes::{self as rule, ADMIN, Cursor, Keys, SubjectKind, caller_keys, sees};
use crate::domain::resource::ResourceKind;
use crate::error::{ApiError, FieldCode, Invalid};
use crate::problem_types::ProblemType;

/// Events read per projected batch.
const BATCH: i64 = 2_000;
/// Log rows a page reads at most: four per change asked for, at least 200,
/// at most 2,000 (a page may hold fewer changes than `limit` when most rows
/// are not the caller's: it then says `has_more`).
const SCAN_MIN: i64 = 200;
const SCAN_MAX: i64 = 2_000;
/// How far before an event its notifications may have been written.
const NOTIFICATION_SLACK_SECS: i64 = 60;

// ----- the projection ------------------------------------------------------------

/// What one batch of events touched, with the seq of the last event that
/// touched each.
#[derive(Default)]
struct Touched {
    /// resource id → (seq, whether a log row is written even when its
    /// audience is unchanged: its content changed).
    resources: BTreeMap<String, (i64, bool)>,
    institutions: BTreeMap<String, i64>,
    /// `course/user` → seq.
    enrollments: BTreeMap<String, i64>,
    access_requests: BTreeMap<String, i64>,
    people: BTreeMap<String, i64>,
    /// `(event type, subject id)` → seq: what notifications name.
    causes: HashMap<(String, String), i64>,
    window: Option<(NaiveDateTime, NaiveDateTime)>,
}

impl Touched {
    fn resource(&mut self, id: &str, seq: i64, content: bool) {
        let e = self
            .resources
            .entry(id.to_string())
            .or_insert((seq, content));
        e.0 = e.0.max(seq);
        e.1 |= content;
    }
}

fn payload_str(payload: &Value, key: &str) -> Option<String> {
    payload.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Brings the projection up to the last committed event, and prunes what
/// is older than `retention_secs`. Returns `(last_seq, floor_seq)`: the
/// newest cursor and the oldest one still served. Cheap when nothing
/// happened (two indexed reads).
pub fn catch_up(conn: &mut DbConnection, retention_secs: u64) -> QueryResult<(i64, i64)> {
    let max = store::max_event_seq(conn)?.unwrap_or(0);
    if let Some((last, floor)) = store::state(conn)?
        && max <= last
    {
        return Ok((last, floor));
    }
    db::write_transaction(conn, |conn| {
        store::lock(conn)?;
        let now = db::now();
        let max = store::max_event_seq(conn)?.unwrap_or(0);
        let Some((mut seq, mut floor)) = store::state(conn)? else {
            bootstrap(conn, max, now)?;
            store::set_state(conn, max, max)?;
            return Ok((max, max));
        };
        if max <= seq {
            return Ok((seq, floor));
        }
        loop {
            let events = db::events::after(conn, seq, BATCH)?;
            let Some(last_event) = events.last() else {
                break;
            };
            let batch_last = last_event.seq;
            let mut t = Touched::default();
            for e in &events {
                touch(conn, &mut t, e)?;
            }
            apply(conn, &t, now)?;
            seq = batch_last;
        }
        let cutoff = i64::try_from(retention_secs)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .and_then(|d| now.checked_sub_signed(d));
        if let Some(cutoff) = cutoff
            && let Some(top) = store::prune(conn, cutoff)?
        {
            floor = floor.max(top);
        }
        store::set_state(conn, seq, floor)?;
        Ok((seq, floor))
    })
}

/// What an event touches.
fn touch(conn: &mut DbConnection, t: &mut Touched, e: &db::events::EventRow) -> QueryResult<()> {
    let payload: Value = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
    let seq = e.seq;
    t.causes
        .insert((e.event_type.clone(), e.subject_id.clone()), seq);
    let at = e.occurred_at;
    t.window = Some(match t.window {
        None => (at, at),
        Some((a, b)) => (a.min(at), b.max(at)),
    });
    match (e.subject_kind.as_str(), e.event_type.as_str()) {
        ("resource", ty) if ty.starts_with("enrollment.") => {
            if let Some(user) = payload_str(&payload, "user_id") {
                t.enrollments
                    .insert(format!("{}/{user}", e.subject_id), seq);
            }
        }
        ("resource", ty) if crate::domain::version::DRAFT_EVENTS.contains(&ty) => {}
        ("resource", _) => t.resource(&e.subject_id, seq, true),
        (
            "institution",
            "institution.created"
            | "institution.updated"
            | "institution.verified"
            | "institution.deleted",
        ) => {
            t.institutions.insert(e.subject_id.clone(), seq);
            let mut ids = db::resources::ids_of_institution(conn, &e.subject_id)?;
            ids.extend(subject_ids_of_institution(conn, &e.subject_id)?);
            for id in ids {
                t.resource(&id, seq, false);
            }
            if e.event_type == "institution.deleted" {
                for u in store::viewers_with_key(conn, &rule::member_key(&e.subject_id))? {
                    t.people.insert(u, seq);
                }
            }
        }
        ("institution", ty) if ty.starts_with("membership.") => {
            if let Some(user) = payload_str(&payload, "user_id") {
                t.people.insert(user, seq);
            }
        }
        (
            "partnership",
            "partnership.status_changed"
            | "partnership.member_active"
            | "partnership.member_left"
            | "partnership.member_removed",
        ) => {
            for id in store::shared_into(conn, &e.subject_id)? {
                t.resource(&id, seq, false);
            }
            for u in store::people_of_partnership(conn, &e.subject_id)? {
                t.people.insert(u, seq);
            }
        }
        ("partnership", "partnership.resource_shared" | "partnership.resource_unshared") => {
            if let Some(id) = payload_str(&payload, "resource_id") {
                t.resource(&id, seq, false);
            }
        }
        ("access_request", _) => {
            t.access_requests.insert(e.subject_id.clone(), seq);
        }
        ("user", "user.role_changed") => {
            t.people.insert(e.subject_id.clone(), seq);
        }
        _ => {}
    }
    Ok(())
}

/// The resource ids the feed knows of an institution (they may be gone).
fn subject_ids_of_institution(
    conn: &mut DbConnection,
    institution_id: &str,
) -> QueryResult<Vec<String>> {
    Ok(store::subjects_of_institution(conn, institution_id)?
        .into_iter()
        .filter(|(kind, _)| SubjectKind::parse(kind).is_some_and(SubjectKind::is_resource))
        .map(|(_, id)| id)
        .collect())
}

/// The audiences of resources now (`None`: gone), with their kind and institution.
fn resource_audiences(
    conn: &mut DbConnection,
    ids: &[String],
) -> QueryResult<HashMap<String, (SubjectKind, String, Keys)>> {
    let loaded = db::resources::by_ids(conn, ids)?;
    let shown = store::showing_partnerships(conn, ids)?;
    let none = Vec::new();
    Ok(loaded
        .into_iter()
        .map(|l| {
            let audience = rule::resource_audience(
                &l.row.institution_id,
                l.institution_verified,
                l.row.status,
                l.row.visibility,
                shown.get(&l.row.id).unwrap_or(&none),
            );
            (
                l.row.id.clone(),
                (
                    SubjectKind::of_resource(l.row.kind),
                    l.row.institution_id.clone(),
                    audience,
                ),
            )
        })
        .collect())
}

/// The keys people hold now.
fn people_keys(conn: &mut DbConnection, users: &[String]) -> QueryResult<HashMap<String, Keys>> {
    let (roles, admins) = store::people(conn, users)?;
    let institutions: Vec<String> = roles
        .values()
        .flatten()
        .map(|(i, _)| i.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let partnerships = store::active_partnerships_of(conn, &institutions)?;
    let none = Vec::new();
    Ok(users
        .iter()
        .map(|u| {
            let r = roles.get(u).unwrap_or(&none);
            let mut ps: Vec<String> = r
                .iter()
                .flat_map(|(i, _)| partnerships.get(i).cloned().unwrap_or_default())
                .collect();
            ps.sort();
            ps.dedup();
            let keys = rule::person_keys(r, &ps, admins.contains(u));
            (u.clone(), keys)
        })
        .collect())
}

/// One subject's new state: writes the log row and the subject when its
/// audience changed or `content` says it changed otherwise.
#[allow(clippy::too_many_arguments)]
fn write_subject(
    conn: &mut DbConnection,
    log: &mut Vec<LogRow>,
    fresh: &mut Vec<SubjectRow>,
    before: Option<&SubjectRow>,
    kind: SubjectKind,
    id: &str,
    institution_id: Option<String>,
    after: &Keys,
    seq: i64,
    content: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let before_text = before.map(|b| b.audience.clone()).unwrap_or_default();
    let after_text = after.to_text();
    if before_text.is_empty() && after_text.is_empty() {
        return Ok(());
    }
    if before_text == after_text && !content {
        return Ok(());
    }
    log.push(LogRow {
        event_seq: seq,
        kind: kind.as_str().into(),
        id: id.into(),
        before: before_text,
        after: after_text.clone(),
        changed_at: now,
    });
    let row = SubjectRow {
        kind: kind.as_str().into(),
        id: id.into(),
        institution_id: institution_id.or_else(|| before.and_then(|b| b.institution_id.clone())),
        audience: after_text,
        changed_seq: seq,
        changed_at: now,
    };
    match before {
        Some(_) => store::put_subject(conn, &row),
        // Not stored yet (a batch names each subject once): inserted with
        // the others of the batch.
        None => {
            fresh.push(row);
            Ok(())
        }
    }
}

fn known(
    conn: &mut DbConnection,
    kinds: &[SubjectKind],
    ids: &[String],
) -> QueryResult<HashMap<String, SubjectRow>> {
    let mut out = HashMap::new();
    for k in kinds {
        for s in store::subjects(conn, k.as_str(), ids)? {
            out.insert(s.id.clone(), s);
        }
    }
    Ok(out)
}

/// Writes what a batch changed.
fn apply(conn: &mut DbConnection, t: &Touched, now: NaiveDateTime) -> QueryResult<()> {
    let mut log: Vec<LogRow> = Vec::new();
    let mut new_subjects: Vec<SubjectRow> = Vec::new();
    // Resources.
    let ids: Vec<String> = t.resources.keys().cloned().collect();
    for chunk in ids.chunks(500) {
        let now_audiences = resource_audiences(conn, chunk)?;
        let before = known(
            conn,
            &[
                SubjectKind::Course,
                SubjectKind::Dataset,
                SubjectKind::ModelCard,
            ],
            chunk,
        )?;
        for id in chunk {
            let (seq, content) = t.resources[id];
            let b = before.get(id);
            let (kind, institution, after) = match now_audiences.get(id) {
                Some((k, i, a)) => (*k, Some(i.clone()), a.clone()),
                None => match b.and_then(|b| SubjectKind::parse(&b.kind)) {
                    Some(k) => (k, None, Keys::new()),
                    None => continue,
                },
            };
            write_subject(
                conn,
                &mut log,
                &mut new_subjects,
                b,
                kind,
                id,
                institution,
                &after,
                seq,
                content,
                now,
            )?;
        }
    }
    // Institutions.
    let ids: Vec<String> = t.institutions.keys().cloned().collect();
    let verified = store::institutions(conn, &ids)?;
    let before = known(conn, &[SubjectKind::Institution], &ids)?;
    for id in &ids {
        let after = match verified.get(id) {
            Some(v) => rule::institution_audience(id, *v),
            None => Keys::new(),
        };
        let seq = t.institutions[id];
        write_subject(
            conn,
            &mut log,
            &mut new_subjects,
            before.get(id),
            SubjectKind::Institution,
            id,
            Some(id.clone()),
            &after,
            seq,
            true,
            now,
        )?;
    }
    // Enrollments (the learner's own).
    let ids: Vec<String> = t.enrollments.keys().cloned().collect();
    let courses: Vec<String> = ids
        .iter()
        .filter_map(|k| k.split_once('/').map(|(c, _)| c.to_string()))
        .collect();
    let owners = store::institution_of_resources(conn, &courses)?;
    let before = known(conn, &[SubjectKind::Enrollment], &ids)?;
    for id in &ids {
        let Some((course, user)) = id.split_once('/') else {
            continue;
        };
        let after = rule::own_audience(user);
        write_subject(
            conn,
            &mut log,
            &mut new_subjects,
            before.get(id),
            SubjectKind::Enrollment,
            id,
            owners.get(course).cloned(),
            &after,
            t.enrollments[id],
            true,
            now,
        )?;
    }
    // Access requests.
    let ids: Vec<String> = t.access_requests.keys().cloned().collect();
    let facts = store::access_requests(conn, &ids)?;
    let before = known(conn, &[SubjectKind::AccessRequest], &ids)?;
    for id in &ids {
        let (after, institution) = match facts.get(id) {
            Some((requester, owner)) => (
                rule::access_request_audience(requester, owner.as_deref()),
                owner.clone(),
            ),
            None => (Keys::new(), None),
        };
        write_subject(
            conn,
            &mut log,
            &mut new_subjects,
            before.get(id),
            SubjectKind::AccessRequest,
            id,
            institution,
            &after,
            t.access_requests[id],
            true,
            now,
        )?;
    }
    // Notifications written with these events (new ones only: read marks
    // are not events).
    if let Some((from, to)) = t.window {
        let rows = store::notifications_between(
            conn,
            from - chrono::Duration::seconds(NOTIFICATION_SLACK_SECS),
            to + chrono::Duration::seconds(1),
        )?;
        let mut fresh: Vec<(String, String, i64)> = Vec::new();
        for (id, user, ty, subject) in rows {
            if let (Some(ty), Some(subject)) = (ty, subject)
                && let Some(seq) = t.causes.get(&(ty, subject))
            {
                fresh.push((id, user, *seq));
            }
        }
        let ids: Vec<String> = fresh.iter().map(|(i, _, _)| i.clone()).collect();
        let before = known(conn, &[SubjectKind::Notification], &ids)?;
        for (id, user, seq) in fresh {
            if before.contains_key(&id) {
                continue;
            }
            write_subject(
                conn,
                &mut log,
                &mut new_subjects,
                None,
                SubjectKind::Notification,
                &id,
                None,
                &rule::own_audience(&user),
                seq,
                true,
                now,
            )?;
        }
    }
    store::insert_subjects(conn, &new_subjects)?;
    log.sort_by(|a, b| (a.event_seq, &a.kind, &a.id).cmp(&(b.event_seq, &b.kind, &b.id)));
    store::insert_log(conn, &log)?;
    // People.
    let users: Vec<String> = t.people.keys().cloned().collect();
    let stored = store::viewer_keys(conn, &users)?;
    let keys = people_keys(conn, &users)?;
    let mut vlog = Vec::new();
    for u in &users {
        let before = stored.get(u).cloned().unwrap_or_default();
        let after = keys.get(u).map(Keys::to_text).unwrap_or_default();
        if before == after {
            continue;
        }
        vlog.push(ViewerLogRow {
            event_seq: t.people[u],
            user_id: u.clone(),
            before,
            after: after.clone(),
            changed_at: now,
        });
        store::put_viewer(conn, u, &after)?;
    }
    store::insert_viewer_log(conn, &vlog)
}

/// The first run: every resource, institution and person as they are now
/// (no log: cursors start here).
fn bootstrap(conn: &mut DbConnection, seq: i64, now: NaiveDateTime) -> QueryResult<()> {
    let mut after = String::new();
    loop {
        let ids = store::resource_ids_after(conn, &after, 500)?;
        let Some(last) = ids.last() else { break };
        after = last.clone();
        // The first run: nothing is stored yet.
        let rows: Vec<SubjectRow> = resource_audiences(conn, &ids)?
            .into_iter()
            .map(|(id, (kind, institution, audience))| SubjectRow {
                kind: kind.as_str().into(),
                id,
                institution_id: Some(institution),
                audience: audience.to_text(),
                changed_seq: seq,
                changed_at: now,
            })
            .collect();
        store::insert_subjects(conn, &rows)?;
    }
    let ids = store::all_institution_ids(conn)?;
    let verified = store::institutions(conn, &ids)?;
    for (id, v) in verified {
        store::put_subject(
            conn,
            &SubjectRow {
                kind: SubjectKind::Institution.as_str().into(),
                id: id.clone(),
                institution_id: Some(id.clone()),
                audience: rule::institution_audience(&id, v).to_text(),
                changed_seq: seq,
                changed_at: now,
            },
        )?;
    }
    let users = store::people_with_keys(conn)?;
    for chunk in users.chunks(500) {
        for (u, k) in people_keys(conn, chunk)? {
            store::put_viewer(conn, &u, &k.to_text())?;
        }
    }
    Ok(())
}

// ----- reading -------------------------------------------------------------------

/// What a page asks for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `None`: start now.
    pub since: Option<Cursor>,
    pub limit: usize,
    pub kinds: Option<HashSet<SubjectKind>>,
    /// An institution's id.
    pub institution: Option<String>,
    pub embed: bool,
    /// With `embed`: the top-level fields to keep (`id` and `kind` always).
    pub fields: Option<HashSet<String>>,
}

/// One change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Change {
    /// Pass as `since` to continue after this change.
    pub cursor: String,
    /// `changed`: fetch (or take `data`); `gone`: no longer yours to see
    /// (unpublished, deleted, made non-public, a membership or partnership
    /// ended): delete your copy.
    #[schema(example = "changed")]
    pub r#type: ChangeType,
    pub kind: SubjectKind,
    /// The subject's id (an enrollment: its course's id).
    pub id: String,
    /// Goes up whenever the subject changes (for a course: its modules too,
    /// so fetch its offline package again when this moves).
    pub version: i64,
    pub changed_at: DateTime<Utc>,
    /// `true` exactly when `type` is `gone`.
    pub deleted: bool,
    /// With `embed=true`, for courses, datasets and model cards that are
    /// `changed`: the representation as `GET /{kind}/{id}` gives it (trimmed
    /// by `fields=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

crate::domain::word::word_enum!(
    /// What happened to a subject, as far as the caller is concerned.
    ChangeType {
        Changed => "changed",
        Gone => "gone",
    }
);

/// One page of the feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangePage {
    pub items: Vec<Change>,
    /// Keep it: pass it as `since` next time (also when `items` is empty).
    pub cursor: String,
    /// More changes are waiting: ask again at once with `cursor`.
    pub has_more: bool,
}

/// The resync answer: the cursor is older than the changes kept, or the
/// caller's view changed wholesale.
fn resync(detail: &str) -> ApiError {
    ApiError::Gone {
        problem: ProblemType::ResyncRequired,
        detail: detail.into(),
    }
}

fn bad_cursor() -> ApiError {
    Invalid::new(
        FieldCode::InvalidFormat,
        "Not a cursor this feed gave out: start again without `since`.",
    )
    .at("since")
    .into()
}

/// The caller's keys over time: `at(t)` is what they held once event `t`
/// was applied.
struct Timeline {
    now: Keys,
    /// Changes after the cursor, in order.
    changes: Vec<(i64, Keys, Keys)>,
}

impl Timeline {
    fn at(&self, t: i64) -> &Keys {
        // The first change after t says what was held before it.
        match self.changes.iter().find(|(seq, _, _)| *seq > t) {
            Some((_, before, _)) => before,
            None => &self.now,
        }
    }
}

/// Whether a subject with `audience` (held over the event `seq`) was seen
/// just before or just after it.
fn seen_around(timeline: &Timeline, audience: &Keys, seq: i64) -> bool {
    sees(timeline.at(seq - 1), audience) || sees(timeline.at(seq), audience)
}

#[derive(Default)]
struct Candidate {
    row: Option<LogRow>,
    /// The caller's keys changed at this seq and the subject's audience
    /// held one of the keys gained or lost.
    through_keys: bool,
}

/// One page of changes for `principal` (`None`: anonymous).
pub fn page(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    req: &Request,
    retention_secs: u64,
) -> Result<ChangePage, ApiError> {
    let (last, floor) = catch_up(conn, retention_secs)?;
    let Some(since) = req.since.clone() else {
        return Ok(ChangePage {
            items: Vec::new(),
            cursor: Cursor::at(last).encode(),
            has_more: false,
        });
    };
    if since.seq > last || since.seq < 0 {
        return Err(bad_cursor());
    }
    if since.seq < floor || (since.seq == floor && since.after.is_some()) {
        return Err(resync(
            "This cursor is older than the changes kept: fetch everything again, then follow \
             the feed from a new cursor (ask without `since`).",
        ));
    }
    let user = principal.map(|p| p.user.id.clone());
    let stored = match &user {
        Some(u) => Keys::from_text(
            &store::viewer_keys(conn, std::slice::from_ref(u))?
                .remove(u)
                .unwrap_or_default(),
        ),
        None => Keys::new(),
    };
    let vlog = match &user {
        Some(u) => store::viewer_log_of(conn, u, since.seq - 1)?,
        None => Vec::new(),
    };
    let timeline = Timeline {
        now: caller_keys(user.as_deref(), &stored),
        changes: vlog
            .iter()
            .map(|v| {
                (
                    v.event_seq,
                    caller_keys(user.as_deref(), &Keys::from_text(&v.before)),
                    caller_keys(user.as_deref(), &Keys::from_text(&v.after)),
                )
            })
            .collect(),
    };
    if vlog.iter().filter(|v| v.event_seq > since.seq).any(|v| {
        Keys::from_text(&v.before).contains(ADMIN) != Keys::from_text(&v.after).contains(ADMIN)
    }) {
        return Err(resync(
            "Your platform role changed, and with it everything you may see: fetch everything \
             again, then follow the feed from a new cursor (ask without `since`).",
        ));
    }

    // The subjects' own changes.
    let after_key: Option<(String, String)> = since
        .after
        .as_deref()
        .and_then(|a| a.split_once('/'))
        .map(|(k, i)| (k.to_string(), i.to_string()));
    let scan = (i64::try_from(req.limit).unwrap_or(SCAN_MAX) * 4).clamp(SCAN_MIN, SCAN_MAX);
    let rows = store::log_after(
        conn,
        since.seq,
        after_key.as_ref().map(|(k, i)| (k.as_str(), i.as_str())),
        scan,
    )?;
    let full = rows.len() as i64 == scan;
    // The last (seq, key) this page may cover.
    let end: (i64, Option<(String, String)>) = match rows.last() {
        Some(r) if full => (r.event_seq, Some((r.kind.clone(), r.id.clone()))),
        _ => (last, None),
    };
    let in_range = |seq: i64, kind: &str, id: &str| -> bool {
        let key = (kind.to_string(), id.to_string());
        let past_start =
            seq > since.seq || (seq == since.seq && after_key.as_ref().is_some_and(|a| key > *a));
        let before_end = seq < end.0 || (seq == end.0 && end.1.as_ref().is_none_or(|e| key <= *e));
        past_start && before_end
    };
    let mut candidates: BTreeMap<(i64, String, String), Candidate> = BTreeMap::new();
    for r in rows {
        if in_range(r.event_seq, &r.kind, &r.id) {
            let key = (r.event_seq, r.kind.clone(), r.id.clone());
            candidates.entry(key).or_default().row = Some(r);
        }
    }
    // The caller's own key changes.
    let mut expansions: Vec<(i64, String, String)> = Vec::new();
    for v in vlog
        .iter()
        .filter(|v| v.event_seq >= since.seq && v.event_seq <= end.0)
    {
        let diff = Keys::from_text(&v.before).difference(&Keys::from_text(&v.after));
        let mut subjects: HashSet<(String, String)> = HashSet::new();
        for key in diff.iter() {
            subjects.extend(
                store::subjects_with_key(conn, key)?
                    .into_iter()
                    .map(|s| (s.kind, s.id)),
            );
            subjects.extend(store::subjects_that_had_key(conn, key, v.event_seq)?);
        }
        for (kind, id) in subjects {
            if in_range(v.event_seq, &kind, &id) {
                candidates
                    .entry((v.event_seq, kind.clone(), id.clone()))
                    .or_default()
                    .through_keys = true;
                expansions.push((v.event_seq, kind, id));
            }
        }
    }
    // What the subjects' audiences were at those key changes: the `before`
    // of their first change after it, else what it is now.
    let earliest = expansions.iter().map(|(s, _, _)| *s).min();
    let later_rows: Vec<LogRow> = match earliest {
        Some(from) => {
            let subjects: Vec<(String, String)> = expansions
                .iter()
                .map(|(_, k, i)| (k.clone(), i.clone()))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            store::log_of_after(conn, &subjects, from)?
        }
        None => Vec::new(),
    };
    // The subjects as they are now.
    let mut by_kind: HashMap<String, Vec<String>> = HashMap::new();
    for (_, k, i) in candidates.keys() {
        by_kind.entry(k.clone()).or_default().push(i.clone());
    }
    let mut current: HashMap<(String, String), SubjectRow> = HashMap::new();
    for (k, ids) in by_kind {
        for s in store::subjects(conn, &k, &ids)? {
            current.insert((s.kind.clone(), s.id.clone()), s);
        }
    }

    // Decide, in order.
    let mut decided: Vec<((i64, String, String), ChangeType)> = Vec::new();
    for ((seq, kind, id), c) in &candidates {
        let Some(subject_kind) = SubjectKind::parse(kind) else {
            continue;
        };
        if let Some(kinds) = &req.kinds
            && !kinds.contains(&subject_kind)
        {
            continue;
        }
        let now = current.get(&(kind.clone(), id.clone()));
        if let Some(inst) = &req.institution
            && now.and_then(|s| s.institution_id.as_ref()) != Some(inst)
        {
            continue;
        }
        let audience_now = now
            .map(|s| Keys::from_text(&s.audience))
            .unwrap_or_default();
        let verdict = if sees(&timeline.now, &audience_now) {
            Some(ChangeType::Changed)
        } else {
            let mut seen = false;
            if let Some(r) = &c.row {
                seen |= sees(timeline.at(seq - 1), &Keys::from_text(&r.before))
                    || sees(timeline.at(*seq), &Keys::from_text(&r.after));
            }
            if c.through_keys && !seen {
                let then = later_rows
                    .iter()
                    .find(|r| r.event_seq > *seq && r.kind == *kind && r.id == *id)
                    .map(|r| Keys::from_text(&r.before))
                    .unwrap_or_else(|| audience_now.clone());
                seen |= seen_around(&timeline, &then, *seq);
            }
            seen.then_some(ChangeType::Gone)
        };
        if let Some(v) = verdict {
            decided.push(((*seq, kind.clone(), id.clone()), v));
        }
    }
    // One entry per subject: its last.
    let mut last_index: HashMap<(String, String), usize> = HashMap::new();
    for (i, ((_, k, id), _)) in decided.iter().enumerate() {
        last_index.insert((k.clone(), id.clone()), i);
    }
    let mut items = Vec::new();
    let mut cut = false;
    for (i, ((seq, kind, id), verdict)) in decided.iter().enumerate() {
        if last_index.get(&(kind.clone(), id.clone())) != Some(&i) {
            continue;
        }
        if items.len() == req.limit {
            cut = true;
            break;
        }
        let subject = current.get(&(kind.clone(), id.clone()));
        let Some(subject_kind) = SubjectKind::parse(kind) else {
            continue;
        };
        let shown_id = match subject_kind {
            SubjectKind::Enrollment => id.split_once('/').map(|(c, _)| c).unwrap_or(id).to_string(),
            _ => id.clone(),
        };
        let (version, changed_at) = match subject {
            Some(s) => (s.changed_seq, s.changed_at),
            None => (*seq, db::now()),
        };
        items.push(Change {
            cursor: Cursor {
                seq: *seq,
                after: Some(format!("{kind}/{id}")),
            }
            .encode(),
            r#type: *verdict,
            kind: subject_kind,
            id: shown_id,
            version,
            changed_at: DateTime::from_naive_utc_and_offset(changed_at, Utc),
            deleted: *verdict == ChangeType::Gone,
            data: None,
        });
    }
    let cursor = match (cut, items.last()) {
        (true, Some(c)) => c.cursor.clone(),
        _ => match &end.1 {
            Some((k, i)) => Cursor {
                seq: end.0,
                after: Some(format!("{k}/{i}")),
            }
            .encode(),
            None => Cursor::at(end.0).encode(),
        },
    };
    if req.embed {
        embed(conn, principal, &mut items, req.fields.as_ref())?;
    }
    Ok(ChangePage {
        items,
        cursor,
        has_more: cut || full,
    })
}

/// Adds the current representation of changed resources, exactly as the
/// single read gives it to the caller (so nothing the read would hide).
fn embed(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    items: &mut [Change],
    fields: Option<&HashSet<String>>,
) -> Result<(), ApiError> {
    for item in items.iter_mut() {
        if item.r#type != ChangeType::Changed {
            continue;
        }
        let kind = match item.kind {
            SubjectKind::Course => ResourceKind::Course,
            SubjectKind::Dataset => ResourceKind::Dataset,
            SubjectKind::ModelCard => ResourceKind::ModelCard,
            _ => continue,
        };
        match crate::app::resources::show(
            conn,
            principal,
            kind,
            &item.id,
            crate::app::resources::Include::default(),
        ) {
            Ok(resource) => {
                let mut json = resource.to_json()?;
                if let (Some(keep), Value::Object(map)) = (fields, &mut json) {
                    map.retain(|k, _| keep.contains(k) || k == "id" || k == "kind");
                }
                item.data = Some(json);
            }
            // Changed again since (hidden now): the next page says so.
            Err(ApiError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
