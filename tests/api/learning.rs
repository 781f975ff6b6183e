//! Learning: course modules (a dense 1..n order), enrollment, progress,
//! completion (emails and public verification), the learner's list, the
//! institution's view (learners, stats) and the audit trail.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::audit::events;
use crate::helpers::http::{body_of, call, invalid, send, strings, typed, walk};
use crate::helpers::institutions::{create_slug, join, verify};
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Account, Backend, PASSWORD, TestApp, problem, spawn_app_with};

// ----- helpers ------------------------------------------------------------

const INST: &str = "lab-a";
const OTHER_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

/// An app with a platform admin and `lab-a` (KE), verified, owned by `owner`.
async fn world(backend: Backend) -> (TestApp, Account, Account) {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let owner = app.signup("owner@example.org").await;
    create_slug(&app, &owner.access, INST).await;
    verify(&app, &root.access, INST).await;
    (app, root, owner)
}

fn course_path(id: &str) -> String {
    format!("/api/v1/courses/{id}")
}

fn modules_path(id: &str) -> String {
    format!("/api/v1/courses/{id}/modules")
}

fn module_path(id: &str, module_id: &str) -> String {
    format!("/api/v1/courses/{id}/modules/{module_id}")
}

fn enrollment_path(id: &str) -> String {
    format!("/api/v1/courses/{id}/enrollment")
}

fn mark_path(id: &str, module_id: &str) -> String {
    format!("/api/v1/courses/{id}/enrollment/modules/{module_id}")
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// `base` with the keys of `extra` set (top level only).
fn with(base: Value, extra: Value) -> Value {
    let mut out = base;
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        for (k, v) in e {
            o.insert(k, v);
        }
    }
    out
}

/// A course body that passes the completeness gate before and after the
/// module rule lands (it also has the interim `duration_hours` and `level`).
fn course_body(title: &str, extra: Value) -> Value {
    with(
        json!({"institution": INST, "title": title, "summary": "What it is.",
               "license": "CC-BY-4.0", "languages": ["sw"], "duration_hours": 6,
               "level": "beginner"}),
        extra,
    )
}

/// A module body with Markdown content.
fn module(title: &str) -> Value {
    json!({"title": title, "content": format!("# {title}\n\nText.")})
}

async fn draft(app: &TestApp, token: &str, title: &str, extra: Value) -> String {
    let res = app
        .post_json("/api/v1/courses", course_body(title, extra), Some(token))
        .await;
    id_of(&body_of(res, 201).await)
}

async fn add(app: &TestApp, token: &str, course: &str, body: Value) -> Value {
    body_of(
        app.post_json(&modules_path(course), body, Some(token))
            .await,
        201,
    )
    .await
}

async fn publish(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    let path = format!("{}/publish", course_path(id));
    call(app, Method::POST, &path, Some(token), None).await
}

async fn archive(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    let path = format!("{}/archive", course_path(id));
    call(app, Method::POST, &path, Some(token), None).await
}

/// A published course with these modules: its id and the modules' ids.
async fn course(
    app: &TestApp,
    token: &str,
    title: &str,
    modules: &[Value],
    extra: Value,
) -> (String, Vec<String>) {
    let id = draft(app, token, title, extra).await;
    let mut ids = Vec::new();
    for m in modules {
        ids.push(id_of(&add(app, token, &id, m.clone()).await));
    }
    body_of(publish(app, token, &id).await, 200).await;
    (id, ids)
}

/// `n` required Markdown modules named `M1`…
fn required(n: usize) -> Vec<Value> {
    (1..=n).map(|i| module(&format!("M{i}"))).collect()
}

/// `(position, title)` of a course's modules, as `token` lists them.
async fn listed(app: &TestApp, token: Option<&str>, id: &str) -> Vec<(i64, String)> {
    let path = format!("{}?limit=100", modules_path(id));
    let page = body_of(call(app, Method::GET, &path, token, None).await, 200).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["position"].as_i64().unwrap(),
                m["title"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Titles in order, checking the positions are exactly 1..n.
async fn order(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let got = listed(app, Some(token), id).await;
    let positions: Vec<i64> = got.iter().map(|(p, _)| *p).collect();
    let dense: Vec<i64> = (1..=i64::try_from(got.len()).unwrap()).collect();
    assert_eq!(positions, dense, "{got:?}");
    got.into_iter().map(|(_, t)| t).collect()
}

async fn enroll(app: &TestApp, token: Option<&str>, id: &str) -> reqwest::Response {
    call(app, Method::PUT, &enrollment_path(id), token, None).await
}

async fn withdraw(app: &TestApp, token: Option<&str>, id: &str) -> reqwest::Response {
    call(app, Method::DELETE, &enrollment_path(id), token, None).await
}

async fn my_enrollment(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.get_auth(&enrollment_path(id), token).await
}

async fn mark(app: &TestApp, token: Option<&str>, id: &str, module_id: &str) -> reqwest::Response {
    call(app, Method::PUT, &mark_path(id, module_id), token, None).await
}

async fn unmark(app: &TestApp, token: &str, id: &str, module_id: &str) -> reqwest::Response {
    call(
        app,
        Method::DELETE,
        &mark_path(id, module_id),
        Some(token),
        None,
    )
    .await
}

async fn patch_module(
    app: &TestApp,
    token: &str,
    course: &str,
    module_id: String,
    body: Value,
) -> reqwest::Response {
    let path = module_path(course, &module_id);
    call(app, Method::PATCH, &path, Some(token), Some(body)).await
}

async fn delete_module(
    app: &TestApp,
    token: &str,
    course: &str,
    module_id: String,
) -> reqwest::Response {
    let path = module_path(course, &module_id);
    call(app, Method::DELETE, &path, Some(token), None).await
}

/// Marks a module done and returns the enrollment.
async fn done(app: &TestApp, token: &str, id: &str, module_id: &str) -> Value {
    body_of(mark(app, Some(token), id, module_id).await, 200).await
}

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .expect("an array")
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

fn sorted(items: &[&String]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| (*s).clone()).collect();
    out.sort();
    out
}

/// The in-app notifications of `kind` a person has.
async fn notifications(app: &TestApp, token: &str, kind: &str) -> Vec<Value> {
    let res = app
        .get_auth("/api/v1/me/notifications?limit=100", token)
        .await;
    body_of(res, 200).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == kind)
        .cloned()
        .collect()
}

async fn stats(app: &TestApp, token: Option<&str>, id: &str) -> reqwest::Response {
    let path = format!("{}/stats", course_path(id));
    call(app, Method::GET, &path, token, None).await
}

async fn learners(app: &TestApp, token: Option<&str>, id: &str) -> reqwest::Response {
    let path = format!("{}/enrollments", course_path(id));
    call(app, Method::GET, &path, token, None).await
}

// ----- modules: order ------------------------------------------------------

