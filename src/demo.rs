//! `kujenga seed-demo`: a realistic catalogue to build frontends against and
//! to benchmark — verified demo institutions (slugs `demo-…`, no members)
//! and published courses, datasets and model cards.
//!
//! Every resource is written as the JSON document a client would send,
//! validated by `domain::resource::validate`, and stored by the
//! application's bulk import (`app::resources::import`, several rows to a
//! statement), which checks the publication gate and the typed links and
//! writes the same rows, search terms and relations the API writes, with a
//! `resource.imported` event each. Only the timestamps are invented:
//! publication dates spread over the last two years, oldest first, so links
//! point at older resources. The generator has a fixed seed: the same
//! options give the same catalogue (not the same ids).

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{bail, ensure};
use chrono::{Datelike, Duration, NaiveDateTime};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::app::resources::{self as resources, Import};
use crate::db::audit::Context;
use crate::db::institutions::{self as institutions_store, InstitutionRow};
use crate::db::learning::ModuleRow;
use crate::db::resources::FileRow;
use crate::db::{self, DbConnection, write_transaction};
use crate::domain::resource::{self as doc, Document, Relation, ResourceKind, Visibility};

/// Every demo institution's slug starts with this.
pub const SLUG_PREFIX: &str = "demo-";
/// Resources written per transaction.
pub const BATCH: usize = 2_000;
const SEED: u64 = 0x006b_756a_656e_6761; // "kujenga"
/// How far back publication dates go.
const SPAN_DAYS: i64 = 730;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub resources: usize,
    pub institutions: usize,
}

/// The database already holds a demo institution this run would create.
#[derive(Debug, thiserror::Error)]
#[error(
    "demo data is already here (institution `{slug}` exists); seed-demo only fills a database \
     without it: point --data-dir or DATABASE_URL at a fresh one"
)]
pub struct AlreadySeeded {
    pub slug: String,
}

/// What a run wrote.
#[derive(Debug, Default)]
pub struct Summary {
    pub institutions: usize,
    pub courses: usize,
    pub datasets: usize,
    pub model_cards: usize,
    /// By visibility: public, registered, institution, partnership.
    pub visibility: [usize; 4],
    pub files: usize,
    pub relations: usize,
    pub seconds: f64,
    /// A public dataset with files and incoming links (what a benchmark reads).
    pub example_dataset: Option<String>,
    pub example_course: Option<String>,
    pub example_model_card: Option<String>,
}

impl Summary {
    pub fn resources(&self) -> usize {
        self.courses + self.datasets + self.model_cards
    }
}

// ----- the world the demo is made of ----------------------------------------

#[derive(Debug)]
struct Place {
    name: &'static str,
    slug: &'static str,
    kind: &'static str,
    country: &'static str,
    country_name: &'static str,
    city: &'static str,
    /// BCP 47 tags, the most used first.
    languages: &'static [&'static str],
    /// Countries its resources also target.
    neighbours: &'static [&'static str],
}

const PLACES: &[Place] = &[
    Place {
        name: "Nairobi AI Lab",
        slug: "nairobi-ai-lab",
        kind: "research_lab",
        country: "KE",
        country_name: "Kenya",
        city: "Nairobi",
        languages: &["sw-KE", "en", "sw"],
        neighbours: &["UG", "TZ", "RW", "ET"],
    },
    Place {
        name: "Makerere AI Research Group",
        slug: "makerere-ai",
        kind: "university",
        country: "UG",
        country_name: "Uganda",
        city: "Kampala",
        languages: &["en", "lg", "sw"],
        neighbours: &["KE", "TZ", "RW", "SS"],
    },
    Place {
        name: "Lagos Data Science Network",
        slug: "lagos-data-science",
        kind: "ngo",
        country: "NG",
        country_name: "Nigeria",
        city: "Lagos",
        languages: &["yo", "en", "ig", "ha"],
        neighbours: &["GH", "BJ", "CM"],
    },
    Place {
        name: "Kano Hausa Language Technologies",
        slug: "kano-hausa-lt",
        kind: "research_lab",
        country: "NG",
        country_name: "Nigeria",
        city: "Kano",
        languages: &["ha", "en"],
        neighbours: &["NE", "TD", "CM"],
    },
    Place {
        name: "Centre IA de Dakar",
        slug: "centre-ia-dakar",
        kind: "university",
        country: "SN",
        country_name: "Senegal",
        city: "Dakar",
        languages: &["fr", "wo", "fr-SN"],
        neighbours: &["ML", "GM", "GN", "MR"],
    },
    Place {
        name: "Kigali Institute for Machine Learning",
        slug: "kigali-ml",
        kind: "research_lab",
        country: "RW",
        country_name: "Rwanda",
        city: "Kigali",
        languages: &["rw", "en", "fr"],
        neighbours: &["BI", "UG", "CD", "TZ"],
    },
    Place {
        name: "Addis Ababa NLP Group",
        slug: "addis-nlp",
        kind: "university",
        country: "ET",
        country_name: "Ethiopia",
        city: "Addis Ababa",
        languages: &["am", "om", "ti", "en"],
        neighbours: &["ER", "KE", "SO", "DJ"],
    },
    Place {
        name: "Accra Health Data Collaborative",
        slug: "accra-health-data",
        kind: "ngo",
        country: "GH",
        country_name: "Ghana",
        city: "Accra",
        languages: &["en", "ak", "ee"],
        neighbours: &["TG", "CI", "BF", "NG"],
    },
    Place {
        name: "Tanzania Digital Services Agency",
        slug: "tz-digital-services",
        kind: "government",
        country: "TZ",
        country_name: "Tanzania",
        city: "Dodoma",
        languages: &["sw", "en"],
        neighbours: &["KE", "UG", "MZ", "MW"],
    },
    Place {
        name: "Cairo Arabic Language Technologies",
        slug: "cairo-arabic-lt",
        kind: "company",
        country: "EG",
        country_name: "Egypt",
        city: "Cairo",
        languages: &["ar", "ar-EG", "en"],
        neighbours: &["SD", "LY", "JO"],
    },
    Place {
        name: "Maputo Open Data Initiative",
        slug: "maputo-open-data",
        kind: "ngo",
        country: "MZ",
        country_name: "Mozambique",
        city: "Maputo",
        languages: &["pt", "pt-MZ", "ts"],
        neighbours: &["ZA", "MW", "ZW", "TZ"],
    },
    Place {
        name: "Tunis Centre for Responsible AI",
        slug: "tunis-responsible-ai",
        kind: "research_lab",
        country: "TN",
        country_name: "Tunisia",
        city: "Tunis",
        languages: &["ar", "fr"],
        neighbours: &["DZ", "LY", "MA"],
    },
    Place {
        name: "Kinshasa Climate Observatory",
        slug: "kinshasa-climate",
        kind: "government",
        country: "CD",
        country_name: "DR Congo",
        city: "Kinshasa",
        languages: &["fr", "ln", "sw"],
        neighbours: &["CG", "AO", "CF", "RW"],
    },
    Place {
        name: "Luanda Polytechnic Data Lab",
        slug: "luanda-data-lab",
        kind: "university",
        country: "AO",
        country_name: "Angola",
        city: "Luanda",
        languages: &["pt"],
        neighbours: &["NA", "CD", "ZM"],
    },
    Place {
        name: "Johannesburg Open AI Commons",
        slug: "joburg-ai-commons",
        kind: "ngo",
        country: "ZA",
        country_name: "South Africa",
        city: "Johannesburg",
        languages: &["en", "zu", "xh", "af"],
        neighbours: &["BW", "ZW", "LS", "NA"],
    },
    Place {
        name: "Dhaka Bangla NLP Lab",
        slug: "dhaka-bangla-nlp",
        kind: "university",
        country: "BD",
        country_name: "Bangladesh",
        city: "Dhaka",
        languages: &["bn", "en"],
        neighbours: &["IN", "NP", "MM"],
    },
    Place {
        name: "Kathmandu Open Knowledge Lab",
        slug: "kathmandu-open-knowledge",
        kind: "ngo",
        country: "NP",
        country_name: "Nepal",
        city: "Kathmandu",
        languages: &["ne", "en"],
        neighbours: &["IN", "BD", "BT"],
    },
    Place {
        name: "Andean Languages Institute",
        slug: "andean-languages",
        kind: "research_lab",
        country: "PE",
        country_name: "Peru",
        city: "Cusco",
        languages: &["es", "qu", "ay"],
        neighbours: &["BO", "EC", "CO"],
    },
    Place {
        name: "Manila Public Health Informatics Unit",
        slug: "manila-health-informatics",
        kind: "government",
        country: "PH",
        country_name: "the Philippines",
        city: "Manila",
        languages: &["fil", "en", "ceb"],
        neighbours: &["ID", "VN", "MY"],
    },
    Place {
        name: "Recife Open Source AI Hub",
        slug: "recife-ai-hub",
        kind: "company",
        country: "BR",
        country_name: "Brazil",
        city: "Recife",
        languages: &["pt-BR", "pt", "es"],
        neighbours: &["AR", "PY", "UY", "BO"],
    },
];

