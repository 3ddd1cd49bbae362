//! Per-key health: the keys of a provider on a host, one key's window and history,
//! and a reconcile run's key changes.

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The policy that takes a failing key out of scheduling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyHealthPolicy {
    /// Failures (rate limits not counted) within the window that disable a key.
    pub max_failures: u32,
    /// The window, in seconds.
    pub window_secs: u64,
}

/// One failed check of a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyFailureView {
    /// When (milliseconds since the Unix epoch).
    pub at: i64,
    /// Why.
    #[schemars(with = "Domain<KeyFailureCause>")]
    pub cause: KeyFailureCause,
    /// The host's or vendor's text, redacted.
    pub message: Option<String>,
}

/// A change of a key's scheduling, by the manager or seen done by a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyHealthEventView {
    /// When (milliseconds since the Unix epoch).
    pub at: i64,
    /// What.
    #[schemars(with = "Domain<KeyHealthAction>")]
    pub action: KeyHealthAction,
    /// The failure cause behind a disable.
    #[schemars(with = "Option<Domain<KeyFailureCause>>")]
    pub cause: Option<KeyFailureCause>,
    /// Why, in words.
    pub note: String,
}

/// One key of a provider on a host, in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyHealthSummary {
    /// Host account id.
    pub account_id: i64,
    /// Fingerprint of its upstream key (never the key).
    pub fingerprint: Option<String>,
    /// The key's mask.
    pub key_mask: Option<String>,
    /// Its state.
    #[schemars(with = "Domain<KeyHealthState>")]
    pub state: KeyHealthState,
    /// Since when it is in this state (milliseconds since the Unix epoch).
    pub since: i64,
    /// The last run that checked it.
    pub checked_at: i64,
    /// Failures counted toward a disable within the window now.
    pub failures_in_window: u64,
    /// Rate limits within the window now (never disable a key on their own).
    pub rate_limits_in_window: u64,
    /// The most recent failure.
    pub last_failure: Option<KeyFailureView>,
    /// The cause of the manager's disable, while disabled by the manager.
    #[schemars(with = "Option<Domain<KeyFailureCause>>")]
    pub disabled_cause: Option<KeyFailureCause>,
}

/// `GET /api/providers/{provider}/keys`: the provider's keys on a host, by account id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyHealthList {
    /// The host.
    pub host_id: String,
    /// The provider's pack.
    pub pack_id: String,
    /// The provider.
    pub provider_id: String,
    /// The provider's policy.
    pub policy: KeyHealthPolicy,
    /// Every key a reconcile run has checked.
    pub keys: Vec<KeyHealthSummary>,
}

/// `GET /api/providers/{provider}/keys/{account}`: one key's window and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyHealthDetail {
    /// The host.
    pub host_id: String,
    /// The provider's pack.
    pub pack_id: String,
    /// The provider.
    pub provider_id: String,
    /// The provider's policy.
    pub policy: KeyHealthPolicy,
    /// The key now.
    pub key: KeyHealthSummary,
    /// The last passing check.
    pub last_pass_at: Option<i64>,
    /// Recent failures, oldest first (the window and before it).
    pub failures: Vec<KeyFailureView>,
    /// Disables and re-enables, oldest first.
    pub events: Vec<KeyHealthEventView>,
}

/// A key's health after a reconcile run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReconcileKeyHealth {
    /// Host account id.
    pub account_id: i64,
    /// Fingerprint of its upstream key (never the key).
    pub fingerprint: Option<String>,
    /// The key's mask.
    pub key_mask: Option<String>,
    /// The state before the run (null: first checked).
    #[schemars(with = "Option<Domain<KeyHealthState>>")]
    pub previous_state: Option<KeyHealthState>,
    /// The state after the run.
    #[schemars(with = "Domain<KeyHealthState>")]
    pub state: KeyHealthState,
    /// What the manager did in this run, or saw a person do.
    #[schemars(with = "Option<Domain<KeyHealthAction>>")]
    pub action: Option<KeyHealthAction>,
    /// The cause of this run's failure, if it failed.
    #[schemars(with = "Option<Domain<KeyFailureCause>>")]
    pub cause: Option<KeyFailureCause>,
    /// Failures counted toward a disable within the window.
    pub failures_in_window: u64,
    /// Rate limits within the window.
    pub rate_limits_in_window: u64,
    /// The host refused the scheduling change (the state stays as before).
    pub error: Option<String>,
}
