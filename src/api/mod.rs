//! The HTTP API: routes, handlers (one file per area) and the OpenAPI
//! document generated from them.

pub mod access;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod changes;
pub mod citation;
pub mod clients;
pub mod institutions;
pub mod learning;
pub mod me;
pub mod memberships;
pub mod notifications;
pub mod oai;
pub mod ops;
pub mod partnerships;
pub mod resources;
pub mod signposting;
pub mod std_croissant;
pub mod types;
pub mod users;
pub mod versions;
pub mod webhooks;

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, guard, web};
use utoipa::OpenApi;

use crate::error::{ApiError, FieldError, Problem};
use crate::http::idempotency::idempotency;
use crate::http::params::{QueryRules, strict_query};

pub const API_PREFIX: &str = "/api/v1";
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Kujenga API",
        description = "Kujenga is the backend of an AI capacity-building knowledge-sharing \
platform: institutions publish courses, datasets and model cards; learners use them; \
coordinators run cross-border lab partnerships.\n\n\
Conventions: errors are RFC 9457 `application/problem+json`; lists take `limit` and \
`cursor` and answer `{items, next_cursor}` with a `Link: rel=\"next\"` header; single objects \
carry a strong `ETag` (`If-None-Match` → 304, `If-Match` → 412) and list pages a weak one \
(`If-None-Match` → 304); creating `POST`s accept an `Idempotency-Key`; every response carries \
`X-Request-Id`.\n\n\
Query parameters are strict: a parameter an operation does not list, or one that takes a single \
value given more than once, answers 400 `validation-error` with one `errors` entry per parameter \
(`field` is its name) before anything else happens. Filters that take several values take them \
comma-separated in one parameter (`kind=course,dataset`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        ops::healthz, ops::readyz, ops::metrics,
        auth::register, auth::verify_email, auth::resend_verification, auth::login, auth::refresh, auth::logout,
        auth::logout_all, auth::password_reset, auth::password_reset_confirm,
        me::get_me, me::patch_me, me::delete_me, me::change_password, me::list_tokens,
        me::create_token, me::delete_token,
        notifications::list, notifications::read, notifications::get_preferences,
        notifications::unread_count, notifications::read_all, memberships::memberships,
        notifications::put_preferences,
        users::list, users::get, users::patch,
        admin::list, admin::retry,
        institutions::list, institutions::create, institutions::show, institutions::update,
        institutions::delete, institutions::verify, institutions::members,
        institutions::change_member, institutions::remove_member, institutions::invitations,
        institutions::invite, institutions::withdraw, institutions::accept,
        audit::list,
        resources::list_all,
        resources::suggest,
        resources::courses::list, resources::courses::create, resources::courses::show,
        resources::courses::update, resources::courses::delete, resources::courses::publish,
        resources::courses::archive,
        resources::datasets::list, resources::datasets::create, resources::datasets::show,
        resources::datasets::update, resources::datasets::delete, resources::datasets::publish,
        resources::datasets::archive,
        resources::model_cards::list, resources::model_cards::create, resources::model_cards::show,
        resources::model_cards::update, resources::model_cards::delete,
        resources::model_cards::publish, resources::model_cards::archive,
        versions::courses::draft, versions::courses::patch_draft, versions::courses::discard_draft,
        versions::courses::list, versions::courses::read, versions::courses::diff,
        versions::datasets::draft, versions::datasets::patch_draft, versions::datasets::discard_draft,
        versions::datasets::list, versions::datasets::read, versions::datasets::diff,
        versions::model_cards::draft, versions::model_cards::patch_draft,
        versions::model_cards::discard_draft, versions::model_cards::list,
        versions::model_cards::read, versions::model_cards::diff,
        versions::courses::deaccession, versions::datasets::deaccession,
        versions::model_cards::deaccession,
        citation::courses, citation::datasets, citation::model_cards,
        resources::list_files, resources::add_file, resources::delete_file,
        learning::list_modules, learning::add_module, learning::change_module,
        learning::delete_module, learning::my_enrollment, learning::enroll, learning::withdraw, learning::upgrade,
        learning::mark_done, learning::unmark_done, learning::my_enrollments, learning::learners,
        learning::stats, learning::completion,
        partnerships::list, partnerships::create, partnerships::show, partnerships::update,
        partnerships::activate, partnerships::conclude, partnerships::dissolve,
        partnerships::members, partnerships::invite, partnerships::change_member,
        partnerships::end_membership, partnerships::accept, partnerships::decline,
        partnerships::coordinators, partnerships::add_coordinator,
        partnerships::remove_coordinator, partnerships::shared, partnerships::share,
        partnerships::unshare,
        access::create, access::list_for_dataset, access::mine, access::show, access::approve,
        access::reject, access::withdraw, access::revoke, access::file_link,
        access::follow_link, access::report,
        clients::list, clients::create, clients::show, clients::update, clients::delete,
        std_croissant::croissant_of, std_croissant::dataset_readme,
        std_croissant::model_card_readme, std_croissant::import_model_card,
        catalog::catalog, catalog::catalog_file, catalog::policy,
        oai::oai_get, oai::oai_post,
        changes::changes, changes::course_package,
        webhooks::institutions::create, webhooks::institutions::list, webhooks::institutions::show,
        webhooks::institutions::update, webhooks::institutions::delete,
        webhooks::institutions::rotate_secret, webhooks::institutions::deliveries,
        webhooks::institutions::redeliver, webhooks::institutions::ping,
        webhooks::partnerships::create, webhooks::partnerships::list, webhooks::partnerships::show,
        webhooks::partnerships::update, webhooks::partnerships::delete,
        webhooks::partnerships::rotate_secret, webhooks::partnerships::deliveries,
        webhooks::partnerships::redeliver, webhooks::partnerships::ping,
    ),
    components(schemas(Problem, FieldError, ops::Health, ops::Ready, admin::OutboxStatus,
        resources::SortParam, crate::domain::resource::Status, crate::domain::resource::ResourceKind,
        crate::domain::resource::RiskTier, crate::domain::resource::AccessLevel)),
    modifiers(&BearerAuth, &CommonResponses),
    tags(
        (name = "operations", description = "Liveness, readiness and metrics"),
        (name = "auth", description = "Registration, sign-in, tokens, password reset"),
        (name = "me", description = "Your profile, password, API tokens and notifications"),
        (name = "users", description = "Account administration (admins)"),
        (name = "institutions", description = "Institutions, their members and invitations"),
        (name = "resources", description = "The catalogue: courses, datasets and model cards, their lifecycle and dataset files"),
        (name = "learning", description = "Course modules, enrollment, progress and completion"),
        (name = "access", description = "Dataset access and data sovereignty: access requests and grants, file links, the transparency report"),
        (name = "partnerships", description = "Cross-border lab partnerships: members, coordinators, shared resources"),
        (name = "standards", description = "Open standards out: Croissant, schema.org, Hugging Face cards"),
        (name = "admin", description = "For administrators: the email outbox, the audit log and the client apps (partner frontends)"),
        (name = "standards", description = "Open standards out: the DCAT-AP catalogue and datasets' ODRL policies"),
        (name = "changes", description = "Following changes: the change feed for offline clients and courses' offline packages"),
        (name = "webhooks", description = "Signed webhooks (Standard Webhooks 1.0) of institutions and partnerships: subscriptions, secrets, delivery logs (docs/WEBHOOKS.md)"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as served and committed.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let description = doc.info.description.take().unwrap_or_default();
    doc.info.description = Some(format!(
        "{description}\n\n## Problem types\n\nEvery `type` an error can have besides \
         `about:blank` (which means: the status says it all):\n\n{}",
        crate::problem_types::ProblemType::markdown_table()
    ));
    doc
}

/// The document as pretty JSON with a trailing newline (the committed form),
/// with the text rule stated on every free-text input (see [`text_patterns`]).
pub fn openapi_json() -> String {
    let mut doc = serde_json::to_value(openapi()).unwrap_or_default();
    text_patterns(&mut doc);
    sparse_representations(&mut doc);
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// The kinds' representations as `fields=` trims them: for each of
/// `Course`, `Dataset` and `ModelCard` a `…Fields` schema with the same
/// properties of which only `id` and `kind` are required, offered beside
/// the full one (`anyOf`) wherever `fields=` applies (single reads and the
/// items of `ResourcePage`). Derived from the full schemas here, so the two never
/// drift apart.
fn sparse_representations(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    const KINDS: [&str; 3] = ["Course", "Dataset", "ModelCard"];
    for kind in KINDS {
        let Some(full) = doc.pointer(&format!("/components/schemas/{kind}")).cloned() else {
            continue;
        };
        let mut sparse = full;
        if let Some(map) = sparse.as_object_mut() {
            map.insert("required".into(), json!(["id", "kind"]));
            map.insert(
                "description".into(),
                Value::String(format!(
                    "A `{kind}` trimmed by `fields=`: only the fields named, and `id` and `kind`."
                )),
            );
            map.remove("example");
        }
        if let Some(schemas) = doc
            .pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut)
        {
            schemas.insert(format!("{kind}Fields"), sparse);
        }
    }
    let either = |kind: &str| {
        json!([
            {"$ref": format!("#/components/schemas/{kind}")},
            {"$ref": format!("#/components/schemas/{kind}Fields")}
        ])
    };
    // A page's items (not `AnyResource` itself: what the commands answer is
    // never trimmed).
    if let Some(items) = doc.pointer_mut("/components/schemas/ResourcePage/properties/items/items")
    {
        let mut any = Vec::new();
        for kind in KINDS {
            if let Value::Array(two) = either(kind) {
                any.extend(two);
            }
        }
        *items = json!({"anyOf": any});
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, kind) in [
        ("/api/v1/courses/{id}", "Course"),
        ("/api/v1/datasets/{id}", "Dataset"),
        ("/api/v1/model-cards/{id}", "ModelCard"),
    ] {
        let content = "/get/responses/200/content/application~1json/schema";
        if let Some(schema) = paths
            .get_mut(path)
            .and_then(|item| item.pointer_mut(content))
        {
            *schema = json!({"anyOf": either(kind)});
        }
    }
}

/// States `http::text`'s rule in the document: every string a client sends
/// in the URI or a body (path and query parameters, request bodies and the component schemas
/// they reference) that has no format, enum or pattern of its own gets a
/// pattern refusing C0 control characters; fields named in
/// `MULTI_LINE_FIELDS` allow tab, LF and CR. Done on the generated document
/// so new endpoints are covered without anyone remembering to.
fn text_patterns(doc: &mut serde_json::Value) {
    use serde_json::Value;
    // Component schemas reachable from a request body.
    let mut wanted: Vec<String> = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for item in paths.values().filter_map(Value::as_object) {
            for op in item.values() {
                if let Some(body) = op.get("requestBody") {
                    collect_refs(body, &mut wanted);
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    while let Some(name) = wanted.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = doc.pointer(&format!("/components/schemas/{name}")) {
            collect_refs(schema, &mut wanted);
        }
    }
    for name in &seen {
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            patch_schema(schema, None);
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in item.values_mut() {
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                // Path and query parameters: the rule does not cover headers
                // (a pattern there would promise a 400 the server never gives).
                for p in params {
                    let in_uri =
                        matches!(p.get("in").and_then(Value::as_str), Some("path" | "query"));
                    if let (true, Some(schema)) = (in_uri, p.get_mut("schema")) {
                        patch_schema(schema, None);
                    }
                }
            }
            if let Some(content) = op
                .pointer_mut("/requestBody/content")
                .and_then(Value::as_object_mut)
            {
                for media in content.values_mut() {
                    if let Some(schema) = media.get_mut("schema") {
                        patch_schema(schema, None);
                    }
                }
            }
        }
    }
}

fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(name) = v
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.push(name.to_string());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Adds the text pattern to `schema` if it is a plain string, and walks
/// into properties, items and compositions (`field` is the property name
/// the schema describes, which decides single- or multi-line).
fn patch_schema(schema: &mut serde_json::Value, field: Option<&str>) {
    use crate::http::text::{MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN, is_multi_line};
    use serde_json::Value;
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    let is_string = match map.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    let constrained = ["format", "enum", "pattern", "const", "$ref"]
        .iter()
        .any(|k| map.contains_key(*k));
    if is_string && !constrained {
        let pattern = if field.is_some_and(is_multi_line) {
            MULTI_LINE_PATTERN
        } else {
            SINGLE_LINE_PATTERN
        };
        map.insert("pattern".into(), Value::String(pattern.into()));
    }
    if let Some(props) = map.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, prop) in props.iter_mut() {
            patch_schema(prop, Some(name));
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = map.get_mut(key) {
            patch_schema(inner, field);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = map.get_mut(key).and_then(Value::as_array_mut) {
            for inner in list {
                patch_schema(inner, field);
            }
        }
    }
}

/// The query parameters every operation takes, read once from the
/// document ([`crate::http::params`]).
static QUERY_RULES: std::sync::LazyLock<QueryRules> = std::sync::LazyLock::new(|| {
    QueryRules::from_document(&serde_json::to_value(openapi()).unwrap_or_default())
});

/// A route for GET that also answers HEAD (same headers, no body).
pub fn get() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Registers every route. Resources are declared with `web::resource` so
/// that a known path with an unsupported method answers 405 with `Allow`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    std::sync::LazyLock::force(&QUERY_RULES);
    cfg.service(web::resource("/healthz").route(get().to(ops::healthz)))
        .service(web::resource("/readyz").route(get().to(ops::readyz)))
        .service(web::resource("/metrics").route(get().to(ops::metrics)))
        .configure(oai::routes)
        .service(web::resource(OPENAPI_PATH).route(get().to(serve_openapi)))
        .service(web::resource("/docs").route(get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header(("Location", "/docs/"))
                .finish()
        })))
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .config(utoipa_swagger_ui::Config::from(OPENAPI_PATH)),
        )
        .service(
            web::scope(API_PREFIX)
                // Outermost first: credentials are checked before the
                // idempotency store (which scopes keys to the user) and
                // before any extractor reads the body.
                .wrap(from_fn(idempotency))
                // Unknown or repeated query parameters: 400 before any handler.
                .wrap(from_fn(|req, next| strict_query(&QUERY_RULES, req, next)))
                .wrap(from_fn(crate::auth::principal::authenticate_request))
                // Outside the idempotency store (it keeps no `no-store`
                // answer) and around every answer, 401s included.
                .wrap(from_fn(crate::http::private::personal_responses))
                // Outermost: an anonymous public read answered from memory
                // skips everything below; any write moves the generation.
                .wrap(from_fn(crate::http::public_cache::public_cache))
                .configure(v1_routes)
                .default_service(web::to(not_found)),
        );
}

