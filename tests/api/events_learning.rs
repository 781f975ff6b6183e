//! Learning records its events: each command leaves exactly the expected
//! event (type, subject, actor, institutions, payload) in the events table,
//! an idempotent repeat and a refused command leave none, and a stored
//! enrollment status that is not a word of the set answers 500.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::events::{self as stream, last_seq};
use crate::helpers::http::{body_of, call};
use crate::helpers::institutions;
use crate::helpers::{Account, Backend, TestApp, problem};

const INST: &str = "learn-lab";

/// One stored event, as a reader of the stream sees it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    event_type: String,
    subject_kind: String,
    subject_id: String,
    actor_id: Option<String>,
    institutions: Vec<String>,
    payload: Value,
}

/// What a test expects of an event about the course.
struct Expected<'a> {
    event_type: &'a str,
    actor: &'a Account,
    payload: Value,
}

fn ev<'a>(event_type: &'a str, actor: &'a Account, payload: Value) -> Expected<'a> {
    Expected {
        event_type,
        actor,
        payload,
    }
}

/// A learner's mark (or un-mark) on a module.
fn mark_ev<'a>(event_type: &'a str, learner: &'a Account, module: &str) -> Expected<'a> {
    ev(
        event_type,
        learner,
        json!({"user_id": learner.id, "module_id": module}),
    )
}

struct World {
    app: TestApp,
    owner: Account,
    institution_id: String,
}

/// `method path` with `token` and no body, answered with `status`: the body.
async fn learner_does(w: &World, method: Method, path: &str, token: &str, status: u16) -> Value {
    body_of(call(&w.app, method, path, Some(token), None).await, status).await
}

/// An app with `learn-lab` (verified), owned by `owner`.
async fn world(backend: Backend) -> World {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let owner = app.signup("owner@example.org").await;
    let body = json!({"slug": INST, "name": "Learning Lab", "country": "KE", "kind": "university"});
    institutions::create(&app, &owner.access, body).await;
    institutions::verify(&app, &root.access, INST).await;
    let institution_id = {
        use diesel::prelude::*;
        use kujenga::db::schema::institutions as it;
        app.db
            .run(|conn| {
                it::table
                    .filter(it::slug.eq(INST))
                    .select(it::id)
                    .first::<String>(conn)
            })
            .await
            .expect("institution id")
    };
    World {
        app,
        owner,
        institution_id,
    }
}

