//! Crash recovery (SPEC §8), for one server or several on one database: a batch or
//! reconcile run left `running` by a server that stopped becomes `interrupted` once
//! nobody holds its provider's lease any more (at start-up, and by the sweeper while
//! the server runs, so the work of another server killed with -9 is taken over as
//! soon as its lease lapses); a live server's work is never touched. A batch left
//! `pending` or `previewed` (it never started) becomes `failed` at start-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::app::App;
use crate::error::AppResult;
use crate::leases::{provider_lease, LeaseKeeper};
use relay_domain::{BatchId, ReconcileRunId};
use relay_store::{BatchRepository, LeaseRepository, ReconcileRepository};
use serde::Serialize;

/// What recovery found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecoveryReport {
    /// Batches found `running` / `rollback_running` with nobody working on them,
    /// now `interrupted`.
    pub interrupted_batches: Vec<BatchId>,
    /// Batches found `pending` / `previewed` (opened step by step by an older
    /// version, which stopped before the import started), now `failed`.
    pub failed_unstarted_batches: Vec<BatchId>,
    /// Reconcile runs found running with nobody working on them, now `interrupted`.
    pub interrupted_reconcile_runs: Vec<ReconcileRunId>,
}

/// Why a batch that never started is failed at start-up.
const UNSTARTED: &str =
    "the server stopped before this import started: nothing was written to the host; import again";

/// A running sweeper; stops when [`SweeperHandle::stop`] is called or dropped.
#[derive(Debug)]
pub struct SweeperHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SweeperHandle {
    /// Stops the sweeper and waits for its loop.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SweeperHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl App {
    /// Start-up recovery: frees the leases this server's previous process held
    /// (same worker id), marks interrupted the work nobody holds, and fails a batch
    /// that never started. Resume or roll back an interrupted batch through the API.
    pub fn recover_at_startup(&self) -> AppResult<RecoveryReport> {
        let freed = self
            .store()
            .leases()
            .release_owner(&self.config().worker_id)?;
        if freed > 0 {
            tracing::info!(
                worker_id = %self.config().worker_id,
                leases = freed,
                "freed the leases of this server's previous process"
            );
        }
        let mut report = self.sweep_orphaned_work()?;
        report.failed_unstarted_batches = self.store().batches().fail_unstarted(UNSTARTED)?;
        for b in &report.failed_unstarted_batches {
            tracing::warn!(batch_id = %b, "batch had not started at start-up: now failed; nothing was written to the host for it");
        }
        Ok(report)
    }

    /// Marks `interrupted` the running batches and reconcile runs of every provider
    /// whose lease nobody holds: the server that ran them stopped. Work of this
    /// process, or of another server whose lease is live, is left alone.
    pub fn sweep_orphaned_work(&self) -> AppResult<RecoveryReport> {
        let mut report = RecoveryReport::default();
        let config = self.config();
        for key in self.store().batches().providers_with_running_work()? {
            if !self.try_lock_provider(&key) {
                continue; // this process is working on it
            }
            let name = provider_lease(key.0.as_str(), &key.1 .0, &key.2 .0);
            let taken =
                LeaseKeeper::acquire(self.store(), &name, &config.worker_id, config.lease_ttl);
            let outcome = match taken {
                // Nobody holds it: the work's server stopped. Moved under the lease,
                // so no other server's sweep or import races this one.
                Ok(Ok(lease)) => {
                    let moved = (|| -> AppResult<()> {
                        let batches = self
                            .store()
                            .batches()
                            .interrupt_running_of(&key.0, &key.1, &key.2)?;
                        let runs = self
                            .store()
                            .reconcile_runs()
                            .interrupt_running_of(&key.0, &key.1, &key.2)?;
                        for b in &batches {
                            tracing::warn!(batch_id = %b, provider = %key.2, host = %key.0, "batch was left running by a server that stopped: now interrupted; resume or roll it back");
                        }
                        for r in &runs {
                            tracing::warn!(run_id = %r, provider = %key.2, host = %key.0, "reconcile run was left running by a server that stopped: now interrupted");
                        }
                        report.interrupted_batches.extend(batches);
                        report.interrupted_reconcile_runs.extend(runs);
                        Ok(())
                    })();
                    drop(lease);
                    moved
                }
                Ok(Err(_)) => Ok(()), // a live server works on it
                Err(e) => Err(e),
            };
            self.unlock_provider(&key);
            outcome?;
        }
        Ok(report)
    }

    /// Runs [`App::sweep_orphaned_work`] every `every` on a thread of its own.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) -> SweeperHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let app = self.clone();
        let flag = stop.clone();
        let tick = Duration::from_millis(100).min(every);
        let thread = std::thread::Builder::new()
            .name("lease-sweeper".into())
            .spawn(move || {
                let mut waited = Duration::ZERO;
                while !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(tick);
                    waited += tick;
                    if waited < every {
                        continue;
                    }
                    waited = Duration::ZERO;
                    if let Err(e) = app.sweep_orphaned_work() {
                        let error = app.redactor().redact(&e.to_string());
                        tracing::error!(%error, "sweep of work left by stopped servers failed");
                    }
                }
            })
            .ok();
        SweeperHandle { stop, thread }
    }
}
