//! Institution commands record their events: each leaves exactly the
//! expected events (type, subject, institutions, actor, payload) with the
//! audit entries derived from them, a refused command leaves none, and a
//! stored word outside its set answers 500 instead of a default.

use kujenga::db::events::{self, EventRow};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::{Account, Backend, TestApp, problem, spawn_app_with};

/// The application with cheap password hashing and generous rate limits.
async fn start(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.rate_limit.register_per_hour = 10_000;
        s.rate_limit.login_per_minute = 10_000;
        s.rate_limit.refresh_per_minute = 10_000;
    })
    .await
    .expect("app")
}

async fn admin(app: &TestApp, email: &str) -> Account {
    let a = app.signup(email).await;
    app.make_admin(&a.id).await;
    app.signin(email).await
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("request")
}

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let body = res.text().await.expect("body");
    assert_eq!(got, status, "{body}");
    if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).expect("JSON")
    }
}

const SLUG: &str = "evented";

fn path(rest: &str) -> String {
    format!("/api/v1/institutions/{SLUG}{rest}")
}

/// Invites `email` with `role`: the invitation's id and the emailed token.
async fn invite(app: &TestApp, token: &str, email: &str, role: &str) -> (String, String) {
    let res = send(
        app,
        Method::POST,
        &path("/invitations"),
        token,
        Some(json!({"email": email, "role": role})),
        &[],
    )
    .await;
    let inv = json_of(res, 201).await;
    let secret = app
        .last_email_data(email, "invitation")
        .await
        .expect("email")["token"]
        .as_str()
        .expect("token")
        .to_string();
    (inv["id"].as_str().expect("id").to_string(), secret)
}

async fn accept(app: &TestApp, token: &str, secret: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/invitations/accept",
        json!({"token": secret}),
        Some(token),
    )
    .await
}

/// The sequence number of the newest event (0 when there is none).
async fn last_seq(app: &TestApp) -> i64 {
    let mut cursor = 0;
    loop {
        let batch = app
            .db
            .run(move |conn| events::after(conn, cursor, 500))
            .await
            .expect("events");
        match batch.last() {
            Some(e) => cursor = e.seq,
            None => return cursor,
        }
    }
}

async fn events_after(app: &TestApp, cursor: i64) -> Vec<(EventRow, Vec<String>)> {
    let rows = app
        .db
        .run(move |conn| events::after(conn, cursor, 500))
        .await
        .expect("events");
    let mut out = Vec::new();
    for row in rows {
        let seq = row.seq;
        let concerned = app
            .db
            .run(move |conn| events::institutions_of(conn, seq))
            .await
            .expect("institutions");
        out.push((row, concerned));
    }
    out
}

/// One event a command must leave.
struct Expected<'a> {
    event_type: &'static str,
    actor: &'a Account,
    payload: Value,
}

