//! Domain-level types the adapter speaks. They carry only what the product needs;
//! host wire shapes stay private in `wire`.

use std::collections::BTreeMap;
use std::time::Duration;

use relay_domain::Secret;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::time::HostTime;
use crate::vocab::{AccountStatus, ObjectStatus, Platform, ResponsesMode};

/// A host object id (the host uses int64 ids for every resource).
pub type ObjectId = i64;

// ---------------------------------------------------------------------------
// Host facts

/// Unauthenticated public settings (`GET /api/v1/settings/public`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublicSettings {
    /// Host version as reported (plain semver such as `0.1.131`), if present.
    pub version: Option<String>,
    /// Backend mode: non-admin users cannot log in.
    pub backend_mode_enabled: bool,
    /// Cloudflare Turnstile is required on login.
    pub turnstile_enabled: bool,
    /// Another captcha guards login (`tencent` or `aliyun`), when one is enabled.
    pub login_captcha: Option<String>,
    /// TOTP two-factor login is enabled on the host.
    pub totp_enabled: bool,
    /// The payment module (plans) is enabled.
    pub payment_enabled: bool,
    /// Self-registration is open.
    pub registration_enabled: bool,
}

/// What the host supports, found by read-only calls only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Group administration.
    pub groups: bool,
    /// Channel administration (newer hosts).
    pub channels: bool,
    /// Subscription plans of the payment module (newer hosts).
    pub plans: bool,
    /// Account administration.
    pub accounts: bool,
    /// Host-side account test (SSE). Present on every build with accounts; the
    /// route answers only POST, so it is inferred from the account API.
    pub account_test: bool,
    /// Per-account model list.
    pub account_models: bool,
    /// Subscription administration.
    pub subscriptions: bool,
    /// User administration.
    pub users: bool,
    /// End-user key self-service (`/api/v1/keys`, needs a user login).
    pub user_keys: bool,
    /// Gateway `POST /v1/chat/completions` exists (newer hosts).
    pub chat_completions: bool,
}

/// The admin compliance status (`GET /api/v1/admin/compliance`, readable while the
/// lock is on) for the acting admin: with an admin API key that is the host's
/// lowest-id active admin, with a login the logged-in admin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComplianceStatus {
    /// The acting admin must accept before any other admin route answers.
    pub required: bool,
    /// Version of the current commitment (e.g. `v2026.06.10`).
    pub version: String,
    /// URL of the commitment document (English).
    pub document_url: Option<String>,
    /// URL of the commitment document (Chinese).
    pub document_url_zh: Option<String>,
    /// The exact phrase an admin types to accept (English).
    pub ack_phrase: Option<String>,
    /// The exact phrase an admin types to accept (Chinese).
    pub ack_phrase_zh: Option<String>,
    /// Host user id of the admin whose acceptance is on record, when accepted.
    pub accepted_by: Option<ObjectId>,
    /// When it was accepted (RFC 3339 as sent), when accepted.
    pub accepted_at: Option<String>,
}

impl ComplianceStatus {
    /// The lock this status stands for (version and document URLs).
    pub fn lock(&self) -> crate::ComplianceLock {
        crate::ComplianceLock {
            version: Some(self.version.clone()).filter(|v| !v.is_empty()),
            document_url: self.document_url.clone(),
            document_url_zh: self.document_url_zh.clone(),
        }
    }
}

/// Result of the unauthenticated gateway check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayReachability {
    /// HTTP status of `GET /v1/models` without a key.
    pub models_status: u16,
    /// Machine code of that answer (expected `API_KEY_REQUIRED`).
    pub models_code: Option<String>,
    /// True when the gateway answered `401 API_KEY_REQUIRED`: reachable and sane.
    pub api_key_required: bool,
    /// HTTP status of `POST /v1/chat/completions` without a key.
    pub chat_status: u16,
    /// True when chat completions exist (401 without a key); false on 404.
    pub chat_completions: bool,
    /// The gateway refused with `429 INVALID_AUTH_RATE_LIMITED`: it blocks this
    /// client IP after too many failed key checks (sub2api default: 120 within
    /// 60 s, then a 60 s block; keyless calls count as failures).
    pub invalid_auth_limited: bool,
    /// The `Retry-After` of that refusal, when sent.
    pub retry_after: Option<Duration>,
}

/// Machine code of the gateway's invalid-auth limiter refusal (HTTP 429), as
/// [`GatewayError::code`] and [`GatewayReachability`] report it.
pub const INVALID_AUTH_RATE_LIMITED: &str = "INVALID_AUTH_RATE_LIMITED";

// ---------------------------------------------------------------------------
// Groups

/// A host group: what a user key may reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The group's id on the host.
    pub id: ObjectId,
    /// Name, unique on the host; the manager finds its groups by it.
    pub name: String,
    /// Description (empty when none).
    pub description: String,
    /// Platform (`openai`, `anthropic`, `gemini`, `antigravity`, …).
    pub platform: Platform,
    /// `active` or `inactive`.
    pub status: ObjectStatus,
    /// `standard` (balance billed) or `subscription`.
    pub subscription_type: String,
    /// Multiplier applied to the usage cost billed to users of the group.
    pub rate_multiplier: f64,
    /// Exclusive groups are bindable only by users listing them.
    pub is_exclusive: bool,
    /// Per-subscription daily USD limit (none = unlimited).
    pub daily_limit_usd: Option<f64>,
    /// Per-subscription weekly USD limit.
    pub weekly_limit_usd: Option<f64>,
    /// Per-subscription monthly USD limit.
    pub monthly_limit_usd: Option<f64>,
    /// Number of bound accounts, when the host reports it.
    pub account_count: Option<i64>,
}

/// Group type: how users pay for a group.
pub mod subscription_type {
    /// Balance-billed group.
    pub const STANDARD: &str = "standard";
    /// Group that requires an active subscription.
    pub const SUBSCRIPTION: &str = "subscription";
}

