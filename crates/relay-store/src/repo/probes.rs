//! Probe results and access closure records.

use crate::db::{params, Conn, DbResult, Row};
use relay_domain::{AccessMode, BatchId, HostId, PackId, ProviderId, ReconcileRunId};

use crate::error::{Result, StoreError};
use crate::records::{
    AccessClosureRecord, NewAccessClosure, NewProbeResult, ProbeKind, ProbeResultRecord, Timestamp,
};
use crate::sql::{fingerprint_opt, json, parsed, ts};
use crate::Store;

/// Every probe the manager ran.
pub trait ProbeRepository {
    /// Records a probe result.
    fn insert(&self, probe: &NewProbeResult) -> Result<ProbeResultRecord>;
    /// Probes run by a batch, in order.
    fn list_by_batch(&self, batch_id: &BatchId) -> Result<Vec<ProbeResultRecord>>;
    /// Probes run by a reconcile run, in order.
    fn list_by_reconcile_run(&self, run_id: &ReconcileRunId) -> Result<Vec<ProbeResultRecord>>;
    /// The newest probes of a kind on a host, newest first.
    fn latest_by_kind(
        &self,
        host_id: &HostId,
        kind: ProbeKind,
        limit: u32,
    ) -> Result<Vec<ProbeResultRecord>>;
}

/// Proofs that an ordinary user can call the model.
pub trait AccessClosureRepository {
    /// Records a proof.
    fn insert(&self, closure: &NewAccessClosure) -> Result<AccessClosureRecord>;
    /// The newest proof for a provider on a host, optionally of one mode.
    fn latest(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        mode: Option<AccessMode>,
    ) -> Result<Option<AccessClosureRecord>>;
    /// Proofs recorded by a batch, in order.
    fn list_by_batch(&self, batch_id: &BatchId) -> Result<Vec<AccessClosureRecord>>;
    /// Proofs recorded by a reconcile run, in order.
    fn list_by_reconcile_run(&self, run_id: &ReconcileRunId) -> Result<Vec<AccessClosureRecord>>;
}

/// SQLite implementation of [`ProbeRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteProbes<'s> {
    store: &'s Store,
}

impl<'s> SqliteProbes<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteProbes { store }
    }
}

/// SQLite implementation of [`AccessClosureRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteAccessClosures<'s> {
    store: &'s Store,
}

impl<'s> SqliteAccessClosures<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteAccessClosures { store }
    }
}

const PROBE_COLUMNS: &str = "id, host_id, pack_id, provider_id, batch_id, reconcile_run_id, \
     kind, subject, outcome, http_status, message, duration_ms, details, at";

fn probe_row(row: &Row<'_>) -> DbResult<ProbeResultRecord> {
    Ok(ProbeResultRecord {
        id: row.get(0)?,
        host_id: HostId::new(row.get::<_, String>(1)?),
        pack_id: row.get::<_, Option<String>>(2)?.map(PackId),
        provider_id: row.get::<_, Option<String>>(3)?.map(ProviderId),
        batch_id: row.get::<_, Option<String>>(4)?.map(BatchId::new),
        reconcile_run_id: row.get::<_, Option<String>>(5)?.map(ReconcileRunId::new),
        kind: parsed(row, 6)?,
        subject: row.get(7)?,
        outcome: parsed(row, 8)?,
        http_status: row.get(9)?,
        message: row.get(10)?,
        duration_ms: row.get(11)?,
        details: json(row, 12)?,
        at: ts(row, 13)?,
    })
}

pub(crate) fn query_probes(
    conn: &Conn<'_>,
    where_sql: &str,
    params: impl crate::db::Params,
) -> Result<Vec<ProbeResultRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {PROBE_COLUMNS} FROM probe_results WHERE {where_sql}"
    ))?;
    let rows = stmt.query_map(params, probe_row)?;
    Ok(rows.collect::<DbResult<Vec<_>>>()?)
}

const CLOSURE_COLUMNS: &str = "id, host_id, pack_id, provider_id, batch_id, reconcile_run_id, \
     mode, probe_key_source, probe_key_fingerprint, probe_key_mask, models_status, \
     expected_model_seen, completion_status, completion_type, completion_preview, \
     access_status, message, details, at";

fn closure_row(row: &Row<'_>) -> DbResult<AccessClosureRecord> {
    Ok(AccessClosureRecord {
        id: row.get(0)?,
        host_id: HostId::new(row.get::<_, String>(1)?),
        pack_id: PackId(row.get(2)?),
        provider_id: ProviderId(row.get(3)?),
        batch_id: row.get::<_, Option<String>>(4)?.map(BatchId::new),
        reconcile_run_id: row.get::<_, Option<String>>(5)?.map(ReconcileRunId::new),
        mode: parsed(row, 6)?,
        probe_key_source: parsed(row, 7)?,
        probe_key_fingerprint: fingerprint_opt(row, 8)?,
        probe_key_mask: row.get(9)?,
        models_status: row.get(10)?,
        expected_model_seen: row.get(11)?,
        completion_status: row.get(12)?,
        completion_type: row.get(13)?,
        completion_preview: row.get(14)?,
        access_status: parsed(row, 15)?,
        message: row.get(16)?,
        details: json(row, 17)?,
        at: ts(row, 18)?,
    })
}

