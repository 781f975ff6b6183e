//! Open standards out: the public catalogue in the formats harvesters and
//! tools already read. Pure: each export is built from what the app layer
//! loaded (as an anonymous reader sees it) and the settings.

pub mod dcat;
pub mod odrl;
pub mod rdf;
pub mod vocab;
