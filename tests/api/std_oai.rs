//! OAI-PMH 2.0 at `/oai`: every protocol error in a 200 XML answer, the
//! verbs, and harvests with `sickle` (a standard client from PyPI) over more
//! than 1,000 records, then an incremental harvest after changes and
//! deletions that must find exactly the records that changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::http::{body_of, call};
use crate::helpers::institutions::{create_slug, verify};
use crate::helpers::search::{COURSES, DATASETS, MODEL_CARDS, draft, published};
use crate::helpers::versions::edit_published;
use crate::helpers::{Backend, TestApp};

pub(crate) async fn oai(app: &TestApp, query: &str) -> String {
    let res = app.get(&format!("/oai?{query}")).await;
    assert_eq!(res.status().as_u16(), 200, "{query}");
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/xml; charset=utf-8"
    );
    res.text().await.unwrap()
}

pub(crate) fn error_code(xml: &str) -> Option<String> {
    let at = xml.find("<error code=\"")? + 13;
    Some(xml[at..].split('"').next()?.to_string())
}

/// The `<request …>` element's attributes, as written.
pub(crate) fn request_attributes(xml: &str) -> String {
    let at = xml.find("<request").unwrap() + 8;
    xml[at..].split('>').next().unwrap().to_string()
}

pub(crate) async fn world(backend: Backend) -> (TestApp, String) {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@oai-lab.example.org").await;
    create_slug(&app, &owner.access, "oai-lab").await;
    verify(&app, &root.access, "oai-lab").await;
    (app, owner.access)
}

