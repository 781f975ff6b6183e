//! Dataset access and data sovereignty, over HTTP: file links by access
//! level and caller, the transfer policies (when a request is made, when it
//! is approved, each time a link is issued), the request state machine and
//! who may move it, BOLA on requests, validation, the periodic sweep on a
//! controllable clock (grant expiry, stale requests, reminders), the emails
//! over SMTP and the public transparency report.

use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::access::{
    Ds, INST, OTHER_ID, PROBLEM, PURPOSE, Sovereignty, World, act, answer, approve, ask, asking,
    audited, code_and_type, count_of, dataset, follow, id_of, in_days, institution, link, mine,
    note, notification_kinds, on_behalf, outcome, person, redirected, request_path, requested,
    requests_path, set_country, show, sovereignty, status, sweep, swept, world,
};
use crate::helpers::accounts::unverified;
use crate::helpers::http::{body_of, call, invalid, strings, typed, walk};
use crate::helpers::institutions::{create, join, verify};
use crate::helpers::smtp::{Received, SmtpSink};
use crate::helpers::transparency::{
    REPORT, figures, into_last_month, last_month, month, month_in, pair, report, report_at,
    report_path,
};
use crate::helpers::{Account, Backend, PASSWORD, TestApp, problem, spawn_app_with};

// ----- file links: access level × caller --------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    /// Signed in, address not verified.
    Unverified,
    /// Verified, in no institution, no grant (NG).
    Outsider,
    /// Verified, holds a grant for the restricted dataset (TZ).
    Grantee,
    /// A plain member of the owning institution.
    Member,
    /// A platform admin in no institution.
    Admin,
}

/// `world` with an open, a registered and a restricted dataset, and every
/// caller of the file link table: an unverified account, a verified
/// outsider (NG) and a grantee (TZ) of the restricted dataset.
struct Links {
    w: World,
    open: Ds,
    registered: Ds,
    restricted: Ds,
    unverified_token: String,
    outsider: Account,
    grantee: Account,
    /// The grantee's approved request.
    grant: String,
}

async fn links_world(backend: Backend) -> Links {
    let w = world(backend).await;
    let app = &w.app;
    let open = w
        .dataset("Open corpus", json!({"access_level": "open"}))
        .await;
    let registered = w
        .dataset("Registered corpus", json!({"access_level": "registered"}))
        .await;
    let restricted = w.dataset("Restricted corpus", json!({})).await;
    let unverified_token = unverified(app, "unverified@example.org").await;
    let outsider = person(app, "outsider@example.org", Some("NG")).await;
    let grantee = person(app, "grantee@example.org", Some("TZ")).await;
    let grant = id_of(&requested(app, &grantee, &restricted.id).await);
    approve(app, &w.owner.access, &grant).await;
    Links {
        w,
        open,
        registered,
        restricted,
        unverified_token,
        outsider,
        grantee,
        grant,
    }
}

impl Links {
    fn token(&self, who: Caller) -> Option<&str> {
        match who {
            Caller::Anonymous => None,
            Caller::Unverified => Some(self.unverified_token.as_str()),
            Caller::Outsider => Some(self.outsider.access.as_str()),
            Caller::Grantee => Some(self.grantee.access.as_str()),
            Caller::Member => Some(self.w.member.access.as_str()),
            Caller::Admin => Some(self.w.root.access.as_str()),
        }
    }
}

/// One row of the file link table: who asks for a link to a file of which
/// dataset, and `"200"` or `"<status> <problem type>"`.
struct LinkCase<'a> {
    name: &'a str,
    ds: &'a Ds,
    who: Caller,
    expect: &'a str,
}

/// Every case of the file link table, in order.
fn link_cases(l: &Links) -> Vec<LinkCase<'_>> {
    let Links {
        open,
        registered,
        restricted,
        ..
    } = l;
    use Caller::{Admin, Anonymous, Grantee, Member, Outsider, Unverified};
    let ok = "200";
    let grant_required = "403 access-grant-required";
    vec![
        LinkCase {
            name: "open: anyone, even anonymous",
            ds: open,
            who: Anonymous,
            expect: ok,
        },
        LinkCase {
            name: "open: an unverified account",
            ds: open,
            who: Unverified,
            expect: ok,
        },
        LinkCase {
            name: "open: a verified outsider",
            ds: open,
            who: Outsider,
            expect: ok,
        },
        LinkCase {
            name: "open: a grantee of another dataset",
            ds: open,
            who: Grantee,
            expect: ok,
        },
        LinkCase {
            name: "open: a member of the owner",
            ds: open,
            who: Member,
            expect: ok,
        },
        LinkCase {
            name: "open: an admin",
            ds: open,
            who: Admin,
            expect: ok,
        },
        LinkCase {
            name: "registered: anonymous needs an account",
            ds: registered,
            who: Anonymous,
            expect: "403 download-needs-account",
        },
        LinkCase {
            name: "registered: the account must be verified",
            ds: registered,
            who: Unverified,
            expect: "403 email-not-verified",
        },
        LinkCase {
            name: "registered: a verified outsider",
            ds: registered,
            who: Outsider,
            expect: ok,
        },
        LinkCase {
            name: "registered: a grantee",
            ds: registered,
            who: Grantee,
            expect: ok,
        },
        LinkCase {
            name: "registered: a member of the owner",
            ds: registered,
            who: Member,
            expect: ok,
        },
        LinkCase {
            name: "registered: an admin",
            ds: registered,
            who: Admin,
            expect: ok,
        },
        LinkCase {
            name: "restricted: anonymous has no grant",
            ds: restricted,
            who: Anonymous,
            expect: grant_required,
        },
        LinkCase {
            name: "restricted: an unverified account has no grant",
            ds: restricted,
            who: Unverified,
            expect: grant_required,
        },
        LinkCase {
            name: "restricted: a verified outsider has no grant",
            ds: restricted,
            who: Outsider,
            expect: grant_required,
        },
        LinkCase {
            name: "restricted: the grantee",
            ds: restricted,
            who: Grantee,
            expect: ok,
        },
        LinkCase {
            name: "restricted: a member of the owner needs no grant",
            ds: restricted,
            who: Member,
            expect: ok,
        },
        LinkCase {
            name: "restricted: an admin is not exempt",
            ds: restricted,
            who: Admin,
            expect: grant_required,
        },
    ]
}

api_test!(
    file_links_follow_the_access_level_and_the_caller,
    |backend| {
        let l = links_world(backend).await;
        let Links {
            w,
            open,
            restricted,
            grantee,
            grant,
            ..
        } = &l;
        let app = &w.app;
        let token = |who: Caller| l.token(who);
        let cases = link_cases(&l);
        let mut issued = 0;
        for LinkCase {
            name: case,
            ds,
            who,
            expect: expected,
        } in &cases
        {
            let (got, body) = outcome(link(app, token(*who), ds, "").await).await;
            assert_eq!(got, *expected, "{case}: {body}");
            if got == "200" {
                issued += 1;
                // Following the link redirects to the file itself.
                redirected(app, body["url"].as_str().unwrap(), &ds.url).await;
            }
        }

        // Every link issued is audited: who, which file, from where to where.
        let links = audited(app, &w.root, "dataset.file_link_issued").await;
        assert_eq!(links.len(), issued, "one event per link");
        for e in &links {
            assert_eq!(e["subject_type"], "dataset_file", "{e}");
            assert_eq!(e["detail"]["from_country"], "KE", "{e}");
        }
        let of = |who: Option<&str>, file: &str| -> Vec<Value> {
            links
                .iter()
                .filter(|e| e["actor_id"].as_str() == who && e["subject_id"] == file)
                .cloned()
                .collect()
        };
        let anon_open = of(None, &open.file);
        assert_eq!(anon_open.len(), 1, "{links:?}");
        assert_eq!(anon_open[0]["detail"]["to_country"], Value::Null);
        let by_grantee = of(Some(&grantee.id), &restricted.file);
        assert_eq!(by_grantee.len(), 1, "{links:?}");
        assert_eq!(by_grantee[0]["detail"]["to_country"], "TZ");
        assert_eq!(by_grantee[0]["detail"]["access_request_id"], grant.as_str());
        assert_eq!(
            by_grantee[0]["detail"]["dataset_id"],
            restricted.id.as_str()
        );
        let by_member = of(Some(&w.member.id), &restricted.file);
        assert_eq!(by_member.len(), 1, "{links:?}");
        assert_eq!(
            by_member[0]["detail"]["to_country"], "KE",
            "insiders count as the owner"
        );
    }
);

api_test!(
    a_dataset_the_caller_cannot_see_has_no_file_links,
    |backend| {
        let l = links_world(backend).await;
        let Links { w, .. } = &l;
        let app = &w.app;
        let token = |who: Caller| l.token(who);
        use Caller::{Admin, Anonymous, Grantee, Member, Outsider, Unverified};
        let grant_required = "403 access-grant-required";
        // A dataset the caller cannot see: 404, whatever its files.
        let hidden = w
            .dataset("Hidden corpus", json!({"visibility": "institution"}))
            .await;
        for who in [Anonymous, Unverified, Outsider, Grantee] {
            let (got, _) = outcome(link(app, token(who), &hidden, "").await).await;
            assert_eq!(got, "404", "{who:?} on an institution-only dataset");
        }
        let (got, _) = outcome(link(app, token(Member), &hidden, "").await).await;
        assert_eq!(got, "200");
        let (got, _) = outcome(link(app, token(Admin), &hidden, "").await).await;
        assert_eq!(got, grant_required, "admins see it, and still need a grant");
    }
);

api_test!(unknown_files_and_datasets_have_no_file_links, |backend| {
    let l = links_world(backend).await;
    let Links {
        w,
        open,
        registered,
        ..
    } = &l;
    let app = &w.app;
    // Unknown files and datasets: 404.
    let unknown_file = Ds {
        file: OTHER_ID.into(),
        ..open.clone()
    };
    let (got, _) = outcome(link(app, None, &unknown_file, "").await).await;
    assert_eq!(got, "404", "an unknown file");
    let foreign_file = Ds {
        file: registered.file.clone(),
        ..open.clone()
    };
    let (got, _) = outcome(link(app, Some(&w.member.access), &foreign_file, "").await).await;
    assert_eq!(got, "404", "another dataset's file");
    let unknown_dataset = Ds {
        id: OTHER_ID.into(),
        ..open.clone()
    };
    let (got, _) = outcome(link(app, None, &unknown_dataset, "").await).await;
    assert_eq!(got, "404", "an unknown dataset");
    let not_an_id = Ds {
        id: "not-a-uuid".into(),
        ..open.clone()
    };
    let (got, _) = outcome(link(app, None, &not_an_id, "").await).await;
    assert_eq!(got, "404");
});

api_test!(unknown_and_expired_link_tokens_are_refused, |backend| {
    let l = links_world(backend).await;
    let Links { w, open, .. } = &l;
    let app = &w.app;
    // Unknown tokens: 404.
    for token in ["kjf_unknown", "nothing-like-a-token"] {
        let res = follow(app, &format!("/api/v1/file-links/{token}")).await;
        problem(res, 404).await;
    }

    // An expired link: 410 link-expired.
    let (_, body) = outcome(link(app, None, open, "").await).await;
    let url = body["url"].as_str().unwrap().to_string();
    redirected(app, &url, &open.url).await;
    let token = url.rsplit('/').next().unwrap().to_string();
    let hash = kujenga::auth::token_hash(&token);
    {
        use diesel::prelude::*;
        use kujenga::db::schema::file_links as fl;
        let n = app
            .db
            .run(move |conn| {
                diesel::update(fl::table.filter(fl::token_hash.eq(hash)))
                    .set(fl::expires_at.eq(kujenga::db::now() - chrono::Duration::minutes(1)))
                    .execute(conn)
            })
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    typed(follow(app, &url).await, 410, "link-expired").await;
});

// ----- transfer policies ----------------------------------------------------------

/// `"201"` or `"<status> <problem type>"`; a transfer refusal's detail
/// names the policy.
async fn request_outcome(res: reqwest::Response, policy: &str) -> String {
    let code = res.status().as_u16();
    if code == 201 {
        let r: Value = res.json().await.unwrap();
        assert_eq!(r["status"], "pending", "{r}");
        return "201".into();
    }
    let body = problem(res, code).await;
    let kind = body["type"].as_str().unwrap().trim_start_matches(PROBLEM);
    if kind == "transfer-not-allowed" {
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("Transfer policy `{policy}`:")),
            "{body}"
        );
    }
    if kind == "validation-error" {
        let fields = strings(&body["errors"], "field");
        return format!("{code} {kind} {}", fields.join(","));
    }
    format!("{code} {kind}")
}

