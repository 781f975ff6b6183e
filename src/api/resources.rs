//! The catalogue: `/courses`, `/datasets`, `/model-cards` (one core, three
//! kinds), the cross-kind `/resources` search and datasets' files.
//!
//! A resource is edited as one JSON document (`domain::resource`): `POST`
//! validates the body, `PATCH` merges the body into the current document
//! (RFC 7396) and validates the result with the same rules. Every access
//! question goes to `domain::policy`; every change runs in one write
//! transaction with its audit event, under the resource's row lock.

use std::collections::{HashMap, HashSet};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::api::types::utc;
use crate::app::resources::{
    details_of, facts, incomplete, load, parse_kind, read_only, status_of, visible,
};
use crate::auth::{MaybePrincipal, Principal};
use crate::db::audit::{self, Context};
use crate::db::institutions as institutions_store;
use crate::db::resources::{
    self as store, After, Content, FileRow, Loaded, ResourceRow, Sort, Viewer,
};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::policy::{self, Action, Actor, InstitutionFacts, InstitutionRole};
use crate::domain::resource::{
    self as doc, AccessLevel, CourseFields, DatasetFields, Details, Document, Link,
    ModelCardFields, ResourceKind, RiskTier, Status, Visibility,
};
use crate::domain::{CountryCode, LanguageTag};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
use crate::problem_types::ProblemType;

/// Files a dataset may list.
pub const FILES_MAX: i64 = 1000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get = crate::api::get;
    cfg.service(web::resource("/resources").route(get().to(list_all)));
    courses::routes(cfg);
    datasets::routes(cfg);
    model_cards::routes(cfg);
    cfg.service(
        web::resource("/datasets/{id}/files")
            .route(get().to(list_files))
            .route(web::post().to(add_file)),
    )
    .service(web::resource("/datasets/{id}/files/{file_id}").route(web::delete().to(delete_file)));
}

// ----- representations -------------------------------------------------------

/// The fields every resource has.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResourceCore {
    #[schema(format = "uuid")]
    pub id: String,
    pub kind: ResourceKind,
    /// The owning institution's slug.
    pub institution: String,
    pub title: String,
    pub summary: String,
    /// Markdown.
    pub description: String,
    #[schema(value_type = Option<crate::api::vocab::Licence>)]
    pub license: Option<String>,
    #[schema(value_type = Vec<crate::api::vocab::Language>)]
    pub languages: Vec<String>,
    /// Target countries.
    #[schema(value_type = Vec<crate::api::vocab::Country>)]
    pub countries: Vec<String>,
    pub tags: Vec<String>,
    pub visibility: Visibility,
    pub status: Status,
    /// Goes up by one with every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    /// Links to other resources (those you may see).
    pub related: Vec<Link>,
    /// Links from other resources to this one (those you may see); single
    /// reads only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_from: Option<Vec<Link>>,
}

/// A course.
#[derive(Debug, Serialize, ToSchema)]
pub struct Course {
    #[serde(flatten)]
    pub core: ResourceCore,
    #[serde(flatten)]
    pub fields: CourseFields,
}

/// A dataset (fields after *Datasheets for Datasets* and MLCommons Croissant).
#[derive(Debug, Serialize, ToSchema)]
pub struct Dataset {
    #[serde(flatten)]
    pub core: ResourceCore,
    #[serde(flatten)]
    pub fields: DatasetFields,
}

/// A model card (after *Model Cards for Model Reporting*).
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelCard {
    #[serde(flatten)]
    pub core: ResourceCore,
    #[serde(flatten)]
    pub fields: ModelCardFields,
}

/// Any resource (see `kind`). Documented as `anyOf`: the kinds share
/// their core and their own fields are all optional, so an object can match
/// several of the schemas (`oneOf` would reject it).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AnyResource {
    Course(Course),
    Dataset(Dataset),
    ModelCard(ModelCard),
}

impl utoipa::PartialSchema for AnyResource {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::Ref;
        use utoipa::openapi::schema::{AnyOfBuilder, Schema};
        Schema::AnyOf(
            AnyOfBuilder::new()
                .item(Ref::from_schema_name("Course"))
                .item(Ref::from_schema_name("Dataset"))
                .item(Ref::from_schema_name("ModelCard"))
                .description(Some("A course, dataset or model card (see `kind`)."))
                .build(),
        )
        .into()
    }
}

impl ToSchema for AnyResource {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push(("Course".into(), Course::schema()));
        schemas.push(("Dataset".into(), Dataset::schema()));
        schemas.push(("ModelCard".into(), ModelCard::schema()));
        <Course as ToSchema>::schemas(schemas);
        <Dataset as ToSchema>::schemas(schemas);
        <ModelCard as ToSchema>::schemas(schemas);
    }
}

/// One page of resources.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePage {
    /// With `fields`, each item carries only the fields named (and `id`, `kind`).
    pub items: Vec<AnyResource>,
    pub next_cursor: Option<String>,
}

/// Fields of a new resource every kind accepts (a PATCH takes the same,
/// all optional, `null` clearing one; `institution` is fixed at creation).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewResourceCore {
    /// Slug of the institution that will own it (you must be its editor or owner).
    pub institution: String,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[schema(max_length = 500)]
    pub summary: Option<String>,
    /// Markdown.
    #[schema(max_length = 50000)]
    pub description: Option<String>,
    #[schema(value_type = Option<crate::api::vocab::Licence>)]
    pub license: Option<String>,
    #[schema(value_type = Option<Vec<crate::api::vocab::Language>>, max_items = 20)]
    pub languages: Option<Vec<String>>,
    /// Target countries.
    #[schema(value_type = Option<Vec<crate::api::vocab::Country>>, max_items = 250)]
    pub countries: Option<Vec<String>>,
    #[schema(max_items = 30)]
    pub tags: Option<Vec<String>>,
    /// Default `public` (takes effect once published).
    pub visibility: Option<Visibility>,
    /// Links to resources you may see.
    #[schema(max_items = 100)]
    pub related: Option<Vec<Link>>,
}

