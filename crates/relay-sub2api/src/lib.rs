//! The sub2api host adapter: the only code in the project that knows host URL
//! paths and wire fields.
//!
//! [`HostAdapter`] is the blocking, object-safe port the use-cases call (as
//! `&dyn HostAdapter`, from several threads); [`Sub2ApiClient`] implements it
//! over HTTP with `ureq` (one keep-alive agent, timeouts, bounded retries of
//! idempotent reads, `429 Retry-After`, admin API key or admin login). The public
//! API speaks domain-level types ([`types`]); the host's wire shapes stay private.
//!
//! Secrets (admin key and password, upstream keys, user JWTs and user keys) are
//! always [`relay_domain::Secret`]; no error or log line contains one.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod adapter;
mod client;
mod error;
#[cfg(test)]
mod fuzz;
mod retry;
mod sse;
mod time;
pub mod types;
pub mod upstream;
mod vocab;
mod wire;

pub use adapter::HostAdapter;
pub use client::{AdminAuth, HostConfig, Sub2ApiClient};
pub use error::{
    ComplianceLock, ErrorDetail, HostError, IDEMPOTENCY_IN_PROGRESS, IDEMPOTENCY_KEY_CONFLICT,
    IDEMPOTENCY_KEY_REQUIRED, IDEMPOTENCY_RETRY_BACKOFF, REPLAYED_OBJECT_GONE,
};
pub use retry::{retry_write, WriteRetry};
pub use time::{now_unix, parse_rfc3339, HostTime};
pub use types::*;
pub use upstream::{
    parse_vendor_error, probe_upstream, upstream_endpoints, UpstreamCall, UpstreamEndpoints,
    UpstreamProbe, UpstreamTimeouts, UpstreamUrlError, VendorError,
};
pub use vocab::{AccountStatus, ObjectStatus, Platform, ResponsesMode};