/// A dataset of each transfer policy, owned by `ke-lab` (KE).
struct Policies {
    unrestricted: Ds,
    in_country: Ds,
    /// Allowed to NG.
    allowed: Ds,
    partners: Ds,
}

async fn policy_datasets(w: &World) -> Policies {
    let unrestricted = w.dataset("Free corpus", json!({})).await;
    let in_country = w
        .dataset("Local corpus", json!({"transfer_policy": "in_country"}))
        .await;
    let allowed = w
        .dataset(
            "Listed corpus",
            json!({"transfer_policy": "allowed_countries", "allowed_countries": ["NG"]}),
        )
        .await;
    let partners = w
        .dataset(
            "Partner corpus",
            json!({"transfer_policy": "partners_only"}),
        )
        .await;
    Policies {
        unrestricted,
        in_country,
        allowed,
        partners,
    }
}

/// One request of the transfer policy table: who asks for which dataset
/// (of which policy) with which body, and `"201"` or `"<status> <problem
/// type>"`.
struct RequestCase<'a> {
    name: &'a str,
    ds: &'a Ds,
    policy: &'a str,
    who: &'a Account,
    body: Value,
    expect: &'a str,
}

/// Every request of the transfer policy table, in order.
fn request_cases<'a>(s: &'a Sovereignty, d: &'a Policies) -> Vec<RequestCase<'a>> {
    let Policies {
        unrestricted,
        in_country,
        allowed,
        partners,
    } = d;
    let refused = "403 transfer-not-allowed";
    let created = "201";
    let alone = asking(90);
    vec![
        RequestCase {
            name: "unrestricted: a user without a country",
            ds: unrestricted,
            policy: "unrestricted",
            who: &s.nobody,
            body: alone.clone(),
            expect: created,
        },
        RequestCase {
            name: "unrestricted: a user anywhere",
            ds: unrestricted,
            policy: "unrestricted",
            who: &s.gh,
            body: alone.clone(),
            expect: created,
        },
        RequestCase {
            name: "in_country: a user in the origin country",
            ds: in_country,
            policy: "in_country",
            who: &s.ke,
            body: alone.clone(),
            expect: created,
        },
        RequestCase {
            name: "in_country: a user elsewhere",
            ds: in_country,
            policy: "in_country",
            who: &s.tz,
            body: alone.clone(),
            expect: refused,
        },
        RequestCase {
            name: "in_country: on behalf of an institution elsewhere",
            ds: in_country,
            policy: "in_country",
            who: &s.tz,
            body: on_behalf("ng-lab"),
            expect: refused,
        },
        RequestCase {
            name: "in_country: no country",
            ds: in_country,
            policy: "in_country",
            who: &s.nobody,
            body: alone.clone(),
            expect: refused,
        },
        RequestCase {
            name: "allowed_countries: a user in an unlisted country",
            ds: allowed,
            policy: "allowed_countries",
            who: &s.tz,
            body: alone.clone(),
            expect: refused,
        },
        RequestCase {
            name: "allowed_countries: on behalf of an institution not one's own",
            ds: allowed,
            policy: "allowed_countries",
            who: &s.tz,
            body: on_behalf("gh-lab"),
            expect: "400 validation-error institution",
        },
        RequestCase {
            name: "allowed_countries: on behalf of an unknown institution",
            ds: allowed,
            policy: "allowed_countries",
            who: &s.tz,
            body: on_behalf("no-such-lab"),
            expect: "400 validation-error institution",
        },
        RequestCase {
            name: "allowed_countries: the institution's (listed) country counts",
            ds: allowed,
            policy: "allowed_countries",
            who: &s.tz,
            body: on_behalf("ng-lab"),
            expect: created,
        },
        RequestCase {
            name: "allowed_countries: the origin country is never a transfer",
            ds: allowed,
            policy: "allowed_countries",
            who: &s.ke,
            body: alone.clone(),
            expect: created,
        },
        RequestCase {
            name: "allowed_countries: another unlisted country",
            ds: allowed,
            policy: "allowed_countries",
            who: &s.gh,
            body: alone.clone(),
            expect: refused,
        },
        RequestCase {
            name: "allowed_countries: the institution's (unlisted) country counts",
            ds: allowed,
            policy: "allowed_countries",
            who: &s.gh,
            body: on_behalf("gh-lab"),
            expect: refused,
        },
        RequestCase {
            name: "allowed_countries: no country",
            ds: allowed,
            policy: "allowed_countries",
            who: &s.nobody,
            body: alone.clone(),
            expect: refused,
        },
        RequestCase {
            name: "allowed_countries: an institution speaks for a user without a country",
            ds: allowed,
            policy: "allowed_countries",
            who: &s.nobody,
            body: on_behalf("ng-lab"),
            expect: created,
        },
        RequestCase {
            name: "partners_only: a user alone is no partner",
            ds: partners,
            policy: "partners_only",
            who: &s.ke,
            body: alone.clone(),
            expect: refused,
        },
        RequestCase {
            name: "partners_only: a member of a partner, alone",
            ds: partners,
            policy: "partners_only",
            who: &s.tz,
            body: alone.clone(),
            expect: refused,
        },
        RequestCase {
            name: "partners_only: an institution in no partnership",
            ds: partners,
            policy: "partners_only",
            who: &s.gh,
            body: on_behalf("gh-lab"),
            expect: refused,
        },
        RequestCase {
            name: "partners_only: no country",
            ds: partners,
            policy: "partners_only",
            who: &s.nobody,
            body: alone.clone(),
            expect: refused,
        },
        RequestCase {
            name: "partners_only: on behalf of the active partner",
            ds: partners,
            policy: "partners_only",
            who: &s.tz,
            body: on_behalf("ng-lab"),
            expect: created,
        },
        RequestCase {
            name: "partners_only: on behalf of the active partner, without a country",
            ds: partners,
            policy: "partners_only",
            who: &s.nobody,
            body: on_behalf("ng-lab"),
            expect: created,
        },
    ]
}

api_test!(transfer_policies_decide_who_may_request_access, |backend| {
    let s = sovereignty(backend).await;
    let (w, app) = (&s.w, &s.w.app);
    let pd = policy_datasets(w).await;
    let Policies {
        in_country,
        partners,
        ..
    } = &pd;
    // The origin country defaults to the owner's.
    let d = body_of(
        app.get_auth(&format!("/api/v1/datasets/{}", in_country.id), &s.ke.access)
            .await,
        200,
    )
    .await;
    assert_eq!(d["origin_country"], "KE", "{d}");

    let created = "201";
    let cases = request_cases(&s, &pd);
    let mut expected_created = 0;
    for RequestCase {
        name: case,
        ds,
        policy,
        who,
        body,
        expect: expected,
    } in &cases
    {
        let got = request_outcome(
            ask(app, Some(&who.access), &ds.id, body.clone()).await,
            policy,
        )
        .await;
        assert_eq!(got, *expected, "{case}");
        if got == created {
            expected_created += 1;
        }
    }
    let made = audited(app, &w.root, "access_request.created").await;
    assert_eq!(made.len(), expected_created, "refusals write nothing");
    // The request names the institution and the country that counted.
    let tz_partner = made
        .iter()
        .find(|e| {
            e["actor_id"] == s.tz.id.as_str() && e["detail"]["dataset_id"] == partners.id.as_str()
        })
        .expect("tz's partner request");
    assert_eq!(tz_partner["detail"]["institution"], "ng-lab");
    assert_eq!(tz_partner["detail"]["from_country"], "KE");
    assert_eq!(tz_partner["detail"]["to_country"], "NG");
    let tz_mine = mine(app, &s.tz.access, "").await;
    assert_eq!(tz_mine.len(), 2, "{tz_mine:?}");
    let r = show(app, &s.tz.access, &tz_mine[0]).await;
    assert_eq!(r["institution"], "ng-lab", "{r}");
});

