//! Institutions, their members and invitations: the commands and queries
//! behind `/institutions*` and `/invitations/accept`. Every access question
//! goes to `domain::policy`; membership and invitation moves ask the tables
//! in `domain::institution`; every change records its event (with the audit
//! entry and the notifications derived from it) in its transaction.
//!
//! Each function takes the `Db` and is async: it reads what the policy needs
//! first, then makes the change in one write transaction (`db.run` →
//! `write_transaction`), as the handlers did before.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::app::events::{self, Notice};
use crate::app::notifications::Kind;
use crate::app::permissions::InstitutionPermissions;
use crate::auth::{Principal, random_token, token_hash};
use crate::db::accounts::UserRow;
use crate::db::audit::Context;
use crate::db::institutions::{self as store, InstitutionRow, InvitationRow};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::events::Event;
use crate::domain::institution::{
    InstitutionChange, InstitutionKind, InvitationStatus, MemberRole, MembershipMove,
    membership_move, role_on_accepting,
};
use crate::domain::policy::{self, Action, InstitutionFacts, InstitutionRole};
use crate::domain::{CountryCode, EmailAddress};
use crate::error::{ApiError, FieldCode, FieldError, Invalid};
use crate::http::etag;
use crate::http::pagination::{Page, Paginated};
use crate::mail::{Email, Template};
use crate::problem_types::ProblemType;
use crate::state::AppState;

/// Days an invitation stays valid.
pub const INVITATION_DAYS: i64 = 7;

/// A page's position: the creation time and id of its last item.
pub type Cursor = (DateTime<Utc>, String);

// ----- representations ---------------------------------------------------

/// An institution.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Institution {
    pub slug: String,
    pub name: String,
    #[schema(value_type = crate::domain::vocab::Country)]
    pub country: String,
    pub kind: InstitutionKind,
    pub website: Option<String>,
    /// Markdown.
    pub description: String,
    pub verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What you may do with it: on single reads and what commands answer
    /// (not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<InstitutionPermissions>,
}

impl Institution {
    /// The single-object representation for the caller: with `permissions`
    /// from `facts`. What `If-Match` is compared with.
    fn of(
        row: &InstitutionRow,
        principal: Option<&Principal>,
        facts: InstitutionFacts,
    ) -> Result<Self, ApiError> {
        let mut view = Self::try_from(row)?;
        view.permissions = Some(crate::app::permissions::institution(
            &Principal::actor_of(principal),
            facts,
        ));
        Ok(view)
    }
}

impl TryFrom<&InstitutionRow> for Institution {
    type Error = ApiError;

    /// The stored kind is read strictly: a word that is not a kind is a 500
    /// naming the row, never `other`.
    fn try_from(r: &InstitutionRow) -> Result<Self, ApiError> {
        let kind = InstitutionKind::parse(&r.kind).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "institution {}: stored kind is not valid: {:?}",
                r.id,
                r.kind
            ))
        })?;
        Ok(Self {
            slug: r.slug.clone(),
            name: r.name.clone(),
            country: r.country.clone(),
            kind,
            website: r.website.clone(),
            description: r.description.clone(),
            verified: r.verified,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            permissions: None,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct InstitutionFilter {
    #[param(value_type = Option<crate::domain::vocab::Country>)]
    pub country: Option<String>,
    pub kind: Option<InstitutionKind>,
    pub verified: Option<bool>,
    /// Part of the name.
    pub q: Option<String>,
    /// `me`: only the institutions you are a member of, as
    /// `/me/memberships` lists them (sign in: 401 otherwise).
    #[param(inline)]
    pub member: Option<crate::app::memberships::MemberFilter>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInstitution {
    /// 3–64 lowercase letters, digits and hyphens; the institution's URL name.
    #[schema(
        min_length = 3,
        max_length = 64,
        pattern = "^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
    )]
    pub slug: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(value_type = crate::domain::vocab::Country)]
    pub country: String,
    pub kind: InstitutionKind,
    /// http or https.
    #[schema(max_length = 2048)]
    pub website: Option<String>,
    /// Markdown, at most 20000 characters.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstitutionPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(value_type = Option<crate::domain::vocab::Country>)]
    pub country: Option<String>,
    pub kind: Option<InstitutionKind>,
    /// http or https; null removes it.
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub website: Option<Option<String>>,
    #[schema(max_length = 20000)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"display_name": "Amina Wanjiru", "email": "amina@example.org", "joined_at": "2026-12-08T09:30:00Z", "role": "member", "user_id": "0193a5c2-7f10-7000-8000-000000000a10"}))]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: InstitutionRole,
    pub joined_at: DateTime<Utc>,
}

