//! Import (SPEC §4.4): preview, ensure group/channel/plan, create and test one
//! account per new key with bounded parallelism, strict/partial settlement,
//! retirement of stale accounts, access closure, final report.
//!
//! The same pipeline finishes an interrupted batch ([`crate::resume_batch`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use relay_core::{
    AccessCloser, AccessPlan, AccessReport, ItemProgress, Journal, Ports, ProviderTarget,
    RedactingObserver, SubscriptionAccess, TestReason,
};
use relay_domain::{
    AccessMode, AccessStatus, BatchId, BatchStatus, Fingerprint, ImportMode, ItemStatus, KeyPlan,
    ModeProof, ProviderEvent, Redactor, ResourceState, ResourceType, Secret, Verdict,
};
use relay_sub2api::{HostAdapter, ObjectId};
use serde_json::json;

use crate::accounts::{run_accounts, AccountJob, Work};
use crate::ensure::{ensure_channel, ensure_group, ensure_plan};
use crate::error::ProvisionError;
use crate::preview::{key_lines, preview_lines, PreviewReport};
use crate::report::{
    ImportReport, ImportRequest, KeyResult, ResourceChange, ResourceOutcome, RetireReason,
    RetiredAccount,
};
use crate::rollback::rollback_batch;

/// The journal's batch, after checking that the journal belongs to the target.
pub(crate) fn check_scope(
    journal: &dyn Journal,
    target: &ProviderTarget,
) -> Result<BatchId, ProvisionError> {
    relay_core::check_scope(journal, target)?
        .batch_id
        .ok_or(ProvisionError::NoBatch)
}

pub(crate) fn validate(request: &ImportRequest) -> Result<(), ProvisionError> {
    if request.probe_balance_usd.is_nan() || request.probe_balance_usd <= 0.0 {
        return Err(ProvisionError::InvalidRequest(
            "probe_balance_usd must be greater than 0".into(),
        ));
    }
    if request.validity_days == Some(0)
        || request
            .subscriber_validity_days
            .iter()
            .any(|(_, d)| *d == 0)
    {
        return Err(ProvisionError::InvalidRequest(
            "validity_days must be at least 1".into(),
        ));
    }
    if request.access_mode == AccessMode::Subscription && !request.probe_email.contains('@') {
        return Err(ProvisionError::InvalidRequest(
            "probe_email must be an e-mail address".into(),
        ));
    }
    Ok(())
}

/// An import previewed once: the request, its keys normalised once (indexed by
/// fingerprint), the preview of the host and the journal, and the target with its
/// platform settled against the host.
///
/// [`prepare_import`] builds it with reads only; the application shows or records
/// the preview (the batch's items), then [`import_prepared`] runs the import from
/// it without reading the key list or previewing the host again.
#[derive(Debug, Clone)]
pub struct PreparedImport {
    request: ImportRequest,
    preview: PreviewReport,
    target: ProviderTarget,
    keys: HashMap<Fingerprint, Secret>,
    redactor: Redactor,
}

impl PreparedImport {
    /// The preview: resource and key plans, warnings and blocking problems.
    pub fn preview(&self) -> &PreviewReport {
        &self.preview
    }

    /// The request the import was prepared from.
    pub fn request(&self) -> &ImportRequest {
        &self.request
    }

    /// The target with its platform settled against the host.
    pub fn target(&self) -> &ProviderTarget {
        &self.target
    }

    /// The redaction step of the import ([`ImportRequest::redactor`], built from the
    /// keys normalised once).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The normalised key with this fingerprint (for a pre-flight read of its
    /// vendor balance; never stored).
    pub fn key(&self, fingerprint: &Fingerprint) -> Option<&Secret> {
        self.keys.get(fingerprint)
    }
}

