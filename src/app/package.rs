//! A course's offline package (`GET /api/v1/courses/{id}/package`): one zip
//! holding the course's metadata, each module's text and metadata, and a
//! manifest with every module's size and SHA-256.
//!
//! The package is built from the course as its single read shows it (the
//! same policy: a course the caller may not see is a 404) and is
//! deterministic: the same course and modules give the same bytes (fixed
//! entry times and order, no per-caller fields), so its strong `ETag` — the
//! SHA-256 of the bytes — changes exactly when the course or a module
//! changes, and a download interrupted under one tag resumes with `Range`
//! against the same bytes.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use zip::write::SimpleFileOptions;

use crate::app::learning::CourseModule;
use crate::auth::Principal;
use crate::db::DbConnection;
use crate::domain::resource::ResourceKind;
use crate::error::ApiError;

/// The manifest's format name.
pub const FORMAT: &str = "kujenga-course-package/1";

/// `manifest.json`: what the package holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Manifest {
    /// `kujenga-course-package/1`.
    pub format: String,
    pub course_id: String,
    pub title: String,
    /// The course's `version` (its content); modules change the package's
    /// ETag without changing this.
    pub course_version: i64,
    /// `course.json`: the course as `GET /courses/{id}` shows it.
    pub course_path: String,
    pub modules: Vec<ManifestModule>,
}

/// One module in the manifest.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ManifestModule {
    pub id: String,
    pub position: i32,
    pub title: String,
    pub required: bool,
    pub duration_minutes: Option<i32>,
    /// Where the module's metadata is (`modules/NNN-<id>.json`).
    pub metadata_path: String,
    /// Where the module's Markdown text is (`modules/NNN-<id>.md`); `null`
    /// for a module that has only a `content_url`.
    pub content_path: Option<String>,
    /// Size of the text in bytes (0 without one).
    pub content_bytes: u64,
    /// Hex SHA-256 of the text (of the empty string without one).
    pub content_sha256: String,
    /// Content kept elsewhere (video…), not in the package.
    pub content_url: Option<String>,
}

