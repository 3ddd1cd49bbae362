//! Imports of provider keys (SPEC §4.3–§4.4): the preview, the batch opened in one
//! store transaction, the run on a worker thread, and the end of the run recorded.

use crate::app::App;
use crate::batches::BatchView;
use crate::context::{ProviderContext, ProviderLock};
use crate::error::{provision_error, AppError, AppResult};
use crate::ports::{OsRandomness, StoreJournal, StoreProbeObserver, StoreVault};
use relay_access::AccessClosure;
use relay_core::{
    ItemProgress, JournalScope, Observer, Ports, ProbeRecord, ProbeSettings, SubscriberSelector,
    SYSTEM_CLOCK,
};
use relay_domain::{
    AccessMode, BatchEvent, BatchId, BatchStatus, Fingerprint, HostStatus, ImportMode,
    ProviderEvent, ProviderStatus, Redactor, ResourceType, Secret,
};
use relay_provision::{ImportReport, ImportRequest, PreparedImport, PreviewReport};
use relay_store::{BatchRepository, InstallRepository, ItemUpdate, NewBatch, NewBatchItem, Store};
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
    /// Subscribers whose subscriptions get their own validity (days), overriding
    /// `validity_days` (each one is also listed in `subscribers`).
    pub subscriber_validity_days: Vec<(SubscriberSelector, u32)>,
    /// A user key bound to the group, for the self-service proof.
    pub probe_key: Option<Secret>,
    /// Retire managed accounts of earlier batches whose key is not in this import.
    pub replace_existing: bool,
    /// Parallel account tests (default: the server's setting).
    pub concurrency: Option<usize>,
    /// Warm-up window of the import's gateway probe (default: the server's); the
    /// batch import worker confirms through the warm-up itself and passes zero.
    pub warmup_window: Option<std::time::Duration>,
    /// The balance every key must have, read from the vendor's balance route before
    /// anything is created (`None`: no balance is read).
    pub balance: Option<relay_domain::BalanceThreshold>,
}

/// Persists batch progress as the provisioning reports it, through the
/// operation's redaction step (the batch's keys, the application's secrets, the
/// key patterns). Probe records go through the application's probe observer.
pub(crate) struct StoreBatchObserver {
    store: Store,
    batch_id: BatchId,
    redactor: Redactor,
    probes: StoreProbeObserver,
}

impl StoreBatchObserver {
    /// The observer of batch `batch_id` of the provider of `scope`, redacting with
    /// `redactor`.
    pub(crate) fn new(
        store: Store,
        mut scope: JournalScope,
        batch_id: BatchId,
        redactor: Redactor,
    ) -> Self {
        scope.batch_id = Some(batch_id.clone());
        StoreBatchObserver {
            probes: StoreProbeObserver::new(store.clone(), scope, None),
            store,
            batch_id,
            redactor,
        }
    }
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
        self.probes.probe(record.redacted(&self.redactor));
    }
}

impl App {
    fn probe_tuning(&self) -> ProbeSettings {
        ProbeSettings {
            warmup_window: self.config().warmup_window,
            ..ProbeSettings::default()
        }
    }

    pub(crate) fn import_request(&self, input: &ImportInput) -> AppResult<ImportRequest> {
        let mut req = ImportRequest::new(input.keys.clone(), input.mode, input.access_mode);
        req.concurrency = input
            .concurrency
            .unwrap_or(self.config().import_concurrency)
            .max(1);
        req.replace_existing = input.replace_existing;
        req.subscribers = input.subscribers.clone();
        req.validity_days = input.validity_days;
        req.subscriber_validity_days = input.subscriber_validity_days.clone();
        req.supplied_key = input.probe_key.clone();
        req.probe = self.probe_tuning();
        if let Some(window) = input.warmup_window {
            req.probe.warmup_window = window;
        }
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
        let batch_id = self.start_import_batch(provider_id, input)?;
        self.batch_view(batch_id.as_str())
    }

    /// [`App::start_import`], returning the batch's id only: its view is read page by
    /// page by whoever answers with it.
    pub fn start_import_batch(
        self: &Arc<Self>,
        provider_id: &str,
        input: ImportInput,
    ) -> AppResult<BatchId> {
        let (ctx, lock, prepared, batch_id) = self.prepare_import(provider_id, &input)?;
        let app = self.clone();
        let id = batch_id.clone();
        std::thread::Builder::new()
            .name(format!("import-{batch_id}"))
            .spawn(move || {
                app.run_import(&ctx, &id, &prepared, &lock);
                drop(lock);
            })
            .map_err(|e| AppError::Internal(format!("cannot start the import worker: {e}")))?;
        Ok(batch_id)
    }

