//! Every migration goes up, down and up again on both backends, and the
//! schema after the round trip is the schema before it.

use kujenga::db::{
    ConnectionManager, revert_last_migration, run_migrations, run_next_migration,
    schema_fingerprint,
};

use crate::api_test;

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
        assert_ne!(&schema, schemas.last().unwrap(), "{name} changed nothing");
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
    assert_eq!(&schema_fingerprint(&mut conn).unwrap(), schemas.last().unwrap());
});

api_test!(migrations_on_start_up_are_idempotent, |backend| {
    let database = TestDatabase::new(backend).unwrap();
    let settings = database.settings();
    let manager = ConnectionManager::new(&settings).unwrap();
    let mut conn = manager.establish().unwrap();
    assert!(!run_migrations(&mut conn).unwrap().is_empty());
    assert!(run_migrations(&mut conn).unwrap().is_empty());
});
