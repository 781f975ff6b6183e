//! `/auth/*`: registration, verification, login, tokens, logout, reset —
//! and the attacks on them.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use kujenga::db::schema::{email_tokens, users};
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::{PASSWORD, TestApp, problem};

/// The body of a problem without its request id (to compare answers).
async fn problem_body(res: reqwest::Response, status: u16) -> Value {
    let mut body = problem(res, status).await;
    body.as_object_mut().unwrap().remove("request_id");
    body
}

async fn user_count(app: &TestApp) -> i64 {
    app.db
        .run(|conn| users::table.count().get_result::<i64>(conn))
        .await
        .unwrap()
}

async fn password_hash(app: &TestApp, email: &str) -> String {
    let email = email.to_lowercase();
    app.db
        .run(move |conn| {
            users::table
                .filter(users::email_normalized.eq(email))
                .select(users::password_hash)
                .first::<String>(conn)
        })
        .await
        .unwrap()
}

api_test!(
    registration_reveals_nothing_about_existing_accounts,
    |backend| {
        let app = spawn_app(backend).await.unwrap();
        let first = app.register("amina@example.org", PASSWORD).await;
        assert_eq!(first.status(), 202);
        let first: Value = first.json().await.unwrap();
        // Same address again, in other case: the same answer...
        let again = app
            .register("AMINA@example.org", "another strong passphrase here")
            .await;
        assert_eq!(again.status(), 202);
        let again: Value = again.json().await.unwrap();
        assert_eq!(first, again);
        assert_eq!(
            user_count(&app).await,
            1,
            "emails are unique case-insensitively"
        );
        // The address is not verified yet and its link went out a moment
        // ago: no second link within the caps, and no warning either.
        assert_eq!(
            app.count_emails("amina@example.org", "verify_email").await,
            1
        );
        assert_eq!(
            app.count_emails("amina@example.org", "registration_attempt")
                .await,
            0
        );
        // Once verified, the owner hears about a new attempt instead.
        let token = app
            .last_email_data("amina@example.org", "verify_email")
            .await
            .unwrap()["token"]
            .clone();
        let res = app
            .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
            .await;
        assert_eq!(res.status(), 200);
        let third = app
            .register("amina@example.org", "yet another strong passphrase")
            .await;
        assert_eq!(third.json::<Value>().await.unwrap(), first);
        assert_eq!(
            app.count_emails("amina@example.org", "verify_email").await,
            1
        );
        assert_eq!(
            app.count_emails("amina@example.org", "registration_attempt")
                .await,
            1
        );
    }
);

api_test!(registration_validates_every_field, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let cases: &[(Value, &[&str], &str)] = &[
        (
            json!({"email": "not-an-email", "password": PASSWORD, "display_name": "A"}),
            &["email"],
            "bad email",
        ),
        (
            json!({"email": "a@example.org", "password": "short", "display_name": "A"}),
            &["password"],
            "short password",
        ),
        (
            json!({"email": "a@example.org", "password": "passwordpassword", "display_name": "A"}),
            &["password"],
            "guessable password",
        ),
        (
            json!({"email": "kwame.mensah@example.org", "password": "kwame.mensah 2026 rules", "display_name": "A"}),
            &["password"],
            "built on the email",
        ),
        (
            json!({"email": "a@example.org", "password": PASSWORD, "display_name": "A", "country": "XX"}),
            &["country"],
            "bad country",
        ),
        (
            json!({"email": "a@example.org", "password": PASSWORD, "display_name": ""}),
            &["display_name"],
            "empty name",
        ),
        (
            json!({"email": "bad", "password": "short", "display_name": ""}),
            &["email", "display_name"],
            "several at once",
        ),
        (
            json!({"email": "a@example.org", "password": PASSWORD, "display_name": "A", "role": "admin"}),
            &["role"],
            "mass assignment",
        ),
        (
            json!({"email": "a@example.org", "display_name": "A"}),
            &["password"],
            "missing password",
        ),
    ];
    for (body, fields, case) in cases {
        let res = app
            .post_json("/api/v1/auth/register", body.clone(), None)
            .await;
        let p = problem(res, 400).await;
        let got: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        for f in *fields {
            assert!(got.contains(f), "{case}: {p}");
        }
    }
    assert_eq!(user_count(&app).await, 0, "nothing was created");
    // Unicode passwords are welcome and never truncated.
    let res = app
        .register("unicode@example.org", "ŋgɔ́ndɔ bɛlɛ́ ɖé ɖaxó nú mi")
        .await;
    assert_eq!(res.status(), 202);
});

