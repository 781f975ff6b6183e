//! Who sees which resource (by a single read and in every list), who may
//! change it, and the catalogue lists: filters, search, sort orders, sparse
//! fields and cursor pagination while resources are being published.

use std::collections::{BTreeSet, HashMap};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::http::{body_of, call, invalid, link_of, strings, walk};
use crate::helpers::institutions::{create_slug, join, verify};
use crate::helpers::versions::edit_published;
use crate::helpers::{Account, Backend, TestApp, problem};

// ----- building blocks ---------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Course,
    Dataset,
    ModelCard,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Course, Kind::Dataset, Kind::ModelCard];

    fn collection(self) -> &'static str {
        match self {
            Kind::Course => "courses",
            Kind::Dataset => "datasets",
            Kind::ModelCard => "model-cards",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Course => "course",
            Kind::Dataset => "dataset",
            Kind::ModelCard => "model_card",
        }
    }

    /// What the kind needs on top of the core to be published.
    fn publishable(self) -> Value {
        match self {
            Kind::Course => json!({"level": "beginner", "duration_hours": 4}),
            Kind::Dataset => json!({
                "access_level": "open",
                "datasheet": {"motivation": "Why.", "composition": "What.",
                              "collection_process": "How.", "uses": "For what."},
            }),
            Kind::ModelCard => json!({
                "risk_tier": "minimal",
                "intended_uses": "Teaching.",
                "out_of_scope_uses": "Anything else.",
            }),
        }
    }
}

fn merge(into: &mut Value, from: Value) {
    let Value::Object(from) = from else {
        panic!("merge an object")
    };
    for (k, v) in from {
        into[k] = v;
    }
}

fn item_path(kind: Kind, id: &str) -> String {
    format!("/api/v1/{}/{id}", kind.collection())
}

/// A draft of `kind` owned by `inst`, complete enough to publish; `extra`
/// overrides or adds fields. Its id.
async fn draft(
    app: &TestApp,
    token: &str,
    kind: Kind,
    inst: &str,
    title: &str,
    extra: Value,
) -> String {
    let mut body = json!({
        "institution": inst,
        "title": title,
        "summary": format!("About {title}."),
        "license": "CC-BY-4.0",
        "languages": ["en"],
    });
    merge(&mut body, kind.publishable());
    merge(&mut body, extra);
    let res = app
        .post_json(&format!("/api/v1/{}", kind.collection()), body, Some(token))
        .await;
    let created = body_of(res, 201).await;
    assert_eq!(created["status"], "draft", "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    if kind == Kind::Course {
        // A course publishes once it has a module.
        let res = app
            .post_json(
                &format!("/api/v1/courses/{id}/modules"),
                json!({"title": "Start here", "content": "Welcome."}),
                Some(token),
            )
            .await;
        body_of(res, 201).await;
    }
    id
}

async fn transition(app: &TestApp, token: &str, kind: Kind, id: &str, to: &str) -> Value {
    let res = call(
        app,
        Method::POST,
        &format!("{}/{to}", item_path(kind, id)),
        Some(token),
        None,
    )
    .await;
    body_of(res, 200).await
}

async fn publish(app: &TestApp, token: &str, kind: Kind, id: &str) {
    let r = transition(app, token, kind, id, "publish").await;
    assert_eq!(r["status"], "published", "{r}");
}

async fn archive(app: &TestApp, token: &str, kind: Kind, id: &str) {
    let r = transition(app, token, kind, id, "archive").await;
    assert_eq!(r["status"], "archived", "{r}");
}

/// A published resource's id.
async fn published(
    app: &TestApp,
    token: &str,
    kind: Kind,
    inst: &str,
    title: &str,
    extra: Value,
) -> String {
    let id = draft(app, token, kind, inst, title, extra).await;
    publish(app, token, kind, id.as_str()).await;
    id
}

/// Renames an institution as its owner, which sends it back for verification.
async fn unverify_by_renaming(app: &TestApp, owner: &str, slug: &str, name: &str) {
    let res = call(
        app,
        Method::PATCH,
        &format!("/api/v1/institutions/{slug}"),
        Some(owner),
        Some(json!({"name": name})),
    )
    .await;
    let inst = body_of(res, 200).await;
    assert_eq!(
        inst["verified"], false,
        "a renamed institution is unverified: {inst}"
    );
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ----- the world -----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Anonymous,
    /// Signed in, in no institution.
    Stranger,
    /// Owner of `other-lab` (verified), in no institution of the owner's.
    OtherOwner,
    /// `member` of `uni-a` and `faded-lab`.
    Member,
    /// `editor` of `uni-a` and `faded-lab`.
    Editor,
    /// `owner` of `uni-a` and `faded-lab`.
    Owner,
    /// A platform admin in no institution.
    Admin,
}

impl Who {
    const ALL: [Who; 7] = [
        Who::Anonymous,
        Who::Stranger,
        Who::OtherOwner,
        Who::Member,
        Who::Editor,
        Who::Owner,
        Who::Admin,
    ];
}

const EVERYONE: &[Who] = &Who::ALL;
const SIGNED_IN: &[Who] = &[
    Who::Stranger,
    Who::OtherOwner,
    Who::Member,
    Who::Editor,
    Who::Owner,
    Who::Admin,
];
/// Members (any role) of `uni-a`/`faded-lab`, and admins.
const MEMBERS: &[Who] = &[Who::Member, Who::Editor, Who::Owner, Who::Admin];
/// Owners and editors of `uni-a`/`faded-lab`, and admins.
const EDITORS: &[Who] = &[Who::Editor, Who::Owner, Who::Admin];
/// `other-lab`'s owner and admins.
const OTHER_LAB: &[Who] = &[Who::OtherOwner, Who::Admin];

struct World {
    admin: Account,
    owner: Account,
    editor: Account,
    member: Account,
    stranger: Account,
    other_owner: Account,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        Some(match who {
            Who::Anonymous => return None,
            Who::Stranger => &self.stranger.access,
            Who::OtherOwner => &self.other_owner.access,
            Who::Member => &self.member.access,
            Who::Editor => &self.editor.access,
            Who::Owner => &self.owner.access,
            Who::Admin => &self.admin.access,
        })
    }

    /// Who creates resources for `inst`.
    fn creator(&self, inst: &str) -> &str {
        if inst == "other-lab" {
            &self.other_owner.access
        } else {
            &self.owner.access
        }
    }
}

