//! Institution commands record their events: each leaves exactly the
//! expected events (type, subject, institutions, actor, payload) with the
//! audit entries derived from them, a refused command leaves none, and a
//! stored word outside its set answers 500 instead of a default.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::events::{events_after, last_seq};
use crate::helpers::http::send;
use crate::helpers::{Account, Backend, TestApp, problem};

const SLUG: &str = "evented";

fn path(rest: &str) -> String {
    format!("/api/v1/institutions/{SLUG}{rest}")
}

/// The JSON body (null when empty) after checking the status.
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

async fn audit_count(app: &TestApp, admin: &Account) -> usize {
    let res = app
        .get_auth("/api/v1/audit-events?limit=100", &admin.access)
        .await;
    json_of(res, 200).await["items"]
        .as_array()
        .expect("items")
        .len()
}

async fn institution_id(app: &TestApp, slug: &'static str) -> String {
    app.db
        .run(move |conn| kujenga::db::institutions::by_slug(conn, slug))
        .await
        .expect("query")
        .expect("the institution")
        .id
}

/// One event a command must leave: its type, who did it, its payload.
fn e(event_type: &'static str, actor: &Account, payload: Value) -> (&'static str, String, Value) {
    (event_type, actor.id.clone(), payload)
}

/// An admin, the owner of institution `SLUG`, two more people, and the
/// position in the event stream after the institution was created.
struct Scene {
    app: TestApp,
    root: Account,
    owner: Account,
    amina: Account,
    kofi: Account,
    id: String,
    mark: i64,
}

impl Scene {
    async fn new(backend: Backend) -> Self {
        let app = start(backend).await;
        let root = admin(&app, "root@example.org").await;
        let owner = app.signup("owner@example.org").await;
        let amina = app.signup("amina@example.org").await;
        let kofi = app.signup("kofi@example.org").await;
        let mark = last_seq(&app).await;
        let body =
            json!({"slug": SLUG, "name": "Evented Lab", "country": "KE", "kind": "research_lab"});
        let res = app
            .post_json("/api/v1/institutions", body, Some(&owner.access))
            .await;
        json_of(res, 201).await;
        let id = institution_id(&app, SLUG).await;
        Self {
            app,
            root,
            owner,
            amina,
            kofi,
            id,
            mark,
        }
    }

    /// `method path` as `who`, expecting `status`: the JSON body.
    async fn call(
        &self,
        who: &Account,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        json_of(
            send(&self.app, method, path, Some(&who.access), body, &[]).await,
            status,
        )
        .await
    }

    /// `who` invites `email` with `role`: the invitation's id and token.
    async fn invite(&self, who: &Account, email: &str, role: &str) -> (String, String) {
        let body = json!({"email": email, "role": role});
        let inv = self
            .call(who, Method::POST, &path("/invitations"), Some(body), 201)
            .await;
        let data = self.app.last_email_data(email, "invitation").await;
        let data = data.expect("email");
        let secret = data["token"].as_str().expect("token");
        (
            inv["id"].as_str().expect("id").to_string(),
            secret.to_string(),
        )
    }

    async fn accept(&self, who: &Account, secret: &str, status: u16) -> Value {
        let body = json!({"token": secret});
        let res = self
            .app
            .post_json("/api/v1/invitations/accept", body, Some(&who.access))
            .await;
        json_of(res, status).await
    }

    /// Checks that creating the institution recorded exactly its creation
    /// and the owner's membership (see `recorded`).
    async fn recorded_creation(&mut self) {
        let owner = self.owner.clone();
        self.recorded(&[
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
        ])
        .await;
    }

