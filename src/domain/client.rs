//! Client apps — the partner frontends an admin registers — as validated
//! settings: the link bases emailed links may use (no open redirect: only a
//! registered base is ever put into an email), the browser origins CORS
//! lets in, and whether their sign-ins keep the refresh token in a cookie;
//! and the CSRF rule of those cookie sessions. Pure rules, no I/O.

use crate::domain::field::{Code, FieldError, Invalid};

/// At most this many link bases per app.
pub const MAX_LINK_BASES: usize = 10;
/// At most this many origins per app.
pub const MAX_ORIGINS: usize = 20;
/// The longest link base or origin accepted.
pub const MAX_URL_CHARS: usize = 500;

/// An app's settings, every field valid (also the payload of its events).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientSettings {
    pub name: String,
    /// Normalised (no trailing `/`); the first is the default.
    #[serde(rename = "allowed_link_bases")]
    pub link_bases: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub cookie_sessions: bool,
}

/// What a create or (merged) update asks for, unvalidated. `link_base` is
/// the one-base shorthand of `allowed_link_bases`; both at once is an error.
#[derive(Debug, Clone, Default)]
pub struct ClientDraft {
    pub name: String,
    pub link_base: Option<String>,
    pub allowed_link_bases: Option<Vec<String>>,
    pub allowed_origins: Vec<String>,
    pub cookie_sessions: bool,
}

/// Validates a draft: every problem one field error.
pub fn validate(draft: &ClientDraft) -> Result<ClientSettings, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = parse_name(&draft.name)
        .map_err(|e| errors.push(e.at("name")))
        .unwrap_or_default();
    let (field, raw_bases): (&str, Vec<String>) =
        match (&draft.link_base, &draft.allowed_link_bases) {
            (Some(_), Some(_)) => {
                errors.push(
                    Invalid::new(
                        Code::Inconsistent,
                        "Give `link_base` or `allowed_link_bases`, not both.",
                    )
                    .other("allowed_link_bases")
                    .at("link_base"),
                );
                ("link_base", Vec::new())
            }
            (Some(one), None) => ("link_base", vec![one.clone()]),
            (None, Some(list)) => {
                if list.is_empty() {
                    errors.push(
                        Invalid::new(Code::TooFew, "Give at least one link base.")
                            .min(1)
                            .at("allowed_link_bases"),
                    );
                }
                ("allowed_link_bases", list.clone())
            }
            (None, None) => {
                errors.push(FieldError::new(
                    "allowed_link_bases",
                    Code::Required,
                    "Give at least one link base (or `link_base`).",
                ));
                ("allowed_link_bases", Vec::new())
            }
        };
    let link_bases = parse_list(
        field,
        &raw_bases,
        MAX_LINK_BASES,
        parse_link_base,
        &mut errors,
    );
    let allowed_origins = parse_list(
        "allowed_origins",
        &draft.allowed_origins,
        MAX_ORIGINS,
        parse_origin,
        &mut errors,
    );
    if draft.cookie_sessions && draft.allowed_origins.is_empty() {
        errors.push(
            Invalid::new(
                Code::TooFew,
                "Cookie sessions need at least one allowed origin (the CSRF check compares with them).",
            )
            .min(1)
            .other("cookie_sessions")
            .at("allowed_origins"),
        );
    }
    if errors.is_empty() {
        Ok(ClientSettings {
            name,
            link_bases,
            allowed_origins,
            cookie_sessions: draft.cookie_sessions,
        })
    } else {
        Err(errors)
    }
}

/// Parses each entry of a list (`field[i]` names a bad one), refusing
/// duplicates and lists longer than `max`.
fn parse_list(
    field: &str,
    raw: &[String],
    max: usize,
    parse: fn(&str) -> Result<String, Invalid>,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    if raw.len() > max {
        errors.push(Invalid::too_many(max, format!("At most {max} entries.")).at(field));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for (i, item) in raw.iter().enumerate() {
        // The shorthand `link_base` is one value, not a list.
        let path = if field == "link_base" {
            field.to_string()
        } else {
            format!("{field}[{i}]")
        };
        match parse(item) {
            Ok(v) if out.contains(&v) => {
                errors.push(FieldError::new(path, Code::Duplicate, "Listed twice."))
            }
            Ok(v) => out.push(v),
            Err(e) => errors.push(e.at(path)),
        }
    }
    out
}

/// A display name: 1–100 characters once trimmed, no control characters.
pub fn parse_name(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    let message = "Give the app a name of 1–100 characters.";
    if name.is_empty() {
        return Err(Invalid::required(message));
    }
    if name.chars().count() > 100 {
        return Err(Invalid::too_long(100, message));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::new(Code::ControlCharacters, message));
    }
    Ok(name.to_string())
}

