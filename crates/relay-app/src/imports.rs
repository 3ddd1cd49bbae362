//! Imports, resumes and rollbacks of provider keys (SPEC §4.3–§4.6), persisted
//! through the store as they happen.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ports::{OsRandomness, StoreJournal, StoreVault};
use relay_access::AccessClosure;
use relay_core::ItemProgress;
use relay_core::{
    Journal as _, JournalScope, Observer, Ports, ProbeRecord, ProbeSettings, ProviderTarget,
    SubscriberSelector, SYSTEM_CLOCK,
};
use relay_domain::{
    AccessMode, AccessStatus, BatchEvent, BatchId, BatchStatus, Fingerprint, HostId, HostStatus,
    ImportMode, ItemStatus, KeyPlan, ModeProof, PackId, ProviderEvent, ProviderId, ProviderStatus,
    ReconcileRunId, Redactor, Secret,
};
use relay_provision::{
    ImportReport, ImportRequest, PreviewReport, ProvisionError, ResumeItem, ResumeRequest,
    RollbackReport,
};
use relay_store::{
    AccessClosureRecord, AccessClosureRepository, BatchFilter, BatchItemRecord, BatchRecord,
    BatchRepository, HostRecord, HostRepository, InstallRepository, ItemUpdate, NewAccessClosure,
    NewBatch, NewBatchItem, NewProbeResult, ProbeRepository, ProbeResultRecord, ProviderRecord,
    ReconcileFilter, ReconcileRepository, ReconcileRunRecord, ResourceRecord, ResourceRepository,
    SecretRepository, SecretSlot, Store,
};
use relay_sub2api::{Capabilities, HostAdapter};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// An import (or preview) as the operator asks for it. Keys are secrets.
#[derive(Debug, Clone)]
pub struct ImportInput {
    /// Host id or name.
    pub host: String,
    /// Pack, when the provider id exists in several packs.
    pub pack_id: Option<String>,
    /// The key list, one key per line.
    pub keys: Secret,
    /// Strict or partial.
    pub mode: ImportMode,
    /// Subscription or self-service.
    pub access_mode: AccessMode,
    /// Subscribers besides the managed probe subscriber.
    pub subscribers: Vec<SubscriberSelector>,
    /// Subscription validity in days (default: the plan template's).
    pub validity_days: Option<u32>,
    /// A user key bound to the group, for the self-service proof.
    pub probe_key: Option<Secret>,
    /// Retire managed accounts of earlier batches whose key is not in this import.
    pub replace_existing: bool,
    /// Parallel account tests (default: the server's setting).
    pub concurrency: Option<usize>,
}

