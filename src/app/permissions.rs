//! `permissions`: what the caller may do with an object, as flags a UI
//! shows or hides its buttons by. Each flag is the answer of the one policy
//! (`domain::policy::may`) to the very question the endpoint it is named
//! after asks (the same `Action` built from the same facts), so a flag and
//! the answer of that call cannot disagree: `true` means the call will not
//! be refused with 401, 403 or 404; the object's state may still answer
//! 409 (publishing what is already published) or 422 (an incomplete
//! resource). Nothing here decides anything itself.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::policy::{self, Action, Actor, Decision, ResourceFacts};
use crate::domain::resource::ResourceKind;

fn allowed(actor: &Actor, action: Action) -> bool {
    policy::may(actor, action) == Decision::Allow
}

/// What you may do with a resource. Every kind has the first four; a course
/// and a dataset add their own (absent on the other kinds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"edit": false, "delete": false, "publish": false, "archive": false,
    "manage_files": false, "request_access": true, "download": false,
    "view_access_requests": false, "set_data_terms": false}))]
pub struct ResourcePermissions {
    /// `PATCH /{kind}/{id}`.
    pub edit: bool,
    /// `DELETE /{kind}/{id}` (drafts only: a published one answers 409).
    pub delete: bool,
    /// `POST /{kind}/{id}/publish` (drafts only; needs a complete resource).
    pub publish: bool,
    /// `POST /{kind}/{id}/archive` (published ones only).
    pub archive: bool,
    /// Courses: `POST /courses/{id}/modules`, `PATCH`/`DELETE …/modules/{module_id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage_modules: Option<bool>,
    /// Courses: `PUT /courses/{id}/enrollment` and recording progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enroll: Option<bool>,
    /// Courses: `GET /courses/{id}/enrollments` and `/stats`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_learners: Option<bool>,
    /// Datasets: `POST /datasets/{id}/files`, `DELETE …/files/{file_id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage_files: Option<bool>,
    /// Datasets: `POST /datasets/{id}/access-requests` (only restricted,
    /// published datasets of another institution take requests: 409 otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_access: Option<bool>,
    /// Datasets: `GET /datasets/{id}/files/{file_id}/link` now, for you as
    /// yourself (no `institution=`): the access level, your grant and the
    /// transfer policy, checked as a link checks them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<bool>,
    /// Datasets: `GET /datasets/{id}/access-requests`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_access_requests: Option<bool>,
    /// Datasets: a `PATCH` that changes `access_level`, `transfer_policy`,
    /// `allowed_countries`, `origin_country` or `visibility`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_data_terms: Option<bool>,
}

/// The resource flags, from its facts; `download` is asked by the caller
/// (it needs the caller's grant and the transfer policy: `app::access`).
pub fn resource(
    actor: &Actor,
    kind: ResourceKind,
    f: ResourceFacts,
    download: Option<bool>,
) -> ResourcePermissions {
    let edit = allowed(actor, Action::EditResource(f));
    let course = (kind == ResourceKind::Course).then_some(());
    let dataset = (kind == ResourceKind::Dataset).then_some(());
    ResourcePermissions {
        edit,
        delete: edit,
        publish: allowed(actor, Action::PublishResource(f)),
        archive: edit,
        manage_modules: course.map(|()| edit),
        enroll: course.map(|()| allowed(actor, Action::Enroll(f))),
        view_learners: course.map(|()| allowed(actor, Action::ViewLearners(f))),
        manage_files: dataset.map(|()| edit),
        request_access: dataset.map(|()| allowed(actor, Action::RequestAccess(f))),
        download: dataset.and(download),
        view_access_requests: dataset.map(|()| allowed(actor, Action::ListAccessRequests(f))),
        set_data_terms: dataset.map(|()| allowed(actor, Action::SetDataTerms(f))),
    }
}