impl Member {
    fn of(user: &UserRow, role: InstitutionRole, joined_at: NaiveDateTime) -> Self {
        Self {
            user_id: user.id.clone(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            role,
            joined_at: joined_at.and_utc(),
        }
    }
}

/// Members (for members and admins); others of a verified institution see
/// only `member_count`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    pub items: Vec<Member>,
    pub next_cursor: Option<String>,
    pub member_count: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "member"}))]
pub struct MemberPatch {
    pub role: InstitutionRole,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"created_at": "2026-12-08T09:30:00Z", "email": "amina@example.org", "expires_at": "2026-12-15T09:30:00Z", "id": "0193a5c2-7f10-7000-8000-000000000a0e", "institution": "makerere-ai-lab", "role": "member"}))]
pub struct Invitation {
    pub id: String,
    /// The institution's slug.
    pub institution: String,
    pub email: String,
    pub role: InstitutionRole,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl Invitation {
    fn of(slug: &str, r: &InvitationRow) -> Self {
        Self {
            id: r.id.clone(),
            institution: slug.to_string(),
            email: r.email.clone(),
            role: r.role,
            expires_at: r.expires_at.and_utc(),
            created_at: r.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "amina@example.org", "role": "member"}))]
pub struct NewInvitation {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    pub role: InstitutionRole,
    /// A registered client app (`/admin/clients`): the emailed link then
    /// starts with its link base instead of the platform's frontend URL
    /// (400 if there is no such app).
    #[serde(default)]
    pub client_id: Option<String>,
    /// One of that app's registered link bases (default: its first).
    #[serde(default)]
    pub link_base: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "vK3p_example-token"}))]
pub struct AcceptInvitation {
    /// The token from the emailed link.
    pub token: String,
}

/// What accepting an invitation made you.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"institution": "makerere-ai-lab", "role": "member"}))]
pub struct Membership {
    /// The institution's slug.
    pub institution: String,
    pub role: InstitutionRole,
}

// ----- loading and validation ----------------------------------------------

/// The institution and what the policy needs to know about it; 404 if none.
pub async fn load(
    db: &Db,
    slug: String,
    principal: Option<&Principal>,
) -> Result<(InstitutionRow, InstitutionFacts), ApiError> {
    if slug.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let user_id = principal.map(|p| p.user.id.clone());
    let (row, role) = db
        .run(move |conn| {
            let Some(row) = store::by_slug(conn, &slug)? else {
                return Ok::<_, diesel::result::Error>((None, None));
            };
            let role = match &user_id {
                Some(u) => store::role_of(conn, &row.id, u)?,
                None => None,
            };
            Ok((Some(row), role))
        })
        .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    let facts = InstitutionFacts {
        verified: row.verified,
        caller_role: role,
    };
    Ok((row, facts))
}

fn check_name(name: &str) -> Result<String, Invalid> {
    let name = name.trim();
    let n = name.chars().count();
    let message = "1–200 characters, no control characters.";
    if n == 0 {
        Err(Invalid::required(message).max(200))
    } else if n > 200 {
        Err(Invalid::too_long(200, message))
    } else if name.chars().any(char::is_control) {
        Err(Invalid::new(FieldCode::ControlCharacters, message))
    } else {
        Ok(name.to_string())
    }
}

fn check_website(raw: &str) -> Result<String, Invalid> {
    let message = "Use an http or https address (at most 2048 characters).";
    if raw.len() > 2048 {
        return Err(Invalid::too_long(2048, message));
    }
    let url = url::Url::parse(raw.trim()).map_err(|_| Invalid::format("url", "Not a URL."))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Invalid::format("url", message));
    }
    Ok(url.to_string())
}

fn check_description(raw: &str) -> Result<String, Invalid> {
    if raw.chars().count() > 20_000 {
        Err(Invalid::too_long(20_000, "At most 20000 characters."))
    } else {
        Ok(raw.to_string())
    }
}

