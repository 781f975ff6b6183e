//! Notifications an app can use: a stable `type` (the domain event), a
//! `subject`, structured `data` and an app `route` (never a platform
//! path); the unread filter, `unread-count` with its ETag, `read-all`;
//! other people's notifications stay invisible; old rows still read.

use std::collections::BTreeSet;

use kujenga::db::notifications::NotificationRow;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::access::{approve, id_of, person, requested, world};
use crate::helpers::audit::institution_id;
use crate::helpers::http::{body_of, call, etag_of, send, strings};
use crate::helpers::{Account, TestApp, problem};

// ----- helpers ------------------------------------------------------------

const LIST: &str = "/api/v1/me/notifications";
const COUNT: &str = "/api/v1/me/notifications/unread-count";
const READ_ALL: &str = "/api/v1/me/notifications/read-all";
const NO_SUCH_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

/// Every notification of the caller (newest first), checked for the shape
/// every one has.
async fn all(app: &TestApp, who: &Account) -> Vec<Value> {
    let page = body_of(
        app.get_auth(&format!("{LIST}?limit=100"), &who.access)
            .await,
        200,
    )
    .await;
    let items = page["items"].as_array().unwrap().clone();
    for n in &items {
        let keys: BTreeSet<&str> = n.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "id",
                "type",
                "kind",
                "subject",
                "data",
                "route",
                "title",
                "body",
                "created_at",
                "read_at"
            ]),
            "{n}"
        );
        let ty = n["type"].as_str().unwrap();
        assert!(ty.contains('.') && !ty.contains(' '), "{n}");
        assert!(
            n["subject"]["kind"].is_string() && n["subject"]["id"].is_string(),
            "{n}"
        );
        assert!(n["data"].is_object(), "{n}");
        assert!(!n["title"].as_str().unwrap().is_empty(), "{n}");
        // No platform path anywhere: the app builds its own links.
        let text = n.to_string();
        assert!(!text.contains("/api/") && !text.contains("\"/"), "{n}");
        if !n["route"].is_null() {
            assert!(n["route"]["route"].is_string(), "{n}");
            assert!(n["route"]["params"].is_object(), "{n}");
        }
    }
    items
}

/// The caller's only notification of `ty`.
async fn the_one(app: &TestApp, who: &Account, ty: &str) -> Value {
    let found: Vec<Value> = all(app, who)
        .await
        .into_iter()
        .filter(|n| n["type"] == ty)
        .collect();
    assert_eq!(found.len(), 1, "{ty}: {found:?}");
    found[0].clone()
}

async fn token_for(app: &TestApp, who: &Account, name: &str) -> String {
    let res = app
        .post_json(
            "/api/v1/me/tokens",
            json!({"name": name, "scopes": ["read"]}),
            Some(&who.access),
        )
        .await;
    id_of(&body_of(res, 201).await)
}

async fn unread(app: &TestApp, who: &Account) -> i64 {
    let body = body_of(app.get_auth(COUNT, &who.access).await, 200).await;
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body["unread"].as_i64().unwrap()
}

async fn read_all(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    call(app, Method::POST, READ_ALL, token, None).await
}

async fn mark(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    call(
        app,
        Method::POST,
        &format!("{LIST}/{id}/read"),
        Some(token),
        None,
    )
    .await
}

// ----- type, subject, data, route -----------------------------------------

