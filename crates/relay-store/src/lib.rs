//! State store of the relay manager: embedded migrations, repositories that return
//! records, and secrets sealed at rest, on SQLite (the embedded default) or
//! PostgreSQL.
//!
//! # Backends
//!
//! Every repository runs its SQL on the backend-neutral [`Conn`] (module `db`): one
//! dialect (SQLite's `?N` placeholders and the constructs both databases share), one
//! row decoder per record. [`Store::open`] keeps the data in `relay.db` in the data
//! directory; [`Store::open_postgres`] (`RELAY_DATABASE_URL`) in a PostgreSQL
//! database, with the same migrations written for it (`migrations/postgres/`), the
//! same sealing, and writes serialized on one advisory lock as SQLite serializes them
//! on its single writer. [`Store::open_in_memory`] and
//! [`Store::open_postgres_scratch`] give throw-away stores for tests.
//!
//! # Opening
//!
//! [`Store::open`] creates the data directory (mode `0700`; an existing one that
//! group or others can access is refused with the `chmod` that fixes it) and locks
//! it for the life of the store (`relay.lock`, [`StoreError::DataDirLocked`] names
//! the holder's pid), creates `relay.db` (`0600`, WAL mode), and — unless the caller
//! passes the base64 master key (normally from `RELAY_MASTER_KEY`) — reads the key
//! file `master.key` (`0600`, refused when looser), generating it atomically only
//! for a database without sealed values ([`CryptoError::MissingMasterKey`]
//! otherwise). A master key other than the one the database is sealed with is
//! refused with [`CryptoError::WrongMasterKey`] (a sealed check value in
//! `store_meta`) **before** any migration runs. Then every pending migration of
//! [`migrate::MIGRATIONS`] is applied in one `BEGIN IMMEDIATE` transaction; a
//! database with a newer schema than this build is refused with
//! [`StoreError::SchemaTooNew`]. [`rotate::rotate_master_key`] re-seals every
//! sealed value under a new key (offline). Every connection gets `foreign_keys = ON`,
//! `busy_timeout` ([`BUSY_TIMEOUT`]), `synchronous = NORMAL` and `secure_delete = ON`
//! (freed pages are zeroed, so a rewritten text leaves no copy in the file).
//! [`Store::open_in_memory`] gives a throw-away store for tests.
//!
//! # Single writer path
//!
//! All writes go through **one dedicated writer connection behind a mutex**; each
//! repository write is one `BEGIN IMMEDIATE` transaction on it, so writers of this
//! process never race for SQLite's write lock (no `SQLITE_BUSY` between our own
//! threads) and multi-statement changes (a pack with its providers, a batch with
//! its items, a status move checked against the state machine) are atomic. Reads
//! use an r2d2 pool of **read-only** connections, which WAL lets run beside the
//! writer; a read-only connection cannot write by construction. Another process
//! cannot open the same data directory (its lock); other readers of the file
//! (`sqlite3 .backup`) are covered by `busy_timeout`. In memory, reads share the
//! writer connection.
//!
//! # Schema (migration `0001_init.sql`)
//!
//! | table | holds |
//! |---|---|
//! | `schema_version` | one row per applied migration |
//! | `store_meta` | facts about the store (master-key check value) |
//! | `hosts` | registered hosts; `name` unique; admin secret sealed; status `supported\|unsupported\|unreachable` |
//! | `host_capability_snapshots` | read-only capability probes (JSON of booleans); newest is current |
//! | `packs` | installed packs: version, `host_compat`, source digest/kind/path, overlays |
//! | `providers` | manifests per pack, `UNIQUE(pack_id, provider_id)`, cascade with the pack |
//! | `provider_installs` | per host: provider status, access status, last batch, last reconcile, disabled |
//! | `import_batches` | one import: mode, access mode, status, request (no secrets), report, counts, timestamps incl. `interrupted_at` |
//! | `import_batch_items` | per key: fingerprint + mask, plan, status, account id, verdict; one per key and batch |
//! | `managed_resources` | the journal: intent (no host id) → host id → state; `UNIQUE(host_id, resource_type, host_resource_id)` |
//! | `probe_results` | account tests, model lists, gateway calls, reachability, direct upstream calls |
//! | `access_closure_records` | proofs that a user can call the model (completion-gated) |
//! | `reconcile_runs` | trigger, status, verdict, differences and repairs (JSON) |
//! | `managed_subscribers` | host users for subscription access; password sealed |
//! | `sealed_secrets` | supplied probe keys, subscriber user keys; sealed, with fingerprint + mask |
//!
//! Migration `0008_audit_trail.sql` adds `audit_events` (one row per host mutation:
//! origin, object, outcome, changed fields before → after; append-only, UPDATE and
//! DELETE refused by triggers on both backends; no foreign keys, so it outlives what
//! it names) and `operation_records` (finished doctor runs and access closures,
//! removed with their host).
//!
//! Statuses are stored as the `as_str()` strings of `relay-domain` with `CHECK`
//! constraints; timestamps are milliseconds since the Unix epoch ([`Timestamp`]).
//! Batches, managed resources and reconcile runs keep their host (and provider)
//! from being deleted ([`StoreError::InUse`]); snapshots, probes, closure records
//! and subscribers are removed with their host.
//!
//! # Secrets
//!
//! Host admin credentials, supplied probe keys, subscriber user keys and
//! passwords are sealed by [`Sealer`] (XChaCha20-Poly1305, random nonce, the row
//! and purpose bound as associated data, the sealing key's id in the value). Upstream keys are never stored: only
//! their fingerprint and mask. No error of this crate contains a secret.
//!
//! # Redaction of stored texts
//!
//! Hosts and vendors quote secrets in their texts. Every repository write of a
//! column that can hold such text (batch request, report and error; item message and
//! details; install status message; journal details; probe subject, message and
//! details; closure texts; reconcile differences, repairs, error and report; audit
//! event names, errors and changes; operation records' asked, error and report) passes
//! [`Store::redactor`]: every secret the store sealed or opened in this process, the
//! ones told with [`Store::remember_secret`], and the key patterns of
//! [`relay_domain::Redactor`]. Migration `0003` runs the key-pattern pass over the
//! same columns of databases written by older versions (its Rust step,
//! [`migrate::rust_step`]) and truncates the WAL afterwards.
//!
//! # Repositories
//!
//! Use-cases depend on the traits in [`repo`] ([`HostRepository`],
//! [`PackRepository`], [`BatchRepository`], [`ResourceRepository`], …); the
//! `Sqlite*` implementations (named for the dialect their SQL is written in; they run
//! on either backend) are handed out by [`Store`] (`store.hosts()`, `store.packs()`, …).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod crypto;
mod db;
mod error;
pub mod files;
pub mod migrate;
mod records;
pub mod repo;
pub mod rotate;
pub mod schemas;
mod scrub;
mod sql;
mod store;

pub use crypto::{
    read_key_file, KeySource, MasterKey, SealedFormat, Sealer, KEY_FILE_NAME, NEXT_KEY_FILE_NAME,
};
pub use db::{Conn, DbError, Dialect, Value};
pub use error::{CryptoError, Result, StoreError};
pub use files::{DataDir, LOCK_FILE_NAME};
pub use records::*;
pub use repo::*;
pub use rotate::{rotate_master_key, rotate_master_key_in, ResealCounts, RotationReport};
pub use store::{ConnectionPragmas, Store, BUSY_TIMEOUT, DB_FILE_NAME};
