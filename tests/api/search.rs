//! Full-text search over `/resources` (issue #15): ranking, the query syntax
//! (phrases, exclusions, prefixes, `field:value`), accent and case folding,
//! what is indexed and that the index follows every write, "did you mean",
//! relevance pages while others publish, hostile queries, bad parameters
//! and highlights. Facets and type-ahead are in `search_facets`.

use std::collections::{HashMap, HashSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::app::start;
use crate::helpers::http::{body_of, call, invalid};
use crate::helpers::institutions::{create, create_slug, join, verify};
use crate::helpers::search::{
    COURSES, DATASETS, MODEL_CARDS, draft, enc, found, get_ok, ids_of, publish, published,
    walk_items,
};
use crate::helpers::versions::edit_published;
use crate::helpers::{Account, TestApp, problem};

// ----- a small world -------------------------------------------------------------

/// An admin, and the owner and a member of `andes-lab` (verified).
struct Small {
    app: TestApp,
    root: Account,
    owner: Account,
    member: Account,
}

async fn small(backend: crate::helpers::Backend) -> Small {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let member = app.signup("member@example.org").await;
    create_slug(&app, &owner.access, "andes-lab").await;
    verify(&app, &root.access, "andes-lab").await;
    join(&app, &owner.access, "andes-lab", &member, "member").await;
    Small {
        app,
        root,
        owner,
        member,
    }
}

/// Checks of what a query finds, by label, collected so that one run
/// reports every difference.
struct Expect<'a> {
    app: &'a TestApp,
    labels: HashMap<String, String>,
    failures: Vec<String>,
}

impl<'a> Expect<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            labels: HashMap::new(),
            failures: Vec::new(),
        }
    }

    fn label(&mut self, id: &str, label: &str) {
        self.labels.insert(id.to_string(), label.to_string());
    }

    async fn labels_of(&self, token: Option<&str>, path: &str) -> Vec<String> {
        let page = get_ok(self.app, token, path).await;
        ids_of(&page)
            .iter()
            .map(|id| self.labels.get(id).cloned().unwrap_or_else(|| id.clone()))
            .collect()
    }

    /// `q` finds exactly `want`, in any order.
    async fn set(&mut self, token: Option<&str>, q: &str, want: &[&str]) {
        let path = format!("/api/v1/resources?limit=100&q={}", enc(q));
        self.set_at(token, &path, want).await;
    }

    async fn set_at(&mut self, token: Option<&str>, path: &str, want: &[&str]) {
        let mut got = self.labels_of(token, path).await;
        got.sort();
        let mut want: Vec<String> = want.iter().map(|w| (*w).to_string()).collect();
        want.sort();
        if got != want {
            self.failures
                .push(format!("{path}: found {got:?}, expected {want:?}"));
        }
    }

    /// `path` lists exactly `want`, in this order.
    async fn order(&mut self, token: Option<&str>, path: &str, want: &[&str]) {
        let got = self.labels_of(token, path).await;
        if got != want {
            self.failures
                .push(format!("{path}: order {got:?}, expected {want:?}"));
        }
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} failures:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// A list of one id.
fn one(id: &str) -> Vec<String> {
    vec![id.to_string()]
}

fn q_path(q: &str) -> String {
    format!("/api/v1/resources?limit=100&q={}", enc(q))
}

// ----- 1. ranking -----------------------------------------------------------------

api_test!(
    a_title_match_beats_tags_beats_summary_beats_description,
    |backend| {
        let w = small(backend).await;
        let (app, o) = (&w.app, w.owner.access.as_str());
        let mut e = Expect::new(app);
        // Made weakest-last-first: the newest is the weakest, so newest-first
        // would give the reverse order.
        for (label, title, extra) in [
            (
                "title",
                "Baobab atlas",
                json!({"tags": ["trees"], "summary": "Plain words."}),
            ),
            (
                "tags",
                "Atlas one",
                json!({"tags": ["baobab"], "summary": "Plain words."}),
            ),
            (
                "summary",
                "Atlas two",
                json!({"tags": ["trees"], "summary": "All about the baobab tree."}),
            ),
            (
                "description",
                "Atlas three",
                json!({"tags": ["trees"], "description": "The **baobab** grows here."}),
            ),
        ] {
            let id = published(app, o, DATASETS, "andes-lab", title, extra).await;
            e.label(&id, label);
        }
        let by_field = ["title", "tags", "summary", "description"];
        e.order(None, &q_path("baobab"), &by_field).await;
        e.order(
            None,
            &format!("{}&sort=relevance", q_path("BAOBAB")),
            &by_field,
        )
        .await;
        // Found in title and summary beats the title alone.
        let both = published(
            app,
            o,
            COURSES,
            "andes-lab",
            "Old baobab",
            json!({"summary": "A baobab course.", "tags": []}),
        )
        .await;
        e.label(&both, "title+summary");
        e.order(
            None,
            &q_path("baobab"),
            &["title+summary", "title", "tags", "summary", "description"],
        )
        .await;
        // A prefix and a phrase weigh like a word.
        e.order(
            None,
            &q_path("baoba*"),
            &["title+summary", "title", "tags", "summary", "description"],
        )
        .await;
        e.order(None, &q_path("\"baobab atlas\""), &["title"]).await;
        e.finish();
    }
);

api_test!(
    two_words_in_the_title_rank_first_and_equal_scores_go_newest_first,
    |backend| {
        let w = small(backend).await;
        let (app, o) = (&w.app, w.owner.access.as_str());
        let mut e = Expect::new(app);
        for (label, title, extra) in [
            // 8 + 8
            ("both-title", "Kente loom guide", json!({"tags": []})),
            // 8 + 4
            ("title+tag", "Kente patterns", json!({"tags": ["loom"]})),
            // 8 + 2
            (
                "title+summary",
                "Loom basics",
                json!({"tags": [], "summary": "Kente history."}),
            ),
            // 2 + 2
            (
                "summary-only",
                "Weaving",
                json!({"tags": [], "summary": "A kente loom."}),
            ),
            // One word only: not found.
            ("kente-only", "Kente colours", json!({"tags": []})),
            // 1 + 1
            (
                "description-only",
                "Cloth",
                json!({"tags": [], "description": "Kente on a loom."}),
            ),
            // 8 + 8 again, newer: first among equals.
            ("both-title-newer", "Loom for kente", json!({"tags": []})),
        ] {
            let id = published(app, o, DATASETS, "andes-lab", title, extra).await;
            e.label(&id, label);
        }
        e.order(
            None,
            &q_path("kente loom"),
            &[
                "both-title-newer",
                "both-title",
                "title+tag",
                "title+summary",
                "summary-only",
                "description-only",
            ],
        )
        .await;
        e.order(
            None,
            &q_path("loom kente"),
            &[
                "both-title-newer",
                "both-title",
                "title+tag",
                "title+summary",
                "summary-only",
                "description-only",
            ],
        )
        .await;
        // The order holds across pages too.
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/api/v1/resources?q=kente+loom&limit=2".to_string(),
                Some(c) => format!("/api/v1/resources?q=kente+loom&limit=2&cursor={c}"),
            };
            let page = get_ok(app, None, &path).await;
            walked.extend(ids_of(&page).into_iter().map(|id| e.labels[&id].clone()));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(
            walked,
            [
                "both-title-newer",
                "both-title",
                "title+tag",
                "title+summary",
                "summary-only",
                "description-only",
            ]
        );
        e.finish();
    }
);

// ----- 2. the query syntax ------------------------------------------------------------

