//! "Who am I here" (`GET /me/memberships`, `?member=me` on
//! `/institutions` and `/partnerships`) and the cache headers of personal
//! answers (`Cache-Control: private, no-store`, `Vary: Authorization`).

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::{admin, set_platform_role};
use crate::helpers::app::start;
use crate::helpers::http::{body_of, call, etag_of, send, strings, walk};
use crate::helpers::institutions::{create, join, verify};
use crate::helpers::{Account, TestApp, problem};

// ----- helpers ------------------------------------------------------------

const MEMBERSHIPS: &str = "/api/v1/me/memberships";

fn institution(slug: &str, country: &str) -> Value {
    json!({"slug": slug, "name": format!("Institution {slug}"), "country": country,
           "kind": "university"})
}

async fn coordinator(app: &TestApp, email: &str) -> Account {
    let a = app.signup(email).await;
    set_platform_role(app, &a.id, "coordinator").await;
    app.signin(email).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> Value {
    let res = call(app, Method::POST, path, Some(token), body).await;
    let status = res.status().as_u16();
    assert!(status == 200 || status == 201, "{path}: {status}");
    res.json().await.unwrap()
}

/// Proposes partnership `slug` (the caller becomes its coordinator).
async fn propose(app: &TestApp, token: &str, slug: &str) {
    post(
        app,
        token,
        "/api/v1/partnerships",
        Some(json!({"slug": slug, "title": format!("Partnership {slug}"),
                    "starts_on": "2026-03-01", "ends_on": "2028-02-29"})),
    )
    .await;
}

async fn invite(app: &TestApp, token: &str, slug: &str, inst: &str) {
    post(
        app,
        token,
        &format!("/api/v1/partnerships/{slug}/members"),
        Some(json!({"institution": inst})),
    )
    .await;
}

/// `accept` or `decline` an invitation of `inst` to `slug`.
async fn answer(app: &TestApp, owner: &str, slug: &str, inst: &str, what: &str) {
    post(
        app,
        owner,
        &format!("/api/v1/partnerships/{slug}/members/{inst}/{what}"),
        None,
    )
    .await;
}

async fn memberships(app: &TestApp, who: &Account) -> Value {
    body_of(app.get_auth(MEMBERSHIPS, &who.access).await, 200).await
}

/// `(slug, ways)` of the memberships' partnerships, each way as a short
/// string (`coordinator`, `uon:invited`).
fn partnership_ways(m: &Value) -> Vec<(String, Vec<String>)> {
    m["partnerships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let ways = p["through"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| match w["via"].as_str().unwrap() {
                    "coordinator" => {
                        assert_eq!(w.as_object().unwrap().len(), 1, "{w}");
                        "coordinator".to_string()
                    }
                    "member_institution" => format!(
                        "{}:{}",
                        w["institution"].as_str().unwrap(),
                        w["member_status"].as_str().unwrap()
                    ),
                    other => panic!("unknown way {other}"),
                })
                .collect();
            (p["slug"].as_str().unwrap().to_string(), ways)
        })
        .collect()
}

fn set(items: Vec<String>) -> BTreeSet<String> {
    items.into_iter().collect()
}

/// The slugs `?member=me` selects, page by page.
async fn member_me(app: &TestApp, who: &Account, what: &str) -> BTreeSet<String> {
    let all = walk(
        app,
        Some(&who.access),
        &format!("/api/v1/{what}?member=me"),
        "slug",
    )
    .await;
    let distinct = set(all.clone());
    assert_eq!(distinct.len(), all.len(), "each once: {all:?}");
    distinct
}

/// `uon` (KE, verified) owned by `amina` with `bakari` editor and
/// `chausiku` member; `knust` (GH, verified) owned by `kofi`, with the
/// coordinator `dede` a member; `draft-lab` (KE) unverified, owned by
/// `amina`. `dede` coordinates `alpha` (uon invited, knust active), `beta`
/// (uon active), `gamma` (nobody) and `epsilon` (uon declined); `esi`
/// coordinates the public `delta` (knust active), which amina's people are
/// not part of.
struct World {
    app: TestApp,
    amina: Account,
    bakari: Account,
    chausiku: Account,
    kofi: Account,
    dede: Account,
    esi: Account,
    loner: Account,
}

