//! A dataset's terms as an ODRL 2.2 policy (an `odrl:Offer` in JSON-LD):
//! who may use its data (the access level) and where it may go (the
//! transfer policy), saying exactly what `domain::policy` (`Download`)
//! and `domain::transfer::check` enforce when a file link is issued.
//!
//! The JSON-LD carries its own context (no remote document to fetch): the
//! ODRL vocabulary as `@vocab`, ODRL's own term names. How the terms read:
//!
//! - a permission to `use` the dataset for the owning institution's own
//!   members, whatever the terms (their use never leaves the owner);
//! - a permission to `use` it for everyone else: anyone (`open`), or the
//!   party collection of signed-in users with a verified email address
//!   (`registered`, `restricted`); under `restricted` with the duty to
//!   obtain the owner's consent (an approved access request) and a
//!   `purpose` constraint whose value is the purpose stated in that
//!   request; under `partners_only` the assignee is the collection of
//!   institutions in an active partnership with the owner (a request made
//!   on behalf of one of them);
//! - `spatial` constraints for where the data may go: `isAnyOf` the origin
//!   country and the allowed countries (`allowed_countries`), `eq` the
//!   origin country (`in_country`), with the matching prohibitions
//!   (`isNoneOf`, `neq`). The country that counts is the institution's a
//!   request is made on behalf of, else the requester's own; a requester
//!   without one satisfies no spatial constraint;
//! - `conflict: perm`: the members' permission wins over the prohibitions.

use oxrdf::{BlankNode, NamedNode};
use serde_json::{Value, json};

use crate::domain::resource::{AccessLevel, TransferPolicy};
use crate::standards::rdf::Builder;
use crate::standards::vocab::country_iri;

/// `application/ld+json` — the media type the policy is served as.
pub const MEDIA_TYPE: &str = "application/ld+json";

/// What the policy is built from.
#[derive(Debug, Clone)]
pub struct Terms<'a> {
    /// The API's public base URL (no trailing slash).
    pub api: &'a str,
    pub dataset_id: &'a str,
    pub institution_slug: &'a str,
    pub institution_name: &'a str,
    pub access_level: AccessLevel,
    pub transfer_policy: TransferPolicy,
    /// ISO 3166-1 alpha-2 codes.
    pub allowed_countries: &'a [String],
    /// The dataset's origin country: its own, else its institution's.
    pub origin_country: &'a str,
}

impl Terms<'_> {
    pub fn dataset_iri(&self) -> String {
        format!("{}/api/v1/datasets/{}", self.api, self.dataset_id)
    }

    pub fn policy_iri(&self) -> String {
        format!("{}/policy", self.dataset_iri())
    }

    pub fn institution_iri(&self) -> String {
        format!("{}/api/v1/institutions/{}", self.api, self.institution_slug)
    }
}

/// The inline JSON-LD context: ODRL's vocabulary and term names.
pub fn context() -> Value {
    json!({
        "@vocab": "http://www.w3.org/ns/odrl/2/",
        "odrl": "http://www.w3.org/ns/odrl/2/",
        "dct": "http://purl.org/dc/terms/",
        "uid": "@id",
        "type": "@type",
        "target": {"@type": "@id"},
        "assigner": {"@type": "@id"},
        "assignee": {"@type": "@id"},
        "consentingParty": {"@type": "@id"},
        "rightOperandReference": {"@type": "@id"},
        "action": {"@type": "@vocab"},
        "leftOperand": {"@type": "@vocab"},
        "operator": {"@type": "@vocab"},
        "conflict": {"@type": "@vocab"},
    })
}

/// The countries (as EU authority IRIs) where the data may be used, when
/// the transfer policy limits them.
fn places(t: &Terms<'_>) -> Option<Vec<Value>> {
    let codes: Vec<&str> = match t.transfer_policy {
        TransferPolicy::Unrestricted | TransferPolicy::PartnersOnly => return None,
        TransferPolicy::InCountry => vec![t.origin_country],
        TransferPolicy::AllowedCountries => {
            let mut v = vec![t.origin_country];
            for c in t.allowed_countries {
                if !v.contains(&c.as_str()) {
                    v.push(c);
                }
            }
            v
        }
    };
    Some(
        codes
            .into_iter()
            .filter_map(country_iri)
            .map(|iri| json!({ "@id": iri }))
            .collect(),
    )
}

