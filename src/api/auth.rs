//! `/auth/*`: registration, email verification, login, token refresh,
//! logout, password reset.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::types::{Accepted, TokenPair};
use crate::app::accounts::{self, NewAccount, PresentedToken, SignedIn};
use crate::app::clients::{self, CsrfEvidence};
use crate::auth::password;
use crate::auth::ratelimit::Bucket;
use crate::auth::{MaybePrincipal, Principal};
use crate::db::Db;
use crate::domain::{self, CountryCode, EmailAddress};
use crate::error::{ApiError, FieldCode, Problem};
use crate::http::cookies;
use crate::http::json::{Json, OptionalJson};
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

/// A new token pair: the body, and a cookie session's cookies.
fn signed_in(signed: SignedIn) -> HttpResponse {
    let mut res = HttpResponse::Ok().json(&signed.body);
    if let Some(c) = &signed.cookies {
        cookies::set_session(&mut res, &c.refresh_token, &c.csrf_token, c.max_age_secs);
    }
    no_store(res)
}

/// What the request carries against CSRF (read only when the cookie is used).
fn csrf_evidence(req: &HttpRequest) -> CsrfEvidence {
    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    CsrfEvidence {
        origin: header(header::ORIGIN),
        referer: header(header::REFERER),
        header_token: header(header::HeaderName::from_static(cookies::CSRF_HEADER)),
        cookie_token: cookies::read(req, cookies::CSRF_COOKIE),
    }
}

/// The refresh token of a refresh or logout: the body's, else the
/// `kj_refresh` cookie's.
fn presented_token(req: &HttpRequest, body_token: Option<String>) -> Option<PresentedToken> {
    let (token, from_cookie) = match body_token {
        Some(t) => (t, false),
        None => (cookies::read(req, cookies::REFRESH_COOKIE)?, true),
    };
    Some(PresentedToken {
        token,
        from_cookie,
        csrf: csrf_evidence(req),
    })
}

/// Names the client app whose link base emailed links use.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"client_id": "0193a5c2-7f10-7000-8000-00000000c11e"}))]
pub struct LinkRequest {
    /// A registered client app (`/admin/clients`): the emailed link starts
    /// with its link base instead of the platform's frontend URL (400 if
    /// there is no such app).
    #[serde(default)]
    pub client_id: Option<String>,
    /// One of that app's registered link bases (default: its first).
    #[serde(default)]
    pub link_base: Option<String>,
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
    #[schema(value_type = Option<crate::domain::vocab::Country>)]
    pub country: Option<String>,
    /// A registered client app: the verification link starts with its link
    /// base (400 on `client_id` if there is no such app).
    #[serde(default)]
    pub client_id: Option<String>,
    /// One of that app's registered link bases (default: its first).
    #[serde(default)]
    pub link_base: Option<String>,
}

impl TryFrom<RegisterRequest> for NewAccount {
    type Error = ApiError;

    /// Every field's problem at once (400); the password is judged against
    /// the address and the name.
    fn try_from(body: RegisterRequest) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let email = EmailAddress::parse(&body.email)
            .map_err(|e| errors.push(e.at("email")))
            .ok();
        let display_name = domain::parse_display_name(&body.display_name)
            .map_err(|e| errors.push(e.at("display_name")))
            .ok();
        let country = match body.country.as_deref() {
            None => None,
            Some(c) => CountryCode::parse(c)
                .map_err(|e| errors.push(e.at("country")))
                .ok(),
        };
        let link = domain::client::LinkChoice::from_fields(body.client_id, body.link_base)
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        if let Some(email) = &email
            && let Err(e) = password::check_policy(
                &body.password,
                email,
                &[display_name.as_deref().unwrap_or("")],
            )
        {
            errors.push(e.at("password"));
        }
        let (Some(email), Some(display_name), true) = (email, display_name, errors.is_empty())
        else {
            return Err(ApiError::validation(errors));
        };
        Ok(Self {
            email,
            display_name,
            country,
            password: body.password,
            link,
        })
    }
}

