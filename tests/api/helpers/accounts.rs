//! People: signing up (with the emailed verification), signing in, and the
//! platform roles set directly in the database.

use super::app::TestApp;
use super::http::body_of;

/// A password strong enough for the policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-up, verified, signed-in person.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/register",
            serde_json::json!({"email": email, "password": password, "display_name": "Test Person"}),
            None,
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/login",
            serde_json::json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Registers, verifies (with the emailed token) and signs in.
    pub async fn signup(&self, email: &str) -> Account {
        let res = self.register(email, PASSWORD).await;
        assert_eq!(res.status(), 202, "register {email}");
        let token = self
            .last_email_data(email, "verify_email")
            .await
            .expect("verification email")["token"]
            .as_str()
            .expect("token")
            .to_string();
        let res = self
            .post_json(
                "/api/v1/auth/verify-email",
                serde_json::json!({"token": token}),
                None,
            )
            .await;
        assert_eq!(res.status(), 200, "verify {email}");
        self.signin(email).await
    }

    /// Signs in an existing account.
    pub async fn signin(&self, email: &str) -> Account {
        let res = self.login(email, PASSWORD).await;
        assert_eq!(res.status(), 200, "login {email}");
        let pair: serde_json::Value = res.json().await.expect("token pair");
        let access = pair["access_token"].as_str().expect("access").to_string();
        let me: serde_json::Value = self
            .get_auth("/api/v1/me", &access)
            .await
            .json()
            .await
            .expect("me");
        Account {
            id: me["id"].as_str().expect("id").to_string(),
            email: email.to_string(),
            access,
            refresh: pair["refresh_token"].as_str().expect("refresh").to_string(),
        }
    }

    /// Makes a user a platform admin (directly in the database).
    pub async fn make_admin(&self, user_id: &str) {
        use diesel::prelude::*;
        use kujenga::db::schema::users;
        let id = user_id.to_string();
        self.db
            .run(move |conn| {
                diesel::update(users::table.filter(users::id.eq(id)))
                    .set(users::role.eq("admin"))
                    .execute(conn)
            })
            .await
            .expect("make admin");
    }
}

/// A signed-up, signed-in platform admin.
pub async fn admin(app: &TestApp, email: &str) -> Account {
    let a = app.signup(email).await;
    app.make_admin(&a.id).await;
    app.signin(email).await
}

/// Sets a platform role directly (e.g. `coordinator`).
pub async fn set_platform_role(app: &TestApp, user_id: &str, role: &'static str) {
    use diesel::prelude::*;
    use kujenga::db::schema::users;
    let id = user_id.to_string();
    app.db
        .run(move |conn| {
            diesel::update(users::table.filter(users::id.eq(id)))
                .set(users::role.eq(role))
                .execute(conn)
        })
        .await
        .expect("set role");
}

/// Registers and signs in without verifying the address: the access token.
pub async fn unverified(app: &TestApp, email: &str) -> String {
    assert_eq!(app.register(email, PASSWORD).await.status(), 202);
    let pair = body_of(app.login(email, PASSWORD).await, 200).await;
    pair["access_token"].as_str().unwrap().to_string()
}
