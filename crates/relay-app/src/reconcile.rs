//! Reconcile runs, doctor and upstream diagnosis (SPEC §4.7, §6.1–§6.3), persisted
//! through the store.

use crate::app::App;
use crate::context::ProviderContext;
use crate::error::{AppError, AppResult};
use crate::ports::{OsRandomness, StoreJournal, StoreProbeObserver, StoreVault};
use relay_core::{Ports, ProbeSettings, SYSTEM_CLOCK};
use relay_domain::{
    AccessMode, AuditOriginKind, BatchId, HostStatus, ModeProof, ReconcileRunId, ResourceState,
    ResourceType, Secret,
};
use relay_reconcile::{
    DoctorReport, DoctorRequest, HostObservation, KeyHealthInput, ReconcileRequest,
    UpstreamDiagnosis,
};
use relay_store::{
    AccessClosureRepository, BatchRepository, HostRepository, InstallRepository, KeyHealthRecord,
    KeyHealthRepository, NewReconcileRun, OperationKind, ProbeKind, ProbeRepository,
    ReconcileFilter, ReconcileOutcome, ReconcileRepository, ReconcileRunRecord, ReconcileStatus,
    ReconcileTrigger, ResourceRepository, SecretRepository, SecretSlot, Timestamp,
};
use relay_sub2api::UpstreamTimeouts;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// How a reconcile run was asked for.
#[derive(Debug, Clone, Default)]
pub struct ReconcileOptions {
    /// Apply the safe fixes of differences.
    pub repair: bool,
    /// Scope the run to one batch (recorded on the run).
    pub batch_id: Option<String>,
    /// Scheduled by the background scheduler (else manual).
    pub scheduled: bool,
    /// The provider's last reconcile as the scheduler saw it when it found the run
    /// due: a run finished since (by another server on the database) makes this one
    /// a no-op (`already_reconciled`), so a due reconcile runs once.
    pub last_reconcile_seen: Option<relay_store::Timestamp>,
    /// The balance under which a managed account is reported with a warning (the
    /// balances are read through the host where it can, whatever the threshold).
    pub balance: Option<relay_domain::BalanceThreshold>,
}

/// The result of an upstream diagnosis, with what the host saw of the same key.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosisView {
    /// The classification, evidence and fix.
    pub diagnosis: UpstreamDiagnosis,
    /// The managed account of this key on the host, if any.
    pub account_id: Option<i64>,
    /// The host-side observation the diagnosis compared with.
    pub host_observation: Option<HostObservation>,
}

/// Maps a reconcile/doctor error to the API's error.
fn reconcile_error(what: &str, e: relay_reconcile::ReconcileError) -> AppError {
    use relay_reconcile::ReconcileError as E;
    match e {
        E::HostUnreachable { step, message } => {
            AppError::HostUnreachable(format!("{step}: {message}"))
        }
        E::Host { step, source } => AppError::HostStep {
            step,
            message: source.to_string(),
        },
        E::NothingRecorded { provider_id } => AppError::Conflict {
            code: "nothing_recorded",
            message: format!(
                "nothing is recorded for provider {provider_id} on this host: import it first"
            ),
        },
        E::InvalidRequest(m) => AppError::invalid("request", m),
        other => AppError::Internal(format!("{what} failed: {other}")),
    }
}

impl App {
    /// The operator's stored probe key, used when the provider has no managed
    /// subscription group (self-service providers).
    fn default_probe_key(&self, ctx: &ProviderContext) -> AppResult<Option<Secret>> {
        let resources = self.store().resources().list_for_provider(
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        )?;
        let sub_group = ctx.target.resource_name(AccessMode::Subscription);
        let has_subscription_group = resources.iter().any(|r| {
            r.resource_type == ResourceType::Group
                && r.logical_key == sub_group
                && (r.state.is_owned_live() || r.state == ResourceState::Reused)
        });
        if has_subscription_group {
            return Ok(None);
        }
        Ok(self.store().secrets().get(&SecretSlot::probe_key(
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        ))?)
    }

