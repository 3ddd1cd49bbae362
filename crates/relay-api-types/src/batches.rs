//! Import batches: records, items, recorded host objects, probes, access proofs, reconcile runs, views and evidence.

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
#[allow(unused_imports)]
use std::collections::BTreeMap;

/// Per-outcome counts of a batch's items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchCounts {
    /// Items.
    pub total: u64,
    /// Items `passed`.
    pub passed: u64,
    /// Items `warning`.
    pub warning: u64,
    /// Items `failed`.
    pub failed: u64,
    /// `already_imported` and `duplicate_in_request` items.
    pub skipped: u64,
}

/// The import request as recorded, without any secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchRequestRecord {
    /// The registered host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    /// `strict` or `partial`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Domain<ImportMode>>")]
    pub mode: Option<ImportMode>,
    /// `subscription` or `self_service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Domain<AccessMode>>")]
    pub access_mode: Option<AccessMode>,
    /// The accepted key lines, as fingerprints and masks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<BatchRequestRecordKeysItem>,
    /// The lines dropped (blank, comment, invalid, duplicate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<DroppedLine>,
    /// The subscribers asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribers: Vec<BatchRequestRecordSubscribersItem>,
    /// Subscription validity in days asked for (`null`: the plan template's).
    #[serde(default)]
    pub validity_days: Option<i64>,
    /// The supplied probe key, as fingerprint and mask (`null`: none supplied).
    #[serde(default)]
    pub probe_key: Option<BatchRequestRecordProbeKey>,
    /// Retire managed accounts whose key is not in this import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_existing: Option<bool>,
    /// Keys processed at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i64>,
    /// The balance threshold asked for; left out when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_threshold: Option<BalanceThresholdRecord>,
    /// Each key's balance check before the import (with a threshold only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub balance_checks: Vec<BalanceCheckRecord>,
    /// Vendor calls the balance checks made (with a threshold only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_vendor_calls: Option<i64>,
}

/// One accepted key line of the request: its line, fingerprint, mask and plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchRequestRecordKeysItem {
    /// 1-based line of the key in the request.
    pub line: i64,
    /// SHA-256 of the key (64 hex).
    pub fingerprint: String,
    /// The key masked (`sk-a…9f3c`).
    pub mask: String,
    /// What the preview planned for the key.
    #[schemars(with = "Domain<KeyPlan>")]
    pub plan: KeyPlan,
}

/// A subscriber asked for: by e-mail or by host user id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchRequestRecordSubscribersItem {
    /// By e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// By host user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

/// The supplied probe key, as fingerprint and mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchRequestRecordProbeKey {
    /// SHA-256 of the key (64 hex).
    pub fingerprint: String,
    /// The key masked.
    pub mask: String,
}

/// The report of a batch that has not finished normally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchProgressReport {
    /// Which phase wrote the report.
    pub phase: ReportPhase,
    /// The preview the import ran, when it got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewReport>,
    /// Why the batch failed before its final report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The rollback of the batch, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackReport>,
}

contract_enum!(
    /// Which phase last wrote a batch's stored report.
    ReportPhase, "report phase" {
        /// The import (or a resume) wrote it.
        Import => "import",
        /// A rollback of the batch wrote it (its `rollback` is there).
        Rollback => "rollback",
    }
);

/// The stored report of a batch: the final [`ImportReport`] once the import ran to its
/// end, else a [`BatchProgressReport`] (running, failed before reporting, or rolled
/// back before it had a report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BatchReport {
    /// The final report of the import (with `phase` and, after a rollback, `rollback`).
    Import(Box<ImportReport>),
    /// A report written before the final one, or instead of it.
    Progress(Box<BatchProgressReport>),
}

