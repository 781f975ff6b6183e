//! Citations (`…/{id}/citation?style=`) and the `doi` field.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::http::{body_of, call};
use crate::helpers::institutions::{create_slug, verify};
use crate::helpers::search::{COURSES, DATASETS, MODEL_CARDS, draft, published};
use crate::helpers::versions::edit_published;
use crate::helpers::{TestApp, problem};

async fn cite(app: &TestApp, token: Option<&str>, path: &str) -> reqwest::Response {
    call(app, Method::GET, path, token, None).await
}

api_test!(doi_is_validated_stored_and_cleared, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@cite-lab.example.org").await;
    create_slug(&app, &owner.access, "cite-lab").await;
    verify(&app, &root.access, "cite-lab").await;
    let id = published(
        &app,
        &owner.access,
        DATASETS,
        "cite-lab",
        "Cited data",
        json!({"doi": "https://doi.org/10.5281/zenodo.1234567"}),
    )
    .await;
    let read = body_of(app.get(&format!("/api/v1/datasets/{id}")).await, 200).await;
    assert_eq!(read["doi"], "10.5281/zenodo.1234567");
    // DataCite over OAI-PMH names it by its DOI, the landing page beside.
    let res = app
        .get(&format!(
            "/oai?verb=GetRecord&metadataPrefix=oai_datacite&identifier=oai:localhost:{id}"
        ))
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let xml = res.text().await.unwrap();
    assert!(
        xml.contains("<identifier identifierType=\"DOI\">10.5281/zenodo.1234567</identifier>"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<alternateIdentifier alternateIdentifierType=\"URL\">http://localhost:8080/api/v1/datasets/{id}</alternateIdentifier>"
        )),
        "{xml}"
    );
    for bad in [
        "11.5281/x",
        "10.12/x",
        "10.5281/",
        "10.5281/has space",
        "doi",
        "10.abcd/x",
    ] {
        let res = call(
            &app,
            Method::POST,
            "/api/v1/courses",
            Some(&owner.access),
            Some(json!({"institution": "cite-lab", "title": "T", "doi": bad})),
        )
        .await;
        let p = problem(res, 400).await;
        assert_eq!(p["errors"][0]["field"], "doi", "{bad}: {p}");
        // The published dataset changes through the draft of its next
        // version, which refuses the bad DOI.
        let res = edit_published(
            &app,
            Some(&owner.access),
            &format!("/api/v1/datasets/{id}"),
            json!({"doi": bad}),
        )
        .await;
        let p = problem(res, 400).await;
        assert_eq!(p["errors"][0]["field"], "doi", "{bad}: {p}");
    }
    let read = body_of(app.get(&format!("/api/v1/datasets/{id}")).await, 200).await;
    assert_eq!(read["doi"], "10.5281/zenodo.1234567", "unchanged");
    let res = edit_published(
        &app,
        Some(&owner.access),
        &format!("/api/v1/datasets/{id}"),
        json!({"doi": null}),
    )
    .await;
    assert_eq!(body_of(res, 200).await["doi"], Value::Null);
    let list = body_of(app.get("/api/v1/courses?limit=100").await, 200).await;
    assert!(
        list["items"].as_array().unwrap().is_empty(),
        "no course was created: {list}"
    );
});

