//! Issue 16, point 10 (errors an app can translate): every field error
//! carries a `code` of the closed set the OpenAPI document lists
//! (`FieldCode`) and a `params` object; the `detail` of a validation
//! problem summarises its first errors; shape and field errors answer 400,
//! business rules 422. A broad sweep of bad inputs over the whole surface,
//! then the codes and parameters of typical mistakes one by one.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::http::send;
use crate::helpers::institutions::{create, verify};
use crate::helpers::search::{COURSES, draft};

/// One request of the sweep: what it sends, the status it must get, and the
/// `(field, code)` pairs its errors must hold (others may come too).
struct Case {
    what: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    raw: Option<&'static str>,
    status: u16,
    expect: Vec<(&'static str, &'static str)>,
}

fn case(
    what: &'static str,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
    expect: &[(&'static str, &'static str)],
) -> Case {
    Case {
        what,
        method,
        path: path.to_string(),
        body,
        raw: None,
        status,
        expect: expect.to_vec(),
    }
}

/// The codes the served OpenAPI document lists for `FieldError.code`.
async fn documented_codes(app: &crate::helpers::TestApp) -> BTreeSet<String> {
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["FieldError"]["properties"]["code"]["$ref"],
        "#/components/schemas/FieldCode"
    );
    assert!(
        schemas["FieldError"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("params")),
        "params is always sent"
    );
    schemas["FieldCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// Checks one problem body: codes from the set, params objects, detail a
/// summary of the first errors.
fn check_problem(what: &str, p: &Value, codes: &BTreeSet<String>) -> Vec<(String, String)> {
    let errors = p["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors: {p}"));
    assert!(!errors.is_empty(), "{what}: {p}");
    let mut out = Vec::new();
    for e in errors {
        let code = e["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no code: {e}"));
        assert!(
            codes.contains(code),
            "{what}: undocumented code {code}: {e}"
        );
        assert!(e["params"].is_object(), "{what}: params not an object: {e}");
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {e}"
        );
        out.push((e["field"].as_str().unwrap().to_string(), code.to_string()));
    }
    let detail = p["detail"].as_str().unwrap();
    assert_ne!(detail, "The request is not valid.", "{what}: fixed detail");
    let first = errors[0]["field"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("{first}: "))
            || detail.contains(&format!(": {first}: "))
            || detail.contains(&format!("`{first}`")),
        "{what}: detail does not summarise: {detail}"
    );
    if errors.len() > 3 {
        assert!(
            detail.ends_with(&format!("(and {} more).", errors.len() - 3)),
            "{what}: {detail}"
        );
    }
    out
}

