//! Open standards out, the ML and web side: Croissant 1.1 + RAI per
//! dataset, schema.org JSON-LD on single reads (`Accept:
//! application/ld+json`), Hugging Face cards (`…/README.md`) and the import
//! of a Hugging Face model card as a draft.
//!
//! Every export is rendered from the resource as an anonymous reader sees
//! it (`app::exports::public_view`), whoever asks; the renderers are in
//! `crate::standards`. docs/standards/croissant.md documents the mappings.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::api::resources::path_id;
use crate::app::exports::{self, PublicView};
use crate::auth::MaybePrincipal;
use crate::db::Db;
use crate::domain::resource::ResourceKind;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::standards::{croissant, schema_org};

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get = crate::api::get;
    cfg.service(web::resource("/datasets/{id}/croissant").route(get().to(croissant_of)));
}

/// The absolute origin links in exports start with (`https://host`): the
/// scheme and host the request came with (`Forwarded`/`X-Forwarded-*` from
/// a proxy are honoured, as `ConnectionInfo` reads them).
pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// Loads the public view of a resource (404 if anonymous readers cannot see it).
async fn view(db: &Db, kind: ResourceKind, id: String) -> Result<PublicView, ApiError> {
    let id = path_id(&id)?;
    Ok(db
        .run(move |conn| exports::public_view(conn, kind, &id))
        .await?)
}

/// Answers a rendered export with a strong `ETag` (304 on a match) and,
/// for anonymous callers, the public cache headers.
pub fn respond_export(
    req: &HttpRequest,
    anonymous: bool,
    content_type: &str,
    body: Vec<u8>,
) -> HttpResponse {
    let tag = etag::etag_of(&body);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == tag)
        });
    let mut res = if fresh {
        HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .finish()
    } else {
        HttpResponse::Ok()
            .insert_header((header::ETAG, tag))
            .insert_header((header::CONTENT_TYPE, content_type))
            .body(body)
    };
    etag::public_read(&mut res, anonymous);
    res
}

/// A dataset as MLCommons Croissant 1.1 with the RAI 1.0 extension
/// (JSON-LD): `distribution` lists its files as `cr:FileObject`s whose
/// `contentUrl` is the platform's link endpoint, `usageInfo` is the URL of
/// its ODRL policy. Only published datasets anonymous readers may see.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/croissant", tag = "standards",
    params(("id" = String, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The Croissant JSON-LD document", body = Object,
            content_type = "application/ld+json; profile=\"http://mlcommons.org/croissant/1.1\"",
            headers(("ETag" = String, description = "Strong validator")),
            example = json!({"@context": {"@vocab": "https://schema.org/", "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/", "dct": "http://purl.org/dc/terms/", "conformsTo": "dct:conformsTo"},
                "@type": "sc:Dataset", "conformsTo": ["http://mlcommons.org/croissant/1.1", "http://mlcommons.org/croissant/RAI/1.0"],
                "name": "Kiswahili radio speech", "description": "Call-in shows with transcripts.",
                "license": "https://spdx.org/licenses/CC-BY-4.0.html", "url": "https://kujenga.example/api/v1/datasets/0193a5c2-7f10-7000-8000-000000000a01",
                "creator": {"@type": "sc:Organization", "name": "Nairobi AI Lab"}, "datePublished": "2026-12-08T09:30:00Z", "version": "3.0.0",
                "usageInfo": "https://kujenga.example/api/v1/datasets/0193a5c2-7f10-7000-8000-000000000a01/policy",
                "distribution": [{"@type": "cr:FileObject", "@id": "0193a5c2-7f10-7000-8000-000000000a0b", "name": "part-1.csv",
                    "contentUrl": "https://kujenga.example/api/v1/datasets/0193a5c2-7f10-7000-8000-000000000a01/files/0193a5c2-7f10-7000-8000-000000000a0b/link",
                    "contentSize": "1024 B", "encodingFormat": "text/csv", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}],
                "rai:dataCollection": "Recorded from partner stations with consent.", "rai:personalSensitiveInformation": ["This dataset contains personal data."]})),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such dataset visible to anonymous readers", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "The Accept header takes no JSON-LD", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn croissant_of(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    crate::http::accept::negotiate(&req, &[croissant::MEDIA_TYPE, "application/json"])?;
    let view = view(&db, ResourceKind::Dataset, path.into_inner()).await?;
    let doc = croissant::document(&view, &base_url(&req)).ok_or(ApiError::NotFound)?;
    let body = serde_json::to_vec_pretty(&doc).map_err(ApiError::internal)?;
    Ok(respond_export(
        &req,
        principal.is_none(),
        croissant::MEDIA_TYPE,
        body,
    ))
}

/// What a single read of a resource offers, JSON first (the default).
pub const SHOW_OFFERS: &[&str] = &["application/json", schema_org::MEDIA_TYPE];

/// `GET /{kind}/{id}` with `Accept: application/ld+json`: the schema.org
/// document of the resource's public view (404 when anonymous readers
/// cannot see it, whoever asks).
pub async fn schema_org(
    req: &HttpRequest,
    db: &Db,
    anonymous: bool,
    kind: ResourceKind,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let view = view(db, kind, id).await?;
    let doc = schema_org::document(&view, &base_url(req));
    let body = serde_json::to_vec_pretty(&doc).map_err(ApiError::internal)?;
    Ok(respond_export(req, anonymous, schema_org::MEDIA_TYPE, body))
}
