//! Records the store reads and writes. Statuses are relay-domain types; the few
//! store-only vocabularies (auth kind, pack source, probe kind, …) are defined here
//! with the same `as_str`/`FromStr` contract.

use std::collections::BTreeMap;

use relay_domain::{
    AccessMode, AccessStatus, BatchId, BatchStatus, Fingerprint, HostId, HostStatus, ImportMode,
    ItemStatus, KeyPlan, PackId, ProviderId, ProviderStatus, ReconcileRunId, ResourceState,
    ResourceType, Secret, Verdict,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use relay_domain::Timestamp;

relay_domain::string_enum!(
    /// How the manager authenticates to a host's admin API.
    HostAuthKind, "host auth kind" {
        /// An admin API key sent with every call.
        ApiKey => "api_key",
        /// E-mail and password exchanged for a bearer token.
        Login => "login",
    }
);

relay_domain::string_enum!(
    /// Where a pack was installed from.
    PackSourceKind, "pack source kind" {
        /// A directory.
        Dir => "dir",
        /// A `.zip` archive.
        Zip => "zip",
    }
);

pub use relay_domain::{ProbeKeySource, ProbeKind};

relay_domain::string_enum!(
    /// What started a reconcile run.
    ReconcileTrigger, "reconcile trigger" {
        /// An operator request.
        Manual => "manual",
        /// The background scheduler.
        Scheduled => "scheduled",
    }
);

relay_domain::string_enum!(
    /// Life of a reconcile run record.
    ReconcileStatus, "reconcile status" {
        /// In progress.
        Running => "running",
        /// Finished with a verdict.
        Completed => "completed",
        /// Could not finish (host unreachable, internal error).
        Failed => "failed",
        /// Found running at start-up after a crash.
        Interrupted => "interrupted",
    }
);

relay_domain::string_enum!(
    /// Owner kind of a row of `sealed_secrets`.
    SecretOwnerKind, "secret owner kind" {
        /// A host (owner id: host id).
        Host => "host",
        /// A provider on a host (owner id: `<host_id>/<pack_id>/<provider_id>`).
        ProviderInstall => "provider_install",
        /// A managed subscriber (owner id: the subscriber's row id).
        Subscriber => "subscriber",
    }
);

// ---------------------------------------------------------------------------
// Hosts

/// A host to register. The admin secret is sealed before it is written.
#[derive(Debug, Clone)]
pub struct NewHost {
    /// Id chosen by the caller (`HostId::from_random`).
    pub id: HostId,
    /// Unique display name.
    pub name: String,
    /// Base URL of the host.
    pub base_url: String,
    /// How to authenticate.
    pub auth_kind: HostAuthKind,
    /// Admin e-mail for [`HostAuthKind::Login`].
    pub admin_email: Option<String>,
    /// Admin API key or password.
    pub admin_secret: Secret,
    /// Detected host version.
    pub version: Option<String>,
    /// Status from the registration probe.
    pub status: HostStatus,
}

/// A registered host (without its secret; see `HostRepository::admin_secret`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRecord {
    /// Id.
    pub id: HostId,
    /// Unique display name.
    pub name: String,
    /// Base URL.
    pub base_url: String,
    /// Admin auth kind.
    pub auth_kind: HostAuthKind,
    /// Admin e-mail, for login auth.
    pub admin_email: Option<String>,
    /// Detected version.
    pub version: Option<String>,
    /// Current status.
    pub status: HostStatus,
    /// When capabilities were last probed.
    pub last_probe_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A capability probe result to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCapabilitySnapshot {
    /// Host version seen by the probe.
    pub version: Option<String>,
    /// Capability name → present (`groups`, `channels`, `plans`, …).
    pub capabilities: BTreeMap<String, bool>,
    /// Host status derived from the probe.
    pub status: HostStatus,
}

/// A stored capability snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilitySnapshot {
    /// The host.
    pub host_id: HostId,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// Host version seen.
    pub version: Option<String>,
    /// Capability name → present.
    pub capabilities: BTreeMap<String, bool>,
    /// Derived status.
    pub status: HostStatus,
}

// ---------------------------------------------------------------------------
// Packs and providers

