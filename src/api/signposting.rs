//! FAIR signposting (https://signposting.org/FAIR/): the `Link` header of a
//! public resource's single read, and the same metadata formats listed in
//! its JSON (`alternate_formats`).

use serde::Serialize;
use utoipa::ToSchema;

use crate::app::signposting::Signposts;
use crate::domain::resource::ResourceKind;

/// Another representation of the resource, or metadata about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FormatLink {
    /// `describedby` (metadata about the resource) or `alternate` (the
    /// resource in another format).
    pub rel: String,
    /// Its media type.
    #[serde(rename = "type")]
    pub media_type: String,
    /// The profile (standard) the document follows, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[schema(format = "uri")]
    pub href: String,
}

fn link(rel: &str, media_type: &str, profile: Option<&str>, href: String) -> FormatLink {
    FormatLink {
        rel: rel.into(),
        media_type: media_type.into(),
        profile: profile.map(str::to_string),
        href,
    }
}

/// The metadata documents of a public resource. `origin`: the API's public
/// origin; `oai_identifier`: its OAI-PMH identifier.
pub fn formats(origin: &str, s: &Signposts, oai_identifier: &str) -> Vec<FormatLink> {
    let origin = origin.trim_end_matches('/');
    let item = format!("{origin}/api/v1/{}/{}", s.kind.collection(), s.id);
    let mut out = vec![
        link(
            "describedby",
            "application/x-bibtex",
            None,
            format!("{item}/citation?style=bibtex"),
        ),
        link(
            "describedby",
            "application/x-research-info-systems",
            None,
            format!("{item}/citation?style=ris"),
        ),
        link(
            "describedby",
            "application/vnd.citationstyles.csl+json",
            None,
            format!("{item}/citation?style=csl-json"),
        ),
        link(
            "describedby",
            "application/xml",
            Some("http://www.openarchives.org/OAI/2.0/oai_dc/"),
            format!(
                "{origin}/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier={oai_identifier}"
            ),
        ),
        link(
            "describedby",
            "application/xml",
            Some("http://datacite.org/schema/kernel-4"),
            format!(
                "{origin}/oai?verb=GetRecord&metadataPrefix=oai_datacite&identifier={oai_identifier}"
            ),
        ),
        link(
            "describedby",
            "application/ld+json",
            Some("https://schema.org/"),
            item.clone(),
        ),
    ];
    if s.kind == ResourceKind::Dataset {
        out.push(link(
            "describedby",
            "application/ld+json",
            Some("http://mlcommons.org/croissant/1.1"),
            format!("{item}/croissant"),
        ));
        out.push(link(
            "describedby",
            "text/turtle",
            Some("http://data.europa.eu/r5r/"),
            item.clone(),
        ));
    }
    out
}

/// The `Link` header's value: `cite-as`, `type`, `describedby` for each
/// format, `license`, and `item` for each file (its link endpoint, never
/// the file's own URL).
pub fn header(origin: &str, s: &Signposts, formats: &[FormatLink]) -> String {
    let origin = origin.trim_end_matches('/');
    let item = format!("{origin}/api/v1/{}/{}", s.kind.collection(), s.id);
    let cite_as = s
        .doi
        .as_ref()
        .map_or_else(|| item.clone(), |d| format!("https://doi.org/{d}"));
    let ty = match s.kind {
        ResourceKind::Dataset => "https://schema.org/Dataset",
        ResourceKind::Course => "https://schema.org/Course",
        ResourceKind::ModelCard => "https://schema.org/SoftwareSourceCode",
    };
    let mut links = vec![
        format!("<{cite_as}>; rel=\"cite-as\""),
        format!("<{ty}>; rel=\"type\""),
        "<https://schema.org/AboutPage>; rel=\"type\"".to_string(),
    ];
    for f in formats {
        let mut l = format!("<{}>; rel=\"{}\"; type=\"{}\"", f.href, f.rel, f.media_type);
        if let Some(p) = &f.profile {
            l.push_str(&format!("; profile=\"{p}\""));
        }
        links.push(l);
    }
    if let Some(lic) = &s.license {
        links.push(format!(
            "<https://spdx.org/licenses/{lic}>; rel=\"license\""
        ));
    }
    for (file, media) in &s.files {
        links.push(format!(
            "<{item}/files/{file}/link>; rel=\"item\"; type=\"{media}\""
        ));
    }
    links.join(", ")
}