/// Create an account. The answer is the same whether or not the address
/// already had one (its owner is told by email instead). With `client_id`
/// the emailed link uses that client app's link base; an unknown app is a
/// 400 whatever the address.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 202, description = "Check your email", body = Accepted),
        (status = 400, description = "Invalid input, or an unknown client_id / link_base", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    Json(body): Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Bucket::Register, client_ip(&req))?;
    accounts::register(&db, &state, body.try_into()?).await?;
    Ok(HttpResponse::Accepted().json(Accepted {
        message: "If this address can be registered, we have sent a link to confirm it. \
                  Check your email."
            .into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "vK3p_example-token"}))]
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
    accounts::verify_email(&db, &body.token).await?;
    Ok(HttpResponse::Ok().json(Accepted {
        message: "Your email address is verified.".into(),
    }))
}

/// Send a fresh verification link to your address that awaits
/// verification: the account's address while it is unverified, else a
/// pending new address (PATCH /me). At most one link per
/// `auth.email_link_interval_secs` (5 minutes) and a few a day (429 with
/// Retry-After beyond). The body is optional; with `client_id` the link
/// uses that client app's link base.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth", security(("bearer" = [])),
    request_body(content = Option<LinkRequest>, description = "Optional: the client app whose link base to use"),
    responses(
        (status = 202, description = "A new link is on its way", body = Accepted),
        (status = 400, description = "Unknown client_id or link_base", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing awaits verification", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "A link was sent recently; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resend_verification(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    OptionalJson(body): OptionalJson<LinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.unwrap_or_default();
    let link = clients::link_choice(body.client_id, body.link_base)?;
    accounts::resend_verification(&db, &state, &principal.user.id, link).await?;
    Ok(HttpResponse::Accepted().json(Accepted {
        message: "We have sent a new link to confirm your address. Check your email.".into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "amina@example.org", "password": "a long passphrase of mine"}))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The client app signing in (400 if there is no such app). For an app
    /// with `cookie_sessions`, the refresh token is set in the `kj_refresh`
    /// cookie instead of the body (docs/FRONTEND-SESSIONS.md).
    #[serde(default)]
    pub client_id: Option<String>,
}

/// Sign in with email and password. Naming a client app with
/// `cookie_sessions` makes this a browser session: the answer sets
/// `kj_refresh` (`Secure; HttpOnly; SameSite=Strict; Path=/api/v1/auth`)
/// and `kj_csrf` (`Path=/`), and its body has `csrf_token` instead of
/// `refresh_token`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair,
            headers(("Set-Cookie" = String, description = "Cookie sessions only: `kj_refresh` and `kj_csrf`"))),
        (status = 400, description = "Malformed request, or an unknown client_id", body = Problem, content_type = "application/problem+json"),
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
    let signed = accounts::login(
        &db,
        &state,
        ip,
        &body.email,
        body.password,
        body.client_id.as_deref(),
    )
    .await?;
    Ok(signed_in(signed))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "rT5x_example-refresh-token"}))]
pub struct RefreshRequest {
    /// Required unless the `kj_refresh` cookie carries it (cookie sessions).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

fn no_refresh_token() -> ApiError {
    ApiError::field(
        "refresh_token",
        FieldCode::Required,
        "This field is required (or the kj_refresh cookie of a cookie session).",
    )
}

/// Exchange a refresh token for a new pair. Each refresh token works once;
/// presenting a spent one ends its session (it was probably stolen). A
/// cookie session sends no body (or `{}`): the token comes from the
/// `kj_refresh` cookie, the request needs an allowed `Origin` (or `Referer`)
/// and `X-CSRF-Token` equal to the `kj_csrf` cookie, and the answer rotates
/// the cookie.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "The refresh token, unless the kj_refresh cookie carries it"),
    params(("X-CSRF-Token" = Option<String>, Header, description = "Cookie sessions: the value of the kj_csrf cookie")),
    responses(
        (status = 200, description = "A new token pair", body = TokenPair,
            headers(("Set-Cookie" = String, description = "Cookie sessions only: the new `kj_refresh` and `kj_csrf`"))),
        (status = 400, description = "Malformed request, or no refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired or reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cookie session: CSRF check failed (`csrf-failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Bucket::Refresh, client_ip(&req))?;
    let body_token = body.and_then(|b| b.refresh_token);
    let presented = presented_token(&req, body_token).ok_or_else(no_refresh_token)?;
    let signed = accounts::refresh(&db, &state, presented).await?;
    Ok(signed_in(signed))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "rT5x_example-refresh-token"}))]
