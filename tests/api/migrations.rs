//! Every migration goes up, down and up again on both backends, and the
//! schema after the round trip is the schema before it.

use kujenga::db::{
    ConnectionManager, revert_last_migration, run_migrations, run_next_migration,
    schema_fingerprint,
};

use crate::api_test;
use crate::helpers::{Backend, TestDatabase};

/// Migrations that only change data (backfills): their effect is tested
/// where the data is read (`frontend_duration`).
const DATA_ONLY: &[&str] = &["2026-12-09-120000_duration_terms"];

/// Migrations that change PostgreSQL's schema only (SQLite has it already).
const POSTGRES_ONLY: &[&str] = &["2026-12-10-130000_terms_binary_order"];

api_test!(migrations_round_trip, |backend| {
    let database = TestDatabase::new(backend).unwrap();
    let mut settings = database.settings();
    settings.database.run_migrations = false;
    let manager = ConnectionManager::new(&settings).unwrap();
    let mut conn = manager.establish().unwrap();

    let mut schemas = vec![schema_fingerprint(&mut conn).unwrap()];
    assert!(schemas[0].is_empty(), "fresh database: {:?}", schemas[0]);
    let mut names = Vec::new();
    while let Some(name) = run_next_migration(&mut conn).unwrap() {
        let schema = schema_fingerprint(&mut conn).unwrap();
        if DATA_ONLY.contains(&name.as_str())
            || (backend == Backend::Sqlite && POSTGRES_ONLY.contains(&name.as_str()))
        {
            assert_eq!(
                &schema,
                schemas.last().unwrap(),
                "{name} changed the schema"
            );
        } else {
            assert_ne!(&schema, schemas.last().unwrap(), "{name} changed nothing");
        }
        schemas.push(schema);
        names.push(name);
    }
    assert!(!names.is_empty());

    // Down, one at a time: each revert restores the schema before it.
    for i in (0..names.len()).rev() {
        let reverted = revert_last_migration(&mut conn).unwrap();
        assert_eq!(reverted.as_deref(), Some(names[i].as_str()));
        assert_eq!(
            schema_fingerprint(&mut conn).unwrap(),
            schemas[i],
            "after reverting {}",
            names[i]
        );
    }
    assert_eq!(revert_last_migration(&mut conn).unwrap(), None);

    // And up again, to the same schema.
    let applied = run_migrations(&mut conn).unwrap();
    assert_eq!(applied.len(), names.len());
    assert_eq!(
        &schema_fingerprint(&mut conn).unwrap(),
        schemas.last().unwrap()
    );
});

api_test!(migrations_on_start_up_are_idempotent, |backend| {
    let database = TestDatabase::new(backend).unwrap();
    let settings = database.settings();
    let manager = ConnectionManager::new(&settings).unwrap();
    let mut conn = manager.establish().unwrap();
    assert!(!run_migrations(&mut conn).unwrap().is_empty());
    assert!(run_migrations(&mut conn).unwrap().is_empty());
});

#[test]
fn sqlite_connections_get_their_pragmas() {
    use diesel::RunQueryDsl;
    use kujenga::db::DbConnection;

    #[derive(diesel::QueryableByName)]
    struct Value {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let database = TestDatabase::new(Backend::Sqlite).unwrap();
    let mut settings = database.settings();
    settings.database.sqlite_busy_timeout_ms = 4321;
    let db = kujenga::db::Db::connect(&settings).unwrap();
    // Every pooled connection, not just the first one.
    let mut held = Vec::new();
    for _ in 0..settings.database.pool_size {
        held.push(db.pool().get().unwrap());
    }
    for conn in &mut held {
        let DbConnection::Sqlite(c) = &mut **conn else {
            panic!("expected SQLite")
        };
        let mut pragma = |name: &str| -> String {
            diesel::sql_query(format!(
                "SELECT CAST((SELECT * FROM pragma_{name}) AS TEXT) AS value"
            ))
            .get_result::<Value>(c)
            .unwrap()
            .value
        };
        assert_eq!(pragma("journal_mode"), "wal");
        assert_eq!(pragma("foreign_keys"), "1");
        assert_eq!(pragma("busy_timeout"), "4321");
        assert_eq!(pragma("synchronous"), "1", "NORMAL");
    }
}

api_test!(start_up_can_leave_migrations_to_the_operator, |backend| {
    let database = TestDatabase::new(backend).unwrap();
    let mut settings = database.settings();
    settings.database.run_migrations = false;
    let db = kujenga::db::Db::connect(&settings).unwrap();
    let schema = db.run(schema_fingerprint).await.unwrap();
    assert!(schema.is_empty(), "nothing migrated: {schema:?}");
});

api_test!(
    a_connection_that_panicked_mid_transaction_is_not_reused,
    |backend| {
        use diesel::Connection;
        let database = TestDatabase::new(backend).unwrap();
        let mut settings = database.settings();
        settings.database.pool_size = 1;
        let db = kujenga::db::Db::connect(&settings).unwrap();
        let failed = db
            .run(|conn| {
                conn.transaction::<(), diesel::result::Error, _>(|_| {
                    panic!("a bug inside a transaction")
                })
            })
            .await;
        assert!(failed.is_err());
        // The only pooled connection must not come back inside a transaction.
        let ok = db
        .run(|conn| {
            use diesel::connection::TransactionManager;
            let depth = <kujenga::db::DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn)
                .transaction_depth()
                .map(|d| d.map_or(0, |n| n.get()));
            Ok::<_, diesel::result::Error>(depth)
        })
        .await
        .unwrap();
        assert_eq!(ok.unwrap(), 0);
    }
);
