//! Installed packs and their providers.

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
#[allow(unused_imports)]
use std::collections::BTreeMap;

/// An advisory note of a provider for hosts whose version matches `host_version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostOverlay {
    /// Semver requirement on the host version.
    pub host_version: String,
    /// The note shown in preview and doctor output.
    pub note: String,
    /// Severity (default `info`).
    #[schemars(with = "Domain<Severity>")]
    pub severity: Severity,
}

/// An installed pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PackRecord {
    /// Id of the pack.
    pub pack_id: String,
    /// Semantic version.
    pub version: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Semver requirement on the host version.
    pub host_compat: String,
    /// SHA-256 of the pack source.
    pub source_digest: String,
    /// Directory or zip.
    #[schemars(with = "Domain<PackSourceKind>")]
    pub source_kind: PackSourceKind,
    /// Where it was installed from, relative to the server's packs directory (`upload` for uploaded zips; an absolute path recorded by an earlier release outside that directory shows only its last component, as `…/name`).
    pub source_path: String,
    /// Advisory host overlays of its providers.
    pub overlays: Vec<PackRecordOverlaysItem>,
    /// First installed.
    pub installed_at: i64,
    /// When it last changed (ms since the Unix epoch).
    pub updated_at: i64,
}

/// The advisory host overlay of one provider of the pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PackRecordOverlaysItem {
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// The overlay.
    pub overlay: HostOverlay,
}

/// A pack with its providers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Pack {
    /// The record.
    #[serde(flatten)]
    pub record: PackRecord,
    /// Provider manifests, sorted by `provider_id`.
    pub providers: Vec<ProviderSummary>,
    /// Providers of the earlier version that this install dropped (only on install, only when not empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

/// `GET /api/packs`: every installed pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PackList {
    /// The packs.
    pub packs: Vec<Pack>,
}

/// A provider of a pack with its per-host installs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderSummary {
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// Display name.
    pub display_name: String,
    /// Upstream base URL of the vendor.
    pub base_url: String,
    /// Pack-level status.
    #[schemars(with = "Domain<ProviderStatus>")]
    pub status: ProviderStatus,
    /// Model used to test accounts and prove gateway access.
    pub smoke_test_model: String,
    /// Default models.
    pub default_models: Vec<String>,
    /// Per-host state (only the requested host's when `host_id` is given).
    pub installs: Vec<ProviderInstallRecord>,
}

/// `GET /api/providers` (and per pack): providers with their installs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderList {
    /// The providers.
    pub providers: Vec<ProviderSummary>,
}

/// The state of one provider on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderInstallRecord {
    /// The registered host.
    pub host_id: String,
    /// Id of the pack.
    pub pack_id: String,
    /// Id of the provider in its pack.
    pub provider_id: String,
    /// Health on this host.
    #[schemars(with = "Domain<ProviderStatus>")]
    pub status: ProviderStatus,
    /// Latest access status.
    #[schemars(with = "Domain<AccessStatus>")]
    pub access_status: AccessStatus,
    /// Why the status is what it is.
    pub status_message: Option<String>,
    /// The latest batch of this provider on this host.
    pub last_batch_id: Option<String>,
    /// When it was last reconciled.
    pub last_reconcile_at: Option<i64>,
    /// True while the provider is disabled on the host.
    pub disabled: bool,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at: i64,
    /// When it last changed (ms since the Unix epoch).
    pub updated_at: i64,
}
