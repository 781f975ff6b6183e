//! Accounts: registration, email verification, sign-in and sessions,
//! password reset; the signed-in person's profile, password, API tokens and
//! deactivation.
//!
//! Each command owns its transaction, its row locks and its events. The
//! sign-in protections live here and nowhere else (README, "Sign-in
//! protection"): the per-client lock-out and the address-wide brake at
//! sign-in, caps on emailed links, password hashing on every path so that
//! an answer's timing reveals nothing, and reset links sent after the
//! answer for every address.
//!
//! Sign-in, token refresh, a failed attempt and an emailed link are not
//! domain events: they change no account (the sessions they touch are
//! ordinary use, and the outbox keeps the emails); registration and the
//! first confirmation of an address are not either, so that an account's
//! record starts with what its owner and the admins did with it
//! (docs/EVENTS.md, "Accounts").

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::app::clients::{self, CsrfEvidence};
use crate::app::events::{self, Notice};
use crate::app::notifications::Kind;
use crate::auth::password::{self, Verified};
use crate::auth::{API_TOKEN_PREFIX, Principal, REFRESH_TOKEN_PREFIX, random_token, token_hash};
use crate::db::accounts::{
    self, AdminChanges, ApiTokenRow, BrakeTurn, EmailVerification, NewUser, PASSWORD_RESET,
    ProfileChanges, Refresh, UserRow, VERIFY_EMAIL,
};
use crate::db::audit::Context;
use crate::db::clients::{ClientRow, TokenSession};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::client::LinkChoice;
use crate::domain::events::Event;
use crate::domain::{CountryCode, EmailAddress, Role, Scope, TokenScopes};
use crate::error::{ApiError, FieldCode, FieldError, Invalid};
use crate::mail::{Email, Template};
use crate::problem_types::ProblemType;
use crate::state::AppState;

/// The answer of login and refresh.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsImtpZCI6IjQ2ZjEiLCJ0eXAiOiJKV1QifQ.e30.c2lnbmF0dXJl",
    "token_type": "Bearer",
    "expires_in": 900,
    "refresh_token": "kjr_Xq3v9mB7cWkz2pD5rT8yHnL1sF4aJ6eU0oGiQbVxMw"
}))]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque; exchange it at `/auth/refresh` (single use: each refresh returns a new one).
    /// Absent for a cookie session (a client app with `cookie_sessions`): the
    /// token is then in the `kj_refresh` cookie only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Cookie sessions only: the session's CSRF token (also in the `kj_csrf`
    /// cookie), to send as `X-CSRF-Token` with refresh and logout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// A new token pair as a handler sends it: the body, and for a cookie
/// session the cookies to set.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub body: TokenPair,
    pub cookies: Option<SessionCookies>,
}

/// The cookies of a cookie session (`http::cookies`).
#[derive(Debug, Clone)]
pub struct SessionCookies {
    pub refresh_token: String,
    pub csrf_token: String,
    /// The refresh token's lifetime.
    pub max_age_secs: i64,
}

impl SignedIn {
    /// A JSON session's pair as it is; a cookie session's (`csrf` given)
    /// with the refresh token moved into the cookies.
    fn new(state: &AppState, mut pair: TokenPair, csrf: Option<String>) -> Self {
        let Some(csrf) = csrf else {
            return Self {
                body: pair,
                cookies: None,
            };
        };
        let refresh_token = pair.refresh_token.take().unwrap_or_default();
        pair.csrf_token = Some(csrf.clone());
        Self {
            body: pair,
            cookies: Some(SessionCookies {
                refresh_token,
                csrf_token: csrf,
                max_age_secs: i64::from(state.settings.auth.refresh_token_ttl_days) * 86_400,
            }),
        }
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized("The email address or password is not correct.".into())
}

fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized("The refresh token is not valid.".into())
}

/// A single-use emailed token that is unknown, spent or expired: 400 on
/// `field`, saying how to get a new link for `purpose`.
fn invalid_token(field: &str, purpose: &str) -> ApiError {
    let how = if purpose == VERIFY_EMAIL {
        "This link is invalid, already used or expired. To get a new one, sign in and \
         POST /api/v1/auth/verify-email/resend, or register again with the same address \
         (POST /api/v1/auth/register): an unverified address gets a fresh link."
    } else {
        "This link is invalid, already used or expired. Ask for a new one: \
         POST /api/v1/auth/password-reset with your address."
    };
    ApiError::validation(vec![FieldError::new(field, FieldCode::InvalidToken, how)])
}

