//! Dataset access and data sovereignty: access requests and the grants they
//! become (`/datasets/{id}/access-requests`, `/access-requests/{id}*`,
//! `/me/access-requests`), file links (`/datasets/{id}/files/{file_id}/link`,
//! followed at `/file-links/{token}`), the periodic `sweep` that expires
//! grants and stale requests and reminds the deciders, and the public
//! transparency report (`/transparency/access-report`).
//!
//! Who may do what is `domain::policy` (`RequestAccess`, `DecideAccess`,
//! `Download`…); where the data may go is `domain::transfer`, checked when a
//! request is made, when it is approved and each time a link is issued;
//! which status changes are allowed is `domain::access`.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::api::resources::path_id;
use crate::api::types::utc;
use crate::app::events;
use crate::app::notifications::{Kind, notify};
use crate::app::resources::{details_of, facts, load, status_of};
use crate::auth::{MaybePrincipal, Principal, random_token, token_hash};
use crate::db::access::{self as store, Change, LinkRow, Listed, Of, RequestRow};
use crate::db::accounts::{self, UserRow};
use crate::db::audit::Context;
use crate::db::institutions;
use crate::db::resources::{self as resources_store, Loaded, Viewer};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::access::{Event, RequestStatus, transition};
use crate::domain::events::{AccessChange, Event as DomainEvent};
use crate::domain::policy::{self, Action};
use crate::domain::resource::{AccessLevel, DatasetFields, Details, ResourceKind, Status};
use crate::domain::transfer::{self, OnBehalfOf, Refusal, Requester};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
use crate::problem_types::ProblemType;
use crate::state::AppState;

const PURPOSE_MIN: usize = 20;
const PURPOSE_MAX: usize = 2000;
const NOTE_MAX: usize = 2000;
/// Requests one person may make for one dataset in a day.
const REQUESTS_PER_DAY: usize = 3;
/// Groups smaller than this are shown as "<5" in the transparency report.
pub const SUPPRESS_BELOW: i64 = 5;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get = crate::api::get;
    cfg.service(
        web::resource("/datasets/{id}/access-requests")
            .route(get().to(list_for_dataset))
            .route(web::post().to(create)),
    )
    .service(web::resource("/access-requests/{id}").route(get().to(show)))
    .service(web::resource("/access-requests/{id}/approve").route(web::post().to(approve)))
    .service(web::resource("/access-requests/{id}/reject").route(web::post().to(reject)))
    .service(web::resource("/access-requests/{id}/withdraw").route(web::post().to(withdraw)))
    .service(web::resource("/access-requests/{id}/revoke").route(web::post().to(revoke)))
    .service(web::resource("/me/access-requests").route(get().to(mine)))
    // GET only: a HEAD would issue (and audit) a link nobody receives.
    .service(web::resource("/datasets/{id}/files/{file_id}/link").route(web::get().to(file_link)))
    .service(web::resource("/file-links/{token}").route(get().to(follow_link)))
    .service(web::resource("/transparency/access-report").route(get().to(report)));
}

// ----- representation --------------------------------------------------------------

