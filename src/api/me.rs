//! `/me`: the signed-in person's profile, password, API tokens.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::api::auth::send_verification;
use crate::api::types::{ApiToken, Scope, User};
use crate::auth::password::{self, Verified};
use crate::auth::ratelimit::Bucket;
use crate::auth::{API_TOKEN_PREFIX, Principal, random_token, token_hash};
use crate::db::accounts::{self, ApiTokenRow, ProfileChanges};
use crate::db::{Db, now, write_transaction};
use crate::domain::{self, CountryCode, EmailAddress};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
use crate::problem_types::ProblemType;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/me")
            .route(crate::api::get().to(get_me))
            .route(web::patch().to(patch_me))
            .route(web::delete().to(delete_me)),
    )
    .service(web::resource("/me/password").route(web::post().to(change_password)))
    .service(
        web::resource("/me/tokens")
            .route(crate::api::get().to(list_tokens))
            .route(web::post().to(create_token)),
    )
    .service(web::resource("/me/tokens/{id}").route(web::delete().to(delete_token)));
}

/// Your profile.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your profile", body = User, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_me(req: HttpRequest, principal: Principal) -> Result<HttpResponse, ApiError> {
    etag::respond(&req, &User::from(&principal.user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
    /// Your country, or null to clear it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::api::vocab::Country>)]
    pub country: Option<Option<String>>,
    /// At most 20.
    #[schema(value_type = Option<Vec<crate::api::vocab::Language>>, max_items = 20)]
    pub languages: Option<Vec<String>>,
    /// A new address: it takes effect once verified through the emailed
    /// link; needs `current_password`. Your current address cancels a
    /// pending change.
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// Required to change the email address.
    pub current_password: Option<String>,
}

/// `null` → `Some(None)`, absent → `None`.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Change your display name, country, languages or email address.
#[utoipa::path(patch, path = "/api/v1/me", tag = "me", security(("bearer" = [])), request_body = MePatch,
    params(("If-Match" = Option<String>, Header, description = "ETag of the profile you edited")),
    responses(
        (status = 200, description = "Updated profile", body = User),
        (status = 400, description = "Invalid input (unknown fields such as `role` included)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An email change needs a signed-in session, not an API token", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_me(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    Json(body): Json<MePatch>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let mut changes = ProfileChanges::default();
    if let Some(name) = &body.display_name {
        match domain::parse_display_name(name) {
            Ok(n) => changes.display_name = Some(n),
            Err(m) => errors.push(FieldError::new("display_name", m)),
        }
    }
    if let Some(country) = &body.country {
        match country.as_deref().map(CountryCode::parse).transpose() {
            Ok(c) => changes.country = Some(c.map(|c| c.as_str().to_string())),
            Err(m) => errors.push(FieldError::new("country", m)),
        }
    }
    if let Some(languages) = &body.languages {
        match domain::parse_languages(languages) {
            Ok(l) => {
                changes.languages = Some(serde_json::to_string(&l).unwrap_or_else(|_| "[]".into()))
            }
            Err(m) => errors.push(FieldError::new("languages", m)),
        }
    }
    let mut new_email = None;
    let mut cancel_pending = false;
    if let Some(email) = &body.email {
        match EmailAddress::parse(email) {
            Ok(e) if e.normalized() == principal.user.email_normalized => cancel_pending = true,
            Ok(e) => new_email = Some(e),
            Err(m) => errors.push(FieldError::new("email", m)),
        }
    }
    if new_email.is_some() && body.current_password.is_none() {
        errors.push(FieldError::new(
            "current_password",
            "Confirm an email change with your current password.",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    etag::check_if_match(&req, &etag::etag_of_json(&User::from(&principal.user))?)?;
    if new_email.is_some() {
        principal.session()?;
        state
            .limits
            .check(Bucket::PasswordReset, crate::api::auth::client_ip(&req))?;
        let password = body.current_password.clone().unwrap_or_default();
        let stored = principal.user.password_hash.clone();
        let verified = state
            .hasher
            .run(move |h| h.verify(&password, Some(&stored)))
            .await?;
        if verified == Verified::No {
            let auth = state.settings.auth.clone();
            let email = principal.user.email_normalized.clone();
            let ip = crate::api::auth::client_ip(&req).to_string();
            db.run(move |conn| {
                accounts::record_login_failure(
                    conn,
                    &email,
                    &ip,
                    auth.lockout_threshold,
                    auth.lockout_base_secs,
                    auth.lockout_max_secs,
                    now(),
                )
            })
            .await?;
            return Err(ApiError::field(
                "current_password",
                "This is not your current password.",
            ));
        }
    }
    changes.pending_email = new_email.as_ref().map(|e| Some(e.as_str().to_string()));
    changes.updated_at = Some(now());
    let user_id = principal.user.id.clone();
    let state2 = state.clone();
    let user = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                accounts::update_profile(conn, &user_id, &changes)?;
                if cancel_pending {
                    accounts::cancel_pending_email(conn, &user_id, now())?;
                }
                let user = accounts::user_by_id(conn, &user_id)?
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("user vanished")))?;
                if let Some(email) = &new_email {
                    send_verification(conn, &state2, &user, email.as_str())?;
                }
                Ok::<_, ApiError>(user)
            })
        })
        .await?;
    etag::respond(&req, &User::from(&user))
}

