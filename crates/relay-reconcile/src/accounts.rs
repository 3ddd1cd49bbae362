//! Re-testing the recorded accounts with bounded parallelism. The host's account
//! test has side effects (a 401/403 can put the account in `error`), so each
//! account is tested exactly once per run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use relay_access::{ProbeKind, ProbeObserver, ProbeRecord};
use relay_domain::{Fingerprint, Verdict};
use relay_provision::{classify_account_test, Classification, TestReason};
use relay_sub2api::{HostAdapter, HostError, ObjectId, ProbeOutcome};
use serde::Serialize;
use serde_json::{json, Value};

/// The outcome of one recorded account in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountOutcome {
    /// The account test passed.
    Passed,
    /// The test failed for an advisory or transient reason (SPEC §7.1–§7.2).
    Warning,
    /// Blocking failure (also: the account is in `error` on the host).
    Failed,
    /// Not tested: gone from the host, or disabled there.
    NotTested,
}

impl AccountOutcome {
    /// True for passed and warning: the account can serve.
    pub fn is_good(self) -> bool {
        matches!(self, AccountOutcome::Passed | AccountOutcome::Warning)
    }
}

/// One recorded account after the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountCheck {
    /// Host account id.
    pub account_id: ObjectId,
    /// Its deterministic name.
    pub name: String,
    /// Fingerprint of its upstream key (never the key).
    pub fingerprint: Option<Fingerprint>,
    /// The managed group it belongs to.
    pub group_id: Option<ObjectId>,
    /// Host status before the test (`active`, `error`, `inactive`), `None` when gone.
    pub host_status: Option<String>,
    /// Outcome.
    pub outcome: AccountOutcome,
    /// The account test ran in this run.
    pub tested: bool,
    /// Why the test got its verdict.
    pub reason: Option<TestReason>,
    /// A warning that only holds if the gateway probe passes (`API returned 404`).
    pub needs_gateway_confirmation: bool,
    /// The host's message, verbatim (test error, host `error_message`, or why it
    /// was not tested).
    pub message: Option<String>,
    /// Upstream HTTP status parsed from the test message.
    pub http_status: Option<u16>,
    /// Model the host tested.
    pub model_tested: Option<String>,
    /// The account's model list includes the smoke model.
    pub models_include_smoke: Option<bool>,
    /// Wall time of the test.
    pub duration_ms: Option<u64>,
}

impl AccountCheck {
    /// A check for an account that is not tested.
    pub(crate) fn untested(
        account_id: ObjectId,
        name: &str,
        fingerprint: Option<Fingerprint>,
        group_id: Option<ObjectId>,
        host_status: Option<String>,
        outcome: AccountOutcome,
        message: String,
    ) -> Self {
        AccountCheck {
            account_id,
            name: name.to_string(),
            fingerprint,
            group_id,
            host_status,
            outcome,
            tested: false,
            reason: None,
            needs_gateway_confirmation: false,
            message: Some(message),
            http_status: None,
            model_tested: None,
            models_include_smoke: None,
            duration_ms: None,
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn host_failure(e: &HostError) -> Classification {
    let transient = e.is_transient() || e.status().is_some_and(|s| s >= 500);
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

/// Tests one account once, reads its models, classifies, and reports both probes.
pub(crate) fn test_one(
    adapter: &dyn HostAdapter,
    observer: &dyn ProbeObserver,
    smoke: &str,
    mut check: AccountCheck,
) -> AccountCheck {
    let id = check.account_id;
    let subject = format!("account:{id}");
    let test = adapter.test_account(id, Some(smoke));
    let (passed, message) = match &test {
        Ok(r) => {
            observer.probe(ProbeRecord {
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
                details: json!({
                    "model": smoke,
                    "model_tested": r.model_tested,
                    "content_preview": r.content_preview,
                    "run": "reconcile",
                }),
            });
            check.http_status = r.http_status;
            check.model_tested = r.model_tested.clone();
            check.duration_ms = Some(ms(r.duration));
            (r.outcome == ProbeOutcome::Passed, r.message.clone())
        }
        Err(e) => {
            observer.probe(ProbeRecord {
                kind: ProbeKind::AccountTest,
                subject: subject.clone(),
                verdict: Verdict::Failed,
                http_status: e.status(),
                message: Some(e.to_string()),
                duration_ms: None,
                details: json!({"model": smoke, "run": "reconcile"}),
            });
            check.http_status = e.status();
            (false, e.to_string())
        }
    };
    let includes = match adapter.account_models(id) {
        Ok(list) => {
            let inc = list.iter().any(|m| m == smoke);
            observer.probe(ProbeRecord {
                kind: ProbeKind::AccountModels,
                subject: subject.clone(),
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
            observer.probe(ProbeRecord {
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
    };
    let c = match &test {
        Err(e) => host_failure(e),
        Ok(_) => classify_account_test(passed, &message, includes.unwrap_or(false)),
    };
    check.tested = true;
    check.outcome = match c.verdict {
        Verdict::Passed => AccountOutcome::Passed,
        Verdict::Warning => AccountOutcome::Warning,
        Verdict::Failed => AccountOutcome::Failed,
    };
    check.reason = Some(c.reason);
    check.needs_gateway_confirmation = c.needs_gateway_confirmation;
    check.message = (!message.is_empty()).then_some(message);
    check.models_include_smoke = includes;
    check
}

/// Tests every check in `pending` with at most `concurrency` in flight; returns
/// them in the same order.
pub(crate) fn test_all(
    adapter: &dyn HostAdapter,
    observer: &dyn ProbeObserver,
    smoke: &str,
    pending: Vec<AccountCheck>,
    concurrency: usize,
) -> Vec<AccountCheck> {
    if pending.is_empty() {
        return pending;
    }
    let workers = concurrency.max(1).min(pending.len());
    let cursor = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, AccountCheck)>> = Mutex::new(Vec::with_capacity(pending.len()));
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = cursor.fetch_add(1, Ordering::SeqCst);
                let Some(item) = pending.get(i) else { break };
                let done = test_one(adapter, observer, smoke, item.clone());
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((i, done));
            });
        }
    });
    let mut out = results.into_inner().unwrap_or_else(|p| p.into_inner());
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, c)| c).collect()
}
