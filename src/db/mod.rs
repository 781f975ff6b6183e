//! The database layer: one connection type over SQLite and PostgreSQL, the
//! pool, migrations, and the few places that need backend-specific SQL.
//!
//! Query functions in this module tree return `QueryResult` and know nothing
//! of HTTP. Handlers reach the database only through [`Db::run`], which moves
//! the blocking diesel call off the async executor.

/// PostgreSQL takes at most 65,535 bound values per statement.
pub const BIND_MAX: usize = 30_000;

/// Inserts `rows` (each binding `$columns` values) into `$table`: several
/// rows per statement on PostgreSQL, one round trip per chunk; row by row on
/// SQLite, which has no round trips to save.
macro_rules! insert_batched {
    ($conn:expr, $table:expr, $rows:expr, $columns:expr) => {{
        let conn: &mut $crate::db::DbConnection = $conn;
        let rows = $rows;
        if let $crate::db::DbConnection::Postgres(pg) = &mut *conn {
            for chunk in rows.chunks(($crate::db::BIND_MAX / $columns).max(1)) {
                diesel::insert_into($table).values(chunk).execute(pg)?;
            }
        } else {
            for row in rows {
                diesel::insert_into($table).values(row).execute(conn)?;
            }
        }
        Ok(())
    }};
}

pub mod access;
pub mod accounts;
pub mod audit;
pub mod catalog;
pub mod changes;
pub mod clients;
pub mod events;
pub mod idempotency;
pub mod institutions;
pub mod learning;
pub mod memberships;
pub mod notifications;
pub mod oai;
pub mod outbox;
pub mod partnerships;
pub mod resources;
pub mod schema;
pub mod search;
pub mod versions;
pub mod webhooks;
pub mod withdrawals;
pub mod words;

use std::fmt;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryResult, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{Backend, Settings, sqlite_path};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Generic diesel code runs on it directly;
/// backend-specific code matches on the variant (see [`with_conn!`]).
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres(_) => f.write_str("DbConnection::Postgres"),
            Self::Sqlite(_) => f.write_str("DbConnection::Sqlite"),
        }
    }
}

/// Runs the same generic diesel code on whichever inner connection is in
/// use: for the features the multi connection lacks (`RETURNING`,
/// `ON CONFLICT`, raw `QueryableByName` queries, …).
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Why a connection could not be made; says where, never with a password.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to the database ({target}): {cause}")]
pub struct ConnectError {
    pub target: String,
    pub cause: String,
}

/// Opens connections for the pool, picking the backend from the URL scheme
/// (the stock multi-connection manager guesses and hides the real error).
pub struct ConnectionManager {
    backend: Backend,
    url: SecretString,
    target: String,
    sqlite_busy_timeout_ms: u32,
}

impl fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionManager")
            .field("backend", &self.backend)
            .field("target", &self.target)
            .finish()
    }
}

