//! Resources (courses, datasets, model cards), their search terms, their
//! links to each other and datasets' files.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    dataset_files as df, institutions as it, memberships as ms, resource_relations as rr,
    resource_terms as rt, resources as rs,
};
use super::words::text_column;
use super::{DbConnection, MultiBackend};
use crate::config::Backend;
use crate::domain::resource::{
    AccessLevel, Link, Relation, ResourceKind, RiskTier, Status, Visibility,
};
use diesel::sql_types::BigInt;

// Stored as their words; a word outside the set reads as an error.
text_column!(
    ResourceKind,
    Visibility,
    Status,
    AccessLevel,
    RiskTier,
    Relation
);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rs)]
pub struct ResourceRow {
    pub id: String,
    pub kind: ResourceKind,
    pub institution_id: String,
    pub title: String,
    pub title_lower: String,
    pub summary: String,
    pub description: String,
    pub license: Option<String>,
    pub languages: String,
    pub countries: String,
    pub tags: String,
    pub visibility: Visibility,
    pub status: Status,
    pub version: i64,
    pub access_level: Option<AccessLevel>,
    pub risk_tier: Option<RiskTier>,
    pub details: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub published_at: Option<NaiveDateTime>,
    pub archived_at: Option<NaiveDateTime>,
    pub listed_at: NaiveDateTime,
    pub doi: Option<String>,
}

/// A resource with what the policy and the representation need of its
/// institution.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub row: ResourceRow,
    pub institution_slug: String,
    pub institution_verified: bool,
    pub institution_country: String,
    pub institution_name: String,
}

pub(crate) type LoadedTuple = (ResourceRow, String, bool, String, String);

pub(crate) fn loaded(
    (row, institution_slug, institution_verified, institution_country, institution_name): LoadedTuple,
) -> Loaded {
    Loaded {
        row,
        institution_slug,
        institution_verified,
        institution_country,
        institution_name,
    }
}

/// The editable columns of a resource, written together.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = rs, treat_none_as_null = true)]
pub struct Content {
    pub title: String,
    pub title_lower: String,
    pub summary: String,
    pub description: String,
    pub license: Option<String>,
    pub languages: String,
    pub countries: String,
    pub tags: String,
    pub visibility: Visibility,
    pub access_level: Option<AccessLevel>,
    pub risk_tier: Option<RiskTier>,
    pub details: String,
    pub doi: Option<String>,
}

pub fn insert(conn: &mut DbConnection, row: &ResourceRow) -> QueryResult<()> {
    diesel::insert_into(rs::table)
        .values(InsertRow::from(row))
        .execute(conn)?;
    Ok(())
}

/// A resource row as inserted, its words as text: an insert binds its
/// values through each backend (the multi connection's and the inner ones,
/// which multi-row inserts use), and the word enums bind as text only
/// through the multi connection (`text_column!`).
#[derive(Insertable)]
#[diesel(table_name = rs)]
struct InsertRow<'a> {
    id: &'a str,
    kind: &'static str,
    institution_id: &'a str,
    title: &'a str,
    title_lower: &'a str,
    summary: &'a str,
    description: &'a str,
    license: Option<&'a str>,
    languages: &'a str,
    countries: &'a str,
    tags: &'a str,
    search_text: &'static str,
    visibility: &'static str,
    status: &'static str,
    version: i64,
    access_level: Option<&'static str>,
    risk_tier: Option<&'static str>,
    details: &'a str,
    created_by: Option<&'a str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    published_at: Option<NaiveDateTime>,
    archived_at: Option<NaiveDateTime>,
    listed_at: NaiveDateTime,
    doi: Option<&'a str>,
}

impl<'a> From<&'a ResourceRow> for InsertRow<'a> {
    fn from(r: &'a ResourceRow) -> Self {
        Self {
            id: &r.id,
            kind: r.kind.as_str(),
            institution_id: &r.institution_id,
            title: &r.title,
            title_lower: &r.title_lower,
            summary: &r.summary,
            description: &r.description,
            license: r.license.as_deref(),
            languages: &r.languages,
            countries: &r.countries,
            tags: &r.tags,
            search_text: "",
            visibility: r.visibility.as_str(),
            status: r.status.as_str(),
            version: r.version,
            access_level: r.access_level.map(AccessLevel::as_str),
            risk_tier: r.risk_tier.map(RiskTier::as_str),
            details: &r.details,
            doi: r.doi.as_deref(),
            created_by: r.created_by.as_deref(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            published_at: r.published_at,
            archived_at: r.archived_at,
            listed_at: r.listed_at,
        }
    }
}

/// Inserts many resources at once (a bulk import).
pub fn insert_all(conn: &mut DbConnection, rows: &[ResourceRow]) -> QueryResult<()> {
    let rows: Vec<InsertRow> = rows.iter().map(InsertRow::from).collect();
    insert_batched!(conn, rs::table, &rows, 24)
}