    fn has_live_resources(&self, ctx: &ProviderContext) -> AppResult<bool> {
        Ok(self
            .store()
            .resources()
            .list_for_provider(
                &ctx.host.id,
                &ctx.provider.pack_id,
                &ctx.provider.provider_id,
            )?
            .iter()
            .any(|r| r.state.is_owned_live() || r.state == ResourceState::Reused))
    }

    /// Runs one reconcile of a provider on a host and records it: differences,
    /// account tests, one access probe, repairs, verdict, provider and access status.
    pub fn reconcile_provider(
        self: &Arc<Self>,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
        options: &ReconcileOptions,
    ) -> AppResult<ReconcileRunRecord> {
        let ctx = self.provider_context(provider_id, host, pack_id)?;
        let _lock = self.lock_provider(&ctx)?;
        if let Some(install) = self.store().installs().find(
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        )? {
            if install.status == relay_domain::ProviderStatus::Disabled {
                return Err(AppError::Conflict {
                    code: "provider_disabled",
                    message: format!(
                        "provider {} is disabled on host {}: enable it to reconcile it",
                        ctx.provider.provider_id, ctx.host.name
                    ),
                });
            }
            let last = install
                .last_reconcile_at
                .unwrap_or(relay_store::Timestamp(0));
            if options
                .last_reconcile_seen
                .is_some_and(|seen| last.0 > seen.0)
            {
                return Err(AppError::Conflict {
                    code: "already_reconciled",
                    message: format!(
                        "provider {} on host {} was reconciled since this run was found due",
                        ctx.provider.provider_id, ctx.host.name
                    ),
                });
            }
        }
        self.reconcile_locked(&ctx, options)
    }