async fn world(backend: crate::helpers::Backend) -> World {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let amina = app.signup("amina@uon.example.org").await;
    let bakari = app.signup("bakari@uon.example.org").await;
    let chausiku = app.signup("chausiku@uon.example.org").await;
    let kofi = app.signup("kofi@knust.example.org").await;
    let loner = app.signup("loner@example.org").await;
    let dede = coordinator(&app, "dede@example.org").await;
    let esi = coordinator(&app, "esi@example.org").await;
    create(&app, &amina.access, institution("uon", "KE")).await;
    verify(&app, &root.access, "uon").await;
    join(&app, &amina.access, "uon", &bakari, "editor").await;
    join(&app, &amina.access, "uon", &chausiku, "member").await;
    create(&app, &amina.access, institution("draft-lab", "KE")).await;
    create(&app, &kofi.access, institution("knust", "GH")).await;
    verify(&app, &root.access, "knust").await;
    join(&app, &kofi.access, "knust", &dede, "member").await;

    let d = dede.access.as_str();
    propose(&app, d, "alpha").await;
    invite(&app, d, "alpha", "uon").await;
    invite(&app, d, "alpha", "knust").await;
    answer(&app, &kofi.access, "alpha", "knust", "accept").await;
    propose(&app, d, "beta").await;
    invite(&app, d, "beta", "uon").await;
    answer(&app, &amina.access, "beta", "uon", "accept").await;
    propose(&app, d, "gamma").await;
    propose(&app, d, "epsilon").await;
    invite(&app, d, "epsilon", "uon").await;
    answer(&app, &amina.access, "epsilon", "uon", "decline").await;
    propose(&app, &esi.access, "delta").await;
    invite(&app, &esi.access, "delta", "knust").await;
    answer(&app, &kofi.access, "delta", "knust", "accept").await;
    World {
        app,
        amina,
        bakari,
        chausiku,
        kofi,
        dede,
        esi,
        loner,
    }
}

// ----- /me/memberships ----------------------------------------------------

api_test!(
    memberships_list_institutions_with_the_callers_role,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;

        let m = memberships(app, &w.amina).await;
        assert_eq!(m["truncated"], false, "{m}");
        // By name: "Institution draft-lab" before "Institution uon".
        assert_eq!(
            m["institutions"],
            json!([
                {"slug": "draft-lab", "name": "Institution draft-lab", "country": "KE",
                 "verified": false, "role": "owner",
                 "joined_at": m["institutions"][0]["joined_at"]},
                {"slug": "uon", "name": "Institution uon", "country": "KE",
                 "verified": true, "role": "owner",
                 "joined_at": m["institutions"][1]["joined_at"]},
            ])
        );
        for i in m["institutions"].as_array().unwrap() {
            assert!(i["joined_at"].as_str().unwrap().ends_with('Z'), "{i}");
        }
        for (who, role) in [(&w.bakari, "editor"), (&w.chausiku, "member")] {
            let m = memberships(app, who).await;
            assert_eq!(strings(&m["institutions"], "slug"), ["uon"], "{m}");
            assert_eq!(m["institutions"][0]["role"], role, "{m}");
        }
        let m = memberships(app, &w.kofi).await;
        assert_eq!(strings(&m["institutions"], "slug"), ["knust"]);
        assert_eq!(m["institutions"][0]["role"], "owner");

        // Someone in nothing: two empty lists.
        let m = memberships(app, &w.loner).await;
        assert_eq!(
            m,
            json!({"institutions": [], "partnerships": [], "truncated": false})
        );
    }
);