api_test!(modules_keep_a_dense_order, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let id = draft(&app, t, "Ordering", json!({})).await;
    assert!(order(&app, t, &id).await.is_empty());

    // Appending is the default; inserting shifts the rest down.
    let b = add(&app, t, &id, module("B")).await;
    assert_eq!(b["position"], 1);
    assert_eq!(b["required"], true);
    assert_eq!(b["course_id"], id.as_str());
    let d = add(&app, t, &id, module("D")).await;
    assert_eq!(d["position"], 2);
    let a = add(&app, t, &id, with(module("A"), json!({"position": 1}))).await;
    assert_eq!(a["position"], 1);
    assert_eq!(order(&app, t, &id).await, ["A", "B", "D"]);
    let c = add(&app, t, &id, with(module("C"), json!({"position": 3}))).await;
    assert_eq!(c["position"], 3);
    assert_eq!(order(&app, t, &id).await, ["A", "B", "C", "D"]);
    let e = add(&app, t, &id, with(module("E"), json!({"position": 5}))).await;
    assert_eq!(e["position"], 5);
    assert_eq!(order(&app, t, &id).await, ["A", "B", "C", "D", "E"]);

    // Out of range: nothing changes.
    for p in [0, -1, 7] {
        let res = app
            .post_json(
                &modules_path(&id),
                with(module("X"), json!({"position": p})),
                Some(t),
            )
            .await;
        invalid(res, &["position"]).await;
    }
    assert_eq!(order(&app, t, &id).await, ["A", "B", "C", "D", "E"]);

    // Moving is one PATCH: down, then up.
    let patch = |m: &Value, body: Value| patch_module(&app, t, &id, id_of(m), body);
    let moved = body_of(patch(&a, json!({"position": 4})).await, 200).await;
    assert_eq!(moved["position"], 4);
    assert_eq!(order(&app, t, &id).await, ["B", "C", "D", "A", "E"]);
    let moved = body_of(patch(&e, json!({"position": 2})).await, 200).await;
    assert_eq!(moved["position"], 2);
    assert_eq!(order(&app, t, &id).await, ["B", "E", "C", "D", "A"]);
    let moved = body_of(patch(&b, json!({"position": 5})).await, 200).await;
    assert_eq!(moved["position"], 5);
    assert_eq!(order(&app, t, &id).await, ["E", "C", "D", "A", "B"]);
    let moved = body_of(patch(&b, json!({"position": 1})).await, 200).await;
    assert_eq!(moved["position"], 1);
    assert_eq!(order(&app, t, &id).await, ["B", "E", "C", "D", "A"]);
    // The same position with another change moves nothing.
    let same = body_of(patch(&c, json!({"position": 3, "title": "C2"})).await, 200).await;
    assert_eq!(same["position"], 3);
    assert_eq!(same["title"], "C2");
    for p in [0, 6] {
        invalid(patch(&c, json!({"position": p})).await, &["position"]).await;
    }
    assert_eq!(order(&app, t, &id).await, ["B", "E", "C2", "D", "A"]);

    // Deleting closes the gap: in the middle, first, last.
    let del = |m: &Value| delete_module(&app, t, &id, id_of(m));
    assert_eq!(del(&c).await.status(), 204);
    assert_eq!(order(&app, t, &id).await, ["B", "E", "D", "A"]);
    assert_eq!(del(&b).await.status(), 204);
    assert_eq!(order(&app, t, &id).await, ["E", "D", "A"]);
    assert_eq!(del(&a).await.status(), 204);
    assert_eq!(order(&app, t, &id).await, ["E", "D"]);
    assert_eq!(del(&a).await.status(), 404);
    // An insert after deletions still lands at the right place.
    add(&app, t, &id, with(module("F"), json!({"position": 2}))).await;
    assert_eq!(order(&app, t, &id).await, ["E", "F", "D"]);

    // A retried POST with an Idempotency-Key adds the module once.
    let mut replies = Vec::new();
    for _ in 0..2 {
        let res = send(
            &app,
            Method::POST,
            &modules_path(&id),
            Some(t),
            Some(with(module("G"), json!({"position": 1}))),
            &[("Idempotency-Key", "module-g")],
        )
        .await;
        replies.push(body_of(res, 201).await);
    }
    assert_eq!(replies[0]["id"], replies[1]["id"]);
    assert_eq!(order(&app, t, &id).await, ["G", "E", "F", "D"]);
    let g = replies.remove(0);
    assert_eq!(delete_module(&app, t, &id, id_of(&g)).await.status(), 204);

    // The list pages by position.
    assert_eq!(
        walk(&app, Some(t), &modules_path(&id), "title").await,
        ["E", "F", "D"]
    );
});

api_test!(concurrent_inserts_get_distinct_positions, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let id = draft(&app, t, "Busy", json!({})).await;
    let path = modules_path(&id);

    // Ten appends at once.
    let sends = (0..10).map(|i| app.post_json(&path, module(&format!("A{i}")), Some(t)));
    let results = futures_util::future::join_all(sends).await;
    let mut positions = Vec::new();
    for res in results {
        positions.push(body_of(res, 201).await["position"].as_i64().unwrap());
    }
    positions.sort_unstable();
    assert_eq!(positions, (1..=10).collect::<Vec<i64>>());
    let titles = order(&app, t, &id).await;
    assert_eq!(titles.len(), 10);

    // Ten inserts at the front at once, while five modules are deleted.
    let page = body_of(app.get_auth(&format!("{path}?limit=100"), t).await, 200).await;
    let victims: Vec<String> = strings(&page["items"], "id").into_iter().take(5).collect();
    let inserts = futures_util::future::join_all((0..10).map(|i| {
        app.post_json(
            &path,
            with(module(&format!("B{i}")), json!({"position": 1})),
            Some(t),
        )
    }));
    let deletes = futures_util::future::join_all(
        victims
            .iter()
            .map(|m| delete_module(&app, t, &id, m.clone())),
    );
    let (inserted, deleted) = tokio::join!(inserts, deletes);
    for res in inserted {
        body_of(res, 201).await;
    }
    for res in deleted {
        assert_eq!(res.status(), 204);
    }
    let titles = order(&app, t, &id).await;
    assert_eq!(titles.len(), 15, "{titles:?}");
    let mut unique = titles.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 15, "{titles:?}");
    // The front inserts all precede the survivors of the first round.
    assert!(
        titles[..10].iter().all(|t| t.starts_with('B')),
        "{titles:?}"
    );
});

// ----- modules: validation and access ----------------------------------------

/// A module with both contents, text and a link.
fn both_contents() -> Value {
    json!({"title": "Both", "content": "# Hi", "content_url": "http://example.org/x"})
}

api_test!(module_fields_are_validated, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let id = draft(&app, t, "Validation", json!({})).await;
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("no content at all", json!({"title": "x"}), vec!["content"]),
        (
            "blank content",
            json!({"title": "x", "content": "  \n "}),
            vec!["content"],
        ),
        (
            "null content and url",
            json!({"title": "x", "content": null, "content_url": null}),
            vec!["content"],
        ),
        (
            "ftp url",
            json!({"title": "x", "content_url": "ftp://files.example.org/m1.pdf"}),
            vec!["content_url"],
        ),
        (
            "javascript url",
            json!({"title": "x", "content_url": "javascript:alert(1)"}),
            vec!["content_url"],
        ),
        (
            "not a url",
            json!({"title": "x", "content_url": "lesson one"}),
            vec!["content_url"],
        ),
        (
            "negative download_bytes",
            json!({"title": "x", "content": "c", "download_bytes": -1}),
            vec!["download_bytes"],
        ),
        (
            "negative duration",
            json!({"title": "x", "content": "c", "duration_minutes": -5}),
            vec!["duration_minutes"],
        ),
        (
            "huge duration",
            json!({"title": "x", "content": "c", "duration_minutes": 100_001}),
            vec!["duration_minutes"],
        ),
        (
            "title too long",
            json!({"title": "x".repeat(201), "content": "c"}),
            vec!["title"],
        ),
        (
            "empty title",
            json!({"title": "  ", "content": "c"}),
            vec!["title"],
        ),
        (
            "title on two lines",
            json!({"title": "a\nb", "content": "c"}),
            vec!["title"],
        ),
        ("no title", json!({"content": "c"}), vec!["title"]),
        (
            "unknown field",
            json!({"title": "x", "content": "c", "colour": "red"}),
            vec!["colour"],
        ),
        (
            "required not a boolean",
            json!({"title": "x", "content": "c", "required": "yes"}),
            vec!["required"],
        ),
        (
            "content too long",
            json!({"title": "x", "content": "y".repeat(100_001)}),
            vec!["content"],
        ),
    ];
    for (name, body, fields) in cases {
        let res = app.post_json(&modules_path(&id), body, Some(t)).await;
        assert_eq!(res.status(), 400, "{name}");
        invalid(res, &fields).await;
    }
    assert!(order(&app, t, &id).await.is_empty(), "nothing was added");
});

