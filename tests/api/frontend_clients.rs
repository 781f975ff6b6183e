//! Client apps (issue 16, point 7): admins register partner frontends at
//! `/admin/clients` (audited); register, password reset, verification
//! resend and invitations may name one, and their emails then link to its
//! registered base — never to one the request made up; CORS lets in the
//! apps' origins. And point 8: an expired verification link says how to get
//! a new one.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::{admin, unverified};
use crate::helpers::audit;
use crate::helpers::http::{body_of, call, etag_of, invalid, send, typed, walk};
use crate::helpers::institutions::{create_slug, inst_path};
use crate::helpers::{Backend, PASSWORD, TestApp, problem, spawn_app_with};

const CLIENTS: &str = "/api/v1/admin/clients";
/// The platform's frontend URL in these tests (the default links).
pub(crate) const DEFAULT_BASE: &str = "https://platform.example.org";

/// Emails stay in the outbox (no worker), so their rendered bodies can be
/// read; password hashing is cheap and rate limits generous.
pub(crate) async fn start(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.mail.worker = false;
        s.platform.frontend_url = DEFAULT_BASE.into();
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.auth.email_link_interval_secs = 0;
        s.rate_limit.register_per_hour = 10_000;
        s.rate_limit.login_per_minute = 10_000;
        s.rate_limit.password_reset_per_hour = 10_000;
    })
    .await
    .expect("app")
}

pub(crate) fn web_app() -> Value {
    json!({
        "name": "Jifunze web",
        "allowed_link_bases": ["https://jifunze.example.ke/app/", "https://beta.jifunze.example.ke"],
        "allowed_origins": ["https://jifunze.example.ke"],
        "cookie_sessions": true,
    })
}

pub(crate) async fn register_client(app: &TestApp, admin: &str, body: Value) -> Value {
    body_of(app.post_json(CLIENTS, body, Some(admin)).await, 201).await
}

/// The text and HTML of the newest `template` email to `to` (queued: no worker).
pub(crate) async fn bodies(app: &TestApp, to: &str, template: &str) -> (String, String) {
    use diesel::prelude::*;
    use kujenga::db::schema::outbox_emails as oe;
    let (to, template) = (to.to_string(), template.to_string());
    app.db
        .run(move |conn| {
            oe::table
                .filter(oe::recipient.eq(to))
                .filter(oe::template.eq(template))
                .order((oe::created_at.desc(), oe::id.desc()))
                .select((oe::text_body, oe::html_body))
                .first::<(String, String)>(conn)
        })
        .await
        .expect("an email")
}

/// Every email in the outbox.
pub(crate) async fn outbox_size(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use kujenga::db::schema::outbox_emails as oe;
    app.db
        .run(|conn| oe::table.count().get_result::<i64>(conn))
        .await
        .unwrap()
}

/// Both parts of the newest `template` email to `to` link to `base + path`
/// and nowhere under the platform's default URL.
pub(crate) async fn links_to(app: &TestApp, to: &str, template: &str, link: &str) {
    let (text, html) = bodies(app, to, template).await;
    for part in [&text, &html] {
        assert!(
            part.contains(link),
            "{template} to {to} lacks {link}: {part}"
        );
        assert!(!part.contains(DEFAULT_BASE), "{template}: {part}");
    }
}

