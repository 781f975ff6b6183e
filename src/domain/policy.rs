//! The one access-control policy: `may(actor, action)` answers every access
//! question with allow, hidden (→ 404: the caller may not know the object
//! exists) or forbidden (→ 403: they may see it, not do this). It is pure:
//! handlers load the facts first (the caller's role in the institution,
//! whether it is verified) and pass them in the action.
//!
//! Rules (brief, "Access rules"):
//! - admins may do everything (every admin action is audited by the caller);
//! - an unverified institution is visible to its members and admins only;
//! - institution owners manage the institution and its members; editors may
//!   invite members (`member` role only); any member may leave;
//! - inviting and creating institutions need a verified email address.

use crate::domain::Role;
use crate::domain::resource::{AccessLevel, Status, Visibility};
use crate::domain::word::word_enum;

word_enum!(
    /// Roles inside an institution.
    InstitutionRole {
        Member => "member",
        Editor => "editor",
        Owner => "owner",
    }
);

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// `None` for anonymous callers.
    pub role: Option<Role>,
    /// Whether the caller verified their email address.
    pub verified: bool,
}

impl Actor {
    pub const ANONYMOUS: Actor = Actor {
        role: None,
        verified: false,
    };

    fn is_admin(&self) -> bool {
        self.role == Some(Role::Admin)
    }

    fn signed_in(&self) -> bool {
        self.role.is_some()
    }
}

/// What the policy needs to know about an institution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstitutionFacts {
    pub verified: bool,
    /// The caller's role in it, if they are a member.
    pub caller_role: Option<InstitutionRole>,
}

/// What the policy needs to know about a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceFacts {
    /// Its owning institution.
    pub institution: InstitutionFacts,
    pub status: Status,
    pub visibility: Visibility,
    /// Shared into an active partnership one of the caller's institutions
    /// is an active member of (always `false` until partnerships exist).
    pub shared_with_caller: bool,
}

/// What the policy needs to know about a partnership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartnershipFacts {
    /// Its page is public.
    pub public: bool,
    /// The caller coordinates it.
    pub coordinator: bool,
    /// The caller belongs to an active or invited member institution.
    pub member: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateInstitution,
    ViewInstitution(InstitutionFacts),
    UpdateInstitution(InstitutionFacts),
    DeleteInstitution(InstitutionFacts),
    VerifyInstitution(InstitutionFacts),
    /// See who the members are (others of a verified institution see the count).
    ListMembers(InstitutionFacts),
    ChangeMemberRole(InstitutionFacts),
    /// Remove a member; `own` when callers remove themselves.
    RemoveMember {
        institution: InstitutionFacts,
        own: bool,
    },
    Invite {
        institution: InstitutionFacts,
        role: InstitutionRole,
    },
    ListInvitations(InstitutionFacts),
    /// Withdraw (or replace) a pending invitation with this role: the same
    /// rule as sending it.
    WithdrawInvitation {
        institution: InstitutionFacts,
        role: InstitutionRole,
    },
    AcceptInvitation,
    /// Create a resource owned by this institution.
    CreateResource(InstitutionFacts),
    /// Read a resource (and link to it, and see its files' names).
    ViewResource(ResourceFacts),
    /// Change, archive or delete a resource, or manage its files.
    EditResource(ResourceFacts),
    /// Publish a draft.
    PublishResource(ResourceFacts),
    /// Withdraw what was published, for good (its institution's owners;
    /// facts as the resource was before).
    DeaccessionResource(ResourceFacts),
    /// Enroll in a course (and record one's own progress in it).
    Enroll(ResourceFacts),
    /// See a course's learners and their aggregates.
    ViewLearners(ResourceFacts),
    /// Create a partnership (platform coordinators and admins).
    CreatePartnership,
    ViewPartnership(PartnershipFacts),
    /// Change it, its status, members, coordinators; remove shared resources.
    ManagePartnership(PartnershipFacts),
    /// Accept or decline an invitation, or leave: `owner` of that institution.
    ActForMemberInstitution {
        partnership: PartnershipFacts,
        owner: bool,
    },
    /// Share a resource into it: `editor` of the resource's institution.
    ShareResource {
        partnership: PartnershipFacts,
        editor: bool,
    },
    /// `/users`, `/admin/*`, `/audit-events`.
    Administer,
    /// Ask for access to a dataset (a verified account).
    RequestAccess(ResourceFacts),
    /// See a dataset's access requests: its institution's owners and
    /// editors (and admins, who may look but not decide).
    ListAccessRequests(ResourceFacts),
    /// Approve or reject a request: its institution's owners and editors,
    /// never on their own request (`own`).
    DecideAccess {
        dataset: ResourceFacts,
        own: bool,
    },
    /// End a grant early: its institution's owners.
    RevokeAccess(ResourceFacts),
    /// Read one request; `requester` when it is the caller's own.
    ViewAccessRequest {
        dataset: ResourceFacts,
        requester: bool,
    },
    /// Withdraw a pending request: the requester only.
    WithdrawAccessRequest {
        dataset: ResourceFacts,
        requester: bool,
    },
    /// Change a dataset's access level, transfer policy or visibility: its
    /// institution's owners and editors — not admins, who could otherwise
    /// open the data to themselves.
    SetDataTerms(ResourceFacts),
    /// Get a link to a dataset's file. `grant`: the caller holds an approved,
    /// unexpired, unrevoked grant. The transfer policy is checked after this
    /// (`domain::transfer`).
    Download {
        dataset: ResourceFacts,
        level: AccessLevel,
        grant: bool,
    },
}

