//! `/me`, `/me/tokens`, `/me/notifications*`, `/users`, `/admin/outbox`.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::{Account, PASSWORD, TestApp, problem};

/// A second password that passes the policy.
const NEW_PASSWORD: &str = "violet tractor humming quietly";

/// Sends `method path` with an optional bearer token and JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request")
}

/// Reads a JSON body after checking the status.
async fn body_of(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.expect("body");
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).expect("JSON body")
}

/// The field names of a validation problem.
fn fields(problem: &Value) -> Vec<String> {
    assert_eq!(
        problem["type"], "urn:kujenga:problem:validation-error",
        "{problem}"
    );
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            assert!(e["message"].is_string(), "{problem}");
            e["field"].as_str().expect("field").to_string()
        })
        .collect()
}

/// A 400 validation problem naming exactly `expected` fields.
async fn invalid(res: reqwest::Response, expected: &[&str]) -> Value {
    let body = problem(res, 400).await;
    let mut got = fields(&body);
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|f| (*f).to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{body}");
    body
}

/// A 401 problem with a Bearer challenge.
async fn unauthenticated(res: reqwest::Response) {
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let url = res.url().path().to_string();
    if status != 401 || !challenge.starts_with("Bearer") {
        let text = res.text().await.unwrap_or_default();
        panic!("{url}: expected 401 with a Bearer challenge, got {status} {challenge:?}: {text}");
    }
    problem(res, 401).await;
}

/// A 403 problem of the given `urn:kujenga:problem:` type.
async fn forbidden(res: reqwest::Response, kind: &str) {
    let body = problem(res, 403).await;
    assert_eq!(
        body["type"],
        format!("urn:kujenga:problem:{kind}"),
        "{body}"
    );
}

async fn me(app: &TestApp, token: &str) -> Value {
    body_of(app.get_auth("/api/v1/me", token).await, 200).await
}

async fn create_token(app: &TestApp, token: &str, name: &str, scopes: &[&str]) -> Value {
    let res = call(
        app,
        Method::POST,
        "/api/v1/me/tokens",
        Some(token),
        Some(json!({"name": name, "scopes": scopes})),
    )
    .await;
    body_of(res, 201).await
}

fn secret(token: &Value) -> String {
    token["token"].as_str().expect("secret").to_string()
}

fn link_header(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_string())
}

/// Walks a list with `limit=1` and returns the ids of every page, checking
/// `next_cursor` and `Link` on the way.
async fn walk(app: &TestApp, token: &str, path: &str, key: &str) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    for _ in 0..50 {
        let url = match &cursor {
            None => format!("{path}{sep}limit=1"),
            Some(c) => format!("{path}{sep}limit=1&cursor={c}"),
        };
        let res = app.get_auth(&url, token).await;
        let link = link_header(&res);
        let page = body_of(res, 200).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 1, "{page}");
        seen.extend(items.iter().map(|i| i[key].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => {
                let link = link.expect("a Link header with a next page");
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                assert!(link.contains(&format!("cursor={c}")), "{link}");
                assert!(link.contains("limit=1"), "{link}");
                cursor = Some(c.to_string());
            }
            None => {
                assert!(link.is_none(), "no Link on the last page");
                return seen;
            }
        }
    }
    panic!("pagination did not end");
}

/// Unknown to every table: a well-formed id that exists nowhere.
const NO_SUCH_ID: &str = "01900000-0000-7000-8000-000000000000";

// ----- GET /me ------------------------------------------------------------

api_test!(get_me_answers_the_profile_with_an_etag, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;

    let res = app.get_auth("/api/v1/me", &amina.access).await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong: {etag}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["id"], amina.id.as_str());
    assert_eq!(body["email"], "amina.wanjiru@example.org");
    assert_eq!(body["display_name"], "Test Person");
    assert_eq!(body["role"], "member");
    assert_eq!(body["email_verified"], true);
    assert_eq!(body["country"], Value::Null);
    assert_eq!(body["languages"], json!([]));
    assert!(body.get("password_hash").is_none(), "{body}");
    assert!(body.get("token_version").is_none(), "{body}");

    // The client's copy is current → 304, with the tag and no body.
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&amina.access)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
    assert!(res.bytes().await.unwrap().is_empty());
    // A stale copy → 200.
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&amina.access)
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
});

/// Every endpoint of this module, with a body it would accept.
fn account_endpoints() -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/me".into(), None),
        (
            Method::PATCH,
            "/api/v1/me".into(),
            Some(json!({"display_name": "Someone"})),
        ),
        (Method::DELETE, "/api/v1/me".into(), None),
        (
            Method::POST,
            "/api/v1/me/password".into(),
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        ),
        (Method::GET, "/api/v1/me/tokens".into(), None),
        (
            Method::POST,
            "/api/v1/me/tokens".into(),
            Some(json!({"name": "ci", "scopes": ["read"]})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/me/tokens/{NO_SUCH_ID}"),
            None,
        ),
        (Method::GET, "/api/v1/me/notifications".into(), None),
        (
            Method::POST,
            format!("/api/v1/me/notifications/{NO_SUCH_ID}/read"),
            None,
        ),
        (
            Method::GET,
            "/api/v1/me/notification-preferences".into(),
            None,
        ),
        (
            Method::PUT,
            "/api/v1/me/notification-preferences".into(),
            Some(json!({"items": []})),
        ),
        (Method::GET, "/api/v1/users".into(), None),
        (Method::GET, format!("/api/v1/users/{NO_SUCH_ID}"), None),
        (
            Method::PATCH,
            format!("/api/v1/users/{NO_SUCH_ID}"),
            Some(json!({"role": "member"})),
        ),
        (Method::GET, "/api/v1/admin/outbox".into(), None),
        (
            Method::POST,
            format!("/api/v1/admin/outbox/{NO_SUCH_ID}/retry"),
            None,
        ),
    ]
}

