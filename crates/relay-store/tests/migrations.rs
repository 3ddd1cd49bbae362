//! Opening, migrations, pragmas and the master key check.

use crate::common::{TempDir, KEY_A, KEY_B};
use relay_store::{migrate, CryptoError, HostRepository, KeySource, Store, StoreError};
use rusqlite::Connection;

const TABLES: &[&str] = &[
    "schema_version",
    "store_meta",
    "hosts",
    "host_capability_snapshots",
    "packs",
    "providers",
    "provider_installs",
    "import_batches",
    "import_batch_items",
    "managed_resources",
    "probe_results",
    "access_closure_records",
    "reconcile_runs",
    "managed_subscribers",
    "sealed_secrets",
];

fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn migrates_an_empty_directory_and_reopening_is_a_no_op() {
    let dir = TempDir::new("migrate");
    let data = dir.path().join("nested/data");
    let store = Store::open(&data, Some(KEY_A)).unwrap();
    assert_eq!(store.schema_version().unwrap(), migrate::latest_version());
    assert_eq!(store.db_path().unwrap(), data.join("relay.db"));
    drop(store);

    let conn = Connection::open(data.join("relay.db")).unwrap();
    let names = tables(&conn);
    for t in TABLES {
        assert!(names.iter().any(|n| n == t), "table {t} missing: {names:?}");
    }
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, migrate::MIGRATIONS.len() as i64);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let applied_at: i64 = conn
        .query_row("SELECT MAX(applied_at) FROM schema_version", [], |r| {
            r.get(0)
        })
        .unwrap();
    drop(conn);

    // Reopen: nothing applied again, same rows.
    let store = Store::open(&data, Some(KEY_A)).unwrap();
    assert_eq!(store.schema_version().unwrap(), migrate::latest_version());
    drop(store);
    let conn = Connection::open(data.join("relay.db")).unwrap();
    let (rows, again): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), MAX(applied_at) FROM schema_version",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(rows, migrate::MIGRATIONS.len() as i64);
    assert_eq!(again, applied_at);
}

#[test]
fn migrate_on_a_migrated_connection_applies_nothing() {
    let mut conn = Connection::open_in_memory().unwrap();
    assert_eq!(migrate::current_version(&conn).unwrap(), 0);
    let all: Vec<i64> = migrate::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(migrate::migrate(&mut conn).unwrap(), all);
    assert!(migrate::migrate(&mut conn).unwrap().is_empty());
    assert_eq!(
        migrate::current_version(&conn).unwrap(),
        migrate::latest_version()
    );
}

#[test]
fn a_version_1_database_is_upgraded_in_place() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL);",
    )
    .unwrap();
    conn.execute_batch(migrate::MIGRATIONS[0].sql).unwrap();
    conn.execute(
        "INSERT INTO schema_version (version, description, applied_at) VALUES (1, 'initial schema', 0)",
        [],
    )
    .unwrap();
    assert_eq!(migrate::current_version(&conn).unwrap(), 1);
    assert_eq!(
        migrate::migrate(&mut conn).unwrap(),
        vec![2, 3, 4, 5, 6, 7, 8, 9, 10]
    );
    let has_report: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('reconcile_runs') WHERE name = 'report'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(has_report, 1);
}

