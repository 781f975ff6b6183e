//! RDF out: triples made with `oxrdf` terms, written as JSON-LD, Turtle or
//! RDF/XML by the oxigraph project's serialisers, and the choice between
//! them from an `Accept` header or a file extension.
//!
//! The triples are kept as a list grouped by subject, not as an indexed
//! `oxrdf::Graph`: an export is written once, never queried, and interning
//! and indexing ~10,000 triples three ways cost more than writing them.

use std::collections::HashMap;

use oxrdf::{Graph, Literal, NamedNode, NamedOrBlankNode, Term, Triple};

/// The RDF formats the exports are offered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdfFormat {
    JsonLd,
    Turtle,
    RdfXml,
}

impl RdfFormat {
    pub const ALL: [RdfFormat; 3] = [Self::JsonLd, Self::Turtle, Self::RdfXml];

    pub fn media_type(self) -> &'static str {
        match self {
            Self::JsonLd => "application/ld+json",
            Self::Turtle => "text/turtle",
            Self::RdfXml => "application/rdf+xml",
        }
    }

    /// The `Content-Type` sent (text formats in UTF-8).
    pub fn content_type(self) -> &'static str {
        match self {
            Self::JsonLd => "application/ld+json",
            Self::Turtle => "text/turtle; charset=utf-8",
            Self::RdfXml => "application/rdf+xml; charset=utf-8",
        }
    }

    /// `jsonld`, `ttl`, `rdf`: the extensions of `/catalog.{ext}`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::JsonLd => "jsonld",
            Self::Turtle => "ttl",
            Self::RdfXml => "rdf",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.extension() == ext)
    }

    pub fn from_media_type(media_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.media_type().eq_ignore_ascii_case(media_type))
    }
}

/// Content negotiation: which of `offered` (in order of preference) the
/// `Accept` header wants most (`http::accept`, RFC 9110 §12.5.1). No
/// header, or an empty one, takes the first; `None` when it accepts none of
/// them (a 406).
pub fn negotiate<'a>(accept: Option<&str>, offered: &[&'a str]) -> Option<&'a str> {
    crate::http::accept::choose(accept, offered).map(|i| offered[i])
}

