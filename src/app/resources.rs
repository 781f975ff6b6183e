//! Resources (courses, datasets, model cards): the catalogue's commands and
//! queries, with or without HTTP.
//!
//! A resource is edited as one JSON document (`domain::resource`): `create`
//! validates the body, `update` merges the body into the current document
//! (RFC 7396) and validates the result with the same rules. Every access
//! question goes to `domain::policy`, every status question to the lifecycle
//! table `domain::resource::step`; every command runs in one write
//! transaction under the resource's row lock and records its events
//! (`app::events::record`, which writes the audit entry too).
//!
//! What a reader gets is a typed document per kind (`Course`, `Dataset`,
//! `ModelCard`): the same structs are serialized and documented (their
//! `ToSchema` is the OpenAPI schema), so the two cannot drift.
//!
//! Other areas (learning, access, partnerships) use `load`, `facts`,
//! `details_of`, `status_of`, `incomplete` and `read_only`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::app::access::MyAccess;
use crate::app::events;
use crate::app::permissions::{self, ResourcePermissions};
use crate::auth::Principal;
use crate::db::audit::Context;
use crate::db::institutions as institutions_store;
use crate::db::learning::ModuleRow;
use crate::db::resources::{self as store, Content, FileRow, Loaded, ResourceRow, Viewer};
use crate::db::search as search_store;
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::events::{Event, ResourceSummary};
use crate::domain::policy::{
    self, Action, Actor, InstitutionFacts, InstitutionRole, ResourceFacts,
};
use crate::domain::resource::{
    self as doc, CourseFields, DatasetFields, Details, Document, Link, ModelCardFields, Refused,
    ResourceKind, Status, Step, Visibility,
};
use crate::error::{ApiError, FieldCode, FieldError, Invalid};
use crate::http::etag;
use crate::problem_types::ProblemType;

/// Files a dataset may list.
pub const FILES_MAX: i64 = 1000;

// ----- loading ---------------------------------------------------------------------

pub fn parse_kind(row: &ResourceRow) -> ResourceKind {
    row.kind
}

pub fn status_of(row: &ResourceRow) -> Status {
    row.status
}

pub fn facts(l: &Loaded, viewer: &Viewer) -> ResourceFacts {
    ResourceFacts {
        institution: InstitutionFacts {
            verified: l.institution_verified,
            caller_role: viewer
                .role_in(&l.row.institution_id)
                .and_then(InstitutionRole::parse),
        },
        status: l.row.status,
        visibility: l.row.visibility,
        shared_with_caller: viewer.partnership_shared.contains(&l.row.id),
    }
}

pub fn visible(actor: &Actor, l: &Loaded, viewer: &Viewer) -> bool {
    policy::resource_visible(actor, &facts(l, viewer))
}

pub fn details_of(row: &ResourceRow) -> Result<Details, ApiError> {
    Details::from_json(row.kind, &row.details).map_err(|e| {
        ApiError::internal(
            anyhow::Error::new(e)
                .context(format!("stored details of resource {} do not read", row.id)),
        )
    })
}

/// A read that failed on a stored value outside its set (a word that is no
/// kind, status…): a 500 whose log names the rows that hold such values.
pub(crate) fn unreadable(conn: &mut DbConnection, err: diesel::result::Error) -> ApiError {
    if let diesel::result::Error::DeserializationError(_) = &err {
        let rows = store::unreadable(conn).unwrap_or_default();
        return ApiError::internal(
            anyhow::Error::new(err).context(format!("unreadable resource rows: {rows:?}")),
        );
    }
    err.into()
}

/// The resource `id` of `kind` as stored, whatever its status, and who is
/// looking.
fn fetch(
    conn: &mut DbConnection,
    kind: ResourceKind,
    id: &str,
    principal: Option<&Principal>,
) -> Result<(Loaded, Viewer), ApiError> {
    let viewer = Viewer::load(
        conn,
        principal.map(|p| p.user.id.as_str()),
        principal.is_some_and(Principal::is_admin),
    )?;
    let loaded = store::by_id(conn, id)
        .map_err(|e| unreadable(conn, e))?
        .filter(|l| l.row.kind == kind)
        .ok_or(ApiError::NotFound)?;
    Ok((loaded, viewer))
}

/// [`load`], for what may be read of a withdrawn resource besides its
/// tombstone (the access requests about it): a withdrawn resource is
/// loaded as if archived (seen as it was, read-only).
pub(crate) fn load_as_it_was(
    conn: &mut DbConnection,
    kind: ResourceKind,
    id: &str,
    principal: Option<&Principal>,
) -> Result<(Loaded, Viewer), ApiError> {
    let (mut loaded, viewer) = fetch(conn, kind, id, principal)?;
    if loaded.row.status == Status::Deaccessioned {
        loaded.row.status = Status::Archived;
    }
    Ok((loaded, viewer))
}

/// The resource `id` of `kind` and who is looking; `None` if there is none.
pub fn load(
    conn: &mut DbConnection,
    kind: ResourceKind,
    id: &str,
    principal: Option<&Principal>,
) -> Result<(Loaded, Viewer), ApiError> {
    let (loaded, viewer) = fetch(conn, kind, id, principal)?;
    if loaded.row.status == Status::Deaccessioned {
        // Withdrawn: its tombstone answers, whatever was asked of it.
        return Err(crate::app::deaccession::gone(
            conn, principal, &loaded, &viewer,
        ));
    }
    Ok((loaded, viewer))
}

pub fn incomplete(gaps: Vec<FieldError>) -> ApiError {
    ApiError::Unprocessable {
        problem: ProblemType::IncompleteResource,
        detail: format!(
            "Not complete enough to publish: {}",
            crate::error::summarise(&gaps)
        ),
        errors: gaps,
    }
}

pub fn read_only() -> ApiError {
    ApiError::Conflict {
        problem: ProblemType::ResourceArchived,
        detail: "This resource is archived; it can no longer be changed.".into(),
    }
}

/// Asks the lifecycle table whether `step` may happen to `l`: the status it
/// leads to (`None`: deleted), or the answer to the refusal.
pub(crate) fn lifecycle(l: &Loaded, step: Step) -> Result<Option<Status>, ApiError> {
    let status = l.row.status;
    doc::step(status, step).map_err(|refused| match refused {
        Refused::ReadOnly => read_only(),
        Refused::NotADraft => ApiError::Conflict {
            problem: ProblemType::ResourcePublished,
            detail: format!(
                "Only drafts can be deleted; archive this one with POST /api/v1/{}/{}/archive.",
                l.row.kind.collection(),
                l.row.id
            ),
        },
        Refused::Deaccessioned => ApiError::Gone {
            problem: ProblemType::Deaccessioned,
            detail: "This resource was withdrawn by its owners.".into(),
        },
        Refused::InvalidTransition => ApiError::Conflict {
            problem: ProblemType::InvalidTransition,
            detail: format!(
                "A {} resource cannot be {}; resources go draft → published → archived.",
                status.as_str(),
                match step {
                    Step::Publish => Status::Published.as_str(),
                    Step::Deaccession => Status::Deaccessioned.as_str(),
                    _ => Status::Archived.as_str(),
                }
            ),
        },
    })
}

// ----- representations -------------------------------------------------------

