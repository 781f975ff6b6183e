//! Withdrawing what was published (issue #19): `POST /{kind}/{id}/deaccession`.
//!
//! An owner of the resource's institution (or an administrator) withdraws
//! the whole resource or one earlier version, with a reason. What was
//! withdrawn then answers `410 Gone` with a tombstone (title, institution,
//! version, citation, reason, date), so a citation still resolves to
//! something that says what it was and why it is gone, never to the content.
//!
//! A whole resource becomes `deaccessioned`: the visibility rule shows such
//! a resource to nobody but its editors (`domain::policy::resource_visible`),
//! so it leaves lists, search, facets, type-ahead and the DCAT catalogue at
//! once, and the OAI-PMH and feed projections (which ask the same rule)
//! turn it into a deleted record and a `deleted: true` change. Its grants
//! and pending access requests end in the same transaction, each holder
//! told by email; file links issued before are refused from then on.
//!
//! One version: it must not be the latest (publish a newer one first, or
//! withdraw the whole resource: 409 `deaccession-latest-version`); the
//! resource and its other versions stay as they are.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::citation::cited;
use crate::app::resources::{facts, lifecycle, lock};
use crate::auth::Principal;
use crate::db::audit::Context;
use crate::db::resources::{self as store, Loaded, Viewer};
use crate::db::versions as versions_store;
use crate::db::withdrawals::{self as withdrawals, DeaccessionRow};
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::citation::Style;
use crate::domain::events::Event;
use crate::domain::policy::{self, Action};
use crate::domain::resource::{ResourceKind, Status, Step};
use crate::domain::version::{Label, Tombstone};
use crate::error::{ApiError, FieldCode, FieldError};
use crate::problem_types::ProblemType;
use crate::state::AppState;

/// The `version` of a deaccession of the whole resource.
pub const WHOLE: &str = "*";

/// The longest reason taken.
const REASON_MAX: usize = 2_000;

/// The body of `POST /{kind}/{id}/deaccession`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Consent withdrawn by the speakers' community.", "version": "1.1"}))]
pub struct DeaccessionRequest {
    /// Why it is withdrawn (shown in the tombstone): 1–2,000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
    /// One earlier version (`1.1`) instead of the whole resource.
    #[serde(default)]
    #[schema(example = "1.1")]
    pub version: Option<String>,
}

fn check_reason(raw: &str) -> Result<String, ApiError> {
    let reason = raw.trim();
    let bad = |code, message: &str| Err(ApiError::field("reason", code, message));
    if reason.is_empty() {
        return bad(
            FieldCode::Required,
            "Say why it is withdrawn (1–2,000 characters): the tombstone shows it.",
        );
    }
    if reason.chars().count() > REASON_MAX {
        return bad(FieldCode::TooLong, "At most 2,000 characters.");
    }
    if reason
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return bad(
            FieldCode::ControlCharacters,
            "No control characters but line breaks and tabs.",
        );
    }
    Ok(reason.to_string())
}

/// The tombstone of deaccession `row` of `l`.
fn tombstone_of(
    conn: &mut DbConnection,
    l: &Loaded,
    row: &DeaccessionRow,
) -> Result<Tombstone, ApiError> {
    let whole = row.version == WHOLE;
    let version = if whole {
        versions_store::head(conn, &l.row.id)?.map(|h| {
            Label {
                major: h.major,
                minor: h.minor,
            }
            .to_string()
        })
    } else {
        Some(row.version.clone())
    };
    Ok(Tombstone {
        id: l.row.id.clone(),
        kind: l.row.kind,
        title: row.title.clone(),
        institution: l.institution_slug.clone(),
        institution_name: l.institution_name.clone(),
        version,
        citation: row.citation.clone(),
        reason: row.reason.clone(),
        deaccessioned_at: row.deaccessioned_at.and_utc(),
        whole,
    })
}

/// Whether the caller could see `l` before it was withdrawn.
fn saw_it(principal: Option<&Principal>, l: &Loaded, viewer: &Viewer) -> bool {
    let mut before = facts(l, viewer);
    before.status = Status::Published;
    policy::resource_visible(&Principal::actor_of(principal), &before)
}

/// What answers for a withdrawn resource: its tombstone (410) for those
/// who could see it, 404 for anyone else.
pub(crate) fn gone(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    l: &Loaded,
    viewer: &Viewer,
) -> ApiError {
    if !saw_it(principal, l, viewer) {
        return ApiError::NotFound;
    }
    let found = withdrawals::one(conn, &l.row.id, WHOLE)
        .map_err(ApiError::from)
        .and_then(|row| {
            let row = row.ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "resource {} is deaccessioned without a record of it",
                    l.row.id
                ))
            })?;
            tombstone_of(conn, l, &row)
        });
    match found {
        Ok(t) => ApiError::Deaccessioned(Box::new(t)),
        Err(err) => err,
    }
}

/// The tombstone of version `label` of `l` if it was withdrawn (the caller
/// may see the version).
pub(crate) fn version_gone(
    conn: &mut DbConnection,
    l: &Loaded,
    label: Label,
) -> Result<Option<ApiError>, ApiError> {
    match withdrawals::one(conn, &l.row.id, &label.to_string())? {
        Some(row) => Ok(Some(ApiError::Deaccessioned(Box::new(tombstone_of(
            conn, l, &row,
        )?)))),
        None => Ok(None),
    }
}

