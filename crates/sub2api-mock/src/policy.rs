//! Host configuration the emulator follows (as opposed to [`crate::Faults`], which
//! are misbehaviours): the idempotency and limiter settings of the real host, with
//! its defaults. Settable with [`crate::MockHost::set_policy`] and through
//! `POST /__mock/faults` (the same document carries both).

use serde::{Deserialize, Serialize};

/// Host settings. Every default is the real host's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostPolicy {
    /// The host's `idempotency.observe_only: false`: the writes that take an
    /// `Idempotency-Key` (account create and batch create, user balance, user key
    /// create) answer 400 `IDEMPOTENCY_KEY_REQUIRED` without one. Default off.
    pub idempotency_enforced: bool,
    /// How long (ms) a failed idempotent execution blocks its key
    /// (`idempotency.failed_retry_backoff_seconds`: 5 s).
    pub idempotency_retry_backoff_ms: u64,
    /// Logins allowed per client IP and window on `POST /api/v1/auth/login` (20).
    pub login_rate_limit: u32,
    /// Length (s) of the login window: fixed, starting with the first request (60).
    pub login_rate_window_secs: u64,
    /// Failed custom-key creates (`API_KEY_EXISTS`) a user may make before every
    /// create with `custom_key` answers 429 `API_KEY_RATE_LIMITED` (20; the count
    /// lives 24 h after the last failure).
    pub api_key_failure_limit: u32,
    /// Behave like the 0.1.27 build, whose `POST /api/v1/admin/accounts/batch` is a
    /// placeholder: `success = <count>`, no results, nothing created, no idempotency.
    pub legacy_account_batch: bool,
}

impl Default for HostPolicy {
    fn default() -> Self {
        HostPolicy {
            idempotency_enforced: false,
            idempotency_retry_backoff_ms: 5_000,
            login_rate_limit: 20,
            login_rate_window_secs: 60,
            api_key_failure_limit: 20,
            legacy_account_batch: false,
        }
    }
}
