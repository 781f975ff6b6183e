//! OAI-PMH 2.0 requests, without HTTP or a database: which verb, which
//! arguments (each verb's required, optional and exclusive ones), the
//! datestamps (`YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ssZ`), set specs, and the
//! resumption tokens. A request that breaks the protocol is an [`OaiError`]
//! with its code; the handler answers it as XML in a 200, as the protocol
//! requires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// Records per page of ListRecords and ListIdentifiers.
pub const PAGE: i64 = 100;
/// How long a resumption token stays valid.
pub const TOKEN_TTL_HOURS: i64 = 24;

/// The metadata formats served: prefix, schema, namespace.
pub const FORMATS: &[(&str, &str, &str)] = &[
    (
        "oai_dc",
        "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
        "http://www.openarchives.org/OAI/2.0/oai_dc/",
    ),
    (
        "oai_datacite",
        "http://schema.datacite.org/meta/kernel-4/metadata.xsd",
        "http://datacite.org/schema/kernel-4",
    ),
];

/// The protocol's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadArgument,
    BadResumptionToken,
    BadVerb,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoRecordsMatch,
    NoMetadataFormats,
    NoSetHierarchy,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadArgument => "badArgument",
            Self::BadResumptionToken => "badResumptionToken",
            Self::BadVerb => "badVerb",
            Self::CannotDisseminateFormat => "cannotDisseminateFormat",
            Self::IdDoesNotExist => "idDoesNotExist",
            Self::NoRecordsMatch => "noRecordsMatch",
            Self::NoMetadataFormats => "noMetadataFormats",
            Self::NoSetHierarchy => "noSetHierarchy",
        }
    }
}

/// An error answer: the code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OaiError {
    pub code: ErrorCode,
    pub message: String,
}

impl OaiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadArgument, message)
    }
}

/// The six verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verb {
    Identify,
    ListMetadataFormats,
    ListSets,
    ListIdentifiers,
    ListRecords,
    GetRecord,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identify => "Identify",
            Self::ListMetadataFormats => "ListMetadataFormats",
            Self::ListSets => "ListSets",
            Self::ListIdentifiers => "ListIdentifiers",
            Self::ListRecords => "ListRecords",
            Self::GetRecord => "GetRecord",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Identify,
            Self::ListMetadataFormats,
            Self::ListSets,
            Self::ListIdentifiers,
            Self::ListRecords,
            Self::GetRecord,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// (required, optional, exclusive) arguments.
    fn arguments(
        self,
    ) -> (
        &'static [&'static str],
        &'static [&'static str],
        Option<&'static str>,
    ) {
        match self {
            Self::Identify => (&[], &[], None),
            Self::ListMetadataFormats => (&[], &["identifier"], None),
            Self::ListSets => (&[], &[], Some("resumptionToken")),
            Self::ListIdentifiers | Self::ListRecords => (
                &["metadataPrefix"],
                &["from", "until", "set"],
                Some("resumptionToken"),
            ),
            Self::GetRecord => (&["identifier", "metadataPrefix"], &[], None),
        }
    }
}

/// A set: a kind, an institution (slug) or a country, or one of the three
/// parents (every record is in each of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetSpec {
    Parent(String),
    Kind(String),
    Institution(String),
    Country(String),
}

impl SetSpec {
    pub const PARENTS: &[(&str, &str)] = &[
        ("kind", "Resources by kind"),
        ("institution", "Resources by publishing institution"),
        (
            "country",
            "Resources by the publishing institution's country",
        ),
    ];

    pub fn parse(s: &str) -> Result<Self, OaiError> {
        let bad = || OaiError::bad(format!("`{s}` is not a setSpec of this repository"));
        // The protocol's setSpec syntax: `:`-separated parts of unreserved
        // URI characters; ours have one or two parts.
        let part = |p: &str| !p.is_empty() && p.chars().all(unreserved);
        match s.split_once(':') {
            None if Self::PARENTS.iter().any(|(p, _)| *p == s) => Ok(Self::Parent(s.into())),
            Some(("kind", k)) if part(k) => Ok(Self::Kind(k.into())),
            Some(("institution", i)) if part(i) => Ok(Self::Institution(i.into())),
            Some(("country", c)) if part(c) => Ok(Self::Country(c.into())),
            _ => Err(bad()),
        }
    }

