//! Records the store reads and writes. Statuses and vocabularies (auth kind, pack
//! source, probe kind, reconcile trigger and status, …) are relay-domain types,
//! re-exported here; only the store's own table vocabulary is defined here, with the
//! same `as_str`/`FromStr` contract.

use std::collections::BTreeMap;

use relay_domain::{
    AccessMode, AccessStatus, BatchId, BatchStatus, Fingerprint, HostId, HostStatus, ImportMode,
    ItemStatus, KeyPlan, PackId, ProviderId, ProviderStatus, ReconcileRunId, ResourceState,
    ResourceType, Secret, Verdict,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use relay_domain::Timestamp;

pub use relay_domain::{
    HostAuthKind, PackSourceKind, ProbeKeySource, ProbeKind, ReconcileStatus, ReconcileTrigger,
};

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
    /// The host's id, chosen at registration.
    pub id: HostId,
    /// Unique display name.
    pub name: String,
    /// Base URL of the host's HTTP API, as registered.
    pub base_url: String,
    /// How the manager authenticates to the admin API.
    pub auth_kind: HostAuthKind,
    /// Admin e-mail, for login auth.
    pub admin_email: Option<String>,
    /// Host version detected by the latest probe, as the host reported it.
    pub version: Option<String>,
    /// Whether the manager can work with the host (supported, unsupported, unreachable).
    pub status: HostStatus,
    /// When capabilities were last probed.
    pub last_probe_at: Option<Timestamp>,
    /// When the row was created.
    pub created_at: Timestamp,
    /// When the row last changed.
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
    /// The host that was probed.
    pub host_id: HostId,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// Host version seen.
    pub version: Option<String>,
    /// Capability name → present.
    pub capabilities: BTreeMap<String, bool>,
    /// Host status the probe derived from the capabilities.
    pub status: HostStatus,
}

// ---------------------------------------------------------------------------
// Packs and providers

/// A validated pack to install, with its providers.
#[derive(Debug, Clone)]
pub struct NewPack {
    /// `pack_id`.
    pub pack_id: PackId,
    /// The pack's semver version (`pack.json` `version`).
    pub version: String,
    /// Human-readable name from `pack.json`.
    pub name: String,
    /// Description from `pack.json`.
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
    /// The pack's provider manifests, installed with it in one transaction.
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
    /// The installed semver version; a reinstall replaces it.
    pub version: String,
    /// Human-readable name from `pack.json`.
    pub name: String,
    /// Description from `pack.json`.
    pub description: String,
    /// Semver requirement on the host version (`pack.json` `host_compat`).
    pub host_compat: String,
    /// SHA-256 of the installed source: tells two installs of the same version apart.
    pub source_digest: String,
    /// Directory or zip.
    pub source_kind: PackSourceKind,
    /// The directory or zip path the pack was installed from.
    pub source_path: String,
    /// Advisory host overlays (JSON array).
    pub overlays: Value,
    /// When the pack was first installed.
    pub installed_at: Timestamp,
    /// Last (re)installed.
    pub updated_at: Timestamp,
}

/// A provider of an installed pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderRecord {
    /// The pack the provider belongs to.
    pub pack_id: PackId,
    /// The provider's id, unique within its pack.
    pub provider_id: ProviderId,
    /// Human-readable name from the manifest.
    pub display_name: String,
    /// Upstream base URL.
    pub base_url: String,
    /// The whole manifest.
    pub manifest: Value,
    /// Pack-level status.
    pub status: ProviderStatus,
    /// When the row was created.
    pub created_at: Timestamp,
    /// When the row last changed.
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
    /// The host the provider is installed on.
    pub host_id: HostId,
    /// The pack of the provider.
    pub pack_id: PackId,
    /// The provider.
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
    /// When the row was created.
    pub created_at: Timestamp,
    /// When the row last changed.
    pub updated_at: Timestamp,
}

// ---------------------------------------------------------------------------
// Import batches

