//! Opening the database and the single writer path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use relay_domain::{Redactor, Secret};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use serde_json::Value;

use crate::crypto::{
    create_key_file, read_key_file, KeySource, MasterKey, SealedFormat, Sealer, KEY_FILE_NAME,
    NEXT_KEY_FILE_NAME,
};
use crate::error::{CryptoError, Result, StoreError};
use crate::files::{self, DataDir};
use crate::migrate;
use crate::repo::{
    SqliteAccessClosures, SqliteBatches, SqliteHosts, SqliteInstalls, SqlitePacks, SqliteProbes,
    SqliteProviders, SqliteReconcileRuns, SqliteResources, SqliteRuns, SqliteSecrets,
    SqliteSubscribers,
};

/// Name of the database file in the data directory.
pub const DB_FILE_NAME: &str = "relay.db";

/// How long a connection waits for a lock held by another process.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Number of pooled read connections.
const READ_POOL_SIZE: u32 = 4;

pub(crate) const KEY_CHECK_META: &str = "master_key_check";
pub(crate) const KEY_CHECK_AAD: &str = "store_meta:master_key_check";
const KEY_CHECK_VALUE: &str = "relay-store master key check";

/// The state store: a SQLite database, its sealer, and the repositories.
///
/// Cheap to clone; clones share the connections. See the crate documentation
/// for the single-writer design.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    readers: Readers,
    sealer: Sealer,
    key_source: KeySource,
    db_path: Option<PathBuf>,
    /// Every secret this store sealed or opened since it was opened (admin
    /// credentials, subscriber passwords, user and probe keys), plus the ones the
    /// application told it about: the redaction step of every text column written.
    known: RwLock<Redactor>,
    tightened: Vec<PathBuf>,
    pending_rotation: bool,
    // Last: the data directory's lock is released after the connections close.
    data_dir: Option<DataDir>,
}

/// The keys a store is opened with: the configured key first, then any other key
/// the store may open values with (the next key of an unfinished rotation).
pub(crate) struct KeyRing {
    pub keys: Vec<MasterKey>,
    pub source: KeySource,
    pub pending_rotation: bool,
}

enum Readers {
    /// Read-only pooled connections (file databases).
    Pool(r2d2::Pool<SqliteConnectionManager>),
    /// Reads share the writer connection (in-memory databases).
    Writer,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("db_path", &self.inner.db_path)
            .field("key_source", &self.inner.key_source)
            .finish_non_exhaustive()
    }
}

/// The effective settings of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPragmas {
    /// `PRAGMA foreign_keys`.
    pub foreign_keys: bool,
    /// `PRAGMA journal_mode` (`wal` for file databases, `memory` in memory).
    pub journal_mode: String,
    /// `PRAGMA busy_timeout` in milliseconds.
    pub busy_timeout_ms: i64,
    /// `PRAGMA secure_delete`: freed pages are overwritten with zeros, so a text
    /// replaced (e.g. by the redaction migration) does not linger in the file.
    pub secure_delete: bool,
    /// True when the connection cannot write.
    pub read_only: bool,
}

impl ConnectionPragmas {
    fn of(conn: &Connection) -> Result<ConnectionPragmas> {
        let pragma_i64 =
            |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
        Ok(ConnectionPragmas {
            foreign_keys: pragma_i64("foreign_keys")? == 1,
            journal_mode: conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
            busy_timeout_ms: pragma_i64("busy_timeout")?,
            secure_delete: pragma_i64("secure_delete")? == 1,
            read_only: conn.is_readonly(rusqlite::MAIN_DB)?,
        })
    }
}

/// Settings applied to every connection, writer and readers alike.
/// `secure_delete` zeroes freed pages, so a row deleted or rewritten (a report
/// scrubbed by the redaction migration) leaves no copy in the database file.
fn init_connection(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;",
    )?;
    Ok(())
}

impl Store {
    /// Opens (creating when absent) the store in `data_dir`:
    ///
    /// 1. the directory itself: created `0700`, refused when group or others can
    ///    access it, and locked for the life of the store
    ///    ([`StoreError::LoosePermissions`], [`StoreError::DataDirLocked`]);
    /// 2. `relay.db` (and its `-wal`/`-shm` files) `0600`, in WAL mode;
    /// 3. the master key: `master_key_b64` (normally `RELAY_MASTER_KEY`), else the key
    ///    file `master.key` (`0600`; refused when looser). The key file is generated
    ///    only for a database that holds no sealed value yet; otherwise a missing
    ///    file is [`CryptoError::MissingMasterKey`]. While a rotation is unfinished,
    ///    `master.key.next` is part of the ring (see `rotate`);
    /// 4. the key is checked against the database's sealed check value
    ///    ([`CryptoError::WrongMasterKey`]) **before** any migration is applied;
    /// 5. every pending migration.
    pub fn open(data_dir: &Path, master_key_b64: Option<&str>) -> Result<Store> {
        let supplied = master_key_b64.map(MasterKey::from_base64).transpose()?;
        Store::open_with(data_dir, |dir, check| match supplied {
            Some(key) => Ok(KeyRing {
                keys: vec![key],
                source: KeySource::Supplied,
                pending_rotation: false,
            }),
            None => key_file_ring(dir, check),
        })
    }

