//! schema.org JSON-LD for search engines (Google Dataset Search, course
//! rich results): `Dataset`, `Course` and, for model cards,
//! `SoftwareSourceCode` + `CreativeWork` (a model is software described by
//! a card; schema.org has no type for models). Served on single reads with
//! `Accept: application/ld+json`. Pure: from the public view and the base URL.

use serde_json::{Map, Value, json};

use crate::app::exports::PublicView;
use crate::app::resources::{AnyResource, ResourceCore};
use crate::domain::resource::{AccessLevel, Delivery};
use crate::standards::croissant;

pub const MEDIA_TYPE: &str = "application/ld+json";

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The fields every kind shares.
fn common(
    core: &ResourceCore,
    base: &str,
    types: Value,
    description: String,
) -> Map<String, Value> {
    let url = format!("{base}/api/v1/{}/{}", core.kind.collection(), core.id);
    let institution = core.included.as_ref().and_then(|i| i.institution.as_ref());
    let mut org = json!({
        "@type": "Organization",
        "name": institution.map_or(core.institution.as_str(), |i| i.name.as_str()),
        "url": format!("{base}/api/v1/institutions/{}", core.institution),
    });
    if let Some(i) = institution {
        org["address"] = json!({"@type": "PostalAddress", "addressCountry": i.country});
    }
    let mut m = Map::new();
    m.insert("@context".into(), json!("https://schema.org"));
    m.insert("@type".into(), types);
    m.insert("@id".into(), json!(url));
    m.insert("url".into(), json!(url));
    m.insert("identifier".into(), json!(core.id));
    m.insert("name".into(), json!(core.title));
    m.insert("description".into(), json!(description));
    if let Some(license) = &core.license {
        m.insert("license".into(), json!(croissant::spdx_url(license)));
    }
    if !core.languages.is_empty() {
        m.insert("inLanguage".into(), json!(core.languages));
    }
    if !core.tags.is_empty() {
        m.insert("keywords".into(), json!(core.tags));
    }
    if !core.countries.is_empty() {
        let places: Vec<Value> = core
            .countries
            .iter()
            .map(|c| json!({"@type": "Country", "identifier": c, "name": c}))
            .collect();
        m.insert("spatialCoverage".into(), json!(places));
    }
    m.insert("version".into(), json!(core.version.to_string()));
    if let Some(p) = core.published_at {
        m.insert("datePublished".into(), json!(iso(p)));
    }
    m.insert("dateModified".into(), json!(iso(core.updated_at)));
    m.insert("dateCreated".into(), json!(iso(core.created_at)));
    m.insert("creator".into(), org.clone());
    m.insert("publisher".into(), org.clone());
    m.insert("provider".into(), org);
    m
}

/// Summary and description together (what a search engine shows).
fn describe(core: &ResourceCore) -> String {
    let parts: Vec<&str> = [core.summary.trim(), core.description.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        core.title.clone()
    } else {
        parts.join("\n\n")
    }
}