/// A request for access to a restricted dataset, and the grant it becomes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessRequest {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = "uuid")]
    pub dataset_id: String,
    pub dataset_title: String,
    #[schema(format = "uuid")]
    pub requester_id: String,
    pub requester_name: String,
    /// Slug of the institution the request is made on behalf of.
    pub institution: Option<String>,
    pub purpose: String,
    pub duration_days: i32,
    pub status: RequestStatus,
    /// The deciders' note to the requester with their decision.
    pub decision_note: Option<String>,
    /// The owners' note when they revoked the grant.
    pub revocation_note: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// When an approved grant ends.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Listed> for AccessRequest {
    fn from(l: &Listed) -> Self {
        let r = &l.row;
        Self {
            id: r.id.clone(),
            dataset_id: r.dataset_id.clone(),
            dataset_title: l.dataset_title.clone(),
            requester_id: r.requester_id.clone(),
            requester_name: l.requester_name.clone(),
            institution: r.institution_slug.clone(),
            purpose: r.purpose.clone(),
            duration_days: r.duration_days,
            status: RequestStatus::parse(&r.status).unwrap_or(RequestStatus::Pending),
            decision_note: r.decision_note.clone(),
            revocation_note: r.revocation_note.clone(),
            decided_at: r.decided_at.map(utc),
            expires_at: r.expires_at.map(utc),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRequestPage {
    pub items: Vec<AccessRequest>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccessRequest {
    /// What the data is for, 20–2000 characters.
    #[schema(min_length = 20, max_length = 2000)]
    pub purpose: String,
    /// Slug of an institution you belong to, to ask on its behalf (its
    /// country then counts for the transfer policy).
    #[schema(max_length = 64)]
    pub institution: Option<String>,
    /// How long you need access, in days: 1 to `access.max_duration_days`
    /// (730 unless configured otherwise).
    #[schema(minimum = 1)]
    pub duration_days: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// To the requester, 1–2000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
    /// When the grant ends (in the future); default: now + `duration_days`.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Why, to the requester, 1–2000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// Why, to the requester (optional).
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
}

// ----- shared checks ---------------------------------------------------------------

/// A dataset, who looks at it, and its sovereignty fields.
struct DatasetView {
    loaded: Loaded,
    viewer: Viewer,
    fields: DatasetFields,
}

impl DatasetView {
    fn load(conn: &mut DbConnection, id: &str, p: Option<&Principal>) -> Result<Self, ApiError> {
        let (loaded, viewer) = load(conn, ResourceKind::Dataset, id, p)?;
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
            "This institution is not verified yet: only a verified institution's country \
             counts for a dataset's transfer policy.",
        )),
        None => Err(ApiError::field(
            "institution",
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
        errors.push(FieldError::new("note", "At most 2000 characters."));
        None
    } else if note.is_empty() {
        if required {
            errors.push(FieldError::new("note", "Say something to the requester."));
        }
        None
    } else {
        Some(note.to_string())
    }
}

pub(crate) fn listed(conn: &mut DbConnection, id: &str) -> Result<Listed, ApiError> {
    store::by_id(conn, id)?.ok_or(ApiError::NotFound)
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

pub(crate) fn institution_name(conn: &mut DbConnection, slug: &str) -> Result<String, ApiError> {
    Ok(institutions::by_slug(conn, slug)?
        .map(|i| i.name)
        .unwrap_or_else(|| slug.to_string()))
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

// ----- requests --------------------------------------------------------------------

/// Ask for access to a restricted dataset (a verified account). The
/// transfer policy is checked now: a request that could never be granted is
/// refused with the rule and why. The owning institution's owners and
/// editors are told.
#[utoipa::path(post, operation_id = "request_dataset_access", path = "/api/v1/datasets/{id}/access-requests", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Dataset id")),
    request_body = NewAccessRequest,
    responses(
        (status = 201, description = "Requested", body = AccessRequest, headers(("Location" = String, description = "The new request"))),
        (status = 400, description = "Invalid fields (`errors` lists each)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Email not verified, or the transfer policy rules it out (the detail names the rule)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset (or not visible to you)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already pending or granted, not needed (not restricted, or your own institution's), or the dataset is not published", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Three requests for this dataset in the last day already (`Retry-After` says when the next may be made)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<NewAccessRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let max_days = i32::try_from(state.settings.access.max_duration_days).unwrap_or(i32::MAX);
    let mut errors = Vec::new();
    let purpose = body.purpose.trim().to_string();
    let n = purpose.chars().count();
    if !(PURPOSE_MIN..=PURPOSE_MAX).contains(&n) {
        errors.push(FieldError::new(
            "purpose",
            "Say what the data is for, in 20 to 2000 characters.",
        ));
    }
    if !(1..=max_days).contains(&body.duration_days) {
        errors.push(FieldError::new(
            "duration_days",
            format!("From 1 to {max_days} days."),
        ));
    }
    let slug = body
        .institution
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if slug.is_some_and(|s| s.len() > 64) {
        errors.push(FieldError::new(
            "institution",
            "An institution slug has at most 64 characters.",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let slug = slug.map(str::to_string);
    let duration = body.duration_days;
    let state = state.into_inner();
    let ctx = Context::new(Some(&principal.user.id));
    let created = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                // Requests and decisions on one dataset take its row lock
                // first: a request made while an approval commits sees the
                // grant, instead of slipping in beside it.
                if !resources_store::lock(conn, &id)? {
                    return Err(ApiError::NotFound);
                }
                let ds = DatasetView::load(conn, &id, Some(&principal))?;
                check(Some(&principal), Action::RequestAccess(ds.facts()))?;
                if ds.insider() {
                    return Err(not_needed(
                        "You belong to the institution that owns this dataset: its members \
                         download its files directly.",
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
                        "This dataset's access level is `{}`: get its file links directly, no \
                         request is needed.",
                        ds.fields.access_level.as_str()
                    )));
                }
                let user = &principal.user;
                let institution = match &slug {
                    Some(s) => Some(own_institution(conn, &user.id, s)?),
                    None => None,
                };
                let institution_id = institution.as_ref().map(|(id, _)| id.as_str());
                let country = transfer_check(conn, &ds, Some(user), institution_id)?;
                let now = now();
                if let Grant::Holds(g) = grant_of(conn, &id, &user.id, now)? {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::AccessAlreadyGranted,
                        detail: format!(
                            "Your access to this dataset lasts until {} (UTC); ask again once it ends.",
                            g.expires_at.map(stamp).unwrap_or_default()
                        ),
                    });
                }
                let day = Duration::days(1);
                let recent = store::recent(conn, &id, &user.id, now - day)?;
                if recent.len() >= REQUESTS_PER_DAY {
                    // Until the oldest of them is a day old.
                    let oldest = recent.first().copied().unwrap_or(now);
                    let ms = (oldest + day - now).num_milliseconds();
                    let wait = ((ms + 999) / 1000).max(1);
                    return Err(ApiError::TooManyRequests {
                        retry_after_secs: u64::try_from(wait).unwrap_or(1),
                    });
                }
                let row = RequestRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    dataset_id: id.clone(),
                    requester_id: user.id.clone(),
                    institution_id: institution.as_ref().map(|(id, _)| id.clone()),
                    institution_slug: institution.map(|(_, slug)| slug),
                    purpose,
                    duration_days: duration,
                    status: RequestStatus::Pending.as_str().into(),
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
                    let pending = store::pending(conn, &id, &user.id)?;
                    return Err(ApiError::Conflict {
                        problem: ProblemType::AccessRequestPending,
                        detail: format!(
                            "Your request {} for this dataset is still pending: withdraw it to \
                             ask differently.",
                            pending.map(|p| p.id).unwrap_or_default()
                        ),
                    });
                }
                let listed = listed(conn, &row.id)?;
                let owner_name = institution_name(conn, &ds.loaded.institution_slug)?;
                let on_behalf = match &listed.row.institution_slug {
                    Some(s) => Some(institution_name(conn, s)?),
                    None => None,
                };
                for decider in deciders(conn, ds.owner_id())? {
                    notify(
                        conn,
                        &state,
                        &decider,
                        Kind::AccessRequested,
                        json!({"display_name": decider.display_name,
                               "requester": user.display_name,
                               "institution": on_behalf,
                               "owner_institution": owner_name,
                               "dataset": ds.loaded.row.title,
                               "duration_days": duration,
                               "purpose": row.purpose,
                               "request_id": row.id}),
                    )?;
                }
                let concerned: Vec<&str> =
                    std::iter::once(ds.owner_id()).chain(row.institution_id.as_deref()).collect();
                events::record(
                    conn,
                    &ctx,
                    &row.id,
                    &concerned,
                    &DomainEvent::AccessRequestCreated {
                        dataset_id: id.clone(),
                        institution: listed.row.institution_slug.clone(),
                        from_country: row.origin_country.clone(),
                        to_country: country.clone(),
                        duration_days: duration,
                    },
                )?;
                Ok(AccessRequest::from(&listed))
            })
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/access-requests/{}", created.id),
        ))
        .json(created))
}

