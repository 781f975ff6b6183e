//! Resources (courses, datasets, model cards): loading one with who looks
//! at it, the facts the policy decides on, and the errors their lifecycle
//! answers. Other areas (learning, access, partnerships) use these.

use crate::auth::Principal;
use crate::db::DbConnection;
use crate::db::resources::{self as store, Loaded, ResourceRow, Viewer};
use crate::domain::policy::{self, Actor, InstitutionFacts, InstitutionRole, ResourceFacts};
use crate::domain::resource::{Details, ResourceKind, Status, Visibility};
use crate::error::{ApiError, FieldError};
use crate::problem_types::ProblemType;

pub fn parse_kind(row: &ResourceRow) -> ResourceKind {
    ResourceKind::parse(&row.kind).unwrap_or(ResourceKind::Course)
}

pub fn status_of(row: &ResourceRow) -> Status {
    Status::parse(&row.status).unwrap_or(Status::Draft)
}

pub fn facts(l: &Loaded, viewer: &Viewer) -> ResourceFacts {
    ResourceFacts {
        institution: InstitutionFacts {
            verified: l.institution_verified,
            caller_role: viewer
                .role_in(&l.row.institution_id)
                .and_then(InstitutionRole::parse),
        },
        status: status_of(&l.row),
        visibility: Visibility::parse(&l.row.visibility).unwrap_or(Visibility::Institution),
        shared_with_caller: viewer.partnership_shared.contains(&l.row.id),
    }
}

pub fn visible(actor: &Actor, l: &Loaded, viewer: &Viewer) -> bool {
    policy::resource_visible(actor, &facts(l, viewer))
}

pub fn details_of(row: &ResourceRow) -> Result<Details, ApiError> {
    Details::from_json(parse_kind(row), &row.details).map_err(ApiError::internal)
}

/// The resource `id` of `kind` and who is looking; `None` if there is none.
pub fn load(
    conn: &mut DbConnection,
    kind: ResourceKind,
    id: &str,
    principal: Option<&Principal>,
) -> Result<(Loaded, Viewer), ApiError> {
    let viewer = Viewer::load(
        conn,
        principal.map(|p| p.user.id.as_str()),
        principal.is_some_and(Principal::is_admin),
    )?;
    let loaded = store::by_id(conn, id)?
        .filter(|l| parse_kind(&l.row) == kind)
        .ok_or(ApiError::NotFound)?;
    Ok((loaded, viewer))
}

pub fn incomplete(gaps: Vec<FieldError>) -> ApiError {
    ApiError::Unprocessable {
        problem: ProblemType::IncompleteResource,
        detail: format!(
            "{} field(s) must be filled in before this can be published; see `errors`.",
            gaps.len()
        ),
        errors: gaps,
    }
}

pub fn read_only() -> ApiError {
    ApiError::Conflict {
        problem: ProblemType::ResourceArchived,
        detail: "This resource is archived; it can no longer be changed.".into(),
    }
}