/// A batch with everything recorded about it.
#[derive(Debug, Clone, Serialize)]
pub struct BatchView {
    /// The batch.
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

/// Everything a use-case needs about one provider on one host.
pub(crate) struct ProviderContext {
    pub host: HostRecord,
    pub provider: ProviderRecord,
    pub target: ProviderTarget,
    pub adapter: Arc<dyn HostAdapter>,
}

impl ProviderContext {
    pub fn scope(&self, batch_id: Option<BatchId>) -> JournalScope {
        JournalScope {
            host_id: self.host.id.clone(),
            pack_id: self.provider.pack_id.clone(),
            provider_id: self.provider.provider_id.clone(),
            batch_id,
        }
    }
}

/// Capabilities from a stored capability map.
pub(crate) fn capabilities_of(map: &std::collections::BTreeMap<String, bool>) -> Capabilities {
    let f = |k: &str| map.get(k).copied().unwrap_or(false);
    Capabilities {
        groups: f("groups"),
        channels: f("channels"),
        plans: f("plans"),
        accounts: f("accounts"),
        account_test: f("account_test"),
        account_models: f("account_models"),
        subscriptions: f("subscriptions"),
        users: f("users"),
        user_keys: f("user_keys"),
        chat_completions: f("chat_completions"),
    }
}

fn provision_error(e: ProvisionError) -> AppError {
    match e {
        ProvisionError::Blocked { problems } => AppError::Conflict {
            code: "import_blocked",
            message: format!("the import cannot run: {}", problems.join("; ")),
        },
        ProvisionError::NothingRecorded { .. } => AppError::Conflict {
            code: "nothing_recorded",
            message: e.to_string(),
        },
        ProvisionError::InvalidRequest(m) => AppError::invalid("request", m),
        ProvisionError::Host { step, source } => match source {
            relay_sub2api::HostError::Transport(m) => {
                AppError::HostUnreachable(format!("{step}: {m}"))
            }
            other => AppError::HostStep {
                step,
                message: other.to_string(),
            },
        },
        other => AppError::Internal(other.to_string()),
    }
}

/// `e` with its message passed through `redactor` (host texts it quotes).
pub(crate) fn redact_app_error(e: AppError, redactor: &Redactor) -> AppError {
    let r = |s: String| redactor.redact(&s);
    match e {
        AppError::Invalid { field, message } => AppError::Invalid {
            field,
            message: r(message),
        },
        AppError::Conflict { code, message } => AppError::Conflict {
            code,
            message: r(message),
        },
        AppError::HostUnreachable(m) => AppError::HostUnreachable(r(m)),
        AppError::HostAuth(m) => AppError::HostAuth(r(m)),
        AppError::HostComplianceRequired(m) => AppError::HostComplianceRequired(r(m)),
        AppError::Host(h) => AppError::Host(h.redacted(redactor)),
        AppError::HostStep { step, message } => AppError::HostStep {
            step: r(step),
            message: r(message),
        },
        AppError::InvalidPack { problems } => AppError::InvalidPack {
            problems: problems.into_iter().map(r).collect(),
        },
        AppError::Internal(m) => AppError::Internal(r(m)),
        other => other,
    }
}

/// Persists batch progress as the provisioning reports it, through the
/// operation's redaction step (the batch's keys, the application's secrets, the
/// key patterns).
struct StoreBatchObserver {
    store: Store,
    scope: JournalScope,
    batch_id: BatchId,
    redactor: Redactor,
}

impl Observer for StoreBatchObserver {
    fn item(&self, fingerprint: &Fingerprint, progress: ItemProgress) {
        let update = ItemUpdate {
            status: Some(progress.status),
            account_id: progress.account_id,
            verdict: progress.verdict,
            message: progress.message.map(|m| self.redactor.redact(&m)),
            details: Some(self.redactor.redact_json(&progress.details)),
        };
        if let Err(e) = self
            .store
            .batches()
            .update_item(&self.batch_id, fingerprint, &update)
        {
            tracing::error!(batch_id = %self.batch_id, error = %self.redactor.redact(&e.to_string()), "cannot record item progress");
        }
    }

    fn probe(&self, record: ProbeRecord) {
        let record = record.redacted(&self.redactor);
        let result = self.store.probes().insert(&NewProbeResult {
            host_id: self.scope.host_id.clone(),
            pack_id: Some(self.scope.pack_id.clone()),
            provider_id: Some(self.scope.provider_id.clone()),
            batch_id: Some(self.batch_id.clone()),
            reconcile_run_id: None,
            kind: record.kind,
            subject: record.subject,
            outcome: record.verdict,
            http_status: record.http_status,
            message: record.message,
            duration_ms: record.duration_ms,
            details: record.details,
        });
        if let Err(e) = result {
            tracing::error!(batch_id = %self.batch_id, error = %self.redactor.redact(&e.to_string()), "cannot record a probe");
        }
    }
}

/// Releases the per-provider lock when dropped.
pub(crate) struct ProviderLock {
    app: Arc<App>,
    key: (HostId, PackId, ProviderId),
}

impl Drop for ProviderLock {
    fn drop(&mut self) {
        self.app.unlock_provider(&self.key);
    }
}

fn mode_proof_of(closure: Option<&AccessClosureRecord>) -> ModeProof {
    match closure {
        None => ModeProof::NotAttempted,
        Some(c)
            if c.expected_model_seen
                && c.completion_status.is_some_and(|s| (200..300).contains(&s)) =>
        {
            ModeProof::Ready
        }
        Some(_) => ModeProof::Broken,
    }
}

impl App {
    /// Takes the per-provider lock: one import, resume, rollback or reconcile of a
    /// provider on a host at a time.
    pub(crate) fn lock_provider(
        self: &Arc<Self>,
        ctx: &ProviderContext,
    ) -> AppResult<ProviderLock> {
        let key = (
            ctx.host.id.clone(),
            ctx.provider.pack_id.clone(),
            ctx.provider.provider_id.clone(),
        );
        if !self.try_lock_provider(&key) {
            return Err(AppError::Conflict {
                code: "provider_busy",
                message: format!(
                    "an import, rollback or reconcile of {} on host {} is running: wait for it to finish",
                    key.2, ctx.host.name
                ),
            });
        }
        Ok(ProviderLock {
            app: self.clone(),
            key,
        })
    }