api_test!(transfer_policies_are_checked_again_at_approval, |backend| {
    let s = sovereignty(backend).await;
    let (w, app) = (&s.w, &s.w.app);
    let pd = policy_datasets(w).await;
    let Policies {
        in_country,
        partners,
        ..
    } = &pd;
    // The requests of the table above, each as it was answered there.
    for c in request_cases(&s, &pd) {
        ask(app, Some(&c.who.access), &c.ds.id, c.body).await;
    }
    let made = audited(app, &w.root, "access_request.created").await;
    let refused = "403 transfer-not-allowed";

    // At approval the policy is checked again, with the facts as they are now.
    // A requester who moved abroad:
    let ke_local = mine(app, &s.ke.access, "").await;
    let ke_local = ke_local
        .iter()
        .find(|id| {
            made.iter().any(|e| {
                e["subject_id"] == id.as_str()
                    && e["detail"]["dataset_id"] == in_country.id.as_str()
            })
        })
        .unwrap()
        .clone();
    set_country(app, &s.ke, Some("TZ")).await;
    let body = typed(
        act(
            app,
            Some(&w.owner.access),
            &ke_local,
            "approve",
            Some(note("Welcome.")),
        )
        .await,
        403,
        "transfer-not-allowed",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Transfer policy `in_country`:"),
        "{body}"
    );
    assert_eq!(status(app, &w.owner.access, &ke_local).await, "pending");
    set_country(app, &s.ke, Some("KE")).await;
    approve(app, &w.owner.access, &ke_local).await;

    // A partner that left the partnership.
    let partner_requests: Vec<String> = made
        .iter()
        .filter(|e| e["detail"]["dataset_id"] == partners.id.as_str())
        .map(|e| e["subject_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(partner_requests.len(), 2);
    approve(app, &w.owner.access, &partner_requests[0]).await;
    s.end_partnership().await;
    typed(
        act(
            app,
            Some(&w.owner.access),
            &partner_requests[1],
            "approve",
            Some(note("Welcome.")),
        )
        .await,
        403,
        "transfer-not-allowed",
    )
    .await;
    assert_eq!(
        status(app, &w.owner.access, &partner_requests[1]).await,
        "pending",
        "a refused approval changes nothing"
    );
    // Rejecting is always possible.
    body_of(
        act(
            app,
            Some(&w.owner.access),
            &partner_requests[1],
            "reject",
            Some(note("No longer partners.")),
        )
        .await,
        200,
    )
    .await;
    // A new request from the former partner is refused at once.
    let got = request_outcome(
        ask(
            app,
            Some(&s.nobody.access),
            &partners.id,
            on_behalf("ng-lab"),
        )
        .await,
        "partners_only",
    )
    .await;
    assert_eq!(got, refused);
    assert_eq!(
        audited(app, &w.root, "access_request.approved").await.len(),
        2
    );
});

/// An open dataset of each transfer policy, owned by `ke-lab` (KE), and a
/// restricted partners-only one granted to `tz` on behalf of `ng-lab`.
struct OpenPolicies {
    free: Ds,
    local: Ds,
    /// Allowed to NG.
    listed: Ds,
    partners: Ds,
    granted: Ds,
}

async fn open_policy_datasets(s: &Sovereignty) -> OpenPolicies {
    let (w, app) = (&s.w, &s.w.app);
    let free = w
        .dataset("Free open corpus", json!({"access_level": "open"}))
        .await;
    let local = w
        .dataset(
            "Local open corpus",
            json!({"access_level": "open", "transfer_policy": "in_country"}),
        )
        .await;
    let listed = w
        .dataset(
            "Listed open corpus",
            json!({"access_level": "open", "transfer_policy": "allowed_countries",
                   "allowed_countries": ["NG"]}),
        )
        .await;
    let partners = w
        .dataset(
            "Partner open corpus",
            json!({"access_level": "open", "transfer_policy": "partners_only"}),
        )
        .await;
    // A restricted partners-only dataset, granted to tz on behalf of ng-lab.
    let granted = w
        .dataset(
            "Partner restricted corpus",
            json!({"transfer_policy": "partners_only"}),
        )
        .await;
    let grant = id_of(
        &body_of(
            ask(app, Some(&s.tz.access), &granted.id, on_behalf("ng-lab")).await,
            201,
        )
        .await,
    );
    approve(app, &w.owner.access, &grant).await;
    OpenPolicies {
        free,
        local,
        listed,
        partners,
        granted,
    }
}

const REFUSED: &str = "403 transfer-not-allowed";
const NOT_THEIRS: &str = "400 validation-error";

/// One file link of the transfer policy table: who (if anyone) asks for a
/// link to a file of which dataset, with which query, and `"200"` or
/// `"<status> <problem type>"`.
struct LinkPolicyCase<'a> {
    name: &'a str,
    ds: &'a Ds,
    who: Option<&'a Account>,
    query: &'a str,
    expect: &'a str,
}

/// Every case of the file link transfer table, in order.
fn link_policy_cases<'a>(s: &'a Sovereignty, d: &'a OpenPolicies) -> Vec<LinkPolicyCase<'a>> {
    let w = &s.w;
    let OpenPolicies {
        free,
        local,
        listed,
        partners,
        granted,
    } = d;
    let ok = "200";
    let (refused, not_theirs) = (REFUSED, NOT_THEIRS);
    let anon: Option<&Account> = None;
    vec![
        LinkPolicyCase {
            name: "unrestricted: anonymous",
            ds: free,
            who: anon,
            query: "",
            expect: ok,
        },
        LinkPolicyCase {
            name: "unrestricted: no country",
            ds: free,
            who: Some(&s.nobody),
            query: "",
            expect: ok,
        },
        LinkPolicyCase {
            name: "in_country: the origin country",
            ds: local,
            who: Some(&s.ke),
            query: "",
            expect: ok,
        },
        LinkPolicyCase {
            name: "in_country: elsewhere",
            ds: local,
            who: Some(&s.tz),
            query: "",
            expect: refused,
        },
        LinkPolicyCase {
            name: "in_country: anonymous has no country",
            ds: local,
            who: anon,
            query: "",
            expect: refused,
        },
        LinkPolicyCase {
            name: "in_country: the owner's members, without a country",
            ds: local,
            who: Some(&w.owner),
            query: "",
            expect: ok,
        },
        LinkPolicyCase {
            name: "allowed_countries: the origin",
            ds: listed,
            who: Some(&s.ke),
            query: "",
            expect: ok,
        },
        LinkPolicyCase {
            name: "allowed_countries: unlisted",
            ds: listed,
            who: Some(&s.tz),
            query: "",
            expect: refused,
        },
        LinkPolicyCase {
            name: "allowed_countries: ?institution= switches to a listed country",
            ds: listed,
            who: Some(&s.tz),
            query: "?institution=ng-lab",
            expect: ok,
        },
        LinkPolicyCase {
            name: "allowed_countries: ?institution= must be one's own",
            ds: listed,
            who: Some(&s.tz),
            query: "?institution=gh-lab",
            expect: not_theirs,
        },
        LinkPolicyCase {
            name: "allowed_countries: anonymous cannot name an institution",
            ds: listed,
            who: anon,
            query: "?institution=ng-lab",
            expect: not_theirs,
        },
        LinkPolicyCase {
            name: "allowed_countries: anonymous",
            ds: listed,
            who: anon,
            query: "",
            expect: refused,
        },
        LinkPolicyCase {
            name: "allowed_countries: no country",
            ds: listed,
            who: Some(&s.nobody),
            query: "",
            expect: refused,
        },
        LinkPolicyCase {
            name: "allowed_countries: an institution speaks for a user without a country",
            ds: listed,
            who: Some(&s.nobody),
            query: "?institution=ng-lab",
            expect: ok,
        },
        LinkPolicyCase {
            name: "allowed_countries: ?institution= switches to an unlisted country",
            ds: listed,
            who: Some(&s.gh),
            query: "?institution=gh-lab",
            expect: refused,
        },
        LinkPolicyCase {
            name: "partners_only: alone",
            ds: partners,
            who: Some(&s.tz),
            query: "",
            expect: refused,
        },
        LinkPolicyCase {
            name: "partners_only: on behalf of the partner",
            ds: partners,
            who: Some(&s.tz),
            query: "?institution=ng-lab",
            expect: ok,
        },
        LinkPolicyCase {
            name: "partners_only: on behalf of a non-partner",
            ds: partners,
            who: Some(&s.gh),
            query: "?institution=gh-lab",
            expect: refused,
        },
        LinkPolicyCase {
            name: "partners_only: a grant on behalf of the partner counts for it",
            ds: granted,
            who: Some(&s.tz),
            query: "",
            expect: ok,
        },
        LinkPolicyCase {
            name: "partners_only: ... whatever ?institution= says",
            ds: granted,
            who: Some(&s.tz),
            query: "?institution=gh-lab",
            expect: ok,
        },
    ]
}

api_test!(transfer_policies_decide_each_file_link, |backend| {
    let s = sovereignty(backend).await;
    let (w, app) = (&s.w, &s.w.app);
    let od = open_policy_datasets(&s).await;
    let OpenPolicies {
        local,
        listed,
        granted,
        ..
    } = &od;
    let (refused, not_theirs) = (REFUSED, NOT_THEIRS);
    let cases = link_policy_cases(&s, &od);
    for LinkPolicyCase {
        name: case,
        ds,
        who,
        query,
        expect: expected,
    } in &cases
    {
        let (got, body) = outcome(link(app, who.map(|a| a.access.as_str()), ds, query).await).await;
        let got = got.split(' ').take(2).collect::<Vec<_>>().join(" ");
        assert_eq!(got, *expected, "{case}: {body}");
        if got == refused {
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("Transfer policy `"),
                "{case}: {body}"
            );
        }
        if got == not_theirs {
            assert_eq!(
                strings(&body["errors"], "field"),
                vec!["institution"],
                "{case}"
            );
        }
    }
    // The country that counted is audited.
    let links = audited(app, &w.root, "dataset.file_link_issued").await;
    let to = |who: &Account, ds: &Ds| -> Vec<Value> {
        links
            .iter()
            .filter(|e| e["actor_id"] == who.id.as_str() && e["subject_id"] == ds.file.as_str())
            .map(|e| e["detail"]["to_country"].clone())
            .collect()
    };
    assert_eq!(to(&s.tz, listed), vec![json!("NG")]);
    assert_eq!(to(&s.nobody, listed), vec![json!("NG")]);
    assert_eq!(to(&s.ke, listed), vec![json!("KE")]);
    assert_eq!(to(&s.tz, granted), vec![json!("NG"), json!("NG")]);
    assert_eq!(to(&w.owner, local), vec![json!("KE")]);
});

api_test!(each_file_link_checks_the_transfer_policy_again, |backend| {
    let s = sovereignty(backend).await;
    let app = &s.w.app;
    let od = open_policy_datasets(&s).await;
    let OpenPolicies {
        free,
        local,
        partners,
        granted,
        ..
    } = &od;
    let (ok, refused) = ("200", REFUSED);
    // The policy is checked each time: once ng-lab is no partner, the grant
    // no longer lets the data go there.
    s.end_partnership().await;
    let (got, body) = outcome(link(app, Some(&s.tz.access), granted, "").await).await;
    assert_eq!(got, refused, "{body}");
    let (got, _) =
        outcome(link(app, Some(&s.tz.access), partners, "?institution=ng-lab").await).await;
    assert_eq!(got, refused);
    // Moving country changes what a user alone may get.
    set_country(app, &s.tz, Some("KE")).await;
    let (got, _) = outcome(link(app, Some(&s.tz.access), local, "").await).await;
    assert_eq!(got, ok);
    set_country(app, &s.ke, None).await;
    let (got, _) = outcome(link(app, Some(&s.ke.access), local, "").await).await;
    assert_eq!(got, refused, "no country passes only `unrestricted`");
    let (got, _) = outcome(link(app, Some(&s.ke.access), free, "").await).await;
    assert_eq!(got, ok);
});

api_test!(
    a_claim_on_behalf_of_an_institution_ends_with_the_membership,
    |backend| {
        let s = sovereignty(backend).await;
        let (w, app) = (&s.w, &s.w.app);
        let partners = w
            .dataset(
                "Partner corpus",
                json!({"transfer_policy": "partners_only"}),
            )
            .await;
        // Both ask on behalf of ng-lab, the active partner; nobody's is approved.
        let tz_req = id_of(
            &body_of(
                ask(app, Some(&s.tz.access), &partners.id, on_behalf("ng-lab")).await,
                201,
            )
            .await,
        );
        let grant = id_of(
            &body_of(
                ask(
                    app,
                    Some(&s.nobody.access),
                    &partners.id,
                    on_behalf("ng-lab"),
                )
                .await,
                201,
            )
            .await,
        );
        approve(app, &w.owner.access, &grant).await;
        let (got, _) = outcome(link(app, Some(&s.nobody.access), &partners, "").await).await;
        assert_eq!(got, "200");
        // Both leave ng-lab: they no longer speak for it.
        for who in [&s.tz, &s.nobody] {
            let res = call(
                app,
                Method::DELETE,
                &format!("/api/v1/institutions/ng-lab/members/{}", who.id),
                Some(&who.access),
                None,
            )
            .await;
            assert_eq!(res.status(), 204);
        }
        let (got, body) = outcome(link(app, Some(&s.nobody.access), &partners, "").await).await;
        assert_eq!(
            got, "403 no-longer-a-member",
            "a grant on behalf of an institution one left: {body}"
        );
        let (got, body) = answer(
            act(
                app,
                Some(&w.owner.access),
                &tz_req,
                "approve",
                Some(note("Welcome.")),
            )
            .await,
        )
        .await;
        assert_eq!(
            got, "403 no-longer-a-member",
            "approving a request on behalf of an institution the requester left: {body}"
        );
        assert_eq!(status(app, &w.owner.access, &tz_req).await, "pending");
        // Nor can a new request name it.
        let (got, _) =
            answer(ask(app, Some(&s.tz.access), &partners.id, on_behalf("ng-lab")).await).await;
        assert_eq!(got, "400 validation-error", "ng-lab is no longer theirs");
        // Back in ng-lab, the grant's claim holds again.
        join(app, &s.ng_owner.access, "ng-lab", &s.nobody, "member").await;
        let (got, _) = outcome(link(app, Some(&s.nobody.access), &partners, "").await).await;
        assert_eq!(got, "200");
    }
);

// ----- the state machine ------------------------------------------------------------

/// `world` with a restricted dataset and `alice` (TZ), who will ask for it.
struct Requests {
    w: World,
    ds: Ds,
    alice: Account,
}

async fn requests_world(backend: Backend) -> Requests {
    let w = world(backend).await;
    let ds = w.dataset("Twi speech corpus", json!({})).await;
    let alice = person(&w.app, "alice@example.org", Some("TZ")).await;
    Requests { w, ds, alice }
}

impl Requests {
    /// Alice's first request: 30 days, the purpose padded with blanks.
    async fn first_request(&self) -> String {
        let res = ask(
            &self.w.app,
            Some(&self.alice.access),
            &self.ds.id,
            json!({"purpose": format!("  {PURPOSE}  "), "duration_days": 30}),
        )
        .await;
        id_of(&body_of(res, 201).await)
    }

    /// Alice's three requests of the day, each ended its own way: the
    /// first approved by the editor and revoked by the owner, the second
    /// rejected, the third withdrawn.
    async fn alice_history(&self) -> [String; 3] {
        let (app, w, a) = (&self.w.app, &self.w, &self.alice);
        let id1 = self.first_request().await;
        let note_1 = note("Please cite the paper.");
        body_of(
            act(app, Some(&w.editor.access), &id1, "approve", Some(note_1)).await,
            200,
        )
        .await;
        body_of(
            act(app, Some(&w.owner.access), &id1, "revoke", Some(json!({}))).await,
            200,
        )
        .await;
        let id2 = id_of(&requested(app, a, &self.ds.id).await);
        let note_2 = note("Not for this purpose.");
        body_of(
            act(app, Some(&w.owner.access), &id2, "reject", Some(note_2)).await,
            200,
        )
        .await;
        let id3 = id_of(&requested(app, a, &self.ds.id).await);
        body_of(act(app, Some(&a.access), &id3, "withdraw", None).await, 200).await;
        [id1, id2, id3]
    }

    /// Alice's history, her fourth request of the day braked, and Bob's
    /// grant of three days, revoked with a note: the four requests, oldest
    /// first.
    async fn history(&self) -> [String; 4] {
        let (app, w) = (&self.w.app, &self.w);
        let [id1, id2, id3] = self.alice_history().await;
        let res = ask(app, Some(&self.alice.access), &self.ds.id, asking(30)).await;
        assert_eq!(res.status(), 429);
        let bob = person(app, "bob@example.org", Some("TZ")).await;
        let id4 = id_of(&requested(app, &bob, &self.ds.id).await);
        let until = (Utc::now() + chrono::Duration::days(3))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let three_days = json!({"note": "Three days.", "expires_at": until});
        let changed = json!({"note": "The consent terms changed."});
        for (what, body) in [("approve", three_days), ("revoke", changed)] {
            body_of(
                act(app, Some(&w.owner.access), &id4, what, Some(body)).await,
                200,
            )
            .await;
        }
        [id1, id2, id3, id4]
    }
}