    /// Checks that exactly `expected` were recorded since the last check,
    /// in order, each about and concerning the institution, and that each
    /// one's audit entry has the same action, actor and detail.
    async fn recorded(&mut self, expected: &[(&'static str, String, Value)]) {
        let got = events_after(&self.app, self.mark).await;
        let types: Vec<&str> = got.iter().map(|(e, _)| e.event_type.as_str()).collect();
        let want: Vec<&str> = expected.iter().map(|(t, _, _)| *t).collect();
        assert_eq!(types, want, "events after {}", self.mark);
        for ((event, concerned), (what, actor, payload)) in got.iter().zip(expected) {
            assert_eq!(event.subject_kind, "institution", "{what}");
            assert_eq!(event.subject_id, self.id, "{what}");
            assert_eq!(concerned, std::slice::from_ref(&self.id), "{what}");
            assert_eq!(event.actor_id.as_ref(), Some(actor), "{what}");
            let stored: Value = serde_json::from_str(&event.payload).expect("payload");
            assert_eq!(&stored, payload, "{what}");
            let query = format!(
                "/api/v1/audit-events?limit=100&action={what}&subject_id={}",
                self.id
            );
            let res = self.app.get_auth(&query, &self.root.access).await;
            let audit = json_of(res, 200).await;
            let entry = audit["items"]
                .as_array()
                .expect("items")
                .iter()
                .find(|e| e["detail"] == *payload)
                .unwrap_or_else(|| panic!("no audit entry for {what}: {audit}"));
            assert_eq!(entry["subject_type"], "institution", "{what}");
            assert_eq!(entry["actor_id"], actor.as_str(), "{what}");
        }
        self.mark = got.last().map_or(self.mark, |(e, _)| e.seq);
    }

    /// Whether `who` has an in-app notification of `kind`.
    async fn told(&self, who: &Account, kind: &str) -> bool {
        let res = self
            .app
            .get_auth("/api/v1/me/notifications", &who.access)
            .await;
        let items = json_of(res, 200).await["items"].clone();
        items
            .as_array()
            .expect("items")
            .iter()
            .any(|n| n["kind"] == kind)
    }
}

api_test!(institution_changes_record_their_events, |backend| {
    let mut s = Scene::new(backend).await;
    let (owner, root) = (s.owner.clone(), s.root.clone());
    s.recorded_creation().await;

    let patch = json!({"name": "Evented Institute", "website": "https://evented.example.org", "kind": "ngo"});
    s.call(&owner, Method::PATCH, &path(""), Some(patch), 200)
        .await;
    s.recorded(&[e(
        "institution.updated",
        &owner,
        json!({
            "unverified": false, "name": "Evented Institute", "country": null, "kind": "ngo",
            "website": "https://evented.example.org/", "website_changed": true,
            "description_changed": false,
        }),
    )])
    .await;

    s.call(&root, Method::POST, &path("/verify"), None, 200)
        .await;
    s.recorded(&[e("institution.verified", &root, json!({"slug": SLUG}))])
        .await;
    assert!(s.told(&owner, "institution_verified").await);
    // Verifying again changes nothing, and records nothing.
    s.call(&root, Method::POST, &path("/verify"), None, 200)
        .await;
    s.recorded(&[]).await;

    s.call(&owner, Method::DELETE, &path(""), None, 204).await;
    s.recorded(&[e(
        "institution.deleted",
        &owner,
        json!({"slug": SLUG, "name": "Evented Institute"}),
    )])
    .await;
});

api_test!(invitations_record_their_events, |backend| {
    let mut s = Scene::new(backend).await;
    let (owner, amina, kofi) = (s.owner.clone(), s.amina.clone(), s.kofi.clone());
    s.recorded_creation().await;
    // Inviting the same address again replaces the pending invitation.
    let (first, _) = s.invite(&owner, &amina.email, "member").await;
    let (second, secret) = s.invite(&owner, &amina.email, "editor").await;
    s.accept(&amina, &secret, 200).await;
    s.recorded(&[
        e(
            "invitation.sent",
            &owner,
            json!({"invitation_id": first, "email": amina.email, "role": "member", "replaces": null}),
        ),
        e(
            "invitation.sent",
            &owner,
            json!({"invitation_id": second, "email": amina.email, "role": "editor", "replaces": first}),
        ),
        e("invitation.accepted", &amina, json!({"invitation_id": second})),
        e(
            "membership.added",
            &amina,
            json!({"user_id": amina.id, "role": "editor"}),
        ),
    ])
    .await;
    assert!(s.told(&amina, "membership_added").await);

    // An editor invites a member; the invitation is withdrawn.
    let (withdrawn, _) = s.invite(&amina, &kofi.email, "member").await;
    let gone = path(&format!("/invitations/{withdrawn}"));
    s.call(&owner, Method::DELETE, &gone, None, 204).await;
    s.recorded(&[
        e(
            "invitation.sent",
            &amina,
            json!({"invitation_id": withdrawn, "email": kofi.email, "role": "member", "replaces": null}),
        ),
        e(
            "invitation.withdrawn",
            &owner,
            json!({"invitation_id": withdrawn}),
        ),
    ])
    .await;
});

api_test!(membership_changes_record_their_events, |backend| {
    let mut s = Scene::new(backend).await;
    let (owner, amina, kofi) = (s.owner.clone(), s.amina.clone(), s.kofi.clone());
    for who in [&amina, &kofi] {
        let (_, secret) = s.invite(&owner, &who.email, "editor").await;
        s.accept(who, &secret, 200).await;
    }
    s.mark = last_seq(&s.app).await;

    let hers = path(&format!("/members/{}", amina.id));
    let body = json!({"role": "member"});
    s.call(&owner, Method::PATCH, &hers, Some(body.clone()), 200)
        .await;
    s.recorded(&[e(
        "membership.role_changed",
        &owner,
        json!({"user_id": amina.id, "from": "editor", "to": "member"}),
    )])
    .await;
    assert!(s.told(&amina, "member_role_changed").await);
    // The same role again changes nothing, and records nothing.
    s.call(&owner, Method::PATCH, &hers, Some(body), 200).await;
    s.recorded(&[]).await;

    let his = path(&format!("/members/{}", kofi.id));
    s.call(&owner, Method::DELETE, &his, None, 204).await;
    s.recorded(&[e(
        "membership.removed",
        &owner,
        json!({"user_id": kofi.id, "role": "editor"}),
    )])
    .await;
    assert!(s.told(&kofi, "member_removed").await);

    s.call(&amina, Method::DELETE, &hers, None, 204).await;
    s.recorded(&[e(
        "membership.left",
        &amina,
        json!({"user_id": amina.id, "role": "member"}),
    )])
    .await;
    assert!(
        !s.told(&amina, "member_removed").await,
        "leaving tells no one"
    );
});

/// A command that must be refused with `status`, and leave no trace.
struct Refused {
    what: &'static str,
    who: Account,
    method: Method,
    path: String,
    body: Option<Value>,
    headers: &'static [(&'static str, &'static str)],
    status: u16,
}

fn refused(
    what: &'static str,
    who: &Account,
    method: Method,
    path: String,
    status: u16,
) -> Refused {
    Refused {
        what,
        who: who.clone(),
        method,
        path,
        body: None,
        headers: &[],
        status,
    }
}

impl Refused {
    fn body(self, body: Value) -> Self {
        Self {
            body: Some(body),
            ..self
        }
    }

    fn stale(self) -> Self {
        Self {
            headers: &[("If-Match", "\"stale\"")],
            ..self
        }
    }
}

api_test!(refused_institution_commands_record_nothing, |backend| {
    let s = Scene::new(backend).await;
    let (owner, amina, root) = (&s.owner, &s.amina, &s.root);
    let (accepted, secret) = s.invite(owner, &amina.email, "member").await;
    s.accept(amina, &secret, 200).await;
    let (pending, _) = s.invite(owner, "someone@example.org", "editor").await;
    let mark = last_seq(&s.app).await;
    let audited = audit_count(&s.app, root).await;

    let own = path(&format!("/members/{}", owner.id));
    let create = "/api/v1/institutions".to_string();
    let accept = "/api/v1/invitations/accept".to_string();
    let invitations = path("/invitations");
    let cases = [
        refused("a taken slug", owner, Method::POST, create.clone(), 409)
            .body(json!({"slug": SLUG, "name": "Again", "country": "KE", "kind": "ngo"})),
        refused("an invalid institution", owner, Method::POST, create, 400)
            .body(json!({"slug": "x", "name": "", "country": "XX", "kind": "ngo"})),
        refused("an update by a member", amina, Method::PATCH, path(""), 403)
            .body(json!({"name": "Mine"})),
        refused("a stale update", owner, Method::PATCH, path(""), 412)
            .body(json!({"name": "Stale"}))
            .stale(),
        refused("a stale delete", owner, Method::DELETE, path(""), 412).stale(),
        refused("a member deleting", amina, Method::DELETE, path(""), 403),
        refused(
            "an owner verifying",
            owner,
            Method::POST,
            path("/verify"),
            403,
        ),
        refused(
            "demoting the last owner",
            owner,
            Method::PATCH,
            own.clone(),
            409,
        )
        .body(json!({"role": "editor"})),
        refused(
            "the last owner leaving",
            owner,
            Method::DELETE,
            own.clone(),
            409,
        ),
        refused(
            "a member removing the owner",
            amina,
            Method::DELETE,
            own,
            403,
        ),
        refused(
            "changing a non-member",
            owner,
            Method::PATCH,
            path(&format!("/members/{}", root.id)),
            404,
        )
        .body(json!({"role": "editor"})),
        refused(
            "inviting a member",
            owner,
            Method::POST,
            invitations.clone(),
            409,
        )
        .body(json!({"email": amina.email, "role": "editor"})),
        refused("a member inviting", amina, Method::POST, invitations, 403)
            .body(json!({"email": "x@example.org", "role": "member"})),
        refused(
            "withdrawing an accepted invitation",
            owner,
            Method::DELETE,
            path(&format!("/invitations/{accepted}")),
            404,
        ),
        refused(
            "withdrawing an unknown invitation",
            owner,
            Method::DELETE,
            path("/invitations/nope"),
            404,
        ),
        refused(
            "a member withdrawing",
            amina,
            Method::DELETE,
            path(&format!("/invitations/{pending}")),
            403,
        ),
        refused(
            "accepting a spent invitation",
            amina,
            Method::POST,
            accept.clone(),
            400,
        )
        .body(json!({"token": secret})),
        refused(
            "accepting a made-up token",
            amina,
            Method::POST,
            accept,
            400,
        )
        .body(json!({"token": "made-up"})),
    ];
    for c in cases {
        let res = send(
            &s.app,
            c.method,
            &c.path,
            Some(&c.who.access),
            c.body,
            c.headers,
        )
        .await;
        problem(res, c.status).await;
        assert_eq!(last_seq(&s.app).await, mark, "{} left an event", c.what);
        let now = audit_count(&s.app, root).await;
        assert_eq!(now, audited, "{} left an audit entry", c.what);
    }
});

/// A stored word outside its set, and where reading it must answer 500.
struct Corrupted {
    /// Stores the bad word (`{id}`: the institution's id).
    spoil: &'static str,
    /// Puts the valid word back.
    mend: &'static str,
    /// The page of the institution that reads it (as an admin).
    reads: &'static str,
}

api_test!(stored_words_outside_their_set_answer_500, |backend| {
    let s = Scene::new(backend).await;
    s.invite(&s.owner, "guest@example.org", "member").await;
    let cases = [
        Corrupted {
            spoil: "UPDATE memberships SET role = 'admiral' WHERE institution_id = '{id}'",
            mend: "UPDATE memberships SET role = 'owner' WHERE institution_id = '{id}'",
            reads: "/members",
        },
        Corrupted {
            spoil: "UPDATE institutions SET kind = 'ministry' WHERE id = '{id}'",
            mend: "UPDATE institutions SET kind = 'research_lab' WHERE id = '{id}'",
            reads: "",
        },
        Corrupted {
            spoil: "UPDATE invitations SET role = 'guest' WHERE institution_id = '{id}'",
            mend: "UPDATE invitations SET role = 'member' WHERE institution_id = '{id}'",
            reads: "/invitations",
        },
    ];
    for c in cases {
        let reads = path(c.reads);
        let res = s.app.get_auth(&reads, &s.root.access).await;
        json_of(res, 200).await;
        raw(&s.app, c.spoil.replace("{id}", &s.id)).await;
        let res = s.app.get_auth(&reads, &s.root.access).await;
        problem(res, 500).await;
        raw(&s.app, c.mend.replace("{id}", &s.id)).await;
    }
    // The owner's own role is read to decide what they may see: 500, never
    // "not a member".
    let spoil = format!(
        "UPDATE memberships SET role = 'admiral' WHERE institution_id = '{}'",
        s.id
    );
    raw(&s.app, spoil).await;
    let res = s.app.get_auth(&path(""), &s.owner.access).await;
    problem(res, 500).await;
});

/// Runs `sql` straight on the database, past the typed layer: it changes
/// one row.
async fn raw(app: &TestApp, sql: String) {
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
