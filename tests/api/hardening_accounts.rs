//! Issue 13, accounts: lock-outs, reset floods, reset timing, verification.
//!
//! Many client addresses are simulated the way a deployment sees them:
//! loopback is a trusted proxy and each request names its client in
//! `X-Forwarded-For`.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use kujenga::config::Settings;
use kujenga::db::schema::email_tokens;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::{PASSWORD, TestApp, problem};

/// A client IP that signed in to its account before the attack.
const HOME: &str = "198.51.100.10";

/// Loopback is a trusted proxy (so `X-Forwarded-For` names the client),
/// and the per-IP rate limits stay out of the way.
fn behind_proxy(s: &mut Settings) {
    s.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    s.rate_limit.login_per_minute = 10_000;
    s.rate_limit.password_reset_per_hour = 10_000;
}

/// Signs in to `email` from client `ip`.
async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// The `Retry-After` seconds of an answer, if any.
fn retry_after(res: &reqwest::Response) -> Option<u64> {
    res.headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

/// A 429 problem with a `Retry-After` within `range`: its seconds.
async fn too_many(res: reqwest::Response, range: std::ops::RangeInclusive<u64>) -> u64 {
    let retry = retry_after(&res).expect("a 429 carries Retry-After");
    assert!(
        range.contains(&retry),
        "Retry-After {retry}, wanted {range:?}"
    );
    problem(res, 429).await;
    retry
}

/// `ip` fails `threshold` times on `email` (401 each), after which the
/// pair is locked: a few more wrong guesses and then the right password
/// all answer 429 with the lock's Retry-After (`lock_secs` or just below).
async fn attack_until_locked(
    app: &TestApp,
    ip: &str,
    email: &str,
    threshold: u32,
    lock_secs: u64,
    right_password: &str,
) {
    for i in 0..threshold {
        let res = login_from(app, ip, email, &format!("guess number {i} from {ip}")).await;
        problem(res, 401).await;
    }
    for i in 0..3 {
        let res = login_from(app, ip, email, &format!("more guessing {i} from {ip}")).await;
        too_many(res, lock_secs - 2..=lock_secs).await;
    }
    let res = login_from(app, ip, email, right_password).await;
    too_many(res, lock_secs - 2..=lock_secs).await;
}

/// The brake of `email` is on (interval > max wait): of two clients never
/// seen before, the first takes the free turn (401), the second's turn is
/// too far away (429). Uses up the free turn.
async fn assert_brake_on(app: &TestApp, email: &str, fresh: [&str; 2], interval: u64) {
    let res = login_from(app, fresh[0], email, "a fresh wrong guess").await;
    problem(res, 401).await;
    let res = login_from(app, fresh[1], email, "another fresh wrong guess").await;
    too_many(res, 1..=interval).await;
}

/// Signs in from `ip` with the right password: 200, and how long it took.
async fn quick_login(app: &TestApp, ip: &str, email: &str, password: &str) -> (Value, Duration) {
    let started = Instant::now();
    let res = login_from(app, ip, email, password).await;
    let took = started.elapsed();
    assert_eq!(res.status(), 200, "{email} from {ip}");
    (res.json().await.unwrap(), took)
}

async fn me(app: &TestApp, pair: &Value) -> Value {
    let res = app
        .get_auth("/api/v1/me", pair["access_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

api_test!(attackers_are_locked_out_but_the_owner_is_not, |backend| {
    // Four attackers, three failures each, lock them; their twelve
    // failures together turn each victim's brake on.
    let app = spawn_app_with(backend, |s| {
        behind_proxy(s);
        s.auth.lockout_threshold = 3;
        s.auth.lockout_base_secs = 60;
        s.auth.brake_threshold = 12;
        s.auth.brake_interval_secs = 5;
        s.auth.brake_max_wait_secs = 1;
    })
    .await
    .unwrap();
    let member = app.signup("victim@example.org").await;
    let admin = app.signup("root@example.org").await;
    app.make_admin(&admin.id).await;
    let attackers = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"];
    for (victim, role) in [(&member, "member"), (&admin, "admin")] {
        // The owner signed in from home before.
        quick_login(&app, HOME, &victim.email, PASSWORD).await;
        for ip in attackers {
            attack_until_locked(&app, ip, &victim.email, 3, 60, PASSWORD).await;
        }
        assert_brake_on(&app, &victim.email, ["192.0.2.1", "192.0.2.2"], 5).await;
        // The owner, from home, is neither locked nor braked: at once.
        let (pair, took) = quick_login(&app, HOME, &victim.email, PASSWORD).await;
        assert!(took < Duration::from_secs(2), "{role}: {took:?}");
        assert_eq!(me(&app, &pair).await["role"], role);
        // Which did not unlock the attackers.
        for ip in attackers {
            too_many(login_from(&app, ip, &victim.email, PASSWORD).await, 50..=60).await;
        }
    }
});

api_test!(the_brake_spaces_unknown_clients_only, |backend| {
    let app = spawn_app_with(backend, |s| {
        behind_proxy(s);
        s.auth.lockout_threshold = 100;
        s.auth.brake_threshold = 6;
        s.auth.brake_interval_secs = 1;
        s.auth.brake_max_wait_secs = 1;
    })
    .await
    .unwrap();
    let victim = app.signup("braked@example.org").await;
    quick_login(&app, HOME, &victim.email, PASSWORD).await;
    // Below the threshold nobody waits.
    for i in 0..6 {
        let started = Instant::now();
        let res = login_from(&app, "203.0.113.1", &victim.email, &format!("guess {i}")).await;
        problem(res, 401).await;
        assert!(started.elapsed() < Duration::from_millis(900));
    }
    // Now six unknown clients at once, and the owner meanwhile.
    let mut unknown = tokio::task::JoinSet::new();
    for i in 0..6 {
        let (client, url, email) = (
            app.client.clone(),
            app.url("/api/v1/auth/login"),
            victim.email.clone(),
        );
        unknown.spawn(async move {
            let started = Instant::now();
            let res = client
                .post(url)
                .header("x-forwarded-for", format!("203.0.113.{}", 10 + i))
                .json(&json!({"email": email, "password": format!("burst guess {i}")}))
                .send()
                .await
                .unwrap();
            let took = started.elapsed();
            let retry = retry_after(&res);
            (res.status().as_u16(), retry, took)
        });
    }
    // Once one is refused, the free turn and the next are both taken: an
    // unknown client now would be refused too.
    let mut answers = Vec::new();
    while let Some(answer) = unknown.join_next().await {
        let refused = answer.as_ref().unwrap().0 == 429;
        answers.push(answer.unwrap());
        if refused {
            break;
        }
    }
    let (_, owner_took) = quick_login(&app, HOME, &victim.email, PASSWORD).await;
    answers.extend(unknown.join_all().await);
    eprintln!("burst: {answers:?}; owner {owner_took:?}");
    let mut prompt = 0;
    let mut waited = 0;
    let mut refused = 0;
    for (status, retry, took) in &answers {
        match status {
            401 if *took < Duration::from_millis(900) => prompt += 1,
            401 => waited += 1,
            429 => {
                assert!(retry.is_some_and(|r| r >= 1), "{answers:?}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {answers:?}"),
        }
    }
    // One free turn, then turns a second apart (at most one within the
    // one-second wait); the rest is refused.
    assert!(prompt <= 1, "{answers:?}");
    assert!(waited <= 2, "{answers:?}");
    assert!(refused >= 3, "{answers:?}");
    assert_eq!(prompt + waited + refused, 6);
    // The owner from a known client was not made to wait.
    assert!(owner_took < Duration::from_millis(900), "{owner_took:?}");
    let (_, took) = quick_login(&app, HOME, &victim.email, PASSWORD).await;
    assert!(took < Duration::from_millis(900), "{took:?}");
});

api_test!(a_reset_from_a_new_client_ends_locks_and_brake, |backend| {
    let app = spawn_app_with(backend, |s| {
        behind_proxy(s);
        s.auth.lockout_threshold = 3;
        s.auth.lockout_base_secs = 60;
        s.auth.brake_threshold = 9;
        s.auth.brake_interval_secs = 5;
        s.auth.brake_max_wait_secs = 1;
    })
    .await
    .unwrap();
    let victim = app.signup("reset.victim@example.org").await;
    let attackers = ["203.0.113.1", "203.0.113.2", "203.0.113.3"];
    for ip in attackers {
        attack_until_locked(&app, ip, &victim.email, 3, 60, PASSWORD).await;
    }
    assert_brake_on(&app, &victim.email, ["192.0.2.1", "192.0.2.2"], 5).await;
    // The owner, on a new device, is braked like anyone unknown...
    let new_device = "192.0.2.77";
    too_many(
        login_from(&app, new_device, &victim.email, PASSWORD).await,
        1..=5,
    )
    .await;
    // ...until the password is reset from it.
    let token = app.reset_password_email(&victim.email).await;
    let new_password = "the owner has a brand new passphrase";
    let res = app
        .client
        .post(app.url("/api/v1/auth/password-reset/confirm"))
        .header("x-forwarded-for", new_device)
        .json(&json!({"token": token, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (_, took) = quick_login(&app, new_device, &victim.email, new_password).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The attackers' locks are gone (a wrong guess is a plain 401 again)...
    for ip in attackers {
        problem(
            login_from(&app, ip, &victim.email, "one more wrong guess").await,
            401,
        )
        .await;
    }
    // ...and so is the brake: unknown clients in a row are not refused.
    for ip in ["192.0.2.3", "192.0.2.4", "192.0.2.5"] {
        let started = Instant::now();
        problem(login_from(&app, ip, &victim.email, PASSWORD).await, 401).await;
        assert!(started.elapsed() < Duration::from_secs(2));
    }
});

api_test!(unknown_addresses_are_locked_and_braked_alike, |backend| {
    let app = spawn_app_with(backend, |s| {
        behind_proxy(s);
        s.auth.lockout_threshold = 3;
        s.auth.lockout_base_secs = 60;
        s.auth.brake_threshold = 6;
        s.auth.brake_interval_secs = 5;
        s.auth.brake_max_wait_secs = 1;
    })
    .await
    .unwrap();
    app.signup("esi@example.org").await;
    // Two clients guess until locked (six failures: the brake turns on),
    // then two new clients try.
    let script = [
        "203.0.113.1",
        "203.0.113.1",
        "203.0.113.1",
        "203.0.113.1",
        "203.0.113.2",
        "203.0.113.2",
        "203.0.113.2",
        "203.0.113.2",
        "192.0.2.1",
        "192.0.2.2",
    ];
    let mut runs = Vec::new();
    for email in ["esi@example.org", "nobody.here@example.org"] {
        let mut answers = Vec::new();
        for (i, ip) in script.iter().enumerate() {
            let res = login_from(&app, ip, email, &format!("wrong guess {i}")).await;
            let status = res.status().as_u16();
            let retry = retry_after(&res);
            let mut body = problem(res, status).await;
            let body = body.as_object_mut().unwrap();
            body.remove("request_id");
            // The detail repeats Retry-After, compared below with slack.
            let detail = body.remove("detail");
            if status == 401 {
                body.insert("detail".into(), detail.unwrap());
            }
            answers.push((status, retry, Value::Object(body.clone())));
        }
        runs.push(answers);
    }
    let statuses: Vec<u16> = runs[0].iter().map(|a| a.0).collect();
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 401, 401, 401, 429, 401, 429],
        "{:?}",
        runs[0]
    );
    for (known, unknown) in runs[0].iter().zip(&runs[1]) {
        assert_eq!(known.0, unknown.0, "{runs:?}");
        assert_eq!(known.2, unknown.2, "{runs:?}");
        match (known.1, unknown.1) {
            (None, None) => {}
            (Some(k), Some(u)) => assert!(k.abs_diff(u) <= 1, "{runs:?}"),
            _ => panic!("Retry-After differs: {runs:?}"),
        }
    }
    // Lock-outs (Retry-After about 60) and the brake (about 5) alike.
    assert!(runs[1][3].1.unwrap() >= 58, "{runs:?}");
    assert!(runs[1][9].1.unwrap() <= 5, "{runs:?}");
});

/// Asks for a reset link for `email` from client `ip`: the answer.
async fn reset_from(app: &TestApp, ip: &str, email: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/password-reset"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap()
}

async fn confirm_reset(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "new_password": new_password}),
        None,
    )
    .await
}

async fn resend(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    app.post_json("/api/v1/auth/verify-email/resend", json!({}), token)
        .await
}

fn reset_token(data: Option<Value>) -> String {
    data.expect("a reset email")["token"]
        .as_str()
        .unwrap()
        .to_string()
}

api_test!(a_reset_flood_sends_one_email, |backend| {
    let app = spawn_app_with(backend, behind_proxy).await.unwrap();
    let victim = app.signup("flooded@example.org").await;
    let mut flood = tokio::task::JoinSet::new();
    for i in 1..=25 {
        let (client, url, email) = (
            app.client.clone(),
            app.url("/api/v1/auth/password-reset"),
            victim.email.clone(),
        );
        flood.spawn(async move {
            let res = client
                .post(url)
                .header("x-forwarded-for", format!("203.0.113.{i}"))
                .json(&json!({"email": email}))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        });
    }
    let answers = flood.join_all().await;
    let unknown = reset_from(&app, "192.0.2.1", "nobody.here@example.org").await;
    assert_eq!(unknown.status(), 202);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(answers.len(), 25);
    for (status, body) in &answers {
        assert_eq!(*status, 202);
        assert_eq!(body, &unknown);
    }
    assert_eq!(app.wait_emails(&victim.email, "password_reset", 1).await, 1);
    // One more, a moment later, from yet another client: still one email.
    assert_eq!(
        reset_from(&app, "203.0.113.99", &victim.email)
            .await
            .status(),
        202
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.count_emails(&victim.email, "password_reset").await, 1);
    assert_eq!(
        app.count_emails("nobody.here@example.org", "password_reset")
            .await,
        0
    );
});

/// The password-reset tokens of `email`: `(created_at, used_at)`, oldest first.
async fn reset_tokens(
    app: &TestApp,
    email: &str,
) -> Vec<(chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> {
    let email = email.to_string();
    app.db
        .run(move |conn| {
            email_tokens::table
                .filter(email_tokens::email.eq(email))
                .filter(email_tokens::purpose.eq("password_reset"))
                .order(email_tokens::created_at.asc())
                .select((email_tokens::created_at, email_tokens::used_at))
                .load(conn)
        })
        .await
        .unwrap()
}

// Concurrent reset requests for one account queue on its row lock, so a
// request never expires the link another one emailed (on PostgreSQL, under
// READ COMMITTED, two could pass the caps at once before the lock). Twenty
// floods: the one link emailed by each works.
api_test!(the_link_a_reset_flood_emails_works, |backend| {
    let app = spawn_app_with(backend, |s| {
        behind_proxy(s);
        s.rate_limit.register_per_hour = 1000;
    })
    .await
    .unwrap();
    for n in 0..20 {
        let email = format!("flood{n}@example.org");
        assert_eq!(app.register(&email, PASSWORD).await.status(), 202);
        let mut flood = tokio::task::JoinSet::new();
        for i in 1..=25 {
            let (client, url, email) = (
                app.client.clone(),
                app.url("/api/v1/auth/password-reset"),
                email.clone(),
            );
            flood.spawn(async move {
                let res = client
                    .post(url)
                    .header("x-forwarded-for", format!("203.0.113.{i}"))
                    .json(&json!({"email": email}))
                    .send()
                    .await
                    .unwrap();
                res.status().as_u16()
            });
        }
        assert!(flood.join_all().await.iter().all(|s| *s == 202));
        assert_eq!(app.wait_emails(&email, "password_reset", 1).await, 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let token = reset_token(app.last_email_data(&email, "password_reset").await);
        let res = confirm_reset(&app, &token, "after the flood a new passphrase").await;
        assert_eq!(
            res.status(),
            204,
            "flood {n}: the emailed link is dead; reset tokens (created, used): {:?}",
            reset_tokens(&app, &email).await
        );
    }
});

/// Sleeps into the next wall-clock second (plus a little): links asked for
/// in different seconds never share an outbox dedupe key.
async fn next_second() {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let rest = Duration::from_secs(1) - Duration::from_nanos(u64::from(since_epoch.subsec_nanos()));
    tokio::time::sleep(rest + Duration::from_millis(20)).await;
}

api_test!(reset_links_are_capped_per_day, |backend| {
    let app = spawn_app_with(backend, |s| {
        behind_proxy(s);
        s.auth.email_link_interval_secs = 0;
        s.auth.email_links_per_day = 3;
    })
    .await
    .unwrap();
    let victim = app.signup("capped@example.org").await;
    let mut last_token = String::new();
    for i in 0..10 {
        if i < 3 {
            next_second().await;
        }
        let res = reset_from(&app, &format!("203.0.113.{}", i + 1), &victim.email).await;
        assert_eq!(res.status(), 202);
        if i < 3 {
            assert_eq!(
                app.wait_emails(&victim.email, "password_reset", i + 1)
                    .await,
                i + 1,
                "link {}",
                i + 1
            );
            let token = reset_token(app.last_email_data(&victim.email, "password_reset").await);
            assert_ne!(token, last_token);
            last_token = token;
        } else {
            // Held back: nothing to wait for but the background work.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.count_emails(&victim.email, "password_reset").await, 3);
    // The last link sent is still valid after the requests held back.
    let res = confirm_reset(&app, &last_token, "three links a day are plenty").await;
    assert_eq!(res.status(), 204);
});

// Twice asking for a reset link within one second, with no interval
// between links: the second request replaces the first link and its own
// email goes out (no outbox dedupe key when links are not spaced), so the
// owner always holds a working link.
api_test!(a_replaced_reset_link_is_always_emailed, |backend| {
    let app = spawn_app_with(backend, |s| {
        behind_proxy(s);
        s.auth.email_link_interval_secs = 0;
    })
    .await
    .unwrap();
    let victim = app.signup("same.second@example.org").await;
    next_second().await;
    assert_eq!(
        reset_from(&app, "203.0.113.1", &victim.email)
            .await
            .status(),
        202
    );
    assert_eq!(app.wait_emails(&victim.email, "password_reset", 1).await, 1);
    assert_eq!(
        reset_from(&app, "203.0.113.2", &victim.email)
            .await
            .status(),
        202
    );
    app.wait_emails(&victim.email, "password_reset", 2).await;
    let token = reset_token(app.last_email_data(&victim.email, "password_reset").await);
    // Whatever was sent last must work.
    let res = confirm_reset(&app, &token, "the newest link must work").await;
    assert_eq!(res.status(), 204);
});

api_test!(reset_timing_does_not_reveal_the_account, |backend| {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.password_reset_per_hour = 100_000;
    })
    .await
    .unwrap();
    app.signup("timed@example.org").await;
    let time = |email: String| {
        let app = &app;
        async move {
            let started = Instant::now();
            let res = app
                .post_json("/api/v1/auth/password-reset", json!({"email": email}), None)
                .await;
            let took = started.elapsed();
            assert_eq!(res.status(), 202);
            res.bytes().await.unwrap();
            took
        }
    };
    // Warm the connection and both paths.
    for i in 0..4 {
        time("timed@example.org".into()).await;
        time(format!("warm{i}@example.org")).await;
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let mut within = false;
    for run in 1..=3 {
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for i in 0..60 {
            if i % 2 == 0 {
                known.push(time("timed@example.org".into()).await);
            } else {
                unknown.push(time(format!("ghost{run}.{i}@example.org")).await);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (k, u) = (median(known), median(unknown));
        let ratio = k.max(u) / k.min(u);
        eprintln!(
            "run {run}: known median {:.3} ms, unknown median {:.3} ms, ratio {ratio:.3}",
            k * 1000.0,
            u * 1000.0
        );
        if ratio <= 1.10 {
            within = true;
            break;
        }
    }
    assert!(within, "the medians differ by more than 10 % in every run");
    // The known address got its one link; the unknown ones nothing.
    assert_eq!(
        app.wait_emails("timed@example.org", "password_reset", 1)
            .await,
        1
    );
    assert_eq!(
        app.count_emails("ghost1.1@example.org", "password_reset")
            .await,
        0
    );
});

api_test!(registering_again_resends_an_unconfirmed_link, |backend| {
    let app = spawn_app_with(backend, |s| s.auth.email_link_interval_secs = 0)
        .await
        .unwrap();
    let email = "lost.link@example.org";
    let first = app.register(email, PASSWORD).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    assert_eq!(app.count_emails(email, "verify_email").await, 1);
    let first_token = app.last_email_data(email, "verify_email").await.unwrap()["token"].clone();
    // The link was lost; later, the owner registers again (any password).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again = app.register(email, "some other strong passphrase").await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.count_emails(email, "verify_email").await, 2);
    assert_eq!(app.count_emails(email, "registration_attempt").await, 0);
    let token = app.last_email_data(email, "verify_email").await.unwrap()["token"].clone();
    assert_ne!(token, first_token);
    let res = app
        .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
        .await;
    assert_eq!(res.status(), 200);
    let pair: Value = app.login(email, PASSWORD).await.json().await.unwrap();
    assert_eq!(me(&app, &pair).await["email_verified"], true);
    // Verified now: another registration warns the owner instead.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = app.register(email, "yet another strong passphrase").await;
    assert_eq!(third.status(), 202);
    assert_eq!(third.json::<Value>().await.unwrap(), first);
    assert_eq!(app.count_emails(email, "verify_email").await, 2);
    assert_eq!(app.count_emails(email, "registration_attempt").await, 1);

    // With the default interval (5 minutes), a second registration soon
    // after the first sends nothing more.
    let app = spawn_app(backend).await.unwrap();
    let first = app.register(email, PASSWORD).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = app.register(email, "some other strong passphrase").await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.count_emails(email, "verify_email").await, 1);
    assert_eq!(app.count_emails(email, "registration_attempt").await, 0);
});

api_test!(a_reset_link_verifies_an_unverified_account, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let email = "never.verified@example.org";
    assert_eq!(app.register(email, PASSWORD).await.status(), 202);
    let pair: Value = app.login(email, PASSWORD).await.json().await.unwrap();
    assert_eq!(me(&app, &pair).await["email_verified"], false);
    let token = app.reset_password_email(email).await;
    let new_password = "a reset proves the mailbox too";
    assert_eq!(
        confirm_reset(&app, &token, new_password).await.status(),
        204
    );
    let res = app.login(email, new_password).await;
    assert_eq!(res.status(), 200);
    let pair: Value = res.json().await.unwrap();
    assert_eq!(me(&app, &pair).await["email_verified"], true);
});

api_test!(verification_can_be_resent_within_the_caps, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let email = "resend@example.org";
    assert_eq!(app.register(email, PASSWORD).await.status(), 202);
    let res = app.login(email, PASSWORD).await;
    assert_eq!(res.status(), 200, "unverified accounts can sign in");
    let pair: Value = res.json().await.unwrap();
    let access = pair["access_token"].as_str().unwrap().to_string();
    // Not signed in.
    problem(resend(&app, None).await, 401).await;
    // Right after registering, the interval holds a second link back.
    too_many(resend(&app, Some(&access)).await, 295..=300).await;
    assert_eq!(app.count_emails(email, "verify_email").await, 1);
    // The registration's link is older than the interval now.
    app.db
        .run(|conn| {
            diesel::update(email_tokens::table)
                .set(
                    email_tokens::created_at.eq(kujenga::db::now() - chrono::Duration::minutes(10)),
                )
                .execute(conn)
        })
        .await
        .unwrap();
    let res = resend(&app, Some(&access)).await;
    assert_eq!(res.status(), 202);
    assert!(
        res.json::<Value>().await.unwrap()["message"].is_string(),
        "an Accepted body"
    );
    assert_eq!(app.count_emails(email, "verify_email").await, 2);
    // At once again: 429 until the interval has passed.
    too_many(resend(&app, Some(&access)).await, 295..=300).await;
    assert_eq!(app.count_emails(email, "verify_email").await, 2);
    // The new link verifies.
    let token = app.last_email_data(email, "verify_email").await.unwrap()["token"].clone();
    let res = app
        .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(me(&app, &pair).await["email_verified"], true);
    // Nothing awaits verification any more.
    let p = problem(resend(&app, Some(&access)).await, 409).await;
    assert_eq!(p["type"], "urn:kujenga:problem:already-verified");
    assert_eq!(app.count_emails(email, "verify_email").await, 2);
});
