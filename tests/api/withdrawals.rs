//! Deaccession, embargoes and retention (issue #19): a withdrawn resource
//! or version answers 410 with a tombstone and leaves lists, search, the
//! feed and the harvests; grants on it end, their holders told. File links
//! are refused under an embargo (403 `embargoed`) and after a retention
//! period (410 `retention-ended`); the periodic sweep lifts embargoes,
//! reminds owners and ends retention periods, on a test clock.

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::access::{
    Ds, approve, dataset, follow, in_days, link, outcome, person, requested, status, world,
};
use crate::helpers::http::{body_of, call, typed};
use crate::helpers::versions::edit_published;

fn path(id: &str, rest: &str) -> String {
    format!("/api/v1/datasets/{id}{rest}")
}

async fn deaccession(
    app: &crate::helpers::TestApp,
    token: Option<&str>,
    id: &str,
    body: Value,
) -> reqwest::Response {
    call(
        app,
        Method::POST,
        &path(id, "/deaccession"),
        token,
        Some(body),
    )
    .await
}

async fn sweep(
    app: &crate::helpers::TestApp,
    at: chrono::NaiveDateTime,
) -> kujenga::app::embargo::Swept {
    let st = app.state.clone();
    app.db
        .run(move |conn| kujenga::app::embargo::sweep(conn, &st, at))
        .await
        .unwrap()
}