api_test!(
    access_notifications_carry_type_subject_and_data,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let amina = person(app, "amina@example.org", Some("KE")).await;
        let ds = w.dataset("Swahili speech", json!({})).await;
        let req = id_of(&requested(app, &amina, &ds.id).await);

        // The deciders are told of the request.
        for decider in [&w.owner, &w.editor] {
            let n = the_one(app, decider, "access_request.created").await;
            assert_eq!(n["kind"], "access_requested");
            assert_eq!(n["subject"], json!({"kind": "access_request", "id": req}));
            assert_eq!(
                n["data"],
                json!({
                    "request_id": req,
                    "dataset_id": ds.id,
                    "dataset_title": "Swahili speech",
                    "owner_institution_name": "Institution ke-lab",
                    "requester_name": "Test Person",
                    "institution_name": null,
                    "institution_slug": null,
                    "duration_days": 90,
                    "purpose": crate::helpers::access::PURPOSE,
                })
            );
            assert_eq!(
                n["route"],
                json!({"route": "access_request", "params": {"id": req}})
            );
            assert!(
                n["title"].as_str().unwrap().contains("Swahili speech"),
                "{n}"
            );
            assert_eq!(n["read_at"], Value::Null);
        }

        // The requester is told of the decision, with the grant's end.
        let approved = approve(app, &w.owner.access, &req).await;
        let n = the_one(app, &amina, "access_request.approved").await;
        assert_eq!(n["kind"], "access_decided");
        assert_eq!(n["subject"], json!({"kind": "access_request", "id": req}));
        assert_eq!(
            n["data"],
            json!({
                "request_id": req,
                "dataset_id": ds.id,
                "dataset_title": "Swahili speech",
                "owner_institution_name": "Institution ke-lab",
                "status": "approved",
                "note": "Approved.",
                "expires_at": approved["expires_at"],
            })
        );
        assert!(n["data"]["expires_at"].is_string(), "{n}");
        assert_eq!(
            n["route"],
            json!({"route": "access_request", "params": {"id": req}})
        );

        // Revoked: another type, the same subject, the words of the API.
        let res = call(
            app,
            Method::POST,
            &format!("/api/v1/access-requests/{req}/revoke"),
            Some(&w.owner.access),
            Some(json!({"note": "The project ended."})),
        )
        .await;
        body_of(res, 200).await;
        let n = the_one(app, &amina, "access_request.revoked").await;
        assert_eq!(n["kind"], "access_ended");
        assert_eq!(n["subject"], json!({"kind": "access_request", "id": req}));
        assert_eq!(n["data"]["status"], "revoked");
        assert_eq!(n["data"]["reason"], "revoked");
        assert_eq!(n["data"]["note"], "The project ended.");
        assert_eq!(n["data"]["dataset_id"], ds.id.as_str());
    }
);

api_test!(
    institution_and_token_notifications_carry_type_subject_and_data,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let inst = institution_id(app, &w.root.access, "ke-lab").await;
        let route = json!({"route": "institution", "params": {"slug": "ke-lab"}});

        let n = the_one(app, &w.owner, "institution.verified").await;
        assert_eq!(n["kind"], "institution_verified");
        assert_eq!(n["subject"], json!({"kind": "institution", "id": inst}));
        assert_eq!(
            n["data"],
            json!({"institution_slug": "ke-lab", "institution_name": "Institution ke-lab",
               "role": "owner"})
        );
        assert_eq!(n["route"], route);

        let n = the_one(app, &w.member, "membership.added").await;
        assert_eq!(n["subject"], json!({"kind": "institution", "id": inst}));
        assert_eq!(
            n["data"],
            json!({"institution_slug": "ke-lab", "institution_name": "Institution ke-lab",
               "role": "member"})
        );
        assert_eq!(n["route"], route);

        // The member becomes an editor, then is removed.
        let member_path = format!("/api/v1/institutions/ke-lab/members/{}", w.member.id);
        let res = call(
            app,
            Method::PATCH,
            &member_path,
            Some(&w.owner.access),
            Some(json!({"role": "editor"})),
        )
        .await;
        body_of(res, 200).await;
        let n = the_one(app, &w.member, "membership.role_changed").await;
        assert_eq!(n["kind"], "member_role_changed");
        assert_eq!(
            n["data"],
            json!({"institution_slug": "ke-lab", "institution_name": "Institution ke-lab",
               "role": "editor", "previous_role": "member"})
        );
        let res = call(
            app,
            Method::DELETE,
            &member_path,
            Some(&w.owner.access),
            None,
        )
        .await;
        assert_eq!(res.status(), 204);
        let n = the_one(app, &w.member, "membership.removed").await;
        assert_eq!(n["kind"], "member_removed");
        assert_eq!(n["subject"], json!({"kind": "institution", "id": inst}));
        assert_eq!(
            n["data"],
            json!({"institution_slug": "ke-lab", "institution_name": "Institution ke-lab",
               "previous_role": "editor"})
        );
        assert_eq!(n["route"], route);

        // A new API token: about the token, leading to the token settings.
        let token = token_for(app, &w.editor, "harvester").await;
        let n = the_one(app, &w.editor, "api_token.created").await;
        assert_eq!(n["kind"], "api_token_created");
        assert_eq!(n["subject"], json!({"kind": "api_token", "id": token}));
        assert_eq!(
            n["data"],
            json!({"token_id": token, "token_name": "harvester"})
        );
        assert_eq!(n["route"], json!({"route": "api_tokens", "params": {}}));

        // A password change: about the person, leading to security settings.
        let res = call(
            app,
            Method::POST,
            "/api/v1/me/password",
            Some(&w.editor.access),
            Some(json!({"current_password": crate::helpers::PASSWORD,
                    "new_password": "another long passphrase for testing"})),
        )
        .await;
        assert!(res.status().is_success(), "{}", res.status());
        let n = the_one(app, &w.editor, "user.password_changed").await;
        assert_eq!(n["subject"], json!({"kind": "user", "id": w.editor.id}));
        assert_eq!(n["data"], json!({}));
        assert_eq!(
            n["route"],
            json!({"route": "security_settings", "params": {}})
        );
    }
);

