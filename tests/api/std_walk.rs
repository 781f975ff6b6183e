//! Issue #17 point 9: every export, walked as an anonymous reader over a
//! catalogue holding every visibility, shows the public resources and
//! nothing of the others — not in the catalogue pages, not in OAI-PMH, not
//! at their own export URLs (404).

use reqwest::Method;
use serde_json::json;

use crate::api_test;
use crate::helpers::TestApp;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::http::call;
use crate::helpers::institutions::{create_slug, verify};
use crate::helpers::search::{COURSES, DATASETS, MODEL_CARDS, draft, published};

/// The body of an anonymous GET with this `Accept` (none: the default).
async fn anonymous(app: &TestApp, path: &str, accept: Option<&str>) -> (u16, String) {
    let mut req = app.client.request(Method::GET, app.url(path));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

/// Every per-resource export URL of a resource of this collection, with
/// the `Accept` it is asked with.
fn exports_of(coll: &str, id: &str) -> Vec<(String, Option<&'static str>)> {
    let mut out = vec![
        (format!("/api/v1/{coll}/{id}"), Some("application/ld+json")),
        (format!("/api/v1/{coll}/{id}/citation?style=bibtex"), None),
        (format!("/api/v1/{coll}/{id}/citation?style=csl-json"), None),
    ];
    if coll == DATASETS {
        out.extend([
            (format!("/api/v1/{coll}/{id}"), Some("text/turtle")),
            (format!("/api/v1/{coll}/{id}"), Some("application/rdf+xml")),
            (format!("/api/v1/{coll}/{id}/policy"), None),
            (format!("/api/v1/{coll}/{id}/croissant"), None),
            (format!("/api/v1/{coll}/{id}/README.md"), None),
        ]);
    }
    if coll == MODEL_CARDS {
        out.push((format!("/api/v1/{coll}/{id}/README.md"), None));
    }
    out
}

api_test!(
    every_export_shows_anonymous_readers_only_the_public,
    |backend| {
        let app = start(backend).await;
        let root = admin(&app, "root@kujenga.test").await;
        let owner = app.signup("owner@walk-lab.example.org").await;
        let o = owner.access.as_str();
        create_slug(&app, o, "walk-lab").await;
        verify(&app, &root.access, "walk-lab").await;
        let stranger = app.signup("owner@shadow-lab.example.org").await;
        create_slug(&app, &stranger.access, "shadow-lab").await;
        verify(&app, &root.access, "shadow-lab").await;

        let mut public = Vec::new();
        let mut hidden = Vec::new();
        for coll in [COURSES, DATASETS, MODEL_CARDS] {
            public.push((
                coll,
                published(&app, o, coll, "walk-lab", "Open walk", json!({})).await,
            ));
            for visibility in ["registered", "institution", "partnership"] {
                hidden.push((
                    coll,
                    published(
                        &app,
                        o,
                        coll,
                        "walk-lab",
                        &format!("Hidden {visibility} walk"),
                        json!({"visibility": visibility}),
                    )
                    .await,
                ));
            }
            hidden.push((
                coll,
                draft(&app, o, coll, "walk-lab", "Draft walk", json!({})).await,
            ));
            // Public, in an institution that will not be verified any more.
            hidden.push((
                coll,
                published(
                    &app,
                    &stranger.access,
                    coll,
                    "shadow-lab",
                    "Unverified walk",
                    json!({}),
                )
                .await,
            ));
        }

        // A new country un-verifies shadow-lab: its public resources are hidden.
        let res = call(
            &app,
            Method::PATCH,
            "/api/v1/institutions/shadow-lab",
            Some(&stranger.access),
            Some(json!({"country": "UG"})),
        )
        .await;
        assert_eq!(res.status().as_u16(), 200);

        // The harvestable lists, in every format.
        let mut lists = Vec::new();
        for (path, accept) in [
            ("/api/v1/catalog", None),
            ("/api/v1/catalog.ttl", None),
            ("/api/v1/catalog.rdf", None),
            ("/api/v1/catalog", Some("text/turtle")),
            ("/oai?verb=ListRecords&metadataPrefix=oai_dc", None),
            ("/oai?verb=ListRecords&metadataPrefix=oai_datacite", None),
            ("/oai?verb=ListIdentifiers&metadataPrefix=oai_dc", None),
        ] {
            let (status, body) = anonymous(&app, path, accept).await;
            assert_eq!(status, 200, "{path}: {body}");
            lists.push((path, body));
        }
        for (path, body) in &lists {
            for (coll, id) in &hidden {
                assert!(
                    !body.contains(id.as_str()),
                    "{path} shows a hidden {coll} {id}"
                );
            }
            for (coll, id) in &public {
                // The DCAT catalogue holds datasets only; OAI-PMH every kind.
                if path.starts_with("/oai") || *coll == DATASETS {
                    assert!(
                        body.contains(id.as_str()),
                        "{path} misses the public {coll} {id}"
                    );
                }
            }
        }
        // Each resource's own exports: the public ones answer, the others are
        // 404 to anonymous readers.
        for (coll, id) in &public {
            for (path, accept) in exports_of(coll, id) {
                let (status, body) = anonymous(&app, &path, accept).await;
                assert_eq!(status, 200, "{path} ({accept:?}): {body}");
            }
        }
        for (coll, id) in &hidden {
            for (path, accept) in exports_of(coll, id) {
                let (status, body) = anonymous(&app, &path, accept).await;
                assert_eq!(
                    status, 404,
                    "{path} ({accept:?}) of a hidden {coll}: {body}"
                );
                assert!(!body.contains("walk"), "{path}: {body}");
            }
        }
        // Signposting: only the public single reads carry it.
        let res = call(
            &app,
            Method::GET,
            &format!("/api/v1/datasets/{}", public[1].1),
            None,
            None,
        )
        .await;
        assert!(
            res.headers()
                .get("link")
                .is_some_and(|l| l.to_str().unwrap_or("").contains("cite-as"))
        );
    }
);
