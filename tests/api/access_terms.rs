//! Dataset access after the security review, over HTTP: file links are
//! paths and GET only, the monthly transparency report, verified
//! institutions only, the brake on repeated requests, who sets a dataset's
//! terms, links that outlive their file, revocation and expiry, the country
//! that counts at approval, grants attached only where needed, and
//! reminders that skip a decider's own request. (The helpers live in
//! `access.rs`.)

use chrono::{NaiveDateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::access::{
    Ds, INST, PURPOSE, act, approve, ask, asking, audited, count_of, follow, id_of, in_days,
    institution, link, mine, notification_kinds, on_behalf, outcome, person, redirected, requested,
    set_country, show, sovereignty, status, sweep, swept, world,
};
use crate::helpers::http::{body_of, call, invalid, send, typed};
use crate::helpers::institutions::{create, join, verify};
use crate::helpers::transparency::{
    REPORT, a_month_before, figures, into_last_month, last_month, mid_month, month, month_in, pair,
    report, report_at, report_path,
};
use crate::helpers::versions::edit_published;
use crate::helpers::{Account, Backend, TestApp, problem};

// ----- helpers ------------------------------------------------------------

fn link_path(ds: &Ds) -> String {
    format!("/api/v1/datasets/{}/files/{}/link", ds.id, ds.file)
}

fn dataset_path(ds: &Ds) -> String {
    format!("/api/v1/datasets/{}", ds.id)
}

/// How many file links were ever issued (rows in `file_links`).
async fn link_rows(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use kujenga::db::schema::file_links as fl;
    app.db
        .run(move |conn| fl::table.count().get_result::<i64>(conn))
        .await
        .unwrap()
}

/// Moves the creation of `user_id`'s requests (all of them when `None`) to `at`.
async fn requests_made_at(app: &TestApp, user_id: Option<&str>, at: NaiveDateTime) {
    use diesel::prelude::*;
    use kujenga::db::schema::access_requests as ar;
    let user = user_id.map(str::to_string);
    app.db
        .run(move |conn| match user {
            Some(u) => diesel::update(ar::table.filter(ar::requester_id.eq(u)))
                .set((ar::created_at.eq(at), ar::updated_at.eq(at)))
                .execute(conn),
            None => diesel::update(ar::table)
                .set((ar::created_at.eq(at), ar::updated_at.eq(at)))
                .execute(conn),
        })
        .await
        .unwrap();
}

/// Moves the issue of every link issued so far to `at`.
async fn links_issued_at(app: &TestApp, at: NaiveDateTime) {
    use diesel::prelude::*;
    use kujenga::db::schema::file_links as fl;
    app.db
        .run(move |conn| {
            diesel::update(fl::table)
                .set(fl::issued_at.eq(at))
                .execute(conn)
        })
        .await
        .unwrap();
}

/// Changes the published dataset `ds` through the draft of its next
/// version (`PATCH …/draft`, then `POST …/publish`): the new version, or
/// the draft's refusal.
async fn patch(app: &TestApp, token: &str, ds: &Ds, body: Value) -> reqwest::Response {
    edit_published(app, Some(token), &dataset_path(ds), body).await
}

async fn dataset_as(app: &TestApp, token: &str, ds: &Ds) -> Value {
    body_of(app.get_auth(&dataset_path(ds), token).await, 200).await
}

/// `who` leaves institution `slug` (204).
async fn leave(app: &TestApp, who: &Account, slug: &str) {
    let res = call(
        app,
        Method::DELETE,
        &format!("/api/v1/institutions/{slug}/members/{}", who.id),
        Some(&who.access),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
}

/// The newest `dataset.file_link_issued` event of `who` for `ds`'s file.
async fn last_link_event(app: &TestApp, root: &Account, who: &Account, ds: &Ds) -> Value {
    audited(app, root, "dataset.file_link_issued")
        .await
        .into_iter()
        .find(|e| e["actor_id"] == who.id.as_str() && e["subject_id"] == ds.file.as_str())
        .expect("a link event")
}

/// Issues a link (200): its url, and the audit event that recorded it.
async fn issued(app: &TestApp, root: &Account, who: &Account, ds: &Ds) -> (String, Value) {
    let (got, body) = outcome(link(app, Some(&who.access), ds, "").await).await;
    assert_eq!(got, "200", "{body}");
    let event = last_link_event(app, root, who, ds).await;
    (body["url"].as_str().unwrap().to_string(), event)
}

/// The one audit event of `action` about request `id`.
async fn event_of(app: &TestApp, root: &Account, action: &str, id: &str) -> Value {
    let found: Vec<Value> = audited(app, root, action)
        .await
        .into_iter()
        .filter(|e| e["subject_id"] == id)
        .collect();
    assert_eq!(found.len(), 1, "{action} of {id}: {found:?}");
    found[0].clone()
}

// ----- file links: paths, GET only ----------------------------------------------------

api_test!(file_links_are_paths_and_answer_only_get, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let open = w
        .dataset("Open corpus", json!({"access_level": "open"}))
        .await;
    let restricted = w.dataset("Restricted corpus", json!({})).await;

    // Whatever host a request claims, the link is a path on the API's own
    // origin (`outcome` checks its shape).
    let spoofed = [
        ("host", "evil.example"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "gopher"),
        ("forwarded", "host=evil.example;proto=gopher"),
    ];
    for header in spoofed {
        let res = send(app, Method::GET, &link_path(&open), None, None, &[header]).await;
        let (got, body) = outcome(res).await;
        assert_eq!(got, "200", "{header:?}: {body}");
        let url = body["url"].as_str().unwrap();
        assert!(!url.contains("evil") && !url.contains("gopher"), "{url}");
        redirected(app, url, &open.url).await;
    }
    let rows = link_rows(app).await;
    assert_eq!(rows, 4);
    let events = audited(app, &w.root, "dataset.file_link_issued")
        .await
        .len();
    assert_eq!(events, 4);

    // HEAD would issue (and audit) a link nobody receives: 405, like every
    // other method but GET.
    let member = Some(w.member.access.as_str());
    for (ds, token) in [(&open, None), (&open, member), (&restricted, member)] {
        let res = send(app, Method::HEAD, &link_path(ds), token, None, &[]).await;
        assert_eq!(res.status(), 405, "HEAD {}", link_path(ds));
        let allow = res.headers()["allow"].to_str().unwrap().to_string();
        assert!(allow.contains("GET"), "{allow}");
        assert!(!allow.contains("HEAD"), "{allow}");
    }
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let res = send(app, method.clone(), &link_path(&open), member, None, &[]).await;
        problem(res, 405).await;
    }
    assert_eq!(link_rows(app).await, rows, "no link written");
    assert_eq!(
        audited(app, &w.root, "dataset.file_link_issued")
            .await
            .len(),
        events,
        "nothing audited"
    );
    into_last_month(app).await;
    let (m, _) = last_month(app).await;
    assert_eq!(pair(&m, Some("KE"), None)["links_issued"], "<5");
    assert_eq!(m["pairs"].as_array().unwrap().len(), 1, "{m}");
});

