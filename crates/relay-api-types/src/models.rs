//! Model-list drift: a provider's pack models against the vendor's live list, and
//! the pack change proposed from it.

use relay_domain::{BalanceCheckStatus, BalancePolicy, ModelListSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::vocab::Domain;

/// Compare a provider's models with the vendor's live list (`POST
/// /api/providers/{provider}/models/diff`, `POST /api/providers/{provider}/models/proposal`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelsDiffRequest {
    /// The host whose managed account of the provider is asked (id or name).
    pub host_id: String,
    /// The provider's pack, when the provider id exists in several packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// A vendor key for the direct probe (`GET {base}/models`), used only where the host cannot list the models (no upstream model sync, or a platform it cannot list). Sent to the vendor only; never stored, logged or returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A retired model id and the added id that likely replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModelRename {
    /// The id the pack names and the vendor no longer lists.
    pub from: String,
    /// The id the vendor lists now.
    pub to: String,
    /// Why they are taken as one model (same model family, or a pack alias).
    pub why: String,
}

/// How the pack's models compare with the vendor's live list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModelDrift {
    /// The vendor lists them, the pack does not name them.
    pub added: Vec<String>,
    /// The pack names them, the vendor does not list them.
    pub retired: Vec<String>,
    /// Retired ids with their likely successor.
    pub renamed: Vec<ModelRename>,
    /// Named by both.
    pub unchanged: Vec<String>,
}

/// One model-list drift check of a provider on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelsDiff {
    /// The host.
    pub host_id: String,
    /// The pack of the provider.
    pub pack_id: String,
    /// The provider.
    pub provider_id: String,
    /// Where the vendor's list came from.
    #[schemars(with = "Domain<ModelListSource>")]
    pub source: ModelListSource,
    /// The managed account the host listed the models for (host sync only).
    pub account_id: Option<i64>,
    /// The vendor's live model ids (sorted).
    pub upstream_models: Vec<String>,
    /// The model ids the pack names (`default_models`, then the channel mapping's upstream side).
    pub pack_models: Vec<String>,
    /// Added, retired, renamed, unchanged.
    pub drift: ModelDrift,
    /// Something was added, retired or renamed.
    pub drifted: bool,
    /// When the check ran.
    pub checked_at: i64,
    /// Calls to the vendor the check caused (through the host, or direct).
    pub vendor_calls: u32,
    /// What the check had to work around.
    pub notes: Vec<String>,
}

/// One file of a proposed pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProposedFile {
    /// Relative `/`-separated path inside the pack directory.
    pub path: String,
    /// The file's text.
    pub content: String,
}

/// A ready-to-review pack: the installed pack with the provider's models changed per the drift, the version bumped, checksums regenerated and a `PROPOSAL.md`. Nothing was installed or changed on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PackProposal {
    /// The drift check the proposal follows from.
    pub diff: ModelsDiff,
    /// The installed pack's version.
    pub version_from: String,
    /// The proposed version (minor part bumped).
    pub version_to: String,
    /// What changed, one line each.
    pub changes: Vec<String>,
    /// Every file of the proposed pack, sorted by path.
    pub files: Vec<ProposedFile>,
    /// A unified diff of `pack.json` and the provider's manifest.
    pub patch: String,
}

/// One currency's amount of a vendor balance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceAmount {
    /// ISO currency code, upper case (`CNY`, `USD`).
    pub currency: String,
    /// The amount available.
    pub amount: f64,
}

/// A vendor balance: one entry per currency, the first being the main one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VendorBalance {
    /// Per-currency amounts (the first is the main currency).
    pub entries: Vec<BalanceAmount>,
    /// The vendor's own "usable" flag, when it has one (DeepSeek `is_available`); left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
}

/// The balance threshold of a request, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceThresholdRecord {
    /// The least balance that passes.
    pub min_balance: f64,
    /// The currency compared; left out: the vendor's main currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `warn` or `refuse`.
    #[schemars(with = "Domain<BalancePolicy>")]
    pub policy: BalancePolicy,
}

/// One key's balance check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceCheckRecord {
    /// The key masked.
    pub mask: String,
    /// SHA-256 of the key (64 hex).
    pub fingerprint: String,
    /// The managed account, when the check went through the host; left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<i64>,
    /// `ok`, `below` (under the threshold, or the vendor marks the key unusable) or `unknown` (no balance route, or the read failed).
    #[schemars(with = "Domain<BalanceCheckStatus>")]
    pub status: BalanceCheckStatus,
    /// The balance read; left out when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<VendorBalance>,
    /// Why the status is `unknown`, or the comparison made; left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The test calls an operation spent; each is tiny (`max_tokens` capped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TestCallsRecord {
    /// The host's account tests.
    pub account_tests: u64,
    /// Gateway model lists with a user key.
    pub gateway_models: u64,
    /// Gateway chat completions.
    pub gateway_chats: u64,
    /// Calls to a vendor: through the host (upstream model sync, CN-provider balance) or the manager's own (balance pre-flight, direct probes).
    pub vendor_calls: u64,
    /// The sum.
    pub total: u64,
}