api_test!(good_module_bodies_are_accepted, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let id = draft(&app, t, "Validation", json!({})).await;
    // What is accepted.
    let res = app
        .post_json(
            &modules_path(&id),
            json!({"title": "x".repeat(200), "content_url": "https://videos.example.org/m1",
                   "duration_minutes": 45, "download_bytes": 0, "required": false}),
            Some(t),
        )
        .await;
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let m = body_of(res, 201).await;
    assert_eq!(location, Some(module_path(&id, &id_of(&m))));
    assert_eq!(m["content"], Value::Null);
    assert_eq!(m["content_url"], "https://videos.example.org/m1");
    assert_eq!(m["duration_minutes"], 45);
    assert_eq!(m["download_bytes"], 0);
    assert_eq!(m["required"], false);
    let both = add(&app, t, &id, both_contents()).await;
    assert_eq!(both["content"], "# Hi");
    assert_eq!(both["required"], true);
    assert_eq!(both["download_bytes"], Value::Null);
});

api_test!(a_module_patch_follows_the_same_rules, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let id = draft(&app, t, "Validation", json!({})).await;
    let both = add(&app, t, &id, both_contents()).await;

    // PATCH follows the same rules; a module never loses both contents.
    let path = module_path(&id, &id_of(&both));
    let patch = |body: Value| call(&app, Method::PATCH, &path, Some(t), Some(body));
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "ftp url",
            json!({"content_url": "ftp://x.example.org/a"}),
            vec!["content_url"],
        ),
        (
            "negative bytes",
            json!({"download_bytes": -10}),
            vec!["download_bytes"],
        ),
        ("empty title", json!({"title": ""}), vec!["title"]),
        (
            "long title",
            json!({"title": "t".repeat(201)}),
            vec!["title"],
        ),
        ("unknown field", json!({"colour": "red"}), vec!["colour"]),
        ("position 0", json!({"position": 0}), vec!["position"]),
        (
            "no content left",
            json!({"content": null, "content_url": null}),
            vec!["content"],
        ),
    ];
    for (name, body, fields) in cases {
        let res = patch(body).await;
        assert_eq!(res.status(), 400, "{name}");
        invalid(res, &fields).await;
    }
    let m = body_of(patch(json!({"content": null})).await, 200).await;
    assert_eq!(m["content"], Value::Null);
    assert_eq!(m["content_url"], "http://example.org/x");
    invalid(patch(json!({"content_url": null})).await, &["content"]).await;
    let m = body_of(
        patch(json!({"required": false, "download_bytes": 2048, "duration_minutes": null})).await,
        200,
    )
    .await;
    assert_eq!(m["required"], false);
    assert_eq!(m["download_bytes"], 2048);
    assert_eq!(m["duration_minutes"], Value::Null);
    assert_eq!(m["title"], "Both");
});

api_test!(module_access_follows_the_course, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let editor = app.signup("editor@example.org").await;
    let member = app.signup("member@example.org").await;
    let stranger = app.signup("stranger@example.org").await;
    join(&app, t, INST, &editor, "editor").await;
    join(&app, t, INST, &member, "member").await;

    let id = draft(&app, t, "Access", json!({})).await;
    let m = add(&app, t, &id, module("First")).await;
    let mp = module_path(&id, &id_of(&m));

    // A draft: its editors only.
    let by_editor = add(&app, &editor.access, &id, module("Second")).await;
    assert_eq!(by_editor["position"], 2);
    assert_eq!(listed(&app, Some(&editor.access), &id).await.len(), 2);
    for who in [
        Some(member.access.as_str()),
        Some(stranger.access.as_str()),
        None,
    ] {
        let res = call(&app, Method::GET, &modules_path(&id), who, None).await;
        problem(res, 404).await;
    }
    for who in [&member, &stranger] {
        let tok = Some(who.access.as_str());
        let res = call(
            &app,
            Method::POST,
            &modules_path(&id),
            tok,
            Some(module("X")),
        )
        .await;
        problem(res, 404).await;
        let res = call(&app, Method::PATCH, &mp, tok, Some(json!({"title": "Y"}))).await;
        problem(res, 404).await;
        problem(call(&app, Method::DELETE, &mp, tok, None).await, 404).await;
    }
    let res = call(
        &app,
        Method::POST,
        &modules_path(&id),
        None,
        Some(module("X")),
    )
    .await;
    problem(res, 401).await;

    // Published and public: everyone reads, only editors change.
    body_of(publish(&app, t, &id).await, 200).await;
    assert_eq!(listed(&app, None, &id).await.len(), 2);
    assert_eq!(listed(&app, Some(&stranger.access), &id).await.len(), 2);
    for who in [&member, &stranger] {
        let tok = Some(who.access.as_str());
        let res = call(
            &app,
            Method::POST,
            &modules_path(&id),
            tok,
            Some(module("X")),
        )
        .await;
        problem(res, 403).await;
        let res = call(&app, Method::PATCH, &mp, tok, Some(json!({"title": "Y"}))).await;
        problem(res, 403).await;
        problem(call(&app, Method::DELETE, &mp, tok, None).await, 403).await;
    }
    let res = call(&app, Method::PATCH, &mp, None, Some(json!({"title": "Y"}))).await;
    problem(res, 401).await;
    problem(call(&app, Method::DELETE, &mp, None, None).await, 401).await;
    let res = call(
        &app,
        Method::PATCH,
        &mp,
        Some(&editor.access),
        Some(json!({"title": "Renamed"})),
    )
    .await;
    assert_eq!(body_of(res, 200).await["title"], "Renamed");

    // No such module (or one of another course): 404.
    let other = draft(&app, t, "Other", json!({})).await;
    let foreign = add(&app, t, &other, module("Foreign")).await;
    for bad in [
        OTHER_ID.to_string(),
        id_of(&foreign),
        "not-a-uuid".to_string(),
    ] {
        let path = module_path(&id, &bad);
        let res = call(
            &app,
            Method::PATCH,
            &path,
            Some(t),
            Some(json!({"title": "Z"})),
        )
        .await;
        problem(res, 404).await;
        problem(call(&app, Method::DELETE, &path, Some(t), None).await, 404).await;
    }
    for bad in [OTHER_ID, "not-a-uuid"] {
        problem(app.get(&modules_path(bad)).await, 404).await;
        let res = app
            .post_json(&modules_path(bad), module("X"), Some(t))
            .await;
        problem(res, 404).await;
    }
    assert_eq!(order(&app, t, &other).await, ["Foreign"]);

    // `registered`: the signed-in; `institution`: its members.
    let (reg, _) = course(
        &app,
        t,
        "Registered",
        &required(1),
        json!({"visibility": "registered"}),
    )
    .await;
    problem(app.get(&modules_path(&reg)).await, 404).await;
    assert_eq!(listed(&app, Some(&stranger.access), &reg).await.len(), 1);
    let (inst, _) = course(
        &app,
        t,
        "In-house",
        &required(1),
        json!({"visibility": "institution"}),
    )
    .await;
    problem(app.get(&modules_path(&inst)).await, 404).await;
    problem(
        app.get_auth(&modules_path(&inst), &stranger.access).await,
        404,
    )
    .await;
    assert_eq!(listed(&app, Some(&member.access), &inst).await.len(), 1);
    let res = app
        .post_json(&modules_path(&inst), module("X"), Some(&stranger.access))
        .await;
    problem(res, 404).await;
});

