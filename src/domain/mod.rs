//! Validated values. Each type has a private field and a `parse` that
//! returns a field-level message on failure; handlers convert request
//! fields into these before anything touches the database.

use serde::Serialize;

use field::{Code, Invalid};

pub mod access;
pub mod changes;
pub mod citation;
pub mod client;
pub mod events;
pub mod field;
pub mod institution;
pub mod learning;
pub mod oai;
pub mod partnership;
pub mod policy;
pub mod resource;
pub mod search;
pub mod transfer;
pub mod version;
pub mod vocab;
pub mod webhook;
pub mod word;

pub use word::Word;

/// An email address as given (trimmed), with its normalised form (lowercase)
/// used for uniqueness and look-ups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress {
    display: String,
    normalized: String,
}

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Invalid::required("An email address is required."));
        }
        if trimmed.len() > 254 {
            return Err(Invalid::too_long(
                254,
                "An email address has at most 254 characters.",
            ));
        }
        let invalid = || Invalid::new(Code::InvalidEmail, "This is not a valid email address.");
        let address: lettre::Address = trimmed.parse().map_err(|_| invalid())?;
        if !address.domain().contains('.') {
            return Err(invalid());
        }
        Ok(Self {
            display: trimmed.to_string(),
            normalized: trimmed.to_lowercase(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    pub fn local_part(&self) -> &str {
        self.normalized.split('@').next().unwrap_or("")
    }
}

/// An ISO 3166-1 alpha-2 country code, uppercase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() == 2 && rust_iso3166::from_alpha2(&code).is_some() {
            Ok(Self(code))
        } else {
            Err(Invalid::new(
                Code::InvalidCountry,
                format!("`{raw}` is not an ISO 3166-1 alpha-2 country code."),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid BCP 47 language tag (`sw`, `en-KE`, `yo`), in canonical case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LanguageTag(String);

impl LanguageTag {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let tag = language_tags::LanguageTag::parse(raw.trim()).map_err(|_| {
            Invalid::new(
                Code::InvalidLanguage,
                format!("`{raw}` is not a BCP 47 language tag."),
            )
        })?;
        if tag.validate().is_err() {
            return Err(Invalid::new(
                Code::InvalidLanguage,
                format!("`{raw}` is not a registered BCP 47 language tag."),
            ));
        }
        Ok(Self(
            tag.canonicalize()
                .map(|t| t.to_string())
                .unwrap_or_else(|_| tag.to_string()),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A list of language tags, without duplicates, at most 20.
pub fn parse_languages(raw: &[String]) -> Result<Vec<String>, Invalid> {
    if raw.len() > 20 {
        return Err(Invalid::too_many(20, "At most 20 languages."));
    }
    let mut out: Vec<String> = Vec::new();
    for item in raw {
        let tag = LanguageTag::parse(item)?;
        if !out.iter().any(|t| t.eq_ignore_ascii_case(tag.as_str())) {
            out.push(tag.0);
        }
    }
    Ok(out)
}

/// A person's display name: 1–100 characters, no control characters.
pub fn parse_display_name(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(Invalid::required("A display name is required."));
    }
    if chars > 100 {
        return Err(Invalid::too_long(
            100,
            "A display name has at most 100 characters.",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::new(
            Code::ControlCharacters,
            "A display name cannot contain control characters.",
        ));
    }
    Ok(name.to_string())
}

word::word_enum!(
    /// Platform roles.
    Role {
        Admin => "admin",
        Coordinator => "coordinator",
        Member => "member",
    }
);

word::word_enum!(
    /// Token scopes: `read` allows safe methods only, `write` everything.
    Scope {
        Read => "read",
        Write => "write",
    }
);

word::word_enum!(
    /// The scopes of a personal API token, as stored (a closed set:
    /// `write` always comes with `read`).
    TokenScopes {
        Read => "read",
        ReadWrite => "read,write",
    }
);

impl TokenScopes {
    /// The set that grants `scopes` (`write` implies `read`).
    pub fn of(scopes: &[Scope]) -> Self {
        if scopes.contains(&Scope::Write) {
            Self::ReadWrite
        } else {
            Self::Read
        }
    }

    /// Whether the token may use unsafe methods.
    pub fn writes(self) -> bool {
        self == Self::ReadWrite
    }

    /// The scopes, as the API lists them.
    pub fn scopes(self) -> Vec<Scope> {
        match self {
            Self::Read => vec![Scope::Read],
            Self::ReadWrite => vec![Scope::Read, Scope::Write],
        }
    }
}

/// A URL name (institutions, partnerships): 3–64 lowercase letters, digits
/// and single hyphens, not at either end.
pub fn check_slug(slug: &str) -> Result<(), Invalid> {
    let ok = (3..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if ok {
        Ok(())
    } else {
        Err(Invalid::format(
            "slug",
            "3–64 characters: lowercase letters, digits and single hyphens, not at either end.",
        ))
    }
}

/// For optional fields of a PATCH body where `null` clears and absence
/// keeps: `null` → `Some(None)`, absent → `None` (with `#[serde(default)]`).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalise_and_reject_junk() {
        let e = EmailAddress::parse("  Amina.W@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "Amina.W@Example.ORG");
        assert_eq!(e.normalized(), "amina.w@example.org");
        assert_eq!(e.local_part(), "amina.w");
        for bad in ["", "nope", "a@b", "a b@example.org", "@example.org"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn countries_and_languages_use_real_vocabularies() {
        assert_eq!(CountryCode::parse("ke").unwrap().as_str(), "KE");
        for bad in ["XX", "KEN", "", "k"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(LanguageTag::parse("sw").unwrap().as_str(), "sw");
        assert_eq!(LanguageTag::parse("en-KE").unwrap().as_str(), "en-KE");
        for bad in ["", "english", "xx-invalid-tag-!!", "zz"] {
            assert!(LanguageTag::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_languages(&["sw".into(), "SW".into(), "yo".into()]).unwrap(),
            vec!["sw", "yo"]
        );
    }

    #[test]
    fn token_scopes_are_a_closed_set_with_write_implying_read() {
        assert_eq!(TokenScopes::of(&[Scope::Read]), TokenScopes::Read);
        assert_eq!(TokenScopes::of(&[Scope::Write]), TokenScopes::ReadWrite);
        assert_eq!(TokenScopes::ReadWrite.scopes(), [Scope::Read, Scope::Write]);
        assert!(TokenScopes::ReadWrite.writes() && !TokenScopes::Read.writes());
        for stored in TokenScopes::ALL {
            assert_eq!(TokenScopes::parse(stored.as_str()), Some(*stored));
        }
        assert_eq!(TokenScopes::parse("write"), None);
        assert_eq!(Role::parse("superuser"), None);
    }

    #[test]
    fn display_names() {
        assert_eq!(parse_display_name("  Kofi  ").unwrap(), "Kofi");
        assert!(parse_display_name("").is_err());
        assert!(parse_display_name("a\u{0007}b").is_err());
        assert!(parse_display_name(&"x".repeat(101)).is_err());
    }
}
