//! `/healthz`, `/readyz`, `/metrics`.

use crate::api_test;

api_test!(healthz_answers_without_io, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
});

api_test!(readyz_reports_the_database, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], expected);
});

/// With its database gone, the instance says it is not ready (503
/// problem+json with Retry-After) while staying alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_the_database_is_gone() {
    use crate::helpers::*;
    let Some(app) = spawn_app(Backend::Postgres).await else {
        eprintln!("skipped: set {PG_ENV} to run on PostgreSQL");
        return;
    };
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.database.pg.as_ref().unwrap().drop_now();
    let res = app.get("/readyz").await;
    assert!(res.headers().get("retry-after").is_some());
    let body = problem(res, 503).await;
    let text = body.to_string();
    assert!(!text.contains("kujenga_test_"), "no internals: {text}");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

api_test!(metrics_count_requests_by_route_and_status, |backend| {
    let app = spawn_app(backend).await.unwrap();
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/path").await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            r#"kujenga_http_requests_total{method="GET",route="/healthz",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"kujenga_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(
        "kujenga_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\""
    ));
    assert!(text.contains("kujenga_db_pool_connections{state=\"idle\"}"));
    assert!(text.contains("kujenga_db_pool_connections{state=\"in_use\"}"));
    assert!(text.contains("kujenga_db_pool_max_connections 4"), "{text}");
    // Raw paths never become labels.
    assert!(!text.contains("/no/such/path"));
});