/// A draft course: its id.
async fn draft(w: &World, title: &str) -> String {
    let body = json!({"institution": INST, "title": title, "summary": "What it is.",
                      "license": "CC-BY-4.0", "languages": ["sw"], "duration_hours": 6,
                      "level": "beginner"});
    let res = call(
        &w.app,
        Method::POST,
        "/api/v1/courses",
        Some(&w.owner.access),
        Some(body),
    )
    .await;
    body_of(res, 201).await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn add_module(w: &World, course: &str, title: &str) -> String {
    let res = call(
        &w.app,
        Method::POST,
        &format!("/api/v1/courses/{course}/modules"),
        Some(&w.owner.access),
        Some(json!({"title": title, "content": format!("# {title}")})),
    )
    .await;
    body_of(res, 201).await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// A published course with `n` required modules: its id and the modules' ids.
async fn published(w: &World, n: usize) -> (String, Vec<String>) {
    let id = draft(w, "Course").await;
    let mut modules = Vec::new();
    for i in 1..=n {
        modules.push(add_module(w, &id, &format!("M{i}")).await);
    }
    let res = call(
        &w.app,
        Method::POST,
        &format!("/api/v1/courses/{id}/publish"),
        Some(&w.owner.access),
        None,
    )
    .await;
    body_of(res, 200).await;
    (id, modules)
}

fn enrollment(course: &str) -> String {
    format!("/api/v1/courses/{course}/enrollment")
}

fn mark(course: &str, module: &str) -> String {
    format!("/api/v1/courses/{course}/enrollment/modules/{module}")
}

fn module_path(course: &str, module: &str) -> String {
    format!("/api/v1/courses/{course}/modules/{module}")
}

/// Every event after `after` (a sequence number), in order, and the last
/// sequence number.
async fn events_after(app: &TestApp, after: i64) -> (Vec<Seen>, i64) {
    let rows = stream::events_after(app, after).await;
    let last = rows.last().map_or(after, |(r, _)| r.seq);
    let seen = rows
        .into_iter()
        .map(|(r, institutions)| Seen {
            event_type: r.event_type,
            subject_kind: r.subject_kind,
            subject_id: r.subject_id,
            actor_id: r.actor_id,
            institutions,
            payload: serde_json::from_str(&r.payload).expect("payload is JSON"),
        })
        .collect();
    (seen, last)
}

/// The events since `cursor`, checked against `expected` (about `course`,
/// concerning the world's institution); moves the cursor on.
async fn expect_events(
    w: &World,
    cursor: &mut i64,
    course: &str,
    expected: &[Expected<'_>],
    what: &str,
) {
    let (seen, last) = events_after(&w.app, *cursor).await;
    *cursor = last;
    let want: Vec<Seen> = expected
        .iter()
        .map(|e| Seen {
            event_type: e.event_type.to_string(),
            subject_kind: "resource".into(),
            subject_id: course.to_string(),
            actor_id: Some(e.actor.id.clone()),
            institutions: vec![w.institution_id.clone()],
            payload: e.payload.clone(),
        })
        .collect();
    assert_eq!(seen, want, "{what}");
}

api_test!(module_commands_leave_their_events, |backend| {
    let w = world(backend).await;
    let course = draft(&w, "Modules").await;
    let mut cursor = last_seq(&w.app).await;
    let a = add_module(&w, &course, "A").await;
    let b = add_module(&w, &course, "B").await;
    expect_events(
        &w,
        &mut cursor,
        &course,
        &[
            ev(
                "module.created",
                &w.owner,
                json!({"module_id": a, "title": "A", "position": 1}),
            ),
            ev(
                "module.created",
                &w.owner,
                json!({"module_id": b, "title": "B", "position": 2}),
            ),
        ],
        "two modules added",
    )
    .await;

    let res = call(
        &w.app,
        Method::PATCH,
        &module_path(&course, &b),
        Some(&w.owner.access),
        Some(json!({"position": 1, "title": "B first", "required": false})),
    )
    .await;
    body_of(res, 200).await;
    expect_events(
        &w,
        &mut cursor,
        &course,
        &[ev(
            "module.updated",
            &w.owner,
            json!({"module_id": b, "from_position": 2, "position": 1,
                            "changed": ["title", "position", "required"]}),
        )],
        "a module moved and renamed",
    )
    .await;

    let res = call(
        &w.app,
        Method::DELETE,
        &module_path(&course, &a),
        Some(&w.owner.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    expect_events(
        &w,
        &mut cursor,
        &course,
        &[ev(
            "module.deleted",
            &w.owner,
            json!({"module_id": a, "title": "A", "position": 2}),
        )],
        "a module removed",
    )
    .await;

    // The audit entry is derived from the event: same action and detail.
    let root = w.app.signin("root@example.org").await;
    let res = w
        .app
        .get_auth("/api/v1/audit-events?action=module.deleted", &root.access)
        .await;
    let audit = body_of(res, 200).await;
    assert_eq!(
        audit["items"][0]["detail"],
        json!({"module_id": a, "title": "A", "position": 2})
    );
});

api_test!(enrollment_commands_leave_their_events, |backend| {
    let w = world(backend).await;
    let (course, m) = published(&w, 2).await;
    let learner = w.app.signup("learner@example.org").await;
    let t = learner.access.as_str();
    let uid = learner.id.as_str();
    let mut cursor = last_seq(&w.app).await;

    learner_does(&w, Method::PUT, &enrollment(&course), t, 201).await;
    expect_events(
        &w,
        &mut cursor,
        &course,
        &[ev("enrollment.created", &learner, json!({"user_id": uid}))],
        "enrolled",
    )
    .await;
    assert_eq!(
        w.app
            .count_emails(&learner.email, "enrollment_confirmed")
            .await,
        1
    );

    // Repeats that change nothing record nothing.
    learner_does(&w, Method::PUT, &enrollment(&course), t, 200).await;
    learner_does(&w, Method::DELETE, &mark(&course, &m[0]), t, 200).await;
    expect_events(&w, &mut cursor, &course, &[], "no-op repeats").await;

    learner_does(&w, Method::PUT, &mark(&course, &m[0]), t, 200).await;
    learner_does(&w, Method::PUT, &mark(&course, &m[0]), t, 200).await;
    learner_does(&w, Method::DELETE, &mark(&course, &m[0]), t, 200).await;
    expect_events(
        &w,
        &mut cursor,
        &course,
        &[
            mark_ev("enrollment.module_done", &learner, &m[0]),
            mark_ev("enrollment.module_undone", &learner, &m[0]),
        ],
        "marked once (twice), un-marked",
    )
    .await;

    learner_does(&w, Method::PUT, &mark(&course, &m[0]), t, 200).await;
    let e = learner_does(&w, Method::PUT, &mark(&course, &m[1]), t, 200).await;
    assert_eq!(e["status"], "completed", "{e}");
    let completion_id = e["completion_id"].as_str().expect("completion id");
    expect_events(
        &w,
        &mut cursor,
        &course,
        &[
            mark_ev("enrollment.module_done", &learner, &m[0]),
            mark_ev("enrollment.module_done", &learner, &m[1]),
            ev(
                "enrollment.completed",
                &learner,
                json!({"user_id": uid, "from": "active", "to": "completed",
                                "completion_id": completion_id}),
            ),
        ],
        "the last module completes the course",
    )
    .await;
    assert_eq!(
        w.app.count_emails(&learner.email, "course_completed").await,
        1
    );

    learner_does(&w, Method::DELETE, &enrollment(&course), t, 200).await;
    learner_does(&w, Method::DELETE, &enrollment(&course), t, 200).await;
    expect_events(
        &w,
        &mut cursor,
        &course,
        &[ev(
            "enrollment.withdrawn",
            &learner,
            json!({"user_id": uid, "from": "completed", "to": "withdrawn"}),
        )],
        "withdrawn (twice)",
    )
    .await;

    let e = learner_does(&w, Method::PUT, &enrollment(&course), t, 200).await;
    assert_eq!(e["status"], "completed", "{e}");
    expect_events(
        &w,
        &mut cursor,
        &course,
        &[ev(
            "enrollment.resumed",
            &learner,
            json!({"user_id": uid, "from": "withdrawn", "to": "completed"}),
        )],
        "back, completed as before",
    )
    .await;
});

api_test!(
    an_editor_removing_the_rest_completes_learners_in_the_same_command,
    |backend| {
        let w = world(backend).await;
        let (course, m) = published(&w, 2).await;
        let learner = w.app.signup("learner@example.org").await;
        let t = learner.access.as_str();
        learner_does(&w, Method::PUT, &enrollment(&course), t, 201).await;
        learner_does(&w, Method::PUT, &mark(&course, &m[0]), t, 200).await;
        let mut cursor = last_seq(&w.app).await;
        let res = call(
            &w.app,
            Method::DELETE,
            &module_path(&course, &m[1]),
            Some(&w.owner.access),
            None,
        )
        .await;
        assert_eq!(res.status(), 204);
        let e = body_of(w.app.get_auth(&enrollment(&course), t).await, 200).await;
        let completion_id = e["completion_id"].as_str().expect("completed");
        // The cause first, then what it caused; the editor is the actor.
        expect_events(
            &w,
            &mut cursor,
            &course,
            &[
                ev(
                    "module.deleted",
                    &w.owner,
                    json!({"module_id": m[1], "title": "M2", "position": 2}),
                ),
                ev(
                    "enrollment.completed",
                    &w.owner,
                    json!({"user_id": learner.id, "from": "active", "to": "completed",
                                    "completion_id": completion_id}),
                ),
            ],
            "a module removed completes the learner",
        )
        .await;
        assert_eq!(
            w.app.count_emails(&learner.email, "course_completed").await,
            1
        );
    }
);

api_test!(refused_learning_commands_leave_no_event, |backend| {
    let w = world(backend).await;
    let (course, m) = published(&w, 1).await;
    let (closed, _) = published(&w, 1).await;
    let res = call(
        &w.app,
        Method::POST,
        &format!("/api/v1/courses/{closed}/archive"),
        Some(&w.owner.access),
        None,
    )
    .await;
    body_of(res, 200).await;
    let learner = w.app.signup("learner@example.org").await;
    let t = learner.access.as_str();
    let o = w.owner.access.as_str();
    let cursor = last_seq(&w.app).await;

    struct Case {
        what: &'static str,
        method: Method,
        path: String,
        token: &'static str,
        body: Option<Value>,
        status: u16,
    }
    let (learner_token, owner_token) = ("learner", "owner");
    let cases = [
        Case {
            what: "enrolling in an archived course",
            method: Method::PUT,
            path: enrollment(&closed),
            token: learner_token,
            body: None,
            status: 409,
        },
        Case {
            what: "marking a module without enrolling",
            method: Method::PUT,
            path: mark(&course, &m[0]),
            token: learner_token,
            body: None,
            status: 409,
        },
        Case {
            what: "withdrawing without enrolling",
            method: Method::DELETE,
            path: enrollment(&course),
            token: learner_token,
            body: None,
            status: 404,
        },
        Case {
            what: "a learner adding a module",
            method: Method::POST,
            path: format!("/api/v1/courses/{course}/modules"),
            token: learner_token,
            body: Some(json!({"title": "X", "content": "x"})),
            status: 403,
        },
        Case {
            what: "a module without content",
            method: Method::POST,
            path: format!("/api/v1/courses/{course}/modules"),
            token: owner_token,
            body: Some(json!({"title": "X"})),
            status: 400,
        },
        Case {
            what: "a change leaving a module without content (checked in the transaction)",
            method: Method::PATCH,
            path: module_path(&course, &m[0]),
            token: owner_token,
            body: Some(json!({"content": null})),
            status: 400,
        },
        Case {
            what: "moving a module past the end",
            method: Method::PATCH,
            path: module_path(&course, &m[0]),
            token: owner_token,
            body: Some(json!({"position": 5})),
            status: 400,
        },
        Case {
            what: "removing the last module of a published course",
            method: Method::DELETE,
            path: module_path(&course, &m[0]),
            token: owner_token,
            body: None,
            status: 422,
        },
    ];
    for c in cases {
        let token = if c.token == learner_token { t } else { o };
        let res = call(&w.app, c.method, &c.path, Some(token), c.body).await;
        assert_eq!(res.status().as_u16(), c.status, "{}", c.what);
        assert_eq!(last_seq(&w.app).await, cursor, "{} left an event", c.what);
    }
});

api_test!(a_corrupted_enrollment_status_answers_500, |backend| {
    let w = world(backend).await;
    let (course, _) = published(&w, 1).await;
    let learner = w.app.signup("learner@example.org").await;
    let t = learner.access.as_str();
    learner_does(&w, Method::PUT, &enrollment(&course), t, 201).await;
    w.app
        .db
        .run(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query("UPDATE enrollments SET status = 'enroled'").execute(conn)
        })
        .await
        .expect("corrupt the status");
    // Not read as `active` (the old silent default): a server error.
    problem(w.app.get_auth(&enrollment(&course), t).await, 500).await;
    problem(w.app.get_auth("/api/v1/me/enrollments", t).await, 500).await;
    let stats = format!("/api/v1/courses/{course}/stats");
    problem(w.app.get_auth(&stats, &w.owner.access).await, 500).await;
});