/// A batch to create (status `pending`).
#[derive(Debug, Clone)]
pub struct NewBatch {
    /// Id chosen by the caller.
    pub id: BatchId,
    /// The host the keys are imported into.
    pub host_id: HostId,
    /// The pack of the provider.
    pub pack_id: PackId,
    /// The provider the keys belong to.
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
    /// Every item of the batch, whatever its status.
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
    /// The batch's id, chosen by its creator.
    pub id: BatchId,
    /// The host the keys are imported into.
    pub host_id: HostId,
    /// The pack of the provider.
    pub pack_id: PackId,
    /// The provider the keys belong to.
    pub provider_id: ProviderId,
    /// Strict or partial.
    pub mode: ImportMode,
    /// How users reach the imported accounts (subscription or self-service).
    pub access_mode: AccessMode,
    /// Where the batch is in its life (`pending` to a terminal status).
    pub status: BatchStatus,
    /// Request (no secrets).
    pub request: Value,
    /// Final report, once written.
    pub report: Option<Value>,
    /// Error message of a failed batch.
    pub error: Option<String>,
    /// Per-outcome counts of the batch's items.
    pub counts: BatchCounts,
    /// When the batch was created (`pending`).
    pub created_at: Timestamp,
    /// When the row last changed.
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
    /// Only rows of this host.
    pub host_id: Option<HostId>,
    /// Only rows of this pack.
    pub pack_id: Option<PackId>,
    /// Only rows of this provider.
    pub provider_id: Option<ProviderId>,
    /// Only batches in this status.
    pub status: Option<BatchStatus>,
    /// At most this many (newest first); `None` for all.
    pub limit: Option<u32>,
}

/// One key of a batch to record.
#[derive(Debug, Clone)]
pub struct NewBatchItem {
    /// Position in the request (1-based, unique per batch).
    pub seq: u32,
    /// SHA-256 fingerprint of the key (the key itself is never stored).
    pub fingerprint: Fingerprint,
    /// Display mask of the key (see `relay_domain::mask`).
    pub mask: String,
    /// What the preview planned for the key (`new`, `already_imported`, `duplicate_in_request`).
    pub plan: KeyPlan,
    /// The item's first status: `pending`, or the skip status its plan calls for.
    pub status: ItemStatus,
    /// Host account id (for `already_imported`).
    pub account_id: Option<i64>,
}

/// A change to one item; `None` fields are left unchanged.
#[derive(Debug, Clone, Default)]
pub struct ItemUpdate {
    /// The status the item moves to.
    pub status: Option<ItemStatus>,
    /// The host account created or found for the key.
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
    /// The batch the item belongs to.
    pub batch_id: BatchId,
    /// Position of the key in the request (1-based, unique per batch).
    pub seq: u32,
    /// SHA-256 fingerprint of the key (the key itself is never stored).
    pub fingerprint: Fingerprint,
    /// Display mask of the key (see `relay_domain::mask`).
    pub mask: String,
    /// What the preview planned for the key (`new`, `already_imported`, `duplicate_in_request`).
    pub plan: KeyPlan,
    /// Where the item is in its life.
    pub status: ItemStatus,
    /// The host account created or found for the key, once known.
    pub account_id: Option<i64>,
    /// Classified outcome of the key's account test, once tested.
    pub verdict: Option<Verdict>,
    /// A human-readable explanation (redacted; never a secret).
    pub message: Option<String>,
    /// Extra facts as a JSON object (redacted; never a secret).
    pub details: Value,
    /// When the row last changed.
    pub updated_at: Timestamp,
}

// ---------------------------------------------------------------------------
// Managed resources

/// A managed resource to journal.
#[derive(Debug, Clone)]
pub struct NewResource {
    /// The host the object lives on.
    pub host_id: HostId,
    /// The pack of the provider the row concerns.
    pub pack_id: PackId,
    /// The provider (of `pack_id`) the row concerns.
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
    /// Row id, assigned by the store.
    pub id: i64,
    /// The host the object lives on.
    pub host_id: HostId,
    /// The pack of the provider the row concerns.
    pub pack_id: PackId,
    /// The provider (of `pack_id`) the row concerns.
    pub provider_id: ProviderId,
    /// The batch that created or reused the object, if any.
    pub batch_id: Option<BatchId>,
    /// Kind of host object (group, channel, plan, account, user, key, subscription).
    pub resource_type: ResourceType,
    /// Host-side id; `None` while an intent.
    pub host_resource_id: Option<i64>,
    /// Deterministic name the object was created under; finds it again on the host.
    pub logical_key: String,
    /// Journal state: `intent` until the host id is known, then created, reused, adopted, absent or deleted.
    pub state: ResourceState,
    /// Key fingerprint, for accounts.
    pub fingerprint: Option<Fingerprint>,
    /// Extra facts as a JSON object (redacted; never a secret).
    pub details: Value,
    /// When the row was created.
    pub created_at: Timestamp,
    /// When the row last changed.
    pub updated_at: Timestamp,
}