/// A token that no longer works: the access token of a session that was
/// logged out.
async fn logged_out_token(app: &TestApp) -> String {
    let gone = app.signup("gone.away@example.org").await;
    let res = call(
        app,
        Method::POST,
        "/api/v1/auth/logout",
        Some(&gone.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    gone.access
}

api_test!(every_account_endpoint_needs_a_token, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let revoked = logged_out_token(&app).await;
    for (method, path, body) in account_endpoints() {
        // No token: with no body, an empty object, or a body it would take.
        for sent in [None, Some(json!({})), body.clone()] {
            let res = call(&app, method.clone(), &path, None, sent).await;
            unauthenticated(res).await;
        }
        // A token that is no token, an API token that does not exist, a
        // logged-out session's token.
        for bad in [
            "not-a-jwt",
            "kj_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            revoked.as_str(),
        ] {
            let res = call(&app, method.clone(), &path, Some(bad), body.clone()).await;
            unauthenticated(res).await;
        }
        // Another scheme.
        let res = app
            .client
            .request(method.clone(), app.url(&path))
            .header("authorization", "Basic YWRtaW46YWRtaW4=")
            .send()
            .await
            .unwrap();
        unauthenticated(res).await;
    }
});

api_test!(authentication_comes_before_body_validation, |backend| {
    let app = spawn_app(backend).await.unwrap();
    // A read-only API token writing: 403 whatever the body.
    let amina = app.signup("amina.wanjiru@example.org").await;
    let read = secret(&create_token(&app, &amina.access, "reader", &["read"]).await);
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/me",
        Some(&read),
        Some(json!({"role": "admin"})),
    )
    .await;
    forbidden(res, "insufficient-scope").await;
    let revoked = logged_out_token(&app).await;
    for (method, path, body) in account_endpoints() {
        if body.is_none() {
            continue;
        }
        for bad in [
            "kj_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            revoked.as_str(),
        ] {
            for sent in [None, Some(json!({"role": "admin", "unknown": true}))] {
                let res = call(&app, method.clone(), &path, Some(bad), sent).await;
                unauthenticated(res).await;
            }
        }
    }
});

// ----- PATCH /me ------------------------------------------------------------

api_test!(patch_me_changes_the_profile, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let before = app.get_auth("/api/v1/me", &amina.access).await;
    let etag = before.headers()["etag"].to_str().unwrap().to_string();

    let res = app
        .client
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&amina.access)
        .header("if-match", &etag)
        .json(&json!({
            "display_name": "  Amina Wanjiru ",
            "country": "ke",
            "languages": ["sw", "en-KE", "sw"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let new_etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(new_etag, etag, "the tag follows the representation");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["display_name"], "Amina Wanjiru");
    assert_eq!(body["country"], "KE");
    assert_eq!(body["languages"], json!(["sw", "en-KE"]));
    assert_eq!(me(&app, &amina.access).await, body, "stored as answered");

    // A partial patch changes only what it names; null clears the country.
    let body = body_of(
        call(
            &app,
            Method::PATCH,
            "/api/v1/me",
            Some(&amina.access),
            Some(json!({"country": null})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["country"], Value::Null);
    assert_eq!(body["display_name"], "Amina Wanjiru");
    assert_eq!(body["languages"], json!(["sw", "en-KE"]));
    assert_eq!(me(&app, &amina.access).await["country"], Value::Null);
});

api_test!(patch_me_rejects_bad_values_and_changes_nothing, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let patch = |body: Value| {
        call(
            &app,
            Method::PATCH,
            "/api/v1/me",
            Some(&amina.access),
            Some(body),
        )
    };
    body_of(
        patch(json!({"country": "KE", "languages": ["sw"]})).await,
        200,
    )
    .await;
    let before = me(&app, &amina.access).await;

    // Every invalid field is named; the valid ones are not applied either.
    let res = patch(json!({
        "display_name": "Someone Else",
        "country": "XX",
        "languages": ["english"],
    }))
    .await;
    invalid(res, &["country", "languages"]).await;
    for (body, field) in [
        (json!({"display_name": ""}), "display_name"),
        (json!({"display_name": "   "}), "display_name"),
        (json!({"display_name": "x".repeat(101)}), "display_name"),
        (json!({"display_name": "tab\there"}), "display_name"),
        (json!({"country": "KEN"}), "country"),
        (json!({"country": 42}), "country"),
        (json!({"languages": "sw"}), "languages"),
        (json!({"languages": vec!["sw"; 21]}), "languages"),
        (json!({"email": "not an address"}), "email"),
    ] {
        invalid(patch(body.clone()).await, &[field]).await;
    }
    let res = call(&app, Method::PATCH, "/api/v1/me", Some(&amina.access), None).await;
    invalid(res, &["$"]).await;
    assert_eq!(me(&app, &amina.access).await, before, "nothing changed");
});

api_test!(patch_me_rejects_mass_assignment, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let before = me(&app, &amina.access).await;
    for (body, field) in [
        (json!({"role": "admin"}), "role"),
        (json!({"email_verified": false}), "email_verified"),
        (json!({"id": NO_SUCH_ID}), "id"),
        (json!({"display_name": "Admin", "role": "admin"}), "role"),
        (json!({"active": false}), "active"),
        (json!({"password_hash": "x"}), "password_hash"),
        (json!({"pending_email": "x@example.org"}), "pending_email"),
    ] {
        let res = call(
            &app,
            Method::PATCH,
            "/api/v1/me",
            Some(&amina.access),
            Some(body.clone()),
        )
        .await;
        let problem = invalid(res, &[field]).await;
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("not allowed"),
            "{body}: {problem}"
        );
    }
    assert_eq!(me(&app, &amina.access).await, before, "nothing changed");
    // In the database too: still a member, still verified, still active.
    let id = amina.id.clone();
    let row: (String, bool, bool) = app
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use kujenga::db::schema::users as us;
            us::table
                .filter(us::id.eq(id))
                .select((us::role, us::email_verified, us::active))
                .first(conn)
        })
        .await
        .unwrap();
    assert_eq!(row, ("member".to_string(), true, true));
});

api_test!(patch_me_with_a_stale_if_match_is_412, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let res = app.get_auth("/api/v1/me", &amina.access).await;
    let old_etag = res.headers()["etag"].to_str().unwrap().to_string();
    // Someone (another tab) changes the profile meanwhile.
    body_of(
        call(
            &app,
            Method::PATCH,
            "/api/v1/me",
            Some(&amina.access),
            Some(json!({"display_name": "From Tab One"})),
        )
        .await,
        200,
    )
    .await;
    let before = me(&app, &amina.access).await;
    for stale in [old_etag.clone(), format!("W/{old_etag}"), "\"nope\"".into()] {
        let res = app
            .client
            .patch(app.url("/api/v1/me"))
            .bearer_auth(&amina.access)
            .header("if-match", stale)
            .json(&json!({"display_name": "From Tab Two"}))
            .send()
            .await
            .unwrap();
        let body = problem(res, 412).await;
        assert_eq!(body["type"], "urn:kujenga:problem:stale-version");
    }
    assert_eq!(me(&app, &amina.access).await, before, "nothing changed");

    // The current tag works.
    let res = app.get_auth("/api/v1/me", &amina.access).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = app
        .client
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&amina.access)
        .header("if-match", etag)
        .json(&json!({"display_name": "From Tab Two"}))
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(res, 200).await["display_name"], "From Tab Two");
});