fn wrong_current_password() -> ApiError {
    ApiError::field(
        "current_password",
        FieldCode::NotAllowedValue,
        "This is not your current password.",
    )
}

fn vanished() -> ApiError {
    ApiError::internal(anyhow::anyhow!("user vanished"))
}

// ----- emailed links -------------------------------------------------------

/// Creates an email token and queues its email, in the caller's transaction.
fn send_verification(
    conn: &mut DbConnection,
    state: &AppState,
    user: &UserRow,
    address: &str,
    link_base: Option<&str>,
) -> Result<(), ApiError> {
    let email = verification_email(conn, state, user, address, now())?
        .with_link_base(link_base.map(str::to_string));
    state.outbox.enqueue(conn, email)?;
    Ok(())
}

/// A verification token for `address`, stored, and the email carrying it.
fn verification_email(
    conn: &mut DbConnection,
    state: &AppState,
    user: &UserRow,
    address: &str,
    now: NaiveDateTime,
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
    now: NaiveDateTime,
    link_base: Option<&str>,
) -> Result<Result<(), u64>, ApiError> {
    if let Err(wait) = link_allowed(conn, state, &user.id, VERIFY_EMAIL, address, now)? {
        return Ok(Err(wait));
    }
    let email = verification_email(conn, state, user, address, now)?
        .with_link_base(link_base.map(str::to_string));
    let email = link_dedupe(state, email, VERIFY_EMAIL, &user.id, now);
    state.outbox.enqueue(conn, email)?;
    Ok(Ok(()))
}

/// Whether another emailed link of `purpose` may go to `address` now: at
/// most one per `auth.email_link_interval_secs` and
/// `auth.email_links_per_day` a day. `Err(seconds)` says when the next may.
fn link_allowed(
    conn: &mut DbConnection,
    state: &AppState,
    user_id: &str,
    purpose: &str,
    address: &str,
    now: NaiveDateTime,
) -> Result<Result<(), u64>, ApiError> {
    let auth = &state.settings.auth;
    // Concurrent requests for one account queue here, so each sees the
    // links the others sent (PostgreSQL would let two pass the count).
    accounts::lock_user(conn, user_id)?;
    let day_ago = now - chrono::Duration::days(1);
    let (count, newest) = accounts::recent_email_tokens(conn, user_id, purpose, address, day_ago)?;
    let interval = chrono::Duration::seconds(i64::from(auth.email_link_interval_secs));
    let wait =
        |until: NaiveDateTime| u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1);
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
    now: NaiveDateTime,
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

// ----- registration and verification ---------------------------------------

/// What registration needs, parsed (the password already passed the
/// policy for this address and name).
#[derive(Debug)]
pub struct NewAccount {
    pub email: EmailAddress,
    pub display_name: String,
    pub country: Option<CountryCode>,
    pub password: String,
    /// The client app whose link base the emails use (400 if unknown).
    pub link: Option<LinkChoice>,
}

