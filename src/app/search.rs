//! The catalogue's lists and search: filters (each may name several values),
//! full-text `q` ranked by relevance, facet counts, highlights,
//! corrections and type-ahead — all over what the caller may see.
//!
//! The words, the query syntax, the score and the highlights are
//! `domain::search`; the SQL (FTS5 or `tsvector`) is `db::search`; the
//! visibility rule in SQL is `db::resources::condition`, the one every list,
//! count and suggestion goes through, so a count never reveals a hidden
//! resource.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use super::resources::{Extras, Include, core_of, represent, unreadable};
use crate::auth::Principal;
use crate::db::DbConnection;
use crate::db::resources::{self as store, After, Facet, Filter, Loaded, Sort, Viewer};
use crate::db::search as search_store;
use crate::domain::Word;
use crate::domain::resource::{
    self as doc, AccessLevel, CourseLevel, Delivery, ResourceKind, RiskTier, Status,
};
use crate::domain::search::{self, Clause, Query};
use crate::domain::{CountryCode, LanguageTag};
use crate::error::{ApiError, FieldCode, FieldError, Invalid};

/// Values a facet shows at most.
pub const FACET_TOP: i64 = 10;
/// Type-ahead answers at most.
pub const SUGGEST_MAX: i64 = 10;
/// Where `count=true` stops counting.
pub const COUNT_CAP: i64 = 10_000;
/// Values one filter may name.
pub const VALUES_MAX: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum SortParam {
    #[serde(rename = "-published_at")]
    NewestFirst,
    #[serde(rename = "published_at")]
    OldestFirst,
    #[serde(rename = "title")]
    Title,
    #[serde(rename = "-title")]
    TitleDesc,
    #[serde(rename = "relevance")]
    Relevance,
    #[serde(rename = "-updated_at")]
    UpdatedDesc,
}

/// Filters, search and extras of the resource lists. A filter may name
/// several values separated by commas (`kind=course,dataset`: either);
/// different filters all apply. A parameter given twice is refused.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ResourceFilter {
    /// Owning institutions' slugs.
    pub institution: Option<String>,
    /// Languages; `sw` also matches `sw-KE`.
    #[param(example = "sw,fr")]
    pub language: Option<String>,
    /// Target countries (ISO 3166-1 alpha-2).
    #[param(example = "KE,TZ")]
    pub country: Option<String>,
    /// Tags (case-insensitive).
    pub tag: Option<String>,
    /// SPDX licence ids.
    #[param(example = "CC-BY-4.0")]
    pub license: Option<String>,
    /// Default `published`; `draft` lists the drafts of institutions you edit for.
    pub status: Option<Status>,
    /// Kinds: `course`, `dataset`, `model_card`.
    #[param(example = "course,dataset")]
    pub kind: Option<String>,
    /// Model cards' risk tiers: `minimal`, `limited`, `high`, `unacceptable`.
    pub risk_tier: Option<String>,
    /// Datasets' access levels: `open`, `registered`, `restricted`.
    pub access_level: Option<String>,
    /// Courses' levels: `beginner`, `intermediate`, `advanced`.
    pub level: Option<String>,
    /// Courses' delivery: `self_paced`, `instructor_led`, `blended`.
    pub delivery: Option<String>,
    /// Only courses that take at most this many hours (`duration_hours`,
    /// a number from 0 to 10^12): courses without a duration and other
    /// kinds are left out.
    #[param(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_i64, example = 10)]
    pub max_duration_hours: Option<String>,
    /// Full-text search over titles, tags, summaries, descriptions, the
    /// kinds' own texts, module titles and institution names; accents and
    /// case do not matter. Words must all match; `"exact phrase"`,
    /// `-excluded` (word or phrase), `prefix*`, and `field:value` for the
    /// filter fields (`kind`, `language`, `country`, `license`, `tag`,
    /// `institution`, `access_level`, `risk_tier`, `level`). Other
    /// characters only separate words. At most 500 characters.
    #[param(example = "quechua \"speech corpus\" -draft lang*")]
    pub q: Option<String>,
    /// `relevance` (the default with `q`), `-published_at` (the default
    /// without), `published_at`, `title`, `-title` or `-updated_at` (the
    /// most recently changed first).
    pub sort: Option<SortParam>,
    /// Only resources changed at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-01T00:00:00Z")]
    pub updated_since: Option<String>,
    /// `true`: the page carries `total`, the number of matching resources
    /// you may see, counted exactly up to 10,000 (`total_is_exact` says
    /// whether the count stopped there).
    pub count: Option<bool>,
    /// Comma-separated top-level fields to return (`id` and `kind` always
    /// come). Besides the resources' fields: `permissions` (what you may do
    /// with each item) and `my_access` (datasets: your access state), which
    /// lists carry only when asked. An unknown name is a 400 listing the
    /// valid ones.
    #[param(example = "id,title,summary,permissions")]
    pub fields: Option<String>,
    /// Comma-separated objects to embed in each item's `included`:
    /// `modules` (courses), `related` (id, kind, title, status of the linked
    /// resources you may see), `institution` (slug, name, country,
    /// verified). Loaded for the whole page at once.
    #[param(example = "institution,related")]
    pub include: Option<String>,
    /// Comma-separated facets to count over the matching resources you may
    /// see: `kind`, `language`, `country`, `license`, `tag`, `institution`,
    /// `access_level`, `risk_tier`, `level`, `delivery`. Each facet is
    /// counted with every filter but its own (so a reader's other choices
    /// in the same facet keep their counts); at most 10 values each, the
    /// most frequent first.
    #[param(example = "kind,language,country,tag")]
    pub facets: Option<String>,
    /// `true`: the page carries `highlights`, for each item (by id) its
    /// title and a snippet with the words `q` looks for in
    /// `<mark>…</mark>`, the rest HTML-escaped.
    pub highlight: Option<bool>,
}

