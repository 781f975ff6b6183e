//! Request body and query extractors whose errors are problem details
//! naming the offending field.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldCode, FieldError, Invalid};

/// The largest accepted request body, shared through app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// How long a client may take to send a whole request body (408 beyond).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// A JSON request body. Rejects a non-JSON content type (415), a body over
/// the limit (413), and malformed JSON, wrong types, unknown and missing
/// fields (400 with `errors: [{field, message}]`).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = body_limit(req);
        let timeout = body_timeout(req);
        let content_type_ok = is_json_content_type(req);
        let payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "The request body must be JSON (Content-Type: application/json).".into(),
                ));
            }
            let bytes = read_body(payload, limit, timeout).await?;
            parse_json(&bytes).map(Json)
        })
    }
}

/// A JSON body that may be left out: an empty body (or one of whitespace
/// only, or `null`) is `None`; anything else is read exactly as [`Json`] reads it.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = body_limit(req);
        let timeout = body_timeout(req);
        let content_type_ok = is_json_content_type(req);
        let payload = payload.take();
        Box::pin(async move {
            let bytes = read_body(payload, limit, timeout).await?;
            // No body, or JSON `null` (what a client sends for "no body"
            // when it always sends JSON).
            if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
                return Ok(OptionalJson(None));
            }
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "The request body must be JSON (Content-Type: application/json).".into(),
                ));
            }
            parse_json(&bytes).map(|v| OptionalJson(Some(v)))
        })
    }
}

pub fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<web::Data<BodyLimit>>()
        .map(|l| l.0)
        .unwrap_or(1024 * 1024)
}

pub fn body_timeout(req: &HttpRequest) -> std::time::Duration {
    req.app_data::<web::Data<BodyTimeout>>()
        .map(|t| t.0)
        .unwrap_or(std::time::Duration::from_secs(30))
}

/// `application/json` or any `+json` type; a missing type is accepted as
/// JSON (clients such as curl omit it).
fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads the whole body, failing with 413 as soon as it passes `limit` and
/// with 408 (closing the connection) when it has not all arrived within
/// `timeout`.
pub async fn read_body(
    payload: Payload,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<web::Bytes, ApiError> {
    tokio::time::timeout(timeout, read_all(payload, limit))
        .await
        .map_err(|_| ApiError::RequestTimeout)?
}

async fn read_all(mut payload: Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => ApiError::PayloadTooLarge { limit },
            other => ApiError::BadRequest(format!("The request body could not be read: {other}")),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses JSON, turning serde's message into a field error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Err(ApiError::field(
            "$",
            FieldCode::InvalidJson,
            "The request body is empty; a JSON object is required.",
        ));
    };
    // Every request body is an object; serde would otherwise read a
    // top-level array as the fields of a struct in order.
    if *first != b'{' {
        return Err(ApiError::field(
            "$",
            FieldCode::InvalidJson,
            "The request body must be a JSON object.",
        ));
    }
    // Control characters and duplicate keys, before anything reads a value.
    crate::http::text::check_json(bytes).map_err(|e| ApiError::validation(vec![e]))?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = path_string(e.path());
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => data_error(&path, &inner.to_string()),
            _ => ApiError::field(
                "$",
                FieldCode::InvalidJson,
                format!("The request body is not valid JSON: {inner}."),
            ),
        }
    })?;
    de.end().map_err(|e| {
        ApiError::field(
            "$",
            FieldCode::InvalidJson,
            format!("The request body is not valid JSON: {e}."),
        )
    })?;
    Ok(value)
}

/// Parses a query string the same way (a missing query counts as empty).
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = path_string(e.path());
        data_error(&path, &e.into_inner().to_string())
    })
}

/// Path parameters that do not parse (`/courses/not-a-uuid`) answer 400
/// problem+json, not actix's plain-text 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _| {
        ApiError::BadRequest(format!("Invalid path parameter: {err}.")).into()
    })
}

/// actix's own `web::Query` (should a handler use it) answers problem+json too.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        ApiError::BadRequest(format!("Invalid query parameter: {err}.")).into()
    })
}

/// A query string extractor with field-naming errors.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

