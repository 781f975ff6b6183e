//! Resources — courses, datasets and model cards — as validated documents,
//! and the completeness gate a resource passes before it is published.
//!
//! A resource is edited as one JSON document: its core fields plus its
//! kind's own. Creating validates the body; `PATCH` merges the body into
//! the current document (RFC 7396 JSON merge patch) and validates the result
//! the same way, so there is exactly one set of rules for both. Everything
//! here is pure: whether linked resources exist is the API layer's business.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::Word;
use crate::domain::field::{Code, FieldError, Invalid};
use crate::domain::{CountryCode, LanguageTag};

pub(crate) use crate::domain::word::word_enum;

/// The datasheet's sections (after *Datasheets for Datasets*): Markdown prose.
pub const DATASHEET_SECTIONS: &[&str] = &[
    "motivation",
    "composition",
    "collection_process",
    "preprocessing",
    "uses",
    "out_of_scope_uses",
    "biases_and_limitations",
    "maintenance",
];

/// A model card's prose sections (after *Model Cards for Model Reporting*).
pub const MODEL_CARD_SECTIONS: &[&str] = &[
    "intended_uses",
    "out_of_scope_uses",
    "factors",
    "metrics",
    "training_data",
    "evaluation_data",
    "ethical_considerations",
    "caveats",
    "environmental_impact",
];

/// A dataset's terms: who may download and where its data may go. Only its
/// own institution's owners and editors change them (`Action::SetDataTerms`).
pub const DATA_TERMS: &[&str] = &[
    "access_level",
    "transfer_policy",
    "allowed_countries",
    "origin_country",
    "embargo_until",
    "embargo_reason",
    "retention_until",
];

word_enum!(
    /// What a resource is.
    ResourceKind { Course => "course", Dataset => "dataset", ModelCard => "model_card" }
);
word_enum!(
    /// Who may see a published resource (drafts: its institution's editors and owners).
    Visibility {
        Public => "public",
        Registered => "registered",
        Institution => "institution",
        Partnership => "partnership",
    }
);
word_enum!(
    /// Lifecycle: `draft → published → archived`; a published or archived
    /// resource may be withdrawn (`deaccessioned`: a tombstone answers for it).
    Status { Draft => "draft", Published => "published", Archived => "archived", Deaccessioned => "deaccessioned" }
);
word_enum!(
    /// Typed links between resources.
    Relation {
        TrainedOn => "trained_on",
        EvaluatedOn => "evaluated_on",
        UsesDataset => "uses_dataset",
        TeachesModel => "teaches_model",
        DerivedFrom => "derived_from",
    }
);
word_enum!(
    /// Who may get a dataset's files.
    AccessLevel { Open => "open", Registered => "registered", Restricted => "restricted" }
);
word_enum!(
    /// Where a dataset's data may go.
    TransferPolicy {
        Unrestricted => "unrestricted",
        AllowedCountries => "allowed_countries",
        PartnersOnly => "partners_only",
        InCountry => "in_country",
    }
);
word_enum!(
    /// Risk tier after the EU AI Act; a higher tier needs a fuller card.
    RiskTier {
        Minimal => "minimal",
        Limited => "limited",
        High => "high",
        Unacceptable => "unacceptable",
    }
);
word_enum!(
    CourseLevel { Beginner => "beginner", Intermediate => "intermediate", Advanced => "advanced" }
);
word_enum!(
    Delivery { SelfPaced => "self_paced", InstructorLed => "instructor_led", Blended => "blended" }
);

impl ResourceKind {
    /// The collection's path segment: `courses`, `datasets`, `model-cards`.
    pub fn collection(self) -> &'static str {
        match self {
            Self::Course => "courses",
            Self::Dataset => "datasets",
            Self::ModelCard => "model-cards",
        }
    }
}

// ----- the lifecycle ---------------------------------------------------------

/// What a command does to a resource, as far as its lifecycle is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Change its content or its files (the status stays).
    Edit,
    Publish,
    Archive,
    Delete,
    /// Withdraw it for good (`POST …/deaccession`).
    Deaccession,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Edit,
        Step::Publish,
        Step::Archive,
        Step::Delete,
        Step::Deaccession,
    ];
}

/// Why the lifecycle refuses a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// An archived resource no longer changes.
    ReadOnly,
    /// Only drafts are deleted (published ones are archived instead).
    NotADraft,
    /// Publishing and archiving go `draft → published → archived` only.
    InvalidTransition,
    /// Withdrawn: only its tombstone answers.
    Deaccessioned,
}

/// The lifecycle as a table: where `step` leaves a resource that is `from`
/// (`None`: it is gone), or why it is refused. `draft → published →
/// archived`; drafts and published resources change, archived ones do not;
/// only drafts are deleted; what was published may be deaccessioned (drafts
/// never published are deleted instead), and that is final.
pub fn step(from: Status, step: Step) -> Result<Option<Status>, Refused> {
    use Status::{Archived, Deaccessioned, Draft, Published};
    match (from, step) {
        (Deaccessioned, _) => Err(Refused::Deaccessioned),
        (Published | Archived, Step::Deaccession) => Ok(Some(Deaccessioned)),
        (Draft, Step::Deaccession) => Err(Refused::InvalidTransition),
        (Draft | Published, Step::Edit) => Ok(Some(from)),
        (Archived, Step::Edit) => Err(Refused::ReadOnly),
        (Draft, Step::Publish) => Ok(Some(Published)),
        (Published, Step::Archive) => Ok(Some(Archived)),
        (Published | Archived, Step::Publish) | (Draft | Archived, Step::Archive) => {
            Err(Refused::InvalidTransition)
        }
        (Draft, Step::Delete) => Ok(None),
        (Published | Archived, Step::Delete) => Err(Refused::NotADraft),
    }
}

impl Relation {
    /// Which kinds a relation may link (`source → target`); `derived_from`
    /// links two resources of the same kind.
    pub fn allows(self, source: ResourceKind, target: ResourceKind) -> bool {
        use ResourceKind::{Course, Dataset, ModelCard};
        match self {
            Self::TrainedOn | Self::EvaluatedOn => source == ModelCard && target == Dataset,
            Self::UsesDataset => source == Course && target == Dataset,
            Self::TeachesModel => source == Course && target == ModelCard,
            Self::DerivedFrom => source == target,
        }
    }

    pub fn rule(self) -> &'static str {
        match self {
            Self::TrainedOn | Self::EvaluatedOn => "links a model card to a dataset",
            Self::UsesDataset => "links a course to a dataset",
            Self::TeachesModel => "links a course to a model card",
            Self::DerivedFrom => "links two resources of the same kind",
        }
    }
}

// ----- limits --------------------------------------------------------------

pub const TITLE_MAX: usize = 200;
pub const SUMMARY_MAX: usize = 500;
pub const DESCRIPTION_MAX: usize = 50_000;
/// Datasheet and model card sections (Markdown).
pub const SECTION_MAX: usize = 20_000;
/// Short one-line fields (model type, task, …).
pub const SHORT_MAX: usize = 200;
pub const URL_MAX: usize = 2048;
pub const TAG_MAX: usize = 50;
pub const TAGS_MAX: usize = 30;
pub const LANGUAGES_MAX: usize = 20;
pub const COUNTRIES_MAX: usize = 250;
pub const RELATED_MAX: usize = 100;
pub const RESULTS_MAX: usize = 500;
pub const FORMATS_MAX: usize = 20;

