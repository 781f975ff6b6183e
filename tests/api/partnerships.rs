//! `/partnerships*`: creating and changing partnerships, the lifecycle and
//! its cross-border rule, member institutions (invitations, answers, leaving
//! and removal, with their emails), coordinators, shared resources and who
//! sees a `partnership` resource when, access across partnerships, the list
//! with its filters and pages, and the audit trail.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::{admin, set_platform_role, unverified};
use crate::helpers::app::start;
use crate::helpers::audit::institution_id;
use crate::helpers::http::{body_of, call, etag_of, invalid, send, strings, typed, walk};
use crate::helpers::institutions::{create, join, verify};
use crate::helpers::json::with;
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Account, Backend, PASSWORD, TestApp, problem, spawn_app_with};

// ----- helpers ------------------------------------------------------------

const BASE: &str = "/api/v1/partnerships";

fn pp(slug: &str) -> String {
    format!("{BASE}/{slug}")
}

fn members_path(slug: &str) -> String {
    format!("{BASE}/{slug}/members")
}

fn member_path(slug: &str, inst: &str) -> String {
    format!("{BASE}/{slug}/members/{inst}")
}

fn coordinators_path(slug: &str) -> String {
    format!("{BASE}/{slug}/coordinators")
}

fn resources_path(slug: &str) -> String {
    format!("{BASE}/{slug}/resources")
}

/// A complete, valid creation body.
fn new_partnership(slug: &str) -> Value {
    json!({
        "slug": slug,
        "title": format!("Partnership {slug}"),
        "starts_on": "2026-03-01",
        "ends_on": "2028-02-29",
    })
}

async fn post(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    call(app, Method::POST, path, token, body).await
}

async fn get(app: &TestApp, token: Option<&str>, path: &str) -> reqwest::Response {
    call(app, Method::GET, path, token, None).await
}

/// Creates a partnership from `body` (201): the partnership.
async fn propose_with(app: &TestApp, token: &str, body: Value) -> Value {
    body_of(post(app, Some(token), BASE, Some(body)).await, 201).await
}

async fn propose(app: &TestApp, token: &str, slug: &str) -> Value {
    propose_with(app, token, new_partnership(slug)).await
}

/// `POST /partnerships/{slug}/{what}` (`activate`, `conclude`, `dissolve`).
async fn step(app: &TestApp, token: Option<&str>, slug: &str, what: &str) -> reqwest::Response {
    post(app, token, &format!("{}/{what}", pp(slug)), None).await
}

async fn invite_inst(
    app: &TestApp,
    token: Option<&str>,
    slug: &str,
    inst: &str,
) -> reqwest::Response {
    post(
        app,
        token,
        &members_path(slug),
        Some(json!({"institution": inst})),
    )
    .await
}

/// `POST …/members/{inst}/{answer}` (`accept`, `decline`).
async fn answer(
    app: &TestApp,
    token: Option<&str>,
    slug: &str,
    inst: &str,
    what: &str,
) -> reqwest::Response {
    post(
        app,
        token,
        &format!("{}/{what}", member_path(slug, inst)),
        None,
    )
    .await
}

async fn set_member_status(
    app: &TestApp,
    token: Option<&str>,
    slug: &str,
    inst: &str,
    status: &str,
) -> reqwest::Response {
    call(
        app,
        Method::PATCH,
        &member_path(slug, inst),
        token,
        Some(json!({"status": status})),
    )
    .await
}

async fn end_membership(
    app: &TestApp,
    token: Option<&str>,
    slug: &str,
    inst: &str,
) -> reqwest::Response {
    call(app, Method::DELETE, &member_path(slug, inst), token, None).await
}

/// A coordinator invites `inst` and its owner accepts.
async fn bring_in(app: &TestApp, coordinator: &str, owner: &str, slug: &str, inst: &str) {
    let m = body_of(invite_inst(app, Some(coordinator), slug, inst).await, 201).await;
    assert_eq!(m["status"], "invited", "{m}");
    let m = body_of(answer(app, Some(owner), slug, inst, "accept").await, 200).await;
    assert_eq!(m["status"], "active", "{m}");
}

/// The partnership as `token` reads it (200).
async fn read(app: &TestApp, token: Option<&str>, slug: &str) -> Value {
    body_of(get(app, token, &pp(slug)).await, 200).await
}

async fn status_of(app: &TestApp, admin: &str, slug: &str) -> String {
    read(app, Some(admin), slug).await["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `institution → status` of the members as `token` lists them.
async fn member_statuses(app: &TestApp, token: Option<&str>, slug: &str) -> Vec<(String, String)> {
    let page = body_of(
        get(app, token, &format!("{}?limit=100", members_path(slug))).await,
        200,
    )
    .await;
    let mut out: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["institution"].as_str().unwrap().to_string(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The contract's fields of a member (more are welcome).
fn member_fields(m: &Value) -> Value {
    json!({
        "institution": m["institution"],
        "name": m["name"],
        "country": m["country"],
        "status": m["status"],
    })
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = items
        .iter()
        .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
        .collect();
    out.sort();
    out
}

/// The user ids of the coordinators, sorted.
async fn coordinator_ids(app: &TestApp, token: &str, slug: &str) -> Vec<String> {
    let page = body_of(
        get(
            app,
            Some(token),
            &format!("{}?limit=100", coordinators_path(slug)),
        )
        .await,
        200,
    )
    .await;
    let mut ids = strings(&page["items"], "user_id");
    ids.sort();
    ids
}

/// The ids of the shared resources `token` sees.
async fn shared_ids(app: &TestApp, token: Option<&str>, slug: &str) -> BTreeSet<String> {
    let page = body_of(
        get(app, token, &format!("{}?limit=100", resources_path(slug))).await,
        200,
    )
    .await;
    strings(&page["items"], "id").into_iter().collect()
}

async fn share(
    app: &TestApp,
    token: Option<&str>,
    slug: &str,
    resource: &str,
) -> reqwest::Response {
    post(
        app,
        token,
        &resources_path(slug),
        Some(json!({"resource_id": resource})),
    )
    .await
}

async fn unshare(
    app: &TestApp,
    token: Option<&str>,
    slug: &str,
    resource: &str,
) -> reqwest::Response {
    call(
        app,
        Method::DELETE,
        &format!("{}/{resource}", resources_path(slug)),
        token,
        None,
    )
    .await
}

/// Every audit event whose action starts with `partnership.`, oldest first.
async fn partnership_events(app: &TestApp, admin: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let path = match &cursor {
            None => "/api/v1/audit-events?limit=100".to_string(),
            Some(c) => format!("/api/v1/audit-events?limit=100&cursor={c}"),
        };
        let page = body_of(app.get_auth(&path, admin).await, 200).await;
        out.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| {
                    e["action"]
                        .as_str()
                        .is_some_and(|a| a.starts_with("partnership."))
                })
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                out.reverse();
                return out;
            }
        }
    }
    panic!("the audit log did not end");
}

/// A published resource of `kind` (`courses`, `datasets`) owned by `inst`
/// with `visibility`: its id.
async fn resource(
    app: &TestApp,
    token: &str,
    kind: &str,
    inst: &str,
    title: &str,
    visibility: &str,
) -> String {
    let mut body = json!({
        "institution": inst,
        "title": title,
        "summary": format!("About {title}."),
        "license": "CC-BY-4.0",
        "languages": ["en"],
        "visibility": visibility,
    });
    let extra = match kind {
        "courses" => json!({"level": "beginner", "duration_hours": 4}),
        "datasets" => json!({
            "access_level": "open",
            "datasheet": {"motivation": "Why.", "composition": "What.",
                          "collection_process": "How.", "uses": "For what."},
        }),
        other => panic!("no such kind here: {other}"),
    };
    body = with(&body, extra);
    let res = app
        .post_json(&format!("/api/v1/{kind}"), body, Some(token))
        .await;
    let created = body_of(res, 201).await;
    let id = created["id"].as_str().unwrap().to_string();
    if kind == "courses" {
        let res = app
            .post_json(
                &format!("/api/v1/courses/{id}/modules"),
                json!({"title": "Start here", "content": "Welcome."}),
                Some(token),
            )
            .await;
        body_of(res, 201).await;
    }
    let res = post(
        app,
        Some(token),
        &format!("/api/v1/{kind}/{id}/publish"),
        None,
    )
    .await;
    let r = body_of(res, 200).await;
    assert_eq!(r["status"], "published", "{r}");
    id
}

/// Whether `token` reads resource `id` of `kind` (200) or not (404), and
/// whether `/{kind}` and `/resources` list it: the three must agree.
async fn sees(app: &TestApp, token: Option<&str>, kind: &str, id: &str) -> bool {
    let res = get(app, token, &format!("/api/v1/{kind}/{id}")).await;
    let got = res.status().as_u16();
    let single = match got {
        200 => true,
        404 => {
            problem(res, 404).await;
            false
        }
        other => panic!("GET /{kind}/{id} answered {other}"),
    };
    for list in [kind, "resources"] {
        let page = body_of(
            get(app, token, &format!("/api/v1/{list}?limit=100")).await,
            200,
        )
        .await;
        let listed = strings(&page["items"], "id").iter().any(|i| i == id);
        assert_eq!(
            listed,
            single,
            "/{list} {} {id}, but GET answered {got}",
            if listed { "lists" } else { "does not list" }
        );
    }
    single
}

/// Joins a user to an institution directly in the database (for an owner
/// whose email address is not verified, who could not accept an invitation).
async fn add_membership(app: &TestApp, institution_id: &str, user_id: &str, role: &'static str) {
    use diesel::prelude::*;
    use kujenga::db::schema::memberships as ms;
    let (inst, user) = (institution_id.to_string(), user_id.to_string());
    app.db
        .run(move |conn| {
            let now = kujenga::db::now();
            diesel::insert_into(ms::table)
                .values((
                    ms::institution_id.eq(inst),
                    ms::user_id.eq(user),
                    ms::role.eq(role),
                    ms::created_at.eq(now),
                    ms::updated_at.eq(now),
                ))
                .execute(conn)
        })
        .await
        .expect("insert membership");
}

fn institution(slug: &str, country: &str) -> Value {
    json!({
        "slug": slug,
        "name": format!("Institution {slug}"),
        "country": country,
        "kind": "university",
    })
}

/// A signed-in platform coordinator.
async fn coordinator(app: &TestApp, email: &str) -> Account {
    let a = app.signup(email).await;
    set_platform_role(app, &a.id, "coordinator").await;
    app.signin(email).await
}

/// The people and institutions most tests start from.
struct World {
    app: TestApp,
    root: Account,
    /// A platform coordinator in no institution.
    coord: Account,
    /// Owner of `ke-lab` (KE, verified).
    ke: Account,
    /// Editor of `ke-lab`.
    ke_editor: Account,
    /// Member of `ke-lab`.
    ke_member: Account,
    /// Owner of `ng-lab` (NG, verified).
    ng: Account,
    /// Member of `ng-lab`.
    ng_member: Account,
    /// Owner of `ke-two` (KE, verified).
    ke2: Account,
    /// A verified user in no institution.
    outsider: Account,
}

async fn world(backend: Backend) -> World {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let coord = coordinator(&app, "coord@example.org").await;
    let ke = app.signup("ke.owner@example.org").await;
    let ke_editor = app.signup("ke.editor@example.org").await;
    let ke_member = app.signup("ke.member@example.org").await;
    let ng = app.signup("ng.owner@example.org").await;
    let ng_member = app.signup("ng.member@example.org").await;
    let ke2 = app.signup("ke2.owner@example.org").await;
    let outsider = app.signup("outsider@example.org").await;
    create(&app, &ke.access, institution("ke-lab", "KE")).await;
    verify(&app, &root.access, "ke-lab").await;
    join(&app, &ke.access, "ke-lab", &ke_editor, "editor").await;
    join(&app, &ke.access, "ke-lab", &ke_member, "member").await;
    create(&app, &ng.access, institution("ng-lab", "NG")).await;
    verify(&app, &root.access, "ng-lab").await;
    join(&app, &ng.access, "ng-lab", &ng_member, "member").await;
    create(&app, &ke2.access, institution("ke-two", "KE")).await;
    verify(&app, &root.access, "ke-two").await;
    World {
        app,
        root,
        coord,
        ke,
        ke_editor,
        ke_member,
        ng,
        ng_member,
        ke2,
        outsider,
    }
}

