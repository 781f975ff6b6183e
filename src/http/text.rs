//! One rule for all text that enters the service: path segments, query
//! parameters and JSON body strings (keys too) may not hold C0 control
//! characters (U+0000–U+001F). Tab, line feed and carriage return are
//! allowed only in the multi-line fields named in [`MULTI_LINE_FIELDS`].
//!
//! The rule is applied at extraction, before any handler or database call:
//! the URI by the [`refuse_control_in_uri`] middleware, bodies by
//! [`check_json`] (called by the JSON extractor). Both backends therefore
//! answer the same 400 (PostgreSQL rejects NUL in text, SQLite would store
//! it). The same walk over a body also refuses duplicate object keys (JSON
//! parsers disagree on which one wins).
//!
//! The OpenAPI document states the rule too: `api::openapi_json` gives every
//! free-text string a pattern from [`SINGLE_LINE_PATTERN`] or
//! [`MULTI_LINE_PATTERN`].

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{ApiError, FieldCode, FieldError};

/// Body fields (by key, at any depth) that hold Markdown or prose over
/// several lines: tab, LF and CR are allowed in them, and only in them —
/// these, the datasheet's sections and a model card's prose sections.
pub const MULTI_LINE_FIELDS: &[&str] = &[
    "summary",
    "description",
    "prerequisites",
    "content",
    "goals",
    "purpose",
    "note",
    "decision_note",
];

/// A JSON Schema pattern for one line of text: no C0 control character.
pub const SINGLE_LINE_PATTERN: &str = "^[^\\u0000-\\u001F]*$";
/// A JSON Schema pattern for multi-line text: tab, LF and CR allowed.
pub const MULTI_LINE_PATTERN: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F]*$";

/// Whether the body field `key` may span several lines.
pub fn is_multi_line(key: &str) -> bool {
    use crate::domain::resource::{DATASHEET_SECTIONS, MODEL_CARD_SECTIONS};
    [MULTI_LINE_FIELDS, DATASHEET_SECTIONS, MODEL_CARD_SECTIONS]
        .iter()
        .any(|fields| fields.contains(&key))
}

/// The first forbidden character of `s`, if any.
pub fn forbidden_char(s: &str, multi_line: bool) -> Option<char> {
    s.chars()
        .find(|&c| c < '\u{20}' && !(multi_line && matches!(c, '\t' | '\n' | '\r')))
}

/// The message for a forbidden character.
pub fn forbidden_message(c: char, multi_line: bool) -> String {
    let allowed = if multi_line {
        " (tab, line feed and carriage return are allowed here)"
    } else {
        ""
    };
    format!(
        "Control characters are not allowed{allowed}; found U+{:04X}.",
        u32::from(c)
    )
}

/// Checks one text value.
pub fn check(field: &str, s: &str, multi_line: bool) -> Result<(), FieldError> {
    match forbidden_char(s, multi_line) {
        Some(c) => Err(FieldError::new(
            field,
            FieldCode::ControlCharacters,
            forbidden_message(c, multi_line),
        )),
        None => Ok(()),
    }
}

// ----- the URI ----------------------------------------------------------------

/// Decodes `%XX` escapes (not `+`), lossy on invalid UTF-8.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The first control character in the request's path or query, as a field
/// error naming the path parameter (from the matched route) or the query
/// parameter.
pub fn check_uri(path: &str, pattern: Option<&str>, query: &str) -> Result<(), FieldError> {
    let names: Vec<&str> = pattern.map(|p| p.split('/').collect()).unwrap_or_default();
    for (i, segment) in path.split('/').enumerate() {
        let decoded = percent_decode(segment);
        if let Some(c) = forbidden_char(&decoded, false) {
            let field = names
                .get(i)
                .and_then(|n| n.strip_prefix('{'))
                .and_then(|n| n.split(['}', ':']).next())
                .filter(|n| !n.is_empty())
                .unwrap_or("path");
            return Err(FieldError::new(
                field,
                FieldCode::ControlCharacters,
                forbidden_message(c, false),
            ));
        }
    }
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        check("query", &key, false)?;
        check(&key, &value, false)?;
    }
    Ok(())
}

/// Paths whose handler applies the rule to its query itself and answers a
/// breach in its own protocol's way: OAI-PMH answers every error, bad text
/// included, as a 200 XML `badArgument` (`domain::oai::read_arguments`).
pub const OWN_TEXT_RULE: &[&str] = &["/oai"];

