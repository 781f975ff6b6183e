//! Full-text search, the rules without the database: how text is folded
//! into index words, how a query a person types is read, how a match is
//! scored and how matched words are marked in a snippet.
//!
//! Both databases index the same words: the application folds every text
//! (lowercase, accents stripped: `Yorùbá` → `yoruba`) and splits it into
//! words of letters and digits before it is stored, and reads a query the
//! same way. So SQLite's FTS5 and PostgreSQL's `tsvector` never parse text
//! themselves, nothing depends on a database's locale, and a query can
//! never carry operator syntax into either.

use std::fmt::Write as _;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Longest indexed word, in characters (longer runs are not words a
/// person types; PostgreSQL refuses lexemes over 2 kB).
pub const WORD_MAX: usize = 64;
/// Longest query, in characters.
pub const QUERY_MAX: usize = 500;
/// Most words and phrases in one query.
pub const CLAUSES_MAX: usize = 16;

/// Field weights of the score: a match in the title counts most.
pub const WEIGHT_TITLE: i64 = 8;
pub const WEIGHT_TAGS: i64 = 4;
pub const WEIGHT_SUMMARY: i64 = 2;
pub const WEIGHT_BODY: i64 = 1;

/// Folds one word: lowercase, accents and other combining marks removed.
pub fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The index words of `text`, in order: runs of letters and digits, folded,
/// at most [`WORD_MAX`] characters (longer runs are dropped).
pub fn words(text: &str) -> Vec<String> {
    spans(text).into_iter().map(|(_, _, w)| w).collect()
}

/// The index words of `text` with their byte ranges in `text`.
fn spans(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut start = None;
    let mut end = 0;
    let mut push = |s: usize, e: usize| {
        let raw = &text[s..e];
        let w = if raw.is_ascii() {
            // Most words: nothing to decompose.
            raw.to_ascii_lowercase()
        } else {
            fold(raw).chars().filter(|c| c.is_alphanumeric()).collect()
        };
        if !w.is_empty() && w.chars().count() <= WORD_MAX {
            out.push((s, e, w));
        }
    };
    for (i, c) in text.char_indices() {
        // Combining marks belong to the word they follow.
        if c.is_alphanumeric() || (start.is_some() && is_combining_mark(c)) {
            if start.is_none() {
                start = Some(i);
            }
            end = i + c.len_utf8();
        } else if let Some(s) = start.take() {
            push(s, end);
        }
    }
    if let Some(s) = start {
        push(s, end);
    }
    out
}

/// The words of a query: as [`words`], but a word too long to be indexed
/// is kept (cut to [`QUERY_MAX`]), so that it finds nothing rather than
/// vanishing from the query.
fn query_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for run in text.split(|c: char| !(c.is_alphanumeric() || is_combining_mark(c))) {
        if run.is_empty() {
            continue;
        }
        let w: String = fold(run).chars().filter(|c| c.is_alphanumeric()).collect();
        if !w.is_empty() {
            out.push(w);
        }
    }
    out
}

/// `text` as stored in the index: its words separated by single spaces,
/// with a space at each end (so ` word ` finds a whole word anywhere).
pub fn index_text<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from(" ");
    for text in texts {
        for w in words(text) {
            out.push_str(&w);
            out.push(' ');
        }
    }
    out
}

/// One thing a query looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// A whole word.
    Word(String),
    /// Words starting with this.
    Prefix(String),
    /// These words next to each other, in order.
    Phrase(Vec<String>),
}

impl Clause {
    /// The text that finds this clause in an index text (see
    /// [`index_text`]): the words between spaces (a prefix open at its end).
    pub fn needle(&self) -> String {
        match self {
            Self::Word(w) => format!(" {w} "),
            Self::Prefix(p) => format!(" {p}"),
            Self::Phrase(ws) => format!(" {} ", ws.join(" ")),
        }
    }