// ----- the transparency report, month by month -------------------------------------------

api_test!(
    the_transparency_report_counts_each_event_in_its_month,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let ds = w.dataset("Monthly corpus", json!({})).await;
        let mut ng = Vec::new();
        for i in 0..5 {
            ng.push(person(app, &format!("ng{i}@example.org"), Some("NG")).await);
        }
        let tz = person(app, "tz@example.org", Some("TZ")).await;
        let mut ng_requests = Vec::new();
        for who in &ng {
            ng_requests.push(id_of(&requested(app, who, &ds.id).await));
        }
        let tz_request = id_of(&requested(app, &tz, &ds.id).await);
        // They were made on the 15th two months ago, at noon…
        let (earlier, last) = (month(-2), month(-1));
        let made = mid_month(&earlier);
        requests_made_at(app, None, made).await;
        // …and are decided now, which is then moved into last month.
        for id in &ng_requests {
            approve(app, &w.owner.access, id).await;
        }
        body_of(
            act(
                app,
                Some(&w.owner.access),
                &tz_request,
                "reject",
                Some(json!({"note": "No."})),
            )
            .await,
            200,
        )
        .await;
        let decided = Utc::now().naive_utc();
        // Each grantee downloaded once two months ago…
        for who in &ng {
            let (got, _) = outcome(link(app, Some(&who.access), &ds, "").await).await;
            assert_eq!(got, "200");
        }
        links_issued_at(app, made + chrono::Duration::hours(1)).await;
        into_last_month(app).await;
        // …and one again now: this month has not ended, it is not reported.
        let (got, _) = outcome(link(app, Some(&ng[0].access), &ds, "").await).await;
        assert_eq!(got, "200");

        let (r, _) = report(app, &month(-3), &last).await;
        let s = json!("<5");
        let zero = json!(0);
        let before = month_in(&r, &month(-3));
        assert_eq!(before["pairs"], json!([]), "{r}");
        assert_eq!(before["median_hours_to_decision"], Value::Null);

        // Requests count in the month they were made, links in the month
        // they were issued…
        let then = month_in(&r, &earlier);
        assert_eq!(then["pairs"].as_array().unwrap().len(), 2, "{then}");
        assert_eq!(
            pair(&then, Some("KE"), Some("NG")),
            figures(json!(5), zero.clone(), zero.clone(), json!(5))
        );
        assert_eq!(
            pair(&then, Some("KE"), Some("TZ")),
            figures(s.clone(), zero.clone(), zero.clone(), zero.clone())
        );
        assert_eq!(
            then["median_hours_to_decision"],
            Value::Null,
            "no decision that month"
        );
        // …decisions in the month they were made.
        let after = month_in(&r, &last);
        assert_eq!(after["pairs"].as_array().unwrap().len(), 2, "{after}");
        assert_eq!(
            pair(&after, Some("KE"), Some("NG")),
            figures(zero.clone(), json!(5), zero.clone(), zero.clone()),
            "no link this month"
        );
        assert_eq!(
            pair(&after, Some("KE"), Some("TZ")),
            figures(zero.clone(), zero.clone(), s.clone(), zero.clone())
        );
        let median = after["median_hours_to_decision"]
            .as_f64()
            .unwrap_or_else(|| panic!("six decisions last month: {after}"));
        let waited = (a_month_before(decided) - made).num_seconds() as f64 / 3600.0;
        assert!(
            (median - waited).abs() < 1.0,
            "from the request to the decision: {median} vs {waited}"
        );
        // Each month reads the same alone as within a range.
        let (alone, _) = report(app, &earlier, &earlier).await;
        assert_eq!(alone["months"][0], then);
        let (alone, _) = report(app, &last, &last).await;
        assert_eq!(alone["months"][0], after);
        // The default range ends with last month.
        let (d, _) = report_at(app, "").await;
        assert_eq!(d["to"], last, "{d}");
        assert_eq!(month_in(&d, &earlier), then);
        assert_eq!(month_in(&d, &last), after);
    }
);

