//! Issue #16, point 2: every single read carries `permissions`, and each
//! flag equals what the call it is named after then answers (`true` ⇔ not
//! 401/403/404), for every role of the HTTP policy tables, each action
//! tried on a fresh fixture; datasets carry `my_access`.

use reqwest::Method;
use serde_json::json;

use crate::helpers::access::{Sovereignty, asking, dataset, request_path, requests_path};
use crate::helpers::frontend::{module_body, published_course};
use crate::helpers::http::{body_of, call};

/// The roles of the policy tables, as (name, token).
fn roles(s: &Sovereignty) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("anonymous", None),
        ("outsider", Some(s.ke.access.clone())),
        ("member", Some(s.w.member.access.clone())),
        ("editor", Some(s.w.editor.access.clone())),
        ("owner", Some(s.w.owner.access.clone())),
        ("partnership member", Some(s.tz.access.clone())),
        ("coordinator", Some(s.coord.access.clone())),
        ("platform admin", Some(s.w.root.access.clone())),
    ]
}

/// Performs `action` on the resource at `path` (`file`: a dataset's file)
/// as `token`: the status it answered.
async fn perform(
    s: &Sovereignty,
    token: Option<&str>,
    path: &str,
    file: Option<&str>,
    action: &str,
) -> u16 {
    let app = &s.w.app;
    // The fixtures are published: they change through the draft of their
    // next version (issue #19), which checks the change as a publication
    // would (who may set data terms included).
    let (method, url, body) = match action {
        "edit" => (
            Method::PATCH,
            format!("{path}/draft"),
            Some(json!({"summary": "Changed."})),
        ),
        "delete" => (Method::DELETE, path.to_string(), None),
        "publish" => (Method::POST, format!("{path}/publish"), None),
        "archive" => (Method::POST, format!("{path}/archive"), None),
        "manage_modules" => (
            Method::POST,
            format!("{path}/modules"),
            Some(module_body("More")),
        ),
        "enroll" => (Method::PUT, format!("{path}/enrollment"), None),
        "view_learners" => (Method::GET, format!("{path}/enrollments"), None),
        "manage_files" => (
            Method::POST,
            format!("{path}/files"),
            Some(
                json!({"name": "more.csv", "url": "https://data.example.org/more.csv",
                        "media_type": "text/csv", "size_bytes": 1, "sha256": "cd".repeat(32)}),
            ),
        ),
        "request_access" => (
            Method::POST,
            format!("{path}/access-requests"),
            Some(asking(30)),
        ),
        "download" => (
            Method::GET,
            format!("{path}/files/{}/link", file.unwrap()),
            None,
        ),
        "view_access_requests" => (Method::GET, format!("{path}/access-requests"), None),
        "set_data_terms" => (
            Method::PATCH,
            format!("{path}/draft"),
            Some(json!({"access_level": "registered"})),
        ),
        other => panic!("no call for `{other}`"),
    };
    call(app, method, &url, token, body).await.status().as_u16()
}

fn refused(status: u16) -> bool {
    matches!(status, 401 | 403 | 404)
}

/// For each role and each flag: a fresh fixture from `fresh`, its
/// `permissions` read, the action done; the flag must match the answer.
async fn walk<F, Fut>(s: &Sovereignty, what: &str, expected: &[&str], fresh: F) -> Vec<String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (String, Option<String>)>,
{
    let mut table = Vec::new();
    for (role, token) in roles(s) {
        for action in expected {
            let (path, file) = fresh().await;
            let res = call(&s.w.app, Method::GET, &path, token.as_deref(), None).await;
            if res.status().as_u16() == 404 {
                // Hidden from this role: no flags, and every call refused.
                let status = perform(s, token.as_deref(), &path, file.as_deref(), action).await;
                assert!(
                    refused(status),
                    "{what}, {role}, {action}: hidden, yet {status}"
                );
                continue;
            }
            let read = body_of(res, 200).await;
            let perms = &read["permissions"];
            let keys: Vec<&str> = perms
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut want: Vec<&str> = expected.to_vec();
            want.sort_unstable();
            let mut got = keys.clone();
            got.sort_unstable();
            assert_eq!(got, want, "{what}: the flags of {role}: {read}");
            let flag = perms[action].as_bool().unwrap();
            let status = perform(s, token.as_deref(), &path, file.as_deref(), action).await;
            assert_eq!(
                flag,
                !refused(status),
                "{what}, {role}, {action}: flag {flag} but the call answered {status}"
            );
            table.push(format!("{what} {role} {action} {flag}"));
        }
    }
    table
}

const DATASET_FLAGS: &[&str] = &[
    "edit",
    "delete",
    "publish",
    "archive",
    "manage_files",
    "request_access",
    "download",
    "view_access_requests",
    "set_data_terms",
];

const COURSE_FLAGS: &[&str] = &[
    "edit",
    "delete",
    "publish",
    "archive",
    "manage_modules",
    "enroll",
    "view_learners",
];

