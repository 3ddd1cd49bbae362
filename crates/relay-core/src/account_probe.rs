//! Testing one account on the host: the account test with the smoke model (once:
//! it has side effects), the account's model list, both reported as probes, and
//! the classification of SPEC §7.1–§7.2. Shared by import, resume and reconcile.

use relay_domain::{Redactor, Verdict};
use relay_sub2api::{HostAdapter, HostError, ObjectId, ProbeOutcome, ProbeResult};
use serde_json::{json, Value};
use std::sync::OnceLock;

use crate::classify::{classify_account_test, Classification, TestReason};
use crate::clock::millis as ms;
use crate::limiter::AdaptiveLimit;
use crate::observer::{ProbeKind, ProbeRecord};

/// What one account test found.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountProbe {
    /// The host's stream ended with `test_complete` success.
    pub passed: bool,
    /// The host's message (or the adapter error when the call failed), after the
    /// redaction step.
    pub message: String,
    /// Upstream HTTP status from the host's test message (any path), or the host's
    /// own status when the call failed.
    pub http_status: Option<u16>,
    /// The model the host tested (after mapping).
    pub model_tested: Option<String>,
    /// Wall time of the test.
    pub duration_ms: Option<u64>,
    /// The account's model list includes the smoke model (`None`: list failed).
    pub models_include_smoke: Option<bool>,
    /// The verdict and reason of SPEC §7.1–§7.2 for this test.
    pub classification: Classification,
}

/// The classification of an account test whose host call itself failed: the
/// transient statuses of SPEC §7.2 (and transport errors) are advisory, anything
/// else blocks.
pub fn host_failure_classification(e: &HostError) -> Classification {
    let transient = e.is_transient()
        || e.status()
            .is_some_and(|s| matches!(s, 429 | 502 | 503 | 504));
    Classification {
        verdict: if transient {
            Verdict::Warning
        } else {
            Verdict::Failed
        },
        reason: if transient {
            TestReason::Transient
        } else {
            TestReason::Other
        },
        needs_gateway_confirmation: false,
    }
}

/// Tests account `account_id` once with `smoke`, reads its models, reports both
/// probes through `report` (with `extra` merged into the test probe's details), and
/// classifies. The account test relays the vendor's body, which may quote the
/// account's key: every message passes `redactor` (which should know the key, or
/// its fingerprint) before it is reported or returned.
pub fn probe_account(
    adapter: &dyn HostAdapter,
    report: &dyn Fn(ProbeRecord),
    account_id: ObjectId,
    smoke: &str,
    extra: &Value,
    redactor: &Redactor,
) -> AccountProbe {
    probe(
        adapter, report, account_id, smoke, extra, redactor, None, None,
    )
}

/// [`probe_account`] with both host calls under `limit` ([`AdaptiveLimit`]): a test
/// or model list the host refused with 429/503 is made again after the limit's
/// pause (the host did not run it, so the test still runs once), and a test whose
/// upstream answered 429/503 slows the flow down (its verdict stands). Only the
/// last answer of each call is reported.
pub fn probe_account_limited(
    adapter: &dyn HostAdapter,
    report: &dyn Fn(ProbeRecord),
    account_id: ObjectId,
    smoke: &str,
    extra: &Value,
    redactor: &Redactor,
    limit: &AdaptiveLimit<'_>,
) -> AccountProbe {
    probe(
        adapter,
        report,
        account_id,
        smoke,
        extra,
        redactor,
        Some(limit),
        None,
    )
}

/// [`probe_account_limited`] for one account of a batch whose accounts share one
/// model mapping (made from the same provider in one import): the account's model
/// list is read for the first account only and its answer stands for every account
/// of the batch (`batch_models`, shared by the batch's tests), so a batch of N keys
/// makes one model read, not N.
#[allow(clippy::too_many_arguments)]
pub fn probe_batch_account(
    adapter: &dyn HostAdapter,
    report: &dyn Fn(ProbeRecord),
    account_id: ObjectId,
    smoke: &str,
    extra: &Value,
    redactor: &Redactor,
    limit: &AdaptiveLimit<'_>,
    batch_models: &OnceLock<Option<bool>>,
) -> AccountProbe {
    probe(
        adapter,
        report,
        account_id,
        smoke,
        extra,
        redactor,
        Some(limit),
        Some(batch_models),
    )
}

/// An account test that reports its upstream pushed back: a 429 or 503 that
/// classifies as transient (a vendor's 429 for an empty balance does not).
fn upstream_congested(r: &ProbeResult) -> bool {
    r.outcome != ProbeOutcome::Passed
        && matches!(r.http_status, Some(429 | 503))
        && classify_account_test(false, r.http_status, &r.message, false).reason
            == TestReason::Transient
}

