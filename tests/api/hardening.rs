//! Issue 13: control characters in every string parameter and body field
//! (driven by the OpenAPI document, so new endpoints are covered without
//! anyone remembering to), duplicate keys, slowly sent bodies, the request
//! deadline, errors the HTTP parser answers, foreign CORS preflights, a
//! readiness probe that needs a writable database, and audited refusals of
//! file links.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api_test;
use crate::helpers::access::{INST, dataset, institution};
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::audit::events;
use crate::helpers::http::call;
use crate::helpers::institutions::{create, verify};
use crate::helpers::{Backend, TestApp, problem, spawn_app_with};

const ANY_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

/// A value for a path parameter that routes (ids look like ids).
fn filler(name: &str) -> &'static str {
    if name.ends_with("id") || name == "token" {
        ANY_ID
    } else {
        "some-slug"
    }
}

/// The schema a `$ref` (or the schema itself) stands for.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        Some(name) => &doc["components"]["schemas"][name],
        None => schema,
    }
}

fn is_string(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(t) => t == "string",
        Value::Array(ts) => ts.iter().any(|t| t == "string"),
        _ => false,
    }
}

/// Every free-text string field of a request body (top level), with a
/// JSON value that puts a NUL into it and the field path the error names.
fn body_cases(doc: &Value, schema: &Value) -> Vec<(String, Value, String)> {
    let schema = resolve(doc, schema);
    let mut out = Vec::new();
    let Some(props) = schema["properties"].as_object() else {
        return out;
    };
    for (name, prop) in props {
        let prop = resolve(doc, prop);
        if is_string(prop) && prop.get("enum").is_none() {
            out.push((name.clone(), json!({ name: "a\u{0}b" }), name.clone()));
        } else if prop["type"] == "array" && is_string(resolve(doc, &prop["items"])) {
            out.push((
                name.clone(),
                json!({ name: ["fine", "a\u{0}b"] }),
                format!("{name}[1]"),
            ));
        }
    }
    out
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

api_test!(a_nul_in_any_string_parameter_or_field_is_a_400, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let path_of = |nul_in: Option<&str>| {
                let mut path = template.clone();
                for p in params.iter().filter(|p| p["in"] == "path") {
                    let name = p["name"].as_str().unwrap();
                    let value = if nul_in == Some(name) {
                        "a%00b"
                    } else {
                        filler(name)
                    };
                    path = path.replace(&format!("{{{name}}}"), value);
                }
                path
            };
            // Path and query parameters.
            for p in &params {
                let name = p["name"].as_str().unwrap();
                let schema = resolve(&doc, &p["schema"]);
                let stringy =
                    is_string(schema) || (schema["type"] == "array" && is_string(&schema["items"]));
                if !stringy || !matches!(p["in"].as_str(), Some("path" | "query")) {
                    continue;
                }
                let path = if p["in"] == "path" {
                    path_of(Some(name))
                } else {
                    format!("{}?{name}=a%00b", path_of(None))
                };
                checked += 1;
                let res = send(&app, method, &path, &root.access, None).await;
                let status = res.status().as_u16();
                if kujenga::http::text::OWN_TEXT_RULE.contains(&template.as_str()) {
                    // OAI-PMH: the protocol's error in a 200 XML answer.
                    let xml = res.text().await.unwrap_or_default();
                    let code = if name == "verb" {
                        "badVerb"
                    } else {
                        "badArgument"
                    };
                    if status != 200 || !xml.contains(&format!("<error code=\"{code}\">")) {
                        failures.push(format!("{method} {path}: {status} {xml}"));
                    }
                    continue;
                }
                let body: Value = res.json().await.unwrap_or(Value::Null);
                if status != 400 || body["errors"][0]["message"].as_str().is_none() {
                    failures.push(format!("{method} {path}: {status} {body}"));
                } else if p["in"] == "query" && body["errors"][0]["field"] != name {
                    failures.push(format!("{method} {path}: names {}", body["errors"][0]));
                }
            }
            // Body fields.
            let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
                continue;
            };
            for (_, body, field) in body_cases(&doc, schema) {
                checked += 1;
                let path = path_of(None);
                let res = send(&app, method, &path, &root.access, Some(&body)).await;
                let status = res.status().as_u16();
                let got: Value = res.json().await.unwrap_or(Value::Null);
                if status != 400 || got["errors"][0]["field"] != field.as_str() {
                    failures.push(format!("{method} {path} {body}: {status} {got}"));
                }
            }
        }
    }
    assert!(
        checked > 150,
        "only {checked} cases: is the document read right?"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} cases not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
});