/// Why a request is forbidden (becomes the problem type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// Sign in first (401).
    SignIn,
    /// Verify your email address first.
    EmailNotVerified,
    /// Your role does not allow it.
    Role,
    /// Administrators only.
    AdminOnly,
    /// The institution is not verified yet.
    InstitutionNotVerified,
    /// Partnership coordinators (or admins) only.
    CoordinatorOnly,
    /// Downloading needs a signed-in, verified account.
    AccountRequired,
    /// A restricted dataset: only holders of an approved grant download.
    GrantRequired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 404: the caller may not learn that the object exists.
    Hidden,
    /// 403 (or 401 for `SignIn`).
    Forbidden(Denial),
}

fn visible(actor: &Actor, inst: &InstitutionFacts) -> bool {
    actor.is_admin() || inst.verified || inst.caller_role.is_some()
}

/// Who sees a resource (brief, "Access rules"): drafts only the owning
/// institution's owners and editors; otherwise its members, and — while the
/// institution is verified — everyone for `public`, the signed-in for
/// `registered`, members of a partnership it is shared into for
/// `partnership`. Admins see everything. `db::resources::visible_filter`
/// is the same rule in SQL.
pub fn resource_visible(actor: &Actor, r: &ResourceFacts) -> bool {
    use InstitutionRole::{Editor, Owner};
    let role = r.institution.caller_role;
    if actor.is_admin() {
        return true;
    }
    // Drafts, and what was withdrawn (its tombstone answers for it,
    // `app::deaccession`), are their editors' only.
    if matches!(r.status, Status::Draft | Status::Deaccessioned) {
        return matches!(role, Some(Owner | Editor));
    }
    if role.is_some() {
        return true;
    }
    r.institution.verified
        && match r.visibility {
            Visibility::Public => true,
            Visibility::Registered => actor.signed_in(),
            Visibility::Institution => false,
            Visibility::Partnership => r.shared_with_caller,
        }
}

