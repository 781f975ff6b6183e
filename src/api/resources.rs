//! The catalogue: `/courses`, `/datasets`, `/model-cards` (one core, three
//! kinds), the cross-kind `/resources` search and datasets' files.
//!
//! Handlers extract, call one `app::resources` command or query, and render
//! (status, `ETag`, `Location`, `Link`). The documents, their rules and the
//! lifecycle are in `domain::resource`; the workflows in `app::resources`.
//! The request bodies below are the documented schemas only: a resource
//! body is read as a JSON object and validated by `domain::resource::validate`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use utoipa::{IntoParams, ToSchema};

use crate::api::types::utc;
use crate::app::resources as app;
pub use crate::app::resources::{
    AnyResource, Course, Dataset, FILES_MAX, ModelCard, NewDatasetFile, ResourceCore,
};
use crate::app::search;
pub use crate::app::search::{FacetCount, Highlight, ResourceFilter, SortParam, Suggestion};
use crate::auth::{MaybePrincipal, Principal};
use crate::db::Db;
use crate::db::audit::Context;
use crate::db::resources::FileRow;
use crate::domain::resource::{
    self as doc, AccessLevel, CourseFields, DatasetFields, Link, ModelCardFields, ResourceKind,
    RiskTier, Visibility,
};
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get = crate::api::get;
    cfg.service(web::resource("/resources").route(get().to(list_all)))
        .service(web::resource("/resources/suggest").route(get().to(suggest)));
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

// ----- representations and bodies (schemas) ---------------------------------------

/// One page of resources.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePage {
    /// With `fields`, each item carries only the fields named (and `id`, `kind`).
    pub items: Vec<AnyResource>,
    pub next_cursor: Option<String>,
    /// With `facets=`: for each facet asked, its most frequent values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<HashMap<String, Vec<FacetCount>>>,
    /// With `highlight=true`: each item's highlights, by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highlights: Option<HashMap<String, Highlight>>,
    /// With `count=true`: how many resources match that you may see,
    /// counted up to 10,000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 412)]
    pub total: Option<i64>,
    /// With `count=true`: `false` when the count stopped at 10,000 (there
    /// are more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_is_exact: Option<bool>,
    /// A first page of a search that found nothing: the query with its
    /// words corrected from the catalogue's own, when that finds something.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "quechua speech")]
    pub did_you_mean: Option<String>,
}

/// Type-ahead answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestions {
    /// At most 10: tags first (at most 3), then titles, best first.
    pub items: Vec<Suggestion>,
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
    #[schema(value_type = Option<crate::domain::vocab::Licence>)]
    pub license: Option<String>,
    #[schema(value_type = Option<Vec<crate::domain::vocab::Language>>, max_items = 20)]
    pub languages: Option<Vec<String>>,
    /// Target countries.
    #[schema(value_type = Option<Vec<crate::domain::vocab::Country>>, max_items = 250)]
    pub countries: Option<Vec<String>>,
    #[schema(max_items = 30)]
    pub tags: Option<Vec<String>>,
    /// Default `public` (takes effect once published).
    pub visibility: Option<Visibility>,
    /// Links to resources you may see.
    #[schema(max_items = 100)]
    pub related: Option<Vec<Link>>,
    /// A DOI (`10.NNNN/suffix`; a `https://doi.org/` prefix is taken off).
    #[schema(max_length = 216, example = "10.5281/zenodo.1234567")]
    pub doi: Option<String>,
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
    #[schema(value_type = Option<crate::domain::vocab::Licence>)]
    pub license: Option<String>,
    #[schema(value_type = Option<Vec<crate::domain::vocab::Language>>, max_items = 20)]
    pub languages: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<crate::domain::vocab::Country>>, max_items = 250)]
    pub countries: Option<Vec<String>>,
    #[schema(max_items = 30)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub visibility: Visibility,
    /// Replaces every link.
    #[schema(max_items = 100)]
    pub related: Option<Vec<Link>>,
    /// `null` clears it.
    #[schema(max_length = 216, example = "10.5281/zenodo.1234567")]
    pub doi: Option<String>,
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
    #[schema(value_type = Option<crate::domain::vocab::Country>)]
    pub origin_country: Option<String>,
    #[serde(default)]
    pub transfer_policy: doc::TransferPolicy,
    #[schema(value_type = Option<Vec<crate::domain::vocab::Country>>)]
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

