//! The DCAT-AP catalogue, datasets as DCAT and their ODRL policies: what
//! they hold, that they validate against the DCAT-AP 3.0.1 SHACL shapes
//! (pyshacl, from PyPI, in a venv under target/), that only what an
//! anonymous reader sees ever appears, that paging and `modified_since`
//! find exactly the right datasets, and that each policy says what
//! `domain::transfer` enforces.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use kujenga::domain::resource::TransferPolicy;
use kujenga::domain::transfer::{self, OnBehalfOf, Requester};
use kujenga::standards::vocab::country_iri;
use oxrdf::{Graph, NamedNodeRef, NamedOrBlankNode, Term, TermRef};
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::access::{Ds, INST, world};
use crate::helpers::http::body_of;
use crate::helpers::institutions::create;
use crate::helpers::versions::edit_published;

const PYSHACL: &str = "pyshacl==0.40.1";
const DCAT: &str = "http://www.w3.org/ns/dcat#";
const ODRL: &str = "http://www.w3.org/ns/odrl/2/";
const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";

// ----- the validator ---------------------------------------------------------------

static VENV: Mutex<Option<Option<PathBuf>>> = Mutex::new(None);

/// `pyshacl` from a venv under target/ (created once, then reused); `None`
/// (with a loud message) only when PyPI cannot be reached.
fn pyshacl() -> Option<PathBuf> {
    let mut guard = VENV
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = guard.as_ref() {
        return found.clone();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv-pyshacl");
    let bin = venv.join("bin/pyshacl");
    let found = if bin.exists() {
        Some(bin)
    } else {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(made.success(), "python3 -m venv {venv:?} failed");
        let out = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", PYSHACL])
            .output()
            .expect("pip");
        if out.status.success() {
            Some(bin)
        } else if pypi_unreachable() {
            eprintln!(
                "\n!!!!!!!! SKIPPED: the DCAT-AP SHACL validation needs {PYSHACL} from PyPI, \
                 which cannot be reached from here !!!!!!!!\n"
            );
            None
        } else {
            panic!(
                "pip install {PYSHACL} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    *guard = Some(found.clone());
    found
}

fn pypi_unreachable() -> bool {
    !Command::new("python3")
        .args([
            "-c",
            "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/pyshacl/', timeout=10)",
        ])
        .status()
        .is_ok_and(|s| s.success())
}

/// The DCAT-AP 3.0.1 shapes: `KUJENGA_DCAT_AP_SHAPES`, else the copy in tests/standards/.
fn shapes() -> PathBuf {
    std::env::var_os("KUJENGA_DCAT_AP_SHAPES").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/standards/dcat-ap-3.0.1/dcat-ap-SHACL.ttl")
        },
        PathBuf::from,
    )
}

/// Validates `body` (pyshacl's format name `format`) against the full
/// DCAT-AP shapes: no result at all (violation, warning or info).
fn validate(body: &str, format: &str, what: &str) {
    let Some(bin) = pyshacl() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, body).unwrap();
    let out = Command::new(bin)
        .arg("-s")
        .arg(shapes())
        .args(["-df", format, "-f", "human"])
        .arg(&file)
        .output()
        .expect("run pyshacl");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.contains("Conforms: True"),
        "{what} does not conform to DCAT-AP 3.0.1:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ----- reading RDF back ------------------------------------------------------------

fn parse(body: &str, media_type: &str) -> Graph {
    let mut g = Graph::new();
    let mut add = |t: oxrdf::Triple| {
        g.insert(&t);
    };
    match media_type {
        "text/turtle" => oxttl::TurtleParser::new()
            .for_slice(body.as_bytes())
            .for_each(|t| add(t.expect("turtle"))),
        "application/rdf+xml" => oxrdfxml::RdfXmlParser::new()
            .for_slice(body.as_bytes())
            .for_each(|t| add(t.expect("rdf/xml"))),
        _ => oxjsonld::JsonLdParser::new()
            .for_slice(body.as_bytes())
            .for_each(|q| {
                let q = q.expect("json-ld");
                add(oxrdf::Triple::new(q.subject, q.predicate, q.object));
            }),
    }
    g
}

fn nn(iri: &str) -> NamedNodeRef<'_> {
    NamedNodeRef::new(iri).unwrap()
}

fn objects(g: &Graph, s: impl Into<NamedOrBlankNode>, p: &str) -> Vec<Term> {
    let s = s.into();
    g.objects_for_subject_predicate(&s, nn(p))
        .map(TermRef::into_owned)
        .collect()
}

fn subjects_of_type(g: &Graph, class: &str) -> BTreeSet<String> {
    g.subjects_for_predicate_object(nn(RDF_TYPE), nn(class))
        .map(|s| s.to_string().trim_matches(['<', '>']).to_string())
        .collect()
}

fn iri_of(t: &Term) -> String {
    match t {
        Term::NamedNode(n) => n.as_str().to_string(),
        other => other.to_string(),
    }
}

/// GET `path` with `accept`: (status, content type, body).
async fn fetch(app: &crate::helpers::TestApp, path: &str, accept: &str) -> (u16, String, String) {
    let res = app
        .client
        .get(app.url(path))
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

const API: &str = "http://localhost:8080";

fn dataset_iri(id: &str) -> String {
    format!("{API}/api/v1/datasets/{id}")
}

/// Changes the published dataset `id` the way its editors do: the draft of
/// its next version, then publishing it.
async fn patch(app: &crate::helpers::TestApp, token: &str, id: &str, body: Value) {
    body_of(
        edit_published(app, Some(token), &format!("/api/v1/datasets/{id}"), body).await,
        200,
    )
    .await;
}

// ----- the catalogue and its visibility -----------------------------------------------

api_test!(
    catalogue_validates_and_shows_only_public_datasets,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let open = w
            .dataset(
                "Open speech",
                json!({"access_level": "open", "tags": ["health", "speech"],
                   "languages": ["sw", "en-KE"], "countries": ["KE", "TZ"],
                   "description": "Recordings."}),
            )
            .await;
        let limited = w
            .dataset(
                "Kept in country",
                json!({"transfer_policy": "allowed_countries", "allowed_countries": ["TZ", "NG"]}),
            )
            .await;
        // Not for anonymous readers: registered-only, institution-only, a draft,
        // and the published dataset of an unverified institution.
        let registered = w
            .dataset("Members list", json!({"visibility": "registered"}))
            .await;
        let internal = w
            .dataset("Internal", json!({"visibility": "institution"}))
            .await;
        let draft = body_of(
            app.post_json(
                "/api/v1/datasets",
                crate::helpers::access::dataset_body("Draft", json!({})),
                Some(&w.owner.access),
            )
            .await,
            201,
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let other = app.signup("owner@unverified.example.org").await;
        create(
            app,
            &other.access,
            crate::helpers::access::institution("unverified-lab", "GH"),
        )
        .await;
        let hidden_files: Vec<&Ds> = vec![&registered, &internal];

        for (path, accept, media, format) in [
            ("/api/v1/catalog", "text/turtle", "text/turtle", "turtle"),
            (
                "/api/v1/catalog",
                "application/rdf+xml",
                "application/rdf+xml",
                "xml",
            ),
            ("/api/v1/catalog", "*/*", "application/ld+json", "json-ld"),
            ("/api/v1/catalog.ttl", "image/png", "text/turtle", "turtle"),
            ("/api/v1/catalog.rdf", "*/*", "application/rdf+xml", "xml"),
            (
                "/api/v1/catalog.jsonld",
                "*/*",
                "application/ld+json",
                "json-ld",
            ),
        ] {
            let (status, ct, body) = fetch(app, path, accept).await;
            assert_eq!(status, 200, "{path} {accept}: {body}");
            assert!(ct.starts_with(media), "{path} {accept}: {ct}");
            for ds in [&open, &limited, &registered, &internal] {
                assert!(!body.contains(&ds.url), "{path}: a file URL is out");
            }
            let g = parse(&body, media);
            let datasets = subjects_of_type(&g, &format!("{DCAT}Dataset"));
            let want: BTreeSet<String> = [&open.id, &limited.id]
                .iter()
                .map(|i| dataset_iri(i))
                .collect();
            assert_eq!(
                datasets, want,
                "{path} {accept}: only the public published datasets"
            );
            validate(&body, format, &format!("{path} as {media}"));
        }

        // One dataset, by content negotiation, in both RDF formats.
        for media in ["text/turtle", "application/rdf+xml"] {
            let (status, ct, body) =
                fetch(app, &format!("/api/v1/datasets/{}", open.id), media).await;
            assert_eq!(status, 200, "{body}");
            assert!(ct.starts_with(media), "{ct}");
            assert!(!body.contains(&open.url));
            let g = parse(&body, media);
            let d = oxrdf::NamedNode::new(dataset_iri(&open.id)).unwrap();
            let text = |p: &str| -> Vec<String> {
                let mut v: Vec<String> = objects(&g, d.clone(), p)
                    .iter()
                    .map(|t| match t {
                        Term::Literal(l) => l.value().to_string(),
                        other => iri_of(other),
                    })
                    .collect();
                v.sort();
                v
            };
            assert_eq!(text("http://purl.org/dc/terms/title"), ["Open speech"]);
            assert_eq!(
                text("http://purl.org/dc/terms/description"),
                ["Recordings."]
            );
            assert_eq!(text(&format!("{DCAT}keyword")), ["health", "speech"]);
            assert_eq!(
                text(&format!("{DCAT}theme")),
                ["http://publications.europa.eu/resource/authority/data-theme/HEAL"]
            );
            assert_eq!(
                text("http://purl.org/dc/terms/spatial"),
                [
                    "http://publications.europa.eu/resource/authority/country/KEN",
                    "http://publications.europa.eu/resource/authority/country/TZA"
                ]
            );
            assert_eq!(
                text("http://purl.org/dc/terms/accessRights"),
                ["http://publications.europa.eu/resource/authority/access-right/PUBLIC"]
            );
            assert_eq!(
                text("http://purl.org/dc/terms/license"),
                ["http://spdx.org/licenses/CC-BY-4.0"]
            );
            assert_eq!(
                text("http://purl.org/dc/terms/publisher"),
                [format!("{API}/api/v1/institutions/{INST}")]
            );
            assert_eq!(
                text(&format!("{ODRL}hasPolicy")),
                [format!("{}/policy", dataset_iri(&open.id))]
            );
            // Languages: an EU authority IRI where one exists, else the BCP 47 tag.
            let langs = objects(&g, d.clone(), "http://purl.org/dc/terms/language");
            assert_eq!(langs.len(), 2);
            assert!(langs.iter().any(|l| iri_of(l).ends_with("/language/SWA")));
            assert!(langs.iter().any(|l| matches!(l, Term::BlankNode(_))));
            // One distribution per file: the link endpoint, size, type, SHA-256.
            let dists = objects(&g, d.clone(), &format!("{DCAT}distribution"));
            assert_eq!(dists.len(), 1);
            let Term::NamedNode(dist) = &dists[0] else {
                panic!("{dists:?}")
            };
            let access = objects(&g, dist.clone(), &format!("{DCAT}accessURL"));
            assert_eq!(
                access.iter().map(iri_of).collect::<Vec<_>>(),
                [format!(
                    "{}/files/{}/link",
                    dataset_iri(&open.id),
                    open.file
                )]
            );
            let size = objects(&g, dist.clone(), &format!("{DCAT}byteSize"));
            assert!(
                matches!(&size[0], Term::Literal(l) if l.value() == "1024"),
                "{size:?}"
            );
            let sum = objects(&g, dist.clone(), "http://spdx.org/rdf/terms#checksum");
            let Term::BlankNode(sum) = &sum[0] else {
                panic!()
            };
            let value = objects(&g, sum.clone(), "http://spdx.org/rdf/terms#checksumValue");
            assert!(matches!(&value[0], Term::Literal(l) if l.value() == "ab".repeat(32)));
            validate(
                &body,
                if media == "text/turtle" {
                    "turtle"
                } else {
                    "xml"
                },
                "a dataset",
            );
        }
        // JSON stays the default; JSON-LD of a single read is not DCAT's to answer here.
        let (status, ct, _) = fetch(app, &format!("/api/v1/datasets/{}", open.id), "*/*").await;
        assert_eq!((status, ct.as_str()), (200, "application/json"));

        // Hidden datasets: 404 as DCAT and as a policy, even for their owner.
        for id in hidden_files.iter().map(|d| d.id.clone()).chain([draft]) {
            for media in ["text/turtle", "application/rdf+xml"] {
                let res = app
                    .client
                    .get(app.url(&format!("/api/v1/datasets/{id}")))
                    .header("Accept", media)
                    .bearer_auth(&w.owner.access)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status().as_u16(), 404, "{id} as {media}");
            }
            let res = app
                .get_auth(&format!("/api/v1/datasets/{id}/policy"), &w.owner.access)
                .await;
            assert_eq!(res.status().as_u16(), 404, "policy of {id}");
        }
    }
);

api_test!(bad_catalogue_requests_are_problems, |backend| {
    let w = world(backend).await;
    let app = &w.app;
    let ds = w.dataset("Some data", json!({})).await;
    for (query, field) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=100001", "page"),
        ("modified_since=yesterday", "modified_since"),
        ("modified_since=2026-12-01", "modified_since"),
        ("modified_since=2026-12-01T00:00:00", "modified_since"),
    ] {
        let res = app.get(&format!("/api/v1/catalog?{query}")).await;
        let p = crate::helpers::problem(res, 400).await;
        assert_eq!(p["errors"][0]["field"], field, "{query}: {p}");
    }
    for (path, accept) in [
        ("/api/v1/catalog", "image/png"),
        ("/api/v1/catalog", "application/json"),
        (&format!("/api/v1/datasets/{}", ds.id) as &str, "text/csv"),
        (
            &format!("/api/v1/datasets/{}/policy", ds.id) as &str,
            "text/turtle",
        ),
    ] {
        let (status, ct, body) = fetch(app, path, accept).await;
        assert_eq!(status, 406, "{path} {accept}: {body}");
        assert!(ct.starts_with("application/problem+json"), "{ct}");
        assert!(body.contains("offered as"), "{body}");
    }
    let (status, ..) = fetch(app, "/api/v1/catalog.xml", "*/*").await;
    assert_eq!(status, 404);
    // An offset past the end is an empty page, with its first and last links.
    let (status, _, body) = fetch(app, "/api/v1/catalog.ttl?page=7", "*/*").await;
    assert_eq!(status, 200);
    let g = parse(&body, "text/turtle");
    assert!(subjects_of_type(&g, &format!("{DCAT}Dataset")).is_empty());
    assert!(body.contains("hydra:last"), "{body}");
});

