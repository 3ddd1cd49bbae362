//! Crash recovery at start-up (SPEC §8): a batch left `running` becomes
//! `interrupted`; one left `pending` or `previewed` (it never started) becomes `failed`.

use crate::app::App;
use crate::error::AppResult;
use relay_domain::{BatchId, ReconcileRunId};
use relay_store::{BatchRepository, ReconcileRepository};
use serde::Serialize;

/// What start-up recovery found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecoveryReport {
    /// Batches found `running` / `rollback_running`, now `interrupted`.
    pub interrupted_batches: Vec<BatchId>,
    /// Batches found `pending` / `previewed` (opened step by step by an older
    /// version, which stopped before the import started), now `failed`.
    pub failed_unstarted_batches: Vec<BatchId>,
    /// Reconcile runs found running, now `interrupted`.
    pub interrupted_reconcile_runs: Vec<ReconcileRunId>,
}

/// Why a batch that never started is failed at start-up.
const UNSTARTED: &str =
    "the server stopped before this import started: nothing was written to the host; import again";

impl App {
    /// Marks everything a crash left running as interrupted, and fails a batch that
    /// never started. Resume or roll back an interrupted batch through the API.
    pub fn recover_at_startup(&self) -> AppResult<RecoveryReport> {
        let interrupted_batches = self.store().batches().interrupt_running()?;
        let failed_unstarted_batches = self.store().batches().fail_unstarted(UNSTARTED)?;
        let interrupted_reconcile_runs = self.store().reconcile_runs().interrupt_running()?;
        for b in &interrupted_batches {
            tracing::warn!(batch_id = %b, "batch was running at start-up: now interrupted; resume or roll it back");
        }
        for b in &failed_unstarted_batches {
            tracing::warn!(batch_id = %b, "batch had not started at start-up: now failed; nothing was written to the host for it");
        }
        Ok(RecoveryReport {
            interrupted_batches,
            failed_unstarted_batches,
            interrupted_reconcile_runs,
        })
    }
}