/// `uni-a` and `faded-lab` (verified; owner, editor, member) and
/// `other-lab` (verified; someone else's).
async fn build_world(app: &TestApp) -> World {
    let admin = admin(app, "root@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let editor = app.signup("editor@example.org").await;
    let member = app.signup("member@example.org").await;
    let stranger = app.signup("stranger@example.org").await;
    let other_owner = app.signup("other.owner@example.org").await;
    for slug in ["uni-a", "faded-lab"] {
        create_slug(app, &owner.access, slug).await;
        verify(app, &admin.access, slug).await;
        join(app, &owner.access, slug, &editor, "editor").await;
        join(app, &owner.access, slug, &member, "member").await;
    }
    create_slug(app, &other_owner.access, "other-lab").await;
    verify(app, &admin.access, "other-lab").await;
    World {
        admin,
        owner,
        editor,
        member,
        stranger,
        other_owner,
    }
}

// ----- 1. the visibility matrix ----------------------------------------------------

struct Case {
    case: &'static str,
    inst: &'static str,
    visibility: &'static str,
    status: &'static str,
    seen_by: &'static [Who],
}

fn case(
    case: &'static str,
    inst: &'static str,
    visibility: &'static str,
    status: &'static str,
    seen_by: &'static [Who],
) -> Case {
    Case {
        case,
        inst,
        visibility,
        status,
        seen_by,
    }
}

/// Every owning institution × visibility × status, with who may see it.
/// `faded-lab` is unverified (renamed by its owner) once its resources are
/// published.
#[rustfmt::skip]
fn visibility_cases() -> Vec<Case> {
    let (a, f, o) = ("uni-a", "faded-lab", "other-lab");
    vec![
        case("a public draft is for the owning institution's owners and editors, and admins", a, "public", "draft", EDITORS),
        case("a registered draft: owners, editors, admins", a, "registered", "draft", EDITORS),
        case("an institution draft: owners, editors, admins", a, "institution", "draft", EDITORS),
        case("a partnership draft: owners, editors, admins", a, "partnership", "draft", EDITORS),
        case("published public: everyone", a, "public", "published", EVERYONE),
        case("published registered: anyone signed in", a, "registered", "published", SIGNED_IN),
        case("published institution: its members (any role) and admins", a, "institution", "published", MEMBERS),
        case("published partnership, no partnerships yet: its members and admins", a, "partnership", "published", MEMBERS),
        case("archived public stays readable by everyone", a, "public", "archived", EVERYONE),
        case("archived registered: anyone signed in", a, "registered", "archived", SIGNED_IN),
        case("archived institution: its members and admins", a, "institution", "archived", MEMBERS),
        case("archived partnership: its members and admins", a, "partnership", "archived", MEMBERS),
        case("a draft of an unverified institution: owners, editors, admins", f, "public", "draft", EDITORS),
        case("an institution draft of an unverified institution: owners, editors, admins", f, "institution", "draft", EDITORS),
        case("published public of an institution no longer verified: members and admins only", f, "public", "published", MEMBERS),
        case("published registered of an unverified institution: members and admins only", f, "registered", "published", MEMBERS),
        case("published institution of an unverified institution: members and admins", f, "institution", "published", MEMBERS),
        case("published partnership of an unverified institution: members and admins", f, "partnership", "published", MEMBERS),
        case("archived public of an unverified institution: members and admins only", f, "public", "archived", MEMBERS),
        case("archived registered of an unverified institution: members and admins only", f, "registered", "archived", MEMBERS),
        case("another institution's draft: not for uni-a's owner or editor", o, "public", "draft", OTHER_LAB),
        case("another institution's internal resource: not for uni-a's people", o, "institution", "published", OTHER_LAB),
        case("another institution's partnership resource: not for uni-a's people", o, "partnership", "published", OTHER_LAB),
        case("another institution's registered resource: anyone signed in", o, "registered", "published", SIGNED_IN),
        case("another institution's public resource: everyone", o, "public", "published", EVERYONE),
    ]
}

const STATUSES: [&str; 3] = ["draft", "published", "archived"];
const LISTS: [&str; 4] = ["resources", "courses", "datasets", "model-cards"];

api_test!(every_viewer_sees_exactly_what_the_rules_allow, |backend| {
    let app = start(backend).await;
    let w = build_world(&app).await;
    let cases = visibility_cases();
    let mut made: Vec<(usize, Kind, String)> = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        for kind in Kind::ALL {
            let token = w.creator(c.inst);
            let title = format!("Case {i} {}", kind.name());
            let id = draft(
                &app,
                token,
                kind,
                c.inst,
                &title,
                json!({"visibility": c.visibility}),
            )
            .await;
            if c.status != "draft" {
                publish(&app, token, kind, &id).await;
            }
            if c.status == "archived" {
                archive(&app, token, kind, &id).await;
            }
            made.push((i, kind, id));
        }
    }
    unverify_by_renaming(&app, &w.owner.access, "faded-lab", "Faded Lab, renamed").await;

    // Every list each viewer gets, once.
    let mut lists: HashMap<(Who, &str, &str), BTreeSet<String>> = HashMap::new();
    let mut failures: Vec<String> = Vec::new();
    for who in Who::ALL {
        for status in STATUSES {
            for coll in LISTS {
                let path = format!("/api/v1/{coll}?status={status}&limit=100");
                let page = body_of(
                    call(&app, Method::GET, &path, w.token(who), None).await,
                    200,
                )
                .await;
                assert!(
                    page["next_cursor"].is_null(),
                    "{path}: one page holds it all"
                );
                let items = page["items"].as_array().unwrap();
                for item in items {
                    if item["status"] != status {
                        failures.push(format!(
                            "{who:?} {path}: an item of status {}",
                            item["status"]
                        ));
                    }
                    if let Some(kind) = Kind::ALL.iter().find(|k| k.collection() == coll)
                        && item["kind"] != kind.name()
                    {
                        failures.push(format!("{who:?} {path}: an item of kind {}", item["kind"]));
                    }
                }
                lists.insert(
                    (who, coll, status),
                    strings(&page["items"], "id").into_iter().collect(),
                );
            }
        }
    }
    for (i, kind, id) in &made {
        let c = &cases[*i];
        let label = format!(
            "[{} {} {} {}] {}",
            c.inst,
            c.visibility,
            c.status,
            kind.name(),
            c.case
        );
        for who in Who::ALL {
            let sees = c.seen_by.contains(&who);
            let res = call(&app, Method::GET, &item_path(*kind, id), w.token(who), None).await;
            let got = res.status().as_u16();
            let want = if sees { 200 } else { 404 };
            if got == 200 {
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["id"], id.as_str());
            } else if got == 404 {
                problem(res, 404).await;
            }
            if got != want {
                failures.push(format!(
                    "{label}: GET by {who:?} answered {got}, expected {want}"
                ));
            }
            for coll in [kind.collection(), "resources"] {
                let listed = lists[&(who, coll, c.status)].contains(id);
                if listed != sees {
                    failures.push(format!(
                        "{label}: /{coll}?status={} for {who:?} {} it",
                        c.status,
                        if listed { "lists" } else { "does not list" }
                    ));
                }
            }
        }
    }
    // Lists hold nothing but these resources.
    let all: BTreeSet<String> = made.iter().map(|(_, _, id)| id.clone()).collect();
    for ((who, coll, status), ids) in &lists {
        for id in ids.difference(&all) {
            failures.push(format!(
                "{who:?} /{coll}?status={status}: an unknown resource {id}"
            ));
        }
    }
    // The path names the kind: a course is no dataset, even for an admin.
    let (_, kind, id) = &made[4 * 3];
    assert_eq!(*kind, Kind::Course);
    let res = app
        .get_auth(&item_path(Kind::Dataset, id), &w.admin.access)
        .await;
    problem(res, 404).await;
    let res = app
        .get_auth("/api/v1/courses/not-a-uuid", &w.admin.access)
        .await;
    problem(res, 404).await;
    assert!(
        failures.is_empty(),
        "{} visibility failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
});