impl World {
    /// A partnership of `coord` with `ke-lab` and `ng-lab` active in it,
    /// activated.
    async fn active(&self, slug: &str) {
        let app = &self.app;
        let c = self.coord.access.as_str();
        propose(app, c, slug).await;
        bring_in(app, c, &self.ke.access, slug, "ke-lab").await;
        bring_in(app, c, &self.ng.access, slug, "ng-lab").await;
        let p = body_of(step(app, Some(c), slug, "activate").await, 200).await;
        assert_eq!(p["status"], "active", "{p}");
    }
}

// ----- creating -------------------------------------------------------------

/// A complete creation body with every optional field.
fn good_partnership() -> Value {
    json!({
        "slug": "east-west-ai",
        "title": "East–West AI Lab Partnership",
        "description": "Two labs, one **curriculum**.",
        "goals": "Train 200 engineers.",
        "agreement_url": "https://example.org/agreements/ew.pdf",
        "starts_on": "2026-03-01",
        "ends_on": "2028-02-29",
    })
}

api_test!(
    bad_partnership_bodies_are_refused_and_nothing_is_written,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let c = w.coord.access.as_str();
        let good = good_partnership();

        // Every bad body is refused with the field named, and nothing is written.
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "uppercase slug",
                with(&good, json!({"slug": "East-West"})),
                vec!["slug"],
            ),
            (
                "short slug",
                with(&good, json!({"slug": "ab"})),
                vec!["slug"],
            ),
            (
                "long slug",
                with(&good, json!({"slug": "a".repeat(65)})),
                vec!["slug"],
            ),
            (
                "slug with spaces",
                with(&good, json!({"slug": "east west"})),
                vec!["slug"],
            ),
            (
                "slug with an underscore",
                with(&good, json!({"slug": "east_west"})),
                vec!["slug"],
            ),
            (
                "missing slug",
                with(&good, json!({"slug": null})),
                vec!["slug"],
            ),
            (
                "empty title",
                with(&good, json!({"title": ""})),
                vec!["title"],
            ),
            (
                "long title",
                with(&good, json!({"title": "t".repeat(201)})),
                vec!["title"],
            ),
            (
                "missing title",
                with(&good, json!({"title": null})),
                vec!["title"],
            ),
            (
                "ends before it starts",
                with(
                    &good,
                    json!({"starts_on": "2027-01-01", "ends_on": "2026-12-31"}),
                ),
                vec!["ends_on"],
            ),
            (
                "ends the day it starts",
                with(
                    &good,
                    json!({"starts_on": "2027-01-01", "ends_on": "2027-01-01"}),
                ),
                vec!["ends_on"],
            ),
            (
                "not a date",
                with(&good, json!({"starts_on": "2026-13-01"})),
                vec!["starts_on"],
            ),
            (
                "missing start",
                with(&good, json!({"starts_on": null})),
                vec!["starts_on"],
            ),
            (
                "missing end",
                with(&good, json!({"ends_on": null})),
                vec!["ends_on"],
            ),
            (
                "ftp agreement",
                with(&good, json!({"agreement_url": "ftp://example.org/a.pdf"})),
                vec!["agreement_url"],
            ),
            (
                "javascript agreement",
                with(&good, json!({"agreement_url": "javascript:alert(1)"})),
                vec!["agreement_url"],
            ),
            (
                "unknown field",
                with(&good, json!({"status": "active"})),
                vec!["status"],
            ),
            (
                "another unknown field",
                with(&good, json!({"owner": "me"})),
                vec!["owner"],
            ),
            (
                "public is a boolean",
                with(&good, json!({"public": "yes"})),
                vec!["public"],
            ),
        ];
        for (case, body, fields) in cases {
            let res = post(app, Some(c), BASE, Some(body)).await;
            let status = res.status();
            let text = res.text().await.unwrap();
            assert_eq!(status, 400, "{case}: {text}");
            let p: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                p["type"], "urn:kujenga:problem:validation-error",
                "{case}: {p}"
            );
            let mut got = strings(&p["errors"], "field");
            got.sort();
            let mut want = fields.clone();
            want.sort();
            assert_eq!(got, want, "{case}: {p}");
        }
        let list = body_of(app.get_auth(BASE, &w.root.access).await, 200).await;
        assert_eq!(list["items"], json!([]), "nothing was created: {list}");
        assert!(partnership_events(app, &w.root.access).await.is_empty());
    }
);

api_test!(creating_a_partnership_and_validation, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    let good = good_partnership();
    // The good body.
    let res = post(app, Some(c), BASE, Some(good.clone())).await;
    assert_eq!(res.status(), 201);
    let etag = etag_of(&res);
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "a strong ETag: {etag}"
    );
    let p = body_of(res, 201).await;
    assert_eq!(p["slug"], "east-west-ai");
    assert_eq!(p["title"], "East–West AI Lab Partnership");
    assert_eq!(p["description"], "Two labs, one **curriculum**.");
    assert_eq!(p["goals"], "Train 200 engineers.");
    assert_eq!(p["agreement_url"], "https://example.org/agreements/ew.pdf");
    assert_eq!(p["starts_on"], "2026-03-01");
    assert_eq!(p["ends_on"], "2028-02-29");
    assert_eq!(p["status"], "proposed");
    assert_eq!(p["public"], true, "public by default");
    assert_eq!(p["countries"], json!([]));
    assert_eq!(p["members"], json!([]));
    let coords = p["coordinators"].as_array().expect("coordinators");
    assert_eq!(coords.len(), 1, "{p}");
    assert_eq!(
        coords[0]["user_id"],
        w.coord.id.as_str(),
        "the creator coordinates"
    );
    assert!(coords[0]["display_name"].is_string(), "{p}");
    for t in ["created_at", "updated_at"] {
        let s = p[t].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339");
        assert!(s.ends_with('Z'), "{t}: {s}");
    }

    // Its creator reads it as created, with the same tag; If-None-Match
    // gives 304. Anyone reads it (with their own permissions).
    let res = get(app, Some(c), &pp("east-west-ai")).await;
    assert_eq!(etag_of(&res), etag);
    assert_eq!(body_of(res, 200).await, p);
    let res = get(app, None, &pp("east-west-ai")).await;
    assert_ne!(etag_of(&res), etag, "other permissions, another tag");
    let anonymous = body_of(res, 200).await;
    assert_eq!(anonymous["permissions"]["edit"], false, "{anonymous}");
    assert_eq!(p["permissions"]["edit"], true, "{p}");
    let res = send(
        app,
        Method::GET,
        &pp("east-west-ai"),
        Some(c),
        None,
        &[("if-none-match", etag.as_str())],
    )
    .await;
    assert_eq!(res.status(), 304);
    assert_eq!(
        coordinator_ids(app, &w.root.access, "east-west-ai").await,
        [w.coord.id.as_str()]
    );
});

api_test!(
    partnership_slugs_are_unique_and_optional_fields_optional,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let c = w.coord.access.as_str();
        propose_with(app, c, good_partnership()).await;
        // The slug is unique.
        let other = coordinator(app, "other.coord@example.org").await;
        for token in [c, other.access.as_str()] {
            let res = post(
                app,
                Some(token),
                BASE,
                Some(new_partnership("east-west-ai")),
            )
            .await;
            typed(res, 409, "slug-taken").await;
        }

        // Optional fields are optional; `public` may be false.
        let p = propose_with(
            app,
            c,
            with(&new_partnership("quiet-one"), json!({"public": false})),
        )
        .await;
        assert_eq!(p["public"], false);
        assert_eq!(p["agreement_url"], Value::Null);

        // An Idempotency-Key replays the first answer.
        let key = [("idempotency-key", "partnership-once")];
        let first = send(
            app,
            Method::POST,
            BASE,
            Some(c),
            Some(new_partnership("once-only")),
            &key,
        )
        .await;
        let first = body_of(first, 201).await;
        let again = send(
            app,
            Method::POST,
            BASE,
            Some(c),
            Some(new_partnership("once-only")),
            &key,
        )
        .await;
        assert_eq!(body_of(again, 201).await, first);

        // No such partnership.
        problem(get(app, None, &pp("no-such-thing")).await, 404).await;
        problem(
            get(app, Some(&w.root.access), &pp("no-such-thing")).await,
            404,
        )
        .await;
    }
);

api_test!(who_may_create_a_partnership, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let body = |slug: &str| Some(new_partnership(slug));

    // Platform members, whatever their institution role, may not.
    for (who, token) in [
        ("a member", &w.outsider.access),
        ("an institution owner", &w.ke.access),
        ("an institution editor", &w.ke_editor.access),
    ] {
        let res = post(app, Some(token), BASE, body("by-a-member")).await;
        let p = problem(res, 403).await;
        let kind = p["type"].as_str().unwrap();
        assert!(
            kind.starts_with("urn:kujenga:problem:")
                && kind != "urn:kujenga:problem:email-not-verified",
            "{who}: {p}"
        );
    }
    // The anonymous must sign in.
    problem(post(app, None, BASE, body("by-nobody")).await, 401).await;
    // A coordinator whose address is not verified may not.
    let token = unverified(app, "unverified.coord@example.org").await;
    let me = body_of(app.get_auth("/api/v1/me", &token).await, 200).await;
    set_platform_role(app, me["id"].as_str().unwrap(), "coordinator").await;
    let pair = body_of(
        app.login("unverified.coord@example.org", PASSWORD).await,
        200,
    )
    .await;
    let token = pair["access_token"].as_str().unwrap().to_string();
    let res = post(app, Some(&token), BASE, body("by-unverified")).await;
    typed(res, 403, "email-not-verified").await;

    // Coordinators and admins may.
    let p = propose(app, &w.coord.access, "by-coordinator").await;
    assert_eq!(p["coordinators"][0]["user_id"], w.coord.id.as_str());
    let p = propose(app, &w.root.access, "by-admin").await;
    assert_eq!(p["coordinators"][0]["user_id"], w.root.id.as_str());

    let list = body_of(
        app.get_auth(&format!("{BASE}?limit=100"), &w.root.access)
            .await,
        200,
    )
    .await;
    let mut slugs = strings(&list["items"], "slug");
    slugs.sort();
    assert_eq!(slugs, ["by-admin", "by-coordinator"]);
});

// ----- the lifecycle ----------------------------------------------------------

