//! Dataset access commands and their events: each command (ask, approve,
//! reject, withdraw, revoke, issue a file link, the sweep's expiry and
//! reminders) leaves exactly its event — type, subject, actor, the
//! institutions concerned and the payload — and a command that fails leaves
//! none. A stored status that is not one of the words is an error, never a
//! default.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use kujenga::db::events::EventRow;
use kujenga::jobs::access::Swept;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::events::{events_after, last_seq};
use crate::helpers::http::body_of;
use crate::helpers::institutions;
use crate::helpers::{Account, Backend, TestApp, problem};

const PURPOSE: &str = "Training a speech recogniser for community radio transcripts.";
const SLUG: &str = "ke-lab";

// ----- fixtures ---------------------------------------------------------------------

/// An institution `ke-lab` (KE, verified) owned by an admin, its published
/// restricted dataset with one file, and a person who asks for access.
struct World {
    app: TestApp,
    owner: Account,
    asker: Account,
    institution_id: String,
    dataset: String,
    file: String,
    file_name: String,
}

async fn world(backend: Backend) -> World {
    let app = start(backend).await;
    let owner = admin(&app, "owner@example.org").await;
    let token = Some(owner.access.as_str());
    let institution = json!({"slug": SLUG, "name": "Kenya Lab", "country": "KE",
                             "kind": "university"});
    institutions::create(&app, &owner.access, institution).await;
    institutions::verify(&app, &owner.access, SLUG).await;
    let dataset = json!({
        "institution": SLUG, "title": "Radio transcripts", "summary": "About radio.",
        "license": "CC-BY-4.0", "languages": ["sw"], "access_level": "restricted",
        "transfer_policy": "unrestricted",
        "datasheet": {"motivation": "Why.", "composition": "What.",
                      "collection_process": "How.", "uses": "For what."},
    });
    let ds = body_of(app.post_json("/api/v1/datasets", dataset, token).await, 201).await;
    let ds = ds["id"].as_str().unwrap().to_string();
    let file_name = "transcripts.csv".to_string();
    let file = json!({"name": file_name, "url": format!("https://data.example.org/{ds}.csv"),
                      "media_type": "text/csv", "size_bytes": 1024, "sha256": "ab".repeat(32)});
    let files = format!("/api/v1/datasets/{ds}/files");
    let file = body_of(app.post_json(&files, file, token).await, 201).await;
    let publish = format!("/api/v1/datasets/{ds}/publish");
    body_of(app.post_json(&publish, json!({}), token).await, 200).await;
    let slug = SLUG.to_string();
    let institution_id = app
        .db
        .run(move |conn| {
            use kujenga::db::schema::institutions as it;
            it::table
                .filter(it::slug.eq(slug))
                .select(it::id)
                .first::<String>(conn)
        })
        .await
        .unwrap();
    let asker = app.signup("asker@example.org").await;
    World {
        app,
        owner,
        asker,
        institution_id,
        dataset: ds,
        file: file["id"].as_str().unwrap().to_string(),
        file_name,
    }
}

impl World {
    /// `who` asks for 90 days: the response.
    async fn ask(&self, who: &Account) -> reqwest::Response {
        let path = format!("/api/v1/datasets/{}/access-requests", self.dataset);
        let body = json!({"purpose": PURPOSE, "duration_days": 90});
        self.app.post_json(&path, body, Some(&who.access)).await
    }

    /// `POST /access-requests/{id}/{what}` by `who`.
    async fn act(&self, who: &Account, id: &str, what: &str, body: Value) -> reqwest::Response {
        let path = format!("/api/v1/access-requests/{id}/{what}");
        self.app.post_json(&path, body, Some(&who.access)).await
    }

    async fn link(&self, who: &Account) -> reqwest::Response {
        let path = format!("/api/v1/datasets/{}/files/{}/link", self.dataset, self.file);
        self.app.get_auth(&path, &who.access).await
    }

