//! A catalogue with something in every list, for the tests that walk every
//! operation of the OpenAPI document: what a path parameter should be so
//! that a list answers with real items, and plausible values for query
//! parameters read from their schemas.

use reqwest::Method;
use serde_json::{Value, json};

use super::access::{Ds, INST, dataset, institution, person, requested};
use super::accounts::{Account, admin, set_platform_role};
use super::app::{TestApp, spawn_app_with};
use super::database::Backend;
use super::http::{body_of, call};
use super::institutions::{create, verify};

/// The partnership of the world (`ke-lab` and `ng-lab`, active).
pub const PARTNERSHIP: &str = "ke-ng";
/// An id that routes but names nothing.
pub const ANY_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
/// The webhooks of the institution and of the partnership (disabled: the
/// worker sends them nothing).
pub const INST_HOOK: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000a001";
pub const PART_HOOK: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000a002";

/// `ke-lab` (KE, verified) owned by `owner`, `ng-lab` (NG) by `ng_owner`,
/// `gh-lab` (GH) by `gh_owner`, all verified; the active partnership
/// `ke-ng` coordinated by `coord`; a published course with one module in
/// which `learner` is enrolled; a published restricted dataset with one
/// file that `learner` asked to use; an API token of `learner`; a client
/// app. No email worker runs, so the outbox only changes when the test
/// changes something.
pub struct Catalogue {
    pub app: TestApp,
    pub root: Account,
    pub owner: Account,
    pub gh_owner: Account,
    pub coord: Account,
    pub learner: Account,
    pub course: String,
    pub dataset: Ds,
}

pub async fn start(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.mail.worker = false;
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.rate_limit.register_per_hour = 10_000;
        s.rate_limit.login_per_minute = 10_000;
        s.rate_limit.refresh_per_minute = 10_000;
        s.rate_limit.password_reset_per_hour = 10_000;
    })
    .await
    .expect("app")
}

/// A course body that passes the completeness gate once it has a module.
pub fn course_body(title: &str) -> Value {
    json!({"institution": INST, "title": title, "summary": "What it is.",
           "license": "CC-BY-4.0", "languages": ["sw"], "duration_hours": 6,
           "level": "beginner"})
}

pub fn module_body(title: &str) -> Value {
    json!({"title": title, "content": format!("# {title}\n\nText.")})
}

pub fn model_card_body(title: &str) -> Value {
    json!({"institution": INST, "title": title, "license": "apache-2.0",
           "risk_tier": "limited", "task": "automatic-speech-recognition"})
}

/// `POST path body` as `token`, expecting `status`: the answer's body.
pub async fn post(
    app: &TestApp,
    token: &str,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    body_of(
        call(app, Method::POST, path, Some(token), body).await,
        status,
    )
    .await
}

/// A published course of `ke-lab` with one module: its id.
pub async fn published_course(app: &TestApp, token: &str, title: &str) -> String {
    let course = post(app, token, "/api/v1/courses", Some(course_body(title)), 201).await;
    let id = course["id"].as_str().unwrap().to_string();
    post(
        app,
        token,
        &format!("/api/v1/courses/{id}/modules"),
        Some(module_body("Sauti")),
        201,
    )
    .await;
    post(
        app,
        token,
        &format!("/api/v1/courses/{id}/publish"),
        None,
        200,
    )
    .await;
    id
}

pub async fn catalogue(backend: Backend) -> Catalogue {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@ke-lab.example.org").await;
    let ng_owner = app.signup("owner@ng-lab.example.org").await;
    let gh_owner = app.signup("owner@gh-lab.example.org").await;
    for (who, slug, country) in [
        (&owner, INST, "KE"),
        (&ng_owner, "ng-lab", "NG"),
        (&gh_owner, "gh-lab", "GH"),
    ] {
        create(&app, &who.access, institution(slug, country)).await;
        verify(&app, &root.access, slug).await;
    }
    let learner = person(&app, "learner@example.org", Some("KE")).await;
    let coord = app.signup("coord@example.org").await;
    set_platform_role(&app, &coord.id, "coordinator").await;
    let coord = app.signin("coord@example.org").await;

    let base = format!("/api/v1/partnerships/{PARTNERSHIP}");
    post(
        &app,
        &coord.access,
        "/api/v1/partnerships",
        Some(json!({"slug": PARTNERSHIP, "title": "Kenya–Nigeria speech",
                    "starts_on": "2026-03-01", "ends_on": "2028-02-29"})),
        201,
    )
    .await;
    for (inst, who) in [(INST, &owner), ("ng-lab", &ng_owner)] {
        post(
            &app,
            &coord.access,
            &format!("{base}/members"),
            Some(json!({ "institution": inst })),
            201,
        )
        .await;
        post(
            &app,
            &who.access,
            &format!("{base}/members/{inst}/accept"),
            None,
            200,
        )
        .await;
    }
    post(&app, &coord.access, &format!("{base}/activate"), None, 200).await;

    let course = published_course(&app, &owner.access, "Swahili speech basics").await;
    let ds = dataset(&app, &owner.access, "Swahili radio", json!({})).await;
    requested(&app, &learner, &ds.id).await;
    let enrolled = call(
        &app,
        Method::PUT,
        &format!("/api/v1/courses/{course}/enrollment"),
        Some(&learner.access),
        None,
    )
    .await;
    assert!(
        enrolled.status().is_success(),
        "enroll: {}",
        enrolled.status()
    );
    post(
        &app,
        &learner.access,
        "/api/v1/me/tokens",
        Some(json!({"name": "phone", "scopes": ["read"]})),
        201,
    )
    .await;
    post(
        &app,
        &root.access,
        "/api/v1/admin/clients",
        Some(
            json!({"name": "Jifunze", "allowed_link_bases": ["https://jifunze.example.ke/app/"],
                    "allowed_origins": ["https://jifunze.example.ke"]}),
        ),
        201,
    )
    .await;
    webhook(&app, INST_HOOK, Some(INST), None).await;
    webhook(&app, PART_HOOK, None, Some(PARTNERSHIP)).await;
    Catalogue {
        app,
        root,
        owner,
        gh_owner,
        coord,
        learner,
        course,
        dataset: ds,
    }
}

