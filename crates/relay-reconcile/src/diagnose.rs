//! Upstream diagnosis (SPEC §6.2): with the operator's consent, compare what the
//! vendor says about a key directly with what the host says about it, and name
//! the cause of a failure.

use relay_core::{AccessProof, ProbeKind, ProbeRecord};
pub use relay_domain::{HostObservationSource, UpstreamClass};
use relay_domain::{Secret, Verdict};
use relay_sub2api::{
    probe_upstream, ObjectId, ProbeOutcome, ProbeResult, UpstreamCall, UpstreamProbe,
    UpstreamTimeouts, UpstreamUrlError,
};
use serde::Serialize;

use crate::accounts::AccountCheck;

/// What the host said about the key most recently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostObservation {
    /// Account test or gateway probe.
    pub source: HostObservationSource,
    /// What was probed (`account:<id>`, `key:<mask>`).
    pub subject: String,
    /// The host-side result was good: the account test passed, or the gateway proof is ready.
    pub ok: bool,
    /// HTTP status (upstream status for an account test, gateway status for a probe).
    pub http_status: Option<u16>,
    /// The host's message, verbatim.
    pub message: Option<String>,
}

impl HostObservation {
    /// From a host account test of account `account_id`.
    pub fn from_account_test(account_id: ObjectId, r: &ProbeResult) -> Self {
        HostObservation {
            source: HostObservationSource::AccountTest,
            subject: format!("account:{account_id}"),
            ok: r.outcome == ProbeOutcome::Passed,
            http_status: r.http_status,
            message: (!r.message.is_empty()).then(|| r.message.clone()),
        }
    }

    /// From a reconcile run's account result (`None` when it was not tested).
    pub fn from_account_check(c: &AccountCheck) -> Option<Self> {
        c.tested.then(|| HostObservation {
            source: HostObservationSource::AccountTest,
            subject: format!("account:{}", c.account_id),
            ok: c.outcome.is_good(),
            http_status: c.http_status,
            message: c.message.clone(),
        })
    }

    /// From a gateway proof (completion-gated).
    pub fn from_access_proof(p: &AccessProof) -> Self {
        HostObservation {
            source: HostObservationSource::GatewayProbe,
            subject: format!("key:{}", p.key_mask),
            ok: p.is_ready(),
            http_status: p.completion_status,
            message: p.message.clone(),
        }
    }

    /// From a stored probe record of kind `account_test` or `gateway_chat`
    /// (`None` for other kinds).
    pub fn from_probe_record(r: &ProbeRecord) -> Option<Self> {
        let source = match r.kind {
            ProbeKind::AccountTest => HostObservationSource::AccountTest,
            ProbeKind::GatewayChat => HostObservationSource::GatewayProbe,
            _ => return None,
        };
        Some(HostObservation {
            source,
            subject: r.subject.clone(),
            ok: r.verdict == Verdict::Passed,
            http_status: r.http_status,
            message: r.message.clone(),
        })
    }
}

/// The diagnosis of one key: the class, a sentence, the fix, and the evidence
/// (vendor statuses, codes and messages verbatim, timings; the key only as mask
/// and fingerprint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamDiagnosis {
    /// The cause, as a class (key invalid, quota exhausted, rate limited, vendor unreachable, …).
    pub class: UpstreamClass,
    /// One sentence naming the cause and its evidence.
    pub summary: String,
    /// The operator's next step for this cause, as one sentence.
    pub fix: String,
    /// The direct vendor probe with the operator's key (statuses and messages verbatim).
    pub vendor: UpstreamProbe,
    /// The host-side result compared, when one was given.
    pub host: Option<HostObservation>,
}

const QUOTA_CODES: &[&str] = &[
    "insufficient_balance",
    "insufficient_balance_error",
    "insufficient_user_quota",
    "insufficient_quota",
    "exceeded_current_quota",
    "exceeded_current_quota_error",
    "arrearage",
    "quota_exhausted",
    // MiniMax: insufficient balance, Token Plan quota exhausted / usage limit.
    "1008",
    "1028",
    "1030",
    "2056",
    // Zhipu GLM: insufficient balance or no resource package (sent with 429).
    "1113",
];

const QUOTA_WORDS: &[&str] = &[
    "insufficient balance",
    "insufficient_balance",
    "insufficient quota",
    "exceeded your current quota",
    "quota exhausted",
    "quota is not enough",
    "recharge",
    "欠费",
    "余额不足",
];

