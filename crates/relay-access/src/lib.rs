//! Access closure of the relay manager (SPEC §4.5): proves that an ordinary user
//! can call a provider's model through the host.
//!
//! * **Subscription** ([`close_subscription`]): managed subscribers (host users the
//!   manager creates with a generated, sealed password, plus existing users picked
//!   by id), subscriptions to the provider's subscription-type group, and user keys
//!   created by logging in as the managed user (the host has no admin endpoint for
//!   that). One managed *probe subscriber* is always included.
//! * **Self-service** ([`check_self_service`]): the operator supplies a user key;
//!   the manager checks it is bound to the group and probes with it.
//! * **Gateway probe** ([`probe_gateway`]): completion-gated — `GET /v1/models` must
//!   list the smoke model **and** `POST /v1/chat/completions` must succeed. Warm-up
//!   answers are retried inside a bounded window; an upstream failure triggers the
//!   capability repair of SPEC §7.3 once when the group's accounts are on the
//!   Responses path, and is reported as a quota or key problem when the host put
//!   them into `error` for that.
//!
//! The crate is synchronous and talks to the host only through
//! [`relay_sub2api::HostAdapter`]. It records every host object it creates through
//! the [`Journal`] port (shared with `relay-provision`, which re-exports it), keeps
//! secrets through the [`SubscriberVault`] port and takes randomness from the
//! application ([`Randomness`]). [`memory`] has in-memory implementations.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod closure;
mod error;
pub mod journal;
pub mod memory;
mod observer;
mod ports;
mod probe;
mod recover;
mod redact;
mod resolve;
mod self_service;
mod subscription;
mod vault;

pub use closure::{close_access, AccessPlan, AccessReport};
pub use error::{AccessError, AccessProblem};
pub use journal::{
    record_reused_once, Journal, JournalEntry, JournalError, JournalScope, NewEntry,
};
pub use observer::{NoProbeObserver, ProbeKind, ProbeObserver, ProbeRecord};
pub use ports::AccessPorts;
pub use probe::{
    check_reachability, probe_gateway, repair_account, repair_accounts, AccessProof,
    AccountOutOfService, CapabilityRepair, CompletionFailure, KeySource, OutOfServiceReason,
    ProbeSettings, Reachability, RepairScope, DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF,
    DEFAULT_MODELS_CACHE_TTL, DEFAULT_WARMUP_WINDOW, FORCE_CHAT_COMPLETIONS,
    INVALID_AUTH_BLOCK_MESSAGE, RESPONSES_MODE_KEY, RESPONSES_SUPPORTED_KEY,
};
pub use recover::{recover_account, recover_accounts, AccountRecovery, RecoveryRoute};
pub use redact::RedactingProbeObserver;
pub use resolve::{delete_managed_user_key, find_access_resource};
pub use self_service::{check_self_service, SelfServiceReport};
pub use subscription::{
    close_subscription, ensure_user_key, subscription_logical_key, KeyGrant, SubscriberOutcome,
    SubscriberSelector, SubscriptionAccess, SubscriptionReport, DEFAULT_PROBE_BALANCE_USD,
    DEFAULT_PROBE_EMAIL,
};
pub use vault::{
    generate_password, generate_user_key, ManagedSubscriber, Randomness, SubscriberVault,
    VaultError, USER_KEY_PREFIX,
};