/// A group to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGroup {
    /// Name, unique on the host (a duplicate is refused with `GROUP_EXISTS`).
    pub name: String,
    /// Description; `None` sends none.
    pub description: Option<String>,
    /// Platform (`openai` for the vendors the product serves).
    pub platform: Platform,
    /// Billing multiplier; always sent (an omitted value is stored as 0).
    pub rate_multiplier: f64,
    /// Exclusive groups are bindable only by users that list them.
    pub is_exclusive: bool,
    /// `standard` or `subscription` (see [`subscription_type`]).
    pub subscription_type: String,
    /// Daily USD limit.
    pub daily_limit_usd: Option<f64>,
    /// Weekly USD limit.
    pub weekly_limit_usd: Option<f64>,
    /// Monthly USD limit.
    pub monthly_limit_usd: Option<f64>,
}

/// Changes to a group; `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New multiplier.
    pub rate_multiplier: Option<f64>,
    /// New exclusivity.
    pub is_exclusive: Option<bool>,
    /// New status (`active` | `inactive`).
    pub status: Option<ObjectStatus>,
    /// New type.
    pub subscription_type: Option<String>,
    /// New daily limit.
    pub daily_limit_usd: Option<f64>,
    /// New weekly limit.
    pub weekly_limit_usd: Option<f64>,
    /// New monthly limit.
    pub monthly_limit_usd: Option<f64>,
}

/// Filter for listing groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupFilter {
    /// Exact group name wanted. Sent as the host's `search` (substring, newer
    /// hosts) and then matched exactly here, so old hosts that ignore `search` work.
    pub name: Option<String>,
    /// Platform filter.
    pub platform: Option<Platform>,
}

// ---------------------------------------------------------------------------
// Channels

/// One pricing entry of a channel (prices in USD per token).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelPricing {
    /// Group platform this entry applies to.
    pub platform: Platform,
    /// Model names (a trailing `*` is a prefix wildcard).
    pub models: Vec<String>,
    /// `token` | `per_request` | `image`.
    pub billing_mode: String,
    /// Input price per token.
    pub input_price: Option<f64>,
    /// Output price per token.
    pub output_price: Option<f64>,
    /// Cache-write price per token.
    pub cache_write_price: Option<f64>,
    /// Cache-read price per token.
    pub cache_read_price: Option<f64>,
    /// Price per request.
    pub per_request_price: Option<f64>,
}

/// Channel model mapping: platform → (requested model → target model).
pub type ChannelModelMapping = BTreeMap<String, BTreeMap<String, String>>;

/// A host channel: pricing and model policy over groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// The channel's id on the host.
    pub id: ObjectId,
    /// Name, unique on the host; the manager finds its channels by it.
    pub name: String,
    /// Description (empty when none).
    pub description: String,
    /// `active` | `disabled`.
    pub status: ObjectStatus,
    /// Groups whose requests the channel's mapping and pricing apply to.
    pub group_ids: Vec<ObjectId>,
    /// Per platform: requested model name → model sent upstream.
    pub model_mapping: ChannelModelMapping,
    /// Prices of the channel's models, per platform.
    pub model_pricing: Vec<ModelPricing>,
    /// Only models in the pricing list may be served.
    pub restrict_models: bool,
    /// `requested` | `upstream` | `channel_mapped`.
    pub billing_model_source: String,
}

/// A channel to create.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewChannel {
    /// Name, unique on the host.
    pub name: String,
    /// Description; `None` sends none.
    pub description: Option<String>,
    /// Groups to bind (each group may be in one channel only).
    pub group_ids: Vec<ObjectId>,
    /// Per platform: requested model name → model sent upstream.
    pub model_mapping: ChannelModelMapping,
    /// Prices of the channel's models, per platform.
    pub model_pricing: Vec<ModelPricing>,
    /// Refuse requests for models the channel does not price.
    pub restrict_models: bool,
    /// Billing model source; host default when `None`.
    pub billing_model_source: Option<String>,
}

/// Changes to a channel; `None` leaves a field unchanged, present lists replace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChannelUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New status (`active` | `disabled`).
    pub status: Option<ObjectStatus>,
    /// Replacement group list.
    pub group_ids: Option<Vec<ObjectId>>,
    /// Replacement mapping.
    pub model_mapping: Option<ChannelModelMapping>,
    /// Replacement pricing.
    pub model_pricing: Option<Vec<ModelPricing>>,
    /// New restriction flag.
    pub restrict_models: Option<bool>,
    /// New billing model source.
    pub billing_model_source: Option<String>,
}

// ---------------------------------------------------------------------------
// Plans

/// A subscription plan of the host's payment module.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The plan's id on the host.
    pub id: ObjectId,
    /// Subscription-type group the plan grants.
    pub group_id: ObjectId,
    /// Name shown to buyers.
    pub name: String,
    /// Description shown to buyers (empty when none).
    pub description: String,
    /// Price of the plan for one validity period.
    pub price: f64,
    /// Original (strike-through) price.
    pub original_price: Option<f64>,
    /// Count of `validity_unit`s.
    pub validity_days: i64,
    /// `day` | `week` | `month`.
    pub validity_unit: String,
    /// Whether users can buy the plan now.
    pub for_sale: bool,
}

/// A plan to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlan {
    /// Subscription-type group.
    pub group_id: ObjectId,
    /// Name shown to buyers.
    pub name: String,
    /// Description shown to buyers; `None` sends none.
    pub description: Option<String>,
    /// Price (> 0).
    pub price: f64,
    /// Original (strike-through) price, if any.
    pub original_price: Option<f64>,
    /// Count of units (> 0).
    pub validity_days: i64,
    /// Unit (`day`, `week`, `month`).
    pub validity_unit: String,
    /// On sale; host default when `None`.
    pub for_sale: Option<bool>,
}

/// Changes to a plan; `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanUpdate {
    /// New group.
    pub group_id: Option<ObjectId>,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price.
    pub price: Option<f64>,
    /// New original price.
    pub original_price: Option<f64>,
    /// New unit count.
    pub validity_days: Option<i64>,
    /// New unit.
    pub validity_unit: Option<String>,
    /// New on-sale flag.
    pub for_sale: Option<bool>,
}

// ---------------------------------------------------------------------------
// Accounts