// ---------------------------------------------------------------------------
// Probes, access closure, reconcile

/// A probe result to record.
#[derive(Debug, Clone)]
pub struct NewProbeResult {
    /// The host the probe ran against.
    pub host_id: HostId,
    /// Pack, when provider-scoped.
    pub pack_id: Option<PackId>,
    /// Provider, when provider-scoped.
    pub provider_id: Option<ProviderId>,
    /// The import batch that recorded the row, if any.
    pub batch_id: Option<BatchId>,
    /// The reconcile run that recorded the row, if any.
    pub reconcile_run_id: Option<ReconcileRunId>,
    /// What the probe exercised.
    pub kind: ProbeKind,
    /// What was probed (account id, model, URL; never a key).
    pub subject: String,
    /// Classified outcome.
    pub outcome: Verdict,
    /// HTTP status, when there was a response.
    pub http_status: Option<u16>,
    /// Message (no secrets).
    pub message: Option<String>,
    /// How long the probe took, in milliseconds, when it was timed.
    pub duration_ms: Option<u64>,
    /// Extra facts as a JSON object (redacted; never a secret).
    pub details: Value,
}

/// A stored probe result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResultRecord {
    /// Row id, assigned by the store.
    pub id: i64,
    /// The host the probe ran against.
    pub host_id: HostId,
    /// The pack, when the probe was provider-scoped.
    pub pack_id: Option<PackId>,
    /// The provider, when the probe was provider-scoped.
    pub provider_id: Option<ProviderId>,
    /// The batch that ran the probe, if any.
    pub batch_id: Option<BatchId>,
    /// The reconcile run that ran the probe, if any.
    pub reconcile_run_id: Option<ReconcileRunId>,
    /// What the probe exercised.
    pub kind: ProbeKind,
    /// What was probed (account id, model, URL; never a key).
    pub subject: String,
    /// Classified outcome of the probe.
    pub outcome: Verdict,
    /// HTTP status, when there was a response.
    pub http_status: Option<u16>,
    /// A human-readable explanation (redacted; never a secret).
    pub message: Option<String>,
    /// How long the probe took, in milliseconds, when it was timed.
    pub duration_ms: Option<u64>,
    /// Extra facts as a JSON object (redacted; never a secret).
    pub details: Value,
    /// When the probe result was recorded.
    pub at: Timestamp,
}

/// An access closure proof to record.
#[derive(Debug, Clone)]
pub struct NewAccessClosure {
    /// The host whose gateway was probed.
    pub host_id: HostId,
    /// The pack of the provider.
    pub pack_id: PackId,
    /// The provider whose access was proven (or not).
    pub provider_id: ProviderId,
    /// The import batch that recorded the row, if any.
    pub batch_id: Option<BatchId>,
    /// The reconcile run that recorded the row, if any.
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
    /// The access status this proof establishes.
    pub access_status: AccessStatus,
    /// Message (no secrets).
    pub message: Option<String>,
    /// Extra facts as a JSON object (redacted; never a secret).
    pub details: Value,
}