api_test!(
    changing_the_email_needs_the_new_address_verified,
    |backend| {
        let app = spawn_app(backend).await.unwrap();
        let amina = app.signup("amina.wanjiru@example.org").await;
        let old_verifications = app
            .count_emails("amina.wanjiru@example.org", "verify_email")
            .await;

        let res = call(
            &app,
            Method::PATCH,
            "/api/v1/me",
            Some(&amina.access),
            Some(json!({"email": "Amina.W@Example.NET", "current_password": PASSWORD})),
        )
        .await;
        let body = body_of(res, 200).await;
        assert_eq!(body["email"], "amina.wanjiru@example.org", "not yet");
        assert_eq!(body["pending_email"], "Amina.W@Example.NET");
        assert_eq!(body["email_verified"], true);
        assert_eq!(
            me(&app, &amina.access).await["pending_email"],
            "Amina.W@Example.NET"
        );
        // The link goes to the new address, none to the old one.
        let data = app
            .last_email_data("Amina.W@Example.NET", "verify_email")
            .await
            .expect("a verification email to the new address");
        assert_eq!(
            app.count_emails("amina.wanjiru@example.org", "verify_email")
                .await,
            old_verifications
        );
        // Until then the old address still signs in and the new one does not.
        assert_eq!(
            app.login("amina.w@example.net", PASSWORD).await.status(),
            401
        );

        let token = data["token"].as_str().unwrap();
        let res = app
            .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
            .await;
        assert_eq!(res.status(), 200);
        let now = me(&app, &amina.access).await;
        assert_eq!(now["email"], "Amina.W@Example.NET");
        assert_eq!(now["pending_email"], Value::Null);
        assert_eq!(now["email_verified"], true);
        // The token is single use.
        let res = app
            .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
            .await;
        invalid(res, &["token"]).await;

        assert_eq!(
            app.login("amina.w@example.net", PASSWORD).await.status(),
            200
        );
        let res = app.login("amina.wanjiru@example.org", PASSWORD).await;
        unauthenticated(res).await;
    }
);

api_test!(changing_the_email_to_a_taken_address, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let bakari = app.signup("bakari.otieno@example.com").await;
    let patch = |body: Value| {
        call(
            &app,
            Method::PATCH,
            "/api/v1/me",
            Some(&amina.access),
            Some(body),
        )
    };

    // The same address in another case is no change at all.
    let sent = app.count_emails(&amina.email, "verify_email").await;
    let body = body_of(
        patch(json!({"email": "AMINA.Wanjiru@example.org"})).await,
        200,
    )
    .await;
    assert_eq!(body["email"], amina.email.as_str());
    assert_eq!(body["pending_email"], Value::Null);
    assert_eq!(app.count_emails(&amina.email, "verify_email").await, sent);

    // Someone else's address answers like any other (no existence leak)...
    let body = body_of(
        patch(json!({"email": "Bakari.Otieno@example.com", "current_password": PASSWORD})).await,
        200,
    )
    .await;
    assert_eq!(body["pending_email"], "Bakari.Otieno@example.com");
    let token = app
        .last_email_data("Bakari.Otieno@example.com", "verify_email")
        .await
        .expect("the link goes to the address asked for")["token"]
        .as_str()
        .unwrap()
        .to_string();
    // ...but the address never becomes Amina's.
    let res = app
        .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
        .await;
    let body = problem(res, 409).await;
    assert_eq!(body["type"], "urn:kujenga:problem:email-unavailable");
    assert_eq!(me(&app, &amina.access).await["email"], amina.email.as_str());
    assert_eq!(
        me(&app, &bakari.access).await["email"],
        bakari.email.as_str()
    );
    assert_eq!(app.login(&amina.email, PASSWORD).await.status(), 200);
});

api_test!(an_api_token_cannot_change_the_email, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let token = secret(&create_token(&app, &amina.access, "ci", &["read", "write"]).await);
    let before = me(&app, &amina.access).await;
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/me",
        Some(&token),
        Some(json!({"email": "elsewhere@example.net", "current_password": PASSWORD})),
    )
    .await;
    forbidden(res, "session-required").await;
    assert_eq!(me(&app, &amina.access).await, before);
    assert!(
        app.last_email_data("elsewhere@example.net", "verify_email")
            .await
            .is_none()
    );
});

// ----- DELETE /me -------------------------------------------------------------

api_test!(deleting_me_deactivates_the_account, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let api = secret(&create_token(&app, &amina.access, "ci", &["read", "write"]).await);

    // Not with an API token.
    let res = call(&app, Method::DELETE, "/api/v1/me", Some(&api), None).await;
    forbidden(res, "session-required").await;
    me(&app, &amina.access).await;

    let res = call(
        &app,
        Method::DELETE,
        "/api/v1/me",
        Some(&amina.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());

    unauthenticated(app.get_auth("/api/v1/me", &amina.access).await).await;
    unauthenticated(app.get_auth("/api/v1/me", &api).await).await;
    unauthenticated(app.login(&amina.email, PASSWORD).await).await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": amina.refresh}),
            None,
        )
        .await;
    unauthenticated(res).await;
});

api_test!(deleting_me_honours_if_match, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let res = app
        .client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&amina.access)
        .header("if-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    problem(res, 412).await;
    assert_eq!(me(&app, &amina.access).await["active"], true);
});

// ----- POST /me/password ------------------------------------------------------

api_test!(changing_the_password, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let first = app.signup("amina.wanjiru@example.org").await;
    let second = app.signin(&first.email).await;
    let current = app.signin(&first.email).await;
    let change = |body: Value| {
        call(
            &app,
            Method::POST,
            "/api/v1/me/password",
            Some(&current.access),
            Some(body),
        )
    };

    let res =
        change(json!({"current_password": "not my password at all", "new_password": NEW_PASSWORD}))
            .await;
    invalid(res, &["current_password"]).await;
    for weak in ["password1234", "short", "amina.wanjiru is my name"] {
        let res = change(json!({"current_password": PASSWORD, "new_password": weak})).await;
        invalid(res, &["new_password"]).await;
    }
    invalid(
        change(json!({"current_password": PASSWORD})).await,
        &["new_password"],
    )
    .await;
    invalid(
        change(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "user_id": NO_SUCH_ID})).await,
        &["user_id"],
    )
    .await;
    // Nothing changed: every session lives, the old password still works.
    for s in [&first, &second, &current] {
        me(&app, &s.access).await;
    }
    assert_eq!(app.count_emails(&first.email, "password_changed").await, 0);

    let res = change(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})).await;
    assert_eq!(res.status(), 204);

    // Every other session ended; this one goes on.
    unauthenticated(app.get_auth("/api/v1/me", &first.access).await).await;
    unauthenticated(app.get_auth("/api/v1/me", &second.access).await).await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": second.refresh}),
            None,
        )
        .await;
    unauthenticated(res).await;
    me(&app, &current.access).await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": current.refresh}),
            None,
        )
        .await;
    assert_eq!(
        res.status(),
        200,
        "this session's refresh token still works"
    );

    unauthenticated(app.login(&first.email, PASSWORD).await).await;
    assert_eq!(app.login(&first.email, NEW_PASSWORD).await.status(), 200);

    // Told by email (a security notice) and in the app.
    assert_eq!(app.count_emails(&first.email, "password_changed").await, 1);
    let list = body_of(
        app.get_auth("/api/v1/me/notifications", &current.access)
            .await,
        200,
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["kind"], "password_changed");
    assert_eq!(items[0]["read_at"], Value::Null);
    assert!(!items[0]["title"].as_str().unwrap().is_empty());
});

