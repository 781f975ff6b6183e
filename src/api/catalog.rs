//! Open standards out, DCAT side: the DCAT-AP 3.0.1 catalogue
//! (`/catalog`, `/catalog.{jsonld,ttl,rdf}`), a dataset as DCAT (content
//! negotiation on `/datasets/{id}`, see `resources::show`) and a dataset's
//! ODRL policy (`/datasets/{id}/policy`). Everything here is the public
//! catalogue as an anonymous reader sees it (`app::catalog`), whoever asks.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::catalog::{self as app, MAX_PAGE, PAGE_SIZE};
use crate::db::Db;
use crate::domain::resource::ResourceKind;
use crate::error::{ApiError, FieldCode, Problem};
use crate::http::etag;
use crate::http::json::Query;
use crate::standards::dcat::{self, Paging, Site};
use crate::standards::odrl;
use crate::standards::rdf::{self, RdfFormat};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get = crate::api::get;
    cfg.service(web::resource("/catalog").route(get().to(catalog)))
        .service(web::resource("/catalog.{format}").route(get().to(catalog_file)))
        .service(web::resource("/datasets/{id}/policy").route(get().to(policy)));
}

/// Which catalogue page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// The page, from 1 (100 datasets each, oldest listed first; the
    /// `hydra:` links name the first, last, next and previous pages).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100000, example = 1)]
    pub page: Option<String>,
    /// Only datasets changed at or after this instant (RFC 3339, with a
    /// time zone), for incremental harvesting.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-01T00:00:00Z")]
    pub modified_since: Option<String>,
    /// The last dataset of the page before, as `hydra:next` names it: the
    /// page is then read from there on (what a harvester following the
    /// links sends; the numbered page alone gives the same datasets while
    /// the catalogue does not change).
    #[param(value_type = Option<String>, format = Uuid)]
    pub after: Option<String>,
}

/// A catalogue page as asked: its number, `modified_since`, `after`.
type PageAsked = (i64, Option<DateTime<Utc>>, Option<String>);

impl CatalogQuery {
    /// The page, `modified_since` and `after`, checked.
    fn read(&self) -> Result<PageAsked, ApiError> {
        let mut errors = Vec::new();
        let after = match self.after.as_deref().map(str::trim) {
            None => None,
            Some(a) => match uuid::Uuid::parse_str(a) {
                Ok(u) if a.len() == 36 => Some(u.hyphenated().to_string()),
                _ => {
                    errors.push(crate::error::FieldError::new(
                        "after",
                        FieldCode::InvalidFormat,
                        "`after` is the id of a dataset, as `hydra:next` gives it.",
                    ));
                    None
                }
            },
        };
        let page = match self.page.as_deref() {
            None => 1,
            Some(p) => match p.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    errors.push(crate::error::FieldError::new(
                        "page",
                        FieldCode::OutOfRange,
                        format!("`page` is a whole number from 1 to {MAX_PAGE}."),
                    ));
                    1
                }
            },
        };
        let since = match self.modified_since.as_deref() {
            None => None,
            Some(s) => match DateTime::parse_from_rfc3339(&offset_plus(s.trim())) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    errors.push(crate::error::FieldError::new(
                        "modified_since",
                        FieldCode::InvalidFormat,
                        "`modified_since` is an RFC 3339 date-time with a time zone, like 2026-12-01T00:00:00Z.",
                    ));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok((page, since, after))
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// A `+hh:mm` offset written unencoded in a query string arrives as a space
/// (`+` means a space in a form-encoded query): read it back as the `+` it
/// was. Only there — an RFC 3339 time never has a space before its offset.
fn offset_plus(s: &str) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    let n = b.len();
    let offset_after_space = n > 6
        && b[n - 6] == b' '
        && b[n - 5].is_ascii_digit()
        && b[n - 4].is_ascii_digit()
        && b[n - 3] == b':'
        && b[n - 2].is_ascii_digit()
        && b[n - 1].is_ascii_digit();
    if offset_after_space {
        std::borrow::Cow::Owned(format!("{}+{}", &s[..n - 6], &s[n - 5..]))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn site(state: &AppState) -> Site<'_> {
    Site {
        api: state.settings.platform.public_url.trim_end_matches('/'),
        name: &state.settings.platform.name,
    }
}

fn offered() -> Vec<&'static str> {
    RdfFormat::ALL.iter().map(|f| f.media_type()).collect()
}

fn accept(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::ACCEPT)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
}

/// The RDF format an `Accept` header asks for among `offered` (JSON-LD
/// first), or a 406 listing them.
fn negotiate_rdf(req: &HttpRequest) -> Result<RdfFormat, ApiError> {
    let offered = offered();
    rdf::negotiate(accept(req), &offered)
        .and_then(RdfFormat::from_media_type)
        .ok_or_else(|| not_acceptable(&offered))
}

/// The 406 listing what is offered.
fn not_acceptable(offered: &[&str]) -> ApiError {
    ApiError::NotAcceptable {
        offered: offered.iter().map(|o| (*o).to_string()).collect(),
    }
}

