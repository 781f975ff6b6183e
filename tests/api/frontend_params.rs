//! Issue 16, point 4 (strict parameters): on every operation under
//! `/api/v1`, a query parameter the OpenAPI document does not list answers
//! 400 naming it (a typo never returns everything), and so does a
//! single-valued parameter given twice; every documented parameter is
//! accepted. Driven by the served document, so new operations are covered
//! without anyone remembering to.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::frontend::{
    ANY_ID, catalogue, course_body, document, is_list, operations, plausible, post, query_params,
    send,
};
use crate::helpers::http::{body_of, call, invalid, problem};
use crate::helpers::institutions::new_institution;

/// The 400 of a refused query: the fields its `errors` name, in order.
async fn refused(res: reqwest::Response) -> (Vec<String>, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status != 400 || body["type"] != "urn:kujenga:problem:validation-error" {
        return (
            vec![format!("not a 400 validation problem: {status} {text}")],
            body,
        );
    }
    let fields = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    (fields, body)
}

/// Whether an answer refuses `name` as unknown or repeated (other 400s,
/// such as a value out of range, are the parameter being read).
fn refuses_as_unknown(status: u16, body: &Value, name: &str) -> bool {
    status == 400
        && body["errors"].as_array().is_some_and(|errors| {
            errors.iter().any(|e| {
                e["field"] == name
                    && e["message"].as_str().is_some_and(|m| {
                        m.starts_with("Unknown query parameter") || m.starts_with("Given ")
                    })
            })
        })
}

api_test!(every_operation_refuses_an_unknown_parameter, |backend| {
    let w = catalogue(backend).await;
    let doc = document(&w.app).await;
    let mut checked = 0;
    let mut failures = Vec::new();
    for (method, template, op) in operations(&doc) {
        let path = w.path(&template);
        let res = send(
            &w.app,
            &method,
            &format!("{path}?bogus=1"),
            Some(&w.root.access),
        )
        .await;
        checked += 1;
        let (fields, body) = refused(res).await;
        if fields != ["bogus"] {
            failures.push(format!("{method} {path}: {fields:?}"));
            continue;
        }
        // The message names what the operation takes instead.
        let message = body["errors"][0]["message"].as_str().unwrap();
        let params = query_params(&op);
        let names_them = if params.is_empty() {
            message.contains("takes no query parameters")
        } else {
            params
                .iter()
                .all(|p| message.contains(&format!("`{}`", p["name"].as_str().unwrap())))
        };
        if !message.starts_with("Unknown query parameter") || !names_them {
            failures.push(format!("{method} {path}: {message}"));
        }
        if body["detail"] != "Unknown query parameter `bogus`." {
            failures.push(format!("{method} {path}: detail {}", body["detail"]));
        }
    }
    assert!(
        checked > 100,
        "only {checked} operations: is the document read right?"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} operations did not refuse ?bogus=1:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Nothing the requests above would have done happened: the admin's
    // session (logout-all, DELETE /me) and the world's objects are intact.
    body_of(w.app.get_auth("/api/v1/me", &w.root.access).await, 200).await;
    let course = body_of(
        w.app
            .get_auth(&format!("/api/v1/courses/{}", w.course), &w.root.access)
            .await,
        200,
    )
    .await;
    assert_eq!(course["status"], "published", "{course}");
});

