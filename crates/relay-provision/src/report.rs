//! Requests and reports of import, resume and rollback.

use relay_core::{
    AccessReport, ProbeSettings, SubscriberSelector, TestReason, DEFAULT_CONCURRENCY,
    DEFAULT_PROBE_BALANCE_USD, DEFAULT_PROBE_EMAIL,
};
use relay_domain::{
    AccessMode, BatchId, BatchStatus, Fingerprint, ImportMode, ItemStatus, KeyPlan, ProviderEvent,
    Redactor, ResourceState, ResourceType, Secret, Verdict,
};
pub use relay_domain::{ResourceChange, RetireReason};
use relay_sub2api::ObjectId;
use serde::Serialize;

use crate::lookup::IntentResolution;
use crate::preview::{PreviewReport, PreviewRequest};

/// An import of keys for one provider on one host (SPEC §4.4).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRequest {
    /// The operator's key list, one key per line.
    pub keys: Secret,
    /// Strict (any blocking failure rolls everything back) or partial.
    pub mode: ImportMode,
    /// Subscription or self-service access (decides the group type and names).
    pub access_mode: AccessMode,
    /// Keys processed at once (create, test, models); at least 1.
    pub concurrency: usize,
    /// Also retire managed accounts of earlier batches whose key is not in this import.
    pub replace_existing: bool,
    /// Subscribers besides the managed probe subscriber (subscription mode).
    pub subscribers: Vec<SubscriberSelector>,
    /// E-mail of the managed probe subscriber.
    pub probe_email: String,
    /// Subscription validity in days; default: the plan template's validity.
    pub validity_days: Option<u32>,
    /// Subscribers whose subscriptions get their own validity (days), overriding
    /// `validity_days`.
    pub subscriber_validity_days: Vec<(SubscriberSelector, u32)>,
    /// Managed subscribers are topped up to this balance (USD) when below it.
    pub probe_balance_usd: f64,
    /// A user key bound to the group, for the self-service proof (any mode).
    pub supplied_key: Option<Secret>,
    /// Gateway probe timing.
    pub probe: ProbeSettings,
}

impl ImportRequest {
    /// A request with the defaults (concurrency 8, no replacement, default probe
    /// subscriber and balance, no supplied key, 30 s warm-up window).
    pub fn new(keys: Secret, mode: ImportMode, access_mode: AccessMode) -> Self {
        ImportRequest {
            keys,
            mode,
            access_mode,
            concurrency: DEFAULT_CONCURRENCY,
            replace_existing: false,
            subscribers: Vec::new(),
            probe_email: DEFAULT_PROBE_EMAIL.to_string(),
            validity_days: None,
            subscriber_validity_days: Vec::new(),
            probe_balance_usd: DEFAULT_PROBE_BALANCE_USD,
            supplied_key: None,
            probe: ProbeSettings::default(),
        }
    }

    /// The redaction step of this import: every accepted key (and its fingerprint)
    /// and the supplied key, plus the key patterns. Host and vendor texts of the
    /// import pass through it before they are reported.
    pub fn redactor(&self) -> Redactor {
        crate::preview::key_lines(&self.keys).redactor(self.supplied_key.as_ref())
    }

    /// The preview part of the request.
    pub fn preview_request(&self) -> PreviewRequest {
        PreviewRequest {
            keys: self.keys.clone(),
            mode: self.mode,
            access_mode: self.access_mode,
            supplied_key: self.supplied_key.is_some(),
        }
    }
}

/// One host resource of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceOutcome {
    /// Kind of host object.
    pub resource_type: ResourceType,
    /// The object's host id.
    pub host_id: ObjectId,
    /// Name (or logical key).
    pub name: String,
    /// What this run did with it.
    pub change: ResourceChange,
    /// Journal state at the end of the run (`deleted` after a rollback), when recorded.
    pub state: Option<ResourceState>,
}