// ----- /me/tokens -------------------------------------------------------------

api_test!(creating_and_listing_api_tokens, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;

    let res = call(
        &app,
        Method::POST,
        "/api/v1/me/tokens",
        Some(&amina.access),
        Some(json!({"name": "  nightly sync ", "scopes": ["read"]})),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let created: Value = res.json().await.unwrap();
    let token = secret(&created);
    assert!(token.starts_with("kj_"), "{token}");
    assert!(token.len() >= 46, "≥ 256 bits: {token}");
    assert_eq!(
        location,
        format!("/api/v1/me/tokens/{}", created["id"].as_str().unwrap())
    );
    assert_eq!(created["name"], "nightly sync");
    assert_eq!(created["scopes"], json!(["read"]));
    assert_eq!(created["expires_at"], Value::Null);
    assert_eq!(created["last_used_at"], Value::Null);

    let write = create_token(&app, &amina.access, "deploy", &["write"]).await;
    assert_eq!(
        write["scopes"],
        json!(["read", "write"]),
        "write implies read"
    );
    let both = create_token(&app, &amina.access, "both", &["read", "write"]).await;
    assert_ne!(secret(&write), secret(&both));

    // The list never shows a secret, in creation order.
    let res = app.get_auth("/api/v1/me/tokens", &amina.access).await;
    assert!(link_header(&res).is_none());
    let list = body_of(res, 200).await;
    assert_eq!(list["next_cursor"], Value::Null);
    let items = list["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["nightly sync", "deploy", "both"]);
    assert!(items.iter().all(|t| t.get("token").is_none()), "{list}");
    let text = app
        .get_auth("/api/v1/me/tokens", &amina.access)
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains(&token), "the secret is never listed");

    let ids = walk(&app, &amina.access, "/api/v1/me/tokens", "id").await;
    let all: Vec<&str> = items.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, all, "pages of one, no gaps or repeats");

    // Using a token records when it was used.
    assert_eq!(me(&app, &token).await["id"], amina.id.as_str());
    let list = body_of(app.get_auth("/api/v1/me/tokens", &amina.access).await, 200).await;
    assert!(list["items"][0]["last_used_at"].is_string(), "{list}");
    assert_eq!(list["items"][1]["last_used_at"], Value::Null);

    // Bad paging parameters.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=!!", "cursor"),
    ] {
        let res = app
            .get_auth(&format!("/api/v1/me/tokens?{query}"), &amina.access)
            .await;
        invalid(res, &[field]).await;
    }
});

api_test!(api_tokens_act_within_their_scope, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let read = secret(&create_token(&app, &amina.access, "reader", &["read"]).await);
    let write = secret(&create_token(&app, &amina.access, "writer", &["write"]).await);

    // Both read.
    for t in [&read, &write] {
        assert_eq!(me(&app, t).await["id"], amina.id.as_str());
        body_of(app.get_auth("/api/v1/me/tokens", t).await, 200).await;
        body_of(app.get_auth("/api/v1/me/notifications", t).await, 200).await;
    }

    // A read token cannot write, whatever it tries.
    let before = me(&app, &amina.access).await;
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/me",
        Some(&read),
        Some(json!({"display_name": "Reader"})),
    )
    .await;
    forbidden(res, "insufficient-scope").await;
    let res = call(&app, Method::DELETE, "/api/v1/me", Some(&read), None).await;
    forbidden(res, "insufficient-scope").await;
    let res = call(
        &app,
        Method::PUT,
        "/api/v1/me/notification-preferences",
        Some(&read),
        Some(json!({"items": [{"kind": "api_token_created", "email": false}]})),
    )
    .await;
    forbidden(res, "insufficient-scope").await;
    assert_eq!(me(&app, &amina.access).await, before, "nothing changed");

    // A write token can.
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/me",
        Some(&write),
        Some(json!({"display_name": "Writer"})),
    )
    .await;
    assert_eq!(body_of(res, 200).await["display_name"], "Writer");

    // Neither can make tokens or change the password: that needs a session.
    let res = call(
        &app,
        Method::POST,
        "/api/v1/me/tokens",
        Some(&write),
        Some(json!({"name": "child", "scopes": ["write"]})),
    )
    .await;
    forbidden(res, "session-required").await;
    let res = call(
        &app,
        Method::POST,
        "/api/v1/me/password",
        Some(&write),
        Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;
    forbidden(res, "session-required").await;
    let res = call(
        &app,
        Method::POST,
        "/api/v1/me/tokens",
        Some(&read),
        Some(json!({"name": "child", "scopes": ["read"]})),
    )
    .await;
    assert_eq!(res.status(), 403);
    let list = body_of(app.get_auth("/api/v1/me/tokens", &amina.access).await, 200).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "no token was made"
    );
    assert_eq!(
        app.login(&amina.email, PASSWORD).await.status(),
        200,
        "password unchanged"
    );
});