api_test!(activation_needs_two_countries, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    propose(app, c, "cross").await;

    // Nobody yet.
    typed(
        step(app, Some(c), "cross", "activate").await,
        422,
        "not-cross-border",
    )
    .await;
    // Two active members, both in Kenya.
    bring_in(app, c, &w.ke.access, "cross", "ke-lab").await;
    bring_in(app, c, &w.ke2.access, "cross", "ke-two").await;
    typed(
        step(app, Some(c), "cross", "activate").await,
        422,
        "not-cross-border",
    )
    .await;
    // A Nigerian institution that is only invited does not count.
    body_of(invite_inst(app, Some(c), "cross", "ng-lab").await, 201).await;
    typed(
        step(app, Some(c), "cross", "activate").await,
        422,
        "not-cross-border",
    )
    .await;
    assert_eq!(status_of(app, &w.root.access, "cross").await, "proposed");
    assert_eq!(read(app, None, "cross").await["countries"], json!(["KE"]));
    assert_eq!(
        w.app
            .count_emails(&w.ke.email, "partnership_status_changed")
            .await,
        0
    );

    // Others may not activate.
    for token in [&w.ke.access, &w.ng.access, &w.outsider.access] {
        problem(step(app, Some(token), "cross", "activate").await, 403).await;
    }
    problem(step(app, None, "cross", "activate").await, 401).await;

    // Once it accepts: KE and NG.
    body_of(
        answer(app, Some(&w.ng.access), "cross", "ng-lab", "accept").await,
        200,
    )
    .await;
    let res = step(app, Some(c), "cross", "activate").await;
    let p = body_of(res, 200).await;
    assert_eq!(p["status"], "active");
    assert_eq!(p["countries"], json!(["KE", "NG"]), "sorted, unique: {p}");
    let mut members: Vec<(String, String, String)> = p["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["institution"].as_str().unwrap().to_string(),
                m["country"].as_str().unwrap().to_string(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    members.sort();
    assert_eq!(
        members,
        [
            ("ke-lab".into(), "KE".into(), "active".into()),
            ("ke-two".into(), "KE".into(), "active".into()),
            ("ng-lab".into(), "NG".into(), "active".into()),
        ],
        "{p}"
    );
    assert_eq!(read(app, Some(c), "cross").await, p);

    // Every owner of an active member hears about it; nobody else.
    for owner in [&w.ke, &w.ke2, &w.ng] {
        assert_eq!(
            app.count_emails(&owner.email, "partnership_status_changed")
                .await,
            1,
            "{}",
            owner.email
        );
    }
    for other in [&w.ke_editor, &w.ke_member, &w.ng_member, &w.outsider] {
        assert_eq!(
            app.count_emails(&other.email, "partnership_status_changed")
                .await,
            0
        );
    }

    // Activating twice is no transition.
    typed(
        step(app, Some(c), "cross", "activate").await,
        409,
        "invalid-transition",
    )
    .await;
    // Admins may activate (a partnership proposed by someone else).
    propose(app, c, "by-root").await;
    bring_in(app, c, &w.ke.access, "by-root", "ke-lab").await;
    bring_in(app, c, &w.ng.access, "by-root", "ng-lab").await;
    let p = body_of(
        step(app, Some(&w.root.access), "by-root", "activate").await,
        200,
    )
    .await;
    assert_eq!(p["status"], "active");
});

/// `short-lived`: proposed with `ke-lab`, then dissolved.
async fn dissolved_short_lived(w: &World) {
    let (app, c) = (&w.app, w.coord.access.as_str());
    propose(app, c, "short-lived").await;
    bring_in(app, c, &w.ke.access, "short-lived", "ke-lab").await;
    body_of(step(app, Some(c), "short-lived", "dissolve").await, 200).await;
}

/// `full-term`: active, then concluded.
async fn concluded_full_term(w: &World) {
    let (app, c) = (&w.app, w.coord.access.as_str());
    w.active("full-term").await;
    body_of(step(app, Some(c), "full-term", "conclude").await, 200).await;
}

api_test!(conclude_dissolve_and_invalid_transitions, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    // proposed: conclude is no transition; dissolve is.
    propose(app, c, "short-lived").await;
    bring_in(app, c, &w.ke.access, "short-lived", "ke-lab").await;
    typed(
        step(app, Some(c), "short-lived", "conclude").await,
        409,
        "invalid-transition",
    )
    .await;
    problem(
        step(app, Some(&w.ke.access), "short-lived", "dissolve").await,
        403,
    )
    .await;
    let p = body_of(step(app, Some(c), "short-lived", "dissolve").await, 200).await;
    assert_eq!(p["status"], "dissolved");
    assert_eq!(
        app.count_emails(&w.ke.email, "partnership_status_changed")
            .await,
        1
    );
    for what in ["activate", "conclude", "dissolve"] {
        typed(
            step(app, Some(c), "short-lived", what).await,
            409,
            "invalid-transition",
        )
        .await;
    }
});

api_test!(an_active_partnership_concludes_once, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    dissolved_short_lived(&w).await;

    // active: conclude.
    w.active("full-term").await;
    assert_eq!(
        app.count_emails(&w.ke.email, "partnership_status_changed")
            .await,
        2
    );
    problem(
        step(app, Some(&w.ng.access), "full-term", "conclude").await,
        403,
    )
    .await;
    let p = body_of(step(app, Some(c), "full-term", "conclude").await, 200).await;
    assert_eq!(p["status"], "concluded");
    assert_eq!(
        app.count_emails(&w.ke.email, "partnership_status_changed")
            .await,
        3
    );
    assert_eq!(
        app.count_emails(&w.ng.email, "partnership_status_changed")
            .await,
        2
    );
    for what in ["activate", "conclude", "dissolve"] {
        typed(
            step(app, Some(c), "full-term", what).await,
            409,
            "invalid-transition",
        )
        .await;
    }
    assert_eq!(
        app.count_emails(&w.ke.email, "partnership_status_changed")
            .await,
        3
    );
});

api_test!(an_ended_partnership_is_read_only, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    dissolved_short_lived(&w).await;
    concluded_full_term(&w).await;

    // active: dissolve.
    w.active("broken-up").await;
    let p = body_of(
        step(app, Some(&w.root.access), "broken-up", "dissolve").await,
        200,
    )
    .await;
    assert_eq!(p["status"], "dissolved");

    // An ended partnership is read-only, for coordinators and admins alike.
    let course = resource(
        app,
        &w.ke_editor.access,
        "courses",
        "ke-lab",
        "Late course",
        "partnership",
    )
    .await;
    for slug in ["full-term", "broken-up", "short-lived"] {
        let before = read(app, Some(&w.root.access), slug).await;
        for token in [c, w.root.access.as_str()] {
            let res = call(
                app,
                Method::PATCH,
                &pp(slug),
                Some(token),
                Some(json!({"title": "Too late"})),
            )
            .await;
            typed(res, 409, "partnership-ended").await;
            problem(invite_inst(app, Some(token), slug, "ke-two").await, 409).await;
            problem(end_membership(app, Some(token), slug, "ke-lab").await, 409).await;
            problem(
                set_member_status(app, Some(token), slug, "ke-lab", "removed").await,
                409,
            )
            .await;
        }
        problem(
            end_membership(app, Some(&w.ke.access), slug, "ke-lab").await,
            409,
        )
        .await;
        problem(
            share(app, Some(&w.ke_editor.access), slug, &course).await,
            409,
        )
        .await;
        assert_eq!(
            read(app, Some(&w.root.access), slug).await,
            before,
            "{slug} did not change"
        );
    }
    // …including answers to an invitation sent before it ended.
    propose(app, c, "left-hanging").await;
    body_of(
        invite_inst(app, Some(c), "left-hanging", "ke-two").await,
        201,
    )
    .await;
    body_of(step(app, Some(c), "left-hanging", "dissolve").await, 200).await;
    problem(
        answer(app, Some(&w.ke2.access), "left-hanging", "ke-two", "accept").await,
        409,
    )
    .await;
    problem(
        answer(
            app,
            Some(&w.ke2.access),
            "left-hanging",
            "ke-two",
            "decline",
        )
        .await,
        409,
    )
    .await;
    assert_eq!(
        member_statuses(app, Some(c), "left-hanging").await,
        pairs(&[("ke-two", "invited")])
    );
});

api_test!(changing_a_partnership, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    let res = post(app, Some(c), BASE, Some(new_partnership("changing"))).await;
    let etag = etag_of(&res);
    let created = body_of(res, 201).await;
    let path = pp("changing");

    // A current If-Match: changed, with a new tag.
    let res = send(
        app,
        Method::PATCH,
        &path,
        Some(c),
        Some(json!({"title": "Changed title", "goals": "More goals.", "ends_on": "2029-01-31"})),
        &[("if-match", etag.as_str())],
    )
    .await;
    let new_etag = etag_of(&res);
    assert_ne!(new_etag, etag);
    let p = body_of(res, 200).await;
    assert_eq!(p["title"], "Changed title");
    assert_eq!(p["goals"], "More goals.");
    assert_eq!(p["ends_on"], "2029-01-31");
    assert_eq!(p["starts_on"], created["starts_on"]);
    assert_eq!(p["slug"], "changing");
    // A stale one: 412, and nothing changes.
    let res = send(
        app,
        Method::PATCH,
        &path,
        Some(c),
        Some(json!({"title": "Lost update"})),
        &[("if-match", etag.as_str())],
    )
    .await;
    typed(res, 412, "stale-version").await;
    assert_eq!(read(app, None, "changing").await["title"], "Changed title");

    // Validation.
    let bad = [
        (json!({"title": ""}), vec!["title"]),
        (json!({"ends_on": "2026-01-01"}), vec!["ends_on"]),
        (
            json!({"agreement_url": "ftp://x.example.org/a"}),
            vec!["agreement_url"],
        ),
        (json!({"status": "active"}), vec!["status"]),
    ];
    for (body, fields) in bad {
        let res = call(app, Method::PATCH, &path, Some(c), Some(body)).await;
        invalid(res, &fields).await;
    }

    // Those who may see it but not change it: 403; the anonymous: 401.
    for token in [&w.ke.access, &w.outsider.access, &w.ng_member.access] {
        let res = call(
            app,
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"title": "Mine"})),
        )
        .await;
        problem(res, 403).await;
    }
    let res = call(
        app,
        Method::PATCH,
        &path,
        None,
        Some(json!({"title": "Mine"})),
    )
    .await;
    problem(res, 401).await;
    // Admins may.
    let res = call(
        app,
        Method::PATCH,
        &path,
        Some(&w.root.access),
        Some(json!({"description": "By an admin."})),
    )
    .await;
    assert_eq!(body_of(res, 200).await["description"], "By an admin.");

    // Made private: gone for the anonymous and outsiders.
    let res = call(
        app,
        Method::PATCH,
        &path,
        Some(c),
        Some(json!({"public": false})),
    )
    .await;
    assert_eq!(body_of(res, 200).await["public"], false);
    problem(get(app, None, &path).await, 404).await;
    problem(get(app, Some(&w.outsider.access), &path).await, 404).await;
    let res = call(
        app,
        Method::PATCH,
        &path,
        Some(&w.outsider.access),
        Some(json!({"title": "X"})),
    )
    .await;
    problem(res, 404).await;
    assert_eq!(
        read(app, Some(c), "changing").await["title"],
        "Changed title"
    );
});

// ----- member institutions -------------------------------------------------------

api_test!(inviting_institutions_and_the_emails, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    // ng-lab has a second owner: both hear about invitations.
    let ng_owner2 = app.signup("ng.owner2@example.org").await;
    join(app, &w.ng.access, "ng-lab", &ng_owner2, "owner").await;
    propose(app, c, "inviting").await;

    let m = body_of(invite_inst(app, Some(c), "inviting", "ke-lab").await, 201).await;
    assert_eq!(
        member_fields(&m),
        json!({"institution": "ke-lab", "name": "Institution ke-lab", "country": "KE", "status": "invited"})
    );
    body_of(invite_inst(app, Some(c), "inviting", "ng-lab").await, 201).await;
    assert_eq!(
        app.count_emails(&w.ke.email, "partnership_invitation")
            .await,
        1
    );
    assert_eq!(
        app.count_emails(&w.ng.email, "partnership_invitation")
            .await,
        1
    );
    assert_eq!(
        app.count_emails(&ng_owner2.email, "partnership_invitation")
            .await,
        1
    );
    for other in [&w.ke_editor, &w.ke_member, &w.ng_member, &w.ke2, &w.coord] {
        assert_eq!(
            app.count_emails(&other.email, "partnership_invitation")
                .await,
            0,
            "{}",
            other.email
        );
    }
    let text = app.email_text(&w.ke.email, "partnership_invitation").await;
    assert!(
        text.contains("Partnership inviting"),
        "the email names the partnership: {text}"
    );

    // Invited twice: 409, no second email.
    problem(invite_inst(app, Some(c), "inviting", "ke-lab").await, 409).await;
    assert_eq!(
        app.count_emails(&w.ke.email, "partnership_invitation")
            .await,
        1
    );

    // Unknown, hidden (unverified) and visible-but-unverified institutions.
    problem(
        invite_inst(app, Some(c), "inviting", "no-such-lab").await,
        404,
    )
    .await;
    create(app, &w.ke2.access, institution("gh-new", "GH")).await;
    problem(invite_inst(app, Some(c), "inviting", "gh-new").await, 404).await;
    typed(
        invite_inst(app, Some(&w.root.access), "inviting", "gh-new").await,
        422,
        "institution-not-verified",
    )
    .await;
    assert_eq!(
        app.count_emails(&w.ke2.email, "partnership_invitation")
            .await,
        0
    );

    // Only coordinators (and admins) invite.
    for token in [&w.ke.access, &w.ke2.access, &w.outsider.access] {
        problem(
            invite_inst(app, Some(token), "inviting", "ke-two").await,
            403,
        )
        .await;
    }
    problem(invite_inst(app, None, "inviting", "ke-two").await, 401).await;
    let m = body_of(
        invite_inst(app, Some(&w.root.access), "inviting", "ke-two").await,
        201,
    )
    .await;
    assert_eq!(m["status"], "invited");

    // Validation.
    invalid(
        post(app, Some(c), &members_path("inviting"), Some(json!({}))).await,
        &["institution"],
    )
    .await;
    let res = post(
        app,
        Some(c),
        &members_path("inviting"),
        Some(json!({"institution": "ke-two", "status": "active"})),
    )
    .await;
    invalid(res, &["status"]).await;

    // Coordinators see the invitations; the public sees active members only.
    assert_eq!(
        member_statuses(app, Some(c), "inviting").await,
        pairs(&[
            ("ke-lab", "invited"),
            ("ng-lab", "invited"),
            ("ke-two", "invited")
        ])
    );
    assert_eq!(member_statuses(app, None, "inviting").await, []);
    assert_eq!(
        member_statuses(app, Some(&w.outsider.access), "inviting").await,
        []
    );
    assert_eq!(read(app, None, "inviting").await["countries"], json!([]));
});

