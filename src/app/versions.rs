//! Published versions of a resource and the draft of its next one (issue
//! #19).
//!
//! Publishing a resource makes version `1.0`. After that its row (what
//! `GET /{kind}/{id}`, lists, search, the feed and the harvesters read) is
//! the latest published version and changes only when a new version is
//! published: editors change a **draft** of the next version
//! (`resource_drafts`: the whole edited document), and publishing it writes
//! the draft into the row (the same checks, index and events as any edit)
//! and keeps the new content as a snapshot (`resource_versions`), so every
//! version stays readable as it was published. Whether the new version is
//! minor or major follows `domain::version::MAJOR_FIELDS` (or the
//! publisher's `major: true`).
//!
//! Not yet versioned (the row's own, live): a dataset's files and a course's
//! modules are changed through their own endpoints at once, as before; a
//! version's snapshot lists them as they were when it was published, and a
//! change of them makes the next version major.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::app::resources::{
    AnyResource, Extras, ResourceCore, changed_fields, check_document, check_if_match, content_of,
    document_of, facts, lifecycle, links_of, load, lock, patched, record, represent_one,
    represent_with, unreadable, visible, write_document,
};
use crate::auth::Principal;
use crate::db::audit::Context;
use crate::db::resources::{self as store, Loaded, Viewer};
use crate::db::versions::{self as versions_store, DraftRow, VersionRow};
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::events::Event;
use crate::domain::policy::{self, Action, Decision};
use crate::domain::resource::{
    self as doc, Details, Document, Link, ResourceKind, Status, Step, Visibility,
};
use crate::domain::version::{self, FieldChange, Label};
use crate::error::{ApiError, FieldCode, FieldError};
use crate::problem_types::ProblemType;

/// What a version keeps: its document as published, and (datasets,
/// courses) its files or modules by id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// `domain::resource::Document::to_map`: the fields a PATCH edits,
    /// with `related`.
    pub document: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<Value>>,
}

impl Snapshot {
    /// The document with the files and modules as fields: what a diff and
    /// the major-version rule compare.
    fn flat(&self) -> Map<String, Value> {
        let mut map = self.document.clone();
        if let Some(files) = &self.files {
            map.insert("files".into(), Value::Array(files.clone()));
        }
        if let Some(modules) = &self.modules {
            map.insert("modules".into(), Value::Array(modules.clone()));
        }
        map
    }

    fn to_text(&self) -> Result<String, ApiError> {
        serde_json::to_string(self).map_err(ApiError::internal)
    }

    fn parse(raw: &str) -> Result<Snapshot, ApiError> {
        serde_json::from_str(raw).map_err(|e| {
            ApiError::internal(anyhow::Error::new(e).context("a stored version does not read"))
        })
    }
}

/// The body of `POST /{kind}/{id}/publish` (optional).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"major": false, "note": "Clearer summary; two more tags."}))]
pub struct PublishRequest {
    /// Make the new version a major one (`2.0` after `1.4`) even if only
    /// its description changed.
    #[serde(default)]
    pub major: bool,
    /// What changed, for readers (required for a major version; at most
    /// 2,000 characters).
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// One entry of `GET /{kind}/{id}/versions`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"label": "1.1", "note": "Clearer summary.", "summary": "Changed: summary, tags.", "published_at": "2026-12-12T09:30:00Z", "url": "/api/v1/datasets/0190f7a8-54c1-7cc2-9d23-fb0a4a0c8f31/versions/1.1", "diff_url": "/api/v1/datasets/0190f7a8-54c1-7cc2-9d23-fb0a4a0c8f31/versions/1.0/diff/1.1"}))]
pub struct VersionInfo {
    /// `1.2`.
    #[schema(example = "1.2")]
    pub label: String,
    /// What its publisher said of it.
    pub note: Option<String>,
    /// One line: the fields that changed from the version before.
    pub summary: String,
    pub published_at: DateTime<Utc>,
    /// Who published it (user id; shown to the institution's editors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
    /// The version itself.
    pub url: String,
    /// What changed from the version before (absent for the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_url: Option<String>,
    /// Set when this version was withdrawn: it answers `410` with a
    /// tombstone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deaccessioned: Option<Withdrawn>,
}

/// When and why a version was withdrawn.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Withdrawn {
    pub reason: String,
    pub deaccessioned_at: DateTime<Utc>,
}

