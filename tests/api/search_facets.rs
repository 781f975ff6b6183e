//! Facet counts of `/resources` (issue #15) checked against the pages
//! themselves for every kind of reader, the multi-select rule, hidden
//! resources never counted or suggested, and type-ahead
//! (`/resources/suggest`).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::{admin, set_platform_role};
use crate::helpers::app::start;
use crate::helpers::http::call;
use crate::helpers::institutions::{create, join, verify};
use crate::helpers::search::{
    COURSES, DATASETS, MODEL_CARDS, active_partnership, draft, enc, get_ok, published, share,
    walk_items,
};
use crate::helpers::{Account, TestApp};

const FACETS: [&str; 10] = [
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
];

fn institution(slug: &str, country: &str) -> Value {
    json!({"slug": slug, "name": format!("Institution {slug}"), "country": country,
           "kind": "university"})
}

/// What a kind's details are, the `n`th of its kind: every level, delivery,
/// access level and (publishable) risk tier in turn.
fn details(coll: &str, n: usize) -> Value {
    match coll {
        COURSES => {
            let level = ["beginner", "intermediate", "advanced"][n % 3];
            let delivery = ["self_paced", "instructor_led", "blended"][(n / 2) % 3];
            json!({"level": level, "delivery": delivery})
        }
        DATASETS => {
            let access = ["open", "registered", "restricted"][n % 3];
            json!({ "access_level": access })
        }
        MODEL_CARDS if n.is_multiple_of(2) => json!({"risk_tier": "minimal"}),
        MODEL_CARDS => json!({
            "risk_tier": "limited",
            "evaluation_data": "Held-out plots.",
            "caveats": "Dry seasons only.",
            "results": [{"task": "yield", "dataset": "plots", "metric": "mae", "value": 0.3}],
        }),
        other => panic!("{other}"),
    }
}

/// A resource of the facet world.
struct Spec {
    inst: &'static str,
    coll: &'static str,
    visibility: &'static str,
    status: &'static str,
    languages: &'static [&'static str],
    countries: &'static [&'static str],
    license: &'static str,
    tags: &'static [&'static str],
    /// "harvest" in the title.
    harvest: bool,
    /// Shared into the `delta` partnership.
    shared: bool,
}

