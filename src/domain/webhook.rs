//! Webhooks without the database or the network: Standard Webhooks 1.0
//! signatures, secrets, the retry schedule, the rule deciding which
//! addresses a delivery may reach (SSRF guard), target URL checks, and the
//! rule deciding which events a subscription receives.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::domain::field::{FieldCode, Invalid};
use crate::domain::resource::Visibility;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The delay before each attempt after the first failed one (Standard
/// Webhooks: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). The
/// first attempt is immediate, so a message has `SCHEDULE.len() + 1`
/// attempts at most.
pub const SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The most attempts one delivery round makes.
pub const MAX_ATTEMPTS: i32 = SCHEDULE.len() as i32 + 1;

/// The longest `Retry-After` honoured (a longer one waits this long).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 3600);

/// The event type of `POST …/webhooks/{id}/ping` (sent whatever the
/// subscription's event types).
pub const PING: &str = "webhook.ping";

/// A subscription's signing secret: `whsec_` + base64 of the key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl Secret {
    /// A new random secret of 32 bytes.
    pub fn generate() -> Self {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self { key }
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Option<Self> {
        let key = STANDARD.decode(text.strip_prefix(SECRET_PREFIX)?).ok()?;
        (!key.is_empty()).then_some(Self { key })
    }

    /// The secret as shown once and stored: `whsec_<base64>`.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret in force
/// (during a rotation's overlap, the new one first), space-separated.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The delay before attempt `attempt + 1` after attempt number `attempt`
/// (1-based, within the round) failed; `None` when the round is over.
/// `retry_after` (the receiver's `Retry-After`) lengthens it, up to
/// [`MAX_RETRY_AFTER`]. `scale` multiplies every delay (1.0 in
/// production; tests shorten the clock with it).
pub fn next_delay(attempt: i32, retry_after: Option<Duration>, scale: f64) -> Option<Duration> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    let scheduled = *SCHEDULE.get(index)?;
    let wanted = retry_after.map_or(scheduled, |r| r.min(MAX_RETRY_AFTER).max(scheduled));
    Some(wanted.mul_f64(scale.max(0.0)))
}

/// Whether an answer's status is worth another attempt: 408, 429 and 5xx.
pub fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// Why a target address is refused (the SSRF guard), `None` for a global
/// unicast address a delivery may reach.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified or 'this network' address (0.0.0.0/8)",
        (127, _, _) => "loopback address (127.0.0.0/8)",
        (10, _, _) => "private address (10.0.0.0/8)",
        (172, 16..=31, _) => "private address (172.16.0.0/12)",
        (192, 168, _) => "private address (192.168.0.0/16)",
        (169, 254, _) => "link-local address (169.254.0.0/16)",
        (100, 64..=127, _) => "shared address space, carrier-grade NAT (100.64.0.0/10)",
        (192, 0, 0) => "IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation address",
        (198, 18..=19, _) => "benchmarking address (198.18.0.0/15)",
        (224..=239, _, _) => "multicast address (224.0.0.0/4)",
        (240..=255, _, _) => "reserved or broadcast address (240.0.0.0/4)",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4).map(|_| "IPv4-mapped address of a non-global IPv4 address");
    }
    let s = ip.segments();
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified address (::)",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback address (::1)",
        // IPv4-compatible (deprecated) and other ::/96 forms
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible address (::/96)",
        // NAT64: the embedded IPv4 address decides
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            let v4 = Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
            return forbidden_v4(v4).map(|_| "NAT64 address of a non-global IPv4 address");
        }
        [0x100, 0, 0, 0, ..] => "discard-only address (100::/64)",
        [0x2001, 0xdb8, ..] => "documentation address (2001:db8::/32)",
        [0x2001, 0, ..] => "Teredo address (2001::/32)",
        [0x2002, hi, lo, ..] => {
            let v4 = Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
            return forbidden_v4(v4).map(|_| "6to4 address of a non-global IPv4 address");
        }
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique local address (fc00::/7)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local address (fe80::/10)",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local address (fec0::/10)",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast address (ff00::/8)",
        _ => return None,
    })
}

/// Whether `host` (as in a URL: `[::1]` for IPv6) is in the operator's
/// `webhooks.allowed_insecure_hosts` (case-insensitive; IPv6 with or
/// without brackets).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    allowed.iter().any(|a| {
        let a = a.trim_start_matches('[').trim_end_matches(']');
        a.eq_ignore_ascii_case(bare)
    })
}