/// `answers`, proposed by `coord`, with `ke-lab`, `ng-lab` and `ke-two`
/// invited.
async fn answers_world(backend: Backend) -> World {
    let w = world(backend).await;
    let (app, c) = (&w.app, w.coord.access.as_str());
    propose(app, c, "answers").await;
    for inst in ["ke-lab", "ng-lab", "ke-two"] {
        body_of(invite_inst(app, Some(c), "answers", inst).await, 201).await;
    }
    w
}

/// In `answers`, `ke-lab`'s owner accepts.
async fn ke_lab_accepts(w: &World) {
    let res = answer(&w.app, Some(&w.ke.access), "answers", "ke-lab", "accept").await;
    body_of(res, 200).await;
}

/// Every answer in `answers`: `ke-lab` accepts; `ng-lab` declines, is
/// invited again and accepts through PATCH; `ke-two` declines through PATCH.
async fn all_answered(w: &World) {
    let (app, c) = (&w.app, w.coord.access.as_str());
    ke_lab_accepts(w).await;
    body_of(
        answer(app, Some(&w.ng.access), "answers", "ng-lab", "decline").await,
        200,
    )
    .await;
    body_of(invite_inst(app, Some(c), "answers", "ng-lab").await, 201).await;
    for (token, inst, status) in [(&w.ng, "ng-lab", "active"), (&w.ke2, "ke-two", "declined")] {
        let res = set_member_status(app, Some(&token.access), "answers", inst, status).await;
        body_of(res, 200).await;
    }
}

api_test!(accepting_and_declining, |backend| {
    let w = answers_world(backend).await;
    let app = &w.app;
    // An owner whose address is not verified may not answer.
    let unverified_owner = unverified(app, "unverified.owner@example.org").await;
    let me = body_of(app.get_auth("/api/v1/me", &unverified_owner).await, 200).await;
    let ke_id = institution_id(app, &w.root.access, "ke-lab").await;
    add_membership(app, &ke_id, me["id"].as_str().unwrap(), "owner").await;
    for what in ["accept", "decline"] {
        let res = answer(app, Some(&unverified_owner), "answers", "ke-lab", what).await;
        typed(res, 403, "email-not-verified").await;
    }
    let res = set_member_status(app, Some(&unverified_owner), "answers", "ke-lab", "active").await;
    typed(res, 403, "email-not-verified").await;
    // Editors, members and coordinators may not (403); to another
    // institution's owner and outsiders an invitation is not even listed (404).
    for (who, token, status) in [
        ("an editor", &w.ke_editor.access, 403),
        ("a member", &w.ke_member.access, 403),
        ("the coordinator", &w.coord.access, 403),
        ("ng-lab's owner", &w.ng.access, 404),
        ("an outsider", &w.outsider.access, 404),
    ] {
        for what in ["accept", "decline"] {
            let res = answer(app, Some(token), "answers", "ke-lab", what).await;
            assert_eq!(res.status(), status, "{who} {what}s for ke-lab");
            problem(res, status).await;
        }
    }
    problem(answer(app, None, "answers", "ke-lab", "accept").await, 401).await;
    assert_eq!(
        app.count_emails(&w.coord.email, "partnership_response")
            .await,
        0
    );

    // The owner accepts: the coordinators hear about it.
    let m = body_of(
        answer(app, Some(&w.ke.access), "answers", "ke-lab", "accept").await,
        200,
    )
    .await;
    assert_eq!(m["institution"], "ke-lab");
    assert_eq!(m["status"], "active");
    assert_eq!(
        app.count_emails(&w.coord.email, "partnership_response")
            .await,
        1
    );
    // Only an invitation can be answered.
    for what in ["accept", "decline"] {
        problem(
            answer(app, Some(&w.ke.access), "answers", "ke-lab", what).await,
            409,
        )
        .await;
    }
});

api_test!(a_declining_institution_may_be_invited_again, |backend| {
    let w = answers_world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    ke_lab_accepts(&w).await;

    // ng-lab declines.
    let m = body_of(
        answer(app, Some(&w.ng.access), "answers", "ng-lab", "decline").await,
        200,
    )
    .await;
    assert_eq!(m["status"], "declined");
    assert_eq!(
        app.count_emails(&w.coord.email, "partnership_response")
            .await,
        2
    );
    for what in ["accept", "decline"] {
        problem(
            answer(app, Some(&w.ng.access), "answers", "ng-lab", what).await,
            409,
        )
        .await;
    }
    // …and is invited again: a second email, and this time it accepts
    // through PATCH.
    let m = body_of(invite_inst(app, Some(c), "answers", "ng-lab").await, 201).await;
    assert_eq!(m["status"], "invited");
    assert_eq!(
        app.count_emails(&w.ng.email, "partnership_invitation")
            .await,
        2
    );
    problem(
        set_member_status(
            app,
            Some(&w.ng_member.access),
            "answers",
            "ng-lab",
            "active",
        )
        .await,
        403,
    )
    .await;
    let m = body_of(
        set_member_status(app, Some(&w.ng.access), "answers", "ng-lab", "active").await,
        200,
    )
    .await;
    assert_eq!(m["status"], "active");
    assert_eq!(
        app.count_emails(&w.coord.email, "partnership_response")
            .await,
        3
    );

    // ke-two declines through PATCH.
    let m = body_of(
        set_member_status(app, Some(&w.ke2.access), "answers", "ke-two", "declined").await,
        200,
    )
    .await;
    assert_eq!(m["status"], "declined");
    assert_eq!(
        app.count_emails(&w.coord.email, "partnership_response")
            .await,
        4
    );
    invalid(
        set_member_status(app, Some(&w.ke2.access), "answers", "ke-two", "friends").await,
        &["status"],
    )
    .await;
});

api_test!(who_sees_which_answers, |backend| {
    let w = answers_world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    all_answered(&w).await;

    // Who sees what.
    assert_eq!(
        member_statuses(app, Some(c), "answers").await,
        pairs(&[
            ("ke-lab", "active"),
            ("ng-lab", "active"),
            ("ke-two", "declined")
        ])
    );
    assert_eq!(
        member_statuses(app, Some(&w.root.access), "answers").await,
        pairs(&[
            ("ke-lab", "active"),
            ("ng-lab", "active"),
            ("ke-two", "declined")
        ])
    );
    for token in [
        None,
        Some(w.ke_member.access.as_str()),
        Some(w.ke2.access.as_str()),
    ] {
        assert_eq!(
            member_statuses(app, token, "answers").await,
            pairs(&[("ke-lab", "active"), ("ng-lab", "active")])
        );
    }
    let p = read(app, None, "answers").await;
    assert_eq!(p["countries"], json!(["KE", "NG"]));
    // Answering for an institution that was never invited.
    let res = answer(
        app,
        Some(&w.outsider.access),
        "answers",
        "no-such-lab",
        "accept",
    )
    .await;
    assert!(
        [403, 404].contains(&res.status().as_u16()),
        "{}",
        res.status()
    );
});

api_test!(leaving_and_removal, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    w.active("parting").await;
    bring_in(app, c, &w.ke2.access, "parting", "ke-two").await;

    // Not the editor, not another institution's owner.
    problem(
        end_membership(app, Some(&w.ke_editor.access), "parting", "ke-lab").await,
        403,
    )
    .await;
    problem(
        end_membership(app, Some(&w.ke_member.access), "parting", "ke-lab").await,
        403,
    )
    .await;
    problem(
        end_membership(app, Some(&w.ng.access), "parting", "ke-lab").await,
        403,
    )
    .await;
    problem(end_membership(app, None, "parting", "ke-lab").await, 401).await;
    let coord_ended_before = app
        .count_emails(&w.coord.email, "partnership_membership_ended")
        .await;

    // An owner leaves: the coordinators hear about it.
    let m = body_of(
        end_membership(app, Some(&w.ke.access), "parting", "ke-lab").await,
        200,
    )
    .await;
    assert_eq!(m["institution"], "ke-lab");
    assert_eq!(m["status"], "left");
    assert_eq!(
        app.count_emails(&w.coord.email, "partnership_membership_ended")
            .await,
        coord_ended_before + 1
    );

    // A coordinator removes ng-lab: its owners hear about it.
    assert_eq!(
        app.count_emails(&w.ng.email, "partnership_membership_ended")
            .await,
        0
    );
    let m = body_of(end_membership(app, Some(c), "parting", "ng-lab").await, 200).await;
    assert_eq!(m["status"], "removed");
    assert_eq!(
        app.count_emails(&w.ng.email, "partnership_membership_ended")
            .await,
        1
    );
    assert_eq!(
        app.count_emails(&w.ng_member.email, "partnership_membership_ended")
            .await,
        0
    );

    // ke-two leaves through PATCH.
    let m = body_of(
        set_member_status(app, Some(&w.ke2.access), "parting", "ke-two", "left").await,
        200,
    )
    .await;
    assert_eq!(m["status"], "left");
    let p = read(app, None, "parting").await;
    assert_eq!(p["countries"], json!([]), "no active member left: {p}");
    assert_eq!(member_statuses(app, None, "parting").await, []);
    assert_eq!(
        member_statuses(app, Some(c), "parting").await,
        pairs(&[
            ("ke-lab", "left"),
            ("ng-lab", "removed"),
            ("ke-two", "left")
        ])
    );

    // Who left may be invited back; a coordinator withdraws the invitation.
    body_of(invite_inst(app, Some(c), "parting", "ke-lab").await, 201).await;
    let m = body_of(end_membership(app, Some(c), "parting", "ke-lab").await, 200).await;
    assert_eq!(m["status"], "removed");
    problem(
        answer(app, Some(&w.ke.access), "parting", "ke-lab", "accept").await,
        409,
    )
    .await;
    // Who was removed too; and is removed again through PATCH.
    bring_in(app, c, &w.ng.access, "parting", "ng-lab").await;
    problem(
        set_member_status(app, Some(&w.ng.access), "parting", "ng-lab", "removed").await,
        403,
    )
    .await;
    let m = body_of(
        set_member_status(app, Some(c), "parting", "ng-lab", "removed").await,
        200,
    )
    .await;
    assert_eq!(m["status"], "removed");
    assert_eq!(
        app.count_emails(&w.ng.email, "partnership_membership_ended")
            .await,
        2
    );

    // A coordinator may not make an institution "leave", nor an owner
    // "remove" it.
    bring_in(app, c, &w.ke.access, "parting", "ke-lab").await;
    for (token, status) in [(c, "left"), (w.ke.access.as_str(), "removed")] {
        let res = set_member_status(app, Some(token), "parting", "ke-lab", status).await;
        let got = res.status().as_u16();
        assert!([403, 409, 422].contains(&got), "{status}: {got}");
        problem(res, got).await;
    }
    // Nor can anyone "accept" for an active member.
    problem(
        set_member_status(app, Some(&w.ke.access), "parting", "ke-lab", "active").await,
        409,
    )
    .await;
    assert_eq!(read(app, None, "parting").await["countries"], json!(["KE"]));
    // Not a member at all.
    problem(
        end_membership(app, Some(c), "parting", "no-such-lab").await,
        404,
    )
    .await;
});

// ----- coordinators ---------------------------------------------------------------