/// The fields every resource has.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResourceCore {
    #[schema(format = "uuid")]
    pub id: String,
    pub kind: ResourceKind,
    /// The owning institution's slug.
    pub institution: String,
    pub title: String,
    pub summary: String,
    /// Markdown.
    pub description: String,
    #[schema(value_type = Option<crate::domain::vocab::Licence>, required = true)]
    pub license: Option<String>,
    #[schema(value_type = Vec<crate::domain::vocab::Language>)]
    pub languages: Vec<String>,
    /// Target countries.
    #[schema(value_type = Vec<crate::domain::vocab::Country>)]
    pub countries: Vec<String>,
    pub tags: Vec<String>,
    pub visibility: Visibility,
    pub status: Status,
    /// Goes up by one with every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(required = true)]
    pub published_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub archived_at: Option<DateTime<Utc>>,
    /// The resource's DOI (`10.NNNN/suffix`), set by its owners; cited when
    /// present.
    #[schema(required = true, example = "10.5281/zenodo.1234567")]
    pub doi: Option<String>,
    /// The published version this is (`1.2`; see `GET …/versions`); null
    /// for a draft never published.
    #[schema(required = true, example = "1.2")]
    pub version_label: Option<String>,
    /// What its publisher said of this version.
    #[schema(required = true)]
    pub version_note: Option<String>,
    /// Where its published versions are listed; null for a draft never
    /// published.
    #[schema(
        required = true,
        example = "/api/v1/datasets/0190f7a8-54c1-7cc2-9d23-fb0a4a0c8f31/versions"
    )]
    pub versions_url: Option<String>,
    /// Links to other resources (those you may see).
    pub related: Vec<Link>,
    /// Links from other resources to this one (those you may see); single
    /// reads only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_from: Option<Vec<Link>>,
    /// What you may do with it (`app::permissions`): on single reads and
    /// what create, update, publish and archive answer; in lists with
    /// `fields=permissions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<ResourcePermissions>,
    /// Datasets: your own access state (single reads; lists with
    /// `fields=my_access`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_access: Option<MyAccess>,
    /// With `include=`: the objects asked for, embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included: Option<Included>,
    /// Single reads of a public resource: its metadata in other formats
    /// (citations, OAI-PMH records, linked-data documents), the same as the
    /// `describedby` links of its `Link` header (FAIR signposting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternate_formats: Option<Vec<crate::api::signposting::FormatLink>>,
}

/// What `include=` embeds (each only when asked).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Included {
    /// `include=modules`, courses only: the modules in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<crate::app::learning::CourseModule>>,
    /// `include=related`: the resources this one links to (and, on single
    /// reads, those linking to it), only those you may see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<Vec<RelatedItem>>,
    /// `include=institution`: the owning institution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution: Option<InstitutionSummary>,
}

/// A linked resource, embedded by `include=related`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RelatedItem {
    #[schema(format = "uuid")]
    pub id: String,
    pub kind: ResourceKind,
    pub title: String,
    pub status: Status,
    pub relation: doc::Relation,
    /// `to`: this resource links to it (`related`); `from`: it links here
    /// (`related_from`).
    #[schema(example = "to")]
    pub direction: LinkDirection,
}

/// Which way a link goes, seen from the resource read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkDirection {
    To,
    From,
}

/// The owning institution, embedded by `include=institution`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstitutionSummary {
    pub slug: String,
    pub name: String,
    pub country: String,
    pub verified: bool,
}

/// What `include=` may name.
pub const INCLUDES: &[&str] = &["modules", "related", "institution"];

/// `include=` read: which objects to embed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Include {
    pub modules: bool,
    pub related: bool,
    pub institution: bool,
}

impl Include {
    /// Reads `include=` (comma-separated); an unknown name is a 400 listing
    /// the valid ones.
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldError> {
        let mut out = Self::default();
        for name in raw
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            match name {
                "modules" => out.modules = true,
                "related" => out.related = true,
                "institution" => out.institution = true,
                _ => {
                    return Err(crate::domain::field::Invalid::not_allowed(
                        INCLUDES,
                        format!(
                            "`{name}` cannot be included; the valid names are {}.",
                            INCLUDES.join(", ")
                        ),
                    )
                    .at("include"));
                }
            }
        }
        Ok(out)
    }

    pub fn any(self) -> bool {
        self.modules || self.related || self.institution
    }
}

/// What a representation carries beyond the stored fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    pub permissions: bool,
    pub my_access: bool,
    pub include: Include,
}

impl Extras {
    /// A single read: permissions and `my_access` always.
    pub fn single(include: Include) -> Self {
        Self {
            permissions: true,
            my_access: true,
            include,
        }
    }
}

/// One kind's representation: the core and the kind's own fields, served
/// as one object and documented as one strict schema built from the same
/// two structs (every field the server sends is listed and required, no
/// other is allowed).
macro_rules! representation {
    ($(#[doc = $doc:literal])+ $name:ident, $fields:ty) => {
        $(#[doc = $doc])+
        #[derive(Debug, Clone, Serialize)]
        pub struct $name {
            #[serde(flatten)]
            pub core: ResourceCore,
            #[serde(flatten)]
            pub fields: $fields,
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                strict_schema(
                    concat!($($doc),+).trim(),
                    <ResourceCore as utoipa::PartialSchema>::schema(),
                    <$fields as utoipa::PartialSchema>::schema(),
                )
            }
        }

        impl ToSchema for $name {
            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                use utoipa::PartialSchema;
                schemas.push(("ResourceCore".into(), ResourceCore::schema()));
                <ResourceCore as ToSchema>::schemas(schemas);
                schemas.push((<$fields as ToSchema>::name().into_owned(), <$fields>::schema()));
                <$fields as ToSchema>::schemas(schemas);
            }
        }
    };
}

representation!(
    /// A course.
    Course,
    CourseFields
);
representation!(
    /// A dataset (fields after *Datasheets for Datasets* and MLCommons Croissant).
    Dataset,
    DatasetFields
);
representation!(
    /// A model card (after *Model Cards for Model Reporting*).
    ModelCard,
    ModelCardFields
);

/// One object schema holding the core's properties and a kind's: the
/// core's required ones, and every one of the kind's (a representation
/// always carries them, `null` when unset); nothing else allowed.
fn strict_schema(
    description: &str,
    core: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    fields: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, Object, Schema, Type};
    let mut merged = Object::with_type(Type::Object);
    merged.description = Some(description.to_string());
    merged.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
    for (part, all_required) in [(core, false), (fields, true)] {
        if let RefOr::T(Schema::Object(object)) = part {
            for (name, property) in object.properties {
                if all_required || object.required.contains(&name) {
                    merged.required.push(name.clone());
                }
                merged.properties.insert(name, property);
            }
        }
    }
    RefOr::T(Schema::Object(merged))
}

/// Any resource (see `kind`). Documented as `anyOf` the three kinds.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum AnyResource {
    Course(Course),
    Dataset(Dataset),
    ModelCard(ModelCard),
}

impl AnyResource {
    fn new(core: ResourceCore, details: Details) -> Self {
        match details {
            Details::Course(fields) => Self::Course(Course { core, fields }),
            Details::Dataset(fields) => Self::Dataset(Dataset { core, fields }),
            Details::ModelCard(fields) => Self::ModelCard(ModelCard { core, fields }),
        }
    }

    pub fn core_mut(&mut self) -> &mut ResourceCore {
        match self {
            Self::Course(r) => &mut r.core,
            Self::Dataset(r) => &mut r.core,
            Self::ModelCard(r) => &mut r.core,
        }
    }

    pub fn core(&self) -> &ResourceCore {
        match self {
            Self::Course(r) => &r.core,
            Self::Dataset(r) => &r.core,
            Self::ModelCard(r) => &r.core,
        }
    }

    /// The representation as a JSON object, keys in one canonical order:
    /// what is sent, and what its `ETag` is computed from.
    pub fn to_json(&self) -> Result<Value, ApiError> {
        serde_json::to_value(self).map_err(ApiError::internal)
    }

    /// Its strong `ETag`.
    pub fn etag(&self) -> Result<String, ApiError> {
        etag::etag_of_json(&self.to_json()?)
    }
}

