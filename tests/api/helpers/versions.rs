//! Changing a published resource the way its editors do since versions
//! (issue #19): the draft of its next version, then publishing it.

use reqwest::Method;
use serde_json::{Value, json};

use super::app::TestApp;
use super::http::{call, send};

/// `PATCH {path}/draft` with `patch`, then `POST {path}/publish` (with
/// `publish`, e.g. `{"note": "…"}`, or nothing), where `path` is the
/// resource's (`/api/v1/datasets/{id}`). Returns the publish answer — the
/// new version, as a PATCH of the resource used to answer — or, when the
/// draft was refused (400, 403, 404, 409, 412, 422 …), that refusal, so a
/// test of a refused change reads the same status and problem as before.
/// A change of files, licence or data terms makes a major version, which
/// needs a note: one is sent when `publish` is `None`.
pub async fn edit_published(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    patch: Value,
) -> reqwest::Response {
    edit_published_with(app, token, path, patch, &[]).await
}

/// [`edit_published`] with headers on the draft's PATCH (e.g. `If-Match`).
pub async fn edit_published_with(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    patch: Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let draft = send(
        app,
        Method::PATCH,
        &format!("{path}/draft"),
        token,
        Some(patch),
        headers,
    )
    .await;
    if !draft.status().is_success() {
        return draft;
    }
    call(
        app,
        Method::POST,
        &format!("{path}/publish"),
        token,
        Some(json!({"note": "Changed by a test."})),
    )
    .await
}
