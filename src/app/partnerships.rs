//! Cross-border lab partnerships: their member institutions, coordinators
//! and shared resources, and the daily digest of what was shared.
//!
//! Queries take a connection; commands open their write transaction, take
//! the partnership row's lock first (so every check runs on what concurrent
//! changes left), ask `domain::policy` and the lifecycle tables in
//! `domain::partnership`, change the rows, and record their event
//! (`app::events`) with the notifications it causes, last, in the same
//! transaction. Callers pass the request's `Context` (captured before the
//! blocking call, for the request id).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::app::events::{self, Notice};
use crate::app::notifications::Kind;
use crate::app::permissions::PartnershipPermissions;
use crate::app::resources::facts;
use crate::auth::Principal;
use crate::db::accounts::user_by_id;
use crate::db::audit::Context;
use crate::db::institutions as institutions_store;
use crate::db::partnerships::{self as store, Member, MemberRow, PartnershipRow};
use crate::db::resources::{self as resources_store, Viewer};
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::CountryCode;
use crate::domain::events::Event;
use crate::domain::partnership::{MemberChange, MemberStatus, PartnershipStatus};
use crate::domain::policy::{self, Action, InstitutionRole, PartnershipFacts};
use crate::domain::resource::{self as doc, ResourceKind, Visibility};
use crate::error::{ApiError, FieldCode, FieldError, Invalid};
use crate::http::etag;
use crate::problem_types::ProblemType;
use crate::state::AppState;

// ----- representations ---------------------------------------------------------------

/// A member institution.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartnershipMember {
    /// The institution's slug.
    pub institution: String,
    pub name: String,
    #[schema(value_type = crate::domain::vocab::Country)]
    pub country: String,
    pub status: MemberStatus,
    pub updated_at: DateTime<Utc>,
}

impl From<&Member> for PartnershipMember {
    fn from(m: &Member) -> Self {
        Self {
            institution: m.slug.clone(),
            name: m.name.clone(),
            country: m.country.clone(),
            status: m.row.status,
            updated_at: m.row.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"display_name": "Amina Wanjiru", "user_id": "0193a5c2-7f10-7000-8000-000000000a07"}))]
pub struct Coordinator {
    #[schema(format = "uuid")]
    pub user_id: String,
    pub display_name: String,
}

/// A partnership.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Partnership {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub goals: String,
    pub agreement_url: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub status: PartnershipStatus,
    /// Anyone may read a public partnership's page.
    pub public: bool,
    /// The active member institutions' countries.
    #[schema(value_type = Vec<crate::domain::vocab::Country>)]
    pub countries: Vec<String>,
    /// Active members (coordinators and admins: every member, whatever its status).
    pub members: Vec<PartnershipMember>,
    pub coordinators: Vec<Coordinator>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What you may do with it: on single reads and what commands answer
    /// (not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PartnershipPermissions>,
}

/// A resource shared into a partnership.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a5c2-7f10-7000-8000-000000000a17", "institution": "ghana-nlp", "kind": "course", "shared_at": "2026-12-08T09:30:00Z", "title": "Twi speech corpus", "visibility": "public"}))]
pub struct SharedResource {
    #[schema(format = "uuid")]
    pub id: String,
    pub kind: ResourceKind,
    pub title: String,
    /// The owning institution's slug.
    pub institution: String,
    pub visibility: Visibility,
    pub shared_at: DateTime<Utc>,
}

impl SharedResource {
    fn of(r: &resources_store::Loaded, shared_at: NaiveDateTime) -> Self {
        Self {
            id: r.row.id.clone(),
            kind: r.row.kind,
            title: r.row.title.clone(),
            institution: r.institution_slug.clone(),
            visibility: r.row.visibility,
            shared_at: shared_at.and_utc(),
        }
    }
}

// ----- input ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"agreement_url": "https://example.org/agreements/nlp.pdf", "description": "Markdown text.", "ends_on": "2028-02-29", "goals": "Shared Swahili and Twi corpora.", "public": true, "slug": "ew-african-nlp", "starts_on": "2026-03-01", "title": "East–West African NLP"}))]
pub struct NewPartnership {
    #[schema(
        min_length = 3,
        max_length = 64,
        pattern = "^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
    )]
    pub slug: String,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Markdown.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: String,
    /// Markdown.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub goals: String,
    /// http or https.
    #[schema(max_length = 2048)]
    pub agreement_url: Option<String>,
    pub starts_on: NaiveDate,
    /// After `starts_on`.
    pub ends_on: NaiveDate,
    /// Default true.
    pub public: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ends_on": "2028-12-31", "title": "Swahili speech corpus"}))]