fn language_name(tag: &str) -> &'static str {
    match tag.split('-').next().unwrap_or(tag) {
        "sw" => "Kiswahili",
        "en" => "English",
        "lg" => "Luganda",
        "yo" => "Yorùbá",
        "ig" => "Igbo",
        "ha" => "Hausa",
        "fr" => "French",
        "wo" => "Wolof",
        "rw" => "Kinyarwanda",
        "am" => "Amharic",
        "om" => "Afaan Oromoo",
        "ti" => "Tigrinya",
        "ak" => "Akan",
        "ee" => "Ewe",
        "ar" => "Arabic",
        "pt" => "Portuguese",
        "ts" => "Xitsonga",
        "ln" => "Lingala",
        "zu" => "isiZulu",
        "xh" => "isiXhosa",
        "af" => "Afrikaans",
        "bn" => "Bangla",
        "ne" => "Nepali",
        "es" => "Spanish",
        "qu" => "Quechua",
        "ay" => "Aymara",
        "fil" => "Filipino",
        "ceb" => "Cebuano",
        _ => "local languages",
    }
}

#[derive(Debug)]
struct Topic {
    name: &'static str,
    tags: &'static [&'static str],
    /// What a record is, in a sentence.
    data: &'static str,
    /// A dataset title's noun.
    corpus: &'static str,
    unit: &'static str,
    formats: &'static [&'static str],
    /// `(file name, media type)` of a release.
    files: &'static [(&'static str, &'static str)],
    task: &'static str,
    model_type: &'static str,
    architectures: &'static [&'static str],
    base_models: &'static [&'static str],
    metric: &'static str,
    metric_range: (f64, f64),
    /// How likely a dataset of this topic holds personal data.
    personal: f64,
    /// Uses the EU AI Act counts as high-risk (health, credit, education).
    high_risk: bool,
    audiences: &'static [&'static str],
    /// Subgroups results are reported on.
    slices: &'static [&'static str],
}