/// A time of the API.
fn ts(v: &Value) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
        .unwrap()
        .with_timezone(&Utc)
}

/// How many request transitions (approved, rejected, withdrawn, revoked)
/// the audit log holds: a refused move writes none.
async fn transitions_audited(app: &TestApp, root: &Account) -> usize {
    let mut n = 0;
    for action in ["approved", "rejected", "withdrawn", "revoked"] {
        n += audited(app, root, &format!("access_request.{action}"))
            .await
            .len();
    }
    n
}

api_test!(access_requests_move_through_their_states, |backend| {
    let r = requests_world(backend).await;
    let Requests { w, ds, alice } = &r;
    let app = &w.app;
    let a = alice.access.as_str();
    // A new request: 201, Location, the whole representation.
    let res = ask(
        app,
        Some(a),
        &ds.id,
        json!({"purpose": format!("  {PURPOSE}  "), "duration_days": 30}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let r1 = body_of(res, 201).await;
    let id1 = id_of(&r1);
    assert_eq!(location, request_path(&id1));
    let mut keys: Vec<&str> = r1.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "created_at",
            "dataset_id",
            "dataset_title",
            "decided_at",
            "decision_note",
            "duration_days",
            "expires_at",
            "id",
            "institution",
            "permissions",
            "purpose",
            "requester_id",
            "requester_name",
            "revocation_note",
            "status",
            "updated_at"
        ],
        "{r1}"
    );
    assert_eq!(r1["dataset_id"], ds.id.as_str());
    assert_eq!(r1["dataset_title"], "Twi speech corpus");
    assert_eq!(r1["requester_id"], alice.id.as_str());
    assert_eq!(r1["requester_name"], "Test Person");
    assert_eq!(r1["institution"], Value::Null);
    assert_eq!(r1["purpose"], PURPOSE, "trimmed");
    assert_eq!(r1["duration_days"], 30);
    assert_eq!(r1["status"], "pending");
    assert_eq!(r1["decision_note"], Value::Null);
    assert_eq!(r1["revocation_note"], Value::Null);
    assert_eq!(r1["decided_at"], Value::Null);
    assert_eq!(r1["expires_at"], Value::Null);
    // The read shows what the 201 answered, the requester's flags included.
    let shown = show(app, a, &id1).await;
    assert_eq!(shown["permissions"]["withdraw"], true, "{shown}");
    assert_eq!(shown, r1, "stored as answered");
});

api_test!(only_the_right_people_move_a_pending_request, |backend| {
    let r = requests_world(backend).await;
    let Requests { w, alice, .. } = &r;
    let app = &w.app;
    let (owner, editor, member, root) = (
        w.owner.access.as_str(),
        w.editor.access.as_str(),
        w.member.access.as_str(),
        w.root.access.as_str(),
    );
    let a = alice.access.as_str();
    let id1 = r.first_request().await;
    // Who may not decide: the requester, an admin who is no member, a
    // plain member (who may not even see it).
    for what in ["approve", "reject"] {
        typed(
            act(app, Some(a), &id1, what, Some(note("Mine."))).await,
            403,
            "insufficient-role",
        )
        .await;
        typed(
            act(app, Some(root), &id1, what, Some(note("Admin."))).await,
            403,
            "insufficient-role",
        )
        .await;
        problem(
            act(app, Some(member), &id1, what, Some(note("Member."))).await,
            404,
        )
        .await;
        problem(act(app, None, &id1, what, Some(note("Anyone."))).await, 401).await;
    }
    // Only the requester withdraws; only owners revoke.
    for who in [owner, editor, root] {
        typed(
            act(app, Some(who), &id1, "withdraw", None).await,
            403,
            "insufficient-role",
        )
        .await;
    }
    for who in [a, editor, root] {
        typed(
            act(app, Some(who), &id1, "revoke", Some(json!({}))).await,
            403,
            "insufficient-role",
        )
        .await;
    }
    // An owner may revoke only an approved grant.
    typed(
        act(app, Some(owner), &id1, "revoke", Some(json!({}))).await,
        409,
        "invalid-transition",
    )
    .await;
    assert_eq!(status(app, owner, &id1).await, "pending", "nothing changed");
    // Admins may look.
    assert_eq!(show(app, root, &id1).await["status"], "pending");

    assert_eq!(
        transitions_audited(app, &w.root).await,
        0,
        "refusals write nothing"
    );
});

