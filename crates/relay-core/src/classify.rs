//! Classification of host account-test results (SPEC §7.1–§7.2, §7.9).
//!
//! The host's account test is not a pure probe and its first run after creation can
//! fail for reasons that are not the key's fault. This module decides, from the
//! upstream HTTP status the adapter read out of the host's message (whatever path the
//! host tested: `API returned NNN` on the Responses path, `Chat Completions API
//! (/v1/chat/completions) returned NNN` on the Chat Completions path) and from the
//! vendor's wording in that message, whether a failure blocks the import.

pub use relay_domain::TestReason;
use relay_domain::Verdict;
use serde::{Deserialize, Serialize};

/// A classified test result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// passed, warning (advisory, not blocking) or failed (blocking).
    pub verdict: Verdict,
    /// Why it got that verdict.
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
];

const INVALID_KEY_MARKERS: &[&str] = &[
    "invalid api key",
    "invalid_api_key",
    "incorrect api key",
    "authentication fails",
    "invalid authentication",
];

/// Wording of older hosts whose account-test endpoint only speaks the Responses API:
/// the message says the account itself works and should be checked through the real
/// API. Checked only when the message names the Responses API.
const RESPONSES_ONLY_MARKERS: &[&str] = &[
    "当前测试接口仅支持",
    "账号本身可正常使用",
    "please directly",
    "actual api",
];

const TRANSIENT_MARKERS: &[&str] = &[
    "timeout",
    "deadline exceeded",
    "timed out",
    "rate limit",
    "rate_limit",
    "temporar",
    "overloaded",
];

/// Classifies one account test.
///
/// * `passed`: the host's stream ended with `test_complete` success.
/// * `http_status`: the upstream status the adapter read from the host's message
///   (`None` when the host got no HTTP answer or did not say).
/// * `message`: the host's message, verbatim (it quotes the vendor's error body).
/// * `models_include_smoke`: the account's model list contains the smoke model.
pub fn classify_account_test(
    passed: bool,
    http_status: Option<u16>,
    message: &str,
    models_include_smoke: bool,
) -> Classification {
    if passed {
        return Classification::new(Verdict::Passed, TestReason::Passed);
    }
    let m = message.to_ascii_lowercase();
    let has = |markers: &[&str]| markers.iter().any(|k| m.contains(k));
    // Quota first: some vendors report an empty balance with HTTP 429.
    if http_status == Some(402) || has(QUOTA_MARKERS) {
        return Classification::new(Verdict::Failed, TestReason::UpstreamQuotaExhausted);
    }
    if http_status == Some(401) || has(INVALID_KEY_MARKERS) {
        return Classification::new(Verdict::Failed, TestReason::UpstreamKeyInvalid);
    }
    if m.contains("responses api") && has(RESPONSES_ONLY_MARKERS) {
        return Classification {
            verdict: Verdict::Warning,
            reason: TestReason::ResponsesOnlyPendingGateway,
            needs_gateway_confirmation: true,
        };
    }
    match http_status {
        Some(403) => {
            return if models_include_smoke {
                Classification::new(Verdict::Warning, TestReason::FirstTestForbiddenRace)
            } else {
                Classification::new(Verdict::Failed, TestReason::Forbidden)
            };
        }
        Some(404) => {
            return Classification {
                verdict: Verdict::Warning,
                reason: TestReason::NotFoundPendingGateway,
                needs_gateway_confirmation: true,
            };
        }
        Some(429 | 502 | 503 | 504) => {
            return Classification::new(Verdict::Warning, TestReason::Transient);
        }
        _ => {}
    }
    if has(TRANSIENT_MARKERS) {
        return Classification::new(Verdict::Warning, TestReason::Transient);
    }
    Classification::new(Verdict::Failed, TestReason::Other)
}

