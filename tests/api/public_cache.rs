//! The anonymous catalogue cache (src/http/public_cache.rs): an anonymous
//! public read is answered from memory until anything changes. These tests
//! warm it, change the data in every way that matters to an anonymous
//! reader, and check the very next read already shows the change — here, in
//! another instance on the same database, and from a `kujenga` command.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::http::{body_of, call};
use crate::helpers::institutions::{create_slug, join, verify};
use crate::helpers::search::{DATASETS, draft, enc, get_ok, ids_of, published};
use crate::helpers::versions::edit_published;
use crate::helpers::{Account, TestApp};

struct World {
    app: TestApp,
    owner: Account,
    member: Account,
}

async fn world(app: TestApp) -> World {
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let member = app.signup("member@example.org").await;
    create_slug(&app, &owner.access, "delta-lab").await;
    verify(&app, &root.access, "delta-lab").await;
    join(&app, &owner.access, "delta-lab", &member, "member").await;
    World { app, owner, member }
}

/// The anonymous reads a catalogue page makes, each asked twice (the second
/// from the cache when it is on): their bodies.
async fn anonymous_views(app: &TestApp, id: &str, word: &str) -> [Value; 4] {
    let paths = [
        format!("/api/v1/datasets/{id}"),
        "/api/v1/resources?limit=50".to_string(),
        format!(
            "/api/v1/resources?q={}&facets=kind,tag&highlight=true",
            enc(word)
        ),
        format!("/api/v1/resources/suggest?q={}", enc(&word[..3])),
    ];
    let mut out: Vec<Value> = Vec::new();
    for path in &paths {
        let res = app.get(path).await;
        let status = res.status().as_u16();
        let first: Value = res.json().await.unwrap();
        let res = app.get(path).await;
        assert_eq!(res.status().as_u16(), status, "{path}");
        let second: Value = res.json().await.unwrap();
        assert_eq!(first, second, "{path}: asked twice in a row");
        out.push(if status == 200 {
            second
        } else {
            json!({"status": status})
        });
    }
    out.try_into().unwrap()
}

/// `GET path`, anonymous, with `If-None-Match: tag`.
async fn revalidate(app: &TestApp, path: &str, tag: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(IF_NONE_MATCH, tag)
        .send()
        .await
        .unwrap()
}

fn has(page: &Value, id: &str) -> bool {
    ids_of(page).iter().any(|i| i == id)
}

fn suggested(s: &Value, text: &str) -> bool {
    s["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["text"].as_str().unwrap_or("").contains(text))
}

async fn reads_follow_every_write(w: World) {
    let World { app, owner, .. } = &w;
    let id = published(
        app,
        &owner.access,
        DATASETS,
        "delta-lab",
        "Zambezi floods",
        json!({"tags": ["hydrology"]}),
    )
    .await;
    let [one, list, search, suggest] = anonymous_views(app, &id, "zambezi").await;
    assert_eq!(one["title"], "Zambezi floods");
    assert!(has(&list, &id) && has(&search, &id), "{list} {search}");
    assert_eq!(search["facets"]["kind"][0]["count"], 1, "{search}");
    assert!(suggested(&suggest, "Zambezi"), "{suggest}");

    // A new title: the next anonymous read of every view shows it.
    let res = edit_published(
        app,
        Some(&owner.access),
        &format!("/api/v1/datasets/{id}"),
        json!({"title": "Limpopo floods"}),
    )
    .await;
    body_of(res, 200).await;
    let [one, list, search, suggest] = anonymous_views(app, &id, "zambezi").await;
    assert_eq!(one["title"], "Limpopo floods");
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id.as_str())
        .expect("still listed");
    assert_eq!(item["title"], "Limpopo floods");
    assert!(
        !has(&search, &id),
        "the old word no longer finds it: {search}"
    );
    assert!(!suggested(&suggest, "Zambezi"), "{suggest}");
    let [_, _, search, suggest] = anonymous_views(app, &id, "limpopo").await;
    assert!(has(&search, &id), "{search}");
    assert!(suggested(&suggest, "Limpopo"), "{suggest}");

    // A draft never shows; once published it shows at once.
    let second = draft(
        app,
        &owner.access,
        DATASETS,
        "delta-lab",
        "Limpopo rain",
        json!({}),
    )
    .await;
    let [_, list, search, _] = anonymous_views(app, &id, "limpopo").await;
    assert!(!has(&list, &second) && !has(&search, &second));
    let res = call(
        app,
        Method::POST,
        &format!("/api/v1/datasets/{second}/publish"),
        Some(&owner.access),
        None,
    )
    .await;
    body_of(res, 200).await;
    let [_, list, search, _] = anonymous_views(app, &id, "limpopo").await;
    assert!(has(&list, &second) && has(&search, &second), "{search}");
    assert_eq!(search["facets"]["kind"][0]["count"], 2, "{search}");

    // Archived: gone from the anonymous views at once.
    let res = call(
        app,
        Method::POST,
        &format!("/api/v1/datasets/{id}/archive"),
        Some(&owner.access),
        None,
    )
    .await;
    body_of(res, 200).await;
    let [one, list, search, _] = anonymous_views(app, &id, "limpopo").await;
    assert_ne!(one["status"], "published", "{one}");
    assert!(!has(&list, &id) && !has(&search, &id), "{list}");
    assert_eq!(search["facets"]["kind"][0]["count"], 1, "{search}");
}