api_test!(
    admins_register_read_change_and_delete_client_apps,
    |backend| {
        let app = start(backend).await;
        let root = admin(&app, "root@example.org").await;
        let res = app.post_json(CLIENTS, web_app(), Some(&root.access)).await;
        assert_eq!(res.status(), 201);
        let etag = etag_of(&res);
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let created: Value = res.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(location, format!("{CLIENTS}/{id}"));
        assert_eq!(created["name"], "Jifunze web");
        // Bases are normalised (no trailing slash); the first is the default.
        assert_eq!(
            created["allowed_link_bases"],
            json!([
                "https://jifunze.example.ke/app",
                "https://beta.jifunze.example.ke"
            ])
        );
        assert_eq!(created["link_base"], "https://jifunze.example.ke/app");
        assert_eq!(
            created["allowed_origins"],
            json!(["https://jifunze.example.ke"])
        );
        assert_eq!(created["cookie_sessions"], true);
        assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

        // Read back, with its ETag and 304.
        let res = app.get_auth(&location, &root.access).await;
        assert_eq!(etag_of(&res), etag);
        assert_eq!(body_of(res, 200).await, created);
        let res = send(
            &app,
            Method::GET,
            &location,
            Some(&root.access),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
        assert_eq!(res.status(), 304);

        // The one-base shorthand, and an app without cookie sessions or origins.
        let mobile = register_client(
            &app,
            &root.access,
            json!({"name": "Jifunze Android", "link_base": "https://m.jifunze.example.ke"}),
        )
        .await;
        assert_eq!(
            mobile["allowed_link_bases"],
            json!(["https://m.jifunze.example.ke"])
        );
        assert_eq!(mobile["allowed_origins"], json!([]));
        assert_eq!(mobile["cookie_sessions"], false);
        // The list, oldest first, one page at a time.
        let ids = walk(&app, Some(&root.access), CLIENTS, "id").await;
        assert_eq!(
            ids,
            vec![id.clone(), mobile["id"].as_str().unwrap().to_string()]
        );

        // A change with a stale If-Match is refused, nothing changed.
        let patch =
            json!({"allowed_origins": ["https://jifunze.example.ke", "http://localhost:5173"]});
        let res = send(
            &app,
            Method::PATCH,
            &location,
            Some(&root.access),
            Some(patch.clone()),
            &[("if-match", "\"stale\"")],
        )
        .await;
        typed(res, 412, "stale-version").await;
        let res = send(
            &app,
            Method::PATCH,
            &location,
            Some(&root.access),
            Some(patch),
            &[("if-match", &etag)],
        )
        .await;
        assert_ne!(etag_of(&res), etag);
        let changed = body_of(res, 200).await;
        assert_eq!(
            changed["allowed_origins"],
            json!(["https://jifunze.example.ke", "http://localhost:5173"])
        );
        assert_eq!(changed["allowed_link_bases"], created["allowed_link_bases"]);
        // `link_base` replaces the whole list.
        let res = call(
            &app,
            Method::PATCH,
            &location,
            Some(&root.access),
            Some(json!({"link_base": "https://jifunze.example.ke", "name": "Jifunze"})),
        )
        .await;
        let changed = body_of(res, 200).await;
        assert_eq!(
            changed["allowed_link_bases"],
            json!(["https://jifunze.example.ke"])
        );
        assert_eq!(changed["name"], "Jifunze");
        // A change to nothing new records nothing.
        let before = audit::events(&app, &root.access, &format!("subject_id={id}")).await;
        let res = call(
            &app,
            Method::PATCH,
            &location,
            Some(&root.access),
            Some(json!({"name": "Jifunze"})),
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            audit::events(&app, &root.access, &format!("subject_id={id}"))
                .await
                .len(),
            before.len()
        );

        // Delete (a stale If-Match first), then it is gone.
        let res = send(
            &app,
            Method::DELETE,
            &location,
            Some(&root.access),
            None,
            &[("if-match", "\"stale\"")],
        )
        .await;
        typed(res, 412, "stale-version").await;
        let res = call(&app, Method::DELETE, &location, Some(&root.access), None).await;
        assert_eq!(res.status(), 204);
        problem(app.get_auth(&location, &root.access).await, 404).await;
        problem(
            call(&app, Method::DELETE, &location, Some(&root.access), None).await,
            404,
        )
        .await;
        problem(
            call(
                &app,
                Method::PATCH,
                &location,
                Some(&root.access),
                Some(json!({"name": "x"})),
            )
            .await,
            404,
        )
        .await;

        // Every action is audited, by the admin, oldest last.
        let entries = audit::events(&app, &root.access, &format!("subject_id={id}")).await;
        let actions: Vec<&str> = entries
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "client_app.deleted",
                "client_app.updated",
                "client_app.updated",
                "client_app.created"
            ]
        );
        for e in &entries {
            assert_eq!(e["actor_id"], root.id.as_str(), "{e}");
            assert_eq!(e["subject_type"], "client_app", "{e}");
        }
        assert_eq!(entries[0]["detail"], json!({"name": "Jifunze"}));
        assert_eq!(
            entries[1]["detail"]["changed"],
            json!(["name", "allowed_link_bases"])
        );
        assert_eq!(entries[2]["detail"]["changed"], json!(["allowed_origins"]));
        assert_eq!(
            entries[3]["detail"],
            json!({
                "name": "Jifunze web",
                "allowed_link_bases": ["https://jifunze.example.ke/app", "https://beta.jifunze.example.ke"],
                "allowed_origins": ["https://jifunze.example.ke"],
                "cookie_sessions": true,
            })
        );
    }
);

