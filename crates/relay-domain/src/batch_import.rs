//! Batch auto-import ("URL + key", SPEC §5): the vocabularies of runs, items and
//! their event trail, and one state machine per level.
//!
//! * a **run** ([`RunState`], moved by [`RunEvent`]);
//! * an **item** of a run ([`RunItemState`], moved by [`RunItemEvent`]);
//! * the asynchronous **confirmation** of an item's account ([`ConfirmationStatus`],
//!   moved by [`ConfirmationEvent`]).
//!
//! The access status of an item or a run is the existing [`crate::AccessStatus`].
//! Every machine is a pure `transition(self, event)` that rejects the moves it does
//! not allow with [`InvalidTransition`].

use serde::{Deserialize, Serialize};

use crate::status::InvalidTransition;
use crate::string_enum;

string_enum!(
    /// State of a batch auto-import run.
    RunState, "run state" {
        /// Created; no item taken yet.
        Pending => "pending",
        /// Items are being worked on.
        Running => "running",
        /// A cancel was asked; items are being stopped.
        Cancelling => "cancelling",
        /// Every item succeeded (skipped duplicates allowed).
        Succeeded => "succeeded",
        /// Some items succeeded, some failed.
        PartiallySucceeded => "partially_succeeded",
        /// No item succeeded.
        Failed => "failed",
        /// The operator cancelled the run.
        Cancelled => "cancelled",
    }
);

/// Events that move a [`RunState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEvent {
    /// A worker took the first item.
    Start,
    /// Every item ended well.
    Succeed,
    /// Items ended, some failed.
    PartiallySucceed,
    /// Items ended, none succeeded (or the run could not start).
    Fail,
    /// The operator asked to cancel.
    Cancel,
    /// Every item of a cancelling run is stopped.
    CancelDone,
    /// The operator asked to retry items: an ended run goes back to `pending`,
    /// a pending or running one carries on.
    Retry,
}

impl RunState {
    /// Applies an event, rejecting moves outside SPEC §5.
    pub fn transition(self, event: RunEvent) -> Result<RunState, InvalidTransition> {
        use RunEvent as E;
        use RunState as S;
        let next = match (self, event) {
            (S::Pending, E::Start) => Some(S::Running),
            (S::Running, E::Succeed) => Some(S::Succeeded),
            (S::Running, E::PartiallySucceed) => Some(S::PartiallySucceeded),
            (S::Pending | S::Running, E::Fail) => Some(S::Failed),
            (S::Pending | S::Running, E::Cancel) => Some(S::Cancelling),
            (S::Cancelling, E::CancelDone) => Some(S::Cancelled),
            (S::Pending, E::Retry) => Some(S::Pending),
            (S::Running, E::Retry) => Some(S::Running),
            (S::PartiallySucceeded | S::Failed | S::Cancelled, E::Retry) => Some(S::Pending),
            _ => None,
        };
        next.ok_or_else(|| InvalidTransition {
            machine: "run",
            from: self.to_string(),
            event: format!("{event:?}"),
        })
    }

    /// True for states no worker moves on its own.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Succeeded
                | RunState::PartiallySucceeded
                | RunState::Failed
                | RunState::Cancelled
        )
    }
}

string_enum!(
    /// State of one item (one pasted line) of a run.
    RunItemState, "run item state" {
        /// Waiting for a worker (due at its `next_retry_at`).
        Pending => "pending",
        /// A worker holds its lease.
        Running => "running",
        /// Its account exists and is confirmed.
        Succeeded => "succeeded",
        /// Gave up with a named cause.
        Failed => "failed",
        /// Not worked on: a repeat of an earlier line of the same run.
        Skipped => "skipped",
        /// The operator cancelled it.
        Cancelled => "cancelled",
    }
);

/// Events that move a [`RunItemState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunItemEvent {
    /// A worker leased it (or took over an expired lease).
    Lease,
    /// The worker let it go to be taken again later (retry scheduled, lease released).
    Defer,
    /// Its account exists and is confirmed.
    Succeed,
    /// It failed for good.
    Fail,
    /// It repeats an earlier line.
    Skip,
    /// The operator cancelled it (or its run).
    Cancel,
    /// The operator asked to retry it.
    Retry,
}

