//! Issue 16, point 4 (course filters): `max_duration_hours` on `/resources`
//! and `/courses` keeps the courses that take at most that many hours;
//! courses without a duration and other kinds are left out; an edit moves
//! a course in or out; bad values answer 400 with a code; the migration
//! backfills the terms of courses stored before it.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::http::{body_of, call, etag_of, problem};
use crate::helpers::institutions::{create, verify};
use crate::helpers::search::{COURSES, DATASETS, MODEL_CARDS, get_ok, published};
use crate::helpers::versions::edit_published_with;
use crate::helpers::{Account, TestApp};

const MIGRATION: &str = "2026-12-09-120000_duration_terms";

struct World {
    app: TestApp,
    owner: Account,
    /// title → id
    ids: Vec<(&'static str, String)>,
}

impl World {
    fn id(&self, title: &str) -> &str {
        &self.ids.iter().find(|(t, _)| *t == title).unwrap().1
    }

    /// The titles a list answers (every page is one page here: limit 100).
    async fn titles(&self, token: Option<&str>, path: &str) -> BTreeSet<String> {
        let page = get_ok(&self.app, token, path).await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap().to_string())
            .collect()
    }
}

fn set(titles: &[&str]) -> BTreeSet<String> {
    titles.iter().map(|t| (*t).to_string()).collect()
}

async fn world(backend: crate::helpers::Backend) -> World {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@kujenga.test").await;
    create(
        &app,
        &owner.access,
        json!({"slug": "dur-lab", "name": "Duration Lab", "country": "KE", "kind": "university"}),
    )
    .await;
    verify(&app, &root.access, "dur-lab").await;
    let mut ids = Vec::new();
    for (title, coll, extra) in [
        ("Two hours", COURSES, json!({"duration_hours": 2})),
        ("Ten hours", COURSES, json!({"duration_hours": 10})),
        ("Ten and a half", COURSES, json!({"duration_hours": 10.5})),
        ("Long", COURSES, json!({"duration_hours": 120})),
        ("Free time", COURSES, json!({"duration_hours": null})),
        ("A dataset", DATASETS, json!({})),
        ("A card", MODEL_CARDS, json!({})),
    ] {
        let id = published(&app, &owner.access, coll, "dur-lab", title, extra).await;
        ids.push((title, id));
    }
    World { app, owner, ids }
}

api_test!(max_duration_hours_keeps_short_enough_courses, |backend| {
    let w = world(backend).await;
    let all = w.titles(None, "/api/v1/resources?limit=100").await;
    assert_eq!(all.len(), 7, "{all:?}");
    for (query, expected) in [
        ("max_duration_hours=10", vec!["Two hours", "Ten hours"]),
        (
            "max_duration_hours=10.5",
            vec!["Two hours", "Ten hours", "Ten and a half"],
        ),
        ("max_duration_hours=9.99", vec!["Two hours"]),
        ("max_duration_hours=0", vec![]),
        (
            "max_duration_hours=1000000000000",
            vec!["Two hours", "Ten hours", "Ten and a half", "Long"],
        ),
        ("max_duration_hours=10&kind=dataset", vec![]),
        (
            "max_duration_hours=10&kind=course,model_card",
            vec!["Two hours", "Ten hours"],
        ),
        (
            "max_duration_hours=200&level=beginner",
            vec!["Two hours", "Ten hours", "Ten and a half", "Long"],
        ),
        ("max_duration_hours=200&level=advanced", vec![]),
    ] {
        for base in ["/api/v1/resources", "/api/v1/courses"] {
            let got = w.titles(None, &format!("{base}?limit=100&{query}")).await;
            assert_eq!(got, set(&expected), "{base}?{query}");
        }
    }
    // Other kinds' lists take the filter too, and find no course there.
    let got = w
        .titles(None, "/api/v1/datasets?limit=100&max_duration_hours=1000")
        .await;
    assert!(got.is_empty(), "{got:?}");
    // With a count, and with a text query.
    let page = get_ok(
        &w.app,
        None,
        "/api/v1/resources?max_duration_hours=10&count=true",
    )
    .await;
    assert_eq!(page["total"], 2, "{page}");
    let got = w
        .titles(None, "/api/v1/resources?max_duration_hours=10&q=ten")
        .await;
    assert_eq!(got, set(&["Ten hours"]));
});