/// Creates an account and sends the link confirming its address. Whether
/// the address already had one is never revealed: its owner gets a fresh
/// link (unverified, within the caps) or a warning email instead.
pub async fn register(db: &Db, state: &Arc<AppState>, account: NewAccount) -> Result<(), ApiError> {
    let NewAccount {
        email,
        display_name,
        country,
        password,
        link,
    } = account;
    // The client app is about the request, not the address: an unknown
    // one is a 400 before anything else happens.
    let link_base = clients::link_base(db, link).await?;
    // Hash first, in every case: a taken address answers no faster.
    let hash = state
        .hasher
        .run(move |h| h.hash(&password))
        .await?
        .map_err(ApiError::internal)?;
    let state = Arc::clone(state);
    let request_id = Context::new(None).request_id;
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
                let user = accounts::user_by_id(conn, &id)?.ok_or_else(vanished)?;
                send_verification(conn, &state, &user, email.as_str(), link_base.as_deref())?;
                let ctx = Context {
                    actor_id: Some(id.clone()),
                    request_id,
                };
                events::record(conn, &ctx, &id, &[], &Event::UserRegistered {})?;
            } else if let Some(existing) = accounts::user_by_email(conn, email.normalized())?
                && !existing.email_verified
                && existing.active
            {
                // The address was never confirmed (its link lost or
                // expired): a fresh link, within the caps (silently held
                // back beyond them: the answer is the same either way).
                let _ = send_capped_verification(
                    conn,
                    &state,
                    &existing,
                    &existing.email,
                    now,
                    link_base.as_deref(),
                )?;
            } else if let Some(existing) = accounts::user_by_email(conn, email.normalized())? {
                // At most one such warning per address per hour.
                let hour = now.format("%Y-%m-%dT%H");
                state.outbox.enqueue(
                    conn,
                    Email::new(
                        existing.email.clone(),
                        Template::RegistrationAttempt,
                        json!({"display_name": existing.display_name}),
                    )
                    .for_user(&existing.id)
                    .with_link_base(link_base.clone())
                    .dedupe(format!("registration-attempt:{}:{hour}", existing.id)),
                )?;
            }
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(())
}

/// Confirms an address with its emailed token (single use): the account's
/// address, or a pending new one, which then replaces it
/// (`user.email_changed`).
pub async fn verify_email(db: &Db, token: &str) -> Result<(), ApiError> {
    let hash = token_hash(token);
    let request_id = Context::new(None).request_id;
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let now = now();
            let (user_id, email) = accounts::consume_email_token(conn, &hash, VERIFY_EMAIL, now)?
                .ok_or_else(|| invalid_token("token", VERIFY_EMAIL))?;
            // Whoever holds the link acts for the account.
            let ctx = Context {
                actor_id: Some(user_id.clone()),
                request_id,
            };
            match accounts::verify_email(conn, &user_id, &email, now)? {
                EmailVerification::Confirmed => {
                    events::record(conn, &ctx, &user_id, &[], &Event::UserEmailVerified {})?;
                    Ok(())
                }
                EmailVerification::Changed => {
                    events::record(conn, &ctx, &user_id, &[], &Event::UserEmailChanged {})?;
                    Ok(())
                }
                EmailVerification::Unavailable => Err(ApiError::Conflict {
                    problem: ProblemType::EmailUnavailable,
                    detail: "The address no longer belongs to this account request; \
                             start the change again."
                        .into(),
                }),
            }
        })
    })
    .await?;
    Ok(())
}

/// Sends a fresh link to the address awaiting verification (the account's
/// while unverified, else a pending new one), within the caps: 429 with
/// the seconds to wait beyond them.
pub async fn resend_verification(
    db: &Db,
    state: &Arc<AppState>,
    user_id: &str,
    link: Option<LinkChoice>,
) -> Result<(), ApiError> {
    let link_base = clients::link_base(db, link).await?;
    let user_id = user_id.to_string();
    let state = Arc::clone(state);
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
            send_capped_verification(conn, &state, &user, &address, now(), link_base.as_deref())?
                .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })
        })
    })
    .await?;
    Ok(())
}

// ----- sign-in and sessions --------------------------------------------------

/// Opens a session (for `client`, when the sign-in named one) and returns
/// its first token pair (in `conn`'s transaction).
fn open_session(
    conn: &mut DbConnection,
    state: &AppState,
    user: &UserRow,
    client: Option<&ClientRow>,
) -> Result<SignedIn, ApiError> {
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
    let csrf = match client {
        Some(client) => clients::bind_session(conn, &sid, client, now)?,
        None => None,
    };
    let pair = token_pair(state, user, &sid, refresh)?;
    Ok(SignedIn::new(state, pair, csrf))
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
        refresh_token: Some(refresh_token),
        csrf_token: None,
    })
}

/// Counts a wrong password from `ip` against the address's lock-out and
/// brake, in its own transaction.
async fn count_failure(
    db: &Db,
    state: &AppState,
    email_normalized: String,
    ip: String,
) -> Result<(), ApiError> {
    let auth = state.settings.auth.clone();
    db.run(move |conn| {
        accounts::record_login_failure(
            conn,
            &email_normalized,
            &ip,
            auth.lockout_threshold,
            auth.lockout_base_secs,
            auth.lockout_max_secs,
            now(),
        )
    })
    .await?;
    Ok(())
}