/// `GET /{kind}/{id}/versions/{a}/diff/{b}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"from": "1.0", "to": "1.1", "summary": "Changed: title.", "changes": [{"field": "title", "change": "changed", "from": "Radio speech", "to": "Radio speech, cleaned"}]}))]
pub struct VersionDiff {
    #[schema(example = "1.0")]
    pub from: String,
    #[schema(example = "1.1")]
    pub to: String,
    /// One line naming the fields that changed.
    pub summary: String,
    /// Field by field, in field order; files and modules by id.
    pub changes: Vec<FieldChange>,
}

fn label_of(row: &VersionRow) -> Label {
    Label {
        major: row.major,
        minor: row.minor,
    }
}

fn base_path(kind: ResourceKind, id: &str) -> String {
    format!("/api/v1/{}/{id}", kind.collection())
}

/// Sets the version fields of a representation of the published version
/// `major.minor`.
pub fn label_core(core: &mut ResourceCore, major: i32, minor: i32, note: Option<String>) {
    core.version_label = Some(Label { major, minor }.to_string());
    core.version_note = note;
    core.versions_url = Some(format!("{}/versions", base_path(core.kind, &core.id)));
}

/// What `l` holds now, as a version keeps it.
fn snapshot_of(conn: &mut DbConnection, l: &Loaded) -> Result<Snapshot, ApiError> {
    let id = &l.row.id;
    let links = links_of(&store::relations_of(conn, std::slice::from_ref(id))?, id);
    let document = document_of(&l.row, links)?.to_map();
    let files = match l.row.kind {
        ResourceKind::Dataset => Some(
            store::files(conn, id, None, i64::MAX)?
                .into_iter()
                .map(|f| {
                    json!({"id": f.id, "name": f.name, "media_type": f.media_type,
                           "size_bytes": f.size_bytes, "sha256": f.sha256})
                })
                .collect(),
        ),
        _ => None,
    };
    let modules = match l.row.kind {
        ResourceKind::Course => Some(
            crate::db::learning::modules(conn, id)?
                .into_iter()
                .map(|m| {
                    json!({"id": m.id, "position": m.position, "title": m.title,
                           "required": m.required, "duration_minutes": m.duration_minutes})
                })
                .collect(),
        ),
        _ => None,
    };
    Ok(Snapshot {
        document,
        files,
        modules,
    })
}

/// A stored document read back as it was stored, without today's rules
/// (it was valid when stored; a rule tightened since must not make an old
/// version unreadable).
fn document_from(l: &Loaded, map: &Map<String, Value>) -> Result<Document, ApiError> {
    let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |k: &str| -> Vec<String> {
        map.get(k)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    };
    let details: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !doc::CORE_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let details =
        Details::from_json(l.row.kind, &Value::Object(details).to_string()).map_err(|e| {
            ApiError::internal(anyhow::Error::new(e).context(format!(
                "a stored version of resource {} does not read",
                l.row.id
            )))
        })?;
    Ok(Document {
        core: doc::Core {
            title: text("title").unwrap_or_default(),
            summary: text("summary").unwrap_or_default(),
            description: text("description").unwrap_or_default(),
            license: text("license"),
            languages: list("languages"),
            countries: list("countries"),
            tags: list("tags"),
            // Never wider than stored: an unreadable value hides it.
            visibility: text("visibility")
                .as_deref()
                .and_then(Visibility::parse)
                .unwrap_or(Visibility::Institution),
            related: map
                .get("related")
                .and_then(|v| serde_json::from_value::<Vec<Link>>(v.clone()).ok())
                .unwrap_or_default(),
            doi: text("doi"),
        },
        details,
    })
}