    async fn sweep(&self, at: NaiveDateTime) -> Swept {
        let st = self.app.state.clone();
        self.app
            .db
            .run(move |conn| kujenga::jobs::access::sweep(conn, &st, at))
            .await
            .unwrap()
    }

    /// The position of the newest event.
    async fn last_seq(&self) -> i64 {
        last_seq(&self.app).await
    }

    /// The events after `seq`, each with the institutions it concerns.
    async fn since(&self, seq: i64) -> Vec<(EventRow, Vec<String>)> {
        events_after(&self.app, seq).await
    }
}

/// An event as a test expects it.
#[derive(Debug)]
struct Expected<'a> {
    event_type: &'a str,
    subject_kind: &'a str,
    subject_id: &'a str,
    actor: Option<&'a str>,
    institutions: Vec<&'a str>,
    payload: Value,
}

fn assert_events(got: &[(EventRow, Vec<String>)], expected: &[Expected<'_>]) {
    let names: Vec<&str> = got.iter().map(|(e, _)| e.event_type.as_str()).collect();
    assert_eq!(got.len(), expected.len(), "events: {names:?}");
    for ((e, concerned), want) in got.iter().zip(expected) {
        assert_eq!(e.event_type, want.event_type, "{want:?}");
        assert_eq!(e.subject_kind, want.subject_kind, "{want:?}");
        assert_eq!(e.subject_id, want.subject_id, "{want:?}");
        assert_eq!(e.actor_id.as_deref(), want.actor, "{want:?}");
        let mut institutions = want.institutions.clone();
        institutions.sort_unstable();
        assert_eq!(concerned, &institutions, "{want:?}");
        let payload: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(payload, want.payload, "{}", want.event_type);
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// A move by a person, from `from` to `to`.
fn change(w: &World, from: &str, to: &str, expires_at: &Value) -> Value {
    json!({"dataset_id": w.dataset, "from": from, "to": to, "expires_at": expires_at,
           "from_country": "KE", "to_country": null})
}

// ----- each command, its event ------------------------------------------------------

api_test!(asking_and_approving_record_one_event_each, |backend| {
    let w = world(backend).await;
    let before = w.last_seq().await;
    let r = body_of(w.ask(&w.asker).await, 201).await;
    let id = id_of(&r);
    assert_events(
        &w.since(before).await,
        &[Expected {
            event_type: "access_request.created",
            subject_kind: "access_request",
            subject_id: &id,
            actor: Some(&w.asker.id),
            institutions: vec![&w.institution_id],
            payload: json!({"dataset_id": w.dataset, "institution": null,
                            "from_country": "KE", "to_country": null, "duration_days": 90}),
        }],
    );
    let before = w.last_seq().await;
    let note = json!({"note": "Approved."});
    let r = body_of(w.act(&w.owner, &id, "approve", note).await, 200).await;
    assert_events(
        &w.since(before).await,
        &[Expected {
            event_type: "access_request.approved",
            subject_kind: "access_request",
            subject_id: &id,
            actor: Some(&w.owner.id),
            institutions: vec![&w.institution_id],
            payload: change(&w, "pending", "approved", &r["expires_at"]),
        }],
    );
});

api_test!(
    issuing_a_link_and_revoking_record_one_event_each,
    |backend| {
        let w = world(backend).await;
        let id = id_of(&body_of(w.ask(&w.asker).await, 201).await);
        let note = json!({"note": "Approved."});
        let granted = body_of(w.act(&w.owner, &id, "approve", note).await, 200).await;
        let before = w.last_seq().await;
        let link = body_of(w.link(&w.asker).await, 200).await;
        let got = w.since(before).await;
        let grant = id.clone();
        let link_id = w
            .app
            .db
            .run(move |conn| {
                use kujenga::db::schema::file_links as fl;
                fl::table
                    .filter(fl::access_request_id.eq(grant))
                    .select(fl::id)
                    .first::<String>(conn)
            })
            .await
            .unwrap();
        assert_events(
            &got,
            &[Expected {
                event_type: "dataset.file_link_issued",
                subject_kind: "dataset_file",
                subject_id: &w.file,
                actor: Some(&w.asker.id),
                institutions: vec![&w.institution_id],
                payload: json!({"dataset_id": w.dataset, "file": w.file_name, "link_id": link_id,
                            "access_request_id": id, "from_country": "KE",
                            "to_country": null, "expires_at": link["expires_at"]}),
            }],
        );
        let before = w.last_seq().await;
        let why = json!({"note": "The project ended."});
        body_of(w.act(&w.owner, &id, "revoke", why).await, 200).await;
        assert_events(
            &w.since(before).await,
            &[Expected {
                event_type: "access_request.revoked",
                subject_kind: "access_request",
                subject_id: &id,
                actor: Some(&w.owner.id),
                institutions: vec![&w.institution_id],
                payload: change(&w, "approved", "revoked", &granted["expires_at"]),
            }],
        );
    }
);

api_test!(withdrawing_and_rejecting_record_one_event_each, |backend| {
    let w = world(backend).await;
    let id = id_of(&body_of(w.ask(&w.asker).await, 201).await);
    let before = w.last_seq().await;
    body_of(w.act(&w.asker, &id, "withdraw", json!({})).await, 200).await;
    assert_events(
        &w.since(before).await,
        &[Expected {
            event_type: "access_request.withdrawn",
            subject_kind: "access_request",
            subject_id: &id,
            actor: Some(&w.asker.id),
            institutions: vec![&w.institution_id],
            payload: change(&w, "pending", "withdrawn", &Value::Null),
        }],
    );
    let id = id_of(&body_of(w.ask(&w.asker).await, 201).await);
    let before = w.last_seq().await;
    let why = json!({"note": "Not for this purpose."});
    body_of(w.act(&w.owner, &id, "reject", why).await, 200).await;
    assert_events(
        &w.since(before).await,
        &[Expected {
            event_type: "access_request.rejected",
            subject_kind: "access_request",
            subject_id: &id,
            actor: Some(&w.owner.id),
            institutions: vec![&w.institution_id],
            payload: change(&w, "pending", "rejected", &Value::Null),
        }],
    );
});

api_test!(the_sweep_records_reminders_and_expiries, |backend| {
    let w = world(backend).await;
    let granted = id_of(&body_of(w.ask(&w.asker).await, 201).await);
    let note = json!({"note": "Approved."});
    body_of(w.act(&w.owner, &granted, "approve", note).await, 200).await;
    let other = w.app.signup("other@example.org").await;
    let pending = id_of(&body_of(w.ask(&other).await, 201).await);
    let now = Utc::now().naive_utc();
    // A week on: the owner (the one decider) is reminded of the pending one.
    let before = w.last_seq().await;
    let swept = w.sweep(now + chrono::Duration::days(8)).await;
    assert_eq!((swept.grants_expired, swept.requests_expired), (0, 0));
    assert_eq!(swept.reminders, 1);
    assert_events(
        &w.since(before).await,
        &[Expected {
            event_type: "access_request.reminder_sent",
            subject_kind: "user",
            subject_id: &w.owner.id,
            actor: None,
            institutions: vec![&w.institution_id],
            payload: json!({"requests": [pending]}),
        }],
    );
    // The audit entry is derived from it.
    let audit = body_of(
        w.app
            .get_auth(
                "/api/v1/audit-events?action=access_request.reminder_sent",
                &w.owner.access,
            )
            .await,
        200,
    )
    .await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit}");
    assert_eq!(items[0]["subject_type"], "user");
    assert_eq!(items[0]["detail"], json!({"requests": [pending]}));
    // After the grant's 90 days: the grant ends, the stale request too.
    let before = w.last_seq().await;
    let swept = w.sweep(now + chrono::Duration::days(91)).await;
    assert_eq!((swept.grants_expired, swept.requests_expired), (1, 1));
    let expired = |id, from| Expected {
        event_type: "access_request.expired",
        subject_kind: "access_request",
        subject_id: id,
        actor: None,
        institutions: vec![&w.institution_id],
        payload: json!({"dataset_id": w.dataset, "from": from, "to": "expired"}),
    };
    assert_events(
        &w.since(before).await,
        &[expired(&granted, "approved"), expired(&pending, "pending")],
    );
    // Nothing left to do: no event.
    let before = w.last_seq().await;
    w.sweep(now + chrono::Duration::days(92)).await;
    assert_events(&w.since(before).await, &[]);
});

// ----- failures record nothing ------------------------------------------------------

api_test!(failed_commands_record_no_event, |backend| {
    let w = world(backend).await;
    let id = id_of(&body_of(w.ask(&w.asker).await, 201).await);
    // Signing up is an event of its own: before the mark.
    let stranger = w.app.signup("stranger@example.org").await;
    let before = w.last_seq().await;
    let path = format!("/api/v1/datasets/{}/access-requests", w.dataset);
    let short = json!({"purpose": "Too short.", "duration_days": 90});
    problem(
        w.app.post_json(&path, short, Some(&w.asker.access)).await,
        400,
    )
    .await;
    // Pending already.
    problem(w.ask(&w.asker).await, 409).await;
    // Not a decider of their own request.
    let note = json!({"note": "Approved."});
    problem(w.act(&w.asker, &id, "approve", note.clone()).await, 403).await;
    // A pending request cannot be revoked.
    problem(w.act(&w.owner, &id, "revoke", json!({})).await, 409).await;
    // Someone else's request: not visible.
    problem(w.act(&stranger, &id, "withdraw", json!({})).await, 404).await;
    assert_events(&w.since(before).await, &[]);
    // Approved once; a second approval is a conflict and records nothing.
    body_of(w.act(&w.owner, &id, "approve", note.clone()).await, 200).await;
    let before = w.last_seq().await;
    problem(w.act(&w.owner, &id, "approve", note).await, 409).await;
    assert_events(&w.since(before).await, &[]);
});

api_test!(a_refused_link_records_only_its_refusal, |backend| {
    let w = world(backend).await;
    let before = w.last_seq().await;
    let refused = problem(w.link(&w.asker).await, 403).await;
    let reason = refused["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:kujenga:problem:")
        .to_string();
    assert_events(
        &w.since(before).await,
        &[Expected {
            event_type: "dataset.file_link_refused",
            subject_kind: "dataset_file",
            subject_id: &w.file,
            actor: Some(&w.asker.id),
            institutions: vec![&w.institution_id],
            payload: json!({"dataset_id": w.dataset, "reason": reason, "client_ip": null,
                            "repeats": 0}),
        }],
    );
    // The same refusal again within the window: held back, no event.
    let before = w.last_seq().await;
    problem(w.link(&w.asker).await, 403).await;
    assert_events(&w.since(before).await, &[]);
});

// ----- typed storage ----------------------------------------------------------------

api_test!(
    a_corrupted_stored_status_is_an_error_not_a_default,
    |backend| {
        let w = world(backend).await;
        let id = id_of(&body_of(w.ask(&w.asker).await, 201).await);
        let target = id.clone();
        w.app
            .db
            .run(move |conn| {
                // The id is a UUID the API made: safe to write into the SQL.
                diesel::sql_query(format!(
                    "UPDATE access_requests SET status = 'paused' WHERE id = '{target}'"
                ))
                .execute(conn)
            })
            .await
            .unwrap();
        let path = format!("/api/v1/access-requests/{id}");
        problem(w.app.get_auth(&path, &w.asker.access).await, 500).await;
        let mine = "/api/v1/me/access-requests";
        problem(w.app.get_auth(mine, &w.asker.access).await, 500).await;
        // Nothing moves a request whose status cannot be read.
        let before = w.last_seq().await;
        problem(w.act(&w.asker, &id, "withdraw", json!({})).await, 500).await;
        assert_events(&w.since(before).await, &[]);
    }
);
