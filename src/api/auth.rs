//! `/auth/*`: registration, email verification, login, token refresh,
//! logout, password reset.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::api::types::{Accepted, TokenPair};
use crate::auth::password::{self, Verified};
use crate::auth::ratelimit::Bucket;
use crate::auth::{Principal, REFRESH_TOKEN_PREFIX, random_token, token_hash};
use crate::db::accounts::{
    self, BrakeTurn, NewUser, PASSWORD_RESET, Refresh, UserRow, VERIFY_EMAIL,
};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::{self, CountryCode, EmailAddress, Role};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::json::Json;
use crate::mail::{Email, Template};
use crate::problem_types::ProblemType;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/register").route(web::post().to(register)))
        .service(web::resource("/auth/verify-email").route(web::post().to(verify_email)))
        .service(
            web::resource("/auth/verify-email/resend").route(web::post().to(resend_verification)),
        )
        .service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/auth/refresh").route(web::post().to(refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(logout)))
        .service(web::resource("/auth/logout-all").route(web::post().to(logout_all)))
        .service(web::resource("/auth/password-reset").route(web::post().to(password_reset)))
        .service(
            web::resource("/auth/password-reset/confirm")
                .route(web::post().to(password_reset_confirm)),
        );
}

/// The client's address: the TCP peer, or — when the peer is one of
/// `http.trusted_proxies` — the rightmost `X-Forwarded-For` entry that is
/// not a trusted proxy itself.
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.http.trusted_proxies.clone())
        .unwrap_or_default();
    forwarded_client(peer, &trusted, req.headers().get_all("x-forwarded-for"))
}

/// `client_ip`'s rule, apart from the request (unit-tested).
pub fn forwarded_client<'a>(
    peer: IpAddr,
    trusted: &[IpAddr],
    forwarded: impl Iterator<Item = &'a header::HeaderValue>,
) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// Answers carrying tokens are never cached (nor stored for idempotency).
fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized("The email address or password is not correct.".into())
}

/// A single-use emailed token that is unknown, spent or expired: 400, with
/// its own problem type so a frontend can offer "send me a new link".
fn invalid_token(field: &str) -> ApiError {
    ApiError::Validation {
        detail: "This link is invalid, already used or expired; ask for a new one.".into(),
        errors: vec![FieldError::new(
            field,
            "This link is invalid, already used or expired; ask for a new one.",
        )],
    }
}

/// Creates an email token and queues its email, in the caller's transaction.
pub fn send_verification(
    conn: &mut DbConnection,
    state: &AppState,
    user: &UserRow,
    address: &str,
) -> Result<(), ApiError> {
    let email = verification_email(conn, state, user, address, now())?;
    state.outbox.enqueue(conn, email)?;
    Ok(())
}

/// A verification token for `address`, stored, and the email carrying it.
fn verification_email(
    conn: &mut DbConnection,
    state: &AppState,
    user: &UserRow,
    address: &str,
    now: chrono::NaiveDateTime,
) -> Result<Email, ApiError> {
    let token = random_token("");
    let hours = state.settings.auth.verification_ttl_hours;
    accounts::insert_email_token(
        conn,
        &token_hash(&token),
        &user.id,
        VERIFY_EMAIL,
        address,
        now + chrono::Duration::hours(i64::from(hours)),
        now,
    )?;
    Ok(Email::new(
        address,
        Template::VerifyEmail,
        json!({"display_name": user.display_name, "token": token, "expires_in_hours": hours}),
    )
    .for_user(&user.id))
}