    /// The words of the clause.
    pub fn words(&self) -> Vec<&str> {
        match self {
            Self::Word(w) | Self::Prefix(w) => vec![w.as_str()],
            Self::Phrase(ws) => ws.iter().map(String::as_str).collect(),
        }
    }

    /// Whether the clause finds something in `index` (an [`index_text`]).
    pub fn found_in(&self, index: &str) -> bool {
        index.contains(&self.needle())
    }

    /// FTS5 query syntax: every word in double quotes (index words hold
    /// only letters and digits, so nothing inside can be an operator).
    fn fts5(&self) -> String {
        let quoted = |w: &str| format!("\"{}\"", w.replace('"', "\"\""));
        match self {
            Self::Word(w) => quoted(w),
            Self::Prefix(p) => format!("{}*", quoted(p)),
            Self::Phrase(ws) => quoted(&ws.join(" ")),
        }
    }

    /// PostgreSQL `tsquery` syntax, every lexeme quoted. A phrase matches
    /// its words anywhere here; the phrase itself is checked on the index
    /// text (the index keeps no positions).
    fn tsquery(&self) -> String {
        let quoted = |w: &str| format!("'{}'", w.replace('\\', "\\\\").replace('\'', "''"));
        match self {
            Self::Word(w) => quoted(w),
            Self::Prefix(p) => format!("{}:*", quoted(p)),
            Self::Phrase(ws) => format!(
                "({})",
                ws.iter().map(|w| quoted(w)).collect::<Vec<_>>().join(" & ")
            ),
        }
    }
}

/// A filter field a query may name as `field:value`.
pub const FILTER_FIELDS: &[&str] = &[
    "kind",
    "language",
    "country",
    "license",
    "tag",
    "institution",
    "access_level",
    "risk_tier",
    "level",
];

/// A query as a person typed it, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Every one must match.
    pub all: Vec<Clause>,
    /// None may match.
    pub none: Vec<Clause>,
    /// `field:value` filters (field one of [`FILTER_FIELDS`], value as typed).
    pub filters: Vec<(String, String)>,
}

impl Query {
    /// Reads `raw`: words (all must match), `"exact phrase"`, `-excluded`
    /// (a word or a phrase), `prefix*` and `field:value` for the filter
    /// fields. Anything else counts only for its letters and digits, so
    /// every input reads; only a query over [`QUERY_MAX`] characters or
    /// with more than [`CLAUSES_MAX`] parts is refused.
    pub fn parse(raw: &str) -> Result<Self, crate::domain::field::Invalid> {
        use crate::domain::field::Invalid;
        if raw.chars().count() > QUERY_MAX {
            return Err(Invalid::too_long(
                QUERY_MAX,
                format!("At most {QUERY_MAX} characters."),
            ));
        }
        let mut q = Self::default();
        let mut rest = raw.trim_start();
        while !rest.is_empty() {
            let negated = rest.starts_with('-') && rest.len() > 1;
            if negated {
                rest = &rest[1..];
            }
            let (token, quoted, tail) = if let Some(after) = rest.strip_prefix('"') {
                match after.find('"') {
                    Some(end) => (&after[..end], true, &after[end + 1..]),
                    None => (after, true, ""),
                }
            } else {
                match rest.find(char::is_whitespace) {
                    Some(end) => (&rest[..end], false, &rest[end..]),
                    None => (rest, false, ""),
                }
            };
            rest = tail.trim_start();
            if !quoted
                && !negated
                && let Some((field, value)) = token.split_once(':')
                && FILTER_FIELDS.contains(&field.to_ascii_lowercase().as_str())
            {
                // `field:"two words"` takes the quoted value.
                let value = match value.strip_prefix('"') {
                    Some(v) => match v.split_once('"') {
                        Some((inside, _)) => inside.to_string(),
                        None => format!("{v}{}", rest_until_quote(&mut rest)),
                    },
                    None => value.to_string(),
                };
                if !value.trim().is_empty() {
                    q.filters
                        .push((field.to_ascii_lowercase(), value.trim().to_string()));
                }
                continue;
            }
            let prefix = !quoted && token.ends_with('*');
            // Words too long to be indexed stay in the query: they find nothing.
            let mut ws = query_words(token);
            let clause = match ws.len() {
                0 => continue,
                1 if prefix => Clause::Prefix(ws.remove(0)),
                1 => Clause::Word(ws.remove(0)),
                _ if prefix && !negated => {
                    // `foo.ba*`: the words, then the prefix.
                    let last = ws.pop().unwrap_or_default();
                    for w in ws {
                        push_clause(&mut q.all, Clause::Word(w));
                    }
                    push_clause(&mut q.all, Clause::Prefix(last));
                    continue;
                }
                _ => Clause::Phrase(ws),
            };
            push_clause(if negated { &mut q.none } else { &mut q.all }, clause);
        }
        if q.all.len() + q.none.len() + q.filters.len() > CLAUSES_MAX {
            return Err(Invalid::too_many(
                CLAUSES_MAX,
                format!("At most {CLAUSES_MAX} words, phrases and filters in one query."),
            ));
        }
        Ok(q)
    }