api_test!(phrases_exclusions_prefixes_and_field_filters, |backend| {
    let w = small(backend).await;
    let (app, o) = (&w.app, w.owner.access.as_str());
    create(
        app,
        &w.owner.access,
        json!({"slug": "sahel-hub", "name": "Sahel Hub", "country": "SN", "kind": "ngo"}),
    )
    .await;
    verify(app, &w.root.access, "sahel-hub").await;
    let mut e = Expect::new(app);
    let made = [
        (
            "p1",
            DATASETS,
            "andes-lab",
            "Open speech corpus of Quechua",
            json!({"tags": ["asr"], "languages": ["qu"], "countries": ["PE"]}),
        ),
        (
            "p2",
            DATASETS,
            "sahel-hub",
            "Speech open corpus",
            json!({"tags": ["audio"], "languages": ["sw-KE"], "countries": ["KE"],
                   "license": "MIT", "access_level": "registered"}),
        ),
        (
            "p3",
            COURSES,
            "andes-lab",
            "Corpus linguistics",
            json!({"tags": ["ASR"], "languages": ["sw"], "countries": ["TZ"],
                   "level": "advanced"}),
        ),
        (
            "p4",
            MODEL_CARDS,
            "andes-lab",
            "Speech transcription corpus model",
            json!({"tags": [], "risk_tier": "limited",
                   "evaluation_data": "Held-out recordings.",
                   "caveats": "Noisy rooms.",
                   "results": [{"task": "asr", "dataset": "held-out", "metric": "wer", "value": 0.2}]}),
        ),
        (
            "p5",
            COURSES,
            "andes-lab",
            "Transport planning",
            json!({"tags": []}),
        ),
    ];
    for (label, coll, inst, title, extra) in made {
        let id = published(app, o, coll, inst, title, extra).await;
        e.label(&id, label);
    }
    let a = None;
    // Phrases: adjacent, in order.
    e.set(a, "\"open speech\"", &["p1"]).await;
    e.set(a, "\"speech open\"", &["p2"]).await;
    e.set(a, "\"OPEN SPEECH corpus\"", &["p1"]).await;
    e.set(a, "\"corpus open\"", &[]).await;
    e.set(a, "\"speech corpus\"", &["p1"]).await;
    e.set(a, "\"transcription corpus\"", &["p4"]).await;
    e.set(a, "\"open corpus\"", &["p2"]).await;
    e.set(a, "open speech", &["p1", "p2"]).await;
    e.set(a, "\"open speech\" quechua", &["p1"]).await;
    // An unclosed quote is a phrase to the end.
    e.set(a, "\"speech open", &["p2"]).await;
    // Words: all must match.
    e.set(a, "corpus", &["p1", "p2", "p3", "p4"]).await;
    e.set(a, "corpus quechua", &["p1"]).await;
    e.set(a, "corpus nowhere", &[]).await;
    // Exclusions: a word, a phrase (only where its words are adjacent).
    e.set(a, "corpus -quechua", &["p2", "p3", "p4"]).await;
    e.set(a, "corpus -\"open speech\"", &["p2", "p3", "p4"])
        .await;
    e.set(a, "corpus -\"speech open\"", &["p1", "p3", "p4"])
        .await;
    e.set(a, "corpus -speech -open", &["p3"]).await;
    e.set(a, "corpus -QUECHUA -model", &["p2", "p3"]).await;
    e.set(a, "-speech corpus", &["p3"]).await;
    e.set(a, "corpus -spee*", &["p3"]).await;
    // Prefixes.
    e.set(a, "trans*", &["p4", "p5"]).await;
    e.set(a, "transp*", &["p5"]).await;
    e.set(a, "quech*", &["p1"]).await;
    e.set(a, "QUE*", &["p1"]).await;
    e.set(a, "corp* spee*", &["p1", "p2", "p4"]).await;
    e.set(a, "transz*", &[]).await;
    // `field:value`, alone or with words, any case of the field name.
    e.set(a, "corpus kind:dataset", &["p1", "p2"]).await;
    e.set(a, "corpus KIND:course", &["p3"]).await;
    e.set(a, "speech kind:model_card", &["p4"]).await;
    e.set(a, "corpus kind:\"dataset\"", &["p1", "p2"]).await;
    e.set(a, "corpus language:sw", &["p2", "p3"]).await;
    e.set(a, "corpus language:sw-KE", &["p2"]).await;
    e.set(a, "corpus country:KE", &["p2"]).await;
    e.set(a, "country:pe corpus", &["p1"]).await;
    e.set(a, "corpus license:MIT", &["p2"]).await;
    e.set(a, "corpus tag:asr", &["p1", "p3"]).await;
    e.set(a, "corpus tag:ASR", &["p1", "p3"]).await;
    e.set(a, "corpus institution:sahel-hub", &["p2"]).await;
    e.set(a, "corpus access_level:registered", &["p2"]).await;
    e.set(a, "corpus risk_tier:limited", &["p4"]).await;
    e.set(a, "corpus level:advanced", &["p3"]).await;
    e.set(a, "corpus kind:dataset tag:asr", &["p1"]).await;
    // A `field:value` in `q` and the same field's parameter both hold.
    e.set_at(
        a,
        &format!("{}&kind=course", q_path("corpus kind:dataset")),
        &[],
    )
    .await;
    e.set_at(
        a,
        &format!("{}&kind=course,dataset", q_path("corpus kind:dataset")),
        &["p1", "p2"],
    )
    .await;
    // The kinds' own lists.
    e.set_at(
        a,
        &format!("/api/v1/datasets?limit=100&q={}", enc("corpus")),
        &["p1", "p2"],
    )
    .await;
    e.set_at(
        a,
        &format!("/api/v1/model-cards?limit=100&q={}", enc("speech")),
        &["p4"],
    )
    .await;
    e.set_at(
        a,
        &format!("/api/v1/courses?limit=100&q={}", enc("kind:dataset")),
        &[],
    )
    .await;
    e.finish();
});

api_test!(accents_and_case_fold_both_ways, |backend| {
    let w = small(backend).await;
    let (app, o) = (&w.app, w.owner.access.as_str());
    let mut e = Expect::new(app);
    for (label, title) in [
        ("a1", "Yorùbá proverbs"),
        ("a2", "Yoruba grammar"),
        ("a3", "École de données"),
        ("a4", "ecole numerique"),
        // A decomposed accent (u + U+0300) in the stored text.
        ("a5", "Yoru\u{300}ba\u{301} songs"),
    ] {
        let id = published(app, o, COURSES, "andes-lab", title, json!({"tags": []})).await;
        e.label(&id, label);
    }
    let a = None;
    for q in [
        "yoruba",
        "Yorùbá",
        "YORÙBÁ",
        "YoRuBa",
        "yorùba",
        "Yoru\u{300}ba\u{301}",
        "yorù*",
        "YOR*",
    ] {
        e.set(a, q, &["a1", "a2", "a5"]).await;
    }
    for q in ["École", "ecole", "ÉCOLE", "Ecole", "écolé", "ECO*"] {
        e.set(a, q, &["a3", "a4"]).await;
    }
    e.set(a, "donnees", &["a3"]).await;
    e.set(a, "DONNÉES", &["a3"]).await;
    e.set(a, "\"ECOLE DE DONNEES\"", &["a3"]).await;
    e.set(a, "numérique", &["a4"]).await;
    e.set(a, "yoruba -proverbes", &["a1", "a2", "a5"]).await;
    e.set(a, "yoruba -PROVERBS", &["a2", "a5"]).await;
    e.finish();
});