impl ConnectionManager {
    pub fn new(settings: &Settings) -> Result<Self, crate::config::ConfigError> {
        let (backend, target) = settings.database_target()?;
        let raw = settings.database_url();
        let url = match backend {
            Backend::Postgres => {
                SecretString::from(with_connect_timeout(raw.expose_secret(), settings))
            }
            Backend::Sqlite => raw,
        };
        Ok(Self {
            backend,
            url,
            target,
            sqlite_busy_timeout_ms: settings.database.sqlite_busy_timeout_ms,
        })
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens one connection, with the SQLite pragmas applied.
    pub fn establish(&self) -> Result<DbConnection, ConnectError> {
        let fail = |cause: String| ConnectError {
            target: self.target.clone(),
            cause: scrub(&cause, self.url.expose_secret()),
        };
        match self.backend {
            Backend::Postgres => PgConnection::establish(self.url.expose_secret())
                .map(DbConnection::Postgres)
                .map_err(|e| fail(e.to_string().trim().to_string())),
            Backend::Sqlite => {
                let path = sqlite_path(self.url.expose_secret()).unwrap_or_default();
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
                }
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(|e| fail(e.to_string()))?;
                conn.batch_execute(&format!(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; \
                     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                    self.sqlite_busy_timeout_ms
                ))
                .map_err(|e| fail(e.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// Adds libpq's `connect_timeout` unless the URL sets one, so an unreachable
/// host fails within seconds.
fn with_connect_timeout(url: &str, settings: &Settings) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{sep}connect_timeout={}",
        settings.database.connect_timeout_secs
    )
}

/// Removes the password of `url` from a message, should a driver echo it.
fn scrub(message: &str, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(pw) if !pw.is_empty() => message.replace(&pw, "***"),
        _ => message.to_string(),
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectError> {
        diesel::r2d2::R2D2Connection::ping(conn).map_err(|e| ConnectError {
            target: self.target.clone(),
            cause: e.to_string(),
        })
    }

    /// A connection whose transaction was left open or failed (a panic in a
    /// `Db::run` closure, a failed rollback) is dropped, never reused.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

pub type DbPool = Pool<ConnectionManager>;
pub type PooledDb = PooledConnection<ConnectionManager>;
pub use r2d2::PoolError;

/// Why [`Db::run`] failed: the work's own error, or it could not run.
#[derive(Debug)]
pub enum RunError<E> {
    /// No connection within the pool's timeout.
    Pool(PoolError),
    /// The blocking thread pool is gone (shutting down).
    Blocking,
    /// The work ran and failed.
    Failed(E),
}

impl<E: fmt::Display> fmt::Display for RunError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pool(e) => write!(f, "no database connection: {e}"),
            Self::Blocking => f.write_str("the blocking thread pool is gone"),
            Self::Failed(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for RunError<E> {}

/// The pool plus what the rest of the app needs to know about it.
#[derive(Clone, Debug)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
    target: String,
    outbox_signal: std::sync::Arc<tokio::sync::Notify>,
}

impl Db {
    /// Connects once (failing fast with the real cause), optionally runs
    /// migrations, then builds the pool.
    pub fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let manager = ConnectionManager::new(settings)?;
        let backend = manager.backend();
        let target = manager.target().to_string();
        let mut first = manager.establish()?;
        if settings.database.run_migrations {
            run_migrations(&mut first)?;
        }
        drop(first);
        let pool = Pool::builder()
            .max_size(settings.database.pool_size)
            .min_idle(Some(1))
            .connection_timeout(settings.connect_timeout())
            // A PostgreSQL connection can die under the pool (a restart, a
            // proxy's timeout) and diesel cannot tell until it is used: ping
            // it as it leaves the pool. A SQLite connection is a file handle
            // that does not die; the ping would only cost a statement.
            .test_on_check_out(backend == Backend::Postgres)
            .build(manager)
            .map_err(|e| anyhow::anyhow!("cannot open the database pool ({target}): {e}"))?;
        Ok(Self {
            pool,
            backend,
            target,
            outbox_signal: std::sync::Arc::new(tokio::sync::Notify::new()),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Printable description of the database (no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Runs blocking database work on the blocking thread pool, inside the
    /// caller's tracing span (so its logs carry the request id). Fails with
    /// the work's own error, or with [`RunError::Pool`] / [`RunError::Blocking`]
    /// when it could not run (`error.rs` maps these for HTTP).
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, RunError<E>>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        let outbox = self.outbox_signal.clone();
        actix_web::web::block(move || {
            let _entered = span.enter();
            let started = std::time::Instant::now();
            let mut conn = pool.get().map_err(RunError::Pool)?;
            let result = f(&mut conn).map_err(RunError::Failed);
            tracing::debug!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                ok = result.is_ok(),
                "database call"
            );
            // Emails enqueued by this call: wake the worker now (after the
            // commit; a rolled-back enqueue only costs an empty claim).
            if crate::mail::take_enqueued_flag() {
                // Every idle worker of this process, and a permit for one
                // that is busy right now.
                outbox.notify_waiters();
                outbox.notify_one();
            }
            result
        })
        .await
        .map_err(|_| RunError::Blocking)?
    }

    /// Signalled whenever an email is enqueued through [`Db::run`]; the
    /// outbox worker waits on it.
    pub fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox_signal.clone()
    }

    /// Whether a connection can be had and answers, within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), String> {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get_timeout(timeout).map_err(|e| e.to_string())?;
            conn.batch_execute("SELECT 1").map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

impl Db {
    /// Readiness: a connection within `timeout`, and a write that commits
    /// (one row of `readiness_probe` updated), so a database that answers
    /// reads but refuses writes (read-only, disk full) is not ready.
    pub async fn probe_write(&self, timeout: Duration) -> Result<(), String> {
        use diesel::prelude::*;
        use schema::readiness_probe as rp;
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get_timeout(timeout).map_err(|e| e.to_string())?;
            write_transaction(&mut conn, |conn| {
                let now = now();
                let updated = diesel::update(rp::table.filter(rp::id.eq(1)))
                    .set(rp::checked_at.eq(now))
                    .execute(conn)?;
                if updated == 0 {
                    crate::with_conn!(&mut *conn, |c| diesel::insert_into(rp::table)
                        .values((rp::id.eq(1), rp::checked_at.eq(now)))
                        .on_conflict_do_nothing()
                        .execute(c)?);
                }
                Ok::<_, diesel::result::Error>(())
            })
            .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// Now, in UTC, truncated to microseconds: PostgreSQL keeps microseconds,
/// SQLite would keep nanoseconds, and both must agree.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}

/// The data's generation in this process: moves after every committed
/// write transaction (and when [`crate::http::public_cache::poll`] sees
/// other processes write). Answers rendered under an older generation may
/// be stale: the anonymous catalogue cache serves only current ones.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The current generation (see [`GENERATION`]).
pub fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

/// Moves the generation on: call after a change has committed.
pub fn bump_generation() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// Something that changes whenever any connection — of this process or of
/// another — commits a change to the database, asked on one connection kept
/// for it: SQLite's `data_version` (per connection: it moves when *other*
/// connections commit), PostgreSQL's current WAL position (the replayed one
/// on a standby). It may also move without a change to the data (a
/// checkpoint, an autovacuum): that only costs a cache refill.
pub fn change_marker(conn: &mut DbConnection) -> QueryResult<String> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Text};
    match conn {
        DbConnection::Sqlite(c) => diesel::select(sql::<BigInt>(
            "(SELECT data_version FROM pragma_data_version())",
        ))
        .get_result::<i64>(c)
        .map(|v| v.to_string()),
        DbConnection::Postgres(c) => diesel::select(sql::<Text>(
            "(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
             ELSE pg_current_wal_lsn() END)::text",
        ))
        .get_result::<String>(c),
    }
}

/// Runs `f` in a write transaction. On SQLite it is `BEGIN IMMEDIATE`, which
/// takes the write lock up front: a deferred transaction that reads, then
/// writes, fails at once with `SQLITE_BUSY` when another writer got there
/// first (`busy_timeout` does not cover that upgrade).
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let nested =
        <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn)
            .transaction_depth()
            .ok()
            .flatten()
            .is_some();
    // Already inside a transaction (a savepoint then), or PostgreSQL, whose
    // row locks make a plain transaction enough.
    if nested {
        return conn.transaction(f);
    }
    if !matches!(conn, DbConnection::Sqlite(_)) {
        let result = conn.transaction(f);
        bump_generation();
        return result;
    }
    // Open the transaction through the inner connection's manager (so
    // nested `transaction()` calls become savepoints as usual), hand `f` the
    // multi connection, then commit or roll back the same way.
    if let DbConnection::Sqlite(c) = &mut *conn {
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE").map_err(E::from)?;
    }
    let result = f(conn);
    if let DbConnection::Sqlite(c) = &mut *conn {
        match &result {
            Ok(_) => {
                let committed = AnsiTransactionManager::commit_transaction(c).map_err(E::from);
                // Even a failed COMMIT may have left the data changed.
                bump_generation();
                committed?;
            }
            Err(_) => {
                let _ = AnsiTransactionManager::rollback_transaction(c);
            }
        }
    }
    result
}

// `keyset`: a page after `(t, id)` is asked for as
// `t >= ? AND (t > ? OR (t = ? AND id > ?))` (or the same with `<=` / `<`
// for newest first). The first bound is implied by the second, but SQLite
// does not read the OR alone as a range of the `(t, id)` index: it walked
// the index from its start (an OAI-PMH page 30,000 records in: 11 ms; with
// the bound 0.2 ms), so every later page cost more. PostgreSQL gets the
// same bound as an index condition.

/// Keeps the query planner's statistics current, so that a search starts
/// from the few resources that match rather than from every published one.
/// `after_bulk`: a bulk load just happened (seed-demo), analyse everything
/// now; otherwise SQLite's `PRAGMA optimize` analyses only what changed
/// enough (cheap: at start and with the hourly jobs). PostgreSQL's
/// autovacuum keeps statistics on its own; after a bulk load it is asked at
/// once.
///
/// On SQLite the statistics of the search index's own tables (FTS5's
/// `resource_fts_*`) are never kept: FTS5 reads its segments by rowid
/// ranges, and with a row count measured when the index was nearly empty
/// (`PRAGMA optimize` at the first start of a new database: "2 rows") the
/// planner chose to scan the whole segment table for each of those reads,
/// so a bulk import after that first start grew quadratically (20,000
/// resources: 22 s instead of 9 s; 100,000: over 7 minutes instead of ~90 s).
/// Told that the segment table is large, the planner reads ranges,
/// whatever its size.
pub fn optimize(conn: &mut DbConnection, after_bulk: bool) -> QueryResult<()> {
    match (conn, after_bulk) {
        (DbConnection::Sqlite(c), true) => {
            c.batch_execute("PRAGMA analysis_limit = 1000; ANALYZE;")?;
            forget_search_index_statistics(c)
        }
        (DbConnection::Sqlite(c), false) => {
            c.batch_execute("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;")?;
            forget_search_index_statistics(c)
        }
        (DbConnection::Postgres(c), true) => c.batch_execute("ANALYZE"),
        (DbConnection::Postgres(_), false) => Ok(()),
    }
}

/// Replaces the statistics SQLite's `ANALYZE` kept for the FTS5 tables
/// (see [`optimize`]) by a fixed large size for the segment table, and has
/// this connection load them. (Deleting them is not enough: a connection
/// keeps the size it loaded for a table that no longer has statistics.)
fn forget_search_index_statistics(c: &mut SqliteConnection) -> QueryResult<()> {
    use diesel::sql_types::BigInt;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    for table in ["sqlite_stat1", "sqlite_stat4"] {
        let exists = diesel::sql_query(
            "SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table' AND name = ?",
        )
        .bind::<diesel::sql_types::Text, _>(table)
        .get_result::<Count>(c)?
        .n > 0;
        if exists {
            c.batch_execute(&format!(
                "DELETE FROM {table} WHERE tbl LIKE 'resource\\_fts\\_%' ESCAPE '\\'"
            ))?;
            if table == "sqlite_stat1" {
                c.batch_execute(
                    "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('resource_fts_data', NULL, '1000000')",
                )?;
            }
        }
    }
    c.batch_execute("ANALYZE sqlite_schema")
}

/// Runs every pending migration for the connection's backend. On
/// PostgreSQL an advisory lock keeps several instances starting at once
/// from racing.
pub fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    // A migration may change any data: cached answers are stale.
    let result = run_migrations_unmarked(conn);
    bump_generation();
    result
}

fn run_migrations_unmarked(conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        DbConnection::Postgres(c) => {
            c.batch_execute("SELECT pg_advisory_lock(7201310)")?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>());
            c.batch_execute("SELECT pg_advisory_unlock(7201310)")?;
            result
        }
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>()),
    };
    applied.map_err(|e| anyhow::anyhow!("migration failed: {e}"))
}