// ----- the document ----------------------------------------------------------

/// A typed link from one resource to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Link {
    pub relation: Relation,
    /// The linked resource's id.
    #[schema(format = "uuid")]
    pub resource_id: String,
    /// The version of the linked resource this link names (`1.2`: a model
    /// trained on that version of a dataset); absent, the latest, whatever
    /// it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "1.2")]
    pub version: Option<String>,
    /// Read-only (ignored when sent), on a pinned link: the linked
    /// resource's latest version; when it differs from `version`, a newer
    /// one exists.
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
    #[schema(read_only, example = "1.3")]
    pub latest_version: Option<String>,
    /// Read-only: the version this link names (or the whole resource) was
    /// withdrawn; what answers for it instead of its content.
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
    #[schema(read_only)]
    pub tombstone: Option<Box<crate::domain::version::Tombstone>>,
}

impl Link {
    /// A link to the latest version of `resource_id`.
    pub fn new(relation: Relation, resource_id: String) -> Self {
        Self {
            relation,
            resource_id,
            version: None,
            latest_version: None,
            tombstone: None,
        }
    }
}

/// The fields every kind has, as edited.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Core {
    pub title: String,
    pub summary: String,
    pub description: String,
    pub license: Option<String>,
    pub languages: Vec<String>,
    pub countries: Vec<String>,
    pub tags: Vec<String>,
    pub visibility: Visibility,
    pub related: Vec<Link>,
    /// `10.NNNN/suffix` (see [`check_doi`]).
    pub doi: Option<String>,
}

/// A course's own fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CourseFields {
    pub level: Option<CourseLevel>,
    pub delivery: Option<Delivery>,
    /// Hours of study, at least 0.
    pub duration_hours: Option<f64>,
    /// Markdown: what a learner should know first.
    pub prerequisites: Option<String>,
    /// A package of the whole course for offline study (http or https).
    pub offline_package_url: Option<String>,
    #[schema(minimum = 0)]
    pub offline_package_bytes: Option<i64>,
}

/// A datasheet, after *Datasheets for Datasets* (Markdown sections).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Datasheet {
    pub motivation: Option<String>,
    pub composition: Option<String>,
    pub collection_process: Option<String>,
    pub preprocessing: Option<String>,
    pub uses: Option<String>,
    pub out_of_scope_uses: Option<String>,
    pub biases_and_limitations: Option<String>,
    pub maintenance: Option<String>,
}

/// A dataset's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct DatasetFields {
    pub access_level: AccessLevel,
    /// Where the data comes from; defaults to the owning institution's country.
    #[schema(value_type = Option<crate::domain::vocab::Country>)]
    pub origin_country: Option<String>,
    pub transfer_policy: TransferPolicy,
    /// The countries data may go to under `allowed_countries` (empty otherwise).
    #[schema(value_type = Vec<crate::domain::vocab::Country>)]
    pub allowed_countries: Vec<String>,
    pub contains_personal_data: bool,
    #[schema(minimum = 0)]
    pub record_count: Option<i64>,
    #[schema(minimum = 0)]
    pub size_bytes: Option<i64>,
    /// File formats (`CSV`, `text/csv`, `Parquet`…).
    pub formats: Vec<String>,
    pub datasheet: Datasheet,
    /// Its files are refused (403 `embargoed`) until then; the metadata is
    /// seen as `visibility` says. The embargo lifts itself (its owners, and
    /// those refused a file meanwhile, are told).
    pub embargo_until: Option<DateTime<Utc>>,
    /// Why (shown with the refusal).
    pub embargo_reason: Option<String>,
    /// The end of the retention period its data-sharing agreement sets:
    /// from then on its files are refused (410 `retention-ended`) and its
    /// grants end; its owners are reminded 30 and 7 days before.
    pub retention_until: Option<DateTime<Utc>>,
}

impl Default for DatasetFields {
    fn default() -> Self {
        Self {
            access_level: AccessLevel::Registered,
            origin_country: None,
            transfer_policy: TransferPolicy::Unrestricted,
            allowed_countries: Vec::new(),
            contains_personal_data: false,
            record_count: None,
            size_bytes: None,
            formats: Vec::new(),
            datasheet: Datasheet::default(),
            embargo_until: None,
            embargo_reason: None,
            retention_until: None,
        }
    }
}

/// One evaluation result of a model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResultRow {
    pub task: String,
    /// The evaluation dataset's name.
    pub dataset: Option<String>,
    /// The evaluation dataset's id, when it is on the platform.
    #[schema(format = "uuid")]
    pub dataset_id: Option<String>,
    pub metric: String,
    pub value: f64,
    /// The subgroup the value is for (`women`, `Kiswahili speakers`…);
    /// results on two or more slices make a disaggregated evaluation.
    pub slice: Option<String>,
}

/// A model card's own fields, after *Model Cards for Model Reporting*.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ModelCardFields {
    pub risk_tier: Option<RiskTier>,
    pub model_type: Option<String>,
    pub architecture: Option<String>,
    pub base_model: Option<String>,
    pub task: Option<String>,
    pub intended_uses: Option<String>,
    pub out_of_scope_uses: Option<String>,
    pub factors: Option<String>,
    pub metrics: Option<String>,
    pub training_data: Option<String>,
    pub evaluation_data: Option<String>,
    pub ethical_considerations: Option<String>,
    pub caveats: Option<String>,
    pub environmental_impact: Option<String>,
    pub results: Vec<ResultRow>,
}

/// A kind's own fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Details {
    Course(CourseFields),
    Dataset(DatasetFields),
    ModelCard(ModelCardFields),
}

impl Details {
    pub fn kind(&self) -> ResourceKind {
        match self {
            Self::Course(_) => ResourceKind::Course,
            Self::Dataset(_) => ResourceKind::Dataset,
            Self::ModelCard(_) => ResourceKind::ModelCard,
        }
    }

    /// The stored JSON object.
    pub fn to_json(&self) -> Value {
        let value = match self {
            Self::Course(f) => serde_json::to_value(f),
            Self::Dataset(f) => serde_json::to_value(f),
            Self::ModelCard(f) => serde_json::to_value(f),
        };
        value.unwrap_or(Value::Null)
    }

    /// Reads the stored JSON back; fields the store lacks take defaults.
    pub fn from_json(kind: ResourceKind, raw: &str) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            ResourceKind::Course => Self::Course(serde_json::from_str(raw)?),
            ResourceKind::Dataset => Self::Dataset(serde_json::from_str(raw)?),
            ResourceKind::ModelCard => Self::ModelCard(serde_json::from_str(raw)?),
        })
    }

    pub fn access_level(&self) -> Option<AccessLevel> {
        match self {
            Self::Dataset(d) => Some(d.access_level),
            _ => None,
        }
    }

    pub fn risk_tier(&self) -> Option<RiskTier> {
        match self {
            Self::ModelCard(m) => m.risk_tier,
            _ => None,
        }
    }
}

/// A validated document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub core: Core,
    pub details: Details,
}

/// Top-level fields a client may send, besides the kind's own.
pub const CORE_FIELDS: &[&str] = &[
    "title",
    "summary",
    "description",
    "license",
    "languages",
    "countries",
    "tags",
    "visibility",
    "related",
    "doi",
];