    pub(crate) fn reconcile_locked(
        &self,
        ctx: &ProviderContext,
        options: &ReconcileOptions,
    ) -> AppResult<ReconcileRunRecord> {
        let store = self.store();
        if !self.has_live_resources(ctx)? {
            return Err(AppError::Conflict {
                code: "nothing_recorded",
                message: format!(
                    "nothing is recorded for provider {} on host {}: import it first",
                    ctx.provider.provider_id, ctx.host.name
                ),
            });
        }
        let batch_id = match &options.batch_id {
            Some(b) => {
                let batch = store.batches().get(&BatchId::new(b.as_str()))?;
                if batch.host_id != ctx.host.id
                    || batch.provider_id != ctx.provider.provider_id
                    || batch.pack_id != ctx.provider.pack_id
                {
                    return Err(AppError::invalid(
                        "batch_id",
                        format!("batch {b} belongs to another provider or host"),
                    ));
                }
                Some(batch.id)
            }
            None => None,
        };
        let run_id = ReconcileRunId::from_random(&crate::random_bytes(8));
        store.reconcile_runs().start(&NewReconcileRun {
            id: run_id.clone(),
            host_id: ctx.host.id.clone(),
            pack_id: ctx.provider.pack_id.clone(),
            provider_id: ctx.provider.provider_id.clone(),
            batch_id: batch_id.clone(),
            trigger: if options.scheduled {
                ReconcileTrigger::Scheduled
            } else {
                ReconcileTrigger::Manual
            },
        })?;
        let started = Instant::now();
        let scope = ctx.scope(batch_id.clone());
        let journal = StoreJournal::new(store.clone(), scope.clone());
        let vault = StoreVault::new(store.clone(), ctx.host.id.clone());
        let observer = StoreProbeObserver::new(store.clone(), scope, Some(run_id.clone()));
        let adapter = ctx.adapter_as(crate::audit::origin(
            relay_domain::AuditOriginKind::ReconcileRun,
            Some(run_id.as_str()),
        ));
        let ports = Ports {
            adapter: adapter.as_ref(),
            journal: &journal,
            vault: &vault,
            random: &OsRandomness,
            observer: &observer,
            clock: &SYSTEM_CLOCK,
        };
        let key_health = self.key_health_input(ctx)?;
        let request = ReconcileRequest {
            key_health: Some(key_health),
            repair: options.repair,
            concurrency: self.config().import_concurrency.max(1),
            probe_key: self.default_probe_key(ctx)?,
            probe_email: None,
            probe: ProbeSettings {
                warmup_window: self.config().warmup_window,
                ..ProbeSettings::default()
            },
        };
        let result = relay_reconcile::reconcile(&ports, &ctx.target, &request);
        let (h, p, pr) = (
            &ctx.host.id,
            &ctx.provider.pack_id,
            &ctx.provider.provider_id,
        );
        match result {
            Ok(report) => {
                self.persist_key_health(ctx, &report.keys)?;
                // The host's balance route is not a pure read: a successful read clears
                // the host's own low-balance marker (`<platform>_balance_low`) that a
                // vendor 402 set. Accounts this run found out of service for their
                // balance are reported from that finding, never read through the host.
                let out_of_balance: Vec<(i64, relay_domain::OutOfServiceReason)> = report
                    .access
                    .iter()
                    .flat_map(|proof| &proof.accounts_out_of_service)
                    .filter(|a| {
                        matches!(
                            a.reason,
                            relay_domain::OutOfServiceReason::BalanceLow
                                | relay_domain::OutOfServiceReason::QuotaExhausted
                        )
                    })
                    .map(|a| (a.account_id, a.reason))
                    .collect();
                let balances =
                    self.managed_balances(ctx, options.balance.as_ref(), &out_of_balance)?;
                let report_json = serde_json::to_value(&report).ok().map(|mut v| {
                    if let Some(obj) = v.as_object_mut() {
                        if !balances.is_empty() {
                            obj.insert("balances".into(), json!(balances));
                        }
                        obj.insert("test_calls".into(), json!(ctx.test_calls()));
                    }
                    v
                });
                let (sub, own) = match &report.access {
                    Some(proof) if proof.mode == AccessMode::Subscription => {
                        (proof.proof, ModeProof::NotAttempted)
                    }
                    Some(proof) => (ModeProof::NotAttempted, proof.proof),
                    None => (ModeProof::NotAttempted, ModeProof::NotAttempted),
                };
                let proofs: Vec<&relay_core::AccessProof> = report.access.iter().collect();
                let access_status =
                    self.persist_access(ctx, batch_id.as_ref(), Some(&run_id), sub, own, &proofs)?;
                let run = store.reconcile_runs().finish(
                    &run_id,
                    &ReconcileOutcome {
                        status: ReconcileStatus::Completed,
                        verdict: Some(report.verdict),
                        access_status: Some(access_status),
                        differences: serde_json::to_value(&report.differences)
                            .unwrap_or(Value::Null),
                        repairs: serde_json::to_value(&report.repairs).unwrap_or(Value::Null),
                        error: None,
                        report: report_json,
                    },
                )?;
                let note = report
                    .differences
                    .iter()
                    .find(|d| !d.repaired)
                    .map(|d| d.detail.clone());
                self.apply_provider_event(h, p, pr, report.provider_event, note.as_deref());
                store
                    .installs()
                    .mark_reconciled(h, p, pr, Timestamp::now())?;
                self.host_answered(ctx)?;
                self.metrics()
                    .observe_reconcile(report.verdict.as_str(), started.elapsed());
                tracing::info!(run_id = %run_id, provider = %pr, host = %ctx.host.name, verdict = %report.verdict, differences = report.differences.len(), "reconcile finished");
                Ok(run)
            }
            Err(e) => {
                let unreachable = e.is_host_unreachable();
                let message = self
                    .redactor()
                    .redact(&format!("{e} (reconcile run {run_id})"));
                if matches!(&e, relay_reconcile::ReconcileError::Host { source, .. } if source.compliance_lock().is_some())
                {
                    // Locked since the last probe (an upgrade re-locks it): the host
                    // is unsupported until an administrator accepts again.
                    self.mark_compliance_locked(&ctx.host, ctx.adapter.as_ref())?;
                }
                store.reconcile_runs().finish(
                    &run_id,
                    &ReconcileOutcome {
                        status: ReconcileStatus::Failed,
                        verdict: None,
                        access_status: None,
                        differences: json!([]),
                        repairs: json!([]),
                        error: Some(message.clone()),
                        report: None,
                    },
                )?;
                store
                    .installs()
                    .mark_reconciled(h, p, pr, Timestamp::now())?;
                self.metrics().observe_reconcile(
                    if unreachable { "unreachable" } else { "error" },
                    started.elapsed(),
                );
                if unreachable {
                    store.hosts().update_status(
                        h,
                        HostStatus::Unreachable,
                        ctx.host.version.as_deref(),
                    )?;
                    tracing::warn!(run_id = %run_id, host = %ctx.host.name, error = %message, "host unreachable during reconcile");
                    return Err(AppError::HostUnreachable(message));
                }
                tracing::error!(run_id = %run_id, error = %message, "reconcile failed");
                let error = crate::error::redact_app_error(
                    reconcile_error("reconcile", e),
                    &self.redactor(),
                );
                Err(match error {
                    AppError::HostStep { step, message: m } => AppError::HostStep {
                        step,
                        message: format!("{m} (reconcile run {run_id})"),
                    },
                    AppError::Internal(m) => {
                        AppError::Internal(format!("{m} (reconcile run {run_id})"))
                    }
                    other => other,
                })
            }
        }
    }