api_test!(
    archived_courses_freeze_modules_but_keep_learners,
    |backend| {
        let (app, _root, owner) = world(backend).await;
        let t = owner.access.as_str();
        let learner = app.signup("learner@example.org").await;
        let late = app.signup("late@example.org").await;
        let (id, ms) = course(&app, t, "Old course", &required(2), json!({})).await;
        assert_eq!(enroll(&app, Some(&learner.access), &id).await.status(), 201);
        done(&app, &learner.access, &id, &ms[0]).await;
        body_of(archive(&app, t, &id).await, 200).await;

        let res = app
            .post_json(&modules_path(&id), module("New"), Some(t))
            .await;
        typed(res, 409, "resource-archived").await;
        let res = call(
            &app,
            Method::PATCH,
            &module_path(&id, &ms[0]),
            Some(t),
            Some(json!({"title": "Changed"})),
        )
        .await;
        typed(res, 409, "resource-archived").await;
        let res = call(
            &app,
            Method::PATCH,
            &module_path(&id, &ms[0]),
            Some(t),
            Some(json!({"position": 2})),
        )
        .await;
        typed(res, 409, "resource-archived").await;
        let res = call(
            &app,
            Method::DELETE,
            &module_path(&id, &ms[1]),
            Some(t),
            None,
        )
        .await;
        typed(res, 409, "resource-archived").await;
        assert_eq!(
            listed(&app, None, &id).await,
            vec![(1, "M1".to_string()), (2, "M2".to_string())]
        );

        // No new learners; the existing one carries on and completes.
        typed(
            enroll(&app, Some(&late.access), &id).await,
            409,
            "enrollment-closed",
        )
        .await;
        problem(my_enrollment(&app, &late.access, &id).await, 404).await;
        typed(
            mark(&app, Some(&late.access), &id, &ms[0]).await,
            409,
            "not-enrolled",
        )
        .await;
        let e = body_of(my_enrollment(&app, &learner.access, &id).await, 200).await;
        assert_eq!(e["progress"], 50);
        // Enrolling again is still idempotent for someone already enrolled.
        assert_eq!(enroll(&app, Some(&learner.access), &id).await.status(), 200);
        let e = done(&app, &learner.access, &id, &ms[1]).await;
        assert_eq!(e["status"], "completed");
        assert_eq!(e["progress"], 100);
        assert_eq!(
            app.count_emails(&learner.email, "course_completed").await,
            1
        );
    }
);

api_test!(a_published_course_keeps_at_least_one_module, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let (id, ms) = course(&app, t, "Keeps one", &required(2), json!({})).await;
    let res = call(
        &app,
        Method::DELETE,
        &module_path(&id, &ms[0]),
        Some(t),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    let res = call(
        &app,
        Method::DELETE,
        &module_path(&id, &ms[1]),
        Some(t),
        None,
    )
    .await;
    let body = typed(res, 422, "incomplete-resource").await;
    assert_eq!(strings(&body["errors"], "field"), ["modules"], "{body}");
    assert_eq!(listed(&app, None, &id).await, vec![(1, "M2".to_string())]);

    // A draft may be emptied.
    let d = draft(&app, t, "Scratch", json!({})).await;
    let only = add(&app, t, &d, module("Only")).await;
    let res = call(
        &app,
        Method::DELETE,
        &module_path(&d, &id_of(&only)),
        Some(t),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    assert!(order(&app, t, &d).await.is_empty());
});

api_test!(publishing_a_course_needs_a_module, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    // Complete by the old rule, but no module: not publishable.
    let id = draft(&app, t, "Empty", json!({})).await;
    let body = typed(publish(&app, t, &id).await, 422, "incomplete-resource").await;
    assert_eq!(strings(&body["errors"], "field"), ["modules"], "{body}");
    // A module is enough, without the interim duration and level.
    let bare = body_of(
        app.post_json(
            "/api/v1/courses",
            json!({"institution": INST, "title": "Bare", "summary": "What it is.",
                   "license": "CC-BY-4.0", "languages": ["sw"]}),
            Some(t),
        )
        .await,
        201,
    )
    .await;
    let bare = id_of(&bare);
    let body = typed(publish(&app, t, &bare).await, 422, "incomplete-resource").await;
    assert_eq!(strings(&body["errors"], "field"), ["modules"], "{body}");
    add(&app, t, &bare, module("One")).await;
    let published = body_of(publish(&app, t, &bare).await, 200).await;
    assert_eq!(published["status"], "published");
});

// ----- enrollment ------------------------------------------------------------

api_test!(enrollment_is_idempotent_and_confirmed, |backend| {
    let (app, root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let learner = app.signup("learner@example.org").await;
    let eager = app.signup("eager@example.org").await;
    let (id, _) = course(
        &app,
        t,
        "Kiswahili NLP",
        &[
            with(module("M1"), json!({"download_bytes": 1000})),
            with(module("M2"), json!({"download_bytes": 500})),
        ],
        json!({}),
    )
    .await;

    let first = body_of(enroll(&app, Some(&learner.access), &id).await, 201).await;
    assert_eq!(first["course_id"], id.as_str());
    assert_eq!(first["status"], "active");
    assert_eq!(first["progress"], 0);
    assert_eq!(first["completed_modules"], json!([]));
    assert_eq!(first["completed_at"], Value::Null);
    assert_eq!(first["remaining_download_bytes"], 1500);
    assert!(first["enrolled_at"].is_string());
    let again = body_of(enroll(&app, Some(&learner.access), &id).await, 200).await;
    assert_eq!(again["enrolled_at"], first["enrolled_at"]);
    assert_eq!(again["status"], "active");
    let read = body_of(my_enrollment(&app, &learner.access, &id).await, 200).await;
    assert_eq!(read, again);

    // Several PUTs at once are still one enrollment.
    let results =
        futures_util::future::join_all((0..5).map(|_| enroll(&app, Some(&eager.access), &id)))
            .await;
    let mut codes: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    codes.sort_unstable();
    assert_eq!(codes, [200, 200, 200, 200, 201]);

    // One email and one notification each, through the outbox.
    for who in [&learner, &eager] {
        assert_eq!(
            app.count_emails(&who.email, "enrollment_confirmed").await,
            1
        );
        let ns = notifications(&app, &who.access, "enrollment_confirmed").await;
        assert_eq!(ns.len(), 1, "{ns:?}");
        assert_eq!(ns[0]["route"]["params"]["id"], id.as_str(), "{}", ns[0]);
        assert!(ns[0]["title"].as_str().unwrap().contains("Kiswahili NLP"));
    }

    let s = body_of(stats(&app, Some(t), &id).await, 200).await;
    assert_eq!(s["enrolled"], 2);
    assert_eq!(s["active"], 2);
    let evs: Vec<Value> = events(&app, &root.access, "action=enrollment.created")
        .await
        .into_iter()
        .filter(|e| e["subject_id"] == id.as_str())
        .collect();
    assert_eq!(evs.len(), 2, "{evs:?}");
});

api_test!(who_may_enroll, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let editor = app.signup("editor@example.org").await;
    let member = app.signup("member@example.org").await;
    let stranger = app.signup("stranger@example.org").await;
    join(&app, t, INST, &editor, "editor").await;
    join(&app, t, INST, &member, "member").await;
    let (public, pms) = course(&app, t, "Public", &required(2), json!({})).await;

    // Anonymous: sign in first.
    problem(enroll(&app, None, &public).await, 401).await;
    problem(withdraw(&app, None, &public).await, 401).await;
    problem(mark(&app, None, &public, &pms[0]).await, 401).await;
    problem(app.get(&enrollment_path(&public)).await, 401).await;
    problem(app.get("/api/v1/me/enrollments").await, 401).await;

    // A draft takes no learners; outsiders do not see it at all.
    let d = draft(&app, t, "Draft", json!({})).await;
    let dm = id_of(&add(&app, t, &d, module("M")).await);
    for who in [&owner, &editor] {
        typed(
            enroll(&app, Some(&who.access), &d).await,
            409,
            "enrollment-closed",
        )
        .await;
    }
    for who in [&member, &stranger] {
        problem(enroll(&app, Some(&who.access), &d).await, 404).await;
        problem(mark(&app, Some(&who.access), &d, &dm).await, 404).await;
    }

    // A course for the institution's members: outsiders get 404 everywhere.
    let (inst, ims) = course(
        &app,
        t,
        "In-house",
        &required(2),
        json!({"visibility": "institution"}),
    )
    .await;
    let s = Some(stranger.access.as_str());
    problem(enroll(&app, s, &inst).await, 404).await;
    problem(
        app.get_auth(&modules_path(&inst), &stranger.access).await,
        404,
    )
    .await;
    problem(my_enrollment(&app, &stranger.access, &inst).await, 404).await;
    problem(mark(&app, s, &inst, &ims[0]).await, 404).await;
    problem(withdraw(&app, s, &inst).await, 404).await;
    let e = body_of(enroll(&app, Some(&member.access), &inst).await, 201).await;
    assert_eq!(e["status"], "active");
    // Staff may learn from published courses too.
    assert_eq!(
        enroll(&app, Some(&editor.access), &public).await.status(),
        201
    );

    // Not enrolled: 409 to mark; 404 to read or withdraw.
    typed(mark(&app, s, &public, &pms[0]).await, 409, "not-enrolled").await;
    let res = unmark(&app, &stranger.access, &public, &pms[0]).await;
    typed(res, 409, "not-enrolled").await;
    problem(my_enrollment(&app, &stranger.access, &public).await, 404).await;
    problem(withdraw(&app, s, &public).await, 404).await;

    // No such course, or not a course.
    for bad in [OTHER_ID, "not-a-uuid"] {
        problem(enroll(&app, s, bad).await, 404).await;
    }
    let ds = body_of(
        app.post_json(
            "/api/v1/datasets",
            json!({"institution": INST, "title": "A dataset"}),
            Some(t),
        )
        .await,
        201,
    )
    .await;
    problem(enroll(&app, Some(t), &id_of(&ds)).await, 404).await;
    problem(app.get_auth(&modules_path(&id_of(&ds)), t).await, 404).await;
    // A module of another course.
    problem(
        mark(&app, Some(&editor.access), &public, &ims[0]).await,
        404,
    )
    .await;
    problem(
        mark(&app, Some(&editor.access), &public, OTHER_ID).await,
        404,
    )
    .await;
});