api_test!(coordinators_are_added_and_removed, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    let p = "coordinated";
    propose(app, c, p).await;
    let path = coordinators_path(p);
    let add = |token: String, user: String| {
        let path = path.clone();
        async move { post(app, Some(&token), &path, Some(json!({"user_id": user}))).await }
    };

    let page = body_of(get(app, None, &path).await, 200).await;
    assert_eq!(strings(&page["items"], "user_id"), [w.coord.id.as_str()]);
    assert!(page["items"][0]["display_name"].is_string(), "{page}");

    // Not eligible: in no member institution, or in one only invited.
    typed(
        add(c.into(), w.outsider.id.clone()).await,
        422,
        "not-eligible",
    )
    .await;
    body_of(invite_inst(app, Some(c), p, "ke-lab").await, 201).await;
    typed(
        add(c.into(), w.ke_member.id.clone()).await,
        422,
        "not-eligible",
    )
    .await;
    // Eligible once ke-lab is active.
    body_of(
        answer(app, Some(&w.ke.access), p, "ke-lab", "accept").await,
        200,
    )
    .await;
    let added = body_of(add(c.into(), w.ke_member.id.clone()).await, 201).await;
    assert_eq!(added["user_id"], w.ke_member.id.as_str());
    problem(add(c.into(), w.ke_member.id.clone()).await, 409).await;
    // Platform coordinators are eligible anyway.
    let other = coordinator(app, "other.coord@example.org").await;
    body_of(add(c.into(), other.id.clone()).await, 201).await;

    // Only coordinators add coordinators.
    for token in [&w.ke.access, &w.ke_editor.access, &w.outsider.access] {
        problem(add(token.clone(), w.ke_editor.id.clone()).await, 403).await;
    }
    problem(
        post(app, None, &path, Some(json!({"user_id": w.ke_editor.id}))).await,
        401,
    )
    .await;
    let mut want = vec![w.coord.id.clone(), w.ke_member.id.clone(), other.id.clone()];
    want.sort();
    assert_eq!(coordinator_ids(app, c, p).await, want);

    // A new coordinator manages the partnership.
    let res = call(
        app,
        Method::PATCH,
        &pp(p),
        Some(&w.ke_member.access),
        Some(json!({"goals": "Ours."})),
    )
    .await;
    body_of(res, 200).await;
    body_of(
        invite_inst(app, Some(&w.ke_member.access), p, "ng-lab").await,
        201,
    )
    .await;

    // Removing: coordinators only; the last one stays.
    let remove = |token: String, user: String| {
        let path = format!("{path}/{user}");
        async move { call(app, Method::DELETE, &path, Some(&token), None).await }
    };
    problem(remove(w.ke.access.clone(), other.id.clone()).await, 403).await;
    let res = remove(w.ke_member.access.clone(), other.id.clone()).await;
    assert!(
        [200, 204].contains(&res.status().as_u16()),
        "{}",
        res.status()
    );
    let res = remove(c.into(), w.coord.id.clone()).await;
    assert!(
        [200, 204].contains(&res.status().as_u16()),
        "{}",
        res.status()
    );
    assert_eq!(
        coordinator_ids(app, &w.root.access, p).await,
        [w.ke_member.id.as_str()]
    );
    typed(
        remove(w.ke_member.access.clone(), w.ke_member.id.clone()).await,
        409,
        "last-coordinator",
    )
    .await;
    typed(
        remove(w.root.access.clone(), w.ke_member.id.clone()).await,
        409,
        "last-coordinator",
    )
    .await;
    // Not a coordinator: 404.
    problem(
        remove(w.ke_member.access.clone(), w.outsider.id.clone()).await,
        404,
    )
    .await;

    // Who was removed no longer manages it.
    let res = call(
        app,
        Method::PATCH,
        &pp(p),
        Some(c),
        Some(json!({"goals": "Mine again."})),
    )
    .await;
    problem(res, 403).await;
    problem(invite_inst(app, Some(c), p, "ke-two").await, 403).await;
    problem(step(app, Some(&other.access), p, "dissolve").await, 403).await;
    assert_eq!(
        coordinator_ids(app, &w.root.access, p).await,
        [w.ke_member.id.as_str()]
    );
});

// ----- shared resources -----------------------------------------------------------

/// `sharing` (active: `ke-lab`, `ng-lab`); a partnership course and a public
/// dataset of `ke-lab`, and a public dataset of `ke-two`, no member.
struct Sharing {
    w: World,
    course: String,
    open: String,
    elsewhere: String,
}

async fn sharing_world(backend: Backend) -> Sharing {
    let w = world(backend).await;
    let app = &w.app;
    w.active("sharing").await;
    let course = resource(
        app,
        &w.ke_editor.access,
        "courses",
        "ke-lab",
        "Shared course",
        "partnership",
    )
    .await;
    let open = resource(
        app,
        &w.ke_editor.access,
        "datasets",
        "ke-lab",
        "Open data",
        "public",
    )
    .await;
    let elsewhere = resource(
        app,
        &w.ke2.access,
        "datasets",
        "ke-two",
        "Not a member's",
        "public",
    )
    .await;
    Sharing {
        w,
        course,
        open,
        elsewhere,
    }
}

impl Sharing {
    /// Its editor shares the course, its owner the open dataset.
    async fn shared(&self) {
        let (app, w) = (&self.w.app, &self.w);
        for (token, id) in [(&w.ke_editor, &self.course), (&w.ke, &self.open)] {
            body_of(share(app, Some(&token.access), "sharing", id).await, 201).await;
        }
    }
}

api_test!(sharing_resources, |backend| {
    let s = sharing_world(backend).await;
    let Sharing {
        w,
        course,
        open,
        elsewhere,
    } = &s;
    let app = &w.app;
    let c = w.coord.access.as_str();
    // Not an editor of the resource's institution: 403 (the resource is
    // public, so everyone sees it).
    for (who, token) in [
        ("a member of ke-lab", &w.ke_member.access),
        ("ng-lab's owner", &w.ng.access),
        ("the coordinator", &w.coord.access),
        ("an outsider", &w.outsider.access),
    ] {
        let res = share(app, Some(token), "sharing", open).await;
        assert_eq!(res.status(), 403, "{who}");
        problem(res, 403).await;
    }
    problem(share(app, None, "sharing", open).await, 401).await;
    // ke-two is no member.
    problem(
        share(app, Some(&w.ke2.access), "sharing", elsewhere).await,
        403,
    )
    .await;
    // No such resource.
    let res = share(
        app,
        Some(&w.ke_editor.access),
        "sharing",
        "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    )
    .await;
    problem(res, 404).await;
    invalid(
        post(
            app,
            Some(&w.ke_editor.access),
            &resources_path("sharing"),
            Some(json!({})),
        )
        .await,
        &["resource_id"],
    )
    .await;
    assert!(shared_ids(app, Some(c), "sharing").await.is_empty());

    // An editor shares, once.
    body_of(
        share(app, Some(&w.ke_editor.access), "sharing", course).await,
        201,
    )
    .await;
    problem(
        share(app, Some(&w.ke_editor.access), "sharing", course).await,
        409,
    )
    .await;
    problem(share(app, Some(&w.ke.access), "sharing", course).await, 409).await;
    // The owner shares too.
    body_of(share(app, Some(&w.ke.access), "sharing", open).await, 201).await;

    let page = body_of(
        get(
            app,
            Some(&w.root.access),
            &format!("{}?limit=100", resources_path("sharing")),
        )
        .await,
        200,
    )
    .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    let item = items
        .iter()
        .find(|i| i["id"] == course.as_str())
        .expect("the course");
    assert_eq!(item["kind"], "course");
    assert_eq!(item["title"], "Shared course");
    assert_eq!(item["institution"], "ke-lab");
    assert_eq!(item["visibility"], "partnership");
    chrono::DateTime::parse_from_rfc3339(item["shared_at"].as_str().unwrap()).expect("RFC 3339");
    let item = items
        .iter()
        .find(|i| i["id"] == open.as_str())
        .expect("the dataset");
    assert_eq!(item["kind"], "dataset");
    assert_eq!(item["visibility"], "public");
});

api_test!(
    shared_resources_are_seen_and_unshared_by_the_right_people,
    |backend| {
        let s = sharing_world(backend).await;
        let Sharing {
            w, course, open, ..
        } = &s;
        let app = &w.app;
        let c = w.coord.access.as_str();
        s.shared().await;

        // Readers see what they may see.
        let both: BTreeSet<String> = [course.clone(), open.clone()].into_iter().collect();
        let only_open: BTreeSet<String> = [open.clone()].into_iter().collect();
        assert_eq!(
            shared_ids(app, Some(&w.ng_member.access), "sharing").await,
            both
        );
        assert_eq!(
            shared_ids(app, Some(&w.ke_member.access), "sharing").await,
            both
        );
        assert_eq!(
            shared_ids(app, Some(&w.outsider.access), "sharing").await,
            only_open
        );
        assert_eq!(shared_ids(app, None, "sharing").await, only_open);
        // Coordinating is not belonging: a coordinator in no member institution
        // sees the shared partnership resource no more than anyone else.
        assert_eq!(shared_ids(app, Some(c), "sharing").await, only_open);

        // Unsharing: the same editors, or coordinators.
        for token in [&w.ng.access, &w.ke_member.access, &w.outsider.access] {
            problem(unshare(app, Some(token), "sharing", course).await, 403).await;
        }
        problem(unshare(app, None, "sharing", course).await, 401).await;
        assert_eq!(
            unshare(app, Some(&w.ke_editor.access), "sharing", course)
                .await
                .status(),
            204
        );
        problem(
            unshare(app, Some(&w.ke_editor.access), "sharing", course).await,
            404,
        )
        .await;
        assert_eq!(unshare(app, Some(c), "sharing", open).await.status(), 204);
        assert!(shared_ids(app, Some(c), "sharing").await.is_empty());
        assert_eq!(
            unshare(app, Some(&w.root.access), "sharing", course)
                .await
                .status(),
            404
        );

        // Shared again by the editor, removed by an admin.
        body_of(
            share(app, Some(&w.ke_editor.access), "sharing", course).await,
            201,
        )
        .await;
        assert_eq!(
            unshare(app, Some(&w.root.access), "sharing", course)
                .await
                .status(),
            204
        );
    }
);

api_test!(only_an_active_members_editors_share, |backend| {
    let s = sharing_world(backend).await;
    let Sharing { w, course, .. } = &s;
    let app = &w.app;
    let c = w.coord.access.as_str();
    // Only an ACTIVE member's editors share: invited is not enough; a
    // proposed partnership is fine.
    propose(app, c, "pending").await;
    body_of(invite_inst(app, Some(c), "pending", "ke-lab").await, 201).await;
    problem(
        share(app, Some(&w.ke_editor.access), "pending", course).await,
        403,
    )
    .await;
    body_of(
        answer(app, Some(&w.ke.access), "pending", "ke-lab", "accept").await,
        200,
    )
    .await;
    body_of(
        share(app, Some(&w.ke_editor.access), "pending", course).await,
        201,
    )
    .await;
});

/// A `partnership` dataset of `ke-lab`, shared into `concluding` and
/// `dissolving` while they were active (both ended since).
async fn data_in_ended_partnerships(w: &World) -> String {
    let (app, c, ke_editor) = (&w.app, w.coord.access.as_str(), w.ke_editor.access.as_str());
    let data = resource(
        app,
        ke_editor,
        "datasets",
        "ke-lab",
        "Partner data",
        "partnership",
    )
    .await;
    for (slug, end) in [("concluding", "conclude"), ("dissolving", "dissolve")] {
        w.active(slug).await;
        body_of(share(app, Some(ke_editor), slug, &data).await, 201).await;
        body_of(step(app, Some(c), slug, end).await, 200).await;
    }
    data
}

api_test!(who_sees_a_partnership_resource_when, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    let ke_editor = w.ke_editor.access.as_str();
    let ngm = Some(w.ng_member.access.as_str());
    let ngo = Some(w.ng.access.as_str());

    // ke-lab and ng-lab are active members of a proposed partnership.
    propose(app, c, "vis").await;
    bring_in(app, c, &w.ke.access, "vis", "ke-lab").await;
    bring_in(app, c, &w.ng.access, "vis", "ng-lab").await;
    let course = resource(
        app,
        ke_editor,
        "courses",
        "ke-lab",
        "Partner course",
        "partnership",
    )
    .await;
    body_of(share(app, Some(ke_editor), "vis", &course).await, 201).await;

    // Proposed: its own institution only.
    assert!(sees(app, Some(&w.ke_member.access), "courses", &course).await);
    assert!(
        !sees(app, ngm, "courses", &course).await,
        "not before activation"
    );
    assert!(
        !sees(app, ngo, "courses", &course).await,
        "not before activation"
    );

    // Active: ng-lab's people too; nobody else.
    body_of(step(app, Some(c), "vis", "activate").await, 200).await;
    assert!(
        sees(app, ngm, "courses", &course).await,
        "an active partner's member"
    );
    assert!(
        sees(app, ngo, "courses", &course).await,
        "an active partner's owner"
    );
    assert!(sees(app, Some(&w.ke_member.access), "courses", &course).await);
    assert!(
        !sees(app, Some(&w.ke2.access), "courses", &course).await,
        "not a member"
    );
    assert!(!sees(app, Some(&w.outsider.access), "courses", &course).await);
    assert!(
        !sees(app, Some(c), "courses", &course).await,
        "coordinating is not belonging"
    );
    assert!(!sees(app, None, "courses", &course).await);
    assert!(shared_ids(app, ngm, "vis").await.contains(&course));
    assert!(!shared_ids(app, None, "vis").await.contains(&course));
    // An invited institution's people do not.
    body_of(invite_inst(app, Some(c), "vis", "ke-two").await, 201).await;
    assert!(
        !sees(app, Some(&w.ke2.access), "courses", &course).await,
        "only invited"
    );

    // ng-lab leaves: gone; back in: visible again.
    body_of(end_membership(app, ngo, "vis", "ng-lab").await, 200).await;
    assert!(!sees(app, ngm, "courses", &course).await, "after leaving");
    bring_in(app, c, &w.ng.access, "vis", "ng-lab").await;
    assert!(sees(app, ngm, "courses", &course).await, "back in");
    // Removed by a coordinator: gone.
    body_of(end_membership(app, Some(c), "vis", "ng-lab").await, 200).await;
    assert!(!sees(app, ngm, "courses", &course).await, "after removal");
    bring_in(app, c, &w.ng.access, "vis", "ng-lab").await;
    assert!(sees(app, ngm, "courses", &course).await, "back in again");

    // The owning institution leaves: gone for the partners, not for its own.
    body_of(
        end_membership(app, Some(&w.ke.access), "vis", "ke-lab").await,
        200,
    )
    .await;
    assert!(
        !sees(app, ngm, "courses", &course).await,
        "its institution left"
    );
    assert!(sees(app, Some(&w.ke_member.access), "courses", &course).await);
});