    /// The key-health input of a run: the provider's policy (its pack's `key_health`,
    /// else 3 failures within one hour), now, and the stored records.
    fn key_health_input(&self, ctx: &ProviderContext) -> AppResult<KeyHealthInput> {
        let records = self
            .store()
            .key_health()
            .list(
                &ctx.host.id,
                &ctx.provider.pack_id,
                &ctx.provider.provider_id,
            )?
            .into_iter()
            .map(|r| (r.account_id, r.health))
            .collect();
        Ok(KeyHealthInput {
            policy: ctx.target.provider.health_policy(),
            now: relay_domain::Timestamp::now(),
            records,
        })
    }

    /// Stores the key-health records of a run.
    fn persist_key_health(
        &self,
        ctx: &ProviderContext,
        keys: &[relay_reconcile::KeyHealthCheck],
    ) -> AppResult<()> {
        let records: Vec<KeyHealthRecord> = keys
            .iter()
            .map(|k| KeyHealthRecord {
                host_id: ctx.host.id.clone(),
                pack_id: ctx.provider.pack_id.clone(),
                provider_id: ctx.provider.provider_id.clone(),
                account_id: k.account_id,
                fingerprint: k.fingerprint.clone(),
                key_mask: k.key_mask.clone(),
                health: k.health.clone(),
            })
            .collect();
        self.store().key_health().put_all(&records)?;
        for k in keys {
            if k.disabled_now() {
                tracing::warn!(provider = %ctx.provider.provider_id, host = %ctx.host.name, account = k.account_id, cause = ?k.cause.map(|c| c.as_str()), "key taken out of scheduling");
            } else if k.re_enabled_now() {
                tracing::info!(provider = %ctx.provider.provider_id, host = %ctx.host.name, account = k.account_id, "key put back into scheduling");
            }
        }
        Ok(())
    }

    /// A host that answered again leaves `unreachable` for its last probed status.
    /// The balances of the provider's managed accounts on the host, read through the
    /// host (see `balances::host_balances`).
    fn managed_balances(
        &self,
        ctx: &ProviderContext,
        threshold: Option<&relay_domain::BalanceThreshold>,
        out_of_balance: &[(i64, relay_domain::OutOfServiceReason)],
    ) -> AppResult<Vec<relay_domain::BalanceCheck>> {
        if crate::balances::route_of(&ctx.target.provider).is_none() {
            return Ok(Vec::new());
        }
        let accounts: Vec<crate::balances::ManagedAccount> = self
            .live_accounts(ctx)?
            .into_iter()
            .filter_map(|r| {
                Some(crate::balances::ManagedAccount {
                    id: r.host_resource_id?,
                    fingerprint: r
                        .fingerprint
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    mask: r.details["mask"].as_str().unwrap_or_default().to_string(),
                })
            })
            .collect();
        Ok(crate::balances::host_balances(
            &ctx.target.provider,
            ctx.adapter.as_ref(),
            &accounts,
            threshold,
            out_of_balance,
            &self.redactor(),
        ))
    }