impl RunItemState {
    /// Applies an event, rejecting moves outside SPEC §5.
    pub fn transition(self, event: RunItemEvent) -> Result<RunItemState, InvalidTransition> {
        use RunItemEvent as E;
        use RunItemState as S;
        let next = match (self, event) {
            (S::Pending | S::Running, E::Lease) => Some(S::Running),
            (S::Running, E::Defer) => Some(S::Pending),
            (S::Running, E::Succeed) => Some(S::Succeeded),
            (S::Pending | S::Running, E::Fail) => Some(S::Failed),
            (S::Pending, E::Skip) => Some(S::Skipped),
            (S::Pending | S::Running, E::Cancel) => Some(S::Cancelled),
            (S::Failed | S::Cancelled, E::Retry) => Some(S::Pending),
            _ => None,
        };
        next.ok_or_else(|| InvalidTransition {
            machine: "run item",
            from: self.to_string(),
            event: format!("{event:?}"),
        })
    }

    /// True for states no worker moves on its own.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunItemState::Succeeded
                | RunItemState::Failed
                | RunItemState::Skipped
                | RunItemState::Cancelled
        )
    }
}

string_enum!(
    /// Whether an item's account survived the host's warm-up window (SPEC §5, §7).
    ConfirmationStatus, "confirmation status" {
        /// Not tried yet.
        Pending => "pending",
        /// Attempts are under way (retries through the warm-up window).
        Confirming => "confirming",
        /// The host answered well.
        Confirmed => "confirmed",
        /// The bounded window ended without a good answer.
        FailedConfirmation => "failed_confirmation",
        /// Stopped by a cancel.
        Cancelled => "cancelled",
    }
);

/// Events that move a [`ConfirmationStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmationEvent {
    /// The first attempt started.
    Start,
    /// The host answered well.
    Confirm,
    /// The window ended (or a blocking answer came).
    Fail,
    /// The item or its run was cancelled.
    Cancel,
    /// The operator asked to retry.
    Retry,
}

impl ConfirmationStatus {
    /// Applies an event, rejecting moves outside SPEC §5.
    pub fn transition(
        self,
        event: ConfirmationEvent,
    ) -> Result<ConfirmationStatus, InvalidTransition> {
        use ConfirmationEvent as E;
        use ConfirmationStatus as S;
        let next = match (self, event) {
            (S::Pending, E::Start) => Some(S::Confirming),
            (S::Confirming, E::Confirm) => Some(S::Confirmed),
            (S::Pending | S::Confirming, E::Fail) => Some(S::FailedConfirmation),
            (S::Pending | S::Confirming, E::Cancel) => Some(S::Cancelled),
            (S::FailedConfirmation | S::Cancelled, E::Retry) => Some(S::Pending),
            _ => None,
        };
        next.ok_or_else(|| InvalidTransition {
            machine: "confirmation",
            from: self.to_string(),
            event: format!("{event:?}"),
        })
    }
}

string_enum!(
    /// Which items a retry of a run moves back to `pending`.
    RetryScope, "retry scope" {
        /// Only `failed` items.
        Failed => "failed",
        /// Every item not succeeded (`failed` and `cancelled`; skipped lines stay).
        All => "all",
    }
);

string_enum!(
    /// What the reuse policy decided for an item's account (key: provider id + key
    /// fingerprint + canonical model family).
    ReuseDecision, "reuse decision" {
        /// No earlier account: one is created.
        Created => "created",
        /// An earlier account fits as it is.
        Reused => "reused",
        /// An earlier account fits after a patch (models, mapping, extra).
        PatchOnly => "patch_only",
        /// An earlier account is replaced by a new one.
        Replace => "replace",
        /// A disabled earlier account is re-enabled (never duplicated).
        Reactivated => "reactivated",
    }
);

string_enum!(
    /// The class of a host's answer to one confirmation attempt (SPEC §7).
    HostAnswerClass, "host answer class" {
        /// The host answered well.
        Ok => "ok",
        /// The first-test 403 race of the host's warm-up.
        #[serde(rename = "warmup_forbidden_403")]
        WarmupForbidden403 => "warmup_forbidden_403",
        /// 503 "no available accounts" right after import.
        #[serde(rename = "no_available_accounts_503")]
        NoAvailableAccounts503 => "no_available_accounts_503",
        /// 429, honouring `Retry-After`.
        #[serde(rename = "rate_limited_429")]
        RateLimited429 => "rate_limited_429",
        /// 502 `upstream_error` or another upstream failure.
        UpstreamError => "upstream_error",
        /// The upstream refused the key.
        InvalidKey => "invalid_key",
        /// The upstream quota or balance is exhausted.
        Quota => "quota",
        /// The host (or upstream) did not answer.
        Unreachable => "unreachable",
        /// Anything else.
        Other => "other",
    }
);