pub struct LogoutRequest {
    /// Without an access token: the session's refresh token (or the
    /// `kj_refresh` cookie of a cookie session).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// End this session (its access and refresh tokens stop working now): the
/// access token's session, else the session of the refresh token in the
/// body or the `kj_refresh` cookie (a cookie request passes the CSRF check,
/// as at refresh). Clears both session cookies when the request carried
/// them or the session was a cookie session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security((), ("bearer" = [])),
    request_body(content = Option<LogoutRequest>, description = "Optional: a refresh token, when no access token is sent"),
    params(("X-CSRF-Token" = Option<String>, Header, description = "Cookie sessions: the value of the kj_csrf cookie")),
    responses(
        (status = 204, description = "Signed out",
            headers(("Set-Cookie" = String, description = "`kj_refresh` and `kj_csrf` with `Max-Age=0`"))),
        (status = 401, description = "Not signed in, or an invalid refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not with an API token; or a cookie request failing the CSRF check (`csrf-failed`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    OptionalJson(body): OptionalJson<LogoutRequest>,
) -> Result<HttpResponse, ApiError> {
    let had_cookies = cookies::read(&req, cookies::REFRESH_COOKIE).is_some()
        || cookies::read(&req, cookies::CSRF_COOKIE).is_some();
    let body_token = body.and_then(|b| b.refresh_token);
    let cookie_session = match (principal, presented_token(&req, body_token)) {
        (Some(principal), _) => {
            accounts::logout(&db, &principal.user.id, principal.session()?).await?;
            false
        }
        (None, Some(presented)) => accounts::logout_with_token(&db, presented).await?,
        (None, None) => return Err(ApiError::Unauthorized("Sign in first.".into())),
    };
    let mut res = HttpResponse::NoContent().finish();
    if had_cookies || cookie_session {
        cookies::clear_session(&mut res);
    }
    Ok(no_store(res))
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
    accounts::logout_all(&db, &principal.user.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "amina@example.org"}))]
pub struct PasswordResetRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// A registered client app: the reset link starts with its link base
    /// (400 on `client_id` if there is no such app, whatever the address).
    #[serde(default)]
    pub client_id: Option<String>,
    /// One of that app's registered link bases (default: its first).
    #[serde(default)]
    pub link_base: Option<String>,
}

/// Ask for a password reset link. Always 202 with the same body for a
/// well-formed address (an unknown `client_id` is a 400: it is about the
/// app, not the address).
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If the address has an account, a link is on its way", body = Accepted),
        (status = 400, description = "Malformed request, or an unknown client_id / link_base", body = Problem, content_type = "application/problem+json"),
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
    // one has an account is never revealed: the link is made after the
    // answer, for every address.
    let email = EmailAddress::parse(&body.email).map_err(|e| ApiError::from(e.at("email")))?;
    let link = clients::link_choice(body.client_id, body.link_base)?;
    let link_base = clients::link_base(&db, link).await?;
    accounts::request_password_reset(&db, &state, email, link_base);
    Ok(HttpResponse::Accepted().json(Accepted {
        message: "If this address has an account, we have sent it a link to reset the password."
            .into(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"new_password": "a brand new passphrase", "token": "vK3p_example-token"}))]
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
    let ip = client_ip(&req);
    accounts::reset_password(&db, &state, &body.token, body.new_password, ip).await?;
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
