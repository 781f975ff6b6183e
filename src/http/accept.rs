//! Content negotiation on `Accept` (RFC 9110 §12.5.1): which of the media
//! types an endpoint offers the client prefers, or a 406 listing them.
//!
//! The offers are listed in the server's order of preference (JSON first on
//! single reads): a missing `Accept`, `*/*` or a tie between ranges of the
//! same quality picks the earliest offer. Media type parameters in `Accept`
//! (other than `q`) are ignored, except that a `profile` must match the
//! offer's when both name one.

use crate::error::ApiError;

/// One media range of an `Accept` header with its quality.
#[derive(Debug, Clone, PartialEq)]
struct Range {
    kind: String,
    subtype: String,
    profile: Option<String>,
    q: f32,
}

fn parse(header: &str) -> Vec<Range> {
    header
        .split(',')
        .filter_map(|part| {
            let mut params = part.split(';');
            let (kind, subtype) = params.next()?.trim().split_once('/')?;
            let mut range = Range {
                kind: kind.trim().to_ascii_lowercase(),
                subtype: subtype.trim().to_ascii_lowercase(),
                profile: None,
                q: 1.0,
            };
            for p in params {
                let Some((name, value)) = p.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match name.trim().to_ascii_lowercase().as_str() {
                    // An unreadable quality counts as 0 (RFC 9110: 0 to 1, three decimals).
                    "q" => range.q = parse_q(value).map_or(0.0, |t| f32::from(t) / 1000.0),
                    "profile" => range.profile = Some(value.to_string()),
                    _ => {}
                }
            }
            Some(range)
        })
        .collect()
}

/// RFC 9110 `qvalue` in thousandths: `0`, `1`, or up to three decimals.
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// How specifically `range` matches `offer` (`None`: it does not):
/// 3 exact type with profile, 2 exact type, 1 `type/*`, 0 `*/*`.
fn specificity(range: &Range, offer: &str) -> Option<u8> {
    let (media, offer_profile) = match offer.split_once(';') {
        Some((m, p)) => (
            m.trim(),
            p.split_once('=')
                .map(|(_, v)| v.trim().trim_matches('"').to_string()),
        ),
        None => (offer.trim(), None),
    };
    let (kind, subtype) = media.split_once('/')?;
    match (range.kind.as_str(), range.subtype.as_str()) {
        ("*", "*") => Some(0),
        (k, "*") if k == kind => Some(1),
        (k, s) if k == kind && s == subtype => match (&range.profile, &offer_profile) {
            (Some(want), Some(have)) if want == have => Some(3),
            (Some(_), Some(_)) => None,
            _ => Some(2),
        },
        _ => None,
    }
}

/// The index in `offers` of the media type the client prefers, by the
/// `Accept` header given (`None`: no header). Each offer takes the quality
/// of the most specific range matching it; the best quality above 0 wins,
/// the earliest offer on a tie.
pub fn choose(accept: Option<&str>, offers: &[&str]) -> Option<usize> {
    let Some(header) = accept.map(str::trim).filter(|h| !h.is_empty()) else {
        return (!offers.is_empty()).then_some(0);
    };
    let ranges = parse(header);
    let mut best: Option<(usize, f32)> = None;
    for (i, offer) in offers.iter().enumerate() {
        let q = ranges
            .iter()
            .filter_map(|r| specificity(r, offer).map(|s| (s, r.q)))
            .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
            .map(|(_, q)| q);
        if let Some(q) = q.filter(|q| *q > 0.0)
            && best.is_none_or(|(_, b)| q > b)
        {
            best = Some((i, q));
        }
    }
    best.map(|(i, _)| i)
}

/// [`choose`] on a request's `Accept`, or the 406 listing the offers.
pub fn negotiate(req: &actix_web::HttpRequest, offers: &[&str]) -> Result<usize, ApiError> {
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    choose(accept, offers).ok_or_else(|| ApiError::NotAcceptable {
        offered: offers.iter().map(|o| (*o).to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERS: &[&str] = &["application/json", "application/ld+json"];

    #[test]
    fn picks_what_the_client_prefers() {
        for (accept, expected) in [
            (None, Some(0)),
            (Some(""), Some(0)),
            (Some("*/*"), Some(0)),
            (Some("application/json"), Some(0)),
            (Some("application/ld+json"), Some(1)),
            (Some("application/*"), Some(0)),
            (Some("application/ld+json, application/json;q=0.5"), Some(1)),
            (
                Some("application/json;q=0.4, application/ld+json;q=0.9"),
                Some(1),
            ),
            (Some("application/ld+json;q=0, */*"), Some(0)),
            (Some("text/html, */*;q=0.1"), Some(0)),
            (Some("text/html"), None),
            (Some("application/json;q=0"), None),
            (Some("garbage"), None),
            (Some("text/turtle, application/ld+json;q=0.2"), Some(1)),
        ] {
            assert_eq!(choose(accept, OFFERS), expected, "{accept:?}");
        }
    }

    #[test]
    fn profiles_must_agree_when_both_name_one() {
        let offers = &["application/ld+json; profile=\"http://mlcommons.org/croissant/1.1\""];
        assert_eq!(
            choose(
                Some("application/ld+json;profile=\"http://mlcommons.org/croissant/1.1\""),
                offers
            ),
            Some(0)
        );
        assert_eq!(choose(Some("application/ld+json"), offers), Some(0));
        assert_eq!(
            choose(
                Some("application/ld+json;profile=\"https://schema.org\""),
                offers
            ),
            None
        );
    }
}