api_test!(the_transparency_report_takes_whole_months, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let (last, this) = (month(-1), month(0));
    // One month; a year; the longest range, 36 months.
    let (r, _) = report(app, "2026-01", "2026-01").await;
    assert_eq!(r["months"].as_array().unwrap().len(), 1);
    let (r, _) = report(app, "2025-01", "2025-12").await;
    assert_eq!(r["months"].as_array().unwrap().len(), 12);
    let (r, _) = report(app, "2023-01", "2025-12").await;
    assert_eq!(r["months"].as_array().unwrap().len(), 36);
    let (r, _) = report(app, &month(-36), &last).await;
    assert_eq!(r["months"].as_array().unwrap().len(), 36);
    // The first months of the calendar, across a year's end.
    report(app, "1900-01", "1900-12").await;
    let (r, _) = report(app, "2025-11", "2026-02").await;
    assert_eq!(
        r["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["month"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["2025-11", "2025-12", "2026-01", "2026-02"]
    );
    // Either end alone: a year ending with `to`; from `from` to last month.
    let (r, _) = report_at(app, "?to=2025-06").await;
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str()),
        (Some("2024-07"), Some("2025-06"))
    );
    let (r, _) = report_at(app, &format!("?from={}", month(-3))).await;
    assert_eq!(r["to"], last.as_str());
    assert_eq!(r["months"].as_array().unwrap().len(), 3);
    let (r, _) = report_at(app, &format!("?from={last}")).await;
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str()),
        (Some(&*last), Some(&*last))
    );
    // Neither: the twelve months ending with last month.
    let (r, _) = report_at(app, "").await;
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str()),
        (Some(&*month(-12)), Some(&*last))
    );
    assert_eq!(r["months"].as_array().unwrap().len(), 12);
    assert_eq!(r["months"][11]["month"], last.as_str());

    // Only months that have ended: `to` this month or later is wrong,
    // and so is any month of year 9999.
    for to in [this.clone(), month(1), month(12)] {
        invalid(app.get(&report_path(&last, &to)).await, &["to"]).await;
        invalid(app.get(&report_path(&to, &to)).await, &["to"]).await;
        invalid(app.get(&format!("{REPORT}?to={to}")).await, &["to"]).await;
    }
    invalid(app.get(&report_path("9999-01", "9999-12")).await, &["to"]).await;
    invalid(app.get(&format!("{REPORT}?to=9999-12")).await, &["to"]).await;
    // Too long a range, or backwards: `from` is wrong.
    invalid(app.get(&report_path("2023-01", "2026-01")).await, &["from"]).await;
    invalid(app.get(&report_path("2010-01", "2026-01")).await, &["from"]).await;
    invalid(app.get(&report_path(&month(-37), &last)).await, &["from"]).await;
    invalid(app.get(&report_path("2026-02", "2026-01")).await, &["from"]).await;
    // `from` alone this month or later: after the default `to`.
    for from in [this.clone(), month(1)] {
        invalid(app.get(&format!("{REPORT}?from={from}")).await, &["from"]).await;
    }
    // Not a month: 400 naming the field.
    for bad in [
        "2026-13",
        "2026-00",
        "1899-12",
        "10000-01",
        "-262143-01",
        "2026-11-01",
        "2026-1",
        "26-01",
        "%2B2026-01",
        "2026-1a",
        "yesterday",
        "",
    ] {
        invalid(app.get(&report_path(bad, &last)).await, &["from"]).await;
        invalid(app.get(&report_path("2026-01", bad)).await, &["to"]).await;
        invalid(app.get(&format!("{REPORT}?to={bad}")).await, &["to"]).await;
        invalid(app.get(&format!("{REPORT}?from={bad}")).await, &["from"]).await;
    }

    // ETags: an unchanged report is not sent again.
    let res = app.get(&report_path("2026-01", "2026-03")).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = send(
        app,
        Method::GET,
        &report_path("2026-01", "2026-03"),
        None,
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(res.status(), 304);
});