/// The policy.
pub fn may(actor: &Actor, action: Action) -> Decision {
    use Decision::{Allow, Forbidden, Hidden};
    use InstitutionRole::{Editor, Member, Owner};

    if let Some(decision) = dataset_access(actor, action) {
        return decision;
    }

    // Object first: what you may not see, you may not act on either.
    let inst = match action {
        Action::ViewInstitution(i)
        | Action::UpdateInstitution(i)
        | Action::DeleteInstitution(i)
        | Action::VerifyInstitution(i)
        | Action::ListMembers(i)
        | Action::ChangeMemberRole(i)
        | Action::RemoveMember { institution: i, .. }
        | Action::Invite { institution: i, .. }
        | Action::ListInvitations(i)
        | Action::WithdrawInvitation { institution: i, .. } => Some(i),
        Action::CreateResource(i) => Some(i),
        Action::ViewResource(r)
        | Action::EditResource(r)
        | Action::PublishResource(r)
        | Action::DeaccessionResource(r)
        | Action::Enroll(r)
        | Action::ViewLearners(r) => {
            if !resource_visible(actor, &r) {
                return Hidden;
            }
            None
        }
        Action::ViewPartnership(p)
        | Action::ManagePartnership(p)
        | Action::ActForMemberInstitution { partnership: p, .. }
        | Action::ShareResource { partnership: p, .. } => {
            if !(actor.is_admin() || p.public || p.coordinator || p.member) {
                return Hidden;
            }
            None
        }
        Action::CreateInstitution
        | Action::AcceptInvitation
        | Action::Administer
        | Action::CreatePartnership => None,
        Action::RequestAccess(_)
        | Action::ListAccessRequests(_)
        | Action::DecideAccess { .. }
        | Action::SetDataTerms(_)
        | Action::RevokeAccess(_)
        | Action::ViewAccessRequest { .. }
        | Action::WithdrawAccessRequest { .. }
        | Action::Download { .. } => return Hidden, // decided by dataset_access
    };
    // Unverified institutions cannot publish, whoever asks.
    if let Action::PublishResource(r) = action
        && !r.institution.verified
        && (actor.is_admin() || matches!(r.institution.caller_role, Some(Owner | Editor)))
    {
        return Forbidden(Denial::InstitutionNotVerified);
    }
    if let Some(i) = &inst
        && !visible(actor, i)
    {
        return Hidden;
    }
    if actor.is_admin() {
        return Allow;
    }
    let role = match action {
        Action::ViewResource(r)
        | Action::EditResource(r)
        | Action::PublishResource(r)
        | Action::DeaccessionResource(r)
        | Action::Enroll(r)
        | Action::ViewLearners(r) => r.institution.caller_role,
        _ => inst.and_then(|i| i.caller_role),
    };
    let needs_signin = |d: Decision| {
        if actor.signed_in() {
            d
        } else {
            Forbidden(Denial::SignIn)
        }
    };
    match action {
        Action::ViewInstitution(_) | Action::ListMembers(_) => Allow,
        Action::CreateInstitution | Action::AcceptInvitation => {
            if !actor.signed_in() {
                Forbidden(Denial::SignIn)
            } else if !actor.verified {
                Forbidden(Denial::EmailNotVerified)
            } else {
                Allow
            }
        }
        Action::UpdateInstitution(_)
        | Action::DeleteInstitution(_)
        | Action::DeaccessionResource(_)
        | Action::ChangeMemberRole(_) => match role {
            Some(Owner) => Allow,
            _ => needs_signin(Forbidden(Denial::Role)),
        },
        Action::VerifyInstitution(_) | Action::Administer => {
            needs_signin(Forbidden(Denial::AdminOnly))
        }
        Action::RemoveMember { own, .. } => match role {
            Some(Owner) => Allow,
            Some(Editor | Member) if own => Allow,
            _ => needs_signin(Forbidden(Denial::Role)),
        },
        Action::WithdrawInvitation { role: invited, .. } => {
            if matches!((role, invited), (Some(Owner), _) | (Some(Editor), Member)) {
                Allow
            } else {
                needs_signin(Forbidden(Denial::Role))
            }
        }
        Action::Invite { role: invited, .. } => {
            let allowed = matches!((role, invited), (Some(Owner), _) | (Some(Editor), Member));
            if !allowed {
                needs_signin(Forbidden(Denial::Role))
            } else if !actor.verified {
                Forbidden(Denial::EmailNotVerified)
            } else {
                Allow
            }
        }
        Action::ListInvitations(_)
        | Action::CreateResource(_)
        | Action::EditResource(_)
        | Action::ViewLearners(_) => match role {
            Some(Owner | Editor) => Allow,
            _ => needs_signin(Forbidden(Denial::Role)),
        },
        Action::ViewResource(_) | Action::ViewPartnership(_) => Allow,
        Action::CreatePartnership => match actor.role {
            None => Forbidden(Denial::SignIn),
            Some(Role::Coordinator) if actor.verified => Allow,
            Some(Role::Coordinator) => Forbidden(Denial::EmailNotVerified),
            Some(_) => Forbidden(Denial::CoordinatorOnly),
        },
        Action::ManagePartnership(p) => {
            if p.coordinator {
                Allow
            } else {
                needs_signin(Forbidden(Denial::CoordinatorOnly))
            }
        }
        Action::ActForMemberInstitution { owner, .. } => {
            if !owner {
                needs_signin(Forbidden(Denial::Role))
            } else if !actor.verified {
                Forbidden(Denial::EmailNotVerified)
            } else {
                Allow
            }
        }
        Action::ShareResource { editor, .. } => {
            if !editor {
                needs_signin(Forbidden(Denial::Role))
            } else if !actor.verified {
                Forbidden(Denial::EmailNotVerified)
            } else {
                Allow
            }
        }
        Action::Enroll(_) => needs_signin(Allow),
        Action::PublishResource(_) => match role {
            Some(Owner | Editor) if !actor.verified => Forbidden(Denial::EmailNotVerified),
            Some(Owner | Editor) => Allow,
            _ => needs_signin(Forbidden(Denial::Role)),
        },
        Action::RequestAccess(_)
        | Action::ListAccessRequests(_)
        | Action::DecideAccess { .. }
        | Action::SetDataTerms(_)
        | Action::RevokeAccess(_)
        | Action::ViewAccessRequest { .. }
        | Action::WithdrawAccessRequest { .. }
        | Action::Download { .. } => Hidden, // decided by dataset_access
    }
}

