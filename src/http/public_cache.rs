//! The anonymous catalogue cache: rendered public answers kept in memory
//! until anything changes.
//!
//! Most catalogue traffic is anonymous and repetitive (the first page of a
//! collection, a popular dataset, the same search typed by many learners),
//! and an anonymous answer depends on nothing but the request and the data.
//! So an anonymous `GET` under `/api/v1` whose handler marked its `200` answer
//! `Cache-Control: public` (see [`crate::http::etag::public_read`]) is kept —
//! status, headers and bytes — and served again for the same request while
//! the data has not changed. `If-None-Match` is answered from the entry
//! (304). Signed-in requests never read or fill it: their answers depend on
//! the caller.
//!
//! **When the data changes** is a generation number ([`crate::db::generation`]),
//! part of every entry's key: an entry is served only while the generation
//! it was rendered under is still the current one. The generation moves
//! - after every committed write transaction of this process
//!   ([`crate::db::write_transaction`]), and after every request of another
//!   method than `GET`/`HEAD`/`OPTIONS` (whatever its outcome), so a reader
//!   that asks after a write's answer never gets an answer from before it;
//! - after a migration run by this process;
//! - when [`poll`], every `http.public_cache_poll_ms`, sees the database
//!   changed by anyone ([`crate::db::change_marker`]): writes by other
//!   processes on the same database — another instance behind a load
//!   balancer, a `kujenga` command, a migration — are seen within that
//!   interval.
//!
//! The generation is read *before* the handler runs and stored with the
//! entry: a write that commits while an answer is being rendered moves the
//! generation after its commit, so that answer is stored under the old
//! number and never served.
//!
//! Identical requests that arrive while the first one is being rendered
//! wait for its answer (one rendering per key and generation, not one per
//! request: a burst on a new search costs one search). An answer that is not
//! kept is remembered as such for that generation, so those requests then go
//! to their handler in parallel.
//!
//! Memory is bounded by `http.public_cache_mib` (answers weighed by their
//! bytes; 0 turns the cache off), evicted by quick_cache's CLOCK-Pro policy.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use bytes::Bytes;

use crate::db;

/// One kept answer, or the note that this request's answer is not kept
/// (not a public 200: the handler answers each time, in parallel).
#[derive(Clone)]
enum Entry {
    Answer {
        status: StatusCode,
        headers: Arc<HeaderMap>,
        body: Bytes,
    },
    Pass,
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<String, Entry> for Weigh {
    fn weight(&self, key: &String, entry: &Entry) -> u64 {
        // Bytes, plus a rough share for the headers and the bookkeeping.
        let body = match entry {
            Entry::Answer { body, .. } => body.len(),
            Entry::Pass => 0,
        };
        (key.len() + body + 256) as u64
    }
}

/// The cache, shared by the server's workers.
#[derive(Clone)]
pub struct PublicCache(Option<Arc<quick_cache::sync::Cache<String, Entry, Weigh>>>);

/// Answers larger than this are not kept (a 100-item page of full records
/// is ~300 kB; a runaway answer must not flush everything else).
const MAX_ENTRY_BYTES: usize = 1024 * 1024;

impl std::fmt::Debug for PublicCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicCache")
            .field("entries", &self.0.as_ref().map(|c| c.len()))
            .finish()
    }
}

impl PublicCache {
    /// A cache of at most `mib` MiB; 0 turns it off.
    pub fn new(mib: u32) -> Self {
        if mib == 0 {
            return Self(None);
        }
        let bytes = u64::from(mib) * 1024 * 1024;
        // quick_cache sizes its tables from an estimate of the item count.
        let items = usize::try_from(bytes / 8192).unwrap_or(1024).max(64);
        Self(Some(Arc::new(quick_cache::sync::Cache::with_weighter(
            items, bytes, Weigh,
        ))))
    }

    /// Whether the cache is on.
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }
}

/// Whether `req` may be answered from the cache (or fill it).
fn cacheable(req: &ServiceRequest) -> bool {
    req.method() == Method::GET
        && !req.headers().contains_key(header::AUTHORIZATION)
        // Conditional requests other than If-None-Match, and ranges, go
        // to the handler.
        && !req.headers().contains_key(header::IF_MATCH)
        && !req.headers().contains_key(header::IF_MODIFIED_SINCE)
        && !req.headers().contains_key(header::RANGE)
}