/// The schema.org document of a public view.
pub fn document(view: &PublicView, base: &str) -> Value {
    match &view.resource {
        AnyResource::Dataset(d) => {
            let mut m = common(
                &d.core,
                base,
                json!("Dataset"),
                croissant::long_description(d),
            );
            let id = &d.core.id;
            m.insert(
                "isAccessibleForFree".into(),
                json!(d.fields.access_level == AccessLevel::Open),
            );
            m.insert(
                "conditionsOfAccess".into(),
                json!(croissant::conditions_of_access(d)),
            );
            m.insert(
                "usageInfo".into(),
                json!(format!("{base}/api/v1/datasets/{id}/policy")),
            );
            let files: Vec<Value> = view
                .files
                .iter()
                .map(|f| {
                    json!({
                        "@type": "DataDownload",
                        "name": f.name,
                        "contentUrl": format!("{base}/api/v1/datasets/{id}/files/{}/link", f.id),
                        "encodingFormat": f.media_type,
                        "contentSize": format!("{} B", f.size_bytes),
                        "sha256": f.sha256,
                    })
                })
                .collect();
            m.insert("distribution".into(), json!(files));
            if let Some(n) = d.fields.record_count {
                m.insert(
                    "variableMeasured".into(),
                    json!({"@type": "PropertyValue", "name": "record_count", "value": n}),
                );
            }
            m.insert(
                "subjectOf".into(),
                json!({"@type": "CreativeWork", "encodingFormat": croissant::MEDIA_TYPE,
                       "url": format!("{base}/api/v1/datasets/{id}/croissant")}),
            );
            Value::Object(m)
        }
        AnyResource::Course(c) => {
            let f = &c.fields;
            let mut m = common(&c.core, base, json!("Course"), describe(&c.core));
            let mut instance = json!({
                "@type": "CourseInstance",
                "courseMode": match f.delivery {
                    Some(Delivery::InstructorLed) => "Onsite",
                    Some(Delivery::Blended) => "Blended",
                    _ => "Online",
                },
            });
            if let Some(hours) = f.duration_hours {
                let minutes = (hours * 60.0).round() as i64;
                instance["courseWorkload"] = json!(format!("PT{}H{}M", minutes / 60, minutes % 60));
            }
            if f.delivery == Some(Delivery::SelfPaced) || f.delivery.is_none() {
                instance["courseSchedule"] = json!({"@type": "Schedule", "repeatFrequency": "P1D",
                                                    "description": "Self-paced"});
            }
            m.insert("hasCourseInstance".into(), json!([instance]));
            if let Some(level) = f.level {
                m.insert("educationalLevel".into(), json!(level.as_str()));
            }
            if let Some(p) = &f.prerequisites {
                m.insert("coursePrerequisites".into(), json!(p));
            }
            m.insert(
                "offers".into(),
                json!([{"@type": "Offer", "category": "Free", "price": 0, "priceCurrency": "USD"}]),
            );
            m.insert("isAccessibleForFree".into(), json!(true));
            if let Some(modules) = c.core.included.as_ref().and_then(|i| i.modules.as_ref()) {
                let sections: Vec<Value> = modules
                    .iter()
                    .map(|md| {
                        let mut s =
                            json!({"@type": "Syllabus", "name": md.title, "position": md.position});
                        if let Some(min) = md.duration_minutes {
                            s["timeRequired"] = json!(format!("PT{min}M"));
                        }
                        s
                    })
                    .collect();
                m.insert("syllabusSections".into(), json!(sections));
            }
            Value::Object(m)
        }
        AnyResource::ModelCard(card) => {
            let f = &card.fields;
            let mut m = common(
                &card.core,
                base,
                json!(["SoftwareSourceCode", "CreativeWork"]),
                describe(&card.core),
            );
            m.insert("genre".into(), json!("Machine learning model card"));
            if let Some(task) = &f.task {
                m.insert("about".into(), json!({"@type": "Thing", "name": task}));
            }
            if let Some(base_model) = &f.base_model {
                m.insert("isBasedOn".into(), json!(base_model));
            }
            if let Some(a) = &f.architecture {
                m.insert("runtimePlatform".into(), json!(a));
            }
            if let Some(t) = &f.model_type {
                m.insert("applicationCategory".into(), json!(t));
            }
            // Datasets it was trained or evaluated on that the public may see.
            let related = card.core.included.as_ref().and_then(|i| i.related.as_ref());
            let datasets: Vec<Value> = related
                .into_iter()
                .flatten()
                .filter(|r| r.kind == crate::domain::resource::ResourceKind::Dataset)
                .map(|r| {
                    json!({"@type": "Dataset", "name": r.title,
                                 "url": format!("{base}/api/v1/datasets/{}", r.id)})
                })
                .collect();
            if !datasets.is_empty() {
                m.insert("isBasedOn".into(), {
                    let mut all: Vec<Value> = f.base_model.iter().map(|b| json!(b)).collect();
                    all.extend(datasets);
                    json!(all)
                });
            }
            m.insert(
                "subjectOf".into(),
                json!({"@type": "CreativeWork", "encodingFormat": "text/markdown",
                       "url": format!("{base}/api/v1/model-cards/{}/README.md", card.core.id)}),
            );
            Value::Object(m)
        }
    }
}