/// Reverts the most recently applied migration; returns its name, or
/// `None` if none is applied.
pub fn revert_last_migration(conn: &mut DbConnection) -> anyhow::Result<Option<String>> {
    // A migration may change any data: cached answers are stale.
    let result = revert_last_migration_unmarked(conn);
    bump_generation();
    result
}

fn revert_last_migration_unmarked(conn: &mut DbConnection) -> anyhow::Result<Option<String>> {
    fn revert<DB, C>(c: &mut C, source: EmbeddedMigrations) -> anyhow::Result<Option<String>>
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB>,
        EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
    {
        use diesel::migration::MigrationSource;
        if c.applied_migrations()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .is_empty()
        {
            return Ok(None);
        }
        let names: Vec<String> = MigrationSource::<DB>::migrations(&source)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .into_iter()
            .map(|m| m.name().to_string())
            .collect();
        let version = c
            .revert_last_migration(source)
            .map_err(|e| anyhow::anyhow!("revert failed: {e}"))?
            .to_string();
        let name = names
            .into_iter()
            .find(|n| n.replace('-', "").starts_with(&version))
            .unwrap_or(version);
        Ok(Some(name))
    }
    match conn {
        DbConnection::Postgres(c) => revert(c, POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(c) => revert(c, SQLITE_MIGRATIONS),
    }
}

/// Applies the next pending migration only; `None` when none is pending.
pub fn run_next_migration(conn: &mut DbConnection) -> anyhow::Result<Option<String>> {
    // A migration may change any data: cached answers are stale.
    let result = run_next_migration_unmarked(conn);
    bump_generation();
    result
}

fn run_next_migration_unmarked(conn: &mut DbConnection) -> anyhow::Result<Option<String>> {
    fn next<DB, C>(c: &mut C, source: EmbeddedMigrations) -> anyhow::Result<Option<String>>
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB>,
    {
        let pending = c
            .pending_migrations(source)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(migration) = pending.into_iter().next() else {
            return Ok(None);
        };
        let name = migration.name().to_string();
        c.run_migration(&*migration)
            .map_err(|e| anyhow::anyhow!("migration {name} failed: {e}"))?;
        Ok(Some(name))
    }
    match conn {
        DbConnection::Postgres(c) => next(c, POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(c) => next(c, SQLITE_MIGRATIONS),
    }
}

#[derive(diesel::QueryableByName)]
struct SchemaLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// A canonical text of the application schema (tables, columns, types,
/// nullability, defaults, indexes and constraints), to compare schemas
/// across a migration round trip. Diesel's own bookkeeping table is left out.
pub fn schema_fingerprint(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    let rows: Vec<SchemaLine> = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT type || ' ' || name || ' ON ' || tbl_name || ': ' || COALESCE(sql, '') AS line \
             FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '__diesel_schema_migrations%' ORDER BY type, name",
        )
        .load(c)?,
        DbConnection::Postgres(c) => diesel::sql_query(
            "SELECT line FROM ( \
               SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || \
                      ' null=' || is_nullable || ' default=' || COALESCE(column_default, '') || \
                      ' collation=' || COALESCE(collation_name, '') AS line \
               FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name <> '__diesel_schema_migrations' \
               UNION ALL \
               SELECT 'index ' || tablename || ': ' || indexdef FROM pg_indexes \
               WHERE schemaname = current_schema() AND tablename <> '__diesel_schema_migrations' \
               UNION ALL \
               SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ': ' || \
                      pg_get_constraintdef(oid) FROM pg_constraint \
               WHERE connamespace = current_schema()::regnamespace \
                 AND conrelid::regclass::text <> '__diesel_schema_migrations' \
             ) s ORDER BY line",
        )
        .load(c)?,
    };
    Ok(rows.into_iter().map(|r| r.line).collect())
}

