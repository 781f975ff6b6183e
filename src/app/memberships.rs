//! "Who am I here": the signed-in person's institutions (with their role)
//! and partnerships (as coordinator, or through a member institution), in
//! one answer, so that an app needs no round trip per institution. The
//! filters `/institutions?member=me` and `/partnerships?member=me` select
//! the same institutions and partnerships, page by page (`member_filter`).
//!
//! A person's own memberships need no policy question beyond being signed
//! in: they are the person's own facts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::db::Db;
use crate::db::institutions as institutions_store;
use crate::db::memberships::{self as store, PartnershipWay};
use crate::domain::partnership::{MemberStatus, PartnershipStatus};
use crate::domain::policy::InstitutionRole;
use crate::error::ApiError;

/// At most this many institutions, and this many partnerships, in one
/// answer; a person beyond it gets `truncated: true` and pages through
/// `?member=me` instead.
pub const MAX_ITEMS: usize = 500;

/// One of your institutions.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"slug": "uon-ai", "name": "University of Nairobi AI Lab",
    "country": "KE", "verified": true, "role": "owner", "joined_at": "2026-11-30T09:00:00Z"}))]
pub struct MyInstitution {
    pub slug: String,
    pub name: String,
    #[schema(value_type = crate::domain::vocab::Country)]
    pub country: String,
    pub verified: bool,
    /// Your role in it.
    pub role: InstitutionRole,
    pub joined_at: DateTime<Utc>,
}

/// One way you take part in a partnership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Way {
    /// You are one of its coordinators.
    Coordinator,
    /// One of your institutions is a member (active) or invited.
    MemberInstitution {
        /// The institution's slug.
        institution: String,
        /// Where the institution stands in the partnership.
        member_status: MemberStatus,
    },
}

/// One of your partnerships, and every way you are in it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"slug": "east-africa-nlp", "title": "East Africa NLP", "status": "active",
    "through": [{"via": "coordinator"},
                {"via": "member_institution", "institution": "uon-ai", "member_status": "active"}]}))]
pub struct MyPartnership {
    pub slug: String,
    pub title: String,
    pub status: PartnershipStatus,
    /// Coordinator first, then member institutions by slug.
    pub through: Vec<Way>,
}

/// Where you belong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Memberships {
    /// Your institutions, by name.
    pub institutions: Vec<MyInstitution>,
    /// The partnerships you coordinate or one of your institutions is in
    /// (active or invited; not the ones it declined, left or was removed
    /// from), by title.
    pub partnerships: Vec<MyPartnership>,
    /// A list was cut at 500 items: page through
    /// `/institutions?member=me` and `/partnerships?member=me` instead.
    pub truncated: bool,
}

/// The signed-in person's institutions and partnerships.
pub async fn of(db: &Db, principal: &Principal) -> Result<Memberships, ApiError> {
    let user_id = principal.user.id.clone();
    let fetch = i64::try_from(MAX_ITEMS).unwrap_or(i64::MAX) + 1;
    let (institutions, coordinated, through) = db
        .run(move |conn| {
            let institutions = store::institutions(conn, &user_id, fetch)?;
            let coordinated = store::coordinated(conn, &user_id, fetch)?;
            let ids = institutions_store::institutions_of(conn, &user_id)?;
            let through = store::through_institutions(conn, &ids, fetch)?;
            Ok::<_, ApiError>((institutions, coordinated, through))
        })
        .await?;
    let mut truncated = institutions.len() > MAX_ITEMS;
    let institutions = institutions
        .into_iter()
        .take(MAX_ITEMS)
        .map(|m| MyInstitution {
            slug: m.slug,
            name: m.name,
            country: m.country,
            verified: m.verified,
            role: m.role,
            joined_at: m.joined_at.and_utc(),
        })
        .collect();
    truncated |= coordinated.len() > MAX_ITEMS || through.len() > MAX_ITEMS;
    let mut partnerships = group(coordinated, through);
    truncated |= partnerships.len() > MAX_ITEMS;
    partnerships.truncate(MAX_ITEMS);
    Ok(Memberships {
        institutions,
        partnerships,
        truncated,
    })
}

/// One item per partnership, by title (then id), with its ways:
/// coordinator first, then member institutions by slug.
fn group(coordinated: Vec<PartnershipWay>, through: Vec<PartnershipWay>) -> Vec<MyPartnership> {
    let mut keyed: Vec<((String, String), MyPartnership)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for w in coordinated.into_iter().chain(through) {
        let way = match w.institution {
            None => Way::Coordinator,
            Some((institution, member_status)) => Way::MemberInstitution {
                institution,
                member_status,
            },
        };
        if let Some(&i) = at.get(&w.id) {
            keyed[i].1.through.push(way);
            continue;
        }
        at.insert(w.id.clone(), keyed.len());
        keyed.push((
            (w.title.clone(), w.id),
            MyPartnership {
                slug: w.slug,
                title: w.title,
                status: w.status,
                through: vec![way],
            },
        ));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, p)| p).collect()
}

/// The value of the `member` filter of `/institutions` and `/partnerships`:
/// only `me` (any other value is a 400 from the query extractor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberFilter {
    /// What you belong to, as `/me/memberships` lists it.
    Me,
}

/// The `member` filter: `member=me` selects what `/me/memberships` lists
/// (`Some(user id)`); without signing in it is a 401.
pub fn member_filter(
    member: Option<MemberFilter>,
    principal: Option<&Principal>,
) -> Result<Option<String>, ApiError> {
    match member {
        None => Ok(None),
        Some(MemberFilter::Me) => principal
            .map(|p| Some(p.user.id.clone()))
            .ok_or_else(|| ApiError::Unauthorized("Sign in to filter by `member=me`.".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn way(id: &str, title: &str, institution: Option<(&str, MemberStatus)>) -> PartnershipWay {
        PartnershipWay {
            id: id.into(),
            slug: format!("{id}-slug"),
            title: title.into(),
            status: PartnershipStatus::Active,
            institution: institution.map(|(s, m)| (s.into(), m)),
        }
    }

    #[test]
    fn ways_are_grouped_per_partnership_coordinator_first() {
        let grouped = group(
            vec![way("p2", "Beta", None)],
            vec![
                way("p1", "Alpha", Some(("a", MemberStatus::Invited))),
                way("p2", "Beta", Some(("b", MemberStatus::Active))),
                way("p2", "Beta", Some(("c", MemberStatus::Invited))),
            ],
        );
        let slugs: Vec<&str> = grouped.iter().map(|p| p.slug.as_str()).collect();
        assert_eq!(slugs, ["p1-slug", "p2-slug"]);
        assert_eq!(grouped[1].through.len(), 3);
        assert_eq!(grouped[1].through[0], Way::Coordinator);
        let json = serde_json::to_value(&grouped[1].through).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"via": "coordinator"},
                {"via": "member_institution", "institution": "b", "member_status": "active"},
                {"via": "member_institution", "institution": "c", "member_status": "invited"},
            ])
        );
    }

    #[test]
    fn the_member_filter_knows_only_me_and_needs_a_caller() {
        assert_eq!(member_filter(None, None).unwrap(), None);
        assert!(matches!(
            member_filter(Some(MemberFilter::Me), None),
            Err(ApiError::Unauthorized(_))
        ));
        let me: MemberFilter = serde_json::from_value(serde_json::json!("me")).unwrap();
        assert_eq!(me, MemberFilter::Me);
        for other in ["you", "", "ME", "all"] {
            assert!(serde_json::from_value::<MemberFilter>(serde_json::json!(other)).is_err());
        }
    }
}
