//! Behaviour every endpoint inherits: problem+json errors, 404/405, body
//! limits, request ids, security headers, compression, CORS.

use crate::api_test;

api_test!(unknown_routes_are_404_problems, |backend| {
    let app = spawn_app(backend).await.unwrap();
    for path in ["/nope", "/api/v1/nope", "/api/v1/", "/api/v2/courses"] {
        let body = problem(app.get(path).await, 404).await;
        assert_eq!(body["type"], "about:blank", "{path}");
    }
    let res = app
        .client
        .delete(app.url("/api/v1/nothing-here/123"))
        .send()
        .await
        .unwrap();
    problem(res, 404).await;
});

api_test!(wrong_method_is_405_with_allow, |backend| {
    let app = spawn_app(backend).await.unwrap();
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::DELETE,
            reqwest::Method::PUT,
        ] {
            let res = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap();
            let allow = res.headers()["allow"].to_str().unwrap().to_string();
            assert!(allow.contains("GET"), "{method} {path}: {allow}");
            problem(res, 405).await;
        }
    }
    // HEAD is answered wherever GET is.
    let res = app.client.head(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
});

api_test!(request_ids_are_echoed_or_generated, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "partner-app.42:abc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "partner-app.42:abc");

    // Missing or unsafe ids are replaced by a fresh UUIDv7.
    for sent in [None, Some("has spaces and <tags>"), Some(&*"x".repeat(200))] {
        let mut req = app.client.get(app.url("/healthz"));
        if let Some(id) = sent {
            req = req.header("x-request-id", id);
        }
        let res = req.send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap();
        let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
        assert_eq!(uuid.get_version_num(), 7);
    }

    // Errors carry it too, in the header and the problem body.
    let res = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "trace-me")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me");
    let body = problem(res, 404).await;
    assert_eq!(body["request_id"], "trace-me");
});

api_test!(security_headers_on_every_response, |backend| {
    let app = spawn_app(backend).await.unwrap();
    for path in ["/healthz", "/nope", "/api/v1/openapi.json"] {
        let res = app.get(path).await;
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer", "{path}");
    }
});

api_test!(responses_are_compressed_when_accepted, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let plain = app.get("/api/v1/openapi.json").await;
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.unwrap().len();
    for encoding in ["gzip", "br"] {
        let res = app
            .client
            .get(app.url("/api/v1/openapi.json"))
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-encoding"], encoding);
        let len = res.bytes().await.unwrap().len();
        assert!(len < plain_len / 2, "{encoding}: {len} vs {plain_len}");
    }
});

api_test!(oversized_bodies_are_413_problems, |backend| {
    let app = spawn_app_with(backend, |s| s.http.body_limit_bytes = 2048)
        .await
        .unwrap();
    let res = app
        .client
        .post(app.url("/api/v1/anything"))
        .header("idempotency-key", "k-413")
        .header("content-type", "application/json")
        .body(format!("{{\"x\": \"{}\"}}", "a".repeat(4096)))
        .send()
        .await
        .unwrap();
    let body = problem(res, 413).await;
    assert!(body["detail"].as_str().unwrap().contains("2048"), "{body}");
});

api_test!(the_default_body_limit_is_one_mebibyte, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let send = |size: usize| {
        app.client
            .post(app.url("/api/v1/anything"))
            .header("idempotency-key", format!("k-{size}"))
            .header("content-type", "application/json")
            .body(vec![b' '; size])
            .send()
    };
    // Exactly the limit is read (then the unknown route answers 404)...
    problem(send(1024 * 1024).await.unwrap(), 404).await;
    // ...one byte more is refused.
    let body = problem(send(1024 * 1024 + 1).await.unwrap(), 413).await;
    assert!(
        body["detail"].as_str().unwrap().contains("1048576"),
        "{body}"
    );
});

api_test!(malformed_idempotency_key_is_400, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let res = app
        .client
        .post(app.url("/api/v1/anything"))
        .header("idempotency-key", "")
        .body("{}")
        .send()
        .await
        .unwrap();
    let body = problem(res, 400).await;
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
});

api_test!(cors_allows_only_configured_origins, |backend| {
    let app = spawn_app_with(backend, |s| {
        s.http.cors_allowed_origins = vec!["https://app.example.org".into()]
    })
    .await
    .unwrap();
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/healthz"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let res = preflight("https://app.example.org").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );
    let res = preflight("https://evil.example.com").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let res = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://app.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    for h in ["etag", "link", "x-request-id"] {
        assert!(exposed.contains(h), "{exposed}");
    }
    // Another origin is served, but without CORS headers.
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
});

api_test!(cors_default_allows_no_origin, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://app.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
});