api_test!(
    a_partnership_resource_is_hidden_once_the_partnership_ends,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let c = w.coord.access.as_str();
        let ke_editor = w.ke_editor.access.as_str();
        let ngm = Some(w.ng_member.access.as_str());

        // Conclusion.
        w.active("concluding").await;
        let data = resource(
            app,
            ke_editor,
            "datasets",
            "ke-lab",
            "Partner data",
            "partnership",
        )
        .await;
        assert!(!sees(app, ngm, "datasets", &data).await, "not yet shared");
        body_of(share(app, Some(ke_editor), "concluding", &data).await, 201).await;
        assert!(
            sees(app, ngm, "datasets", &data).await,
            "shared into an active partnership"
        );
        body_of(step(app, Some(c), "concluding", "conclude").await, 200).await;
        assert!(!sees(app, ngm, "datasets", &data).await, "after conclusion");
        assert!(sees(app, Some(&w.ke_member.access), "datasets", &data).await);

        // Dissolution.
        w.active("dissolving").await;
        body_of(share(app, Some(ke_editor), "dissolving", &data).await, 201).await;
        assert!(sees(app, ngm, "datasets", &data).await);
        body_of(step(app, Some(c), "dissolving", "dissolve").await, 200).await;
        assert!(
            !sees(app, ngm, "datasets", &data).await,
            "after dissolution"
        );
    }
);

api_test!(
    a_partnership_resource_is_hidden_from_partners_its_owner_left_or_unshared,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let c = w.coord.access.as_str();
        let ke_editor = w.ke_editor.access.as_str();
        let ngm = Some(w.ng_member.access.as_str());
        let data = data_in_ended_partnerships(&w).await;

        // The owning institution removed by a coordinator: gone.
        w.active("owner-removed").await;
        body_of(
            share(app, Some(ke_editor), "owner-removed", &data).await,
            201,
        )
        .await;
        assert!(sees(app, ngm, "datasets", &data).await);
        body_of(
            end_membership(app, Some(c), "owner-removed", "ke-lab").await,
            200,
        )
        .await;
        assert!(
            !sees(app, ngm, "datasets", &data).await,
            "its institution was removed"
        );

        // Unshared: gone, although ke-lab and ng-lab are active together in an
        // active partnership (and the dataset is still shared into ended ones).
        w.active("unsharing").await;
        body_of(share(app, Some(ke_editor), "unsharing", &data).await, 201).await;
        assert!(sees(app, ngm, "datasets", &data).await);
        assert_eq!(
            unshare(app, Some(c), "unsharing", &data).await.status(),
            204
        );
        assert!(!sees(app, ngm, "datasets", &data).await, "after unsharing");
        // Public and institution resources are unaffected by sharing.
        // Sharing an `institution` resource (if allowed at all) does not widen it.
        let inst_only = resource(
            app,
            ke_editor,
            "datasets",
            "ke-lab",
            "Internal data",
            "institution",
        )
        .await;
        let res = share(app, Some(ke_editor), "unsharing", &inst_only).await;
        assert!(
            res.status().as_u16() == 201 || res.status().is_client_error(),
            "{}",
            res.status()
        );
        assert!(
            !sees(app, ngm, "datasets", &inst_only).await,
            "institution visibility stays"
        );
    }
);

// ----- access across partnerships ---------------------------------------------------

/// Partnerships of two coordinators: `part-a` (A's, empty), `part-b` (B's,
/// public: `ke-lab` invited, `ng-lab` active, a dataset shared) and
/// `part-b-private`; how B's two read before anyone tries anything.
struct Across {
    w: World,
    coord_b: Account,
    shared: String,
    before: Value,
    private_before: Value,
}

async fn across(backend: Backend) -> Across {
    let w = world(backend).await;
    let app = &w.app;
    let a = w.coord.access.as_str();
    let coord_b = coordinator(app, "coord.b@example.org").await;
    let b = coord_b.access.as_str();
    propose(app, a, "part-a").await;
    propose(app, b, "part-b").await;
    propose_with(
        app,
        b,
        with(&new_partnership("part-b-private"), json!({"public": false})),
    )
    .await;
    body_of(invite_inst(app, Some(b), "part-b", "ke-lab").await, 201).await;
    bring_in(app, b, &w.ng.access, "part-b", "ng-lab").await;
    let shared = resource(
        app,
        &w.ng.access,
        "datasets",
        "ng-lab",
        "B's data",
        "public",
    )
    .await;
    body_of(share(app, Some(&w.ng.access), "part-b", &shared).await, 201).await;
    let before = read(app, Some(&w.root.access), "part-b").await;
    let private_before = read(app, Some(&w.root.access), "part-b-private").await;
    Across {
        w,
        coord_b,
        shared,
        before,
        private_before,
    }
}

impl Across {
    /// Nothing of B's changed, and A still has no member.
    async fn nothing_changed(&self) {
        let Across {
            w,
            coord_b,
            shared,
            before,
            private_before,
        } = self;
        let app = &w.app;
        let (a, b) = (w.coord.access.as_str(), coord_b.access.as_str());
        assert_eq!(read(app, Some(&w.root.access), "part-b").await, *before);
        assert_eq!(
            read(app, Some(&w.root.access), "part-b-private").await,
            *private_before
        );
        assert_eq!(
            member_statuses(app, Some(b), "part-b").await,
            pairs(&[("ke-lab", "invited"), ("ng-lab", "active")])
        );
        assert_eq!(
            coordinator_ids(app, b, "part-b").await,
            [coord_b.id.as_str()]
        );
        assert_eq!(
            shared_ids(app, Some(b), "part-b").await,
            [shared.clone()].into_iter().collect()
        );
        assert!(read(app, Some(a), "part-a").await["members"] == json!([]));
    }
}

api_test!(no_access_across_partnerships, |backend| {
    let x = across(backend).await;
    let Across {
        w, coord_b, shared, ..
    } = &x;
    let app = &w.app;
    let a = w.coord.access.as_str();
    // A's coordinator sees B (public) but manages nothing of it: 403.
    let patch = call(
        app,
        Method::PATCH,
        &pp("part-b"),
        Some(a),
        Some(json!({"title": "Mine"})),
    )
    .await;
    problem(patch, 403).await;
    for what in ["activate", "dissolve"] {
        problem(step(app, Some(a), "part-b", what).await, 403).await;
    }
    problem(invite_inst(app, Some(a), "part-b", "ke-two").await, 403).await;
    problem(end_membership(app, Some(a), "part-b", "ng-lab").await, 403).await;
    problem(
        set_member_status(app, Some(a), "part-b", "ng-lab", "removed").await,
        403,
    )
    .await;
    let res = post(
        app,
        Some(a),
        &coordinators_path("part-b"),
        Some(json!({"user_id": w.coord.id})),
    )
    .await;
    problem(res, 403).await;
    let res = call(
        app,
        Method::DELETE,
        &format!("{}/{}", coordinators_path("part-b"), coord_b.id),
        Some(a),
        None,
    )
    .await;
    problem(res, 403).await;
    problem(unshare(app, Some(a), "part-b", shared).await, 403).await;
    // …and B's private partnership is not there at all: 404.
    problem(get(app, Some(a), &pp("part-b-private")).await, 404).await;
    let patch = call(
        app,
        Method::PATCH,
        &pp("part-b-private"),
        Some(a),
        Some(json!({"title": "Mine"})),
    )
    .await;
    problem(patch, 404).await;
    problem(step(app, Some(a), "part-b-private", "dissolve").await, 404).await;
    problem(
        invite_inst(app, Some(a), "part-b-private", "ke-two").await,
        404,
    )
    .await;
    problem(
        get(app, Some(a), &members_path("part-b-private")).await,
        404,
    )
    .await;
    problem(
        get(app, Some(a), &coordinators_path("part-b-private")).await,
        404,
    )
    .await;
    problem(
        get(app, Some(a), &resources_path("part-b-private")).await,
        404,
    )
    .await;
    // Through A's path, B's member is not A's.
    problem(end_membership(app, Some(a), "part-a", "ng-lab").await, 404).await;
    problem(unshare(app, Some(a), "part-a", shared).await, 404).await;

    // Nothing changed.
    x.nothing_changed().await;
});

api_test!(an_owner_answers_for_its_own_institution_only, |backend| {
    let x = across(backend).await;
    let Across { w, .. } = &x;
    let app = &w.app;
    // An owner of X answers for X only: to others, X's pending invitation
    // is not listed, so it is a 404.
    for what in ["accept", "decline"] {
        problem(
            answer(app, Some(&w.ng.access), "part-b", "ke-lab", what).await,
            404,
        )
        .await;
        problem(
            answer(app, Some(&w.ke2.access), "part-b", "ke-lab", what).await,
            404,
        )
        .await;
    }
    problem(
        set_member_status(app, Some(&w.ng.access), "part-b", "ke-lab", "active").await,
        404,
    )
    .await;
    problem(
        end_membership(app, Some(&w.ke.access), "part-b", "ng-lab").await,
        403,
    )
    .await;
    // ke-lab's owner cannot accept in A, where ke-lab was never invited.
    let res = answer(app, Some(&w.ke.access), "part-a", "ke-lab", "accept").await;
    assert!(
        [404, 409].contains(&res.status().as_u16()),
        "{}",
        res.status()
    );

    // Nothing changed.
    x.nothing_changed().await;
});