    pub fn spec(&self) -> String {
        match self {
            Self::Parent(p) => p.clone(),
            Self::Kind(k) => format!("kind:{k}"),
            Self::Institution(i) => format!("institution:{i}"),
            Self::Country(c) => format!("country:{c}"),
        }
    }
}

/// The characters of a setSpec part and of a metadataPrefix (the
/// protocol's XML Schema: URI unreserved characters).
fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

/// Whether `prefix` is a metadataPrefix by the protocol's syntax (whether
/// this repository serves it is [`known_format`]'s question).
pub fn prefix_syntax(prefix: &str) -> bool {
    !prefix.is_empty() && prefix.chars().all(unreserved)
}

/// Whether `host` may be the repositoryIdentifier of the `oai-identifier`
/// scheme: a domain name of at least two labels, each a letter then
/// letters, digits and hyphens (so not `localhost` nor an IP address).
pub fn repository_identifier_syntax(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            l.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Reads the arguments of a GET query string or a POST form body, in order,
/// strictly: `+` is a space, `%XX` a byte, and every name and value must be
/// UTF-8 text without control characters (U+0000–U+001F, U+007F). Anything
/// else is the protocol's error, answered in XML like every other: a bad
/// value of `verb` is not a legal verb (`badVerb`), any other a
/// `badArgument`.
pub fn read_arguments(raw: &[u8]) -> Result<Vec<(String, String)>, OaiError> {
    fn decode(part: &[u8]) -> Result<String, &'static str> {
        let spaced: Vec<u8> = part
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
        let text = String::from_utf8(bytes).map_err(|_| "is not UTF-8 text")?;
        if text.chars().any(|c| c < ' ' || c == '\u{7F}') {
            return Err("holds a control character");
        }
        Ok(text)
    }
    let mut pairs = Vec::new();
    for piece in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match piece.iter().position(|b| *b == b'=') {
            Some(at) => (&piece[..at], &piece[at + 1..]),
            None => (piece, &[][..]),
        };
        let name = decode(k).map_err(|why| OaiError::bad(format!("An argument's name {why}.")))?;
        let value = decode(v).map_err(|why| {
            if name == "verb" {
                OaiError::new(
                    ErrorCode::BadVerb,
                    format!("The verb {why}: it is not an OAI-PMH verb."),
                )
            } else {
                OaiError::bad(format!("The value of `{name}` {why}."))
            }
        })?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// A datestamp argument and the granularity it was given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub at: NaiveDateTime,
    pub day: bool,
}

/// Reads `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ssZ`.
pub fn parse_stamp(name: &str, s: &str) -> Result<Stamp, OaiError> {
    let bad = || {
        OaiError::bad(format!(
            "`{name}` must be a date YYYY-MM-DD or a time YYYY-MM-DDThh:mm:ssZ (UTC), not `{s}`"
        ))
    };
    if s.len() == 10 {
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
        return Ok(Stamp {
            at: d.and_time(NaiveTime::MIN),
            day: true,
        });
    }
    if s.len() == 20 && s.ends_with('Z') {
        let t = NaiveDateTime::parse_from_str(&s[..19], "%Y-%m-%dT%H:%M:%S").map_err(|_| bad())?;
        return Ok(Stamp { at: t, day: false });
    }
    Err(bad())
}

/// A datestamp as the protocol writes it (seconds, UTC).
pub fn format_stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What a list asks for, first page or later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    pub verb: Verb,
    pub prefix: String,
    pub set: Option<SetSpec>,
    /// At or after.
    pub from: Option<NaiveDateTime>,
    /// Strictly before (an inclusive `until` plus its granularity).
    pub before: Option<NaiveDateTime>,
}

/// A resumption token's content (sent base64url-encoded JSON: opaque to
/// harvesters, stateless here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub q: ListQuery,
    /// The last record sent: (datestamp, resource id).
    pub after: (NaiveDateTime, String),
    /// Records sent before this page.
    pub cursor: i64,
    /// The size of the whole list when it began.
    pub size: i64,
    pub expires: DateTime<Utc>,
}

