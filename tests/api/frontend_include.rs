//! Issue #16, point 3: `include=modules,related,institution` on single
//! reads and lists (related items only as far as the caller may see them),
//! `fields=` on single reads, unknown names → 400 listing the valid ones.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::access::{dataset, dataset_body, world};
use crate::helpers::frontend::{course_body, module_body, post};
use crate::helpers::http::{body_of, call, problem};
use crate::helpers::json::with;

async fn get(app: &crate::helpers::TestApp, token: Option<&str>, path: &str) -> Value {
    body_of(call(app, Method::GET, path, token, None).await, 200).await
}

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

crate::api_test!(include_embeds_what_the_caller_may_see, |backend| {
    let w = world(backend).await;
    let (app, owner) = (&w.app, w.owner.access.as_str());
    let outsider = app.signup("outsider@example.org").await;
    let public = dataset(app, owner, "Open corpus", json!({"access_level": "open"})).await;
    // A draft: only the institution's editors see it.
    let draft = post(
        app,
        owner,
        "/api/v1/datasets",
        Some(dataset_body("Draft corpus", json!({}))),
        201,
    )
    .await;
    let draft_id = draft["id"].as_str().unwrap().to_string();
    let body = with(
        &course_body("Sauti 101"),
        json!({"related": [{"relation": "uses_dataset", "resource_id": public.id},
                           {"relation": "uses_dataset", "resource_id": draft_id}]}),
    );
    let course = post(app, owner, "/api/v1/courses", Some(body), 201).await;
    let id = course["id"].as_str().unwrap().to_string();
    for title in ["One", "Two"] {
        post(
            app,
            owner,
            &format!("/api/v1/courses/{id}/modules"),
            Some(module_body(title)),
            201,
        )
        .await;
    }
    post(
        app,
        owner,
        &format!("/api/v1/courses/{id}/publish"),
        None,
        200,
    )
    .await;
    let path = format!("/api/v1/courses/{id}?include=modules,related,institution");

    // The outsider: the modules in order, the public dataset only, the institution.
    let r = get(app, Some(&outsider.access), &path).await;
    let inc = &r["included"];
    let titles: Vec<&str> = inc["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["One", "Two"], "{r}");
    assert_eq!(
        inc["related"],
        json!([{"id": public.id, "kind": "dataset", "title": "Open corpus", "status": "published",
                "relation": "uses_dataset", "direction": "to"}]),
        "{r}"
    );
    assert_eq!(
        inc["institution"],
        json!({"slug": "ke-lab", "name": "Institution ke-lab", "country": "KE", "verified": true}),
        "{r}"
    );
    // Anonymous callers the same.
    let anon = get(app, None, &path).await;
    assert_eq!(anon["included"]["related"], inc["related"], "{anon}");
    // The owner sees the draft as well.
    let r = get(app, Some(owner), &path).await;
    assert_eq!(
        ids(&r["included"]["related"]),
        {
            let mut v = vec![public.id.clone(), draft_id.clone()];
            v.sort();
            v
        },
        "{r}"
    );
    // From the dataset's side: the course links to it.
    let d = get(
        app,
        None,
        &format!("/api/v1/datasets/{}?include=related", public.id),
    )
    .await;
    assert_eq!(d["included"]["related"][0]["id"], id.as_str(), "{d}");
    assert_eq!(d["included"]["related"][0]["direction"], "from", "{d}");
    assert!(d["included"].get("modules").is_none(), "{d}");
    // Only what was asked.
    let r = get(
        app,
        None,
        &format!("/api/v1/courses/{id}?include=institution"),
    )
    .await;
    assert!(
        r["included"].get("modules").is_none() && r["included"].get("related").is_none(),
        "{r}"
    );
    let r = get(app, None, &format!("/api/v1/courses/{id}")).await;
    assert!(r.get("included").is_none(), "{r}");

    // Lists: the same embeds, for each item of the page.
    let list = get(
        app,
        Some(&outsider.access),
        "/api/v1/resources?include=modules,related,institution",
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    for item in items {
        assert_eq!(item["included"]["institution"]["slug"], "ke-lab", "{item}");
        match item["kind"].as_str().unwrap() {
            "course" => {
                assert_eq!(
                    item["included"]["modules"].as_array().unwrap().len(),
                    2,
                    "{item}"
                );
                assert_eq!(
                    ids(&item["included"]["related"]),
                    vec![public.id.clone()],
                    "{item}"
                );
            }
            _ => assert!(item["included"].get("modules").is_none(), "{item}"),
        }
    }
    // With fields=, what include= embeds stays.
    let list = get(
        app,
        None,
        "/api/v1/courses?fields=title&include=institution",
    )
    .await;
    let item = &list["items"][0];
    let mut keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "included", "kind", "title"], "{item}");
});