api_test!(the_reported_nul_cases_answer_400_anonymously, |backend| {
    let app = start(backend).await;
    for path in [
        "/api/v1/resources?tag=%00",
        "/api/v1/resources?q=%00",
        "/api/v1/resources?institution=a%00b",
        "/api/v1/institutions?q=%00",
        "/api/v1/partnerships?institution=%00",
        "/api/v1/users?q=%00",
        "/api/v1/institutions/a%00b",
        "/api/v1/institutions/a%00b/members",
        "/api/v1/partnerships/a%00b",
        "/api/v1/resources?tag=a%09b",
        "/api/v1/resources?q=line%0Abreak",
    ] {
        let p = problem(app.get(path).await, 400).await;
        assert!(p["errors"][0]["field"].is_string(), "{path}: {p}");
    }
    let p = problem(
        app.post_json(
            "/api/v1/auth/login",
            json!({"email": "a\u{0}@example.org", "password": "whatever whatever"}),
            None,
        )
        .await,
        400,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "email");
});

api_test!(tabs_and_line_breaks_only_in_multi_line_fields, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let mut body = institution("multi", "KE");
    body["description"] = json!("First line,\r\nsecond line\tand a tab.");
    let created = create(&app, &root.access, body).await;
    assert_eq!(
        created["description"],
        "First line,\r\nsecond line\tand a tab."
    );
    for (field, value) in [
        ("name", "Two\nlines"),
        ("name", "Tab\there"),
        ("description", "Bell\u{7}"),
    ] {
        let mut body = institution("refused", "KE");
        body[field] = json!(value);
        let p = problem(
            app.post_json("/api/v1/institutions", body, Some(&root.access))
                .await,
            400,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], field, "{value:?}: {p}");
    }
    // Nothing was written by the refused ones.
    problem(app.get("/api/v1/institutions/refused").await, 404).await;
});

api_test!(duplicate_keys_in_a_body_are_refused, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    let raw = |path: &'static str, body: &'static str| {
        app.client
            .post(app.url(path))
            .bearer_auth(&root.access)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let p = problem(
        raw(
            "/api/v1/auth/login",
            r#"{"email": "a@example.org", "email": "root@example.org", "password": "x"}"#,
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "email");
    let p = problem(
        raw(
            "/api/v1/institutions",
            r#"{"slug": "dup", "name": "Dup", "country": "KE", "kind": "ngo", "kind": "university"}"#,
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "kind");
    problem(app.get("/api/v1/institutions/dup").await, 404).await;
});

// ----- slow clients -----------------------------------------------------------

/// Reads an HTTP answer until the server closes the connection (or `limit`).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

fn status_and_body(answer: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(answer).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn addr(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_string()
}

api_test!(a_slowly_sent_body_is_answered_408_and_closed, |backend| {
    let app = spawn_app_with(backend, |s| {
        s.http.body_timeout_secs = 2;
        s.http.request_timeout_secs = 5;
    })
    .await
    .unwrap();
    // Several at once: none of them holds the server.
    let mut clients = Vec::new();
    for _ in 0..5 {
        let addr = addr(&app);
        clients.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(
                    b"POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\n\
                      content-type: application/json\r\ncontent-length: 100000\r\n\r\n{",
                )
                .await
                .unwrap();
            let started = Instant::now();
            let (reader, mut writer) = stream.into_split();
            // One byte every 300 ms, for ever.
            let drip = tokio::spawn(async move {
                while writer.write_all(b" ").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            });
            let mut stream = reader;
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            let closed = loop {
                match tokio::time::timeout(Duration::from_secs(8), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break true,
                    Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                    Err(_) => break false,
                }
            };
            drip.abort();
            (out, closed, started.elapsed())
        }));
    }
    for client in clients {
        let (answer, closed, elapsed) = client.await.unwrap();
        let (status, head, body) = status_and_body(&answer);
        assert_eq!(status, 408, "{head}");
        assert!(
            head.contains("content-type: application/problem+json"),
            "{head}"
        );
        assert!(head.contains("connection: close"), "{head}");
        assert_eq!(body["status"], 408, "{body}");
        assert!(closed, "the connection stays open");
        assert!(
            elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(4),
            "{elapsed:?}"
        );
    }
    // The server still answers.
    assert_eq!(app.get("/healthz").await.status(), 200);
});

api_test!(a_request_past_its_deadline_is_answered_408, |backend| {
    // The login brake makes a handler wait 30 s; the deadline is 2 s.
    let app = spawn_app_with(backend, |s| {
        s.http.body_timeout_secs = 1;
        s.http.request_timeout_secs = 2;
        s.auth.brake_threshold = 1;
        s.auth.brake_interval_secs = 30;
        s.auth.brake_max_wait_secs = 60;
    })
    .await
    .unwrap();
    let login = || app.login("slow@example.org", "not the password at all");
    problem(login().await, 401).await; // the brake is on now
    problem(login().await, 401).await; // takes the free turn
    let started = Instant::now();
    let res = login().await; // waits 30 s for its turn: cut off at 2 s
    let elapsed = started.elapsed();
    assert_eq!(
        res.headers()
            .get("connection")
            .and_then(|v| v.to_str().ok()),
        Some("close")
    );
    let p = problem(res, 408).await;
    assert!(p["detail"].is_string(), "{p}");
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
});

// ----- errors before a request exists ------------------------------------------

async fn raw(app: &TestApp, bytes: &[u8]) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(addr(app)).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    status_and_body(&answer)
}