/// Fields whose absence means a default that would widen access (public
/// visibility, open transfers): a PATCH may change them, never clear them.
pub const NOT_CLEARABLE: &[&str] = &[
    "visibility",
    "access_level",
    "transfer_policy",
    "contains_personal_data",
];

/// Fields of the representation that are never written directly.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "id",
    "kind",
    "institution",
    "status",
    "version",
    "created_at",
    "updated_at",
    "published_at",
    "archived_at",
    "related_from",
    "version_label",
    "version_note",
    "versions_url",
];

pub fn kind_fields(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        ResourceKind::Course => &[
            "level",
            "delivery",
            "duration_hours",
            "prerequisites",
            "offline_package_url",
            "offline_package_bytes",
        ],
        ResourceKind::Dataset => &[
            "access_level",
            "origin_country",
            "transfer_policy",
            "allowed_countries",
            "contains_personal_data",
            "record_count",
            "size_bytes",
            "formats",
            "datasheet",
            "embargo_until",
            "embargo_reason",
            "retention_until",
        ],
        ResourceKind::ModelCard => &[
            "risk_tier",
            "model_type",
            "architecture",
            "base_model",
            "task",
            "intended_uses",
            "out_of_scope_uses",
            "factors",
            "metrics",
            "training_data",
            "evaluation_data",
            "ethical_considerations",
            "caveats",
            "environmental_impact",
            "results",
        ],
    }
}

impl Document {
    /// The document as an editable JSON object (the base a PATCH merges into).
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = match serde_json::to_value(&self.core) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        if let Value::Object(d) = self.details.to_json() {
            map.extend(d);
        }
        map
    }
}

