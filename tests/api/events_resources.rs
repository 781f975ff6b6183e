//! The catalogue's commands as events: each leaves exactly its event (type,
//! subject, actor, institutions, payload) in the event log, with the audit
//! entry derived from it; a refused command leaves none.

use kujenga::app::resources::{self as resources, Import};
use kujenga::db::audit::Context;
use kujenga::domain::resource::{ResourceKind, validate};
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::events::{events_after, last_seq};
use crate::helpers::http::call;
use crate::helpers::institutions;
use crate::helpers::{Account, Backend, TestApp};

const INST: &str = "lab-events";

/// An app, an institution (`INST`, verified) and its owner.
struct World {
    app: TestApp,
    owner: Account,
    institution_id: String,
}

async fn world(backend: Backend) -> World {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let owner = app.signup("owner@example.org").await;
    let body = json!({"slug": INST, "name": "Events Lab", "country": "KE", "kind": "university"});
    institutions::create(&app, &owner.access, body).await;
    institutions::verify(&app, &root.access, INST).await;
    let institution_id = app
        .db
        .run(|conn| kujenga::db::institutions::by_slug(conn, INST))
        .await
        .unwrap()
        .expect("the institution")
        .id;
    World {
        app,
        owner,
        institution_id,
    }
}

/// What one command recorded: its events' `(type, subject, payload)`; each
/// must be about a resource, by `actor`, and concern exactly `institution`.
async fn recorded(w: &World, since: i64, actor: Option<&str>) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (e, concerned) in events_after(&w.app, since).await {
        assert_eq!(e.subject_kind, "resource", "{e:?}");
        assert_eq!(e.actor_id.as_deref(), actor, "{e:?}");
        assert_eq!(concerned, vec![w.institution_id.clone()], "{e:?}");
        let payload: Value = serde_json::from_str(&e.payload).unwrap();
        out.push((e.event_type, e.subject_id, payload));
    }
    out
}

