//! The reusable pieces later endpoints are built from (JSON bodies with
//! field errors, cursor pagination, ETags, Idempotency-Key), mounted on a
//! small app over the real middleware and a real database and exercised
//! over HTTP.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use kujenga::db::Db;
use kujenga::error::ApiError;
use kujenga::http::etag;
use kujenga::http::idempotency::{IdempotencyTtl, idempotency};
use kujenga::http::json::{BodyLimit, Json, Query};
use kujenga::http::pagination::{PageQuery, Paginated};
use kujenga::http::problems::ensure_problem;
use serde::{Deserialize, Serialize};

use crate::api_test;
use crate::helpers::{Backend, TestDatabase};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewThing {
    name: String,
    size: u32,
    #[serde(default)]
    #[allow(dead_code)]
    tags: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Thing {
    id: usize,
    name: String,
    size: u32,
}

/// A list's own filters; the page parameters come in a second extractor
/// over the same query string.
#[derive(Debug, Deserialize)]
struct ListFilters {
    min: Option<i64>,
}

struct BlocksApp {
    address: String,
    client: reqwest::Client,
    created: Arc<AtomicUsize>,
    _database: TestDatabase,
}

async fn create(
    counter: web::Data<Arc<AtomicUsize>>,
    Json(new): Json<NewThing>,
) -> Result<HttpResponse, ApiError> {
    if new.name == "invalid" {
        return Err(ApiError::field(
            "name",
            kujenga::error::FieldCode::NotAllowedValue,
            "This name is not allowed.",
        ));
    }
    if new.name == "slow" {
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    let id = counter.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/things/{id}")))
        .json(Thing {
            id,
            name: new.name,
            size: new.size,
        }))
}

async fn list(
    req: HttpRequest,
    Query(page): Query<PageQuery>,
    Query(filters): Query<ListFilters>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<i64>()?;
    let min = filters.min.unwrap_or(1);
    let rows: Vec<i64> = (min..=45)
        .filter(|v| page.after.is_none_or(|a| *v > a))
        .take(usize::try_from(page.fetch_limit()).unwrap())
        .collect();
    Ok(Paginated::from_rows(rows, &page, |v| *v).respond(&req))
}

async fn show(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    etag::respond(
        &req,
        &serde_json::json!({"id": 1, "name": "maize yields", "version": 2}),
    )
}

async fn update(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let current =
        etag::etag_of_json(&serde_json::json!({"id": 1, "name": "maize yields", "version": 2}))?;
    etag::check_if_match(&req, &current)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn number(n: web::Path<u32>) -> HttpResponse {
    HttpResponse::Ok().json(n.into_inner())
}

const HOUR: Duration = Duration::from_secs(3600);

async fn spawn_blocks(backend: Backend, body_limit: usize, ttl: Duration) -> BlocksApp {
    let database = TestDatabase::new(backend).unwrap();
    let settings = database.settings();
    let db = tokio::task::spawn_blocking(move || Db::connect(&settings))
        .await
        .unwrap()
        .unwrap();
    let created = Arc::new(AtomicUsize::new(0));
    let counter = web::Data::new(created.clone());
    let db = web::Data::new(db);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(db.clone())
            .app_data(counter.clone())
            .app_data(kujenga::http::json::path_config())
            .app_data(web::Data::new(BodyLimit(body_limit)))
            .app_data(web::Data::new(IdempotencyTtl(ttl)))
            .service(
                web::scope("")
                    .wrap(from_fn(idempotency))
                    .route("/things", web::post().to(create))
                    .route("/things", web::get().to(list))
                    .route("/things/1", web::get().to(show))
                    .route("/things/1", web::patch().to(update))
                    .route("/numbers/{n}", web::get().to(number)),
            )
            .wrap(from_fn(ensure_problem))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    BlocksApp {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        created,
        _database: database,
    }
}

impl BlocksApp {
    fn post(&self, body: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/things", self.address))
            .header("content-type", "application/json")
            .body(body.to_string())
    }
}

api_test!(json_bodies_fail_with_field_errors, |backend| {
    let app = spawn_blocks(backend, 4096, HOUR).await;
    let cases: &[(&str, &str, &str)] = &[
        ("{\"name\": \"a\", \"size\": 1", "$", "malformed JSON"),
        ("{\"name\": \"a\", \"size\": \"big\"}", "size", "wrong type"),
        ("{\"name\": \"a\", \"size\": -3}", "size", "negative number"),
        (
            "{\"name\": \"a\", \"size\": 1, \"colour\": \"red\"}",
            "colour",
            "unknown field",
        ),
        ("{\"size\": 1}", "name", "missing field"),
        (
            "{\"name\": \"a\", \"size\": 1, \"tags\": [1]}",
            "tags[0]",
            "array item type",
        ),
        ("", "$", "empty body"),
        ("[]", "$", "not an object"),
    ];
    for (body, field, case) in cases {
        let res = app.post(body).send().await.unwrap();
        let problem = crate::helpers::problem(res, 400).await;
        assert_eq!(
            problem["type"], "urn:kujenga:problem:validation-error",
            "{case}"
        );
        assert_eq!(problem["errors"][0]["field"], *field, "{case}: {problem}");
        assert!(problem["errors"][0]["message"].is_string(), "{case}");
    }
    assert_eq!(app.created.load(Ordering::SeqCst), 0, "nothing was created");

    // Not JSON at all → 415; over the limit → 413.
    let res = app
        .client
        .post(format!("{}/things", app.address))
        .header("content-type", "text/plain")
        .body("name=a")
        .send()
        .await
        .unwrap();
    crate::helpers::problem(res, 415).await;
    let big = format!("{{\"name\": \"{}\", \"size\": 1}}", "a".repeat(5000));
    let res = app.post(&big).send().await.unwrap();
    crate::helpers::problem(res, 413).await;
    assert_eq!(app.created.load(Ordering::SeqCst), 0);

    let res = app
        .post("{\"name\": \"ok\", \"size\": 2}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
});

api_test!(pagination_walks_pages_with_link_headers, |backend| {
    let app = spawn_blocks(backend, 4096, HOUR).await;
    let mut url = format!("{}/things?limit=20&min=3", app.address);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let link = res
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_string());
        let body: serde_json::Value = res.json().await.unwrap();
        let items: Vec<i64> = serde_json::from_value(body["items"].clone()).unwrap();
        seen.extend(items);
        pages += 1;
        match (body["next_cursor"].as_str(), link) {
            (Some(cursor), Some(link)) => {
                assert!(link.ends_with("rel=\"next\""), "{link}");
                assert!(link.contains("min=3"), "filters are kept: {link}");
                assert!(link.contains(cursor), "{link}");
                let target = link.trim_start_matches('<').split('>').next().unwrap();
                url = format!("{}{}", app.address, target);
            }
            (None, None) => break,
            other => panic!("cursor and Link must agree: {other:?}"),
        }
    }
    assert_eq!(seen, (3..=45).collect::<Vec<_>>());
    assert_eq!(pages, 3);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=eyJub3QiOiJhIGN1cnNvciJ9", "cursor"),
    ] {
        let res = app
            .client
            .get(format!("{}/things?{query}", app.address))
            .send()
            .await
            .unwrap();
        let problem = crate::helpers::problem(res, 400).await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}");
    }
    let res = app
        .client
        .get(format!("{}/things", app.address))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 20, "default limit");
});

