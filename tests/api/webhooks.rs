//! Webhooks (issue 18, points 5–10): subscriptions of institutions and
//! partnerships, Standard Webhooks signatures checked by an independent
//! HMAC, secret rotation, the retry schedule (on a shortened clock:
//! `webhooks.retry_scale`), Retry-After, 410, disabling after failures with
//! the owners emailed, the SSRF guard (at creation and at delivery, with a
//! listener counting connections), redirects not followed, the delivery
//! log, redelivery, ping, access rules and bad input.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::set_platform_role;
use crate::helpers::http::{body_of, call, invalid, problem};
use crate::helpers::institutions;
use crate::helpers::webhooks::{Answer, Receiver, ok, signed_with, status};
use crate::helpers::{Account, Backend, TestApp, spawn_app_with};

/// The app with 127.0.0.1 allowed (`allowed`), a fast worker and the retry
/// schedule shortened 1000× (5 s → 5 ms, 5 min → 300 ms, 30 min → 1.8 s).
async fn app_with(backend: Backend, allowed: &[&str], max_failures: u32) -> TestApp {
    let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    spawn_app_with(backend, move |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.rate_limit.register_per_hour = 10_000;
        s.rate_limit.login_per_minute = 10_000;
        s.webhooks.allowed_insecure_hosts = allowed;
        s.webhooks.poll_interval_ms = 20;
        s.webhooks.retry_scale = 0.001;
        s.webhooks.timeout_ms = 500;
        s.webhooks.connect_timeout_ms = 500;
        s.webhooks.max_consecutive_failures = max_failures;
    })
    .await
    .expect("app")
}

fn hooks(slug: &str) -> String {
    format!("/api/v1/institutions/{slug}/webhooks")
}

/// An owner and their institution `slug`.
async fn owner_of(app: &TestApp, email: &str, slug: &str) -> Account {
    let owner = app.signup(email).await;
    institutions::create_slug(app, &owner.access, slug).await;
    owner
}

async fn create_hook(app: &TestApp, token: &str, slug: &str, url: &str, types: &[&str]) -> Value {
    let res = call(
        app,
        Method::POST,
        &hooks(slug),
        Some(token),
        Some(json!({"url": url, "event_types": types, "description": "LMS sync"})),
    )
    .await;
    body_of(res, 201).await
}

/// Changes the institution's description: one `institution.updated`.
async fn touch(app: &TestApp, token: &str, slug: &str, text: &str) {
    let res = call(
        app,
        Method::PATCH,
        &institutions::inst_path(slug),
        Some(token),
        Some(json!({"description": text})),
    )
    .await;
    body_of(res, 200).await;
}

async fn deliveries(app: &TestApp, token: &str, slug: &str, hook: &str) -> Vec<Value> {
    let res = call(
        app,
        Method::GET,
        &format!("{}/{hook}/deliveries", hooks(slug)),
        Some(token),
        None,
    )
    .await;
    body_of(res, 200).await["items"].as_array().unwrap().clone()
}

/// Waits until the newest delivery's status is `want`.
async fn wait_status(app: &TestApp, token: &str, slug: &str, hook: &str, want: &str) -> Value {
    for _ in 0..300 {
        let items = deliveries(app, token, slug, hook).await;
        if let Some(d) = items.first()
            && d["status"] == want
        {
            return d.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no delivery became {want}: {:?}",
        deliveries(app, token, slug, hook).await
    );
}

async fn hook_state(app: &TestApp, token: &str, slug: &str, hook: &str) -> Value {
    let res = call(
        app,
        Method::GET,
        &format!("{}/{hook}", hooks(slug)),
        Some(token),
        None,
    )
    .await;
    body_of(res, 200).await
}

/// A host name other than `localhost` that resolves to loopback addresses
/// only on this machine (from /etc/hosts: `localhost.`, the machine's own
/// name, `ip6-localhost`…), if there is one.
async fn loopback_name() -> Option<String> {
    let mut names = vec![
        "localhost.".to_string(),
        "ip6-localhost".into(),
        "ip6-loopback".into(),
    ];
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        names.push(h.trim().to_string());
    }
    if let Ok(hosts) = std::fs::read_to_string("/etc/hosts") {
        for line in hosts
            .lines()
            .filter(|l| l.starts_with("127.") || l.starts_with("::1"))
        {
            names.extend(line.split_whitespace().skip(1).map(str::to_string));
        }
    }
    for name in names
        .into_iter()
        .filter(|n| !n.is_empty() && n != "localhost")
    {
        let addrs: Vec<std::net::SocketAddr> =
            match tokio::net::lookup_host((name.as_str(), 443)).await {
                Ok(addrs) => addrs.collect(),
                Err(_) => continue,
            };
        if !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()) {
            return Some(name);
        }
    }
    None
}