    /// [`Store::open`] with the key ring chosen by `resolve`, which sees the data
    /// directory and the database's check value (when it has one).
    pub(crate) fn open_with(
        data_dir: &Path,
        resolve: impl FnOnce(&Path, Option<&str>) -> Result<KeyRing>,
    ) -> Result<Store> {
        Store::open_in(DataDir::open(data_dir)?, resolve)
    }

    /// [`Store::open_with`] in a data directory this process already locked.
    pub(crate) fn open_in(
        dir: DataDir,
        resolve: impl FnOnce(&Path, Option<&str>) -> Result<KeyRing>,
    ) -> Result<Store> {
        let db_path = dir.path().join(DB_FILE_NAME);
        let mut tightened = Vec::new();
        // Created 0600 before SQLite opens it: SQLite gives the WAL and shared-memory
        // files the database file's mode.
        if files::ensure_owner_only(&db_path, true)? {
            tightened.push(db_path.clone());
        }
        for suffix in ["-wal", "-shm"] {
            let path = dir.path().join(format!("{DB_FILE_NAME}{suffix}"));
            if files::ensure_owner_only(&path, false)? {
                tightened.push(path);
            }
        }
        let mut writer = Connection::open(&db_path)?;
        init_connection(&mut writer)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Migration {
                version: 0,
                message: format!("cannot switch the database to WAL (journal mode is {mode})"),
            });
        }
        let check = read_key_check(&writer)?;
        let ring = resolve(dir.path(), check.as_deref())?;
        // The key is proven before the schema is touched.
        let sealer = choose_sealer(&ring.keys, check.as_deref())?;
        migrate::migrate(&mut writer)?;
        let manager = SqliteConnectionManager::file(&db_path)
            .with_flags(
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .with_init(init_connection);
        let pool = r2d2::Pool::builder()
            .max_size(READ_POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        let store = Store {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers: Readers::Pool(pool),
                sealer,
                key_source: ring.source,
                db_path: Some(db_path),
                tightened,
                pending_rotation: ring.pending_rotation,
                data_dir: Some(dir),
                known: RwLock::new(Redactor::new()),
            }),
        };
        store.check_master_key()?;
        Ok(store)
    }

    /// An in-memory store with a random master key, for tests and tools. All
    /// reads and writes share one connection.
    pub fn open_in_memory() -> Result<Store> {
        let mut writer = Connection::open_in_memory()?;
        init_connection(&mut writer)?;
        migrate::migrate(&mut writer)?;
        let store = Store {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers: Readers::Writer,
                sealer: Sealer::new(&MasterKey::generate()),
                key_source: KeySource::Ephemeral,
                db_path: None,
                tightened: Vec::new(),
                pending_rotation: false,
                data_dir: None,
                known: RwLock::new(Redactor::new()),
            }),
        };
        store.check_master_key()?;
        Ok(store)
    }

    /// Path of the database file (`None` in memory).
    pub fn db_path(&self) -> Option<&Path> {
        self.inner.db_path.as_deref()
    }

    /// Where the master key came from (callers warn on loose key-file permissions).
    pub fn key_source(&self) -> &KeySource {
        &self.inner.key_source
    }

    /// The sealer of this store.
    pub fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    /// Id of the master key new values are sealed with ([`MasterKey::key_id`]).
    pub fn key_id(&self) -> &str {
        self.inner.sealer.key_id()
    }

    /// True when `master.key.next` exists: a master-key rotation was started and
    /// not finished (`relay-server rotate-master-key` finishes it).
    pub fn pending_rotation(&self) -> bool {
        self.inner.pending_rotation
    }

    /// Database files whose mode this open set to `0600` (they were looser).
    pub fn tightened_files(&self) -> &[PathBuf] {
        &self.inner.tightened
    }

    /// The (locked) data directory; `None` in memory.
    pub fn data_dir(&self) -> Option<&Path> {
        self.inner.data_dir.as_ref().map(DataDir::path)
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        self.read(migrate::current_version)
    }

    /// Settings of the writer connection (diagnostics, readiness checks).
    pub fn writer_pragmas(&self) -> Result<ConnectionPragmas> {
        let conn = self.lock_writer();
        ConnectionPragmas::of(&conn)
    }

    /// Settings of a pooled read connection (diagnostics, readiness checks).
    pub fn reader_pragmas(&self) -> Result<ConnectionPragmas> {
        match &self.inner.readers {
            Readers::Pool(pool) => ConnectionPragmas::of(&*pool.get()?),
            Readers::Writer => self.writer_pragmas(),
        }
    }

    /// Host repository.
    pub fn hosts(&self) -> SqliteHosts<'_> {
        SqliteHosts::new(self)
    }

    /// Pack repository.
    pub fn packs(&self) -> SqlitePacks<'_> {
        SqlitePacks::new(self)
    }

    /// Provider repository.
    pub fn providers(&self) -> SqliteProviders<'_> {
        SqliteProviders::new(self)
    }

    /// Per-host provider install repository.
    pub fn installs(&self) -> SqliteInstalls<'_> {
        SqliteInstalls::new(self)
    }

    /// Batch auto-import runs, their items, trails, leases and sealed item keys.
    pub fn runs(&self) -> SqliteRuns<'_> {
        SqliteRuns::new(self)
    }

    /// Import batch repository.
    pub fn batches(&self) -> SqliteBatches<'_> {
        SqliteBatches::new(self)
    }

    /// Managed resource journal.
    pub fn resources(&self) -> SqliteResources<'_> {
        SqliteResources::new(self)
    }

    /// Probe result repository.
    pub fn probes(&self) -> SqliteProbes<'_> {
        SqliteProbes::new(self)
    }

    /// Access closure record repository.
    pub fn closures(&self) -> SqliteAccessClosures<'_> {
        SqliteAccessClosures::new(self)
    }

    /// Reconcile run repository.
    pub fn reconcile_runs(&self) -> SqliteReconcileRuns<'_> {
        SqliteReconcileRuns::new(self)
    }

    /// Managed subscriber repository.
    pub fn subscribers(&self) -> SqliteSubscribers<'_> {
        SqliteSubscribers::new(self)
    }

    /// Sealed secret repository (probe keys, subscriber user keys).
    pub fn secrets(&self) -> SqliteSecrets<'_> {
        SqliteSecrets::new(self)
    }

    /// Runs `f` in a read transaction on a pooled read-only connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        match &self.inner.readers {
            Readers::Pool(pool) => {
                let conn = pool.get()?;
                let tx = conn.unchecked_transaction()?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            }
            Readers::Writer => {
                let conn = self.lock_writer();
                let tx = conn.unchecked_transaction()?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            }
        }
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the single writer
    /// connection; commits when `f` succeeds, rolls back otherwise.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock_writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic inside a write closure drops (rolls back) its transaction before
        // the lock is released, so the connection is still consistent.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn seal(&self, secret: &Secret, aad: &str) -> Result<String> {
        if aad != KEY_CHECK_AAD {
            self.remember_secret(secret);
        }
        Ok(self.inner.sealer.seal(secret, aad)?)
    }

    pub(crate) fn open_sealed(&self, sealed: &str, aad: &str) -> Result<Secret> {
        let secret = self.inner.sealer.open(sealed, aad)?;
        if aad != KEY_CHECK_AAD {
            self.remember_secret(&secret);
        }
        Ok(secret)
    }

    /// Adds `secret` to the secrets every text column written is redacted of (the
    /// store adds every secret it seals or opens itself; the server adds the
    /// operator token).
    pub fn remember_secret(&self, secret: &Secret) {
        let mut known = self
            .inner
            .known
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !known.knows(secret.expose()) {
            known.add(secret);
        }
    }

    /// The store's redaction step: the secrets it knows (see
    /// [`Store::remember_secret`]) and the key patterns. Every repository write of a
    /// text column that can hold host or vendor text passes through it.
    pub fn redactor(&self) -> Redactor {
        self.inner
            .known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// `text` through the store's redaction step.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.inner
            .known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .redact(text)
    }

    /// An optional text through the store's redaction step.
    pub(crate) fn scrub_opt(&self, text: Option<&str>) -> Option<String> {
        text.map(|t| self.scrub(t))
    }

    /// A JSON document through the store's redaction step, serialized for a column.
    pub(crate) fn scrub_json(&self, value: &Value) -> String {
        let known = self
            .inner
            .known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Redacted as encoded text: a batch report of 10,000 keys is not copied as a
        // tree once more.
        let text = value.to_string();
        known
            .redact_json_text(&text)
            .unwrap_or_else(|| known.redact_json(value).to_string())
    }

    /// Seals a known value on first open; on later opens, proves the key opens it.
    fn check_master_key(&self) -> Result<()> {
        let fresh = self.seal(&Secret::new(KEY_CHECK_VALUE), KEY_CHECK_AAD)?;
        // Read-or-insert under the writer lock, so two first opens cannot disagree.
        let stored: String = self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO store_meta (key, value) VALUES (?1, ?2)",
                [KEY_CHECK_META, fresh.as_str()],
            )?;
            Ok(tx.query_row(
                "SELECT value FROM store_meta WHERE key = ?1",
                [KEY_CHECK_META],
                |r| r.get(0),
            )?)
        })?;
        verify_check(&self.inner.sealer, &stored)
    }
}