/// `l` as it would be with document `d` as its content.
fn with_document(l: &Loaded, d: &Document) -> Loaded {
    let c = content_of(d);
    let mut out = l.clone();
    let row = &mut out.row;
    row.title = c.title;
    row.title_lower = c.title_lower;
    row.summary = c.summary;
    row.description = c.description;
    row.license = c.license;
    row.languages = c.languages;
    row.countries = c.countries;
    row.tags = c.tags;
    row.visibility = c.visibility;
    row.access_level = c.access_level;
    row.risk_tier = c.risk_tier;
    row.details = c.details;
    row.doi = c.doi;
    out
}

/// The representation of `l` with content `d` (links as `d` has them,
/// those to resources the caller may not see left out).
fn represent_document(
    conn: &mut DbConnection,
    l: &Loaded,
    viewer: &Viewer,
    principal: Option<&Principal>,
    d: &Document,
    status: Status,
) -> Result<AnyResource, ApiError> {
    let mut shown = with_document(l, d);
    shown.row.status = status;
    let given = d
        .core
        .related
        .iter()
        .map(|k| {
            (
                l.row.id.clone(),
                k.relation,
                k.resource_id.clone(),
                k.version.clone(),
            )
        })
        .collect();
    represent_with(
        conn,
        std::slice::from_ref(&shown),
        viewer,
        principal,
        false,
        true,
        Extras::default(),
        Some(given),
    )?
    .pop()
    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no representation")))
}

fn may(principal: Option<&Principal>, action: Action) -> Decision {
    policy::may(&Principal::actor_of(principal), action)
}

fn no_draft(kind: ResourceKind, id: &str) -> ApiError {
    ApiError::NotFoundNamed(format!(
        "This resource has no draft of a next version; a PATCH of {}/draft starts one from the \
         latest version.",
        base_path(kind, id)
    ))
}

// ----- the draft of the next version --------------------------------------------------

/// The draft, as the caller (an editor) sees it: for a resource never
/// published, the resource itself.
pub fn draft(
    conn: &mut DbConnection,
    principal: &Principal,
    kind: ResourceKind,
    id: &str,
) -> Result<AnyResource, ApiError> {
    let (l, viewer) = load(conn, kind, id, Some(principal))?;
    // Only those who edit it learn that a draft exists.
    if may(Some(principal), Action::EditResource(facts(&l, &viewer))) != Decision::Allow {
        return Err(ApiError::NotFound);
    }
    match l.row.status {
        Status::Draft => represent_one(conn, &l, &viewer, Some(principal), Default::default()),
        Status::Archived | Status::Deaccessioned => Err(no_draft(kind, id)),
        Status::Published => {
            let row = versions_store::draft(conn, id)?.ok_or_else(|| no_draft(kind, id))?;
            let d = document_from(&l, &parse_map(&row.document)?)?;
            represent_draft(conn, &l, &viewer, principal, &d, &row)
        }
    }
}

/// The draft of the next version as its editors see it: its own revision
/// and date (its `ETag` moves with every change), `status: draft`, and where
/// the published versions are.
fn represent_draft(
    conn: &mut DbConnection,
    l: &Loaded,
    viewer: &Viewer,
    principal: &Principal,
    d: &Document,
    row: &DraftRow,
) -> Result<AnyResource, ApiError> {
    let mut rep = represent_document(conn, l, viewer, Some(principal), d, Status::Draft)?;
    let core = rep.core_mut();
    core.version = l.row.version + row.revision;
    core.updated_at = row.updated_at.and_utc();
    core.versions_url = Some(format!("{}/versions", base_path(l.row.kind, &l.row.id)));
    Ok(rep)
}

fn parse_map(raw: &str) -> Result<Map<String, Value>, ApiError> {
    serde_json::from_str(raw).map_err(|e| {
        ApiError::internal(anyhow::Error::new(e).context("a stored draft does not read"))
    })
}