/// Routes under `/api/v1`. Each area adds its own `configure` here.
fn v1_routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(auth::routes)
        .configure(me::routes)
        .configure(memberships::routes)
        .configure(notifications::routes)
        .configure(users::routes)
        .configure(admin::routes)
        .configure(webhooks::routes)
        .configure(institutions::routes)
        // Before `resources`: `/model-cards/import` would match `/model-cards/{id}`.
        .configure(std_croissant::routes)
        .configure(resources::routes)
        .configure(versions::routes)
        .configure(citation::routes)
        .configure(learning::routes)
        .configure(partnerships::routes)
        .configure(access::routes)
        .configure(audit::routes)
        .configure(clients::routes)
        .configure(catalog::routes)
        .configure(changes::routes);
}

/// Documents the answers every endpoint of a kind can give, so each
/// operation need not repeat them: bodies can be malformed (400), too big
/// (413) or, where JSON is asked for, not JSON (415); authenticated endpoints can answer 401; every
/// endpoint can be rate limited or fail (429, 500 are not listed: generic).
#[derive(Debug)]
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    crate::error::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                let has_parameters = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let responses = &mut op.responses.responses;
                if has_parameters || op.request_body.is_some() {
                    responses
                        .entry("400".to_string())
                        .or_insert_with(|| problem("Invalid parameters or fields").into());
                }
                if let Some(body) = &op.request_body {
                    responses
                        .entry("413".to_string())
                        .or_insert_with(|| problem("Request body too large").into());
                    // Only a JSON body is refused for not being JSON; an
                    // operation taking another media type says its own 415
                    // (or, like OAI-PMH, answers a wrong one in its protocol).
                    let json = match body {
                        utoipa::openapi::RefOr::T(b) => b.content.contains_key("application/json"),
                        utoipa::openapi::RefOr::Ref(_) => true,
                    };
                    if json {
                        responses
                            .entry("415".to_string())
                            .or_insert_with(|| problem("Request body is not JSON").into());
                    }
                }
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    responses.entry("401".to_string()).or_insert_with(|| {
                        problem("Not signed in, or the token is invalid").into()
                    });
                }
            }
        }
    }
}

/// Declares the bearer scheme (access JWTs and `kj_` API tokens).
#[derive(Debug)]
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from /auth/login (JWT), or a personal API token (kj_…).",
                    ))
                    .build(),
            ),
        );
    }
}

async fn serve_openapi(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// The rendered document, built once at start-up.
#[derive(Debug, Clone)]
pub struct OpenApiJson(pub String);

/// The answer for paths no route matches.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