fn render(
    req: &HttpRequest,
    graph: Result<crate::standards::rdf::Triples, String>,
    format: RdfFormat,
    negotiated: bool,
) -> Result<HttpResponse, ApiError> {
    let graph = graph.map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let body = rdf::write(&graph, format).map_err(ApiError::internal)?;
    let mut res = etag::respond_bytes(req, body, format.content_type());
    if negotiated {
        res.headers_mut()
            .append(header::VARY, header::HeaderValue::from_static("Accept"));
    }
    // The exports are the anonymous reader's view, whoever asks.
    etag::public_read(&mut res, true);
    Ok(res)
}

async fn catalog_page(
    req: HttpRequest,
    db: web::Data<Db>,
    state: web::Data<AppState>,
    q: CatalogQuery,
    format: RdfFormat,
    negotiated: bool,
) -> Result<HttpResponse, ApiError> {
    let (page, since, after) = q.read()?;
    let naive = since.map(|t| t.naive_utc());
    let memo = state.catalog_counts.clone();
    let found = db
        .run(move |conn| app::page(conn, &memo, naive, page, after.as_deref()))
        .await?;
    let paging = Paging {
        page,
        per_page: PAGE_SIZE,
        total: found.total,
        modified_since: since,
        last_id: found.entries.last().map(|e| e.loaded.row.id.clone()),
    };
    let graph = dcat::catalog(&site(&state), &paging, &found.entries);
    render(&req, graph, format, negotiated)
}