#[rustfmt::skip]
fn specs() -> Vec<Spec> {
    let s = |inst, coll, visibility, languages, countries, license, tags, harvest, shared| Spec {
        inst, coll, visibility, status: "published", languages, countries, license, tags, harvest, shared,
    };
    let (ke, ng, tz) = ("ke-lab", "ng-lab", "tz-lab");
    let (c, d, m) = (COURSES, DATASETS, MODEL_CARDS);
    let mut out = vec![
        s(ke, c, "public", &["sw"], &["KE"], "CC-BY-4.0", &["maize"], true, false),
        s(ke, d, "public", &["sw-KE"], &["KE", "TZ"], "MIT", &["maize", "soil"], true, false),
        s(ke, m, "public", &["en"], &[], "CC0-1.0", &[], true, false),
        s(ke, c, "registered", &["fr", "sw"], &["NG"], "CC-BY-4.0", &["soil"], true, false),
        s(ke, d, "institution", &["yo"], &["GH"], "MIT", &["water", "MAIZE"], true, false),
        s(ke, m, "institution", &["sw"], &["KE"], "CC-BY-4.0", &["maize"], false, false),
        s(ke, c, "partnership", &["en", "sw-TZ"], &["TZ"], "CC-BY-SA-4.0", &["soil"], true, true),
        s(ke, d, "partnership", &["sw"], &["KE"], "MIT", &["maize"], true, true),
        s(ke, m, "partnership", &["am"], &["ET"], "CC-BY-4.0", &["water"], true, false),
        s(ng, c, "public", &["ha"], &["NG"], "CC-BY-4.0", &["maize"], true, false),
        s(ng, d, "public", &["yo", "en"], &["NG"], "CC0-1.0", &["soil"], false, false),
        s(ng, m, "registered", &["sw-KE"], &["KE"], "MIT", &["maize", "water"], true, false),
        s(ng, c, "institution", &["ha"], &["NG"], "CC-BY-4.0", &["soil"], true, false),
        s(ng, d, "partnership", &["fr"], &["SN"], "CC-BY-4.0", &["water"], true, true),
        s(ng, m, "partnership", &["en"], &["NG"], "MIT", &[], true, false),
        s(tz, c, "public", &["sw"], &["TZ"], "CC-BY-SA-4.0", &["maize"], true, false),
        s(tz, d, "registered", &["sw-TZ"], &["TZ"], "CC-BY-4.0", &["soil", "maize"], true, false),
        s(tz, m, "public", &["en"], &[], "MIT", &["water"], true, false),
        s(tz, c, "institution", &["sw"], &["TZ", "KE"], "CC-BY-4.0", &["maize"], true, false),
        s(tz, d, "partnership", &["sw"], &["TZ"], "MIT", &["soil"], true, false),
        s(tz, d, "public", &["zu"], &["ZA"], "CC-BY-4.0", &[], false, false),
        s(tz, c, "public", &["sw-KE"], &["KE"], "CC0-1.0", &["maize"], true, false),
        s(ng, d, "public", &["en"], &["NG"], "MIT", &["soil"], true, false),
    ];
    // Never counted: drafts (one even of a public resource) and an
    // archived one, with values nothing visible has.
    let hidden = [
        (ke, d, "draft", &["xh"][..], &["ZA"][..], &["secretdraft"][..]),
        (tz, m, "draft", &["af"][..], &["NA"][..], &["secretdraft"][..]),
        (ng, c, "archived", &["xh"][..], &["ZA"][..], &["archivedtag"][..]),
    ];
    for (inst, coll, status, languages, countries, tags) in hidden {
        out.push(Spec {
            inst, coll, visibility: "public", status, languages, countries,
            license: "0BSD", tags, harvest: true, shared: false,
        });
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    Stranger,
    /// A member of `ke-lab`.
    KeMember,
    /// A member of `ng-lab`, in the `delta` partnership with `ke-lab`.
    NgMember,
    Admin,
}

struct World {
    app: TestApp,
    root: Account,
    stranger: Account,
    ke_member: Account,
    ng_member: Account,
    /// Resource ids with their spec.
    made: Vec<(String, Spec)>,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Anonymous => None,
            Who::Stranger => Some(&self.stranger.access),
            Who::KeMember => Some(&self.ke_member.access),
            Who::NgMember => Some(&self.ng_member.access),
            Who::Admin => Some(&self.root.access),
        }
    }

    /// The published resources `who` may see, by the access rules.
    fn visible(&self, who: Who) -> BTreeSet<String> {
        self.made
            .iter()
            .filter(|(_, s)| s.status == "published")
            .filter(|(_, s)| match who {
                Who::Admin => true,
                Who::Anonymous => s.visibility == "public",
                Who::Stranger => matches!(s.visibility, "public" | "registered"),
                Who::KeMember => {
                    matches!(s.visibility, "public" | "registered")
                        || s.inst == "ke-lab"
                        || (s.visibility == "partnership" && s.shared)
                }
                Who::NgMember => {
                    matches!(s.visibility, "public" | "registered")
                        || s.inst == "ng-lab"
                        || (s.visibility == "partnership" && s.shared)
                }
            })
            .map(|(id, _)| id.clone())
            .collect()
    }
}

