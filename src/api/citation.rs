//! `GET /{courses|datasets|model-cards}/{id}/citation?style=`: a
//! resource's citation in BibTeX, RIS, CSL-JSON or APA.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::resources::path_id;
use crate::app::citation as app;
use crate::auth::principal::MaybePrincipal;
use crate::db::Db;
use crate::domain::citation::Style;
use crate::domain::resource::ResourceKind;
use crate::error::ApiError;
use crate::http::etag;
use crate::http::json::Query;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/courses/{id}/citation").route(super::get().to(courses)))
        .service(web::resource("/datasets/{id}/citation").route(super::get().to(datasets)))
        .service(web::resource("/model-cards/{id}/citation").route(super::get().to(model_cards)));
}

/// Which style.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CitationQuery {
    /// `bibtex` (`application/x-bibtex`), `ris`
    /// (`application/x-research-info-systems`), `csl-json`
    /// (`application/vnd.citationstyles.csl+json`: an array of one item) or
    /// `apa` (plain text, APA 7th edition).
    #[param(inline)]
    pub style: Style,
}

async fn cite(
    kind: ResourceKind,
    req: HttpRequest,
    db: web::Data<Db>,
    state: web::Data<AppState>,
    principal: MaybePrincipal,
    id: String,
    q: CitationQuery,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let MaybePrincipal(principal) = principal;
    let anonymous = principal.is_none();
    let origin = state.settings.platform.public_url.clone();
    let platform = state.settings.platform.name.clone();
    let cited = db
        .run(move |conn| app::cite(conn, principal.as_ref(), kind, &id, &origin, &platform))
        .await?;
    let body = cited.render(q.style);
    let tag = etag::etag_of(body.as_bytes());
    let fresh = req
        .headers()
        .get(actix_web::http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == tag)
        });
    if fresh {
        let mut res = HttpResponse::NotModified()
            .insert_header(("ETag", tag))
            .finish();
        etag::public_read(&mut res, anonymous);
        return Ok(res);
    }
    let mut res = HttpResponse::Ok()
        .content_type(q.style.media_type())
        .insert_header(("ETag", tag))
        .body(body);
    etag::public_read(&mut res, anonymous);
    Ok(res)
}

macro_rules! cite_kind {
    ($fn:ident, $kind:expr, $path:literal, $what:literal) => {
        #[doc = concat!("Cite a ", $what, ": authors (its institution), year, title, version, URL and DOI when one is set.")]
        #[utoipa::path(get, path = $path, tag = "resources",
            params(("id" = String, Path, description = "Resource id"), CitationQuery),
            responses(
                (status = 200, description = "The citation, in the style's media type", content(
                    (String = "application/x-bibtex"),
                    (String = "application/x-research-info-systems"),
                    (Vec<serde_json::Value> = "application/vnd.citationstyles.csl+json", example = json!([{
                        "id": "0190f3b4-5c3e-7000-8000-000000000001", "type": "dataset",
                        "title": "Sauti speech corpus", "author": [{"literal": "Makerere AI Lab"}],
                        "issued": {"date-parts": [[2026, 3, 4]]}, "version": "2",
                        "publisher": "Kujenga", "genre": "Dataset", "DOI": "10.5281/zenodo.1234567",
                        "URL": "https://api.example.org/api/v1/datasets/0190f3b4-5c3e-7000-8000-000000000001"}])),
                    (String = "text/plain"))),
                (status = 304, description = "Not modified (If-None-Match)"),
                (status = 400, description = "No or unknown style", body = crate::error::Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such resource, or not one you may see", body = crate::error::Problem, content_type = "application/problem+json"),
            ))]
        pub async fn $fn(
            req: HttpRequest,
            db: web::Data<Db>,
            state: web::Data<AppState>,
            principal: MaybePrincipal,
            path: web::Path<String>,
            Query(q): Query<CitationQuery>,
        ) -> Result<HttpResponse, ApiError> {
            cite($kind, req, db, state, principal, path.into_inner(), q).await
        }
    };
}

cite_kind!(
    courses,
    ResourceKind::Course,
    "/api/v1/courses/{id}/citation",
    "course"
);
cite_kind!(
    datasets,
    ResourceKind::Dataset,
    "/api/v1/datasets/{id}/citation",
    "dataset"
);
cite_kind!(
    model_cards,
    ResourceKind::ModelCard,
    "/api/v1/model-cards/{id}/citation",
    "model card"
);