impl utoipa::PartialSchema for AnyResource {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::Ref;
        use utoipa::openapi::schema::{AnyOfBuilder, Schema};
        Schema::AnyOf(
            AnyOfBuilder::new()
                .item(Ref::from_schema_name("Course"))
                .item(Ref::from_schema_name("Dataset"))
                .item(Ref::from_schema_name("ModelCard"))
                .description(Some("A course, dataset or model card (see `kind`)."))
                .build(),
        )
        .into()
    }
}

impl ToSchema for AnyResource {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push(("Course".into(), Course::schema()));
        schemas.push(("Dataset".into(), Dataset::schema()));
        schemas.push(("ModelCard".into(), ModelCard::schema()));
        <Course as ToSchema>::schemas(schemas);
        <Dataset as ToSchema>::schemas(schemas);
        <ModelCard as ToSchema>::schemas(schemas);
    }
}

/// A stored JSON list (languages, countries, tags).
fn json_list(row: &ResourceRow, raw: &str) -> Result<Vec<String>, ApiError> {
    serde_json::from_str(raw).map_err(|e| {
        ApiError::internal(anyhow::Error::new(e).context(format!(
            "a stored list of resource {} does not read",
            row.id
        )))
    })
}

/// The stored document (links unfiltered): what a PATCH merges into.
pub(crate) fn document_of(row: &ResourceRow, links: Vec<Link>) -> Result<Document, ApiError> {
    Ok(Document {
        core: doc::Core {
            title: row.title.clone(),
            summary: row.summary.clone(),
            description: row.description.clone(),
            license: row.license.clone(),
            languages: json_list(row, &row.languages)?,
            countries: json_list(row, &row.countries)?,
            tags: json_list(row, &row.tags)?,
            visibility: row.visibility,
            related: links,
            doi: row.doi.clone(),
        },
        details: details_of(row)?,
    })
}

pub(crate) fn links_of(rows: &[store::Edge], source: &str) -> Vec<Link> {
    rows.iter()
        .filter(|(s, ..)| s == source)
        .map(|(_, relation, target, version)| Link {
            version: version.clone(),
            ..Link::new(*relation, target.clone())
        })
        .collect()
}

/// The representations of `items` as `actor` sees them: links to and (with
/// `reverse`) from resources they may not see are left out, and so are the
/// datasets a model card's results name that they may not see.
/// The core fields of a resource as stored, with the links given.
pub(crate) fn core_of(
    l: &Loaded,
    related: Vec<Link>,
    related_from: Option<Vec<Link>>,
) -> Result<ResourceCore, ApiError> {
    let row = &l.row;
    Ok(ResourceCore {
        id: row.id.clone(),
        kind: row.kind,
        institution: l.institution_slug.clone(),
        title: row.title.clone(),
        summary: row.summary.clone(),
        description: row.description.clone(),
        license: row.license.clone(),
        languages: json_list(row, &row.languages)?,
        countries: json_list(row, &row.countries)?,
        tags: json_list(row, &row.tags)?,
        visibility: row.visibility,
        status: row.status,
        version: row.version,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
        published_at: row.published_at.map(|t| t.and_utc()),
        archived_at: row.archived_at.map(|t| t.and_utc()),
        doi: row.doi.clone(),
        version_label: None,
        version_note: None,
        versions_url: None,
        related,
        related_from,
        permissions: None,
        my_access: None,
        included: None,
        alternate_formats: None,
    })
}

#[allow(
    clippy::too_many_arguments,
    reason = "the one place a page is represented"
)]
pub(crate) fn represent(
    conn: &mut DbConnection,
    items: &[Loaded],
    viewer: &Viewer,
    principal: Option<&Principal>,
    reverse: bool,
    links: bool,
    extras: Extras,
) -> Result<Vec<AnyResource>, ApiError> {
    represent_with(conn, items, viewer, principal, reverse, links, extras, None)
}

/// [`represent`], with the items' outgoing links given (`(source,
/// relation, target)`: a version's, as it was published) instead of read.
#[allow(
    clippy::too_many_arguments,
    reason = "the one place a page is represented"
)]
pub(crate) fn represent_with(
    conn: &mut DbConnection,
    items: &[Loaded],
    viewer: &Viewer,
    principal: Option<&Principal>,
    reverse: bool,
    links: bool,
    extras: Extras,
    given: Option<Vec<store::Edge>>,
) -> Result<Vec<AnyResource>, ApiError> {
    let actor = &Principal::actor_of(principal);
    let links = links || extras.include.related;
    let ids: Vec<String> = items.iter().map(|l| l.row.id.clone()).collect();
    // One resource read whole: its links both ways in one query.
    let (relations, incoming) = match (given, reverse, items) {
        (Some(given), _, _) => (given, Vec::new()),
        (None, true, [one]) => store::relations_around(conn, &one.row.id)?,
        _ if links => (store::relations_of(conn, &ids)?, Vec::new()),
        _ => (Vec::new(), Vec::new()),
    };
    let mut others: Vec<String> = relations.iter().map(|(_, _, t, _)| t.clone()).collect();
    let mut details = Vec::with_capacity(items.len());
    for l in items {
        let d = details_of(&l.row)?;
        if let (true, Details::ModelCard(m)) = (links, &d) {
            others.extend(m.results.iter().filter_map(|r| r.dataset_id.clone()));
        }
        details.push(d);
    }
    others.extend(incoming.iter().map(|(_, s)| s.clone()));
    others.sort_unstable();
    others.dedup();
    let targets = store::by_ids(conn, &others).map_err(|e| unreadable(conn, e))?;
    // Withdrawn resources the caller could see: a link to one shows its
    // tombstone (kept apart: nothing else of them is shown).
    let mut withdrawn: HashMap<String, Loaded> = HashMap::new();
    let mut seen: HashMap<String, Loaded> = HashMap::new();
    for t in targets {
        if t.row.status == Status::Deaccessioned {
            let mut before = t.clone();
            before.row.status = Status::Published;
            if visible(actor, &before, viewer) {
                withdrawn.insert(t.row.id.clone(), t);
            }
        } else if visible(actor, &t, viewer) {
            seen.insert(t.row.id.clone(), t);
        }
    }
    // The latest version of every linked resource (pinned or not).
    let linked: Vec<String> = seen.keys().chain(withdrawn.keys()).cloned().collect();
    let target_heads = crate::db::versions::heads(conn, &linked)?;
    // Batched per page: one query each, whatever the page's size.
    let datasets: Vec<String> = items
        .iter()
        .filter(|l| l.row.kind == ResourceKind::Dataset)
        .map(|l| l.row.id.clone())
        .collect();
    let access = if extras.my_access {
        crate::app::access::my_access(conn, principal, &datasets)?
    } else {
        HashMap::new()
    };
    let modules = if extras.include.modules {
        let courses: Vec<String> = items
            .iter()
            .filter(|l| l.row.kind == ResourceKind::Course)
            .map(|l| l.row.id.clone())
            .collect();
        crate::db::learning::modules_of(conn, &courses)?
    } else {
        Vec::new()
    };
    let published: Vec<String> = items
        .iter()
        .filter(|l| l.row.status != Status::Draft)
        .map(|l| l.row.id.clone())
        .collect();
    let heads = crate::db::versions::heads(conn, &published)?;
    let mut out = Vec::with_capacity(items.len());
    for (l, d) in items.iter().zip(details) {
        let row = &l.row;
        let mut related: Vec<Link> = links_of(&relations, &row.id)
            .into_iter()
            .filter(|k| seen.contains_key(&k.resource_id) || withdrawn.contains_key(&k.resource_id))
            .collect();
        for k in &mut related {
            crate::app::deaccession::annotate_link(
                conn,
                k,
                target_heads.get(&k.resource_id),
                seen.get(&k.resource_id),
                withdrawn.get(&k.resource_id),
            )?;
        }
        let related_from = reverse.then(|| {
            incoming
                .iter()
                .filter(|(_, s)| seen.contains_key(s))
                .map(|(relation, source)| Link::new(*relation, source.clone()))
                .collect()
        });
        let mut core = core_of(l, related, related_from)?;
        if let Some((major, minor, note)) = heads.get(&row.id) {
            crate::app::versions::label_core(&mut core, *major, *minor, note.clone());
        }
        if extras.permissions {
            let download = match &d {
                Details::Dataset(fields) => Some(crate::app::access::may_download(
                    conn, principal, l, viewer, fields,
                )?),
                _ => None,
            };
            core.permissions = Some(permissions::resource(
                actor,
                row.kind,
                facts(l, viewer),
                download,
            ));
        }
        if extras.my_access && row.kind == ResourceKind::Dataset {
            core.my_access = Some(access.get(&row.id).cloned().unwrap_or(MyAccess::NONE));
        }
        if extras.include.any() {
            core.included = Some(included(l, &core, &modules, &seen, extras.include));
        }
        let d = match d {
            Details::ModelCard(mut m) => {
                for r in &mut m.results {
                    if r.dataset_id
                        .as_ref()
                        .is_some_and(|id| !seen.contains_key(id))
                    {
                        r.dataset_id = None;
                    }
                }
                Details::ModelCard(m)
            }
            other => other,
        };
        out.push(AnyResource::new(core, d));
    }
    Ok(out)
}