/// Fields a list item can show from its row alone.
const ROW_FIELDS: &[&str] = &[
    "id",
    "kind",
    "institution",
    "title",
    "summary",
    "description",
    "license",
    "languages",
    "countries",
    "tags",
    "visibility",
    "status",
    "version",
    "created_at",
    "updated_at",
    "published_at",
    "archived_at",
    "doi",
];

/// Where a list item sits in its order: the keyset of its page cursor.
pub type ListKey = (Sort, After);

fn page_key(sort: Sort, l: &Loaded, score: i64) -> ListKey {
    key_of(
        sort,
        &store::Keys {
            id: l.row.id.clone(),
            kind: l.row.kind,
            listed_at: l.row.listed_at,
            title_lower: l.row.title_lower.clone(),
            updated_at: l.row.updated_at,
            score,
        },
    )
}

fn key_of(sort: Sort, k: &store::Keys) -> ListKey {
    let id = k.id.clone();
    let after = match sort {
        Sort::NewestFirst | Sort::OldestFirst => After::Time(k.listed_at, id),
        Sort::Title | Sort::TitleDesc => After::Title(k.title_lower.clone(), id),
        Sort::Relevance => After::Score(k.score, k.listed_at, id),
        Sort::UpdatedDesc => After::Time(k.updated_at, id),
    };
    (sort, after)
}

/// Reads `fields=` for a list (`single`: a single read, which also has
/// `related_from`): the set of top-level keys to keep, or `None` for all.
/// An unknown name is a 400 listing the valid ones.
pub(crate) fn field_set(
    kind: Option<ResourceKind>,
    raw: Option<&str>,
    single: bool,
) -> Result<Option<HashSet<String>>, FieldError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let kinds: Vec<ResourceKind> = match kind {
        Some(k) => vec![k],
        None => ResourceKind::ALL.to_vec(),
    };
    let mut valid: Vec<&str> = doc::READ_ONLY_FIELDS
        .iter()
        .chain(doc::CORE_FIELDS)
        .copied()
        .filter(|f| single || *f != "related_from")
        .collect();
    for k in &kinds {
        valid.extend(doc::kind_fields(*k).iter().copied());
    }
    valid.push("permissions");
    if kinds.contains(&ResourceKind::Dataset) {
        valid.push("my_access");
    }
    let mut seen = HashSet::new();
    valid.retain(|f| seen.insert(*f));
    let mut set: HashSet<String> = ["id", "kind"].iter().map(|s| (*s).to_string()).collect();
    for f in raw.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        if !valid.contains(&f) {
            return Err(Invalid::not_allowed(
                &valid,
                format!(
                    "`{f}` is not a field of these resources; the valid names are {}.",
                    valid.join(", ")
                ),
            )
            .at("fields"));
        }
        set.insert(f.to_string());
    }
    // What `include=` embeds is always kept.
    set.insert("included".into());
    Ok(Some(set))
}