/// A validated pack to install, with its providers.
#[derive(Debug, Clone)]
pub struct NewPack {
    /// `pack_id`.
    pub pack_id: PackId,
    /// Semver version.
    pub version: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Semver requirement on the host version.
    pub host_compat: String,
    /// SHA-256 of the pack source (e.g. of `checksums.txt` or the zip).
    pub source_digest: String,
    /// Directory or zip.
    pub source_kind: PackSourceKind,
    /// Where it was installed from.
    pub source_path: String,
    /// Advisory host overlays (JSON array).
    pub overlays: Value,
    /// Provider manifests.
    pub providers: Vec<NewProvider>,
}

/// A provider manifest to install with its pack.
#[derive(Debug, Clone)]
pub struct NewProvider {
    /// `provider_id`.
    pub provider_id: ProviderId,
    /// `display_name`.
    pub display_name: String,
    /// Upstream `base_url` (used to match batch auto-import lines).
    pub base_url: String,
    /// The whole manifest.
    pub manifest: Value,
    /// Pack-level status (normally `installed`).
    pub status: ProviderStatus,
}

/// An installed pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackRecord {
    /// `pack_id`.
    pub pack_id: PackId,
    /// Version.
    pub version: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Host version requirement.
    pub host_compat: String,
    /// Digest of the source.
    pub source_digest: String,
    /// Directory or zip.
    pub source_kind: PackSourceKind,
    /// Source path.
    pub source_path: String,
    /// Advisory overlays.
    pub overlays: Value,
    /// First installed.
    pub installed_at: Timestamp,
    /// Last (re)installed.
    pub updated_at: Timestamp,
}

/// A provider of an installed pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderRecord {
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Display name.
    pub display_name: String,
    /// Upstream base URL.
    pub base_url: String,
    /// The whole manifest.
    pub manifest: Value,
    /// Pack-level status.
    pub status: ProviderStatus,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// Result of installing a pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstalledPack {
    /// The pack row.
    pub pack: PackRecord,
    /// Its providers after the install.
    pub providers: Vec<ProviderRecord>,
    /// Providers of an earlier version of the pack that the new version dropped.
    pub removed: Vec<ProviderId>,
}

// ---------------------------------------------------------------------------
// Provider installs (per host)

/// The per-host state of one provider of one pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderInstallRecord {
    /// Host.
    pub host_id: HostId,
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Health on this host.
    pub status: ProviderStatus,
    /// Latest access status.
    pub access_status: AccessStatus,
    /// Why the status is what it is (free text, no secrets).
    pub status_message: Option<String>,
    /// The latest batch of this provider on this host.
    pub last_batch_id: Option<BatchId>,
    /// When it was last reconciled.
    pub last_reconcile_at: Option<Timestamp>,
    /// True when excluded from reconcile (status `disabled`).
    pub disabled: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

// ---------------------------------------------------------------------------
// Import batches

/// A batch to create (status `pending`).
#[derive(Debug, Clone)]
pub struct NewBatch {
    /// Id chosen by the caller.
    pub id: BatchId,
    /// Host.
    pub host_id: HostId,
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Strict or partial.
    pub mode: ImportMode,
    /// Subscription or self-service.
    pub access_mode: AccessMode,
    /// The request, without any secret (fingerprints and masks only).
    pub request: Value,
}

/// Per-outcome counts of a batch's items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BatchCounts {
    /// Items.
    pub total: u32,
    /// Items `passed`.
    pub passed: u32,
    /// Items `warning`.
    pub warning: u32,
    /// Items `failed`.
    pub failed: u32,
    /// Items skipped (`already_imported`, `duplicate_in_request`).
    pub skipped: u32,
}

/// A stored import batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRecord {
    /// Id.
    pub id: BatchId,
    /// Host.
    pub host_id: HostId,
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Strict or partial.
    pub mode: ImportMode,
    /// Access mode.
    pub access_mode: AccessMode,
    /// Status.
    pub status: BatchStatus,
    /// Request (no secrets).
    pub request: Value,
    /// Final report, once written.
    pub report: Option<Value>,
    /// Error message of a failed batch.
    pub error: Option<String>,
    /// Item counts.
    pub counts: BatchCounts,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// First moved to `running`.
    pub started_at: Option<Timestamp>,
    /// Reached a terminal status.
    pub finished_at: Option<Timestamp>,
    /// Last marked `interrupted`.
    pub interrupted_at: Option<Timestamp>,
}