/// What a key's health learns from one classified account result (see
/// [`relay_domain::KeyHealth::step`]): a pass, a failure with its cause, or nothing.
///
/// `verdict` and `reason` are the final ones of the run (a warning the gateway probe
/// did not confirm has become a failure); `reason` is `None` for an account the run
/// did not test and whose host state gave no cause (e.g. `error` with the host's own
/// note). The causes follow the classification: a rejected key (401, invalid key) or
/// a 403 while the models lack the smoke model is `auth`; no balance or quota left is
/// `quota`; a transient failure with upstream 429 (or rate-limit wording) is
/// `rate_limit`; the rest is `upstream`. Advisory warnings that wait for the gateway
/// (a first-test 403, a 404, "Responses API only") learn nothing.
pub fn key_observation(
    verdict: Verdict,
    reason: Option<TestReason>,
    http_status: Option<u16>,
    message: Option<&str>,
) -> relay_domain::KeyObservation {
    use relay_domain::{KeyFailureCause as C, KeyObservation as O};
    let failed = |cause| O::Failed {
        cause,
        message: message.map(str::to_string),
    };
    let rate_limited = http_status == Some(429)
        || message.is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("rate limit") || m.contains("rate_limit")
        });
    match (verdict, reason) {
        (Verdict::Passed, _) => O::Passed,
        (_, Some(TestReason::UpstreamKeyInvalid | TestReason::Forbidden)) => failed(C::Auth),
        (_, Some(TestReason::UpstreamQuotaExhausted)) => failed(C::Quota),
        (_, Some(TestReason::Transient)) if rate_limited => failed(C::RateLimit),
        (_, Some(TestReason::Transient)) => failed(C::Upstream),
        (Verdict::Warning, _) => O::Unknown,
        (Verdict::Failed, _) => match http_status {
            Some(401 | 403) => failed(C::Auth),
            Some(402) => failed(C::Quota),
            Some(429) => failed(C::RateLimit),
            _ => failed(C::Upstream),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message the real host (0.1.179) sends for an API-key OpenAI account
    /// tested over Chat Completions.
    fn cc(status: u16, body: &str) -> (Option<u16>, String) {
        (
            Some(status),
            format!("Chat Completions API (/v1/chat/completions) returned {status}: {body}"),
        )
    }

    /// The Responses-path (and old-build) form.
    fn resp(status: u16, body: &str) -> (Option<u16>, String) {
        (Some(status), format!("API returned {status}: {body}"))
    }

    fn v(passed: bool, (status, msg): (Option<u16>, String), smoke: bool) -> (Verdict, TestReason) {
        let c = classify_account_test(passed, status, &msg, smoke);
        (c.verdict, c.reason)
    }

    #[test]
    fn key_observations_tell_the_causes_apart() {
        use relay_domain::{KeyFailureCause as C, KeyObservation as O};
        let cause = |passed: bool, (status, msg): (Option<u16>, String), smoke: bool| {
            let c = classify_account_test(passed, status, &msg, smoke);
            match key_observation(c.verdict, Some(c.reason), status, Some(&msg)) {
                O::Failed { cause, .. } => Some(cause),
                other => panic!("expected a failure, got {other:?}"),
            }
        };
        assert_eq!(
            cause(false, cc(401, "Incorrect API key provided"), true),
            Some(C::Auth)
        );
        assert_eq!(cause(false, resp(403, "Forbidden"), false), Some(C::Auth));
        assert_eq!(
            cause(false, cc(402, "Insufficient Balance"), true),
            Some(C::Quota)
        );
        assert_eq!(
            cause(false, cc(429, "insufficient_quota"), true),
            Some(C::Quota),
            "an empty balance sent as 429 is quota, not a rate limit"
        );
        assert_eq!(
            cause(false, cc(429, "Too Many Requests"), true),
            Some(C::RateLimit)
        );
        assert_eq!(cause(false, cc(503, "busy"), true), Some(C::Upstream));
        assert_eq!(cause(false, cc(500, "boom"), true), Some(C::Upstream));
        // Advisory answers that wait for the gateway learn nothing; a pass is a pass.
        assert_eq!(
            key_observation(
                Verdict::Warning,
                Some(TestReason::NotFoundPendingGateway),
                Some(404),
                None
            ),
            O::Unknown
        );
        assert_eq!(
            key_observation(Verdict::Passed, Some(TestReason::Passed), None, None),
            O::Passed
        );
        // An untested account the host holds in error without a typed cause.
        assert!(matches!(
            key_observation(Verdict::Failed, None, None, Some("in error on the host")),
            O::Failed {
                cause: C::Upstream,
                ..
            }
        ));
    }

    #[test]
    fn success_passes() {
        assert_eq!(
            v(true, (None, String::new()), false),
            (Verdict::Passed, TestReason::Passed)
        );
    }

    #[test]
    fn first_test_403_is_advisory_only_with_the_smoke_model() {
        for f in [resp(403, "Forbidden"), cc(403, "Forbidden")] {
            assert_eq!(
                v(false, f.clone(), true),
                (Verdict::Warning, TestReason::FirstTestForbiddenRace)
            );
            assert_eq!(v(false, f, false), (Verdict::Failed, TestReason::Forbidden));
        }
    }

    #[test]
    fn not_found_waits_for_the_gateway() {
        for (s, m) in [resp(404, "page not found"), cc(404, "{\"error\":{}}")] {
            let c = classify_account_test(false, s, &m, true);
            assert_eq!(c.verdict, Verdict::Warning);
            assert_eq!(c.reason, TestReason::NotFoundPendingGateway);
            assert!(c.needs_gateway_confirmation);
        }
    }

    #[test]
    fn an_older_hosts_responses_only_message_waits_for_the_gateway() {
        for msg in [
            "当前测试接口仅支持 Responses API，账号本身可正常使用，请直接通过实际 API 调用验证",
            "This test endpoint supports the Responses API only; please directly verify the account with the actual API",
        ] {
            for status in [None, Some(400)] {
                let c = classify_account_test(false, status, msg, false);
                assert_eq!(c.verdict, Verdict::Warning, "{msg}");
                assert_eq!(c.reason, TestReason::ResponsesOnlyPendingGateway);
                assert!(c.needs_gateway_confirmation);
            }
        }
        // Naming the Responses API alone is not the advisory wording.
        let c = classify_account_test(
            false,
            Some(400),
            "API returned 400: Responses API error",
            false,
        );
        assert_eq!((c.verdict, c.reason), (Verdict::Failed, TestReason::Other));
        // A key the vendor rejects still fails, whatever else the message says.
        let c = classify_account_test(
            false,
            Some(401),
            "API returned 401: invalid api key (Responses API; please directly check)",
            true,
        );
        assert_eq!(c.reason, TestReason::UpstreamKeyInvalid);
    }

    #[test]
    fn transient_failures_are_advisory_on_both_paths() {
        for s in [429, 502, 503, 504] {
            for f in [
                resp(s, "busy"),
                cc(s, "{\"error\":{\"message\":\"upstream says\"}}"),
            ] {
                assert_eq!(
                    v(false, f.clone(), false),
                    (Verdict::Warning, TestReason::Transient),
                    "{f:?}"
                );
            }
        }
        for msg in [
            "Request failed: operation timed out",
            "Chat Completions API (/v1/chat/completions) request failed: Post \"https://v/x\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            "rate limit, please retry later (1002)",
            "temporarily unavailable",
        ] {
            assert_eq!(v(false, (None, msg.into()), false).0, Verdict::Warning, "{msg}");
        }
    }

    #[test]
    fn key_and_quota_failures_block_with_their_category() {
        // Bodies that carry none of the wording markers: the status decides.
        for f in [
            resp(401, "{}"),
            cc(401, "{\"error\":{\"message\":\"denied\"}}"),
        ] {
            assert_eq!(
                v(false, f, true),
                (Verdict::Failed, TestReason::UpstreamKeyInvalid)
            );
        }
        for f in [
            resp(402, "{}"),
            cc(402, "{\"error\":{\"message\":\"pay up\"}}"),
        ] {
            assert_eq!(
                v(false, f, true),
                (Verdict::Failed, TestReason::UpstreamQuotaExhausted)
            );
        }
        // The real host's texts for the vendor stand-in.
        assert_eq!(
            v(false, cc(401, "{\"error\": {\"message\": \"Incorrect API key provided.\", \"type\": \"invalid_request_error\", \"param\": null, \"code\": \"invalid_api_key\"}}"), true),
            (Verdict::Failed, TestReason::UpstreamKeyInvalid)
        );
        assert_eq!(
            v(false, cc(402, "{\"error\": {\"message\": \"Insufficient Balance\", \"type\": \"insufficient_user_quota\", \"param\": null, \"code\": \"insufficient_user_quota\"}}"), true),
            (Verdict::Failed, TestReason::UpstreamQuotaExhausted)
        );
        // Kimi reports an empty balance as 429: quota wins over transient.
        assert_eq!(
            v(
                false,
                cc(
                    429,
                    "{\"error\":{\"type\":\"exceeded_current_quota_error\"}}"
                ),
                true
            ),
            (Verdict::Failed, TestReason::UpstreamQuotaExhausted)
        );
        assert_eq!(
            v(false, cc(400, "model not supported"), true),
            (Verdict::Failed, TestReason::Other)
        );
        // No HTTP answer at all (refused connection): blocking, not transient.
        assert_eq!(
            v(false, (None, "Chat Completions API (/v1/chat/completions) request failed: Post \"http://127.0.0.1:1/v1/chat/completions\": dial tcp 127.0.0.1:1: connect: connection refused".into()), true),
            (Verdict::Failed, TestReason::Other)
        );
    }

    #[test]
    fn a_status_quoted_in_the_vendor_body_is_not_the_status() {
        // The adapter reads the status from the host's prefix only; a 500 whose body
        // mentions "503" stays blocking.
        assert_eq!(
            v(
                false,
                cc(500, "{\"error\":{\"message\":\"backend said 503\"}}"),
                true
            ),
            (Verdict::Failed, TestReason::Other)
        );
    }
}