/// Credentials to send for an account. The upstream key is a [`Secret`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountCredentials {
    /// Upstream API key (`credentials.api_key`). On update, `None` keeps the
    /// stored key on hosts that merge credentials; old hosts replace the whole
    /// object, so resend it there.
    pub api_key: Option<Secret>,
    /// Upstream base URL.
    pub base_url: Option<String>,
    /// Requested model → upstream model. Non-empty acts as a whitelist.
    pub model_mapping: BTreeMap<String, String>,
    /// Any other non-secret credential keys, sent as-is.
    pub other: Map<String, Value>,
}

/// An account to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAccount {
    /// Display name (not unique on the host).
    pub name: String,
    /// Notes.
    pub notes: Option<String>,
    /// Platform (`openai`, …).
    pub platform: Platform,
    /// Account type (`apikey`, …).
    pub account_type: String,
    /// Credentials.
    pub credentials: AccountCredentials,
    /// Non-secret options (`openai_responses_mode`, …).
    pub extra: Map<String, Value>,
    /// Groups to bind.
    pub group_ids: Vec<ObjectId>,
    /// Max concurrency; `None` leaves it to the host, which stores 0 = unlimited.
    pub concurrency: Option<i64>,
    /// Scheduler priority (host default when `None`).
    pub priority: Option<i64>,
}

/// Presence of secret credential keys, as the host reports it (values are never
/// exposed; old hosts returning raw values are redacted here).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CredentialStatus {
    /// An upstream API key is stored.
    pub has_api_key: bool,
    /// Every `has_*` flag reported (or derived), by credential key name.
    pub present: BTreeMap<String, bool>,
}

/// A host account (one upstream credential).
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Host id.
    pub id: ObjectId,
    /// Name.
    pub name: String,
    /// Notes.
    pub notes: Option<String>,
    /// Platform.
    pub platform: Platform,
    /// Account type.
    pub account_type: String,
    /// `active` | `inactive` | `error`.
    pub status: AccountStatus,
    /// Host error message when `status` is `error`.
    pub error_message: Option<String>,
    /// Included in scheduling.
    pub schedulable: bool,
    /// Bound groups.
    pub group_ids: Vec<ObjectId>,
    /// `credentials.base_url`.
    pub base_url: Option<String>,
    /// `credentials.model_mapping`.
    pub model_mapping: BTreeMap<String, String>,
    /// Non-secret credential keys other than the two above (secrets removed).
    pub credentials: Map<String, Value>,
    /// Which secrets are stored.
    pub credential_status: CredentialStatus,
    /// The account's `extra` object, round-tripped.
    pub extra: Map<String, Value>,
    /// Max concurrency (0 = unlimited).
    pub concurrency: i64,
    /// Scheduler priority.
    pub priority: i64,
    /// Temporary-unschedulable end (as reported), if any.
    pub temp_unschedulable_until: Option<HostTime>,
    /// Why the host benched the account temporarily (its own text, which can quote
    /// the vendor), if it said; read it through [`Account::temp_unschedulable_cause`].
    pub temp_unschedulable_reason: Option<String>,
    /// Rate-limit reset time, if rate limited.
    pub rate_limit_reset_at: Option<HostTime>,
}

/// Why the host took an account out of service after an upstream failure, read
/// from the `error_message` it writes with `status = error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountErrorKind {
    /// The upstream answered 402 (`Payment required (402): …`) or reported an
    /// exhausted credit balance: the vendor account has no balance or quota left.
    QuotaExhausted,
    /// The upstream rejected the key with 401 (`Authentication failed (401): …`,
    /// `Chat Completions authentication failed (401): …`).
    KeyInvalid,
    /// Any other reason (403, a custom error rule, an operator's own note).
    Other,
}

/// Why the host benched an account temporarily (`temp_unschedulable_*`), typed from
/// the reason it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempUnschedulableCause {
    /// A native CN platform account (`kimi`, `zhipu`, `deepseek`) whose vendor
    /// reported an insufficient balance (a 402, or a 429 worded as such): the host
    /// benches it (reason `cn_balance_low: …`, 20 min by default) instead of putting
    /// it into `error`, and clears the bench by itself once its balance check sees
    /// the vendor account topped up. Nothing to repair on the host.
    VendorBalanceLow,
    /// Any other reason (a 403 cooldown, a transport failure, a custom rule, an
    /// operator's manual bench).
    Other,
}

/// The host's `IsCNProvider` platforms: API-key accounts on them go to the vendor
/// over Chat Completions unless `credentials.api_protocol` says otherwise, and the
/// host manages their `extra` Responses keys itself.
pub const CN_PROVIDER_PLATFORMS: &[&str] = &["kimi", "zhipu", "deepseek"];

/// `extra` key of the Responses mode.
const RESPONSES_MODE_KEY: &str = "openai_responses_mode";
/// `extra` key of the host's Responses capability flag.
const RESPONSES_SUPPORTED_KEY: &str = "openai_responses_supported";
/// `credentials` key of a native CN platform account's upstream protocol.
const API_PROTOCOL_KEY: &str = "api_protocol";

/// How the host routes an `openai` account's chat traffic, read from its `extra`
/// (`openai_responses_mode`, `openai_responses_supported`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ResponsesRoute {
    /// The Responses mode, when set.
    pub mode: Option<ResponsesMode>,
    /// The host's Responses capability flag, when it has probed (a missing flag
    /// was never probed, or was lost when `extra` was replaced).
    pub supported: Option<bool>,
}

impl ResponsesRoute {
    /// The route of an `extra` object.
    fn of(extra: &Map<String, Value>) -> Self {
        ResponsesRoute {
            mode: extra
                .get(RESPONSES_MODE_KEY)
                .and_then(Value::as_str)
                .map(ResponsesMode::parse),
            supported: extra.get(RESPONSES_SUPPORTED_KEY).and_then(Value::as_bool),
        }
    }

    /// The host's rule (`openai_compat.ShouldUseResponsesAPI`): `force_responses` →
    /// yes, `force_chat_completions` → no; any other mode (or none) defers to the
    /// capability flag, and only an explicit `false` there means no.
    pub fn takes_responses_path(&self) -> bool {
        match self.mode {
            Some(ResponsesMode::ForceResponses) => true,
            Some(ResponsesMode::ForceChatCompletions) => false,
            _ => self.supported != Some(false),
        }
    }

    /// True when the mode forces Chat Completions.
    pub fn forces_chat_completions(&self) -> bool {
        self.mode == Some(ResponsesMode::ForceChatCompletions)
    }