pub struct PartnershipPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    #[schema(max_length = 20000)]
    pub goals: Option<String>,
    /// null removes it.
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub agreement_url: Option<Option<String>>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub public: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PartnershipFilter {
    pub status: Option<PartnershipStatus>,
    /// A member institution's country.
    #[param(value_type = Option<crate::domain::vocab::Country>)]
    pub country: Option<String>,
    /// An active member institution's slug.
    pub institution: Option<String>,
    /// `me`: only the partnerships you coordinate or one of your
    /// institutions is an active or invited member of, as `/me/memberships`
    /// lists them (sign in: 401 otherwise).
    #[param(inline)]
    pub member: Option<crate::app::memberships::MemberFilter>,
}

// ----- loading ---------------------------------------------------------------------------

/// A partnership with what the policy needs about the caller.
struct Loaded {
    row: PartnershipRow,
    members: Vec<Member>,
    coordinators: Vec<(String, String)>,
    facts: PartnershipFacts,
    /// The caller's institutions and roles.
    viewer: Viewer,
}

impl Loaded {
    fn member(&self, slug: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.slug == slug)
    }

    fn active_members(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|m| m.row.status == MemberStatus::Active)
    }

    /// The active member institutions' ids: whom partnership-wide events
    /// concern.
    fn active_institutions(&self) -> Vec<String> {
        self.active_members()
            .map(|m| m.row.institution_id.clone())
            .collect()
    }

    fn coordinator_ids(&self) -> Vec<String> {
        self.coordinators.iter().map(|(u, _)| u.clone()).collect()
    }

    fn represent(&self, admin: bool) -> Partnership {
        let row = &self.row;
        let full = admin || self.facts.coordinator;
        let mut countries: Vec<String> = self.active_members().map(|m| m.country.clone()).collect();
        countries.sort_unstable();
        countries.dedup();
        Partnership {
            slug: row.slug.clone(),
            title: row.title.clone(),
            description: row.description.clone(),
            goals: row.goals.clone(),
            agreement_url: row.agreement_url.clone(),
            starts_on: row.starts_on,
            ends_on: row.ends_on,
            status: row.status,
            public: row.public,
            countries,
            members: self
                .members
                .iter()
                .filter(|m| full || m.row.status == MemberStatus::Active)
                .map(PartnershipMember::from)
                .collect(),
            coordinators: self
                .coordinators
                .iter()
                .map(|(user_id, display_name)| Coordinator {
                    user_id: user_id.clone(),
                    display_name: display_name.clone(),
                })
                .collect(),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            permissions: None,
        }
    }

    /// What the caller may do here: the questions the commands ask, with
    /// the facts they ask them with (`share`: an owner or editor of an
    /// active member institution; `move_member`: an owner of the member).
    fn permissions(&self, principal: Option<&Principal>) -> PartnershipPermissions {
        let editor = self.active_members().any(|m| {
            matches!(
                self.viewer.role_in(&m.row.institution_id),
                Some("owner" | "editor")
            )
        });
        let owner = self.members.iter().any(|m| {
            self.viewer.role_in(&m.row.institution_id) == Some(InstitutionRole::Owner.as_str())
        });
        crate::app::permissions::partnership(
            &Principal::actor_of(principal),
            self.facts,
            editor,
            owner,
        )
    }

    /// The single-object representation for the caller, with its
    /// permissions: what reads and commands answer and `If-Match` is
    /// compared with.
    fn represent_for(&self, principal: Option<&Principal>) -> Partnership {
        let mut p = self.represent(principal.is_some_and(Principal::is_admin));
        p.permissions = Some(self.permissions(principal));
        p
    }

    /// Refuses a change to a concluded or dissolved partnership.
    fn not_ended(&self) -> Result<(), ApiError> {
        if self.row.status.ended() {
            return Err(ApiError::Conflict {
                problem: ProblemType::PartnershipEnded,
                detail: "Concluded and dissolved partnerships are read-only.".into(),
            });
        }
        Ok(())
    }
}

fn load(
    conn: &mut DbConnection,
    slug: &str,
    principal: Option<&Principal>,
) -> Result<Loaded, ApiError> {
    if slug.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let row = store::by_slug(conn, slug)?.ok_or(ApiError::NotFound)?;
    let members = store::members(conn, &row.id)?;
    let coordinators = store::coordinators(conn, &row.id)?;
    let viewer = Viewer::load(
        conn,
        principal.map(|p| p.user.id.as_str()),
        principal.is_some_and(Principal::is_admin),
    )?;
    let user_id = principal.map(|p| p.user.id.as_str());
    let facts = PartnershipFacts {
        public: row.public,
        coordinator: user_id.is_some_and(|u| coordinators.iter().any(|(c, _)| c == u)),
        member: members
            .iter()
            .any(|m| m.row.status.involved() && viewer.role_in(&m.row.institution_id).is_some()),
    };
    Ok(Loaded {
        row,
        members,
        coordinators,
        facts,
        viewer,
    })
}

