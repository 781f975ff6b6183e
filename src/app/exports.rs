//! What the open-standard exports (Croissant, schema.org, Hugging Face
//! cards) are built from: a resource exactly as an anonymous reader sees it.
//!
//! Every export is rendered from this view whoever asks, so nothing an
//! anonymous reader may not see (drafts, `registered`/`institution`/
//! `partnership` resources, unverified institutions' resources, file URLs)
//! can reach one: the visibility rule is the one of `app::resources::show`
//! (`domain::policy`), with no caller. A resource hidden from anonymous
//! readers is a 404 here, even to its owners.

use crate::app::resources::{self as resources, AnyResource, FILES_MAX, Include};
use crate::db::DbConnection;
use crate::db::resources::FileRow;
use crate::domain::resource::ResourceKind;
use crate::error::ApiError;

/// A resource as the public sees it, with what exports need besides.
#[derive(Debug, Clone)]
pub struct PublicView {
    /// The representation (with `included.institution`, `included.related`
    /// and, for courses, `included.modules`).
    pub resource: AnyResource,
    /// A dataset's files (names, types, sizes, hashes; their URLs are
    /// never used): empty for other kinds.
    pub files: Vec<FileRow>,
}

/// The resource `id` of `kind` as an anonymous reader sees it, or 404.
pub fn public_view(
    conn: &mut DbConnection,
    kind: ResourceKind,
    id: &str,
) -> Result<PublicView, ApiError> {
    let include = Include {
        modules: kind == ResourceKind::Course,
        related: true,
        institution: true,
    };
    let resource = resources::show(conn, None, kind, id, include)?;
    let files = if kind == ResourceKind::Dataset {
        resources::list_files(conn, None, id, None, FILES_MAX)?
    } else {
        Vec::new()
    };
    Ok(PublicView { resource, files })
}
