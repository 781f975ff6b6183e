//! Cursor pagination: `limit` (default 20, max 100) and an opaque `cursor`;
//! answers `{items, next_cursor}` plus an RFC 8288 `Link: <…>; rel="next"`.
//!
//! A handler parses [`PageQuery`] into a [`Page<K>`] (`K` is its keyset,
//! e.g. `(created_at, id)`), fetches `page.fetch_limit()` rows after
//! `page.after`, and hands them to [`Paginated::from_rows`].

use actix_web::{HttpRequest, HttpResponse, ResponseError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, FieldCode, Invalid};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// The paging part of a list's query string. Extract it with its own
/// `Query<PageQuery>` next to the list's `Query<Filters>` (both read the same
/// query string): `#[serde(flatten)]` breaks typed query fields.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Items per page, 1–100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<K> {
    pub limit: usize,
    /// The keyset of the last item of the previous page.
    pub after: Option<K>,
}

impl<K> Page<K> {
    /// Rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::try_from(self.limit)
            .unwrap_or(i64::MAX)
            .saturating_add(1)
    }
}

impl PageQuery {
    pub fn parse<K: DeserializeOwned>(&self) -> Result<Page<K>, ApiError> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(Invalid::new(
                        FieldCode::OutOfRange,
                        format!("Must be a whole number from 1 to {MAX_LIMIT}."),
                    )
                    .min(1)
                    .max(MAX_LIMIT)
                    .at("limit")
                    .into());
                }
            },
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(decode_cursor(raw).ok_or_else(|| {
                Invalid::format("cursor", "Not a cursor this list gave out.").at("cursor")
            })?),
        };
        Ok(Page { limit, after })
    }
}

/// Encodes a keyset as an opaque cursor.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    let json = serde_json::to_vec(key).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor<K: DeserializeOwned>(raw: &str) -> Option<K> {
    if raw.len() > 1024 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Paginated<T> {
    /// Builds a page from up to `page.fetch_limit()` rows, taking the
    /// cursor from the last item kept.
    pub fn from_rows<K: Serialize, P>(
        mut rows: Vec<T>,
        page: &Page<P>,
        key: impl Fn(&T) -> K,
    ) -> Self {
        let next_cursor = if rows.len() > page.limit {
            rows.truncate(page.limit);
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// Pages a list held in memory, sorted ascending by `key`: the items
    /// after the cursor, up to the page size.
    pub fn from_sorted<K: Serialize + PartialOrd>(
        items: Vec<T>,
        page: &Page<K>,
        key: impl Fn(&T) -> K,
    ) -> Self {
        let rows: Vec<T> = items
            .into_iter()
            .filter(|item| page.after.as_ref().is_none_or(|after| key(item) > *after))
            .take(usize::try_from(page.fetch_limit()).unwrap_or(usize::MAX))
            .collect();
        Self::from_rows(rows, page, key)
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paginated<U> {
        Paginated {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

impl<T: Serialize> Paginated<T> {
    /// The JSON response, with a `Link` header when there is a next page
    /// and a weak ETag (`If-None-Match` → 304).
    pub fn respond(&self, req: &HttpRequest) -> HttpResponse {
        self.respond_with(req, serde_json::Map::new())
    }

    /// The JSON response with `extra` top-level fields besides the page's.
    pub fn respond_with(
        &self,
        req: &HttpRequest,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> HttpResponse {
        let body = if extra.is_empty() {
            serde_json::to_vec(self)
        } else {
            let mut value = serde_json::to_value(self).unwrap_or_default();
            if let serde_json::Value::Object(map) = &mut value {
                map.extend(extra);
            }
            serde_json::to_vec(&value)
        };
        let link = self
            .next_cursor
            .as_ref()
            .map(|cursor| next_link(req.path(), req.query_string(), cursor));
        match body {
            Ok(body) => crate::http::etag::respond_weak(req, body, link),
            Err(e) => ApiError::internal(e).error_response(),
        }
    }
}

/// `<path?query with cursor replaced>; rel="next"`.
pub fn next_link(path: &str, query: &str, cursor: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k != "cursor" {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair("cursor", cursor);
    format!("<{path}?{}>; rel=\"next\"", out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header;

    fn q(limit: Option<&str>, cursor: Option<&str>) -> PageQuery {
        PageQuery {
            limit: limit.map(Into::into),
            cursor: cursor.map(Into::into),
        }
    }

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(q(None, None).parse::<i64>().unwrap().limit, 20);
        assert_eq!(q(Some("100"), None).parse::<i64>().unwrap().limit, 100);
        assert_eq!(q(Some("1"), None).parse::<i64>().unwrap().limit, 1);
        for bad in ["0", "101", "-1", "abc", "1.5", ""] {
            match q(Some(bad), None).parse::<i64>() {
                Err(ApiError::Validation { errors, .. }) => assert_eq!(errors[0].field, "limit"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let key = ("2026-11-28T10:00:00Z".to_string(), "0193-abc".to_string());
        let c = encode_cursor(&key);
        let page = q(None, Some(&c)).parse::<(String, String)>().unwrap();
        assert_eq!(page.after, Some(key));
        for bad in ["!!!", "bm90IGpzb24", &"A".repeat(2000)] {
            match q(None, Some(bad)).parse::<(String, String)>() {
                Err(ApiError::Validation { errors, .. }) => assert_eq!(errors[0].field, "cursor"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn pages_walk_a_list_without_gaps_or_repeats() {
        let all: Vec<i64> = (1..=45).collect();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = q(Some("20"), cursor.as_deref()).parse::<i64>().unwrap();
            let rows: Vec<i64> = all
                .iter()
                .copied()
                .filter(|v| page.after.is_none_or(|a| *v > a))
                .take(usize::try_from(page.fetch_limit()).unwrap())
                .collect();
            let p = Paginated::from_rows(rows, &page, |v| *v);
            seen.extend(p.items.iter().copied());
            pages += 1;
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, all);
        assert_eq!(pages, 3);
    }

    #[test]
    fn exact_multiple_has_no_empty_last_page() {
        let page = q(Some("2"), None).parse::<i64>().unwrap();
        let p = Paginated::from_rows(vec![1, 2], &page, |v| *v);
        assert_eq!(p.next_cursor, None);
    }

    #[test]
    fn link_keeps_filters_and_replaces_cursor() {
        let link = next_link(
            "/api/v1/resources",
            "q=maize+yield&limit=5&cursor=old",
            "NEW",
        );
        assert_eq!(
            link,
            "</api/v1/resources?q=maize+yield&limit=5&cursor=NEW>; rel=\"next\""
        );
    }

    #[actix_web::test]
    async fn response_carries_link_header_only_when_more() {
        let req = actix_web::test::TestRequest::get()
            .uri("/api/v1/things?limit=1")
            .to_http_request();
        let more = Paginated {
            items: vec![1],
            next_cursor: Some("abc".into()),
        };
        let res = more.respond(&req);
        assert_eq!(
            res.headers().get(header::LINK).unwrap(),
            "</api/v1/things?limit=1&cursor=abc>; rel=\"next\""
        );
        let last = Paginated {
            items: vec![1],
            next_cursor: None,
        };
        assert!(last.respond(&req).headers().get(header::LINK).is_none());
    }
}