fn not_needed(detail: &str) -> ApiError {
    ApiError::Conflict {
        problem: ProblemType::AccessRequestNotNeeded,
        detail: detail.into(),
    }
}

/// A dataset's access requests, newest first (its institution's owners and
/// editors; admins may look).
#[utoipa::path(get, operation_id = "list_dataset_access_requests", path = "/api/v1/datasets/{id}/access-requests", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Dataset id"), PageQuery, RequestFilter),
    responses(
        (status = 200, description = "One page", body = AccessRequestPage),
        (status = 403, description = "Not an owner or editor of the dataset's institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset (or not visible to you)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_for_dataset(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
    Query(filter): Query<RequestFilter>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let before = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let rows = db
        .run(move |conn| {
            let ds = DatasetView::load(conn, &id, Some(&principal))?;
            check(Some(&principal), Action::ListAccessRequests(ds.facts()))?;
            Ok::<_, ApiError>(store::list(
                conn,
                Of::Dataset(&id),
                filter.status.map(RequestStatus::as_str),
                before,
                limit,
            )?)
        })
        .await?;
    Ok(page_of(rows, &page).respond(&req))
}

fn page_of(
    rows: Vec<Listed>,
    page: &crate::http::pagination::Page<(DateTime<Utc>, String)>,
) -> Paginated<AccessRequest> {
    Paginated::from_rows(rows, page, |l| (utc(l.row.created_at), l.row.id.clone()))
        .map(|l| AccessRequest::from(&l))
}

/// Your access requests and grants, newest first.
#[utoipa::path(get, operation_id = "my_access_requests", path = "/api/v1/me/access-requests", tag = "access", security(("bearer" = [])),
    params(PageQuery, RequestFilter),
    responses((status = 200, description = "One page", body = AccessRequestPage)))]
