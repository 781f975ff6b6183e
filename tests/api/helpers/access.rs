//! Dataset access: a verified institution with its people and published
//! datasets, the partnership world the transfer policies are tested in, and
//! access requests, decisions, file links and the sweep as a test drives them.

use chrono::{NaiveDateTime, Utc};
use kujenga::jobs::access::Swept;
use reqwest::Method;
use serde_json::{Value, json};

use super::accounts::{Account, admin, set_platform_role};
use super::app::{TestApp, start};
use super::audit::events;
use super::database::Backend;
use super::http::{body_of, call, problem, strings};
use super::institutions::{create, join, verify};
use super::json::with;

/// The institution that owns the datasets (KE).
pub const INST: &str = "ke-lab";
pub const PURPOSE: &str = "Training a speech recogniser for community radio transcripts.";
pub const OTHER_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
pub const PROBLEM: &str = "urn:kujenga:problem:";

pub fn institution(slug: &str, country: &str) -> Value {
    json!({
        "slug": slug,
        "name": format!("Institution {slug}"),
        "country": country,
        "kind": "university",
    })
}

/// A published dataset of `ke-lab` and its one file.
#[derive(Debug, Clone)]
pub struct Ds {
    pub id: String,
    pub file: String,
    /// Where the file really is (the redirect's target).
    pub url: String,
}

/// A complete dataset body: restricted, unrestricted transfer, public.
pub fn dataset_body(title: &str, extra: Value) -> Value {
    with(
        &json!({
            "institution": INST,
            "title": title,
            "summary": format!("About {title}."),
            "license": "CC-BY-4.0",
            "languages": ["sw"],
            "access_level": "restricted",
            "transfer_policy": "unrestricted",
            "datasheet": {"motivation": "Why.", "composition": "What.",
                          "collection_process": "How.", "uses": "For what."},
        }),
        extra,
    )
}