/// The policy, as served at `GET /datasets/{id}/policy`.
pub fn policy(t: &Terms<'_>) -> Value {
    let dataset = t.dataset_iri();
    let owner = t.institution_iri();
    let rule = |extra: Value| {
        let mut r = json!({"action": "use", "target": dataset, "assigner": owner});
        if let (Value::Object(r), Value::Object(extra)) = (&mut r, extra) {
            r.extend(extra);
        }
        r
    };
    let mut permissions = vec![rule(json!({
        "assignee": {
            "uid": format!("{owner}#members"),
            "type": "PartyCollection",
            "dct:description": "The members of the institution that owns the dataset.",
        },
    }))];

    let mut others = serde_json::Map::new();
    let assignee = match (t.transfer_policy, t.access_level) {
        (TransferPolicy::PartnersOnly, _) => Some(json!({
            "uid": format!("{owner}#partners"),
            "type": "PartyCollection",
            "dct:description": "Institutions in an active partnership with the owner: the request is made on behalf of one of them.",
        })),
        (_, AccessLevel::Open) => None,
        (_, AccessLevel::Registered | AccessLevel::Restricted) => Some(json!({
            "uid": format!("{}/api/v1/users#verified", t.api),
            "type": "PartyCollection",
            "dct:description": "Signed-in users with a verified email address.",
        })),
    };
    if let Some(a) = assignee {
        others.insert("assignee".into(), a);
    }
    let mut constraints = Vec::new();
    let places = places(t);
    match (t.transfer_policy, &places) {
        (TransferPolicy::InCountry, Some(p)) => constraints.push(json!({
            "leftOperand": "spatial", "operator": "eq",
            "rightOperand": p.first().cloned().unwrap_or(Value::Null),
        })),
        (TransferPolicy::AllowedCountries, Some(p)) => constraints.push(json!({
            "leftOperand": "spatial", "operator": "isAnyOf", "rightOperand": p,
        })),
        _ => {}
    }
    if t.access_level == AccessLevel::Restricted {
        constraints.push(json!({
            "leftOperand": "purpose", "operator": "eq",
            "rightOperandReference": format!("{dataset}/access-requests"),
            "dct:description": "The purpose stated in the access request the owner approved.",
        }));
        others.insert(
            "duty".into(),
            json!([{
                "action": "obtainConsent",
                "consentingParty": owner,
                "dct:description": "An access request approved by the owner, in force (not expired or revoked).",
            }]),
        );
    }
    if !constraints.is_empty() {
        others.insert("constraint".into(), Value::Array(constraints));
    }
    permissions.push(rule(Value::Object(others)));

    let mut prohibitions = Vec::new();
    match (t.transfer_policy, places) {
        (TransferPolicy::InCountry, Some(p)) => prohibitions.push(rule(json!({
            "constraint": [{
                "leftOperand": "spatial", "operator": "neq",
                "rightOperand": p.first().cloned().unwrap_or(Value::Null),
            }],
        }))),
        (TransferPolicy::AllowedCountries, Some(p)) => prohibitions.push(rule(json!({
            "constraint": [{"leftOperand": "spatial", "operator": "isNoneOf", "rightOperand": p}],
        }))),
        _ => {}
    }

    let mut doc = json!({
        "@context": context(),
        "uid": t.policy_iri(),
        "type": "Offer",
        "conflict": "perm",
        "target": dataset,
        "assigner": {"uid": owner, "type": "Party", "dct:title": t.institution_name},
        "dct:description": description(t),
        "permission": permissions,
    });
    if !prohibitions.is_empty() {
        doc["prohibition"] = Value::Array(prohibitions);
    }
    doc
}