/// [`load`] for a change: takes the partnership row's lock first, so that
/// every check runs on what concurrent changes left (PostgreSQL; SQLite
/// write transactions are serial).
fn load_locked(
    conn: &mut DbConnection,
    slug: &str,
    principal: &Principal,
) -> Result<Loaded, ApiError> {
    if slug.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let row = store::by_slug(conn, slug)?.ok_or(ApiError::NotFound)?;
    store::lock(conn, &row.id)?;
    load(conn, slug, Some(principal))
}

/// Loads a partnership for a change by someone who may manage it
/// (coordinators and admins), refusing one that has ended.
fn load_to_manage(
    conn: &mut DbConnection,
    slug: &str,
    principal: &Principal,
) -> Result<Loaded, ApiError> {
    let l = load_locked(conn, slug, principal)?;
    policy::enforce(policy::may(
        &principal.actor(),
        Action::ManagePartnership(l.facts),
    ))?;
    l.not_ended()?;
    Ok(l)
}

/// Whom to tell: each of `user_ids` once, skipping deactivated accounts,
/// with `data` and the person's display name.
fn notices(
    conn: &mut DbConnection,
    user_ids: &[String],
    kind: Kind,
    data: &Value,
) -> Result<Vec<Notice>, ApiError> {
    let mut seen: Vec<&String> = Vec::new();
    let mut out = Vec::new();
    for id in user_ids {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        if let Some(user) = user_by_id(conn, id)?.filter(|u| u.deactivated_at.is_none()) {
            let mut d = data.clone();
            d["display_name"] = json!(user.display_name);
            out.push(Notice::new(&user, kind, d));
        }
    }
    Ok(out)
}

/// The owners of `institutions`, as notices of `kind` with `data`.
fn tell_owners(
    conn: &mut DbConnection,
    institutions: &[String],
    kind: Kind,
    data: &Value,
) -> Result<Vec<Notice>, ApiError> {
    let owners = store::owners_of(conn, institutions)?;
    notices(conn, &owners, kind, data)
}

fn refs(ids: &[String]) -> Vec<&str> {
    ids.iter().map(String::as_str).collect()
}

/// A request's id field: a UUID, or a field error naming it.
fn id_field(field: &str, raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|_| {
            Invalid::format("uuid", "Not an id (a UUID).")
                .at(field)
                .into()
        })
}

// ----- validation ------------------------------------------------------------------

/// Years both backends store (PostgreSQL refuses far-off dates).
fn date_in_range(date: NaiveDate) -> bool {
    use chrono::Datelike;
    (1900..=9999).contains(&date.year())
}

fn date_out_of_range(field: &str) -> FieldError {
    Invalid::new(FieldCode::OutOfRange, "A date from 1900 to 9999.")
        .min("1900-01-01")
        .max("9999-12-31")
        .at(field)
}

fn ends_before_start() -> FieldError {
    Invalid::new(FieldCode::Inconsistent, "Must be after `starts_on`.")
        .other("starts_on")
        .at("ends_on")
}

fn check_text(field: &str, raw: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let t = raw.trim_end();
    if t.chars().count() > max {
        errors.push(Invalid::too_long(max, format!("At most {max} characters.")).at(field));
    }
    t.to_string()
}

// ----- partnerships: queries -------------------------------------------------------------

/// One partnership of a list, with its page key.
#[derive(Debug)]
pub struct Listed {
    pub created_at: DateTime<Utc>,
    pub id: String,
    pub partnership: Partnership,
}

/// Partnerships the caller may see (public ones, and those they coordinate
/// or whose member institutions they belong to; admins: all), after the
/// page key `after`, at most `limit`.
pub fn list(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    filter: &PartnershipFilter,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<Listed>, ApiError> {
    let country = filter
        .country
        .as_deref()
        .map(CountryCode::parse)
        .transpose()
        .map_err(|e| ApiError::from(e.at("country")))?;
    if filter.institution.as_ref().is_some_and(|s| s.len() > 64) {
        return Err(Invalid::too_long(64, "At most 64 characters.")
            .at("institution")
            .into());
    }
    let member = crate::app::memberships::member_filter(filter.member, principal)?;
    let admin = principal.is_some_and(Principal::is_admin);
    let mine = |conn: &mut DbConnection, user_id: &str| -> Result<Vec<String>, ApiError> {
        let insts = institutions_store::institutions_of(conn, user_id)?;
        let mut ids = store::involving(conn, &insts)?;
        ids.extend(store::coordinated_by(conn, user_id)?);
        Ok(ids)
    };
    let also = if admin {
        None
    } else {
        Some(match principal {
            Some(p) => mine(conn, &p.user.id)?,
            None => Vec::new(),
        })
    };
    let member_of = match &member {
        Some(user_id) => Some(match &also {
            Some(ids) => ids.clone(),
            None => mine(conn, user_id)?,
        }),
        None => None,
    };
    let f = store::ListFilter {
        status: filter.status,
        country: country.map(|c| c.as_str().to_string()),
        institution: filter.institution.clone(),
        also,
        member_of,
    };
    let rows = store::list(conn, &f, after, limit)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let l = load(conn, &row.slug, principal)?;
        out.push(Listed {
            created_at: row.created_at.and_utc(),
            id: row.id.clone(),
            partnership: l.represent(admin),
        });
    }
    Ok(out)
}

