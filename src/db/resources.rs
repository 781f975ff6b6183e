//! Resources (courses, datasets, model cards), their search terms, their
//! links to each other and datasets' files.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    dataset_files as df, institutions as it, memberships as ms, resource_relations as rr,
    resource_terms as rt, resources as rs,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rs)]
pub struct ResourceRow {
    pub id: String,
    pub kind: String,
    pub institution_id: String,
    pub title: String,
    pub title_lower: String,
    pub summary: String,
    pub description: String,
    pub license: Option<String>,
    pub languages: String,
    pub countries: String,
    pub tags: String,
    pub search_text: String,
    pub visibility: String,
    pub status: String,
    pub version: i64,
    pub access_level: Option<String>,
    pub risk_tier: Option<String>,
    pub details: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub published_at: Option<NaiveDateTime>,
    pub archived_at: Option<NaiveDateTime>,
    pub listed_at: NaiveDateTime,
}

/// A resource with what the policy and the representation need of its
/// institution.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub row: ResourceRow,
    pub institution_slug: String,
    pub institution_verified: bool,
    pub institution_country: String,
}

type LoadedTuple = (ResourceRow, String, bool, String);

fn loaded(
    (row, institution_slug, institution_verified, institution_country): LoadedTuple,
) -> Loaded {
    Loaded {
        row,
        institution_slug,
        institution_verified,
        institution_country,
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
    pub search_text: String,
    pub visibility: String,
    pub access_level: Option<String>,
    pub risk_tier: Option<String>,
    pub details: String,
}

pub fn insert(conn: &mut DbConnection, row: &ResourceRow) -> QueryResult<()> {
    diesel::insert_into(rs::table).values(row).execute(conn)?;
    Ok(())
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

/// Moves a resource to `status` (bumping the version); `false` when it was
/// not in `from` any more.
pub fn set_status(
    conn: &mut DbConnection,
    id: &str,
    from: &str,
    to: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let target = rs::table.filter(rs::id.eq(id)).filter(rs::status.eq(from));
    let n = match to {
        "published" => diesel::update(target)
            .set((
                rs::status.eq(to),
                rs::published_at.eq(Some(now)),
                rs::listed_at.eq(now),
                rs::version.eq(rs::version + 1),
                rs::updated_at.eq(now),
            ))
            .execute(conn)?,
        _ => diesel::update(target)
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

/// Published or archived resources an institution owns.
pub fn count_published(conn: &mut DbConnection, institution_id: &str) -> QueryResult<i64> {
    rs::table
        .filter(rs::institution_id.eq(institution_id))
        .filter(rs::status.ne("draft"))
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

/// Replaces a resource's outgoing links (`(relation, target)`, in order).
pub fn replace_relations(
    conn: &mut DbConnection,
    id: &str,
    links: &[(String, String)],
) -> QueryResult<()> {
    diesel::delete(rr::table.filter(rr::source_id.eq(id))).execute(conn)?;
    for (position, (relation, target)) in links.iter().enumerate() {
        diesel::insert_into(rr::table)
            .values((
                rr::source_id.eq(id),
                rr::relation.eq(relation),
                rr::target_id.eq(target),
                rr::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Outgoing links of several resources: `(source, relation, target)` in order.
pub fn relations_of(
    conn: &mut DbConnection,
    ids: &[String],
) -> QueryResult<Vec<(String, String, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    rr::table
        .filter(rr::source_id.eq_any(ids))
        .order((rr::source_id, rr::position))
        .select((rr::source_id, rr::relation, rr::target_id))
        .load(conn)
}

/// Incoming links: `(relation, source)`.
pub fn relations_to(conn: &mut DbConnection, id: &str) -> QueryResult<Vec<(String, String)>> {
    rr::table
        .filter(rr::target_id.eq(id))
        .order((rr::relation, rr::source_id))
        .select((rr::relation, rr::source_id))
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
    /// `-published_at` (the default): newest first.
    NewestFirst,
    /// `published_at`.
    OldestFirst,
    /// `title`.
    Title,
    /// `-title`.
    TitleDesc,
}

/// Where the previous page ended: the sort value and the id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum After {
    Time(NaiveDateTime, String),
    Title(String, String),
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<String>,
    pub institution: Option<String>,
    pub language: Option<String>,
    pub country: Option<String>,
    pub tag: Option<String>,
    pub license: Option<String>,
    pub status: String,
    pub risk_tier: Option<String>,
    pub access_level: Option<String>,
    /// Lowercased.
    pub q: Option<String>,
}

/// One page of the resources `viewer` may see. The visibility condition is
/// `domain::policy::resource_visible` in SQL.
pub fn list(
    conn: &mut DbConnection,
    viewer: &Viewer,
    f: &Filter,
    sort: Sort,
    after: Option<After>,
    limit: i64,
) -> QueryResult<Vec<Loaded>> {
    let mut q = rs::table
        .inner_join(it::table)
        .select((
            ResourceRow::as_select(),
            it::slug,
            it::verified,
            it::country,
        ))
        .filter(rs::status.eq(f.status.clone()))
        .limit(limit)
        .into_boxed();
    if !viewer.admin {
        let mut open = vec!["public".to_string()];
        if viewer.signed_in {
            open.push("registered".into());
        }
        q = q.filter(
            rs::status
                .eq("draft")
                .and(rs::institution_id.eq_any(viewer.editor_of()))
                .or(rs::status.ne("draft").and(
                    rs::institution_id
                        .eq_any(viewer.member_of())
                        .or(it::verified.eq(true).and(
                            rs::visibility.eq_any(open).or(rs::visibility
                                .eq("partnership")
                                .and(rs::id.eq_any(viewer.partnership_shared.clone()))),
                        )),
                )),
        );
    }
    if let Some(v) = &f.kind {
        q = q.filter(rs::kind.eq(v.clone()));
    }
    if let Some(v) = &f.institution {
        q = q.filter(it::slug.eq(v.clone()));
    }
    if let Some(v) = &f.license {
        q = q.filter(rs::license.eq(v.clone()));
    }
    if let Some(v) = &f.risk_tier {
        q = q.filter(rs::risk_tier.eq(v.clone()));
    }
    if let Some(v) = &f.access_level {
        q = q.filter(rs::access_level.eq(v.clone()));
    }
    for (facet, value) in [
        ("language", &f.language),
        ("country", &f.country),
        ("tag", &f.tag),
    ] {
        if let Some(v) = value {
            q = q.filter(
                rs::id.eq_any(
                    rt::table
                        .filter(rt::facet.eq(facet))
                        .filter(rt::value.eq(v.to_lowercase()))
                        .select(rt::resource_id),
                ),
            );
        }
    }
    if let Some(v) = &f.q {
        let escaped = v
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q = q.filter(rs::search_text.like(format!("%{escaped}%")).escape('\\'));
    }
    q = match sort {
        Sort::NewestFirst => q.order((rs::listed_at.desc(), rs::id.desc())),
        Sort::OldestFirst => q.order((rs::listed_at.asc(), rs::id.asc())),
        Sort::Title => q.order((rs::title_lower.asc(), rs::id.asc())),
        Sort::TitleDesc => q.order((rs::title_lower.desc(), rs::id.desc())),
    };
    match (sort, after) {
        (Sort::NewestFirst, Some(After::Time(at, id))) => {
            q = q.filter(
                rs::listed_at
                    .lt(at)
                    .or(rs::listed_at.eq(at).and(rs::id.lt(id))),
            );
        }
        (Sort::OldestFirst, Some(After::Time(at, id))) => {
            q = q.filter(
                rs::listed_at
                    .gt(at)
                    .or(rs::listed_at.eq(at).and(rs::id.gt(id))),
            );
        }
        (Sort::Title, Some(After::Title(t, id))) => {
            q = q.filter(
                rs::title_lower
                    .gt(t.clone())
                    .or(rs::title_lower.eq(t).and(rs::id.gt(id))),
            );
        }
        (Sort::TitleDesc, Some(After::Title(t, id))) => {
            q = q.filter(
                rs::title_lower
                    .lt(t.clone())
                    .or(rs::title_lower.eq(t).and(rs::id.lt(id))),
            );
        }
        _ => {}
    }
    q.load::<LoadedTuple>(conn)
        .map(|v| v.into_iter().map(loaded).collect())
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
