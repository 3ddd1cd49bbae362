//! Crash recovery at start-up (SPEC §8): a batch left `running` becomes `interrupted`.

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
    /// Reconcile runs found running, now `interrupted`.
    pub interrupted_reconcile_runs: Vec<ReconcileRunId>,
}

impl App {
    /// Marks everything a crash left running as interrupted. Resume or roll back
    /// an interrupted batch through the API.
    pub fn recover_at_startup(&self) -> AppResult<RecoveryReport> {
        let interrupted_batches = self.store().batches().interrupt_running()?;
        let interrupted_reconcile_runs = self.store().reconcile_runs().interrupt_running()?;
        for b in &interrupted_batches {
            tracing::warn!(batch_id = %b, "batch was running at start-up: now interrupted; resume or roll it back");
        }
        Ok(RecoveryReport {
            interrupted_batches,
            interrupted_reconcile_runs,
        })
    }
}