api_test!(a_huge_password_is_refused_quickly, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let started = Instant::now();
    let huge = "a".repeat(1024 * 1024);
    let res = app.register("big@example.org", &huge).await;
    let status = res.status().as_u16();
    assert!(status == 413 || status == 400, "{status}");
    let res = app
        .post_json(
            "/api/v1/auth/login",
            json!({"email": "big@example.org", "password": "a".repeat(200_000)}),
            None,
        )
        .await;
    assert_eq!(res.status(), 401);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(user_count(&app).await, 0);
});

api_test!(
    verification_tokens_are_single_use_hashed_and_expire,
    |backend| {
        let app = spawn_app(backend).await.unwrap();
        app.register("kofi@example.org", PASSWORD).await;
        let token = app
            .last_email_data("kofi@example.org", "verify_email")
            .await
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        // Stored only as a hash.
        let stored: Vec<String> = app
            .db
            .run(|conn| {
                email_tokens::table
                    .select(email_tokens::token_hash)
                    .load(conn)
            })
            .await
            .unwrap();
        assert!(!stored.contains(&token));
        assert_eq!(stored[0].len(), 64);

        // An unverified user can log in.
        let res = app.login("kofi@example.org", PASSWORD).await;
        assert_eq!(res.status(), 200);
        let pair: Value = res.json().await.unwrap();
        let me: Value = app
            .get_auth("/api/v1/me", pair["access_token"].as_str().unwrap())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["email_verified"], false);

        let verify = |token: String| {
            app.post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
        };
        assert_eq!(verify(token.clone()).await.status(), 200);
        let p = problem(verify(token).await, 400).await;
        assert_eq!(p["errors"][0]["field"], "token");
        problem(verify("made-up".into()).await, 400).await;

        // An expired token does not work.
        app.register("ama@example.org", PASSWORD).await;
        let token = app
            .last_email_data("ama@example.org", "verify_email")
            .await
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        app.db
            .run(|conn| {
                diesel::update(email_tokens::table)
                    .set(
                        email_tokens::expires_at
                            .eq(kujenga::db::now() - chrono::Duration::minutes(1)),
                    )
                    .execute(conn)
            })
            .await
            .unwrap();
        problem(verify(token).await, 400).await;
    }
);

api_test!(login_answers_the_same_for_unknown_and_wrong, |backend| {
    let app = spawn_app(backend).await.unwrap();
    app.signup("esi@example.org").await;
    let wrong = app
        .login("esi@example.org", "not the right passphrase")
        .await;
    let unknown = app
        .login("nobody@example.org", "not the right passphrase")
        .await;
    assert_eq!(
        problem_body(wrong, 401).await,
        problem_body(unknown, 401).await
    );

    // And about the same time: both verify an argon2 hash.
    let mut wrong_t = Vec::new();
    let mut unknown_t = Vec::new();
    for i in 0..3 {
        let t = Instant::now();
        app.login("esi@example.org", &format!("wrong passphrase {i}"))
            .await;
        wrong_t.push(t.elapsed());
        let t = Instant::now();
        app.login(&format!("ghost{i}@example.org"), "wrong passphrase")
            .await;
        unknown_t.push(t.elapsed());
    }
    wrong_t.sort();
    unknown_t.sort();
    let (w, u) = (wrong_t[1].as_secs_f64(), unknown_t[1].as_secs_f64());
    assert!(
        // Without the dummy hash an unknown address answers ~50x faster;
        // the band is wide because the machine is shared.
        u > w * 0.25 && u < w * 4.0,
        "wrong {w:.4}s vs unknown {u:.4}s"
    );
});