/// Middleware: a request whose path or query holds a control character is
/// answered 400 before routing reaches a handler (except on the exact
/// paths of [`OWN_TEXT_RULE`]).
pub async fn refuse_control_in_uri(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if OWN_TEXT_RULE.contains(&req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let pattern = req.match_pattern();
    if let Err(error) = check_uri(req.path(), pattern.as_deref(), req.query_string()) {
        let error = ApiError::validation(vec![error]);
        return Ok(req.error_response(error).map_into_boxed_body());
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

// ----- JSON bodies ------------------------------------------------------------

/// Walks a JSON document once: every string (keys included) against the
/// rule for its field, and every object for duplicate keys. Returns the
/// first problem found, with its path (`datasheet.motivation`, `tags[2]`).
pub fn check_json(bytes: &[u8]) -> Result<(), FieldError> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let walk = Walk {
        path: String::new(),
        multi_line: false,
        found: &found,
    };
    // Syntax errors are left to the typed parse, which reports them.
    let _ = walk.deserialize(&mut de);
    match found.into_inner() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

struct Walk<'a> {
    path: String,
    multi_line: bool,
    found: &'a RefCell<Option<FieldError>>,
}

impl Walk<'_> {
    fn fail<E: de::Error>(&self, error: FieldError) -> E {
        *self.found.borrow_mut() = Some(error);
        E::custom("refused")
    }

    fn field(&self) -> &str {
        if self.path.is_empty() {
            "$"
        } else {
            &self.path
        }
    }

    fn string<E: de::Error>(&self, s: &str) -> Result<(), E> {
        check(self.field(), s, self.multi_line).map_err(|e| self.fail(e))
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.string(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let item = Walk {
                path: format!("{}[{index}]", self.path),
                multi_line: self.multi_line,
                found: self.found,
            };
            if seq.next_element_seed(item)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if let Some(c) = forbidden_char(&key, false) {
                return Err(self.fail(FieldError::new(
                    self.field(),
                    FieldCode::ControlCharacters,
                    format!(
                        "A field name may not hold control characters; found U+{:04X}.",
                        u32::from(c)
                    ),
                )));
            }
            if !seen.insert(key.clone()) {
                return Err(self.fail(FieldError::new(
                    path,
                    FieldCode::Repeated,
                    "This field appears more than once in the object.",
                )));
            }
            let value = Walk {
                multi_line: is_multi_line(&key),
                path,
                found: self.found,
            };
            map.next_value_seed(value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_character_rule() {
        let cases: &[(&str, bool, bool, &str)] = &[
            ("plain text", false, true, "ordinary text"),
            ("a\u{0}b", false, false, "NUL"),
            ("a\u{0}b", true, false, "NUL in a multi-line field"),
            ("a\u{1}b", true, false, "SOH"),
            ("a\u{1b}[31m", true, false, "escape"),
            ("a\u{1f}", false, false, "unit separator"),
            ("a\tb", false, false, "tab on one line"),
            ("a\nb", false, false, "LF on one line"),
            ("a\rb", false, false, "CR on one line"),
            (
                "a\tb\r\nc",
                true,
                true,
                "tab and CRLF in a multi-line field",
            ),
            ("a\u{7f}b", false, true, "DEL is not C0"),
            ("Kiswahili — ñ 中文 🙂", false, true, "Unicode"),
        ];
        for (text, multi, ok, case) in cases {
            assert_eq!(forbidden_char(text, *multi).is_none(), *ok, "{case}");
        }
    }

    #[test]
    fn bodies_are_walked_with_paths() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (r#"{"title": "ok", "description": "a\nb"}"#, None, "prose"),
            (r#"{"title": "a\u0000"}"#, Some("title"), "NUL"),
            (r#"{"title": "a\nb"}"#, Some("title"), "LF in a title"),
            (
                r#"{"datasheet": {"motivation": "x\n", "uses": "\u0001"}}"#,
                Some("datasheet.uses"),
                "nested",
            ),
            (r#"{"tags": ["a", "b\u0000"]}"#, Some("tags[1]"), "array"),
            (r#"{"a": 1, "a": 2}"#, Some("a"), "duplicate key"),
            (
                r#"{"d": {"x": 1, "y": {"x": 2}, "x": 3}}"#,
                Some("d.x"),
                "nested duplicate",
            ),
            (r#"{"x": 1, "y": {"x": 2}}"#, None, "same key at two levels"),
            (r#"{"a\u0000": 1}"#, Some("$"), "control in a key"),
            (
                r#"{"results": [{"slice": "\t"}]}"#,
                Some("results[0].slice"),
                "tab",
            ),
            (
                r#"{"broken": "#,
                None,
                "syntax errors are left to the parser",
            ),
        ];
        for (body, field, case) in cases {
            let got = check_json(body.as_bytes()).err().map(|e| e.field);
            assert_eq!(got.as_deref(), *field, "{case}");
        }
    }

    #[test]
    fn uris_name_the_parameter() {
        let cases: &[(&str, Option<&str>, &str, Option<&str>)] = &[
            (
                "/api/v1/institutions/a%00b",
                Some("/api/v1/institutions/{slug}"),
                "",
                Some("slug"),
            ),
            (
                "/api/v1/institutions/ab",
                Some("/api/v1/institutions/{slug}"),
                "",
                None,
            ),
            ("/api/v1/nowhere/%0A", None, "", Some("path")),
            ("/api/v1/resources", None, "tag=%00", Some("tag")),
            ("/api/v1/resources", None, "q=a+b&tag=x%09", Some("tag")),
            ("/api/v1/resources", None, "q=a%20b", None),
            ("/api/v1/resources", None, "%01=1", Some("query")),
            ("/api/v1/resources", None, "q=100%", None),
        ];
        for (path, pattern, query, field) in cases {
            let got = check_uri(path, *pattern, query).err().map(|e| e.field);
            assert_eq!(got.as_deref(), *field, "{path}?{query}");
        }
    }
}