/// One partnership, as the caller may see it.
pub fn show(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    slug: &str,
) -> Result<Partnership, ApiError> {
    let l = load(conn, slug, principal)?;
    let act = Principal::actor_of(principal);
    policy::enforce(policy::may(&act, Action::ViewPartnership(l.facts)))?;
    Ok(l.represent_for(principal))
}

// ----- partnerships: commands --------------------------------------------------------------

/// Creates a partnership (platform coordinators and admins), proposed, with
/// the caller as its first coordinator.
pub fn create(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    body: NewPartnership,
) -> Result<Partnership, ApiError> {
    policy::enforce(policy::may(&principal.actor(), Action::CreatePartnership))?;
    let mut errors = Vec::new();
    if let Err(e) = crate::domain::check_slug(&body.slug) {
        errors.push(e.at("slug"));
    }
    let title = doc::check_title(&body.title)
        .map_err(|e| errors.push(e.at("title")))
        .unwrap_or_default();
    let description = check_text("description", &body.description, 20_000, &mut errors);
    let goals = check_text("goals", &body.goals, 20_000, &mut errors);
    let agreement_url = match body
        .agreement_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        Some(u) => doc::check_url(u)
            .map_err(|e| errors.push(e.at("agreement_url")))
            .ok(),
        None => None,
    };
    for (field, date) in [("starts_on", body.starts_on), ("ends_on", body.ends_on)] {
        if !date_in_range(date) {
            errors.push(date_out_of_range(field));
        }
    }
    if body.ends_on <= body.starts_on {
        errors.push(ends_before_start());
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = now();
    let row = PartnershipRow {
        id: uuid::Uuid::now_v7().to_string(),
        slug: body.slug,
        title,
        description,
        goals,
        agreement_url,
        starts_on: body.starts_on,
        ends_on: body.ends_on,
        status: PartnershipStatus::Proposed,
        public: body.public.unwrap_or(true),
        created_by: Some(principal.user.id.clone()),
        created_at: now,
        updated_at: now,
        last_digest_at: None,
    };
    write_transaction(conn, |conn| {
        if !store::insert(conn, &row)? {
            return Err(ApiError::Conflict {
                problem: ProblemType::SlugTaken,
                detail: format!("A partnership already uses `{}`.", row.slug),
            });
        }
        store::add_coordinator(conn, &row.id, &principal.user.id, None, now)?;
        let l = load(conn, &row.slug, Some(principal))?;
        events::record(
            conn,
            ctx,
            &row.id,
            &[],
            &Event::PartnershipCreated {
                slug: row.slug.clone(),
                title: row.title.clone(),
            },
        )?;
        Ok(l.represent_for(Some(principal)))
    })
}

