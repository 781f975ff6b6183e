//! Citations of a resource in four styles: BibTeX, RIS, CSL-JSON and APA
//! (7th edition, plain text). Pure: the caller gathers what is cited.

use serde_json::{Value, json};

use crate::domain::resource::ResourceKind;

/// A citation style.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub enum Style {
    #[serde(rename = "bibtex")]
    Bibtex,
    #[serde(rename = "ris")]
    Ris,
    #[serde(rename = "csl-json")]
    CslJson,
    #[serde(rename = "apa")]
    Apa,
}

impl Style {
    /// The media type of a citation in this style.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Bibtex => "application/x-bibtex; charset=utf-8",
            Self::Ris => "application/x-research-info-systems; charset=utf-8",
            Self::CslJson => "application/vnd.citationstyles.csl+json",
            Self::Apa => "text/plain; charset=utf-8",
        }
    }
}

/// What a citation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cited {
    pub id: String,
    pub kind: ResourceKind,
    /// People or organisations, in order (today the owning institution:
    /// resources have no contributors list).
    pub authors: Vec<String>,
    pub title: String,
    pub year: i32,
    /// `YYYY-MM-DD` of publication (or creation, for a draft).
    pub date: String,
    pub version: i64,
    /// The platform that publishes it.
    pub publisher: String,
    pub url: String,
    pub doi: Option<String>,
}

impl Cited {
    fn label(&self) -> &'static str {
        match self.kind {
            ResourceKind::Dataset => "Dataset",
            ResourceKind::Course => "Course",
            ResourceKind::ModelCard => "Machine learning model",
        }
    }

    /// The DOI as a resolvable URL, else the landing URL.
    pub fn link(&self) -> String {
        self.doi
            .as_ref()
            .map_or_else(|| self.url.clone(), |d| format!("https://doi.org/{d}"))
    }

    pub fn render(&self, style: Style) -> String {
        match style {
            Style::Bibtex => self.bibtex(),
            Style::Ris => self.ris(),
            Style::CslJson => self.csl_json().to_string(),
            Style::Apa => self.apa(),
        }
    }

    fn bibtex(&self) -> String {
        // Organisations are braced so BibTeX does not split them into names.
        let authors = self
            .authors
            .iter()
            .map(|a| format!("{{{}}}", bib(a)))
            .collect::<Vec<_>>()
            .join(" and ");
        let mut fields = vec![
            ("author", authors),
            ("title", format!("{{{}}}", bib(&self.title))),
            ("year", self.year.to_string()),
            ("version", self.version.to_string()),
            ("publisher", bib(&self.publisher)),
            ("howpublished", format!("\\url{{{}}}", self.url)),
            ("url", self.url.clone()),
            ("note", self.label().to_string()),
        ];
        if let Some(d) = &self.doi {
            fields.push(("doi", bib(d)));
        }
        let entry = match self.kind {
            ResourceKind::Dataset => "dataset",
            ResourceKind::ModelCard => "software",
            ResourceKind::Course => "misc",
        };
        let key: String = self
            .id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let mut out = format!("@{entry}{{kujenga-{key},\n");
        for (k, v) in fields {
            out.push_str(&format!("  {k} = {{{v}}},\n"));
        }
        out.push_str("}\n");
        out
    }

    fn ris(&self) -> String {
        let ty = match self.kind {
            ResourceKind::Dataset => "DATA",
            ResourceKind::ModelCard => "COMP",
            ResourceKind::Course => "ELEC",
        };
        let mut lines = vec![format!("TY  - {ty}")];
        lines.extend(
            self.authors
                .iter()
                .map(|a| format!("AU  - {}", one_line(a))),
        );
        lines.push(format!("TI  - {}", one_line(&self.title)));
        lines.push(format!("PY  - {}", self.year));
        lines.push(format!("DA  - {}", self.date.replace('-', "/")));
        lines.push(format!("ET  - {}", self.version));
        lines.push(format!("PB  - {}", one_line(&self.publisher)));
        lines.push(format!("UR  - {}", self.url));
        if let Some(d) = &self.doi {
            lines.push(format!("DO  - {d}"));
        }
        lines.push(format!("M3  - {}", self.label()));
        lines.push("ER  - ".to_string());
        let mut out = lines.join("\r\n");
        out.push_str("\r\n");
        out
    }

    fn csl_json(&self) -> Value {
        let ty = match self.kind {
            ResourceKind::Dataset => "dataset",
            ResourceKind::ModelCard => "software",
            ResourceKind::Course => "document",
        };
        let parts: Vec<i64> = self
            .date
            .split('-')
            .filter_map(|p| p.parse().ok())
            .collect();
        let mut item = json!({
            "id": self.id,
            "type": ty,
            "title": self.title,
            "author": self.authors.iter().map(|a| json!({"literal": a})).collect::<Vec<_>>(),
            "issued": {"date-parts": [parts]},
            "version": self.version.to_string(),
            "publisher": self.publisher,
            "URL": self.url,
            "genre": self.label(),
        });
        if let (Some(d), Value::Object(map)) = (&self.doi, &mut item) {
            map.insert("DOI".into(), json!(d));
        }
        json!([item])
    }

    fn apa(&self) -> String {
        let authors = match self.authors.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{}, & {last}", init.join(", ")),
        };
        let end = if authors.ends_with('.') { "" } else { "." };
        format!(
            "{authors}{end} ({}). {} (Version {}) [{}]. {}. {}\n",
            self.year,
            one_line(&self.title),
            self.version,
            self.label(),
            one_line(&self.publisher),
            self.link()
        )
    }
}

