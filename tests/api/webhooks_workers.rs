//! Webhook delivery with several workers on one database (the outbox
//! discipline): two workers claiming at once deliver each message once; a
//! message whose worker died mid-delivery (its lease ran out) is taken over
//! and sent again with the same `webhook-id` (the documented crash
//! redelivery) — also when a real `kujenga worker` process is killed with
//! SIGKILL while the receiver holds its request.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::Method;
use serde_json::json;

use crate::api_test;
use crate::helpers::http::{body_of, call};
use crate::helpers::institutions;
use crate::helpers::webhooks::{Answer, Receiver};
use crate::helpers::{Backend, TestApp, spawn_app_with};
use kujenga::db::schema::webhook_messages as wm;
use kujenga::jobs::webhooks::Deliverer;

/// The app with no webhook worker of its own: the test runs the workers.
async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.webhooks.allowed_insecure_hosts = vec!["127.0.0.1".into()];
        s.webhooks.worker = false;
        s.webhooks.batch_size = 4;
        s.webhooks.concurrency = 2;
        s.webhooks.timeout_ms = 2000;
    })
    .await
    .expect("app")
}

fn worker(app: &TestApp) -> Deliverer {
    Deliverer::new(
        app.db.clone(),
        &app.state.settings.webhooks,
        app.state.outbox.clone(),
        None,
    )
    .expect("worker")
}

/// An institution `lab` with one webhook to `receiver`, and one change of
/// it: one message queued.
async fn one_queued_message(app: &TestApp, receiver: &Receiver) {
    let owner = app.signup("owner@example.org").await;
    institutions::create_slug(app, &owner.access, "lab").await;
    let body = json!({"url": receiver.url("/"), "event_types": ["institution.updated"]});
    body_of(
        call(
            app,
            Method::POST,
            "/api/v1/institutions/lab/webhooks",
            Some(&owner.access),
            Some(body),
        )
        .await,
        201,
    )
    .await;
    let res = call(
        app,
        Method::PATCH,
        "/api/v1/institutions/lab",
        Some(&owner.access),
        Some(json!({"description": "one"})),
    )
    .await;
    body_of(res, 200).await;
}

async fn statuses(app: &TestApp) -> HashMap<String, String> {
    app.db
        .run(|c| {
            wm::table
                .select((wm::id, wm::status))
                .load::<(String, String)>(c)
        })
        .await
        .expect("messages")
        .into_iter()
        .collect()
}

api_test!(two_workers_deliver_each_message_once, |backend| {
    let app = app(backend).await;
    let owner = app.signup("owner@example.org").await;
    institutions::create_slug(&app, &owner.access, "lab").await;
    let receiver = Receiver::start(Vec::new()).await;
    let path = "/api/v1/institutions/lab/webhooks";
    for _ in 0..2 {
        let body = json!({"url": receiver.url("/"), "event_types": ["institution.updated"]});
        body_of(
            call(&app, Method::POST, path, Some(&owner.access), Some(body)).await,
            201,
        )
        .await;
    }
    for i in 0..15 {
        let body = json!({"description": format!("change {i}")});
        let res = call(
            &app,
            Method::PATCH,
            "/api/v1/institutions/lab",
            Some(&owner.access),
            Some(body),
        )
        .await;
        body_of(res, 200).await;
    }
    assert_eq!(
        statuses(&app).await.len(),
        30,
        "15 events × 2 subscriptions, queued"
    );
    let (a, b) = (worker(&app), worker(&app));
    assert_ne!(a.id(), b.id());
    loop {
        let (x, y) = tokio::join!(a.run_once(), b.run_once());
        if x.unwrap() + y.unwrap() == 0 {
            break;
        }
    }
    let got = receiver.received();
    let mut ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids.len(), 30, "every message sent");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30, "each once");
    assert!(statuses(&app).await.values().all(|s| s == "delivered"));
});

