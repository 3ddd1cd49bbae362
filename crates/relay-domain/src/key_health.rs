//! Per-key health: a rolling window of failures per managed account, and the
//! policy that takes a key out of scheduling and puts it back.
//!
//! Each reconcile gives every recorded account one [`KeyObservation`] (its test
//! passed or failed, with a [`KeyFailureCause`]) and what the host shows of it
//! ([`HostKeyView`]). [`KeyHealth::step`] folds that into the record and says
//! which host action, if any, the manager takes ([`KeyAction`]):
//!
//! * a key that fails [`HealthPolicy::max_failures`] times within
//!   [`HealthPolicy::window_secs`] (counted since its last pass) is disabled;
//! * rate limits are kept and counted apart, but never disable a key on their own;
//! * a key the manager disabled is re-enabled by the first passing test;
//! * a key a person took out of scheduling on the host (unschedulable while not in
//!   error, or inactive, and not disabled by the manager) is
//!   [`KeyHealthState::DisabledByOperator`] and never re-enabled by the manager.
//!
//! Pure: the caller reads the host, runs the action and stores the record.

use serde::{Deserialize, Serialize};

use crate::string_enum;
use crate::time::Timestamp;

string_enum!(
    /// The health of one managed key (account) as the manager sees it.
    KeyHealthState, "key health state" {
        /// No failure counted in the window.
        Healthy => "healthy",
        /// Failures in the window, fewer than the policy's limit.
        Failing => "failing",
        /// The manager took it out of scheduling on the host after repeated failures.
        DisabledByManager => "disabled_by_manager",
        /// A person took it out of scheduling (or disabled it) on the host; the manager
        /// never puts it back.
        DisabledByOperator => "disabled_by_operator",
    }
);

string_enum!(
    /// Why a key's check failed.
    KeyFailureCause, "key failure cause" {
        /// The vendor rejected the key (401/403).
        Auth => "auth",
        /// No balance or quota left (402, insufficient balance, a host bench for a low
        /// vendor balance).
        Quota => "quota",
        /// Rate limited (429): counted apart, never disables a key on its own.
        RateLimit => "rate_limit",
        /// Any other upstream or transport failure (5xx, timeouts, unexpected answers).
        Upstream => "upstream",
    }
);

string_enum!(
    /// What the manager did to a key's scheduling on the host, or what it saw a
    /// person do.
    KeyHealthAction, "key health action" {
        /// The manager took the key out of scheduling.
        Disabled => "disabled",
        /// The manager put the key back into scheduling.
        ReEnabled => "re_enabled",
        /// A person took the key out of scheduling (or disabled it) on the host.
        OperatorDisabled => "operator_disabled",
        /// A person put the key back into scheduling on the host.
        OperatorEnabled => "operator_enabled",
    }
);

/// How many failures within how long take a key out of scheduling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthPolicy {
    /// Failures (rate limits not counted) that disable a key (at least 1).
    pub max_failures: u32,
    /// The window the failures must fall in, in seconds (at least 1).
    pub window_secs: u64,
}

impl HealthPolicy {
    /// Failures that disable a key when the pack says nothing.
    pub const DEFAULT_MAX_FAILURES: u32 = 3;
    /// The window when the pack says nothing: one hour.
    pub const DEFAULT_WINDOW_SECS: u64 = 3600;
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            max_failures: Self::DEFAULT_MAX_FAILURES,
            window_secs: Self::DEFAULT_WINDOW_SECS,
        }
    }
}

/// One failed check of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFailure {
    /// When it was seen.
    pub at: Timestamp,
    /// Why it failed.
    pub cause: KeyFailureCause,
    /// The host's or vendor's text, already redacted.
    pub message: Option<String>,
}

/// A change of a key's scheduling: by the manager, or seen done by a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHealthEvent {
    /// When.
    pub at: Timestamp,
    /// What.
    pub action: KeyHealthAction,
    /// The failure cause that led to it (disables only).
    pub cause: Option<KeyFailureCause>,
    /// Why, in words.
    pub note: String,
}

/// What one run learned of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyObservation {
    /// Its test passed (or it was confirmed working).
    Passed,
    /// Its test failed, or the host holds it out of service.
    Failed {
        /// Why.
        cause: KeyFailureCause,
        /// The redacted text.
        message: Option<String>,
    },
    /// Nothing was learned (not tested, advisory answer).
    Unknown,
}

