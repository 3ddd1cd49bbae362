//! Per-key health in a reconcile run: each recorded account's result of the run
//! feeds its rolling window ([`relay_domain::KeyHealth::step`]); a key that fails too
//! often is taken out of scheduling on the host, a key the manager disabled comes
//! back after a passing test, and a key a person took out of scheduling is left alone.

use std::collections::BTreeMap;

use relay_core::{key_observation, recover_account};
use relay_domain::{
    Fingerprint, HealthPolicy, HostKeyView, KeyAction, KeyFailureCause, KeyHealth, KeyHealthAction,
    KeyHealthState, OutOfServiceReason, Redactor, Timestamp, Verdict,
};
use relay_sub2api::{Account, HostAdapter, ObjectId};
use serde::Serialize;

use crate::accounts::{AccountCheck, AccountOutcome};

/// What the run needs to keep per-key health: the policy, the time, and the stored
/// record of each account (by host account id).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyHealthInput {
    /// N failures within the window disable a key.
    pub policy: HealthPolicy,
    /// The time of the run (failures and changes are stamped with it).
    pub now: Timestamp,
    /// The stored records, by host account id (absent: a fresh, healthy record).
    pub records: BTreeMap<ObjectId, KeyHealth>,
}

/// One account's key health after the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyHealthCheck {
    /// Host account id.
    pub account_id: ObjectId,
    /// Fingerprint of its upstream key (never the key).
    pub fingerprint: Option<Fingerprint>,
    /// The key's mask, from the journal.
    pub key_mask: Option<String>,
    /// The state before the run (`None`: first seen).
    pub previous_state: Option<KeyHealthState>,
    /// The state after the run.
    pub state: KeyHealthState,
    /// What the manager did in this run (`disabled`, `re_enabled`), or saw a person
    /// do (`operator_disabled`, `operator_enabled`).
    pub action: Option<KeyHealthAction>,
    /// The cause of the last failure of this run, if it failed.
    pub cause: Option<KeyFailureCause>,
    /// Failures counted toward a disable, in the window.
    pub failures_in_window: usize,
    /// Rate limits in the window (counted apart).
    pub rate_limits_in_window: usize,
    /// The host refused the scheduling change (redacted); the state stays as before.
    pub error: Option<String>,
    /// The record to store.
    #[serde(skip)]
    pub health: KeyHealth,
}

impl KeyHealthCheck {
    /// True when the manager took the key out of scheduling in this run.
    pub fn disabled_now(&self) -> bool {
        self.action == Some(KeyHealthAction::Disabled) && self.error.is_none()
    }

    /// True when the manager put the key back into scheduling in this run.
    pub fn re_enabled_now(&self) -> bool {
        self.action == Some(KeyHealthAction::ReEnabled) && self.error.is_none()
    }

    /// Passes the host texts of the check and of its record through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        if let Some(e) = &mut self.error {
            redactor.redact_in_place(e);
        }
        for f in &mut self.health.failures {
            if let Some(m) = &mut f.message {
                redactor.redact_in_place(m);
            }
        }
    }
}

/// What the host shows of an account before the run acts on it.
pub(crate) fn host_view(account: &Account) -> HostKeyView {
    HostKeyView {
        inactive: !account.status.is_active() && !account.status.is_error(),
        in_error: account.status.is_error(),
        unschedulable: !account.schedulable,
    }
}

/// True when a run tests `account` although the host holds it in `error`: a key the
/// manager disabled is re-tested each run, so a passing test can bring it back (the
/// host's account test works on an unschedulable account).
pub(crate) fn retest_in_error(input: Option<&KeyHealthInput>, account: ObjectId) -> bool {
    input
        .and_then(|i| i.records.get(&account))
        .is_some_and(|h| h.state == KeyHealthState::DisabledByManager)
}

/// One account as the run saw it: its final check, the host's account before the
/// run acted, the key's mask, and what the access probe found it out of service for.
pub(crate) struct Seen<'a> {
    pub check: &'a AccountCheck,
    pub host: Option<&'a Account>,
    pub key_mask: Option<String>,
    pub out_of_service: Option<(OutOfServiceReason, String)>,
}

/// The failure cause of an account the access probe found out of service.
fn out_of_service_cause(reason: OutOfServiceReason) -> KeyFailureCause {
    match reason {
        OutOfServiceReason::KeyInvalid => KeyFailureCause::Auth,
        OutOfServiceReason::QuotaExhausted | OutOfServiceReason::BalanceLow => {
            KeyFailureCause::Quota
        }
        OutOfServiceReason::Other => KeyFailureCause::Upstream,
    }
}

