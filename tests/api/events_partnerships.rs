//! Partnerships on the event stream: every command leaves exactly its event
//! (type, subject, institutions concerned, payload, actor), with the audit
//! entry derived from it; a refused command leaves none; the digest job
//! records `partnership.digest_sent` with no actor; a stored status outside
//! its set answers 500, never a default.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::{admin, set_platform_role};
use crate::helpers::app::start;
use crate::helpers::events::events_after;
use crate::helpers::http::call;
use crate::helpers::institutions;
use crate::helpers::{Account, Backend, TestApp};

const BASE: &str = "/api/v1/partnerships";

// ----- fixtures (the shared ones are in `crate::helpers`) ----------------------

/// Sends and checks the status: the JSON body, if any.
async fn ok(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let res = call(app, method.clone(), path, Some(token), body).await;
    let got = res.status().as_u16();
    let text = res.text().await.expect("body");
    assert_eq!(got, status, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Runs raw SQL (to set roles, or to corrupt a stored word on purpose).
async fn sql(app: &TestApp, statement: String) {
    use diesel::RunQueryDsl;
    app.db
        .run(move |conn| diesel::sql_query(statement).execute(conn))
        .await
        .expect("sql");
}

async fn platform_coordinator(app: &TestApp, email: &str) -> Account {
    let a = app.signup(email).await;
    set_platform_role(app, &a.id, "coordinator").await;
    app.signin(email).await
}

/// A verified institution owned by `owner`: its id.
async fn institution(
    app: &TestApp,
    root: &Account,
    owner: &Account,
    slug: &str,
    country: &str,
) -> String {
    let body = json!({"slug": slug, "name": format!("Institution {slug}"),
                      "country": country, "kind": "university"});
    institutions::create(app, &owner.access, body).await;
    institutions::verify(app, &root.access, slug).await;
    let slug = slug.to_string();
    app.db
        .run(move |conn| kujenga::db::institutions::by_slug(conn, &slug))
        .await
        .expect("query")
        .expect("the institution")
        .id
}

/// A published course of `inst` visible to registered users: its id.
async fn course(app: &TestApp, editor: &Account, inst: &str, title: &str) -> String {
    let body = json!({
        "institution": inst, "title": title, "summary": format!("About {title}."),
        "license": "CC-BY-4.0", "languages": ["en"], "visibility": "registered",
        "level": "beginner", "duration_hours": 4,
    });
    let created = ok(
        app,
        Method::POST,
        "/api/v1/courses",
        &editor.access,
        Some(body),
        201,
    )
    .await;
    let id = created["id"].as_str().expect("id").to_string();
    let module = json!({"title": "Start here", "content": "Welcome."});
    let modules = format!("/api/v1/courses/{id}/modules");
    ok(
        app,
        Method::POST,
        &modules,
        &editor.access,
        Some(module),
        201,
    )
    .await;
    let publish = format!("/api/v1/courses/{id}/publish");
    ok(app, Method::POST, &publish, &editor.access, None, 200).await;
    id
}

/// Coordinator `c` proposes partnership `slug` and invites `ke-lab`.
async fn proposed_with_ke_lab(app: &TestApp, c: &str, slug: &str) {
    ok(app, Method::POST, BASE, c, Some(new_partnership(slug)), 201).await;
    let body = json!({"institution": "ke-lab"});
    ok(
        app,
        Method::POST,
        &format!("{BASE}/{slug}/members"),
        c,
        Some(body),
        201,
    )
    .await;
}

async fn partnership_id(app: &TestApp, slug: &str) -> String {
    let slug = slug.to_string();
    app.db
        .run(move |conn| kujenga::db::partnerships::by_slug(conn, &slug))
        .await
        .expect("query")
        .expect("the partnership")
        .id
}

/// A recorded event, as the tests compare it.
#[derive(Debug, PartialEq)]
struct Seen {
    event_type: String,
    subject_kind: String,
    subject_id: String,
    actor_id: Option<String>,
    institutions: BTreeSet<String>,
    payload: Value,
}

/// What a test expects of one event (the subject kind is `partnership`).
struct Expected<'a> {
    event_type: &'a str,
    subject_id: &'a str,
    actor: Option<&'a Account>,
    institutions: Vec<&'a str>,
    payload: Value,
}

/// An expected event about `subject_id`.
fn ev<'a>(
    event_type: &'a str,
    subject_id: &'a str,
    actor: Option<&'a Account>,
    institutions: &[&'a str],
    payload: Value,
) -> Expected<'a> {
    Expected {
        event_type,
        subject_id,
        actor,
        institutions: institutions.to_vec(),
        payload,
    }
}

