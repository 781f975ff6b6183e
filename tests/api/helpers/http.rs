//! Talking HTTP to the application and reading its answers: requests with
//! a token, a body and headers; JSON bodies and problems checked on the way;
//! headers; list pages walked one item at a time.

use reqwest::Method;
use serde_json::Value;

use super::app::TestApp;

/// Reads a problem+json body, checking the media type and status field.
pub async fn problem(res: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: serde_json::Value = res.json().await.expect("problem body");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert!(body["type"].is_string(), "{body}");
    body
}

/// Sends `method path` with an optional bearer token, JSON body and headers.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("request")
}

pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    send(app, method, path, token, body, &[]).await
}

/// Reads a JSON body after checking the status.
pub async fn body_of(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let url = res.url().path().to_string();
    let text = res.text().await.expect("body");
    assert_eq!(got, status, "{url}: {text}");
    serde_json::from_str(&text).expect("JSON body")
}

/// A problem of the given `urn:kujenga:problem:` type.
pub async fn typed(res: reqwest::Response, status: u16, kind: &str) -> Value {
    let body = problem(res, status).await;
    assert_eq!(
        body["type"],
        format!("urn:kujenga:problem:{kind}"),
        "{body}"
    );
    body
}

/// A 400 validation problem naming exactly `expected` fields.
pub async fn invalid(res: reqwest::Response, expected: &[&str]) -> Value {
    let body = typed(res, 400, "validation-error").await;
    let mut got: Vec<String> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            assert!(e["message"].is_string(), "{body}");
            e["field"].as_str().expect("field").to_string()
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|f| (*f).to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{body}");
    body
}

pub fn etag_of(res: &reqwest::Response) -> String {
    res.headers()
        .get("etag")
        .expect("an ETag")
        .to_str()
        .unwrap()
        .to_string()
}

pub fn link_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_string())
}

pub fn strings(items: &Value, key: &str) -> Vec<String> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|i| i[key].as_str().expect(key).to_string())
        .collect()
}

/// Walks a list with `limit=1` and returns `key` of every item, checking
/// `next_cursor` and `Link` on the way.
pub async fn walk(app: &TestApp, token: Option<&str>, path: &str, key: &str) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    for _ in 0..50 {
        let url = match &cursor {
            None => format!("{path}{sep}limit=1"),
            Some(c) => format!("{path}{sep}limit=1&cursor={c}"),
        };
        let res = call(app, Method::GET, &url, token, None).await;
        let link = link_of(&res);
        let page = body_of(res, 200).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 1, "{page}");
        seen.extend(items.iter().map(|i| i[key].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => {
                let link = link.expect("a Link header with a next page");
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                assert!(link.contains(&format!("cursor={c}")), "{link}");
                cursor = Some(c.to_string());
            }
            None => {
                assert!(link.is_none(), "no Link on the last page");
                return seen;
            }
        }
    }
    panic!("pagination did not end");
}