/// A value of `facet` as stored, or why it is not one.
fn facet_value(facet: Facet, raw: &str) -> Result<String, Invalid> {
    fn word<W: Word>(all: &[W], raw: &str) -> Result<String, Invalid> {
        let lower = raw.to_ascii_lowercase();
        all.iter()
            .find(|w| w.word() == lower)
            .map(|w| w.word().to_string())
            .ok_or_else(|| {
                let names: Vec<&str> = all.iter().map(|w| w.word()).collect();
                Invalid::not_allowed(
                    &names,
                    format!("`{raw}` is not one of {}.", names.join(", ")),
                )
            })
    }
    match facet {
        Facet::Kind => word(ResourceKind::ALL, raw),
        Facet::AccessLevel => word(AccessLevel::ALL, raw),
        Facet::RiskTier => word(RiskTier::ALL, raw),
        Facet::Level => word(CourseLevel::ALL, raw),
        Facet::Delivery => word(Delivery::ALL, raw),
        Facet::Language => LanguageTag::parse(raw).map(|l| l.as_str().to_lowercase()),
        Facet::Country => CountryCode::parse(raw).map(|c| c.as_str().to_lowercase()),
        Facet::License => doc::check_license(raw),
        Facet::Tag => {
            if raw.chars().count() > doc::TAG_MAX {
                Err(Invalid::too_long(
                    doc::TAG_MAX,
                    format!("At most {} characters.", doc::TAG_MAX),
                ))
            } else {
                Ok(raw.to_lowercase())
            }
        }
        Facet::Institution => {
            if raw.len() > 64 {
                Err(Invalid::too_long(64, "At most 64 characters."))
            } else {
                Ok(raw.to_string())
            }
        }
    }
}

/// The values of a filter parameter (comma-separated), each read for
/// `facet`; problems go to `errors` under the parameter's name.
fn filter_values(
    errors: &mut Vec<FieldError>,
    facet: Facet,
    raw: Option<&str>,
) -> Option<Vec<String>> {
    let raw = raw?;
    let parts: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        errors.push(
            Invalid::new(FieldCode::TooFew, "Name at least one value.")
                .min(1)
                .at(facet.name()),
        );
        return None;
    }
    if parts.len() > VALUES_MAX {
        errors.push(
            Invalid::too_many(VALUES_MAX, format!("At most {VALUES_MAX} values.")).at(facet.name()),
        );
        return None;
    }
    let mut out = Vec::new();
    for p in parts {
        match facet_value(facet, p) {
            Ok(v) if !out.contains(&v) => out.push(v),
            Ok(_) => {}
            Err(e) => errors.push(e.at(facet.name())),
        }
    }
    Some(out)
}

/// `max_duration_hours`: a number of hours from 0 to 10^12.
fn max_duration_hours(raw: &str) -> Result<f64, Invalid> {
    let message = "A number of hours from 0 to 10^12, like `10` or `2.5`.";
    let hours: f64 = raw
        .trim()
        .parse()
        .map_err(|_| Invalid::new(FieldCode::WrongType, message).expected("number"))?;
    if !hours.is_finite() || !(0.0..=1e12).contains(&hours) {
        return Err(Invalid::new(FieldCode::OutOfRange, message)
            .min(0)
            .max(1_000_000_000_000_i64));
    }
    Ok(hours)
}

/// A list request, read and checked.
struct Request {
    filter: Filter,
    sort: Sort,
    fields: Option<HashSet<String>>,
    include: Include,
    facets: Vec<Facet>,
    highlight: bool,
    count: bool,
    /// `q` had something but no word and no filter (`%`, `*`): nothing
    /// matches it.
    nothing: bool,
}