/// Applies an RFC 7396 merge patch.
pub fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (key, value) in patch {
            if value.is_null() {
                t.remove(&key);
            } else {
                merge_patch(t.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

/// Validates a whole document of a kind. `default_country` fills a
/// dataset's `origin_country` when none is given.
pub fn validate(
    kind: ResourceKind,
    map: Map<String, Value>,
    default_country: &str,
) -> Result<Document, Vec<FieldError>> {
    let mut r = Reader::new(map, "");
    let title = r.text("title", TITLE_MAX, false);
    if title.is_none() && !r.has_error("title") {
        r.fail(
            "title",
            Invalid::required("Required: 1–200 characters.").max(TITLE_MAX),
        );
    }
    let summary = r.text("summary", SUMMARY_MAX, true).unwrap_or_default();
    let description = r
        .text("description", DESCRIPTION_MAX, true)
        .unwrap_or_default();
    let license = r.license("license");
    let languages = r.languages("languages");
    let countries = r.countries("countries", COUNTRIES_MAX);
    let tags = r.tags("tags");
    let visibility = r
        .word::<Visibility>("visibility")
        .unwrap_or(Visibility::Public);
    let related = r.related("related");
    let doi = r.doi("doi");
    let details = match kind {
        ResourceKind::Course => Details::Course(read_course(&mut r)),
        ResourceKind::Dataset => Details::Dataset(read_dataset(&mut r, default_country)),
        ResourceKind::ModelCard => Details::ModelCard(read_model_card(&mut r)),
    };
    let errors = r.finish();
    match (title, errors.is_empty()) {
        (Some(title), true) => Ok(Document {
            core: Core {
                title,
                summary,
                description,
                license,
                languages,
                countries,
                tags,
                visibility,
                related,
                doi,
            },
            details,
        }),
        _ => Err(errors),
    }
}

fn read_course(r: &mut Reader) -> CourseFields {
    CourseFields {
        level: r.word::<CourseLevel>("level"),
        delivery: r.word::<Delivery>("delivery"),
        duration_hours: r.number("duration_hours"),
        prerequisites: r.text("prerequisites", SECTION_MAX, true),
        offline_package_url: r.url("offline_package_url"),
        offline_package_bytes: r.count("offline_package_bytes"),
    }
}

fn read_dataset(r: &mut Reader, default_country: &str) -> DatasetFields {
    let defaults = DatasetFields::default();
    let transfer_policy = r
        .word::<TransferPolicy>("transfer_policy")
        .unwrap_or(defaults.transfer_policy);
    let mut allowed_countries = r.countries("allowed_countries", COUNTRIES_MAX);
    if transfer_policy == TransferPolicy::AllowedCountries {
        if allowed_countries.is_empty() && !r.has_error("allowed_countries") {
            r.fail(
                "allowed_countries",
                Invalid::new(
                    Code::TooFew,
                    "Name at least one country when `transfer_policy` is `allowed_countries`.",
                )
                .min(1)
                .other("transfer_policy"),
            );
        }
    } else {
        // Only meaningful under `allowed_countries`: switching policy drops it.
        allowed_countries.clear();
    }
    let datasheet = match r.object("datasheet") {
        Some(mut s) => {
            let sheet = Datasheet {
                motivation: s.text("motivation", SECTION_MAX, true),
                composition: s.text("composition", SECTION_MAX, true),
                collection_process: s.text("collection_process", SECTION_MAX, true),
                preprocessing: s.text("preprocessing", SECTION_MAX, true),
                uses: s.text("uses", SECTION_MAX, true),
                out_of_scope_uses: s.text("out_of_scope_uses", SECTION_MAX, true),
                biases_and_limitations: s.text("biases_and_limitations", SECTION_MAX, true),
                maintenance: s.text("maintenance", SECTION_MAX, true),
            };
            r.absorb(s);
            sheet
        }
        None => Datasheet::default(),
    };
    let mut fields = DatasetFields {
        access_level: r
            .word::<AccessLevel>("access_level")
            .unwrap_or(defaults.access_level),
        origin_country: r.country("origin_country").or_else(|| {
            CountryCode::parse(default_country)
                .ok()
                .map(|c| c.as_str().into())
        }),
        transfer_policy,
        allowed_countries,
        contains_personal_data: r.boolean("contains_personal_data").unwrap_or(false),
        record_count: r.count("record_count"),
        size_bytes: r.count("size_bytes"),
        formats: r.strings("formats", FORMATS_MAX, |s| {
            short_line(s, 100).map_err(|e| e.map_message(|m| format!("Each format: {m}")))
        }),
        datasheet,
        embargo_until: None,
        embargo_reason: None,
        retention_until: None,
    };
    fields.embargo_until = r.instant("embargo_until");
    fields.embargo_reason = r.text("embargo_reason", 2_000, true);
    fields.retention_until = r.instant("retention_until");
    if let (Some(embargo), Some(retention)) = (fields.embargo_until, fields.retention_until)
        && retention <= embargo
    {
        r.fail(
            "retention_until",
            Invalid::new(
                Code::OutOfRange,
                "The retention period must end after the embargo does.",
            )
            .other("embargo_until"),
        );
    }
    if fields.embargo_reason.is_some()
        && fields.embargo_until.is_none()
        && !r.has_error("embargo_until")
    {
        r.fail(
            "embargo_until",
            Invalid::new(
                Code::Required,
                "An embargo reason needs its end (`embargo_until`).",
            )
            .other("embargo_reason"),
        );
    }
    fields
}

fn read_model_card(r: &mut Reader) -> ModelCardFields {
    let mut card = ModelCardFields {
        risk_tier: r.word::<RiskTier>("risk_tier"),
        model_type: r.text("model_type", SHORT_MAX, false),
        architecture: r.text("architecture", SHORT_MAX, false),
        base_model: r.text("base_model", SHORT_MAX, false),
        task: r.text("task", SHORT_MAX, false),
        intended_uses: r.text("intended_uses", SECTION_MAX, true),
        out_of_scope_uses: r.text("out_of_scope_uses", SECTION_MAX, true),
        factors: r.text("factors", SECTION_MAX, true),
        metrics: r.text("metrics", SECTION_MAX, true),
        training_data: r.text("training_data", SECTION_MAX, true),
        evaluation_data: r.text("evaluation_data", SECTION_MAX, true),
        ethical_considerations: r.text("ethical_considerations", SECTION_MAX, true),
        caveats: r.text("caveats", SECTION_MAX, true),
        environmental_impact: r.text("environmental_impact", SECTION_MAX, true),
        results: Vec::new(),
    };
    if let Some(rows) = r.array("results", RESULTS_MAX) {
        for (i, value) in rows.into_iter().enumerate() {
            let Some(mut row) = r.element("results", i, value) else {
                continue;
            };
            let task = row.text("task", SHORT_MAX, false);
            if task.is_none() && !row.has_error("task") {
                row.fail("task", Invalid::required("Required."));
            }
            let metric = row.text("metric", SHORT_MAX, false);
            if metric.is_none() && !row.has_error("metric") {
                row.fail("metric", Invalid::required("Required."));
            }
            let value = row.finite("value");
            if value.is_none() && !row.has_error("value") {
                row.fail("value", Invalid::required("Required: a number."));
            }
            let parsed = ResultRow {
                task: task.unwrap_or_default(),
                dataset: row.text("dataset", SHORT_MAX, false),
                dataset_id: row.uuid("dataset_id"),
                metric: metric.unwrap_or_default(),
                value: value.unwrap_or_default(),
                slice: row.text("slice", SHORT_MAX, false),
            };
            r.absorb(row);
            card.results.push(parsed);
        }
    }
    card
}

// ----- the completeness gate -------------------------------------------------

/// Everything a document lacks before it may be published (empty: it may).
/// `modules` is how many modules the course has (ignored for other kinds).
pub fn publication_gaps(doc: &Document, modules: i64) -> Vec<FieldError> {
    let mut gaps = Vec::new();
    let mut need = |present: bool, field: &str, invalid: Invalid| {
        if !present {
            gaps.push(invalid.at(field));
        }
    };
    let req = Invalid::required;
    let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let core = &doc.core;
    need(
        !core.title.trim().is_empty(),
        "title",
        req("A title is required."),
    );
    need(
        !core.summary.trim().is_empty(),
        "summary",
        req("A summary is required."),
    );
    need(
        core.license.is_some(),
        "license",
        req("Choose a licence (an SPDX id)."),
    );
    need(
        !core.languages.is_empty(),
        "languages",
        req("Name at least one language."),
    );
    match &doc.details {
        Details::Course(_) => {
            need(
                modules > 0,
                "modules",
                Invalid::new(
                    Code::TooFew,
                    "Add at least one module (POST /api/v1/courses/{id}/modules).",
                )
                .min(1),
            );
        }
        Details::Dataset(d) => {
            let s = &d.datasheet;
            let required = "Required by the datasheet.";
            need(has(&s.motivation), "datasheet.motivation", req(required));
            need(has(&s.composition), "datasheet.composition", req(required));
            need(
                has(&s.collection_process),
                "datasheet.collection_process",
                req(required),
            );
            need(has(&s.uses), "datasheet.uses", req(required));
            if d.contains_personal_data {
                let personal = "Required for a dataset with personal data.";
                need(
                    has(&s.preprocessing),
                    "datasheet.preprocessing",
                    req(personal),
                );
                need(
                    has(&s.biases_and_limitations),
                    "datasheet.biases_and_limitations",
                    req(personal),
                );
                need(
                    d.access_level != AccessLevel::Open,
                    "access_level",
                    Invalid::not_allowed(
                        &["registered", "restricted"],
                        "A dataset with personal data cannot be `open`.",
                    )
                    .other("contains_personal_data"),
                );
            }
            if d.transfer_policy == TransferPolicy::InCountry {
                need(
                    d.origin_country.is_some(),
                    "origin_country",
                    req("`in_country` needs the country of origin.").other("transfer_policy"),
                );
            }
        }
        Details::ModelCard(m) => {
            let tier = m.risk_tier;
            need(
                tier.is_some(),
                "risk_tier",
                req("Choose a risk tier: `minimal`, `limited`, `high` or `unacceptable`."),
            );
            need(
                has(&m.intended_uses),
                "intended_uses",
                req("Say what the model is for."),
            );
            need(
                has(&m.out_of_scope_uses),
                "out_of_scope_uses",
                req("Say what the model must not be used for."),
            );
            if tier == Some(RiskTier::Unacceptable) {
                need(
                    false,
                    "risk_tier",
                    Invalid::not_allowed(
                        &["minimal", "limited", "high"],
                        "A model of unacceptable risk can never be published.",
                    ),
                );
            }
            if tier.is_some_and(|t| t >= RiskTier::Limited) {
                let why = "Required from risk tier `limited` up.";
                need(has(&m.evaluation_data), "evaluation_data", req(why));
                // `high` asks more of the results (below): one entry per field.
                if tier < Some(RiskTier::High) {
                    need(
                        !m.results.is_empty(),
                        "results",
                        Invalid::new(
                            Code::TooFew,
                            "Report at least one evaluation result (risk tier `limited` and up).",
                        )
                        .min(1)
                        .other("risk_tier"),
                    );
                }
                need(has(&m.caveats), "caveats", req(why));
            }
            if tier.is_some_and(|t| t >= RiskTier::High) {
                let why = "Required for risk tier `high`.";
                need(has(&m.factors), "factors", req(why));
                need(
                    has(&m.ethical_considerations),
                    "ethical_considerations",
                    req(why),
                );
                let mut slices: Vec<&str> = m
                    .results
                    .iter()
                    .filter_map(|r| r.slice.as_deref())
                    .collect();
                slices.sort_unstable();
                slices.dedup();
                need(
                    slices.len() >= 2,
                    "results",
                    Invalid::new(
                        Code::TooFew,
                        "Risk tier `high` needs results on at least two slices (disaggregated evaluation).",
                    )
                    .min(2)
                    .other("risk_tier"),
                );
            }
        }
    }
    gaps
}

// ----- reading a JSON object field by field ---------------------------------

/// A title (resources, modules, partnerships): 1–200 characters on one line.
pub fn check_title(raw: &str) -> Result<String, Invalid> {
    short_line(raw, TITLE_MAX)
}

/// One line of text: trimmed, no control characters, at most `max` characters.
fn short_line(raw: &str, max: usize) -> Result<String, Invalid> {
    let s = raw.trim();
    let message = format!("1–{max} characters on one line.");
    if s.is_empty() {
        Err(Invalid::required(message).max(max))
    } else if s.chars().count() > max {
        Err(Invalid::too_long(max, message))
    } else if s.chars().any(char::is_control) {
        Err(Invalid::new(Code::ControlCharacters, message))
    } else {
        Ok(s.to_string())
    }
}

/// Reads fields out of a JSON object, collecting one error per bad field;
/// whatever is left at the end is unknown.
#[derive(Debug)]
pub struct Reader {
    map: Map<String, Value>,
    prefix: String,
    errors: Vec<FieldError>,
}

impl Reader {
    pub fn new(map: Map<String, Value>, prefix: &str) -> Self {
        Self {
            map,
            prefix: prefix.to_string(),
            errors: Vec::new(),
        }
    }

    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Records a failure of the field `key`.
    pub fn fail(&mut self, key: &str, invalid: Invalid) {
        let field = self.path(key);
        self.errors.push(invalid.at(field));
    }

    fn has_error(&self, key: &str) -> bool {
        let field = self.path(key);
        self.errors.iter().any(|e| e.field == field)
    }

    /// Takes a field; `null` counts as absent.
    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// A value of a JSON type: `json_type` is the `expected` parameter
    /// (`string`, `boolean`, `list`), `expected` the words of the message.
    fn typed<T: DeserializeOwned>(
        &mut self,
        key: &str,
        json_type: &str,
        expected: &str,
    ) -> Option<T> {
        let value = self.take(key)?;
        match serde_json::from_value(value) {
            Ok(v) => Some(v),
            Err(_) => {
                self.fail(
                    key,
                    Invalid::new(Code::WrongType, format!("Expected {expected}."))
                        .expected(json_type),
                );
                None
            }
        }
    }

    /// Text; empty means absent. `multiline` allows line breaks and tabs.
    pub fn text(&mut self, key: &str, max: usize, multiline: bool) -> Option<String> {
        let raw: String = self.typed(key, "string", "a string")?;
        let s = if multiline {
            raw.trim_end()
        } else {
            raw.trim()
        };
        let bad_char = s
            .chars()
            .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
        if s.chars().count() > max {
            self.fail(
                key,
                Invalid::too_long(max, format!("At most {max} characters.")),
            );
            None
        } else if bad_char {
            self.fail(
                key,
                Invalid::new(
                    Code::ControlCharacters,
                    "Control characters are not allowed.",
                ),
            );
            None
        } else if s.trim().is_empty() {
            None
        } else {
            Some(s.to_string())
        }
    }

    /// One word of a closed set.
    pub fn word<T: Word>(&mut self, key: &str) -> Option<T> {
        let words: Vec<&str> = T::all().iter().map(|w| w.word()).collect();
        let choices = words
            .iter()
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let raw: String = self.typed(key, "string", &format!("one of {choices}"))?;
        let parsed = T::from_word(&raw);
        if parsed.is_none() {
            self.fail(
                key,
                Invalid::not_allowed(&words, format!("Expected one of {choices}.")),
            );
        }
        parsed
    }

    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        self.typed(key, "boolean", "true or false")
    }

    /// A moment: an RFC 3339 date-time (`2027-01-31T12:00:00Z`) or a date
    /// (`2027-01-31`, midnight UTC), between the years 1970 and 9999.
    pub fn instant(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let raw: String = self.typed(key, "string", "an RFC 3339 date-time or a date")?;
        let raw = raw.trim();
        let parsed = DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc())
            })
            .filter(|t| (1970..=9999).contains(&chrono::Datelike::year(t)))
            .map(|t| {
                // Microseconds, as both databases keep them.
                use chrono::Timelike;
                t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
            });
        if parsed.is_none() {
            self.fail(
                key,
                Invalid::format(
                    "date-time",
                    "An RFC 3339 date-time (2027-01-31T12:00:00Z) or a date (2027-01-31).",
                ),
            );
        }
        parsed
    }

    /// A version label, `major.minor` (`1.2`).
    pub fn version_label(&mut self, key: &str) -> Option<String> {
        let raw: String = self.typed(key, "string", "a version label like 1.2")?;
        match crate::domain::version::Label::parse(raw.trim()) {
            Some(label) => Some(label.to_string()),
            None => {
                self.fail(
                    key,
                    Invalid::format("version", "A version label like 1.2 (see its versions)."),
                );
                None
            }
        }
    }

    /// A whole number, at least 0.
    pub fn count(&mut self, key: &str) -> Option<i64> {
        let value = self.take(key)?;
        match value.as_i64() {
            Some(n) if n >= 0 => Some(n),
            _ => {
                let message = "Expected a whole number, at least 0.";
                let invalid = if value.is_number() {
                    Invalid::new(Code::OutOfRange, message).min(0)
                } else {
                    Invalid::new(Code::WrongType, message).expected("integer")
                };
                self.fail(key, invalid);
                None
            }
        }
    }

    /// A number, at least 0.
    pub fn number(&mut self, key: &str) -> Option<f64> {
        let value = self.take(key)?;
        match value.as_f64() {
            Some(n) if (0.0..=1e12).contains(&n) => Some(n),
            _ => {
                let message = "Expected a number from 0 to 10^12.";
                let invalid = if value.is_number() {
                    Invalid::new(Code::OutOfRange, message)
                        .min(0)
                        .max(1_000_000_000_000_i64)
                } else {
                    Invalid::new(Code::WrongType, message).expected("number")
                };
                self.fail(key, invalid);
                None
            }
        }
    }

    /// Any finite number (a metric may be negative).
    pub fn finite(&mut self, key: &str) -> Option<f64> {
        let value = self.take(key)?;
        match value.as_f64() {
            Some(n) if n.is_finite() => Some(n),
            _ => {
                self.fail(
                    key,
                    Invalid::new(Code::WrongType, "Expected a number.").expected("number"),
                );
                None
            }
        }
    }

    pub fn url(&mut self, key: &str) -> Option<String> {
        let raw: String = self.typed(key, "string", "a URL")?;
        match check_url(&raw) {
            Ok(u) => Some(u),
            Err(e) => {
                self.fail(key, e);
                None
            }
        }
    }

    pub fn uuid(&mut self, key: &str) -> Option<String> {
        let raw: String = self.typed(key, "string", "an id")?;
        match uuid::Uuid::parse_str(raw.trim()) {
            Ok(id) => Some(id.to_string()),
            Err(_) => {
                self.fail(key, Invalid::format("uuid", "Not an id (a UUID)."));
                None
            }
        }
    }

    pub fn license(&mut self, key: &str) -> Option<String> {
        let raw: String = self.typed(key, "string", "an SPDX licence id")?;
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        match check_license(raw) {
            Ok(id) => Some(id),
            Err(e) => {
                self.fail(key, e);
                None
            }
        }
    }

    pub fn doi(&mut self, key: &str) -> Option<String> {
        let raw: String = self.typed(key, "string", "a DOI")?;
        match check_doi(&raw) {
            Ok(d) => Some(d),
            Err(e) => {
                self.fail(key, e);
                None
            }
        }
    }

    pub fn country(&mut self, key: &str) -> Option<String> {
        let raw: String = self.typed(key, "string", "an ISO 3166-1 alpha-2 country code")?;
        match CountryCode::parse(&raw) {
            Ok(c) => Some(c.as_str().to_string()),
            Err(e) => {
                self.fail(key, e);
                None
            }
        }
    }

    /// A list of strings, each checked, without duplicates (ignoring case).
    pub fn strings(
        &mut self,
        key: &str,
        max_items: usize,
        each: impl Fn(&str) -> Result<String, Invalid>,
    ) -> Vec<String> {
        let Some(raw) = self.typed::<Vec<String>>(key, "list", "a list of strings") else {
            return Vec::new();
        };
        if raw.len() > max_items {
            self.fail(
                key,
                Invalid::too_many(max_items, format!("At most {max_items} entries.")),
            );
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for item in &raw {
            match each(item) {
                Ok(v) => {
                    if !out.iter().any(|o| o.to_lowercase() == v.to_lowercase()) {
                        out.push(v);
                    }
                }
                Err(e) => {
                    self.fail(key, e);
                    return Vec::new();
                }
            }
        }
        out
    }

    pub fn languages(&mut self, key: &str) -> Vec<String> {
        self.strings(key, LANGUAGES_MAX, |s| {
            LanguageTag::parse(s).map(|t| t.as_str().to_string())
        })
    }

    pub fn countries(&mut self, key: &str, max: usize) -> Vec<String> {
        self.strings(key, max, |s| {
            CountryCode::parse(s).map(|c| c.as_str().to_string())
        })
    }

    pub fn tags(&mut self, key: &str) -> Vec<String> {
        self.strings(key, TAGS_MAX, |s| {
            short_line(s, TAG_MAX).map_err(|e| e.map_message(|m| format!("Each tag: {m}")))
        })
    }

    pub fn related(&mut self, key: &str) -> Vec<Link> {
        let Some(raw) = self.array(key, RELATED_MAX) else {
            return Vec::new();
        };
        let mut out: Vec<Link> = Vec::new();
        for (i, value) in raw.into_iter().enumerate() {
            let Some(mut item) = self.element(key, i, value) else {
                continue;
            };
            let relation = item.word::<Relation>("relation");
            if relation.is_none() && !item.has_error("relation") {
                item.fail("relation", Invalid::required("Required."));
            }
            let id = item.uuid("resource_id");
            if id.is_none() && !item.has_error("resource_id") {
                item.fail("resource_id", Invalid::required("Required."));
            }
            let version = item.version_label("version");
            // What a read adds, sent back unchanged: not the link's own.
            item.take("latest_version");
            item.take("tombstone");
            self.absorb(item);
            if let (Some(relation), Some(resource_id)) = (relation, id) {
                let link = Link {
                    version,
                    ..Link::new(relation, resource_id)
                };
                // One link per (relation, resource): a second pin replaces none.
                if !out
                    .iter()
                    .any(|k| k.relation == link.relation && k.resource_id == link.resource_id)
                {
                    out.push(link);
                }
            }
        }
        out
    }

    /// A nested object, read by a reader of its own (hand it back with [`absorb`]).
    pub fn object(&mut self, key: &str) -> Option<Reader> {
        let value = self.take(key)?;
        match value {
            Value::Object(map) => Some(Reader::new(map, &format!("{}.", self.path(key)))),
            _ => {
                self.fail(
                    key,
                    Invalid::new(Code::WrongType, "Expected an object.").expected("object"),
                );
                None
            }
        }
    }

    pub fn array(&mut self, key: &str, max: usize) -> Option<Vec<Value>> {
        let value = self.take(key)?;
        match value {
            Value::Array(items) if items.len() <= max => Some(items),
            Value::Array(_) => {
                self.fail(
                    key,
                    Invalid::too_many(max, format!("At most {max} entries.")),
                );
                None
            }
            _ => {
                self.fail(
                    key,
                    Invalid::new(Code::WrongType, "Expected a list.").expected("list"),
                );
                None
            }
        }
    }

    /// The `i`th element of a list, as an object reader.
    pub fn element(&mut self, key: &str, i: usize, value: Value) -> Option<Reader> {
        let path = format!("{}[{i}]", self.path(key));
        match value {
            Value::Object(map) => Some(Reader::new(map, &format!("{path}."))),
            _ => {
                self.errors.push(
                    Invalid::new(Code::WrongType, "Expected an object.")
                        .expected("object")
                        .at(path),
                );
                None
            }
        }
    }

    /// Takes back a nested reader: its errors and its unknown fields.
    pub fn absorb(&mut self, child: Reader) {
        self.errors.extend(child.finish());
    }

    /// The errors, with one for every field nobody read.
    pub fn finish(mut self) -> Vec<FieldError> {
        let mut left: Vec<String> = self.map.keys().cloned().collect();
        left.sort();
        for key in left {
            let invalid = if self.prefix.is_empty() && READ_ONLY_FIELDS.contains(&key.as_str()) {
                Invalid::new(Code::ReadOnly, "Read-only: it cannot be set here.")
            } else {
                Invalid::new(Code::UnknownField, "Unknown field.")
            };
            self.fail(&key, invalid);
        }
        self.errors
    }
}

