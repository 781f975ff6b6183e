//! `/institutions*`, `/invitations/accept`, `/audit-events` and the access policy table.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::{admin, set_platform_role, unverified};
use crate::helpers::app::start;
use crate::helpers::audit::{events, institution_id};
use crate::helpers::http::{body_of, call, etag_of, invalid, link_of, send, strings, typed, walk};
use crate::helpers::institutions::{
    accept, create, create_slug, inst_path, invite, join, new_institution, verify,
};
use crate::helpers::{Account, Backend, TestApp, problem};

// ----- helpers ------------------------------------------------------------
async fn members(app: &TestApp, token: Option<&str>, slug: &str) -> Value {
    let res = call(
        app,
        Method::GET,
        &format!("{}/members?limit=100", inst_path(slug)),
        token,
        None,
    )
    .await;
    body_of(res, 200).await
}

/// `user_id → role` of an institution's members, as an admin sees them.
async fn roles(app: &TestApp, admin: &str, slug: &str) -> Vec<(String, String)> {
    let page = members(app, Some(admin), slug).await;
    let mut out: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn member_path(slug: &str, user_id: &str) -> String {
    format!("{}/members/{user_id}", inst_path(slug))
}

async fn pending_emails(app: &TestApp, token: &str, slug: &str) -> Vec<String> {
    let res = app
        .get_auth(&format!("{}/invitations?limit=100", inst_path(slug)), token)
        .await;
    strings(&body_of(res, 200).await["items"], "email")
}

async fn all_slugs(app: &TestApp, admin: &str) -> Vec<String> {
    let res = app.get_auth("/api/v1/institutions?limit=100", admin).await;
    strings(&body_of(res, 200).await["items"], "slug")
}

async fn audit_count(app: &TestApp, admin: &str) -> usize {
    events(app, admin, "").await.len()
}

// ----- the policy table ---------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Admin,
    /// Owner of `uni-a` (verified).
    Owner,
    /// Editor of `uni-a`.
    Editor,
    /// Member of `uni-a`.
    Member,
    /// A verified user in no institution.
    Outsider,
    /// A platform coordinator in no institution.
    Coordinator,
    /// Signed in, address not verified.
    Unverified,
    /// Owner of `lab-b` (unverified) and `pending-c`.
    OwnerOfB,
    /// An editor of `uni-a` who leaves.
    LeavingEditor,
    /// A member of `uni-a` who leaves.
    LeavingMember,
}

struct World {
    admin: Account,
    owner: Account,
    editor: Account,
    member: Account,
    outsider: Account,
    coordinator: Account,
    unverified: String,
    owner_b: Account,
    leaving_editor: Account,
    leaving_member: Account,
    target1: Account,
    target2: Account,
    /// Pending invitations of `uni-a`: one that stays, three to withdraw.
    inv_keep: String,
    inv_by_owner: String,
    inv_by_editor: String,
    inv_by_admin: String,
    /// A pending invitation of `lab-b`.
    inv_b: String,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        Some(match who {
            Who::Anonymous => return None,
            Who::Admin => &self.admin.access,
            Who::Owner => &self.owner.access,
            Who::Editor => &self.editor.access,
            Who::Member => &self.member.access,
            Who::Outsider => &self.outsider.access,
            Who::Coordinator => &self.coordinator.access,
            Who::Unverified => &self.unverified,
            Who::OwnerOfB => &self.owner_b.access,
            Who::LeavingEditor => &self.leaving_editor.access,
            Who::LeavingMember => &self.leaving_member.access,
        })
    }
}

