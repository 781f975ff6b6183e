//! Institutions: creating and verifying one, inviting and joining.

use reqwest::Method;
use serde_json::{Value, json};

use super::accounts::Account;
use super::app::TestApp;
use super::http::{body_of, call};

pub fn new_institution(slug: &str) -> Value {
    json!({
        "slug": slug,
        "name": format!("Institution {slug}"),
        "country": "KE",
        "kind": "university",
    })
}

pub fn inst_path(slug: &str) -> String {
    format!("/api/v1/institutions/{slug}")
}

pub async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app
        .post_json("/api/v1/institutions", body, Some(token))
        .await;
    body_of(res, 201).await
}

pub async fn create_slug(app: &TestApp, token: &str, slug: &str) -> Value {
    create(app, token, new_institution(slug)).await
}

pub async fn verify(app: &TestApp, admin: &str, slug: &str) -> Value {
    let res = call(
        app,
        Method::POST,
        &format!("{}/verify", inst_path(slug)),
        Some(admin),
        None,
    )
    .await;
    body_of(res, 200).await
}

/// Invites `email`: the invitation and the emailed token.
pub async fn invite(
    app: &TestApp,
    token: &str,
    slug: &str,
    email: &str,
    role: &str,
) -> (Value, String) {
    let res = app
        .post_json(
            &format!("{}/invitations", inst_path(slug)),
            json!({"email": email, "role": role}),
            Some(token),
        )
        .await;
    let inv = body_of(res, 201).await;
    let secret = app
        .last_email_data(email, "invitation")
        .await
        .expect("an invitation email")["token"]
        .as_str()
        .expect("token")
        .to_string();
    (inv, secret)
}

pub async fn accept(app: &TestApp, token: &str, secret: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/invitations/accept",
        json!({"token": secret}),
        Some(token),
    )
    .await
}

/// Invites `who` with `role` and has them accept.
pub async fn join(app: &TestApp, inviter: &str, slug: &str, who: &Account, role: &str) {
    let (_, secret) = invite(app, inviter, slug, &who.email, role).await;
    let m = body_of(accept(app, &who.access, &secret).await, 200).await;
    assert_eq!(m, json!({"institution": slug, "role": role}));
}
