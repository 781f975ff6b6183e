//! The audit log as a platform admin reads it.

use serde_json::Value;

use super::app::TestApp;
use super::http::body_of;

/// Audit events matching `query` (newest first).
pub async fn events(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let res = app
        .get_auth(&format!("/api/v1/audit-events?limit=100&{query}"), admin)
        .await;
    body_of(res, 200).await["items"].as_array().unwrap().clone()
}

/// The id of an institution, as the audit log of its creation names it.
pub async fn institution_id(app: &TestApp, admin: &str, slug: &str) -> String {
    events(app, admin, "action=institution.created")
        .await
        .iter()
        .find(|e| e["detail"]["slug"] == slug)
        .expect("an institution.created event")["subject_id"]
        .as_str()
        .unwrap()
        .to_string()
}
