//! Per-kind behaviour of the catalogue (`/courses`, `/datasets`,
//! `/model-cards`): the lifecycle, validation (one row per rule), the
//! completeness gate, who may publish, lost updates, typed links, dataset
//! files, the audit trail and deleting an institution that owns resources.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::api_test;
use crate::helpers::accounts::{admin, unverified};
use crate::helpers::app::start;
use crate::helpers::audit::{events, institution_id};
use crate::helpers::http::{body_of, call, etag_of, invalid, send, strings, typed, walk};
use crate::helpers::institutions::{create_slug, inst_path, join, verify};
use crate::helpers::versions::edit_published;
use crate::helpers::{Account, Backend, TestApp, problem};

// ----- helpers ------------------------------------------------------------

const INST: &str = "lab-a";
const COURSES: &str = "courses";
const DATASETS: &str = "datasets";
const CARDS: &str = "model-cards";
const OTHER_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

fn coll(kind: &str) -> String {
    format!("/api/v1/{kind}")
}

fn item(kind: &str, id: &str) -> String {
    format!("/api/v1/{kind}/{id}")
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// `base` with `extra` merged in (RFC 7396: `null` removes a key).
fn with(base: &Value, extra: Value) -> Value {
    fn merge(target: &mut Value, patch: Value) {
        match patch {
            Value::Object(p) => {
                if !target.is_object() {
                    *target = Value::Object(Map::new());
                }
                let t = target.as_object_mut().unwrap();
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge(t.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
            other => *target = other,
        }
    }
    let mut out = base.clone();
    merge(&mut out, extra);
    out
}

/// An app with a platform admin and `lab-a` (KE), verified, owned by `owner`.
async fn world(backend: Backend) -> (TestApp, Account, Account) {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let owner = app.signup("owner@example.org").await;
    create_slug(&app, &owner.access, INST).await;
    verify(&app, &root.access, INST).await;
    (app, root, owner)
}

/// The core fields every kind needs to publish.
fn core(title: &str) -> Value {
    json!({"institution": INST, "title": title, "summary": "What it is.",
           "license": "CC-BY-4.0", "languages": ["sw"]})
}

/// A body that passes the completeness gate (a model card of tier `minimal`).
fn complete(kind: &str, title: &str) -> Value {
    let extra = match kind {
        COURSES => json!({"duration_hours": 6, "level": "beginner"}),
        DATASETS => json!({"datasheet": {"motivation": "m", "composition": "c",
                                         "collection_process": "p", "uses": "u"}}),
        _ => json!({"risk_tier": "minimal", "intended_uses": "i", "out_of_scope_uses": "o"}),
    };
    with(&core(title), extra)
}

/// Results on two distinct slices (enough for tier `high`).
fn two_slices() -> Value {
    json!([
        {"task": "asr", "metric": "wer", "value": 0.21, "slice": "women"},
        {"task": "asr", "metric": "wer", "value": 0.24, "slice": "men"}
    ])
}

/// A complete model card of tier `high`.
fn high_card(title: &str) -> Value {
    with(
        &complete(CARDS, title),
        json!({"risk_tier": "high", "evaluation_data": "e", "caveats": "c", "factors": "f",
               "ethical_considerations": "x", "results": two_slices()}),
    )
}

/// Creates a draft; a course also gets one module, so that it can publish.
async fn create_res(app: &TestApp, token: &str, kind: &str, body: Value) -> Value {
    let created = body_of(app.post_json(&coll(kind), body, Some(token)).await, 201).await;
    if kind == COURSES {
        let res = app
            .post_json(
                &format!("{}/modules", item(kind, &id_of(&created))),
                json!({"title": "Start here", "content": "Welcome."}),
                Some(token),
            )
            .await;
        body_of(res, 201).await;
    }
    created
}

async fn publish(app: &TestApp, token: &str, kind: &str, id: &str) -> reqwest::Response {
    let path = format!("{}/publish", item(kind, id));
    call(app, Method::POST, &path, Some(token), None).await
}

async fn archive(app: &TestApp, token: &str, kind: &str, id: &str) -> reqwest::Response {
    let path = format!("{}/archive", item(kind, id));
    call(app, Method::POST, &path, Some(token), None).await
}

async fn patch(app: &TestApp, token: &str, kind: &str, id: &str, body: Value) -> reqwest::Response {
    call(app, Method::PATCH, &item(kind, id), Some(token), Some(body)).await
}

async fn delete(app: &TestApp, token: &str, kind: &str, id: &str) -> reqwest::Response {
    call(app, Method::DELETE, &item(kind, id), Some(token), None).await
}

async fn read(app: &TestApp, token: Option<&str>, kind: &str, id: &str) -> Value {
    body_of(
        call(app, Method::GET, &item(kind, id), token, None).await,
        200,
    )
    .await
}

/// A published resource: `complete(kind, title)` with `extra` merged in.
async fn published(app: &TestApp, token: &str, kind: &str, title: &str, extra: Value) -> Value {
    let r = create_res(app, token, kind, with(&complete(kind, title), extra)).await;
    body_of(publish(app, token, kind, &id_of(&r)).await, 200).await
}

/// The ids of the drafts of `kind` that `token` may see.
async fn drafts(app: &TestApp, token: &str, kind: &str) -> Vec<String> {
    let res = app
        .get_auth(&format!("{}?status=draft&limit=100", coll(kind)), token)
        .await;
    strings(&body_of(res, 200).await["items"], "id")
}

/// A 422 `incomplete-resource` problem naming exactly the `expected` fields
/// (each at least once).
async fn incomplete(res: reqwest::Response, expected: &[&str]) -> Value {
    let body = typed(res, 422, "incomplete-resource").await;
    let mut got: Vec<String> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            assert!(e["message"].is_string(), "{body}");
            e["field"].as_str().expect("field").to_string()
        })
        .collect();
    got.sort();
    got.dedup();
    let mut want: Vec<String> = expected.iter().map(|f| (*f).to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{body}");
    body
}

/// Joins a user to an institution directly in the database (e.g. an
/// editor whose email address is not verified, who could not accept an
/// invitation).
async fn add_membership(app: &TestApp, institution_id: &str, user_id: &str, role: &'static str) {
    use diesel::prelude::*;
    use kujenga::db::schema::memberships as ms;
    let (inst, user) = (institution_id.to_string(), user_id.to_string());
    app.db
        .run(move |conn| {
            let now = kujenga::db::now();
            diesel::insert_into(ms::table)
                .values((
                    ms::institution_id.eq(inst),
                    ms::user_id.eq(user),
                    ms::role.eq(role),
                    ms::created_at.eq(now),
                    ms::updated_at.eq(now),
                ))
                .execute(conn)
        })
        .await
        .expect("insert membership");
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

fn many_tags(n: usize) -> Value {
    json!((0..n).map(|i| format!("tag{i}")).collect::<Vec<_>>())
}

// ----- lifecycle ------------------------------------------------------------

/// Creates the course "Intro to ML" (with untidy title, licence, languages
/// and countries): the answer.
async fn post_intro_course(app: &TestApp, owner: &Account) -> reqwest::Response {
    app.post_json(
        "/api/v1/courses",
        json!({"institution": INST, "title": "  Intro to ML  ", "license": "cc-by-4.0",
                   "languages": ["SW-ke", "en", "en"], "countries": ["ke", "tz"], "tags": ["ml"]}),
        Some(&owner.access),
    )
    .await
}

/// What the course's first PATCH sets.
fn intro_patch() -> Value {
    json!({"summary": "Machine learning basics", "description": "# Week 1", "prerequisites": "Algebra",
           "offline_package_url": "https://cdn.example.org/intro.zip", "offline_package_bytes": 1_048_576,
           "level": "beginner", "delivery": "self_paced", "duration_hours": 6.5})
}

/// What its second PATCH clears.
fn intro_clear() -> Value {
    json!({"prerequisites": null, "description": null, "tags": null, "countries": null})
}

/// "Intro to ML", patched twice as the lifecycle test does: at version 3.
async fn patched_intro_course(app: &TestApp, owner: &Account) -> String {
    let id = id_of(&body_of(post_intro_course(app, owner).await, 201).await);
    for body in [intro_patch(), intro_clear()] {
        body_of(patch(app, &owner.access, COURSES, &id, body).await, 200).await;
    }
    id
}

api_test!(a_course_lives_from_draft_to_archive, |backend| {
    let (app, _root, owner) = world(backend).await;
    let res = post_intro_course(&app, &owner).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let created_tag = etag_of(&res);
    assert!(
        !created_tag.starts_with("W/"),
        "a strong ETag: {created_tag}"
    );
    let c: Value = res.json().await.unwrap();
    let id = id_of(&c);
    assert_eq!(location, format!("/api/v1/courses/{id}"));
    assert_eq!(c["kind"], "course");
    assert_eq!(c["institution"], INST);
    assert_eq!(c["title"], "Intro to ML");
    assert_eq!(c["summary"], "");
    assert_eq!(c["description"], "");
    assert_eq!(c["license"], "CC-BY-4.0");
    assert_eq!(c["languages"], json!(["sw-KE", "en"]));
    assert_eq!(c["countries"], json!(["KE", "TZ"]));
    assert_eq!(c["tags"], json!(["ml"]));
    assert_eq!(c["visibility"], "public");
    assert_eq!(c["status"], "draft");
    assert_eq!(c["version"], 1);
    assert_eq!(c["related"], json!([]));
    assert_eq!(c["published_at"], Value::Null);
    assert_eq!(c["archived_at"], Value::Null);
    assert_eq!(c["created_at"], c["updated_at"]);
    for field in [
        "level",
        "delivery",
        "duration_hours",
        "prerequisites",
        "offline_package_url",
        "offline_package_bytes",
    ] {
        assert_eq!(c[field], Value::Null, "{field} defaults to null");
    }
    let path = item(COURSES, &id);

    // GET: the same representation, a strong ETag, 304 on If-None-Match.
    let res = app.get_auth(&path, &owner.access).await;
    let tag = etag_of(&res);
    assert_eq!(tag, created_tag, "same representation, same tag");
    let got = body_of(res, 200).await;
    assert_eq!(got["title"], "Intro to ML");
    for inm in [tag.clone(), format!("W/{tag}")] {
        let res = send(
            &app,
            Method::GET,
            &path,
            Some(&owner.access),
            None,
            &[("If-None-Match", &inm)],
        )
        .await;
        assert_eq!(res.status(), 304, "If-None-Match: {inm}");
        assert!(res.text().await.unwrap().is_empty(), "a 304 has no body");
    }
    let res = send(
        &app,
        Method::GET,
        &path,
        Some(&owner.access),
        None,
        &[("If-None-Match", "\"other\"")],
    )
    .await;
    assert_eq!(res.status(), 200);
});

api_test!(a_course_draft_is_patched_by_merging, |backend| {
    let (app, _root, owner) = world(backend).await;
    let id = id_of(&body_of(post_intro_course(&app, &owner).await, 201).await);
    let tag = etag_of(&app.get_auth(&item(COURSES, &id), &owner.access).await);
    // PATCH merges: untouched fields stay.
    let res = patch(&app, &owner.access, COURSES, &id, intro_patch()).await;
    let patched_tag = etag_of(&res);
    assert_ne!(patched_tag, tag);
    let p = body_of(res, 200).await;
    assert_eq!(p["version"], 2);
    assert_eq!(p["title"], "Intro to ML");
    assert_eq!(p["languages"], json!(["sw-KE", "en"]));
    assert_eq!(p["summary"], "Machine learning basics");
    assert_eq!(p["prerequisites"], "Algebra");
    assert_eq!(
        p["offline_package_url"],
        "https://cdn.example.org/intro.zip"
    );
    assert_eq!(p["offline_package_bytes"], 1_048_576);
    assert_eq!(p["level"], "beginner");
    assert_eq!(p["delivery"], "self_paced");
    assert_eq!(p["duration_hours"], 6.5);
    assert_eq!(p["status"], "draft");

    // `null` clears a field.
    let p = body_of(
        patch(&app, &owner.access, COURSES, &id, intro_clear()).await,
        200,
    )
    .await;
    assert_eq!(p["version"], 3);
    assert_eq!(p["prerequisites"], Value::Null);
    assert_eq!(p["description"], "");
    assert_eq!(p["tags"], json!([]));
    assert_eq!(p["countries"], json!([]));
    assert_eq!(p["summary"], "Machine learning basics");
    assert_eq!(p["level"], "beginner");
});

api_test!(a_published_course_is_archived_not_deleted, |backend| {
    let (app, _root, owner) = world(backend).await;
    let id = patched_intro_course(&app, &owner).await;
    let path = item(COURSES, &id);
    // Publish (with a module, which leaves the course's version alone): once.
    let res = app
        .post_json(
            &format!("{}/modules", item(COURSES, &id)),
            json!({"title": "Start here", "content": "Welcome."}),
            Some(&owner.access),
        )
        .await;
    body_of(res, 201).await;
    let p = body_of(publish(&app, &owner.access, COURSES, &id).await, 200).await;
    assert_eq!(p["status"], "published");
    assert_eq!(p["version"], 4);
    assert!(p["published_at"].is_string(), "{p}");
    typed(
        publish(&app, &owner.access, COURSES, &id).await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(app.get(&path).await.status(), 200, "public once published");
    // A published resource is archived, not deleted.
    typed(
        delete(&app, &owner.access, COURSES, &id).await,
        409,
        "resource-published",
    )
    .await;

    // Archive: once; still readable; read-only.
    let a = body_of(archive(&app, &owner.access, COURSES, &id).await, 200).await;
    assert_eq!(a["status"], "archived");
    assert_eq!(a["version"], 5);
    assert!(a["archived_at"].is_string(), "{a}");
    assert_eq!(a["published_at"], p["published_at"]);
    typed(
        archive(&app, &owner.access, COURSES, &id).await,
        409,
        "invalid-transition",
    )
    .await;
    typed(
        publish(&app, &owner.access, COURSES, &id).await,
        409,
        "invalid-transition",
    )
    .await;
    let anon = body_of(app.get(&path).await, 200).await;
    assert_eq!(anon["status"], "archived");
    typed(
        patch(
            &app,
            &owner.access,
            COURSES,
            &id,
            json!({"summary": "late"}),
        )
        .await,
        409,
        "resource-archived",
    )
    .await;
    typed(
        delete(&app, &owner.access, COURSES, &id).await,
        409,
        "resource-published",
    )
    .await;
    let still = read(&app, Some(&owner.access), COURSES, &id).await;
    assert_eq!(still["version"], 5);
    assert_eq!(still["summary"], "Machine learning basics");
});

api_test!(a_course_draft_is_deleted_not_archived, |backend| {
    let (app, _root, owner) = world(backend).await;
    let id = id_of(&body_of(post_intro_course(&app, &owner).await, 201).await);
    // A draft cannot be archived; it can be deleted, once.
    let d = create_res(
        &app,
        &owner.access,
        COURSES,
        json!({"institution": INST, "title": "Scratch"}),
    )
    .await;
    let did = id_of(&d);
    typed(
        archive(&app, &owner.access, COURSES, &did).await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(
        read(&app, Some(&owner.access), COURSES, &did).await["status"],
        "draft"
    );
    let res = delete(&app, &owner.access, COURSES, &did).await;
    assert_eq!(res.status(), 204);
    assert!(res.text().await.unwrap().is_empty());
    problem(app.get_auth(&item(COURSES, &did), &owner.access).await, 404).await;
    problem(delete(&app, &owner.access, COURSES, &did).await, 404).await;
    // The same id under another kind is not there either.
    problem(app.get_auth(&item(DATASETS, &id), &owner.access).await, 404).await;
});

/// Creates the dataset "Kiswahili speech": the answer.
async fn post_speech_dataset(app: &TestApp, owner: &Account) -> reqwest::Response {
    app.post_json(
        "/api/v1/datasets",
        json!({"institution": INST, "title": "Kiswahili speech", "license": "cc-by-sa-4.0",
                   "languages": ["sw"], "formats": ["CSV", "csv", "Parquet"]}),
        Some(&owner.access),
    )
    .await
}

/// The dataset's three PATCHes, in order: one that merges into the
/// datasheet and limits transfers to listed countries, one that clears a
/// section, one that switches the policy to `in_country`.
fn speech_patches() -> [Value; 3] {
    [
        json!({"datasheet": {"motivation": "Speech tech for Kiswahili", "composition": "Clips"},
               "record_count": 1200, "size_bytes": 5_000_000,
               "transfer_policy": "allowed_countries", "allowed_countries": ["tz", "UG"]}),
        json!({"datasheet": {"composition": null, "uses": "ASR research",
                             "collection_process": "Volunteers read prompts"}}),
        json!({"transfer_policy": "in_country", "summary": "Read speech",
               "datasheet": {"composition": "1200 clips"}}),
    ]
}

/// "Kiswahili speech", patched as the lifecycle test does: at version 4.
async fn patched_speech_dataset(app: &TestApp, owner: &Account) -> String {
    let id = id_of(&body_of(post_speech_dataset(app, owner).await, 201).await);
    for body in speech_patches() {
        body_of(patch(app, &owner.access, DATASETS, &id, body).await, 200).await;
    }
    id
}

api_test!(a_dataset_lives_from_draft_to_archive, |backend| {
    let (app, _root, owner) = world(backend).await;
    let res = post_speech_dataset(&app, &owner).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    etag_of(&res);
    let d: Value = res.json().await.unwrap();
    let id = id_of(&d);
    assert_eq!(location, format!("/api/v1/datasets/{id}"));
    assert_eq!(d["kind"], "dataset");
    assert_eq!(d["status"], "draft");
    assert_eq!(d["version"], 1);
    assert_eq!(d["license"], "CC-BY-SA-4.0");
    // Defaults: registered access, origin = the institution's country, no transfer limits.
    assert_eq!(d["access_level"], "registered");
    assert_eq!(d["origin_country"], "KE");
    assert_eq!(d["transfer_policy"], "unrestricted");
    assert_eq!(d["allowed_countries"], json!([]));
    assert_eq!(d["contains_personal_data"], false);
    assert_eq!(d["record_count"], Value::Null);
    assert_eq!(d["size_bytes"], Value::Null);
    assert_eq!(d["formats"], json!(["CSV", "Parquet"]));
    for section in [
        "motivation",
        "composition",
        "collection_process",
        "preprocessing",
        "uses",
        "out_of_scope_uses",
        "biases_and_limitations",
        "maintenance",
    ] {
        assert_eq!(d["datasheet"][section], Value::Null, "datasheet.{section}");
    }

    let [merge, clear, switch] = speech_patches();
    // Nested `datasheet` merges; `null` inside it clears one section.
    let p = body_of(patch(&app, &owner.access, DATASETS, &id, merge).await, 200).await;
    assert_eq!(p["version"], 2);
    assert_eq!(p["allowed_countries"], json!(["TZ", "UG"]));
    let p = body_of(patch(&app, &owner.access, DATASETS, &id, clear).await, 200).await;
    assert_eq!(p["version"], 3);
    assert_eq!(p["datasheet"]["motivation"], "Speech tech for Kiswahili");
    assert_eq!(p["datasheet"]["composition"], Value::Null);
    assert_eq!(p["datasheet"]["uses"], "ASR research");
    assert_eq!(p["record_count"], 1200);
    assert_eq!(p["transfer_policy"], "allowed_countries");
    // Switching the policy away drops the list.
    let p = body_of(patch(&app, &owner.access, DATASETS, &id, switch).await, 200).await;
    assert_eq!(p["version"], 4);
    assert_eq!(p["allowed_countries"], json!([]));
    assert_eq!(p["datasheet"]["composition"], "1200 clips");
});

api_test!(a_published_dataset_is_archived_not_deleted, |backend| {
    let (app, _root, owner) = world(backend).await;
    let id = patched_speech_dataset(&app, &owner).await;
    let p = body_of(publish(&app, &owner.access, DATASETS, &id).await, 200).await;
    assert_eq!(p["status"], "published");
    assert_eq!(p["version"], 5);
    typed(
        publish(&app, &owner.access, DATASETS, &id).await,
        409,
        "invalid-transition",
    )
    .await;
    typed(
        delete(&app, &owner.access, DATASETS, &id).await,
        409,
        "resource-published",
    )
    .await;
    // Public by default: any reader sees it.
    assert_eq!(read(&app, None, DATASETS, &id).await["status"], "published");
    let reader = app.signup("reader@example.org").await;
    assert_eq!(
        read(&app, Some(&reader.access), DATASETS, &id).await["status"],
        "published"
    );

    let a = body_of(archive(&app, &owner.access, DATASETS, &id).await, 200).await;
    assert_eq!(a["status"], "archived");
    assert_eq!(
        read(&app, Some(&reader.access), DATASETS, &id).await["status"],
        "archived"
    );
    typed(
        patch(
            &app,
            &owner.access,
            DATASETS,
            &id,
            json!({"datasheet": {"maintenance": "m"}}),
        )
        .await,
        409,
        "resource-archived",
    )
    .await;
    typed(
        delete(&app, &owner.access, DATASETS, &id).await,
        409,
        "resource-published",
    )
    .await;
    assert_eq!(
        read(&app, Some(&owner.access), DATASETS, &id).await["version"],
        6
    );
});

api_test!(a_dataset_draft_is_deleted_not_archived, |backend| {
    let (app, _root, owner) = world(backend).await;
    let scratch = create_res(
        &app,
        &owner.access,
        DATASETS,
        json!({"institution": INST, "title": "Scratch"}),
    )
    .await;
    typed(
        archive(&app, &owner.access, DATASETS, &id_of(&scratch)).await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(
        delete(&app, &owner.access, DATASETS, &id_of(&scratch))
            .await
            .status(),
        204
    );
    problem(
        app.get_auth(&item(DATASETS, &id_of(&scratch)), &owner.access)
            .await,
        404,
    )
    .await;
});

api_test!(a_model_card_lives_from_draft_to_archive, |backend| {
    let (app, _root, owner) = world(backend).await;
    let res = app
        .post_json(
            "/api/v1/model-cards",
            json!({"institution": INST, "title": "Swahili ASR", "license": "apache-2.0",
                   "risk_tier": "limited", "task": "automatic-speech-recognition",
                   "results": [{"task": "asr", "metric": "wer", "value": 0.3}]}),
            Some(&owner.access),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let m: Value = res.json().await.unwrap();
    let id = id_of(&m);
    assert_eq!(location, format!("/api/v1/model-cards/{id}"));
    assert_eq!(m["kind"], "model_card");
    assert_eq!(m["status"], "draft");
    assert_eq!(m["version"], 1);
    assert_eq!(m["license"], "Apache-2.0");
    assert_eq!(m["risk_tier"], "limited");
    assert_eq!(m["intended_uses"], Value::Null);
    assert_eq!(m["results"].as_array().unwrap().len(), 1);
    assert_eq!(m["results"][0]["metric"], "wer");
    assert_eq!(m["results"][0]["value"], 0.3);

    // `results` is replaced whole, not merged.
    let p = body_of(
        patch(
            &app,
            &owner.access,
            CARDS,
            &id,
            json!({"results": two_slices()}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["version"], 2);
    assert_eq!(p["results"].as_array().unwrap().len(), 2);
    let p = body_of(
        patch(&app, &owner.access, CARDS, &id,
              json!({"results": [{"task": "asr", "metric": "cer", "value": 0.08, "dataset": "Common Voice"}],
                     "summary": "Speech to text", "languages": ["sw"], "intended_uses": "Transcription",
                     "out_of_scope_uses": "Surveillance", "evaluation_data": "Held-out clips",
                     "caveats": "Accents vary"})).await,
        200,
    )
    .await;
    assert_eq!(p["version"], 3);
    let results = p["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{p}");
    assert_eq!(results[0]["metric"], "cer");
    assert_eq!(results[0]["dataset"], "Common Voice");
    assert_eq!(results[0]["slice"], Value::Null);
    assert_eq!(p["task"], "automatic-speech-recognition");
    // `null` clears a field.
    let p = body_of(
        patch(&app, &owner.access, CARDS, &id, json!({"task": null})).await,
        200,
    )
    .await;
    assert_eq!(p["task"], Value::Null);
    assert_eq!(p["version"], 4);

    let p = body_of(publish(&app, &owner.access, CARDS, &id).await, 200).await;
    assert_eq!(p["status"], "published");
    assert_eq!(p["version"], 5);
    typed(
        publish(&app, &owner.access, CARDS, &id).await,
        409,
        "invalid-transition",
    )
    .await;
    typed(
        delete(&app, &owner.access, CARDS, &id).await,
        409,
        "resource-published",
    )
    .await;
    // A published resource is not changed in place: its editors change the
    // draft of its next version, then publish it (while it stays complete).
    let res = patch(&app, &owner.access, CARDS, &id, json!({"task": "asr"})).await;
    assert_eq!(
        res.headers()["link"].to_str().unwrap(),
        format!("</api/v1/model-cards/{id}/draft>; rel=\"working-copy\"")
    );
    typed(res, 409, "edit-the-draft").await;
    let p = body_of(
        edit_published(
            &app,
            Some(&owner.access),
            &item(CARDS, &id),
            json!({"task": "asr"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["version"], 6);
    assert_eq!(p["status"], "published");
    assert_eq!(p["task"], "asr");
    assert_eq!(p["version_label"], "1.1");

    body_of(archive(&app, &owner.access, CARDS, &id).await, 200).await;
    let a = body_of(app.get(&item(CARDS, &id)).await, 200).await;
    assert_eq!(a["status"], "archived");
    assert_eq!(a["version"], 7);
    typed(
        patch(&app, &owner.access, CARDS, &id, json!({"caveats": "more"})).await,
        409,
        "resource-archived",
    )
    .await;
    typed(
        delete(&app, &owner.access, CARDS, &id).await,
        409,
        "resource-published",
    )
    .await;
    typed(
        archive(&app, &owner.access, CARDS, &id).await,
        409,
        "invalid-transition",
    )
    .await;

    let scratch = create_res(
        &app,
        &owner.access,
        CARDS,
        json!({"institution": INST, "title": "Scratch"}),
    )
    .await;
    typed(
        archive(&app, &owner.access, CARDS, &id_of(&scratch)).await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(
        delete(&app, &owner.access, CARDS, &id_of(&scratch))
            .await
            .status(),
        204
    );
    problem(
        app.get_auth(&item(CARDS, &id_of(&scratch)), &owner.access)
            .await,
        404,
    )
    .await;
});

// ----- validation -------------------------------------------------------------

/// Posts every row (`base` merged with the row's body) and expects a 400
/// naming exactly the row's fields; then checks nothing was written.
async fn create_table(
    app: &TestApp,
    root: &Account,
    owner: &Account,
    kind: &str,
    rows: Vec<(&str, Value, Vec<&str>)>,
) {
    let base = json!({"institution": INST, "title": "t"});
    for (label, extra, fields) in rows {
        eprintln!("row: {label}");
        let res = app
            .post_json(&coll(kind), with(&base, extra), Some(&owner.access))
            .await;
        invalid(res, &fields).await;
    }
    assert_eq!(
        drafts(app, &owner.access, kind).await,
        Vec::<String>::new(),
        "nothing written"
    );
    assert!(
        events(app, &root.access, "action=resource.created")
            .await
            .is_empty()
    );
}

/// The rules every kind shares, as rows.
fn core_rows() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    vec![
        (
            "institution missing",
            json!({"institution": null}),
            vec!["institution"],
        ),
        ("title missing", json!({"title": null}), vec!["title"]),
        (
            "title with a control character",
            json!({"title": "bell\u{0007}"}),
            vec!["title"],
        ),
        (
            "description of 50 001 characters",
            json!({"description": long(50_001)}),
            vec!["description"],
        ),
        ("title blank", json!({"title": "   "}), vec!["title"]),
        ("title not text", json!({"title": 42}), vec!["title"]),
        (
            "title of 201 characters",
            json!({"title": long(201)}),
            vec!["title"],
        ),
        (
            "summary of 501 characters",
            json!({"summary": long(501)}),
            vec!["summary"],
        ),
        (
            "licence not SPDX",
            json!({"license": "CC BY"}),
            vec!["license"],
        ),
        (
            "language not BCP 47",
            json!({"languages": ["not a tag!"]}),
            vec!["languages"],
        ),
        (
            "language not registered",
            json!({"languages": ["sw", "english"]}),
            vec!["languages"],
        ),
        (
            "languages not a list",
            json!({"languages": "sw"}),
            vec!["languages"],
        ),
        (
            "country unknown",
            json!({"countries": ["KE", "ZZ"]}),
            vec!["countries"],
        ),
        (
            "country alpha-3",
            json!({"countries": ["KEN"]}),
            vec!["countries"],
        ),
        ("31 tags", json!({"tags": many_tags(31)}), vec!["tags"]),
        (
            "visibility not in the set",
            json!({"visibility": "secret"}),
            vec!["visibility"],
        ),
        ("unknown field", json!({"colour": "red"}), vec!["colour"]),
        (
            "read-only status",
            json!({"status": "published"}),
            vec!["status"],
        ),
        (
            "read-only id and version",
            json!({"id": OTHER_ID, "version": 9}),
            vec!["id", "version"],
        ),
        (
            "read-only published_at",
            json!({"published_at": "2024-01-01T00:00:00Z"}),
            vec!["published_at"],
        ),
        (
            "related without resource_id",
            json!({"related": [{"relation": "derived_from"}]}),
            vec!["related[0].resource_id"],
        ),
        (
            "related without relation",
            json!({"related": [{"resource_id": OTHER_ID}]}),
            vec!["related[0].relation"],
        ),
        (
            "related with an unknown relation",
            json!({"related": [{"relation": "likes", "resource_id": OTHER_ID}]}),
            vec!["related[0].relation"],
        ),
        (
            "related id not a UUID",
            json!({"related": [{"relation": "derived_from", "resource_id": "abc"}]}),
            vec!["related[0].resource_id"],
        ),
        (
            "related entry not an object",
            json!({"related": ["abc"]}),
            vec!["related[0]"],
        ),
    ]
}

api_test!(
    a_missing_institution_does_not_hide_other_errors,
    |backend| {
        let (app, _root, owner) = world(backend).await;
        for kind in [COURSES, DATASETS, CARDS] {
            eprintln!("kind: {kind}");
            let res = app
                .post_json(
                    &coll(kind),
                    json!({"title": "", "license": "nope", "colour": 1}),
                    Some(&owner.access),
                )
                .await;
            invalid(res, &["institution", "title", "license", "colour"]).await;
            assert!(drafts(&app, &owner.access, kind).await.is_empty());
        }
    }
);

api_test!(course_fields_are_validated, |backend| {
    let (app, root, owner) = world(backend).await;
    let mut rows = core_rows();
    rows.extend([
        (
            "duration_hours negative",
            json!({"duration_hours": -1}),
            vec!["duration_hours"],
        ),
        (
            "duration_hours not a number",
            json!({"duration_hours": "six"}),
            vec!["duration_hours"],
        ),
        (
            "offline_package_bytes negative",
            json!({"offline_package_bytes": -1}),
            vec!["offline_package_bytes"],
        ),
        (
            "offline_package_bytes fractional",
            json!({"offline_package_bytes": 1.5}),
            vec!["offline_package_bytes"],
        ),
        (
            "offline_package_url ftp",
            json!({"offline_package_url": "ftp://files.example.org/intro.zip"}),
            vec!["offline_package_url"],
        ),
        (
            "offline_package_url javascript",
            json!({"offline_package_url": "javascript:alert(1)"}),
            vec!["offline_package_url"],
        ),
        (
            "offline_package_url over 2048 characters",
            json!({"offline_package_url": format!("https://cdn.example.org/{}", long(2048))}),
            vec!["offline_package_url"],
        ),
        (
            "offline_package_url not a URL",
            json!({"offline_package_url": "intro.zip"}),
            vec!["offline_package_url"],
        ),
        (
            "level not in the set",
            json!({"level": "expert"}),
            vec!["level"],
        ),
        (
            "delivery not in the set",
            json!({"delivery": "telepathy"}),
            vec!["delivery"],
        ),
        (
            "a dataset's field on a course",
            json!({"access_level": "open"}),
            vec!["access_level"],
        ),
        (
            "several bad fields: one entry each",
            json!({"title": "", "summary": long(501), "license": "nope", "countries": ["ZZ"],
                   "duration_hours": -2, "offline_package_url": "ftp://x.example.org/a",
                   "status": "draft", "colour": 1}),
            vec![
                "title",
                "summary",
                "license",
                "countries",
                "duration_hours",
                "offline_package_url",
                "status",
                "colour",
            ],
        ),
    ]);
    create_table(&app, &root, &owner, COURSES, rows).await;
    // The limits themselves are allowed (counted in characters, not bytes).
    let c = create_res(
        &app,
        &owner.access,
        COURSES,
        json!({"institution": INST, "title": "ŵ".repeat(200), "summary": "é".repeat(500), "tags": many_tags(30),
               "duration_hours": 0, "offline_package_bytes": 0,
               "offline_package_url": "http://cdn.example.org/a.zip"}),
    )
    .await;
    assert_eq!(c["tags"].as_array().unwrap().len(), 30);
    assert_eq!(c["title"].as_str().unwrap().chars().count(), 200);
    assert_eq!(drafts(&app, &owner.access, COURSES).await, vec![id_of(&c)]);
});

api_test!(dataset_fields_are_validated, |backend| {
    let (app, root, owner) = world(backend).await;
    let mut rows = core_rows();
    rows.extend([
        ("size_bytes negative", json!({"size_bytes": -1}), vec!["size_bytes"]),
        ("record_count negative", json!({"record_count": -5}), vec!["record_count"]),
        ("record_count fractional", json!({"record_count": 1.5}), vec!["record_count"]),
        ("record_count a string", json!({"record_count": "12"}), vec!["record_count"]),
        ("access_level not in the set", json!({"access_level": "secret"}), vec!["access_level"]),
        ("transfer_policy not in the set", json!({"transfer_policy": "anywhere"}), vec!["transfer_policy"]),
        (
            "allowed_countries policy with an empty list",
            json!({"transfer_policy": "allowed_countries", "allowed_countries": []}),
            vec!["allowed_countries"],
        ),
        (
            "allowed_countries policy without a list",
            json!({"transfer_policy": "allowed_countries"}),
            vec!["allowed_countries"],
        ),
        (
            "allowed_countries with a bad country",
            json!({"transfer_policy": "allowed_countries", "allowed_countries": ["ZZ"]}),
            vec!["allowed_countries"],
        ),
        ("origin_country unknown", json!({"origin_country": "XX"}), vec!["origin_country"]),
        ("contains_personal_data not a boolean", json!({"contains_personal_data": "yes"}), vec!["contains_personal_data"]),
        ("formats not a list", json!({"formats": "CSV"}), vec!["formats"]),
        ("datasheet not an object", json!({"datasheet": "all good"}), vec!["datasheet"]),
        ("datasheet section not text", json!({"datasheet": {"motivation": 3}}), vec!["datasheet.motivation"]),
        ("datasheet unknown section", json!({"datasheet": {"colour": "red"}}), vec!["datasheet.colour"]),
        ("a model card's field on a dataset", json!({"risk_tier": "high"}), vec!["risk_tier"]),
        (
            "several bad fields: one entry each",
            json!({"title": "", "license": "Not-A-Licence", "languages": ["english"], "countries": ["ZZ"],
                   "visibility": "secret", "size_bytes": -1, "record_count": 1.5,
                   "transfer_policy": "allowed_countries",
                   "datasheet": {"motivation": 3, "colour": "red"},
                   "related": [{"relation": "derived_from"}], "status": "published", "surprise": true}),
            vec!["title", "license", "languages", "countries", "visibility", "size_bytes",
                 "record_count", "allowed_countries", "datasheet.motivation", "datasheet.colour",
                 "related[0].resource_id", "status", "surprise"],
        ),
    ]);
    create_table(&app, &root, &owner, DATASETS, rows).await;
    let d = create_res(
        &app,
        &owner.access,
        DATASETS,
        json!({"institution": INST, "title": "Zeroes", "size_bytes": 0, "record_count": 0,
               "transfer_policy": "allowed_countries", "allowed_countries": ["ke"]}),
    )
    .await;
    assert_eq!(d["allowed_countries"], json!(["KE"]));
    assert_eq!(drafts(&app, &owner.access, DATASETS).await, vec![id_of(&d)]);
});

api_test!(model_card_fields_are_validated, |backend| {
    let (app, root, owner) = world(backend).await;
    let mut rows = core_rows();
    rows.extend([
        ("risk_tier not in the set", json!({"risk_tier": "extreme"}), vec!["risk_tier"]),
        ("model_type of 201 characters", json!({"model_type": long(201)}), vec!["model_type"]),
        ("task on two lines", json!({"task": "asr\nmt"}), vec!["task"]),
        ("results not a list", json!({"results": {"task": "asr"}}), vec!["results"]),
        ("results row not an object", json!({"results": [1]}), vec!["results[0]"]),
        ("results row without metric", json!({"results": [{"task": "asr", "value": 0.2}]}), vec!["results[0].metric"]),
        ("results row without task", json!({"results": [{"metric": "wer", "value": 0.2}]}), vec!["results[0].task"]),
        (
            "results value not a number",
            json!({"results": [{"task": "asr", "metric": "wer", "value": "good"}]}),
            vec!["results[0].value"],
        ),
        (
            "results value missing in the second row",
            json!({"results": [{"task": "asr", "metric": "wer", "value": 0.2},
                               {"task": "asr", "metric": "wer"}]}),
            vec!["results[1].value"],
        ),
        (
            "results row with an unknown field",
            json!({"results": [{"task": "asr", "metric": "wer", "value": 0.2, "colour": 1}]}),
            vec!["results[0].colour"],
        ),
        (
            "results dataset_id not a UUID",
            json!({"results": [{"task": "asr", "metric": "wer", "value": 0.2, "dataset_id": "abc"}]}),
            vec!["results[0].dataset_id"],
        ),
        ("related without resource_id", json!({"related": [{"relation": "trained_on"}]}), vec!["related[0].resource_id"]),
        ("a course's field on a model card", json!({"level": "beginner"}), vec!["level"]),
        (
            "several bad fields: one entry each",
            json!({"title": long(201), "summary": long(501), "visibility": "everyone", "risk_tier": "extreme",
                   "tags": many_tags(31),
                   "results": [{"task": "asr", "value": "x"}], "institution_id": "x"}),
            vec!["title", "summary", "visibility", "risk_tier", "tags", "results[0].metric",
                 "results[0].value", "institution_id"],
        ),
    ]);
    create_table(&app, &root, &owner, CARDS, rows).await;
    let m = create_res(
        &app,
        &owner.access,
        CARDS,
        json!({"institution": INST, "title": "Negative metric",
               "results": [{"task": "regression", "metric": "r2", "value": -0.5}]}),
    )
    .await;
    assert_eq!(m["results"][0]["value"], -0.5);
    assert_eq!(drafts(&app, &owner.access, CARDS).await, vec![id_of(&m)]);
});

/// A PATCH that must be refused: of which kind, its body, and the fields
/// the 400 names.
struct PatchRow<'a> {
    name: &'a str,
    kind: &'a str,
    body: Value,
    fields: Vec<&'a str>,
}

api_test!(a_bad_patch_changes_nothing, |backend| {
    let (app, root, owner) = world(backend).await;
    let course = create_res(&app, &owner.access, COURSES, complete(COURSES, "Course")).await;
    let dataset = create_res(&app, &owner.access, DATASETS, complete(DATASETS, "Dataset")).await;
    let card = create_res(&app, &owner.access, CARDS, complete(CARDS, "Card")).await;
    let ids = [
        (COURSES, id_of(&course)),
        (DATASETS, id_of(&dataset)),
        (CARDS, id_of(&card)),
    ];
    let mut tags = Vec::new();
    for (kind, id) in &ids {
        tags.push(etag_of(&app.get_auth(&item(kind, id), &owner.access).await));
    }
    let rows: Vec<PatchRow> = vec![
        PatchRow {
            name: "status is read-only",
            kind: COURSES,
            body: json!({"status": "published"}),
            fields: vec!["status"],
        },
        PatchRow {
            name: "institution is read-only",
            kind: COURSES,
            body: json!({"institution": "lab-b"}),
            fields: vec!["institution"],
        },
        PatchRow {
            name: "version is read-only",
            kind: COURSES,
            body: json!({"version": 10}),
            fields: vec!["version"],
        },
        PatchRow {
            name: "kind is read-only",
            kind: COURSES,
            body: json!({"kind": "dataset"}),
            fields: vec!["kind"],
        },
        PatchRow {
            name: "related_from is read-only",
            kind: COURSES,
            body: json!({"related_from": []}),
            fields: vec!["related_from"],
        },
        PatchRow {
            name: "title cannot be cleared",
            kind: COURSES,
            body: json!({"title": null}),
            fields: vec!["title"],
        },
        PatchRow {
            name: "title of 201 characters",
            kind: COURSES,
            body: json!({"title": long(201)}),
            fields: vec!["title"],
        },
        PatchRow {
            name: "unknown field",
            kind: COURSES,
            body: json!({"colour": "red"}),
            fields: vec!["colour"],
        },
        PatchRow {
            name: "duration_hours negative",
            kind: COURSES,
            body: json!({"duration_hours": -3}),
            fields: vec!["duration_hours"],
        },
        PatchRow {
            name: "offline_package_url javascript",
            kind: COURSES,
            body: json!({"offline_package_url": "javascript:void(0)"}),
            fields: vec!["offline_package_url"],
        },
        PatchRow {
            name: "institution is read-only (dataset)",
            kind: DATASETS,
            body: json!({"institution": INST}),
            fields: vec!["institution"],
        },
        PatchRow {
            name: "size_bytes negative",
            kind: DATASETS,
            body: json!({"size_bytes": -1}),
            fields: vec!["size_bytes"],
        },
        PatchRow {
            name: "record_count fractional",
            kind: DATASETS,
            body: json!({"record_count": 2.5}),
            fields: vec!["record_count"],
        },
        PatchRow {
            name: "allowed_countries needed",
            kind: DATASETS,
            body: json!({"transfer_policy": "allowed_countries"}),
            fields: vec!["allowed_countries"],
        },
        PatchRow {
            name: "datasheet unknown section",
            kind: DATASETS,
            body: json!({"datasheet": {"colour": "red", "uses": "u2"}}),
            fields: vec!["datasheet.colour"],
        },
        PatchRow {
            name: "results row without metric",
            kind: CARDS,
            body: json!({"results": [{"task": "asr", "value": 1}]}),
            fields: vec!["results[0].metric"],
        },
        PatchRow {
            name: "several at once",
            kind: CARDS,
            body: json!({"status": "archived", "institution": "lab-b", "risk_tier": "extreme", "colour": 1,
                   "summary": "a change that must not land"}),
            fields: vec!["status", "institution", "risk_tier", "colour"],
        },
    ];
    for PatchRow {
        name: label,
        kind,
        body,
        fields,
    } in rows
    {
        eprintln!("row: {label}");
        let (_, id) = ids.iter().find(|(k, _)| *k == kind).unwrap();
        invalid(patch(&app, &owner.access, kind, id, body).await, &fields).await;
    }
    for ((kind, id), tag) in ids.iter().zip(&tags) {
        let res = app.get_auth(&item(kind, id), &owner.access).await;
        assert_eq!(&etag_of(&res), tag, "{kind} unchanged");
        let r = body_of(res, 200).await;
        assert_eq!(r["version"], 1);
        assert_eq!(r["summary"], "What it is.");
    }
    assert!(
        events(&app, &root.access, "action=resource.updated")
            .await
            .is_empty()
    );
});

// ----- the completeness gate -----------------------------------------------

/// Creates each row's draft, expects `publish` to answer 422 naming exactly
/// its fields, and the draft to stay as it was.
async fn gate_table(
    app: &TestApp,
    owner: &Account,
    kind: &str,
    rows: Vec<(&str, Value, Vec<&str>)>,
) {
    for (label, body, fields) in rows {
        eprintln!("row: {label}");
        let r = create_res(app, &owner.access, kind, body).await;
        let id = id_of(&r);
        incomplete(publish(app, &owner.access, kind, &id).await, &fields).await;
        let after = read(app, Some(&owner.access), kind, &id).await;
        assert_eq!(after["status"], "draft", "{label}");
        assert_eq!(after["version"], 1, "{label}");
        assert_eq!(after["published_at"], Value::Null, "{label}");
    }
}

api_test!(the_gate_for_courses, |backend| {
    let (app, _root, owner) = world(backend).await;
    let full = complete(COURSES, "Course");
    gate_table(
        &app,
        &owner,
        COURSES,
        vec![
            (
                "nothing but a title (and a module)",
                json!({"institution": INST, "title": "Bare"}),
                vec!["summary", "license", "languages"],
            ),
            (
                "no summary",
                with(&full, json!({"summary": null})),
                vec!["summary"],
            ),
            (
                "a blank summary",
                with(&full, json!({"summary": "   "})),
                vec!["summary"],
            ),
            (
                "no licence",
                with(&full, json!({"license": null})),
                vec!["license"],
            ),
            (
                "no language",
                with(&full, json!({"languages": []})),
                vec!["languages"],
            ),
        ],
    )
    .await;
    // A course without a module does not publish (the learning issue's rule,
    // which replaced the interim duration and level).
    let bare = body_of(
        app.post_json(&coll(COURSES), full.clone(), Some(&owner.access))
            .await,
        201,
    )
    .await;
    incomplete(
        publish(&app, &owner.access, COURSES, &id_of(&bare)).await,
        &["modules"],
    )
    .await;
    let ok = create_res(&app, &owner.access, COURSES, full).await;
    let p = body_of(
        publish(&app, &owner.access, COURSES, &id_of(&ok)).await,
        200,
    )
    .await;
    assert_eq!(p["status"], "published");
});

api_test!(the_gate_for_datasets, |backend| {
    let (app, _root, owner) = world(backend).await;
    let full = complete(DATASETS, "Dataset");
    let personal = with(
        &full,
        json!({"contains_personal_data": true, "access_level": "restricted",
               "datasheet": {"preprocessing": "Anonymised", "biases_and_limitations": "Urban speakers"}}),
    );
    gate_table(
        &app,
        &owner,
        DATASETS,
        vec![
            (
                "core fields only",
                core("Core only"),
                vec![
                    "datasheet.motivation",
                    "datasheet.composition",
                    "datasheet.collection_process",
                    "datasheet.uses",
                ],
            ),
            (
                "nothing but a title",
                json!({"institution": INST, "title": "Bare"}),
                vec![
                    "summary",
                    "license",
                    "languages",
                    "datasheet.motivation",
                    "datasheet.composition",
                    "datasheet.collection_process",
                    "datasheet.uses",
                ],
            ),
            (
                "no licence",
                with(&full, json!({"license": null})),
                vec!["license"],
            ),
            (
                "no motivation",
                with(&full, json!({"datasheet": {"motivation": null}})),
                vec!["datasheet.motivation"],
            ),
            (
                "a blank composition",
                with(&full, json!({"datasheet": {"composition": "  "}})),
                vec!["datasheet.composition"],
            ),
            (
                "no collection process",
                with(&full, json!({"datasheet": {"collection_process": null}})),
                vec!["datasheet.collection_process"],
            ),
            (
                "no uses",
                with(&full, json!({"datasheet": {"uses": null}})),
                vec!["datasheet.uses"],
            ),
            (
                "personal data, open, no extra sections",
                with(
                    &full,
                    json!({"contains_personal_data": true, "access_level": "open"}),
                ),
                vec![
                    "datasheet.preprocessing",
                    "datasheet.biases_and_limitations",
                    "access_level",
                ],
            ),
            (
                "personal data without preprocessing",
                with(&personal, json!({"datasheet": {"preprocessing": null}})),
                vec!["datasheet.preprocessing"],
            ),
            (
                "personal data without biases and limitations",
                with(
                    &personal,
                    json!({"datasheet": {"biases_and_limitations": null}}),
                ),
                vec!["datasheet.biases_and_limitations"],
            ),
            (
                "personal data, open access",
                with(&personal, json!({"access_level": "open"})),
                vec!["access_level"],
            ),
        ],
    )
    .await;
    for body in [
        full.clone(),
        with(&full, json!({"access_level": "open"})),
        personal.clone(),
        with(&personal, json!({"access_level": "registered"})),
    ] {
        let ok = create_res(&app, &owner.access, DATASETS, body).await;
        body_of(
            publish(&app, &owner.access, DATASETS, &id_of(&ok)).await,
            200,
        )
        .await;
    }
});

api_test!(the_gate_for_model_cards, |backend| {
    let (app, _root, owner) = world(backend).await;
    let minimal = complete(CARDS, "Card");
    let limited = with(
        &minimal,
        json!({"risk_tier": "limited", "evaluation_data": "Held-out clips", "caveats": "Accents vary",
               "results": [{"task": "asr", "metric": "wer", "value": 0.2}]}),
    );
    let high = high_card("High");
    gate_table(
        &app,
        &owner,
        CARDS,
        vec![
            (
                "core fields only",
                core("Core only"),
                vec!["risk_tier", "intended_uses", "out_of_scope_uses"],
            ),
            (
                "no risk tier",
                with(&minimal, json!({"risk_tier": null})),
                vec!["risk_tier"],
            ),
            (
                "no intended uses",
                with(&minimal, json!({"intended_uses": null})),
                vec!["intended_uses"],
            ),
            (
                "no out-of-scope uses",
                with(&minimal, json!({"out_of_scope_uses": null})),
                vec!["out_of_scope_uses"],
            ),
            (
                "no language",
                with(&minimal, json!({"languages": null})),
                vec!["languages"],
            ),
            (
                "limited with nothing more",
                with(&minimal, json!({"risk_tier": "limited"})),
                vec!["evaluation_data", "results", "caveats"],
            ),
            (
                "limited without evaluation data",
                with(&limited, json!({"evaluation_data": null})),
                vec!["evaluation_data"],
            ),
            (
                "limited without results",
                with(&limited, json!({"results": []})),
                vec!["results"],
            ),
            (
                "limited without caveats",
                with(&limited, json!({"caveats": null})),
                vec!["caveats"],
            ),
            (
                "high on a limited card",
                with(&limited, json!({"risk_tier": "high"})),
                vec!["factors", "ethical_considerations", "results"],
            ),
            (
                "high without factors",
                with(&high, json!({"factors": null})),
                vec!["factors"],
            ),
            (
                "high without ethical considerations",
                with(&high, json!({"ethical_considerations": null})),
                vec!["ethical_considerations"],
            ),
            (
                "high with two results on one slice",
                with(
                    &high,
                    json!({"results": [
                    {"task": "asr", "metric": "wer", "value": 0.2, "slice": "women"},
                    {"task": "asr", "metric": "cer", "value": 0.1, "slice": "women"}]}),
                ),
                vec!["results"],
            ),
            (
                "high with one sliced and one unsliced result",
                with(
                    &high,
                    json!({"results": [
                    {"task": "asr", "metric": "wer", "value": 0.2, "slice": "women"},
                    {"task": "asr", "metric": "wer", "value": 0.2}]}),
                ),
                vec!["results"],
            ),
            (
                "high without results",
                with(&high, json!({"results": []})),
                vec!["results"],
            ),
            (
                "unacceptable, however complete",
                with(&high, json!({"risk_tier": "unacceptable"})),
                vec!["risk_tier"],
            ),
        ],
    )
    .await;
    for body in [minimal, limited, high] {
        let ok = create_res(&app, &owner.access, CARDS, body).await;
        body_of(publish(&app, &owner.access, CARDS, &id_of(&ok)).await, 200).await;
    }
});

/// A PATCH that would make a published resource incomplete: which
/// resource, the body, and the fields the 422 names.
struct IncompleteRow<'a> {
    name: &'a str,
    resource: &'a Value,
    body: Value,
    fields: Vec<&'a str>,
}

api_test!(
    a_patch_cannot_make_a_published_resource_incomplete,
    |backend| {
        let (app, _root, owner) = world(backend).await;
        let course = published(&app, &owner.access, COURSES, "Course", json!({})).await;
        let dataset = published(&app, &owner.access, DATASETS, "Dataset", json!({})).await;
        let card = published(
            &app,
            &owner.access,
            CARDS,
            "Card",
            json!({"risk_tier": "limited", "evaluation_data": "e", "caveats": "c",
               "results": [{"task": "asr", "metric": "wer", "value": 0.2}]}),
        )
        .await;
        let rows: Vec<IncompleteRow> = vec![
            IncompleteRow {
                name: "course loses its licence and languages",
                resource: &course,
                body: json!({"license": null, "languages": []}),
                fields: vec!["license", "languages"],
            },
            IncompleteRow {
                name: "dataset loses its uses",
                resource: &dataset,
                body: json!({"datasheet": {"uses": null}}),
                fields: vec!["datasheet.uses"],
            },
            IncompleteRow {
                name: "dataset turns personal",
                resource: &dataset,
                body: json!({"contains_personal_data": true}),
                fields: vec![
                    "datasheet.preprocessing",
                    "datasheet.biases_and_limitations",
                ],
            },
            IncompleteRow {
                name: "card goes high",
                resource: &card,
                body: json!({"risk_tier": "high"}),
                fields: vec!["factors", "ethical_considerations", "results"],
            },
            IncompleteRow {
                name: "card goes unacceptable (which needs all of high, too)",
                resource: &card,
                body: json!({"risk_tier": "unacceptable"}),
                fields: vec!["risk_tier", "factors", "ethical_considerations", "results"],
            },
            IncompleteRow {
                name: "card drops its results",
                resource: &card,
                body: json!({"results": []}),
                fields: vec!["results"],
            },
        ];
        for IncompleteRow {
            name: label,
            resource: r,
            body,
            fields,
        } in rows
        {
            eprintln!("row: {label}");
            let kind = match r["kind"].as_str().unwrap() {
                "course" => COURSES,
                "dataset" => DATASETS,
                _ => CARDS,
            };
            let id = id_of(r);
            let before = app.get_auth(&item(kind, &id), &owner.access).await;
            let tag = etag_of(&before);
            typed(
                patch(&app, &owner.access, kind, &id, body.clone()).await,
                409,
                "edit-the-draft",
            )
            .await;
            let draft = format!("{}/draft", item(kind, &id));
            let res = call(&app, Method::PATCH, &draft, Some(&owner.access), Some(body)).await;
            incomplete(res, &fields).await;
            // No draft was saved.
            problem(app.get_auth(&draft, &owner.access).await, 404).await;
            let after = app.get_auth(&item(kind, &id), &owner.access).await;
            assert_eq!(etag_of(&after), tag, "{label}: unchanged");
            let after = body_of(after, 200).await;
            assert_eq!(after["version"], r["version"], "{label}");
            assert_eq!(after["status"], "published");
        }
        // A complete change still goes through (the draft, then publishing it).
        let p = body_of(
            edit_published(
                &app,
                Some(&owner.access),
                &item(COURSES, &id_of(&course)),
                json!({"level": "advanced"}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(p["level"], "advanced");
        assert_eq!(p["version_label"], "1.1");
    }
);

// ----- who may publish -------------------------------------------------------------

api_test!(an_unverified_institution_cannot_publish, |backend| {
    let (app, root, _owner) = world(backend).await;
    let founder = app.signup("founder@example.org").await;
    create_slug(&app, &founder.access, "lab-new").await;
    let body = with(
        &complete(COURSES, "Course"),
        json!({"institution": "lab-new"}),
    );
    let c = create_res(&app, &founder.access, COURSES, body).await;
    let id = id_of(&c);
    typed(
        publish(&app, &founder.access, COURSES, &id).await,
        403,
        "institution-not-verified",
    )
    .await;
    // Not even an admin publishes for an unverified institution.
    typed(
        publish(&app, &root.access, COURSES, &id).await,
        403,
        "institution-not-verified",
    )
    .await;
    let r = read(&app, Some(&founder.access), COURSES, &id).await;
    assert_eq!(r["status"], "draft");
    assert_eq!(r["version"], 1);
    verify(&app, &root.access, "lab-new").await;
    let p = body_of(publish(&app, &founder.access, COURSES, &id).await, 200).await;
    assert_eq!(p["status"], "published");
});

api_test!(an_editor_needs_a_verified_email_to_publish, |backend| {
    let (app, root, owner) = world(backend).await;
    let token = unverified(&app, "editor@example.org").await;
    let me = body_of(app.get_auth("/api/v1/me", &token).await, 200).await;
    assert_eq!(me["email_verified"], false);
    let inst = institution_id(&app, &root.access, INST).await;
    add_membership(&app, &inst, me["id"].as_str().unwrap(), "editor").await;
    let d = create_res(&app, &owner.access, DATASETS, complete(DATASETS, "Dataset")).await;
    let id = id_of(&d);
    // An editor sees and edits the draft …
    assert_eq!(
        read(&app, Some(&token), DATASETS, &id).await["status"],
        "draft"
    );
    let p = body_of(
        patch(&app, &token, DATASETS, &id, json!({"record_count": 10})).await,
        200,
    )
    .await;
    assert_eq!(p["version"], 2);
    // … but publishes only with a verified address.
    typed(
        publish(&app, &token, DATASETS, &id).await,
        403,
        "email-not-verified",
    )
    .await;
    let r = read(&app, Some(&owner.access), DATASETS, &id).await;
    assert_eq!(r["status"], "draft");
    assert_eq!(r["version"], 2);
    body_of(publish(&app, &owner.access, DATASETS, &id).await, 200).await;
});

/// `lab-a` with a member, an outsider, and three courses of its owner: a
/// draft, a published public one and a published institution-only one.
struct Guarded {
    app: TestApp,
    owner: Account,
    member: Account,
    outsider: Account,
    draft_id: String,
    public: Value,
    public_id: String,
    internal: Value,
    internal_id: String,
}

async fn guarded(backend: Backend) -> Guarded {
    let (app, _root, owner) = world(backend).await;
    let member = app.signup("member@example.org").await;
    join(&app, &owner.access, INST, &member, "member").await;
    let outsider = app.signup("outsider@example.org").await;
    let draft = create_res(&app, &owner.access, COURSES, complete(COURSES, "Draft")).await;
    let draft_id = id_of(&draft);
    let public = published(&app, &owner.access, COURSES, "Public", json!({})).await;
    let public_id = id_of(&public);
    let internal = published(
        &app,
        &owner.access,
        COURSES,
        "Internal",
        json!({"visibility": "institution"}),
    )
    .await;
    let internal_id = id_of(&internal);
    Guarded {
        app,
        owner,
        member,
        outsider,
        draft_id,
        public,
        public_id,
        internal,
        internal_id,
    }
}

impl Guarded {
    /// The three courses are as they were.
    async fn nothing_changed(&self) {
        let Guarded {
            app,
            owner,
            draft_id,
            public,
            public_id,
            internal,
            internal_id,
            ..
        } = self;
        let d = read(app, Some(&owner.access), COURSES, draft_id).await;
        assert_eq!(
            (d["status"].clone(), d["version"].clone()),
            (json!("draft"), json!(1))
        );
        for (id, version) in [
            (&public_id, &public["version"]),
            (&internal_id, &internal["version"]),
        ] {
            let r = read(app, Some(&owner.access), COURSES, id).await;
            assert_eq!(&r["version"], version);
            assert_eq!(r["status"], "published");
        }
        assert_eq!(
            drafts(app, &owner.access, COURSES).await,
            vec![draft_id.clone()]
        );
    }
}

api_test!(members_cannot_change_resources, |backend| {
    let g = guarded(backend).await;
    let Guarded {
        app,
        member,
        draft_id,
        public_id,
        internal_id,
        ..
    } = &g;
    // A member creates nothing.
    typed(
        app.post_json(
            "/api/v1/courses",
            complete(COURSES, "Mine"),
            Some(&member.access),
        )
        .await,
        403,
        "insufficient-role",
    )
    .await;
    // A member sees published resources (even institution-only ones) but changes none.
    assert_eq!(
        read(app, Some(&member.access), COURSES, internal_id).await["title"],
        "Internal"
    );
    for id in [&public_id, &internal_id] {
        typed(
            patch(app, &member.access, COURSES, id, json!({"summary": "x"})).await,
            403,
            "insufficient-role",
        )
        .await;
        typed(
            publish(app, &member.access, COURSES, id).await,
            403,
            "insufficient-role",
        )
        .await;
        typed(
            archive(app, &member.access, COURSES, id).await,
            403,
            "insufficient-role",
        )
        .await;
        typed(
            delete(app, &member.access, COURSES, id).await,
            403,
            "insufficient-role",
        )
        .await;
    }
    // Drafts belong to owners and editors: a member does not see them.
    problem(
        app.get_auth(&item(COURSES, draft_id), &member.access).await,
        404,
    )
    .await;
    problem(publish(app, &member.access, COURSES, draft_id).await, 404).await;
    problem(
        patch(
            app,
            &member.access,
            COURSES,
            draft_id,
            json!({"summary": "x"}),
        )
        .await,
        404,
    )
    .await;
    problem(delete(app, &member.access, COURSES, draft_id).await, 404).await;

    // Nothing changed.
    g.nothing_changed().await;
});

api_test!(outsiders_cannot_change_resources, |backend| {
    let g = guarded(backend).await;
    let Guarded {
        app,
        outsider,
        draft_id,
        public_id,
        internal_id,
        ..
    } = &g;
    // An outsider: 404 for the draft and the institution-only resource, 403 for the public one.
    for id in [&draft_id, &internal_id] {
        problem(
            app.get_auth(&item(COURSES, id), &outsider.access).await,
            404,
        )
        .await;
        problem(
            patch(app, &outsider.access, COURSES, id, json!({"summary": "x"})).await,
            404,
        )
        .await;
        problem(publish(app, &outsider.access, COURSES, id).await, 404).await;
        problem(archive(app, &outsider.access, COURSES, id).await, 404).await;
        problem(delete(app, &outsider.access, COURSES, id).await, 404).await;
    }
    typed(
        patch(
            app,
            &outsider.access,
            COURSES,
            public_id,
            json!({"summary": "x"}),
        )
        .await,
        403,
        "insufficient-role",
    )
    .await;
    typed(
        archive(app, &outsider.access, COURSES, public_id).await,
        403,
        "insufficient-role",
    )
    .await;
    typed(
        app.post_json(
            "/api/v1/courses",
            complete(COURSES, "Theirs"),
            Some(&outsider.access),
        )
        .await,
        403,
        "insufficient-role",
    )
    .await;

    // Nothing changed.
    g.nothing_changed().await;
});

api_test!(the_anonymous_cannot_change_resources, |backend| {
    let g = guarded(backend).await;
    let Guarded {
        app,
        draft_id,
        public_id,
        internal_id,
        ..
    } = &g;
    // The anonymous: 404 for what they cannot see, 401 for writing.
    problem(app.get(&item(COURSES, draft_id)).await, 404).await;
    problem(app.get(&item(COURSES, internal_id)).await, 404).await;
    problem(
        call(
            app,
            Method::POST,
            &format!("{}/publish", item(COURSES, draft_id)),
            None,
            None,
        )
        .await,
        401,
    )
    .await;
    problem(
        call(
            app,
            Method::PATCH,
            &item(COURSES, public_id),
            None,
            Some(json!({"summary": "x"})),
        )
        .await,
        401,
    )
    .await;

    // Nothing changed.
    g.nothing_changed().await;
});

// ----- lost updates -------------------------------------------------------------

api_test!(stale_if_match_loses_no_update, |backend| {
    let (app, _root, owner) = world(backend).await;
    let c = create_res(&app, &owner.access, COURSES, complete(COURSES, "Course")).await;
    let id = id_of(&c);
    let path = item(COURSES, &id);
    let tag = etag_of(&app.get_auth(&path, &owner.access).await);
    let first = send(
        &app,
        Method::PATCH,
        &path,
        Some(&owner.access),
        Some(json!({"summary": "first"})),
        &[("If-Match", &tag)],
    )
    .await;
    let fresh = etag_of(&first);
    assert_eq!(body_of(first, 200).await["version"], 2);
    let second = send(
        &app,
        Method::PATCH,
        &path,
        Some(&owner.access),
        Some(json!({"summary": "second"})),
        &[("If-Match", &tag)],
    )
    .await;
    typed(second, 412, "stale-version").await;
    // A weak tag never matches If-Match.
    let weak = format!("W/{fresh}");
    typed(
        send(
            &app,
            Method::PATCH,
            &path,
            Some(&owner.access),
            Some(json!({"summary": "weak"})),
            &[("If-Match", &weak)],
        )
        .await,
        412,
        "stale-version",
    )
    .await;
    let r = read(&app, Some(&owner.access), COURSES, &id).await;
    assert_eq!(r["summary"], "first");
    assert_eq!(r["version"], 2);
    // Stale publish and delete change nothing either.
    typed(
        send(
            &app,
            Method::POST,
            &format!("{path}/publish"),
            Some(&owner.access),
            None,
            &[("If-Match", &tag)],
        )
        .await,
        412,
        "stale-version",
    )
    .await;
    typed(
        send(
            &app,
            Method::DELETE,
            &path,
            Some(&owner.access),
            None,
            &[("If-Match", &tag)],
        )
        .await,
        412,
        "stale-version",
    )
    .await;
    let r = read(&app, Some(&owner.access), COURSES, &id).await;
    assert_eq!(
        (r["status"].clone(), r["version"].clone()),
        (json!("draft"), json!(2))
    );
    // With the current tag, each goes through.
    let res = send(
        &app,
        Method::PATCH,
        &path,
        Some(&owner.access),
        Some(json!({"summary": "third"})),
        &[("If-Match", &fresh)],
    )
    .await;
    let current = etag_of(&res);
    assert_eq!(body_of(res, 200).await["version"], 3);
    let res = send(
        &app,
        Method::DELETE,
        &path,
        Some(&owner.access),
        None,
        &[("If-Match", &current)],
    )
    .await;
    assert_eq!(res.status(), 204);
    problem(app.get_auth(&path, &owner.access).await, 404).await;
});

// ----- related resources -------------------------------------------------------------

/// `lab-a` with an outsider; an open dataset (published), a draft dataset,
/// and a draft model card trained on the first and evaluated on the second.
struct Linked {
    app: TestApp,
    owner: Account,
    outsider: Account,
    dataset_id: String,
    draft_dataset_id: String,
    card: Value,
    card_id: String,
}

async fn linked(backend: Backend) -> Linked {
    let (app, _root, owner) = world(backend).await;
    let outsider = app.signup("outsider@example.org").await;
    let dataset = published(
        &app,
        &owner.access,
        DATASETS,
        "Speech",
        json!({"access_level": "open"}),
    )
    .await;
    let dataset_id = id_of(&dataset);
    let draft_dataset = create_res(
        &app,
        &owner.access,
        DATASETS,
        complete(DATASETS, "Draft speech"),
    )
    .await;
    let draft_dataset_id = id_of(&draft_dataset);
    let card = create_res(
        &app,
        &owner.access,
        CARDS,
        with(
            &complete(CARDS, "ASR"),
            json!({"related": [{"relation": "trained_on", "resource_id": dataset_id},
                               {"relation": "evaluated_on", "resource_id": draft_dataset_id}],
                   "results": [{"task": "asr", "metric": "wer", "value": 0.2, "dataset_id": dataset_id}]}),
        ),
    )
    .await;
    let card_id = id_of(&card);
    Linked {
        app,
        owner,
        outsider,
        dataset_id,
        draft_dataset_id,
        card,
        card_id,
    }
}

impl Linked {
    /// The card, made `visibility` and published (or only re-labelled once
    /// it is: through the draft of its next version, then published).
    async fn card_as(&self, visibility: &str, publish_it: bool) {
        let (app, owner) = (&self.app, &self.owner);
        let body = json!({ "visibility": visibility });
        if publish_it {
            let res = patch(app, &owner.access, CARDS, &self.card_id, body).await;
            body_of(res, 200).await;
            body_of(publish(app, &owner.access, CARDS, &self.card_id).await, 200).await;
        } else {
            let path = item(CARDS, &self.card_id);
            let res = edit_published(app, Some(&owner.access), &path, body).await;
            assert_eq!(body_of(res, 200).await["visibility"], visibility);
        }
    }
}

api_test!(
    links_show_both_ways_to_readers_who_may_see_both_ends,
    |backend| {
        let Linked {
            app,
            owner,
            outsider,
            dataset_id,
            draft_dataset_id,
            card,
            card_id,
        } = linked(backend).await;
        assert_eq!(
            card["related"],
            json!([{"relation": "trained_on", "resource_id": dataset_id},
               {"relation": "evaluated_on", "resource_id": draft_dataset_id}])
        );
        assert_eq!(card["results"][0]["dataset_id"], dataset_id);
        // The dataset's editors see the (draft) card pointing at it.
        let d = read(&app, Some(&owner.access), DATASETS, &dataset_id).await;
        assert_eq!(
            d["related_from"],
            json!([{"relation": "trained_on", "resource_id": card_id}])
        );
        // Readers who cannot see the draft card see no link from it.
        let anon = read(&app, None, DATASETS, &dataset_id).await;
        assert_eq!(anon["related_from"], json!([]));
        let other = read(&app, Some(&outsider.access), DATASETS, &dataset_id).await;
        assert_eq!(other["related_from"], json!([]));

        // Published with visibility `institution`: still hidden from outsiders.
        body_of(
            patch(
                &app,
                &owner.access,
                CARDS,
                &card_id,
                json!({"visibility": "institution"}),
            )
            .await,
            200,
        )
        .await;
        body_of(publish(&app, &owner.access, CARDS, &card_id).await, 200).await;
        assert_eq!(
            read(&app, None, DATASETS, &dataset_id).await["related_from"],
            json!([])
        );
        assert_eq!(
            read(&app, Some(&outsider.access), DATASETS, &dataset_id).await["related_from"],
            json!([])
        );
        assert_eq!(
            read(&app, Some(&owner.access), DATASETS, &dataset_id).await["related_from"],
            json!([{"relation": "trained_on", "resource_id": card_id}])
        );
    }
);

api_test!(
    a_public_card_shows_its_links_to_everyone_who_may_see_both_ends,
    |backend| {
        let l = linked(backend).await;
        let Linked {
            app,
            owner,
            dataset_id,
            draft_dataset_id,
            card_id,
            ..
        } = &l;
        l.card_as("institution", true).await;

        // Public: everyone sees the link; the link to the draft dataset stays hidden from them.
        body_of(
            edit_published(
                app,
                Some(&owner.access),
                &item(CARDS, card_id),
                json!({"visibility": "public"}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(
            read(app, None, DATASETS, dataset_id).await["related_from"],
            json!([{"relation": "trained_on", "resource_id": card_id}])
        );
        let anon_card = read(app, None, CARDS, card_id).await;
        assert_eq!(
            anon_card["related"],
            json!([{"relation": "trained_on", "resource_id": dataset_id}])
        );
        let owner_card = read(app, Some(&owner.access), CARDS, card_id).await;
        assert_eq!(owner_card["related"].as_array().unwrap().len(), 2);
        // The draft dataset's editors see the link to it.
        assert_eq!(
            read(app, Some(&owner.access), DATASETS, draft_dataset_id).await["related_from"],
            json!([{"relation": "evaluated_on", "resource_id": card_id}])
        );

        // A PATCH (of the draft of the next version, then published) that
        // leaves `related` out keeps every link, hidden ones included.
        let res = edit_published(
            app,
            Some(&owner.access),
            &item(CARDS, card_id),
            json!({"summary": "New summary"}),
        )
        .await;
        assert_eq!(body_of(res, 200).await["summary"], "New summary");
        assert_eq!(
            read(app, Some(&owner.access), CARDS, card_id).await["related"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
);

api_test!(another_institution_links_to_what_it_sees, |backend| {
    let l = linked(backend).await;
    let Linked {
        app,
        owner,
        dataset_id,
        card_id,
        ..
    } = &l;
    l.card_as("institution", true).await;
    l.card_as("public", false).await;

    // Another institution may link to what it can see.
    let other_owner = app.signup("other@example.org").await;
    create_slug(app, &other_owner.access, "lab-b").await;
    let course = create_res(
        app,
        &other_owner.access,
        COURSES,
        json!({"institution": "lab-b", "title": "Using speech data",
               "related": [{"relation": "uses_dataset", "resource_id": dataset_id},
                           {"relation": "teaches_model", "resource_id": card_id}]}),
    )
    .await;
    assert_eq!(course["related"].as_array().unwrap().len(), 2);
    // `related` replaces every link.
    let c = body_of(
        patch(
            app,
            &other_owner.access,
            COURSES,
            &id_of(&course),
            json!({"related": [{"relation": "uses_dataset", "resource_id": dataset_id}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        c["related"],
        json!([{"relation": "uses_dataset", "resource_id": dataset_id}])
    );
    // The course is a draft of lab-b: lab-a's owner does not see its link.
    assert_eq!(
        read(app, Some(&owner.access), DATASETS, dataset_id).await["related_from"],
        json!([{"relation": "trained_on", "resource_id": card_id}])
    );
});

/// `lab-a`'s drafts to link from and to (a dataset, a course, a model card
/// with its ETag, and one more dataset and card as PATCH targets), and a
/// draft dataset of `lab-b` that `lab-a` cannot see.
struct Targets {
    app: TestApp,
    owner: Account,
    other_owner: Account,
    hidden_id: String,
    dataset_id: String,
    course_id: String,
    card_id: String,
    card_tag: String,
    dataset2_id: String,
    card2_id: String,
}

async fn link_targets(backend: Backend) -> Targets {
    let (app, _root, owner) = world(backend).await;
    let other_owner = app.signup("other@example.org").await;
    create_slug(&app, &other_owner.access, "lab-b").await;
    let hidden = create_res(
        &app,
        &other_owner.access,
        DATASETS,
        json!({"institution": "lab-b", "title": "Their draft"}),
    )
    .await;
    let hidden_id = id_of(&hidden);
    let dataset = create_res(&app, &owner.access, DATASETS, complete(DATASETS, "Ours")).await;
    let dataset_id = id_of(&dataset);
    let course = create_res(&app, &owner.access, COURSES, complete(COURSES, "Course")).await;
    let course_id = id_of(&course);
    let card = create_res(&app, &owner.access, CARDS, complete(CARDS, "Card")).await;
    let card_id = id_of(&card);
    let card_tag = etag_of(&app.get_auth(&item(CARDS, &card_id), &owner.access).await);
    // PATCH targets other than the linked resources (a self-link is another rule).
    let dataset2_id = id_of(
        &create_res(
            &app,
            &owner.access,
            DATASETS,
            complete(DATASETS, "Ours too"),
        )
        .await,
    );
    let card2_id = id_of(&create_res(&app, &owner.access, CARDS, complete(CARDS, "Card 2")).await);
    Targets {
        app,
        owner,
        other_owner,
        hidden_id,
        dataset_id,
        course_id,
        card_id,
        card_tag,
        dataset2_id,
        card2_id,
    }
}

impl Targets {
    /// No refused link left a trace.
    async fn nothing_written(&self) {
        let Targets {
            app,
            owner,
            dataset_id,
            card_id,
            card_tag,
            ..
        } = self;
        let res = app.get_auth(&item(CARDS, card_id), &owner.access).await;
        assert_eq!(etag_of(&res), *card_tag);
        assert_eq!(body_of(res, 200).await["related"], json!([]));
        for (kind, n) in [(COURSES, 1), (DATASETS, 2), (CARDS, 2)] {
            assert_eq!(drafts(app, &owner.access, kind).await.len(), n, "{kind}");
        }
        assert_eq!(
            read(app, Some(&owner.access), DATASETS, dataset_id).await["related_from"],
            json!([])
        );
    }
}

/// A link of the wrong kind: what a `kind` body adds, and the fields the
/// 400 names.
struct LinkRow<'a> {
    name: &'a str,
    kind: &'a str,
    extra: Value,
    fields: Vec<&'a str>,
}

api_test!(
    links_must_name_visible_resources_of_the_right_kind,
    |backend| {
        let t = link_targets(backend).await;
        let Targets {
            app,
            owner,
            other_owner,
            hidden_id,
            card_id,
            ..
        } = &t;
        // A resource you cannot see (another institution's draft, or none at all): 404, nothing written.
        for target in [hidden_id, &OTHER_ID.to_string()] {
            let body = with(
                &complete(CARDS, "Linked"),
                json!({"related": [{"relation": "trained_on", "resource_id": target}]}),
            );
            problem(
                app.post_json("/api/v1/model-cards", body, Some(&owner.access))
                    .await,
                404,
            )
            .await;
            problem(
                patch(
                    app,
                    &owner.access,
                    CARDS,
                    card_id,
                    json!({"related": [{"relation": "trained_on", "resource_id": target}]}),
                )
                .await,
                404,
            )
            .await;
        }
        assert_eq!(drafts(app, &owner.access, CARDS).await.len(), 2);
        // Its owner does not see a link to it either.
        assert_eq!(
            read(app, Some(&other_owner.access), DATASETS, hidden_id).await["related_from"],
            json!([])
        );
        // Nothing was written.
        t.nothing_written().await;
    }
);

api_test!(links_of_the_wrong_kind_are_refused, |backend| {
    let t = link_targets(backend).await;
    let Targets {
        app,
        owner,
        hidden_id,
        dataset_id,
        course_id,
        card_id,
        dataset2_id,
        card2_id,
        ..
    } = &t;
    // The wrong kinds for a relation: 400 naming the relation.
    let rows: Vec<LinkRow> = vec![
        LinkRow {
            name: "trained_on a course",
            kind: CARDS,
            extra: json!({"related": [{"relation": "trained_on", "resource_id": course_id}]}),
            fields: vec!["related[0].relation"],
        },
        LinkRow {
            name: "evaluated_on a model card (second entry)",
            kind: CARDS,
            extra: json!({"related": [{"relation": "trained_on", "resource_id": dataset_id},
                               {"relation": "evaluated_on", "resource_id": card_id}]}),
            fields: vec!["related[1].relation"],
        },
        LinkRow {
            name: "a dataset uses_dataset",
            kind: DATASETS,
            extra: json!({"related": [{"relation": "uses_dataset", "resource_id": dataset_id}]}),
            fields: vec!["related[0].relation"],
        },
        LinkRow {
            name: "a course teaches_model a dataset",
            kind: COURSES,
            extra: json!({"related": [{"relation": "teaches_model", "resource_id": dataset_id}]}),
            fields: vec!["related[0].relation"],
        },
        LinkRow {
            name: "derived_from another kind",
            kind: COURSES,
            extra: json!({"related": [{"relation": "derived_from", "resource_id": card_id}]}),
            fields: vec!["related[0].relation"],
        },
        LinkRow {
            name: "results naming a course as dataset",
            kind: CARDS,
            extra: json!({"results": [{"task": "asr", "metric": "wer", "value": 0.2, "dataset_id": course_id}]}),
            fields: vec!["results[0].dataset_id"],
        },
        LinkRow {
            name: "results naming a dataset you cannot see",
            kind: CARDS,
            extra: json!({"results": [{"task": "asr", "metric": "wer", "value": 0.2, "dataset_id": dataset_id},
                               {"task": "asr", "metric": "wer", "value": 0.3, "dataset_id": hidden_id}]}),
            fields: vec!["results[1].dataset_id"],
        },
    ];
    for LinkRow {
        name: label,
        kind,
        extra,
        fields,
    } in rows
    {
        eprintln!("row: {label}");
        let body = with(&complete(kind, label), extra.clone());
        invalid(
            app.post_json(&coll(kind), body, Some(&owner.access)).await,
            &fields,
        )
        .await;
        let target = match kind {
            COURSES => &course_id,
            DATASETS => &dataset2_id,
            _ => &card2_id,
        };
        invalid(
            patch(app, &owner.access, kind, target, extra).await,
            &fields,
        )
        .await;
    }
    // A results row naming a hidden dataset, alone: 400 naming it.
    invalid(
        app.post_json(
            "/api/v1/model-cards",
            with(&complete(CARDS, "Hidden results"),
                 json!({"results": [{"task": "asr", "metric": "wer", "value": 0.2, "dataset_id": hidden_id}]})),
            Some(&owner.access),
        )
        .await,
        &["results[0].dataset_id"],
    )
    .await;
    // Linking to itself: 400.
    invalid(
        patch(
            app,
            &owner.access,
            CARDS,
            card_id,
            json!({"related": [{"relation": "derived_from", "resource_id": card_id}]}),
        )
        .await,
        &["related[0].resource_id"],
    )
    .await; // Nothing was written.
    t.nothing_written().await;
});

api_test!(links_of_the_right_kinds_go_through, |backend| {
    let t = link_targets(backend).await;
    let Targets {
        app,
        owner,
        dataset_id,
        card_id,
        ..
    } = &t;
    // The right kinds go through; derived_from links two of one kind.
    let c2 = create_res(
        app,
        &owner.access,
        CARDS,
        with(
            &complete(CARDS, "Fine-tune"),
            json!({"related": [{"relation": "derived_from", "resource_id": card_id},
                                {"relation": "evaluated_on", "resource_id": dataset_id}]}),
        ),
    )
    .await;
    assert_eq!(c2["related"].as_array().unwrap().len(), 2);
});

// ----- dataset files ---------------------------------------------------------------

fn file(name: &str) -> Value {
    json!({"name": name, "url": format!("https://data.example.org/{name}"),
           "media_type": "text/csv", "size_bytes": 1024, "sha256": "ab".repeat(32)})
}

fn files_path(id: &str) -> String {
    format!("/api/v1/datasets/{id}/files")
}

/// Adds `train.csv` (with untidy name, media type and digest) to dataset
/// `id`: the answer.
async fn post_train_file(app: &TestApp, owner: &Account, id: &str) -> reqwest::Response {
    app
        .post_json(
            &files_path(id),
            json!({"name": " train.csv ", "url": "https://data.example.org/train.csv",
                   "media_type": "Text/CSV; charset=utf-8", "size_bytes": 2048, "sha256": "AB".repeat(32)}),
            Some(&owner.access),
        )
        .await
}

/// A draft dataset of `lab-a` with three files, `train.csv` (whose id
/// comes second), `dev.csv` and `test.csv`: at version 4.
async fn dataset_with_files(app: &TestApp, owner: &Account) -> (String, String) {
    let d = create_res(app, &owner.access, DATASETS, complete(DATASETS, "Speech")).await;
    let id = id_of(&d);
    let fid = id_of(&body_of(post_train_file(app, owner, &id).await, 201).await);
    for name in ["dev.csv", "test.csv"] {
        let res = app
            .post_json(&files_path(&id), file(name), Some(&owner.access))
            .await;
        body_of(res, 201).await;
    }
    (id, fid)
}

api_test!(dataset_files_are_listed_without_their_urls, |backend| {
    let (app, _root, owner) = world(backend).await;
    let d = create_res(&app, &owner.access, DATASETS, complete(DATASETS, "Speech")).await;
    let id = id_of(&d);
    let res = post_train_file(&app, &owner, &id).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let f = body_of(res, 201).await;
    let fid = id_of(&f);
    assert_eq!(location, format!("/api/v1/datasets/{id}/files/{fid}"));
    let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "created_at",
            "id",
            "media_type",
            "name",
            "sha256",
            "size_bytes"
        ],
        "{f}"
    );
    assert_eq!(f["name"], "train.csv");
    assert_eq!(f["media_type"], "text/csv");
    assert_eq!(f["size_bytes"], 2048);
    assert_eq!(f["sha256"], "ab".repeat(32));
    assert_eq!(
        read(&app, Some(&owner.access), DATASETS, &id).await["version"],
        2
    );
    for name in ["dev.csv", "test.csv"] {
        body_of(
            app.post_json(&files_path(&id), file(name), Some(&owner.access))
                .await,
            201,
        )
        .await;
    }
    assert_eq!(
        read(&app, Some(&owner.access), DATASETS, &id).await["version"],
        4
    );

    // The list: paginated, never a URL.
    let mut names = walk(&app, Some(&owner.access), &files_path(&id), "name").await;
    names.sort();
    assert_eq!(names, vec!["dev.csv", "test.csv", "train.csv"]);
    let page = body_of(
        app.get_auth(&format!("{}?limit=100", files_path(&id)), &owner.access)
            .await,
        200,
    )
    .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for i in items {
        assert!(i.get("url").is_none(), "{i}");
        assert!(
            i["sha256"].is_string() && i["media_type"].is_string() && i["size_bytes"].is_i64(),
            "{i}"
        );
    }
    assert!(
        !page.to_string().contains("data.example.org"),
        "no URL anywhere: {page}"
    );
    // Nor does the dataset itself carry one.
    let d = read(&app, Some(&owner.access), DATASETS, &id).await;
    assert!(!d.to_string().contains("data.example.org"), "{d}");
});

api_test!(a_dataset_file_is_deleted_once, |backend| {
    let (app, _root, owner) = world(backend).await;
    let (id, fid) = dataset_with_files(&app, &owner).await;
    // Delete: 204, then 404.
    let path = format!("{}/{fid}", files_path(&id));
    let res = call(&app, Method::DELETE, &path, Some(&owner.access), None).await;
    assert_eq!(res.status(), 204);
    problem(
        call(&app, Method::DELETE, &path, Some(&owner.access), None).await,
        404,
    )
    .await;
    problem(
        call(
            &app,
            Method::DELETE,
            &format!("{}/{OTHER_ID}", files_path(&id)),
            Some(&owner.access),
            None,
        )
        .await,
        404,
    )
    .await;
    let mut names = walk(&app, Some(&owner.access), &files_path(&id), "name").await;
    names.sort();
    assert_eq!(names, vec!["dev.csv", "test.csv"]);
    assert_eq!(
        read(&app, Some(&owner.access), DATASETS, &id).await["version"],
        5
    );
});

api_test!(
    published_and_archived_datasets_guard_their_files,
    |backend| {
        let (app, _root, owner) = world(backend).await;
        let (id, fid) = dataset_with_files(&app, &owner).await;
        let path = format!("{}/{fid}", files_path(&id));
        let res = call(&app, Method::DELETE, &path, Some(&owner.access), None).await;
        assert_eq!(res.status(), 204);

        // Once published, the public reads the list; once archived, it no longer changes.
        body_of(
            patch(
                &app,
                &owner.access,
                DATASETS,
                &id,
                json!({"access_level": "open"}),
            )
            .await,
            200,
        )
        .await;
        body_of(publish(&app, &owner.access, DATASETS, &id).await, 200).await;
        let anon = body_of(app.get(&files_path(&id)).await, 200).await;
        assert_eq!(anon["items"].as_array().unwrap().len(), 2);
        assert!(!anon.to_string().contains("data.example.org"));
        body_of(archive(&app, &owner.access, DATASETS, &id).await, 200).await;
        typed(
            app.post_json(&files_path(&id), file("late.csv"), Some(&owner.access))
                .await,
            409,
            "resource-archived",
        )
        .await;
        let left = strings(&anon["items"], "id");
        typed(
            call(
                &app,
                Method::DELETE,
                &format!("{}/{}", files_path(&id), left[0]),
                Some(&owner.access),
                None,
            )
            .await,
            409,
            "resource-archived",
        )
        .await;
        assert_eq!(
            body_of(app.get(&files_path(&id)).await, 200).await["items"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
);

api_test!(dataset_files_are_validated_and_guarded, |backend| {
    let (app, _root, owner) = world(backend).await;
    let member = app.signup("member@example.org").await;
    join(&app, &owner.access, INST, &member, "member").await;
    let outsider = app.signup("outsider@example.org").await;
    let d = create_res(&app, &owner.access, DATASETS, complete(DATASETS, "Speech")).await;
    let id = id_of(&d);
    let ok = file("ok.csv");
    let rows: Vec<(&str, Value, Vec<&str>)> = vec![
        ("sha256 too short", json!({"sha256": "abc"}), vec!["sha256"]),
        (
            "sha256 not hex",
            json!({"sha256": "g".repeat(64)}),
            vec!["sha256"],
        ),
        (
            "sha256 of 65 digits",
            json!({"sha256": "a".repeat(65)}),
            vec!["sha256"],
        ),
        (
            "media type without subtype",
            json!({"media_type": "csv"}),
            vec!["media_type"],
        ),
        (
            "media type with spaces",
            json!({"media_type": "text / csv"}),
            vec!["media_type"],
        ),
        (
            "size negative",
            json!({"size_bytes": -1}),
            vec!["size_bytes"],
        ),
        (
            "size not a number",
            json!({"size_bytes": "big"}),
            vec!["size_bytes"],
        ),
        (
            "ftp url",
            json!({"url": "ftp://data.example.org/ok.csv"}),
            vec!["url"],
        ),
        (
            "javascript url",
            json!({"url": "javascript:alert(1)"}),
            vec!["url"],
        ),
        ("empty name", json!({"name": "  "}), vec!["name"]),
        (
            "name of 256 characters",
            json!({"name": long(256)}),
            vec!["name"],
        ),
        ("missing sha256", json!({"sha256": null}), vec!["sha256"]),
        ("unknown field", json!({"colour": "red"}), vec!["colour"]),
        (
            "several bad fields",
            json!({"name": "", "url": "ftp://x.example.org/a", "media_type": "csv", "size_bytes": -5, "sha256": "z"}),
            vec!["name", "url", "media_type", "size_bytes", "sha256"],
        ),
    ];
    for (label, extra, fields) in rows {
        eprintln!("row: {label}");
        invalid(
            app.post_json(&files_path(&id), with(&ok, extra), Some(&owner.access))
                .await,
            &fields,
        )
        .await;
    }
    let listed = body_of(app.get_auth(&files_path(&id), &owner.access).await, 200).await;
    assert_eq!(listed["items"], json!([]), "nothing written");
    assert_eq!(
        read(&app, Some(&owner.access), DATASETS, &id).await["version"],
        1
    );

    // A draft's files: hidden from members, outsiders and the anonymous.
    let f = body_of(
        app.post_json(&files_path(&id), ok.clone(), Some(&owner.access))
            .await,
        201,
    )
    .await;
    let file_path = format!("{}/{}", files_path(&id), id_of(&f));
    for token in [&member.access, &outsider.access] {
        problem(app.get_auth(&files_path(&id), token).await, 404).await;
        problem(
            app.post_json(&files_path(&id), file("x.csv"), Some(token))
                .await,
            404,
        )
        .await;
        problem(
            call(&app, Method::DELETE, &file_path, Some(token), None).await,
            404,
        )
        .await;
    }
    problem(app.get(&files_path(&id)).await, 404).await;
    problem(
        app.post_json(&files_path(&id), file("x.csv"), None).await,
        401,
    )
    .await;

    // Published (registered): readers list them; only editors change them.
    body_of(publish(&app, &owner.access, DATASETS, &id).await, 200).await;
    for token in [&member.access, &outsider.access] {
        let page = body_of(app.get_auth(&files_path(&id), token).await, 200).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        typed(
            app.post_json(&files_path(&id), file("x.csv"), Some(token))
                .await,
            403,
            "insufficient-role",
        )
        .await;
        typed(
            call(&app, Method::DELETE, &file_path, Some(token), None).await,
            403,
            "insufficient-role",
        )
        .await;
    }
    // Public by default: the anonymous read the list too (links are another matter).
    let page = body_of(app.get(&files_path(&id)).await, 200).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // Only datasets have files.
    let course = create_res(&app, &owner.access, COURSES, complete(COURSES, "Course")).await;
    problem(
        app.get_auth(&files_path(&id_of(&course)), &owner.access)
            .await,
        404,
    )
    .await;
    problem(
        app.post_json(&files_path(&id_of(&course)), ok, Some(&owner.access))
            .await,
        404,
    )
    .await;
    let page = body_of(app.get_auth(&files_path(&id), &owner.access).await, 200).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
});

// ----- audit --------------------------------------------------------------------

api_test!(every_change_to_a_resource_is_audited, |backend| {
    let (app, root, owner) = world(backend).await;
    let c = create_res(&app, &owner.access, COURSES, complete(COURSES, "Course")).await;
    let id = id_of(&c);
    body_of(
        patch(
            &app,
            &owner.access,
            COURSES,
            &id,
            json!({"summary": "Changed", "visibility": "registered"}),
        )
        .await,
        200,
    )
    .await;
    body_of(
        patch(
            &app,
            &owner.access,
            COURSES,
            &id,
            json!({"level": "advanced"}),
        )
        .await,
        200,
    )
    .await;
    body_of(publish(&app, &owner.access, COURSES, &id).await, 200).await;
    body_of(archive(&app, &owner.access, COURSES, &id).await, 200).await;
    let scratch = create_res(
        &app,
        &owner.access,
        DATASETS,
        json!({"institution": INST, "title": "Scratch"}),
    )
    .await;
    let scratch_id = id_of(&scratch);
    assert_eq!(
        delete(&app, &owner.access, DATASETS, &scratch_id)
            .await
            .status(),
        204
    );

    let of = |evs: Vec<Value>, subject: &str| -> Vec<Value> {
        evs.into_iter()
            .filter(|e| e["subject_id"] == subject)
            .inspect(|e| {
                assert_eq!(e["subject_type"], "resource", "{e}");
                assert_eq!(e["actor_id"], owner.id, "{e}");
            })
            .collect()
    };
    let created = of(
        events(&app, &root.access, "action=resource.created").await,
        &id,
    );
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["detail"]["kind"], "course");
    assert_eq!(created[0]["detail"]["institution"], INST);
    assert_eq!(
        of(
            events(&app, &root.access, "action=resource.created").await,
            &scratch_id
        )
        .len(),
        1
    );
    let updated = of(
        events(&app, &root.access, "action=resource.updated").await,
        &id,
    );
    assert_eq!(updated.len(), 2, "{updated:?}");
    let mut changed: Vec<Value> = updated
        .iter()
        .map(|e| e["detail"]["changed"].clone())
        .collect();
    changed.sort_by_key(Value::to_string);
    assert_eq!(
        changed,
        vec![json!(["level"]), json!(["summary", "visibility"])]
    );
    let vis = of(
        events(&app, &root.access, "action=resource.visibility_changed").await,
        &id,
    );
    assert_eq!(vis.len(), 1);
    assert_eq!(vis[0]["detail"]["from"], "public");
    assert_eq!(vis[0]["detail"]["to"], "registered");
    assert_eq!(
        of(
            events(&app, &root.access, "action=resource.published").await,
            &id
        )
        .len(),
        1
    );
    assert_eq!(
        of(
            events(&app, &root.access, "action=resource.archived").await,
            &id
        )
        .len(),
        1
    );
    let deleted = of(
        events(&app, &root.access, "action=resource.deleted").await,
        &scratch_id,
    );
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["detail"]["title"], "Scratch");
    // Refused changes leave no trace.
    typed(
        publish(&app, &owner.access, COURSES, &id).await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(
        of(
            events(&app, &root.access, "action=resource.published").await,
            &id
        )
        .len(),
        1
    );
    // The log filters by subject too.
    let all = events(&app, &root.access, &format!("subject_id={id}")).await;
    let mut actions: Vec<String> = all
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        vec![
            "module.created",
            "resource.archived",
            "resource.created",
            "resource.published",
            "resource.updated",
            "resource.updated",
            "resource.version_published",
            "resource.visibility_changed"
        ]
    );
    // The first publication made version 1.0.
    let versions = of(
        events(&app, &root.access, "action=resource.version_published").await,
        &id,
    );
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["detail"]["label"], "1.0");
});

// ----- institutions that own resources ----------------------------------------------

api_test!(
    an_institution_with_published_resources_cannot_be_deleted,
    |backend| {
        let (app, root, owner) = world(backend).await;
        let course = published(&app, &owner.access, COURSES, "Course", json!({})).await;
        let course_id = id_of(&course);
        let draft = create_res(&app, &owner.access, DATASETS, complete(DATASETS, "Draft")).await;
        typed(
            call(
                &app,
                Method::DELETE,
                &inst_path(INST),
                Some(&owner.access),
                None,
            )
            .await,
            409,
            "institution-has-resources",
        )
        .await;
        body_of(archive(&app, &owner.access, COURSES, &course_id).await, 200).await;
        typed(
            call(
                &app,
                Method::DELETE,
                &inst_path(INST),
                Some(&owner.access),
                None,
            )
            .await,
            409,
            "institution-has-resources",
        )
        .await;
        typed(
            call(
                &app,
                Method::DELETE,
                &inst_path(INST),
                Some(&root.access),
                None,
            )
            .await,
            409,
            "institution-has-resources",
        )
        .await;
        // Nothing went.
        body_of(app.get(&inst_path(INST)).await, 200).await;
        assert_eq!(
            read(&app, None, COURSES, &course_id).await["status"],
            "archived"
        );
        assert_eq!(
            read(&app, Some(&owner.access), DATASETS, &id_of(&draft)).await["status"],
            "draft"
        );

        // With only drafts, the institution goes, and its drafts with it.
        let other = app.signup("other@example.org").await;
        create_slug(&app, &other.access, "lab-b").await;
        verify(&app, &root.access, "lab-b").await;
        let dataset = published(
            &app,
            &owner.access,
            DATASETS,
            "Open data",
            json!({"access_level": "open"}),
        )
        .await;
        let dataset_id = id_of(&dataset);
        let their_draft = create_res(
            &app,
            &other.access,
            CARDS,
            json!({"institution": "lab-b", "title": "Their card",
               "related": [{"relation": "trained_on", "resource_id": dataset_id}]}),
        )
        .await;
        let their_course = create_res(
            &app,
            &other.access,
            COURSES,
            json!({"institution": "lab-b", "title": "Their course"}),
        )
        .await;
        let res = call(
            &app,
            Method::DELETE,
            &inst_path("lab-b"),
            Some(&other.access),
            None,
        )
        .await;
        assert_eq!(res.status(), 204);
        problem(app.get_auth(&inst_path("lab-b"), &root.access).await, 404).await;
        problem(
            app.get_auth(&item(CARDS, &id_of(&their_draft)), &root.access)
                .await,
            404,
        )
        .await;
        problem(
            app.get_auth(&item(COURSES, &id_of(&their_course)), &root.access)
                .await,
            404,
        )
        .await;
        // The links of the deleted drafts went too.
        assert_eq!(
            read(&app, Some(&root.access), DATASETS, &dataset_id).await["related_from"],
            json!([])
        );
        assert!(
            !drafts(&app, &root.access, CARDS)
                .await
                .contains(&id_of(&their_draft))
        );
    }
);

api_test!(results_name_only_datasets_the_reader_may_see, |backend| {
    let (app, _root, owner) = world(backend).await;
    let hidden = create_res(
        &app,
        &owner.access,
        DATASETS,
        with(
            &complete(DATASETS, "Internal data"),
            json!({"visibility": "institution"}),
        ),
    )
    .await;
    let card = create_res(
        &app,
        &owner.access,
        CARDS,
        with(
            &complete(CARDS, "Card"),
            json!({"results": [{"task": "asr", "metric": "wer", "value": 0.2,
                                "dataset_id": id_of(&hidden)}]}),
        ),
    )
    .await;
    body_of(
        publish(&app, &owner.access, DATASETS, &id_of(&hidden)).await,
        200,
    )
    .await;
    body_of(
        publish(&app, &owner.access, CARDS, &id_of(&card)).await,
        200,
    )
    .await;
    let own = read(&app, Some(&owner.access), CARDS, &id_of(&card)).await;
    assert_eq!(own["results"][0]["dataset_id"], id_of(&hidden));
    let public = read(&app, None, CARDS, &id_of(&card)).await;
    assert_eq!(public["results"][0]["dataset_id"], Value::Null, "{public}");
    assert_eq!(public["results"][0]["metric"], "wer");
});