    /// Resolves host, provider, manifest, capabilities and adapter.
    pub(crate) fn provider_context(
        &self,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
    ) -> AppResult<ProviderContext> {
        if host.trim().is_empty() {
            return Err(AppError::invalid(
                "host_id",
                "is required: name the host (id or name) to act on",
            ));
        }
        let host = self.resolve_host(host)?;
        let (provider, manifest) = self.resolve_provider(provider_id, pack_id)?;
        let snapshot = self.store().hosts().latest_snapshot(&host.id)?;
        let caps = snapshot
            .as_ref()
            .map(|s| capabilities_of(&s.capabilities))
            .unwrap_or_default();
        let adapter = self.adapter(&host)?;
        // The provider's journal on this host decides the platform of an existing
        // install (`relay_provision::choose_platform`); previews settle it against the
        // host's groups too.
        let recorded = StoreJournal::new(
            self.store().clone(),
            JournalScope {
                host_id: host.id.clone(),
                pack_id: provider.pack_id.clone(),
                provider_id: provider.provider_id.clone(),
                batch_id: None,
            },
        )
        .list_provider()
        .map_err(|e| AppError::Internal(format!("reading the provider's journal: {e}")))?;
        Ok(ProviderContext {
            target: ProviderTarget::new(
                provider.pack_id.0.clone(),
                manifest,
                host.version.clone(),
                caps,
                &recorded,
            ),
            host,
            provider,
            adapter,
        })
    }

    fn probe_tuning(&self) -> ProbeSettings {
        ProbeSettings {
            warmup_window: self.config().warmup_window,
            ..ProbeSettings::default()
        }
    }

    fn import_request(&self, input: &ImportInput) -> AppResult<ImportRequest> {
        let mut req = ImportRequest::new(input.keys.clone(), input.mode, input.access_mode);
        req.concurrency = input
            .concurrency
            .unwrap_or(self.config().import_concurrency)
            .max(1);
        req.replace_existing = input.replace_existing;
        req.subscribers = input.subscribers.clone();
        req.validity_days = input.validity_days;
        req.supplied_key = input.probe_key.clone();
        req.probe = self.probe_tuning();
        Ok(req)
    }

    /// Previews an import: the plan per resource and per key. Writes nothing to the host.
    pub fn preview_import(
        &self,
        provider_id: &str,
        input: &ImportInput,
    ) -> AppResult<PreviewReport> {
        let ctx = self.provider_context(provider_id, &input.host, input.pack_id.as_deref())?;
        let request = self.import_request(input)?;
        let journal = StoreJournal::new(self.store().clone(), ctx.scope(None));
        let mut report = relay_provision::preview(
            ctx.adapter.as_ref(),
            &journal,
            &ctx.target,
            &request.preview_request(),
        )
        .map_err(provision_error)?;
        // The import itself would be refused: say so in the plan, with the reason.
        if ctx.host.status != HostStatus::Supported {
            report.problems.push(format!(
                "host {} is {}: an import is refused until `relay host probe` reports it supported",
                ctx.host.name, ctx.host.status
            ));
        }
        Ok(report)
    }

    /// Starts an import: validates, previews, records the batch and its keys, and
    /// runs it on a worker thread. Returns the batch as it starts (`running`).
    pub fn start_import(
        self: &Arc<Self>,
        provider_id: &str,
        input: ImportInput,
    ) -> AppResult<BatchView> {
        let (ctx, lock, request, batch_id) = self.prepare_import(provider_id, &input)?;
        let app = self.clone();
        let id = batch_id.clone();
        std::thread::Builder::new()
            .name(format!("import-{batch_id}"))
            .spawn(move || {
                let _lock = lock;
                app.run_import(&ctx, &id, &request);
            })
            .map_err(|e| AppError::Internal(format!("cannot start the import worker: {e}")))?;
        self.batch_view(batch_id.as_str())
    }

    /// Runs an import to the end and returns the finished batch.
    pub fn import(self: &Arc<Self>, provider_id: &str, input: ImportInput) -> AppResult<BatchView> {
        let (ctx, lock, request, batch_id) = self.prepare_import(provider_id, &input)?;
        self.run_import(&ctx, &batch_id, &request);
        drop(lock);
        self.batch_view(batch_id.as_str())
    }

