//! Reconcile runs, doctor and upstream diagnosis.

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
#[allow(unused_imports)]
use std::collections::BTreeMap;

/// `GET /api/reconcile-runs` (and per provider): runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReconcileRunList {
    /// Newest first.
    pub runs: Vec<ReconcileRunRecord>,
}

/// The full report of a completed reconcile run, a self-contained evidence document (no secret; keys appear as mask and fingerprint only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReconcileReport {
    /// The registered host.
    pub host_id: String,
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// The batch the run was scoped to (`batch_id` of the request).
    pub batch_id: Option<String>,
    /// `drifted` when a difference remains; else `failed` when no account passes and
    /// access is not proven; else `degraded` when an account fails or access is not
    /// proven (broken, or no probe key); else `active`.
    pub verdict: ReconcileReportVerdict,
    /// The event applied to the provider's stored status (a `ProviderEvent`).
    pub provider_event: ReconcileReportProviderEvent,
    /// From this run's probe only (`not_configured` when no probe key was available); the run record's `access_status` also counts the latest proof of the other mode.
    #[schemars(with = "Domain<AccessStatus>")]
    pub access_status: AccessStatus,
    /// Every recorded live object and whether it is on the host.
    pub resources: Vec<ResourceCheck>,
    /// Differences between the record (and the pack) and the host.
    pub differences: Vec<Difference>,
    /// Every recorded account, by account id.
    pub accounts: Vec<AccountCheck>,
    /// The gateway proof, when a probe key was available.
    pub access: Option<AccessProof>,
    /// The group the probe key belongs to.
    pub access_group_id: Option<i64>,
    /// Capability repairs and (with `repair`) safe fixes applied.
    pub repairs: Vec<Repair>,
    /// Per-key health after the run, by account id: state, window counts, and the
    /// scheduling change the manager made (a key taken out after repeated failures,
    /// or put back after a passing test). Empty in reports of older versions.
    #[serde(default)]
    pub keys: Vec<ReconcileKeyHealth>,
    /// Why the verdict is what it is, and other facts.
    pub notes: Vec<String>,
    /// Counts.
    pub counts: ReconcileCounts,
    /// Wall times.
    pub timings: ReconcileTimings,
    /// The balances of the managed accounts, read through the host (DeepSeek and Kimi accounts on hosts with the CN-provider balance route); left out when none was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub balances: Vec<BalanceCheckRecord>,
    /// The test calls the run spent; left out in reports of older runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_calls: Option<TestCallsRecord>,
}

contract_enum!(
    /// `drifted` when a difference remains; else `failed` when no account passes and
    /// access is not proven; else `degraded` when an account fails or access is not
    /// proven (broken, or no probe key); else `active`.
    ReconcileReportVerdict, "reconcile report verdict" {
        /// Everything matches and works.
        Active => "active",
        /// It works with problems (failed accounts, broken access).
        Degraded => "degraded",
        /// The host differs from the record.
        Drifted => "drifted",
        /// It does not work.
        Failed => "failed",
    }
);

contract_enum!(
    /// The event applied to the provider's stored status (a `ProviderEvent`).
    ReconcileReportProviderEvent, "reconcile report provider event" {
        /// Move the provider to `active`.
        Healthy => "healthy",
        /// Move it to `degraded`.
        Degrade => "degrade",
        /// Move it to `drifted`.
        Drift => "drift",
        /// Move it to `failed`.
        Fail => "fail",
    }
);

/// Counts of the run's findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReconcileCounts {
    /// Recorded objects checked.
    pub resources: u64,
    /// Differences found, repaired ones included.
    pub differences: u64,
    /// Differences still there at the end of the run.
    pub remaining_differences: u64,
    /// Accounts that passed.
    pub accounts_passed: u64,
    /// Accounts with an advisory warning.
    pub accounts_warning: u64,
    /// Accounts that failed.
    pub accounts_failed: u64,
    /// Accounts not tested.
    pub accounts_not_tested: u64,
    /// Repairs applied.
    pub repairs: u64,
    /// Keys the manager took out of scheduling in this run.
    #[serde(default)]
    pub keys_disabled: u64,
    /// Keys the manager put back into scheduling in this run.
    #[serde(default)]
    pub keys_re_enabled: u64,
}