    /// The account field the host's capability flag lives in, as reports name it.
    pub const CAPABILITY_FIELD: &'static str = "extra.openai_responses_supported";

    /// The `extra` keys of a route forced to Chat Completions, as a JSON object
    /// (what reports show as the expected value).
    pub fn forced_chat_completions_extra() -> Value {
        Value::Object(force_chat_completions_extra(Map::new()))
    }

    /// True once the host has probed the account's Responses capability.
    pub fn probed(&self) -> bool {
        self.supported.is_some()
    }
}

/// `extra` with the Responses mode forced to Chat Completions and the capability
/// flag `false` (the other keys kept: some builds replace `extra` wholesale).
fn force_chat_completions_extra(mut extra: Map<String, Value>) -> Map<String, Value> {
    extra.insert(
        RESPONSES_MODE_KEY.into(),
        Value::String(ResponsesMode::ForceChatCompletions.as_str().into()),
    );
    extra.insert(RESPONSES_SUPPORTED_KEY.into(), Value::Bool(false));
    extra
}

/// Stable prefix of the reason the host records when it benches a CN platform
/// account for a low vendor balance (`cn_balance_low: <vendor message>`).
const CN_BALANCE_LOW_REASON_PREFIX: &str = "cn_balance_low";

/// True for the host's native CN platforms ([`CN_PROVIDER_PLATFORMS`]).
pub fn is_cn_provider_platform(platform: &str) -> bool {
    CN_PROVIDER_PLATFORMS.contains(&platform)
}

impl NewAccount {
    /// Forces the account to Chat Completions from its creation (the `extra` keys
    /// an `openai` account needs for a chat-only vendor).
    pub fn force_chat_completions(&mut self) {
        self.extra = force_chat_completions_extra(std::mem::take(&mut self.extra));
    }

    /// The Responses route its `extra` sets.
    pub fn responses_route(&self) -> ResponsesRoute {
        ResponsesRoute::of(&self.extra)
    }
}

impl AccountUpdate {
    /// The update that forces `account` back to Chat Completions: its whole
    /// `extra` with the Responses mode `force_chat_completions` and the capability
    /// flag `false` (some builds replace `extra`, so every other key is sent too).
    pub fn force_chat_completions(account: &Account) -> AccountUpdate {
        AccountUpdate {
            extra: Some(force_chat_completions_extra(account.extra.clone())),
            ..AccountUpdate::default()
        }
    }
}

impl Account {
    /// True when the host sends this account's OpenAI-format chat traffic to the
    /// upstream's Responses API.
    ///
    /// On `openai` the rule is `openai_compat.ShouldUseResponsesAPI`:
    /// `extra.openai_responses_mode` `force_responses` → yes, `force_chat_completions`
    /// → no; any other mode (or none) defers to `extra.openai_responses_supported`,
    /// and only an explicit boolean `false` there means no. A missing or non-boolean
    /// flag (never probed, or lost when `extra` was replaced) means **yes**.
    ///
    /// On the native CN platforms the host ignores `extra` and follows
    /// `credentials.api_protocol`: absent (or `chat_completions`, `anthropic`, or an
    /// unknown value) is Chat Completions; only `deepseek` with `responses` or
    /// `adaptive` reaches the vendor's `/responses`.
    pub fn takes_responses_path(&self) -> bool {
        if self.platform.is_cn_provider() {
            let protocol = self
                .credentials
                .get(API_PROTOCOL_KEY)
                .and_then(Value::as_str)
                .map(str::trim);
            return self.platform == Platform::Deepseek
                && matches!(protocol, Some("responses" | "adaptive"));
        }
        self.responses_route().takes_responses_path()
    }

    /// The account's Responses route as its `extra` sets it (meaningful on
    /// `openai`; see [`Account::takes_responses_path`] for every platform).
    pub fn responses_route(&self) -> ResponsesRoute {
        ResponsesRoute::of(&self.extra)
    }

    /// True for an `openai` account the host routes over the Responses API: the
    /// accounts the capability repair (SPEC §7.3) forces back to Chat Completions.
    pub fn is_openai_on_responses_path(&self) -> bool {
        self.platform == Platform::Openai && self.takes_responses_path()
    }

    /// Why the host has the account temporarily unschedulable, when it has (`None`
    /// when no bench end is reported). Only the reason's stable prefix is read; the
    /// rest can quote the vendor.
    pub fn temp_unschedulable_cause(&self) -> Option<TempUnschedulableCause> {
        self.temp_unschedulable_until.as_ref()?;
        let reason = self.temp_unschedulable_reason.as_deref().unwrap_or("");
        Some(
            if reason
                .trim_start()
                .strip_prefix(CN_BALANCE_LOW_REASON_PREFIX)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
            {
                TempUnschedulableCause::VendorBalanceLow
            } else {
                TempUnschedulableCause::Other
            },
        )
    }

    /// Why the host put the account into `error`, when it is there. `None` for an
    /// account not in `error`.
    pub fn error_kind(&self) -> Option<AccountErrorKind> {
        if !self.status.is_error() {
            return None;
        }
        let message = self.error_message.as_deref().unwrap_or("");
        let head = message.split(':').next().unwrap_or("").to_ascii_lowercase();
        Some(
            if head.contains("(402)") || head.starts_with("credit balance exhausted") {
                AccountErrorKind::QuotaExhausted
            } else if head.contains("(401)") {
                AccountErrorKind::KeyInvalid
            } else {
                AccountErrorKind::Other
            },
        )
    }
}

/// Changes to an account; `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountUpdate {
    /// New name.
    pub name: Option<String>,
    /// New notes.
    pub notes: Option<String>,
    /// Credentials (merged by newer hosts, replaced by old ones).
    pub credentials: Option<AccountCredentials>,
    /// The complete desired `extra` (some builds replace it wholesale).
    pub extra: Option<Map<String, Value>>,
    /// Replacement group bindings (`Some(vec![])` unbinds all).
    pub group_ids: Option<Vec<ObjectId>>,
    /// New status (`active` | `inactive`).
    pub status: Option<AccountStatus>,
    /// New concurrency (0 = unlimited on the host).
    pub concurrency: Option<i64>,
    /// New priority.
    pub priority: Option<i64>,
}

