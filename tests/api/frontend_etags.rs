//! Issue 16, point 5 (lists are cacheable): every list page of the OpenAPI
//! document (a GET whose 200 has `items` and `next_cursor`) carries a weak
//! `ETag`; `If-None-Match` with it answers 304 with no body while nothing
//! changed, and a change the caller can see in the list gives a new tag.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use crate::api_test;
use crate::helpers::access::{INST, dataset_body};
use crate::helpers::frontend::{
    Catalogue, INST_HOOK, PART_HOOK, PARTNERSHIP, catalogue, course_body, document, is_list,
    model_card_body, module_body, operations, post,
};
use crate::helpers::http::{call, send};
use crate::helpers::institutions::{create, join, verify};

/// A list as one caller reads it.
struct Watched {
    /// The document's path template the list is.
    template: &'static str,
    path: String,
    token: Option<String>,
}

fn watched(template: &'static str, path: impl Into<String>, token: Option<&str>) -> Watched {
    Watched {
        template,
        path: path.into(),
        token: token.map(str::to_string),
    }
}

async fn get(w: &Catalogue, list: &Watched, if_none_match: Option<&str>) -> reqwest::Response {
    let headers: Vec<(&str, &str)> = if_none_match
        .map(|t| vec![("if-none-match", t)])
        .unwrap_or_default();
    send(
        &w.app,
        Method::GET,
        &list.path,
        list.token.as_deref(),
        None,
        &headers,
    )
    .await
}

fn etag(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
}

/// A first read gives a weak tag; the same read with `If-None-Match`
/// answers 304 with the same tag and no body. Returns the tag.
async fn unchanged(w: &Catalogue, list: &Watched) -> String {
    let res = get(w, list, None).await;
    assert_eq!(res.status(), 200, "{}", list.path);
    let tag = etag(&res).unwrap_or_else(|| panic!("{}: no ETag", list.path));
    assert!(
        tag.starts_with("W/\"") && tag.ends_with('"'),
        "{}: {tag}",
        list.path
    );
    let res = get(w, list, Some(&tag)).await;
    assert_eq!(res.status(), 304, "{}", list.path);
    assert_eq!(etag(&res).as_deref(), Some(tag.as_str()), "{}", list.path);
    assert!(
        res.bytes().await.unwrap().is_empty(),
        "{}: a 304 has no body",
        list.path
    );
    // Another tag, or a list of tags without this one, is no match.
    let res = get(w, list, Some("W/\"stale\", \"older\"")).await;
    assert_eq!(res.status(), 200, "{}", list.path);
    tag
}

/// After a change: a new tag, and the old one no longer gives 304.
async fn changed(w: &Catalogue, list: &Watched, old: &str, what: &str) {
    let res = get(w, list, Some(old)).await;
    assert_eq!(res.status(), 200, "{} after {what}: still 304", list.path);
    let tag = etag(&res).unwrap();
    assert_ne!(tag, old, "{} after {what}", list.path);
    assert!(tag.starts_with("W/\""), "{tag}");
    assert!(!res.bytes().await.unwrap().is_empty());
}