#[allow(clippy::too_many_arguments)]
fn probe(
    adapter: &dyn HostAdapter,
    report: &dyn Fn(ProbeRecord),
    account_id: ObjectId,
    smoke: &str,
    extra: &Value,
    redactor: &Redactor,
    limit: Option<&AdaptiveLimit<'_>>,
    batch_models: Option<&OnceLock<Option<bool>>>,
) -> AccountProbe {
    let subject = format!("account:{account_id}");
    let report = |r: ProbeRecord| report(r.redacted(redactor));
    let run_test = || adapter.test_account(account_id, Some(smoke));
    let test = match limit {
        Some(l) => l.call_judged(run_test, upstream_congested),
        None => run_test(),
    };
    let test = test
        .map(|mut r| {
            redactor.redact_in_place(&mut r.message);
            redactor.redact_in_place(&mut r.content_preview);
            r
        })
        .map_err(|e| e.redacted(redactor));
    let mut probe = match &test {
        Ok(r) => {
            let mut details = json!({
                "model": smoke,
                "model_tested": r.model_tested,
                "content_preview": r.content_preview,
            });
            if let (Some(d), Some(x)) = (details.as_object_mut(), extra.as_object()) {
                d.extend(x.clone());
            }
            report(ProbeRecord {
                kind: ProbeKind::AccountTest,
                subject: subject.clone(),
                verdict: if r.outcome == ProbeOutcome::Passed {
                    Verdict::Passed
                } else {
                    Verdict::Failed
                },
                http_status: r.http_status,
                message: (!r.message.is_empty()).then(|| r.message.clone()),
                duration_ms: Some(ms(r.duration)),
                details,
            });
            AccountProbe {
                passed: r.outcome == ProbeOutcome::Passed,
                message: r.message.clone(),
                http_status: r.http_status,
                model_tested: r.model_tested.clone(),
                duration_ms: Some(ms(r.duration)),
                models_include_smoke: None,
                classification: classify_account_test(true, None, "", false),
            }
        }
        Err(e) => {
            let mut details = json!({"model": smoke});
            if let (Some(d), Some(x)) = (details.as_object_mut(), extra.as_object()) {
                d.extend(x.clone());
            }
            report(ProbeRecord {
                kind: ProbeKind::AccountTest,
                subject: subject.clone(),
                verdict: Verdict::Failed,
                http_status: e.status(),
                message: Some(e.to_string()),
                duration_ms: None,
                details,
            });
            AccountProbe {
                passed: false,
                message: e.to_string(),
                http_status: e.status(),
                model_tested: None,
                duration_ms: None,
                models_include_smoke: None,
                classification: host_failure_classification(e),
            }
        }
    };
    let read_models = || {
        let models = match limit {
            Some(l) => l.call(|| adapter.account_models(account_id)),
            None => adapter.account_models(account_id),
        };
        match models {
            Ok(list) => {
                let inc = list.iter().any(|m| m == smoke);
                report(ProbeRecord {
                    kind: ProbeKind::AccountModels,
                    subject,
                    verdict: if inc {
                        Verdict::Passed
                    } else {
                        Verdict::Failed
                    },
                    http_status: Some(200),
                    message: (!inc).then(|| format!("the account's models do not include {smoke}")),
                    duration_ms: None,
                    details: json!({"models": list, "smoke_model": smoke}),
                });
                Some(inc)
            }
            Err(e) => {
                report(ProbeRecord {
                    kind: ProbeKind::AccountModels,
                    subject,
                    verdict: Verdict::Warning,
                    http_status: e.status(),
                    message: Some(e.to_string()),
                    duration_ms: None,
                    details: Value::Null,
                });
                None
            }
        }
    };
    probe.models_include_smoke = match batch_models {
        Some(once) => *once.get_or_init(read_models),
        None => read_models(),
    };
    if test.is_ok() {
        probe.classification = classify_account_test(
            probe.passed,
            probe.http_status,
            &probe.message,
            probe.models_include_smoke.unwrap_or(false),
        );
    }
    probe
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(status: u16) -> HostError {
        HostError::Host {
            status,
            code: None,
            message: "boom".into(),
            metadata: Default::default(),
        }
    }

    fn answered(status: u16, message: &str) -> ProbeResult {
        ProbeResult {
            outcome: ProbeOutcome::Failed,
            model_tested: None,
            message: message.into(),
            content_preview: String::new(),
            http_status: Some(status),
            duration: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn only_a_transient_upstream_429_or_503_is_a_push_back() {
        assert!(upstream_congested(&answered(
            429,
            "API returned 429: slow down"
        )));
        assert!(upstream_congested(&answered(
            503,
            "API returned 503: overloaded"
        )));
        let quota = answered(429, "API returned 429: insufficient_quota");
        assert!(!upstream_congested(&quota));
        assert!(!upstream_congested(&answered(
            401,
            "API returned 401: bad key"
        )));
        let passed = ProbeResult {
            outcome: ProbeOutcome::Passed,
            ..answered(429, "ok")
        };
        assert!(!upstream_congested(&passed));
    }

    #[test]
    fn only_the_transient_statuses_of_the_spec_are_advisory() {
        for s in [429, 502, 503, 504] {
            assert_eq!(
                host_failure_classification(&host(s)).verdict,
                Verdict::Warning,
                "{s}"
            );
        }
        for s in [400, 401, 403, 500] {
            assert_eq!(
                host_failure_classification(&host(s)).verdict,
                Verdict::Failed,
                "{s}"
            );
        }
        let t = host_failure_classification(&HostError::Transport("timed out".into()));
        assert_eq!(
            (t.verdict, t.reason),
            (Verdict::Warning, TestReason::Transient)
        );
    }
}