/// The core fields of a PATCH (RFC 7396 merge patch: `null` clears a
/// field; `visibility` can be changed, never cleared).
#[derive(Debug, ToSchema)]
pub struct ResourcePatchCore {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(max_length = 500)]
    pub summary: Option<String>,
    #[schema(max_length = 50000)]
    pub description: Option<String>,
    #[schema(value_type = Option<crate::api::vocab::Licence>)]
    pub license: Option<String>,
    #[schema(value_type = Option<Vec<crate::api::vocab::Language>>, max_items = 20)]
    pub languages: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<crate::api::vocab::Country>>, max_items = 250)]
    pub countries: Option<Vec<String>>,
    #[schema(max_items = 30)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub visibility: Visibility,
    /// Replaces every link.
    #[schema(max_items = 100)]
    pub related: Option<Vec<Link>>,
}

macro_rules! bodies {
    ($new:ident, $patch:ident, $fields:ty, $patch_fields:ty, $what:literal) => {
        #[doc = concat!("A new ", $what, ".")]
        #[derive(Debug, Deserialize, ToSchema)]
        pub struct $new {
            #[serde(flatten)]
            pub core: NewResourceCore,
            #[serde(flatten)]
            pub fields: $fields,
        }

        #[doc = concat!("Changes to a ", $what, " (JSON merge patch).")]
        #[derive(Debug, ToSchema)]
        pub struct $patch {
            #[serde(flatten)]
            pub core: ResourcePatchCore,
            #[serde(flatten)]
            pub fields: $patch_fields,
        }
    };
}
bodies!(
    NewCourse,
    CoursePatch,
    CourseFields,
    CourseFieldsPatch,
    "course"
);
bodies!(
    NewDataset,
    DatasetPatch,
    DatasetFields,
    DatasetFieldsPatch,
    "dataset"
);
bodies!(
    NewModelCard,
    ModelCardPatch,
    ModelCardFields,
    ModelCardFieldsPatch,
    "model card"
);

// The kinds' own fields in a PATCH: each may be `null` (back to its default).
// Schema only: the body is read by `domain::resource::validate`.

/// A course's own fields in a PATCH.
#[derive(Debug, ToSchema)]
pub struct CourseFieldsPatch {
    pub level: Option<doc::CourseLevel>,
    pub delivery: Option<doc::Delivery>,
    #[schema(minimum = 0)]
    pub duration_hours: Option<f64>,
    pub prerequisites: Option<String>,
    pub offline_package_url: Option<String>,
    #[schema(minimum = 0)]
    pub offline_package_bytes: Option<i64>,
}

/// A dataset's own fields in a PATCH (`access_level`, `transfer_policy`
/// and `contains_personal_data` can be changed, never cleared).
#[derive(Debug, ToSchema)]
pub struct DatasetFieldsPatch {
    #[serde(default)]
    pub access_level: AccessLevel,
    #[schema(value_type = Option<crate::api::vocab::Country>)]
    pub origin_country: Option<String>,
    #[serde(default)]
    pub transfer_policy: doc::TransferPolicy,
    #[schema(value_type = Option<Vec<crate::api::vocab::Country>>)]
    pub allowed_countries: Option<Vec<String>>,
    #[serde(default)]
    pub contains_personal_data: bool,
    #[schema(minimum = 0)]
    pub record_count: Option<i64>,
    #[schema(minimum = 0)]
    pub size_bytes: Option<i64>,
    pub formats: Option<Vec<String>>,
    /// Merged: a section set to `null` is cleared.
    pub datasheet: Option<doc::Datasheet>,
}

/// A model card's own fields in a PATCH.
#[derive(Debug, ToSchema)]
pub struct ModelCardFieldsPatch {
    pub risk_tier: Option<RiskTier>,
    pub model_type: Option<String>,
    pub architecture: Option<String>,
    pub base_model: Option<String>,
    pub task: Option<String>,
    pub intended_uses: Option<String>,
    pub out_of_scope_uses: Option<String>,
    pub factors: Option<String>,
    pub metrics: Option<String>,
    pub training_data: Option<String>,
    pub evaluation_data: Option<String>,
    pub ethical_considerations: Option<String>,
    pub caveats: Option<String>,
    pub environmental_impact: Option<String>,
    /// Replaces every result.
    pub results: Option<Vec<doc::ResultRow>>,
}

fn json_list(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

/// The stored document (links unfiltered): what a PATCH merges into.
fn document_of(row: &ResourceRow, links: Vec<Link>) -> Result<Document, ApiError> {
    Ok(Document {
        core: doc::Core {
            title: row.title.clone(),
            summary: row.summary.clone(),
            description: row.description.clone(),
            license: row.license.clone(),
            languages: json_list(&row.languages),
            countries: json_list(&row.countries),
            tags: json_list(&row.tags),
            visibility: Visibility::parse(&row.visibility).unwrap_or(Visibility::Institution),
            related: links,
        },
        details: details_of(row)?,
    })
}

fn links_of(rows: &[(String, String, String)], source: &str) -> Vec<Link> {
    rows.iter()
        .filter(|(s, _, _)| s == source)
        .filter_map(|(_, relation, target)| {
            Some(Link {
                relation: doc::Relation::parse(relation)?,
                resource_id: target.clone(),
            })
        })
        .collect()
}

/// The JSON representations of `items` as `actor` sees them: links to and
/// (with `reverse`) from resources they may not see are left out.
fn represent(
    conn: &mut DbConnection,
    items: &[Loaded],
    viewer: &Viewer,
    actor: &Actor,
    reverse: bool,
) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<String> = items.iter().map(|l| l.row.id.clone()).collect();
    let relations = store::relations_of(conn, &ids)?;
    let mut others: Vec<String> = relations.iter().map(|(_, _, t)| t.clone()).collect();
    // Datasets named by model card results: shown only to who may see them.
    let mut details = Vec::with_capacity(items.len());
    for l in items {
        let d = details_of(&l.row)?;
        if let Details::ModelCard(m) = &d {
            others.extend(m.results.iter().filter_map(|r| r.dataset_id.clone()));
        }
        details.push(d);
    }
    let incoming = match (reverse, items.first()) {
        (true, Some(first)) => store::relations_to(conn, &first.row.id)?,
        _ => Vec::new(),
    };
    others.extend(incoming.iter().map(|(_, s)| s.clone()));
    others.sort_unstable();
    others.dedup();
    let seen: HashSet<String> = store::by_ids(conn, &others)?
        .into_iter()
        .filter(|l| visible(actor, l, viewer))
        .map(|l| l.row.id)
        .collect();
    let mut out = Vec::with_capacity(items.len());
    for (l, d) in items.iter().zip(details) {
        let row = &l.row;
        let related = links_of(&relations, &row.id)
            .into_iter()
            .filter(|k| seen.contains(&k.resource_id))
            .collect();
        let related_from = reverse.then(|| {
            incoming
                .iter()
                .filter(|(_, s)| seen.contains(s))
                .filter_map(|(relation, source)| {
                    Some(Link {
                        relation: doc::Relation::parse(relation)?,
                        resource_id: source.clone(),
                    })
                })
                .collect()
        });
        let core = ResourceCore {
            id: row.id.clone(),
            kind: parse_kind(row),
            institution: l.institution_slug.clone(),
            title: row.title.clone(),
            summary: row.summary.clone(),
            description: row.description.clone(),
            license: row.license.clone(),
            languages: json_list(&row.languages),
            countries: json_list(&row.countries),
            tags: json_list(&row.tags),
            visibility: Visibility::parse(&row.visibility).unwrap_or(Visibility::Institution),
            status: status_of(row),
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            published_at: row.published_at.map(utc),
            archived_at: row.archived_at.map(utc),
            related,
            related_from,
        };
        let mut value = serde_json::to_value(&core).map_err(ApiError::internal)?;
        let d = match d {
            Details::ModelCard(mut m) => {
                for r in &mut m.results {
                    if r.dataset_id.as_ref().is_some_and(|id| !seen.contains(id)) {
                        r.dataset_id = None;
                    }
                }
                Details::ModelCard(m)
            }
            other => other,
        };
        if let (Value::Object(map), Value::Object(fields)) = (&mut value, d.to_json()) {
            map.extend(fields);
        }
        out.push(value);
    }
    Ok(out)
}

