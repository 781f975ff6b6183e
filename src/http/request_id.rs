//! The request id: taken from `X-Request-Id` when the client sends a sane
//! one, generated (UUIDv7) otherwise; echoed on the response and carried
//! by every log line of the request.

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The request id, stored in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Reuses the client's id if it is 1–128 characters of `[A-Za-z0-9._:-]`.
pub fn from_request(req: &ServiceRequest) -> String {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

pub fn is_acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    CURRENT.scope(id, fut).await
}

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

pub fn attach(req: &ServiceRequest, id: &str) {
    req.extensions_mut().insert(RequestId(id.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_sane_ids() {
        assert!(is_acceptable("abc-123_x.y:z"));
        assert!(!is_acceptable(""));
        assert!(!is_acceptable("a b"));
        assert!(!is_acceptable("<script>"));
        assert!(!is_acceptable(&"a".repeat(129)));
    }

    #[tokio::test]
    async fn current_is_scoped() {
        assert_eq!(current(), None);
        let inner = scope("r1".into(), async { current() }).await;
        assert_eq!(inner.as_deref(), Some("r1"));
    }
}