/// `uni-a` (verified; owner, editor, member, two leavers, two targets),
/// `lab-b` (unverified, someone else's), `pending-c` (unverified, to
/// verify), `doomed-owner` and `doomed-admin` (to delete).
async fn build_world(app: &TestApp) -> World {
    let admin = admin(app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let editor = app.signup("editor@example.org").await;
    let member = app.signup("member@example.org").await;
    let outsider = app.signup("outsider@example.org").await;
    let coordinator = app.signup("coordinator@example.org").await;
    set_platform_role(app, &coordinator.id, "coordinator").await;
    let coordinator = app.signin(&coordinator.email).await;
    let unverified = unverified(app, "unverified@example.org").await;
    let owner_b = app.signup("owner.b@example.org").await;
    let leaving_editor = app.signup("leaving.editor@example.org").await;
    let leaving_member = app.signup("leaving.member@example.org").await;
    let target1 = app.signup("target1@example.org").await;
    let target2 = app.signup("target2@example.org").await;

    create_slug(app, &owner.access, "uni-a").await;
    verify(app, &admin.access, "uni-a").await;
    join(app, &owner.access, "uni-a", &editor, "editor").await;
    join(app, &owner.access, "uni-a", &member, "member").await;
    join(app, &owner.access, "uni-a", &leaving_editor, "editor").await;
    join(app, &owner.access, "uni-a", &leaving_member, "member").await;
    join(app, &owner.access, "uni-a", &target1, "member").await;
    join(app, &owner.access, "uni-a", &target2, "member").await;
    create_slug(app, &owner_b.access, "lab-b").await;
    create_slug(app, &owner_b.access, "pending-c").await;
    create_slug(app, &owner.access, "doomed-owner").await;
    create_slug(app, &owner_b.access, "doomed-admin").await;

    let id = |v: Value| v["id"].as_str().unwrap().to_string();
    let a = "uni-a";
    let inv_keep = id(invite(app, &owner.access, a, "keep@example.org", "member")
        .await
        .0);
    let inv_by_owner = id(invite(app, &owner.access, a, "w1@example.org", "editor")
        .await
        .0);
    let inv_by_editor = id(invite(app, &owner.access, a, "w2@example.org", "member")
        .await
        .0);
    // An owner-role invitation: editors may not withdraw it (nor send one).
    let inv_by_admin = id(invite(app, &owner.access, a, "w3@example.org", "owner")
        .await
        .0);
    let inv_b = id(
        invite(app, &owner_b.access, "lab-b", "b@example.org", "member")
            .await
            .0,
    );
    World {
        admin,
        owner,
        editor,
        member,
        outsider,
        coordinator,
        unverified,
        owner_b,
        leaving_editor,
        leaving_member,
        target1,
        target2,
        inv_keep,
        inv_by_owner,
        inv_by_editor,
        inv_by_admin,
        inv_b,
    }
}

struct Row {
    case: &'static str,
    who: Who,
    method: Method,
    path: String,
    body: Option<Value>,
    status: u16,
}

fn row(
    case: &'static str,
    who: Who,
    method: Method,
    path: impl Into<String>,
    body: Option<Value>,
    status: u16,
) -> Row {
    Row {
        case,
        who,
        method,
        path: path.into(),
        body,
        status,
    }
}

/// Every role × action × ownership case of the institutions issue. Rows
/// that change the world come after the rows that rely on it.
#[rustfmt::skip]
#[allow(clippy::too_many_lines, reason = "one row per case")]
fn policy_rows(w: &World) -> Vec<Row> {
    use Method as M;
    use Who::{
        Admin, Anonymous, Coordinator, Editor, LeavingEditor, LeavingMember, Member, Outsider,
        Owner, OwnerOfB, Unverified,
    };
    let a = inst_path("uni-a");
    let b = inst_path("lab-b");
    let a_members = format!("{a}/members");
    let b_members = format!("{b}/members");
    let a_inv = format!("{a}/invitations");
    let b_inv = format!("{b}/invitations");
    let patch = || Some(json!({"description": "Changed."}));
    let role = |r: &str| Some(json!({"role": r}));
    let invitee = |email: &str, r: &str| Some(json!({"email": email, "role": r}));
    let m = |slug: &str, acc: &Account| member_path(slug, &acc.id);
    let inv = |path: &str, id: &str| format!("{path}/{id}");
    vec![
        // GET /institutions/{slug}
        row("anyone sees a verified institution", Anonymous, M::GET, &a, None, 200),
        row("outsiders see a verified institution", Outsider, M::GET, &a, None, 200),
        row("unverified users see a verified institution", Unverified, M::GET, &a, None, 200),
        row("members see their institution", Member, M::GET, &a, None, 200),
        row("editors see their institution", Editor, M::GET, &a, None, 200),
        row("owners see their institution", Owner, M::GET, &a, None, 200),
        row("admins see a verified institution", Admin, M::GET, &a, None, 200),
        row("an unverified institution is hidden from the anonymous", Anonymous, M::GET, &b, None, 404),
        row("…from outsiders", Outsider, M::GET, &b, None, 404),
        row("…from coordinators", Coordinator, M::GET, &b, None, 404),
        row("…from unverified users", Unverified, M::GET, &b, None, 404),
        row("…from the owner of another institution", Owner, M::GET, &b, None, 404),
        row("…from a member of another institution", Member, M::GET, &b, None, 404),
        row("admins see an unverified institution", Admin, M::GET, &b, None, 200),
        row("its owner sees an unverified institution", OwnerOfB, M::GET, &b, None, 200),
        row("no such institution", Admin, M::GET, inst_path("no-such-place"), None, 404),
        // GET …/members
        row("anyone may ask a verified institution's members", Anonymous, M::GET, &a_members, None, 200),
        row("outsiders may ask a verified institution's members", Outsider, M::GET, &a_members, None, 200),
        row("members list members", Member, M::GET, &a_members, None, 200),
        row("admins list members", Admin, M::GET, &a_members, None, 200),
        row("a hidden institution's members are hidden from the anonymous", Anonymous, M::GET, &b_members, None, 404),
        row("…from outsiders", Outsider, M::GET, &b_members, None, 404),
        row("…from another institution's owner", Owner, M::GET, &b_members, None, 404),
        row("its owner lists an unverified institution's members", OwnerOfB, M::GET, &b_members, None, 200),
        row("admins list an unverified institution's members", Admin, M::GET, &b_members, None, 200),
        // GET …/invitations
        row("owners list invitations", Owner, M::GET, &a_inv, None, 200),
        row("editors list invitations", Editor, M::GET, &a_inv, None, 200),
        row("members may not list invitations", Member, M::GET, &a_inv, None, 403),
        row("outsiders may not list invitations", Outsider, M::GET, &a_inv, None, 403),
        row("coordinators may not list invitations", Coordinator, M::GET, &a_inv, None, 403),
        row("unverified users may not list invitations", Unverified, M::GET, &a_inv, None, 403),
        row("another institution's owner may not list invitations", OwnerOfB, M::GET, &a_inv, None, 403),
        row("the anonymous must sign in to list invitations", Anonymous, M::GET, &a_inv, None, 401),
        row("admins list invitations", Admin, M::GET, &a_inv, None, 200),
        row("owners of an unverified institution list its invitations", OwnerOfB, M::GET, &b_inv, None, 200),
        row("admins list an unverified institution's invitations", Admin, M::GET, &b_inv, None, 200),
        row("a hidden institution's invitations are hidden from another owner", Owner, M::GET, &b_inv, None, 404),
        row("…from outsiders", Outsider, M::GET, &b_inv, None, 404),
        row("…and the anonymous must sign in first", Anonymous, M::GET, &b_inv, None, 401),
        // GET /audit-events
        row("admins read the audit log", Admin, M::GET, "/api/v1/audit-events", None, 200),
        row("owners do not read the audit log", Owner, M::GET, "/api/v1/audit-events", None, 403),
        row("editors do not read the audit log", Editor, M::GET, "/api/v1/audit-events", None, 403),
        row("members do not read the audit log", Member, M::GET, "/api/v1/audit-events", None, 403),
        row("outsiders do not read the audit log", Outsider, M::GET, "/api/v1/audit-events", None, 403),
        row("coordinators do not read the audit log", Coordinator, M::GET, "/api/v1/audit-events", None, 403),
        row("unverified users do not read the audit log", Unverified, M::GET, "/api/v1/audit-events", None, 403),
        row("the anonymous must sign in to read the audit log", Anonymous, M::GET, "/api/v1/audit-events", None, 401),
        // PATCH /institutions/{slug}
        row("owners change their institution", Owner, M::PATCH, &a, patch(), 200),
        row("admins change any institution", Admin, M::PATCH, &a, patch(), 200),
        row("editors do not change the institution", Editor, M::PATCH, &a, patch(), 403),
        row("members do not change the institution", Member, M::PATCH, &a, patch(), 403),
        row("outsiders do not change a visible institution", Outsider, M::PATCH, &a, patch(), 403),
        row("coordinators do not change a visible institution", Coordinator, M::PATCH, &a, patch(), 403),
        row("unverified users do not change a visible institution", Unverified, M::PATCH, &a, patch(), 403),
        row("another institution's owner does not change it", OwnerOfB, M::PATCH, &a, patch(), 403),
        row("the anonymous must sign in to change", Anonymous, M::PATCH, &a, patch(), 401),
        row("owners change their unverified institution", OwnerOfB, M::PATCH, &b, patch(), 200),
        row("admins change an unverified institution", Admin, M::PATCH, &b, patch(), 200),
        row("another owner cannot find an unverified institution to change", Owner, M::PATCH, &b, patch(), 404),
        row("outsiders cannot find an unverified institution to change", Outsider, M::PATCH, &b, patch(), 404),
        row("unverified users cannot find it either", Unverified, M::PATCH, &b, patch(), 404),
        row("the anonymous must sign in before anything", Anonymous, M::PATCH, &b, patch(), 401),
        // POST …/verify
        row("owners do not verify their own institution", Owner, M::POST, format!("{a}/verify"), None, 403),
        row("editors do not verify", Editor, M::POST, format!("{a}/verify"), None, 403),
        row("members do not verify", Member, M::POST, format!("{a}/verify"), None, 403),
        row("outsiders do not verify", Outsider, M::POST, format!("{a}/verify"), None, 403),
        row("coordinators do not verify", Coordinator, M::POST, format!("{a}/verify"), None, 403),
        row("the anonymous must sign in to verify", Anonymous, M::POST, format!("{a}/verify"), None, 401),
        row("verifying a verified institution again is fine", Admin, M::POST, format!("{a}/verify"), None, 200),
        row("owners of an unverified institution do not verify it", OwnerOfB, M::POST, format!("{b}/verify"), None, 403),
        row("outsiders cannot find an unverified institution to verify", Outsider, M::POST, format!("{b}/verify"), None, 404),
        row("another owner cannot find it to verify", Owner, M::POST, format!("{b}/verify"), None, 404),
        row("the anonymous must sign in to verify it", Anonymous, M::POST, format!("{b}/verify"), None, 401),
        row("admins verify", Admin, M::POST, format!("{}/verify", inst_path("pending-c")), None, 200),
        // PATCH …/members/{user_id}
        row("owners change a role", Owner, M::PATCH, m("uni-a", &w.member), role("member"), 200),
        row("admins change a role", Admin, M::PATCH, m("uni-a", &w.member), role("member"), 200),
        row("editors do not change roles", Editor, M::PATCH, m("uni-a", &w.member), role("editor"), 403),
        row("editors do not promote themselves", Editor, M::PATCH, m("uni-a", &w.editor), role("owner"), 403),
        row("members do not promote themselves", Member, M::PATCH, m("uni-a", &w.member), role("owner"), 403),
        row("outsiders do not change roles", Outsider, M::PATCH, m("uni-a", &w.member), role("editor"), 403),
        row("coordinators do not change roles", Coordinator, M::PATCH, m("uni-a", &w.member), role("editor"), 403),
        row("unverified users do not change roles", Unverified, M::PATCH, m("uni-a", &w.member), role("editor"), 403),
        row("another institution's owner does not change roles", OwnerOfB, M::PATCH, m("uni-a", &w.member), role("editor"), 403),
        row("the anonymous must sign in to change roles", Anonymous, M::PATCH, m("uni-a", &w.member), role("editor"), 401),
        row("the last owner cannot be demoted by themselves", Owner, M::PATCH, m("uni-a", &w.owner), role("editor"), 409),
        row("…nor by an admin", Admin, M::PATCH, m("uni-a", &w.owner), role("member"), 409),
        row("changing the role of a non-member is 404", Owner, M::PATCH, m("uni-a", &w.outsider), role("editor"), 404),
        row("a hidden institution's members cannot be changed by another owner", Owner, M::PATCH, m("lab-b", &w.owner_b), role("member"), 404),
        row("…nor by outsiders", Outsider, M::PATCH, m("lab-b", &w.owner_b), role("member"), 404),
        row("an owner of B cannot reach A's member through B", OwnerOfB, M::PATCH, m("lab-b", &w.member), role("owner"), 404),
        // DELETE …/members/{user_id}, rows that refuse
        row("editors do not remove members", Editor, M::DELETE, m("uni-a", &w.member), None, 403),
        row("members do not remove others", Member, M::DELETE, m("uni-a", &w.editor), None, 403),
        row("members do not remove the owner", Member, M::DELETE, m("uni-a", &w.owner), None, 403),
        row("outsiders do not remove members", Outsider, M::DELETE, m("uni-a", &w.member), None, 403),
        row("outsiders cannot leave what they are not in", Outsider, M::DELETE, m("uni-a", &w.outsider), None, 403),
        row("coordinators do not remove members", Coordinator, M::DELETE, m("uni-a", &w.member), None, 403),
        row("unverified users do not remove members", Unverified, M::DELETE, m("uni-a", &w.member), None, 403),
        row("another institution's owner does not remove members", OwnerOfB, M::DELETE, m("uni-a", &w.member), None, 403),
        row("the anonymous must sign in to remove", Anonymous, M::DELETE, m("uni-a", &w.member), None, 401),
        row("the last owner cannot leave", Owner, M::DELETE, m("uni-a", &w.owner), None, 409),
        row("…nor be removed by an admin", Admin, M::DELETE, m("uni-a", &w.owner), None, 409),
        row("removing a non-member is 404", Owner, M::DELETE, m("uni-a", &w.outsider), None, 404),
        row("a hidden institution's owner cannot be removed by another owner", Owner, M::DELETE, m("lab-b", &w.owner_b), None, 404),
        row("…nor by outsiders", Outsider, M::DELETE, m("lab-b", &w.owner_b), None, 404),
        row("an owner of B cannot remove A's member through B", OwnerOfB, M::DELETE, m("lab-b", &w.member), None, 404),
        // POST …/invitations
        row("owners invite owners", Owner, M::POST, &a_inv, invitee("p1@example.org", "owner"), 201),
        row("owners invite editors", Owner, M::POST, &a_inv, invitee("p2@example.org", "editor"), 201),
        row("owners invite members", Owner, M::POST, &a_inv, invitee("p3@example.org", "member"), 201),
        row("editors invite members", Editor, M::POST, &a_inv, invitee("p4@example.org", "member"), 201),
        row("editors do not invite editors", Editor, M::POST, &a_inv, invitee("p5@example.org", "editor"), 403),
        row("editors do not invite owners", Editor, M::POST, &a_inv, invitee("p6@example.org", "owner"), 403),
        row("members do not invite", Member, M::POST, &a_inv, invitee("p7@example.org", "member"), 403),
        row("outsiders do not invite", Outsider, M::POST, &a_inv, invitee("p8@example.org", "member"), 403),
        row("coordinators do not invite", Coordinator, M::POST, &a_inv, invitee("p9@example.org", "member"), 403),
        row("unverified users do not invite", Unverified, M::POST, &a_inv, invitee("p10@example.org", "member"), 403),
        row("another institution's owner does not invite", OwnerOfB, M::POST, &a_inv, invitee("p11@example.org", "member"), 403),
        row("the anonymous must sign in to invite", Anonymous, M::POST, &a_inv, invitee("p12@example.org", "member"), 401),
        row("admins invite", Admin, M::POST, &a_inv, invitee("p13@example.org", "owner"), 201),
        row("owners of an unverified institution invite", OwnerOfB, M::POST, &b_inv, invitee("p14@example.org", "member"), 201),
        row("another owner cannot find a hidden institution to invite to", Owner, M::POST, &b_inv, invitee("p15@example.org", "member"), 404),
        row("…nor can outsiders", Outsider, M::POST, &b_inv, invitee("p16@example.org", "member"), 404),
        row("…and the anonymous must sign in", Anonymous, M::POST, &b_inv, invitee("p17@example.org", "member"), 401),
        // DELETE …/invitations/{id}
        row("members do not withdraw invitations", Member, M::DELETE, inv(&a_inv, &w.inv_keep), None, 403),
        row("outsiders do not withdraw invitations", Outsider, M::DELETE, inv(&a_inv, &w.inv_keep), None, 403),
        row("coordinators do not withdraw invitations", Coordinator, M::DELETE, inv(&a_inv, &w.inv_keep), None, 403),
        row("unverified users do not withdraw invitations", Unverified, M::DELETE, inv(&a_inv, &w.inv_keep), None, 403),
        row("another institution's owner does not withdraw them", OwnerOfB, M::DELETE, inv(&a_inv, &w.inv_keep), None, 403),
        row("the anonymous must sign in to withdraw", Anonymous, M::DELETE, inv(&a_inv, &w.inv_keep), None, 401),
        row("A's invitation cannot be withdrawn through B's path by B's owner", OwnerOfB, M::DELETE, inv(&b_inv, &w.inv_keep), None, 404),
        row("…nor by A's owner, who cannot see B", Owner, M::DELETE, inv(&b_inv, &w.inv_keep), None, 404),
        row("B's invitation cannot be withdrawn through A's path", Owner, M::DELETE, inv(&a_inv, &w.inv_b), None, 404),
        row("B's invitation is hidden from A's owner", Owner, M::DELETE, inv(&b_inv, &w.inv_b), None, 404),
        row("…and from outsiders", Outsider, M::DELETE, inv(&b_inv, &w.inv_b), None, 404),
        row("owners withdraw", Owner, M::DELETE, inv(&a_inv, &w.inv_by_owner), None, 204),
        row("editors withdraw member invitations", Editor, M::DELETE, inv(&a_inv, &w.inv_by_editor), None, 204),
        row("editors do not withdraw owner invitations", Editor, M::DELETE, inv(&a_inv, &w.inv_by_admin), None, 403),
        row("admins withdraw", Admin, M::DELETE, inv(&a_inv, &w.inv_by_admin), None, 204),
        row("a withdrawn invitation is gone", Owner, M::DELETE, inv(&a_inv, &w.inv_by_owner), None, 404),
        // POST /institutions
        row("verified users create institutions", Outsider, M::POST, "/api/v1/institutions", Some(new_institution("made-by-outsider")), 201),
        row("coordinators create institutions", Coordinator, M::POST, "/api/v1/institutions", Some(new_institution("made-by-coordinator")), 201),
        row("admins create institutions", Admin, M::POST, "/api/v1/institutions", Some(new_institution("made-by-admin")), 201),
        row("members create further institutions", Member, M::POST, "/api/v1/institutions", Some(new_institution("made-by-member")), 201),
        row("unverified users do not", Unverified, M::POST, "/api/v1/institutions", Some(new_institution("made-by-unverified")), 403),
        row("the anonymous must sign in to create", Anonymous, M::POST, "/api/v1/institutions", Some(new_institution("made-by-nobody")), 401),
        // POST /invitations/accept (with a token that matches nothing)
        row("the anonymous must sign in to accept", Anonymous, M::POST, "/api/v1/invitations/accept", Some(json!({"token": "nothing"})), 401),
        row("unverified users may not accept", Unverified, M::POST, "/api/v1/invitations/accept", Some(json!({"token": "nothing"})), 403),
        row("a token that matches nothing is a bad request", Outsider, M::POST, "/api/v1/invitations/accept", Some(json!({"token": "nothing"})), 400),
        // DELETE …/members/{user_id}, rows that change the world
        row("owners remove members", Owner, M::DELETE, m("uni-a", &w.target1), None, 204),
        row("admins remove members", Admin, M::DELETE, m("uni-a", &w.target2), None, 204),
        row("editors leave", LeavingEditor, M::DELETE, m("uni-a", &w.leaving_editor), None, 204),
        row("members leave", LeavingMember, M::DELETE, m("uni-a", &w.leaving_member), None, 204),
        row("a removed member is gone", Owner, M::DELETE, m("uni-a", &w.target1), None, 404),
        row("who left is an outsider now", LeavingMember, M::GET, format!("{a}/invitations"), None, 403),
        // DELETE /institutions/{slug}
        row("editors do not delete", Editor, M::DELETE, &a, None, 403),
        row("members do not delete", Member, M::DELETE, &a, None, 403),
        row("outsiders do not delete", Outsider, M::DELETE, &a, None, 403),
        row("coordinators do not delete", Coordinator, M::DELETE, &a, None, 403),
        row("unverified users do not delete", Unverified, M::DELETE, &a, None, 403),
        row("another institution's owner does not delete", OwnerOfB, M::DELETE, &a, None, 403),
        row("the anonymous must sign in to delete", Anonymous, M::DELETE, &a, None, 401),
        row("another owner cannot find a hidden institution to delete", Owner, M::DELETE, &b, None, 404),
        row("…nor can outsiders", Outsider, M::DELETE, &b, None, 404),
        row("owners delete", Owner, M::DELETE, inst_path("doomed-owner"), None, 204),
        row("admins delete", Admin, M::DELETE, inst_path("doomed-admin"), None, 204),
        row("owners delete their unverified institution", OwnerOfB, M::DELETE, &b, None, 204),
        row("a deleted institution is gone", OwnerOfB, M::GET, &b, None, 404),
    ]
}

api_test!(the_policy_table, |backend| {
    let app = start(backend).await;
    let w = build_world(&app).await;
    let rows = policy_rows(&w);
    let mut failures = Vec::new();
    for r in &rows {
        let res = call(
            &app,
            r.method.clone(),
            &r.path,
            w.token(r.who),
            r.body.clone(),
        )
        .await;
        let got = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = res.text().await.unwrap_or_default();
        if got != r.status {
            failures.push(format!(
                "{}: {:?} {} {} → {got}, expected {}: {text}",
                r.case, r.who, r.method, r.path, r.status
            ));
        } else if got >= 400 && ct != "application/problem+json" {
            failures.push(format!("{}: {got} is not problem+json ({ct})", r.case));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The world after the table: what the allowed rows did, and nothing else.
    let admin = &w.admin.access;
    let mut want = vec![
        (w.owner.id.clone(), "owner".to_string()),
        (w.editor.id.clone(), "editor".to_string()),
        (w.member.id.clone(), "member".to_string()),
    ];
    want.sort();
    assert_eq!(roles(&app, admin, "uni-a").await, want);
    let a = body_of(app.get_auth(&inst_path("uni-a"), admin).await, 200).await;
    assert_eq!(a["description"], "Changed.");
    let c = body_of(app.get_auth(&inst_path("pending-c"), admin).await, 200).await;
    assert_eq!(c["verified"], true);
    let mut slugs = all_slugs(&app, admin).await;
    slugs.sort();
    assert_eq!(
        slugs,
        [
            "made-by-admin",
            "made-by-coordinator",
            "made-by-member",
            "made-by-outsider",
            "pending-c",
            "uni-a"
        ]
    );
    let mut pending = pending_emails(&app, &w.owner.access, "uni-a").await;
    pending.sort();
    assert_eq!(
        pending,
        [
            "keep@example.org",
            "p13@example.org",
            "p1@example.org",
            "p2@example.org",
            "p3@example.org",
            "p4@example.org"
        ]
    );
});

// ----- institutions ---------------------------------------------------------

api_test!(creating_an_institution, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let amina = app.signup("amina@example.org").await;

    let res = app
        .post_json(
            "/api/v1/institutions",
            json!({
                "slug": "makerere-ai-lab",
                "name": "  Makerere AI Lab ",
                "country": "ug",
                "kind": "research_lab",
                "website": "https://ai.mak.ac.ug/",
                "description": "Machine learning for **East Africa**."
            }),
            Some(&amina.access),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        "/api/v1/institutions/makerere-ai-lab"
    );
    let etag = etag_of(&res);
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    let body = body_of(res, 201).await;
    assert_eq!(body["slug"], "makerere-ai-lab");
    assert_eq!(body["name"], "Makerere AI Lab");
    assert_eq!(body["country"], "UG");
    assert_eq!(body["kind"], "research_lab");
    assert_eq!(body["website"], "https://ai.mak.ac.ug/");
    assert_eq!(body["description"], "Machine learning for **East Africa**.");
    assert_eq!(body["verified"], false);
    for t in ["created_at", "updated_at"] {
        let s = body[t].as_str().unwrap();
        assert!(s.ends_with('Z'), "{t}: {s}");
        chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339");
    }

    // The creator is its owner, and reads it (unverified) with the same tag.
    let res = app
        .get_auth(&inst_path("makerere-ai-lab"), &amina.access)
        .await;
    assert_eq!(etag_of(&res), etag);
    assert_eq!(body_of(res, 200).await, body);
    let page = members(&app, Some(&amina.access), "makerere-ai-lab").await;
    assert_eq!(page["member_count"], 1);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["user_id"], amina.id.as_str());
    assert_eq!(items[0]["email"], "amina@example.org");
    assert_eq!(items[0]["role"], "owner");

    // The slug is unique: another creator, or the same, gets 409.
    let kofi = app.signup("kofi@example.org").await;
    for token in [&kofi.access, &amina.access] {
        let res = app
            .post_json(
                "/api/v1/institutions",
                new_institution("makerere-ai-lab"),
                Some(token),
            )
            .await;
        let p = typed(res, 409, "slug-taken").await;
        assert!(
            p["detail"].as_str().unwrap().contains("makerere-ai-lab"),
            "{p}"
        );
    }
    assert_eq!(all_slugs(&app, &root.access).await, ["makerere-ai-lab"]);
    // …and Kofi did not become a member of Amina's institution.
    assert_eq!(
        roles(&app, &root.access, "makerere-ai-lab").await,
        [(amina.id.clone(), "owner".to_string())]
    );

    // Minimal body: website and description are optional.
    let res = app
        .post_json(
            "/api/v1/institutions",
            json!({"slug": "abc", "name": "ABC", "country": "KE", "kind": "other"}),
            Some(&kofi.access),
        )
        .await;
    let body = body_of(res, 201).await;
    assert_eq!(body["website"], Value::Null);
    assert_eq!(body["description"], "");

    // An Idempotency-Key replays the first answer instead of a 409.
    let key = [("idempotency-key", "create-once-1")];
    let first = send(
        &app,
        Method::POST,
        "/api/v1/institutions",
        Some(&kofi.access),
        Some(new_institution("once-only")),
        &key,
    )
    .await;
    let first = body_of(first, 201).await;
    let again = send(
        &app,
        Method::POST,
        "/api/v1/institutions",
        Some(&kofi.access),
        Some(new_institution("once-only")),
        &key,
    )
    .await;
    assert_eq!(body_of(again, 201).await, first);
    assert_eq!(
        events(&app, &root.access, "action=institution.created")
            .await
            .iter()
            .filter(|e| e["detail"]["slug"] == "once-only")
            .count(),
        1
    );
});

/// One institution of the listing world: who creates it, its fields, and
/// whether the admin verifies it.
struct NewInstitution<'a> {
    token: &'a str,
    slug: &'a str,
    name: &'a str,
    country: &'a str,
    kind: &'a str,
    verified: bool,
}