api_test!(private_partnerships_are_for_their_people, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    propose_with(
        app,
        c,
        with(&new_partnership("closed"), json!({"public": false})),
    )
    .await;
    let path = pp("closed");
    let listed = move |token: Option<String>| async move {
        let page = body_of(
            get(app, token.as_deref(), &format!("{BASE}?limit=100")).await,
            200,
        )
        .await;
        strings(&page["items"], "slug").contains(&"closed".to_string())
    };

    for token in [
        None,
        Some(&w.outsider.access),
        Some(&w.ke_member.access),
        Some(&w.ke.access),
    ] {
        problem(get(app, token.map(String::as_str), &path).await, 404).await;
        problem(
            get(app, token.map(String::as_str), &members_path("closed")).await,
            404,
        )
        .await;
        assert!(!listed(token.cloned()).await);
    }
    read(app, Some(c), "closed").await;
    read(app, Some(&w.root.access), "closed").await;
    assert!(listed(Some(c.to_string())).await);
    assert!(listed(Some(w.root.access.clone())).await);

    // An invited owner can answer; then the institution's people see it.
    body_of(invite_inst(app, Some(c), "closed", "ke-lab").await, 201).await;
    body_of(
        answer(app, Some(&w.ke.access), "closed", "ke-lab", "accept").await,
        200,
    )
    .await;
    for token in [&w.ke_member.access, &w.ke.access, &w.ke_editor.access] {
        read(app, Some(token), "closed").await;
        assert!(listed(Some(token.clone())).await);
        assert_eq!(
            member_statuses(app, Some(token), "closed").await,
            pairs(&[("ke-lab", "active")])
        );
        // …but may not change it.
        let res = call(
            app,
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"title": "Ours"})),
        )
        .await;
        problem(res, 403).await;
    }
    for token in [None, Some(&w.outsider.access), Some(&w.ng.access)] {
        problem(get(app, token.map(String::as_str), &path).await, 404).await;
        assert!(!listed(token.cloned()).await);
    }

    // After leaving: hidden again.
    body_of(
        end_membership(app, Some(&w.ke.access), "closed", "ke-lab").await,
        200,
    )
    .await;
    problem(get(app, Some(&w.ke_member.access), &path).await, 404).await;
    assert!(!listed(Some(w.ke_member.access.clone())).await);
});

// ----- the lists ------------------------------------------------------------------

api_test!(listing_filters_and_pages, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    // alpha: proposed, ke-lab invited; beta: active (ke-lab, ng-lab);
    // gamma: active (ke-two, ng-lab); delta: dissolved; epsilon: private.
    propose(app, c, "alpha").await;
    body_of(invite_inst(app, Some(c), "alpha", "ke-lab").await, 201).await;
    w.active("beta").await;
    propose(app, c, "gamma").await;
    bring_in(app, c, &w.ke2.access, "gamma", "ke-two").await;
    bring_in(app, c, &w.ng.access, "gamma", "ng-lab").await;
    body_of(step(app, Some(c), "gamma", "activate").await, 200).await;
    propose(app, c, "delta").await;
    body_of(step(app, Some(c), "delta", "dissolve").await, 200).await;
    propose_with(
        app,
        c,
        with(&new_partnership("epsilon"), json!({"public": false})),
    )
    .await;

    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<String>>();
    let want = |v: &[&str]| {
        v.iter()
            .map(|s| (*s).to_string())
            .collect::<BTreeSet<String>>()
    };
    let all = walk(app, None, BASE, "slug").await;
    assert_eq!(all.len(), 4, "no duplicates: {all:?}");
    assert_eq!(set(all), want(&["alpha", "beta", "gamma", "delta"]));
    let all = walk(app, Some(&w.root.access), BASE, "slug").await;
    assert_eq!(
        set(all),
        want(&["alpha", "beta", "gamma", "delta", "epsilon"])
    );
    let all = walk(app, Some(c), BASE, "slug").await;
    assert_eq!(
        set(all),
        want(&["alpha", "beta", "gamma", "delta", "epsilon"])
    );

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("status=active", vec!["beta", "gamma"]),
        ("status=proposed", vec!["alpha"]),
        ("status=dissolved", vec!["delta"]),
        ("status=concluded", vec![]),
        ("country=NG", vec!["beta", "gamma"]),
        ("country=KE", vec!["beta", "gamma"]),
        ("country=GH", vec![]),
        ("institution=ke-lab", vec!["beta"]),
        ("institution=ke-two", vec!["gamma"]),
        ("institution=ng-lab", vec!["beta", "gamma"]),
        ("institution=no-such-lab", vec![]),
        ("status=active&institution=ke-lab", vec!["beta"]),
        ("status=proposed&country=KE", vec![]),
    ];
    for (query, slugs) in cases {
        let got = walk(app, None, &format!("{BASE}?{query}"), "slug").await;
        assert_eq!(set(got), want(&slugs), "{query}");
    }
    // A bad filter is a bad request.
    invalid(
        get(app, None, &format!("{BASE}?status=sleeping")).await,
        &["status"],
    )
    .await;
    invalid(
        get(app, None, &format!("{BASE}?limit=101")).await,
        &["limit"],
    )
    .await;

    // The members list pages too; its items carry the institution.
    body_of(invite_inst(app, Some(c), "beta", "ke-two").await, 201).await;
    let got = walk(app, Some(c), &members_path("beta"), "institution").await;
    assert_eq!(set(got), want(&["ke-lab", "ng-lab", "ke-two"]));
    let got = walk(app, None, &members_path("beta"), "institution").await;
    assert_eq!(set(got), want(&["ke-lab", "ng-lab"]));
    let page = body_of(
        get(app, None, &format!("{}?limit=100", members_path("beta"))).await,
        200,
    )
    .await;
    let ke = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["institution"] == "ke-lab")
        .unwrap()
        .clone();
    assert_eq!(
        member_fields(&ke),
        json!({"institution": "ke-lab", "name": "Institution ke-lab", "country": "KE", "status": "active"})
    );
});

// ----- the audit trail --------------------------------------------------------------

/// Counts the `partnership.` audit events while a test changes things:
/// each change must add one at least, each refusal none.
struct Audited<'a> {
    app: &'a TestApp,
    root: &'a str,
    seen: usize,
}

impl<'a> Audited<'a> {
    async fn new(app: &'a TestApp, root: &'a str) -> Self {
        let seen = partnership_events(app, root).await.len();
        Self { app, root, seen }
    }

    async fn count(&self) -> usize {
        partnership_events(self.app, self.root).await.len()
    }

    /// Counts again, after steps that are not under test.
    async fn recount(&mut self) {
        self.seen = self.count().await;
    }

    /// `res` answered `status` and added at least one `partnership.` event.
    async fn changes(&mut self, label: &str, res: reqwest::Response, status: u16) {
        let got = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(got, status, "{}: {text}", label);
        let now = self.count().await;
        assert!(now > self.seen, "{}: no `partnership.` audit event", label);
        self.seen = now;
    }

    /// `res` answered `status` and added no event.
    async fn refused(&mut self, label: &str, res: reqwest::Response, status: u16) {
        assert_eq!(res.status().as_u16(), status, "{}", label);
        assert_eq!(
            self.count().await,
            self.seen,
            "{}: a refusal changes nothing",
            label
        );
    }
}

/// `audited`, proposed by `coord`, its goals set, with `ke-lab` and `ng-lab`
/// invited and accepting, and `ke-two` invited and declining.
async fn answered_audited(w: &World) {
    let (app, c) = (&w.app, w.coord.access.as_str());
    propose(app, c, "audited").await;
    for inst in ["ke-lab", "ng-lab", "ke-two"] {
        body_of(invite_inst(app, Some(c), "audited", inst).await, 201).await;
    }
    for (owner, inst, what) in [
        (&w.ke, "ke-lab", "accept"),
        (&w.ng, "ng-lab", "accept"),
        (&w.ke2, "ke-two", "decline"),
    ] {
        body_of(
            answer(app, Some(&owner.access), "audited", inst, what).await,
            200,
        )
        .await;
    }
}

api_test!(every_change_is_audited, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let root = w.root.access.as_str();
    let c = w.coord.access.as_str();
    let mut a = Audited::new(app, root).await;
    assert_eq!(a.seen, 0);
    // Each change adds at least one `partnership.` event.
    a.changes(
        "create",
        post(app, Some(c), BASE, Some(new_partnership("audited"))).await,
        201,
    )
    .await;
    let events = partnership_events(app, root).await;
    assert_eq!(
        events[0]["actor_id"],
        w.coord.id.as_str(),
        "{:?}",
        events[0]
    );
    a.changes(
        "update",
        call(
            app,
            Method::PATCH,
            &pp("audited"),
            Some(c),
            Some(json!({"goals": "G"})),
        )
        .await,
        200,
    )
    .await;
    a.refused(
        "an outsider's update",
        call(
            app,
            Method::PATCH,
            &pp("audited"),
            Some(&w.outsider.access),
            Some(json!({"goals": "X"})),
        )
        .await,
        403,
    )
    .await;
    a.changes(
        "invite ke-lab",
        invite_inst(app, Some(c), "audited", "ke-lab").await,
        201,
    )
    .await;
    a.changes(
        "invite ng-lab",
        invite_inst(app, Some(c), "audited", "ng-lab").await,
        201,
    )
    .await;
    a.changes(
        "invite ke-two",
        invite_inst(app, Some(c), "audited", "ke-two").await,
        201,
    )
    .await;
    a.refused(
        "an editor's accept",
        answer(
            app,
            Some(&w.ke_editor.access),
            "audited",
            "ke-lab",
            "accept",
        )
        .await,
        403,
    )
    .await;
    a.changes(
        "accept",
        answer(app, Some(&w.ke.access), "audited", "ke-lab", "accept").await,
        200,
    )
    .await;
    a.changes(
        "accept",
        answer(app, Some(&w.ng.access), "audited", "ng-lab", "accept").await,
        200,
    )
    .await;
    a.changes(
        "decline",
        answer(app, Some(&w.ke2.access), "audited", "ke-two", "decline").await,
        200,
    )
    .await;
});

api_test!(coordinators_sharing_and_activation_are_audited, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let root = w.root.access.as_str();
    let c = w.coord.access.as_str();
    let course = resource(
        app,
        &w.ke_editor.access,
        "courses",
        "ke-lab",
        "Audited",
        "partnership",
    )
    .await;
    answered_audited(&w).await;
    let mut a = Audited::new(app, root).await;
    a.changes(
        "add a coordinator",
        post(
            app,
            Some(c),
            &coordinators_path("audited"),
            Some(json!({"user_id": w.ke_member.id})),
        )
        .await,
        201,
    )
    .await;
    a.changes(
        "remove a coordinator",
        call(
            app,
            Method::DELETE,
            &format!("{}/{}", coordinators_path("audited"), w.ke_member.id),
            Some(c),
            None,
        )
        .await,
        204,
    )
    .await;
    a.changes(
        "share",
        share(app, Some(&w.ke_editor.access), "audited", &course).await,
        201,
    )
    .await;
    a.changes(
        "unshare",
        unshare(app, Some(c), "audited", &course).await,
        204,
    )
    .await;
    a.changes(
        "activate",
        step(app, Some(c), "audited", "activate").await,
        200,
    )
    .await;
    a.refused(
        "activate again",
        step(app, Some(c), "audited", "activate").await,
        409,
    )
    .await;
});

api_test!(membership_changes_and_endings_are_audited, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let root = w.root.access.as_str();
    let c = w.coord.access.as_str();
    answered_audited(&w).await;
    body_of(step(app, Some(c), "audited", "activate").await, 200).await;
    let mut a = Audited::new(app, root).await;
    a.changes(
        "re-invite ke-two",
        invite_inst(app, Some(c), "audited", "ke-two").await,
        201,
    )
    .await;
    a.changes(
        "withdraw",
        end_membership(app, Some(c), "audited", "ke-two").await,
        200,
    )
    .await;
    bring_in(app, c, &w.ke2.access, "audited", "ke-two").await;
    a.recount().await;
    a.changes(
        "leave",
        end_membership(app, Some(&w.ke2.access), "audited", "ke-two").await,
        200,
    )
    .await;
    bring_in(app, c, &w.ke2.access, "audited", "ke-two").await;
    a.recount().await;
    a.changes(
        "remove",
        end_membership(app, Some(c), "audited", "ke-two").await,
        200,
    )
    .await;
    a.changes(
        "conclude",
        step(app, Some(c), "audited", "conclude").await,
        200,
    )
    .await;
    propose(app, c, "audited-2").await;
    a.recount().await;
    a.changes(
        "admin dissolves another",
        step(app, Some(root), "audited-2", "dissolve").await,
        200,
    )
    .await;
    let events = partnership_events(app, root).await;
    let last = events.last().unwrap();
    assert_eq!(last["actor_id"], w.root.id.as_str(), "{last}");
    let actions: BTreeSet<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.len() >= 6, "distinct actions: {actions:?}");
    for e in &events {
        assert!(e["subject_id"].is_string(), "{e}");
    }
    // Audit events are admins' business.
    let res = app.get_auth("/api/v1/audit-events", c).await;
    assert_eq!(res.status(), 403);
});