fn represent_one(
    conn: &mut DbConnection,
    l: &Loaded,
    viewer: &Viewer,
    actor: &Actor,
) -> Result<Value, ApiError> {
    represent(conn, std::slice::from_ref(l), viewer, actor, true)?
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no representation")))
}

/// A path id that is not a UUID names nothing.
pub(crate) fn path_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound)
}

// ----- writing ---------------------------------------------------------------------

fn content_of(d: &Document) -> Content {
    let list = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    Content {
        title_lower: d.core.title.to_lowercase(),
        title: d.core.title.clone(),
        summary: d.core.summary.clone(),
        description: d.core.description.clone(),
        license: d.core.license.clone(),
        languages: list(&d.core.languages),
        countries: list(&d.core.countries),
        tags: list(&d.core.tags),
        search_text: doc::search_text(&d.core),
        visibility: d.core.visibility.as_str().into(),
        access_level: d.details.access_level().map(|a| a.as_str().into()),
        risk_tier: d.details.risk_tier().map(|r| r.as_str().into()),
        details: d.details.to_json().to_string(),
    }
}

/// Checks the links a document adds: each new target must be a resource the
/// caller may see (404 otherwise) of a kind the relation allows; a model
/// card's results may name platform datasets the caller may see.
fn check_links(
    conn: &mut DbConnection,
    viewer: &Viewer,
    actor: &Actor,
    source_id: Option<&str>,
    d: &Document,
    before: Option<&Document>,
) -> Result<(), ApiError> {
    let old_links: &[Link] = before.map_or(&[], |b| &b.core.related);
    let new_links: Vec<(usize, &Link)> = d
        .core
        .related
        .iter()
        .enumerate()
        .filter(|(_, k)| !old_links.contains(k))
        .collect();
    let old_datasets: HashSet<&str> = match before.map(|b| &b.details) {
        Some(Details::ModelCard(m)) => m
            .results
            .iter()
            .filter_map(|r| r.dataset_id.as_deref())
            .collect(),
        _ => HashSet::new(),
    };
    let new_datasets: Vec<(usize, &str)> = match &d.details {
        Details::ModelCard(m) => m
            .results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.dataset_id.as_deref().map(|id| (i, id)))
            .filter(|(_, id)| !old_datasets.contains(id))
            .collect(),
        _ => Vec::new(),
    };
    let mut ids: Vec<String> = new_links
        .iter()
        .map(|(_, k)| k.resource_id.clone())
        .chain(new_datasets.iter().map(|(_, id)| (*id).to_string()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let found: HashMap<String, Loaded> = store::by_ids(conn, &ids)?
        .into_iter()
        .filter(|l| visible(actor, l, viewer))
        .map(|l| (l.row.id.clone(), l))
        .collect();
    let mut errors = Vec::new();
    let kind = d.details.kind();
    for (i, link) in &new_links {
        if Some(link.resource_id.as_str()) == source_id {
            errors.push(FieldError::new(
                format!("related[{i}].resource_id"),
                "A resource cannot link to itself.",
            ));
            continue;
        }
        let Some(target) = found.get(&link.resource_id) else {
            return Err(ApiError::NotFoundNamed(format!(
                "related[{i}]: there is no resource {} that you can see.",
                link.resource_id
            )));
        };
        if !link.relation.allows(kind, parse_kind(&target.row)) {
            errors.push(FieldError::new(
                format!("related[{i}].relation"),
                format!("`{}` {}.", link.relation.as_str(), link.relation.rule()),
            ));
        }
    }
    for (i, id) in new_datasets {
        let ok = found
            .get(id)
            .is_some_and(|l| parse_kind(&l.row) == ResourceKind::Dataset);
        if !ok {
            errors.push(FieldError::new(
                format!("results[{i}].dataset_id"),
                "There is no dataset with this id that you can see.",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

fn relation_pairs(d: &Document) -> Vec<(String, String)> {
    d.core
        .related
        .iter()
        .map(|k| (k.relation.as_str().to_string(), k.resource_id.clone()))
        .collect()
}

fn audit_detail(l: &ResourceRow) -> Value {
    json!({"kind": l.kind, "title": l.title, "institution_id": l.institution_id})
}

// ----- handlers shared by the three kinds ---------------------------------------

async fn create(
    kind: ResourceKind,
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    mut body: Map<String, Value>,
) -> Result<HttpResponse, ApiError> {
    let slug = match body.remove("institution") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => s.trim().to_string(),
        _ => {
            // Name every other bad field too (no institution: no default country).
            let mut errors = vec![FieldError::new(
                "institution",
                "Required: the slug of an institution you edit for.",
            )];
            if let Err(more) = doc::validate(kind, body, "") {
                errors.extend(more);
            }
            return Err(ApiError::validation(errors));
        }
    };
    let ctx = Context::new(Some(&principal.user.id));
    let value = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let act = Principal::actor_of(Some(&principal));
                let inst = institutions_store::by_slug(conn, &slug)?;
                let viewer = Viewer::load(conn, Some(&principal.user.id), principal.is_admin())?;
                let inst = inst
                    .filter(|i| {
                        policy::may(
                            &act,
                            Action::ViewInstitution(InstitutionFacts {
                                verified: i.verified,
                                caller_role: viewer.role_in(&i.id).and_then(InstitutionRole::parse),
                            }),
                        ) == policy::Decision::Allow
                    })
                    .ok_or_else(|| {
                        ApiError::NotFoundNamed(format!(
                            "There is no institution `{slug}` that you can see."
                        ))
                    })?;
                policy::enforce(policy::may(
                    &act,
                    Action::CreateResource(InstitutionFacts {
                        verified: inst.verified,
                        caller_role: viewer.role_in(&inst.id).and_then(InstitutionRole::parse),
                    }),
                ))?;
                let d = doc::validate(kind, body, &inst.country).map_err(ApiError::validation)?;
                let id = uuid::Uuid::now_v7().to_string();
                check_links(conn, &viewer, &act, Some(&id), &d, None)?;
                let c = content_of(&d);
                let now = now();
                let row = ResourceRow {
                    id: id.clone(),
                    kind: kind.as_str().into(),
                    institution_id: inst.id.clone(),
                    title: c.title,
                    title_lower: c.title_lower,
                    summary: c.summary,
                    description: c.description,
                    license: c.license,
                    languages: c.languages,
                    countries: c.countries,
                    tags: c.tags,
                    search_text: c.search_text,
                    visibility: c.visibility,
                    status: Status::Draft.as_str().into(),
                    version: 1,
                    access_level: c.access_level,
                    risk_tier: c.risk_tier,
                    details: c.details,
                    created_by: Some(principal.user.id.clone()),
                    created_at: now,
                    updated_at: now,
                    published_at: None,
                    archived_at: None,
                    listed_at: now,
                };
                store::insert(conn, &row)?;
                store::replace_terms(conn, &id, &doc::terms(&d.core))?;
                store::replace_relations(conn, &id, &relation_pairs(&d))?;
                audit::record(
                    conn,
                    &ctx,
                    "resource.created",
                    "resource",
                    &id,
                    json!({"kind": kind.as_str(), "title": row.title, "institution": inst.slug,
                           "visibility": row.visibility}),
                )?;
                let l = store::by_id(conn, &id)?.ok_or(ApiError::NotFound)?;
                represent_one(conn, &l, &viewer, &act)
            })
        })
        .await?;
    let id = value["id"].as_str().unwrap_or_default().to_string();
    let mut res = etag::respond_with_status(&req, StatusCode::CREATED, &value)?;
    res.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/{}/{id}", kind.collection()))
            .map_err(ApiError::internal)?,
    );
    Ok(res)
}