/// What `include=` embeds for `l` (its core built, links filtered).
fn included(
    l: &Loaded,
    core: &ResourceCore,
    modules: &[ModuleRow],
    seen: &HashMap<String, Loaded>,
    include: Include,
) -> Included {
    let item = |link: &Link, direction| {
        seen.get(&link.resource_id).map(|t| RelatedItem {
            id: t.row.id.clone(),
            kind: t.row.kind,
            title: t.row.title.clone(),
            status: t.row.status,
            relation: link.relation,
            direction,
        })
    };
    Included {
        modules: (include.modules && l.row.kind == ResourceKind::Course).then(|| {
            modules
                .iter()
                .filter(|m| m.course_id == l.row.id)
                .map(crate::app::learning::CourseModule::from)
                .collect()
        }),
        related: include.related.then(|| {
            let to = core
                .related
                .iter()
                .filter_map(|k| item(k, LinkDirection::To));
            let from = core
                .related_from
                .iter()
                .flatten()
                .filter_map(|k| item(k, LinkDirection::From));
            to.chain(from).collect()
        }),
        institution: include.institution.then(|| InstitutionSummary {
            slug: l.institution_slug.clone(),
            name: l.institution_name.clone(),
            country: l.institution_country.clone(),
            verified: l.institution_verified,
        }),
    }
}

/// One resource as the caller sees it whole: its links both ways, its
/// permissions and (datasets) `my_access`, and what `include` names. What
/// every command answers, and what `If-Match` is compared with.
pub(crate) fn represent_one(
    conn: &mut DbConnection,
    l: &Loaded,
    viewer: &Viewer,
    principal: Option<&Principal>,
    include: Include,
) -> Result<AnyResource, ApiError> {
    represent(
        conn,
        std::slice::from_ref(l),
        viewer,
        principal,
        true,
        true,
        Extras::single(include),
    )?
    .pop()
    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no representation")))
}

/// Checks `If-Match` (if given) against the current representation.
pub(crate) fn check_if_match(
    current: &AnyResource,
    if_match: Option<&str>,
) -> Result<(), ApiError> {
    etag::check_if_match_value(if_match, &current.etag()?)
}

// ----- writing ---------------------------------------------------------------------

/// The columns a document is stored in (the one place that maps one).
pub(crate) fn content_of(d: &Document) -> Content {
    let list = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    Content {
        title_lower: d.core.title.to_lowercase(),
        title: d.core.title.clone(),
        summary: d.core.summary.clone(),
        description: d.core.description.clone(),
        license: d.core.license.clone(),
        languages: list(&d.core.languages),
        countries: list(&d.core.countries),
        tags: list(&d.core.tags),
        visibility: d.core.visibility,
        access_level: d.details.access_level(),
        risk_tier: d.details.risk_tier(),
        details: d.details.to_json().to_string(),
        doi: d.core.doi.clone(),
    }
}

/// When a new row says it was created, changed, published and listed.
struct Dates {
    created: NaiveDateTime,
    updated: NaiveDateTime,
    published: Option<NaiveDateTime>,
}

/// The row of a new resource holding `d`.
fn new_row(
    id: &str,
    institution_id: &str,
    d: &Document,
    status: Status,
    version: i64,
    created_by: Option<String>,
    dates: Dates,
) -> ResourceRow {
    let c = content_of(d);
    ResourceRow {
        id: id.to_string(),
        kind: d.details.kind(),
        institution_id: institution_id.to_string(),
        title: c.title,
        title_lower: c.title_lower,
        summary: c.summary,
        description: c.description,
        license: c.license,
        languages: c.languages,
        countries: c.countries,
        tags: c.tags,
        visibility: c.visibility,
        status,
        version,
        access_level: c.access_level,
        risk_tier: c.risk_tier,
        details: c.details,
        created_by,
        created_at: dates.created,
        updated_at: dates.updated,
        published_at: dates.published,
        archived_at: None,
        listed_at: dates.published.unwrap_or(dates.created),
        doi: c.doi,
    }
}