/// What the host shows of the key's account before the run acts on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostKeyView {
    /// The account is `inactive` (disabled) on the host.
    pub inactive: bool,
    /// The account is in `error` on the host (which also takes it out of scheduling).
    pub in_error: bool,
    /// The account is out of scheduling (`schedulable: false`).
    pub unschedulable: bool,
}

/// The host action a step asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    /// Take the key out of scheduling, for this cause.
    Disable(KeyFailureCause),
    /// Put the key back into scheduling (clearing its error state if needed).
    Enable,
}

/// The health record of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHealth {
    /// The current state.
    pub state: KeyHealthState,
    /// Since when the key is in this state.
    pub since: Timestamp,
    /// The last check (a run that learned something or saw the host).
    pub checked_at: Timestamp,
    /// The last passing check.
    pub last_pass_at: Option<Timestamp>,
    /// The cause of the current disable (manager), if any.
    pub disabled_cause: Option<KeyFailureCause>,
    /// Recent failures, oldest first (at most [`KeyHealth::KEPT_FAILURES`]).
    pub failures: Vec<KeyFailure>,
    /// Disables and re-enables, oldest first (at most [`KeyHealth::KEPT_EVENTS`]).
    pub events: Vec<KeyHealthEvent>,
}

/// The result of one step: the new record and the host action to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStep {
    /// The record after the step (as if the action succeeds).
    pub health: KeyHealth,
    /// The host action the manager takes, if any.
    pub action: Option<KeyAction>,
}

impl KeyHealth {
    /// Failures kept in a record.
    pub const KEPT_FAILURES: usize = 20;
    /// Events kept in a record.
    pub const KEPT_EVENTS: usize = 20;