impl Expected<'_> {
    fn seen(&self) -> Seen {
        Seen {
            event_type: self.event_type.to_string(),
            subject_kind: "partnership".into(),
            subject_id: self.subject_id.to_string(),
            actor_id: self.actor.map(|a| a.id.clone()),
            institutions: self.institutions.iter().map(|s| s.to_string()).collect(),
            payload: self.payload.clone(),
        }
    }
}

/// The stream as a reader sees it, after `cursor` (then moved past it).
struct Stream {
    cursor: i64,
}

impl Stream {
    async fn new(app: &TestApp) -> Self {
        let mut s = Self { cursor: 0 };
        s.next(app).await;
        s
    }

    async fn next(&mut self, app: &TestApp) -> Vec<Seen> {
        let after = self.cursor;
        let rows = events_after(app, after).await;
        if let Some((last, _)) = rows.last() {
            self.cursor = last.seq;
        }
        rows.into_iter()
            .map(|(row, institutions)| Seen {
                event_type: row.event_type,
                subject_kind: row.subject_kind,
                subject_id: row.subject_id,
                actor_id: row.actor_id,
                institutions: institutions.into_iter().collect(),
                payload: serde_json::from_str(&row.payload).expect("a JSON payload"),
            })
            .collect()
    }

    /// The events since the last look are exactly `expected`, in order.
    async fn expect(&mut self, app: &TestApp, label: &str, expected: &[Expected<'_>]) {
        let got = self.next(app).await;
        let want: Vec<Seen> = expected.iter().map(Expected::seen).collect();
        assert_eq!(got, want, "{label}");
    }

    /// Nothing was recorded since the last look.
    async fn nothing(&mut self, app: &TestApp, label: &str) {
        let got = self.next(app).await;
        assert!(got.is_empty(), "{label}: {got:?}");
    }
}

/// The people and institutions of the scenarios.
struct World {
    app: TestApp,
    root: Account,
    coord: Account,
    ke: Account,
    ke_editor: Account,
    ng: Account,
    ke2: Account,
    outsider: Account,
    ke_id: String,
    ng_id: String,
    ke2_id: String,
}

async fn world(backend: Backend) -> World {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let coord = platform_coordinator(&app, "coord@example.org").await;
    let ke = app.signup("ke.owner@example.org").await;
    let ke_editor = app.signup("ke.editor@example.org").await;
    let ng = app.signup("ng.owner@example.org").await;
    let ke2 = app.signup("ke2.owner@example.org").await;
    let outsider = app.signup("outsider@example.org").await;
    let ke_id = institution(&app, &root, &ke, "ke-lab", "KE").await;
    let ng_id = institution(&app, &root, &ng, "ng-lab", "NG").await;
    let ke2_id = institution(&app, &root, &ke2, "ke-two", "KE").await;
    join(&app, &ke, "ke-lab", &ke_editor, "editor").await;
    World {
        app,
        root,
        coord,
        ke,
        ke_editor,
        ng,
        ke2,
        outsider,
        ke_id,
        ng_id,
        ke2_id,
    }
}

/// `owner` invites `who` into institution `slug` with `role`; `who` accepts.
async fn join(app: &TestApp, owner: &Account, slug: &str, who: &Account, role: &str) {
    let path = format!("/api/v1/institutions/{slug}/invitations");
    let body = json!({"email": who.email, "role": role});
    ok(app, Method::POST, &path, &owner.access, Some(body), 201).await;
    let secret = app
        .last_email_data(&who.email, "invitation")
        .await
        .expect("an invitation email")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let body = json!({"token": secret});
    ok(
        app,
        Method::POST,
        "/api/v1/invitations/accept",
        &who.access,
        Some(body),
        200,
    )
    .await;
}

fn new_partnership(slug: &str) -> Value {
    json!({"slug": slug, "title": format!("Partnership {slug}"),
           "starts_on": "2026-03-01", "ends_on": "2028-02-29"})
}

fn member_path(slug: &str, inst: &str) -> String {
    format!("{BASE}/{slug}/members/{inst}")
}

// ----- every command, its event -------------------------------------------------

api_test!(every_partnership_command_leaves_its_event, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    let coord = Some(&w.coord);
    let (ke, ng, ke2) = (w.ke_id.as_str(), w.ng_id.as_str(), w.ke2_id.as_str());
    let shared = course(app, &w.ke_editor, "ke-lab", "Shared").await;
    let mut stream = Stream::new(app).await;

    ok(
        app,
        Method::POST,
        BASE,
        c,
        Some(new_partnership("ev-lab")),
        201,
    )
    .await;
    let p = partnership_id(app, "ev-lab").await;
    let p = p.as_str();
    let payload = json!({"slug": "ev-lab", "title": "Partnership ev-lab"});
    let want = [ev("partnership.created", p, coord, &[], payload)];
    stream.expect(app, "create", &want).await;

    let patch = json!({"title": "Renamed", "goals": "Goals."});
    ok(
        app,
        Method::PATCH,
        &format!("{BASE}/ev-lab"),
        c,
        Some(patch),
        200,
    )
    .await;
    let payload = json!({"title": "Renamed", "public": null, "starts_on": null, "ends_on": null,
                         "fields": ["title", "goals"]});
    let want = [ev("partnership.updated", p, coord, &[], payload.clone())];
    stream.expect(app, "update", &want).await;
    // The audit entry is derived from the event: same action, same detail.
    let audit = ok(
        app,
        Method::GET,
        "/api/v1/audit-events?action=partnership.updated",
        &w.root.access,
        None,
        200,
    )
    .await;
    assert_eq!(audit["items"][0]["subject_id"], p, "{audit}");
    assert_eq!(audit["items"][0]["detail"], payload, "{audit}");

    for (inst, id) in [("ke-lab", ke), ("ng-lab", ng), ("ke-two", ke2)] {
        let body = json!({"institution": inst});
        ok(
            app,
            Method::POST,
            &format!("{BASE}/ev-lab/members"),
            c,
            Some(body),
            201,
        )
        .await;
        let payload = json!({"institution": inst});
        let want = [ev("partnership.member_invited", p, coord, &[id], payload)];
        stream.expect(app, inst, &want).await;
    }
    assert_eq!(
        app.count_emails("ke.owner@example.org", "partnership_invitation")
            .await,
        1,
        "the invitation is told with its event"
    );

    /// An invited institution's owner answers.
    struct Answer<'a> {
        owner: &'a Account,
        inst: &'a str,
        id: &'a str,
        answer: &'a str,
        event_type: &'a str,
        to: &'a str,
    }
    let answers = [
        Answer {
            owner: &w.ke,
            inst: "ke-lab",
            id: ke,
            answer: "accept",
            event_type: "partnership.member_active",
            to: "active",
        },
        Answer {
            owner: &w.ng,
            inst: "ng-lab",
            id: ng,
            answer: "accept",
            event_type: "partnership.member_active",
            to: "active",
        },
        Answer {
            owner: &w.ke2,
            inst: "ke-two",
            id: ke2,
            answer: "decline",
            event_type: "partnership.member_declined",
            to: "declined",
        },
    ];
    for a in answers {
        let path = format!("{}/{}", member_path("ev-lab", a.inst), a.answer);
        ok(app, Method::POST, &path, &a.owner.access, None, 200).await;
        let payload = json!({"institution": a.inst, "from": "invited", "to": a.to});
        let want = [ev(a.event_type, p, Some(a.owner), &[a.id], payload)];
        stream.expect(app, a.answer, &want).await;
    }
    assert_eq!(
        app.count_emails("coord@example.org", "partnership_response")
            .await,
        3,
        "each answer is told to the coordinators"
    );

