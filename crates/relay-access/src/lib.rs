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
//! * **Gateway probe** ([`relay_core::probe_gateway`]): completion-gated — `GET /v1/models` must
//!   list the smoke model **and** `POST /v1/chat/completions` must succeed. Warm-up
//!   answers are retried inside a bounded window; an upstream failure triggers the
//!   capability repair of SPEC §7.3 once when the group's accounts are on the
//!   Responses path, and is reported as a quota or key problem when the host put
//!   them into `error` for that.
//!
//! The crate is synchronous and talks to the host only through
//! [`relay_sub2api::HostAdapter`]. It stands on `relay-core`: it records every host
//! object it creates through the kernel's journal port, keeps secrets through its
//! vault port and takes randomness and the clock from the kernel's
//! [`relay_core::Ports`]; the gateway probe, the capability repair, the access
//! reports and the in-memory fakes live there too. Provisioning runs the closure
//! through the kernel's [`relay_core::AccessCloser`] port ([`AccessClosure`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod closure;
mod self_service;
mod subscription;

pub use closure::{close_access, AccessClosure};
pub use self_service::check_self_service;
pub use subscription::{close_subscription, ensure_user_key, KeyGrant};