/// An import batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchRecord {
    /// Id.
    pub id: String,
    /// The registered host.
    pub host_id: String,
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// Strict or partial.
    #[schemars(with = "Domain<ImportMode>")]
    pub mode: ImportMode,
    /// Access mode.
    #[schemars(with = "Domain<AccessMode>")]
    pub access_mode: AccessMode,
    /// Status.
    #[schemars(with = "Domain<BatchStatus>")]
    pub status: BatchStatus,
    /// Request (no secrets).
    pub request: BatchRequestRecord,
    /// While running: `{"phase":"import","preview":…}`. Finished: the `ImportReport`
    /// (after a rollback also `"phase":"rollback"` and `rollback`). A run that failed
    /// before reporting: `{"phase":"import","error":…}`. Lean, nothing in it grows
    /// with the keys: its per-key lists (`keys`, `preview.keys`) are empty and its
    /// `resources` leave the accounts out, since the view's `items`, `request.keys`
    /// and `resources` hold every key once.
    pub report: Option<BatchReport>,
    /// Why the batch failed (or what a rollback left).
    pub error: Option<String>,
    /// Item counts.
    pub counts: BatchCounts,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at: i64,
    /// When it last changed (ms since the Unix epoch).
    pub updated_at: i64,
    /// First moved to `running`.
    pub started_at: Option<i64>,
    /// Reached a terminal status.
    pub finished_at: Option<i64>,
    /// Last marked `interrupted`.
    pub interrupted_at: Option<i64>,
}

/// `GET /api/import-batches` (and per provider): batches, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchList {
    /// Newest first. Summaries, so a list does not grow with the keys of its batches:
    /// each batch's `request` leaves out its per-line `keys` and `dropped` (read the
    /// batch for them).
    pub batches: Vec<BatchRecord>,
}

/// One key of a batch (fingerprint and mask only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchItemRecord {
    /// The import batch.
    pub batch_id: String,
    /// Line of the key in the request.
    pub seq: u64,
    /// Key fingerprint.
    pub fingerprint: String,
    /// Key mask.
    pub mask: String,
    /// Preview plan.
    #[schemars(with = "Domain<KeyPlan>")]
    pub plan: KeyPlan,
    /// Status.
    #[schemars(with = "Domain<ItemStatus>")]
    pub status: ItemStatus,
    /// Host account id.
    pub account_id: Option<i64>,
    /// Test outcome.
    #[schemars(with = "Option<Domain<Verdict>>")]
    pub verdict: Option<Verdict>,
    /// Message.
    pub message: Option<String>,
    /// Extra facts of the key's test (JSON; no secrets).
    pub details: serde_json::Value,
    /// When it last changed (ms since the Unix epoch).
    pub updated_at: i64,
}

/// A host object the manager recorded (created, adopted or reused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceRecord {
    /// Row id.
    pub id: i64,
    /// The registered host.
    pub host_id: String,
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// The import batch.
    pub batch_id: Option<String>,
    /// Kind.
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// Id on the host; null while an `intent`.
    pub host_resource_id: Option<i64>,
    /// Deterministic name (e.g. `crm-<pack>-<provider>-sub`, `<provider>-<fp8>`).
    pub logical_key: String,
    /// State.
    #[schemars(with = "Domain<ResourceState>")]
    pub state: ResourceState,
    /// Key fingerprint, for accounts.
    pub fingerprint: Option<String>,
    /// Extra facts (JSON; no secrets).
    pub details: serde_json::Value,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at: i64,
    /// When it last changed (ms since the Unix epoch).
    pub updated_at: i64,
}

/// `GET /api/providers/{provider}/resources`: the recorded host objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceList {
    /// Every recorded host object of the provider on the host, in any state.
    pub resources: Vec<ResourceRecord>,
}

