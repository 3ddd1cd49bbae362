//! The preview of an import (nothing written to the host).

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
#[allow(unused_imports)]
use std::collections::BTreeMap;

/// The plan of an import. Nothing was written to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PreviewReport {
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
    /// Host version, when known.
    pub host_version: Option<String>,
    /// The platform of the group, channel entries and new accounts, and why.
    pub platform: PlatformChoice,
    /// Group, channel and plan.
    pub resources: Vec<ResourcePlan>,
    /// Every key line, duplicates included; empty in a batch's stored report
    /// (`batch.report.preview`), whose key plans are the batch's `request.keys` and
    /// `items`.
    pub keys: Vec<KeyPreview>,
    /// Counts of `keys` by plan.
    pub counts: KeyPlanCounts,
    /// Lines dropped for another reason than duplication.
    pub dropped: Vec<DroppedLine>,
    /// Host overlays of the pack for this host version.
    pub overlays: Vec<OverlayNote>,
    /// Advisory findings.
    pub warnings: Vec<String>,
    /// Findings that block the import; the import runs only when this is empty.
    pub problems: Vec<String>,
}

/// The plan for one host resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourcePlan {
    /// Kind.
    #[schemars(with = "Domain<ResourceType>")]
    pub resource_type: ResourceType,
    /// Deterministic name of the object.
    pub name: String,
    /// `create`, `reuse`, `update` or `conflict`.
    #[schemars(with = "Domain<ResourceAction>")]
    pub action: ResourceAction,
    /// The existing object (reuse, update).
    pub host_id: Option<i64>,
    /// Every object with the name (conflict).
    pub candidates: Vec<i64>,
    /// The manager created or adopted the existing object.
    pub managed: bool,
    /// Why this action (differences for `update`, the clash for `conflict`).
    pub reason: Option<String>,
}

/// The plan for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyPreview {
    /// 1-based line of the key in the input.
    pub line: u64,
    /// Key fingerprint.
    pub fingerprint: String,
    /// Key mask.
    pub mask: String,
    /// `new`, `duplicate_in_request` or `already_imported`.
    #[schemars(with = "Domain<KeyPlan>")]
    pub plan: KeyPlan,
    /// Name of the account (`<provider>-<fp8>`).
    pub account_name: String,
    /// The existing account (`already_imported`).
    pub account_id: Option<i64>,
    /// Host status of the existing account (`active`, `error`, …).
    pub account_status: Option<String>,
    /// For duplicates: the line of the first occurrence.
    pub duplicate_of_line: Option<i64>,
    /// The key does not look like the manifest's `key_hint` (advisory).
    pub hint_mismatch: bool,
}

/// Counts of the key plans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyPlanCounts {
    /// Keys that get a new account.
    pub new: u64,
    /// Repeated keys, skipped.
    pub duplicate_in_request: u64,
    /// Keys with a live managed account already.
    pub already_imported: u64,
}

/// A key line that was not used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DroppedLine {
    /// 1-based line number in the input.
    pub line: u64,
    /// Why it was dropped.
    pub reason: DroppedLineReason,
    /// For `duplicate`, the line of the first occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_line: Option<i64>,
    /// Mask of the dropped key, for duplicates and invalid keys (never the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
}

contract_enum!(
    /// Why a key line was dropped.
    DroppedLineReason, "dropped line reason" {
        /// A blank line.
        Blank => "blank",
        /// A `#` comment line.
        Comment => "comment",
        /// The same key as an earlier line.
        Duplicate => "duplicate",
        /// Inner white space or control characters.
        InvalidCharacters => "invalid_characters",
    }
);

/// The host platform of the provider's group, channel entries and new accounts on this host, and why. A provider with a `native_platform` uses it on hosts whose version satisfies its requirement; an existing install keeps its group's platform; otherwise the manifest's `platform` (with forced Chat Completions for chat-only providers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformChoice {
    /// The platform.
    #[schemars(with = "Domain<PlatformChoicePlatform>")]
    pub platform: PlatformChoicePlatform,
    /// Why.
    pub reason: PlatformChoiceReason,
    /// One sentence for the operator.
    pub explanation: String,
}

/// Why the platform was chosen, by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlatformChoiceReason {
    /// The manifest names no native platform: its `platform` is used.
    ManifestPlatform,
    /// The host version satisfies the native platform's requirement.
    NativeSupported {
        /// The host version.
        host_version: String,
        /// The manifest's requirement (`native_platform.host_version`).
        requirement: String,
    },
    /// The host is older than the native platform: the manifest's `platform`.
    HostTooOld {
        /// The host version.
        host_version: String,
        /// The manifest's requirement.
        requirement: String,
    },
    /// The host version is unknown or not semver: the manifest's `platform`.
    HostVersionUnknown {
        /// The version as stored, if any.
        host_version: Option<String>,
        /// The manifest's requirement.
        requirement: String,
    },
    /// The provider already has a group with this platform; the install keeps it.
    ExistingGroup {
        /// The group's name.
        group: String,
        /// Its host id, when known.
        group_id: Option<i64>,
    },
}

/// An advisory host overlay of the pack that applies to this host version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OverlayNote {
    /// `info` or `warning`.
    #[schemars(with = "Domain<Severity>")]
    pub severity: Severity,
    /// The note.
    pub note: String,
}
