//! Opening the database and the single writer path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use relay_domain::{Redactor, Secret};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use serde_json::Value;

use crate::crypto::{load_or_create_key_file, KeySource, MasterKey, Sealer};
use crate::error::{CryptoError, Result, StoreError};
use crate::migrate;
use crate::repo::{
    SqliteAccessClosures, SqliteBatches, SqliteHosts, SqliteInstalls, SqlitePacks, SqliteProbes,
    SqliteProviders, SqliteReconcileRuns, SqliteResources, SqliteSecrets, SqliteSubscribers,
};

/// Name of the database file in the data directory.
pub const DB_FILE_NAME: &str = "relay.db";

/// How long a connection waits for a lock held by another process.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Number of pooled read connections.
const READ_POOL_SIZE: u32 = 4;

const KEY_CHECK_META: &str = "master_key_check";
const KEY_CHECK_AAD: &str = "store_meta:master_key_check";
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
    /// Opens (creating when absent) the store in `data_dir`: the directory itself
    /// (mode `0700` when created), `relay.db` in WAL mode with every pending
    /// migration applied, and — when `master_key_b64` is `None` — the key file
    /// `master.key` (mode `0600`). A master key that does not match the one the
    /// database was first opened with is refused with
    /// [`CryptoError::WrongMasterKey`].
    pub fn open(data_dir: &Path, master_key_b64: Option<&str>) -> Result<Store> {
        create_data_dir(data_dir)?;
        let (key, key_source) = match master_key_b64 {
            Some(b64) => (MasterKey::from_base64(b64)?, KeySource::Supplied),
            None => load_or_create_key_file(data_dir)?,
        };
        let db_path = data_dir.join(DB_FILE_NAME);
        let mut writer = Connection::open(&db_path)?;
        init_connection(&mut writer)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Migration {
                version: 0,
                message: format!("cannot switch the database to WAL (journal mode is {mode})"),
            });
        }
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
                sealer: Sealer::new(&key),
                key_source,
                db_path: Some(db_path),
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
        self.inner
            .known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .redact_json(value)
            .to_string()
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
        match self.inner.sealer.open(&stored, KEY_CHECK_AAD) {
            Ok(v) if v.expose() == KEY_CHECK_VALUE => Ok(()),
            Ok(_) | Err(CryptoError::OpenFailed) => Err(CryptoError::WrongMasterKey.into()),
            Err(other) => Err(other.into()),
        }
    }
}

fn create_data_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| StoreError::Io {
        path: dir.display().to_string(),
        source,
    })
}