// ----- unread, unread-count, read-all -------------------------------------

api_test!(unread_filter_count_and_read_all, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let amina = person(app, "amina@example.org", None).await;
    let bakari = person(app, "bakari@example.org", None).await;
    for name in ["one", "two", "three"] {
        token_for(app, &amina, name).await;
    }
    token_for(app, &bakari, "theirs").await;
    assert_eq!(unread(app, &amina).await, 3);
    assert_eq!(unread(app, &bakari).await, 1);

    // The count carries a strong ETag; an unchanged count is a 304.
    let res = app.get_auth(COUNT, &amina.access).await;
    let three = etag_of(&res);
    assert!(three.starts_with('"'), "{three}");
    assert_eq!(body_of(res, 200).await, json!({"unread": 3}));
    let at = amina.access.as_str();
    let revalidate = |tag: String| async move {
        send(
            app,
            Method::GET,
            COUNT,
            Some(at),
            None,
            &[("If-None-Match", &tag)],
        )
        .await
    };
    let res = revalidate(three.clone()).await;
    assert_eq!(res.status(), 304);
    assert_eq!(etag_of(&res), three);
    assert!(res.bytes().await.unwrap().is_empty());

    // Reading one: the unread filter and the count follow.
    let items = all(app, &amina).await;
    let newest = items[0]["id"].as_str().unwrap().to_string();
    let read = body_of(mark(app, &amina.access, &newest).await, 200).await;
    assert!(read["read_at"].is_string(), "{read}");
    assert_eq!(read["type"], "api_token.created");
    let page = body_of(
        app.get_auth(&format!("{LIST}?unread=true"), &amina.access)
            .await,
        200,
    )
    .await;
    let ids = strings(&page["items"], "id");
    assert_eq!(ids.len(), 2, "{page}");
    assert!(!ids.contains(&newest), "{page}");
    let res = revalidate(three.clone()).await;
    assert_eq!(res.status(), 200);
    let two = etag_of(&res);
    assert_ne!(two, three);
    assert_eq!(body_of(res, 200).await, json!({"unread": 2}));
    assert_eq!(revalidate(two.clone()).await.status(), 304);

    // Read all: how many it marked; then nothing is unread, and again
    // marks nothing. Bakari's are untouched.
    let res = read_all(app, Some(&amina.access)).await;
    assert_eq!(body_of(res, 200).await, json!({"marked": 2}));
    assert_eq!(unread(app, &amina).await, 0);
    let page = body_of(
        app.get_auth(&format!("{LIST}?unread=true"), &amina.access)
            .await,
        200,
    )
    .await;
    assert_eq!(page["items"], json!([]));
    assert!(
        all(app, &amina)
            .await
            .iter()
            .all(|n| n["read_at"].is_string()),
        "every one read"
    );
    assert_eq!(
        body_of(read_all(app, Some(&amina.access)).await, 200).await,
        json!({"marked": 0})
    );
    assert_eq!(unread(app, &bakari).await, 1);
    let res = revalidate(two).await;
    assert_eq!(body_of(res, 200).await, json!({"unread": 0}));
    // A new notification is unread again.
    token_for(app, &amina, "four").await;
    assert_eq!(unread(app, &amina).await, 1);
});

api_test!(other_peoples_notifications_are_invisible, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let amina = person(app, "amina@example.org", None).await;
    let bakari = person(app, "bakari@example.org", None).await;
    token_for(app, &amina, "mine").await;
    token_for(app, &bakari, "theirs").await;
    let theirs = all(app, &bakari).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mine = all(app, &amina).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["data"]["token_name"], "mine");

    // Marking someone else's: 404, as for one that does not exist; theirs
    // stays unread.
    problem(mark(app, &amina.access, &theirs).await, 404).await;
    problem(mark(app, &amina.access, NO_SUCH_ID).await, 404).await;
    problem(mark(app, &amina.access, "not-an-id").await, 404).await;
    assert_eq!(unread(app, &bakari).await, 1);
    assert!(all(app, &bakari).await[0]["read_at"].is_null());
    // Read-all marks only one's own.
    assert_eq!(
        body_of(read_all(app, Some(&amina.access)).await, 200).await,
        json!({"marked": 1})
    );
    assert_eq!(unread(app, &bakari).await, 1);
});