const TOPICS: &[Topic] = &[
    Topic {
        name: "speech recognition",
        tags: &["speech", "asr", "low-resource"],
        data: "transcribed speech recordings",
        corpus: "speech corpus",
        unit: "utterances",
        formats: &["FLAC", "TSV"],
        files: &[
            ("train.tar.gz", "application/gzip"),
            ("test.tar.gz", "application/gzip"),
            ("transcripts.tsv", "text/tab-separated-values"),
        ],
        task: "automatic speech recognition",
        model_type: "speech-to-text model",
        architectures: &["Conformer-CTC", "wav2vec 2.0", "Whisper encoder-decoder"],
        base_models: &[
            "facebook/wav2vec2-xls-r-300m",
            "openai/whisper-small",
            "facebook/mms-1b-all",
        ],
        metric: "word error rate",
        metric_range: (0.12, 0.45),
        personal: 0.3,
        high_risk: false,
        audiences: &[
            "software developers",
            "linguists",
            "community radio stations",
        ],
        slices: &[
            "women",
            "men",
            "speakers over 60",
            "rural speakers",
            "urban speakers",
        ],
    },
    Topic {
        name: "machine translation",
        tags: &["translation", "nlp"],
        data: "sentence pairs aligned with English",
        corpus: "parallel corpus",
        unit: "sentence pairs",
        formats: &["TSV", "JSONL"],
        files: &[
            ("parallel.tsv", "text/tab-separated-values"),
            ("dev.jsonl", "application/jsonl"),
        ],
        task: "machine translation",
        model_type: "translation model",
        architectures: &["Transformer encoder-decoder", "mT5"],
        base_models: &[
            "facebook/nllb-200-distilled-600M",
            "google/mt5-base",
            "Helsinki-NLP/opus-mt-mul-en",
        ],
        metric: "chrF++",
        metric_range: (28.0, 62.0),
        personal: 0.0,
        high_risk: false,
        audiences: &["translators", "journalists", "health communicators"],
        slices: &[
            "news",
            "health leaflets",
            "government notices",
            "social media",
        ],
    },
    Topic {
        name: "named entity recognition",
        tags: &["ner", "nlp", "information-extraction"],
        data: "news sentences annotated with people, places and organisations",
        corpus: "NER corpus",
        unit: "sentences",
        formats: &["CoNLL", "JSONL"],
        files: &[("train.conll", "text/plain"), ("test.conll", "text/plain")],
        task: "named entity recognition",
        model_type: "token classifier",
        architectures: &["XLM-RoBERTa", "AfroXLMR"],
        base_models: &[
            "xlm-roberta-base",
            "Davlan/afro-xlmr-large",
            "castorini/afriberta_large",
        ],
        metric: "entity F1",
        metric_range: (0.62, 0.91),
        personal: 0.1,
        high_risk: false,
        audiences: &["journalists", "archivists", "software developers"],
        slices: &["news", "government notices", "social media"],
    },
    Topic {
        name: "sentiment analysis",
        tags: &["sentiment", "nlp", "social-media"],
        data: "social media posts labelled positive, negative or neutral",
        corpus: "sentiment corpus",
        unit: "posts",
        formats: &["CSV", "JSONL"],
        files: &[("posts.csv", "text/csv")],
        task: "sentiment classification",
        model_type: "text classifier",
        architectures: &["AfriBERTa", "DistilBERT"],
        base_models: &["castorini/afriberta_base", "bert-base-multilingual-cased"],
        metric: "macro F1",
        metric_range: (0.55, 0.82),
        personal: 0.4,
        high_risk: false,
        audiences: &[
            "public communicators",
            "researchers",
            "civil society groups",
        ],
        slices: &[
            "code-switched posts",
            "monolingual posts",
            "short posts",
            "long posts",
        ],
    },
    Topic {
        name: "crop disease detection",
        tags: &["agriculture", "computer-vision", "food-security"],
        data: "smartphone photographs of cassava, maize and bean leaves",
        corpus: "crop disease images",
        unit: "images",
        formats: &["JPEG", "CSV"],
        files: &[
            ("images.zip", "application/zip"),
            ("labels.csv", "text/csv"),
        ],
        task: "image classification",
        model_type: "image classifier",
        architectures: &["EfficientNet-B0", "MobileNetV3", "ViT-Small"],
        base_models: &[
            "google/efficientnet-b0",
            "google/mobilenet_v2_1.0_224",
            "timm/vit_small_patch16_224",
        ],
        metric: "accuracy",
        metric_range: (0.78, 0.97),
        personal: 0.0,
        high_risk: false,
        audiences: &["agronomists", "extension officers", "farmers' cooperatives"],
        slices: &["cassava", "maize", "beans", "rainy season", "dry season"],
    },
    Topic {
        name: "malaria microscopy",
        tags: &["health", "computer-vision", "microscopy"],
        data: "thick and thin blood smear images annotated by microscopists",
        corpus: "malaria smear images",
        unit: "images",
        formats: &["PNG", "JSON"],
        files: &[
            ("smears.zip", "application/zip"),
            ("annotations.json", "application/json"),
        ],
        task: "parasite detection",
        model_type: "object detector",
        architectures: &["YOLOv8", "Faster R-CNN"],
        base_models: &["ultralytics/yolov8n", "facebook/detr-resnet-50"],
        metric: "sensitivity",
        metric_range: (0.82, 0.97),
        personal: 0.5,
        high_risk: true,
        audiences: &[
            "laboratory technicians",
            "public health officers",
            "clinicians",
        ],
        slices: &["children under 5", "adults", "P. falciparum", "P. vivax"],
    },
    Topic {
        name: "maternal health risk prediction",
        tags: &["health", "maternal-health", "tabular"],
        data: "anonymised antenatal visit records",
        corpus: "antenatal records",
        unit: "visits",
        formats: &["CSV", "Parquet"],
        files: &[("visits.parquet", "application/vnd.apache.parquet")],
        task: "risk prediction",
        model_type: "tabular classifier",
        architectures: &["gradient-boosted trees", "logistic regression"],
        base_models: &[],
        metric: "AUROC",
        metric_range: (0.70, 0.90),
        personal: 0.9,
        high_risk: true,
        audiences: &[
            "midwives",
            "district health managers",
            "public health officers",
        ],
        slices: &[
            "women under 20",
            "women over 35",
            "rural clinics",
            "urban hospitals",
        ],
    },
    Topic {
        name: "flood forecasting",
        tags: &["climate", "hydrology", "time-series"],
        data: "daily river gauge and rainfall readings",
        corpus: "river gauge series",
        unit: "readings",
        formats: &["CSV", "NetCDF"],
        files: &[
            ("gauges.csv", "text/csv"),
            ("rainfall.nc", "application/x-netcdf"),
        ],
        task: "flood forecasting",
        model_type: "time-series forecaster",
        architectures: &["LSTM", "Temporal Fusion Transformer"],
        base_models: &[],
        metric: "Nash–Sutcliffe efficiency",
        metric_range: (0.45, 0.90),
        personal: 0.0,
        high_risk: false,
        audiences: &[
            "disaster management officers",
            "hydrologists",
            "local governments",
        ],
        slices: &[
            "upstream basins",
            "downstream basins",
            "wet season",
            "dry season",
        ],
    },
    Topic {
        name: "land cover mapping",
        tags: &["remote-sensing", "climate", "computer-vision"],
        data: "labelled Sentinel-2 image tiles",
        corpus: "land cover tiles",
        unit: "tiles",
        formats: &["GeoTIFF", "GeoJSON"],
        files: &[
            ("tiles.zip", "application/zip"),
            ("labels.geojson", "application/geo+json"),
        ],
        task: "semantic segmentation",
        model_type: "image segmenter",
        architectures: &["U-Net", "SegFormer"],
        base_models: &[
            "ibm-nasa-geospatial/Prithvi-EO-1.0-100M",
            "nvidia/segformer-b0-finetuned-ade-512-512",
        ],
        metric: "mean IoU",
        metric_range: (0.48, 0.81),
        personal: 0.0,
        high_risk: false,
        audiences: &["urban planners", "conservationists", "GIS analysts"],
        slices: &["forest", "cropland", "settlements", "wetlands"],
    },
    Topic {
        name: "credit scoring",
        tags: &["finance", "fairness", "tabular"],
        data: "mobile-money loan repayment records",
        corpus: "loan repayment records",
        unit: "loans",
        formats: &["CSV", "Parquet"],
        files: &[("loans.parquet", "application/vnd.apache.parquet")],
        task: "credit risk scoring",
        model_type: "tabular classifier",
        architectures: &["gradient-boosted trees", "logistic regression"],
        base_models: &[],
        metric: "AUROC",
        metric_range: (0.68, 0.86),
        personal: 1.0,
        high_risk: true,
        audiences: &["microfinance analysts", "regulators", "data scientists"],
        slices: &["women", "men", "rural borrowers", "first-time borrowers"],
    },
    Topic {
        name: "misinformation detection",
        tags: &["nlp", "media", "fact-checking"],
        data: "claims checked by fact-checkers, with their verdicts",
        corpus: "fact-checked claims",
        unit: "claims",
        formats: &["JSONL"],
        files: &[("claims.jsonl", "application/jsonl")],
        task: "claim classification",
        model_type: "text classifier",
        architectures: &["XLM-RoBERTa", "mDeBERTa"],
        base_models: &["xlm-roberta-large", "microsoft/mdeberta-v3-base"],
        metric: "macro F1",
        metric_range: (0.50, 0.78),
        personal: 0.2,
        high_risk: false,
        audiences: &["journalists", "fact-checkers", "election observers"],
        slices: &[
            "health claims",
            "political claims",
            "local languages",
            "English",
        ],
    },
    Topic {
        name: "air quality estimation",
        tags: &["environment", "sensors", "time-series"],
        data: "hourly PM2.5 readings from low-cost sensors",
        corpus: "air quality readings",
        unit: "readings",
        formats: &["CSV", "Parquet"],
        files: &[
            ("readings.csv", "text/csv"),
            ("sites.geojson", "application/geo+json"),
        ],
        task: "air quality estimation",
        model_type: "regression model",
        architectures: &["random forest", "gradient-boosted trees", "LSTM"],
        base_models: &[],
        metric: "RMSE (µg/m³)",
        metric_range: (4.0, 18.0),
        personal: 0.0,
        high_risk: false,
        audiences: &[
            "city environment officers",
            "science teachers",
            "citizen scientists",
        ],
        slices: &[
            "dry season",
            "rainy season",
            "roadside sites",
            "residential sites",
        ],
    },
    Topic {
        name: "student dropout prediction",
        tags: &["education", "fairness", "tabular"],
        data: "anonymised school attendance and assessment records",
        corpus: "school records",
        unit: "students",
        formats: &["CSV"],
        files: &[("students.csv", "text/csv")],
        task: "dropout risk prediction",
        model_type: "tabular classifier",
        architectures: &["gradient-boosted trees", "logistic regression"],
        base_models: &[],
        metric: "AUROC",
        metric_range: (0.70, 0.88),
        personal: 1.0,
        high_risk: true,
        audiences: &["head teachers", "education officers", "NGO programme staff"],
        slices: &["girls", "boys", "rural schools", "urban schools"],
    },
    Topic {
        name: "text-to-speech",
        tags: &["speech", "tts", "accessibility"],
        data: "studio recordings of read sentences, with transcripts",
        corpus: "TTS corpus",
        unit: "utterances",
        formats: &["WAV", "TSV"],
        files: &[
            ("wavs.tar.gz", "application/gzip"),
            ("metadata.tsv", "text/tab-separated-values"),
        ],
        task: "speech synthesis",
        model_type: "text-to-speech model",
        architectures: &["VITS", "FastSpeech 2"],
        base_models: &["facebook/mms-tts", "coqui/XTTS-v2"],
        metric: "mean opinion score",
        metric_range: (3.1, 4.5),
        personal: 0.6,
        high_risk: false,
        audiences: &["accessibility advocates", "teachers", "software developers"],
        slices: &[
            "female voice",
            "male voice",
            "long sentences",
            "numbers and dates",
        ],
    },
    Topic {
        name: "handwriting recognition",
        tags: &["ocr", "computer-vision", "heritage"],
        data: "scanned manuscript pages with line transcriptions",
        corpus: "manuscript pages",
        unit: "pages",
        formats: &["TIFF", "PAGE XML"],
        files: &[
            ("pages.zip", "application/zip"),
            ("transcriptions.xml", "application/xml"),
        ],
        task: "optical character recognition",
        model_type: "handwriting recogniser",
        architectures: &["TrOCR", "CRNN"],
        base_models: &["microsoft/trocr-base-handwritten"],
        metric: "character error rate",
        metric_range: (0.03, 0.20),
        personal: 0.0,
        high_risk: false,
        audiences: &["archivists", "librarians", "historians"],
        slices: &[
            "printed pages",
            "handwritten pages",
            "Ajami script",
            "Latin script",
        ],
    },
];