/// Signs in with email and password from `ip`: the client's lock-out, then
/// the address's brake (clients that signed in before skip it; others wait
/// for their turn or are refused), then the password, verified whether or
/// not the account exists. Success forgets the client's failures and opens
/// a session; failure counts toward both brakes. A sign-in naming a client
/// app (400 if there is none) opens a session for it: a cookie session if
/// the app has `cookie_sessions`.
pub async fn login(
    db: &Db,
    state: &Arc<AppState>,
    ip: IpAddr,
    email: &str,
    password: String,
    client_id: Option<&str>,
) -> Result<SignedIn, ApiError> {
    if password.chars().count() > password::MAX_CHARS || email.len() > 254 {
        return Err(invalid_credentials());
    }
    let client = clients::for_sign_in(db, client_id).await?;
    let normalized = email.trim().to_lowercase();
    let ip = ip.to_string();
    let auth = state.settings.auth.clone();
    let (user, turn) = {
        let (normalized, ip) = (normalized.clone(), ip.clone());
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
    let stored = user
        .as_ref()
        .filter(|u| u.active)
        .map(|u| u.password_hash.clone());
    let (verified, rehash) = state
        .hasher
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
            let state = Arc::clone(state);
            db.run(move |conn| {
                write_transaction(conn, |conn| {
                    let now = now();
                    accounts::remember_client(conn, &normalized, &ip, now)?;
                    if let Some(hash) = &rehash {
                        accounts::set_password(conn, &user.id, hash, now)?;
                    }
                    accounts::touch_login(conn, &user.id, now)?;
                    open_session(conn, &state, &user, client.as_ref())
                })
            })
            .await
            .map_err(ApiError::from)
        }
        _ => {
            count_failure(db, state, normalized, ip).await?;
            Err(invalid_credentials())
        }
    }
}

/// Where a refresh or logout found its refresh token.
#[derive(Debug, Clone)]
pub struct PresentedToken {
    pub token: String,
    /// From the `kj_refresh` cookie (else from the JSON body).
    pub from_cookie: bool,
    /// The request's Origin, Referer, X-CSRF-Token and `kj_csrf` cookie.
    pub csrf: CsrfEvidence,
}

/// The session of a presented token, after the CSRF check where one is
/// due: when the token came from the cookie, or the session is a cookie
/// session (wherever its token came from). `None` for an unknown token.
/// Returns the verified CSRF token of a cookie session.
fn checked_session(
    conn: &mut DbConnection,
    presented: &PresentedToken,
) -> Result<Option<(TokenSession, Option<String>)>, ApiError> {
    let Some(session) = crate::db::clients::session_of_token(conn, &token_hash(&presented.token))?
    else {
        return Ok(None);
    };
    let csrf = if presented.from_cookie || session.csrf_hash.is_some() {
        Some(clients::check_cookie_request(
            conn,
            &session,
            &presented.csrf,
        )?)
    } else {
        None
    };
    Ok(Some((session, csrf)))
}

/// Exchanges a refresh token for a new pair. Each works once; presenting a
/// spent one revokes its session (committed before the 401: it was
/// probably stolen). A cookie session's request passes the CSRF check
/// first (403 `csrf-failed`, nothing changed) and is answered with cookies.
pub async fn refresh(
    db: &Db,
    state: &Arc<AppState>,
    presented: PresentedToken,
) -> Result<SignedIn, ApiError> {
    let old = token_hash(&presented.token);
    let state = Arc::clone(state);
    let signed_in = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let csrf = checked_session(conn, &presented)?.and_then(|(_, csrf)| csrf);
                let now = now();
                let new_token = random_token(REFRESH_TOKEN_PREFIX);
                let days = i64::from(state.settings.auth.refresh_token_ttl_days);
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
                            .ok_or_else(invalid_refresh)?;
                        let pair = token_pair(&state, &user, &session_id, new_token)?;
                        Ok(Ok(SignedIn::new(&state, pair, csrf)))
                    }
                    // Commit the revocation, then answer 401.
                    Refresh::Reused => Ok(Err(true)),
                    Refresh::Invalid => Ok(Err(false)),
                }
                .map_err(|e: ApiError| e)
            })
        })
        .await?;
    signed_in.map_err(|reused| {
        if reused {
            tracing::warn!("a spent refresh token was presented again; its session is revoked");
        }
        invalid_refresh()
    })
}