/// A stored access closure proof.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessClosureRecord {
    /// Row id, assigned by the store.
    pub id: i64,
    /// The host whose gateway was probed.
    pub host_id: HostId,
    /// The pack of the provider.
    pub pack_id: PackId,
    /// The provider whose access was proven (or not).
    pub provider_id: ProviderId,
    /// The batch that ran the proof, if any.
    pub batch_id: Option<BatchId>,
    /// The reconcile run that ran the proof, if any.
    pub reconcile_run_id: Option<ReconcileRunId>,
    /// The access mode that was proven.
    pub mode: AccessMode,
    /// Where the probe key came from.
    pub probe_key_source: ProbeKeySource,
    /// Fingerprint of the probe key (the key itself is never stored here).
    pub probe_key_fingerprint: Option<Fingerprint>,
    /// Display mask of the probe key.
    pub probe_key_mask: Option<String>,
    /// `/v1/models` status.
    pub models_status: Option<u16>,
    /// True when the smoke model was listed.
    pub expected_model_seen: bool,
    /// HTTP status of the chat completion.
    pub completion_status: Option<u16>,
    /// `object` of the completion response (e.g. `chat.completion`).
    pub completion_type: Option<String>,
    /// First characters of the completion text.
    pub completion_preview: Option<String>,
    /// The access status this proof established.
    pub access_status: AccessStatus,
    /// A human-readable explanation (redacted; never a secret).
    pub message: Option<String>,
    /// Extra facts as a JSON object (redacted; never a secret).
    pub details: Value,
    /// When the proof was recorded.
    pub at: Timestamp,
}

/// A reconcile run to start (status `running`).
#[derive(Debug, Clone)]
pub struct NewReconcileRun {
    /// Id chosen by the caller.
    pub id: ReconcileRunId,
    /// The host to reconcile.
    pub host_id: HostId,
    /// The pack of the provider.
    pub pack_id: PackId,
    /// The provider whose host objects are compared with the journal.
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
    /// The run's id, chosen by its creator.
    pub id: ReconcileRunId,
    /// The host that was reconciled.
    pub host_id: HostId,
    /// The pack of the provider.
    pub pack_id: PackId,
    /// The provider whose host objects were compared with the journal.
    pub provider_id: ProviderId,
    /// The batch the run was scoped to, if any.
    pub batch_id: Option<BatchId>,
    /// What started the run (manual or scheduled).
    pub trigger: ReconcileTrigger,
    /// Where the run is in its life (`running` to a terminal status).
    pub status: ReconcileStatus,
    /// Derived provider status.
    pub verdict: Option<ProviderStatus>,
    /// Access status seen by the run's probe, if it probed.
    pub access_status: Option<AccessStatus>,
    /// Differences found between the journal and the host (JSON array).
    pub differences: Value,
    /// Repairs applied (JSON array).
    pub repairs: Value,
    /// Why a failed run could not finish (redacted).
    pub error: Option<String>,
    /// When the run started.
    pub started_at: Timestamp,
    /// When the run reached a terminal status.
    pub finished_at: Option<Timestamp>,
    /// The full report of the run.
    pub report: Option<Value>,
}

/// Filter of reconcile run listings; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct ReconcileFilter {
    /// Only rows of this host.
    pub host_id: Option<HostId>,
    /// Only rows of this pack.
    pub pack_id: Option<PackId>,
    /// Only rows of this provider.
    pub provider_id: Option<ProviderId>,
    /// Only runs scoped to this batch.
    pub batch_id: Option<BatchId>,
    /// At most this many (newest first).
    pub limit: Option<u32>,
}

// ---------------------------------------------------------------------------
// Subscribers and sealed secrets

/// A managed subscriber (host user the manager created or found); password sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriberRecord {
    /// Row id, assigned by the store; owner id of the subscriber's sealed secrets.
    pub id: i64,
    /// The host the user lives on.
    pub host_id: HostId,
    /// E-mail.
    pub email: String,
    /// Host user id, once known.
    pub host_user_id: Option<i64>,
    /// When the row was created.
    pub created_at: Timestamp,
    /// When the row last changed.
    pub updated_at: Timestamp,
}

/// Address of a sealed secret: owner and purpose.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretSlot {
    /// What kind of row owns the secret.
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
    /// What kind of row owns the secret.
    pub owner_kind: SecretOwnerKind,
    /// Id of the owning row (see [`SecretOwnerKind`]).
    pub owner_id: String,
    /// What the secret is for, e.g. `probe_key`, `user_key:<group id>`.
    pub purpose: String,
    /// SHA-256 fingerprint of the secret (its value stays sealed).
    pub fingerprint: Fingerprint,
    /// Display mask of the secret.
    pub mask: String,
    /// When the secret was first sealed.
    pub created_at: Timestamp,
    /// When the secret was last replaced or re-sealed.
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