api_test!(withdrawing_keeps_progress_for_later, |backend| {
    let (app, root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let learner = app.signup("learner@example.org").await;
    let l = learner.access.as_str();
    let (id, ms) = course(&app, t, "Break", &required(3), json!({})).await;
    let first = body_of(enroll(&app, Some(l), &id).await, 201).await;
    assert_eq!(done(&app, l, &id, &ms[0]).await["progress"], 33);

    let w = body_of(withdraw(&app, Some(l), &id).await, 200).await;
    assert_eq!(w["status"], "withdrawn");
    assert_eq!(w["completed_modules"], json!([ms[0]]));
    assert_eq!(w["progress"], 33);
    // Withdrawing twice is harmless.
    let w = body_of(withdraw(&app, Some(l), &id).await, 200).await;
    assert_eq!(w["status"], "withdrawn");
    typed(mark(&app, Some(l), &id, &ms[1]).await, 409, "not-enrolled").await;
    typed(unmark(&app, l, &id, &ms[0]).await, 409, "not-enrolled").await;
    let read = body_of(my_enrollment(&app, l, &id).await, 200).await;
    assert_eq!(read["status"], "withdrawn");
    assert_eq!(read["completed_modules"], json!([ms[0]]));

    // Enrolling again resumes where it was.
    let back = body_of(enroll(&app, Some(l), &id).await, 200).await;
    assert_eq!(back["status"], "active");
    assert_eq!(back["progress"], 33);
    assert_eq!(back["completed_modules"], json!([ms[0]]));
    assert_eq!(back["enrolled_at"], first["enrolled_at"]);
    assert_eq!(done(&app, l, &id, &ms[1]).await["progress"], 66);

    let s = body_of(stats(&app, Some(t), &id).await, 200).await;
    assert_eq!(s["enrolled"], 1);
    assert_eq!(s["active"], 1);
    assert_eq!(s["withdrawn"], 0);
    let evs: Vec<Value> = events(&app, &root.access, "action=enrollment.created")
        .await
        .into_iter()
        .filter(|e| e["subject_id"] == id.as_str())
        .collect();
    assert_eq!(evs.len(), 1, "one enrollment: {evs:?}");
});

// ----- progress and completion -----------------------------------------------

api_test!(progress_counts_the_required_modules, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let learner = app.signup("learner@example.org").await;
    let l = learner.access.as_str();
    let (id, ms) = course(
        &app,
        t,
        "Three and one",
        &[
            module("R1"),
            module("R2"),
            module("R3"),
            with(module("Extra"), json!({"required": false})),
        ],
        json!({}),
    )
    .await;
    let (r1, r2, extra) = (&ms[0], &ms[1], &ms[3]);
    body_of(enroll(&app, Some(l), &id).await, 201).await;

    // The optional module is recorded but does not count.
    let e = done(&app, l, &id, extra).await;
    assert_eq!(e["progress"], 0);
    assert_eq!(ids(&e["completed_modules"]), [extra.as_str()]);
    assert_eq!(done(&app, l, &id, r1).await["progress"], 33);
    let e = done(&app, l, &id, r2).await;
    assert_eq!(e["progress"], 66);
    assert_eq!(e["status"], "active");
    assert_eq!(ids(&e["completed_modules"]), sorted(&[r1, r2, extra]));
    // Idempotent.
    let e = done(&app, l, &id, r2).await;
    assert_eq!(e["progress"], 66);
    assert_eq!(ids(&e["completed_modules"]), sorted(&[r1, r2, extra]));
    // Un-marking, twice.
    let e = body_of(unmark(&app, l, &id, r2).await, 200).await;
    assert_eq!(e["progress"], 33);
    assert_eq!(ids(&e["completed_modules"]), sorted(&[r1, extra]));
    let e = body_of(unmark(&app, l, &id, r2).await, 200).await;
    assert_eq!(e["progress"], 33);
    let read = body_of(my_enrollment(&app, l, &id).await, 200).await;
    assert_eq!(read["progress"], 33);
    assert_eq!(read["status"], "active");

    // A module that goes away takes its mark with it.
    let res = call(
        &app,
        Method::DELETE,
        &module_path(&id, extra),
        Some(t),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    let read = body_of(my_enrollment(&app, l, &id).await, 200).await;
    assert_eq!(ids(&read["completed_modules"]), [r1.as_str()]);
    assert_eq!(read["progress"], 33);
    problem(mark(&app, Some(l), &id, extra).await, 404).await;

    // With no required module, every module counts.
    let (opt, oms) = course(
        &app,
        t,
        "All optional",
        &[
            with(module("O1"), json!({"required": false})),
            with(module("O2"), json!({"required": false})),
        ],
        json!({}),
    )
    .await;
    body_of(enroll(&app, Some(l), &opt).await, 201).await;
    let e = done(&app, l, &opt, &oms[0]).await;
    assert_eq!(e["progress"], 50);
    assert_eq!(e["status"], "active");
    let e = done(&app, l, &opt, &oms[1]).await;
    assert_eq!(e["progress"], 100);
    assert_eq!(e["status"], "completed");
});

api_test!(completing_a_course_is_emailed_and_verifiable, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let learner = app.signup("learner@example.org").await;
    let l = learner.access.as_str();
    let (id, ms) = course(
        &app,
        t,
        "Finish me",
        &[
            module("R1"),
            module("R2"),
            with(module("Optional"), json!({"required": false})),
        ],
        json!({}),
    )
    .await;
    body_of(enroll(&app, Some(l), &id).await, 201).await;
    let e = done(&app, l, &id, &ms[0]).await;
    assert_eq!(e["status"], "active");
    assert_eq!(e["completed_at"], Value::Null);
    assert_eq!(
        app.count_emails(&learner.email, "course_completed").await,
        0
    );

    let e = done(&app, l, &id, &ms[1]).await;
    assert_eq!(e["status"], "completed");
    assert_eq!(e["progress"], 100);
    assert!(e["completed_at"].is_string(), "{e}");
    let completion = e["completion_id"]
        .as_str()
        .expect("a completion id")
        .to_string();
    let completed_at = e["completed_at"].clone();
    assert_eq!(
        app.count_emails(&learner.email, "course_completed").await,
        1
    );
    let ns = notifications(&app, l, "course_completed").await;
    assert_eq!(ns.len(), 1, "{ns:?}");

    // Anyone can check the completion id.
    let path = format!("/api/v1/completions/{completion}");
    let c = body_of(app.get(&path).await, 200).await;
    assert_eq!(c["completion_id"], completion.as_str());
    assert_eq!(c["course_id"], id.as_str());
    assert_eq!(c["course_title"], "Finish me");
    assert_eq!(c["institution"], INST);
    assert_eq!(c["learner"], "Test Person");
    assert_eq!(c["completed_at"], completed_at);
    problem(
        app.get(&format!("/api/v1/completions/{OTHER_ID}")).await,
        404,
    )
    .await;
    problem(app.get("/api/v1/completions/forged").await, 404).await;

    // Later marks, un-marks and new modules do not un-complete it.
    let e = done(&app, l, &id, &ms[2]).await;
    assert_eq!(e["status"], "completed");
    assert_eq!(e["completion_id"], completion.as_str());
    assert_eq!(e["completed_at"], completed_at);
    add(&app, t, &id, module("Added later")).await;
    let read = body_of(my_enrollment(&app, l, &id).await, 200).await;
    assert_eq!(read["status"], "completed");
    assert_eq!(read["completed_at"], completed_at);
    assert_eq!(read["completion_id"], completion.as_str());
    let e = body_of(unmark(&app, l, &id, &ms[0]).await, 200).await;
    assert_eq!(e["status"], "completed");
    assert_eq!(e["completion_id"], completion.as_str());
    assert!(!ids(&e["completed_modules"]).contains(&ms[0]));
    let e = done(&app, l, &id, &ms[0]).await;
    assert_eq!(e["status"], "completed");
    assert_eq!(
        app.count_emails(&learner.email, "course_completed").await,
        1
    );
    body_of(app.get(&path).await, 200).await;

    // Withdrawing and coming back keeps the completion.
    let w = body_of(withdraw(&app, Some(l), &id).await, 200).await;
    assert_eq!(w["status"], "withdrawn");
    let back = body_of(enroll(&app, Some(l), &id).await, 200).await;
    assert_eq!(back["status"], "completed");
    assert_eq!(back["completion_id"], completion.as_str());
    assert_eq!(
        app.count_emails(&learner.email, "course_completed").await,
        1
    );
    body_of(app.get(&path).await, 200).await;
});