api_test!(login_returns_a_token_pair, |backend| {
    let app = spawn_app(backend).await.unwrap();
    app.signup("yaw@example.org").await;
    let res = app.login("  YAW@example.org ", PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let pair: Value = res.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert!(pair["refresh_token"].as_str().unwrap().starts_with("kjr_"));
    let jwt = pair["access_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
    assert!(header["kid"].is_string());
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    for claim in ["iss", "aud", "sub", "iat", "exp", "jti", "typ", "sid"] {
        assert!(!claims[claim].is_null(), "{claim}: {claims}");
    }
    assert_eq!(claims["typ"], "access");
});

api_test!(failed_logins_back_off_per_address, |backend| {
    let app = spawn_app_with(backend, |s| {
        s.auth.lockout_threshold = 3;
        s.auth.lockout_base_secs = 2;
    })
    .await
    .unwrap();
    app.signup("abena@example.org").await;
    for _ in 0..3 {
        problem(
            app.login("abena@example.org", "wrong wrong wrong").await,
            401,
        )
        .await;
    }
    // Locked now, even with the right password.
    let res = app.login("abena@example.org", PASSWORD).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    problem(res, 429).await;
    // Unknown addresses are throttled the same way (nothing to learn).
    for _ in 0..3 {
        problem(
            app.login("ghost@example.org", "wrong wrong wrong").await,
            401,
        )
        .await;
    }
    problem(
        app.login("ghost@example.org", "wrong wrong wrong").await,
        429,
    )
    .await;
    // After the lock, the right password works and resets the count.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.login("abena@example.org", PASSWORD).await.status(), 200);
    problem(
        app.login("abena@example.org", "wrong wrong wrong").await,
        401,
    )
    .await;
    assert_eq!(app.login("abena@example.org", PASSWORD).await.status(), 200);
});

api_test!(per_ip_rate_limits_answer_429, |backend| {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.login_per_minute = 3;
        s.rate_limit.password_reset_per_hour = 2;
        s.rate_limit.register_per_hour = 2;
        s.rate_limit.refresh_per_minute = 2;
    })
    .await
    .unwrap();
    for _ in 0..3 {
        app.login("x@example.org", "whatever whatever").await;
    }
    let res = app.login("x@example.org", "whatever whatever").await;
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    problem(res, 429).await;
    for (path, body, n) in [
        (
            "/api/v1/auth/password-reset",
            json!({"email": "x@example.org"}),
            2,
        ),
        (
            "/api/v1/auth/refresh",
            json!({"refresh_token": "kjr_nope"}),
            2,
        ),
    ] {
        for _ in 0..n {
            app.post_json(path, body.clone(), None).await;
        }
        problem(app.post_json(path, body.clone(), None).await, 429).await;
    }
    app.register("r1@example.org", PASSWORD).await;
    app.register("r2@example.org", PASSWORD).await;
    problem(app.register("r3@example.org", PASSWORD).await, 429).await;
});