api_test!(anonymous_reads_follow_every_write, |backend| {
    reads_follow_every_write(world(start(backend).await).await).await;
});

api_test!(
    anonymous_reads_follow_every_write_with_the_cache_off,
    |backend| {
        let app = spawn_app_with(backend, |s| {
            s.http.public_cache_mib = 0;
            s.auth.argon2_memory_kib = 64;
            s.auth.argon2_iterations = 1;
        })
        .await;
        let Some(app) = app else { return };
        reads_follow_every_write(world(app).await).await;
    }
);

api_test!(if_none_match_is_answered_from_the_cache, |backend| {
    let w = world(start(backend).await).await;
    let id = published(
        &w.app,
        &w.owner.access,
        DATASETS,
        "delta-lab",
        "Okavango",
        json!({}),
    )
    .await;
    for path in [
        format!("/api/v1/datasets/{id}"),
        "/api/v1/resources?limit=5&q=okavango".to_string(),
    ] {
        let first = w.app.get(&path).await;
        assert_eq!(first.status(), 200);
        let tag = first.headers()[ETAG].to_str().unwrap().to_string();
        assert_eq!(first.headers()[CACHE_CONTROL], "public, no-cache");
        let again = w.app.get(&path).await;
        assert_eq!(again.headers()[ETAG].to_str().unwrap(), tag, "{path}");
        let revalidated = revalidate(&w.app, &path, &tag).await;
        assert_eq!(revalidated.status(), 304, "{path}");
        assert_eq!(revalidated.headers()[ETAG].to_str().unwrap(), tag);
        assert_eq!(revalidated.headers()[CACHE_CONTROL], "public, no-cache");
        assert!(revalidated.bytes().await.unwrap().is_empty());
        // Another tag: the whole answer.
        let other = revalidate(&w.app, &path, "\"nope\"").await;
        assert_eq!(other.status(), 200, "{path}");
    }
    // After a change the old tag no longer matches.
    let path = format!("/api/v1/datasets/{id}");
    let tag = w.app.get(&path).await.headers()[ETAG]
        .to_str()
        .unwrap()
        .to_string();
    let res = edit_published(
        &w.app,
        Some(&w.owner.access),
        &path,
        json!({"summary": "Changed words."}),
    )
    .await;
    body_of(res, 200).await;
    let res = revalidate(&w.app, &path, &tag).await;
    assert_eq!(res.status(), 200);
    assert_ne!(res.headers()[ETAG].to_str().unwrap(), tag);
});

