//! Hugging Face cards: a model card or a dataset card as the Hub reads it
//! (`README.md`: YAML front matter, then the template's sections), and the
//! way back for model cards: a README read into a draft's document, with
//! the list of what could not be mapped.
//!
//! Round trip: every field of a model card has a place in the README —
//! Hugging Face's own keys where they exist (`language`, `license`, `tags`,
//! `base_model`, `pipeline_tag`, `model-index`), the template's sections
//! for the prose, and a `kujenga:` block in the front matter for the rest
//! (summary, countries, risk tier, model type, architecture, typed links,
//! results' platform dataset ids and slices) — so export → import gives the
//! same document. Pure: no database, no HTTP.

use serde_json::{Map, Value, json};
use serde_norway::Value as Yaml;

use crate::app::exports::PublicView;
use crate::app::resources::{AnyResource, ModelCard};
use crate::domain::LanguageTag;
use crate::domain::field::{Code, FieldError, Invalid};
use crate::domain::resource::{self as doc, ResourceKind};
use crate::standards::croissant;

/// Largest README accepted by the import (bytes).
pub const README_MAX: usize = 1024 * 1024;

/// A model card's prose sections: (field, heading in the README, the
/// heading's parent in the Hugging Face template).
const SECTIONS: &[(&str, &str, Option<&str>)] = &[
    ("intended_uses", "Direct Use", Some("Uses")),
    ("out_of_scope_uses", "Out-of-Scope Use", Some("Uses")),
    (
        "ethical_considerations",
        "Bias, Risks, and Limitations",
        None,
    ),
    ("caveats", "Recommendations", None),
    ("training_data", "Training Data", Some("Training Details")),
    ("evaluation_data", "Testing Data", Some("Evaluation")),
    ("factors", "Factors", Some("Evaluation")),
    ("metrics", "Metrics", Some("Evaluation")),
    ("environmental_impact", "Environmental Impact", None),
];

/// Headings the export writes that hold no field of their own (their
/// content, if any, is derived or a container's).
const DERIVED: &[&str] = &[
    "Model Details",
    "Uses",
    "Training Details",
    "Evaluation",
    "Results",
];

fn yaml_string(s: &str) -> Yaml {
    Yaml::String(s.to_string())
}

fn yaml_list(items: &[String]) -> Yaml {
    Yaml::Sequence(items.iter().map(|s| yaml_string(s)).collect())
}

fn to_yaml(v: &Value) -> Yaml {
    serde_norway::to_value(v).unwrap_or(Yaml::Null)
}

/// `---\n<yaml>---\n`.
fn front_matter(map: serde_norway::Mapping) -> String {
    let yaml = serde_norway::to_string(&Yaml::Mapping(map)).unwrap_or_default();
    format!("---\n{yaml}---\n")
}

/// A licence id as the Hub writes it (lowercase SPDX).
fn hub_license(id: &str) -> String {
    id.to_ascii_lowercase()
}

// ----- export ------------------------------------------------------------------------