/// One probe (account test, model list, gateway call) with its outcome and timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProbeResultRecord {
    /// Row id.
    pub id: i64,
    /// The registered host.
    pub host_id: String,
    /// Id of the pack.
    pub pack_id: Option<String>,
    /// Id of the provider in its pack.
    pub provider_id: Option<String>,
    /// The import batch.
    pub batch_id: Option<String>,
    /// Reconcile run.
    pub reconcile_run_id: Option<String>,
    /// Kind.
    #[schemars(with = "Domain<ProbeKind>")]
    pub kind: ProbeKind,
    /// What was probed (account id, model, URL; never a key).
    pub subject: String,
    /// Outcome.
    #[schemars(with = "Domain<Verdict>")]
    pub outcome: Verdict,
    /// HTTP status.
    pub http_status: Option<i64>,
    /// Message.
    pub message: Option<String>,
    /// Duration.
    pub duration_ms: Option<u64>,
    /// Extra facts (JSON; no secrets).
    pub details: serde_json::Value,
    /// When it happened (ms since the Unix epoch).
    pub at: i64,
}

/// A recorded access proof of one mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessClosureRecord {
    /// Row id.
    pub id: i64,
    /// The registered host.
    pub host_id: String,
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// The import batch.
    pub batch_id: Option<String>,
    /// Reconcile run.
    pub reconcile_run_id: Option<String>,
    /// Mode.
    #[schemars(with = "Domain<AccessMode>")]
    pub mode: AccessMode,
    /// Probe key source.
    #[schemars(with = "Domain<ProbeKeySource>")]
    pub probe_key_source: ProbeKeySource,
    /// Probe key fingerprint.
    pub probe_key_fingerprint: Option<String>,
    /// Probe key mask.
    pub probe_key_mask: Option<String>,
    /// HTTP status of `GET /v1/models`.
    pub models_status: Option<i64>,
    /// The model list named the smoke-test model.
    pub expected_model_seen: bool,
    /// HTTP status of the chat completion.
    pub completion_status: Option<i64>,
    /// `object` of the completion (e.g. `chat.completion`), else the host's error type.
    pub completion_type: Option<String>,
    /// First characters of the completion text.
    pub completion_preview: Option<String>,
    /// Access status.
    #[schemars(with = "Domain<AccessStatus>")]
    pub access_status: AccessStatus,
    /// Message.
    pub message: Option<String>,
    /// The full proof (an `AccessProof`).
    pub details: serde_json::Value,
    /// When it happened (ms since the Unix epoch).
    pub at: i64,
}

/// A reconcile run, manual (`POST /api/providers/{provider}/reconcile`) or scheduled
/// (the background scheduler). Starts `running`; finishes `completed` (with a verdict
/// and the full `report`) or `failed` (with `error`); a run found `running` when the
/// server starts is marked `interrupted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReconcileRunRecord {
    /// Id.
    pub id: String,
    /// The registered host.
    pub host_id: String,
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// The batch the run was scoped to.
    pub batch_id: Option<String>,
    /// Trigger.
    #[schemars(with = "Domain<ReconcileTrigger>")]
    pub trigger: ReconcileTrigger,
    /// Status.
    #[schemars(with = "Domain<ReconcileStatus>")]
    pub status: ReconcileStatus,
    /// The derived provider status (`active`, `degraded`, `drifted` or `failed`) of a completed run; else null.
    #[schemars(with = "Option<Domain<ProviderStatus>>")]
    pub verdict: Option<ProviderStatus>,
    /// The provider's access status after a completed run (this run's proof combined with the latest proof of the other mode); else null.
    #[schemars(with = "Option<Domain<AccessStatus>>")]
    pub access_status: Option<AccessStatus>,
    /// Differences found (empty unless the run completed).
    pub differences: Vec<Difference>,
    /// Repairs applied (empty unless the run completed).
    pub repairs: Vec<Repair>,
    /// Why a `failed` run failed.
    pub error: Option<String>,
    /// Started.
    pub started_at: i64,
    /// Finished.
    pub finished_at: Option<i64>,
    /// The full report of a completed run; null while running and for failed or interrupted runs (and for runs recorded before schema version 2).
    pub report: Option<ReconcileReport>,
}

