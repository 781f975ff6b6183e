//! What the catalogue serves is what the committed OpenAPI document says:
//! every kind, created, changed, published, archived, read alone and in
//! lists, is validated against the response schema `api-spec/openapi.json`
//! documents for that operation (no field it does not list, every field it
//! requires, formats included). And a stored word outside its set (a kind,
//! a status, a visibility) answers 500, never a default.

use diesel::prelude::*;
use jsonschema::Validator;
use kujenga::db::schema::resources;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::{Account, Backend, TestApp, problem, spawn_app_with};

const INST: &str = "lab-schema";

/// The committed document.
fn spec() -> Value {
    serde_json::from_str(include_str!("../../api-spec/openapi.json")).expect("openapi.json")
}

/// A validator for the JSON body `method path` answers with `status`, as
/// documented (its `$ref`s resolved against the document's components).
fn documented(spec: &Value, method: &str, path: &str, status: u16) -> Validator {
    let pointer = format!(
        "/paths/{}/{method}/responses/{status}/content/application~1json/schema",
        path.replace('~', "~0").replace('/', "~1")
    );
    let mut root = spec
        .pointer(&pointer)
        .unwrap_or_else(|| panic!("no documented body at {pointer}"))
        .clone();
    root["components"] = spec["components"].clone();
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .expect("a valid schema")
}

/// The validator of one component schema (`Course`, `CourseFields`, …).
fn component(spec: &Value, name: &str) -> Validator {
    let root = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": spec["components"].clone(),
    });
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .expect("a valid schema")
}

fn violations(v: &Validator, body: &Value) -> Vec<String> {
    v.iter_errors(body)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn conforms(v: &Validator, body: &Value, what: &str) {
    let errors = violations(v, body);
    assert!(
        errors.is_empty(),
        "{what} is not what the committed schema documents:\n{}\n{body:#}",
        errors.join("\n")
    );
}

/// An app and an admin who owns `INST` (verified).
async fn world(backend: Backend) -> (TestApp, Account) {
    let app = spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
    })
    .await
    .expect("app");
    let signed = app.signup("editor@example.org").await;
    app.make_admin(&signed.id).await;
    let admin = app.signin("editor@example.org").await;
    let body = json!({"slug": INST, "name": "Schema Lab", "country": "KE", "kind": "university"});
    let res = app
        .post_json("/api/v1/institutions", body, Some(&admin.access))
        .await;
    assert_eq!(res.status(), 201);
    let path = format!("/api/v1/institutions/{INST}/verify");
    let res = app.post_json(&path, json!({}), Some(&admin.access)).await;
    assert_eq!(res.status(), 200);
    (app, admin)
}