/// The result of one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyResult {
    /// 1-based line in the request (sequence of the batch item).
    pub line: usize,
    /// Fingerprint of the key (the key itself is never in a report).
    pub fingerprint: Fingerprint,
    /// Mask of the key, for display.
    pub mask: String,
    /// What the preview planned for the key (new, duplicate, already imported).
    pub plan: KeyPlan,
    /// The key's batch item status at the end of the run.
    pub status: ItemStatus,
    /// Host account id.
    pub account_id: Option<ObjectId>,
    /// Deterministic account name (`<provider>-<fp8>`).
    pub account_name: String,
    /// Classified test outcome.
    pub verdict: Option<Verdict>,
    /// Why the account test got its verdict.
    pub reason: Option<TestReason>,
    /// The host's message, verbatim.
    pub host_message: Option<String>,
    /// The account's model list included the smoke model.
    pub models_include_smoke: Option<bool>,
    /// A warning that holds only if the gateway probe passes.
    pub needs_gateway_confirmation: bool,
}

impl KeyResult {
    /// True for keys that count as working (new and passed/warning, or already imported).
    pub fn is_good(&self) -> bool {
        matches!(
            self.status,
            ItemStatus::Passed | ItemStatus::Warning | ItemStatus::AlreadyImported
        )
    }
}

/// A managed account deleted after the new ones passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetiredAccount {
    /// Host account id.
    pub account_id: ObjectId,
    /// Host name of the retired account.
    pub name: String,
    /// Fingerprint of its upstream key, when recorded.
    pub fingerprint: Option<Fingerprint>,
    /// The batch that created it.
    pub batch_id: Option<BatchId>,
    /// Why it was retired (duplicate key, or replaced).
    pub reason: RetireReason,
}

/// One object deleted by a rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolledBackResource {
    /// Kind of host object.
    pub resource_type: ResourceType,
    /// The object's host id.
    pub host_id: ObjectId,
    /// Its name (the journal's logical key).
    pub name: String,
    /// It was already gone from the host (counts as deleted).
    pub already_gone: bool,
}

/// An object a rollback kept on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptResource {
    /// Kind of host object.
    pub resource_type: ResourceType,
    /// The object's host id.
    pub host_id: ObjectId,
    /// Its name (the journal's logical key).
    pub name: String,
    /// Why (what still uses it).
    pub reason: String,
}

/// An object a rollback could not delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemainingResource {
    /// Kind of host object.
    pub resource_type: ResourceType,
    /// The object's host id.
    pub host_id: ObjectId,
    /// Its name (the journal's logical key).
    pub name: String,
    /// The host's error.
    pub error: String,
}

/// Result of a rollback (SPEC §4.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackReport {
    /// The batch rolled back; `None` for a provider rollback.
    pub batch_id: Option<BatchId>,
    /// Intents resolved before deleting.
    pub resolved_intents: Vec<IntentResolution>,
    /// Deleted objects, in deletion order.
    pub deleted: Vec<RolledBackResource>,
    /// Objects kept because other live managed resources still use them.
    pub kept: Vec<KeptResource>,
    /// Objects that could not be deleted (the batch then fails and the provider drifts).
    pub remaining: Vec<RemainingResource>,
    /// True when `remaining` is empty: every object the rollback owned is gone.
    pub complete: bool,
}

impl RollbackReport {
    /// Passes the host's error texts through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        for r in &mut self.remaining {
            redactor.redact_in_place(&mut r.error);
        }
        for k in &mut self.kept {
            redactor.redact_in_place(&mut k.reason);
        }
    }
}

/// Counts of the keys of a report by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KeyCounts {
    /// Keys in the request (duplicates included).
    pub total: usize,
    /// Keys whose item ended `passed`.
    pub passed: usize,
    /// Passed with a warning.
    pub warning: usize,
    /// Keys whose item ended `failed`.
    pub failed: usize,
    /// Already imported or duplicate.
    pub skipped: usize,
    /// Removed by a rollback.
    pub rolled_back: usize,
}

