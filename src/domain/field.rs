//! Field errors: what is wrong with one input, by path, as a machine-readable
//! `code` (a closed set a client can translate), its `params` (`max`,
//! `allowed`…) and an English `message`.
//!
//! Checks that do not know which field they read (`CountryCode::parse`,
//! `check_url`…) fail with an [`Invalid`]; the caller places it with
//! [`Invalid::at`]. Nothing here knows HTTP: `error.rs` wraps a list of
//! these in its 400 (or 422) problem.

use serde::Serialize;
use utoipa::ToSchema;

/// Short names inside the crate.
pub type Code = FieldCode;
pub type Params = FieldParams;
pub type Bound = FieldBound;

/// What is wrong with a field: a closed set (docs/PROBLEMS.md lists each with
/// its parameters). Clients translate by code; `message` is the English text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldCode {
    /// Missing, null or empty where a value is needed.
    Required,
    /// Not a field of this object or not a parameter of this endpoint (`allowed`: the known names, when listed).
    UnknownField,
    /// A field the server sets; it cannot be given here.
    ReadOnly,
    /// The JSON type is wrong (`expected`: `string`, `number`, `integer`, `boolean`, `object`, `list`…).
    WrongType,
    /// The request body is empty, not JSON or not a JSON object.
    InvalidJson,
    /// Given more than once (a query parameter, a key in a JSON object).
    Repeated,
    /// Longer than allowed (`max` characters).
    TooLong,
    /// Shorter than allowed (`min` characters).
    TooShort,
    /// More entries than allowed (`max`).
    TooMany,
    /// Fewer entries than needed (`min`).
    TooFew,
    /// A number, date or time outside its range (`min`, `max` when known).
    OutOfRange,
    /// Not one of the allowed words (`allowed`).
    NotAllowedValue,
    /// Not in the expected format (`expected`: `url`, `uuid`, `date`, `date_time`, `month`, `slug`, `cursor`, `media_type`, `query`, `token`…).
    InvalidFormat,
    /// Not an email address.
    InvalidEmail,
    /// Not an ISO 3166-1 alpha-2 country code.
    InvalidCountry,
    /// Not a registered BCP 47 language tag.
    InvalidLanguage,
    /// Not an SPDX licence identifier.
    InvalidLicence,
    /// Holds control characters where they are not allowed.
    ControlCharacters,
    /// The same value is listed twice.
    Duplicate,
    /// The password is too weak (too easy to guess, or built on the email address).
    WeakPassword,
    /// Contradicts another field (`other`: that field).
    Inconsistent,
    /// Names something that does not exist or that the caller cannot use (a client app, an institution, a linked resource).
    NotFound,
    /// The link token is invalid, already used, withdrawn or expired.
    InvalidToken,
    /// Business rule (422): the named person or institution is not eligible for this.
    NotEligible,
    /// Business rule (422): the named institution is not verified yet.
    NotVerified,
}

impl Code {
    pub const ALL: &'static [Code] = &[
        Code::Required,
        Code::UnknownField,
        Code::ReadOnly,
        Code::WrongType,
        Code::InvalidJson,
        Code::Repeated,
        Code::TooLong,
        Code::TooShort,
        Code::TooMany,
        Code::TooFew,
        Code::OutOfRange,
        Code::NotAllowedValue,
        Code::InvalidFormat,
        Code::InvalidEmail,
        Code::InvalidCountry,
        Code::InvalidLanguage,
        Code::InvalidLicence,
        Code::ControlCharacters,
        Code::Duplicate,
        Code::WeakPassword,
        Code::Inconsistent,
        Code::NotFound,
        Code::InvalidToken,
        Code::NotEligible,
        Code::NotVerified,
    ];

    /// The word sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Required => "required",
            Code::UnknownField => "unknown_field",
            Code::ReadOnly => "read_only",
            Code::WrongType => "wrong_type",
            Code::InvalidJson => "invalid_json",
            Code::Repeated => "repeated",
            Code::TooLong => "too_long",
            Code::TooShort => "too_short",
            Code::TooMany => "too_many",
            Code::TooFew => "too_few",
            Code::OutOfRange => "out_of_range",
            Code::NotAllowedValue => "not_allowed_value",
            Code::InvalidFormat => "invalid_format",
            Code::InvalidEmail => "invalid_email",
            Code::InvalidCountry => "invalid_country",
            Code::InvalidLanguage => "invalid_language",
            Code::InvalidLicence => "invalid_licence",
            Code::ControlCharacters => "control_characters",
            Code::Duplicate => "duplicate",
            Code::WeakPassword => "weak_password",
            Code::Inconsistent => "inconsistent",
            Code::NotFound => "not_found",
            Code::InvalidToken => "invalid_token",
            Code::NotEligible => "not_eligible",
            Code::NotVerified => "not_verified",
        }
    }
}

/// A bound of a range: a number (characters, entries, a value) or a text
/// (a date, a month, `now`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum FieldBound {
    Number(i64),
    Text(String),
}

