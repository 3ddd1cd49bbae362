//! Opening the database (SQLite or PostgreSQL) and the single writer path.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use r2d2_postgres::postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;
use r2d2_sqlite::SqliteConnectionManager;
use relay_domain::{Redactor, Secret};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde_json::Value;

use crate::crypto::{
    create_key_file, read_key_file, KeySource, MasterKey, SealedFormat, Sealer, KEY_FILE_NAME,
    NEXT_KEY_FILE_NAME,
};
use crate::db::{Conn, DbError, Dialect, OptionalExtension, PgConnection, PgManager};
use crate::error::{CryptoError, Result, StoreError};
use crate::files::{self, DataDir};
use crate::migrate;
use crate::repo::{
    SqliteAccessClosures, SqliteAudit, SqliteBatches, SqliteDriftChecks, SqliteHosts,
    SqliteInstalls, SqliteKeyHealth, SqliteLeases, SqliteOperations, SqlitePacks, SqliteProbes,
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
    backend: Backend,
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

/// Where the data lives.
enum Backend {
    /// The embedded SQLite file (or memory): one writer connection, pooled readers.
    Sqlite {
        writer: Mutex<Connection>,
        readers: Readers,
    },
    /// A PostgreSQL server: pooled connections; writers serialize on an advisory
    /// lock, across every server sharing the database.
    Postgres {
        pool: r2d2::Pool<PgManager>,
        /// `host:port/database` (never the password), for diagnostics.
        location: String,
    },
}

/// Number of pooled PostgreSQL connections.
const POSTGRES_POOL_SIZE: u32 = 8;

/// The advisory lock every PostgreSQL write transaction takes first: writes are
/// serialized as on SQLite, across every server sharing the database.
const POSTGRES_WRITE_LOCK: i64 = 0x7265_6c61_7973_746f;

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
        Store::open_with(data_dir, supplied_or_key_file(master_key_b64)?)
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
        let check = read_key_check(&Conn::Sqlite(&writer))?;
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
                backend: Backend::Sqlite {
                    writer: Mutex::new(writer),
                    readers: Readers::Pool(pool),
                },
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
                backend: Backend::Sqlite {
                    writer: Mutex::new(writer),
                    readers: Readers::Writer,
                },
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

    /// Opens (creating the schema when the database is empty) the store in the
    /// PostgreSQL database of `url` (`postgres://user:password@host:port/database`,
    /// normally `RELAY_DATABASE_URL`). `data_dir` still holds this server's lock and,
    /// without `master_key_b64`, the key file: every server sharing the database needs
    /// the same master key (a database that holds sealed values refuses any other,
    /// [`CryptoError::WrongMasterKey`]; a missing key file is never generated for it,
    /// [`CryptoError::MissingMasterKey`]). Pending migrations run under the store's
    /// advisory write lock, so servers starting together migrate once.
    pub fn open_postgres(
        url: &str,
        data_dir: &Path,
        master_key_b64: Option<&str>,
    ) -> Result<Store> {
        Store::open_postgres_in(
            DataDir::open(data_dir)?,
            url,
            supplied_or_key_file(master_key_b64)?,
        )
    }

    /// [`Store::open_postgres`] with the key ring chosen by `resolve` (see
    /// [`Store::open_in`]), in a data directory this process already locked.
    pub(crate) fn open_postgres_in(
        dir: DataDir,
        url: &str,
        resolve: impl FnOnce(&Path, Option<&str>) -> Result<KeyRing>,
    ) -> Result<Store> {
        let (pool, location) = postgres_pool(postgres_config(url)?)?;
        let check = postgres_transaction(
            &mut *pool.get()?,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            read_key_check,
        )?;
        let ring = resolve(dir.path(), check.as_deref())?;
        // The key is proven before the schema is touched.
        let sealer = choose_sealer(&ring.keys, check.as_deref())?;
        Store::finish_postgres(
            pool,
            location,
            sealer,
            ring.source,
            Some(dir),
            ring.pending_rotation,
        )
    }

    /// A store in a new, empty schema of the PostgreSQL database of `url`, with a
    /// random master key and no data directory: the PostgreSQL twin of
    /// [`Store::open_in_memory`], for tests. The schema is left behind (use a
    /// throw-away database).
    pub fn open_postgres_scratch(url: &str) -> Result<Store> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut config = postgres_config(url)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!(
            "relay_scratch_{}_{}_{}",
            std::process::id(),
            nanos,
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut client = config.connect(NoTls).map_err(DbError::from)?;
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .map_err(DbError::from)?;
        drop(client);
        config.options(&format!("-c search_path={schema}"));
        let (pool, location) = postgres_pool(config)?;
        let sealer = Sealer::new(&MasterKey::generate());
        Store::finish_postgres(pool, location, sealer, KeySource::Ephemeral, None, false)
    }

    fn finish_postgres(
        pool: r2d2::Pool<PgManager>,
        location: String,
        sealer: Sealer,
        key_source: KeySource,
        data_dir: Option<DataDir>,
        pending_rotation: bool,
    ) -> Result<Store> {
        postgres_transaction(&mut *pool.get()?, &postgres_write_begin(), |conn| {
            migrate::migrate_conn(conn).map(|_| ())
        })?;
        let store = Store {
            inner: Arc::new(Inner {
                backend: Backend::Postgres { pool, location },
                sealer,
                key_source,
                db_path: None,
                tightened: Vec::new(),
                pending_rotation,
                data_dir,
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
        self.read(migrate::current_version_on)
    }

    /// Settings of the writer connection (diagnostics, readiness checks).
    pub fn writer_pragmas(&self) -> Result<ConnectionPragmas> {
        let conn = self.lock_writer()?;
        ConnectionPragmas::of(&conn)
    }

    /// Settings of a pooled read connection (diagnostics, readiness checks).
    pub fn reader_pragmas(&self) -> Result<ConnectionPragmas> {
        match &self.inner.backend {
            Backend::Sqlite {
                readers: Readers::Pool(pool),
                ..
            } => ConnectionPragmas::of(&*pool.get()?),
            _ => self.writer_pragmas(),
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

    /// Per-key health records.
    pub fn key_health(&self) -> SqliteKeyHealth<'_> {
        SqliteKeyHealth::new(self)
    }

    /// Leases of work shared by several servers on one database.
    pub fn leases(&self) -> SqliteLeases<'_> {
        SqliteLeases::new(self)
    }

    /// The audit trail of host mutations (append-only).
    pub fn audit(&self) -> SqliteAudit<'_> {
        SqliteAudit::new(self)
    }

    /// Stored doctor runs and access closures.
    pub fn operations(&self) -> SqliteOperations<'_> {
        SqliteOperations::new(self)
    }

    /// The last model-list drift check of each provider on each host.
    pub fn drift_checks(&self) -> SqliteDriftChecks<'_> {
        SqliteDriftChecks::new(self)
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

    /// Runs `f` in a read transaction: on a pooled read-only SQLite connection, or
    /// a `REPEATABLE READ READ ONLY` PostgreSQL transaction (one snapshot).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Conn<'_>) -> Result<T>) -> Result<T> {
        match &self.inner.backend {
            Backend::Sqlite {
                readers: Readers::Pool(pool),
                ..
            } => {
                let conn = pool.get()?;
                let tx = conn.unchecked_transaction()?;
                let out = f(&Conn::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Sqlite {
                readers: Readers::Writer,
                ..
            } => {
                let conn = self.lock_writer()?;
                let tx = conn.unchecked_transaction()?;
                let out = f(&Conn::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Postgres { pool, .. } => postgres_transaction(
                &mut *pool.get()?,
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                f,
            ),
        }
    }

    /// Runs `f` in a write transaction, committed when `f` succeeds and rolled back
    /// otherwise: `BEGIN IMMEDIATE` on the single SQLite writer connection, or a
    /// PostgreSQL transaction that first takes the store's advisory write lock, so
    /// writers never interleave (in this process or any other server).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Conn<'_>) -> Result<T>) -> Result<T> {
        match &self.inner.backend {
            Backend::Sqlite { writer, .. } => {
                let mut conn = lock(writer);
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(&Conn::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Postgres { pool, .. } => {
                postgres_transaction(&mut *pool.get()?, &postgres_write_begin(), f)
            }
        }
    }

    /// The database this store keeps its data in.
    pub fn dialect(&self) -> Dialect {
        match &self.inner.backend {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// Where the data lives: the SQLite file (`:memory:` in memory), or
    /// `postgres://host:port/database` (never the password).
    pub fn location(&self) -> String {
        match &self.inner.backend {
            Backend::Postgres { location, .. } => format!("postgres://{location}"),
            Backend::Sqlite { .. } => self
                .inner
                .db_path
                .as_ref()
                .map_or_else(|| ":memory:".to_string(), |p| p.display().to_string()),
        }
    }

    fn lock_writer(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        match &self.inner.backend {
            Backend::Sqlite { writer, .. } => Ok(lock(writer)),
            Backend::Postgres { .. } => Err(StoreError::Unsupported {
                what: "SQLite connection settings on a PostgreSQL store",
            }),
        }
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
                "INSERT INTO store_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
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
fn read_key_check(conn: &Conn<'_>) -> Result<Option<String>> {
    if !conn.table_exists("store_meta")? {
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

/// The writer mutex; a panic inside a write closure drops (rolls back) its
/// transaction before the lock is released, so the connection is still consistent.
fn lock(writer: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    writer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Parses a PostgreSQL URL; the error names the variable and never repeats the URL
/// (it holds the password).
fn postgres_config(url: &str) -> Result<postgres::Config> {
    postgres::Config::from_str(url).map_err(|e| StoreError::DatabaseUrl {
        reason: e.to_string(),
    })
}

/// A connection pool for `config`, and the `host:port/database` it reaches.
fn postgres_pool(config: postgres::Config) -> Result<(r2d2::Pool<PgManager>, String)> {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_string());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let location = format!(
        "{host}:{port}/{}",
        config
            .get_dbname()
            .unwrap_or(config.get_user().unwrap_or("postgres"))
    );
    let pool = r2d2::Pool::builder()
        .max_size(POSTGRES_POOL_SIZE)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .build(PgManager(PostgresConnectionManager::new(config, NoTls)))?;
    Ok((pool, location))
}

fn postgres_write_begin() -> String {
    format!(
        "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({POSTGRES_WRITE_LOCK})"
    )
}

/// An open PostgreSQL transaction: rolled back when dropped uncommitted (an error
/// or a panic in the closure), so a pooled connection never goes back mid-transaction.
struct PostgresTx<'c> {
    client: &'c mut PgConnection,
    open: bool,
}

impl Drop for PostgresTx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A failed rollback means a broken connection, which the pool discards.
            let _ = self.client.client.batch_execute("ROLLBACK");
        }
    }
}

/// Runs `f` inside `begin` … `COMMIT` on `client`.
fn postgres_transaction<T>(
    client: &mut PgConnection,
    begin: &str,
    f: impl FnOnce(&Conn<'_>) -> Result<T>,
) -> Result<T> {
    client.client.batch_execute(begin).map_err(DbError::from)?;
    let mut tx = PostgresTx { client, open: true };
    let out = {
        let conn = Conn::Postgres(RefCell::new(&mut *tx.client));
        f(&conn)?
    };
    tx.client
        .client
        .batch_execute("COMMIT")
        .map_err(DbError::from)?;
    tx.open = false;
    Ok(out)
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

/// The key ring of an open: the supplied key (`RELAY_MASTER_KEY`), else the key file
/// of the data directory ([`key_file_ring`]).
fn supplied_or_key_file(
    master_key_b64: Option<&str>,
) -> Result<impl FnOnce(&Path, Option<&str>) -> Result<KeyRing>> {
    let supplied = master_key_b64.map(MasterKey::from_base64).transpose()?;
    Ok(move |dir: &Path, check: Option<&str>| match supplied {
        Some(key) => Ok(KeyRing {
            keys: vec![key],
            source: KeySource::Supplied,
            pending_rotation: false,
        }),
        None => key_file_ring(dir, check),
    })
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