async fn facet_world(backend: crate::helpers::Backend) -> World {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let coord = app.signup("coord@example.org").await;
    set_platform_role(&app, &coord.id, "coordinator").await;
    let coord = app.signin("coord@example.org").await;
    let stranger = app.signup("stranger@example.org").await;
    let ke = app.signup("ke.owner@example.org").await;
    let ke_member = app.signup("ke.member@example.org").await;
    let ng = app.signup("ng.owner@example.org").await;
    let ng_member = app.signup("ng.member@example.org").await;
    let tz = app.signup("tz.owner@example.org").await;
    for (owner, member, slug, country) in [
        (&ke, Some(&ke_member), "ke-lab", "KE"),
        (&ng, Some(&ng_member), "ng-lab", "NG"),
        (&tz, None, "tz-lab", "TZ"),
    ] {
        create(&app, &owner.access, institution(slug, country)).await;
        verify(&app, &root.access, slug).await;
        if let Some(m) = member {
            join(&app, &owner.access, slug, m, "member").await;
        }
    }
    active_partnership(
        &app,
        &coord.access,
        "delta",
        &[
            ("ke-lab", ke.access.as_str()),
            ("ng-lab", ng.access.as_str()),
        ],
    )
    .await;
    let owner_of = |inst: &str| match inst {
        "ke-lab" => ke.access.clone(),
        "ng-lab" => ng.access.clone(),
        _ => tz.access.clone(),
    };
    let mut made = Vec::new();
    for (i, s) in specs().into_iter().enumerate() {
        let token = owner_of(s.inst);
        let title = if s.harvest {
            format!("Harvest record {i}")
        } else {
            format!("Field record {i}")
        };
        let mut extra = details(s.coll, i / 3);
        for (k, v) in [
            ("visibility", json!(s.visibility)),
            ("languages", json!(s.languages)),
            ("countries", json!(s.countries)),
            ("license", json!(s.license)),
            ("tags", json!(s.tags)),
        ] {
            extra[k] = v;
        }
        let id = if s.status == "draft" {
            draft(&app, &token, s.coll, s.inst, &title, extra).await
        } else {
            published(&app, &token, s.coll, s.inst, &title, extra).await
        };
        if s.status == "archived" {
            let res = call(
                &app,
                Method::POST,
                &format!("/api/v1/{}/{id}/archive", s.coll),
                Some(&token),
                None,
            )
            .await;
            assert_eq!(res.status(), 200);
        }
        if s.shared {
            share(&app, &token, "delta", &id).await;
        }
        made.push((id, s));
    }
    World {
        app,
        root,
        stranger,
        ke_member,
        ng_member,
        made,
    }
}

/// The values of `facet` an item has, as the facets spell them.
fn values_of(item: &Value, facet: &str) -> BTreeSet<String> {
    let one = |key: &str| item[key].as_str().map(str::to_string);
    let list = |key: &str| -> Vec<String> {
        item[key]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    match facet {
        "language" => list("languages")
            .into_iter()
            .flat_map(|l| {
                let primary = l.split('-').next().unwrap().to_string();
                [l, primary]
            })
            .collect(),
        "country" => list("countries").into_iter().collect(),
        "tag" => list("tags").into_iter().map(|t| t.to_lowercase()).collect(),
        "kind" | "institution" | "license" | "access_level" | "risk_tier" | "level"
        | "delivery" => one(facet).into_iter().collect(),
        other => panic!("{other}"),
    }
}

fn count_values(items: &[Value], facet: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for item in items {
        for v in values_of(item, facet) {
            *out.entry(v).or_insert(0) += 1;
        }
    }
    out
}

/// A list request: a collection, `q`, and filter parameters.
struct Ask {
    collection: &'static str,
    q: Option<&'static str>,
    filters: Vec<(&'static str, &'static str)>,
}

impl Ask {
    fn path(&self, skip: Option<&str>, replace: Option<(&str, &str)>) -> String {
        let mut parts = Vec::new();
        if let Some(q) = self.q {
            parts.push(format!("q={}", enc(q)));
        }
        for (k, v) in &self.filters {
            if Some(*k) == skip || replace.is_some_and(|(rk, _)| rk == *k) {
                continue;
            }
            parts.push(format!("{k}={}", enc(v)));
        }
        if let Some((k, v)) = replace {
            parts.push(format!("{k}={}", enc(v)));
        }
        if parts.is_empty() {
            format!("/api/v1/{}", self.collection)
        } else {
            format!("/api/v1/{}?{}", self.collection, parts.join("&"))
        }
    }
}

fn asks() -> Vec<Ask> {
    let ask = |collection, q, filters| Ask {
        collection,
        q,
        filters,
    };
    vec![
        ask("resources", Some("record"), vec![]),
        ask("resources", Some("harvest"), vec![]),
        ask("resources", Some("harvest"), vec![("language", "sw")]),
        ask(
            "resources",
            Some("harvest"),
            vec![("kind", "dataset,course"), ("tag", "maize")],
        ),
        ask("datasets", Some("harvest"), vec![]),
        ask(
            "resources",
            Some("harvest kind:course"),
            vec![("country", "KE,TZ")],
        ),
        ask(
            "resources",
            Some("record -harvest"),
            vec![("license", "MIT,CC0-1.0")],
        ),
    ]
}

/// The facets of `path` (all ten asked), as `facet → value → count`,
/// checking each is at most 10 values, most frequent first.
async fn facets_of(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
) -> BTreeMap<String, BTreeMap<String, i64>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let page = get_ok(
        app,
        token,
        &format!("{path}{sep}facets={}", FACETS.join(",")),
    )
    .await;
    let facets = page["facets"].as_object().expect("facets");
    assert_eq!(facets.len(), FACETS.len(), "{path}: {page}");
    let mut out = BTreeMap::new();
    for (name, values) in facets {
        let values = values.as_array().expect("a list");
        assert!(values.len() <= 10, "{path}: {name}: {values:?}");
        let counts: Vec<i64> = values
            .iter()
            .map(|v| v["count"].as_i64().unwrap())
            .collect();
        assert!(
            counts.windows(2).all(|w| w[0] >= w[1]),
            "{path}: {name} not most frequent first: {values:?}"
        );
        let mut map = BTreeMap::new();
        for v in values {
            assert!(v["count"].as_i64().unwrap() > 0, "{v}");
            let dup = map.insert(
                v["value"].as_str().unwrap().to_string(),
                v["count"].as_i64().unwrap(),
            );
            assert!(dup.is_none(), "{path}: {name}: a value twice");
        }
        out.insert(name.clone(), map);
    }
    out
}