impl Token {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(s: &str, verb: Verb, now: DateTime<Utc>) -> Result<Self, OaiError> {
        let bad = |why: &str| {
            OaiError::new(
                ErrorCode::BadResumptionToken,
                format!("The resumptionToken {why}."),
            )
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad("is not one this repository issued"))?;
        let t: Token =
            serde_json::from_slice(&bytes).map_err(|_| bad("is not one this repository issued"))?;
        if t.q.verb != verb {
            return Err(bad(&format!("was issued for {}", t.q.verb.as_str())));
        }
        if t.expires < now {
            return Err(bad("has expired"));
        }
        if !t.could_be_issued(now) {
            return Err(bad("is not one this repository issued"));
        }
        Ok(t)
    }

    /// Whether this repository could have issued the token. Tokens are not
    /// signed (they hold nothing a harvester may not see), so a forged one
    /// must still be one that could have been issued: a served format, a
    /// setSpec by its syntax, datestamps of years 1–9999, an id without
    /// control characters, counts that add without overflow, an expiry
    /// within the token lifetime. Anything else would reach the database or
    /// the arithmetic as nothing a request can say.
    fn could_be_issued(&self, now: DateTime<Utc>) -> bool {
        const MAX_COUNT: i64 = 1 << 40;
        let year = |t: &NaiveDateTime| (1..=9999).contains(&t.year());
        let format_ok = match self.q.verb {
            Verb::ListSets => self.q.prefix.is_empty(),
            _ => known_format(&self.q.prefix),
        };
        let set_ok = self
            .q
            .set
            .as_ref()
            .is_none_or(|s| SetSpec::parse(&s.spec()).ok().as_ref() == Some(s));
        let (stamp, id) = &self.after;
        format_ok
            && set_ok
            && self.q.from.as_ref().is_none_or(year)
            && self.q.before.as_ref().is_none_or(year)
            && year(stamp)
            && !id.is_empty()
            && id.len() <= 200
            && !id.chars().any(char::is_control)
            && (0..=MAX_COUNT).contains(&self.cursor)
            && (0..=MAX_COUNT).contains(&self.size)
            && self.expires <= Self::expiry(now) + Duration::minutes(5)
    }

    pub fn expiry(now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::hours(TOKEN_TTL_HOURS)
    }

    /// The token of a ListSets page: the same scheme, with the last
    /// setSpec sent as `after` (its datestamp part unused: the epoch).
    pub fn for_sets(last_spec: String, cursor: i64, size: i64, now: DateTime<Utc>) -> Self {
        Self {
            q: ListQuery {
                verb: Verb::ListSets,
                prefix: String::new(),
                set: None,
                from: None,
                before: None,
            },
            after: (NaiveDateTime::default(), last_spec),
            cursor,
            size,
            expires: Self::expiry(now),
        }
    }

    /// The last setSpec a ListSets page sent (see [`Token::for_sets`]).
    pub fn last_set(&self) -> Result<SetSpec, OaiError> {
        SetSpec::parse(&self.after.1).map_err(|_| {
            OaiError::new(
                ErrorCode::BadResumptionToken,
                "The resumptionToken is not one this repository issued.",
            )
        })
    }
}

/// A request that follows the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Identify,
    ListMetadataFormats { identifier: Option<String> },
    ListSets { token: Option<Token> },
    List { q: ListQuery, token: Option<Token> },
    GetRecord { identifier: String, prefix: String },
}

/// The verb and the arguments that were valid, echoed in `<request>` (none
/// after a badVerb or badArgument, as the protocol says).
pub type Echo = Vec<(String, String)>;