/// Filter of batch listings; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    /// Host.
    pub host_id: Option<HostId>,
    /// Pack.
    pub pack_id: Option<PackId>,
    /// Provider.
    pub provider_id: Option<ProviderId>,
    /// Status.
    pub status: Option<BatchStatus>,
    /// At most this many (newest first); `None` for all.
    pub limit: Option<u32>,
}

/// One key of a batch to record.
#[derive(Debug, Clone)]
pub struct NewBatchItem {
    /// Position in the request (1-based, unique per batch).
    pub seq: u32,
    /// Key fingerprint.
    pub fingerprint: Fingerprint,
    /// Key mask.
    pub mask: String,
    /// Preview plan.
    pub plan: KeyPlan,
    /// Initial status.
    pub status: ItemStatus,
    /// Host account id (for `already_imported`).
    pub account_id: Option<i64>,
}

/// A change to one item; `None` fields are left unchanged.
#[derive(Debug, Clone, Default)]
pub struct ItemUpdate {
    /// New status.
    pub status: Option<ItemStatus>,
    /// Host account id.
    pub account_id: Option<i64>,
    /// Classified test outcome.
    pub verdict: Option<Verdict>,
    /// Message (no secrets).
    pub message: Option<String>,
    /// Details JSON (replaces the stored value).
    pub details: Option<Value>,
}

/// A stored batch item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchItemRecord {
    /// Batch.
    pub batch_id: BatchId,
    /// Position.
    pub seq: u32,
    /// Key fingerprint.
    pub fingerprint: Fingerprint,
    /// Key mask.
    pub mask: String,
    /// Preview plan.
    pub plan: KeyPlan,
    /// Status.
    pub status: ItemStatus,
    /// Host account id.
    pub account_id: Option<i64>,
    /// Test outcome.
    pub verdict: Option<Verdict>,
    /// Message.
    pub message: Option<String>,
    /// Details.
    pub details: Value,
    /// Last changed.
    pub updated_at: Timestamp,
}

// ---------------------------------------------------------------------------
// Managed resources

/// A managed resource to journal.
#[derive(Debug, Clone)]
pub struct NewResource {
    /// Host.
    pub host_id: HostId,
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// The batch that created or reused it.
    pub batch_id: Option<BatchId>,
    /// Kind of host object.
    pub resource_type: ResourceType,
    /// Deterministic name (e.g. `crm-<pack>-<provider>-sub`, `<provider>-<fp8>`).
    pub logical_key: String,
    /// Key fingerprint, for accounts.
    pub fingerprint: Option<Fingerprint>,
    /// Extra facts (JSON object; no secrets).
    pub details: Value,
}

/// A stored managed resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceRecord {
    /// Row id.
    pub id: i64,
    /// Host.
    pub host_id: HostId,
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Batch.
    pub batch_id: Option<BatchId>,
    /// Kind.
    pub resource_type: ResourceType,
    /// Host-side id; `None` while an intent.
    pub host_resource_id: Option<i64>,
    /// Deterministic name.
    pub logical_key: String,
    /// State.
    pub state: ResourceState,
    /// Key fingerprint, for accounts.
    pub fingerprint: Option<Fingerprint>,
    /// Extra facts.
    pub details: Value,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

// ---------------------------------------------------------------------------
// Probes, access closure, reconcile

/// A probe result to record.
#[derive(Debug, Clone)]
pub struct NewProbeResult {
    /// Host.
    pub host_id: HostId,
    /// Pack, when provider-scoped.
    pub pack_id: Option<PackId>,
    /// Provider, when provider-scoped.
    pub provider_id: Option<ProviderId>,
    /// Batch that ran it.
    pub batch_id: Option<BatchId>,
    /// Reconcile run that ran it.
    pub reconcile_run_id: Option<ReconcileRunId>,
    /// Kind.
    pub kind: ProbeKind,
    /// What was probed (account id, model, URL; never a key).
    pub subject: String,
    /// Classified outcome.
    pub outcome: Verdict,
    /// HTTP status, when there was a response.
    pub http_status: Option<u16>,
    /// Message (no secrets).
    pub message: Option<String>,
    /// Duration.
    pub duration_ms: Option<u64>,
    /// Extra facts.
    pub details: Value,
}