    fn prepare_import(
        self: &Arc<Self>,
        provider_id: &str,
        input: &ImportInput,
    ) -> AppResult<(ProviderContext, ProviderLock, ImportRequest, BatchId)> {
        let ctx = self.provider_context(provider_id, &input.host, input.pack_id.as_deref())?;
        match ctx.host.status {
            HostStatus::Supported => {}
            other => {
                return Err(AppError::Conflict {
                    code: "host_not_supported",
                    message: format!(
                    "host {} is {other}: probe it (relay host probe) and fix what it reports first",
                    ctx.host.name
                ),
                })
            }
        }
        if let Some(install) = self.store().installs().find(
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        )? {
            if install.status == ProviderStatus::Disabled {
                return Err(AppError::Conflict {
                    code: "provider_disabled",
                    message: format!(
                        "provider {} is disabled on host {}: enable it first",
                        ctx.provider.provider_id, ctx.host.name
                    ),
                });
            }
        }
        let request = self.import_request(input)?;
        let lock = self.lock_provider(&ctx)?;
        let journal = StoreJournal::new(self.store().clone(), ctx.scope(None));
        let preview = relay_provision::preview(
            ctx.adapter.as_ref(),
            &journal,
            &ctx.target,
            &request.preview_request(),
        )
        .map_err(provision_error)?;
        if preview.keys.is_empty() {
            return Err(AppError::invalid(
                "keys",
                "no key left after dropping blank lines, comments and invalid lines: supply one key per line",
            ));
        }
        if !preview.can_import() {
            return Err(AppError::Conflict {
                code: "import_blocked",
                message: format!("the import cannot run: {}", preview.problems.join("; ")),
            });
        }
        let batch_id = BatchId::from_random(&crate::random_bytes(8));
        let items: Vec<NewBatchItem> = preview
            .keys
            .iter()
            .map(|k| NewBatchItem {
                seq: k.line as u32,
                fingerprint: k.fingerprint.clone(),
                mask: k.mask.clone(),
                plan: k.plan,
                status: match k.plan {
                    KeyPlan::New => ItemStatus::Pending,
                    KeyPlan::AlreadyImported => ItemStatus::AlreadyImported,
                    KeyPlan::DuplicateInRequest => ItemStatus::DuplicateInRequest,
                },
                account_id: k.account_id,
            })
            .collect();
        let record = json!({
            "host_id": ctx.host.id,
            "mode": input.mode,
            "access_mode": input.access_mode,
            "keys": preview.keys.iter().map(|k| json!({"line": k.line, "fingerprint": k.fingerprint, "mask": k.mask, "plan": k.plan})).collect::<Vec<_>>(),
            "dropped": preview.dropped,
            "subscribers": input.subscribers.iter().map(|s| match s {
                SubscriberSelector::UserId(id) => json!({"user_id": id}),
                SubscriberSelector::Email(e) => json!({"email": e}),
            }).collect::<Vec<_>>(),
            "validity_days": input.validity_days,
            "probe_key": input.probe_key.as_ref().map(|k| json!({
                "fingerprint": Fingerprint::of(k.expose()),
                "mask": relay_domain::mask(k.expose()),
            })),
            "replace_existing": input.replace_existing,
            "concurrency": request.concurrency,
        });
        self.store().installs().ensure(
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        )?;
        if let Some(key) = &input.probe_key {
            self.store().secrets().put(
                &SecretSlot::probe_key(
                    &ctx.host.id,
                    &ctx.provider.pack_id,
                    &ctx.provider.provider_id,
                ),
                key,
            )?;
        }
        self.store().batches().create(
            &NewBatch {
                id: batch_id.clone(),
                host_id: ctx.host.id.clone(),
                pack_id: ctx.provider.pack_id.clone(),
                provider_id: ctx.provider.provider_id.clone(),
                mode: input.mode,
                access_mode: input.access_mode,
                request: record,
            },
            &items,
        )?;
        self.store().batches().set_report(
            &batch_id,
            &json!({"phase": "import", "preview": preview}),
            None,
        )?;
        self.store()
            .batches()
            .transition(&batch_id, BatchEvent::Preview)?;
        self.store()
            .batches()
            .transition(&batch_id, BatchEvent::Start)?;
        self.store().installs().set_last_batch(
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
            &batch_id,
        )?;
        tracing::info!(batch_id = %batch_id, provider = %ctx.provider.provider_id, host = %ctx.host.name, keys = items.len(), "import started");
        Ok((ctx, lock, request, batch_id))
    }

