//! Issue #16, point 2, the remaining objects: an institution, a
//! partnership, an access request and a course's module list carry
//! `permissions`, and each flag equals what the call it is named after then
//! answers (`true` ⇔ not 401/403/404), for every role of the HTTP policy
//! tables, each action tried on a fresh fixture. A client that reads an
//! institution or a partnership and sends its `ETag` back as `If-Match`
//! succeeds.

use std::cell::Cell;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::access::{Sovereignty, asking, dataset, institution, request_path};
use crate::helpers::frontend::{course_body, module_body, published_course};
use crate::helpers::http::{body_of, call, etag_of, send};
use crate::helpers::institutions::{create, join, verify};
use crate::helpers::versions::edit_published;

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

/// The user id of a role (anonymous callers name the plain member).
fn own_id<'a>(s: &'a Sovereignty, role: &str) -> &'a str {
    match role {
        "outsider" => &s.ke.id,
        "editor" => &s.w.editor.id,
        "owner" => &s.w.owner.id,
        "partnership member" => &s.tz.id,
        "coordinator" => &s.coord.id,
        "platform admin" => &s.w.root.id,
        _ => &s.w.member.id,
    }
}

/// Which object a fixture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Obj {
    Institution,
    Partnership,
    Request,
    Modules,
}

/// A fresh object: the path its permissions are read at, and what its
/// calls need (a slug, a dataset and its file, a course and its module).
#[derive(Debug, Clone)]
struct Fixture {
    obj: Obj,
    read: String,
    slug: String,
    ids: (String, String),
}

