//! MLCommons Croissant 1.1 with the Responsible AI (RAI) 1.0 extension: a
//! dataset's metadata as ML tools load it (`mlcroissant`, TFDS, Hugging
//! Face, Kaggle).
//!
//! Pure: built from the public view of a dataset (`app::exports`) and the
//! absolute base URL of the service. Mapping (docs/standards/croissant.md):
//!
//! | Kujenga | Croissant |
//! | --- | --- |
//! | title, summary + description (+ datasheet motivation, composition) | `name`, `description` |
//! | licence (SPDX id) | `license` (SPDX URI) |
//! | owning institution | `creator`, `publisher` (`Organization`) |
//! | `published_at`, `updated_at`, version *n* | `datePublished`, `dateModified`, `version` *n*.0.0 |
//! | languages, tags | `inLanguage`, `keywords` |
//! | transfer policy and access level | `usageInfo` (the ODRL policy's URL), `isAccessibleForFree`, `conditionsOfAccess` |
//! | files | `distribution` of `cr:FileObject`: `contentUrl` = the platform's link endpoint, never the stored URL |
//! | datasheet: collection process, preprocessing, uses, out-of-scope uses, biases and limitations, maintenance; personal data | `rai:dataCollection`, `rai:dataPreprocessingProtocol`, `rai:dataUseCases`, `rai:dataLimitations`, `rai:dataBiases`, `rai:dataReleaseMaintenancePlan`, `rai:personalSensitiveInformation` |

use serde_json::{Map, Value, json};

use crate::app::exports::PublicView;
use crate::app::resources::{AnyResource, Dataset};
use crate::domain::resource::{AccessLevel, TransferPolicy};

/// `dct:conformsTo` and the media type's `profile`.
pub const CONFORMS_TO: &str = "http://mlcommons.org/croissant/1.1";
/// The RAI extension's specification.
pub const RAI_CONFORMS_TO: &str = "http://mlcommons.org/croissant/RAI/1.0";
/// What `GET /datasets/{id}/croissant` answers.
pub const MEDIA_TYPE: &str = "application/ld+json; profile=\"http://mlcommons.org/croissant/1.1\"";

/// The JSON-LD `@context` of Croissant 1.1 (as `mlcroissant` writes it).
pub fn context() -> Value {
    json!({
        "@language": "en",
        "@vocab": "https://schema.org/",
        "arrayShape": "cr:arrayShape",
        "citeAs": "cr:citeAs",
        "column": "cr:column",
        "conformsTo": "dct:conformsTo",
        "containedIn": "cr:containedIn",
        "cr": "http://mlcommons.org/croissant/",
        "rai": "http://mlcommons.org/croissant/RAI/",
        "data": {"@id": "cr:data", "@type": "@json"},
        "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
        "dct": "http://purl.org/dc/terms/",
        "equivalentProperty": "cr:equivalentProperty",
        "examples": {"@id": "cr:examples", "@type": "@json"},
        "extract": "cr:extract",
        "field": "cr:field",
        "fileProperty": "cr:fileProperty",
        "fileObject": "cr:fileObject",
        "fileSet": "cr:fileSet",
        "format": "cr:format",
        "includes": "cr:includes",
        "isArray": "cr:isArray",
        "isLiveDataset": "cr:isLiveDataset",
        "jsonPath": "cr:jsonPath",
        "key": "cr:key",
        "md5": "cr:md5",
        "parentField": "cr:parentField",
        "path": "cr:path",
        "recordSet": "cr:recordSet",
        "references": "cr:references",
        "regex": "cr:regex",
        "repeated": "cr:repeated",
        "replace": "cr:replace",
        "samplingRate": "cr:samplingRate",
        "sc": "https://schema.org/",
        "separator": "cr:separator",
        "source": "cr:source",
        "subField": "cr:subField",
        "transform": "cr:transform",
    })
}

/// The SPDX licence page of an id.
pub fn spdx_url(id: &str) -> String {
    format!("https://spdx.org/licenses/{id}.html")
}

/// A resource's integer version as the semantic version Croissant wants.
pub fn semver(version: i64) -> String {
    format!("{version}.0.0")
}

/// The description a dataset gets in exports: its summary, its description
/// and the datasheet's motivation and composition (which have no property
/// of their own), as Markdown.
pub fn long_description(d: &Dataset) -> String {
    let mut parts: Vec<String> = Vec::new();
    for text in [&d.core.summary, &d.core.description] {
        if !text.trim().is_empty() {
            parts.push(text.trim().to_string());
        }
    }
    let sheet = &d.fields.datasheet;
    for (heading, text) in [
        ("Motivation", &sheet.motivation),
        ("Composition", &sheet.composition),
    ] {
        if let Some(t) = text.as_deref().filter(|t| !t.trim().is_empty()) {
            parts.push(format!("## {heading}\n\n{}", t.trim()));
        }
    }
    if parts.is_empty() {
        d.core.title.clone()
    } else {
        parts.join("\n\n")
    }
}

/// The sentence `rai:personalSensitiveInformation` carries.
pub fn personal_data_statement(d: &Dataset) -> String {
    if d.fields.contains_personal_data {
        format!(
            "This dataset contains personal data. Access level: {}; it is never open.",
            d.fields.access_level.as_str()
        )
    } else {
        "The publisher states that this dataset contains no personal data.".into()
    }
}