/// A stored probe result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResultRecord {
    /// Row id.
    pub id: i64,
    /// Host.
    pub host_id: HostId,
    /// Pack.
    pub pack_id: Option<PackId>,
    /// Provider.
    pub provider_id: Option<ProviderId>,
    /// Batch.
    pub batch_id: Option<BatchId>,
    /// Reconcile run.
    pub reconcile_run_id: Option<ReconcileRunId>,
    /// Kind.
    pub kind: ProbeKind,
    /// Subject.
    pub subject: String,
    /// Outcome.
    pub outcome: Verdict,
    /// HTTP status.
    pub http_status: Option<u16>,
    /// Message.
    pub message: Option<String>,
    /// Duration.
    pub duration_ms: Option<u64>,
    /// Extra facts.
    pub details: Value,
    /// When.
    pub at: Timestamp,
}

/// An access closure proof to record.
#[derive(Debug, Clone)]
pub struct NewAccessClosure {
    /// Host.
    pub host_id: HostId,
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Batch that ran it.
    pub batch_id: Option<BatchId>,
    /// Reconcile run that ran it.
    pub reconcile_run_id: Option<ReconcileRunId>,
    /// Access mode proven.
    pub mode: AccessMode,
    /// Where the probe key came from.
    pub probe_key_source: ProbeKeySource,
    /// Fingerprint of the probe key.
    pub probe_key_fingerprint: Option<Fingerprint>,
    /// Mask of the probe key.
    pub probe_key_mask: Option<String>,
    /// HTTP status of `GET /v1/models`.
    pub models_status: Option<u16>,
    /// The smoke model was listed.
    pub expected_model_seen: bool,
    /// HTTP status of the chat completion.
    pub completion_status: Option<u16>,
    /// `object` of the completion response (e.g. `chat.completion`).
    pub completion_type: Option<String>,
    /// First characters of the completion text.
    pub completion_preview: Option<String>,
    /// Resulting access status.
    pub access_status: AccessStatus,
    /// Message (no secrets).
    pub message: Option<String>,
    /// Extra facts.
    pub details: Value,
}

/// A stored access closure proof.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessClosureRecord {
    /// Row id.
    pub id: i64,
    /// Host.
    pub host_id: HostId,
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Batch.
    pub batch_id: Option<BatchId>,
    /// Reconcile run.
    pub reconcile_run_id: Option<ReconcileRunId>,
    /// Mode.
    pub mode: AccessMode,
    /// Probe key source.
    pub probe_key_source: ProbeKeySource,
    /// Probe key fingerprint.
    pub probe_key_fingerprint: Option<Fingerprint>,
    /// Probe key mask.
    pub probe_key_mask: Option<String>,
    /// `/v1/models` status.
    pub models_status: Option<u16>,
    /// Smoke model listed.
    pub expected_model_seen: bool,
    /// Completion status.
    pub completion_status: Option<u16>,
    /// Completion object type.
    pub completion_type: Option<String>,
    /// Completion preview.
    pub completion_preview: Option<String>,
    /// Access status.
    pub access_status: AccessStatus,
    /// Message.
    pub message: Option<String>,
    /// Extra facts.
    pub details: Value,
    /// When.
    pub at: Timestamp,
}

/// A reconcile run to start (status `running`).
#[derive(Debug, Clone)]
pub struct NewReconcileRun {
    /// Id chosen by the caller.
    pub id: ReconcileRunId,
    /// Host.
    pub host_id: HostId,
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Batch scope, when triggered for one batch.
    pub batch_id: Option<BatchId>,
    /// Manual or scheduled.
    pub trigger: ReconcileTrigger,
}