/// Ends the session a refresh token belongs to (logout without an access
/// token: a web app's cookie, or a token in the body), after the CSRF check
/// where one is due (`user.signed_out` if the session was live). 401 for an
/// unknown token. Returns whether it was a cookie session.
pub async fn logout_with_token(db: &Db, presented: PresentedToken) -> Result<bool, ApiError> {
    let request_id = Context::new(None).request_id;
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let (session, csrf) = checked_session(conn, &presented)?.ok_or_else(invalid_refresh)?;
            if session.live {
                accounts::revoke_session(conn, &session.session_id, "logout", now())?;
                let ctx = Context {
                    actor_id: Some(session.user_id.clone()),
                    request_id,
                };
                events::record(conn, &ctx, &session.user_id, &[], &Event::UserSignedOut {})?;
            }
            Ok::<_, ApiError>(csrf.is_some())
        })
    })
    .await
    .map_err(ApiError::from)
}

/// Ends session `sid` of the user (`user.signed_out`).
pub async fn logout(db: &Db, user_id: &str, sid: &str) -> Result<(), ApiError> {
    let (user_id, sid) = (user_id.to_string(), sid.to_string());
    let ctx = Context::new(Some(&user_id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            accounts::revoke_session(conn, &sid, "logout", now())?;
            events::record(conn, &ctx, &user_id, &[], &Event::UserSignedOut {})
        })
    })
    .await?;
    Ok(())
}

/// Ends every session of the user, with their API tokens and a pending
/// address change (`user.signed_out_everywhere`).
pub async fn logout_all(db: &Db, user_id: &str) -> Result<(), ApiError> {
    let user_id = user_id.to_string();
    let ctx = Context::new(Some(&user_id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            accounts::secure_account(conn, &user_id, None, "logout_all", now())?;
            events::record(
                conn,
                &ctx,
                &user_id,
                &[],
                &Event::UserSignedOutEverywhere {},
            )
        })
    })
    .await?;
    Ok(())
}

// ----- password reset --------------------------------------------------------

/// Queues a reset link for `email` after the caller has had its answer,
/// for every well-formed address: whether it has an account is never
/// revealed, not even by timing (the token and the email are made in one
/// transaction, in the background).
/// Links go under `link_base` (a client app's, already resolved) if given.
pub fn request_password_reset(
    db: &Db,
    state: &Arc<AppState>,
    email: EmailAddress,
    link_base: Option<String>,
) {
    let state = Arc::clone(state);
    let db = db.clone();
    actix_web::rt::spawn(async move {
        let result = db
            .run(move |conn| {
                write_transaction(conn, |conn| {
                    send_password_reset(conn, &state, &email, now(), link_base)
                })
            })
            .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "a password reset link could not be queued");
        }
    });
}

/// Queues a reset link for `email` if it has an active account and the
/// caps allow one (at most one per `auth.email_link_interval_secs`, and
/// `auth.email_links_per_day` a day; the previous link stays valid then).
/// Returns whether a link was queued.
fn send_password_reset(
    conn: &mut DbConnection,
    state: &AppState,
    email: &EmailAddress,
    now: NaiveDateTime,
    link_base: Option<String>,
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
    .for_user(&user.id)
    .with_link_base(link_base);
    let queued = state.outbox.enqueue(
        conn,
        link_dedupe(state, email, PASSWORD_RESET, &user.id, now),
    )?;
    Ok(queued)
}