/// Filter for listing accounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountFilter {
    /// Name prefix; sent as the host's `search` and then matched as a prefix here.
    pub name_prefix: Option<String>,
    /// Only accounts bound to this group.
    pub group_id: Option<ObjectId>,
    /// Platform filter.
    pub platform: Option<Platform>,
}

/// Per-item result of a batch account create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItemResult {
    /// Name of the requested account.
    pub name: String,
    /// Host id when created.
    pub id: Option<ObjectId>,
    /// True when the host created the account.
    pub success: bool,
    /// Host error text when not created.
    pub error: Option<String>,
}

/// Result of clearing the error state of several accounts in one call
/// (`POST /api/v1/admin/accounts/batch-clear-error`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchClearResult {
    /// Number of accounts asked to clear.
    pub total: u64,
    /// Number of accounts the host cleared.
    pub cleared: u64,
    /// Accounts the host could not clear, with its error text (e.g. a missing account).
    pub failed: Vec<(ObjectId, String)>,
}

/// Result of `POST /api/v1/admin/accounts/batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchCreateResult {
    /// Number of accounts the host created.
    pub success: u64,
    /// Number of accounts the host refused.
    pub failed: u64,
    /// Per-item results, in request order.
    pub results: Vec<BatchItemResult>,
    /// The host replayed the stored answer of an earlier execution of the same
    /// `Idempotency-Key` (`X-Idempotency-Replayed`).
    pub replayed: bool,
}

/// Outcome of a host account test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Terminal `test_complete` with `success: true`.
    Passed,
    /// Terminal `error`, or the stream ended without a result.
    Failed,
}

/// Result of `POST /api/v1/admin/accounts/:id/test` (the SSE stream).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// Passed or failed.
    pub outcome: ProbeOutcome,
    /// Model actually tested (from `test_start`), if announced.
    pub model_tested: Option<String>,
    /// The host's message verbatim (the `error` text on failure; empty or the
    /// host's message on success; `stream ended without a result` when truncated).
    pub message: String,
    /// Concatenated `content` text (bounded).
    pub content_preview: String,
    /// Upstream HTTP status from the host's message (`API returned NNN` on the
    /// Responses path, `Chat Completions API (/v1/chat/completions) returned NNN` on
    /// the Chat Completions path), else the event's numeric `code`; `None` when the
    /// host got no HTTP answer (`… request failed: …`).
    pub http_status: Option<u16>,
    /// Wall time of the account test, its stream read to the end.
    pub duration: Duration,
}

/// Message used when an account-test stream closes with neither result.
pub const STREAM_ENDED_WITHOUT_RESULT: &str = "stream ended without a result";

// ---------------------------------------------------------------------------
// Users, sessions, keys, subscriptions

/// A host user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The user's id on the host.
    pub id: ObjectId,
    /// E-mail (login).
    pub email: String,
    /// Username.
    pub username: String,
    /// `user` | `admin`.
    pub role: String,
    /// `active` | `disabled`.
    pub status: ObjectStatus,
    /// Balance in USD that usage of standard groups is billed against.
    pub balance: f64,
    /// Most requests the user may have in flight at once.
    pub concurrency: i64,
    /// Groups this user may bind keys to (empty = any non-exclusive standard group).
    pub allowed_groups: Vec<ObjectId>,
}

/// A user to create (always role `user`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    /// E-mail.
    pub email: String,
    /// Password (≥ 6 characters).
    pub password: Secret,
    /// Username.
    pub username: Option<String>,
    /// Admin notes on the user; `None` sends none.
    pub notes: Option<String>,
    /// Initial balance (host default when `None`).
    pub balance: Option<f64>,
    /// Concurrency; `None` leaves it to the host, which stores 0 = unlimited.
    pub concurrency: Option<i64>,
    /// Groups the user may bind keys to (empty = any non-exclusive standard group).
    pub allowed_groups: Vec<ObjectId>,
}

/// Changes to a user; `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserUpdate {
    /// Replacement allowed groups (`Some(vec![])` clears).
    pub allowed_groups: Option<Vec<ObjectId>>,
    /// New password.
    pub password: Option<Secret>,
    /// New username.
    pub username: Option<String>,
    /// New notes.
    pub notes: Option<String>,
    /// New status (`active` | `disabled`).
    pub status: Option<ObjectStatus>,
    /// New concurrency.
    pub concurrency: Option<i64>,
}

/// How a balance change applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceOperation {
    /// Set the absolute balance.
    Set,
    /// Add to the balance.
    Add,
    /// Subtract from the balance.
    Subtract,
}

/// A balance change (`POST /api/v1/admin/users/:id/balance`).
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceChange {
    /// Amount in USD (> 0).
    pub amount: f64,
    /// Operation.
    pub operation: BalanceOperation,
    /// Notes kept in the host's balance history.
    pub notes: Option<String>,
}

/// An authenticated end-user session (from `POST /api/v1/auth/login`).
#[derive(Debug, Clone, PartialEq)]
pub struct UserSession {
    /// The user's id.
    pub user_id: ObjectId,
    /// The user's e-mail.
    pub email: String,
    /// The access token (JWT).
    pub access_token: Secret,
    /// Seconds until expiry, when reported.
    pub expires_in: Option<u64>,
}

/// Why a login did not produce a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginBlocked {
    /// Backend mode is on: only admins may log in (403).
    BackendMode {
        /// Host message.
        message: String,
    },
    /// The user has TOTP 2FA enabled (`requires_2fa`).
    TwoFactorRequired,
    /// Turnstile verification is required or failed.
    TurnstileRequired {
        /// Host message.
        message: String,
    },
    /// Another captcha provider guards login (Tencent or Aliyun captcha, or several
    /// providers enabled at once): a program cannot pass it.
    CaptchaRequired {
        /// `tencent`, `aliyun`, or `captcha` when the host names no single provider.
        provider: String,
        /// Host message.
        message: String,
    },
    /// Wrong e-mail or password (401).
    InvalidCredentials,
    /// The user is disabled.
    UserNotActive,
}

/// Result of a user login.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginOutcome {
    /// Logged in.
    LoggedIn(UserSession),
    /// Refused for a reason the operator must fix.
    Blocked(LoginBlocked),
}

