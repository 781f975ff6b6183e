//! The two cookies of browser sessions (client apps with `cookie_sessions`):
//!
//! - `kj_refresh`: the refresh token; `Secure; HttpOnly; SameSite=Strict;
//!   Path=/api/v1/auth` (only refresh and logout ever receive it);
//! - `kj_csrf`: the session's CSRF token, readable by the page (not
//!   HttpOnly), `Path=/`, echoed in the `X-CSRF-Token` header.
//!
//! Both live as long as a refresh token (`Max-Age`); logout sets them to
//! `Max-Age=0`. Written and read by hand: two fixed names whose values are
//! base64url tokens need no cookie library.

use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};

/// The refresh token's cookie.
pub const REFRESH_COOKIE: &str = "kj_refresh";
/// The CSRF token's cookie (double submit).
pub const CSRF_COOKIE: &str = "kj_csrf";
/// The header that echoes the CSRF cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Where the refresh cookie is sent: the auth endpoints only.
pub const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";

/// The value of cookie `name` in the request's `Cookie` headers (the first
/// one of that name), if it is not empty.
pub fn read(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// The refresh cookie's `Set-Cookie` value.
pub fn refresh_cookie(token: &str, max_age_secs: i64) -> String {
    format!(
        "{REFRESH_COOKIE}={token}; Max-Age={max_age_secs}; Path={REFRESH_COOKIE_PATH}; Secure; \
         HttpOnly; SameSite=Strict"
    )
}

/// The CSRF cookie's `Set-Cookie` value.
pub fn csrf_cookie(token: &str, max_age_secs: i64) -> String {
    format!("{CSRF_COOKIE}={token}; Max-Age={max_age_secs}; Path=/; Secure; SameSite=Strict")
}

fn append(res: &mut HttpResponse, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        res.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Sets both cookies of a browser session.
pub fn set_session(res: &mut HttpResponse, refresh_token: &str, csrf_token: &str, max_age: i64) {
    append(res, refresh_cookie(refresh_token, max_age));
    append(res, csrf_cookie(csrf_token, max_age));
}

/// Clears both cookies (`Max-Age=0`, same attributes).
pub fn clear_session(res: &mut HttpResponse) {
    append(res, refresh_cookie("", 0));
    append(res, csrf_cookie("", 0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn cookies_are_read_by_name() {
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "a=1; kj_refresh=kjr_abc; kj_csrf="))
            .to_http_request();
        assert_eq!(read(&req, REFRESH_COOKIE).as_deref(), Some("kjr_abc"));
        assert_eq!(read(&req, CSRF_COOKIE), None);
        assert_eq!(read(&req, "kj_refresh_x"), None);
    }

    #[test]
    fn attributes() {
        assert_eq!(
            refresh_cookie("kjr_x", 60),
            "kj_refresh=kjr_x; Max-Age=60; Path=/api/v1/auth; Secure; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            csrf_cookie("c", 60),
            "kj_csrf=c; Max-Age=60; Path=/; Secure; SameSite=Strict"
        );
    }
}