/// Dataset access: requests, decisions, downloads. Data sovereignty means
/// the owning institution decides, so being a platform admin lets one look
/// at requests but neither decide them nor download restricted data.
fn dataset_access(actor: &Actor, action: Action) -> Option<Decision> {
    use Decision::{Allow, Forbidden, Hidden};
    use InstitutionRole::{Editor, Owner};
    let decider = |r: &ResourceFacts| matches!(r.institution.caller_role, Some(Owner | Editor));
    let signed_in_or = |d: Decision| {
        if actor.signed_in() {
            d
        } else {
            Forbidden(Denial::SignIn)
        }
    };
    let verified = |d: Decision| {
        if actor.verified {
            d
        } else {
            Forbidden(Denial::EmailNotVerified)
        }
    };
    Some(match action {
        Action::RequestAccess(r) => {
            if !resource_visible(actor, &r) {
                Hidden
            } else {
                signed_in_or(verified(Allow))
            }
        }
        Action::ListAccessRequests(r) => {
            if !resource_visible(actor, &r) {
                Hidden
            } else if actor.is_admin() || decider(&r) {
                Allow
            } else {
                signed_in_or(Forbidden(Denial::Role))
            }
        }
        Action::DecideAccess { dataset: r, own } => {
            if !resource_visible(actor, &r) {
                Hidden
            } else if decider(&r) && !own {
                verified(Allow)
            } else {
                signed_in_or(Forbidden(Denial::Role))
            }
        }
        Action::SetDataTerms(r) => {
            if !resource_visible(actor, &r) {
                Hidden
            } else if decider(&r) {
                Allow
            } else {
                signed_in_or(Forbidden(Denial::Role))
            }
        }
        Action::RevokeAccess(r) => {
            if !resource_visible(actor, &r) {
                Hidden
            } else if r.institution.caller_role == Some(Owner) {
                Allow
            } else {
                signed_in_or(Forbidden(Denial::Role))
            }
        }
        Action::ViewAccessRequest { dataset, requester } => {
            let decider_here = resource_visible(actor, &dataset) && decider(&dataset);
            if requester || actor.is_admin() || decider_here {
                Allow
            } else {
                Hidden
            }
        }
        Action::WithdrawAccessRequest { dataset, requester } => {
            let decider_here = resource_visible(actor, &dataset) && decider(&dataset);
            if requester {
                Allow
            } else if actor.is_admin() || decider_here {
                Forbidden(Denial::Role)
            } else {
                Hidden
            }
        }
        Action::Download {
            dataset,
            level,
            grant,
        } => {
            if !resource_visible(actor, &dataset) {
                Hidden
            } else if dataset.institution.caller_role.is_some() {
                // The owning institution's own members.
                Allow
            } else {
                match level {
                    AccessLevel::Open => Allow,
                    AccessLevel::Registered if !actor.signed_in() => {
                        Forbidden(Denial::AccountRequired)
                    }
                    AccessLevel::Registered => verified(Allow),
                    AccessLevel::Restricted if grant => Allow,
                    AccessLevel::Restricted => Forbidden(Denial::GrantRequired),
                }
            }
        }
        _ => return None,
    })
}

/// A decision that is not `Allow`: hide the object (404) or refuse (with
/// the reason). `error.rs` turns it into the HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Hidden,
    Forbidden(Denial),
}