    /// Runs an import to the end and returns the finished batch.
    pub fn import(self: &Arc<Self>, provider_id: &str, input: ImportInput) -> AppResult<BatchView> {
        let batch_id = self.import_batch(provider_id, input)?;
        self.batch_view(batch_id.as_str())
    }

    /// [`App::import`], returning the finished batch's id only: its view is read page
    /// by page by whoever answers with it.
    pub fn import_batch(
        self: &Arc<Self>,
        provider_id: &str,
        input: ImportInput,
    ) -> AppResult<BatchId> {
        let (ctx, lock, prepared, batch_id) = self.prepare_import(provider_id, &input)?;
        self.run_import(&ctx, &batch_id, &prepared, &lock);
        drop(lock);
        Ok(batch_id)
    }

    fn prepare_import(
        self: &Arc<Self>,
        provider_id: &str,
        input: &ImportInput,
    ) -> AppResult<(ProviderContext, ProviderLock, PreparedImport, BatchId)> {
        let mut ctx = self.provider_context(provider_id, &input.host, input.pack_id.as_deref())?;
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
        // The one preview of the import: its key plans become the batch's items, and
        // the worker runs from it without previewing again.
        let journal = StoreJournal::new(self.store().clone(), ctx.scope(None));
        let prepared =
            relay_provision::prepare_import(ctx.adapter.as_ref(), &journal, &ctx.target, request)
                .map_err(provision_error)?;
        let preview = prepared.preview();
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
        // The balance pre-flight, before anything is created on the host.
        let (balance_checks, balance_calls) = match &input.balance {
            Some(threshold) => {
                let keys: Vec<(Fingerprint, &Secret)> = preview
                    .keys
                    .iter()
                    .filter(|k| k.duplicate_of_line.is_none())
                    .filter_map(|k| {
                        prepared
                            .key(&k.fingerprint)
                            .map(|s| (k.fingerprint.clone(), s))
                    })
                    .collect();
                let (checks, calls) =
                    crate::balances::preflight(&ctx.target.provider, &keys, threshold, &ctx.calls);
                if let Some(refused) = crate::balances::refusal(&checks, threshold) {
                    tracing::warn!(provider = %ctx.provider.provider_id, host = %ctx.host.name, "import refused by its balance threshold");
                    return Err(refused);
                }
                (checks, calls)
            }
            None => (Vec::new(), 0),
        };
        let batch_id = BatchId::from_random(&crate::random_bytes(8));
        ctx.audit_as(crate::audit::origin(
            relay_domain::AuditOriginKind::ImportBatch,
            Some(batch_id.as_str()),
        ));
        let items: Vec<NewBatchItem> = preview
            .keys
            .iter()
            .map(|k| NewBatchItem {
                seq: k.line as u32,
                fingerprint: k.fingerprint.clone(),
                mask: k.mask.clone(),
                plan: k.plan,
                status: k.plan.into(),
                account_id: k.account_id,
            })
            .collect();
        let record = json!({
            "host_id": ctx.host.id,
            "mode": input.mode,
            "access_mode": input.access_mode,
            "keys": preview.keys.iter().map(|k| json!({"line": k.line, "fingerprint": k.fingerprint, "mask": k.mask, "plan": k.plan})).collect::<Vec<_>>(),
            "dropped": preview.dropped,
            "subscribers": input.subscribers.iter().map(|s| {
                let mut v = match s {
                    SubscriberSelector::UserId(id) => json!({"user_id": id}),
                    SubscriberSelector::Email(e) => json!({"email": e}),
                };
                if let Some((_, days)) = input.subscriber_validity_days.iter().find(|(o, _)| o == s) {
                    v["validity_days"] = json!(days);
                }
                v
            }).collect::<Vec<_>>(),
            "validity_days": input.validity_days,
            "probe_key": input.probe_key.as_ref().map(|k| json!({
                "fingerprint": Fingerprint::of(k.expose()),
                "mask": relay_domain::mask(k.expose()),
            })),
            "replace_existing": input.replace_existing,
            "concurrency": prepared.request().concurrency,
        });
        let mut record = record;
        if let Some(threshold) = &input.balance {
            record["balance_threshold"] = json!(threshold);
            record["balance_checks"] = json!(balance_checks);
            record["balance_vendor_calls"] = json!(balance_calls);
        }
        // One transaction: the install, the probe key, the batch and its items, the
        // preview report, `running`, the install's last batch.
        self.store().batches().open(
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
            &json!({"phase": "import", "preview": stored_preview(preview)}),
            input.probe_key.as_ref(),
        )?;
        tracing::info!(batch_id = %batch_id, provider = %ctx.provider.provider_id, host = %ctx.host.name, keys = items.len(), "import started");
        Ok((ctx, lock, prepared, batch_id))
    }

