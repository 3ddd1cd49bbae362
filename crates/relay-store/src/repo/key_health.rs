//! Per-key health: one record per managed account (host, pack, provider, host account
//! id), written after each reconcile run, read by the key views and the metrics.

use relay_domain::{Fingerprint, HostId, KeyHealth, KeyHealthState, PackId, ProviderId};

use crate::db::{params, DbResult, OptionalExtension, Row};
use crate::error::{Result, StoreError};
use crate::sql::{fingerprint_opt, parsed};
use crate::Store;

/// The health of one managed key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHealthRecord {
    /// The host.
    pub host_id: HostId,
    /// The provider's pack.
    pub pack_id: PackId,
    /// The provider.
    pub provider_id: ProviderId,
    /// The host account id.
    pub account_id: i64,
    /// Fingerprint of its upstream key (never the key).
    pub fingerprint: Option<Fingerprint>,
    /// The key's mask, when known.
    pub key_mask: Option<String>,
    /// The record: state, window of failures, history.
    pub health: KeyHealth,
}

/// Counts of keys per provider and state (for metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStateCount {
    /// The host.
    pub host_id: HostId,
    /// The provider.
    pub provider_id: ProviderId,
    /// The state.
    pub state: KeyHealthState,
    /// How many keys are in it.
    pub count: i64,
}

/// Per-key health records.
pub trait KeyHealthRepository {
    /// Every record of a provider on a host, by account id.
    fn list(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<Vec<KeyHealthRecord>>;
    /// One record, if the account has one.
    fn get(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        account_id: i64,
    ) -> Result<Option<KeyHealthRecord>>;
    /// Writes every record (inserted or replaced) in one transaction.
    fn put_all(&self, records: &[KeyHealthRecord]) -> Result<()>;
    /// Keys per host, provider and state.
    fn state_counts(&self) -> Result<Vec<KeyStateCount>>;
}

/// SQL implementation of [`KeyHealthRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteKeyHealth<'s> {
    store: &'s Store,
}

impl<'s> SqliteKeyHealth<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteKeyHealth { store }
    }
}

const COLUMNS: &str = "host_id, pack_id, provider_id, account_id, fingerprint, key_mask, record";

fn key_row(row: &Row<'_>) -> DbResult<(KeyHealthRecord, String)> {
    let record: String = row.get(6)?;
    Ok((
        KeyHealthRecord {
            host_id: HostId::new(row.get::<_, String>(0)?),
            pack_id: PackId(row.get(1)?),
            provider_id: ProviderId(row.get(2)?),
            account_id: row.get(3)?,
            fingerprint: fingerprint_opt(row, 4)?,
            key_mask: row.get(5)?,
            health: KeyHealth::new(relay_domain::Timestamp(0)),
        },
        record,
    ))
}

fn decode((mut r, text): (KeyHealthRecord, String)) -> Result<KeyHealthRecord> {
    r.health = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        what: format!("key health record of account {}: {e}", r.account_id),
    })?;
    Ok(r)
}

impl KeyHealthRepository for SqliteKeyHealth<'_> {
    fn list(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<Vec<KeyHealthRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM key_health
                 WHERE host_id = ?1 AND pack_id = ?2 AND provider_id = ?3
                 ORDER BY account_id"
            ))?;
            let rows =
                stmt.query_map(params![host_id.as_str(), pack_id.0, provider_id.0], key_row)?;
            let rows = rows.collect::<DbResult<Vec<_>>>()?;
            rows.into_iter().map(decode).collect()
        })
    }

    fn get(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        account_id: i64,
    ) -> Result<Option<KeyHealthRecord>> {
        self.store.read(|conn| {
            let row = conn
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM key_health
                         WHERE host_id = ?1 AND pack_id = ?2 AND provider_id = ?3
                           AND account_id = ?4"
                    ),
                    params![host_id.as_str(), pack_id.0, provider_id.0, account_id],
                    key_row,
                )
                .optional()?;
            row.map(decode).transpose()
        })
    }

    fn put_all(&self, records: &[KeyHealthRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let store = self.store;
        let texts: Vec<String> = records
            .iter()
            .map(|r| {
                serde_json::to_value(&r.health)
                    .map(|v| store.scrub_json(&v))
                    .map_err(|e| StoreError::Corrupt {
                        what: format!("key health record of account {}: {e}", r.account_id),
                    })
            })
            .collect::<Result<_>>()?;
        store.write(|tx| {
            for (r, text) in records.iter().zip(&texts) {
                tx.execute(
                    "DELETE FROM key_health
                     WHERE host_id = ?1 AND pack_id = ?2 AND provider_id = ?3 AND account_id = ?4",
                    params![
                        r.host_id.as_str(),
                        r.pack_id.0,
                        r.provider_id.0,
                        r.account_id
                    ],
                )?;
                tx.execute(
                    "INSERT INTO key_health (host_id, pack_id, provider_id, account_id,
                                             fingerprint, key_mask, state, since, checked_at,
                                             record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        r.host_id.as_str(),
                        r.pack_id.0,
                        r.provider_id.0,
                        r.account_id,
                        r.fingerprint.as_ref().map(|f| f.as_str().to_string()),
                        r.key_mask,
                        r.health.state.as_str(),
                        r.health.since.0,
                        r.health.checked_at.0,
                        text
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn state_counts(&self) -> Result<Vec<KeyStateCount>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT host_id, provider_id, state, COUNT(*) FROM key_health
                 GROUP BY host_id, provider_id, state
                 ORDER BY host_id, provider_id, state",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(KeyStateCount {
                    host_id: HostId::new(row.get::<_, String>(0)?),
                    provider_id: ProviderId(row.get(1)?),
                    state: parsed(row, 2)?,
                    count: row.get(3)?,
                })
            })?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }
}