/// An http or https URL.
pub fn check_url(raw: &str) -> Result<String, Invalid> {
    let raw = raw.trim();
    let message = format!("Use an http or https address (at most {URL_MAX} characters).");
    if raw.len() > URL_MAX {
        return Err(Invalid::too_long(URL_MAX, message));
    }
    let url = url::Url::parse(raw).map_err(|_| Invalid::format("url", "Not a URL."))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Invalid::format("url", message));
    }
    Ok(url.to_string())
}

/// An SPDX licence id (case-insensitive), in its canonical spelling.
/// Longest DOI accepted.
pub const DOI_MAX: usize = 200;

/// A DOI: `10.` + a registrant code of 4–9 digits (dot-separated
/// sub-codes allowed) + `/` + a suffix of visible characters. A
/// `https://doi.org/` or `doi:` prefix is taken off; stored as given
/// otherwise (DOIs are case-insensitive, their spelling is the owner's).
pub fn check_doi(raw: &str) -> Result<String, Invalid> {
    let bad = || {
        Invalid::format(
            "doi",
            "Not a DOI: 10.NNNN/suffix (e.g. 10.5281/zenodo.1234567).",
        )
    };
    let t = raw.trim();
    let t = [
        "https://doi.org/",
        "http://doi.org/",
        "https://dx.doi.org/",
        "doi:",
    ]
    .iter()
    .find_map(|p| {
        t.get(..p.len())
            .filter(|h| h.eq_ignore_ascii_case(p))
            .map(|_| &t[p.len()..])
    })
    .unwrap_or(t);
    if t.chars().count() > DOI_MAX {
        return Err(bad());
    }
    let (prefix, suffix) = t.split_once('/').ok_or_else(bad)?;
    let registrant = prefix.strip_prefix("10.").ok_or_else(bad)?;
    let mut parts = registrant.split('.');
    let first = parts.next().unwrap_or_default();
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !(4..=9).contains(&first.len()) || !digits(first) || !parts.all(digits) {
        return Err(bad());
    }
    if suffix.is_empty() || suffix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    Ok(t.to_string())
}

