//! HTTP plumbing shared by every endpoint: extractors, middleware and the
//! building blocks for lists, conditional requests and idempotent creates.

pub mod accept;
pub mod cookies;
pub mod cors;
pub mod deadline;
pub mod etag;
pub mod idempotency;
pub mod json;
pub mod metrics;
pub mod observe;
pub mod pagination;
pub mod params;
pub mod private;
pub mod problems;
pub mod public_cache;
pub mod request_id;
pub mod text;
pub mod wire;

use actix_web::http::header::{self, HeaderName};

/// Headers every response carries.
pub const SECURITY_HEADERS: [(HeaderName, &str); 2] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
];