const COURSE_LICENSES: &[&str] = &["CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-SA-4.0", "CC0-1.0"];
const DATASET_LICENSES: &[&str] = &[
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "ODbL-1.0",
    "CDLA-Permissive-2.0",
    "CC-BY-NC-4.0",
];
const MODEL_LICENSES: &[&str] = &["Apache-2.0", "MIT", "CC-BY-4.0", "BSD-3-Clause"];
const EXTRA_TAGS: &[&str] = &[
    "capacity-building",
    "open-science",
    "low-resource",
    "africa",
    "community",
    "beginner-friendly",
    "reproducible",
];

// ----- random choices -----------------------------------------------------------

struct Dice(StdRng);

impl Dice {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.random_range(0..items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.0.random_bool(p.clamp(0.0, 1.0))
    }

    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        self.0.random_range(lo..=hi)
    }

    fn real(&mut self, lo: f64, hi: f64) -> f64 {
        self.0.random_range(lo..hi)
    }

    /// Roughly log-uniform between `lo` and `hi`.
    fn size(&mut self, lo: i64, hi: i64) -> i64 {
        let v = ((lo as f64).ln() + self.0.random::<f64>() * ((hi as f64).ln() - (lo as f64).ln()))
            .exp() as i64;
        v.clamp(lo, hi)
    }

    /// `lo..=hi` distinct items, in a random order.
    fn some<T: Copy>(&mut self, items: &[T], lo: usize, hi: usize) -> Vec<T> {
        let mut all: Vec<T> = items.to_vec();
        all.shuffle(&mut self.0);
        let n = self.0.random_range(lo..=hi.max(lo)).min(all.len());
        all.truncate(n);
        all
    }

    fn hex(&mut self, bytes: usize) -> String {
        (0..bytes)
            .map(|_| format!("{:02x}", self.0.random::<u8>()))
            .collect()
    }
}

/// Two sentences in the first of `langs` that has them (none for English),
/// naming `places` (villages, districts) and the city.
fn local_paragraph(langs: &[String], places: &[String], city: &str) -> Option<String> {
    let where_ = format!(
        "{} ({city})",
        list_words(&places.iter().map(String::as_str).collect::<Vec<_>>())
    );
    langs.iter().find_map(|l| {
        let primary = l.split('-').next().unwrap_or(l);
        let text = match primary {
            "sw" => format!(
                "Data hizi zilikusanywa {where_} kwa ajili ya utafiti na mafunzo. \
                 Lengo ni kusaidia jamii, wakulima, wauguzi na wanafunzi kutumia akili bandia kwa manufaa yao."
            ),
            "fr" => format!(
                "Ces données ont été recueillies à {where_} pour la recherche et la formation. \
                 L'objectif est d'aider les communautés, les agriculteurs, les infirmières et les étudiants \
                 à utiliser l'intelligence artificielle à leur profit."
            ),
            "pt" => format!(
                "Estes dados foram recolhidos em {where_} para investigação e formação. \
                 O objetivo é apoiar comunidades, agricultores, enfermeiros e estudantes no uso da \
                 inteligência artificial em seu benefício."
            ),
            "es" => format!(
                "Estos datos se recogieron en {where_} para la investigación y la formación. \
                 El objetivo es apoyar a comunidades, agricultores, enfermeras y estudiantes en el uso \
                 de la inteligencia artificial."
            ),
            "ar" => format!(
                "جُمعت هذه البيانات في {where_} لأغراض البحث والتدريب. \
                 الهدف هو مساعدة المجتمعات والمزارعين والممرضين والطلاب على استخدام الذكاء الاصطناعي لصالحهم."
            ),
            "am" => format!(
                "ይህ መረጃ በ{where_} ለምርምር እና ለስልጠና ተሰብስቧል። \
                 ዓላማው ማህበረሰቦችን፣ ገበሬዎችን፣ ነርሶችን እና ተማሪዎችን ሰው ሰራሽ አስተውሎትን እንዲጠቀሙ መርዳት ነው።"
            ),
            "ha" => format!(
                "An tattara wannan bayanai a {where_} don bincike da horo. \
                 Manufar ita ce taimaka wa al'umma, manoma, ma'aikatan jinya da ɗalibai su yi amfani da basirar wucin gadi."
            ),
            "yo" => format!(
                "A gba àwọn dátà wọ̀nyí ní {where_} fún ìwádìí àti ìkẹ́kọ̀ọ́. \
                 Àfojúsùn ni láti ran àwùjọ, àwọn àgbẹ̀, nọ́ọ̀sì àti akẹ́kọ̀ọ́ lọ́wọ́ láti lo ọgbọ́n àtọwọ́dá."
            ),
            "qu" => format!(
                "Kay willakuykunataqa {where_} llaqtakunapi pallakurqan, yachay maskanapaq. \
                 Ayllukunata, chakra llamkaqkunata, hampiqkunata, yachaqkunatapas yanapanapaqmi."
            ),
            "rw" => format!(
                "Aya makuru yakusanyirijwe {where_} hagamijwe ubushakashatsi n'amahugurwa. \
                 Intego ni gufasha abaturage, abahinzi, abaforomo n'abanyeshuri gukoresha ubwenge bw'ubukorano."
            ),
            _ => return None,
        };
        Some(text)
    })
}

/// Syllables of invented place names: the long tail of a real catalogue's
/// vocabulary (names that occur in a handful of resources).
const SYLLABLES: &[&str] = &[
    "ka", "ki", "ko", "ku", "ma", "mi", "mo", "mu", "na", "ni", "nyu", "nga", "ba", "bwe", "bo",
    "da", "di", "ga", "gi", "ha", "la", "li", "lu", "sa", "si", "so", "ta", "te", "tu", "wa", "ya",
    "za", "zi", "ru", "ro", "pa", "pi", "che", "sha", "mba", "ndu", "nzi", "fa", "jo",
];

