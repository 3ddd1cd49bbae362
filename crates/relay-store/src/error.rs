//! The store's error type. Messages name tables, columns and ids, never a secret.

use relay_domain::InvalidTransition;
use rusqlite::ffi;

/// Every error the store returns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// Kind of record (`host`, `pack`, `import batch`, …).
        kind: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// A unique constraint rejected the write (e.g. a second host with the same name).
    #[error("conflict: {what}")]
    Conflict {
        /// The constraint that failed, as SQLite names it (`hosts.name`, …).
        what: String,
    },
    /// A foreign key rejected the write: the referenced record does not exist, or
    /// another record still references the one being deleted.
    #[error("reference violation: {what}")]
    ForeignKey {
        /// What SQLite reported.
        what: String,
    },
    /// The record is still referenced and cannot be deleted.
    #[error("{kind} `{id}` is in use: {references}")]
    InUse {
        /// Kind of record (`host`, `pack`, `provider`).
        kind: &'static str,
        /// Its id.
        id: String,
        /// What still references it, e.g. `2 import batches, 5 managed resources`.
        references: String,
    },
    /// A state machine of relay-domain rejected the move.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// The move is not allowed for a reason the store checks itself
    /// (e.g. attaching a host id to a resource that is not an intent).
    #[error("invalid state: {what}")]
    InvalidState {
        /// What was wrong.
        what: String,
    },
    /// A write carried a lease that is no longer the item's current one (it
    /// expired and another worker took the item, or an operator moved it): fencing.
    #[error("lease of import run item `{item_id}` (generation {generation}) is no longer held")]
    LeaseLost {
        /// The item.
        item_id: String,
        /// The generation the write carried.
        generation: i64,
    },
    /// A paging cursor that this store did not hand out.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A stored value cannot be read back (unknown status string, invalid JSON, …).
    #[error("corrupt store data: {what}")]
    Corrupt {
        /// What could not be decoded.
        what: String,
    },
    /// The database file was written by a newer release of the manager.
    #[error("database schema version {found} is newer than this release knows ({known}); upgrade the manager")]
    SchemaTooNew {
        /// Version found in `schema_version`.
        found: i64,
        /// Highest version this build embeds.
        known: i64,
    },
    /// A migration failed to apply.
    #[error("migration {version} failed: {message}")]
    Migration {
        /// The migration's number.
        version: i64,
        /// What went wrong.
        message: String,
    },
    /// Sealing or opening a secret failed, or the master key is unusable.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The data directory or a file in it could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A directory or private file is accessible by group or others; `fix` is the
    /// command that fixes it.
    #[error("{path}: this {what} is accessible by group or others (mode {mode:04o}); fix: {fix}")]
    LoosePermissions {
        /// The directory or file.
        path: String,
        /// `directory` or `file`.
        what: &'static str,
        /// Its permission bits.
        mode: u32,
        /// The command that fixes it, e.g. `chmod 700 /var/lib/relay`.
        fix: String,
    },
    /// Another process holds the data directory's lock.
    #[error("the data directory {path} is in use by another process{}: stop it first, or give this one its own RELAY_DATA_DIR", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    DataDirLocked {
        /// The data directory.
        path: String,
        /// The lock holder's pid, when its lock file says.
        pid: Option<u32>,
    },
    /// Any other SQLite error.
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    /// Any other PostgreSQL error (the server's message).
    #[error("postgres: {0}")]
    Postgres(String),
    /// `RELAY_DATABASE_URL` is not a PostgreSQL URL.
    #[error("RELAY_DATABASE_URL is not a valid PostgreSQL URL ({reason}): write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE")]
    DatabaseUrl {
        /// What the parser refused.
        reason: String,
    },
    /// The operation exists for the other backend only.
    #[error("{what} is not supported")]
    Unsupported {
        /// What was asked.
        what: &'static str,
    },
    /// The connection pool could not hand out a connection.
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::Error),
}