/// Prepares an import: normalises the request's keys once and previews the host
/// and the journal once ([`crate::preview`]). Reads only; writes nothing anywhere.
///
/// Errors: an invalid request, a journal that does not belong to the target, a
/// failed host read. A preview with blocking problems is not an error here
/// ([`PreviewReport::can_import`] says so, and [`import_prepared`] refuses it).
pub fn prepare_import(
    adapter: &dyn HostAdapter,
    journal: &dyn Journal,
    target: &ProviderTarget,
    request: ImportRequest,
) -> Result<PreparedImport, ProvisionError> {
    relay_core::check_scope(journal, target)?;
    validate(&request)?;
    let lines = key_lines(&request.keys);
    let (preview, settled) =
        preview_lines(adapter, journal, target, &request.preview_request(), &lines)?;
    let redactor = lines.redactor(request.supplied_key.as_ref());
    let keys = lines
        .accepted
        .into_iter()
        .map(|a| (a.fingerprint, a.key))
        .collect();
    Ok(PreparedImport {
        request,
        preview,
        target: settled,
        keys,
        redactor,
    })
}

/// Imports keys for the target provider into the journal's batch: prepares the
/// import ([`prepare_import`]: one preview) and runs it ([`import_prepared`]).
///
/// Host refusals do not make this fail: the report's `outcome` says
/// `succeeded`, `partially_succeeded` or `failed` (after a rollback). Errors:
/// [`ProvisionError::Blocked`] when the preview finds a blocking problem (nothing
/// was written), journal failures (stop; resume or roll back later), a scope that
/// does not match the target, or an invalid request.
///
/// Every host or vendor text the import reports (item and probe messages, journal
/// details, the report) passes the import's redaction step
/// ([`ImportRequest::redactor`]): the batch's upstream keys never reach the observer
/// or the report, even when the host or the vendor quotes them.
pub fn import(
    ports: &Ports<'_>,
    access: &dyn AccessCloser,
    target: &ProviderTarget,
    request: &ImportRequest,
) -> Result<ImportReport, ProvisionError> {
    check_scope(ports.journal, target)?;
    let prepared = prepare_import(ports.adapter, ports.journal, target, request.clone())?;
    import_prepared(ports, access, &prepared)
}

/// Runs a prepared import into the journal's batch, with the preview and the keys
/// of `prepared` (the host is not previewed again). The journal's scope must be the
/// prepared target's, with a batch. Outcomes and errors as [`import`].
pub fn import_prepared(
    ports: &Ports<'_>,
    access: &dyn AccessCloser,
    prepared: &PreparedImport,
) -> Result<ImportReport, ProvisionError> {
    let request = &prepared.request;
    let redactor = &prepared.redactor;
    let observer = RedactingObserver {
        inner: ports.observer,
        redactor,
    };
    let ports = &ports.with_observer(&observer);
    let target = &prepared.target;
    let batch = check_scope(ports.journal, target)?;
    validate(request)?;
    let preview = &prepared.preview;
    if !preview.can_import() {
        return Err(ProvisionError::Blocked {
            problems: preview.problems.clone(),
        });
    }
    let mut keys = Vec::new();
    let mut work = Vec::new();
    for kp in &preview.keys {
        let status = ItemStatus::from(kp.plan);
        let idx = keys.len();
        keys.push(KeyResult {
            line: kp.line,
            fingerprint: kp.fingerprint.clone(),
            mask: kp.mask.clone(),
            plan: kp.plan,
            status,
            account_id: kp.account_id,
            account_name: kp.account_name.clone(),
            verdict: None,
            reason: None,
            host_message: None,
            models_include_smoke: None,
            needs_gateway_confirmation: false,
        });
        if kp.plan == KeyPlan::New {
            let key = prepared.keys.get(&kp.fingerprint).cloned().ok_or_else(|| {
                ProvisionError::InvalidRequest(format!("key on line {} vanished", kp.line))
            })?;
            let stale_entry = ports
                .journal
                .find_live_account(&kp.fingerprint)?
                .map(|e| e.id);
            work.push(Work::Create {
                idx,
                key,
                stale_entry,
            });
        } else if kp.plan == KeyPlan::AlreadyImported {
            ports.observer.item(
                &kp.fingerprint,
                ItemProgress {
                    status,
                    account_id: kp.account_id,
                    verdict: None,
                    message: None,
                    details: json!({"account_status": kp.account_status}),
                },
            );
        }
    }
    let mut report = empty_report(target, request, batch);
    report.warnings.extend(preview.warnings.iter().cloned());
    report.preview = Some(preview.clone());
    report.keys = keys;
    Pipeline {
        ports,
        access,
        target,
        request,
        report,
        ensured: Vec::new(),
        redactor,
    }
    .run(work)
}