// ----- 2. who may change what -------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A draft of `uni-a` with this visibility.
    Draft(&'static str),
    /// A published resource of `uni-a` with this visibility.
    Published(&'static str),
    /// An archived resource of `uni-a` with this visibility.
    Archived(&'static str),
    /// A draft of `faded-lab` (unverified).
    FadedDraft,
    /// A resource `faded-lab` published while it was verified.
    FadedPublished,
    /// No such resource.
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `PATCH` of the resource itself.
    Patch,
    /// `PATCH …/draft` alone: the draft of the next version changes, the
    /// published version does not.
    PatchDraft,
    /// `PATCH …/draft`, then `POST …/publish`: how a published resource
    /// changes since versions (issue #19).
    EditDraft,
    Publish,
    Archive,
    Delete,
}

struct WriteRow {
    case: &'static str,
    who: Who,
    op: Op,
    target: Target,
    status: u16,
    /// The `urn:kujenga:problem:` type of a 403 or 409.
    problem: Option<&'static str>,
}

fn wr(case: &'static str, who: Who, op: Op, target: Target, status: u16) -> WriteRow {
    WriteRow {
        case,
        who,
        op,
        target,
        status,
        problem: match status {
            403 => Some("insufficient-role"),
            _ => None,
        },
    }
}

fn wp(
    case: &'static str,
    who: Who,
    op: Op,
    target: Target,
    status: u16,
    problem: &'static str,
) -> WriteRow {
    WriteRow {
        case,
        who,
        op,
        target,
        status,
        problem: Some(problem),
    }
}

#[rustfmt::skip]
#[allow(clippy::too_many_lines, reason = "one row per case")]
fn write_rows() -> Vec<WriteRow> {
    use Op::{Archive, Delete, EditDraft, Patch, PatchDraft, Publish};
    use Target::{Archived, Draft, FadedDraft, FadedPublished, Missing, Published};
    use Who::{Admin, Anonymous, Editor, Member, OtherOwner, Owner, Stranger};
    vec![
        // PATCH
        wr("owners edit their drafts", Owner, Patch, Draft("public"), 200),
        wr("editors edit drafts", Editor, Patch, Draft("institution"), 200),
        wr("admins edit any draft", Admin, Patch, Draft("public"), 200),
        wr("members may not see drafts: 404", Member, Patch, Draft("public"), 404),
        wr("strangers may not see drafts: 404", Stranger, Patch, Draft("public"), 404),
        wr("another institution's owner may not see drafts: 404", OtherOwner, Patch, Draft("public"), 404),
        wr("anonymous writers must sign in", Anonymous, Patch, Draft("public"), 401),
        wp("owners change a published resource through its draft, not in place", Owner, Patch, Published("public"), 409, "edit-the-draft"),
        wp("editors change a published resource through its draft, not in place", Editor, Patch, Published("registered"), 409, "edit-the-draft"),
        wp("admins change a published resource through its draft, not in place", Admin, Patch, Published("institution"), 409, "edit-the-draft"),
        wr("owners edit published resources (draft, publish)", Owner, EditDraft, Published("public"), 200),
        wr("editors edit published resources (draft, publish)", Editor, EditDraft, Published("registered"), 200),
        wr("admins edit published resources (draft, publish)", Admin, EditDraft, Published("institution"), 200),
        wr("editors edit the draft of a published resource", Editor, PatchDraft, Published("public"), 200),
        wr("members may not edit the draft: 403", Member, EditDraft, Published("public"), 403),
        wr("strangers may not edit the draft of a public resource: 403", Stranger, EditDraft, Published("public"), 403),
        wr("strangers cannot see an internal resource's draft: 404", Stranger, EditDraft, Published("institution"), 404),
        wr("other owners may not edit the draft: 403", OtherOwner, EditDraft, Published("public"), 403),
        wr("anonymous draft writers must sign in", Anonymous, EditDraft, Published("public"), 401),
        wr("members see but may not change: 403", Member, Patch, Published("public"), 403),
        wr("members may not change internal resources: 403", Member, Patch, Published("institution"), 403),
        wr("strangers see a public resource but may not change it: 403", Stranger, Patch, Published("public"), 403),
        wr("strangers see a registered resource but may not change it: 403", Stranger, Patch, Published("registered"), 403),
        wr("strangers cannot see an internal resource: 404", Stranger, Patch, Published("institution"), 404),
        wr("strangers cannot see a partnership resource: 404", Stranger, Patch, Published("partnership"), 404),
        wr("other owners may not change a public resource: 403", OtherOwner, Patch, Published("public"), 403),
        wr("anonymous callers must sign in, even for a public resource", Anonymous, Patch, Published("public"), 401),
        wp("archived resources are read-only, even for owners", Owner, Patch, Archived("public"), 409, "resource-archived"),
        wp("archived resources have no draft to edit, even for owners", Owner, EditDraft, Archived("public"), 409, "resource-archived"),
        wr("members may not change archived resources: 403", Member, Patch, Archived("public"), 403),
        wp("a resource of an unverified institution changes through its draft too", Owner, Patch, FadedPublished, 409, "edit-the-draft"),
        wr("owners still edit the draft of a resource of their unverified institution", Owner, PatchDraft, FadedPublished, 200),
        wr("…and publish it: the next version of what it published is an edit of it", Owner, EditDraft, FadedPublished, 200),
        wr("members of an unverified institution see but may not change: 403", Member, Patch, FadedPublished, 403),
        wr("strangers cannot see an unverified institution's resource: 404", Stranger, Patch, FadedPublished, 404),
        wr("no such resource: 404", Owner, Patch, Missing, 404),
        wr("no such resource, anonymous: 401", Anonymous, Patch, Missing, 401),
        // publish
        wr("owners publish", Owner, Publish, Draft("public"), 200),
        wr("editors publish", Editor, Publish, Draft("institution"), 200),
        wr("admins publish", Admin, Publish, Draft("registered"), 200),
        wr("members cannot see a draft to publish it: 404", Member, Publish, Draft("public"), 404),
        wr("strangers cannot see a draft: 404", Stranger, Publish, Draft("public"), 404),
        wr("other owners cannot see a draft: 404", OtherOwner, Publish, Draft("public"), 404),
        wr("anonymous publishers must sign in", Anonymous, Publish, Draft("public"), 401),
        wp("a published resource is not published again", Owner, Publish, Published("public"), 409, "invalid-transition"),
        wr("members may not publish: 403", Member, Publish, Published("public"), 403),
        wr("strangers may not publish a public resource: 403", Stranger, Publish, Published("public"), 403),
        wr("strangers cannot see an internal resource: 404", Stranger, Publish, Published("institution"), 404),
        wp("an unverified institution cannot publish", Owner, Publish, FadedDraft, 403, "institution-not-verified"),
        wp("…whichever of its editors asks", Editor, Publish, FadedDraft, 403, "institution-not-verified"),
        wr("strangers cannot see an unverified institution's draft: 404", Stranger, Publish, FadedDraft, 404),
        wr("members cannot see an unverified institution's draft: 404", Member, Publish, FadedDraft, 404),
        // archive
        wr("owners archive", Owner, Archive, Published("public"), 200),
        wr("editors archive", Editor, Archive, Published("partnership"), 200),
        wr("admins archive", Admin, Archive, Published("registered"), 200),
        wr("members may not archive: 403", Member, Archive, Published("public"), 403),
        wr("members may not archive internal resources: 403", Member, Archive, Published("institution"), 403),
        wr("strangers may not archive a public resource: 403", Stranger, Archive, Published("public"), 403),
        wr("strangers cannot see an internal resource: 404", Stranger, Archive, Published("institution"), 404),
        wr("other owners may not archive: 403", OtherOwner, Archive, Published("public"), 403),
        wr("anonymous archivers must sign in", Anonymous, Archive, Published("public"), 401),
        wp("drafts are not archived", Owner, Archive, Draft("public"), 409, "invalid-transition"),
        wp("archived resources are not archived again", Editor, Archive, Archived("public"), 409, "invalid-transition"),
        wr("members cannot see a draft to archive it: 404", Member, Archive, Draft("public"), 404),
        wr("strangers cannot see a draft: 404", Stranger, Archive, Draft("public"), 404),
        wr("editors archive a resource of their unverified institution", Editor, Archive, FadedPublished, 200),
        wr("strangers cannot see an unverified institution's resource: 404", Stranger, Archive, FadedPublished, 404),
        // DELETE
        wr("owners delete drafts", Owner, Delete, Draft("public"), 204),
        wr("editors delete drafts", Editor, Delete, Draft("institution"), 204),
        wr("admins delete drafts", Admin, Delete, Draft("registered"), 204),
        wr("members cannot see a draft to delete it: 404", Member, Delete, Draft("public"), 404),
        wr("strangers cannot see a draft: 404", Stranger, Delete, Draft("public"), 404),
        wr("other owners cannot see a draft: 404", OtherOwner, Delete, Draft("public"), 404),
        wr("anonymous deleters must sign in", Anonymous, Delete, Draft("public"), 401),
        wp("published resources are archived, not deleted", Owner, Delete, Published("public"), 409, "resource-published"),
        wp("archived resources are not deleted", Admin, Delete, Archived("public"), 409, "resource-published"),
        wr("members may not delete: 403", Member, Delete, Published("public"), 403),
        wr("strangers may not delete a public resource: 403", Stranger, Delete, Published("public"), 403),
        wr("strangers cannot see an internal resource: 404", Stranger, Delete, Published("institution"), 404),
        wr("anonymous deleters must sign in for published ones too", Anonymous, Delete, Published("public"), 401),
        wr("owners delete a draft of their unverified institution", Owner, Delete, FadedDraft, 204),
        wr("strangers cannot see an unverified institution's draft: 404", Stranger, Delete, FadedDraft, 404),
        wr("no such resource to delete: 404", Admin, Delete, Missing, 404),
    ]
}

async fn make_target(app: &TestApp, w: &World, kind: Kind, target: Target, title: &str) -> String {
    let owner = &w.owner.access;
    let vis = |v: &str| json!({"visibility": v});
    match target {
        Target::Draft(v) => draft(app, owner, kind, "uni-a", title, vis(v)).await,
        Target::Published(v) => published(app, owner, kind, "uni-a", title, vis(v)).await,
        Target::Archived(v) => {
            let id = published(app, owner, kind, "uni-a", title, vis(v)).await;
            archive(app, owner, kind, &id).await;
            id
        }
        Target::FadedDraft => draft(app, owner, kind, "faded-lab", title, vis("public")).await,
        Target::FadedPublished => {
            published(app, owner, kind, "faded-lab", title, vis("public")).await
        }
        Target::Missing => uuid::Uuid::now_v7().to_string(),
    }
}

api_test!(who_may_change_publish_archive_and_delete, |backend| {
    let app = start(backend).await;
    let w = build_world(&app).await;
    let rows = write_rows();
    // Every row gets its own resource (kinds in turn), made before
    // `faded-lab` loses its verification.
    let mut targets = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let kind = Kind::ALL[i % 3];
        let id = make_target(&app, &w, kind, row.target, &format!("Write case {i}")).await;
        targets.push((kind, id));
    }
    unverify_by_renaming(&app, &w.owner.access, "faded-lab", "Faded Lab, renamed").await;

    let admin = w.admin.access.as_str();
    let mut failures: Vec<String> = Vec::new();
    for (row, (kind, id)) in rows.iter().zip(&targets) {
        let label = format!(
            "{} ({:?} {:?} {:?} {})",
            row.case,
            row.who,
            row.op,
            row.target,
            kind.name()
        );
        let path = item_path(*kind, id);
        let before = call(&app, Method::GET, &path, Some(admin), None).await;
        let before: Option<Value> =
            (before.status() == 200).then_some(before.json().await.unwrap());
        let summary = format!("Changed by {:?}.", row.who);
        let edit = json!({"summary": summary});
        let token = w.token(row.who);
        let (method, url, body) = match row.op {
            Op::Patch => (Method::PATCH, path.clone(), Some(edit)),
            Op::PatchDraft => (Method::PATCH, format!("{path}/draft"), Some(edit)),
            Op::EditDraft => (Method::PATCH, String::new(), Some(edit)),
            Op::Publish => (Method::POST, format!("{path}/publish"), None),
            Op::Archive => (Method::POST, format!("{path}/archive"), None),
            Op::Delete => (Method::DELETE, path.clone(), None),
        };
        let res = match row.op {
            Op::EditDraft => edit_published(&app, token, &path, body.unwrap()).await,
            _ => call(&app, method, &url, token, body).await,
        };
        let got = res.status().as_u16();
        if got != row.status {
            let text = res.text().await.unwrap_or_default();
            failures.push(format!(
                "{label}: answered {got}, expected {}: {text}",
                row.status
            ));
            continue;
        }
        let after = call(&app, Method::GET, &path, Some(admin), None).await;
        let after: Option<Value> = (after.status() == 200).then_some(after.json().await.unwrap());
        if got < 300 {
            let ok = match row.op {
                Op::Patch | Op::EditDraft => after
                    .as_ref()
                    .is_some_and(|a| a["summary"] == summary.as_str()),
                // The draft changed; the published version did not.
                Op::PatchDraft => {
                    let draft = call(&app, Method::GET, &url, token, None).await;
                    let draft: Value = draft.json().await.unwrap();
                    draft["summary"] == summary.as_str()
                        && draft["status"] == "draft"
                        && after.as_ref().zip(before.as_ref()).is_some_and(|(a, b)| {
                            a["version"] == b["version"] && a["summary"] == b["summary"]
                        })
                }
                Op::Publish => after.as_ref().is_some_and(|a| a["status"] == "published"),
                Op::Archive => after.as_ref().is_some_and(|a| a["status"] == "archived"),
                Op::Delete => after.is_none(),
            };
            if !ok {
                failures.push(format!(
                    "{label}: answered {got} but the resource is now {after:?}"
                ));
            }
            continue;
        }
        let body = problem(res, got).await;
        if let Some(p) = row.problem
            && body["type"] != format!("urn:kujenga:problem:{p}")
        {
            failures.push(format!(
                "{label}: problem type {}, expected {p}",
                body["type"]
            ));
        }
        let unchanged = match (&before, &after) {
            (Some(b), Some(a)) => b["version"] == a["version"] && b["status"] == a["status"],
            (None, None) => true,
            _ => false,
        };
        if !unchanged {
            failures.push(format!(
                "{label}: refused with {got} but the resource changed"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} write-access failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
});

// ----- 3. filters ---------------------------------------------------------------------

/// Checks lists against expected labels, collecting every mismatch.
struct ListCheck<'a> {
    app: &'a TestApp,
    labels: HashMap<String, &'static str>,
    failures: Vec<String>,
}

impl ListCheck<'_> {
    fn label(&mut self, id: &str, label: &'static str) {
        self.labels.insert(id.to_string(), label);
    }

    /// `path` (as `who`) lists exactly `want`, in any order.
    async fn set(&mut self, who: &str, token: Option<&str>, path: &str, want: &[&str]) {
        let Some(got) = self.labels_of(who, token, path).await else {
            return;
        };
        let got: BTreeSet<&str> = got.into_iter().collect();
        let want: BTreeSet<&str> = want.iter().copied().collect();
        if got != want {
            self.failures
                .push(format!("{who} GET {path}: got {got:?}, expected {want:?}"));
        }
    }

    /// `path` (as `who`) lists exactly `want`, in this order.
    async fn order(&mut self, who: &str, token: Option<&str>, path: &str, want: &[&str]) {
        let Some(got) = self.labels_of(who, token, path).await else {
            return;
        };
        if got != want {
            self.failures
                .push(format!("{who} GET {path}: got {got:?}, expected {want:?}"));
        }
    }

    async fn labels_of(
        &mut self,
        who: &str,
        token: Option<&str>,
        path: &str,
    ) -> Option<Vec<&'static str>> {
        let res = call(self.app, Method::GET, path, token, None).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        if status != 200 {
            self.failures
                .push(format!("{who} GET {path}: answered {status}: {text}"));
            return None;
        }
        let page: Value = serde_json::from_str(&text).unwrap();
        assert!(page["next_cursor"].is_null(), "{path}: one page");
        Some(
            strings(&page["items"], "id")
                .iter()
                .map(|id| self.labels.get(id).copied().unwrap_or("<unknown>"))
                .collect(),
        )
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} list failure(s):\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// `uni-a` (owner, member) and `lab-b` (another owner), both verified; a
/// stranger; the admin. Tokens: (admin, owner, member, stranger, other).
async fn small_world(app: &TestApp) -> (Account, Account, Account, Account, Account) {
    let root = admin(app, "root@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let member = app.signup("member@example.org").await;
    let stranger = app.signup("stranger@example.org").await;
    let other = app.signup("other@example.org").await;
    create_slug(app, &owner.access, "uni-a").await;
    verify(app, &root.access, "uni-a").await;
    join(app, &owner.access, "uni-a", &member, "member").await;
    create_slug(app, &other.access, "lab-b").await;
    verify(app, &root.access, "lab-b").await;
    (root, owner, member, stranger, other)
}

/// `small_world` and eight resources, r1 to r8, of every kind, language,
/// country, licence, tag, visibility and status the filters tell apart.
struct Filtered {
    app: TestApp,
    owner: Account,
    member: Account,
    stranger: Account,
    other: Account,
    /// Resource id → r1…r8.
    labels: HashMap<String, &'static str>,
    /// r1, a published course of `uni-a`.
    r1: String,
}

async fn filtered(backend: Backend) -> Filtered {
    let app = start(backend).await;
    let (_root, owner, member, stranger, other) = small_world(&app).await;
    let (o, b) = (owner.access.as_str(), other.access.as_str());
    let mut c = ListCheck {
        app: &app,
        labels: HashMap::new(),
        failures: Vec::new(),
    };
    let r1 = published(
        &app,
        o,
        Kind::Course,
        "uni-a",
        "Swahili NLP basics",
        json!({
    "languages": ["sw-KE"], "countries": ["KE", "TZ"], "license": "cc-by-4.0",
    "tags": ["NLP", "Speech"]}),
    )
    .await;
    c.label(&r1, "r1");
    let r2 = published(
        &app,
        b,
        Kind::Dataset,
        "lab-b",
        "Yoruba speech corpus",
        json!({
    "languages": ["yo"], "countries": ["NG"], "license": "cc0-1.0", "tags": ["speech", "audio"],
    "access_level": "registered", "visibility": "registered"}),
    )
    .await;
    c.label(&r2, "r2");
    let r3 = published(
        &app,
        o,
        Kind::ModelCard,
        "uni-a",
        "Crop disease detector",
        json!({
    "languages": ["en", "sw"], "countries": ["KE"], "license": "Apache-2.0",
    "tags": ["vision"], "risk_tier": "minimal"}),
    )
    .await;
    c.label(&r3, "r3");
    let r4 = published(
        &app,
        b,
        Kind::ModelCard,
        "lab-b",
        "Maize yield forecaster",
        json!({
    "languages": ["en-NG", "ha"], "countries": ["NG", "GH"], "license": "MIT",
    "tags": ["agriculture"], "risk_tier": "limited", "evaluation_data": "Held-out farms.",
    "caveats": "Rain-fed farms only.",
    "results": [{"task": "regression", "metric": "mae", "value": 0.4}]}),
    )
    .await;
    c.label(&r4, "r4");
    let r5 = published(
        &app,
        o,
        Kind::Dataset,
        "uni-a",
        "Open maize plots",
        json!({
    "countries": ["KE"], "license": "CC-BY-SA-4.0", "tags": ["agriculture"],
    "access_level": "open"}),
    )
    .await;
    c.label(&r5, "r5");
    let r6 = published(
        &app,
        o,
        Kind::Course,
        "uni-a",
        "Internal speech notes",
        json!({
    "languages": ["sw"], "countries": ["KE"], "tags": ["speech"],
    "visibility": "institution"}),
    )
    .await;
    c.label(&r6, "r6");
    let r7 = draft(
        &app,
        o,
        Kind::Course,
        "uni-a",
        "Draft speech course",
        json!({
    "languages": ["sw-TZ"], "countries": ["KE"], "tags": ["speech"]}),
    )
    .await;
    c.label(&r7, "r7");
    let r8 = published(
        &app,
        b,
        Kind::Dataset,
        "lab-b",
        "Old speech archive",
        json!({
    "languages": ["yo"], "countries": ["NG"], "tags": ["speech"]}),
    )
    .await;
    archive(&app, b, Kind::Dataset, &r8).await;
    c.label(&r8, "r8");
    let labels = c.labels;
    Filtered {
        app,
        owner,
        member,
        stranger,
        other,
        labels,
        r1,
    }
}

impl Filtered {
    fn check(&self) -> ListCheck<'_> {
        ListCheck {
            app: &self.app,
            labels: self.labels.clone(),
            failures: Vec::new(),
        }
    }
}

api_test!(
    filters_narrow_the_catalogue_to_what_the_caller_may_see,
    |backend| {
        let f = filtered(backend).await;
        let mut c = f.check();
        let s = Some(f.stranger.access.as_str());
        let m = Some(f.member.access.as_str());
        let r = "/api/v1/resources";
        let st = "stranger";
        c.set(st, s, r, &["r1", "r2", "r3", "r4", "r5"]).await;
        c.set("anonymous", None, r, &["r1", "r3", "r4", "r5"]).await;
        c.set("member", m, r, &["r1", "r2", "r3", "r4", "r5", "r6"])
            .await;
        // institution
        c.set(
            st,
            s,
            &format!("{r}?institution=uni-a"),
            &["r1", "r3", "r5"],
        )
        .await;
        c.set(
            "member",
            m,
            &format!("{r}?institution=uni-a"),
            &["r1", "r3", "r5", "r6"],
        )
        .await;
        c.set(st, s, &format!("{r}?institution=lab-b"), &["r2", "r4"])
            .await;
        c.set(st, s, &format!("{r}?institution=nobody"), &[]).await;
        // language: a primary subtag matches its regional variants
        c.set(st, s, &format!("{r}?language=sw"), &["r1", "r3"])
            .await;
        c.set(
            "member",
            m,
            &format!("{r}?language=sw"),
            &["r1", "r3", "r6"],
        )
        .await;
        c.set(st, s, &format!("{r}?language=sw-KE"), &["r1"]).await;
        c.set(st, s, &format!("{r}?language=SW-ke"), &["r1"]).await;
        c.set(st, s, &format!("{r}?language=en"), &["r3", "r4", "r5"])
            .await;
        c.set(st, s, &format!("{r}?language=en-NG"), &["r4"]).await;
        c.set(st, s, &format!("{r}?language=yo"), &["r2"]).await;
        c.set("anonymous", None, &format!("{r}?language=yo"), &[])
            .await;
        c.set(st, s, &format!("{r}?language=ha"), &["r4"]).await;
        c.set(st, s, &format!("{r}?language=fr"), &[]).await;
        // country
        c.set(st, s, &format!("{r}?country=KE"), &["r1", "r3", "r5"])
            .await;
        c.set(st, s, &format!("{r}?country=ng"), &["r2", "r4"])
            .await;
        c.set(st, s, &format!("{r}?country=TZ"), &["r1"]).await;
        c.set(st, s, &format!("{r}?country=GH"), &["r4"]).await;
        c.finish();
    }
);

api_test!(filters_by_license_tag_and_status, |backend| {
    let f = filtered(backend).await;
    let mut c = f.check();
    let b = f.other.access.as_str();
    let s = Some(f.stranger.access.as_str());
    let m = Some(f.member.access.as_str());
    let ow = Some(f.owner.access.as_str());
    let r = "/api/v1/resources";
    let st = "stranger";
    // license: any spelling of an SPDX id
    c.set(st, s, &format!("{r}?license=cc-by-4.0"), &["r1"])
        .await;
    c.set(st, s, &format!("{r}?license=CC-BY-4.0"), &["r1"])
        .await;
    c.set(st, s, &format!("{r}?license=cc0-1.0"), &["r2"]).await;
    c.set(st, s, &format!("{r}?license=apache-2.0"), &["r3"])
        .await;
    c.set(st, s, &format!("{r}?license=mit"), &["r4"]).await;
    c.set(st, s, &format!("{r}?license=Cc-By-Sa-4.0"), &["r5"])
        .await;
    c.set(st, s, &format!("{r}?license=GPL-3.0-only"), &[])
        .await;
    // tag: case-insensitive
    c.set(st, s, &format!("{r}?tag=speech"), &["r1", "r2"])
        .await;
    c.set(st, s, &format!("{r}?tag=SPEECH"), &["r1", "r2"])
        .await;
    c.set(st, s, &format!("{r}?tag=Nlp"), &["r1"]).await;
    c.set("anonymous", None, &format!("{r}?tag=speech"), &["r1"])
        .await;
    c.set("member", m, &format!("{r}?tag=speech"), &["r1", "r2", "r6"])
        .await;
    c.set(st, s, &format!("{r}?tag=spee"), &[]).await;
    // status
    c.set(
        st,
        s,
        &format!("{r}?status=published"),
        &["r1", "r2", "r3", "r4", "r5"],
    )
    .await;
    c.set(st, s, &format!("{r}?status=draft"), &[]).await;
    c.set("member", m, &format!("{r}?status=draft"), &[]).await;
    c.set("other owner", Some(b), &format!("{r}?status=draft"), &[])
        .await;
    c.set("owner", ow, &format!("{r}?status=draft"), &["r7"])
        .await;
    c.set(
        "owner",
        ow,
        &format!("{r}?status=draft&tag=speech&language=sw"),
        &["r7"],
    )
    .await;
    c.set(st, s, &format!("{r}?status=archived"), &["r8"]).await;
    c.set(st, s, &format!("{r}?status=archived&tag=speech"), &["r8"])
        .await;
    c.set("anonymous", None, &format!("{r}?status=archived"), &["r8"])
        .await;
    c.finish();
});

api_test!(
    filters_by_kind_risk_tier_and_access_level_and_together,
    |backend| {
        let f = filtered(backend).await;
        let mut c = f.check();
        let s = Some(f.stranger.access.as_str());
        let r = "/api/v1/resources";
        let st = "stranger";
        // kind
        c.set(st, s, &format!("{r}?kind=course"), &["r1"]).await;
        c.set(st, s, &format!("{r}?kind=dataset"), &["r2", "r5"])
            .await;
        c.set(st, s, &format!("{r}?kind=model_card"), &["r3", "r4"])
            .await;
        c.set(st, s, "/api/v1/datasets", &["r2", "r5"]).await;
        c.set(st, s, "/api/v1/courses?kind=dataset", &[]).await;
        c.set(st, s, "/api/v1/courses?kind=course", &["r1"]).await;
        // risk tier and access level
        c.set(st, s, "/api/v1/model-cards?risk_tier=minimal", &["r3"])
            .await;
        c.set(st, s, "/api/v1/model-cards?risk_tier=limited", &["r4"])
            .await;
        c.set(st, s, "/api/v1/model-cards?risk_tier=high", &[])
            .await;
        c.set(st, s, &format!("{r}?risk_tier=limited"), &["r4"])
            .await;
        c.set(st, s, "/api/v1/datasets?access_level=registered", &["r2"])
            .await;
        c.set(st, s, "/api/v1/datasets?access_level=open", &["r5"])
            .await;
        c.set(st, s, "/api/v1/datasets?access_level=restricted", &[])
            .await;
        // together
        c.set(
            st,
            s,
            &format!("{r}?institution=uni-a&language=sw&kind=course"),
            &["r1"],
        )
        .await;
        c.set(st, s, &format!("{r}?tag=speech&country=NG"), &["r2"])
            .await;
        c.set(
            st,
            s,
            &format!("{r}?tag=agriculture&institution=uni-a"),
            &["r5"],
        )
        .await;
        c.set(
            st,
            s,
            &format!("{r}?language=sw&country=TZ&license=cc-by-4.0&tag=nlp"),
            &["r1"],
        )
        .await;

        // The stored licence is the canonical SPDX spelling.
        let one = body_of(f.app.get(&item_path(Kind::Course, &f.r1)).await, 200).await;
        assert_eq!(one["license"], "CC-BY-4.0");
        c.finish();
    }
);

// ----- q --------------------------------------------------------------------------------

api_test!(
    q_finds_whole_words_in_every_text_whatever_their_case_and_accents,
    |backend| {
        let app = start(backend).await;
        let (_root, owner, member, stranger, _other) = small_world(&app).await;
        let o = owner.access.as_str();
        let mut c = ListCheck {
            app: &app,
            labels: HashMap::new(),
            failures: Vec::new(),
        };
        let q1 = published(
            &app,
            o,
            Kind::Course,
            "uni-a",
            "Maize_yield 100% model",
            json!({"summary": "Forecasts harvests.", "tags": ["agri"]}),
        )
        .await;
        c.label(&q1, "q1");
        let q2 = published(
            &app,
            o,
            Kind::Course,
            "uni-a",
            "Maize yield guide",
            json!({"summary": "How to grow more.", "tags": ["farming"]}),
        )
        .await;
        c.label(&q2, "q2");
        let q3 = published(
            &app,
            o,
            Kind::Dataset,
            "uni-a",
            "École de données",
            json!({"summary": "Cours en français.", "tags": ["Francophone"]}),
        )
        .await;
        c.label(&q3, "q3");
        let q4 = published(
            &app,
            o,
            Kind::ModelCard,
            "uni-a",
            "Crop notes",
            json!({"summary": "Covers CASSAVA pests.", "tags": ["Pest-Control"],
               "description": "The secretword appears only here."}),
        )
        .await;
        c.label(&q4, "q4");
        let q5 = published(
            &app,
            o,
            Kind::Course,
            "uni-a",
            "Percentage basics",
            json!({"summary": "Fractions and ratios.", "tags": []}),
        )
        .await;
        c.label(&q5, "q5");
        let q6 = published(
            &app,
            o,
            Kind::Course,
            "uni-a",
            "Hidden maize plan",
            json!({"summary": "Internal.", "visibility": "institution"}),
        )
        .await;
        c.label(&q6, "q6");
        let q7 = draft(
            &app,
            o,
            Kind::Course,
            "uni-a",
            "Draft maize idea",
            json!({}),
        )
        .await;
        c.label(&q7, "q7");

        let s = Some(stranger.access.as_str());
        let st = "stranger";
        let q = |term: &str| format!("/api/v1/resources?q={}", enc(term));
        c.set(st, s, &q("maize"), &["q1", "q2"]).await;
        c.set(st, s, &q("MAIZE"), &["q1", "q2"]).await;
        c.set(st, s, &q("  maize  "), &["q1", "q2"]).await;
        c.set(st, s, &q("Yield Guide"), &["q2"]).await;
        c.set("anonymous", None, &q("maize"), &["q1", "q2"]).await;
        c.set(
            "member",
            Some(member.access.as_str()),
            &q("maize"),
            &["q1", "q2", "q6"],
        )
        .await;
        c.set(
            "owner",
            Some(o),
            &format!("{}&status=draft", q("maize")),
            &["q7"],
        )
        .await;
        // `%` and `_` are not wildcards: they only separate words, and a
        // query of nothing but them matches nothing.
        c.set(st, s, &q("%"), &[]).await;
        c.set(st, s, &q("100%"), &["q1"]).await;
        c.set(st, s, &q("%%"), &[]).await;
        c.set(st, s, &q("_"), &[]).await;
        // Words joined by punctuation are a phrase.
        c.set(st, s, &q("maize_yield"), &["q1", "q2"]).await;
        c.set(st, s, &q("m_ize"), &[]).await;
        c.set(st, s, &q("maize%guide"), &[]).await;
        c.set(st, s, &q("maize%"), &["q1", "q2"]).await;
        c.set(st, s, &q("\\"), &[]).await;
        c.set(st, s, &q("\\%"), &[]).await;
        // Whole words, not parts of words; every text counts.
        c.set(st, s, &q("maiz"), &[]).await;
        c.set(st, s, &q("cassava"), &["q4"]).await;
        c.set(st, s, &q("pest-control"), &["q4"]).await;
        c.set(st, s, &q("PEST"), &["q4"]).await;
        c.set(st, s, &q("harvests"), &["q1"]).await;
        c.set(st, s, &q("secretword"), &["q4"]).await;
        // Beyond ASCII.
        c.set(st, s, &q("ÉCOLE"), &["q3"]).await;
        c.set(st, s, &q("données"), &["q3"]).await;
        c.set(st, s, &q("FRANÇAIS"), &["q3"]).await;
        c.set(st, s, &q("francophone"), &["q3"]).await;
        // With the other filters.
        c.set(st, s, &format!("{}&kind=course", q("maize")), &["q1", "q2"])
            .await;
        c.set(st, s, &format!("/api/v1/datasets?q={}", enc("maize")), &[])
            .await;
        c.set(st, s, &format!("{}&tag=agri", q("maize")), &["q1"])
            .await;
        c.set(st, s, &q("percentage"), &["q5"]).await;
        c.finish();

        let res = app.get(&q(&"x".repeat(501))).await;
        invalid(res, &["q"]).await;
    }
);

// ----- invalid parameters ---------------------------------------------------------------

api_test!(
    invalid_list_parameters_are_400_naming_the_parameter,
    |backend| {
        let app = start(backend).await;
        let cases: &[(&str, &[&str])] = &[
            ("language=xx-!!", &["language"]),
            ("language=", &["language"]),
            ("country=ZZ", &["country"]),
            ("country=KEN", &["country"]),
            ("license=nope", &["license"]),
            ("status=bogus", &["status"]),
            ("status=Published", &["status"]),
            ("sort=bogus", &["sort"]),
            ("sort=created_at", &["sort"]),
            ("fields=nonexistent", &["fields"]),
            ("fields=title,nonexistent", &["fields"]),
            ("fields=related_from", &["fields"]),
            ("limit=0", &["limit"]),
            ("limit=101", &["limit"]),
            ("limit=-1", &["limit"]),
            ("limit=ten", &["limit"]),
            ("cursor=garbage", &["cursor"]),
            ("cursor=bm90IGpzb24", &["cursor"]),
            ("kind=bogus", &["kind"]),
            ("risk_tier=extreme", &["risk_tier"]),
            ("access_level=secret", &["access_level"]),
            (
                "language=xx-!!&country=ZZ&license=nope",
                &["country", "language", "license"],
            ),
        ];
        for list in ["resources", "courses", "datasets", "model-cards"] {
            for (query, fields) in cases {
                let path = format!("/api/v1/{list}?{query}");
                let res = app.get(&path).await;
                let status = res.status();
                let body = invalid(res, fields).await;
                assert_eq!(status, 400, "{path}: {body}");
            }
        }
        let long_tag = format!("/api/v1/resources?tag={}", "t".repeat(51));
        invalid(app.get(&long_tag).await, &["tag"]).await;
        // A field of another kind is no field of this list.
        invalid(
            app.get("/api/v1/courses?fields=access_level").await,
            &["fields"],
        )
        .await;
        invalid(
            app.get("/api/v1/datasets?fields=risk_tier").await,
            &["fields"],
        )
        .await;
        body_of(app.get("/api/v1/datasets?fields=access_level").await, 200).await;
        body_of(
            app.get("/api/v1/resources?fields=risk_tier,level").await,
            200,
        )
        .await;
        // Valid values of every filter pass on an empty catalogue.
        let res = app
        .get(
            "/api/v1/resources?language=sw-KE&country=ke&license=mit&status=archived&sort=-title\
             &fields=title&limit=100&kind=dataset&risk_tier=high&access_level=restricted&tag=x&q=y",
        )
        .await;
        let page = body_of(res, 200).await;
        assert_eq!(page, json!({"items": [], "next_cursor": null}));
    }
);

// ----- sort orders and fields -----------------------------------------------------------

/// `small_world` and four resources of `uni-a`, created in one order
/// (Delta, alpha, Charlie, bravo), published in another (Charlie, Delta,
/// bravo, alpha) and titled to sort in a third.
struct Sorted {
    app: TestApp,
    labels: HashMap<String, &'static str>,
}

async fn sorted(backend: Backend) -> Sorted {
    let app = start(backend).await;
    let (_root, owner, _member, _stranger, _other) = small_world(&app).await;
    let o = owner.access.as_str();
    let mut c = ListCheck {
        app: &app,
        labels: HashMap::new(),
        failures: Vec::new(),
    };
    // Created in one order, published in another, titled in a third.
    let delta = draft(&app, o, Kind::Course, "uni-a", "Delta", json!({})).await;
    let alpha = draft(&app, o, Kind::Dataset, "uni-a", "alpha", json!({})).await;
    let charlie = draft(&app, o, Kind::ModelCard, "uni-a", "Charlie", json!({})).await;
    let bravo = draft(&app, o, Kind::Course, "uni-a", "bravo", json!({})).await;
    for (id, label) in [
        (&delta, "Delta"),
        (&alpha, "alpha"),
        (&charlie, "Charlie"),
        (&bravo, "bravo"),
    ] {
        c.label(id, label);
    }
    publish(&app, o, Kind::ModelCard, &charlie).await;
    publish(&app, o, Kind::Course, &delta).await;
    publish(&app, o, Kind::Course, &bravo).await;
    publish(&app, o, Kind::Dataset, &alpha).await;
    let labels = c.labels;
    Sorted { app, labels }
}

api_test!(sort_orders_hold_in_lists_and_pages, |backend| {
    let Sorted { app, labels } = sorted(backend).await;
    let mut c = ListCheck {
        app: &app,
        labels,
        failures: Vec::new(),
    };
    let r = "/api/v1/resources";
    let newest = ["alpha", "bravo", "Delta", "Charlie"];
    c.order("anonymous", None, r, &newest).await;
    c.order(
        "anonymous",
        None,
        &format!("{r}?sort=-published_at"),
        &newest,
    )
    .await;
    c.order(
        "anonymous",
        None,
        &format!("{r}?sort=published_at"),
        &["Charlie", "Delta", "bravo", "alpha"],
    )
    .await;
    c.order(
        "anonymous",
        None,
        &format!("{r}?sort=title"),
        &["alpha", "bravo", "Charlie", "Delta"],
    )
    .await;
    c.order(
        "anonymous",
        None,
        &format!("{r}?sort=-title"),
        &["Delta", "Charlie", "bravo", "alpha"],
    )
    .await;
    c.order(
        "anonymous",
        None,
        "/api/v1/courses?sort=title",
        &["bravo", "Delta"],
    )
    .await;
    c.order("anonymous", None, "/api/v1/courses", &["bravo", "Delta"])
        .await;
    c.order(
        "anonymous",
        None,
        "/api/v1/courses?sort=published_at",
        &["Delta", "bravo"],
    )
    .await;
    c.order(
        "anonymous",
        None,
        &format!("{r}?sort=title&q=about"),
        &["alpha", "bravo", "Charlie", "Delta"],
    )
    .await;
    c.finish();
    // Page by page (limit=1, following the cursors), the order holds.
    for (sort, want) in [
        ("-published_at", vec!["alpha", "bravo", "Delta", "Charlie"]),
        ("published_at", vec!["Charlie", "Delta", "bravo", "alpha"]),
        ("title", vec!["alpha", "bravo", "Charlie", "Delta"]),
        ("-title", vec!["Delta", "Charlie", "bravo", "alpha"]),
    ] {
        let got = walk(&app, None, &format!("{r}?sort={sort}"), "title").await;
        assert_eq!(got, want, "walking sort={sort}");
    }
    // published_at agrees with the order.
    let page = body_of(app.get(&format!("{r}?sort=published_at")).await, 200).await;
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = strings(&page["items"], "published_at")
        .iter()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
});

api_test!(sparse_fields_bring_only_what_is_named, |backend| {
    let Sorted { app, .. } = sorted(backend).await;
    let r = "/api/v1/resources";
    // Sparse fields: only those named, plus id and kind.
    let keys =
        |item: &Value| -> BTreeSet<String> { item.as_object().unwrap().keys().cloned().collect() };
    let want =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|s| (*s).to_string()).collect() };
    let page = body_of(app.get(&format!("{r}?fields=title,summary")).await, 200).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for item in items {
        assert_eq!(
            keys(item),
            want(&["id", "kind", "title", "summary"]),
            "{item}"
        );
    }
    assert_eq!(items[0]["title"], "alpha");
    assert_eq!(items[0]["kind"], "dataset");
    assert_eq!(items[0]["summary"], "About alpha.");
    let page = body_of(
        app.get(&format!("{r}?fields={}", enc(" title , summary ")))
            .await,
        200,
    )
    .await;
    for item in page["items"].as_array().unwrap() {
        assert_eq!(
            keys(item),
            want(&["id", "kind", "title", "summary"]),
            "{item}"
        );
    }
    let page = body_of(
        app.get("/api/v1/datasets?fields=access_level,license")
            .await,
        200,
    )
    .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        keys(&items[0]),
        want(&["id", "kind", "access_level", "license"])
    );
    assert_eq!(items[0]["access_level"], "open");
    let page = body_of(app.get(&format!("{r}?fields=id")).await, 200).await;
    for item in page["items"].as_array().unwrap() {
        assert_eq!(keys(item), want(&["id", "kind"]), "{item}");
    }
    // Without `fields`, or with an empty one, everything comes.
    for path in [r.to_string(), format!("{r}?fields=")] {
        let page = body_of(app.get(&path).await, 200).await;
        for item in page["items"].as_array().unwrap() {
            for f in [
                "id",
                "kind",
                "institution",
                "title",
                "summary",
                "description",
                "license",
                "languages",
                "countries",
                "tags",
                "visibility",
                "status",
                "version",
                "created_at",
                "updated_at",
                "published_at",
                "related",
            ] {
                assert!(item.get(f).is_some(), "{path}: {f} missing in {item}");
            }
        }
    }
    // `fields` keeps the cursor working.
    let res = app
        .get(&format!("{r}?fields=title&limit=2&sort=title"))
        .await;
    let page = body_of(res, 200).await;
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let res = app
        .get(&format!(
            "{r}?fields=title&limit=2&sort=title&cursor={cursor}"
        ))
        .await;
    let page = body_of(res, 200).await;
    assert_eq!(strings(&page["items"], "title"), vec!["Charlie", "Delta"]);
    assert!(page["next_cursor"].is_null());
});