api_test!(oai_errors_are_xml_in_a_200_with_their_codes, |backend| {
    let (app, owner) = world(backend).await;
    let id = published(&app, &owner, DATASETS, "oai-lab", "Sauti corpus", json!({})).await;
    let cases = [
        ("", "badVerb", false),
        ("verb=Dance", "badVerb", false),
        ("verb=Identify&verb=ListSets", "badVerb", false),
        ("verb=Identify&extra=1", "badArgument", false),
        ("verb=ListRecords", "badArgument", false),
        (
            "verb=ListRecords&metadataPrefix=oai_dc&from=yesterday",
            "badArgument",
            false,
        ),
        (
            "verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-01&until=2020-01-01T00:00:00Z",
            "badArgument",
            false,
        ),
        (
            "verb=ListRecords&metadataPrefix=oai_dc&set=colour:red",
            "badArgument",
            false,
        ),
        (
            "verb=ListRecords&metadataPrefix=marc21",
            "cannotDisseminateFormat",
            true,
        ),
        (
            "verb=GetRecord&metadataPrefix=marc21&identifier=oai:localhost:x",
            "cannotDisseminateFormat",
            true,
        ),
        (
            "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:localhost:nope",
            "idDoesNotExist",
            true,
        ),
        (
            "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:elsewhere.org:x",
            "idDoesNotExist",
            true,
        ),
        (
            "verb=ListMetadataFormats&identifier=oai:localhost:nope",
            "idDoesNotExist",
            true,
        ),
        (
            "verb=ListRecords&metadataPrefix=oai_dc&from=2001-01-01&until=2001-01-02",
            "noRecordsMatch",
            true,
        ),
        (
            "verb=ListIdentifiers&metadataPrefix=oai_dc&set=institution:nobody",
            "noRecordsMatch",
            true,
        ),
        (
            "verb=ListIdentifiers&metadataPrefix=oai_dc&set=kind:course",
            "noRecordsMatch",
            true,
        ),
        (
            "verb=ListRecords&resumptionToken=bm9wZQ",
            "badResumptionToken",
            true,
        ),
        (
            "verb=ListSets&resumptionToken=x",
            "badResumptionToken",
            true,
        ),
    ];
    for (query, code, echoed) in cases {
        let xml = oai(&app, query).await;
        assert_eq!(error_code(&xml).as_deref(), Some(code), "{query}: {xml}");
        // badVerb and badArgument: the request element has no attributes.
        assert_eq!(
            !request_attributes(&xml).is_empty(),
            echoed,
            "{query}: {xml}"
        );
    }
    // The same over POST; a POST that is not a form is a badArgument.
    let res = app
        .client
        .post(app.url("/oai"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai%3Alocalhost%3A{id}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let xml = res.text().await.unwrap();
    assert!(xml.contains("<dc:title>Sauti corpus</dc:title>"), "{xml}");
    let res = app
        .client
        .post(app.url("/oai"))
        .json(&json!({"verb": "Identify"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        error_code(&res.text().await.unwrap()).as_deref(),
        Some("badArgument")
    );

    let xml = oai(&app, "verb=Identify").await;
    for part in [
        "<repositoryName>Kujenga</repositoryName>",
        "<baseURL>http://localhost:8080/oai</baseURL>",
        "<protocolVersion>2.0</protocolVersion>",
        "<deletedRecord>persistent</deletedRecord>",
        "<granularity>YYYY-MM-DDThh:mm:ssZ</granularity>",
        "<adminEmail>no-reply@kujenga.localhost</adminEmail>",
    ] {
        assert!(xml.contains(part), "{part}: {xml}");
    }
    let xml = oai(&app, "verb=ListMetadataFormats").await;
    assert!(xml.contains("<metadataPrefix>oai_dc</metadataPrefix>"));
    assert!(xml.contains("<metadataPrefix>oai_datacite</metadataPrefix>"));
    let xml = oai(&app, "verb=ListSets").await;
    for spec in ["kind", "kind:dataset", "institution:oai-lab", "country:KE"] {
        assert!(
            xml.contains(&format!("<setSpec>{spec}</setSpec>")),
            "{spec}: {xml}"
        );
    }
    assert!(xml.contains("<setName>Kenya</setName>"), "{xml}");
    let xml = oai(
        &app,
        &format!("verb=GetRecord&metadataPrefix=oai_datacite&identifier=oai:localhost:{id}"),
    )
    .await;
    for part in [
        // No DOI set: the landing page is the identifier.
        "<identifier identifierType=\"URL\">",
        "<resourceType resourceTypeGeneral=\"Dataset\">Dataset</resourceType>",
        "<creatorName nameType=\"Organizational\">Institution oai-lab</creatorName>",
        "<publisher>Institution oai-lab</publisher>",
        "rightsIdentifier=\"CC-BY-4.0\"",
        "info:eu-repo/semantics/openAccess",
    ] {
        assert!(xml.contains(part), "{part}: {xml}");
    }
});

// Hidden resources never appear: drafts, the other visibilities, an
// unverified institution's.
api_test!(oai_shows_only_what_anonymous_readers_see, |backend| {
    let (app, owner) = world(backend).await;
    let public = published(&app, &owner, COURSES, "oai-lab", "Open course", json!({})).await;
    let mut hidden = vec![draft(&app, &owner, DATASETS, "oai-lab", "A draft", json!({})).await];
    for vis in ["registered", "institution", "partnership"] {
        hidden.push(
            published(
                &app,
                &owner,
                MODEL_CARDS,
                "oai-lab",
                &format!("Card {vis}"),
                json!({"visibility": vis}),
            )
            .await,
        );
    }
    let other = app.signup("owner@unverified.example.org").await;
    create_slug(&app, &other.access, "not-verified").await;
    let root = admin(&app, "root2@kujenga.test").await;
    verify(&app, &root.access, "not-verified").await;
    hidden.push(
        published(
            &app,
            &other.access,
            DATASETS,
            "not-verified",
            "Unverified data",
            json!({}),
        )
        .await,
    );
    // A new country un-verifies it.
    patch(
        &app,
        &other.access,
        "/api/v1/institutions/not-verified",
        json!({"country": "UG"}),
    )
    .await;
    for prefix in ["oai_dc", "oai_datacite"] {
        let xml = oai(&app, &format!("verb=ListRecords&metadataPrefix={prefix}")).await;
        assert!(xml.contains(&public), "{xml}");
        for h in &hidden {
            assert!(!xml.contains(h.as_str()), "{h} leaked: {xml}");
        }
        assert!(!xml.contains("Unverified data") && !xml.contains("A draft"));
        for h in &hidden {
            let xml = oai(
                &app,
                &format!("verb=GetRecord&metadataPrefix={prefix}&identifier=oai:localhost:{h}"),
            )
            .await;
            assert_eq!(error_code(&xml).as_deref(), Some("idDoesNotExist"), "{xml}");
        }
    }
    let sets = oai(&app, "verb=ListSets").await;
    assert!(!sets.contains("not-verified"), "{sets}");
});

// ----- harvesting with sickle --------------------------------------------------

/// A venv with sickle under target/ (made once, then reused). `None` (the
/// test then says loudly that it skips) only when PyPI cannot be reached.
pub(crate) fn sickle_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target").join("venv-sickle");
    let python = venv.join("bin").join("python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import sickle"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Some(python);
    }
    let _lock = VENV.lock();
    if ready(&python) {
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 -m venv (install python3-venv)");
    assert!(made.success(), "python3 -m venv {}", venv.display());
    let installed = Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "sickle==0.7.0"])
        .status()
        .expect("pip");
    if installed.success() && ready(&python) {
        return Some(python);
    }
    let reachable = Command::new("python3")
        .args([
            "-c",
            "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/sickle/', timeout=15)",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        !reachable,
        "PyPI answers but sickle did not install into {}",
        venv.display()
    );
    None
}

pub(crate) static VENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs tests/oai/harvest.py: what sickle found, by resource id.
pub(crate) fn harvest(
    python: &Path,
    app: &TestApp,
    verb: &str,
    prefix: &str,
    args: &[String],
) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oai/harvest.py");
    let out = Command::new(python)
        .arg(script)
        .arg(app.url("/oai"))
        .args([verb, prefix])
        .args(args)
        .output()
        .expect("run harvest.py");
    assert!(
        out.status.success(),
        "harvest.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("JSON from harvest.py")
}

fn by_id(items: &[Value]) -> BTreeMap<String, bool> {
    let mut map = BTreeMap::new();
    for i in items {
        let ident = i["identifier"].as_str().unwrap();
        let id = ident
            .strip_prefix("oai:localhost:")
            .expect("oai:localhost: identifiers");
        let deleted = i["deleted"].as_bool().unwrap();
        assert!(
            map.insert(id.to_string(), deleted).is_none(),
            "{id} twice in one harvest"
        );
    }
    map
}

/// The resources an anonymous reader may see, by the rule written out here
/// in SQL (not by the application's code).
pub(crate) async fn public_ids(app: &TestApp) -> BTreeSet<String> {
    use kujenga::db::schema::{institutions as it, resources as rs};
    app.db
        .run(|conn| {
            rs::table
                .inner_join(it::table)
                .filter(rs::status.ne("draft"))
                .filter(rs::visibility.eq("public"))
                .filter(it::verified.eq(true))
                .select(rs::id)
                .load::<String>(conn)
        })
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// A datestamp argument for "from now on": the next whole second.
async fn next_second() -> String {
    let now = chrono::Utc::now();
    let next =
        now + chrono::Duration::milliseconds(1000 - i64::from(now.timestamp_subsec_millis()));
    tokio::time::sleep(std::time::Duration::from_millis(
        u64::try_from((next - now).num_milliseconds()).unwrap() + 50,
    ))
    .await;
    next.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) async fn patch(app: &TestApp, token: &str, path: &str, body: Value) {
    let res = call(app, Method::PATCH, path, Some(token), Some(body)).await;
    body_of(res, 200).await;
}

/// Changes the published resource at `path` the way its editors do: the
/// draft of its next version, then publishing it.
pub(crate) async fn edit(app: &TestApp, token: &str, path: &str, body: Value) {
    body_of(edit_published(app, Some(token), path, body).await, 200).await;
}

api_test!(
    sickle_harvests_everything_then_exactly_what_changed,
    |backend| {
        let Some(python) = sickle_python() else {
            eprintln!(
                "\n\n*** SKIPPED sickle_harvests_everything_then_exactly_what_changed: PyPI cannot be reached, so sickle cannot be installed ***\n"
            );
            return;
        };
        let (app, owner) = world(backend).await;
        let summary = app
            .db
            .run(|conn| {
                kujenga::demo::seed(
                    conn,
                    kujenga::demo::Options {
                        resources: 1_300,
                        institutions: 6,
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(summary.resources(), 1_300);
        // Resources of the test's own institutions, to change later.
        let edited = published(&app, &owner, COURSES, "oai-lab", "To be edited", json!({})).await;
        let narrowed = published(
            &app,
            &owner,
            MODEL_CARDS,
            "oai-lab",
            "To be narrowed",
            json!({}),
        )
        .await;
        let kept = published(&app, &owner, DATASETS, "oai-lab", "Left alone", json!({})).await;
        let other = app.signup("owner@moves.example.org").await;
        create_slug(&app, &other.access, "oai-moves").await;
        let root = crate::helpers::accounts::admin(&app, "root2@kujenga.test").await;
        verify(&app, &root.access, "oai-moves").await;
        let moved = published(
            &app,
            &other.access,
            DATASETS,
            "oai-moves",
            "Its institution moves",
            json!({}),
        )
        .await;

        let expected = public_ids(&app).await;
        assert!(expected.len() >= 1_000, "{} public records", expected.len());
        assert!(expected.contains(&kept) && expected.contains(&moved));

        // The full harvest, in both formats.
        let all = harvest(&python, &app, "ListRecords", "oai_dc", &[]);
        let found = by_id(&all);
        assert!(found.values().all(|deleted| !deleted));
        assert_eq!(found.keys().cloned().collect::<BTreeSet<_>>(), expected);
        let titled = all
            .iter()
            .find(|i| i["identifier"].as_str().unwrap().ends_with(&kept))
            .unwrap();
        assert_eq!(
            titled["metadata"]["title"],
            json!(["Left alone"]),
            "{titled}"
        );
        assert_eq!(
            titled["sets"],
            json!(["kind:dataset", "institution:oai-lab", "country:KE"])
        );
        let datacite = by_id(&harvest(&python, &app, "ListRecords", "oai_datacite", &[]));
        assert_eq!(datacite.keys().cloned().collect::<BTreeSet<_>>(), expected);
        let courses = by_id(&harvest(
            &python,
            &app,
            "ListIdentifiers",
            "oai_dc",
            &["set=kind:course".into()],
        ));
        assert!(courses.contains_key(&edited) && !courses.contains_key(&kept));
        let of_lab = by_id(&harvest(
            &python,
            &app,
            "ListIdentifiers",
            "oai_dc",
            &["set=institution:oai-lab".into()],
        ));
        assert_eq!(
            of_lab.keys().cloned().collect::<BTreeSet<_>>(),
            BTreeSet::from([edited.clone(), narrowed.clone(), kept.clone()])
        );

        // Changes after the harvest.
        let from = next_second().await;
        edit(
            &app,
            &owner,
            &format!("/api/v1/courses/{edited}"),
            json!({"title": "Edited"}),
        )
        .await;
        edit(
            &app,
            &owner,
            &format!("/api/v1/model-cards/{narrowed}"),
            json!({"visibility": "institution"}),
        )
        .await;
        let added = published(
            &app,
            &owner,
            COURSES,
            "oai-lab",
            "Published later",
            json!({}),
        )
        .await;
        draft(&app, &owner, DATASETS, "oai-lab", "Draft later", json!({})).await;
        published(
            &app,
            &owner,
            MODEL_CARDS,
            "oai-lab",
            "Registered later",
            json!({"visibility": "registered"}),
        )
        .await;
        // A new country un-verifies the institution: its resources leave.
        patch(
            &app,
            &other.access,
            "/api/v1/institutions/oai-moves",
            json!({"country": "TZ"}),
        )
        .await;

        let want = BTreeMap::from([
            (edited.clone(), false),
            (narrowed.clone(), true),
            (added.clone(), false),
            (moved.clone(), true),
        ]);
        let since = [format!("from={from}")];
        let incremental = harvest(&python, &app, "ListRecords", "oai_dc", &since);
        assert_eq!(by_id(&incremental), want);
        let edited_rec = incremental
            .iter()
            .find(|i| i["identifier"].as_str().unwrap().ends_with(&edited))
            .unwrap();
        assert_eq!(edited_rec["metadata"]["title"], json!(["Edited"]));
        assert_eq!(
            by_id(&harvest(
                &python,
                &app,
                "ListIdentifiers",
                "oai_datacite",
                &since
            )),
            want
        );

        // Deleted records persist: a full harvest now has them, marked deleted.
        let again = by_id(&harvest(&python, &app, "ListIdentifiers", "oai_dc", &[]));
        let mut now_public = public_ids(&app).await;
        assert!(!now_public.contains(&narrowed) && !now_public.contains(&moved));
        now_public.insert(narrowed.clone());
        now_public.insert(moved.clone());
        assert_eq!(again.keys().cloned().collect::<BTreeSet<_>>(), now_public);
        assert!(again[&narrowed]);
        assert!(again[&moved]);
        assert_eq!(again.values().filter(|d| **d).count(), 2);
        let xml = oai(
            &app,
            &format!("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:localhost:{narrowed}"),
        )
        .await;
        assert!(
            xml.contains("<header status=\"deleted\">") && !xml.contains("<metadata>"),
            "{xml}"
        );

        // Widening again brings it back (not deleted) in the next increment.
        let from = next_second().await;
        edit(
            &app,
            &owner,
            &format!("/api/v1/model-cards/{narrowed}"),
            json!({"visibility": "public"}),
        )
        .await;
        let back = by_id(&harvest(
            &python,
            &app,
            "ListIdentifiers",
            "oai_dc",
            &[format!("from={from}")],
        ));
        assert_eq!(back, BTreeMap::from([(narrowed.clone(), false)]));
    }
);