fn last_owner() -> ApiError {
    ApiError::Conflict {
        problem: ProblemType::LastOwner,
        detail: "This is the institution's last owner: make someone else owner first.".into(),
    }
}

fn vanished() -> ApiError {
    ApiError::internal(anyhow::anyhow!("institution vanished"))
}

/// The target's membership, 404 if they are not a member.
fn membership(
    conn: &mut DbConnection,
    institution_id: &str,
    user_id: &str,
) -> Result<(InstitutionRole, UserRow), ApiError> {
    let role = store::role_of(conn, institution_id, user_id)?.ok_or(ApiError::NotFound)?;
    let user = crate::db::accounts::user_by_id(conn, user_id)?.ok_or(ApiError::NotFound)?;
    Ok((role, user))
}

/// Records `event` about institution `id`, which it concerns: every event of
/// this area is about one institution.
fn record(
    conn: &mut DbConnection,
    ctx: &Context,
    id: &str,
    event: &Event,
) -> diesel::QueryResult<()> {
    events::record(conn, ctx, id, &[id], event)
}

/// `record`, with the notifications the event causes.
fn record_notifying(
    conn: &mut DbConnection,
    state: &AppState,
    ctx: &Context,
    id: &str,
    event: &Event,
    notices: Vec<Notice>,
) -> Result<(), ApiError> {
    events::record_notifying(conn, state, ctx, id, &[id], event, notices)
}

/// Where an invitation stands at `now`.
fn status_of(inv: &InvitationRow, now: NaiveDateTime) -> InvitationStatus {
    InvitationStatus::of(
        inv.accepted_at.is_some(),
        inv.withdrawn_at.is_some(),
        inv.expires_at <= now,
    )
}

// ----- institutions --------------------------------------------------------

/// Institutions the caller may see (verified ones, their own, or all for
/// admins), one page.
pub async fn list(
    db: &Db,
    principal: Option<&Principal>,
    filter: InstitutionFilter,
    page: &Page<Cursor>,
) -> Result<Paginated<Institution>, ApiError> {
    let country = filter
        .country
        .as_deref()
        .map(CountryCode::parse)
        .transpose()
        .map_err(|e| ApiError::from(e.at("country")))?;
    let q = filter
        .q
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(Invalid::too_long(200, "At most 200 characters.")
            .at("q")
            .into());
    }
    let member = crate::app::memberships::member_filter(filter.member, principal)?;
    let admin = principal.is_some_and(Principal::is_admin);
    let user_id = principal.map(|p| p.user.id.clone());
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let rows = db
        .run(move |conn| {
            let member_of = match &member {
                Some(u) => Some(store::institutions_of(conn, u)?),
                None => None,
            };
            let visible_unverified = if admin {
                None
            } else {
                Some(match &user_id {
                    Some(u) => store::institutions_of(conn, u)?,
                    None => Vec::new(),
                })
            };
            let f = store::ListFilter {
                country: country.map(|c| c.as_str().to_string()),
                kind: filter.kind,
                verified: filter.verified,
                q,
                visible_unverified,
                member_of,
            };
            store::list(conn, &f, after, limit)
        })
        .await?;
    let rows = Paginated::from_rows(rows, page, |r| (r.created_at.and_utc(), r.id.clone()));
    Ok(Paginated {
        items: rows
            .items
            .iter()
            .map(Institution::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor: rows.next_cursor,
    })
}

