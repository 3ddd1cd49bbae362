//! Batch auto-import ("URL + key", SPEC §5): the run request, runs, their items and
//! each item's event trail, and the answers of retry and cancel.

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use relay_domain::{
    ConfirmationStatus, HostAnswerClass, RetryScope, ReuseDecision, RunItemEventKind, RunItemState,
    RunState,
};

/// Starts a batch auto-import run (`POST /api/batch-import/runs`). The lines are
/// write-only: keys are kept sealed until their account exists and are never returned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRunRequest {
    /// The host (id or name).
    pub host_id: String,
    /// The pasted lines, one item per line: `<base_url> <key> [model hint…]`, fields
    /// separated by white space (or, when a line holds a tab or a comma, by tabs and
    /// commas). Blank lines and `#` comments are dropped; any other line that does not
    /// parse refuses the whole request, naming the line.
    pub lines: String,
    /// The pack whose providers the base URLs are matched against; default: the only
    /// installed pack (ad-hoc packs aside); with several installed, name one (else `400`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// Default `subscription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Domain<AccessMode>>")]
    pub access_mode: Option<AccessMode>,
    /// A base URL no provider serves becomes an ad-hoc OpenAI-compatible provider
    /// (its line needs a model hint); without it such a line fails with a clear error.
    #[serde(default)]
    pub allow_adhoc: bool,
    /// Profile each upstream first (spends a few tiny requests of each key).
    #[serde(default)]
    pub profile: bool,
    /// Subscribers besides the managed probe subscriber (subscription mode), each
    /// optionally with its own subscription validity.
    #[serde(default)]
    pub subscribers: Vec<ImportSubscriber>,
    /// Subscription validity in days; default the plan template's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    pub validity_days: Option<u32>,
}

/// Per-state counts of a run's items.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunCountsView {
    /// Items (lines) of the run.
    pub total: u64,
    /// Items not finished (`pending` or `running`).
    pub open: u64,
    /// Items `succeeded`.
    pub succeeded: u64,
    /// Items `failed`.
    pub failed: u64,
    /// Items `skipped` (a repeat of an earlier line).
    pub skipped: u64,
    /// Items `cancelled`.
    pub cancelled: u64,
}

/// The access proof of one provider at the end of a run (completion-gated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunProviderAccess {
    /// The provider.
    pub provider_id: String,
    /// The provider's access status on the host after the proof.
    #[schemars(with = "Domain<AccessStatus>")]
    pub access_status: AccessStatus,
    /// The subscription mode's proof.
    #[schemars(with = "Domain<ModeProof>")]
    pub subscription: ModeProof,
    /// The self-service mode's proof.
    #[schemars(with = "Domain<ModeProof>")]
    pub self_service: ModeProof,
    /// HTTP status of the gateway completion, when one was made.
    pub completion_status: Option<u16>,
    /// What went wrong, when the proof did not pass (no secret).
    pub message: Option<String>,
}

/// A subscriber of a run with its own subscription validity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunSubscriberValidity {
    /// The subscriber (an e-mail, or a host user id as text).
    pub subscriber: String,
    /// Its subscription validity in days.
    pub validity_days: i64,
}

/// A batch auto-import run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunView {
    /// The run id (`run_…`).
    pub run_id: String,
    /// Its state.
    #[schemars(with = "Domain<RunState>")]
    pub state: RunState,
    /// The host.
    pub host_id: String,
    /// The pack the base URLs were matched against.
    pub pack_id: String,
    /// Subscription or self-service.
    #[schemars(with = "Domain<AccessMode>")]
    pub access_mode: AccessMode,
    /// Subscribers asked for (e-mails and user ids as text).
    pub subscribers: Vec<String>,
    /// Subscription validity in days asked for.
    pub validity_days: Option<i64>,
    /// The subscribers asked for with their own validity (days), instead of
    /// `validity_days`.
    pub subscriber_validity: Vec<RunSubscriberValidity>,
    /// Ad-hoc providers allowed.
    pub allow_adhoc: bool,
    /// Upstreams profiled.
    pub profile: bool,
    /// The run's final access status (completion-gated; `not_configured` until proven).
    #[schemars(with = "Domain<AccessStatus>")]
    pub access_status: AccessStatus,
    /// The final access proof per provider (empty until the run's items finished).
    pub access: Vec<RunProviderAccess>,
    /// Item counts.
    pub counts: RunCountsView,
    /// Why the run failed or was cancelled, when it did.
    pub error: Option<String>,
    /// When it was created (ms since the epoch).
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
    /// When it ended.
    pub finished_at: Option<i64>,
}