/// The outcome of a finished reconcile run.
#[derive(Debug, Clone)]
pub struct ReconcileOutcome {
    /// `completed` or `failed`.
    pub status: ReconcileStatus,
    /// Derived provider status.
    pub verdict: Option<ProviderStatus>,
    /// Access status seen by the run's probe.
    pub access_status: Option<AccessStatus>,
    /// Differences found (JSON array).
    pub differences: Value,
    /// Repairs applied (JSON array).
    pub repairs: Value,
    /// Error of a failed run.
    pub error: Option<String>,
    /// The full report of the run (JSON; no secrets), for evidence.
    pub report: Option<Value>,
}

/// A stored reconcile run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconcileRunRecord {
    /// Id.
    pub id: ReconcileRunId,
    /// Host.
    pub host_id: HostId,
    /// Pack.
    pub pack_id: PackId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Batch scope.
    pub batch_id: Option<BatchId>,
    /// Trigger.
    pub trigger: ReconcileTrigger,
    /// Status.
    pub status: ReconcileStatus,
    /// Derived provider status.
    pub verdict: Option<ProviderStatus>,
    /// Access status.
    pub access_status: Option<AccessStatus>,
    /// Differences.
    pub differences: Value,
    /// Repairs.
    pub repairs: Value,
    /// Error.
    pub error: Option<String>,
    /// Started.
    pub started_at: Timestamp,
    /// Finished.
    pub finished_at: Option<Timestamp>,
    /// The full report of the run.
    pub report: Option<Value>,
}

/// Filter of reconcile run listings; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct ReconcileFilter {
    /// Host.
    pub host_id: Option<HostId>,
    /// Pack.
    pub pack_id: Option<PackId>,
    /// Provider.
    pub provider_id: Option<ProviderId>,
    /// Batch.
    pub batch_id: Option<BatchId>,
    /// At most this many (newest first).
    pub limit: Option<u32>,
}

// ---------------------------------------------------------------------------
// Subscribers and sealed secrets

/// A managed subscriber (host user the manager created or found); password sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriberRecord {
    /// Row id.
    pub id: i64,
    /// Host.
    pub host_id: HostId,
    /// E-mail.
    pub email: String,
    /// Host user id, once known.
    pub host_user_id: Option<i64>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// Address of a sealed secret: owner and purpose.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretSlot {
    /// Owner kind.
    pub owner_kind: SecretOwnerKind,
    /// Owner id (see [`SecretOwnerKind`]).
    pub owner_id: String,
    /// Purpose, e.g. `probe_key`, `user_key:<group id>`.
    pub purpose: String,
}

impl SecretSlot {
    /// The slot of an operator-supplied probe key for a provider on a host.
    pub fn probe_key(host_id: &HostId, pack_id: &PackId, provider_id: &ProviderId) -> SecretSlot {
        SecretSlot {
            owner_kind: SecretOwnerKind::ProviderInstall,
            owner_id: format!("{host_id}/{pack_id}/{provider_id}"),
            purpose: "probe_key".into(),
        }
    }

    /// The slot of a user key the manager created for a managed subscriber.
    pub fn subscriber_user_key(subscriber_id: i64, purpose: &str) -> SecretSlot {
        SecretSlot {
            owner_kind: SecretOwnerKind::Subscriber,
            owner_id: subscriber_id.to_string(),
            purpose: purpose.to_string(),
        }
    }
}

/// Public facts of a stored sealed secret (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretInfo {
    /// Owner kind.
    pub owner_kind: SecretOwnerKind,
    /// Owner id.
    pub owner_id: String,
    /// Purpose.
    pub purpose: String,
    /// Fingerprint of the secret.
    pub fingerprint: Fingerprint,
    /// Mask of the secret.
    pub mask: String,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_738_324_800_123).to_rfc3339(),
            "2025-01-31T12:00:00.123Z"
        );
        assert_eq!(
            Timestamp(951_782_400_000).to_rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn store_enums_round_trip() {
        for k in ProbeKind::ALL {
            assert_eq!(k.as_str().parse::<ProbeKind>().unwrap(), *k);
        }
        assert!("bogus".parse::<HostAuthKind>().is_err());
    }
}
