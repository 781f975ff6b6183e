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
use crate::auth::Principal;
use crate::db::Db;
use crate::db::audit::Context;
use crate::domain::resource::ResourceKind;
use crate::error::{ApiError, Problem};
use crate::http::etag;
use crate::standards::hf_card::{self, README_MAX, Unmapped};
use crate::standards::{croissant, schema_org};

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get = crate::api::get;
    cfg.service(web::resource("/datasets/{id}/croissant").route(get().to(croissant_of)))
        .service(web::resource("/datasets/{id}/README.md").route(get().to(dataset_readme)))
        .service(web::resource("/model-cards/{id}/README.md").route(get().to(model_card_readme)))
        .service(web::resource("/model-cards/import").route(web::post().to(import_model_card)));
}

/// The absolute origin links in exports start with: the setting
/// `platform.public_url`, as for every other export. Never the request's
/// `Host` or `X-Forwarded-*`: the anonymous public cache keeps these answers
/// for everyone, so a forged header would poison them.
pub fn base_url(req: &HttpRequest) -> String {
    req.app_data::<web::Data<crate::state::AppState>>()
        .map(|state| {
            state
                .settings
                .platform
                .public_url
                .trim_end_matches('/')
                .to_string()
        })
        .unwrap_or_default()
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

// ----- Hugging Face cards --------------------------------------------------------------

const MARKDOWN: &str = "text/markdown; charset=utf-8";

/// A dataset as a Hugging Face dataset card (`README.md`: YAML front matter
/// with `language`, `license`, `pretty_name`, `size_categories`,
/// `task_categories`, `tags`; then the datasheet's sections). Only
/// datasets anonymous readers may see.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/README.md", tag = "standards",
    params(("id" = String, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The dataset card", body = String, content_type = "text/markdown; charset=utf-8",
            example = "---\nlanguage:\n- sw\nlicense: cc-by-4.0\npretty_name: Kiswahili radio speech\nsize_categories:\n- 10K<n<100K\n---\n\n# Kiswahili radio speech\n"),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such dataset visible to anonymous readers", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn dataset_readme(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    crate::http::accept::negotiate(&req, &[MARKDOWN, "text/plain"])?;
    let view = view(&db, ResourceKind::Dataset, path.into_inner()).await?;
    let md = hf_card::dataset_card(&view, &base_url(&req)).ok_or(ApiError::NotFound)?;
    Ok(respond_export(
        &req,
        principal.is_none(),
        MARKDOWN,
        md.into_bytes(),
    ))
}

/// A model card as a Hugging Face model card (`README.md`: YAML front
/// matter with `language`, `license`, `tags`, `datasets`, `base_model`,
/// `pipeline_tag`, `model-index` from the results, and a `kujenga:` block
/// with what the Hub has no key for; then the template's sections). Only
/// model cards anonymous readers may see. `POST /model-cards/import` reads
/// it back.
#[utoipa::path(get, path = "/api/v1/model-cards/{id}/README.md", tag = "standards",
    params(("id" = String, Path, description = "Model card id")),
    responses(
        (status = 200, description = "The model card", body = String, content_type = "text/markdown; charset=utf-8",
            example = "---\nlanguage:\n- sw\nlicense: apache-2.0\nbase_model: openai/whisper-small\npipeline_tag: automatic-speech-recognition\n---\n\n# Swahili ASR\n"),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such model card visible to anonymous readers", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn model_card_readme(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    crate::http::accept::negotiate(&req, &[MARKDOWN, "text/plain"])?;
    let view = view(&db, ResourceKind::ModelCard, path.into_inner()).await?;
    let crate::app::resources::AnyResource::ModelCard(card) = &view.resource else {
        return Err(ApiError::NotFound);
    };
    let md = hf_card::model_card(card, &base_url(&req));
    Ok(respond_export(
        &req,
        principal.is_none(),
        MARKDOWN,
        md.into_bytes(),
    ))
}

/// Where an imported card goes.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Slug of the institution the draft is for (you must edit for it).
    /// Default: the multipart field `institution`, then the README's
    /// `kujenga.institution`.
    #[param(example = "nairobi-ai-lab")]
    pub institution: Option<String>,
}

/// What an import answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ImportedModelCard {
    /// The draft created.
    #[schema(value_type = crate::app::resources::ModelCard)]
    pub model_card: serde_json::Value,
    /// What the README holds that no model card field takes (left out).
    pub unmapped: Vec<Unmapped>,
}

