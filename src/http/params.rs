//! Strict query strings: a request whose query names a parameter its
//! operation does not take, or gives a single-valued parameter more than
//! once, is answered 400 before the handler runs — one `errors` entry per
//! parameter, naming the ones the operation takes. A typo (`?stauts=draft`)
//! never silently widens a list.
//!
//! What each operation takes is read once, at start, from the OpenAPI
//! document the service publishes ([`QueryRules::from_document`]): a
//! parameter a handler reads is accepted only when it is documented, so
//! the document and the service cannot drift apart. Per request: nothing
//! when the query string is empty; otherwise the matched route's pattern,
//! one hash lookup and one pass over the query.

use std::collections::HashMap;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use serde_json::Value;

use crate::error::{ApiError, FieldCode, FieldError, Invalid};

/// The query parameters of every documented operation.
#[derive(Debug, Default)]
pub struct QueryRules {
    /// Route template with each `{parameter}` written `{}` (the document and
    /// the router may name path parameters differently) → its operations.
    paths: HashMap<String, Vec<(Method, Vec<Param>)>>,
}

/// One documented query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    name: String,
    /// An array parameter may be given several times (`form`, exploded).
    repeatable: bool,
    /// An example of several values in one parameter (`course,dataset`),
    /// offered when the parameter is repeated.
    comma_example: Option<String>,
}

impl QueryRules {
    /// Reads every operation's query parameters (its own and its path
    /// item's) from an OpenAPI 3 document.
    pub fn from_document(doc: &Value) -> Self {
        let mut paths: HashMap<String, Vec<(Method, Vec<Param>)>> = HashMap::new();
        let Some(items) = doc.get("paths").and_then(Value::as_object) else {
            return Self::default();
        };
        for (template, item) in items {
            let Some(item) = item.as_object() else {
                continue;
            };
            let shared = item.get("parameters").and_then(Value::as_array);
            for (method, op) in item {
                let Some(method) = operation_method(method) else {
                    continue;
                };
                let own = op.get("parameters").and_then(Value::as_array);
                let mut params: Vec<Param> = Vec::new();
                for p in shared.into_iter().chain(own).flatten() {
                    if p.get("in").and_then(Value::as_str) != Some("query") {
                        continue;
                    }
                    let Some(name) = p.get("name").and_then(Value::as_str) else {
                        continue;
                    };
                    let param = Param::read(doc, name, p);
                    match params.iter_mut().find(|known| known.name == name) {
                        // An operation's own parameter overrides its path item's.
                        Some(known) => *known = param,
                        None => params.push(param),
                    }
                }
                paths
                    .entry(template_key(template))
                    .or_default()
                    .push((method, params));
            }
        }
        Self { paths }
    }

    /// Checks a request's query against its operation. `pattern` is the
    /// matched route's pattern (`/api/v1/courses/{id}`); `HEAD` is checked
    /// as `GET`. A method the document does not list at that path is left
    /// to the router (405); a path missing from the document takes no query
    /// parameters.
    pub fn check(&self, method: &Method, pattern: &str, query: &str) -> Result<(), ApiError> {
        if query.is_empty() {
            return Ok(());
        }
        let method = if *method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let params: &[Param] = match self.paths.get(&template_key(pattern)) {
            Some(ops) => match ops.iter().find(|(m, _)| m == method) {
                Some((_, params)) => params,
                None => return Ok(()),
            },
            None => &[],
        };
        // (name, times given, documented)
        let mut seen: Vec<(String, usize, Option<&Param>)> = Vec::new();
        for (name, _) in form_urlencoded::parse(query.as_bytes()) {
            match seen.iter_mut().find(|(n, _, _)| *n == name) {
                Some((_, times, _)) => *times += 1,
                None => {
                    let known = params.iter().find(|p| p.name == name);
                    seen.push((name.into_owned(), 1, known));
                }
            }
        }
        let mut unknown = Vec::new();
        let mut repeated = Vec::new();
        let mut errors = Vec::new();
        for (name, times, known) in &seen {
            match known {
                None => {
                    errors.push(unknown_error(name, params));
                    unknown.push(name.as_str());
                }
                Some(p) if *times > 1 && !p.repeatable => {
                    errors.push(repeated_error(p, *times));
                    repeated.push(name.as_str());
                }
                Some(_) => {}
            }
        }
        if errors.is_empty() {
            return Ok(());
        }
        Err(ApiError::Validation {
            detail: detail(&unknown, &repeated),
            errors,
        })
    }
}

