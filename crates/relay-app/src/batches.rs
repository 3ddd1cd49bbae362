//! Batch views and lists.

use crate::app::App;
use crate::error::{AppError, AppResult};
use relay_domain::{BatchId, BatchStatus, PackId, ProviderId};
use relay_provision::RollbackReport;
use relay_store::{
    AccessClosureRecord, AccessClosureRepository, BatchFilter, BatchItemRecord, BatchRecord,
    BatchRepository, ProbeRepository, ProbeResultRecord, ReconcileFilter, ReconcileRepository,
    ReconcileRunRecord, ResourceRecord, ResourceRepository,
};
use serde::Serialize;

/// A batch with everything recorded about it.
#[derive(Debug, Clone, Serialize)]
pub struct BatchView {
    /// The batch record: request, status, counts and final report.
    pub batch: BatchRecord,
    /// Its keys (fingerprints and masks only).
    pub items: Vec<BatchItemRecord>,
    /// Host objects it created, adopted or reused.
    pub resources: Vec<ResourceRecord>,
    /// Probes it ran.
    pub probes: Vec<ProbeResultRecord>,
    /// Access proofs it recorded.
    pub closures: Vec<AccessClosureRecord>,
    /// Reconcile runs scoped to it.
    pub reconcile_runs: Vec<ReconcileRunRecord>,
    /// The rollback just run, when this view answers a rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackReport>,
}

impl App {
    /// A batch with its items, resources, probes, proofs and reconcile runs.
    pub fn batch_view(&self, batch_id: &str) -> AppResult<BatchView> {
        let store = self.store();
        let id = BatchId::new(batch_id);
        let batch = store.batches().get(&id)?;
        Ok(BatchView {
            items: store.batches().items(&id)?,
            resources: store.resources().list_by_batch(&id)?,
            probes: store.probes().list_by_batch(&id)?,
            closures: store.closures().list_by_batch(&id)?,
            reconcile_runs: store.reconcile_runs().list(&ReconcileFilter {
                batch_id: Some(id.clone()),
                ..ReconcileFilter::default()
            })?,
            batch,
            rollback: None,
        })
    }

    /// The batch record alone (a view's head; its rows are read page by page with
    /// [`App::batch_items_page`], [`App::batch_resources_page`] and
    /// [`App::batch_probes_page`], then [`App::batch_closures`] and
    /// [`App::batch_reconcile_runs`]).
    pub fn batch(&self, batch_id: &str) -> AppResult<BatchRecord> {
        Ok(self.store().batches().get(&BatchId::new(batch_id))?)
    }

    /// The batch's items after line `after_seq`, at most `limit`, by line.
    pub fn batch_items_page(
        &self,
        batch_id: &BatchId,
        after_seq: u32,
        limit: u32,
    ) -> AppResult<Vec<BatchItemRecord>> {
        Ok(self
            .store()
            .batches()
            .items_page(batch_id, after_seq, limit)?)
    }

    /// The host objects recorded for the batch after row `after_id`, at most `limit`,
    /// by row id.
    pub fn batch_resources_page(
        &self,
        batch_id: &BatchId,
        after_id: i64,
        limit: u32,
    ) -> AppResult<Vec<ResourceRecord>> {
        Ok(self
            .store()
            .batches()
            .resources_page(batch_id, after_id, limit)?)
    }

    /// The probes run for the batch after row `after_id`, at most `limit`, by row id.
    pub fn batch_probes_page(
        &self,
        batch_id: &BatchId,
        after_id: i64,
        limit: u32,
    ) -> AppResult<Vec<ProbeResultRecord>> {
        Ok(self
            .store()
            .batches()
            .probes_page(batch_id, after_id, limit)?)
    }

    /// The access proofs the batch recorded (a few per batch).
    pub fn batch_closures(&self, batch_id: &BatchId) -> AppResult<Vec<AccessClosureRecord>> {
        Ok(self.store().closures().list_by_batch(batch_id)?)
    }

    /// The reconcile runs scoped to the batch.
    pub fn batch_reconcile_runs(&self, batch_id: &BatchId) -> AppResult<Vec<ReconcileRunRecord>> {
        Ok(self.store().reconcile_runs().list(&ReconcileFilter {
            batch_id: Some(batch_id.clone()),
            ..ReconcileFilter::default()
        })?)
    }

    /// Batches, newest first, filtered, as summaries: each request record without its
    /// per-line lists (`keys`, `dropped`; [`App::batch`] has them).
    pub fn list_batches(
        &self,
        host: Option<&str>,
        pack_id: Option<&str>,
        provider_id: Option<&str>,
        status: Option<&str>,
        limit: Option<u32>,
    ) -> AppResult<Vec<BatchRecord>> {
        let host_id = match host {
            Some(h) => Some(self.resolve_host(h)?.id),
            None => None,
        };
        let status = match status {
            Some(s) => Some(
                s.parse::<BatchStatus>()
                    .map_err(|e| AppError::invalid("status", e.to_string()))?,
            ),
            None => None,
        };
        Ok(self.store().batches().list_summaries(&BatchFilter {
            host_id,
            pack_id: pack_id.map(|p| PackId(p.to_string())),
            provider_id: provider_id.map(|p| ProviderId(p.to_string())),
            status,
            limit,
        })?)
    }
}
