//! The finite vocabularies of the API as OpenAPI component schemas, so that
//! clients (and the fuzzer in CI) know the values the server accepts:
//! `CountryCode` (ISO 3166-1 alpha-2) and `SpdxLicence` (SPDX licence ids)
//! are `enum`s built from the same crates the server checks with;
//! `LanguageTag` is the RFC 5646 syntax as a `pattern` (BCP 47 tags are
//! compositional: whether each subtag is registered is still checked by the
//! server, 400 otherwise).
//!
//! Schema only: the values are parsed by `domain::CountryCode`,
//! `domain::resource::check_license` and `domain::LanguageTag`. A field
//! refers to one with `#[schema(value_type = crate::domain::vocab::Country)]` (or
//! `Option<…>`, `Vec<…>`), a query parameter with `#[param(value_type = …)]`.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// An ISO 3166-1 alpha-2 country code: component schema `CountryCode`.
#[derive(Debug, Clone, Copy)]
pub struct Country;

/// The codes of the `CountryCode` enum: every code `domain::CountryCode`
/// accepts, in its canonical (uppercase) spelling, sorted.
pub fn country_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = rust_iso3166::ALL_ALPHA2.to_vec();
    codes.sort_unstable();
    codes.dedup();
    codes
}

impl utoipa::PartialSchema for Country {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An ISO 3166-1 alpha-2 country code. Listed (and answered) in uppercase; \
                 requests may use lowercase.",
            ))
            .enum_values(Some(country_codes()))
            .examples(["KE"])
            .build()
            .into()
    }
}

impl utoipa::ToSchema for Country {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CountryCode")
    }
}

/// An SPDX licence id: component schema `SpdxLicence`.
#[derive(Debug, Clone, Copy)]
pub struct Licence;

/// The ids of the `SpdxLicence` enum: every id of the SPDX licence list the
/// server knows (`domain::resource::check_license` accepts each, deprecated
/// ones included), in its canonical spelling.
pub fn licence_ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = spdx::identifiers::LICENSES
        .iter()
        .map(|(id, _, _)| *id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl utoipa::PartialSchema for Licence {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "An SPDX licence id (SPDX licence list {}; see https://spdx.org/licenses/). \
                 Matched without regard to case; answered in this spelling.",
                spdx::identifiers::VERSION
            )))
            .enum_values(Some(licence_ids()))
            .examples(["CC-BY-4.0"])
            .build()
            .into()
    }
}

impl utoipa::ToSchema for Licence {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SpdxLicence")
    }
}

/// A BCP 47 language tag: component schema `LanguageTag`.
#[derive(Debug, Clone, Copy)]
pub struct Language;

/// RFC 5646's `Language-Tag` rule: a `langtag`, a private-use tag, or one
/// of the irregular grandfathered tags (the regular ones are `langtag`s in
/// form). Any case; the server answers the canonical one.
pub const LANGUAGE_TAG_PATTERN: &str = concat!(
    "^(",
    // language: 2-3 letters with up to three extlangs, or 4-8 letters
    "(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})",
    // script, region, variants
    "(?:-[A-Za-z]{4})?",
    "(?:-(?:[A-Za-z]{2}|[0-9]{3}))?",
    "(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*",
    // extensions (any singleton but x), then private use
    "(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*",
    "(?:-[Xx](?:-[A-Za-z0-9]{1,8})+)?",
    "|[Xx](?:-[A-Za-z0-9]{1,8})+",
    "|en-GB-oed|i-ami|i-bnn|i-default|i-enochian|i-hak|i-klingon|i-lux|i-mingo",
    "|i-navajo|i-pwn|i-tao|i-tay|i-tsu|sgn-BE-FR|sgn-BE-NL|sgn-CH-DE",
    ")$"
);

impl utoipa::PartialSchema for Language {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A BCP 47 language tag (`sw`, `en-KE`, `yo`) whose subtags are registered \
                 (400 otherwise). Answered in canonical case.",
            ))
            .pattern(Some(LANGUAGE_TAG_PATTERN))
            .examples(["sw"])
            .build()
            .into()
    }
}

impl utoipa::ToSchema for Language {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("LanguageTag")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CountryCode;

    #[test]
    fn every_listed_country_is_accepted_as_listed() {
        let codes = country_codes();
        assert!(codes.len() >= 249, "{}", codes.len());
        for code in codes {
            assert_eq!(
                CountryCode::parse(code).map(|c| c.as_str().to_string()),
                Ok(code.to_string())
            );
        }
    }

    #[test]
    fn every_accepted_country_is_listed() {
        let codes = country_codes();
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b]).unwrap_or_default();
                assert_eq!(
                    CountryCode::parse(&code).is_ok(),
                    codes.contains(&code.as_str()),
                    "{code}"
                );
            }
        }
    }

    #[test]
    fn every_listed_licence_is_accepted_and_answered_as_a_listed_one() {
        let ids = licence_ids();
        assert!(ids.len() > 500, "{}", ids.len());
        assert!(ids.contains(&"CC-BY-4.0") && ids.contains(&"Apache-2.0"));
        for id in &ids {
            let stored = crate::domain::resource::check_license(id);
            assert!(
                stored.as_deref().is_ok_and(|s| ids.contains(&s)),
                "{id} → {stored:?}"
            );
        }
    }
}