// ----- only verified institutions speak for anyone --------------------------------------

api_test!(
    only_a_verified_institution_counts_for_a_request_or_a_link,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let restricted = w
            .dataset(
                "Listed corpus",
                json!({"transfer_policy": "allowed_countries", "allowed_countries": ["TZ"]}),
            )
            .await;
        let open = w
            .dataset(
                "Listed open corpus",
                json!({"access_level": "open", "transfer_policy": "allowed_countries",
                       "allowed_countries": ["TZ"]}),
            )
            .await;
        // Someone in UG founds a "TZ" institution nobody has vouched for.
        let ug = person(app, "ug@example.org", Some("UG")).await;
        create(app, &ug.access, institution("tz-lab", "TZ")).await;

        // Alone, the transfer policy refuses them.
        typed(
            ask(app, Some(&ug.access), &restricted.id, asking(30)).await,
            403,
            "transfer-not-allowed",
        )
        .await;
        let (got, _) = outcome(link(app, Some(&ug.access), &open, "").await).await;
        assert_eq!(got, "403 transfer-not-allowed");
        // On behalf of the unverified institution: 400, naming `institution`.
        let p = invalid(
            ask(app, Some(&ug.access), &restricted.id, on_behalf("tz-lab")).await,
            &["institution"],
        )
        .await;
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("verified"),
            "{p}"
        );
        let p = invalid(
            link(app, Some(&ug.access), &open, "?institution=tz-lab").await,
            &["institution"],
        )
        .await;
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("verified"),
            "{p}"
        );
        // Nothing written, nobody told.
        assert!(mine(app, &ug.access, "").await.is_empty());
        assert!(
            audited(app, &w.root, "access_request.created")
                .await
                .is_empty()
        );
        assert!(
            audited(app, &w.root, "dataset.file_link_issued")
                .await
                .is_empty()
        );
        assert_eq!(link_rows(app).await, 0);
        assert_eq!(
            app.count_emails(&w.owner.email, "access_requested").await,
            0
        );

        // Once an administrator has verified it, its country counts.
        verify(app, &w.root.access, "tz-lab").await;
        let r = body_of(
            ask(app, Some(&ug.access), &restricted.id, on_behalf("tz-lab")).await,
            201,
        )
        .await;
        assert_eq!(r["institution"], "tz-lab", "{r}");
        let made = event_of(app, &w.root, "access_request.created", &id_of(&r)).await;
        assert_eq!(made["detail"]["to_country"], "TZ", "{made}");
        let (got, _) =
            outcome(link(app, Some(&ug.access), &open, "?institution=tz-lab").await).await;
        assert_eq!(got, "200");
        let e = last_link_event(app, &w.root, &ug, &open).await;
        assert_eq!(e["detail"]["to_country"], "TZ", "{e}");
    }
);

