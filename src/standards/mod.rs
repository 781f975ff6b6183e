//! Open standards out: the catalogue in the formats other tools harvest.
//! Pure renderers (no database, no HTTP), each from a resource's public view
//! (`app::exports`) and the service's absolute base URL.

pub mod croissant;
pub mod hf_card;
pub mod schema_org;
