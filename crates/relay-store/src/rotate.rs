//! Master-key rotation: every sealed value re-sealed under a new key, offline.
//!
//! Run with the server stopped (the data directory's lock enforces it). Three
//! phases, each safe to interrupt:
//!
//! 1. **next key** (key-file mode only): the new key is written atomically to
//!    `master.key.next` (`0600`) — generated, or the operator's `--new-key-file`.
//!    From now on every open of the store has both keys in its ring.
//! 2. **re-seal**: one `BEGIN IMMEDIATE` transaction opens every sealed value with
//!    the key its key id names (legacy `v1:` values with whichever key opens them),
//!    seals it under the new key, checks the new value opens with the new key alone,
//!    and re-seals the store's check value last. Either every value moves or none.
//! 3. **promote** (key-file mode only): `master.key.next` is renamed over
//!    `master.key`.
//!
//! An interruption after phase 1 leaves the database under the old key (the server
//! starts as before, with a warning); after phase 2 the database is under the new
//! key and the server opens it with `master.key.next`. Running the rotation again
//! finishes from where it stopped, with the same new key. With a supplied key
//! (`RELAY_MASTER_KEY`) there is no key file: the operator gives the new key as a
//! file, phase 2 runs with both keys in the ring, and the operator then sets
//! `RELAY_MASTER_KEY` to the new key. Running it again with the old variable and the
//! same file re-seals nothing and says so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::db::params;
use relay_domain::{HostId, Secret};

use crate::crypto::{
    read_key_file, KeySource, MasterKey, SealedFormat, Sealer, KEY_FILE_NAME, NEXT_KEY_FILE_NAME,
};
use crate::error::{CryptoError, Result, StoreError};
use crate::files::{self, DataDir};
use crate::repo::{admin_aad, password_aad, run_item_key_aad, sealed_secret_aad};
use crate::store::{key_file_ring, KeyRing, Store, KEY_CHECK_AAD, KEY_CHECK_META};

/// How many sealed values a rotation moved to the new key, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResealCounts {
    /// Host admin credentials (`hosts.admin_secret_sealed`).
    pub host_credentials: usize,
    /// Managed subscriber passwords (`managed_subscribers.password_sealed`).
    pub subscriber_passwords: usize,
    /// Probe keys and subscriber user keys (`sealed_secrets.sealed_value`).
    pub sealed_secrets: usize,
    /// Keys of batch auto-import items kept until their account exists
    /// (`import_run_item_keys.key_sealed`).
    pub run_item_keys: usize,
    /// Values already sealed under the new key (an earlier run committed them).
    pub already_current: usize,
}

impl ResealCounts {
    /// Values re-sealed by this run.
    pub fn resealed(&self) -> usize {
        self.host_credentials + self.subscriber_passwords + self.sealed_secrets + self.run_item_keys
    }
}

/// The outcome of [`rotate_master_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Key ids the re-sealed values were sealed with (`legacy` for `v1:` values
    /// opened with a key of the ring; each key is named by its id).
    pub old_key_ids: Vec<String>,
    /// Id of the key every value is now sealed with.
    pub new_key_id: String,
    /// What was re-sealed.
    pub counts: ResealCounts,
    /// Key-file mode: the key file that now holds the new key. `None` when the key
    /// is supplied (`RELAY_MASTER_KEY` must be set to the new key).
    pub key_file: Option<PathBuf>,
}

/// Re-seals every sealed value of the store in `data_dir` under a new master key.
///
/// `current_key_b64` is the supplied key (`RELAY_MASTER_KEY`), `None` for the key
/// file. `new_key` is required with a supplied key; in key-file mode it is
/// generated when `None` (or taken from an unfinished rotation's
/// `master.key.next`). See the module documentation for the phases.
pub fn rotate_master_key(
    data_dir: &Path,
    current_key_b64: Option<&str>,
    new_key: Option<MasterKey>,
) -> Result<RotationReport> {
    rotate_master_key_in(data_dir, None, current_key_b64, new_key)
}