api_test!(memberships_list_partnerships_and_the_way_in, |backend| {
    let w = world(backend).await;
    let app = &w.app;

    // Every person of uon, whatever their role, is in uon's partnerships:
    // invited to alpha, active in beta; not epsilon (declined), not delta.
    let through_uon = vec![
        ("alpha".to_string(), vec!["uon:invited".to_string()]),
        ("beta".to_string(), vec!["uon:active".to_string()]),
    ];
    for who in [&w.amina, &w.bakari, &w.chausiku] {
        let m = memberships(app, who).await;
        assert_eq!(partnership_ways(&m), through_uon, "{m}");
    }
    let m = memberships(app, &w.amina).await;
    assert_eq!(m["partnerships"][0]["title"], "Partnership alpha");
    assert_eq!(m["partnerships"][0]["status"], "proposed");

    // dede coordinates four and is also in alpha and delta through knust:
    // one item per partnership, coordinator first.
    let m = memberships(app, &w.dede).await;
    assert_eq!(
        partnership_ways(&m),
        vec![
            (
                "alpha".to_string(),
                vec!["coordinator".to_string(), "knust:active".to_string()]
            ),
            ("beta".to_string(), vec!["coordinator".to_string()]),
            ("delta".to_string(), vec!["knust:active".to_string()]),
            ("epsilon".to_string(), vec!["coordinator".to_string()]),
            ("gamma".to_string(), vec!["coordinator".to_string()]),
        ]
    );
    assert_eq!(strings(&m["institutions"], "slug"), ["knust"]);
    assert_eq!(m["institutions"][0]["role"], "member");

    // A partnership that ends keeps its place, with its status.
    let res = call(
        app,
        Method::POST,
        "/api/v1/partnerships/gamma/dissolve",
        Some(&w.dede.access),
        None,
    )
    .await;
    body_of(res, 200).await;
    let m = memberships(app, &w.dede).await;
    let gamma = m["partnerships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slug"] == "gamma")
        .unwrap()
        .clone();
    assert_eq!(gamma["status"], "dissolved");

    let m = memberships(app, &w.esi).await;
    assert_eq!(
        partnership_ways(&m),
        vec![("delta".to_string(), vec!["coordinator".to_string()])]
    );
    assert_eq!(m["institutions"], json!([]));
});

api_test!(memberships_carry_an_etag_that_follows_changes, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let res = app.get_auth(MEMBERSHIPS, &w.chausiku.access).await;
    let tag = etag_of(&res);
    body_of(res, 200).await;
    let res = send(
        app,
        Method::GET,
        MEMBERSHIPS,
        Some(&w.chausiku.access),
        None,
        &[("If-None-Match", &tag)],
    )
    .await;
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["cache-control"], "private, no-store");

    // chausiku is made an editor: the tag changes.
    let res = call(
        app,
        Method::PATCH,
        &format!("/api/v1/institutions/uon/members/{}", w.chausiku.id),
        Some(&w.amina.access),
        Some(json!({"role": "editor"})),
    )
    .await;
    body_of(res, 200).await;
    let res = send(
        app,
        Method::GET,
        MEMBERSHIPS,
        Some(&w.chausiku.access),
        None,
        &[("If-None-Match", &tag)],
    )
    .await;
    assert_ne!(etag_of(&res), tag);
    let m = body_of(res, 200).await;
    assert_eq!(m["institutions"][0]["role"], "editor");
});

api_test!(memberships_need_a_signed_in_caller, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    problem(app.get(MEMBERSHIPS).await, 401).await;
    problem(app.get_auth(MEMBERSHIPS, "not-a-token").await, 401).await;
    // Another method on the path: 405 with Allow.
    let res = call(
        app,
        Method::POST,
        MEMBERSHIPS,
        Some(&w.amina.access),
        Some(json!({})),
    )
    .await;
    assert_eq!(res.status(), 405);
});

// ----- ?member=me ---------------------------------------------------------

