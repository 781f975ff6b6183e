//! A partnership's webhook and the resources shared into it (issue 18,
//! point 5): it hears of a shared resource's changes only while the
//! partnership's members may see the resource — shared, the partnership
//! active, the resource's institution an active member, published, and
//! not visible to its own institution only — and of nothing else of the
//! same institution.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::TestApp;
use crate::helpers::access::institution;
use crate::helpers::accounts::{admin, set_platform_role};
use crate::helpers::http::{body_of, call};
use crate::helpers::institutions::{create, verify};
use crate::helpers::search::{COURSES, active_partnership, draft, publish, published, share};
use crate::helpers::versions::edit_published;
use crate::helpers::webhooks::{Received, Receiver, delivering_app as app};

/// Changes a draft course never published (one `resource.updated`).
async fn patch(app: &TestApp, token: &str, id: &str, body: Value) {
    let res = call(
        app,
        Method::PATCH,
        &format!("/api/v1/courses/{id}"),
        Some(token),
        Some(body),
    )
    .await;
    body_of(res, 200).await;
}

/// Changes a published course through the draft of its next version, then
/// publishes it (`resource.draft_updated`, then `resource.updated`, a
/// `resource.visibility_changed` when the visibility changes, and
/// `resource.version_published`).
async fn edit(app: &TestApp, token: &str, id: &str, body: Value) {
    let path = format!("/api/v1/courses/{id}");
    body_of(edit_published(app, Some(token), &path, body).await, 200).await;
}

/// (event type, subject id) of each request, sorted.
fn seen(got: &[Received]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            let b: Value = serde_json::from_str(&r.body).unwrap();
            (
                b["type"].as_str().unwrap().to_string(),
                b["data"]["subject"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

api_test!(
    a_partnership_hook_hears_only_of_what_is_shared_into_it_and_visible,
    |backend| {
        let app = app(backend).await;
        let root = admin(&app, "root@kujenga.test").await;
        let coord = app.signup("coord@example.org").await;
        set_platform_role(&app, &coord.id, "coordinator").await;
        let coord = app.signin("coord@example.org").await;
        let ke = app.signup("ke.owner@example.org").await;
        let ng = app.signup("ng.owner@example.org").await;
        let tz = app.signup("tz.owner@example.org").await;
        for (owner, slug, country) in [
            (&ke, "ke-lab", "KE"),
            (&ng, "ng-lab", "NG"),
            (&tz, "tz-lab", "TZ"),
        ] {
            create(&app, &owner.access, institution(slug, country)).await;
            verify(&app, &root.access, slug).await;
        }
        active_partnership(
            &app,
            &coord.access,
            "delta",
            &[
                ("ke-lab", ke.access.as_str()),
                ("ng-lab", ng.access.as_str()),
                ("tz-lab", tz.access.as_str()),
            ],
        )
        .await;
        let partnership = |v: &str| json!({"visibility": v});
        let k = ke.access.as_str();
        // Shared and visible to the partnership; of the same institution
        // but not shared; shared but its institution's only; a shared
        // draft; another member's shared course.
        let shared = published(
            &app,
            k,
            COURSES,
            "ke-lab",
            "Shared",
            partnership("partnership"),
        )
        .await;
        let kept = published(
            &app,
            k,
            COURSES,
            "ke-lab",
            "Kept",
            partnership("partnership"),
        )
        .await;
        let private = published(
            &app,
            k,
            COURSES,
            "ke-lab",
            "Own",
            partnership("institution"),
        )
        .await;
        let drafted = draft(
            &app,
            k,
            COURSES,
            "ke-lab",
            "Draft",
            partnership("partnership"),
        )
        .await;
        for id in [&shared, &private, &drafted] {
            share(&app, k, "delta", id).await;
        }
        let theirs = published(
            &app,
            &ng.access,
            COURSES,
            "ng-lab",
            "Theirs",
            partnership("partnership"),
        )
        .await;
        share(&app, &ng.access, "delta", &theirs).await;

        let receiver = Receiver::start(Vec::new()).await;
        let hooks = "/api/v1/partnerships/delta/webhooks";
        let hook = body_of(
            call(
                &app,
                Method::POST,
                hooks,
                Some(&coord.access),
                Some(json!({"url": receiver.url("/"), "event_types": [
                    "resource.updated", "resource.visibility_changed",
                    "resource.published", "resource.archived", "module.created",
                    "resource.version_published", "resource.draft_updated",
                ]})),
            )
            .await,
            201,
        )
        .await;
        let hook_id = hook["id"].as_str().unwrap().to_string();

        let summary = |s: &str| json!({"summary": s});
        edit(&app, k, &shared, summary("Heard.")).await;
        edit(&app, k, &kept, summary("Not shared.")).await;
        edit(&app, k, &private, summary("Its institution's only.")).await;
        patch(&app, k, &drafted, summary("Still a draft.")).await;
        publish(&app, k, COURSES, &drafted).await;
        edit(&app, &ng.access, &theirs, summary("Heard too.")).await;
        // Widened to the partnership: heard; narrowed again: the change of
        // visibility is told (it left the partnership's view), not the rest.
        edit(&app, k, &private, partnership("partnership")).await;
        edit(&app, k, &private, partnership("institution")).await;
        edit(&app, k, &private, summary("Private again.")).await;
        // Unshared: nothing more.
        let res = call(
            &app,
            Method::DELETE,
            &format!("/api/v1/partnerships/delta/resources/{shared}"),
            Some(k),
            None,
        )
        .await;
        assert_eq!(res.status(), 204);
        edit(&app, k, &shared, summary("After the unsharing.")).await;
        // Its institution left the partnership (which goes on): nothing
        // more of what it had shared.
        let res = call(
            &app,
            Method::DELETE,
            "/api/v1/partnerships/delta/members/ke-lab",
            Some(k),
            None,
        )
        .await;
        body_of(res, 200).await;
        let p = body_of(
            call(
                &app,
                Method::GET,
                "/api/v1/partnerships/delta",
                Some(&coord.access),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(p["status"], "active", "{p}");
        edit(&app, k, &drafted, summary("After leaving.")).await;

        // A published version is a shared-resource event too; the draft of
        // a next version is its institution's only, never told.
        let mut expected = vec![
            ("resource.updated".to_string(), shared.clone()),
            ("resource.version_published".to_string(), shared.clone()),
            ("resource.published".to_string(), drafted.clone()),
            ("resource.version_published".to_string(), drafted.clone()),
            ("resource.updated".to_string(), theirs.clone()),
            ("resource.version_published".to_string(), theirs.clone()),
            ("resource.updated".to_string(), private.clone()),
            ("resource.visibility_changed".to_string(), private.clone()),
            ("resource.version_published".to_string(), private.clone()),
            ("resource.visibility_changed".to_string(), private.clone()),
        ];
        expected.sort();
        // Messages are queued in the transaction of each change: the log
        // is complete once the requests above have answered.
        let log = body_of(
            call(
                &app,
                Method::GET,
                &format!("{hooks}/{hook_id}/deliveries?limit=100"),
                Some(&coord.access),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(
            log["items"].as_array().unwrap().len(),
            expected.len(),
            "{log}"
        );
        let got = receiver.wait_for(expected.len()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(seen(&receiver.received()), expected, "{got:?}");
    }
);