/// "Radio speech", published (1.0), then retitled (1.1).
async fn radio_speech_at_1_1(w: &crate::helpers::access::World) -> Ds {
    let ds = w.dataset("Radio speech", json!({})).await;
    let res = edit_published(
        &w.app,
        Some(&w.owner.access),
        &path(&ds.id, ""),
        json!({"title": "Radio speech, cleaned"}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    ds
}

/// The body of `POST …/files` for a file `name`, with `extra` fields.
fn file_body(name: &str, extra: Value) -> Value {
    let mut body = json!({"name": name, "url": format!("https://data.example.org/{name}"),
                          "media_type": "text/csv", "size_bytes": 1, "sha256": "cd".repeat(32)});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

fn stamp(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

api_test!(
    a_withdrawn_dataset_answers_with_its_tombstone_everywhere,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let owner = Some(w.owner.access.as_str());
        let ds = w
            .dataset("Radio speech", json!({"access_level": "restricted"}))
            .await;
        // A grant holder, and a link issued under the grant before.
        let reader = person(app, "reader@example.org", Some("KE")).await;
        let req = requested(app, &reader, &ds.id).await;
        let req_id = req["id"].as_str().unwrap().to_string();
        approve(app, &w.owner.access, &req_id).await;
        let (code, issued) = outcome(link(app, Some(&reader.access), &ds, "").await).await;
        assert_eq!(code, "200", "{issued}");
        let old_link = issued["url"].as_str().unwrap().to_string();

        // Bad input changes nothing: no reason, a reason of spaces, a label
        // that is none.
        for body in [
            json!({}),
            json!({"reason": "   "}),
            json!({"reason": "x", "version": "one"}),
            json!({"reason": "x", "extra": 1}),
        ] {
            let res = deaccession(app, owner, &ds.id, body.clone()).await;
            assert_eq!(res.status().as_u16(), 400, "{body}");
            assert_eq!(
                res.headers()["content-type"].to_str().unwrap(),
                "application/problem+json"
            );
        }
        // Who may: owners (and admins); an editor or a member may not; a
        // stranger who cannot see it gets a 404.
        typed(
            deaccession(app, Some(&w.editor.access), &ds.id, json!({"reason": "x"})).await,
            403,
            "insufficient-role",
        )
        .await;
        let stranger = app.signup("stranger@example.org").await;
        let res = deaccession(app, None, &ds.id, json!({"reason": "x"})).await;
        assert_eq!(res.status().as_u16(), 401);
        let res = deaccession(app, Some(&stranger.access), &ds.id, json!({"reason": "x"})).await;
        assert_eq!(res.status().as_u16(), 403);
        body_of(app.get(&path(&ds.id, "")).await, 200).await;

        // A harvester has seen it.
        let oai = format!(
            "/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:localhost:{}",
            ds.id
        );
        let xml = app.get(&oai).await.text().await.unwrap();
        assert!(xml.contains("<metadata>"), "{xml}");
        // A client in sync.
        let start = body_of(app.get("/api/v1/changes").await, 200).await;
        let cursor = start["cursor"].as_str().expect("a cursor").to_string();

        // Withdrawn.
        let reason = "Consent withdrawn by the speakers' community.";
        let t = body_of(
            deaccession(
                app,
                owner,
                &ds.id,
                json!({"reason": format!("  {reason} ")}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(t["id"], ds.id.as_str());
        assert_eq!(t["title"], "Radio speech");
        assert_eq!(t["institution"], "ke-lab");
        assert_eq!(t["version"], "1.0");
        assert_eq!(t["reason"], reason);
        assert_eq!(t["whole"], true);
        assert!(
            t["citation"].as_str().unwrap().contains("Radio speech"),
            "{t}"
        );

        // Every read of it answers 410 with the tombstone, for anyone who could
        // see it; the same for its versions, its draft and its citation.
        for who in [None, owner, Some(stranger.access.as_str())] {
            for rest in ["", "/versions", "/versions/1.0", "/files"] {
                let res = call(app, Method::GET, &path(&ds.id, rest), who, None).await;
                let body = typed(res, 410, "deaccessioned").await;
                assert_eq!(body["tombstone"]["reason"], reason, "{rest}: {body}");
                assert_eq!(body["tombstone"]["title"], "Radio speech");
            }
        }
        // Nothing changes it any more.
        typed(
            deaccession(app, owner, &ds.id, json!({"reason": "again"})).await,
            410,
            "deaccessioned",
        )
        .await;
        let res = call(
            app,
            Method::PATCH,
            &path(&ds.id, "/draft"),
            owner,
            Some(json!({"title": "x"})),
        )
        .await;
        assert_eq!(res.status().as_u16(), 410);

        // Gone from lists and search, for the public and for its owners.
        for who in [None, owner] {
            let page = body_of(
                call(app, Method::GET, "/api/v1/datasets?limit=100", who, None).await,
                200,
            )
            .await;
            assert!(
                !page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["id"] == ds.id.as_str()),
                "{page}"
            );
            let found = body_of(
                call(app, Method::GET, "/api/v1/resources?q=radio", who, None).await,
                200,
            )
            .await;
            assert_eq!(found["items"].as_array().unwrap().len(), 0, "{found}");
        }
        // The harvest has it as a deleted record; the feed as a deletion.
        let xml = app.get(&oai).await.text().await.unwrap();
        assert!(
            xml.contains("<header status=\"deleted\">") && !xml.contains("<metadata>"),
            "{xml}"
        );
        let feed = body_of(
            app.get(&format!("/api/v1/changes?limit=100&since={cursor}"))
                .await,
            200,
        )
        .await;
        let last = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|c| c["id"] == ds.id.as_str())
            .cloned()
            .expect("the dataset in the feed");
        assert_eq!(last["deleted"], true, "{feed}");
        let ttl = app.get("/api/v1/catalog.ttl").await.text().await.unwrap();
        assert!(!ttl.contains(&ds.id), "{ttl}");

        // The grant ended at once, its holder told; the link issued before is
        // refused.
        assert_eq!(status(app, &reader.access, &req_id).await, "expired");
        assert_eq!(
            app.count_emails("reader@example.org", "access_ended").await,
            1
        );
        let res = follow(app, &old_link).await;
        typed(res, 410, "deaccessioned").await;

        // The event, with what it ended.
        let events = body_of(
            app.get_auth(
                "/api/v1/audit-events?limit=100&action=resource.deaccessioned",
                &w.root.access,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
    }
);

api_test!(
    a_private_withdrawn_dataset_stays_hidden_and_a_draft_is_deleted_instead,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let owner = Some(w.owner.access.as_str());
        let ds = w
            .dataset("Clinic notes", json!({"visibility": "institution"}))
            .await;
        body_of(
            deaccession(app, owner, &ds.id, json!({"reason": "Legal."})).await,
            200,
        )
        .await;
        // Who could not see it before does not learn it exists.
        let res = call(app, Method::GET, &path(&ds.id, ""), None, None).await;
        assert_eq!(res.status().as_u16(), 404);
        let res = call(
            app,
            Method::GET,
            &path(&ds.id, ""),
            Some(&w.member.access),
            None,
        )
        .await;
        typed(res, 410, "deaccessioned").await;

        // A draft never published: 409, delete it.
        let created = body_of(
            app.post_json(
                "/api/v1/datasets",
                json!({"institution": "ke-lab", "title": "Unpublished"}),
                owner,
            )
            .await,
            201,
        )
        .await;
        let id = created["id"].as_str().unwrap();
        typed(
            deaccession(app, owner, id, json!({"reason": "x"})).await,
            409,
            "invalid-transition",
        )
        .await;
        body_of(app.get_auth(&path(id, ""), &w.owner.access).await, 200).await;
    }
);

api_test!(one_earlier_version_is_withdrawn_alone, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let owner = Some(w.owner.access.as_str());
    let ds = radio_speech_at_1_1(&w).await;
    let head = body_of(app.get(&path(&ds.id, "")).await, 200).await;
    assert_eq!(head["version_label"], "1.1", "{head}");

    // The latest version stays; a version it has not is a 404.
    typed(
        deaccession(app, owner, &ds.id, json!({"reason": "x", "version": "1.1"})).await,
        409,
        "deaccession-latest-version",
    )
    .await;
    let res = deaccession(app, owner, &ds.id, json!({"reason": "x", "version": "7.3"})).await;
    assert_eq!(res.status().as_u16(), 404);

    let t = body_of(
        deaccession(
            app,
            owner,
            &ds.id,
            json!({"reason": "Names left in.", "version": "1.0"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["version"], "1.0");
    assert_eq!(t["whole"], false);
    assert_eq!(t["title"], "Radio speech");
    assert!(
        t["citation"].as_str().unwrap().contains("/versions/1.0"),
        "{t}"
    );

    // 1.0 answers its tombstone, never its content; the diff with it too.
    let gone = typed(
        app.get(&path(&ds.id, "/versions/1.0")).await,
        410,
        "deaccessioned",
    )
    .await;
    assert_eq!(gone["tombstone"]["version"], "1.0");
    assert!(gone.get("summary").is_none() && gone.get("datasheet").is_none());
    assert_eq!(gone["title"], "Withdrawn");
    typed(
        app.get(&path(&ds.id, "/versions/1.0/diff/1.1")).await,
        410,
        "deaccessioned",
    )
    .await;
    // The resource and 1.1 stay.
    body_of(app.get(&path(&ds.id, "")).await, 200).await;
    body_of(app.get(&path(&ds.id, "/versions/1.1")).await, 200).await;
    let list = body_of(app.get(&path(&ds.id, "/versions")).await, 200).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0].get("deaccessioned").is_none(), "{list}");
    assert_eq!(
        items[1]["deaccessioned"]["reason"], "Names left in.",
        "{list}"
    );
    // Twice: its tombstone.
    typed(
        deaccession(app, owner, &ds.id, json!({"reason": "x", "version": "1.0"})).await,
        410,
        "deaccessioned",
    )
    .await;
});

/// A dataset under embargo, open to any signed-in reader otherwise.
async fn embargoed(w: &crate::helpers::access::World, until: chrono::DateTime<Utc>) -> Ds {
    dataset(
        &w.app,
        &w.owner.access,
        "Election speech",
        json!({"access_level": "registered", "embargo_until": stamp(until),
               "embargo_reason": "Until the paper is out."}),
    )
    .await
}

api_test!(an_embargo_refuses_files_until_it_lifts, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let until = Utc::now() + Duration::days(3);
    let ds = embargoed(&w, until).await;
    let read = body_of(app.get(&path(&ds.id, "")).await, 200).await;
    assert_eq!(read["embargo_until"], stamp(until), "{read}");
    assert_eq!(read["embargo_reason"], "Until the paper is out.");

    // An outsider is refused, with the date; its institution is not.
    let reader = person(app, "reader@example.org", Some("KE")).await;
    let res = link(app, Some(&reader.access), &ds, "").await;
    let body = typed(res, 403, "embargoed").await;
    assert_eq!(body["embargo_until"], stamp(until), "{body}");
    let (code, _) = outcome(link(app, Some(&w.member.access), &ds, "").await).await;
    assert_eq!(code, "200");

    // The sweep before the date does nothing; after it, the embargo lifts
    // once: the owners and the refused reader are told.
    assert_eq!(sweep(app, in_days(1)).await.embargoes_lifted, 0);
    let swept = sweep(app, in_days(4)).await;
    assert_eq!(swept.embargoes_lifted, 1);
    assert_eq!(sweep(app, in_days(5)).await.embargoes_lifted, 0);
    assert_eq!(
        app.count_emails("reader@example.org", "dataset_dates")
            .await,
        1
    );
    assert_eq!(
        app.count_emails("owner@ke-lab.example.org", "dataset_dates")
            .await,
        1
    );
    assert_eq!(
        app.count_emails("member@ke-lab.example.org", "dataset_dates")
            .await,
        0
    );

    // Dates that are wrong: an embargo in the past, a retention period
    // ending before the embargo (the draft is unchanged).
    let yesterday = stamp(Utc::now() - Duration::days(1));
    for (body, field) in [
        (json!({"embargo_until": yesterday}), "embargo_until"),
        (
            json!({"retention_until": stamp(until - Duration::days(1))}),
            "retention_until",
        ),
        (json!({"embargo_until": "soon"}), "embargo_until"),
        (
            json!({"embargo_reason": "x", "embargo_until": null}),
            "embargo_until",
        ),
    ] {
        let res = call(
            app,
            Method::PATCH,
            &path(&ds.id, "/draft"),
            Some(&w.owner.access),
            Some(body.clone()),
        )
        .await;
        let problem = typed(res, 400, "validation-error").await;
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body}: {problem}"
        );
    }
    let res = call(
        app,
        Method::GET,
        &path(&ds.id, "/draft"),
        Some(&w.owner.access),
        None,
    )
    .await;
    assert_eq!(res.status().as_u16(), 404, "no draft was made");
});

api_test!(an_embargo_lifts_by_itself_when_its_time_comes, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = embargoed(&w, Utc::now() + Duration::seconds(2)).await;
    let reader = person(app, "reader@example.org", Some("KE")).await;
    typed(
        link(app, Some(&reader.access), &ds, "").await,
        403,
        "embargoed",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (code, body) = outcome(link(app, Some(&reader.access), &ds, "").await).await;
    assert_eq!(code, "200", "{body}");
});

api_test!(a_file_may_carry_its_own_embargo, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = dataset(
        &w.app,
        &w.owner.access,
        "Open corpus",
        json!({"access_level": "registered"}),
    )
    .await;
    let until = Utc::now() + Duration::days(10);
    let file = |extra: Value| file_body("late.csv", extra);
    // In the past, or a reason without a date: 400, no file added.
    for extra in [
        json!({"embargo_until": stamp(Utc::now() - Duration::hours(1))}),
        json!({"embargo_reason": "Later."}),
    ] {
        let res = app
            .post_json(
                &path(&ds.id, "/files"),
                file(extra.clone()),
                Some(&w.owner.access),
            )
            .await;
        assert_eq!(res.status().as_u16(), 400, "{extra}");
    }
    let files = body_of(app.get(&path(&ds.id, "/files")).await, 200).await;
    assert_eq!(files["items"].as_array().unwrap().len(), 1);
    let added = body_of(
        app.post_json(
            &path(&ds.id, "/files"),
            file(json!({"embargo_until": stamp(until), "embargo_reason": "Later."})),
            Some(&w.owner.access),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(added["embargo_until"], stamp(until));
    let late = Ds {
        id: ds.id.clone(),
        file: added["id"].as_str().unwrap().to_string(),
        url: String::new(),
    };
    let reader = person(app, "reader@example.org", Some("KE")).await;
    typed(
        link(app, Some(&reader.access), &late, "").await,
        403,
        "embargoed",
    )
    .await;
    // The dataset's other file is not held.
    let (code, _) = outcome(link(app, Some(&reader.access), &ds, "").await).await;
    assert_eq!(code, "200");
    // The file's embargo lifts by the sweep; the reader asked, and is told.
    assert_eq!(sweep(app, in_days(11)).await.embargoes_lifted, 1);
    assert_eq!(
        app.count_emails("reader@example.org", "dataset_dates")
            .await,
        1
    );
});

api_test!(a_retention_period_reminds_then_ends_the_grants, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let end = Utc::now() + Duration::days(40);
    let ds = dataset(
        app,
        &w.owner.access,
        "Survey answers",
        json!({"retention_until": stamp(end)}),
    )
    .await;
    let reader = person(app, "reader@example.org", Some("KE")).await;
    let req = requested(app, &reader, &ds.id).await;
    let req_id = req["id"].as_str().unwrap().to_string();
    approve(app, &w.owner.access, &req_id).await;

    // 30 days before, then 7: one reminder each to the owners.
    assert_eq!(sweep(app, in_days(5)).await, Default::default());
    assert_eq!(sweep(app, in_days(11)).await.reminders, 1);
    assert_eq!(sweep(app, in_days(12)).await.reminders, 0);
    assert_eq!(
        app.count_emails("owner@ke-lab.example.org", "dataset_dates")
            .await,
        1
    );
    assert_eq!(sweep(app, in_days(34)).await.reminders, 1);
    assert_eq!(
        app.count_emails("owner@ke-lab.example.org", "dataset_dates")
            .await,
        2
    );
    assert_eq!(status(app, &reader.access, &req_id).await, "approved");

    // The end: the grant ends, its holder told.
    let swept = sweep(app, in_days(41)).await;
    assert_eq!(swept.retentions_ended, 1);
    assert_eq!(status(app, &reader.access, &req_id).await, "expired");
    assert_eq!(
        app.count_emails("reader@example.org", "access_ended").await,
        1
    );
});

api_test!(
    after_its_retention_period_a_dataset_hands_out_no_file,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let ds = dataset(
        app,
        &w.owner.access,
        "Short-lived",
        json!({"access_level": "registered", "retention_until": stamp(Utc::now() + Duration::seconds(2))}),
    )
    .await;
        let reader = person(app, "reader@example.org", Some("KE")).await;
        let (code, issued) = outcome(link(app, Some(&reader.access), &ds, "").await).await;
        assert_eq!(code, "200");
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        for who in [&reader, &w.owner] {
            typed(
                link(app, Some(&who.access), &ds, "").await,
                410,
                "retention-ended",
            )
            .await;
        }
        typed(
            follow(app, issued["url"].as_str().unwrap()).await,
            410,
            "retention-ended",
        )
        .await;
        // The metadata stays readable.
        body_of(app.get(&path(&ds.id, "")).await, 200).await;
    }
);

api_test!(
    a_link_may_name_a_version_and_shows_when_it_is_withdrawn,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let owner = Some(w.owner.access.as_str());
        let ds = radio_speech_at_1_1(&w).await;

        let card = |related: Value| {
            app.post_json(
                "/api/v1/model-cards",
                json!({"institution": "ke-lab", "title": "Speech model", "related": related}),
                owner,
            )
        };
        // A version it has not, or not a label: 400, nothing created.
        for (related, field) in [
            (
                json!([{"relation": "trained_on", "resource_id": ds.id, "version": "4.0"}]),
                "related[0].version",
            ),
            (
                json!([{"relation": "trained_on", "resource_id": ds.id, "version": "latest"}]),
                "related[0].version",
            ),
        ] {
            let problem = typed(card(related).await, 400, "validation-error").await;
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
        let made = body_of(
            card(json!([
                {"relation": "trained_on", "resource_id": ds.id, "version": "1.0"},
                {"relation": "evaluated_on", "resource_id": ds.id},
            ]))
            .await,
            201,
        )
        .await;
        let id = made["id"].as_str().unwrap().to_string();
        let read = |who: Option<&'static str>| {
            let p = format!("/api/v1/model-cards/{id}");
            async move { body_of(call(app, Method::GET, &p, who.or(owner), None).await, 200).await }
        };
        let m = read(None).await;
        let links = m["related"].as_array().unwrap();
        // The pinned link names 1.0, and shows that 1.1 is the latest.
        assert_eq!(links[0]["version"], "1.0", "{m}");
        assert_eq!(links[0]["latest_version"], "1.1");
        assert!(links[0].get("tombstone").is_none());
        // An unpinned link is to the latest, whatever it is.
        assert_eq!(
            links[1],
            json!({"relation": "evaluated_on", "resource_id": ds.id})
        );
        // Sent back as read, the links are the same links.
        let res = call(
            app,
            Method::PATCH,
            &format!("/api/v1/model-cards/{id}"),
            owner,
            Some(json!({"related": m["related"]})),
        )
        .await;
        assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());

        // 1.0 withdrawn: the pinned link shows its tombstone; a new pin to it
        // is refused.
        body_of(
            deaccession(
                app,
                owner,
                &ds.id,
                json!({"reason": "Names left in.", "version": "1.0"}),
            )
            .await,
            200,
        )
        .await;
        let m = read(None).await;
        let t = &m["related"][0]["tombstone"];
        assert_eq!(t["version"], "1.0", "{m}");
        assert_eq!(t["whole"], false);
        assert_eq!(t["reason"], "Names left in.");
        assert!(m["related"][1].get("tombstone").is_none());
        let problem = typed(
            card(json!([{"relation": "trained_on", "resource_id": ds.id, "version": "1.0"}])).await,
            400,
            "validation-error",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "related[0].version");

        // The whole dataset withdrawn: both links show the tombstone.
        body_of(
            deaccession(app, owner, &ds.id, json!({"reason": "Consent withdrawn."})).await,
            200,
        )
        .await;
        let m = read(None).await;
        for k in m["related"].as_array().unwrap() {
            assert_eq!(k["tombstone"]["whole"], true, "{m}");
            assert_eq!(k["tombstone"]["reason"], "Consent withdrawn.");
        }
    }
);

