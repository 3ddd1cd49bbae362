//! The run worker of batch auto-import (SPEC §5): takes items by lease, gives each
//! its account (created, reused, patched, replaced or reactivated — never a
//! duplicate), confirms it through the host's warm-up window with backoff and
//! jitter, and ends each run with the completion-gated access proof.
//!
//! Every step is written to the item's trail. A worker that dies (kill -9) leaves
//! its leases to expire; a restarted server with the same owner name takes its own
//! back at once ([`App::recover_runs`]). Keys not yet turned into accounts stay
//! sealed in the store and are erased the moment the account exists or the run ends.

use crate::app::App;
use crate::context::ProviderContext;
use crate::error::{AppError, AppResult};
use crate::imports::ImportInput;
use crate::leases::{run_lease, LeaseKeeper};
use crate::ports::{OsRandomness, StoreJournal, StoreProbeObserver, StoreVault};
use crate::runs::{subscriber_of, subscriber_validity_of};
use relay_core::{
    expected_subscription_type, probe_gateway, AccessProof, Journal as _, Ports, ProbeKeySource,
    ProbeSettings, SubscriberVault as _, DEFAULT_PROBE_EMAIL, SYSTEM_CLOCK,
};
use relay_domain::{
    AccessMode, AccessStatus, BatchId, ConfirmationEvent, ConfirmationStatus, HostAnswerClass,
    ImportMode, ItemStatus, ModeProof, PackId, ProviderId, ResourceState, ResourceType,
    ReuseDecision, RunId, RunItemEvent, RunItemEventKind, Secret, Timestamp,
};
use relay_store::{
    BatchRepository, ItemLease, NewRunItemEvent, RunItemPatch, RunItemRecord, RunRecord,
    RunRepository, StoreError,
};
use relay_sub2api::{AccountCredentials, AccountStatus, AccountUpdate, HostAdapter};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Tunables of the run worker.
#[derive(Debug, Clone)]
pub struct RunWorkerConfig {
    /// The worker's name on its leases; a restarted server with the same name takes
    /// its own leases back at once.
    pub owner: String,
    /// How long a lease lasts (renewed as the worker goes).
    pub lease: Duration,
    /// Idle wait between looks for due items.
    pub poll: Duration,
    /// Items taken at once.
    pub batch: u32,
    /// How long an item's confirmation may take before it fails with a named cause.
    pub confirm_window: Duration,
    /// First wait between confirmation attempts.
    pub initial_backoff: Duration,
    /// Longest wait between confirmation attempts.
    pub max_backoff: Duration,
}

