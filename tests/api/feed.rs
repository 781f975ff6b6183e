//! The change feed (`GET /api/v1/changes`, docs/FEED.md): clients that sync,
//! go offline while the catalogue changes, catch up and end with exactly
//! what the server shows them; cursors across concurrent writes; resync
//! (410); 304; bad input.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::{Account, admin, set_platform_role};
use crate::helpers::app::{spawn_app_with, start};
use crate::helpers::http::{body_of, call, problem, send, typed};
use crate::helpers::institutions::{create, join, verify};
use crate::helpers::versions::edit_published;
use crate::helpers::{Backend, TestApp};

const FEED: &str = "/api/v1/changes";

/// A client's copy: `(kind, id)` → the embedded representation.
struct Client {
    token: Option<String>,
    cursor: String,
    view: BTreeMap<(String, String), Value>,
    /// Every `(kind, id)` the feed ever named to it.
    named: BTreeSet<(String, String)>,
}

impl Client {
    /// A client that starts following now (before its first full fetch).
    async fn start(app: &TestApp, token: Option<&str>) -> Client {
        let page = feed(app, token, "").await;
        assert_eq!(page["items"], json!([]), "{page}");
        assert_eq!(page["has_more"], false, "{page}");
        Client {
            token: token.map(str::to_string),
            cursor: page["cursor"].as_str().unwrap().to_string(),
            view: BTreeMap::new(),
            named: BTreeSet::new(),
        }
    }

    /// The full fetch: every course the caller can read now.
    async fn fetch_all(&mut self, app: &TestApp, ids: &[String]) {
        for id in ids {
            if let Some(c) = read_course(app, self.token.as_deref(), id).await {
                self.view.insert(("course".into(), id.clone()), c);
            }
        }
    }

    /// Follows the feed until it has nothing more; returns the pages read.
    async fn catch_up(&mut self, app: &TestApp, limit: usize) -> usize {
        let mut pages = 0;
        loop {
            let q = format!("?since={}&limit={limit}&embed=true", self.cursor);
            let page = feed(app, self.token.as_deref(), &q).await;
            pages += 1;
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= limit, "{page}");
            for item in items {
                let key = (
                    item["kind"].as_str().unwrap().to_string(),
                    item["id"].as_str().unwrap().to_string(),
                );
                self.named.insert(key.clone());
                assert!(
                    item["cursor"].is_string() && item["version"].is_i64(),
                    "{item}"
                );
                assert!(item["changed_at"].is_string(), "{item}");
                match item["type"].as_str().unwrap() {
                    "gone" => {
                        assert_eq!(item["deleted"], true, "{item}");
                        self.view.remove(&key);
                    }
                    "changed" => {
                        assert_eq!(item["deleted"], false, "{item}");
                        let data = if key.0 == "course" || key.0 == "dataset" {
                            assert_eq!(item["data"]["id"], item["id"], "{item}");
                            item["data"].clone()
                        } else {
                            json!({"id": key.1})
                        };
                        self.view.insert(key, data);
                    }
                    other => panic!("type {other}"),
                }
            }
            self.cursor = page["cursor"].as_str().unwrap().to_string();
            if page["has_more"] == false {
                return pages;
            }
            assert!(pages < 500, "the feed does not end");
        }
    }

    fn courses(&self) -> BTreeMap<String, Value> {
        self.view
            .iter()
            .filter(|((k, _), _)| k == "course")
            .map(|((_, id), v)| (id.clone(), v.clone()))
            .collect()
    }
}

async fn feed(app: &TestApp, token: Option<&str>, query: &str) -> Value {
    let res = call(app, Method::GET, &format!("{FEED}{query}"), token, None).await;
    body_of(res, 200).await
}

async fn read_course(app: &TestApp, token: Option<&str>, id: &str) -> Option<Value> {
    let res = call(
        app,
        Method::GET,
        &format!("/api/v1/courses/{id}"),
        token,
        None,
    )
    .await;
    match res.status().as_u16() {
        200 => Some(res.json().await.unwrap()),
        404 => None,
        s => panic!("GET course {id}: {s}"),
    }
}

