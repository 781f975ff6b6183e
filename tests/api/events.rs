//! The domain event log: a reader following `seq` sees every event exactly
//! once, with concurrent writers that commit out of order; commands record
//! their events with the audit entry derived from them; operators prune.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kujenga::db::events::{self, NewEvent};
use kujenga::db::write_transaction;
use serde_json::json;

use crate::api_test;
use crate::helpers::access::{INST, dataset, institution, requested};
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::audit::events as audit_events;
use crate::helpers::institutions::{create, verify};
use crate::helpers::spawn_app_with;

fn event(writer: usize, n: usize) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::now_v7().to_string(),
        event_type: "test.written",
        subject_kind: "test",
        subject_id: format!("w{writer}-{n}"),
        actor_id: None,
        payload: json!({"writer": writer, "n": n}).to_string(),
        request_id: None,
        occurred_at: kujenga::db::now(),
        institutions: vec![format!("inst-{}", writer % 3)],
    }
}

api_test!(a_reader_following_seq_sees_every_event_once, |backend| {
    const WRITERS: usize = 8;
    const EACH: usize = 15;
    let app = spawn_app_with(backend, |s| s.database.pool_size = 12)
        .await
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    // The reader: follows the stream from the start, as a feed would.
    let reader = {
        let (db, done) = (app.db.clone(), done.clone());
        tokio::spawn(async move {
            let mut cursor = 0i64;
            let mut seen: Vec<(i64, String)> = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let batch = db
                    .run(move |conn| events::after(conn, cursor, 50))
                    .await
                    .unwrap();
                for e in &batch {
                    assert!(e.seq > cursor, "out of order: {} after {cursor}", e.seq);
                    cursor = e.seq;
                    seen.push((e.seq, e.subject_id.clone()));
                }
                if finished && batch.is_empty() {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    // Writers that take their numbers, then linger before committing: the
    // order of commits differs from the order of inserts unless appends are
    // ordered. Every fifth transaction rolls back: its event must never show.
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let db = app.db.clone();
        writers.push(tokio::spawn(async move {
            let mut committed = Vec::new();
            for n in 0..EACH {
                let e = event(w, n);
                let subject = e.subject_id.clone();
                let keep = n % 5 != 4;
                let linger = Duration::from_millis(((w * 7 + n * 3) % 11) as u64);
                let result = db
                    .run(move |conn| {
                        write_transaction(conn, |conn| {
                            events::append(conn, &[e])?;
                            std::thread::sleep(linger);
                            if keep {
                                Ok(())
                            } else {
                                Err(diesel::result::Error::RollbackTransaction)
                            }
                        })
                    })
                    .await;
                if keep {
                    result.unwrap();
                    committed.push(subject);
                }
            }
            committed
        }));
    }
    let mut written = HashSet::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();
    let subjects: Vec<&String> = seen.iter().map(|(_, s)| s).collect();
    let unique: HashSet<&String> = subjects.iter().copied().collect();
    assert_eq!(unique.len(), subjects.len(), "an event was seen twice");
    let written_refs: HashSet<&String> = written.iter().collect();
    assert_eq!(unique, written_refs, "the reader missed or invented events");
    assert_eq!(written.len(), WRITERS * EACH * 4 / 5);
    // What an event concerns is kept with it.
    let first = seen[0].0;
    let concerned = app
        .db
        .run(move |conn| events::institutions_of(conn, first))
        .await
        .unwrap();
    assert_eq!(concerned.len(), 1, "{concerned:?}");
});

api_test!(
    access_decisions_are_events_with_their_audit_entries,
    |backend| {
        let app = start(backend).await;
        let root = admin(&app, "root@example.org").await;
        let created = create(&app, &root.access, institution(INST, "KE")).await;
        verify(&app, &root.access, INST).await;
        let ds = dataset(&app, &root.access, "Weather records", json!({})).await;
        let asker = app.signup("asker@example.org").await;
        let request = requested(&app, &asker, &ds.id).await;
        let request_id = request["id"].as_str().unwrap().to_string();
        let stream = app
            .db
            .run(|conn| events::after(conn, 0, 100))
            .await
            .unwrap();
        let created_events: Vec<_> = stream
            .iter()
            .filter(|e| e.event_type == "access_request.created")
            .collect();
        assert_eq!(created_events.len(), 1, "{stream:?}");
        let e = created_events[0];
        assert_eq!(e.subject_kind, "access_request");
        assert_eq!(e.subject_id, request_id);
        assert_eq!(e.actor_id.as_deref(), Some(asker.id.as_str()));
        let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(payload["dataset_id"], ds.id.as_str());
        assert_eq!(payload["from_country"], "KE");
        // The owning institution is concerned.
        let seq = e.seq;
        let concerned = app
            .db
            .run(move |conn| events::institutions_of(conn, seq))
            .await
            .unwrap();
        let owner_id = crate::helpers::audit::institution_id(&app, &root.access, INST).await;
        assert_eq!(concerned, vec![owner_id], "{created}");
        // The audit entry is derived from the event: same action, same detail.
        let audited = audit_events(&app, &root.access, "action=access_request.created").await;
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0]["detail"], payload);
        assert_eq!(audited[0]["subject_id"], request_id.as_str());
    }
);

api_test!(events_can_be_pruned_by_date, |backend| {
    let app = spawn_app_with(backend, |_| {}).await.unwrap();
    let old = NewEvent {
        occurred_at: kujenga::db::now() - chrono::Duration::days(400),
        ..event(0, 0)
    };
    let recent = event(1, 1);
    app.db
        .run(move |conn| events::append(conn, &[old, recent]))
        .await
        .unwrap();
    let cutoff = kujenga::db::now() - chrono::Duration::days(30);
    let removed = app
        .db
        .run(move |conn| events::prune(conn, cutoff))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    let left = app.db.run(|conn| events::after(conn, 0, 10)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].subject_id, "w1-1");
});