fn read(kind: Option<ResourceKind>, p: ResourceFilter) -> Result<Request, ApiError> {
    let mut errors = Vec::new();
    let mut facets_filter = Vec::new();
    for (facet, raw) in [
        (Facet::Kind, &p.kind),
        (Facet::Institution, &p.institution),
        (Facet::Language, &p.language),
        (Facet::Country, &p.country),
        (Facet::License, &p.license),
        (Facet::Tag, &p.tag),
        (Facet::AccessLevel, &p.access_level),
        (Facet::RiskTier, &p.risk_tier),
        (Facet::Level, &p.level),
        (Facet::Delivery, &p.delivery),
    ] {
        if let Some(values) = filter_values(&mut errors, facet, raw.as_deref()) {
            facets_filter.push((facet, values));
        }
    }
    let mut fixed = Vec::new();
    if let Some(k) = kind {
        fixed.push((Facet::Kind, vec![k.as_str().to_string()]));
    }
    let mut nothing = false;
    let text = match p.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        None => None,
        Some(raw) => match Query::parse(raw) {
            Ok(q) => {
                nothing = !q.has_text() && q.filters.is_empty();
                for (field, value) in &q.filters {
                    let facet = Facet::parse(field);
                    match facet.map(|f| (f, facet_value(f, value))) {
                        Some((f, Ok(v))) => fixed.push((f, vec![v])),
                        Some((_, Err(e))) => {
                            errors.push(e.map_message(|m| format!("`{field}:`: {m}")).at("q"));
                        }
                        None => {}
                    }
                }
                q.has_text().then_some(q)
            }
            Err(e) => {
                errors.push(e.at("q"));
                None
            }
        },
    };
    let fields = field_set(
        kind.or_else(|| {
            // One kind asked for: its fields are known.
            match facets_filter.iter().find(|(f, _)| *f == Facet::Kind) {
                Some((_, v)) if v.len() == 1 => ResourceKind::parse(&v[0]),
                _ => None,
            }
        }),
        p.fields.as_deref(),
        false,
    )
    .map_err(|e| errors.push(e))
    .ok()
    .flatten();
    let include = Include::parse(p.include.as_deref())
        .map_err(|e| errors.push(e))
        .unwrap_or_default();
    let mut facets = Vec::new();
    for name in p
        .facets
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        match Facet::parse(name) {
            Some(f) if !facets.contains(&f) => facets.push(f),
            Some(_) => {}
            None => {
                let names: Vec<&str> = Facet::ALL.iter().map(|f| f.name()).collect();
                errors.push(
                    Invalid::not_allowed(
                        &names,
                        format!(
                            "`{name}` is not a facet; the facets are {}.",
                            names.join(", ")
                        ),
                    )
                    .at("facets"),
                );
            }
        }
    }
    let updated_since = match p.updated_since.as_deref().map(str::trim) {
        None => None,
        Some(raw) => match chrono::DateTime::parse_from_rfc3339(raw) {
            Ok(t) => Some(t.naive_utc()),
            Err(_) => {
                errors.push(
                    Invalid::format(
                        "date_time",
                        "A time in RFC 3339, like `2026-12-01T00:00:00Z`.",
                    )
                    .at("updated_since"),
                );
                None
            }
        },
    };
    let max_duration =
        p.max_duration_hours
            .as_deref()
            .and_then(|raw| match max_duration_hours(raw) {
                Ok(hours) => Some(doc::duration_term(hours)),
                Err(e) => {
                    errors.push(e.at("max_duration_hours"));
                    None
                }
            });
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let sort = match p.sort {
        Some(SortParam::NewestFirst) => Sort::NewestFirst,
        Some(SortParam::OldestFirst) => Sort::OldestFirst,
        Some(SortParam::Title) => Sort::Title,
        Some(SortParam::TitleDesc) => Sort::TitleDesc,
        Some(SortParam::Relevance) => Sort::Relevance,
        Some(SortParam::UpdatedDesc) => Sort::UpdatedDesc,
        None if text.is_some() => Sort::Relevance,
        None => Sort::NewestFirst,
    };
    Ok(Request {
        filter: Filter {
            status: p.status.unwrap_or(Status::Published),
            facets: facets_filter,
            fixed,
            text,
            updated_since,
            max_duration,
        },
        sort,
        fields,
        include,
        facets,
        highlight: p.highlight.unwrap_or(false),
        count: p.count.unwrap_or(false),
        nothing,
    })
}

/// One page of a list, with what was asked besides.
#[derive(Debug)]
pub struct Listing {
    /// Each item's JSON and its cursor key.
    pub items: Vec<(Value, ListKey)>,
    /// `facets=`: each facet's values and counts.
    pub facets: Option<Map<String, Value>>,
    /// `highlight=true`: each item's highlights by id.
    pub highlights: Option<Map<String, Value>>,
    /// `count=true`: how many match (up to [`COUNT_CAP`]) and whether that
    /// is exact.
    pub total: Option<(i64, bool)>,
    /// A first page with no match: the query with corrected words, when
    /// that finds something the caller may see.
    pub did_you_mean: Option<String>,
}

