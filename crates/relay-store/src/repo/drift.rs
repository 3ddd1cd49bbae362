//! The last model-list drift check of each provider on each host (one row each,
//! replaced by every check).

use relay_domain::{HostId, ModelListSource, PackId, ProviderId};
use serde_json::Value;

use crate::db::{params, DbResult, OptionalExtension, Row};
use crate::error::Result;
use crate::records::Timestamp;
use crate::sql::{json, parsed, ts};
use crate::Store;

/// A stored drift check.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftCheckRecord {
    /// The host whose account (or whose provider's key) was asked.
    pub host_id: HostId,
    /// The pack of the provider.
    pub pack_id: PackId,
    /// The provider.
    pub provider_id: ProviderId,
    /// When the check ran.
    pub checked_at: Timestamp,
    /// Where the vendor's list came from.
    pub source: ModelListSource,
    /// Whether anything was added, retired or renamed.
    pub drifted: bool,
    /// The whole result (model ids only; never a secret).
    pub result: Value,
}

/// The last drift check of each provider on each host.
pub trait DriftRepository {
    /// Stores `record`, replacing the provider's previous check on that host.
    fn put(&self, record: &DriftCheckRecord) -> Result<()>;
    /// The last check of a provider on a host.
    fn get(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<Option<DriftCheckRecord>>;
    /// Every last check (of one host, when given), oldest first.
    fn list(&self, host_id: Option<&HostId>) -> Result<Vec<DriftCheckRecord>>;
}

/// SQL implementation of [`DriftRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteDriftChecks<'s> {
    store: &'s Store,
}

impl<'s> SqliteDriftChecks<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteDriftChecks { store }
    }
}

const COLUMNS: &str = "host_id, pack_id, provider_id, checked_at, source, drifted, result";

fn drift_row(row: &Row<'_>) -> DbResult<DriftCheckRecord> {
    let drifted: i64 = row.get(5)?;
    Ok(DriftCheckRecord {
        host_id: HostId::new(row.get::<_, String>(0)?),
        pack_id: PackId(row.get(1)?),
        provider_id: ProviderId(row.get(2)?),
        checked_at: ts(row, 3)?,
        source: parsed(row, 4)?,
        drifted: drifted != 0,
        result: json(row, 6)?,
    })
}

impl DriftRepository for SqliteDriftChecks<'_> {
    fn put(&self, r: &DriftCheckRecord) -> Result<()> {
        let result = r.result.to_string();
        self.store.write(|tx| {
            tx.execute(
                "INSERT INTO model_drift_checks
                     (host_id, pack_id, provider_id, checked_at, source, drifted, result)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (host_id, pack_id, provider_id) DO UPDATE SET
                     checked_at = excluded.checked_at, source = excluded.source,
                     drifted = excluded.drifted, result = excluded.result",
                params![
                    r.host_id.as_str(),
                    r.pack_id.0,
                    r.provider_id.0,
                    r.checked_at.0,
                    r.source.as_str(),
                    i64::from(r.drifted),
                    result
                ],
            )?;
            Ok(())
        })
    }

    fn get(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<Option<DriftCheckRecord>> {
        self.store.read(|conn| {
            Ok(conn
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM model_drift_checks
                         WHERE host_id = ?1 AND pack_id = ?2 AND provider_id = ?3"
                    ),
                    params![host_id.as_str(), pack_id.0, provider_id.0],
                    drift_row,
                )
                .optional()?)
        })
    }

    fn list(&self, host_id: Option<&HostId>) -> Result<Vec<DriftCheckRecord>> {
        self.store.read(|conn| {
            const ORDER: &str = "ORDER BY checked_at, host_id, pack_id, provider_id";
            let rows = match host_id {
                Some(h) => conn
                    .prepare(&format!(
                        "SELECT {COLUMNS} FROM model_drift_checks WHERE host_id = ?1 {ORDER}"
                    ))?
                    .query_map([h.as_str()], drift_row)?,
                None => conn
                    .prepare(&format!("SELECT {COLUMNS} FROM model_drift_checks {ORDER}"))?
                    .query_map([], drift_row)?,
            };
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }
}
