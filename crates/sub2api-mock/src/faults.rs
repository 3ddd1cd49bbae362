//! Fault-injection knobs, settable from the CLI, `POST /__mock/faults` and the Rust API.

use serde::{Deserialize, Serialize};

/// Default delay of the asynchronous Responses-capability probe.
pub const DEFAULT_PROBE_DELAY_MS: u64 = 200;

/// Fault knobs. Every field has a harmless default; a JSON document may set any subset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Extra latency (ms) added to every `/api/v1/admin/**` call.
    pub admin_latency_ms: u64,
    /// Extra latency (ms) before an account test answers.
    pub account_test_latency_ms: u64,
    /// The first account test of each account answers `API returned 403: Forbidden`.
    pub first_test_forbidden: bool,
    /// The Responses probe marks third-party OpenAI bases as supporting `/v1/responses`,
    /// so chat completions through them fail with 502 until repaired.
    pub responses_misdetection: bool,
    /// For this many ms after an account is created, the gateway answers 503
    /// "no available accounts" for every group the account is bound to.
    pub warmup_ms: u64,
    /// The Nth admin call from when this is set answers 500 `internal error` (1 = the next call).
    pub fail_nth_admin_call: Option<u64>,
    /// The next K admin calls answer 429 with `Retry-After: 1`.
    pub rate_limit_next_admin_calls: u32,
    /// At most this many admin calls at once: a call arriving while this many are in
    /// flight (latency included) answers the admin limiter's 429 with
    /// `Retry-After: 1` at once. `None`: no limit.
    pub max_concurrent_admin: Option<u32>,
    /// Backend mode: non-admin users cannot log in.
    pub backend_mode: bool,
    /// Behave like a build without channels (`/api/v1/admin/channels` → plain-text 404).
    pub disable_channels: bool,
    /// Behave like a build without the payment module (`/api/v1/admin/payment/**` → plain-text 404).
    pub disable_payment: bool,
    /// Overrides the reported host version (`/api/v1/admin/system/version`, public settings).
    pub host_version: Option<String>,
    /// Delay (ms) before the asynchronous Responses probe writes `extra.openai_responses_supported`.
    pub responses_probe_delay_ms: u64,
    /// Behave like an older build whose account test only speaks the Responses API:
    /// an OpenAI-family API-key account's test ends with [`RESPONSES_ONLY_TEST_MESSAGE`]
    /// without calling the upstream (the account itself works through the gateway).
    pub responses_only_test: bool,
}

/// The message an older build's account test ends with when its test endpoint only
/// supports the Responses API.
pub const RESPONSES_ONLY_TEST_MESSAGE: &str =
    "当前测试接口仅支持 Responses API，账号本身可正常使用，请直接通过实际 API 调用验证 (the test endpoint supports the Responses API only; please directly verify with the actual API)";

impl Default for Faults {
    fn default() -> Self {
        Faults {
            admin_latency_ms: 0,
            account_test_latency_ms: 0,
            first_test_forbidden: false,
            responses_misdetection: false,
            warmup_ms: 0,
            fail_nth_admin_call: None,
            rate_limit_next_admin_calls: 0,
            max_concurrent_admin: None,
            backend_mode: false,
            disable_channels: false,
            disable_payment: false,
            host_version: None,
            responses_probe_delay_ms: DEFAULT_PROBE_DELAY_MS,
            responses_only_test: false,
        }
    }
}

/// The host's invalid-auth limiter default: failed gateway key checks per client IP
/// within [`INVALID_AUTH_WINDOW_SECS`] before the IP is blocked.
pub const DEFAULT_INVALID_AUTH_THRESHOLD: u32 = 120;
/// Window of the invalid-auth limiter, in seconds (the host's default).
pub const INVALID_AUTH_WINDOW_SECS: u64 = 60;
/// How long an IP stays blocked once it reached the threshold, in seconds (the host's default).
pub const INVALID_AUTH_BLOCK_SECS: u64 = 60;

/// Knobs for host behaviours checked on real hosts: the gates every 0.1.179 host has
/// (compliance lock, invalid-auth limiter) and the routes an old build lacks. Kept
/// apart from [`Faults`] so existing fault documents keep their shape; the
/// `/__mock/faults` endpoint reads and writes both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostKnobs {
    /// The admin compliance gate needs an acceptance: until the acting admin accepts
    /// (`POST /api/v1/admin/compliance/accept`), every other admin route answers
    /// `423 ADMIN_COMPLIANCE_ACK_REQUIRED`. Turning it on forgets earlier
    /// acceptances (as a host upgrade to a new commitment version does).
    pub compliance_required: bool,
    /// Failed gateway key checks (no key, unknown key) per client IP within 60 s
    /// after which every gateway call from that IP answers
    /// `429 INVALID_AUTH_RATE_LIMITED` for 60 s. 0 turns the limiter off.
    pub invalid_auth_threshold: u32,
    /// Behave like an old build (0.1.27) for the routes it lacks: the compliance
    /// routes, `POST /accounts/:id/recover-state`, `POST /accounts/batch-clear-error`,
    /// `DELETE /accounts/:id/temp-unschedulable` and `PUT /api-keys/:id` answer Gin's
    /// plain-text 404.
    pub old_build: bool,
    /// A captcha other than Turnstile guards login: `tencent` or `aliyun`. Public
    /// settings say so, and a login (which carries no captcha ticket) answers
    /// `400 <PROVIDER>_CAPTCHA_VERIFICATION_FAILED` before the password is checked.
    pub login_captcha: Option<String>,
    /// A chatty host (and vendor) that quotes secrets in its answers (see the
    /// `echo` module): error answers quote the request's credential and secret body
    /// fields; account creates of keys containing `echo` and user creates of e-mails
    /// containing `echo` are refused with texts quoting the key or the password; an
    /// injected `fail_nth_admin_call` failure is a plain-text 500 quoting the
    /// caller's credential; the simulated vendors' 401 quotes the upstream key.
    pub echo_secrets: bool,
}

impl Default for HostKnobs {
    fn default() -> Self {
        HostKnobs {
            compliance_required: false,
            invalid_auth_threshold: DEFAULT_INVALID_AUTH_THRESHOLD,
            old_build: false,
            login_captcha: None,
            echo_secrets: false,
        }
    }
}

/// Admin routes (method, template) an old build (0.1.27) does not have.
pub(crate) const ROUTES_MISSING_ON_OLD_BUILDS: &[(&str, &str)] = &[
    ("GET", "compliance"),
    ("POST", "compliance/accept"),
    ("POST", "accounts/:id/recover-state"),
    ("POST", "accounts/batch-clear-error"),
    ("DELETE", "accounts/:id/temp-unschedulable"),
    ("GET", "accounts/:id/temp-unschedulable"),
    ("PUT", "api-keys/:id"),
    ("POST", "accounts/:id/models/sync-upstream"),
    ("POST", "accounts/models/sync-upstream-preview"),
    ("GET", "cn-providers/accounts/:id/balance"),
];