/// A target URL that passed the checks that need no network: where to
/// resolve next (`host`) and whether the setting exempts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: url::Url,
    pub host: String,
    pub port: u16,
    /// The host is in `webhooks.allowed_insecure_hosts`: http allowed, no
    /// address rule.
    pub allowed: bool,
    /// The host is a literal address.
    pub literal: Option<IpAddr>,
}

/// Checks a target URL without the network: an absolute `https` URL (or
/// `http` for an allowed host), no user info, at most 2000 characters, and
/// not `localhost` or a non-global literal address (unless allowed).
pub fn parse_target(raw: &str, allowed: &[String]) -> Result<Target, Invalid> {
    if raw.len() > 2000 {
        return Err(Invalid::new(FieldCode::TooLong, "At most 2000 characters.").max(2000));
    }
    let url = url::Url::parse(raw)
        .map_err(|_| Invalid::format("url", "Must be an absolute https URL."))?;
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
        _ => return Err(Invalid::format("url", "Must name a host.")),
    };
    let is_allowed = host_allowed(&host, allowed);
    match url.scheme() {
        "https" => {}
        "http" if is_allowed => {}
        _ => {
            return Err(Invalid::format(
                "url",
                "Must be an https URL (http only for the hosts in the `webhooks.allowed_insecure_hosts` setting).",
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::format(
            "url",
            "Must not carry a user name or password.",
        ));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    if !is_allowed {
        if host == "localhost" || host.ends_with(".localhost") {
            return Err(Invalid::format(
                "url",
                "Refused by the SSRF guard: `localhost` names this machine.",
            ));
        }
        if let Some(reason) = literal.and_then(forbidden_address) {
            return Err(Invalid::format(
                "url",
                format!("Refused by the SSRF guard: the host is a {reason}, not a global address."),
            ));
        }
    }
    let port = url.port_or_known_default().unwrap_or(443);
    Ok(Target {
        url,
        host,
        port,
        allowed: is_allowed,
        literal,
    })
}

/// Checks the addresses a host resolved to: every one must be global
/// (unless the host is allowed). The error names the rule.
pub fn check_resolved(target: &Target, addrs: &[IpAddr]) -> Result<(), String> {
    if target.allowed {
        return Ok(());
    }
    if addrs.is_empty() {
        return Err(format!("{} resolves to no address", target.host));
    }
    for ip in addrs {
        if let Some(reason) = forbidden_address(*ip) {
            return Err(format!(
                "{} resolves to {ip}, a {reason}, not a global address",
                target.host
            ));
        }
    }
    Ok(())
}

/// Who owns a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Institution(String),
    Partnership(String),
}

/// The event types a partnership hook may receive about a resource shared
/// into it: what the resource is and how it changes, never who learns from
/// it or asks for it (enrollments, access requests concern its owner).
pub const SHARED_RESOURCE_EVENTS: &[&str] = &[
    "resource.updated",
    "resource.visibility_changed",
    "resource.published",
    "resource.archived",
    "resource.version_published",
    "resource.deaccessioned",
    "resource.version_deaccessioned",
    "resource.embargo_lifted",
    "resource.retention_ended",
    "module.created",
    "module.updated",
    "module.deleted",
    "dataset.file_added",
    "dataset.file_removed",
];

/// The events anyone may see: a resource entering or leaving the public
/// catalogue (their payload says `"visibility": "public"`).
pub const PUBLIC_EVENTS: &[&str] = &[
    "resource.published",
    "resource.archived",
    "resource.imported",
    "resource.deaccessioned",
];

/// What the visibility rule needs to know of an event.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub event_type: &'a str,
    pub subject_kind: &'a str,
    pub subject_id: &'a str,
    /// The institutions the event concerns (`event_institutions`).
    pub institutions: &'a [String],
    pub payload: &'a serde_json::Value,
}

impl EventFacts<'_> {
    /// A resource entering or leaving the public catalogue.
    pub fn public(&self) -> bool {
        PUBLIC_EVENTS.contains(&self.event_type) && self.payload["visibility"] == "public"
    }
}

/// What the fan-out knows, at the time of the event, of the resource an
/// event is about, for a partnership hook: `None` unless the resource is
/// shared into the partnership, the partnership is active and the
/// resource's own institution is an active member of it (what
/// `db::partnerships::visible_through_partnerships` requires of a reader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedResource {
    /// Not a draft (drafts are their institution's editors' only).
    pub published: bool,
    /// Its institution is verified (an unverified one's resources are its
    /// members' only).
    pub verified: bool,
    /// Its visibility now.
    pub visibility: Visibility,
}