api_test!(every_field_error_has_a_documented_code, |backend| {
    let app = start(backend).await;
    let codes = documented_codes(&app).await;
    assert!(codes.len() >= 20, "{codes:?}");
    for code in [
        "required",
        "too_long",
        "invalid_country",
        "not_allowed_value",
        "unknown_field",
    ] {
        assert!(codes.contains(code), "{code}");
    }
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@kujenga.test").await;
    create(
        &app,
        &owner.access,
        json!({"slug": "err-lab", "name": "Error Lab", "country": "KE", "kind": "university"}),
    )
    .await;
    verify(&app, &root.access, "err-lab").await;
    let incomplete = draft(
        &app,
        &owner.access,
        COURSES,
        "err-lab",
        "Half done",
        json!({"summary": null, "modules": []}),
    )
    .await;
    let long = "x".repeat(300);
    let post = Method::POST;
    let get = Method::GET;
    let mut cases = vec![
        case(
            "register: nothing",
            post.clone(),
            "/api/v1/auth/register",
            Some(json!({})),
            400,
            &[("email", "required")],
        ),
        case(
            "register: bad fields",
            post.clone(),
            "/api/v1/auth/register",
            Some(
                json!({"email": "not-an-address", "password": "x", "display_name": "",
                         "country": "XX"}),
            ),
            400,
            &[
                ("email", "invalid_email"),
                ("display_name", "required"),
                ("country", "invalid_country"),
            ],
        ),
        case(
            "register: short password",
            post.clone(),
            "/api/v1/auth/register",
            Some(json!({"email": "new@kujenga.test", "password": "short", "display_name": "New"})),
            400,
            &[("password", "too_short")],
        ),
        case(
            "register: unknown client app",
            post.clone(),
            "/api/v1/auth/register",
            Some(
                json!({"email": "new2@kujenga.test", "password": crate::helpers::PASSWORD,
                         "display_name": "New", "client_id": "no-such-app"}),
            ),
            400,
            &[("client_id", "not_found")],
        ),
        case(
            "register: link base without app",
            post.clone(),
            "/api/v1/auth/register",
            Some(
                json!({"email": "new3@kujenga.test", "password": crate::helpers::PASSWORD,
                         "display_name": "New", "link_base": "https://app.example.org"}),
            ),
            400,
            &[("link_base", "inconsistent")],
        ),
        case(
            "register: wrong type",
            post.clone(),
            "/api/v1/auth/register",
            Some(json!({"email": 3, "password": "x", "display_name": "y"})),
            400,
            &[("email", "wrong_type")],
        ),
        case(
            "register: unknown field",
            post.clone(),
            "/api/v1/auth/register",
            Some(
                json!({"email": "a@kujenga.test", "password": "x", "display_name": "y",
                         "colour": "red"}),
            ),
            400,
            &[("colour", "unknown_field")],
        ),
        case(
            "course: many bad fields",
            post.clone(),
            "/api/v1/courses",
            Some(
                json!({"institution": "err-lab", "license": "NOPE-1", "languages": ["!!"],
                         "countries": ["ZZ"], "level": "expert", "duration_hours": "ten",
                         "tags": [long.clone()], "colour": "red", "id": "x"}),
            ),
            400,
            &[
                ("title", "required"),
                ("license", "invalid_licence"),
                ("languages", "invalid_language"),
                ("countries", "invalid_country"),
                ("level", "not_allowed_value"),
                ("duration_hours", "wrong_type"),
                ("tags", "too_long"),
                ("colour", "unknown_field"),
                ("id", "read_only"),
            ],
        ),
        case(
            "course: numbers out of range",
            post.clone(),
            "/api/v1/courses",
            Some(
                json!({"institution": "err-lab", "title": long.clone(), "duration_hours": -3,
                         "offline_package_bytes": -1, "offline_package_url": "ftp://x"}),
            ),
            400,
            &[
                ("title", "too_long"),
                ("duration_hours", "out_of_range"),
                ("offline_package_bytes", "out_of_range"),
                ("offline_package_url", "invalid_format"),
            ],
        ),
        case(
            "course: no institution",
            post.clone(),
            "/api/v1/courses",
            Some(json!({"title": "T"})),
            400,
            &[("institution", "required")],
        ),
        case(
            "dataset: policy needs countries",
            post.clone(),
            "/api/v1/datasets",
            Some(json!({"institution": "err-lab", "title": "D",
                         "transfer_policy": "allowed_countries", "datasheet": {"nope": "x"}})),
            400,
            &[
                ("allowed_countries", "too_few"),
                ("datasheet.nope", "unknown_field"),
            ],
        ),
        case(
            "model card: results rows",
            post.clone(),
            "/api/v1/model-cards",
            Some(
                json!({"institution": "err-lab", "title": "M", "risk_tier": "extreme",
                         "results": [{"metric": "f1"}, 3]}),
            ),
            400,
            &[
                ("risk_tier", "not_allowed_value"),
                ("results[0].task", "required"),
                ("results[0].value", "required"),
                ("results[1]", "wrong_type"),
            ],
        ),
        case(
            "institution: bad fields",
            post.clone(),
            "/api/v1/institutions",
            Some(
                json!({"slug": "A", "name": "", "country": "XX", "kind": "university",
                         "website": "nope"}),
            ),
            400,
            &[
                ("slug", "invalid_format"),
                ("name", "required"),
                ("country", "invalid_country"),
                ("website", "invalid_format"),
            ],
        ),
        case(
            "institution: unknown kind",
            post.clone(),
            "/api/v1/institutions",
            Some(json!({"slug": "abc", "name": "N", "country": "KE", "kind": "castle"})),
            400,
            &[("kind", "not_allowed_value")],
        ),
        case(
            "partnership: dates",
            post.clone(),
            "/api/v1/partnerships",
            Some(
                json!({"slug": "p-one", "title": "P", "description": "", "goals": "",
                         "starts_on": "2027-01-01", "ends_on": "2026-01-01"}),
            ),
            400,
            &[("ends_on", "inconsistent")],
        ),
        case(
            "partnership: not a date",
            post.clone(),
            "/api/v1/partnerships",
            Some(
                json!({"slug": "p-two", "title": "P", "description": "", "goals": "",
                         "starts_on": "soon", "ends_on": "2026-01-01"}),
            ),
            400,
            &[("starts_on", "invalid_format")],
        ),
        case(
            "token: nothing chosen",
            post.clone(),
            "/api/v1/me/tokens",
            Some(json!({"name": "", "scopes": []})),
            400,
            &[("name", "required"), ("scopes", "too_few")],
        ),
        case(
            "token: unknown scope",
            post.clone(),
            "/api/v1/me/tokens",
            Some(json!({"name": "n", "scopes": ["admin"]})),
            400,
            &[("scopes[0]", "not_allowed_value")],
        ),
        case(
            "me: bad profile",
            Method::PATCH,
            "/api/v1/me",
            Some(json!({"country": "XX", "languages": ["!!"], "display_name": long.clone()})),
            400,
            &[
                ("display_name", "too_long"),
                ("country", "invalid_country"),
                ("languages", "invalid_language"),
            ],
        ),
        case(
            "me: email change needs the password",
            Method::PATCH,
            "/api/v1/me",
            Some(json!({"email": "other@kujenga.test"})),
            400,
            &[("current_password", "required")],
        ),
        case(
            "list: unknown parameter",
            get.clone(),
            "/api/v1/resources?bogus=1",
            None,
            400,
            &[("bogus", "unknown_field")],
        ),
        case(
            "list: repeated parameter",
            get.clone(),
            "/api/v1/resources?kind=course&kind=dataset",
            None,
            400,
            &[("kind", "repeated")],
        ),
        case(
            "list: limit",
            get.clone(),
            "/api/v1/resources?limit=1000",
            None,
            400,
            &[("limit", "out_of_range")],
        ),
        case(
            "list: limit not a number",
            get.clone(),
            "/api/v1/institutions?limit=many",
            None,
            400,
            &[("limit", "out_of_range")],
        ),
        case(
            "list: cursor",
            get.clone(),
            "/api/v1/resources?cursor=zzz",
            None,
            400,
            &[("cursor", "invalid_format")],
        ),
        case(
            "list: word filters",
            get.clone(),
            "/api/v1/resources?kind=book&language=!!&country=ZZ&license=NOPE&facets=colour&fields=colour",
            None,
            400,
            &[
                ("kind", "not_allowed_value"),
                ("language", "invalid_language"),
                ("country", "invalid_country"),
                ("license", "invalid_licence"),
                ("facets", "not_allowed_value"),
                ("fields", "not_allowed_value"),
            ],
        ),
        case(
            "list: updated_since",
            get.clone(),
            "/api/v1/resources?updated_since=yesterday",
            None,
            400,
            &[("updated_since", "invalid_format")],
        ),
        case(
            "list: status word",
            get.clone(),
            "/api/v1/resources?status=gone",
            None,
            400,
            &[("status", "not_allowed_value")],
        ),
        case(
            "list: control character",
            get.clone(),
            "/api/v1/resources?q=a%01b",
            None,
            400,
            &[("q", "control_characters")],
        ),
        case(
            "report: month",
            get.clone(),
            "/api/v1/transparency/access-report?from=2026-13",
            None,
            400,
            &[("from", "invalid_format")],
        ),
        case(
            "publish: incomplete (business rule)",
            post.clone(),
            &format!("/api/v1/courses/{incomplete}/publish"),
            None,
            422,
            &[("summary", "required"), ("modules", "too_few")],
        ),
        case(
            "accept: unknown invitation",
            post.clone(),
            "/api/v1/invitations/accept",
            Some(json!({"token": "nope"})),
            400,
            &[("token", "invalid_token")],
        ),
        case(
            "verify: unknown link",
            post.clone(),
            "/api/v1/auth/verify-email",
            Some(json!({"token": "nope"})),
            400,
            &[("token", "invalid_token")],
        ),
    ];
    for (raw, what) in [
        ("[]", "body: an array"),
        ("{", "body: cut short"),
        ("", "body: empty"),
        (
            r#"{"name": "a", "name": "b", "scopes": ["read"]}"#,
            "body: key twice",
        ),
    ] {
        let mut c = case(what, post.clone(), "/api/v1/me/tokens", None, 400, &[]);
        c.raw = Some(raw);
        c.expect = if what == "body: key twice" {
            vec![("name", "repeated")]
        } else {
            vec![("$", "invalid_json")]
        };
        cases.push(c);
    }
    let mut seen_codes = BTreeSet::new();
    for c in &cases {
        let token = if c.what.starts_with("register") || c.what.starts_with("verify") {
            None
        } else if c.what.starts_with("partnership") {
            Some(root.access.as_str())
        } else {
            Some(owner.access.as_str())
        };
        let res = match c.raw {
            Some(raw) => {
                let mut req = app
                    .client
                    .request(c.method.clone(), app.url(&c.path))
                    .header("content-type", "application/json")
                    .body(raw.to_string());
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                req.send().await.unwrap()
            }
            None => send(&app, c.method.clone(), &c.path, token, c.body.clone(), &[]).await,
        };
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(status, c.status, "{}: {text}", c.what);
        let p: Value = serde_json::from_str(&text).unwrap();
        let got = check_problem(c.what, &p, &codes);
        for (field, code) in &c.expect {
            assert!(
                got.iter().any(|(f, k)| f == field && k == code),
                "{}: no ({field}, {code}) in {got:?}",
                c.what
            );
        }
        seen_codes.extend(got.into_iter().map(|(_, k)| k));
    }
    // The sweep exercised a good part of the set.
    assert!(seen_codes.len() >= 20, "{seen_codes:?}");
    // Nothing was created by any of it.
    let mine: Value = send(
        &app,
        Method::GET,
        "/api/v1/me/tokens",
        Some(&owner.access),
        None,
        &[],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 0, "{mine}");
});