api_test!(citations_in_four_styles_for_readers_only, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@cite-lab.example.org").await;
    create_slug(&app, &owner.access, "cite-lab").await;
    verify(&app, &root.access, "cite-lab").await;
    let ds = published(
        &app,
        &owner.access,
        DATASETS,
        "cite-lab",
        "Sauti speech_corpus",
        json!({"doi": "10.5281/zenodo.42"}),
    )
    .await;
    let course = published(
        &app,
        &owner.access,
        COURSES,
        "cite-lab",
        "Intro course",
        json!({}),
    )
    .await;
    let hidden = published(
        &app,
        &owner.access,
        MODEL_CARDS,
        "cite-lab",
        "Inside only",
        json!({"visibility": "institution"}),
    )
    .await;
    let unpublished = draft(
        &app,
        &owner.access,
        DATASETS,
        "cite-lab",
        "Not yet",
        json!({}),
    )
    .await;
    let year = chrono::Utc::now().format("%Y").to_string();

    let res = cite(
        &app,
        None,
        &format!("/api/v1/datasets/{ds}/citation?style=bibtex"),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/x-bibtex; charset=utf-8"
    );
    let bib = res.text().await.unwrap();
    assert!(bib.starts_with("@dataset{kujenga-"), "{bib}");
    for part in [
        "author = {{Institution cite-lab}}",
        "title = {{Sauti speech\\_corpus}}",
        &format!("year = {{{year}}}"),
        "doi = {10.5281/zenodo.42}",
        &format!("url = {{http://localhost:8080/api/v1/datasets/{ds}}}"),
    ] {
        assert!(bib.contains(part), "{part}: {bib}");
    }
    let res = cite(
        &app,
        None,
        &format!("/api/v1/datasets/{ds}/citation?style=ris"),
    )
    .await;
    assert_eq!(
        res.headers()["content-type"],
        "application/x-research-info-systems; charset=utf-8"
    );
    let ris = res.text().await.unwrap();
    assert!(
        ris.starts_with(
            "TY  - DATA\r\nAU  - Institution cite-lab\r\nTI  - Sauti speech_corpus\r\n"
        ),
        "{ris}"
    );
    assert!(
        ris.contains("DO  - 10.5281/zenodo.42\r\n") && ris.ends_with("ER  - \r\n"),
        "{ris}"
    );
    let res = cite(
        &app,
        None,
        &format!("/api/v1/datasets/{ds}/citation?style=csl-json"),
    )
    .await;
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.citationstyles.csl+json"
    );
    let csl: Value = res.json().await.unwrap();
    assert_eq!(csl[0]["type"], "dataset");
    assert_eq!(csl[0]["DOI"], "10.5281/zenodo.42");
    assert_eq!(csl[0]["title"], "Sauti speech_corpus");
    let version =
        body_of(app.get(&format!("/api/v1/datasets/{ds}")).await, 200).await["version"].to_string();
    assert_eq!(csl[0]["version"], json!(version));
    let res = cite(
        &app,
        None,
        &format!("/api/v1/courses/{course}/citation?style=apa"),
    )
    .await;
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    let version =
        body_of(app.get(&format!("/api/v1/courses/{course}")).await, 200).await["version"]
            .to_string();
    assert_eq!(
        res.text().await.unwrap(),
        format!(
            "Institution cite-lab. ({year}). Intro course (Version {version}) [Course]. Kujenga. http://localhost:8080/api/v1/courses/{course}\n"
        )
    );

    // Bad input: 400 problems naming the parameter.
    for q in [
        "",
        "?style=mla",
        "?style=bibtex&style=ris",
        "?format=bibtex",
    ] {
        let res = cite(&app, None, &format!("/api/v1/datasets/{ds}/citation{q}")).await;
        let p = problem(res, 400).await;
        assert!(
            p["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{q}: {p}"
        );
    }
    // What a reader may not see is not cited: 404, as the single read.
    for (who, path, status) in [
        (
            None,
            format!("/api/v1/model-cards/{hidden}/citation?style=apa"),
            404,
        ),
        (
            None,
            format!("/api/v1/datasets/{unpublished}/citation?style=apa"),
            404,
        ),
        (
            None,
            format!("/api/v1/courses/{ds}/citation?style=apa"),
            404,
        ),
        (
            None,
            "/api/v1/datasets/not-an-id/citation?style=apa".to_string(),
            404,
        ),
        (
            Some(owner.access.as_str()),
            format!("/api/v1/model-cards/{hidden}/citation?style=apa"),
            200,
        ),
    ] {
        assert_eq!(
            cite(&app, who, &path).await.status().as_u16(),
            status,
            "{path}"
        );
    }
    let stranger = app.signup("someone@else.example.org").await;
    assert_eq!(
        cite(
            &app,
            Some(&stranger.access),
            &format!("/api/v1/model-cards/{hidden}/citation?style=ris")
        )
        .await
        .status()
        .as_u16(),
        404
    );
});