// ----- paging and incremental harvests --------------------------------------------

/// The next page's URL of a catalogue page (`hydra:next`), as a path.
fn next_page(g: &Graph) -> Option<String> {
    g.triples_for_predicate(nn("http://www.w3.org/ns/hydra/core#next"))
        .next()
        .map(|t| iri_of(&t.object.into_owned()).replacen(API, "", 1))
}

/// Every dataset a harvester finds by following `hydra:next` from `start`.
async fn harvest(app: &crate::helpers::TestApp, start: &str) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut next = Some(start.to_string());
    while let Some(path) = next {
        let (status, _, body) = fetch(app, &path, "text/turtle").await;
        assert_eq!(status, 200, "{path}: {body}");
        let g = parse(&body, "text/turtle");
        let page = subjects_of_type(&g, &format!("{DCAT}Dataset"));
        assert!(page.len() <= 100);
        seen.extend(page);
        pages += 1;
        next = next_page(&g);
    }
    (seen, pages)
}

/// The ids of the datasets the JSON list shows an anonymous reader.
async fn anonymous_list(app: &crate::helpers::TestApp, query: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/datasets?limit=100&fields=id{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = body_of(app.get(&path).await, 200).await;
        for item in page["items"].as_array().unwrap() {
            out.insert(dataset_iri(item["id"].as_str().unwrap()));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    out
}

api_test!(
    harvesting_pages_and_changes_finds_exactly_the_public_datasets,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let summary = app
            .db
            .run(|conn| {
                kujenga::demo::seed(
                    conn,
                    kujenga::demo::Options {
                        resources: 900,
                        institutions: 6,
                    },
                )
            })
            .await
            .unwrap();
        assert!(summary.datasets > 200, "{summary:?}");
        let (found, pages) = harvest(app, "/api/v1/catalog").await;
        // `hydra:next` reads on from where its page ended (`after=`): the
        // same datasets as the numbered page; a bad `after` is a 400.
        let datasets = |body: &str| -> BTreeSet<String> {
            subjects_of_type(&parse(body, "text/turtle"), &format!("{DCAT}Dataset"))
                .into_iter()
                .collect()
        };
        let (_, _, first) = fetch(app, "/api/v1/catalog.ttl", "text/turtle").await;
        let next = next_page(&parse(&first, "text/turtle")).expect("a next page");
        assert!(next.contains("page=2&after="), "{next}");
        let (status, _, by_link) = fetch(app, &next, "text/turtle").await;
        assert_eq!(status, 200);
        let (_, _, by_number) = fetch(app, "/api/v1/catalog.ttl?page=2", "text/turtle").await;
        assert_eq!(datasets(&by_link), datasets(&by_number));
        assert_eq!(datasets(&by_link).len(), 100);
        let (status, ..) = fetch(app, "/api/v1/catalog.ttl?page=2&after=x'--", "text/turtle").await;
        assert_eq!(status, 400);
        let unique: BTreeSet<String> = found.iter().cloned().collect();
        assert_eq!(unique.len(), found.len(), "a dataset on two pages");
        assert!(pages >= 2, "{pages} pages");
        assert_eq!(unique, anonymous_list(app, "").await);

        // Incremental: only what changed since.
        let since = chrono::Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let changed = w.dataset("Changed later", json!({})).await;
        let q = format!(
            "modified_since={}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
        let (found, _) = harvest(app, &format!("/api/v1/catalog?{q}")).await;
        assert_eq!(found, [dataset_iri(&changed.id)]);
        let q2 = q.replace("+", "%2B");
        assert_eq!(
            anonymous_list(
                app,
                &format!("&updated_since={}", &q2["modified_since=".len()..])
            )
            .await,
            [dataset_iri(&changed.id)].into_iter().collect()
        );
        // Made non-public: out of the next harvest.
        patch(
            app,
            &w.owner.access,
            &changed.id,
            json!({"visibility": "institution"}),
        )
        .await;
        let (found, _) = harvest(app, &format!("/api/v1/catalog?{q}")).await;
        assert!(found.is_empty(), "{found:?}");
    }
);

/// `hydra:totalItems` of a catalogue page.
async fn total_items(app: &crate::helpers::TestApp, path: &str) -> i64 {
    let (status, _, body) = fetch(app, path, "text/turtle").await;
    assert_eq!(status, 200, "{path}: {body}");
    let g = parse(&body, "text/turtle");
    let totals: Vec<i64> = g
        .triples_for_predicate(nn("http://www.w3.org/ns/hydra/core#totalItems"))
        .map(|t| match t.object {
            oxrdf::TermRef::Literal(l) => l.value().parse().unwrap(),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(totals.len(), 1, "{body}");
    totals[0]
}

api_test!(
    the_catalogue_size_follows_every_change_though_it_is_kept_between_pages,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let before = total_items(app, "/api/v1/catalog.ttl").await;
        // Asked again with nothing changed: the same (kept) size.
        assert_eq!(total_items(app, "/api/v1/catalog.ttl?page=2").await, before);
        let added = w.dataset("Counted once published", json!({})).await;
        assert_eq!(total_items(app, "/api/v1/catalog.ttl").await, before + 1);
        let since = "/api/v1/catalog.ttl?modified_since=2000-01-01T00:00:00Z";
        assert_eq!(total_items(app, since).await, before + 1);
        patch(
            app,
            &w.owner.access,
            &added.id,
            json!({"visibility": "institution"}),
        )
        .await;
        assert_eq!(total_items(app, "/api/v1/catalog.ttl").await, before);
        assert_eq!(total_items(app, since).await, before);
    }
);

// ----- the ODRL policy ------------------------------------------------------------

/// Who asks, for the policy reader and for `transfer::check`.
#[derive(Debug, Clone, Copy)]
struct Who {
    user_country: Option<&'static str>,
    /// (country, in an active partnership with the owner)
    institution: Option<(&'static str, bool)>,
}

/// What a policy says about a signed-in, verified requester outside the
/// owning institution (holding an approved request where one is needed):
/// may they use the data? Reads the RDF of the policy only.
fn policy_permits(g: &Graph, who: Who) -> bool {
    let policy = g
        .subjects_for_predicate_object(nn(RDF_TYPE), nn(&format!("{ODRL}Offer")))
        .next()
        .expect("an odrl:Offer")
        .into_owned();
    let conflict = objects(g, policy.clone(), &format!("{ODRL}conflict"));
    assert_eq!(
        conflict.iter().map(iri_of).collect::<Vec<_>>(),
        [format!("{ODRL}perm")]
    );
    let country = who.institution.map(|(c, _)| c).or(who.user_country);
    let country = country.and_then(country_iri);
    let satisfied = |rule: &Term| -> bool {
        let rule = match rule {
            Term::BlankNode(b) => NamedOrBlankNode::from(b.clone()),
            Term::NamedNode(n) => NamedOrBlankNode::from(n.clone()),
            Term::Literal(_) => panic!("a rule is a node"),
        };
        let actions = objects(g, rule.clone(), &format!("{ODRL}action"));
        assert_eq!(
            actions.iter().map(iri_of).collect::<Vec<_>>(),
            [format!("{ODRL}use")]
        );
        for assignee in objects(g, rule.clone(), &format!("{ODRL}assignee")) {
            let a = iri_of(&assignee);
            if a.ends_with("#partners") {
                if !who.institution.is_some_and(|(_, partner)| partner) {
                    return false;
                }
            } else if !a.ends_with("/api/v1/users#verified") {
                panic!("unknown assignee {a}");
            }
        }
        for c in objects(g, rule.clone(), &format!("{ODRL}constraint")) {
            let Term::BlankNode(c) = c else { panic!() };
            let left = iri_of(&objects(g, c.clone(), &format!("{ODRL}leftOperand"))[0]);
            let op = iri_of(&objects(g, c.clone(), &format!("{ODRL}operator"))[0]);
            let right: BTreeSet<String> = objects(g, c.clone(), &format!("{ODRL}rightOperand"))
                .iter()
                .map(iri_of)
                .collect();
            if left == format!("{ODRL}purpose") {
                continue; // the approved request's purpose: held by assumption
            }
            assert_eq!(left, format!("{ODRL}spatial"));
            let Some(here) = &country else { return false };
            let ok = match op.trim_start_matches(ODRL) {
                "eq" | "isAnyOf" => right.contains(here),
                "neq" | "isNoneOf" => !right.contains(here),
                other => panic!("operator {other}"),
            };
            if !ok {
                return false;
            }
        }
        true
    };
    let mut permitted = false;
    for rule in objects(g, policy.clone(), &format!("{ODRL}permission")) {
        let Term::BlankNode(b) = &rule else { panic!() };
        let members = objects(g, b.clone(), &format!("{ODRL}assignee"))
            .iter()
            .any(|a| iri_of(a).ends_with("#members"));
        if !members && satisfied(&rule) {
            permitted = true;
        }
    }
    let prohibited = objects(g, policy, &format!("{ODRL}prohibition"))
        .iter()
        .any(satisfied);
    assert!(
        !(permitted && prohibited),
        "a rule both permits and prohibits {who:?}"
    );
    permitted
}

api_test!(
    each_policy_says_what_the_transfer_check_enforces,
    |backend| {
        let w = world(backend).await;
        let app = &w.app;
        let cases: Vec<(&str, Value, TransferPolicy, Vec<String>, &str)> = vec![
            (
                "unrestricted",
                json!({}),
                TransferPolicy::Unrestricted,
                vec![],
                "KE",
            ),
            (
                "allowed",
                json!({"transfer_policy": "allowed_countries", "allowed_countries": ["TZ", "NG"]}),
                TransferPolicy::AllowedCountries,
                vec!["TZ".into(), "NG".into()],
                "KE",
            ),
            (
                "allowed from elsewhere",
                json!({"transfer_policy": "allowed_countries", "allowed_countries": ["TZ"], "origin_country": "UG"}),
                TransferPolicy::AllowedCountries,
                vec!["TZ".into()],
                "UG",
            ),
            (
                "partners",
                json!({"transfer_policy": "partners_only"}),
                TransferPolicy::PartnersOnly,
                vec![],
                "KE",
            ),
            (
                "in country",
                json!({"transfer_policy": "in_country"}),
                TransferPolicy::InCountry,
                vec![],
                "KE",
            ),
            (
                "in another country",
                json!({"transfer_policy": "in_country", "origin_country": "UG"}),
                TransferPolicy::InCountry,
                vec![],
                "UG",
            ),
        ];
        let countries = [
            None,
            Some("KE"),
            Some("TZ"),
            Some("UG"),
            Some("NG"),
            Some("BR"),
        ];
        let mut requesters = Vec::new();
        for user_country in countries {
            requesters.push(Who {
                user_country,
                institution: None,
            });
            for inst in countries.iter().flatten() {
                for partner in [false, true] {
                    requesters.push(Who {
                        user_country,
                        institution: Some((inst, partner)),
                    });
                }
            }
        }
        for (name, terms, policy, allowed, origin) in cases {
            for level in ["open", "registered", "restricted"] {
                let mut body = terms.clone();
                body["access_level"] = json!(level);
                let ds = w.dataset(&format!("{name} {level}"), body).await;
                let res = app.get(&format!("/api/v1/datasets/{}/policy", ds.id)).await;
                assert_eq!(res.status().as_u16(), 200);
                assert!(
                    res.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("application/ld+json")
                );
                let text = res.text().await.unwrap();
                let g = parse(&text, "application/ld+json");
                for who in &requesters {
                    let expected = transfer::check(
                        &transfer::Dataset {
                            policy,
                            allowed_countries: &allowed,
                            origin_country: Some(origin),
                        },
                        &Requester {
                            user_country: who.user_country,
                            institution: who.institution.map(|(country, partner_of_owner)| {
                                OnBehalfOf {
                                    country,
                                    partner_of_owner,
                                }
                            }),
                        },
                    )
                    .is_ok();
                    assert_eq!(
                        policy_permits(&g, *who),
                        expected,
                        "{name} {level}: {who:?}\n{text}"
                    );
                }
                // The access level: who the permission is for, and what it asks.
                let doc: Value = serde_json::from_str(&text).unwrap();
                let general = &doc["permission"][1];
                match level {
                    "open" if policy != TransferPolicy::PartnersOnly => {
                        assert!(general.get("assignee").is_none(), "{general}");
                    }
                    "open" => {}
                    _ if policy != TransferPolicy::PartnersOnly => {
                        assert!(
                            general["assignee"]["uid"]
                                .as_str()
                                .unwrap()
                                .ends_with("/users#verified")
                        );
                    }
                    _ => {}
                }
                let duty = general.get("duty");
                let purpose = general["constraint"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["leftOperand"] == "purpose"));
                assert_eq!(
                    duty.is_some(),
                    level == "restricted",
                    "{name} {level}: {general}"
                );
                assert_eq!(purpose, level == "restricted", "{name} {level}: {general}");
                if let Some(d) = duty {
                    assert_eq!(d[0]["action"], "obtainConsent");
                }
                // The owner's members: always.
                assert!(
                    doc["permission"][0]["assignee"]["uid"]
                        .as_str()
                        .unwrap()
                        .ends_with("#members")
                );
            }
        }
    }
);
