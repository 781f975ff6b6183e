//! The email outbox over real SMTP: content, retries, permanent failures,
//! outages, dead workers, concurrent workers, rollbacks.

use std::time::Duration;

use diesel::prelude::*;
use kujenga::config::{MailTransport, Settings, SmtpSecurity};
use kujenga::db::outbox::{self, Attempt};
use kujenga::db::{Db, DbConnection, write_transaction};
use kujenga::mail::worker::{self, Worker};
use kujenga::mail::{Email, Outbox, Template};
use serde_json::json;

use crate::api_test;
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Backend, TestDatabase};

struct MailEnv {
    db: Db,
    outbox: std::sync::Arc<Outbox>,
    settings: Settings,
    _database: TestDatabase,
}

async fn mail_env(backend: Backend, smtp_port: u16) -> MailEnv {
    let database = TestDatabase::new(backend).unwrap();
    let mut settings = database.settings();
    settings.mail.transport = MailTransport::Smtp;
    settings.mail.smtp.host = "127.0.0.1".into();
    settings.mail.smtp.port = smtp_port;
    settings.mail.smtp.security = SmtpSecurity::None;
    settings.mail.smtp.timeout_secs = 5;
    settings.mail.retry_base_ms = 100;
    settings.mail.retry_max_ms = 2_000;
    settings.mail.retry_jitter = false;
    settings.mail.poll_interval_ms = 50;
    settings.mail.lease_secs = 30;
    settings.database.pool_size = 6;
    let db = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || Db::connect(&settings))
            .await
            .unwrap()
            .unwrap()
    };
    let outbox = std::sync::Arc::new(
        Outbox::new(&settings.mail, "Kujenga", "https://learn.example.org").unwrap(),
    );
    MailEnv {
        db,
        outbox,
        settings,
        _database: database,
    }
}

impl MailEnv {
    fn worker(&self) -> Worker {
        worker::build(&self.db, &self.settings, None).unwrap()
    }

    async fn enqueue(&self, email: Email) -> bool {
        let outbox = self.outbox.clone();
        self.db
            .run(move |conn| outbox.enqueue(conn, email))
            .await
            .unwrap()
    }

    async fn rows(&self) -> Vec<outbox::EmailRow> {
        self.db
            .run(|conn| outbox::list(conn, None, None, 1000))
            .await
            .unwrap()
    }

    async fn attempts(&self, id: &str) -> Vec<Attempt> {
        let ids = vec![id.to_string()];
        self.db
            .run(move |conn| outbox::attempts_of(conn, &ids))
            .await
            .unwrap()
    }

    /// Runs worker rounds until nothing is queued or sending (or panics).
    async fn drain(&self, worker: &Worker, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            worker.run_once().await.unwrap();
            let pending = self
                .rows()
                .await
                .iter()
                .filter(|r| r.status == "queued" || r.status == "sending")
                .count();
            if pending == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{pending} emails still pending"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn verify(to: &str, token: &str) -> Email {
    Email::new(
        to,
        Template::VerifyEmail,
        json!({"display_name": "Amina Wanjiru", "token": token, "expires_in_hours": 48}),
    )
}

api_test!(
    delivers_both_parts_with_link_and_stable_message_id,
    |backend| {
        let sink = SmtpSink::start().await;
        let env = mail_env(backend, sink.port).await;
        assert!(env.enqueue(verify("amina@example.org", "tok-123_x")).await);
        env.drain(&env.worker(), Duration::from_secs(10)).await;

        let got = sink.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1);
        let mail = &got[0];
        assert_eq!(mail.to, vec!["amina@example.org".to_string()]);
        assert!(
            mail.from.contains("no-reply@kujenga.localhost"),
            "{}",
            mail.from
        );
        assert_eq!(
            mail.header("Subject").unwrap(),
            "Confirm your email address for Kujenga"
        );
        let row = &env.rows().await[0];
        assert_eq!(mail.header("Message-ID").unwrap(), row.message_id);
        assert!(row.message_id.starts_with('<') && row.message_id.ends_with("@kujenga.localhost>"));
        let body = mail.decoded();
        assert!(body.contains("multipart/alternative"), "{body}");
        assert!(body.contains("text/plain"), "{body}");
        assert!(body.contains("text/html"), "{body}");
        assert!(
            body.contains("https://learn.example.org/verify-email?token=tok-123_x"),
            "{body}"
        );
        assert_eq!(row.status, "sent");
        assert_eq!(row.attempts, 1);
        assert!(row.sent_at.is_some());
    }
);