api_test!(params_say_the_limits, |backend| {
    let app = start(backend).await;
    let owner = app.signup("owner@kujenga.test").await;
    create(
        &app,
        &owner.access,
        json!({"slug": "lim-lab", "name": "Limit Lab", "country": "KE", "kind": "university"}),
    )
    .await;
    let long = "x".repeat(201);
    let tags: Vec<String> = (0..31).map(|i| format!("t{i}")).collect();
    let res = send(
        &app,
        Method::POST,
        "/api/v1/courses",
        Some(&owner.access),
        Some(
            json!({"institution": "lim-lab", "title": long, "level": "expert",
                               "tags": tags}),
        ),
        &[],
    )
    .await;
    assert_eq!(res.status(), 400);
    let p: Value = res.json().await.unwrap();
    let by_field = |f: &str| {
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["field"] == f)
            .cloned()
            .unwrap_or_else(|| panic!("no {f}: {p}"))
    };
    let title = by_field("title");
    assert_eq!(title["code"], "too_long");
    assert_eq!(title["params"], json!({"max": 200}));
    let level = by_field("level");
    assert_eq!(level["code"], "not_allowed_value");
    assert_eq!(
        level["params"],
        json!({"allowed": ["beginner", "intermediate", "advanced"]})
    );
    let tags = by_field("tags");
    assert_eq!(tags["code"], "too_many");
    assert_eq!(tags["params"], json!({"max": 30}));
    // The detail names the first three, then how many more.
    let detail = p["detail"].as_str().unwrap();
    let n = p["errors"].as_array().unwrap().len();
    assert!(n >= 3, "{p}");
    let first: Vec<String> = p["errors"].as_array().unwrap()[..3]
        .iter()
        .map(|e| format!("{}: ", e["field"].as_str().unwrap()))
        .collect();
    let mut at = 0;
    for f in &first {
        let i = detail[at..]
            .find(f.as_str())
            .unwrap_or_else(|| panic!("{f} in {detail}"));
        at += i + f.len();
    }
    if n > 3 {
        assert!(
            detail.ends_with(&format!(" (and {} more).", n - 3)),
            "{detail}"
        );
    }
    // An unknown query parameter lists the known ones.
    let res = app.get("/api/v1/resources?kindd=course").await;
    assert_eq!(res.status(), 400);
    let p: Value = res.json().await.unwrap();
    let allowed = p["errors"][0]["params"]["allowed"].as_array().unwrap();
    assert!(allowed.contains(&json!("kind")), "{p}");
    assert!(allowed.contains(&json!("max_duration_hours")), "{p}");
});