/// What a client compares: the fields that change.
fn essence(c: &Value) -> Value {
    json!({
        "id": c["id"], "title": c["title"], "summary": c["summary"], "version": c["version"],
        "visibility": c["visibility"], "status": c["status"], "updated_at": c["updated_at"],
    })
}

/// The client's copy is exactly what the server shows it now.
async fn assert_same_as_server(app: &TestApp, client: &Client, all: &[String], who: &str) {
    let mut truth = BTreeMap::new();
    for id in all {
        if let Some(c) = read_course(app, client.token.as_deref(), id).await {
            truth.insert(id.clone(), essence(&c));
        }
    }
    let mine: BTreeMap<String, Value> = client
        .courses()
        .into_iter()
        .map(|(id, v)| (id, essence(&v)))
        .collect();
    let missing: Vec<&String> = truth.keys().filter(|k| !mine.contains_key(*k)).collect();
    let extra: Vec<&String> = mine.keys().filter(|k| !truth.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{who}: missing {missing:?}, extra {extra:?}"
    );
    assert_eq!(mine, truth, "{who}");
}

/// A published course (with one module) of `inst`; its id.
async fn course(app: &TestApp, token: &str, inst: &str, title: &str, extra: Value) -> String {
    let id = draft_course(app, token, inst, title, extra).await;
    let res = call(
        app,
        Method::POST,
        &format!("/api/v1/courses/{id}/publish"),
        Some(token),
        None,
    )
    .await;
    body_of(res, 200).await;
    id
}