impl Param {
    fn read(doc: &Value, name: &str, p: &Value) -> Self {
        let schema = p.get("schema").map(|s| resolve(doc, s));
        let repeatable = schema.is_some_and(|s| match s.get("type") {
            Some(Value::String(t)) => t == "array",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
            _ => false,
        });
        let example = p
            .get("example")
            .or_else(|| schema.and_then(|s| s.get("example")))
            .and_then(Value::as_str)
            .filter(|e| e.contains(','));
        let described = p
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.to_ascii_lowercase().contains("comma"));
        let comma_example = match example {
            Some(e) => Some(e.to_string()),
            None if described => Some("a,b".to_string()),
            None => None,
        };
        Self {
            name: name.to_string(),
            repeatable,
            comma_example,
        }
    }
}

/// The schema a `$ref` stands for (or the schema itself).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/"))
        .and_then(|r| doc.pointer(&format!("/{r}")))
        .unwrap_or(schema)
}

fn operation_method(key: &str) -> Option<Method> {
    match key {
        "get" => Some(Method::GET),
        "put" => Some(Method::PUT),
        "post" => Some(Method::POST),
        "delete" => Some(Method::DELETE),
        "options" => Some(Method::OPTIONS),
        "head" => Some(Method::HEAD),
        "patch" => Some(Method::PATCH),
        "trace" => Some(Method::TRACE),
        _ => None,
    }
}

