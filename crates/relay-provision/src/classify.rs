//! Classification of host account-test results (SPEC §7.1–§7.2, §7.9).
//!
//! The host's account test is not a pure probe and its first run after creation can
//! fail for reasons that are not the key's fault. This module decides, from the host's
//! verbatim message, whether a failure blocks the import.

use relay_domain::Verdict;
use serde::{Deserialize, Serialize};

/// Why an account test got its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestReason {
    /// The test completed successfully.
    Passed,
    /// A bare `API returned 403` right after creation while the account's models
    /// include the smoke model: the host's asynchronous capability probe had not
    /// finished (§7.1).
    FirstTestForbiddenRace,
    /// `API returned 404` from the test; advisory only if the gateway probe passes (§7.1).
    NotFoundPendingGateway,
    /// 429/502/503/504, a timeout, a rate limit or a temporary failure (§7.2).
    Transient,
    /// The upstream rejected the key (401, invalid key).
    UpstreamKeyInvalid,
    /// The upstream account has no balance or quota left.
    UpstreamQuotaExhausted,
    /// A 403 while the account's models lack the smoke model.
    Forbidden,
    /// Any other failure.
    Other,
}

/// A classified test result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// passed, warning (advisory, not blocking) or failed (blocking).
    pub verdict: Verdict,
    /// Why.
    pub reason: TestReason,
    /// True when the warning only holds if the gateway probe later passes.
    pub needs_gateway_confirmation: bool,
}

impl Classification {
    fn new(verdict: Verdict, reason: TestReason) -> Self {
        Classification {
            verdict,
            reason,
            needs_gateway_confirmation: false,
        }
    }
}

const QUOTA_MARKERS: &[&str] = &[
    "insufficient_user_quota",
    "insufficient balance",
    "insufficient_balance",
    "insufficient_quota",
    "exceeded_current_quota",
    "quota exhausted",
    "quota_exhausted",
    "user quota is not enough",
    "arrearage",
    "(1008)",
    "\"1113\"",
    "recharge",
    "api returned 402",
];

const INVALID_KEY_MARKERS: &[&str] = &[
    "api returned 401",
    "invalid api key",
    "invalid_api_key",
    "incorrect api key",
    "authentication fails",
    "invalid authentication",
];

const TRANSIENT_MARKERS: &[&str] = &[
    "api returned 429",
    "api returned 502",
    "api returned 503",
    "api returned 504",
    "timeout",
    "timed out",
    "rate limit",
    "rate_limit",
    "temporar",
    "overloaded",
];

/// Classifies one account test.
///
/// * `passed`: the host's stream ended with `test_complete` success.
/// * `message`: the host's message, verbatim (e.g. `API returned 403: Forbidden`).
/// * `models_include_smoke`: the account's model list contains the smoke model.
pub fn classify_account_test(
    passed: bool,
    message: &str,
    models_include_smoke: bool,
) -> Classification {
    if passed {
        return Classification::new(Verdict::Passed, TestReason::Passed);
    }
    let m = message.to_ascii_lowercase();
    let has = |markers: &[&str]| markers.iter().any(|k| m.contains(k));
    // Quota first: some vendors report an empty balance with HTTP 429.
    if has(QUOTA_MARKERS) {
        return Classification::new(Verdict::Failed, TestReason::UpstreamQuotaExhausted);
    }
    if has(INVALID_KEY_MARKERS) {
        return Classification::new(Verdict::Failed, TestReason::UpstreamKeyInvalid);
    }
    if m.contains("api returned 403") {
        return if models_include_smoke {
            Classification::new(Verdict::Warning, TestReason::FirstTestForbiddenRace)
        } else {
            Classification::new(Verdict::Failed, TestReason::Forbidden)
        };
    }
    if m.contains("api returned 404") {
        return Classification {
            verdict: Verdict::Warning,
            reason: TestReason::NotFoundPendingGateway,
            needs_gateway_confirmation: true,
        };
    }
    if has(TRANSIENT_MARKERS) {
        return Classification::new(Verdict::Warning, TestReason::Transient);
    }
    Classification::new(Verdict::Failed, TestReason::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(passed: bool, msg: &str, smoke: bool) -> (Verdict, TestReason) {
        let c = classify_account_test(passed, msg, smoke);
        (c.verdict, c.reason)
    }

    #[test]
    fn success_passes() {
        assert_eq!(v(true, "", false), (Verdict::Passed, TestReason::Passed));
    }

    #[test]
    fn first_test_403_is_advisory_only_with_the_smoke_model() {
        assert_eq!(
            v(false, "API returned 403: Forbidden", true),
            (Verdict::Warning, TestReason::FirstTestForbiddenRace)
        );
        assert_eq!(
            v(false, "API returned 403: Forbidden", false),
            (Verdict::Failed, TestReason::Forbidden)
        );
    }

    #[test]
    fn not_found_waits_for_the_gateway() {
        let c = classify_account_test(false, "API returned 404: page not found", true);
        assert_eq!(c.verdict, Verdict::Warning);
        assert!(c.needs_gateway_confirmation);
    }

    #[test]
    fn transient_failures_are_advisory() {
        for msg in [
            "API returned 429: Too Many Requests",
            "API returned 502: bad gateway",
            "API returned 503: unavailable",
            "API returned 504: gateway timeout",
            "Request failed: operation timed out",
            "rate limit, please retry later (1002)",
            "temporarily unavailable",
        ] {
            assert_eq!(v(false, msg, false).0, Verdict::Warning, "{msg}");
        }
    }

    #[test]
    fn key_and_quota_failures_block() {
        assert_eq!(
            v(
                false,
                "API returned 401: {\"error\":{\"message\":\"Authentication Fails\"}}",
                true
            ),
            (Verdict::Failed, TestReason::UpstreamKeyInvalid)
        );
        assert_eq!(
            v(
                false,
                "API returned 402: {\"error\":{\"message\":\"Insufficient Balance\"}}",
                true
            ),
            (Verdict::Failed, TestReason::UpstreamQuotaExhausted)
        );
        // Kimi reports an empty balance as 429: quota wins over transient.
        assert_eq!(
            v(
                false,
                "API returned 429: {\"error\":{\"type\":\"exceeded_current_quota_error\"}}",
                true
            ),
            (Verdict::Failed, TestReason::UpstreamQuotaExhausted)
        );
        assert_eq!(
            v(false, "API returned 400: model not supported", true),
            (Verdict::Failed, TestReason::Other)
        );
    }
}