/// A page of the resources (of `kind`, or of every kind) the caller may
/// see, after `after` (the page cursor's key), at most `limit`.
pub fn list(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    kind: Option<ResourceKind>,
    params: ResourceFilter,
    after: Option<ListKey>,
    limit: i64,
) -> Result<Listing, ApiError> {
    let r = read(kind, params)?;
    if r.nothing {
        return Ok(Listing {
            items: Vec::new(),
            facets: (!r.facets.is_empty()).then(|| {
                r.facets
                    .iter()
                    .map(|f| (f.name().to_string(), Value::Array(Vec::new())))
                    .collect()
            }),
            highlights: r.highlight.then(Map::new),
            total: r.count.then_some((0, true)),
            did_you_mean: None,
        });
    }
    let first_page = after.is_none();
    let after = match after {
        Some((s, a)) if s == r.sort => Some(a),
        Some(_) => {
            return Err(Invalid::new(
                FieldCode::Inconsistent,
                "This cursor belongs to another sort order.",
            )
            .other("sort")
            .at("cursor")
            .into());
        }
        None => None,
    };
    let viewer = Viewer::load(
        conn,
        principal.map(|p| p.user.id.as_str()),
        principal.is_some_and(Principal::is_admin),
    )?;
    // Only ids (`fields=id`: a harvester's or an offline client's list of
    // what there is): the keys of the rows, nothing else read or built.
    if !r.highlight
        && !r.include.any()
        && r.fields.as_ref().is_some_and(|f| {
            f.iter()
                .all(|k| matches!(k.as_str(), "id" | "kind" | "included"))
        })
    {
        let keys = store::list_keys(conn, &viewer, &r.filter, r.sort, after, limit)?;
        let items = keys
            .into_iter()
            .map(|k| (json!({"id": k.id, "kind": k.kind}), key_of(r.sort, &k)))
            .collect();
        return finish(conn, &viewer, &r, items, None, first_page);
    }
    let rows = store::list(conn, &viewer, &r.filter, r.sort, after, limit)
        .map_err(|e| unreadable(conn, e))?;
    // Fields of the row alone (`fields=id,title`): no links, no kind's
    // fields, nothing more to read or build.
    if let Some(keep) = r.fields.as_ref().filter(|f| {
        !r.include.any()
            && f.iter()
                .all(|k| k == "included" || ROW_FIELDS.contains(&k.as_str()))
    }) {
        let mut items = Vec::with_capacity(rows.len());
        let mut highlights = r.highlight.then(Map::new);
        for (l, score) in &rows {
            let mut value =
                serde_json::to_value(core_of(l, Vec::new(), None)?).map_err(ApiError::internal)?;
            if let Value::Object(map) = &mut value {
                map.retain(|k, _| keep.contains(k));
            }
            if let Some(h) = &mut highlights {
                h.insert(l.row.id.clone(), highlight(l, r.filter.text.as_ref()));
            }
            items.push((value, page_key(r.sort, l, *score)));
        }
        return finish(conn, &viewer, &r, items, highlights, first_page);
    }
    let loaded: Vec<Loaded> = rows.iter().map(|(l, _)| l.clone()).collect();
    // Links cost a look-up per page; skip it when they are not shown.
    let links = r
        .fields
        .as_ref()
        .is_none_or(|f| f.contains("related") || f.contains("results"));
    let extras = Extras {
        permissions: r.fields.as_ref().is_some_and(|f| f.contains("permissions")),
        my_access: r.fields.as_ref().is_some_and(|f| f.contains("my_access")),
        include: r.include,
    };
    let reps = represent(conn, &loaded, &viewer, principal, false, links, extras)?;
    let mut items = Vec::with_capacity(rows.len());
    let mut highlights = r.highlight.then(Map::new);
    for ((l, score), rep) in rows.iter().zip(reps) {
        let mut value = rep.to_json()?;
        if let (Some(keep), Value::Object(map)) = (&r.fields, &mut value) {
            map.retain(|k, _| keep.contains(k));
        }
        if let Some(h) = &mut highlights {
            h.insert(l.row.id.clone(), highlight(l, r.filter.text.as_ref()));
        }
        items.push((value, page_key(r.sort, l, *score)));
    }
    finish(conn, &viewer, &r, items, highlights, first_page)
}