    fn run_import(
        &self,
        ctx: &ProviderContext,
        batch_id: &BatchId,
        prepared: &PreparedImport,
        lock: &ProviderLock,
    ) {
        let started = Instant::now();
        let redactor = self.redactor_with(prepared.redactor());
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let scope = ctx.scope(Some(batch_id.clone()));
            let journal = StoreJournal::fenced(self.store().clone(), scope.clone(), lock.fence());
            let vault = StoreVault::new(self.store().clone(), ctx.host.id.clone());
            let observer = StoreBatchObserver::new(
                self.store().clone(),
                scope,
                batch_id.clone(),
                redactor.clone(),
            );
            let ports = Ports {
                adapter: ctx.adapter.as_ref(),
                journal: &journal,
                vault: &vault,
                random: &OsRandomness,
                observer: &observer,
                clock: &SYSTEM_CLOCK,
            };
            relay_provision::import_prepared(&ports, &AccessClosure, prepared)
                .map_err(|e| e.to_string())
        }));
        let result = match outcome {
            Ok(r) => r,
            Err(_) => Err("the import worker panicked".to_string()),
        };
        self.finish_run(ctx, batch_id, result, started, &redactor, lock);
    }

    /// Records the end of an import or resume: batch status, report, provider
    /// status, access status and proofs, metrics. Every text (the report, the error,
    /// the provider's status message, the log line) passes `redactor` first. Nothing
    /// is recorded when the provider's lease lapsed and another server took the
    /// batch over: the batch is the new holder's.
    pub(crate) fn finish_run(
        &self,
        ctx: &ProviderContext,
        batch_id: &BatchId,
        result: Result<ImportReport, String>,
        started: Instant,
        redactor: &Redactor,
        lock: &ProviderLock,
    ) {
        if let Some(Err(why)) = lock.fence().map(|f| f.ensure()) {
            tracing::warn!(batch_id = %batch_id, reason = %why, "the batch is left to the server that took it over");
            self.metrics()
                .observe_import("taken_over", started.elapsed());
            return;
        }
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
            Ok(mut report) => {
                let event = match report.outcome {
                    BatchStatus::Succeeded => BatchEvent::Succeed,
                    BatchStatus::PartiallySucceeded => BatchEvent::PartiallySucceed,
                    _ => BatchEvent::Fail,
                };
                if let Err(e) = self.record_access(ctx, Some(batch_id), &report.access) {
                    tracing::error!(batch_id = %batch_id, error = %redactor.redact(&e.to_string()), "cannot record the access proofs");
                }
                // The stored report is lean: nothing in it grows with the keys. Its
                // per-key lists stay empty and its resources leave the accounts out,
                // since the batch's items (results), request record (plans) and
                // journal rows (accounts) hold every key once, read page by page.
                // Left in, a 10,000-key report weighs megabytes and is parsed whole
                // on every read of the batch.
                report.keys = Vec::new();
                if let Some(preview) = report.preview.as_mut() {
                    preview.keys = Vec::new();
                }
                report
                    .resources
                    .retain(|r| r.resource_type != ResourceType::Account);
                let mut report_json = serde_json::to_value(&report).unwrap_or(Value::Null);
                if let Some(obj) = report_json.as_object_mut() {
                    // Every stored report says which phase wrote it (import, rollback).
                    obj.insert("phase".into(), json!("import"));
                    // The test calls of the whole import, balance pre-flight included.
                    obj.insert("test_calls".into(), json!(ctx.test_calls()));
                }
                redactor.redact_json_in_place(&mut report_json);
                if let Err(e) =
                    store
                        .batches()
                        .set_report(batch_id, &report_json, report.error.as_deref())
                {
                    tracing::error!(batch_id = %batch_id, error = %redactor.redact(&e.to_string()), "cannot store the import report");
                }
                if let Err(e) = store.batches().transition(batch_id, event) {
                    tracing::error!(batch_id = %batch_id, error = %redactor.redact(&e.to_string()), "cannot finish the batch");
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
                if let Err(e) = store.batches().set_report(
                    batch_id,
                    &json!({"phase": "import", "error": message}),
                    Some(&message),
                ) {
                    tracing::error!(batch_id = %batch_id, error = %redactor.redact(&e.to_string()), "cannot store the import error");
                }
                if let Err(e) = store.batches().transition(batch_id, BatchEvent::Fail) {
                    tracing::error!(batch_id = %batch_id, error = %redactor.redact(&e.to_string()), "cannot mark the batch failed");
                }
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
}

/// The stored copy of an import's preview (the report of a running batch): its
/// per-key plans left out (`keys: []`), since the batch's items and its request
/// record hold them, one row per key.
fn stored_preview(preview: &PreviewReport) -> Value {
    let mut stored = serde_json::to_value(preview).unwrap_or(Value::Null);
    if let Some(keys) = stored.get_mut("keys") {
        *keys = Value::Array(Vec::new());
    }
    stored
}