/// The README of a model card's public view.
pub fn model_card(card: &ModelCard, base: &str) -> String {
    let core = &card.core;
    let f = &card.fields;
    let mut fm = serde_norway::Mapping::new();
    let mut put = |k: &str, v: Yaml| {
        fm.insert(yaml_string(k), v);
    };
    if !core.languages.is_empty() {
        put("language", yaml_list(&core.languages));
    }
    if let Some(l) = &core.license {
        put("license", yaml_string(&hub_license(l)));
    }
    if !core.tags.is_empty() {
        put("tags", yaml_list(&core.tags));
    }
    let related = core
        .included
        .as_ref()
        .and_then(|i| i.related.as_ref())
        .cloned()
        .unwrap_or_default();
    let datasets: Vec<String> = related
        .iter()
        .filter(|r| {
            r.kind == ResourceKind::Dataset
                && matches!(
                    r.relation,
                    doc::Relation::TrainedOn | doc::Relation::EvaluatedOn
                )
        })
        .map(|r| r.title.clone())
        .collect();
    if !datasets.is_empty() {
        put("datasets", yaml_list(&datasets));
    }
    if let Some(b) = &f.base_model {
        put("base_model", yaml_string(b));
    }
    if let Some(t) = &f.task {
        put("pipeline_tag", yaml_string(t));
    }
    if !f.results.is_empty() {
        let results: Vec<Value> = f
            .results
            .iter()
            .map(|r| {
                let mut dataset = json!({
                    "name": r.dataset.clone().unwrap_or_else(|| "unspecified".into()),
                    "type": r.dataset.clone().unwrap_or_else(|| "unspecified".into()),
                });
                if let Some(s) = &r.slice {
                    dataset["config"] = json!(s);
                }
                json!({
                    "task": {"type": r.task},
                    "dataset": dataset,
                    "metrics": [{"type": r.metric, "name": r.metric, "value": r.value}],
                })
            })
            .collect();
        put(
            "model-index",
            to_yaml(&json!([{"name": core.title, "results": results}])),
        );
    }
    // What the Hub has no key for, so that an import gives it back.
    let mut k = Map::new();
    k.insert(
        "url".into(),
        json!(format!("{base}/api/v1/model-cards/{}", core.id)),
    );
    k.insert("institution".into(), json!(core.institution));
    k.insert("version".into(), json!(core.version));
    if !core.summary.is_empty() {
        k.insert("summary".into(), json!(core.summary));
    }
    if !core.countries.is_empty() {
        k.insert("countries".into(), json!(core.countries));
    }
    if let Some(t) = f.risk_tier {
        k.insert("risk_tier".into(), json!(t.as_str()));
    }
    for (key, v) in [
        ("model_type", &f.model_type),
        ("architecture", &f.architecture),
    ] {
        if let Some(v) = v {
            k.insert(key.into(), json!(v));
        }
    }
    if !core.related.is_empty() {
        k.insert("related".into(), json!(core.related));
    }
    let extra: Vec<Value> = f
        .results
        .iter()
        .map(|r| json!({"dataset_id": r.dataset_id, "dataset": r.dataset, "slice": r.slice}))
        .collect();
    if f.results
        .iter()
        .any(|r| r.dataset_id.is_some() || r.dataset.is_none())
    {
        k.insert("results".into(), json!(extra));
    }
    put("kujenga", to_yaml(&Value::Object(k)));

    let mut md = front_matter(fm);
    md.push_str(&format!("\n# {}\n\n", core.title));
    if !core.description.trim().is_empty() {
        md.push_str(core.description.trim_end());
        md.push_str("\n\n");
    }
    md.push_str("## Model Details\n\n");
    let institution = core
        .included
        .as_ref()
        .and_then(|i| i.institution.as_ref())
        .map_or(core.institution.clone(), |i| i.name.clone());
    md.push_str(&format!("- **Developed by:** {institution}\n"));
    for (label, v) in [
        ("Model type", &f.model_type),
        ("Architecture", &f.architecture),
        ("Finetuned from model", &f.base_model),
        ("Task", &f.task),
    ] {
        if let Some(v) = v {
            md.push_str(&format!("- **{label}:** {v}\n"));
        }
    }
    if let Some(t) = f.risk_tier {
        md.push_str(&format!("- **Risk tier (EU AI Act):** {}\n", t.as_str()));
    }
    if let Some(l) = &core.license {
        md.push_str(&format!("- **License:** {l}\n"));
    }
    md.push('\n');
    let text = |field: &str| -> Option<&String> {
        match field {
            "intended_uses" => f.intended_uses.as_ref(),
            "out_of_scope_uses" => f.out_of_scope_uses.as_ref(),
            "ethical_considerations" => f.ethical_considerations.as_ref(),
            "caveats" => f.caveats.as_ref(),
            "training_data" => f.training_data.as_ref(),
            "evaluation_data" => f.evaluation_data.as_ref(),
            "factors" => f.factors.as_ref(),
            "metrics" => f.metrics.as_ref(),
            "environmental_impact" => f.environmental_impact.as_ref(),
            _ => None,
        }
    };
    let mut parent_done: Vec<&str> = Vec::new();
    for (field, heading, parent) in SECTIONS {
        let Some(body) = text(field) else { continue };
        let level = if let Some(p) = parent {
            if !parent_done.contains(p) {
                md.push_str(&format!("## {p}\n\n"));
                parent_done.push(p);
            }
            "###"
        } else {
            "##"
        };
        md.push_str(&format!("{level} {heading}\n\n{}\n\n", body.trim_end()));
    }
    if !f.results.is_empty() {
        if !parent_done.contains(&"Evaluation") {
            md.push_str("## Evaluation\n\n");
        }
        md.push_str("### Results\n\n| Task | Dataset | Metric | Value | Slice |\n| --- | --- | --- | --- | --- |\n");
        for r in &f.results {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                cell(&r.task),
                cell(r.dataset.as_deref().unwrap_or("")),
                cell(&r.metric),
                r.value,
                cell(r.slice.as_deref().unwrap_or(""))
            ));
        }
        md.push('\n');
    }
    md
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The Hub's `size_categories` bucket of a record count.
pub fn size_category(n: i64) -> &'static str {
    const BUCKETS: [(i64, &str); 10] = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
        (1_000_000_000, "100M<n<1B"),
        (10_000_000_000, "1B<n<10B"),
        (100_000_000_000, "10B<n<100B"),
        (1_000_000_000_000, "100B<n<1T"),
    ];
    BUCKETS
        .iter()
        .find(|(limit, _)| n < *limit)
        .map_or("n>1T", |(_, name)| name)
}

