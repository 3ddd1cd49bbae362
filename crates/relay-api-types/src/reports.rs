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
    /// TODO doc mode
    #[schemars(with = "Domain<ImportMode>")]
    pub mode: ImportMode,
    /// TODO doc access_mode
    #[schemars(with = "Domain<AccessMode>")]
    pub access_mode: AccessMode,
    /// TODO doc outcome
    #[schemars(with = "Domain<BatchStatus>")]
    pub outcome: BatchStatus,
    /// TODO doc provider_event
    #[schemars(with = "Domain<ProviderEvent>")]
    pub provider_event: ProviderEvent,
    /// The preview the import ran (null on resume).
    pub preview: Option<PreviewReport>,
    /// TODO doc resolved_intents
    pub resolved_intents: Vec<IntentResolution>,
    /// TODO doc resources
    pub resources: Vec<ResourceOutcome>,
    /// TODO doc keys
    pub keys: Vec<KeyResult>,
    /// TODO doc counts
    pub counts: KeyCounts,
    /// TODO doc retired
    pub retired: Vec<RetiredAccount>,
    /// TODO doc access
    pub access: AccessReport,
    /// The rollback, when a strict import failed and rolled back, or after a batch rollback.
    pub rollback: Option<RollbackReport>,
    /// TODO doc warnings
    pub warnings: Vec<String>,
    /// Why the import failed, when it did.
    pub error: Option<String>,
    /// Which phase last wrote the stored report (`import`, then `rollback` once the batch
    /// was rolled back).
    pub phase: ReportPhase,
}

/// TODO doc ResourceOutcome
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceOutcome {
    /// TODO doc resource_type
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// The registered host.
    pub host_id: i64,
    /// Name.
    pub name: String,
    /// TODO doc change
    pub change: ResourceChange,
    /// TODO doc state
    #[schemars(with = "Option<Domain<ResourceState>>")]
    pub state: Option<ResourceState>,
}

/// TODO doc KeyResult
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyResult {
    /// TODO doc line
    pub line: u64,
    /// TODO doc fingerprint
    pub fingerprint: String,
    /// TODO doc mask
    pub mask: String,
    /// TODO doc plan
    #[schemars(with = "Domain<KeyPlan>")]
    pub plan: KeyPlan,
    /// TODO doc status
    #[schemars(with = "Domain<ItemStatus>")]
    pub status: ItemStatus,
    /// TODO doc account_id
    pub account_id: Option<i64>,
    /// TODO doc account_name
    pub account_name: String,
    /// TODO doc verdict
    #[schemars(with = "Option<Domain<Verdict>>")]
    pub verdict: Option<Verdict>,
    /// TODO doc reason
    pub reason: Option<TestReason>,
    /// The host's test message, verbatim.
    pub host_message: Option<String>,
    /// TODO doc models_include_smoke
    pub models_include_smoke: Option<bool>,
    /// TODO doc needs_gateway_confirmation
    pub needs_gateway_confirmation: bool,
}

/// TODO doc KeyCounts
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyCounts {
    /// TODO doc total
    pub total: u64,
    /// TODO doc passed
    pub passed: u64,
    /// TODO doc warning
    pub warning: u64,
    /// TODO doc failed
    pub failed: u64,
    /// TODO doc skipped
    pub skipped: u64,
    /// TODO doc rolled_back
    pub rolled_back: u64,
}

/// TODO doc RetiredAccount
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetiredAccount {
    /// TODO doc account_id
    pub account_id: i64,
    /// Name.
    pub name: String,
    /// TODO doc fingerprint
    pub fingerprint: Option<String>,
    /// The import batch.
    pub batch_id: Option<String>,
    /// TODO doc reason
    pub reason: RetireReason,
}

/// How an interrupted creation was resolved by looking its name up on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntentResolution {
    /// TODO doc entry_id
    pub entry_id: i64,
    /// TODO doc resource_type
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
    /// TODO doc resolved_intents
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

/// TODO doc RollbackReportDeletedItem
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackReportDeletedItem {
    /// TODO doc resource_type
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// The registered host.
    pub host_id: i64,
    /// Name.
    pub name: String,
    /// TODO doc already_gone
    pub already_gone: bool,
}

/// TODO doc RollbackReportKeptItem
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackReportKeptItem {
    /// TODO doc resource_type
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// The registered host.
    pub host_id: i64,
    /// Name.
    pub name: String,
    /// TODO doc reason
    pub reason: String,
}

/// TODO doc RollbackReportRemainingItem
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackReportRemainingItem {
    /// TODO doc resource_type
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// The registered host.
    pub host_id: i64,
    /// Name.
    pub name: String,
    /// TODO doc error
    pub error: String,
}