/// Wall times of a run, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReconcileTimings {
    /// Reading the journal and the host.
    pub inventory_ms: u64,
    /// Capability repairs and safe fixes before the tests.
    pub repairs_ms: u64,
    /// Time spent testing accounts.
    pub account_tests_ms: u64,
    /// Time spent on the access probe.
    pub access_ms: u64,
    /// Wall time of the whole run.
    pub total_ms: u64,
}

/// Whether a recorded object was found on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceCheck {
    /// Journal entry (resource record) id.
    pub entry_id: i64,
    /// Kind of host object.
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// The registered host.
    pub host_id: i64,
    /// Deterministic name.
    pub name: String,
    /// The recorded `ResourceState`.
    pub state: ResourceCheckState,
    /// Found on the host.
    pub present: bool,
}

contract_enum!(
    /// The recorded `ResourceState`.
    ResourceCheckState, "resource check state" {
        /// Created by the manager.
        Created => "created",
        /// Found on the host and taken over.
        Adopted => "adopted",
        /// Found on the host and reused.
        Reused => "reused",
    }
);

/// One difference between the record (and the pack's template) and the host. Values are host data, never a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Difference {
    /// Kind.
    #[schemars(with = "Domain<DifferenceKind>")]
    pub kind: DifferenceKind,
    /// Kind of host object.
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// Host id of the object concerned.
    pub host_id: Option<i64>,
    /// The record's deterministic name, or the host's name.
    pub name: String,
    /// The field that changed (`group_ids`, `model_mapping`, `model_pricing`, `subscription_type`, …), for `changed`.
    pub field: Option<String>,
    /// What the record or the template says (any JSON; null when not applicable).
    pub expected: serde_json::Value,
    /// What the host has (any JSON; null when not applicable).
    pub actual: serde_json::Value,
    /// A sentence naming the object and both values.
    pub detail: String,
    /// What to do about it.
    pub fix: String,
    /// A safe fix exists that `repair: true` applies.
    pub safe_fix: bool,
    /// The safe fix was applied in this run and the host now matches.
    pub repaired: bool,
}

/// One repair applied to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Repair {
    /// What was done.
    #[schemars(with = "Domain<RepairKind>")]
    pub kind: RepairKind,
    /// Kind of host object changed.
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// The object changed (for a subscription, the new subscription when assigned).
    pub host_id: i64,
    /// Name.
    pub name: String,
    /// A sentence saying what changed.
    pub detail: String,
    /// Every host call succeeded (and, where checked, the host now matches).
    pub ok: bool,
    /// The host's error, when a call failed.
    pub error: Option<String>,
    /// Details of a `capability_repair`.
    pub capability: Option<CapabilityRepair>,
}

/// One recorded account after a reconcile run (each `active` account is tested once per run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountCheck {
    /// Host account id.
    pub account_id: i64,
    /// Deterministic name.
    pub name: String,
    /// Fingerprint of its upstream key (never the key).
    pub fingerprint: Option<String>,
    /// The managed group it belongs to.
    pub group_id: Option<i64>,
    /// Host status before the test (`active`, `error`, `inactive`, …); null when gone from the host.
    pub host_status: Option<String>,
    /// Outcome.
    #[schemars(with = "Domain<AccountOutcome>")]
    pub outcome: AccountOutcome,
    /// The account test ran in this run.
    pub tested: bool,
    /// Why the test got its verdict.
    #[schemars(with = "Option<Domain<TestReason>>")]
    pub reason: Option<TestReason>,
    /// A warning (`API returned 404`) that holds only if the gateway probe passes; it becomes `failed` otherwise.
    pub needs_gateway_confirmation: bool,
    /// The host's message, verbatim (test error, host `error_message`, or why it was not tested).
    pub message: Option<String>,
    /// Upstream HTTP status parsed from the test message.
    pub http_status: Option<i64>,
    /// Model the host tested.
    pub model_tested: Option<String>,
    /// The account's model list includes the smoke-test model.
    pub models_include_smoke: Option<bool>,
    /// Wall time of the test.
    pub duration_ms: Option<u64>,
}