api_test!(documented_parameters_are_never_refused, |backend| {
    let w = catalogue(backend).await;
    let doc = document(&w.app).await;
    let mut checked = 0;
    let mut failures = Vec::new();
    for (method, template, op) in operations(&doc) {
        let params = query_params(&op);
        if params.is_empty() {
            continue;
        }
        let path = w.path(&template);
        // Each parameter alone, then all of them together.
        let mut queries: Vec<(Vec<String>, String)> = params
            .iter()
            .map(|p| {
                let name = p["name"].as_str().unwrap().to_string();
                let query = format!("{name}={}", plausible(&doc, p));
                (vec![name], query)
            })
            .collect();
        if params.len() > 1 {
            let names = params
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect();
            let all = params
                .iter()
                .filter(|p| p["name"] != "cursor")
                .map(|p| format!("{}={}", p["name"].as_str().unwrap(), plausible(&doc, p)))
                .collect::<Vec<_>>()
                .join("&");
            queries.push((names, all));
        }
        for (names, query) in queries {
            checked += 1;
            let url = format!("{path}?{query}");
            let res = send(&w.app, &method, &url, Some(&w.root.access)).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if status >= 500 || names.iter().any(|n| refuses_as_unknown(status, &body, n)) {
                failures.push(format!("{method} {url}: {status} {body}"));
            }
        }
        // A list with real path parameters answers a page for `limit`.
        if method == "get" && is_list(&doc, &op) && !path.contains(ANY_ID) {
            let url = format!("{path}?limit=1");
            let res = send(&w.app, "get", &url, Some(&w.root.access)).await;
            if res.status() != 200 {
                failures.push(format!("GET {url}: {}", res.status()));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} cases: is the document read right?"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} documented parameters refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
});

api_test!(
    a_single_valued_parameter_given_twice_is_refused,
    |backend| {
        let w = catalogue(backend).await;
        let doc = document(&w.app).await;
        let mut checked = 0;
        let mut failures = Vec::new();
        for (method, template, op) in operations(&doc) {
            let path = w.path(&template);
            for p in query_params(&op) {
                let name = p["name"].as_str().unwrap();
                let value = plausible(&doc, &p);
                let url = format!("{path}?{name}={value}&{name}={value}");
                checked += 1;
                let res = send(&w.app, &method, &url, Some(&w.root.access)).await;
                let (fields, body) = refused(res).await;
                let message = body["errors"][0]["message"].as_str().unwrap_or("");
                if fields != [name]
                    || !message.starts_with("Given 2 times; this parameter takes one value.")
                {
                    failures.push(format!("{method} {url}: {fields:?} {message}"));
                }
            }
        }
        assert!(
            checked > 50,
            "only {checked} cases: is the document read right?"
        );
        assert!(
            failures.is_empty(),
            "{} of {checked} repeated parameters accepted:\n{}",
            failures.len(),
            failures.join("\n")
        );

        // A filter takes several values comma-separated, and says so.
        let res = w
            .app
            .get("/api/v1/resources?kind=course&kind=dataset")
            .await;
        let body = invalid(res, &["kind"]).await;
        assert_eq!(
            body["errors"][0]["message"],
            "Given 2 times; this parameter takes one value. Several values go in one parameter, \
         separated by commas (`kind=course,dataset`)."
        );
        assert_eq!(
            body["detail"],
            "Query parameter `kind` is given more than once."
        );
        let page = body_of(
            w.app.get("/api/v1/resources?kind=course,dataset").await,
            200,
        )
        .await;
        let mut kinds: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["kind"].as_str().unwrap())
            .collect();
        kinds.sort_unstable();
        assert_eq!(kinds, ["course", "dataset"], "{page}");
    }
);

api_test!(typos_and_several_unknown_parameters, |backend| {
    let w = catalogue(backend).await;
    let app = &w.app;
    // The typo that would have listed everything.
    let body = invalid(app.get("/api/v1/courses?levl=advanced").await, &["levl"]).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("`level`"), "{message}");
    // One entry per unknown parameter, each once; documented ones are fine.
    let res = app
        .get("/api/v1/resources?limit=5&sortt=title&x=1&sortt=title-desc&q=speech")
        .await;
    let body = invalid(res, &["sortt", "x"]).await;
    assert_eq!(body["detail"], "Unknown query parameters: `sortt`, `x`.");
    // Unknown and repeated together.
    let res = app.get("/api/v1/resources?limit=1&limit=2&nope").await;
    let body = invalid(res, &["limit", "nope"]).await;
    assert_eq!(
        body["detail"],
        "Unknown query parameter `nope`. Query parameter `limit` is given more than once."
    );
    // A parameter of another endpoint is unknown here.
    let body = invalid(
        app.get_auth("/api/v1/me?limit=5", &w.learner.access).await,
        &["limit"],
    )
    .await;
    assert_eq!(
        body["errors"][0]["message"],
        "Unknown query parameter. This endpoint takes no query parameters."
    );
    // Names are compared decoded, and exactly (case matters).
    invalid(app.get("/api/v1/resources?Limit=5").await, &["Limit"]).await;
    body_of(app.get("/api/v1/resources?li%6Dit=5").await, 200).await;
    // A name-less parameter.
    invalid(app.get("/api/v1/resources?=5").await, &["query"]).await;
    // An empty query or stray separators are no parameters at all.
    body_of(app.get("/api/v1/resources?").await, 200).await;
    body_of(app.get("/api/v1/resources?&&").await, 200).await;
    // HEAD is checked like GET (the problem has no body to show).
    let res = call(app, Method::HEAD, "/api/v1/resources?bogus=1", None, None).await;
    assert_eq!(res.status(), 400);
    let res = call(app, Method::HEAD, "/api/v1/resources?limit=1", None, None).await;
    assert_eq!(res.status(), 200);
});