api_test!(words_of_other_scripts_are_found, |backend| {
    let w = small(backend).await;
    let (app, o) = (&w.app, w.owner.access.as_str());
    let mut e = Expect::new(app);
    for (label, title) in [
        ("arabic", "مجموعة بيانات العربية"),
        ("amharic", "የአማርኛ ንግግር ስብስብ"),
        ("tifinagh", "ⵜⴰⵎⴰⵣⵉⵖⵜ corpus"),
        ("nko", "ߒߞߏ reader"),
        ("devanagari", "हिन्दी पाठ"),
        ("greek", "Ελληνικά κείμενα"),
    ] {
        let id = published(app, o, DATASETS, "andes-lab", title, json!({"tags": []})).await;
        e.label(&id, label);
    }
    let a = None;
    e.set(a, "العربية", &["arabic"]).await;
    e.set(a, "ንግግር", &["amharic"]).await;
    e.set(a, "ⵜⴰⵎⴰⵣⵉⵖⵜ", &["tifinagh"]).await;
    e.set(a, "ߒߞߏ", &["nko"]).await;
    e.set(a, "हिन्दी", &["devanagari"]).await;
    e.set(a, "ΕΛΛΗΝΙΚΑ", &["greek"]).await;
    e.set(a, "ελληνικα", &["greek"]).await;
    e.set(a, "\"بيانات العربية\"", &["arabic"]).await;
    e.set(a, "\"العربية بيانات\"", &[]).await;
    e.finish();
});

api_test!(words_in_the_adlam_script_are_found, |backend| {
    // Adlam (Unicode 9.0) writes Fula/Pular across West Africa.
    let w = small(backend).await;
    let (app, o) = (&w.app, w.owner.access.as_str());
    let id = published(
        app,
        o,
        DATASETS,
        "andes-lab",
        "𞤆𞤵𞤤𞤢𞤪 stories",
        json!({"tags": []}),
    )
    .await;
    assert_eq!(found(app, None, "stories").await, one(&id));
    assert_eq!(
        found(app, None, "𞤆𞤵𞤤𞤢𞤪").await,
        one(&id),
        "an Adlam word of the title"
    );
    // Lowercase Adlam (the script has case).
    assert_eq!(found(app, None, "𞤨𞤵𞤤𞤢𞤪").await, [id]);
});

// ----- what is indexed, and the index after writes ----------------------------------------

api_test!(
    module_titles_institution_names_and_kind_texts_are_searched,
    |backend| {
        let w = small(backend).await;
        let (app, o) = (&w.app, w.owner.access.as_str());
        create(
            app,
            o,
            json!({"slug": "mak-vision", "name": "Makerere Vision Collective",
                   "country": "UG", "kind": "research_lab"}),
        )
        .await;
        verify(app, &w.root.access, "mak-vision").await;
        let mut e = Expect::new(app);
        let made = [
            (
                "course-module",
                COURSES,
                "andes-lab",
                "Plant science",
                json!({"modules": ["Unit", "Photosynthesis in depth"], "tags": []}),
            ),
            (
                "course-prerequisites",
                COURSES,
                "andes-lab",
                "Signals",
                json!({"prerequisites": "Linear algebra basics.", "tags": []}),
            ),
            (
                "datasheet",
                DATASETS,
                "andes-lab",
                "Market recordings",
                json!({"tags": [], "datasheet": {
                    "motivation": "Why.", "composition": "Recordings from Cusco markets.",
                    "collection_process": "How.", "uses": "For what.",
                    "preprocessing": "Spectral gating.", "maintenance": "Yearly by Wiphala."}}),
            ),
            (
                "model-card",
                MODEL_CARDS,
                "andes-lab",
                "Chest model",
                json!({"tags": [], "architecture": "Conformer encoder",
                       "task": "Radiograph triage",
                       "intended_uses": "Clinics in Mbarara."}),
            ),
            (
                "description",
                DATASETS,
                "andes-lab",
                "Plain",
                json!({"tags": [], "description": "A *zygomorphic* flower."}),
            ),
            (
                "institution",
                DATASETS,
                "mak-vision",
                "Street scenes",
                json!({"tags": []}),
            ),
        ];
        for (label, coll, inst, title, extra) in made {
            let id = published(app, o, coll, inst, title, extra).await;
            e.label(&id, label);
        }
        let a = None;
        e.set(a, "photosynthesis", &["course-module"]).await;
        e.set(a, "\"photosynthesis in depth\"", &["course-module"])
            .await;
        e.set(a, "algebra", &["course-prerequisites"]).await;
        e.set(a, "cusco", &["datasheet"]).await;
        e.set(a, "spectral", &["datasheet"]).await;
        e.set(a, "wiphala", &["datasheet"]).await;
        e.set(a, "conformer", &["model-card"]).await;
        e.set(a, "radiograph", &["model-card"]).await;
        e.set(a, "mbarara", &["model-card"]).await;
        e.set(a, "zygomorphic", &["description"]).await;
        e.set(a, "makerere", &["institution"]).await;
        e.set(a, "\"vision collective\"", &["institution"]).await;
        e.set(a, "street makerere", &["institution"]).await;
        e.finish();
    }
);

/// The ids `token` finds for `q` among the drafts.
async fn found_drafts(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let page = get_ok(
        app,
        Some(token),
        &format!("/api/v1/resources?status=draft&limit=100&q={}", enc(q)),
    )
    .await;
    ids_of(&page)
}

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    body_of(
        call(app, Method::PATCH, path, Some(token), Some(body)).await,
        200,
    )
    .await
}

/// Changes the published resource at `path` through the draft of its next
/// version, then publishes it.
async fn edit(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    body_of(edit_published(app, Some(token), path, body).await, 200).await
}