/// The Hub's task categories; a dataset's tags that name one become its
/// `task_categories`.
pub const TASK_CATEGORIES: &[&str] = &[
    "audio-classification",
    "automatic-speech-recognition",
    "feature-extraction",
    "fill-mask",
    "image-classification",
    "image-segmentation",
    "image-to-text",
    "object-detection",
    "question-answering",
    "sentence-similarity",
    "summarization",
    "table-question-answering",
    "text-classification",
    "text-generation",
    "text-to-image",
    "text-to-speech",
    "time-series-forecasting",
    "token-classification",
    "translation",
    "zero-shot-classification",
];

/// The dataset card of a dataset's public view.
pub fn dataset_card(view: &PublicView, base: &str) -> Option<String> {
    let AnyResource::Dataset(d) = &view.resource else {
        return None;
    };
    let core = &d.core;
    let f = &d.fields;
    let mut fm = serde_norway::Mapping::new();
    let mut put = |k: &str, v: Yaml| {
        fm.insert(yaml_string(k), v);
    };
    if !core.languages.is_empty() {
        put("language", yaml_list(&core.languages));
    }
    if let Some(l) = &core.license {
        put("license", yaml_string(&hub_license(l)));
    }
    put("pretty_name", yaml_string(&core.title));
    if let Some(n) = f.record_count {
        put(
            "size_categories",
            yaml_list(&[size_category(n).to_string()]),
        );
    }
    let tasks: Vec<String> = core
        .tags
        .iter()
        .filter(|t| TASK_CATEGORIES.contains(&t.to_ascii_lowercase().as_str()))
        .map(|t| t.to_ascii_lowercase())
        .collect();
    if !tasks.is_empty() {
        put("task_categories", yaml_list(&tasks));
    }
    if !core.tags.is_empty() {
        put("tags", yaml_list(&core.tags));
    }
    let id = &core.id;
    let mut md = front_matter(fm);
    md.push_str(&format!("\n# {}\n\n", core.title));
    if !core.summary.is_empty() {
        md.push_str(&format!("{}\n\n", core.summary));
    }
    if !core.description.trim().is_empty() {
        md.push_str(&format!("{}\n\n", core.description.trim_end()));
    }
    md.push_str("## Dataset Details\n\n");
    let institution = core
        .included
        .as_ref()
        .and_then(|i| i.institution.as_ref())
        .map_or(core.institution.clone(), |i| i.name.clone());
    md.push_str(&format!("- **Curated by:** {institution}\n"));
    if !core.languages.is_empty() {
        md.push_str(&format!(
            "- **Language(s):** {}\n",
            core.languages.join(", ")
        ));
    }
    if let Some(l) = &core.license {
        md.push_str(&format!("- **License:** {l}\n"));
    }
    if let Some(c) = &f.origin_country {
        md.push_str(&format!("- **Country of origin:** {c}\n"));
    }
    if let Some(n) = f.record_count {
        md.push_str(&format!("- **Records:** {n}\n"));
    }
    if !f.formats.is_empty() {
        md.push_str(&format!("- **Formats:** {}\n", f.formats.join(", ")));
    }
    md.push_str(&format!(
        "- **Croissant:** {base}/api/v1/datasets/{id}/croissant\n\n"
    ));
    md.push_str(&format!(
        "## Access and Data Sovereignty\n\n{}\n\nThe machine-readable policy (ODRL): {base}/api/v1/datasets/{id}/policy\n\n",
        croissant::conditions_of_access(d)
    ));
    let s = &f.datasheet;
    let sections: [(&str, &Option<String>); 8] = [
        ("Curation Rationale", &s.motivation),
        ("Dataset Structure", &s.composition),
        ("Data Collection and Processing", &s.collection_process),
        ("Preprocessing", &s.preprocessing),
        ("Direct Use", &s.uses),
        ("Out-of-Scope Use", &s.out_of_scope_uses),
        ("Bias, Risks, and Limitations", &s.biases_and_limitations),
        ("Maintenance", &s.maintenance),
    ];
    for (heading, text) in sections {
        if let Some(t) = text.as_deref().filter(|t| !t.trim().is_empty()) {
            md.push_str(&format!("## {heading}\n\n{}\n\n", t.trim_end()));
        }
    }
    md.push_str(&format!(
        "## Personal and Sensitive Information\n\n{}\n\n",
        croissant::personal_data_statement(d)
    ));
    if !view.files.is_empty() {
        md.push_str("## Files\n\n| Name | Media type | Size (bytes) | SHA-256 |\n| --- | --- | --- | --- |\n");
        for file in &view.files {
            md.push_str(&format!(
                "| [{}]({base}/api/v1/datasets/{id}/files/{}/link) | {} | {} | `{}` |\n",
                cell(&file.name),
                file.id,
                cell(&file.media_type),
                file.size_bytes,
                file.sha256
            ));
        }
        md.push('\n');
    }
    Some(md)
}

