//! A first walk through the catalogue: create, read, patch, publish, list.

use reqwest::Method;
use serde_json::json;

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::http::{body_of, call, etag_of, send};
use crate::helpers::institutions::{create_slug, verify};

api_test!(a_course_goes_from_draft_to_the_catalogue, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let owner = app.signup("owner@example.org").await;
    create_slug(&app, &owner.access, "nairobi-ai").await;
    verify(&app, &root.access, "nairobi-ai").await;
    let res = app
        .post_json(
            "/api/v1/courses",
            json!({"institution": "nairobi-ai", "title": "Intro to ML", "languages": ["sw-KE"],
                   "license": "cc-by-4.0", "tags": ["ml"]}),
            Some(&owner.access),
        )
        .await;
    let course = body_of(res, 201).await;
    assert_eq!(course["status"], "draft");
    assert_eq!(course["license"], "CC-BY-4.0");
    assert_eq!(course["version"], 1);
    let path = format!("/api/v1/courses/{}", course["id"].as_str().unwrap());
    // Drafts are hidden from the public.
    assert_eq!(app.get(&path).await.status(), 404);
    let res = app.get_auth(&path, &owner.access).await;
    let tag = etag_of(&res);
    let res = send(
        &app,
        Method::PATCH,
        &path,
        Some(&owner.access),
        Some(
            json!({"summary": "Machine learning basics", "level": "beginner", "duration_hours": 6}),
        ),
        &[("If-Match", &tag)],
    )
    .await;
    let patched = body_of(res, 200).await;
    assert_eq!(patched["version"], 2);
    let res = send(
        &app,
        Method::PATCH,
        &path,
        Some(&owner.access),
        Some(json!({"summary": "again"})),
        &[("If-Match", &tag)],
    )
    .await;
    assert_eq!(res.status(), 412);
    let res = app
        .post_json(
            &format!("{path}/modules"),
            json!({"title": "Start here", "content": "Welcome."}),
            Some(&owner.access),
        )
        .await;
    body_of(res, 201).await;
    let res = call(
        &app,
        Method::POST,
        &format!("{path}/publish"),
        Some(&owner.access),
        None,
    )
    .await;
    let published = body_of(res, 200).await;
    assert_eq!(published["status"], "published");
    assert_eq!(app.get(&path).await.status(), 200);
    let list = body_of(app.get("/api/v1/resources?language=sw").await, 200).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let list = body_of(app.get("/api/v1/courses?q=BASICS&fields=title").await, 200).await;
    assert_eq!(
        list["items"][0]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        vec!["id", "kind", "title"]
    );
    let res = call(&app, Method::DELETE, &path, Some(&owner.access), None).await;
    assert_eq!(res.status(), 409);
    let res = call(
        &app,
        Method::DELETE,
        "/api/v1/institutions/nairobi-ai",
        Some(&owner.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 409);
});