/// Errors of secret sealing. None of them carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The master key is not base64 of exactly 32 bytes.
    #[error("invalid master key: {reason}")]
    InvalidMasterKey {
        /// Why (`not base64`, `decodes to 16 bytes, expected 32`).
        reason: String,
    },
    /// The master key does not open this database's secrets. Key ids are a
    /// truncated hash of a key (never the key) that tell keys apart, e.g. backups.
    #[error("the master key (key id {supplied}) does not match the one this database is sealed with{}: supply that key (RELAY_MASTER_KEY or master.key)", expected.as_ref().map(|k| format!(" (key id {k})")).unwrap_or_default())]
    WrongMasterKey {
        /// Key id(s) of the key(s) given, comma-separated.
        supplied: String,
        /// Key id of the database's check value, when it records one.
        expected: Option<String>,
    },
    /// No master key is supplied and `master.key` is missing, but the database
    /// holds values sealed with a key: generating a new one would not open them.
    #[error("{path} is missing but the database in the same directory holds secrets sealed with a master key (key id {expected}): restore master.key from your backup (chmod 600 it), or set RELAY_MASTER_KEY to that key; no new key is generated")]
    MissingMasterKey {
        /// Where the key file was expected.
        path: String,
        /// Key id of the database's check value (`legacy` before key ids).
        expected: String,
    },
    /// A sealed value names a key id that no key of this store has.
    #[error("sealed value was sealed with key id {key_id}, which no configured master key has")]
    UnknownKeyId {
        /// The key id in the sealed value.
        key_id: String,
    },
    /// The key file exists but cannot be read or created.
    #[error("master key file {path}: {reason}")]
    KeyFile {
        /// Path of the key file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A sealed value is not in the `v2:<key id>:<base64>` (or legacy `v1:<base64>`) format.
    #[error("sealed value is malformed: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Authentication failed: wrong key, tampered value, or a value sealed for another row.
    #[error("sealed value cannot be opened (wrong key, tampered, or bound to another record)")]
    OpenFailed,
    /// Encryption failed (only possible for absurdly large inputs).
    #[error("sealing failed")]
    SealFailed,
}

/// Shorthand for results of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match &err {
            rusqlite::Error::SqliteFailure(e, msg)
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                let what = msg.clone().unwrap_or_else(|| e.to_string());
                match e.extended_code {
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                        StoreError::Conflict { what }
                    }
                    ffi::SQLITE_CONSTRAINT_FOREIGNKEY => StoreError::ForeignKey { what },
                    _ => StoreError::Sqlite(err),
                }
            }
            rusqlite::Error::FromSqlConversionFailure(idx, _, inner) => StoreError::Corrupt {
                what: format!("column {idx}: {inner}"),
            },
            rusqlite::Error::InvalidColumnType(idx, name, ty) => StoreError::Corrupt {
                what: format!("column {idx} `{name}` has unexpected type {ty}"),
            },
            rusqlite::Error::IntegralValueOutOfRange(idx, v) => StoreError::Corrupt {
                what: format!("column {idx}: value {v} out of range"),
            },
            _ => StoreError::Sqlite(err),
        }
    }
}

impl From<crate::db::DbError> for StoreError {
    fn from(err: crate::db::DbError) -> Self {
        use crate::db::DbError;
        use postgres::error::SqlState;
        match err {
            DbError::Sqlite(e) => e.into(),
            DbError::NoRows => rusqlite::Error::QueryReturnedNoRows.into(),
            DbError::Conversion { idx, what } => StoreError::Corrupt {
                what: format!("column {idx}: {what}"),
            },
            DbError::Postgres(ref e) => match (e.code(), e.as_db_error()) {
                // Worded as SQLite words them (`UNIQUE constraint failed: hosts.name`),
                // without the duplicate value PostgreSQL's detail repeats.
                (Some(c), Some(db)) if *c == SqlState::UNIQUE_VIOLATION => {
                    let columns = db
                        .detail()
                        .and_then(|d| d.strip_prefix("Key ("))
                        .and_then(|d| d.split_once(")="))
                        .map(|(cols, _)| cols.to_string())
                        .unwrap_or_default();
                    let table = db.table().unwrap_or("?");
                    let what = columns
                        .split(", ")
                        .map(|c| format!("{table}.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    StoreError::Conflict {
                        what: format!("UNIQUE constraint failed: {what}"),
                    }
                }
                (Some(c), Some(db)) if *c == SqlState::FOREIGN_KEY_VIOLATION => {
                    StoreError::ForeignKey {
                        what: format!(
                            "FOREIGN KEY constraint failed: {} ({})",
                            db.table().unwrap_or("?"),
                            db.constraint().unwrap_or("?")
                        ),
                    }
                }
                _ => StoreError::Postgres(
                    err.to_string().trim_start_matches("postgres: ").to_string(),
                ),
            },
        }
    }
}

impl StoreError {
    pub(crate) fn not_found(kind: &'static str, id: impl std::fmt::Display) -> Self {
        StoreError::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// True for [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// True for [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}
