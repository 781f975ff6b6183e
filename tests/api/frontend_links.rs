//! Client apps (issue 16, point 7), the remaining emailed links: an email
//! change (`PATCH /me`) and a partnership invitation may name a client app
//! (`client_id`, optionally `link_base`), and the email's links then start
//! with its registered base; an unknown app or base is a 400 with a coded
//! field error and nothing changes or is sent; without one, the platform's
//! frontend URL stays the default.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::frontend_clients::{
    DEFAULT_BASE, bodies, links_to, outbox_size, register_client, start, web_app,
};
use crate::helpers::accounts::{admin, set_platform_role};
use crate::helpers::http::{body_of, call, invalid};
use crate::helpers::institutions::{create_slug, verify};
use crate::helpers::{PASSWORD, TestApp};

const BASE: &str = "https://jifunze.example.ke/app";
const BETA: &str = "https://beta.jifunze.example.ke";
const UNKNOWN: &str = "0193a5c2-7f10-7000-8000-000000000000";

/// A 400 naming exactly `field`, whose error carries `code` (any code when
/// `None`).
async fn refused(res: reqwest::Response, field: &str, code: Option<&str>, case: &str) {
    let p = invalid(res, &[field]).await;
    let got = p["errors"][0]["code"].as_str().unwrap_or_default();
    assert!(!got.is_empty(), "{case}: no code in {p}");
    if let Some(code) = code {
        assert_eq!(got, code, "{case}: {p}");
    }
}

async fn patch_me(app: &TestApp, access: &str, body: Value) -> reqwest::Response {
    call(app, Method::PATCH, "/api/v1/me", Some(access), Some(body)).await
}