pub(crate) fn empty_report(
    target: &ProviderTarget,
    request: &ImportRequest,
    batch: BatchId,
) -> ImportReport {
    ImportReport {
        batch_id: batch,
        pack_id: target.pack_id.clone(),
        provider_id: target.provider.provider_id.clone(),
        mode: request.mode,
        access_mode: request.access_mode,
        outcome: BatchStatus::Running,
        provider_event: ProviderEvent::Fail,
        preview: None,
        resolved_intents: Vec::new(),
        resources: Vec::new(),
        keys: Vec::new(),
        counts: Default::default(),
        retired: Vec::new(),
        access: AccessReport::not_configured(0),
        rollback: None,
        warnings: Vec::new(),
        error: None,
    }
}

/// The steps after the keys are known.
pub(crate) struct Pipeline<'p, 'a> {
    pub ports: &'p Ports<'a>,
    /// Runs the access closure.
    pub access: &'p dyn AccessCloser,
    pub target: &'p ProviderTarget,
    pub request: &'p ImportRequest,
    pub report: ImportReport,
    /// Group, channel and plan outcomes.
    pub ensured: Vec<ResourceOutcome>,
    /// The redaction step of the run (its keys, the supplied key, the patterns).
    pub redactor: &'p relay_domain::Redactor,
}

