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

use crate::domain::policy::{
    self, Action, Actor, Decision, InstitutionFacts, InstitutionRole, PartnershipFacts,
    ResourceFacts,
};
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

// ----- institutions ----------------------------------------------------------------

/// What you may do with an institution (`GET /institutions/{slug}` and what
/// creating, changing and verifying one answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"edit": true, "delete": true, "verify": false, "manage_members": true,
    "invite": true, "view_invitations": true, "leave": true, "create_resources": true}))]
pub struct InstitutionPermissions {
    /// `PATCH /institutions/{slug}`.
    pub edit: bool,
    /// `DELETE /institutions/{slug}` (409 while it owns published resources).
    pub delete: bool,
    /// `POST /institutions/{slug}/verify` (platform admins).
    pub verify: bool,
    /// `PATCH`/`DELETE /institutions/{slug}/members/{user_id}` of others
    /// (the last owner stays: 409).
    pub manage_members: bool,
    /// `POST /institutions/{slug}/invitations` with role `member` (owners
    /// invite with any role, editors `member` only) and withdrawing those.
    pub invite: bool,
    /// `GET /institutions/{slug}/invitations`.
    pub view_invitations: bool,
    /// `DELETE /institutions/{slug}/members/{your user id}`: you are a
    /// member and may go (the last owner cannot: 409).
    pub leave: bool,
    /// `POST /{kind}` with this `institution` (drafts).
    pub create_resources: bool,
}

/// The institution flags, from its facts for the caller.
pub fn institution(actor: &Actor, f: InstitutionFacts) -> InstitutionPermissions {
    InstitutionPermissions {
        edit: allowed(actor, Action::UpdateInstitution(f)),
        delete: allowed(actor, Action::DeleteInstitution(f)),
        verify: allowed(actor, Action::VerifyInstitution(f)),
        manage_members: allowed(actor, Action::ChangeMemberRole(f))
            && allowed(
                actor,
                Action::RemoveMember {
                    institution: f,
                    own: false,
                },
            ),
        invite: allowed(
            actor,
            Action::Invite {
                institution: f,
                role: InstitutionRole::Member,
            },
        ),
        view_invitations: allowed(actor, Action::ListInvitations(f)),
        // Only a member has a membership to end (anyone else's call is a
        // 404 "no such member", or refused).
        leave: f.caller_role.is_some()
            && allowed(
                actor,
                Action::RemoveMember {
                    institution: f,
                    own: true,
                },
            ),
        create_resources: allowed(actor, Action::CreateResource(f)),
    }
}

// ----- partnerships ----------------------------------------------------------------

/// What you may do with a partnership (`GET /partnerships/{slug}` and what
/// its commands answer). A concluded or dissolved partnership is read-only:
/// its changes answer 409 whatever the flags say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"edit": false, "change_status": false, "invite_institutions": false,
    "remove_institutions": false, "manage_coordinators": false, "share_resources": true,
    "act_for_institution": true}))]
pub struct PartnershipPermissions {
    /// `PATCH /partnerships/{slug}` (coordinators).
    pub edit: bool,
    /// `POST /partnerships/{slug}/activate`, `/conclude`, `/dissolve`
    /// (its lifecycle may still answer 409 or 422).
    pub change_status: bool,
    /// `POST /partnerships/{slug}/members`.
    pub invite_institutions: bool,
    /// `DELETE /partnerships/{slug}/members/{institution}` of another
    /// institution (or `PATCH` it to `removed`).
    pub remove_institutions: bool,
    /// `POST`/`DELETE /partnerships/{slug}/coordinators…`.
    pub manage_coordinators: bool,
    /// `POST /partnerships/{slug}/resources`: you are an owner or editor of
    /// an active member institution (and share its resources).
    pub share_resources: bool,
    /// `POST …/members/{institution}/accept`, `/decline`, or `PATCH` it to
    /// `left`, for an institution of yours you own: its status decides
    /// which of these it takes (409 for the others).
    pub act_for_institution: bool,
}

/// The partnership flags. `editor`: the caller is an owner or editor of an
/// active member institution; `owner`: the caller owns a member institution
/// (whatever its status).
pub fn partnership(
    actor: &Actor,
    f: PartnershipFacts,
    editor: bool,
    owner: bool,
) -> PartnershipPermissions {
    let manage = allowed(actor, Action::ManagePartnership(f));
    PartnershipPermissions {
        edit: manage,
        change_status: manage,
        invite_institutions: manage,
        remove_institutions: manage,
        manage_coordinators: manage,
        share_resources: allowed(
            actor,
            Action::ShareResource {
                partnership: f,
                editor,
            },
        ),
        act_for_institution: allowed(
            actor,
            Action::ActForMemberInstitution {
                partnership: f,
                owner,
            },
        ),
    }
}

// ----- access requests -------------------------------------------------------------

/// What you may do with an access request (`GET /access-requests/{id}` and
/// what its moves answer). Moves from a status that does not allow them
/// answer 409.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"approve": true, "reject": true, "withdraw": false, "revoke": true,
    "download": true}))]
pub struct AccessRequestPermissions {
    /// `POST /access-requests/{id}/approve`: a decider of the dataset's
    /// institution, not on their own request; for a pending request also
    /// the transfer policy and the requester's institution as they stand.
    pub approve: bool,
    /// `POST /access-requests/{id}/reject`.
    pub reject: bool,
    /// `POST /access-requests/{id}/withdraw` (the requester).
    pub withdraw: bool,
    /// `POST /access-requests/{id}/revoke` (owners of the dataset's institution).
    pub revoke: bool,
    /// `GET /datasets/{dataset_id}/files/{file_id}/link` for you now: the
    /// dataset's `download` flag.
    pub download: bool,
}

/// The access request flags: `decide`, `withdraw`, `revoke` are the
/// actions the moves ask; `approvable` whether an approval of a pending
/// request would pass the transfer policy now (`true` when not pending: the
/// move then answers 409 first); `download` as a dataset's.
pub fn access_request(
    actor: &Actor,
    decide: Action,
    withdraw: Action,
    revoke: Action,
    approvable: bool,
    download: bool,
) -> AccessRequestPermissions {
    let decide = allowed(actor, decide);
    AccessRequestPermissions {
        approve: decide && approvable,
        reject: decide,
        withdraw: allowed(actor, withdraw),
        revoke: allowed(actor, revoke),
        download,
    }
}

// ----- a course's modules -----------------------------------------------------------

/// What you may do with a course's modules (`GET /courses/{id}/modules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"manage_modules": false, "record_progress": true, "view_learners": false}))]
pub struct ModuleListPermissions {
    /// `POST /courses/{id}/modules`, `PATCH`/`DELETE …/modules/{module_id}`.
    pub manage_modules: bool,
    /// `PUT`/`DELETE /courses/{id}/enrollment/modules/{module_id}` (enroll
    /// first: 409 otherwise) and `PUT /courses/{id}/enrollment`.
    pub record_progress: bool,
    /// `GET /courses/{id}/enrollments` and `/stats`.
    pub view_learners: bool,
}

/// The module list flags, from the course's facts.
pub fn module_list(actor: &Actor, f: ResourceFacts) -> ModuleListPermissions {
    ModuleListPermissions {
        manage_modules: allowed(actor, Action::EditResource(f)),
        record_progress: allowed(actor, Action::Enroll(f)),
        view_learners: allowed(actor, Action::ViewLearners(f)),
    }
}