/// Changes the draft of the next version (JSON merge patch), creating it
/// from the latest version; for a resource never published, the resource
/// itself (`app::resources::update`).
pub fn patch_draft(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    kind: ResourceKind,
    id: &str,
    patch: Map<String, Value>,
    if_match: Option<&str>,
) -> Result<AnyResource, ApiError> {
    write_transaction(conn, |conn| {
        lock(conn, id)?;
        let (l, viewer) = load(conn, kind, id, Some(principal))?;
        let act = Principal::actor_of(Some(principal));
        policy::enforce(policy::may(&act, Action::EditResource(facts(&l, &viewer))))?;
        if l.row.status == Status::Draft {
            return crate::app::resources::update(conn, ctx, principal, kind, id, patch, if_match);
        }
        lifecycle(&l, Step::Edit)?;
        let links = links_of(
            &store::relations_of(conn, std::slice::from_ref(&l.row.id))?,
            id,
        );
        let published = document_of(&l.row, links)?;
        let existing = versions_store::draft(conn, id)?;
        let base = match &existing {
            Some(row) => document_from(&l, &parse_map(&row.document)?)?,
            None => published.clone(),
        };
        let d = patched(kind, &l.institution_country, &base, patch)?;
        // The draft must stay publishable: links you may make, terms you
        // may set, complete.
        check_document(conn, &act, &l, &viewer, &published, &d, true)?;
        // Checked last: a bad body is a 400 whatever version it names.
        let current = match &existing {
            Some(row) => represent_draft(conn, &l, &viewer, principal, &base, row)?,
            None => represent_one(conn, &l, &viewer, Some(principal), Default::default())?,
        };
        check_if_match(&current, if_match)?;
        let (was, is) = (base.to_map(), d.to_map());
        let changed = changed_fields(&was, &is);
        let at = now();
        let revision = existing.as_ref().map_or(1, |r| r.revision + 1);
        let saved = DraftRow {
            resource_id: id.to_string(),
            document: serde_json::to_string(&Value::Object(is)).map_err(ApiError::internal)?,
            revision,
            created_by: Some(principal.user.id.clone()),
            created_at: existing.as_ref().map_or(at, |r| r.created_at),
            updated_at: at,
        };
        versions_store::save_draft(conn, &saved)?;
        record(
            conn,
            ctx,
            &l.row,
            &Event::ResourceDraftUpdated {
                kind,
                changed,
                revision,
            },
        )?;
        represent_draft(conn, &l, &viewer, principal, &d, &saved)
    })
}

/// Checks `If-Match` against the draft of the next version of `l` (412
/// when it names another revision, or there is no draft).
pub(crate) fn check_draft_tag(
    conn: &mut DbConnection,
    principal: &Principal,
    l: &Loaded,
    viewer: &Viewer,
    if_match: Option<&str>,
) -> Result<(), ApiError> {
    let row = versions_store::draft(conn, &l.row.id)?.ok_or(ApiError::PreconditionFailed)?;
    let d = document_from(l, &parse_map(&row.document)?)?;
    check_if_match(
        &represent_draft(conn, l, viewer, principal, &d, &row)?,
        if_match,
    )
}

/// Discards the draft of the next version; for a resource never
/// published, deletes it (`app::resources::delete`).
pub fn discard_draft(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    kind: ResourceKind,
    id: &str,
    if_match: Option<&str>,
) -> Result<(), ApiError> {
    write_transaction(conn, |conn| {
        lock(conn, id)?;
        let (l, viewer) = load(conn, kind, id, Some(principal))?;
        let act = Principal::actor_of(Some(principal));
        policy::enforce(policy::may(&act, Action::EditResource(facts(&l, &viewer))))?;
        if l.row.status == Status::Draft {
            // Never published: the resource itself is the draft, deleted
            // only by `DELETE /{kind}/{id}` (discarding a draft of a next
            // version must never delete a resource).
            return Err(ApiError::NotFoundNamed(format!(
                "This resource was never published, so it has no draft of a next version to \
                 discard; delete the resource itself with DELETE {}.",
                base_path(kind, id)
            )));
        }
        let row = versions_store::draft(conn, id)?.ok_or_else(|| no_draft(kind, id))?;
        let d = document_from(&l, &parse_map(&row.document)?)?;
        check_if_match(
            &represent_draft(conn, &l, &viewer, principal, &d, &row)?,
            if_match,
        )?;
        versions_store::delete_draft(conn, id)?;
        record(conn, ctx, &l.row, &Event::ResourceDraftDiscarded { kind })
    })
}