api_test!(revoking_api_tokens, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let bakari = app.signup("bakari.otieno@example.com").await;
    let kept = create_token(&app, &amina.access, "kept", &["read"]).await;
    let gone = create_token(&app, &amina.access, "gone", &["read", "write"]).await;
    let theirs = create_token(&app, &bakari.access, "bakari's", &["read"]).await;
    let path = |t: &Value| format!("/api/v1/me/tokens/{}", t["id"].as_str().unwrap());

    // Someone else's token id, or one that does not exist: 404.
    let res = call(
        &app,
        Method::DELETE,
        &path(&theirs),
        Some(&amina.access),
        None,
    )
    .await;
    problem(res, 404).await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/me/tokens/{NO_SUCH_ID}"),
        Some(&amina.access),
        None,
    )
    .await;
    problem(res, 404).await;
    me(&app, &secret(&theirs)).await;

    let res = call(
        &app,
        Method::DELETE,
        &path(&gone),
        Some(&amina.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    unauthenticated(app.get_auth("/api/v1/me", &secret(&gone)).await).await;
    me(&app, &secret(&kept)).await;
    let list = body_of(app.get_auth("/api/v1/me/tokens", &amina.access).await, 200).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [kept["id"].as_str().unwrap()]);
    // Twice: it is gone.
    let res = call(
        &app,
        Method::DELETE,
        &path(&gone),
        Some(&amina.access),
        None,
    )
    .await;
    problem(res, 404).await;

    // A write token may revoke a token (itself included); a read token may not.
    let res = call(
        &app,
        Method::DELETE,
        &path(&kept),
        Some(&secret(&kept)),
        None,
    )
    .await;
    forbidden(res, "insufficient-scope").await;
    let writer = create_token(&app, &amina.access, "writer", &["write"]).await;
    let res = call(
        &app,
        Method::DELETE,
        &path(&kept),
        Some(&secret(&writer)),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    unauthenticated(app.get_auth("/api/v1/me", &secret(&kept)).await).await;
});

api_test!(api_token_input_is_validated, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let create = |body: Value| {
        call(
            &app,
            Method::POST,
            "/api/v1/me/tokens",
            Some(&amina.access),
            Some(body),
        )
    };
    let cases = [
        (json!({"name": "", "scopes": ["read"]}), vec!["name"]),
        (json!({"name": "   ", "scopes": ["read"]}), vec!["name"]),
        (
            json!({"name": "x".repeat(101), "scopes": ["read"]}),
            vec!["name"],
        ),
        (
            json!({"name": "line\nbreak", "scopes": ["read"]}),
            vec!["name"],
        ),
        (json!({"name": "ci", "scopes": []}), vec!["scopes"]),
        (
            json!({"name": "ci", "scopes": ["admin"]}),
            vec!["scopes[0]"],
        ),
        (
            json!({"name": "ci", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}),
            vec!["expires_at"],
        ),
        (
            json!({"name": "ci", "scopes": ["read"], "expires_at": "tomorrow"}),
            vec!["expires_at"],
        ),
        (json!({"name": "ci"}), vec!["scopes"]),
        (json!({"scopes": ["read"]}), vec!["name"]),
        (
            json!({"name": "ci", "scopes": ["read"], "user_id": NO_SUCH_ID}),
            vec!["user_id"],
        ),
        (
            json!({"name": "", "scopes": [], "expires_at": "2001-01-01T00:00:00Z"}),
            vec!["name", "scopes", "expires_at"],
        ),
    ];
    for (body, expected) in cases {
        invalid(create(body).await, &expected).await;
    }
    // Nothing was created, nobody was told.
    let list = body_of(app.get_auth("/api/v1/me/tokens", &amina.access).await, 200).await;
    assert_eq!(list["items"], json!([]));
    let notes = body_of(
        app.get_auth("/api/v1/me/notifications", &amina.access)
            .await,
        200,
    )
    .await;
    assert_eq!(notes["items"], json!([]));
    assert_eq!(app.count_emails(&amina.email, "api_token_created").await, 0);
});

api_test!(an_expired_api_token_is_refused, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let expires = chrono::Utc::now() + chrono::Duration::seconds(4);
    let res = call(
        &app,
        Method::POST,
        "/api/v1/me/tokens",
        Some(&amina.access),
        Some(
            json!({"name": "short-lived", "scopes": ["read"], "expires_at": expires.to_rfc3339()}),
        ),
    )
    .await;
    let created = body_of(res, 201).await;
    let at = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap()).unwrap();
    assert!(
        (at.timestamp_millis() - expires.timestamp_millis()).abs() < 1000,
        "{created}"
    );
    let token = secret(&created);
    me(&app, &token).await;
    let wait =
        (expires - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    unauthenticated(app.get_auth("/api/v1/me", &token).await).await;
    // Still listed (until revoked), with its expiry.
    let list = body_of(app.get_auth("/api/v1/me/tokens", &amina.access).await, 200).await;
    assert_eq!(list["items"][0]["id"], created["id"]);
});

// ----- /me/notifications --------------------------------------------------------

api_test!(notifications_list_filter_and_read, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let bakari = app.signup("bakari.otieno@example.com").await;
    for name in ["first", "second", "third"] {
        create_token(&app, &amina.access, name, &["read"]).await;
    }
    create_token(&app, &bakari.access, "theirs", &["read"]).await;
    assert_eq!(app.count_emails(&amina.email, "api_token_created").await, 3);

    let list = body_of(
        app.get_auth("/api/v1/me/notifications", &amina.access)
            .await,
        200,
    )
    .await;
    let items = list["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3, "only one's own: {list}");
    for n in &items {
        assert_eq!(n["kind"], "api_token_created");
        assert!(!n["title"].as_str().unwrap().is_empty(), "{n}");
        assert!(!n["body"].as_str().unwrap().is_empty(), "{n}");
        assert_eq!(n["route"], json!({"route": "api_tokens", "params": {}}));
        assert_eq!(n["read_at"], Value::Null);
        assert!(n["created_at"].as_str().unwrap().ends_with('Z'), "{n}");
    }
    // Newest first.
    assert!(
        items[0]["body"].as_str().unwrap().contains("third"),
        "{}",
        items[0]
    );
    assert!(
        items[2]["body"].as_str().unwrap().contains("first"),
        "{}",
        items[2]
    );

    let ids = walk(&app, &amina.access, "/api/v1/me/notifications", "id").await;
    let all: Vec<String> = items
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, all);

    // Marking one read.
    let newest = all[0].clone();
    let res = call(
        &app,
        Method::POST,
        &format!("/api/v1/me/notifications/{newest}/read"),
        Some(&amina.access),
        None,
    )
    .await;
    let read = body_of(res, 200).await;
    assert_eq!(read["id"], newest.as_str());
    let read_at = read["read_at"].as_str().expect("read_at set").to_string();
    // Again: still read, at the first time.
    let res = call(
        &app,
        Method::POST,
        &format!("/api/v1/me/notifications/{newest}/read"),
        Some(&amina.access),
        None,
    )
    .await;
    assert_eq!(body_of(res, 200).await["read_at"], read_at.as_str());

    let unread = body_of(
        app.get_auth("/api/v1/me/notifications?unread=true", &amina.access)
            .await,
        200,
    )
    .await;
    let unread_ids: Vec<&str> = unread["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(unread_ids, [all[1].as_str(), all[2].as_str()]);
    let ids = walk(
        &app,
        &amina.access,
        "/api/v1/me/notifications?unread=true",
        "id",
    )
    .await;
    assert_eq!(ids, unread_ids);
    let everything = body_of(
        app.get_auth("/api/v1/me/notifications?unread=false", &amina.access)
            .await,
        200,
    )
    .await;
    assert_eq!(everything["items"].as_array().unwrap().len(), 3);
    assert_eq!(everything["items"][0]["read_at"], read_at.as_str());

    // Someone else's notification, or none: 404, and it stays unread.
    let theirs = body_of(
        app.get_auth("/api/v1/me/notifications", &bakari.access)
            .await,
        200,
    )
    .await;
    let theirs_id = theirs["items"][0]["id"].as_str().unwrap().to_string();
    let res = call(
        &app,
        Method::POST,
        &format!("/api/v1/me/notifications/{theirs_id}/read"),
        Some(&amina.access),
        None,
    )
    .await;
    problem(res, 404).await;
    let res = call(
        &app,
        Method::POST,
        &format!("/api/v1/me/notifications/{NO_SUCH_ID}/read"),
        Some(&amina.access),
        None,
    )
    .await;
    problem(res, 404).await;
    let theirs = body_of(
        app.get_auth("/api/v1/me/notifications", &bakari.access)
            .await,
        200,
    )
    .await;
    assert_eq!(theirs["items"][0]["read_at"], Value::Null);

    // Bad parameters.
    for (query, field) in [
        ("unread=maybe", "unread"),
        ("limit=0", "limit"),
        ("cursor=%%", "cursor"),
    ] {
        let res = app
            .get_auth(&format!("/api/v1/me/notifications?{query}"), &amina.access)
            .await;
        invalid(res, &[field]).await;
    }
});

