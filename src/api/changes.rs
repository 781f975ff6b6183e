//! Following changes: the change feed (`GET /changes`) and a course's
//! offline package (`GET /courses/{id}/package`). docs/FEED.md is the guide
//! for clients; `app::changes` and `app::package` do the work.

use std::collections::HashSet;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::changes::{self as app, ChangePage, Request};
use crate::app::package::{self, Ranged};
use crate::auth::principal::MaybePrincipal;
use crate::db::Db;
use crate::domain::changes::{Cursor, SubjectKind};
use crate::error::{ApiError, FieldCode, FieldError, Invalid, Problem, problem_response};
use crate::http::etag;
use crate::http::json::Query;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/changes").route(crate::api::get().to(changes)))
        .service(
            web::resource("/courses/{id}/package").route(crate::api::get().to(course_package)),
        );
}

/// A page holds at most this many changes.
pub const MAX_LIMIT: usize = 500;
/// And this many without `limit`.
pub const DEFAULT_LIMIT: usize = 100;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The `cursor` of your last page (or of one change). Omitted: start
    /// now — the answer has no changes and the cursor to keep.
    pub since: Option<String>,
    /// Changes per page, 1–500 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// Only these kinds, comma-separated: `course`, `dataset`, `model_card`,
    /// `institution`, `enrollment`, `access_request`, `notification`.
    #[param(example = "course,dataset")]
    pub kinds: Option<String>,
    /// Only what belongs to this institution (its slug): its resources, the
    /// institution itself, enrollments in its courses, requests for its datasets.
    pub institution: Option<String>,
    /// `true`: each changed course, dataset or model card carries its
    /// representation in `data`, as its single read gives it to you.
    #[param(value_type = Option<bool>)]
    pub embed: Option<String>,
    /// With `embed=true`: only these top-level fields of `data`
    /// (comma-separated; `id` and `kind` always).
    #[param(example = "title,version,updated_at")]
    pub fields: Option<String>,
}