    fn run_import(&self, ctx: &ProviderContext, batch_id: &BatchId, request: &ImportRequest) {
        let started = Instant::now();
        let redactor = self.redactor_with(&request.redactor());
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let scope = ctx.scope(Some(batch_id.clone()));
            let journal = StoreJournal::new(self.store().clone(), scope.clone());
            let vault = StoreVault::new(self.store().clone(), ctx.host.id.clone());
            let observer = StoreBatchObserver {
                store: self.store().clone(),
                scope,
                batch_id: batch_id.clone(),
                redactor: redactor.clone(),
            };
            let ports = Ports {
                adapter: ctx.adapter.as_ref(),
                journal: &journal,
                vault: &vault,
                random: &OsRandomness,
                observer: &observer,
                clock: &SYSTEM_CLOCK,
            };
            relay_provision::import(&ports, &AccessClosure, &ctx.target, request)
                .map_err(|e| e.to_string())
        }));
        let result = match outcome {
            Ok(r) => r,
            Err(_) => Err("the import worker panicked".to_string()),
        };
        self.finish_run(ctx, batch_id, result, started, &redactor);
    }

    /// Records the end of an import or resume: batch status, report, provider
    /// status, access status and proofs, metrics. Every text (the report, the error,
    /// the provider's status message, the log line) passes `redactor` first.
    fn finish_run(
        &self,
        ctx: &ProviderContext,
        batch_id: &BatchId,
        result: Result<ImportReport, String>,
        started: Instant,
        redactor: &Redactor,
    ) {
        let result = result
            .map(|mut report| {
                report.redact(redactor);
                report
            })
            .map_err(|message| redactor.redact(&message));
        let store = self.store();
        let (host, pack, provider) = (
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        );
        let outcome = match result {
            Ok(report) => {
                let event = match report.outcome {
                    BatchStatus::Succeeded => BatchEvent::Succeed,
                    BatchStatus::PartiallySucceeded => BatchEvent::PartiallySucceed,
                    _ => BatchEvent::Fail,
                };
                if let Err(e) = self.record_access(ctx, Some(batch_id), &report.access) {
                    tracing::error!(batch_id = %batch_id, error = %e, "cannot record the access proofs");
                }
                let mut report_json = serde_json::to_value(&report).unwrap_or(Value::Null);
                if let Some(obj) = report_json.as_object_mut() {
                    // Every stored report says which phase wrote it (import, rollback).
                    obj.insert("phase".into(), json!("import"));
                }
                redactor.redact_json_in_place(&mut report_json);
                let _ = store
                    .batches()
                    .set_report(batch_id, &report_json, report.error.as_deref());
                let status = store.batches().transition(batch_id, event);
                if let Err(e) = &status {
                    tracing::error!(batch_id = %batch_id, error = %e, "cannot finish the batch");
                }
                self.apply_provider_event(
                    host,
                    pack,
                    provider,
                    report.provider_event,
                    report.error.as_deref(),
                );
                report.outcome
            }
            Err(message) => {
                tracing::error!(batch_id = %batch_id, error = %message, "import failed");
                let _ = store.batches().set_report(
                    batch_id,
                    &json!({"phase": "import", "error": message}),
                    Some(&message),
                );
                let _ = store.batches().transition(batch_id, BatchEvent::Fail);
                self.apply_provider_event(
                    host,
                    pack,
                    provider,
                    ProviderEvent::Fail,
                    Some(&message),
                );
                BatchStatus::Failed
            }
        };
        self.metrics()
            .observe_import(outcome.as_str(), started.elapsed());
        tracing::info!(batch_id = %batch_id, outcome = %outcome, elapsed_ms = started.elapsed().as_millis() as u64, "import finished");
    }

    /// Applies a provider event, logging (not failing) a refused move.
    pub(crate) fn apply_provider_event(
        &self,
        host: &HostId,
        pack: &PackId,
        provider: &ProviderId,
        event: ProviderEvent,
        message: Option<&str>,
    ) {
        if let Err(e) = self
            .store()
            .installs()
            .apply_event(host, pack, provider, event, message)
        {
            tracing::warn!(provider = %provider, ?event, error = %e, "provider status not changed");
        }
    }

    /// Stores the access proofs of a closure and the resulting access status
    /// (combined with the latest proof of a mode this closure did not attempt).
    pub(crate) fn record_access(
        &self,
        ctx: &ProviderContext,
        batch_id: Option<&BatchId>,
        access: &relay_core::AccessReport,
    ) -> AppResult<AccessStatus> {
        self.persist_access(
            ctx,
            batch_id,
            None,
            access.subscription,
            access.self_service,
            &access.proofs(),
        )
    }

    /// Stores access proofs (of an import, a closure or a reconcile run) and the
    /// derived access status of the provider on the host.
    pub(crate) fn persist_access(
        &self,
        ctx: &ProviderContext,
        batch_id: Option<&BatchId>,
        run_id: Option<&ReconcileRunId>,
        subscription: ModeProof,
        self_service: ModeProof,
        proofs: &[&relay_core::AccessProof],
    ) -> AppResult<AccessStatus> {
        let store = self.store();
        let (host, pack, provider) = (
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        );
        let latest = |mode| store.closures().latest(host, pack, provider, Some(mode));
        let sub = match subscription {
            ModeProof::NotAttempted => mode_proof_of(latest(AccessMode::Subscription)?.as_ref()),
            p => p,
        };
        let own = match self_service {
            ModeProof::NotAttempted => mode_proof_of(latest(AccessMode::SelfService)?.as_ref()),
            p => p,
        };
        let status = AccessStatus::derive(sub, own);
        for proof in proofs {
            store.closures().insert(&NewAccessClosure {
                host_id: host.clone(),
                pack_id: pack.clone(),
                provider_id: provider.clone(),
                batch_id: batch_id.cloned(),
                reconcile_run_id: run_id.cloned(),
                mode: proof.mode,
                probe_key_source: proof.key_source,
                probe_key_fingerprint: Some(proof.key_fingerprint.clone()),
                probe_key_mask: Some(proof.key_mask.clone()),
                models_status: proof.models_status,
                expected_model_seen: proof.smoke_model_seen,
                completion_status: proof.completion_status,
                completion_type: proof.completion_type.clone(),
                completion_preview: proof.completion_preview.clone(),
                access_status: status,
                message: proof.message.clone(),
                details: serde_json::to_value(proof).unwrap_or(Value::Null),
            })?;
        }
        store
            .installs()
            .set_access_status(host, pack, provider, status)?;
        Ok(status)
    }

    /// Rolls back everything a batch recorded (SPEC §4.6).
    pub fn rollback_batch(self: &Arc<Self>, batch_id: &str) -> AppResult<BatchView> {
        let batch = self.store().batches().get(&BatchId::new(batch_id))?;
        let ctx = self.provider_context(
            &batch.provider_id.0,
            batch.host_id.as_str(),
            Some(&batch.pack_id.0),
        )?;
        let _lock = self.lock_provider(&ctx)?;
        let batch = self.store().batches().get(&batch.id)?;
        if !matches!(
            batch.status,
            BatchStatus::Failed
                | BatchStatus::Succeeded
                | BatchStatus::PartiallySucceeded
                | BatchStatus::Interrupted
        ) {
            return Err(AppError::Conflict {
                code: "batch_not_rollbackable",
                message: format!(
                    "batch {} is {}: only succeeded, partially_succeeded, failed or interrupted batches can be rolled back",
                    batch.id, batch.status
                ),
            });
        }
        let report = self.run_rollback(&ctx, &batch)?;
        let mut view = self.batch_view(batch_id)?;
        view.rollback = Some(report);
        Ok(view)
    }

    /// The redaction step of a batch whose keys are gone: the application's secrets,
    /// the fingerprints of the batch's keys, the key patterns.
    fn batch_redactor(&self, batch_id: &BatchId) -> AppResult<Redactor> {
        let mut r = self.redactor();
        for item in self.store().batches().items(batch_id)? {
            r.add_fingerprint(&item.fingerprint);
        }
        Ok(r)
    }

    fn run_rollback(
        &self,
        ctx: &ProviderContext,
        batch: &BatchRecord,
    ) -> AppResult<RollbackReport> {
        let redactor = self.batch_redactor(&batch.id)?;
        let result = self.run_rollback_unredacted(ctx, batch, &redactor);
        result
            .map(|mut r| {
                r.redact(&redactor);
                r
            })
            .map_err(|e| redact_app_error(e, &redactor))
    }

    fn run_rollback_unredacted(
        &self,
        ctx: &ProviderContext,
        batch: &BatchRecord,
        redactor: &Redactor,
    ) -> AppResult<RollbackReport> {
        let store = self.store();
        let mut report_json = batch.report.clone().unwrap_or_else(|| json!({}));
        if let Some(obj) = report_json.as_object_mut() {
            obj.insert("phase".into(), json!("rollback"));
        }
        store
            .batches()
            .set_report(&batch.id, &report_json, batch.error.as_deref())?;
        store
            .batches()
            .transition(&batch.id, BatchEvent::StartRollback)?;
        let journal = StoreJournal::new(store.clone(), ctx.scope(Some(batch.id.clone())));
        let vault = StoreVault::new(store.clone(), ctx.host.id.clone());
        let (host, pack, provider) = (
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        );
        match relay_provision::rollback_batch(ctx.adapter.as_ref(), &journal, &vault, &batch.id) {
            Ok(mut r) => {
                r.redact(redactor);
                if let Some(obj) = report_json.as_object_mut() {
                    obj.insert(
                        "rollback".into(),
                        serde_json::to_value(&r).unwrap_or(Value::Null),
                    );
                }
                if r.complete {
                    for item in store.batches().items(&batch.id)? {
                        if matches!(
                            item.status,
                            ItemStatus::Created | ItemStatus::Passed | ItemStatus::Warning
                        ) || (item.status == ItemStatus::Failed && item.account_id.is_some())
                        {
                            store.batches().update_item(
                                &batch.id,
                                &item.fingerprint,
                                &ItemUpdate {
                                    status: Some(ItemStatus::RolledBack),
                                    ..ItemUpdate::default()
                                },
                            )?;
                        }
                    }
                    store
                        .batches()
                        .set_report(&batch.id, &report_json, batch.error.as_deref())?;
                    store
                        .batches()
                        .transition(&batch.id, BatchEvent::RollbackDone)?;
                    let live = store
                        .resources()
                        .list_for_provider(host, pack, provider)?
                        .into_iter()
                        .any(|r| {
                            r.state.is_owned_live()
                                || r.state == relay_domain::ResourceState::Reused
                        });
                    if !live {
                        self.apply_provider_event(
                            host,
                            pack,
                            provider,
                            ProviderEvent::RolledBack,
                            None,
                        );
                        store.installs().set_access_status(
                            host,
                            pack,
                            provider,
                            AccessStatus::NotConfigured,
                        )?;
                    }
                } else {
                    let names: Vec<String> = r
                        .remaining
                        .iter()
                        .map(|x| format!("{} {} ({})", x.resource_type, x.host_id, x.error))
                        .collect();
                    let message = format!(
                        "rollback left {} object(s): {}",
                        names.len(),
                        names.join("; ")
                    );
                    store
                        .batches()
                        .set_report(&batch.id, &report_json, Some(&message))?;
                    store.batches().transition(&batch.id, BatchEvent::Fail)?;
                    self.apply_provider_event(
                        host,
                        pack,
                        provider,
                        ProviderEvent::Drift,
                        Some(&message),
                    );
                }
                Ok(r)
            }
            Err(e) => {
                let message = redactor.redact(&format!("rollback failed: {e}"));
                store
                    .batches()
                    .set_report(&batch.id, &report_json, Some(&message))?;
                store.batches().transition(&batch.id, BatchEvent::Fail)?;
                self.apply_provider_event(
                    host,
                    pack,
                    provider,
                    ProviderEvent::Drift,
                    Some(&message),
                );
                Err(provision_error(e))
            }
        }
    }

    /// Finishes an interrupted batch: continues a rollback that was running, or
    /// resumes the import (keys may be supplied again to create what is missing).
    pub fn resume_batch(
        self: &Arc<Self>,
        batch_id: &str,
        keys: Option<Secret>,
    ) -> AppResult<BatchView> {
        let batch = self.store().batches().get(&BatchId::new(batch_id))?;
        if batch.status != BatchStatus::Interrupted {
            return Err(AppError::Conflict {
                code: "batch_not_resumable",
                message: format!(
                    "batch {} is {}: only interrupted batches can be resumed",
                    batch.id, batch.status
                ),
            });
        }
        let ctx = self.provider_context(
            &batch.provider_id.0,
            batch.host_id.as_str(),
            Some(&batch.pack_id.0),
        )?;
        let lock = self.lock_provider(&ctx)?;
        let phase = batch
            .report
            .as_ref()
            .and_then(|r| r.get("phase"))
            .and_then(Value::as_str)
            .unwrap_or("import");
        if phase == "rollback" {
            let report = self.run_rollback(&ctx, &batch)?;
            drop(lock);
            let mut view = self.batch_view(batch_id)?;
            view.rollback = Some(report);
            return Ok(view);
        }
        let req = &batch.request;
        let subscribers = req
            .get("subscribers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|s| {
                        if let Some(id) = s.get("user_id").and_then(Value::as_i64) {
                            Some(SubscriberSelector::UserId(id))
                        } else {
                            s.get("email")
                                .and_then(Value::as_str)
                                .map(|e| SubscriberSelector::Email(e.to_string()))
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let probe_key = if batch.access_mode == AccessMode::SelfService
            || req.get("probe_key").is_some_and(|v| !v.is_null())
        {
            self.store().secrets().get(&SecretSlot::probe_key(
                &ctx.host.id,
                &ctx.provider.pack_id,
                &ctx.provider.provider_id,
            ))?
        } else {
            None
        };
        let input = ImportInput {
            host: ctx.host.id.to_string(),
            pack_id: Some(ctx.provider.pack_id.0.clone()),
            keys: keys.unwrap_or_else(|| Secret::new("")),
            mode: batch.mode,
            access_mode: batch.access_mode,
            subscribers,
            validity_days: req
                .get("validity_days")
                .and_then(Value::as_u64)
                .map(|v| v as u32),
            probe_key,
            replace_existing: req
                .get("replace_existing")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            concurrency: req
                .get("concurrency")
                .and_then(Value::as_u64)
                .map(|v| v as usize),
        };
        let import = self.import_request(&input)?;
        let items: Vec<ResumeItem> = self
            .store()
            .batches()
            .items(&batch.id)?
            .into_iter()
            .map(|i| ResumeItem {
                line: i.seq as usize,
                fingerprint: i.fingerprint,
                mask: i.mask,
                plan: i.plan,
            })
            .collect();
        let mut redactor = self.redactor_with(&import.redactor());
        for i in &items {
            redactor.add_fingerprint(&i.fingerprint);
        }
        self.store()
            .batches()
            .transition(&batch.id, BatchEvent::Start)?;
        let started = Instant::now();
        let scope = ctx.scope(Some(batch.id.clone()));
        let journal = StoreJournal::new(self.store().clone(), scope.clone());
        let vault = StoreVault::new(self.store().clone(), ctx.host.id.clone());
        let observer = StoreBatchObserver {
            store: self.store().clone(),
            scope,
            batch_id: batch.id.clone(),
            redactor: redactor.clone(),
        };
        let ports = Ports {
            adapter: ctx.adapter.as_ref(),
            journal: &journal,
            vault: &vault,
            random: &OsRandomness,
            observer: &observer,
            clock: &SYSTEM_CLOCK,
        };
        let result = relay_provision::resume_batch(
            &ports,
            &AccessClosure,
            &ctx.target,
            &ResumeRequest { import, items },
        )
        .map_err(|e| e.to_string());
        self.finish_run(&ctx, &batch.id, result, started, &redactor);
        drop(lock);
        self.batch_view(batch_id)
    }

    /// Rolls back everything recorded for a provider on a host; refuses when
    /// nothing is recorded.
    pub fn rollback_provider(
        self: &Arc<Self>,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
    ) -> AppResult<RollbackReport> {
        let ctx = self.provider_context(provider_id, host, pack_id)?;
        let _lock = self.lock_provider(&ctx)?;
        let store = self.store();
        let journal = StoreJournal::new(store.clone(), ctx.scope(None));
        let vault = StoreVault::new(store.clone(), ctx.host.id.clone());
        let (h, p, pr) = (
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        );
        let mut redactor = self.redactor();
        for r in store.resources().list_for_provider(h, p, pr)? {
            if let Some(fp) = &r.fingerprint {
                redactor.add_fingerprint(fp);
            }
        }
        let mut report = relay_provision::rollback_provider(ctx.adapter.as_ref(), &journal, &vault)
            .map_err(|e| match e {
                ProvisionError::NothingRecorded { .. } => AppError::Conflict {
                    code: "nothing_recorded",
                    message: format!(
                        "nothing is recorded for provider {provider_id} on host {}: there is nothing to roll back",
                        ctx.host.name
                    ),
                },
                other => redact_app_error(provision_error(other), &redactor),
            })?;
        report.redact(&redactor);
        let batches = store.batches().list(&BatchFilter {
            host_id: Some(h.clone()),
            pack_id: Some(p.clone()),
            provider_id: Some(pr.clone()),
            ..BatchFilter::default()
        })?;
        for b in batches {
            if !matches!(
                b.status,
                BatchStatus::Failed
                    | BatchStatus::Succeeded
                    | BatchStatus::PartiallySucceeded
                    | BatchStatus::Interrupted
            ) {
                continue;
            }
            store
                .batches()
                .transition(&b.id, BatchEvent::StartRollback)?;
            let event = if report.complete {
                BatchEvent::RollbackDone
            } else {
                BatchEvent::Fail
            };
            store.batches().transition(&b.id, event)?;
        }
        if report.complete {
            self.apply_provider_event(h, p, pr, ProviderEvent::RolledBack, None);
            store
                .installs()
                .set_access_status(h, p, pr, AccessStatus::NotConfigured)?;
        } else {
            self.apply_provider_event(
                h,
                p,
                pr,
                ProviderEvent::Drift,
                Some("provider rollback left objects on the host"),
            );
        }
        Ok(report)
    }

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

    /// Batches, newest first, filtered.
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
        Ok(self.store().batches().list(&BatchFilter {
            host_id,
            pack_id: pack_id.map(|p| PackId(p.to_string())),
            provider_id: provider_id.map(|p| ProviderId(p.to_string())),
            status,
            limit,
        })?)
    }
}