async fn sql(app: &TestApp, statement: String) {
    use diesel::RunQueryDsl;
    app.db
        .run(move |conn| diesel::sql_query(statement).execute(conn))
        .await
        .expect("sql");
}

api_test!(delivers_signed_events_pings_and_rotates, |backend| {
    let app = app_with(backend, &["127.0.0.1"], 50).await;
    let owner = owner_of(&app, "owner@example.org", "lab").await;
    let receiver = Receiver::start(Vec::new()).await;
    let hook = create_hook(
        &app,
        &owner.access,
        "lab",
        &receiver.url("/in"),
        &["institution.updated"],
    )
    .await;
    let id = hook["id"].as_str().unwrap().to_string();
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{hook}");
    assert_eq!(hook["enabled"], true);
    assert_eq!(hook["event_types"], json!(["institution.updated"]));
    // The secret is shown once.
    let shown = hook_state(&app, &owner.access, "lab", &id).await;
    assert!(shown.get("secret").is_none(), "{shown}");

    touch(&app, &owner.access, "lab", "First change.").await;
    let got = receiver.wait_for(1).await;
    let r = &got[0];
    assert_eq!(r.path, "/in");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("webhook-id").unwrap().starts_with("msg_"));
    assert!(signed_with(r, &secret), "signature of {r:?}");
    assert!(!signed_with(r, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert!(r.header("authorization").is_none() && r.header("cookie").is_none());
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["type"], "institution.updated");
    assert_eq!(body["data"]["subject"]["kind"], "institution");
    assert!(body["timestamp"].is_string());
    let d = wait_status(&app, &owner.access, "lab", &id, "delivered").await;
    assert_eq!(d["id"], r.header("webhook-id").unwrap());
    assert_eq!(d["attempts"][0]["status_code"], 200);
    assert_eq!(d["attempts"][0]["outcome"], "delivered");
    assert_eq!(d["attempts"][0]["response_excerpt"], "thanks");
    assert!(d["attempts"][0]["latency_ms"].is_i64());

    // A ping, whatever the event types.
    let res = call(
        &app,
        Method::POST,
        &format!("{}/{id}/ping", hooks("lab")),
        Some(&owner.access),
        None,
    )
    .await;
    let ping = body_of(res, 202).await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].header("webhook-id"), ping["id"].as_str());
    assert!(serde_json::from_str::<Value>(&got[1].body).unwrap()["type"] == "webhook.ping");
    assert!(signed_with(&got[1], &secret));

    // Rotation: both signatures during the overlap.
    let res = call(
        &app,
        Method::POST,
        &format!("{}/{id}/rotate-secret", hooks("lab")),
        Some(&owner.access),
        None,
    )
    .await;
    assert_eq!(
        res.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "no-store"
    );
    let rotated = body_of(res, 200).await;
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    assert!(rotated["previous_secret_valid_until"].is_string());
    touch(&app, &owner.access, "lab", "Second change.").await;
    let got = receiver.wait_for(3).await;
    let r = &got[2];
    assert_eq!(r.header("webhook-signature").unwrap().split(' ').count(), 2);
    assert!(signed_with(r, &new_secret) && signed_with(r, &secret));
    // After the overlap, the new secret alone.
    sql(
        &app,
        format!(
            "UPDATE webhook_subscriptions SET previous_secret_until = created_at WHERE id = '{id}'"
        ),
    )
    .await;
    touch(&app, &owner.access, "lab", "Third change.").await;
    let got = receiver.wait_for(4).await;
    assert_eq!(
        got[3]
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    assert!(signed_with(&got[3], &new_secret) && !signed_with(&got[3], &secret));

    // Redelivery: the same webhook-id again.
    let first = got[0].header("webhook-id").unwrap().to_string();
    let res = call(
        &app,
        Method::POST,
        &format!("{}/{id}/deliveries/{first}/redeliver", hooks("lab")),
        Some(&owner.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 202);
    let got = receiver.wait_for(5).await;
    assert_eq!(got[4].header("webhook-id"), Some(first.as_str()));
    assert!(signed_with(&got[4], &new_secret));
    // Unknown message: 404.
    let res = call(
        &app,
        Method::POST,
        &format!("{}/{id}/deliveries/msg_nope/redeliver", hooks("lab")),
        Some(&owner.access),
        None,
    )
    .await;
    problem(res, 404).await;
    // Metrics by event type.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            "kujenga_webhook_attempts_total{event_type=\"institution.updated\",outcome=\"delivered\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "kujenga_webhook_messages{event_type=\"webhook.ping\",status=\"delivered\"} 1"
        )
    );
});