api_test!(
    learners_keep_their_course_version_until_they_move_on,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let owner = Some(w.owner.access.as_str());
        let course =
            crate::helpers::frontend::published_course(app, &w.owner.access, "Kiswahili ASR").await;
        let cpath = format!("/api/v1/courses/{course}");
        let learner = person(app, "learner@example.org", Some("KE")).await;
        let me = Some(learner.access.as_str());
        let enrolled = body_of(
            call(app, Method::PUT, &format!("{cpath}/enrollment"), me, None).await,
            201,
        )
        .await;
        assert_eq!(enrolled["course_version"], "1.0", "{enrolled}");
        assert_eq!(enrolled["latest_version"], "1.0");
        // Not enrolled: 409; nothing to move on to: unchanged.
        let res = call(
            app,
            Method::POST,
            &format!("{cpath}/enrollment/upgrade"),
            owner,
            None,
        )
        .await;
        typed(res, 409, "not-enrolled").await;

        // A minor version: nobody is told.
        let res = edit_published(app, owner, &cpath, json!({"summary": "Clearer."})).await;
        assert_eq!(res.status().as_u16(), 200);
        let e = body_of(
            call(app, Method::GET, &format!("{cpath}/enrollment"), me, None).await,
            200,
        )
        .await;
        assert_eq!(
            (e["course_version"].as_str(), e["latest_version"].as_str()),
            (Some("1.0"), Some("1.1"))
        );
        assert_eq!(
            app.count_emails("learner@example.org", "course_new_version")
                .await,
            0
        );

        // A major version: the learner is told, and stays on 1.0.
        let draft = call(
            app,
            Method::PATCH,
            &format!("{cpath}/draft"),
            owner,
            Some(json!({"title": "Kiswahili ASR, second edition"})),
        )
        .await;
        assert_eq!(draft.status().as_u16(), 200);
        let published = body_of(
            call(
                app,
                Method::POST,
                &format!("{cpath}/publish"),
                owner,
                Some(json!({"major": true, "note": "Rewritten for 2027."})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(published["version_label"], "2.0", "{published}");
        assert_eq!(
            app.count_emails("learner@example.org", "course_new_version")
                .await,
            1
        );
        let e = body_of(
            call(app, Method::GET, &format!("{cpath}/enrollment"), me, None).await,
            200,
        )
        .await;
        assert_eq!(
            (e["course_version"].as_str(), e["latest_version"].as_str()),
            (Some("1.0"), Some("2.0"))
        );

        // Moving on, when they choose: once.
        let up = body_of(
            call(
                app,
                Method::POST,
                &format!("{cpath}/enrollment/upgrade"),
                me,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(up["course_version"], "2.0", "{up}");
        let again = body_of(
            call(
                app,
                Method::POST,
                &format!("{cpath}/enrollment/upgrade"),
                me,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(again["course_version"], "2.0");
        let events = body_of(
            app.get_auth(
                "/api/v1/audit-events?limit=100&action=enrollment.upgraded",
                &w.root.access,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
        // The list of one's enrollments says the same.
        let mine = body_of(
            app.get_auth("/api/v1/me/enrollments", &learner.access)
                .await,
            200,
        )
        .await;
        assert_eq!(mine["items"][0]["course_version"], "2.0", "{mine}");
        assert_eq!(mine["items"][0]["latest_version"], "2.0");
    }
);

api_test!(
    hostile_input_to_the_new_endpoints_is_a_client_error,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let owner = Some(w.owner.access.as_str());
        let ds = w.dataset("Probed", json!({})).await;
        let huge = "x".repeat(10_000);
        for body in [
            json!({"reason": "a\u{0}b"}),
            json!({"reason": huge}),
            json!({"reason": "x", "version": "1.\u{0}"}),
            json!({"reason": "x", "version": huge}),
            json!({"reason": "x", "version": "99999999999.0"}),
            json!({"reason": 7}),
            json!([]),
        ] {
            let res = deaccession(app, owner, &ds.id, body.clone()).await;
            let code = res.status().as_u16();
            assert!(code == 400 || code == 404, "{body}: {code}");
        }
        // Nothing was withdrawn.
        body_of(app.get(&path(&ds.id, "")).await, 200).await;
        // Dates and reasons on files and drafts.
        for extra in [
            json!({"embargo_until": "2999-01-01T00:00:00Z", "embargo_reason": "a\u{0}b"}),
            json!({"embargo_until": "2999-01-01T00:00:00Z", "embargo_reason": huge}),
            json!({"embargo_until": "+275760-09-13T00:00:00Z"}),
            json!({"embargo_until": 12}),
        ] {
            let body = file_body("f.csv", extra.clone());
            let res = app.post_json(&path(&ds.id, "/files"), body, owner).await;
            assert_eq!(res.status().as_u16(), 400, "{extra}");
        }
        for patch in [
            json!({"retention_until": "9999-99-99"}),
            json!({"embargo_until": "2999-01-01", "embargo_reason": "\u{0}"}),
            json!({"related": [{"relation": "derived_from", "resource_id": ds.id, "version": "\u{0}"}]}),
        ] {
            let res = call(
                app,
                Method::PATCH,
                &path(&ds.id, "/draft"),
                owner,
                Some(patch.clone()),
            )
            .await;
            assert_eq!(res.status().as_u16(), 400, "{patch}");
        }
        // The DCAT page's `after`.
        for after in ["%00", "x", &"a".repeat(5_000)] {
            let res = app
                .get(&format!("/api/v1/catalog.ttl?page=2&after={after}"))
                .await;
            assert_eq!(res.status().as_u16(), 400, "{after}");
        }
    }
);