api_test!(
    the_check_comes_after_authentication_and_routing,
    |backend| {
        let w = catalogue(backend).await;
        let app = &w.app;
        // A bad token is a 401 whatever the query.
        let res = app.get_auth("/api/v1/me?bogus=1", "not-a-token").await;
        problem(res, 401).await;
        // Anonymous callers get the 400 first: the route alone decides it.
        invalid(app.get("/api/v1/me?bogus=1").await, &["bogus"]).await;
        // No route: 404; a method the path does not have: 405.
        problem(app.get("/api/v1/nowhere?bogus=1").await, 404).await;
        let res = call(app, Method::DELETE, "/api/v1/resources?bogus=1", None, None).await;
        let p = problem(res, 405).await;
        assert_eq!(p["status"], 405);
        // Outside /api/v1 nothing is checked.
        for path in [
            "/healthz?bogus=1",
            "/readyz?bogus=1",
            "/metrics?bogus=1",
            "/api/v1/openapi.json?bogus=1",
        ] {
            assert_eq!(app.get(path).await.status(), 200, "{path}");
        }
        // A control character is still refused by the earlier rule, naming it.
        invalid(app.get("/api/v1/resources?q=a%00b").await, &["q"]).await;
    }
);

api_test!(writes_with_an_unknown_parameter_change_nothing, |backend| {
    let w = catalogue(backend).await;
    let app = &w.app;
    let owner = w.owner.access.as_str();
    // Create: refused, nothing created.
    let res = call(
        app,
        Method::POST,
        "/api/v1/institutions?dry=1",
        Some(owner),
        Some(new_institution("zz-lab")),
    )
    .await;
    invalid(res, &["dry"]).await;
    problem(
        app.get_auth("/api/v1/institutions/zz-lab", owner).await,
        404,
    )
    .await;
    // An Idempotency-Key on a refused create is not spent.
    let body = course_body("Refused first");
    let res = crate::helpers::http::send(
        app,
        Method::POST,
        "/api/v1/courses?x=1",
        Some(owner),
        Some(body.clone()),
        &[("Idempotency-Key", "course-1")],
    )
    .await;
    invalid(res, &["x"]).await;
    let res = crate::helpers::http::send(
        app,
        Method::POST,
        "/api/v1/courses",
        Some(owner),
        Some(body),
        &[("Idempotency-Key", "course-1")],
    )
    .await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let draft: Value = res.json().await.unwrap();
    let id = draft["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/courses/{id}");
    // Change: refused, unchanged.
    let res = call(
        app,
        Method::PATCH,
        &format!("{path}?force=true"),
        Some(owner),
        Some(json!({"title": "Changed"})),
    )
    .await;
    invalid(res, &["force"]).await;
    let now = body_of(app.get_auth(&path, owner).await, 200).await;
    assert_eq!(now["title"], "Refused first");
    // Delete: refused, still there.
    let res = call(
        app,
        Method::DELETE,
        &format!("{path}?force=true"),
        Some(owner),
        None,
    )
    .await;
    invalid(res, &["force"]).await;
    body_of(app.get_auth(&path, owner).await, 200).await;
    // A lifecycle action: refused, still a draft.
    let res = call(
        app,
        Method::POST,
        &format!("{path}/archive?now=1"),
        Some(owner),
        None,
    )
    .await;
    invalid(res, &["now"]).await;
    // Sign-in: refused before the password is even looked at.
    let res = app
        .post_json(
            "/api/v1/auth/login?remember=1",
            json!({"email": w.learner.email, "password": crate::helpers::PASSWORD}),
            None,
        )
        .await;
    invalid(res, &["remember"]).await;
    // An access request: refused, none made.
    let res = call(
        app,
        Method::POST,
        &format!("/api/v1/datasets/{}/access-requests?urgent=1", w.dataset.id),
        Some(&w.gh_owner.access),
        Some(json!({"purpose": "Evaluating a speech model for Ghanaian radio.", "duration_days": 30})),
    )
    .await;
    invalid(res, &["urgent"]).await;
    let mine = body_of(
        app.get_auth("/api/v1/me/access-requests", &w.gh_owner.access)
            .await,
        200,
    )
    .await;
    assert_eq!(mine["items"], json!([]), "{mine}");
    // The same writes without the stray parameter work.
    post(
        app,
        owner,
        "/api/v1/institutions",
        Some(new_institution("zz-lab")),
        201,
    )
    .await;
});
