//! Re-testing the recorded accounts with bounded parallelism. The host's account
//! test has side effects (a 401/403 can put the account in `error`), so each
//! account is tested exactly once per run.

use relay_core::{map_bounded, probe_account, Observer, Ports, ProbeRecord, TestReason};
pub use relay_domain::AccountOutcome;
use relay_domain::{Fingerprint, Redactor, Verdict};
use relay_sub2api::{HostAdapter, ObjectId};
use serde::Serialize;
use serde_json::json;

/// One recorded account after the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountCheck {
    /// Host account id.
    pub account_id: ObjectId,
    /// Its deterministic name (`<provider>-<fp8>`).
    pub name: String,
    /// Fingerprint of its upstream key (never the key).
    pub fingerprint: Option<Fingerprint>,
    /// The managed group it belongs to.
    pub group_id: Option<ObjectId>,
    /// Host status before the test (`active`, `error`, `inactive`), `None` when gone.
    pub host_status: Option<String>,
    /// Passed, warning, failed or not tested, after this run.
    pub outcome: AccountOutcome,
    /// The account test ran in this run.
    pub tested: bool,
    /// Why the test got its verdict.
    pub reason: Option<TestReason>,
    /// A warning that only holds if the gateway probe passes (`API returned 404`).
    pub needs_gateway_confirmation: bool,
    /// The host's message (test error, host `error_message`, or why it was not
    /// tested), after the redaction step: the account's key, known by its
    /// fingerprint, and every key-shaped string are masked.
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
        let message = key_redactor(fingerprint.as_ref()).redact(&message);
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

/// The redaction step of one account's texts: its key is known only by its
/// fingerprint during a reconcile (keys are never stored).
fn key_redactor(fingerprint: Option<&Fingerprint>) -> Redactor {
    let mut r = Redactor::new();
    if let Some(fp) = fingerprint {
        r.add_fingerprint(fp);
    }
    r
}

/// Tests one account once, reads its models, classifies, and reports both probes.
pub(crate) fn test_one(
    adapter: &dyn HostAdapter,
    observer: &dyn Observer,
    smoke: &str,
    mut check: AccountCheck,
) -> AccountCheck {
    let report = |r: ProbeRecord| observer.probe(r);
    let p = probe_account(
        adapter,
        &report,
        check.account_id,
        smoke,
        &json!({"run": "reconcile"}),
        &key_redactor(check.fingerprint.as_ref()),
    );
    check.http_status = p.http_status;
    check.model_tested = p.model_tested;
    check.duration_ms = p.duration_ms;
    let c = p.classification;
    let message = p.message;
    let includes = p.models_include_smoke;
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
    ports: &Ports<'_>,
    smoke: &str,
    pending: Vec<AccountCheck>,
    concurrency: usize,
) -> Vec<AccountCheck> {
    map_bounded(&pending, concurrency, |item| {
        test_one(ports.adapter, ports.observer, smoke, item.clone())
    })
}
