//! `kujenga seed-demo`: what it writes is a catalogue the API serves, and a
//! second run on the same database is refused.

use std::collections::HashSet;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::http::body_of;
use crate::helpers::{TestApp, TestDatabase};

fn seed_demo(database: &TestDatabase, resources: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kujenga"))
        .env_remove("KUJENGA_CONFIG")
        .env_remove("KUJENGA_DATA_DIR")
        .env_remove("KUJENGA_BIND")
        .env("DATABASE_URL", &database.url)
        .env("KUJENGA_LOG__LEVEL", "warn")
        .arg("--data-dir")
        .arg(database.data_dir())
        .args(["seed-demo", "--resources", resources])
        .stdin(Stdio::null())
        .output()
        .expect("run kujenga seed-demo")
}

/// Every item of `GET /api/v1/resources`, seven to a page.
async fn walk(app: &TestApp, token: Option<&str>) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = "/api/v1/resources?limit=7".to_string();
    loop {
        let res = match token {
            Some(t) => app.get_auth(&path, t).await,
            None => app.get(&path).await,
        };
        let page = body_of(res, 200).await;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= 7, "{page}");
        items.extend(got.iter().cloned());
        assert!(items.len() <= 60, "the pages never end");
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/resources?limit=7&cursor={cursor}"),
            None => return items,
        }
    }
}

api_test!(seed_demo_fills_a_fresh_catalogue_once, |backend| {
    let database = TestDatabase::new(backend).unwrap();
    let (database, first, second) = tokio::task::spawn_blocking(move || {
        let first = seed_demo(&database, "60");
        let second = seed_demo(&database, "60");
        (database, first, second)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("60 published resources"), "{stdout}");
    let example = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("example dataset: "))
        .expect("an example dataset")
        .trim()
        .to_string();
    // The second run changes nothing and says why, with exit code 2.
    let refused = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{refused}");
    assert!(refused.contains("demo data is already here"), "{refused}");

    let app = spawn_app_on(database, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
    })
    .await;
    let root = admin(&app, "root@example.org").await;
    let all = walk(&app, Some(&root.access)).await;
    assert_eq!(all.len(), 60);
    let ids: HashSet<&str> = all.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 60, "no item twice across pages");
    let kinds: HashSet<&str> = all.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    for r in &all {
        assert_eq!(r["status"], "published", "{r}");
        assert!(
            r["institution"].as_str().unwrap().starts_with("demo-"),
            "{r}"
        );
    }
    // Anonymous readers see exactly the public ones.
    let public = all.iter().filter(|r| r["visibility"] == "public").count();
    let seen = walk(&app, None).await;
    assert!(public > 0);
    assert_eq!(seen.len(), public);
    assert!(seen.iter().all(|r| r["visibility"] == "public"));

    let dataset = body_of(app.get(&format!("/api/v1/datasets/{example}")).await, 200).await;
    assert_eq!(dataset["visibility"], "public");
    assert!(dataset["datasheet"]["motivation"].is_string(), "{dataset}");
    let files = body_of(
        app.get(&format!("/api/v1/datasets/{example}/files")).await,
        200,
    )
    .await;
    assert!(!files["items"].as_array().unwrap().is_empty(), "{files}");
});