api_test!(transient_failures_retry_with_growing_delays, |backend| {
    let sink = SmtpSink::start().await;
    sink.script(&[451, 451]);
    let env = mail_env(backend, sink.port).await;
    env.enqueue(verify("kofi@example.org", "t1")).await;
    env.drain(&env.worker(), Duration::from_secs(15)).await;

    let all = sink.received();
    assert_eq!(all.len(), 3, "two refusals, then the delivery");
    assert_eq!(sink.accepted().len(), 1, "delivered once");
    let ids: Vec<String> = all
        .iter()
        .map(|r| r.header("Message-ID").unwrap())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one Message-ID on every try: {ids:?}"
    );

    let row = &env.rows().await[0];
    assert_eq!(row.status, "sent");
    let attempts = env.attempts(&row.id).await;
    let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["transient", "transient", "sent"]);
    assert!(attempts[0].error.as_deref().unwrap().contains("451"));
    let delays: Vec<i64> = attempts
        .iter()
        .filter_map(|a| a.retry_at.map(|r| (r - a.finished_at).num_milliseconds()))
        .collect();
    assert_eq!(delays.len(), 2);
    assert!(delays[1] > delays[0], "delays grow: {delays:?}");
    // And the worker really waited: the second try came after the first delay.
    assert!(all[1].at.duration_since(all[0].at) >= Duration::from_millis(90));
});

api_test!(permanent_failures_are_dead_at_once, |backend| {
    let sink = SmtpSink::start().await;
    sink.script(&[550]);
    let env = mail_env(backend, sink.port).await;
    env.enqueue(verify("nobody@example.org", "t2")).await;
    env.drain(&env.worker(), Duration::from_secs(10)).await;
    let row = &env.rows().await[0];
    assert_eq!(row.status, "dead");
    assert_eq!(row.attempts, 1);
    assert!(
        row.last_error.as_deref().unwrap().contains("550"),
        "{row:?}"
    );
    assert_eq!(env.attempts(&row.id).await.len(), 1);
    // No retry follows.
    env.worker().run_once().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.worker().run_once().await.unwrap();
    assert_eq!(sink.received().len(), 1);
});

api_test!(an_smtp_outage_loses_nothing, |backend| {
    // A port with nobody listening: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = mail_env(backend, port).await;
    env.enqueue(verify("ama@example.org", "t3")).await;
    let worker = env.worker();
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let row = &env.rows().await[0];
    assert_eq!(row.status, "queued", "a refused connection is transient");
    assert!(row.last_error.is_some());

    let sink = SmtpSink::start_on(port).await;
    env.drain(&worker, Duration::from_secs(15)).await;
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    let row = &env.rows().await[0];
    assert_eq!(row.status, "sent");
    assert!(row.attempts >= 2);
});

