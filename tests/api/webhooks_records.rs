//! What webhooks leave behind: delivered and failed messages are pruned
//! after `webhooks.retention_secs` by the hourly housekeeping (on a test
//! clock), queued and in-flight ones never.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::http::{body_of, call, problem};
use crate::helpers::institutions;
use crate::helpers::webhooks::{Answer, Receiver, status};
use crate::helpers::{Backend, TestApp, spawn_app_with};
use kujenga::db::schema::{webhook_attempts as wa, webhook_messages as wm};

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.rate_limit.register_per_hour = 10_000;
        s.rate_limit.login_per_minute = 10_000;
        s.webhooks.allowed_insecure_hosts = vec!["127.0.0.1".into()];
        s.webhooks.poll_interval_ms = 20;
    })
    .await
    .expect("app")
}

const HOOKS: &str = "/api/v1/institutions/lab/webhooks";

async fn hook(app: &TestApp, token: &str, url: String) -> String {
    let res = call(
        app,
        Method::POST,
        HOOKS,
        Some(token),
        Some(json!({"url": url, "event_types": ["institution.updated"]})),
    )
    .await;
    body_of(res, 201).await["id"].as_str().unwrap().to_string()
}

async fn touch(app: &TestApp, token: &str, text: &str) {
    let res = call(
        app,
        Method::PATCH,
        "/api/v1/institutions/lab",
        Some(token),
        Some(json!({"description": text})),
    )
    .await;
    body_of(res, 200).await;
}

async fn log(app: &TestApp, token: &str, hook: &str) -> Vec<Value> {
    let res = call(
        app,
        Method::GET,
        &format!("{HOOKS}/{hook}/deliveries?limit=100"),
        Some(token),
        None,
    )
    .await;
    body_of(res, 200).await["items"].as_array().unwrap().clone()
}

/// Waits until the hook's log has `n` messages, each in `status` (`*`: any)
/// with at least one attempt; returns them.
async fn settled(app: &TestApp, token: &str, hook: &str, n: usize, status: &str) -> Vec<Value> {
    for _ in 0..400 {
        let items = log(app, token, hook).await;
        if items.len() == n
            && items
                .iter()
                .all(|d| (status == "*" || d["status"] == status) && !d["attempts"].as_array().unwrap().is_empty())
        {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not {n} × {status}: {:?}", log(app, token, hook).await);
}

/// The hourly housekeeping round as of `now`: webhook messages pruned.
async fn housekeeping(app: &TestApp, now: NaiveDateTime) -> usize {
    let state = app.state.clone();
    app.db
        .run(move |c| {
            Ok::<_, kujenga::error::ApiError>(kujenga::jobs::housekeeping::run(c, &state, now))
        })
        .await
        .unwrap()
        .webhook_messages
}

async fn attempts(app: &TestApp) -> i64 {
    app.db
        .run(|c| wa::table.count().get_result::<i64>(c))
        .await
        .unwrap()
}

api_test!(old_delivered_and_failed_messages_are_pruned, |backend| {
    let app = app(backend).await;
    let owner = app.signup("owner@example.org").await;
    institutions::create_slug(&app, &owner.access, "lab").await;
    let t = owner.access.as_str();
    let ok = Receiver::start(Vec::new()).await;
    let refusing = Receiver::start(vec![status(400); 10]).await;
    // Answers 503 with a Retry-After of 10 h: the message waits, queued.
    let busy = Receiver::start(vec![
        Answer::Status(
            503,
            vec!["Retry-After: 36000".into()],
            "busy".into()
        );
        10
    ])
    .await;
    let delivered = hook(&app, t, ok.url("/")).await;
    let failed = hook(&app, t, refusing.url("/")).await;
    let waiting = hook(&app, t, busy.url("/")).await;
    touch(&app, t, "One.").await;
    touch(&app, t, "Two.").await;
    let old = settled(&app, t, &delivered, 2, "delivered").await;
    settled(&app, t, &failed, 2, "failed").await;
    settled(&app, t, &waiting, 2, "queued").await;
    // The waiting ones look old, and one of them is being sent (its
    // worker's lease runs for a day): neither may go.
    let now = kujenga::db::now();
    let long_ago = now - chrono::Duration::days(400);
    let w = waiting.clone();
    let sending = app
        .db
        .run(move |c| {
            diesel::update(wm::table.filter(wm::subscription_id.eq(&w)))
                .set((wm::updated_at.eq(long_ago), wm::created_at.eq(long_ago)))
                .execute(c)?;
            let one: String = wm::table
                .filter(wm::subscription_id.eq(&w))
                .select(wm::id)
                .first(c)?;
            diesel::update(wm::table.filter(wm::id.eq(&one)))
                .set((
                    wm::status.eq("sending"),
                    wm::lease_owner.eq(Some("elsewhere")),
                    wm::lease_expires_at.eq(Some(now + chrono::Duration::days(1))),
                ))
                .execute(c)?;
            Ok::<_, diesel::result::Error>(one)
        })
        .await
        .unwrap();
    assert_eq!(attempts(&app).await, 6);

    // Within the retention (30 days by default): nothing goes.
    assert_eq!(
        housekeeping(&app, now + chrono::Duration::days(29)).await,
        0
    );
    assert_eq!(log(&app, t, &delivered).await.len(), 2);
    // Past it, in batches (of 3 here): the 4 finished messages and their
    // attempts go; the queued and the in-flight one stay, with theirs.
    let cutoff = now + chrono::Duration::seconds(1);
    let pruned = app
        .db
        .run(move |c| kujenga::db::webhooks::prune(c, cutoff, 3))
        .await
        .unwrap();
    assert_eq!(pruned, 4);
    assert_eq!(log(&app, t, &delivered).await, Vec::<Value>::new());
    assert_eq!(log(&app, t, &failed).await, Vec::<Value>::new());
    let kept = log(&app, t, &waiting).await;
    let mut states: Vec<&str> = kept.iter().map(|d| d["status"].as_str().unwrap()).collect();
    states.sort();
    assert_eq!(states, ["queued", "sending"]);
    assert!(kept.iter().any(|d| d["id"] == sending.as_str()));
    assert!(
        kept.iter()
            .all(|d| d["attempts"].as_array().unwrap().len() == 1)
    );
    assert_eq!(attempts(&app).await, 2, "only the kept messages' attempts");
    // A pruned message is gone for redelivery too.
    let res = call(
        &app,
        Method::POST,
        &format!(
            "{HOOKS}/{delivered}/deliveries/{}/redeliver",
            old[0]["id"].as_str().unwrap()
        ),
        Some(t),
        None,
    )
    .await;
    problem(res, 404).await;

    // The hourly round does the same with the setting's retention.
    touch(&app, t, "Three.").await;
    settled(&app, t, &delivered, 1, "delivered").await;
    settled(&app, t, &failed, 1, "failed").await;
    settled(&app, t, &waiting, 3, "*").await;
    assert_eq!(
        housekeeping(&app, kujenga::db::now() + chrono::Duration::days(31)).await,
        2
    );
    assert_eq!(log(&app, t, &delivered).await.len(), 0);
    assert_eq!(log(&app, t, &failed).await.len(), 0);
    assert_eq!(log(&app, t, &waiting).await.len(), 3);
    assert_eq!(attempts(&app).await, 3);
});