api_test!(
    an_approved_request_grants_access_until_it_is_revoked,
    |backend| {
        let r = requests_world(backend).await;
        let Requests { w, ds, alice } = &r;
        let app = &w.app;
        let (owner, editor) = (w.owner.access.as_str(), w.editor.access.as_str());
        let a = alice.access.as_str();
        let id1 = r.first_request().await;
        // pending → approved, by an editor, for the asked duration.
        let before = Utc::now();
        let approved = body_of(
            act(
                app,
                Some(editor),
                &id1,
                "approve",
                Some(note("Please cite the paper.")),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(approved["status"], "approved");
        assert_eq!(approved["decision_note"], "Please cite the paper.");
        let decided = ts(&approved["decided_at"]);
        assert!(
            decided >= before - chrono::Duration::seconds(2),
            "{approved}"
        );
        let ends = ts(&approved["expires_at"]);
        let expected = decided + chrono::Duration::days(30);
        assert!(
            (ends - expected).num_seconds().abs() <= 2,
            "now + duration_days: {approved}"
        );
        // A link issued under the grant works while it lasts.
        let (got, body) = outcome(link(app, Some(a), ds, "").await).await;
        assert_eq!(got, "200");
        let under_grant = body["url"].as_str().unwrap().to_string();
        redirected(app, &under_grant, &ds.url).await;
        // Asking again while granted: 409.
        typed(
            ask(app, Some(a), &ds.id, asking(30)).await,
            409,
            "access-already-granted",
        )
        .await;

        // From approved, only revoke (and expiry) are possible.
        for (what, who, body) in [
            ("approve", owner, Some(note("Again."))),
            ("reject", owner, Some(note("Changed my mind."))),
            ("withdraw", a, None),
        ] {
            typed(
                act(app, Some(who), &id1, what, body).await,
                409,
                "invalid-transition",
            )
            .await;
        }
        // approved → revoked, by an owner, with an empty body.
        let revoked = body_of(
            act(app, Some(owner), &id1, "revoke", Some(json!({}))).await,
            200,
        )
        .await;
        assert_eq!(revoked["status"], "revoked");
        assert_eq!(
            revoked["decision_note"], "Please cite the paper.",
            "the approval's note stays"
        );
        assert_eq!(revoked["revocation_note"], Value::Null, "none given");
        // The grant has ended: the link issued under it is gone, no new ones.
        typed(follow(app, &under_grant).await, 410, "access-ended").await;
        let (got, _) = outcome(link(app, Some(a), ds, "").await).await;
        assert_eq!(got, "403 access-grant-required");
        for (what, who, body) in [
            ("approve", owner, Some(note("Again."))),
            ("reject", owner, Some(note("No."))),
            ("withdraw", a, None),
            ("revoke", owner, Some(json!({"note": "Again."}))),
        ] {
            typed(
                act(app, Some(who), &id1, what, body).await,
                409,
                "invalid-transition",
            )
            .await;
        }

        assert_eq!(
            transitions_audited(app, &w.root).await,
            2,
            "an approval and a revocation"
        );
    }
);

api_test!(a_rejected_or_withdrawn_request_stays_so, |backend| {
    let r = requests_world(backend).await;
    let Requests { w, ds, alice } = &r;
    let app = &w.app;
    let owner = w.owner.access.as_str();
    let a = alice.access.as_str();
    // pending → rejected.
    let id2 = id_of(&requested(app, alice, &ds.id).await);
    let rejected = body_of(
        act(
            app,
            Some(owner),
            &id2,
            "reject",
            Some(note("Not for this purpose.")),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["decision_note"], "Not for this purpose.");
    assert!(rejected["decided_at"].is_string());
    assert_eq!(rejected["expires_at"], Value::Null);
    for (what, who, body) in [
        ("approve", owner, Some(note("After all."))),
        ("reject", owner, Some(note("Again."))),
        ("withdraw", a, None),
        ("revoke", owner, Some(json!({}))),
    ] {
        typed(
            act(app, Some(who), &id2, what, body).await,
            409,
            "invalid-transition",
        )
        .await;
    }

    // pending → withdrawn.
    let id3 = id_of(&requested(app, alice, &ds.id).await);
    let withdrawn = body_of(act(app, Some(a), &id3, "withdraw", None).await, 200).await;
    assert_eq!(withdrawn["status"], "withdrawn");
    for (what, who, body) in [
        ("approve", owner, Some(note("Too late."))),
        ("reject", owner, Some(note("Too late."))),
        ("withdraw", a, None),
        ("revoke", owner, Some(json!({}))),
    ] {
        typed(
            act(app, Some(who), &id3, what, body).await,
            409,
            "invalid-transition",
        )
        .await;
    }

    assert_eq!(
        transitions_audited(app, &w.root).await,
        2,
        "a rejection and a withdrawal"
    );
});

api_test!(a_fourth_request_in_a_day_is_braked, |backend| {
    let r = requests_world(backend).await;
    let Requests { w, ds, alice } = &r;
    let app = &w.app;
    let a = alice.access.as_str();
    r.alice_history().await;
    // Alice has asked three times today: a fourth request is braked.
    let res = ask(app, Some(a), &ds.id, asking(30)).await;
    assert!(res.headers().contains_key("retry-after"), "{res:?}");
    problem(res, 429).await;
    assert_eq!(
        audited(app, &w.root, "access_request.created").await.len(),
        3,
        "a braked request is not made"
    );
});

api_test!(
    an_approval_may_set_its_end_and_a_revocation_a_note,
    |backend| {
        let r = requests_world(backend).await;
        let Requests { w, ds, .. } = &r;
        let app = &w.app;
        let owner = w.owner.access.as_str();
        // An approval with its own end; a revocation with a note (Bob's).
        let bob = person(app, "bob@example.org", Some("TZ")).await;
        let id4 = id_of(&requested(app, &bob, &ds.id).await);
        let until = (Utc::now() + chrono::Duration::days(3))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        // Bad approvals first: they change nothing.
        let past = (Utc::now() - chrono::Duration::hours(1))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let far = (Utc::now() + chrono::Duration::days(3660 + 30))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let bad: Vec<(&str, Value, Vec<&str>)> = vec![
            ("a blank note", json!({"note": "   "}), vec!["note"]),
            ("an empty note", json!({"note": ""}), vec!["note"]),
            (
                "a note too long",
                json!({"note": "x".repeat(2001)}),
                vec!["note"],
            ),
            ("no note", json!({}), vec!["note"]),
            (
                "an end in the past",
                json!({"note": "ok", "expires_at": past}),
                vec!["expires_at"],
            ),
            (
                "an end beyond ten years",
                json!({"note": "ok", "expires_at": far}),
                vec!["expires_at"],
            ),
            (
                "an unknown field",
                json!({"note": "ok", "colour": "red"}),
                vec!["colour"],
            ),
        ];
        for (case, body, fields) in bad {
            let res = act(app, Some(owner), &id4, "approve", Some(body)).await;
            let p = problem(res, 400).await;
            let mut got = strings(&p["errors"], "field");
            got.sort();
            assert_eq!(got, fields, "{case}: {p}");
        }
        invalid(
            act(app, Some(owner), &id4, "reject", Some(json!({"note": " "}))).await,
            &["note"],
        )
        .await;
        invalid(
            act(
                app,
                Some(owner),
                &id4,
                "revoke",
                Some(json!({"note": "x".repeat(2001)})),
            )
            .await,
            &["note"],
        )
        .await;
        assert_eq!(status(app, owner, &id4).await, "pending");
        let approved = body_of(
            act(
                app,
                Some(owner),
                &id4,
                "approve",
                Some(json!({"note": "Three days.", "expires_at": until})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(ts(&approved["expires_at"]), ts(&json!(until)), "{approved}");
        let revoked = body_of(
            act(
                app,
                Some(owner),
                &id4,
                "revoke",
                Some(json!({"note": "The consent terms changed."})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(revoked["status"], "revoked");
        assert_eq!(
            revoked["decision_note"], "Three days.",
            "the approval's note is kept"
        );
        assert_eq!(revoked["revocation_note"], "The consent terms changed.");
        // Stored as answered (to the owner: bob's permissions differ).
        let strip = |mut v: Value| {
            v.as_object_mut().unwrap().remove("permissions");
            v
        };
        assert_eq!(
            strip(show(app, &bob.access, &id4).await),
            strip(revoked),
            "stored as answered"
        );

        assert_eq!(
            transitions_audited(app, &w.root).await,
            2,
            "an approval and a revocation"
        );
    }
);

api_test!(deciders_list_the_requests_of_a_dataset, |backend| {
    let r = requests_world(backend).await;
    let Requests { w, ds, alice } = &r;
    let app = &w.app;
    let (owner, editor, member, root) = (
        w.owner.access.as_str(),
        w.editor.access.as_str(),
        w.member.access.as_str(),
        w.root.access.as_str(),
    );
    let a = alice.access.as_str();
    let [id1, id2, id3, id4] = r.history().await;
    // The dataset's list: deciders and admins; filters; pages.
    let list = requests_path(&ds.id);
    for who in [owner, editor, root] {
        let ids = walk(app, Some(who), &list, "id").await;
        assert_eq!(
            ids,
            vec![id4.clone(), id3.clone(), id2.clone(), id1.clone()],
            "newest first"
        );
    }
    for (filter, expected) in [
        ("revoked", vec![id4.clone(), id1.clone()]),
        ("rejected", vec![id2.clone()]),
        ("withdrawn", vec![id3.clone()]),
        ("pending", vec![]),
        ("approved", vec![]),
    ] {
        let page = body_of(
            app.get_auth(&format!("{list}?status={filter}"), owner)
                .await,
            200,
        )
        .await;
        assert_eq!(strings(&page["items"], "id"), expected, "{filter}");
    }
    problem(
        app.get_auth(&format!("{list}?status=bogus"), owner).await,
        400,
    )
    .await;
    for who in [member, a] {
        typed(app.get_auth(&list, who).await, 403, "insufficient-role").await;
    }
    problem(app.get(&list).await, 401).await;
    problem(app.get_auth(&requests_path(OTHER_ID), owner).await, 404).await;
});

api_test!(every_request_change_is_audited, |backend| {
    let r = requests_world(backend).await;
    let Requests { w, alice, .. } = &r;
    let app = &w.app;
    let [id1, id2, ..] = r.history().await;
    // Every change is audited, by whom, from which status to which.
    let count = |action: &'static str| {
        let root = w.root.clone();
        async move { audited(app, &root, action).await }
    };
    assert_eq!(count("access_request.created").await.len(), 4);
    let approvals = count("access_request.approved").await;
    assert_eq!(approvals.len(), 2);
    assert!(
        approvals
            .iter()
            .any(|e| e["actor_id"] == w.editor.id.as_str()
                && e["subject_id"] == id1.as_str()
                && e["subject_type"] == "access_request"
                && e["detail"]["from"] == "pending"
                && e["detail"]["to"] == "approved")
    );
    let revocations = count("access_request.revoked").await;
    assert_eq!(revocations.len(), 2);
    assert!(
        revocations
            .iter()
            .all(|e| e["actor_id"] == w.owner.id.as_str() && e["detail"]["from"] == "approved")
    );
    let rejections = count("access_request.rejected").await;
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0]["subject_id"], id2.as_str());
    let withdrawals = count("access_request.withdrawn").await;
    assert_eq!(withdrawals.len(), 1);
    assert_eq!(withdrawals[0]["actor_id"], alice.id.as_str());
});

api_test!(an_invalid_transition_says_what_it_refused, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w.dataset("Worded corpus", json!({})).await;
    let alice = person(app, "alice@example.org", Some("TZ")).await;
    let id = id_of(&requested(app, &alice, &ds.id).await);
    approve(app, &w.owner.access, &id).await;
    for (what, body, verb) in [
        ("approve", Some(note("Again.")), "approved"),
        ("reject", Some(note("No.")), "rejected"),
        ("withdraw", None, "withdrawn"),
    ] {
        let token = if what == "withdraw" {
            alice.access.as_str()
        } else {
            w.owner.access.as_str()
        };
        let p = typed(
            act(app, Some(token), &id, what, body).await,
            409,
            "invalid-transition",
        )
        .await;
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("cannot be {verb}")),
            "`{what}` on an approved request: {detail}"
        );
    }
});

// ----- BOLA -------------------------------------------------------------------------

api_test!(requests_are_seen_only_by_their_parties, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w.dataset("Private corpus", json!({})).await;
    let other = w.dataset("Other corpus", json!({})).await;
    let alice = person(app, "alice@example.org", Some("KE")).await;
    let bob = person(app, "bob@example.org", Some("KE")).await;
    let alices = id_of(&requested(app, &alice, &ds.id).await);
    let alices_other = id_of(&requested(app, &alice, &other.id).await);
    let bobs = id_of(&requested(app, &bob, &ds.id).await);

    let actions: Vec<(&str, Option<Value>)> = vec![
        ("approve", Some(note("Sneaky."))),
        ("reject", Some(note("Sneaky."))),
        ("withdraw", None),
        ("revoke", Some(json!({}))),
    ];
    // Another requester and a plain member of the owner: 404 everywhere,
    // exactly as for a request that does not exist.
    for (who, token) in [("bob", &bob.access), ("a plain member", &w.member.access)] {
        for id in [&alices, &alices_other] {
            let mut p = problem(app.get_auth(&request_path(id), token).await, 404).await;
            let mut missing =
                problem(app.get_auth(&request_path(OTHER_ID), token).await, 404).await;
            p.as_object_mut().unwrap().remove("request_id");
            missing.as_object_mut().unwrap().remove("request_id");
            assert_eq!(
                p, missing,
                "{who}: indistinguishable from a missing request"
            );
            for (what, body) in &actions {
                problem(act(app, Some(token), id, what, body.clone()).await, 404).await;
            }
        }
    }
    // Unknown and malformed ids: 404.
    for id in [OTHER_ID, "not-a-uuid"] {
        problem(app.get_auth(&request_path(id), &w.owner.access).await, 404).await;
        problem(
            act(app, Some(&w.owner.access), id, "approve", Some(note("x"))).await,
            404,
        )
        .await;
    }
    problem(app.get(&request_path(&alices)).await, 401).await;
    // Nothing changed.
    for id in [&alices, &alices_other] {
        assert_eq!(status(app, &alice.access, id).await, "pending");
    }
    // Once approved, still nobody else's business.
    approve(app, &w.owner.access, &alices).await;
    problem(app.get_auth(&request_path(&alices), &bob.access).await, 404).await;
    problem(
        act(app, Some(&bob.access), &alices, "revoke", Some(json!({}))).await,
        404,
    )
    .await;
    // The parties see it: requester, deciders, admins.
    for token in [
        &alice.access,
        &w.owner.access,
        &w.editor.access,
        &w.root.access,
    ] {
        assert_eq!(show(app, token, &alices).await["status"], "approved");
    }
    // ETag and 304 on the single request.
    let res = app.get_auth(&request_path(&alices), &alice.access).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = crate::helpers::http::send(
        app,
        Method::GET,
        &request_path(&alices),
        Some(&alice.access),
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(res.status(), 304);

    // Your own requests, and only those; filtered; paginated.
    assert_eq!(
        walk(app, Some(&alice.access), "/api/v1/me/access-requests", "id").await,
        vec![alices_other.clone(), alices.clone()]
    );
    assert_eq!(mine(app, &bob.access, "").await, vec![bobs.clone()]);
    assert!(mine(app, &w.owner.access, "").await.is_empty());
    assert!(mine(app, &w.root.access, "").await.is_empty());
    assert_eq!(
        mine(app, &alice.access, "&status=approved").await,
        vec![alices.clone()]
    );
    assert_eq!(
        mine(app, &alice.access, "&status=pending").await,
        vec![alices_other.clone()]
    );
    assert!(mine(app, &bob.access, "&status=approved").await.is_empty());
    problem(app.get("/api/v1/me/access-requests").await, 401).await;
    // The dataset's list holds both requesters' requests, for its deciders only.
    let both = walk(app, Some(&w.editor.access), &requests_path(&ds.id), "id").await;
    assert_eq!(both, vec![bobs.clone(), alices.clone()]);
    typed(
        app.get_auth(&requests_path(&ds.id), &bob.access).await,
        403,
        "insufficient-role",
    )
    .await;
    // A dataset one cannot see has no list to forbid: 404.
    let hidden = w
        .dataset("Hidden corpus", json!({"visibility": "institution"}))
        .await;
    problem(
        app.get_auth(&requests_path(&hidden.id), &bob.access).await,
        404,
    )
    .await;
    body_of(
        app.get_auth(&requests_path(&hidden.id), &w.root.access)
            .await,
        200,
    )
    .await;
});

api_test!(
    a_requester_cannot_approve_their_own_request_even_as_editor,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let ds = w.dataset("Guarded corpus", json!({})).await;
        let alice = person(app, "alice@example.org", Some("KE")).await;
        let id = id_of(&requested(app, &alice, &ds.id).await);
        // She becomes an editor of the owner while her request is pending…
        join(app, &w.owner.access, INST, &alice, "editor").await;
        // …and may see it as a decider, but not decide her own request: a
        // grant she approved herself would outlive her membership.
        show(app, &alice.access, &id).await;
        let res = act(
            app,
            Some(&alice.access),
            &id,
            "approve",
            Some(note("Self-service.")),
        )
        .await;
        let (got, body) = answer(res).await;
        assert!(got.starts_with("403"), "self-approval: {got} {body}");
        assert_eq!(status(app, &w.owner.access, &id).await, "pending");
        // An owner still may.
        approve(app, &w.owner.access, &id).await;
    }
);

api_test!(each_decider_gets_one_reminder_per_sweep, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    // The owner of ke-lab owns ke-two as well; the editor is only in ke-lab.
    create(app, &w.owner.access, institution("ke-two", "KE")).await;
    verify(app, &w.root.access, "ke-two").await;
    let first = w.dataset("First corpus", json!({})).await;
    let second = w
        .dataset("Second corpus", json!({"institution": "ke-two"}))
        .await;
    let alice = person(app, "alice@example.org", Some("KE")).await;
    requested(app, &alice, &first.id).await;
    requested(app, &alice, &second.id).await;
    // One run: one reminder for each person who has something to decide.
    let got = sweep(app, in_days(8)).await;
    assert_eq!(
        (
            app.count_emails(&w.owner.email, "access_reminder").await,
            app.count_emails(&w.editor.email, "access_reminder").await,
            count_of(&notification_kinds(app, &w.owner).await, "access_reminder"),
        ),
        (1, 1, 1),
        "owner, editor, owner's in-app reminders after one sweep ({got:?})"
    );
    assert_eq!(got, swept(0, 0, 2), "one per decider");
});

// ----- validation ---------------------------------------------------------------------

/// A dataset that takes no access request: why, which (by id), who asks
/// and `"<status> <problem type>"`.
struct NoRequestCase<'a> {
    name: &'a str,
    id: &'a str,
    token: Option<&'a str>,
    expect: &'a str,
}

api_test!(
    bad_access_requests_are_refused_and_write_nothing,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let ds = w.dataset("Checked corpus", json!({})).await;
        let alice = person(app, "alice@example.org", Some("KE")).await;
        let a = Some(alice.access.as_str());
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "a purpose of 19 characters",
                json!({"purpose": "x".repeat(19), "duration_days": 30}),
                vec!["purpose"],
            ),
            (
                "a purpose padded to 20 with blanks",
                json!({"purpose": format!("  {}  ", "x".repeat(18)), "duration_days": 30}),
                vec!["purpose"],
            ),
            (
                "a purpose of 2001 characters",
                json!({"purpose": "x".repeat(2001), "duration_days": 30}),
                vec!["purpose"],
            ),
            ("no purpose", json!({"duration_days": 30}), vec!["purpose"]),
            (
                "a duration of 0 days",
                json!({"purpose": PURPOSE, "duration_days": 0}),
                vec!["duration_days"],
            ),
            (
                "a duration of 731 days",
                json!({"purpose": PURPOSE, "duration_days": 731}),
                vec!["duration_days"],
            ),
            (
                "a negative duration",
                json!({"purpose": PURPOSE, "duration_days": -5}),
                vec!["duration_days"],
            ),
            (
                "no duration",
                json!({"purpose": PURPOSE}),
                vec!["duration_days"],
            ),
            (
                "a duration that is not a number",
                json!({"purpose": PURPOSE, "duration_days": "thirty"}),
                vec!["duration_days"],
            ),
            (
                "both wrong",
                json!({"purpose": "short", "duration_days": 0}),
                vec!["duration_days", "purpose"],
            ),
            (
                "an unknown field",
                json!({"purpose": PURPOSE, "duration_days": 30, "colour": "red"}),
                vec!["colour"],
            ),
            (
                "an institution not one's own",
                json!({"purpose": PURPOSE, "duration_days": 30, "institution": INST}),
                vec!["institution"],
            ),
            (
                "an institution slug too long",
                json!({"purpose": PURPOSE, "duration_days": 30, "institution": "x".repeat(65)}),
                vec!["institution"],
            ),
        ];
        for (case, body, fields) in cases {
            let p = problem(ask(app, a, &ds.id, body).await, 400).await;
            let mut got = strings(&p["errors"], "field");
            got.sort();
            assert_eq!(got, fields, "{case}: {p}");
        }
        // Not JSON at all.
        let res = crate::helpers::http::send(
            app,
            Method::POST,
            &requests_path(&ds.id),
            a,
            None,
            &[("content-type", "application/json")],
        )
        .await;
        problem(res, 400).await;
        // Nothing was written, nobody was told.
        assert!(mine(app, &alice.access, "").await.is_empty());
        assert!(
            audited(app, &w.root, "access_request.created")
                .await
                .is_empty()
        );
        assert_eq!(
            app.count_emails(&w.owner.email, "access_requested").await,
            0
        );
    }
);