/// Inserts the search terms of many resources: `(resource, facet, value)`.
pub fn insert_terms(
    conn: &mut DbConnection,
    terms: &[(String, &'static str, String)],
) -> QueryResult<()> {
    let rows: Vec<_> = terms
        .iter()
        .map(|(id, facet, value)| {
            (
                rt::resource_id.eq(id),
                rt::facet.eq(*facet),
                rt::value.eq(value),
            )
        })
        .collect();
    insert_batched!(conn, rt::table, &rows, 3)
}

/// Inserts the outgoing links of many resources: `(source, link)`, each
/// source's in order.
pub fn insert_relations(conn: &mut DbConnection, links: &[(String, Vec<Link>)]) -> QueryResult<()> {
    let rows: Vec<_> = links
        .iter()
        .flat_map(|(source, links)| {
            links.iter().enumerate().map(move |(position, link)| {
                (
                    rr::source_id.eq(source),
                    rr::relation.eq(link.relation.as_str()),
                    rr::target_id.eq(&link.resource_id),
                    rr::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                )
            })
        })
        .collect();
    insert_batched!(conn, rr::table, &rows, 4)
}

/// Inserts the modules of imported courses. (A course's modules are the
/// learning area's; only a bulk import, which writes whole published
/// courses, writes them from here, several to a statement.)
pub fn insert_course_modules(
    conn: &mut DbConnection,
    rows: &[super::learning::ModuleRow],
) -> QueryResult<()> {
    insert_batched!(conn, super::schema::course_modules::table, rows, 11)
}

/// Inserts many dataset files at once.
pub fn insert_files(conn: &mut DbConnection, rows: &[FileRow]) -> QueryResult<()> {
    insert_batched!(conn, df::table, rows, 9)
}

/// Takes the row's write lock for the rest of the transaction (PostgreSQL;
/// SQLite write transactions are serialised already). `false`: no such row.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    let n = diesel::update(rs::table.filter(rs::id.eq(id)))
        .set(rs::version.eq(rs::version))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Loaded>> {
    rs::table
        .inner_join(it::table)
        .filter(rs::id.eq(id))
        .select((
            ResourceRow::as_select(),
            it::slug,
            it::verified,
            it::country,
            it::name,
        ))
        .first::<LoadedTuple>(conn)
        .optional()
        .map(|o| o.map(loaded))
}

/// Several resources by id (for links), in no particular order.
pub fn by_ids(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<Loaded>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    rs::table
        .inner_join(it::table)
        .filter(rs::id.eq_any(ids))
        .select((
            ResourceRow::as_select(),
            it::slug,
            it::verified,
            it::country,
            it::name,
        ))
        .load::<LoadedTuple>(conn)
        .map(|v| v.into_iter().map(loaded).collect())
}

/// Writes new content and bumps the version.
pub fn update_content(
    conn: &mut DbConnection,
    id: &str,
    content: &Content,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(rs::table.filter(rs::id.eq(id)))
        .set((
            content,
            rs::version.eq(rs::version + 1),
            rs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Moves a resource from `from` to `to` (bumping the version; publishing
/// stamps `published_at` and lists it anew, archiving stamps
/// `archived_at`); `false` when it was not `from` any more.
pub fn set_status(
    conn: &mut DbConnection,
    id: &str,
    from: Status,
    to: Status,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let target = rs::table.filter(rs::id.eq(id)).filter(rs::status.eq(from));
    let n = match to {
        Status::Published => diesel::update(target)
            .set((
                rs::status.eq(to),
                rs::published_at.eq(Some(now)),
                rs::listed_at.eq(now),
                rs::version.eq(rs::version + 1),
                rs::updated_at.eq(now),
            ))
            .execute(conn)?,
        Status::Deaccessioned => diesel::update(target)
            .set((
                rs::status.eq(to),
                rs::version.eq(rs::version + 1),
                rs::updated_at.eq(now),
            ))
            .execute(conn)?,
        Status::Archived | Status::Draft => diesel::update(target)
            .set((
                rs::status.eq(to),
                rs::archived_at.eq(Some(now)),
                rs::version.eq(rs::version + 1),
                rs::updated_at.eq(now),
            ))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// Bumps the version (a change outside the row, like a file).
pub fn touch(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(rs::table.filter(rs::id.eq(id)))
        .set((rs::version.eq(rs::version + 1), rs::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(rs::table.filter(rs::id.eq(id))).execute(conn)?;
    Ok(())
}

/// The ids of every resource an institution owns.
pub fn ids_of_institution(
    conn: &mut DbConnection,
    institution_id: &str,
) -> QueryResult<Vec<String>> {
    rs::table
        .filter(rs::institution_id.eq(institution_id))
        .select(rs::id)
        .load(conn)
}

/// Published or archived resources an institution owns.
pub fn count_published(conn: &mut DbConnection, institution_id: &str) -> QueryResult<i64> {
    rs::table
        .filter(rs::institution_id.eq(institution_id))
        .filter(rs::status.ne(Status::Draft))
        .count()
        .get_result(conn)
}

pub fn replace_terms(
    conn: &mut DbConnection,
    id: &str,
    terms: &[(&'static str, String)],
) -> QueryResult<()> {
    diesel::delete(rt::table.filter(rt::resource_id.eq(id))).execute(conn)?;
    for (facet, value) in terms {
        diesel::insert_into(rt::table)
            .values((
                rt::resource_id.eq(id),
                rt::facet.eq(*facet),
                rt::value.eq(value),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Replaces a resource's outgoing links (in order).
pub fn replace_relations(conn: &mut DbConnection, id: &str, links: &[Link]) -> QueryResult<()> {
    diesel::delete(rr::table.filter(rr::source_id.eq(id))).execute(conn)?;
    for (position, link) in links.iter().enumerate() {
        diesel::insert_into(rr::table)
            .values((
                rr::source_id.eq(id),
                rr::relation.eq(link.relation),
                rr::target_id.eq(&link.resource_id),
                rr::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                rr::target_version.eq(link.version.as_deref()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// An outgoing link: `(source, relation, target, the target's version it
/// is pinned to)`.
pub type Edge = (String, Relation, String, Option<String>);

/// Outgoing links of several resources, in order.
pub fn relations_of(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<Edge>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    rr::table
        .filter(rr::source_id.eq_any(ids))
        .order((rr::source_id, rr::position))
        .select((
            rr::source_id,
            rr::relation,
            rr::target_id,
            rr::target_version,
        ))
        .load(conn)
}

/// A resource's outgoing links in order, and its incoming links
/// `(relation, source)`, in one query.
#[allow(clippy::type_complexity)]
pub fn relations_around(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<(Vec<Edge>, Vec<(Relation, String)>)> {
    let rows: Vec<(String, Relation, String, i32, Option<String>)> = rr::table
        .filter(rr::source_id.eq(id).or(rr::target_id.eq(id)))
        .select((
            rr::source_id,
            rr::relation,
            rr::target_id,
            rr::position,
            rr::target_version,
        ))
        .load(conn)?;
    let mut out: Vec<(i32, Edge)> = Vec::new();
    let mut incoming: Vec<(Relation, String)> = Vec::new();
    for (source, relation, target, position, version) in rows {
        if target == id && source != id {
            incoming.push((relation, source));
        } else {
            if target == id {
                incoming.push((relation, source.clone()));
            }
            out.push((position, (source, relation, target, version)));
        }
    }
    out.sort_by_key(|(p, _)| *p);
    incoming.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    Ok((out.into_iter().map(|(_, e)| e).collect(), incoming))
}

/// The kinds of resources by id (those that exist).
pub fn kinds_of(
    conn: &mut DbConnection,
    ids: &[String],
) -> QueryResult<Vec<(String, ResourceKind)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    rs::table
        .filter(rs::id.eq_any(ids))
        .select((rs::id, rs::kind))
        .load(conn)
}

/// Ids of resources with a stored word outside its set (what a failed
/// read names in the log).
pub fn unreadable(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    fn words<W: crate::domain::Word>(all: &[W]) -> Vec<&'static str> {
        all.iter().map(|w| w.word()).collect()
    }
    rs::table
        .filter(
            rs::kind
                .ne_all(words(ResourceKind::ALL))
                .or(rs::status.ne_all(words(Status::ALL)))
                .or(rs::visibility.ne_all(words(Visibility::ALL)))
                .or(rs::access_level.ne_all(words(AccessLevel::ALL)))
                .or(rs::risk_tier.ne_all(words(RiskTier::ALL))),
        )
        .select(rs::id)
        .limit(20)
        .load(conn)
}

// ----- who is looking ----------------------------------------------------------

/// What the visibility rule needs to know about the caller, loaded once
/// per request.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    pub admin: bool,
    pub signed_in: bool,
    /// `(institution_id, role)` of every membership.
    pub roles: Vec<(String, String)>,
    /// Resources shared into active partnerships the caller's institutions
    /// are active members of (with the resource's institution still one).
    pub partnership_shared: Vec<String>,
}

impl Viewer {
    pub fn load(conn: &mut DbConnection, user_id: Option<&str>, admin: bool) -> QueryResult<Self> {
        let roles = match user_id {
            Some(u) => ms::table
                .filter(ms::user_id.eq(u))
                .select((ms::institution_id, ms::role))
                .load(conn)?,
            None => Vec::new(),
        };
        let institutions: Vec<String> = roles
            .iter()
            .map(|(i, _): &(String, String)| i.clone())
            .collect();
        let partnership_shared = if admin {
            Vec::new()
        } else {
            super::partnerships::visible_through_partnerships(conn, &institutions)?
        };
        Ok(Self {
            admin,
            signed_in: user_id.is_some(),
            roles,
            partnership_shared,
        })
    }

    pub fn role_in(&self, institution_id: &str) -> Option<&str> {
        self.roles
            .iter()
            .find(|(i, _)| i == institution_id)
            .map(|(_, r)| r.as_str())
    }

    fn member_of(&self) -> Vec<String> {
        self.roles.iter().map(|(i, _)| i.clone()).collect()
    }

    fn editor_of(&self) -> Vec<String> {
        self.roles
            .iter()
            .filter(|(_, r)| r == "owner" || r == "editor")
            .map(|(i, _)| i.clone())
            .collect()
    }
}

// ----- lists -------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Sort {
    /// `-published_at` (the default without `q`): newest first.
    NewestFirst,
    /// `published_at`.
    OldestFirst,
    /// `title`.
    Title,
    /// `-title`.
    TitleDesc,
    /// `relevance` (the default with `q`): best score first, then newest.
    Relevance,
    /// `-updated_at`: the most recently changed first.
    UpdatedDesc,
}

/// Where the previous page ended: the sort value(s) and the id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum After {
    Time(NaiveDateTime, String),
    Title(String, String),
    Score(i64, NaiveDateTime, String),
}

/// A field resources can be filtered and counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Facet {
    Kind,
    Institution,
    Language,
    Country,
    License,
    Tag,
    AccessLevel,
    RiskTier,
    Level,
    Delivery,
}

impl Facet {
    pub const ALL: &[Facet] = &[
        Self::Kind,
        Self::Institution,
        Self::Language,
        Self::Country,
        Self::License,
        Self::Tag,
        Self::AccessLevel,
        Self::RiskTier,
        Self::Level,
        Self::Delivery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Kind => "kind",
            Self::Institution => "institution",
            Self::Language => "language",
            Self::Country => "country",
            Self::License => "license",
            Self::Tag => "tag",
            Self::AccessLevel => "access_level",
            Self::RiskTier => "risk_tier",
            Self::Level => "level",
            Self::Delivery => "delivery",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The facets kept as rows of `resource_terms` (lowercased).
    pub fn term(self) -> Option<&'static str> {
        match self {
            Self::Language | Self::Country | Self::Tag | Self::Level | Self::Delivery => {
                Some(self.name())
            }
            _ => None,
        }
    }
}

/// Which resources a list wants.
#[derive(Debug, Clone)]
pub struct Filter {
    pub status: Status,
    /// Each facet's accepted values (any of them; facets combine with AND),
    /// as stored: words, slugs, SPDX ids, lowercased terms.
    pub facets: Vec<(Facet, Vec<String>)>,
    /// Filters that always hold (a query's `field:value`), even where a
    /// facet's own filter is left out to count its other values.
    pub fixed: Vec<(Facet, Vec<String>)>,
    /// What the text must match.
    pub text: Option<crate::domain::search::Query>,
    /// Changed at or after this (`updated_since`).
    pub updated_since: Option<NaiveDateTime>,
    /// Courses whose duration term is at most this (`max_duration_hours`,
    /// as `domain::resource::duration_term` writes it); resources without
    /// the term (other kinds, courses without a duration) never match.
    pub max_duration: Option<String>,
}

pub(crate) type Source = diesel::helper_types::InnerJoinQuerySource<rs::table, it::table>;
// The terms a filter looks in, apart from the terms a facet counts.
diesel::alias!(super::schema::resource_terms as filter_terms: FilterTerms);
// The institutions a filter looks in (verified ones, slugs), apart from the
// joined institution of each row.
diesel::alias!(super::schema::institutions as filter_institutions: FilterInstitutions);
/// Resources with their terms (facet counts).
type TermSource = diesel::helper_types::InnerJoinQuerySource<rs::table, rt::table>;

fn and<QS: 'static>(
    a: super::search::Condition<QS>,
    b: super::search::Condition<QS>,
) -> super::search::Condition<QS> {
    Box::new(a.and(b))
}

/// The resources of `f` that `viewer` may see, as one condition on a query
/// over `$qs` (resources joined with institutions, perhaps more); `except`
/// leaves out that facet's own filter (to count its other values). The
/// visibility part is `domain::policy::resource_visible` in SQL.
macro_rules! condition {
    ($qs:ty, $backend:expr, $viewer:expr, $f:expr, $except:expr) => {{
        let (backend, viewer, f, except): (Backend, &Viewer, &Filter, Option<Facet>) =
            ($backend, $viewer, $f, $except);
        let mut c: super::search::Condition<$qs> = Box::new(rs::status.eq(f.status));
        if !viewer.admin {
            // Lists of words bind as text (`eq_any` binds through each backend).
            let mut open = vec![Visibility::Public.as_str()];
            if viewer.signed_in {
                open.push(Visibility::Registered.as_str());
            }
            c = and(
                c,
                Box::new(
                    // Drafts and withdrawn resources: their editors only.
                    rs::status
                        .eq(Status::Draft)
                        .or(rs::status.eq(Status::Deaccessioned))
                        .and(rs::institution_id.eq_any(viewer.editor_of()))
                        .or(rs::status
                            .ne(Status::Draft)
                            .and(rs::status.ne(Status::Deaccessioned))
                            .and(
                                rs::institution_id
                                    .eq_any(viewer.member_of())
                                    // A subquery, not the joined row: the condition then
                                    // reads `resources` alone (counts and offsets walk an
                                    // index without visiting each resource's institution).
                                    .or(rs::institution_id
                                        .eq_any(
                                            filter_institutions
                                                .filter(
                                                    filter_institutions
                                                        .field(it::verified)
                                                        .eq(true),
                                                )
                                                .select(filter_institutions.field(it::id)),
                                        )
                                        .and(rs::visibility.eq_any(open).or(
                                            rs::visibility.eq(Visibility::Partnership).and(
                                                rs::id.eq_any(viewer.partnership_shared.clone()),
                                            ),
                                        ))),
                            )),
                ),
            );
        }
        let facets = f
            .facets
            .iter()
            .filter(|(facet, _)| Some(*facet) != except)
            .chain(&f.fixed);
        for (facet, values) in facets {
            let values = values.clone();
            let one: super::search::Condition<$qs> = if let Some(term) = facet.term() {
                // EXISTS, not IN: the planner then walks the resources in the
                // list's order and stops at a page, where an IN list of a
                // common value (`language=en`: half the catalogue) would be
                // built and sorted whole.
                Box::new(diesel::dsl::exists(
                    filter_terms
                        .filter(filter_terms.field(rt::resource_id).eq(rs::id))
                        .filter(filter_terms.field(rt::facet).eq(term))
                        .filter(filter_terms.field(rt::value).eq_any(values)),
                ))
            } else {
                match facet {
                    // One kind is an equality, not `= ANY(…)`: PostgreSQL then
                    // walks the (kind, status, listed_at, …) index in the
                    // list's order and checks the rest inside it.
                    Facet::Kind => match values.as_slice() {
                        [one] => Box::new(rs::kind.eq(one.clone())),
                        _ => Box::new(rs::kind.eq_any(values)),
                    },
                    Facet::Institution => Box::new(
                        rs::institution_id.eq_any(
                            filter_institutions
                                .filter(filter_institutions.field(it::slug).eq_any(values))
                                .select(filter_institutions.field(it::id)),
                        ),
                    ),
                    Facet::License => Box::new(rs::license.eq_any(values).assume_not_null()),
                    Facet::AccessLevel => {
                        Box::new(rs::access_level.eq_any(values).assume_not_null())
                    }
                    Facet::RiskTier => Box::new(rs::risk_tier.eq_any(values).assume_not_null()),
                    _ => Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0")),
                }
            };
            c = and(c, one);
        }
        if let Some(q) = &f.text {
            for more in super::search::conditions(backend, q, super::search::Fields::All) {
                c = and(c, more);
            }
        }
        if let Some(t) = f.updated_since {
            c = and(c, Box::new(rs::updated_at.ge(t)));
        }
        if let Some(max) = &f.max_duration {
            c = and(
                c,
                Box::new(diesel::dsl::exists(
                    filter_terms
                        .filter(filter_terms.field(rt::resource_id).eq(rs::id))
                        .filter(
                            filter_terms
                                .field(rt::facet)
                                .eq(crate::domain::resource::DURATION_TERM),
                        )
                        .filter(filter_terms.field(rt::value).le(max.clone())),
                )),
            );
        }
        c
    }};
}

pub(crate) fn condition(
    backend: Backend,
    viewer: &Viewer,
    f: &Filter,
    except: Option<Facet>,
) -> super::search::Condition<Source> {
    condition!(Source, backend, viewer, f, except)
}

/// [`condition`] on `resources` alone (no join): it names no column of
/// `institutions` but through subqueries.
pub(crate) fn condition_alone(
    backend: Backend,
    viewer: &Viewer,
    f: &Filter,
    except: Option<Facet>,
) -> super::search::Condition<rs::table> {
    condition!(rs::table, backend, viewer, f, except)
}

/// The score expression of a page (0 unless sorted by relevance).
fn page_score<QS: 'static>(
    backend: Backend,
    f: &Filter,
    sort: Sort,
) -> Box<dyn diesel::expression::BoxableExpression<QS, MultiBackend, SqlType = BigInt>> {
    match (&f.text, sort) {
        (Some(q), Sort::Relevance) => {
            super::search::score::<QS>(backend, q, super::search::Fields::All)
        }
        // Not a bare `0`: in ORDER BY that names a column; and PostgreSQL
        // reads a bare literal as a 4-byte integer.
        _ => Box::new(diesel::dsl::sql::<BigInt>("CAST(0 AS BIGINT)")),
    }
}

/// A boxed page query put in `sort`'s order and started after `after`
/// (whatever it selects).
macro_rules! paged {
    ($q:expr, $sort:expr, $after:expr, $score:expr) => {{
        let (mut q, sort, after) = ($q, $sort, $after);
        let score = $score;
        q = match sort {
            Sort::NewestFirst => q.order((rs::listed_at.desc(), rs::id.desc())),
            Sort::OldestFirst => q.order((rs::listed_at.asc(), rs::id.asc())),
            Sort::Title => q.order((rs::title_lower.asc(), rs::id.asc())),
            Sort::TitleDesc => q.order((rs::title_lower.desc(), rs::id.desc())),
            Sort::UpdatedDesc => q.order((rs::updated_at.desc(), rs::id.desc())),
            Sort::Relevance => q
                .order(score().desc())
                .then_order_by(rs::listed_at.desc())
                .then_order_by(rs::id.desc()),
        };
        match (sort, after) {
            (Sort::NewestFirst, Some(After::Time(at, id))) => {
                // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
                q = q.filter(rs::listed_at.le(at));
                q = q.filter(
                    rs::listed_at
                        .lt(at)
                        .or(rs::listed_at.eq(at).and(rs::id.lt(id))),
                );
            }
            (Sort::OldestFirst, Some(After::Time(at, id))) => {
                // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
                q = q.filter(rs::listed_at.ge(at));
                q = q.filter(
                    rs::listed_at
                        .gt(at)
                        .or(rs::listed_at.eq(at).and(rs::id.gt(id))),
                );
            }
            (Sort::Title, Some(After::Title(t, id))) => {
                // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
                q = q.filter(rs::title_lower.ge(t.clone()));
                q = q.filter(
                    rs::title_lower
                        .gt(t.clone())
                        .or(rs::title_lower.eq(t).and(rs::id.gt(id))),
                );
            }
            (Sort::TitleDesc, Some(After::Title(t, id))) => {
                // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
                q = q.filter(rs::title_lower.le(t.clone()));
                q = q.filter(
                    rs::title_lower
                        .lt(t.clone())
                        .or(rs::title_lower.eq(t).and(rs::id.lt(id))),
                );
            }
            (Sort::UpdatedDesc, Some(After::Time(at, id))) => {
                // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
                q = q.filter(rs::updated_at.le(at));
                q = q.filter(
                    rs::updated_at
                        .lt(at)
                        .or(rs::updated_at.eq(at).and(rs::id.lt(id))),
                );
            }
            (Sort::Relevance, Some(After::Score(s, at, id))) => {
                let sc = score();
                q = q.filter(
                    score().lt(s).or(sc.eq(s).and(
                        rs::listed_at
                            .lt(at)
                            .or(rs::listed_at.eq(at).and(rs::id.lt(id))),
                    )),
                );
            }
            _ => {}
        }
        q
    }};
}

/// One page of the resources `viewer` may see, each with its score (0
/// unless sorted by relevance).
pub fn list(
    conn: &mut DbConnection,
    viewer: &Viewer,
    f: &Filter,
    sort: Sort,
    after: Option<After>,
    limit: i64,
) -> QueryResult<Vec<(Loaded, i64)>> {
    let backend = conn.backend();
    let score = || page_score::<Source>(backend, f, sort);
    let q = rs::table
        .inner_join(it::table)
        .select((
            ResourceRow::as_select(),
            it::slug,
            it::verified,
            it::country,
            it::name,
            score(),
        ))
        .filter(condition(backend, viewer, f, None))
        .limit(limit)
        .into_boxed();
    paged!(q, sort, after, score)
        .load::<(ResourceRow, String, bool, String, String, i64)>(conn)
        .map(|v| {
            v.into_iter()
                .map(|(row, slug, verified, country, name, score)| {
                    (loaded((row, slug, verified, country, name)), score)
                })
                .collect()
        })
}

/// Where a resource sits in the lists' orders, and its kind: all a page
/// of `fields=id` needs.
#[derive(Debug, Clone, Queryable)]
pub struct Keys {
    pub id: String,
    pub kind: ResourceKind,
    pub listed_at: NaiveDateTime,
    pub title_lower: String,
    pub updated_at: NaiveDateTime,
    pub score: i64,
}

/// [`list`] reading only the [`Keys`] of each resource (no row, no JSON).
pub fn list_keys(
    conn: &mut DbConnection,
    viewer: &Viewer,
    f: &Filter,
    sort: Sort,
    after: Option<After>,
    limit: i64,
) -> QueryResult<Vec<Keys>> {
    let backend = conn.backend();
    let score = || page_score::<rs::table>(backend, f, sort);
    let q = rs::table
        .select((
            rs::id,
            rs::kind,
            rs::listed_at,
            rs::title_lower,
            rs::updated_at,
            score(),
        ))
        .filter(condition_alone(backend, viewer, f, None))
        .limit(limit)
        .into_boxed();
    paged!(q, sort, after, score).load::<Keys>(conn)
}

/// The `top` most frequent values of `facet` among the resources of `f`
/// that `viewer` may see, with their counts. The facet's own filter is
/// left out (the other values of a facet a reader picked from still
/// count: "multi-select" facets).
pub fn facet_counts(
    conn: &mut DbConnection,
    viewer: &Viewer,
    f: &Filter,
    facet: Facet,
    top: i64,
) -> QueryResult<Vec<(String, i64)>> {
    use diesel::dsl::count_star;
    let backend = conn.backend();
    let cond = || condition(backend, viewer, f, Some(facet));
    if let Some(term) = facet.term() {
        return rs::table
            .inner_join(rt::table)
            .filter(rt::facet.eq(term))
            .filter(condition!(TermSource, backend, viewer, f, Some(facet)))
            .group_by(rt::value)
            .select((rt::value, count_star()))
            .order((count_star().desc(), rt::value.asc()))
            .limit(top)
            .into_boxed()
            .load(conn);
    }
    // Only the institution's slug needs the joined institution.
    let base = rs::table.filter(condition_alone(backend, viewer, f, Some(facet)));
    macro_rules! by {
        ($col:expr) => {
            base.group_by($col)
                .select(($col, count_star()))
                .order((count_star().desc(), $col.asc()))
                .limit(top)
                .into_boxed()
                .load::<(Option<String>, i64)>(conn)
                .map(|v| v.into_iter().filter_map(|(k, n)| Some((k?, n))).collect())
        };
    }
    match facet {
        Facet::Kind => base
            .group_by(rs::kind)
            .select((rs::kind, count_star()))
            .order((count_star().desc(), rs::kind.asc()))
            .limit(top)
            .into_boxed()
            .load::<(ResourceKind, i64)>(conn)
            .map(|v| {
                v.into_iter()
                    .map(|(k, n)| (k.as_str().to_string(), n))
                    .collect()
            }),
        Facet::Institution => rs::table
            .inner_join(it::table)
            .filter(cond())
            .group_by(it::slug)
            .select((it::slug, count_star()))
            .order((count_star().desc(), it::slug.asc()))
            .limit(top)
            .into_boxed()
            .load(conn),
        Facet::License => by!(rs::license),
        Facet::AccessLevel => by!(rs::access_level),
        Facet::RiskTier => by!(rs::risk_tier),
        _ => Ok(Vec::new()),
    }
}

/// Values with their counts, most frequent first.
pub type Counts = Vec<(String, i64)>;

/// [`facet_counts`] of several term facets (language, country, tag, level,
/// delivery) in one grouped query over the same resources. Only for facets
/// that have no filter of their own in `f`: leaving a facet's own filter out
/// then changes nothing, so they all count over the same set.
pub fn term_facet_counts(
    conn: &mut DbConnection,
    viewer: &Viewer,
    f: &Filter,
    facets: &[Facet],
    top: usize,
) -> QueryResult<Vec<(Facet, Counts)>> {
    use diesel::dsl::count_star;
    let backend = conn.backend();
    let terms: Vec<&'static str> = facets.iter().filter_map(|x| x.term()).collect();
    let rows: Vec<(String, String, i64)> = rs::table
        .inner_join(rt::table)
        .filter(rt::facet.eq_any(&terms))
        .filter(condition!(TermSource, backend, viewer, f, None))
        .group_by((rt::facet, rt::value))
        .select((rt::facet, rt::value, count_star()))
        .into_boxed()
        .load(conn)?;
    let mut out: Vec<(Facet, Counts)> = facets
        .iter()
        .filter(|x| x.term().is_some())
        .map(|x| (*x, Vec::new()))
        .collect();
    for (term, value, n) in rows {
        if let Some((_, counts)) = out
            .iter_mut()
            .find(|(x, _)| x.term() == Some(term.as_str()))
        {
            counts.push((value, n));
        }
    }
    for (_, counts) in &mut out {
        counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts.truncate(top);
    }
    Ok(out)
}

/// How many resources of `f` `viewer` may see, counted up to `cap` (a
/// count stops there: beyond it, only "more than").
pub fn count_up_to(
    conn: &mut DbConnection,
    viewer: &Viewer,
    f: &Filter,
    cap: i64,
) -> QueryResult<i64> {
    let backend = conn.backend();
    let ids: Vec<String> = rs::table
        .filter(condition_alone(backend, viewer, f, None))
        .select(rs::id)
        .limit(cap)
        .into_boxed()
        .load(conn)?;
    Ok(i64::try_from(ids.len()).unwrap_or(cap))
}

/// Whether `viewer` may see any resource of `f` (a "did you mean" check).
pub fn any(conn: &mut DbConnection, viewer: &Viewer, f: &Filter) -> QueryResult<bool> {
    let backend = conn.backend();
    let found: Vec<String> = rs::table
        .filter(condition_alone(backend, viewer, f, None))
        .select(rs::id)
        .limit(1)
        .into_boxed()
        .load(conn)?;
    Ok(!found.is_empty())
}

/// Type-ahead: titles of the resources of `f` whose title or tags have
/// words starting as `query` does, best first.
pub fn suggest_titles(
    conn: &mut DbConnection,
    viewer: &Viewer,
    f: &Filter,
    query: &crate::domain::search::Query,
    limit: i64,
) -> QueryResult<Vec<(String, ResourceKind, String)>> {
    let backend = conn.backend();
    let mut q = rs::table
        .inner_join(it::table)
        .filter(condition(backend, viewer, f, None))
        .select((rs::id, rs::kind, rs::title))
        .limit(limit)
        .into_boxed();
    for c in super::search::conditions::<Source>(backend, query, super::search::Fields::Heading) {
        q = q.filter(c);
    }
    q.order(super::search::score::<Source>(backend, query, super::search::Fields::Heading).desc())
        .then_order_by(rs::listed_at.desc())
        .then_order_by(rs::id.desc())
        .load(conn)
}

/// Type-ahead: tags starting with `prefix` on the resources of `f` that
/// `viewer` may see, most used first.
pub fn suggest_tags(
    conn: &mut DbConnection,
    viewer: &Viewer,
    f: &Filter,
    prefix: &str,
    limit: i64,
) -> QueryResult<Vec<(String, i64)>> {
    use diesel::dsl::count_star;
    let backend = conn.backend();
    let escaped = prefix
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    // The prefix as a range of the (facet, value) index, on both backends:
    // SQLite's LIKE ignores case, so it cannot walk the index by itself,
    // and PostgreSQL walks it for a LIKE only under the "C" collation,
    // which a database's default (even C.UTF-8) is not. The values compare
    // as bytes on both (migration 2026-12-10-130000_terms_binary_order), so
    // the range is exact; the LIKE stays as the definition.
    let range = rt::value
        .ge(prefix.to_string())
        .and(rt::value.lt(format!("{prefix}\u{10FFFF}")));
    rs::table
        .inner_join(rt::table)
        .filter(rt::facet.eq("tag"))
        .filter(rt::value.like(format!("{escaped}%")).escape('\\'))
        .filter(range)
        .filter(condition!(TermSource, backend, viewer, f, None))
        .group_by(rt::value)
        .select((rt::value, count_star()))
        .order((count_star().desc(), rt::value.asc()))
        .limit(limit)
        .into_boxed()
        .load(conn)
}

// ----- dataset files --------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = df)]
pub struct FileRow {
    pub id: String,
    pub dataset_id: String,
    pub name: String,
    pub url: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    /// Links to this file are refused until then (issue #19).
    pub embargo_until: Option<NaiveDateTime>,
    pub embargo_reason: Option<String>,
}

pub fn insert_file(conn: &mut DbConnection, row: &FileRow) -> QueryResult<()> {
    diesel::insert_into(df::table).values(row).execute(conn)?;
    Ok(())
}

pub fn files(
    conn: &mut DbConnection,
    dataset_id: &str,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<FileRow>> {
    let mut q = df::table
        .filter(df::dataset_id.eq(dataset_id))
        .select(FileRow::as_select())
        .order((df::created_at.asc(), df::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        // The bound makes the keyset an index range (see `keyset` in db/mod.rs).
        q = q.filter(df::created_at.ge(at));
        q = q.filter(
            df::created_at
                .gt(at)
                .or(df::created_at.eq(at).and(df::id.gt(id))),
        );
    }
    q.load(conn)
}

pub fn count_files(conn: &mut DbConnection, dataset_id: &str) -> QueryResult<i64> {
    df::table
        .filter(df::dataset_id.eq(dataset_id))
        .count()
        .get_result(conn)
}

pub fn file(
    conn: &mut DbConnection,
    dataset_id: &str,
    file_id: &str,
) -> QueryResult<Option<FileRow>> {
    df::table
        .filter(df::dataset_id.eq(dataset_id))
        .filter(df::id.eq(file_id))
        .select(FileRow::as_select())
        .first(conn)
        .optional()
}

pub fn delete_file(conn: &mut DbConnection, file_id: &str) -> QueryResult<bool> {
    let n = diesel::delete(df::table.filter(df::id.eq(file_id))).execute(conn)?;
    Ok(n == 1)
}