/// A verification link for `address` within the caps: `Err(seconds)` when
/// the caps hold it back (see [`link_allowed`]); deduplicated per interval.
fn send_capped_verification(
    conn: &mut DbConnection,
    state: &AppState,
    user: &UserRow,
    address: &str,
    now: chrono::NaiveDateTime,
) -> Result<Result<(), u64>, ApiError> {
    if let Err(wait) = link_allowed(conn, state, &user.id, VERIFY_EMAIL, address, now)? {
        return Ok(Err(wait));
    }
    let email = verification_email(conn, state, user, address, now)?;
    let email = link_dedupe(state, email, VERIFY_EMAIL, &user.id, now);
    state.outbox.enqueue(conn, email)?;
    Ok(Ok(()))
}

/// Whether another emailed link of `purpose` may go to `address` now: at
/// most one per `auth.email_link_interval_secs` and
/// `auth.email_links_per_day` a day. `Err(seconds)` says when the next may.
pub fn link_allowed(
    conn: &mut DbConnection,
    state: &AppState,
    user_id: &str,
    purpose: &str,
    address: &str,
    now: chrono::NaiveDateTime,
) -> Result<Result<(), u64>, ApiError> {
    let auth = &state.settings.auth;
    // Concurrent requests for one account queue here, so each sees the
    // links the others sent (PostgreSQL would let two pass the count).
    accounts::lock_user(conn, user_id)?;
    let day_ago = now - chrono::Duration::days(1);
    let (count, newest) = accounts::recent_email_tokens(conn, user_id, purpose, address, day_ago)?;
    let interval = chrono::Duration::seconds(i64::from(auth.email_link_interval_secs));
    let wait = |until: chrono::NaiveDateTime| {
        u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1)
    };
    if let Some(newest) = newest
        && newest + interval > now
    {
        return Ok(Err(wait(newest + interval)));
    }
    if count >= i64::from(auth.email_links_per_day) {
        return Ok(Err(wait(now + chrono::Duration::hours(1))));
    }
    Ok(Ok(()))
}