/// One page of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<RunView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One item (one pasted line) of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunItemView {
    /// The item id (`item_…`).
    pub item_id: String,
    /// Its run.
    pub run_id: String,
    /// 1-based line of the paste.
    pub line: i64,
    /// The base URL as normalised.
    pub base_url: String,
    /// SHA-256 of the key (64 hex).
    pub fingerprint: String,
    /// The key masked (`sk-a…9f3c`).
    pub mask: String,
    /// The matched provider (`adhoc-…` for an ad-hoc one); `null` when none matched.
    pub provider_id: Option<String>,
    /// The provider is ad-hoc.
    pub adhoc: bool,
    /// The model hint as typed (key-shaped text redacted).
    pub model_hint: Option<String>,
    /// The canonical model.
    pub canonical_model: Option<String>,
    /// The correction shown (`"kimi 2.6" → "kimi-k2.6" (alias)`).
    pub model_correction: Option<String>,
    /// The upstream profile, when the run profiles (JSON; no secrets).
    pub profile: Option<serde_json::Value>,
    /// What the reuse policy decided.
    #[schemars(with = "Option<Domain<ReuseDecision>>")]
    pub reuse_decision: Option<ReuseDecision>,
    /// Why.
    pub reuse_reason: Option<String>,
    /// The host account.
    pub account_id: Option<i64>,
    /// The item's state.
    #[schemars(with = "Domain<RunItemState>")]
    pub state: RunItemState,
    /// The confirmation through the host's warm-up window.
    #[schemars(with = "Domain<ConfirmationStatus>")]
    pub confirmation_status: ConfirmationStatus,
    /// The access proof of its provider at the end of the run.
    #[schemars(with = "Domain<AccessStatus>")]
    pub access_status: AccessStatus,
    /// Confirmation attempts made.
    pub attempts: i64,
    /// When a worker takes it next (ms since the epoch).
    pub next_retry_at: i64,
    /// The worker holding it.
    pub lease_owner: Option<String>,
    /// Until when.
    pub lease_until: Option<i64>,
    /// The last error (no secret).
    pub last_error: Option<String>,
    /// Warnings to show with the item (an unknown model hint, a matching note).
    pub warnings: Vec<String>,
    /// The key is still held (sealed): the item can be worked on without pasting it again.
    pub key_held: bool,
    /// When it was created.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// One page of a run's items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunItemList {
    /// By line.
    pub items: Vec<RunItemView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One entry of an item's append-only trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunItemEventView {
    /// Sequence of the entry.
    pub id: i64,
    /// The item.
    pub item_id: String,
    /// Its run.
    pub run_id: String,
    /// When (ms since the epoch).
    pub at: i64,
    /// What happened.
    #[schemars(with = "Domain<RunItemEventKind>")]
    pub kind: RunItemEventKind,
    /// The attempt number, for attempts and retries.
    pub attempt: Option<i64>,
    /// The class of the host's answer, for attempts.
    #[schemars(with = "Option<Domain<HostAnswerClass>>")]
    pub answer_class: Option<HostAnswerClass>,
    /// The decision taken.
    pub decision: Option<String>,
    /// For people (no secret).
    pub message: Option<String>,
    /// Facts of the entry (JSON; no secrets).
    pub details: serde_json::Value,
}

/// An item's trail, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunItemEventList {
    /// The entries.
    pub events: Vec<RunItemEventView>,
}

/// Retries a run's items (`POST /api/batch-import/runs/{run_id}/retry`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRunRequest {
    /// `failed` (default): only failed items; `all`: failed and cancelled ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Domain<RetryScope>>")]
    pub scope: Option<RetryScope>,
}

/// What a retry did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetryRunView {
    /// The run after the retry.
    pub run: RunView,
    /// Items moved back to `pending`.
    pub retried: Vec<String>,
    /// Items in scope left as they are: no account and no key held any more (paste
    /// their lines again in a new run).
    pub without_key: Vec<String>,
}