/// A batch with everything recorded about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchView {
    /// The batch.
    pub batch: BatchRecord,
    /// Its keys (fingerprints and masks only).
    pub items: Vec<BatchItemRecord>,
    /// Host objects the batch created, adopted or reused.
    pub resources: Vec<ResourceRecord>,
    /// Probes it ran.
    pub probes: Vec<ProbeResultRecord>,
    /// Access proofs the batch recorded.
    pub closures: Vec<AccessClosureRecord>,
    /// Reconcile runs scoped to it.
    pub reconcile_runs: Vec<ReconcileRunRecord>,
    /// Only in the answer of a rollback (or of a resume that continued one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackReport>,
}

/// Self-contained, secret-free audit document of one import batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchEvidence {
    /// Always `relay-evidence/1`.
    pub format: EvidenceFormat,
    /// Always `import_batch`.
    pub kind: ImportBatchKind,
    /// When the document was made (RFC 3339, UTC).
    pub generated_at: String,
    /// The host.
    pub host: EvidenceHost,
    /// The pack.
    pub pack: BatchEvidencePack,
    /// The provider.
    pub provider: BatchEvidenceProvider,
    /// The import request as recorded (no secret).
    pub asked: BatchRequestRecord,
    /// The batch.
    pub batch: BatchEvidenceBatch,
    /// Per-key results.
    pub keys: Vec<BatchItemRecord>,
    /// The host objects recorded for the batch.
    pub host_objects: Vec<ResourceRecord>,
    /// The probes run for the batch.
    pub probes: Vec<ProbeResultRecord>,
    /// The access proofs recorded for the batch.
    pub access_proofs: Vec<AccessClosureRecord>,
    /// The batch's stored report (as in [`BatchRecord::report`]).
    pub report: Option<BatchReport>,
    /// The reconcile runs scoped to the batch.
    pub reconcile_runs: Vec<ReconcileRunRecord>,
    /// The host mutations the batch made (its import, resume and rollback), oldest first.
    pub audit_events: Vec<crate::AuditEvent>,
}

/// The host of an evidence document (of a batch or of a reconcile run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceHost {
    /// Host id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Root URL of the host.
    pub base_url: String,
    /// Host version from the last probe.
    pub version: Option<String>,
    /// Host status.
    #[schemars(with = "Domain<HostStatus>")]
    pub status: HostStatus,
}

/// The pack of an evidence document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchEvidencePack {
    /// Id of the pack.
    pub pack_id: String,
    /// Semantic version of the pack.
    pub version: String,
    /// SHA-256 of the pack source.
    pub source_digest: String,
}

/// The provider of an evidence document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchEvidenceProvider {
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// Display name.
    pub display_name: String,
    /// The vendor's base URL.
    pub base_url: String,
    /// The model of the gateway proof.
    pub smoke_test_model: Option<String>,
}

/// The batch of an evidence document, times in RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchEvidenceBatch {
    /// Batch id.
    pub id: String,
    /// `strict` or `partial`.
    #[schemars(with = "Domain<ImportMode>")]
    pub mode: ImportMode,
    /// `subscription` or `self_service`.
    #[schemars(with = "Domain<AccessMode>")]
    pub access_mode: AccessMode,
    /// Batch status.
    #[schemars(with = "Domain<BatchStatus>")]
    pub status: BatchStatus,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Item counts by outcome.
    pub counts: BatchCounts,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at: String,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// When it finished (RFC 3339).
    pub finished_at: Option<String>,
    /// When it was found interrupted (RFC 3339).
    pub interrupted_at: Option<String>,
}

contract_enum!(
    /// The kind of an import batch evidence document.
    ImportBatchKind, "evidence kind" {
        /// The document describes an import batch.
        ImportBatch => "import_batch",
    }
);

contract_enum!(
    /// The format of the evidence documents.
    EvidenceFormat, "evidence format" {
        /// Version 1.
        V1 => "relay-evidence/1",
    }
);