/// Creates an institution; its creator becomes its owner.
pub async fn create(
    db: &Db,
    principal: &Principal,
    body: NewInstitution,
) -> Result<Institution, ApiError> {
    policy::enforce(policy::may(&principal.actor(), Action::CreateInstitution))?;
    let mut errors = Vec::new();
    if let Err(e) = crate::domain::check_slug(&body.slug) {
        errors.push(e.at("slug"));
    }
    let name = check_name(&body.name)
        .map_err(|e| errors.push(e.at("name")))
        .ok();
    let country = CountryCode::parse(&body.country)
        .map_err(|e| errors.push(e.at("country")))
        .ok();
    let website = match body.website.as_deref().filter(|w| !w.trim().is_empty()) {
        Some(w) => check_website(w)
            .map_err(|e| errors.push(e.at("website")))
            .ok(),
        None => None,
    };
    let description = check_description(&body.description)
        .map_err(|e| errors.push(e.at("description")))
        .ok();
    let (Some(name), Some(country), Some(description), true) =
        (name, country, description, errors.is_empty())
    else {
        return Err(ApiError::validation(errors));
    };
    let now = now();
    let row = InstitutionRow {
        id: uuid::Uuid::now_v7().to_string(),
        slug: body.slug,
        name_lower: name.to_lowercase(),
        name,
        country: country.as_str().into(),
        kind: body.kind.as_str().into(),
        website,
        description,
        verified: false,
        verified_at: None,
        created_by: Some(principal.user.id.clone()),
        created_at: now,
        updated_at: now,
    };
    let view = Institution::of(
        &row,
        Some(principal),
        InstitutionFacts {
            verified: false,
            caller_role: Some(InstitutionRole::Owner),
        },
    )?;
    let ctx = Context::new(Some(&principal.user.id));
    let user_id = principal.user.id.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            if !store::insert(conn, &row)? {
                return Err(ApiError::Conflict {
                    problem: ProblemType::SlugTaken,
                    detail: format!(
                        "An institution already uses `{}`; choose another slug.",
                        row.slug
                    ),
                });
            }
            let role = InstitutionRole::Owner;
            store::upsert_member(conn, &row.id, &user_id, role, now)?;
            record(
                conn,
                &ctx,
                &row.id,
                &Event::InstitutionCreated {
                    slug: row.slug.clone(),
                    name: row.name.clone(),
                    country: row.country.clone(),
                },
            )?;
            record(
                conn,
                &ctx,
                &row.id,
                &Event::MembershipAdded {
                    member: MemberRole { user_id, role },
                },
            )?;
            Ok(())
        })
    })
    .await?;
    Ok(view)
}

/// One institution, if the caller may see it.
pub async fn show(
    db: &Db,
    principal: Option<&Principal>,
    slug: String,
) -> Result<Institution, ApiError> {
    let (row, facts) = load(db, slug, principal).await?;
    policy::enforce(policy::may(
        &Principal::actor_of(principal),
        Action::ViewInstitution(facts),
    ))?;
    Institution::of(&row, principal, facts)
}

/// Changes an institution (owners, admins), guarded by `if_match` (the
/// request's `If-Match`). Changing the name or country of a verified
/// institution sends it back for verification, unless an admin does it.
pub async fn update(
    db: &Db,
    principal: &Principal,
    slug: String,
    body: InstitutionPatch,
    if_match: Option<String>,
) -> Result<Institution, ApiError> {
    let (row, facts) = load(db, slug, Some(principal)).await?;
    policy::enforce(policy::may(
        &principal.actor(),
        Action::UpdateInstitution(facts),
    ))?;
    let mut errors = Vec::new();
    let mut changes = store::Changes::default();
    if let Some(n) = &body.name {
        match check_name(n) {
            Ok(n) => {
                changes.name_lower = Some(n.to_lowercase());
                changes.name = Some(n);
            }
            Err(e) => errors.push(e.at("name")),
        }
    }
    if let Some(c) = &body.country {
        match CountryCode::parse(c) {
            Ok(c) => changes.country = Some(c.as_str().into()),
            Err(e) => errors.push(e.at("country")),
        }
    }
    changes.kind = body.kind;
    if let Some(w) = &body.website {
        match w
            .as_deref()
            .filter(|w| !w.trim().is_empty())
            .map(check_website)
            .transpose()
        {
            Ok(w) => changes.website = Some(w),
            Err(e) => errors.push(e.at("website")),
        }
    }
    if let Some(d) = &body.description {
        match check_description(d) {
            Ok(d) => changes.description = Some(d),
            Err(e) => errors.push(e.at("description")),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    // Against what a read answered this caller (its permissions included).
    etag::check_if_match_value(
        if_match.as_deref(),
        &etag::etag_of_json(&Institution::of(&row, Some(principal), facts)?)?,
    )?;
    changes.updated_at = Some(now());
    // Verification vouches for a name and a country: changing either (by
    // anyone but an admin) sends the institution back for verification.
    let identity_changed = changes.name.as_ref().is_some_and(|n| *n != row.name)
        || changes.country.as_ref().is_some_and(|c| *c != row.country);
    let unverify = row.verified && identity_changed && !principal.is_admin();
    if unverify {
        changes.verified = Some(false);
        changes.verified_at = Some(None);
    }
    let event = Event::InstitutionUpdated {
        change: InstitutionChange {
            unverified: unverify,
            name: changes.name.clone(),
            country: changes.country.clone(),
            kind: changes.kind,
            website: changes.website.clone().flatten(),
            website_changed: changes.website.is_some(),
            description_changed: changes.description.is_some(),
        },
    };
    let ctx = Context::new(Some(&principal.user.id));
    let updated = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                store::update(conn, &row.id, &changes)?;
                let updated = store::by_slug(conn, &row.slug)?.ok_or_else(vanished)?;
                if updated.name != row.name {
                    // Search finds resources by their institution's name.
                    let ids = crate::db::resources::ids_of_institution(conn, &row.id)?;
                    crate::app::resources::reindex(conn, &ids)?;
                }
                record(conn, &ctx, &row.id, &event)?;
                Ok::<_, ApiError>(updated)
            })
        })
        .await?;
    let facts = InstitutionFacts {
        verified: updated.verified,
        ..facts
    };
    Institution::of(&updated, Some(principal), facts)
}