// ----- import ----------------------------------------------------------------------

/// A model card read from a README: the draft's document (as the create
/// endpoint takes it, without `institution`), the institution the README
/// names (`kujenga.institution`), and what could not be mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub body: Map<String, Value>,
    pub institution: Option<String>,
    pub unmapped: Vec<Unmapped>,
}

/// Something of the README that has no place in a model card.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Unmapped {
    /// `front_matter.<key>` or `section "<heading>"`.
    #[schema(example = "front_matter.library_name")]
    pub field: String,
    /// The README's line it starts on (1-based).
    #[schema(example = 3)]
    pub line: usize,
    #[schema(example = "No model card field takes it.")]
    pub reason: String,
}

fn bad(field: &str, line: usize, message: impl Into<String>) -> FieldError {
    Invalid::new(Code::WrongType, format!("line {line}: {}", message.into())).at(field)
}

/// The line (1-based) of a top-level key in the front matter (`first` is
/// the line of the front matter's first YAML line).
fn key_line(yaml: &str, key: &str, first: usize) -> usize {
    yaml.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(first, |i| first + i)
}

/// A YAML scalar or list of scalars as strings.
fn strings(v: &Yaml) -> Option<Vec<String>> {
    let one = |v: &Yaml| match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Yaml::Sequence(items) => items.iter().map(one).collect(),
        other => one(other).map(|s| vec![s]),
    }
}