/// The page's facets and correction, around its items.
fn finish(
    conn: &mut DbConnection,
    viewer: &Viewer,
    r: &Request,
    items: Vec<(Value, ListKey)>,
    highlights: Option<Map<String, Value>>,
    first_page: bool,
) -> Result<Listing, ApiError> {
    let facets = if r.facets.is_empty() {
        None
    } else {
        let mut out = Map::new();
        // Term facets without a filter of their own all count over the same
        // resources: one grouped query for them all.
        let shared: Vec<Facet> = r
            .facets
            .iter()
            .copied()
            .filter(|x| x.term().is_some() && !r.filter.facets.iter().any(|(own, _)| own == x))
            .collect();
        let mut counted = if shared.len() > 1 {
            store::term_facet_counts(
                conn,
                viewer,
                &r.filter,
                &shared,
                usize::try_from(FACET_TOP).unwrap_or(usize::MAX),
            )?
        } else {
            Vec::new()
        };
        for facet in &r.facets {
            let counts = match counted.iter().position(|(x, _)| x == facet) {
                Some(i) => counted.swap_remove(i).1,
                None => store::facet_counts(conn, viewer, &r.filter, *facet, FACET_TOP)?,
            };
            out.insert(
                facet.name().to_string(),
                counts
                    .into_iter()
                    .map(|(value, count)| json!({"value": shown(*facet, value), "count": count}))
                    .collect(),
            );
        }
        Some(out)
    };
    let did_you_mean = match &r.filter.text {
        Some(q) if first_page && items.is_empty() => correction(conn, viewer, &r.filter, q)?,
        _ => None,
    };
    let total = if r.count {
        let n = store::count_up_to(conn, viewer, &r.filter, COUNT_CAP + 1)?;
        Some((n.min(COUNT_CAP), n <= COUNT_CAP))
    } else {
        None
    };
    Ok(Listing {
        items,
        facets,
        highlights,
        total,
        did_you_mean,
    })
}

/// A stored facet value as the API spells it elsewhere (`KE`, `sw-KE`).
fn shown(facet: Facet, value: String) -> String {
    match facet {
        Facet::Country => value.to_ascii_uppercase(),
        Facet::Language => LanguageTag::parse(&value).map_or(value, |l| l.as_str().to_string()),
        _ => value,
    }
}

/// The title and a snippet of `l` with the words `q` looks for marked.
fn highlight(l: &Loaded, q: Option<&Query>) -> Value {
    let mut escaped = String::new();
    search::escape_into(&mut escaped, &l.row.title);
    let Some(q) = q else {
        return json!({"title": escaped, "snippet": null});
    };
    let title = search::highlight(&l.row.title, q, false).unwrap_or(escaped);
    let snippet = search::highlight(&l.row.summary, q, true)
        .or_else(|| search::highlight(&l.row.description, q, true));
    json!({"title": title, "snippet": snippet})
}

/// `q` with each word that finds nothing the viewer may see replaced by
/// the closest word that does, when the corrected query finds something.
/// Candidates come from every word ever indexed, but each is tried against
/// what the viewer may see, in a fixed order, so the answer is the same
/// whatever hidden resources hold.
fn correction(
    conn: &mut DbConnection,
    viewer: &Viewer,
    f: &Filter,
    q: &Query,
) -> Result<Option<String>, ApiError> {
    /// Candidates tried per word.
    const TRIES: usize = 4;
    let finds = |conn: &mut DbConnection, word: &str| {
        let one = Filter {
            text: Some(Query {
                all: vec![Clause::Word(word.to_string())],
                ..Query::default()
            }),
            ..f.clone()
        };
        store::any(conn, viewer, &one)
    };
    let mut fixed = q.clone();
    let mut changed = false;
    for clause in &mut fixed.all {
        let words: Vec<String> = match clause {
            Clause::Word(w) => vec![w.clone()],
            Clause::Phrase(ws) => ws.clone(),
            Clause::Prefix(_) => continue,
        };
        let mut out = Vec::with_capacity(words.len());
        for w in words {
            let near = search_store::words_like(conn, &w)?;
            let mut better = None;
            for c in search::candidates(&w, near.iter().map(String::as_str), TRIES) {
                if finds(conn, c)? {
                    better = Some(c.to_string());
                    break;
                }
            }
            match better {
                Some(b) if b != w => {
                    out.push(b);
                    changed = true;
                }
                _ => out.push(w),
            }
        }
        *clause = match clause {
            Clause::Word(_) => Clause::Word(out.remove(0)),
            _ => Clause::Phrase(out),
        };
    }
    if !changed {
        return Ok(None);
    }
    let corrected = Filter {
        text: Some(fixed.clone()),
        ..f.clone()
    };
    Ok(store::any(conn, viewer, &corrected)?.then(|| fixed.text()))
}