/// Deletes an institution (owners, admins) with its drafts, while it owns no
/// published or archived resource; guarded by `if_match`.
pub async fn delete(
    db: &Db,
    principal: &Principal,
    slug: String,
    if_match: Option<String>,
) -> Result<(), ApiError> {
    let (row, facts) = load(db, slug, Some(principal)).await?;
    policy::enforce(policy::may(
        &principal.actor(),
        Action::DeleteInstitution(facts),
    ))?;
    // Against what a read answered this caller (its permissions included).
    etag::check_if_match_value(
        if_match.as_deref(),
        &etag::etag_of_json(&Institution::of(&row, Some(principal), facts)?)?,
    )?;
    let ctx = Context::new(Some(&principal.user.id));
    Ok(db.run(move |conn| {
        write_transaction(conn, |conn| {
            // Drafts go with the institution; what it published stays
            // (learners and links depend on it) until archived elsewhere.
            let published = crate::db::resources::count_published(conn, &row.id)?;
            if published > 0 {
                return Err(ApiError::Conflict {
                    problem: ProblemType::InstitutionHasResources,
                    detail: format!(
                        "`{}` owns {published} published or archived resource(s); \
                         an institution is deleted only while it owns none (its drafts go with it).",
                        row.slug
                    ),
                });
            }
            store::delete(conn, &row.id)?;
            record(
                conn,
                &ctx,
                &row.id,
                &Event::InstitutionDeleted {
                    slug: row.slug.clone(),
                    name: row.name.clone(),
                },
            )?;
            Ok(())
        })
    })
    .await?)
}

/// Marks an institution verified (admins) and tells its owners; verifying a
/// verified institution changes nothing.
pub async fn verify(
    db: &Db,
    state: Arc<AppState>,
    principal: &Principal,
    slug: String,
) -> Result<Institution, ApiError> {
    let (row, facts) = load(db, slug, Some(principal)).await?;
    policy::enforce(policy::may(
        &principal.actor(),
        Action::VerifyInstitution(facts),
    ))?;
    let ctx = Context::new(Some(&principal.user.id));
    let updated = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if row.verified {
                    return store::by_slug(conn, &row.slug)?.ok_or_else(vanished);
                }
                let now = now();
                store::update(
                    conn,
                    &row.id,
                    &store::Changes {
                        verified: Some(true),
                        verified_at: Some(Some(now)),
                        updated_at: Some(now),
                        ..Default::default()
                    },
                )?;
                let updated = store::by_slug(conn, &row.slug)?.ok_or_else(vanished)?;
                let owners =
                    store::users_with_role(conn, &row.id, InstitutionRole::Owner.as_str())?;
                let notices = owners
                    .iter()
                    .map(|owner| {
                        Notice::new(
                            owner,
                            Kind::InstitutionVerified,
                            json!({
                                "display_name": owner.display_name,
                                "institution": row.name,
                                "slug": row.slug,
                                "role": InstitutionRole::Owner.as_str(),
                            }),
                        )
                    })
                    .collect();
                record_notifying(
                    conn,
                    &state,
                    &ctx,
                    &row.id,
                    &Event::InstitutionVerified {
                        slug: row.slug.clone(),
                    },
                    notices,
                )?;
                Ok(updated)
            })
        })
        .await?;
    let facts = InstitutionFacts {
        verified: updated.verified,
        ..facts
    };
    Institution::of(&updated, Some(principal), facts)
}

