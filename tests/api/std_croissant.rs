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
        // `platform.public_url` (its default): never the request's Host.
        let base = "http://localhost:8080".to_string();
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
    // `platform.public_url` (its default): never the request's Host.
    let base = "http://localhost:8080".to_string();
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

// ----- Hugging Face cards ------------------------------------------------------------

/// Splits a README into its front matter (parsed) and its Markdown.
fn split_readme(md: &str) -> (Value, String) {
    let rest = md.strip_prefix("---\n").expect("front matter first");
    let (yaml, body) = rest.split_once("\n---\n").expect("front matter closed");
    (serde_norway::from_str(yaml).unwrap(), body.to_string())
}

/// Every field a model card has, set.
fn full_card(dataset: &str) -> Value {
    card_body(
        "Swahili ASR",
        json!({
            "summary": "Speech recognition for Kiswahili radio.",
            "description": "A fine-tuned Whisper.\n\n### How to use\n\nLoad it with `transformers`.",
            "languages": ["sw", "en"],
            "countries": ["KE", "TZ"],
            "tags": ["asr", "kiswahili"],
            "risk_tier": "high",
            "model_type": "Transformer encoder-decoder",
            "architecture": "Whisper small",
            "base_model": "openai/whisper-small",
            "task": "automatic-speech-recognition",
            "intended_uses": "Transcribing radio.",
            "out_of_scope_uses": "Surveillance.",
            "factors": "Accent, gender, background noise.",
            "metrics": "Word error rate.",
            "training_data": "Radio speech (on the platform).",
            "evaluation_data": "A held-out tenth.",
            "ethical_considerations": "Speakers consented.",
            "caveats": "Not for legal transcripts.",
            "environmental_impact": "12 GPU hours.",
            "related": [{"relation": "trained_on", "resource_id": dataset}],
            "results": [
                {"task": "automatic-speech-recognition", "dataset": "Radio speech", "dataset_id": dataset,
                 "metric": "wer", "value": 0.21, "slice": "women"},
                {"task": "automatic-speech-recognition", "dataset": "Radio speech", "dataset_id": dataset,
                 "metric": "wer", "value": 0.19, "slice": "men"},
                {"task": "automatic-speech-recognition", "metric": "cer", "value": 0.08},
            ],
        }),
    )
}

/// The fields an import must give back unchanged.
const KEPT: &[&str] = &[
    "title",
    "summary",
    "description",
    "license",
    "languages",
    "countries",
    "tags",
    "risk_tier",
    "model_type",
    "architecture",
    "base_model",
    "task",
    "intended_uses",
    "out_of_scope_uses",
    "factors",
    "metrics",
    "training_data",
    "evaluation_data",
    "ethical_considerations",
    "caveats",
    "environmental_impact",
    "results",
    "related",
];