/// Import a Hugging Face model card (`README.md`) as a draft model card.
/// Send the README as the body (`text/markdown`) or as the file of a
/// `multipart/form-data` form (field `file` or `readme`; an optional field
/// `institution`). At most 1 MiB. A malformed README (front matter never
/// closed, YAML that does not parse, a key of the wrong type, control
/// characters) is a 400 whose errors name the field and the line; nothing
/// is created then. What could not be mapped is listed in `unmapped`.
#[utoipa::path(post, path = "/api/v1/model-cards/import", tag = "standards", security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = String, content_type = "text/markdown", description = "The README (or multipart/form-data with a `file` field)",
        example = "---\nlanguage: sw\nlicense: apache-2.0\npipeline_tag: automatic-speech-recognition\n---\n\n# Swahili ASR\n\n## Uses\n\n### Direct Use\n\nTranscribing radio.\n"),
    responses(
        (status = 201, description = "Created as a draft", body = ImportedModelCard),
        (status = 400, description = "Malformed README or invalid fields (each error names its field and line)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "You do not edit for this institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such institution", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "README larger than 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither text/markdown nor multipart/form-data", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn import_model_card(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    crate::http::json::Query(q): crate::http::json::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let multipart = essence == "multipart/form-data";
    if !multipart
        && !matches!(
            essence.as_str(),
            "text/markdown" | "text/x-markdown" | "text/plain"
        )
    {
        return Err(ApiError::UnsupportedMediaType(
            "Send the README as text/markdown, or as the `file` field of multipart/form-data."
                .into(),
        ));
    }
    // Room for the multipart framing around a README of the largest size.
    let limit = if multipart {
        README_MAX + 64 * 1024
    } else {
        README_MAX
    };
    let raw = crate::http::json::read_body(
        payload.into_inner(),
        limit,
        crate::http::json::body_timeout(&req),
    )
    .await?;
    let (bytes, form_institution) = if multipart {
        read_form(&req, raw).await?
    } else {
        (raw, None)
    };
    if bytes.len() > README_MAX {
        return Err(ApiError::PayloadTooLarge { limit: README_MAX });
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        ApiError::field(
            "readme",
            crate::error::FieldCode::WrongType,
            format!("line {line}: the README is not UTF-8 text."),
        )
    })?;
    let imported = hf_card::import_model_card(text).map_err(ApiError::validation)?;
    let institution = q
        .institution
        .or(form_institution)
        .or(imported.institution.clone())
        .ok_or_else(|| {
            ApiError::field(
                "institution",
                crate::error::FieldCode::Required,
                "Name the institution the draft is for (`?institution=<slug>`).",
            )
        })?;
    let mut body = imported.body;
    body.insert("institution".into(), serde_json::Value::String(institution));
    let ctx = Context::new(Some(&principal.user.id));
    let created = db
        .run(move |conn| {
            crate::app::resources::create(conn, &ctx, &principal, ResourceKind::ModelCard, body)
        })
        .await?;
    let id = created.core().id.clone();
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/model-cards/{id}")))
        .json(ImportedModelCard {
            model_card: created.to_json()?,
            unmapped: imported.unmapped,
        }))
}

/// The README (field `file` or `readme`) and the `institution` field of a
/// multipart form already read whole.
async fn read_form(
    req: &HttpRequest,
    raw: web::Bytes,
) -> Result<(web::Bytes, Option<String>), ApiError> {
    use futures_util::StreamExt;
    let stream =
        futures_util::stream::once(async move { Ok::<_, actix_web::error::PayloadError>(raw) });
    let mut form = actix_multipart::Multipart::new(req.headers(), stream);
    let broken = |e: actix_multipart::MultipartError| {
        ApiError::field(
            "readme",
            crate::error::FieldCode::WrongType,
            format!("The multipart form does not read: {e}"),
        )
    };
    let (mut readme, mut institution) = (None, None);
    while let Some(field) = form.next().await {
        let mut field = field.map_err(broken)?;
        let name = field.name().unwrap_or("").to_string();
        let mut data = web::BytesMut::new();
        while let Some(chunk) = field.next().await {
            data.extend_from_slice(&chunk.map_err(broken)?);
            if data.len() > README_MAX {
                return Err(ApiError::PayloadTooLarge { limit: README_MAX });
            }
        }
        match name.as_str() {
            "file" | "readme" => readme = Some(data.freeze()),
            "institution" => {
                institution = Some(String::from_utf8_lossy(&data).trim().to_string());
            }
            _ => {}
        }
    }
    let readme = readme.ok_or_else(|| {
        ApiError::field(
            "file",
            crate::error::FieldCode::Required,
            "The form has no `file` field holding the README.",
        )
    })?;
    Ok((readme, institution))
}