/// Reads the arguments of a GET query or a POST form (in order, as sent).
pub fn parse(pairs: &[(String, String)], now: DateTime<Utc>) -> Result<(Request, Echo), OaiError> {
    let verbs: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "verb")
        .map(|(_, v)| v.as_str())
        .collect();
    let verb = match verbs.as_slice() {
        [] => {
            return Err(OaiError::new(
                ErrorCode::BadVerb,
                "The verb argument is missing.",
            ));
        }
        [v] => Verb::parse(v).ok_or_else(|| {
            OaiError::new(ErrorCode::BadVerb, format!("`{v}` is not an OAI-PMH verb."))
        })?,
        _ => {
            return Err(OaiError::new(
                ErrorCode::BadVerb,
                "The verb argument is repeated.",
            ));
        }
    };
    let (required, optional, exclusive) = verb.arguments();
    let mut args: Vec<(&str, &str)> = Vec::new();
    for (k, v) in pairs.iter().filter(|(k, _)| k != "verb") {
        let known = required.contains(&k.as_str())
            || optional.contains(&k.as_str())
            || exclusive == Some(k.as_str());
        if !known {
            return Err(OaiError::bad(format!(
                "{} does not take the argument `{k}`.",
                verb.as_str()
            )));
        }
        if args.iter().any(|(a, _)| a == k) {
            return Err(OaiError::bad(format!("The argument `{k}` is repeated.")));
        }
        args.push((k, v));
    }
    let get = |name: &str| args.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let mut echo: Echo = vec![("verb".into(), verb.as_str().into())];
    echo.extend(args.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    if let Some(x) = exclusive
        && let Some(token) = get(x)
    {
        if args.len() > 1 {
            return Err(OaiError::bad(format!(
                "`{x}` is an exclusive argument: nothing else may come with it."
            )));
        }
        return match verb {
            Verb::ListSets => Ok((
                Request::ListSets {
                    token: Some(Token::decode(token, verb, now)?),
                },
                echo,
            )),
            _ => {
                let t = Token::decode(token, verb, now)?;
                Ok((
                    Request::List {
                        q: t.q.clone(),
                        token: Some(t),
                    },
                    echo,
                ))
            }
        };
    }
    for r in required {
        if get(r).is_none() {
            return Err(OaiError::bad(format!(
                "{} needs the argument `{r}`.",
                verb.as_str()
            )));
        }
    }
    if let Some(prefix) = get("metadataPrefix")
        && !prefix_syntax(prefix)
    {
        return Err(OaiError::bad(format!(
            "`{prefix}` is not a metadataPrefix: letters, digits and -_.!~*'() only."
        )));
    }
    let request = match verb {
        Verb::Identify => Request::Identify,
        Verb::ListSets => Request::ListSets { token: None },
        Verb::ListMetadataFormats => Request::ListMetadataFormats {
            identifier: get("identifier").map(str::to_string),
        },
        Verb::GetRecord => Request::GetRecord {
            identifier: get("identifier").unwrap_or_default().to_string(),
            prefix: get("metadataPrefix").unwrap_or_default().to_string(),
        },
        Verb::ListIdentifiers | Verb::ListRecords => {
            let from = get("from").map(|s| parse_stamp("from", s)).transpose()?;
            let until = get("until").map(|s| parse_stamp("until", s)).transpose()?;
            if let (Some(f), Some(u)) = (from, until) {
                if f.day != u.day {
                    return Err(OaiError::bad(
                        "`from` and `until` must have the same granularity.",
                    ));
                }
                if f.at > u.at {
                    return Err(OaiError::bad("`from` is later than `until`."));
                }
            }
            let set = get("set").map(SetSpec::parse).transpose()?;
            Request::List {
                q: ListQuery {
                    verb,
                    prefix: get("metadataPrefix").unwrap_or_default().to_string(),
                    set,
                    from: from.map(|s| s.at),
                    // An `until` at the end of year 9999 bounds nothing
                    // (and its end, in year 10000, would not compare as
                    // SQLite's text dates do).
                    before: until
                        .map(|s| {
                            if s.day {
                                s.at + Duration::days(1)
                            } else {
                                s.at + Duration::seconds(1)
                            }
                        })
                        .filter(|b| b.year() <= 9999),
                },
                token: None,
            }
        }
    };
    Ok((request, echo))
}