    fn host_answered(&self, ctx: &ProviderContext) -> AppResult<()> {
        let current = self.store().hosts().get(&ctx.host.id)?;
        if current.status == HostStatus::Unreachable {
            let status = self
                .store()
                .hosts()
                .latest_snapshot(&ctx.host.id)?
                .map(|s| s.status)
                .unwrap_or(HostStatus::Supported);
            self.store()
                .hosts()
                .update_status(&ctx.host.id, status, current.version.as_deref())?;
            tracing::info!(host = %ctx.host.name, %status, "host reachable again");
        }
        Ok(())
    }

    /// Runs the doctor's binding checks (and, with `repair`, the safe fixes).
    pub fn doctor(
        self: &Arc<Self>,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
        repair: bool,
        supplied_key: Option<Secret>,
    ) -> AppResult<DoctorReport> {
        let ctx = self.provider_context(provider_id, host, pack_id)?;
        let _lock = if repair {
            Some(self.lock_provider(&ctx)?)
        } else {
            None
        };
        let started_at = Timestamp::now();
        let doctor_id = format!("doc_{}", crate::audit::random_hex(8));
        let origin = crate::audit::origin(AuditOriginKind::Doctor, Some(&doctor_id));
        let adapter = ctx.adapter_as(origin.clone());
        let scope = ctx.scope(None);
        let journal = StoreJournal::new(self.store().clone(), scope.clone());
        let vault = StoreVault::new(self.store().clone(), ctx.host.id.clone());
        let observer = StoreProbeObserver::new(self.store().clone(), scope, None);
        let ports = Ports {
            adapter: adapter.as_ref(),
            journal: &journal,
            vault: &vault,
            random: &OsRandomness,
            observer: &observer,
            clock: &SYSTEM_CLOCK,
        };
        let supplied_key = match supplied_key {
            Some(k) => Some(k),
            None => self.default_probe_key(&ctx)?,
        };
        let held_out = self
            .store()
            .key_health()
            .list(
                &ctx.host.id,
                &ctx.provider.pack_id,
                &ctx.provider.provider_id,
            )?
            .into_iter()
            .filter(|r| r.health.state == relay_domain::KeyHealthState::DisabledByManager)
            .map(|r| {
                let cause = r
                    .health
                    .disabled_cause
                    .map_or("unknown", |c| c.as_str())
                    .to_string();
                (r.account_id, cause)
            })
            .collect();
        let request = DoctorRequest {
            repair,
            supplied_key,
            probe_email: None,
            probe: ProbeSettings {
                warmup_window: self.config().warmup_window,
                ..ProbeSettings::default()
            },
            held_out,
        };
        let redactor = self.redactor();
        let asked = json!({"repair": repair, "probe_key_supplied": request.supplied_key.is_some()});
        let result = relay_reconcile::doctor(&ports, &ctx.target, &request)
            .map(|mut report| {
                report.redact(&redactor);
                report
            })
            .map_err(|e| crate::error::redact_app_error(reconcile_error("doctor", e), &redactor));
        self.record_operation(
            &ctx,
            crate::audit::OperationStart {
                kind: OperationKind::Doctor,
                id: doctor_id,
                request_id: origin.request_id,
                asked,
                started_at,
            },
            result
                .as_ref()
                .map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
        );
        result
    }

