//! Open standards out, the ML and web side: Croissant 1.1 + RAI (checked
//! field by field here and by `mlcroissant validate` from PyPI), schema.org
//! JSON-LD on single reads, Hugging Face cards out and in; and that no
//! export ever shows what an anonymous reader may not see.

use std::path::PathBuf;
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::access::{INST, World, dataset_body, world};
use crate::helpers::http::{body_of, call, send};

// ----- the validator -------------------------------------------------------------

/// The `bin/` folder of the venv holding `requirement`, created by
/// tests/standards/venv.sh on first use. `None` (after a loud message) only
/// when PyPI cannot be reached; any other failure fails the test.
pub fn venv(name: &str, requirement: &str) -> Option<PathBuf> {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/tests/standards/venv.sh"))
        .args([name, requirement])
        .output()
        .expect("run tests/standards/venv.sh");
    match out.status.code() {
        Some(0) => Some(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )),
        Some(3) => {
            eprintln!(
                "\n\n!!!!! SKIPPED: {requirement} cannot be installed, PyPI is unreachable: {}\n\n",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        _ => panic!(
            "creating the {name} venv failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

pub const MLCROISSANT: &str = "mlcroissant==1.1.1";

/// Runs `mlcroissant validate` on a document: `Err(output)` on errors.
fn mlcroissant_validate(doc: &Value) -> Option<Result<String, String>> {
    let bin = venv("mlcroissant", MLCROISSANT)?;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("croissant.json");
    std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new(bin.join("mlcroissant"))
        .args(["validate", "--jsonld"])
        .arg(&path)
        .output()
        .expect("run mlcroissant");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    })
}

// ----- fixtures ------------------------------------------------------------------

/// Every datasheet section, personal data, two formats: the fullest dataset.
fn full_dataset() -> Value {
    json!({
        "description": "Recordings of **radio** call-in shows.",
        "tags": ["speech", "automatic-speech-recognition"],
        "languages": ["sw", "en"],
        "countries": ["KE", "TZ"],
        "contains_personal_data": true,
        "access_level": "restricted",
        "transfer_policy": "allowed_countries",
        "allowed_countries": ["KE", "TZ"],
        "record_count": 12000,
        "size_bytes": 1024,
        "formats": ["CSV", "audio/wav"],
        "datasheet": {
            "motivation": "Speech recognition for Kiswahili radio.",
            "composition": "Utterances with transcripts.",
            "collection_process": "Recorded from partner stations with consent.",
            "preprocessing": "Names removed from transcripts.",
            "uses": "Training ASR models.",
            "out_of_scope_uses": "Speaker identification.",
            "biases_and_limitations": "Mostly urban male speakers.",
            "maintenance": "Reviewed yearly by the lab.",
        },
    })
}

async fn croissant(
    app: &crate::helpers::TestApp,
    id: &str,
    token: Option<&str>,
) -> reqwest::Response {
    call(
        app,
        Method::GET,
        &format!("/api/v1/datasets/{id}/croissant"),
        token,
        None,
    )
    .await
}

/// A draft dataset of `ke-lab` (not published) with `extra`.
async fn draft_dataset(w: &World, title: &str, extra: Value) -> String {
    let created = body_of(
        w.app
            .post_json(
                "/api/v1/datasets",
                dataset_body(title, extra),
                Some(&w.owner.access),
            )
            .await,
        201,
    )
    .await;
    created["id"].as_str().unwrap().to_string()
}

// ----- Croissant -----------------------------------------------------------------

api_test!(
    croissant_has_every_required_field_and_validates,
    |backend| {
        let w = world(backend).await;
        let ds = w.dataset("Radio speech", full_dataset()).await;
        let res = croissant(&w.app, &ds.id, None).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"],
            "application/ld+json; profile=\"http://mlcommons.org/croissant/1.1\""
        );
        assert!(res.headers().contains_key("etag"));
        let base = w.app.address.clone();
        let doc: Value = res.json().await.unwrap();

        // The fields Croissant 1.1 requires or recommends, each checked here
        // (the validator is lenient about several of them).
        assert_eq!(doc["@type"], "sc:Dataset");
        assert_eq!(doc["@context"]["@vocab"], "https://schema.org/");
        assert_eq!(doc["@context"]["cr"], "http://mlcommons.org/croissant/");
        assert_eq!(
            doc["@context"]["rai"],
            "http://mlcommons.org/croissant/RAI/"
        );
        let conforms: Vec<&str> = doc["conformsTo"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            conforms.contains(&"http://mlcommons.org/croissant/1.1"),
            "{doc}"
        );
        assert!(
            conforms.contains(&"http://mlcommons.org/croissant/RAI/1.0"),
            "{doc}"
        );
        assert_eq!(doc["name"], "Radio speech");
        let description = doc["description"].as_str().unwrap();
        assert!(description.contains("About Radio speech."), "{description}");
        assert!(description.contains("Speech recognition for Kiswahili radio."));
        assert!(description.contains("Utterances with transcripts."));
        assert_eq!(doc["license"], "https://spdx.org/licenses/CC-BY-4.0.html");
        assert_eq!(doc["url"], format!("{base}/api/v1/datasets/{}", ds.id));
        assert_eq!(doc["creator"]["@type"], "sc:Organization");
        assert_eq!(doc["creator"]["name"], format!("Institution {INST}"));
        assert_eq!(doc["publisher"], doc["creator"]);
        let published = doc["datePublished"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(published).is_ok(),
            "{published}"
        );
        assert!(doc["dateModified"].is_string());
        assert_eq!(
            doc["version"], "3.0.0",
            "create, add a file, publish: version 3"
        );
        assert_eq!(doc["inLanguage"], json!(["sw", "en"]));
        assert_eq!(
            doc["keywords"],
            json!(["speech", "automatic-speech-recognition"])
        );
        assert!(doc["citeAs"].as_str().unwrap().contains("Radio speech"));
        assert_eq!(
            doc["usageInfo"],
            format!("{base}/api/v1/datasets/{}/policy", ds.id)
        );
        assert_eq!(doc["isAccessibleForFree"], false);
        let conditions = doc["conditionsOfAccess"].as_str().unwrap();
        assert!(
            conditions.contains("Restricted") && conditions.contains("KE, TZ"),
            "{conditions}"
        );

        let files = doc["distribution"].as_array().unwrap();
        assert_eq!(files.len(), 1);
        let f = &files[0];
        assert_eq!(f["@type"], "cr:FileObject");
        assert_eq!(f["@id"], ds.file);
        assert_eq!(f["name"], "radio-speech.csv");
        assert_eq!(
            f["contentUrl"],
            format!("{base}/api/v1/datasets/{}/files/{}/link", ds.id, ds.file)
        );
        assert_eq!(f["contentSize"], "1024 B");
        assert_eq!(f["encodingFormat"], "text/csv");
        assert_eq!(f["sha256"], "ab".repeat(32));

        // The datasheet as RAI fields.
        assert_eq!(
            doc["rai:dataCollection"],
            "Recorded from partner stations with consent."
        );
        assert_eq!(
            doc["rai:dataPreprocessingProtocol"],
            json!(["Names removed from transcripts."])
        );
        assert_eq!(doc["rai:dataUseCases"], json!(["Training ASR models."]));
        assert_eq!(
            doc["rai:dataBiases"],
            json!(["Mostly urban male speakers."])
        );
        assert_eq!(
            doc["rai:dataLimitations"],
            json!([
                "Mostly urban male speakers.",
                "Out-of-scope uses: Speaker identification."
            ])
        );
        assert_eq!(
            doc["rai:dataReleaseMaintenancePlan"],
            json!(["Reviewed yearly by the lab."])
        );
        assert!(
            doc["rai:personalSensitiveInformation"][0]
                .as_str()
                .unwrap()
                .contains("contains personal data")
        );

        // The stored file URL never leaks.
        assert!(!doc.to_string().contains(&ds.url), "{doc}");

        // And the reference validator agrees: no errors.
        if let Some(outcome) = mlcroissant_validate(&doc) {
            match outcome {
                Ok(log) => {
                    eprintln!("mlcroissant validate:\n{log}");
                    assert!(
                        !log.contains("ERROR") && !log.contains("WARNING"),
                        "mlcroissant: {log}"
                    );
                }
                Err(log) => panic!("mlcroissant validate failed:\n{log}\n{doc:#}"),
            }
        }

        // A minimal dataset (no optional field, no file) validates too.
        let bare = w
            .dataset(
                "Bare",
                json!({"datasheet": {"motivation": "M.", "composition": "C.",
                                              "collection_process": "P.", "uses": "U."}}),
            )
            .await;
        let doc: Value = body_of(croissant(&w.app, &bare.id, None).await, 200).await;
        assert_eq!(
            doc["rai:personalSensitiveInformation"][0],
            "The publisher states that this dataset contains no personal data."
        );
        if let Some(Err(log)) = mlcroissant_validate(&doc) {
            panic!("mlcroissant validate failed:\n{log}\n{doc:#}");
        }
    }
);

api_test!(croissant_shows_only_what_anonymous_readers_see, |backend| {
    let w = world(backend).await;
    let draft = draft_dataset(&w, "Draft", json!({})).await;
    let registered = w
        .dataset("Members only", json!({"visibility": "registered"}))
        .await;
    let institution = w
        .dataset("Lab only", json!({"visibility": "institution"}))
        .await;
    let public = w.dataset("Public", json!({})).await;
    for (id, what) in [
        (draft.as_str(), "a draft"),
        (registered.id.as_str(), "a registered-only dataset"),
        (institution.id.as_str(), "an institution-only dataset"),
        ("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "no dataset"),
        ("not-an-id", "a bad id"),
    ] {
        // Hidden from the owner's token too: exports are public views.
        for token in [None, Some(w.owner.access.as_str())] {
            let res = croissant(&w.app, id, token).await;
            crate::helpers::problem(res, 404).await;
            let _ = what;
        }
    }
    // A model card id is not a dataset.
    let card = body_of(
        w.app
            .post_json(
                "/api/v1/model-cards",
                json!({"institution": INST, "title": "A card"}),
                Some(&w.owner.access),
            )
            .await,
        201,
    )
    .await;
    crate::helpers::problem(
        croissant(&w.app, card["id"].as_str().unwrap(), None).await,
        404,
    )
    .await;
    // The public one: 200 for everyone, the same document.
    let anon: Value = body_of(croissant(&w.app, &public.id, None).await, 200).await;
    let owner: Value = body_of(
        croissant(&w.app, &public.id, Some(&w.owner.access)).await,
        200,
    )
    .await;
    assert_eq!(anon, owner);
});

api_test!(croissant_negotiates_and_revalidates, |backend| {
    let w = world(backend).await;
    let ds = w.dataset("Negotiated", json!({})).await;
    let path = format!("/api/v1/datasets/{}/croissant", ds.id);
    for accept in [
        "application/ld+json",
        "application/json",
        "*/*",
        "application/*",
    ] {
        let res = send(
            &w.app,
            Method::GET,
            &path,
            None,
            None,
            &[("accept", accept)],
        )
        .await;
        assert_eq!(res.status(), 200, "{accept}");
    }
    let res = send(
        &w.app,
        Method::GET,
        &path,
        None,
        None,
        &[("accept", "text/html")],
    )
    .await;
    let p = crate::helpers::problem(res, 406).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("application/ld+json"), "{detail}");
    let res = croissant(&w.app, &ds.id, None).await;
    let tag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = send(
        &w.app,
        Method::GET,
        &path,
        None,
        None,
        &[("if-none-match", &tag)],
    )
    .await;
    assert_eq!(res.status(), 304);
});

// ----- schema.org ------------------------------------------------------------------

/// Creates `kind` from `body` as the owner, adds `modules` (courses) and
/// publishes it; its id.
async fn published(w: &World, collection: &str, body: Value, modules: &[&str]) -> String {
    let created = body_of(
        w.app
            .post_json(
                &format!("/api/v1/{collection}"),
                body,
                Some(&w.owner.access),
            )
            .await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    for m in modules {
        body_of(
            w.app
                .post_json(
                    &format!("/api/v1/courses/{id}/modules"),
                    json!({"title": m, "content": "Text.", "duration_minutes": 30}),
                    Some(&w.owner.access),
                )
                .await,
            201,
        )
        .await;
    }
    let path = format!("/api/v1/{collection}/{id}/publish");
    body_of(
        call(&w.app, Method::POST, &path, Some(&w.owner.access), None).await,
        200,
    )
    .await;
    id
}

fn card_body(title: &str, extra: Value) -> Value {
    crate::helpers::json::with(
        &json!({
            "institution": INST, "title": title, "summary": "Kiswahili ASR.",
            "license": "Apache-2.0", "languages": ["sw"], "tags": ["asr"],
            "risk_tier": "minimal", "intended_uses": "Transcribing radio.",
            "out_of_scope_uses": "Surveillance.",
        }),
        extra,
    )
}

async fn ld(w: &World, path: &str, token: Option<&str>) -> reqwest::Response {
    send(
        &w.app,
        Method::GET,
        path,
        token,
        None,
        &[("accept", "application/ld+json")],
    )
    .await
}

api_test!(schema_org_on_single_reads, |backend| {
    let w = world(backend).await;
    let base = w.app.address.clone();
    let ds = w.dataset("Radio speech", full_dataset()).await;
    let course = published(
        &w,
        "courses",
        json!({"institution": INST, "title": "Intro to ASR", "summary": "Learn ASR.",
               "license": "CC-BY-4.0", "languages": ["sw", "en"], "level": "beginner",
               "delivery": "self_paced", "duration_hours": 4.5,
               "prerequisites": "Some Python."}),
        &["Sounds", "Models"],
    )
    .await;
    let dataset_path = format!("/api/v1/datasets/{}", ds.id);
    let card = published(
        &w,
        "model-cards",
        card_body(
            "Swahili ASR",
            json!({"task": "automatic-speech-recognition",
            "base_model": "openai/whisper-small",
            "related": [{"relation": "trained_on", "resource_id": ds.id}]}),
        ),
        &[],
    )
    .await;

    // Dataset.
    let res = ld(&w, &dataset_path, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/ld+json");
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["@context"], "https://schema.org");
    assert_eq!(d["@type"], "Dataset");
    assert_eq!(d["name"], "Radio speech");
    assert_eq!(d["url"], format!("{base}{dataset_path}"));
    assert_eq!(d["license"], "https://spdx.org/licenses/CC-BY-4.0.html");
    assert_eq!(d["isAccessibleForFree"], false);
    assert!(
        d["conditionsOfAccess"]
            .as_str()
            .unwrap()
            .contains("Restricted")
    );
    assert_eq!(d["creator"]["@type"], "Organization");
    assert_eq!(d["creator"]["address"]["addressCountry"], "KE");
    let dist = &d["distribution"][0];
    assert_eq!(dist["@type"], "DataDownload");
    assert_eq!(
        dist["contentUrl"],
        format!("{base}/api/v1/datasets/{}/files/{}/link", ds.id, ds.file)
    );
    assert_eq!(dist["encodingFormat"], "text/csv");
    assert!(!d.to_string().contains(&ds.url), "{d}");

    // Course.
    let c: Value = body_of(
        ld(&w, &format!("/api/v1/courses/{course}"), None).await,
        200,
    )
    .await;
    assert_eq!(c["@type"], "Course");
    assert_eq!(c["provider"]["name"], format!("Institution {INST}"));
    assert_eq!(c["inLanguage"], json!(["sw", "en"]));
    assert_eq!(c["educationalLevel"], "beginner");
    assert_eq!(c["coursePrerequisites"], "Some Python.");
    let instance = &c["hasCourseInstance"][0];
    assert_eq!(instance["@type"], "CourseInstance");
    assert_eq!(instance["courseMode"], "Online");
    assert_eq!(instance["courseWorkload"], "PT4H30M");
    assert_eq!(c["offers"][0]["category"], "Free");
    assert_eq!(c["offers"][0]["price"], 0);
    assert_eq!(c["syllabusSections"][1]["name"], "Models");

    // Model card.
    let m: Value = body_of(
        ld(&w, &format!("/api/v1/model-cards/{card}"), None).await,
        200,
    )
    .await;
    assert_eq!(m["@type"], json!(["SoftwareSourceCode", "CreativeWork"]));
    assert_eq!(m["name"], "Swahili ASR");
    assert_eq!(m["license"], "https://spdx.org/licenses/Apache-2.0.html");
    assert_eq!(m["about"]["name"], "automatic-speech-recognition");
    assert_eq!(m["isBasedOn"][0], "openai/whisper-small");
    assert_eq!(m["isBasedOn"][1]["url"], format!("{base}{dataset_path}"));

    // JSON stays the default; what nobody offers is a 406 naming the offers.
    let plain: Value = body_of(
        call(&w.app, Method::GET, &dataset_path, None, None).await,
        200,
    )
    .await;
    assert_eq!(plain["kind"], "dataset");
    let res = send(
        &w.app,
        Method::GET,
        &dataset_path,
        None,
        None,
        &[("accept", "text/html")],
    )
    .await;
    let p = crate::helpers::problem(res, 406).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("application/json") && detail.contains("application/ld+json"),
        "{detail}"
    );
    // The public cache keeps the two representations apart.
    let again: Value = body_of(ld(&w, &dataset_path, None).await, 200).await;
    assert_eq!(again["@type"], "Dataset");
    let plain_again: Value = body_of(
        call(&w.app, Method::GET, &dataset_path, None, None).await,
        200,
    )
    .await;
    assert_eq!(plain_again["kind"], "dataset");
});

api_test!(
    schema_org_shows_only_what_anonymous_readers_see,
    |backend| {
        let w = world(backend).await;
        let draft = draft_dataset(&w, "Draft", json!({})).await;
        let members = w
            .dataset("Members only", json!({"visibility": "registered"}))
            .await;
        let partners = w
            .dataset("Partners only", json!({"visibility": "partnership"}))
            .await;
        for id in [draft, members.id, partners.id] {
            let path = format!("/api/v1/datasets/{id}");
            // The owner reads the JSON, but no export: exports are public views.
            body_of(
                call(&w.app, Method::GET, &path, Some(&w.owner.access), None).await,
                200,
            )
            .await;
            crate::helpers::problem(ld(&w, &path, Some(&w.owner.access)).await, 404).await;
            crate::helpers::problem(ld(&w, &path, None).await, 404).await;
        }
        // An unverified institution's published resources are not public either.
        let other = w.app.signup("owner@unverified.example.org").await;
        crate::helpers::institutions::create(
            &w.app,
            &other.access,
            crate::helpers::access::institution("tz-lab", "TZ"),
        )
        .await;
        let created = body_of(
            w.app
                .post_json(
                    "/api/v1/model-cards",
                    card_body("Unverified", json!({"institution": "tz-lab"})),
                    Some(&other.access),
                )
                .await,
            201,
        )
        .await;
        let path = format!("/api/v1/model-cards/{}", created["id"].as_str().unwrap());
        crate::helpers::problem(ld(&w, &path, Some(&other.access)).await, 404).await;
    }
);