/// A user API key. The key itself is a [`Secret`].
#[derive(Debug, Clone, PartialEq)]
pub struct UserKey {
    /// The key's id on the host.
    pub id: ObjectId,
    /// The user who owns the key.
    pub user_id: ObjectId,
    /// Name as it was given: the host stores key names HTML-escaped (`&` → `&amp;`,
    /// …) and the adapter reverses that.
    pub name: String,
    /// The key (`sk-…`).
    pub key: Secret,
    /// Bound group, if any.
    pub group_id: Option<ObjectId>,
    /// `active` | `inactive`.
    pub status: ObjectStatus,
}

/// A user key to create with a user session.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUserKey {
    /// Name of the key (the host stores it HTML-escaped; the adapter reverses that).
    pub name: String,
    /// The group the key is bound to, which decides what it can reach.
    pub group_id: ObjectId,
    /// Chosen key value (≥ 16 chars of `[A-Za-z0-9_-]`); host-generated when `None`.
    pub custom_key: Option<Secret>,
}

/// A user's subscription to a subscription-type group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The subscription's id on the host.
    pub id: ObjectId,
    /// The subscribed user.
    pub user_id: ObjectId,
    /// The subscription-type group it grants.
    pub group_id: ObjectId,
    /// `active` | `expired` | `suspended`.
    pub status: ObjectStatus,
    /// Start time (RFC 3339 as sent by the host).
    pub starts_at: Option<HostTime>,
    /// Expiry time (RFC 3339 as sent by the host).
    pub expires_at: Option<HostTime>,
    /// Notes.
    pub notes: Option<String>,
}

/// A subscription to assign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionAssignment {
    /// The user to subscribe.
    pub user_id: ObjectId,
    /// Subscription-type group.
    pub group_id: ObjectId,
    /// Validity in days (host default 30 when `None`).
    pub validity_days: Option<u32>,
    /// Notes (part of the host's idempotency check).
    pub notes: Option<String>,
}

/// Result of assigning a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignOutcome {
    /// Created, or the identical existing subscription (the host is idempotent).
    Assigned(Subscription),
    /// An existing subscription differs (`409 SUBSCRIPTION_ASSIGN_CONFLICT`, or
    /// `SUBSCRIPTION_ALREADY_EXISTS` on old hosts).
    Conflict {
        /// `metadata.conflict_reason` (`validity_days_mismatch`, `notes_mismatch`),
        /// or `already_exists` on old hosts.
        reason: String,
        /// Host message.
        message: String,
    },
}

/// Filter for listing subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionFilter {
    /// Only this user.
    pub user_id: Option<ObjectId>,
    /// Only this group.
    pub group_id: Option<ObjectId>,
}

// ---------------------------------------------------------------------------
// Gateway

/// A gateway error as the host reported it (any of its three shapes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatewayError {
    /// Flat middleware `code` (`API_KEY_REQUIRED`, `INVALID_API_KEY`, …).
    pub code: Option<String>,
    /// OpenAI/Anthropic `error.type` (`api_error`, `upstream_error`, …).
    pub error_type: Option<String>,
    /// OpenAI `error.code`, when present (`insufficient_user_quota`, …).
    pub error_code: Option<String>,
    /// Message, verbatim.
    pub message: String,
}

/// What a failed gateway answer means, read from its status and body shape (the
/// host's `no_account_error.go`, `mapUpstreamError`, error passthrough and key
/// middleware, as of 0.1.179).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayFailure {
    /// The key middleware refused (flat `{"code","message"}` body, or the ungrouped
    /// key's `permission_error`): bad key, balance, group.
    KeyRefused,
    /// `403 SUBSCRIPTION_NOT_FOUND`: the user has no active subscription for the
    /// group (none, expired or suspended).
    SubscriptionMissing,
    /// `503 api_error` "Service temporarily unavailable": no account could take the
    /// request now (warm-up, all accounts rate limited, benched or in `error`, or
    /// none bound). Transient while accounts come back.
    NoAvailableAccount,
    /// `404 model_not_found`: the group has accounts in service but none maps the
    /// model. Final until the configuration changes.
    ModelNotSupported,
    /// `429`: the upstream rate-limited every tried account.
    RateLimited,
    /// `502`/`503 upstream_error` (or a bare 502): every tried account failed
    /// upstream (401, 402, 403, 5xx, no answer). The body does not say which; the
    /// accounts' state does.
    UpstreamFailed,
    /// Another status with an OpenAI-style error passed through from the upstream
    /// (`400 invalid_request_error`, `404 not_found_error`, …), e.g. a vendor without
    /// `/responses` reached over the Responses API.
    UpstreamRejected,
    /// Anything else.
    Other,
}

impl GatewayError {
    /// What a failed answer with `http_status` and this body means.
    pub fn failure(&self, http_status: u16) -> GatewayFailure {
        if let Some(code) = &self.code {
            return if code == "SUBSCRIPTION_NOT_FOUND" {
                GatewayFailure::SubscriptionMissing
            } else {
                GatewayFailure::KeyRefused
            };
        }
        let kind = self.error_type.as_deref();
        match (http_status, kind) {
            (_, Some("permission_error")) => GatewayFailure::KeyRefused,
            (_, Some("model_not_found")) => GatewayFailure::ModelNotSupported,
            (429, _) | (_, Some("rate_limit_error")) => GatewayFailure::RateLimited,
            // Also a mid-stream `event: error` after a 200.
            (_, Some("upstream_error")) => GatewayFailure::UpstreamFailed,
            (502, None | Some("api_error")) => GatewayFailure::UpstreamFailed,
            (503, _) => GatewayFailure::NoAvailableAccount,
            (401, _) => GatewayFailure::KeyRefused,
            (400..=499, Some(_)) => GatewayFailure::UpstreamRejected,
            _ => GatewayFailure::Other,
        }
    }

    /// The gateway refused because this client IP is blocked for failed key checks
    /// (`429 INVALID_AUTH_RATE_LIMITED`); every call from the IP fails until the
    /// block ends, whatever the key.
    pub fn is_invalid_auth_limited(&self) -> bool {
        self.code.as_deref() == Some(INVALID_AUTH_RATE_LIMITED)
    }
}