/// A route template with every `{…}` (an actix pattern's may hold a
/// regular expression with braces of its own) written `{}`.
fn template_key(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut depth = 0usize;
    for c in template.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str("{}");
                }
                depth += 1;
            }
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn names(params: &[Param]) -> String {
    params
        .iter()
        .map(|p| format!("`{}`", p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_error(name: &str, params: &[Param]) -> FieldError {
    let takes = if params.is_empty() {
        "This endpoint takes no query parameters.".to_string()
    } else {
        format!("This endpoint takes: {}.", names(params))
    };
    let allowed: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    if name.is_empty() {
        return Invalid::new(
            FieldCode::UnknownField,
            format!("A query parameter has no name. {takes}"),
        )
        .allowed(&allowed)
        .at("query");
    }
    Invalid::new(
        FieldCode::UnknownField,
        format!("Unknown query parameter. {takes}"),
    )
    .allowed(&allowed)
    .at(name)
}

fn repeated_error(p: &Param, times: usize) -> FieldError {
    let several = match &p.comma_example {
        Some(example) => format!(
            " Several values go in one parameter, separated by commas (`{}={example}`).",
            p.name
        ),
        None => String::new(),
    };
    Invalid::new(
        FieldCode::Repeated,
        format!("Given {times} times; this parameter takes one value.{several}"),
    )
    .max(1)
    .at(p.name.clone())
}

fn detail(unknown: &[&str], repeated: &[&str]) -> String {
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    match unknown.len() {
        0 => {}
        1 => parts.push(format!("Unknown query parameter {}.", list(unknown))),
        _ => parts.push(format!("Unknown query parameters: {}.", list(unknown))),
    }
    match repeated.len() {
        0 => {}
        1 => parts.push(format!(
            "Query parameter {} is given more than once.",
            list(repeated)
        )),
        _ => parts.push(format!(
            "Query parameters given more than once: {}.",
            list(repeated)
        )),
    }
    parts.join(" ")
}

/// Middleware (around the `/api/v1` scope): refuses what
/// [`QueryRules::check`] refuses, before the handler runs. Wrap it with a
/// closure that passes the rules built at start.
pub async fn strict_query(
    rules: &QueryRules,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !req.query_string().is_empty()
        && let Some(pattern) = req.match_pattern()
        && let Err(error) = rules.check(req.method(), &pattern, req.query_string())
    {
        return Ok(req.error_response(error).map_into_boxed_body());
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> QueryRules {
        QueryRules::from_document(&json!({
            "paths": {
                "/api/v1/things": {
                    "get": {"parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                        {"name": "kind", "in": "query", "example": "course,dataset",
                         "schema": {"type": "string"}},
                        {"name": "fields", "in": "query",
                         "description": "Comma-separated fields.", "schema": {"type": "string"}},
                        {"name": "tag", "in": "query", "schema": {"$ref": "#/components/schemas/Tags"}},
                        {"name": "X-Thing", "in": "header", "schema": {"type": "string"}},
                    ]},
                    "post": {},
                },
                "/api/v1/things/{thing_id}/parts/{part}": {
                    "parameters": [{"name": "lang", "in": "query", "schema": {"type": "string"}}],
                    "get": {"parameters": [
                        {"name": "thing_id", "in": "path", "schema": {"type": "string"}},
                    ]},
                },
            },
            "components": {"schemas": {"Tags": {"type": "array", "items": {"type": "string"}}}},
        }))
    }

    fn fields(result: Result<(), ApiError>) -> Vec<(String, String)> {
        match result {
            Ok(()) => Vec::new(),
            Err(ApiError::Validation { errors, .. }) => {
                errors.into_iter().map(|e| (e.field, e.message)).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn documented_parameters_pass() {
        let r = rules();
        for query in [
            "",
            "limit=5",
            "limit=5&kind=course,dataset&fields=title",
            "tag=a&tag=b",
            "limit",
        ] {
            assert_eq!(
                fields(r.check(&Method::GET, "/api/v1/things", query)),
                vec![],
                "{query}"
            );
        }
        assert!(r.check(&Method::HEAD, "/api/v1/things", "limit=1").is_ok());
    }

    #[test]
    fn each_unknown_parameter_is_named_once_with_the_allowed_ones() {
        let r = rules();
        let got = fields(r.check(
            &Method::GET,
            "/api/v1/things",
            "limit=1&bogus=1&stauts=x&bogus=2",
        ));
        let named: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(named, ["bogus", "stauts"]);
        assert_eq!(
            got[0].1,
            "Unknown query parameter. This endpoint takes: `limit`, `kind`, `fields`, `tag`."
        );
        match r.check(&Method::GET, "/api/v1/things", "bogus=1&x=2") {
            Err(ApiError::Validation { detail, .. }) => {
                assert_eq!(detail, "Unknown query parameters: `bogus`, `x`.");
            }
            other => panic!("{other:?}"),
        }
        // A header parameter is no query parameter.
        assert_eq!(
            fields(r.check(&Method::GET, "/api/v1/things", "X-Thing=1"))[0].0,
            "X-Thing"
        );
        // Percent-encoded names are decoded first.
        assert_eq!(
            fields(r.check(&Method::GET, "/api/v1/things", "li%6Dit=1&b%20x=1")),
            vec![(
                "b x".to_string(),
                "Unknown query parameter. This endpoint takes: `limit`, `kind`, `fields`, `tag`."
                    .to_string()
            )]
        );
        let nameless = fields(r.check(&Method::GET, "/api/v1/things", "=1"));
        assert_eq!(nameless[0].0, "query");
    }

    #[test]
    fn operations_without_query_parameters_take_none() {
        let r = rules();
        let got = fields(r.check(&Method::POST, "/api/v1/things", "limit=1"));
        assert_eq!(
            got,
            vec![(
                "limit".to_string(),
                "Unknown query parameter. This endpoint takes no query parameters.".to_string()
            )]
        );
        // Not in the document at all: strict too.
        assert_eq!(
            fields(r.check(&Method::GET, "/api/v1/elsewhere", "a=1"))[0].0,
            "a"
        );
        // A method the path does not document is left to the router (405).
        assert!(r.check(&Method::DELETE, "/api/v1/things", "a=1").is_ok());
    }

    #[test]
    fn a_single_valued_parameter_given_twice_is_refused() {
        let r = rules();
        let got = fields(r.check(&Method::GET, "/api/v1/things", "limit=1&limit=2"));
        assert_eq!(
            got,
            vec![(
                "limit".to_string(),
                "Given 2 times; this parameter takes one value.".to_string()
            )]
        );
        let got = fields(r.check(&Method::GET, "/api/v1/things", "kind=course&kind=dataset"));
        assert_eq!(
            got[0].1,
            "Given 2 times; this parameter takes one value. Several values go in one \
             parameter, separated by commas (`kind=course,dataset`)."
        );
        let got = fields(r.check(&Method::GET, "/api/v1/things", "fields=a&fields=b&fields=c"));
        assert!(got[0].1.starts_with("Given 3 times"), "{got:?}");
        assert!(got[0].1.contains("`fields=a,b`"), "{got:?}");
        match r.check(&Method::GET, "/api/v1/things", "limit=1&limit=2&zz=1") {
            Err(ApiError::Validation { detail, errors }) => {
                assert_eq!(
                    detail,
                    "Unknown query parameter `zz`. Query parameter `limit` is given more than once."
                );
                assert_eq!(errors.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn path_parameters_match_whatever_they_are_called() {
        let r = rules();
        for pattern in [
            "/api/v1/things/{id}/parts/{part_id}",
            "/api/v1/things/{id:[0-9a-f]{8}}/parts/{p}",
        ] {
            assert!(
                r.check(&Method::GET, pattern, "lang=sw").is_ok(),
                "{pattern}"
            );
            assert_eq!(
                fields(r.check(&Method::GET, pattern, "lang=sw&limit=1"))[0].0,
                "limit"
            );
        }
        assert_eq!(template_key("/a/{x:\\d{3}}/b/{y}"), "/a/{}/b/{}");
        assert_eq!(template_key("/a/b"), "/a/b");
    }
}