const KEY_CODES: &[&str] = &[
    "invalid_api_key",
    "invalidapikey",
    "invalid_authentication",
    "authentication_error",
    "authorized_error",
    // MiniMax native `base_resp` (sent with HTTP 200).
    "2049",
    // Tencent TokenHub.
    "401002",
];

fn lower(s: Option<&str>) -> String {
    s.unwrap_or_default().to_ascii_lowercase()
}

/// Classifies a failed vendor call (`None` when it succeeded).
pub fn classify_vendor_call(call: &UpstreamCall) -> Option<UpstreamClass> {
    if call.ok {
        return None;
    }
    let Some(status) = call.http_status else {
        return Some(UpstreamClass::UpstreamUnreachable);
    };
    let (code, kind, message) = match &call.error {
        Some(e) => (
            lower(e.code.as_deref()),
            lower(e.error_type.as_deref()),
            e.message.to_lowercase(),
        ),
        None => Default::default(),
    };
    // DashScope's per-minute throttle carries quota wording but is transient.
    if code.starts_with("throttling") || kind.starts_with("throttling") {
        return Some(UpstreamClass::UpstreamRateLimited);
    }
    let has_code = |list: &[&str]| list.iter().any(|c| *c == code || *c == kind);
    if status == 402 || has_code(QUOTA_CODES) || QUOTA_WORDS.iter().any(|w| message.contains(w)) {
        return Some(UpstreamClass::UpstreamQuotaExhausted);
    }
    if matches!(status, 401 | 403) || has_code(KEY_CODES) {
        return Some(UpstreamClass::UpstreamKeyInvalid);
    }
    if status == 429 {
        return Some(UpstreamClass::UpstreamRateLimited);
    }
    if status >= 500 {
        return Some(UpstreamClass::UpstreamUnreachable);
    }
    Some(UpstreamClass::UpstreamRejected)
}

fn describe(call: &UpstreamCall) -> String {
    if let Some(t) = &call.transport_error {
        return format!("no answer ({t})");
    }
    let status = call
        .http_status
        .map(|s| format!("HTTP {s}"))
        .unwrap_or_default();
    match &call.error {
        Some(e) => {
            let code = e
                .code
                .as_deref()
                .or(e.error_type.as_deref())
                .map(|c| format!(" {c}"))
                .unwrap_or_default();
            format!("{status}{code}: {}", e.message)
        }
        None => status,
    }
}

/// Diagnoses one key from the vendor probe and (optionally) the host's latest
/// result for the same key. The vendor's chat decides whether the vendor works;
/// its model list is advisory (some vendor surfaces have none).
pub fn diagnose(vendor: &UpstreamProbe, host: Option<&HostObservation>) -> UpstreamDiagnosis {
    let vendor_class = classify_vendor_call(&vendor.chat);
    let (class, summary, fix) = match vendor_class {
        None => match host {
            Some(h) if !h.ok => (
                UpstreamClass::HostCompatibilityGap,
                format!(
                    "the vendor completes a chat with key {} directly, but the host's {} failed ({}{})",
                    vendor.key_mask,
                    match h.source {
                        HostObservationSource::AccountTest => "account test",
                        HostObservationSource::GatewayProbe => "gateway probe",
                    },
                    h.http_status.map(|s| format!("HTTP {s}: ")).unwrap_or_default(),
                    h.message.as_deref().unwrap_or("no message"),
                ),
                "the host is at fault, not the key: run `relay reconcile` (capability repair, SPEC §7.3) and `relay doctor`; check the account's base URL and credentials.model_mapping".to_string(),
            ),
            _ => (
                UpstreamClass::Ok,
                format!(
                    "the vendor completes a chat with key {}{}",
                    vendor.key_mask,
                    if host.is_some() { ", and so does the host" } else { "; no host-side result was compared" }
                ),
                "nothing to fix".to_string(),
            ),
        },
        Some(class) => {
            let what = describe(&vendor.chat);
            let fix = match class {
                UpstreamClass::UpstreamKeyInvalid => "the vendor refuses the key: replace it (keys are region-bound: a China key fails on the global host and vice versa), then re-import".to_string(),
                UpstreamClass::UpstreamQuotaExhausted => "top up the vendor account (or move to a plan with quota), then run `relay reconcile`".to_string(),
                UpstreamClass::UpstreamRateLimited => "the vendor throttles the key: wait and retry, lower the account's concurrency, or add keys".to_string(),
                UpstreamClass::UpstreamUnreachable => format!("the vendor at {} did not answer or failed: check its status and the base URL, and retry later", vendor.endpoints.base_url),
                _ => format!("the vendor refused the request: check that model {} exists for this key and the pack's base URL", vendor.model),
            };
            (
                class,
                format!("the vendor refused key {} directly: {what}", vendor.key_mask),
                fix,
            )
        }
    };
    UpstreamDiagnosis {
        class,
        summary,
        fix,
        vendor: vendor.clone(),
        host: host.cloned(),
    }
}