pub async fn mine(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<RequestFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let before = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let rows = db
        .run(move |conn| {
            store::list(
                conn,
                Of::Requester(&principal.user.id),
                filter.status.map(RequestStatus::as_str),
                before,
                limit,
            )
        })
        .await?;
    Ok(page_of(rows, &page).respond(&req))
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
    let ds = DatasetView::load(conn, &l.row.dataset_id, Some(principal))?;
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

/// One access request (the requester, the dataset's owners and editors, admins).
#[utoipa::path(get, operation_id = "show_access_request", path = "/api/v1/access-requests/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Access request id")),
    responses(
        (status = 200, description = "The request", body = AccessRequest, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such request (or not yours to see)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let r = db
        .run(move |conn| {
            let (l, _) = visible_request(conn, &id, &principal)?;
            Ok::<_, ApiError>(AccessRequest::from(&l))
        })
        .await?;
    etag::respond(&req, &r)
}

/// What a decision carries.
struct Decision {
    event: Event,
    note: Option<String>,
    expires_at: Option<NaiveDateTime>,
}

/// Moves a request by `d.event`: checks who may, that the move is allowed
/// from where the request stands (409 otherwise), and for an approval that
/// the transfer policy still lets the data go there; then writes, tells the
/// requester and audits, in one transaction.
async fn decide(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    id: String,
    d: Decision,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let state = state.into_inner();
    let ctx = Context::new(Some(&principal.user.id));
    let r = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                // The dataset's row lock first, then everything is read as
                // it stands (a change of its terms cannot slip in between).
                let dataset_id = listed(conn, &id)?.row.dataset_id;
                resources_store::lock(conn, &dataset_id)?;
                let (l, ds) = visible_request(conn, &id, &principal)?;
                let requester = l.row.requester_id == principal.user.id;
                let f = ds.facts();
                let action = match d.event {
                    Event::Approve | Event::Reject => Action::DecideAccess {
                        dataset: f,
                        own: requester,
                    },
                    Event::Withdraw => Action::WithdrawAccessRequest {
                        dataset: f,
                        requester,
                    },
                    Event::Revoke | Event::Expire => Action::RevokeAccess(f),
                };
                check(Some(&principal), action)?;
                let from = RequestStatus::parse(&l.row.status).unwrap_or(RequestStatus::Pending);
                let to = transition(from, d.event).ok_or_else(|| ApiError::Conflict {
                    problem: ProblemType::InvalidTransition,
                    detail: format!(
                        "This request is {}: it cannot be {}.",
                        from.as_str(),
                        d.event.past()
                    ),
                })?;
                let now = now();
                let requester_row =
                    accounts::user_by_id(conn, &l.row.requester_id)?.ok_or(ApiError::NotFound)?;
                let mut change = Change::default();
                match d.event {
                    Event::Approve => {
                        // Conditions may have changed since the request.
                        still_member(conn, &l.row)?;
                        let country = transfer_check(
                            conn,
                            &ds,
                            Some(&requester_row),
                            l.row.institution_id.as_deref(),
                        )?;
                        let ends = d.expires_at.unwrap_or_else(|| {
                            now + Duration::days(i64::from(l.row.duration_days))
                        });
                        change.decision = Some(Some("approved".into()));
                        change.decided_by = Some(Some(principal.user.id.clone()));
                        change.decided_at = Some(Some(now));
                        change.decision_note = Some(d.note.clone());
                        change.expires_at = Some(Some(ends));
                        change.decision_country = Some(country);
                    }
                    Event::Reject => {
                        change.decision = Some(Some("rejected".into()));
                        change.decided_by = Some(Some(principal.user.id.clone()));
                        change.decided_at = Some(Some(now));
                        change.decision_note = Some(d.note.clone());
                        change.ended_at = Some(Some(now));
                    }
                    Event::Withdraw | Event::Expire => change.ended_at = Some(Some(now)),
                    Event::Revoke => {
                        if l.row.expires_at.is_some_and(|e| e <= now) {
                            return Err(ApiError::Conflict {
                                problem: ProblemType::InvalidTransition,
                                detail: "This grant has already expired.".into(),
                            });
                        }
                        change.ended_at = Some(Some(now));
                        change.revocation_note = Some(d.note.clone());
                    }
                }
                if !store::set_status(conn, &id, from.as_str(), to.as_str(), now, &change)? {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::InvalidTransition,
                        detail: "The request changed meanwhile: read it again.".into(),
                    });
                }
                let after = listed(conn, &id)?;
                let owner_name = institution_name(conn, &ds.loaded.institution_slug)?;
                let base = json!({"display_name": requester_row.display_name,
                                  "dataset": after.dataset_title,
                                  "owner_institution": owner_name,
                                  "request_id": id});
                let extra = match d.event {
                    Event::Approve | Event::Reject => Some((
                        Kind::AccessDecided,
                        json!({"decision": to.as_str(), "note": d.note,
                               "expires_at": after.row.expires_at.map(stamp)}),
                    )),
                    Event::Revoke => {
                        Some((Kind::AccessEnded, json!({"how": "revoked", "note": d.note})))
                    }
                    Event::Withdraw | Event::Expire => None,
                };
                if let Some((kind, extra)) = extra
                    && requester_row.active
                {
                    notify(conn, &state, &requester_row, kind, merge(base, extra))?;
                }
                let change = AccessChange {
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
                };
                let event = match to {
                    RequestStatus::Approved => DomainEvent::AccessRequestApproved { change },
                    RequestStatus::Rejected => DomainEvent::AccessRequestRejected { change },
                    RequestStatus::Withdrawn => DomainEvent::AccessRequestWithdrawn { change },
                    RequestStatus::Revoked => DomainEvent::AccessRequestRevoked { change },
                    other => {
                        return Err(ApiError::internal(anyhow::anyhow!(
                            "no decision leads to {}",
                            other.as_str()
                        )));
                    }
                };
                let concerned: Vec<&str> = std::iter::once(ds.owner_id())
                    .chain(after.row.institution_id.as_deref())
                    .collect();
                events::record(conn, &ctx, &id, &concerned, &event)?;
                Ok(AccessRequest::from(&after))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(r))
}

