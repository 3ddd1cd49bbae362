//! Embedded, numbered schema migrations, each written for SQLite and for PostgreSQL
//! (`migrations/postgres/`: the same tables, columns, keys and checks).
//!
//! `schema_version` holds one row per applied migration. At open, every pending
//! migration is applied inside one write transaction; a database whose
//! version is newer than this build knows is refused. A migration may also have a
//! Rust step ([`rust_step`]), run right after its SQL in the same transaction, for
//! changes SQL cannot express (e.g. the redaction of stored texts, `0003`).

use relay_domain::Redactor;
use rusqlite::{Connection, TransactionBehavior};

use crate::db::{params, Conn, Dialect};

use crate::error::{Result, StoreError};
use crate::records::Timestamp;

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number (1, 2, …); applied in order.
    pub version: i64,
    /// Short description stored in `schema_version`.
    pub description: &'static str,
    /// The SQL (SQLite).
    pub sql: &'static str,
    /// The same change for PostgreSQL.
    pub postgres_sql: &'static str,
}

impl Migration {
    /// The migration's SQL for `dialect`.
    pub fn sql_for(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sql,
            Dialect::Postgres => self.postgres_sql,
        }
    }
}

/// Every migration this build knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial schema",
        sql: include_str!("../migrations/0001_init.sql"),
        postgres_sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        description: "reconcile run reports",
        sql: include_str!("../migrations/0002_reconcile_report.sql"),
        postgres_sql: include_str!("../migrations/postgres/0002_reconcile_report.sql"),
    },
    Migration {
        version: 3,
        description: "scrub host and vendor texts of older versions",
        sql: include_str!("../migrations/0003_scrub_host_texts.sql"),
        postgres_sql: include_str!("../migrations/postgres/0003_scrub_host_texts.sql"),
    },
    Migration {
        version: 4,
        description: "batch auto-import runs, items, sealed item keys and event trail",
        sql: include_str!("../migrations/0004_import_runs.sql"),
        postgres_sql: include_str!("../migrations/postgres/0004_import_runs.sql"),
    },
    Migration {
        version: 5,
        description: "batch auto-import item warnings and batches, run access proofs",
        sql: include_str!("../migrations/0005_import_run_results.sql"),
        postgres_sql: include_str!("../migrations/postgres/0005_import_run_results.sql"),
    },
    Migration {
        version: 6,
        description: "import batch counts in a row of their own",
        sql: include_str!("../migrations/0006_import_batch_counts.sql"),
        postgres_sql: include_str!("../migrations/postgres/0006_import_batch_counts.sql"),
    },
    Migration {
        version: 7,
        description: "leases of work shared by several servers",
        sql: include_str!("../migrations/0007_leases.sql"),
        postgres_sql: include_str!("../migrations/postgres/0007_leases.sql"),
    },
    Migration {
        version: 8,
        description: "audit trail of host mutations; doctor and access closure records",
        sql: include_str!("../migrations/0008_audit_trail.sql"),
        postgres_sql: include_str!("../migrations/postgres/0008_audit_trail.sql"),
    },
    Migration {
        version: 9,
        description: "per-key health",
        sql: include_str!("../migrations/0009_key_health.sql"),
        postgres_sql: include_str!("../migrations/postgres/0009_key_health.sql"),
    },
    Migration {
        version: 10,
        description: "the last model-list drift check of each provider on each host",
        sql: include_str!("../migrations/0010_model_drift.sql"),
        postgres_sql: include_str!("../migrations/postgres/0010_model_drift.sql"),
    },
];

/// A migration step written in Rust, run on the migration's transaction.
pub type RustStep = fn(&Conn<'_>) -> Result<()>;

/// The Rust step of migration `version`, if it has one.
pub fn rust_step(version: i64) -> Option<RustStep> {
    match version {
        3 => Some(scrub_host_texts),
        _ => None,
    }
}

/// Migration 3: the key-pattern pass over every stored host or vendor text.
fn scrub_host_texts(conn: &Conn<'_>) -> Result<()> {
    if conn.dialect() == Dialect::Postgres {
        // No release wrote PostgreSQL databases before this pass existed: their
        // tables are empty when it runs.
        return Ok(());
    }
    crate::scrub::scrub_stored_texts(conn, &Redactor::new())?;
    Ok(())
}

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The current schema version of a SQLite database (0 when empty).
pub fn current_version(conn: &Connection) -> Result<i64> {
    current_version_on(&Conn::Sqlite(conn))
}

/// The current schema version of a database (0 when empty).
pub(crate) fn current_version_on(conn: &Conn<'_>) -> Result<i64> {
    if !conn.table_exists("schema_version")? {
        return Ok(0);
    }
    let v: Option<i64> =
        conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))?;
    Ok(v.unwrap_or(0))
}

/// Applies every pending migration to a SQLite database in one `BEGIN IMMEDIATE`
/// transaction; returns the versions applied.
pub fn migrate(conn: &mut Connection) -> Result<Vec<i64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let applied = migrate_conn(&Conn::Sqlite(&tx))?;
    tx.commit()?;
    if applied.contains(&3) {
        // The scrubbed texts' old pages may still sit in the WAL: move every page into
        // the database (where `secure_delete` zeroed the freed content) and empty it.
        // A no-op on databases that are not in WAL mode.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(applied)
}

/// Applies every pending migration on `conn`, inside the caller's write
/// transaction; returns the versions applied.
pub(crate) fn migrate_conn(conn: &Conn<'_>) -> Result<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version     BIGINT PRIMARY KEY,
             description TEXT NOT NULL,
             applied_at  BIGINT NOT NULL
         )",
    )?;
    let current = current_version_on(conn)?;
    let known = latest_version();
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        conn.execute_batch(m.sql_for(conn.dialect()))
            .map_err(|e| StoreError::Migration {
                version: m.version,
                message: e.to_string(),
            })?;
        if let Some(step) = rust_step(m.version) {
            step(conn).map_err(|e| StoreError::Migration {
                version: m.version,
                message: e.to_string(),
            })?;
        }
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.description, Timestamp::now().0],
        )?;
        applied.push(m.version);
    }
    if conn.dialect() == Dialect::Sqlite {
        // A migration must leave every reference valid (PostgreSQL checks each
        // statement as it runs).
        let violations: i64 =
            conn.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if violations > 0 {
            return Err(StoreError::Migration {
                version: known,
                message: format!("{violations} foreign key violations after migrating"),
            });
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.description);
        }
    }
}