pub fn check_license(raw: &str) -> Result<String, Invalid> {
    if let Some(id) = spdx::license_id(raw) {
        return Ok(id.name.to_string());
    }
    let lower = raw.to_ascii_lowercase();
    if let Some(id) = spdx::identifiers::LICENSES
        .iter()
        .find(|l| l.0.to_ascii_lowercase() == lower)
    {
        return Ok(id.0.to_string());
    }
    let hint = spdx::imprecise_license_id(raw)
        .map(|(id, _)| format!(" Did you mean `{}`?", id.name))
        .unwrap_or_default();
    Err(Invalid::new(
        Code::InvalidLicence,
        format!("`{raw}` is not an SPDX licence id (see https://spdx.org/licenses/).{hint}"),
    ))
}

/// The lowercased filter terms of a document: each language (full tag and
/// primary subtag), country and tag, and a course's level, delivery and
/// duration ([`DURATION_TERM`]), as `(facet, value)`.
pub fn terms(d: &Document) -> Vec<(&'static str, String)> {
    let mut out = core_terms(&d.core);
    if let Details::Course(c) = &d.details {
        if let Some(level) = c.level {
            out.push(("level", level.as_str().to_string()));
        }
        if let Some(delivery) = c.delivery {
            out.push(("delivery", delivery.as_str().to_string()));
        }
        if let Some(hours) = c.duration_hours {
            out.push((DURATION_TERM, duration_term(hours)));
        }
    }
    out
}