/// Signs `claims` with the app's own key (so only the claims are wrong).
fn forge(app: &TestApp, header: Value, claims: Value, secret: Option<&[u8]>) -> String {
    let (key, _) =
        kujenga::keys::load_or_create(&app.database.data_dir().join("signing-key.json")).unwrap();
    let mut header = header;
    if header["kid"].is_null() {
        header["kid"] = json!(key.kid);
    }
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let input = format!("{h}.{c}");
    let alg = header["alg"].as_str().unwrap_or("HS256");
    let sig = match alg {
        "none" => String::new(),
        "HS512" => {
            use hmac::Mac;
            let mut mac =
                hmac::Hmac::<sha2::Sha512>::new_from_slice(secret.unwrap_or(key.secret())).unwrap();
            mac.update(input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        _ => {
            use hmac::Mac;
            let mut mac =
                hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.unwrap_or(key.secret())).unwrap();
            mac.update(input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
    };
    format!("{input}.{sig}")
}

api_test!(forged_and_misused_tokens_are_401, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let account = app.signup("adjoa@example.org").await;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(account.access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let without = |key: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(key);
        c
    };
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    // The forging itself works: the untouched claims are accepted.
    let control = forge(&app, hs256.clone(), claims.clone(), None);
    assert_eq!(app.get_auth("/api/v1/me", &control).await.status(), 200);

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            forge(
                &app,
                json!({"alg": "none", "typ": "JWT"}),
                claims.clone(),
                None,
            ),
        ),
        (
            "another algorithm",
            forge(
                &app,
                json!({"alg": "HS512", "typ": "JWT"}),
                claims.clone(),
                None,
            ),
        ),
        (
            "another key",
            forge(&app, hs256.clone(), claims.clone(), Some(&[7u8; 64])),
        ),
        (
            "unknown kid",
            forge(
                &app,
                json!({"alg": "HS256", "kid": "nope"}),
                claims.clone(),
                None,
            ),
        ),
        (
            "expired",
            forge(&app, hs256.clone(), with("exp", json!(now - 120)), None),
        ),
        (
            "exp as a string",
            forge(
                &app,
                hs256.clone(),
                with("exp", json!((now + 3600).to_string())),
                None,
            ),
        ),
        (
            "exp missing",
            forge(&app, hs256.clone(), without("exp"), None),
        ),
        (
            "wrong iss",
            forge(&app, hs256.clone(), with("iss", json!("evil")), None),
        ),
        (
            "wrong aud",
            forge(&app, hs256.clone(), with("aud", json!("other-api")), None),
        ),
        (
            "jti missing",
            forge(&app, hs256.clone(), without("jti"), None),
        ),
        (
            "iat missing",
            forge(&app, hs256.clone(), without("iat"), None),
        ),
        (
            "iat a year ahead",
            forge(
                &app,
                hs256.clone(),
                with("iat", json!(now + 365 * 24 * 3600)),
                None,
            ),
        ),
        (
            "iat a minute ahead (beyond the leeway)",
            forge(&app, hs256.clone(), with("iat", json!(now + 60)), None),
        ),
        (
            "a lifetime longer than an access token's",
            forge(
                &app,
                hs256.clone(),
                {
                    let mut c = with("iat", json!(now - 10));
                    c["exp"] = json!(now + 365 * 24 * 3600);
                    c
                },
                None,
            ),
        ),
        (
            "refresh typ",
            forge(&app, hs256.clone(), with("typ", json!("refresh")), None),
        ),
        (
            "old token version",
            forge(&app, hs256.clone(), with("ver", json!(-1)), None),
        ),
        (
            "unknown session",
            forge(&app, hs256.clone(), with("sid", json!("nope")), None),
        ),
        ("refresh token as access token", account.refresh.clone()),
        ("garbage", "not.a.jwt".into()),
    ];
    for (case, token) in cases {
        let res = app.get_auth("/api/v1/me", &token).await;
        assert_eq!(res.status(), 401, "{case}");
        assert!(res.headers().get("www-authenticate").is_some(), "{case}");
        problem(res, 401).await;
    }
    // A malformed Authorization header is 401 too.
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
});

api_test!(refresh_rotates_and_reuse_revokes_the_session, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let account = app.signup("kwesi@example.org").await;
    let refresh = |token: &str| {
        app.post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": token}),
            None,
        )
    };
    let res = refresh(&account.refresh).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let pair: Value = res.json().await.unwrap();
    let (access2, refresh2) = (
        pair["access_token"].as_str().unwrap().to_string(),
        pair["refresh_token"].as_str().unwrap().to_string(),
    );
    assert_ne!(refresh2, account.refresh);
    assert_eq!(app.get_auth("/api/v1/me", &access2).await.status(), 200);

    // The old refresh token again: theft. The whole session ends.
    problem(refresh(&account.refresh).await, 401).await;
    problem(refresh(&refresh2).await, 401).await;
    problem(app.get_auth("/api/v1/me", &access2).await, 401).await;
    problem(app.get_auth("/api/v1/me", &account.access).await, 401).await;
    // Other sessions are untouched.
    let other = app.signin("kwesi@example.org").await;
    assert_eq!(
        app.get_auth("/api/v1/me", &other.access).await.status(),
        200
    );
    problem(refresh("kjr_made_up").await, 401).await;
});