/// [`rotate_master_key`] for the store of `data_dir` whose data lives in the
/// PostgreSQL database of `database_url` (`None`: the data directory's SQLite file).
/// Every server sharing that database must be stopped first: the data directory's
/// lock only keeps this one away.
pub fn rotate_master_key_in(
    data_dir: &Path,
    database_url: Option<&str>,
    current_key_b64: Option<&str>,
    new_key: Option<MasterKey>,
) -> Result<RotationReport> {
    let dir = DataDir::open(data_dir)?;
    let open =
        |dir: DataDir, resolve: &dyn Fn(&Path, Option<&str>) -> Result<KeyRing>| -> Result<Store> {
            match database_url {
                Some(url) => Store::open_postgres_in(dir, url, resolve),
                None => Store::open_in(dir, resolve),
            }
        };
    match current_key_b64 {
        None => {
            let next = prepare_next_key(dir.path(), new_key)?;
            let store = open(dir, &key_file_ring)?;
            let (counts, old_key_ids) = reseal_all(&store, &next)?;
            let key_file = promote_next_key(data_dir)?;
            Ok(RotationReport {
                old_key_ids,
                new_key_id: next.key_id(),
                counts,
                key_file: Some(key_file),
            })
        }
        Some(b64) => {
            let current = MasterKey::from_base64(b64)?;
            let next = new_key.ok_or_else(|| CryptoError::InvalidMasterKey {
                reason: "the new key is required when the current one is supplied \
                         (RELAY_MASTER_KEY): pass --new-key-file"
                    .into(),
            })?;
            let keys = vec![current, next.clone()];
            let store = open(dir, &|_, _| {
                Ok(KeyRing {
                    keys: keys.clone(),
                    source: KeySource::Supplied,
                    pending_rotation: false,
                })
            })?;
            let (counts, old_key_ids) = reseal_all(&store, &next)?;
            Ok(RotationReport {
                old_key_ids,
                new_key_id: next.key_id(),
                counts,
                key_file: None,
            })
        }
    }
}

/// Phase 1: the next key in `master.key.next` (kept when an unfinished rotation
/// left one; refused when it differs from `new_key`).
pub(crate) fn prepare_next_key(dir: &Path, new_key: Option<MasterKey>) -> Result<MasterKey> {
    let key_path = dir.join(KEY_FILE_NAME);
    let next_path = dir.join(NEXT_KEY_FILE_NAME);
    let current = read_key_file(&key_path)?.ok_or_else(|| CryptoError::KeyFile {
        path: key_path.display().to_string(),
        reason: "does not exist: nothing to rotate (when the key is supplied with \
                 RELAY_MASTER_KEY, run the rotation with that variable set)"
            .into(),
    })?;
    if let Some(pending) = read_key_file(&next_path)? {
        if let Some(given) = &new_key {
            if *given != pending {
                return Err(CryptoError::KeyFile {
                    path: next_path.display().to_string(),
                    reason: format!(
                        "an unfinished rotation to key id {} is pending: run the rotation \
                         again without a new key file to finish it first",
                        pending.key_id()
                    ),
                }
                .into());
            }
        }
        return Ok(pending);
    }
    let next = new_key.unwrap_or_else(MasterKey::generate);
    if next == current {
        return Err(CryptoError::InvalidMasterKey {
            reason: "the new key is the current key".into(),
        }
        .into());
    }
    let line = Secret::new(format!("{}\n", next.to_base64().expose()));
    if !files::create_private_file(&next_path, line.expose().as_bytes())? {
        return Err(CryptoError::KeyFile {
            path: next_path.display().to_string(),
            reason: "appeared while the rotation was starting".into(),
        }
        .into());
    }
    Ok(next)
}

