//! Published versions (issue #19): a published resource changes only
//! through the draft of its next version; each publication is a version
//! that stays readable exactly, with its own ETag; versions are listed and
//! diffed; a change of files or terms makes a major version.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::access::{INST, world};
use crate::helpers::http::{body_of, call, send, typed};

fn path(id: &str, rest: &str) -> String {
    format!("/api/v1/datasets/{id}{rest}")
}

async fn get(app: &crate::helpers::TestApp, token: Option<&str>, p: &str) -> reqwest::Response {
    call(app, Method::GET, p, token, None).await
}

fn etag(res: &reqwest::Response) -> String {
    res.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_string()
}

fn fields(changes: &Value) -> Vec<(String, String)> {
    changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap().to_string(),
                c["change"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

api_test!(a_datasets_life_through_its_versions, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let owner = Some(w.owner.access.as_str());
    let ds = w.dataset("Radio speech", json!({"tags": ["speech"]})).await;

    // Published: version 1.0.
    let v1 = body_of(get(app, None, &path(&ds.id, "")).await, 200).await;
    assert_eq!(v1["version_label"], "1.0", "{v1}");
    assert_eq!(v1["versions_url"], path(&ds.id, "/versions"));
    let v1_tag = etag(&get(app, None, &path(&ds.id, "/versions/1.0")).await);

    // A published resource is not edited in place.
    let res = call(
        app,
        Method::PATCH,
        &path(&ds.id, ""),
        owner,
        Some(json!({"title": "X"})),
    )
    .await;
    let link = res
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_string());
    typed(res, 409, "edit-the-draft").await;
    assert_eq!(
        link.as_deref(),
        Some(format!("<{}>; rel=\"working-copy\"", path(&ds.id, "/draft")).as_str())
    );
    // No draft yet.
    typed_404(get(app, owner, &path(&ds.id, "/draft")).await).await;

    // The draft: changed, while everyone else still reads 1.0.
    let draft = body_of(
        call(
            app,
            Method::PATCH,
            &path(&ds.id, "/draft"),
            owner,
            Some(json!({"title": "Radio speech, cleaned", "tags": ["speech", "radio"]})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(draft["title"], "Radio speech, cleaned");
    assert_eq!(draft["status"], "draft");
    let now = body_of(get(app, None, &path(&ds.id, "")).await, 200).await;
    assert_eq!(now["title"], "Radio speech");
    assert_eq!(now["version_label"], "1.0");
    // Only its editors see the draft.
    typed_404(get(app, Some(&w.member.access), &path(&ds.id, "/draft")).await).await;
    let editor_view = body_of(
        get(app, Some(&w.editor.access), &path(&ds.id, "/draft")).await,
        200,
    )
    .await;
    assert_eq!(editor_view["title"], "Radio speech, cleaned");
    // A draft that could not be published is refused, and nothing changes.
    let res = call(
        app,
        Method::PATCH,
        &path(&ds.id, "/draft"),
        owner,
        Some(json!({"title": ""})),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    let again = body_of(get(app, owner, &path(&ds.id, "/draft")).await, 200).await;
    assert_eq!(again["title"], "Radio speech, cleaned");

    // Publishing the draft: 1.1 (only metadata changed).
    let published = body_of(
        call(
            app,
            Method::POST,
            &path(&ds.id, "/publish"),
            owner,
            Some(json!({"note": "Cleaner title."})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(published["version_label"], "1.1", "{published}");
    assert_eq!(published["version_note"], "Cleaner title.");
    assert_eq!(published["title"], "Radio speech, cleaned");
    typed_404(get(app, owner, &path(&ds.id, "/draft")).await).await;
    // Nothing left to publish.
    typed(
        call(app, Method::POST, &path(&ds.id, "/publish"), owner, None).await,
        409,
        "invalid-transition",
    )
    .await;

    // 1.0 is still readable exactly as it was, with its own ETag.
    let old = get(app, None, &path(&ds.id, "/versions/1.0")).await;
    assert_eq!(etag(&old), v1_tag);
    let old = body_of(old, 200).await;
    assert_eq!(old["title"], "Radio speech");
    assert_eq!(old["tags"], json!(["speech"]));
    assert_eq!(old["version_label"], "1.0");
    let new = get(app, None, &path(&ds.id, "/versions/1.1")).await;
    assert_eq!(
        new.headers().get("link").and_then(|v| v.to_str().ok()),
        Some(
            format!(
                "<{0}>; rel=\"latest-version\", <{0}/versions>; rel=\"version-history\"",
                path(&ds.id, "")
            )
            .as_str()
        )
    );
    assert_ne!(etag(&new), v1_tag);
    assert_eq!(body_of(new, 200).await["title"], "Radio speech, cleaned");

    // The diff, field by field.
    let d = body_of(
        get(app, None, &path(&ds.id, "/versions/1.0/diff/1.1")).await,
        200,
    )
    .await;
    assert_eq!(
        fields(&d["changes"]),
        [
            ("tags".to_string(), "changed".to_string()),
            ("title".into(), "changed".into())
        ]
    );
    assert_eq!(d["changes"][1]["from"], "Radio speech");
    assert_eq!(d["changes"][1]["to"], "Radio speech, cleaned");
    assert_eq!(d["summary"], "Changed: tags, title.");

    // A change of licence is a major version, which needs a note.
    body_of(
        call(
            app,
            Method::PATCH,
            &path(&ds.id, "/draft"),
            owner,
            Some(json!({"license": "CC-BY-SA-4.0"})),
        )
        .await,
        200,
    )
    .await;
    let res = call(app, Method::POST, &path(&ds.id, "/publish"), owner, None).await;
    let p = typed(res, 400, "validation-error").await;
    assert_eq!(p["errors"][0]["field"], "note", "{p}");
    assert_eq!(
        body_of(get(app, None, &path(&ds.id, "")).await, 200).await["license"],
        "CC-BY-4.0"
    );
    let two = body_of(
        call(
            app,
            Method::POST,
            &path(&ds.id, "/publish"),
            owner,
            Some(json!({"note": "Share-alike from now on."})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(two["version_label"], "2.0");

    // A file added since: the next version is major too, and the diff
    // names the file by id.
    let f = body_of(
        app.post_json(
            &path(&ds.id, "/files"),
            json!({"name": "more.csv", "url": "https://data.example.org/more.csv",
                   "media_type": "text/csv", "size_bytes": 10, "sha256": "cd".repeat(32)}),
            owner,
        )
        .await,
        201,
    )
    .await;
    body_of(
        call(
            app,
            Method::PATCH,
            &path(&ds.id, "/draft"),
            owner,
            Some(json!({})),
        )
        .await,
        200,
    )
    .await;
    let three = body_of(
        call(
            app,
            Method::POST,
            &path(&ds.id, "/publish"),
            owner,
            Some(json!({"note": "One more file."})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(three["version_label"], "3.0");
    let d = body_of(
        get(app, None, &path(&ds.id, "/versions/2.0/diff/3.0")).await,
        200,
    )
    .await;
    assert_eq!(
        fields(&d["changes"]),
        [(
            format!("files[{}]", f["id"].as_str().unwrap()),
            "added".to_string()
        )]
    );
    // A minor version on request of nothing but `major: true` is major.
    body_of(
        call(
            app,
            Method::PATCH,
            &path(&ds.id, "/draft"),
            owner,
            Some(json!({"summary": "Better."})),
        )
        .await,
        200,
    )
    .await;
    let four = body_of(
        call(
            app,
            Method::POST,
            &path(&ds.id, "/publish"),
            owner,
            Some(json!({"major": true, "note": "Forced."})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(four["version_label"], "4.0");

    // The list, newest first, each with its summary and diff.
    let list = body_of(get(app, None, &path(&ds.id, "/versions")).await, 200).await;
    let labels: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["4.0", "3.0", "2.0", "1.1", "1.0"]);
    assert_eq!(list["items"][3]["summary"], "Changed: tags, title.");
    assert_eq!(
        list["items"][3]["diff_url"],
        path(&ds.id, "/versions/1.0/diff/1.1")
    );
    assert!(list["items"][4].get("diff_url").is_none());
    assert!(
        list["items"][0].get("published_by").is_none(),
        "anonymous readers are not told who"
    );
    let mine = body_of(
        get(app, owner, &path(&ds.id, "/versions?limit=2")).await,
        200,
    )
    .await;
    assert_eq!(mine["items"][0]["published_by"], w.owner.id.as_str());
    let rest = body_of(
        get(
            app,
            None,
            &path(
                &ds.id,
                &format!(
                    "/versions?limit=2&cursor={}",
                    mine["next_cursor"].as_str().unwrap()
                ),
            ),
        )
        .await,
        200,
    )
    .await;
    let labels: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["2.0", "1.1"]);

    // Unknown versions.
    for bad in [
        "/versions/9.9",
        "/versions/abc",
        "/versions/1.0/diff/7.0",
        "/versions/01.0",
    ] {
        typed_404(get(app, None, &path(&ds.id, bad)).await).await;
    }
});

async fn typed_404(res: reqwest::Response) {
    crate::helpers::http::problem(res, 404).await;
}

api_test!(versions_follow_the_resources_visibility, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w
        .dataset("Clinic notes", json!({"visibility": "institution"}))
        .await;
    for p in ["", "/versions", "/versions/1.0", "/versions/1.0/diff/1.0"] {
        typed_404(get(app, None, &path(&ds.id, p)).await).await;
        let outsider = app.signup(&format!("out{}@example.org", p.len())).await;
        typed_404(get(app, Some(&outsider.access), &path(&ds.id, p)).await).await;
    }
    let member = body_of(
        get(app, Some(&w.member.access), &path(&ds.id, "/versions/1.0")).await,
        200,
    )
    .await;
    assert_eq!(member["title"], "Clinic notes");
    // A member who does not edit cannot change the draft.
    let res = call(
        app,
        Method::PATCH,
        &path(&ds.id, "/draft"),
        Some(&w.member.access),
        Some(json!({"title": "No"})),
    )
    .await;
    assert_eq!(res.status().as_u16(), 403);
    // Anonymous: no draft for you.
    let res = call(
        app,
        Method::PATCH,
        &path(&ds.id, "/draft"),
        None,
        Some(json!({"title": "No"})),
    )
    .await;
    assert_eq!(res.status().as_u16(), 401);
});

api_test!(drafts_never_published_work_as_before, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let owner = Some(w.owner.access.as_str());
    let created = body_of(
        app.post_json(
            "/api/v1/datasets",
            crate::helpers::access::dataset_body("Early", json!({})),
            owner,
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap();
    assert!(created["version_label"].is_null());
    assert!(created["versions_url"].is_null());
    // PATCH on the resource and on its draft are the same thing.
    body_of(
        call(
            app,
            Method::PATCH,
            &path(id, ""),
            owner,
            Some(json!({"title": "Earlier"})),
        )
        .await,
        200,
    )
    .await;
    let d = body_of(
        call(
            app,
            Method::PATCH,
            &path(id, "/draft"),
            owner,
            Some(json!({"summary": "S."})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (d["title"].as_str(), d["summary"].as_str()),
        (Some("Earlier"), Some("S."))
    );
    let d = body_of(get(app, owner, &path(id, "/draft")).await, 200).await;
    assert_eq!(d["status"], "draft");
    let list = body_of(get(app, owner, &path(id, "/versions")).await, 200).await;
    assert_eq!(list["items"], json!([]));
    // Publishing it makes 1.0, with the note given.
    let p = body_of(
        call(
            app,
            Method::POST,
            &path(id, "/publish"),
            owner,
            Some(json!({"note": "First release."})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["version_label"], "1.0");
    assert_eq!(p["version_note"], "First release.");
    // Bad publish bodies.
    let res = call(
        app,
        Method::POST,
        &path(id, "/publish"),
        owner,
        Some(json!({"majr": true})),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    let res = send(
        app,
        Method::POST,
        &path(id, "/publish"),
        owner,
        None,
        &[("content-type", "text/plain")],
    )
    .await;
    assert_eq!(
        res.status().as_u16(),
        409,
        "an empty body of any type is no body"
    );
    let res = app
        .client
        .post(app.url(&path(id, "/publish")))
        .bearer_auth(&w.owner.access)
        .header("content-type", "text/plain")
        .body("major")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    // Discarding a draft of a published resource keeps the published one.
    body_of(
        call(
            app,
            Method::PATCH,
            &path(id, "/draft"),
            owner,
            Some(json!({"title": "Gone soon"})),
        )
        .await,
        200,
    )
    .await;
    let res = call(app, Method::DELETE, &path(id, "/draft"), owner, None).await;
    assert_eq!(res.status().as_u16(), 204);
    typed_404(get(app, owner, &path(id, "/draft")).await).await;
    assert_eq!(
        body_of(get(app, None, &path(id, "")).await, 200).await["title"],
        "Earlier"
    );
    typed_404(call(app, Method::DELETE, &path(id, "/draft"), owner, None).await).await;
    let _ = INST;
});

api_test!(
    two_editors_publishing_one_draft_make_one_version,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let ds = w.dataset("Contested", json!({})).await;
        body_of(
            call(
                app,
                Method::PATCH,
                &path(&ds.id, "/draft"),
                Some(&w.owner.access),
                Some(json!({"title": "Contested 2"})),
            )
            .await,
            200,
        )
        .await;
        let p = path(&ds.id, "/publish");
        let (a, b) = tokio::join!(
            call(app, Method::POST, &p, Some(&w.owner.access), None),
            call(app, Method::POST, &p, Some(&w.editor.access), None),
        );
        let mut codes = [a.status().as_u16(), b.status().as_u16()];
        codes.sort_unstable();
        assert_eq!(codes, [200, 409]);
        let list = body_of(get(app, None, &path(&ds.id, "/versions")).await, 200).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
    }
);

api_test!(version_changes_are_domain_events, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let owner = Some(w.owner.access.as_str());
    let ds = w.dataset("Evented", json!({})).await;
    let since = crate::helpers::events::last_seq(app).await;
    let cursor = body_of(get(app, None, "/api/v1/changes").await, 200).await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    body_of(
        call(
            app,
            Method::PATCH,
            &path(&ds.id, "/draft"),
            owner,
            Some(json!({"title": "Evented 2"})),
        )
        .await,
        200,
    )
    .await;
    // A draft changes nothing readers see: the feed has nothing new.
    let changes = body_of(
        get(app, None, &format!("/api/v1/changes?since={cursor}")).await,
        200,
    )
    .await;
    assert_eq!(changes["items"], json!([]), "{changes}");
    body_of(
        call(app, Method::POST, &path(&ds.id, "/publish"), owner, None).await,
        200,
    )
    .await;
    let changes = body_of(
        get(app, None, &format!("/api/v1/changes?since={cursor}")).await,
        200,
    )
    .await;
    assert_eq!(changes["items"].as_array().unwrap().len(), 1, "{changes}");
    assert_eq!(changes["items"][0]["id"], ds.id.as_str());
    let types: Vec<String> = crate::helpers::events::events_after(app, since)
        .await
        .into_iter()
        .map(|(e, _)| e.event_type)
        .collect();
    assert_eq!(
        types,
        [
            "resource.draft_updated",
            "resource.updated",
            "resource.version_published"
        ]
    );
    // The feed and search see the new version.
    let found = body_of(get(app, None, "/api/v1/resources?q=evented").await, 200).await;
    assert_eq!(found["items"][0]["title"], "Evented 2");
    assert_eq!(found["items"][0]["version_label"], "1.1");
});

api_test!(
    a_version_keeps_the_visibility_it_was_published_with,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let owner = Some(w.owner.access.as_str());
        let ds = w
            .dataset(
                "Clinic ledger",
                json!({"visibility": "institution", "description": "Members-only detail."}),
            )
            .await;
        body_of(
            call(
                app,
                Method::PATCH,
                &path(&ds.id, "/draft"),
                owner,
                Some(json!({"visibility": "public", "description": "Redacted."})),
            )
            .await,
            200,
        )
        .await;
        body_of(
            call(app, Method::POST, &path(&ds.id, "/publish"), owner, None).await,
            200,
        )
        .await;
        // Public now: 1.1 is readable by anyone, 1.0 stays the members'.
        assert_eq!(
            body_of(get(app, None, &path(&ds.id, "/versions/1.1")).await, 200).await["description"],
            "Redacted."
        );
        typed_404(get(app, None, &path(&ds.id, "/versions/1.0")).await).await;
        typed_404(get(app, None, &path(&ds.id, "/versions/1.0/diff/1.1")).await).await;
        let list = body_of(get(app, None, &path(&ds.id, "/versions")).await, 200).await;
        let labels: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["label"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["1.1"]);
        let member = Some(w.member.access.as_str());
        assert_eq!(
            body_of(get(app, member, &path(&ds.id, "/versions/1.0")).await, 200).await["description"],
            "Members-only detail."
        );
        let list = body_of(get(app, member, &path(&ds.id, "/versions")).await, 200).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
    }
);

api_test!(
    drafts_have_their_own_validators_and_end_with_the_resource,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let owner = Some(w.owner.access.as_str());
        let ds = w.dataset("Tagged", json!({})).await;
        let draft_path = path(&ds.id, "/draft");
        let draft = |body: Value| call(app, Method::PATCH, &draft_path, owner, Some(body));
        let first = draft(json!({"title": "Tagged X"})).await;
        let e1 = etag(&first);
        let v1 = body_of(first, 200).await["version"].as_i64().unwrap();
        body_of(draft(json!({"title": "Tagged Y"})).await, 200).await;
        let back = draft(json!({"title": "Tagged X"})).await;
        assert_ne!(
            etag(&back),
            e1,
            "the same content twice is two revisions of the draft"
        );
        let back = body_of(back, 200).await;
        assert_eq!(back["version"].as_i64().unwrap(), v1 + 2);
        assert_eq!(back["versions_url"], path(&ds.id, "/versions"));
        // A stale If-Match on the draft is refused.
        let res = send(
            app,
            Method::PATCH,
            &path(&ds.id, "/draft"),
            owner,
            Some(json!({"summary": "S."})),
            &[("if-match", e1.as_str())],
        )
        .await;
        typed(res, 412, "stale-version").await;
        // Publishing a draft equal to the latest version: nothing to publish.
        body_of(draft(json!({"title": "Tagged"})).await, 200).await;
        typed(
            call(app, Method::POST, &path(&ds.id, "/publish"), owner, None).await,
            409,
            "invalid-transition",
        )
        .await;
        // Archiving ends the draft.
        body_of(
            call(app, Method::POST, &path(&ds.id, "/archive"), owner, None).await,
            200,
        )
        .await;
        typed_404(call(app, Method::DELETE, &path(&ds.id, "/draft"), owner, None).await).await;
        typed_404(get(app, owner, &path(&ds.id, "/draft")).await).await;
        // A resource never published has no draft of a next version to discard:
        // DELETE …/draft never deletes a resource.
        let created = body_of(
            app.post_json(
                "/api/v1/datasets",
                crate::helpers::access::dataset_body("Kept", json!({})),
                owner,
            )
            .await,
            201,
        )
        .await;
        let id = created["id"].as_str().unwrap();
        typed_404(call(app, Method::DELETE, &path(id, "/draft"), owner, None).await).await;
        body_of(get(app, owner, &path(id, "")).await, 200).await;
    }
);

api_test!(publishing_can_name_the_draft_it_publishes, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w.dataset("Reviewed", json!({})).await;
    let (draft, publish) = (path(&ds.id, "/draft"), path(&ds.id, "/publish"));
    let owner = Some(w.owner.access.as_str());
    // A reviews the draft; B changes it meanwhile.
    let res = call(
        app,
        Method::PATCH,
        &draft,
        owner,
        Some(json!({"title": "Reviewed by A"})),
    )
    .await;
    let reviewed = etag(&res);
    let res = call(
        app,
        Method::PATCH,
        &draft,
        Some(&w.editor.access),
        Some(json!({"title": "Changed by B"})),
    )
    .await;
    body_of(res, 200).await;
    let res = send(
        app,
        Method::POST,
        &publish,
        owner,
        None,
        &[("if-match", reviewed.as_str())],
    )
    .await;
    typed(res, 412, "stale-version").await;
    assert_eq!(
        body_of(get(app, None, &path(&ds.id, "")).await, 200).await["version_label"],
        "1.0"
    );
    // The draft's current tag publishes it.
    let current = etag(&get(app, owner, &draft).await);
    let res = send(
        app,
        Method::POST,
        &publish,
        owner,
        None,
        &[("if-match", current.as_str())],
    )
    .await;
    let published = body_of(res, 200).await;
    assert_eq!(published["title"], "Changed by B");
    assert_eq!(published["version_label"], "1.1");
});