api_test!(
    logout_ends_this_session_and_logout_all_every_one,
    |backend| {
        let app = spawn_app(backend).await.unwrap();
        let a = app.signup("efua@example.org").await;
        let b = app.signin("efua@example.org").await;
        let c = app.signin("efua@example.org").await;
        let res = app
            .post_json("/api/v1/auth/logout", json!({}), Some(&a.access))
            .await;
        assert_eq!(res.status(), 204);
        problem(app.get_auth("/api/v1/me", &a.access).await, 401).await;
        let res = app
            .post_json(
                "/api/v1/auth/refresh",
                json!({"refresh_token": a.refresh}),
                None,
            )
            .await;
        problem(res, 401).await;
        assert_eq!(app.get_auth("/api/v1/me", &b.access).await.status(), 200);

        let res = app
            .post_json("/api/v1/auth/logout-all", json!({}), Some(&b.access))
            .await;
        assert_eq!(res.status(), 204);
        for account in [&b, &c] {
            problem(app.get_auth("/api/v1/me", &account.access).await, 401).await;
            let res = app
                .post_json(
                    "/api/v1/auth/refresh",
                    json!({"refresh_token": account.refresh}),
                    None,
                )
                .await;
            problem(res, 401).await;
        }
        problem(
            app.post_json("/api/v1/auth/logout", json!({}), None).await,
            401,
        )
        .await;
    }
);

api_test!(
    password_reset_is_enumeration_safe_and_single_use,
    |backend| {
        // No spacing between links here: this test is about the links.
        let app = spawn_app_with(backend, |s| s.auth.email_link_interval_secs = 0)
            .await
            .unwrap();
        let a = app.signup("akosua@example.org").await;
        let reset = |email: &str| {
            app.post_json("/api/v1/auth/password-reset", json!({"email": email}), None)
        };
        let known = reset("akosua@example.org").await;
        let unknown = reset("nobody@example.org").await;
        for res in [&known, &unknown] {
            assert_eq!(res.status(), 202);
        }
        // A malformed address is the client's mistake, whoever asks.
        let p = problem(reset("not an email").await, 400).await;
        assert_eq!(p["errors"][0]["field"], "email");
        let (k, u): (Value, Value) = (known.json().await.unwrap(), unknown.json().await.unwrap());
        assert_eq!(k, u);
        assert_eq!(
            app.wait_emails("akosua@example.org", "password_reset", 1)
                .await,
            1
        );
        assert_eq!(
            app.count_emails("nobody@example.org", "password_reset")
                .await,
            0
        );
        let token = app
            .last_email_data("akosua@example.org", "password_reset")
            .await
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        let confirm = |token: &str, pw: &str| {
            app.post_json(
                "/api/v1/auth/password-reset/confirm",
                json!({"token": token, "new_password": pw}),
                None,
            )
        };
        // A weak password does not spend the token.
        let p = problem(confirm(&token, "short").await, 400).await;
        assert_eq!(p["errors"][0]["field"], "new_password");
        let new_password = "mvua kubwa imenyesha jana usiku";
        assert_eq!(confirm(&token, new_password).await.status(), 204);
        problem(confirm(&token, new_password).await, 400).await;
        // Every session ended; the old password no longer works, the new one does.
        problem(app.get_auth("/api/v1/me", &a.access).await, 401).await;
        problem(app.login("akosua@example.org", PASSWORD).await, 401).await;
        assert_eq!(
            app.login("akosua@example.org", new_password).await.status(),
            200
        );
        // A second request replaces the first link.
        let first = app.reset_password_email("akosua@example.org").await;
        let second = app.reset_password_email("akosua@example.org").await;
        assert_ne!(first, second);
        problem(
            confirm(&first, "another long passphrase entirely").await,
            400,
        )
        .await;
    }
);