// ----- publishing -----------------------------------------------------------------------

fn check_note(req: &PublishRequest, major: bool) -> Result<Option<String>, ApiError> {
    let note = req
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(ApiError::validation(vec![FieldError::new(
            "note",
            FieldCode::TooLong,
            "At most 2,000 characters.",
        )]));
    }
    if major && note.is_none() {
        return Err(ApiError::validation(vec![FieldError::new(
            "note",
            FieldCode::Required,
            "A major version needs a note saying what changed (its files, modules, results, \
             licence or terms).",
        )]));
    }
    Ok(note)
}

/// Before a file or module of `l` changes (they are not in the draft yet):
/// a version kept as "the resource as it is now" (published before
/// versions existed) gets its snapshot first, so it keeps what it had.
pub(crate) fn freeze_head(conn: &mut DbConnection, l: &Loaded) -> Result<(), ApiError> {
    if l.row.status == Status::Draft {
        return Ok(());
    }
    if let Some(h) = versions_store::head(conn, &l.row.id)?
        && h.snapshot.is_none()
    {
        let snapshot = snapshot_of(conn, l)?;
        versions_store::set_snapshot(conn, &l.row.id, h.major, h.minor, &snapshot.to_text()?)?;
    }
    Ok(())
}

/// Records version 1.0 of `l`, just published by `principal` (the row is
/// the published content).
pub(crate) fn first_version(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    l: &Loaded,
    req: &PublishRequest,
) -> Result<(), ApiError> {
    let note = check_note(req, false)?;
    let snapshot = snapshot_of(conn, l)?;
    versions_store::insert(
        conn,
        &VersionRow {
            resource_id: l.row.id.clone(),
            major: Label::FIRST.major,
            minor: Label::FIRST.minor,
            revision: l.row.version,
            note: note.clone(),
            summary: "First published version.".into(),
            snapshot: Some(snapshot.to_text()?),
            published_by: Some(principal.user.id.clone()),
            published_at: l.row.published_at.unwrap_or_else(now),
        },
    )?;
    record(
        conn,
        ctx,
        &l.row,
        &Event::ResourceVersionPublished {
            kind: l.row.kind,
            label: Label::FIRST.to_string(),
            major: true,
            note,
            visibility: l.row.visibility,
        },
    )
}