/// Performs `action` on `fx` as `role`: the status it answered.
async fn perform(
    s: &Sovereignty,
    role: &str,
    token: Option<&str>,
    fx: &Fixture,
    action: &str,
) -> u16 {
    let app = &s.w.app;
    let p = &fx.read;
    let (a, b) = (&fx.ids.0, &fx.ids.1);
    let (method, url, body) = match (fx.obj, action) {
        (Obj::Institution, "edit") => (
            Method::PATCH,
            p.clone(),
            Some(json!({"description": "Changed."})),
        ),
        (Obj::Institution, "delete") => (Method::DELETE, p.clone(), None),
        (Obj::Institution, "verify") => (Method::POST, format!("{p}/verify"), None),
        (Obj::Institution, "manage_members") => (
            Method::PATCH,
            format!("{p}/members/{}", s.w.member.id),
            Some(json!({"role": "editor"})),
        ),
        (Obj::Institution, "invite") => (
            Method::POST,
            format!("{p}/invitations"),
            Some(json!({"email": "new@example.org", "role": "member"})),
        ),
        (Obj::Institution, "view_invitations") => (Method::GET, format!("{p}/invitations"), None),
        (Obj::Institution, "leave") => (
            Method::DELETE,
            format!("{p}/members/{}", own_id(s, role)),
            None,
        ),
        (Obj::Institution, "create_resources") => {
            let mut body = course_body("Drafted");
            body["institution"] = json!(fx.slug);
            (Method::POST, "/api/v1/courses".into(), Some(body))
        }
        (Obj::Partnership, "edit") => (Method::PATCH, p.clone(), Some(json!({"title": "Changed"}))),
        (Obj::Partnership, "change_status") => (Method::POST, format!("{p}/conclude"), None),
        (Obj::Partnership, "invite_institutions") => (
            Method::POST,
            format!("{p}/members"),
            Some(json!({"institution": "gh-lab"})),
        ),
        (Obj::Partnership, "remove_institutions") => {
            (Method::DELETE, format!("{p}/members/ng-lab"), None)
        }
        (Obj::Partnership, "manage_coordinators") => (
            Method::POST,
            format!("{p}/coordinators"),
            Some(json!({"user_id": s.w.member.id})),
        ),
        (Obj::Partnership, "share_resources") => (
            Method::POST,
            format!("{p}/resources"),
            Some(json!({"resource_id": a})),
        ),
        (Obj::Partnership, "act_for_institution") => {
            let own = if role == "partnership member" {
                "ng-lab"
            } else {
                "ke-lab"
            };
            (
                Method::PATCH,
                format!("{p}/members/{own}"),
                Some(json!({"status": "left"})),
            )
        }
        (Obj::Request, "approve") => (
            Method::POST,
            format!("{p}/approve"),
            Some(json!({"note": "Granted."})),
        ),
        (Obj::Request, "reject") => (
            Method::POST,
            format!("{p}/reject"),
            Some(json!({"note": "No."})),
        ),
        (Obj::Request, "withdraw") => (Method::POST, format!("{p}/withdraw"), None),
        (Obj::Request, "revoke") => (Method::POST, format!("{p}/revoke"), Some(json!({}))),
        (Obj::Request, "download") => (
            Method::GET,
            format!("/api/v1/datasets/{a}/files/{b}/link"),
            None,
        ),
        (Obj::Modules, "manage_modules") => (Method::POST, p.clone(), Some(module_body("More"))),
        (Obj::Modules, "record_progress") => (
            Method::PUT,
            format!("/api/v1/courses/{a}/enrollment/modules/{b}"),
            None,
        ),
        (Obj::Modules, "view_learners") => (
            Method::GET,
            format!("/api/v1/courses/{a}/enrollments"),
            None,
        ),
        other => panic!("no call for {other:?}"),
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
    Fut: std::future::Future<Output = Fixture>,
{
    let mut table = Vec::new();
    for (role, token) in roles(s) {
        for action in expected {
            let fx = fresh().await;
            let res = call(&s.w.app, Method::GET, &fx.read, token.as_deref(), None).await;
            let read_status = res.status().as_u16();
            if matches!(read_status, 401 | 404) && fx.obj == Obj::Request && *action == "download" {
                // Downloading is the dataset's, not the request's: someone
                // who may not see the request (its institution's plain
                // members) may still download; the dataset's flag says so.
                let ds = format!("/api/v1/datasets/{}", fx.ids.0);
                let res = call(&s.w.app, Method::GET, &ds, token.as_deref(), None).await;
                let flag = res.status().as_u16() == 200
                    && body_of(res, 200).await["permissions"]["download"] == true;
                let status = perform(s, role, token.as_deref(), &fx, action).await;
                assert_eq!(
                    flag,
                    !refused(status),
                    "{what}, {role}, {action} (the dataset's flag): {flag}, the call {status}"
                );
                continue;
            }
            if matches!(read_status, 401 | 404) {
                // Not readable by this role: every call refused.
                let status = perform(s, role, token.as_deref(), &fx, action).await;
                assert!(
                    refused(status),
                    "{what}, {role}, {action}: read {read_status}, yet {status}"
                );
                continue;
            }
            let read = body_of(res, 200).await;
            let perms = &read["permissions"];
            let mut got: Vec<&str> = perms
                .as_object()
                .unwrap_or_else(|| panic!("{what}, {role}: no permissions: {read}"))
                .keys()
                .map(String::as_str)
                .collect();
            got.sort_unstable();
            let mut want: Vec<&str> = expected.to_vec();
            want.sort_unstable();
            assert_eq!(got, want, "{what}: the flags of {role}: {read}");
            let flag = perms[action].as_bool().unwrap();
            let status = perform(s, role, token.as_deref(), &fx, action).await;
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

/// Each flag is true for someone and false for someone else: the table is
/// not trivial (a test that could not fail would not show this).
fn both_ways(seen: &[String], flags: &[&str]) {
    for action in flags {
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
}

const INSTITUTION_FLAGS: &[&str] = &[
    "edit",
    "delete",
    "verify",
    "manage_members",
    "invite",
    "view_invitations",
    "leave",
    "create_resources",
];

const PARTNERSHIP_FLAGS: &[&str] = &[
    "edit",
    "change_status",
    "invite_institutions",
    "remove_institutions",
    "manage_coordinators",
    "share_resources",
    "act_for_institution",
];

const REQUEST_FLAGS: &[&str] = &["approve", "reject", "withdraw", "revoke", "download"];

const MODULE_FLAGS: &[&str] = &["manage_modules", "record_progress", "view_learners"];

crate::api_test!(institution_flags_match_what_the_calls_answer, |backend| {
    let s = crate::helpers::access::sovereignty(backend).await;
    let n = Cell::new(0);
    let mut seen = Vec::new();
    for (label, verified) in [
        ("verified institution", true),
        ("unverified institution", false),
    ] {
        let rows = walk(&s, label, INSTITUTION_FLAGS, || {
            n.set(n.get() + 1);
            let slug = format!("lab-{}", n.get());
            let s = &s;
            async move {
                let app = &s.w.app;
                create(app, &s.w.owner.access, institution(&slug, "KE")).await;
                if verified {
                    verify(app, &s.w.root.access, &slug).await;
                }
                join(app, &s.w.owner.access, &slug, &s.w.editor, "editor").await;
                join(app, &s.w.owner.access, &slug, &s.w.member, "member").await;
                Fixture {
                    obj: Obj::Institution,
                    read: format!("/api/v1/institutions/{slug}"),
                    slug,
                    ids: Default::default(),
                }
            }
        })
        .await;
        seen.extend(rows);
    }
    both_ways(&seen, INSTITUTION_FLAGS);
});

crate::api_test!(partnership_flags_match_what_the_calls_answer, |backend| {
    let s = crate::helpers::access::sovereignty(backend).await;
    let shared = dataset(&s.w.app, &s.w.owner.access, "Shared corpus", json!({})).await;
    let n = Cell::new(0);
    let mut seen = Vec::new();
    for (label, public) in [("public partnership", true), ("private partnership", false)] {
        let rows = walk(&s, label, PARTNERSHIP_FLAGS, || {
            n.set(n.get() + 1);
            let slug = format!("pact-{}", n.get());
            let (s, resource) = (&s, shared.id.clone());
            async move {
                let app = &s.w.app;
                let c = Some(s.coord.access.as_str());
                let p = format!("/api/v1/partnerships/{slug}");
                let ok = |res: reqwest::Response, status| body_of(res, status);
                ok(
                    call(
                        app,
                        Method::POST,
                        "/api/v1/partnerships",
                        c,
                        Some(json!({"slug": slug, "title": "A pact", "public": public,
                                    "starts_on": "2026-03-01", "ends_on": "2028-02-29"})),
                    )
                    .await,
                    201,
                )
                .await;
                for (inst, owner) in [("ke-lab", &s.w.owner), ("ng-lab", &s.ng_owner)] {
                    let body = Some(json!({ "institution": inst }));
                    ok(
                        call(app, Method::POST, &format!("{p}/members"), c, body).await,
                        201,
                    )
                    .await;
                    let accept = format!("{p}/members/{inst}/accept");
                    ok(
                        call(app, Method::POST, &accept, Some(&owner.access), None).await,
                        200,
                    )
                    .await;
                }
                ok(
                    call(app, Method::POST, &format!("{p}/activate"), c, None).await,
                    200,
                )
                .await;
                Fixture {
                    obj: Obj::Partnership,
                    read: p,
                    slug,
                    ids: (resource, String::new()),
                }
            }
        })
        .await;
        seen.extend(rows);
    }
    both_ways(&seen, PARTNERSHIP_FLAGS);
});

crate::api_test!(
    access_request_flags_match_what_the_calls_answer,
    |backend| {
        let s = crate::helpers::access::sovereignty(backend).await;
        let mut seen = Vec::new();
        for (label, approved) in [("pending request", false), ("approved request", true)] {
            let rows = walk(&s, label, REQUEST_FLAGS, || {
                let s = &s;
                async move {
                    let app = &s.w.app;
                    let ds = dataset(app, &s.w.owner.access, "Sauti corpus", json!({})).await;
                    let asked = body_of(
                        call(
                            app,
                            Method::POST,
                            &format!("/api/v1/datasets/{}/access-requests", ds.id),
                            Some(&s.ke.access),
                            Some(asking(30)),
                        )
                        .await,
                        201,
                    )
                    .await;
                    let id = asked["id"].as_str().unwrap().to_string();
                    if approved {
                        let approve = format!("{}/approve", request_path(&id));
                        let body = Some(json!({"note": "Granted."}));
                        body_of(
                            call(app, Method::POST, &approve, Some(&s.w.owner.access), body).await,
                            200,
                        )
                        .await;
                    }
                    Fixture {
                        obj: Obj::Request,
                        read: request_path(&id),
                        slug: String::new(),
                        ids: (ds.id, ds.file),
                    }
                }
            })
            .await;
            seen.extend(rows);
        }
        both_ways(&seen, REQUEST_FLAGS);
    }
);

crate::api_test!(module_list_flags_match_what_the_calls_answer, |backend| {
    let s = crate::helpers::access::sovereignty(backend).await;
    let rows = walk(&s, "module list", MODULE_FLAGS, || {
        let s = &s;
        async move {
            let app = &s.w.app;
            let id = published_course(app, &s.w.owner.access, "Sauti 101").await;
            let read = format!("/api/v1/courses/{id}/modules");
            let page = body_of(call(app, Method::GET, &read, None, None).await, 200).await;
            let module = page["items"][0]["id"].as_str().unwrap().to_string();
            Fixture {
                obj: Obj::Modules,
                read,
                slug: String::new(),
                ids: (id, module),
            }
        }
    })
    .await;
    both_ways(&rows, MODULE_FLAGS);
});

/// What a read answered, the `permissions` aside.
fn without_permissions(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("permissions");
    v
}

crate::api_test!(read_then_write_with_the_etag_succeeds, |backend| {
    let s = crate::helpers::access::sovereignty(backend).await;
    let app = &s.w.app;
    let owner = Some(s.w.owner.access.as_str());
    let coord = Some(s.coord.access.as_str());
    for (path, token, patch) in [
        (
            "/api/v1/institutions/ke-lab",
            owner,
            json!({"description": "Changed."}),
        ),
        (
            "/api/v1/partnerships/ke-ng",
            coord,
            json!({"title": "Changed"}),
        ),
    ] {
        let res = call(app, Method::GET, path, token, None).await;
        let etag = etag_of(&res);
        let read = body_of(res, 200).await;
        assert_eq!(read["permissions"]["edit"], true, "{read}");
        // Another caller's read has other permissions, so another tag.
        let res = call(app, Method::GET, path, Some(&s.ke.access), None).await;
        assert_ne!(etag_of(&res), etag, "{path}");
        let other = body_of(res, 200).await;
        assert_eq!(other["permissions"]["edit"], false, "{other}");
        assert_eq!(
            without_permissions(other),
            without_permissions(read.clone())
        );

        let res = send(
            app,
            Method::PATCH,
            path,
            token,
            Some(patch.clone()),
            &[("if-match", etag.as_str())],
        )
        .await;
        let new_etag = etag_of(&res);
        let changed = body_of(res, 200).await;
        assert_eq!(changed["permissions"], read["permissions"], "{changed}");
        // The answer is what a read now answers, with the same tag.
        let res = call(app, Method::GET, path, token, None).await;
        assert_eq!(etag_of(&res), new_etag, "{path}");
        assert_eq!(body_of(res, 200).await, changed);
        // The tag read before the change is stale now.
        let res = send(
            app,
            Method::PATCH,
            path,
            token,
            Some(patch),
            &[("if-match", etag.as_str())],
        )
        .await;
        assert_eq!(res.status().as_u16(), 412, "{path}");
    }

    // Deleting with the tag of one's own read.
    create(app, &s.w.owner.access, institution("gone-lab", "KE")).await;
    let path = "/api/v1/institutions/gone-lab";
    let res = call(app, Method::GET, path, owner, None).await;
    let etag = etag_of(&res);
    let read = body_of(res, 200).await;
    assert_eq!(read["permissions"]["delete"], true, "{read}");
    assert_eq!(read["permissions"]["verify"], false, "{read}");
    let res = send(
        app,
        Method::DELETE,
        path,
        owner,
        None,
        &[("if-match", etag.as_str())],
    )
    .await;
    assert_eq!(res.status().as_u16(), 204);
});

crate::api_test!(an_invited_institutions_owner_may_answer, |backend| {
    let s = crate::helpers::access::sovereignty(backend).await;
    let app = &s.w.app;
    let c = Some(s.coord.access.as_str());
    let p = "/api/v1/partnerships/ke-gh";
    body_of(
        call(
            app,
            Method::POST,
            "/api/v1/partnerships",
            c,
            Some(json!({"slug": "ke-gh", "title": "Kenya–Ghana",
                        "starts_on": "2026-03-01", "ends_on": "2028-02-29"})),
        )
        .await,
        201,
    )
    .await;
    let body = Some(json!({"institution": "ke-lab"}));
    body_of(
        call(app, Method::POST, &format!("{p}/members"), c, body).await,
        201,
    )
    .await;
    let flags = |token: &str| {
        let token = token.to_string();
        async move {
            let read = body_of(call(app, Method::GET, p, Some(&token), None).await, 200).await;
            read["permissions"].clone()
        }
    };
    let accept = format!("{p}/members/ke-lab/accept");
    // A plain member of the invited institution may not answer for it.
    let member = flags(&s.w.member.access).await;
    assert_eq!(member["act_for_institution"], false, "{member}");
    assert_eq!(member["share_resources"], false, "{member}");
    let res = call(app, Method::POST, &accept, Some(&s.w.member.access), None).await;
    assert_eq!(res.status().as_u16(), 403);
    // Its owner may; sharing waits until it is an active member.
    let owner = flags(&s.w.owner.access).await;
    assert_eq!(owner["act_for_institution"], true, "{owner}");
    assert_eq!(owner["share_resources"], false, "{owner}");
    assert_eq!(owner["edit"], false, "{owner}");
    let res = call(app, Method::POST, &accept, Some(&s.w.owner.access), None).await;
    assert_eq!(res.status().as_u16(), 200);
    let owner = flags(&s.w.owner.access).await;
    assert_eq!(owner["share_resources"], true, "{owner}");
    // The coordinator manages, and answers for nobody.
    let coord = flags(&s.coord.access).await;
    assert_eq!(coord["edit"], true, "{coord}");
    assert_eq!(coord["act_for_institution"], false, "{coord}");
});

crate::api_test!(the_module_list_keeps_its_page_shape, |backend| {
    let s = crate::helpers::access::sovereignty(backend).await;
    let app = &s.w.app;
    let id = published_course(app, &s.w.owner.access, "Sauti 101").await;
    let path = format!("/api/v1/courses/{id}/modules");
    let res = call(app, Method::GET, &path, Some(&s.w.owner.access), None).await;
    let etag = etag_of(&res);
    assert!(etag.starts_with("W/"), "a page's weak tag: {etag}");
    let page = body_of(res, 200).await;
    let mut keys: Vec<&str> = page
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["items", "next_cursor", "permissions"], "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(
        page["permissions"],
        json!({"manage_modules": true, "record_progress": true, "view_learners": true})
    );
    let anonymous = body_of(call(app, Method::GET, &path, None, None).await, 200).await;
    assert_eq!(
        anonymous["permissions"],
        json!({"manage_modules": false, "record_progress": false, "view_learners": false})
    );
    // The page's tag follows what the caller is sent.
    let res = send(
        app,
        Method::GET,
        &path,
        Some(&s.w.owner.access),
        None,
        &[("if-none-match", etag.as_str())],
    )
    .await;
    assert_eq!(res.status().as_u16(), 304);
    let res = send(
        app,
        Method::GET,
        &path,
        None,
        None,
        &[("if-none-match", etag.as_str())],
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
});

crate::api_test!(
    approve_follows_the_transfer_policy_as_it_stands,
    |backend| {
        let s = crate::helpers::access::sovereignty(backend).await;
        let app = &s.w.app;
        let ds = dataset(app, &s.w.owner.access, "Sauti corpus", json!({})).await;
        let asked = body_of(
            call(
                app,
                Method::POST,
                &format!("/api/v1/datasets/{}/access-requests", ds.id),
                Some(&s.gh.access),
                Some(asking(30)),
            )
            .await,
            201,
        )
        .await;
        let path = request_path(asked["id"].as_str().unwrap());
        // The 201 carries the requester's own flags: withdrawing, not deciding.
        assert_eq!(asked["permissions"]["withdraw"], true, "{asked}");
        assert_eq!(asked["permissions"]["approve"], false, "{asked}");
        // And equals what the requester then reads.
        let mine = body_of(
            call(app, Method::GET, &path, Some(&s.gh.access), None).await,
            200,
        )
        .await;
        assert_eq!(mine["permissions"], asked["permissions"], "{mine}");
        let owner = Some(s.w.owner.access.as_str());
        let flags = body_of(call(app, Method::GET, &path, owner, None).await, 200).await;
        assert_eq!(flags["permissions"]["approve"], true, "{flags}");
        // The owner narrows where the data may go: the requester's country (GH)
        // is neither listed nor the origin (KE): an approval now would be
        // refused; rejecting still works. (The dataset is published: its
        // terms change with its next version, the draft published.)
        let res = edit_published(
            app,
            owner,
            &format!("/api/v1/datasets/{}", ds.id),
            json!({"transfer_policy": "allowed_countries", "allowed_countries": ["TZ"]}),
        )
        .await;
        body_of(res, 200).await;
        let flags = body_of(call(app, Method::GET, &path, owner, None).await, 200).await;
        let p = &flags["permissions"];
        assert_eq!(p["approve"], false, "{flags}");
        assert_eq!(p["reject"], true, "{flags}");
        let res = call(
            app,
            Method::POST,
            &format!("{path}/approve"),
            owner,
            Some(json!({"note": "Granted."})),
        )
        .await;
        assert_eq!(res.status().as_u16(), 403);
        // The requester sees their own flags: withdraw, not decide.
        let mine = body_of(
            call(app, Method::GET, &path, Some(&s.gh.access), None).await,
            200,
        )
        .await;
        let p = &mine["permissions"];
        assert_eq!(
            (
                p["approve"].clone(),
                p["reject"].clone(),
                p["withdraw"].clone()
            ),
            (json!(false), json!(false), json!(true)),
            "{mine}"
        );
        // What a move answers carries the mover's flags for the request as it now stands.
        let rejected = body_of(
            call(
                app,
                Method::POST,
                &format!("{path}/reject"),
                owner,
                Some(json!({"note": "Not to Ghana."})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(rejected["status"], "rejected");
        let now = body_of(call(app, Method::GET, &path, owner, None).await, 200).await;
        assert_eq!(rejected, now, "a move answers what a read then answers");
    }
);