impl Dice {
    /// An invented place name of two to four syllables.
    fn place_name(&mut self) -> String {
        let n = self.int(2, 4);
        let name: String = (0..n).map(|_| *self.pick(SYLLABLES)).collect();
        capitalise(&name)
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `a` or `an`, then the word.
fn a(word: &str) -> String {
    let article = match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    };
    format!("{article} {word}")
}

/// `1,343,719`.
fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn list_words(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// A UUIDv7 carrying `at` (so ids sort like the catalogue's dates).
fn id_at(at: NaiveDateTime) -> String {
    let t = at.and_utc();
    let secs = u64::try_from(t.timestamp()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, t.timestamp_subsec_nanos());
    uuid::Uuid::new_v7(ts).to_string()
}

// ----- one resource ------------------------------------------------------------

/// A demo institution, as stored.
#[derive(Debug)]
struct Owner {
    id: String,
    name: String,
    domain: String,
    place: &'static Place,
}

/// A published resource others may link to.
#[derive(Debug, Clone)]
struct Target {
    id: String,
    title: String,
    topic: usize,
}

/// What earlier resources left to link to (public ones, so that anonymous
/// readers see the links too).
#[derive(Debug, Default)]
struct Graph {
    datasets: Vec<Target>,
    datasets_by_topic: HashMap<usize, Vec<usize>>,
    model_cards: Vec<Target>,
    courses: Vec<Target>,
    incoming: HashMap<String, usize>,
}

impl Graph {
    /// A dataset, preferably on `topic`.
    fn dataset(&self, dice: &mut Dice, topic: usize) -> Option<Target> {
        match self.datasets_by_topic.get(&topic) {
            Some(same) if !same.is_empty() && dice.chance(0.85) => {
                self.datasets.get(*dice.pick(same)).cloned()
            }
            _ if !self.datasets.is_empty() => Some(dice.pick(&self.datasets).clone()),
            _ => None,
        }
    }

    fn any(list: &[Target], dice: &mut Dice) -> Option<Target> {
        (!list.is_empty()).then(|| dice.pick(list).clone())
    }
}

/// Typed links: relation, the target's kind, the target's id.
type Links = Vec<(Relation, ResourceKind, String)>;

/// A resource ready to store.
struct Built {
    kind: ResourceKind,
    doc: Document,
    topic: usize,
    files: Vec<(String, String, String, i64)>,
    /// A course's modules: title, content, minutes, download bytes, required.
    modules: Vec<(String, String, i32, i64, bool)>,
}

/// What a demo course's modules are about, in order.
const MODULE_STEPS: &[&str] = &[
    "Why it matters here",
    "Getting and cleaning the data",
    "A first model",
    "Evaluating honestly",
    "Working in low-resource settings",
    "Deploying on modest hardware",
    "Risks, bias and the people affected",
    "Project: put it together",
];

struct Writer {
    dice: Dice,
    graph: Graph,
}

impl Writer {
    /// The institution's main language, perhaps with others (no repeats).
    fn languages(&mut self, place: &Place) -> Vec<String> {
        let mut langs = vec![place.languages[0].to_string()];
        let mut extra = self.dice.some(place.languages, 0, 2);
        if self.dice.chance(0.15) {
            extra.push("en");
        }
        for l in extra {
            if !langs.iter().any(|have| have == l) {
                langs.push(l.to_string());
            }
        }
        langs
    }

    fn countries(&mut self, place: &Place) -> Vec<String> {
        let mut out = vec![place.country.to_string()];
        out.extend(
            self.dice
                .some(place.neighbours, 0, 3)
                .into_iter()
                .map(str::to_string),
        );
        out
    }

    fn tags(&mut self, topic: &Topic, langs: &[String]) -> Vec<String> {
        let mut tags: Vec<String> = self
            .dice
            .some(topic.tags, 1, topic.tags.len())
            .into_iter()
            .map(str::to_string)
            .collect();
        for t in self.dice.some(EXTRA_TAGS, 0, 2) {
            tags.push(t.to_string());
        }
        if self.dice.chance(0.5) {
            tags.push(language_name(&langs[0]).to_lowercase());
        }
        tags
    }

    fn visibility(&mut self) -> Visibility {
        let r = self.dice.real(0.0, 1.0);
        if r < 0.80 {
            Visibility::Public
        } else if r < 0.90 {
            Visibility::Registered
        } else if r < 0.97 {
            Visibility::Institution
        } else {
            Visibility::Partnership
        }
    }

    fn build(&mut self, owner: &Owner, year: i32) -> anyhow::Result<Built> {
        let r = self.dice.real(0.0, 1.0);
        let kind = if r < 0.40 {
            ResourceKind::Course
        } else if r < 0.75 {
            ResourceKind::Dataset
        } else {
            ResourceKind::ModelCard
        };
        let topic_ix = self.dice.0.random_range(0..TOPICS.len());
        let topic = &TOPICS[topic_ix];
        let place = owner.place;
        let langs = self.languages(place);
        let mut names: Vec<&str> = Vec::new();
        for l in &langs {
            let name = language_name(l);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let lang = names[0];
        let countries = self.countries(place);
        let tags = self.tags(topic, &langs);
        let audience = *self.dice.pick(topic.audiences);
        let mut files = Vec::new();
        let (map, related) = match kind {
            ResourceKind::Course => self.course(owner, topic, topic_ix, &names, audience, year),
            ResourceKind::Dataset => {
                let (map, related, f) =
                    self.dataset(owner, topic, topic_ix, &names, audience, year);
                files = f;
                (map, related)
            }
            ResourceKind::ModelCard => self.model_card(owner, topic, topic_ix, &names, audience),
        };
        // The core fields; the kind's builder wrote title, summary and description.
        let license = *self.dice.pick(match kind {
            ResourceKind::Course => COURSE_LICENSES,
            ResourceKind::Dataset => DATASET_LICENSES,
            ResourceKind::ModelCard => MODEL_LICENSES,
        });
        let visibility = self.visibility();
        let mut body = map;
        // A paragraph in the resource's own language, naming the places
        // its data or learners come from: what makes search multilingual.
        if let Some(Value::String(description)) = body.get_mut("description") {
            let places: Vec<String> = (0..self.dice.int(1, 3))
                .map(|_| self.dice.place_name())
                .collect();
            if let Some(local) = local_paragraph(&langs, &places, place.city) {
                description.push_str("\n\n");
                description.push_str(&local);
            }
        }
        body.insert("license".into(), json!(license));
        body.insert("languages".into(), json!(langs));
        body.insert("countries".into(), json!(countries));
        body.insert("tags".into(), json!(tags));
        body.insert("visibility".into(), json!(visibility.as_str()));
        if !related.is_empty() {
            for (rel, target, _) in &related {
                ensure!(
                    rel.allows(kind, *target),
                    "`{}` cannot link a {} to a {}",
                    rel.as_str(),
                    kind.as_str(),
                    target.as_str()
                );
            }
            let links: Vec<Value> = related
                .iter()
                .map(|(rel, _, id)| json!({"relation": rel.as_str(), "resource_id": id}))
                .collect();
            body.insert("related".into(), Value::Array(links));
        }
        let d = match doc::validate(kind, body, place.country) {
            Ok(d) => d,
            Err(errors) => bail!(
                "generated an invalid {} `{lang}` document: {errors:?}",
                kind.as_str()
            ),
        };
        let mut modules = Vec::new();
        if kind == ResourceKind::Course {
            let n = usize::try_from(self.dice.int(3, 8)).unwrap_or(3);
            for (k, step) in MODULE_STEPS.iter().take(n).enumerate() {
                let optional = k + 1 < n && self.dice.chance(0.15);
                modules.push((
                    format!("{}. {step}", k + 1),
                    format!(
                        "## {step}\n\nThis module of *{}* works through {step} with examples from {}.",
                        d.core.title, place.country
                    ),
                    i32::try_from(self.dice.int(20, 120)).unwrap_or(30),
                    self.dice.size(200_000, 80_000_000),
                    !optional,
                ));
            }
        }
        let module_count = i64::try_from(modules.len()).unwrap_or(0);
        let gaps = doc::publication_gaps(&d, module_count);
        ensure!(
            gaps.is_empty(),
            "generated an incomplete {}: {gaps:?}",
            kind.as_str()
        );
        Ok(Built {
            kind,
            doc: d,
            topic: topic_ix,
            files,
            modules,
        })
    }

    fn course(
        &mut self,
        owner: &Owner,
        topic: &Topic,
        topic_ix: usize,
        langs: &[&str],
        audience: &str,
        year: i32,
    ) -> (Map<String, Value>, Links) {
        let place = owner.place;
        let lang = langs[0];
        let level = *self.dice.pick(&["beginner", "intermediate", "advanced"]);
        let delivery = *self.dice.pick(&["self_paced", "instructor_led", "blended"]);
        let t = topic.name;
        let mut title = match self.dice.int(0, 6) {
            0 => format!("Introduction to {t}"),
            1 => format!("{} for {audience}", capitalise(t)),
            2 => format!("Practical {t} with Python"),
            3 => format!("{} for {lang}", capitalise(t)),
            4 => format!("Responsible {t}: data, models and people"),
            5 => format!("{} in low-resource settings", capitalise(t)),
            _ => format!("From data to deployment: {t} in {}", place.country_name),
        };
        if self.dice.chance(0.5) {
            title.push_str(&format!(" ({year} cohort)"));
        }
        let modules = self.dice.int(3, 12);
        let hours = match delivery {
            "self_paced" => self.dice.int(2, 30),
            _ => self.dice.int(8, 80),
        };
        let summary = format!(
            "{} course on {t} for {audience} in {} and beyond, taught in {}: {modules} modules, about {hours} hours.",
            capitalise(&a(level)),
            place.country_name,
            list_words(langs)
        );
        let offline = self.dice.chance(0.6);
        let delivery_text = match delivery {
            "self_paced" => "Study at your own pace; every module ends with a short quiz",
            "instructor_led" => {
                "Weekly live sessions with an instructor, with exercises in between"
            }
            _ => "Self-paced modules with a live clinic every two weeks",
        };
        let description = format!(
            "## What you will learn\n\n\
             - How {t} systems work, and where they fail\n\
             - Collecting and documenting {} responsibly\n\
             - Training and evaluating {} with open tools\n\
             - Publishing your work with a datasheet or a model card\n\n\
             ## How it works\n\n\
             {delivery_text}. {modules} modules, about {hours} hours in total{}.\n\n\
             ## Who it is for\n\n\
             {} in {} who want to use {t} in their work. Taught in {} by {} ({}).",
            topic.data,
            a(topic.model_type),
            if offline {
                "; the whole course can be downloaded for offline study"
            } else {
                ""
            },
            capitalise(audience),
            place.country_name,
            list_words(langs),
            owner.name,
            place.city,
        );
        let mut m = Map::new();
        m.insert("title".into(), json!(title));
        m.insert("summary".into(), json!(summary));
        m.insert("description".into(), json!(description));
        m.insert("level".into(), json!(level));
        m.insert("delivery".into(), json!(delivery));
        let duration = if self.dice.chance(0.3) {
            json!(hours as f64 + 0.5)
        } else {
            json!(hours)
        };
        m.insert("duration_hours".into(), duration);
        m.insert(
            "prerequisites".into(),
            json!(match level {
                "beginner" => "None: basic computer skills are enough.".to_string(),
                "intermediate" =>
                    "Some Python, and an introductory statistics or machine learning course."
                        .to_string(),
                _ => format!(
                    "Comfortable with Python and PyTorch; you have trained {} before.",
                    a(topic.model_type)
                ),
            }),
        );
        if offline {
            m.insert(
                "offline_package_url".into(),
                json!(format!(
                    "https://downloads.{}/courses/{}-{}.zip",
                    owner.domain,
                    t.replace(' ', "-"),
                    self.dice.hex(4)
                )),
            );
            m.insert(
                "offline_package_bytes".into(),
                json!(self.dice.size(20_000_000, 900_000_000)),
            );
        }
        let mut related = Vec::new();
        if self.dice.chance(0.4)
            && let Some(d) = self.graph.dataset(&mut self.dice, topic_ix)
        {
            related.push((Relation::UsesDataset, ResourceKind::Dataset, d.id));
        }
        if self.dice.chance(0.25)
            && let Some(mc) = Graph::any(&self.graph.model_cards, &mut self.dice)
        {
            related.push((Relation::TeachesModel, ResourceKind::ModelCard, mc.id));
        }
        if self.dice.chance(0.05)
            && let Some(c) = Graph::any(&self.graph.courses, &mut self.dice)
        {
            related.push((Relation::DerivedFrom, ResourceKind::Course, c.id));
        }
        (m, related)
    }

    #[allow(clippy::type_complexity)]
    fn dataset(
        &mut self,
        owner: &Owner,
        topic: &Topic,
        topic_ix: usize,
        langs: &[&str],
        audience: &str,
        year: i32,
    ) -> (
        Map<String, Value>,
        Links,
        Vec<(String, String, String, i64)>,
    ) {
        let place = owner.place;
        let lang = langs[0];
        let major = self.dice.int(1, 3);
        let minor = self.dice.int(0, 9);
        let title = match self.dice.int(0, 3) {
            0 => format!("{lang} {}", topic.corpus),
            1 => format!("{} {} dataset", place.country_name, topic.name),
            2 => format!("{} {} {year}", place.city, topic.corpus),
            _ => format!("{lang} {} v{major}.{minor}", topic.corpus),
        };
        let records = self.dice.size(1_000, 5_000_000);
        let size = self.dice.size(5_000_000, 80_000_000_000);
        let personal = self.dice.chance(topic.personal);
        let access = if personal {
            *self.dice.pick(&["registered", "restricted", "restricted"])
        } else {
            let r = self.dice.real(0.0, 1.0);
            if r < 0.6 {
                "open"
            } else if r < 0.9 {
                "registered"
            } else {
                "restricted"
            }
        };
        let policy = {
            let r = self.dice.real(0.0, 1.0);
            if personal && r < 0.5 {
                "in_country"
            } else if r < 0.5 {
                "unrestricted"
            } else if r < 0.7 {
                "allowed_countries"
            } else if r < 0.85 {
                "partners_only"
            } else {
                "in_country"
            }
        };
        let (train, dev) = (self.dice.int(70, 85), self.dice.int(5, 15));
        let test = 100 - train - dev;
        let y1 = year - i32::try_from(self.dice.int(0, 3)).unwrap_or(0);
        let summary = format!(
            "{} {} of {} from {}, with a datasheet; {} access.",
            thousands(records),
            topic.unit,
            topic.data,
            place.country_name,
            access
        );
        let description = format!(
            "{}\n\n## Contents\n\n| split | share |\n| --- | ---: |\n| train | {train} % |\n| validation | {dev} % |\n| test | {test} % |\n\n\
             Formats: {}. Languages: {}.\n\n## Citation\n\n{} ({year}). *{title}*. Kujenga demo catalogue.",
            capitalise(&format!(
                "{} in {} for {} research, collected in {} and surrounding districts.",
                topic.data,
                list_words(langs),
                topic.name,
                place.city
            )),
            topic.formats.join(", "),
            list_words(langs),
            owner.name,
        );
        let mut sheet = Map::new();
        sheet.insert(
            "motivation".into(),
            json!(format!(
                "Open {} from {} are scarce, which keeps {} tools from serving the people there. {} collected this dataset so that {} can build and evaluate {} systems that work for them.",
                topic.corpus,
                place.country_name,
                topic.task,
                owner.name,
                audience,
                topic.name
            )),
        );
        sheet.insert(
            "composition".into(),
            json!(format!(
                "{} {} of {}. Each record has an identifier, its source, the collection date and its label. Splits: train ({train} %), validation ({dev} %), test ({test} %).",
                thousands(records),
                topic.unit,
                topic.data
            )),
        );
        sheet.insert(
            "collection_process".into(),
            json!(format!(
                "Collected between {y1} and {year} in {} and surrounding districts by trained field teams. Contributors gave informed consent; annotation was done by native speakers, and a second annotator checked a {} % sample.",
                place.city,
                self.dice.int(5, 20)
            )),
        );
        sheet.insert(
            "preprocessing".into(),
            json!(format!(
                "Duplicates removed; {}text normalised to Unicode NFC; files converted to {}.",
                if personal {
                    "names, phone numbers and exact locations removed or replaced with placeholders; "
                } else {
                    ""
                },
                topic.formats.join(" and ")
            )),
        );
        sheet.insert(
            "uses".into(),
            json!(format!(
                "Training and evaluating {} models; teaching {}; benchmarking for {}.",
                topic.name,
                topic.name,
                list_words(langs)
            )),
        );
        sheet.insert(
            "out_of_scope_uses".into(),
            json!("Identifying or profiling individuals; any use the licence does not allow."),
        );
        if personal || self.dice.chance(0.7) {
            let s = self.dice.some(topic.slices, 2, 2);
            sheet.insert(
                "biases_and_limitations".into(),
                json!(format!(
                    "Over-represents {} and under-represents {}; labels reflect the annotators' judgement. Results may not transfer to other regions or dialects.",
                    s.first().copied().unwrap_or("urban areas"),
                    s.get(1).copied().unwrap_or("rural areas")
                )),
            );
        }
        if self.dice.chance(0.8) {
            sheet.insert(
                "maintenance".into(),
                json!(format!(
                    "Maintained by {}; report errors to data@{}. A new release is planned every {} months.",
                    owner.name,
                    owner.domain,
                    self.dice.int(6, 24)
                )),
            );
        }
        let mut m = Map::new();
        m.insert("title".into(), json!(title));
        m.insert("summary".into(), json!(summary));
        m.insert("description".into(), json!(description));
        m.insert("access_level".into(), json!(access));
        m.insert("origin_country".into(), json!(place.country));
        m.insert("transfer_policy".into(), json!(policy));
        if policy == "allowed_countries" {
            let mut allowed = vec![place.country];
            allowed.extend(self.dice.some(place.neighbours, 1, 3));
            m.insert("allowed_countries".into(), json!(allowed));
        }
        m.insert("contains_personal_data".into(), json!(personal));
        m.insert("record_count".into(), json!(records));
        m.insert("size_bytes".into(), json!(size));
        m.insert("formats".into(), json!(topic.formats));
        m.insert("datasheet".into(), Value::Object(sheet));
        let mut files = Vec::new();
        if self.dice.chance(0.45) {
            let n = self
                .dice
                .int(1, i64::try_from(topic.files.len()).unwrap_or(1));
            let stem = format!(
                "{}-{}",
                lang.to_lowercase().replace(' ', "-"),
                topic.corpus.replace(' ', "-").to_lowercase()
            );
            for (name, media) in topic.files.iter().take(usize::try_from(n).unwrap_or(1)) {
                let url = format!(
                    "https://data.{}/releases/{stem}/{major}.{minor}/{name}",
                    owner.domain
                );
                let bytes = self.dice.size(100_000, size.max(100_001));
                files.push(((*name).to_string(), url, (*media).to_string(), bytes));
            }
        }
        let mut related = Vec::new();
        if self.dice.chance(0.1)
            && let Some(d) = self.graph.dataset(&mut self.dice, topic_ix)
        {
            related.push((Relation::DerivedFrom, ResourceKind::Dataset, d.id));
        }
        (m, related, files)
    }

    fn model_card(
        &mut self,
        owner: &Owner,
        topic: &Topic,
        topic_ix: usize,
        langs: &[&str],
        audience: &str,
    ) -> (Map<String, Value>, Links) {
        let place = owner.place;
        let lang = langs[0];
        let tier = if topic.high_risk {
            *self.dice.pick(&["high", "high", "limited"])
        } else {
            *self.dice.pick(&["minimal", "minimal", "limited"])
        };
        let arch = *self.dice.pick(topic.architectures);
        let base = (!topic.base_models.is_empty() && self.dice.chance(0.8))
            .then(|| *self.dice.pick(topic.base_models));
        let (major, minor) = (self.dice.int(0, 3), self.dice.int(0, 9));
        let title = match (self.dice.int(0, 2), base) {
            (0, Some(b)) => format!(
                "{} fine-tuned for {lang} {}",
                b.rsplit('/').next().unwrap_or(b),
                topic.name
            ),
            (1, _) => format!(
                "{} {} model v{major}.{minor}",
                place.country_name, topic.name
            ),
            _ => format!("{lang} {} ({arch})", topic.task),
        };
        let trained = if self.dice.chance(0.7) {
            self.graph.dataset(&mut self.dice, topic_ix)
        } else {
            None
        };
        let evaluated = if self.dice.chance(0.4) {
            self.graph
                .dataset(&mut self.dice, topic_ix)
                .filter(|d| trained.as_ref().is_none_or(|t| t.id != d.id))
        } else {
            None
        };
        let summary = format!(
            "{} ({arch}) for {} in {}; risk tier {tier}.",
            capitalise(&a(topic.model_type)),
            topic.task,
            list_words(langs)
        );
        let description = format!(
            "{}\n\n## Overview\n\n{} by {} in {}{}. See the results table for how it does on each slice, and the caveats before you deploy it.",
            summary,
            capitalise(&format!("{} model for {lang}", topic.task)),
            owner.name,
            place.city,
            base.map(|b| format!(", fine-tuned from `{b}`"))
                .unwrap_or_default()
        );
        let mut m = Map::new();
        m.insert("title".into(), json!(title));
        m.insert("summary".into(), json!(summary));
        m.insert("description".into(), json!(description));
        m.insert("risk_tier".into(), json!(tier));
        m.insert("model_type".into(), json!(topic.model_type));
        m.insert("architecture".into(), json!(arch));
        if let Some(b) = base {
            m.insert("base_model".into(), json!(b));
        }
        m.insert("task".into(), json!(topic.task));
        m.insert(
            "intended_uses".into(),
            json!(format!(
                "{} for {} in {} and neighbouring countries, by {audience}: research, prototypes and assistive tools where a person reviews the output.",
                capitalise(topic.task),
                list_words(langs),
                place.country_name
            )),
        );
        m.insert(
            "out_of_scope_uses".into(),
            json!(format!(
                "Decisions about individuals without human review; surveillance; languages other than {}.",
                list_words(langs)
            )),
        );
        m.insert(
            "metrics".into(),
            json!(format!(
                "{} on a held-out test set; 95 % confidence intervals by bootstrap.",
                capitalise(topic.metric)
            )),
        );
        m.insert(
            "training_data".into(),
            json!(match &trained {
                Some(d) => format!("{} (linked below).", d.title),
                None => format!("{} collected by {}.", capitalise(topic.data), owner.name),
            }),
        );
        let full = tier != "minimal" || self.dice.chance(0.5);
        if full {
            m.insert(
                "evaluation_data".into(),
                json!(match &evaluated {
                    Some(d) => format!("{} (linked below).", d.title),
                    None => format!(
                        "A held-out split of the training data, stratified by {}.",
                        topic.slices[0]
                    ),
                }),
            );
            m.insert(
                "caveats".into(),
                json!("Scores drop on recording conditions, dialects and domains the data does not cover; check on your own data first."),
            );
            m.insert(
                "factors".into(),
                json!(format!(
                    "Performance varies with {}.",
                    list_words(topic.slices)
                )),
            );
            m.insert(
                "ethical_considerations".into(),
                json!("Errors fall unevenly on the groups in the results table; keep a person in the loop for any decision that affects someone."),
            );
            m.insert(
                "environmental_impact".into(),
                json!(format!(
                    "Trained for {} GPU-hours in {}; about {} kg CO2e.",
                    self.dice.int(2, 400),
                    place.city,
                    self.dice.int(1, 120)
                )),
            );
            let slices = self.dice.some(topic.slices, 2, topic.slices.len());
            let eval = evaluated.as_ref().or(trained.as_ref());
            let (lo, hi) = topic.metric_range;
            let results: Vec<Value> = slices
                .iter()
                .map(|s| {
                    let mut row = json!({
                        "task": topic.task,
                        "metric": topic.metric,
                        "value": round(self.dice.real(lo, hi), 3),
                        "slice": s,
                    });
                    match eval {
                        Some(d) => {
                            row["dataset"] = json!(d.title);
                            row["dataset_id"] = json!(d.id);
                        }
                        None => {
                            row["dataset"] = json!(format!("{lang} {} (held out)", topic.corpus));
                        }
                    }
                    row
                })
                .collect();
            m.insert("results".into(), Value::Array(results));
        }
        let mut related = Vec::new();
        if let Some(d) = trained {
            related.push((Relation::TrainedOn, ResourceKind::Dataset, d.id));
        }
        if let Some(d) = evaluated {
            related.push((Relation::EvaluatedOn, ResourceKind::Dataset, d.id));
        }
        if self.dice.chance(0.1)
            && let Some(mc) = Graph::any(&self.graph.model_cards, &mut self.dice)
        {
            related.push((Relation::DerivedFrom, ResourceKind::ModelCard, mc.id));
        }
        (m, related)
    }
}

// ----- writing -----------------------------------------------------------------

/// Fills the database behind `conn` (migrated) with demo data.
pub fn seed(conn: &mut DbConnection, opts: Options) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let now = db::now();
    let start = now - Duration::days(SPAN_DAYS);
    let mut dice = Dice(StdRng::seed_from_u64(SEED));

    // A bulk load on SQLite: a page cache that holds the growing indexes
    // (the default 2 MiB reads and writes the same pages again for every
    // batch), and no sync per commit — a loader that dies is run again on a
    // fresh database; the server's connections keep their own settings.
    // On PostgreSQL, likewise, no wait for the WAL flush at each commit
    // (this session only; a crash loses the last batches, never consistency).
    {
        use diesel::connection::SimpleConnection;
        match conn {
            DbConnection::Sqlite(_) => {
                conn.batch_execute("PRAGMA cache_size = -131072; PRAGMA synchronous = OFF;")?
            }
            DbConnection::Postgres(_) => conn.batch_execute("SET synchronous_commit = off")?,
        }
    }
    // Institutions: the first transaction, after checking none is there yet.
    let mut owners = Vec::with_capacity(opts.institutions);
    let mut rows = Vec::with_capacity(opts.institutions);
    for i in 0..opts.institutions {
        let place = &PLACES[i % PLACES.len()];
        let round = i / PLACES.len();
        let (name, slug) = if round == 0 {
            (
                place.name.to_string(),
                format!("{SLUG_PREFIX}{}", place.slug),
            )
        } else {
            (
                format!("{} (branch {})", place.name, round + 1),
                format!("{SLUG_PREFIX}{}-{}", place.slug, round + 1),
            )
        };
        let domain = format!("{}.example.org", slug.trim_start_matches(SLUG_PREFIX));
        let created =
            start - Duration::days(dice.int(60, 400)) - Duration::seconds(dice.int(0, 86_399));
        let verified = created + Duration::days(dice.int(1, 20));
        let id = id_at(created);
        let mut spoken: Vec<&str> = Vec::new();
        for l in place.languages {
            if !spoken.contains(&language_name(l)) {
                spoken.push(language_name(l));
            }
        }
        rows.push(InstitutionRow {
            id: id.clone(),
            slug,
            name_lower: name.to_lowercase(),
            name: name.clone(),
            country: place.country.into(),
            kind: place.kind.into(),
            website: Some(format!("https://{domain}/")),
            description: format!(
                "{name} ({}, {}) shares courses, datasets and model cards in {}. Demo data: not a real institution.",
                place.city,
                place.country_name,
                list_words(&spoken)
            ),
            verified: true,
            verified_at: Some(verified),
            created_by: None,
            created_at: created,
            updated_at: verified,
        });
        owners.push(Owner {
            id,
            name,
            domain,
            place,
        });
    }
    write_transaction(conn, |conn| -> anyhow::Result<()> {
        for row in &rows {
            if institutions_store::by_slug(conn, &row.slug)?.is_some()
                || !institutions_store::insert(conn, row)?
            {
                return Err(anyhow::Error::new(AlreadySeeded {
                    slug: row.slug.clone(),
                }));
            }
        }
        Ok(())
    })?;

    let mut summary = Summary {
        institutions: owners.len(),
        ..Summary::default()
    };
    let mut writer = Writer {
        dice,
        graph: Graph::default(),
    };
    let mut with_files: Vec<String> = Vec::new();
    let n = opts.resources;
    let step = (SPAN_DAYS * 86_400) as f64 / n.max(1) as f64;
    let mut done = 0;
    // The demo is loaded by no one: its events have no actor.
    let ctx = Context::default();
    while done < n {
        let end = (done + BATCH).min(n);
        let mut batch = Vec::with_capacity(end - done);
        for i in done..end {
            // Bigger institutions publish more: skew towards the first ones.
            let u: f64 = writer.dice.real(0.0, 1.0);
            let owner =
                &owners[((u.powf(1.6) * owners.len() as f64) as usize).min(owners.len() - 1)];
            let offset = ((i as f64 + writer.dice.real(0.0, 1.0)) * step) as i64;
            let published = start
                + Duration::seconds(offset)
                + Duration::microseconds(writer.dice.int(0, 999_999));
            let published = published.min(now - Duration::minutes(5));
            let b = writer.build(owner, published.year())?;
            let created = published
                - Duration::days(writer.dice.int(1, 60))
                - Duration::seconds(writer.dice.int(0, 86_399));
            let edits = writer.dice.int(0, 3);
            let updated = if edits == 0 {
                published
            } else {
                let later = published + Duration::days(writer.dice.int(1, 90));
                if later < now {
                    later
                } else {
                    published + (now - published) / 2
                }
            };
            let id = id_at(created);
            let targets: Vec<&String> = b.doc.core.related.iter().map(|k| &k.resource_id).collect();
            summary.relations += targets.len();
            for target in targets {
                *writer.graph.incoming.entry(target.clone()).or_default() += 1;
            }
            let mut files = Vec::with_capacity(b.files.len());
            for (k, (name, url, media_type, size_bytes)) in b.files.iter().enumerate() {
                files.push(FileRow {
                    id: id_at(published + Duration::seconds(i64::try_from(k).unwrap_or(0))),
                    dataset_id: id.clone(),
                    name: name.clone(),
                    url: url.clone(),
                    media_type: media_type.clone(),
                    size_bytes: *size_bytes,
                    sha256: writer.dice.hex(32),
                    created_by: None,
                    created_at: published,
                    embargo_until: None,
                    embargo_reason: None,
                });
            }
            summary.files += files.len();
            let modules: Vec<ModuleRow> = b
                .modules
                .iter()
                .enumerate()
                .map(|(k, (title, content, minutes, bytes, required))| {
                    let position = i32::try_from(k + 1).unwrap_or(i32::MAX);
                    ModuleRow {
                        id: id_at(created + Duration::seconds(i64::from(position))),
                        course_id: id.clone(),
                        position,
                        title: title.clone(),
                        content: Some(content.clone()),
                        content_url: None,
                        duration_minutes: Some(*minutes),
                        download_bytes: Some(*bytes),
                        required: *required,
                        created_at: created,
                        updated_at: created,
                    }
                })
                .collect();
            let vis = b.doc.core.visibility;
            summary.visibility[match vis {
                Visibility::Public => 0,
                Visibility::Registered => 1,
                Visibility::Institution => 2,
                Visibility::Partnership => 3,
            }] += 1;
            let target = Target {
                id: id.clone(),
                title: b.doc.core.title.clone(),
                topic: b.topic,
            };
            let public = vis == Visibility::Public;
            match b.kind {
                ResourceKind::Course => {
                    summary.courses += 1;
                    summary.example_course.get_or_insert_with(|| id.clone());
                    if public {
                        writer.graph.courses.push(target);
                    }
                }
                ResourceKind::Dataset => {
                    summary.datasets += 1;
                    if public {
                        if !b.files.is_empty() {
                            with_files.push(id.clone());
                        }
                        writer
                            .graph
                            .datasets_by_topic
                            .entry(target.topic)
                            .or_default()
                            .push(writer.graph.datasets.len());
                        writer.graph.datasets.push(target);
                    }
                }
                ResourceKind::ModelCard => {
                    summary.model_cards += 1;
                    if public {
                        summary.example_model_card = Some(id.clone());
                        writer.graph.model_cards.push(target);
                    }
                }
            }
            batch.push(Import {
                id,
                institution_id: owner.id.clone(),
                document: b.doc,
                created_at: created,
                published_at: published,
                updated_at: updated,
                version: 2 + edits,
                files,
                modules,
            });
        }
        resources::import(conn, &ctx, &batch)
            .map_err(|e| anyhow::anyhow!("importing demo resources {done}–{end}: {e:?}"))?;
        done = end;
    }
    // After a bulk load PostgreSQL's planner has no statistics until
    // autovacuum's next analyze (a minute or more away): it then expects a
    // hundred published rows instead of thousands, and the catalogue's first
    // page reads and sorts every one of them (~30 ms instead of ~0.1 ms for
    // 10,000 resources). SQLite plans these queries well without statistics,
    // and the server never analyzes it, so it is left as the API leaves it.
    // VACUUM as well: until autovacuum marks the new pages all-visible in
    // the visibility map, an index-only scan (the catalogue's count and its
    // deep pages walk `resources_catalog_idx`) visits the table for every
    // row, and the planner prefers reading the whole table (measured at
    // 100,000 resources: a DCAT page at offset 14,900 took 75 ms before,
    // 15 ms after).
    if let DbConnection::Postgres(_) = conn {
        use diesel::connection::SimpleConnection;
        conn.batch_execute(
            "VACUUM (ANALYZE) institutions, resources, resource_terms, resource_relations, dataset_files",
        )?;
    }
    // A typical public dataset: files, and at least one resource linking to it.
    let linked: Vec<&String> = with_files
        .iter()
        .filter(|id| writer.graph.incoming.contains_key(*id))
        .collect();
    summary.example_dataset = linked
        .get(linked.len() / 2)
        .map(|s| (*s).clone())
        .or_else(|| with_files.first().cloned())
        .or_else(|| writer.graph.datasets.first().map(|d| d.id.clone()));
    // Fresh statistics, or the first searches plan as on an empty database.
    db::optimize(conn, true)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