/// A path id that is not a UUID names nothing.
pub(crate) fn path_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound)
}

// ----- handlers shared by the three kinds ---------------------------------------

async fn create(
    kind: ResourceKind,
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    body: Map<String, Value>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(Some(&principal.user.id));
    let created = db
        .run(move |conn| app::create(conn, &ctx, &principal, kind, body))
        .await?;
    let mut res = etag::respond_with_status(&req, StatusCode::CREATED, &created.to_json()?)?;
    res.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!(
            "/api/v1/{}/{}",
            kind.collection(),
            created.core().id
        ))
        .map_err(ApiError::internal)?,
    );
    Ok(res)
}

/// What a single read of a resource may ask besides the resource.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShowQuery {
    /// Comma-separated top-level fields to return (`id` and `kind` always
    /// come): the resource's fields, `related_from`, `permissions` and
    /// (datasets) `my_access`. An unknown name is a 400 listing the valid
    /// ones. The `ETag` is that of what is sent: send `If-Match` with the
    /// `ETag` of a full read.
    #[param(example = "id,title,status,permissions")]
    pub fields: Option<String>,
    /// Comma-separated objects to embed in `included`: `modules` (courses:
    /// the modules in order), `related` (id, kind, title, status and
    /// relation of each linked resource you may see, both ways),
    /// `institution` (slug, name, country, verified). An unknown name is a
    /// 400 listing the valid ones.
    #[param(example = "modules,related,institution")]
    pub include: Option<String>,
}