/// Result of `GET /v1/models` with a user key. Non-2xx answers are data.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelsProbe {
    /// HTTP status of `GET /v1/models`.
    pub http_status: u16,
    /// Model ids listed (`data[].id`), empty on error.
    pub models: Vec<String>,
    /// Error, when the host refused.
    pub error: Option<GatewayError>,
    /// Wall time of the `GET /v1/models` call.
    pub duration: Duration,
}

impl ModelsProbe {
    /// What the failure means, when the call failed.
    pub fn failure(&self) -> Option<GatewayFailure> {
        self.error.as_ref().map(|e| e.failure(self.http_status))
    }

    /// True when the call succeeded and listed `model`.
    pub fn lists(&self, model: &str) -> bool {
        self.error.is_none() && self.models.iter().any(|m| m == model)
    }
}

/// A minimal chat completion to send through the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatProbeRequest {
    /// The model the completion asks for.
    pub model: String,
    /// `max_tokens` (keep tiny).
    pub max_tokens: u32,
    /// Use `stream: true`.
    pub stream: bool,
}

/// Prompt sent by every gateway chat probe.
pub const PROBE_PROMPT: &str = "reply with pong only";

/// Result of `POST /v1/chat/completions` with a user key. Non-2xx answers are data.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionProbe {
    /// HTTP status of `POST /v1/chat/completions`.
    pub http_status: u16,
    /// True when a completion came back (2xx and, when streaming, `[DONE]` or a
    /// finish with no `event: error`).
    pub ok: bool,
    /// Model echoed by the host, if any.
    pub model: Option<String>,
    /// First characters of the completion text.
    pub preview: String,
    /// Error (HTTP error body, or a mid-stream `event: error`).
    pub error: Option<GatewayError>,
    /// Wall time of the completion call, its body or stream read to the end.
    pub duration: Duration,
    /// The answer's `Retry-After` (a 429 or 503 may carry one).
    pub retry_after: Option<Duration>,
}

impl CompletionProbe {
    /// What the failure means, when no completion came back.
    pub fn failure(&self) -> Option<GatewayFailure> {
        if self.ok {
            return None;
        }
        Some(
            self.error
                .as_ref()
                .map(|e| e.failure(self.http_status))
                .unwrap_or(match self.http_status {
                    502 => GatewayFailure::UpstreamFailed,
                    503 => GatewayFailure::NoAvailableAccount,
                    429 => GatewayFailure::RateLimited,
                    _ => GatewayFailure::Other,
                }),
        )
    }
}

/// A full gateway probe: model list plus a minimal completion.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayProbe {
    /// `GET /v1/models` result.
    pub models: ModelsProbe,
    /// `POST /v1/chat/completions` result (always run, whatever the model list said).
    pub completion: CompletionProbe,
}

