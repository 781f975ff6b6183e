//! Full-text search in the database that holds the data: SQLite FTS5 or
//! PostgreSQL `tsvector` + GIN, over the folded words the application
//! writes into `resource_search` in the same transaction as the resource
//! (see domain::search for the words, the query and the score).
//!
//! Everything here is SQL text on `resources.id`, so the resource lists
//! add it to their own filters (and the visibility rule) unchanged.

use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use super::schema::{resource_search as st, resources as rs, search_words as sw};
use super::{DbConnection, MultiBackend};
use crate::config::Backend;
use crate::domain::search::{
    Clause, Indexed, Query, WEIGHT_BODY, WEIGHT_SUMMARY, WEIGHT_TAGS, WEIGHT_TITLE,
};

/// A condition on a query over `QS` (any source with `resources` in it).
pub type Condition<QS> = Box<dyn BoxableExpression<QS, MultiBackend, SqlType = Bool>>;

/// Which fields a search looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// All four.
    All,
    /// Title and tags (type-ahead), among the [`HEADING_CANDIDATES`] most
    /// recently indexed resources that match: a type-ahead of two letters
    /// matches a good part of the catalogue, and ranking all of it for ten
    /// lines would cost a search's time at every key press.
    Heading,
}

/// How many matching resources a type-ahead ranks at most (the newest).
pub const HEADING_CANDIDATES: i64 = 500;

/// The conditions `resources.id` must meet for `query`: every clause of
/// `all` found, none of `none`.
pub fn conditions<QS: 'static>(
    backend: Backend,
    query: &Query,
    fields: Fields,
) -> Vec<Condition<QS>> {
    let mut out: Vec<Condition<QS>> = Vec::new();
    match backend {
        Backend::Sqlite => {
            let scope = |m: String| match fields {
                Fields::All => m,
                Fields::Heading => format!("{{title tags}} : ({m})"),
            };
            let newest = match fields {
                Fields::All => "",
                Fields::Heading => " ORDER BY resource_fts.rowid DESC LIMIT ",
            };
            if let Some(m) = query.fts5_all() {
                out.push(fts5_ids("resources.id IN", scope(m), newest));
            }
            if let Some(m) = query.fts5_none() {
                out.push(fts5_ids("resources.id NOT IN", scope(m), ""));
            }
        }
        Backend::Postgres => {
            let column = match fields {
                Fields::All => "document",
                Fields::Heading => "heading",
            };
            let text = match fields {
                Fields::All => "(title || tags || summary || body)",
                Fields::Heading => "(title || tags)",
            };
            if let Some(q) = query.tsquery_all() {
                // Phrases: their words through the index, their order on the text.
                let (phrases, _) = query.phrases();
                let order: String = phrases
                    .iter()
                    .map(|p| format!(" AND strpos({text}, {}) > 0", literal(p)))
                    .collect();
                let newest = match fields {
                    Fields::All => String::new(),
                    // Ids are UUIDv7: the newest first.
                    Fields::Heading => {
                        format!(" ORDER BY resource_id DESC LIMIT {HEADING_CANDIDATES}")
                    }
                };
                out.push(tsquery_ids(
                    "resources.id IN",
                    column,
                    q,
                    &format!("{order}{newest}"),
                ));
            }
            for clause in &query.none {
                let one = Query {
                    all: vec![clause.clone()],
                    ..Query::default()
                };
                let order = match clause {
                    Clause::Phrase(_) => {
                        format!(" AND strpos({text}, {}) > 0", literal(&clause.needle()))
                    }
                    _ => String::new(),
                };
                if let Some(q) = one.tsquery_all() {
                    out.push(tsquery_ids("resources.id NOT IN", column, q, &order));
                }
            }
        }
    }
    out
}