async fn send(w: &World, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let res = call(&w.app, method, path, Some(&w.owner.access), body).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn one(events: Vec<(String, String, Value)>) -> (String, String, Value) {
    assert_eq!(events.len(), 1, "{events:?}");
    events.into_iter().next().unwrap()
}

const DATASHEET: &str =
    r#"{"motivation": "m", "composition": "c", "collection_process": "p", "uses": "u"}"#;

api_test!(each_resource_command_records_its_event, |backend| {
    let w = world(backend).await;
    let actor = Some(w.owner.id.as_str());
    let post = reqwest::Method::POST;

    // Create.
    let seq = last_seq(&w.app).await;
    let (status, ds) = send(
        &w,
        post.clone(),
        "/api/v1/datasets",
        Some(
            json!({"institution": INST, "title": "Rain gauges", "summary": "Daily rain.",
                    "license": "CC-BY-4.0", "languages": ["sw"],
                    "datasheet": serde_json::from_str::<Value>(DATASHEET).unwrap()}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{ds}");
    let id = ds["id"].as_str().unwrap().to_string();
    assert_eq!(
        one(recorded(&w, seq, actor).await),
        (
            "resource.created".into(),
            id.clone(),
            json!({"kind": "dataset", "title": "Rain gauges", "institution": INST,
                   "visibility": "public"})
        )
    );

    // Update: the change, then who may see it.
    let seq = last_seq(&w.app).await;
    let path = format!("/api/v1/datasets/{id}");
    let (status, body) = send(
        &w,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"summary": "Daily rain, by station.", "visibility": "registered"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        recorded(&w, seq, actor).await,
        vec![
            (
                "resource.updated".into(),
                id.clone(),
                json!({"kind": "dataset", "changed": ["summary", "visibility"], "version": 2})
            ),
            (
                "resource.visibility_changed".into(),
                id.clone(),
                json!({"kind": "dataset", "from": "public", "to": "registered"})
            ),
        ]
    );

    // Files in and out.
    let seq = last_seq(&w.app).await;
    let (status, file) = send(
        &w,
        post.clone(),
        &format!("{path}/files"),
        Some(
            json!({"name": "rain.csv", "url": "https://data.example.org/rain.csv",
                    "media_type": "text/csv", "size_bytes": 1234, "sha256": "ab".repeat(32)}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{file}");
    let file_id = file["id"].as_str().unwrap().to_string();
    assert_eq!(
        one(recorded(&w, seq, actor).await),
        (
            "dataset.file_added".into(),
            id.clone(),
            json!({"file_id": file_id, "name": "rain.csv", "size_bytes": 1234})
        )
    );
    let seq = last_seq(&w.app).await;
    let (status, _) = send(
        &w,
        reqwest::Method::DELETE,
        &format!("{path}/files/{file_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        one(recorded(&w, seq, actor).await),
        (
            "dataset.file_removed".into(),
            id.clone(),
            json!({"file_id": file_id, "name": "rain.csv"})
        )
    );

    // Publish: the resource, then its first version.
    let summary = json!({"kind": "dataset", "title": "Rain gauges",
                         "institution_id": w.institution_id, "visibility": "registered"});
    let seq = last_seq(&w.app).await;
    let (status, body) = send(&w, post.clone(), &format!("{path}/publish"), None).await;
    assert_eq!(status, 200, "publish: {body}");
    assert_eq!(
        recorded(&w, seq, actor).await,
        vec![
            ("resource.published".into(), id.clone(), summary.clone()),
            (
                "resource.version_published".into(),
                id.clone(),
                json!({"kind": "dataset", "label": "1.0", "major": true, "note": null,
                       "visibility": "registered"})
            ),
        ]
    );

    // Update a published resource: the draft of its next version changes…
    let seq = last_seq(&w.app).await;
    let (status, body) = send(
        &w,
        reqwest::Method::PATCH,
        &format!("{path}/draft"),
        Some(json!({"summary": "Daily rain, by gauge.", "visibility": "institution"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        one(recorded(&w, seq, actor).await),
        (
            "resource.draft_updated".into(),
            id.clone(),
            json!({"kind": "dataset", "changed": ["summary", "visibility"], "revision": 1})
        )
    );
    // …then publishing it: the change, who may see it, the new version.
    let seq = last_seq(&w.app).await;
    let (status, body) = send(
        &w,
        post.clone(),
        &format!("{path}/publish"),
        Some(json!({"note": "By gauge."})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version_label"], "1.1", "{body}");
    assert_eq!(
        recorded(&w, seq, actor).await,
        vec![
            (
                "resource.updated".into(),
                id.clone(),
                json!({"kind": "dataset", "changed": ["summary", "visibility"],
                       "version": body["version"]})
            ),
            (
                "resource.visibility_changed".into(),
                id.clone(),
                json!({"kind": "dataset", "from": "registered", "to": "institution"})
            ),
            (
                "resource.version_published".into(),
                id.clone(),
                json!({"kind": "dataset", "label": "1.1", "major": false, "note": "By gauge.",
                       "visibility": "institution"})
            ),
        ]
    );

    // Archive.
    let summary = json!({"kind": "dataset", "title": "Rain gauges",
                         "institution_id": w.institution_id, "visibility": "institution"});
    let seq = last_seq(&w.app).await;
    let (status, body) = send(&w, post.clone(), &format!("{path}/archive"), None).await;
    assert_eq!(status, 200, "archive: {body}");
    assert_eq!(
        one(recorded(&w, seq, actor).await),
        ("resource.archived".into(), id.clone(), summary)
    );

    // Delete a draft.
    let (status, course) = send(
        &w,
        post.clone(),
        "/api/v1/courses",
        Some(json!({"institution": INST, "title": "Scratch"})),
    )
    .await;
    assert_eq!(status, 201);
    let course_id = course["id"].as_str().unwrap().to_string();
    let seq = last_seq(&w.app).await;
    let (status, _) = send(
        &w,
        reqwest::Method::DELETE,
        &format!("/api/v1/courses/{course_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        one(recorded(&w, seq, actor).await),
        (
            "resource.deleted".into(),
            course_id,
            json!({"kind": "course", "title": "Scratch", "institution_id": w.institution_id})
        )
    );

    // Every event has its audit entry: same action, subject and detail.
    let audit = w
        .app
        .db
        .run(move |conn| {
            kujenga::db::audit::list(
                conn,
                &kujenga::db::audit::Filter {
                    subject_id: Some(id),
                    ..Default::default()
                },
                None,
                100,
            )
        })
        .await
        .unwrap();
    let mut actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        vec![
            "dataset.file_added",
            "dataset.file_removed",
            "resource.archived",
            "resource.created",
            "resource.draft_updated",
            "resource.published",
            "resource.updated",
            "resource.updated",
            "resource.version_published",
            "resource.version_published",
            "resource.visibility_changed",
            "resource.visibility_changed",
        ]
    );
});

api_test!(refused_resource_commands_record_nothing, |backend| {
    let w = world(backend).await;
    let post = reqwest::Method::POST;
    let (status, ds) = send(
        &w,
        post.clone(),
        "/api/v1/datasets",
        Some(json!({"institution": INST, "title": "Incomplete"})),
    )
    .await;
    assert_eq!(status, 201);
    let path = format!("/api/v1/datasets/{}", ds["id"].as_str().unwrap());
    let seq = last_seq(&w.app).await;
    let refused: Vec<(reqwest::Method, String, Option<Value>, u16)> = vec![
        // Incomplete: 422.
        (post.clone(), format!("{path}/publish"), None, 422),
        // A draft cannot be archived: 409.
        (post.clone(), format!("{path}/archive"), None, 409),
        // A bad field: 400.
        (
            reqwest::Method::PATCH,
            path.clone(),
            Some(json!({"visibility": "secret"})),
            400,
        ),
        // A bad file: 400.
        (
            post.clone(),
            format!("{path}/files"),
            Some(
                json!({"name": "x", "url": "ftp://x", "media_type": "text/csv",
                        "size_bytes": 1, "sha256": "00"}),
            ),
            400,
        ),
        // No such file: 404.
        (
            reqwest::Method::DELETE,
            format!("{path}/files/{}", uuid::Uuid::now_v7()),
            None,
            404,
        ),
        // No institution: 400.
        (
            post.clone(),
            "/api/v1/courses".into(),
            Some(json!({"title": "Orphan"})),
            400,
        ),
    ];
    for (method, p, body, expected) in refused {
        let (status, answer) = send(&w, method.clone(), &p, body).await;
        assert_eq!(status, expected, "{method} {p}: {answer}");
    }
    assert!(
        events_after(&w.app, seq).await.is_empty(),
        "a refused command recorded an event"
    );
});

api_test!(an_import_records_one_event_per_resource, |backend| {
    let w = world(backend).await;
    let doc = |title: &str| {
        let body = json!({"title": title, "summary": "Imported.", "license": "CC-BY-4.0",
                          "languages": ["sw"], "visibility": "registered",
                          "datasheet": serde_json::from_str::<Value>(DATASHEET).unwrap()});
        let Value::Object(map) = body else {
            unreachable!()
        };
        validate(ResourceKind::Dataset, map, "KE").unwrap()
    };
    let at = kujenga::db::now() - chrono::Duration::days(3);
    let import = |id: &str, title: &str| Import {
        id: id.to_string(),
        institution_id: w.institution_id.clone(),
        document: doc(title),
        created_at: at,
        published_at: at,
        updated_at: at,
        version: 2,
        files: Vec::new(),
        modules: Vec::new(),
    };
    let id = uuid::Uuid::now_v7().to_string();
    let seq = last_seq(&w.app).await;
    let items = vec![import(&id, "Imported rain")];
    w.app
        .db
        .run(move |conn| resources::import(conn, &Context::default(), &items))
        .await
        .unwrap();
    let published_at = serde_json::to_value(at.and_utc()).unwrap();
    assert_eq!(
        one(recorded(&w, seq, None).await),
        (
            "resource.imported".into(),
            id.clone(),
            json!({"kind": "dataset", "title": "Imported rain",
                   "institution_id": w.institution_id, "visibility": "registered",
                   "published_at": published_at, "files": 0, "modules": 0})
        )
    );
    // It reads back published, like one published through the API.
    let (status, body) = send(
        &w,
        reqwest::Method::GET,
        &format!("/api/v1/datasets/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "published");
    assert_eq!(body["version"], 2);

    // A batch with a bad link imports nothing and records nothing.
    let seq = last_seq(&w.app).await;
    let mut bad = import(&uuid::Uuid::now_v7().to_string(), "Linked");
    bad.document.core.related = vec![kujenga::domain::resource::Link::new(
        kujenga::domain::resource::Relation::DerivedFrom,
        uuid::Uuid::now_v7().to_string(),
    )];
    let items = vec![import(&uuid::Uuid::now_v7().to_string(), "Fine"), bad];
    let err = w
        .app
        .db
        .run(move |conn| resources::import(conn, &Context::default(), &items))
        .await;
    assert!(err.is_err());
    assert!(events_after(&w.app, seq).await.is_empty());
});
