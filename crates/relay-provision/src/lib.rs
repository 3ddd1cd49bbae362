//! Provisioning use-cases of the relay manager. Synchronous; talks to the host only
//! through `relay-sub2api`'s `HostAdapter` and records through small ports.
#![forbid(unsafe_code)]

pub mod classify;

pub use classify::{classify_account_test, Classification, TestReason};