api_test!(only_admins_manage_client_apps, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let client = register_client(&app, &root.access, web_app()).await;
    let one = format!("{CLIENTS}/{}", client["id"].as_str().unwrap());
    let member = app.signup("member@example.org").await;
    let coordinator = app.signup("coord@example.org").await;
    crate::helpers::accounts::set_platform_role(&app, &coordinator.id, "coordinator").await;
    let coordinator = app.signin("coord@example.org").await;
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, CLIENTS.to_string(), None),
        (Method::POST, CLIENTS.to_string(), Some(web_app())),
        (Method::GET, one.clone(), None),
        (
            Method::PATCH,
            one.clone(),
            Some(json!({"name": "Mine now"})),
        ),
        (Method::DELETE, one.clone(), None),
    ];
    for (method, path, body) in &calls {
        let res = call(&app, method.clone(), path, None, body.clone()).await;
        problem(res, 401).await;
        for who in [&member.access, &coordinator.access] {
            let res = call(&app, method.clone(), path, Some(who), body.clone()).await;
            typed(res, 403, "admin-only").await;
        }
    }
    // Nothing changed.
    let page = body_of(app.get_auth(CLIENTS, &root.access).await, 200).await;
    assert_eq!(page["items"], json!([client]));
});

api_test!(bad_link_bases_and_origins_are_refused, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let with = |changes: Value| {
        let mut body = web_app();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases: Vec<(Value, Vec<&str>, &str)> = vec![
        (
            with(json!({"allowed_link_bases": ["jifunze.example.ke"]})),
            vec!["allowed_link_bases[0]"],
            "not absolute",
        ),
        (
            with(json!({"allowed_link_bases": ["/verify"]})),
            vec!["allowed_link_bases[0]"],
            "relative",
        ),
        (
            with(json!({"allowed_link_bases": ["http://jifunze.example.ke"]})),
            vec!["allowed_link_bases[0]"],
            "plain http",
        ),
        (
            with(json!({"allowed_link_bases": ["javascript:alert(1)"]})),
            vec!["allowed_link_bases[0]"],
            "javascript",
        ),
        (
            with(json!({"allowed_link_bases": ["https://a.example", "https://u:p@evil.example"]})),
            vec!["allowed_link_bases[1]"],
            "user info",
        ),
        (
            with(json!({"allowed_link_bases": ["https://jifunze.example.ke/#/verify"]})),
            vec!["allowed_link_bases[0]"],
            "fragment",
        ),
        (
            with(json!({"allowed_link_bases": ["https://jifunze.example.ke/?next=x"]})),
            vec!["allowed_link_bases[0]"],
            "query",
        ),
        (
            with(json!({"allowed_link_bases": ["https://a.example", "https://a.example/"]})),
            vec!["allowed_link_bases[1]"],
            "twice",
        ),
        (
            with(json!({"allowed_link_bases": []})),
            vec!["allowed_link_bases"],
            "none",
        ),
        (
            with(json!({"allowed_link_bases": null})),
            vec!["allowed_link_bases"],
            "missing",
        ),
        (
            with(json!({"link_base": "https://a.example"})),
            vec!["link_base"],
            "both forms",
        ),
        (
            with(json!({"allowed_link_bases": null, "link_base": "ftp://a.example"})),
            vec!["link_base"],
            "shorthand",
        ),
        (
            with(json!({"allowed_origins": ["https://jifunze.example.ke/"]})),
            vec!["allowed_origins[0]"],
            "origin with a path",
        ),
        (
            with(json!({"allowed_origins": ["https://Jifunze.example.ke"]})),
            vec!["allowed_origins[0]"],
            "origin not as browsers send it",
        ),
        (
            with(json!({"allowed_origins": ["http://jifunze.example.ke"]})),
            vec!["allowed_origins[0]"],
            "plain http origin",
        ),
        (
            with(json!({"allowed_origins": ["*"]})),
            vec!["allowed_origins[0]"],
            "wildcard",
        ),
        (
            with(json!({"allowed_origins": []})),
            vec!["allowed_origins"],
            "cookie sessions without an origin",
        ),
        (with(json!({"name": " "})), vec!["name"], "blank name"),
        (
            with(json!({"name": "x".repeat(101)})),
            vec!["name"],
            "long name",
        ),
    ];
    for (body, fields, case) in cases {
        let res = app.post_json(CLIENTS, body, Some(&root.access)).await;
        assert_eq!(res.status(), 400, "{case}");
        invalid(res, &fields).await;
    }
    // Shape errors: unknown fields, wrong types.
    for body in [
        with(json!({"redirect_uri": "https://evil.example"})),
        with(json!({"cookie_sessions": "yes"})),
        with(json!({"allowed_origins": "https://jifunze.example.ke"})),
    ] {
        typed(
            app.post_json(CLIENTS, body, Some(&root.access)).await,
            400,
            "validation-error",
        )
        .await;
    }
    // Nothing was registered or recorded.
    let page = body_of(app.get_auth(CLIENTS, &root.access).await, 200).await;
    assert_eq!(page["items"], json!([]));
    assert!(
        audit::events(&app, &root.access, "subject_type=client_app")
            .await
            .is_empty()
    );

    // A change is validated as the merged whole, and refused whole.
    let client = register_client(&app, &root.access, web_app()).await;
    let one = format!("{CLIENTS}/{}", client["id"].as_str().unwrap());
    for (patch, fields) in [
        (json!({"allowed_origins": []}), vec!["allowed_origins"]),
        (
            json!({"link_base": "http://evil.example", "name": ""}),
            vec!["link_base", "name"],
        ),
        (
            json!({"link_base": "https://a.example", "allowed_link_bases": ["https://a.example"]}),
            vec!["link_base"],
        ),
    ] {
        let res = call(&app, Method::PATCH, &one, Some(&root.access), Some(patch)).await;
        invalid(res, &fields).await;
    }
    assert_eq!(
        body_of(app.get_auth(&one, &root.access).await, 200).await,
        client
    );
});