api_test!(errors_of_the_http_parser_are_problems_too, |backend| {
    let app = spawn_app_with(backend, |_| {}).await.unwrap();
    let long_uri = format!(
        "GET /api/v1/resources?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(100_000)
    );
    let big_header = format!(
        "GET /api/v1/resources HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n",
        "b".repeat(300_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a 100 kB URI", long_uri.into_bytes()),
        ("a 300 kB header", big_header.into_bytes()),
        ("garbage", b"\x00\x01\x02 nonsense\r\n\r\n".to_vec()),
        ("a broken request line", b"GET\r\n\r\n".to_vec()),
        (
            "a bad header",
            b"GET /healthz HTTP/1.1\r\nbad header line\r\n\r\n".to_vec(),
        ),
    ];
    for (case, bytes) in cases {
        let (status, head, body) = raw(&app, &bytes).await;
        assert!(matches!(status, 400 | 414 | 431), "{case}: {status} {head}");
        assert!(
            head.contains("content-type: application/problem+json"),
            "{case}: {head}"
        );
        assert_eq!(body["status"], status, "{case}: {body}");
        assert!(
            body["title"].is_string() && body["detail"].is_string(),
            "{case}: {body}"
        );
    }
    // Well-formed requests on a fresh connection are unaffected.
    assert_eq!(app.get("/healthz").await.status(), 200);
});

api_test!(
    a_preflight_from_a_foreign_origin_is_not_an_error,
    |backend| {
        let app = spawn_app_with(backend, |s| {
            s.http.cors_allowed_origins = vec!["https://app.example.org".into()];
        })
        .await
        .unwrap();
        let preflight = |origin: &'static str| {
            app.client
                .request(Method::OPTIONS, app.url("/api/v1/resources"))
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .send()
        };
        let foreign = preflight("https://elsewhere.example").await.unwrap();
        assert!(foreign.status().is_success(), "{}", foreign.status());
        assert!(
            foreign
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
        let allowed = preflight("https://app.example.org").await.unwrap();
        assert!(allowed.status().is_success());
        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "https://app.example.org"
        );
        // A simple request from the foreign origin is served, without CORS headers.
        let res = app
            .client
            .get(app.url("/api/v1/resources"))
            .header("origin", "https://elsewhere.example")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("access-control-allow-origin").is_none());
    }
);

// ----- readiness ---------------------------------------------------------------

api_test!(readyz_needs_a_database_that_commits_writes, |backend| {
    // One connection: the read-only switch below is the probe's connection.
    let app = spawn_app_with(backend, |s| s.database.pool_size = 1)
        .await
        .unwrap();
    assert_eq!(app.get("/readyz").await.status(), 200);
    let (off, on) = match backend {
        Backend::Sqlite => ("PRAGMA query_only = ON", "PRAGMA query_only = OFF"),
        Backend::Postgres => (
            "SET default_transaction_read_only = on",
            "SET default_transaction_read_only = off",
        ),
    };
    let run = |sql: &'static str| {
        app.db.run(move |conn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute(sql)
        })
    };
    run(off).await.unwrap();
    let res = app.get("/readyz").await;
    assert!(res.headers().contains_key("retry-after"));
    problem(res, 503).await;
    // Liveness is another matter.
    assert_eq!(app.get("/healthz").await.status(), 200);
    run(on).await.unwrap();
    assert_eq!(app.get("/readyz").await.status(), 200);
});

// ----- refused file links --------------------------------------------------------

api_test!(refused_file_links_are_audited_once_per_window, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@example.org").await;
    create(&app, &root.access, institution(INST, "KE")).await;
    verify(&app, &root.access, INST).await;
    let ds = dataset(&app, &root.access, "Radio transcripts", json!({})).await;
    let outsider = app.signup("outsider@example.org").await;
    let link = format!("/api/v1/datasets/{}/files/{}/link", ds.id, ds.file);
    for _ in 0..4 {
        let p = problem(
            call(&app, Method::GET, &link, Some(&outsider.access), None).await,
            403,
        )
        .await;
        assert_eq!(p["type"], "urn:kujenga:problem:access-grant-required");
    }
    let refused = events(&app, &root.access, "action=dataset.file_link_refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    let e = &refused[0];
    assert_eq!(e["actor_id"], outsider.id.as_str(), "{e}");
    assert_eq!(e["subject_id"], ds.file.as_str(), "{e}");
    assert_eq!(e["detail"]["reason"], "access-grant-required", "{e}");
    assert_eq!(e["detail"]["dataset_id"], ds.id.as_str(), "{e}");
    // Anonymous refusals are audited with the client's address.
    problem(call(&app, Method::GET, &link, None, None).await, 403).await;
    let refused = events(&app, &root.access, "action=dataset.file_link_refused").await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .any(|e| e["actor_id"].is_null() && e["detail"]["client_ip"] == "127.0.0.1"),
        "{refused:?}"
    );
    // Issued links are still audited as before, and an owner is never refused.
    let ok = call(&app, Method::GET, &link, Some(&root.access), None).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        events(&app, &root.access, "action=dataset.file_link_issued")
            .await
            .len(),
        1
    );
});