    /// Probes the vendor directly with an operator-supplied key (opt-in per call)
    /// and classifies the failure by comparing with what the host saw.
    pub fn diagnose(
        &self,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
        key: &Secret,
    ) -> AppResult<DiagnosisView> {
        let ctx = self.provider_context(provider_id, host, pack_id)?;
        let fingerprint = relay_domain::Fingerprint::of(key.expose());
        let account = self.store().resources().find_live_account(
            &ctx.host.id,
            &ctx.provider.provider_id,
            &fingerprint,
        )?;
        let account_id = account.as_ref().and_then(|a| a.host_resource_id);
        let host_observation = match account_id {
            Some(id) => {
                let subject = format!("account:{id}");
                self.store()
                    .probes()
                    .latest_by_kind(&ctx.host.id, ProbeKind::AccountTest, 200)?
                    .into_iter()
                    .find(|r| r.subject == subject)
                    .and_then(|r| {
                        HostObservation::from_probe_record(&relay_core::ProbeRecord {
                            kind: relay_core::ProbeKind::AccountTest,
                            subject: r.subject,
                            verdict: r.outcome,
                            http_status: r.http_status,
                            message: r.message,
                            duration_ms: r.duration_ms,
                            details: r.details,
                        })
                    })
            }
            None => None,
        };
        let diagnosis = relay_reconcile::diagnose_key(
            &ctx.target.provider.base_url,
            key,
            &ctx.target.provider.smoke_test_model,
            &UpstreamTimeouts::default(),
            host_observation.as_ref(),
        )
        .map_err(|e| AppError::Conflict {
            code: "unsupported_base_url",
            message: format!(
                "the provider's base_url cannot be probed directly: {e}; fix the pack manifest"
            ),
        })?;
        Ok(DiagnosisView {
            diagnosis,
            account_id,
            host_observation,
        })
    }

    /// One reconcile run.
    pub fn reconcile_run(&self, run_id: &str) -> AppResult<ReconcileRunRecord> {
        Ok(self
            .store()
            .reconcile_runs()
            .get(&ReconcileRunId::new(run_id))?)
    }

    /// Reconcile runs, newest first.
    pub fn list_reconcile_runs(
        &self,
        host: Option<&str>,
        pack_id: Option<&str>,
        provider_id: Option<&str>,
        limit: Option<u32>,
    ) -> AppResult<Vec<ReconcileRunRecord>> {
        let host_id = match host {
            Some(h) => Some(self.resolve_host(h)?.id),
            None => None,
        };
        Ok(self.store().reconcile_runs().list(&ReconcileFilter {
            host_id,
            pack_id: pack_id.map(|p| relay_domain::PackId(p.to_string())),
            provider_id: provider_id.map(|p| relay_domain::ProviderId(p.to_string())),
            batch_id: None,
            limit,
        })?)
    }

    /// The evidence document of a reconcile run.
    pub fn reconcile_evidence(&self, run_id: &str) -> AppResult<Value> {
        let run = self.reconcile_run(run_id)?;
        let host = self.store().hosts().get(&run.host_id)?;
        let probes = self.store().probes().list_by_reconcile_run(&run.id)?;
        let proofs = self.store().closures().list_by_reconcile_run(&run.id)?;
        let doc = json!({
            "format": crate::evidence::EVIDENCE_FORMAT,
            "kind": "reconcile_run",
            "generated_at": Timestamp::now().to_rfc3339(),
            "host": {"id": host.id, "name": host.name, "base_url": host.base_url, "version": host.version, "status": host.status},
            "pack_id": run.pack_id,
            "provider_id": run.provider_id,
            "asked": {"trigger": run.trigger, "batch_id": run.batch_id},
            "run": {
                "id": run.id,
                "status": run.status,
                "verdict": run.verdict,
                "access_status": run.access_status,
                "error": run.error,
                "started_at": run.started_at.to_rfc3339(),
                "finished_at": run.finished_at.map(|t| t.to_rfc3339()),
            },
            "differences": run.differences,
            "repairs": run.repairs,
            "probes": probes,
            "access_proofs": proofs,
            "report": run.report,
            "audit_events": self.all_audit_events_of(run.id.as_str())?,
        });
        Ok(self.redactor().redact_json(&doc))
    }
}