api_test!(an_edit_moves_a_course_in_or_out, |backend| {
    let w = world(backend).await;
    // A published course changes through the draft of its next version;
    // the edit counts once that version is published.
    let path = format!("/api/v1/courses/{}", w.id("Long"));
    let res = call(&w.app, Method::GET, &path, Some(&w.owner.access), None).await;
    let etag = etag_of(&res);
    let res = edit_published_with(
        &w.app,
        Some(&w.owner.access),
        &path,
        json!({"duration_hours": 3}),
        &[("If-Match", &etag)],
    )
    .await;
    let body = body_of(res, 200).await;
    assert_eq!(body["duration_hours"], 3.0, "{body}");
    let got = w
        .titles(None, "/api/v1/resources?limit=100&max_duration_hours=10")
        .await;
    assert_eq!(got, set(&["Two hours", "Ten hours", "Long"]));
    // Clearing the duration takes it out again.
    let res = call(&w.app, Method::GET, &path, Some(&w.owner.access), None).await;
    let etag = etag_of(&res);
    let res = edit_published_with(
        &w.app,
        Some(&w.owner.access),
        &path,
        json!({"duration_hours": null}),
        &[("If-Match", &etag)],
    )
    .await;
    body_of(res, 200).await;
    let got = w
        .titles(None, "/api/v1/resources?limit=100&max_duration_hours=10")
        .await;
    assert_eq!(got, set(&["Two hours", "Ten hours"]));
});

api_test!(bad_max_duration_hours_answer_400_with_a_code, |backend| {
    let w = world(backend).await;
    for (value, code) in [
        ("abc", "wrong_type"),
        ("", "wrong_type"),
        ("ten", "wrong_type"),
        ("-1", "out_of_range"),
        ("1000000000001", "out_of_range"),
        ("1e13", "out_of_range"),
        ("NaN", "out_of_range"),
        ("inf", "out_of_range"),
    ] {
        for base in ["/api/v1/resources", "/api/v1/courses"] {
            let path = format!("{base}?max_duration_hours={value}");
            let res = call(&w.app, Method::GET, &path, None, None).await;
            let p = problem(res, 400).await;
            assert_eq!(p["type"], "urn:kujenga:problem:validation-error", "{path}");
            let errors = p["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{path}: {p}");
            assert_eq!(errors[0]["field"], "max_duration_hours", "{path}");
            assert_eq!(errors[0]["code"], code, "{path}: {p}");
            if code == "out_of_range" {
                assert_eq!(errors[0]["params"]["min"], 0, "{p}");
                assert_eq!(errors[0]["params"]["max"], 1_000_000_000_000_i64, "{p}");
            } else {
                assert_eq!(errors[0]["params"]["expected"], "number", "{p}");
            }
            assert!(
                p["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("max_duration_hours: "),
                "{p}"
            );
        }
    }
    // Given twice: refused, not one value kept.
    let res = call(
        &w.app,
        Method::GET,
        "/api/v1/resources?max_duration_hours=10&max_duration_hours=2",
        None,
        None,
    )
    .await;
    let p = problem(res, 400).await;
    assert_eq!(p["errors"][0]["field"], "max_duration_hours", "{p}");
    assert_eq!(p["errors"][0]["code"], "repeated", "{p}");
});

api_test!(the_migration_backfills_stored_courses, |backend| {
    let w = world(backend).await;
    let query = "/api/v1/resources?limit=100&max_duration_hours=10";
    assert_eq!(
        w.titles(None, query).await,
        set(&["Two hours", "Ten hours"])
    );
    let manager = kujenga::db::ConnectionManager::new(&w.app.database.settings()).unwrap();
    let mut conn = manager.establish().unwrap();
    // Down to before the migration: the terms are gone, nothing matches.
    let mut reverted = Vec::new();
    while let Some(name) = kujenga::db::revert_last_migration(&mut conn).unwrap() {
        let done = name == MIGRATION;
        reverted.push(name);
        if done {
            break;
        }
    }
    assert_eq!(reverted.last().map(String::as_str), Some(MIGRATION));
    // (Read in the database: the application itself needs the columns that
    // later migrations add, e.g. `resources.doi`.)
    {
        use diesel::prelude::*;
        use kujenga::db::schema::resource_terms as rt;
        let terms: i64 = rt::table
            .filter(rt::facet.eq("duration_hours"))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(terms, 0);
    }
    // Up again: the backfill writes the same terms the application writes.
    let applied = kujenga::db::run_migrations(&mut conn).unwrap();
    assert_eq!(applied.len(), reverted.len());
    assert_eq!(
        w.titles(None, query).await,
        set(&["Two hours", "Ten hours"])
    );
    assert_eq!(
        w.titles(None, "/api/v1/resources?limit=100&max_duration_hours=10.5")
            .await,
        set(&["Two hours", "Ten hours", "Ten and a half"])
    );
});