/// A value inside BibTeX braces: its special characters escaped.
fn bib(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' | '}' | '&' | '%' | '$' | '#' | '_' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            c => out.push(c),
        }
    }
    out
}

/// Line breaks (which end a RIS tag) as spaces.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cited(doi: Option<&str>) -> Cited {
        Cited {
            id: "0190f3b4-5c3e-7000-8000-000000000001".into(),
            kind: ResourceKind::Dataset,
            authors: vec!["Makerere AI Lab".into()],
            title: "Sauti {Luganda} speech_corpus 50%".into(),
            year: 2026,
            date: "2026-03-04".into(),
            version: 3,
            publisher: "Kujenga".into(),
            url: "https://api.example.org/api/v1/datasets/0190f3b4-5c3e-7000-8000-000000000001"
                .into(),
            doi: doi.map(str::to_string),
        }
    }

    #[test]
    fn bibtex_escapes_and_names_the_doi() {
        let b = cited(Some("10.5281/zenodo.1234567")).render(Style::Bibtex);
        assert!(
            b.starts_with("@dataset{kujenga-0190f3b45c3e70008000000000000001,\n"),
            "{b}"
        );
        assert!(b.contains("  author = {{Makerere AI Lab}},\n"), "{b}");
        assert!(
            b.contains("  title = {{Sauti \\{Luganda\\} speech\\_corpus 50\\%}},\n"),
            "{b}"
        );
        assert!(b.contains("  doi = {10.5281/zenodo.1234567},\n"), "{b}");
        assert!(b.contains("  year = {2026},\n") && b.contains("  version = {3},\n"));
        assert!(!cited(None).render(Style::Bibtex).contains("doi"));
    }

    #[test]
    fn ris_has_its_tags_in_order() {
        let r = cited(Some("10.5281/zenodo.1")).render(Style::Ris);
        let tags: Vec<&str> = r.lines().map(|l| &l[..2]).collect();
        assert_eq!(
            tags,
            [
                "TY", "AU", "TI", "PY", "DA", "ET", "PB", "UR", "DO", "M3", "ER"
            ]
        );
        assert!(r.contains("TY  - DATA\r\n") && r.contains("DA  - 2026/03/04\r\n"));
    }

    #[test]
    fn csl_json_and_apa() {
        let c = cited(Some("10.5281/zenodo.1"));
        let v: Value = serde_json::from_str(&c.render(Style::CslJson)).unwrap();
        assert_eq!(v[0]["type"], "dataset");
        assert_eq!(v[0]["issued"]["date-parts"], json!([[2026, 3, 4]]));
        assert_eq!(v[0]["author"], json!([{"literal": "Makerere AI Lab"}]));
        assert_eq!(v[0]["DOI"], "10.5281/zenodo.1");
        assert_eq!(
            c.render(Style::Apa),
            "Makerere AI Lab. (2026). Sauti {Luganda} speech_corpus 50% (Version 3) [Dataset]. Kujenga. https://doi.org/10.5281/zenodo.1\n"
        );
        assert!(
            cited(None)
                .render(Style::Apa)
                .ends_with("datasets/0190f3b4-5c3e-7000-8000-000000000001\n")
        );
    }
}