impl SharedResource {
    /// Whether the members of the partnership may see the resource with
    /// `visibility` (`public`, `registered`, `partnership`: yes;
    /// `institution`: its own members only, shared or not).
    fn seen_with(&self, visibility: Visibility) -> bool {
        self.published && self.verified && visibility != Visibility::Institution
    }

    /// Whether the partnership may see the event: the resource as it is
    /// now; for `resource.visibility_changed`, as it was before or is now
    /// (the hook learns that a resource left its view, as the change feed
    /// says `gone`).
    fn shows(&self, event: &EventFacts<'_>) -> bool {
        if self.seen_with(self.visibility) {
            return true;
        }
        event.event_type == "resource.visibility_changed"
            && ["from", "to"].iter().any(|side| {
                event.payload[side]
                    .as_str()
                    .and_then(Visibility::parse)
                    .is_some_and(|v| self.seen_with(v))
            })
    }
}

/// Whether a subscription of `owner` receives the event (the owner may see
/// it). `shared` answers what the partnership knows of the event's
/// resource right now (asked only when it matters; see [`SharedResource`]).
///
/// - an institution hook: events that concern the institution
///   (`event_institutions`), and public catalogue events;
/// - a partnership hook: the partnership's own events (subject = the
///   partnership), and the [`SHARED_RESOURCE_EVENTS`] of a resource shared
///   into it while it is active and its institution an active member, if
///   the partnership's members may see the resource (published, of a
///   verified institution, visibility other than `institution`) —
///   nothing about anything else.
pub fn receives(
    owner: &Owner,
    event: &EventFacts<'_>,
    shared: impl FnOnce() -> Option<SharedResource>,
) -> bool {
    match owner {
        Owner::Institution(id) => event.institutions.iter().any(|i| i == id) || event.public(),
        Owner::Partnership(id) => {
            (event.subject_kind == "partnership" && event.subject_id == id)
                || (event.subject_kind == "resource"
                    && SHARED_RESOURCE_EVENTS.contains(&event.event_type)
                    && shared().is_some_and(|r| r.shows(event)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_test_vector() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(secret.expose(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    }

    #[test]
    fn both_signatures_during_a_rotation() {
        let old = Secret::generate();
        let new = Secret::generate();
        let header = signature_header(&[new.clone(), old.clone()], "msg_1", 5, "{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [new.sign("msg_1", 5, "{}"), old.sign("msg_1", 5, "{}")]
        );
        assert_ne!(parts[0], parts[1]);
        assert!(Secret::parse(&new.expose()).is_some_and(|s| s == new));
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(Secret::parse("whsec_").is_none());
        assert!(!format!("{new:?}").contains(&new.expose()[6..]));
    }

    #[test]
    fn the_schedule() {
        let secs = |a| next_delay(a, None, 1.0).map(|d| d.as_secs());
        let got: Vec<Option<u64>> = (1..=9).map(secs).collect();
        assert_eq!(
            got,
            [5, 300, 1800, 7200, 18000, 36000, 36000]
                .map(Some)
                .into_iter()
                .chain([None, None])
                .collect::<Vec<_>>()
        );
        assert_eq!(MAX_ATTEMPTS, 8);
        // Retry-After lengthens, never shortens, and is capped.
        let ra = |s| Some(Duration::from_secs(s));
        assert_eq!(next_delay(1, ra(60), 1.0), ra(60));
        assert_eq!(next_delay(2, ra(1), 1.0), ra(300));
        assert_eq!(next_delay(1, ra(1_000_000), 1.0), Some(MAX_RETRY_AFTER));
        assert_eq!(next_delay(1, None, 0.001), Some(Duration::from_millis(5)));
        assert_eq!(next_delay(0, None, 1.0), None);
        assert!(retryable(500) && retryable(503) && retryable(429) && retryable(408));
        assert!(!retryable(400) && !retryable(410) && !retryable(302) && !retryable(200));
    }

    #[test]
    fn addresses_of_the_ssrf_guard() {
        let refused = [
            "127.0.0.1",
            "127.8.9.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001:db8::1",
            "::127.0.0.1",
        ];
        for ip in refused {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(forbidden_address(ip).is_some(), "{ip} must be refused");
        }
        let global = [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ];
        for ip in global {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden_address(ip), None, "{ip} is global");
        }
    }

    #[test]
    fn targets() {
        let none: Vec<String> = Vec::new();
        let allowed = vec!["127.0.0.1".to_string(), "[::1]".to_string()];
        assert!(parse_target("https://hooks.example.org/in", &none).is_ok());
        for bad in [
            "http://hooks.example.org/in",
            "ftp://hooks.example.org/",
            "https://user:pw@hooks.example.org/",
            "https://localhost/x",
            "https://api.localhost/x",
            "https://127.0.0.1/x",
            "https://10.0.0.7/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "not a url",
            "/relative",
        ] {
            assert!(parse_target(bad, &none).is_err(), "{bad}");
        }
        let t = parse_target("http://127.0.0.1:9000/in", &allowed).unwrap();
        assert!(t.allowed && t.port == 9000);
        assert!(parse_target("http://[::1]:9/in", &allowed).is_ok());
        assert!(parse_target("http://10.0.0.1/in", &allowed).is_err());
        let t = parse_target("https://hooks.example.org/", &none).unwrap();
        assert!(check_resolved(&t, &["93.184.216.34".parse().unwrap()]).is_ok());
        let err = check_resolved(
            &t,
            &[
                "93.184.216.34".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
            ],
        )
        .unwrap_err();
        assert!(err.contains("10.0.0.1") && err.contains("private"), "{err}");
        assert!(check_resolved(&t, &[]).is_err());
    }

    #[test]
    fn who_receives_what() {
        let inst = Owner::Institution("i1".into());
        let part = Owner::Partnership("p1".into());
        let concerns = vec!["i1".to_string()];
        let none: Vec<String> = Vec::new();
        let public = serde_json::json!({"visibility": "public"});
        let private = serde_json::json!({"visibility": "institution"});
        let ev = |t, kind, id, institutions, payload| EventFacts {
            event_type: t,
            subject_kind: kind,
            subject_id: id,
            institutions,
            payload,
        };
        let shared = |visibility, published, verified| {
            move || {
                Some(SharedResource {
                    published,
                    verified,
                    visibility,
                })
            }
        };
        let seen = shared(Visibility::Partnership, true, true);
        // institution: its own events and public ones only
        assert!(receives(
            &inst,
            &ev("resource.updated", "resource", "r", &concerns, &private),
            || None
        ));
        assert!(!receives(
            &inst,
            &ev("resource.updated", "resource", "r", &none, &private),
            seen
        ));
        assert!(receives(
            &inst,
            &ev("resource.published", "resource", "r", &none, &public),
            || None
        ));
        assert!(!receives(
            &inst,
            &ev("resource.published", "resource", "r", &none, &private),
            || None
        ));
        // partnership: its own events, and shared resources' content events
        assert!(receives(
            &part,
            &ev("partnership.updated", "partnership", "p1", &none, &private),
            || None
        ));
        assert!(!receives(
            &part,
            &ev("partnership.updated", "partnership", "p2", &none, &private),
            seen
        ));
        let updated = ev("resource.updated", "resource", "r", &concerns, &private);
        assert!(receives(&part, &updated, seen));
        assert!(receives(
            &part,
            &updated,
            shared(Visibility::Registered, true, true)
        ));
        assert!(!receives(&part, &updated, || None), "not shared");
        // shared, but not for the partnership's eyes: its institution's
        // members only, a draft, an unverified institution's
        for (visibility, published, verified) in [
            (Visibility::Institution, true, true),
            (Visibility::Partnership, false, true),
            (Visibility::Partnership, true, false),
        ] {
            assert!(
                !receives(&part, &updated, shared(visibility, published, verified)),
                "{visibility:?} {published} {verified}"
            );
        }
        // a resource leaving (or entering) the partnership's view: the
        // visibility change is told, nothing after it
        let left =
            serde_json::json!({"kind": "course", "from": "partnership", "to": "institution"});
        let narrowed = ev(
            "resource.visibility_changed",
            "resource",
            "r",
            &concerns,
            &left,
        );
        let now_private = shared(Visibility::Institution, true, true);
        assert!(receives(&part, &narrowed, now_private));
        assert!(!receives(&part, &updated, now_private));
        let inside =
            serde_json::json!({"kind": "course", "from": "institution", "to": "institution"});
        assert!(!receives(
            &part,
            &ev(
                "resource.visibility_changed",
                "resource",
                "r",
                &concerns,
                &inside
            ),
            now_private
        ));
        assert!(!receives(
            &part,
            &ev("enrollment.created", "resource", "r", &concerns, &private),
            seen
        ));
        assert!(!receives(
            &part,
            &ev("resource.published", "resource", "r", &none, &public),
            || None
        ));
    }
}