/// `op` the resources matching `matching`; `newest`, when not empty, is
/// an `ORDER BY … LIMIT ` that keeps the [`HEADING_CANDIDATES`] newest.
fn fts5_ids<QS: 'static>(op: &str, matching: String, newest: &str) -> Condition<QS> {
    let end = if newest.is_empty() {
        ")".to_string()
    } else {
        format!("{newest}{HEADING_CANDIDATES})")
    };
    Box::new(
        sql::<Bool>(&format!(
            "{op} (SELECT s.resource_id FROM resource_fts JOIN resource_search s \
         ON s.key = resource_fts.rowid WHERE resource_fts MATCH "
        ))
        .bind::<Text, _>(matching)
        .sql(&end),
    )
}

fn tsquery_ids<QS: 'static>(op: &str, column: &str, tsquery: String, and: &str) -> Condition<QS> {
    Box::new(
        sql::<Bool>(&format!(
            "{op} (SELECT resource_id FROM resource_search WHERE {column} @@ CAST("
        ))
        .bind::<Text, _>(tsquery)
        .sql(&format!(" AS tsquery){and})")),
    )
}

/// A string literal of index words: they hold only letters, digits and
/// spaces (domain::search::words), so nothing needs escaping; quotes are
/// doubled all the same.
fn literal(s: &str) -> String {
    debug_assert!(s.chars().all(|c| c.is_alphanumeric() || c == ' '));
    format!("'{}'", s.replace('\'', "''"))
}

/// The score of `resources.id` for `query` as an SQL expression: the same
/// as [`Indexed::score`] (for each clause, the weight of the most important
/// field it is found in) for the resources the query matches, which are
/// the only ones it is asked of. A clause that a match has in none of the
/// title, tags and summary is in its body: the body, the one long field,
/// is never read. With [`Fields::Heading`] (type-ahead) only title and
/// tags count, each (8 + 4 for a clause in both).
pub fn score_sql(backend: Backend, query: &Query, fields: Fields) -> String {
    let find = match backend {
        Backend::Sqlite => "instr",
        Backend::Postgres => "strpos",
    };
    let (weighed, rest): (&[(&str, i64)], i64) = match fields {
        Fields::All => (
            &[
                ("title", WEIGHT_TITLE),
                ("tags", WEIGHT_TAGS),
                ("summary", WEIGHT_SUMMARY),
            ],
            WEIGHT_BODY,
        ),
        Fields::Heading => (&[("title", WEIGHT_TITLE), ("tags", WEIGHT_TAGS)], 0),
    };
    let mut terms = Vec::new();
    for clause in &query.all {
        let needle = literal(&clause.needle());
        let when = |field: &str, weight: i64| {
            format!("WHEN {find}(s.{field}, {needle}) > 0 THEN {weight} ")
        };
        match fields {
            Fields::All => {
                let whens: String = weighed.iter().map(|(f, w)| when(f, *w)).collect();
                terms.push(format!("CASE {whens}ELSE {rest} END"));
            }
            // Both short fields: a title with the tag too ranks first.
            Fields::Heading => {
                for (f, w) in weighed {
                    terms.push(format!("CASE {}ELSE 0 END", when(f, *w)));
                }
            }
        }
    }
    if terms.is_empty() {
        // Not a bare `0`: in ORDER BY that names the first column.
        return "CAST(0 AS BIGINT)".into();
    }
    format!(
        "(SELECT CAST({} AS BIGINT) FROM resource_search s WHERE s.resource_id = resources.id)",
        terms.join(" + ")
    )
}

/// The score as a typed expression.
pub fn score<QS: 'static>(
    backend: Backend,
    query: &Query,
    fields: Fields,
) -> Box<dyn BoxableExpression<QS, MultiBackend, SqlType = BigInt>> {
    Box::new(sql::<BigInt>(&score_sql(backend, query, fields)))
}

// ----- writing the index ----------------------------------------------------------

#[derive(Insertable)]
#[diesel(table_name = st)]
struct Row<'a> {
    resource_id: &'a str,
    title: &'a str,
    tags: &'a str,
    summary: &'a str,
    body: &'a str,
}

