//! Per-key health views: the keys of a provider on a host and one key's window and
//! history, read from the records reconcile runs keep.

use relay_domain::{
    HealthPolicy, KeyFailure, KeyFailureCause, KeyHealthEvent, KeyHealthState, Timestamp,
};
use relay_store::{KeyHealthRecord, KeyHealthRepository};
use serde::Serialize;

use crate::app::App;
use crate::error::{AppError, AppResult};

/// One key of a provider on a host (the contract's `KeyHealthSummary`).
#[derive(Debug, Clone, Serialize)]
pub struct KeyHealthSummaryView {
    /// Host account id.
    pub account_id: i64,
    /// Fingerprint of its upstream key.
    pub fingerprint: Option<String>,
    /// The key's mask.
    pub key_mask: Option<String>,
    /// Its state.
    pub state: KeyHealthState,
    /// Since when.
    pub since: Timestamp,
    /// The last run that checked it.
    pub checked_at: Timestamp,
    /// Failures counted toward a disable within the window now.
    pub failures_in_window: usize,
    /// Rate limits within the window now.
    pub rate_limits_in_window: usize,
    /// The most recent failure.
    pub last_failure: Option<KeyFailure>,
    /// The cause of the manager's disable.
    pub disabled_cause: Option<KeyFailureCause>,
}

/// The keys of a provider on a host (the contract's `KeyHealthList`).
#[derive(Debug, Clone, Serialize)]
pub struct KeyHealthListView {
    /// The host.
    pub host_id: String,
    /// The provider's pack.
    pub pack_id: String,
    /// The provider.
    pub provider_id: String,
    /// The provider's policy.
    pub policy: HealthPolicy,
    /// Every key a reconcile run has checked, by account id.
    pub keys: Vec<KeyHealthSummaryView>,
}

/// One key's window and history (the contract's `KeyHealthDetail`).
#[derive(Debug, Clone, Serialize)]
pub struct KeyHealthDetailView {
    /// The host.
    pub host_id: String,
    /// The provider's pack.
    pub pack_id: String,
    /// The provider.
    pub provider_id: String,
    /// The provider's policy.
    pub policy: HealthPolicy,
    /// The key now.
    pub key: KeyHealthSummaryView,
    /// The last passing check.
    pub last_pass_at: Option<Timestamp>,
    /// Recent failures, oldest first.
    pub failures: Vec<KeyFailure>,
    /// Disables and re-enables, oldest first.
    pub events: Vec<KeyHealthEvent>,
}

fn summary(r: &KeyHealthRecord, policy: &HealthPolicy, now: Timestamp) -> KeyHealthSummaryView {
    let h = &r.health;
    KeyHealthSummaryView {
        account_id: r.account_id,
        fingerprint: r.fingerprint.as_ref().map(|f| f.as_str().to_string()),
        key_mask: r.key_mask.clone(),
        state: h.state,
        since: h.since,
        checked_at: h.checked_at,
        failures_in_window: h.counted_failures(policy, now),
        rate_limits_in_window: h.rate_limits(policy, now),
        last_failure: h.last_failure().cloned(),
        disabled_cause: h.disabled_cause,
    }
}

impl App {
    /// The provider's keys on `host`, with their health (`provider_not_found`,
    /// `host_not_found`, … when the scope does not exist).
    pub fn provider_keys(
        &self,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
    ) -> AppResult<KeyHealthListView> {
        let host = self.resolve_host(host)?;
        let (provider, manifest) = self.resolve_provider(provider_id, pack_id)?;
        let policy = manifest.health_policy();
        let now = Timestamp::now();
        let records =
            self.store()
                .key_health()
                .list(&host.id, &provider.pack_id, &provider.provider_id)?;
        Ok(KeyHealthListView {
            host_id: host.id.to_string(),
            pack_id: provider.pack_id.to_string(),
            provider_id: provider.provider_id.to_string(),
            policy,
            keys: records.iter().map(|r| summary(r, &policy, now)).collect(),
        })
    }

    /// One key's window and history (`key_not_found` when no reconcile run has
    /// checked that account).
    pub fn provider_key(
        &self,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
        account_id: i64,
    ) -> AppResult<KeyHealthDetailView> {
        let host = self.resolve_host(host)?;
        let (provider, manifest) = self.resolve_provider(provider_id, pack_id)?;
        let policy = manifest.health_policy();
        let record = self
            .store()
            .key_health()
            .get(
                &host.id,
                &provider.pack_id,
                &provider.provider_id,
                account_id,
            )?
            .ok_or_else(|| AppError::NotFound {
                kind: "key",
                id: format!(
                    "account {account_id} of provider {} on host {}",
                    provider.provider_id, host.name
                ),
            })?;
        Ok(KeyHealthDetailView {
            host_id: host.id.to_string(),
            pack_id: provider.pack_id.to_string(),
            provider_id: provider.provider_id.to_string(),
            policy,
            key: summary(&record, &policy, Timestamp::now()),
            last_pass_at: record.health.last_pass_at,
            failures: record.health.failures.clone(),
            events: record.health.events.clone(),
        })
    }
}