// ----- /me/notification-preferences ---------------------------------------------

api_test!(notification_preferences, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let path = "/api/v1/me/notification-preferences";
    let put = |body: Value| call(&app, Method::PUT, path, Some(&amina.access), Some(body));

    let defaults = body_of(app.get_auth(path, &amina.access).await, 200).await;
    let mut items = defaults["items"].as_array().unwrap().clone();
    items.sort_by_key(|p| p["kind"].as_str().unwrap().to_string());
    assert_eq!(
        items,
        [
            json!({"kind": "access_decided", "email": true, "essential": false}),
            json!({"kind": "access_ended", "email": true, "essential": false}),
            json!({"kind": "access_reminder", "email": true, "essential": false}),
            json!({"kind": "access_requested", "email": true, "essential": false}),
            json!({"kind": "api_token_created", "email": true, "essential": false}),
            json!({"kind": "course_completed", "email": true, "essential": false}),
            json!({"kind": "course_new_version", "email": true, "essential": false}),
            json!({"kind": "dataset_dates", "email": true, "essential": false}),
            json!({"kind": "enrollment_confirmed", "email": true, "essential": false}),
            json!({"kind": "institution_verified", "email": true, "essential": false}),
            json!({"kind": "member_removed", "email": true, "essential": false}),
            json!({"kind": "member_role_changed", "email": true, "essential": false}),
            json!({"kind": "membership_added", "email": true, "essential": false}),
            json!({"kind": "partnership_invitation", "email": true, "essential": false}),
            json!({"kind": "partnership_membership_ended", "email": true, "essential": false}),
            json!({"kind": "partnership_response", "email": true, "essential": false}),
            json!({"kind": "partnership_shared_digest", "email": true, "essential": false}),
            json!({"kind": "partnership_status_changed", "email": true, "essential": false}),
            json!({"kind": "password_changed", "email": true, "essential": true}),
        ]
    );

    // Switching the token email off.
    let res = put(json!({"items": [{"kind": "api_token_created", "email": false}]})).await;
    let now = body_of(res, 200).await;
    let token_pref = |prefs: &Value| {
        prefs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["kind"] == "api_token_created")
            .unwrap()["email"]
            .clone()
    };
    assert_eq!(token_pref(&now), false);
    let stored = body_of(app.get_auth(path, &amina.access).await, 200).await;
    assert_eq!(stored, now);

    create_token(&app, &amina.access, "quiet", &["read"]).await;
    assert_eq!(
        app.count_emails(&amina.email, "api_token_created").await,
        0,
        "no email"
    );
    let notes = body_of(
        app.get_auth("/api/v1/me/notifications", &amina.access)
            .await,
        200,
    )
    .await;
    assert_eq!(
        notes["items"].as_array().unwrap().len(),
        1,
        "still in the app"
    );
    assert_eq!(notes["items"][0]["kind"], "api_token_created");

    // A security notice cannot be switched off; nothing in the request applies.
    let res = put(json!({"items": [{"kind": "password_changed", "email": false}]})).await;
    invalid(res, &["items[0].email"]).await;
    let res = put(json!({"items": [
        {"kind": "api_token_created", "email": true},
        {"kind": "password_changed", "email": false},
    ]}))
    .await;
    invalid(res, &["items[1].email"]).await;
    for (body, field) in [
        (
            json!({"items": [{"kind": "course_digest", "email": false}]}),
            "items[0].kind",
        ),
        (
            json!({"items": [{"kind": "api_token_created"}]}),
            "items[0].email",
        ),
        (
            json!({"items": [{"kind": "api_token_created", "email": "no"}]}),
            "items[0].email",
        ),
        (json!({}), "items"),
        (json!({"items": [], "all": false}), "all"),
    ] {
        invalid(put(body).await, &[field]).await;
    }
    assert_eq!(
        body_of(app.get_auth(path, &amina.access).await, 200).await,
        stored,
        "nothing changed"
    );

    // Back on: the next token is emailed again.
    let res = put(json!({"items": [{"kind": "api_token_created", "email": true}]})).await;
    assert_eq!(token_pref(&body_of(res, 200).await), true);
    create_token(&app, &amina.access, "loud", &["read"]).await;
    assert_eq!(app.count_emails(&amina.email, "api_token_created").await, 1);
});

api_test!(notification_preferences_round_trip, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let path = "/api/v1/me/notification-preferences";
    let mut prefs = body_of(app.get_auth(path, &amina.access).await, 200).await;
    for p in prefs["items"].as_array_mut().unwrap() {
        if p["kind"] == "api_token_created" {
            p["email"] = json!(false);
        }
    }
    let res = call(
        &app,
        Method::PUT,
        path,
        Some(&amina.access),
        Some(prefs.clone()),
    )
    .await;
    assert_eq!(body_of(res, 200).await, prefs);
});