/// Who may download the files, in words (`conditionsOfAccess`).
pub fn conditions_of_access(d: &Dataset) -> String {
    let access = match d.fields.access_level {
        AccessLevel::Open => "Open: anyone may download the files.",
        AccessLevel::Registered => {
            "Registered: any signed-in user of the platform may download the files."
        }
        AccessLevel::Restricted => {
            "Restricted: files are released only on an access request approved by the publisher."
        }
    };
    let transfer = match d.fields.transfer_policy {
        TransferPolicy::Unrestricted => "The data may go to any country.".to_string(),
        TransferPolicy::AllowedCountries => format!(
            "The data may only go to institutions in: {}.",
            d.fields.allowed_countries.join(", ")
        ),
        TransferPolicy::PartnersOnly => {
            "The data may only go to institutions in an active partnership with the publisher."
                .to_string()
        }
        TransferPolicy::InCountry => format!(
            "The data must stay in its country of origin ({}).",
            d.fields.origin_country.as_deref().unwrap_or("unknown")
        ),
    };
    format!("{access} {transfer}")
}

/// The Croissant document of a dataset's public view; `base` is the
/// service's absolute origin (`https://kujenga.example`), no trailing slash.
/// `None` when the view is not a dataset.
pub fn document(view: &PublicView, base: &str) -> Option<Value> {
    let AnyResource::Dataset(d) = &view.resource else {
        return None;
    };
    let core = &d.core;
    let id = &core.id;
    let url = format!("{base}/api/v1/datasets/{id}");
    let mut doc = Map::new();
    doc.insert("@context".into(), context());
    doc.insert("@type".into(), json!("sc:Dataset"));
    doc.insert("@id".into(), json!(url));
    doc.insert("conformsTo".into(), json!([CONFORMS_TO, RAI_CONFORMS_TO]));
    doc.insert("name".into(), json!(core.title));
    doc.insert("description".into(), json!(long_description(d)));
    if let Some(license) = &core.license {
        doc.insert("license".into(), json!(spdx_url(license)));
    }
    doc.insert("url".into(), json!(url));
    let institution = core.included.as_ref().and_then(|i| i.institution.as_ref());
    let org = json!({
        "@type": "sc:Organization",
        "name": institution.map_or(core.institution.as_str(), |i| i.name.as_str()),
        "url": format!("{base}/api/v1/institutions/{}", core.institution),
    });
    doc.insert("creator".into(), org.clone());
    doc.insert("publisher".into(), org);
    if let Some(published) = core.published_at {
        doc.insert(
            "datePublished".into(),
            json!(published.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
    }
    doc.insert(
        "dateModified".into(),
        json!(core.updated_at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    doc.insert("version".into(), json!(semver(core.version)));
    if !core.languages.is_empty() {
        doc.insert("inLanguage".into(), json!(core.languages));
    }
    if !core.tags.is_empty() {
        doc.insert("keywords".into(), json!(core.tags));
    }
    doc.insert(
        "citeAs".into(),
        json!(format!(
            "{}. {} (version {}). {url}",
            institution.map_or(core.institution.as_str(), |i| i.name.as_str()),
            core.title,
            core.version
        )),
    );
    // The ODRL policy (served by the DCAT side of the standards work).
    doc.insert(
        "usageInfo".into(),
        json!(format!("{base}/api/v1/datasets/{id}/policy")),
    );
    doc.insert(
        "isAccessibleForFree".into(),
        json!(d.fields.access_level == AccessLevel::Open),
    );
    doc.insert("conditionsOfAccess".into(), json!(conditions_of_access(d)));
    let distribution: Vec<Value> = view
        .files
        .iter()
        .map(|f| {
            json!({
                "@type": "cr:FileObject",
                "@id": f.id,
                "name": f.name,
                "contentUrl": format!("{base}/api/v1/datasets/{id}/files/{}/link", f.id),
                "contentSize": format!("{} B", f.size_bytes),
                "encodingFormat": f.media_type,
                "sha256": f.sha256,
            })
        })
        .collect();
    doc.insert("distribution".into(), Value::Array(distribution));
    let sheet = &d.fields.datasheet;
    fn text(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|t| !t.trim().is_empty())
    }
    if let Some(t) = text(&sheet.collection_process) {
        doc.insert("rai:dataCollection".into(), json!(t));
    }
    if let Some(t) = text(&sheet.preprocessing) {
        doc.insert("rai:dataPreprocessingProtocol".into(), json!([t]));
    }
    if let Some(t) = text(&sheet.uses) {
        doc.insert("rai:dataUseCases".into(), json!([t]));
    }
    let mut limitations = Vec::new();
    if let Some(t) = text(&sheet.biases_and_limitations) {
        doc.insert("rai:dataBiases".into(), json!([t]));
        limitations.push(t.to_string());
    }
    if let Some(t) = text(&sheet.out_of_scope_uses) {
        limitations.push(format!("Out-of-scope uses: {t}"));
    }
    if !limitations.is_empty() {
        doc.insert("rai:dataLimitations".into(), json!(limitations));
    }
    if let Some(t) = text(&sheet.maintenance) {
        doc.insert("rai:dataReleaseMaintenancePlan".into(), json!([t]));
    }
    doc.insert(
        "rai:personalSensitiveInformation".into(),
        json!([personal_data_statement(d)]),
    );
    Some(Value::Object(doc))
}