/// One value of a facet and how many matching resources you may see have it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetCount {
    #[schema(example = "dataset")]
    pub value: String,
    #[schema(example = 42)]
    pub count: i64,
}

/// A resource's title and a snippet of its summary or description, HTML-
/// escaped, with the words the query looks for in `<mark>…</mark>`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Highlight {
    #[schema(example = "<mark>Quechua</mark> speech corpus")]
    pub title: String,
    /// `null` when the match is elsewhere (tags, the kind's own texts).
    #[schema(example = "…recordings of <mark>Quechua</mark> speakers in Cusco…")]
    pub snippet: Option<String>,
}

/// A type-ahead answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestion {
    /// `title` (of a resource) or `tag`.
    #[serde(rename = "type")]
    #[schema(example = "title")]
    pub kind_of: &'static str,
    /// What to show and, for a tag, what to filter by.
    #[schema(example = "Quechua speech corpus")]
    pub text: String,
    /// The resource (titles).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uuid")]
    pub id: Option<String>,
    /// The resource's kind (titles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ResourceKind>,
    /// Resources you may see with this tag (tags).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

/// Titles and tags of what the caller may see that start like `raw`
/// (its last word a prefix), at most [`SUGGEST_MAX`]: tags first (up to
/// three), then titles, best first.
pub fn suggest(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    raw: &str,
    kind: Option<ResourceKind>,
) -> Result<Vec<Suggestion>, ApiError> {
    if raw.chars().count() > 100 {
        return Err(Invalid::too_long(100, "At most 100 characters.")
            .at("q")
            .into());
    }
    let mut words = search::words(raw);
    let open_end = !raw.ends_with(char::is_whitespace);
    let Some(last) = words.pop() else {
        return Ok(Vec::new());
    };
    if words.len() + 1 > search::CLAUSES_MAX {
        return Err(Invalid::too_many(search::CLAUSES_MAX, "At most 16 words.")
            .at("q")
            .into());
    }
    let mut query = Query {
        all: words.into_iter().map(Clause::Word).collect(),
        ..Query::default()
    };
    let single = query.all.is_empty();
    query.all.push(if open_end {
        Clause::Prefix(last.clone())
    } else {
        Clause::Word(last.clone())
    });
    let viewer = Viewer::load(
        conn,
        principal.map(|p| p.user.id.as_str()),
        principal.is_some_and(Principal::is_admin),
    )?;
    let filter = Filter {
        status: Status::Published,
        facets: Vec::new(),
        fixed: kind
            .map(|k| vec![(Facet::Kind, vec![k.as_str().to_string()])])
            .unwrap_or_default(),
        text: None,
        updated_since: None,
        max_duration: None,
    };
    let mut out = Vec::new();
    if single && last.chars().count() >= 2 {
        for (tag, count) in
            store::suggest_tags(conn, &viewer, &filter, &raw.trim().to_lowercase(), 3)?
        {
            out.push(Suggestion {
                kind_of: "tag",
                text: tag,
                id: None,
                kind: None,
                count: Some(count),
            });
        }
    }
    let room = SUGGEST_MAX - i64::try_from(out.len()).unwrap_or(0);
    if last.chars().count() >= 2 || !single {
        let mut seen: HashSet<String> = HashSet::new();
        let titles = store::suggest_titles(conn, &viewer, &filter, &query, room * 3)?;
        for (id, kind, title) in titles {
            // One line per title (many resources share a title).
            if out.len() >= usize::try_from(SUGGEST_MAX).unwrap_or(10)
                || !seen.insert(title.to_lowercase())
            {
                continue;
            }
            out.push(Suggestion {
                kind_of: "title",
                text: title,
                id: Some(id),
                kind: Some(kind),
                count: None,
            });
        }
    }
    Ok(out)
}