async fn import(w: &World, query: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    w.app
        .client
        .post(w.app.url(&format!("/api/v1/model-cards/import{query}")))
        .bearer_auth(&w.owner.access)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn card_count(w: &World) -> usize {
    let mut n = 0;
    for status in ["draft", "published"] {
        let path = format!("/api/v1/model-cards?limit=100&status={status}");
        let page: Value = body_of(
            call(&w.app, Method::GET, &path, Some(&w.owner.access), None).await,
            200,
        )
        .await;
        n += page["items"].as_array().unwrap().len();
    }
    n
}

api_test!(model_card_readme_round_trip, |backend| {
    let w = world(backend).await;
    let ds = w.dataset("Radio speech", json!({})).await;
    let card = published(&w, "model-cards", full_card(&ds.id), &[]).await;
    let original: Value = body_of(
        call(
            &w.app,
            Method::GET,
            &format!("/api/v1/model-cards/{card}"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;

    let res = call(
        &w.app,
        Method::GET,
        &format!("/api/v1/model-cards/{card}/README.md"),
        None,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/markdown; charset=utf-8"
    );
    let md = res.text().await.unwrap();
    let (fm, text) = split_readme(&md);
    assert_eq!(fm["language"], json!(["sw", "en"]));
    assert_eq!(fm["license"], "apache-2.0");
    assert_eq!(fm["tags"], json!(["asr", "kiswahili"]));
    assert_eq!(fm["datasets"], json!(["Radio speech"]));
    assert_eq!(fm["base_model"], "openai/whisper-small");
    assert_eq!(fm["pipeline_tag"], "automatic-speech-recognition");
    let index = &fm["model-index"][0];
    assert_eq!(index["name"], "Swahili ASR");
    let first = &index["results"][0];
    assert_eq!(first["task"]["type"], "automatic-speech-recognition");
    assert_eq!(first["dataset"]["name"], "Radio speech");
    assert_eq!(first["dataset"]["config"], "women");
    assert_eq!(first["metrics"][0]["type"], "wer");
    assert_eq!(first["metrics"][0]["value"], 0.21);
    assert!(text.contains("\n# Swahili ASR\n"), "{text}");
    for heading in [
        "## Model Details",
        "### Direct Use",
        "### Out-of-Scope Use",
        "## Bias, Risks, and Limitations",
        "## Recommendations",
        "### Training Data",
        "### Testing Data",
        "### Factors",
        "### Metrics",
        "### Results",
        "## Environmental Impact",
    ] {
        assert!(text.contains(heading), "{heading} missing:\n{text}");
    }

    // Import it back: every field the platform has comes back.
    let before = card_count(&w).await;
    let res = import(
        &w,
        &format!("?institution={INST}"),
        "text/markdown",
        md.clone().into_bytes(),
    )
    .await;
    let created = body_of(res, 201).await;
    assert_eq!(card_count(&w).await, before + 1);
    let copy = &created["model_card"];
    assert_eq!(copy["status"], "draft");
    for field in KEPT {
        assert_eq!(
            copy[*field], original[*field],
            "{field} changed in the round trip"
        );
    }
    assert_eq!(created["unmapped"], json!([]), "{created}");

    // The same as a multipart upload, the institution as a form field
    // (here it comes from the README's `kujenga.institution` otherwise).
    let boundary = "kujengaBoundary42";
    let mut form = Vec::new();
    form.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"institution\"\r\n\r\n{INST}\r\n"
        )
        .as_bytes(),
    );
    form.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"README.md\"\r\nContent-Type: text/markdown\r\n\r\n").as_bytes());
    form.extend_from_slice(md.as_bytes());
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = import(
        &w,
        "",
        &format!("multipart/form-data; boundary={boundary}"),
        form,
    )
    .await;
    let again = body_of(res, 201).await;
    for field in KEPT {
        assert_eq!(
            again["model_card"][*field], original[*field],
            "{field} (multipart)"
        );
    }
    // Hidden cards have no README.
    let draft = &copy["id"];
    let res = call(
        &w.app,
        Method::GET,
        &format!("/api/v1/model-cards/{}/README.md", draft.as_str().unwrap()),
        Some(&w.owner.access),
        None,
    )
    .await;
    crate::helpers::problem(res, 404).await;
});

api_test!(importing_a_hub_card_reports_what_it_cannot_map, |backend| {
    let w = world(backend).await;
    let readme = "---\nlanguage:\n- sw\n- multilingual\nlicense: openrail\nlibrary_name: transformers\npipeline_tag: automatic-speech-recognition\ndatasets:\n- mozilla-foundation/common_voice_11_0\nmodel-index:\n- name: whisper-sw\n  results:\n  - task:\n      type: automatic-speech-recognition\n    dataset:\n      name: Common Voice 11\n      type: mozilla-foundation/common_voice_11_0\n      split: test\n    metrics:\n    - type: wer\n      value: 32.5\n---\n\n# whisper-sw\n\nFine-tuned on Common Voice.\n\n## Training procedure\n\nAdam, 5000 steps.\n\n## Uses\n\n### Direct Use\n\nTranscription.\n";
    let res = import(
        &w,
        &format!("?institution={INST}"),
        "text/markdown; charset=utf-8",
        readme.into(),
    )
    .await;
    let created = body_of(res, 201).await;
    let card = &created["model_card"];
    assert_eq!(card["title"], "whisper-sw");
    assert_eq!(card["languages"], json!(["sw"]));
    assert_eq!(card["license"], Value::Null);
    assert_eq!(card["task"], "automatic-speech-recognition");
    assert_eq!(card["intended_uses"], "Transcription.");
    assert_eq!(
        card["description"],
        "Fine-tuned on Common Voice.\n\n## Training procedure\n\nAdam, 5000 steps."
    );
    assert_eq!(card["results"][0]["dataset"], "Common Voice 11");
    assert_eq!(card["results"][0]["value"], 32.5);
    let fields: Vec<(String, u64)> = created["unmapped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["field"].as_str().unwrap().to_string(),
                u["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("front_matter.language".to_string(), 2),
            ("front_matter.license".to_string(), 5),
            ("front_matter.library_name".to_string(), 6),
            ("front_matter.datasets".to_string(), 8),
        ],
        "{created}"
    );
});

