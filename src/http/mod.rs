//! HTTP plumbing shared by every endpoint: extractors, middleware and the
//! building blocks for lists, conditional requests and idempotent creates.

pub mod etag;
pub mod idempotency;
pub mod json;
pub mod metrics;
pub mod observe;
pub mod pagination;
pub mod problems;
pub mod request_id;