/// The namespaces the exports use, and their usual prefixes.
pub const PREFIXES: &[(&str, &str)] = &[
    ("adms", "http://www.w3.org/ns/adms#"),
    ("dcat", "http://www.w3.org/ns/dcat#"),
    ("dct", "http://purl.org/dc/terms/"),
    ("foaf", "http://xmlns.com/foaf/0.1/"),
    ("hydra", "http://www.w3.org/ns/hydra/core#"),
    ("odrl", "http://www.w3.org/ns/odrl/2/"),
    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
    ("skos", "http://www.w3.org/2004/02/skos/core#"),
    ("spdx", "http://spdx.org/rdf/terms#"),
    ("vcard", "http://www.w3.org/2006/vcard/ns#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
];

/// A graph under construction. IRIs come from our own settings and stored,
/// validated values: one that does not parse is a bug, reported by
/// [`Builder::finish`] rather than written out.
#[derive(Debug, Default)]
pub struct Builder {
    /// Each subject's (predicate, object) pairs, subjects in the order
    /// they were first named, each pair once.
    subjects: Vec<(NamedOrBlankNode, Vec<(NamedNode, Term)>)>,
    index: HashMap<NamedOrBlankNode, usize>,
    bad: Option<String>,
    /// The vocabulary terms made so far: a page of 100 datasets names the
    /// same few dozen terms thousands of times, and checking an IRI is
    /// dearer than copying one.
    terms: std::collections::HashMap<String, NamedNode>,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A named node; a bad IRI is remembered (and a placeholder used).
    pub fn iri(&mut self, iri: &str) -> NamedNode {
        match NamedNode::new(iri) {
            Ok(n) => n,
            Err(e) => {
                self.bad.get_or_insert_with(|| format!("`{iri}`: {e}"));
                NamedNode::new_unchecked("urn:kujenga:invalid")
            }
        }
    }

    /// `prefix:local` with a prefix of [`PREFIXES`].
    pub fn term(&mut self, curie: &str) -> NamedNode {
        if let Some(n) = self.terms.get(curie) {
            return n.clone();
        }
        let n = self.make_term(curie);
        self.terms.insert(curie.to_string(), n.clone());
        n
    }

    fn make_term(&mut self, curie: &str) -> NamedNode {
        let (prefix, local) = curie.split_once(':').unwrap_or(("", curie));
        let ns = PREFIXES
            .iter()
            .find(|(p, _)| *p == prefix)
            .map_or("", |(_, ns)| ns);
        self.iri(&format!("{ns}{local}"))
    }

    pub fn add(
        &mut self,
        s: impl Into<NamedOrBlankNode>,
        p: &str,
        o: impl Into<Term>,
    ) -> &mut Self {
        let p = self.term(p);
        let (s, o) = (s.into(), o.into());
        let at = match self.index.get(&s) {
            Some(&at) => at,
            None => {
                self.index.insert(s.clone(), self.subjects.len());
                self.subjects.push((s, Vec::new()));
                self.subjects.len() - 1
            }
        };
        let pairs = &mut self.subjects[at].1;
        // A graph holds a triple once (a licence or a theme named by
        // every dataset of a page is described once).
        if !pairs.iter().any(|(q, x)| *q == p && *x == o) {
            pairs.push((p, o));
        }
        self
    }

    /// `s rdf:type` each of `types`.
    pub fn typed(&mut self, s: impl Into<NamedOrBlankNode>, types: &[&str]) -> &mut Self {
        let s = s.into();
        for t in types {
            let t = self.term(t);
            self.add(s.clone(), "rdf:type", t);
        }
        self
    }

    /// A plain string literal.
    pub fn text(&mut self, s: impl Into<NamedOrBlankNode>, p: &str, value: &str) -> &mut Self {
        self.add(s, p, Literal::new_simple_literal(value))
    }

    /// A literal of an XSD datatype (`xsd:dateTime`…).
    pub fn typed_literal(
        &mut self,
        s: impl Into<NamedOrBlankNode>,
        p: &str,
        value: &str,
        datatype: &str,
    ) -> &mut Self {
        let dt = self.term(datatype);
        self.add(s, p, Literal::new_typed_literal(value, dt))
    }

    pub fn finish(self) -> Result<Triples, String> {
        match self.bad {
            Some(bad) => Err(format!("an IRI of an export does not parse: {bad}")),
            None => Ok(Triples(
                self.subjects
                    .into_iter()
                    .flat_map(|(s, pairs)| {
                        pairs
                            .into_iter()
                            .map(move |(p, o)| Triple::new(s.clone(), p, o))
                    })
                    .collect(),
            )),
        }
    }
}

/// The triples of an export, each once, those of one subject together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triples(Vec<Triple>);

impl Triples {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Triple> {
        self.0.iter()
    }

    /// As an indexed graph (to compare or query in tests).
    pub fn to_graph(&self) -> Graph {
        self.0.iter().collect()
    }
}

impl<'a> IntoIterator for &'a Triples {
    type Item = &'a Triple;
    type IntoIter = std::slice::Iter<'a, Triple>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Writes `graph` in `format`, with the usual prefixes.
pub fn write(graph: &Triples, format: RdfFormat) -> std::io::Result<Vec<u8>> {
    let bad = |e: oxrdf::IriParseError| std::io::Error::other(e);
    match format {
        RdfFormat::Turtle => {
            let mut s = oxttl::TurtleSerializer::new();
            for (p, ns) in PREFIXES {
                s = s.with_prefix(*p, *ns).map_err(bad)?;
            }
            let mut w = s.for_writer(Vec::new());
            for t in graph {
                w.serialize_triple(t)?;
            }
            w.finish()
        }
        RdfFormat::RdfXml => {
            let mut s = oxrdfxml::RdfXmlSerializer::new();
            for (p, ns) in PREFIXES {
                s = s.with_prefix(*p, *ns).map_err(bad)?;
            }
            let mut w = s.for_writer(Vec::new());
            for t in graph {
                w.serialize_triple(t)?;
            }
            w.finish()
        }
        RdfFormat::JsonLd => {
            let mut s = oxjsonld::JsonLdSerializer::new();
            for (p, ns) in PREFIXES {
                s = s.with_prefix(*p, *ns).map_err(bad)?;
            }
            let mut w = s.for_writer(Vec::new());
            for t in graph {
                w.serialize_quad(t.as_ref().in_graph(oxrdf::GraphNameRef::DefaultGraph))?;
            }
            w.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERED: &[&str] = &["application/json", "text/turtle", "application/rdf+xml"];

    #[test]
    fn accept_headers_choose_the_best_offer() {
        let cases: &[(Option<&str>, Option<&str>, &str)] = &[
            (None, Some("application/json"), "no header: the first offer"),
            (
                Some(""),
                Some("application/json"),
                "empty header: the first offer",
            ),
            (
                Some("*/*"),
                Some("application/json"),
                "anything: the first offer",
            ),
            (
                Some("text/turtle"),
                Some("text/turtle"),
                "exactly one offer",
            ),
            (
                Some("TEXT/Turtle; charset=utf-8"),
                Some("text/turtle"),
                "case and parameters",
            ),
            (
                Some("application/rdf+xml;q=0.9, text/turtle;q=0.5"),
                Some("application/rdf+xml"),
                "the higher q wins",
            ),
            (
                Some("text/turtle, application/rdf+xml"),
                Some("text/turtle"),
                "equal q: the one named first",
            ),
            (Some("text/*"), Some("text/turtle"), "a subtype wildcard"),
            (
                Some("*/*;q=0.1, text/turtle;q=0"),
                Some("application/json"),
                "q=0 refuses one offer, the wildcard takes another",
            ),
            (Some("image/png"), None, "nothing offered matches: 406"),
            (Some("text/turtle;q=0"), None, "the only match refused"),
            (Some("nonsense"), None, "not a media range"),
            (Some("text/turtle;q=2"), None, "a bad q counts as 0"),
        ];
        for (accept, expected, case) in cases {
            assert_eq!(negotiate(*accept, OFFERED), *expected, "{case}");
        }
    }

    #[test]
    fn every_format_writes_a_graph_it_can_read_back() {
        let mut b = Builder::new();
        let s = b.iri("https://example.org/d/1");
        b.typed(s.clone(), &["dcat:Dataset"])
            .text(s.clone(), "dct:title", "Title «ü»");
        let g = b.finish().unwrap();
        for f in RdfFormat::ALL {
            let bytes = write(&g, f).unwrap();
            let n = match f {
                RdfFormat::Turtle => oxttl::TurtleParser::new()
                    .for_slice(&bytes)
                    .filter(Result::is_ok)
                    .count(),
                RdfFormat::RdfXml => oxrdfxml::RdfXmlParser::new()
                    .for_slice(&bytes)
                    .filter(Result::is_ok)
                    .count(),
                RdfFormat::JsonLd => oxjsonld::JsonLdParser::new()
                    .for_slice(&bytes)
                    .filter(Result::is_ok)
                    .count(),
            };
            assert_eq!(n, 2, "{f:?}: {}", String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn a_bad_iri_is_an_error_not_output() {
        let mut b = Builder::new();
        let s = b.iri("not an iri");
        b.text(s, "dct:title", "x");
        assert!(b.finish().is_err());
    }
}