crate::api_test!(resource_flags_match_what_the_calls_answer, |backend| {
    let s = crate::helpers::access::sovereignty(backend).await;
    let owner = s.w.owner.access.clone();
    let mut seen = Vec::new();
    for (label, extra) in [
        ("restricted dataset", json!({})),
        ("open dataset", json!({"access_level": "open"})),
        ("partnership dataset", json!({"visibility": "partnership"})),
    ] {
        let rows = walk(&s, label, DATASET_FLAGS, || {
            let (app, owner, extra) = (&s.w.app, owner.clone(), extra.clone());
            async move {
                let ds = dataset(app, &owner, "Sauti corpus", extra).await;
                (format!("/api/v1/datasets/{}", ds.id), Some(ds.file))
            }
        })
        .await;
        seen.extend(rows);
    }
    let rows = walk(&s, "course", COURSE_FLAGS, || {
        let (app, owner) = (&s.w.app, owner.clone());
        async move {
            let id = published_course(app, &owner, "Sauti 101").await;
            (format!("/api/v1/courses/{id}"), None)
        }
    })
    .await;
    seen.extend(rows);
    // The table is not trivial: each flag is true for someone and false for
    // someone else (a test that could not fail would not show this).
    for action in DATASET_FLAGS.iter().chain(COURSE_FLAGS) {
        let of: Vec<&String> = seen
            .iter()
            .filter(|r| r.contains(&format!(" {action} ")))
            .collect();
        assert!(
            of.iter().any(|r| r.ends_with(" true")),
            "{action} never true: {of:?}"
        );
        assert!(
            of.iter().any(|r| r.ends_with(" false")),
            "{action} never false: {of:?}"
        );
    }
});

crate::api_test!(my_access_follows_the_request, |backend| {
    let s = crate::helpers::access::sovereignty(backend).await;
    let app = &s.w.app;
    let ds = s.w.dataset("Sauti corpus", json!({})).await;
    let path = format!("/api/v1/datasets/{}", ds.id);
    let read = |token: Option<String>| {
        let path = path.clone();
        async move {
            body_of(
                call(app, Method::GET, &path, token.as_deref(), None).await,
                200,
            )
            .await
        }
    };
    let ke = Some(s.ke.access.clone());
    let r = read(None).await;
    assert_eq!(r["my_access"], json!({"state": "none"}), "{r}");
    let r = read(ke.clone()).await;
    assert_eq!(r["my_access"], json!({"state": "none"}), "{r}");
    assert_eq!(r["permissions"]["download"], false, "{r}");
    let asked = body_of(
        call(
            app,
            Method::POST,
            &requests_path(&ds.id),
            ke.as_deref(),
            Some(asking(30)),
        )
        .await,
        201,
    )
    .await;
    let id = asked["id"].as_str().unwrap().to_string();
    let r = read(ke.clone()).await;
    assert_eq!(
        r["my_access"],
        json!({"state": "pending", "request_id": id}),
        "{r}"
    );
    // Someone else's request is not theirs.
    let r = read(Some(s.tz.access.clone())).await;
    assert_eq!(r["my_access"], json!({"state": "none"}), "{r}");
    let approved = body_of(
        call(
            app,
            Method::POST,
            &format!("{}/approve", request_path(&id)),
            Some(&s.w.owner.access),
            Some(json!({"note": "Granted."})),
        )
        .await,
        200,
    )
    .await;
    let r = read(ke.clone()).await;
    assert_eq!(r["my_access"]["state"], "granted", "{r}");
    assert_eq!(r["my_access"]["request_id"], id.as_str(), "{r}");
    assert_eq!(
        r["my_access"]["until"], approved["expires_at"],
        "{r} {approved}"
    );
    assert_eq!(r["permissions"]["download"], true, "{r}");
    let link = call(
        app,
        Method::GET,
        &format!("{path}/files/{}/link", ds.file),
        ke.as_deref(),
        None,
    )
    .await;
    assert_eq!(link.status().as_u16(), 200);
    // Past its end (the sweep's clock): expired.
    crate::helpers::access::sweep(app, crate::helpers::access::in_days(31)).await;
    let r = read(ke.clone()).await;
    assert_eq!(r["my_access"]["state"], "expired", "{r}");
    assert_eq!(r["my_access"]["request_id"], id.as_str(), "{r}");
    // Lists carry it (and permissions) only when asked.
    let list = body_of(
        call(app, Method::GET, "/api/v1/datasets", ke.as_deref(), None).await,
        200,
    )
    .await;
    let item = &list["items"][0];
    assert!(
        item.get("permissions").is_none() && item.get("my_access").is_none(),
        "{item}"
    );
    let list = body_of(
        call(
            app,
            Method::GET,
            "/api/v1/datasets?fields=title,permissions,my_access",
            ke.as_deref(),
            None,
        )
        .await,
        200,
    )
    .await;
    let item = &list["items"][0];
    assert_eq!(item["my_access"]["state"], "expired", "{item}");
    assert_eq!(item["permissions"]["request_access"], true, "{item}");
    assert_eq!(item["permissions"]["edit"], false, "{item}");
    assert!(item.get("summary").is_none(), "{item}");
});