    // ke-lab's owner may coordinate: it belongs to an active member.
    let coordinators = format!("{BASE}/ev-lab/coordinators");
    let body = json!({"user_id": w.ke.id});
    ok(app, Method::POST, &coordinators, c, Some(body), 201).await;
    let payload = json!({"user_id": w.ke.id});
    let want = [ev(
        "partnership.coordinator_added",
        p,
        coord,
        &[ke, ng],
        payload.clone(),
    )];
    stream.expect(app, "add a coordinator", &want).await;
    let path = format!("{coordinators}/{}", w.ke.id);
    ok(app, Method::DELETE, &path, c, None, 204).await;
    let want = [ev(
        "partnership.coordinator_removed",
        p,
        coord,
        &[ke, ng],
        payload,
    )];
    stream.expect(app, "remove a coordinator", &want).await;

    // The first share after a quiet day sends the digest at once: two events.
    let resources = format!("{BASE}/ev-lab/resources");
    let body = json!({"resource_id": shared});
    let editor = Some(&w.ke_editor);
    ok(
        app,
        Method::POST,
        &resources,
        &w.ke_editor.access,
        Some(body),
        201,
    )
    .await;
    let want = [
        ev(
            "partnership.resource_shared",
            p,
            editor,
            &[ke],
            json!({"resource_id": shared, "kind": "course"}),
        ),
        ev(
            "partnership.digest_sent",
            p,
            editor,
            &[ke, ng],
            json!({"resources": [shared], "recipients": 2}),
        ),
    ];
    stream.expect(app, "share", &want).await;
    for owner in ["ke.owner@example.org", "ng.owner@example.org"] {
        assert_eq!(
            app.count_emails(owner, "partnership_shared_digest").await,
            1,
            "{owner}"
        );
    }
    ok(
        app,
        Method::DELETE,
        &format!("{resources}/{shared}"),
        c,
        None,
        204,
    )
    .await;
    let payload = json!({"resource_id": shared});
    let want = [ev(
        "partnership.resource_unshared",
        p,
        coord,
        &[ke],
        payload,
    )];
    stream.expect(app, "unshare", &want).await;