/// The term facet of a course's `duration_hours` (`max_duration_hours`).
pub const DURATION_TERM: &str = "duration_hours";

/// A duration (0 to 10^12 hours) as a term whose text order is the
/// numbers' order: 13 integer digits, zero-padded, and 6 decimals
/// (`0000000000012.500000`), so `value <= duration_term(max)` is an index
/// range. Migration `2026-12-09-000000_duration_terms` writes the same form
/// (SQLite `printf('%020.6f')`, PostgreSQL `to_char`).
pub fn duration_term(hours: f64) -> String {
    format!("{:020.6}", hours.clamp(0.0, 1e12))
}

/// What full-text search indexes of a document: the title, the tags, the
/// summary, and as its body the description, the kind's own texts and
/// `extra` (the institution's name, a course's module titles).
pub fn indexed(d: &Document, extra: &[&str]) -> crate::domain::search::Indexed {
    let mut body: Vec<&str> = vec![&d.core.description];
    let mut texts: Vec<&Option<String>> = Vec::new();
    match &d.details {
        Details::Course(c) => texts.push(&c.prerequisites),
        Details::Dataset(ds) => {
            let s = &ds.datasheet;
            texts.extend([
                &s.motivation,
                &s.composition,
                &s.collection_process,
                &s.preprocessing,
                &s.uses,
                &s.out_of_scope_uses,
                &s.biases_and_limitations,
                &s.maintenance,
            ]);
            body.extend(ds.formats.iter().map(String::as_str));
        }
        Details::ModelCard(m) => {
            texts.extend([
                &m.model_type,
                &m.architecture,
                &m.base_model,
                &m.task,
                &m.intended_uses,
                &m.out_of_scope_uses,
                &m.factors,
                &m.metrics,
                &m.training_data,
                &m.evaluation_data,
                &m.ethical_considerations,
                &m.caveats,
            ]);
            for r in &m.results {
                body.push(&r.task);
                body.push(&r.metric);
                texts.push(&r.dataset);
                texts.push(&r.slice);
            }
        }
    }
    body.extend(texts.into_iter().flatten().map(String::as_str));
    body.extend(extra.iter().copied());
    crate::domain::search::Indexed::new(
        &d.core.title,
        d.core.tags.iter().map(String::as_str),
        &d.core.summary,
        body,
    )
}