/// The terms in plain words.
fn description(t: &Terms<'_>) -> String {
    let who = match t.access_level {
        AccessLevel::Open => "Anyone may download the files",
        AccessLevel::Registered => {
            "Signed-in users with a verified email address may download the files"
        }
        AccessLevel::Restricted => {
            "Signed-in users with a verified email address may download the files under an access request the owner approved, for the purpose it states"
        }
    };
    let place = match t.transfer_policy {
        TransferPolicy::Unrestricted => "wherever they are.".to_string(),
        TransferPolicy::AllowedCountries => {
            let mut list = vec![t.origin_country.to_string()];
            list.extend(
                t.allowed_countries
                    .iter()
                    .filter(|c| *c != t.origin_country)
                    .cloned(),
            );
            format!(
                "only in these countries: {} (the country of the institution a request is made on behalf of, else the requester's own).",
                list.join(", ")
            )
        }
        TransferPolicy::PartnersOnly => {
            "only on behalf of an institution in an active partnership with the owner.".to_string()
        }
        TransferPolicy::InCountry => format!(
            "only in {} (the country of the institution a request is made on behalf of, else the requester's own).",
            t.origin_country
        ),
    };
    format!("{who}, {place} The owning institution's own members always may.")
}

/// The same policy as [`policy`], written straight into a graph (the DCAT
/// exports): the triples a JSON-LD processor reads from [`policy`]'s
/// document, without parsing it back for each dataset of a catalogue page
/// (that was ~40% of a page's rendering). A test keeps the two equal for
/// every access level and transfer policy.
pub fn policy_into(b: &mut Builder, t: &Terms<'_>) {
    let dataset = b.iri(&t.dataset_iri());
    let owner_iri = t.institution_iri();
    let owner = b.iri(&owner_iri);
    let policy = b.iri(&t.policy_iri());
    let perm = b.term("odrl:perm");
    b.typed(policy.clone(), &["odrl:Offer"])
        .add(policy.clone(), "odrl:conflict", perm)
        .add(policy.clone(), "odrl:target", dataset.clone())
        .add(policy.clone(), "odrl:assigner", owner.clone())
        .typed(owner.clone(), &["odrl:Party"])
        .text(owner.clone(), "dct:title", t.institution_name)
        .text(policy.clone(), "dct:description", &description(t));

    // A rule: `use` of the dataset, assigned by the owner.
    let rule = |b: &mut Builder, on: &str| {
        let r = BlankNode::default();
        let action = b.term("odrl:use");
        b.add(policy.clone(), on, r.clone())
            .add(r.clone(), "odrl:action", action)
            .add(r.clone(), "odrl:target", dataset.clone())
            .add(r.clone(), "odrl:assigner", owner.clone());
        r
    };
    let party = |b: &mut Builder, r: &BlankNode, uid: &str, what: &str| {
        let p = b.iri(uid);
        b.add(r.clone(), "odrl:assignee", p.clone())
            .typed(p.clone(), &["odrl:PartyCollection"])
            .text(p, "dct:description", what);
    };
    let members = rule(b, "odrl:permission");
    party(
        b,
        &members,
        &format!("{owner_iri}#members"),
        "The members of the institution that owns the dataset.",
    );

    let others = rule(b, "odrl:permission");
    match (t.transfer_policy, t.access_level) {
        (TransferPolicy::PartnersOnly, _) => party(
            b,
            &others,
            &format!("{owner_iri}#partners"),
            "Institutions in an active partnership with the owner: the request is made on behalf of one of them.",
        ),
        (_, AccessLevel::Open) => {}
        (_, AccessLevel::Registered | AccessLevel::Restricted) => party(
            b,
            &others,
            &format!("{}/api/v1/users#verified", t.api),
            "Signed-in users with a verified email address.",
        ),
    }
    let places: Option<Vec<NamedNode>> = places(t).map(|p| {
        p.iter()
            .filter_map(|v| v["@id"].as_str())
            .map(|i| b.iri(i))
            .collect()
    });
    let spatial = |b: &mut Builder, on: &BlankNode, operator: &str, places: &[NamedNode]| {
        let c = BlankNode::default();
        let (left, op) = (b.term("odrl:spatial"), b.term(operator));
        b.add(on.clone(), "odrl:constraint", c.clone())
            .add(c.clone(), "odrl:leftOperand", left)
            .add(c.clone(), "odrl:operator", op);
        for p in places {
            b.add(c.clone(), "odrl:rightOperand", p.clone());
        }
    };
    let first =
        |p: &Option<Vec<NamedNode>>| p.iter().flatten().take(1).cloned().collect::<Vec<_>>();
    match t.transfer_policy {
        TransferPolicy::InCountry if places.is_some() => {
            spatial(b, &others, "odrl:eq", &first(&places));
        }
        TransferPolicy::AllowedCountries if places.is_some() => {
            spatial(
                b,
                &others,
                "odrl:isAnyOf",
                places.as_deref().unwrap_or_default(),
            );
        }
        _ => {}
    }
    if t.access_level == AccessLevel::Restricted {
        let c = BlankNode::default();
        let (left, op) = (b.term("odrl:purpose"), b.term("odrl:eq"));
        let requests = b.iri(&format!("{}/access-requests", t.dataset_iri()));
        b.add(others.clone(), "odrl:constraint", c.clone())
            .add(c.clone(), "odrl:leftOperand", left)
            .add(c.clone(), "odrl:operator", op)
            .add(c.clone(), "odrl:rightOperandReference", requests)
            .text(
                c,
                "dct:description",
                "The purpose stated in the access request the owner approved.",
            );
        let d = BlankNode::default();
        let consent = b.term("odrl:obtainConsent");
        b.add(others.clone(), "odrl:duty", d.clone())
            .add(d.clone(), "odrl:action", consent)
            .add(d.clone(), "odrl:consentingParty", owner.clone())
            .text(
                d,
                "dct:description",
                "An access request approved by the owner, in force (not expired or revoked).",
            );
    }
    match t.transfer_policy {
        TransferPolicy::InCountry if places.is_some() => {
            let p = rule(b, "odrl:prohibition");
            spatial(b, &p, "odrl:neq", &first(&places));
        }
        TransferPolicy::AllowedCountries if places.is_some() => {
            let p = rule(b, "odrl:prohibition");
            spatial(
                b,
                &p,
                "odrl:isNoneOf",
                places.as_deref().unwrap_or_default(),
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod written_directly {
    use oxrdf::dataset::CanonicalizationAlgorithm;
    use oxrdf::{Graph, Triple};

    use super::*;

    fn read_back(doc: &Value) -> Graph {
        let mut g = Graph::new();
        for quad in oxjsonld::JsonLdParser::new().for_slice(doc.to_string().as_bytes()) {
            let q = quad.expect("the policy's JSON-LD reads back");
            g.insert(&Triple::new(q.subject, q.predicate, q.object));
        }
        g
    }

    #[test]
    fn the_triples_written_are_the_served_json_ld_read_back() {
        let allowed = vec!["KE".to_string(), "UG".to_string(), "TZ".to_string()];
        let mut compared = 0;
        for access_level in [
            AccessLevel::Open,
            AccessLevel::Registered,
            AccessLevel::Restricted,
        ] {
            for transfer_policy in [
                TransferPolicy::Unrestricted,
                TransferPolicy::AllowedCountries,
                TransferPolicy::PartnersOnly,
                TransferPolicy::InCountry,
            ] {
                // "ZZ": an origin with no country IRI (no place to name).
                for origin_country in ["UG", "ZZ"] {
                    let t = Terms {
                        api: "https://kujenga.example",
                        dataset_id: "0193367f-5f40-7abd-8fc2-47598fda1a08",
                        institution_slug: "makerere-ai",
                        institution_name: "Makerere AI Lab",
                        access_level,
                        transfer_policy,
                        allowed_countries: &allowed,
                        origin_country,
                    };
                    let mut served = read_back(&policy(&t));
                    let mut b = Builder::new();
                    policy_into(&mut b, &t);
                    let mut written = b.finish().expect("valid IRIs").to_graph();
                    assert!(written.len() >= 12, "{written}");
                    served.canonicalize(CanonicalizationAlgorithm::Unstable);
                    written.canonicalize(CanonicalizationAlgorithm::Unstable);
                    assert_eq!(
                        served, written,
                        "{access_level:?} {transfer_policy:?} {origin_country}:\nserved\n{served}\nwritten\n{written}"
                    );
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 24);
    }
}
