//! Response and request types shared by the account endpoints.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::accounts::{ApiTokenRow, UserRow};
use crate::domain::Role;

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
    #[schema(value_type = Option<crate::api::vocab::Country>)]
    pub country: Option<String>,
    #[schema(value_type = Vec<crate::api::vocab::Language>)]
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
            role: Role::parse(&u.role).unwrap_or(Role::Member),
            country: u.country.clone(),
            languages: u.languages(),
            email_verified: u.email_verified,
            pending_email: u.pending_email.clone(),
            active: u.active,
            created_at: utc(u.created_at),
            last_login_at: u.last_login_at.map(utc),
        }
    }
}

/// The answer of login and refresh.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque; exchange it at `/auth/refresh` (single use: each refresh returns a new one).
    pub refresh_token: String,
}

/// A plain acknowledgement.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accepted {
    pub message: String,
}

/// Token scopes: `read` allows safe methods only, `write` everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
}

/// A personal API token (the secret only in the creation answer).
#[derive(Debug, Clone, Serialize, ToSchema)]
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
            scopes: t
                .scopes
                .split(',')
                .filter_map(|s| match s {
                    "read" => Some(Scope::Read),
                    "write" => Some(Scope::Write),
                    _ => None,
                })
                .collect(),
            expires_at: t.expires_at.map(utc),
            last_used_at: t.last_used_at.map(utc),
            created_at: utc(t.created_at),
            token: None,
        }
    }
}
