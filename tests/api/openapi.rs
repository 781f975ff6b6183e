//! The contract: the served OpenAPI document is the committed one, and the
//! Swagger UI works with no internet access.

use crate::api_test;
use crate::helpers::openapi::committed_spec;

api_test!(served_document_is_the_committed_one, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let res = app.get("/api/v1/openapi.json").await;
    assert_eq!(res.status(), 200);
    let served = res.text().await.unwrap();
    assert!(
        served == committed_spec(),
        "api-spec/openapi.json is stale: regenerate it with \
         `cargo run -- openapi > api-spec/openapi.json`"
    );
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
});

api_test!(swagger_ui_is_served_offline, |backend| {
    let app = spawn_app(backend).await.unwrap();
    let res = app.get("/docs").await;
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/docs/");
    let res = app.get("/docs/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "no CDN assets: {html}");
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"] {
        let res = app.get(asset).await;
        assert_eq!(res.status(), 200, "{asset}");
        assert!(res.bytes().await.unwrap().len() > 10_000, "{asset}");
    }
    let init = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(init.contains("/api/v1/openapi.json"), "{init}");
});

/// Clients generated from the document name their methods by operationId;
/// schemathesis resolves inferred links by it. Two operations sharing one
/// confuse both.
#[test]
fn operation_ids_are_unique() {
    let doc: serde_json::Value = serde_json::from_str(&committed_spec()).unwrap();
    let mut seen = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                assert!(
                    seen.insert(id.to_string()),
                    "{method} {path}: `{id}` is used twice"
                );
            }
        }
    }
    assert!(seen.len() > 60);
}