/// Five institutions of every country, kind and verification the list
/// filters tell apart, created by `owner` and `other`; an admin and a
/// stranger.
struct Listed {
    app: TestApp,
    root: Account,
    owner: Account,
    stranger: Account,
}

async fn listed(backend: Backend) -> Listed {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let other = app.signup("other@example.org").await;
    let stranger = app.signup("stranger@example.org").await;
    let institutions = [
        NewInstitution {
            token: &owner.access,
            slug: "nairobi-ai",
            name: "Nairobi AI Centre",
            country: "KE",
            kind: "university",
            verified: true,
        },
        NewInstitution {
            token: &owner.access,
            slug: "accra-lab",
            name: "Accra Machine Learning Lab",
            country: "GH",
            kind: "research_lab",
            verified: true,
        },
        NewInstitution {
            token: &owner.access,
            slug: "kampala-ngo",
            name: "Kampala Data NGO",
            country: "UG",
            kind: "ngo",
            verified: false,
        },
        NewInstitution {
            token: &other.access,
            slug: "lagos-gov",
            name: "Lagos Digital Agency",
            country: "NG",
            kind: "government",
            verified: false,
        },
        NewInstitution {
            token: &other.access,
            slug: "dakar-co",
            name: "Dakar 100% Data Company",
            country: "SN",
            kind: "company",
            verified: true,
        },
    ];
    for NewInstitution {
        token,
        slug,
        name,
        country,
        kind,
        verified,
    } in institutions
    {
        create(
            &app,
            token,
            json!({"slug": slug, "name": name, "country": country, "kind": kind}),
        )
        .await;
        if verified {
            verify(&app, &root.access, slug).await;
        }
    }
    Listed {
        app,
        root,
        owner,
        stranger,
    }
}

impl Listed {
    /// The slugs `GET /institutions{query}` lists for `token`.
    async fn list(&self, token: Option<String>, query: &str) -> Vec<String> {
        let res = call(
            &self.app,
            Method::GET,
            &format!("/api/v1/institutions{query}"),
            token.as_deref(),
            None,
        )
        .await;
        strings(&body_of(res, 200).await["items"], "slug")
    }
}