api_test!(emails_link_to_the_named_client_base, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let client = register_client(&app, &root.access, web_app()).await;
    let client_id = client["id"].as_str().unwrap();
    let base = "https://jifunze.example.ke/app";
    let beta = "https://beta.jifunze.example.ke";

    // Registration: the app's default base.
    let res = app
        .post_json(
            "/api/v1/auth/register",
            json!({"email": "amina@example.org", "password": PASSWORD,
                   "display_name": "Amina", "client_id": client_id}),
            None,
        )
        .await;
    assert_eq!(res.status(), 202);
    links_to(
        &app,
        "amina@example.org",
        "verify_email",
        &format!("{base}/verify-email?token="),
    )
    .await;
    // Registering the unverified address again, naming another of its bases.
    let res = app
        .post_json(
            "/api/v1/auth/register",
            json!({"email": "amina@example.org", "password": PASSWORD, "display_name": "Amina",
                   "client_id": client_id, "link_base": "https://beta.jifunze.example.ke/"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(
        app.count_emails("amina@example.org", "verify_email").await,
        2
    );
    links_to(
        &app,
        "amina@example.org",
        "verify_email",
        &format!("{beta}/verify-email?token="),
    )
    .await;
    // The link works like any other.
    let token = app
        .last_email_data("amina@example.org", "verify_email")
        .await
        .unwrap()["token"]
        .clone();
    let res = app
        .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
        .await;
    assert_eq!(res.status(), 200);
    // A verified address: its owner is warned, with the app's links.
    let res = app
        .post_json(
            "/api/v1/auth/register",
            json!({"email": "amina@example.org", "password": PASSWORD,
                   "display_name": "Amina", "client_id": client_id}),
            None,
        )
        .await;
    assert_eq!(res.status(), 202);
    links_to(
        &app,
        "amina@example.org",
        "registration_attempt",
        &format!("{base}/reset-password"),
    )
    .await;

    // Password reset.
    let res = app
        .post_json(
            "/api/v1/auth/password-reset",
            json!({"email": "amina@example.org", "client_id": client_id}),
            None,
        )
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(
        app.wait_emails("amina@example.org", "password_reset", 1)
            .await,
        1
    );
    links_to(
        &app,
        "amina@example.org",
        "password_reset",
        &format!("{base}/reset-password?token="),
    )
    .await;

    // Verification resend (signed in, unverified).
    let access = unverified(&app, "kofi@example.org").await;
    let res = app
        .post_json(
            "/api/v1/auth/verify-email/resend",
            json!({"client_id": client_id, "link_base": beta}),
            Some(&access),
        )
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(
        app.count_emails("kofi@example.org", "verify_email").await,
        2
    );
    links_to(
        &app,
        "kofi@example.org",
        "verify_email",
        &format!("{beta}/verify-email?token="),
    )
    .await;
    // Without a body, as before: the platform's URL.
    let res = call(
        &app,
        Method::POST,
        "/api/v1/auth/verify-email/resend",
        Some(&access),
        None,
    )
    .await;
    assert_eq!(res.status(), 202);
    let (text, _) = bodies(&app, "kofi@example.org", "verify_email").await;
    assert!(
        text.contains(&format!("{DEFAULT_BASE}/verify-email?token=")),
        "{text}"
    );

    // An institution invitation.
    let owner = app.signup("owner@example.org").await;
    create_slug(&app, &owner.access, "lab").await;
    let res = app
        .post_json(
            &format!("{}/invitations", inst_path("lab")),
            json!({"email": "new@example.org", "role": "member", "client_id": client_id}),
            Some(&owner.access),
        )
        .await;
    assert_eq!(res.status(), 201);
    links_to(
        &app,
        "new@example.org",
        "invitation",
        &format!("{base}/invitations/accept?token="),
    )
    .await;

    // Without a client: the platform's frontend URL, as always.
    let res = app.register("plain@example.org", PASSWORD).await;
    assert_eq!(res.status(), 202);
    let (text, html) = bodies(&app, "plain@example.org", "verify_email").await;
    assert!(
        text.contains(&format!("{DEFAULT_BASE}/verify-email?token=")),
        "{text}"
    );
    assert!(
        html.contains(&format!("{DEFAULT_BASE}/verify-email?token=")),
        "{html}"
    );
});

api_test!(an_unknown_client_is_a_400_and_nothing_is_sent, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let client = register_client(&app, &root.access, web_app()).await;
    let client_id = client["id"].as_str().unwrap().to_string();
    let owner = app.signup("owner@example.org").await;
    create_slug(&app, &owner.access, "lab").await;
    let access = unverified(&app, "kofi@example.org").await;
    let unknown = "0193a5c2-7f10-7000-8000-000000000000";
    let emails_before = outbox_size(&app).await;
    let register = |extra: Value| {
        let mut body =
            json!({"email": "new@example.org", "password": PASSWORD, "display_name": "New"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    // (path, token, body, field)
    let cases: Vec<(&str, Option<&str>, Value, &str)> = vec![
        (
            "/api/v1/auth/register",
            None,
            register(json!({"client_id": unknown})),
            "client_id",
        ),
        (
            "/api/v1/auth/register",
            None,
            register(json!({"client_id": "not even an id"})),
            "client_id",
        ),
        (
            "/api/v1/auth/register",
            None,
            register(json!({"client_id": client_id, "link_base": "https://evil.example"})),
            "link_base",
        ),
        (
            "/api/v1/auth/register",
            None,
            register(json!({"client_id": client_id, "link_base": "https://jifunze.example.ke"})),
            "link_base",
        ),
        (
            "/api/v1/auth/register",
            None,
            register(json!({"link_base": "https://jifunze.example.ke/app"})),
            "link_base",
        ),
        (
            "/api/v1/auth/password-reset",
            None,
            json!({"email": "owner@example.org", "client_id": unknown}),
            "client_id",
        ),
        (
            "/api/v1/auth/password-reset",
            None,
            json!({"email": "owner@example.org", "client_id": client_id, "link_base": "https://evil.example"}),
            "link_base",
        ),
        (
            "/api/v1/auth/verify-email/resend",
            Some(&access),
            json!({"client_id": unknown}),
            "client_id",
        ),
        (
            "/api/v1/auth/verify-email/resend",
            Some(&access),
            json!({"link_base": "https://evil.example"}),
            "link_base",
        ),
        (
            "/api/v1/institutions/lab/invitations",
            Some(&owner.access),
            json!({"email": "x@example.org", "role": "member", "client_id": unknown}),
            "client_id",
        ),
        (
            "/api/v1/institutions/lab/invitations",
            Some(&owner.access),
            json!({"email": "x@example.org", "role": "member", "client_id": client_id, "link_base": "https://evil.example"}),
            "link_base",
        ),
    ];
    for (path, token, body, field) in cases {
        let res = app.post_json(path, body.clone(), token).await;
        assert_eq!(res.status(), 400, "{path} {body}");
        invalid(res, &[field]).await;
    }
    // No account was made, no invitation, no email queued.
    assert_eq!(app.login("new@example.org", PASSWORD).await.status(), 401);
    let invitations = body_of(
        app.get_auth("/api/v1/institutions/lab/invitations", &owner.access)
            .await,
        200,
    )
    .await;
    assert_eq!(invitations["items"], json!([]));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(outbox_size(&app).await, emails_before);

    // The anonymous flows still reveal nothing about the address: the
    // answers for an address with an account and one without are equal,
    // with an unknown app (400) and with a known one (202).
    for client in [unknown, client_id.as_str()] {
        let mut answers = Vec::new();
        for email in ["owner@example.org", "nobody@example.org"] {
            let res = app
                .post_json(
                    "/api/v1/auth/password-reset",
                    json!({"email": email, "client_id": client}),
                    None,
                )
                .await;
            let status = res.status();
            let mut body: Value = res.json().await.unwrap();
            body.as_object_mut().unwrap().remove("request_id");
            answers.push((status, body));
        }
        assert_eq!(answers[0], answers[1], "{client}");
    }
});

api_test!(cors_lets_in_the_registered_apps_origins, |backend| {
    let app = spawn_app_with(backend, |s| {
        s.http.cors_allowed_origins = vec!["https://configured.example.org".into()];
    })
    .await
    .unwrap();
    let root = admin(&app, "root@example.org").await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/v1/auth/refresh"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, x-csrf-token",
            )
            .send()
    };
    let web = "https://jifunze.example.ke";
    let res = preflight(web).await.unwrap();
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "not yet registered"
    );
    let client = register_client(&app, &root.access, web_app()).await;
    // Registered through this instance: allowed at once, with credentials.
    let res = preflight(web).await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(res.headers()["access-control-allow-origin"], web);
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let allowed = res.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("x-csrf-token"), "{allowed}");
    // A simple request too.
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("origin", web)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], web);
    // The configured origins keep working; others get no CORS headers.
    let res = preflight("https://configured.example.org").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://configured.example.org"
    );
    let res = preflight("https://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // A deleted app's origin is refused again.
    let one = format!("{CLIENTS}/{}", client["id"].as_str().unwrap());
    assert_eq!(
        call(&app, Method::DELETE, &one, Some(&root.access), None)
            .await
            .status(),
        204
    );
    let res = preflight(web).await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
});