/// What the answer depends on: the data's generation, the target and the
/// headers a handler may read to choose a representation. Entries of older
/// generations are never asked for again and age out.
fn key(req: &ServiceRequest, generation: u64) -> String {
    let h = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
    let (accept, language, host) = (
        h(header::ACCEPT),
        h(header::ACCEPT_LANGUAGE),
        h(header::HOST),
    );
    // No Accept and "anything" ask for the same representation.
    let accept = if accept.trim() == "*/*" { "" } else { accept };
    let mut k =
        String::with_capacity(target.len() + accept.len() + language.len() + host.len() + 24);
    k.push_str(&generation.to_string());
    k.push('\n');
    for part in [target, accept, language, host] {
        k.push_str(part);
        k.push('\n');
    }
    k
}

/// Whether the answer says shared caches may keep it.
fn public(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("public"))
}

/// Weak comparison of `If-None-Match` with the entry's tag.
fn not_modified(req: &ServiceRequest, headers: &HeaderMap) -> bool {
    let (Some(list), Some(tag)) = (
        req.headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok()),
        headers.get(header::ETAG).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let tag = bare(tag);
    list.split(',').any(|t| t.trim() == "*" || bare(t) == tag)
}

fn replay(
    req: ServiceRequest,
    status: StatusCode,
    headers: &HeaderMap,
    body: &Bytes,
) -> ServiceResponse<BoxBody> {
    let unchanged = not_modified(&req, headers);
    let mut res = if unchanged {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::build(status).body(body.clone())
    };
    for (name, value) in headers.iter() {
        if unchanged && (name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH) {
            continue;
        }
        res.headers_mut().append(name.clone(), value.clone());
    }
    req.into_response(res)
}

/// The middleware: see the module's documentation.
pub async fn public_cache(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let cache = req
        .app_data::<web::Data<PublicCache>>()
        .and_then(|c| c.0.clone());
    let Some(cache) = cache.filter(|_| cacheable(&req)) else {
        let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let res = next.call(req).await;
        if !safe {
            // Whatever it did, it may have changed the data.
            db::bump_generation();
        }
        return res.map(ServiceResponse::map_into_boxed_body);
    };
    // The generation is read before anything is rendered: an answer
    // rendered while a write commits is filed under the older one.
    let key = key(&req, db::generation());
    // The first request for a key renders it; the same requests arriving
    // meanwhile wait for its answer instead of all doing the same work.
    let guard = match cache.get_value_or_guard_async(&key).await {
        Ok(Entry::Answer {
            status,
            headers,
            body,
        }) => return Ok(replay(req, status, &headers, &body)),
        Ok(Entry::Pass) => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body);
        }
        Err(guard) => guard,
    };
    let res = next.call(req).await?;
    if res.status() == StatusCode::NOT_MODIFIED {
        // The caller's If-None-Match matched: says nothing about whether a
        // whole answer would be kept. The next request renders it.
        drop(guard);
        return Ok(res.map_into_boxed_body());
    }
    if res.status() != StatusCode::OK || !public(res.headers()) {
        let _ = guard.insert(Entry::Pass);
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    // Handlers answer with bytes in memory; anything else is not kept.
    let body = match body.try_into_bytes() {
        Ok(bytes) if bytes.len() <= MAX_ENTRY_BYTES => bytes,
        Ok(bytes) => {
            let _ = guard.insert(Entry::Pass);
            return Ok(ServiceResponse::new(
                req,
                head.set_body(BoxBody::new(bytes)),
            ));
        }
        Err(body) => {
            let _ = guard.insert(Entry::Pass);
            return Ok(ServiceResponse::new(req, head.set_body(BoxBody::new(body))));
        }
    };
    let mut headers = head.headers().clone();
    headers.remove(header::CONTENT_LENGTH);
    let _ = guard.insert(Entry::Answer {
        status: head.status(),
        headers: Arc::new(headers),
        body: body.clone(),
    });
    let res = head.set_body(BoxBody::new(body));
    Ok(ServiceResponse::new(req, res))
}

/// Moves the generation when the database changes under other processes'
/// hands (another instance, a `kujenga` command, a migration): asks
/// [`db::change_marker`] every `every` on a connection of its own. Runs until
/// the server stops; a failed connection is opened again at the next tick.
pub async fn poll(manager: Arc<db::ConnectionManager>, every: Duration) {
    let mut conn: Option<db::DbConnection> = None;
    let mut last: Option<String> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let manager = manager.clone();
        let taken = conn.take();
        let polled = tokio::task::spawn_blocking(move || {
            let mut c = match taken {
                Some(c) => c,
                None => manager.establish().ok()?,
            };
            let marker = db::change_marker(&mut c).ok()?;
            Some((c, marker))
        })
        .await;
        let Ok(Some((c, marker))) = polled else {
            continue;
        };
        conn = Some(c);
        if last.as_ref().is_some_and(|l| *l != marker) {
            db::bump_generation();
        }
        last = Some(marker);
    }
}