/// Reads a Hugging Face model card README. Malformed input (no closing
/// `---`, YAML that does not parse, a key of the wrong type, control
/// characters) is an error naming the line and the field.
pub fn import_model_card(text: &str) -> Result<Imported, Vec<FieldError>> {
    if let Some((i, line)) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.chars().any(|c| c.is_control() && c != '\t' && c != '\r'))
    {
        let _ = line;
        return Err(vec![
            Invalid::new(
                Code::ControlCharacters,
                format!("line {}: control characters are not allowed.", i + 1),
            )
            .at("readme"),
        ]);
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut unmapped = Vec::new();
    let mut body = Map::new();
    let mut errors = Vec::new();
    // The front matter: `---` on the first line, up to the next `---`.
    let (yaml, body_start) = if lines.first().map(|l| l.trim_end()) == Some("---") {
        let Some(end) = lines.iter().skip(1).position(|l| l.trim_end() == "---") else {
            return Err(vec![
                Invalid::new(
                    Code::WrongType,
                    "line 1: the front matter opened by `---` is never closed by another `---`.",
                )
                .at("front_matter"),
            ]);
        };
        (lines[1..=end].join("\n"), end + 2)
    } else {
        (String::new(), 0)
    };
    let first = 2;
    let fm: serde_norway::Mapping = if yaml.trim().is_empty() {
        serde_norway::Mapping::new()
    } else {
        match serde_norway::from_str::<Yaml>(&yaml) {
            Ok(Yaml::Mapping(m)) => m,
            Ok(_) => {
                return Err(vec![bad(
                    "front_matter",
                    first,
                    "the front matter must be a YAML mapping (`key: value` lines).",
                )]);
            }
            Err(e) => {
                let line = e.location().map_or(first, |l| l.line() + first - 1);
                let message = e.to_string();
                return Err(vec![
                    Invalid::new(
                        Code::WrongType,
                        format!("line {line}: the YAML does not parse: {message}"),
                    )
                    .at("front_matter"),
                ]);
            }
        }
    };
    let mut kujenga = serde_norway::Mapping::new();
    let mut institution = None;
    let mut datasets_line = None;
    for (key, value) in &fm {
        let Some(key) = key.as_str() else {
            errors.push(bad("front_matter", first, "every key must be a string."));
            continue;
        };
        let line = key_line(&yaml, key, first);
        let field = format!("front_matter.{key}");
        match key {
            "language" => match strings(value) {
                Some(tags) => {
                    let mut ok = Vec::new();
                    for t in tags {
                        if LanguageTag::parse(&t).is_ok() {
                            ok.push(json!(t));
                        } else {
                            unmapped.push(Unmapped {
                                field: field.clone(),
                                line,
                                reason: format!("`{t}` is not a BCP 47 language tag."),
                            });
                        }
                    }
                    body.insert("languages".into(), Value::Array(ok));
                }
                None => errors.push(bad(
                    &field,
                    line,
                    "expected a language tag or a list of them.",
                )),
            },
            "license" => match value.as_str() {
                Some(l) => match doc::check_license(l) {
                    Ok(id) => {
                        body.insert("license".into(), json!(id));
                    }
                    Err(_) => unmapped.push(Unmapped {
                        field,
                        line,
                        reason: format!("`{l}` is not an SPDX licence id."),
                    }),
                },
                None => errors.push(bad(&field, line, "expected a licence id.")),
            },
            "tags" => match strings(value) {
                Some(tags) => {
                    body.insert("tags".into(), json!(tags));
                }
                None => errors.push(bad(&field, line, "expected a list of tags.")),
            },
            "base_model" => match strings(value) {
                Some(models) if !models.is_empty() => {
                    body.insert("base_model".into(), json!(models[0]));
                    if models.len() > 1 {
                        unmapped.push(Unmapped {
                            field,
                            line,
                            reason: format!(
                                "A model card has one base model; kept `{}`, left out {}.",
                                models[0],
                                models[1..].join(", ")
                            ),
                        });
                    }
                }
                _ => errors.push(bad(&field, line, "expected a model id.")),
            },
            "pipeline_tag" => match value.as_str() {
                Some(t) => {
                    body.insert("task".into(), json!(t));
                }
                None => errors.push(bad(&field, line, "expected a task name.")),
            },
            "model-index" => match read_model_index(value) {
                Ok(rows) => {
                    body.insert("results".into(), Value::Array(rows));
                }
                Err(m) => errors.push(bad(&field, line, m)),
            },
            "datasets" => datasets_line = Some(line),
            "kujenga" => match value {
                Yaml::Mapping(m) => kujenga = m.clone(),
                _ => errors.push(bad(&field, line, "expected a mapping.")),
            },
            _ => unmapped.push(Unmapped {
                field,
                line,
                reason: "No model card field takes it.".into(),
            }),
        }
    }
    // The `kujenga:` block: what the Hub has no key for.
    let k_line = key_line(&yaml, "kujenga", first);
    for (key, value) in &kujenga {
        let key = key.as_str().unwrap_or("");
        let field = format!("front_matter.kujenga.{key}");
        let json_value = serde_json::to_value(value).unwrap_or(Value::Null);
        match key {
            "summary" | "risk_tier" | "model_type" | "architecture" | "countries" | "related" => {
                body.insert(key.into(), json_value);
            }
            "institution" => institution = value.as_str().map(str::to_string),
            "results" => {
                // The results' platform dataset ids and slices, by position.
                let (Some(extra), Some(Value::Array(rows))) =
                    (json_value.as_array(), body.get_mut("results"))
                else {
                    errors.push(bad(
                        &field,
                        k_line,
                        "expected a list matching `model-index`.",
                    ));
                    continue;
                };
                for (row, e) in rows.iter_mut().zip(extra) {
                    for k in ["dataset_id", "dataset", "slice"] {
                        match e.get(k) {
                            Some(Value::Null) | None => {
                                row.as_object_mut().map(|r| r.remove(k));
                            }
                            Some(v) => row[k] = v.clone(),
                        }
                    }
                }
            }
            "url" | "version" => {}
            _ => unmapped.push(Unmapped {
                field,
                line: k_line,
                reason: "No model card field takes it.".into(),
            }),
        }
    }
    if let Some(line) = datasets_line
        && !body.contains_key("related")
    {
        unmapped.push(Unmapped {
            field: "front_matter.datasets".into(),
            line,
            reason: "Hub dataset ids are not platform datasets: link them with `related` after the import."
                .into(),
        });
    }
    read_sections(&lines, body_start, &mut body, &mut unmapped);
    if errors.is_empty() {
        Ok(Imported {
            body,
            institution,
            unmapped,
        })
    } else {
        Err(errors)
    }
}

