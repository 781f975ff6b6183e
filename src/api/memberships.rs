//! `/me/memberships`: where the signed-in person belongs (their
//! institutions and partnerships), in one answer.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::memberships as app;
pub use crate::app::memberships::{Memberships, MyInstitution, MyPartnership, Way};
use crate::auth::Principal;
use crate::db::Db;
use crate::error::{ApiError, Problem};
use crate::http::etag;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/me/memberships").route(crate::api::get().to(memberships)));
}

/// Your institutions (with your role) and your partnerships (as
/// coordinator, or through a member institution), in one answer of at
/// most 500 of each (`truncated` says when a list was cut; then page
/// through `/institutions?member=me` and `/partnerships?member=me`, which
/// select the same).
#[utoipa::path(get, operation_id = "my_memberships", path = "/api/v1/me/memberships", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "Where you belong", body = Memberships, headers(("ETag" = String, description = "Strong validator"))),
        (status = 304, description = "Not modified"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn memberships(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let memberships = app::of(&db, &principal).await?;
    etag::respond(&req, &memberships)
}