/// Deactivate your account. Sessions and API tokens stop working; what you
/// published stays with your institution.
#[utoipa::path(delete, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header, description = "ETag of your profile")),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 409, description = "You are an institution's last owner", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not with an API token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_me(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    etag::check_if_match(&req, &etag::etag_of_json(&User::from(&principal.user))?)?;
    principal.session()?;
    let user_id = principal.user.id.clone();
    let ctx = crate::db::audit::Context::new(Some(&principal.user.id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let now = now();
            // An institution must keep an owner who can act for it.
            let sole = crate::db::institutions::solely_owned(conn, &user_id)?;
            if !sole.is_empty() {
                return Err(ApiError::Conflict {
                    problem: ProblemType::LastOwner,
                    detail: format!("Make someone else owner of {} first.", sole.join(", ")),
                });
            }
            accounts::update_admin(
                conn,
                &user_id,
                &accounts::AdminChanges {
                    active: Some(false),
                    deactivated_at: Some(Some(now)),
                    updated_at: Some(now),
                    ..Default::default()
                },
            )?;
            accounts::revoke_all_api_tokens(conn, &user_id, now)?;
            crate::db::audit::record(
                conn,
                &ctx,
                "user.deactivated",
                "user",
                &user_id,
                serde_json::json!({"by": "self"}),
            )?;
            Ok(accounts::end_sessions(
                conn,
                &user_id,
                None,
                "deactivated",
                now,
            )?)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

/// Change your password; every other session ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", security(("bearer" = [])), request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Wrong current password or weak new one", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not with an API token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    Json(body): Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let sid = principal.session()?.to_string();
    state
        .limits
        .check(Bucket::Login, crate::api::auth::client_ip(&req))?;
    let user = principal.user;
    let email =
        EmailAddress::parse(&user.email).map_err(|m| ApiError::internal(anyhow::anyhow!(m)))?;
    password::check_policy(&body.new_password, &email, &[&user.display_name])
        .map_err(|m| ApiError::field("new_password", m))?;
    let hasher = state.hasher.clone();
    let stored = user.password_hash.clone();
    let (current, new_password) = (body.current_password, body.new_password);
    let hashed = hasher
        .run(move |hasher| match hasher.verify(&current, Some(&stored)) {
            Verified::No => Ok(None),
            _ => hasher.hash(&new_password).map(Some),
        })
        .await?
        .map_err(ApiError::internal)?;
    let Some(hash) = hashed else {
        // Wrong guesses count toward the address's lock-out, as at login.
        let auth = state.settings.auth.clone();
        let email = user.email_normalized.clone();
        let ip = crate::api::auth::client_ip(&req).to_string();
        db.run(move |conn| {
            accounts::record_login_failure(
                conn,
                &email,
                &ip,
                auth.lockout_threshold,
                auth.lockout_base_secs,
                auth.lockout_max_secs,
                now(),
            )
        })
        .await?;
        return Err(ApiError::field(
            "current_password",
            "This is not your current password.",
        ));
    };
    let state2 = state.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            accounts::set_password(conn, &user.id, &hash, now())?;
            accounts::secure_account(conn, &user.id, Some(&sid), "password_change", now())?;
            crate::app::notifications::password_changed(conn, &state2, &user)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Your API tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "me", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of tokens", body = ApiTokenPage),
        (status = 400, description = "Bad paging parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_tokens(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Query(page): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let user_id = principal.user.id.clone();
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let rows = db
        .run(move |conn| accounts::list_api_tokens(conn, &user_id, after, limit))
        .await?;
    let page = Paginated::from_rows(rows, &page, |t| {
        (crate::api::types::utc(t.created_at), t.id.clone())
    })
    .map(|t| ApiToken::from(&t));
    Ok(page.respond(&req))
}

/// A page of API tokens.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ApiTokenPage {
    pub items: Vec<ApiToken>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    /// What it is for, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// When it stops working (RFC 3339); none: until revoked.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Create an API token. The `token` is in this answer only: store it now.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "me", security(("bearer" = [])), request_body = NewApiToken,
    responses(
        (status = 201, description = "Created; `token` shown once", body = ApiToken),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not with an API token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_token(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    Json(body): Json<NewApiToken>,
) -> Result<HttpResponse, ApiError> {
    principal.session()?;
    let mut errors = Vec::new();
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "Give the token a name of 1–100 characters.",
        ));
    }
    if body.scopes.is_empty() {
        errors.push(FieldError::new("scopes", "Choose `read`, `write` or both."));
    }
    let now = now();
    if let Some(at) = body.expires_at
        && at.naive_utc() <= now
    {
        errors.push(FieldError::new("expires_at", "Must be in the future."));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let write = body.scopes.contains(&Scope::Write);
    let secret = random_token(API_TOKEN_PREFIX);
    let row = ApiTokenRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: principal.user.id.clone(),
        name,
        token_hash: token_hash(&secret),
        scopes: if write {
            "read,write".into()
        } else {
            "read".into()
        },
        expires_at: body.expires_at.map(|t| t.naive_utc()),
        last_used_at: None,
        revoked_at: None,
        created_at: now,
    };
    let mut answer = ApiToken::from(&row);
    answer.token = Some(secret);
    let user = principal.user;
    let state2 = state.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            accounts::insert_api_token(conn, &row)?;
            crate::app::notifications::notify(
                conn,
                &state2,
                &user,
                crate::app::notifications::Kind::ApiTokenCreated,
                json!({"display_name": user.display_name, "token_name": row.name}),
            )
        })
    })
    .await?;
    let mut res = HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/me/tokens/{}", answer.id)))
        .json(&answer);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

/// Revoke an API token.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_token(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let user_id = principal.user.id.clone();
    let revoked = db
        .run(move |conn| accounts::revoke_api_token(conn, &user_id, &id, now()))
        .await?;
    if revoked {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}