/// The DCAT-AP 3.0.1 catalogue of the public, published datasets, by
/// content negotiation: JSON-LD (the default), Turtle or RDF/XML. Paged
/// for harvesters (hydra `PagedCollection`: `hydra:next`, `hydra:last`…);
/// `modified_since` for incremental harvests. Whoever asks, only what an
/// anonymous reader may see; a file's URL never (a distribution's
/// `dcat:accessURL` is its link endpoint). docs/standards/dcat.md.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "standards",
    params(CatalogQuery, ("Accept" = Option<String>, Header, description = "`application/ld+json` (default), `text/turtle` or `application/rdf+xml`")),
    responses(
        (status = 200, description = "One page of the catalogue", content(
            (serde_json::Value = "application/ld+json", example = json!({
        "@context": {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
                     "hydra": "http://www.w3.org/ns/hydra/core#"},
        "@graph": [
            {"@id": "https://kujenga.example.org/api/v1/catalog",
             "@type": ["http://www.w3.org/ns/dcat#Catalog"],
             "http://purl.org/dc/terms/title": [{"@value": "Kujenga"}],
             "http://www.w3.org/ns/dcat#dataset": [{"@id": "https://kujenga.example.org/api/v1/datasets/0193a5c2-7f10-7000-8000-000000000a01"}]},
            {"@id": "https://kujenga.example.org/api/v1/catalog?page=1",
             "@type": ["http://www.w3.org/ns/hydra/core#PagedCollection"],
             "http://www.w3.org/ns/hydra/core#totalItems": [{"@value": "1", "@type": "http://www.w3.org/2001/XMLSchema#integer"}],
             "http://www.w3.org/ns/hydra/core#last": [{"@id": "https://kujenga.example.org/api/v1/catalog?page=1"}]}
        ]
    })),
            (String = "text/turtle"), (String = "application/rdf+xml"))),
        (status = 304, description = "Not modified"),
        (status = 400, description = "A bad `page` or `modified_since`", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "None of the offered formats is acceptable (the detail lists them)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn catalog(
    req: HttpRequest,
    db: web::Data<Db>,
    state: web::Data<AppState>,
    Query(q): Query<CatalogQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate_rdf(&req)?;
    catalog_page(req, db, state, q, format, true).await
}

/// The catalogue as a file: `catalog.jsonld`, `catalog.ttl` or
/// `catalog.rdf` (the same pages, whatever the `Accept` header).
#[utoipa::path(get, path = "/api/v1/catalog.{format}", tag = "standards",
    params(("format" = String, Path, description = "`jsonld`, `ttl` or `rdf`", example = "ttl"), CatalogQuery),
    responses(
        (status = 200, description = "One page of the catalogue", content(
            (serde_json::Value = "application/ld+json", example = json!({
        "@context": {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
                     "hydra": "http://www.w3.org/ns/hydra/core#"},
        "@graph": [
            {"@id": "https://kujenga.example.org/api/v1/catalog",
             "@type": ["http://www.w3.org/ns/dcat#Catalog"],
             "http://purl.org/dc/terms/title": [{"@value": "Kujenga"}],
             "http://www.w3.org/ns/dcat#dataset": [{"@id": "https://kujenga.example.org/api/v1/datasets/0193a5c2-7f10-7000-8000-000000000a01"}]},
            {"@id": "https://kujenga.example.org/api/v1/catalog?page=1",
             "@type": ["http://www.w3.org/ns/hydra/core#PagedCollection"],
             "http://www.w3.org/ns/hydra/core#totalItems": [{"@value": "1", "@type": "http://www.w3.org/2001/XMLSchema#integer"}],
             "http://www.w3.org/ns/hydra/core#last": [{"@id": "https://kujenga.example.org/api/v1/catalog?page=1"}]}
        ]
    })),
            (String = "text/turtle"), (String = "application/rdf+xml"))),
        (status = 304, description = "Not modified"),
        (status = 400, description = "A bad `page` or `modified_since`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of the formats", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn catalog_file(
    req: HttpRequest,
    db: web::Data<Db>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Query(q): Query<CatalogQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = RdfFormat::from_extension(&path.into_inner()).ok_or(ApiError::NotFound)?;
    catalog_page(req, db, state, q, format, false).await
}

/// A dataset as a DCAT-AP `dcat:Dataset` (`resources::show` calls this for
/// `text/turtle` and `application/rdf+xml`): 404 unless an anonymous
/// reader may see it.
pub async fn dataset(
    req: &HttpRequest,
    db: web::Data<Db>,
    state: &AppState,
    id: String,
    format: RdfFormat,
) -> Result<HttpResponse, ApiError> {
    let entry = db.run(move |conn| app::dataset(conn, &id)).await?;
    let graph = dcat::dataset(&site(state), &entry);
    render(req, graph, format, true)
}

/// A dataset's terms as an ODRL 2.2 policy (an `odrl:Offer`, JSON-LD with
/// its own context): who may download its files (the access level) and
/// where its data may go (the transfer policy: `odrl:spatial`
/// constraints), exactly as file links are checked. docs/standards/dcat.md.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/policy", tag = "standards",
    params(("id" = String, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The ODRL policy", content((serde_json::Value = "application/ld+json", example = json!({
        "@context": {"@vocab": "http://www.w3.org/ns/odrl/2/", "uid": "@id", "type": "@type"},
        "uid": "https://kujenga.example.org/api/v1/datasets/0193a5c2-7f10-7000-8000-000000000a01/policy",
        "type": "Offer",
        "conflict": "perm",
        "target": "https://kujenga.example.org/api/v1/datasets/0193a5c2-7f10-7000-8000-000000000a01",
        "assigner": {"uid": "https://kujenga.example.org/api/v1/institutions/ke-lab", "type": "Party"},
        "permission": [
            {"action": "use", "assignee": {"uid": "https://kujenga.example.org/api/v1/institutions/ke-lab#members", "type": "PartyCollection"}},
            {"action": "use", "constraint": [{"leftOperand": "spatial", "operator": "isAnyOf",
              "rightOperand": [{"@id": "http://publications.europa.eu/resource/authority/country/KEN"},
                               {"@id": "http://publications.europa.eu/resource/authority/country/TZA"}]}]}
        ],
        "prohibition": [
            {"action": "use", "constraint": [{"leftOperand": "spatial", "operator": "isNoneOf",
              "rightOperand": [{"@id": "http://publications.europa.eu/resource/authority/country/KEN"},
                               {"@id": "http://publications.europa.eu/resource/authority/country/TZA"}]}]}
        ]
    })))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such dataset, or not public", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "Not acceptable (JSON-LD or JSON only)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn policy(
    req: HttpRequest,
    db: web::Data<Db>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let offered = vec![odrl::MEDIA_TYPE, "application/json"];
    let media_type =
        rdf::negotiate(accept(&req), &offered).ok_or_else(|| not_acceptable(&offered))?;
    let id = crate::api::resources::path_id(&path.into_inner())?;
    let entry = db.run(move |conn| app::dataset(conn, &id)).await?;
    let doc = odrl::policy(&dcat::policy_terms(&site(&state), &entry));
    let body = serde_json::to_vec_pretty(&doc).map_err(ApiError::internal)?;
    let mut res = etag::respond_bytes(&req, body, media_type);
    res.headers_mut()
        .append(header::VARY, header::HeaderValue::from_static("Accept"));
    etag::public_read(&mut res, true);
    Ok(res)
}

/// What a single read (`GET /{kind}/{id}`) offers, JSON first: JSON,
/// schema.org JSON-LD, and for a dataset DCAT as Turtle and RDF/XML.
pub fn show_offers(kind: ResourceKind) -> Vec<&'static str> {
    let mut offers = crate::api::std_croissant::SHOW_OFFERS.to_vec();
    if kind == ResourceKind::Dataset {
        offers.extend([
            RdfFormat::Turtle.media_type(),
            RdfFormat::RdfXml.media_type(),
        ]);
    }
    offers
}

/// `resources::show`'s DCAT branch.
pub async fn show_dataset(
    req: &HttpRequest,
    db: web::Data<Db>,
    id: String,
    format: RdfFormat,
) -> Result<HttpResponse, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no AppState")))?;
    dataset(req, db, &state, id, format).await
}