// ----- members -------------------------------------------------------------

/// The members of an institution, one page (members and admins), or only
/// their count (anyone else who may see it).
pub async fn members(
    db: &Db,
    principal: Option<&Principal>,
    slug: String,
    page: &Page<Cursor>,
) -> Result<MemberPage, ApiError> {
    let (row, facts) = load(db, slug, principal).await?;
    policy::enforce(policy::may(
        &Principal::actor_of(principal),
        Action::ListMembers(facts),
    ))?;
    let insider = facts.caller_role.is_some() || principal.is_some_and(Principal::is_admin);
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let (rows, count) = db
        .run(move |conn| {
            let count = store::count_members(conn, &row.id)?;
            let rows = if insider {
                store::members(conn, &row.id, after, limit)?
            } else {
                Vec::new()
            };
            Ok::<_, diesel::result::Error>((rows, count))
        })
        .await?;
    let rows = Paginated::from_rows(rows, page, |(_, at, u)| (at.and_utc(), u.id.clone()));
    Ok(MemberPage {
        items: rows
            .items
            .iter()
            .map(|(role, at, u)| Member::of(u, *role, *at))
            .collect(),
        next_cursor: rows.next_cursor,
        member_count: count,
    })
}

/// Changes a member's role (owners, admins) and tells them; the last owner
/// cannot be demoted. The same role again changes nothing.
pub async fn change_member(
    db: &Db,
    state: Arc<AppState>,
    principal: &Principal,
    slug: String,
    user_id: String,
    body: MemberPatch,
) -> Result<Member, ApiError> {
    let (row, facts) = load(db, slug, Some(principal)).await?;
    policy::enforce(policy::may(
        &principal.actor(),
        Action::ChangeMemberRole(facts),
    ))?;
    let ctx = Context::new(Some(&principal.user.id));
    Ok(db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let (previous, user) = membership(conn, &row.id, &user_id)?;
                let step =
                    membership_move(Some(previous), Some(body.role)).ok_or(ApiError::NotFound)?;
                if step.takes_an_owner() && store::count_owners_locked(conn, &row.id)? <= 1 {
                    return Err(last_owner());
                }
                let now = now();
                let joined = store::joined_at(conn, &row.id, &user_id)?.unwrap_or(now);
                if let MembershipMove::RoleChanged { from, to } = step {
                    store::upsert_member(conn, &row.id, &user_id, to, now)?;
                    let notice = Notice::new(
                        &user,
                        Kind::MemberRoleChanged,
                        json!({
                            "display_name": user.display_name,
                            "institution": row.name,
                            "slug": row.slug,
                            "role": to.as_str(),
                            "previous_role": from.as_str(),
                        }),
                    );
                    record_notifying(
                        conn,
                        &state,
                        &ctx,
                        &row.id,
                        &Event::MembershipRoleChanged {
                            user_id: user_id.clone(),
                            from,
                            to,
                        },
                        vec![notice],
                    )?;
                }
                Ok(Member::of(&user, body.role, joined))
            })
        })
        .await?)
}

