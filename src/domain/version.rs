//! Published versions (issue #19): labels, the rule for a major version,
//! and the field-by-field difference of two versions. Pure: `app::versions`
//! loads and stores.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// `major.minor`: `1.0` is the first publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub major: i32,
    pub minor: i32,
}

impl Label {
    pub const FIRST: Label = Label { major: 1, minor: 0 };

    /// `1.2` (digits only, no sign, no leading zeros beyond `0`).
    pub fn parse(raw: &str) -> Option<Label> {
        let (a, b) = raw.split_once('.')?;
        let number = |s: &str| -> Option<i32> {
            let ok = !s.is_empty()
                && s.len() <= 9
                && s.bytes().all(|c| c.is_ascii_digit())
                && (s == "0" || !s.starts_with('0'));
            ok.then(|| s.parse().ok()).flatten()
        };
        let label = Label {
            major: number(a)?,
            minor: number(b)?,
        };
        (label.major >= 1).then_some(label)
    }

    /// The version after this one.
    pub fn next(self, major: bool) -> Label {
        if major {
            Label {
                major: self.major + 1,
                minor: 0,
            }
        } else {
            Label {
                major: self.major,
                minor: self.minor + 1,
            }
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Fields whose change makes the next version a major one: what a reader
/// relies on to use the resource (its files and modules, a model card's
/// results table) and the terms under which it may be used.
pub const MAJOR_FIELDS: &[&str] = &[
    "files",
    "modules",
    "results",
    "license",
    "access_level",
    "transfer_policy",
    "allowed_countries",
];

/// Events about the draft of a published resource's next version: they
/// change nothing its readers see (the change feed and the harvests skip
/// them; the published version changes with `resource.updated`).
pub const DRAFT_EVENTS: &[&str] = &["resource.draft_updated", "resource.draft_discarded"];

/// One difference between two versions.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldChange {
    /// The field, with `.` into objects (`datasheet.motivation`) and
    /// `[id]` into lists of things with ids (`files[…]`).
    pub field: String,
    /// `added`, `removed` or `changed`.
    pub change: ChangeKind,
    /// The value before (absent when added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    /// The value after (absent when removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// The differences from `a` to `b`, in field order. Objects are compared
/// field by field; lists of objects that all have an `id` (files,
/// modules) item by item; other lists and values as wholes.
pub fn diff(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    diff_maps("", a, b, &mut out);
    out
}

fn diff_maps(
    prefix: &str,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    out: &mut Vec<FieldChange>,
) {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let field = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        diff_values(field, a.get(key), b.get(key), out);
    }
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn diff_values(field: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (present(a), present(b)) {
        (None, None) => {}
        (None, Some(b)) => out.push(FieldChange {
            field,
            change: ChangeKind::Added,
            from: None,
            to: Some(b.clone()),
        }),
        (Some(a), None) => out.push(FieldChange {
            field,
            change: ChangeKind::Removed,
            from: Some(a.clone()),
            to: None,
        }),
        (Some(a), Some(b)) if a == b => {}
        (Some(Value::Object(a)), Some(Value::Object(b))) => diff_maps(&field, a, b, out),
        (Some(Value::Array(a)), Some(Value::Array(b))) if with_ids(a) && with_ids(b) => {
            let by_id = |list: &Vec<Value>| -> Map<String, Value> {
                list.iter()
                    .filter_map(|v| Some((v.get("id")?.as_str()?.to_string(), v.clone())))
                    .collect()
            };
            let (a, b) = (by_id(a), by_id(b));
            let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for id in ids {
                diff_values(format!("{field}[{id}]"), a.get(id), b.get(id), out);
            }
        }
        (Some(a), Some(b)) => out.push(FieldChange {
            field,
            change: ChangeKind::Changed,
            from: Some(a.clone()),
            to: Some(b.clone()),
        }),
    }
}

fn with_ids(list: &[Value]) -> bool {
    !list.is_empty()
        && list
            .iter()
            .all(|v| v.get("id").and_then(Value::as_str).is_some())
}

/// The top-level field a change is in (`files[…]` → `files`).
pub fn top_field(change: &FieldChange) -> &str {
    let end = change.field.find(['.', '[']).unwrap_or(change.field.len());
    &change.field[..end]
}

/// Whether these changes make a major version.
pub fn is_major(changes: &[FieldChange]) -> bool {
    changes.iter().any(|c| MAJOR_FIELDS.contains(&top_field(c)))
}

/// One line naming what changed, for the list of versions.
pub fn summary(changes: &[FieldChange]) -> String {
    let mut fields: Vec<&str> = Vec::new();
    for c in changes {
        let f = top_field(c);
        if !fields.contains(&f) {
            fields.push(f);
        }
    }
    if fields.is_empty() {
        "No change to the content.".into()
    } else {
        format!("Changed: {}.", fields.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn labels() {
        assert_eq!(Label::parse("1.0"), Some(Label::FIRST));
        assert_eq!(
            Label::parse("12.34").map(|l| l.to_string()).as_deref(),
            Some("12.34")
        );
        for bad in [
            "",
            "1",
            "1.",
            ".1",
            "01.0",
            "1.00",
            "0.1",
            "-1.0",
            "1.0.0",
            "a.b",
            "1.2x",
            "9999999999.0",
        ] {
            assert_eq!(Label::parse(bad), None, "{bad}");
        }
        assert_eq!(Label::FIRST.next(false).to_string(), "1.1");
        assert_eq!(Label::parse("1.4").unwrap().next(true).to_string(), "2.0");
    }

    #[test]
    fn differences_field_by_field() {
        let a = map(json!({
            "title": "A", "tags": ["x"], "doi": null,
            "datasheet": {"motivation": "m", "uses": "u"},
            "files": [{"id": "f1", "name": "a.csv"}, {"id": "f2", "name": "b.csv"}]
        }));
        let b = map(json!({
            "title": "B", "tags": ["x"], "doi": "10.1234/x",
            "datasheet": {"motivation": "m2", "uses": "u"},
            "files": [{"id": "f2", "name": "b.csv"}, {"id": "f3", "name": "c.csv"}]
        }));
        let d = diff(&a, &b);
        let got: Vec<(&str, ChangeKind)> = d.iter().map(|c| (c.field.as_str(), c.change)).collect();
        assert_eq!(
            got,
            [
                ("datasheet.motivation", ChangeKind::Changed),
                ("doi", ChangeKind::Added),
                ("files[f1]", ChangeKind::Removed),
                ("files[f3]", ChangeKind::Added),
                ("title", ChangeKind::Changed),
            ]
        );
        assert!(is_major(&d), "a file change is major");
        assert_eq!(summary(&d), "Changed: datasheet, doi, files, title.");
        let minor = diff(&map(json!({"title": "A"})), &map(json!({"title": "B"})));
        assert!(!is_major(&minor));
        assert!(diff(&a, &a).is_empty());
        assert_eq!(summary(&[]), "No change to the content.");
    }
}

/// What answers, with a `410 Gone`, for a withdrawn resource or version:
/// enough to resolve a citation and know why it is gone, never the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"id": "0190f7a8-54c1-7cc2-9d23-fb0a4a0c8f31", "kind": "dataset", "title": "Kiswahili radio speech", "institution": "uon", "institution_name": "University of Nairobi", "version": "1.2", "citation": "University of Nairobi. (2026). Kiswahili radio speech (Version 1.2) [Dataset]. Kujenga. https://kujenga.example.org/api/v1/datasets/0190f7a8-54c1-7cc2-9d23-fb0a4a0c8f31", "reason": "Consent withdrawn by the speakers' community.", "deaccessioned_at": "2026-12-12T09:30:00Z", "whole": true}))]
pub struct Tombstone {
    #[schema(format = "uuid")]
    pub id: String,
    pub kind: crate::domain::resource::ResourceKind,
    pub title: String,
    /// The owning institution's slug.
    pub institution: String,
    pub institution_name: String,
    /// The withdrawn version (`1.2`); for a whole resource, its latest.
    pub version: Option<String>,
    /// How to cite what was withdrawn (APA), as it was when withdrawn.
    pub citation: String,
    /// Why its owners withdrew it.
    pub reason: String,
    pub deaccessioned_at: DateTime<Utc>,
    /// The whole resource was withdrawn (not one version of it).
    pub whole: bool,
}