api_test!(concurrent_marks_complete_the_course_once, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let (id, ms) = course(&app, t, "Rush", &required(6), json!({})).await;
    // The race needs two marks of one learner to overlap: try several.
    for n in 0..8 {
        let learner = app.signup(&format!("rush{n}@example.org")).await;
        let l = learner.access.as_str();
        body_of(enroll(&app, Some(l), &id).await, 201).await;
        let results =
            futures_util::future::join_all(ms.iter().map(|m| mark(&app, Some(l), &id, m))).await;
        for res in results {
            body_of(res, 200).await;
        }
        let e = body_of(my_enrollment(&app, l, &id).await, 200).await;
        assert_eq!(ids(&e["completed_modules"]).len(), 6, "{e}");
        assert_eq!(e["progress"], 100, "{e}");
        assert_eq!(e["status"], "completed", "learner {n}: {e}");
        assert!(e["completion_id"].is_string(), "{e}");
        assert_eq!(
            app.count_emails(&learner.email, "course_completed").await,
            1,
            "learner {n}"
        );
    }
});

api_test!(completion_emails_arrive_over_smtp, |backend| {
    use kujenga::config::{MailTransport, SmtpSecurity};
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.rate_limit.register_per_hour = 10_000;
        s.rate_limit.login_per_minute = 10_000;
        s.mail.transport = MailTransport::Smtp;
        s.mail.smtp.host = "127.0.0.1".into();
        s.mail.smtp.port = port;
        s.mail.smtp.security = SmtpSecurity::None;
        s.mail.smtp.timeout_secs = 5;
        s.mail.poll_interval_ms = 50;
        s.mail.retry_base_ms = 100;
        s.mail.retry_max_ms = 1_000;
    })
    .await
    .expect("app");

    /// The first accepted email to `to` whose subject starts with `subject`.
    async fn arrived(sink: &SmtpSink, to: &str, subject: &str) -> crate::helpers::smtp::Received {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(m) = sink.accepted().into_iter().find(|m| {
                m.to.iter().any(|t| t == to)
                    && m.header("Subject").is_some_and(|s| s.starts_with(subject))
            }) {
                return m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no `{subject}` email to {to}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Signs up with the token from the verification email the sink got.
    async fn signup(app: &TestApp, sink: &SmtpSink, email: &str) -> Account {
        assert_eq!(app.register(email, PASSWORD).await.status(), 202);
        let mail = arrived(sink, email, "Confirm your email").await;
        let text = mail.decoded();
        let start = text.find("?token=").expect("a link") + "?token=".len();
        let token: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let res = app
            .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
            .await;
        assert_eq!(res.status(), 200);
        app.signin(email).await
    }

    let root = signup(&app, &sink, "root@example.org").await;
    app.make_admin(&root.id).await;
    let root = app.signin("root@example.org").await;
    let owner = signup(&app, &sink, "owner@example.org").await;
    create_slug(&app, &owner.access, INST).await;
    verify(&app, &root.access, INST).await;
    let learner = signup(&app, &sink, "learner@example.org").await;
    let (id, ms) = course(
        &app,
        &owner.access,
        "Offline ML",
        &[with(module("Only"), json!({"download_bytes": 3_145_728}))],
        json!({}),
    )
    .await;

    body_of(enroll(&app, Some(&learner.access), &id).await, 201).await;
    let mail = arrived(&sink, &learner.email, "You are enrolled in").await;
    assert_eq!(
        mail.header("Subject").unwrap(),
        "You are enrolled in Offline ML"
    );
    let body = mail.decoded();
    assert!(body.contains("Offline ML"), "{body}");
    assert!(body.contains(&id), "{body}");

    let e = done(&app, &learner.access, &id, &ms[0]).await;
    assert_eq!(e["status"], "completed");
    let completion = e["completion_id"].as_str().unwrap().to_string();
    let mail = arrived(&sink, &learner.email, "You completed").await;
    assert_eq!(mail.header("Subject").unwrap(), "You completed Offline ML");
    let body = mail.decoded();
    assert!(body.contains(&completion), "{body}");
    // What the email names checks out publicly.
    let c = body_of(
        app.get(&format!("/api/v1/completions/{completion}")).await,
        200,
    )
    .await;
    assert_eq!(c["course_id"], id.as_str());
    // Exactly one of each reached the learner.
    let to_learner: Vec<String> = sink
        .accepted()
        .iter()
        .filter(|m| m.to.contains(&learner.email))
        .filter_map(|m| m.header("Subject"))
        .filter(|s| s.contains("Offline ML"))
        .collect();
    assert_eq!(to_learner.len(), 2, "{to_learner:?}");
});