/// Withdraws resource `id` (or one earlier version of it). `origin` and
/// `platform` make the tombstone's citation.
#[allow(clippy::too_many_arguments)]
pub fn deaccession(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    kind: ResourceKind,
    id: &str,
    req: &DeaccessionRequest,
    origin: &str,
    platform: &str,
) -> Result<Tombstone, ApiError> {
    let reason = check_reason(&req.reason)?;
    let label = match req.version.as_deref() {
        None => None,
        Some(raw) => Some(Label::parse(raw.trim()).ok_or_else(|| {
            FieldError::new(
                "version",
                FieldCode::InvalidFormat,
                "A version label like `1.2` (see the resource's versions).",
            )
        })?),
    };
    write_transaction(conn, |conn| {
        lock(conn, id)?;
        let (l, viewer) = crate::app::resources::load(conn, kind, id, Some(principal))?;
        let act = Principal::actor_of(Some(principal));
        policy::enforce(policy::may(
            &act,
            Action::DeaccessionResource(facts(&l, &viewer)),
        ))?;
        let now = now();
        let by = Some(principal.user.id.clone());
        let mut cite = cited(&l, origin, platform);
        match label {
            Some(label) => {
                let row = crate::app::versions::version_row(conn, id, &label.to_string())?;
                if let Some(gone) = version_gone(conn, &l, label)? {
                    return Err(gone);
                }
                let head = versions_store::head(conn, id)?;
                if head.is_some_and(|h| h.major == label.major && h.minor == label.minor) {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::DeaccessionLatestVersion,
                        detail: format!(
                            "{label} is the latest version: publish a newer version first, or \
                             withdraw the whole resource (no `version`)."
                        ),
                    });
                }
                let title = crate::app::versions::title_of(&l, &row)?;
                cite.title.clone_from(&title);
                cite.version = row.revision;
                cite.url = format!("{}/versions/{label}", cite.url);
                let d = DeaccessionRow {
                    resource_id: id.to_string(),
                    version: label.to_string(),
                    reason: reason.clone(),
                    title,
                    citation: cite.render(Style::Apa).trim_end().to_string(),
                    deaccessioned_by: by,
                    deaccessioned_at: now,
                };
                withdrawals::insert(conn, &d)?;
                crate::app::resources::record(
                    conn,
                    ctx,
                    &l.row,
                    &Event::ResourceVersionDeaccessioned {
                        kind,
                        label: label.to_string(),
                        reason,
                    },
                )?;
                tombstone_of(conn, &l, &d)
            }
            None => {
                if l.row.status == Status::Draft {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::InvalidTransition,
                        detail: "This resource was never published: delete the draft instead \
                                 (DELETE), nothing cites it."
                            .into(),
                    });
                }
                let to = lifecycle(&l, Step::Deaccession)?.unwrap_or(Status::Deaccessioned);
                if !store::set_status(conn, id, l.row.status, to, now)? {
                    return Err(ApiError::internal(anyhow::anyhow!(
                        "status changed under lock"
                    )));
                }
                versions_store::delete_draft(conn, id)?;
                let d = DeaccessionRow {
                    resource_id: id.to_string(),
                    version: WHOLE.to_string(),
                    reason: reason.clone(),
                    title: l.row.title.clone(),
                    citation: cite.render(Style::Apa).trim_end().to_string(),
                    deaccessioned_by: by,
                    deaccessioned_at: now,
                };
                withdrawals::insert(conn, &d)?;
                let ended = end_grants(conn, state, id, now, "deaccessioned", Some(&reason))?;
                let head = versions_store::head(conn, id)?.map(|h| {
                    Label {
                        major: h.major,
                        minor: h.minor,
                    }
                    .to_string()
                });
                crate::app::resources::record(
                    conn,
                    ctx,
                    &l.row,
                    &Event::ResourceDeaccessioned {
                        resource: crate::app::resources::summary_of(&l.row),
                        visibility: l.row.visibility,
                        label: head,
                        reason,
                        grants_ended: ended,
                    },
                )?;
                tombstone_of(conn, &l, &d)
            }
        }
    })
}

/// Ends every grant and pending request on dataset `id` for `cause`
/// (each holder is emailed); answers how many grants ended.
pub(crate) fn end_grants(
    conn: &mut DbConnection,
    state: &AppState,
    id: &str,
    now: chrono::NaiveDateTime,
    cause: crate::app::access::Cause,
    note: Option<&str>,
) -> Result<usize, ApiError> {
    let mut grants = 0;
    for row in crate::db::access::open_of_dataset(conn, id)? {
        let was_grant = row.status == crate::domain::access::RequestStatus::Approved;
        if crate::app::access::end(conn, state, &row, now, Some(cause), note)? && was_grant {
            grants += 1;
        }
    }
    Ok(grants)
}

/// What a reader sees of a link (`k`) besides its target: for a pinned
/// link, the target's latest version (`head`); for a link to a withdrawn resource
/// (`withdrawn`) or pinned to a withdrawn version of a live one (`live`),
/// the tombstone that answers for it.
pub(crate) fn annotate_link(
    conn: &mut DbConnection,
    k: &mut crate::domain::resource::Link,
    head: Option<&crate::db::versions::Head>,
    live: Option<&Loaded>,
    withdrawn: Option<&Loaded>,
) -> Result<(), ApiError> {
    // Only a pinned link may lag behind: an unpinned one is the latest.
    if k.version.is_some() {
        k.latest_version = head.map(|(major, minor, _)| {
            Label {
                major: *major,
                minor: *minor,
            }
            .to_string()
        });
    }
    if let Some(t) = withdrawn {
        if let Some(row) = withdrawals::one(conn, &t.row.id, WHOLE)? {
            k.tombstone = Some(Box::new(tombstone_of(conn, t, &row)?));
        }
        return Ok(());
    }
    if let (Some(t), Some(pinned)) = (live, k.version.as_deref())
        && let Some(row) = withdrawals::one(conn, &t.row.id, pinned)?
    {
        k.tombstone = Some(Box::new(tombstone_of(conn, t, &row)?));
    }
    Ok(())
}