crate::api_test!(fields_on_single_reads, |backend| {
    let w = world(backend).await;
    let (app, owner) = (&w.app, w.owner.access.as_str());
    let ds = dataset(app, owner, "Open corpus", json!({"access_level": "open"})).await;
    let path = format!("/api/v1/datasets/{}", ds.id);
    let full = call(app, Method::GET, &path, Some(owner), None).await;
    let full_tag = crate::helpers::http::etag_of(&full);
    let r = get(
        app,
        Some(owner),
        &format!("{path}?fields=title,permissions,my_access,access_level"),
    )
    .await;
    let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_level",
            "id",
            "kind",
            "my_access",
            "permissions",
            "title"
        ],
        "{r}"
    );
    assert_eq!(r["permissions"]["edit"], true, "{r}");
    let r = get(app, None, &format!("{path}?fields=title")).await;
    assert_eq!(
        r,
        json!({"id": ds.id, "kind": "dataset", "title": "Open corpus"})
    );
    // Its ETag is that of what was sent.
    let part = call(
        app,
        Method::GET,
        &format!("{path}?fields=title"),
        Some(owner),
        None,
    )
    .await;
    assert_ne!(crate::helpers::http::etag_of(&part), full_tag);
});

crate::api_test!(
    unknown_include_and_fields_are_400_listing_the_valid_ones,
    |backend| {
        let w = world(backend).await;
        let (app, owner) = (&w.app, w.owner.access.as_str());
        let ds = dataset(app, owner, "Open corpus", json!({"access_level": "open"})).await;
        let before = get(app, Some(owner), &format!("/api/v1/datasets/{}", ds.id)).await;
        for (path, field, valid) in [
            (
                format!("/api/v1/datasets/{}?include=files", ds.id),
                "include",
                "modules, related, institution",
            ),
            (
                "/api/v1/resources?include=institution,owner".to_string(),
                "include",
                "modules, related, institution",
            ),
            (
                format!("/api/v1/datasets/{}?fields=title,secret", ds.id),
                "fields",
                "access_level",
            ),
            (
                format!("/api/v1/datasets/{}?fields=duration_hours", ds.id),
                "fields",
                "my_access",
            ),
            (
                "/api/v1/courses?fields=title,access_level".to_string(),
                "fields",
                "duration_hours",
            ),
            (
                "/api/v1/courses?fields=related_from".to_string(),
                "fields",
                "permissions",
            ),
        ] {
            let p = problem(call(app, Method::GET, &path, Some(owner), None).await, 400).await;
            let errors = p["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{path}: {p}");
            assert_eq!(errors[0]["field"], field, "{path}: {p}");
            let message = errors[0]["message"].as_str().unwrap();
            assert!(
                message.contains("the valid names are") && message.contains(valid),
                "{path}: {p}"
            );
        }
        // An unknown name on a hidden or missing resource is still a 400, never a 500,
        // and nothing changed.
        let p = problem(
            call(
                app,
                Method::GET,
                "/api/v1/courses/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b?include=x",
                None,
                None,
            )
            .await,
            400,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], "include", "{p}");
        let after = get(app, Some(owner), &format!("/api/v1/datasets/{}", ds.id)).await;
        assert_eq!(before, after);
    }
);
