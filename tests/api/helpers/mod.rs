//! The fixtures every test module shares, one topic a file. Test modules
//! import from here and export nothing to each other.
//!
//! What the suite always reached as `crate::helpers::X` (the database, the
//! running application, accounts, `problem`, the `api_test!` macro) is still
//! reachable there; the topical fixtures are reached through their module,
//! e.g. `crate::helpers::institutions::create`.

pub mod access;
pub mod accounts;
pub mod app;
pub mod audit;
mod database;
pub mod events;
pub mod frontend;
pub mod http;
pub mod institutions;
pub mod json;
pub mod openapi;
mod outbox;
pub mod search;
pub mod smtp;
pub mod transparency;
pub mod versions;
pub mod webhooks;

pub use prelude::*;

/// What every `api_test!` body sees without importing it, the items the
/// suite has always reached as `crate::helpers::X`. The macro imports only
/// these, so the topical modules' names never clash with a test's own.
pub mod prelude {
    pub use super::accounts::{Account, PASSWORD};
    pub use super::app::{TestApp, spawn_app, spawn_app_on, spawn_app_with};
    pub use super::database::{Backend, PG_ENV, TestDatabase, skip_postgres};
    #[allow(
        unused_imports,
        reason = "part of what `crate::helpers` offers; no test needs it today"
    )]
    pub use super::database::{PgDatabase, SQLITE_ONLY_ENV, postgres_url};
    pub use super::http::problem;
}

/// Defines a test that runs once on SQLite and once on PostgreSQL (the
/// latter when `KUJENGA_TEST_POSTGRES_URL` is set; without it the variant
/// skips, or fails under `CI` unless `KUJENGA_TEST_SQLITE_ONLY` is set).
#[macro_export]
macro_rules! api_test {
    ($(#[$meta:meta])* $name:ident, |$backend:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::helpers::prelude::*;

            async fn run($backend: Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$meta])*
            async fn sqlite() {
                run(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$meta])*
            async fn postgres() {
                if skip_postgres() {
                    return;
                }
                run(Backend::Postgres).await;
            }
        }
    };
}