/// Removes a member (owners, admins; the member is told), or lets a member
/// leave (`user_id` is the caller). The last owner can do neither.
pub async fn remove_member(
    db: &Db,
    state: Arc<AppState>,
    principal: &Principal,
    slug: String,
    user_id: String,
) -> Result<(), ApiError> {
    let (row, facts) = load(db, slug, Some(principal)).await?;
    let own = user_id == principal.user.id;
    policy::enforce(policy::may(
        &principal.actor(),
        Action::RemoveMember {
            institution: facts,
            own,
        },
    ))?;
    let ctx = Context::new(Some(&principal.user.id));
    Ok(db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let (role, user) = membership(conn, &row.id, &user_id)?;
                let step = membership_move(Some(role), None).ok_or(ApiError::NotFound)?;
                if step.takes_an_owner() && store::count_owners_locked(conn, &row.id)? <= 1 {
                    return Err(last_owner());
                }
                store::remove_member(conn, &row.id, &user_id)?;
                let member = MemberRole { user_id, role };
                if own {
                    record(conn, &ctx, &row.id, &Event::MembershipLeft { member })?;
                } else {
                    let notice = Notice::new(
                        &user,
                        Kind::MemberRemoved,
                        json!({
                            "display_name": user.display_name,
                            "institution": row.name,
                            "slug": row.slug,
                        }),
                    );
                    record_notifying(
                        conn,
                        &state,
                        &ctx,
                        &row.id,
                        &Event::MembershipRemoved { member },
                        vec![notice],
                    )?;
                }
                Ok(())
            })
        })
        .await?)
}

// ----- invitations ---------------------------------------------------------

/// Pending invitations, one page (owners, editors, admins).
pub async fn invitations(
    db: &Db,
    principal: &Principal,
    slug: String,
    page: &Page<Cursor>,
) -> Result<Paginated<Invitation>, ApiError> {
    let (row, facts) = load(db, slug, Some(principal)).await?;
    policy::enforce(policy::may(
        &principal.actor(),
        Action::ListInvitations(facts),
    ))?;
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let id = row.id.clone();
    let rows = db
        .run(move |conn| store::pending(conn, &id, now(), after, limit))
        .await?;
    Ok(
        Paginated::from_rows(rows, page, |r| (r.created_at.and_utc(), r.id.clone()))
            .map(|r| Invitation::of(&row.slug, &r)),
    )
}

/// Invites an address (owners any role, editors `member` only) and emails
/// the link; inviting the same address again withdraws the earlier
/// invitation (which needs the right to withdraw it).
pub async fn invite(
    db: &Db,
    state: Arc<AppState>,
    principal: &Principal,
    slug: String,
    body: NewInvitation,
) -> Result<Invitation, ApiError> {
    let (row, facts) = load(db, slug, Some(principal)).await?;
    let who = principal.actor();
    policy::enforce(policy::may(
        &who,
        Action::Invite {
            institution: facts,
            role: body.role,
        },
    ))?;
    let email = EmailAddress::parse(&body.email).map_err(|e| ApiError::from(e.at("email")))?;
    let link = crate::app::clients::link_choice(body.client_id, body.link_base)?;
    let token = random_token("");
    let now = now();
    let inv = InvitationRow {
        id: uuid::Uuid::now_v7().to_string(),
        institution_id: row.id.clone(),
        email: email.as_str().into(),
        email_normalized: email.normalized().into(),
        role: body.role,
        token_hash: token_hash(&token),
        invited_by: Some(principal.user.id.clone()),
        expires_at: now + chrono::Duration::days(INVITATION_DAYS),
        accepted_at: None,
        accepted_by: None,
        withdrawn_at: None,
        created_at: now,
    };
    let view = Invitation::of(&row.slug, &inv);
    let ctx = Context::new(Some(&principal.user.id));
    let inviter = principal.user.display_name.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let link_base = link
                .as_ref()
                .map(|choice| crate::app::clients::resolve_link(conn, choice))
                .transpose()?;
            if let Some(existing) = crate::db::accounts::user_by_email(conn, &inv.email_normalized)?
                && store::role_of(conn, &inv.institution_id, &existing.id)?.is_some()
            {
                return Err(ApiError::Conflict {
                    problem: ProblemType::AlreadyMember,
                    detail: "This address belongs to a member already; change their role instead."
                        .into(),
                });
            }
            let replaced =
                store::pending_for(conn, &inv.institution_id, &inv.email_normalized, now)?;
            if let Some(old) = &replaced {
                policy::enforce(policy::may(
                    &who,
                    Action::WithdrawInvitation {
                        institution: facts,
                        role: old.role,
                    },
                ))?;
            }
            store::replace_invitation(conn, &inv, now)?;
            state.outbox.enqueue(
                conn,
                Email::new(
                    inv.email.clone(),
                    Template::Invitation,
                    json!({
                        "inviter": inviter,
                        "institution": row.name,
                        "role": inv.role.as_str(),
                        "token": token,
                        "expires_in_days": INVITATION_DAYS,
                    }),
                )
                .with_link_base(link_base),
            )?;
            record(
                conn,
                &ctx,
                &row.id,
                &Event::InvitationSent {
                    invitation_id: inv.id.clone(),
                    email: inv.email.clone(),
                    role: inv.role,
                    replaces: replaced.map(|old| old.id),
                },
            )?;
            Ok(())
        })
    })
    .await?;
    Ok(view)
}

