//! Citations: what a resource's citation says, for whoever may read it.

use chrono::Datelike;

use crate::app::resources::load;
use crate::auth::principal::Principal;
use crate::db::DbConnection;
use crate::db::resources::Loaded;
use crate::domain::citation::Cited;
use crate::domain::policy::{self, Action};
use crate::domain::resource::ResourceKind;
use crate::error::ApiError;

/// The citation of resource `id` of `kind` as `principal` may see it (the
/// single read's rule: 404 for what they may not see). `origin` is the
/// API's public origin; `platform` its name (the publisher).
pub fn cite(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    kind: ResourceKind,
    id: &str,
    origin: &str,
    platform: &str,
) -> Result<Cited, ApiError> {
    let (l, viewer) = load(conn, kind, id, principal)?;
    let act = Principal::actor_of(principal);
    policy::enforce(policy::may(
        &act,
        Action::ViewResource(crate::app::resources::facts(&l, &viewer)),
    ))?;
    Ok(cited(&l, origin, platform))
}

/// What the citation of `l` says (whoever asks).
pub(crate) fn cited(l: &Loaded, origin: &str, platform: &str) -> Cited {
    let r = &l.row;
    let when = r.published_at.unwrap_or(r.created_at);
    Cited {
        id: r.id.clone(),
        kind: r.kind,
        authors: vec![l.institution_name.clone()],
        title: r.title.clone(),
        year: when.year(),
        date: when.format("%Y-%m-%d").to_string(),
        version: r.version,
        publisher: platform.to_string(),
        url: format!(
            "{}/api/v1/{}/{}",
            origin.trim_end_matches('/'),
            r.kind.collection(),
            r.id
        ),
        doi: r.doi.clone(),
    }
}