/// One check with its evidence and fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DoctorCheck {
    /// Name.
    #[schemars(with = "Domain<CheckName>")]
    pub name: CheckName,
    /// What it is about (`group 5`, `host`, `probe key`, `key sk-c…9f3c`).
    pub subject: String,
    /// Ok, fail or skipped.
    #[schemars(with = "Domain<CheckStatus>")]
    pub status: CheckStatus,
    /// One sentence, what was found (or why the check was skipped).
    pub summary: String,
    /// Structured facts (ids, statuses, host answers, the gateway proof; never a secret); null for a skipped check.
    pub evidence: serde_json::Value,
    /// What to do, when the check failed (or was skipped for a reason the operator can change).
    pub fix: Option<String>,
    /// It failed before this run's repairs and passes now.
    pub repaired: bool,
}

/// The result of a doctor run, a self-contained evidence document (keys as mask and fingerprint only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DoctorReport {
    /// The registered host.
    pub host_id: String,
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// No check failed (`skipped` checks do not count).
    pub healthy: bool,
    /// The checks (after the repairs, when some were applied); the per-group checks appear once per recorded group.
    pub checks: Vec<DoctorCheck>,
    /// The checks as first found, when `repair` applied fixes; else null.
    pub before_repair: Option<Vec<DoctorCheck>>,
    /// Repairs applied.
    pub repairs: Vec<Repair>,
    /// The gateway proof of the last `completion_works` check.
    pub access: Option<AccessProof>,
    /// The pack's advisory host overlays for this host version.
    pub overlays: Vec<OverlayNote>,
    /// Other facts.
    pub notes: Vec<String>,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

/// What the host said about the key most recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostObservation {
    /// Account test or gateway probe.
    #[schemars(with = "Domain<HostObservationSource>")]
    pub source: HostObservationSource,
    /// What was probed (`account:<id>`, `key:<mask>`).
    pub subject: String,
    /// The host succeeded.
    pub ok: bool,
    /// Upstream status of an account test, gateway status of a probe.
    pub http_status: Option<i64>,
    /// The host's message, verbatim.
    pub message: Option<String>,
}

/// A vendor's error as parsed from its answer (message verbatim and bounded, without the key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VendorError {
    /// `error.type` (`invalid_request_error`, `insufficient_balance_error`, `Arrearage`, …).
    pub error_type: Option<String>,
    /// `error.code` or a flat `code`, as a string (`invalid_api_key`, `1113`, `Throttling.AllocationQuota`, …).
    pub code: Option<String>,
    /// The vendor's message, verbatim (bounded).
    pub message: String,
}

/// One HTTP call to the vendor. HTTP errors are data; a transport failure leaves `http_status` null and fills `transport_error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamCall {
    /// The URL called (the key travels in a header, never in the URL).
    pub url: String,
    /// HTTP status, when the vendor answered.
    pub http_status: Option<i64>,
    /// 2xx with a usable body.
    pub ok: bool,
    /// The vendor's error, when it refused.
    pub error: Option<VendorError>,
    /// Connect, TLS or timeout failure, when the vendor did not answer.
    pub transport_error: Option<String>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// A direct vendor probe (`GET {base}/models`, then a minimal chat completion). Carries the key only as mask and fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamProbe {
    /// The URLs used.
    pub endpoints: UpstreamProbeEndpoints,
    /// The model probed (the provider's smoke-test model).
    pub model: String,
    /// Mask of the key.
    pub key_mask: String,
    /// Fingerprint of the key.
    pub key_fingerprint: String,
    /// `GET {base}/models`.
    pub models: UpstreamCall,
    /// Model ids listed (bounded); empty on error.
    pub models_listed: Vec<String>,
    /// The model list named `model` (advisory; some vendors have no model list).
    pub model_listed: bool,
    /// `POST {base}/chat/completions`.
    pub chat: UpstreamCall,
    /// First characters of the completion.
    pub chat_preview: String,
    /// Model echoed by the vendor.
    pub chat_model: Option<String>,
    /// Wall time of the whole probe in milliseconds.
    pub elapsed_ms: u64,
}

