//! Browser-safe sessions (issue 16, point 9): a sign-in for a client app
//! with `cookie_sessions` keeps the refresh token in a `Secure; HttpOnly;
//! SameSite=Strict` cookie scoped to `/api/v1/auth`; refresh and logout
//! take it from there, behind an Origin check against the app's origins and
//! a double-submit CSRF token; logout clears the cookies. Without a
//! `client_id` the JSON token flow is exactly as before.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::events::{new_events, none_since, only_event};
use crate::helpers::http::{body_of, call, invalid, send, typed};
use crate::helpers::{Backend, PASSWORD, TestApp, problem, spawn_app_with};

const ORIGIN: &str = "https://jifunze.example.ke";
/// Refresh tokens live 30 days by default.
const MAX_AGE: i64 = 30 * 86_400;

async fn start(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.auth.refresh_token_ttl_days = 30;
        s.rate_limit.login_per_minute = 10_000;
        s.rate_limit.refresh_per_minute = 10_000;
    })
    .await
    .expect("app")
}

/// An admin, and a registered client app with `cookie_sessions` as given.
async fn client(app: &TestApp, cookie_sessions: bool) -> String {
    let root = admin(app, &format!("root{cookie_sessions}@example.org")).await;
    let res = app
        .post_json(
            "/api/v1/admin/clients",
            json!({
                "name": "Jifunze web",
                "link_base": ORIGIN,
                "allowed_origins": [ORIGIN, "http://localhost:5173"],
                "cookie_sessions": cookie_sessions,
            }),
            Some(&root.access),
        )
        .await;
    body_of(res, 201).await["id"].as_str().unwrap().to_string()
}