/// Publishes the draft of the next version of the published `l` (locked,
/// the caller allowed to publish, `If-Match` checked).
/// Publishes the draft of `l`'s next version. `state` (to tell a course's
/// learners of a new major version) is given by the publish request.
pub(crate) fn publish_next(
    conn: &mut DbConnection,
    state: Option<&crate::state::AppState>,
    ctx: &Context,
    principal: &Principal,
    l: &Loaded,
    viewer: &Viewer,
    req: &PublishRequest,
) -> Result<(), ApiError> {
    let (id, kind) = (l.row.id.as_str(), l.row.kind);
    let Some(draft) = versions_store::draft(conn, id)? else {
        return Err(ApiError::Conflict {
            problem: ProblemType::InvalidTransition,
            detail: format!(
                "This resource is published and has no draft of a next version to publish: \
                 change {}/draft first (an empty PATCH `{{}}` starts one).",
                base_path(kind, id)
            ),
        });
    };
    let head = versions_store::head(conn, id)?;
    let current = snapshot_of(conn, l)?;
    let (head_label, previous) = match &head {
        Some(h) => {
            let previous = match &h.snapshot {
                Some(raw) => Snapshot::parse(raw)?,
                None => {
                    // Published before versions existed: the row is it.
                    versions_store::set_snapshot(conn, id, h.major, h.minor, &current.to_text()?)?;
                    current.clone()
                }
            };
            (label_of(h), previous)
        }
        None => {
            // Published by something that wrote no version (an instance
            // older than versions, during a rolling update): the row is 1.0.
            versions_store::insert(
                conn,
                &VersionRow {
                    resource_id: id.to_string(),
                    major: Label::FIRST.major,
                    minor: Label::FIRST.minor,
                    revision: l.row.version,
                    note: None,
                    summary: "First published version.".into(),
                    snapshot: Some(current.to_text()?),
                    published_by: None,
                    published_at: l.row.published_at.unwrap_or_else(now),
                },
            )?;
            (Label::FIRST, current.clone())
        }
    };
    let act = Principal::actor_of(Some(principal));
    let links = links_of(
        &store::relations_of(conn, std::slice::from_ref(&l.row.id))?,
        id,
    );
    let before = document_of(&l.row, links)?;
    // The draft was checked when saved; publishing checks it again against
    // today's rules (a 400, never a 500, if one tightened since).
    let d = doc::validate(kind, parse_map(&draft.document)?, &l.institution_country)
        .map_err(ApiError::validation)?;
    check_document(conn, &act, l, viewer, &before, &d, true)?;
    write_document(conn, ctx, l, &before, &d)?;
    let l = store::by_id(conn, id)?.ok_or(ApiError::NotFound)?;
    let next = snapshot_of(conn, &l)?;
    let changes = version::diff(&previous.flat(), &next.flat());
    let major = req.major || version::is_major(&changes);
    let note = check_note(req, major)?;
    if changes.is_empty() {
        return Err(ApiError::Conflict {
            problem: ProblemType::InvalidTransition,
            detail: "The draft is the same as the latest version: there is nothing to publish. \
                     Change the draft, or discard it."
                .into(),
        });
    }
    let label = head_label.next(major);
    versions_store::insert(
        conn,
        &VersionRow {
            resource_id: id.to_string(),
            major: label.major,
            minor: label.minor,
            revision: l.row.version,
            note: note.clone(),
            // Links are left out of the one line everyone reads: their
            // targets may be hidden from the reader (the diff filters them).
            summary: version::summary(
                &changes
                    .iter()
                    .filter(|c| version::top_field(c) != "related")
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
            snapshot: Some(next.to_text()?),
            published_by: Some(principal.user.id.clone()),
            published_at: now(),
        },
    )?;
    versions_store::delete_draft(conn, id)?;
    let event = Event::ResourceVersionPublished {
        kind,
        label: label.to_string(),
        major,
        note: note.clone(),
        visibility: l.row.visibility,
    };
    match state {
        Some(state) if kind == ResourceKind::Course && major => {
            // Learners on an older major version are told; they move on
            // when they choose (`POST …/enrollment/upgrade`).
            let mut notices = Vec::new();
            for (user_id, on) in crate::db::learning::learners_before_major(conn, id, label.major)?
            {
                if let Some(user) =
                    crate::db::accounts::user_by_id(conn, &user_id)?.filter(|u| u.active)
                {
                    notices.push(crate::app::events::Notice::new(
                        &user,
                        crate::app::notifications::Kind::CourseNewVersion,
                        json!({"display_name": user.display_name, "course": l.row.title,
                               "course_id": id, "version": label.to_string(),
                               "your_version": on, "note": note}),
                    ));
                }
            }
            crate::app::events::record_notifying(
                conn,
                state,
                ctx,
                id,
                &[l.row.institution_id.as_str()],
                &event,
                notices,
            )
        }
        _ => record(conn, ctx, &l.row, &event),
    }
}

// ----- reading versions -------------------------------------------------------------------

fn readable(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    kind: ResourceKind,
    id: &str,
) -> Result<(Loaded, Viewer), ApiError> {
    let (l, viewer) = load(conn, kind, id, principal)?;
    policy::enforce(may(principal, Action::ViewResource(facts(&l, &viewer))))?;
    Ok((l, viewer))
}

/// The document of version `row` of `l` if the reader may see it as it
/// was published (its own visibility then: a version published for the
/// institution only stays so, whatever the resource became).
fn as_published(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    l: &Loaded,
    viewer: &Viewer,
    row: &VersionRow,
) -> Result<Option<Document>, ApiError> {
    let d = match &row.snapshot {
        Some(raw) => document_from(l, &Snapshot::parse(raw)?.document)?,
        None => {
            let links = links_of(
                &store::relations_of(conn, std::slice::from_ref(&l.row.id))?,
                &l.row.id,
            );
            document_of(&l.row, links)?
        }
    };
    let mut then = with_document(l, &d);
    then.row.status = Status::Published;
    let seen = visible(&Principal::actor_of(principal), &then, viewer);
    Ok(seen.then_some(d))
}

pub(crate) fn version_row(
    conn: &mut DbConnection,
    id: &str,
    raw: &str,
) -> Result<VersionRow, ApiError> {
    let unknown = || {
        ApiError::NotFoundNamed(format!(
            "This resource has no published version `{raw}` (labels look like `1.2`; see its \
             versions)."
        ))
    };
    let label = Label::parse(raw).ok_or_else(unknown)?;
    versions_store::one(conn, id, label.major, label.minor)?.ok_or_else(unknown)
}

/// The title version `row` of `l` was published with.
pub(crate) fn title_of(l: &Loaded, row: &VersionRow) -> Result<String, ApiError> {
    Ok(match &row.snapshot {
        Some(raw) => Snapshot::parse(raw)?
            .document
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or(&l.row.title)
            .to_string(),
        None => l.row.title.clone(),
    })
}

/// A page of the published versions, newest first.
pub fn list(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    kind: ResourceKind,
    id: &str,
    before: Option<String>,
    limit: i64,
) -> Result<Vec<(VersionInfo, String)>, ApiError> {
    let (l, viewer) = readable(conn, principal, kind, id)?;
    let editor = may(principal, Action::EditResource(facts(&l, &viewer))) == Decision::Allow;
    let before = match before {
        Some(raw) => {
            let label = Label::parse(&raw).ok_or_else(|| {
                ApiError::validation(vec![FieldError::new(
                    "cursor",
                    FieldCode::InvalidFormat,
                    "Not a cursor this list gave out.",
                )])
            })?;
            Some((label.major, label.minor))
        }
        None => None,
    };
    // Versions published with a narrower visibility than the resource has
    // now stay hidden from those who could not see them then.
    let mut rows = Vec::new();
    for row in versions_store::page(conn, id, before, limit)? {
        if as_published(conn, principal, &l, &viewer, &row)?.is_some() {
            rows.push(row);
        }
    }
    let base = base_path(kind, id);
    let withdrawn = crate::db::withdrawals::of(conn, id)?;
    // The version before each (for its diff): the next row, or one more read.
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let label = label_of(row);
        let previous = match rows.get(i + 1) {
            Some(p) => Some(label_of(p)),
            None => versions_store::page(conn, id, Some((row.major, row.minor)), 1)?
                .first()
                .map(label_of),
        };
        out.push((
            VersionInfo {
                label: label.to_string(),
                note: row.note.clone(),
                summary: row.summary.clone(),
                published_at: row.published_at.and_utc(),
                published_by: if editor {
                    row.published_by.clone()
                } else {
                    None
                },
                url: format!("{base}/versions/{label}"),
                diff_url: previous.map(|p| format!("{base}/versions/{p}/diff/{label}")),
                deaccessioned: withdrawn
                    .iter()
                    .find(|w| w.version == label.to_string())
                    .map(|w| Withdrawn {
                        reason: w.reason.clone(),
                        deaccessioned_at: w.deaccessioned_at.and_utc(),
                    }),
            },
            label.to_string(),
        ));
    }
    Ok(out)
}