// ----- the brake on repeated requests ---------------------------------------------------

api_test!(
    a_person_asks_for_a_dataset_at_most_three_times_a_day,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let ds = w.dataset("Popular corpus", json!({})).await;
        let other = w.dataset("Other corpus", json!({})).await;
        let alice = person(app, "alice@example.org", Some("KE")).await;
        let bob = person(app, "bob@example.org", Some("KE")).await;
        let a = Some(alice.access.as_str());
        // Ask, withdraw, ask again: three times…
        for _ in 0..3 {
            let r = requested(app, &alice, &ds.id).await;
            body_of(act(app, a, &id_of(&r), "withdraw", None).await, 200).await;
        }
        // …and the fourth is braked: 429 with Retry-After, nothing written,
        // nobody told again.
        for _ in 0..2 {
            let res = ask(app, a, &ds.id, asking(30)).await;
            let retry = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .expect("Retry-After in seconds");
            assert!(retry > 0);
            problem(res, 429).await;
        }
        assert_eq!(mine(app, &alice.access, "").await.len(), 3);
        assert_eq!(
            audited(app, &w.root, "access_request.created").await.len(),
            3
        );
        for decider in [&w.owner, &w.editor] {
            assert_eq!(
                app.count_emails(&decider.email, "access_requested").await,
                3
            );
            assert_eq!(
                count_of(&notification_kinds(app, decider).await, "access_requested"),
                3
            );
        }
        // Per person and dataset: another dataset, another person are not braked.
        requested(app, &alice, &other.id).await;
        requested(app, &bob, &ds.id).await;
        // A day later, she may ask again.
        requests_made_at(
            app,
            Some(&alice.id),
            Utc::now().naive_utc() - chrono::Duration::hours(25),
        )
        .await;
        requested(app, &alice, &ds.id).await;
    }
);

// ----- who sets a dataset's terms -------------------------------------------------------