/// A disabled webhook subscription of an institution or a partnership,
/// written directly (the API would resolve its host: not offline).
async fn webhook(app: &TestApp, id: &'static str, inst: Option<&str>, part: Option<&str>) {
    let (inst, part) = (inst.map(str::to_string), part.map(str::to_string));
    app.db
        .run(move |conn| {
            let inst = match inst {
                Some(s) => Some(
                    kujenga::db::institutions::by_slug(conn, &s)?
                        .expect("inst")
                        .id,
                ),
                None => None,
            };
            let part = match part {
                Some(s) => Some(
                    kujenga::db::partnerships::by_slug(conn, &s)?
                        .expect("part")
                        .id,
                ),
                None => None,
            };
            let now = kujenga::db::now();
            kujenga::db::webhooks::insert(
                conn,
                &kujenga::db::webhooks::SubscriptionRow {
                    id: id.into(),
                    institution_id: inst,
                    partnership_id: part,
                    url: "https://hooks.example.org/in".into(),
                    description: "fixture".into(),
                    event_types: r#"["resource.updated"]"#.into(),
                    enabled: false,
                    disabled_reason: None,
                    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
                    previous_secret: None,
                    previous_secret_until: None,
                    consecutive_failures: 0,
                    created_by: None,
                    created_at: now,
                    updated_at: now,
                },
            )
        })
        .await
        .expect("webhook");
}

impl Catalogue {
    /// `template` with its path parameters filled: the world's own course,
    /// dataset, institution and partnership where the template is about
    /// them (so lists under them have items), an id that routes elsewhere.
    pub fn path(&self, template: &str) -> String {
        let mut out = String::new();
        let mut previous = "";
        for segment in template.split('/').skip(1) {
            out.push('/');
            let value = match (previous, segment) {
                (_, s) if !s.starts_with('{') => s.to_string(),
                ("courses", _) => self.course.clone(),
                ("datasets", _) => self.dataset.id.clone(),
                ("files", _) => self.dataset.file.clone(),
                ("institutions", _) => INST.to_string(),
                ("partnerships", _) => PARTNERSHIP.to_string(),
                ("webhooks", _) if out.starts_with("/api/v1/partnerships") => PART_HOOK.to_string(),
                ("webhooks", _) => INST_HOOK.to_string(),
                (_, "{slug}" | "{institution}" | "{institution_slug}") => "some-slug".to_string(),
                _ => ANY_ID.to_string(),
            };
            out.push_str(&value);
            previous = segment;
        }
        out
    }
}

/// The schema a `$ref` stands for (or the schema itself).
pub fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        Some(name) => &doc["components"]["schemas"][name],
        None => schema,
    }
}

fn has_type(schema: &Value, t: &str) -> bool {
    match &schema["type"] {
        Value::String(s) => s == t,
        Value::Array(ts) => ts.iter().any(|x| x == t),
        _ => false,
    }
}

/// A value a client would plausibly send for a documented query parameter
/// (URL-encoded): its example, an enum's first value, a number in range, a
/// date or time, else a word.
pub fn plausible(doc: &Value, param: &Value) -> String {
    let schema = resolve(doc, &param["schema"]);
    let schema = match schema.get("oneOf").or_else(|| schema.get("anyOf")) {
        Some(Value::Array(alts)) => alts
            .iter()
            .map(|a| resolve(doc, a))
            .find(|a| !has_type(a, "null"))
            .unwrap_or(schema),
        _ => schema,
    };
    let text = if let Some(e) = param.get("example").or_else(|| schema.get("example")) {
        match e {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    } else if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        first
            .as_str()
            .map_or_else(|| first.to_string(), str::to_string)
    } else if has_type(schema, "integer") || has_type(schema, "number") {
        schema["minimum"].as_i64().unwrap_or(1).max(1).to_string()
    } else if has_type(schema, "boolean") {
        "true".to_string()
    } else {
        match schema["format"].as_str() {
            Some("date-time") => "2026-01-01T00:00:00Z".to_string(),
            Some("date") => "2026-01-01".to_string(),
            Some("uuid") => ANY_ID.to_string(),
            _ => "word".to_string(),
        }
    };
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The documented operations under `/api/v1`: (method, template, operation).
pub fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        if !template.starts_with("/api/v1/") {
            continue;
        }
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                out.push((method.clone(), template.clone(), op.clone()));
            }
        }
    }
    out
}

/// An operation's query parameters.
pub fn query_params(op: &Value) -> Vec<Value> {
    op["parameters"]
        .as_array()
        .map(|ps| ps.iter().filter(|p| p["in"] == "query").cloned().collect())
        .unwrap_or_default()
}

/// Whether the operation is a list page: a 200 whose schema has `items`
/// and `next_cursor`.
pub fn is_list(doc: &Value, op: &Value) -> bool {
    let Some(schema) = op.pointer("/responses/200/content/application~1json/schema") else {
        return false;
    };
    let props = &resolve(doc, schema)["properties"];
    props.get("items").is_some() && props.get("next_cursor").is_some()
}

/// The served document.
pub async fn document(app: &TestApp) -> Value {
    body_of(app.get("/api/v1/openapi.json").await, 200).await
}

/// The request for `method path` as `token`, without a body.
pub async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
    call(app, method, path, token, None).await
}