fn parse(q: &ChangesQuery) -> Result<(Request, Option<String>), ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let since = match q.since.as_deref() {
        None => None,
        Some(raw) => match Cursor::decode(raw) {
            Some(c) => Some(c),
            None => {
                errors.push(
                    Invalid::format(
                        "cursor",
                        "Not a cursor this feed gave out: start again without `since`.",
                    )
                    .at("since"),
                );
                None
            }
        },
    };
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errors.push(
                    Invalid::new(
                        FieldCode::OutOfRange,
                        format!("Must be a whole number from 1 to {MAX_LIMIT}."),
                    )
                    .min(1)
                    .max(MAX_LIMIT)
                    .at("limit"),
                );
                DEFAULT_LIMIT
            }
        },
    };
    let kinds = match q.kinds.as_deref() {
        None => None,
        Some(raw) => {
            let mut set = HashSet::new();
            for word in raw.split(',').map(str::trim) {
                match SubjectKind::parse(word) {
                    Some(k) => {
                        set.insert(k);
                    }
                    None => {
                        errors.push(
                            Invalid::new(
                                FieldCode::NotAllowedValue,
                                format!(
                                    "`{word}` is not a kind; kinds are {}.",
                                    SubjectKind::choices()
                                ),
                            )
                            .at("kinds"),
                        );
                        break;
                    }
                }
            }
            Some(set)
        }
    };
    let embed = match q.embed.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push(
                Invalid::new(FieldCode::NotAllowedValue, "Must be `true` or `false`.").at("embed"),
            );
            false
        }
    };
    let fields = match q.fields.as_deref() {
        None => None,
        Some(_) if !embed => {
            errors.push(
                Invalid::new(
                    FieldCode::NotAllowedValue,
                    "`fields` trims `data`: use it with `embed=true`.",
                )
                .at("fields"),
            );
            None
        }
        Some(raw) => {
            let names: HashSet<String> = raw.split(',').map(|s| s.trim().to_string()).collect();
            if names.iter().any(|n| {
                n.is_empty()
                    || n.len() > 64
                    || !n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            }) {
                errors.push(
                    Invalid::format(
                        "field names",
                        "Field names are comma-separated lowercase words.",
                    )
                    .at("fields"),
                );
            }
            Some(names)
        }
    };
    let institution = q.institution.clone();
    if let Some(slug) = &institution
        && (slug.is_empty() || slug.len() > 100)
    {
        errors.push(Invalid::format("slug", "Not an institution slug.").at("institution"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok((
        Request {
            since,
            limit,
            kinds,
            institution: None,
            embed,
            fields,
        },
        institution,
    ))
}

/// What changed since your cursor, in commit order: the changes you may see
/// (anonymous: the public catalogue; signed in: also what your memberships
/// and partnerships show you, your enrollments, access requests and
/// notifications), and `gone` (`deleted: true`) for what you could see and
/// no longer may — unpublished, deleted, made non-public, partnership ended,
/// membership lost. Keep the `cursor` of each answer and pass it as `since`;
/// ask again at once while `has_more`. An up-to-date client sends the
/// `ETag` back in `If-None-Match` and gets 304. A cursor older than the
/// changes kept (or after your platform role changed) answers 410
/// `resync-required`: fetch everything again, then follow from a new cursor.
/// docs/FEED.md tells the whole protocol.
#[utoipa::path(get, path = "/api/v1/changes", tag = "changes", security((), ("bearer" = [])),
    params(ChangesQuery,
        ("If-None-Match" = Option<String>, Header, description = "The ETag of the page you have")),
    responses(
        (status = 200, description = "One page of changes (perhaps empty) and the cursor to keep", body = ChangePage,
            headers(("ETag" = String, description = "Weak validator of the page"))),
        (status = 304, description = "Nothing new since this page"),
        (status = 400, description = "Bad parameters or a cursor this feed did not give out", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Resync: the cursor is older than the changes kept, or your platform role changed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn changes(
    req: HttpRequest,
    db: web::Data<Db>,
    state: web::Data<AppState>,
    MaybePrincipal(principal): MaybePrincipal,
    Query(q): Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (mut request, institution) = parse(&q)?;
    let retention = state.settings.feed.retention_secs;
    let page = db
        .run(move |conn| -> Result<ChangePage, ApiError> {
            if let Some(slug) = institution {
                // An unknown slug selects nothing (and says nothing).
                request.institution = Some(
                    crate::db::oai::institution_by_slug(conn, &slug)?.unwrap_or_else(|| "-".into()),
                );
            }
            app::page(conn, principal.as_ref(), &request, retention)
        })
        .await?;
    let body = serde_json::to_vec(&page).map_err(ApiError::internal)?;
    let mut res = etag::respond_weak(&req, body, None);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    Ok(res)
}

/// A course for offline use: one zip with `manifest.json` (each module's
/// size and SHA-256), `course.json` and each module's text (`.md`) and
/// metadata (`.json`). The strong `ETag` changes when the course or a module
/// changes (so does the course's `version` in the change feed). `Range`
/// (one range) resumes an interrupted download — with `If-Range` set to the
/// ETag, a package that changed meanwhile comes whole (200) instead.
/// Whoever may read the course may download it (404 otherwise).
#[utoipa::path(get, path = "/api/v1/courses/{id}/package", tag = "changes", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "Course id"),
        ("Range" = Option<String>, Header, description = "`bytes=first-[last]` or `bytes=-suffix`"),
        ("If-Range" = Option<String>, Header, description = "The ETag the partial download began under"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of the package you have")),
    responses(
        (status = 200, description = "The whole package", content_type = "application/zip", body = String,
            headers(("ETag" = String, description = "Strong validator"), ("Accept-Ranges" = String, description = "`bytes`"))),
        (status = 206, description = "The range asked for", content_type = "application/zip", body = String,
            headers(("Content-Range" = String, description = "`bytes first-last/length`"))),
        (status = 304, description = "The package you have is current"),
        (status = 404, description = "No such course, or not yours to see", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range lies outside the package", body = Problem, content_type = "application/problem+json",
            headers(("Content-Range" = String, description = "`bytes */length`"))),
    ))]
pub async fn course_package(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = crate::api::resources::path_id(&path.into_inner())?;
    let pkg = db
        .run(move |conn| package::build(conn, principal.as_ref(), &id))
        .await?;
    let header_str = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if header_str(header::IF_NONE_MATCH).is_some_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == pkg.etag)
    }) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, pkg.etag))
            .finish());
    }
    let len = pkg.bytes.len() as u64;
    // A range of another version of the package is no use: send it whole.
    let range_applies = header_str(header::IF_RANGE).is_none_or(|v| v.trim() == pkg.etag);
    let ranged = if range_applies {
        package::range(header_str(header::RANGE).as_deref(), len)
    } else {
        Ranged::Whole
    };
    let mut res = match ranged {
        Ranged::Whole => HttpResponse::Ok().body(pkg.bytes),
        Ranged::Part { first, last } => {
            let slice = pkg.bytes[first as usize..=last as usize].to_vec();
            HttpResponse::PartialContent()
                .insert_header((header::CONTENT_RANGE, format!("bytes {first}-{last}/{len}")))
                .body(slice)
        }
        Ranged::Unsatisfiable => {
            let problem = Problem {
                problem_type: "about:blank".into(),
                title: "Range Not Satisfiable".into(),
                status: 416,
                detail: Some(format!("The package is {len} bytes long.")),
                errors: Vec::new(),
                request_id: crate::http::request_id::current(),
                tombstone: None,
                embargo_until: None,
            };
            let mut res = problem_response(StatusCode::RANGE_NOT_SATISFIABLE, &problem);
            if let Ok(v) = header::HeaderValue::from_str(&format!("bytes */{len}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(res);
        }
    };
    let h = res.headers_mut();
    let put = |h: &mut header::HeaderMap, name: header::HeaderName, value: String| {
        if let Ok(v) = header::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put(h, header::ETAG, pkg.etag);
    put(h, header::ACCEPT_RANGES, "bytes".into());
    put(h, header::CONTENT_TYPE, "application/zip".into());
    put(
        h,
        header::CONTENT_DISPOSITION,
        format!(
            "attachment; filename=\"course-{}.zip\"",
            pkg.manifest.course_id
        ),
    );
    // Already compressed, and ranges count these bytes: no content coding.
    put(h, header::CONTENT_ENCODING, "identity".into());
    Ok(res)
}
