//! Request bodies. Unknown fields are refused; `null` for an optional field means the same as leaving it out; integer fields accept integral numbers written with a fraction part (`1.0`).

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
#[allow(unused_imports)]
use std::collections::BTreeMap;

/// Registers a host (`POST /api/hosts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHostRequest {
    /// Unique display name.
    pub name: String,
    /// Root URL of the host, `https://` (or `http://` when every address of the host is loopback or private — 127.0.0.0/8, ::1, 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), without user info, query or fragment; a trailing `/` is dropped. Link-local (169.254/16, fe80::/10) and cloud-metadata addresses and names are refused for any scheme.
    pub base_url: String,
    /// Admin credentials (write-only).
    pub auth: HostAuth,
}

/// Admin credentials of a host (write-only: stored sealed, never returned). On the
/// wire an object tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HostAuth {
    /// `{"kind":"api_key","api_key":…}`.
    ApiKey {
        /// The host's admin API key (`admin-…`), sent as `x-api-key`.
        api_key: String,
    },
    /// `{"kind":"login","email":…,"password":…}`.
    Login {
        /// Admin e-mail address.
        email: String,
        /// Admin password, exchanged for a bearer token.
        password: String,
    },
}

/// Installs a pack from the server's packs directory (`POST /api/packs/install` with a
/// JSON body; a zip upload is the raw body instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallPackRequest {
    /// A pack directory or `.zip` file inside the server's packs directory (`RELAY_PACKS_DIR`), relative to it or absolute.
    pub path: String,
}

/// Exactly one of `email` (a managed user found or created by e-mail) or `user_id` (an existing host user; it gets a subscription but no probe key).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriberSelector {
    /// E-mail address (trimmed and lower-cased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A host user id.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    pub user_id: Option<i64>,
}

/// A subscriber of an import: exactly one of `email` or `user_id`, as in
/// [`SubscriberSelector`], and optionally its own subscription validity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportSubscriber {
    /// E-mail address (trimmed and lower-cased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A host user id.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    pub user_id: Option<i64>,
    /// This subscriber's subscription validity in days; default: the import's
    /// `validity_days`, else the plan template's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    pub validity_days: Option<u32>,
}

/// An import (or its preview). Give the keys as `keys` or as `keys_text`, not both.
/// All keys are write-only: they are never stored or returned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The host (id or name).
    pub host_id: String,
    /// The provider's pack, when the provider id exists in several packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// Upstream keys, one per item (joined as lines, then normalised like `keys_text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// Upstream keys, one per line; a byte-order mark, blank lines and `#` comment lines are dropped, repeated keys are skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_text: Option<String>,
    /// Default `strict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Domain<ImportMode>>")]
    pub mode: Option<ImportMode>,
    /// Default `subscription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Domain<AccessMode>>")]
    pub access_mode: Option<AccessMode>,
    /// Subscribers besides the managed probe subscriber (subscription mode).
    #[serde(default)]
    pub subscribers: Vec<ImportSubscriber>,
    /// Subscription validity in days; default the plan template's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    pub validity_days: Option<u32>,
    /// A user key bound to the provider's group, to prove self-service access. Stored
    /// sealed for later proofs; never returned (shown as mask and fingerprint). A blank
    /// value counts as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_key: Option<String>,
    /// Also retire managed accounts of earlier batches whose key is not in this import.
    #[serde(default)]
    pub replace_existing: bool,
    /// Keys processed at once; default the server's `RELAY_IMPORT_CONCURRENCY` (8).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    pub concurrency: Option<u32>,
    /// `true`: answer when the batch has finished (`200`); `false`: answer when it starts (`202`). Ignored by preview-import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
    /// The balance every key must have: before anything is created, each key whose vendor has a balance route (DeepSeek, Moonshot/Kimi) is read with it (one request per key). Absent: no balance is read. Ignored by preview-import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_balance: Option<f64>,
    /// The currency `min_balance` is in (`CNY`, `USD`); absent compares the vendor's main currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_currency: Option<String>,
    /// What a key under `min_balance` does: `refuse` the import (`409 balance_below_threshold`, nothing created; the default) or `warn` (the batch's request lists it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Domain<BalancePolicy>>")]
    pub balance_policy: Option<BalancePolicy>,
}

/// A provider on a host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeRequest {
    /// The host (id or name).
    pub host_id: String,
    /// The provider's pack, when the provider id exists in several packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
}

/// An access preview or a subscription assignment of a provider on a host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    /// The host (id or name).
    pub host_id: String,
    /// The provider's pack, when the provider id exists in several packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// Mode to preview; default `subscription`. Ignored by assign-subscriptions (always `subscription`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Domain<AccessMode>>")]
    pub access_mode: Option<AccessMode>,
    /// Subscribers besides the managed probe subscriber.
    #[serde(default)]
    pub subscribers: Vec<SubscriberSelector>,
    /// Subscription validity in days; default the plan template's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    pub validity_days: Option<u32>,
    /// A user key to check against the group (preview only; never returned). A blank value counts as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_key: Option<String>,
}

/// Assigns subscriptions to subscribers (`POST /api/providers/{provider}/access/assign-subscriptions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The host (id or name).
    pub host_id: String,
    /// The provider's pack, when the provider id exists in several packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// Subscribers besides the managed probe subscriber, each optionally with its own
    /// subscription validity.
    #[serde(default)]
    pub subscribers: Vec<ImportSubscriber>,
    /// Subscription validity in days (1 to 36500); default the plan template's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    pub validity_days: Option<u32>,
}

/// Optionally the batch's keys again (as `keys` or `keys_text`, not both), to create accounts whose creation never started. Write-only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// The batch's upstream keys, one per item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// The batch's upstream keys, one per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_text: Option<String>,
}

/// A manual reconcile run (`POST /api/providers/{provider}/reconcile`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    /// The host (id or name).
    pub host_id: String,
    /// The provider's pack, when the provider id exists in several packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// Also apply the safe fixes of the differences found (re-bind a managed account to its group, restore the channel to the template). The capability repair runs either way.
    #[serde(default)]
    pub repair: bool,
    /// Scope the run to one batch of this provider on this host (recorded on the run; `404 batch_not_found` when it does not exist, `400 invalid_request` when it belongs to another provider or host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// The balance under which a managed account is reported `below` in the report's `balances` (read through the host's CN-provider balance route, DeepSeek and Kimi accounts, whatever the threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_balance: Option<f64>,
    /// The currency `min_balance` is in (`CNY`, `USD`); absent compares the vendor's main currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_currency: Option<String>,
}

/// A doctor run with options (`POST /api/providers/{provider}/doctor`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DoctorRequest {
    /// The host (id or name).
    pub host_id: String,
    /// The provider's pack, when the provider id exists in several packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// Apply the safe fixes the checks found, then check again.
    #[serde(default)]
    pub repair: bool,
    /// A user key to check instead of the managed probe key. Used for this call only; never stored or returned (shown as mask and fingerprint). A blank value counts as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_key: Option<String>,
}

/// The operator's consent to send an upstream key to the vendor directly, for this call only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnoseRequest {
    /// The host whose view of the key is compared (id or name).
    pub host_id: String,
    /// The provider's pack, when the provider id exists in several packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// The upstream key to probe the vendor with (trimmed; blank → `400 invalid_request`). Sent to the vendor only; never stored, logged or returned (shown as mask and fingerprint).
    pub key: String,
}