/// Checks that exactly `expected` were recorded after `mark`, in order,
/// each about and concerning institution `id`, and that each one's audit
/// entry carries the same action, actor and detail. Returns the new mark.
async fn expect(
    app: &TestApp,
    root: &Account,
    id: &str,
    mark: i64,
    expected: &[Expected<'_>],
) -> i64 {
    let got = events_after(app, mark).await;
    let types: Vec<&str> = got.iter().map(|(e, _)| e.event_type.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(|e| e.event_type).collect();
    assert_eq!(types, want, "events after {mark}");
    for ((event, concerned), want) in got.iter().zip(expected) {
        let what = want.event_type;
        assert_eq!(event.subject_kind, "institution", "{what}");
        assert_eq!(event.subject_id, id, "{what}");
        assert_eq!(concerned, &[id.to_string()], "{what}");
        assert_eq!(
            event.actor_id.as_deref(),
            Some(want.actor.id.as_str()),
            "{what}"
        );
        let payload: Value = serde_json::from_str(&event.payload).expect("payload");
        assert_eq!(payload, want.payload, "{what}");
    }
    // The audit log is derived from the same events (newest first there).
    for want in expected {
        let res = app
            .get_auth(
                &format!(
                    "/api/v1/audit-events?limit=100&action={}&subject_id={id}",
                    want.event_type
                ),
                &root.access,
            )
            .await;
        let audit = json_of(res, 200).await;
        let entry = audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|e| e["detail"] == want.payload)
            .unwrap_or_else(|| panic!("no audit entry for {}: {audit}", want.event_type));
        assert_eq!(entry["subject_type"], "institution");
        assert_eq!(entry["actor_id"], want.actor.id.as_str());
    }
    got.last().map_or(mark, |(e, _)| e.seq)
}

async fn institution_id(app: &TestApp, slug: &'static str) -> String {
    app.db
        .run(move |conn| kujenga::db::institutions::by_slug(conn, slug))
        .await
        .expect("query")
        .expect("the institution")
        .id
}

async fn notification_kinds(app: &TestApp, who: &Account) -> Vec<String> {
    let res = app.get_auth("/api/v1/me/notifications", &who.access).await;
    json_of(res, 200).await["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["kind"].as_str().expect("kind").to_string())
        .collect()
}

api_test!(every_institution_command_records_its_event, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let owner = app.signup("owner@example.org").await;
    let amina = app.signup("amina@example.org").await;
    let kofi = app.signup("kofi@example.org").await;

    let mark = last_seq(&app).await;
    let res = app
        .post_json(
            "/api/v1/institutions",
            json!({"slug": SLUG, "name": "Evented Lab", "country": "KE", "kind": "research_lab"}),
            Some(&owner.access),
        )
        .await;
    json_of(res, 201).await;
    let id = institution_id(&app, SLUG).await;
    let e = |event_type, actor, payload| Expected {
        event_type,
        actor,
        payload,
    };
    let mark = expect(
        &app,
        &root,
        &id,
        mark,
        &[
            e(
                "institution.created",
                &owner,
                json!({"slug": SLUG, "name": "Evented Lab", "country": "KE"}),
            ),
            e(
                "membership.added",
                &owner,
                json!({"user_id": owner.id, "role": "owner"}),
            ),
        ],
    )
    .await;

    let res = send(
        &app,
        Method::PATCH,
        &path(""),
        &owner.access,
        Some(json!({"name": "Evented Institute", "website": "https://evented.example.org", "kind": "ngo"})),
        &[],
    )
    .await;
    json_of(res, 200).await;
    let mark = expect(
        &app,
        &root,
        &id,
        mark,
        &[e(
            "institution.updated",
            &owner,
            json!({
                "unverified": false, "name": "Evented Institute", "country": null, "kind": "ngo",
                "website": "https://evented.example.org/", "website_changed": true,
                "description_changed": false,
            }),
        )],
    )
    .await;

    let res = send(
        &app,
        Method::POST,
        &path("/verify"),
        &root.access,
        None,
        &[],
    )
    .await;
    json_of(res, 200).await;
    let mark = expect(
        &app,
        &root,
        &id,
        mark,
        &[e("institution.verified", &root, json!({"slug": SLUG}))],
    )
    .await;
    assert!(
        notification_kinds(&app, &owner)
            .await
            .contains(&"institution_verified".to_string())
    );
    // Verifying again changes nothing, and records nothing.
    let res = send(
        &app,
        Method::POST,
        &path("/verify"),
        &root.access,
        None,
        &[],
    )
    .await;
    json_of(res, 200).await;
    assert_eq!(last_seq(&app).await, mark);

    // Inviting the same address again replaces the pending invitation.
    let (first, _) = invite(&app, &owner.access, &amina.email, "member").await;
    let mark = expect(&app, &root, &id, mark, &[e(
        "invitation.sent",
        &owner,
        json!({"invitation_id": first, "email": amina.email, "role": "member", "replaces": null}),
    )])
    .await;
    let (second, secret) = invite(&app, &owner.access, &amina.email, "editor").await;
    let mark = expect(&app, &root, &id, mark, &[e(
        "invitation.sent",
        &owner,
        json!({"invitation_id": second, "email": amina.email, "role": "editor", "replaces": first}),
    )])
    .await;
    json_of(accept(&app, &amina.access, &secret).await, 200).await;
    let mark = expect(
        &app,
        &root,
        &id,
        mark,
        &[
            e(
                "invitation.accepted",
                &amina,
                json!({"invitation_id": second}),
            ),
            e(
                "membership.added",
                &amina,
                json!({"user_id": amina.id, "role": "editor"}),
            ),
        ],
    )
    .await;
    assert!(
        notification_kinds(&app, &amina)
            .await
            .contains(&"membership_added".to_string())
    );

    let member = format!("/members/{}", amina.id);
    let res = send(
        &app,
        Method::PATCH,
        &path(&member),
        &owner.access,
        Some(json!({"role": "member"})),
        &[],
    )
    .await;
    json_of(res, 200).await;
    let mark = expect(
        &app,
        &root,
        &id,
        mark,
        &[e(
            "membership.role_changed",
            &owner,
            json!({"user_id": amina.id, "from": "editor", "to": "member"}),
        )],
    )
    .await;
    assert!(
        notification_kinds(&app, &amina)
            .await
            .contains(&"member_role_changed".to_string())
    );
    // The same role again changes nothing, and records nothing.
    let res = send(
        &app,
        Method::PATCH,
        &path(&member),
        &owner.access,
        Some(json!({"role": "member"})),
        &[],
    )
    .await;
    json_of(res, 200).await;
    assert_eq!(last_seq(&app).await, mark);

    let (withdrawn, _) = invite(&app, &owner.access, &kofi.email, "member").await;
    let res = send(
        &app,
        Method::DELETE,
        &path(&format!("/invitations/{withdrawn}")),
        &owner.access,
        None,
        &[],
    )
    .await;
    json_of(res, 204).await;
    let mark = expect(&app, &root, &id, mark, &[
        e("invitation.sent", &owner, json!({"invitation_id": withdrawn, "email": kofi.email, "role": "member", "replaces": null})),
        e("invitation.withdrawn", &owner, json!({"invitation_id": withdrawn})),
    ])
    .await;

    let (kofis, secret) = invite(&app, &owner.access, &kofi.email, "member").await;
    json_of(accept(&app, &kofi.access, &secret).await, 200).await;
    let res = send(
        &app,
        Method::DELETE,
        &path(&format!("/members/{}", kofi.id)),
        &owner.access,
        None,
        &[],
    )
    .await;
    json_of(res, 204).await;
    let mark = expect(&app, &root, &id, mark, &[
        e("invitation.sent", &owner, json!({"invitation_id": kofis, "email": kofi.email, "role": "member", "replaces": null})),
        e("invitation.accepted", &kofi, json!({"invitation_id": kofis})),
        e("membership.added", &kofi, json!({"user_id": kofi.id, "role": "member"})),
        e("membership.removed", &owner, json!({"user_id": kofi.id, "role": "member"})),
    ])
    .await;
    assert!(
        notification_kinds(&app, &kofi)
            .await
            .contains(&"member_removed".to_string())
    );

    let res = send(
        &app,
        Method::DELETE,
        &path(&member),
        &amina.access,
        None,
        &[],
    )
    .await;
    json_of(res, 204).await;
    let mark = expect(
        &app,
        &root,
        &id,
        mark,
        &[e(
            "membership.left",
            &amina,
            json!({"user_id": amina.id, "role": "member"}),
        )],
    )
    .await;

    let res = send(&app, Method::DELETE, &path(""), &owner.access, None, &[]).await;
    json_of(res, 204).await;
    expect(
        &app,
        &root,
        &id,
        mark,
        &[e(
            "institution.deleted",
            &owner,
            json!({"slug": SLUG, "name": "Evented Institute"}),
        )],
    )
    .await;
});

api_test!(refused_institution_commands_record_nothing, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let owner = app.signup("owner@example.org").await;
    let amina = app.signup("amina@example.org").await;
    let res = app
        .post_json(
            "/api/v1/institutions",
            json!({"slug": SLUG, "name": "Evented Lab", "country": "KE", "kind": "ngo"}),
            Some(&owner.access),
        )
        .await;
    json_of(res, 201).await;
    let (accepted, secret) = invite(&app, &owner.access, &amina.email, "member").await;
    json_of(accept(&app, &amina.access, &secret).await, 200).await;
    let (pending, _) = invite(&app, &owner.access, "someone@example.org", "editor").await;
    let audit_count = |app: &TestApp| {
        let token = root.access.clone();
        let url = app.url("/api/v1/audit-events?limit=100");
        let client = app.client.clone();
        async move {
            let res = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("audit");
            json_of(res, 200).await["items"]
                .as_array()
                .expect("items")
                .len()
        }
    };
    let mark = last_seq(&app).await;
    let audited = audit_count(&app).await;

    struct Refusal {
        what: &'static str,
        method: Method,
        path: String,
        token: String,
        body: Option<Value>,
        headers: &'static [(&'static str, &'static str)],
        status: u16,
    }
    let own = format!("/members/{}", owner.id);
    let cases = [
        Refusal {
            what: "a taken slug",
            method: Method::POST,
            path: "/api/v1/institutions".into(),
            token: owner.access.clone(),
            body: Some(json!({"slug": SLUG, "name": "Again", "country": "KE", "kind": "ngo"})),
            headers: &[],
            status: 409,
        },
        Refusal {
            what: "an invalid institution",
            method: Method::POST,
            path: "/api/v1/institutions".into(),
            token: owner.access.clone(),
            body: Some(json!({"slug": "x", "name": "", "country": "XX", "kind": "ngo"})),
            headers: &[],
            status: 400,
        },
        Refusal {
            what: "an update by a member",
            method: Method::PATCH,
            path: path(""),
            token: amina.access.clone(),
            body: Some(json!({"name": "Mine"})),
            headers: &[],
            status: 403,
        },
        Refusal {
            what: "a stale If-Match",
            method: Method::PATCH,
            path: path(""),
            token: owner.access.clone(),
            body: Some(json!({"name": "Stale"})),
            headers: &[("If-Match", "\"stale\"")],
            status: 412,
        },
        Refusal {
            what: "a delete with a stale If-Match",
            method: Method::DELETE,
            path: path(""),
            token: owner.access.clone(),
            body: None,
            headers: &[("If-Match", "\"stale\"")],
            status: 412,
        },
        Refusal {
            what: "verifying by a non-admin",
            method: Method::POST,
            path: path("/verify"),
            token: owner.access.clone(),
            body: None,
            headers: &[],
            status: 403,
        },
        Refusal {
            what: "demoting the last owner",
            method: Method::PATCH,
            path: path(&own),
            token: owner.access.clone(),
            body: Some(json!({"role": "editor"})),
            headers: &[],
            status: 409,
        },
        Refusal {
            what: "the last owner leaving",
            method: Method::DELETE,
            path: path(&own),
            token: owner.access.clone(),
            body: None,
            headers: &[],
            status: 409,
        },
        Refusal {
            what: "a member removing the owner",
            method: Method::DELETE,
            path: path(&own),
            token: amina.access.clone(),
            body: None,
            headers: &[],
            status: 403,
        },
        Refusal {
            what: "a role change of a non-member",
            method: Method::PATCH,
            path: path(&format!("/members/{}", root.id)),
            token: owner.access.clone(),
            body: Some(json!({"role": "editor"})),
            headers: &[],
            status: 404,
        },
        Refusal {
            what: "inviting a member",
            method: Method::POST,
            path: path("/invitations"),
            token: owner.access.clone(),
            body: Some(json!({"email": amina.email, "role": "editor"})),
            headers: &[],
            status: 409,
        },
        Refusal {
            what: "a member inviting",
            method: Method::POST,
            path: path("/invitations"),
            token: amina.access.clone(),
            body: Some(json!({"email": "x@example.org", "role": "member"})),
            headers: &[],
            status: 403,
        },
        Refusal {
            what: "withdrawing an accepted invitation",
            method: Method::DELETE,
            path: path(&format!("/invitations/{accepted}")),
            token: owner.access.clone(),
            body: None,
            headers: &[],
            status: 404,
        },
        Refusal {
            what: "withdrawing an unknown invitation",
            method: Method::DELETE,
            path: path("/invitations/nope"),
            token: owner.access.clone(),
            body: None,
            headers: &[],
            status: 404,
        },
        Refusal {
            what: "a member withdrawing",
            method: Method::DELETE,
            path: path(&format!("/invitations/{pending}")),
            token: amina.access.clone(),
            body: None,
            headers: &[],
            status: 403,
        },
        Refusal {
            what: "accepting a spent invitation",
            method: Method::POST,
            path: "/api/v1/invitations/accept".into(),
            token: amina.access.clone(),
            body: Some(json!({"token": secret})),
            headers: &[],
            status: 400,
        },
        Refusal {
            what: "accepting a made-up token",
            method: Method::POST,
            path: "/api/v1/invitations/accept".into(),
            token: amina.access.clone(),
            body: Some(json!({"token": "made-up"})),
            headers: &[],
            status: 400,
        },
    ];
    for c in cases {
        let res = send(&app, c.method, &c.path, &c.token, c.body, c.headers).await;
        problem(res, c.status).await;
        assert_eq!(last_seq(&app).await, mark, "{} left an event", c.what);
        assert_eq!(
            audit_count(&app).await,
            audited,
            "{} left an audit entry",
            c.what
        );
    }
});