api_test!(retries_follow_the_schedule_and_retry_after, |backend| {
    let app = app_with(backend, &["127.0.0.1"], 50).await;
    let owner = owner_of(&app, "owner@example.org", "lab").await;
    let receiver = Receiver::start(vec![
        Answer::Status(429, vec!["Retry-After: 60".into()], "slow down".into()),
        status(500),
        Answer::Hang(Duration::from_secs(2)),
        ok(),
    ])
    .await;
    let hook = create_hook(
        &app,
        &owner.access,
        "lab",
        &receiver.url("/in"),
        &["institution.updated"],
    )
    .await;
    let id = hook["id"].as_str().unwrap().to_string();
    touch(&app, &owner.access, "lab", "A change.").await;
    let d = wait_status(&app, &owner.access, "lab", &id, "delivered").await;
    let got = receiver.received();
    assert_eq!(got.len(), 4, "{got:?}");
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "one webhook-id: {ids:?}");
    let attempts = d["attempts"].as_array().unwrap();
    let outcomes: Vec<&str> = attempts
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["retry", "retry", "retry", "delivered"]);
    let codes: Vec<Value> = attempts.iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(429), json!(500), Value::Null, json!(200)]);
    assert!(
        attempts[2]["error"].as_str().unwrap().contains("timed out"),
        "{d}"
    );
    assert_eq!(attempts[0]["response_excerpt"], "slow down");
    // The waits: Retry-After 60 s (not the schedule's 5 s), then 5 min,
    // then 30 min — all scaled by 0.001.
    let gap = |a: &Value| {
        let started =
            chrono::DateTime::parse_from_rfc3339(a["started_at"].as_str().unwrap()).unwrap();
        let retry = chrono::DateTime::parse_from_rfc3339(a["retry_at"].as_str().unwrap()).unwrap();
        (retry - started).num_milliseconds()
    };
    assert!(
        (60..500).contains(&gap(&attempts[0])),
        "{}",
        gap(&attempts[0])
    );
    assert!(
        (300..800).contains(&gap(&attempts[1])),
        "{}",
        gap(&attempts[1])
    );
    assert!(
        (1800..2800).contains(&gap(&attempts[2])),
        "{}",
        gap(&attempts[2])
    );
    let hook = hook_state(&app, &owner.access, "lab", &id).await;
    assert_eq!(hook["consecutive_failures"], 0, "reset by the success");
});