api_test!(listing_filters_and_pages, |backend| {
    let l = listed(backend).await;
    let Listed {
        root,
        owner,
        stranger,
        ..
    } = &l;
    let list = |token: Option<String>, query: &'static str| l.list(token, query);
    let anon = || None;
    let own = || Some(owner.access.clone());
    let adm = || Some(root.access.clone());
    let strange = || Some(stranger.access.clone());
    // The anonymous and strangers see verified institutions only, oldest first.
    for who in [anon(), strange()] {
        assert_eq!(
            list(who.clone(), "").await,
            ["nairobi-ai", "accra-lab", "dakar-co"]
        );
        assert_eq!(
            list(who.clone(), "?verified=false").await,
            Vec::<String>::new()
        );
        assert_eq!(list(who.clone(), "?country=NG").await, Vec::<String>::new());
    }
    assert_eq!(list(anon(), "?country=GH").await, ["accra-lab"]);
    assert_eq!(list(anon(), "?country=gh").await, ["accra-lab"]);
    assert_eq!(list(anon(), "?kind=company").await, ["dakar-co"]);
    assert_eq!(list(anon(), "?kind=ngo").await, Vec::<String>::new());
    assert_eq!(
        list(anon(), "?verified=true").await,
        ["nairobi-ai", "accra-lab", "dakar-co"]
    );
    assert_eq!(list(anon(), "?q=LAB").await, ["accra-lab"]);
    assert_eq!(list(anon(), "?q=data").await, ["dakar-co"]);
    // `%` and `_` are literal, not wildcards.
    assert_eq!(list(anon(), "?q=100%25").await, ["dakar-co"]);
    assert_eq!(list(anon(), "?q=%25").await, ["dakar-co"]);
    assert_eq!(list(anon(), "?q=_").await, Vec::<String>::new());
    assert_eq!(
        list(anon(), "?q=%20%20").await,
        ["nairobi-ai", "accra-lab", "dakar-co"]
    );

    // A member also sees their unverified institution, not someone else's.
    assert_eq!(
        list(own(), "").await,
        ["nairobi-ai", "accra-lab", "kampala-ngo", "dakar-co"]
    );
    assert_eq!(list(own(), "?verified=false").await, ["kampala-ngo"]);
    assert_eq!(list(own(), "?q=data").await, ["kampala-ngo", "dakar-co"]);
    assert_eq!(list(own(), "?kind=government").await, Vec::<String>::new());

    // Admins see everything; filters combine.
    assert_eq!(
        list(adm(), "").await,
        [
            "nairobi-ai",
            "accra-lab",
            "kampala-ngo",
            "lagos-gov",
            "dakar-co"
        ]
    );
    assert_eq!(
        list(adm(), "?verified=false").await,
        ["kampala-ngo", "lagos-gov"]
    );
    assert_eq!(list(adm(), "?kind=government").await, ["lagos-gov"]);
    assert_eq!(
        list(adm(), "?country=UG&kind=ngo&verified=false&q=kampala").await,
        ["kampala-ngo"]
    );
    assert_eq!(
        list(adm(), "?country=UG&verified=true").await,
        Vec::<String>::new()
    );
});

api_test!(
    institution_lists_come_in_pages_with_link_headers,
    |backend| {
        let l = listed(backend).await;
        let Listed {
            app, root, owner, ..
        } = &l;
        // Pages of one, with Link headers, in the same order; none skipped.
        assert_eq!(
            walk(app, Some(&root.access), "/api/v1/institutions", "slug").await,
            [
                "nairobi-ai",
                "accra-lab",
                "kampala-ngo",
                "lagos-gov",
                "dakar-co"
            ]
        );
        assert_eq!(
            walk(app, None, "/api/v1/institutions?verified=true", "slug").await,
            ["nairobi-ai", "accra-lab", "dakar-co"]
        );
        assert_eq!(
            walk(app, Some(&owner.access), "/api/v1/institutions", "slug").await,
            ["nairobi-ai", "accra-lab", "kampala-ngo", "dakar-co"]
        );
        let res = app.get("/api/v1/institutions").await;
        assert!(link_of(&res).is_none());
        let page = body_of(res, 200).await;
        assert_eq!(page["next_cursor"], Value::Null);
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["verified"], true, "{item}");
        }
    }
);

api_test!(bad_institution_list_parameters_are_refused, |backend| {
    let l = listed(backend).await;
    let Listed { app, .. } = &l;
    // Bad parameters.
    for (query, field) in [
        ("?country=XX", "country"),
        ("?kind=spaceship", "kind"),
        ("?verified=maybe", "verified"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?cursor=garbage", "cursor"),
    ] {
        invalid(
            app.get(&format!("/api/v1/institutions{query}")).await,
            &[field],
        )
        .await;
    }
    let long = "a".repeat(201);
    invalid(
        app.get(&format!("/api/v1/institutions?q={long}")).await,
        &["q"],
    )
    .await;
});

api_test!(reading_and_updating_with_etags, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    create_slug(&app, &owner.access, "uon-ai").await;
    verify(&app, &root.access, "uon-ai").await;
    let path = inst_path("uon-ai");

    // GET with If-None-Match → 304. The tag is that of what the caller is
    // sent: anonymous callers and the owner get different permissions, so
    // different tags.
    let res = app.get(&path).await;
    let anonymous_etag = etag_of(&res);
    assert_eq!(body_of(res, 200).await["permissions"]["edit"], false);
    let res = app.get_auth(&path, &owner.access).await;
    let etag = etag_of(&res);
    assert_ne!(etag, anonymous_etag);
    let before = body_of(res, 200).await;
    assert_eq!(before["verified"], true);
    assert_eq!(before["permissions"]["edit"], true, "{before}");
    let res = send(
        &app,
        Method::GET,
        &path,
        Some(&owner.access),
        None,
        &[("if-none-match", etag.as_str())],
    )
    .await;
    assert_eq!(res.status(), 304);
    assert_eq!(etag_of(&res), etag);
    assert!(res.bytes().await.unwrap().is_empty());
    let res = send(
        &app,
        Method::GET,
        &path,
        Some(&owner.access),
        None,
        &[("if-none-match", "\"stale\"")],
    )
    .await;
    assert_eq!(res.status(), 200);

    // PATCH with the current tag.
    let res = send(
        &app,
        Method::PATCH,
        &path,
        Some(&owner.access),
        Some(json!({
            "name": "University of Nairobi AI",
            "country": "ke",
            "kind": "research_lab",
            "website": "http://ai.uonbi.ac.ke",
            "description": "New."
        })),
        &[("if-match", etag.as_str())],
    )
    .await;
    let new_etag = etag_of(&res);
    assert_ne!(new_etag, etag);
    let after = body_of(res, 200).await;
    assert_eq!(after["slug"], "uon-ai");
    assert_eq!(after["name"], "University of Nairobi AI");
    assert_eq!(after["country"], "KE");
    assert_eq!(after["kind"], "research_lab");
    assert_eq!(after["website"], "http://ai.uonbi.ac.ke/");
    assert_eq!(after["description"], "New.");
    // A new name sends a verified institution back for verification.
    assert_eq!(after["verified"], false);
    assert_eq!(after["created_at"], before["created_at"]);
    assert_ne!(after["updated_at"], before["updated_at"]);
    let res = app.get_auth(&path, &owner.access).await;
    assert_eq!(etag_of(&res), new_etag);
    assert_eq!(body_of(res, 200).await, after);

    // A stale tag → 412, nothing changes.
    let res = send(
        &app,
        Method::PATCH,
        &path,
        Some(&owner.access),
        Some(json!({"name": "Lost update"})),
        &[("if-match", etag.as_str())],
    )
    .await;
    typed(res, 412, "stale-version").await;
    assert_eq!(
        body_of(app.get_auth(&path, &owner.access).await, 200).await,
        after
    );

    // Without If-Match the client takes the risk; null removes the website.
    let res = call(
        &app,
        Method::PATCH,
        &path,
        Some(&owner.access),
        Some(json!({"website": null})),
    )
    .await;
    let body = body_of(res, 200).await;
    assert_eq!(body["website"], Value::Null);
    assert_eq!(body["name"], "University of Nairobi AI");

    // Nobody may verify through PATCH, nor change the slug.
    for (body, field) in [
        (json!({"verified": true}), "verified"),
        (json!({"slug": "other"}), "slug"),
        (json!({"name": "x", "owner": "me"}), "owner"),
    ] {
        let res = call(&app, Method::PATCH, &path, Some(&owner.access), Some(body)).await;
        invalid(res, &[field]).await;
    }
    // Bad values change nothing either.
    let current = body_of(app.get_auth(&path, &owner.access).await, 200).await;
    for (body, field) in [
        (json!({"country": "XX"}), "country"),
        (json!({"website": "javascript:alert(1)"}), "website"),
        (json!({"website": "ftp://files.example.org"}), "website"),
        (json!({"kind": "spaceship"}), "kind"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"description": "d".repeat(20_001)}), "description"),
        (json!({"name": "Fine", "country": "ZZ"}), "country"),
    ] {
        let res = call(&app, Method::PATCH, &path, Some(&owner.access), Some(body)).await;
        invalid(res, &[field]).await;
    }
    assert_eq!(
        body_of(app.get_auth(&path, &owner.access).await, 200).await,
        current
    );
});

api_test!(verifying_emails_the_owners, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let co_owner = app.signup("co.owner@example.org").await;
    let editor = app.signup("editor@example.org").await;
    create_slug(&app, &owner.access, "kumasi-lab").await;
    join(&app, &owner.access, "kumasi-lab", &co_owner, "owner").await;
    join(&app, &owner.access, "kumasi-lab", &editor, "editor").await;
    let path = inst_path("kumasi-lab");
    assert_eq!(app.get(&path).await.status(), 404);

    let body = verify(&app, &root.access, "kumasi-lab").await;
    assert_eq!(body["verified"], true);
    assert_eq!(body["slug"], "kumasi-lab");
    assert_eq!(
        app.count_emails("owner@example.org", "institution_verified")
            .await,
        1
    );
    assert_eq!(
        app.count_emails("co.owner@example.org", "institution_verified")
            .await,
        1
    );
    assert_eq!(
        app.count_emails("editor@example.org", "institution_verified")
            .await,
        0
    );
    // Now public.
    assert_eq!(body_of(app.get(&path).await, 200).await["verified"], true);
    let listed = strings(
        &body_of(app.get("/api/v1/institutions").await, 200).await["items"],
        "slug",
    );
    assert_eq!(listed, ["kumasi-lab"]);
    // The owners were also notified in the app.
    let res = app
        .get_auth("/api/v1/me/notifications", &owner.access)
        .await;
    let kinds = strings(&body_of(res, 200).await["items"], "kind");
    assert!(
        kinds.contains(&"institution_verified".to_string()),
        "{kinds:?}"
    );

    // Verifying again changes nothing and emails nobody.
    let again = verify(&app, &root.access, "kumasi-lab").await;
    assert_eq!(
        again,
        body_of(app.get_auth(&path, &root.access).await, 200).await
    );
    assert_eq!(
        app.count_emails("owner@example.org", "institution_verified")
            .await,
        1
    );
    let id = institution_id(&app, &root.access, "kumasi-lab").await;
    let verified = events(
        &app,
        &root.access,
        &format!("action=institution.verified&subject_id={id}"),
    )
    .await;
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0]["actor_id"], root.id.as_str());

    // Unknown institution.
    let res = call(
        &app,
        Method::POST,
        &format!("{}/verify", inst_path("nowhere")),
        Some(&root.access),
        None,
    )
    .await;
    problem(res, 404).await;
});