/// `Ok` to go on, else the refusal.
pub fn enforce(decision: Decision) -> Result<(), Refusal> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Hidden => Err(Refusal::Hidden),
        Decision::Forbidden(denial) => Err(Refusal::Forbidden(denial)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::{Allow, Forbidden, Hidden};
    use InstitutionRole::{Editor, Member, Owner};

    const ANON: Actor = Actor::ANONYMOUS;
    const USER: Actor = Actor {
        role: Some(Role::Member),
        verified: true,
    };
    const UNVERIFIED: Actor = Actor {
        role: Some(Role::Member),
        verified: false,
    };
    const ADMIN: Actor = Actor {
        role: Some(Role::Admin),
        verified: true,
    };

    fn inst(verified: bool, caller_role: Option<InstitutionRole>) -> InstitutionFacts {
        InstitutionFacts {
            verified,
            caller_role,
        }
    }

    #[test]
    fn the_table() {
        let v = |r| inst(true, r);
        let u = |r| inst(false, r);
        let cases: Vec<(&str, Actor, Action, Decision)> = vec![
            (
                "anyone sees a verified institution",
                ANON,
                Action::ViewInstitution(v(None)),
                Allow,
            ),
            (
                "an unverified one is hidden from outsiders",
                USER,
                Action::ViewInstitution(u(None)),
                Hidden,
            ),
            (
                "…and from the anonymous",
                ANON,
                Action::ViewInstitution(u(None)),
                Hidden,
            ),
            (
                "members see their unverified institution",
                USER,
                Action::ViewInstitution(u(Some(Member))),
                Allow,
            ),
            (
                "admins see everything",
                ADMIN,
                Action::ViewInstitution(u(None)),
                Allow,
            ),
            (
                "verified users create institutions",
                USER,
                Action::CreateInstitution,
                Allow,
            ),
            (
                "unverified users cannot",
                UNVERIFIED,
                Action::CreateInstitution,
                Forbidden(Denial::EmailNotVerified),
            ),
            (
                "anonymous must sign in",
                ANON,
                Action::CreateInstitution,
                Forbidden(Denial::SignIn),
            ),
            (
                "owners update",
                USER,
                Action::UpdateInstitution(v(Some(Owner))),
                Allow,
            ),
            (
                "editors do not",
                USER,
                Action::UpdateInstitution(v(Some(Editor))),
                Forbidden(Denial::Role),
            ),
            (
                "outsiders do not",
                USER,
                Action::UpdateInstitution(v(None)),
                Forbidden(Denial::Role),
            ),
            (
                "outsiders of a hidden one get 404",
                USER,
                Action::UpdateInstitution(u(None)),
                Hidden,
            ),
            (
                "owners delete",
                USER,
                Action::DeleteInstitution(v(Some(Owner))),
                Allow,
            ),
            (
                "members do not delete",
                USER,
                Action::DeleteInstitution(v(Some(Member))),
                Forbidden(Denial::Role),
            ),
            (
                "only admins verify",
                USER,
                Action::VerifyInstitution(u(Some(Owner))),
                Forbidden(Denial::AdminOnly),
            ),
            (
                "admins verify",
                ADMIN,
                Action::VerifyInstitution(u(None)),
                Allow,
            ),
            (
                "owners change roles",
                USER,
                Action::ChangeMemberRole(v(Some(Owner))),
                Allow,
            ),
            (
                "editors do not change roles",
                USER,
                Action::ChangeMemberRole(v(Some(Editor))),
                Forbidden(Denial::Role),
            ),
            (
                "owners remove members",
                USER,
                Action::RemoveMember {
                    institution: v(Some(Owner)),
                    own: false,
                },
                Allow,
            ),
            (
                "members leave",
                USER,
                Action::RemoveMember {
                    institution: v(Some(Member)),
                    own: true,
                },
                Allow,
            ),
            (
                "members do not remove others",
                USER,
                Action::RemoveMember {
                    institution: v(Some(Editor)),
                    own: false,
                },
                Forbidden(Denial::Role),
            ),
            (
                "owners invite owners",
                USER,
                Action::Invite {
                    institution: v(Some(Owner)),
                    role: Owner,
                },
                Allow,
            ),
            (
                "editors invite members",
                USER,
                Action::Invite {
                    institution: v(Some(Editor)),
                    role: Member,
                },
                Allow,
            ),
            (
                "editors do not invite editors",
                USER,
                Action::Invite {
                    institution: v(Some(Editor)),
                    role: Editor,
                },
                Forbidden(Denial::Role),
            ),
            (
                "members do not invite",
                USER,
                Action::Invite {
                    institution: v(Some(Member)),
                    role: Member,
                },
                Forbidden(Denial::Role),
            ),
            (
                "unverified owners cannot invite",
                UNVERIFIED,
                Action::Invite {
                    institution: v(Some(Owner)),
                    role: Member,
                },
                Forbidden(Denial::EmailNotVerified),
            ),
            (
                "editors list invitations",
                USER,
                Action::ListInvitations(v(Some(Editor))),
                Allow,
            ),
            (
                "members do not",
                USER,
                Action::ListInvitations(v(Some(Member))),
                Forbidden(Denial::Role),
            ),
            (
                "anonymous callers must sign in to list",
                ANON,
                Action::ListInvitations(v(None)),
                Forbidden(Denial::SignIn),
            ),
            (
                "administration is for admins",
                USER,
                Action::Administer,
                Forbidden(Denial::AdminOnly),
            ),
            ("admins administer", ADMIN, Action::Administer, Allow),
            (
                "verified users accept invitations",
                USER,
                Action::AcceptInvitation,
                Allow,
            ),
            (
                "unverified users cannot",
                UNVERIFIED,
                Action::AcceptInvitation,
                Forbidden(Denial::EmailNotVerified),
            ),
        ];
        for (case, actor, action, expected) in cases {
            assert_eq!(may(&actor, action), expected, "{case}");
        }
    }

    fn res(
        verified: bool,
        role: Option<InstitutionRole>,
        status: Status,
        visibility: Visibility,
    ) -> ResourceFacts {
        ResourceFacts {
            institution: inst(verified, role),
            status,
            visibility,
            shared_with_caller: false,
        }
    }

    #[test]
    fn the_resource_table() {
        use Status::{Archived, Draft, Published};
        use Visibility::{Institution, Partnership, Public, Registered};
        let shared = ResourceFacts {
            shared_with_caller: true,
            ..res(true, None, Published, Partnership)
        };
        let cases: Vec<(&str, Actor, Action, Decision)> = vec![
            (
                "anyone reads a public published resource",
                ANON,
                Action::ViewResource(res(true, None, Published, Public)),
                Allow,
            ),
            (
                "…and an archived one",
                ANON,
                Action::ViewResource(res(true, None, Archived, Public)),
                Allow,
            ),
            (
                "not a draft",
                USER,
                Action::ViewResource(res(true, None, Draft, Public)),
                Hidden,
            ),
            (
                "members do not see drafts",
                USER,
                Action::ViewResource(res(true, Some(Member), Draft, Public)),
                Hidden,
            ),
            (
                "editors see drafts",
                USER,
                Action::ViewResource(res(true, Some(Editor), Draft, Institution)),
                Allow,
            ),
            (
                "admins see drafts",
                ADMIN,
                Action::ViewResource(res(false, None, Draft, Institution)),
                Allow,
            ),
            (
                "registered: not the anonymous",
                ANON,
                Action::ViewResource(res(true, None, Published, Registered)),
                Hidden,
            ),
            (
                "registered: any signed-in user",
                UNVERIFIED,
                Action::ViewResource(res(true, None, Published, Registered)),
                Allow,
            ),
            (
                "institution: not outsiders",
                USER,
                Action::ViewResource(res(true, None, Published, Institution)),
                Hidden,
            ),
            (
                "institution: members",
                USER,
                Action::ViewResource(res(true, Some(Member), Published, Institution)),
                Allow,
            ),
            (
                "partnership: not outsiders",
                USER,
                Action::ViewResource(res(true, None, Published, Partnership)),
                Hidden,
            ),
            (
                "partnership: members of a partnership it is shared into",
                USER,
                Action::ViewResource(shared),
                Allow,
            ),
            (
                "an unverified institution's resources are hidden from outsiders",
                ANON,
                Action::ViewResource(res(false, None, Published, Public)),
                Hidden,
            ),
            (
                "…not from its members",
                USER,
                Action::ViewResource(res(false, Some(Member), Published, Public)),
                Allow,
            ),
            (
                "editors create",
                USER,
                Action::CreateResource(inst(false, Some(Editor))),
                Allow,
            ),
            (
                "members do not",
                USER,
                Action::CreateResource(inst(true, Some(Member))),
                Forbidden(Denial::Role),
            ),
            (
                "outsiders of an unverified institution do not learn of it",
                USER,
                Action::CreateResource(inst(false, None)),
                Hidden,
            ),
            (
                "editors edit",
                USER,
                Action::EditResource(res(true, Some(Editor), Published, Public)),
                Allow,
            ),
            (
                "members may see, not edit",
                USER,
                Action::EditResource(res(true, Some(Member), Published, Public)),
                Forbidden(Denial::Role),
            ),
            (
                "strangers may see, not edit",
                USER,
                Action::EditResource(res(true, None, Published, Public)),
                Forbidden(Denial::Role),
            ),
            (
                "the anonymous must sign in",
                ANON,
                Action::EditResource(res(true, None, Published, Public)),
                Forbidden(Denial::SignIn),
            ),
            (
                "what you cannot see you cannot edit",
                USER,
                Action::EditResource(res(true, None, Draft, Public)),
                Hidden,
            ),
            (
                "verified editors of a verified institution publish",
                USER,
                Action::PublishResource(res(true, Some(Owner), Draft, Public)),
                Allow,
            ),
            (
                "not for an unverified institution",
                USER,
                Action::PublishResource(res(false, Some(Owner), Draft, Public)),
                Forbidden(Denial::InstitutionNotVerified),
            ),
            (
                "…not even admins",
                ADMIN,
                Action::PublishResource(res(false, None, Draft, Public)),
                Forbidden(Denial::InstitutionNotVerified),
            ),
            (
                "not with an unverified email",
                UNVERIFIED,
                Action::PublishResource(res(true, Some(Editor), Draft, Public)),
                Forbidden(Denial::EmailNotVerified),
            ),
            (
                "members do not publish",
                USER,
                Action::PublishResource(res(true, Some(Member), Published, Public)),
                Forbidden(Denial::Role),
            ),
        ];
        for (case, actor, action, expected) in cases {
            assert_eq!(may(&actor, action), expected, "{case}");
        }
    }

    #[test]
    fn the_partnership_table() {
        const COORD: Actor = Actor {
            role: Some(Role::Coordinator),
            verified: true,
        };
        const UNVERIFIED_COORD: Actor = Actor {
            role: Some(Role::Coordinator),
            verified: false,
        };
        let p = |public: bool, coordinator: bool, member: bool| PartnershipFacts {
            public,
            coordinator,
            member,
        };
        let cases: Vec<(&str, Actor, Action, Decision)> = vec![
            (
                "platform coordinators create partnerships",
                COORD,
                Action::CreatePartnership,
                Allow,
            ),
            ("admins too", ADMIN, Action::CreatePartnership, Allow),
            (
                "members do not",
                USER,
                Action::CreatePartnership,
                Forbidden(Denial::CoordinatorOnly),
            ),
            (
                "a coordinator verifies their email first",
                UNVERIFIED_COORD,
                Action::CreatePartnership,
                Forbidden(Denial::EmailNotVerified),
            ),
            (
                "the anonymous sign in",
                ANON,
                Action::CreatePartnership,
                Forbidden(Denial::SignIn),
            ),
            (
                "anyone reads a public partnership",
                ANON,
                Action::ViewPartnership(p(true, false, false)),
                Allow,
            ),
            (
                "a private one is hidden from outsiders",
                USER,
                Action::ViewPartnership(p(false, false, false)),
                Hidden,
            ),
            (
                "…not from members",
                USER,
                Action::ViewPartnership(p(false, false, true)),
                Allow,
            ),
            (
                "…nor its coordinators",
                USER,
                Action::ViewPartnership(p(false, true, false)),
                Allow,
            ),
            (
                "…nor admins",
                ADMIN,
                Action::ViewPartnership(p(false, false, false)),
                Allow,
            ),
            (
                "coordinators manage",
                USER,
                Action::ManagePartnership(p(true, true, false)),
                Allow,
            ),
            (
                "members do not",
                USER,
                Action::ManagePartnership(p(true, false, true)),
                Forbidden(Denial::CoordinatorOnly),
            ),
            (
                "platform coordinators of another partnership do not",
                COORD,
                Action::ManagePartnership(p(true, false, false)),
                Forbidden(Denial::CoordinatorOnly),
            ),
            (
                "what you cannot see you cannot manage",
                USER,
                Action::ManagePartnership(p(false, false, false)),
                Hidden,
            ),
            (
                "owners answer for their institution",
                USER,
                Action::ActForMemberInstitution {
                    partnership: p(false, false, true),
                    owner: true,
                },
                Allow,
            ),
            (
                "…with a verified email",
                UNVERIFIED,
                Action::ActForMemberInstitution {
                    partnership: p(false, false, true),
                    owner: true,
                },
                Forbidden(Denial::EmailNotVerified),
            ),
            (
                "editors and members do not",
                USER,
                Action::ActForMemberInstitution {
                    partnership: p(true, false, true),
                    owner: false,
                },
                Forbidden(Denial::Role),
            ),
            (
                "editors of a member institution share",
                USER,
                Action::ShareResource {
                    partnership: p(true, false, true),
                    editor: true,
                },
                Allow,
            ),
            (
                "others do not",
                USER,
                Action::ShareResource {
                    partnership: p(true, false, true),
                    editor: false,
                },
                Forbidden(Denial::Role),
            ),
        ];
        for (case, actor, action, expected) in cases {
            assert_eq!(may(&actor, action), expected, "{case}");
        }
    }

    /// Dataset access: requests, decisions and downloads (the access issue).
    #[test]
    fn the_dataset_access_table() {
        use AccessLevel::{Open, Registered, Restricted};
        use Status::{Draft, Published};
        use Visibility::{Institution, Public};
        let public = res(true, None, Published, Public);
        let hidden = res(true, None, Published, Institution);
        let as_role = |r| res(true, Some(r), Published, Public);
        let dl = |dataset, level, grant| Action::Download {
            dataset,
            level,
            grant,
        };
        let view = |dataset, requester| Action::ViewAccessRequest { dataset, requester };
        let withdraw = |dataset, requester| Action::WithdrawAccessRequest { dataset, requester };
        let cases: Vec<(&str, Actor, Action, Decision)> = vec![
            (
                "anonymous cannot ask",
                ANON,
                Action::RequestAccess(public),
                Forbidden(Denial::SignIn),
            ),
            (
                "unverified cannot ask",
                UNVERIFIED,
                Action::RequestAccess(public),
                Forbidden(Denial::EmailNotVerified),
            ),
            (
                "verified users ask",
                USER,
                Action::RequestAccess(public),
                Allow,
            ),
            (
                "not for what one cannot see",
                USER,
                Action::RequestAccess(hidden),
                Hidden,
            ),
            (
                "owners list requests",
                USER,
                Action::ListAccessRequests(as_role(Owner)),
                Allow,
            ),
            (
                "editors list requests",
                USER,
                Action::ListAccessRequests(as_role(Editor)),
                Allow,
            ),
            (
                "members do not",
                USER,
                Action::ListAccessRequests(as_role(Member)),
                Forbidden(Denial::Role),
            ),
            (
                "outsiders do not",
                USER,
                Action::ListAccessRequests(public),
                Forbidden(Denial::Role),
            ),
            (
                "admins may look",
                ADMIN,
                Action::ListAccessRequests(public),
                Allow,
            ),
            (
                "editors decide",
                USER,
                Action::DecideAccess {
                    dataset: as_role(Editor),
                    own: false,
                },
                Allow,
            ),
            (
                "owners decide",
                USER,
                Action::DecideAccess {
                    dataset: as_role(Owner),
                    own: false,
                },
                Allow,
            ),
            (
                "…with a verified email",
                UNVERIFIED,
                Action::DecideAccess {
                    dataset: as_role(Owner),
                    own: false,
                },
                Forbidden(Denial::EmailNotVerified),
            ),
            (
                "members do not decide",
                USER,
                Action::DecideAccess {
                    dataset: as_role(Member),
                    own: false,
                },
                Forbidden(Denial::Role),
            ),
            (
                "admins do not decide for the owner",
                ADMIN,
                Action::DecideAccess {
                    dataset: public,
                    own: false,
                },
                Forbidden(Denial::Role),
            ),
            (
                "not on one's own request",
                USER,
                Action::DecideAccess {
                    dataset: as_role(Editor),
                    own: true,
                },
                Forbidden(Denial::Role),
            ),
            (
                "editors set a dataset's terms",
                USER,
                Action::SetDataTerms(as_role(Editor)),
                Allow,
            ),
            (
                "admins do not",
                ADMIN,
                Action::SetDataTerms(public),
                Forbidden(Denial::Role),
            ),
            (
                "owners revoke",
                USER,
                Action::RevokeAccess(as_role(Owner)),
                Allow,
            ),
            (
                "editors do not revoke",
                USER,
                Action::RevokeAccess(as_role(Editor)),
                Forbidden(Denial::Role),
            ),
            (
                "admins do not revoke",
                ADMIN,
                Action::RevokeAccess(public),
                Forbidden(Denial::Role),
            ),
            (
                "the requester sees their request",
                USER,
                view(hidden, true),
                Allow,
            ),
            ("deciders see it", USER, view(as_role(Editor), false), Allow),
            ("admins see it", ADMIN, view(public, false), Allow),
            (
                "members of the owner do not",
                USER,
                view(as_role(Member), false),
                Hidden,
            ),
            ("nor anyone else", USER, view(public, false), Hidden),
            (
                "the requester withdraws",
                USER,
                withdraw(public, true),
                Allow,
            ),
            (
                "deciders cannot withdraw it",
                USER,
                withdraw(as_role(Owner), false),
                Forbidden(Denial::Role),
            ),
            (
                "others do not learn it exists",
                USER,
                withdraw(public, false),
                Hidden,
            ),
            (
                "open: anyone who sees it",
                ANON,
                dl(public, Open, false),
                Allow,
            ),
            (
                "registered: not the anonymous",
                ANON,
                dl(public, Registered, false),
                Forbidden(Denial::AccountRequired),
            ),
            (
                "registered: not unverified",
                UNVERIFIED,
                dl(public, Registered, false),
                Forbidden(Denial::EmailNotVerified),
            ),
            (
                "registered: verified users",
                USER,
                dl(public, Registered, false),
                Allow,
            ),
            (
                "restricted: not without a grant",
                USER,
                dl(public, Restricted, false),
                Forbidden(Denial::GrantRequired),
            ),
            (
                "restricted: not admins without a grant",
                ADMIN,
                dl(public, Restricted, false),
                Forbidden(Denial::GrantRequired),
            ),
            (
                "restricted: grant holders",
                USER,
                dl(public, Restricted, true),
                Allow,
            ),
            (
                "restricted: the owner's members",
                USER,
                dl(as_role(Member), Restricted, false),
                Allow,
            ),
            (
                "drafts: editors",
                USER,
                dl(res(true, Some(Editor), Draft, Public), Restricted, false),
                Allow,
            ),
            (
                "nothing from what one cannot see",
                USER,
                dl(hidden, Open, true),
                Hidden,
            ),
        ];
        for (case, actor, action, expected) in cases {
            assert_eq!(may(&actor, action), expected, "{case}");
        }
    }
}