/// Probes the vendor with `key` ([`probe_upstream`]) and diagnoses it against the
/// host-side result. Run only with the operator's consent: the key is sent to the
/// vendor directly. Errors when the base URL is refused (not `https://`, except
/// loopback `http://`).
pub fn diagnose_key(
    base_url: &str,
    key: &Secret,
    model: &str,
    timeouts: &UpstreamTimeouts,
    host: Option<&HostObservation>,
) -> Result<UpstreamDiagnosis, UpstreamUrlError> {
    let probe = probe_upstream(base_url, key, model, timeouts)?;
    Ok(diagnose(&probe, host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_sub2api::VendorError;

    fn call(
        status: Option<u16>,
        error_type: Option<&str>,
        code: Option<&str>,
        msg: &str,
    ) -> UpstreamCall {
        UpstreamCall {
            url: "https://x/v1/chat/completions".into(),
            http_status: status,
            ok: false,
            error: Some(VendorError {
                error_type: error_type.map(str::to_string),
                code: code.map(str::to_string),
                message: msg.into(),
            }),
            transport_error: status.is_none().then(|| "connection refused".to_string()),
            duration_ms: 1,
        }
    }

    #[test]
    fn vendor_failures_are_classified_like_the_vendors_mean_them() {
        use UpstreamClass::*;
        let cases = [
            (
                call(
                    Some(401),
                    Some("invalid_request_error"),
                    Some("invalid_api_key"),
                    "Incorrect API key provided.",
                ),
                UpstreamKeyInvalid,
            ),
            (call(Some(403), None, None, "forbidden"), UpstreamKeyInvalid),
            (
                call(Some(200), None, Some("2049"), "invalid api key"),
                UpstreamKeyInvalid,
            ),
            (
                call(
                    Some(402),
                    Some("insufficient_balance_error"),
                    Some("1008"),
                    "insufficient balance (1008)",
                ),
                UpstreamQuotaExhausted,
            ),
            // MiniMax's old Anthropic surface: HTTP 500 with 1008.
            (
                call(
                    Some(500),
                    Some("api_error"),
                    Some("1008"),
                    "insufficient balance (1008)",
                ),
                UpstreamQuotaExhausted,
            ),
            // Kimi reports an empty balance as 429.
            (
                call(
                    Some(429),
                    Some("exceeded_current_quota_error"),
                    None,
                    "Your account is suspended",
                ),
                UpstreamQuotaExhausted,
            ),
            // GLM 1113 comes with 429.
            (
                call(
                    Some(429),
                    None,
                    Some("1113"),
                    "Insufficient balance or no resource package. Please recharge.",
                ),
                UpstreamQuotaExhausted,
            ),
            // DashScope arrears: HTTP 400 Arrearage.
            (
                call(
                    Some(400),
                    Some("Arrearage"),
                    Some("Arrearage"),
                    "Access denied, please make sure your account is in good standing.",
                ),
                UpstreamQuotaExhausted,
            ),
            // new-api/one-api relays.
            (
                call(
                    Some(403),
                    None,
                    Some("insufficient_user_quota"),
                    "user quota is not enough",
                ),
                UpstreamQuotaExhausted,
            ),
            // DashScope's TPM throttle: quota wording, transient.
            (
                call(
                    Some(429),
                    Some("insufficient_quota"),
                    Some("Throttling.AllocationQuota"),
                    "You exceeded your current quota, please check your plan",
                ),
                UpstreamRateLimited,
            ),
            (
                call(
                    Some(429),
                    Some("rate_limit_error"),
                    Some("1002"),
                    "rate limit, please retry later (1002)",
                ),
                UpstreamRateLimited,
            ),
            (
                call(Some(503), None, None, "overloaded"),
                UpstreamUnreachable,
            ),
            (call(None, None, None, ""), UpstreamUnreachable),
            (
                call(
                    Some(400),
                    Some("invalid_request_error"),
                    None,
                    "Model Not Exist",
                ),
                UpstreamRejected,
            ),
        ];
        for (c, want) in cases {
            assert_eq!(classify_vendor_call(&c), Some(want), "{c:?}");
        }
        let mut ok = call(Some(200), None, None, "");
        ok.ok = true;
        ok.error = None;
        assert_eq!(classify_vendor_call(&ok), None);
    }
}