api_test!(every_list_page_has_a_weak_etag_and_answers_304, |backend| {
    let w = catalogue(backend).await;
    let app = &w.app;
    let root = Some(w.root.access.as_str());
    let owner = Some(w.owner.access.as_str());
    let coord = Some(w.coord.access.as_str());
    let gh = Some(w.gh_owner.access.as_str());
    let learner = Some(w.learner.access.as_str());
    let course = w.course.clone();
    let ds = w.dataset.id.clone();
    let inst = format!("/api/v1/institutions/{INST}");
    let part = format!("/api/v1/partnerships/{PARTNERSHIP}");
    let mut covered: BTreeSet<&'static str> = BTreeSet::new();

    // Each step: the lists it changes (as their readers see them), then the change.
    // A published model card, for its list of versions.
    let card = post(
        app,
        &w.owner.access,
        "/api/v1/model-cards",
        Some(crate::helpers::json::with(
            &model_card_body("Versioned"),
            json!({"risk_tier": "minimal", "summary": "ASR.", "languages": ["sw"],
                   "intended_uses": "Transcribing radio.", "out_of_scope_uses": "Surveillance."}),
        )),
        201,
    )
    .await;
    let card = card["id"].as_str().unwrap().to_string();
    post(
        app,
        &w.owner.access,
        &format!("/api/v1/model-cards/{card}/publish"),
        None,
        200,
    )
    .await;

    for step in 0..21 {
        let lists: Vec<Watched> = match step {
            0 => vec![
                watched("/api/v1/admin/clients", "/api/v1/admin/clients", root),
                watched("/api/v1/audit-events", "/api/v1/audit-events", root),
            ],
            1 => vec![
                watched(
                    "/api/v1/institutions/{slug}/invitations",
                    format!("{inst}/invitations"),
                    owner,
                ),
                watched("/api/v1/admin/outbox", "/api/v1/admin/outbox", root),
            ],
            2 => vec![
                watched("/api/v1/users", "/api/v1/users", root),
                watched(
                    "/api/v1/institutions/{slug}/members",
                    format!("{inst}/members"),
                    owner,
                ),
            ],
            3 => vec![
                watched("/api/v1/resources", "/api/v1/resources?status=draft", owner),
                watched("/api/v1/courses", "/api/v1/courses?status=draft", owner),
            ],
            4 => vec![watched(
                "/api/v1/datasets",
                "/api/v1/datasets?status=draft",
                owner,
            )],
            5 => vec![watched(
                "/api/v1/model-cards",
                "/api/v1/model-cards?status=draft",
                owner,
            )],
            6 => vec![watched(
                "/api/v1/courses/{id}/modules",
                format!("/api/v1/courses/{course}/modules"),
                None,
            )],
            7 => vec![
                watched(
                    "/api/v1/courses/{id}/enrollments",
                    format!("/api/v1/courses/{course}/enrollments"),
                    owner,
                ),
                watched("/api/v1/me/enrollments", "/api/v1/me/enrollments", learner),
            ],
            8 => vec![watched(
                "/api/v1/datasets/{id}/files",
                format!("/api/v1/datasets/{ds}/files"),
                owner,
            )],
            9 => vec![
                watched(
                    "/api/v1/datasets/{id}/access-requests",
                    format!("/api/v1/datasets/{ds}/access-requests"),
                    owner,
                ),
                watched(
                    "/api/v1/me/access-requests",
                    "/api/v1/me/access-requests",
                    learner,
                ),
                watched(
                    "/api/v1/me/notifications",
                    "/api/v1/me/notifications",
                    owner,
                ),
            ],
            10 => vec![watched(
                "/api/v1/institutions",
                "/api/v1/institutions",
                None,
            )],
            11 => vec![watched(
                "/api/v1/partnerships",
                "/api/v1/partnerships",
                coord,
            )],
            12 => vec![watched(
                "/api/v1/partnerships/{slug}/coordinators",
                format!("{part}/coordinators"),
                coord,
            )],
            13 => vec![watched(
                "/api/v1/partnerships/{slug}/members",
                format!("{part}/members"),
                coord,
            )],
            14 => vec![watched(
                "/api/v1/partnerships/{slug}/resources",
                format!("{part}/resources"),
                coord,
            )],
            15 => vec![watched("/api/v1/me/tokens", "/api/v1/me/tokens", learner)],
            16 => vec![watched(
                "/api/v1/institutions/{slug}/webhooks",
                format!("{inst}/webhooks"),
                owner,
            )],
            17 => vec![watched(
                "/api/v1/institutions/{slug}/webhooks/{id}/deliveries",
                format!("{inst}/webhooks/{INST_HOOK}/deliveries"),
                owner,
            )],
            18 => vec![watched(
                "/api/v1/partnerships/{slug}/webhooks",
                format!("{part}/webhooks"),
                coord,
            )],
            19 => vec![watched(
                "/api/v1/partnerships/{slug}/webhooks/{id}/deliveries",
                format!("{part}/webhooks/{PART_HOOK}/deliveries"),
                coord,
            )],
            20 => vec![
                watched(
                    "/api/v1/courses/{id}/versions",
                    format!("/api/v1/courses/{course}/versions"),
                    None,
                ),
                watched(
                    "/api/v1/datasets/{id}/versions",
                    format!("/api/v1/datasets/{ds}/versions"),
                    None,
                ),
                watched(
                    "/api/v1/model-cards/{id}/versions",
                    format!("/api/v1/model-cards/{card}/versions"),
                    None,
                ),
            ],
            _ => unreachable!(),
        };
        let mut tags = Vec::new();
        for list in &lists {
            tags.push(unchanged(&w, list).await);
        }
        let by_owner = w.owner.access.as_str();
        let what = match step {
            0 => {
                let body = json!({"name": "Soma", "allowed_link_bases": ["https://soma.example.tz/"],
                                  "allowed_origins": ["https://soma.example.tz"]});
                post(
                    app,
                    &w.root.access,
                    "/api/v1/admin/clients",
                    Some(body),
                    201,
                )
                .await;
                "a client app registered"
            }
            1 => {
                let body = json!({"email": "newcomer@example.org", "role": "member"});
                post(
                    app,
                    by_owner,
                    &format!("{inst}/invitations"),
                    Some(body),
                    201,
                )
                .await;
                "an invitation sent"
            }
            2 => {
                let joiner = app.signup("joiner@example.org").await;
                join(app, by_owner, INST, &joiner, "member").await;
                "a person signed up and joined"
            }
            3 => {
                post(
                    app,
                    by_owner,
                    "/api/v1/courses",
                    Some(course_body("Drafted course")),
                    201,
                )
                .await;
                "a draft course"
            }
            4 => {
                let body = dataset_body("Drafted dataset", json!({}));
                post(app, by_owner, "/api/v1/datasets", Some(body), 201).await;
                "a draft dataset"
            }
            5 => {
                let body = model_card_body("Drafted card");
                post(app, by_owner, "/api/v1/model-cards", Some(body), 201).await;
                "a draft model card"
            }
            6 => {
                let path = format!("/api/v1/courses/{course}/modules");
                post(app, by_owner, &path, Some(module_body("Second")), 201).await;
                "a module added"
            }
            7 => {
                let other =
                    crate::helpers::frontend::published_course(app, by_owner, "Second course")
                        .await;
                // A second learner in the course, and a second course for the learner.
                let res = call(
                    app,
                    Method::PUT,
                    &format!("/api/v1/courses/{course}/enrollment"),
                    gh,
                    None,
                )
                .await;
                assert!(res.status().is_success(), "{}", res.status());
                let res = call(
                    app,
                    Method::PUT,
                    &format!("/api/v1/courses/{other}/enrollment"),
                    learner,
                    None,
                )
                .await;
                assert!(res.status().is_success(), "{}", res.status());
                "enrollments"
            }
            8 => {
                let body = json!({"name": "more.csv", "url": "https://data.example.org/more.csv",
                                  "media_type": "text/csv", "size_bytes": 2048, "sha256": "cd".repeat(32)});
                post(
                    app,
                    by_owner,
                    &format!("/api/v1/datasets/{ds}/files"),
                    Some(body),
                    201,
                )
                .await;
                "a file added"
            }
            9 => {
                // Another person asks for the dataset; the learner for a second one.
                let body = json!({"purpose": "Evaluating a speech model for Ghanaian radio.", "duration_days": 30});
                post(
                    app,
                    &w.gh_owner.access,
                    &format!("/api/v1/datasets/{ds}/access-requests"),
                    Some(body),
                    201,
                )
                .await;
                let other =
                    crate::helpers::access::dataset(app, by_owner, "Second dataset", json!({}))
                        .await;
                crate::helpers::access::requested(app, &w.learner, &other.id).await;
                "access requests"
            }
            10 => {
                let tz = app.signup("owner@tz-lab.example.org").await;
                create(
                    app,
                    &tz.access,
                    crate::helpers::access::institution("tz-lab", "TZ"),
                )
                .await;
                verify(app, &w.root.access, "tz-lab").await;
                "an institution verified"
            }
            11 => {
                let body = json!({"slug": "ke-gh", "title": "Kenya–Ghana health data",
                                  "starts_on": "2026-03-01", "ends_on": "2027-02-28"});
                post(
                    app,
                    &w.coord.access,
                    "/api/v1/partnerships",
                    Some(body),
                    201,
                )
                .await;
                "a partnership proposed"
            }
            12 => {
                let body = json!({"user_id": w.owner.id});
                post(
                    app,
                    &w.coord.access,
                    &format!("{part}/coordinators"),
                    Some(body),
                    201,
                )
                .await;
                "a coordinator added"
            }
            13 => {
                let body = json!({"institution": "gh-lab"});
                post(
                    app,
                    &w.coord.access,
                    &format!("{part}/members"),
                    Some(body),
                    201,
                )
                .await;
                "an institution invited"
            }
            14 => {
                let body = json!({"resource_id": w.course});
                post(app, by_owner, &format!("{part}/resources"), Some(body), 201).await;
                "a resource shared"
            }
            15 => {
                let body = json!({"name": "laptop", "scopes": ["read"]});
                post(app, &w.learner.access, "/api/v1/me/tokens", Some(body), 201).await;
                "an API token created"
            }
            16 | 18 => {
                let (hooks, token) = if step == 16 {
                    (format!("{inst}/webhooks/{INST_HOOK}"), by_owner)
                } else {
                    (
                        format!("{part}/webhooks/{PART_HOOK}"),
                        w.coord.access.as_str(),
                    )
                };
                let res = call(
                    app,
                    Method::PATCH,
                    &hooks,
                    Some(token),
                    Some(json!({"description": "renamed"})),
                )
                .await;
                assert_eq!(res.status(), 200);
                "a webhook described anew"
            }
            17 | 19 => {
                let (hooks, token) = if step == 17 {
                    (format!("{inst}/webhooks/{INST_HOOK}"), by_owner)
                } else {
                    (
                        format!("{part}/webhooks/{PART_HOOK}"),
                        w.coord.access.as_str(),
                    )
                };
                post(app, token, &format!("{hooks}/ping"), None, 202).await;
                "a webhook pinged"
            }
            20 => {
                for path in [
                    format!("/api/v1/courses/{course}"),
                    format!("/api/v1/datasets/{ds}"),
                    format!("/api/v1/model-cards/{card}"),
                ] {
                    let res = call(
                        app,
                        Method::PATCH,
                        &format!("{path}/draft"),
                        owner,
                        Some(json!({"summary": "Newer."})),
                    )
                    .await;
                    assert_eq!(res.status(), 200, "{path}");
                    post(
                        app,
                        by_owner,
                        &format!("{path}/publish"),
                        Some(json!({"note": "Newer."})),
                        200,
                    )
                    .await;
                }
                "new versions published"
            }
            _ => unreachable!(),
        };
        for (list, tag) in lists.iter().zip(&tags) {
            changed(&w, list, tag, what).await;
            covered.insert(list.template);
        }
    }

    // Every list page the document has was watched above.
    let doc = document(app).await;
    let lists: BTreeSet<String> = operations(&doc)
        .into_iter()
        .filter(|(method, _, op)| method == "get" && is_list(&doc, op))
        .map(|(_, template, _)| template)
        .collect();
    let covered: BTreeSet<String> = covered.into_iter().map(str::to_string).collect();
    assert_eq!(
        lists.difference(&covered).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "list pages of the document this test does not watch yet"
    );
    assert_eq!(
        covered.difference(&lists).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "watched templates the document does not list as pages"
    );
});