/// Writes (or rewrites) the index rows of these resources, and adds their
/// words to the vocabulary.
pub fn index(conn: &mut DbConnection, docs: &[(String, Indexed)]) -> QueryResult<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = docs.iter().map(|(id, _)| id.as_str()).collect();
    for chunk in ids.chunks(10_000) {
        diesel::delete(st::table.filter(st::resource_id.eq_any(chunk))).execute(conn)?;
    }
    let rows: Vec<Row> = docs
        .iter()
        .map(|(id, d)| Row {
            resource_id: id,
            title: &d.title,
            tags: &d.tags,
            summary: &d.summary,
            body: &d.body,
        })
        .collect();
    insert_rows(conn, &rows)?;
    let mut words: Vec<&str> = docs.iter().flat_map(|(_, d)| d.vocabulary()).collect();
    words.sort_unstable();
    words.dedup();
    add_words(conn, &words)
}

fn insert_rows(conn: &mut DbConnection, rows: &[Row]) -> QueryResult<()> {
    insert_batched!(conn, st::table, rows, 5)
}

/// Adds words to the vocabulary (in order, so concurrent writers take the
/// same locks in the same order), skipping the ones it has.
fn add_words(conn: &mut DbConnection, words: &[&str]) -> QueryResult<()> {
    for chunk in words.chunks(5_000) {
        let known: Vec<String> = sw::table
            .filter(sw::word.eq_any(chunk))
            .select(sw::word)
            .load(conn)?;
        let new: Vec<_> = chunk
            .iter()
            .filter(|w| known.binary_search_by(|k| k.as_str().cmp(w)).is_err())
            .map(|w| sw::word.eq(*w))
            .collect();
        if new.is_empty() {
            continue;
        }
        match conn {
            DbConnection::Postgres(pg) => {
                diesel::insert_into(sw::table)
                    .values(&new)
                    .on_conflict_do_nothing()
                    .execute(pg)?;
            }
            DbConnection::Sqlite(lite) => {
                for part in new.chunks(10_000) {
                    diesel::insert_or_ignore_into(sw::table)
                        .values(part)
                        .execute(lite)?;
                }
            }
        }
    }
    Ok(())
}

/// Resources with no index row (written before search existed), at most
/// `limit`.
pub fn unindexed(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<String>> {
    rs::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            st::table.filter(st::resource_id.eq(rs::id)),
        )))
        .select(rs::id)
        .limit(limit)
        .load(conn)
}

/// Vocabulary words that could be a typo of `word`: those with the same
/// first letter (a correction keeps the first letter).
pub fn words_like(conn: &mut DbConnection, word: &str) -> QueryResult<Vec<String>> {
    let Some(first) = word.chars().next() else {
        return Ok(Vec::new());
    };
    let from = first.to_string();
    let to = char::from_u32(u32::from(first) + 1)
        .map(|c| c.to_string())
        .unwrap_or_else(|| format!("{first}\u{10FFFF}"));
    sw::table
        .filter(sw::word.ge(from))
        .filter(sw::word.lt(to))
        .select(sw::word)
        .limit(50_000)
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_sql_reads_title_tags_and_summary_only() {
        let q = Query::parse("quechua \"speech corpus\"").unwrap();
        let s = score_sql(Backend::Sqlite, &q, Fields::All);
        // Title, tags and summary per clause; never the body.
        assert_eq!(s.matches("instr(").count(), 6);
        assert!(!s.contains("s.body"));
        assert!(s.contains("' speech corpus '"));
        assert_eq!(
            score_sql(Backend::Sqlite, &Query::default(), Fields::All),
            "CAST(0 AS BIGINT)"
        );
        assert!(score_sql(Backend::Postgres, &q, Fields::All).contains("strpos(s.title"));
        let heading = score_sql(Backend::Sqlite, &q, Fields::Heading);
        assert_eq!(heading.matches("instr(").count(), 4);
        assert!(!heading.contains("s.summary"));
    }
}