api_test!(malformed_or_oversized_readmes_create_nothing, |backend| {
    let w = world(backend).await;
    let before = card_count(&w).await;
    let q = format!("?institution={INST}");
    for (readme, field, needle) in [
        (
            "---\ntitle: x\n\n# Never closed\n",
            "front_matter",
            "line 1",
        ),
        (
            "---\nlanguage: [sw\nlicense: mit\n---\n# T\n",
            "front_matter",
            "line 3",
        ),
        (
            "---\ntags:\n  a: b\n---\n# T\n",
            "front_matter.tags",
            "line 2",
        ),
        (
            "---\nmodel-index: 5\n---\n# T\n",
            "front_matter.model-index",
            "line 2",
        ),
        (
            "---\nlicense: mit\n---\n# T\n\nA \u{0} here\n",
            "readme",
            "line 6",
        ),
        ("---\nlicense: mit\n---\nNo title at all.\n", "title", ""),
        (
            "---\ntags: [\"this tag is far far far far far far far too long to be one\"]\n---\n# T\n",
            "tags",
            "",
        ),
    ] {
        let res = import(&w, &q, "text/markdown", readme.into()).await;
        let p = crate::helpers::problem(res, 400).await;
        let errors = p["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["message"].as_str().unwrap().contains(needle)),
            "{readme:?}: {p}"
        );
    }
    // Not UTF-8.
    let res = import(
        &w,
        &q,
        "text/markdown",
        b"---\nlicense: mit\n---\n# T\n\xff\n".to_vec(),
    )
    .await;
    let p = crate::helpers::problem(res, 400).await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 5"),
        "{p}"
    );
    // Too big.
    let mut big = b"---\nlicense: mit\n---\n# Big\n\n".to_vec();
    big.resize(1024 * 1024 + 1, b'a');
    crate::helpers::problem(import(&w, &q, "text/markdown", big).await, 413).await;
    // Not Markdown; no institution anywhere; an institution you do not edit for.
    crate::helpers::problem(
        import(&w, &q, "application/json", b"{}".to_vec()).await,
        415,
    )
    .await;
    let res = import(&w, "", "text/markdown", b"# T\n".to_vec()).await;
    let p = crate::helpers::problem(res, 400).await;
    assert_eq!(p["errors"][0]["field"], "institution");
    let res = import(
        &w,
        "?institution=nowhere",
        "text/markdown",
        b"# T\n".to_vec(),
    )
    .await;
    crate::helpers::problem(res, 404).await;
    // Anonymous.
    let res = w
        .app
        .client
        .post(w.app.url("/api/v1/model-cards/import"))
        .header("content-type", "text/markdown")
        .body("# T\n")
        .send()
        .await
        .unwrap();
    crate::helpers::problem(res, 401).await;
    assert_eq!(card_count(&w).await, before, "nothing was created");
});

api_test!(dataset_card_readme, |backend| {
    let w = world(backend).await;
    let ds = w.dataset("Radio speech", full_dataset()).await;
    let res = call(
        &w.app,
        Method::GET,
        &format!("/api/v1/datasets/{}/README.md", ds.id),
        None,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let md = res.text().await.unwrap();
    let (fm, text) = split_readme(&md);
    assert_eq!(fm["language"], json!(["sw", "en"]));
    assert_eq!(fm["license"], "cc-by-4.0");
    assert_eq!(fm["pretty_name"], "Radio speech");
    assert_eq!(fm["size_categories"], json!(["10K<n<100K"]));
    assert_eq!(
        fm["task_categories"],
        json!(["automatic-speech-recognition"])
    );
    for needle in [
        "## Curation Rationale",
        "Speech recognition for Kiswahili radio.",
        "## Bias, Risks, and Limitations",
        "Mostly urban male speakers.",
        "## Personal and Sensitive Information",
        "/policy",
        "/croissant",
        "radio-speech.csv",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(!md.contains(&ds.url), "the stored file URL leaks:\n{md}");
    let hidden = w
        .dataset("Hidden", json!({"visibility": "institution"}))
        .await;
    let res = call(
        &w.app,
        Method::GET,
        &format!("/api/v1/datasets/{}/README.md", hidden.id),
        Some(&w.owner.access),
        None,
    )
    .await;
    crate::helpers::problem(res, 404).await;
});