async fn draft_course(app: &TestApp, token: &str, inst: &str, title: &str, extra: Value) -> String {
    let mut body = json!({
        "institution": inst, "title": title, "summary": format!("About {title}."),
        "license": "CC-BY-4.0", "languages": ["en"], "level": "beginner", "duration_hours": 4,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let res = app.post_json("/api/v1/courses", body, Some(token)).await;
    let id = body_of(res, 201).await["id"].as_str().unwrap().to_string();
    let res = app
        .post_json(
            &format!("/api/v1/courses/{id}/modules"),
            json!({"title": "Start here", "content": "Welcome."}),
            Some(token),
        )
        .await;
    body_of(res, 201).await;
    id
}

/// Changes course `id`: a draft in place; a published course (which a
/// PATCH refuses: 409 `edit-the-draft`) through the draft of its next
/// version, then publishing it.
async fn patch(app: &TestApp, token: &str, id: &str, body: Value) {
    let path = format!("/api/v1/courses/{id}");
    let res = call(app, Method::PATCH, &path, Some(token), Some(body.clone())).await;
    if res.status() == 409 {
        typed(res, 409, "edit-the-draft").await;
        let res = edit_published(app, Some(token), &path, body).await;
        body_of(res, 200).await;
        return;
    }
    body_of(res, 200).await;
}

/// The people and places of the sync test.
struct World {
    app: TestApp,
    root: Account,
    /// Owner of `ke-lab` (KE).
    oa: Account,
    /// Owner of `ng-lab` (NG).
    ob: Account,
    /// Owner of `gh-lab` (GH).
    og: Account,
    coord: Account,
    /// A member of `ng-lab`, so of partnership `feed-p`.
    member: Account,
    learner: Account,
}

async fn institution(app: &TestApp, owner: &Account, root: &Account, slug: &str, country: &str) {
    create(
        app,
        &owner.access,
        json!({"slug": slug, "name": format!("Lab {slug}"), "country": country, "kind": "university"}),
    )
    .await;
    verify(app, &root.access, slug).await;
}

async fn world(app: TestApp) -> World {
    let root = admin(&app, "root@example.org").await;
    let oa = app.signup("oa@example.org").await;
    let ob = app.signup("ob@example.org").await;
    let og = app.signup("og@example.org").await;
    institution(&app, &oa, &root, "ke-lab", "KE").await;
    institution(&app, &ob, &root, "ng-lab", "NG").await;
    institution(&app, &og, &root, "gh-lab", "GH").await;
    let member = app.signup("member@example.org").await;
    join(&app, &ob.access, "ng-lab", &member, "member").await;
    let learner = app.signup("learner@example.org").await;
    let coord = app.signup("coord@example.org").await;
    set_platform_role(&app, &coord.id, "coordinator").await;
    let coord = app.signin("coord@example.org").await;
    let c = Some(coord.access.as_str());
    let res = call(
        &app,
        Method::POST,
        "/api/v1/partnerships",
        c,
        Some(
            json!({"slug": "feed-p", "title": "Feed partners", "starts_on": "2026-03-01",
                    "ends_on": "2028-02-29"}),
        ),
    )
    .await;
    body_of(res, 201).await;
    for (inst, owner) in [("ke-lab", &oa), ("ng-lab", &ob)] {
        let res = call(
            &app,
            Method::POST,
            "/api/v1/partnerships/feed-p/members",
            c,
            Some(json!({"institution": inst})),
        )
        .await;
        body_of(res, 201).await;
        let res = call(
            &app,
            Method::POST,
            &format!("/api/v1/partnerships/feed-p/members/{inst}/accept"),
            Some(&owner.access),
            None,
        )
        .await;
        body_of(res, 200).await;
    }
    let res = call(
        &app,
        Method::POST,
        "/api/v1/partnerships/feed-p/activate",
        c,
        None,
    )
    .await;
    assert_eq!(body_of(res, 200).await["status"], "active");
    World {
        app,
        root,
        oa,
        ob,
        og,
        coord,
        member,
        learner,
    }
}

async fn share(w: &World, id: &str) {
    let res = w
        .app
        .post_json(
            "/api/v1/partnerships/feed-p/resources",
            json!({"resource_id": id}),
            Some(&w.oa.access),
        )
        .await;
    body_of(res, 201).await;
}

async fn unshare(w: &World, id: &str) {
    let res = call(
        &w.app,
        Method::DELETE,
        &format!("/api/v1/partnerships/feed-p/resources/{id}"),
        Some(&w.coord.access),
        None,
    )
    .await;
    assert!(res.status().is_success(), "{}", res.status());
}

api_test!(
    offline_clients_catch_up_to_exactly_the_server_view,
    |backend| {
        let w = world(start(backend).await).await;
        let app = &w.app;
        let (oa, ob, og) = (
            w.oa.access.as_str(),
            w.ob.access.as_str(),
            w.og.access.as_str(),
        );
        let vis = |v: &str| json!({"visibility": v});

        // Before the clients follow.
        let mut pub_a = Vec::new();
        for i in 0..12 {
            pub_a.push(course(app, oa, "ke-lab", &format!("Public {i}"), json!({})).await);
        }
        let mut reg_a = Vec::new();
        for i in 0..4 {
            reg_a.push(
                course(
                    app,
                    oa,
                    "ke-lab",
                    &format!("Registered {i}"),
                    vis("registered"),
                )
                .await,
            );
        }
        let mut inst_a = Vec::new();
        for i in 0..3 {
            inst_a.push(
                course(
                    app,
                    oa,
                    "ke-lab",
                    &format!("Inside A {i}"),
                    vis("institution"),
                )
                .await,
            );
        }
        let mut part_a = Vec::new();
        for i in 0..4 {
            let id = course(
                app,
                oa,
                "ke-lab",
                &format!("Partners {i}"),
                vis("partnership"),
            )
            .await;
            share(&w, &id).await;
            part_a.push(id);
        }
        let mut inst_b = Vec::new();
        for i in 0..3 {
            inst_b.push(
                course(
                    app,
                    ob,
                    "ng-lab",
                    &format!("Inside B {i}"),
                    vis("institution"),
                )
                .await,
            );
        }
        let mut pub_g = Vec::new();
        for i in 0..2 {
            pub_g.push(course(app, og, "gh-lab", &format!("Ghana {i}"), json!({})).await);
        }
        let mut drafts_a = Vec::new();
        for i in 0..6 {
            drafts_a.push(draft_course(app, oa, "ke-lab", &format!("Draft {i}"), json!({})).await);
        }
        let mut all: Vec<String> = [&pub_a, &reg_a, &inst_a, &part_a, &inst_b, &pub_g, &drafts_a]
            .iter()
            .flat_map(|v| v.iter().cloned())
            .collect();

        // Three clients sync: they take a cursor, then fetch everything.
        let mut anon = Client::start(app, None).await;
        let mut learner = Client::start(app, Some(&w.learner.access)).await;
        let mut member = Client::start(app, Some(&w.member.access)).await;
        for c in [&mut anon, &mut learner, &mut member] {
            c.fetch_all(app, &all).await;
        }
        assert_eq!(anon.view.len(), 12 + 2);
        assert_eq!(learner.view.len(), 12 + 4 + 2);
        assert_eq!(member.view.len(), 12 + 4 + 4 + 3 + 2);

        // Offline: 200 changes, some to what they cannot see.
        let owner_of = |id: &String| {
            if inst_b.contains(id) {
                ob
            } else if pub_g.contains(id) {
                og
            } else {
                oa
            }
        };
        let targets: Vec<String> = all.clone();
        for i in 0..100 {
            let id = &targets[(i * 7) % targets.len()];
            patch(
                app,
                owner_of(id),
                id,
                json!({"summary": format!("Change {i}.")}),
            )
            .await;
        }
        // The learner enrolls: their own enrollment is in their feed only.
        let res = call(
            app,
            Method::PUT,
            &format!("/api/v1/courses/{}/enrollment", pub_a[0]),
            Some(&w.learner.access),
            None,
        )
        .await;
        assert!(res.status().is_success(), "{}", res.status());
        // New courses: some public, some not.
        let mut fresh = Vec::new();
        for i in 0..3 {
            fresh.push(course(app, oa, "ke-lab", &format!("Fresh {i}"), json!({})).await);
        }
        let mut hidden_fresh = Vec::new();
        for i in 0..2 {
            hidden_fresh.push(
                course(
                    app,
                    oa,
                    "ke-lab",
                    &format!("Fresh inside {i}"),
                    vis("institution"),
                )
                .await,
            );
        }
        // 20 removals.
        for id in &pub_a[..5] {
            patch(app, oa, id, vis("institution")).await; // gone for all three
        }
        for id in &reg_a[..3] {
            patch(app, oa, id, vis("institution")).await; // gone for the learner and the member
        }
        for id in &part_a[..2] {
            unshare(&w, id).await; // gone for the member
        }
        for id in &drafts_a[..5] {
            let res = call(
                app,
                Method::DELETE,
                &format!("/api/v1/courses/{id}"),
                Some(oa),
                None,
            )
            .await;
            assert_eq!(res.status(), 204, "delete a draft");
        }
        let flash = course(app, oa, "ke-lab", "Flash", json!({})).await;
        patch(app, oa, &flash, vis("institution")).await; // appears and goes
        patch(app, oa, &pub_a[5], vis("partnership")).await;
        share(&w, &pub_a[5]).await; // still seen by the member, for now
        // The member leaves ng-lab (removed): its courses, and the partnership's.
        let res = call(
            app,
            Method::DELETE,
            &format!("/api/v1/institutions/ng-lab/members/{}", w.member.id),
            Some(ob),
            None,
        )
        .await;
        assert!(res.status().is_success(), "{}", res.status());
        // gh-lab moves country: no longer verified, its courses hidden.
        let res = call(
            app,
            Method::PATCH,
            "/api/v1/institutions/gh-lab",
            Some(og),
            Some(json!({"country": "TZ"})),
        )
        .await;
        let inst = body_of(res, 200).await;
        assert_eq!(inst["verified"], false, "{inst}");
        all.extend(fresh.iter().cloned());
        all.extend(hidden_fresh.iter().cloned());
        all.push(flash.clone());
        // And 100 more changes, to what is left.
        for i in 100..200 {
            let id = &targets[(i * 11) % targets.len()];
            if drafts_a[..5].contains(id) {
                continue;
            }
            patch(
                app,
                owner_of(id),
                id,
                json!({"summary": format!("Change {i}.")}),
            )
            .await;
        }

        // Back online.
        for (c, who) in [
            (&mut anon, "anonymous"),
            (&mut learner, "learner"),
            (&mut member, "member"),
        ] {
            c.catch_up(app, 37).await;
            assert_same_as_server(app, c, &all, who).await;
        }
        // Exactly what each expects.
        assert_eq!(anon.courses().len(), 12 - 6 + 3);
        assert_eq!(learner.courses().len(), (12 - 6) + (4 - 3) + 3);
        assert_eq!(member.courses().len(), (12 - 6) + (4 - 3) + 3);
        // The learner learned of their enrollment; nobody else did.
        let enrolled = ("enrollment".to_string(), pub_a[0].clone());
        assert!(learner.view.contains_key(&enrolled), "{:?}", learner.named);
        assert!(!anon.named.contains(&enrolled) && !member.named.contains(&enrolled));

        // Nothing hidden was ever named: what a caller never saw.
        let never_seen_by_all: Vec<&String> = inst_a
            .iter()
            .chain(&drafts_a)
            .chain(&hidden_fresh)
            .collect();
        for (c, who) in [
            (&anon, "anonymous"),
            (&learner, "learner"),
            (&member, "member"),
        ] {
            for id in &never_seen_by_all {
                assert!(
                    !c.named.contains(&("course".into(), (*id).clone())),
                    "{who} was told of {id}"
                );
            }
        }
        for id in reg_a.iter().chain(&part_a).chain(&inst_b) {
            assert!(
                !anon.named.contains(&("course".into(), id.clone())),
                "anonymous was told of {id}"
            );
        }
        for id in part_a.iter().chain(&inst_b) {
            assert!(
                !learner.named.contains(&("course".into(), id.clone())),
                "the learner was told of {id}"
            );
        }
        // And the removals were said as such.
        for id in &pub_a[..5] {
            assert!(anon.named.contains(&("course".into(), id.clone())));
        }
        for id in inst_b.iter().chain(&part_a) {
            assert!(
                member.named.contains(&("course".into(), id.clone())),
                "member not told of {id}"
            );
        }

        // Up to date: nothing more, and the same page again costs a 304.
        let q = format!("{FEED}?since={}", anon.cursor);
        let res = call(app, Method::GET, &q, None, None).await;
        let etag = res.headers()["etag"].to_str().unwrap().to_string();
        let page: Value = body_of(res, 200).await;
        assert_eq!(page["items"], json!([]), "{page}");
        assert_eq!(page["cursor"].as_str(), Some(anon.cursor.as_str()));
        let res = send(
            app,
            Method::GET,
            &q,
            None,
            None,
            &[("If-None-Match", &etag)],
        )
        .await;
        assert_eq!(res.status(), 304);
        patch(app, oa, &pub_a[6], json!({"title": "Renamed"})).await;
        let res = send(
            app,
            Method::GET,
            &q,
            None,
            None,
            &[("If-None-Match", &etag)],
        )
        .await;
        let page = body_of(res, 200).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
        assert_eq!(page["items"][0]["id"], pub_a[6].as_str());
    }
);

api_test!(filters_and_embedded_fields, |backend| {
    let w = world(start(backend).await).await;
    let app = &w.app;
    let start_cursor = feed(app, None, "").await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let a = course(app, &w.oa.access, "ke-lab", "In Kenya", json!({})).await;
    let g = course(app, &w.og.access, "gh-lab", "In Ghana", json!({})).await;
    // By institution.
    let page = feed(
        app,
        None,
        &format!("?since={start_cursor}&institution=gh-lab"),
    )
    .await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![g.as_str()], "{page}");
    // An unknown institution selects nothing.
    let page = feed(
        app,
        None,
        &format!("?since={start_cursor}&institution=nowhere"),
    )
    .await;
    assert_eq!(page["items"], json!([]));
    // By kind.
    let page = feed(
        app,
        None,
        &format!("?since={start_cursor}&kinds=dataset,model_card"),
    )
    .await;
    assert_eq!(page["items"], json!([]));
    let page = feed(app, None, &format!("?since={start_cursor}&kinds=course")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    // Embedded, trimmed.
    let page = feed(
        app,
        None,
        &format!("?since={start_cursor}&embed=true&fields=title"),
    )
    .await;
    let first = &page["items"][0];
    assert_eq!(first["id"], a.as_str());
    assert_eq!(
        first["data"],
        json!({"id": a, "kind": "course", "title": "In Kenya"})
    );
    // Without embed there is no data.
    let page = feed(app, None, &format!("?since={start_cursor}")).await;
    assert!(page["items"][0].get("data").is_none(), "{page}");
    // A cursor mid-page continues after that change.
    let mid = page["items"][0]["cursor"].as_str().unwrap();
    let page = feed(app, None, &format!("?since={mid}")).await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![g.as_str()], "{page}");
});

api_test!(bad_input_is_a_400_problem, |backend| {
    let w = world(start(backend).await).await;
    let app = &w.app;
    let good = feed(app, None, "").await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    // A cursor for a seq the feed never reached.
    let future = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("f1.999999999")
    };
    let cases: Vec<(String, &str)> = vec![
        ("?since=garbage".into(), "since"),
        (format!("?since={future}"), "since"),
        ("?since=".into(), "since"),
        (format!("?since={good}&limit=0"), "limit"),
        (format!("?since={good}&limit=501"), "limit"),
        (format!("?since={good}&limit=ten"), "limit"),
        (format!("?since={good}&kinds=planet"), "kinds"),
        (format!("?since={good}&embed=maybe"), "embed"),
        (format!("?since={good}&fields=title"), "fields"),
        (format!("?since={good}&embed=true&fields=Title!"), "fields"),
        (format!("?since={good}&colour=blue"), "colour"),
    ];
    for (q, field) in cases {
        let res = call(app, Method::GET, &format!("{FEED}{q}"), None, None).await;
        let p = problem(res, 400).await;
        assert!(
            p["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{q}: {p}"
        );
    }
    // A bad token is a 401, not an anonymous feed.
    let res = call(app, Method::GET, FEED, Some("nonsense"), None).await;
    problem(res, 401).await;
});

api_test!(an_expired_cursor_answers_410_resync, |backend| {
    let Some(app) = spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.feed.retention_secs = 1;
    })
    .await
    else {
        return;
    };
    let w = world(app).await;
    let app = &w.app;
    let old = feed(app, None, "").await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    course(app, &w.oa.access, "ke-lab", "Early", json!({})).await;
    // Still kept: the change is there.
    let page = feed(app, None, &format!("?since={old}")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    course(app, &w.oa.access, "ke-lab", "Late", json!({})).await;
    let res = call(app, Method::GET, &format!("{FEED}?since={old}"), None, None).await;
    let p = problem(res, 410).await;
    assert_eq!(p["type"], "urn:kujenga:problem:resync-required", "{p}");
    // A fresh cursor works.
    let now = feed(app, None, "").await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        feed(app, None, &format!("?since={now}")).await["items"],
        json!([])
    );
});