impl HostAnswerClass {
    /// True for answers worth another attempt inside the warm-up window.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            HostAnswerClass::WarmupForbidden403
                | HostAnswerClass::NoAvailableAccounts503
                | HostAnswerClass::RateLimited429
                | HostAnswerClass::UpstreamError
                | HostAnswerClass::Unreachable
        )
    }
}

string_enum!(
    /// Kind of an entry of an item's append-only event trail.
    RunItemEventKind, "run item event kind" {
        /// The item was recorded with its run.
        Created => "created",
        /// The base URL was matched to a provider (or ad-hoc) and the model corrected.
        Matched => "matched",
        /// The upstream was profiled.
        Profiled => "profiled",
        /// The reuse policy decided.
        Decided => "decided",
        /// The item's account exists on the host.
        AccountReady => "account_ready",
        /// One confirmation attempt and the host's answer.
        Attempt => "attempt",
        /// Another attempt was scheduled.
        RetryScheduled => "retry_scheduled",
        /// The confirmation succeeded.
        Confirmed => "confirmed",
        /// The item failed.
        Failed => "failed",
        /// The item was cancelled.
        Cancelled => "cancelled",
        /// The operator asked to retry it.
        Retried => "retried",
        /// The access proof was recorded.
        AccessProven => "access_proven",
        /// The sealed key was erased.
        KeyErased => "key_erased",
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every (state, event) pair moves exactly as `legal` says, and is refused when
    /// `legal` has no row for it.
    fn assert_exactly<S, E>(
        states: &[S],
        events: &[E],
        legal: &[(S, E, S)],
        transition: impl Fn(S, E) -> Option<S>,
    ) where
        S: Copy + PartialEq + std::fmt::Debug,
        E: Copy + PartialEq + std::fmt::Debug,
    {
        for &from in states {
            for &event in events {
                let expected = legal
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| *to);
                assert_eq!(transition(from, event), expected, "{from:?} {event:?}");
            }
        }
    }

    const RUN_EVENTS: [RunEvent; 7] = [
        RunEvent::Start,
        RunEvent::Succeed,
        RunEvent::PartiallySucceed,
        RunEvent::Fail,
        RunEvent::Cancel,
        RunEvent::CancelDone,
        RunEvent::Retry,
    ];
    const ITEM_EVENTS: [RunItemEvent; 7] = [
        RunItemEvent::Lease,
        RunItemEvent::Defer,
        RunItemEvent::Succeed,
        RunItemEvent::Fail,
        RunItemEvent::Skip,
        RunItemEvent::Cancel,
        RunItemEvent::Retry,
    ];
    const CONFIRMATION_EVENTS: [ConfirmationEvent; 5] = [
        ConfirmationEvent::Start,
        ConfirmationEvent::Confirm,
        ConfirmationEvent::Fail,
        ConfirmationEvent::Cancel,
        ConfirmationEvent::Retry,
    ];

    #[test]
    fn run_machine_has_exactly_the_legal_moves() {
        use RunEvent as E;
        use RunState as S;
        let legal = [
            (S::Pending, E::Start, S::Running),
            (S::Running, E::Succeed, S::Succeeded),
            (S::Running, E::PartiallySucceed, S::PartiallySucceeded),
            (S::Pending, E::Fail, S::Failed),
            (S::Running, E::Fail, S::Failed),
            (S::Pending, E::Cancel, S::Cancelling),
            (S::Running, E::Cancel, S::Cancelling),
            (S::Cancelling, E::CancelDone, S::Cancelled),
            (S::Pending, E::Retry, S::Pending),
            (S::Running, E::Retry, S::Running),
            (S::PartiallySucceeded, E::Retry, S::Pending),
            (S::Failed, E::Retry, S::Pending),
            (S::Cancelled, E::Retry, S::Pending),
        ];
        assert_exactly(S::ALL, &RUN_EVENTS, &legal, |from, event| {
            from.transition(event).ok()
        });
        assert!(S::Succeeded.transition(E::Retry).is_err());
        assert!(S::Cancelled.transition(E::Cancel).is_err());
        assert!(S::Cancelling.transition(E::Start).is_err());
        let err = S::Succeeded.transition(E::Start).unwrap_err();
        assert_eq!(
            err.to_string(),
            "run: cannot apply `Start` in state `succeeded`"
        );
        assert!(S::Cancelled.is_terminal() && !S::Cancelling.is_terminal());
    }

    #[test]
    fn item_machine_has_exactly_the_legal_moves() {
        use RunItemEvent as E;
        use RunItemState as S;
        let legal = [
            (S::Pending, E::Lease, S::Running),
            (S::Running, E::Lease, S::Running),
            (S::Running, E::Defer, S::Pending),
            (S::Running, E::Succeed, S::Succeeded),
            (S::Pending, E::Fail, S::Failed),
            (S::Running, E::Fail, S::Failed),
            (S::Pending, E::Skip, S::Skipped),
            (S::Pending, E::Cancel, S::Cancelled),
            (S::Running, E::Cancel, S::Cancelled),
            (S::Failed, E::Retry, S::Pending),
            (S::Cancelled, E::Retry, S::Pending),
        ];
        assert_exactly(S::ALL, &ITEM_EVENTS, &legal, |from, event| {
            from.transition(event).ok()
        });
        assert!(S::Succeeded.transition(E::Retry).is_err());
        assert!(S::Skipped.transition(E::Lease).is_err());
        assert!(S::Pending.transition(E::Succeed).is_err());
        assert!(S::Skipped.is_finished() && !S::Running.is_finished());
    }

    #[test]
    fn confirmation_machine_has_exactly_the_legal_moves() {
        use ConfirmationEvent as E;
        use ConfirmationStatus as S;
        let legal = [
            (S::Pending, E::Start, S::Confirming),
            (S::Confirming, E::Confirm, S::Confirmed),
            (S::Pending, E::Fail, S::FailedConfirmation),
            (S::Confirming, E::Fail, S::FailedConfirmation),
            (S::Pending, E::Cancel, S::Cancelled),
            (S::Confirming, E::Cancel, S::Cancelled),
            (S::FailedConfirmation, E::Retry, S::Pending),
            (S::Cancelled, E::Retry, S::Pending),
        ];
        assert_exactly(S::ALL, &CONFIRMATION_EVENTS, &legal, |from, event| {
            from.transition(event).ok()
        });
        assert!(S::Confirmed.transition(E::Retry).is_err());
        assert!(S::Pending.transition(E::Confirm).is_err());
    }

    #[test]
    fn vocabularies_round_trip_their_strings() {
        for v in ReuseDecision::ALL {
            assert_eq!(v.as_str().parse::<ReuseDecision>().unwrap(), *v);
        }
        for v in HostAnswerClass::ALL {
            assert_eq!(v.as_str().parse::<HostAnswerClass>().unwrap(), *v);
        }
        for v in RunItemEventKind::ALL {
            assert_eq!(v.as_str().parse::<RunItemEventKind>().unwrap(), *v);
        }
        assert_eq!(
            "patch_only".parse::<ReuseDecision>().unwrap(),
            ReuseDecision::PatchOnly
        );
        assert!("reuse".parse::<ReuseDecision>().is_err());
        assert!(HostAnswerClass::WarmupForbidden403.is_transient());
        assert!(!HostAnswerClass::InvalidKey.is_transient());
        // The wire form is the stored form, digits included.
        for v in HostAnswerClass::ALL {
            assert_eq!(
                serde_json::to_string(v).unwrap(),
                format!("\"{}\"", v.as_str())
            );
        }
    }

    proptest! {
        /// Any sequence of events, legal or not, leaves every machine in one of its
        /// declared states, and a rejected move leaves the state unchanged.
        #[test]
        fn no_sequence_reaches_an_undefined_state(
            run_events in proptest::collection::vec(0usize..7, 0..40),
            item_events in proptest::collection::vec(0usize..7, 0..40),
            confirmation_events in proptest::collection::vec(0usize..5, 0..40),
        ) {
            let mut run = RunState::Pending;
            for i in run_events {
                if let Ok(next) = run.transition(RUN_EVENTS[i]) {
                    run = next;
                }
                prop_assert!(RunState::ALL.contains(&run));
                prop_assert_eq!(run.as_str().parse::<RunState>().unwrap(), run);
            }
            let mut item = RunItemState::Pending;
            for i in item_events {
                let before = item;
                match item.transition(ITEM_EVENTS[i]) {
                    Ok(next) => item = next,
                    Err(_) => prop_assert_eq!(item, before),
                }
                prop_assert!(RunItemState::ALL.contains(&item));
                // A succeeded or skipped item never moves again.
                if matches!(before, RunItemState::Succeeded | RunItemState::Skipped) {
                    prop_assert_eq!(item, before);
                }
            }
            let mut confirmation = ConfirmationStatus::Pending;
            for i in confirmation_events {
                let before = confirmation;
                if let Ok(next) = confirmation.transition(CONFIRMATION_EVENTS[i]) {
                    confirmation = next;
                }
                prop_assert!(ConfirmationStatus::ALL.contains(&confirmation));
                if before == ConfirmationStatus::Confirmed {
                    prop_assert_eq!(confirmation, before);
                }
            }
        }
    }
}