/// Sets a new password with an emailed reset token (from `ip`): every
/// session, API token and pending address change ends, lock-outs and the
/// brake lift, and `ip` becomes a known client. The link proves the
/// address, so an unverified one becomes verified (`user.password_reset`,
/// with a `password_changed` notice).
pub async fn reset_password(
    db: &Db,
    state: &Arc<AppState>,
    token: &str,
    new_password: String,
    ip: IpAddr,
) -> Result<(), ApiError> {
    let hash = token_hash(token);
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
        .ok_or_else(|| invalid_token("token", PASSWORD_RESET))?
    };
    let email =
        EmailAddress::parse(&user.email).map_err(|m| ApiError::internal(anyhow::anyhow!(m)))?;
    password::check_policy(&new_password, &email, &[&user.display_name])
        .map_err(|e| ApiError::from(e.at("new_password")))?;
    let new_hash = state
        .hasher
        .run(move |h| h.hash(&new_password))
        .await?
        .map_err(ApiError::internal)?;
    let state = Arc::clone(state);
    let ip = ip.to_string();
    let request_id = Context::new(None).request_id;
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let now = now();
            let (user_id, address) =
                accounts::consume_email_token(conn, &hash, PASSWORD_RESET, now)?
                    .ok_or_else(|| invalid_token("token", PASSWORD_RESET))?;
            accounts::set_password(conn, &user_id, &new_hash, now)?;
            // The emailed link proves the address: an unverified account
            // becomes verified (its own verification link may be long gone).
            let verifies = !user.email_verified && address == user.email;
            if verifies {
                accounts::verify_email(conn, &user_id, &address, now)?;
            }
            // Every lock-out and the brake end; this client is known now.
            accounts::reset_login_failures(conn, &user.email_normalized)?;
            accounts::remember_client(conn, &user.email_normalized, &ip, now)?;
            accounts::secure_account(conn, &user_id, None, "password_reset", now)?;
            // Whoever holds the link acts for the account.
            let ctx = Context {
                actor_id: Some(user_id.clone()),
                request_id,
            };
            events::record_notifying(
                conn,
                &state,
                &ctx,
                &user_id,
                &[],
                &Event::UserPasswordReset {
                    email_verified: verifies,
                },
                vec![password_changed(&user)],
            )
        })
    })
    .await?;
    Ok(())
}

/// The security notice that a password changed.
fn password_changed(user: &UserRow) -> Notice {
    Notice::new(
        user,
        Kind::PasswordChanged,
        json!({"display_name": user.display_name}),
    )
}

// ----- the signed-in person --------------------------------------------------

/// A change of address asked for in a profile update.
#[derive(Debug, Clone)]
pub enum AddressChange {
    /// The account's own address: drop a pending change.
    Cancel,
    /// A new address, taking effect once verified.
    To(EmailAddress),
}

/// A profile update, parsed; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProfileUpdate {
    pub display_name: Option<String>,
    /// `Some(None)` clears it.
    pub country: Option<Option<CountryCode>>,
    pub languages: Option<Vec<String>>,
    pub address: Option<AddressChange>,
    /// Required (checked by the caller's parsing) with a new address.
    pub current_password: Option<String>,
    /// The client app whose link base the verification email uses (400 if
    /// unknown, whether or not the address changes).
    pub link: Option<LinkChoice>,
}

/// Updates the signed-in person's profile. A new address needs a session
/// (not an API token) and the current password (wrong ones count toward
/// the lock-out, as at sign-in); it becomes pending and gets a link.
/// Records `user.profile_updated` naming the fields that changed.
pub async fn update_profile(
    db: &Db,
    state: &Arc<AppState>,
    principal: &Principal,
    ip: IpAddr,
    mut update: ProfileUpdate,
) -> Result<UserRow, ApiError> {
    // About the request, not the account: checked before anything else.
    let link_base = clients::link_base(db, update.link.take()).await?;
    let new_email = match &update.address {
        Some(AddressChange::To(email)) => Some(email.clone()),
        _ => None,
    };
    if new_email.is_some() {
        principal.session()?;
        state
            .limits
            .check(crate::auth::ratelimit::Bucket::PasswordReset, ip)?;
        let password = update.current_password.clone().unwrap_or_default();
        let stored = principal.user.password_hash.clone();
        let verified = state
            .hasher
            .run(move |h| h.verify(&password, Some(&stored)))
            .await?;
        if verified == Verified::No {
            count_failure(
                db,
                state,
                principal.user.email_normalized.clone(),
                ip.to_string(),
            )
            .await?;
            return Err(wrong_current_password());
        }
    }
    let languages = update
        .languages
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(ApiError::internal)?;
    let changes = ProfileChanges {
        display_name: update.display_name,
        country: update.country.map(|c| c.map(|c| c.as_str().to_string())),
        languages,
        pending_email: new_email.as_ref().map(|e| Some(e.as_str().to_string())),
        updated_at: Some(now()),
    };
    let cancel_pending = matches!(update.address, Some(AddressChange::Cancel));
    let before = principal.user.clone();
    let ctx = Context::new(Some(&before.id));
    let state = Arc::clone(state);
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            accounts::update_profile(conn, &before.id, &changes)?;
            if cancel_pending {
                accounts::cancel_pending_email(conn, &before.id, now())?;
            }
            let user = accounts::user_by_id(conn, &before.id)?.ok_or_else(vanished)?;
            if let Some(email) = &new_email {
                send_verification(conn, &state, &user, email.as_str(), link_base.as_deref())?;
            }
            let changed = changed_fields(&before, &user);
            if !changed.is_empty() {
                events::record(
                    conn,
                    &ctx,
                    &user.id,
                    &[],
                    &Event::UserProfileUpdated { changed },
                )?;
            }
            Ok::<_, ApiError>(user)
        })
    })
    .await
    .map_err(ApiError::from)
}

