//! DCAT-AP 3.0.1 descriptions of the public catalogue: a `dcat:Catalog`
//! page (with hydra paging, as ckanext-dcat harvesters walk it) and each
//! dataset as a `dcat:Dataset`, with a `dcat:Distribution` per file and
//! its ODRL policy (`odrl:hasPolicy`).
//!
//! Only datasets are described: model cards and courses are not data
//! (DCAT-AP's harvesters import `dcat:Dataset`s; their own exports are
//! schema.org, OAI-PMH and Hugging Face cards). A distribution's
//! `dcat:accessURL` is the platform's file-link endpoint (which checks the
//! access level and the transfer policy every time), never the file's URL.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use oxrdf::{BlankNode, NamedNode, NamedOrBlankNode, Term};

use crate::app::catalog::Entry;
use crate::standards::odrl;
use crate::standards::rdf::{Builder, Triples};
use crate::standards::vocab;

/// Who publishes the catalogue, and where.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// The API's public base URL (no trailing slash).
    pub api: &'a str,
    /// The platform's name.
    pub name: &'a str,
}

impl Site<'_> {
    pub fn catalog_iri(&self) -> String {
        format!("{}/api/v1/catalog", self.api)
    }
}

/// Where a page sits in the catalogue.
#[derive(Debug, Clone)]
pub struct Paging {
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    /// `modified_since` as asked (RFC 3339, UTC), kept in the page links.
    pub modified_since: Option<DateTime<Utc>>,
    /// The id of this page's last dataset: `hydra:next` carries it
    /// (`after=`), so a harvester following the links reads each next page
    /// from where this one ended instead of skipping all the pages before.
    pub last_id: Option<String>,
}

impl Paging {
    pub fn last_page(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }

    fn url(&self, site: &Site<'_>, page: i64) -> String {
        let mut url = format!("{}?page={page}", site.catalog_iri());
        if let Some(t) = self.modified_since {
            url.push_str("&modified_since=");
            url.push_str(&rfc3339(t));
        }
        url
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn date_time(t: NaiveDateTime) -> String {
    rfc3339(t.and_utc())
}

/// The catalogue page: the catalogue, its datasets and the paging.
pub fn catalog(site: &Site<'_>, paging: &Paging, entries: &[Entry]) -> Result<Triples, String> {
    let mut b = Builder::new();
    let c = b.iri(&site.catalog_iri());
    b.typed(c.clone(), &["dcat:Catalog"])
        .text(c.clone(), "dct:title", site.name)
        .text(
            c.clone(),
            "dct:description",
            &format!(
                "The public, published datasets of {}: their descriptions, files and terms of use.",
                site.name
            ),
        );
    let publisher = b.iri(&format!("{}#publisher", site.catalog_iri()));
    b.typed(publisher.clone(), &["foaf:Agent", "foaf:Organization"])
        .text(publisher.clone(), "foaf:name", site.name)
        .add(c.clone(), "dct:publisher", publisher);
    let themes = b.iri(vocab::DATA_THEMES);
    b.typed(themes.clone(), &["skos:ConceptScheme"])
        .text(themes.clone(), "dct:title", "Data theme")
        .add(c.clone(), "dcat:themeTaxonomy", themes);
    for e in entries {
        let d = dataset_into(&mut b, site, e);
        b.add(c.clone(), "dcat:dataset", d);
    }
    // Hydra paging: both the current terms (`first`, `next`…) and the
    // older ones ckanext-dcat reads (`firstPage`, `nextPage`…).
    let view = b.iri(&paging.url(site, paging.page));
    b.typed(
        view.clone(),
        &["hydra:PagedCollection", "hydra:PartialCollectionView"],
    )
    .typed_literal(
        view.clone(),
        "hydra:totalItems",
        &paging.total.to_string(),
        "xsd:integer",
    )
    .typed_literal(
        view.clone(),
        "hydra:itemsPerPage",
        &paging.per_page.to_string(),
        "xsd:integer",
    );
    let last = paging.last_page();
    let link = |b: &mut Builder, terms: [&str; 2], page: i64| {
        let target = b.iri(&paging.url(site, page));
        for t in terms {
            b.add(view.clone(), t, target.clone());
        }
    };
    link(&mut b, ["hydra:first", "hydra:firstPage"], 1);
    link(&mut b, ["hydra:last", "hydra:lastPage"], last);
    if paging.page < last {
        let mut next = paging.url(site, paging.page + 1);
        if let Some(id) = &paging.last_id {
            next.push_str("&after=");
            next.push_str(id);
        }
        let target = b.iri(&next);
        for t in ["hydra:next", "hydra:nextPage"] {
            b.add(view.clone(), t, target.clone());
        }
    }
    if paging.page > 1 {
        link(
            &mut b,
            ["hydra:previous", "hydra:previousPage"],
            (paging.page - 1).min(last),
        );
    }
    let view_of = b.iri(&site.catalog_iri());
    b.add(view_of, "hydra:view", view);
    b.finish()
}

/// One dataset alone.
pub fn dataset(site: &Site<'_>, entry: &Entry) -> Result<Triples, String> {
    let mut b = Builder::new();
    dataset_into(&mut b, site, entry);
    b.finish()
}

/// The ODRL policy's JSON-LD for `entry`.
pub fn policy_terms<'a>(site: &Site<'a>, entry: &'a Entry) -> odrl::Terms<'a> {
    odrl::Terms {
        api: site.api,
        dataset_id: &entry.loaded.row.id,
        institution_slug: &entry.loaded.institution_slug,
        institution_name: &entry.loaded.institution_name,
        access_level: entry.fields.access_level,
        transfer_policy: entry.fields.transfer_policy,
        allowed_countries: &entry.fields.allowed_countries,
        origin_country: entry.origin_country(),
    }
}

fn split(list: &str) -> Vec<String> {
    // Lists are stored as JSON arrays of strings.
    serde_json::from_str(list).unwrap_or_default()
}

fn location(b: &mut Builder, code: &str) -> Option<NamedNode> {
    let iri = vocab::country_iri(code)?;
    let n = b.iri(&iri);
    b.typed(n.clone(), &["dct:Location"])
        .text(n.clone(), "skos:notation", code);
    Some(n)
}

/// Adds the dataset's triples; its IRI.
fn dataset_into(b: &mut Builder, site: &Site<'_>, e: &Entry) -> NamedNode {
    let row = &e.loaded.row;
    let terms = policy_terms(site, e);
    let d = b.iri(&terms.dataset_iri());
    b.typed(d.clone(), &["dcat:Dataset"])
        .text(d.clone(), "dct:identifier", &row.id)
        .text(d.clone(), "dct:title", &row.title);
    let description = [&row.description, &row.summary, &row.title]
        .into_iter()
        .find(|t| !t.trim().is_empty())
        .map_or("", |t| t.as_str());
    b.text(d.clone(), "dct:description", description);
    b.text(d.clone(), "dcat:version", &row.version.to_string());
    if let Some(t) = row.published_at {
        b.typed_literal(d.clone(), "dct:issued", &date_time(t), "xsd:dateTime");
    }
    b.typed_literal(
        d.clone(),
        "dct:modified",
        &date_time(row.updated_at),
        "xsd:dateTime",
    );
    b.add(d.clone(), "dcat:landingPage", d.clone());
    b.typed(d.clone(), &["foaf:Document"]);

    // The publisher: the owning institution, with its country.
    let owner = b.iri(&terms.institution_iri());
    b.typed(owner.clone(), &["foaf:Agent", "foaf:Organization"])
        .text(owner.clone(), "foaf:name", &e.loaded.institution_name)
        .add(d.clone(), "dct:publisher", owner.clone());
    if let Some(country) = location(b, &e.loaded.institution_country) {
        b.add(owner.clone(), "dct:spatial", country);
    }
    let contact = b.iri(&format!("{}#contact", terms.institution_iri()));
    b.typed(contact.clone(), &["vcard:Kind", "vcard:Organization"])
        .text(contact.clone(), "vcard:fn", &e.loaded.institution_name)
        .add(contact.clone(), "vcard:hasURL", owner)
        .add(d.clone(), "dcat:contactPoint", contact);

    let tags = split(&row.tags);
    for tag in &tags {
        b.text(d.clone(), "dcat:keyword", tag);
    }
    for (iri, label) in vocab::theme_iris(&tags) {
        let theme = b.iri(&iri);
        let scheme = b.iri(vocab::DATA_THEMES);
        b.typed(theme.clone(), &["skos:Concept"])
            .add(theme.clone(), "skos:inScheme", scheme)
            .text(theme.clone(), "skos:prefLabel", label)
            .add(d.clone(), "dcat:theme", theme);
    }
    for tag in split(&row.languages) {
        let lang: NamedOrBlankNode = match vocab::language_iri(&tag) {
            Some(iri) => b.iri(&iri).into(),
            None => BlankNode::default().into(),
        };
        b.typed(lang.clone(), &["dct:LinguisticSystem"])
            .text(lang.clone(), "dct:identifier", &tag)
            .add(d.clone(), "dct:language", Term::from(lang));
    }
    for code in split(&row.countries) {
        if let Some(place) = location(b, &code) {
            b.add(d.clone(), "dct:spatial", place);
        }
    }
    let licence = row.license.as_deref().map(|id| {
        let l = b.iri(&vocab::licence_iri(id));
        b.typed(l.clone(), &["dct:LicenseDocument"])
            .text(l.clone(), "dct:identifier", id);
        l
    });
    if let Some(l) = &licence {
        b.add(d.clone(), "dct:license", l.clone());
    }
    let rights = b.iri(&vocab::access_rights_iri(e.fields.access_level));
    b.typed(rights.clone(), &["dct:RightsStatement"]).add(
        d.clone(),
        "dct:accessRights",
        rights.clone(),
    );

    // The policy: the triples of the JSON-LD served alone.
    let policy = b.iri(&terms.policy_iri());
    odrl::policy_into(b, &terms);
    b.typed(policy.clone(), &["odrl:Policy"])
        .add(d.clone(), "odrl:hasPolicy", policy.clone());

    for f in &e.files {
        let dist = b.iri(&format!("{}/files#{}", terms.dataset_iri(), f.id));
        let access = b.iri(&format!("{}/files/{}/link", terms.dataset_iri(), f.id));
        b.typed(dist.clone(), &["dcat:Distribution"])
            .text(dist.clone(), "dct:identifier", &f.id)
            .text(dist.clone(), "dct:title", &f.name)
            .add(dist.clone(), "dcat:accessURL", access)
            .typed_literal(
                dist.clone(),
                "dcat:byteSize",
                &f.size_bytes.max(0).to_string(),
                "xsd:nonNegativeInteger",
            )
            .typed_literal(
                dist.clone(),
                "dct:issued",
                &date_time(f.created_at),
                "xsd:dateTime",
            )
            .add(dist.clone(), "dct:accessRights", rights.clone())
            .add(dist.clone(), "odrl:hasPolicy", policy.clone())
            .add(d.clone(), "dcat:distribution", dist.clone());
        if let Some(mt) = vocab::media_type_iri(&f.media_type) {
            let mt = b.iri(&mt);
            b.typed(mt.clone(), &["dct:MediaType"])
                .add(dist.clone(), "dcat:mediaType", mt);
        }
        if let Some(l) = &licence {
            b.add(dist.clone(), "dct:license", l.clone());
        }
        let sum = BlankNode::default();
        let algorithm = b.term("spdx:checksumAlgorithm_sha256");
        b.typed(sum.clone(), &["spdx:Checksum"])
            .add(sum.clone(), "spdx:algorithm", algorithm.clone())
            .typed_literal(
                sum.clone(),
                "spdx:checksumValue",
                &f.sha256,
                "xsd:hexBinary",
            )
            .add(dist.clone(), "spdx:checksum", sum);
        b.typed(algorithm, &["spdx:ChecksumAlgorithm"]);
    }
    d
}