/// Checks the links a document adds: each new target must be a resource the
/// caller may see (404 otherwise) of a kind the relation allows; a model
/// card's results may name platform datasets the caller may see.
pub(crate) fn check_links(
    conn: &mut DbConnection,
    viewer: &Viewer,
    actor: &Actor,
    source_id: Option<&str>,
    d: &Document,
    before: Option<&Document>,
) -> Result<(), ApiError> {
    let old_links: &[Link] = before.map_or(&[], |b| &b.core.related);
    let new_links: Vec<(usize, &Link)> = d
        .core
        .related
        .iter()
        .enumerate()
        .filter(|(_, k)| !old_links.contains(k))
        .collect();
    let old_datasets: HashSet<&str> = match before.map(|b| &b.details) {
        Some(Details::ModelCard(m)) => m
            .results
            .iter()
            .filter_map(|r| r.dataset_id.as_deref())
            .collect(),
        _ => HashSet::new(),
    };
    let new_datasets: Vec<(usize, &str)> = match &d.details {
        Details::ModelCard(m) => m
            .results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.dataset_id.as_deref().map(|id| (i, id)))
            .filter(|(_, id)| !old_datasets.contains(id))
            .collect(),
        _ => Vec::new(),
    };
    let mut ids: Vec<String> = new_links
        .iter()
        .map(|(_, k)| k.resource_id.clone())
        .chain(new_datasets.iter().map(|(_, id)| (*id).to_string()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let found: HashMap<String, Loaded> = store::by_ids(conn, &ids)
        .map_err(|e| unreadable(conn, e))?
        .into_iter()
        .filter(|l| visible(actor, l, viewer))
        .map(|l| (l.row.id.clone(), l))
        .collect();
    let mut errors = Vec::new();
    let kind = d.details.kind();
    for (i, link) in &new_links {
        if Some(link.resource_id.as_str()) == source_id {
            errors.push(FieldError::new(
                format!("related[{i}].resource_id"),
                FieldCode::NotAllowedValue,
                "A resource cannot link to itself.",
            ));
            continue;
        }
        let Some(target) = found.get(&link.resource_id) else {
            return Err(ApiError::NotFoundNamed(format!(
                "related[{i}]: there is no resource {} that you can see.",
                link.resource_id
            )));
        };
        if !link.relation.allows(kind, target.row.kind) {
            errors.push(relation_error(*i, link));
        }
        if let Some(pinned) = link.version.as_deref() {
            let label = crate::domain::version::Label::parse(pinned);
            let exists = match label {
                Some(l) => {
                    crate::db::versions::one(conn, &target.row.id, l.major, l.minor)?.is_some()
                }
                None => false,
            };
            if !exists {
                errors.push(FieldError::new(
                    format!("related[{i}].version"),
                    FieldCode::NotFound,
                    "The linked resource has no published version with this label (see its \
                     versions).",
                ));
            } else if crate::db::withdrawals::one(conn, &target.row.id, pinned)?.is_some() {
                errors.push(FieldError::new(
                    format!("related[{i}].version"),
                    FieldCode::NotAllowedValue,
                    "This version was withdrawn by its owners; link to another one.",
                ));
            }
        }
    }
    for (i, id) in new_datasets {
        let ok = found
            .get(id)
            .is_some_and(|l| l.row.kind == ResourceKind::Dataset);
        if !ok {
            errors.push(FieldError::new(
                format!("results[{i}].dataset_id"),
                FieldCode::NotFound,
                "There is no dataset with this id that you can see.",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

fn relation_error(i: usize, link: &Link) -> FieldError {
    Invalid::new(
        FieldCode::NotAllowedValue,
        format!("`{}` {}.", link.relation.as_str(), link.relation.rule()),
    )
    .other(&format!("related[{i}].resource_id"))
    .at(format!("related[{i}].relation"))
}

pub(crate) fn summary_of(row: &ResourceRow) -> ResourceSummary {
    ResourceSummary {
        kind: row.kind,
        title: row.title.clone(),
        institution_id: row.institution_id.clone(),
    }
}

/// Records `event` about resource `row` (concerning its institution).
pub(crate) fn record(
    conn: &mut DbConnection,
    ctx: &Context,
    row: &ResourceRow,
    event: &Event,
) -> Result<(), ApiError> {
    events::record(conn, ctx, &row.id, &[row.institution_id.as_str()], event)?;
    Ok(())
}

/// Takes the resource's row lock (404 when there is none).
pub(crate) fn lock(conn: &mut DbConnection, id: &str) -> Result<(), ApiError> {
    if store::lock(conn, id)? {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

// ----- commands and queries of the three kinds --------------------------------------

/// Creates a draft of `kind` from `body` (the document plus `institution`,
/// the slug of the owner, which the caller edits for).
/// Rewrites the search index of these resources from what is stored
/// (their texts, their institution's name, a course's module titles):
/// after an edit, a module change, an institution's new name.
pub fn reindex(conn: &mut DbConnection, ids: &[String]) -> Result<(), ApiError> {
    for chunk in ids.chunks(500) {
        let loaded = store::by_ids(conn, chunk).map_err(|e| unreadable(conn, e))?;
        let courses: Vec<String> = loaded
            .iter()
            .filter(|l| l.row.kind == ResourceKind::Course)
            .map(|l| l.row.id.clone())
            .collect();
        let modules = crate::db::learning::modules_of(conn, &courses)?;
        let mut docs = Vec::with_capacity(loaded.len());
        for l in &loaded {
            let d = document_of(&l.row, Vec::new())?;
            let mut extra: Vec<&str> = vec![&l.institution_name];
            extra.extend(
                modules
                    .iter()
                    .filter(|m| m.course_id == l.row.id)
                    .map(|m| m.title.as_str()),
            );
            docs.push((l.row.id.clone(), doc::indexed(&d, &extra)));
        }
        search_store::index(conn, &docs)?;
    }
    Ok(())
}

/// Indexes the resources written before search existed (and gives them
/// the terms added since), a batch at a time; run at start.
pub fn index_unindexed(conn: &mut DbConnection) -> Result<usize, ApiError> {
    let mut done = 0;
    loop {
        let ids = search_store::unindexed(conn, 1000)?;
        if ids.is_empty() {
            return Ok(done);
        }
        write_transaction(conn, |conn| {
            for l in store::by_ids(conn, &ids).map_err(|e| unreadable(conn, e))? {
                let d = document_of(&l.row, Vec::new())?;
                store::replace_terms(conn, &l.row.id, &doc::terms(&d))?;
            }
            reindex(conn, &ids)
        })?;
        done += ids.len();
    }
}

pub fn create(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    kind: ResourceKind,
    mut body: Map<String, Value>,
) -> Result<AnyResource, ApiError> {
    let slug = match body.remove("institution") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => s.trim().to_string(),
        _ => {
            // Name every other bad field too (no institution: no default country).
            let mut errors = vec![
                Invalid::required("Required: the slug of an institution you edit for.")
                    .max(64)
                    .at("institution"),
            ];
            if let Err(more) = doc::validate(kind, body, "") {
                errors.extend(more);
            }
            return Err(ApiError::validation(errors));
        }
    };
    write_transaction(conn, |conn| {
        let act = Principal::actor_of(Some(principal));
        let inst = institutions_store::by_slug(conn, &slug)?;
        let viewer = Viewer::load(conn, Some(&principal.user.id), principal.is_admin())?;
        let inst = inst
            .filter(|i| {
                policy::may(
                    &act,
                    Action::ViewInstitution(InstitutionFacts {
                        verified: i.verified,
                        caller_role: viewer.role_in(&i.id).and_then(InstitutionRole::parse),
                    }),
                ) == policy::Decision::Allow
            })
            .ok_or_else(|| {
                ApiError::NotFoundNamed(format!(
                    "There is no institution `{slug}` that you can see."
                ))
            })?;
        policy::enforce(policy::may(
            &act,
            Action::CreateResource(InstitutionFacts {
                verified: inst.verified,
                caller_role: viewer.role_in(&inst.id).and_then(InstitutionRole::parse),
            }),
        ))?;
        let d = doc::validate(kind, body, &inst.country).map_err(ApiError::validation)?;
        let id = uuid::Uuid::now_v7().to_string();
        check_links(conn, &viewer, &act, Some(&id), &d, None)?;
        let now = now();
        crate::app::embargo::check_dates(None, &d, now.and_utc())?;
        let row = new_row(
            &id,
            &inst.id,
            &d,
            Status::Draft,
            1,
            Some(principal.user.id.clone()),
            Dates {
                created: now,
                updated: now,
                published: None,
            },
        );
        store::insert(conn, &row)?;
        store::replace_terms(conn, &id, &doc::terms(&d))?;
        store::replace_relations(conn, &id, &d.core.related)?;
        search_store::index(conn, &[(id.clone(), doc::indexed(&d, &[&inst.name]))])?;
        crate::app::embargo::schedule(conn, &id, &d, now)?;
        let event = Event::ResourceCreated {
            kind,
            title: row.title.clone(),
            institution: inst.slug.clone(),
            visibility: row.visibility,
        };
        record(conn, ctx, &row, &event)?;
        let l = store::by_id(conn, &id)?.ok_or(ApiError::NotFound)?;
        represent_one(conn, &l, &viewer, Some(principal), Include::default())
    })
}

/// One resource of `kind`, as the caller may see it.
pub fn show(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    kind: ResourceKind,
    id: &str,
    include: Include,
) -> Result<AnyResource, ApiError> {
    let (l, viewer) = load(conn, kind, id, principal)?;
    let act = Principal::actor_of(principal);
    policy::enforce(policy::may(&act, Action::ViewResource(facts(&l, &viewer))))?;
    represent_one(conn, &l, &viewer, principal, include)
}

/// Applies a JSON merge patch to a draft never published; `if_match` is
/// the `ETag` the caller edited, if they named one. The version goes up by
/// one. A published resource is changed through the draft of its next
/// version (`app::versions`): 409 `edit-the-draft`.
pub fn update(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    kind: ResourceKind,
    id: &str,
    patch: Map<String, Value>,
    if_match: Option<&str>,
) -> Result<AnyResource, ApiError> {
    write_transaction(conn, |conn| {
        lock(conn, id)?;
        let (l, viewer) = load(conn, kind, id, Some(principal))?;
        let act = Principal::actor_of(Some(principal));
        policy::enforce(policy::may(&act, Action::EditResource(facts(&l, &viewer))))?;
        lifecycle(&l, Step::Edit)?;
        if l.row.status == Status::Published {
            return Err(ApiError::EditTheDraft {
                draft: format!("/api/v1/{}/{}/draft", kind.collection(), l.row.id),
            });
        }
        let links = links_of(
            &store::relations_of(conn, std::slice::from_ref(&l.row.id))?,
            id,
        );
        let before = document_of(&l.row, links)?;
        let d = patched(kind, &l.institution_country, &before, patch)?;
        check_document(conn, &act, &l, &viewer, &before, &d, false)?;
        // Checked last: a bad body is a 400 whatever version it names.
        check_if_match(
            &represent_one(conn, &l, &viewer, Some(principal), Include::default())?,
            if_match,
        )?;
        write_document(conn, ctx, &l, &before, &d)?;
        let l = store::by_id(conn, id)?.ok_or(ApiError::NotFound)?;
        represent_one(conn, &l, &viewer, Some(principal), Include::default())
    })
}

/// `before` with a JSON merge `patch` applied, validated.
pub(crate) fn patched(
    kind: ResourceKind,
    institution_country: &str,
    before: &Document,
    patch: Map<String, Value>,
) -> Result<Document, ApiError> {
    let cleared: Vec<FieldError> = doc::NOT_CLEARABLE
        .iter()
        .filter(|k| patch.get(**k).is_some_and(Value::is_null))
        .map(|k| {
            FieldError::new(
                *k,
                FieldCode::Required,
                "This cannot be cleared; set a value.",
            )
        })
        .collect();
    if !cleared.is_empty() {
        return Err(ApiError::validation(cleared));
    }
    let mut merged = Value::Object(before.to_map());
    doc::merge_patch(&mut merged, Value::Object(patch));
    let Value::Object(merged) = merged else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "patch result not an object"
        )));
    };
    doc::validate(kind, merged, institution_country).map_err(ApiError::validation)
}

/// Checks a validated document `d` replacing `before` as the content of
/// `l`: its links, the right to change a dataset's terms, and (`complete`)
/// that it is complete enough to be published.
pub(crate) fn check_document(
    conn: &mut DbConnection,
    act: &policy::Actor,
    l: &Loaded,
    viewer: &Viewer,
    before: &Document,
    d: &Document,
    complete: bool,
) -> Result<(), ApiError> {
    let kind = l.row.kind;
    check_links(conn, viewer, act, Some(&l.row.id), d, Some(before))?;
    crate::app::embargo::check_dates(Some(before), d, now().and_utc())?;
    let (was, is) = (before.to_map(), d.to_map());
    // A dataset's terms, and who can see it at all (widening the
    // visibility of open data hands out its files).
    let terms_changed = doc::DATA_TERMS.iter().any(|k| was.get(*k) != is.get(*k))
        || (kind == ResourceKind::Dataset && was.get("visibility") != is.get("visibility"));
    if terms_changed {
        policy::enforce(policy::may(act, Action::SetDataTerms(facts(l, viewer))))?;
    }
    if complete {
        let gaps = doc::publication_gaps(d, crate::db::learning::count_modules(conn, &l.row.id)?);
        if !gaps.is_empty() {
            return Err(incomplete(gaps));
        }
    }
    Ok(())
}

/// The names of the fields whose values differ between two documents (as
/// `Document::to_map` gives them), sorted.
pub(crate) fn changed_fields(was: &Map<String, Value>, is: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = was
        .keys()
        .chain(is.keys())
        .filter(|k| was.get(*k) != is.get(*k))
        .cloned()
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Stores `d` (checked by [`check_document`]) as the content of `l`,
/// which held `before`: its columns, terms, search index and links, and
/// the `resource.updated` event (with `resource.visibility_changed` when
/// that changed). Returns the names of the fields that changed.
pub(crate) fn write_document(
    conn: &mut DbConnection,
    ctx: &Context,
    l: &Loaded,
    before: &Document,
    d: &Document,
) -> Result<Vec<String>, ApiError> {
    let (id, kind) = (l.row.id.as_str(), l.row.kind);
    let (was, is) = (before.to_map(), d.to_map());
    store::update_content(conn, id, &content_of(d), now())?;
    crate::app::embargo::schedule(conn, id, d, now())?;
    store::replace_terms(conn, id, &doc::terms(d))?;
    reindex(conn, &[id.to_string()])?;
    if d.core.related != before.core.related {
        store::replace_relations(conn, id, &d.core.related)?;
    }
    let changed: Vec<String> = changed_fields(&was, &is)
        .into_iter()
        .filter(|k| {
            doc::CORE_FIELDS
                .iter()
                .chain(doc::kind_fields(kind))
                .any(|f| f == k)
        })
        .collect();
    let updated = Event::ResourceUpdated {
        kind,
        changed: changed.clone(),
        version: l.row.version + 1,
    };
    record(conn, ctx, &l.row, &updated)?;
    if d.core.visibility != before.core.visibility {
        let event = Event::ResourceVisibilityChanged {
            kind,
            from: before.core.visibility,
            to: d.core.visibility,
        };
        record(conn, ctx, &l.row, &event)?;
    }
    Ok(changed)
}

/// Deletes a draft (published resources are archived instead).
pub fn delete(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    kind: ResourceKind,
    id: &str,
    if_match: Option<&str>,
) -> Result<(), ApiError> {
    write_transaction(conn, |conn| {
        lock(conn, id)?;
        let (l, viewer) = load(conn, kind, id, Some(principal))?;
        let act = Principal::actor_of(Some(principal));
        policy::enforce(policy::may(&act, Action::EditResource(facts(&l, &viewer))))?;
        check_if_match(
            &represent_one(conn, &l, &viewer, Some(principal), Include::default())?,
            if_match,
        )?;
        lifecycle(&l, Step::Delete)?;
        store::delete(conn, id)?;
        let event = Event::ResourceDeleted {
            resource: summary_of(&l.row),
        };
        record(conn, ctx, &l.row, &event)
    })
}

/// Publishes a draft: a verified institution, a verified email address and
/// a complete document (`domain::resource::publication_gaps`).
///
/// A published resource: publishes the draft of its next version
/// (`app::versions::publish_next`).
#[allow(clippy::too_many_arguments)]
pub fn publish(
    conn: &mut DbConnection,
    state: &crate::state::AppState,
    ctx: &Context,
    principal: &Principal,
    kind: ResourceKind,
    id: &str,
    if_match: Option<&str>,
    req: &crate::app::versions::PublishRequest,
) -> Result<AnyResource, ApiError> {
    change_status(
        conn,
        Some(state),
        ctx,
        principal,
        kind,
        id,
        Step::Publish,
        if_match,
        req,
    )
}

/// Archives a published resource: it stays readable and no longer changes.
pub fn archive(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    kind: ResourceKind,
    id: &str,
    if_match: Option<&str>,
) -> Result<AnyResource, ApiError> {
    change_status(
        conn,
        None,
        ctx,
        principal,
        kind,
        id,
        Step::Archive,
        if_match,
        &Default::default(),
    )
}

#[allow(clippy::too_many_arguments, reason = "publish and archive share it")]
fn change_status(
    conn: &mut DbConnection,
    state: Option<&crate::state::AppState>,
    ctx: &Context,
    principal: &Principal,
    kind: ResourceKind,
    id: &str,
    step: Step,
    if_match: Option<&str>,
    req: &crate::app::versions::PublishRequest,
) -> Result<AnyResource, ApiError> {
    write_transaction(conn, |conn| {
        lock(conn, id)?;
        let (l, viewer) = load(conn, kind, id, Some(principal))?;
        let act = Principal::actor_of(Some(principal));
        let f = facts(&l, &viewer);
        // Entering the catalogue asks `PublishResource` (a verified
        // institution, a verified email); the next version of a resource
        // already published is an edit of it, as changing it in place was
        // before versions (an institution that lost its verification keeps
        // maintaining what it published; its readers are its members then).
        let action = match step {
            Step::Publish if l.row.status != Status::Published => Action::PublishResource(f),
            _ => Action::EditResource(f),
        };
        policy::enforce(policy::may(&act, action))?;
        let current = represent_one(conn, &l, &viewer, Some(principal), Include::default())?;
        if step == Step::Publish && l.row.status == Status::Published {
            // The tag of the published version, or of the draft the
            // publisher reviewed (then a change of the draft since is a 412).
            if check_if_match(&current, if_match).is_err() {
                crate::app::versions::check_draft_tag(conn, principal, &l, &viewer, if_match)?;
            }
            crate::app::versions::publish_next(conn, state, ctx, principal, &l, &viewer, req)?;
            let l = store::by_id(conn, id)?.ok_or(ApiError::NotFound)?;
            return represent_one(conn, &l, &viewer, Some(principal), Include::default());
        }
        check_if_match(&current, if_match)?;
        let from = l.row.status;
        let Some(to) = lifecycle(&l, step)? else {
            return Err(ApiError::internal(anyhow::anyhow!(
                "{step:?} deletes nothing"
            )));
        };
        if step == Step::Publish {
            let links = links_of(
                &store::relations_of(conn, std::slice::from_ref(&l.row.id))?,
                id,
            );
            let modules = crate::db::learning::count_modules(conn, id)?;
            let gaps = doc::publication_gaps(&document_of(&l.row, links)?, modules);
            if !gaps.is_empty() {
                return Err(incomplete(gaps));
            }
        }
        if !store::set_status(conn, id, from, to, now())? {
            return Err(ApiError::internal(anyhow::anyhow!(
                "status changed under lock"
            )));
        }
        let (resource, visibility) = (summary_of(&l.row), l.row.visibility);
        let event = match step {
            Step::Publish => Event::ResourcePublished {
                resource,
                visibility,
            },
            _ => Event::ResourceArchived {
                resource,
                visibility,
            },
        };
        record(conn, ctx, &l.row, &event)?;
        let l = store::by_id(conn, id)?.ok_or(ApiError::NotFound)?;
        if step == Step::Publish {
            crate::app::versions::first_version(conn, ctx, principal, &l, req)?;
        } else {
            // Archived: read-only, so no next version either.
            crate::db::versions::delete_draft(conn, id)?;
        }
        represent_one(conn, &l, &viewer, Some(principal), Include::default())
    })
}

// ----- dataset files -------------------------------------------------------------

// The body of `POST /datasets/{id}/files`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"media_type": "application/gzip", "name": "part-1.tar.gz", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size_bytes": 52428800, "url": "https://files.example.org/corpus/part-1.tar.gz"}))]
pub struct NewDatasetFile {
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    /// Where the file is (http or https); never shown in lists.
    #[schema(max_length = 2048)]
    pub url: String,
    /// `type/subtype`, e.g. `text/csv`.
    #[schema(max_length = 127)]
    pub media_type: String,
    #[schema(minimum = 0)]
    pub size_bytes: i64,
    /// 64 hex digits.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: String,
    /// Links to this file are refused (403 `embargoed`) until then (RFC
    /// 3339, in the future); the embargo lifts itself.
    #[serde(default)]
    pub embargo_until: Option<chrono::DateTime<chrono::Utc>>,
    /// Why (needs `embargo_until`; at most 2,000 characters).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub embargo_reason: Option<String>,
}

fn check_media_type(raw: &str) -> Result<String, Invalid> {
    let s = raw.trim().to_ascii_lowercase();
    let token = |t: &str| {
        !t.is_empty()
            && t.len() <= 63
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let essence = s.split(';').next().unwrap_or("").trim();
    match essence.split_once('/') {
        Some((t, sub)) if token(t) && token(sub) && s.len() <= 127 => Ok(essence.to_string()),
        _ => Err(Invalid::format(
            "media_type",
            "A media type like `text/csv` or `application/x-parquet`.",
        )),
    }
}

fn dataset_for(
    conn: &mut DbConnection,
    id: &str,
    principal: Option<&Principal>,
    edit: bool,
) -> Result<(Loaded, Viewer), ApiError> {
    let (l, viewer) = load(conn, ResourceKind::Dataset, id, principal)?;
    let f = facts(&l, &viewer);
    let act = Principal::actor_of(principal);
    let action = if edit {
        Action::EditResource(f)
    } else {
        Action::ViewResource(f)
    };
    policy::enforce(policy::may(&act, action))?;
    Ok((l, viewer))
}

/// A dataset's files (whoever may see the dataset), after `after`.
pub fn list_files(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    id: &str,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<FileRow>, ApiError> {
    dataset_for(conn, id, principal, false)?;
    Ok(store::files(conn, id, after, limit)?)
}

/// Adds a file to a dataset (its editors and owners).
pub fn add_file(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    id: &str,
    body: NewDatasetFile,
) -> Result<FileRow, ApiError> {
    let mut errors = Vec::new();
    let name = body.name.trim().to_string();
    let message = "1–255 characters on one line.";
    if name.is_empty() {
        errors.push(Invalid::required(message).max(255).at("name"));
    } else if name.chars().count() > 255 {
        errors.push(Invalid::too_long(255, message).at("name"));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            FieldCode::ControlCharacters,
            message,
        ));
    }
    let url = doc::check_url(&body.url)
        .map_err(|e| errors.push(e.at("url")))
        .ok();
    let media_type = check_media_type(&body.media_type)
        .map_err(|e| errors.push(e.at("media_type")))
        .ok();
    if body.size_bytes < 0 {
        errors.push(
            Invalid::new(FieldCode::OutOfRange, "At least 0.")
                .min(0)
                .at("size_bytes"),
        );
    }
    let sha256 = body.sha256.trim().to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        errors.push(Invalid::format("sha256", "64 hexadecimal digits.").at("sha256"));
    }
    let embargo_until = body.embargo_until.map(|t| {
        use chrono::Timelike;
        t.with_nanosecond(t.nanosecond() / 1000 * 1000)
            .unwrap_or(t)
            .naive_utc()
    });
    if embargo_until.is_some_and(|t| t <= now() || chrono::Datelike::year(&t.and_utc()) > 9999) {
        errors.push(FieldError::new(
            "embargo_until",
            FieldCode::OutOfRange,
            "An embargo ends in the future.",
        ));
    }
    let embargo_reason = body
        .embargo_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    if let Some(reason) = &embargo_reason {
        if reason.chars().count() > 2_000 {
            errors.push(Invalid::too_long(2_000, "At most 2,000 characters.").at("embargo_reason"));
        } else if reason
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            errors.push(FieldError::new(
                "embargo_reason",
                FieldCode::ControlCharacters,
                "Control characters are not allowed.",
            ));
        }
        if embargo_until.is_none() {
            errors.push(FieldError::new(
                "embargo_until",
                FieldCode::Required,
                "An embargo reason needs its end (`embargo_until`).",
            ));
        }
    }
    let (Some(url), Some(media_type), true) = (url, media_type, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    write_transaction(conn, |conn| {
        lock(conn, id)?;
        let (l, _) = dataset_for(conn, id, Some(principal), true)?;
        crate::app::versions::freeze_head(conn, &l)?;
        lifecycle(&l, Step::Edit)?;
        if store::count_files(conn, id)? >= FILES_MAX {
            return Err(ApiError::Conflict {
                problem: ProblemType::TooManyFiles,
                detail: format!("A dataset lists at most {FILES_MAX} files."),
            });
        }
        let now = now();
        let row = FileRow {
            id: uuid::Uuid::now_v7().to_string(),
            dataset_id: id.to_string(),
            name,
            url,
            media_type,
            size_bytes: body.size_bytes,
            sha256,
            created_by: Some(principal.user.id.clone()),
            created_at: now,
            embargo_until,
            embargo_reason,
        };
        store::insert_file(conn, &row)?;
        crate::app::embargo::schedule_file(conn, &row)?;
        store::touch(conn, id, now)?;
        let event = Event::DatasetFileAdded {
            file_id: row.id.clone(),
            name: row.name.clone(),
            size_bytes: row.size_bytes,
        };
        record(conn, ctx, &l.row, &event)?;
        Ok(row)
    })
}

/// Removes a file from a dataset (its editors and owners).
pub fn delete_file(
    conn: &mut DbConnection,
    ctx: &Context,
    principal: &Principal,
    id: &str,
    file_id: &str,
) -> Result<(), ApiError> {
    write_transaction(conn, |conn| {
        lock(conn, id)?;
        let (l, _) = dataset_for(conn, id, Some(principal), true)?;
        crate::app::versions::freeze_head(conn, &l)?;
        let file = store::file(conn, id, file_id)?.ok_or(ApiError::NotFound)?;
        lifecycle(&l, Step::Edit)?;
        store::delete_file(conn, &file.id)?;
        store::touch(conn, id, now())?;
        let event = Event::DatasetFileRemoved {
            file_id: file.id,
            name: file.name,
        };
        record(conn, ctx, &l.row, &event)
    })
}

// ----- bulk import ---------------------------------------------------------------

/// A resource to import already published, with its own history: the
/// document, its owner, its dates and what comes with it (a dataset's
/// files, a course's modules). The caller picks the ids.
#[derive(Debug, Clone)]
pub struct Import {
    pub id: String,
    pub institution_id: String,
    pub document: Document,
    pub created_at: NaiveDateTime,
    pub published_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Its version: how many changes it has seen (creation and publication count).
    pub version: i64,
    /// A dataset's files (`dataset_id` is this resource's id).
    pub files: Vec<FileRow>,
    /// A course's modules (`course_id` is this resource's id).
    pub modules: Vec<ModuleRow>,
}

/// Imports `items`, published, in one write transaction: the same rows,
/// search terms and relations `create` and `publish` write, and one
/// `resource.imported` event each. Each document must pass the publication
/// gate, and its links must name resources (already stored, or earlier in
/// `items`) of kinds their relation allows. Rows go in several to a
/// statement (`db::resources::insert_all`): this is what `kujenga
/// seed-demo` loads its catalogue with.
pub fn import(conn: &mut DbConnection, ctx: &Context, items: &[Import]) -> Result<(), ApiError> {
    let mut kinds: HashMap<&str, ResourceKind> = HashMap::new();
    let mut missing: Vec<String> = Vec::new();
    for item in items {
        let d = &item.document;
        let gaps = doc::publication_gaps(d, i64::try_from(item.modules.len()).unwrap_or(i64::MAX));
        if !gaps.is_empty() {
            return Err(incomplete(gaps));
        }
        let kind = d.details.kind();
        let strays = (kind != ResourceKind::Dataset && !item.files.is_empty())
            || (kind != ResourceKind::Course && !item.modules.is_empty())
            || item.files.iter().any(|f| f.dataset_id != item.id)
            || item.modules.iter().any(|m| m.course_id != item.id);
        if strays {
            return Err(ApiError::internal(anyhow::anyhow!(
                "import {}: files or modules that belong to another resource",
                item.id
            )));
        }
        missing.extend(
            d.core
                .related
                .iter()
                .filter(|k| !kinds.contains_key(k.resource_id.as_str()))
                .map(|k| k.resource_id.clone()),
        );
        kinds.insert(&item.id, d.details.kind());
    }
    missing.sort_unstable();
    missing.dedup();
    write_transaction(conn, |conn| {
        let stored: HashMap<String, ResourceKind> =
            store::kinds_of(conn, &missing)?.into_iter().collect();
        let mut errors = Vec::new();
        let mut rows = Vec::with_capacity(items.len());
        let mut terms = Vec::new();
        let mut links = Vec::new();
        let mut files = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for item in items {
            let d = &item.document;
            for (i, link) in d.core.related.iter().enumerate() {
                let target = if seen.contains(link.resource_id.as_str()) {
                    kinds.get(link.resource_id.as_str()).copied()
                } else {
                    stored.get(&link.resource_id).copied()
                };
                match target {
                    Some(t) if link.relation.allows(d.details.kind(), t) => {}
                    Some(_) => errors.push(relation_error(i, link)),
                    None => errors.push(FieldError::new(
                        format!("related[{i}].resource_id"),
                        FieldCode::NotFound,
                        format!("There is no resource {} before this one.", link.resource_id),
                    )),
                }
            }
            seen.insert(&item.id);
            rows.push(new_row(
                &item.id,
                &item.institution_id,
                d,
                Status::Published,
                item.version,
                None,
                Dates {
                    created: item.created_at,
                    updated: item.updated_at,
                    published: Some(item.published_at),
                },
            ));
            terms.extend(
                doc::terms(d)
                    .into_iter()
                    .map(|(facet, value)| (item.id.clone(), facet, value)),
            );
            if !d.core.related.is_empty() {
                links.push((item.id.clone(), d.core.related.clone()));
            }
            files.extend(item.files.iter().cloned());
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        let mut names: HashMap<&str, String> = HashMap::new();
        for item in items {
            if !names.contains_key(item.institution_id.as_str()) {
                let name = institutions_store::by_id(conn, &item.institution_id)?
                    .map(|i| i.name)
                    .unwrap_or_default();
                names.insert(&item.institution_id, name);
            }
        }
        let docs: Vec<(String, crate::domain::search::Indexed)> = items
            .iter()
            .map(|item| {
                let mut extra: Vec<&str> = vec![names[item.institution_id.as_str()].as_str()];
                extra.extend(item.modules.iter().map(|m| m.title.as_str()));
                (item.id.clone(), doc::indexed(&item.document, &extra))
            })
            .collect();
        store::insert_all(conn, &rows)?;
        store::insert_terms(conn, &terms)?;
        search_store::index(conn, &docs)?;
        store::insert_relations(conn, &links)?;
        store::insert_files(conn, &files)?;
        let modules: Vec<ModuleRow> = items
            .iter()
            .flat_map(|i| i.modules.iter().cloned())
            .collect();
        store::insert_course_modules(conn, &modules)?;
        // Imported published: version 1.0, kept as the row until a next
        // version is published (`app::versions`).
        let versions: Vec<crate::db::versions::VersionRow> = items
            .iter()
            .zip(&rows)
            .map(|(item, row)| crate::db::versions::VersionRow {
                resource_id: row.id.clone(),
                major: 1,
                minor: 0,
                revision: row.version,
                note: None,
                summary: "First published version.".into(),
                snapshot: None,
                published_by: None,
                published_at: item.published_at,
            })
            .collect();
        crate::db::versions::insert_all(conn, &versions)?;
        let recorded: Vec<(Event, [&str; 1])> = items
            .iter()
            .zip(&rows)
            .map(|(item, row)| {
                let event = Event::ResourceImported {
                    resource: summary_of(row),
                    visibility: row.visibility,
                    published_at: item.published_at.and_utc(),
                    files: item.files.len(),
                    modules: item.modules.len(),
                };
                (event, [row.institution_id.as_str()])
            })
            .collect();
        let batch: Vec<(&str, &[&str], &Event)> = rows
            .iter()
            .zip(&recorded)
            .map(|(row, (event, inst))| (row.id.as_str(), &inst[..], event))
            .collect();
        events::record_all(conn, ctx, &batch)?;
        Ok(())
    })
}