api_test!(
    good_requests_at_the_bounds_and_datasets_that_take_none,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let ds = w.dataset("Checked corpus", json!({})).await;
        let alice = person(app, "alice@example.org", Some("KE")).await;
        let a = Some(alice.access.as_str());
        // The bounds themselves are fine: 20 characters, 1 and 730 days.
        let r = body_of(
            ask(
                app,
                a,
                &ds.id,
                json!({"purpose": "ü".repeat(20), "duration_days": 1}),
            )
            .await,
            201,
        )
        .await;
        // A second pending request: 409, naming the first.
        let p = typed(
            ask(app, a, &ds.id, asking(730)).await,
            409,
            "access-request-pending",
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains(&id_of(&r)), "{p}");
        assert_eq!(mine(app, &alice.access, "").await, vec![id_of(&r)]);
        body_of(act(app, a, &id_of(&r), "withdraw", None).await, 200).await;
        let r = body_of(
            ask(
                app,
                a,
                &ds.id,
                json!({"purpose": "é".repeat(2000), "duration_days": 730}),
            )
            .await,
            201,
        )
        .await;
        assert_eq!(r["duration_days"], 730);
        assert_eq!(r["purpose"], "é".repeat(2000), "characters, not bytes");

        // Datasets that take no requests.
        let open = w
            .dataset("Open corpus", json!({"access_level": "open"}))
            .await;
        let registered = w
            .dataset("Registered corpus", json!({"access_level": "registered"}))
            .await;
        let hidden = w
            .dataset("Hidden corpus", json!({"visibility": "institution"}))
            .await;
        let archived = w.dataset("Archived corpus", json!({})).await;
        body_of(
            call(
                app,
                Method::POST,
                &format!("/api/v1/datasets/{}/archive", archived.id),
                Some(&w.owner.access),
                None,
            )
            .await,
            200,
        )
        .await;
        let cases: Vec<NoRequestCase> = vec![
            NoRequestCase {
                name: "an open dataset",
                id: &open.id,
                token: a,
                expect: "409 access-request-not-needed",
            },
            NoRequestCase {
                name: "a registered dataset",
                id: &registered.id,
                token: a,
                expect: "409 access-request-not-needed",
            },
            NoRequestCase {
                name: "one's own institution's dataset",
                id: &ds.id,
                token: Some(&w.member.access),
                expect: "409 access-request-not-needed",
            },
            NoRequestCase {
                name: "an editor of the owner",
                id: &ds.id,
                token: Some(&w.editor.access),
                expect: "409 access-request-not-needed",
            },
            NoRequestCase {
                name: "an archived dataset",
                id: &archived.id,
                token: a,
                expect: "409 dataset-not-published",
            },
            NoRequestCase {
                name: "an institution-only dataset",
                id: &hidden.id,
                token: a,
                expect: "404",
            },
            NoRequestCase {
                name: "an unknown dataset",
                id: OTHER_ID,
                token: a,
                expect: "404",
            },
            NoRequestCase {
                name: "a malformed id",
                id: "not-a-uuid",
                token: a,
                expect: "404",
            },
            NoRequestCase {
                name: "anonymous",
                id: &ds.id,
                token: None,
                expect: "401",
            },
        ];
        for NoRequestCase {
            name: case,
            id,
            token,
            expect: expected,
        } in cases
        {
            let res = ask(app, token, id, asking(30)).await;
            let code = res.status().as_u16();
            let p = problem(res, code).await;
            assert_eq!(code_and_type(code, &p), expected, "{case}: {p}");
        }
        assert_eq!(
            audited(app, &w.root, "access_request.created").await.len(),
            2,
            "only the two good requests"
        );
    }
);

api_test!(unverified_users_cannot_request_dataset_access, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w.dataset("Restricted corpus", json!({})).await;
    let members_only = w
        .dataset("Members-only corpus", json!({"visibility": "registered"}))
        .await;
    let hidden = w
        .dataset("Hidden corpus", json!({"visibility": "institution"}))
        .await;
    let token = unverified(app, "unverified@example.org").await;
    for d in [&ds, &members_only] {
        let p = typed(
            ask(app, Some(&token), &d.id, asking(30)).await,
            403,
            "email-not-verified",
        )
        .await;
        assert!(p["detail"].is_string(), "{p}");
    }
    // What one may not see stays hidden, verified or not.
    problem(ask(app, Some(&token), &hidden.id, asking(30)).await, 404).await;
    // Nothing written, nobody told.
    let page = body_of(
        app.get_auth("/api/v1/me/access-requests", &token).await,
        200,
    )
    .await;
    assert_eq!(page["items"], json!([]));
    assert!(
        audited(app, &w.root, "access_request.created")
            .await
            .is_empty()
    );
    assert!(
        !notification_kinds(app, &w.owner)
            .await
            .contains(&"access_requested".to_string())
    );
    // Nor may they download a restricted dataset.
    let (got, _) = outcome(link(app, Some(&token), &ds, "").await).await;
    assert_eq!(got, "403 access-grant-required");
});