impl From<usize> for Bound {
    fn from(n: usize) -> Self {
        Bound::Number(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<i64> for Bound {
    fn from(n: i64) -> Self {
        Bound::Number(n)
    }
}

impl From<i32> for Bound {
    fn from(n: i32) -> Self {
        Bound::Number(i64::from(n))
    }
}

impl From<u32> for Bound {
    fn from(n: u32) -> Self {
        Bound::Number(i64::from(n))
    }
}

impl From<&str> for Bound {
    fn from(s: &str) -> Self {
        Bound::Text(s.to_string())
    }
}

impl From<String> for Bound {
    fn from(s: String) -> Self {
        Bound::Text(s)
    }
}

/// The parameters of a code; only those that apply are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldParams {
    /// The least allowed: characters (`too_short`), entries (`too_few`), a value or a date (`out_of_range`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<Bound>,
    /// The most allowed: characters (`too_long`), entries (`too_many`), a value or a date (`out_of_range`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<Bound>,
    /// The allowed words (`not_allowed_value`) or names (`unknown_field`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// What was expected (`wrong_type`: a JSON type; `invalid_format`: a format name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The other field involved (`inconsistent`, `required` when another field asks for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
}

impl Params {
    pub fn is_empty(&self) -> bool {
        *self == Params::default()
    }
}

/// One invalid input, by field path (`title`, `datasheet.motivation`,
/// `results[0].value`; `$` for the body as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Path of the offending field, `$` for the whole body.
    pub field: String,
    /// What is wrong, as a code a client can translate (see docs/PROBLEMS.md).
    pub code: Code,
    /// What is wrong with it, in plain English.
    pub message: String,
    /// The code's parameters (`max`, `min`, `allowed`, `expected`, `other`); `{}` when it has none.
    pub params: Box<Params>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: Code, message: impl Into<String>) -> Self {
        Invalid::new(code, message).at(field)
    }

    /// Adds a parameter (see [`Invalid`]'s builders).
    pub fn with(mut self, f: impl FnOnce(&mut Params)) -> Self {
        f(&mut self.params);
        self
    }

    /// `field: message` (without the final full stop), for summaries.
    pub fn summary(&self) -> String {
        format!(
            "{}: {}",
            self.field,
            self.message.trim_end().trim_end_matches('.')
        )
    }
}

/// A failed check that does not yet know which field it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: Code,
    pub message: String,
    pub params: Box<Params>,
}

impl Invalid {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            params: Box::default(),
        }
    }

    pub fn required(message: impl Into<String>) -> Self {
        Self::new(Code::Required, message)
    }

    /// `too_long` with `max` characters.
    pub fn too_long(max: usize, message: impl Into<String>) -> Self {
        Self::new(Code::TooLong, message).max(max)
    }

    /// `too_many` with `max` entries.
    pub fn too_many(max: usize, message: impl Into<String>) -> Self {
        Self::new(Code::TooMany, message).max(max)
    }

    /// `invalid_format` with the format's name.
    pub fn format(expected: &str, message: impl Into<String>) -> Self {
        Self::new(Code::InvalidFormat, message).expected(expected)
    }

    /// `not_allowed_value` with the allowed words.
    pub fn not_allowed<S: AsRef<str>>(allowed: &[S], message: impl Into<String>) -> Self {
        Self::new(Code::NotAllowedValue, message).allowed(allowed)
    }

    pub fn min(mut self, min: impl Into<Bound>) -> Self {
        self.params.min = Some(min.into());
        self
    }

    pub fn max(mut self, max: impl Into<Bound>) -> Self {
        self.params.max = Some(max.into());
        self
    }

    pub fn allowed<S: AsRef<str>>(mut self, allowed: &[S]) -> Self {
        self.params.allowed = Some(allowed.iter().map(|s| s.as_ref().to_string()).collect());
        self
    }

    pub fn expected(mut self, expected: &str) -> Self {
        self.params.expected = Some(expected.to_string());
        self
    }

    pub fn other(mut self, other: &str) -> Self {
        self.params.other = Some(other.to_string());
        self
    }

    /// The same failure with another message (`Each tag: …`).
    pub fn map_message(mut self, f: impl FnOnce(&str) -> String) -> Self {
        self.message = f(&self.message);
        self
    }

    /// Places the failure at a field.
    pub fn at(self, field: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            code: self.code,
            message: self.message,
            params: self.params,
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_and_serialises_as_its_word() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "{code:?} twice");
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }

    #[test]
    fn params_send_only_what_applies() {
        let e = Invalid::too_long(200, "At most 200 characters.").at("title");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"field": "title", "code": "too_long",
                "message": "At most 200 characters.", "params": {"max": 200}})
        );
        let e = FieldError::new("x", Code::Required, "Required.");
        assert_eq!(
            serde_json::to_value(&e).unwrap()["params"],
            serde_json::json!({})
        );
        assert_eq!(e.summary(), "x: Required");
    }
}