fn merge(mut a: serde_json::Value, b: serde_json::Value) -> serde_json::Value {
    if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// Approve a pending request (the dataset's owners and editors). The
/// transfer policy is checked again; the grant lasts `duration_days` unless
/// `expires_at` says otherwise. The requester is told, with the note.
#[utoipa::path(post, operation_id = "approve_access_request", path = "/api/v1/access-requests/{id}/approve", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Access request id")),
    request_body = Approval,
    responses(
        (status = 200, description = "Approved", body = AccessRequest),
        (status = 400, description = "Invalid note or expiry", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a decider (nor on your own request), the transfer policy now rules it out, or the requester no longer belongs to the institution they asked for (`no-longer-a-member`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request (or not yours to see)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<Approval>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let note = check_note(&body.note, true, &mut errors);
    let expires_at = body.expires_at.map(|t| t.naive_utc());
    let horizon = now() + Duration::days(3650);
    if expires_at.is_some_and(|t| t <= now() || t > horizon) {
        errors.push(FieldError::new(
            "expires_at",
            "A time in the future, within ten years.",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let d = Decision {
        event: Event::Approve,
        note,
        expires_at,
    };
    decide(state, db, principal, path.into_inner(), d).await
}

/// Reject a pending request, saying why (the dataset's owners and editors).
#[utoipa::path(post, operation_id = "reject_access_request", path = "/api/v1/access-requests/{id}/reject", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Access request id")),
    request_body = Rejection,
    responses(
        (status = 200, description = "Rejected", body = AccessRequest),
        (status = 400, description = "Invalid note", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a decider", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request (or not yours to see)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reject(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<Rejection>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let note = check_note(&body.note, true, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let d = Decision {
        event: Event::Reject,
        note,
        expires_at: None,
    };
    decide(state, db, principal, path.into_inner(), d).await
}

/// Withdraw your pending request.
#[utoipa::path(post, operation_id = "withdraw_access_request", path = "/api/v1/access-requests/{id}/withdraw", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Access request id")),
    responses(
        (status = 200, description = "Withdrawn", body = AccessRequest),
        (status = 403, description = "Not your request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request (or not yours to see)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn withdraw(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let d = Decision {
        event: Event::Withdraw,
        note: None,
        expires_at: None,
    };
    decide(state, db, principal, path.into_inner(), d).await
}

/// End an approved grant early (the owning institution's owners). The
/// requester is told, with the note if there is one.
#[utoipa::path(post, operation_id = "revoke_access_grant", path = "/api/v1/access-requests/{id}/revoke", tag = "access", security(("bearer" = [])),
    params(("id" = String, Path, description = "Access request id")),
    request_body = Revocation,
    responses(
        (status = 200, description = "Revoked", body = AccessRequest),
        (status = 400, description = "Invalid note", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of the dataset's institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request (or not yours to see)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an approved grant", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<Revocation>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let note = body
        .note
        .as_deref()
        .and_then(|n| check_note(n, false, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let d = Decision {
        event: Event::Revoke,
        note,
        expires_at: None,
    };
    decide(state, db, principal, path.into_inner(), d).await
}

// ----- file links ------------------------------------------------------------------

/// A short-lived link to a file.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileLink {
    /// Follow it (GET) to be redirected to the file; it works until
    /// `expires_at`. A path on the API's origin (`/api/v1/file-links/…`).
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LinkQuery {
    /// Slug of an institution you belong to, to download on its behalf (its
    /// country then counts for the transfer policy). A grant made on behalf
    /// of an institution always counts for that institution.
    pub institution: Option<String>,
}

/// A link to one of a dataset's files, for callers who pass both its access
/// level and its transfer policy. Every link issued is audited (who, which
/// file, from which country to which).
#[utoipa::path(get, operation_id = "dataset_file_link", path = "/api/v1/datasets/{id}/files/{file_id}/link", tag = "access",
    params(("id" = String, Path, description = "Dataset id"),
           ("file_id" = String, Path, description = "File id"), LinkQuery),
    responses(
        (status = 200, description = "A link, valid until `expires_at`", body = FileLink),
        (status = 400, description = "`institution` is not one of yours", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "You may see the dataset but not download: the problem says why (account, grant, or the transfer policy's rule)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset or file (or not visible to you)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn file_link(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<(String, String)>,
    Query(query): Query<LinkQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (id, file_id) = path.into_inner();
    let id = path_id(&id)?;
    let file_id = path_id(&file_id)?;
    let ttl = Duration::minutes(i64::from(state.settings.access.link_ttl_minutes));
    let slug = query
        .institution
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let ctx = Context::new(principal.as_ref().map(|p| p.user.id.as_str()));
    let refused = (ctx.clone(), id.clone(), file_id.clone());
    let token = random_token("kjf_");
    let hash = token_hash(&token);
    let issued = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let ds = DatasetView::load(conn, &id, principal.as_ref())?;
                let now = now();
                // A grant matters only where one is needed.
                let grant = match &principal {
                    Some(p)
                        if ds.fields.access_level == AccessLevel::Restricted && !ds.insider() =>
                    {
                        grant_of(conn, &id, &p.user.id, now)?
                    }
                    _ => Grant::None,
                };
                let grant = match grant {
                    Grant::None => None,
                    Grant::Holds(g) | Grant::Lapsed(g) => Some(g),
                };
                check(
                    principal.as_ref(),
                    Action::Download {
                        dataset: ds.facts(),
                        level: ds.fields.access_level,
                        grant: grant.is_some(),
                    },
                )?;
                let file = resources_store::file(conn, &id, &file_id)?.ok_or(ApiError::NotFound)?;
                let user = principal.as_ref().map(|p| &p.user);
                let country = if ds.insider() {
                    // The owner's own members: the data does not leave it.
                    Some(ds.loaded.institution_country.clone())
                } else {
                    let on_behalf = match (&grant, &slug, user) {
                        (Some(g), _, _) if g.institution_slug.is_some() => {
                            still_member(conn, g)?;
                            g.institution_id.clone()
                        }
                        (_, Some(s), Some(u)) => Some(own_institution(conn, &u.id, s)?.0),
                        (_, Some(_), None) => {
                            return Err(ApiError::field(
                                "institution",
                                "Sign in to download on behalf of an institution.",
                            ));
                        }
                        _ => None,
                    };
                    transfer_check(conn, &ds, user, on_behalf.as_deref())?
                };
                let expires_at = now + ttl;
                let link = LinkRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    token_hash: hash,
                    dataset_id: id.clone(),
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
                    &ctx,
                    &file.id,
                    &concerned,
                    &DomainEvent::FileLinkIssued {
                        dataset_id: id.clone(),
                        file: file.name.clone(),
                        link_id: link.id.clone(),
                        access_request_id: link.access_request_id.clone(),
                        from_country: link.origin_country.clone(),
                        to_country: country.clone(),
                        expires_at: utc(expires_at),
                    },
                )?;
                Ok(expires_at)
            })
        })
        .await;
    let expires_at = match issued.map_err(ApiError::from) {
        Ok(expires_at) => expires_at,
        Err(err) => {
            if let ApiError::Forbidden { problem, .. } = &err {
                let (ctx, dataset_id, file_id) = refused;
                let client = crate::api::auth::client_ip(&req).to_string();
                audit_refusal(
                    &db,
                    &state,
                    ctx,
                    dataset_id,
                    file_id,
                    problem.slug(),
                    client,
                )
                .await;
            }
            return Err(err);
        }
    };
    // Relative to the API's origin: the Host and X-Forwarded-* headers a
    // request arrives with are not to be trusted with building URLs.
    let url = format!("/api/v1/file-links/{token}");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(FileLink {
            url,
            expires_at: utc(expires_at),
        }))
}

/// Refused file links are access decisions too: each is audited as
/// `dataset.file_link_refused`, at most once per (who, file, reason) and
/// [`REFUSAL_WINDOW`]; the ones held back meanwhile are counted in the next
/// event's `repeats` (so a hammering client costs one row per window, and
/// the log still tells how many attempts there were).
pub const REFUSAL_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

/// The per-instance memory of recently audited refusals.
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

async fn audit_refusal(
    db: &Db,
    state: &AppState,
    ctx: Context,
    dataset_id: String,
    file_id: String,
    reason: &'static str,
    client_ip: String,
) {
    let who = ctx
        .actor_id
        .clone()
        .unwrap_or_else(|| format!("ip:{client_ip}"));
    let key = format!("{who}|{file_id}|{reason}");
    let Some(repeats) = state.refusals.admit(key, std::time::Instant::now()) else {
        return;
    };
    let result = db
        .run(move |conn| {
            let owner = resources_store::by_id(conn, &dataset_id)?.map(|d| d.row.institution_id);
            let event = DomainEvent::FileLinkRefused {
                dataset_id: dataset_id.clone(),
                reason: reason.into(),
                client_ip: ctx.actor_id.is_none().then_some(client_ip),
                repeats,
            };
            events::record(
                conn,
                &ctx,
                &file_id,
                &owner.as_deref().into_iter().collect::<Vec<_>>(),
                &event,
            )
        })
        .await;
    if let Err(err) = result {
        tracing::warn!(error = %err, "a refused file link could not be audited");
    }
}

/// Follow a file link: a redirect to the file while the link is valid (and,
/// for a link issued under a grant, while the grant is in force).
#[utoipa::path(get, operation_id = "follow_file_link", path = "/api/v1/file-links/{token}", tag = "access",
    params(("token" = String, Path, description = "The token of a link from `…/files/{file_id}/link`")),
    responses(
        (status = 302, description = "To the file", headers(("Location" = String, description = "The file"))),
        (status = 404, description = "No such link", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The link expired (`link-expired`), the grant it was issued under ended (`access-ended`), or the file was removed (`file-removed`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn follow_link(
    db: web::Data<Db>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    if !token.starts_with("kjf_") || token.len() > 100 {
        return Err(ApiError::NotFound);
    }
    let hash = token_hash(&token);
    let url = db
        .run(move |conn| {
            let link = store::link_by_token_hash(conn, &hash)?.ok_or(ApiError::NotFound)?;
            let now = now();
            if link.expires_at <= now {
                return Err(ApiError::Gone {
                    problem: ProblemType::LinkExpired,
                    detail: "Ask for a new link to the file.".into(),
                });
            }
            if let Some(grant) = &link.access_request_id {
                let in_force = match store::request(conn, grant)? {
                    Some(g) => {
                        g.status == RequestStatus::Approved.as_str()
                            && g.expires_at.is_some_and(|e| e > now)
                            && claim_holds(conn, &g)?
                    }
                    None => false,
                };
                if !in_force {
                    return Err(ApiError::Gone {
                        problem: ProblemType::AccessEnded,
                        detail: "The grant this link was issued under was revoked or expired."
                            .into(),
                    });
                }
            }
            let removed = || ApiError::Gone {
                problem: ProblemType::FileRemoved,
                detail: "The dataset no longer has this file.".into(),
            };
            let file_id = link.file_id.as_deref().ok_or_else(removed)?;
            let file =
                resources_store::file(conn, &link.dataset_id, file_id)?.ok_or_else(removed)?;
            Ok::<_, ApiError>(file.url)
        })
        .await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .finish())
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
    #[schema(value_type = Option<crate::api::vocab::Country>)]
    pub origin_country: Option<String>,
    /// The country that counted for the transfer policy (null when the
    /// requester gave none).
    #[schema(value_type = Option<crate::api::vocab::Country>)]
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

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// First month, `YYYY-MM`; default eleven months before `to`. At most
    /// 36 months in one report.
    pub from: Option<String>,
    /// Last month, `YYYY-MM`, one that has ended; default last month.
    pub to: Option<String>,
}

/// The longest range one report covers, in months.
const REPORT_MONTHS_MAX: u32 = 36;

type Pair = (Option<String>, Option<String>);

/// `YYYY-MM` (years 1900–9999) → the first day of that month.
fn parse_month(raw: &str, field: &str) -> Result<NaiveDate, ApiError> {
    let bad = || ApiError::field(field, "A month as YYYY-MM, from 1900-01 to 9999-12.");
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

/// The public transparency report: for a range of calendar months, per
/// month, requests, approvals, rejections and issued file links by (origin
/// country of the data → country of the requester), and the median time to
/// a decision. Counts from 1 to 4 are shown as "<5" so no one can be
/// singled out.
#[utoipa::path(get, operation_id = "access_report", path = "/api/v1/transparency/access-report", tag = "access",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = AccessReport, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Invalid range: not YYYY-MM, a month not yet ended, `from` after `to`, or over 36 months", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn report(
    req: HttpRequest,
    db: web::Data<Db>,
    Query(q): Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let this_month = {
        let today = now().date();
        NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today)
    };
    // Only months that have ended: a month still running changes between
    // two reads, and the difference could time one person's action.
    let last_complete = this_month
        .checked_sub_months(Months::new(1))
        .unwrap_or(this_month);
    let to = match q.to.as_deref() {
        Some(raw) => parse_month(raw, "to")?,
        None => last_complete,
    };
    if to >= this_month {
        return Err(ApiError::field(
            "to",
            format!(
                "Only months that have ended: at the latest {}.",
                month_of(last_complete)
            ),
        ));
    }
    let from = match q.from.as_deref() {
        Some(raw) => parse_month(raw, "from")?,
        None => to
            .checked_sub_months(Months::new(11))
            .unwrap_or(to)
            .max(NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(to)),
    };
    if from > to {
        return Err(ApiError::field("from", "Must not be after `to`."));
    }
    let mut months = Vec::new();
    let mut m = from;
    while m <= to {
        if months.len() as u32 >= REPORT_MONTHS_MAX {
            return Err(ApiError::field(
                "from",
                format!("A report covers at most {REPORT_MONTHS_MAX} months."),
            ));
        }
        let next = m
            .checked_add_months(Months::new(1))
            .ok_or_else(|| ApiError::field("to", "Too far in the future."))?;
        months.push((m, next));
        m = next;
    }
    let figures = db
        .run(move |conn| {
            months
                .into_iter()
                .map(|(start, end)| month_figures(conn, start, end))
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    let report = AccessReport {
        from: month_of(from),
        to: month_of(to),
        suppressed_below: SUPPRESS_BELOW,
        months: figures,
    };
    let mut res = etag::respond(&req, &report)?;
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=300"),
    );
    Ok(res)
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
        let country = if d.decision.as_deref() == Some("approved") {
            d.decision_country
        } else {
            d.requester_country
        };
        let t = pairs.entry((d.origin_country, country)).or_default();
        match d.decision.as_deref() {
            Some("approved") => t.approvals += 1,
            _ => t.rejections += 1,
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
    fn status_codes_of_the_new_problems() {
        let gone = ApiError::Gone {
            problem: ProblemType::LinkExpired,
            detail: "d".into(),
        };
        assert_eq!(
            actix_web::ResponseError::status_code(&gone),
            actix_web::http::StatusCode::GONE
        );
    }
}

#[cfg(test)]
mod refusal_log_tests {
    use super::*;

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
}