    ok(
        app,
        Method::POST,
        &format!("{BASE}/ev-lab/activate"),
        c,
        None,
        200,
    )
    .await;
    let payload = json!({"from": "proposed", "to": "active"});
    let want = [ev(
        "partnership.status_changed",
        p,
        coord,
        &[ke, ng],
        payload,
    )];
    stream.expect(app, "activate", &want).await;

    let path = member_path("ev-lab", "ng-lab");
    ok(app, Method::DELETE, &path, &w.ng.access, None, 200).await;
    let payload = json!({"institution": "ng-lab", "from": "active", "to": "left"});
    let want = [ev(
        "partnership.member_left",
        p,
        Some(&w.ng),
        &[ng],
        payload,
    )];
    stream.expect(app, "leave", &want).await;
    ok(
        app,
        Method::DELETE,
        &member_path("ev-lab", "ke-lab"),
        c,
        None,
        200,
    )
    .await;
    let payload = json!({"institution": "ke-lab", "from": "active", "to": "removed"});
    let want = [ev("partnership.member_removed", p, coord, &[ke], payload)];
    stream.expect(app, "remove", &want).await;

    ok(
        app,
        Method::POST,
        &format!("{BASE}/ev-lab/conclude"),
        c,
        None,
        200,
    )
    .await;
    let payload = json!({"from": "active", "to": "concluded"});
    let want = [ev("partnership.status_changed", p, coord, &[], payload)];
    stream.expect(app, "conclude", &want).await;
});

// ----- refusals leave nothing -------------------------------------------------------

/// A request that is refused, and leaves no event.
struct Refused<'a> {
    label: &'a str,
    method: Method,
    path: String,
    token: &'a str,
    body: Option<Value>,
    status: u16,
}