api_test!(racing_requests_and_decisions_land_once, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w.dataset("Raced corpus", json!({})).await;
    let alice = person(app, "alice@example.org", Some("KE")).await;
    // Eight identical requests at once: one lands, the others see it pending.
    let asks = (0..8).map(|_| ask(app, Some(&alice.access), &ds.id, asking(30)));
    let mut codes = Vec::new();
    for res in futures_util::future::join_all(asks).await {
        codes.push(answer(res).await.0);
    }
    codes.sort();
    let mut expected = vec!["201".to_string()];
    expected.extend(std::iter::repeat_n(
        "409 access-request-pending".to_string(),
        7,
    ));
    assert_eq!(codes, expected);
    let ids = mine(app, &alice.access, "").await;
    assert_eq!(ids.len(), 1);
    assert_eq!(
        app.count_emails(&w.owner.email, "access_requested").await,
        1
    );
    // Six decisions at once, by both deciders: exactly one lands.
    let id = ids[0].clone();
    let decisions = (0..6).map(|i| {
        let (who, what) = match i % 3 {
            0 => (&w.owner, "approve"),
            1 => (&w.editor, "approve"),
            _ => (&w.owner, "reject"),
        };
        act(app, Some(&who.access), &id, what, Some(note("Decided.")))
    });
    let mut landed = 0;
    for res in futures_util::future::join_all(decisions).await {
        let (got, body) = answer(res).await;
        match got.as_str() {
            "200" => landed += 1,
            "409 invalid-transition" => {}
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(landed, 1);
    assert_eq!(app.count_emails(&alice.email, "access_decided").await, 1);
    let decided = audited(app, &w.root, "access_request.approved").await.len()
        + audited(app, &w.root, "access_request.rejected").await.len();
    assert_eq!(decided, 1);
});

// ----- the periodic sweep ---------------------------------------------------------------

/// `world` with a restricted dataset and four requesters (KE): dave's
/// grant ends a few seconds from now, alice holds a 30-day grant (and a
/// link under it), bob's and carol's requests are pending.
struct Timed {
    w: World,
    ds: Ds,
    alice: Account,
    bob: Account,
    carol: Account,
    dave: Account,
    /// Dave's grant and its end.
    short: String,
    ends: chrono::DateTime<Utc>,
    daves_link: String,
    /// Alice's grant.
    granted: String,
    alices_link: String,
    /// Bob's and carol's requests.
    b: String,
    c: String,
}

async fn timed_world(backend: Backend) -> Timed {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w.dataset("Timed corpus", json!({})).await;
    let alice = person(app, "alice@example.org", Some("KE")).await;
    let bob = person(app, "bob@example.org", Some("KE")).await;
    let carol = person(app, "carol@example.org", Some("KE")).await;
    let dave = person(app, "dave@example.org", Some("KE")).await;

    // dave's grant ends in a few seconds.
    let short = id_of(&requested(app, &dave, &ds.id).await);
    let ends = Utc::now() + chrono::Duration::seconds(4);
    let r = body_of(
        act(
            app,
            Some(&w.owner.access),
            &short,
            "approve",
            Some(json!({"note": "Briefly.", "expires_at": ends.to_rfc3339()})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r["status"], "approved");
    let (got, body) = outcome(link(app, Some(&dave.access), &ds, "").await).await;
    assert_eq!(got, "200");
    let daves_link = body["url"].as_str().unwrap().to_string();

    // alice: a 30-day grant; bob and carol: pending.
    let granted =
        id_of(&body_of(ask(app, Some(&alice.access), &ds.id, asking(30)).await, 201).await);
    approve(app, &w.editor.access, &granted).await;
    let b = id_of(&requested(app, &bob, &ds.id).await);
    let c = id_of(&requested(app, &carol, &ds.id).await);
    let (got, body) = outcome(link(app, Some(&alice.access), &ds, "").await).await;
    assert_eq!(got, "200");
    let alices_link = body["url"].as_str().unwrap().to_string();
    Timed {
        w,
        ds,
        alice,
        bob,
        carol,
        dave,
        short,
        ends,
        daves_link,
        granted,
        alices_link,
        b,
        c,
    }
}

impl Timed {
    async fn past_daves_end(&self) {
        let wait = self.ends - Utc::now() + chrono::Duration::milliseconds(300);
        if let Ok(wait) = wait.to_std() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Past the end of dave's grant, the sweep of today expires it.
    async fn swept_today(&self) {
        self.past_daves_end().await;
        assert_eq!(sweep(&self.w.app, in_days(0)).await, swept(1, 0, 0));
    }
}

api_test!(
    an_ended_grant_is_refused_before_the_sweep_expires_it,
    |backend| {
        let t = timed_world(backend).await;
        let Timed {
            w,
            ds,
            dave,
            short,
            daves_link,
            alices_link,
            ..
        } = &t;
        let app = &w.app;
        // Past its end, dave's grant refuses links before any sweep.
        t.past_daves_end().await;
        let (got, _) = outcome(link(app, Some(&dave.access), ds, "").await).await;
        assert_eq!(
            got, "403 access-grant-required",
            "the end counts, swept or not"
        );
        typed(follow(app, daves_link).await, 410, "access-ended").await;
        assert_eq!(
            status(app, &dave.access, short).await,
            "approved",
            "not swept yet"
        );
        // A grant whose time is up cannot be revoked any more, swept or not:
        // it has ended, and no one is told it was revoked.
        let p = typed(
            act(
                app,
                Some(&w.owner.access),
                short,
                "revoke",
                Some(note("Too late.")),
            )
            .await,
            409,
            "invalid-transition",
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");
        let r = show(app, &dave.access, short).await;
        assert_eq!(r["status"], "approved", "{r}");
        assert_eq!(r["revocation_note"], Value::Null, "{r}");
        assert!(
            audited(app, &w.root, "access_request.revoked")
                .await
                .is_empty()
        );
        assert_eq!(app.count_emails(&dave.email, "access_ended").await, 0);
        // And he may ask again.
        let again = requested(app, dave, &ds.id).await;
        body_of(
            act(app, Some(&dave.access), &id_of(&again), "withdraw", None).await,
            200,
        )
        .await;

        // Now: dave's grant is swept; nothing else is due.
        assert_eq!(sweep(app, in_days(0)).await, swept(1, 0, 0));
        assert_eq!(status(app, &dave.access, short).await, "expired");
        assert_eq!(app.count_emails(&dave.email, "access_ended").await, 1);
        assert_eq!(
            sweep(app, in_days(0)).await,
            swept(0, 0, 0),
            "nothing twice"
        );
        redirected(app, alices_link, &ds.url).await;
    }
);

api_test!(the_sweep_reminds_the_deciders_once_a_week, |backend| {
    let t = timed_world(backend).await;
    let Timed { w, bob, c, .. } = &t;
    let app = &w.app;
    t.swept_today().await;
    // After a week: one reminder per decider (owner and editor), listing
    // both pending requests; not the plain member.
    assert_eq!(
        sweep(app, in_days(6)).await,
        swept(0, 0, 0),
        "not yet a week"
    );
    assert_eq!(sweep(app, in_days(8)).await, swept(0, 0, 2));
    assert_eq!(
        sweep(app, in_days(8)).await,
        swept(0, 0, 0),
        "no duplicates"
    );
    assert_eq!(
        sweep(app, in_days(10)).await,
        swept(0, 0, 0),
        "once a period"
    );
    for who in [&w.owner, &w.editor] {
        assert_eq!(app.count_emails(&who.email, "access_reminder").await, 1);
        assert_eq!(
            count_of(&notification_kinds(app, who).await, "access_reminder"),
            1
        );
    }
    assert_eq!(
        app.count_emails(&w.member.email, "access_reminder").await,
        0
    );
    assert_eq!(app.count_emails(&bob.email, "access_reminder").await, 0);
    // Another week on, another reminder.
    assert_eq!(sweep(app, in_days(15)).await, swept(0, 0, 2));
    assert_eq!(sweep(app, in_days(15)).await, swept(0, 0, 0));
    for who in [&w.owner, &w.editor] {
        assert_eq!(app.count_emails(&who.email, "access_reminder").await, 2);
    }
    // A decided request is no longer reminded of.
    body_of(
        act(app, Some(&w.owner.access), c, "reject", Some(note("No."))).await,
        200,
    )
    .await;
    assert_eq!(
        sweep(app, in_days(22)).await,
        swept(0, 0, 2),
        "bob's is still pending"
    );
});

api_test!(
    the_sweep_expires_grants_and_requests_and_reminds,
    |backend| {
        let t = timed_world(backend).await;
        let Timed {
            w,
            alice,
            bob,
            carol,
            granted,
            b,
            c,
            ..
        } = &t;
        let app = &w.app;
        t.swept_today().await;
        body_of(
            act(app, Some(&w.owner.access), c, "reject", Some(note("No."))).await,
            200,
        )
        .await;
        // Before 30 days nothing expires; after, the stale request and the
        // 30-day grant do.
        assert_eq!(sweep(app, in_days(29)).await, swept(0, 0, 2));
        assert_eq!(status(app, &bob.access, b).await, "pending");
        assert_eq!(sweep(app, in_days(31)).await, swept(1, 1, 0));
        assert_eq!(status(app, &alice.access, granted).await, "expired");
        assert_eq!(status(app, &bob.access, b).await, "expired");
        assert_eq!(
            status(app, &carol.access, c).await,
            "rejected",
            "final stays final"
        );
        assert_eq!(sweep(app, in_days(31)).await, swept(0, 0, 0));
        assert_eq!(sweep(app, in_days(60)).await, swept(0, 0, 0));
        // The requesters are told.
        assert_eq!(app.count_emails(&alice.email, "access_ended").await, 1);
        assert_eq!(app.count_emails(&bob.email, "access_ended").await, 1);
        assert_eq!(app.count_emails(&carol.email, "access_ended").await, 0);
        assert_eq!(
            count_of(&notification_kinds(app, alice).await, "access_ended"),
            1
        );
        // Expired requests cannot move any more.
        for (id, token) in [(&granted, &w.owner.access), (&b, &w.owner.access)] {
            typed(
                act(app, Some(token), id, "revoke", Some(json!({}))).await,
                409,
                "invalid-transition",
            )
            .await;
            typed(
                act(app, Some(token), id, "approve", Some(note("Late."))).await,
                409,
                "invalid-transition",
            )
            .await;
        }
        typed(
            act(app, Some(&bob.access), b, "withdraw", None).await,
            409,
            "invalid-transition",
        )
        .await;
        // Audited, by nobody.
        let expired = audited(app, &w.root, "access_request.expired").await;
        assert_eq!(expired.len(), 3);
        assert!(
            expired.iter().all(|e| e["actor_id"].is_null()),
            "{expired:?}"
        );
        let mut froms: Vec<&str> = expired
            .iter()
            .map(|e| e["detail"]["from"].as_str().unwrap())
            .collect();
        froms.sort_unstable();
        assert_eq!(froms, vec!["approved", "approved", "pending"]);
    }
);

// ----- emails over SMTP -----------------------------------------------------------------

/// The accepted emails to `to` whose subject contains `subject`, once
/// there are at least `n`.
async fn arrived(sink: &SmtpSink, to: &str, subject: &str, n: usize) -> Vec<Received> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got: Vec<Received> = sink
            .accepted()
            .into_iter()
            .filter(|m| {
                m.to.iter().any(|t| t == to)
                    && m.header("Subject").is_some_and(|s| s.contains(subject))
            })
            .collect();
        if got.len() >= n {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n} `{subject}` emails to {to}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn token_in(mail: &Received) -> String {
    let text = mail.decoded();
    let start = text.find("?token=").expect("a link") + "?token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Signs up with the token from the verification email, and names the person.
async fn signup(app: &TestApp, sink: &SmtpSink, email: &str, name: &str) -> Account {
    assert_eq!(app.register(email, PASSWORD).await.status(), 202);
    let mail = arrived(sink, email, "Confirm your email", 1)
        .await
        .remove(0);
    let res = app
        .post_json(
            "/api/v1/auth/verify-email",
            json!({"token": token_in(&mail)}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let a = app.signin(email).await;
    body_of(
        call(
            app,
            Method::PATCH,
            "/api/v1/me",
            Some(&a.access),
            Some(json!({"display_name": name, "country": "TZ"})),
        )
        .await,
        200,
    )
    .await;
    a
}

/// Invites `who` to `ke-lab` with `role`; they accept with the emailed token.
async fn join_by_email(app: &TestApp, sink: &SmtpSink, owner: &Account, who: &Account, role: &str) {
    body_of(
        app.post_json(
            &format!("/api/v1/institutions/{INST}/invitations"),
            json!({"email": who.email, "role": role}),
            Some(&owner.access),
        )
        .await,
        201,
    )
    .await;
    let mail = arrived(sink, &who.email, "invites you to join", 1)
        .await
        .remove(0);
    let res = app
        .post_json(
            "/api/v1/invitations/accept",
            json!({"token": token_in(&mail)}),
            Some(&who.access),
        )
        .await;
    body_of(res, 200).await;
}

/// The application sending its email over SMTP to a sink, `ke-lab` (KE)
/// with its owner, editor and member, a platform admin, three requesters
/// (TZ) and a restricted dataset; everyone signed up by email.
struct Mailed {
    sink: SmtpSink,
    app: TestApp,
    owner: Account,
    editor: Account,
    member: Account,
    amina: Account,
    baraka: Account,
    chiku: Account,
    title: &'static str,
    ds: Ds,
}

async fn mailed(backend: Backend) -> Mailed {
    use kujenga::config::{MailTransport, SmtpSecurity};
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(backend, |s| {
        s.auth.argon2_memory_kib = 64;
        s.auth.argon2_iterations = 1;
        s.rate_limit.register_per_hour = 10_000;
        s.rate_limit.login_per_minute = 10_000;
        s.mail.transport = MailTransport::Smtp;
        s.mail.smtp.host = "127.0.0.1".into();
        s.mail.smtp.port = port;
        s.mail.smtp.security = SmtpSecurity::None;
        s.mail.smtp.timeout_secs = 5;
        s.mail.poll_interval_ms = 50;
        s.mail.retry_base_ms = 100;
        s.mail.retry_max_ms = 1_000;
    })
    .await
    .expect("app");

    let root = signup(&app, &sink, "root@example.org", "Root").await;
    app.make_admin(&root.id).await;
    let root = app.signin("root@example.org").await;
    let owner = signup(&app, &sink, "kofi@example.org", "Kofi").await;
    let editor = signup(&app, &sink, "esi@example.org", "Esi").await;
    let member = signup(&app, &sink, "yaw@example.org", "Yaw").await;
    create(&app, &owner.access, institution(INST, "KE")).await;
    verify(&app, &root.access, INST).await;
    join_by_email(&app, &sink, &owner, &editor, "editor").await;
    join_by_email(&app, &sink, &owner, &member, "member").await;
    let amina = signup(&app, &sink, "amina@example.org", "Amina").await;
    let baraka = signup(&app, &sink, "baraka@example.org", "Baraka").await;
    let chiku = signup(&app, &sink, "chiku@example.org", "Chiku").await;
    let title = "Twi speech corpus";
    let ds = dataset(&app, &owner.access, title, json!({})).await;
    Mailed {
        sink,
        app,
        owner,
        editor,
        member,
        amina,
        baraka,
        chiku,
        title,
        ds,
    }
}

impl Mailed {
    /// Amina asks for 30 days: her request.
    async fn amina_asks(&self) -> String {
        let (app, ds) = (&self.app, &self.ds);
        let r = body_of(
            ask(app, Some(&self.amina.access), &ds.id, asking(30)).await,
            201,
        )
        .await;
        id_of(&r)
    }

    async fn approve_amina(&self, amina_req: &str) {
        approve_with(
            &self.app,
            &self.editor,
            amina_req,
            "Please cite the corpus paper.",
        )
        .await;
    }

    /// Baraka asks and the owner rejects.
    async fn reject_baraka(&self) {
        let (app, owner) = (&self.app, &self.owner);
        let baraka_req = id_of(&requested(app, &self.baraka, &self.ds.id).await);
        let why = note("Not for commercial use.");
        body_of(
            act(app, Some(&owner.access), &baraka_req, "reject", Some(why)).await,
            200,
        )
        .await;
    }

    async fn revoke_amina(&self, amina_req: &str) {
        let (app, owner) = (&self.app, &self.owner);
        let why = note("The consent terms changed.");
        body_of(
            act(app, Some(&owner.access), amina_req, "revoke", Some(why)).await,
            200,
        )
        .await;
    }
}

api_test!(a_new_access_request_emails_the_deciders, |backend| {
    let m = mailed(backend).await;
    let Mailed {
        sink,
        app,
        owner,
        editor,
        member,
        amina,
        title,
        ..
    } = &m;
    // A new request reaches each owner and editor, with the purpose.
    let amina_req = m.amina_asks().await;
    let subject = format!("Amina asks for access to {title}");
    for decider in [&owner, &editor] {
        let mail = arrived(sink, &decider.email, &subject, 1).await.remove(0);
        let body = mail.decoded();
        assert!(body.contains(PURPOSE), "{body}");
        assert!(body.contains(&amina_req), "{body}");
        assert!(body.contains("30 day(s)"), "{body}");
        assert_eq!(
            app.count_emails(&decider.email, "access_requested").await,
            1
        );
        let kinds = notification_kinds(app, decider).await;
        assert_eq!(count_of(&kinds, "access_requested"), 1, "{kinds:?}");
    }
    assert_eq!(app.count_emails(&member.email, "access_requested").await, 0);
    assert_eq!(app.count_emails(&amina.email, "access_requested").await, 0);
    let page = body_of(
        app.get_auth("/api/v1/me/notifications?limit=1", &owner.access)
            .await,
        200,
    )
    .await;
    assert_eq!(page["items"][0]["kind"], "access_requested");
    assert_eq!(
        page["items"][0]["route"],
        json!({"route": "access_request", "params": {"id": amina_req}})
    );
});

api_test!(access_decisions_email_the_requester, |backend| {
    let m = mailed(backend).await;
    let Mailed {
        sink,
        app,
        amina,
        baraka,
        title,
        ..
    } = &m;
    let amina_req = m.amina_asks().await;
    // An approval reaches the requester, with the note.
    m.approve_amina(&amina_req).await;
    let mail = arrived(
        sink,
        &amina.email,
        &format!("Your request for {title} was approved"),
        1,
    )
    .await
    .remove(0);
    assert!(mail.decoded().contains("Please cite the corpus paper."));
    // A rejection too.
    m.reject_baraka().await;
    let mail = arrived(
        sink,
        &baraka.email,
        &format!("Your request for {title} was rejected"),
        1,
    )
    .await
    .remove(0);
    assert!(mail.decoded().contains("Not for commercial use."));
    assert_eq!(app.count_emails(&baraka.email, "access_decided").await, 1);
    // A revocation, with its note.
    m.revoke_amina(&amina_req).await;
    let mail = arrived(
        sink,
        &amina.email,
        &format!("Your access to {title} was revoked"),
        1,
    )
    .await
    .remove(0);
    assert!(mail.decoded().contains("The consent terms changed."));
});

api_test!(access_emails_arrive_over_smtp, |backend| {
    let m = mailed(backend).await;
    let Mailed {
        sink,
        app,
        owner,
        editor,
        member,
        amina,
        baraka,
        chiku,
        title,
        ds,
        ..
    } = &m;
    let amina_req = m.amina_asks().await;
    m.approve_amina(&amina_req).await;
    m.reject_baraka().await;
    m.revoke_amina(&amina_req).await;
    // The decisions went out, as the test above checks.
    for (to, what) in [
        (amina, "approved"),
        (baraka, "rejected"),
        (amina, "revoked"),
    ] {
        arrived(sink, &to.email, &format!("{title} was {what}"), 1).await;
    }

    // A reminder reaches the deciders; an expiry reaches the requester.
    let chiku_req = id_of(&requested(app, chiku, &ds.id).await);
    let again = id_of(&body_of(ask(app, Some(&amina.access), &ds.id, asking(10)).await, 201).await);
    approve_with(app, owner, &again, "Ten more days.").await;
    assert_eq!(sweep(app, in_days(8)).await, swept(0, 0, 2));
    for decider in [&owner, &editor] {
        let mail = arrived(
            sink,
            &decider.email,
            "access request(s) waiting for your decision",
            1,
        )
        .await
        .remove(0);
        let body = mail.decoded();
        assert!(body.contains(&chiku_req), "{body}");
        assert!(body.contains("Chiku"), "{body}");
    }
    assert_eq!(sweep(app, in_days(11)).await, swept(1, 0, 0));
    arrived(
        sink,
        &amina.email,
        &format!("Your access to {title} has expired"),
        1,
    )
    .await;
    assert_eq!(sweep(app, in_days(31)).await, swept(0, 1, 0));
    arrived(
        sink,
        &chiku.email,
        &format!("Your request for {title} expired"),
        1,
    )
    .await;

    // Each went out once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (who, n) in [(&amina, 4), (&baraka, 1), (&chiku, 1)] {
        let got: Vec<String> = sink
            .accepted()
            .iter()
            .filter(|m| m.to.contains(&who.email))
            .filter_map(|m| m.header("Subject"))
            .filter(|s| s.contains(title))
            .collect();
        assert_eq!(got.len(), n, "{}: {got:?}", who.email);
    }
    for decider in [&owner, &editor] {
        assert_eq!(app.count_emails(&decider.email, "access_reminder").await, 1);
    }
    assert_eq!(app.count_emails(&member.email, "access_reminder").await, 0);
});

async fn approve_with(app: &TestApp, who: &Account, id: &str, text: &str) {
    let r = body_of(
        act(app, Some(&who.access), id, "approve", Some(note(text))).await,
        200,
    )
    .await;
    assert_eq!(r["status"], "approved", "{r}");
}

// ----- the transparency report -------------------------------------------------------------

/// `world` with a restricted and an open dataset for the transparency report.
struct Reported {
    w: World,
    ds: Ds,
    open: Ds,
}

async fn reported(backend: Backend) -> Reported {
    let w = world(backend).await;
    let ds = w.dataset("Reported corpus", json!({})).await;
    let open = w
        .dataset("Open reported corpus", json!({"access_level": "open"}))
        .await;
    Reported { w, ds, open }
}

/// Six requesters from NG and one from TZ, each with a request for the
/// restricted dataset, made this month.
struct Requesters {
    ng: Vec<Account>,
    tz: Account,
    ng_requests: Vec<String>,
    tz_request: String,
}

impl Reported {
    async fn requests(&self) -> Requesters {
        let (app, ds) = (&self.w.app, &self.ds);
        let mut ng = Vec::new();
        for i in 0..6 {
            ng.push(person(app, &format!("ng{i}@example.org"), Some("NG")).await);
        }
        let tz = person(app, "tz@example.org", Some("TZ")).await;
        let mut ng_requests = Vec::new();
        for who in &ng {
            ng_requests.push(id_of(&requested(app, who, &ds.id).await));
        }
        let tz_request = id_of(&requested(app, &tz, &ds.id).await);
        Requesters {
            ng,
            tz,
            ng_requests,
            tz_request,
        }
    }

    /// Five NG requests approved and the sixth rejected; links by two
    /// grantees, an insider and an anonymous reader of the open dataset:
    /// all of it moved into last month.
    async fn decided_and_linked(&self, q: &Requesters) {
        let (w, app, ds) = (&self.w, &self.w.app, &self.ds);
        for id in &q.ng_requests[..5] {
            approve(app, &w.owner.access, id).await;
        }
        let no = note("No.");
        body_of(
            act(
                app,
                Some(&w.owner.access),
                &q.ng_requests[5],
                "reject",
                Some(no),
            )
            .await,
            200,
        )
        .await;
        let readers = [Some(&q.ng[0]), Some(&q.ng[1]), Some(&w.member)];
        for (who, ds) in readers.iter().map(|r| (*r, ds)).chain([(None, &self.open)]) {
            let (got, _) = outcome(link(app, who.map(|a| a.access.as_str()), ds, "").await).await;
            assert_eq!(got, "200");
        }
        into_last_month(app).await;
    }
}

api_test!(
    the_transparency_report_counts_without_singling_anyone_out,
    |backend| {
        let r = reported(backend).await;
        let Reported { w, .. } = &r;
        let app = &w.app;
        // Nothing yet.
        let (empty, _) = last_month(app).await;
        assert_eq!(empty["pairs"], json!([]));
        assert_eq!(empty["median_hours_to_decision"], Value::Null);
        let Requesters { ng_requests, .. } = r.requests().await;
        // Only months that have ended are reported: this month's requests
        // are not, yet.
        let (m, _) = last_month(app).await;
        assert_eq!(m, empty);

        // Requests only (moved into last month): no decision, no median.
        into_last_month(app).await;
        let (m, _) = last_month(app).await;
        let s = json!("<5");
        let zero = json!(0);
        assert_eq!(m["pairs"].as_array().unwrap().len(), 2, "{m}");
        assert_eq!(
            pair(&m, Some("KE"), Some("NG")),
            figures(json!(6), zero.clone(), zero.clone(), zero.clone())
        );
        assert_eq!(
            pair(&m, Some("KE"), Some("TZ")),
            figures(s.clone(), zero.clone(), zero.clone(), zero.clone())
        );
        assert_eq!(m["median_hours_to_decision"], Value::Null);

        // Four decisions: too few for a median (it would be a few people's
        // own waits).
        for id in &ng_requests[..4] {
            approve(app, &w.owner.access, id).await;
        }
        into_last_month(app).await;
        let (m, _) = last_month(app).await;
        assert_eq!(pair(&m, Some("KE"), Some("NG"))["approvals"], "<5");
        assert_eq!(m["median_hours_to_decision"], Value::Null, "{m}");
        // The fifth: a median.
        approve(app, &w.owner.access, &ng_requests[4]).await;
        into_last_month(app).await;
        let (m, _) = last_month(app).await;
        assert_eq!(pair(&m, Some("KE"), Some("NG"))["approvals"], 5);
        let median = m["median_hours_to_decision"]
            .as_f64()
            .unwrap_or_else(|| panic!("a median from five decisions on: {m}"));
        assert!(
            (0.0..1.0).contains(&median),
            "decided within the hour: {median}"
        );
    }
);

api_test!(
    the_transparency_report_suppresses_small_counts_and_names_no_one,
    |backend| {
        let r = reported(backend).await;
        let Reported { w, ds, open, .. } = &r;
        let app = &w.app;
        let q = r.requests().await;
        r.decided_and_linked(&q).await;
        let Requesters {
            ng,
            tz,
            ng_requests,
            tz_request,
            ..
        } = &q;
        let s = json!("<5");
        let zero = json!(0);
        let (m, text) = last_month(app).await;
        assert_eq!(m["pairs"].as_array().unwrap().len(), 4, "{m}");
        assert_eq!(
            pair(&m, Some("KE"), Some("NG")),
            figures(json!(6), json!(5), s.clone(), s.clone()),
            "5 and more exact, 1 to 4 suppressed"
        );
        assert_eq!(
            pair(&m, Some("KE"), Some("TZ")),
            figures(s.clone(), zero.clone(), zero.clone(), zero.clone())
        );
        assert_eq!(
            pair(&m, Some("KE"), Some("KE")),
            figures(zero.clone(), zero.clone(), zero.clone(), s.clone())
        );
        assert_eq!(
            pair(&m, Some("KE"), None),
            figures(zero.clone(), zero.clone(), zero.clone(), s.clone())
        );
        assert!(
            m["median_hours_to_decision"].as_f64().is_some(),
            "six decisions: {m}"
        );
        // No totals to subtract a suppressed count from.
        assert!(!text.contains("total"), "{text}");
        // No personal data: no one's email, id or name, no request or dataset.
        let mut people: Vec<&Account> = ng.iter().collect();
        people.extend([tz, &w.owner, &w.member, &w.root]);
        for who in people {
            assert!(!text.contains(&who.email), "{text}");
            assert!(!text.contains(&who.id), "{text}");
        }
        for id in ng_requests.iter().chain([tz_request, &ds.id, &open.id]) {
            assert!(!text.contains(id.as_str()), "{text}");
        }
        for word in ["Test Person", "Reported corpus", "@", PURPOSE] {
            assert!(!text.contains(word), "{word}: {text}");
        }
    }
);

api_test!(
    the_transparency_report_keeps_what_it_reported_and_covers_ended_months,
    |backend| {
        let r = reported(backend).await;
        let Reported { w, ds, open, .. } = &r;
        let app = &w.app;
        let q = r.requests().await;
        r.decided_and_linked(&q).await;
        let Requesters { ng_requests, .. } = &q;
        let (m, _) = last_month(app).await;
        // A revocation does not unmake an approval, neither now nor once
        // its month is reported.
        body_of(
            act(
                app,
                Some(&w.owner.access),
                &ng_requests[0],
                "revoke",
                Some(json!({})),
            )
            .await,
            200,
        )
        .await;
        let (again, _) = last_month(app).await;
        assert_eq!(again, m);
        into_last_month(app).await;
        let (again, _) = last_month(app).await;
        assert_eq!(again, m);

        // What happens this month is in no report yet: a request from GH,
        // a link, a decision.
        let gh = person(app, "gh@example.org", Some("GH")).await;
        let gh_request = id_of(&requested(app, &gh, &ds.id).await);
        approve(app, &w.owner.access, &gh_request).await;
        let (got, _) = outcome(link(app, Some(&gh.access), ds, "").await).await;
        assert_eq!(got, "200");
        let (got, _) = outcome(link(app, None, open, "").await).await;
        assert_eq!(got, "200");
        let (again, text) = last_month(app).await;
        assert_eq!(again, m);
        assert!(!text.contains("GH"), "{text}");
        // …nor can it be asked for: `to` must be a month that has ended.
        for to in [month(0), month(1)] {
            invalid(app.get(&report_path(&month(-1), &to)).await, &["to"]).await;
            invalid(app.get(&report_path(&to, &to)).await, &["to"]).await;
            invalid(app.get(&format!("{REPORT}?to={to}")).await, &["to"]).await;
        }

        // Months without any: nothing, and no median.
        let (old, _) = report(app, "2020-01", "2020-12").await;
        assert_eq!(old["months"].as_array().unwrap().len(), 12);
        for x in old["months"].as_array().unwrap() {
            assert_eq!(x["pairs"], json!([]), "{x}");
            assert_eq!(x["median_hours_to_decision"], Value::Null, "{x}");
        }
        // By default: the twelve months ending with last month, the newest
        // that has ended.
        let (d, text) = report_at(app, "").await;
        assert_eq!(d["to"], month(-1), "{d}");
        assert_eq!(d["from"], month(-12), "{d}");
        assert_eq!(d["months"].as_array().unwrap().len(), 12);
        assert_eq!(month_in(&d, &month(-1)), m);
        for x in &d["months"].as_array().unwrap()[..11] {
            assert_eq!(x["pairs"], json!([]), "{x}");
        }
        assert!(!text.contains("GH"), "{text}");
    }
);