api_test!(only_the_institution_sets_a_datasets_terms, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w
        .dataset(
            "Termed corpus",
            json!({"transfer_policy": "allowed_countries", "allowed_countries": ["NG"]}),
        )
        .await;
    let root = w.root.access.as_str();
    let before = dataset_as(app, &w.owner.access, &ds).await;
    assert_eq!(before["access_level"], "restricted");
    assert_eq!(before["origin_country"], "KE");
    // An admin (in no institution) may not change the terms: they could
    // otherwise open the data to themselves.
    let cases: Vec<(&str, Value)> = vec![
        ("the access level", json!({"access_level": "open"})),
        (
            "the transfer policy",
            json!({"transfer_policy": "unrestricted"}),
        ),
        (
            "the allowed countries",
            json!({"allowed_countries": ["NG", "US"]}),
        ),
        ("the origin country", json!({"origin_country": "TZ"})),
        (
            "a term along with another field",
            json!({"summary": "Changed.", "access_level": "registered"}),
        ),
    ];
    for (case, body) in cases {
        typed(patch(app, root, &ds, body).await, 403, "insufficient-role").await;
        assert_eq!(
            dataset_as(app, &w.owner.access, &ds).await,
            before,
            "{case}: unchanged"
        );
    }
    assert!(audited(app, &w.root, "resource.updated").await.is_empty());
    let (got, _) = outcome(link(app, Some(root), &ds, "").await).await;
    assert_eq!(got, "403 access-grant-required", "still restricted");
    // Other fields they may change; restating the terms as they are is no change.
    let d = body_of(
        patch(
            app,
            root,
            &ds,
            json!({"summary": "Edited by an admin.", "access_level": "restricted",
                   "allowed_countries": ["NG"]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(d["summary"], "Edited by an admin.");
    assert_eq!(d["access_level"], "restricted");

    // The institution's editors and owners may change them.
    let d = body_of(
        patch(
            app,
            &w.editor.access,
            &ds,
            json!({"access_level": "registered", "transfer_policy": "unrestricted"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(d["access_level"], "registered");
    assert_eq!(d["transfer_policy"], "unrestricted");
    let d = body_of(
        patch(app, &w.owner.access, &ds, json!({"origin_country": "TZ"})).await,
        200,
    )
    .await;
    assert_eq!(d["origin_country"], "TZ");
    // So may an admin who is one of its editors.
    join(app, &w.owner.access, INST, &w.root, "editor").await;
    let d = body_of(
        patch(app, root, &ds, json!({"access_level": "open"})).await,
        200,
    )
    .await;
    assert_eq!(d["access_level"], "open");
    let (got, _) = outcome(link(app, None, &ds, "").await).await;
    assert_eq!(got, "200");
});

// ----- links outlive their file --------------------------------------------------------

api_test!(
    links_to_a_deleted_file_are_gone_but_still_counted,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let open = w
            .dataset("Open corpus", json!({"access_level": "open"}))
            .await;
        let restricted = w.dataset("Restricted corpus", json!({})).await;
        let tz = person(app, "tz@example.org", Some("TZ")).await;
        approve(
            app,
            &w.owner.access,
            &id_of(&requested(app, &tz, &restricted.id).await),
        )
        .await;
        let mut urls = Vec::new();
        for _ in 0..5 {
            let (got, body) = outcome(link(app, None, &open, "").await).await;
            assert_eq!(got, "200");
            urls.push(body["url"].as_str().unwrap().to_string());
        }
        let (granted, _) = issued(app, &w.root, &tz, &restricted).await;
        redirected(app, &granted, &restricted.url).await;
        for ds in [&open, &restricted] {
            let res = call(
                app,
                Method::DELETE,
                &format!("/api/v1/datasets/{}/files/{}", ds.id, ds.file),
                Some(&w.owner.access),
                None,
            )
            .await;
            assert_eq!(res.status(), 204);
        }
        // Following a link to a removed file: 410 file-removed.
        for url in urls.iter().chain([&granted]) {
            typed(follow(app, url).await, 410, "file-removed").await;
        }
        // No new links to it.
        let (got, _) = outcome(link(app, None, &open, "").await).await;
        assert_eq!(got, "404");
        let (got, _) = outcome(link(app, Some(&tz.access), &restricted, "").await).await;
        assert_eq!(got, "404");
        // The links issued stay in the report.
        assert_eq!(link_rows(app).await, 6);
        into_last_month(app).await;
        let (m, _) = last_month(app).await;
        assert_eq!(pair(&m, Some("KE"), None)["links_issued"], 5, "{m}");
        assert_eq!(
            pair(&m, Some("KE"), Some("TZ"))["links_issued"],
            "<5",
            "{m}"
        );
    }
);

// ----- the country that counts at approval -------------------------------------------------

api_test!(an_approval_counts_the_country_as_it_is_then, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w
        .dataset(
            "East African corpus",
            json!({"transfer_policy": "allowed_countries", "allowed_countries": ["UG", "TZ"]}),
        )
        .await;
    let root = &w.root;
    // Alice asks from TZ and has moved to UG by the time she is approved.
    let alice = person(app, "alice@example.org", Some("TZ")).await;
    let a = id_of(&requested(app, &alice, &ds.id).await);
    let made = event_of(app, root, "access_request.created", &a).await;
    assert_eq!(made["detail"]["to_country"], "TZ");
    set_country(app, &alice, Some("UG")).await;
    approve(app, &w.owner.access, &a).await;
    let approved = event_of(app, root, "access_request.approved", &a).await;
    assert_eq!(approved["detail"]["from_country"], "KE", "{approved}");
    assert_eq!(approved["detail"]["to_country"], "UG", "{approved}");
    let (_, e) = issued(app, root, &alice, &ds).await;
    assert_eq!(e["detail"]["to_country"], "UG", "{e}");

    // On behalf of an institution, its country counts, wherever the person is.
    let bob = person(app, "bob@example.org", Some("TZ")).await;
    create(app, &bob.access, institution("ug-lab", "UG")).await;
    verify(app, &root.access, "ug-lab").await;
    let b = id_of(
        &body_of(
            ask(app, Some(&bob.access), &ds.id, on_behalf("ug-lab")).await,
            201,
        )
        .await,
    );
    set_country(app, &bob, Some("KE")).await;
    approve(app, &w.owner.access, &b).await;
    let approved = event_of(app, root, "access_request.approved", &b).await;
    assert_eq!(approved["detail"]["to_country"], "UG", "{approved}");

    // A rejection re-checks nothing.
    let carol = person(app, "carol@example.org", Some("TZ")).await;
    let c = id_of(&requested(app, &carol, &ds.id).await);
    set_country(app, &carol, Some("NG")).await;
    body_of(
        act(
            app,
            Some(&w.owner.access),
            &c,
            "reject",
            Some(json!({"note": "No."})),
        )
        .await,
        200,
    )
    .await;
    let rejected = event_of(app, root, "access_request.rejected", &c).await;
    assert_eq!(rejected["detail"]["to_country"], "TZ", "{rejected}");

    // The report counts the approvals where the data went.
    into_last_month(app).await;
    let (m, _) = last_month(app).await;
    assert_eq!(pair(&m, Some("KE"), Some("UG"))["approvals"], "<5", "{m}");
    assert_eq!(pair(&m, Some("KE"), Some("TZ"))["approvals"], 0, "{m}");
    assert_eq!(pair(&m, Some("KE"), Some("TZ"))["rejections"], "<5", "{m}");
});

// ----- grants only where they are needed -------------------------------------------------

api_test!(a_grant_is_attached_to_a_link_only_where_needed, |backend| {
    let s = sovereignty(backend).await;
    let (w, app) = (&s.w, &s.w.app);
    let root = &w.root;
    let owner = w.owner.access.as_str();
    // tz holds grants on behalf of ng-lab for two restricted datasets.
    let opened = w.dataset("Opened corpus", json!({})).await;
    let kept = w.dataset("Kept corpus", json!({})).await;
    let mut grants = Vec::new();
    for ds in [&opened, &kept] {
        let r = body_of(
            ask(app, Some(&s.tz.access), &ds.id, on_behalf("ng-lab")).await,
            201,
        )
        .await;
        approve(app, owner, &id_of(&r)).await;
        grants.push(id_of(&r));
    }
    let (_, e) = issued(app, root, &s.tz, &opened).await;
    assert_eq!(e["detail"]["access_request_id"], grants[0].as_str());
    assert_eq!(e["detail"]["to_country"], "NG");
    // While the claim holds, a grant blocks a second request.
    typed(
        ask(app, Some(&s.tz.access), &kept.id, asking(30)).await,
        409,
        "access-already-granted",
    )
    .await;

    // One dataset becomes `registered`; tz leaves ng-lab.
    body_of(
        patch(app, owner, &opened, json!({"access_level": "registered"})).await,
        200,
    )
    .await;
    leave(app, &s.tz, "ng-lab").await;
    // A registered dataset needs no grant: the lapsed one does not stand in
    // the way, and tz downloads as themselves.
    let (_, e) = issued(app, root, &s.tz, &opened).await;
    assert_eq!(e["detail"]["access_request_id"], Value::Null, "{e}");
    assert_eq!(e["detail"]["to_country"], "TZ", "{e}");
    // Where a grant is needed, the lapsed claim still refuses.
    let (got, _) = outcome(link(app, Some(&s.tz.access), &kept, "").await).await;
    assert_eq!(got, "403 no-longer-a-member");
    // …and no longer blocks asking again, alone.
    let again = body_of(
        ask(app, Some(&s.tz.access), &kept.id, asking(730)).await,
        201,
    )
    .await;
    assert_eq!(again["institution"], Value::Null);
    approve(app, owner, &id_of(&again)).await;
    let (_, e) = issued(app, root, &s.tz, &kept).await;
    assert_eq!(e["detail"]["access_request_id"], id_of(&again).as_str());
    assert_eq!(e["detail"]["to_country"], "TZ");

    // A link on an open dataset does not die with a grant.
    let ke = &s.ke;
    let ds = w.dataset("Revoked corpus", json!({})).await;
    let g = id_of(&requested(app, ke, &ds.id).await);
    approve(app, owner, &g).await;
    let (under_grant, e) = issued(app, root, ke, &ds).await;
    assert_eq!(e["detail"]["access_request_id"], g.as_str());
    body_of(
        patch(app, owner, &ds, json!({"access_level": "open"})).await,
        200,
    )
    .await;
    let (open_link, e) = issued(app, root, ke, &ds).await;
    assert_eq!(e["detail"]["access_request_id"], Value::Null, "{e}");
    body_of(
        act(app, Some(owner), &g, "revoke", Some(json!({}))).await,
        200,
    )
    .await;
    redirected(app, &open_link, &ds.url).await;
    typed(follow(app, &under_grant).await, 410, "access-ended").await;

    // Nor does an insider's link.
    let inside = w.dataset("Insider corpus", json!({})).await;
    let g = id_of(&requested(app, &s.gh, &inside.id).await);
    approve(app, owner, &g).await;
    join(app, owner, INST, &s.gh, "member").await;
    let (url, e) = issued(app, root, &s.gh, &inside).await;
    assert_eq!(e["detail"]["access_request_id"], Value::Null, "{e}");
    assert_eq!(
        e["detail"]["to_country"], "KE",
        "insiders count as the owner"
    );
    body_of(
        act(app, Some(owner), &g, "revoke", Some(json!({}))).await,
        200,
    )
    .await;
    redirected(app, &url, &inside.url).await;
});

api_test!(
    a_personal_grant_counts_after_a_lapsed_institutional_one,
    |backend| {
        let s = sovereignty(backend).await;
        let (w, app) = (&s.w, &s.w.app);
        let ds = w.dataset("Kept corpus", json!({})).await;
        // 90 days on behalf of ng-lab; tz leaves ng-lab.
        let r = body_of(
            ask(app, Some(&s.tz.access), &ds.id, on_behalf("ng-lab")).await,
            201,
        )
        .await;
        approve(app, &w.owner.access, &id_of(&r)).await;
        leave(app, &s.tz, "ng-lab").await;
        // 30 days alone, approved: ends before the lapsed grant would.
        let again = body_of(ask(app, Some(&s.tz.access), &ds.id, asking(30)).await, 201).await;
        approve(app, &w.owner.access, &id_of(&again)).await;
        let (got, body) = outcome(link(app, Some(&s.tz.access), &ds, "").await).await;
        assert_eq!(got, "200", "the personal grant is in force: {body}");
    }
);

// ----- reminders ---------------------------------------------------------------------------

api_test!(deciders_are_not_reminded_of_their_own_requests, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w.dataset("Awaited corpus", json!({})).await;
    let alice = person(app, "alice@example.org", Some("KE")).await;
    let bob = person(app, "bob@example.org", Some("KE")).await;
    let mine_id = id_of(&requested(app, &alice, &ds.id).await);
    // Alice becomes an editor while her request is pending.
    join(app, &w.owner.access, INST, &alice, "editor").await;
    assert_eq!(status(app, &alice.access, &mine_id).await, "pending");
    // Her own request is the only one: the owner and the editor are reminded.
    assert_eq!(sweep(app, in_days(8)).await, swept(0, 0, 2));
    assert_eq!(app.count_emails(&alice.email, "access_reminder").await, 0);
    assert_eq!(
        count_of(&notification_kinds(app, &alice).await, "access_reminder"),
        0
    );
    // With Bob's pending too, she is reminded, of Bob's only.
    let bobs = id_of(&requested(app, &bob, &ds.id).await);
    assert_eq!(sweep(app, in_days(16)).await, swept(0, 0, 3));
    assert_eq!(app.count_emails(&alice.email, "access_reminder").await, 1);
    let text = app.email_text(&alice.email, "access_reminder").await;
    assert!(text.contains(&bobs), "{text}");
    assert!(!text.contains(&mine_id), "{text}");
    let text = app.email_text(&w.owner.email, "access_reminder").await;
    assert!(text.contains(&bobs) && text.contains(&mine_id), "{text}");
    // She still sees her request.
    assert_eq!(show(app, &alice.access, &mine_id).await["purpose"], PURPOSE);
});