async fn show(
    kind: ResourceKind,
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Option<Principal>,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let value = db
        .run(move |conn| {
            let (l, viewer) = load(conn, kind, &id, principal.as_ref())?;
            let act = Principal::actor_of(principal.as_ref());
            policy::enforce(policy::may(&act, Action::ViewResource(facts(&l, &viewer))))?;
            represent_one(conn, &l, &viewer, &act)
        })
        .await?;
    etag::respond(&req, &value)
}

async fn update(
    kind: ResourceKind,
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: String,
    patch: Map<String, Value>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let ctx = Context::new(Some(&principal.user.id));
    let request = etag::if_match(&req);
    let value = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !store::lock(conn, &id)? {
                    return Err(ApiError::NotFound);
                }
                let (l, viewer) = load(conn, kind, &id, Some(&principal))?;
                let act = Principal::actor_of(Some(&principal));
                policy::enforce(policy::may(&act, Action::EditResource(facts(&l, &viewer))))?;
                let status = status_of(&l.row);
                if status == Status::Archived {
                    return Err(read_only());
                }
                let cleared: Vec<FieldError> = doc::NOT_CLEARABLE
                    .iter()
                    .filter(|k| patch.get(**k).is_some_and(Value::is_null))
                    .map(|k| FieldError::new(*k, "This cannot be cleared; set a value."))
                    .collect();
                if !cleared.is_empty() {
                    return Err(ApiError::validation(cleared));
                }
                let links = links_of(&store::relations_of(conn, std::slice::from_ref(&id))?, &id);
                let before = document_of(&l.row, links)?;
                let mut merged = Value::Object(before.to_map());
                doc::merge_patch(&mut merged, Value::Object(patch));
                let Value::Object(merged) = merged else {
                    return Err(ApiError::internal(anyhow::anyhow!("patch result not an object")));
                };
                let d = doc::validate(kind, merged, &l.institution_country)
                    .map_err(ApiError::validation)?;
                check_links(conn, &viewer, &act, Some(&id), &d, Some(&before))?;
                let (was, is) = (before.to_map(), d.to_map());
                // A dataset's terms, and who can see it at all (widening the
                // visibility of open data hands out its files).
                let terms_changed = doc::DATA_TERMS.iter().any(|k| was.get(*k) != is.get(*k))
                    || (kind == ResourceKind::Dataset && was.get("visibility") != is.get("visibility"));
                if terms_changed {
                    policy::enforce(policy::may(&act, Action::SetDataTerms(facts(&l, &viewer))))?;
                }
                if status == Status::Published {
                    let gaps =
                        doc::publication_gaps(&d, crate::db::learning::count_modules(conn, &id)?);
                    if !gaps.is_empty() {
                        return Err(incomplete(gaps));
                    }
                }
                // Checked last: a bad body is a 400 whatever version it names.
                let current = represent_one(conn, &l, &viewer, &act)?;
                etag::check_if_match_value(request.as_deref(), &etag::etag_of_json(&current)?)?;
                store::update_content(conn, &id, &content_of(&d), now())?;
                store::replace_terms(conn, &id, &doc::terms(&d.core))?;
                if d.core.related != before.core.related {
                    store::replace_relations(conn, &id, &relation_pairs(&d))?;
                }
                let changed: Vec<&str> = {
                    let (a, b) = (before.to_map(), d.to_map());
                    let mut keys: Vec<&str> = a
                        .keys()
                        .chain(b.keys())
                        .filter(|k| a.get(*k) != b.get(*k))
                        .map(String::as_str)
                        .collect();
                    keys.sort_unstable();
                    keys.dedup();
                    keys.into_iter()
                        .filter_map(|k| doc::CORE_FIELDS.iter().chain(doc::kind_fields(kind)).find(|f| **f == k).copied())
                        .collect()
                };
                audit::record(
                    conn,
                    &ctx,
                    "resource.updated",
                    "resource",
                    &id,
                    json!({"kind": kind.as_str(), "changed": changed, "version": l.row.version + 1}),
                )?;
                if d.core.visibility != before.core.visibility {
                    audit::record(
                        conn,
                        &ctx,
                        "resource.visibility_changed",
                        "resource",
                        &id,
                        json!({"kind": kind.as_str(), "from": before.core.visibility.as_str(),
                               "to": d.core.visibility.as_str()}),
                    )?;
                }
                let l = store::by_id(conn, &id)?.ok_or(ApiError::NotFound)?;
                represent_one(conn, &l, &viewer, &act)
            })
        })
        .await?;
    etag::respond(&req, &value)
}