/// Writes `sql` straight to the database, past the typed layer.
async fn corrupt(app: &TestApp, sql: String) {
    use diesel::RunQueryDsl;
    use kujenga::db::DbConnection;
    let n = app
        .db
        .run(move |conn| match conn {
            DbConnection::Postgres(c) => diesel::sql_query(sql).execute(c),
            DbConnection::Sqlite(c) => diesel::sql_query(sql).execute(c),
        })
        .await
        .expect("raw update");
    assert_eq!(n, 1);
}

api_test!(stored_words_outside_their_set_answer_500, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let owner = app.signup("owner@example.org").await;
    for slug in ["bad-role", "bad-kind", "bad-invite"] {
        let res = app
            .post_json(
                "/api/v1/institutions",
                json!({"slug": slug, "name": slug, "country": "KE", "kind": "ngo"}),
                Some(&owner.access),
            )
            .await;
        json_of(res, 201).await;
    }
    let role_id = institution_id(&app, "bad-role").await;
    corrupt(
        &app,
        format!("UPDATE memberships SET role = 'admiral' WHERE institution_id = '{role_id}'"),
    )
    .await;
    let res = app
        .get_auth("/api/v1/institutions/bad-role/members", &root.access)
        .await;
    problem(res, 500).await;
    // The owner's own role is read to decide what they may see: 500 too,
    // never "not a member".
    let res = app
        .get_auth("/api/v1/institutions/bad-role", &owner.access)
        .await;
    problem(res, 500).await;

    let kind_id = institution_id(&app, "bad-kind").await;
    corrupt(
        &app,
        format!("UPDATE institutions SET kind = 'ministry' WHERE id = '{kind_id}'"),
    )
    .await;
    let res = app
        .get_auth("/api/v1/institutions/bad-kind", &root.access)
        .await;
    problem(res, 500).await;

    let _ = invite_to(&app, &owner.access, "bad-invite", "guest@example.org").await;
    let invite_id = institution_id(&app, "bad-invite").await;
    corrupt(
        &app,
        format!("UPDATE invitations SET role = 'guest' WHERE institution_id = '{invite_id}'"),
    )
    .await;
    let res = app
        .get_auth("/api/v1/institutions/bad-invite/invitations", &root.access)
        .await;
    problem(res, 500).await;
    // The others are unharmed.
    let res = app
        .get_auth("/api/v1/institutions/bad-invite", &owner.access)
        .await;
    json_of(res, 200).await;
});

async fn invite_to(app: &TestApp, token: &str, slug: &str, email: &str) -> Value {
    let res = app
        .post_json(
            &format!("/api/v1/institutions/{slug}/invitations"),
            json!({"email": email, "role": "member"}),
            Some(token),
        )
        .await;
    json_of(res, 201).await
}