/// Whether plain `http` is acceptable for this host: loopback only.
fn is_local(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn secure_scheme(url: &url::Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && is_local(url))
}

/// A link base: an absolute `https` URL (`http` only for localhost), no
/// user info, query or fragment, a path of plain characters only (it goes
/// into HTML attributes of emails). Returned as `url` serialises it,
/// without a trailing `/`: links are `<base>/verify-email?token=…`.
pub fn parse_link_base(raw: &str) -> Result<String, Invalid> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(Invalid::too_long(
            MAX_URL_CHARS,
            format!("At most {MAX_URL_CHARS} characters."),
        ));
    }
    let bad = |m: &str| Invalid::format("link_base", m);
    let url = url::Url::parse(raw).map_err(|_| {
        bad(&format!(
            "`{raw}` is not an absolute URL such as https://app.example.org."
        ))
    })?;
    if !secure_scheme(&url) || url.host().is_none() {
        return Err(bad(
            "A link base is an https URL (http only for localhost).",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("A link base carries no user name or password."));
    }
    if url.query().is_some() {
        return Err(bad("A link base has no query: the links add their own."));
    }
    if url.fragment().is_some() || raw.contains('#') {
        return Err(bad("A link base has no fragment (`#…`)."));
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~/%".contains(c);
    if !url.path().chars().all(plain) {
        return Err(bad(
            "A link base's path has only letters, digits and `-._~/%` (percent-encode the rest).",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// A browser origin, exactly as browsers send it: `scheme://host[:port]`
/// with a lowercase host and no default port; `https` (`http` only for
/// localhost).
pub fn parse_origin(raw: &str) -> Result<String, Invalid> {
    let not_origin = || {
        Invalid::format(
            "origin",
            format!(
                "`{raw}` is not an origin like https://app.example.org (scheme, host and port only)."
            ),
        )
    };
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(Invalid::too_long(
            MAX_URL_CHARS,
            format!("At most {MAX_URL_CHARS} characters."),
        ));
    }
    let url = url::Url::parse(raw).map_err(|_| not_origin())?;
    if !secure_scheme(&url) {
        return Err(Invalid::format(
            "origin",
            "An origin is https (http only for localhost).",
        ));
    }
    if url.origin().ascii_serialization() != raw {
        return Err(not_origin());
    }
    Ok(raw.to_string())
}

/// Which of a client's link bases an emailed link uses: the one named (it
/// must be registered), else the first.
pub fn choose_link_base(bases: &[String], named: Option<&str>) -> Result<String, Invalid> {
    match named {
        None => bases
            .first()
            .cloned()
            .ok_or_else(|| Invalid::new(Code::NotFound, "The client app has no link base.")),
        Some(raw) => {
            let wanted = parse_link_base(raw)?;
            bases
                .iter()
                .find(|b| **b == wanted)
                .cloned()
                .ok_or_else(|| {
                    Invalid::not_allowed(
                        bases,
                        "This link base is not registered for the client app.",
                    )
                })
        }
    }
}

// ----- CSRF ------------------------------------------------------------------

/// What a request carries against cross-site request forgery, when it uses
/// the refresh-token cookie.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsrfProof<'a> {
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Referer` header (read only without `Origin`).
    pub referer: Option<&'a str>,
    /// The `X-CSRF-Token` header.
    pub header_token: Option<&'a str>,
    /// The `kj_csrf` cookie.
    pub cookie_token: Option<&'a str>,
}

/// Why a cookie request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfFailure {
    /// Neither `Origin` nor a readable `Referer`.
    NoOrigin,
    /// The origin is not one of the client app's allowed origins.
    ForeignOrigin,
    /// The `X-CSRF-Token` header or the `kj_csrf` cookie is missing.
    NoToken,
    /// The header and the cookie differ, or the token is not this session's.
    TokenMismatch,
}

impl CsrfFailure {
    pub fn message(self) -> &'static str {
        match self {
            Self::NoOrigin => {
                "A request that uses the session cookie must carry an Origin (or Referer) header."
            }
            Self::ForeignOrigin => {
                "The request's origin is not one of the client app's allowed origins."
            }
            Self::NoToken => {
                "A request that uses the session cookie must echo the kj_csrf cookie in an \
                 X-CSRF-Token header."
            }
            Self::TokenMismatch => {
                "The X-CSRF-Token header does not match this session's kj_csrf cookie."
            }
        }
    }
}

/// The origin check, then the double submit: the header must equal the
/// cookie. Returns the token, for the caller to compare with the session's.
pub fn check_csrf<'a>(
    allowed_origins: &[String],
    proof: &CsrfProof<'a>,
) -> Result<&'a str, CsrfFailure> {
    let origin = match (proof.origin, proof.referer) {
        (Some(o), _) => o.to_string(),
        (None, Some(r)) => url::Url::parse(r)
            .map(|u| u.origin().ascii_serialization())
            .map_err(|_| CsrfFailure::NoOrigin)?,
        (None, None) => return Err(CsrfFailure::NoOrigin),
    };
    if !allowed_origins.contains(&origin) {
        return Err(CsrfFailure::ForeignOrigin);
    }
    let (Some(header), Some(cookie)) = (
        proof.header_token.filter(|t| !t.is_empty()),
        proof.cookie_token.filter(|t| !t.is_empty()),
    ) else {
        return Err(CsrfFailure::NoToken);
    };
    if !same(header.as_bytes(), cookie.as_bytes()) {
        return Err(CsrfFailure::TokenMismatch);
    }
    Ok(header)
}

/// Equality in time independent of where the inputs differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What an anonymous or signed-in request names to pick its emailed links'
/// base: a client app, and optionally one of its bases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkChoice {
    pub client_id: String,
    pub link_base: Option<String>,
}

impl LinkChoice {
    /// From a request's optional `client_id` and `link_base` (which needs
    /// the former).
    pub fn from_fields(
        client_id: Option<String>,
        link_base: Option<String>,
    ) -> Result<Option<Self>, FieldError> {
        match (client_id, link_base) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(Invalid::new(
                Code::Inconsistent,
                "Name the client app (`client_id`) whose link base this is.",
            )
            .other("client_id")
            .at("link_base")),
            (Some(client_id), link_base) => Ok(Some(Self {
                client_id,
                link_base,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_bases() {
        let ok: &[(&str, &str)] = &[
            ("https://learn.example.org", "https://learn.example.org"),
            ("https://learn.example.org/", "https://learn.example.org"),
            (
                "https://Learn.Example.org/app/",
                "https://learn.example.org/app",
            ),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://127.0.0.1:8081/x", "http://127.0.0.1:8081/x"),
            ("http://[::1]:5173", "http://[::1]:5173"),
            (
                "https://example.org:8443/a-b_c~d",
                "https://example.org:8443/a-b_c~d",
            ),
            // Quotes and spaces end up percent-encoded: safe in attributes.
            (
                "https://example.org/a\"b c",
                "https://example.org/a%22b%20c",
            ),
        ];
        for (raw, want) in ok {
            assert_eq!(parse_link_base(raw).as_deref(), Ok(*want), "{raw}");
        }
        let bad = [
            "learn.example.org",
            "/relative/path",
            "http://learn.example.org",
            "ftp://learn.example.org",
            "javascript:alert(1)",
            "https://user:pw@learn.example.org",
            "https://user@learn.example.org",
            "https://learn.example.org/#/home",
            "https://learn.example.org/#",
            "https://learn.example.org/?next=x",
            "https://learn.example.org/a'b",
            "data:text/html,hi",
            "",
        ];
        for raw in bad {
            assert!(parse_link_base(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn origins() {
        for ok in [
            "https://app.example.org",
            "https://app.example.org:8443",
            "http://localhost:3000",
        ] {
            assert_eq!(parse_origin(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "https://app.example.org/",
            "https://App.example.org",
            "https://app.example.org:443",
            "https://app.example.org/path",
            "http://app.example.org",
            "app.example.org",
            "null",
            "*",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    fn draft() -> ClientDraft {
        ClientDraft {
            name: "Learn Kenya".into(),
            link_base: Some("https://learn.example.ke/".into()),
            allowed_link_bases: None,
            allowed_origins: vec!["https://learn.example.ke".into()],
            cookie_sessions: true,
        }
    }

    #[test]
    fn drafts() {
        let s = validate(&draft()).unwrap();
        assert_eq!(s.link_bases, ["https://learn.example.ke"]);
        let fields = |d: ClientDraft| -> Vec<String> {
            validate(&d)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(ClientDraft {
                allowed_link_bases: Some(vec!["https://a.org".into()]),
                ..draft()
            }),
            ["link_base"]
        );
        assert_eq!(
            fields(ClientDraft {
                link_base: None,
                ..draft()
            }),
            ["allowed_link_bases"]
        );
        assert_eq!(
            fields(ClientDraft {
                link_base: None,
                allowed_link_bases: Some(vec![]),
                ..draft()
            }),
            ["allowed_link_bases"]
        );
        assert_eq!(
            fields(ClientDraft {
                link_base: None,
                allowed_link_bases: Some(vec![
                    "https://a.org".into(),
                    "http://b.org".into(),
                    "https://a.org/".into()
                ]),
                ..draft()
            }),
            ["allowed_link_bases[1]", "allowed_link_bases[2]"]
        );
        assert_eq!(
            fields(ClientDraft {
                allowed_origins: vec![],
                ..draft()
            }),
            ["allowed_origins"]
        );
        assert_eq!(
            fields(ClientDraft {
                name: "  ".into(),
                link_base: Some("nope".into()),
                allowed_origins: vec!["https://x.org/".into()],
                ..draft()
            }),
            ["name", "link_base", "allowed_origins[0]"]
        );
        // Without cookie sessions no origin is needed.
        assert!(
            validate(&ClientDraft {
                allowed_origins: vec![],
                cookie_sessions: false,
                ..draft()
            })
            .is_ok()
        );
    }

    #[test]
    fn the_chosen_base_is_a_registered_one() {
        let bases = vec!["https://a.org".to_string(), "https://b.org/app".to_string()];
        assert_eq!(choose_link_base(&bases, None).unwrap(), "https://a.org");
        assert_eq!(
            choose_link_base(&bases, Some("https://b.org/app/")).unwrap(),
            "https://b.org/app"
        );
        assert!(choose_link_base(&bases, Some("https://evil.org")).is_err());
        assert!(choose_link_base(&bases, Some("https://b.org")).is_err());
        assert!(choose_link_base(&[], None).is_err());
    }

    #[test]
    fn csrf() {
        let allowed = vec!["https://app.example.org".to_string()];
        let good = CsrfProof {
            origin: Some("https://app.example.org"),
            referer: None,
            header_token: Some("t0k"),
            cookie_token: Some("t0k"),
        };
        assert_eq!(check_csrf(&allowed, &good), Ok("t0k"));
        let cases: &[(CsrfProof, CsrfFailure, &str)] = &[
            (
                CsrfProof {
                    origin: None,
                    ..good
                },
                CsrfFailure::NoOrigin,
                "no origin, no referer",
            ),
            (
                CsrfProof {
                    origin: Some("https://evil.example"),
                    ..good
                },
                CsrfFailure::ForeignOrigin,
                "foreign origin",
            ),
            (
                CsrfProof {
                    origin: Some("null"),
                    ..good
                },
                CsrfFailure::ForeignOrigin,
                "opaque origin",
            ),
            (
                CsrfProof {
                    origin: None,
                    referer: Some("https://evil.example/app.example.org"),
                    ..good
                },
                CsrfFailure::ForeignOrigin,
                "foreign referer",
            ),
            (
                CsrfProof {
                    origin: None,
                    referer: Some("not a url"),
                    ..good
                },
                CsrfFailure::NoOrigin,
                "unreadable referer",
            ),
            (
                CsrfProof {
                    header_token: None,
                    ..good
                },
                CsrfFailure::NoToken,
                "no header",
            ),
            (
                CsrfProof {
                    cookie_token: None,
                    ..good
                },
                CsrfFailure::NoToken,
                "no cookie",
            ),
            (
                CsrfProof {
                    header_token: Some(""),
                    cookie_token: Some(""),
                    ..good
                },
                CsrfFailure::NoToken,
                "empty both",
            ),
            (
                CsrfProof {
                    header_token: Some("other"),
                    ..good
                },
                CsrfFailure::TokenMismatch,
                "mismatch",
            ),
        ];
        for (proof, want, case) in cases {
            assert_eq!(check_csrf(&allowed, proof), Err(*want), "{case}");
        }
        // The Referer stands in for a missing Origin.
        let via_referer = CsrfProof {
            origin: None,
            referer: Some("https://app.example.org/settings?x=1"),
            ..good
        };
        assert_eq!(check_csrf(&allowed, &via_referer), Ok("t0k"));
    }

    #[test]
    fn link_choices() {
        assert_eq!(LinkChoice::from_fields(None, None), Ok(None));
        assert_eq!(
            LinkChoice::from_fields(None, Some("https://a.org".into()))
                .unwrap_err()
                .field,
            "link_base"
        );
        assert!(
            LinkChoice::from_fields(Some("c".into()), None)
                .unwrap()
                .is_some()
        );
    }
}