api_test!(claims_of_a_dead_worker_are_taken_over, |backend| {
    let sink = SmtpSink::start().await;
    let env = mail_env(backend, sink.port).await;
    for i in 0..3 {
        env.enqueue(verify(&format!("user{i}@example.org"), "t"))
            .await;
    }
    // A worker claims everything, then dies: its lease runs out.
    let claimed = env
        .db
        .run(|conn| {
            let now = kujenga::db::now();
            outbox::claim(conn, "ghost", now, now - chrono::Duration::seconds(1), 10)
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    // A live lease is respected...
    let live = env.worker();
    let held = env
        .db
        .run(|conn| {
            let now = kujenga::db::now();
            outbox::claim(conn, "other", now, now + chrono::Duration::seconds(60), 10)
        })
        .await
        .unwrap();
    assert_eq!(held.len(), 3, "expired leases are claimable");
    assert_eq!(live.run_once().await.unwrap(), 0, "a live lease is not");
    // ...and an expired one is taken over.
    env.db
        .run(|conn| {
            diesel::update(kujenga::db::schema::outbox_emails::table)
                .set(
                    kujenga::db::schema::outbox_emails::lease_expires_at
                        .eq(Some(kujenga::db::now() - chrono::Duration::seconds(5))),
                )
                .execute(conn)
        })
        .await
        .unwrap();
    env.drain(&live, Duration::from_secs(10)).await;
    assert_eq!(sink.wait_for(3, Duration::from_secs(5)).await.len(), 3);
    assert!(env.rows().await.iter().all(|r| r.status == "sent"));
});

api_test!(two_workers_deliver_each_email_exactly_once, |backend| {
    let sink = SmtpSink::start().await;
    let env = mail_env(backend, sink.port).await;
    for i in 0..200 {
        env.enqueue(verify(&format!("learner{i}@example.org"), &format!("t{i}")))
            .await;
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let a = env.worker();
    let b = env.worker();
    assert_ne!(a.id(), b.id());
    let ta = tokio::spawn(a.run(stopped.clone()));
    let tb = tokio::spawn(b.run(stopped));
    let got = sink.wait_for(200, Duration::from_secs(60)).await;
    // Give a double send the chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        ta.await.unwrap();
        tb.await.unwrap();
    })
    .await
    .expect("workers stop on shutdown");
    let got_after = sink.received();
    assert_eq!(
        got_after.len(),
        200,
        "no email sent twice ({} before)",
        got.len()
    );
    let mut ids: Vec<String> = got_after
        .iter()
        .map(|r| r.header("Message-ID").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
    let rows = env.rows().await;
    assert!(rows.iter().all(|r| r.status == "sent" && r.attempts == 1));
    let workers: std::collections::HashSet<String> = {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        env.db
            .run(move |conn| outbox::attempts_of(conn, &ids))
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.worker)
            .collect()
    };
    assert_eq!(workers.len(), 2, "both workers took part");
});

api_test!(a_rolled_back_transaction_sends_nothing, |backend| {
    let sink = SmtpSink::start().await;
    let env = mail_env(backend, sink.port).await;
    let outbox = Outbox::new(&env.settings.mail, "Kujenga", "https://learn.example.org").unwrap();
    let result: Result<(), diesel::result::Error> = env
        .db
        .run(move |conn: &mut DbConnection| {
            write_transaction(conn, |conn| {
                outbox
                    .enqueue(conn, verify("ghost@example.org", "t"))
                    .map_err(|_| diesel::result::Error::RollbackTransaction)?;
                // The change that caused the email fails: everything rolls back.
                Err(diesel::result::Error::RollbackTransaction)
            })
        })
        .await
        .map_err(|_| diesel::result::Error::RollbackTransaction);
    assert!(result.is_err());
    assert!(env.rows().await.is_empty());
    assert_eq!(env.worker().run_once().await.unwrap(), 0);
    assert!(sink.received().is_empty());

    // The same in a committed transaction: exactly one email.
    let outbox = Outbox::new(&env.settings.mail, "Kujenga", "https://learn.example.org").unwrap();
    env.db
        .run(move |conn: &mut DbConnection| {
            write_transaction(conn, |conn| {
                outbox.enqueue(conn, verify("real@example.org", "t"))
            })
        })
        .await
        .unwrap();
    env.drain(&env.worker(), Duration::from_secs(10)).await;
    assert_eq!(sink.accepted().len(), 1);
});

api_test!(a_dedupe_key_enqueues_once, |backend| {
    let sink = SmtpSink::start().await;
    let env = mail_env(backend, sink.port).await;
    assert!(
        env.enqueue(verify("a@example.org", "t").dedupe("verify:user-1:1"))
            .await
    );
    assert!(
        !env.enqueue(verify("a@example.org", "t").dedupe("verify:user-1:1"))
            .await
    );
    assert!(
        env.enqueue(verify("a@example.org", "t").dedupe("verify:user-1:2"))
            .await
    );
    assert_eq!(env.rows().await.len(), 2);
});

api_test!(
    the_worker_wakes_on_enqueue_and_stops_on_shutdown,
    |backend| {
        let sink = SmtpSink::start().await;
        let mut env = mail_env(backend, sink.port).await;
        env.settings.mail.poll_interval_ms = 60_000;
        let worker = env.worker();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(worker.run(stopped));
        tokio::time::sleep(Duration::from_millis(300)).await; // now idle, polling once a minute
        let started = std::time::Instant::now();
        env.enqueue(verify("quick@example.org", "t")).await;
        sink.wait_for(1, Duration::from_secs(3)).await;
        assert!(started.elapsed() < Duration::from_secs(3));
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(3), task)
            .await
            .expect("stops promptly")
            .unwrap();
    }
);

api_test!(the_server_writes_eml_files_and_counts_them, |backend| {
    // The default transport: files under <data_dir>/mail, worker in `serve`.
    let app = crate::helpers::spawn_app(backend).await.unwrap();
    let outbox = Outbox::new(
        &app.database.settings().mail,
        "Kujenga",
        "http://localhost:3000",
    )
    .unwrap();
    app.db
        .run(move |conn| outbox.enqueue(conn, verify("file@example.org", "tok-file")))
        .await
        .unwrap();
    let mail_dir = app.database.data_dir().join("mail");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let file = loop {
        let files: Vec<_> = std::fs::read_dir(&mail_dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .collect();
        if let Some(f) = files.first() {
            break f.path();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no .eml file appeared"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let text = crate::helpers::smtp::decode_qp(&std::fs::read_to_string(file).unwrap());
    assert!(text.contains("To: file@example.org"), "{text}");
    assert!(text.contains("verify-email?token=tok-file"), "{text}");

    // The file is written before the worker records the delivery: wait
    // for the record.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains("kujenga_mail_outbox_emails{status=\"sent\"} 1")
            || std::time::Instant::now() > deadline
        {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(
        metrics.contains("kujenga_mail_outbox_emails{status=\"sent\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("kujenga_mail_outbox_emails{status=\"dead\"} 0"));
    assert!(metrics.contains("kujenga_mail_attempts_total{outcome=\"sent\"} 1"));
    assert!(metrics.contains("kujenga_mail_send_duration_seconds_count{outcome=\"sent\"} 1"));
});

api_test!(serve_can_run_without_its_worker, |backend| {
    let app = crate::helpers::spawn_app_with(backend, |s| s.mail.worker = false)
        .await
        .unwrap();
    let outbox = Outbox::new(
        &app.database.settings().mail,
        "Kujenga",
        "http://localhost:3000",
    )
    .unwrap();
    app.db
        .run(move |conn| outbox.enqueue(conn, verify("idle@example.org", "t")))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = app
        .db
        .run(|conn| outbox::list(conn, None, None, 10))
        .await
        .unwrap();
    assert_eq!(rows[0].status, "queued", "nothing delivers it");
});
