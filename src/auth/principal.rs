//! Who is calling: `Authorization: Bearer <access JWT>` for people,
//! `Authorization: Bearer kj_…` for API tokens. Every request re-checks the
//! user (active, token version) and the session (not logged out), so
//! logout, logout-all, password changes and deactivation take effect at once.

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, web};

use crate::auth::{API_TOKEN_PREFIX, token_hash};
use crate::db::accounts::{self, UserRow};
use crate::db::{Db, now};
use crate::domain::Role;
use crate::error::ApiError;
use crate::problem_types::ProblemType;
use crate::state::AppState;

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A person's login session.
    Session { sid: String },
    /// A personal API token.
    ApiToken { id: String, write: bool },
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserRow,
    pub via: Via,
}

impl Principal {
    pub fn role(&self) -> Role {
        self.user.role
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Role::Admin
    }

    /// The session id; API tokens may not do what needs a session (create
    /// tokens, change the password, log out).
    pub fn session(&self) -> Result<&str, ApiError> {
        match &self.via {
            Via::Session { sid } => Ok(sid),
            Via::ApiToken { .. } => Err(ApiError::Forbidden {
                problem: ProblemType::SessionRequired,
                detail: "Sign in with your password to do this; API tokens cannot.".into(),
            }),
        }
    }

    /// The policy's view of a caller who may be anonymous.
    pub fn actor_of(principal: Option<&Principal>) -> crate::domain::policy::Actor {
        principal.map_or(crate::domain::policy::Actor::ANONYMOUS, Principal::actor)
    }

    /// The policy's view of this caller.
    pub fn actor(&self) -> crate::domain::policy::Actor {
        crate::domain::policy::Actor {
            role: Some(self.role()),
            verified: self.user.email_verified,
        }
    }

    /// Asks the policy whether the caller may administer the platform.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        use crate::domain::policy::{Action, enforce, may};
        Ok(enforce(may(&self.actor(), Action::Administer))?)
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::Unauthorized(detail.into())
}

/// The bearer token of the request, if any; a malformed header is a 401.
fn bearer(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| unauthorized("The Authorization header is not valid."))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("Use `Authorization: Bearer <token>`."))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() || token.len() > 4096 {
        return Err(unauthorized("Use `Authorization: Bearer <token>`."));
    }
    Ok(Some(token.trim().to_string()))
}

async fn authenticate(req: &HttpRequest, token: String) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
    let db = req
        .app_data::<web::Data<Db>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no database")))?;
    let invalid = || unauthorized("The access token is invalid or expired.");
    if token.starts_with(API_TOKEN_PREFIX) {
        let hash = token_hash(&token);
        let found = db
            .run(move |conn| {
                let now = now();
                let found = accounts::api_token_by_hash(conn, &hash, now)?;
                if let Some((t, _)) = &found {
                    accounts::touch_api_token(conn, &t.id, now)?;
                }
                Ok::<_, diesel::result::Error>(found)
            })
            .await?;
        let (token, user) = found.ok_or_else(invalid)?;
        if !user.active {
            return Err(invalid());
        }
        let write = token.scopes.writes();
        let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe && !write {
            return Err(ApiError::Forbidden {
                problem: ProblemType::InsufficientScope,
                detail: "This token has the `read` scope only; writing needs `write`.".into(),
            });
        }
        return Ok(Principal {
            user,
            via: Via::ApiToken {
                id: token.id,
                write,
            },
        });
    }
    let claims = state.keys.verify(&token).ok_or_else(invalid)?;
    let (sub, sid) = (claims.sub.clone(), claims.sid.clone());
    let found = db
        .run(move |conn| {
            let user = accounts::user_by_id(conn, &sub)?;
            let live = accounts::session_is_live(conn, &sid, &sub)?;
            Ok::<_, diesel::result::Error>((user, live))
        })
        .await?;
    match found {
        (Some(user), true) if user.active && user.token_version == claims.ver => Ok(Principal {
            user,
            via: Via::Session { sid: claims.sid },
        }),
        _ => Err(invalid()),
    }
}

/// Middleware on `/api/v1`: when a request carries credentials, checks
/// them before anything else (so a bad token is a 401 even when the body is
/// also wrong) and leaves the principal in the request's extensions; it
/// also scopes `Idempotency-Key`s to the user. Without credentials the
/// request goes on anonymous.
pub async fn authenticate_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    let http_req = req.request().clone();
    let outcome = match bearer(&http_req) {
        Ok(None) => Ok(None),
        Ok(Some(token)) => authenticate(&http_req, token).await.map(Some),
        Err(e) => Err(e),
    };
    drop(http_req);
    match outcome {
        Ok(Some(principal)) => {
            req.extensions_mut()
                .insert(crate::http::idempotency::IdempotencyScope(format!(
                    "user:{}",
                    principal.user.id
                )));
            req.extensions_mut().insert(principal);
        }
        Ok(None) => {}
        Err(err) => return Ok(req.error_response(err)),
    }
    next.call(req)
        .await
        .map(actix_web::dev::ServiceResponse::map_into_boxed_body)
}

/// The principal the middleware left, if any (`None` outside `/api/v1`).
fn from_extensions(req: &HttpRequest) -> Option<Principal> {
    use actix_web::HttpMessage;
    req.extensions().get::<Principal>().cloned()
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            from_extensions(req).ok_or_else(|| {
                unauthorized("Sign in: this needs `Authorization: Bearer <token>`.")
            }),
        )
    }
}

/// A caller who may be anonymous. (A token that is present but invalid was
/// already answered with 401 by the middleware: a client should learn its
/// token is bad.)
#[derive(Debug, Clone)]
pub struct MaybePrincipal(pub Option<Principal>);

impl FromRequest for MaybePrincipal {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self(from_extensions(req))))
    }
}