// ----- /users (admin) -------------------------------------------------------------

/// An admin (signed in again after the promotion) and two members.
async fn admin_and_members(app: &TestApp) -> (Account, Account, Account) {
    let admin = app.signup("root.admin@kujenga.test").await;
    app.make_admin(&admin.id).await;
    let admin = app.signin(&admin.email).await;
    let amina = app.signup("amina.wanjiru@example.org").await;
    let bakari = app.signup("bakari_otieno@example.com").await;
    (admin, amina, bakari)
}

api_test!(users_are_for_admins_only, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let amina = app.signup("amina.wanjiru@example.org").await;
    let api = secret(&create_token(&app, &amina.access, "ci", &["read", "write"]).await);
    for token in [&amina.access, &api] {
        forbidden(app.get_auth("/api/v1/users", token).await, "admin-only").await;
        let path = format!("/api/v1/users/{}", amina.id);
        forbidden(app.get_auth(&path, token).await, "admin-only").await;
        let res = call(
            &app,
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"role": "admin"})),
        )
        .await;
        forbidden(res, "admin-only").await;
        forbidden(
            app.get_auth("/api/v1/admin/outbox", token).await,
            "admin-only",
        )
        .await;
        let res = call(
            &app,
            Method::POST,
            &format!("/api/v1/admin/outbox/{NO_SUCH_ID}/retry"),
            Some(token),
            None,
        )
        .await;
        forbidden(res, "admin-only").await;
    }
    assert_eq!(me(&app, &amina.access).await["role"], "member");
});

api_test!(admins_list_search_and_read_users, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let (admin, amina, bakari) = admin_and_members(&app).await;

    let res = app.get_auth("/api/v1/users", &admin.access).await;
    let list = body_of(res, 200).await;
    let emails: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            admin.email.as_str(),
            amina.email.as_str(),
            bakari.email.as_str()
        ],
        "oldest first"
    );
    assert_eq!(list["items"][0]["role"], "admin");
    assert!(list["items"][0].get("password_hash").is_none());

    let search = |q: &'static str| {
        let app = &app;
        let token = admin.access.clone();
        async move {
            let list = body_of(
                app.get_auth(&format!("/api/v1/users?q={q}"), &token).await,
                200,
            )
            .await;
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search("example").await,
        [amina.id.as_str(), bakari.id.as_str()]
    );
    assert_eq!(
        search("AMINA").await,
        [amina.id.as_str()],
        "case-insensitive"
    );
    assert_eq!(search("%40example.com").await, [bakari.id.as_str()]);
    assert_eq!(search("nobody").await, Vec::<String>::new());
    // LIKE wildcards are literal characters.
    assert_eq!(search("%25").await, Vec::<String>::new());
    assert_eq!(search("_").await, [bakari.id.as_str()]);
    assert_eq!(search("a_m").await, Vec::<String>::new());

    let ids = walk(&app, &admin.access, "/api/v1/users", "id").await;
    assert_eq!(
        ids,
        [admin.id.as_str(), amina.id.as_str(), bakari.id.as_str()]
    );
    let ids = walk(&app, &admin.access, "/api/v1/users?q=example", "id").await;
    assert_eq!(ids, [amina.id.as_str(), bakari.id.as_str()]);
    let res = app
        .get_auth(
            &format!("/api/v1/users?q={}", "a".repeat(300)),
            &admin.access,
        )
        .await;
    invalid(res, &["q"]).await;
    invalid(
        app.get_auth("/api/v1/users?limit=abc", &admin.access).await,
        &["limit"],
    )
    .await;

    // One user, with an ETag.
    let res = app
        .get_auth(&format!("/api/v1/users/{}", amina.id), &admin.access)
        .await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let user = body_of(res, 200).await;
    assert_eq!(user, me(&app, &amina.access).await);
    let res = app
        .client
        .get(app.url(&format!("/api/v1/users/{}", amina.id)))
        .bearer_auth(&admin.access)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    problem(
        app.get_auth(&format!("/api/v1/users/{NO_SUCH_ID}"), &admin.access)
            .await,
        404,
    )
    .await;
    problem(
        app.get_auth("/api/v1/users/not-an-id", &admin.access).await,
        404,
    )
    .await;
});

api_test!(admins_change_roles_and_sessions_end, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let (admin, amina, bakari) = admin_and_members(&app).await;
    let path = format!("/api/v1/users/{}", amina.id);
    let patch = |path: String, token: String, body: Value| {
        let app = &app;
        async move { call(app, Method::PATCH, &path, Some(&token), Some(body)).await }
    };
    let before = body_of(app.get_auth(&path, &admin.access).await, 200).await;

    // Bad input changes nothing.
    for (body, field) in [
        (json!({"role": "superuser"}), "role"),
        (json!({"role": "member", "email": "x@example.org"}), "email"),
        (json!({"email_verified": false}), "email_verified"),
        (json!({"active": "no"}), "active"),
    ] {
        invalid(
            patch(path.clone(), admin.access.clone(), body).await,
            &[field],
        )
        .await;
    }
    let res = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&admin.access)
        .header("if-match", "\"stale\"")
        .json(&json!({"role": "coordinator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(res, 412).await["type"],
        "urn:kujenga:problem:stale-version"
    );
    assert_eq!(
        body_of(app.get_auth(&path, &admin.access).await, 200).await,
        before
    );
    me(&app, &amina.access).await;
    problem(
        patch(
            format!("/api/v1/users/{NO_SUCH_ID}"),
            admin.access.clone(),
            json!({"role": "member"}),
        )
        .await,
        404,
    )
    .await;

    // Nobody changes their own role or deactivates themselves.
    let own = format!("/api/v1/users/{}", admin.id);
    for body in [
        json!({"role": "member"}),
        json!({"role": "admin"}),
        json!({"active": false}),
    ] {
        forbidden(
            patch(own.clone(), admin.access.clone(), body).await,
            "own-account",
        )
        .await;
    }
    assert_eq!(me(&app, &admin.access).await["role"], "admin");

    // A role change (with the current tag) ends the target's sessions.
    let res = app.get_auth(&path, &admin.access).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&admin.access)
        .header("if-match", etag)
        .json(&json!({"role": "coordinator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(res, 200).await["role"], "coordinator");
    unauthenticated(app.get_auth("/api/v1/me", &amina.access).await).await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": amina.refresh}),
            None,
        )
        .await;
    unauthenticated(res).await;
    let again = app.signin(&amina.email).await;
    assert_eq!(me(&app, &again.access).await["role"], "coordinator");
    // Others are untouched.
    me(&app, &bakari.access).await;
    me(&app, &admin.access).await;

    // Promoted to admin, Amina may now administer (but not herself).
    body_of(
        patch(path.clone(), admin.access.clone(), json!({"role": "admin"})).await,
        200,
    )
    .await;
    let amina_admin = app.signin(&amina.email).await;
    body_of(
        app.get_auth("/api/v1/users", &amina_admin.access).await,
        200,
    )
    .await;
    forbidden(
        patch(
            path.clone(),
            amina_admin.access.clone(),
            json!({"role": "member"}),
        )
        .await,
        "own-account",
    )
    .await;
});

api_test!(admins_deactivate_and_restore_accounts, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let (admin, amina, _bakari) = admin_and_members(&app).await;
    let path = format!("/api/v1/users/{}", amina.id);
    let api = secret(&create_token(&app, &amina.access, "ci", &["read"]).await);

    let res = call(
        &app,
        Method::PATCH,
        &path,
        Some(&admin.access),
        Some(json!({"active": false})),
    )
    .await;
    let user = body_of(res, 200).await;
    assert_eq!(user["active"], false);
    unauthenticated(app.get_auth("/api/v1/me", &amina.access).await).await;
    unauthenticated(app.get_auth("/api/v1/me", &api).await).await;
    unauthenticated(app.login(&amina.email, PASSWORD).await).await;
    assert_eq!(
        body_of(app.get_auth(&path, &admin.access).await, 200).await["active"],
        false
    );

    let res = call(
        &app,
        Method::PATCH,
        &path,
        Some(&admin.access),
        Some(json!({"active": true})),
    )
    .await;
    assert_eq!(body_of(res, 200).await["active"], true);
    let back = app.signin(&amina.email).await;
    me(&app, &back.access).await;
});