api_test!(a_refused_partnership_command_leaves_no_event, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    proposed_with_ke_lab(app, c, "quiet").await;
    let mut stream = Stream::new(app).await;
    let outsider = w.outsider.access.as_str();
    let editor = w.ke_editor.access.as_str();
    let r = |label, method, path: String, token, body, status| Refused {
        label,
        method,
        path,
        token,
        body,
        status,
    };
    let cases = [
        r(
            "a member creates",
            Method::POST,
            BASE.into(),
            outsider,
            Some(new_partnership("nope")),
            403,
        ),
        r(
            "the slug is taken",
            Method::POST,
            BASE.into(),
            c,
            Some(new_partnership("quiet")),
            409,
        ),
        r(
            "an invalid body",
            Method::POST,
            BASE.into(),
            c,
            Some(
                json!({"slug": "x", "title": "", "starts_on": "2026-01-01", "ends_on": "2025-01-01"}),
            ),
            400,
        ),
        r(
            "an outsider updates",
            Method::PATCH,
            format!("{BASE}/quiet"),
            outsider,
            Some(json!({"goals": "X"})),
            403,
        ),
        r(
            "ending before it starts",
            Method::PATCH,
            format!("{BASE}/quiet"),
            c,
            Some(json!({"ends_on": "2020-01-01"})),
            400,
        ),
        r(
            "activating without two countries",
            Method::POST,
            format!("{BASE}/quiet/activate"),
            c,
            None,
            422,
        ),
        r(
            "concluding a proposed one",
            Method::POST,
            format!("{BASE}/quiet/conclude"),
            c,
            None,
            409,
        ),
        r(
            "inviting twice",
            Method::POST,
            format!("{BASE}/quiet/members"),
            c,
            Some(json!({"institution": "ke-lab"})),
            409,
        ),
        r(
            "an editor accepts for its institution",
            Method::POST,
            format!("{}/accept", member_path("quiet", "ke-lab")),
            editor,
            None,
            403,
        ),
        r(
            "the last coordinator goes",
            Method::DELETE,
            format!("{BASE}/quiet/coordinators/{}", w.coord.id),
            c,
            None,
            409,
        ),
        r(
            "a stranger coordinates",
            Method::POST,
            format!("{BASE}/quiet/coordinators"),
            c,
            Some(json!({"user_id": w.outsider.id})),
            422,
        ),
        r(
            "sharing what does not exist",
            Method::POST,
            format!("{BASE}/quiet/resources"),
            outsider,
            Some(json!({"resource_id": w.root.id})),
            404,
        ),
    ];
    for case in cases {
        ok(
            app,
            case.method,
            &case.path,
            case.token,
            case.body,
            case.status,
        )
        .await;
        stream.nothing(app, case.label).await;
    }
    // A stale If-Match: 412, nothing recorded.
    let res = app
        .client
        .patch(app.url(&format!("{BASE}/quiet")))
        .bearer_auth(c)
        .header("If-Match", "\"stale\"")
        .json(&json!({"goals": "G"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 412);
    stream.nothing(app, "a stale If-Match").await;
    // Nothing changes an ended partnership.
    ok(
        app,
        Method::POST,
        &format!("{BASE}/quiet/dissolve"),
        c,
        None,
        200,
    )
    .await;
    stream.next(app).await;
    ok(
        app,
        Method::PATCH,
        &format!("{BASE}/quiet"),
        c,
        Some(json!({"goals": "G"})),
        409,
    )
    .await;
    ok(
        app,
        Method::POST,
        &format!("{BASE}/quiet/dissolve"),
        c,
        None,
        409,
    )
    .await;
    stream.nothing(app, "an ended partnership").await;
});

// ----- the digest job ------------------------------------------------------------------

api_test!(
    the_digest_job_records_its_event_without_an_actor,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let c = w.coord.access.as_str();
        let first = course(app, &w.ke_editor, "ke-lab", "First").await;
        let second = course(app, &w.ke_editor, "ke-lab", "Second").await;
        ok(
            app,
            Method::POST,
            BASE,
            c,
            Some(new_partnership("digest")),
            201,
        )
        .await;
        let p = partnership_id(app, "digest").await;
        for (inst, owner) in [("ke-lab", &w.ke), ("ng-lab", &w.ng)] {
            let body = json!({"institution": inst});
            ok(
                app,
                Method::POST,
                &format!("{BASE}/digest/members"),
                c,
                Some(body),
                201,
            )
            .await;
            let path = format!("{}/accept", member_path("digest", inst));
            ok(app, Method::POST, &path, &owner.access, None, 200).await;
        }
        let resources = format!("{BASE}/digest/resources");
        let editor = w.ke_editor.access.as_str();
        ok(
            app,
            Method::POST,
            &resources,
            editor,
            Some(json!({"resource_id": first})),
            201,
        )
        .await;
        let mut stream = Stream::new(app).await;
        // The second share waits for the next day's round.
        ok(
            app,
            Method::POST,
            &resources,
            editor,
            Some(json!({"resource_id": second})),
            201,
        )
        .await;
        let got: Vec<String> = stream
            .next(app)
            .await
            .into_iter()
            .map(|s| s.event_type)
            .collect();
        assert_eq!(got, ["partnership.resource_shared"]);
        let state = app.state.clone();
        let sent = app
            .db
            .run(move |conn| kujenga::jobs::digests::send_at(conn, &state, kujenga::db::now()))
            .await
            .unwrap();
        assert_eq!(sent, 0, "not yet: one digest a day");
        stream.nothing(app, "no digest yet").await;
        let state = app.state.clone();
        let tomorrow = kujenga::db::now() + chrono::Duration::hours(25);
        let sent = app
            .db
            .run(move |conn| kujenga::jobs::digests::send_at(conn, &state, tomorrow))
            .await
            .unwrap();
        assert_eq!(sent, 1);
        let (ke, ng) = (w.ke_id.as_str(), w.ng_id.as_str());
        stream
            .expect(
                app,
                "the round's digest",
                &[Expected {
                    event_type: "partnership.digest_sent",
                    subject_id: &p,
                    actor: None,
                    institutions: vec![ke, ng],
                    payload: json!({"resources": [second], "recipients": 2}),
                }],
            )
            .await;
        assert_eq!(
            app.count_emails("ng.owner@example.org", "partnership_shared_digest")
                .await,
            2
        );
    }
);

