//! Dataset access and data sovereignty, as commands and queries: access
//! requests and the grants they become, file links, the transparency
//! report, and the commands the periodic sweep runs (expiry, reminders).
//!
//! Every function takes the connection (a command opens its own write
//! transaction on it), the actor and typed input, and answers a typed view
//! or an `ApiError`; the handlers in `api::access` extract and render, the
//! job in `jobs::access` picks what is due. Who may do what is
//! `domain::policy` (`RequestAccess`, `DecideAccess`, `Download`…); where
//! the data may go is `domain::transfer`, checked when a request is made,
//! when it is approved and each time a link is issued; which status changes
//! are allowed is `domain::access::transition`. Each command records its
//! event (`domain::events`) with the audit entry and the notifications it
//! causes, in its transaction (`app::events`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::app::events::{self, Notice};
use crate::app::notifications::Kind;
use crate::app::permissions::AccessRequestPermissions;
use crate::app::resources::{details_of, facts, load, status_of};
use crate::auth::{Principal, random_token, token_hash};
use crate::db::access::{self as store, Change, LinkRow, Listed, Of, RequestRow};
use crate::db::accounts::{self, UserRow};
use crate::db::audit::Context;
use crate::db::institutions;
use crate::db::resources::{self as resources_store, Loaded, Viewer};
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::access::{Decision, Event as Move, RequestStatus, transition};
use crate::domain::events::{AccessChange, Event};
use crate::domain::policy::{self, Action};
use crate::domain::resource::{AccessLevel, DatasetFields, Details, ResourceKind, Status};
use crate::domain::transfer::{self, OnBehalfOf, Refusal, Requester};
use crate::error::{ApiError, FieldCode, FieldError, Invalid};
use crate::problem_types::ProblemType;
use crate::state::AppState;

const PURPOSE_MIN: usize = 20;
const PURPOSE_MAX: usize = 2000;
const NOTE_MAX: usize = 2000;
/// Requests one person may make for one dataset in a day.
const REQUESTS_PER_DAY: usize = 3;
/// Groups smaller than this are shown as "<5" in the transparency report.
pub const SUPPRESS_BELOW: i64 = 5;
/// The prefix of a file link's token.
const LINK_PREFIX: &str = "kjf_";

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

// ----- what is loaded and checked ---------------------------------------------------

/// A dataset, who looks at it, and its sovereignty fields.
struct DatasetView {
    loaded: Loaded,
    viewer: Viewer,
    fields: DatasetFields,
}

impl DatasetView {
    fn load(conn: &mut DbConnection, id: &str, p: Option<&Principal>) -> Result<Self, ApiError> {
        let (loaded, viewer) = load(conn, ResourceKind::Dataset, id, p)?;
        Self::of(loaded, viewer)
    }

    /// The dataset of a request as it was, even if withdrawn since (seen
    /// archived: its requests stay readable, and nothing moves them).
    fn as_it_was(
        conn: &mut DbConnection,
        id: &str,
        p: Option<&Principal>,
    ) -> Result<Self, ApiError> {
        let (loaded, viewer) =
            crate::app::resources::load_as_it_was(conn, ResourceKind::Dataset, id, p)?;
        Self::of(loaded, viewer)
    }

    fn of(loaded: Loaded, viewer: Viewer) -> Result<Self, ApiError> {
        let fields = match details_of(&loaded.row)? {
            Details::Dataset(d) => d,
            _ => return Err(ApiError::NotFound),
        };
        Ok(Self {
            loaded,
            viewer,
            fields,
        })
    }

    fn facts(&self) -> policy::ResourceFacts {
        facts(&self.loaded, &self.viewer)
    }

    fn origin(&self) -> Option<String> {
        self.fields
            .origin_country
            .clone()
            .or_else(|| Some(self.loaded.institution_country.clone()))
    }

    fn owner_id(&self) -> &str {
        &self.loaded.row.institution_id
    }

    /// The caller belongs to the owning institution.
    fn insider(&self) -> bool {
        self.viewer.role_in(self.owner_id()).is_some()
    }
}

fn check(principal: Option<&Principal>, action: Action) -> Result<(), ApiError> {
    Ok(policy::enforce(policy::may(
        &Principal::actor_of(principal),
        action,
    ))?)
}

/// Applies the dataset's transfer policy to `user` (if signed in) asking on
/// behalf of `institution_id` (if any), with the facts as they are now.
/// `Ok` carries the country that counted.
fn transfer_check(
    conn: &mut DbConnection,
    ds: &DatasetView,
    user: Option<&UserRow>,
    institution_id: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let on_behalf = match institution_id {
        Some(id) => {
            let country = store::institution_country(conn, id)?;
            let partner = id == ds.owner_id() || store::partners(conn, id, ds.owner_id())?;
            country.map(|c| (c, partner))
        }
        None => None,
    };
    let user_country = user.and_then(|u| u.country.clone());
    let origin = ds.origin();
    let requester = Requester {
        user_country: user_country.as_deref(),
        institution: on_behalf.as_ref().map(|(c, partner)| OnBehalfOf {
            country: c,
            partner_of_owner: *partner,
        }),
    };
    let dataset = transfer::Dataset {
        policy: ds.fields.transfer_policy,
        allowed_countries: &ds.fields.allowed_countries,
        origin_country: origin.as_deref(),
    };
    match transfer::check(&dataset, &requester) {
        Ok(()) => Ok(on_behalf.map(|(c, _)| c).or(user_country)),
        Err(refusal) => Err(refused(ds, &refusal)),
    }
}

fn refused(ds: &DatasetView, refusal: &Refusal) -> ApiError {
    ApiError::Forbidden {
        problem: ProblemType::TransferNotAllowed,
        detail: format!(
            "Transfer policy `{}`: {}",
            ds.fields.transfer_policy.as_str(),
            refusal.explain()
        ),
    }
}

/// The institution `slug` if the user belongs to it and it is verified (an
/// administrator vouched for its country): (id, slug).
fn own_institution(
    conn: &mut DbConnection,
    user_id: &str,
    slug: &str,
) -> Result<(String, String), ApiError> {
    let slug = slug.trim().to_ascii_lowercase();
    match store::member_institution(conn, user_id, &slug)? {
        Some((id, _, true)) => Ok((id, slug)),
        Some((_, _, false)) => Err(ApiError::field(
            "institution",
            FieldCode::NotVerified,
            "This institution is not verified yet: only a verified institution's country \
             counts for a dataset's transfer policy.",
        )),
        None => Err(ApiError::field(
            "institution",
            FieldCode::NotFound,
            "Not an institution you belong to: give the slug of one of your institutions.",
        )),
    }
}

/// Whether a request made on behalf of an institution still holds: the
/// requester still belongs to it (and it still exists).
fn claim_holds(conn: &mut DbConnection, r: &RequestRow) -> Result<bool, ApiError> {
    if r.institution_slug.is_none() {
        return Ok(true);
    }
    let Some(id) = r.institution_id.as_deref() else {
        return Ok(false);
    };
    // Still a member, and the institution still verified (changing its
    // country un-verifies it: only a country an administrator vouched for
    // counts).
    Ok(store::member_of_verified(conn, id, &r.requester_id)?)
}

/// The grant a person holds for a dataset.
enum Grant {
    None,
    /// In force, and any claim on behalf of an institution still holds.
    Holds(RequestRow),
    /// In force, but made on behalf of an institution they no longer belong to.
    Lapsed(RequestRow),
}