impl GatewayProbe {
    /// Ready means: the model is listed AND the completion succeeded.
    pub fn is_ready(&self, model: &str) -> bool {
        self.models.lists(model) && self.completion.ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn extra(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn responses_path_is_the_hosts_rule() {
        // No marker at all (never probed, or lost with a replaced `extra`): Responses.
        assert!(ResponsesRoute::of(&extra(json!({}))).takes_responses_path());
        assert!(ResponsesRoute::of(&extra(json!({"foo": 1}))).takes_responses_path());
        // A flag that is not a boolean is "unknown": Responses.
        assert!(
            ResponsesRoute::of(&extra(json!({"openai_responses_supported": "false"})))
                .takes_responses_path()
        );
        assert!(
            ResponsesRoute::of(&extra(json!({"openai_responses_supported": true})))
                .takes_responses_path()
        );
        assert!(
            !ResponsesRoute::of(&extra(json!({"openai_responses_supported": false})))
                .takes_responses_path()
        );
        // The mode wins over the flag; an unknown mode is "auto".
        assert!(!ResponsesRoute::of(&extra(json!({
            "openai_responses_supported": true,
            "openai_responses_mode": "force_chat_completions"
        })))
        .takes_responses_path());
        assert!(ResponsesRoute::of(&extra(json!({
            "openai_responses_supported": false,
            "openai_responses_mode": "force_responses"
        })))
        .takes_responses_path());
        assert!(!ResponsesRoute::of(&extra(json!({
            "openai_responses_supported": false,
            "openai_responses_mode": "auto"
        })))
        .takes_responses_path());
        assert!(
            ResponsesRoute::of(&extra(json!({"openai_responses_mode": "bogus"})))
                .takes_responses_path()
        );
    }

    fn errored(message: &str) -> Account {
        Account {
            id: 1,
            name: "a".into(),
            notes: None,
            platform: "openai".into(),
            account_type: "apikey".into(),
            status: "error".into(),
            error_message: Some(message.into()),
            schedulable: false,
            group_ids: vec![],
            base_url: None,
            model_mapping: BTreeMap::new(),
            credentials: Map::new(),
            credential_status: CredentialStatus::default(),
            extra: Map::new(),
            concurrency: 0,
            priority: 1,
            temp_unschedulable_until: None,
            temp_unschedulable_reason: None,
            rate_limit_reset_at: None,
        }
    }

    #[test]
    fn cn_platform_accounts_follow_their_api_protocol_not_extra() {
        let mut a = errored("x");
        a.status = "active".into();
        a.platform = "deepseek".into();
        // Whatever `extra` says (the host writes `auto` + `false` itself).
        for e in [
            json!({}),
            json!({"openai_responses_supported": true}),
            json!({"openai_responses_mode": "force_responses"}),
        ] {
            a.extra = extra(e);
            assert!(!a.takes_responses_path(), "{:?}", a.extra);
        }
        a.credentials
            .insert("api_protocol".into(), json!("responses"));
        assert!(a.takes_responses_path());
        a.credentials
            .insert("api_protocol".into(), json!("adaptive"));
        assert!(a.takes_responses_path());
        // Only DeepSeek has a native /responses.
        a.platform = "kimi".into();
        assert!(!a.takes_responses_path());
        a.platform = "zhipu".into();
        a.credentials
            .insert("api_protocol".into(), json!("responses"));
        assert!(!a.takes_responses_path());
        // `openai` keeps the extra rule.
        a.platform = "openai".into();
        a.extra = extra(json!({}));
        assert!(a.takes_responses_path());
        assert!(is_cn_provider_platform("zhipu") && !is_cn_provider_platform("openai"));
    }

    #[test]
    fn temp_unschedulable_causes_follow_the_hosts_reasons() {
        let mut a = errored("x");
        a.status = "active".into();
        a.temp_unschedulable_reason = Some("cn_balance_low: Insufficient Balance".into());
        // No bench end reported: not benched, whatever the stale reason says.
        assert_eq!(a.temp_unschedulable_cause(), None);
        a.temp_unschedulable_until = Some("2026-12-04T21:50:06.982773Z".into());
        assert_eq!(
            a.temp_unschedulable_cause(),
            Some(TempUnschedulableCause::VendorBalanceLow)
        );
        for (reason, cause) in [
            // The host's fallback text when the vendor gave no message.
            (
                "cn_balance_low: 余额不足，账号临时停调",
                TempUnschedulableCause::VendorBalanceLow,
            ),
            // Its periodic balance check.
            (
                "cn_balance_low: 余额 0.5 CNY 低于阈值 1.00",
                TempUnschedulableCause::VendorBalanceLow,
            ),
            ("cn_balance_low", TempUnschedulableCause::VendorBalanceLow),
            ("cn_balance_lowish: x", TempUnschedulableCause::Other),
            (
                "OpenAI 403 temporary cooldown (1/3): Access forbidden (403): no",
                TempUnschedulableCause::Other,
            ),
            // A vendor message quoting the prefix is not the host's reason.
            (
                "upstream transport error: cn_balance_low",
                TempUnschedulableCause::Other,
            ),
            ("", TempUnschedulableCause::Other),
        ] {
            a.temp_unschedulable_reason = Some(reason.into());
            assert_eq!(a.temp_unschedulable_cause(), Some(cause), "{reason}");
        }
        a.temp_unschedulable_reason = None;
        assert_eq!(
            a.temp_unschedulable_cause(),
            Some(TempUnschedulableCause::Other)
        );
    }

    fn gw(status: u16, body: Value) -> GatewayFailure {
        let e = GatewayError {
            code: body["code"].as_str().map(str::to_string),
            error_type: body["error"]["type"].as_str().map(str::to_string),
            error_code: None,
            message: String::new(),
        };
        e.failure(status)
    }

    #[test]
    fn gateway_failures_of_the_real_host() {
        use GatewayFailure::*;
        let oa = |t: &str| json!({"error": {"type": t, "message": "m"}});
        assert_eq!(gw(503, oa("api_error")), NoAvailableAccount);
        assert_eq!(gw(404, oa("model_not_found")), ModelNotSupported);
        assert_eq!(gw(429, oa("rate_limit_error")), RateLimited);
        assert_eq!(gw(502, oa("upstream_error")), UpstreamFailed);
        assert_eq!(gw(503, oa("upstream_error")), UpstreamFailed);
        assert_eq!(gw(200, oa("upstream_error")), UpstreamFailed);
        assert_eq!(gw(502, oa("api_error")), UpstreamFailed);
        assert_eq!(gw(404, oa("not_found_error")), UpstreamRejected);
        assert_eq!(gw(400, oa("invalid_request_error")), UpstreamRejected);
        assert_eq!(
            gw(
                403,
                json!({"code": "SUBSCRIPTION_NOT_FOUND", "message": "m"})
            ),
            SubscriptionMissing
        );
        assert_eq!(
            gw(401, json!({"code": "INVALID_API_KEY", "message": "m"})),
            KeyRefused
        );
        assert_eq!(
            gw(
                403,
                json!({"type": "error", "error": {"type": "permission_error", "message": "m"}})
            ),
            KeyRefused
        );
        assert_eq!(gw(500, json!({})), Other);
    }

    #[test]
    fn error_kinds_follow_the_hosts_messages() {
        use AccountErrorKind::*;
        for (m, k) in [
            (
                "Payment required (402): Insufficient Balance",
                QuotaExhausted,
            ),
            (
                "Payment required (402): insufficient balance or billing issue",
                QuotaExhausted,
            ),
            (
                "Workspace deactivated (402): workspace has been deactivated",
                QuotaExhausted,
            ),
            ("Credit balance exhausted (400): low", QuotaExhausted),
            (
                "Authentication failed (401): Incorrect API key provided.",
                KeyInvalid,
            ),
            (
                "Chat Completions authentication failed (401): {\"error\":{}}",
                KeyInvalid,
            ),
            ("Access forbidden (403): no", Other),
            ("maintenance", Other),
            // A status quoted in the upstream body is not the host's reason.
            ("Custom error code 500: upstream said (402)", Other),
        ] {
            assert_eq!(errored(m).error_kind(), Some(k), "{m}");
        }
        let mut active = errored("Payment required (402): x");
        active.status = "active".into();
        assert_eq!(active.error_kind(), None);
    }
}

/// The host's balance read of one CN-provider account
/// (`GET /api/v1/admin/cn-providers/accounts/:id/balance`): the host asks the
/// vendor with the stored key and answers what it found.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBalance {
    /// The balance, when the vendor answered one.
    pub balance: Option<relay_domain::Balance>,
    /// The vendor's HTTP status, when the host got one.
    pub vendor_status: Option<u16>,
    /// Why no balance was read (the host's redacted text), when it failed.
    pub error: Option<String>,
}

/// The credentials of an upstream model sync without an account
/// (`POST /api/v1/admin/accounts/models/sync-upstream-preview`).
#[derive(Clone, PartialEq)]
pub struct UpstreamModelsPreview {
    /// Platform (`openai`, `deepseek`, …).
    pub platform: Platform,
    /// Account type (`apikey`).
    pub account_type: String,
    /// The vendor's base URL (empty: the platform's default).
    pub base_url: String,
    /// The vendor key (sent once, never kept).
    pub api_key: relay_domain::Secret,
}

impl std::fmt::Debug for UpstreamModelsPreview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamModelsPreview")
            .field("platform", &self.platform)
            .field("account_type", &self.account_type)
            .field("base_url", &self.base_url)
            .field("api_key", &"***")
            .finish()
    }
}