/// Withdraws a pending invitation (owners any, editors `member` ones).
pub async fn withdraw(
    db: &Db,
    principal: &Principal,
    slug: String,
    id: String,
) -> Result<(), ApiError> {
    let (row, facts) = load(db, slug, Some(principal)).await?;
    let who = principal.actor();
    // Whoever may not see the invitations gets 404/403 before learning
    // whether this one exists.
    policy::enforce(policy::may(&who, Action::ListInvitations(facts)))?;
    let ctx = Context::new(Some(&principal.user.id));
    Ok(db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let now = now();
                let inv = store::invitation(conn, &row.id, &id)?
                    .filter(|inv| status_of(inv, now).can_become(InvitationStatus::Withdrawn))
                    .ok_or(ApiError::NotFound)?;
                policy::enforce(policy::may(
                    &who,
                    Action::WithdrawInvitation {
                        institution: facts,
                        role: inv.role,
                    },
                ))?;
                if !store::withdraw(conn, &row.id, &id, now)? {
                    return Err(ApiError::NotFound);
                }
                record(
                    conn,
                    &ctx,
                    &row.id,
                    &Event::InvitationWithdrawn { invitation_id: id },
                )?;
                Ok(())
            })
        })
        .await?)
}

/// Accepts an invitation sent to the caller's (verified) address: they
/// become a member with the invited role, or keep a higher one, and are
/// told.
pub async fn accept(
    db: &Db,
    state: Arc<AppState>,
    principal: &Principal,
    body: AcceptInvitation,
) -> Result<Membership, ApiError> {
    policy::enforce(policy::may(&principal.actor(), Action::AcceptInvitation))?;
    let hash = token_hash(&body.token);
    let user = principal.user.clone();
    let ctx = Context::new(Some(&user.id));
    Ok(db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let now = now();
                let unusable = || {
                    ApiError::validation(vec![FieldError::new(
                        "token",
                        FieldCode::InvalidToken,
                        "This invitation is invalid, already used, withdrawn or expired.",
                    )])
                };
                let inv = store::by_token(conn, &hash)?
                    .filter(|inv| status_of(inv, now).can_become(InvitationStatus::Accepted))
                    .ok_or_else(unusable)?;
                if inv.email_normalized != user.email_normalized {
                    return Err(ApiError::Forbidden {
                        problem: ProblemType::InvitationForAnotherAddress,
                        detail:
                            "Sign in with the account of the address the invitation was sent to."
                                .into(),
                    });
                }
                if !store::mark_accepted(conn, &inv.id, &user.id, now)? {
                    return Err(ApiError::validation(vec![FieldError::new(
                        "token",
                        FieldCode::InvalidToken,
                        "This invitation was just used.",
                    )]));
                }
                let current = store::role_of(conn, &inv.institution_id, &user.id)?;
                let role = role_on_accepting(current, inv.role);
                store::upsert_member(conn, &inv.institution_id, &user.id, role, now)?;
                let inst = store::by_id(conn, &inv.institution_id)?.ok_or_else(vanished)?;
                record(
                    conn,
                    &ctx,
                    &inst.id,
                    &Event::InvitationAccepted {
                        invitation_id: inv.id.clone(),
                    },
                )?;
                let notice = Notice::new(
                    &user,
                    Kind::MembershipAdded,
                    json!({
                        "display_name": user.display_name,
                        "institution": inst.name,
                        "slug": inst.slug,
                        "role": role.as_str(),
                    }),
                );
                record_notifying(
                    conn,
                    &state,
                    &ctx,
                    &inst.id,
                    &Event::MembershipAdded {
                        member: MemberRole {
                            user_id: user.id.clone(),
                            role,
                        },
                    },
                    vec![notice],
                )?;
                Ok(Membership {
                    institution: inst.slug,
                    role,
                })
            })
        })
        .await?)
}