/// Of the person's grants in force, one that holds (the longest), else a
/// lapsed one (so a download can say why it is refused).
fn grant_of(
    conn: &mut DbConnection,
    dataset_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<Grant, ApiError> {
    let mut lapsed = None;
    for g in store::grants_in_force(conn, dataset_id, user_id, now)? {
        if claim_holds(conn, &g)? {
            return Ok(Grant::Holds(g));
        }
        lapsed.get_or_insert(g);
    }
    Ok(lapsed.map_or(Grant::None, Grant::Lapsed))
}

/// A grant or request made on behalf of an institution holds only while the
/// person still belongs to it.
fn still_member(conn: &mut DbConnection, r: &RequestRow) -> Result<(), ApiError> {
    if claim_holds(conn, r)? {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        problem: ProblemType::NoLongerAMember,
        detail: "The request was made on behalf of an institution the requester no longer \
                 belongs to: ask again, for yourself or another institution."
            .into(),
    })
}

fn check_note(raw: &str, required: bool, errors: &mut Vec<FieldError>) -> Option<String> {
    let note = raw.trim();
    if note.chars().count() > NOTE_MAX {
        errors.push(Invalid::too_long(NOTE_MAX, "At most 2000 characters.").at("note"));
        None
    } else if note.is_empty() {
        if required {
            errors.push(FieldError::new(
                "note",
                FieldCode::Required,
                "Say something to the requester.",
            ));
        }
        None
    } else {
        Some(note.to_string())
    }
}

/// A stored request that cannot be read (a status that is not one of the
/// words) is a 500 whose log names the request.
fn unreadable(id: &str) -> impl FnOnce(diesel::result::Error) -> ApiError + '_ {
    move |err| ApiError::internal(anyhow::Error::from(err).context(format!("access request {id}")))
}

/// The request `id` with the names it is shown with.
fn listed(conn: &mut DbConnection, id: &str) -> Result<Listed, ApiError> {
    store::by_id(conn, id)
        .map_err(unreadable(id))?
        .ok_or(ApiError::NotFound)
}

/// The owners and editors of an institution, still active.
pub(crate) fn deciders(
    conn: &mut DbConnection,
    institution_id: &str,
) -> Result<Vec<UserRow>, ApiError> {
    let mut users = institutions::users_with_role(conn, institution_id, "owner")?;
    users.extend(institutions::users_with_role(
        conn,
        institution_id,
        "editor",
    )?);
    users.retain(|u| u.active);
    Ok(users)
}