// ----- 4. pagination while the catalogue grows ------------------------------------------

/// `n` as two lowercase letters (`aa`, `ab`, …): titles that sort the same
/// under any collation.
fn letters(n: usize) -> String {
    let a = u8::try_from(n / 26 % 26).unwrap();
    let b = u8::try_from(n % 26).unwrap();
    format!("{}{}", char::from(b'a' + a), char::from(b'a' + b))
}

/// `small_world` and 25 public resources of `uni-a`, titled `Walk b…` in an
/// order unrelated to publication, three or so to a title in either case;
/// and two hidden from the anonymous walker (a draft, an internal one).
struct Walk {
    app: TestApp,
    owner: Account,
    existing: Vec<String>,
    hidden: [String; 2],
}

async fn walk_world(backend: Backend) -> Walk {
    let app = start(backend).await;
    let (_root, owner, _member, _stranger, _other) = small_world(&app).await;
    let o = owner.access.as_str();
    let mut existing: Vec<String> = Vec::new();
    for i in 0..25 {
        let kind = Kind::ALL[i % 3];
        // Titles in an order unrelated to publication ("Walk b…"), three
        // or so to a title, in either case: ties the cursor must break.
        let title = format!("Walk b{}", letters((i * 7) % 25 / 3));
        let title = if i % 2 == 0 {
            title
        } else {
            title.to_uppercase()
        };
        existing.push(published(&app, o, kind, "uni-a", &title, json!({})).await);
    }
    // Not for the anonymous walker.
    let hidden = [
        draft(&app, o, Kind::Course, "uni-a", "Walk bzz draft", json!({})).await,
        published(
            &app,
            o,
            Kind::Dataset,
            "uni-a",
            "Walk internal",
            json!({"visibility": "institution"}),
        )
        .await,
    ];
    Walk {
        app,
        owner,
        existing,
        hidden,
    }
}

