//! Where a person belongs: their institutions with their role, and the
//! partnerships they coordinate or that one of their institutions takes
//! part in (invited or active). Each list at most `limit` rows, in a stable
//! order (name, then id).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    institutions as it, memberships as ms, partnership_coordinators as pc,
    partnership_members as pm, partnerships as ps,
};
use crate::domain::partnership::{MemberStatus, PartnershipStatus};
use crate::domain::policy::InstitutionRole;

/// One of the person's institutions and their role in it.
#[derive(Debug, Clone, Queryable)]
pub struct InstitutionMembership {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub country: String,
    pub verified: bool,
    pub role: InstitutionRole,
    pub joined_at: NaiveDateTime,
}

pub fn institutions(
    conn: &mut DbConnection,
    user_id: &str,
    limit: i64,
) -> QueryResult<Vec<InstitutionMembership>> {
    ms::table
        .inner_join(it::table)
        .filter(ms::user_id.eq(user_id))
        .order((it::name_lower.asc(), it::id.asc()))
        .limit(limit)
        .select((
            it::id,
            it::slug,
            it::name,
            it::country,
            it::verified,
            ms::role,
            ms::created_at,
        ))
        .load(conn)
}

/// A partnership the person is part of, and one way they are.
#[derive(Debug, Clone, Queryable)]
pub struct PartnershipWay {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub status: PartnershipStatus,
    /// The member institution's slug and status; `None`: as coordinator.
    pub institution: Option<(String, MemberStatus)>,
}

/// The partnerships the person coordinates.
pub fn coordinated(
    conn: &mut DbConnection,
    user_id: &str,
    limit: i64,
) -> QueryResult<Vec<PartnershipWay>> {
    let rows: Vec<(String, String, String, PartnershipStatus)> = pc::table
        .inner_join(ps::table)
        .filter(pc::user_id.eq(user_id))
        .order((ps::title.asc(), ps::id.asc()))
        .limit(limit)
        .select((ps::id, ps::slug, ps::title, ps::status))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, slug, title, status)| PartnershipWay {
            id,
            slug,
            title,
            status,
            institution: None,
        })
        .collect())
}

/// The partnerships in which one of `institutions` (ids) is an active or
/// invited member, once per (partnership, institution).
pub fn through_institutions(
    conn: &mut DbConnection,
    institutions: &[String],
    limit: i64,
) -> QueryResult<Vec<PartnershipWay>> {
    if institutions.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(
        String,
        String,
        String,
        PartnershipStatus,
        String,
        MemberStatus,
    )> = pm::table
        .inner_join(ps::table)
        .inner_join(it::table)
        .filter(pm::institution_id.eq_any(institutions))
        .filter(pm::status.eq_any([
            MemberStatus::Active.as_str(),
            MemberStatus::Invited.as_str(),
        ]))
        .order((ps::title.asc(), ps::id.asc(), it::slug.asc()))
        .limit(limit)
        .select((
            ps::id,
            ps::slug,
            ps::title,
            ps::status,
            it::slug,
            pm::status,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, slug, title, status, inst, member)| PartnershipWay {
            id,
            slug,
            title,
            status,
            institution: Some((inst, member)),
        })
        .collect())
}