#[cfg(test)]
mod optimize_tests {
    use super::*;

    #[derive(diesel::QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    fn range_plan(c: &mut SqliteConnection) -> String {
        diesel::sql_query(
            "EXPLAIN QUERY PLAN SELECT block FROM resource_fts_data WHERE id >= 5 AND id <= 9",
        )
        .load::<Plan>(c)
        .unwrap()
        .into_iter()
        .map(|p| p.detail)
        .collect::<Vec<_>>()
        .join("; ")
    }

    /// The first start of a new database analyses its nearly empty tables;
    /// FTS5's segment reads must stay range reads all the same (a scan of
    /// the segment table for each made a later bulk import quadratic).
    #[test]
    fn statistics_of_an_empty_search_index_are_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let mut conn =
            DbConnection::Sqlite(SqliteConnection::establish(&path.to_string_lossy()).unwrap());
        run_migrations(&mut conn).unwrap();
        let DbConnection::Sqlite(c) = &mut conn else {
            unreachable!()
        };
        // What PRAGMA optimize keeps for a table of two rows, as it did.
        c.batch_execute(
            "ANALYZE; INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('resource_fts_data', NULL, '2'); \
             ANALYZE sqlite_schema;",
        )
        .unwrap();
        assert!(
            range_plan(c).contains("SCAN"),
            "the trap is set: {}",
            range_plan(c)
        );
        for after_bulk in [false, true] {
            optimize(&mut conn, after_bulk).unwrap();
            let DbConnection::Sqlite(c) = &mut conn else {
                unreachable!()
            };
            let plan = range_plan(c);
            assert!(plan.contains("SEARCH"), "{plan}");
            // A new connection (another process) plans the same.
            let mut other = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            let plan = range_plan(&mut other);
            assert!(plan.contains("SEARCH"), "{plan}");
        }
    }
}