/// Walks the public catalogue in `sort` order, seven a page, following the
/// `Link` of each page while more is published (one title before every
/// cursor, one after, counted by `inserted`): every resource that existed
/// before the walk is seen once, nothing hidden is, and what was published
/// during the walk is seen as the order says.
async fn walk_while_publishing(
    app: &TestApp,
    o: &str,
    sort: &str,
    existing: &mut Vec<String>,
    inserted: &mut usize,
    hidden: &[String],
) {
    let before: BTreeSet<String> = existing.iter().cloned().collect();
    let mut early: Vec<String> = Vec::new();
    let mut late: Vec<String> = Vec::new();
    let mut seen: Vec<Value> = Vec::new();
    let mut url = format!("/api/v1/resources?limit=7&sort={sort}");
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 30, "sort={sort}: the walk does not end");
        let res = app.get(&url).await;
        let link = link_of(&res);
        let page = body_of(res, 200).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 7, "{page}");
        seen.extend(items.iter().cloned());
        let Some(cursor) = page["next_cursor"].as_str() else {
            assert!(
                link.is_none(),
                "sort={sort}: no Link on the last page: {link:?}"
            );
            break;
        };
        assert_eq!(items.len(), 7, "sort={sort}: a full page before the last");
        let link = link.expect("a Link header when there is a next page");
        assert!(link.ends_with("; rel=\"next\""), "{link}");
        let next = link
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .map(|(u, _)| u.to_string())
            .expect("<url>");
        assert!(next.starts_with("/api/v1/resources?"), "{link}");
        let query: HashMap<String, String> =
            url::form_urlencoded::parse(next.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(
            query.get("cursor").map(String::as_str),
            Some(cursor),
            "{link}"
        );
        assert_eq!(query.get("limit").map(String::as_str), Some("7"), "{link}");
        assert_eq!(query.get("sort").map(String::as_str), Some(sort), "{link}");
        // Follow the Link itself.
        url = next;
        // Meanwhile, more is published: one title before every
        // cursor, one after.
        for prefix in ["a", "z"] {
            *inserted += 1;
            let kind = Kind::ALL[*inserted % 3];
            let title = format!("Walk {prefix}{}", letters(*inserted));
            let id = published(app, o, kind, "uni-a", &title, json!({})).await;
            if prefix == "a" {
                early.push(id.clone())
            } else {
                late.push(id.clone())
            }
            existing.push(id);
        }
    }
    let ids: Vec<String> = seen
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let dups: Vec<&&str> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(
        dups.is_empty(),
        "sort={sort}: seen more than once: {dups:?}"
    );
    for id in &before {
        assert_eq!(
            counts.get(id.as_str()),
            Some(&1),
            "sort={sort}: {id} existed before the walk"
        );
    }
    for id in &ids {
        assert!(
            before.contains(id) || early.contains(id) || late.contains(id),
            "sort={sort}: {id} is no public published resource"
        );
        assert!(
            !hidden.contains(id),
            "sort={sort}: a hidden resource was listed"
        );
    }
    match sort {
        "-published_at" => {
            // Everything published during the walk is newer than every cursor.
            for id in early.iter().chain(&late) {
                assert!(
                    !counts.contains_key(id.as_str()),
                    "sort={sort}: {id} is newer than the walk"
                );
            }
            let times: Vec<_> = seen
                .iter()
                .map(|i| {
                    chrono::DateTime::parse_from_rfc3339(i["published_at"].as_str().unwrap())
                        .unwrap()
                })
                .collect();
            assert!(
                times.windows(2).all(|w| w[0] >= w[1]),
                "sort={sort}: newest first"
            );
        }
        _ => {
            for id in &early {
                assert!(
                    !counts.contains_key(id.as_str()),
                    "sort={sort}: {id} sorts before the cursor"
                );
            }
            for id in &late {
                assert_eq!(
                    counts.get(id.as_str()),
                    Some(&1),
                    "sort={sort}: {id} sorts after every cursor"
                );
            }
            let titles: Vec<String> = seen
                .iter()
                .map(|i| i["title"].as_str().unwrap().to_lowercase())
                .collect();
            assert!(
                titles.windows(2).all(|w| w[0] <= w[1]),
                "sort={sort}: {titles:?}"
            );
        }
    }
}

