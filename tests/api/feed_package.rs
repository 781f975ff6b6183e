//! A course's offline package (`GET /api/v1/courses/{id}/package`): the zip's
//! manifest against the modules (sizes, SHA-256 computed here), resuming
//! with `Range` (206, 416, `If-Range`), versions (ETag and the feed's
//! `version`), and the course read's access rules.

use std::io::Read;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::http::{body_of, call, problem, send};
use crate::helpers::institutions::{create, verify};
use crate::helpers::{Account, TestApp};

struct Course {
    app: TestApp,
    owner: Account,
    outsider: Account,
    id: String,
    /// `(title, content)` of each module, in order.
    modules: Vec<(String, Option<String>)>,
}

async fn course(backend: crate::helpers::Backend, publish: bool) -> Course {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let owner = app.signup("owner@example.org").await;
    let outsider = app.signup("outsider@example.org").await;
    create(
        &app,
        &owner.access,
        json!({"slug": "pkg-lab", "name": "Package Lab", "country": "KE", "kind": "university"}),
    )
    .await;
    verify(&app, &root.access, "pkg-lab").await;
    let res = app
        .post_json(
            "/api/v1/courses",
            json!({"institution": "pkg-lab", "title": "Offline NLP", "summary": "Learn offline.",
                   "license": "CC-BY-4.0", "languages": ["sw"], "level": "beginner",
                   "duration_hours": 6}),
            Some(&owner.access),
        )
        .await;
    let id = body_of(res, 201).await["id"].as_str().unwrap().to_string();
    let modules: Vec<(String, Option<String>)> = vec![
        (
            "Tokens".into(),
            Some("# Tokens\n\nManeno ya Kiswahili — ñ, é, 🌍.".into()),
        ),
        ("Video only".into(), None),
        (
            "Embeddings".into(),
            Some(format!("{}end", "Vectors. ".repeat(400))),
        ),
    ];
    for (title, content) in &modules {
        let mut body = json!({"title": title});
        match content {
            Some(c) => body["content"] = json!(c),
            None => body["content_url"] = json!("https://cdn.example.org/v.mp4"),
        }
        let res = app
            .post_json(
                &format!("/api/v1/courses/{id}/modules"),
                body,
                Some(&owner.access),
            )
            .await;
        body_of(res, 201).await;
    }
    if publish {
        let res = call(
            &app,
            Method::POST,
            &format!("/api/v1/courses/{id}/publish"),
            Some(&owner.access),
            None,
        )
        .await;
        body_of(res, 200).await;
    }
    Course {
        app,
        owner,
        outsider,
        id,
        modules,
    }
}

async fn feed(app: &TestApp, token: Option<&str>, query: &str) -> Value {
    let res = call(
        app,
        Method::GET,
        &format!("/api/v1/changes{query}"),
        token,
        None,
    )
    .await;
    body_of(res, 200).await
}

fn path(id: &str) -> String {
    format!("/api/v1/courses/{id}/package")
}

async fn download(
    app: &TestApp,
    id: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    send(app, Method::GET, &path(id), token, None, headers).await
}

fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut out = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.insert(f.name().unwrap().to_string(), data);
    }
    out
}