api_test!(
    facet_counts_equal_the_items_walked_for_every_reader,
    |backend| {
        let w = facet_world(backend).await;
        let app = &w.app;
        let mut failures: Vec<String> = Vec::new();
        let mut checked = 0;
        for who in [
            Who::Anonymous,
            Who::Stranger,
            Who::KeMember,
            Who::NgMember,
            Who::Admin,
        ] {
            let token = w.token(who);
            // The walk itself shows exactly what the rules allow (every
            // title of this world has the word "record").
            let all = walk_items(app, token, "/api/v1/resources?q=record", 100).await;
            let ids: BTreeSet<String> = all
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(ids, w.visible(who), "{who:?}: the visible resources");
            for ask in asks() {
                let path = ask.path(None, None);
                let facets = facets_of(app, token, &path).await;
                for facet in FACETS {
                    // Each facet counts with every filter but its own.
                    let walked = walk_items(app, token, &ask.path(Some(facet), None), 100).await;
                    let want = count_values(&walked, facet);
                    let got = facets.get(facet).cloned().unwrap_or_default();
                    checked += 1;
                    if got != want {
                        failures.push(format!(
                            "{who:?} {path} facet {facet}: counted {got:?}, walked {want:?}"
                        ));
                    }
                }
            }
        }
        assert!(checked >= 350, "{checked}");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
);

api_test!(facet_counts_without_q_equal_the_items_walked, |backend| {
    // The same as above for lists without `q` (sorted newest first, or by
    // title), and with only `field:value` in `q`.
    let w = facet_world(backend).await;
    let app = &w.app;
    let mut failures: Vec<String> = Vec::new();
    let asks = [
        Ask {
            collection: "resources",
            q: None,
            filters: vec![],
        },
        Ask {
            collection: "courses",
            q: None,
            filters: vec![("language", "sw"), ("sort", "title")],
        },
        Ask {
            collection: "resources",
            q: Some("kind:dataset"),
            filters: vec![("country", "KE,NG")],
        },
    ];
    for who in [Who::Anonymous, Who::KeMember, Who::NgMember, Who::Admin] {
        let token = w.token(who);
        for ask in &asks {
            let path = ask.path(None, None);
            let facets = facets_of(app, token, &path).await;
            for facet in FACETS {
                let walked = walk_items(app, token, &ask.path(Some(facet), None), 100).await;
                let want = count_values(&walked, facet);
                if facets[facet] != want {
                    failures.push(format!(
                        "{who:?} {path} facet {facet}: counted {:?}, walked {want:?}",
                        facets[facet]
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
});

api_test!(
    a_facet_keeps_counting_its_other_values_under_its_own_filter,
    |backend| {
        let w = facet_world(backend).await;
        let app = &w.app;
        let mut failures: Vec<String> = Vec::new();
        for who in [Who::Anonymous, Who::NgMember, Who::Admin] {
            let token = w.token(who);
            let ask = Ask {
                collection: "resources",
                q: Some("harvest"),
                filters: vec![("language", "sw")],
            };
            let path = ask.path(None, None);
            let facets = facets_of(app, token, &path).await;
            let languages = &facets["language"];
            assert!(
                languages.keys().any(|l| l != "sw"),
                "{who:?}: other languages listed: {languages:?}"
            );
            assert!(languages.contains_key("sw"), "{languages:?}");
            // Each language counts what choosing it instead would list.
            for (lang, count) in languages {
                let walked =
                    walk_items(app, token, &ask.path(None, Some(("language", lang))), 100).await;
                if i64::try_from(walked.len()).unwrap() != *count {
                    failures.push(format!(
                        "{who:?}: language {lang} counts {count}, listing it gives {}",
                        walked.len()
                    ));
                }
            }
            // The other facets count only the `sw` items.
            let sw_items = walk_items(app, token, &path, 100).await;
            let kinds: i64 = facets["kind"].values().sum();
            if kinds != i64::try_from(sw_items.len()).unwrap() {
                failures.push(format!(
                    "{who:?}: kinds sum to {kinds}, the sw list has {}",
                    sw_items.len()
                ));
            }
            for facet in ["kind", "country", "tag", "institution", "license"] {
                let want = count_values(&sw_items, facet);
                if facets[facet] != want {
                    failures.push(format!(
                        "{who:?}: {facet} under language=sw: {:?}, walked {want:?}",
                        facets[facet]
                    ));
                }
            }
        }
        // The values are spelled as everywhere else: countries upper case,
        // languages in canonical case.
        let facets = facets_of(app, w.token(Who::Admin), "/api/v1/resources?q=harvest").await;
        assert!(facets["country"].contains_key("KE"), "{facets:?}");
        assert!(facets["language"].contains_key("sw-KE"), "{facets:?}");
        assert!(facets["tag"].contains_key("maize"), "{facets:?}");
        // A hidden resource's values appear for no one.
        for who in [
            Who::Anonymous,
            Who::Stranger,
            Who::KeMember,
            Who::NgMember,
            Who::Admin,
        ] {
            let facets = facets_of(app, w.token(who), "/api/v1/resources?q=harvest").await;
            for (facet, hidden) in [
                ("tag", "secretdraft"),
                ("tag", "archivedtag"),
                ("language", "xh"),
                ("language", "af"),
                ("country", "ZA"),
                ("country", "NA"),
                ("license", "0BSD"),
            ] {
                if facets[facet].contains_key(hidden) {
                    failures.push(format!("{who:?}: {facet} counts {hidden}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
);

// ----- hidden resources and type-ahead ------------------------------------------------------

/// `/resources/suggest?q=…` as `token`: the items.
async fn suggest(app: &TestApp, token: Option<&str>, q: &str, extra: &str) -> Vec<Value> {
    let page = get_ok(
        app,
        token,
        &format!("/api/v1/resources/suggest?q={}{extra}", enc(q)),
    )
    .await;
    let items = page["items"].as_array().expect("items").clone();
    assert!(items.len() <= 10, "{page}");
    items
}

/// `(type, text)` of suggestions, with the tags' counts.
fn lines(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i["type"].as_str().unwrap() {
            "tag" => format!("tag {} ({})", i["text"].as_str().unwrap(), i["count"]),
            _ => format!("title {}", i["text"].as_str().unwrap()),
        })
        .collect()
}

api_test!(hidden_resources_are_never_counted_or_suggested, |backend| {
    let app = start(backend).await;
    let root = admin(&app, "root@kujenga.test").await;
    let owner = app.signup("owner@example.org").await;
    let member = app.signup("member@example.org").await;
    let stranger = app.signup("stranger@example.org").await;
    for slug in ["zebu-lab", "faded-lab"] {
        create(&app, &owner.access, institution(slug, "KE")).await;
        verify(&app, &root.access, slug).await;
    }
    join(&app, &owner.access, "zebu-lab", &member, "member").await;
    let o = owner.access.as_str();
    published(
        &app,
        o,
        DATASETS,
        "zebu-lab",
        "Zebu cattle",
        json!({"tags": ["zebu"]}),
    )
    .await;
    published(
        &app,
        o,
        DATASETS,
        "zebu-lab",
        "Zebu milk",
        json!({"tags": ["zebu", "zebra"], "visibility": "institution"}),
    )
    .await;
    draft(
        &app,
        o,
        DATASETS,
        "zebu-lab",
        "Zebu herding secret",
        json!({"tags": ["zebusecret"]}),
    )
    .await;
    published(
        &app,
        o,
        COURSES,
        "faded-lab",
        "Zebu faded",
        json!({"tags": ["zebu"]}),
    )
    .await;
    // Renamed by its owner, `faded-lab` goes back for verification: its
    // public resources are for its members only.
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/institutions/faded-lab",
        Some(o),
        Some(json!({"name": "Faded, renamed"})),
    )
    .await;
    assert_eq!(res.status(), 200);

    let public = vec!["tag zebu (1)".to_string(), "title Zebu cattle".to_string()];
    for token in [None, Some(stranger.access.as_str())] {
        assert_eq!(lines(&suggest(&app, token, "zeb", "").await), public);
        assert_eq!(
            lines(&suggest(&app, token, "zebus", "").await),
            Vec::<String>::new()
        );
        assert_eq!(
            lines(&suggest(&app, token, "zebu h", "").await),
            Vec::<String>::new()
        );
        assert_eq!(
            lines(&suggest(&app, token, "secret", "").await),
            Vec::<String>::new()
        );
        assert_eq!(
            lines(&suggest(&app, token, "faded", "").await),
            Vec::<String>::new()
        );
        let facets = facets_of(&app, token, "/api/v1/resources?q=zebu").await;
        assert_eq!(facets["tag"], BTreeMap::from([("zebu".to_string(), 1)]));
        assert_eq!(
            facets["institution"],
            BTreeMap::from([("zebu-lab".to_string(), 1)])
        );
        // Only the tag facet (which leaves its own filter out) counts anything.
        let facets = facets_of(&app, token, "/api/v1/resources?tag=zebusecret").await;
        for (name, values) in &facets {
            if name == "tag" {
                assert_eq!(*values, BTreeMap::from([("zebu".to_string(), 1)]));
            } else {
                assert!(values.is_empty(), "{name}: {values:?}");
            }
        }
        let page = get_ok(
            &app,
            token,
            &format!("/api/v1/resources?q={}", enc("zebusecrat")),
        )
        .await;
        assert!(
            page.get("did_you_mean").is_none_or(Value::is_null),
            "{page}"
        );
    }
    // A member of zebu-lab: its institution's resource too, never the draft.
    let m = Some(member.access.as_str());
    let mut got = lines(&suggest(&app, m, "zeb", "").await);
    got[2..].sort();
    assert_eq!(
        got,
        [
            "tag zebu (2)",
            "tag zebra (1)",
            "title Zebu cattle",
            "title Zebu milk"
        ]
    );
    assert_eq!(
        lines(&suggest(&app, m, "zebus", "").await),
        Vec::<String>::new()
    );
    let facets = facets_of(&app, m, "/api/v1/resources?q=zebu").await;
    assert_eq!(
        facets["tag"],
        BTreeMap::from([("zebu".to_string(), 2), ("zebra".to_string(), 1)])
    );
    // The owner (of both) and an admin: the unverified institution's too,
    // still never the draft in the published list.
    for token in [o, root.access.as_str()] {
        let got = lines(&suggest(&app, Some(token), "zeb", "").await);
        assert_eq!(got[..2], ["tag zebu (3)", "tag zebra (1)"], "{got:?}");
        let mut titles = got[2..].to_vec();
        titles.sort();
        assert_eq!(
            titles,
            ["title Zebu cattle", "title Zebu faded", "title Zebu milk"]
        );
        let facets = facets_of(&app, Some(token), "/api/v1/resources?q=zebu").await;
        assert_eq!(
            facets["tag"],
            BTreeMap::from([("zebu".to_string(), 3), ("zebra".to_string(), 1)])
        );
        assert_eq!(
            facets["institution"],
            BTreeMap::from([("zebu-lab".to_string(), 2), ("faded-lab".to_string(), 1)])
        );
    }
    // Among the drafts, for the people who edit them, the draft counts.
    let facets = facets_of(&app, Some(o), "/api/v1/resources?status=draft&q=zebu").await;
    assert_eq!(
        facets["tag"],
        BTreeMap::from([("zebusecret".to_string(), 1)])
    );
    let facets = facets_of(&app, m, "/api/v1/resources?status=draft&q=zebu").await;
    assert!(facets.values().all(BTreeMap::is_empty), "{facets:?}");
});

api_test!(
    suggest_answers_tags_then_titles_the_caller_may_see,
    |backend| {
        let app = start(backend).await;
        let root = admin(&app, "root@kujenga.test").await;
        let owner = app.signup("owner@example.org").await;
        create(&app, &owner.access, institution("andes-lab", "PE")).await;
        verify(&app, &root.access, "andes-lab").await;
        let o = owner.access.as_str();
        let mut ids = BTreeMap::new();
        for (label, coll, title, tags) in [
            (
                "corpus",
                DATASETS,
                "Quechua speech corpus",
                &["quechua", "asr"][..],
            ),
            ("grammar-course", COURSES, "Quechua grammar", &["quechua"]),
            ("songs", COURSES, "Aymara and Quechua songs", &["music"]),
            ("andes", DATASETS, "Highland data", &["quechua-asr"]),
            ("quest", MODEL_CARDS, "Quest for data", &[]),
            ("grammar-dataset", DATASETS, "Quechua grammar", &["quechua"]),
            ("yoruba", COURSES, "Yorùbá tales", &[]),
        ] {
            let id = published(&app, o, coll, "andes-lab", title, json!({"tags": tags})).await;
            ids.insert(label, id);
        }
        let items = suggest(&app, None, "quec", "").await;
        assert_eq!(
            lines(&items),
            [
                "tag quechua (3)",
                "tag quechua-asr (1)",
                // Title and tag (12), newest first; one line per title.
                "title Quechua grammar",
                "title Quechua speech corpus",
                // Title (8), then tags (4).
                "title Aymara and Quechua songs",
                "title Highland data",
            ]
        );
        // A tiny payload: a tag has its count, a title its id and kind.
        assert_eq!(
            items[0],
            json!({"type": "tag", "text": "quechua", "count": 3})
        );
        assert_eq!(
            items[2],
            json!({"type": "title", "text": "Quechua grammar", "id": ids["grammar-dataset"], "kind": "dataset"})
        );
        assert_eq!(
            items[4],
            json!({"type": "title", "text": "Aymara and Quechua songs", "id": ids["songs"], "kind": "course"})
        );
        // Several words: the last a prefix, no tags.
        assert_eq!(
            lines(&suggest(&app, None, "quechua sp", "").await),
            ["title Quechua speech corpus"]
        );
        // A finished word (a space after it) is a whole word.
        assert_eq!(
            lines(&suggest(&app, None, "aymara ", "").await),
            ["title Aymara and Quechua songs"]
        );
        // One kind.
        assert_eq!(
            lines(&suggest(&app, None, "quec", "&kind=dataset").await),
            [
                "tag quechua (2)",
                "tag quechua-asr (1)",
                "title Quechua grammar",
                "title Quechua speech corpus",
                "title Highland data",
            ]
        );
        // Accents and case.
        for q in ["yoru", "YORÙ", "Yorùbá"] {
            assert_eq!(
                lines(&suggest(&app, None, q, "").await),
                ["title Yorùbá tales"],
                "{q}"
            );
        }
        // Too short, or nothing like it.
        assert_eq!(
            lines(&suggest(&app, None, "q", "").await),
            Vec::<String>::new()
        );
        assert_eq!(
            lines(&suggest(&app, None, "", "").await),
            Vec::<String>::new()
        );
        assert_eq!(
            lines(&suggest(&app, None, "zzz", "").await),
            Vec::<String>::new()
        );
        // At most ten.
        for i in 0..12 {
            published(
                &app,
                o,
                DATASETS,
                "andes-lab",
                &format!("Zanzibar study {i}"),
                json!({"tags": ["zanzibar"]}),
            )
            .await;
        }
        let items = suggest(&app, None, "zanz", "").await;
        assert_eq!(items.len(), 10, "{items:?}");
        assert_eq!(
            items[0],
            json!({"type": "tag", "text": "zanzibar", "count": 12})
        );
        assert!(items[1..].iter().all(|i| i["type"] == "title"), "{items:?}");
    }
);