/// The vendor endpoints called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamProbeEndpoints {
    /// The normalised base URL (no trailing `/`).
    pub base_url: String,
    /// The models endpoint called.
    pub models_url: String,
    /// The chat completions endpoint called.
    pub chat_url: String,
}

/// The diagnosis of one key; the vendor's chat decides whether the vendor works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamDiagnosis {
    /// The cause.
    #[schemars(with = "Domain<UpstreamClass>")]
    pub class: UpstreamClass,
    /// One sentence.
    pub summary: String,
    /// What to do.
    pub fix: String,
    /// The vendor probe.
    pub vendor: UpstreamProbe,
    /// The host-side result compared (same as `host_observation` of the view).
    pub host: Option<HostObservation>,
}

/// An upstream diagnosis with what the host saw of the same key. Nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiagnosisView {
    /// The classification, evidence and fix.
    pub diagnosis: UpstreamDiagnosis,
    /// The live managed account of this key (by fingerprint) on the host, if any.
    pub account_id: Option<i64>,
    /// The host's latest recorded account test of that account; null when there is no account or no recorded test.
    pub host_observation: Option<HostObservation>,
}

/// Self-contained, secret-free audit document of one reconcile run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReconcileEvidence {
    /// Always `relay-evidence/1`.
    pub format: EvidenceFormat,
    /// Always `reconcile_run`.
    pub kind: ReconcileRunKind,
    /// When the document was made (RFC 3339, UTC).
    pub generated_at: String,
    /// The host.
    pub host: EvidenceHost,
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// What started the run.
    pub asked: ReconcileEvidenceAsked,
    /// The run.
    pub run: ReconcileEvidenceRun,
    /// Differences between the record and the host.
    pub differences: Vec<Difference>,
    /// Repairs applied.
    pub repairs: Vec<Repair>,
    /// Every probe recorded with the run's id.
    pub probes: Vec<ProbeResultRecord>,
    /// The access proofs recorded with the run's id (the run's gateway probe).
    pub access_proofs: Vec<AccessClosureRecord>,
    /// The full report (null unless the run completed).
    pub report: Option<ReconcileReport>,
    /// The host mutations the run made (its repairs), oldest first.
    pub audit_events: Vec<crate::AuditEvent>,
}

/// What started the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReconcileEvidenceAsked {
    /// `manual` or `scheduled`.
    #[schemars(with = "Domain<ReconcileTrigger>")]
    pub trigger: ReconcileTrigger,
    /// The import batch.
    pub batch_id: Option<String>,
}

/// The run of a reconcile evidence document, times in RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReconcileEvidenceRun {
    /// Run id.
    pub id: String,
    /// Run status.
    #[schemars(with = "Domain<ReconcileStatus>")]
    pub status: ReconcileStatus,
    /// The verdict, once the run completed.
    #[schemars(with = "Option<Domain<ProviderStatus>>")]
    pub verdict: Option<ProviderStatus>,
    /// Access status after the run.
    #[schemars(with = "Option<Domain<AccessStatus>>")]
    pub access_status: Option<AccessStatus>,
    /// Why the run could not finish, when it did not.
    pub error: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it finished (RFC 3339).
    pub finished_at: Option<String>,
}

contract_enum!(
    /// The kind of a reconcile run evidence document.
    ReconcileRunKind, "evidence kind" {
        /// The document describes a reconcile run.
        ReconcileRun => "reconcile_run",
    }
);