/// Creates a dataset from `dataset_body(title, extra)`, adds one file and
/// publishes it.
pub async fn dataset(app: &TestApp, token: &str, title: &str, extra: Value) -> Ds {
    let created = body_of(
        app.post_json("/api/v1/datasets", dataset_body(title, extra), Some(token))
            .await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    let name = format!("{}.csv", title.to_lowercase().replace(' ', "-"));
    let url = format!("https://data.example.org/{id}/{name}");
    let f = body_of(
        app.post_json(
            &format!("/api/v1/datasets/{id}/files"),
            json!({"name": name, "url": url, "media_type": "text/csv",
                   "size_bytes": 1024, "sha256": "ab".repeat(32)}),
            Some(token),
        )
        .await,
        201,
    )
    .await;
    let p = body_of(
        call(
            app,
            Method::POST,
            &format!("/api/v1/datasets/{id}/publish"),
            Some(token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["status"], "published", "{p}");
    Ds {
        id,
        file: f["id"].as_str().unwrap().to_string(),
        url,
    }
}

/// Sets (or clears) the caller's country.
pub async fn set_country(app: &TestApp, who: &Account, country: Option<&str>) {
    let me = body_of(
        call(
            app,
            Method::PATCH,
            "/api/v1/me",
            Some(&who.access),
            Some(json!({ "country": country })),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(me["country"], json!(country), "{me}");
}

/// A verified, signed-in person with `country`.
pub async fn person(app: &TestApp, email: &str, country: Option<&str>) -> Account {
    let a = app.signup(email).await;
    if country.is_some() {
        set_country(app, &a, country).await;
    }
    a
}

pub fn requests_path(ds: &str) -> String {
    format!("/api/v1/datasets/{ds}/access-requests")
}

pub fn request_path(id: &str) -> String {
    format!("/api/v1/access-requests/{id}")
}

pub fn asking(days: i64) -> Value {
    json!({"purpose": PURPOSE, "duration_days": days})
}

pub fn on_behalf(slug: &str) -> Value {
    json!({"purpose": PURPOSE, "duration_days": 90, "institution": slug})
}

pub async fn ask(app: &TestApp, token: Option<&str>, ds: &str, body: Value) -> reqwest::Response {
    call(app, Method::POST, &requests_path(ds), token, Some(body)).await
}

/// Asks for 90 days of access (201): the request.
pub async fn requested(app: &TestApp, who: &Account, ds: &str) -> Value {
    body_of(ask(app, Some(&who.access), ds, asking(90)).await, 201).await
}

pub fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// `POST /access-requests/{id}/{what}`.
pub async fn act(
    app: &TestApp,
    token: Option<&str>,
    id: &str,
    what: &str,
    body: Option<Value>,
) -> reqwest::Response {
    call(
        app,
        Method::POST,
        &format!("{}/{what}", request_path(id)),
        token,
        body,
    )
    .await
}

pub fn note(text: &str) -> Value {
    json!({ "note": text })
}

/// Approves (200): the request.
pub async fn approve(app: &TestApp, token: &str, id: &str) -> Value {
    let r = body_of(
        act(app, Some(token), id, "approve", Some(note("Approved."))).await,
        200,
    )
    .await;
    assert_eq!(r["status"], "approved", "{r}");
    r
}

pub async fn show(app: &TestApp, token: &str, id: &str) -> Value {
    body_of(app.get_auth(&request_path(id), token).await, 200).await
}

pub async fn status(app: &TestApp, token: &str, id: &str) -> String {
    show(app, token, id).await["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The caller's own requests (ids, newest first).
pub async fn mine(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let page = body_of(
        app.get_auth(
            &format!("/api/v1/me/access-requests?limit=100{query}"),
            token,
        )
        .await,
        200,
    )
    .await;
    strings(&page["items"], "id")
}

pub async fn link(app: &TestApp, token: Option<&str>, ds: &Ds, query: &str) -> reqwest::Response {
    let path = format!("/api/v1/datasets/{}/files/{}/link{query}", ds.id, ds.file);
    call(app, Method::GET, &path, token, None).await
}

/// `"200"` (checking the link's shape) or `"<status> <problem type>"`, with
/// the body.
pub async fn outcome(res: reqwest::Response) -> (String, Value) {
    let code = res.status().as_u16();
    if code == 200 {
        let cc = res
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(cc.as_deref(), Some("no-store"), "a link is never cached");
        let body: Value = res.json().await.unwrap();
        let url = body["url"].as_str().expect("a url");
        // A path on the API's origin, never built from request headers.
        assert!(url.starts_with("/api/v1/file-links/kjf_"), "{body}");
        let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let left = expires - Utc::now();
        assert!(
            left > chrono::Duration::minutes(14) && left <= chrono::Duration::minutes(15),
            "a link lasts 15 minutes: {body}"
        );
        return ("200".into(), body);
    }
    let body = problem(res, code).await;
    (code_and_type(code, &body), body)
}

/// Any answer: `"<status>"` and the JSON body when it succeeded, otherwise
/// `"<status> <problem type>"` and the problem.
pub async fn answer(res: reqwest::Response) -> (String, Value) {
    let code = res.status().as_u16();
    if res.status().is_success() {
        return (code.to_string(), res.json().await.unwrap());
    }
    let body = problem(res, code).await;
    (code_and_type(code, &body), body)
}

/// `"<status> <problem type>"`, or only the status for `about:blank`.
pub fn code_and_type(code: u16, body: &Value) -> String {
    match body["type"].as_str().unwrap().strip_prefix(PROBLEM) {
        Some(kind) => format!("{code} {kind}"),
        None => code.to_string(),
    }
}

/// Follows a link, a path on the API's origin (no redirects followed).
pub async fn follow(app: &TestApp, url: &str) -> reqwest::Response {
    assert!(url.starts_with('/'), "a link is a path: {url}");
    app.client.get(app.url(url)).send().await.unwrap()
}

/// Follows a link and expects the redirect to `target`.
pub async fn redirected(app: &TestApp, url: &str, target: &str) {
    let res = follow(app, url).await;
    assert_eq!(res.status(), 302, "{url}");
    assert_eq!(res.headers()["location"].to_str().unwrap(), target, "{url}");
}

pub async fn sweep(app: &TestApp, at: NaiveDateTime) -> Swept {
    let st = app.state.clone();
    app.db
        .run(move |conn| kujenga::jobs::access::sweep(conn, &st, at))
        .await
        .unwrap()
}

pub fn in_days(n: i64) -> NaiveDateTime {
    Utc::now().naive_utc() + chrono::Duration::days(n)
}

pub fn swept(grants_expired: usize, requests_expired: usize, reminders: usize) -> Swept {
    Swept {
        grants_expired,
        requests_expired,
        reminders,
    }
}

/// The kinds of the caller's in-app notifications, newest first.
pub async fn notification_kinds(app: &TestApp, who: &Account) -> Vec<String> {
    let page = body_of(
        app.get_auth("/api/v1/me/notifications?limit=100", &who.access)
            .await,
        200,
    )
    .await;
    strings(&page["items"], "kind")
}

pub fn count_of(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

/// Audit events of `action` (newest first).
pub async fn audited(app: &TestApp, root: &Account, action: &str) -> Vec<Value> {
    events(app, &root.access, &format!("action={action}")).await
}

/// `ke-lab` (KE, verified) with its owner, an editor and a plain member,
/// and a platform admin in no institution.
pub struct World {
    pub app: TestApp,
    pub root: Account,
    pub owner: Account,
    pub editor: Account,
    pub member: Account,
}

pub async fn world(backend: Backend) -> World {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@ke-lab.example.org").await;
    let editor = app.signup("editor@ke-lab.example.org").await;
    let member = app.signup("member@ke-lab.example.org").await;
    create(&app, &owner.access, institution(INST, "KE")).await;
    verify(&app, &root.access, INST).await;
    join(&app, &owner.access, INST, &editor, "editor").await;
    join(&app, &owner.access, INST, &member, "member").await;
    World {
        app,
        root,
        owner,
        editor,
        member,
    }
}

impl World {
    pub async fn dataset(&self, title: &str, extra: Value) -> Ds {
        dataset(&self.app, &self.owner.access, title, extra).await
    }
}

/// `ke-lab` (KE) in an active partnership with `ng-lab` (NG); `gh-lab` (GH)
/// in none. `ke` (KE) in no institution; `tz` (TZ) a member of `ng-lab`;
/// `gh` (GH) a member of `gh-lab`; `nobody` (no country) a member of
/// `ng-lab`; `coord` coordinates the partnership `ke-ng`.
pub struct Sovereignty {
    pub w: World,
    pub coord: Account,
    pub ng_owner: Account,
    pub ke: Account,
    pub tz: Account,
    pub gh: Account,
    pub nobody: Account,
}

pub async fn sovereignty(backend: Backend) -> Sovereignty {
    let w = world(backend).await;
    let app = &w.app;
    let ng_owner = app.signup("owner@ng-lab.example.org").await;
    let gh_owner = app.signup("owner@gh-lab.example.org").await;
    create(app, &ng_owner.access, institution("ng-lab", "NG")).await;
    verify(app, &w.root.access, "ng-lab").await;
    create(app, &gh_owner.access, institution("gh-lab", "GH")).await;
    verify(app, &w.root.access, "gh-lab").await;
    let ke = person(app, "ke@example.org", Some("KE")).await;
    let tz = person(app, "tz@example.org", Some("TZ")).await;
    let gh = person(app, "gh@example.org", Some("GH")).await;
    let nobody = person(app, "nobody@example.org", None).await;
    join(app, &ng_owner.access, "ng-lab", &tz, "member").await;
    join(app, &ng_owner.access, "ng-lab", &nobody, "member").await;
    join(app, &gh_owner.access, "gh-lab", &gh, "member").await;

    // The partnership: proposed by a coordinator, both labs accept, active.
    let coord = app.signup("coord@example.org").await;
    set_platform_role(app, &coord.id, "coordinator").await;
    let coord = app.signin("coord@example.org").await;
    let c = Some(coord.access.as_str());
    body_of(
        call(
            app,
            Method::POST,
            "/api/v1/partnerships",
            c,
            Some(json!({"slug": "ke-ng", "title": "Kenya–Nigeria speech",
                        "starts_on": "2026-03-01", "ends_on": "2028-02-29"})),
        )
        .await,
        201,
    )
    .await;
    for (inst, owner) in [("ke-lab", &w.owner), ("ng-lab", &ng_owner)] {
        let m = body_of(
            call(
                app,
                Method::POST,
                "/api/v1/partnerships/ke-ng/members",
                c,
                Some(json!({ "institution": inst })),
            )
            .await,
            201,
        )
        .await;
        assert_eq!(m["status"], "invited", "{m}");
        let m = body_of(
            call(
                app,
                Method::POST,
                &format!("/api/v1/partnerships/ke-ng/members/{inst}/accept"),
                Some(&owner.access),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(m["status"], "active", "{m}");
    }
    let p = body_of(
        call(
            app,
            Method::POST,
            "/api/v1/partnerships/ke-ng/activate",
            c,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["status"], "active", "{p}");
    Sovereignty {
        w,
        coord,
        ng_owner,
        ke,
        tz,
        gh,
        nobody,
    }
}

impl Sovereignty {
    /// `ng-lab` leaves the partnership: it is no partner of `ke-lab` any more.
    pub async fn end_partnership(&self) {
        let res = call(
            &self.w.app,
            Method::DELETE,
            "/api/v1/partnerships/ke-ng/members/ng-lab",
            Some(&self.coord.access),
            None,
        )
        .await;
        body_of(res, 200).await;
    }
}