fn path_string(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

fn join(path: &str, field: &str) -> String {
    // serde_path_to_error already ends the path with an unknown field's name.
    if !field.is_empty() && (path == field || path.ends_with(&format!(".{field}"))) {
        return path.to_string();
    }
    match (path.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => path.to_string(),
        (false, false) => format!("{path}.{field}"),
    }
}

/// The text between the first pair of backticks.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Every backticked word after `after` in serde's message (`expected one
/// of `a`, `b``).
fn quoted_list(message: &str, after: &str) -> Vec<String> {
    let Some((_, rest)) = message.split_once(after) else {
        return Vec::new();
    };
    rest.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The JSON type serde's `expected …` names (`a string`, `u32`, `struct X`).
fn json_type(expected: &str) -> &'static str {
    let e = expected.to_ascii_lowercase();
    let integer = [
        "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "usize", "isize",
    ];
    if e.contains("string") || e.contains("char") || e.contains("str") && !e.contains("struct") {
        "string"
    } else if e.contains("bool") {
        "boolean"
    } else if e.contains("integer")
        || integer
            .iter()
            .any(|t| e.split_whitespace().any(|w| w == *t))
    {
        "integer"
    } else if e.contains("f32") || e.contains("f64") || e.contains("number") || e.contains("float")
    {
        "number"
    } else if e.contains("sequence")
        || e.contains("list")
        || e.contains("array")
        || e.contains("tuple")
    {
        "list"
    } else if e.contains("struct") || e.contains("map") || e.contains("object") {
        "object"
    } else {
        "value"
    }
}

fn data_error(path: &str, message: &str) -> ApiError {
    // serde_json appends the position; the field path says more.
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let here = || {
        if path.is_empty() {
            "$".to_string()
        } else {
            path.to_string()
        }
    };
    let error = if message.starts_with("unknown field") {
        let name = quoted(message).unwrap_or("");
        let expected = message
            .split_once(", expected ")
            .map(|(_, rest)| format!(" Expected {rest}."))
            .unwrap_or_default();
        Invalid::new(
            FieldCode::UnknownField,
            format!("This field is not allowed.{expected}"),
        )
        .allowed(&quoted_list(message, ", expected "))
        .at(join(path, name))
    } else if message.starts_with("duplicate field") {
        // Only a query string can repeat a name: bodies with duplicate keys
        // are refused before they are read (`text::check_json`).
        let name = quoted(message).unwrap_or("");
        Invalid::new(
            FieldCode::Repeated,
            "Given more than once; this parameter takes one value.",
        )
        .max(1)
        .at(join(path, name))
    } else if message.starts_with("missing field") {
        let name = quoted(message).unwrap_or("");
        FieldError::new(
            join(path, name),
            FieldCode::Required,
            "This field is required.",
        )
    } else if message.starts_with("unknown variant") {
        Invalid::not_allowed(
            &quoted_list(message, "expected "),
            format!("Invalid value: {message}."),
        )
        .at(here())
    } else if let Some(rest) = message.strip_prefix("invalid type: ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        Invalid::new(FieldCode::WrongType, format!("Invalid value: {message}."))
            .expected(json_type(expected))
            .at(here())
    } else if message.starts_with("invalid value: integer")
        || message.starts_with("invalid value: floating point")
        || message.contains("out of range")
    {
        FieldError::new(
            here(),
            FieldCode::OutOfRange,
            format!("Invalid value: {message}."),
        )
    } else {
        // Custom messages of typed values (ids, dates, times) and
        // serde's `invalid value`/`invalid length`.
        FieldError::new(
            here(),
            FieldCode::InvalidFormat,
            format!("Invalid value: {message}."),
        )
    };
    ApiError::validation(vec![error])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        motivation: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        count: u32,
        #[serde(default)]
        datasheet: Option<Inner>,
        #[serde(default)]
        tags: Vec<String>,
    }

    fn field_of(result: Result<Body, ApiError>) -> (String, String) {
        match result {
            Err(ApiError::Validation { errors, .. }) => {
                (errors[0].field.clone(), errors[0].message.clone())
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"{"title": "a", "count": "x"}"#, "count", "wrong type"),
            (r#"{"title": "a"}"#, "count", "missing field"),
            (
                r#"{"title": "a", "count": 1, "extra": true}"#,
                "extra",
                "unknown field",
            ),
            (
                r#"{"title": "a", "count": 1, "datasheet": {"motivation": 3}}"#,
                "datasheet.motivation",
                "nested wrong type",
            ),
            (
                r#"{"title": "a", "count": 1, "datasheet": {"nope": ""}}"#,
                "datasheet.nope",
                "nested unknown field",
            ),
            (
                r#"{"title": "a", "count": 1, "tags": ["x", 2]}"#,
                "tags[1]",
                "array item",
            ),
            (
                r#"{"title": "a", "count": -1}"#,
                "count",
                "negative for u32",
            ),
            (r#"{"title": "a", "#, "$", "truncated JSON"),
            (r#"not json"#, "$", "not JSON at all"),
            (r#""#, "$", "empty body"),
            (
                r#"{"title": "a", "count": 1} trailing"#,
                "$",
                "trailing characters",
            ),
            (
                r#"[1, 2]"#,
                "$",
                "array for an object: serde reads it as a tuple",
            ),
            (r#"[]"#, "$", "empty array for an object"),
        ];
        for (body, field, case) in cases {
            let (got, message) = field_of(parse_json::<Body>(body.as_bytes()));
            assert_eq!(&got, field, "{case}: {message}");
            assert!(
                !message.contains(" at line ") || *field == "$",
                "{case}: {message}"
            );
        }
    }

    #[test]
    fn valid_json_parses() {
        let b: Body = parse_json(br#"{"title": "a", "count": 2, "tags": ["x"]}"#).unwrap();
        assert_eq!(b.count, 2);
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<u32>,
        status: Option<String>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let q: Q = parse_query("limit=5&status=active&other=1").unwrap();
        assert_eq!(q.limit, Some(5));
        match parse_query::<Q>("limit=abc") {
            Err(ApiError::Validation { errors, .. }) => assert_eq!(errors[0].field, "limit"),
            other => panic!("{other:?}"),
        }
        match parse_query::<Q>("status=a&limit=1&limit=2") {
            Err(ApiError::Validation { errors, .. }) => {
                assert_eq!(errors[0].field, "limit");
                assert_eq!(
                    errors[0].message,
                    "Given more than once; this parameter takes one value."
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
