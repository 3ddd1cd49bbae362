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
    /// TODO doc mode
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Domain<ImportMode>>")]
    pub mode: Option<ImportMode>,
    /// TODO doc access_mode
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Domain<AccessMode>>")]
    pub access_mode: Option<AccessMode>,
    /// TODO doc keys
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<BatchRequestRecordKeysItem>,
    /// TODO doc dropped
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<DroppedLine>,
    /// TODO doc subscribers
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribers: Vec<BatchRequestRecordSubscribersItem>,
    /// Subscription validity in days asked for (`null`: the plan template's).
    #[serde(default)]
    pub validity_days: Option<i64>,
    /// The supplied probe key, as fingerprint and mask (`null`: none supplied).
    #[serde(default)]
    pub probe_key: Option<BatchRequestRecordProbeKey>,
    /// TODO doc replace_existing
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_existing: Option<bool>,
    /// TODO doc concurrency
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i64>,
}

/// TODO doc BatchRequestRecordKeysItem
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchRequestRecordKeysItem {
    /// TODO doc line
    pub line: i64,
    /// TODO doc fingerprint
    pub fingerprint: String,
    /// TODO doc mask
    pub mask: String,
    /// TODO doc plan
    #[schemars(with = "Domain<KeyPlan>")]
    pub plan: KeyPlan,
}

/// TODO doc BatchRequestRecordSubscribersItem
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchRequestRecordSubscribersItem {
    /// TODO doc email
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// TODO doc user_id
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

/// The supplied probe key, as fingerprint and mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchRequestRecordProbeKey {
    /// TODO doc fingerprint
    pub fingerprint: String,
    /// TODO doc mask
    pub mask: String,
}

/// The report of a batch that has not finished normally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchProgressReport {
    /// TODO doc phase
    pub phase: ReportPhase,
    /// TODO doc preview
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewReport>,
    /// TODO doc error
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// TODO doc rollback
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
    /// before reporting: `{"phase":"import","error":…}`.
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

/// TODO doc BatchList
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchList {
    /// Newest first.
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

/// TODO doc ResourceList
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceList {
    /// TODO doc resources
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
    pub trigger: ReconcileTrigger,
    /// Status.
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
    /// TODO doc host
    pub host: BatchEvidenceHost,
    /// TODO doc pack
    pub pack: BatchEvidencePack,
    /// TODO doc provider
    pub provider: BatchEvidenceProvider,
    /// TODO doc asked
    pub asked: BatchRequestRecord,
    /// TODO doc batch
    pub batch: BatchEvidenceBatch,
    /// TODO doc keys
    pub keys: Vec<BatchItemRecord>,
    /// TODO doc host_objects
    pub host_objects: Vec<ResourceRecord>,
    /// TODO doc probes
    pub probes: Vec<ProbeResultRecord>,
    /// TODO doc access_proofs
    pub access_proofs: Vec<AccessClosureRecord>,
    /// The batch's stored report (as in [`BatchRecord::report`]).
    pub report: Option<BatchReport>,
    /// TODO doc reconcile_runs
    pub reconcile_runs: Vec<ReconcileRunRecord>,
}

/// TODO doc BatchEvidenceHost
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchEvidenceHost {
    /// TODO doc id
    pub id: String,
    /// Name.
    pub name: String,
    /// TODO doc base_url
    pub base_url: String,
    /// TODO doc version
    pub version: Option<String>,
    /// TODO doc status
    #[schemars(with = "Domain<HostStatus>")]
    pub status: HostStatus,
}

/// TODO doc BatchEvidencePack
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchEvidencePack {
    /// Id of the pack.
    pub pack_id: String,
    /// TODO doc version
    pub version: String,
    /// TODO doc source_digest
    pub source_digest: String,
}

/// TODO doc BatchEvidenceProvider
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchEvidenceProvider {
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// TODO doc display_name
    pub display_name: String,
    /// TODO doc base_url
    pub base_url: String,
    /// TODO doc smoke_test_model
    pub smoke_test_model: Option<String>,
}

/// TODO doc BatchEvidenceBatch
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchEvidenceBatch {
    /// TODO doc id
    pub id: String,
    /// TODO doc mode
    #[schemars(with = "Domain<ImportMode>")]
    pub mode: ImportMode,
    /// TODO doc access_mode
    #[schemars(with = "Domain<AccessMode>")]
    pub access_mode: AccessMode,
    /// TODO doc status
    #[schemars(with = "Domain<BatchStatus>")]
    pub status: BatchStatus,
    /// TODO doc error
    pub error: Option<String>,
    /// TODO doc counts
    pub counts: BatchCounts,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at: String,
    /// TODO doc started_at
    pub started_at: Option<String>,
    /// TODO doc finished_at
    pub finished_at: Option<String>,
    /// TODO doc interrupted_at
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