api_test!(deleting_an_institution, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let member = app.signup("member@example.org").await;
    create_slug(&app, &owner.access, "short-lived").await;
    join(&app, &owner.access, "short-lived", &member, "member").await;
    let (_, pending) = invite(
        &app,
        &owner.access,
        "short-lived",
        "late@example.org",
        "editor",
    )
    .await;
    let id = institution_id(&app, &root.access, "short-lived").await;
    let path = inst_path("short-lived");

    // Stale If-Match → 412 and it stays.
    let res = send(
        &app,
        Method::DELETE,
        &path,
        Some(&owner.access),
        None,
        &[("if-match", "\"stale\"")],
    )
    .await;
    typed(res, 412, "stale-version").await;
    let res = app.get_auth(&path, &owner.access).await;
    let etag = etag_of(&res);

    let res = send(
        &app,
        Method::DELETE,
        &path,
        Some(&owner.access),
        None,
        &[("if-match", etag.as_str())],
    )
    .await;
    assert_eq!(res.status(), 204);
    for token in [&owner.access, &member.access, &root.access] {
        problem(app.get_auth(&path, token).await, 404).await;
        let res = app.get_auth(&format!("{path}/members"), token).await;
        problem(res, 404).await;
    }
    let res = call(&app, Method::DELETE, &path, Some(&owner.access), None).await;
    problem(res, 404).await;
    assert!(all_slugs(&app, &root.access).await.is_empty());
    let deleted = events(
        &app,
        &root.access,
        &format!("action=institution.deleted&subject_id={id}"),
    )
    .await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["actor_id"], owner.id.as_str());
    assert_eq!(deleted[0]["detail"]["slug"], "short-lived");

    // Its pending invitation died with it.
    let late = app.signup("late@example.org").await;
    invalid(accept(&app, &late.access, &pending).await, &["token"]).await;

    // The slug is free again, and the old members are not members of the new one.
    create_slug(&app, &late.access, "short-lived").await;
    assert_eq!(
        roles(&app, &root.access, "short-lived").await,
        [(late.id.clone(), "owner".to_string())]
    );
    problem(app.get_auth(&path, &member.access).await, 404).await;
    problem(app.get_auth(&path, &owner.access).await, 404).await;
});

api_test!(bad_input_is_rejected_and_nothing_written, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let amina = app.signup("amina@example.org").await;
    let events_before = audit_count(&app, &root.access).await;
    let good = new_institution("good-slug");
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "uppercase slug",
            with("slug", json!("Good-Slug")),
            vec!["slug"],
        ),
        (
            "two-character slug",
            with("slug", json!("ab")),
            vec!["slug"],
        ),
        (
            "65-character slug",
            with("slug", json!("a".repeat(65))),
            vec!["slug"],
        ),
        ("leading hyphen", with("slug", json!("-good")), vec!["slug"]),
        (
            "trailing hyphen",
            with("slug", json!("good-")),
            vec!["slug"],
        ),
        ("double hyphen", with("slug", json!("go--od")), vec!["slug"]),
        ("spaces", with("slug", json!("good slug")), vec!["slug"]),
        ("underscore", with("slug", json!("good_slug")), vec!["slug"]),
        ("non-ASCII", with("slug", json!("ñandú-lab")), vec!["slug"]),
        ("empty slug", with("slug", json!("")), vec!["slug"]),
        (
            "unknown country",
            with("country", json!("XX")),
            vec!["country"],
        ),
        (
            "three-letter country",
            with("country", json!("KEN")),
            vec!["country"],
        ),
        (
            "javascript: website",
            with("website", json!("javascript:alert(1)")),
            vec!["website"],
        ),
        (
            "data: website",
            with("website", json!("data:text/html,<script>alert(1)</script>")),
            vec!["website"],
        ),
        (
            "not a URL",
            with("website", json!("not a url")),
            vec!["website"],
        ),
        (
            "unknown kind",
            with("kind", json!("spaceship")),
            vec!["kind"],
        ),
        (
            "kind in the wrong case",
            with("kind", json!("University")),
            vec!["kind"],
        ),
        ("blank name", with("name", json!("   ")), vec!["name"]),
        (
            "long name",
            with("name", json!("n".repeat(201))),
            vec!["name"],
        ),
        (
            "control characters in the name",
            with("name", json!("Bad\u{7}Name")),
            vec!["name"],
        ),
        (
            "long description",
            with("description", json!("d".repeat(20_001))),
            vec!["description"],
        ),
        (
            "unknown field",
            with("verified", json!(true)),
            vec!["verified"],
        ),
        (
            "unknown field",
            with("owner_id", json!(amina.id.clone())),
            vec!["owner_id"],
        ),
        (
            "missing slug",
            json!({"name": "N", "country": "KE", "kind": "ngo"}),
            vec!["slug"],
        ),
        (
            "missing kind",
            json!({"slug": "good-slug", "name": "N", "country": "KE"}),
            vec!["kind"],
        ),
        ("a number for a name", with("name", json!(5)), vec!["name"]),
        (
            "several bad fields at once",
            json!({"slug": "-X", "name": "", "country": "XX", "kind": "ngo", "website": "javascript:x"}),
            vec!["slug", "name", "country", "website"],
        ),
    ];
    for (case, body, fields) in cases {
        let res = app
            .post_json("/api/v1/institutions", body, Some(&amina.access))
            .await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 400, "{case}: {text}");
        let p: Value = serde_json::from_str(&text).unwrap();
        let mut got = strings(&p["errors"], "field");
        got.sort();
        let mut want = fields.clone();
        want.sort();
        assert_eq!(got, want, "{case}: {p}");
    }
    // Nothing was written: no institution, membership or audit event.
    assert!(all_slugs(&app, &root.access).await.is_empty());
    assert_eq!(audit_count(&app, &root.access).await, events_before);
    let res = app.get_auth("/api/v1/institutions", &amina.access).await;
    assert_eq!(body_of(res, 200).await["items"], json!([]));

    // The limits themselves are fine.
    let longest = "a".repeat(64);
    for slug in ["abc", "a1-b2-c3", longest.as_str(), "123"] {
        create_slug(&app, &amina.access, slug).await;
    }
});

// ----- members --------------------------------------------------------------

api_test!(outsiders_see_only_the_member_count, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let editor = app.signup("editor@example.org").await;
    let outsider = app.signup("outsider@example.org").await;
    create_slug(&app, &owner.access, "open-lab").await;
    join(&app, &owner.access, "open-lab", &editor, "editor").await;
    verify(&app, &root.access, "open-lab").await;

    for token in [None, Some(outsider.access.as_str())] {
        let page = members(&app, token, "open-lab").await;
        assert_eq!(page["member_count"], 2, "{page}");
        assert_eq!(page["items"], json!([]), "{page}");
        assert_eq!(page["next_cursor"], Value::Null, "{page}");
        assert!(!page.to_string().contains("@example.org"), "{page}");
    }
    // Members and admins see who they are, in pages.
    for token in [&editor.access, &root.access] {
        let page = members(&app, Some(token), "open-lab").await;
        assert_eq!(page["member_count"], 2);
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["user_id"], owner.id.as_str());
        assert_eq!(items[0]["role"], "owner");
        assert_eq!(items[1]["user_id"], editor.id.as_str());
        assert_eq!(items[1]["email"], "editor@example.org");
        assert_eq!(items[1]["role"], "editor");
        assert!(items[1]["joined_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            walk(
                &app,
                Some(token),
                &format!("{}/members", inst_path("open-lab")),
                "user_id"
            )
            .await,
            [owner.id.clone(), editor.id.clone()]
        );
    }
});

api_test!(the_last_owner_stays, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let second = app.signup("second@example.org").await;
    create_slug(&app, &owner.access, "solo").await;
    let me = member_path("solo", &owner.id);
    let events_before = audit_count(&app, &root.access).await;

    // Alone: neither leave nor step down, not even with an admin's help.
    for token in [&owner.access, &root.access] {
        let res = call(&app, Method::DELETE, &me, Some(token), None).await;
        typed(res, 409, "last-owner").await;
        for role in ["editor", "member"] {
            let res = call(
                &app,
                Method::PATCH,
                &me,
                Some(token),
                Some(json!({"role": role})),
            )
            .await;
            typed(res, 409, "last-owner").await;
        }
    }
    // Staying owner is no change.
    let res = call(
        &app,
        Method::PATCH,
        &me,
        Some(&owner.access),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(body_of(res, 200).await["role"], "owner");
    assert_eq!(audit_count(&app, &root.access).await, events_before);
    assert_eq!(
        app.count_emails(&owner.email, "member_role_changed").await,
        0
    );

    // With a second owner the first may step down, then the second is the last.
    join(&app, &owner.access, "solo", &second, "owner").await;
    let res = call(
        &app,
        Method::PATCH,
        &me,
        Some(&owner.access),
        Some(json!({"role": "editor"})),
    )
    .await;
    assert_eq!(body_of(res, 200).await["role"], "editor");
    let theirs = member_path("solo", &second.id);
    let res = call(&app, Method::DELETE, &theirs, Some(&second.access), None).await;
    typed(res, 409, "last-owner").await;
    let res = call(
        &app,
        Method::PATCH,
        &theirs,
        Some(&second.access),
        Some(json!({"role": "member"})),
    )
    .await;
    typed(res, 409, "last-owner").await;
    // The former owner, now an editor, may not touch the owner.
    let res = call(
        &app,
        Method::PATCH,
        &theirs,
        Some(&owner.access),
        Some(json!({"role": "member"})),
    )
    .await;
    typed(res, 403, "insufficient-role").await;
    let mut want = vec![
        (owner.id.clone(), "editor".to_string()),
        (second.id.clone(), "owner".to_string()),
    ];
    want.sort();
    assert_eq!(roles(&app, &root.access, "solo").await, want);

    // Two owners: one may leave.
    let res = call(
        &app,
        Method::PATCH,
        &me,
        Some(&second.access),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = call(&app, Method::DELETE, &me, Some(&owner.access), None).await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        roles(&app, &root.access, "solo").await,
        [(second.id.clone(), "owner".to_string())]
    );
});

api_test!(owners_change_roles_and_remove_members, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let amina = app.signup("amina@example.org").await;
    let kofi = app.signup("kofi@example.org").await;
    create_slug(&app, &owner.access, "team").await;
    verify(&app, &root.access, "team").await;
    join(&app, &owner.access, "team", &amina, "member").await;
    join(&app, &owner.access, "team", &kofi, "member").await;
    let amina_path = member_path("team", &amina.id);

    // Promote Amina to editor: she is told.
    let res = call(
        &app,
        Method::PATCH,
        &amina_path,
        Some(&owner.access),
        Some(json!({"role": "editor"})),
    )
    .await;
    let body = body_of(res, 200).await;
    assert_eq!(body["user_id"], amina.id.as_str());
    assert_eq!(body["email"], "amina@example.org");
    assert_eq!(body["role"], "editor");
    assert_eq!(
        app.count_emails(&amina.email, "member_role_changed").await,
        1
    );
    let data = app
        .last_email_data(&amina.email, "member_role_changed")
        .await;
    if let Some(data) = data.filter(|d| d.get("role").is_some()) {
        assert_eq!(data["role"], "editor", "{data}");
        assert_eq!(data["previous_role"], "member", "{data}");
    }
    // As an editor she now lists invitations and invites members.
    assert_eq!(
        app.get_auth(&format!("{}/invitations", inst_path("team")), &amina.access)
            .await
            .status(),
        200
    );
    // Bad role values.
    for body in [
        json!({"role": "admin"}),
        json!({"role": "Owner"}),
        json!({}),
    ] {
        let res = call(
            &app,
            Method::PATCH,
            &amina_path,
            Some(&owner.access),
            Some(body),
        )
        .await;
        invalid(res, &["role"]).await;
    }
    let res = call(
        &app,
        Method::PATCH,
        &amina_path,
        Some(&owner.access),
        Some(json!({"role": "member", "x": 1})),
    )
    .await;
    invalid(res, &["x"]).await;

    // Remove Kofi: he is told, and he is an outsider now.
    let res = call(
        &app,
        Method::DELETE,
        &member_path("team", &kofi.id),
        Some(&owner.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.count_emails(&kofi.email, "member_removed").await, 1);
    let page = members(&app, Some(&kofi.access), "team").await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["member_count"], 2);
    let res = app
        .get_auth(&format!("{}/invitations", inst_path("team")), &kofi.access)
        .await;
    typed(res, 403, "insufficient-role").await;
    let res = app.get_auth("/api/v1/me/notifications", &kofi.access).await;
    let kinds = strings(&body_of(res, 200).await["items"], "kind");
    assert!(kinds.contains(&"member_removed".to_string()), "{kinds:?}");

    // Removed members can be invited back.
    join(&app, &owner.access, "team", &kofi, "member").await;
});