api_test!(
    a_dead_workers_message_is_taken_over_with_the_same_id,
    |backend| {
        let app = app(backend).await;
        let receiver = Receiver::start(Vec::new()).await;
        one_queued_message(&app, &receiver).await;
        // A worker claimed it, sent it (the receiver got it) and died before
        // recording: the row is `sending` under a lease that has run out.
        let id = statuses(&app).await.into_keys().next().unwrap();
        let past = kujenga::db::now() - chrono::Duration::seconds(5);
        let claimed = id.clone();
        app.db
            .run(move |c| {
                diesel::update(wm::table.filter(wm::id.eq(claimed)))
                    .set((
                        wm::status.eq("sending"),
                        wm::lease_owner.eq(Some("dead-worker")),
                        wm::lease_expires_at.eq(Some(past)),
                        wm::attempts.eq(1),
                    ))
                    .execute(c)
            })
            .await
            .unwrap();
        let w = worker(&app);
        assert_eq!(w.run_once().await.unwrap(), 1, "taken over");
        let got = receiver.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].header("webhook-id"), Some(id.as_str()));
        assert_eq!(statuses(&app).await[&id], "delivered");
        let attempts: Vec<i32> = app
            .db
            .run(|c| {
                kujenga::db::schema::webhook_attempts::table
                    .select(kujenga::db::schema::webhook_attempts::attempt)
                    .load::<i32>(c)
            })
            .await
            .unwrap();
        assert_eq!(attempts, [2], "the second attempt of the message");
        assert_eq!(w.run_once().await.unwrap(), 0, "nothing left");
    }
);

/// The message rows: (status, lease owner).
async fn leases(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    app.db
        .run(|c| {
            wm::table
                .select((wm::id, wm::status, wm::lease_owner))
                .load::<(String, String, Option<String>)>(c)
        })
        .await
        .expect("messages")
}

api_test!(a_worker_process_killed_mid_delivery, |backend| {
    let app = app(backend).await;
    // The first request is held unanswered (the worker dies meanwhile);
    // the next ones are answered 200.
    let receiver = Receiver::start(vec![Answer::Hang(Duration::from_secs(30))]).await;
    one_queued_message(&app, &receiver).await;

    // `kujenga worker` on the same database, with a short lease.
    let log = app.database.dir.path().join("worker.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kujenga"))
        .env_remove("KUJENGA_CONFIG")
        .env_remove("KUJENGA_BIND")
        .env_remove("KUJENGA_DATA_DIR")
        .env("DATABASE_URL", &app.database.url)
        .env("KUJENGA_LOG__LEVEL", "info")
        .env("NO_COLOR", "1")
        .env(
            "KUJENGA_WEBHOOKS__ALLOWED_INSECURE_HOSTS",
            "[\"127.0.0.1\"]",
        )
        .env("KUJENGA_WEBHOOKS__LEASE_SECS", "3")
        .env("KUJENGA_WEBHOOKS__TIMEOUT_MS", "2500")
        .env("KUJENGA_WEBHOOKS__BATCH_SIZE", "1")
        .env("KUJENGA_WEBHOOKS__CONCURRENCY", "1")
        .env("KUJENGA_WEBHOOKS__POLL_INTERVAL_MS", "50")
        .arg("--data-dir")
        .arg(app.database.data_dir())
        .arg("worker")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    while receiver.received().is_empty() {
        if started.elapsed() > Duration::from_secs(20) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the worker sent nothing: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The receiver holds the request: the worker dies before any answer.
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed: {status:?}");
    let first = receiver.received()[0]
        .header("webhook-id")
        .unwrap()
        .to_string();
    // It died holding the lease: the message is `sending`, its own.
    let rows = leases(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, first);
    assert_eq!(rows[0].1, "sending", "{rows:?}");
    let holder = rows[0].2.clone().unwrap();
    assert!(
        holder.contains(&format!("-{pid}-")),
        "{holder} is not {pid}"
    );

    // A second worker takes it over once the lease has run out (not before).
    let w = worker(&app);
    assert_eq!(w.run_once().await.unwrap(), 0, "the lease still holds");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if w.run_once().await.unwrap() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never taken over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = receiver.received();
    assert_eq!(got.len(), 2, "sent again once: {got:?}");
    assert_eq!(
        got[1].header("webhook-id"),
        Some(first.as_str()),
        "the same webhook-id"
    );
    assert_eq!(statuses(&app).await[&first], "delivered");
    let attempts: Vec<(i32, String, String)> = app
        .db
        .run(|c| {
            use kujenga::db::schema::webhook_attempts as wa;
            wa::table
                .select((wa::attempt, wa::outcome, wa::worker))
                .load::<(i32, String, String)>(c)
        })
        .await
        .unwrap();
    assert_eq!(
        attempts,
        [(2, "delivered".to_string(), w.id().to_string())],
        "recorded once, by the worker that finished it"
    );
    assert_eq!(w.run_once().await.unwrap(), 0, "nothing left");
    assert_eq!(receiver.received().len(), 2);
});
