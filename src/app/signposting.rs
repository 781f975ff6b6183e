//! What FAIR signposting says about a resource: only for a resource an
//! anonymous reader may see (the one rule, `app::oai::public`).

use crate::db::{self, DbConnection};
use crate::domain::resource::ResourceKind;

/// Files listed as `item` links at most.
pub const ITEMS_MAX: i64 = 100;

/// The facts the links are built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signposts {
    pub kind: ResourceKind,
    pub id: String,
    pub license: Option<String>,
    pub doi: Option<String>,
    /// (file id, media type) of a dataset's files, oldest first.
    pub files: Vec<(String, String)>,
}

/// `None` when the resource is not public (or not there).
pub fn of(conn: &mut DbConnection, id: &str) -> diesel::QueryResult<Option<Signposts>> {
    let Some(l) = db::resources::by_id(conn, id)? else {
        return Ok(None);
    };
    if !crate::app::oai::public(&l) {
        return Ok(None);
    }
    let files = if l.row.kind == ResourceKind::Dataset {
        db::resources::files(conn, id, None, ITEMS_MAX)?
            .into_iter()
            .map(|f| (f.id, f.media_type))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Some(Signposts {
        kind: l.row.kind,
        id: l.row.id,
        license: l.row.license,
        doi: l.row.doi,
        files,
    }))
}