api_test!(member_me_filters_select_what_memberships_list, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    for who in [
        &w.amina,
        &w.bakari,
        &w.chausiku,
        &w.kofi,
        &w.dede,
        &w.esi,
        &w.loner,
    ] {
        let m = memberships(app, who).await;
        assert_eq!(
            member_me(app, who, "institutions").await,
            set(strings(&m["institutions"], "slug")),
            "{}",
            who.email
        );
        assert_eq!(
            member_me(app, who, "partnerships").await,
            set(strings(&m["partnerships"], "slug")),
            "{}",
            who.email
        );
    }
    // The filter narrows what the list would show: delta is public, and
    // verified knust is listed for everyone, but neither is amina's.
    let all = set(walk(app, Some(&w.amina.access), "/api/v1/partnerships", "slug").await);
    assert!(all.contains("delta"), "{all:?}");
    let all = set(walk(app, Some(&w.amina.access), "/api/v1/institutions", "slug").await);
    assert!(
        all.contains("knust") && all.contains("draft-lab"),
        "{all:?}"
    );
    // It combines with the other filters.
    let amina = w.amina.access.as_str();
    let with_knust = |member: &'static str| async move {
        let path = format!("/api/v1/partnerships?institution=knust{member}");
        let page = body_of(app.get_auth(&path, amina).await, 200).await;
        set(strings(&page["items"], "slug"))
    };
    assert_eq!(
        with_knust("").await,
        set(vec!["alpha".into(), "delta".into()])
    );
    assert_eq!(with_knust("&member=me").await, set(vec!["alpha".into()]));
    let page = body_of(
        app.get_auth(
            "/api/v1/institutions?member=me&verified=false",
            &w.amina.access,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(strings(&page["items"], "slug"), ["draft-lab"]);

    // An admin's member=me is their own memberships, not everything.
    let root = app.signin("root@kujenga.test").await;
    let page = body_of(
        app.get_auth("/api/v1/partnerships?member=me", &root.access)
            .await,
        200,
    )
    .await;
    assert_eq!(page["items"], json!([]));
    let page = body_of(
        app.get_auth("/api/v1/institutions?member=me", &root.access)
            .await,
        200,
    )
    .await;
    assert_eq!(page["items"], json!([]));
});

api_test!(
    member_filters_refuse_anonymous_callers_and_other_values,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        for what in ["institutions", "partnerships"] {
            let res = app.get(&format!("/api/v1/{what}?member=me")).await;
            let p = problem(res, 401).await;
            assert!(p["detail"].as_str().unwrap().contains("member=me"), "{p}");
            for bad in ["you", "", "ME", "all", "me,you"] {
                for token in [None, Some(w.amina.access.as_str())] {
                    let res = call(
                        app,
                        Method::GET,
                        &format!("/api/v1/{what}?member={bad}"),
                        token,
                        None,
                    )
                    .await;
                    let p = problem(res, 400).await;
                    let fields = strings(&p["errors"], "field");
                    assert_eq!(fields, ["member"], "{what} member={bad}: {p}");
                }
            }
        }
    }
);

// ----- personal answers are not cached ------------------------------------

fn cache_control(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
}