// ----- emails over SMTP --------------------------------------------------------------

/// The accepted emails to `to` whose decoded text contains `text`, once
/// there are at least `n` of them.
async fn arrived(
    sink: &SmtpSink,
    to: &str,
    text: &str,
    n: usize,
) -> Vec<crate::helpers::smtp::Received> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got: Vec<crate::helpers::smtp::Received> = sink
            .accepted()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to) && m.decoded().contains(text))
            .collect();
        if got.len() >= n {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n} emails to {to} mention `{text}`",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn signup(app: &TestApp, sink: &SmtpSink, email: &str) -> Account {
    assert_eq!(app.register(email, PASSWORD).await.status(), 202);
    let mail = arrived(sink, email, "?token=", 1).await.remove(0);
    let text = mail.decoded();
    let start = text.find("?token=").expect("a link") + "?token=".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let res = app
        .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
        .await;
    assert_eq!(res.status(), 200);
    app.signin(email).await
}

/// The application sending its email over SMTP to a sink; `ke-lab` (KE)
/// and `ng-lab` (NG) with their owners, a coordinator and an admin, all
/// signed up by email; `lake-victoria`, proposed by the coordinator with a
/// title its emails name.
struct Lake {
    sink: SmtpSink,
    app: TestApp,
    coord: Account,
    ke: Account,
    ng: Account,
    title: &'static str,
}

async fn lake_victoria(backend: Backend) -> Lake {
    use kujenga::config::{MailTransport, SmtpSecurity};
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.rate_limit.register_per_hour = 10_000;
        s.rate_limit.login_per_minute = 10_000;
        s.mail.transport = MailTransport::Smtp;
        s.mail.smtp.host = "127.0.0.1".into();
        s.mail.smtp.port = port;
        s.mail.smtp.security = SmtpSecurity::None;
        s.mail.smtp.timeout_secs = 5;
        s.mail.poll_interval_ms = 50;
        s.mail.retry_base_ms = 100;
        s.mail.retry_max_ms = 1_000;
    })
    .await
    .expect("app");

    let root = signup(&app, &sink, "root@example.org").await;
    app.make_admin(&root.id).await;
    let root = app.signin("root@example.org").await;
    let coord = signup(&app, &sink, "coord@example.org").await;
    set_platform_role(&app, &coord.id, "coordinator").await;
    let coord = app.signin("coord@example.org").await;
    let ke = signup(&app, &sink, "ke.owner@example.org").await;
    let ng = signup(&app, &sink, "ng.owner@example.org").await;
    create(&app, &ke.access, institution("ke-lab", "KE")).await;
    verify(&app, &root.access, "ke-lab").await;
    create(&app, &ng.access, institution("ng-lab", "NG")).await;
    verify(&app, &root.access, "ng-lab").await;

    let title = "Lake Victoria Vision Lab";
    propose_with(
        &app,
        &coord.access,
        with(&new_partnership("lake-victoria"), json!({"title": title})),
    )
    .await;
    Lake {
        sink,
        app,
        coord,
        ke,
        ng,
        title,
    }
}

api_test!(partnership_emails_arrive_over_smtp, |backend| {
    let Lake {
        sink,
        app,
        coord,
        ke,
        title,
        ..
    } = lake_victoria(backend).await;
    body_of(
        invite_inst(&app, Some(&coord.access), "lake-victoria", "ke-lab").await,
        201,
    )
    .await;
    let mail = arrived(&sink, &ke.email, title, 1).await.remove(0);
    assert!(mail.header("Subject").is_some_and(|s| !s.is_empty()));
    assert!(mail.header("Message-ID").is_some());
    let body = mail.decoded();
    assert!(
        body.contains("text/plain") && body.contains("text/html"),
        "{body}"
    );
    assert_eq!(
        app.count_emails(&ke.email, "partnership_invitation").await,
        1
    );

    // The answer reaches the coordinator.
    body_of(
        answer(&app, Some(&ke.access), "lake-victoria", "ke-lab", "accept").await,
        200,
    )
    .await;
    arrived(&sink, &coord.email, title, 1).await;
    assert_eq!(
        app.count_emails(&coord.email, "partnership_response").await,
        1
    );
});

api_test!(activation_and_removal_emails_reach_the_owners, |backend| {
    let Lake {
        sink,
        app,
        coord,
        ke,
        ng,
        title,
    } = lake_victoria(backend).await;
    bring_in(&app, &coord.access, &ke.access, "lake-victoria", "ke-lab").await;

    // Activation reaches every active member's owners.
    bring_in(&app, &coord.access, &ng.access, "lake-victoria", "ng-lab").await;
    body_of(
        step(&app, Some(&coord.access), "lake-victoria", "activate").await,
        200,
    )
    .await;
    arrived(&sink, &ke.email, title, 2).await;
    arrived(&sink, &ng.email, title, 2).await;
    assert_eq!(
        app.count_emails(&ke.email, "partnership_status_changed")
            .await,
        1
    );
    assert_eq!(
        app.count_emails(&ng.email, "partnership_status_changed")
            .await,
        1
    );

    // Removal reaches the removed institution's owners.
    body_of(
        end_membership(&app, Some(&coord.access), "lake-victoria", "ng-lab").await,
        200,
    )
    .await;
    arrived(&sink, &ng.email, title, 3).await;
    assert_eq!(
        app.count_emails(&ng.email, "partnership_membership_ended")
            .await,
        1
    );
    // Each email was delivered once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to_ng: Vec<String> = sink
        .accepted()
        .iter()
        .filter(|m| m.to.contains(&ng.email) && m.decoded().contains(title))
        .filter_map(|m| m.header("Message-ID"))
        .collect();
    let unique: BTreeSet<&String> = to_ng.iter().collect();
    assert_eq!(unique.len(), to_ng.len(), "{to_ng:?}");
});

api_test!(
    new_shares_reach_member_owners_in_at_most_one_digest_a_day,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        w.active("digests").await;
        let digests = |who: &Account| {
            let email = who.email.clone();
            async move { app.count_emails(&email, "partnership_shared_digest").await }
        };
        let first = resource(
            app,
            &w.ke_editor.access,
            "datasets",
            "ke-lab",
            "Maize yields",
            "partnership",
        )
        .await;
        let second = resource(
            app,
            &w.ke_editor.access,
            "datasets",
            "ke-lab",
            "Cassava leaves",
            "partnership",
        )
        .await;
        let third = resource(
            app,
            &w.ke_editor.access,
            "datasets",
            "ke-lab",
            "Rainfall",
            "partnership",
        )
        .await;

        // The first share after a quiet day goes out at once, to the owners
        // of every active member institution.
        body_of(
            share(app, Some(&w.ke_editor.access), "digests", &first).await,
            201,
        )
        .await;
        assert_eq!(digests(&w.ke).await, 1);
        assert_eq!(digests(&w.ng).await, 1);
        assert_eq!(
            digests(&w.ng_member).await,
            0,
            "members who are not owners get none"
        );
        assert!(
            app.email_text(&w.ng.email, "partnership_shared_digest")
                .await
                .contains("Maize yields")
        );

        // A second share the same day waits: still one email each.
        body_of(
            share(app, Some(&w.ke_editor.access), "digests", &second).await,
            201,
        )
        .await;
        assert_eq!(digests(&w.ng).await, 1);

        // A day later the next share sends one digest with both waiting ones.
        {
            use diesel::prelude::*;
            use kujenga::db::schema::partnerships as ps;
            let yesterday = kujenga::db::now() - chrono::Duration::hours(25);
            app.db
                .run(move |conn| {
                    diesel::update(ps::table.filter(ps::slug.eq("digests")))
                        .set(ps::last_digest_at.eq(Some(yesterday)))
                        .execute(conn)
                })
                .await
                .unwrap();
        }
        body_of(
            share(app, Some(&w.ke_editor.access), "digests", &third).await,
            201,
        )
        .await;
        assert_eq!(digests(&w.ng).await, 2);
        let text = app
            .email_text(&w.ng.email, "partnership_shared_digest")
            .await;
        assert!(
            text.contains("Cassava leaves") && text.contains("Rainfall"),
            "{text}"
        );
        assert!(!text.contains("Maize yields"), "announced once: {text}");
    }
);

api_test!(concurrent_changes_keep_the_partnership_rules, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    w.active("racing").await;
    // Two coordinators removing each other at once: one stays.
    let second = coordinator(app, "coord2@example.org").await;
    let res = post(
        app,
        Some(&w.coord.access),
        &coordinators_path("racing"),
        Some(json!({"user_id": second.id})),
    )
    .await;
    body_of(res, 201).await;
    let one = format!("{}/{}", coordinators_path("racing"), second.id);
    let two = format!("{}/{}", coordinators_path("racing"), w.coord.id);
    let (a, b) = tokio::join!(
        call(app, Method::DELETE, &one, Some(&w.coord.access), None),
        call(app, Method::DELETE, &two, Some(&second.access), None)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert!(
        statuses == [204, 403] || statuses == [204, 409],
        "one removal wins, the other finds itself removed or last: {statuses:?}"
    );
    let p = read(app, Some(&w.root.access), "racing").await;
    assert_eq!(p["coordinators"].as_array().unwrap().len(), 1, "{p}");
    // Concluding and dissolving at once: exactly one happens.
    let c = p["coordinators"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = if c == w.coord.id {
        &w.coord.access
    } else {
        &second.access
    };
    let (a, b) = tokio::join!(
        step(app, Some(token), "racing", "conclude"),
        step(app, Some(token), "racing", "dissolve")
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    // Ended: shares can no longer be withdrawn either, and dates stay sane.
    let res = call(
        app,
        Method::DELETE,
        &format!(
            "{}/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            resources_path("racing")
        ),
        Some(token),
        None,
    )
    .await;
    typed(res, 409, "partnership-ended").await;
    let res = post(
            app,
            Some(&w.coord.access),
            "/api/v1/partnerships",
            Some(json!({"slug": "far-future", "title": "t", "starts_on": "-5000-01-01", "ends_on": "2030-01-01"})),
        )
        .await;
    invalid(res, &["starts_on"]).await;
});

api_test!(
    a_digest_never_announces_what_members_may_not_read,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        w.active("quiet").await;
        let hidden = resource(
            app,
            &w.ke_editor.access,
            "datasets",
            "ke-lab",
            "Secret survey",
            "institution",
        )
        .await;
        body_of(
            share(app, Some(&w.ke_editor.access), "quiet", &hidden).await,
            201,
        )
        .await;
        assert_eq!(
            app.count_emails(&w.ng.email, "partnership_shared_digest")
                .await,
            0
        );
        let open = resource(
            app,
            &w.ke_editor.access,
            "datasets",
            "ke-lab",
            "Open rainfall",
            "partnership",
        )
        .await;
        body_of(
            share(app, Some(&w.ke_editor.access), "quiet", &open).await,
            201,
        )
        .await;
        let text = app
            .email_text(&w.ng.email, "partnership_shared_digest")
            .await;
        assert!(text.contains("Open rainfall"), "{text}");
        assert!(!text.contains("Secret survey"), "{text}");
    }
);

api_test!(unlisted_members_do_not_exist_for_outsiders, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let c = w.coord.access.as_str();
    propose(app, c, "hidden-invites").await;
    body_of(
        invite_inst(app, Some(c), "hidden-invites", "ke-two").await,
        201,
    )
    .await;
    // ke-two is only invited: to people of other institutions there is
    // no such member (404, not 403)…
    for token in [&w.outsider.access, &w.ng.access, &w.ke.access] {
        let res = call(
            app,
            Method::PATCH,
            &member_path("hidden-invites", "ke-two"),
            Some(token),
            Some(json!({"status": "left"})),
        )
        .await;
        problem(res, 404).await;
    }
    // …while its own owner answers.
    let res = answer(
        app,
        Some(&w.ke2.access),
        "hidden-invites",
        "ke-two",
        "accept",
    )
    .await;
    body_of(res, 200).await;
});
