//! Open standards out: the public catalogue in the formats harvesters and
//! tools already read. Pure renderers (no database, no HTTP): each export is
//! built from what the app layer loaded (as an anonymous reader sees it,
//! `app::exports`) and the settings (the service's absolute base URL).

pub mod croissant;
pub mod dcat;
pub mod hf_card;
pub mod odrl;
pub mod rdf;
pub mod schema_org;
pub mod vocab;