// ----- /admin/outbox ----------------------------------------------------------------

/// Polls the outbox until `done` holds for the page of `query`.
async fn outbox_until(
    app: &TestApp,
    token: &str,
    query: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = body_of(
            app.get_auth(&format!("/api/v1/admin/outbox{query}"), token)
                .await,
            200,
        )
        .await;
        if done(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "outbox never got there: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn outbox_item<'a>(page: &'a Value, id: &str) -> Option<&'a Value> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
}

api_test!(admins_watch_and_retry_the_outbox, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let admin = app.signup("root.admin@kujenga.test").await;
    app.make_admin(&admin.id).await;
    let admin = app.signin(&admin.email).await;
    let amina = app.signup("amina.wanjiru@example.org").await;

    // Both verification emails get delivered by the worker (file transport).
    let sent = outbox_until(&app, &admin.access, "?status=sent", |p| {
        p["items"].as_array().unwrap().len() == 2
    })
    .await;
    let items = sent["items"].as_array().unwrap();
    assert_eq!(items[0]["recipient"], amina.email.as_str(), "newest first");
    assert_eq!(items[1]["recipient"], admin.email.as_str());
    for e in items {
        assert_eq!(e["status"], "sent");
        assert_eq!(e["template"], "verify_email");
        assert_eq!(e["attempts"], 1);
        assert!(e["sent_at"].is_string(), "{e}");
        assert!(e["message_id"].is_string(), "{e}");
        assert!(!e["subject"].as_str().unwrap().is_empty(), "{e}");
        let log = e["attempt_log"].as_array().unwrap();
        assert_eq!(log.len(), 1, "{e}");
        assert_eq!(log[0]["attempt"], 1);
        assert_eq!(log[0]["outcome"], "sent");
        assert_eq!(log[0]["error"], Value::Null);
        assert!(
            e.get("data").is_none(),
            "the token-bearing data is not shown: {e}"
        );
        assert!(e.get("text_body").is_none(), "{e}");
    }
    let empty = body_of(
        app.get_auth("/api/v1/admin/outbox?status=dead", &admin.access)
            .await,
        200,
    )
    .await;
    assert_eq!(empty["items"], json!([]));
    let all = body_of(
        app.get_auth("/api/v1/admin/outbox", &admin.access).await,
        200,
    )
    .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let ids = walk(&app, &admin.access, "/api/v1/admin/outbox", "id").await;
    assert_eq!(ids.len(), 2);
    invalid(
        app.get_auth("/api/v1/admin/outbox?status=lost", &admin.access)
            .await,
        &["status"],
    )
    .await;

    // Only dead emails are retried.
    let target = items[0]["id"].as_str().unwrap().to_string();
    let retry = |id: String| {
        let app = &app;
        let token = admin.access.clone();
        async move {
            call(
                app,
                Method::POST,
                &format!("/api/v1/admin/outbox/{id}/retry"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let res = retry(target.clone()).await;
    assert_eq!(
        problem(res, 409).await["type"],
        "urn:kujenga:problem:not-dead"
    );
    problem(retry(NO_SUCH_ID.into()).await, 404).await;

    // Kill it, then retry: it is queued again and delivered.
    {
        use diesel::prelude::*;
        use kujenga::db::schema::outbox_emails as oe;
        let id = target.clone();
        app.db
            .run(move |conn| {
                diesel::update(oe::table.filter(oe::id.eq(id)))
                    .set((
                        oe::status.eq("dead"),
                        oe::last_error.eq(Some("550 mailbox unavailable")),
                    ))
                    .execute(conn)
            })
            .await
            .unwrap();
    }
    let dead = body_of(
        app.get_auth("/api/v1/admin/outbox?status=dead", &admin.access)
            .await,
        200,
    )
    .await;
    assert_eq!(dead["items"].as_array().unwrap().len(), 1);
    assert_eq!(dead["items"][0]["id"], target.as_str());
    assert_eq!(dead["items"][0]["last_error"], "550 mailbox unavailable");

    let res = retry(target.clone()).await;
    let queued = body_of(res, 200).await;
    assert_eq!(queued["id"], target.as_str());
    assert_eq!(queued["status"], "queued");
    assert!(
        queued["max_attempts"].as_i64().unwrap() > queued["attempts"].as_i64().unwrap(),
        "{queued}"
    );
    let page = outbox_until(&app, &admin.access, "", |p| {
        outbox_item(p, &target).is_some_and(|e| e["status"] == "sent" && e["attempts"] == 2)
    })
    .await;
    let email = outbox_item(&page, &target).unwrap();
    let log = email["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{email}");
    assert_eq!(log[1]["attempt"], 2);
    assert_eq!(log[1]["outcome"], "sent");
    assert_eq!(email["last_error"], Value::Null);
    assert_eq!(
        email["message_id"], items[0]["message_id"],
        "the same Message-ID on every attempt"
    );
    // Retrying it again: it is not dead any more.
    problem(retry(target.clone()).await, 409).await;
});