api_test!(bad_path_parameters_are_400_problems, |backend| {
    let app = spawn_blocks(backend, 4096, HOUR).await;
    let ok = app
        .client
        .get(format!("{}/numbers/42", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    for bad in ["abc", "-1", "99999999999"] {
        let res = app
            .client
            .get(format!("{}/numbers/{bad}", app.address))
            .send()
            .await
            .unwrap();
        crate::helpers::problem(res, 400).await;
    }
});

api_test!(etags_give_304_and_412, |backend| {
    let app = spawn_blocks(backend, 4096, HOUR).await;
    let url = format!("{}/things/1", app.address);
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "strong: {etag}"
    );

    let res = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
    let res = app
        .client
        .get(&url)
        .header("if-none-match", "\"old\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = app
        .client
        .patch(&url)
        .header("if-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .client
        .patch(&url)
        .header("if-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    let problem = crate::helpers::problem(res, 412).await;
    assert_eq!(problem["type"], "urn:kujenga:problem:stale-version");
});

api_test!(idempotency_key_replays_the_first_response, |backend| {
    let app = spawn_blocks(backend, 4096, HOUR).await;
    let body = "{\"name\": \"cassava\", \"size\": 3}";
    let first = app
        .post(body)
        .header("idempotency-key", "key-1")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let first_body = first.text().await.unwrap();

    let again = app
        .post(body)
        .header("idempotency-key", "key-1")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.text().await.unwrap(), first_body);
    assert_eq!(app.created.load(Ordering::SeqCst), 1, "created once");

    // Same key, other body → 422, nothing created.
    let res = app
        .post("{\"name\": \"maize\", \"size\": 3}")
        .header("idempotency-key", "key-1")
        .send()
        .await
        .unwrap();
    let problem = crate::helpers::problem(res, 422).await;
    assert_eq!(
        problem["type"],
        "urn:kujenga:problem:idempotency-key-reused"
    );
    assert_eq!(app.created.load(Ordering::SeqCst), 1);

    // Keys belong to their caller: another credential has its own space.
    let res = app
        .post(body)
        .header("idempotency-key", "key-1")
        .header("authorization", "Bearer someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.created.load(Ordering::SeqCst), 2);

    // No key: every POST runs.
    app.post(body).send().await.unwrap();
    app.post(body).send().await.unwrap();
    assert_eq!(app.created.load(Ordering::SeqCst), 4);
});

api_test!(idempotency_key_is_freed_by_a_failed_request, |backend| {
    let app = spawn_blocks(backend, 4096, HOUR).await;
    let bad = "{\"name\": \"invalid\", \"size\": 1}";
    for _ in 0..2 {
        let res = app
            .post(bad)
            .header("idempotency-key", "key-2")
            .send()
            .await
            .unwrap();
        crate::helpers::problem(res, 400).await;
    }
    // A malformed body is a failure too, and frees the key.
    let res = app
        .post("{oops")
        .header("idempotency-key", "key-3")
        .send()
        .await
        .unwrap();
    crate::helpers::problem(res, 400).await;
    let res = app
        .post("{\"name\": \"fixed\", \"size\": 1}")
        .header("idempotency-key", "key-3")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(app.created.load(Ordering::SeqCst), 1);
});

api_test!(idempotency_key_in_flight_is_409, |backend| {
    let app = spawn_blocks(backend, 4096, HOUR).await;
    let slow = "{\"name\": \"slow\", \"size\": 1}";
    let first = app.post(slow).header("idempotency-key", "key-4").send();
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.post(slow)
            .header("idempotency-key", "key-4")
            .send()
            .await
            .unwrap()
    };
    let (first, second) = tokio::join!(first, second);
    // Whichever reserved the key first runs (a loaded machine may reorder
    // them); the other is told to come back.
    let (done, busy) = match first.unwrap() {
        r if r.status() == 201 => (r, second),
        r => (second, r),
    };
    assert_eq!(done.status(), 201);
    assert_eq!(busy.headers()["retry-after"], "1");
    let problem = crate::helpers::problem(busy, 409).await;
    assert_eq!(
        problem["type"],
        "urn:kujenga:problem:idempotency-key-in-use"
    );
    assert_eq!(app.created.load(Ordering::SeqCst), 1);
    // After it finished, a retry replays it.
    let res = app
        .post(slow)
        .header("idempotency-key", "key-4")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(app.created.load(Ordering::SeqCst), 1);
});

api_test!(idempotency_keys_expire, |backend| {
    let app = spawn_blocks(backend, 4096, Duration::from_secs(1)).await;
    let res = app
        .post("{\"name\": \"first\", \"size\": 1}")
        .header("idempotency-key", "key-ttl")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // Expired: the key is free again, even for another body.
    let res = app
        .post("{\"name\": \"second\", \"size\": 1}")
        .header("idempotency-key", "key-ttl")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.created.load(Ordering::SeqCst), 2);
});

api_test!(concurrent_first_uses_of_a_key_run_once, |backend| {
    let app = spawn_blocks(backend, 4096, HOUR).await;
    let body = "{\"name\": \"slow\", \"size\": 1}";
    let sends = (0..6).map(|_| app.post(body).header("idempotency-key", "key-race").send());
    let results = futures_util::future::join_all(sends).await;
    let statuses: Vec<u16> = results
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(app.created.load(Ordering::SeqCst), 1);
});