// ---------------------------------------------------------------------------
// Audit trail, doctor runs and access closures

/// One host mutation to record in the audit trail (`AuditRepository::append`).
/// Every text passes the store's redaction step when written; `changes` must
/// already hold secrets as `"***"`/`"changed"` (the recorder's job).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    /// The host mutated.
    pub host_id: HostId,
    /// The pack of the provider it was for, when known.
    pub pack_id: Option<PackId>,
    /// The provider it was for, when known.
    pub provider_id: Option<ProviderId>,
    /// What started it.
    pub origin: relay_domain::AuditOrigin,
    /// The operation (`create`, `update`, `delete`, `set_schedulable`, `clear_error`, …).
    pub operation: String,
    /// The kind of host object (`group`, `channel`, `plan`, `account`, `user`, …).
    pub object_kind: String,
    /// The object's host id, when known.
    pub object_id: Option<i64>,
    /// The object's name (or e-mail), when known.
    pub object_name: Option<String>,
    /// `None` when the host accepted the mutation, else its (redacted) error.
    pub error: Option<String>,
    /// The changed fields.
    pub changes: Vec<relay_domain::FieldChange>,
}

/// A recorded audit event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEventRecord {
    /// Position in the trail (only grows; the paging cursor).
    pub seq: i64,
    /// When it was recorded.
    pub at: Timestamp,
    /// The host mutated.
    pub host_id: HostId,
    /// The pack, when known.
    pub pack_id: Option<PackId>,
    /// The provider, when known.
    pub provider_id: Option<ProviderId>,
    /// What started it.
    pub origin: relay_domain::AuditOrigin,
    /// The operation.
    pub operation: String,
    /// The kind of host object.
    pub object_kind: String,
    /// The object's host id.
    pub object_id: Option<i64>,
    /// The object's name.
    pub object_name: Option<String>,
    /// `ok` or `error`.
    pub outcome: String,
    /// The redacted error of a refused mutation.
    pub error: Option<String>,
    /// The changed fields, `{field, before, after}`.
    pub changes: Vec<relay_domain::FieldChange>,
}

/// Which audit events to list, oldest first; every filter optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// One host.
    pub host_id: Option<HostId>,
    /// One pack.
    pub pack_id: Option<PackId>,
    /// One provider.
    pub provider_id: Option<ProviderId>,
    /// One kind of origin.
    pub origin_kind: Option<relay_domain::AuditOriginKind>,
    /// One origin id (a batch, run, doctor run or closure).
    pub origin_id: Option<String>,
    /// Events recorded at or after this time.
    pub since: Option<Timestamp>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Events after this sequence number only (a cursor of one's own).
    pub after_seq: Option<i64>,
    /// Page size (1..=1000; default 100).
    pub limit: Option<u32>,
}

pub use relay_domain::OperationKind;

/// A finished doctor run or access closure, to store (`OperationRepository::insert`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOperationRecord {
    /// Its id (`doc_…`, `acl_…`): the origin id of its audit events.
    pub id: String,
    /// Doctor run or access closure.
    pub kind: OperationKind,
    /// The host.
    pub host_id: HostId,
    /// The pack.
    pub pack_id: PackId,
    /// The provider.
    pub provider_id: ProviderId,
    /// The HTTP request id of the operator request, if any.
    pub request_id: Option<String>,
    /// What was asked (no secrets).
    pub asked: Value,
    /// The error, when it failed (redacted when written).
    pub error: Option<String>,
    /// The report, when it finished (redacted when written).
    pub report: Option<Value>,
    /// When it started.
    pub started_at: Timestamp,
}

/// A stored doctor run or access closure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationRecord {
    /// Its id.
    pub id: String,
    /// Doctor run or access closure.
    pub kind: OperationKind,
    /// The host.
    pub host_id: HostId,
    /// The pack.
    pub pack_id: PackId,
    /// The provider.
    pub provider_id: ProviderId,
    /// The HTTP request id, if any.
    pub request_id: Option<String>,
    /// What was asked.
    pub asked: Value,
    /// `succeeded` or `failed`.
    pub outcome: String,
    /// The redacted error.
    pub error: Option<String>,
    /// The redacted report.
    pub report: Option<Value>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
}
