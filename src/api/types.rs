//! Response and request types shared by the account endpoints.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::app::accounts::TokenPair;
use crate::db::accounts::{ApiTokenRow, UserRow};
use crate::domain::Role;
pub use crate::domain::Scope;

/// Timestamps on the wire: RFC 3339, UTC, `Z`.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

/// A person, as they see themselves (and admins see them).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    #[schema(value_type = Option<crate::domain::vocab::Country>)]
    pub country: Option<String>,
    #[schema(value_type = Vec<crate::domain::vocab::Language>)]
    pub languages: Vec<String>,
    pub email_verified: bool,
    /// A new address waiting for verification.
    pub pending_email: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<&UserRow> for User {
    fn from(u: &UserRow) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            country: u.country.clone(),
            languages: u.languages.0.clone(),
            email_verified: u.email_verified,
            pending_email: u.pending_email.clone(),
            active: u.active,
            created_at: utc(u.created_at),
            last_login_at: u.last_login_at.map(utc),
        }
    }
}

/// A plain acknowledgement.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"message": "If the address can receive email, a link is on its way."}))]
pub struct Accepted {
    pub message: String,
}

/// A personal API token (the secret only in the creation answer).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"created_at": "2026-12-08T09:30:00Z", "expires_at": "2027-06-30T00:00:00Z", "id": "0193a5c2-7f10-7000-8000-000000000a04", "name": "lab sync script", "scopes": ["read"], "token": "kj_vK3p_example-secret"}))]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// `kj_…`: shown once, at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<&ApiTokenRow> for ApiToken {
    fn from(t: &ApiTokenRow) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            scopes: t.scopes.scopes(),
            expires_at: t.expires_at.map(utc),
            last_used_at: t.last_used_at.map(utc),
            created_at: utc(t.created_at),
            token: None,
        }
    }
}