async fn delete(
    kind: ResourceKind,
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let ctx = Context::new(Some(&principal.user.id));
    let request = etag::if_match(&req);
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            if !store::lock(conn, &id)? {
                return Err(ApiError::NotFound);
            }
            let (l, viewer) = load(conn, kind, &id, Some(&principal))?;
            let act = Principal::actor_of(Some(&principal));
            policy::enforce(policy::may(&act, Action::EditResource(facts(&l, &viewer))))?;
            let current = represent_one(conn, &l, &viewer, &act)?;
            etag::check_if_match_value(request.as_deref(), &etag::etag_of_json(&current)?)?;
            if status_of(&l.row) != Status::Draft {
                return Err(ApiError::Conflict {
                    problem: ProblemType::ResourcePublished,
                    detail: format!(
                        "Only drafts can be deleted; archive this one with POST /api/v1/{}/{id}/archive.",
                        kind.collection()
                    ),
                });
            }
            audit::record(conn, &ctx, "resource.deleted", "resource", &id, audit_detail(&l.row))?;
            store::delete(conn, &id)?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transition {
    Publish,
    Archive,
}

async fn transition(
    kind: ResourceKind,
    to: Transition,
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let ctx = Context::new(Some(&principal.user.id));
    let request = etag::if_match(&req);
    let value = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !store::lock(conn, &id)? {
                    return Err(ApiError::NotFound);
                }
                let (l, viewer) = load(conn, kind, &id, Some(&principal))?;
                let act = Principal::actor_of(Some(&principal));
                let f = facts(&l, &viewer);
                let action = match to {
                    Transition::Publish => Action::PublishResource(f),
                    Transition::Archive => Action::EditResource(f),
                };
                policy::enforce(policy::may(&act, action))?;
                let current = represent_one(conn, &l, &viewer, &act)?;
                etag::check_if_match_value(request.as_deref(), &etag::etag_of_json(&current)?)?;
                let (from, target, event) = match to {
                    Transition::Publish => (Status::Draft, Status::Published, "resource.published"),
                    Transition::Archive => (Status::Published, Status::Archived, "resource.archived"),
                };
                let status = status_of(&l.row);
                if status != from {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::InvalidTransition,
                        detail: format!(
                            "A {} resource cannot be {}; resources go draft → published → archived.",
                            status.as_str(),
                            target.as_str()
                        ),
                    });
                }
                if to == Transition::Publish {
                    let links = links_of(&store::relations_of(conn, std::slice::from_ref(&id))?, &id);
                    let modules = crate::db::learning::count_modules(conn, &id)?;
                    let gaps = doc::publication_gaps(&document_of(&l.row, links)?, modules);
                    if !gaps.is_empty() {
                        return Err(incomplete(gaps));
                    }
                }
                if !store::set_status(conn, &id, from.as_str(), target.as_str(), now())? {
                    return Err(ApiError::internal(anyhow::anyhow!("status changed under lock")));
                }
                let mut detail = audit_detail(&l.row);
                detail["visibility"] = json!(l.row.visibility);
                audit::record(conn, &ctx, event, "resource", &id, detail)?;
                let l = store::by_id(conn, &id)?.ok_or(ApiError::NotFound)?;
                represent_one(conn, &l, &viewer, &act)
            })
        })
        .await?;
    etag::respond(&req, &value)
}

// ----- lists ---------------------------------------------------------------------

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
}

/// Filters of the resource lists (`kind`, `risk_tier` and `access_level`
/// match only resources that have them).
#[derive(Debug, Deserialize, IntoParams)]
pub struct ResourceFilter {
    /// Owning institution's slug.
    pub institution: Option<String>,
    /// A language; `sw` also matches `sw-KE`.
    #[param(value_type = Option<crate::api::vocab::Language>)]
    pub language: Option<String>,
    /// A target country.
    #[param(value_type = Option<crate::api::vocab::Country>)]
    pub country: Option<String>,
    pub tag: Option<String>,
    #[param(value_type = Option<crate::api::vocab::Licence>)]
    pub license: Option<String>,
    /// Default `published`; `draft` lists the drafts of institutions you edit for.
    pub status: Option<Status>,
    /// `/resources` only in practice: one kind.
    pub kind: Option<ResourceKind>,
    /// Model cards.
    pub risk_tier: Option<RiskTier>,
    /// Datasets.
    pub access_level: Option<AccessLevel>,
    /// Case-insensitive match on title, summary and tags.
    pub q: Option<String>,
    /// `-published_at` (newest first, the default), `published_at`, `title` or `-title`.
    pub sort: Option<SortParam>,
    /// Comma-separated top-level fields to return (`id` and `kind` always come).
    pub fields: Option<String>,
}