/// The profile fields that differ between two versions of an account.
fn changed_fields(before: &UserRow, after: &UserRow) -> Vec<String> {
    [
        ("display_name", before.display_name != after.display_name),
        ("country", before.country != after.country),
        ("languages", before.languages != after.languages),
        ("pending_email", before.pending_email != after.pending_email),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(field, _)| field.to_string())
    .collect()
}

/// Deactivates the signed-in person's account (a session is needed):
/// sessions and API tokens end; refused while they are an institution's
/// last owner (`user.deactivated` by `self`).
pub async fn deactivate_self(db: &Db, principal: &Principal) -> Result<(), ApiError> {
    principal.session()?;
    let user_id = principal.user.id.clone();
    let ctx = Context::new(Some(&user_id));
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
                &AdminChanges {
                    active: Some(false),
                    deactivated_at: Some(Some(now)),
                    updated_at: Some(now),
                    ..Default::default()
                },
            )?;
            accounts::revoke_all_api_tokens(conn, &user_id, now)?;
            accounts::end_sessions(conn, &user_id, None, "deactivated", now)?;
            events::record(
                conn,
                &ctx,
                &user_id,
                &[],
                &Event::UserDeactivated { by: "self".into() },
            )?;
            Ok(())
        })
    })
    .await?;
    Ok(())
}

/// Changes the signed-in person's password from session `sid` (from
/// `ip`): the new one must pass the policy; a wrong current one counts
/// toward the lock-out. Every other session, API tokens and a pending
/// address change end (`user.password_changed`, with a `password_changed`
/// notice).
pub async fn change_password(
    db: &Db,
    state: &Arc<AppState>,
    user: &UserRow,
    sid: &str,
    ip: IpAddr,
    current: String,
    new: String,
) -> Result<(), ApiError> {
    let email =
        EmailAddress::parse(&user.email).map_err(|m| ApiError::internal(anyhow::anyhow!(m)))?;
    password::check_policy(&new, &email, &[&user.display_name])
        .map_err(|e| ApiError::from(e.at("new_password")))?;
    let stored = user.password_hash.clone();
    let hashed = state
        .hasher
        .run(move |hasher| match hasher.verify(&current, Some(&stored)) {
            Verified::No => Ok(None),
            _ => hasher.hash(&new).map(Some),
        })
        .await?
        .map_err(ApiError::internal)?;
    let Some(hash) = hashed else {
        // Wrong guesses count toward the address's lock-out, as at login.
        count_failure(db, state, user.email_normalized.clone(), ip.to_string()).await?;
        return Err(wrong_current_password());
    };
    let (user, sid) = (user.clone(), sid.to_string());
    let ctx = Context::new(Some(&user.id));
    let state = Arc::clone(state);
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            accounts::set_password(conn, &user.id, &hash, now())?;
            accounts::secure_account(conn, &user.id, Some(&sid), "password_change", now())?;
            events::record_notifying(
                conn,
                &state,
                &ctx,
                &user.id,
                &[],
                &Event::UserPasswordChanged {},
                vec![password_changed(&user)],
            )
        })
    })
    .await?;
    Ok(())
}

// ----- API tokens ------------------------------------------------------------