/// Whether `prefix` is one of [`FORMATS`].
pub fn known_format(prefix: &str) -> bool {
    FORMATS.iter().any(|(p, _, _)| *p == prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    fn code(q: &str) -> Option<ErrorCode> {
        parse(&pairs(q), Utc::now()).err().map(|e| e.code)
    }

    #[test]
    fn protocol_errors_have_their_codes() {
        use ErrorCode::*;
        let cases = [
            ("", Some(BadVerb), "no verb"),
            ("verb=Frobnicate", Some(BadVerb), "unknown verb"),
            (
                "verb=Identify&verb=Identify",
                Some(BadVerb),
                "repeated verb",
            ),
            ("verb=Identify&x=1", Some(BadArgument), "illegal argument"),
            (
                "verb=ListRecords",
                Some(BadArgument),
                "missing metadataPrefix",
            ),
            (
                "verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=oai_dc",
                Some(BadArgument),
                "repeated",
            ),
            (
                "verb=ListRecords&metadataPrefix=oai_dc&from=2020-13-01",
                Some(BadArgument),
                "bad month",
            ),
            (
                "verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-01T00:00:00",
                Some(BadArgument),
                "no Z",
            ),
            (
                "verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-01&until=2020-01-02T00:00:00Z",
                Some(BadArgument),
                "mixed granularity",
            ),
            (
                "verb=ListRecords&metadataPrefix=oai_dc&from=2021-01-01&until=2020-01-01",
                Some(BadArgument),
                "from after until",
            ),
            (
                "verb=ListRecords&metadataPrefix=oai_dc&set=colour:red",
                Some(BadArgument),
                "unknown set family",
            ),
            (
                "verb=ListRecords&resumptionToken=abc&metadataPrefix=oai_dc",
                Some(BadArgument),
                "exclusive",
            ),
            (
                "verb=ListRecords&resumptionToken=abc",
                Some(BadResumptionToken),
                "garbage token",
            ),
            (
                "verb=ListSets&resumptionToken=abc",
                Some(BadResumptionToken),
                "a ListSets token that is not ours",
            ),
            (
                "verb=GetRecord&identifier=x",
                Some(BadArgument),
                "GetRecord without prefix",
            ),
            (
                "verb=ListIdentifiers&metadataPrefix=oai_dc&from=2020-01-01&until=2020-01-01",
                None,
                "one day",
            ),
            (
                "verb=ListRecords&metadataPrefix=nope",
                None,
                "format checked later",
            ),
            ("verb=ListSets", None, "ListSets"),
            (
                "verb=ListRecords&metadataPrefix=oai%20dc",
                Some(BadArgument),
                "a prefix outside the protocol's syntax",
            ),
            (
                "verb=GetRecord&metadataPrefix=&identifier=x",
                Some(BadArgument),
                "an empty prefix",
            ),
            (
                "verb=ListRecords&metadataPrefix=oai_dc&set=kind:a%20b",
                Some(BadArgument),
                "a setSpec outside the protocol's syntax",
            ),
            (
                "verb=ListRecords&metadataPrefix=oai_dc&set=kind:",
                Some(BadArgument),
                "an empty setSpec part",
            ),
            ("verb=Identify", None, "Identify"),
        ];
        for (q, want, why) in cases {
            assert_eq!(code(q), want, "{why}: {q}");
        }
    }

    #[test]
    fn arguments_are_read_strictly() {
        let read = |raw: &str| read_arguments(raw.as_bytes());
        assert_eq!(
            read("verb=GetRecord&identifier=oai%3Ax%3A1&&metadataPrefix=oai_dc&flag").unwrap(),
            vec![
                ("verb".to_string(), "GetRecord".to_string()),
                ("identifier".to_string(), "oai:x:1".to_string()),
                ("metadataPrefix".to_string(), "oai_dc".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert_eq!(read("a=b+c%2B").unwrap()[0].1, "b c+");
        assert_eq!(read("a=%C3%A9").unwrap()[0].1, "é");
        let cases = [
            ("verb=Identify&identifier=%01", ErrorCode::BadArgument),
            ("verb=Identify&identifier=%00", ErrorCode::BadArgument),
            ("verb=Identify&identifier=a%0Ab", ErrorCode::BadArgument),
            ("verb=Identify&identifier=%7F", ErrorCode::BadArgument),
            ("verb=Identify&identifier=%FF", ErrorCode::BadArgument),
            ("verb=Identify&identifier=%C3", ErrorCode::BadArgument),
            ("verb=Identify&%FF=1", ErrorCode::BadArgument),
            ("%00=1&verb=Identify", ErrorCode::BadArgument),
            ("verb=Ident%00ify", ErrorCode::BadVerb),
            ("verb=%FF", ErrorCode::BadVerb),
        ];
        for (raw, code) in cases {
            assert_eq!(read(raw).unwrap_err().code, code, "{raw}");
        }
    }

    #[test]
    fn repository_identifiers_follow_the_oai_identifier_scheme() {
        for ok in ["kujenga.example.org", "a.b", "x-1.org"] {
            assert!(repository_identifier_syntax(ok), "{ok}");
        }
        for bad in ["localhost", "127.0.0.1", "a..b", "-a.org", "a.1b", ""] {
            assert!(!repository_identifier_syntax(bad), "{bad}");
        }
    }

    #[test]
    fn list_sets_tokens_carry_the_last_set() {
        let now = Utc::now();
        let t = Token::for_sets("institution:oai-lab".into(), 100, 240, now);
        let s = t.encode();
        let (request, echo) =
            parse(&pairs(&format!("verb=ListSets&resumptionToken={s}")), now).unwrap();
        let Request::ListSets { token: Some(back) } = request else {
            panic!("a ListSets page")
        };
        assert_eq!(back, t);
        assert_eq!(
            back.last_set().unwrap(),
            SetSpec::Institution("oai-lab".into())
        );
        assert_eq!(echo.len(), 2);
        // Issued for ListSets, not for the record lists, and the other way.
        assert_eq!(
            Token::decode(&s, Verb::ListRecords, now).unwrap_err().code,
            ErrorCode::BadResumptionToken
        );
        assert_eq!(
            Token::decode(&s, Verb::ListSets, now + Duration::hours(25))
                .unwrap_err()
                .code,
            ErrorCode::BadResumptionToken
        );
    }

    #[test]
    fn tokens_round_trip_and_expire() {
        let now = Utc::now();
        let (Request::List { q, .. }, _) = parse(
            &pairs("verb=ListRecords&metadataPrefix=oai_dc&set=kind:dataset&until=2030-01-01"),
            now,
        )
        .unwrap() else {
            panic!("a list")
        };
        assert_eq!(
            q.before,
            Some(
                NaiveDate::from_ymd_opt(2030, 1, 2)
                    .unwrap()
                    .and_time(NaiveTime::MIN)
            )
        );
        let t = Token {
            q: q.clone(),
            after: (now.naive_utc(), "id".into()),
            cursor: 100,
            size: 250,
            expires: Token::expiry(now),
        };
        let s = t.encode();
        assert_eq!(Token::decode(&s, Verb::ListRecords, now).unwrap(), t);
        assert_eq!(
            Token::decode(&s, Verb::ListIdentifiers, now)
                .unwrap_err()
                .code,
            ErrorCode::BadResumptionToken
        );
        assert_eq!(
            Token::decode(&s, Verb::ListRecords, now + Duration::hours(25))
                .unwrap_err()
                .code,
            ErrorCode::BadResumptionToken
        );
        // Forged tokens that no page could have issued.
        let forged = |change: &dyn Fn(&mut Token)| {
            let mut f = t.clone();
            change(&mut f);
            Token::decode(&f.encode(), f.q.verb, now).map_err(|e| e.code)
        };
        let far = NaiveDate::from_ymd_opt(12_000, 1, 1)
            .unwrap()
            .and_time(NaiveTime::MIN);
        type Change<'a> = &'a dyn Fn(&mut Token);
        let cases: [(&str, Change); 11] = [
            ("format", &|f| f.q.prefix = "bogus".into()),
            ("set", &|f| {
                f.q.set = Some(SetSpec::Institution("a\u{0}b".into()))
            }),
            ("from", &|f| f.q.from = Some(far)),
            ("before", &|f| f.q.before = Some(far)),
            ("after stamp", &|f| f.after.0 = far),
            ("after id", &|f| f.after.1 = "a\u{0}b".into()),
            ("empty id", &|f| f.after.1 = String::new()),
            ("cursor", &|f| f.cursor = i64::MAX),
            ("negative cursor", &|f| f.cursor = -1),
            ("size", &|f| f.size = -5),
            ("expiry", &|f| f.expires = now + Duration::days(400)),
        ];
        for (what, change) in cases {
            assert_eq!(forged(change), Err(ErrorCode::BadResumptionToken), "{what}");
        }
        assert_eq!(forged(&|_| {}), Ok(t.clone()));
    }
}