api_test!(the_index_follows_every_write, |backend| {
    let w = small(backend).await;
    let (app, o) = (&w.app, w.owner.access.as_str());
    let none: Vec<String> = Vec::new();

    // A title changed: the old word no longer finds it, the new one does.
    let ds = published(
        app,
        o,
        DATASETS,
        "andes-lab",
        "Cassava survey",
        json!({"tags": []}),
    )
    .await;
    assert_eq!(found(app, None, "cassava").await, one(&ds));
    // The draft of its next version is not what the catalogue finds ...
    patch(
        app,
        o,
        &format!("/api/v1/datasets/{ds}/draft"),
        json!({"title": "Sorghum survey"}),
    )
    .await;
    assert_eq!(found(app, None, "cassava").await, one(&ds));
    assert_eq!(found(app, None, "sorghum").await, none);
    // ... until it is published.
    let res = call(
        app,
        Method::POST,
        &format!("/api/v1/datasets/{ds}/publish"),
        Some(o),
        None,
    )
    .await;
    body_of(res, 200).await;
    assert_eq!(found(app, None, "cassava").await, none);
    assert_eq!(found(app, None, "sorghum").await, one(&ds));
    assert_eq!(found(app, None, "surv*").await, one(&ds));

    // Tags, summary, and a datasheet section changed.
    edit(
        app,
        o,
        &format!("/api/v1/datasets/{ds}"),
        json!({"tags": ["teff"], "summary": "Highland grains.", "datasheet": {
            "motivation": "Why.", "composition": "Field notes from Gulu.",
            "collection_process": "How.", "uses": "For what."}}),
    )
    .await;
    assert_eq!(found(app, None, "teff").await, one(&ds));
    assert_eq!(found(app, None, "highland").await, one(&ds));
    assert_eq!(found(app, None, "gulu").await, one(&ds));
    assert_eq!(found(app, None, "plain").await, none, "the old summary");

    // A module added, renamed and deleted.
    let course = published(
        app,
        o,
        COURSES,
        "andes-lab",
        "Water course",
        json!({"tags": [], "modules": ["Unit", "Canals"]}),
    )
    .await;
    assert_eq!(found(app, None, "canals").await, one(&course));
    let modules = get_ok(
        app,
        Some(o),
        &format!("/api/v1/courses/{course}/modules?limit=100"),
    )
    .await;
    let canals = modules["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["title"] == "Canals")
        .expect("the module")["id"]
        .as_str()
        .unwrap()
        .to_string();
    patch(
        app,
        o,
        &format!("/api/v1/courses/{course}/modules/{canals}"),
        json!({"title": "Irrigation channels"}),
    )
    .await;
    assert_eq!(found(app, None, "canals").await, none);
    assert_eq!(found(app, None, "irrigation").await, one(&course));
    let res = app
        .post_json(
            &format!("/api/v1/courses/{course}/modules"),
            json!({"title": "Drip lines", "content": "Body."}),
            Some(o),
        )
        .await;
    body_of(res, 201).await;
    assert_eq!(found(app, None, "drip").await, one(&course));
    let res = call(
        app,
        Method::DELETE,
        &format!("/api/v1/courses/{course}/modules/{canals}"),
        Some(o),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(found(app, None, "irrigation").await, none);
    assert_eq!(found(app, None, "drip").await, one(&course));

    // A draft deleted is gone from the drafts' search.
    let d = draft(
        app,
        o,
        DATASETS,
        "andes-lab",
        "Millet draft",
        json!({"tags": []}),
    )
    .await;
    assert_eq!(found_drafts(app, o, "millet").await, one(&d));
    assert_eq!(
        found(app, None, "millet").await,
        none,
        "drafts are not listed"
    );
    let res = call(
        app,
        Method::DELETE,
        &format!("/api/v1/datasets/{d}"),
        Some(o),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(found_drafts(app, o, "millet").await, none);
    assert_eq!(found_drafts(app, &w.root.access, "millet").await, none);

    // Publishing a draft makes it findable; archiving takes it out of the
    // published list and into the archived one.
    let later = draft(
        app,
        o,
        DATASETS,
        "andes-lab",
        "Fonio trials",
        json!({"tags": []}),
    )
    .await;
    assert_eq!(found(app, None, "fonio").await, none);
    publish(app, o, DATASETS, &later).await;
    assert_eq!(found(app, None, "fonio").await, one(&later));
    let res = call(
        app,
        Method::POST,
        &format!("/api/v1/datasets/{later}/archive"),
        Some(o),
        None,
    )
    .await;
    body_of(res, 200).await;
    assert_eq!(found(app, None, "fonio").await, none);
    let archived = get_ok(
        app,
        None,
        &format!("/api/v1/resources?status=archived&q={}", enc("fonio")),
    )
    .await;
    assert_eq!(ids_of(&archived), [later]);

    // The institution renamed (by an admin: it stays verified): every one of
    // its resources is found by the new name, none by the old one.
    let mut all = vec![ds.clone(), course.clone()];
    all.sort();
    let mut by_name = found(app, None, "andes").await;
    by_name.sort();
    assert_eq!(by_name, all, "found by the institution's slug words");
    patch(
        app,
        &w.root.access,
        "/api/v1/institutions/andes-lab",
        json!({"name": "Lake Basin Institute"}),
    )
    .await;
    let mut by_name = found(app, None, "basin").await;
    by_name.sort();
    assert_eq!(by_name, all);
    assert_eq!(found(app, None, "andes").await, none, "the old name");
    // Renamed by its owner it goes back for verification: the public no
    // longer sees it, its members find it by the new name.
    patch(
        app,
        o,
        "/api/v1/institutions/andes-lab",
        json!({"name": "Rift Valley Institute"}),
    )
    .await;
    assert_eq!(found(app, None, "rift").await, none);
    let mut by_member = found(app, Some(&w.member.access), "rift").await;
    by_member.sort();
    assert_eq!(by_member, all);
    assert_eq!(found(app, Some(&w.member.access), "basin").await, none);
});

// ----- 3. typos ---------------------------------------------------------------------------

/// `q`'s `did_you_mean` as `token` sees it (after checking the page is empty).
async fn did_you_mean(app: &TestApp, token: Option<&str>, extra: &str, q: &str) -> Option<String> {
    let page = get_ok(
        app,
        token,
        &format!("/api/v1/resources?q={}{extra}", enc(q)),
    )
    .await;
    let dym = page.get("did_you_mean").cloned().unwrap_or(Value::Null);
    if !page["items"].as_array().unwrap().is_empty() {
        assert!(dym.is_null(), "a correction with hits: {page}");
    }
    dym.as_str().map(str::to_string)
}

api_test!(
    a_misspelled_word_gets_a_correction_the_caller_can_use,
    |backend| {
        let w = small(backend).await;
        let (app, o) = (&w.app, w.owner.access.as_str());
        let m = Some(w.member.access.as_str());
        let pubd = published(
            app,
            o,
            COURSES,
            "andes-lab",
            "Kiswahili grammar",
            json!({"tags": []}),
        )
        .await;
        published(
            app,
            o,
            DATASETS,
            "andes-lab",
            "Luganda phonology",
            json!({"tags": [], "visibility": "institution"}),
        )
        .await;
        draft(
            app,
            o,
            DATASETS,
            "andes-lab",
            "Tigrinya lexicon",
            json!({"tags": []}),
        )
        .await;

        // One word swapped, one letter doubled, one letter wrong.
        assert_eq!(
            did_you_mean(app, None, "", "kiswahlii").await.as_deref(),
            Some("kiswahili")
        );
        assert_eq!(
            did_you_mean(app, None, "", "Kiswahilli").await.as_deref(),
            Some("kiswahili")
        );
        assert_eq!(
            did_you_mean(app, None, "", "kiswahili grammer")
                .await
                .as_deref(),
            Some("kiswahili grammar")
        );
        assert_eq!(
            did_you_mean(app, None, "", "grammer").await.as_deref(),
            Some("grammar")
        );
        let page = get_ok(
            app,
            None,
            &format!("/api/v1/resources?q={}", enc("grammer")),
        )
        .await;
        assert_eq!(
            ids_of(&page),
            Vec::<String>::new(),
            "the page itself is empty"
        );
        assert_eq!(found(app, None, "grammar").await, [pubd]);
        // No correction when the query finds something, when nothing is close,
        // or when the corrected query would still find nothing.
        assert_eq!(did_you_mean(app, None, "", "kiswahili").await, None);
        assert_eq!(did_you_mean(app, None, "", "zqxwvu").await, None);
        assert_eq!(
            did_you_mean(app, None, "", "grammer -kiswahili").await,
            None
        );
        assert_eq!(
            did_you_mean(app, None, "&kind=dataset", "grammer").await,
            None,
            "the corrected query finds only a course"
        );
        // Only what the caller may see: an institution's resource corrects for
        // its members only, a draft for no one in the published list.
        assert_eq!(did_you_mean(app, None, "", "lugandda").await, None);
        assert_eq!(
            did_you_mean(app, m, "", "lugandda").await.as_deref(),
            Some("luganda")
        );
        assert_eq!(did_you_mean(app, None, "", "tigrinyaa").await, None);
        assert_eq!(did_you_mean(app, m, "", "tigrinyaa").await, None);
        assert_eq!(did_you_mean(app, Some(o), "", "tigrinyaa").await, None);
        assert_eq!(
            did_you_mean(app, Some(o), "&status=draft", "tigrinyaa")
                .await
                .as_deref(),
            Some("tigrinya"),
            "its editors, among the drafts"
        );
    }
);

api_test!(
    hidden_words_never_change_the_correction_offered,
    |backend| {
        // The correction an anonymous reader gets must be the one they would
        // get without the resources they may not see: a word only a hidden
        // draft has must neither be proposed nor suppress the visible one.
        let w = small(backend).await;
        let (app, o) = (&w.app, w.owner.access.as_str());
        published(
            app,
            o,
            COURSES,
            "andes-lab",
            "Kiswahili grammar",
            json!({"tags": []}),
        )
        .await;
        // Before any hidden word: the baseline.
        assert_eq!(
            did_you_mean(app, None, "", "kiswahily").await.as_deref(),
            Some("kiswahili")
        );
        assert_eq!(
            did_you_mean(app, None, "", "kiswahilo").await.as_deref(),
            Some("kiswahili")
        );
        // A draft of another institution with words one letter away.
        let other = app.signup("other@example.org").await;
        create_slug(app, &other.access, "nile-lab").await;
        verify(app, &w.root.access, "nile-lab").await;
        draft(
            app,
            &other.access,
            DATASETS,
            "nile-lab",
            "Kiswahily kiswahila notes",
            json!({"tags": []}),
        )
        .await;
        let mut failures = Vec::new();
        for typo in ["kiswahily", "kiswahilo"] {
            let got = did_you_mean(app, None, "", typo).await;
            if got.as_deref() != Some("kiswahili") {
                failures.push(format!(
                "q={typo}: did_you_mean {got:?}, expected Some(\"kiswahili\") as before the draft"
            ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
);

// ----- 6. pages under relevance while others publish ---------------------------------------

/// A dataset whose fields hold "mango" as `mask` says (title 8, tags 4,
/// summary 2, description 1): its score.
fn mango_doc(i: usize, mask: u8) -> (String, Value) {
    let has = |bit: u8| mask & bit != 0;
    let title = if has(8) {
        format!("Mango record {i}")
    } else {
        format!("Record {i}")
    };
    let tags = if has(4) { ["mango"] } else { ["fruit"] };
    let summary = if has(2) {
        "Mango notes."
    } else {
        "Plain words."
    };
    let description = if has(1) {
        json!("About mango.")
    } else {
        Value::Null
    };
    (
        title,
        json!({"tags": tags, "summary": summary, "description": description}),
    )
}

/// The weight of the most important field the word is in (title 8, tags
/// 4, summary 2, body 1): the bits of `mask`.
fn score_of(mask: u8) -> u8 {
    [8, 4, 2, 1]
        .into_iter()
        .find(|bit| mask & bit != 0)
        .unwrap_or(0)
}

api_test!(
    relevance_pages_neither_repeat_nor_skip_while_others_publish,
    |backend| {
        let w = small(backend).await;
        let (app, o) = (&w.app, w.owner.access.as_str());
        // 30 matching datasets, every combination of fields twice, and a few
        // that do not match.
        let mut score: HashMap<String, u8> = HashMap::new();
        let mut made: Vec<(String, u8)> = Vec::new();
        for i in 0..30 {
            let mask = u8::try_from(i % 15 + 1).unwrap();
            let (title, extra) = mango_doc(i, mask);
            let id = published(app, o, DATASETS, "andes-lab", &title, extra).await;
            score.insert(id.clone(), score_of(mask));
            made.push((id, score_of(mask)));
        }
        let mut unrelated: HashSet<String> = HashSet::new();
        for i in 0..3 {
            let id = published(
                app,
                o,
                DATASETS,
                "andes-lab",
                &format!("Papaya {i}"),
                json!({"tags": []}),
            )
            .await;
            unrelated.insert(id);
        }
        // Best first, then newest first.
        let mut expected: Vec<(String, u8, usize)> = made
            .iter()
            .enumerate()
            .map(|(i, (id, s))| (id.clone(), *s, i))
            .collect();
        expected.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
        let expected: Vec<String> = expected.into_iter().map(|(id, _, _)| id).collect();
        let initial: HashSet<String> = expected.iter().cloned().collect();

        let mut seen: Vec<String> = Vec::new();
        let mut must_see: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut n = 100;
        for page_no in 0..100 {
            let path = match &cursor {
                None => "/api/v1/resources?q=mango&limit=4".to_string(),
                Some(c) => format!("/api/v1/resources?q=mango&limit=4&cursor={c}"),
            };
            let page = get_ok(app, None, &path).await;
            let ids = ids_of(&page);
            assert!(ids.len() <= 4);
            seen.extend(ids.iter().cloned());
            let Some(c) = page["next_cursor"].as_str() else {
                break;
            };
            cursor = Some(c.to_string());
            let last_score = score[ids.last().unwrap()];
            // Between pages: a better match (before the cursor), a weak
            // match (after it while the walk has not reached score 1), and
            // one that does not match.
            for (mask, matching) in [(15u8, true), (1u8, true), (0u8, false)] {
                n += 1;
                let (title, extra) = if matching {
                    mango_doc(n, mask)
                } else {
                    (format!("Guava {n}"), json!({"tags": []}))
                };
                let id = published(app, o, DATASETS, "andes-lab", &title, extra).await;
                if matching {
                    score.insert(id.clone(), score_of(mask));
                    if score_of(mask) < last_score {
                        must_see.push(id.clone());
                    }
                } else {
                    unrelated.insert(id);
                }
            }
            assert!(page_no < 50, "too many pages");
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in &seen {
            *counts.entry(id.as_str()).or_default() += 1;
        }
        let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(repeated.is_empty(), "seen twice: {repeated:?}");
        assert!(
            seen.iter().all(|id| !unrelated.contains(id)),
            "a resource without the word was listed"
        );
        let initial_seen: Vec<String> = seen
            .iter()
            .filter(|id| initial.contains(*id))
            .cloned()
            .collect();
        assert_eq!(
            initial_seen, expected,
            "every resource there at the start, once, best first then newest"
        );
        for id in &must_see {
            assert!(
                counts.contains_key(id.as_str()),
                "a weak match published ahead of the cursor was skipped"
            );
        }
        // The scores never rise along the walk.
        let scores: Vec<u8> = seen.iter().map(|id| score[id]).collect();
        assert!(
            scores.windows(2).all(|p| p[0] >= p[1]),
            "scores along the walk: {scores:?}"
        );
    }
);

// ----- 7. hostile queries ---------------------------------------------------------------------

/// The hostile queries of the issue and a few more.
fn hostile() -> Vec<String> {
    let mut out: Vec<String> = [
        "\"",
        "\"\"",
        "\"a",
        "a\"",
        "*",
        "**",
        "-",
        "--",
        "-*",
        "-\"",
        "-\"\"",
        "*a",
        "a*b*",
        "\"*\"",
        "\u{0}",
        "a\u{0}b",
        "NEAR(a b)",
        "NEAR(a b, 2)",
        "a NEAR/2 b",
        "a OR b",
        "a AND NOT b",
        "NOT a",
        ":",
        "::",
        "^",
        "^a",
        "a^b",
        "title:x",
        "col:",
        "{title tags}: x",
        "title : x",
        "(((",
        ")))",
        "'; DROP TABLE resources; --",
        "\"; DROP TABLE resources; --",
        "1' OR '1'='1",
        "a & b | !c",
        "a <-> b",
        "'a':*",
        "a:*",
        "!!",
        "$$",
        "%",
        "_",
        "\\",
        "\\\"",
        "\\'",
        "%_\\",
        "a%b_c",
        "مجموعة بيانات",
        "የአማርኛ ንግግር",
        "😀",
        "👩‍👩‍👧 🇰🇪",
        "\u{300}",
        "\u{202E}abc",
        "\u{FEFF}",
        "\u{10FFFF}",
        "kind:",
        "kind:\"",
        "kind:\"dataset",
        "tag:\"a b",
        "tag:'; DROP",
        "institution:%",
        "institution:\"",
        "language:",
        "-kind:dataset",
        "\"kind:dataset\"",
        "a b c d e f g h i j k l m n o p",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    out.push("x".repeat(10 * 1024));
    out.push("a ".repeat(5 * 1024));
    out.push("\"".repeat(501));
    out.push("é".repeat(500));
    out.push("w".repeat(65));
    out.push(
        (0..17)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" "),
    );
    out
}

/// `path` answers 200 (a page or suggestions) or a 400 problem, never
/// anything else: the status.
async fn tolerable(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    failures: &mut Vec<String>,
) -> u16 {
    let res = call(app, Method::GET, path, token, None).await;
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = res.text().await.unwrap_or_default();
    let shown: String = path.chars().take(120).collect();
    match status {
        200 => match serde_json::from_str::<Value>(&text) {
            Ok(v) if v["items"].is_array() => {}
            _ => failures.push(format!("{shown}: 200 without items: {text}")),
        },
        400 => {
            let ok = ct == "application/problem+json"
                && serde_json::from_str::<Value>(&text).is_ok_and(|p| p["status"] == 400);
            if !ok {
                failures.push(format!("{shown}: 400 but not problem+json ({ct}): {text}"));
            }
        }
        other => failures.push(format!("{shown}: {other}: {text}")),
    }
    status
}

api_test!(hostile_queries_answer_200_or_400_never_500, |backend| {
    let w = small(backend).await;
    let (app, o) = (&w.app, w.owner.access.as_str());
    let id = published(
        app,
        o,
        DATASETS,
        "andes-lab",
        "A b c robust title",
        json!({"tags": ["a"], "summary": "Words a and b."}),
    )
    .await;
    let mut failures = Vec::new();
    for q in hostile() {
        let e = enc(&q);
        for token in [None, Some(w.root.access.as_str())] {
            for path in [
                format!("/api/v1/resources?q={e}"),
                format!(
                    "/api/v1/resources?q={e}&facets=kind,tag,language,institution&highlight=true&sort=relevance"
                ),
                format!("/api/v1/datasets?q={e}&highlight=true"),
                format!("/api/v1/resources/suggest?q={e}"),
                format!("/api/v1/resources/suggest?q={e}&kind=dataset"),
            ] {
                tolerable(app, token, &path, &mut failures).await;
            }
        }
        // As a filter value too.
        for param in ["tag", "institution", "language", "license"] {
            tolerable(
                app,
                None,
                &format!("/api/v1/resources?{param}={e}"),
                &mut failures,
            )
            .await;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The ones that must be refused, naming `q`.
    for q in [
        "x".repeat(10 * 1024),
        "\u{0}".to_string(),
        "a\u{0}b".to_string(),
        (0..17)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" "),
        "é".repeat(501),
    ] {
        let res = app.get(&format!("/api/v1/resources?q={}", enc(&q))).await;
        invalid(res, &["q"]).await;
        let res = app
            .get(&format!("/api/v1/resources/suggest?q={}", enc(&q)))
            .await;
        invalid(res, &["q"]).await;
    }
    // 500 characters is still a query.
    let res = app
        .get(&format!("/api/v1/resources?q={}", enc(&"é".repeat(500))))
        .await;
    assert_eq!(res.status(), 200);
    // Nothing was dropped or changed.
    assert_eq!(found(app, None, "robust").await, one(&id));
    let one = get_ok(app, None, &format!("/api/v1/datasets/{id}")).await;
    assert_eq!(one["title"], "A b c robust title");
});

api_test!(
    a_query_of_exclusions_only_or_no_words_still_sorts,
    |backend| {
        // Relevance with nothing to score: only exclusions, or no words at all
        // with `sort=relevance`. The list is still a list (every score is 0,
        // newest first), or at most a 400 for the sort; never a 500.
        let w = small(backend).await;
        let (app, o) = (&w.app, w.owner.access.as_str());
        let okra = published(
            app,
            o,
            DATASETS,
            "andes-lab",
            "Okra trial",
            json!({"tags": []}),
        )
        .await;
        let yam = published(
            app,
            o,
            DATASETS,
            "andes-lab",
            "Yam trial",
            json!({"tags": []}),
        )
        .await;
        let taro = published(
            app,
            o,
            DATASETS,
            "andes-lab",
            "Taro notes",
            json!({"tags": []}),
        )
        .await;
        let mut failures = Vec::new();
        for (q, want) in [
            ("-okra", vec![taro.clone(), yam.clone()]),
            ("-\"okra trial\"", vec![taro.clone(), yam.clone()]),
            ("-trial", vec![taro.clone()]),
            ("-trial -taro", vec![]),
            (
                "-oka* kind:dataset",
                vec![taro.clone(), yam.clone(), okra.clone()],
            ),
        ] {
            for sort in ["", "&sort=relevance"] {
                let path = format!("/api/v1/resources?q={}{sort}", enc(q));
                let res = app.get(&path).await;
                let status = res.status().as_u16();
                let text = res.text().await.unwrap();
                if status != 200 {
                    failures.push(format!("{path}: {status} {text}"));
                    continue;
                }
                let page: Value = serde_json::from_str(&text).unwrap();
                if ids_of(&page) != want {
                    failures.push(format!("{path}: {:?}, expected {want:?}", ids_of(&page)));
                }
            }
        }
        for path in [
            "/api/v1/resources?sort=relevance",
            "/api/v1/resources?q=*&sort=relevance",
            "/api/v1/resources?q=%22%22&sort=relevance",
            "/api/v1/datasets?sort=relevance&limit=1",
            "/api/v1/resources?q=kind:dataset&sort=relevance",
        ] {
            let res = app.get(path).await;
            let status = res.status().as_u16();
            let ct = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let text = res.text().await.unwrap();
            let fine = status == 200 || (status == 400 && ct == "application/problem+json");
            if !fine {
                failures.push(format!("{path}: {status} {text}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
);

api_test!(other_sort_orders_apply_to_searches_and_lists, |backend| {
    // With `q`, another sort than relevance is kept when asked for; without
    // `q` (or with only `field:value` or punctuation) the list is newest
    // first. Every such list must answer, on both databases.
    let w = small(backend).await;
    let (app, o) = (&w.app, w.owner.access.as_str());
    let mut e = Expect::new(app);
    for (label, title, extra) in [
        ("title", "Baobab atlas", json!({"tags": ["trees"]})),
        ("tags", "Atlas one", json!({"tags": ["baobab"]})),
        (
            "summary",
            "Atlas two",
            json!({"tags": ["trees"], "summary": "All about the baobab tree."}),
        ),
        (
            "description",
            "Atlas three",
            json!({"tags": ["trees"], "description": "The baobab grows here."}),
        ),
    ] {
        let id = published(app, o, DATASETS, "andes-lab", title, extra).await;
        e.label(&id, label);
    }
    let newest = ["description", "summary", "tags", "title"];
    let oldest = ["title", "tags", "summary", "description"];
    let by_title = ["tags", "description", "summary", "title"];
    let q = q_path("baobab");
    e.order(None, &format!("{q}&sort=-published_at"), &newest)
        .await;
    e.order(None, &format!("{q}&sort=published_at"), &oldest)
        .await;
    e.order(None, &format!("{q}&sort=title"), &by_title).await;
    e.order(
        None,
        &format!("{q}&sort=-title"),
        &["title", "summary", "description", "tags"],
    )
    .await;
    e.order(None, "/api/v1/resources", &newest).await;
    e.order(None, "/api/v1/datasets?sort=title", &by_title)
        .await;
    // Only filters: no words to rank, newest first. Only punctuation:
    // nothing to find (docs/SEARCH.md).
    e.order(None, &q_path("kind:dataset"), &newest).await;
    e.order(None, &q_path("*"), &[]).await;
    e.order(
        None,
        &q_path("tag:trees"),
        &["description", "summary", "title"],
    )
    .await;
    e.order(None, &q_path("kind:course"), &[]).await;
    e.finish();
    // A cursor of another order is refused under relevance.
    let page = get_ok(app, None, "/api/v1/resources?sort=title&limit=1").await;
    let title_cursor = page["next_cursor"].as_str().unwrap().to_string();
    for query in [
        format!("q=baobab&cursor={title_cursor}"),
        format!("q=baobab&sort=relevance&cursor={title_cursor}"),
        format!("q=baobab&sort=-title&cursor={title_cursor}"),
    ] {
        invalid(
            app.get(&format!("/api/v1/resources?{query}")).await,
            &["cursor"],
        )
        .await;
    }
});

api_test!(operators_are_taken_literally, |backend| {
    let w = small(backend).await;
    let (app, o) = (&w.app, w.owner.access.as_str());
    let mut e = Expect::new(app);
    for (label, title) in [
        ("o1", "Alpha beta"),
        ("o2", "Alpha or beta"),
        ("o3", "Near alpha"),
        ("o4", "Alpha and not beta"),
    ] {
        let id = published(app, o, DATASETS, "andes-lab", title, json!({"tags": []})).await;
        e.label(&id, label);
    }
    let a = None;
    e.set(a, "alpha beta", &["o1", "o2", "o4"]).await;
    e.set(a, "alpha OR beta", &["o2"]).await;
    e.set(a, "alpha | beta", &["o1", "o2", "o4"]).await;
    e.set(a, "alpha AND NOT beta", &["o4"]).await;
    e.set(a, "alpha AND beta", &["o4"]).await;
    e.set(a, "NEAR(alpha beta)", &[]).await;
    e.set(a, "NEAR(alpha)", &["o3"]).await;
    e.set(a, "title:alpha", &[]).await;
    e.set(a, "alpha^", &["o1", "o2", "o3", "o4"]).await;
    e.set(a, "(alpha)", &["o1", "o2", "o3", "o4"]).await;
    e.set(a, "alpha -beta", &["o3"]).await;
    e.set(a, "alpha !beta", &["o1", "o2", "o4"]).await;
    e.set(a, "al*ha", &[]).await;
    e.finish();
});

// ----- 8. bad parameters ------------------------------------------------------------------------

api_test!(bad_search_parameters_are_400_naming_them, |backend| {
    let w = small(backend).await;
    let (app, o) = (&w.app, w.owner.access.as_str());
    for i in 0..3 {
        published(
            app,
            o,
            DATASETS,
            "andes-lab",
            &format!("Okra {i}"),
            json!({"tags": []}),
        )
        .await;
    }
    let r = "/api/v1/resources";
    // An unknown facet: the valid ones are named.
    let p = invalid(
        app.get(&format!("{r}?facets=kind,colour")).await,
        &["facets"],
    )
    .await;
    let msg = p["errors"][0]["message"].as_str().unwrap();
    for name in [
        "kind",
        "language",
        "country",
        "license",
        "tag",
        "institution",
        "access_level",
        "risk_tier",
        "level",
        "delivery",
    ] {
        assert!(msg.contains(name), "{name} not named: {msg}");
    }
    assert!(msg.contains("colour"), "{msg}");
    let cases: &[(&str, &[&str])] = &[
        ("facets=Kind", &["facets"]),
        ("facets=status", &["facets"]),
        ("kind=podcast", &["kind"]),
        ("kind=course,podcast", &["kind"]),
        ("language=not_a_tag", &["language"]),
        ("country=ZZ", &["country"]),
        ("country=KEN", &["country"]),
        ("license=NOT-A-LICENCE", &["license"]),
        ("access_level=secret", &["access_level"]),
        ("risk_tier=extreme", &["risk_tier"]),
        ("level=expert", &["level"]),
        ("delivery=pigeon", &["delivery"]),
        ("highlight=maybe", &["highlight"]),
        ("highlight=1", &["highlight"]),
        ("sort=best", &["sort"]),
        ("q=kind:podcast", &["q"]),
        ("q=okra+language:%21%21", &["q"]),
        ("q=okra+country:ZZ", &["q"]),
        ("q=okra+access_level:secret", &["q"]),
        ("kind=podcast&facets=colour", &["kind", "facets"]),
    ];
    for (query, fields) in cases {
        let res = app.get(&format!("{r}?{query}")).await;
        let status = res.status().as_u16();
        assert_eq!(status, 400, "{query}");
        invalid(res, fields).await;
    }
    // More values than a filter takes.
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    invalid(
        app.get(&format!("{r}?tag={}", many.join(","))).await,
        &["tag"],
    )
    .await;
    // A parameter given twice is refused.
    for query in [
        "kind=course&kind=dataset",
        "q=okra&q=okra",
        "facets=kind&facets=tag",
        "highlight=true&highlight=true",
    ] {
        let p = problem(app.get(&format!("{r}?{query}")).await, 400).await;
        assert!(p["detail"].is_string() || p["errors"].is_array(), "{p}");
    }
    // A cursor of another sort order.
    // (A cursor of another order used under relevance: in
    // `other_sort_orders_apply_to_searches_and_lists`.)
    let page = get_ok(app, None, &format!("{r}?q=okra&limit=1")).await;
    let relevance_cursor = page["next_cursor"].as_str().unwrap().to_string();
    for query in [
        format!("q=okra&sort=title&cursor={relevance_cursor}"),
        format!("q=okra&sort=published_at&cursor={relevance_cursor}"),
        format!("cursor={relevance_cursor}"),
        format!("sort=-published_at&q=okra&cursor={relevance_cursor}"),
    ] {
        invalid(app.get(&format!("{r}?{query}")).await, &["cursor"]).await;
    }
    // The right cursor works.
    let page = get_ok(
        app,
        None,
        &format!("{r}?q=okra&limit=1&cursor={relevance_cursor}"),
    )
    .await;
    assert_eq!(ids_of(&page).len(), 1);
    // Type-ahead.
    problem(app.get(&format!("{r}/suggest")).await, 400).await;
    invalid(
        app.get(&format!("{r}/suggest?q={}", "a".repeat(101))).await,
        &["q"],
    )
    .await;
    problem(
        app.get(&format!("{r}/suggest?q=ok&kind=podcast")).await,
        400,
    )
    .await;
});

// ----- 9. highlights ---------------------------------------------------------------------------

api_test!(
    highlights_are_escaped_and_mark_the_matched_words,
    |backend| {
        let w = small(backend).await;
        let (app, o) = (&w.app, w.owner.access.as_str());
        let evil = published(
            app,
            o,
            DATASETS,
            "andes-lab",
            "<script>alert(\"x\")</script> Quechua & friends",
            json!({"tags": ["ayllu"],
               "summary": "Words about quechua speakers <b>bold</b> & 'more'."}),
        )
        .await;
        let tagged = published(
            app,
            o,
            DATASETS,
            "andes-lab",
            "Plain <i>title</i>",
            json!({"tags": ["quechua"], "summary": "Nothing here."}),
        )
        .await;
        let hl =
            |q: &str, extra: &str| format!("/api/v1/resources?highlight=true&q={}{extra}", enc(q));
        let page = get_ok(app, None, &hl("quechua", "")).await;
        assert_eq!(ids_of(&page), [evil.clone(), tagged.clone()]);
        let h = &page["highlights"];
        assert_eq!(
            h[&evil],
            json!({
                "title": "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <mark>Quechua</mark> &amp; friends",
                "snippet": "Words about <mark>quechua</mark> speakers &lt;b&gt;bold&lt;/b&gt; &amp; &#39;more&#39;.",
            }),
            "{page}"
        );
        // Matched in the tags only: the title escaped, no snippet.
        assert_eq!(
            h[&tagged],
            json!({"title": "Plain &lt;i&gt;title&lt;/i&gt;", "snippet": null}),
            "{page}"
        );
        // The word `script` of the markup is marked inside the escaped text.
        let page = get_ok(app, None, &hl("script", "")).await;
        assert_eq!(
            page["highlights"][&evil]["title"],
            "&lt;<mark>script</mark>&gt;alert(&quot;x&quot;)&lt;/<mark>script</mark>&gt; Quechua &amp; friends"
        );
        // A prefix marks whole words; a phrase marks its words.
        let page = get_ok(app, None, &hl("quec*", "")).await;
        assert_eq!(
            page["highlights"][&evil]["snippet"],
            "Words about <mark>quechua</mark> speakers &lt;b&gt;bold&lt;/b&gt; &amp; &#39;more&#39;."
        );
        let page = get_ok(app, None, &hl("\"QUECHUA speakers\"", "")).await;
        assert_eq!(
            page["highlights"][&evil]["snippet"],
            "Words about <mark>quechua</mark> <mark>speakers</mark> &lt;b&gt;bold&lt;/b&gt; &amp; &#39;more&#39;."
        );
        // Only the page's items; none without `highlight=true`.
        let page = get_ok(app, None, &hl("quechua", "&limit=1")).await;
        let keys: Vec<&String> = page["highlights"].as_object().unwrap().keys().collect();
        assert_eq!(keys, [&evil]);
        let page = get_ok(app, None, "/api/v1/resources?q=quechua").await;
        assert!(page.get("highlights").is_none_or(Value::is_null), "{page}");
        let page = get_ok(app, None, "/api/v1/resources?q=quechua&highlight=false").await;
        assert!(page.get("highlights").is_none_or(Value::is_null), "{page}");
        // A long summary: a snippet around the match, cut with `…`.
        let long = format!(
            "{} Andean <em>quechua</em> {}",
            "Lead words here. ".repeat(30),
            "Tail words there. ".repeat(30)
        );
        let far = published(
            app,
            o,
            DATASETS,
            "andes-lab",
            "Long one",
            json!({"tags": [], "description": long}),
        )
        .await;
        let page = get_ok(app, None, &hl("andean", "")).await;
        let snippet = page["highlights"][&far]["snippet"].as_str().unwrap();
        assert!(
            snippet.starts_with('…') && snippet.ends_with('…'),
            "{snippet}"
        );
        assert!(
            snippet.contains("<mark>Andean</mark> &lt;em&gt;quechua&lt;/em&gt;"),
            "{snippet}"
        );
        assert!(snippet.chars().count() < 250, "{snippet}");
        assert!(!snippet.contains("<em>"), "{snippet}");
    }
);

api_test!(
    updated_since_the_latest_changes_first_and_a_total_on_request,
    |backend| {
        let w = small(backend).await;
        let (app, o) = (&w.app, w.owner.access.as_str());
        let a = published(app, o, DATASETS, "andes-lab", "Alpaca census", json!({})).await;
        let b = published(app, o, DATASETS, "andes-lab", "Bean trials", json!({})).await;
        let c = published(app, o, COURSES, "andes-lab", "Cassava basics", json!({})).await;
        let b_at = get_ok(app, None, &format!("/api/v1/datasets/{b}")).await["updated_at"]
            .as_str()
            .unwrap()
            .to_string();
        // Changed at or after b's last change: b and c, not a.
        let since = get_ok(
            app,
            None,
            &format!("/api/v1/resources?updated_since={}&limit=100", enc(&b_at)),
        )
        .await;
        let got: HashSet<String> = ids_of(&since).into_iter().collect();
        assert_eq!(got, HashSet::from([b.clone(), c.clone()]), "{since}");
        // A change (its next version published) puts a first under
        // -updated_at; pages keep the order.
        edit(
            app,
            o,
            &format!("/api/v1/datasets/{a}"),
            json!({"summary": "Counted again."}),
        )
        .await;
        let first = get_ok(app, None, "/api/v1/resources?sort=-updated_at&limit=1").await;
        assert_eq!(ids_of(&first), [a.as_str()]);
        let walked = walk_items(app, None, "/api/v1/resources?sort=-updated_at", 1).await;
        let order: Vec<&str> = walked.iter().map(|i| i["id"].as_str().unwrap()).collect();
        assert_eq!(order, [a.as_str(), c.as_str(), b.as_str()]);
        // count=true: a total of what the caller may see, exact here.
        let page = get_ok(app, None, "/api/v1/resources?count=true&limit=1").await;
        assert_eq!(page["total"], 3, "{page}");
        assert_eq!(page["total_is_exact"], true);
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        let page = get_ok(app, None, "/api/v1/datasets?count=true&q=census").await;
        assert_eq!(page["total"], 1, "{page}");
        let page = get_ok(app, None, "/api/v1/resources?count=true&q=nothinghere").await;
        assert_eq!(page["total"], 0, "{page}");
        let page = get_ok(app, None, "/api/v1/resources").await;
        assert!(page.get("total").is_none(), "{page}");
        // A draft is not counted for a stranger.
        let _d = draft(app, o, DATASETS, "andes-lab", "Draft dunes", json!({})).await;
        let page = get_ok(app, None, "/api/v1/resources?count=true").await;
        assert_eq!(page["total"], 3, "{page}");
        // Bad values are a 400 naming the parameter.
        for (path, field) in [
            ("/api/v1/resources?updated_since=yesterday", "updated_since"),
            (
                "/api/v1/resources?updated_since=2026-13-01T00:00:00Z",
                "updated_since",
            ),
            ("/api/v1/resources?count=maybe", "count"),
            ("/api/v1/resources?sort=updated_at", "sort"),
        ] {
            invalid(app.get(path).await, &[field]).await;
        }
    }
);

api_test!(
    lists_of_ids_walk_every_order_like_the_full_items,
    |backend| {
        let w = small(backend).await;
        let (app, o) = (&w.app, w.owner.access.as_str());
        for i in 0..7 {
            let mask = u8::try_from(i % 15 + 1).unwrap();
            let (title, extra) = mango_doc(i, mask);
            published(app, o, DATASETS, "andes-lab", &title, extra).await;
        }
        published(app, o, COURSES, "andes-lab", "Mango growing", json!({})).await;
        // Hidden from readers: a draft and an institution-only dataset.
        draft(app, o, DATASETS, "andes-lab", "Mango draft", json!({})).await;
        published(
            app,
            o,
            DATASETS,
            "andes-lab",
            "Mango for members",
            json!({"visibility": "institution"}),
        )
        .await;
        for (token, who) in [(None, "anonymous"), (Some(o), "the owner")] {
            for list in [
                "/api/v1/resources?q=mango",
                "/api/v1/resources",
                "/api/v1/datasets?sort=title",
                "/api/v1/resources?sort=-title",
                "/api/v1/resources?sort=-updated_at",
                "/api/v1/resources?sort=published_at",
            ] {
                let full = walk_items(app, token, list, 3).await;
                let sep = if list.contains('?') { '&' } else { '?' };
                let ids = walk_items(app, token, &format!("{list}{sep}fields=id"), 3).await;
                let expected: Vec<Value> = full
                    .iter()
                    .map(|i| json!({"id": i["id"], "kind": i["kind"]}))
                    .collect();
                assert!(!expected.is_empty());
                assert_eq!(ids, expected, "{list} for {who}");
            }
        }
        // The owner's list of ids has what readers do not see; theirs not.
        let mine = walk_items(app, Some(o), "/api/v1/datasets?fields=id", 100).await;
        let theirs = walk_items(app, None, "/api/v1/datasets?fields=id", 100).await;
        assert_eq!(mine.len(), theirs.len() + 1, "the institution-only one");
    }
);
