//! What webhooks leave behind: delivered and failed messages are pruned
//! after `webhooks.retention_secs` by the hourly housekeeping (on a test
//! clock), queued and in-flight ones never; and every management action is
//! in the audit log, with who did it and the subscription, never a secret.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::TestApp;
use crate::helpers::accounts::{admin, set_platform_role};
use crate::helpers::audit;
use crate::helpers::http::{body_of, call, problem};
use crate::helpers::institutions;
use crate::helpers::webhooks::{Answer, Receiver, delivering_app as app, status};
use kujenga::db::schema::{webhook_attempts as wa, webhook_messages as wm};

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
            && items.iter().all(|d| {
                (status == "*" || d["status"] == status)
                    && !d["attempts"].as_array().unwrap().is_empty()
            })
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

api_test!(managing_hooks_is_audited_without_secrets, |backend| {
    let app = app(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    institutions::create_slug(&app, &owner.access, "lab").await;
    let t = owner.access.as_str();
    let receiver = Receiver::start(Vec::new()).await;
    let res = call(
        &app,
        Method::POST,
        HOOKS,
        Some(t),
        Some(
            json!({"url": receiver.url("/in"), "event_types": ["institution.updated"],
                    "description": "LMS sync"}),
        ),
    )
    .await;
    let created = body_of(res, 201).await;
    let id = created["id"].as_str().unwrap().to_string();
    let mut secrets = vec![created["secret"].as_str().unwrap().to_string()];
    let item = format!("{HOOKS}/{id}");
    let res = call(
        &app,
        Method::PATCH,
        &item,
        Some(t),
        Some(json!({"description": "Catalogue sync", "enabled": false})),
    )
    .await;
    body_of(res, 200).await;
    let res = call(
        &app,
        Method::POST,
        &format!("{item}/rotate-secret"),
        Some(t),
        None,
    )
    .await;
    secrets.push(
        body_of(res, 200).await["secret"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let res = call(
        &app,
        Method::PATCH,
        &item,
        Some(t),
        Some(json!({"enabled": true})),
    )
    .await;
    body_of(res, 200).await;
    let res = call(&app, Method::POST, &format!("{item}/ping"), Some(t), None).await;
    let ping = body_of(res, 202).await["id"].as_str().unwrap().to_string();
    receiver.wait_for(1).await;
    settled(&app, t, &id, 1, "delivered").await;
    let res = call(
        &app,
        Method::POST,
        &format!("{item}/deliveries/{ping}/redeliver"),
        Some(t),
        None,
    )
    .await;
    assert_eq!(res.status(), 202);
    receiver.wait_for(2).await;
    // Refused actions leave no entry: a redelivery while queued (409),
    // someone else's attempt (404), bad input (400).
    let res = call(
        &app,
        Method::POST,
        &format!("{item}/deliveries/{ping}/redeliver"),
        Some(t),
        None,
    )
    .await;
    assert!(
        matches!(res.status().as_u16(), 202 | 409),
        "{}",
        res.status()
    );
    let redelivered_twice = res.status() == 202;
    let stranger = app.signup("stranger@example.org").await;
    problem(
        call(&app, Method::DELETE, &item, Some(&stranger.access), None).await,
        404,
    )
    .await;
    problem(
        call(
            &app,
            Method::PATCH,
            &item,
            Some(t),
            Some(json!({"event_types": ["no.such_event"]})),
        )
        .await,
        400,
    )
    .await;
    let res = call(&app, Method::DELETE, &item, Some(t), None).await;
    assert_eq!(res.status(), 204);

    let entries = audit::events(&app, &root.access, "subject_type=webhook").await;
    let mut actions: Vec<&str> = entries
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    let mut expected = vec![
        "webhook.created",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.updated",
        "webhook.pinged",
        "webhook.redelivered",
    ];
    if redelivered_twice {
        expected.push("webhook.redelivered");
    }
    expected.push("webhook.deleted");
    assert_eq!(actions, expected, "{entries:?}");
    actions.clear();
    let owner_ref = json!({"kind": "institution", "id": entries[0]["detail"]["owner"]["id"]});
    for e in &entries {
        assert_eq!(e["subject_id"], id.as_str(), "{e}");
        assert_eq!(e["actor_id"], owner.id.as_str(), "{e}");
        assert_eq!(e["detail"]["owner"], owner_ref, "{e}");
        assert!(e["request_id"].is_string(), "{e}");
        let text = e.to_string();
        for s in &secrets {
            assert!(!text.contains(&s[6..]), "a secret in {e}");
        }
        assert!(!text.contains("whsec_"), "{e}");
    }
    let lab = audit::institution_id(&app, &root.access, "lab").await;
    assert_eq!(owner_ref["id"], lab.as_str());
    let by = |action: &str| -> Vec<Value> {
        entries
            .iter()
            .rev()
            .filter(|e| e["action"] == action)
            .map(|e| e["detail"].clone())
            .collect()
    };
    let created = &by("webhook.created")[0];
    assert_eq!(created["url"], receiver.url("/in"));
    assert_eq!(created["event_types"], json!(["institution.updated"]));
    assert_eq!(created["description"], "LMS sync");
    assert_eq!(created["enabled"], true);
    assert_eq!(
        by("webhook.updated")
            .iter()
            .map(|d| d["changed"].clone())
            .collect::<Vec<_>>(),
        [
            json!({"description": "Catalogue sync", "enabled": false}),
            json!({"enabled": true}),
        ]
    );
    assert!(by("webhook.secret_rotated")[0]["previous_secret_valid_until"].is_string());
    assert_eq!(by("webhook.pinged")[0]["message_id"], ping.as_str());
    assert_eq!(by("webhook.redelivered")[0]["message_id"], ping.as_str());
    assert_eq!(by("webhook.deleted")[0]["url"], receiver.url("/in"));

    // A partnership's hooks: its coordinator acts, the partnership owns.
    let coord = app.signup("coord@example.org").await;
    set_platform_role(&app, &coord.id, "coordinator").await;
    let coord = app.signin("coord@example.org").await;
    let res = call(&app, Method::POST, "/api/v1/partnerships", Some(&coord.access),
        Some(json!({"slug": "part-one", "title": "Partnership one", "starts_on": "2026-03-01", "ends_on": "2028-02-29"}))).await;
    body_of(res, 201).await;
    let partnership_id = app
        .db
        .run(|c| kujenga::db::partnerships::by_slug(c, "part-one"))
        .await
        .unwrap()
        .unwrap()
        .id;
    let res = call(
        &app,
        Method::POST,
        "/api/v1/partnerships/part-one/webhooks",
        Some(&coord.access),
        Some(json!({"url": receiver.url("/p"), "event_types": ["partnership.updated"]})),
    )
    .await;
    let p_hook = body_of(res, 201).await["id"].as_str().unwrap().to_string();
    let entries = audit::events(
        &app,
        &root.access,
        &format!("action=webhook.created&subject_id={p_hook}"),
    )
    .await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor_id"], coord.id.as_str());
    assert_eq!(
        entries[0]["detail"]["owner"],
        json!({"kind": "partnership", "id": partnership_id})
    );
});