api_test!(
    gone_disables_and_failures_disable_and_email_owners,
    |backend| {
        let app = app_with(backend, &["127.0.0.1"], 2).await;
        let owner = owner_of(&app, "owner@example.org", "lab").await;
        // 410: disabled at once, nothing more queued.
        let gone = Receiver::start(vec![status(410)]).await;
        let hook = create_hook(
            &app,
            &owner.access,
            "lab",
            &gone.url("/"),
            &["institution.updated"],
        )
        .await;
        let id = hook["id"].as_str().unwrap().to_string();
        touch(&app, &owner.access, "lab", "One.").await;
        let d = wait_status(&app, &owner.access, "lab", &id, "failed").await;
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
        let state = hook_state(&app, &owner.access, "lab", &id).await;
        assert_eq!(state["enabled"], false);
        assert_eq!(state["disabled_reason"], "gone");
        touch(&app, &owner.access, "lab", "Two.").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(deliveries(&app, &owner.access, "lab", &id).await.len(), 1);
        assert_eq!(gone.received().len(), 1);
        assert_eq!(
            app.wait_emails(&owner.email, "webhook_disabled", 1).await,
            1
        );

        // 400 is not retried; two failures in a row (the setting) disable it.
        let broken = Receiver::start(vec![status(400), status(400)]).await;
        let hook = create_hook(
            &app,
            &owner.access,
            "lab",
            &broken.url("/"),
            &["institution.updated"],
        )
        .await;
        let id2 = hook["id"].as_str().unwrap().to_string();
        touch(&app, &owner.access, "lab", "Three.").await;
        wait_status(&app, &owner.access, "lab", &id2, "failed").await;
        assert_eq!(
            hook_state(&app, &owner.access, "lab", &id2).await["enabled"],
            true
        );
        touch(&app, &owner.access, "lab", "Four.").await;
        broken.wait_for(2).await;
        for _ in 0..100 {
            if hook_state(&app, &owner.access, "lab", &id2).await["enabled"] == false {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let state = hook_state(&app, &owner.access, "lab", &id2).await;
        assert_eq!(state["enabled"], false, "{state}");
        assert_eq!(state["disabled_reason"], "failures");
        assert_eq!(state["consecutive_failures"], 2);
        assert_eq!(
            app.wait_emails(&owner.email, "webhook_disabled", 2).await,
            2
        );
        // Enabling again clears the reason and the count.
        let res = call(
            &app,
            Method::PATCH,
            &format!("{}/{id2}", hooks("lab")),
            Some(&owner.access),
            Some(json!({"enabled": true})),
        )
        .await;
        let state = body_of(res, 200).await;
        assert_eq!(state["enabled"], true);
        assert_eq!(state["disabled_reason"], Value::Null);
        assert_eq!(state["consecutive_failures"], 0);
    }
);

api_test!(the_ssrf_guard_refuses_and_never_connects, |backend| {
    // Nothing allowed: the production rule.
    let app = app_with(backend, &[], 50).await;
    let owner = owner_of(&app, "owner@example.org", "lab").await;
    let listener = Receiver::start(Vec::new()).await;
    let p = listener.port;
    let cases = [
        (format!("https://127.0.0.1:{p}/in"), "loopback"),
        ("https://10.1.2.3/in".to_string(), "private"),
        (
            "https://169.254.169.254/latest/meta-data".to_string(),
            "link-local",
        ),
        (format!("https://[::1]:{p}/in"), "loopback"),
        (format!("https://[::ffff:127.0.0.1]:{p}/in"), "IPv4-mapped"),
        (format!("https://localhost:{p}/in"), "localhost"),
        (format!("http://example.org:{p}/in"), "https"),
    ];
    // A name (not `localhost` itself) that resolves to a loopback address.
    let name = loopback_name().await;
    let cases: Vec<(String, &str)> = cases
        .into_iter()
        .chain(
            name.iter()
                .map(|n| (format!("https://{n}:{p}/in"), "resolves to")),
        )
        .collect();
    for (url, rule) in &cases {
        let res = call(
            &app,
            Method::POST,
            &hooks("lab"),
            Some(&owner.access),
            Some(json!({"url": url, "event_types": ["institution.updated"]})),
        )
        .await;
        let body = invalid(res, &["url"]).await;
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(rule), "{url}: {message}");
    }
    let list = body_of(
        call(&app, Method::GET, &hooks("lab"), Some(&owner.access), None).await,
        200,
    )
    .await;
    assert_eq!(list["items"], json!([]), "nothing stored");

    // At delivery: the host now resolves to a loopback address (as if its
    // DNS changed after creation), a literal loopback address, a redirect.
    let app = app_with(backend, &["127.0.0.1"], 50).await;
    let owner = owner_of(&app, "owner@example.org", "lab").await;
    let target = Receiver::start(Vec::new()).await;
    let elsewhere = Receiver::start(Vec::new()).await;
    let redirector = Receiver::start(vec![Answer::Status(
        302,
        vec![format!(
            "Location: http://127.0.0.1:{}/private",
            elsewhere.port
        )],
        String::new(),
    )])
    .await;
    let urls: Vec<String> = name
        .iter()
        .map(|n| format!("https://{n}:{}/in", target.port))
        .chain([
            format!("https://[::1]:{}/in", target.port),
            format!("https://10.0.0.1:{}/in", target.port),
        ])
        .collect();
    for (i, url) in urls.iter().enumerate() {
        let hook = create_hook(
            &app,
            &owner.access,
            "lab",
            &target.url("/in"),
            &["institution.updated"],
        )
        .await;
        let id = hook["id"].as_str().unwrap().to_string();
        sql(
            &app,
            format!("UPDATE webhook_subscriptions SET url = '{url}' WHERE id = '{id}'"),
        )
        .await;
        touch(&app, &owner.access, "lab", &format!("Change {i}.")).await;
        let d = wait_status(&app, &owner.access, "lab", &id, "failed").await;
        assert_eq!(d["attempts"][0]["outcome"], "refused", "{url}: {d}");
        assert!(
            d["attempts"][0]["error"].as_str().unwrap().contains("SSRF"),
            "{d}"
        );
        sql(
            &app,
            format!("UPDATE webhook_subscriptions SET enabled = false WHERE id = '{id}'"),
        )
        .await;
    }
    assert_eq!(target.connections(), 0, "never connected");
    let hook = create_hook(
        &app,
        &owner.access,
        "lab",
        &redirector.url("/in"),
        &["institution.updated"],
    )
    .await;
    let id = hook["id"].as_str().unwrap().to_string();
    touch(&app, &owner.access, "lab", "Redirected.").await;
    let d = wait_status(&app, &owner.access, "lab", &id, "failed").await;
    assert_eq!(d["attempts"][0]["status_code"], 302);
    assert_eq!(redirector.received().len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(elsewhere.connections(), 0, "the redirect was not followed");
});

api_test!(access_rules_and_bad_input, |backend| {
    let app = app_with(backend, &["127.0.0.1"], 50).await;
    let owner = owner_of(&app, "owner@example.org", "lab").await;
    let other = owner_of(&app, "other@example.org", "other-lab").await;
    let editor = app.signup("editor@example.org").await;
    institutions::join(&app, &owner.access, "lab", &editor, "editor").await;
    let stranger = app.signup("stranger@example.org").await;
    let receiver = Receiver::start(Vec::new()).await;
    let hook = create_hook(
        &app,
        &owner.access,
        "lab",
        &receiver.url("/"),
        &["institution.updated"],
    )
    .await;
    let id = hook["id"].as_str().unwrap().to_string();
    let theirs = create_hook(
        &app,
        &other.access,
        "other-lab",
        &receiver.url("/"),
        &["institution.updated"],
    )
    .await;
    let theirs_id = theirs["id"].as_str().unwrap().to_string();
    let body = json!({"url": receiver.url("/"), "event_types": ["institution.updated"]});
    let item = format!("{}/{id}", hooks("lab"));
    let paths: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, hooks("lab"), None),
        (Method::POST, hooks("lab"), Some(body.clone())),
        (Method::GET, item.clone(), None),
        (
            Method::PATCH,
            item.clone(),
            Some(json!({"description": "x"})),
        ),
        (Method::DELETE, item.clone(), None),
        (Method::POST, format!("{item}/rotate-secret"), None),
        (Method::GET, format!("{item}/deliveries"), None),
        (Method::POST, format!("{item}/ping"), None),
    ];
    for (method, path, body) in &paths {
        // Anonymous: 401; outsiders: 404; a member who is not an owner: 403.
        let res = call(&app, method.clone(), path, None, body.clone()).await;
        problem(res, 401).await;
        let res = call(
            &app,
            method.clone(),
            path,
            Some(&stranger.access),
            body.clone(),
        )
        .await;
        problem(res, 404).await;
        let res = call(
            &app,
            method.clone(),
            path,
            Some(&other.access),
            body.clone(),
        )
        .await;
        problem(res, 404).await;
        let res = call(
            &app,
            method.clone(),
            path,
            Some(&editor.access),
            body.clone(),
        )
        .await;
        problem(res, 403).await;
    }
    // Someone else's hook through one's own institution: 404.
    let res = call(
        &app,
        Method::GET,
        &format!("{}/{theirs_id}", hooks("lab")),
        Some(&owner.access),
        None,
    )
    .await;
    problem(res, 404).await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("{}/{theirs_id}", hooks("lab")),
        Some(&owner.access),
        None,
    )
    .await;
    problem(res, 404).await;
    // Bad input: a 400 naming the field, nothing stored or changed.
    let bad = [
        (
            json!({"url": receiver.url("/"), "event_types": ["no.such_event"]}),
            "event_types[0]",
        ),
        (
            json!({"url": receiver.url("/"), "event_types": []}),
            "event_types",
        ),
        (
            json!({"url": "hooks.example.org", "event_types": ["institution.updated"]}),
            "url",
        ),
        (
            json!({"url": "http://hooks.example.org/", "event_types": ["institution.updated"]}),
            "url",
        ),
        (
            json!({"url": "https://user:pw@hooks.example.org/", "event_types": ["institution.updated"]}),
            "url",
        ),
        (
            json!({"url": receiver.url("/"), "event_types": ["institution.updated"], "description": "x".repeat(501)}),
            "description",
        ),
    ];
    for (body, field) in bad {
        let res = call(
            &app,
            Method::POST,
            &hooks("lab"),
            Some(&owner.access),
            Some(body),
        )
        .await;
        invalid(res, &[field]).await;
    }
    let res = call(&app, Method::POST, &hooks("lab"), Some(&owner.access),
        Some(json!({"url": receiver.url("/"), "event_types": ["institution.updated"], "secret": "mine"}))).await;
    problem(res, 400).await;
    let res = call(
        &app,
        Method::PATCH,
        &item,
        Some(&owner.access),
        Some(json!({"event_types": ["nope.nope"]})),
    )
    .await;
    invalid(res, &["event_types[0]"]).await;
    let res = call(
        &app,
        Method::PATCH,
        &item,
        Some(&owner.access),
        Some(json!({"url": "https://10.0.0.1/"})),
    )
    .await;
    invalid(res, &["url"]).await;
    let res = call(
        &app,
        Method::GET,
        &format!("{}?limit=0", hooks("lab")),
        Some(&owner.access),
        None,
    )
    .await;
    invalid(res, &["limit"]).await;
    let list = body_of(
        call(&app, Method::GET, &hooks("lab"), Some(&owner.access), None).await,
        200,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["items"][0],
        hook_state(&app, &owner.access, "lab", &id).await
    );
    assert_eq!(list["items"][0]["description"], "LMS sync");
    assert_eq!(
        list["items"][0]["event_types"],
        json!(["institution.updated"])
    );
    // Redelivering a message still queued: 409.
    sql(
        &app,
        format!("UPDATE webhook_subscriptions SET enabled = false WHERE id = '{id}'"),
    )
    .await;
    let ping = body_of(
        call(
            &app,
            Method::POST,
            &format!("{item}/ping"),
            Some(&owner.access),
            None,
        )
        .await,
        202,
    )
    .await;
    let res = call(
        &app,
        Method::POST,
        &format!(
            "{item}/deliveries/{}/redeliver",
            ping["id"].as_str().unwrap()
        ),
        Some(&owner.access),
        None,
    )
    .await;
    problem(res, 409).await;
    // The owner deletes it; then it is gone.
    let res = call(&app, Method::DELETE, &item, Some(&owner.access), None).await;
    assert_eq!(res.status(), 204);
    problem(
        call(&app, Method::GET, &item, Some(&owner.access), None).await,
        404,
    )
    .await;
    // Partnerships: the coordinators' only.
    let coord = app.signup("coord@example.org").await;
    set_platform_role(&app, &coord.id, "coordinator").await;
    let coord = app.signin("coord@example.org").await;
    let res = call(&app, Method::POST, "/api/v1/partnerships", Some(&coord.access),
        Some(json!({"slug": "part-one", "title": "Partnership p1", "starts_on": "2026-03-01", "ends_on": "2028-02-29"}))).await;
    body_of(res, 201).await;
    let phooks = "/api/v1/partnerships/part-one/webhooks";
    let res = call(
        &app,
        Method::POST,
        phooks,
        Some(&coord.access),
        Some(body.clone()),
    )
    .await;
    body_of(res, 201).await;
    for who in [&owner, &stranger] {
        problem(
            call(&app, Method::GET, phooks, Some(&who.access), None).await,
            404,
        )
        .await;
        problem(
            call(
                &app,
                Method::POST,
                phooks,
                Some(&who.access),
                Some(body.clone()),
            )
            .await,
            404,
        )
        .await;
    }
    problem(
        call(
            &app,
            Method::GET,
            "/api/v1/partnerships/nope/webhooks",
            Some(&coord.access),
            None,
        )
        .await,
        404,
    )
    .await;
});