/// A capped link's email, with an outbox dedupe key per interval: one
/// email per interval even if two requests race past the count (no key
/// when links are not spaced at all).
fn link_dedupe(
    state: &AppState,
    email: Email,
    purpose: &str,
    user_id: &str,
    now: chrono::NaiveDateTime,
) -> Email {
    let interval = i64::from(state.settings.auth.email_link_interval_secs);
    if interval == 0 {
        return email;
    }
    email.dedupe(format!(
        "{purpose}:{user_id}:{}",
        now.and_utc().timestamp() / interval
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 12–128 characters; judged by strength (zxcvbn score ≥ 3), not composition.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: String,
    /// Your country (ISO 3166-1 alpha-2).
    #[serde(default)]
    #[schema(value_type = Option<crate::api::vocab::Country>)]
    pub country: Option<String>,
}

/// Create an account. The answer is the same whether or not the address
/// already had one (its owner is told by email instead).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 202, description = "Check your email", body = Accepted),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    Json(body): Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Bucket::Register, client_ip(&req))?;
    let mut errors = Vec::new();
    let email = EmailAddress::parse(&body.email)
        .map_err(|m| errors.push(FieldError::new("email", m)))
        .ok();
    let display_name = domain::parse_display_name(&body.display_name)
        .map_err(|m| errors.push(FieldError::new("display_name", m)))
        .ok();
    let country = match body.country.as_deref() {
        None => None,
        Some(c) => CountryCode::parse(c)
            .map_err(|m| errors.push(FieldError::new("country", m)))
            .ok(),
    };
    if let Some(email) = &email
        && let Err(m) = password::check_policy(
            &body.password,
            email,
            &[display_name.as_deref().unwrap_or("")],
        )
    {
        errors.push(FieldError::new("password", m));
    }
    let (Some(email), Some(display_name), true) = (email, display_name, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    // Hash first, in every case: a taken address answers no faster.
    let password = body.password;
    let hash = state
        .hasher
        .run(move |h| h.hash(&password))
        .await?
        .map_err(ApiError::internal)?;
    let state2 = state.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let now = now();
            let id = uuid::Uuid::now_v7().to_string();
            let inserted = accounts::insert_user(
                conn,
                &NewUser {
                    country: country.as_ref().map(CountryCode::as_str),
                    ..NewUser::new(&id, &email, &display_name, &hash, Role::Member, false, now)
                },
            )?;
            if inserted {
                let user = accounts::user_by_id(conn, &id)?
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("user vanished")))?;
                send_verification(conn, &state2, &user, email.as_str())?;
            } else if let Some(existing) = accounts::user_by_email(conn, email.normalized())?
                && !existing.email_verified
                && existing.active
            {
                // The address was never confirmed (its link lost or
                // expired): a fresh link, within the caps (silently held
                // back beyond them: the answer is the same either way).
                let _ = send_capped_verification(conn, &state2, &existing, &existing.email, now)?;
            } else if let Some(existing) = accounts::user_by_email(conn, email.normalized())? {
                // At most one such warning per address per hour.
                let hour = now.format("%Y-%m-%dT%H");
                state2.outbox.enqueue(
                    conn,
                    Email::new(
                        existing.email.clone(),
                        Template::RegistrationAttempt,
                        json!({"display_name": existing.display_name}),
                    )
                    .for_user(&existing.id)
                    .dedupe(format!("registration-attempt:{}:{hour}", existing.id)),
                )?;
            }
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(HttpResponse::Accepted().json(Accepted {
        message: "If this address can be registered, we have sent a link to confirm it. \
                  Check your email."
            .into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token from the emailed link (`?token=…`).
    pub token: String,
}

/// Confirm an email address with the emailed token (single use).
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 200, description = "Verified", body = Accepted),
        (status = 400, description = "Invalid, used or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The new address was taken meanwhile", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_email(
    db: web::Data<Db>,
    Json(body): Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let hash = token_hash(&body.token);
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let now = now();
            let (user_id, email) = accounts::consume_email_token(conn, &hash, VERIFY_EMAIL, now)?
                .ok_or_else(|| invalid_token("token"))?;
            if accounts::verify_email(conn, &user_id, &email, now)? {
                Ok(())
            } else {
                Err(ApiError::Conflict {
                    problem: ProblemType::EmailUnavailable,
                    detail: "The address no longer belongs to this account request; \
                             start the change again."
                        .into(),
                })
            }
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(Accepted {
        message: "Your email address is verified.".into(),
    }))
}

/// Send a fresh verification link to your address that awaits
/// verification: the account's address while it is unverified, else a
/// pending new address (PATCH /me). At most one link per
/// `auth.email_link_interval_secs` (5 minutes) and a few a day (429 with
/// Retry-After beyond).
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 202, description = "A new link is on its way", body = Accepted),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing awaits verification", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "A link was sent recently; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resend_verification(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let user_id = principal.user.id.clone();
    let state2 = state.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let user = accounts::user_by_id(conn, &user_id)?.ok_or(ApiError::NotFound)?;
            let address = if !user.email_verified {
                user.email.clone()
            } else if let Some(pending) = user.pending_email.clone() {
                pending
            } else {
                return Err(ApiError::Conflict {
                    problem: ProblemType::AlreadyVerified,
                    detail: "Your email address is verified and no change of address is pending."
                        .into(),
                });
            };
            send_capped_verification(conn, &state2, &user, &address, now())?
                .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })
        })
    })
    .await?;
    Ok(HttpResponse::Accepted().json(Accepted {
        message: "We have sent a new link to confirm your address. Check your email.".into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Opens a session and returns its first token pair (in `conn`'s transaction).
fn open_session(
    conn: &mut DbConnection,
    state: &AppState,
    user: &UserRow,
) -> Result<TokenPair, ApiError> {
    let now = now();
    let sid = uuid::Uuid::now_v7().to_string();
    accounts::create_session(conn, &sid, &user.id, now)?;
    let refresh = random_token(REFRESH_TOKEN_PREFIX);
    let days = i64::from(state.settings.auth.refresh_token_ttl_days);
    accounts::insert_refresh_token(
        conn,
        &token_hash(&refresh),
        &sid,
        &user.id,
        now + chrono::Duration::days(days),
        now,
    )?;
    token_pair(state, user, &sid, refresh)
}

/// A new access token for `user` in session `sid`, with its refresh token.
fn token_pair(
    state: &AppState,
    user: &UserRow,
    sid: &str,
    refresh_token: String,
) -> Result<TokenPair, ApiError> {
    let access = state
        .keys
        .issue(&user.id, sid, user.token_version)
        .map_err(ApiError::internal)?;
    Ok(TokenPair {
        access_token: access,
        token_type: "Bearer".into(),
        expires_in: state.keys.ttl_secs(),
        refresh_token,
    })
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    Json(body): Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let ip = client_ip(&req);
    state.limits.check(Bucket::Login, ip)?;
    if body.password.chars().count() > password::MAX_CHARS || body.email.len() > 254 {
        return Err(invalid_credentials());
    }
    let normalized = body.email.trim().to_lowercase();
    let ip = ip.to_string();
    let auth = state.settings.auth.clone();
    let (user, turn) = {
        let (normalized, ip, auth) = (normalized.clone(), ip.clone(), auth.clone());
        db.run(move |conn| {
            let now = now();
            // This client's own lock-out on this address.
            if let Some(until) = accounts::locked_until(conn, &normalized, &ip, now)? {
                let secs = (until - now).num_seconds().max(1);
                return Err(ApiError::TooManyRequests {
                    retry_after_secs: u64::try_from(secs).unwrap_or(1),
                });
            }
            // The address-wide brake, for clients that never signed in to it.
            let since = now - chrono::Duration::days(i64::from(auth.known_client_days));
            let turn = if accounts::is_known_client(conn, &normalized, &ip, since)? {
                BrakeTurn::Now
            } else {
                accounts::brake_turn(
                    conn,
                    &normalized,
                    auth.brake_threshold,
                    chrono::Duration::seconds(i64::from(auth.brake_interval_secs)),
                    chrono::Duration::seconds(i64::from(auth.brake_max_wait_secs)),
                    now,
                )?
            };
            if let BrakeTurn::Refused { retry_after_secs } = turn {
                return Err(ApiError::TooManyRequests { retry_after_secs });
            }
            Ok((accounts::user_by_email(conn, &normalized)?, turn))
        })
        .await?
    };
    if let BrakeTurn::After(wait) = turn {
        tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    }
    let hasher = state.hasher.clone();
    let stored = user
        .as_ref()
        .filter(|u| u.active)
        .map(|u| u.password_hash.clone());
    let password = body.password;
    let (verified, rehash) = hasher
        .run(move |hasher| {
            let verified = hasher.verify(&password, stored.as_deref());
            let rehash = match verified {
                Verified::YesRehash => hasher.hash(&password).ok(),
                _ => None,
            };
            (verified, rehash)
        })
        .await?;
    match (verified, user) {
        (Verified::Yes | Verified::YesRehash, Some(user)) => {
            let state = state.clone();
            let pair = db
                .run(move |conn| {
                    write_transaction(conn, |conn| {
                        let now = now();
                        accounts::remember_client(conn, &normalized, &ip, now)?;
                        if let Some(hash) = &rehash {
                            accounts::set_password(conn, &user.id, hash, now)?;
                        }
                        accounts::touch_login(conn, &user.id, now)?;
                        open_session(conn, &state, &user)
                    })
                })
                .await?;
            Ok(no_store(HttpResponse::Ok().json(pair)))
        }
        _ => {
            db.run(move |conn| {
                accounts::record_login_failure(
                    conn,
                    &normalized,
                    &ip,
                    auth.lockout_threshold,
                    auth.lockout_base_secs,
                    auth.lockout_max_secs,
                    now(),
                )
            })
            .await?;
            Err(invalid_credentials())
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair. Each refresh token works once;
/// presenting a spent one ends its session (it was probably stolen).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired or reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    Json(body): Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Bucket::Refresh, client_ip(&req))?;
    let old = token_hash(&body.refresh_token);
    let state2 = state.clone();
    let pair = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let now = now();
                let new_token = random_token(REFRESH_TOKEN_PREFIX);
                let days = i64::from(state2.settings.auth.refresh_token_ttl_days);
                let outcome = accounts::rotate_refresh_token(
                    conn,
                    &old,
                    &token_hash(&new_token),
                    now + chrono::Duration::days(days),
                    now,
                )?;
                match outcome {
                    Refresh::Rotated {
                        user_id,
                        session_id,
                    } => {
                        let user = accounts::user_by_id(conn, &user_id)?
                            .filter(|u| u.active)
                            .ok_or_else(|| {
                                ApiError::Unauthorized("The refresh token is not valid.".into())
                            })?;
                        Ok(Ok(token_pair(&state2, &user, &session_id, new_token)?))
                    }
                    // Commit the revocation, then answer 401.
                    Refresh::Reused => Ok(Err(true)),
                    Refresh::Invalid => Ok(Err(false)),
                }
                .map_err(|e: ApiError| e)
            })
        })
        .await?;
    match pair {
        Ok(pair) => Ok(no_store(HttpResponse::Ok().json(pair))),
        Err(reused) => {
            if reused {
                tracing::warn!("a spent refresh token was presented again; its session is revoked");
            }
            Err(ApiError::Unauthorized(
                "The refresh token is not valid.".into(),
            ))
        }
    }
}

/// End this session (its access and refresh tokens stop working now).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not with an API token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(db: web::Data<Db>, principal: Principal) -> Result<HttpResponse, ApiError> {
    let sid = principal.session()?.to_string();
    db.run(move |conn| accounts::revoke_session(conn, &sid, "logout", now()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session of this account, including access tokens already issued.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session ended"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not with an API token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout_all(db: web::Data<Db>, principal: Principal) -> Result<HttpResponse, ApiError> {
    principal.session()?;
    let user_id = principal.user.id.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            Ok::<_, ApiError>(accounts::secure_account(
                conn,
                &user_id,
                None,
                "logout_all",
                now(),
            )?)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

/// Ask for a password reset link. Always 202 with the same body.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If the address has an account, a link is on its way", body = Accepted),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn password_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    Json(body): Json<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Bucket::PasswordReset, client_ip(&req))?;
    // A malformed address is a client mistake (400); whether a well-formed
    // one has an account is never revealed, not even by timing: the answer
    // goes out before the account is looked up, and the rest (token and
    // email, in one transaction) happens after it for every address.
    let email = EmailAddress::parse(&body.email).map_err(|m| ApiError::field("email", m))?;
    let state = state.into_inner();
    let db = db.get_ref().clone();
    actix_web::rt::spawn(async move {
        let result = db
            .run(move |conn| {
                write_transaction(conn, |conn| {
                    send_password_reset(conn, &state, &email, now())
                })
            })
            .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "a password reset link could not be queued");
        }
    });
    Ok(HttpResponse::Accepted().json(Accepted {
        message: "If this address has an account, we have sent it a link to reset the password."
            .into(),
    }))
}

/// Queues a reset link for `email` if it has an active account and the
/// caps allow one (at most one per `auth.email_link_interval_secs`, and
/// `auth.email_links_per_day` a day; the previous link stays valid then).
/// Returns whether a link was queued.
pub fn send_password_reset(
    conn: &mut DbConnection,
    state: &AppState,
    email: &EmailAddress,
    now: chrono::NaiveDateTime,
) -> Result<bool, ApiError> {
    let Some(user) = accounts::user_by_email(conn, email.normalized())? else {
        return Ok(false);
    };
    if !user.active
        || link_allowed(conn, state, &user.id, PASSWORD_RESET, &user.email, now)?.is_err()
    {
        return Ok(false);
    }
    let minutes = state.settings.auth.password_reset_ttl_minutes;
    accounts::expire_email_tokens(conn, &user.id, PASSWORD_RESET, now)?;
    let token = random_token("");
    accounts::insert_email_token(
        conn,
        &token_hash(&token),
        &user.id,
        PASSWORD_RESET,
        &user.email,
        now + chrono::Duration::minutes(i64::from(minutes)),
        now,
    )?;
    let email = Email::new(
        user.email.clone(),
        Template::PasswordReset,
        json!({"display_name": user.display_name, "token": token, "expires_in_minutes": minutes}),
    )
    .for_user(&user.id);
    let queued = state.outbox.enqueue(
        conn,
        link_dedupe(state, email, PASSWORD_RESET, &user.id, now),
    )?;
    Ok(queued)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

/// Set a new password with the emailed token; every session ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "Password changed; sign in again"),
        (status = 400, description = "Invalid token or weak password", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn password_reset_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    Json(body): Json<PasswordResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    let hash = token_hash(&body.token);
    // Check the password against the account before spending the token.
    let user = {
        let hash = hash.clone();
        db.run(move |conn| {
            let Some((user_id, _)) =
                accounts::peek_email_token(conn, &hash, PASSWORD_RESET, now())?
            else {
                return Ok(None);
            };
            accounts::user_by_id(conn, &user_id)
        })
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| invalid_token("token"))?
    };
    let email =
        EmailAddress::parse(&user.email).map_err(|m| ApiError::internal(anyhow::anyhow!(m)))?;
    password::check_policy(&body.new_password, &email, &[&user.display_name])
        .map_err(|m| ApiError::field("new_password", m))?;
    let password = body.new_password;
    let new_hash = state
        .hasher
        .run(move |h| h.hash(&password))
        .await?
        .map_err(ApiError::internal)?;
    let state2 = state.clone();
    let ip = client_ip(&req).to_string();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let now = now();
            let (user_id, address) =
                accounts::consume_email_token(conn, &hash, PASSWORD_RESET, now)?
                    .ok_or_else(|| invalid_token("token"))?;
            accounts::set_password(conn, &user_id, &new_hash, now)?;
            // The emailed link proves the address: an unverified account
            // becomes verified (its own verification link may be long gone).
            if !user.email_verified && address == user.email {
                accounts::verify_email(conn, &user_id, &address, now)?;
            }
            // Every lock-out and the brake end; this client is known now.
            accounts::reset_login_failures(conn, &user.email_normalized)?;
            accounts::remember_client(conn, &user.email_normalized, &ip, now)?;
            accounts::secure_account(conn, &user_id, None, "password_reset", now)?;
            crate::app::notifications::password_changed(conn, &state2, &user)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let lb: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let spoofed = header::HeaderValue::from_static("198.51.100.1, 203.0.113.7");
        // From the load balancer: the rightmost untrusted hop.
        assert_eq!(
            forwarded_client(lb, &[lb], std::iter::once(&spoofed)),
            client
        );
        // Straight from a client: the header is ignored.
        assert_eq!(
            forwarded_client(client, &[lb], std::iter::once(&spoofed)),
            client
        );
        // No usable header: the peer.
        let junk = header::HeaderValue::from_static("not-an-ip");
        assert_eq!(forwarded_client(lb, &[lb], std::iter::once(&junk)), lb);
        // Chains of trusted proxies are skipped.
        let chain = header::HeaderValue::from_static("203.0.113.7, 10.0.0.3");
        let inner: IpAddr = "10.0.0.3".parse().unwrap();
        assert_eq!(
            forwarded_client(lb, &[lb, inner], std::iter::once(&chain)),
            client
        );
    }
}