fn query_closures(
    conn: &Conn<'_>,
    where_sql: &str,
    params: impl crate::db::Params,
) -> Result<Vec<AccessClosureRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {CLOSURE_COLUMNS} FROM access_closure_records WHERE {where_sql}"
    ))?;
    let rows = stmt.query_map(params, closure_row)?;
    Ok(rows.collect::<DbResult<Vec<_>>>()?)
}

fn duration_to_sql(ms: Option<u64>) -> Option<i64> {
    ms.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

impl ProbeRepository for SqliteProbes<'_> {
    fn insert(&self, p: &NewProbeResult) -> Result<ProbeResultRecord> {
        let subject = self.store.scrub(&p.subject);
        let message = self.store.scrub_opt(p.message.as_deref());
        let details = self.store.scrub_json(&p.details);
        self.store.write(|tx| {
            let id: i64 = tx.query_row(
                "INSERT INTO probe_results (host_id, pack_id, provider_id, batch_id,
                                            reconcile_run_id, kind, subject, outcome, http_status,
                                            message, duration_ms, details, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
                params![
                    p.host_id.as_str(),
                    p.pack_id.as_ref().map(|v| v.0.as_str()),
                    p.provider_id.as_ref().map(|v| v.0.as_str()),
                    p.batch_id.as_ref().map(|v| v.as_str()),
                    p.reconcile_run_id.as_ref().map(|v| v.as_str()),
                    p.kind.as_str(),
                    subject,
                    p.outcome.as_str(),
                    p.http_status,
                    message,
                    duration_to_sql(p.duration_ms),
                    details,
                    Timestamp::now().0
                ],
                |r| r.get(0),
            )?;
            query_probes(tx, "id = ?1", [id])?
                .pop()
                .ok_or_else(|| StoreError::not_found("probe result", id))
        })
    }

    fn list_by_batch(&self, batch_id: &BatchId) -> Result<Vec<ProbeResultRecord>> {
        self.store
            .read(|conn| query_probes(conn, "batch_id = ?1 ORDER BY id", [batch_id.as_str()]))
    }

    fn list_by_reconcile_run(&self, run_id: &ReconcileRunId) -> Result<Vec<ProbeResultRecord>> {
        self.store
            .read(|conn| query_probes(conn, "reconcile_run_id = ?1 ORDER BY id", [run_id.as_str()]))
    }

    fn latest_by_kind(
        &self,
        host_id: &HostId,
        kind: ProbeKind,
        limit: u32,
    ) -> Result<Vec<ProbeResultRecord>> {
        self.store.read(|conn| {
            query_probes(
                conn,
                "host_id = ?1 AND kind = ?2 ORDER BY at DESC, id DESC LIMIT ?3",
                params![host_id.as_str(), kind.as_str(), limit],
            )
        })
    }
}

impl AccessClosureRepository for SqliteAccessClosures<'_> {
    fn insert(&self, c: &NewAccessClosure) -> Result<AccessClosureRecord> {
        let completion_type = self.store.scrub_opt(c.completion_type.as_deref());
        let completion_preview = self.store.scrub_opt(c.completion_preview.as_deref());
        let message = self.store.scrub_opt(c.message.as_deref());
        let details = self.store.scrub_json(&c.details);
        self.store.write(|tx| {
            let id: i64 = tx.query_row(
                "INSERT INTO access_closure_records (
                     host_id, pack_id, provider_id, batch_id, reconcile_run_id, mode,
                     probe_key_source, probe_key_fingerprint, probe_key_mask, models_status,
                     expected_model_seen, completion_status, completion_type, completion_preview,
                     access_status, message, details, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                         ?17, ?18) RETURNING id",
                params![
                    c.host_id.as_str(),
                    c.pack_id.0,
                    c.provider_id.0,
                    c.batch_id.as_ref().map(|v| v.as_str()),
                    c.reconcile_run_id.as_ref().map(|v| v.as_str()),
                    c.mode.as_str(),
                    c.probe_key_source.as_str(),
                    c.probe_key_fingerprint.as_ref().map(|f| f.as_str()),
                    c.probe_key_mask,
                    c.models_status,
                    c.expected_model_seen,
                    c.completion_status,
                    completion_type,
                    completion_preview,
                    c.access_status.as_str(),
                    message,
                    details,
                    Timestamp::now().0
                ],
                |r| r.get(0),
            )?;
            query_closures(tx, "id = ?1", [id])?
                .pop()
                .ok_or_else(|| StoreError::not_found("access closure record", id))
        })
    }

    fn latest(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        mode: Option<AccessMode>,
    ) -> Result<Option<AccessClosureRecord>> {
        self.store.read(|conn| {
            Ok(query_closures(
                conn,
                "host_id = ?1 AND pack_id = ?2 AND provider_id = ?3
                 AND (CAST(?4 AS TEXT) IS NULL OR mode = ?4)
                 ORDER BY at DESC, id DESC LIMIT 1",
                params![
                    host_id.as_str(),
                    pack_id.0,
                    provider_id.0,
                    mode.map(|m| m.as_str())
                ],
            )?
            .pop())
        })
    }

    fn list_by_batch(&self, batch_id: &BatchId) -> Result<Vec<AccessClosureRecord>> {
        self.store
            .read(|conn| query_closures(conn, "batch_id = ?1 ORDER BY id", [batch_id.as_str()]))
    }

    fn list_by_reconcile_run(&self, run_id: &ReconcileRunId) -> Result<Vec<AccessClosureRecord>> {
        self.store.read(|conn| {
            query_closures(conn, "reconcile_run_id = ?1 ORDER BY id", [run_id.as_str()])
        })
    }
}