// ----- the learner's and the institution's views --------------------------

api_test!(my_enrollments_show_progress_and_downloads, |backend| {
    let (app, _root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let learner = app.signup("learner@example.org").await;
    let other = app.signup("other@example.org").await;
    let l = learner.access.as_str();
    let (c1, m1) = course(
        &app,
        t,
        "First",
        &[
            with(module("Small"), json!({"download_bytes": 100})),
            with(module("Big"), json!({"download_bytes": 200})),
            module("Text only"),
        ],
        json!({}),
    )
    .await;
    let (c2, m2) = course(
        &app,
        t,
        "Second",
        &[with(module("Video"), json!({"download_bytes": 1000}))],
        json!({}),
    )
    .await;
    let (c3, _) = course(&app, t, "Third", &required(1), json!({})).await;
    for c in [&c1, &c2, &c3] {
        body_of(enroll(&app, Some(l), c).await, 201).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    body_of(enroll(&app, Some(&other.access), &c1).await, 201).await;
    let e = done(&app, l, &c1, &m1[0]).await;
    assert_eq!(e["remaining_download_bytes"], 200);
    assert_eq!(done(&app, l, &c2, &m2[0]).await["status"], "completed");
    body_of(withdraw(&app, Some(l), &c3).await, 200).await;

    // Newest first, page by page.
    let path = "/api/v1/me/enrollments";
    assert_eq!(
        walk(&app, Some(l), path, "course_id").await,
        [c3.clone(), c2.clone(), c1.clone()]
    );
    let page = body_of(app.get_auth(path, l).await, 200).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(page["next_cursor"], Value::Null);
    let by = |c: &str| items.iter().find(|i| i["course_id"] == c).unwrap().clone();
    let first = by(&c1);
    assert_eq!(first["course_title"], "First");
    assert_eq!(first["status"], "active");
    assert_eq!(first["progress"], 33);
    assert_eq!(first["remaining_download_bytes"], 200);
    assert_eq!(first["completed_modules"], json!([m1[0]]));
    let second = by(&c2);
    assert_eq!(second["course_title"], "Second");
    assert_eq!(second["status"], "completed");
    assert_eq!(second["progress"], 100);
    assert_eq!(second["remaining_download_bytes"], 0);
    assert!(second["completed_at"].is_string());
    let third = by(&c3);
    assert_eq!(third["status"], "withdrawn");
    assert_eq!(third["remaining_download_bytes"], 0);

    // Filtered by status (and still paged).
    for (status, want) in [("active", &c1), ("completed", &c2), ("withdrawn", &c3)] {
        let got = walk(
            &app,
            Some(l),
            &format!("{path}?status={status}"),
            "course_id",
        )
        .await;
        assert_eq!(got, [want.as_str()], "{status}");
    }
    invalid(
        app.get_auth(&format!("{path}?status=paused"), l).await,
        &["status"],
    )
    .await;
    invalid(
        app.get_auth(&format!("{path}?limit=0"), l).await,
        &["limit"],
    )
    .await;
    invalid(
        app.get_auth(&format!("{path}?cursor=garbage"), l).await,
        &["cursor"],
    )
    .await;

    // Only one's own.
    let theirs = body_of(app.get_auth(path, &other.access).await, 200).await;
    assert_eq!(strings(&theirs["items"], "course_id"), [c1.as_str()]);
    assert_eq!(theirs["items"][0]["remaining_download_bytes"], 300);
    let none = body_of(app.get_auth(path, t).await, 200).await;
    assert_eq!(none["items"], json!([]));
});

api_test!(course_stats_are_aggregates_for_staff, |backend| {
    let (app, root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let editor = app.signup("editor@example.org").await;
    let member = app.signup("member@example.org").await;
    let stranger = app.signup("stranger@example.org").await;
    join(&app, t, INST, &editor, "editor").await;
    join(&app, t, INST, &member, "member").await;
    let (id, ms) = course(&app, t, "Counted", &required(4), json!({})).await;

    let empty = body_of(stats(&app, Some(t), &id).await, 200).await;
    assert_eq!(
        empty,
        json!({"course_id": id, "enrolled": 0, "active": 0, "completed": 0, "withdrawn": 0,
               "median_progress": null, "completions_per_month": []})
    );

    // Learners at 0, 50 and 100 (odd count: the middle one).
    let mut learners_ = Vec::new();
    for (n, marks) in [0usize, 2, 4].into_iter().enumerate() {
        let who = app.signup(&format!("l{n}@example.org")).await;
        body_of(enroll(&app, Some(&who.access), &id).await, 201).await;
        for m in &ms[..marks] {
            done(&app, &who.access, &id, m).await;
        }
        learners_.push(who);
    }
    let finished = body_of(my_enrollment(&app, &learners_[2].access, &id).await, 200).await;
    assert_eq!(finished["status"], "completed");
    let month = finished["completed_at"].as_str().unwrap()[..7].to_string();
    let s = body_of(stats(&app, Some(t), &id).await, 200).await;
    assert_eq!(
        s,
        json!({"course_id": id, "enrolled": 3, "active": 2, "completed": 1, "withdrawn": 0,
               "median_progress": 50.0,
               "completions_per_month": [{"month": month, "completions": 1}]})
    );

    // A fourth at 25 (even count: the mean of the middle two).
    let fourth = app.signup("l3@example.org").await;
    body_of(enroll(&app, Some(&fourth.access), &id).await, 201).await;
    done(&app, &fourth.access, &id, &ms[0]).await;
    let s = body_of(stats(&app, Some(&editor.access), &id).await, 200).await;
    assert_eq!(s["median_progress"], 37.5);
    assert_eq!(s["enrolled"], 4);

    // A withdrawn learner is counted, but not in the median.
    let fifth = app.signup("l4@example.org").await;
    body_of(enroll(&app, Some(&fifth.access), &id).await, 201).await;
    for m in &ms[..3] {
        done(&app, &fifth.access, &id, m).await;
    }
    body_of(withdraw(&app, Some(&fifth.access), &id).await, 200).await;
    let s = body_of(stats(&app, Some(t), &id).await, 200).await;
    assert_eq!(
        s,
        json!({"course_id": id, "enrolled": 5, "active": 3, "completed": 1, "withdrawn": 1,
               "median_progress": 37.5,
               "completions_per_month": [{"month": month, "completions": 1}]})
    );
    // Admins see them too.
    assert_eq!(
        body_of(stats(&app, Some(&root.access), &id).await, 200).await,
        s
    );

    // Members and learners: 403; anonymous: 401.
    for who in [&member, &stranger, &learners_[0]] {
        typed(
            stats(&app, Some(&who.access), &id).await,
            403,
            "insufficient-role",
        )
        .await;
    }
    problem(stats(&app, None, &id).await, 401).await;
    problem(stats(&app, Some(t), OTHER_ID).await, 404).await;
    // Outsiders of a course they cannot see: 404.
    let (inst, _) = course(
        &app,
        t,
        "In-house",
        &required(1),
        json!({"visibility": "institution"}),
    )
    .await;
    problem(stats(&app, Some(&stranger.access), &inst).await, 404).await;
    problem(stats(&app, Some(&member.access), &inst).await, 403).await;
    let d = draft(&app, t, "Draft", json!({})).await;
    problem(stats(&app, Some(&member.access), &d).await, 404).await;
    body_of(stats(&app, Some(&editor.access), &d).await, 200).await;
});

api_test!(course_learners_are_listed_for_staff, |backend| {
    let (app, root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let editor = app.signup("editor@example.org").await;
    let member = app.signup("member@example.org").await;
    join(&app, t, INST, &editor, "editor").await;
    join(&app, t, INST, &member, "member").await;
    let (id, ms) = course(&app, t, "Listed", &required(2), json!({})).await;
    let mut who = Vec::new();
    for n in 0..3 {
        let l = app.signup(&format!("l{n}@example.org")).await;
        body_of(enroll(&app, Some(&l.access), &id).await, 201).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        who.push(l);
    }
    body_of(withdraw(&app, Some(&who[1].access), &id).await, 200).await;
    done(&app, &who[2].access, &id, &ms[0]).await;

    // Oldest first, paged.
    let path = format!("{}/enrollments", course_path(&id));
    let all: Vec<String> = who.iter().map(|a| a.id.clone()).collect();
    assert_eq!(walk(&app, Some(t), &path, "user_id").await, all);
    assert_eq!(
        walk(&app, Some(&editor.access), &path, "user_id").await,
        all
    );
    assert_eq!(walk(&app, Some(&root.access), &path, "user_id").await, all);
    let page = body_of(app.get_auth(&path, t).await, 200).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items[0]["status"], "active");
    assert_eq!(items[0]["progress"], 0);
    assert_eq!(items[0]["display_name"], "Test Person");
    assert!(items[0]["enrolled_at"].is_string());
    assert_eq!(items[1]["status"], "withdrawn");
    assert_eq!(items[2]["progress"], 50);
    assert_eq!(items[2]["completed_at"], Value::Null);
    assert_eq!(
        walk(
            &app,
            Some(t),
            &format!("{path}?status=withdrawn"),
            "user_id"
        )
        .await,
        [who[1].id.clone()]
    );
    assert_eq!(
        walk(&app, Some(t), &format!("{path}?status=active"), "user_id").await,
        [who[0].id.clone(), who[2].id.clone()]
    );
    invalid(
        app.get_auth(&format!("{path}?limit=101"), t).await,
        &["limit"],
    )
    .await;

    // Members and learners: 403; anonymous: 401.
    for a in [&member, &who[0]] {
        typed(
            learners(&app, Some(&a.access), &id).await,
            403,
            "insufficient-role",
        )
        .await;
    }
    problem(learners(&app, None, &id).await, 401).await;
    // Outsiders of a course they cannot see: 404.
    let (inst, _) = course(
        &app,
        t,
        "In-house",
        &required(1),
        json!({"visibility": "institution"}),
    )
    .await;
    problem(learners(&app, Some(&who[0].access), &inst).await, 404).await;
    problem(learners(&app, Some(&member.access), &inst).await, 403).await;
    let empty = body_of(learners(&app, Some(&editor.access), &inst).await, 200).await;
    assert_eq!(empty["items"], json!([]));
});

// ----- audit -------------------------------------------------------------------

api_test!(learning_changes_are_audited, |backend| {
    let (app, root, owner) = world(backend).await;
    let t = owner.access.as_str();
    let learner = app.signup("learner@example.org").await;
    let id = draft(&app, t, "Audited", json!({})).await;
    let a = add(&app, t, &id, module("A")).await;
    let b = add(&app, t, &id, module("B")).await;
    let res = call(
        &app,
        Method::PATCH,
        &module_path(&id, &id_of(&b)),
        Some(t),
        Some(json!({"position": 1, "title": "B first"})),
    )
    .await;
    body_of(res, 200).await;
    let res = call(
        &app,
        Method::DELETE,
        &module_path(&id, &id_of(&a)),
        Some(t),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    body_of(publish(&app, t, &id).await, 200).await;
    body_of(enroll(&app, Some(&learner.access), &id).await, 201).await;
    body_of(enroll(&app, Some(&learner.access), &id).await, 200).await;

    let of = |evs: Vec<Value>, actor: &str| -> Vec<Value> {
        evs.into_iter()
            .filter(|e| e["subject_id"] == id.as_str())
            .inspect(|e| {
                assert_eq!(e["subject_type"], "resource", "{e}");
                assert_eq!(e["actor_id"], actor, "{e}");
            })
            .collect()
    };
    let created = of(
        events(&app, &root.access, "action=module.created").await,
        &owner.id,
    );
    assert_eq!(created.len(), 2, "{created:?}");
    let mut made: Vec<String> = created
        .iter()
        .map(|e| e["detail"]["module_id"].as_str().unwrap().to_string())
        .collect();
    made.sort();
    assert_eq!(made, sorted(&[&id_of(&a), &id_of(&b)]));
    let updated = of(
        events(&app, &root.access, "action=module.updated").await,
        &owner.id,
    );
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0]["detail"]["module_id"], id_of(&b).as_str());
    let deleted = of(
        events(&app, &root.access, "action=module.deleted").await,
        &owner.id,
    );
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0]["detail"]["module_id"], id_of(&a).as_str());
    let enrolled = of(
        events(&app, &root.access, "action=enrollment.created").await,
        &learner.id,
    );
    assert_eq!(enrolled.len(), 1, "{enrolled:?}");
    // The audit log stays for admins.
    let res = app
        .get_auth("/api/v1/audit-events?action=module.created", t)
        .await;
    problem(res, 403).await;
});