/// The check value of a database, when it has one (read without migrating).
fn read_key_check(conn: &Connection) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    let has_meta: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'store_meta'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if has_meta.is_none() {
        return Ok(None);
    }
    Ok(conn
        .query_row(
            "SELECT value FROM store_meta WHERE key = ?1",
            [KEY_CHECK_META],
            |r| r.get(0),
        )
        .optional()?)
}

/// Proves that `sealer` opens the check value.
fn verify_check(sealer: &Sealer, stored: &str) -> Result<()> {
    match sealer.open(stored, KEY_CHECK_AAD) {
        Ok(v) if v.expose() == KEY_CHECK_VALUE => Ok(()),
        Ok(_) | Err(CryptoError::OpenFailed) | Err(CryptoError::UnknownKeyId { .. }) => {
            Err(wrong_key(sealer.key_ids().join(", "), stored))
        }
        Err(other) => Err(other.into()),
    }
}

fn wrong_key(supplied: String, stored: &str) -> StoreError {
    let expected = match Sealer::format_of(stored) {
        Ok(SealedFormat::V2 { key_id }) => Some(key_id.to_string()),
        _ => None,
    };
    CryptoError::WrongMasterKey { supplied, expected }.into()
}

/// The sealer for a ring: the key that sealed the check value seals from now on
/// (the first key of the ring for a new database); the others still open values.
pub(crate) fn choose_sealer(keys: &[MasterKey], check: Option<&str>) -> Result<Sealer> {
    let ring_ids = || {
        keys.iter()
            .map(MasterKey::key_id)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((first, rest)) = keys.split_first() else {
        return Err(CryptoError::InvalidMasterKey {
            reason: "no master key".into(),
        }
        .into());
    };
    let Some(check) = check else {
        return Ok(Sealer::with_ring(first, rest));
    };
    let primary = match Sealer::format_of(check)? {
        SealedFormat::V2 { key_id } => keys.iter().position(|k| k.key_id() == key_id),
        SealedFormat::V1 => keys
            .iter()
            .position(|k| Sealer::new(k).open(check, KEY_CHECK_AAD).is_ok()),
    };
    let Some(i) = primary else {
        return Err(wrong_key(ring_ids(), check));
    };
    let others: Vec<MasterKey> = keys
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, k)| k.clone())
        .collect();
    let sealer = Sealer::with_ring(&keys[i], &others);
    verify_check(&sealer, check)?;
    Ok(sealer)
}

/// The ring of a store without a supplied key: `master.key` (created only for a
/// database without sealed values), plus `master.key.next` while a rotation is
/// unfinished.
pub(crate) fn key_file_ring(dir: &Path, check: Option<&str>) -> Result<KeyRing> {
    let path = dir.join(KEY_FILE_NAME);
    let next = read_key_file(&dir.join(NEXT_KEY_FILE_NAME))?;
    let (key, created) = match read_key_file(&path)? {
        Some(key) => (key, false),
        None => {
            if let Some(check) = check {
                let expected = match Sealer::format_of(check) {
                    Ok(SealedFormat::V2 { key_id }) => key_id.to_string(),
                    _ => "legacy".to_string(),
                };
                return Err(CryptoError::MissingMasterKey {
                    path: path.display().to_string(),
                    expected,
                }
                .into());
            }
            create_key_file(&path, MasterKey::generate())?
        }
    };
    let pending_rotation = next.is_some();
    let mut keys = vec![key];
    keys.extend(next);
    Ok(KeyRing {
        keys,
        source: KeySource::KeyFile { path, created },
        pending_rotation,
    })
}