api_test!(
    a_revalidation_first_does_not_keep_the_answer_out,
    |backend| {
        let w = world(start(backend).await).await;
        let id = published(
            &w.app,
            &w.owner.access,
            DATASETS,
            "delta-lab",
            "Kafue",
            json!({}),
        )
        .await;
        let path = format!("/api/v1/datasets/{id}");
        let tag = w.app.get(&path).await.headers()[ETAG]
            .to_str()
            .unwrap()
            .to_string();
        // A write: the cache starts again; the first request is a revalidation
        // of a stale tag (200), then one with the current tag (304).
        let res = edit_published(
            &w.app,
            Some(&w.owner.access),
            &path,
            json!({"summary": "Other words."}),
        )
        .await;
        body_of(res, 200).await;
        let fresh = revalidate(&w.app, &path, &tag).await;
        assert_eq!(fresh.status(), 200);
        let current = fresh.headers()[ETAG].to_str().unwrap().to_string();
        assert_eq!(revalidate(&w.app, &path, &current).await.status(), 304);
        // Plain reads still get the whole, current answer.
        for _ in 0..3 {
            let res = w.app.get(&path).await;
            assert_eq!(res.headers()[ETAG].to_str().unwrap(), current);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["summary"], "Other words.");
        }
    }
);

api_test!(signed_in_reads_never_get_the_anonymous_answer, |backend| {
    let w = world(start(backend).await).await;
    let open = published(
        &w.app,
        &w.owner.access,
        DATASETS,
        "delta-lab",
        "Open rivers",
        json!({}),
    )
    .await;
    let inside = published(
        &w.app,
        &w.owner.access,
        DATASETS,
        "delta-lab",
        "Inside rivers",
        json!({"visibility": "institution"}),
    )
    .await;
    let path = "/api/v1/resources?limit=10&q=rivers";
    for _ in 0..2 {
        let page = get_ok(&w.app, None, path).await;
        assert_eq!(ids_of(&page), std::slice::from_ref(&open), "{page}");
    }
    // The same request signed in: the member's own answer, kept private.
    let res = call(&w.app, Method::GET, path, Some(&w.member.access), None).await;
    assert_eq!(res.headers()[CACHE_CONTROL], "private, no-store");
    let page = body_of(res, 200).await;
    let mut ids = ids_of(&page);
    ids.sort();
    let mut want = vec![open.clone(), inside.clone()];
    want.sort();
    assert_eq!(ids, want, "{page}");
    // And the anonymous answer did not take the member's.
    let page = get_ok(&w.app, None, path).await;
    assert_eq!(ids_of(&page), [open], "{page}");
    let res = w.app.get(&format!("/api/v1/datasets/{inside}")).await;
    assert_eq!(res.status(), 404);
});

api_test!(
    writes_by_another_process_are_seen_within_the_poll_interval,
    |backend| {
        let Some(app) = spawn_app_with(backend, |s| s.http.public_cache_poll_ms = 100).await else {
            return;
        };
        let path = "/api/v1/resources?limit=5";
        for _ in 0..3 {
            assert_eq!(ids_of(&get_ok(&app, None, path).await).len(), 0);
        }
        // `kujenga seed-demo` in its own process, on the same database.
        let (url, dir) = (app.database.url.clone(), app.database.data_dir());
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_kujenga"))
                .env_remove("KUJENGA_CONFIG")
                .env_remove("KUJENGA_DATA_DIR")
                .env_remove("KUJENGA_BIND")
                .env("DATABASE_URL", url)
                .env("KUJENGA_LOG__LEVEL", "warn")
                .arg("--data-dir")
                .arg(dir)
                .args(["seed-demo", "--resources", "12"])
                .stdin(Stdio::null())
                .output()
                .expect("run kujenga seed-demo")
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let started = Instant::now();
        loop {
            let n = ids_of(&get_ok(&app, None, path).await).len();
            if n == 5 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "the other process's resources are still not listed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
);