api_test!(an_email_change_links_to_the_named_client_base, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let client = register_client(&app, &root.access, web_app()).await;
    let client_id = client["id"].as_str().unwrap();
    let amina = app.signup("amina@example.org").await;

    // The app's default base.
    let res = patch_me(
        &app,
        &amina.access,
        json!({"email": "amina@new.example.org", "current_password": PASSWORD,
               "client_id": client_id}),
    )
    .await;
    assert_eq!(
        body_of(res, 200).await["pending_email"],
        "amina@new.example.org"
    );
    links_to(
        &app,
        "amina@new.example.org",
        "verify_email",
        &format!("{BASE}/verify-email?token="),
    )
    .await;
    // The link works like any other: the new address replaces the old.
    let token = app
        .last_email_data("amina@new.example.org", "verify_email")
        .await
        .unwrap()["token"]
        .clone();
    let res = app
        .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
        .await;
    assert_eq!(res.status(), 200);
    let me = body_of(app.get_auth("/api/v1/me", &amina.access).await, 200).await;
    assert_eq!(me["email"], "amina@new.example.org");

    // Another of its bases, by name.
    let res = patch_me(
        &app,
        &amina.access,
        json!({"email": "amina@beta.example.org", "current_password": PASSWORD,
               "client_id": client_id, "link_base": format!("{BETA}/")}),
    )
    .await;
    assert_eq!(res.status(), 200);
    links_to(
        &app,
        "amina@beta.example.org",
        "verify_email",
        &format!("{BETA}/verify-email?token="),
    )
    .await;

    // Without a client: the platform's frontend URL, as always.
    let res = patch_me(
        &app,
        &amina.access,
        json!({"email": "amina@plain.example.org", "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let (text, html) = bodies(&app, "amina@plain.example.org", "verify_email").await;
    for part in [&text, &html] {
        assert!(
            part.contains(&format!("{DEFAULT_BASE}/verify-email?token=")),
            "{part}"
        );
        assert!(!part.contains("jifunze"), "{part}");
    }
});

api_test!(
    an_email_change_naming_an_unknown_client_changes_nothing,
    |backend| {
        let app = start(backend).await;
        let root = admin(&app, "root@example.org").await;
        let client = register_client(&app, &root.access, web_app()).await;
        let client_id = client["id"].as_str().unwrap().to_string();
        let amina = app.signup("amina@example.org").await;
        let before = body_of(app.get_auth("/api/v1/me", &amina.access).await, 200).await;
        let emails_before = outbox_size(&app).await;
        let change = |extra: Value| {
            let mut body = json!({"email": "amina@new.example.org",
                                  "current_password": PASSWORD, "display_name": "Amina W"});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        // (body, field, code, case)
        let cases: Vec<(Value, &str, Option<&str>, &str)> = vec![
            (
                change(json!({"client_id": UNKNOWN})),
                "client_id",
                Some("not_found"),
                "unknown app",
            ),
            (
                change(json!({"client_id": "not even an id"})),
                "client_id",
                Some("not_found"),
                "not an id",
            ),
            (
                change(json!({"client_id": client_id, "link_base": "https://evil.example"})),
                "link_base",
                None,
                "a base the app did not register",
            ),
            (
                change(json!({"link_base": BASE})),
                "link_base",
                Some("inconsistent"),
                "a base without its app",
            ),
            (
                json!({"display_name": "Amina W", "client_id": UNKNOWN}),
                "client_id",
                Some("not_found"),
                "unknown app, no address change",
            ),
        ];
        for (body, field, code, case) in cases {
            let res = patch_me(&app, &amina.access, body).await;
            assert_eq!(res.status(), 400, "{case}");
            refused(res, field, code, case).await;
        }
        // Nothing changed, nothing was queued.
        let after = body_of(app.get_auth("/api/v1/me", &amina.access).await, 200).await;
        assert_eq!(after, before);
        assert_eq!(after["pending_email"], Value::Null);
        assert_eq!(outbox_size(&app).await, emails_before);
    }
);

/// A platform coordinator with partnership `nlp`, and the owners of the
/// verified institutions `ke-lab` and `ng-lab`.
async fn partnership_world(app: &TestApp, root: &str) -> String {
    let coord = app.signup("coord@example.org").await;
    set_platform_role(app, &coord.id, "coordinator").await;
    let coord = app.signin("coord@example.org").await;
    for (owner, slug) in [("ke@example.org", "ke-lab"), ("ng@example.org", "ng-lab")] {
        let owner = app.signup(owner).await;
        create_slug(app, &owner.access, slug).await;
        verify(app, root, slug).await;
    }
    let res = app
        .post_json(
            "/api/v1/partnerships",
            json!({"slug": "nlp", "title": "African NLP", "starts_on": "2026-03-01",
                   "ends_on": "2028-02-29"}),
            Some(&coord.access),
        )
        .await;
    assert_eq!(res.status(), 201);
    coord.access
}

const MEMBERS: &str = "/api/v1/partnerships/nlp/members";

api_test!(
    a_partnership_invitation_links_to_the_named_client_base,
    |backend| {
        let app = start(backend).await;
        let root = admin(&app, "root@example.org").await;
        let client = register_client(&app, &root.access, web_app()).await;
        let client_id = client["id"].as_str().unwrap();
        let coord = partnership_world(&app, &root.access).await;

        let res = app
            .post_json(
                MEMBERS,
                json!({"institution": "ke-lab", "client_id": client_id}),
                Some(&coord),
            )
            .await;
        assert_eq!(body_of(res, 201).await["status"], "invited");
        links_to(
            &app,
            "ke@example.org",
            "partnership_invitation",
            &format!("{BASE}/partnerships/nlp"),
        )
        .await;
        // Another of its bases.
        let res = app
            .post_json(
                MEMBERS,
                json!({"institution": "ng-lab", "client_id": client_id, "link_base": BETA}),
                Some(&coord),
            )
            .await;
        assert_eq!(res.status(), 201);
        links_to(
            &app,
            "ng@example.org",
            "partnership_invitation",
            &format!("{BETA}/partnerships/nlp"),
        )
        .await;
    }
);

api_test!(
    a_partnership_invitation_naming_an_unknown_client_invites_nobody,
    |backend| {
        let app = start(backend).await;
        let root = admin(&app, "root@example.org").await;
        let client = register_client(&app, &root.access, web_app()).await;
        let client_id = client["id"].as_str().unwrap().to_string();
        let coord = partnership_world(&app, &root.access).await;
        let emails_before = outbox_size(&app).await;
        let cases: Vec<(Value, &str, Option<&str>, &str)> = vec![
            (
                json!({"institution": "ke-lab", "client_id": UNKNOWN}),
                "client_id",
                Some("not_found"),
                "unknown app",
            ),
            (
                json!({"institution": "ke-lab", "client_id": client_id,
                       "link_base": "https://evil.example"}),
                "link_base",
                None,
                "a base the app did not register",
            ),
            (
                json!({"institution": "ke-lab", "link_base": BASE}),
                "link_base",
                Some("inconsistent"),
                "a base without its app",
            ),
        ];
        for (body, field, code, case) in cases {
            let res = app.post_json(MEMBERS, body, Some(&coord)).await;
            assert_eq!(res.status(), 400, "{case}");
            refused(res, field, code, case).await;
        }
        // Nobody was invited or told.
        let members = body_of(app.get_auth(MEMBERS, &coord).await, 200).await;
        assert_eq!(members["items"], json!([]));
        assert_eq!(outbox_size(&app).await, emails_before);
        let notes = body_of(
            app.get_auth(
                "/api/v1/me/notifications",
                &app.signin("ke@example.org").await.access,
            )
            .await,
            200,
        )
        .await;
        let about_partnerships = notes["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["subject"]["kind"] == "partnership")
            .count();
        assert_eq!(about_partnerships, 0, "{notes}");

        // Without a client: the platform's frontend URL.
        let res = app
            .post_json(MEMBERS, json!({"institution": "ke-lab"}), Some(&coord))
            .await;
        assert_eq!(res.status(), 201);
        let (text, html) = bodies(&app, "ke@example.org", "partnership_invitation").await;
        for part in [&text, &html] {
            assert!(
                part.contains(&format!("{DEFAULT_BASE}/partnerships/nlp")),
                "{part}"
            );
            assert!(!part.contains("jifunze"), "{part}");
        }
    }
);
