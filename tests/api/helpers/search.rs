//! Search fixtures: resources with exactly the texts a test names (no
//! stray words of the test's queries), the search requests, and walking
//! every page of a list.

use reqwest::Method;
use serde_json::{Value, json};

use super::app::TestApp;
use super::http::{body_of, call};

/// The three kinds, as their collection in the URL.
pub const COURSES: &str = "courses";
pub const DATASETS: &str = "datasets";
pub const MODEL_CARDS: &str = "model-cards";

/// What a kind needs on top of the core to be published, in words no test
/// searches for.
pub fn publishable(collection: &str) -> Value {
    match collection {
        COURSES => json!({"level": "beginner", "duration_hours": 4}),
        DATASETS => json!({
            "access_level": "open",
            "datasheet": {"motivation": "Why.", "composition": "What.",
                          "collection_process": "How.", "uses": "For what."},
        }),
        MODEL_CARDS => json!({
            "risk_tier": "minimal",
            "intended_uses": "Teaching.",
            "out_of_scope_uses": "Anything else.",
        }),
        other => panic!("no such collection: {other}"),
    }
}

/// `into` with the top-level keys of `from` set (`null` removes a key).
pub fn merge(into: &mut Value, from: Value) {
    let Value::Object(from) = from else {
        panic!("merge an object")
    };
    for (k, v) in from {
        if v.is_null() {
            into.as_object_mut().unwrap().remove(&k);
        } else {
            into[k] = v;
        }
    }
}

/// A draft of `collection` owned by `inst`, complete enough to publish:
/// the summary is the neutral "Plain words." unless `extra` says otherwise;
/// a course gets one module titled "Unit" (or `extra.modules`: a list of
/// module titles, taken out of the body). Its id.
pub async fn draft(
    app: &TestApp,
    token: &str,
    collection: &str,
    inst: &str,
    title: &str,
    extra: Value,
) -> String {
    let mut body = json!({
        "institution": inst,
        "title": title,
        "summary": "Plain words.",
        "license": "CC-BY-4.0",
        "languages": ["en"],
    });
    merge(&mut body, publishable(collection));
    merge(&mut body, extra);
    let modules: Vec<String> = match body.as_object_mut().unwrap().remove("modules") {
        Some(Value::Array(m)) => m
            .into_iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect(),
        _ => vec!["Unit".to_string()],
    };
    let res = app
        .post_json(&format!("/api/v1/{collection}"), body, Some(token))
        .await;
    let created = body_of(res, 201).await;
    assert_eq!(created["status"], "draft", "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    if collection == COURSES {
        for title in modules {
            let res = app
                .post_json(
                    &format!("/api/v1/courses/{id}/modules"),
                    json!({"title": title, "content": "Body."}),
                    Some(token),
                )
                .await;
            body_of(res, 201).await;
        }
    }
    id
}

pub async fn publish(app: &TestApp, token: &str, collection: &str, id: &str) {
    let res = call(
        app,
        Method::POST,
        &format!("/api/v1/{collection}/{id}/publish"),
        Some(token),
        None,
    )
    .await;
    let r = body_of(res, 200).await;
    assert_eq!(r["status"], "published", "{r}");
}

/// A published resource's id (see [`draft`]).
pub async fn published(
    app: &TestApp,
    token: &str,
    collection: &str,
    inst: &str,
    title: &str,
    extra: Value,
) -> String {
    let id = draft(app, token, collection, inst, title, extra).await;
    publish(app, token, collection, &id).await;
    id
}

/// `s` for a query string.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET path` as `token`: the 200 body.
pub async fn get_ok(app: &TestApp, token: Option<&str>, path: &str) -> Value {
    body_of(call(app, Method::GET, path, token, None).await, 200).await
}

/// The ids of the first page of `/resources?q=…` (in order), at most 100.
pub async fn found(app: &TestApp, token: Option<&str>, q: &str) -> Vec<String> {
    let page = get_ok(
        app,
        token,
        &format!("/api/v1/resources?limit=100&q={}", enc(q)),
    )
    .await;
    assert!(page["next_cursor"].is_null(), "one page: {page}");
    ids_of(&page)
}

pub fn ids_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect()
}

/// Every item of a list, walking its pages of `limit` with `next_cursor`.
pub async fn walk_items(app: &TestApp, token: Option<&str>, path: &str, limit: u32) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut cursor: Option<String> = None;
    let mut out = Vec::new();
    for _ in 0..1000 {
        let url = match &cursor {
            None => format!("{path}{sep}limit={limit}"),
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
        };
        let page = get_ok(app, token, &url).await;
        out.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
    panic!("{path}: pagination did not end");
}

// ----- partnerships ------------------------------------------------------------------

/// An active partnership `slug` of `coordinator` with `members` (each an
/// institution slug and its owner's token) active in it.
pub async fn active_partnership(
    app: &TestApp,
    coordinator: &str,
    slug: &str,
    members: &[(&str, &str)],
) {
    let base = format!("/api/v1/partnerships/{slug}");
    let res = app
        .post_json(
            "/api/v1/partnerships",
            json!({"slug": slug, "title": format!("Partnership {slug}"),
                   "starts_on": "2026-03-01", "ends_on": "2028-02-29"}),
            Some(coordinator),
        )
        .await;
    body_of(res, 201).await;
    for (inst, owner) in members {
        let res = app
            .post_json(
                &format!("{base}/members"),
                json!({"institution": inst}),
                Some(coordinator),
            )
            .await;
        body_of(res, 201).await;
        let res = call(
            app,
            Method::POST,
            &format!("{base}/members/{inst}/accept"),
            Some(owner),
            None,
        )
        .await;
        let m = body_of(res, 200).await;
        assert_eq!(m["status"], "active", "{m}");
    }
    let res = call(
        app,
        Method::POST,
        &format!("{base}/activate"),
        Some(coordinator),
        None,
    )
    .await;
    let p = body_of(res, 200).await;
    assert_eq!(p["status"], "active", "{p}");
}

/// Shares `resource` into partnership `slug` (as an editor of its owner).
pub async fn share(app: &TestApp, editor: &str, slug: &str, resource: &str) {
    let res = app
        .post_json(
            &format!("/api/v1/partnerships/{slug}/resources"),
            json!({"resource_id": resource}),
            Some(editor),
        )
        .await;
    body_of(res, 201).await;
}
