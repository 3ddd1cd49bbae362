//! Import, resume and rollback reports.

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
#[allow(unused_imports)]
use std::collections::BTreeMap;

/// The final report of an import or resume (no secret anywhere).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportReport {
    /// The import batch.
    pub batch_id: String,
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
    /// `succeeded`, `partially_succeeded` or `failed`.
    #[schemars(with = "Domain<BatchStatus>")]
    pub outcome: BatchStatus,
    /// The event to apply to the provider's status.
    #[schemars(with = "Domain<ProviderEvent>")]
    pub provider_event: ProviderEvent,
    /// The preview the import ran (null on resume).
    pub preview: Option<PreviewReport>,
    /// Intents resolved first (resume).
    pub resolved_intents: Vec<IntentResolution>,
    /// Every host resource created, adopted, reused or updated; in a batch's stored
    /// report (`batch.report`) the accounts are left out (one per key, they are the
    /// batch view's `resources`).
    pub resources: Vec<ResourceOutcome>,
    /// Per key; empty in a batch's stored report (`batch.report`), whose per-key
    /// results are the batch's `items`.
    pub keys: Vec<KeyResult>,
    /// Counts of `keys`.
    pub counts: KeyCounts,
    /// Stale accounts retired.
    pub retired: Vec<RetiredAccount>,
    /// The access closure and its gateway proofs.
    pub access: AccessReport,
    /// The rollback, when a strict import failed and rolled back, or after a batch rollback.
    pub rollback: Option<RollbackReport>,
    /// Advisory findings.
    pub warnings: Vec<String>,
    /// Why the import failed, when it did.
    pub error: Option<String>,
    /// Which phase last wrote the stored report (`import`, then `rollback` once the batch
    /// was rolled back).
    pub phase: ReportPhase,
    /// The test calls the import spent (balance pre-flight included); left out in reports of older imports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_calls: Option<TestCallsRecord>,
}

/// One host resource of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceOutcome {
    /// Kind.
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// The registered host.
    pub host_id: i64,
    /// Name.
    pub name: String,
    /// What this run did with it.
    #[schemars(with = "Domain<ResourceChange>")]
    pub change: ResourceChange,
    /// Journal state at the end of the run (`deleted` after a rollback), when recorded.
    #[schemars(with = "Option<Domain<ResourceState>>")]
    pub state: Option<ResourceState>,
}

/// The result of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyResult {
    /// 1-based line in the request (sequence of the batch item).
    pub line: u64,
    /// Key fingerprint.
    pub fingerprint: String,
    /// Key mask.
    pub mask: String,
    /// Preview plan.
    #[schemars(with = "Domain<KeyPlan>")]
    pub plan: KeyPlan,
    /// Final status.
    #[schemars(with = "Domain<ItemStatus>")]
    pub status: ItemStatus,
    /// Host account id.
    pub account_id: Option<i64>,
    /// Account name.
    pub account_name: String,
    /// Classified test outcome.
    #[schemars(with = "Option<Domain<Verdict>>")]
    pub verdict: Option<Verdict>,
    /// Why.
    #[schemars(with = "Option<Domain<TestReason>>")]
    pub reason: Option<TestReason>,
    /// The host's test message, verbatim.
    pub host_message: Option<String>,
    /// The account's model list included the smoke model.
    pub models_include_smoke: Option<bool>,
    /// A warning that holds only if the gateway probe passes.
    pub needs_gateway_confirmation: bool,
}

/// Counts of the keys of a report by outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyCounts {
    /// Keys in the request (duplicates included).
    pub total: u64,
    /// Passed.
    pub passed: u64,
    /// Passed with a warning.
    pub warning: u64,
    /// Failed.
    pub failed: u64,
    /// Already imported or duplicate.
    pub skipped: u64,
    /// Removed by a rollback.
    pub rolled_back: u64,
}

/// A managed account deleted after the new ones passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetiredAccount {
    /// Host account id.
    pub account_id: i64,
    /// Name.
    pub name: String,
    /// Its key fingerprint.
    pub fingerprint: Option<String>,
    /// The import batch.
    pub batch_id: Option<String>,
    /// Why.
    #[schemars(with = "Domain<RetireReason>")]
    pub reason: RetireReason,
}

/// How an interrupted creation was resolved by looking its name up on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntentResolution {
    /// Journal entry id.
    pub entry_id: i64,
    /// Kind of host object.
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// Name.
    pub name: String,
    /// What the lookup found.
    pub resolution: Resolution,
}

/// How an interrupted creation was resolved, tagged by `outcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Resolution {
    /// Exactly one object with the name: adopted.
    Adopted {
        /// Its host id.
        host_id: i64,
    },
    /// Several objects with the name: the newest adopted, the others reported.
    Conflict {
        /// The adopted (newest) host id.
        host_id: i64,
        /// Every candidate.
        candidates: Vec<i64>,
    },
    /// No object with the name: the creation never happened.
    Absent,
}

/// What a rollback deleted, kept and could not delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackReport {
    /// The batch rolled back; null for a provider rollback.
    pub batch_id: Option<String>,
    /// Intents resolved before deleting.
    pub resolved_intents: Vec<IntentResolution>,
    /// Deleted objects, in deletion order.
    pub deleted: Vec<RollbackReportDeletedItem>,
    /// Objects kept because other live managed resources still use them.
    pub kept: Vec<RollbackReportKeptItem>,
    /// Objects that could not be deleted.
    pub remaining: Vec<RollbackReportRemainingItem>,
    /// Nothing remains.
    pub complete: bool,
}

/// A host object the rollback deleted (or found already gone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackReportDeletedItem {
    /// What kind of host object.
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// The registered host.
    pub host_id: i64,
    /// Name.
    pub name: String,
    /// It was already gone from the host.
    pub already_gone: bool,
}

/// A host object the rollback kept, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackReportKeptItem {
    /// What kind of host object.
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// The registered host.
    pub host_id: i64,
    /// Name.
    pub name: String,
    /// Why it was kept.
    pub reason: String,
}

/// A host object the rollback could not delete, and the error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackReportRemainingItem {
    /// What kind of host object.
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// The registered host.
    pub host_id: i64,
    /// Name.
    pub name: String,
    /// The host's error.
    pub error: String,
}