api_test!(
    a_walk_sees_every_resource_once_while_more_are_published,
    |backend| {
        let Walk {
            app,
            owner,
            mut existing,
            hidden,
        } = walk_world(backend).await;
        let mut inserted = 0;
        walk_while_publishing(
            &app,
            &owner.access,
            "-published_at",
            &mut existing,
            &mut inserted,
            &hidden,
        )
        .await;
    }
);

api_test!(
    a_walk_by_title_sees_every_resource_once_while_more_are_published,
    |backend| {
        let Walk {
            app,
            owner,
            mut existing,
            hidden,
        } = walk_world(backend).await;
        let mut inserted = 0;
        walk_while_publishing(
            &app,
            &owner.access,
            "title",
            &mut existing,
            &mut inserted,
            &hidden,
        )
        .await;
    }
);

api_test!(a_cursor_belongs_to_its_sort_order, |backend| {
    let Walk { app, .. } = walk_world(backend).await;
    // A cursor belongs to its sort order.
    let cursor_of = |page: Value| {
        page["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_string()
    };
    let by_title =
        cursor_of(body_of(app.get("/api/v1/resources?limit=3&sort=title").await, 200).await);
    let newest = cursor_of(body_of(app.get("/api/v1/resources?limit=3").await, 200).await);
    for path in [
        format!("/api/v1/resources?cursor={by_title}"),
        format!("/api/v1/resources?cursor={by_title}&sort=-title"),
        format!("/api/v1/resources?cursor={by_title}&sort=published_at"),
        format!("/api/v1/resources?cursor={newest}&sort=title"),
        format!("/api/v1/resources?cursor={newest}&sort=published_at"),
        format!("/api/v1/courses?cursor={newest}&sort=-title"),
    ] {
        invalid(app.get(&path).await, &["cursor"]).await;
    }
    body_of(
        app.get(&format!("/api/v1/resources?cursor={by_title}&sort=title"))
            .await,
        200,
    )
    .await;
    body_of(
        app.get(&format!(
            "/api/v1/resources?cursor={newest}&sort=-published_at"
        ))
        .await,
        200,
    )
    .await;
});