/// One published version, as it was published.
pub fn read(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    kind: ResourceKind,
    id: &str,
    label: &str,
) -> Result<AnyResource, ApiError> {
    let (l, viewer) = readable(conn, principal, kind, id)?;
    let row = version_row(conn, id, label)?;
    let d = as_published(conn, principal, &l, &viewer, &row)?.ok_or(ApiError::NotFound)?;
    if let Some(gone) = crate::app::deaccession::version_gone(conn, &l, label_of(&row))? {
        return Err(gone);
    }
    let mut rep = represent_document(conn, &l, &viewer, principal, &d, Status::Published)?;
    // As it was published, whatever happened to the resource since.
    let core = rep.core_mut();
    label_core(core, row.major, row.minor, row.note.clone());
    core.version = row.revision;
    core.status = Status::Published;
    core.updated_at = row.published_at.and_utc();
    core.archived_at = None;
    Ok(rep)
}

/// What changed from version `a` to version `b`.
pub fn diff(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    kind: ResourceKind,
    id: &str,
    a: &str,
    b: &str,
) -> Result<VersionDiff, ApiError> {
    let (l, viewer) = readable(conn, principal, kind, id)?;
    let (ra, rb) = (version_row(conn, id, a)?, version_row(conn, id, b)?);
    for row in [&ra, &rb] {
        if as_published(conn, principal, &l, &viewer, row)?.is_none() {
            return Err(ApiError::NotFound);
        }
    }
    for row in [&ra, &rb] {
        if let Some(gone) = crate::app::deaccession::version_gone(conn, &l, label_of(row))? {
            return Err(gone);
        }
    }
    let mut flat = |row: &VersionRow| -> Result<Map<String, Value>, ApiError> {
        let snapshot = match &row.snapshot {
            Some(raw) => Snapshot::parse(raw)?,
            None => snapshot_of(conn, &l)?,
        };
        Ok(snapshot.flat())
    };
    let (mut fa, mut fb) = (flat(&ra)?, flat(&rb)?);
    // Links to resources the caller may not see are not shown.
    let mut named: Vec<String> = Vec::new();
    for f in [&fa, &fb] {
        named.extend(linked_ids(f));
    }
    named.sort_unstable();
    named.dedup();
    let actor = Principal::actor_of(principal);
    let seen: HashSet<String> = store::by_ids(conn, &named)
        .map_err(|e| unreadable(conn, e))?
        .into_iter()
        .filter(|t| visible(&actor, t, &viewer))
        .map(|t| t.row.id)
        .collect();
    hide_links(&mut fa, &seen);
    hide_links(&mut fb, &seen);
    let changes = version::diff(&fa, &fb);
    Ok(VersionDiff {
        from: label_of(&ra).to_string(),
        to: label_of(&rb).to_string(),
        summary: version::summary(&changes),
        changes,
    })
}

/// The resources a document names: its links and a model card's results'
/// datasets.
fn linked_ids(map: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(Value::Array(links)) = map.get("related") {
        out.extend(
            links
                .iter()
                .filter_map(|k| k.get("resource_id")?.as_str().map(str::to_string)),
        );
    }
    if let Some(Value::Array(results)) = map.get("results") {
        out.extend(
            results
                .iter()
                .filter_map(|r| r.get("dataset_id")?.as_str().map(str::to_string)),
        );
    }
    out
}

fn hide_links(map: &mut Map<String, Value>, seen: &HashSet<String>) {
    if let Some(Value::Array(links)) = map.get_mut("related") {
        links.retain(|k| {
            k.get("resource_id")
                .and_then(Value::as_str)
                .is_some_and(|id| seen.contains(id))
        });
    }
    if let Some(Value::Array(results)) = map.get_mut("results") {
        for r in results {
            let hidden = r
                .get("dataset_id")
                .and_then(Value::as_str)
                .is_some_and(|id| !seen.contains(id));
            if hidden && let Some(o) = r.as_object_mut() {
                o.insert("dataset_id".into(), Value::Null);
            }
        }
    }
}