api_test!(old_password_hashes_are_upgraded_at_login, |backend| {
    let app = spawn_app(backend).await.unwrap();
    app.signup("nana@example.org").await;
    let owasp = password_hash(&app, "nana@example.org").await;
    assert!(
        owasp.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{owasp}"
    );
    // Store a hash made with weaker, older parameters.
    let weak = kujenga::auth::password::Hasher::new(1024, 1, 1)
        .unwrap()
        .hash(PASSWORD)
        .unwrap();
    let stored = weak.clone();
    app.db
        .run(move |conn| {
            diesel::update(users::table)
                .set(users::password_hash.eq(stored))
                .execute(conn)
        })
        .await
        .unwrap();
    assert_eq!(app.login("nana@example.org", PASSWORD).await.status(), 200);
    let upgraded = password_hash(&app, "nana@example.org").await;
    assert_ne!(upgraded, weak);
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{upgraded}"
    );
    assert_eq!(app.login("nana@example.org", PASSWORD).await.status(), 200);
});

api_test!(admin_create_makes_or_promotes_an_admin, |backend| {
    use std::io::Write;
    let database = crate::helpers::TestDatabase::new(backend).unwrap();
    let run = |email: &str, password: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kujenga"))
            .env("DATABASE_URL", &database.url)
            .env_remove("KUJENGA_CONFIG")
            .arg("--data-dir")
            .arg(database.data_dir())
            .args(["admin", "create", "--email", email])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let weak = run("root@example.org", "short");
    assert!(!weak.status.success());
    let out = run("root@example.org", PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = crate::helpers::spawn_app_on(database, |_| {}).await;
    let admin = app.signin("root@example.org").await;
    let me: Value = app
        .get_auth("/api/v1/me", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["email_verified"], true);
    assert_eq!(
        app.get_auth("/api/v1/users", &admin.access).await.status(),
        200
    );
});

api_test!(rate_limits_see_through_trusted_proxies_only, |backend| {
    // Behind a trusted proxy (here: loopback), each forwarded client has
    // its own budget.
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.login_per_minute = 2;
        s.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    .unwrap();
    let login_from = |ip: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": "x@example.org", "password": "whatever whatever"}))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(login_from("203.0.113.1").await.unwrap().status(), 401);
    }
    problem(login_from("203.0.113.1").await.unwrap(), 429).await;
    assert_eq!(login_from("203.0.113.2").await.unwrap().status(), 401);

    // Without trust, the header is ignored: one budget for the peer.
    let app = spawn_app_with(backend, |s| s.rate_limit.login_per_minute = 2)
        .await
        .unwrap();
    for ip in ["203.0.113.1", "203.0.113.2"] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": "x@example.org", "password": "whatever whatever"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "203.0.113.3")
        .json(&json!({"email": "x@example.org", "password": "whatever whatever"}))
        .send()
        .await
        .unwrap();
    problem(res, 429).await;
});