    /// Whether the query looks for any text (a query of only filters or
    /// punctuation does not).
    pub fn has_text(&self) -> bool {
        !self.all.is_empty() || !self.none.is_empty()
    }

    /// FTS5 syntax for the clauses that must match (implicit AND).
    pub fn fts5_all(&self) -> Option<String> {
        join(&self.all, " ", Clause::fts5)
    }

    /// FTS5 syntax matching any excluded clause.
    pub fn fts5_none(&self) -> Option<String> {
        join(&self.none, " OR ", Clause::fts5)
    }

    /// `tsquery` syntax for the clauses that must match.
    pub fn tsquery_all(&self) -> Option<String> {
        join(&self.all, " & ", Clause::tsquery)
    }

    /// `tsquery` syntax matching any excluded clause.
    pub fn tsquery_none(&self) -> Option<String> {
        join(&self.none, " | ", Clause::tsquery)
    }

    /// The phrases (kept or excluded), checked on the index text where the
    /// index cannot check word order.
    pub fn phrases(&self) -> (Vec<String>, Vec<String>) {
        let pick = |cs: &[Clause]| {
            cs.iter()
                .filter(|c| matches!(c, Clause::Phrase(_)))
                .map(Clause::needle)
                .collect()
        };
        (pick(&self.all), pick(&self.none))
    }

    /// The query's words as typed back: `all` then `-none` (used to show a
    /// corrected query).
    pub fn text(&self) -> String {
        let show = |c: &Clause| match c {
            Clause::Word(w) => w.clone(),
            Clause::Prefix(p) => format!("{p}*"),
            Clause::Phrase(ws) => format!("\"{}\"", ws.join(" ")),
        };
        let mut parts: Vec<String> = self.all.iter().map(show).collect();
        parts.extend(self.none.iter().map(|c| format!("-{}", show(c))));
        parts.extend(self.filters.iter().map(|(f, v)| {
            if v.contains(char::is_whitespace) {
                format!("{f}:\"{v}\"")
            } else {
                format!("{f}:{v}")
            }
        }));
        parts.join(" ")
    }
}

fn rest_until_quote(rest: &mut &str) -> String {
    // Called after `field:"first` was split at whitespace: take up to the
    // closing quote.
    let r = *rest;
    if let Some(end) = r.find('"') {
        *rest = r[end + 1..].trim_start();
        format!(" {}", &r[..end])
    } else {
        *rest = "";
        if r.is_empty() {
            String::new()
        } else {
            format!(" {r}")
        }
    }
}

fn push_clause(into: &mut Vec<Clause>, clause: Clause) {
    if !into.contains(&clause) {
        into.push(clause);
    }
}

