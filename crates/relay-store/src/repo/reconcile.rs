//! Reconcile runs.

use crate::db::{params, Conn, DbResult, OptionalExtension, Row};
use relay_domain::{BatchId, HostId, PackId, ProviderId, ReconcileRunId};

use crate::error::{Result, StoreError};
use crate::records::{
    NewReconcileRun, ReconcileFilter, ReconcileOutcome, ReconcileRunRecord, ReconcileStatus,
    Timestamp,
};
use crate::sql::{json, json_opt, limit_clause, parsed, parsed_opt, ts, ts_opt, Filter};
use crate::Store;

/// Reconcile runs: started `running`, finished once with an outcome.
pub trait ReconcileRepository {
    /// Starts a run (status `running`).
    fn start(&self, run: &NewReconcileRun) -> Result<ReconcileRunRecord>;
    /// Finishes a `running` run with its outcome; a run that is not running is
    /// [`StoreError::InvalidState`].
    fn finish(&self, id: &ReconcileRunId, outcome: &ReconcileOutcome)
        -> Result<ReconcileRunRecord>;
    /// The run, or [`StoreError::NotFound`].
    fn get(&self, id: &ReconcileRunId) -> Result<ReconcileRunRecord>;
    /// Runs matching the filter, newest first.
    fn list(&self, filter: &ReconcileFilter) -> Result<Vec<ReconcileRunRecord>>;
    /// Marks every `running` run `interrupted` (start-up crash recovery); returns their ids.
    fn interrupt_running(&self) -> Result<Vec<ReconcileRunId>>;
    /// [`ReconcileRepository::interrupt_running`] for one provider on a host only
    /// (its run was left by a server whose lease lapsed).
    fn interrupt_running_of(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<Vec<ReconcileRunId>>;
}

/// SQLite implementation of [`ReconcileRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteReconcileRuns<'s> {
    store: &'s Store,
}

impl<'s> SqliteReconcileRuns<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteReconcileRuns { store }
    }

    /// Moves the running runs matching `scope` to `interrupted` in one transaction.
    fn interrupt_where(&self, scope: &Filter) -> Result<Vec<ReconcileRunId>> {
        let now = Timestamp::now().0;
        let extra = match scope.where_clause() {
            w if w.is_empty() => String::new(),
            w => format!("AND {}", w.trim_start_matches("WHERE ")),
        };
        self.store.write(|tx| {
            let ids: Vec<ReconcileRunId> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT id FROM reconcile_runs WHERE status = 'running' {extra} \
                     ORDER BY started_at, id"
                ))?;
                let rows = stmt.query_map(scope.params(), |r| r.get::<_, String>(0))?;
                rows.map(|r| r.map(ReconcileRunId::new))
                    .collect::<DbResult<_>>()?
            };
            for id in &ids {
                tx.execute(
                    "UPDATE reconcile_runs SET status = 'interrupted', finished_at = ?2
                     WHERE id = ?1",
                    params![id.as_str(), now],
                )?;
            }
            Ok(ids)
        })
    }
}

const RUN_COLUMNS: &str = "id, host_id, pack_id, provider_id, batch_id, trigger, status, \
     verdict, access_status, differences, repairs, error, started_at, finished_at, report";

fn run_row(row: &Row<'_>) -> DbResult<ReconcileRunRecord> {
    Ok(ReconcileRunRecord {
        id: ReconcileRunId::new(row.get::<_, String>(0)?),
        host_id: HostId::new(row.get::<_, String>(1)?),
        pack_id: PackId(row.get(2)?),
        provider_id: ProviderId(row.get(3)?),
        batch_id: row.get::<_, Option<String>>(4)?.map(BatchId::new),
        trigger: parsed(row, 5)?,
        status: parsed(row, 6)?,
        verdict: parsed_opt(row, 7)?,
        access_status: parsed_opt(row, 8)?,
        differences: json(row, 9)?,
        repairs: json(row, 10)?,
        error: row.get(11)?,
        started_at: ts(row, 12)?,
        finished_at: ts_opt(row, 13)?,
        report: json_opt(row, 14)?,
    })
}