fn core_terms(core: &Core) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut push = |facet: &'static str, value: String| {
        if !out.iter().any(|(f, v)| *f == facet && *v == value) {
            out.push((facet, value));
        }
    };
    for lang in &core.languages {
        let lower = lang.to_lowercase();
        if let Some((primary, _)) = lower.split_once('-') {
            push("language", primary.to_string());
        }
        push("language", lower);
    }
    for c in &core.countries {
        push("country", c.to_lowercase());
    }
    for t in &core.tags {
        push("tag", t.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_terms_sort_as_numbers() {
        let values = [0.0, 0.5, 2.0, 9.75, 10.0, 99.999999, 1234.5, 1e12];
        for pair in values.windows(2) {
            assert!(duration_term(pair[0]) < duration_term(pair[1]), "{pair:?}");
        }
        assert_eq!(duration_term(12.5), "0000000000012.500000");
        assert_eq!(duration_term(1e12), "1000000000000.000000");
        assert_eq!(duration_term(1e12).len(), duration_term(0.0).len());
    }
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    /// One typed document per kind: what a kind's struct serializes (what is
    /// stored and served) is exactly what validation reads back, field for
    /// field, what its schema documents and what `kind_fields` names.
    #[test]
    fn each_kind_reads_back_what_it_serves() {
        use utoipa::PartialSchema;
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let id = "0190a6b0-0000-7000-8000-000000000001";
        let bodies = [
            (
                ResourceKind::Course,
                json!({"level": "advanced", "delivery": "blended", "duration_hours": 3.5,
                       "prerequisites": "p", "offline_package_url": "https://example.org/c.zip",
                       "offline_package_bytes": 10}),
                CourseFields::schema(),
            ),
            (
                ResourceKind::Dataset,
                json!({"access_level": "restricted", "origin_country": "TZ",
                       "transfer_policy": "allowed_countries", "allowed_countries": ["KE"],
                       "contains_personal_data": true, "record_count": 5, "size_bytes": 6,
                       "formats": ["CSV"],
                       "datasheet": {"motivation": "a", "composition": "b",
                                     "collection_process": "c", "preprocessing": "d",
                                     "uses": "e", "out_of_scope_uses": "f",
                                     "biases_and_limitations": "g", "maintenance": "h"}}),
                DatasetFields::schema(),
            ),
            (
                ResourceKind::ModelCard,
                json!({"risk_tier": "high", "model_type": "a", "architecture": "b",
                       "base_model": "c", "task": "d", "intended_uses": "e",
                       "out_of_scope_uses": "f", "factors": "g", "metrics": "h",
                       "training_data": "i", "evaluation_data": "j",
                       "ethical_considerations": "k", "caveats": "l",
                       "environmental_impact": "m",
                       "results": [{"task": "t", "dataset": "d", "dataset_id": id,
                                    "metric": "m", "value": -1.5, "slice": "s"}]}),
                ModelCardFields::schema(),
            ),
        ];
        for (kind, own, schema) in bodies {
            let mut body = map(json!({"title": "T", "summary": "S", "description": "D",
                                      "license": "MIT", "languages": ["sw"],
                                      "countries": ["KE"], "tags": ["t"],
                                      "visibility": "registered",
                                      "related": [{"relation": "derived_from", "resource_id": id}]}));
            body.extend(map(own));
            let d = validate(kind, body, "KE").unwrap();
            assert_eq!(validate(kind, d.to_map(), "KE").unwrap(), d, "{kind:?}");
            let mut served: Vec<String> = match d.details.to_json() {
                Value::Object(m) => m.keys().cloned().collect(),
                other => panic!("{other}"),
            };
            served.sort();
            let mut named: Vec<&str> = kind_fields(kind).to_vec();
            named.sort_unstable();
            assert_eq!(served, named, "{kind:?}");
            let RefOr::T(Schema::Object(object)) = schema else {
                panic!("{kind:?}: not an object schema")
            };
            let mut documented: Vec<String> = object.properties.keys().cloned().collect();
            documented.sort();
            assert_eq!(documented, served, "{kind:?}");
        }
    }

    /// Every (status, step) pair: where the allowed ones lead, and why the
    /// others are refused.
    #[test]
    fn the_lifecycle() {
        use Status::{Archived, Deaccessioned, Draft, Published};
        let gone = Err(Refused::Deaccessioned);
        let table: [(Status, Step, Result<Option<Status>, Refused>); 20] = [
            (Draft, Step::Deaccession, Err(Refused::InvalidTransition)),
            (Published, Step::Deaccession, Ok(Some(Deaccessioned))),
            (Archived, Step::Deaccession, Ok(Some(Deaccessioned))),
            (Deaccessioned, Step::Edit, gone),
            (Deaccessioned, Step::Publish, gone),
            (Deaccessioned, Step::Archive, gone),
            (Deaccessioned, Step::Delete, gone),
            (Deaccessioned, Step::Deaccession, gone),
            (Draft, Step::Edit, Ok(Some(Draft))),
            (Draft, Step::Publish, Ok(Some(Published))),
            (Draft, Step::Archive, Err(Refused::InvalidTransition)),
            (Draft, Step::Delete, Ok(None)),
            (Published, Step::Edit, Ok(Some(Published))),
            (Published, Step::Publish, Err(Refused::InvalidTransition)),
            (Published, Step::Archive, Ok(Some(Archived))),
            (Published, Step::Delete, Err(Refused::NotADraft)),
            (Archived, Step::Edit, Err(Refused::ReadOnly)),
            (Archived, Step::Publish, Err(Refused::InvalidTransition)),
            (Archived, Step::Archive, Err(Refused::InvalidTransition)),
            (Archived, Step::Delete, Err(Refused::NotADraft)),
        ];
        let mut checked = 0;
        for &from in Status::ALL {
            for s in Step::ALL {
                let (_, _, expected) = table
                    .iter()
                    .find(|(f, t, _)| *f == from && *t == s)
                    .expect("every pair is in the table");
                assert_eq!(
                    step(from, s),
                    *expected,
                    "{s:?} on a {} resource",
                    from.as_str()
                );
                checked += 1;
            }
        }
        assert_eq!(checked, table.len());
        // Archived is final but for a withdrawal; a withdrawal is final.
        assert!(
            Step::ALL
                .iter()
                .all(|s| step(Archived, *s).is_err() == (*s != Step::Deaccession))
        );
        assert!(Step::ALL.iter().all(|s| step(Deaccessioned, *s).is_err()));
    }

    #[test]
    fn a_minimal_course_validates_with_defaults() {
        let doc = validate(ResourceKind::Course, map(json!({"title": " Intro "})), "KE").unwrap();
        assert_eq!(doc.core.title, "Intro");
        assert_eq!(doc.core.visibility, Visibility::Public);
        assert_eq!(doc.details, Details::Course(CourseFields::default()));
    }

    #[test]
    fn every_bad_field_is_reported_once() {
        let errors = validate(
            ResourceKind::Dataset,
            map(json!({
                "title": "",
                "license": "Not-A-Licence",
                "languages": ["xx-invalid-tag-zz"],
                "countries": ["ZZ"],
                "visibility": "secret",
                "size_bytes": -1,
                "record_count": 1.5,
                "transfer_policy": "allowed_countries",
                "datasheet": {"motivation": 3, "colour": "red"},
                "related": [{"relation": "trained_on"}],
                "status": "published",
                "surprise": true
            })),
            "KE",
        )
        .unwrap_err();
        let mut f = fields(&errors);
        f.sort_unstable();
        assert_eq!(
            f,
            vec![
                "allowed_countries",
                "countries",
                "datasheet.colour",
                "datasheet.motivation",
                "languages",
                "license",
                "record_count",
                "related[0].resource_id",
                "size_bytes",
                "status",
                "surprise",
                "title",
                "visibility",
            ]
        );
    }

    #[test]
    fn licences_are_spdx_ids_in_canonical_case() {
        assert_eq!(check_license("cc-by-4.0").unwrap(), "CC-BY-4.0");
        assert_eq!(check_license("Apache-2.0").unwrap(), "Apache-2.0");
        assert!(check_license("CC BY").is_err());
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut doc,
            json!({"a": "z", "c": {"f": null}, "l": [3], "n": 1}),
        );
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": 1}));
    }

    #[test]
    fn switching_transfer_policy_drops_the_country_list() {
        let doc = validate(
            ResourceKind::Dataset,
            map(
                json!({"title": "t", "transfer_policy": "in_country", "allowed_countries": ["KE"]}),
            ),
            "NG",
        )
        .unwrap();
        let Details::Dataset(d) = doc.details else {
            panic!()
        };
        assert!(d.allowed_countries.is_empty());
        assert_eq!(d.origin_country.as_deref(), Some("NG"));
    }

    fn gaps(kind: ResourceKind, body: Value) -> Vec<String> {
        let doc = validate(kind, map(body), "KE").unwrap();
        publication_gaps(&doc, 0)
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn the_gate_per_kind() {
        let base = json!({"title": "t", "summary": "s", "license": "MIT", "languages": ["sw"]});
        let with = |extra: Value| {
            let mut v = base.clone();
            merge_patch(&mut v, extra);
            v
        };
        assert_eq!(
            gaps(ResourceKind::Course, json!({"title": "t"})),
            vec!["summary", "license", "languages", "modules"]
        );
        let course = validate(ResourceKind::Course, map(base.clone()), "KE").unwrap();
        assert!(publication_gaps(&course, 1).is_empty());
        let sheet = json!({"datasheet": {"motivation": "m", "composition": "c", "collection_process": "p", "uses": "u"}});
        assert_eq!(
            gaps(ResourceKind::Dataset, base.clone()),
            vec![
                "datasheet.motivation",
                "datasheet.composition",
                "datasheet.collection_process",
                "datasheet.uses"
            ]
        );
        assert!(gaps(ResourceKind::Dataset, with(sheet.clone())).is_empty());
        let mut personal = with(sheet);
        merge_patch(
            &mut personal,
            json!({"contains_personal_data": true, "access_level": "open"}),
        );
        assert_eq!(
            gaps(ResourceKind::Dataset, personal),
            vec![
                "datasheet.preprocessing",
                "datasheet.biases_and_limitations",
                "access_level"
            ]
        );
        let uses = json!({"intended_uses": "i", "out_of_scope_uses": "o"});
        let mut minimal = with(uses.clone());
        merge_patch(&mut minimal, json!({"risk_tier": "minimal"}));
        assert!(gaps(ResourceKind::ModelCard, minimal).is_empty());
        let mut limited = with(uses.clone());
        merge_patch(&mut limited, json!({"risk_tier": "limited"}));
        assert_eq!(
            gaps(ResourceKind::ModelCard, limited),
            vec!["evaluation_data", "results", "caveats"]
        );
        let mut high = with(uses.clone());
        merge_patch(
            &mut high,
            json!({"risk_tier": "high", "evaluation_data": "e", "caveats": "c",
                   "results": [{"task": "asr", "metric": "wer", "value": 0.2, "slice": "women"}]}),
        );
        assert_eq!(
            gaps(ResourceKind::ModelCard, high),
            vec!["factors", "ethical_considerations", "results"]
        );
        let mut banned = with(uses);
        merge_patch(&mut banned, json!({"risk_tier": "unacceptable"}));
        assert!(gaps(ResourceKind::ModelCard, banned).contains(&"risk_tier".to_string()));
    }

    #[test]
    fn terms_include_primary_language() {
        let doc = validate(
            ResourceKind::Course,
            map(json!({"title": "t", "languages": ["sw-KE", "en"], "tags": ["NLP", "nlp"], "countries": ["ke"]})),
            "KE",
        )
        .unwrap();
        assert_eq!(doc.core.tags, vec!["NLP"]);
        assert_eq!(
            terms(&doc),
            vec![
                ("language", "sw".to_string()),
                ("language", "sw-ke".to_string()),
                ("language", "en".to_string()),
                ("country", "ke".to_string()),
                ("tag", "nlp".to_string()),
            ]
        );
    }
}