fn join(clauses: &[Clause], sep: &str, f: fn(&Clause) -> String) -> Option<String> {
    if clauses.is_empty() {
        return None;
    }
    Some(clauses.iter().map(f).collect::<Vec<_>>().join(sep))
}

/// The four indexed fields of a resource, as index texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    pub title: String,
    pub tags: String,
    pub summary: String,
    /// Description, the kind's own texts and the institution's name.
    pub body: String,
}

impl Indexed {
    pub fn new<'a>(
        title: &str,
        tags: impl IntoIterator<Item = &'a str>,
        summary: &str,
        body: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        Self {
            title: index_text([title]),
            tags: index_text(tags),
            summary: index_text([summary]),
            body: index_text(body),
        }
    }

    /// The score of a document for `query`: for each clause that must
    /// match, the weight of the most important field it is found in (0
    /// where it is in none). It depends on the document and the query only
    /// (not on the rest of the catalogue), so a page cursor over
    /// `(score, …)` stays valid while others write. The database computes
    /// the same sum for the documents the query matches (`db::search`);
    /// this is its reference.
    pub fn score(&self, query: &Query) -> i64 {
        query
            .all
            .iter()
            .map(|c| {
                [
                    (&self.title, WEIGHT_TITLE),
                    (&self.tags, WEIGHT_TAGS),
                    (&self.summary, WEIGHT_SUMMARY),
                    (&self.body, WEIGHT_BODY),
                ]
                .iter()
                .find(|(text, _)| c.found_in(text))
                .map_or(0, |(_, w)| *w)
            })
            .sum()
    }

    /// Every word of the document (for the vocabulary of corrections).
    pub fn vocabulary(&self) -> Vec<&str> {
        let mut all: Vec<&str> = [&self.title, &self.tags, &self.summary, &self.body]
            .iter()
            .flat_map(|t| t.split(' '))
            .filter(|w| !w.is_empty())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

// ----- highlights -----------------------------------------------------------

/// Opening and closing marks around a matched word in a highlight; the
/// text around them is HTML-escaped.
pub const MARK_OPEN: &str = "<mark>";
pub const MARK_CLOSE: &str = "</mark>";

/// Roughly how many characters a snippet shows.
pub const SNIPPET_CHARS: usize = 160;

/// `text` HTML-escaped with every word the query looks for marked, or
/// `None` when nothing in it matches. `window` cuts a long text to about
/// [`SNIPPET_CHARS`] around the first match, with `…` where it was cut.
pub fn highlight(text: &str, query: &Query, window: bool) -> Option<String> {
    let spans = spans(text);
    let folded: Vec<&str> = spans.iter().map(|(_, _, w)| w.as_str()).collect();
    let mut marked = vec![false; spans.len()];
    for clause in &query.all {
        match clause {
            Clause::Word(w) => {
                for (i, f) in folded.iter().enumerate() {
                    marked[i] |= f == w;
                }
            }
            Clause::Prefix(p) => {
                for (i, f) in folded.iter().enumerate() {
                    marked[i] |= f.starts_with(p.as_str());
                }
            }
            Clause::Phrase(ws) => {
                for start in 0..folded.len() {
                    if folded[start..]
                        .starts_with(&ws.iter().map(String::as_str).collect::<Vec<_>>())
                    {
                        for m in &mut marked[start..start + ws.len()] {
                            *m = true;
                        }
                    }
                }
            }
        }
    }
    let first = marked.iter().position(|m| *m)?;
    let (from, to) = if window && text.chars().count() > SNIPPET_CHARS {
        let anchor = spans[first].0;
        let from = floor_boundary(text, anchor.saturating_sub(SNIPPET_CHARS / 3));
        // Start at a word boundary.
        let from = if from == 0 {
            0
        } else {
            spans
                .iter()
                .map(|s| s.0)
                .find(|s| *s >= from)
                .unwrap_or(anchor)
        };
        let to = floor_boundary(text, (from + SNIPPET_CHARS * 2).min(text.len()));
        let to = spans
            .iter()
            .filter(|s| s.1 <= to && s.0 >= from)
            .map(|s| s.1)
            .max()
            .unwrap_or(to)
            .max(spans[first].1);
        // Keep about SNIPPET_CHARS characters.
        let mut end = to;
        for (s, e, _) in spans.iter().filter(|s| s.0 >= from && s.1 <= to) {
            if text[from..*e].chars().count() > SNIPPET_CHARS && *s > spans[first].1 {
                break;
            }
            end = *e;
        }
        (from, end)
    } else {
        (0, text.len())
    };
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut at = from;
    for ((s, e, _), m) in spans.iter().zip(&marked) {
        if *s < from || *e > to || !*m {
            continue;
        }
        escape_into(&mut out, &text[at..*s]);
        out.push_str(MARK_OPEN);
        escape_into(&mut out, &text[*s..*e]);
        out.push_str(MARK_CLOSE);
        at = *e;
    }
    escape_into(&mut out, &text[at..to]);
    if to < text.len() {
        out.push('…');
    }
    Some(out)
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Appends `text` escaped for HTML text and attribute values.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

// ----- corrections ------------------------------------------------------------

/// How far (in edits) a correction of `word` may be.
pub fn max_edits(word: &str) -> usize {
    match word.chars().count() {
        0..=3 => 0,
        4..=6 => 1,
        _ => 2,
    }
}

/// The words of `vocabulary` that `word` may be a typo of (itself
/// included), closest first, then alphabetically: within [`max_edits`]
/// (optimal string alignment: Damerau–Levenshtein where no substring is edited twice), at most `limit`.
pub fn candidates<'a>(
    word: &str,
    vocabulary: impl IntoIterator<Item = &'a str>,
    limit: usize,
) -> Vec<&'a str> {
    let edits = max_edits(word);
    let len = word.chars().count();
    let mut found: Vec<(usize, &str)> = vocabulary
        .into_iter()
        .filter(|c| c.chars().count().abs_diff(len) <= edits)
        .filter_map(|c| {
            let d = strsim::osa_distance(word, c);
            (d <= edits).then_some((d, c))
        })
        .collect();
    found.sort_unstable();
    found.truncate(limit);
    found.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_strips_accents_and_case() {
        assert_eq!(fold("Yorùbá"), "yoruba");
        assert_eq!(fold("ÉCOLE"), "ecole");
        assert_eq!(
            words("Kiswahili, Yorùbá & Hausa-Fulfulde (2024)"),
            ["kiswahili", "yoruba", "hausa", "fulfulde", "2024"]
        );
        assert_eq!(words("አማርኛ العربية"), ["አማርኛ", "العربية"]);
        assert_eq!(index_text(["A b", "c"]), " a b c ");
        assert!(words(&"x".repeat(WORD_MAX + 1)).is_empty());
        let long = Query::parse(&"x".repeat(WORD_MAX + 1)).unwrap();
        assert_eq!(long.all, [Clause::Word("x".repeat(WORD_MAX + 1))]);
        // A decomposed accent reads like the composed one.
        assert_eq!(words("Yoru\u{300}ba"), ["yoruba"]);
    }

    #[test]
    fn queries_read_words_phrases_exclusions_prefixes_and_filters() {
        let q = Query::parse(r#"Quechua "speech corpus" -draft trans* language:qu kind:dataset"#)
            .unwrap();
        assert_eq!(
            q.all,
            [
                Clause::Word("quechua".into()),
                Clause::Phrase(vec!["speech".into(), "corpus".into()]),
                Clause::Prefix("trans".into()),
            ]
        );
        assert_eq!(q.none, [Clause::Word("draft".into())]);
        assert_eq!(
            q.filters,
            [
                ("language".into(), "qu".into()),
                ("kind".into(), "dataset".into())
            ]
        );
        assert_eq!(
            q.fts5_all().unwrap(),
            r#""quechua" "speech corpus" "trans"*"#
        );
        assert_eq!(q.fts5_none().unwrap(), r#""draft""#);
        assert_eq!(
            q.tsquery_all().unwrap(),
            "'quechua' & ('speech' & 'corpus') & 'trans':*"
        );
    }

    #[test]
    fn operators_and_junk_are_taken_literally() {
        for raw in [
            "NEAR(a b)",
            "a OR b",
            "title:x",
            "^a",
            "a:b:c",
            "\"",
            "*",
            "-",
            "-\"\"",
            "\u{0}",
            "a AND NOT b",
            "'; DROP TABLE resources; --",
            "(((",
            "col:",
            ":",
            "\\",
            "\"a\" \"",
        ] {
            let q = Query::parse(raw).unwrap();
            for c in q.all.iter().chain(&q.none) {
                for w in c.words() {
                    assert!(w.chars().all(char::is_alphanumeric), "{raw:?} gave {w:?}");
                }
            }
        }
        let q = Query::parse("a OR b").unwrap();
        assert_eq!(q.all.len(), 3);
        assert!(!Query::parse("*").unwrap().has_text());
        assert!(Query::parse(&"a ".repeat(300)).is_err());
        assert!(
            Query::parse(&"ab ".repeat(17)).is_ok(),
            "repeated words count once"
        );
        assert!(
            Query::parse(
                &(0..17)
                    .map(|i| format!("w{i}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
            .is_err()
        );
    }

    #[test]
    fn scores_weigh_title_over_body() {
        let q = Query::parse("quechua").unwrap();
        let title = Indexed::new("Quechua speech", [], "", []);
        let body = Indexed::new("Speech", [], "", ["About Quechua"]);
        assert!(title.score(&q) > body.score(&q));
        assert_eq!(title.score(&q), WEIGHT_TITLE);
        let phrase = Query::parse("\"speech quechua\"").unwrap();
        assert_eq!(title.score(&phrase), 0);
        // The most important field counts, once per clause.
        let everywhere = Indexed::new("Quechua", ["quechua"], "Quechua", ["Quechua"]);
        assert_eq!(everywhere.score(&q), WEIGHT_TITLE);
        assert_eq!(body.score(&q), WEIGHT_BODY);
        let two = Query::parse("quechua speech").unwrap();
        assert_eq!(title.score(&two), 2 * WEIGHT_TITLE);
    }

    #[test]
    fn highlights_are_escaped_and_marked() {
        let q = Query::parse("yoruba \"open data\"").unwrap();
        let h = highlight("<b>Yorùbá</b> & open data", &q, false).unwrap();
        assert_eq!(
            h,
            "&lt;b&gt;<mark>Yorùbá</mark>&lt;/b&gt; &amp; <mark>open</mark> <mark>data</mark>"
        );
        assert!(highlight("nothing here", &q, false).is_none());
        let long = format!("{} yoruba {}", "word ".repeat(100), "tail ".repeat(100));
        let h = highlight(&long, &q, true).unwrap();
        assert!(h.starts_with('…') && h.ends_with('…'), "{h}");
        assert!(h.contains("<mark>yoruba</mark>"));
        assert!(
            h.chars().count() < SNIPPET_CHARS + 40,
            "{}",
            h.chars().count()
        );
    }

    #[test]
    fn corrections_come_from_close_words() {
        let vocab = ["quechua", "quantum", "aymara", "quechau", "quechue"];
        assert_eq!(
            candidates("quechau", vocab, 5),
            ["quechau", "quechua", "quechue"]
        );
        assert_eq!(candidates("qechua", vocab, 5), ["quechua"]);
        assert!(candidates("xyz", vocab, 5).is_empty());
        assert!(candidates("zzzzzzz", vocab, 5).is_empty());
        assert_eq!(candidates("quechau", vocab, 1), ["quechau"]);
    }
}