/// A built package.
#[derive(Debug, Clone)]
pub struct Package {
    pub bytes: Vec<u8>,
    /// Strong, quoted.
    pub etag: String,
    pub manifest: Manifest,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The package of course `id` as the caller may see it.
pub fn build(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    id: &str,
) -> Result<Package, ApiError> {
    let course = crate::app::resources::show(
        conn,
        principal,
        ResourceKind::Course,
        id,
        crate::app::resources::Include::default(),
    )?;
    let mut course_json = course.to_json()?;
    if let Value::Object(map) = &mut course_json {
        // Per caller, not part of the course.
        map.remove("permissions");
        map.remove("my_enrollment");
    }
    let title = course_json
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let course_version = course_json
        .get("version")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let (modules, _) = crate::app::learning::modules(conn, principal, id)?;
    render(id, &title, course_version, &course_json, &modules)
}

fn zip_error(e: impl std::error::Error + Send + Sync + 'static) -> ApiError {
    ApiError::internal(anyhow::Error::new(e).context("writing a course package"))
}

/// The zip of a course and its modules.
pub fn render(
    id: &str,
    title: &str,
    course_version: i64,
    course_json: &Value,
    modules: &[CourseModule],
) -> Result<Package, ApiError> {
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut listed = Vec::with_capacity(modules.len());
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for m in modules {
        let stem = format!("modules/{:03}-{}", m.position, m.id);
        let text = m.content.clone().unwrap_or_default();
        let content_path = m.content.as_ref().map(|_| format!("{stem}.md"));
        let metadata_path = format!("{stem}.json");
        files.push((
            metadata_path.clone(),
            serde_json::to_vec_pretty(m).map_err(ApiError::internal)?,
        ));
        if let Some(path) = &content_path {
            files.push((path.clone(), text.as_bytes().to_vec()));
        }
        listed.push(ManifestModule {
            id: m.id.clone(),
            position: m.position,
            title: m.title.clone(),
            required: m.required,
            duration_minutes: m.duration_minutes,
            metadata_path,
            content_path,
            content_bytes: text.len() as u64,
            content_sha256: sha256_hex(text.as_bytes()),
            content_url: m.content_url.clone(),
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        course_id: id.into(),
        title: title.into(),
        course_version,
        course_path: "course.json".into(),
        modules: listed,
    };
    let mut all = vec![
        (
            "manifest.json".to_string(),
            serde_json::to_vec_pretty(&manifest).map_err(ApiError::internal)?,
        ),
        (
            "course.json".to_string(),
            serde_json::to_vec_pretty(course_json).map_err(ApiError::internal)?,
        ),
    ];
    all.extend(files);
    for (name, bytes) in all {
        zip.start_file(name, options).map_err(zip_error)?;
        zip.write_all(&bytes).map_err(zip_error)?;
    }
    let bytes = zip.finish().map_err(zip_error)?.into_inner();
    let etag = format!("\"pkg-{}\"", &sha256_hex(&bytes)[..32]);
    Ok(Package {
        bytes,
        etag,
        manifest,
    })
}

/// A byte range asked for with `Range`, resolved against a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// No (usable) range: the whole body, 200.
    Whole,
    /// `first..=last`, 206.
    Part { first: u64, last: u64 },
    /// 416.
    Unsatisfiable,
}

/// Reads a `Range` header (RFC 9110 §14.2) for a body of `len` bytes. One
/// range is served; several, or a unit other than `bytes`, or a malformed
/// header, are ignored (the whole body, as the RFC allows). The unit is
/// case-insensitive, empty list elements (`bytes=0-9,`) are no ranges, and
/// positions too large for a number still mean what the RFC says: past the
/// end (a first position: 416; a last one: to the end; a suffix: all of it).
pub fn range(header: Option<&str>, len: u64) -> Ranged {
    let Some(h) = header else {
        return Ranged::Whole;
    };
    let h = h.trim();
    let Some(spec) = h
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .and_then(|_| h.get(6..))
    else {
        return Ranged::Whole;
    };
    let mut specs = spec.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return Ranged::Whole;
    };
    let Some((a, b)) = spec.split_once('-') else {
        return Ranged::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    // Digits only; more than a u64 holds is "beyond any length".
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().unwrap_or(u64::MAX))
    };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ranged::Whole,
        // Suffix: the last n bytes.
        (true, false) => match num(b) {
            None => Ranged::Whole,
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part {
                first: len.saturating_sub(n),
                last: len - 1,
            },
        },
        (false, _) => {
            let Some(first) = num(a) else {
                return Ranged::Whole;
            };
            let last = if b.is_empty() {
                None
            } else {
                match num(b) {
                    Some(l) if l >= first => Some(l),
                    _ => return Ranged::Whole,
                }
            };
            if first >= len {
                return Ranged::Unsatisfiable;
            }
            Ranged::Part {
                first,
                last: last.map_or(len - 1, |l| l.min(len - 1)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let cases: [(Option<&str>, Ranged); 28] = [
            (None, Ranged::Whole),
            (Some("bytes=0-9"), Ranged::Part { first: 0, last: 9 }),
            (
                Some("bytes=10-"),
                Ranged::Part {
                    first: 10,
                    last: 99,
                },
            ),
            (
                Some("bytes=90-200"),
                Ranged::Part {
                    first: 90,
                    last: 99,
                },
            ),
            (
                Some("bytes=-5"),
                Ranged::Part {
                    first: 95,
                    last: 99,
                },
            ),
            (Some("bytes=-500"), Ranged::Part { first: 0, last: 99 }),
            (Some("bytes=100-"), Ranged::Unsatisfiable),
            (Some("bytes=-0"), Ranged::Unsatisfiable),
            (Some("bytes=5-2"), Ranged::Whole),
            (Some("bytes=0-1,5-6"), Ranged::Whole),
            (Some("items=0-1"), Ranged::Whole),
            (Some("bytes=x-1"), Ranged::Whole),
            (Some("bytes=-"), Ranged::Whole),
            (Some("BYTES=0-0"), Ranged::Part { first: 0, last: 0 }),
            (
                Some("Bytes=-1"),
                Ranged::Part {
                    first: 99,
                    last: 99,
                },
            ),
            (Some("bytes=0-0,"), Ranged::Part { first: 0, last: 0 }),
            (Some("bytes=,0-0"), Ranged::Part { first: 0, last: 0 }),
            (Some("bytes=,"), Ranged::Whole),
            (Some("bytes="), Ranged::Whole),
            (Some("bytes"), Ranged::Whole),
            (Some("bytesx0-1"), Ranged::Whole),
            (
                Some("bytes=0-99999999999999999999999"),
                Ranged::Part { first: 0, last: 99 },
            ),
            (
                Some("bytes=99999999999999999999999-"),
                Ranged::Unsatisfiable,
            ),
            (
                Some("bytes=99999999999999999999999-99999999999999999999999"),
                Ranged::Unsatisfiable,
            ),
            (
                Some("bytes=-99999999999999999999999"),
                Ranged::Part { first: 0, last: 99 },
            ),
            (Some("bytes=0-1-2"), Ranged::Whole),
            (Some("bytes=+1-2"), Ranged::Whole),
            (Some("bytes=\u{e9}-1"), Ranged::Whole),
        ];
        for (header, want) in cases {
            assert_eq!(range(header, 100), want, "{header:?}");
        }
    }
}