api_test!(
    notification_endpoints_refuse_bad_input_and_anonymous_callers,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let amina = person(app, "amina@example.org", None).await;
        token_for(app, &amina, "mine").await;
        problem(app.get(COUNT).await, 401).await;
        problem(read_all(app, None).await, 401).await;
        problem(app.get_auth(COUNT, "not-a-token").await, 401).await;
        problem(read_all(app, Some("not-a-token")).await, 401).await;
        for bad in ["maybe", "", "1x"] {
            let res = app
                .get_auth(&format!("{LIST}?unread={bad}"), &amina.access)
                .await;
            let p = problem(res, 400).await;
            assert_eq!(strings(&p["errors"], "field"), ["unread"], "{p}");
        }
        // Other methods: 405.
        for (method, path) in [(Method::POST, COUNT), (Method::GET, READ_ALL)] {
            let res = call(app, method, path, Some(&amina.access), None).await;
            assert_eq!(res.status(), 405, "{path}");
        }
        // Nothing changed.
        assert_eq!(unread(app, &amina).await, 1);
    }
);

// ----- notifications written before types ---------------------------------

/// Writes a notification as an older version did: no type, subject or data.
async fn old_row(
    app: &TestApp,
    who: &Account,
    kind: &str,
    title: &str,
    link: Option<&str>,
) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let row = NotificationRow {
        id: id.clone(),
        user_id: who.id.clone(),
        kind: kind.into(),
        title: title.into(),
        body: "Written before notifications had types.".into(),
        link: link.map(str::to_string),
        created_at: chrono::Utc::now().naive_utc(),
        read_at: None,
        event_type: None,
        subject_kind: None,
        subject_id: None,
        data: None,
    };
    app.db
        .run(move |conn| kujenga::db::notifications::insert(conn, &row))
        .await
        .unwrap();
    id
}

api_test!(old_notifications_still_read_with_defaults, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let who = &w.member;
    let inst = institution_id(app, &w.root.access, "ke-lab").await;
    let req = NO_SUCH_ID;
    let rejected = old_row(
        app,
        who,
        "access_decided",
        "Your request for Old data was rejected",
        Some(&format!("/access-requests/{req}")),
    )
    .await;
    let verified = old_row(
        app,
        who,
        "institution_verified",
        "Institution ke-lab is verified",
        Some("/institutions/ke-lab"),
    )
    .await;
    let removed = old_row(
        app,
        who,
        "member_removed",
        "You are no longer a member of Gone",
        Some("/institutions"),
    )
    .await;
    let ended = old_row(
        app,
        who,
        "partnership_membership_ended",
        "Institution x was removed from Partnership gone",
        Some("/partnerships/gone"),
    )
    .await;

    let items = all(app, who).await;
    let by_id = |id: &str| {
        items
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {items:?}"))
            .clone()
    };
    let n = by_id(&rejected);
    assert_eq!(n["type"], "access_request.rejected");
    assert_eq!(n["subject"], json!({"kind": "access_request", "id": req}));
    assert_eq!(
        n["data"],
        json!({"legacy": true, "request_id": req, "status": "rejected"})
    );
    assert_eq!(
        n["route"],
        json!({"route": "access_request", "params": {"id": req}})
    );
    let n = by_id(&verified);
    assert_eq!(n["type"], "institution.verified");
    assert_eq!(n["subject"], json!({"kind": "institution", "id": inst}));
    assert_eq!(
        n["route"],
        json!({"route": "institution", "params": {"slug": "ke-lab"}})
    );
    // Nothing to lead to, and no subject left but the person.
    let n = by_id(&removed);
    assert_eq!(n["type"], "membership.removed");
    assert_eq!(n["subject"], json!({"kind": "user", "id": who.id}));
    assert_eq!(n["data"], json!({"legacy": true}));
    assert_eq!(n["route"], Value::Null);
    let n = by_id(&ended);
    assert_eq!(n["type"], "partnership.member_removed");
    assert_eq!(n["subject"], json!({"kind": "user", "id": who.id}));
    assert_eq!(
        n["route"],
        json!({"route": "partnership", "params": {"slug": "gone"}})
    );

    // They count, filter and mark like the others.
    assert_eq!(
        unread(app, who).await,
        i64::try_from(items.iter().filter(|n| n["read_at"].is_null()).count()).unwrap()
    );
    let n = body_of(mark(app, &who.access, &rejected).await, 200).await;
    assert_eq!(n["type"], "access_request.rejected");
    assert!(n["read_at"].is_string());
});
