//! The contract: the served OpenAPI document is the committed one, and the
//! Swagger UI works with no internet access.

use serde_json::{Value, json};

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

/// Issue 16, point 12: every operation's JSON request body and success
/// (200/201) JSON response shows an example, so a frontend developer reads
/// what goes over the wire without calling it.
///
/// The rule ([`bodies_without_examples`]): a body has an example when its
/// media type has `example` or `examples`, or its schema has one, reached
/// through `$ref`, array `items`, composition (`oneOf`/`anyOf`: every
/// non-null variant; `allOf`: any part) or an object's properties (any one:
/// a page of items has an example when its item type has one).
/// Enumerations and `null` exemplify themselves. In practice each
/// component a body uses carries a schema-level `#[schema(example = …)]`.
#[test]
fn every_body_has_an_example() {
    let doc: Value = serde_json::from_str(&committed_spec()).unwrap();
    let (checked, missing) = bodies_without_examples(&doc);
    assert!(checked > 100, "only {checked} bodies found");
    assert!(
        missing.is_empty(),
        "bodies without an example ({}):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// The rule, on a small document: what it accepts and what it reports.
#[test]
fn the_example_rule_reports_bodies_without_one() {
    let doc = json!({
        "paths": {
            "/a": {
                "post": {
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Bare"}}}},
                    "responses": {"201": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Shown"}}}}}
                },
                "get": {
                    "responses": {
                        "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}},
                        "404": {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Bare"}}}}
                    }
                },
                "parameters": []
            },
            "/b": {
                "put": {
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Bare"}, "example": {"x": 1}}}},
                    "responses": {"200": {"content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Shown"}, {"$ref": "#/components/schemas/Bare"}]}}}}}
                },
                "patch": {
                    "requestBody": {"content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Loop"}, {"type": "null"}]}}}},
                    "responses": {"200": {"content": {"text/plain": {"schema": {"type": "string"}}}}}
                }
            }
        },
        "components": {"schemas": {
            "Bare": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "Shown": {"type": "object", "properties": {"x": {"type": "integer"}}, "example": {"x": 1}},
            "Page": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Shown"}}, "next_cursor": {"type": ["string", "null"]}}},
            "Loop": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Loop"}}}
        }}
    });
    let (checked, mut missing) = bodies_without_examples(&doc);
    missing.sort();
    assert_eq!(checked, 6);
    assert_eq!(
        missing,
        [
            "patch /b: request (application/json)",
            "post /a: request (application/json)",
            "put /b: 200 (application/json)",
        ]
    );
}

/// How many JSON bodies (requests, 200 and 201 responses) `doc` has, and
/// those without an example (`method path: request|status (type)`).
fn bodies_without_examples(doc: &Value) -> (usize, Vec<String>) {
    let schemas = &doc["components"]["schemas"];
    let has_example = |media: &Value| {
        media.get("example").is_some()
            || media.get("examples").is_some()
            || exemplified(schemas, &media["schema"], &mut Vec::new())
    };
    let mut missing = Vec::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let mut bodies = Vec::new();
            if let Some(content) = op["requestBody"]["content"].as_object() {
                bodies.extend(content.iter().map(|(ct, m)| ("request", ct, m)));
            }
            for status in ["200", "201"] {
                if let Some(content) = op["responses"][status]["content"].as_object() {
                    bodies.extend(content.iter().map(|(ct, m)| (status, ct, m)));
                }
            }
            for (what, content_type, media) in bodies {
                if !content_type.contains("json") {
                    continue;
                }
                checked += 1;
                if !has_example(media) {
                    missing.push(format!("{method} {path}: {what} ({content_type})"));
                }
            }
        }
    }
    (checked, missing)
}

/// Whether schema `s` shows an example (the rule above); `seen` holds the
/// components being followed, so a self-reference ends the walk.
fn exemplified(schemas: &Value, s: &Value, seen: &mut Vec<String>) -> bool {
    let Some(obj) = s.as_object() else {
        return true;
    };
    if obj.contains_key("example") || obj.contains_key("examples") {
        return true;
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default().to_string();
        if seen.contains(&name) {
            return false;
        }
        seen.push(name.clone());
        let found = exemplified(schemas, &schemas[name.as_str()], seen);
        seen.pop();
        return found;
    }
    if obj.contains_key("enum") || obj.contains_key("const") || s["type"] == "null" {
        return true;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = obj.get(key).and_then(Value::as_array) {
            return variants.iter().all(|v| exemplified(schemas, v, seen));
        }
    }
    if let Some(parts) = obj.get("allOf").and_then(Value::as_array) {
        return parts.iter().any(|v| exemplified(schemas, v, seen));
    }
    if let Some(items) = obj.get("items") {
        return exemplified(schemas, items, seen);
    }
    obj.get("properties")
        .and_then(Value::as_object)
        .is_some_and(|props| props.values().any(|p| exemplified(schemas, p, seen)))
}

/// An example is only useful if it is right: every schema-level example of
/// a component conforms to the component's own schema (formats included).
#[test]
fn component_examples_conform_to_their_schemas() {
    let doc: Value = serde_json::from_str(&committed_spec()).unwrap();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let Some(example) = schema.get("example") else {
            continue;
        };
        checked += 1;
        let mut root = schema.clone();
        root.as_object_mut().unwrap().remove("example");
        root["components"] = doc["components"].clone();
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .expect("a valid schema");
        for e in validator.iter_errors(example) {
            wrong.push(format!("{name}{}: {e}", e.instance_path()));
        }
    }
    assert!(checked > 40, "only {checked} examples");
    assert!(
        wrong.is_empty(),
        "examples off their schema:\n{}",
        wrong.join("\n")
    );
}