/// Every `Vary` value, split at commas.
fn vary(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

fn assert_private(res: &reqwest::Response, what: &str) {
    assert_eq!(
        cache_control(res).as_deref(),
        Some("private, no-store"),
        "{what}"
    );
    let v = vary(res);
    assert_eq!(
        v.iter().filter(|x| *x == "authorization").count(),
        1,
        "{what}: {v:?}"
    );
}

api_test!(
    personal_answers_are_private_and_vary_by_authorization,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let t = w.amina.access.as_str();

        // A published course of uon and a restricted dataset with a request.
        let course = post(
            app,
            t,
            "/api/v1/courses",
            Some(json!({"institution": "uon", "title": "Private caching",
                    "summary": "What it is.", "license": "CC-BY-4.0", "languages": ["sw"],
                    "duration_hours": 6, "level": "beginner"})),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        post(
            app,
            t,
            &format!("/api/v1/courses/{course}/modules"),
            Some(json!({"title": "One", "content": "# One\n\nText."})),
        )
        .await;
        post(app, t, &format!("/api/v1/courses/{course}/publish"), None).await;
        let ds = post(
            app,
            t,
            "/api/v1/datasets",
            Some(
                json!({"institution": "uon", "title": "Private data", "summary": "About it.",
                    "license": "CC-BY-4.0", "languages": ["sw"], "access_level": "restricted",
                    "transfer_policy": "unrestricted",
                    "datasheet": {"motivation": "Why.", "composition": "What.",
                                  "collection_process": "How.", "uses": "For what."}}),
            ),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        post(app, t, &format!("/api/v1/datasets/{ds}/publish"), None).await;
        let request = post(
            app,
            &w.kofi.access,
            &format!("/api/v1/datasets/{ds}/access-requests"),
            Some(
                json!({"purpose": "Training a speech recogniser for community radio.",
                    "duration_days": 30}),
            ),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string();

        // Enrolling (PUT) and reading one's own things.
        let res = call(
            app,
            Method::PUT,
            &format!("/api/v1/courses/{course}/enrollment"),
            Some(&w.kofi.access),
            None,
        )
        .await;
        assert!(res.status().is_success(), "{}", res.status());
        assert_private(&res, "PUT enrollment");
        for path in [
            "/api/v1/me".to_string(),
            "/api/v1/me/tokens".into(),
            "/api/v1/me/notifications".into(),
            "/api/v1/me/notifications?unread=true".into(),
            "/api/v1/me/notifications/unread-count".into(),
            "/api/v1/me/notification-preferences".into(),
            "/api/v1/me/enrollments".into(),
            "/api/v1/me/access-requests".into(),
            "/api/v1/me/memberships".into(),
            format!("/api/v1/access-requests/{request}"),
            format!("/api/v1/courses/{course}/enrollment"),
        ] {
            let res = app.get_auth(&path, &w.kofi.access).await;
            assert_eq!(res.status(), 200, "{path}");
            assert_private(&res, &path);
        }
        // The institution's view of its learners and its request.
        for path in [
            format!("/api/v1/courses/{course}/enrollments"),
            format!("/api/v1/access-requests/{request}"),
            format!("/api/v1/datasets/{ds}/access-requests"),
        ] {
            let res = app.get_auth(&path, t).await;
            assert_eq!(res.status(), 200, "{path}");
            assert_private(&res, &path);
        }
        // Writes, refusals and revalidations by a signed-in caller too.
        let res = call(
            app,
            Method::POST,
            "/api/v1/me/notifications/read-all",
            Some(t),
            None,
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_private(&res, "read-all");
        let res = app
            .get_auth(
                &format!("/api/v1/access-requests/{request}"),
                &w.loner.access,
            )
            .await;
        assert_eq!(res.status(), 404);
        assert_private(&res, "someone else's request");
        let res = app.get_auth("/api/v1/me", "not-a-token").await;
        assert_eq!(res.status(), 401);
        assert_private(&res, "bad token");
        let res = app.get_auth("/api/v1/me", t).await;
        let tag = etag_of(&res);
        let res = send(
            app,
            Method::GET,
            "/api/v1/me",
            Some(t),
            None,
            &[("If-None-Match", &tag)],
        )
        .await;
        assert_eq!(res.status(), 304);
        assert_private(&res, "304");
        // A signed-in read of a public object is private as well: it may differ
        // from the anonymous one (and carry the caller's permissions).
        let res = app.get_auth(&format!("/api/v1/courses/{course}"), t).await;
        assert_eq!(res.status(), 200);
        assert_private(&res, "signed-in course read");
        // Answers whose handler said no-store (a new API token, a sign-in)
        // keep exactly that: no cache at all may store them.
        let res = app
            .post_json(
                "/api/v1/me/tokens",
                json!({"name": "sync", "scopes": ["read"]}),
                Some(t),
            )
            .await;
        assert_eq!(res.status(), 201);
        assert_eq!(cache_control(&res).as_deref(), Some("no-store"));
        assert!(vary(&res).contains(&"authorization".into()));
        let res = app
            .login("kofi@knust.example.org", crate::helpers::PASSWORD)
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(cache_control(&res).as_deref(), Some("no-store"));

        // Anonymous public reads are not marked private, and vary by
        // Authorization so no cache serves them to a signed-in request.
        for path in [
            "/api/v1/institutions".to_string(),
            "/api/v1/institutions/uon".into(),
            format!("/api/v1/courses/{course}"),
            "/api/v1/partnerships/delta".into(),
        ] {
            let res = app.get(&path).await;
            assert_eq!(res.status(), 200, "{path}");
            assert!(
                !cache_control(&res).unwrap_or_default().contains("private"),
                "{path}: {:?}",
                cache_control(&res)
            );
            assert!(vary(&res).contains(&"authorization".into()), "{path}");
        }

        // Existing Vary values stay: a compressed personal answer varies by
        // both Accept-Encoding and Authorization.
        let res = send(
            app,
            Method::GET,
            "/api/v1/me/notifications?limit=100",
            Some(t),
            None,
            &[("Accept-Encoding", "gzip")],
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-encoding"], "gzip");
        assert_private(&res, "gzip");
        assert!(
            vary(&res).contains(&"accept-encoding".into()),
            "{:?}",
            vary(&res)
        );
    }
);