fn page_key(sort: Sort, l: &Loaded) -> (Sort, After) {
    let after = match sort {
        Sort::NewestFirst | Sort::OldestFirst => After::Time(l.row.listed_at, l.row.id.clone()),
        Sort::Title | Sort::TitleDesc => After::Title(l.row.title_lower.clone(), l.row.id.clone()),
    };
    (sort, after)
}

fn field_set(
    kind: Option<ResourceKind>,
    raw: Option<&str>,
) -> Result<Option<HashSet<String>>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let kinds: Vec<ResourceKind> = match kind {
        Some(k) => vec![k],
        None => ResourceKind::ALL.to_vec(),
    };
    let known = |f: &str| {
        doc::CORE_FIELDS.contains(&f)
            || doc::READ_ONLY_FIELDS.contains(&f) && f != "related_from"
            || kinds.iter().any(|k| doc::kind_fields(*k).contains(&f))
    };
    let mut set: HashSet<String> = ["id", "kind"].iter().map(|s| (*s).to_string()).collect();
    for f in raw.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        if !known(f) {
            return Err(ApiError::field(
                "fields",
                format!("`{f}` is not a field of these resources."),
            ));
        }
        set.insert(f.to_string());
    }
    Ok(Some(set))
}

async fn list(
    kind: Option<ResourceKind>,
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Option<Principal>,
    page: PageQuery,
    filter: ResourceFilter,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(Sort, After)>()?;
    let sort = match filter.sort.unwrap_or(SortParam::NewestFirst) {
        SortParam::NewestFirst => Sort::NewestFirst,
        SortParam::OldestFirst => Sort::OldestFirst,
        SortParam::Title => Sort::Title,
        SortParam::TitleDesc => Sort::TitleDesc,
    };
    let after = match page.after.clone() {
        Some((s, a)) if s == sort => Some(a),
        Some(_) => {
            return Err(ApiError::field(
                "cursor",
                "This cursor belongs to another sort order.",
            ));
        }
        None => None,
    };
    let mut errors = Vec::new();
    let language = filter
        .language
        .as_deref()
        .map(LanguageTag::parse)
        .transpose()
        .map_err(|m| errors.push(FieldError::new("language", m)))
        .ok()
        .flatten();
    let country = filter
        .country
        .as_deref()
        .map(CountryCode::parse)
        .transpose()
        .map_err(|m| errors.push(FieldError::new("country", m)))
        .ok()
        .flatten();
    let license = filter
        .license
        .as_deref()
        .map(doc::check_license)
        .transpose()
        .map_err(|m| errors.push(FieldError::new("license", m)))
        .ok()
        .flatten();
    let q = filter
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        errors.push(FieldError::new("q", "At most 200 characters."));
    }
    let tag = filter
        .tag
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if tag.is_some_and(|t| t.chars().count() > doc::TAG_MAX) {
        errors.push(FieldError::new("tag", "At most 50 characters."));
    }
    if filter.institution.as_ref().is_some_and(|s| s.len() > 64) {
        errors.push(FieldError::new("institution", "At most 64 characters."));
    }
    let fields = field_set(kind.or(filter.kind), filter.fields.as_deref())
        .map_err(|e| {
            if let ApiError::Validation { errors: e, .. } = e {
                errors.extend(e);
            }
        })
        .ok()
        .flatten();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let kind_filter = match (kind, filter.kind) {
        (Some(k), Some(f)) if k != f => {
            return Ok(Paginated::<Value> {
                items: Vec::new(),
                next_cursor: None,
            }
            .respond(&req));
        }
        (Some(k), _) | (None, Some(k)) => Some(k),
        (None, None) => None,
    };
    let f = store::Filter {
        kind: kind_filter.map(|k| k.as_str().into()),
        institution: filter.institution.clone(),
        language: language.map(|l| l.as_str().to_string()),
        country: country.map(|c| c.as_str().to_string()),
        tag: tag.map(str::to_string),
        license,
        status: filter.status.unwrap_or(Status::Published).as_str().into(),
        risk_tier: filter.risk_tier.map(|r| r.as_str().into()),
        access_level: filter.access_level.map(|a| a.as_str().into()),
        q,
    };
    let limit = page.fetch_limit();
    let (rows, values) = db
        .run(move |conn| {
            let viewer = Viewer::load(
                conn,
                principal.as_ref().map(|p| p.user.id.as_str()),
                principal.as_ref().is_some_and(Principal::is_admin),
            )?;
            let rows = store::list(conn, &viewer, &f, sort, after, limit)?;
            let act = Principal::actor_of(principal.as_ref());
            let values = represent(conn, &rows, &viewer, &act, false)?;
            Ok::<_, ApiError>((rows, values))
        })
        .await?;
    let keys: Vec<(Sort, After)> = rows.iter().map(|l| page_key(sort, l)).collect();
    let items: Vec<(Value, (Sort, After))> = values.into_iter().zip(keys).collect();
    let paginated = Paginated::from_rows(items, &page, |(_, k)| k.clone()).map(|(mut v, _)| {
        if let (Some(keep), Value::Object(map)) = (&fields, &mut v) {
            map.retain(|k, _| keep.contains(k));
        }
        v
    });
    Ok(paginated.respond(&req))
}

