//! From our stored codes to the authority IRIs the exports name: EU
//! Publications Office authority tables (countries, languages, data
//! themes, access rights), SPDX licences and IANA media types.

use crate::domain::resource::AccessLevel;

pub const EU_AUTHORITY: &str = "http://publications.europa.eu/resource/authority/";

/// The EU country authority IRI of an ISO 3166-1 alpha-2 code (the table
/// is keyed by alpha-3 codes).
pub fn country_iri(alpha2: &str) -> Option<String> {
    rust_iso3166::from_alpha2(&alpha2.to_ascii_uppercase())
        .map(|c| format!("{EU_AUTHORITY}country/{}", c.alpha3))
}

/// The EU language authority IRI of a BCP 47 tag whose primary language
/// has an ISO 639-3 code (the table's keys, upper case), when the tag
/// names nothing more specific (a region or script would be lost: those
/// stay BCP 47 literals).
pub fn language_iri(tag: &str) -> Option<String> {
    let primary = tag.to_ascii_lowercase();
    if primary.contains('-') {
        return None;
    }
    let lang = match primary.len() {
        2 => isolang::Language::from_639_1(&primary)?,
        3 => isolang::Language::from_639_3(&primary)?,
        _ => return None,
    };
    Some(format!(
        "{EU_AUTHORITY}language/{}",
        lang.to_639_3().to_ascii_uppercase()
    ))
}

/// `dct:accessRights` of an access level: open → PUBLIC, registered
/// (an account is needed) → RESTRICTED, restricted (an owner's approval
/// is needed) → NON_PUBLIC.
pub fn access_rights_iri(level: AccessLevel) -> String {
    let code = match level {
        AccessLevel::Open => "PUBLIC",
        AccessLevel::Registered => "RESTRICTED",
        AccessLevel::Restricted => "NON_PUBLIC",
    };
    format!("{EU_AUTHORITY}access-right/{code}")
}

pub const DATA_THEMES: &str = "http://publications.europa.eu/resource/authority/data-theme";

/// The EU data themes our tags map to (a tag equal to one of the words).
const THEMES: &[(&str, &[&str])] = &[
    (
        "AGRI",
        &["agriculture", "farming", "fisheries", "forestry", "food"],
    ),
    ("ECON", &["economy", "finance", "economics"]),
    ("EDUC", &["education", "culture", "sport", "learning"]),
    ("ENER", &["energy"]),
    ("ENVI", &["environment", "climate", "biodiversity"]),
    ("GOVE", &["government", "public-sector", "public sector"]),
    ("HEAL", &["health", "healthcare", "medicine"]),
    ("INTR", &["international"]),
    ("JUST", &["justice", "law", "legal"]),
    ("REGI", &["regions", "cities", "urban"]),
    ("SOCI", &["society", "population", "demography"]),
    ("TECH", &["science", "technology"]),
    ("TRAN", &["transport", "mobility"]),
];

/// The data theme IRIs `tags` map to, each once, in the table's order.
pub fn theme_iris(tags: &[String]) -> Vec<(String, &'static str)> {
    THEMES
        .iter()
        .filter(|(_, words)| {
            tags.iter()
                .any(|t| words.contains(&t.to_lowercase().as_str()))
        })
        .map(|(code, words)| (format!("{DATA_THEMES}/{code}"), words[0]))
        .collect()
}

/// The SPDX licence IRI of an SPDX identifier.
pub fn licence_iri(spdx_id: &str) -> String {
    format!("http://spdx.org/licenses/{spdx_id}")
}

/// The IANA media type IRI of a `type/subtype` (parameters dropped), or
/// `None` when it is not one.
pub fn media_type_iri(media_type: &str) -> Option<String> {
    let essence = media_type.split(';').next()?.trim().to_ascii_lowercase();
    let (kind, sub) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (token(kind) && token(sub))
        .then(|| format!("https://www.iana.org/assignments/media-types/{kind}/{sub}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_become_authority_iris() {
        assert_eq!(
            country_iri("KE").as_deref(),
            Some("http://publications.europa.eu/resource/authority/country/KEN")
        );
        assert_eq!(country_iri("ZZ"), None);
        assert_eq!(
            language_iri("sw").as_deref(),
            Some("http://publications.europa.eu/resource/authority/language/SWA")
        );
        assert_eq!(
            language_iri("en").as_deref(),
            Some("http://publications.europa.eu/resource/authority/language/ENG")
        );
        assert_eq!(language_iri("sw-KE"), None, "a region stays a BCP 47 tag");
        assert_eq!(language_iri("qaa"), None);
        assert!(access_rights_iri(AccessLevel::Restricted).ends_with("/NON_PUBLIC"));
        let tags = [
            "Health".to_string(),
            "speech".to_string(),
            "medicine".to_string(),
        ];
        assert_eq!(theme_iris(&tags).len(), 1);
        assert_eq!(
            media_type_iri("text/csv; charset=utf-8").as_deref(),
            Some("https://www.iana.org/assignments/media-types/text/csv")
        );
        assert_eq!(media_type_iri("CSV"), None);
        assert_eq!(media_type_iri("a/b c"), None);
    }
}