#[test]
fn migration_6_carries_the_batch_counts_into_their_own_row() {
    let dir = TempDir::new("counts-migrate");
    {
        let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
        crate::common::seeded(&store);
    }
    // Make it a database of schema 5 with a batch whose counts are in its row.
    let conn = Connection::open(dir.path().join("relay.db")).unwrap();
    conn.execute_batch(
        "DROP TABLE import_batch_counts;
         ALTER TABLE import_batches ADD COLUMN total_count INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE import_batches ADD COLUMN passed_count INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE import_batches ADD COLUMN warning_count INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE import_batches ADD COLUMN failed_count INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE import_batches ADD COLUMN skipped_count INTEGER NOT NULL DEFAULT 0;
         INSERT INTO import_batches (id, host_id, pack_id, provider_id, mode, access_mode,
                                     status, total_count, passed_count, warning_count,
                                     failed_count, skipped_count, created_at, updated_at)
         VALUES ('batch_1', 'host_1', 'cn', 'deepseek', 'partial', 'subscription',
                 'partially_succeeded', 7, 3, 1, 2, 1, 10, 20);
         DROP TABLE key_health; DROP TABLE leases; DROP TABLE audit_events; DROP TABLE operation_records; DROP TABLE model_drift_checks;
         DELETE FROM schema_version WHERE version >= 6;",
    )
    .unwrap();
    drop(conn);
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    assert_eq!(store.schema_version().unwrap(), migrate::latest_version());
    let batch =
        relay_store::BatchRepository::get(&store.batches(), &relay_domain::BatchId::new("batch_1"))
            .unwrap();
    assert_eq!(
        (
            batch.counts.total,
            batch.counts.passed,
            batch.counts.warning,
            batch.counts.failed,
            batch.counts.skipped
        ),
        (7, 3, 1, 2, 1)
    );
    assert_eq!(batch.updated_at.0, 20);
    let conn = Connection::open(dir.path().join("relay.db")).unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('import_batches') WHERE name LIKE '%_count'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "the counts live in one place only");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new("newer");
    drop(Store::open(dir.path(), Some(KEY_A)).unwrap());
    let conn = Connection::open(dir.path().join("relay.db")).unwrap();
    conn.execute(
        "INSERT INTO schema_version (version, description, applied_at) VALUES (999, 'future', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    match Store::open(dir.path(), Some(KEY_A)) {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!(found, 999);
            assert_eq!(known, migrate::latest_version());
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn every_connection_has_foreign_keys_wal_and_a_busy_timeout() {
    let dir = TempDir::new("pragmas");
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    for p in [
        store.writer_pragmas().unwrap(),
        store.reader_pragmas().unwrap(),
    ] {
        assert!(p.foreign_keys);
        assert_eq!(p.journal_mode, "wal");
        assert_eq!(
            p.busy_timeout_ms,
            relay_store::BUSY_TIMEOUT.as_millis() as i64
        );
    }
    assert!(store.reader_pragmas().unwrap().read_only);
    assert!(!store.writer_pragmas().unwrap().read_only);
}

#[test]
fn master_key_file_is_created_0600_and_reused() {
    let dir = TempDir::new("keyfile");
    let store = Store::open(dir.path(), None).unwrap();
    let path = dir.path().join("master.key");
    match store.key_source() {
        KeySource::KeyFile { path: p, created } => {
            assert_eq!(p, &path);
            assert!(*created);
        }
        other => panic!("unexpected key source {other:?}"),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let key = relay_store::MasterKey::from_base64(&text).unwrap();
    assert_eq!(store.key_id(), key.key_id());
    drop(store);

    let store = Store::open(dir.path(), None).unwrap();
    assert!(matches!(
        store.key_source(),
        KeySource::KeyFile { created: false, .. }
    ));
    // The file's key is the database's key: supplying it explicitly also works.
    drop(store);
    assert!(Store::open(dir.path(), Some(text.trim())).is_ok());
}

#[cfg(unix)]
#[test]
fn a_loose_key_file_or_data_directory_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("loose");
    drop(Store::open(dir.path(), None).unwrap());
    let path = dir.path().join("master.key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Store::open(dir.path(), None).unwrap_err();
    assert!(
        matches!(err, StoreError::LoosePermissions { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("chmod 600 {}", path.display())),
        "{err}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
    let err = Store::open(dir.path(), None).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("chmod 700 {}", dir.path().display())),
        "{err}"
    );
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(Store::open(dir.path(), None).is_ok());
}

#[cfg(unix)]
#[test]
fn database_files_are_owner_only_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("dbmodes");
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    // A write makes sure the WAL and shared-memory files exist.
    store
        .hosts()
        .create(&crate::common::new_host("host_m", "modes"))
        .unwrap();
    for name in ["relay.db", "relay.db-wal", "relay.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    assert!(store.tightened_files().is_empty());
    drop(store);
    // A database file left 0644 by an earlier release is set to 0600 and reported.
    let db = dir.path().join("relay.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    assert_eq!(store.tightened_files(), std::slice::from_ref(&db));
    let mode = std::fs::metadata(&db).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_second_open_of_a_data_directory_in_use_is_refused() {
    let dir = TempDir::new("locked");
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    match Store::open(dir.path(), Some(KEY_A)) {
        Err(StoreError::DataDirLocked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("expected DataDirLocked, got {other:?}"),
    }
    drop(store);
    assert!(Store::open(dir.path(), Some(KEY_A)).is_ok());
}

#[test]
fn a_missing_key_file_is_never_regenerated_for_sealed_data() {
    let dir = TempDir::new("missingkey");
    let store = Store::open(dir.path(), None).unwrap();
    let key_id = store.key_id().to_string();
    drop(store);
    let path = dir.path().join("master.key");
    std::fs::remove_file(&path).unwrap();
    match Store::open(dir.path(), None) {
        Err(StoreError::Crypto(CryptoError::MissingMasterKey { path: p, expected })) => {
            assert!(p.ends_with("master.key"));
            assert_eq!(expected, key_id);
        }
        other => panic!("expected MissingMasterKey, got {other:?}"),
    }
    assert!(!path.exists(), "no key file is generated");
    let msg = Store::open(dir.path(), None).unwrap_err().to_string();
    assert!(
        msg.contains("restore master.key") && msg.contains("RELAY_MASTER_KEY"),
        "{msg}"
    );
}

#[test]
fn a_garbage_key_file_is_a_typed_error() {
    let dir = TempDir::new("badkey");
    let path = dir.path().join("master.key");
    std::fs::write(&path, "definitely not a key").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    match Store::open(dir.path(), None) {
        Err(StoreError::Crypto(CryptoError::KeyFile { path, .. })) => {
            assert!(path.ends_with("master.key"));
        }
        other => panic!("expected KeyFile error, got {other:?}"),
    }
}

#[test]
fn a_different_master_key_is_refused_at_open() {
    let dir = TempDir::new("wrongkey");
    drop(Store::open(dir.path(), Some(KEY_A)).unwrap());
    let a = relay_store::MasterKey::from_base64(KEY_A).unwrap().key_id();
    let b = relay_store::MasterKey::from_base64(KEY_B).unwrap().key_id();
    match Store::open(dir.path(), Some(KEY_B)) {
        Err(StoreError::Crypto(CryptoError::WrongMasterKey { supplied, expected })) => {
            assert_eq!(supplied, b);
            assert_eq!(expected, Some(a));
        }
        other => panic!("expected WrongMasterKey, got {other:?}"),
    }
    // And an invalid one never gets that far.
    assert!(matches!(
        Store::open(dir.path(), Some("c2hvcnQ=")),
        Err(StoreError::Crypto(CryptoError::InvalidMasterKey { .. }))
    ));
    assert!(Store::open(dir.path(), Some(KEY_A)).is_ok());
}

#[test]
fn a_wrong_key_is_refused_before_any_migration() {
    let dir = TempDir::new("wrongkey-migrate");
    drop(Store::open(dir.path(), Some(KEY_A)).unwrap());
    // Make it a database of the previous schema version.
    let conn = Connection::open(dir.path().join("relay.db")).unwrap();
    conn.execute_batch(
        "ALTER TABLE reconcile_runs DROP COLUMN report;
         DROP TABLE import_run_item_events; DROP TABLE import_run_item_keys;
         DROP TABLE import_run_items; DROP TABLE import_runs;
         DROP TABLE import_batch_counts;
         ALTER TABLE import_batches ADD COLUMN total_count INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE import_batches ADD COLUMN passed_count INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE import_batches ADD COLUMN warning_count INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE import_batches ADD COLUMN failed_count INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE import_batches ADD COLUMN skipped_count INTEGER NOT NULL DEFAULT 0;
         DROP TABLE key_health; DROP TABLE leases; DROP TABLE audit_events; DROP TABLE operation_records; DROP TABLE model_drift_checks;
         DELETE FROM schema_version WHERE version >= 2;",
    )
    .unwrap();
    drop(conn);
    let version = |dir: &TempDir| -> i64 {
        let conn = Connection::open(dir.path().join("relay.db")).unwrap();
        migrate::current_version(&conn).unwrap()
    };
    assert_eq!(version(&dir), 1);
    assert!(matches!(
        Store::open(dir.path(), Some(KEY_B)),
        Err(StoreError::Crypto(CryptoError::WrongMasterKey { .. }))
    ));
    assert_eq!(version(&dir), 1, "the wrong key changed the schema");
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    assert_eq!(store.schema_version().unwrap(), migrate::latest_version());
}

#[test]
fn in_memory_store_is_migrated() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.schema_version().unwrap(), migrate::latest_version());
    assert!(store.db_path().is_none());
    assert_eq!(store.key_source(), &KeySource::Ephemeral);
}

#[test]
fn concurrent_writers_and_readers_share_one_file_store() {
    use relay_store::NewHost;
    let dir = TempDir::new("concurrent");
    let store = Store::open(dir.path(), Some(KEY_A)).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let id = format!("host_{t}_{i}");
                    let host: NewHost = crate::common::new_host(&id, &id);
                    store.hosts().create(&host).unwrap();
                    // Reads see committed writes (read pool, separate connections).
                    assert_eq!(store.hosts().get(&host.id).unwrap().name, id);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.hosts().list().unwrap().len(), 100);
}