// FAIR signposting: the Link header and `alternate_formats` of a public
// resource; nothing of the kind for one that is not public.
api_test!(public_resources_carry_signposting_links, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@cite-lab.example.org").await;
    create_slug(&app, &owner.access, "cite-lab").await;
    verify(&app, &root.access, "cite-lab").await;
    let ds = draft(
        &app,
        &owner.access,
        DATASETS,
        "cite-lab",
        "Signposted",
        json!({"doi": "10.5281/zenodo.7", "license": "CC-BY-4.0"}),
    )
    .await;
    let file = body_of(app.post_json(&format!("/api/v1/datasets/{ds}/files"),
        json!({"name": "a.csv", "url": "https://data.example.org/secret/a.csv", "media_type": "text/csv",
               "size_bytes": 10, "sha256": "ab".repeat(32)}), Some(&owner.access)).await, 201).await;
    let file_id = file["id"].as_str().unwrap().to_string();
    crate::helpers::search::publish(&app, &owner.access, DATASETS, &ds).await;
    let hidden = published(
        &app,
        &owner.access,
        COURSES,
        "cite-lab",
        "Members only",
        json!({"visibility": "registered"}),
    )
    .await;

    for token in [None, Some(owner.access.as_str())] {
        let res = call(
            &app,
            Method::GET,
            &format!("/api/v1/datasets/{ds}"),
            token,
            None,
        )
        .await;
        assert_eq!(res.status().as_u16(), 200);
        let link = res
            .headers()
            .get_all("link")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let base = format!("http://localhost:8080/api/v1/datasets/{ds}");
        for part in [
            "<https://doi.org/10.5281/zenodo.7>; rel=\"cite-as\"".to_string(),
            "<https://schema.org/Dataset>; rel=\"type\"".to_string(),
            "<https://spdx.org/licenses/CC-BY-4.0>; rel=\"license\"".to_string(),
            format!(
                "<{base}/citation?style=bibtex>; rel=\"describedby\"; type=\"application/x-bibtex\""
            ),
            format!("<{base}/files/{file_id}/link>; rel=\"item\"; type=\"text/csv\""),
            format!(
                "<http://localhost:8080/oai?verb=GetRecord&metadataPrefix=oai_datacite&identifier=oai:localhost:{ds}>; rel=\"describedby\""
            ),
        ] {
            assert!(link.contains(&part), "{part}\nin {link}");
        }
        assert!(
            !link.contains("secret"),
            "the file's own URL never shows: {link}"
        );
        let body: Value = res.json().await.unwrap();
        let formats = body["alternate_formats"].as_array().unwrap();
        assert!(
            formats
                .iter()
                .any(|f| f["type"] == "application/x-research-info-systems"
                    && f["rel"] == "describedby"
                    && f["href"] == format!("{base}/citation?style=ris")),
            "{formats:?}"
        );
        // Every describedby link of the header is listed in the JSON.
        for f in formats {
            assert!(
                link.contains(&format!(
                    "<{}>; rel=\"{}\"; type=\"{}\"",
                    f["href"].as_str().unwrap(),
                    f["rel"].as_str().unwrap(),
                    f["type"].as_str().unwrap()
                )),
                "{f}"
            );
        }
        // The citation links answer.
        let bib = cite(
            &app,
            None,
            &format!("/api/v1/datasets/{ds}/citation?style=bibtex"),
        )
        .await;
        assert_eq!(bib.status().as_u16(), 200);
    }
    let res = call(
        &app,
        Method::GET,
        &format!("/api/v1/courses/{hidden}"),
        Some(&owner.access),
        None,
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()
            .get_all("link")
            .iter()
            .all(|v| !v.to_str().unwrap().contains("cite-as"))
    );
    let body: Value = res.json().await.unwrap();
    assert!(body.get("alternate_formats").is_none(), "{body}");
});