api_test!(
    removing_the_last_unfinished_module_completes_the_learners_who_did_the_rest,
    |backend| {
        let (app, _root, owner) = world(backend).await;
        let (id, m) = course(&app, &owner.access, "Course", &required(3), json!({})).await;
        let a = app.signup("a@example.org").await;
        let b = app.signup("b@example.org").await;
        for who in [&a, &b] {
            assert_eq!(enroll(&app, Some(&who.access), &id).await.status(), 201);
        }
        done(&app, &a.access, &id, &m[0]).await;
        done(&app, &a.access, &id, &m[1]).await;
        done(&app, &b.access, &id, &m[0]).await;
        // Making M2 optional changes nothing for either…
        let res = patch_module(
            &app,
            &owner.access,
            &id,
            m[1].clone(),
            json!({"required": false}),
        )
        .await;
        body_of(res, 200).await;
        let e = body_of(my_enrollment(&app, &a.access, &id).await, 200).await;
        assert_eq!(e["status"], "active", "{e}");
        assert_eq!(e["progress"], 50, "{e}");
        // …removing M3 leaves M1 the only required module, which both did:
        // both complete, with one email each.
        assert_eq!(
            delete_module(&app, &owner.access, &id, m[2].clone())
                .await
                .status(),
            204
        );
        let e = body_of(my_enrollment(&app, &a.access, &id).await, 200).await;
        assert_eq!(e["status"], "completed", "{e}");
        assert!(e["completion_id"].is_string(), "{e}");
        assert_eq!(app.count_emails(&a.email, "course_completed").await, 1);
        let e = body_of(my_enrollment(&app, &b.access, &id).await, 200).await;
        assert_eq!(e["status"], "completed", "{e}");
        assert_eq!(app.count_emails(&b.email, "course_completed").await, 1);
    }
);

api_test!(download_sizes_are_bounded, |backend| {
    let (app, _root, owner) = world(backend).await;
    let id = draft(&app, &owner.access, "Course", json!({})).await;
    let res = app
        .post_json(
            &modules_path(&id),
            json!({"title": "Huge", "content": "x", "download_bytes": 9_223_372_036_854_775_807_i64}),
            Some(&owner.access),
        )
        .await;
    invalid(res, &["download_bytes"]).await;
    let ok = add(
        &app,
        &owner.access,
        &id,
        json!({"title": "Big", "content": "x", "download_bytes": 1_000_000_000_000_i64}),
    )
    .await;
    assert_eq!(ok["download_bytes"], 1_000_000_000_000_i64);
});
