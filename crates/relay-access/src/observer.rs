//! Probe records, reported as they happen so the application can persist them.

use relay_domain::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a probe exercised (the store's `probe kind` strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// The host's account test (SSE) with the smoke model.
    AccountTest,
    /// The host's model list of an account.
    AccountModels,
    /// `GET /v1/models` through the gateway with a user key.
    GatewayModels,
    /// `POST /v1/chat/completions` through the gateway with a user key.
    GatewayChat,
    /// Unauthenticated gateway reachability (`401 API_KEY_REQUIRED`).
    Reachability,
}

impl ProbeKind {
    /// The stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::AccountTest => "account_test",
            ProbeKind::AccountModels => "account_models",
            ProbeKind::GatewayModels => "gateway_models",
            ProbeKind::GatewayChat => "gateway_chat",
            ProbeKind::Reachability => "reachability",
        }
    }
}

/// One probe, as it happened (never a secret: subjects are ids, models, masks).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeRecord {
    /// Kind.
    pub kind: ProbeKind,
    /// What was probed: `account:<id>`, `key:<mask>`, `host`.
    pub subject: String,
    /// Classified outcome.
    pub verdict: Verdict,
    /// HTTP status, when there was an answer.
    pub http_status: Option<u16>,
    /// The host's message, after the redaction step ([`ProbeRecord::redacted`]).
    pub message: Option<String>,
    /// Wall time.
    pub duration_ms: Option<u64>,
    /// Extra facts (attempt number, model, …).
    pub details: Value,
}

/// Receives probe records as they happen. Infallible: an implementation that
/// persists records logs its own failures.
pub trait ProbeObserver: Send + Sync {
    /// One probe finished.
    fn probe(&self, record: ProbeRecord);
}

/// A [`ProbeObserver`] that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbeObserver;

impl ProbeObserver for NoProbeObserver {
    fn probe(&self, _record: ProbeRecord) {}
}