impl Default for RunWorkerConfig {
    /// Lease 120 s, poll 1 s, 4 items at once, a 180 s confirmation window, backoff
    /// 2 s → 30 s.
    fn default() -> Self {
        RunWorkerConfig {
            owner: "relay-server".into(),
            lease: Duration::from_secs(120),
            poll: Duration::from_secs(1),
            batch: 4,
            confirm_window: Duration::from_secs(180),
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Stops the run worker when asked (and waits for its current pass).
#[derive(Debug)]
pub struct RunWorkerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunWorkerHandle {
    /// Stops the worker after its current pass.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The class of a gateway answer to a confirmation attempt.
pub fn answer_class(proof: &AccessProof) -> HostAnswerClass {
    if proof.proof == ModeProof::Ready {
        return HostAnswerClass::Ok;
    }
    status_class(proof.completion_status)
}

/// The class of a failed answer by its HTTP status (`None`: no answer came).
fn status_class(status: Option<u16>) -> HostAnswerClass {
    match status {
        None => HostAnswerClass::Unreachable,
        Some(403) => HostAnswerClass::WarmupForbidden403,
        Some(503) => HostAnswerClass::NoAvailableAccounts503,
        Some(429) => HostAnswerClass::RateLimited429,
        Some(402) => HostAnswerClass::Quota,
        Some(401) => HostAnswerClass::InvalidKey,
        Some(s) if s >= 500 => HostAnswerClass::UpstreamError,
        Some(_) => HostAnswerClass::Other,
    }
}

/// The wait before attempt `attempt + 1`: exponential from `initial`, capped at
/// `max`, with up to a quarter of jitter from `jitter` (0..=255).
pub fn backoff(config: &RunWorkerConfig, attempt: i64, jitter: u8) -> Duration {
    let exp = attempt.clamp(1, 16) as u32 - 1;
    let base = config
        .initial_backoff
        .saturating_mul(2u32.saturating_pow(exp))
        .min(config.max_backoff);
    base + base.mul_f64(f64::from(jitter) / 1024.0)
}

fn event(kind: RunItemEventKind) -> NewRunItemEvent {
    NewRunItemEvent::new(kind)
}

impl App {
    /// At start-up: gives back the leases this worker name held before a crash.
    pub fn recover_runs(&self, owner: &str) -> AppResult<usize> {
        let n = self.store().runs().release_owner(owner)?;
        if n > 0 {
            tracing::info!(
                owner,
                items = n,
                "batch import items taken back after a restart"
            );
        }
        Ok(n)
    }

    /// Starts the run worker on its own thread.
    pub fn spawn_run_worker(self: &Arc<Self>, config: RunWorkerConfig) -> RunWorkerHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let app = self.clone();
        let thread = std::thread::Builder::new()
            .name("batch-import-worker".into())
            .spawn(move || {
                if let Err(e) = app.recover_runs(&config.owner) {
                    tracing::error!(error = %e, "cannot take back the worker's leases");
                }
                while !flag.load(Ordering::SeqCst) {
                    let worked = match app.run_worker_pass(&config) {
                        Ok(n) => n,
                        Err(e) => {
                            tracing::error!(error = %app.redactor().redact(&e.to_string()), "batch import worker pass failed");
                            0
                        }
                    };
                    if worked == 0 {
                        let mut waited = Duration::ZERO;
                        while waited < config.poll && !flag.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(50));
                            waited += Duration::from_millis(50);
                        }
                    }
                }
            })
            .ok();
        RunWorkerHandle { stop, thread }
    }

    /// One pass of the worker: ends the runs whose items finished (with their
    /// access proof), then takes the due items and works each once. Returns how
    /// many items and runs it worked on.
    pub fn run_worker_pass(self: &Arc<Self>, config: &RunWorkerConfig) -> AppResult<usize> {
        let mut worked = 0;
        for run_id in self.store().runs().finishable()? {
            // One server ends a run (its access proof, its completion): the run's
            // lease, then a second look, as another server may have ended it since.
            let name = run_lease(run_id.as_str());
            let ttl = self.config().lease_ttl;
            let Ok(lease) = LeaseKeeper::acquire(self.store(), &name, &config.owner, ttl)? else {
                continue;
            };
            if self.store().runs().finishable()?.contains(&run_id) {
                self.finish_run_with_proof(&run_id)?;
                worked += 1;
            }
            drop(lease);
        }
        let leases = self.store().runs().acquire_items(
            &config.owner,
            Timestamp::now(),
            config.lease.as_millis() as i64,
            config.batch,
        )?;
        for lease in leases {
            worked += 1;
            match self.work_item(config, &lease) {
                Ok(_) => {}
                Err(AppError::Store(StoreError::LeaseLost { .. })) => {}
                Err(e) => {
                    let message = self.redactor().redact(&e.to_string());
                    tracing::error!(item = %lease.item_id, error = %message, "batch import item failed");
                    let _ = self.fail_item(&lease, HostAnswerClass::Other, &message);
                }
            }
        }
        Ok(worked)
    }

    fn work_item(self: &Arc<Self>, config: &RunWorkerConfig, lease: &ItemLease) -> AppResult<()> {
        let runs = self.store().runs();
        let item = runs.item(&lease.item_id)?;
        let run = runs.get(&lease.run_id)?;
        let Some(provider) = item.provider_id.clone() else {
            return self.fail_item(lease, HostAnswerClass::Other, "the item has no provider");
        };
        let pack = if item.adhoc {
            PackId(provider.0.clone())
        } else {
            run.pack_id.clone()
        };
        let mut ctx = match self.provider_context(&provider.0, run.host_id.as_str(), Some(&pack.0))
        {
            Ok(ctx) => ctx,
            Err(e) => return self.fail_item(lease, HostAnswerClass::Other, &e.to_string()),
        };
        ctx.audit_as(crate::audit::origin(
            relay_domain::AuditOriginKind::BatchImportRun,
            Some(run.id.as_str()),
        ));
        if item.account_id.is_none()
            && self
                .give_account(config, lease, &run, &item, &ctx)?
                .is_none()
        {
            // Failed, deferred or cancelled: this pass is done with the item.
            return Ok(());
        }
        let item = runs.item(&lease.item_id)?;
        self.confirm_once(config, lease, &run, &item, &ctx)
    }

    /// Decides the account of an item by the reuse policy and makes it exist.
    /// `None`: the item failed (with its cause), was deferred (the provider is
    /// busy) or was cancelled meanwhile; this pass is done with it.
    fn give_account(
        self: &Arc<Self>,
        config: &RunWorkerConfig,
        lease: &ItemLease,
        run: &RunRecord,
        item: &RunItemRecord,
        ctx: &ProviderContext,
    ) -> AppResult<Option<i64>> {
        let runs = self.store().runs();
        let Some(key) = runs.open_key(lease)? else {
            self.fail_item(
                lease,
                HostAnswerClass::Other,
                "the key is no longer held: paste its line again in a new run",
            )?;
            return Ok(None);
        };
        self.remember_secret(&key);
        let mut matched = event(RunItemEventKind::Matched);
        matched.decision = item.provider_id.as_ref().map(|p| p.0.clone());
        matched.details = json!({
            "provider_id": item.provider_id, "adhoc": item.adhoc,
            "canonical_model": item.canonical_model, "correction": item.model_correction,
        });
        runs.append_event(&lease.item_id, &matched)?;
        let model = item
            .canonical_model
            .clone()
            .unwrap_or_else(|| ctx.target.provider.smoke_test_model.clone());
        let chat_only = if run.profile && item.profile.is_none() {
            match self.profile_item(lease, ctx, &key, &model)? {
                Ok(chat_only) => Some(chat_only),
                Err((class, cause)) => {
                    self.fail_item(lease, class, &cause)?;
                    return Ok(None);
                }
            }
        } else {
            item.profile.as_ref().and_then(chat_only_of)
        };
        runs.renew(lease, Timestamp::now(), config.lease.as_millis() as i64)?;
        let journal = StoreJournal::new(self.store().clone(), ctx.scope(None));
        // An import of this key interrupted by a crash (this item's own, killed
        // mid-way) is resumed first: it adopts the account it may have made, so the
        // key never gets a second one.
        let resumed = match self.resume_interrupted(&journal, item, &key) {
            Ok(resumed) => resumed,
            Err(AppError::Conflict {
                code: "provider_busy",
                message,
            }) => {
                self.defer_busy(config, lease, item, message)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let recorded = journal
            .find_live_account(&item.fingerprint)
            .map_err(|e| AppError::Internal(format!("reading the journal: {e}")))?;
        if let (Some(batch), Some(entry)) = (&resumed, &recorded) {
            if entry.batch_id.as_ref() == Some(batch) {
                if let Some(id) = entry.host_resource_id {
                    let reason = format!(
                        "account {id} made by this key's import, finished by resuming its interrupted batch {batch}"
                    );
                    return self
                        .account_ready(
                            lease,
                            id,
                            ReuseDecision::Created,
                            &reason,
                            Some(batch.clone()),
                        )
                        .map(Some);
                }
            }
        }
        let adapter = ctx.adapter.as_ref();
        let (decision, reason) = match recorded.as_ref().and_then(|e| e.host_resource_id) {
            None => (
                ReuseDecision::Created,
                "no earlier account of this key".to_string(),
            ),
            Some(id) => {
                match adapter.get_account(id) {
                    Err(e) if e.is_not_found() => {
                        if let Some(entry) = &recorded {
                            journal
                                .set_state(entry.id, ResourceState::Deleted)
                                .map_err(|e| AppError::Internal(e.to_string()))?;
                        }
                        (
                        ReuseDecision::Replace,
                        format!("the recorded account {id} is gone from the host: a new one is created"),
                    )
                    }
                    Err(e) => return Err(AppError::Host(e)),
                    Ok(account) => match account.status {
                        AccountStatus::Error => {
                            match adapter.delete_account(id) {
                                Ok(()) => {}
                                Err(e) if e.is_not_found() => {}
                                Err(e) => return Err(AppError::Host(e)),
                            }
                            if let Some(entry) = &recorded {
                                journal
                                    .set_state(entry.id, ResourceState::Deleted)
                                    .map_err(|e| AppError::Internal(e.to_string()))?;
                            }
                            (
                            ReuseDecision::Replace,
                            format!("account {id} of this key was in error: deleted, a new one is created"),
                        )
                        }
                        AccountStatus::Inactive => {
                            adapter.update_account(
                                id,
                                &AccountUpdate {
                                    status: Some(AccountStatus::Active),
                                    ..AccountUpdate::default()
                                },
                            )?;
                            let account = adapter.get_account(id)?;
                            self.patch_account(adapter, &account, &key, &model, chat_only)?;
                            return self
                            .account_ready(
                                lease,
                                id,
                                ReuseDecision::Reactivated,
                                &format!("account {id} of this key was disabled: re-enabled, not duplicated"),
                                recorded.and_then(|e| e.batch_id),
                            )
                            .map(Some);
                        }
                        _ => {
                            let patched =
                                self.patch_account(adapter, &account, &key, &model, chat_only)?;
                            let (decision, reason) = match patched {
                                Some(what) => (
                                    ReuseDecision::PatchOnly,
                                    format!("account {id} of this key fits after a patch: {what}"),
                                ),
                                None => (
                                    ReuseDecision::Reused,
                                    format!("account {id} already serves this key and model"),
                                ),
                            };
                            return self
                                .account_ready(
                                    lease,
                                    id,
                                    decision,
                                    &reason,
                                    recorded.and_then(|e| e.batch_id),
                                )
                                .map(Some);
                        }
                    },
                }
            }
        };
        let mut decided = event(RunItemEventKind::Decided);
        decided.decision = Some(decision.as_str().into());
        decided.message = Some(reason.clone());
        runs.append_event(&lease.item_id, &decided)?;
        runs.renew(lease, Timestamp::now(), config.lease.as_millis() as i64)?;
        let input = ImportInput {
            host: run.host_id.as_str().to_string(),
            pack_id: Some(ctx.provider.pack_id.0.clone()),
            keys: key.clone(),
            mode: ImportMode::Partial,
            access_mode: run.access_mode,
            subscribers: run.subscribers.iter().map(|s| subscriber_of(s)).collect(),
            validity_days: run.validity_days.map(|d| d as u32),
            subscriber_validity_days: subscriber_validity_of(run),
            probe_key: None,
            replace_existing: false,
            concurrency: Some(1),
            warmup_window: Some(Duration::ZERO),
            balance: None,
        };
        let view = match self.import(&ctx.provider.provider_id.0, input) {
            Ok(view) => view,
            Err(AppError::Conflict {
                code: "provider_busy",
                message,
            }) => {
                self.defer_busy(config, lease, item, message)?;
                return Ok(None);
            }
            Err(e) => {
                self.fail_item(lease, HostAnswerClass::Other, &e.to_string())?;
                return Ok(None);
            }
        };
        let batch_id = view.batch.id.clone();
        let outcome = view
            .items
            .iter()
            .find(|i| i.fingerprint == item.fingerprint);
        match outcome.and_then(|o| o.account_id.filter(|_| good(o.status))) {
            Some(account_id) => {
                if chat_only == Some(true) {
                    let account = adapter.get_account(account_id)?;
                    self.patch_account(adapter, &account, &key, &model, chat_only)?;
                }
                match self.account_ready(
                    lease,
                    account_id,
                    decision,
                    &reason,
                    Some(batch_id.clone()),
                ) {
                    Ok(id) => Ok(Some(id)),
                    Err(AppError::Store(StoreError::LeaseLost { .. })) => {
                        // Cancelled while the account was made: undo this item's batch,
                        // so nothing is left half-made.
                        self.undo_cancelled(lease, &batch_id);
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
            None => {
                let message = outcome
                    .and_then(|o| o.message.clone())
                    .or_else(|| view.batch.error.clone())
                    .unwrap_or_else(|| "the host did not accept the key".into());
                let class = match outcome.and_then(|o| o.verdict) {
                    Some(relay_domain::Verdict::Failed)
                        if message.contains("402")
                            || message.to_lowercase().contains("balance")
                            || message.to_lowercase().contains("quota") =>
                    {
                        HostAnswerClass::Quota
                    }
                    Some(relay_domain::Verdict::Failed) => HostAnswerClass::InvalidKey,
                    _ => HostAnswerClass::Other,
                };
                runs.patch_item(
                    lease,
                    &RunItemPatch {
                        batch_id: Some(batch_id),
                        ..RunItemPatch::default()
                    },
                )?;
                self.fail_item(lease, class, &format!("the account test failed: {message}"))?;
                Ok(None)
            }
        }
    }

    /// Gives an item back for a little while: its provider is busy with another
    /// import, resume, rollback or reconcile (no attempt is counted).
    fn defer_busy(
        &self,
        config: &RunWorkerConfig,
        lease: &ItemLease,
        item: &RunItemRecord,
        message: String,
    ) -> AppResult<()> {
        let runs = self.store().runs();
        let mut e = event(RunItemEventKind::RetryScheduled);
        e.decision = Some("provider_busy".into());
        e.message = Some(message);
        runs.append_event(&lease.item_id, &e)?;
        runs.schedule_retry(lease, later(config.initial_backoff), item.attempts)?;
        Ok(())
    }

    /// Resumes every interrupted import batch that journaled an account (made or
    /// only intended) for the item's key, with the key, so the batch ends and keeps
    /// the account a later rollback of it must not take away unnoticed; returns the
    /// last one resumed.
    fn resume_interrupted(
        self: &Arc<Self>,
        journal: &StoreJournal,
        item: &RunItemRecord,
        key: &Secret,
    ) -> AppResult<Option<BatchId>> {
        let entries = journal
            .list_provider()
            .map_err(|e| AppError::Internal(format!("reading the journal: {e}")))?;
        let mut batches: Vec<BatchId> = entries
            .iter()
            .filter(|e| e.resource_type == ResourceType::Account)
            .filter(|e| e.fingerprint.as_ref() == Some(&item.fingerprint))
            .filter(|e| e.state == ResourceState::Intent || e.is_live())
            .filter_map(|e| e.batch_id.clone())
            .collect();
        batches.dedup();
        let mut resumed = None;
        for batch in batches {
            let status = self.store().batches().get(&batch)?.status;
            if status != relay_domain::BatchStatus::Interrupted {
                continue;
            }
            self.resume_batch(batch.as_str(), Some(key.clone()))?;
            let mut e = event(RunItemEventKind::Decided);
            e.decision = Some("resumed".into());
            e.message = Some(format!(
                "resumed the interrupted import batch {batch} of this key"
            ));
            self.store().runs().append_event(&item.id, &e)?;
            resumed = Some(batch);
        }
        Ok(resumed)
    }

    /// Rolls back the batch of an item cancelled while its account was made.
    fn undo_cancelled(self: &Arc<Self>, lease: &ItemLease, batch_id: &BatchId) {
        match self.rollback_batch(batch_id.as_str()) {
            Ok(_) => {
                tracing::info!(item = %lease.item_id, batch_id = %batch_id, "cancelled item's account rolled back")
            }
            Err(e) => {
                tracing::warn!(item = %lease.item_id, batch_id = %batch_id, error = %self.redactor().redact(&e.to_string()), "cannot roll back a cancelled item's batch")
            }
        }
    }

    /// Brings an existing account in line with the item: the model in its mapping
    /// (when the mapping is a whitelist) and the Chat Completions route when the
    /// profile found no Responses API. Returns what was patched.
    fn patch_account(
        &self,
        adapter: &dyn HostAdapter,
        account: &relay_sub2api::Account,
        key: &Secret,
        model: &str,
        chat_only: Option<bool>,
    ) -> AppResult<Option<String>> {
        let mut what = Vec::new();
        if !account.model_mapping.is_empty() && !account.model_mapping.contains_key(model) {
            let mut mapping: BTreeMap<String, String> = account.model_mapping.clone();
            mapping.insert(model.to_string(), model.to_string());
            adapter.update_account(
                account.id,
                &AccountUpdate {
                    credentials: Some(AccountCredentials {
                        api_key: Some(key.clone()),
                        base_url: account.base_url.clone(),
                        model_mapping: mapping,
                        other: Default::default(),
                    }),
                    ..AccountUpdate::default()
                },
            )?;
            what.push(format!("model {model} added to its model mapping"));
        }
        if chat_only == Some(true) && account.responses_route().takes_responses_path() {
            adapter.update_account(account.id, &AccountUpdate::force_chat_completions(account))?;
            what.push("forced to Chat Completions (the upstream has no Responses API)".into());
        }
        Ok((!what.is_empty()).then(|| what.join("; ")))
    }

    /// Records the item's account and the import batch it came from (erasing its key).
    fn account_ready(
        &self,
        lease: &ItemLease,
        account_id: i64,
        decision: ReuseDecision,
        reason: &str,
        batch_id: Option<BatchId>,
    ) -> AppResult<i64> {
        let runs = self.store().runs();
        if decision != ReuseDecision::Created && decision != ReuseDecision::Replace {
            let mut decided = event(RunItemEventKind::Decided);
            decided.decision = Some(decision.as_str().into());
            decided.message = Some(reason.to_string());
            runs.append_event(&lease.item_id, &decided)?;
        }
        if let Some(batch) = batch_id.clone() {
            runs.patch_item(
                lease,
                &RunItemPatch {
                    batch_id: Some(batch),
                    ..RunItemPatch::default()
                },
            )?;
        }
        // The store writes the `account_ready` and `key_erased` trail entries.
        runs.record_account(lease, account_id, decision, reason)?;
        Ok(account_id)
    }

    /// Profiles the item's upstream with its key (tiny capped requests, the item's
    /// model only) and stores the profile. `Ok(chat_only)`: the upstream serves
    /// Chat Completions only (or not); `Err`: the upstream refused the key or has
    /// no quota, so no account is made.
    #[allow(clippy::type_complexity)]
    fn profile_item(
        &self,
        lease: &ItemLease,
        ctx: &ProviderContext,
        key: &Secret,
        model: &str,
    ) -> AppResult<Result<bool, (HostAnswerClass, String)>> {
        let request =
            relay_upstream::ProfileRequest::new(ctx.target.provider.base_url.clone(), key.clone())
                .with_models([model.to_string()])
                .with_limits(relay_upstream::ProfileLimits {
                    max_models: 1,
                    ..relay_upstream::ProfileLimits::default()
                });
        let profile = relay_upstream::profile(&request);
        let chat_only = profile.chat_completions_only();
        let mut stored = serde_json::to_value(&profile)
            .map_err(|e| AppError::Internal(format!("the upstream profile: {e}")))?;
        if let Some(obj) = stored.as_object_mut() {
            obj.insert("chat_completions_only".into(), json!(chat_only));
            obj.insert("key_rejected".into(), json!(profile.key_rejected()));
            obj.insert("quota_exhausted".into(), json!(profile.quota_exhausted()));
        }
        let runs = self.store().runs();
        runs.patch_item(
            lease,
            &RunItemPatch {
                profile: Some(stored.clone()),
                ..RunItemPatch::default()
            },
        )?;
        let mut e = event(RunItemEventKind::Profiled);
        e.decision = Some(
            if chat_only {
                "chat_completions_only"
            } else {
                "responses_or_unknown"
            }
            .into(),
        );
        e.message = profile.problem.clone();
        e.details = json!({"requests": profile.requests, "elapsed_ms": profile.elapsed_ms});
        runs.append_event(&lease.item_id, &e)?;
        if profile.key_rejected() {
            return Ok(Err((
                HostAnswerClass::InvalidKey,
                "the upstream refused the key in the profile: no account was made; check the key and its base URL (keys are region-bound)".into(),
            )));
        }
        if profile.quota_exhausted() {
            return Ok(Err((
                HostAnswerClass::Quota,
                "the upstream has no quota or balance for this key (profile): no account was made; top it up and retry".into(),
            )));
        }
        Ok(Ok(chat_only))
    }

    /// One confirmation attempt through the gateway, then success, a scheduled
    /// retry, or failure with a named cause.
    fn confirm_once(
        self: &Arc<Self>,
        config: &RunWorkerConfig,
        lease: &ItemLease,
        run: &RunRecord,
        item: &RunItemRecord,
        ctx: &ProviderContext,
    ) -> AppResult<()> {
        let runs = self.store().runs();
        if item.confirmation_status == ConfirmationStatus::Pending {
            runs.confirm(lease, ConfirmationEvent::Start)?;
        }
        let attempt = item.attempts + 1;
        let (class, message, details) = self.confirmation_attempt(run, ctx, item.account_id)?;
        // A completion that passed while the model list does not show the model yet
        // (the host's models cache) is worth another attempt too.
        let retryable = class.is_transient()
            || details["retry"].as_bool() == Some(true)
            || details["completion_status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s));
        let mut e = event(RunItemEventKind::Attempt);
        e.attempt = Some(attempt);
        e.answer_class = Some(class);
        e.message = message.clone();
        let closed_status = details["access_closed"].as_str().map(str::to_string);
        let details_for_wait = details["retry_after_ms"].clone();
        e.details = details;
        runs.append_event(&lease.item_id, &e)?;
        if let Some(status) = closed_status {
            // The access closure ran first (an import stopped before it).
            let mut closed = event(RunItemEventKind::AccessProven);
            closed.decision = Some("access_closed".into());
            closed.message = Some(format!("the provider's access closure ran: {status}"));
            runs.append_event(&lease.item_id, &closed)?;
        }
        if class == HostAnswerClass::Ok {
            runs.confirm(lease, ConfirmationEvent::Confirm)?;
            runs.patch_item(
                lease,
                &RunItemPatch {
                    last_error: Some(None),
                    attempts: Some(attempt),
                    ..RunItemPatch::default()
                },
            )?;
            let mut done = event(RunItemEventKind::Confirmed);
            done.attempt = Some(attempt);
            runs.append_event(&lease.item_id, &done)?;
            runs.transition_item(lease, RunItemEvent::Succeed)?;
            return Ok(());
        }
        let started = first_attempt_at(self, item).unwrap_or(Timestamp::now());
        let elapsed = Timestamp::now().0.saturating_sub(started.0).max(0) as u64;
        // The host's Retry-After (a 429) is honoured when longer than the backoff.
        let wait = backoff(config, attempt, crate::random_bytes(1)[0])
            .max(details_retry_after(&details_for_wait));
        let in_window = Duration::from_millis(elapsed) + wait <= config.confirm_window;
        if retryable && in_window {
            let mut r = event(RunItemEventKind::RetryScheduled);
            r.attempt = Some(attempt);
            r.answer_class = Some(class);
            r.decision = Some(format!("retry in {} ms", wait.as_millis()));
            runs.append_event(&lease.item_id, &r)?;
            runs.patch_item(
                lease,
                &RunItemPatch {
                    last_error: Some(message.clone().or_else(|| Some(class.as_str().into()))),
                    ..RunItemPatch::default()
                },
            )?;
            runs.schedule_retry(lease, later(wait), attempt)?;
            return Ok(());
        }
        let cause = if retryable {
            format!(
                "confirmation window of {} s ended after {attempt} attempt(s); last answer: {class}{}",
                config.confirm_window.as_secs(),
                message.map(|m| format!(" ({m})")).unwrap_or_default()
            )
        } else {
            format!(
                "the gateway answered {class}{}",
                message.map(|m| format!(" ({m})")).unwrap_or_default()
            )
        };
        runs.patch_item(
            lease,
            &RunItemPatch {
                attempts: Some(attempt),
                ..RunItemPatch::default()
            },
        )?;
        self.fail_confirmation(lease, class, &cause)
    }

    /// One confirmation attempt of an item's account: in subscription mode one
    /// gateway probe (a single attempt) with the managed probe subscriber's key of
    /// the provider's subscription group — the access closure runs first when that
    /// key does not exist yet (an import stopped before it); in self-service mode,
    /// where the run holds no user key, the host's own test of the account.
    fn confirmation_attempt(
        self: &Arc<Self>,
        run: &RunRecord,
        ctx: &ProviderContext,
        account_id: Option<i64>,
    ) -> AppResult<(HostAnswerClass, Option<String>, Value)> {
        match run.access_mode {
            AccessMode::Subscription => {
                if let Some(answer) = self.gateway_attempt(ctx)? {
                    return Ok(answer);
                }
                let closed = self.assign_subscriptions(
                    &ctx.provider.provider_id.0,
                    &crate::access::AccessInput {
                        host: run.host_id.as_str().to_string(),
                        pack_id: Some(ctx.provider.pack_id.0.clone()),
                        access_mode: AccessMode::Subscription,
                        subscribers: run.subscribers.iter().map(|s| subscriber_of(s)).collect(),
                        validity_days: run.validity_days.map(|d| d as u32),
                        subscriber_validity_days: subscriber_validity_of(run),
                        probe_key: None,
                    },
                );
                if let Err(AppError::Conflict {
                    code: "provider_busy",
                    message,
                }) = closed
                {
                    return Ok((
                        HostAnswerClass::Other,
                        Some(message),
                        json!({"retry": true}),
                    ));
                }
                let status = closed?.status;
                let (class, message, mut details) = self.gateway_attempt(ctx)?.unwrap_or((
                    HostAnswerClass::Other,
                    Some("the access closure made no managed probe key for the provider's subscription group".into()),
                    json!({}),
                ));
                details["access_closed"] = json!(status);
                Ok((class, message, details))
            }
            AccessMode::SelfService => {
                let Some(account_id) = account_id else {
                    return Ok((
                        HostAnswerClass::Other,
                        Some("the item has no account".into()),
                        json!({}),
                    ));
                };
                let observer = StoreProbeObserver::new(self.store().clone(), ctx.scope(None), None);
                let probe = relay_core::probe_account(
                    ctx.adapter.as_ref(),
                    &|r| relay_core::Observer::probe(&observer, r),
                    account_id,
                    &ctx.target.provider.smoke_test_model,
                    &json!({}),
                    &self.redactor(),
                );
                let class = if probe.passed {
                    HostAnswerClass::Ok
                } else {
                    status_class(probe.http_status)
                };
                Ok((
                    class,
                    (!probe.passed).then(|| probe.message.clone()),
                    json!({"account_test_status": probe.http_status, "account_id": account_id}),
                ))
            }
        }
    }

    /// One gateway probe (a single attempt) with the managed probe subscriber's key
    /// of the provider's subscription group; `None` when that key does not exist.
    fn gateway_attempt(
        &self,
        ctx: &ProviderContext,
    ) -> AppResult<Option<(HostAnswerClass, Option<String>, Value)>> {
        let journal = StoreJournal::new(self.store().clone(), ctx.scope(None));
        let entries = journal
            .list_provider()
            .map_err(|e| AppError::Internal(format!("reading the journal: {e}")))?;
        let want = expected_subscription_type(AccessMode::Subscription);
        let group = entries
            .iter()
            .filter(|e| e.resource_type == ResourceType::Group && e.is_live())
            .filter(|e| e.detail_str("subscription_type").is_none_or(|t| t == want))
            .filter_map(|e| e.host_resource_id)
            .next_back();
        let vault = StoreVault::new(self.store().clone(), ctx.host.id.clone());
        let key = match group {
            Some(g) => vault
                .user_key(DEFAULT_PROBE_EMAIL, g)
                .map_err(|e| AppError::Internal(format!("reading the vault: {e}")))?,
            None => None,
        };
        let Some(key) = key else {
            return Ok(None);
        };
        let observer = StoreProbeObserver::new(self.store().clone(), ctx.scope(None), None);
        let ports = Ports {
            adapter: ctx.adapter.as_ref(),
            journal: &journal,
            vault: &vault,
            random: &OsRandomness,
            observer: &observer,
            clock: &SYSTEM_CLOCK,
        };
        let settings = ProbeSettings {
            warmup_window: Duration::ZERO,
            models_cache_ttl: Duration::ZERO,
            ..ProbeSettings::default()
        }
        .for_model(&ctx.target.provider.smoke_test_model);
        let proof = probe_gateway(
            &ports,
            &key,
            AccessMode::Subscription,
            ProbeKeySource::ManagedSubscription,
            &settings,
            None,
        )
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let class = answer_class(&proof);
        Ok(Some((
            class,
            proof.message.clone(),
            json!({
                "models_status": proof.models_status,
                "smoke_model_seen": proof.smoke_model_seen,
                "completion_status": proof.completion_status,
                "key_mask": proof.key_mask,
                "retry_after_ms": proof.retry_after.map(|d| d.as_millis() as u64),
            }),
        )))
    }

    fn fail_confirmation(
        &self,
        lease: &ItemLease,
        class: HostAnswerClass,
        cause: &str,
    ) -> AppResult<()> {
        self.store()
            .runs()
            .confirm(lease, ConfirmationEvent::Fail)?;
        self.fail_item(lease, class, cause)
    }

    /// Fails an item with a named cause (trail entry, last error).
    fn fail_item(&self, lease: &ItemLease, class: HostAnswerClass, cause: &str) -> AppResult<()> {
        let runs = self.store().runs();
        runs.patch_item(
            lease,
            &RunItemPatch {
                last_error: Some(Some(cause.to_string())),
                ..RunItemPatch::default()
            },
        )?;
        let mut e = event(RunItemEventKind::Failed);
        e.answer_class = Some(class);
        e.message = Some(cause.to_string());
        runs.append_event(&lease.item_id, &e)?;
        runs.transition_item(lease, RunItemEvent::Fail)?;
        Ok(())
    }

    /// Ends a run whose items finished: proves access once per provider with
    /// succeeded items (completion-gated), records it, completes the run.
    fn finish_run_with_proof(self: &Arc<Self>, run_id: &RunId) -> AppResult<()> {
        let runs = self.store().runs();
        let run = runs.get(run_id)?;
        let mut providers: BTreeMap<(ProviderId, bool), ()> = BTreeMap::new();
        let mut cursor = None;
        loop {
            let page = runs.items(run_id, cursor.as_deref(), 500)?;
            for i in &page.items {
                if i.state == relay_domain::RunItemState::Succeeded {
                    if let Some(p) = &i.provider_id {
                        providers.insert((p.clone(), i.adhoc), ());
                    }
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut proofs = Vec::new();
        let mut per_provider = Vec::new();
        for (provider, adhoc) in providers.keys() {
            let pack = if *adhoc {
                PackId(provider.0.clone())
            } else {
                run.pack_id.clone()
            };
            let (status, entry) = match self.provider_context(
                &provider.0,
                run.host_id.as_str(),
                Some(&pack.0),
            ) {
                Ok(_) if run.access_mode == AccessMode::SelfService => (
                    AccessStatus::NotConfigured,
                    json!({
                        "provider_id": provider.0, "access_status": AccessStatus::NotConfigured,
                        "subscription": ModeProof::NotAttempted, "self_service": ModeProof::NotAttempted,
                        "completion_status": null,
                        "message": "a self-service run holds no user key to prove the gateway with: its items were confirmed by the host's account test; prove access with relay access check and a user key",
                    }),
                ),
                Ok(ctx) => match self.confirmation_attempt(&run, &ctx, None) {
                    Ok((class, message, details)) => {
                        let ready = class == HostAnswerClass::Ok;
                        let proof = if ready {
                            ModeProof::Ready
                        } else {
                            ModeProof::Broken
                        };
                        let (sub, own) = match run.access_mode {
                            AccessMode::Subscription => (proof, ModeProof::NotAttempted),
                            AccessMode::SelfService => (ModeProof::NotAttempted, proof),
                        };
                        let status = AccessStatus::derive(sub, own);
                        (
                            status,
                            json!({
                                "provider_id": provider.0, "access_status": status,
                                "subscription": sub, "self_service": own,
                                "completion_status": details["completion_status"],
                                "message": if ready { None } else { message.or(Some(class.as_str().to_string())) },
                            }),
                        )
                    }
                    Err(e) => (
                        AccessStatus::Broken,
                        proof_error(&provider.0, &e.to_string()),
                    ),
                },
                Err(e) => (
                    AccessStatus::Broken,
                    proof_error(&provider.0, &e.to_string()),
                ),
            };
            per_provider.push((provider.clone(), status));
            proofs.push(entry);
        }
        let overall = if per_provider.is_empty() {
            AccessStatus::NotConfigured
        } else if per_provider.iter().all(|(_, s)| s.is_ready()) {
            per_provider[0].1
        } else {
            AccessStatus::Broken
        };
        runs.record_access(run_id, overall, &Value::Array(proofs), &per_provider)?;
        let run = runs.complete_run(run_id)?;
        tracing::info!(run_id = %run_id, state = %run.state, access = %overall, "batch import run ended");
        Ok(())
    }
}

fn proof_error(provider: &str, message: &str) -> Value {
    json!({
        "provider_id": provider, "access_status": AccessStatus::Broken,
        "subscription": ModeProof::NotAttempted, "self_service": ModeProof::NotAttempted,
        "completion_status": null, "message": message,
    })
}

fn good(status: ItemStatus) -> bool {
    matches!(
        status,
        ItemStatus::Passed | ItemStatus::Warning | ItemStatus::AlreadyImported
    )
}

fn later(d: Duration) -> Timestamp {
    Timestamp(Timestamp::now().0.saturating_add(d.as_millis() as i64))
}

/// The `Retry-After` of an attempt's details (`retry_after_ms`), zero when absent.
fn details_retry_after(value: &Value) -> Duration {
    value
        .as_u64()
        .map(Duration::from_millis)
        .unwrap_or_default()
}

/// Whether a stored profile says the upstream serves Chat Completions only.
fn chat_only_of(profile: &Value) -> Option<bool> {
    profile
        .get("chat_completions_only")
        .and_then(Value::as_bool)
}

/// When the item's first confirmation attempt was made.
fn first_attempt_at(app: &App, item: &RunItemRecord) -> Option<Timestamp> {
    app.store()
        .runs()
        .events(&item.id)
        .ok()?
        .iter()
        .rev()
        .take_while(|e| e.kind != RunItemEventKind::Retried)
        .filter(|e| e.kind == RunItemEventKind::Attempt)
        .map(|e| e.at)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_cap_with_at_most_a_quarter_of_jitter() {
        let config = RunWorkerConfig {
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
            ..RunWorkerConfig::default()
        };
        assert_eq!(backoff(&config, 1, 0), Duration::from_secs(2));
        assert_eq!(backoff(&config, 2, 0), Duration::from_secs(4));
        assert_eq!(backoff(&config, 4, 0), Duration::from_secs(16));
        assert_eq!(backoff(&config, 5, 0), Duration::from_secs(30));
        assert_eq!(backoff(&config, 60, 0), Duration::from_secs(30));
        for attempt in 1..20 {
            let base = backoff(&config, attempt, 0);
            let most = backoff(&config, attempt, u8::MAX);
            assert!(
                most >= base && most <= base + base / 4,
                "{attempt}: {base:?} {most:?}"
            );
        }
    }

    #[test]
    fn failed_answers_are_classed_by_their_status() {
        use HostAnswerClass as C;
        for (status, class) in [
            (None, C::Unreachable),
            (Some(403), C::WarmupForbidden403),
            (Some(503), C::NoAvailableAccounts503),
            (Some(429), C::RateLimited429),
            (Some(402), C::Quota),
            (Some(401), C::InvalidKey),
            (Some(502), C::UpstreamError),
            (Some(400), C::Other),
        ] {
            assert_eq!(status_class(status), class, "{status:?}");
        }
    }

    #[test]
    fn a_retry_after_longer_than_the_backoff_wins() {
        assert_eq!(details_retry_after(&json!(7000)), Duration::from_secs(7));
        assert_eq!(details_retry_after(&Value::Null), Duration::ZERO);
    }
}