api_test!(members_leave, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let editor = app.signup("editor@example.org").await;
    let member = app.signup("member@example.org").await;
    create_slug(&app, &owner.access, "hidden-team").await;
    join(&app, &owner.access, "hidden-team", &editor, "editor").await;
    join(&app, &owner.access, "hidden-team", &member, "member").await;

    for who in [&member, &editor] {
        let res = call(
            &app,
            Method::DELETE,
            &member_path("hidden-team", &who.id),
            Some(&who.access),
            None,
        )
        .await;
        assert_eq!(res.status(), 204);
        // Leaving is not a removal: no email.
        assert_eq!(app.count_emails(&who.email, "member_removed").await, 0);
        // An unverified institution is hidden from former members.
        problem(
            app.get_auth(&inst_path("hidden-team"), &who.access).await,
            404,
        )
        .await;
        let res = app.get_auth("/api/v1/institutions", &who.access).await;
        assert_eq!(body_of(res, 200).await["items"], json!([]));
    }
    assert_eq!(
        roles(&app, &root.access, "hidden-team").await,
        [(owner.id.clone(), "owner".to_string())]
    );
    let id = institution_id(&app, &root.access, "hidden-team").await;
    let left = events(
        &app,
        &root.access,
        &format!("action=membership.left&subject_id={id}"),
    )
    .await;
    assert_eq!(left.len(), 2);
    assert_eq!(left[0]["actor_id"], editor.id.as_str());
    assert_eq!(left[0]["detail"]["user_id"], editor.id.as_str());
    assert_eq!(left[1]["actor_id"], member.id.as_str());
});

api_test!(a_role_change_keeps_joined_at, |backend| {
    let app = start(backend).await;
    let owner = app.signup("owner@example.org").await;
    let amina = app.signup("amina@example.org").await;
    create_slug(&app, &owner.access, "team").await;
    join(&app, &owner.access, "team", &amina, "member").await;
    let listed = members(&app, Some(&owner.access), "team").await;
    let joined = listed["items"][1]["joined_at"].clone();
    assert!(joined.is_string());
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let res = call(
        &app,
        Method::PATCH,
        &member_path("team", &amina.id),
        Some(&owner.access),
        Some(json!({"role": "editor"})),
    )
    .await;
    let body = body_of(res, 200).await;
    let listed = members(&app, Some(&owner.access), "team").await;
    assert_eq!(listed["items"][1]["joined_at"], joined, "the list keeps it");
    assert_eq!(body["joined_at"], joined, "the PATCH answer should too");
});