impl Pipeline<'_, '_> {
    pub(crate) fn run(mut self, work: Vec<Work>) -> Result<ImportReport, ProvisionError> {
        let ports = self.ports;
        let target = self.target;
        let mode = self.request.access_mode;
        let caps = target.capabilities;

        // 1. Group, channel, plan.
        let entries = ports.journal.list_provider()?;
        let group = match ensure_group(ports, &entries, target, mode)? {
            Ok(o) => {
                let id = o.host_id;
                self.ensured.push(o);
                id
            }
            Err(f) => return self.fail(f.0),
        };
        self.report.access = AccessReport::not_configured(group);
        if caps.channels {
            match ensure_channel(ports, &entries, target, mode, group)? {
                Ok(o) => self.ensured.push(o),
                Err(f) => return self.fail(f.0),
            }
        }
        if mode == AccessMode::Subscription && caps.plans {
            match ensure_plan(ports, &entries, target, group)? {
                Ok(o) => self.ensured.push(o),
                Err(f) => return self.fail(f.0),
            }
        }

        // 2. Accounts: create, test, models, classify.
        if !work.is_empty() {
            let job = AccountJob {
                ports,
                target,
                batch: self.report.batch_id.as_str(),
                redactor: self.redactor,
                group_id: group,
                fingerprints: self
                    .report
                    .keys
                    .iter()
                    .map(|k| k.fingerprint.clone())
                    .collect(),
                models: std::sync::OnceLock::new(),
            };
            for r in run_accounts(&job, work, self.request.concurrency)? {
                let k = &mut self.report.keys[r.idx];
                k.status = r.status;
                k.account_id = r.account_id.or(k.account_id);
                k.verdict = r
                    .classification
                    .map(|c| c.verdict)
                    .or((r.status == ItemStatus::Failed).then_some(Verdict::Failed));
                k.reason = r.classification.map(|c| c.reason);
                k.needs_gateway_confirmation = r
                    .classification
                    .is_some_and(|c| c.needs_gateway_confirmation);
                k.host_message = r.message;
                k.models_include_smoke = r.models_include_smoke;
            }
        }

        // 3. Strict / partial.
        if let Some(reason) = self.settle("the account test")? {
            return self.fail(reason);
        }

        // 4. Retire stale accounts (only now that the new ones passed).
        self.retire()?;

        // 5. Access closure.
        let access = self.close_access(group)?;
        self.report.access = access;

        // 6. 404 and "Responses API only" warnings need the gateway's confirmation.
        let pending: Vec<usize> = (0..self.report.keys.len())
            .filter(|i| {
                let k = &self.report.keys[*i];
                k.needs_gateway_confirmation && k.status == ItemStatus::Warning
            })
            .collect();
        if !pending.is_empty() {
            let a = &self.report.access;
            let attempted = a.subscription != ModeProof::NotAttempted
                || a.self_service != ModeProof::NotAttempted;
            if attempted && !a.status.is_ready() {
                for i in pending {
                    let k = &mut self.report.keys[i];
                    k.status = ItemStatus::Failed;
                    k.verdict = Some(Verdict::Failed);
                    ports.observer.item(
                        &k.fingerprint,
                        ItemProgress {
                            status: ItemStatus::Failed,
                            account_id: k.account_id,
                            verdict: Some(Verdict::Failed),
                            message: k.host_message.clone(),
                            details: json!({
                                "reason": k.reason.unwrap_or(TestReason::NotFoundPendingGateway),
                                "confirmation": "the gateway probe did not pass",
                            }),
                        },
                    );
                }
                if let Some(reason) = self.settle("the gateway confirmation")? {
                    return self.fail(reason);
                }
            } else if !attempted {
                self.report.warnings.push(format!(
                    "{} key(s) answered 404 (or \"Responses API only\") in the account test and could not be confirmed: no access mode was probed",
                    pending.len()
                ));
            }
        }
        self.finish()
    }