async fn show(
    kind: ResourceKind,
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Option<Principal>,
    id: String,
    q: ShowQuery,
) -> Result<HttpResponse, ApiError> {
    // Content negotiation: JSON (the default), schema.org JSON-LD, and a
    // dataset as DCAT (Turtle, RDF/XML); anything else is a 406 listing them.
    let offers = crate::api::catalog::show_offers(kind);
    let chosen = offers[crate::http::accept::negotiate(&req, &offers)?];
    if chosen == crate::standards::schema_org::MEDIA_TYPE {
        return crate::api::std_croissant::schema_org(&req, &db, principal.is_none(), kind, id)
            .await;
    }
    let include = app::Include::parse(q.include.as_deref());
    let fields = search::field_set(Some(kind), q.fields.as_deref(), true);
    let errors: Vec<_> = [include.as_ref().err(), fields.as_ref().err()]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let (Ok(include), Ok(fields)) = (include, fields) else {
        return Err(ApiError::validation(errors));
    };
    let id = path_id(&id)?;
    if let Some(format) = crate::standards::rdf::RdfFormat::from_media_type(chosen) {
        return crate::api::catalog::show_dataset(&req, db, id, format).await;
    }
    let anonymous = principal.is_none();
    let signed_id = id.clone();
    let (mut resource, posts) = db
        .run(move |conn| -> Result<_, ApiError> {
            let resource = app::show(conn, principal.as_ref(), kind, &id, include)?;
            Ok((resource, crate::app::signposting::of(conn, &signed_id)?))
        })
        .await?;
    let mut json = resource.to_json()?;
    if let (Some(keep), Value::Object(map)) = (&fields, &mut json) {
        map.retain(|k, _| keep.contains(k));
    }
    // The tag of the representation without `alternate_formats`: the one
    // `If-Match` is compared with on writes (the formats follow from the
    // resource's kind, id and being public, not from its content).
    let tag = etag::etag_of_json(&json)?;
    // FAIR signposting: a public resource names its other formats.
    let signposts = match (&posts, req.app_data::<web::Data<crate::state::AppState>>()) {
        (Some(s), Some(state)) => {
            let repo = crate::api::oai::Repository::of(state);
            let formats = super::signposting::formats(&repo.origin, s, &repo.identifier(&s.id));
            let link = super::signposting::header(&repo.origin, s, &formats);
            if fields.is_none() {
                resource.core_mut().alternate_formats = Some(formats);
                json = resource.to_json()?;
            }
            Some(link)
        }
        _ => None,
    };
    let mut res = etag::respond_tagged(&req, tag, &json)?;
    etag::public_read(&mut res, anonymous);
    if let Some(link) = signposts
        && let Ok(v) = actix_web::http::header::HeaderValue::from_str(&link)
    {
        res.headers_mut().append(actix_web::http::header::LINK, v);
    }
    Ok(res)
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
    let if_match = etag::if_match(&req);
    let resource = db
        .run(move |conn| {
            app::update(
                conn,
                &ctx,
                &principal,
                kind,
                &id,
                patch,
                if_match.as_deref(),
            )
        })
        .await?;
    etag::respond(&req, &resource.to_json()?)
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
    let if_match = etag::if_match(&req);
    db.run(move |conn| app::delete(conn, &ctx, &principal, kind, &id, if_match.as_deref()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST …/publish` (with its optional body) and `POST …/archive`.
async fn change_status(
    kind: ResourceKind,
    publish: Option<crate::app::versions::PublishRequest>,
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let ctx = Context::new(Some(&principal.user.id));
    let if_match = etag::if_match(&req);
    let state = req
        .app_data::<web::Data<crate::state::AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no application state")))?;
    let resource = db
        .run(move |conn| match &publish {
            Some(body) => app::publish(
                conn,
                &state,
                &ctx,
                &principal,
                kind,
                &id,
                if_match.as_deref(),
                body,
            ),
            None => app::archive(conn, &ctx, &principal, kind, &id, if_match.as_deref()),
        })
        .await?;
    etag::respond(&req, &resource.to_json()?)
}

// ----- lists ---------------------------------------------------------------------

async fn list(
    kind: Option<ResourceKind>,
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Option<Principal>,
    page: PageQuery,
    filter: ResourceFilter,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<search::ListKey>()?;
    let (after, limit) = (page.after.clone(), page.fetch_limit());
    let anonymous = principal.is_none();
    let listing = db
        .run(move |conn| search::list(conn, principal.as_ref(), kind, filter, after, limit))
        .await?;
    let page = Paginated::from_rows(listing.items, &page, |(_, k)| k.clone()).map(|(v, _)| v);
    let mut extra = Map::new();
    if let Some(f) = listing.facets {
        extra.insert("facets".into(), Value::Object(f));
    }
    if let Some(mut h) = listing.highlights {
        // Only the items of this page (one more was fetched).
        let ids: HashSet<&str> = page.items.iter().filter_map(|i| i["id"].as_str()).collect();
        h.retain(|id, _| ids.contains(id.as_str()));
        extra.insert("highlights".into(), Value::Object(h));
    }
    if let Some((total, exact)) = listing.total {
        extra.insert("total".into(), Value::from(total));
        extra.insert("total_is_exact".into(), Value::Bool(exact));
    }
    if let Some(d) = listing.did_you_mean {
        extra.insert("did_you_mean".into(), Value::String(d));
    }
    let mut res = page.respond_with(&req, extra);
    etag::public_read(&mut res, anonymous);
    Ok(res)
}

/// Type-ahead for a search box: titles and tags of what you may see that
/// start like `q` (its last word taken as a prefix). Small and fast.
#[utoipa::path(get, path = "/api/v1/resources/suggest", tag = "resources",
    params(SuggestQuery),
    responses(
        (status = 200, description = "At most 10 suggestions", body = Suggestions),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn suggest(
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    Query(q): Query<SuggestQuery>,
) -> Result<HttpResponse, ApiError> {
    let anonymous = principal.is_none();
    let items = db
        .run(move |conn| search::suggest(conn, principal.as_ref(), &q.q, q.kind))
        .await?;
    let mut res = HttpResponse::Ok().json(Suggestions { items });
    etag::public_read(&mut res, anonymous);
    Ok(res)
}

/// What type-ahead is asked.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SuggestQuery {
    /// What was typed so far (at most 100 characters).
    #[param(example = "quec")]
    pub q: String,
    /// One kind only.
    pub kind: Option<ResourceKind>,
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
                params(("id" = String, Path, description = "Resource id"), ShowQuery),
                responses(
                    (status = 200, description = "The resource, with `permissions` (what you may do with it) and, for a dataset, `my_access`; with `Accept: application/ld+json`, its schema.org JSON-LD (public view only: 404 if anonymous readers cannot see it)",
                        content(($body = "application/json"), (Object = "application/ld+json", example = json!({"@context": "https://schema.org", "@type": "Dataset", "name": "Kiswahili radio speech", "license": "https://spdx.org/licenses/CC-BY-4.0.html", "isAccessibleForFree": false}))),
                        headers(("ETag" = String, description = "Strong validator"))),
                    (status = 406, description = "The Accept header takes neither JSON nor JSON-LD", body = Problem, content_type = "application/problem+json"),
                    (status = 304, description = "Not modified"),
                    (status = 400, description = "Unknown `fields` or `include` names (the message lists the valid ones)", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource (or not visible to you)", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn show(
                req: HttpRequest,
                db: web::Data<Db>,
                MaybePrincipal(principal): MaybePrincipal,
                path: web::Path<String>,
                Query(q): Query<ShowQuery>,
            ) -> Result<HttpResponse, ApiError> {
                super::show($kind, req, db, principal, path.into_inner(), q).await
            }

            #[doc = concat!("Change a draft ", $what, " never published (JSON merge patch; editors and owners). The version goes up by one. A published ", $what, " is changed through the draft of its next version (`…/draft`).")]
            #[utoipa::path(patch, path = $item, tag = "resources", operation_id = concat!("update_", stringify!($module)), security(("bearer" = [])),
                params(("id" = String, Path, description = "Resource id"),
                       ("If-Match" = Option<String>, Header, description = "ETag you edited")),
                request_body = $patch,
                responses(
                    (status = 200, description = "Updated", body = $body),
                    (status = 400, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Published: change the draft of its next version (`edit-the-draft`, with a `Link` to it); archived: read-only", body = Problem, content_type = "application/problem+json"),
                    (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
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

            #[doc = concat!("Publish a ", $what, ": a draft becomes version 1.0; a published ", $what, "'s draft of its next version (`…/draft`) becomes the next version, `1.1` or, when its files, modules, results, licence or terms changed (or `major` is asked), `2.0` (a major version needs a `note`). Needs a verified institution, a verified email address and a complete resource.")]
            #[utoipa::path(post, path = $publish, tag = "resources", operation_id = concat!("publish_", stringify!($module)), security(("bearer" = [])),
                params(("id" = String, Path, description = "Resource id"),
                       ("If-Match" = Option<String>, Header, description = "ETag you saw: of the resource, or of the draft of its next version you reviewed")),
                request_body(content = Option<crate::app::versions::PublishRequest>, description = "Optional: `major` and the version's `note`", content_type = "application/json"),
                responses(
                    (status = 200, description = "Published (the new version)", body = $body),
                    (status = 400, description = "A major version without a note, or a bad body", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Not allowed: role, unverified email or unverified institution", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such resource", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Archived, or published with no draft to publish", body = Problem, content_type = "application/problem+json"),
                    (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
                    (status = 422, description = "Incomplete: `errors` lists every missing field", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn publish(
                req: HttpRequest,
                db: web::Data<Db>,
                principal: Principal,
                path: web::Path<String>,
                crate::http::json::OptionalJson(body): crate::http::json::OptionalJson<crate::app::versions::PublishRequest>,
            ) -> Result<HttpResponse, ApiError> {
                super::change_status($kind, Some(body.unwrap_or_default()), req, db, principal, path.into_inner()).await
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
                super::change_status($kind, None, req, db, principal, path.into_inner()).await
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
#[schema(example = json!({"created_at": "2026-12-08T09:30:00Z", "id": "0193a5c2-7f10-7000-8000-000000000a0b", "media_type": "application/gzip", "name": "part-1.tar.gz", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size_bytes": 52428800}))]
pub struct DatasetFile {
    #[schema(format = "uuid")]
    pub id: String,
    pub name: String,
    pub media_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the content, to check a download.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    /// Links to this file are refused (403 `embargoed`) until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embargo_until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embargo_reason: Option<String>,
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
            embargo_until: r.embargo_until.map(utc),
            embargo_reason: r.embargo_reason.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetFilePage {
    pub items: Vec<DatasetFile>,
    pub next_cursor: Option<String>,
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
        .run(move |conn| app::list_files(conn, principal.as_ref(), &id, after, limit))
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
    let ctx = Context::new(Some(&principal.user.id));
    let row = db
        .run(move |conn| app::add_file(conn, &ctx, &principal, &id, body))
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
    db.run(move |conn| app::delete_file(conn, &ctx, &principal, &id, &file_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