/// Phase 3: `master.key.next` becomes `master.key`. Returns the key file's path.
pub(crate) fn promote_next_key(dir: &Path) -> Result<PathBuf> {
    let key_path = dir.join(KEY_FILE_NAME);
    let next_path = dir.join(NEXT_KEY_FILE_NAME);
    if next_path.exists() {
        files::rename_synced(&next_path, &key_path)?;
    }
    Ok(key_path)
}

/// A sealed value to move: where it is, its associated data and the value.
struct SealedRow {
    label: String,
    aad: String,
    sealed: String,
    update: Update,
}

enum Update {
    Host(String),
    Subscriber(i64),
    Secret(i64),
    RunItemKey(String),
    Check,
}

/// Phase 2: re-seals every value of `store` under `next` in one transaction.
/// `store` must have the value's keys in its ring (it opens them); afterwards it
/// must not seal again (its sealing key is stale): drop it.
pub(crate) fn reseal_all(store: &Store, next: &MasterKey) -> Result<(ResealCounts, Vec<String>)> {
    let ring = store.sealer().clone();
    let target = Sealer::new(next);
    let target_id = target.key_id().to_string();
    store.write(|tx| {
        let mut rows = Vec::new();
        {
            let mut stmt = tx.prepare("SELECT id, admin_secret_sealed FROM hosts ORDER BY id")?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                let id: String = r.get(0)?;
                rows.push(SealedRow {
                    label: format!("hosts `{id}` admin_secret_sealed"),
                    aad: admin_aad(&HostId::new(id.clone())),
                    sealed: r.get(1)?,
                    update: Update::Host(id),
                });
            }
            let mut stmt = tx.prepare(
                "SELECT id, host_id, email, password_sealed FROM managed_subscribers ORDER BY id",
            )?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                let id: i64 = r.get(0)?;
                let host: String = r.get(1)?;
                let email: String = r.get(2)?;
                rows.push(SealedRow {
                    label: format!("managed_subscribers {id} password_sealed"),
                    aad: password_aad(&host, &email),
                    sealed: r.get(3)?,
                    update: Update::Subscriber(id),
                });
            }
            let mut stmt = tx.prepare(
                "SELECT id, owner_kind, owner_id, purpose, sealed_value FROM sealed_secrets \
                 ORDER BY id",
            )?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                let rowid: i64 = r.get(0)?;
                let kind: String = r.get(1)?;
                let owner: String = r.get(2)?;
                let purpose: String = r.get(3)?;
                rows.push(SealedRow {
                    label: format!("sealed_secrets {kind}/{owner}/{purpose}"),
                    aad: sealed_secret_aad(&kind, &owner, &purpose),
                    sealed: r.get(4)?,
                    update: Update::Secret(rowid),
                });
            }
            let mut stmt = tx
                .prepare("SELECT item_id, key_sealed FROM import_run_item_keys ORDER BY item_id")?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                let item_id: String = r.get(0)?;
                rows.push(SealedRow {
                    label: format!("import_run_item_keys `{item_id}` key_sealed"),
                    aad: run_item_key_aad(&item_id),
                    sealed: r.get(1)?,
                    update: Update::RunItemKey(item_id),
                });
            }
            // The check value last: it names the key the database is sealed with.
            let check: String = tx.query_row(
                "SELECT value FROM store_meta WHERE key = ?1",
                [KEY_CHECK_META],
                |r| r.get(0),
            )?;
            rows.push(SealedRow {
                label: "store_meta master_key_check".into(),
                aad: KEY_CHECK_AAD.into(),
                sealed: check,
                update: Update::Check,
            });
        }
        let mut counts = ResealCounts::default();
        let mut old_ids = BTreeSet::new();
        for row in rows {
            let (secret, opened_by) =
                ring.open_with_key_id(&row.sealed, &row.aad)
                    .map_err(|e| StoreError::Corrupt {
                        what: format!("{}: {e}", row.label),
                    })?;
            let current_format = matches!(
                Sealer::format_of(&row.sealed),
                Ok(SealedFormat::V2 { key_id }) if key_id == target_id
            );
            if current_format {
                counts.already_current += 1;
                continue;
            }
            old_ids.insert(match Sealer::format_of(&row.sealed) {
                Ok(SealedFormat::V1) => format!("{opened_by} (legacy v1)"),
                _ => opened_by,
            });
            let resealed = target.seal(&secret, &row.aad)?;
            let back = target.open(&resealed, &row.aad)?;
            if back.expose() != secret.expose() {
                return Err(StoreError::Corrupt {
                    what: format!(
                        "{}: the re-sealed value does not open to the same secret",
                        row.label
                    ),
                });
            }
            match &row.update {
                Update::Host(id) => {
                    tx.execute(
                        "UPDATE hosts SET admin_secret_sealed = ?2 WHERE id = ?1",
                        params![id, resealed],
                    )?;
                    counts.host_credentials += 1;
                }
                Update::Subscriber(id) => {
                    tx.execute(
                        "UPDATE managed_subscribers SET password_sealed = ?2 WHERE id = ?1",
                        params![id, resealed],
                    )?;
                    counts.subscriber_passwords += 1;
                }
                Update::Secret(rowid) => {
                    tx.execute(
                        "UPDATE sealed_secrets SET sealed_value = ?2 WHERE id = ?1",
                        params![rowid, resealed],
                    )?;
                    counts.sealed_secrets += 1;
                }
                Update::RunItemKey(item_id) => {
                    tx.execute(
                        "UPDATE import_run_item_keys SET key_sealed = ?2 WHERE item_id = ?1",
                        params![item_id, resealed],
                    )?;
                    counts.run_item_keys += 1;
                }
                Update::Check => {
                    tx.execute(
                        "UPDATE store_meta SET value = ?2 WHERE key = ?1",
                        params![KEY_CHECK_META, resealed],
                    )?;
                }
            }
        }
        Ok((counts, old_ids.into_iter().collect()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{HostAuthKind, NewHost, SecretSlot};
    use crate::repo::{HostRepository, SecretRepository, SubscriberRepository};
    use relay_domain::HostStatus;

    /// One sealed column of the schema, with how to rebuild each row's associated data.
    struct SealedColumn {
        table: &'static str,
        column: &'static str,
    }

    /// Every sealed column `reseal_all` moves (checked against the schema below).
    const SEALED_COLUMNS: &[SealedColumn] = &[
        SealedColumn {
            table: "hosts",
            column: "admin_secret_sealed",
        },
        SealedColumn {
            table: "managed_subscribers",
            column: "password_sealed",
        },
        SealedColumn {
            table: "sealed_secrets",
            column: "sealed_value",
        },
        SealedColumn {
            table: "import_run_item_keys",
            column: "key_sealed",
        },
    ];

    fn temp(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "relay-store-rotate-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ))
    }

    const ADMIN: &str = "admin-0123456789abcdef0123456789abcdef";
    const PASSWORD: &str = "crm-password-0123456789abcdef";
    const USER_KEY: &str = "sk-user-key-0123456789abcdef0123";

    /// A store with one of every sealed value.
    fn populate(dir: &Path, key: Option<&str>) -> String {
        let store = Store::open(dir, key).unwrap();
        let host = HostId::new("host_a");
        store
            .hosts()
            .create(&NewHost {
                id: host.clone(),
                name: "main".into(),
                base_url: "http://127.0.0.1:1".into(),
                auth_kind: HostAuthKind::ApiKey,
                admin_email: None,
                admin_secret: Secret::new(ADMIN),
                version: None,
                status: HostStatus::Supported,
            })
            .unwrap();
        let sub = store
            .subscribers()
            .upsert(&host, "alice@example.com", &Secret::new(PASSWORD), Some(7))
            .unwrap();
        store
            .secrets()
            .put(
                &SecretSlot::subscriber_user_key(sub.id, "user_key:1"),
                &Secret::new(USER_KEY),
            )
            .unwrap();
        store.key_id().to_string()
    }

    /// Every sealed value of the database file, read without a store.
    fn sealed_values(dir: &Path) -> Vec<String> {
        let conn = rusqlite::Connection::open(dir.join(crate::DB_FILE_NAME)).unwrap();
        let mut out = Vec::new();
        for c in SEALED_COLUMNS {
            let mut stmt = conn
                .prepare(&format!("SELECT {} FROM {}", c.column, c.table))
                .unwrap();
            let vals: Vec<String> = stmt
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<std::result::Result<_, _>>()
                .unwrap();
            out.extend(vals);
        }
        out.push(
            conn.query_row(
                "SELECT value FROM store_meta WHERE key = ?1",
                [KEY_CHECK_META],
                |r| r.get(0),
            )
            .unwrap(),
        );
        out
    }

    fn assert_all_sealed_with(dir: &Path, key_id: &str) {
        let values = sealed_values(dir);
        assert_eq!(values.len(), 4, "{values:?}");
        for v in values {
            assert!(v.starts_with(&format!("v2:{key_id}:")), "{v}");
        }
    }

    fn assert_secrets_open(store: &Store) {
        let host = HostId::new("host_a");
        assert_eq!(store.hosts().admin_secret(&host).unwrap().expose(), ADMIN);
        let sub = store
            .subscribers()
            .find_by_email(&host, "alice@example.com")
            .unwrap()
            .unwrap();
        assert_eq!(
            store.subscribers().password(sub.id).unwrap().expose(),
            PASSWORD
        );
        let key = store
            .secrets()
            .get(&SecretSlot::subscriber_user_key(sub.id, "user_key:1"))
            .unwrap()
            .unwrap();
        assert_eq!(key.expose(), USER_KEY);
    }

    #[test]
    fn every_sealed_column_of_the_schema_is_rotated() {
        let store = Store::open_in_memory().unwrap();
        let listed: BTreeSet<String> = SEALED_COLUMNS
            .iter()
            .map(|c| format!("{}.{}", c.table, c.column))
            .collect();
        let found: BTreeSet<String> = store
            .read(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
                     WHERE m.type = 'table' AND p.name LIKE '%sealed%'",
                )?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<crate::db::DbResult<_>>()?)
            })
            .unwrap();
        assert_eq!(found, listed);
    }

    #[test]
    fn key_file_rotation_reseals_everything_and_the_old_key_opens_nothing() {
        let dir = temp("keyfile");
        let old_id = populate(&dir, None);
        let old_key = read_key_file(&dir.join(KEY_FILE_NAME)).unwrap().unwrap();
        let report = rotate_master_key(&dir, None, None).unwrap();
        assert_eq!(report.old_key_ids, vec![old_id.clone()]);
        assert_ne!(report.new_key_id, old_id);
        assert_eq!(
            report.counts,
            ResealCounts {
                host_credentials: 1,
                subscriber_passwords: 1,
                sealed_secrets: 1,
                run_item_keys: 0,
                already_current: 0
            }
        );
        assert!(!dir.join(NEXT_KEY_FILE_NAME).exists());
        let new_key = read_key_file(&dir.join(KEY_FILE_NAME)).unwrap().unwrap();
        assert_eq!(new_key.key_id(), report.new_key_id);
        assert_all_sealed_with(&dir, &report.new_key_id);
        // The new key alone opens every value.
        let store = Store::open(&dir, None).unwrap();
        assert_eq!(store.key_id(), report.new_key_id);
        assert!(!store.pending_rotation());
        assert_secrets_open(&store);
        drop(store);
        // The old key opens nothing any more: the store refuses it.
        match Store::open(&dir, Some(old_key.to_base64().expose())) {
            Err(StoreError::Crypto(CryptoError::WrongMasterKey { expected, .. })) => {
                assert_eq!(expected.as_deref(), Some(report.new_key_id.as_str()))
            }
            other => panic!("expected WrongMasterKey, got {other:?}"),
        }
        let old = Sealer::new(&old_key);
        for v in sealed_values(&dir) {
            assert!(old.open(&v, "any").is_err());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_rotation_interrupted_after_the_next_key_is_written_finishes_with_that_key() {
        let dir = temp("crash1");
        let old_id = populate(&dir, None);
        // Phase 1 only, then the process dies.
        let next = {
            let d = DataDir::open(&dir).unwrap();
            prepare_next_key(d.path(), None).unwrap()
        };
        // The server still starts: the database is under the old key, the next key
        // is in the ring, and the store says a rotation is pending.
        let store = Store::open(&dir, None).unwrap();
        assert!(store.pending_rotation());
        assert_eq!(store.key_id(), old_id);
        assert_secrets_open(&store);
        drop(store);
        // A different new key is refused while that rotation is unfinished.
        let err = rotate_master_key(&dir, None, Some(MasterKey::generate())).unwrap_err();
        assert!(err.to_string().contains("unfinished rotation"), "{err}");
        // Running it again finishes with the pending key.
        let report = rotate_master_key(&dir, None, None).unwrap();
        assert_eq!(report.new_key_id, next.key_id());
        assert_eq!(report.counts.resealed(), 3);
        assert_all_sealed_with(&dir, &next.key_id());
        assert_secrets_open(&Store::open(&dir, None).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_rotation_interrupted_after_the_reseal_opens_with_the_next_key_and_finishes() {
        let dir = temp("crash2");
        populate(&dir, None);
        let old_key = read_key_file(&dir.join(KEY_FILE_NAME)).unwrap().unwrap();
        // Phases 1 and 2, then the process dies before the key file is promoted.
        let next = {
            let d = DataDir::open(&dir).unwrap();
            let next = prepare_next_key(d.path(), None).unwrap();
            let store = Store::open_in(d, key_file_ring).unwrap();
            let (counts, _) = reseal_all(&store, &next).unwrap();
            assert_eq!(counts.resealed(), 3);
            next
        };
        assert_all_sealed_with(&dir, &next.key_id());
        assert_eq!(
            read_key_file(&dir.join(KEY_FILE_NAME)).unwrap().unwrap(),
            old_key
        );
        // The server starts with the next key from master.key.next.
        let store = Store::open(&dir, None).unwrap();
        assert_eq!(store.key_id(), next.key_id());
        assert!(store.pending_rotation());
        assert_secrets_open(&store);
        drop(store);
        // The old key alone is refused.
        assert!(Store::open(&dir, Some(old_key.to_base64().expose())).is_err());
        // Running the rotation again re-seals nothing and promotes the key file.
        let report = rotate_master_key(&dir, None, None).unwrap();
        assert_eq!(report.counts.resealed(), 0);
        assert_eq!(report.counts.already_current, 4);
        assert_eq!(
            read_key_file(&dir.join(KEY_FILE_NAME)).unwrap().unwrap(),
            next
        );
        assert!(!dir.join(NEXT_KEY_FILE_NAME).exists());
        assert!(!Store::open(&dir, None).unwrap().pending_rotation());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_reseal_changes_nothing() {
        let dir = temp("corrupt");
        let old_id = populate(&dir, None);
        // One value that no key opens (tampered).
        {
            let conn = rusqlite::Connection::open(dir.join(crate::DB_FILE_NAME)).unwrap();
            let v: String = conn
                .query_row("SELECT password_sealed FROM managed_subscribers", [], |r| {
                    r.get(0)
                })
                .unwrap();
            let tampered = format!("{}A", &v[..v.len() - 1]);
            let tampered = if tampered == v {
                format!("{}B", &v[..v.len() - 1])
            } else {
                tampered
            };
            conn.execute(
                "UPDATE managed_subscribers SET password_sealed = ?1",
                [tampered],
            )
            .unwrap();
        }
        let before = sealed_values(&dir);
        let err = rotate_master_key(&dir, None, None).unwrap_err();
        assert!(err.to_string().contains("managed_subscribers"), "{err}");
        assert!(!err.to_string().contains(PASSWORD));
        // Nothing moved: every value is as it was, still under the old key.
        assert_eq!(sealed_values(&dir), before);
        assert!(sealed_values(&dir)[0].starts_with(&format!("v2:{old_id}:")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_database_of_the_previous_release_opens_and_rotates() {
        let dir = temp("legacy");
        let old = MasterKey::generate();
        let old_b64 = old.to_base64();
        populate(&dir, Some(old_b64.expose()));
        // Rewrite every value the way releases before key ids sealed it (`v1:`).
        {
            let conn = rusqlite::Connection::open(dir.join(crate::DB_FILE_NAME)).unwrap();
            let v1 = |secret: &str, aad: &str| crate::crypto::seal_v1(&old, secret, aad);
            conn.execute(
                "UPDATE hosts SET admin_secret_sealed = ?1",
                [v1(ADMIN, &admin_aad(&HostId::new("host_a")))],
            )
            .unwrap();
            conn.execute(
                "UPDATE managed_subscribers SET password_sealed = ?1",
                [v1(PASSWORD, &password_aad("host_a", "alice@example.com"))],
            )
            .unwrap();
            let (kind, owner, purpose): (String, String, String) = conn
                .query_row(
                    "SELECT owner_kind, owner_id, purpose FROM sealed_secrets",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            conn.execute(
                "UPDATE sealed_secrets SET sealed_value = ?1",
                [v1(USER_KEY, &sealed_secret_aad(&kind, &owner, &purpose))],
            )
            .unwrap();
            conn.execute(
                "UPDATE store_meta SET value = ?2 WHERE key = ?1",
                [
                    KEY_CHECK_META,
                    &v1("relay-store master key check", KEY_CHECK_AAD),
                ],
            )
            .unwrap();
        }
        assert!(sealed_values(&dir).iter().all(|v| v.starts_with("v1:")));
        // The old database opens with its key (and refuses another one).
        assert_secrets_open(&Store::open(&dir, Some(old_b64.expose())).unwrap());
        match Store::open(&dir, Some(MasterKey::generate().to_base64().expose())) {
            Err(StoreError::Crypto(CryptoError::WrongMasterKey { expected, .. })) => {
                assert_eq!(expected, None)
            }
            other => panic!("expected WrongMasterKey, got {other:?}"),
        }
        let new = MasterKey::generate();
        let report = rotate_master_key(&dir, Some(old_b64.expose()), Some(new.clone())).unwrap();
        assert_eq!(
            report.old_key_ids,
            vec![format!("{} (legacy v1)", old.key_id())]
        );
        assert_eq!(report.counts.resealed(), 3);
        assert_all_sealed_with(&dir, &new.key_id());
        assert_secrets_open(&Store::open(&dir, Some(new.to_base64().expose())).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn supplied_key_rotation_needs_the_new_key_and_can_be_run_again() {
        let dir = temp("supplied");
        let old = MasterKey::generate();
        let old_b64 = old.to_base64();
        populate(&dir, Some(old_b64.expose()));
        assert!(rotate_master_key(&dir, Some(old_b64.expose()), None).is_err());
        let new = MasterKey::generate();
        let report = rotate_master_key(&dir, Some(old_b64.expose()), Some(new.clone())).unwrap();
        assert_eq!(report.key_file, None);
        assert_eq!(report.counts.resealed(), 3);
        assert!(!dir.join(KEY_FILE_NAME).exists());
        assert_all_sealed_with(&dir, &new.key_id());
        // An interrupted operator runs it again with the old variable: nothing to do.
        let again = rotate_master_key(&dir, Some(old_b64.expose()), Some(new.clone())).unwrap();
        assert_eq!(again.counts.resealed(), 0);
        assert!(Store::open(&dir, Some(old_b64.expose())).is_err());
        assert_secrets_open(&Store::open(&dir, Some(new.to_base64().expose())).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