fn get_run(conn: &Conn<'_>, id: &ReconcileRunId) -> Result<ReconcileRunRecord> {
    conn.query_row(
        &format!("SELECT {RUN_COLUMNS} FROM reconcile_runs WHERE id = ?1"),
        [id.as_str()],
        run_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found("reconcile run", id))
}

impl ReconcileRepository for SqliteReconcileRuns<'_> {
    fn start(&self, run: &NewReconcileRun) -> Result<ReconcileRunRecord> {
        self.store.write(|tx| {
            tx.execute(
                "INSERT INTO reconcile_runs (id, host_id, pack_id, provider_id, batch_id, trigger,
                                             status, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7)",
                params![
                    run.id.as_str(),
                    run.host_id.as_str(),
                    run.pack_id.0,
                    run.provider_id.0,
                    run.batch_id.as_ref().map(|b| b.as_str()),
                    run.trigger.as_str(),
                    Timestamp::now().0
                ],
            )?;
            get_run(tx, &run.id)
        })
    }

    fn finish(
        &self,
        id: &ReconcileRunId,
        outcome: &ReconcileOutcome,
    ) -> Result<ReconcileRunRecord> {
        if !matches!(
            outcome.status,
            ReconcileStatus::Completed | ReconcileStatus::Failed
        ) {
            return Err(StoreError::InvalidState {
                what: format!(
                    "a reconcile run finishes completed or failed, not {}",
                    outcome.status
                ),
            });
        }
        let store = self.store;
        let differences = store.scrub_json(&outcome.differences);
        let repairs = store.scrub_json(&outcome.repairs);
        let error = store.scrub_opt(outcome.error.as_deref());
        let report = outcome.report.as_ref().map(|r| store.scrub_json(r));
        self.store.write(|tx| {
            let current = get_run(tx, id)?;
            if current.status != ReconcileStatus::Running {
                return Err(StoreError::InvalidState {
                    what: format!("reconcile run {id} is {}, not running", current.status),
                });
            }
            tx.execute(
                "UPDATE reconcile_runs SET status = ?2, verdict = ?3, access_status = ?4,
                     differences = ?5, repairs = ?6, error = ?7, finished_at = ?8, report = ?9
                 WHERE id = ?1",
                params![
                    id.as_str(),
                    outcome.status.as_str(),
                    outcome.verdict.map(|v| v.as_str()),
                    outcome.access_status.map(|a| a.as_str()),
                    differences,
                    repairs,
                    error,
                    Timestamp::now().0,
                    report
                ],
            )?;
            get_run(tx, id)
        })
    }

    fn get(&self, id: &ReconcileRunId) -> Result<ReconcileRunRecord> {
        self.store.read(|conn| get_run(conn, id))
    }

    fn list(&self, filter: &ReconcileFilter) -> Result<Vec<ReconcileRunRecord>> {
        let mut f = Filter::default();
        f.eq("host_id", filter.host_id.as_ref().map(|h| h.as_str()))
            .eq("pack_id", filter.pack_id.as_ref().map(|p| p.0.as_str()))
            .eq(
                "provider_id",
                filter.provider_id.as_ref().map(|p| p.0.as_str()),
            )
            .eq("batch_id", filter.batch_id.as_ref().map(|b| b.as_str()));
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM reconcile_runs {} ORDER BY started_at DESC, id DESC{}",
                f.where_clause(),
                limit_clause(filter.limit)
            ))?;
            let rows = stmt.query_map(f.params(), run_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn interrupt_running(&self) -> Result<Vec<ReconcileRunId>> {
        self.interrupt_where(&Filter::default())
    }

    fn interrupt_running_of(
        &self,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
    ) -> Result<Vec<ReconcileRunId>> {
        let mut f = Filter::default();
        f.eq("host_id", Some(host_id.as_str()))
            .eq("pack_id", Some(pack_id.0.as_str()))
            .eq("provider_id", Some(provider_id.0.as_str()));
        self.interrupt_where(&f)
    }
}