api_test!(a_platform_role_change_asks_for_a_resync, |backend| {
    let w = world(start(backend).await).await;
    let app = &w.app;
    let cursor = feed(app, Some(&w.learner.access), "").await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    // The learner becomes an admin: everything is theirs to see now.
    let res = call(
        app,
        Method::PATCH,
        &format!("/api/v1/users/{}", w.learner.id),
        Some(&w.root.access),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert!(res.status().is_success(), "{}", res.status());
    let learner = app.signin("learner@example.org").await;
    let res = call(
        app,
        Method::GET,
        &format!("{FEED}?since={cursor}"),
        Some(&learner.access),
        None,
    )
    .await;
    let p = problem(res, 410).await;
    assert_eq!(p["type"], "urn:kujenga:problem:resync-required", "{p}");
});

api_test!(cursors_never_skip_concurrent_writes, |backend| {
    let w = world(start(backend).await).await;
    let app = std::sync::Arc::new(w.app);
    let oa = w.oa.access.clone();
    let mut reader = Client::start(&app, None).await;
    let writers: Vec<_> = (0..4)
        .map(|n| {
            let app = app.clone();
            let oa = oa.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..6 {
                    ids.push(course(&app, &oa, "ke-lab", &format!("W{n} {i}"), json!({})).await);
                }
                ids
            })
        })
        .collect();
    // Read while they write.
    let mut rounds = 0;
    while writers.iter().any(|h| !h.is_finished()) && rounds < 200 {
        reader.catch_up(&app, 5).await;
        rounds += 1;
    }
    let mut all = Vec::new();
    for h in writers {
        all.extend(h.await.unwrap());
    }
    reader.catch_up(&app, 5).await;
    assert_eq!(reader.courses().len(), all.len());
    assert_same_as_server(&app, &reader, &all, "reader").await;
});