api_test!(
    the_package_holds_the_modules_with_sizes_and_hashes,
    |backend| {
        let c = course(backend, true).await;
        let res = download(&c.app, &c.id, None, &[("Accept-Encoding", "gzip, br")]).await;
        assert_eq!(res.status(), 200);
        let h = res.headers().clone();
        assert_eq!(h["content-type"], "application/zip");
        assert_eq!(h["accept-ranges"], "bytes");
        assert!(
            h.get("content-encoding").is_none_or(|v| v == "identity"),
            "{h:?}"
        );
        let etag = h["etag"].to_str().unwrap().to_string();
        let len: usize = h["content-length"].to_str().unwrap().parse().unwrap();
        let bytes = res.bytes().await.unwrap().to_vec();
        assert_eq!(bytes.len(), len);
        let files = unzip(&bytes);
        let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(manifest["format"], "kujenga-course-package/1");
        assert_eq!(manifest["course_id"], c.id.as_str());
        let course: Value = serde_json::from_slice(&files["course.json"]).unwrap();
        assert_eq!(course["title"], "Offline NLP");
        let listed = manifest["modules"].as_array().unwrap();
        assert_eq!(listed.len(), c.modules.len());
        for (m, (title, content)) in listed.iter().zip(&c.modules) {
            assert_eq!(m["title"], title.as_str());
            let text = content.clone().unwrap_or_default();
            assert_eq!(m["content_bytes"], text.len(), "{m}");
            assert_eq!(
                m["content_sha256"],
                hex::encode(Sha256::digest(text.as_bytes())),
                "{m}"
            );
            match content {
                Some(_) => {
                    let p = m["content_path"].as_str().unwrap();
                    assert_eq!(files[p], text.as_bytes(), "{p}");
                }
                None => {
                    assert_eq!(m["content_path"], Value::Null);
                    assert_eq!(m["content_url"], "https://cdn.example.org/v.mp4");
                }
            }
            let meta: Value =
                serde_json::from_slice(&files[m["metadata_path"].as_str().unwrap()]).unwrap();
            assert_eq!(meta["id"], m["id"]);
        }
        // The same package again: the same bytes; 304 when you have it.
        let again = download(&c.app, &c.id, None, &[])
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(again.to_vec(), bytes);
        let res = download(&c.app, &c.id, None, &[("If-None-Match", &etag)]).await;
        assert_eq!(res.status(), 304);

        // An interrupted download resumes.
        let cut = 100.min(len / 2);
        let res = download(
            &c.app,
            &c.id,
            None,
            &[("Range", &format!("bytes=0-{}", cut - 1))],
        )
        .await;
        assert_eq!(res.status(), 206);
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes 0-{}/{len}", cut - 1).as_str()
        );
        let mut resumed = res.bytes().await.unwrap().to_vec();
        assert_eq!(resumed.len(), cut);
        let res = download(
            &c.app,
            &c.id,
            None,
            &[("Range", &format!("bytes={cut}-")), ("If-Range", &etag)],
        )
        .await;
        assert_eq!(res.status(), 206);
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes {cut}-{}/{len}", len - 1).as_str()
        );
        resumed.extend(res.bytes().await.unwrap());
        assert_eq!(resumed, bytes);
        // The last bytes.
        let res = download(&c.app, &c.id, None, &[("Range", "bytes=-10")]).await;
        assert_eq!(res.status(), 206);
        assert_eq!(
            res.bytes().await.unwrap().to_vec(),
            bytes[len - 10..].to_vec()
        );
        // Past the end.
        let res = download(&c.app, &c.id, None, &[("Range", &format!("bytes={len}-"))]).await;
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes */{len}").as_str()
        );
        problem(res, 416).await;

        // A module changes: a new package (new tag), a new feed version, and a
        // range under the old tag comes whole.
        let feed_before = feed(&c.app, None, "").await["cursor"]
            .as_str()
            .unwrap()
            .to_string();
        let modules: Value = body_of(
            c.app
                .get(&format!("/api/v1/courses/{}/modules", c.id))
                .await,
            200,
        )
        .await;
        let first = modules["items"][0]["id"].as_str().unwrap().to_string();
        let res = call(
            &c.app,
            Method::PATCH,
            &format!("/api/v1/courses/{}/modules/{first}", c.id),
            Some(&c.owner.access),
            Some(json!({"content": "Rewritten."})),
        )
        .await;
        body_of(res, 200).await;
        let res = download(
            &c.app,
            &c.id,
            None,
            &[("Range", &format!("bytes={cut}-")), ("If-Range", &etag)],
        )
        .await;
        assert_eq!(res.status(), 200, "a changed package comes whole");
        let new_etag = res.headers()["etag"].to_str().unwrap().to_string();
        assert_ne!(new_etag, etag);
        let files = unzip(&res.bytes().await.unwrap());
        let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(
            manifest["modules"][0]["content_sha256"],
            hex::encode(Sha256::digest(b"Rewritten."))
        );
        let page = feed(&c.app, None, &format!("?since={feed_before}")).await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{page}");
        assert_eq!(items[0]["id"], c.id.as_str());
        assert_eq!(items[0]["kind"], "course");
    }
);

api_test!(the_package_follows_the_course_read, |backend| {
    let c = course(backend, false).await;
    // A draft: its editors only.
    let res = download(&c.app, &c.id, Some(&c.owner.access), &[]).await;
    assert_eq!(res.status(), 200);
    problem(download(&c.app, &c.id, None, &[]).await, 404).await;
    problem(
        download(&c.app, &c.id, Some(&c.outsider.access), &[]).await,
        404,
    )
    .await;
    // Not a course, not an id.
    problem(download(&c.app, "not-an-id", None, &[]).await, 404).await;
    problem(
        download(&c.app, "0193a5c2-7f10-7000-8000-000000000000", None, &[]).await,
        404,
    )
    .await;
    // A dataset is no course.
    let res = c
        .app
        .post_json(
            "/api/v1/datasets",
            json!({"institution": "pkg-lab", "title": "Data", "summary": "S.", "license": "CC-BY-4.0",
                   "languages": ["en"]}),
            Some(&c.owner.access),
        )
        .await;
    let ds = body_of(res, 201).await["id"].as_str().unwrap().to_string();
    problem(download(&c.app, &ds, Some(&c.owner.access), &[]).await, 404).await;
    // Published: everyone; no query parameters taken.
    let res = call(
        &c.app,
        Method::POST,
        &format!("/api/v1/courses/{}/publish", c.id),
        Some(&c.owner.access),
        None,
    )
    .await;
    body_of(res, 200).await;
    assert_eq!(download(&c.app, &c.id, None, &[]).await.status(), 200);
    let res = call(
        &c.app,
        Method::GET,
        &format!("{}?format=tar", path(&c.id)),
        None,
        None,
    )
    .await;
    problem(res, 400).await;
});