/// The final report of an import or resume (no secret anywhere).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    /// The batch this report is for (the journal handle's batch).
    pub batch_id: BatchId,
    /// Pack of the provider.
    pub pack_id: String,
    /// Provider the keys were imported for.
    pub provider_id: String,
    /// Strict or partial.
    pub mode: ImportMode,
    /// Subscription or self-service: which access the closure proved.
    pub access_mode: AccessMode,
    /// `succeeded`, `partially_succeeded` or `failed`.
    pub outcome: BatchStatus,
    /// The event to apply to the provider's status.
    pub provider_event: ProviderEvent,
    /// The preview the import ran (absent on resume).
    pub preview: Option<PreviewReport>,
    /// Intents resolved first (resume).
    pub resolved_intents: Vec<IntentResolution>,
    /// Every host resource created, adopted, reused or updated.
    pub resources: Vec<ResourceOutcome>,
    /// One result per key line of the request, in line order (duplicates included).
    pub keys: Vec<KeyResult>,
    /// Counts of `keys`.
    pub counts: KeyCounts,
    /// Stale accounts retired.
    pub retired: Vec<RetiredAccount>,
    /// The access closure and its gateway proofs.
    pub access: AccessReport,
    /// The rollback, when the import failed and rolled back.
    pub rollback: Option<RollbackReport>,
    /// Advisory findings that did not change the outcome.
    pub warnings: Vec<String>,
    /// Why the import failed, when it did.
    pub error: Option<String>,
}

impl ImportReport {
    /// Passes every host or vendor text of the report (warnings, the error, the
    /// keys' host messages, the rollback's errors, the access report, the preview's
    /// warnings and problems) through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        for w in &mut self.warnings {
            redactor.redact_in_place(w);
        }
        if let Some(e) = &mut self.error {
            redactor.redact_in_place(e);
        }
        for k in &mut self.keys {
            if let Some(m) = &mut k.host_message {
                redactor.redact_in_place(m);
            }
        }
        if let Some(r) = &mut self.rollback {
            r.redact(redactor);
        }
        self.access.redact(redactor);
        if let Some(p) = &mut self.preview {
            p.warnings
                .iter_mut()
                .chain(p.problems.iter_mut())
                .for_each(|t| redactor.redact_in_place(t));
        }
    }

    /// Recomputes [`ImportReport::counts`] from the keys.
    pub(crate) fn recount(&mut self) {
        let mut c = KeyCounts {
            total: self.keys.len(),
            ..KeyCounts::default()
        };
        for k in &self.keys {
            match k.status {
                ItemStatus::Passed => c.passed += 1,
                ItemStatus::Warning => c.warning += 1,
                ItemStatus::Failed => c.failed += 1,
                ItemStatus::AlreadyImported | ItemStatus::DuplicateInRequest => c.skipped += 1,
                ItemStatus::RolledBack => c.rolled_back += 1,
                ItemStatus::Pending | ItemStatus::Created => {}
            }
        }
        self.counts = c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_key_statuses() {
        let request = ImportRequest::new(
            Secret::new("k"),
            ImportMode::Strict,
            AccessMode::SelfService,
        );
        assert_eq!(request.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(
            request.probe.warmup_window,
            relay_core::DEFAULT_WARMUP_WINDOW
        );
        let settings = request.probe.for_model("m");
        assert_eq!(settings.smoke_model, "m");
        let key = |status| KeyResult {
            line: 1,
            fingerprint: Fingerprint::of("k"),
            mask: "…".into(),
            plan: KeyPlan::New,
            status,
            account_id: None,
            account_name: String::new(),
            verdict: None,
            reason: None,
            host_message: None,
            models_include_smoke: None,
            needs_gateway_confirmation: false,
        };
        let mut report = ImportReport {
            batch_id: BatchId::new("b"),
            pack_id: "p".into(),
            provider_id: "q".into(),
            mode: ImportMode::Strict,
            access_mode: AccessMode::SelfService,
            outcome: BatchStatus::Running,
            provider_event: ProviderEvent::Fail,
            preview: None,
            resolved_intents: Vec::new(),
            resources: Vec::new(),
            keys: [
                ItemStatus::Passed,
                ItemStatus::Warning,
                ItemStatus::Failed,
                ItemStatus::AlreadyImported,
                ItemStatus::DuplicateInRequest,
                ItemStatus::RolledBack,
            ]
            .into_iter()
            .map(key)
            .collect(),
            counts: KeyCounts::default(),
            retired: Vec::new(),
            access: AccessReport::not_configured(1),
            rollback: None,
            warnings: Vec::new(),
            error: None,
        };
        report.recount();
        assert_eq!(
            report.counts,
            KeyCounts {
                total: 6,
                passed: 1,
                warning: 1,
                failed: 1,
                skipped: 2,
                rolled_back: 1
            }
        );
        assert!(report.keys[3].is_good() && !report.keys[2].is_good());
        let text = serde_json::to_string(&report).unwrap();
        assert!(text.contains("\"outcome\":\"running\""));
    }
}