    /// Applies strict/partial rules to failed keys. Returns the failure reason when
    /// the batch must fail (and roll back).
    fn settle(&mut self, stage: &str) -> Result<Option<String>, ProvisionError> {
        let failed: Vec<usize> = (0..self.report.keys.len())
            .filter(|i| self.report.keys[*i].status == ItemStatus::Failed)
            .collect();
        if failed.is_empty() {
            return Ok(None);
        }
        let masks: Vec<String> = failed
            .iter()
            .map(|i| self.report.keys[*i].mask.clone())
            .collect();
        if self.request.mode == ImportMode::Strict {
            return Ok(Some(format!(
                "{} key(s) failed {stage} in strict mode ({})",
                failed.len(),
                masks.join(", ")
            )));
        }
        // Partial: delete the failed accounts (dead duplicates make the host fail
        // over and answer 502), keep the good ones.
        let batch_entries = self.ports.journal.list_batch(&self.report.batch_id)?;
        for i in &failed {
            let Some(account_id) = self.report.keys[*i].account_id else {
                continue;
            };
            let Some(entry) = batch_entries.iter().find(|e| {
                e.resource_type == ResourceType::Account
                    && e.host_resource_id == Some(account_id)
                    && e.is_owned_live()
            }) else {
                continue;
            };
            match self.ports.adapter.delete_account(account_id) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    self.report.warnings.push(format!(
                        "the failed account {account_id} could not be deleted: {e}"
                    ));
                    continue;
                }
            }
            self.ports
                .journal
                .set_state(entry.id, ResourceState::Deleted)?;
        }
        if !self.report.keys.iter().any(KeyResult::is_good) {
            return Ok(Some(format!(
                "every key failed {stage} ({})",
                masks.join(", ")
            )));
        }
        self.report.warnings.push(format!(
            "{} key(s) failed {stage} and their accounts were deleted ({})",
            failed.len(),
            masks.join(", ")
        ));
        Ok(None)
    }

    /// Deletes stale managed accounts of the provider: duplicates of a key
    /// (keeping the newest passing one) and, with `replace_existing`, accounts of
    /// earlier batches whose key is not in this import.
    fn retire(&mut self) -> Result<(), ProvisionError> {
        let batch = self.report.batch_id.clone();
        let entries = self.ports.journal.list_provider()?;
        let good_accounts: HashSet<ObjectId> = self
            .report
            .keys
            .iter()
            .filter(|k| matches!(k.status, ItemStatus::Passed | ItemStatus::Warning))
            .filter_map(|k| k.account_id)
            .collect();
        let mut by_fp: BTreeMap<&Fingerprint, Vec<&relay_core::JournalEntry>> = BTreeMap::new();
        for e in entries.iter().filter(|e| {
            e.resource_type == ResourceType::Account
                && e.is_owned_live()
                && e.host_resource_id.is_some()
        }) {
            if let Some(fp) = &e.fingerprint {
                by_fp.entry(fp).or_default().push(e);
            }
        }
        let mut stale: Vec<(&relay_core::JournalEntry, RetireReason)> = Vec::new();
        for list in by_fp.values().filter(|l| l.len() > 1) {
            let keep = list
                .iter()
                .filter(|e| {
                    e.batch_id.as_ref() == Some(&batch)
                        && e.host_resource_id
                            .is_some_and(|id| good_accounts.contains(&id))
                })
                .max_by_key(|e| e.id)
                .or_else(|| list.iter().max_by_key(|e| e.id))
                .map(|e| e.id);
            for e in list {
                if Some(e.id) != keep {
                    stale.push((e, RetireReason::Duplicate));
                }
            }
        }
        if self.request.replace_existing {
            let wanted: HashSet<&Fingerprint> =
                self.report.keys.iter().map(|k| &k.fingerprint).collect();
            for list in by_fp.values() {
                for e in list {
                    if e.batch_id.as_ref() != Some(&batch)
                        && !wanted.contains(e.fingerprint.as_ref().expect("grouped by fp"))
                        && !stale.iter().any(|(s, _)| s.id == e.id)
                    {
                        stale.push((e, RetireReason::Replaced));
                    }
                }
            }
        }
        for (e, reason) in stale {
            let id = e.host_resource_id.expect("live account has an id");
            match self.ports.adapter.delete_account(id) {
                Ok(()) => {}
                Err(err) if err.is_not_found() => {}
                Err(err) => {
                    self.report.warnings.push(format!(
                        "stale account {} ({id}) could not be retired: {err}",
                        e.logical_key
                    ));
                    continue;
                }
            }
            self.ports.journal.set_state(e.id, ResourceState::Retired)?;
            self.report.retired.push(RetiredAccount {
                account_id: id,
                name: e.logical_key.clone(),
                fingerprint: e.fingerprint.clone(),
                batch_id: e.batch_id.clone(),
                reason,
            });
        }
        Ok(())
    }

    fn close_access(&mut self, group: ObjectId) -> Result<AccessReport, ProvisionError> {
        let target = self.target;
        let request = self.request;
        let subscription =
            (request.access_mode == AccessMode::Subscription).then(|| SubscriptionAccess {
                subscribers: request.subscribers.clone(),
                probe_email: request.probe_email.clone(),
                validity_days: request
                    .validity_days
                    .unwrap_or_else(|| target.plan_validity_days().max(1)),
                subscriber_validity_days: request.subscriber_validity_days.clone(),
                notes: target.notes(),
                key_name: target.key_name(request.access_mode),
                probe_balance_usd: request.probe_balance_usd,
            });
        let plan = AccessPlan {
            group_id: group,
            subscription,
            supplied_key: request.supplied_key.clone(),
            probe: request.probe.for_model(&target.provider.smoke_test_model),
        };
        let access = self.access.close(self.ports, &plan)?;
        for p in access.problems() {
            self.report
                .warnings
                .push(format!("access: {}: {}", p.subject, p.message));
        }
        for w in access.warnings() {
            self.report.warnings.push(format!("access: {w}"));
        }
        Ok(access)
    }

    /// Rolls the batch back and finishes with outcome `failed`.
    fn fail(mut self, reason: String) -> Result<ImportReport, ProvisionError> {
        self.report.error = Some(reason);
        let rollback = rollback_batch(
            self.ports.adapter,
            self.ports.journal,
            self.ports.vault,
            &self.report.batch_id,
        )?;
        let deleted: HashSet<ObjectId> = rollback
            .deleted
            .iter()
            .filter(|d| d.resource_type == ResourceType::Account)
            .map(|d| d.host_id)
            .collect();
        for k in &mut self.report.keys {
            let removed = k.account_id.is_some_and(|id| deleted.contains(&id));
            if removed
                && matches!(
                    k.status,
                    ItemStatus::Passed | ItemStatus::Warning | ItemStatus::Created
                )
            {
                k.status = ItemStatus::RolledBack;
                self.ports.observer.item(
                    &k.fingerprint,
                    ItemProgress {
                        status: ItemStatus::RolledBack,
                        account_id: k.account_id,
                        verdict: k.verdict,
                        message: None,
                        details: json!({"rolled_back": true}),
                    },
                );
            }
        }
        if !rollback.complete {
            self.report.warnings.push(format!(
                "the rollback left {} object(s) on the host",
                rollback.remaining.len()
            ));
        }
        self.report.rollback = Some(rollback);
        self.report.outcome = BatchStatus::Failed;
        self.finish()
    }

    fn finish(mut self) -> Result<ImportReport, ProvisionError> {
        self.report.redact(self.redactor);
        let r = &mut self.report;
        if r.outcome != BatchStatus::Failed {
            // SPEC §4.4 step 5: a batch whose accounts pass but whose access proof
            // ends broken is partially succeeded, never succeeded.
            let some_key_failed = r.keys.iter().any(|k| k.status == ItemStatus::Failed);
            let access_broken = r.access.status == AccessStatus::Broken;
            r.outcome = if some_key_failed || access_broken {
                BatchStatus::PartiallySucceeded
            } else {
                BatchStatus::Succeeded
            };
        }
        r.provider_event = match r.outcome {
            BatchStatus::Failed => ProviderEvent::Fail,
            BatchStatus::Succeeded if r.access.status.is_ready() => ProviderEvent::Healthy,
            _ => ProviderEvent::Degrade,
        };
        // Every host object of the run, with its journal state at the end.
        let provider_entries = self.ports.journal.list_provider()?;
        let state_of = |t: ResourceType, id: ObjectId| {
            provider_entries
                .iter()
                .rev()
                .find(|e| e.resource_type == t && e.host_resource_id == Some(id))
                .map(|e| e.state)
        };
        let mut resources: Vec<ResourceOutcome> = self
            .ensured
            .iter()
            .map(|o| ResourceOutcome {
                state: state_of(o.resource_type, o.host_id),
                ..o.clone()
            })
            .collect();
        for e in provider_entries.iter().filter(|e| {
            e.batch_id.as_ref() == Some(&r.batch_id)
                && !matches!(
                    e.resource_type,
                    ResourceType::Group | ResourceType::Channel | ResourceType::Plan
                )
        }) {
            let Some(id) = e.host_resource_id else {
                continue;
            };
            let change = match e.state {
                ResourceState::Reused => ResourceChange::Reused,
                ResourceState::Adopted => ResourceChange::Adopted,
                _ => ResourceChange::Created,
            };
            resources.push(ResourceOutcome {
                resource_type: e.resource_type,
                host_id: id,
                name: e.logical_key.clone(),
                change,
                state: Some(e.state),
            });
        }
        r.resources = resources;
        r.recount();
        Ok(self.report)
    }
}