/// The person's live API tokens, oldest first, after the keyset.
pub async fn tokens(
    db: &Db,
    user_id: &str,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<ApiTokenRow>, ApiError> {
    let user_id = user_id.to_string();
    Ok(db
        .run(move |conn| accounts::list_api_tokens(conn, &user_id, after, limit))
        .await?)
}

/// What a new API token is to be.
#[derive(Debug)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates an API token for the person: a name of 1–100 characters, at
/// least one scope, an expiry in the future if any. Returns the row and
/// the secret, which is shown once (`api_token.created`, with an
/// `api_token_created` notice).
pub async fn create_token(
    db: &Db,
    state: &Arc<AppState>,
    user: &UserRow,
    token: NewToken,
) -> Result<(ApiTokenRow, String), ApiError> {
    let mut errors = Vec::new();
    let name = token.name.trim().to_string();
    let message = "Give the token a name of 1–100 characters.";
    if name.is_empty() {
        errors.push(Invalid::required(message).max(100).at("name"));
    } else if name.chars().count() > 100 {
        errors.push(Invalid::too_long(100, message).at("name"));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            FieldCode::ControlCharacters,
            message,
        ));
    }
    if token.scopes.is_empty() {
        errors.push(
            Invalid::new(FieldCode::TooFew, "Choose `read`, `write` or both.")
                .min(1)
                .allowed(&["read", "write"])
                .at("scopes"),
        );
    }
    let now = now();
    if let Some(at) = token.expires_at
        && at.naive_utc() <= now
    {
        errors.push(
            Invalid::new(FieldCode::OutOfRange, "Must be in the future.")
                .min("now")
                .at("expires_at"),
        );
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let secret = random_token(API_TOKEN_PREFIX);
    let scopes = TokenScopes::of(&token.scopes);
    let row = ApiTokenRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user.id.clone(),
        name,
        token_hash: token_hash(&secret),
        scopes,
        expires_at: token.expires_at.map(|t| t.naive_utc()),
        last_used_at: None,
        revoked_at: None,
        created_at: now,
    };
    let event = Event::ApiTokenCreated {
        name: row.name.clone(),
        scopes: scopes.scopes(),
        expires_at: row.expires_at.map(|t| t.and_utc()),
    };
    let notice = Notice::new(
        user,
        Kind::ApiTokenCreated,
        json!({"display_name": user.display_name, "token_name": row.name}),
    );
    let ctx = Context::new(Some(&user.id));
    let state = Arc::clone(state);
    let stored = row.clone();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            accounts::insert_api_token(conn, &stored)?;
            events::record_notifying(conn, &state, &ctx, &stored.id, &[], &event, vec![notice])
        })
    })
    .await?;
    Ok((row, secret))
}

/// Revokes one of the person's live API tokens (404 if they have no such
/// one; `api_token.revoked`).
pub async fn revoke_token(db: &Db, user_id: &str, id: &str) -> Result<(), ApiError> {
    let (user_id, id) = (user_id.to_string(), id.to_string());
    let ctx = Context::new(Some(&user_id));
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            if !accounts::revoke_api_token(conn, &user_id, &id, now())? {
                return Err(ApiError::NotFound);
            }
            events::record(conn, &ctx, &id, &[], &Event::ApiTokenRevoked {})?;
            Ok(())
        })
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_changes_name_the_fields_that_differ() {
        let now = now();
        let before = UserRow {
            id: "u1".into(),
            email: "a@example.org".into(),
            email_normalized: "a@example.org".into(),
            display_name: "Amina".into(),
            password_hash: String::new(),
            role: Role::Member,
            country: None,
            languages: accounts::Languages::default(),
            email_verified: true,
            pending_email: None,
            token_version: 0,
            active: true,
            deactivated_at: None,
            last_login_at: None,
            created_at: now,
            updated_at: now,
        };
        assert!(changed_fields(&before, &before).is_empty());
        let after = UserRow {
            display_name: "Amina W.".into(),
            pending_email: Some("b@example.org".into()),
            updated_at: now + chrono::Duration::seconds(1),
            ..before.clone()
        };
        assert_eq!(
            changed_fields(&before, &after),
            ["display_name", "pending_email"]
        );
    }
}