api_test!(concurrent_departures_keep_an_owner, |backend| {
    use diesel::prelude::*;
    use kujenga::db::schema::{institutions as it, memberships as ms};
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let first = app.signup("first@example.org").await;
    let second = app.signup("second@example.org").await;
    const N: usize = 40;
    let leave: Vec<String> = (0..N).map(|i| format!("leave-{i}")).collect();
    let demote: Vec<String> = (0..N).map(|i| format!("demote-{i}")).collect();
    let slugs: Vec<String> = leave.iter().chain(&demote).cloned().collect();
    for slug in &slugs {
        create_slug(&app, &first.access, slug).await;
    }
    // Make the second person co-owner of each, directly (setup only).
    let (ids, second_id) = (slugs.clone(), second.id.clone());
    app.db
        .run(move |conn| {
            let now = chrono::Utc::now().naive_utc();
            for slug in ids {
                let id: String = it::table
                    .filter(it::slug.eq(slug))
                    .select(it::id)
                    .first(conn)?;
                diesel::insert_into(ms::table)
                    .values((
                        ms::institution_id.eq(id),
                        ms::user_id.eq(second_id.clone()),
                        ms::role.eq("owner"),
                        ms::created_at.eq(now),
                        ms::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .await
        .unwrap();
    // At the same time: both owners of a `leave-*` institution leave, and
    // both owners of a `demote-*` institution demote each other.
    let mut tasks = Vec::new();
    for (slug, demoting) in leave
        .iter()
        .map(|s| (s, false))
        .chain(demote.iter().map(|s| (s, true)))
    {
        for (actor, target) in [(&first, &second), (&second, &first)] {
            let client = app.client.clone();
            let token = actor.access.clone();
            let req = if demoting {
                client
                    .patch(app.url(&member_path(slug, &target.id)))
                    .json(&json!({"role": "member"}))
            } else {
                client.delete(app.url(&member_path(slug, &actor.id)))
            };
            let slug = slug.clone();
            tasks.push(tokio::spawn(async move {
                let status = req.bearer_auth(token).send().await.unwrap().status();
                (slug, status.as_u16())
            }));
        }
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let mut ownerless = Vec::new();
    for slug in &slugs {
        let owners = roles(&app, &root.access, slug)
            .await
            .into_iter()
            .filter(|(_, r)| r == "owner")
            .count();
        if owners == 0 {
            let answers: Vec<u16> = statuses
                .iter()
                .filter(|(s, _)| s == slug)
                .map(|(_, st)| *st)
                .collect();
            ownerless.push(format!("{slug} {answers:?}"));
        }
    }
    assert!(
        ownerless.is_empty(),
        "institutions left without an owner: {ownerless:?}"
    );
    // Each pair: one succeeds, the other is refused (409 last owner, or
    // 403 once the demoted owner's own demotion landed first).
    for slug in &slugs {
        let mut answers: Vec<u16> = statuses
            .iter()
            .filter(|(s, _)| s == slug)
            .map(|(_, st)| *st)
            .collect();
        answers.sort_unstable();
        assert!(
            matches!(answers.as_slice(), [204, 409] | [200, 409] | [200, 403]),
            "{slug}: {answers:?}"
        );
    }
});

// ----- invitations ------------------------------------------------------------

/// `invites` (unverified) with its owner, an admin and amina, whom the
/// owner will invite; the path of its invitations.
struct Invites {
    app: TestApp,
    root: Account,
    owner: Account,
    amina: Account,
    inv_path: String,
}

async fn invites(backend: Backend) -> Invites {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let amina = app.signup("amina@example.org").await;
    create_slug(&app, &owner.access, "invites").await;
    let inv_path = format!("{}/invitations", inst_path("invites"));
    Invites {
        app,
        root,
        owner,
        amina,
        inv_path,
    }
}

api_test!(the_invitation_lifecycle, |backend| {
    let Invites {
        app,
        owner,
        amina,
        inv_path,
        ..
    } = invites(backend).await;
    // Invite: 201 with the invitation, an email with a token to that address.
    let res = app
        .post_json(
            &inv_path,
            json!({"email": "amina@example.org", "role": "editor"}),
            Some(&owner.access),
        )
        .await;
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let first = body_of(res, 201).await;
    let first_id = first["id"].as_str().unwrap().to_string();
    assert_eq!(
        location.as_deref(),
        Some(format!("{inv_path}/{first_id}").as_str())
    );
    assert_eq!(first["email"], "amina@example.org");
    assert_eq!(first["role"], "editor");
    assert_eq!(first["institution"], "invites");
    let expires =
        chrono::DateTime::parse_from_rfc3339(first["expires_at"].as_str().unwrap()).unwrap();
    let hours = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((167..=168).contains(&hours), "about 7 days: {hours}h");
    assert!(
        first.get("token").is_none() && first.get("token_hash").is_none(),
        "{first}"
    );
    assert_eq!(app.count_emails("amina@example.org", "invitation").await, 1);
    let old_token = app
        .last_email_data("amina@example.org", "invitation")
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(old_token.len() >= 20, "{old_token}");

    // GET lists it (and not to members or outsiders).
    let res = app.get_auth(&inv_path, &owner.access).await;
    let page = body_of(res, 200).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], first_id.as_str());
    assert!(!page.to_string().contains(&old_token));

    // Re-inviting the same address replaces it.
    let (second, new_token) = invite(
        &app,
        &owner.access,
        "invites",
        "amina@example.org",
        "member",
    )
    .await;
    assert_ne!(second["id"], first["id"]);
    assert_ne!(new_token, old_token);
    let res = app.get_auth(&inv_path, &owner.access).await;
    let page = body_of(res, 200).await;
    assert_eq!(
        strings(&page["items"], "id"),
        [second["id"].as_str().unwrap()]
    );
    invalid(accept(&app, &amina.access, &old_token).await, &["token"]).await;
    // The old id cannot be withdrawn any more either.
    let res = call(
        &app,
        Method::DELETE,
        &format!("{inv_path}/{first_id}"),
        Some(&owner.access),
        None,
    )
    .await;
    problem(res, 404).await;

    // Withdraw the second: its token fails too.
    let second_id = second["id"].as_str().unwrap();
    let res = call(
        &app,
        Method::DELETE,
        &format!("{inv_path}/{second_id}"),
        Some(&owner.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    assert!(
        pending_emails(&app, &owner.access, "invites")
            .await
            .is_empty()
    );
    invalid(accept(&app, &amina.access, &new_token).await, &["token"]).await;
    problem(
        app.get_auth(&inst_path("invites"), &amina.access).await,
        404,
    )
    .await;
});

api_test!(an_invitation_is_accepted_once_by_its_addressee, |backend| {
    let Invites {
        app,
        root,
        owner,
        amina,
        ..
    } = invites(backend).await;
    // A third invitation, accepted by the right person.
    let (_, token) = invite(
        &app,
        &owner.access,
        "invites",
        "Amina@Example.org",
        "editor",
    )
    .await;
    let res = accept(&app, &amina.access, &token).await;
    assert_eq!(
        body_of(res, 200).await,
        json!({"institution": "invites", "role": "editor"})
    );
    let mut want = vec![
        (owner.id.clone(), "owner".to_string()),
        (amina.id.clone(), "editor".to_string()),
    ];
    want.sort();
    assert_eq!(roles(&app, &root.access, "invites").await, want);
    assert_eq!(
        app.count_emails("amina@example.org", "membership_added")
            .await,
        1
    );
    let res = app
        .get_auth("/api/v1/me/notifications", &amina.access)
        .await;
    let notes = body_of(res, 200).await;
    let kinds = strings(&notes["items"], "kind");
    assert!(kinds.contains(&"membership_added".to_string()), "{kinds:?}");
    // She sees the (unverified) institution now, and no longer a pending invitation.
    assert_eq!(
        app.get_auth(&inst_path("invites"), &amina.access)
            .await
            .status(),
        200
    );
    assert!(
        pending_emails(&app, &owner.access, "invites")
            .await
            .is_empty()
    );

    // The token is single-use.
    invalid(accept(&app, &amina.access, &token).await, &["token"]).await;
    assert_eq!(
        app.count_emails("amina@example.org", "membership_added")
            .await,
        1
    );
});

api_test!(bad_invitations_are_refused, |backend| {
    let Invites {
        app,
        owner,
        amina,
        inv_path,
        ..
    } = invites(backend).await;
    // Bad invitations.
    for (body, field) in [
        (
            json!({"email": "not-an-address", "role": "member"}),
            "email",
        ),
        (json!({"email": "x@example.org", "role": "admin"}), "role"),
        (json!({"email": "x@example.org"}), "role"),
        (
            json!({"email": "x@example.org", "role": "member", "expires_at": "2099-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let res = app.post_json(&inv_path, body, Some(&owner.access)).await;
        invalid(res, &[field]).await;
    }
    assert_eq!(app.count_emails("x@example.org", "invitation").await, 0);
    for body in [json!({}), json!({"token": "t", "extra": 1})] {
        let res = app
            .post_json("/api/v1/invitations/accept", body, Some(&amina.access))
            .await;
        problem(res, 400).await;
    }
});

api_test!(invitations_expire, |backend| {
    use diesel::prelude::*;
    use kujenga::db::schema::invitations as iv;
    let app = start(backend).await;
    let owner = app.signup("owner@example.org").await;
    let late = app.signup("late@example.org").await;
    create_slug(&app, &owner.access, "timely").await;
    let (inv, token) = invite(&app, &owner.access, "timely", "late@example.org", "member").await;
    let id = inv["id"].as_str().unwrap().to_string();
    app.db
        .run(move |conn| {
            diesel::update(iv::table.filter(iv::id.eq(id)))
                .set(
                    iv::expires_at
                        .eq(chrono::Utc::now().naive_utc() - chrono::Duration::minutes(1)),
                )
                .execute(conn)
        })
        .await
        .unwrap();
    invalid(accept(&app, &late.access, &token).await, &["token"]).await;
    assert!(
        pending_emails(&app, &owner.access, "timely")
            .await
            .is_empty()
    );
    problem(app.get_auth(&inst_path("timely"), &late.access).await, 404).await;
    assert_eq!(
        app.count_emails("late@example.org", "membership_added")
            .await,
        0
    );
    // A fresh invitation works.
    join(&app, &owner.access, "timely", &late, "member").await;
});

api_test!(invitations_are_for_their_address, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let intruder = app.signup("intruder@example.org").await;
    create_slug(&app, &owner.access, "private-lab").await;

    // Another signed-in person cannot use it, and does not spend it.
    let (_, token) = invite(
        &app,
        &owner.access,
        "private-lab",
        "zawadi@example.org",
        "editor",
    )
    .await;
    typed(
        accept(&app, &intruder.access, &token).await,
        403,
        "invitation-for-another-address",
    )
    .await;
    problem(
        app.get_auth(&inst_path("private-lab"), &intruder.access)
            .await,
        404,
    )
    .await;

    // Zawadi has no account yet; she registers but has not verified.
    let unverified = unverified(&app, "zawadi@example.org").await;
    typed(
        accept(&app, &unverified, &token).await,
        403,
        "email-not-verified",
    )
    .await;
    // She verifies; the invitation still works.
    let verify_token = app
        .last_email_data("zawadi@example.org", "verify_email")
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .post_json(
            "/api/v1/auth/verify-email",
            json!({"token": verify_token}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let zawadi = app.signin("zawadi@example.org").await;
    let res = accept(&app, &zawadi.access, &token).await;
    assert_eq!(
        body_of(res, 200).await,
        json!({"institution": "private-lab", "role": "editor"})
    );
    assert!(
        roles(&app, &root.access, "private-lab")
            .await
            .contains(&(zawadi.id.clone(), "editor".to_string()))
    );
    assert!(
        !roles(&app, &root.access, "private-lab")
            .await
            .iter()
            .any(|(id, _)| *id == intruder.id)
    );

    // An invitation to an address with no account, taken up by a new signup.
    let (_, token) = invite(
        &app,
        &owner.access,
        "private-lab",
        "newcomer@example.org",
        "member",
    )
    .await;
    let newcomer = app.signup("newcomer@example.org").await;
    let res = accept(&app, &newcomer.access, &token).await;
    assert_eq!(
        body_of(res, 200).await,
        json!({"institution": "private-lab", "role": "member"})
    );

    // Accepting with an API token works like a session.
    let res = app
        .post_json(
            "/api/v1/me/tokens",
            json!({"name": "ci", "scopes": ["read", "write"]}),
            Some(&intruder.access),
        )
        .await;
    let api = body_of(res, 201).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, token) = invite(
        &app,
        &owner.access,
        "private-lab",
        "intruder@example.org",
        "member",
    )
    .await;
    let res = accept(&app, &api, &token).await;
    assert_eq!(body_of(res, 200).await["role"], "member");
});

api_test!(inviting_a_member_is_a_conflict, |backend| {
    let app = start(backend).await;
    let owner = app.signup("owner@example.org").await;
    let amina = app.signup("amina@example.org").await;
    create_slug(&app, &owner.access, "crowded").await;
    join(&app, &owner.access, "crowded", &amina, "member").await;
    let inv_path = format!("{}/invitations", inst_path("crowded"));
    for email in [
        "amina@example.org",
        "AMINA@example.org",
        "owner@example.org",
    ] {
        let res = app
            .post_json(
                &inv_path,
                json!({"email": email, "role": "editor"}),
                Some(&owner.access),
            )
            .await;
        typed(res, 409, "already-member").await;
    }
    assert_eq!(app.count_emails("amina@example.org", "invitation").await, 1);
    assert!(
        pending_emails(&app, &owner.access, "crowded")
            .await
            .is_empty()
    );
});

/// `inst-a` (verified: owner, member) and `inst-b` (unverified: owner,
/// member), each with a pending invitation; an admin.
struct TwoInstitutions {
    app: TestApp,
    root: Account,
    owner_a: Account,
    member_a: Account,
    owner_b: Account,
    member_b: Account,
    a_inv: String,
    b_inv: String,
    /// The token of `inst-b`'s invitation, to `guest.b@example.org`.
    b_token: String,
    a: String,
    b: String,
}

async fn two_institutions(backend: Backend) -> TwoInstitutions {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner_a = app.signup("owner.a@example.org").await;
    let member_a = app.signup("member.a@example.org").await;
    let owner_b = app.signup("owner.b@example.org").await;
    let member_b = app.signup("member.b@example.org").await;
    create_slug(&app, &owner_a.access, "inst-a").await;
    verify(&app, &root.access, "inst-a").await;
    join(&app, &owner_a.access, "inst-a", &member_a, "member").await;
    create_slug(&app, &owner_b.access, "inst-b").await;
    join(&app, &owner_b.access, "inst-b", &member_b, "member").await;
    let (a_inv, _) = invite(
        &app,
        &owner_a.access,
        "inst-a",
        "guest.a@example.org",
        "member",
    )
    .await;
    let (b_inv, b_token) = invite(
        &app,
        &owner_b.access,
        "inst-b",
        "guest.b@example.org",
        "member",
    )
    .await;
    let a_inv = a_inv["id"].as_str().unwrap().to_string();
    let b_inv = b_inv["id"].as_str().unwrap().to_string();
    let a = inst_path("inst-a");
    let b = inst_path("inst-b");
    TwoInstitutions {
        app,
        root,
        owner_a,
        member_a,
        owner_b,
        member_b,
        a_inv,
        b_inv,
        b_token,
        a,
        b,
    }
}

impl TwoInstitutions {
    /// `who` (with `token`) sends `method path` and gets `status`.
    async fn check(
        &self,
        who: &'static str,
        token: String,
        method: Method,
        path: String,
        body: Option<Value>,
        status: u16,
    ) {
        let res = call(&self.app, method.clone(), &path, Some(&token), body).await;
        let got = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(got, status, "{who}: {method} {path}: {text}");
    }
}

api_test!(bola_across_institutions, |backend| {
    let t = two_institutions(backend).await;
    let TwoInstitutions {
        app,
        root,
        owner_a,
        member_a,
        owner_b,
        member_b,
        a_inv,
        b_inv,
        a,
        b,
        ..
    } = &t;
    let check =
        |who, token, method, path, body, status| t.check(who, token, method, path, body, status);
    let oa = || owner_a.access.clone();
    let ma = || member_a.access.clone();
    let ob = || owner_b.access.clone();
    // B is unverified: A's people cannot see it at all.
    for (who, tok) in [("owner of A", oa()), ("member of A", ma())] {
        check(
            who,
            tok.clone(),
            Method::GET,
            format!("{b}/members"),
            None,
            404,
        )
        .await;
        check(
            who,
            tok.clone(),
            Method::GET,
            format!("{b}/invitations"),
            None,
            404,
        )
        .await;
        check(
            who,
            tok.clone(),
            Method::POST,
            format!("{b}/invitations"),
            Some(json!({"email": "x@example.org", "role": "member"})),
            404,
        )
        .await;
        check(
            who,
            tok.clone(),
            Method::DELETE,
            format!("{b}/invitations/{b_inv}"),
            None,
            404,
        )
        .await;
        check(
            who,
            tok.clone(),
            Method::PATCH,
            member_path("inst-b", &member_b.id),
            Some(json!({"role": "owner"})),
            404,
        )
        .await;
        check(
            who,
            tok.clone(),
            Method::DELETE,
            member_path("inst-b", &member_b.id),
            None,
            404,
        )
        .await;
    }
    // Objects of B through A's path (where A's owner may act) are not found.
    check(
        "owner of A",
        oa(),
        Method::DELETE,
        format!("{a}/invitations/{b_inv}"),
        None,
        404,
    )
    .await;
    check(
        "owner of A",
        oa(),
        Method::PATCH,
        member_path("inst-a", &member_b.id),
        Some(json!({"role": "owner"})),
        404,
    )
    .await;
    check(
        "owner of A",
        oa(),
        Method::DELETE,
        member_path("inst-a", &owner_b.id),
        None,
        404,
    )
    .await;
    // …and A's invitation through B's path, by B's owner.
    check(
        "owner of B",
        ob(),
        Method::DELETE,
        format!("{b}/invitations/{a_inv}"),
        None,
        404,
    )
    .await;
    check(
        "owner of B",
        ob(),
        Method::PATCH,
        member_path("inst-b", &member_a.id),
        Some(json!({"role": "editor"})),
        404,
    )
    .await;
    check(
        "owner of B",
        ob(),
        Method::DELETE,
        member_path("inst-b", &member_a.id),
        None,
        404,
    )
    .await;
    // Nothing changed.
    assert_eq!(
        pending_emails(app, &owner_a.access, "inst-a").await,
        ["guest.a@example.org"]
    );
    assert_eq!(
        pending_emails(app, &owner_b.access, "inst-b").await,
        ["guest.b@example.org"]
    );
    let mut want = vec![
        (owner_b.id.clone(), "owner".to_string()),
        (member_b.id.clone(), "member".to_string()),
    ];
    want.sort();
    assert_eq!(roles(app, &root.access, "inst-b").await, want);
});

api_test!(
    another_verified_institution_is_seen_but_not_changed,
    |backend| {
        let t = two_institutions(backend).await;
        let TwoInstitutions {
            app,
            root,
            owner_a,
            member_b,
            b_inv,
            b_token,
            b,
            ..
        } = &t;
        let check = |who, token, method, path, body, status| {
            t.check(who, token, method, path, body, status)
        };
        let oa = || owner_a.access.clone();
        // Once B is verified, A's owner sees it but may not act: 403.
        verify(app, &root.access, "inst-b").await;
        let page = members(app, Some(&owner_a.access), "inst-b").await;
        assert_eq!(page["items"], json!([]));
        assert_eq!(page["member_count"], 2);
        check(
            "owner of A",
            oa(),
            Method::GET,
            format!("{b}/invitations"),
            None,
            403,
        )
        .await;
        check(
            "owner of A",
            oa(),
            Method::POST,
            format!("{b}/invitations"),
            Some(json!({"email": "x@example.org", "role": "member"})),
            403,
        )
        .await;
        check(
            "owner of A",
            oa(),
            Method::DELETE,
            format!("{b}/invitations/{b_inv}"),
            None,
            403,
        )
        .await;
        check(
            "owner of A",
            oa(),
            Method::PATCH,
            member_path("inst-b", &member_b.id),
            Some(json!({"role": "owner"})),
            403,
        )
        .await;
        check(
            "owner of A",
            oa(),
            Method::DELETE,
            member_path("inst-b", &member_b.id),
            None,
            403,
        )
        .await;
        check(
            "owner of A",
            oa(),
            Method::PATCH,
            b.clone(),
            Some(json!({"name": "Mine now"})),
            403,
        )
        .await;
        check("owner of A", oa(), Method::DELETE, b.clone(), None, 403).await;
        // B's invitation token is still good for its own address only.
        let guest = app.signup("guest.b@example.org").await;
        typed(
            accept(app, &owner_a.access, b_token).await,
            403,
            "invitation-for-another-address",
        )
        .await;
        assert_eq!(
            body_of(accept(app, &guest.access, b_token).await, 200).await["institution"],
            "inst-b"
        );
        assert_eq!(roles(app, &root.access, "inst-a").await.len(), 2);
    }
);

// ----- the audit log ------------------------------------------------------------

/// `audited` (verified) and its governance so far: amina invited (the
/// invitation `inv`, with `token`) and promoted to editor, kofi joined and
/// removed, an invitation sent and withdrawn; each step answered as it
/// should. Its id.
struct Governed {
    app: TestApp,
    root: Account,
    owner: Account,
    amina: Account,
    kofi: Account,
    id: String,
    inv: Value,
    token: String,
}

async fn governed(backend: Backend) -> Governed {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let amina = app.signup("amina@example.org").await;
    let kofi = app.signup("kofi@example.org").await;

    let res = send(
        &app,
        Method::POST,
        "/api/v1/institutions",
        Some(&owner.access),
        Some(new_institution("audited")),
        &[("x-request-id", "req-create-audited")],
    )
    .await;
    assert_eq!(res.status(), 201);
    let id = institution_id(&app, &root.access, "audited").await;
    let res = send(
        &app,
        Method::POST,
        &format!("{}/verify", inst_path("audited")),
        Some(&root.access),
        None,
        &[("x-request-id", "req-verify-audited")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let (inv, token) = invite(
        &app,
        &owner.access,
        "audited",
        "amina@example.org",
        "member",
    )
    .await;
    body_of(accept(&app, &amina.access, &token).await, 200).await;
    join(&app, &owner.access, "audited", &kofi, "member").await;
    let res = call(
        &app,
        Method::PATCH,
        &member_path("audited", &amina.id),
        Some(&owner.access),
        Some(json!({"role": "editor"})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = call(
        &app,
        Method::DELETE,
        &member_path("audited", &kofi.id),
        Some(&owner.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    let (w, _) = invite(&app, &owner.access, "audited", "gone@example.org", "member").await;
    let res = call(
        &app,
        Method::DELETE,
        &format!(
            "{}/invitations/{}",
            inst_path("audited"),
            w["id"].as_str().unwrap()
        ),
        Some(&owner.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    Governed {
        app,
        root,
        owner,
        amina,
        kofi,
        id,
        inv,
        token,
    }
}

api_test!(the_audit_log_records_governance, |backend| {
    let Governed {
        app,
        root,
        owner,
        amina,
        kofi,
        id,
        inv,
        token,
    } = governed(backend).await;
    let all = events(&app, &root.access, &format!("subject_id={id}")).await;
    let actions: Vec<&str> = all
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "institution.created",
            "membership.added",
            "institution.verified",
            "invitation.sent",
            "invitation.accepted",
            "membership.added",
            "invitation.sent",
            "invitation.accepted",
            "membership.added",
            "membership.role_changed",
            "membership.removed",
            "invitation.sent",
            "invitation.withdrawn",
        ]
    );
    let find = |action: &str| {
        all.iter()
            .rev()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action}"))
            .clone()
    };
    for e in &all {
        assert_eq!(e["subject_type"], "institution", "{e}");
        assert_eq!(e["subject_id"], id.as_str(), "{e}");
        assert!(e["id"].is_string() && e["detail"].is_object(), "{e}");
        assert!(
            e["request_id"].is_string(),
            "every event names its request: {e}"
        );
        assert!(e["created_at"].as_str().unwrap().ends_with('Z'), "{e}");
    }
    let created = find("institution.created");
    assert_eq!(created["actor_id"], owner.id.as_str());
    assert_eq!(created["request_id"], "req-create-audited");
    assert_eq!(created["detail"]["slug"], "audited");
    let verified = find("institution.verified");
    assert_eq!(verified["actor_id"], root.id.as_str());
    assert_eq!(verified["request_id"], "req-verify-audited");
    let sent = find("invitation.sent");
    assert_eq!(sent["actor_id"], owner.id.as_str());
    assert_eq!(sent["detail"]["invitation_id"], inv["id"]);
    assert_eq!(sent["detail"]["role"], "member");
    assert!(!sent.to_string().contains(&token), "no token in the log");
    let accepted = find("invitation.accepted");
    assert_eq!(accepted["actor_id"], amina.id.as_str());
    assert_eq!(accepted["detail"]["invitation_id"], inv["id"]);
    let changed = find("membership.role_changed");
    assert_eq!(changed["actor_id"], owner.id.as_str());
    assert_eq!(
        changed["detail"],
        json!({"user_id": amina.id, "from": "member", "to": "editor"})
    );
    let removed = find("membership.removed");
    assert_eq!(removed["detail"]["user_id"], kofi.id.as_str());
    assert_eq!(removed["actor_id"], owner.id.as_str());
    // Distinct requests, distinct ids.
    assert_ne!(created["request_id"], changed["request_id"]);
});

api_test!(refused_governance_leaves_no_trace, |backend| {
    let Governed {
        app,
        root,
        owner,
        amina,
        ..
    } = governed(backend).await;
    // Refused actions leave no trace.
    let before = audit_count(&app, &root.access).await;
    let res = call(
        &app,
        Method::DELETE,
        &member_path("audited", &owner.id),
        Some(&owner.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 409);
    let res = call(
        &app,
        Method::DELETE,
        &member_path("audited", &owner.id),
        Some(&amina.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 403);
    assert_eq!(audit_count(&app, &root.access).await, before);
});

api_test!(admin_actions_on_users_are_audited, |backend| {
    let Governed {
        app, root, kofi, ..
    } = governed(backend).await;
    // Admin actions on users are audited too.
    let res = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{}", kofi.id),
        Some(&root.access),
        Some(json!({"role": "coordinator"})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let user_events = events(&app, &root.access, &format!("subject_id={}", kofi.id)).await;
    assert_eq!(user_events.len(), 1, "{user_events:?}");
    assert_eq!(user_events[0]["action"], "user.role_changed");
    assert_eq!(user_events[0]["subject_type"], "user");
    assert_eq!(user_events[0]["actor_id"], root.id.as_str());
});

api_test!(audit_log_filters_and_pages, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let other = app.signup("other@example.org").await;
    create_slug(&app, &owner.access, "first-inst").await;
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    create_slug(&app, &other.access, "second-inst").await;
    verify(&app, &root.access, "first-inst").await;
    let first_id = institution_id(&app, &root.access, "first-inst").await;
    let second_id = institution_id(&app, &root.access, "second-inst").await;

    let actions = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    };
    // By action.
    let created = events(&app, &root.access, "action=institution.created").await;
    assert_eq!(
        strings(&Value::Array(created.clone()), "subject_id"),
        [second_id.clone(), first_id.clone()],
        "newest first"
    );
    // By actor.
    let by_other = events(&app, &root.access, &format!("actor_id={}", other.id)).await;
    assert_eq!(
        actions(&by_other),
        ["membership.added", "institution.created"]
    );
    assert!(
        by_other
            .iter()
            .all(|e| e["subject_id"] == second_id.as_str())
    );
    let by_root = events(&app, &root.access, &format!("actor_id={}", root.id)).await;
    assert_eq!(actions(&by_root), ["institution.verified"]);
    // By subject (and type).
    let first = events(
        &app,
        &root.access,
        &format!("subject_type=institution&subject_id={first_id}"),
    )
    .await;
    assert_eq!(
        actions(&first),
        [
            "institution.verified",
            "membership.added",
            "institution.created"
        ]
    );
    assert!(
        events(
            &app,
            &root.access,
            &format!("subject_type=user&subject_id={first_id}")
        )
        .await
        .is_empty()
    );
    // Combined.
    let both = events(
        &app,
        &root.access,
        &format!("action=membership.added&actor_id={}", owner.id),
    )
    .await;
    assert_eq!(both.len(), 1);
    assert_eq!(both[0]["subject_id"], first_id.as_str());
    assert!(
        events(&app, &root.access, "action=no.such.action")
            .await
            .is_empty()
    );

    // By time: since is inclusive, until exclusive.
    let second_created = created[0]["created_at"].as_str().unwrap().to_string();
    let since = events(&app, &root.access, &format!("since={second_created}")).await;
    assert_eq!(
        actions(&since),
        [
            "institution.verified",
            "membership.added",
            "institution.created"
        ]
    );
    let until = events(&app, &root.access, &format!("until={second_created}")).await;
    assert_eq!(actions(&until), ["membership.added", "institution.created"]);
    assert!(until.iter().all(|e| e["subject_id"] == first_id.as_str()));
    let window = events(
        &app,
        &root.access,
        &format!(
            "since={second_created}&until={}",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
    )
    .await;
    assert_eq!(window.len(), 3);
    assert!(
        events(&app, &root.access, "since=2999-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    assert!(
        events(&app, &root.access, "until=2000-01-01T00:00:00Z")
            .await
            .is_empty()
    );

    // Pages of one, newest first, with nothing skipped.
    let all = events(&app, &root.access, "").await;
    let ids = walk(&app, Some(&root.access), "/api/v1/audit-events", "id").await;
    assert_eq!(ids, strings(&Value::Array(all.clone()), "id"));
    assert_eq!(ids.len(), 5);

    // Bad parameters.
    for (query, field) in [
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("limit=0", "limit"),
        ("cursor=nope", "cursor"),
    ] {
        let res = app
            .get_auth(&format!("/api/v1/audit-events?{query}"), &root.access)
            .await;
        invalid(res, &[field]).await;
    }
    let long = "a".repeat(201);
    let res = app
        .get_auth(&format!("/api/v1/audit-events?action={long}"), &root.access)
        .await;
    invalid(res, &["action"]).await;

    // Admins only.
    typed(
        app.get_auth("/api/v1/audit-events", &owner.access).await,
        403,
        "admin-only",
    )
    .await;
    let res = app.get("/api/v1/audit-events").await;
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("www-authenticate").is_some());
    problem(res, 401).await;
});

api_test!(name_search_ignores_case_beyond_ascii, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "admin@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    create(
            &app,
            &owner.access,
            json!({"slug": "ept-thies", "name": "École Polytechnique de Thiès", "country": "SN", "kind": "university"}),
        )
        .await;
    for q in [
        "%C3%89cole",
        "%C3%A9cole",
        "THI%C3%88S",
        "thi%C3%A8s",
        "Polytechnique",
    ] {
        let res = app
            .get_auth(&format!("/api/v1/institutions?q={q}"), &root.access)
            .await;
        let slugs = strings(&body_of(res, 200).await["items"], "slug");
        assert_eq!(slugs, ["ept-thies"], "q={q}");
    }
});