fn institution_name(conn: &mut DbConnection, slug: &str) -> Result<String, ApiError> {
    Ok(institutions::by_slug(conn, slug)?
        .map(|i| i.name)
        .unwrap_or_else(|| slug.to_string()))
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

fn not_needed(detail: &str) -> ApiError {
    ApiError::Conflict {
        problem: ProblemType::AccessRequestNotNeeded,
        detail: detail.into(),
    }
}

fn merge(mut a: serde_json::Value, b: serde_json::Value) -> serde_json::Value {
    if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

// ----- requests ---------------------------------------------------------------------

/// What a person asks for.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// What the data is for (20–2000 characters once trimmed).
    pub purpose: String,
    /// Slug of an institution of theirs to ask on behalf of.
    pub institution: Option<String>,
    /// 1 to `access.max_duration_days`.
    pub duration_days: i32,
}

impl NewRequest {
    /// The request as it will be stored (purpose trimmed, an empty
    /// institution none), or every field error at once.
    fn validated(self, max_days: i32) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let purpose = self.purpose.trim().to_string();
        let n = purpose.chars().count();
        if !(PURPOSE_MIN..=PURPOSE_MAX).contains(&n) {
            let message = "Say what the data is for, in 20 to 2000 characters.";
            errors.push(
                if n == 0 {
                    Invalid::required(message)
                } else if n < PURPOSE_MIN {
                    Invalid::new(FieldCode::TooShort, message)
                } else {
                    Invalid::new(FieldCode::TooLong, message)
                }
                .min(PURPOSE_MIN)
                .max(PURPOSE_MAX)
                .at("purpose"),
            );
        }
        if !(1..=max_days).contains(&self.duration_days) {
            errors.push(
                Invalid::new(FieldCode::OutOfRange, format!("From 1 to {max_days} days."))
                    .min(1)
                    .max(max_days)
                    .at("duration_days"),
            );
        }
        let institution = self
            .institution
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if institution.as_ref().is_some_and(|s| s.len() > 64) {
            errors.push(
                Invalid::too_long(64, "An institution slug has at most 64 characters.")
                    .at("institution"),
            );
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(Self {
            purpose,
            institution,
            duration_days: self.duration_days,
        })
    }
}

/// Whether the dataset takes requests from this caller at all: not from its
/// own members, only once published, only where access is restricted.
fn takes_requests(ds: &DatasetView) -> Result<(), ApiError> {
    if ds.insider() {
        return Err(not_needed(
            "You belong to the institution that owns this dataset: its members download its \
             files directly.",
        ));
    }
    if status_of(&ds.loaded.row) != Status::Published {
        return Err(ApiError::Conflict {
            problem: ProblemType::DatasetNotPublished,
            detail: "Only published datasets take access requests.".into(),
        });
    }
    if ds.fields.access_level != AccessLevel::Restricted {
        return Err(not_needed(&format!(
            "This dataset's access level is `{}`: get its file links directly, no request is \
             needed.",
            ds.fields.access_level.as_str()
        )));
    }
    Ok(())
}

/// A person asks again only when they hold no grant, and at most
/// [`REQUESTS_PER_DAY`] times a day per dataset (a brake on
/// ask-withdraw-ask loops that would flood the deciders with email).
fn may_ask_again(
    conn: &mut DbConnection,
    dataset_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    if let Grant::Holds(g) = grant_of(conn, dataset_id, user_id, now)? {
        return Err(ApiError::Conflict {
            problem: ProblemType::AccessAlreadyGranted,
            detail: format!(
                "Your access to this dataset lasts until {} (UTC); ask again once it ends.",
                g.expires_at.map(stamp).unwrap_or_default()
            ),
        });
    }
    let day = Duration::days(1);
    let recent = store::recent(conn, dataset_id, user_id, now - day)?;
    if recent.len() >= REQUESTS_PER_DAY {
        // Until the oldest of them is a day old.
        let oldest = recent.first().copied().unwrap_or(now);
        let ms = (oldest + day - now).num_milliseconds();
        let wait = ((ms + 999) / 1000).max(1);
        return Err(ApiError::TooManyRequests {
            retry_after_secs: u64::try_from(wait).unwrap_or(1),
        });
    }
    Ok(())
}

/// What the deciders of the dataset are told of a new request.
fn requested_notices(
    conn: &mut DbConnection,
    ds: &DatasetView,
    requester: &UserRow,
    row: &RequestRow,
) -> Result<Vec<Notice>, ApiError> {
    let owner_name = institution_name(conn, &ds.loaded.institution_slug)?;
    let on_behalf = match &row.institution_slug {
        Some(s) => Some(institution_name(conn, s)?),
        None => None,
    };
    Ok(deciders(conn, ds.owner_id())?
        .iter()
        .map(|decider| {
            Notice::new(
                decider,
                Kind::AccessRequested,
                json!({"display_name": decider.display_name,
                       "requester": requester.display_name,
                       "institution": on_behalf,
                       "owner_institution": owner_name,
                       "dataset": ds.loaded.row.title,
                       "duration_days": row.duration_days,
                       "purpose": row.purpose,
                       "request_id": row.id}),
            )
        })
        .collect())
}

/// Someone (a verified account) asks for access to a restricted dataset.
/// The transfer policy is checked now: a request that could never be
/// granted is refused with the rule and why. The owning institution's
/// owners and editors are told (`access_request.created`).
pub fn create(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    dataset_id: &str,
    input: NewRequest,
) -> Result<Shown, ApiError> {
    let max_days = i32::try_from(state.settings.access.max_duration_days).unwrap_or(i32::MAX);
    let input = input.validated(max_days)?;
    write_transaction(conn, |conn| {
        // Requests and decisions on one dataset take its row lock first: a
        // request made while an approval commits sees the grant, instead of
        // slipping in beside it.
        if !resources_store::lock(conn, dataset_id)? {
            return Err(ApiError::NotFound);
        }
        let ds = DatasetView::load(conn, dataset_id, Some(principal))?;
        check(Some(principal), Action::RequestAccess(ds.facts()))?;
        takes_requests(&ds)?;
        let user = &principal.user;
        let institution = match &input.institution {
            Some(s) => Some(own_institution(conn, &user.id, s)?),
            None => None,
        };
        let institution_id = institution.as_ref().map(|(id, _)| id.as_str());
        let country = transfer_check(conn, &ds, Some(user), institution_id)?;
        let now = now();
        may_ask_again(conn, dataset_id, &user.id, now)?;
        let row = RequestRow {
            id: uuid::Uuid::now_v7().to_string(),
            dataset_id: dataset_id.to_string(),
            requester_id: user.id.clone(),
            institution_id: institution.as_ref().map(|(id, _)| id.clone()),
            institution_slug: institution.map(|(_, slug)| slug),
            purpose: input.purpose.clone(),
            duration_days: input.duration_days,
            status: RequestStatus::Pending,
            decision: None,
            decision_note: None,
            revocation_note: None,
            decided_by: None,
            origin_country: ds.origin(),
            requester_country: country.clone(),
            decision_country: None,
            created_at: now,
            updated_at: now,
            decided_at: None,
            expires_at: None,
            ended_at: None,
            reminded_at: None,
        };
        if !store::insert(conn, &row)? {
            let pending = store::pending(conn, dataset_id, &user.id)?;
            return Err(ApiError::Conflict {
                problem: ProblemType::AccessRequestPending,
                detail: format!(
                    "Your request {} for this dataset is still pending: withdraw it to ask \
                     differently.",
                    pending.map(|p| p.id).unwrap_or_default()
                ),
            });
        }
        let created = listed(conn, &row.id)?;
        let notices = requested_notices(conn, &ds, user, &row)?;
        let concerned: Vec<&str> = std::iter::once(ds.owner_id())
            .chain(row.institution_id.as_deref())
            .collect();
        let event = Event::AccessRequestCreated {
            dataset_id: dataset_id.to_string(),
            institution: row.institution_slug.clone(),
            from_country: row.origin_country.clone(),
            to_country: country,
            duration_days: row.duration_days,
        };
        // Last, so that the append lock is held for as short as can be.
        events::record_notifying(conn, state, ctx, &row.id, &concerned, &event, notices)?;
        let permissions = request_permissions(conn, principal, &created, &ds)?;
        Ok((created, permissions))
    })
}

/// A dataset's access requests, newest first (its institution's owners and
/// editors; admins may look); `before` is the last `(created_at, id)` of the
/// previous page.
pub fn list_for_dataset(
    conn: &mut DbConnection,
    principal: &Principal,
    dataset_id: &str,
    status: Option<RequestStatus>,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<Listed>, ApiError> {
    let ds = DatasetView::load(conn, dataset_id, Some(principal))?;
    check(Some(principal), Action::ListAccessRequests(ds.facts()))?;
    Ok(store::list(
        conn,
        Of::Dataset(dataset_id),
        status,
        before,
        limit,
    )?)
}

/// The caller's own requests and grants, newest first.
pub fn mine(
    conn: &mut DbConnection,
    principal: &Principal,
    status: Option<RequestStatus>,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<Listed>, ApiError> {
    Ok(store::list(
        conn,
        Of::Requester(&principal.user.id),
        status,
        before,
        limit,
    )?)
}

/// The request and the dataset it is about, if the caller may see the
/// request at all (the requester, the dataset's deciders, admins): anyone
/// else gets 404, whoever's request it is.
fn visible_request(
    conn: &mut DbConnection,
    id: &str,
    principal: &Principal,
) -> Result<(Listed, DatasetView), ApiError> {
    let l = listed(conn, id)?;
    let ds = DatasetView::as_it_was(conn, &l.row.dataset_id, Some(principal))?;
    let requester = l.row.requester_id == principal.user.id;
    check(
        Some(principal),
        Action::ViewAccessRequest {
            dataset: ds.facts(),
            requester,
        },
    )?;
    Ok((l, ds))
}

/// A request as one is shown alone: with what the caller may do with it.
pub type Shown = (Listed, AccessRequestPermissions);

/// One access request (the requester, the dataset's owners and editors,
/// admins), with the caller's permissions.
pub fn show(conn: &mut DbConnection, principal: &Principal, id: &str) -> Result<Shown, ApiError> {
    let (l, ds) = visible_request(conn, id, principal)?;
    let permissions = request_permissions(conn, principal, &l, &ds)?;
    Ok((l, permissions))
}

/// What the caller may do with request `l` (which they may see): each move
/// asks the policy what `decide` asks it ([`action_of`]); an approval of a
/// pending request also what `decide` checks next (the requester still
/// belongs to the institution they asked for, and the transfer policy lets
/// the data go there); `download` is the dataset's flag.
fn request_permissions(
    conn: &mut DbConnection,
    principal: &Principal,
    l: &Listed,
    ds: &DatasetView,
) -> Result<AccessRequestPermissions, ApiError> {
    let actor = principal.actor();
    let requester = l.row.requester_id == principal.user.id;
    let facts = ds.facts();
    let decide = action_of(Move::Approve, facts, requester);
    let approvable = if l.row.status == RequestStatus::Pending
        && policy::may(&actor, decide) == policy::Decision::Allow
    {
        let requester_row = accounts::user_by_id(conn, &l.row.requester_id)?;
        let checked = still_member(conn, &l.row).and_then(|()| {
            transfer_check(
                conn,
                ds,
                requester_row.as_ref(),
                l.row.institution_id.as_deref(),
            )
        });
        match checked {
            Ok(_) => requester_row.is_some(),
            Err(ApiError::Forbidden { .. }) => false,
            Err(e) => return Err(e),
        }
    } else {
        true
    };
    let download = may_download(conn, Some(principal), &ds.loaded, &ds.viewer, &ds.fields)?;
    Ok(crate::app::permissions::access_request(
        &actor,
        decide,
        action_of(Move::Withdraw, facts, requester),
        action_of(Move::Revoke, facts, requester),
        approvable,
        download,
    ))
}

/// What a move by a person carries.
struct Step {
    by: Move,
    note: Option<String>,
    expires_at: Option<NaiveDateTime>,
}

impl Step {
    /// A move with (or without) a note and no expiry of its own.
    fn noted(by: Move, note: Option<String>) -> Self {
        Self {
            by,
            note,
            expires_at: None,
        }
    }
}

/// A move's only field, the note (`required` or not): trimmed, or a 400.
fn note_only(raw: Option<&str>, required: bool) -> Result<Option<String>, ApiError> {
    let mut errors = Vec::new();
    let note = raw.and_then(|n| check_note(n, required, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(note)
}

/// Approve a pending request (the dataset's owners and editors), with a
/// note to the requester. The transfer policy is checked again; the grant
/// lasts `duration_days` unless `expires_at` says otherwise.
pub fn approve(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    id: &str,
    note: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Shown, ApiError> {
    let mut errors = Vec::new();
    let note = check_note(note, true, &mut errors);
    let expires_at = expires_at.map(|t| t.naive_utc());
    let horizon = now() + Duration::days(3650);
    if expires_at.is_some_and(|t| t <= now() || t > horizon) {
        errors.push(
            Invalid::new(
                FieldCode::OutOfRange,
                "A time in the future, within ten years.",
            )
            .min("now")
            .max("now + 10 years")
            .at("expires_at"),
        );
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let step = Step {
        by: Move::Approve,
        note,
        expires_at,
    };
    decide(conn, state, ctx, principal, id, step)
}

/// Reject a pending request, saying why (the dataset's owners and editors).
pub fn reject(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    id: &str,
    note: &str,
) -> Result<Shown, ApiError> {
    let step = Step::noted(Move::Reject, note_only(Some(note), true)?);
    decide(conn, state, ctx, principal, id, step)
}

/// The requester withdraws their pending request.
pub fn withdraw(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    id: &str,
) -> Result<Shown, ApiError> {
    decide(
        conn,
        state,
        ctx,
        principal,
        id,
        Step::noted(Move::Withdraw, None),
    )
}

/// The owning institution's owners end an approved grant early, with a
/// note to the requester if they give one.
pub fn revoke(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    id: &str,
    note: Option<&str>,
) -> Result<Shown, ApiError> {
    let step = Step::noted(Move::Revoke, note_only(note, false)?);
    decide(conn, state, ctx, principal, id, step)
}

/// The event a person's move records.
fn event_of(to: RequestStatus, change: AccessChange) -> Result<Event, ApiError> {
    Ok(match to {
        RequestStatus::Approved => Event::AccessRequestApproved { change },
        RequestStatus::Rejected => Event::AccessRequestRejected { change },
        RequestStatus::Withdrawn => Event::AccessRequestWithdrawn { change },
        RequestStatus::Revoked => Event::AccessRequestRevoked { change },
        other @ (RequestStatus::Pending | RequestStatus::Expired) => {
            return Err(ApiError::internal(anyhow::anyhow!(
                "no decision leads to {}",
                other.as_str()
            )));
        }
    })
}

/// What the policy is asked before a person moves a request.
fn action_of(by: Move, dataset: policy::ResourceFacts, requester: bool) -> Action {
    match by {
        Move::Approve | Move::Reject => Action::DecideAccess {
            dataset,
            own: requester,
        },
        Move::Withdraw => Action::WithdrawAccessRequest { dataset, requester },
        Move::Revoke | Move::Expire => Action::RevokeAccess(dataset),
    }
}

/// What the requester is told of a move (`after`: the request as it now
/// stands): a decision, or a revocation, if their account is active.
fn decided_notices(
    conn: &mut DbConnection,
    ds: &DatasetView,
    step: &Step,
    requester: &UserRow,
    after: &Listed,
) -> Result<Vec<Notice>, ApiError> {
    let extra = match step.by {
        Move::Approve | Move::Reject => (
            Kind::AccessDecided,
            json!({"decision": after.row.status.as_str(), "note": step.note,
                   "expires_at": after.row.expires_at.map(stamp)}),
        ),
        Move::Revoke => (
            Kind::AccessEnded,
            json!({"how": "revoked", "note": step.note}),
        ),
        Move::Withdraw | Move::Expire => return Ok(Vec::new()),
    };
    if !requester.active {
        return Ok(Vec::new());
    }
    let owner_name = institution_name(conn, &ds.loaded.institution_slug)?;
    let base = json!({"display_name": requester.display_name,
                      "dataset": after.dataset_title,
                      "owner_institution": owner_name,
                      "request_id": after.row.id});
    let (kind, extra) = extra;
    Ok(vec![Notice::new(requester, kind, merge(base, extra))])
}

/// Moves a request by `step.by`: checks who may, that the move is allowed
/// from where the request stands (409 otherwise), and for an approval that
/// the transfer policy still lets the data go there; then writes, tells the
/// requester and records the event, in one transaction.
fn decide(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    id: &str,
    step: Step,
) -> Result<Shown, ApiError> {
    write_transaction(conn, |conn| {
        // The dataset's row lock first, then everything is read as it
        // stands (a change of its terms cannot slip in between).
        let dataset_id = listed(conn, id)?.row.dataset_id;
        resources_store::lock(conn, &dataset_id)?;
        let (l, ds) = visible_request(conn, id, principal)?;
        let requester = l.row.requester_id == principal.user.id;
        check(Some(principal), action_of(step.by, ds.facts(), requester))?;
        let from = l.row.status;
        let to = transition(from, step.by).ok_or_else(|| ApiError::Conflict {
            problem: ProblemType::InvalidTransition,
            detail: format!(
                "This request is {}: it cannot be {}.",
                from.as_str(),
                step.by.past()
            ),
        })?;
        let now = now();
        let requester_row =
            accounts::user_by_id(conn, &l.row.requester_id)?.ok_or(ApiError::NotFound)?;
        let mut change = Change::default();
        if let Some(decision) = step.by.decision() {
            change.decision = Some(Some(decision));
            change.decided_by = Some(Some(principal.user.id.clone()));
            change.decided_at = Some(Some(now));
            change.decision_note = Some(step.note.clone());
        }
        match step.by {
            Move::Approve => {
                // Conditions may have changed since the request.
                still_member(conn, &l.row)?;
                let country = transfer_check(
                    conn,
                    &ds,
                    Some(&requester_row),
                    l.row.institution_id.as_deref(),
                )?;
                let ends = step
                    .expires_at
                    .unwrap_or_else(|| now + Duration::days(i64::from(l.row.duration_days)));
                change.expires_at = Some(Some(ends));
                change.decision_country = Some(country);
            }
            Move::Reject | Move::Withdraw | Move::Expire => change.ended_at = Some(Some(now)),
            Move::Revoke => {
                if l.row.expires_at.is_some_and(|e| e <= now) {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::InvalidTransition,
                        detail: "This grant has already expired.".into(),
                    });
                }
                change.ended_at = Some(Some(now));
                change.revocation_note = Some(step.note.clone());
            }
        }
        if !store::set_status(conn, id, from, to, now, &change)? {
            return Err(ApiError::Conflict {
                problem: ProblemType::InvalidTransition,
                detail: "The request changed meanwhile: read it again.".into(),
            });
        }
        let after = listed(conn, id)?;
        let notices = decided_notices(conn, &ds, &step, &requester_row, &after)?;
        let event = event_of(
            to,
            AccessChange {
                dataset_id: after.row.dataset_id.clone(),
                from: from.as_str().into(),
                to: to.as_str().into(),
                expires_at: after.row.expires_at.map(utc),
                from_country: after.row.origin_country.clone(),
                to_country: after
                    .row
                    .decision_country
                    .clone()
                    .or_else(|| after.row.requester_country.clone()),
            },
        )?;
        let concerned: Vec<&str> = std::iter::once(ds.owner_id())
            .chain(after.row.institution_id.as_deref())
            .collect();
        events::record_notifying(conn, state, ctx, id, &concerned, &event, notices)?;
        let permissions = request_permissions(conn, principal, &after, &ds)?;
        Ok((after, permissions))
    })
}

// ----- the periodic sweep's commands -------------------------------------------------

/// Time is up for `row` (a grant past `expires_at`, or a request nobody
/// decided in time): marks it `expired`, tells the requester and records
/// `access_request.expired`, in one transaction. `false` when the request
/// had moved meanwhile (another instance, or a decision, got there first).
pub fn expire(
    conn: &mut DbConnection,
    state: &AppState,
    row: &RequestRow,
    now: NaiveDateTime,
) -> Result<bool, ApiError> {
    end(conn, state, row, now, None, None)
}

/// Why a dataset's grants and requests ended with it (the `how` of the
/// `access_ended` email): `deaccessioned`, `retention_ended`.
pub type Cause = &'static str;

/// [`expire`], for a reason of the dataset's own (`cause`): the grant or
/// request ends now, whatever its own time.
pub fn end(
    conn: &mut DbConnection,
    state: &AppState,
    row: &RequestRow,
    now: NaiveDateTime,
    cause: Option<Cause>,
    note: Option<&str>,
) -> Result<bool, ApiError> {
    let from = row.status;
    let Some(to) = transition(from, Move::Expire) else {
        return Ok(false);
    };
    let change = Change {
        ended_at: Some(Some(now)),
        ..Change::default()
    };
    write_transaction(conn, |conn| {
        if !store::set_status(conn, &row.id, from, to, now, &change)? {
            return Ok(false);
        }
        let l = listed(conn, &row.id)?;
        let dataset = resources_store::by_id(conn, &row.dataset_id)?;
        let mut notices = Vec::new();
        if let Some(user) = accounts::user_by_id(conn, &row.requester_id)?.filter(|u| u.active) {
            let owner = dataset
                .as_ref()
                .map(|d| d.institution_slug.as_str())
                .unwrap_or_default();
            let owner_name = institution_name(conn, owner)?;
            let how = match cause {
                Some(cause) => cause,
                None if from == RequestStatus::Approved => "grant_expired",
                None => "request_expired",
            };
            notices.push(Notice::new(
                &user,
                Kind::AccessEnded,
                json!({"display_name": user.display_name, "dataset": l.dataset_title,
                       "owner_institution": owner_name, "how": how, "note": note,
                       "request_id": row.id}),
            ));
        }
        let concerned: Vec<&str> = dataset
            .as_ref()
            .map(|d| d.row.institution_id.as_str())
            .into_iter()
            .chain(row.institution_id.as_deref())
            .collect();
        events::record_notifying(
            conn,
            state,
            &Context::new(None),
            &row.id,
            &concerned,
            &Event::AccessRequestExpired {
                dataset_id: row.dataset_id.clone(),
                from: from.as_str().into(),
                to: to.as_str().into(),
            },
            notices,
        )?;
        Ok(true)
    })
}

/// One pending request in a reminder.
#[derive(Debug, Clone, Serialize)]
struct Reminded {
    id: String,
    dataset: String,
    requester: String,
    created_on: String,
    /// The owning institution (for the event, not the email).
    #[serde(skip)]
    institution_id: String,
}

/// Reminds the deciders of requests pending longer than
/// `access.reminder_after_days`: one email per decider and run, listing every
/// request they may decide (whichever of their institutions it belongs to,
/// never their own), each request at most once per period (a conditional
/// claim, so instances running at once never double an email). Each
/// reminder is an `access_request.reminder_sent` event about the decider.
/// Answers how many deciders were reminded.
pub fn remind(
    conn: &mut DbConnection,
    state: &AppState,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let access = &state.settings.access;
    let period = now - Duration::days(i64::from(access.reminder_after_days));
    write_transaction(conn, |conn| {
        let mut deciders_of: HashMap<String, Vec<UserRow>> = HashMap::new();
        let mut due: BTreeMap<String, (UserRow, Vec<Reminded>)> = BTreeMap::new();
        for row in store::pending_since(conn, period)? {
            if !store::claim_reminder(conn, &row.id, period, now)? {
                continue;
            }
            let (Some(l), Some(ds)) = (
                store::by_id(conn, &row.id).map_err(unreadable(&row.id))?,
                resources_store::by_id(conn, &row.dataset_id)?,
            ) else {
                continue;
            };
            let institution = ds.row.institution_id;
            if !deciders_of.contains_key(&institution) {
                let found = deciders(conn, &institution)?;
                deciders_of.insert(institution.clone(), found);
            }
            let item = Reminded {
                id: row.id.clone(),
                dataset: l.dataset_title,
                requester: l.requester_name,
                created_on: row.created_at.format("%Y-%m-%d").to_string(),
                institution_id: institution.clone(),
            };
            for decider in deciders_of.get(&institution).into_iter().flatten() {
                if decider.id == row.requester_id {
                    continue;
                }
                due.entry(decider.id.clone())
                    .or_insert_with(|| (decider.clone(), Vec::new()))
                    .1
                    .push(item.clone());
            }
        }
        let sent = due.len();
        for (decider, requests) in due.into_values() {
            let institutions: BTreeSet<&str> =
                requests.iter().map(|r| r.institution_id.as_str()).collect();
            let event = Event::AccessRemindersSent {
                requests: requests.iter().map(|r| r.id.clone()).collect(),
            };
            let notice = Notice::new(
                &decider,
                Kind::AccessReminder,
                json!({"display_name": decider.display_name,
                       "after_days": access.reminder_after_days,
                       "expire_days": access.pending_expiry_days,
                       "requests": requests}),
            );
            events::record_notifying(
                conn,
                state,
                &Context::new(None),
                &decider.id,
                &institutions.into_iter().collect::<Vec<_>>(),
                &event,
                vec![notice],
            )?;
        }
        Ok(sent)
    })
}

// ----- file links -------------------------------------------------------------------

/// A link just issued: its token (shown once) and when it stops working.
#[derive(Debug, Clone)]
pub struct IssuedLink {
    pub token: String,
    pub expires_at: NaiveDateTime,
}

/// Who asks for a file link, and where from.
#[derive(Debug, Clone)]
pub struct LinkAsker<'a> {
    pub principal: Option<&'a Principal>,
    /// Slug of an institution of theirs to download on behalf of.
    pub institution: Option<&'a str>,
    /// For the refusal audit of anonymous callers.
    pub client_ip: &'a str,
}

/// The caller's grant for the dataset, where one is needed (restricted, and
/// not the owner's own member): one in force that holds, else a lapsed one
/// (so that the refusal can say why).
fn needed_grant(
    conn: &mut DbConnection,
    ds: &DatasetView,
    principal: Option<&Principal>,
    now: NaiveDateTime,
) -> Result<Option<RequestRow>, ApiError> {
    let grant = match principal {
        Some(p) if ds.fields.access_level == AccessLevel::Restricted && !ds.insider() => {
            grant_of(conn, &ds.loaded.row.id, &p.user.id, now)?
        }
        _ => Grant::None,
    };
    Ok(match grant {
        Grant::None => None,
        Grant::Holds(g) | Grant::Lapsed(g) => Some(g),
    })
}

/// The first question of a file link: may the caller download from this
/// dataset at all (the policy's `Download`, with the grant it needs looked
/// up)? `Ok` carries that grant. The `download` permission flag asks the
/// same (and [`link_country`] after it, as a link does).
fn download_grant(
    conn: &mut DbConnection,
    ds: &DatasetView,
    principal: Option<&Principal>,
    now: NaiveDateTime,
) -> Result<Option<RequestRow>, ApiError> {
    let grant = needed_grant(conn, ds, principal, now)?;
    check(
        principal,
        Action::Download {
            dataset: ds.facts(),
            level: ds.fields.access_level,
            grant: grant.is_some(),
        },
    )?;
    Ok(grant)
}

/// Whether a file link of this dataset would be issued to the caller now
/// (asking for no institution): the policy and the transfer policy, the
/// same functions `issue_link` calls. A refusal is `false`, a failure an
/// error.
pub(crate) fn may_download(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    loaded: &Loaded,
    viewer: &Viewer,
    fields: &DatasetFields,
) -> Result<bool, ApiError> {
    let ds = DatasetView {
        loaded: loaded.clone(),
        viewer: viewer.clone(),
        fields: fields.clone(),
    };
    let answer = download_grant(conn, &ds, principal, now()).and_then(|grant| {
        link_country(conn, &ds, grant.as_ref(), None, principal.map(|p| &p.user))
    });
    match answer {
        Ok(_) => Ok(true),
        Err(ApiError::Forbidden { .. } | ApiError::NotFound | ApiError::Unauthorized(_)) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The caller's access to a dataset, as their requests tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessState {
    /// No request pending, no grant in force, none expired last.
    None,
    /// A request awaits a decision (`request_id`).
    Pending,
    /// A grant is in force until `until` (`request_id`).
    Granted,
    /// The latest grant ran out (`request_id`, `until`); ask again.
    Expired,
}

/// `my_access` on a dataset: the caller's own access state. It is about
/// access requests: the owning institution's members and, for open and
/// registered datasets, whoever the `download` permission allows need none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"state": "granted", "request_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "until": "2027-01-31T12:00:00Z"}))]
pub struct MyAccess {
    pub state: AccessState,
    /// The request this state comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uuid")]
    pub request_id: Option<String>,
    /// `granted`: when the grant ends; `expired`: when it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl MyAccess {
    pub const NONE: MyAccess = MyAccess {
        state: AccessState::None,
        request_id: None,
        until: None,
    };
}

/// `my_access` of each of `dataset_ids` for the caller (one query for all):
/// a pending request first, else a grant in force (the longest), else an
/// expired grant when that is the latest request, else `none`.
pub(crate) fn my_access(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    dataset_ids: &[String],
) -> Result<HashMap<String, MyAccess>, ApiError> {
    let Some(p) = principal else {
        return Ok(HashMap::new());
    };
    let now = now();
    let rows = store::requests_for(conn, &p.user.id, dataset_ids)?;
    let mut out = HashMap::new();
    for id in dataset_ids {
        let mine: Vec<&RequestRow> = rows.iter().filter(|r| &r.dataset_id == id).collect();
        let pending = mine.iter().find(|r| r.status == RequestStatus::Pending);
        let granted = mine
            .iter()
            .filter(|r| {
                r.status == RequestStatus::Approved && r.expires_at.is_some_and(|e| e > now)
            })
            .max_by_key(|r| r.expires_at);
        let latest = mine.first();
        let access = if let Some(r) = pending {
            MyAccess {
                state: AccessState::Pending,
                request_id: Some(r.id.clone()),
                until: None,
            }
        } else if let Some(r) = granted {
            MyAccess {
                state: AccessState::Granted,
                request_id: Some(r.id.clone()),
                until: r.expires_at.map(utc),
            }
        } else if let Some(r) = latest.filter(|r| {
            r.status == RequestStatus::Expired && r.decision == Some(Decision::Approved)
                || r.status == RequestStatus::Approved
        }) {
            MyAccess {
                state: AccessState::Expired,
                request_id: Some(r.id.clone()),
                until: r.expires_at.map(utc),
            }
        } else {
            MyAccess::NONE
        };
        out.insert(id.clone(), access);
    }
    Ok(out)
}

/// Where a file goes, as the transfer policy sees it (checked now): the
/// owner's own country for its members; else the institution the grant was
/// made on behalf of (while the caller still belongs to it), or the one
/// named by `slug`, or the caller's own country.
fn link_country(
    conn: &mut DbConnection,
    ds: &DatasetView,
    grant: Option<&RequestRow>,
    slug: Option<&str>,
    user: Option<&UserRow>,
) -> Result<Option<String>, ApiError> {
    if ds.insider() {
        // The owner's own members: the data does not leave it.
        return Ok(Some(ds.loaded.institution_country.clone()));
    }
    let on_behalf = match (grant, slug, user) {
        (Some(g), _, _) if g.institution_slug.is_some() => {
            still_member(conn, g)?;
            g.institution_id.clone()
        }
        (_, Some(s), Some(u)) => Some(own_institution(conn, &u.id, s)?.0),
        (_, Some(_), None) => {
            return Err(ApiError::field(
                "institution",
                FieldCode::NotAllowedValue,
                "Sign in to download on behalf of an institution.",
            ));
        }
        _ => None,
    };
    transfer_check(conn, ds, user, on_behalf.as_deref())
}

/// Issues a link to one of a dataset's files, for a caller who passes both
/// its access level and its transfer policy (`dataset.file_link_issued`:
/// who, which file, from which country to which). A refusal (403) is an
/// access decision too: it is recorded as `dataset.file_link_refused`
/// after the issuing transaction rolled back (see [`RefusalLog`]).
pub fn issue_link(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    asker: &LinkAsker<'_>,
    dataset_id: &str,
    file_id: &str,
) -> Result<IssuedLink, ApiError> {
    let ttl = Duration::minutes(i64::from(state.settings.access.link_ttl_minutes));
    let slug = asker.institution.map(str::trim).filter(|s| !s.is_empty());
    let token = random_token(LINK_PREFIX);
    let hash = token_hash(&token);
    let principal = asker.principal;
    let issued = write_transaction(conn, |conn| {
        let ds = DatasetView::load(conn, dataset_id, principal)?;
        let now = now();
        let file = resources_store::file(conn, dataset_id, file_id)?.ok_or(ApiError::NotFound)?;
        // Policy visibility first (a hidden dataset is a 404 above), then
        // its dates: nobody outside its institution gets a file under
        // embargo, nobody at all after its retention period.
        if ds.viewer.admin || resource_visible_to(&ds, principal) {
            crate::app::embargo::guard(&ds.fields, Some(&file), now, ds.insider())?;
        }
        let grant = download_grant(conn, &ds, principal, now)?;
        let user = principal.map(|p| &p.user);
        let country = link_country(conn, &ds, grant.as_ref(), slug, user)?;
        let expires_at = now + ttl;
        let link = LinkRow {
            id: uuid::Uuid::now_v7().to_string(),
            token_hash: hash,
            dataset_id: dataset_id.to_string(),
            file_id: Some(file.id.clone()),
            user_id: user.map(|u| u.id.clone()),
            access_request_id: grant.as_ref().map(|g| g.id.clone()),
            origin_country: ds.origin(),
            requester_country: country.clone(),
            issued_at: now,
            expires_at,
        };
        store::insert_link(conn, &link)?;
        let concerned: Vec<&str> = std::iter::once(ds.owner_id())
            .chain(grant.as_ref().and_then(|g| g.institution_id.as_deref()))
            .collect();
        events::record(
            conn,
            ctx,
            &file.id,
            &concerned,
            &Event::FileLinkIssued {
                dataset_id: dataset_id.to_string(),
                file: file.name.clone(),
                link_id: link.id.clone(),
                access_request_id: link.access_request_id.clone(),
                from_country: link.origin_country.clone(),
                to_country: country.clone(),
                expires_at: utc(expires_at),
            },
        )?;
        Ok(expires_at)
    });
    match issued {
        Ok(expires_at) => Ok(IssuedLink { token, expires_at }),
        Err(err) => {
            match &err {
                ApiError::Forbidden { problem, .. } => {
                    record_refusal(conn, state, ctx, asker, dataset_id, file_id, problem.slug());
                }
                ApiError::Embargoed { .. } => {
                    record_refusal(conn, state, ctx, asker, dataset_id, file_id, "embargoed");
                    // They asked for it: they are told when it lifts.
                    if let Some(p) = principal {
                        watch_embargo(conn, dataset_id, file_id, &p.user.id);
                    }
                }
                ApiError::Gone {
                    problem: ProblemType::RetentionEnded,
                    ..
                } => {
                    record_refusal(
                        conn,
                        state,
                        ctx,
                        asker,
                        dataset_id,
                        file_id,
                        "retention-ended",
                    );
                }
                _ => {}
            }
            Err(err)
        }
    }
}

/// Whether the caller may see the dataset at all (a refusal for its dates
/// is only given to those who see it).
fn resource_visible_to(ds: &DatasetView, principal: Option<&Principal>) -> bool {
    policy::resource_visible(&Principal::actor_of(principal), &ds.facts())
}

/// Remembers who waits for an embargo to lift: the file's own embargo if
/// it has one in force, else the dataset's.
fn watch_embargo(conn: &mut DbConnection, dataset_id: &str, file_id: &str, user_id: &str) {
    let result = write_transaction(conn, |conn| {
        let now = now();
        let own = resources_store::file(conn, dataset_id, file_id)?
            .is_some_and(|f| f.embargo_until.is_some_and(|t| t > now));
        let which = if own { file_id } else { "" };
        crate::db::withdrawals::watch(conn, dataset_id, which, user_id, now)?;
        Ok::<_, ApiError>(())
    });
    if let Err(err) = result {
        tracing::warn!(error = %err, "could not remember who waits for an embargo");
    }
}

/// Refused file links are access decisions too: each is recorded as
/// `dataset.file_link_refused`, at most once per (who, file, reason) and
/// [`REFUSAL_WINDOW`]; the ones held back meanwhile are counted in the next
/// event's `repeats` (so a hammering client costs one row per window, and
/// the log still tells how many attempts there were).
pub const REFUSAL_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

/// The per-instance memory of recently recorded refusals.
#[derive(Debug, Default)]
pub struct RefusalLog {
    seen: std::sync::Mutex<HashMap<String, (std::time::Instant, u64)>>,
}

impl RefusalLog {
    /// Whether to write an event for `key` now, and how many refusals of it
    /// were held back since the last one written.
    pub fn admit(&self, key: String, now: std::time::Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            seen.retain(|_, (at, _)| now.duration_since(*at) < REFUSAL_WINDOW);
        }
        match seen.get_mut(&key) {
            Some((at, held)) if now.duration_since(*at) < REFUSAL_WINDOW => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                let repeats = *held;
                *at = now;
                *held = 0;
                Some(repeats)
            }
            None => {
                seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

/// Records a refused file link (its own transaction, after the refused
/// one rolled back). A failure to record is logged, never the caller's
/// answer: they get the refusal either way.
fn record_refusal(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    asker: &LinkAsker<'_>,
    dataset_id: &str,
    file_id: &str,
    reason: &'static str,
) {
    let who = ctx
        .actor_id
        .clone()
        .unwrap_or_else(|| format!("ip:{}", asker.client_ip));
    let key = format!("{who}|{file_id}|{reason}");
    let Some(repeats) = state.refusals.admit(key, std::time::Instant::now()) else {
        return;
    };
    let result = write_transaction(conn, |conn| {
        let owner = resources_store::by_id(conn, dataset_id)?.map(|d| d.row.institution_id);
        let event = Event::FileLinkRefused {
            dataset_id: dataset_id.to_string(),
            reason: reason.into(),
            client_ip: ctx.actor_id.is_none().then(|| asker.client_ip.to_string()),
            repeats,
        };
        events::record(
            conn,
            ctx,
            file_id,
            &owner.as_deref().into_iter().collect::<Vec<_>>(),
            &event,
        )
    });
    if let Err(err) = result {
        tracing::warn!(error = %err, "a refused file link could not be audited");
    }
}

/// Where a file link leads (the file's URL) while the link is valid and,
/// for a link issued under a grant, while the grant is in force: 404 for
/// no such link, 410 once it expired (`link-expired`), its grant ended
/// (`access-ended`) or the file was removed (`file-removed`).
pub fn follow_link(conn: &mut DbConnection, token: &str) -> Result<String, ApiError> {
    if !token.starts_with(LINK_PREFIX) || token.len() > 100 {
        return Err(ApiError::NotFound);
    }
    let hash = token_hash(token);
    let link = store::link_by_token_hash(conn, &hash)?.ok_or(ApiError::NotFound)?;
    let now = now();
    if link.expires_at <= now {
        return Err(ApiError::Gone {
            problem: ProblemType::LinkExpired,
            detail: "Ask for a new link to the file.".into(),
        });
    }
    // What happened to the dataset since the link was issued.
    if let Some(ds) = resources_store::by_id(conn, &link.dataset_id)? {
        if ds.row.status == Status::Deaccessioned {
            return Err(ApiError::Gone {
                problem: ProblemType::Deaccessioned,
                detail: "The dataset was withdrawn by its owners; its files are no longer handed \
                         out."
                    .into(),
            });
        }
        if let Details::Dataset(fields) = details_of(&ds.row)? {
            // The embargo was checked when the link was issued.
            crate::app::embargo::guard(&fields, None, now, true)?;
        }
    }
    if let Some(grant) = &link.access_request_id {
        let in_force = match store::request(conn, grant).map_err(unreadable(grant))? {
            Some(g) => {
                g.status == RequestStatus::Approved
                    && g.expires_at.is_some_and(|e| e > now)
                    && claim_holds(conn, &g)?
            }
            None => false,
        };
        if !in_force {
            return Err(ApiError::Gone {
                problem: ProblemType::AccessEnded,
                detail: "The grant this link was issued under was revoked or expired.".into(),
            });
        }
    }
    let removed = || ApiError::Gone {
        problem: ProblemType::FileRemoved,
        detail: "The dataset no longer has this file.".into(),
    };
    let file_id = link.file_id.as_deref().ok_or_else(removed)?;
    let file = resources_store::file(conn, &link.dataset_id, file_id)?.ok_or_else(removed)?;
    Ok(file.url)
}

// ----- the transparency report ------------------------------------------------------

/// A count in the report: exact from 5 on (and 0), otherwise "<5".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Count {
    Exact(i64),
    /// Fewer than 5, but not none.
    #[schema(value_type = String, example = "<5")]
    Suppressed(&'static str),
}

impl Count {
    pub fn of(n: i64) -> Self {
        if n > 0 && n < SUPPRESS_BELOW {
            Self::Suppressed("<5")
        } else {
            Self::Exact(n)
        }
    }
}

/// One month's figures for one (origin country → requester country) pair.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PairFigures {
    /// Where the data comes from (null when unknown).
    #[schema(value_type = Option<crate::domain::vocab::Country>)]
    pub origin_country: Option<String>,
    /// The country that counted for the transfer policy (null when the
    /// requester gave none).
    #[schema(value_type = Option<crate::domain::vocab::Country>)]
    pub requester_country: Option<String>,
    /// Requests made that month.
    pub requests: Count,
    /// Requests approved that month.
    pub approvals: Count,
    /// Requests rejected that month.
    pub rejections: Count,
    /// File links issued that month.
    pub links_issued: Count,
}

/// One calendar month (UTC).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MonthFigures {
    /// `YYYY-MM`.
    pub month: String,
    pub pairs: Vec<PairFigures>,
    /// Median hours from request to decision over the month's decisions
    /// (null with fewer than 5 decisions: one person's wait is theirs).
    pub median_hours_to_decision: Option<f64>,
}

/// Access decisions and cross-border downloads, aggregated per calendar
/// month (no personal data). Figures come only in fixed months and without
/// totals, so that no two answers can be subtracted to lay bare a
/// suppressed count.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessReport {
    /// First month (`YYYY-MM`).
    pub from: String,
    /// Last month (`YYYY-MM`).
    pub to: String,
    /// Counts from 1 to this minus one are shown as "<5".
    pub suppressed_below: i64,
    /// Every month of the range, oldest first.
    pub months: Vec<MonthFigures>,
}

/// The longest range one report covers, in months.
const REPORT_MONTHS_MAX: u32 = 36;

type Pair = (Option<String>, Option<String>);

/// `YYYY-MM` (years 1900–9999) → the first day of that month.
fn parse_month(raw: &str, field: &str) -> Result<NaiveDate, ApiError> {
    let bad = || {
        ApiError::from(
            Invalid::format("month", "A month as YYYY-MM, from 1900-01 to 9999-12.")
                .min("1900-01")
                .max("9999-12")
                .at(field),
        )
    };
    let (y, m) = raw.trim().split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (y, m) = (
        y.parse::<i32>().map_err(|_| bad())?,
        m.parse::<u32>().map_err(|_| bad())?,
    );
    if !(1900..=9999).contains(&y) {
        return Err(bad());
    }
    NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)
}

fn month_of(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

/// The months a report covers.
struct Range {
    from: NaiveDate,
    to: NaiveDate,
    /// Each month as (its first day, the first day of the next).
    months: Vec<(NaiveDate, NaiveDate)>,
}

/// The months `[from, to]` (`YYYY-MM`; default: the twelve months up to the
/// last that ended).
fn report_range(from: Option<&str>, to: Option<&str>) -> Result<Range, ApiError> {
    let this_month = {
        let today = now().date();
        NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today)
    };
    // Only months that have ended: a month still running changes between
    // two reads, and the difference could time one person's action.
    let last_complete = this_month
        .checked_sub_months(Months::new(1))
        .unwrap_or(this_month);
    let to = match to {
        Some(raw) => parse_month(raw, "to")?,
        None => last_complete,
    };
    if to >= this_month {
        return Err(Invalid::new(
            FieldCode::OutOfRange,
            format!(
                "Only months that have ended: at the latest {}.",
                month_of(last_complete)
            ),
        )
        .max(month_of(last_complete))
        .at("to")
        .into());
    }
    let from = match from {
        Some(raw) => parse_month(raw, "from")?,
        None => to
            .checked_sub_months(Months::new(11))
            .unwrap_or(to)
            .max(NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(to)),
    };
    if from > to {
        return Err(
            Invalid::new(FieldCode::Inconsistent, "Must not be after `to`.")
                .other("to")
                .at("from")
                .into(),
        );
    }
    let mut months = Vec::new();
    let mut m = from;
    while m <= to {
        if months.len() as u32 >= REPORT_MONTHS_MAX {
            return Err(Invalid::too_many(
                REPORT_MONTHS_MAX as usize,
                format!("A report covers at most {REPORT_MONTHS_MAX} months."),
            )
            .other("to")
            .at("from")
            .into());
        }
        let next = m.checked_add_months(Months::new(1)).ok_or_else(|| {
            ApiError::field("to", FieldCode::OutOfRange, "Too far in the future.")
        })?;
        months.push((m, next));
        m = next;
    }
    Ok(Range { from, to, months })
}

/// The public transparency report: for a range of calendar months
/// (`YYYY-MM`; only months that have ended, at most 36), per month,
/// requests, approvals, rejections and issued file links by (origin
/// country of the data → country of the requester), and the median time to
/// a decision. Counts from 1 to 4 are shown as "<5" so no one can be
/// singled out.
pub fn report(
    conn: &mut DbConnection,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<AccessReport, ApiError> {
    let Range { from, to, months } = report_range(from, to)?;
    let months = months
        .into_iter()
        .map(|(start, end)| month_figures(conn, start, end))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(AccessReport {
        from: month_of(from),
        to: month_of(to),
        suppressed_below: SUPPRESS_BELOW,
        months,
    })
}

fn month_figures(
    conn: &mut DbConnection,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<MonthFigures, ApiError> {
    #[derive(Default)]
    struct Tally {
        requests: i64,
        approvals: i64,
        rejections: i64,
        links: i64,
    }
    let (from, to) = (
        start.and_hms_opt(0, 0, 0).unwrap_or_default(),
        end.and_hms_opt(0, 0, 0).unwrap_or_default(),
    );
    let mut pairs: BTreeMap<Pair, Tally> = BTreeMap::new();
    for (origin, to, n) in store::requests_by_pair(conn, from, to)? {
        pairs.entry((origin, to)).or_default().requests += n;
    }
    for (origin, to, n) in store::links_by_pair(conn, from, to)? {
        pairs.entry((origin, to)).or_default().links += n;
    }
    let mut hours = Vec::new();
    for d in store::decisions(conn, from, to)? {
        // An approval goes where the data went; a rejection stays with the
        // request's pair.
        match d.decision {
            Some(Decision::Approved) => {
                pairs
                    .entry((d.origin_country, d.decision_country))
                    .or_default()
                    .approvals += 1;
            }
            Some(Decision::Rejected) => {
                pairs
                    .entry((d.origin_country, d.requester_country))
                    .or_default()
                    .rejections += 1;
            }
            // `decisions` selects decided requests only.
            None => continue,
        }
        if let Some(at) = d.decided_at {
            hours.push((at - d.created_at).num_seconds() as f64 / 3600.0);
        }
    }
    let enough = i64::try_from(hours.len()).unwrap_or(i64::MAX) >= SUPPRESS_BELOW;
    Ok(MonthFigures {
        month: month_of(start),
        pairs: pairs
            .into_iter()
            .map(|((origin, to), t)| PairFigures {
                origin_country: origin,
                requester_country: to,
                requests: Count::of(t.requests),
                approvals: Count::of(t.approvals),
                rejections: Count::of(t.rejections),
                links_issued: Count::of(t.links),
            })
            .collect(),
        median_hours_to_decision: if enough { median(&mut hours) } else { None },
    })
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    let m = if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    };
    Some((m * 100.0).round() / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_suppressed() {
        assert_eq!(Count::of(0), Count::Exact(0));
        for n in 1..5 {
            assert_eq!(Count::of(n), Count::Suppressed("<5"), "{n}");
        }
        assert_eq!(Count::of(5), Count::Exact(5));
        assert_eq!(serde_json::to_value(Count::of(3)).unwrap(), json!("<5"));
        assert_eq!(serde_json::to_value(Count::of(12)).unwrap(), json!(12));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0]), Some(3.0));
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn months() {
        let m = |raw: &str| parse_month(raw, "from").ok();
        assert_eq!(m("2026-11"), NaiveDate::from_ymd_opt(2026, 11, 1));
        assert_eq!(m("1900-01"), NaiveDate::from_ymd_opt(1900, 1, 1));
        for bad in [
            "2026-13",
            "2026-00",
            "1899-12",
            "+2026-01",
            "2026-1",
            "26-01",
            "2026-11-01",
            "-262143-01",
            "",
        ] {
            assert_eq!(m(bad), None, "{bad}");
        }
    }

    #[test]
    fn refusals_are_written_once_per_window_and_counted() {
        let log = RefusalLog::default();
        let t0 = std::time::Instant::now();
        let key = || "u1|f1|access-grant-required".to_string();
        assert_eq!(log.admit(key(), t0), Some(0), "the first is written");
        for i in 1..=5 {
            let t = t0 + std::time::Duration::from_secs(i);
            assert_eq!(log.admit(key(), t), None, "held back within the window");
        }
        assert_eq!(log.admit("u2|f1|x".into(), t0), Some(0), "keys are apart");
        let later = t0 + REFUSAL_WINDOW + std::time::Duration::from_secs(1);
        assert_eq!(log.admit(key(), later), Some(5), "the next counts the held");
        assert_eq!(log.admit(key(), later), None);
    }

    #[test]
    fn every_move_of_a_person_has_its_event() {
        let change = || AccessChange {
            dataset_id: "d".into(),
            from: "pending".into(),
            to: "x".into(),
            expires_at: None,
            from_country: None,
            to_country: None,
        };
        for (to, name) in [
            (RequestStatus::Approved, "access_request.approved"),
            (RequestStatus::Rejected, "access_request.rejected"),
            (RequestStatus::Withdrawn, "access_request.withdrawn"),
            (RequestStatus::Revoked, "access_request.revoked"),
        ] {
            assert_eq!(event_of(to, change()).unwrap().name(), name);
        }
        for to in [RequestStatus::Pending, RequestStatus::Expired] {
            assert!(event_of(to, change()).is_err(), "{}", to.as_str());
        }
    }
}