/// Folds every account's result into its key health and runs the host actions.
/// Accounts gone from the host are skipped (their record stays as it was).
pub(crate) fn evaluate(
    adapter: &dyn HostAdapter,
    input: &KeyHealthInput,
    seen: &[Seen<'_>],
) -> Vec<KeyHealthCheck> {
    let mut out = Vec::new();
    for s in seen {
        let Some(host) = s.host else { continue };
        let c = s.check;
        let previous = input.records.get(&c.account_id);
        let verdict = match c.outcome {
            AccountOutcome::Passed => Verdict::Passed,
            AccountOutcome::Warning => Verdict::Warning,
            AccountOutcome::Failed => Verdict::Failed,
            AccountOutcome::NotTested => Verdict::Warning,
        };
        let mut observation = if c.outcome == AccountOutcome::NotTested {
            relay_domain::KeyObservation::Unknown
        } else {
            key_observation(verdict, c.reason, c.http_status, c.message.as_deref())
        };
        // The access probe found the account out of service (the gateway's call to the
        // vendor failed on it): a failure when the run learned nothing else of the key.
        // Its own test of this run wins (the host may still show the error a passing
        // test has just cleared).
        if let Some((reason, fix)) = &s.out_of_service {
            if observation == relay_domain::KeyObservation::Unknown {
                observation = relay_domain::KeyObservation::Failed {
                    cause: out_of_service_cause(*reason),
                    message: Some(format!(
                        "out of service after the access probe ({}): {fix}",
                        reason.label()
                    )),
                };
            }
        }
        let cause = match &observation {
            relay_domain::KeyObservation::Failed { cause, .. } => Some(*cause),
            _ => None,
        };
        let view = host_view(host);
        let step = KeyHealth::step(previous, view, observation, &input.policy, input.now);
        let mut health = step.health;
        let mut error = None;
        match step.action {
            Some(KeyAction::Disable(_)) => {
                if let Err(e) = adapter.set_account_schedulable(c.account_id, false) {
                    error = Some(format!("taking the key out of scheduling failed: {e}"));
                    // Not disabled after all: it stays failing, and the next failure
                    // tries again.
                    health.events.pop();
                    health.disabled_cause = None;
                    if health.state == KeyHealthState::DisabledByManager {
                        health.state = previous
                            .map(|p| p.state)
                            .filter(|s| *s != KeyHealthState::DisabledByManager)
                            .unwrap_or(KeyHealthState::Failing);
                    }
                }
            }
            Some(KeyAction::Enable) => {
                if let Err(e) = enable(adapter, host) {
                    error = Some(format!("putting the key back into scheduling failed: {e}"));
                    health.events.pop();
                    if let Some(p) = previous {
                        health.state = p.state;
                        health.since = p.since;
                        health.disabled_cause = p.disabled_cause;
                    }
                }
            }
            None => {}
        }
        let action = match (&step.action, previous.map(|p| p.state), health.state) {
            (Some(KeyAction::Disable(_)), _, _) => Some(KeyHealthAction::Disabled),
            (Some(KeyAction::Enable), _, _) => Some(KeyHealthAction::ReEnabled),
            (None, Some(p), KeyHealthState::DisabledByOperator)
                if p != KeyHealthState::DisabledByOperator =>
            {
                Some(KeyHealthAction::OperatorDisabled)
            }
            (None, None, KeyHealthState::DisabledByOperator) => {
                Some(KeyHealthAction::OperatorDisabled)
            }
            (None, Some(KeyHealthState::DisabledByOperator), s)
                if s != KeyHealthState::DisabledByOperator =>
            {
                Some(KeyHealthAction::OperatorEnabled)
            }
            _ => None,
        };
        out.push(KeyHealthCheck {
            account_id: c.account_id,
            fingerprint: c.fingerprint.clone(),
            key_mask: s.key_mask.clone(),
            previous_state: previous.map(|p| p.state),
            state: health.state,
            action,
            cause,
            failures_in_window: health.counted_failures(&input.policy, input.now),
            rate_limits_in_window: health.rate_limits(&input.policy, input.now),
            error,
            health,
        });
    }
    out
}

/// Puts a key back into scheduling with the fewest calls: one `schedulable: true`
/// when its passing test cleared the host's error state (the host recovers an account
/// after a successful test); an account the host still shows in error after it (seen
/// on 0.1.179 with a native DeepSeek account) also gets the host's one-call recovery.
fn enable(adapter: &dyn HostAdapter, before: &Account) -> Result<(), String> {
    let after = adapter
        .set_account_schedulable(before.id, true)
        .map_err(|e| e.to_string())?;
    if !after.status.is_error() {
        return Ok(());
    }
    let r = recover_account(adapter, &after);
    if r.ok {
        Ok(())
    } else {
        Err(r
            .error
            .unwrap_or_else(|| "the account stayed in error".into()))
    }
}
