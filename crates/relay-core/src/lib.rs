//! The kernel under the relay manager's flows: what provisioning (`relay-provision`),
//! the access closure (`relay-access`) and reconcile (`relay-reconcile`) share, so
//! that the three stand side by side on it and none imports another.
//!
//! * **Ports** ([`Ports`]): the host adapter plus the application's [`Journal`],
//!   [`SubscriberVault`], [`Randomness`], [`Observer`] and [`Clock`]; [`fakes`] has
//!   in-memory implementations of every port (and a virtual clock).
//! * **Desired state** ([`ProviderTarget`]): one provider of one pack as it should
//!   be on one host, with [`expected_subscription_type`] and [`pricing_matches`].
//! * **Probes**: the account test and its classification ([`probe_account`],
//!   [`classify_account_test`]) and the completion-gated gateway probe
//!   ([`probe_gateway`], [`check_reachability`]).
//! * **Repair**: the capability repair of SPEC §7.3 and the recovery of an
//!   account's runtime state, in one place ([`repair`]).
//! * **Bounded parallelism** ([`map_bounded`], [`try_map_bounded`]) and **adaptive
//!   concurrency** ([`AdaptiveLimit`]: fewer host calls in flight while the host
//!   answers 429/503).
//! * **The access closure's contract** ([`AccessPlan`], [`AccessReport`],
//!   [`AccessCloser`]): provisioning runs the closure through this port.
//!
//! Synchronous; talks to the host only through [`relay_sub2api::HostAdapter`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod account_probe;
pub mod classify;
mod clock;
mod error;
pub mod fakes;
mod gateway_probe;
pub mod journal;
mod limiter;
mod observer;
mod parallel;
mod ports;
mod redact;
pub mod repair;
mod resources;
mod target;
mod vault;

pub use access::{
    subscription_logical_key, AccessCloser, AccessPlan, AccessReport, SelfServiceReport,
    SubscriberOutcome, SubscriberSelector, SubscriptionAccess, SubscriptionReport,
    DEFAULT_PROBE_BALANCE_USD, DEFAULT_PROBE_EMAIL,
};
pub use account_probe::{
    host_failure_classification, probe_account, probe_account_limited, probe_batch_account,
    AccountProbe,
};
pub use classify::{classify_account_test, key_observation, Classification, TestReason};
pub use clock::{millis, Clock, SystemClock, SYSTEM_CLOCK};
pub use error::{AccessError, AccessProblem, CoreError};
pub use gateway_probe::{
    check_reachability, probe_gateway, AccessProof, AccountOutOfService, CompletionFailure,
    OutOfServiceReason, ProbeKeySource, ProbeSettings, Reachability, DEFAULT_INITIAL_BACKOFF,
    DEFAULT_MAX_BACKOFF, DEFAULT_MODELS_CACHE_TTL, DEFAULT_WARMUP_WINDOW,
    INVALID_AUTH_BLOCK_MESSAGE, MAX_PROBE_TOKENS,
};
pub use journal::{
    append_detail, check_scope, record_reused_once, Journal, JournalEntry, JournalError,
    JournalScope, NewEntry, ScopeMismatch,
};
pub use limiter::{
    congestion_pause, AdaptiveLimit, CallOutcome, LimitSettings, LimitState, Permit,
};
pub use observer::{ItemProgress, NoObserver, Observer, ProbeKind, ProbeRecord, RedactingObserver};
pub use parallel::{map_bounded, try_map_bounded, DEFAULT_CONCURRENCY};
pub use ports::Ports;
pub use repair::{
    capability_flipped, recover_account, recover_accounts, repair_account, repair_accounts,
    repair_recorded_account, AccountRecovery, CapabilityRepair, RecoveryRoute, RepairScope,
};
pub use resources::{delete_managed_user_key, find_access_resource};
pub use target::{
    choose_platform, expected_subscription_type, pricing_matches, recorded_group, ExistingGroup,
    OverlayNote, PlatformChoice, PlatformReason, ProviderTarget,
};
pub use vault::{
    generate_password, generate_user_key, ManagedSubscriber, Randomness, SubscriberVault,
    VaultError, USER_KEY_PREFIX,
};