async fn send(
    app: &TestApp,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One of each kind, filled in as far as each kind goes, linked to each
/// other (a course uses the dataset and teaches the model; the model card
/// was trained on the dataset and reports results on it).
fn body(dataset_id: Option<&str>, card_id: Option<&str>) -> (&'static str, Value) {
    let core = |title: &str| {
        json!({"institution": INST, "title": title, "summary": "What it is.",
               "description": "## About\n\nMarkdown.", "license": "CC-BY-4.0",
               "languages": ["sw", "en"], "countries": ["KE", "TZ"], "tags": ["health"]})
    };
    let with = |mut base: Value, extra: Value| {
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        base
    };
    match (dataset_id, card_id) {
        (None, _) => (
            "datasets",
            with(
                core("Clinic visits"),
                json!({"access_level": "restricted", "transfer_policy": "allowed_countries",
                       "allowed_countries": ["TZ"], "contains_personal_data": true,
                       "record_count": 1200, "size_bytes": 345678, "formats": ["CSV"],
                       "datasheet": {"motivation": "m", "composition": "c",
                                     "collection_process": "p", "preprocessing": "pp",
                                     "uses": "u", "biases_and_limitations": "b"}}),
            ),
        ),
        (Some(ds), None) => (
            "model-cards",
            with(
                core("Triage model"),
                json!({"risk_tier": "high", "model_type": "classifier", "architecture": "CNN",
                       "task": "triage", "intended_uses": "i", "out_of_scope_uses": "o",
                       "factors": "f", "metrics": "AUC", "training_data": "t",
                       "evaluation_data": "e", "ethical_considerations": "x", "caveats": "c",
                       "results": [
                           {"task": "triage", "dataset_id": ds, "metric": "auc", "value": 0.9,
                            "slice": "women"},
                           {"task": "triage", "dataset": "Clinic visits", "metric": "auc",
                            "value": 0.88, "slice": "men"}],
                       "related": [{"relation": "trained_on", "resource_id": ds}]}),
            ),
        ),
        (Some(ds), Some(card)) => (
            "courses",
            with(
                core("Triage with data"),
                json!({"level": "intermediate", "delivery": "blended", "duration_hours": 12.5,
                       "prerequisites": "Python", "offline_package_url": "https://example.org/c.zip",
                       "offline_package_bytes": 1000,
                       "related": [{"relation": "uses_dataset", "resource_id": ds},
                                   {"relation": "teaches_model", "resource_id": card}]}),
            ),
        ),
    }
}

api_test!(every_kind_is_served_as_documented, |backend| {
    let (app, admin) = world(backend).await;
    let token = Some(admin.access.as_str());
    let spec = spec();
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;
    let mut ids: Vec<(&str, String)> = Vec::new();
    let mut served: Vec<(&str, Value)> = Vec::new();
    for _ in 0..3 {
        let dataset = ids.first().map(|(_, id)| id.as_str());
        let card = ids.get(1).map(|(_, id)| id.as_str());
        let (kind, body) = body(dataset, card);
        let coll = format!("/api/v1/{kind}");
        let item = format!("{coll}/{{id}}");
        let (status, created) = send(&app, token, post.clone(), &coll, Some(body)).await;
        assert_eq!(status, 201, "{created}");
        conforms(
            &documented(&spec, "post", &coll, 201),
            &created,
            "a new draft",
        );
        let id = created["id"].as_str().unwrap().to_string();
        let path = format!("{coll}/{id}");
        if kind == "courses" {
            let (status, m) = send(
                &app,
                token,
                post.clone(),
                &format!("{path}/modules"),
                Some(json!({"title": "Start", "content": "Welcome."})),
            )
            .await;
            assert_eq!(status, 201, "{m}");
        }
        let (status, changed) = send(
            &app,
            token,
            reqwest::Method::PATCH,
            &path,
            Some(json!({"summary": "What it is, changed."})),
        )
        .await;
        assert_eq!(status, 200, "{changed}");
        conforms(
            &documented(&spec, "patch", &item, 200),
            &changed,
            "a changed draft",
        );
        let (status, published) =
            send(&app, token, post.clone(), &format!("{path}/publish"), None).await;
        assert_eq!(status, 200, "{published}");
        let publish_path = format!("{item}/publish");
        conforms(
            &documented(&spec, "post", &publish_path, 200),
            &published,
            "a published resource",
        );
        // Read alone, by its editor and by anyone.
        for who in [token, None] {
            let (status, shown) = send(&app, who, get.clone(), &path, None).await;
            assert_eq!(status, 200, "{shown}");
            conforms(
                &documented(&spec, "get", &item, 200),
                &shown,
                "a resource read alone",
            );
            served.push((kind, shown));
        }
        ids.push((kind, id));
    }
    // Lists: every kind at once, and each kind's own.
    let page = documented(&spec, "get", "/api/v1/resources", 200);
    let (status, all) = send(&app, None, get.clone(), "/api/v1/resources", None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["items"].as_array().unwrap().len(), 3, "{all}");
    conforms(&page, &all, "the list of every kind");
    for (kind, _) in &ids {
        let coll = format!("/api/v1/{kind}");
        let (status, list) = send(&app, token, get.clone(), &coll, None).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
        conforms(
            &documented(&spec, "get", &coll, 200),
            &list,
            "a kind's list",
        );
    }
    // Archived.
    let (kind, id) = &ids[0];
    let archive_path = format!("/api/v1/{kind}/{{id}}/archive");
    let (status, archived) = send(
        &app,
        token,
        post.clone(),
        &format!("/api/v1/{kind}/{id}/archive"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{archived}");
    conforms(
        &documented(&spec, "post", &archive_path, 200),
        &archived,
        "an archived resource",
    );

    // The check bites: a field the schema does not list, a required one
    // missing (core or the kind's own), or one kind read as another.
    // A single read is documented as the full representation or, with
    // `fields=`, a trimmed one (`CourseFields`): the full one must bite.
    let course_schema = component(&spec, "Course");
    let (_, course) = served
        .iter()
        .find(|(k, _)| *k == "courses")
        .expect("a course")
        .clone();
    let (_, dataset) = served
        .iter()
        .find(|(k, _)| *k == "datasets")
        .expect("a dataset")
        .clone();
    let mut extra = course.clone();
    extra["surprise"] = json!(true);
    assert!(
        !violations(&course_schema, &extra).is_empty(),
        "an unlisted field passes"
    );
    for field in ["title", "published_at", "level", "offline_package_url"] {
        let mut missing = course.clone();
        missing.as_object_mut().unwrap().remove(field);
        assert!(
            !violations(&course_schema, &missing).is_empty(),
            "a course without `{field}` passes"
        );
    }
    assert!(
        !violations(&course_schema, &dataset).is_empty(),
        "a dataset passes as a course"
    );

    // Trimmed by `fields=`: what the server answers conforms to what the
    // document says of single reads and of pages, and the trimmed schemas
    // still bite (id and kind required, no unlisted field).
    for (kind, id) in &ids {
        let path = format!("/api/v1/{kind}/{id}?fields=title,tags");
        let (status, trimmed) = send(&app, token, get.clone(), &path, None).await;
        assert_eq!(status, 200, "{trimmed}");
        let keys: Vec<&str> = trimmed
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(!keys.contains(&"summary"), "{trimmed}");
        conforms(
            &documented(&spec, "get", &format!("/api/v1/{kind}/{{id}}"), 200),
            &trimmed,
            "a trimmed single read",
        );
        let (status, page) = send(
            &app,
            token,
            get.clone(),
            &format!("/api/v1/{kind}?fields=title"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        conforms(
            &documented(&spec, "get", &format!("/api/v1/{kind}"), 200),
            &page,
            "a trimmed page",
        );
    }
    let sparse = component(&spec, "CourseFields");
    let trimmed = json!({"id": course["id"], "kind": "course", "title": course["title"]});
    assert!(violations(&sparse, &trimmed).is_empty());
    for bad in [
        json!({"kind": "course", "title": "No id"}),
        json!({"id": course["id"], "kind": "course", "surprise": true}),
    ] {
        assert!(!violations(&sparse, &bad).is_empty(), "{bad} passes");
    }
});

/// Writes `value` into `column` of resource `id`, bypassing every rule.
async fn corrupt(app: &TestApp, id: &str, column: &'static str, value: &'static str) {
    let id = id.to_string();
    app.db
        .run(move |conn| {
            let row = resources::table.filter(resources::id.eq(id));
            match column {
                "kind" => diesel::update(row)
                    .set(resources::kind.eq(value))
                    .execute(conn),
                "status" => diesel::update(row)
                    .set(resources::status.eq(value))
                    .execute(conn),
                _ => diesel::update(row)
                    .set(resources::visibility.eq(value))
                    .execute(conn),
            }
        })
        .await
        .expect("raw update");
}

api_test!(a_stored_word_outside_its_set_answers_500, |backend| {
    let (app, admin) = world(backend).await;
    let token = Some(admin.access.as_str());
    let (status, created) = send(
        &app,
        token,
        reqwest::Method::POST,
        "/api/v1/courses",
        Some(json!({"institution": INST, "title": "Fragile"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/courses/{id}");
    // (A list filters on the status: a row of no known status is in none.)
    for (column, bad, good, listed) in [
        ("kind", "lecture", "course", true),
        ("status", "limbo", "draft", false),
        ("visibility", "secret", "public", true),
    ] {
        corrupt(&app, &id, column, bad).await;
        let res = app.get_auth(&path, &admin.access).await;
        let body = problem(res, 500).await;
        assert!(
            !body.to_string().contains(bad),
            "a 500 names nothing stored: {body}"
        );
        if listed {
            let res = app
                .get_auth("/api/v1/resources?status=draft", &admin.access)
                .await;
            problem(res, 500).await;
        }
        corrupt(&app, &id, column, good).await;
        let res = app.get_auth(&path, &admin.access).await;
        assert_eq!(res.status(), 200, "{column} restored");
    }
});