// Someone who briefly held a session must lose every foothold when the
// owner resets the password: API tokens, and a pending email change.
api_test!(a_password_reset_clears_every_foothold, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let victim = app.signup("esi.owner@example.org").await;
    // The intruder mints an API token and starts an email change.
    let token: Value = app
        .post_json(
            "/api/v1/me/tokens",
            json!({"name": "backdoor", "scopes": ["read", "write"]}),
            Some(&victim.access),
        )
        .await
        .json()
        .await
        .unwrap();
    let api_token = token["token"].as_str().unwrap().to_string();
    // Without the password the email cannot be changed at all.
    let res = app
        .client
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&victim.access)
        .json(&json!({"email": "intruder@example.net"}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 400).await;
    assert_eq!(p["errors"][0]["field"], "current_password");
    let res = app
        .client
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&victim.access)
        .json(&json!({"email": "intruder@example.net", "current_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let change_token = app
        .last_email_data("intruder@example.net", "verify_email")
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    // The owner resets the password.
    let reset = app.reset_password_email(&victim.email).await;
    let res = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": reset, "new_password": "a fresh passphrase for esi only"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);

    // The API token is dead, and the pending change can no longer complete.
    problem(app.get_auth("/api/v1/me", &api_token).await, 401).await;
    let res = app
        .post_json(
            "/api/v1/auth/verify-email",
            json!({"token": change_token}),
            None,
        )
        .await;
    problem(res, 400).await;
    let me: Value = app
        .get_auth(
            "/api/v1/me",
            app.login(&victim.email, "a fresh passphrase for esi only")
                .await
                .json::<Value>()
                .await
                .unwrap()["access_token"]
                .as_str()
                .unwrap(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], victim.email);
    assert!(me["pending_email"].is_null());
});

api_test!(the_current_address_cancels_a_pending_change, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let a = app.signup("kojo@example.org").await;
    let patch = |body: Value| {
        app.client
            .patch(app.url("/api/v1/me"))
            .bearer_auth(&a.access)
            .json(&body)
            .send()
    };
    let res = patch(json!({"email": "kojo@example.net", "current_password": PASSWORD}))
        .await
        .unwrap();
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["pending_email"], "kojo@example.net");
    let token = app
        .last_email_data("kojo@example.net", "verify_email")
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let me: Value = patch(json!({"email": "KOJO@example.org"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(me["pending_email"].is_null());
    let res = app
        .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
        .await;
    problem(res, 400).await;
    // A wrong current password counts as a failed login.
    let res =
        patch(json!({"email": "kojo@example.net", "current_password": "not my password at all"}))
            .await
            .unwrap();
    let p = problem(res, 400).await;
    assert_eq!(p["errors"][0]["field"], "current_password");
});

api_test!(the_last_owner_cannot_deactivate_themselves, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let owner = app.signup("owner.only@example.org").await;
    let res = app
        .post_json(
            "/api/v1/institutions",
            json!({"slug": "solo-lab", "name": "Solo Lab", "country": "GH", "kind": "research_lab"}),
            Some(&owner.access),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    let p = problem(res, 409).await;
    assert_eq!(p["type"], "urn:kujenga:problem:last-owner");
    assert!(p["detail"].as_str().unwrap().contains("solo-lab"));
    assert_eq!(
        app.get_auth("/api/v1/me", &owner.access).await.status(),
        200
    );
});

api_test!(notification_preferences_take_one_item_per_kind, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let a = app.signup("prefs@example.org").await;
    let items: Vec<Value> = (0..50)
        .map(|_| json!({"kind": "api_token_created", "email": false}))
        .collect();
    let res = app
        .client
        .put(app.url("/api/v1/me/notification-preferences"))
        .bearer_auth(&a.access)
        .json(&json!({"items": items}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 400).await;
    assert_eq!(p["errors"][0]["field"], "items");
});

api_test!(failed_logins_fade_after_a_day, |backend| {
    use kujenga::db::schema::login_failures;
    let app = spawn_app_with(backend, |s| {
        s.auth.lockout_threshold = 2;
        s.auth.lockout_base_secs = 60;
    })
    .await
    .unwrap();
    app.signup("fade@example.org").await;
    problem(
        app.login("fade@example.org", "wrong wrong wrong").await,
        401,
    )
    .await;
    // The first failure was long ago (and any lock has run out).
    app.db
        .run(|conn| {
            diesel::update(login_failures::table)
                .set((
                    login_failures::updated_at.eq(kujenga::db::now() - chrono::Duration::hours(25)),
                    login_failures::locked_until.eq(None::<chrono::NaiveDateTime>),
                ))
                .execute(conn)
        })
        .await
        .unwrap();
    // So this failure is the first of a new count: no lock yet.
    problem(
        app.login("fade@example.org", "wrong wrong wrong").await,
        401,
    )
    .await;
    assert_eq!(app.login("fade@example.org", PASSWORD).await.status(), 200);
    // Two fresh failures in a row still lock.
    problem(
        app.login("fade@example.org", "wrong wrong wrong").await,
        401,
    )
    .await;
    problem(
        app.login("fade@example.org", "wrong wrong wrong").await,
        401,
    )
    .await;
    problem(app.login("fade@example.org", PASSWORD).await, 429).await;
});