/// `model-index` → result rows (task, dataset, metric, value, slice).
fn read_model_index(v: &Yaml) -> Result<Vec<Value>, String> {
    let json = serde_json::to_value(v).map_err(|e| e.to_string())?;
    let models = json.as_array().ok_or("expected a list of models.")?;
    let mut rows = Vec::new();
    for model in models {
        let results = model
            .get("results")
            .and_then(Value::as_array)
            .ok_or("each model needs a `results` list.")?;
        for r in results {
            let task = r
                .pointer("/task/type")
                .or_else(|| r.pointer("/task/name"))
                .and_then(Value::as_str)
                .ok_or("each result needs `task.type`.")?;
            let dataset = r
                .pointer("/dataset/name")
                .or_else(|| r.pointer("/dataset/type"))
                .and_then(Value::as_str)
                .filter(|d| *d != "unspecified");
            let slice = r.pointer("/dataset/config").and_then(Value::as_str);
            let metrics = r
                .get("metrics")
                .and_then(Value::as_array)
                .ok_or("each result needs a `metrics` list.")?;
            for m in metrics {
                let metric = m
                    .get("type")
                    .or_else(|| m.get("name"))
                    .and_then(Value::as_str)
                    .ok_or("each metric needs a `type`.")?;
                let value = m
                    .get("value")
                    .and_then(Value::as_f64)
                    .ok_or("each metric needs a numeric `value`.")?;
                let mut row = json!({"task": task, "metric": metric, "value": value});
                if let Some(d) = dataset {
                    row["dataset"] = json!(d);
                }
                if let Some(s) = slice {
                    row["slice"] = json!(s);
                }
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// The Markdown after the front matter: `# Title`, the description up to
/// the first heading of the template, then the template's sections. A
/// section runs to the next heading the template knows, so a section's own
/// sub-headings stay in it.
fn read_sections(
    lines: &[&str],
    start: usize,
    body: &mut Map<String, Value>,
    unmapped: &mut Vec<Unmapped>,
) {
    let heading = |l: &str| -> Option<(usize, String)> {
        let level = l.chars().take_while(|c| *c == '#').count();
        (level > 0 && l[level..].starts_with(' ')).then(|| (level, l[level..].trim().to_string()))
    };
    let known = |h: &str| {
        SECTIONS.iter().any(|(_, s, _)| s.eq_ignore_ascii_case(h))
            || DERIVED.iter().any(|d| d.eq_ignore_ascii_case(h))
    };
    // Split into (heading, line, text) at known headings (and the title).
    let mut title: Option<String> = None;
    let mut parts: Vec<(Option<String>, usize, Vec<&str>)> = vec![(None, start + 1, Vec::new())];
    let mut fence = false;
    for (i, line) in lines.iter().enumerate().skip(start) {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        }
        if !fence && let Some((level, h)) = heading(line) {
            if level == 1 && title.is_none() {
                title = Some(h);
                if let Some(p) = parts.last_mut() {
                    p.2.clear();
                }
                continue;
            }
            if level >= 2 && known(&h) {
                parts.push((Some(h), i + 1, Vec::new()));
                continue;
            }
        }
        if let Some(p) = parts.last_mut() {
            p.2.push(line);
        }
    }
    if let Some(t) = title {
        body.insert("title".into(), json!(t));
    }
    let mut model_details = Vec::new();
    for (h, line, text) in parts {
        let text = text.join("\n").trim().to_string();
        match h {
            None => {
                if !text.is_empty() {
                    body.insert("description".into(), json!(text));
                }
            }
            Some(h) => {
                if let Some((field, _, _)) =
                    SECTIONS.iter().find(|(_, s, _)| s.eq_ignore_ascii_case(&h))
                {
                    if !text.is_empty() {
                        body.insert((*field).into(), json!(text));
                    }
                } else if h.eq_ignore_ascii_case("Model Details") {
                    model_details = text.lines().map(str::to_string).collect();
                } else if !text.is_empty() && !h.eq_ignore_ascii_case("Results") {
                    unmapped.push(Unmapped {
                        field: format!("section \"{h}\""),
                        line,
                        reason: "No model card field takes this section's text.".into(),
                    });
                }
            }
        }
    }
    // Model Details' bullets fill what the front matter did not.
    for l in model_details {
        for (label, key) in [
            ("Model type", "model_type"),
            ("Architecture", "architecture"),
            ("Finetuned from model", "base_model"),
            ("Task", "task"),
        ] {
            if let Some(v) = l.strip_prefix(&format!("- **{label}:**")) {
                body.entry(key).or_insert_with(|| json!(v.trim()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_categories_at_their_edges() {
        for (n, expected) in [
            (0, "n<1K"),
            (999, "n<1K"),
            (1_000, "1K<n<10K"),
            (12_000, "10K<n<100K"),
            (999_999_999_999, "100B<n<1T"),
            (1_000_000_000_000, "n>1T"),
        ] {
            assert_eq!(size_category(n), expected, "{n}");
        }
    }

    #[test]
    fn a_readme_without_front_matter_is_only_markdown() {
        let got = import_model_card("# Title\n\nText.\n\n## Uses\n\n### Direct Use\n\nThis.\n")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(got.body["title"], "Title");
        assert_eq!(got.body["description"], "Text.");
        assert_eq!(got.body["intended_uses"], "This.");
        assert!(got.unmapped.is_empty());
    }

    #[test]
    fn code_fences_hide_headings() {
        let got = import_model_card("# T\n\n```\n## Direct Use\n```\n")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(got.body["description"], "```\n## Direct Use\n```");
        assert!(!got.body.contains_key("intended_uses"));
    }
}