// ----- typed storage ---------------------------------------------------------------------

api_test!(a_corrupted_stored_status_answers_500, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    proposed_with_ke_lab(app, c, "broken").await;
    ok(app, Method::GET, &format!("{BASE}/broken"), c, None, 200).await;

    // A member status outside the set: not read as `invited`.
    sql(
        app,
        "UPDATE partnership_members SET status = 'suspended'".into(),
    )
    .await;
    let res = call(
        app,
        Method::GET,
        &format!("{BASE}/broken/members"),
        Some(c),
        None,
    )
    .await;
    assert_eq!(res.status(), 500);
    sql(
        app,
        "UPDATE partnership_members SET status = 'invited'".into(),
    )
    .await;
    ok(
        app,
        Method::GET,
        &format!("{BASE}/broken/members"),
        c,
        None,
        200,
    )
    .await;

    // A partnership status outside the set: not read as `proposed`.
    sql(
        app,
        "UPDATE partnerships SET status = 'paused' WHERE slug = 'broken'".into(),
    )
    .await;
    for path in [format!("{BASE}/broken"), BASE.to_string()] {
        let res = call(app, Method::GET, &path, Some(c), None).await;
        assert_eq!(res.status(), 500, "{path}");
        let body: Value = res.json().await.unwrap();
        assert!(
            !body.to_string().contains("paused"),
            "a 500 reveals nothing: {body}"
        );
    }
    let mut stream = Stream::new(app).await;
    let res = call(
        app,
        Method::POST,
        &format!("{BASE}/broken/activate"),
        Some(c),
        None,
    )
    .await;
    assert_eq!(res.status(), 500);
    stream.nothing(app, "a failed read changes nothing").await;
});