/// Search every kind at once.
#[utoipa::path(get, path = "/api/v1/resources", tag = "resources",
    params(PageQuery, ResourceFilter),
    responses(
        (status = 200, description = "One page of what you may see", body = ResourcePage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_all(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<ResourceFilter>,
) -> Result<HttpResponse, ApiError> {
    list(None, req, db, principal, page, filter).await
}

/// Generates the documented handlers of one kind.
macro_rules! kind_endpoints {
    (
        $module:ident, $kind:expr, $tag:literal,
        $coll:literal, $item:literal, $publish:literal, $archive:literal,
        $body:ty, $new:ty, $patch:ty, $what:literal
    ) => {
        pub mod $module {
            use super::*;

            pub fn routes(cfg: &mut web::ServiceConfig) {
                let get = crate::api::get;
                let base = concat!("/", $tag);
                cfg.service(
                    web::resource(base)
                        .route(get().to(list))
                        .route(web::post().to(create)),
                )
                .service(
                    web::resource(concat!("/", $tag, "/{id}"))
                        .route(get().to(show))
                        .route(web::patch().to(update))
                        .route(web::delete().to(delete)),
                )
                .service(web::resource(concat!("/", $tag, "/{id}/publish")).route(web::post().to(publish)))
                .service(web::resource(concat!("/", $tag, "/{id}/archive")).route(web::post().to(archive)));
            }

            #[doc = concat!("List ", $what, "s you may see.")]
            #[utoipa::path(get, path = $coll, tag = "resources", operation_id = concat!("list_", stringify!($module)),
                params(PageQuery, ResourceFilter),
                responses(
                    (status = 200, description = "One page", body = ResourcePage),
                    (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn list(
                req: HttpRequest,
                db: web::Data<Db>,
                MaybePrincipal(principal): MaybePrincipal,
                Query(page): Query<PageQuery>,
                Query(filter): Query<ResourceFilter>,
            ) -> Result<HttpResponse, ApiError> {
                super::list(Some($kind), req, db, principal, page, filter).await
            }

            #[doc = concat!("Create a draft ", $what, " (editors and owners of the institution).")]
            #[utoipa::path(post, path = $coll, tag = "resources", operation_id = concat!("create_", stringify!($module)), security(("bearer" = [])),
                request_body = $new,
                responses(
                    (status = 201, description = "Created, as a draft", body = $body),
                    (status = 400, description = "Invalid fields (one entry per field)", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "You do not edit for this institution", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such institution, or a linked resource you cannot see", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn create(
                req: HttpRequest,
                db: web::Data<Db>,
                principal: Principal,
                Json(body): Json<Map<String, Value>>,
            ) -> Result<HttpResponse, ApiError> {
                super::create($kind, req, db, principal, body).await
            }

            #[doc = concat!("One ", $what, ".")]
            #[utoipa::path(get, path = $item, tag = "resources", operation_id = concat!("show_", stringify!($module)),
                params(("id" = String, Path, description = "Resource id")),
                responses(
                    (status = 200, description = "The resource", body = $body, headers(("ETag" = String, description = "Strong validator"))),
                    (status = 304, description = "Not modified"),
                    (status = 404, description = "No such resource (or not visible to you)", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn show(
                req: HttpRequest,
                db: web::Data<Db>,
                MaybePrincipal(principal): MaybePrincipal,
                path: web::Path<String>,
            ) -> Result<HttpResponse, ApiError> {
                super::show($kind, req, db, principal, path.into_inner()).await
            }

            #[doc = concat!("Change a ", $what, " (JSON merge patch; editors and owners). The version goes up by one.")]
            #[utoipa::path(patch, path = $item, tag = "resources", operation_id = concat!("update_", stringify!($module)), security(("bearer" = [])),
                params(("id" = String, Path, description = "Resource id"),
                       ("If-Match" = Option<String>, Header, description = "ETag you edited")),
                request_body = $patch,
                responses(
                    (status = 200, description = "Updated", body = $body),
                    (status = 400, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Archived resources are read-only", body = Problem, content_type = "application/problem+json"),
                    (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
                    (status = 422, description = "A published resource would no longer be complete", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn update(
                req: HttpRequest,
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<String>,
                Json(body): Json<Map<String, Value>>,
            ) -> Result<HttpResponse, ApiError> {
                super::update($kind, req, db, principal, path.into_inner(), body).await
            }

            #[doc = concat!("Delete a draft ", $what, " (published ones are archived instead).")]
            #[utoipa::path(delete, path = $item, tag = "resources", operation_id = concat!("delete_", stringify!($module)), security(("bearer" = [])),
                params(("id" = String, Path, description = "Resource id"),
                       ("If-Match" = Option<String>, Header, description = "ETag you saw")),
                responses(
                    (status = 204, description = "Deleted"),
                    (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
                    (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn delete(
                req: HttpRequest,
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<String>,
            ) -> Result<HttpResponse, ApiError> {
                super::delete($kind, req, db, principal, path.into_inner()).await
            }

            #[doc = concat!("Publish a draft ", $what, ": needs a verified institution, a verified email address and a complete resource.")]
            #[utoipa::path(post, path = $publish, tag = "resources", operation_id = concat!("publish_", stringify!($module)), security(("bearer" = [])),
                params(("id" = String, Path, description = "Resource id"),
                       ("If-Match" = Option<String>, Header, description = "ETag you saw")),
                responses(
                    (status = 200, description = "Published", body = $body),
                    (status = 403, description = "Not allowed: role, unverified email or unverified institution", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
                    (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
                    (status = 422, description = "Incomplete: `errors` lists every missing field", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn publish(
                req: HttpRequest,
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<String>,
            ) -> Result<HttpResponse, ApiError> {
                super::transition($kind, Transition::Publish, req, db, principal, path.into_inner()).await
            }

            #[doc = concat!("Archive a published ", $what, ": it stays readable, no longer changes.")]
            #[utoipa::path(post, path = $archive, tag = "resources", operation_id = concat!("archive_", stringify!($module)), security(("bearer" = [])),
                params(("id" = String, Path, description = "Resource id"),
                       ("If-Match" = Option<String>, Header, description = "ETag you saw")),
                responses(
                    (status = 200, description = "Archived", body = $body),
                    (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Not published", body = Problem, content_type = "application/problem+json"),
                    (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn archive(
                req: HttpRequest,
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<String>,
            ) -> Result<HttpResponse, ApiError> {
                super::transition($kind, Transition::Archive, req, db, principal, path.into_inner()).await
            }
        }
    };
}

kind_endpoints!(
    courses,
    ResourceKind::Course,
    "courses",
    "/api/v1/courses",
    "/api/v1/courses/{id}",
    "/api/v1/courses/{id}/publish",
    "/api/v1/courses/{id}/archive",
    Course,
    NewCourse,
    CoursePatch,
    "course"
);
kind_endpoints!(
    datasets,
    ResourceKind::Dataset,
    "datasets",
    "/api/v1/datasets",
    "/api/v1/datasets/{id}",
    "/api/v1/datasets/{id}/publish",
    "/api/v1/datasets/{id}/archive",
    Dataset,
    NewDataset,
    DatasetPatch,
    "dataset"
);
kind_endpoints!(
    model_cards,
    ResourceKind::ModelCard,
    "model-cards",
    "/api/v1/model-cards",
    "/api/v1/model-cards/{id}",
    "/api/v1/model-cards/{id}/publish",
    "/api/v1/model-cards/{id}/archive",
    ModelCard,
    NewModelCard,
    ModelCardPatch,
    "model card"
);

// ----- dataset files -------------------------------------------------------------

/// A dataset file as listed: never its URL (links are handed out, checked,
/// by `GET …/files/{file_id}/link`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetFile {
    #[schema(format = "uuid")]
    pub id: String,
    pub name: String,
    pub media_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the content, to check a download.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

impl From<&FileRow> for DatasetFile {
    fn from(r: &FileRow) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            media_type: r.media_type.clone(),
            size_bytes: r.size_bytes,
            sha256: r.sha256.clone(),
            created_at: utc(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetFilePage {
    pub items: Vec<DatasetFile>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDatasetFile {
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    /// Where the file is (http or https); never shown in lists.
    #[schema(max_length = 2048)]
    pub url: String,
    /// `type/subtype`, e.g. `text/csv`.
    #[schema(max_length = 127)]
    pub media_type: String,
    #[schema(minimum = 0)]
    pub size_bytes: i64,
    /// 64 hex digits.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: String,
}

fn check_media_type(raw: &str) -> Result<String, String> {
    let s = raw.trim().to_ascii_lowercase();
    let token = |t: &str| {
        !t.is_empty()
            && t.len() <= 63
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let essence = s.split(';').next().unwrap_or("").trim();
    match essence.split_once('/') {
        Some((t, sub)) if token(t) && token(sub) && s.len() <= 127 => Ok(essence.to_string()),
        _ => Err("A media type like `text/csv` or `application/x-parquet`.".into()),
    }
}

fn dataset_for(
    conn: &mut DbConnection,
    id: &str,
    principal: Option<&Principal>,
    edit: bool,
) -> Result<(Loaded, Viewer), ApiError> {
    let (l, viewer) = load(conn, ResourceKind::Dataset, id, principal)?;
    let f = facts(&l, &viewer);
    let act = Principal::actor_of(principal);
    let action = if edit {
        Action::EditResource(f)
    } else {
        Action::ViewResource(f)
    };
    policy::enforce(policy::may(&act, action))?;
    Ok((l, viewer))
}

/// A dataset's files (whoever may see the dataset): names, sizes, types, hashes.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/files", tag = "resources",
    params(("id" = String, Path, description = "Dataset id"), PageQuery),
    responses(
        (status = 200, description = "One page", body = DatasetFilePage),
        (status = 404, description = "No such dataset (or not visible to you)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_files(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let rows = db
        .run(move |conn| {
            dataset_for(conn, &id, principal.as_ref(), false)?;
            Ok::<_, ApiError>(store::files(conn, &id, after, limit)?)
        })
        .await?;
    Ok(
        Paginated::from_rows(rows, &page, |r| (utc(r.created_at), r.id.clone()))
            .map(|r| DatasetFile::from(&r))
            .respond(&req),
    )
}

/// Add a file to a dataset (editors and owners).
#[utoipa::path(post, path = "/api/v1/datasets/{id}/files", tag = "resources", security(("bearer" = [])),
    params(("id" = String, Path, description = "Dataset id")),
    request_body = NewDatasetFile,
    responses(
        (status = 201, description = "Added", body = DatasetFile),
        (status = 400, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Archived, or the dataset has too many files", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_file(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<NewDatasetFile>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let mut errors = Vec::new();
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        errors.push(FieldError::new("name", "1–255 characters on one line."));
    }
    let url = doc::check_url(&body.url)
        .map_err(|m| errors.push(FieldError::new("url", m)))
        .ok();
    let media_type = check_media_type(&body.media_type)
        .map_err(|m| errors.push(FieldError::new("media_type", m)))
        .ok();
    if body.size_bytes < 0 {
        errors.push(FieldError::new("size_bytes", "At least 0."));
    }
    let sha256 = body.sha256.trim().to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        errors.push(FieldError::new("sha256", "64 hexadecimal digits."));
    }
    let (Some(url), Some(media_type), true) = (url, media_type, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let ctx = Context::new(Some(&principal.user.id));
    let row = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !store::lock(conn, &id)? {
                    return Err(ApiError::NotFound);
                }
                let (l, _) = dataset_for(conn, &id, Some(&principal), true)?;
                if status_of(&l.row) == Status::Archived {
                    return Err(read_only());
                }
                if store::count_files(conn, &id)? >= FILES_MAX {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::TooManyFiles,
                        detail: format!("A dataset lists at most {FILES_MAX} files."),
                    });
                }
                let now = now();
                let row = FileRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    dataset_id: id.clone(),
                    name,
                    url,
                    media_type,
                    size_bytes: body.size_bytes,
                    sha256,
                    created_by: Some(principal.user.id.clone()),
                    created_at: now,
                };
                store::insert_file(conn, &row)?;
                store::touch(conn, &id, now)?;
                audit::record(
                    conn,
                    &ctx,
                    "dataset.file_added",
                    "resource",
                    &id,
                    json!({"file_id": row.id, "name": row.name, "size_bytes": row.size_bytes}),
                )?;
                Ok(row)
            })
        })
        .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((
        header::LOCATION,
        format!("/api/v1/datasets/{}/files/{}", row.dataset_id, row.id),
    ));
    Ok(res.json(DatasetFile::from(&row)))
}

/// Remove a file from a dataset (editors and owners).
#[utoipa::path(delete, path = "/api/v1/datasets/{id}/files/{file_id}", tag = "resources", security(("bearer" = [])),
    params(("id" = String, Path, description = "Dataset id"),
           ("file_id" = String, Path, description = "File id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset or file", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The dataset is archived", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_file(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, file_id) = path.into_inner();
    let id = path_id(&id)?;
    let file_id = path_id(&file_id)?;
    let ctx = Context::new(Some(&principal.user.id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            if !store::lock(conn, &id)? {
                return Err(ApiError::NotFound);
            }
            let (l, _) = dataset_for(conn, &id, Some(&principal), true)?;
            let file = store::file(conn, &id, &file_id)?.ok_or(ApiError::NotFound)?;
            if status_of(&l.row) == Status::Archived {
                return Err(read_only());
            }
            store::delete_file(conn, &file.id)?;
            store::touch(conn, &id, now())?;
            audit::record(
                conn,
                &ctx,
                "dataset.file_removed",
                "resource",
                &id,
                json!({"file_id": file.id, "name": file.name}),
            )?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