    /// A fresh record of a healthy key.
    pub fn new(now: Timestamp) -> Self {
        KeyHealth {
            state: KeyHealthState::Healthy,
            since: now,
            checked_at: now,
            last_pass_at: None,
            disabled_cause: None,
            failures: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The start of the counting window at `now`: the later of `now - window` and
    /// the last pass.
    fn window_start(&self, policy: &HealthPolicy, now: Timestamp) -> i64 {
        let window_ms = i64::try_from(policy.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let start = now.as_millis().saturating_sub(window_ms);
        match self.last_pass_at {
            Some(p) => start.max(p.as_millis().saturating_add(1)),
            None => start,
        }
    }

    /// Failures in the window that count toward a disable (rate limits excluded).
    pub fn counted_failures(&self, policy: &HealthPolicy, now: Timestamp) -> usize {
        let start = self.window_start(policy, now);
        self.failures
            .iter()
            .filter(|f| f.at.as_millis() >= start && f.cause != KeyFailureCause::RateLimit)
            .count()
    }

    /// Rate limits in the window (counted apart).
    pub fn rate_limits(&self, policy: &HealthPolicy, now: Timestamp) -> usize {
        let start = self.window_start(policy, now);
        self.failures
            .iter()
            .filter(|f| f.at.as_millis() >= start && f.cause == KeyFailureCause::RateLimit)
            .count()
    }

    /// The most recent failure, if any.
    pub fn last_failure(&self) -> Option<&KeyFailure> {
        self.failures.last()
    }

    fn set_state(&mut self, state: KeyHealthState, now: Timestamp) {
        if self.state != state {
            self.state = state;
            self.since = now;
        }
    }

    fn push_event(
        &mut self,
        now: Timestamp,
        action: KeyHealthAction,
        cause: Option<KeyFailureCause>,
        note: String,
    ) {
        self.events.push(KeyHealthEvent {
            at: now,
            action,
            cause,
            note,
        });
        let excess = self.events.len().saturating_sub(Self::KEPT_EVENTS);
        self.events.drain(..excess);
    }

    /// Healthy or failing, from the failures in the window.
    fn settle(&mut self, policy: &HealthPolicy, now: Timestamp) {
        let state = if self.counted_failures(policy, now) > 0 {
            KeyHealthState::Failing
        } else {
            KeyHealthState::Healthy
        };
        self.set_state(state, now);
    }

    /// Folds one run's observation and host view into the record `previous` (a fresh
    /// record when `None`), under `policy`, at `now`. See the module docs for the rules.
    pub fn step(
        previous: Option<&KeyHealth>,
        host: HostKeyView,
        observation: KeyObservation,
        policy: &HealthPolicy,
        now: Timestamp,
    ) -> KeyStep {
        let mut h = previous.cloned().unwrap_or_else(|| KeyHealth::new(now));
        h.checked_at = now;
        let was = h.state;
        if let KeyObservation::Failed { cause, message } = &observation {
            h.failures.push(KeyFailure {
                at: now,
                cause: *cause,
                message: message.clone(),
            });
            let excess = h.failures.len().saturating_sub(Self::KEPT_FAILURES);
            h.failures.drain(..excess);
        }

        // A person's hand on the host wins: out of scheduling while not in error (the
        // host's own error state also clears `schedulable`), or inactive, and not by us.
        let by_hand = host.inactive
            || (host.unschedulable && !host.in_error && was != KeyHealthState::DisabledByManager);
        if by_hand {
            if was != KeyHealthState::DisabledByOperator {
                h.push_event(
                    now,
                    KeyHealthAction::OperatorDisabled,
                    None,
                    if host.inactive {
                        "disabled on the host by hand; the manager leaves it alone".into()
                    } else {
                        "taken out of scheduling on the host by hand; the manager leaves it alone"
                            .into()
                    },
                );
            }
            h.disabled_cause = None;
            if observation == KeyObservation::Passed {
                h.last_pass_at = Some(now);
            }
            h.set_state(KeyHealthState::DisabledByOperator, now);
            return KeyStep {
                health: h,
                action: None,
            };
        }
        if was == KeyHealthState::DisabledByOperator {
            h.push_event(
                now,
                KeyHealthAction::OperatorEnabled,
                None,
                "put back into scheduling on the host by hand".into(),
            );
            h.settle(policy, now);
        }

        match observation {
            KeyObservation::Passed => {
                h.last_pass_at = Some(now);
                // Back into scheduling: a key we disabled, or one the host's error state
                // took out of scheduling.
                let action = (was == KeyHealthState::DisabledByManager || host.unschedulable)
                    .then_some(KeyAction::Enable);
                if action.is_some() {
                    let note = if was == KeyHealthState::DisabledByManager {
                        "its test passed again: put back into scheduling"
                    } else {
                        "its test passed again: out of the host's error state, back into scheduling"
                    };
                    h.push_event(now, KeyHealthAction::ReEnabled, None, note.into());
                }
                h.disabled_cause = None;
                h.settle(policy, now);
                KeyStep { health: h, action }
            }
            KeyObservation::Failed { cause, .. } => {
                if h.state == KeyHealthState::DisabledByManager {
                    // Back in scheduling although we disabled it (an error recovery
                    // elsewhere put it back) while it still fails: out again.
                    let action = (!host.unschedulable).then_some(KeyAction::Disable(cause));
                    if action.is_some() {
                        h.push_event(
                            now,
                            KeyHealthAction::Disabled,
                            Some(cause),
                            format!("back in scheduling while it still fails ({cause}): taken out again"),
                        );
                        h.disabled_cause = Some(cause);
                    }
                    return KeyStep { health: h, action };
                }
                let counted = h.counted_failures(policy, now);
                if counted >= policy.max_failures.max(1) as usize {
                    h.push_event(
                        now,
                        KeyHealthAction::Disabled,
                        Some(cause),
                        format!(
                            "{counted} failures within {}s (limit {}), last: {cause}",
                            policy.window_secs, policy.max_failures
                        ),
                    );
                    h.disabled_cause = Some(cause);
                    h.set_state(KeyHealthState::DisabledByManager, now);
                    KeyStep {
                        health: h,
                        action: Some(KeyAction::Disable(cause)),
                    }
                } else {
                    h.settle(policy, now);
                    KeyStep {
                        health: h,
                        action: None,
                    }
                }
            }
            KeyObservation::Unknown => {
                if h.state != KeyHealthState::DisabledByManager {
                    h.settle(policy, now);
                }
                KeyStep {
                    health: h,
                    action: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn at(minutes: i64) -> Timestamp {
        Timestamp(1_800_000_000_000 + minutes * MIN)
    }

    fn fail(cause: KeyFailureCause) -> KeyObservation {
        KeyObservation::Failed {
            cause,
            message: Some("Chat Completions API returned 401: sk-***".into()),
        }
    }

    fn active() -> HostKeyView {
        HostKeyView::default()
    }

    fn errored() -> HostKeyView {
        HostKeyView {
            in_error: true,
            unschedulable: true,
            inactive: false,
        }
    }

    fn run(
        mut h: Option<KeyHealth>,
        steps: &[(i64, HostKeyView, KeyObservation)],
    ) -> (KeyHealth, Vec<Option<KeyAction>>) {
        let policy = HealthPolicy::default();
        let mut actions = Vec::new();
        for (m, host, obs) in steps {
            let s = KeyHealth::step(h.as_ref(), *host, obs.clone(), &policy, at(*m));
            actions.push(s.action);
            h = Some(s.health);
        }
        (h.expect("at least one step"), actions)
    }

    #[test]
    fn three_failures_in_the_window_disable_the_key() {
        use KeyFailureCause::Auth;
        let (h, actions) = run(
            None,
            &[
                (0, active(), fail(Auth)),
                (10, errored(), fail(Auth)),
                (20, errored(), fail(Auth)),
            ],
        );
        assert_eq!(actions, vec![None, None, Some(KeyAction::Disable(Auth))]);
        assert_eq!(h.state, KeyHealthState::DisabledByManager);
        assert_eq!(h.disabled_cause, Some(Auth));
        assert_eq!(h.since, at(20));
        assert_eq!(h.events.len(), 1);
        assert_eq!(h.events[0].action, KeyHealthAction::Disabled);
        assert_eq!(h.failures.len(), 3);
    }

    #[test]
    fn failing_before_the_limit_and_the_policy_is_configurable() {
        let policy = HealthPolicy {
            max_failures: 1,
            window_secs: 60,
        };
        let s = KeyHealth::step(None, active(), fail(KeyFailureCause::Quota), &policy, at(0));
        assert_eq!(s.action, Some(KeyAction::Disable(KeyFailureCause::Quota)));
        let s = KeyHealth::step(
            None,
            active(),
            fail(KeyFailureCause::Upstream),
            &HealthPolicy::default(),
            at(0),
        );
        assert_eq!(s.action, None);
        assert_eq!(s.health.state, KeyHealthState::Failing);
    }

    #[test]
    fn old_failures_drop_out_of_the_window() {
        use KeyFailureCause::Upstream;
        let (h, actions) = run(
            None,
            &[
                (0, active(), fail(Upstream)),
                (30, active(), fail(Upstream)),
                (61, active(), fail(Upstream)),
            ],
        );
        assert_eq!(actions, vec![None, None, None]);
        assert_eq!(h.state, KeyHealthState::Failing);
        assert_eq!(h.counted_failures(&HealthPolicy::default(), at(61)), 2);
        // Later still, every failure is out of the window: healthy again.
        let s = KeyHealth::step(
            Some(&h),
            active(),
            KeyObservation::Unknown,
            &HealthPolicy::default(),
            at(200),
        );
        assert_eq!(s.health.state, KeyHealthState::Healthy);
    }

    #[test]
    fn a_pass_resets_the_count_and_re_enables_a_disabled_key() {
        use KeyFailureCause::Auth;
        let (h, actions) = run(
            None,
            &[
                (0, active(), fail(Auth)),
                (1, errored(), fail(Auth)),
                (2, active(), KeyObservation::Passed),
                (3, active(), fail(Auth)),
            ],
        );
        assert_eq!(actions, vec![None, None, None, None]);
        assert_eq!(h.state, KeyHealthState::Failing);
        let (h, actions) = run(
            Some(h),
            &[
                (4, errored(), fail(Auth)),
                (5, errored(), fail(Auth)),
                (6, errored(), KeyObservation::Passed),
            ],
        );
        assert_eq!(
            actions,
            vec![
                None,
                Some(KeyAction::Disable(Auth)),
                Some(KeyAction::Enable)
            ]
        );
        assert_eq!(h.state, KeyHealthState::Healthy);
        assert_eq!(h.disabled_cause, None);
        let kinds: Vec<_> = h.events.iter().map(|e| e.action).collect();
        assert_eq!(
            kinds,
            vec![KeyHealthAction::Disabled, KeyHealthAction::ReEnabled]
        );
    }

    #[test]
    fn a_disabled_key_stays_disabled_while_it_fails() {
        use KeyFailureCause::Auth;
        let disabled_by_us = HostKeyView {
            unschedulable: true,
            ..HostKeyView::default()
        };
        let (h, actions) = run(
            None,
            &[
                (0, active(), fail(Auth)),
                (1, active(), fail(Auth)),
                (2, active(), fail(Auth)),
                (3, disabled_by_us, fail(Auth)),
                (100, disabled_by_us, KeyObservation::Unknown),
            ],
        );
        assert_eq!(actions[3..], [None, None]);
        assert_eq!(h.state, KeyHealthState::DisabledByManager);
        // Scheduled again behind our back while it still fails: taken out again.
        let s = KeyHealth::step(
            Some(&h),
            active(),
            fail(Auth),
            &HealthPolicy::default(),
            at(101),
        );
        assert_eq!(s.action, Some(KeyAction::Disable(Auth)));
        assert_eq!(s.health.state, KeyHealthState::DisabledByManager);
    }

    #[test]
    fn an_operator_disabled_key_is_never_re_enabled() {
        let by_hand = HostKeyView {
            unschedulable: true,
            ..HostKeyView::default()
        };
        let (h, actions) = run(
            None,
            &[
                (0, by_hand, KeyObservation::Passed),
                (1, by_hand, KeyObservation::Passed),
                (2, by_hand, fail(KeyFailureCause::Auth)),
            ],
        );
        assert_eq!(actions, vec![None, None, None]);
        assert_eq!(h.state, KeyHealthState::DisabledByOperator);
        assert_eq!(h.events.len(), 1);
        assert_eq!(h.events[0].action, KeyHealthAction::OperatorDisabled);
        // Inactive on the host after the manager disabled it: a person took over.
        let (h, _) = run(
            None,
            &[
                (0, active(), fail(KeyFailureCause::Auth)),
                (1, active(), fail(KeyFailureCause::Auth)),
                (2, active(), fail(KeyFailureCause::Auth)),
            ],
        );
        assert_eq!(h.state, KeyHealthState::DisabledByManager);
        let inactive = HostKeyView {
            inactive: true,
            unschedulable: true,
            in_error: false,
        };
        let s = KeyHealth::step(
            Some(&h),
            inactive,
            KeyObservation::Passed,
            &HealthPolicy::default(),
            at(3),
        );
        assert_eq!(s.action, None);
        assert_eq!(s.health.state, KeyHealthState::DisabledByOperator);
        // Put back by hand: the manager follows the tests again.
        let s = KeyHealth::step(
            Some(&s.health),
            active(),
            KeyObservation::Passed,
            &HealthPolicy::default(),
            at(4),
        );
        assert_eq!(s.action, None);
        assert_eq!(s.health.state, KeyHealthState::Healthy);
        assert_eq!(
            s.health.events.last().map(|e| e.action),
            Some(KeyHealthAction::OperatorEnabled)
        );
    }

    #[test]
    fn rate_limits_alone_never_disable_a_key() {
        use KeyFailureCause::RateLimit;
        let steps: Vec<_> = (0..10).map(|m| (m, active(), fail(RateLimit))).collect();
        let (h, actions) = run(None, &steps);
        assert!(actions.iter().all(Option::is_none));
        assert_eq!(h.state, KeyHealthState::Healthy);
        assert_eq!(h.rate_limits(&HealthPolicy::default(), at(9)), 10);
        assert_eq!(h.counted_failures(&HealthPolicy::default(), at(9)), 0);
    }

    #[test]
    fn the_record_keeps_a_bounded_history() {
        let steps: Vec<_> = (0..50)
            .map(|m| (m, active(), fail(KeyFailureCause::RateLimit)))
            .collect();
        let (h, _) = run(None, &steps);
        assert_eq!(h.failures.len(), KeyHealth::KEPT_FAILURES);
        assert_eq!(h.failures[0].at, at(30));
    }
}
