//! `/me`: the signed-in person's profile, password, API tokens.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::auth::client_ip;
use crate::api::types::{ApiToken, Scope, User};
use crate::app::accounts::{self, AddressChange, NewToken, ProfileUpdate};
use crate::auth::Principal;
use crate::auth::ratelimit::Bucket;
use crate::db::Db;
use crate::domain::{self, CountryCode, EmailAddress};
use crate::error::{ApiError, Invalid, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
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
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[schema(value_type = Option<crate::domain::vocab::Country>)]
    pub country: Option<Option<String>>,
    /// At most 20.
    #[schema(value_type = Option<Vec<crate::domain::vocab::Language>>, max_items = 20)]
    pub languages: Option<Vec<String>>,
    /// A new address: it takes effect once verified through the emailed
    /// link; needs `current_password`. Your current address cancels a
    /// pending change.
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// Required to change the email address.
    pub current_password: Option<String>,
    /// A registered client app (`/admin/clients`): the verification link
    /// for a new address then starts with its link base instead of the
    /// platform's frontend URL (400 if there is no such app).
    #[serde(default)]
    pub client_id: Option<String>,
    /// One of that app's registered link bases (default: its first).
    #[serde(default)]
    pub link_base: Option<String>,
}

/// Change your display name, country, languages or email address.
#[utoipa::path(patch, path = "/api/v1/me", tag = "me", security(("bearer" = [])), request_body = MePatch,
    params(("If-Match" = Option<String>, Header, description = "ETag of the profile you edited")),
    responses(
        (status = 200, description = "Updated profile", body = User),
        (status = 400, description = "Invalid input (unknown fields such as `role` included), or an unknown client_id / link_base", body = Problem, content_type = "application/problem+json"),
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
    let update = body.parse(&principal.user.email_normalized)?;
    etag::check_if_match(&req, &etag::etag_of_json(&User::from(&principal.user))?)?;
    let user = accounts::update_profile(&db, &state, &principal, client_ip(&req), update).await?;
    etag::respond(&req, &User::from(&user))
}

impl MePatch {
    /// Every field's problem at once (400). `current` is the account's
    /// normalised address: sending it back cancels a pending change; a new
    /// one needs `current_password`.
    fn parse(self, current: &str) -> Result<ProfileUpdate, ApiError> {
        let mut errors = Vec::new();
        let mut update = ProfileUpdate::default();
        if let Some(name) = &self.display_name {
            match domain::parse_display_name(name) {
                Ok(n) => update.display_name = Some(n),
                Err(e) => errors.push(e.at("display_name")),
            }
        }
        if let Some(country) = &self.country {
            match country.as_deref().map(CountryCode::parse).transpose() {
                Ok(c) => update.country = Some(c),
                Err(e) => errors.push(e.at("country")),
            }
        }
        if let Some(languages) = &self.languages {
            match domain::parse_languages(languages) {
                Ok(l) => update.languages = Some(l),
                Err(e) => errors.push(e.at("languages")),
            }
        }
        if let Some(email) = &self.email {
            match EmailAddress::parse(email) {
                Ok(e) if e.normalized() == current => update.address = Some(AddressChange::Cancel),
                Ok(e) => update.address = Some(AddressChange::To(e)),
                Err(e) => errors.push(e.at("email")),
            }
        }
        if matches!(update.address, Some(AddressChange::To(_))) && self.current_password.is_none() {
            errors.push(
                Invalid::required("Confirm an email change with your current password.")
                    .other("email")
                    .at("current_password"),
            );
        }
        match domain::client::LinkChoice::from_fields(self.client_id, self.link_base) {
            Ok(link) => update.link = link,
            Err(e) => errors.push(e),
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        update.current_password = self.current_password;
        Ok(update)
    }
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
    accounts::deactivate_self(&db, &principal).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "my current passphrase", "new_password": "a brand new passphrase"}))]
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
        (status = 429, description = "Too many attempts from your address (shared with logins); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    Json(body): Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let sid = principal.session()?;
    let ip = client_ip(&req);
    state.limits.check(Bucket::Login, ip)?;
    let (current, new) = (body.current_password, body.new_password);
    accounts::change_password(&db, &state, &principal.user, sid, ip, current, new).await?;
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
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let rows = accounts::tokens(&db, &principal.user.id, after, page.fetch_limit()).await?;
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
#[schema(example = json!({"expires_at": "2027-06-30T00:00:00Z", "name": "lab sync script", "scopes": ["read"]}))]
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
    let token = NewToken {
        name: body.name,
        scopes: body.scopes,
        expires_at: body.expires_at,
    };
    let (row, secret) = accounts::create_token(&db, &state, &principal.user, token).await?;
    let mut answer = ApiToken::from(&row);
    answer.token = Some(secret);
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
    accounts::revoke_token(&db, &principal.user.id, &path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