/// Changes a partnership's details (coordinators), if `if_match` (the ETag
/// the caller edited, if any) is still current.
pub fn update(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    slug: &str,
    body: PartnershipPatch,
    if_match: Option<&str>,
) -> Result<Partnership, ApiError> {
    let mut errors = Vec::new();
    let mut changes = store::Changes {
        title: body.title.as_deref().and_then(|t| {
            doc::check_title(t)
                .map_err(|e| errors.push(e.at("title")))
                .ok()
        }),
        ..store::Changes::default()
    };
    changes.description = body
        .description
        .as_deref()
        .map(|d| check_text("description", d, 20_000, &mut errors));
    changes.goals = body
        .goals
        .as_deref()
        .map(|d| check_text("goals", d, 20_000, &mut errors));
    if let Some(u) = &body.agreement_url {
        match u
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(doc::check_url)
            .transpose()
        {
            Ok(u) => changes.agreement_url = Some(u),
            Err(e) => errors.push(e.at("agreement_url")),
        }
    }
    for (field, date) in [("starts_on", body.starts_on), ("ends_on", body.ends_on)] {
        if date.is_some_and(|d| !date_in_range(d)) {
            errors.push(date_out_of_range(field));
        }
    }
    changes.starts_on = body.starts_on;
    changes.ends_on = body.ends_on;
    changes.public = body.public;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let fields: Vec<String> = [
        ("title", changes.title.is_some()),
        ("description", changes.description.is_some()),
        ("goals", changes.goals.is_some()),
        ("agreement_url", changes.agreement_url.is_some()),
        ("starts_on", changes.starts_on.is_some()),
        ("ends_on", changes.ends_on.is_some()),
        ("public", changes.public.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(f, _)| f.to_string())
    .collect();
    write_transaction(conn, |conn| {
        let l = load_to_manage(conn, slug, principal)?;
        let starts = changes.starts_on.unwrap_or(l.row.starts_on);
        let ends = changes.ends_on.unwrap_or(l.row.ends_on);
        if ends <= starts {
            return Err(ends_before_start().into());
        }
        etag::check_if_match_value(
            if_match,
            &etag::etag_of_json(&l.represent_for(Some(principal)))?,
        )?;
        changes.updated_at = Some(now());
        store::update(conn, &l.row.id, &changes)?;
        let after = load(conn, slug, Some(principal))?;
        events::record(
            conn,
            ctx,
            &l.row.id,
            &refs(&after.active_institutions()),
            &Event::PartnershipUpdated {
                title: changes.title.clone(),
                public: changes.public,
                starts_on: changes.starts_on,
                ends_on: changes.ends_on,
                fields,
            },
        )?;
        Ok(after.represent_for(Some(principal)))
    })
}

/// Moves a partnership to `to` (coordinators), if its lifecycle allows;
/// activation needs at least two active member institutions from at least
/// two countries. The active members' owners are told.
pub fn change_status(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    slug: &str,
    to: PartnershipStatus,
) -> Result<Partnership, ApiError> {
    write_transaction(conn, |conn| {
        let l = load_locked(conn, slug, principal)?;
        policy::enforce(policy::may(
            &principal.actor(),
            Action::ManagePartnership(l.facts),
        ))?;
        let from = l.row.status;
        if !from.can_become(to) {
            return Err(ApiError::Conflict {
                problem: ProblemType::InvalidTransition,
                detail: format!(
                    "A {} partnership cannot become {}: proposed → active → concluded, or dissolved from proposed or active.",
                    from.as_str(),
                    to.as_str()
                ),
            });
        }
        if to == PartnershipStatus::Active {
            let active: Vec<&Member> = l.active_members().collect();
            let mut countries: Vec<&str> = active.iter().map(|m| m.country.as_str()).collect();
            countries.sort_unstable();
            countries.dedup();
            if active.len() < 2 || countries.len() < 2 {
                return Err(ApiError::Unprocessable {
                    problem: ProblemType::NotCrossBorder,
                    detail: format!(
                        "It has {} active member institution(s) from {} countr{}: it needs at least two, from at least two countries.",
                        active.len(),
                        countries.len(),
                        if countries.len() == 1 { "y" } else { "ies" }
                    ),
                    errors: Vec::new(),
                });
            }
        }
        store::update(
            conn,
            &l.row.id,
            &store::Changes {
                status: Some(to),
                updated_at: Some(now()),
                ..store::Changes::default()
            },
        )?;
        let institutions = l.active_institutions();
        let told = tell_owners(
            conn,
            &institutions,
            Kind::PartnershipStatusChanged,
            &json!({"partnership": l.row.title, "slug": l.row.slug, "status": to.as_str()}),
        )?;
        let after = load(conn, slug, Some(principal))?;
        events::record_notifying(
            conn,
            state,
            ctx,
            &l.row.id,
            &refs(&institutions),
            &Event::PartnershipStatusChanged { from, to },
            told,
        )?;
        Ok(after.represent_for(Some(principal)))
    })
}

// ----- members ------------------------------------------------------------------------

/// The member institutions the caller may see: coordinators and admins
/// every status, others the active ones; in the order they joined.
pub fn members(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    slug: &str,
) -> Result<Vec<Member>, ApiError> {
    let l = load(conn, slug, principal)?;
    policy::enforce(policy::may(
        &Principal::actor_of(principal),
        Action::ViewPartnership(l.facts),
    ))?;
    let full = l.facts.coordinator || principal.is_some_and(Principal::is_admin);
    Ok(l.members
        .into_iter()
        .filter(|m| full || m.row.status == MemberStatus::Active)
        .collect())
}

/// Invites a verified institution (coordinators), again if it declined,
/// left or was removed; its owners are told (their emails link under
/// `link`'s client app base when given: 400 if it is unknown).
pub fn invite(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    slug: &str,
    institution: &str,
    link: Option<&crate::domain::client::LinkChoice>,
) -> Result<PartnershipMember, ApiError> {
    write_transaction(conn, |conn| {
        let l = load_to_manage(conn, slug, principal)?;
        let link_base = link
            .map(|choice| crate::app::clients::resolve_link(conn, choice))
            .transpose()?;
        let inst = institutions_store::by_slug(conn, institution.trim())?
            .filter(|i| i.verified || principal.is_admin() || l.viewer.role_in(&i.id).is_some())
            .ok_or_else(|| {
                ApiError::NotFoundNamed(format!(
                    "There is no institution `{institution}` that you can see."
                ))
            })?;
        if !inst.verified {
            return Err(ApiError::Unprocessable {
                problem: ProblemType::InstitutionNotVerified,
                detail: "Only verified institutions can be invited.".into(),
                errors: vec![FieldError::new(
                    "institution",
                    FieldCode::NotVerified,
                    "Not verified yet.",
                )],
            });
        }
        if l.member(&inst.slug)
            .is_some_and(|m| m.row.status.involved())
        {
            return Err(ApiError::Conflict {
                problem: ProblemType::AlreadyMember,
                detail: format!(
                    "`{}` is already invited to or a member of this partnership.",
                    inst.slug
                ),
            });
        }
        let now = now();
        store::upsert_member(
            conn,
            &MemberRow {
                partnership_id: l.row.id.clone(),
                institution_id: inst.id.clone(),
                status: MemberStatus::Invited,
                invited_by: Some(principal.user.id.clone()),
                created_at: now,
                updated_at: now,
            },
        )?;
        let mut told = tell_owners(
            conn,
            std::slice::from_ref(&inst.id),
            Kind::PartnershipInvitation,
            &json!({"inviter": principal.user.display_name, "institution": inst.name,
                    "partnership": l.row.title, "slug": l.row.slug}),
        )?;
        for notice in &mut told {
            notice.link_base.clone_from(&link_base);
        }
        let member = load(conn, slug, Some(principal))?
            .member(&inst.slug)
            .map(PartnershipMember::from)
            .ok_or(ApiError::NotFound)?;
        events::record_notifying(
            conn,
            state,
            ctx,
            &l.row.id,
            &[inst.id.as_str()],
            &Event::PartnershipMemberInvited {
                institution: inst.slug.clone(),
            },
            told,
        )?;
        Ok(member)
    })
}

fn invalid_member_move(from: MemberStatus, to: MemberStatus) -> ApiError {
    ApiError::Conflict {
        problem: ProblemType::InvalidTransition,
        detail: format!(
            "A member that is {} cannot become {}.",
            from.as_str(),
            to.as_str()
        ),
    }
}

/// Moves a member institution to `to`, if the caller may and its lifecycle
/// allows; tells whom it concerns. Accepting, declining and leaving are the
/// institution's owners' to do; removing is the coordinators'. `None` ends
/// the membership: an owner of an active member leaves, anyone else removes.
pub fn move_member(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    slug: &str,
    institution: &str,
    to: Option<MemberStatus>,
) -> Result<PartnershipMember, ApiError> {
    write_transaction(conn, |conn| {
        let l = load_locked(conn, slug, principal)?;
        let member = l.member(institution).ok_or(ApiError::NotFound)?;
        let owner =
            l.viewer.role_in(&member.row.institution_id) == Some(InstitutionRole::Owner.as_str());
        // Invitations, refusals and past members are listed to
        // coordinators and admins only: to anyone else but the
        // institution's own people they do not exist.
        let listed = member.row.status == MemberStatus::Active
            || l.facts.coordinator
            || principal.is_admin()
            || l.viewer.role_in(&member.row.institution_id).is_some();
        if !listed {
            return Err(ApiError::NotFound);
        }
        let from = member.row.status;
        let to = to.unwrap_or(if from == MemberStatus::Active && owner {
            MemberStatus::Left
        } else {
            MemberStatus::Removed
        });
        let action = match to {
            MemberStatus::Removed => Action::ManagePartnership(l.facts),
            _ => Action::ActForMemberInstitution {
                partnership: l.facts,
                owner,
            },
        };
        policy::enforce(policy::may(&principal.actor(), action))?;
        l.not_ended()?;
        if !from.can_become(to) {
            return Err(invalid_member_move(from, to));
        }
        store::set_member_status(conn, &l.row.id, &member.row.institution_id, to, now())?;
        let change = MemberChange {
            institution: member.slug.clone(),
            from,
            to,
        };
        let base =
            json!({"institution": member.name, "partnership": l.row.title, "slug": l.row.slug});
        let with = |key: &str, value: &str| {
            let mut d = base.clone();
            d[key] = json!(value);
            d
        };
        let (event, told) = match to {
            MemberStatus::Active => (
                Event::PartnershipMemberAccepted { change },
                notices(
                    conn,
                    &l.coordinator_ids(),
                    Kind::PartnershipResponse,
                    &with("response", "accepted"),
                )?,
            ),
            MemberStatus::Declined => (
                Event::PartnershipMemberDeclined { change },
                notices(
                    conn,
                    &l.coordinator_ids(),
                    Kind::PartnershipResponse,
                    &with("response", "declined"),
                )?,
            ),
            MemberStatus::Left => (
                Event::PartnershipMemberLeft { change },
                notices(
                    conn,
                    &l.coordinator_ids(),
                    Kind::PartnershipMembershipEnded,
                    &with("how", "left"),
                )?,
            ),
            MemberStatus::Removed => (
                Event::PartnershipMemberRemoved { change },
                tell_owners(
                    conn,
                    std::slice::from_ref(&member.row.institution_id),
                    Kind::PartnershipMembershipEnded,
                    &with("how", "was removed from"),
                )?,
            ),
            // No status leads back to an invitation (`invite` makes one).
            MemberStatus::Invited => return Err(invalid_member_move(from, to)),
        };
        let moved = load(conn, slug, Some(principal))?
            .member(institution)
            .map(PartnershipMember::from)
            .ok_or(ApiError::NotFound)?;
        events::record_notifying(
            conn,
            state,
            ctx,
            &l.row.id,
            &[member.row.institution_id.as_str()],
            &event,
            told,
        )?;
        Ok(moved)
    })
}

// ----- coordinators -------------------------------------------------------------------

/// The partnership's coordinators, by user id.
pub fn coordinators(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    slug: &str,
) -> Result<Vec<Coordinator>, ApiError> {
    let l = load(conn, slug, principal)?;
    policy::enforce(policy::may(
        &Principal::actor_of(principal),
        Action::ViewPartnership(l.facts),
    ))?;
    let mut rows = l.coordinators;
    rows.sort();
    Ok(rows
        .into_iter()
        .map(|(user_id, display_name)| Coordinator {
            user_id,
            display_name,
        })
        .collect())
}

/// Adds a coordinator (coordinators): a member of an active member
/// institution, or a platform coordinator.
pub fn add_coordinator(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    slug: &str,
    user_id: &str,
) -> Result<Coordinator, ApiError> {
    let user_id = id_field("user_id", user_id)?;
    write_transaction(conn, |conn| {
        let l = load_to_manage(conn, slug, principal)?;
        let user = user_by_id(conn, &user_id)?
            .filter(|u| u.deactivated_at.is_none())
            .ok_or_else(|| ApiError::NotFoundNamed("There is no such user.".into()))?;
        let eligible = user.role == crate::domain::Role::Coordinator
            || store::is_member_person(conn, &l.row.id, &user.id)?;
        if !eligible {
            return Err(ApiError::Unprocessable {
                problem: ProblemType::NotEligible,
                detail: "A coordinator belongs to an active member institution, or is a platform coordinator.".into(),
                errors: vec![FieldError::new(
                    "user_id",
                    FieldCode::NotEligible,
                    "Not eligible.",
                )],
            });
        }
        if !store::add_coordinator(conn, &l.row.id, &user.id, Some(&principal.user.id), now())? {
            return Err(ApiError::Conflict {
                problem: ProblemType::AlreadyCoordinator,
                detail: "This person already coordinates the partnership.".into(),
            });
        }
        events::record(
            conn,
            ctx,
            &l.row.id,
            &refs(&l.active_institutions()),
            &Event::PartnershipCoordinatorAdded {
                user_id: user.id.clone(),
            },
        )?;
        Ok(Coordinator {
            user_id: user.id,
            display_name: user.display_name,
        })
    })
}

/// Removes a coordinator (coordinators); the last one stays.
pub fn remove_coordinator(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    slug: &str,
    user_id: &str,
) -> Result<(), ApiError> {
    write_transaction(conn, |conn| {
        let l = load_to_manage(conn, slug, principal)?;
        if !l.coordinators.iter().any(|(u, _)| u == user_id) {
            return Err(ApiError::NotFound);
        }
        if l.coordinators.len() <= 1 {
            return Err(ApiError::Conflict {
                problem: ProblemType::LastCoordinator,
                detail: "A partnership keeps at least one coordinator: add another first.".into(),
            });
        }
        store::remove_coordinator(conn, &l.row.id, user_id)?;
        events::record(
            conn,
            ctx,
            &l.row.id,
            &refs(&l.active_institutions()),
            &Event::PartnershipCoordinatorRemoved {
                user_id: user_id.to_string(),
            },
        )?;
        Ok(())
    })
}

// ----- shared resources ---------------------------------------------------------------

/// The resources shared into the partnership that the caller may see,
/// oldest share first.
pub fn shared(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    slug: &str,
) -> Result<Vec<SharedResource>, ApiError> {
    let l = load(conn, slug, principal)?;
    let act = Principal::actor_of(principal);
    policy::enforce(policy::may(&act, Action::ViewPartnership(l.facts)))?;
    let shares = store::shared(conn, &l.row.id)?;
    let ids: Vec<String> = shares.iter().map(|(r, _)| r.clone()).collect();
    let found = resources_store::by_ids(conn, &ids)?;
    let mut out = Vec::new();
    for (id, at) in shares {
        if let Some(r) = found.iter().find(|r| r.row.id == id)
            && policy::resource_visible(&act, &facts(r, &l.viewer))
        {
            out.push(SharedResource::of(r, at));
        }
    }
    Ok(out)
}

/// Shares a resource (an editor or owner of its institution, which must be
/// an active member); the digest goes out at once if none went out in the
/// last day.
pub fn share(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    principal: &Principal,
    slug: &str,
    resource_id: &str,
) -> Result<SharedResource, ApiError> {
    let resource_id = id_field("resource_id", resource_id)?;
    write_transaction(conn, |conn| {
        let l = load_locked(conn, slug, principal)?;
        let act = principal.actor();
        policy::enforce(policy::may(&act, Action::ViewPartnership(l.facts)))?;
        let r = resources_store::by_id(conn, &resource_id)?
            .filter(|r| policy::resource_visible(&act, &facts(r, &l.viewer)))
            .ok_or_else(|| {
                ApiError::NotFoundNamed(
                    "There is no resource with this id that you can see.".into(),
                )
            })?;
        let role = l.viewer.role_in(&r.row.institution_id);
        let editor = matches!(role, Some("owner" | "editor"))
            && l.active_members()
                .any(|m| m.row.institution_id == r.row.institution_id);
        policy::enforce(policy::may(
            &act,
            Action::ShareResource {
                partnership: l.facts,
                editor,
            },
        ))?;
        l.not_ended()?;
        let now = now();
        if !store::share(conn, &l.row.id, &r.row.id, &principal.user.id, now)? {
            return Err(ApiError::Conflict {
                problem: ProblemType::AlreadyShared,
                detail: "This resource is already shared into the partnership.".into(),
            });
        }
        events::record(
            conn,
            ctx,
            &l.row.id,
            &[r.row.institution_id.as_str()],
            &Event::PartnershipResourceShared {
                resource_id: r.row.id.clone(),
                kind: r.row.kind,
            },
        )?;
        send_digests(conn, state, ctx, now, Some(&l.row.id))?;
        Ok(SharedResource::of(&r, now))
    })
}

/// Stops sharing a resource (editors of its institution, or coordinators).
pub fn unshare(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    slug: &str,
    resource_id: &str,
) -> Result<(), ApiError> {
    write_transaction(conn, |conn| {
        let l = load_locked(conn, slug, principal)?;
        let act = principal.actor();
        policy::enforce(policy::may(&act, Action::ViewPartnership(l.facts)))?;
        l.not_ended()?;
        if !store::shared(conn, &l.row.id)?
            .iter()
            .any(|(r, _)| r == resource_id)
        {
            return Err(ApiError::NotFound);
        }
        let r = resources_store::by_id(conn, resource_id)?.ok_or(ApiError::NotFound)?;
        let editor = matches!(
            l.viewer.role_in(&r.row.institution_id),
            Some("owner" | "editor")
        );
        if !editor {
            policy::enforce(policy::may(&act, Action::ManagePartnership(l.facts)))?;
        }
        store::unshare(conn, &l.row.id, resource_id)?;
        events::record(
            conn,
            ctx,
            &l.row.id,
            &[r.row.institution_id.as_str()],
            &Event::PartnershipResourceUnshared {
                resource_id: resource_id.to_string(),
            },
        )?;
        Ok(())
    })
}

// ----- the digest of shared resources ---------------------------------------------------

/// Sends the digests of newly shared resources due as of `now`, of one
/// partnership (`only`, right after a share) or of all: to the owners of
/// each partnership's active member institutions, at most one per
/// partnership per day (the first share after a quiet day goes out at once,
/// the rest wait for the hourly housekeeping round). Each digest is one
/// transaction with its `partnership.digest_sent` event; an ended
/// partnership's shares are marked done without a digest. How many went out.
pub fn send_digests(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    now: NaiveDateTime,
    only: Option<&str>,
) -> Result<usize, ApiError> {
    let before = now - chrono::Duration::hours(24);
    let due = store::digests_due(conn, before, only)?;
    let mut sent = 0;
    for (p, items) in due {
        let sent_now = write_transaction(conn, |conn| {
            // Another instance (or a share) may have sent it meanwhile.
            store::lock(conn, &p.id)?;
            let fresh = store::by_slug(conn, &p.slug)?;
            if fresh.is_none_or(|f| f.last_digest_at.is_some_and(|at| at >= before)) {
                return Ok::<_, ApiError>(false);
            }
            if p.status.ended() {
                store::mark_digested(conn, &p.id, now)?;
                return Ok(false);
            }
            let institutions: Vec<String> = store::members(conn, &p.id)?
                .into_iter()
                .filter(|m| m.row.status == MemberStatus::Active)
                .map(|m| m.row.institution_id)
                .collect();
            let resources: Vec<Value> = items
                .iter()
                .map(|(id, title)| json!({"id": id, "title": title}))
                .collect();
            let told = tell_owners(
                conn,
                &institutions,
                Kind::PartnershipSharedDigest,
                &json!({"partnership": p.title, "slug": p.slug, "resources": resources}),
            )?;
            store::mark_digested(conn, &p.id, now)?;
            let event = Event::PartnershipDigestSent {
                resources: items.iter().map(|(id, _)| id.clone()).collect(),
                recipients: told.len(),
            };
            events::record_notifying(conn, state, ctx, &p.id, &refs(&institutions), &event, told)?;
            Ok(true)
        })?;
        if sent_now {
            sent += 1;
        }
    }
    Ok(sent)
}