api_test!(
    an_app_registered_elsewhere_is_allowed_within_seconds,
    |backend| {
        // Another instance (here: a direct insert) registers an app; this one
        // sees it once its copy is older than the TTL.
        let app = spawn_app_with(backend, |_| {}).await.unwrap();
        let origin = "https://other.example.org";
        let ask = || {
            app.client
                .get(app.url("/healthz"))
                .header("origin", origin)
                .send()
        };
        assert!(
            ask()
                .await
                .unwrap()
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
        {
            use diesel::prelude::*;
            use kujenga::db::schema::client_apps as ca;
            app.db
                .run(move |conn| {
                    diesel::insert_into(ca::table)
                        .values((
                            ca::id.eq("0193a5c2-7f10-7000-8000-0000000000aa"),
                            ca::name.eq("Elsewhere"),
                            ca::link_bases.eq(r#"["https://other.example.org"]"#),
                            ca::allowed_origins.eq(format!(r#"["{origin}"]"#)),
                            ca::cookie_sessions.eq(false),
                            ca::created_at.eq(kujenga::db::now()),
                            ca::updated_at.eq(kujenga::db::now()),
                        ))
                        .execute(conn)
                })
                .await
                .unwrap();
        }
        let deadline = std::time::Instant::now()
            + kujenga::app::clients::ORIGINS_TTL
            + std::time::Duration::from_secs(3);
        loop {
            let res = ask().await.unwrap();
            if res.headers().get("access-control-allow-origin").is_some() {
                assert_eq!(res.headers()["access-control-allow-origin"], origin);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never allowed");
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
);

api_test!(
    an_expired_verification_link_says_how_to_get_a_new_one,
    |backend| {
        let app = start(backend).await;
        assert_eq!(
            app.register("late@example.org", PASSWORD).await.status(),
            202
        );
        let token = app
            .last_email_data("late@example.org", "verify_email")
            .await
            .unwrap()["token"]
            .clone();
        {
            use diesel::prelude::*;
            use kujenga::db::schema::email_tokens as et;
            app.db
                .run(|conn| {
                    diesel::update(et::table)
                        .set(et::expires_at.eq(kujenga::db::now() - chrono::Duration::hours(1)))
                        .execute(conn)
                })
                .await
                .unwrap();
        }
        let res = app
            .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
            .await;
        let p = invalid(res, &["token"]).await;
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("/api/v1/auth/verify-email/resend"),
            "{detail}"
        );
        assert!(detail.contains("register again"), "{detail}");
        // The detail is the one error's summary: `token: <message>`.
        assert_eq!(
            detail,
            format!("token: {}", p["errors"][0]["message"].as_str().unwrap())
        );
        assert_eq!(p["errors"][0]["code"], "invalid_token");
        // And both ways work: registering again sends a fresh link…
        assert_eq!(
            app.register("late@example.org", PASSWORD).await.status(),
            202
        );
        assert_eq!(
            app.count_emails("late@example.org", "verify_email").await,
            2
        );
        // …which verifies.
        let token = app
            .last_email_data("late@example.org", "verify_email")
            .await
            .unwrap()["token"]
            .clone();
        let res = app
            .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
            .await;
        assert_eq!(res.status(), 200);
        // A spent reset link says how to get a new one too.
        let res = app
            .post_json(
                "/api/v1/auth/password-reset/confirm",
                json!({"token": "no-such-token", "new_password": "a brand new passphrase"}),
                None,
            )
            .await;
        let p = invalid(res, &["token"]).await;
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("/api/v1/auth/password-reset"),
            "{p}"
        );
    }
);