api_test!(each_hook_receives_only_what_its_owner_may_see, |backend| {
    let app = app_with(backend, &["127.0.0.1"], 50).await;
    let owner = owner_of(&app, "owner@example.org", "lab").await;
    let other = owner_of(&app, "other@example.org", "other-lab").await;
    let mine = Receiver::start(Vec::new()).await;
    let partner = Receiver::start(Vec::new()).await;
    create_hook(
        &app,
        &owner.access,
        "lab",
        &mine.url("/"),
        &["institution.updated", "partnership.updated"],
    )
    .await;
    let coord = app.signup("coord@example.org").await;
    set_platform_role(&app, &coord.id, "coordinator").await;
    let coord = app.signin("coord@example.org").await;
    for slug in ["part-one", "part-two"] {
        let res = call(&app, Method::POST, "/api/v1/partnerships", Some(&coord.access),
            Some(json!({"slug": slug, "title": format!("Partnership {slug}"), "starts_on": "2026-03-01", "ends_on": "2028-02-29"}))).await;
        body_of(res, 201).await;
    }
    let res = call(&app, Method::POST, "/api/v1/partnerships/part-one/webhooks", Some(&coord.access),
        Some(json!({"url": partner.url("/"), "event_types": ["partnership.updated", "institution.updated", "resource.updated"]}))).await;
    body_of(res, 201).await;
    // Another institution's change: neither hears of it.
    touch(&app, &other.access, "other-lab", "Theirs.").await;
    // The other partnership's change: not p1's hook.
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/partnerships/part-two",
        Some(&coord.access),
        Some(json!({"title": "Renamed two"})),
    )
    .await;
    body_of(res, 200).await;
    // Its own: each hears its own.
    touch(&app, &owner.access, "lab", "Ours.").await;
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/partnerships/part-one",
        Some(&coord.access),
        Some(json!({"title": "Renamed one"})),
    )
    .await;
    body_of(res, 200).await;
    let got = mine.wait_for(1).await;
    let got_p = partner.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let types = |r: &[crate::helpers::webhooks::Received]| -> Vec<(String, String)> {
        r.iter()
            .map(|r| {
                let b: Value = serde_json::from_str(&r.body).unwrap();
                (
                    b["type"].as_str().unwrap().to_string(),
                    b["data"]["subject"]["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let lab_id = {
        let app_db = app.db.clone();
        app_db
            .run(|c| kujenga::db::institutions::by_slug(c, "lab"))
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let p1_id = {
        let app_db = app.db.clone();
        app_db
            .run(|c| kujenga::db::partnerships::by_slug(c, "part-one"))
            .await
            .unwrap()
            .unwrap()
            .id
    };
    assert_eq!(
        types(&mine.received()),
        [("institution.updated".to_string(), lab_id)],
        "{got:?}"
    );
    assert_eq!(
        types(&partner.received()),
        [("partnership.updated".to_string(), p1_id)],
        "{got_p:?}"
    );
});