api_test!(the_members_page_keeps_its_count_and_link, |backend| {
    let w = catalogue(backend).await;
    let app = &w.app;
    let path = format!("/api/v1/institutions/{INST}/members");
    join(app, &w.owner.access, INST, &w.learner, "member").await;
    // Members see the page, with its count, its Link and a weak tag.
    let res = app
        .get_auth(&format!("{path}?limit=1"), &w.owner.access)
        .await;
    assert_eq!(res.status(), 200);
    let link = res.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("<{path}?limit=1&cursor=")),
        "{link}"
    );
    let tag = etag(&res).unwrap();
    assert!(tag.starts_with("W/\""), "{tag}");
    let page: serde_json::Value = res.json().await.unwrap();
    assert_eq!(page["member_count"], 2, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert!(page["next_cursor"].is_string(), "{page}");
    // Outsiders see only the count, cacheable the same way.
    let res = app.get(&path).await;
    assert_eq!(res.status(), 200);
    let tag = etag(&res).unwrap();
    let page: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        page,
        json!({"items": [], "next_cursor": null, "member_count": 2})
    );
    let res = send(
        app,
        Method::GET,
        &path,
        None,
        None,
        &[("if-none-match", &tag)],
    )
    .await;
    assert_eq!(res.status(), 304);
    // A new member changes the outsiders' page too (the count).
    join(app, &w.owner.access, INST, &w.gh_owner, "member").await;
    let res = send(
        app,
        Method::GET,
        &path,
        None,
        None,
        &[("if-none-match", &tag)],
    )
    .await;
    assert_eq!(res.status(), 200);
    let page: serde_json::Value = res.json().await.unwrap();
    assert_eq!(page["member_count"], 3, "{page}");
});