/// What a cookie answer set: the `Set-Cookie` values by cookie name.
fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_value(set: &[String], name: &str) -> String {
    let line = set
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {set:?}"));
    line[name.len() + 1..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// A browser session: its refresh cookie and CSRF token.
#[derive(Debug, Clone)]
struct Browser {
    refresh: String,
    csrf: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        format!("kj_refresh={}; kj_csrf={}", self.refresh, self.csrf)
    }
}

async fn sign_in(app: &TestApp, email: &str, client_id: &str) -> (reqwest::Response, Browser) {
    let res = app
        .post_json(
            "/api/v1/auth/login",
            json!({"email": email, "password": PASSWORD, "client_id": client_id}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let set = set_cookies(&res);
    let browser = Browser {
        refresh: cookie_value(&set, "kj_refresh"),
        csrf: cookie_value(&set, "kj_csrf"),
    };
    (res, browser)
}

/// POST `path` the way a browser app does: cookies, Origin, X-CSRF-Token,
/// and `body` (none: no body at all).
async fn post_with(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> reqwest::Response {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if let Some(c) = cookie {
        all.push(("cookie", c));
    }
    send(app, Method::POST, path, None, body, &all).await
}

async fn refresh_as(app: &TestApp, b: &Browser) -> reqwest::Response {
    post_with(
        app,
        "/api/v1/auth/refresh",
        Some(&b.cookie_header()),
        &[("origin", ORIGIN), ("x-csrf-token", &b.csrf)],
        None,
    )
    .await
}

api_test!(a_cookie_app_sign_in_sets_the_cookies_exactly, |backend| {
    let app = start(backend).await;
    let client_id = client(&app, true).await;
    app.signup("amina@example.org").await;
    let (res, browser) = sign_in(&app, "amina@example.org", &client_id).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let set = set_cookies(&res);
    assert_eq!(set.len(), 2, "{set:?}");
    assert!(browser.refresh.starts_with("kjr_"), "{set:?}");
    assert_eq!(
        set,
        vec![
            format!(
                "kj_refresh={}; Max-Age={MAX_AGE}; Path=/api/v1/auth; Secure; HttpOnly; SameSite=Strict",
                browser.refresh
            ),
            format!(
                "kj_csrf={}; Max-Age={MAX_AGE}; Path=/; Secure; SameSite=Strict",
                browser.csrf
            ),
        ]
    );
    let body: Value = res.json().await.unwrap();
    // The refresh token is not in the body; the CSRF token is, for apps
    // that cannot read the API's cookies.
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["csrf_token"], browser.csrf.as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    // The access token works as always.
    let access = body["access_token"].as_str().unwrap();
    let me = body_of(app.get_auth("/api/v1/me", access).await, 200).await;
    assert_eq!(me["email"], "amina@example.org");
    // The refresh cookie's value is a working refresh token — for the
    // cookie flow only (see the CSRF tests).
    let res = refresh_as(&app, &browser).await;
    assert_eq!(res.status(), 200);
});

api_test!(refresh_by_cookie_rotates_the_refresh_cookie, |backend| {
    let app = start(backend).await;
    let client_id = client(&app, true).await;
    app.signup("amina@example.org").await;
    let (_, first) = sign_in(&app, "amina@example.org", &client_id).await;
    let res = refresh_as(&app, &first).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let set = set_cookies(&res);
    let second = Browser {
        refresh: cookie_value(&set, "kj_refresh"),
        csrf: cookie_value(&set, "kj_csrf"),
    };
    assert_ne!(second.refresh, first.refresh, "the refresh cookie rotates");
    assert_eq!(second.csrf, first.csrf, "the CSRF token lasts the session");
    assert_eq!(
        set,
        vec![
            format!(
                "kj_refresh={}; Max-Age={MAX_AGE}; Path=/api/v1/auth; Secure; HttpOnly; SameSite=Strict",
                second.refresh
            ),
            format!(
                "kj_csrf={}; Max-Age={MAX_AGE}; Path=/; Secure; SameSite=Strict",
                second.csrf
            ),
        ]
    );
    let body: Value = res.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["csrf_token"], first.csrf.as_str());
    body_of(
        app.get_auth("/api/v1/me", body["access_token"].as_str().unwrap())
            .await,
        200,
    )
    .await;

    // An empty JSON body works too, and the Referer stands in for Origin.
    let res = post_with(
        &app,
        "/api/v1/auth/refresh",
        Some(&second.cookie_header()),
        &[
            ("referer", "http://localhost:5173/courses/42"),
            ("x-csrf-token", &second.csrf),
        ],
        Some(json!({})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let third = cookie_value(&set_cookies(&res), "kj_refresh");

    // The spent cookie presented again is a reuse: the session ends.
    let res = refresh_as(&app, &first).await;
    problem(res, 401).await;
    let res = refresh_as(
        &app,
        &Browser {
            refresh: third,
            ..second.clone()
        },
    )
    .await;
    problem(res, 401).await;
});

api_test!(a_failed_csrf_check_is_403_and_changes_nothing, |backend| {
    let app = start(backend).await;
    let client_id = client(&app, true).await;
    app.signup("amina@example.org").await;
    let (_, b) = sign_in(&app, "amina@example.org", &client_id).await;
    let mut seen = new_events(&app, &mut 0).await.len();
    let good_cookie = b.cookie_header();
    let refresh_only = format!("kj_refresh={}", b.refresh);
    let forged = format!("kj_refresh={}; kj_csrf=forged", b.refresh);
    // (Cookie header, other headers, what is wrong)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            &good_cookie,
            vec![("x-csrf-token", &b.csrf)],
            "no Origin, no Referer",
        ),
        (
            &good_cookie,
            vec![
                ("origin", "https://evil.example"),
                ("x-csrf-token", &b.csrf),
            ],
            "foreign Origin",
        ),
        (
            &good_cookie,
            vec![("origin", "null"), ("x-csrf-token", &b.csrf)],
            "opaque Origin",
        ),
        (
            &good_cookie,
            vec![
                ("origin", "https://jifunze.example.ke.evil.example"),
                ("x-csrf-token", &b.csrf),
            ],
            "look-alike Origin",
        ),
        (
            &good_cookie,
            vec![
                (
                    "referer",
                    "https://evil.example/?https://jifunze.example.ke",
                ),
                ("x-csrf-token", &b.csrf),
            ],
            "foreign Referer",
        ),
        (&good_cookie, vec![("origin", ORIGIN)], "no X-CSRF-Token"),
        (
            &good_cookie,
            vec![("origin", ORIGIN), ("x-csrf-token", "")],
            "empty X-CSRF-Token",
        ),
        (
            &good_cookie,
            vec![("origin", ORIGIN), ("x-csrf-token", "wrong")],
            "wrong X-CSRF-Token",
        ),
        (
            &refresh_only,
            vec![("origin", ORIGIN), ("x-csrf-token", &b.csrf)],
            "no kj_csrf cookie",
        ),
        (
            &forged,
            vec![("origin", ORIGIN), ("x-csrf-token", "forged")],
            "header = cookie, not the session's",
        ),
    ];
    for path in ["/api/v1/auth/refresh", "/api/v1/auth/logout"] {
        for (cookie, headers, case) in &cases {
            let res = post_with(&app, path, Some(cookie), headers, None).await;
            assert!(set_cookies(&res).is_empty(), "{path} {case}");
            let p = typed(res, 403, "csrf-failed").await;
            assert!(p["detail"].is_string(), "{case}");
        }
    }
    // A cookie session's token in the body needs the same proof.
    let res = post_with(
        &app,
        "/api/v1/auth/refresh",
        None,
        &[],
        Some(json!({"refresh_token": b.refresh})),
    )
    .await;
    typed(res, 403, "csrf-failed").await;
    let res = post_with(
        &app,
        "/api/v1/auth/logout",
        None,
        &[("origin", "https://evil.example")],
        Some(json!({"refresh_token": b.refresh})),
    )
    .await;
    typed(res, 403, "csrf-failed").await;
    none_since(&app, &mut seen, "refused refreshes and logouts").await;
    // Nothing was spent or ended: the cookie still refreshes.
    let res = refresh_as(&app, &b).await;
    assert_eq!(res.status(), 200);
});

api_test!(
    logout_by_cookie_ends_the_session_and_clears_both_cookies,
    |backend| {
        let app = start(backend).await;
        let client_id = client(&app, true).await;
        let amina = app.signup("amina@example.org").await;
        let (res, b) = sign_in(&app, "amina@example.org", &client_id).await;
        let body: Value = res.json().await.unwrap();
        let access = body["access_token"].as_str().unwrap().to_string();
        let mut seen = new_events(&app, &mut 0).await.len();
        let res = post_with(
            &app,
            "/api/v1/auth/logout",
            Some(&b.cookie_header()),
            &[("origin", ORIGIN), ("x-csrf-token", &b.csrf)],
            None,
        )
        .await;
        assert_eq!(res.status(), 204);
        assert_eq!(
            set_cookies(&res),
            vec![
                "kj_refresh=; Max-Age=0; Path=/api/v1/auth; Secure; HttpOnly; SameSite=Strict"
                    .to_string(),
                "kj_csrf=; Max-Age=0; Path=/; Secure; SameSite=Strict".to_string(),
            ]
        );
        only_event(
            &app,
            &mut seen,
            "user.signed_out",
            ("user", &amina.id),
            Some(&amina.id),
            json!({}),
            &[],
        )
        .await;
        // The session is over: its cookie and its access token.
        problem(refresh_as(&app, &b).await, 401).await;
        problem(app.get_auth("/api/v1/me", &access).await, 401).await;

        // Signed in again, a logout with the access token also clears the
        // cookies the browser sent.
        let (res, b) = sign_in(&app, "amina@example.org", &client_id).await;
        let body: Value = res.json().await.unwrap();
        let access = body["access_token"].as_str().unwrap().to_string();
        let res = send(
            &app,
            Method::POST,
            "/api/v1/auth/logout",
            Some(&access),
            None,
            &[("cookie", &b.cookie_header())],
        )
        .await;
        assert_eq!(res.status(), 204);
        assert_eq!(set_cookies(&res).len(), 2);
        assert!(set_cookies(&res).iter().all(|c| c.contains("Max-Age=0;")));
        problem(refresh_as(&app, &b).await, 401).await;
        // Nothing to sign out with: 401.
        problem(
            post_with(&app, "/api/v1/auth/logout", None, &[], None).await,
            401,
        )
        .await;
        problem(
            post_with(
                &app,
                "/api/v1/auth/logout",
                None,
                &[],
                Some(json!({"refresh_token": "kjr_nope"})),
            )
            .await,
            401,
        )
        .await;
    }
);

api_test!(the_json_token_flow_is_unchanged, |backend| {
    let app = start(backend).await;
    let plain_client = client(&app, false).await;
    let amina = app.signup("amina@example.org").await;
    // No client_id, or an app without cookie sessions: the pair in the body,
    // no cookies.
    for client in [None, Some(plain_client.as_str())] {
        let mut body = json!({"email": "amina@example.org", "password": PASSWORD});
        if let Some(c) = client {
            body["client_id"] = json!(c);
        }
        let res = app.post_json("/api/v1/auth/login", body, None).await;
        assert_eq!(res.status(), 200);
        assert!(set_cookies(&res).is_empty());
        assert_eq!(res.headers()["cache-control"], "no-store");
        let pair: Value = res.json().await.unwrap();
        let mut keys: Vec<&String> = pair.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["access_token", "expires_in", "refresh_token", "token_type"]
        );
        let res = app
            .post_json(
                "/api/v1/auth/refresh",
                json!({"refresh_token": pair["refresh_token"]}),
                None,
            )
            .await;
        assert!(set_cookies(&res).is_empty());
        let next = body_of(res, 200).await;
        assert!(next["refresh_token"].as_str().unwrap().starts_with("kjr_"));
        assert!(next.get("csrf_token").is_none());
        // Logout with the access token, as before: no cookies touched.
        let res = call(
            &app,
            Method::POST,
            "/api/v1/auth/logout",
            Some(next["access_token"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(res.status(), 204);
        assert!(set_cookies(&res).is_empty());
    }
    // A refresh token in a logout body ends its session (no cookie, no CSRF).
    let res = post_with(
        &app,
        "/api/v1/auth/logout",
        None,
        &[],
        Some(json!({"refresh_token": amina.refresh})),
    )
    .await;
    assert_eq!(res.status(), 204);
    problem(
        app.post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": amina.refresh}),
            None,
        )
        .await,
        401,
    )
    .await;
    // A JSON session's token in a cookie is not a cookie session: refused.
    let fresh = app.signin("amina@example.org").await;
    let res = post_with(
        &app,
        "/api/v1/auth/refresh",
        Some(&format!("kj_refresh={}; kj_csrf=x", fresh.refresh)),
        &[("origin", ORIGIN), ("x-csrf-token", "x")],
        None,
    )
    .await;
    typed(res, 403, "csrf-failed").await;

    // Bad input: an unknown app, no token at all, unknown fields.
    let res = app
        .post_json(
            "/api/v1/auth/login",
            json!({"email": "amina@example.org", "password": PASSWORD,
                   "client_id": "0193a5c2-7f10-7000-8000-000000000000"}),
            None,
        )
        .await;
    invalid(res, &["client_id"]).await;
    invalid(
        post_with(&app, "/api/v1/auth/refresh", None, &[], None).await,
        &["refresh_token"],
    )
    .await;
    invalid(
        post_with(&app, "/api/v1/auth/refresh", None, &[], Some(json!({}))).await,
        &["refresh_token"],
    )
    .await;
    invalid(
        app.post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": fresh.refresh, "client_id": plain_client}),
            None,
        )
        .await,
        &["client_id"],
    )
    .await;
    // The session survived all of that.
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": fresh.refresh}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
});

api_test!(
    a_deleted_app_s_cookie_sessions_can_no_longer_refresh,
    |backend| {
        let app = start(backend).await;
        let client_id = client(&app, true).await;
        app.signup("amina@example.org").await;
        let (_, b) = sign_in(&app, "amina@example.org", &client_id).await;
        let root = app.signin("roottrue@example.org").await;
        let res = call(
            &app,
            Method::DELETE,
            &format!("/api/v1/admin/clients/{client_id}"),
            Some(&root.access),
            None,
        )
        .await;
        assert_eq!(res.status(), 204);
        typed(refresh_as(&app, &b).await, 403, "csrf-failed").await;
        // Signing in for it is a 400 now.
        let res = app
            .post_json(
                "/api/v1/auth/login",
                json!({"email": "amina@example.org", "password": PASSWORD, "client_id": client_id}),
                None,
            )
            .await;
        invalid(res, &["client_id"]).await;
    }
);
