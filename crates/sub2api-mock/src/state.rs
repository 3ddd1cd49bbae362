//! The in-memory host state and the DTO renderings of its objects.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use crate::faults::{Faults, HostKnobs};
use crate::util::{now_ms, rfc3339, rfc3339_secs, sha256_hex};

/// Default lifetime of a cached `/v1/models` list. The real host keeps it 15 s
/// (`gateway.models_list_cache_ttl_seconds`, 10–30 allowed, 15 by default); the mock
/// defaults to 2 s so a probe right after a change still meets a stale list (callers
/// must tolerate it) without making every test wait 15 s. Set 15000 for the host's
/// value.
pub const DEFAULT_MODELS_CACHE_TTL_MS: u64 = 2000;

/// `sk-ab…9f3c`-style mask of a secret.
pub(crate) fn mask_secret(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 10 {
        return "…".to_string();
    }
    let head: String = chars[..5].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Credential keys the host never returns in account responses (the host's
/// `SensitiveCredentialKeys`, `account_credentials_redact.go`).
pub(crate) const SENSITIVE_CREDENTIAL_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "agent_private_key",
    "api_key",
    "session_key",
    "cookie",
    "password",
    "sso_token",
    "sso",
    "sso-rw",
    "clearTextPassword",
    "aws_secret_access_key",
    "aws_session_token",
    "service_account_json",
    "service_account",
    "private_key",
];

/// A group (`/api/v1/admin/groups`).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub platform: String,
    pub rate_multiplier: f64,
    pub is_exclusive: bool,
    pub status: String,
    pub subscription_type: String,
    pub five_hour_limit_usd: Option<f64>,
    pub daily_limit_usd: Option<f64>,
    pub weekly_limit_usd: Option<f64>,
    pub monthly_limit_usd: Option<f64>,
    pub claude_code_only: bool,
    pub fallback_group_id: Option<i64>,
    pub rpm_limit: i64,
    pub sort_order: i64,
    pub model_routing: Map<String, Value>,
    pub model_routing_enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A channel (`/api/v1/admin/channels`).
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub status: String,
    pub billing_model_source: String,
    pub restrict_models: bool,
    pub features: String,
    pub features_config: Map<String, Value>,
    pub group_ids: Vec<i64>,
    pub model_pricing: Vec<Value>,
    pub model_mapping: Map<String, Value>,
    pub apply_pricing_to_account_stats: bool,
    pub account_stats_pricing_rules: Vec<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A payment plan (`/api/v1/admin/payment/plans`).
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub id: i64,
    pub group_id: i64,
    pub name: String,
    pub description: String,
    pub price: f64,
    pub original_price: f64,
    pub validity_days: i64,
    pub validity_unit: String,
    pub features: String,
    pub product_name: String,
    pub for_sale: bool,
    pub sort_order: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Temporary-unschedulable state of an account.
#[derive(Debug, Clone)]
pub(crate) struct TempUnsched {
    pub until_ms: i64,
    pub triggered_at_ms: i64,
    pub status_code: i64,
    pub matched_keyword: String,
    pub rule_index: i64,
    pub error_message: String,
}

/// An upstream account (`/api/v1/admin/accounts`).
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: i64,
    pub name: String,
    pub notes: Option<String>,
    pub platform: String,
    pub kind: String,
    pub credentials: Map<String, Value>,
    pub extra: Map<String, Value>,
    pub proxy_id: Option<i64>,
    pub concurrency: i64,
    pub priority: i64,
    pub rate_multiplier: f64,
    pub load_factor: Option<i64>,
    pub status: String,
    pub error_message: String,
    pub schedulable: bool,
    pub expires_at: Option<i64>,
    pub auto_pause_on_expired: bool,
    pub group_ids: Vec<i64>,
    pub temp_unsched: Option<TempUnsched>,
    pub rate_limited_at: Option<i64>,
    pub rate_limit_reset_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub tested: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The host's native CN platforms (`IsCNProvider`: kimi, zhipu, deepseek).
pub(crate) const CN_PROVIDERS: &[&str] = &["kimi", "zhipu", "deepseek"];

/// First release with the native CN platforms (upstream commit 901a0439f).
pub(crate) const CN_PLATFORMS_SINCE: (u64, u64, u64) = (0, 1, 178);

/// True for a native CN platform.
pub(crate) fn is_cn_provider(platform: &str) -> bool {
    CN_PROVIDERS.contains(&platform)
}

impl Account {
    /// The account's upstream API key, if any.
    pub fn api_key(&self) -> Option<&str> {
        self.credentials.get("api_key").and_then(Value::as_str)
    }

    /// The account's upstream base URL (empty when unset).
    pub fn base_url(&self) -> &str {
        self.credentials
            .get("base_url")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `credentials.model_mapping` as pairs (requested → upstream).
    pub fn model_mapping(&self) -> Vec<(String, String)> {
        match self.credentials.get("model_mapping") {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or(k).to_string()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Maps a requested model through `model_mapping`; `None` when the mapping
    /// is non-empty and does not cover the model.
    pub fn map_model(&self, model: &str) -> Option<String> {
        let mapping = self.model_mapping();
        if mapping.is_empty() {
            return Some(model.to_string());
        }
        if let Some((_, v)) = mapping.iter().find(|(k, _)| k == model) {
            return Some(v.clone());
        }
        mapping
            .iter()
            .filter(|(k, _)| k.ends_with('*') && model.starts_with(&k[..k.len() - 1]))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, v)| {
                if v.ends_with('*') {
                    model.to_string()
                } else {
                    v.clone()
                }
            })
    }

    /// An account of the host's native CN platforms (`IsCNProvider`).
    pub fn is_cn_provider(&self) -> bool {
        is_cn_provider(&self.platform)
    }

    /// An API-key account the OpenAI gateway serves (`openai` or a native CN
    /// platform): tested and forwarded over Chat Completions or Responses.
    pub fn is_openai_family_key(&self) -> bool {
        self.kind == "apikey" && (self.platform == "openai" || self.is_cn_provider())
    }

    /// A native CN platform account whose `credentials.api_protocol` sends it to the
    /// vendor's own `/responses` (DeepSeek `responses` or `adaptive`; the host's
    /// `GetAPIProtocol`, which ignores `responses` on Kimi and GLM).
    fn cn_native_responses(&self) -> bool {
        let protocol = self
            .credentials
            .get("api_protocol")
            .and_then(Value::as_str)
            .map(str::trim);
        self.platform == "deepseek" && matches!(protocol, Some("responses" | "adaptive"))
    }

    /// Whether the account sends OpenAI traffic to the upstream's Responses API: the
    /// host's `ShouldUseResponsesAPI` — the mode `force_responses` / `force_chat_completions`
    /// wins; otherwise only an explicit boolean `openai_responses_supported: false`
    /// means Chat Completions. No marker (never probed, or lost with a replaced
    /// `extra`) means Responses. Native CN platform accounts ignore `extra` and follow
    /// `credentials.api_protocol` (absent = Chat Completions).
    pub fn uses_responses_path(&self) -> bool {
        if self.is_cn_provider() {
            return self.cn_native_responses();
        }
        match self
            .extra
            .get("openai_responses_mode")
            .and_then(Value::as_str)
        {
            Some("force_chat_completions") => false,
            Some("force_responses") => true,
            _ => {
                self.extra
                    .get("openai_responses_supported")
                    .and_then(Value::as_bool)
                    != Some(false)
            }
        }
    }

    /// The host's `ResponsesSupportUnknown`: no usable mode and no boolean flag. The
    /// gateway then falls back to raw Chat Completions when `/responses` answers
    /// 404/405 (the account test does not).
    pub fn responses_support_unknown(&self) -> bool {
        if self.is_cn_provider() {
            return false;
        }
        let mode = self
            .extra
            .get("openai_responses_mode")
            .and_then(Value::as_str);
        !matches!(mode, Some("force_chat_completions" | "force_responses"))
            && self
                .extra
                .get("openai_responses_supported")
                .and_then(Value::as_bool)
                .is_none()
    }

    /// Whether a rate limit set by an upstream 429 is in force.
    pub fn rate_limited(&self, now: i64) -> bool {
        self.rate_limit_reset_at.is_some_and(|t| t > now)
    }

    /// Whether the temporary-unschedulable window is in force.
    pub fn temp_unsched_active(&self, now: i64) -> bool {
        self.temp_unsched.as_ref().is_some_and(|t| t.until_ms > now)
    }
}

/// A user (`/api/v1/admin/users`).
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub password: String,
    pub role: String,
    pub balance: f64,
    pub concurrency: i64,
    pub status: String,
    pub allowed_groups: Vec<i64>,
    pub notes: String,
    pub rpm_limit: i64,
    pub token_version: i64,
    pub last_active_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A user API key (`/api/v1/keys`).
#[derive(Debug, Clone)]
pub(crate) struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub key: String,
    pub name: String,
    pub group_id: Option<i64>,
    pub status: String,
    pub ip_whitelist: Vec<Value>,
    pub ip_blacklist: Vec<Value>,
    pub quota: f64,
    pub quota_used: f64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A user subscription (`/api/v1/admin/subscriptions`).
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub id: i64,
    pub user_id: i64,
    pub group_id: i64,
    pub starts_at: i64,
    pub expires_at: i64,
    pub status: String,
    pub notes: String,
    pub assigned_by: Option<i64>,
    pub assigned_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set by a revoke: the host soft-deletes the row; its lists without a status
    /// filter still show it (status `revoked`), everything else ignores it.
    pub revoked_at: Option<i64>,
}

impl Subscription {
    /// Revoked (`DELETE /subscriptions/:id`): soft-deleted, listed only by the admin
    /// list with status `revoked`.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Effective status: `revoked` once revoked; an `active` subscription past
    /// `expires_at` is `expired`.
    pub fn effective_status(&self, now: i64) -> &str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.status == "active" && self.expires_at <= now {
            "expired"
        } else {
            &self.status
        }
    }
}

/// A cached `/v1/models` list: expiry (ms) and the list (`None` = platform defaults).
pub(crate) type CachedModels = (i64, Option<Vec<String>>);

/// The gateway's invalid-auth limiter for the (single, loopback) client.
#[derive(Debug, Clone, Default)]
pub(crate) struct InvalidAuth {
    pub failures: u32,
    pub window_start_ms: i64,
    pub blocked_until_ms: i64,
}

/// Everything the host knows, behind one mutex.
#[derive(Debug)]
pub(crate) struct State {
    pub admin_api_key: String,
    pub admin_email: String,
    pub admin_password: String,
    pub host_version: String,
    pub token_secret: String,
    pub faults: Faults,
    /// Host settings (idempotency enforcement, limiter thresholds).
    pub policy: crate::policy::HostPolicy,
    pub knobs: HostKnobs,
    /// Admins (user ids) who accepted the current compliance commitment while
    /// `knobs.compliance_required` is on.
    pub compliance_accepted: BTreeMap<i64, i64>,
    pub invalid_auth: InvalidAuth,
    /// Start of the mock (stands for the time the seeded admin accepted).
    pub started_ms: i64,
    /// Absolute admin-call number that answers 500 (derived from `faults.fail_nth_admin_call`).
    pub fail_at: Option<u64>,
    pub admin_calls: u64,
    /// Admin calls being served now (from the fault check to the answer).
    pub admin_in_flight: u32,
    /// The most admin calls served at once.
    pub admin_in_flight_peak: u32,
    /// Admin calls refused by `faults.max_concurrent_admin`.
    pub admin_concurrency_refused: u64,
    pub counters: BTreeMap<String, u64>,
    next_ids: HashMap<&'static str, i64>,
    pub groups: BTreeMap<i64, Group>,
    pub channels: BTreeMap<i64, Channel>,
    pub plans: BTreeMap<i64, Plan>,
    pub accounts: BTreeMap<i64, Account>,
    pub users: BTreeMap<i64, User>,
    pub keys: BTreeMap<i64, ApiKey>,
    pub subscriptions: BTreeMap<i64, Subscription>,
    pub idempotency: crate::idempotency::Records,
    pub limits: crate::limits::Limits,
    pub refresh_tokens: HashMap<String, i64>,
    /// Every JWT issued (login, refresh), for [`State::secrets`].
    pub issued_tokens: Vec<String>,
    pub seq: u64,
    /// The gateway's `/v1/models` cache per (group, platform): expiry (ms) and the
    /// cached list (`None` = the platform defaults, cached like the host does).
    pub models_cache: HashMap<(i64, String), CachedModels>,
    /// Lifetime (ms) of a cached `/v1/models` list; 0 disables the cache.
    pub models_cache_ttl_ms: u64,
}

impl State {
    /// Fresh state with the seeded admin user (id 1).
    pub fn new(
        admin_api_key: &str,
        admin_email: &str,
        admin_password: &str,
        host_version: &str,
        faults: Faults,
    ) -> State {
        let mut st = State {
            admin_api_key: admin_api_key.to_string(),
            admin_email: admin_email.to_string(),
            admin_password: admin_password.to_string(),
            host_version: host_version.to_string(),
            token_secret: sha256_hex(
                format!("token-secret:{admin_api_key}:{}", now_ms()).as_bytes(),
            ),
            faults: Faults::default(),
            policy: crate::policy::HostPolicy::default(),
            knobs: HostKnobs::default(),
            compliance_accepted: BTreeMap::new(),
            invalid_auth: InvalidAuth::default(),
            started_ms: now_ms(),
            fail_at: None,
            admin_calls: 0,
            admin_in_flight: 0,
            admin_in_flight_peak: 0,
            admin_concurrency_refused: 0,
            counters: BTreeMap::new(),
            next_ids: HashMap::new(),
            groups: BTreeMap::new(),
            channels: BTreeMap::new(),
            plans: BTreeMap::new(),
            accounts: BTreeMap::new(),
            users: BTreeMap::new(),
            keys: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            idempotency: HashMap::new(),
            limits: crate::limits::Limits::default(),
            refresh_tokens: HashMap::new(),
            issued_tokens: Vec::new(),
            seq: 0,
            models_cache: HashMap::new(),
            models_cache_ttl_ms: DEFAULT_MODELS_CACHE_TTL_MS,
        };
        st.set_faults(faults);
        let now = now_ms();
        let id = st.next_id("user");
        st.users.insert(
            id,
            User {
                id,
                email: admin_email.to_string(),
                username: "admin".to_string(),
                password: admin_password.to_string(),
                role: "admin".to_string(),
                balance: 0.0,
                concurrency: 5,
                status: "active".to_string(),
                allowed_groups: Vec::new(),
                notes: String::new(),
                rpm_limit: 0,
                token_version: 0,
                last_active_at: None,
                created_at: now,
                updated_at: now,
            },
        );
        st
    }

    /// A fresh state with the same seed and current fault and host knobs.
    pub fn reset_from(old: &State) -> State {
        let mut st = State::new(
            &old.admin_api_key,
            &old.admin_email,
            &old.admin_password,
            &old.host_version,
            old.faults.clone(),
        );
        st.models_cache_ttl_ms = old.models_cache_ttl_ms;
        st.policy = old.policy.clone();
        st.set_knobs(old.knobs.clone());
        st
    }

    /// Replaces the gate knobs. Turning `compliance_required` on forgets every
    /// acceptance (like an upgrade to a new commitment version); changing the
    /// invalid-auth threshold resets the limiter.
    pub fn set_knobs(&mut self, knobs: HostKnobs) {
        if knobs.compliance_required && !self.knobs.compliance_required {
            self.compliance_accepted.clear();
        }
        if knobs.invalid_auth_threshold != self.knobs.invalid_auth_threshold {
            self.invalid_auth = InvalidAuth::default();
        }
        self.knobs = knobs;
    }

    /// Whether this build has the native CN platforms (`kimi`, `zhipu`, `deepseek`;
    /// upstream since ≈0.1.178): not with the `old_build` knob, nor when the reported
    /// version is older (an unparsable version counts as new).
    pub fn has_cn_platforms(&self) -> bool {
        if self.knobs.old_build {
            return false;
        }
        let v = self.host_version.trim().trim_start_matches(['v', 'V']);
        let parts: Vec<u64> = v
            .split(['.', '-', '+'])
            .take(3)
            .map_while(|p| p.parse().ok())
            .collect();
        match parts.as_slice() {
            [major, minor, patch] => (*major, *minor, *patch) >= CN_PLATFORMS_SINCE,
            _ => true,
        }
    }

    /// Whether `admin_id` may use the admin API (compliance accepted, or the gate off).
    pub fn compliance_ok(&self, admin_id: i64) -> bool {
        !self.knobs.compliance_required || self.compliance_accepted.contains_key(&admin_id)
    }

    /// Replaces the fault knobs; `fail_nth_admin_call` counts from now.
    pub fn set_faults(&mut self, faults: Faults) {
        if let Some(v) = faults.host_version.as_ref().filter(|v| !v.is_empty()) {
            self.host_version = v.clone();
        }
        self.fail_at = faults
            .fail_nth_admin_call
            .filter(|n| *n > 0)
            .map(|n| self.admin_calls + n);
        self.faults = faults;
    }

    /// Next sequential id for a kind of object.
    pub fn next_id(&mut self, kind: &'static str) -> i64 {
        let e = self.next_ids.entry(kind).or_insert(0);
        *e += 1;
        *e
    }

    /// A monotonically increasing counter for unique token material.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The lowest-id active admin user (the principal of admin-key calls).
    pub fn first_admin_id(&self) -> Option<i64> {
        self.users
            .values()
            .find(|u| u.role == "admin" && u.status == "active")
            .map(|u| u.id)
    }

    /// The channel a group belongs to, if any.
    pub fn channel_of_group(&self, group_id: i64) -> Option<&Channel> {
        self.channels
            .values()
            .find(|c| c.group_ids.contains(&group_id))
    }

    /// The latest subscription of a user for a group that is not revoked (revoked
    /// ones are soft-deleted on the host).
    pub fn subscription_for(&self, user_id: i64, group_id: i64) -> Option<&Subscription> {
        self.subscriptions
            .values()
            .filter(|s| s.user_id == user_id && s.group_id == group_id && !s.is_revoked())
            .max_by_key(|s| s.id)
    }

    // ---------- DTOs ----------

    /// Base `Group` DTO.
    pub fn group_dto(&self, g: &Group) -> Value {
        json!({
            "id": g.id,
            "name": g.name,
            "description": g.description,
            "platform": g.platform,
            "rate_multiplier": g.rate_multiplier,
            "is_exclusive": g.is_exclusive,
            "status": g.status,
            "subscription_type": g.subscription_type,
            "five_hour_limit_usd": g.five_hour_limit_usd,
            "daily_limit_usd": g.daily_limit_usd,
            "weekly_limit_usd": g.weekly_limit_usd,
            "monthly_limit_usd": g.monthly_limit_usd,
            "allow_image_generation": false,
            "image_rate_independent": false,
            "image_rate_multiplier": null,
            "image_price_1k": null,
            "image_price_2k": null,
            "image_price_4k": null,
            "claude_code_only": g.claude_code_only,
            "fallback_group_id": g.fallback_group_id,
            "fallback_group_id_on_invalid_request": null,
            "allow_messages_dispatch": false,
            "require_oauth_only": false,
            "require_privacy_set": false,
            "rpm_limit": g.rpm_limit,
            "created_at": rfc3339(g.created_at),
            "updated_at": rfc3339(g.updated_at),
        })
    }

    /// `AdminGroup` DTO (base plus admin-only and computed fields).
    pub fn admin_group_dto(&self, g: &Group) -> Value {
        let now = now_ms();
        let bound: Vec<&Account> = self
            .accounts
            .values()
            .filter(|a| a.group_ids.contains(&g.id))
            .collect();
        let active = bound
            .iter()
            .filter(|a| a.status == "active" && a.schedulable)
            .count();
        let limited = bound
            .iter()
            .filter(|a| a.rate_limit_reset_at.is_some_and(|t| t > now))
            .count();
        let account_groups: Vec<Value> = bound
            .iter()
            .map(|a| json!({"account_id": a.id, "group_id": g.id, "priority": a.priority, "created_at": rfc3339(a.created_at)}))
            .collect();
        let mut v = self.group_dto(g);
        let o = v.as_object_mut().expect("object");
        o.insert(
            "model_routing".into(),
            Value::Object(g.model_routing.clone()),
        );
        o.insert(
            "model_routing_enabled".into(),
            json!(g.model_routing_enabled),
        );
        o.insert("mcp_xml_inject".into(), json!(false));
        o.insert("default_mapped_model".into(), json!(""));
        o.insert("messages_dispatch_model_config".into(), json!({}));
        o.insert("models_list_config".into(), json!({}));
        o.insert("supported_model_scopes".into(), json!([]));
        o.insert("account_groups".into(), json!(account_groups));
        o.insert("account_count".into(), json!(bound.len()));
        o.insert("active_account_count".into(), json!(active));
        o.insert("rate_limited_account_count".into(), json!(limited));
        o.insert("sort_order".into(), json!(g.sort_order));
        v
    }

    /// Channel DTO (times without fraction).
    pub fn channel_dto(&self, c: &Channel) -> Value {
        json!({
            "id": c.id,
            "name": c.name,
            "description": c.description,
            "status": c.status,
            "billing_model_source": c.billing_model_source,
            "restrict_models": c.restrict_models,
            "features": c.features,
            "features_config": c.features_config,
            "group_ids": c.group_ids,
            "model_pricing": c.model_pricing,
            "model_mapping": c.model_mapping,
            "apply_pricing_to_account_stats": c.apply_pricing_to_account_stats,
            "account_stats_pricing_rules": c.account_stats_pricing_rules,
            "created_at": rfc3339_secs(c.created_at),
            "updated_at": rfc3339_secs(c.updated_at),
        })
    }

    /// Plan entity JSON (zero-valued fields omitted, like the ORM's omitempty tags).
    /// A plan as create and update answer it: the stored row, zero values omitted.
    pub fn plan_row(&self, p: &Plan) -> Value {
        let full = self.plan_dto(p);
        let mut o = Map::new();
        for (k, v) in full.as_object().into_iter().flatten() {
            let zero = match v {
                Value::String(s) => s.is_empty(),
                Value::Bool(b) => !b,
                Value::Number(n) => n.as_f64() == Some(0.0),
                Value::Null => true,
                _ => false,
            };
            let joined = matches!(
                k.as_str(),
                "group_name" | "group_platform" | "rate_multiplier"
            );
            if !zero && !joined {
                o.insert(k.clone(), v.clone());
            }
        }
        Value::Object(o)
    }

    /// A plan as the plan list answers it (0.1.179): every field present (zero
    /// values included), the group's name, platform and multiplier beside its id,
    /// `original_price` only when set.
    pub fn plan_dto(&self, p: &Plan) -> Value {
        let group = self.groups.get(&p.group_id);
        let mut v = json!({
            "id": p.id,
            "group_id": p.group_id,
            "group_name": group.map(|g| g.name.clone()).unwrap_or_default(),
            "group_platform": group.map(|g| g.platform.clone()).unwrap_or_default(),
            "rate_multiplier": group.map(|g| g.rate_multiplier).unwrap_or(1.0),
            "name": p.name,
            "description": p.description,
            "price": p.price,
            "validity_days": p.validity_days,
            "validity_unit": p.validity_unit,
            "features": p.features,
            "product_name": p.product_name,
            "for_sale": p.for_sale,
            "sort_order": p.sort_order,
            "created_at": rfc3339(p.created_at),
            "updated_at": rfc3339(p.updated_at),
        });
        if p.original_price != 0.0 {
            v["original_price"] = json!(p.original_price);
        }
        v
    }

    /// Account DTO with redacted credentials and `credentials_status`.
    pub fn account_dto(&self, a: &Account) -> Value {
        let now = now_ms();
        let mut creds = Map::new();
        let mut status = Map::new();
        for (k, v) in &a.credentials {
            if SENSITIVE_CREDENTIAL_KEYS.contains(&k.as_str()) {
                let present = match v {
                    Value::Null => false,
                    Value::String(s) => !s.is_empty(),
                    _ => true,
                };
                if present {
                    status.insert(format!("has_{k}"), json!(true));
                }
            } else {
                creds.insert(k.clone(), v.clone());
            }
        }
        let groups: Vec<Value> = a
            .group_ids
            .iter()
            .filter_map(|gid| self.groups.get(gid))
            .map(|g| self.group_dto(g))
            .collect();
        let account_groups: Vec<Value> = a
            .group_ids
            .iter()
            .map(|gid| json!({"account_id": a.id, "group_id": gid, "priority": a.priority, "created_at": rfc3339(a.created_at)}))
            .collect();
        let temp = a.temp_unsched.as_ref().filter(|t| t.until_ms > now);
        let mut v = json!({
            "id": a.id,
            "name": a.name,
            "notes": a.notes,
            "platform": a.platform,
            "type": a.kind,
            "credentials": creds,
            "credentials_status": status,
            "extra": a.extra,
            "proxy_id": a.proxy_id,
            "concurrency": a.concurrency,
            "load_factor": a.load_factor,
            "priority": a.priority,
            "rate_multiplier": a.rate_multiplier,
            "status": a.status,
            "error_message": a.error_message,
            "last_used_at": a.last_used_at.map(rfc3339),
            "expires_at": a.expires_at,
            "auto_pause_on_expired": a.auto_pause_on_expired,
            "schedulable": a.schedulable,
            "rate_limited_at": a.rate_limited_at.map(rfc3339),
            "rate_limit_reset_at": a.rate_limit_reset_at.map(rfc3339),
            "overload_until": null,
            "temp_unschedulable_until": temp.map(|t| rfc3339(t.until_ms)),
            "temp_unschedulable_reason": temp.map(|t| t.error_message.clone()).unwrap_or_default(),
            "session_window_start": null,
            "session_window_end": null,
            "session_window_status": "",
            "current_concurrency": 0,
            "created_at": rfc3339(a.created_at),
            "updated_at": rfc3339(a.updated_at),
        });
        // The host omits these when empty (`omitempty`): an account bound to no group
        // has no `group_ids` key at all.
        if !a.group_ids.is_empty() {
            v["account_groups"] = json!(account_groups);
            v["group_ids"] = json!(a.group_ids);
            v["groups"] = json!(groups);
        }
        v
    }

    /// Plain `User` DTO.
    pub fn user_dto(&self, u: &User) -> Value {
        json!({
            "id": u.id,
            "email": u.email,
            "username": u.username,
            "role": u.role,
            "balance": u.balance,
            "concurrency": u.concurrency,
            "status": u.status,
            "allowed_groups": u.allowed_groups,
            "rpm_limit": u.rpm_limit,
            "last_active_at": u.last_active_at.map(rfc3339),
            "totp_enabled": false,
            "created_at": rfc3339(u.created_at),
            "updated_at": rfc3339(u.updated_at),
        })
    }

    /// `AdminUser` DTO.
    pub fn admin_user_dto(&self, u: &User) -> Value {
        let mut v = self.user_dto(u);
        let o = v.as_object_mut().expect("object");
        o.insert("notes".into(), json!(u.notes));
        o.insert("last_used_at".into(), json!(u.last_active_at.map(rfc3339)));
        o.insert("group_rates".into(), json!({}));
        o.insert("current_concurrency".into(), json!(0));
        v
    }

    /// `APIKey` DTO (full key included, as the host does).
    pub fn key_dto(&self, k: &ApiKey) -> Value {
        let group = k
            .group_id
            .and_then(|g| self.groups.get(&g))
            .map(|g| self.group_dto(g));
        json!({
            "id": k.id,
            "user_id": k.user_id,
            "key": k.key,
            "name": k.name,
            "group_id": k.group_id,
            "status": k.status,
            "ip_whitelist": k.ip_whitelist,
            "ip_blacklist": k.ip_blacklist,
            "last_used_at": k.last_used_at.map(rfc3339),
            "quota": k.quota,
            "quota_used": k.quota_used,
            "expires_at": k.expires_at.map(rfc3339),
            "rate_limit_5h": 0.0,
            "rate_limit_1d": 0.0,
            "rate_limit_7d": 0.0,
            "usage_5h": 0.0,
            "usage_1d": 0.0,
            "usage_7d": 0.0,
            "created_at": rfc3339(k.created_at),
            "updated_at": rfc3339(k.updated_at),
            "group": group,
        })
    }

    /// `UserSubscription` DTO.
    pub fn sub_dto(&self, s: &Subscription) -> Value {
        let now = now_ms();
        let mut v = json!({
            "id": s.id,
            "user_id": s.user_id,
            "group_id": s.group_id,
            "starts_at": rfc3339(s.starts_at),
            "expires_at": rfc3339(s.expires_at),
            "status": s.effective_status(now),
            "five_hour_window_start": null,
            "daily_window_start": null,
            "weekly_window_start": null,
            "monthly_window_start": null,
            "five_hour_usage_usd": 0.0,
            "daily_usage_usd": 0.0,
            "weekly_usage_usd": 0.0,
            "monthly_usage_usd": 0.0,
            "created_at": rfc3339(s.created_at),
            "updated_at": rfc3339(s.updated_at),
            "group": self.groups.get(&s.group_id).map(|g| self.group_dto(g)),
        });
        if let Some(at) = s.revoked_at {
            v["revoked_at"] = json!(rfc3339(at));
        }
        v
    }

    /// `AdminUserSubscription` DTO.
    pub fn admin_sub_dto(&self, s: &Subscription) -> Value {
        let mut v = self.sub_dto(s);
        let assigned_by_user = s
            .assigned_by
            .and_then(|id| self.users.get(&id))
            .map(|u| json!({"id": u.id, "email": u.email, "username": u.username}));
        let o = v.as_object_mut().expect("object");
        o.insert("assigned_by".into(), json!(s.assigned_by));
        o.insert("assigned_at".into(), json!(rfc3339(s.assigned_at)));
        o.insert("notes".into(), json!(s.notes));
        o.insert(
            "assigned_by_user".into(),
            assigned_by_user.unwrap_or(Value::Null),
        );
        o.insert(
            "user".into(),
            self.users
                .get(&s.user_id)
                .map(|u| self.user_dto(u))
                .unwrap_or(Value::Null),
        );
        v
    }

    /// The fault knobs plus the gateway's `models_cache_ttl_ms`, as `/__mock/faults`
    /// shows them.
    pub fn faults_view(&self) -> Value {
        let mut v = json!(self.faults);
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "models_cache_ttl_ms".into(),
                json!(self.models_cache_ttl_ms),
            );
        }
        v
    }

    /// The `/__mock/state` document.
    /// Every secret the host holds or issued, raw: the admin API key and password,
    /// users' passwords, user API keys, the sensitive credentials of accounts
    /// (upstream keys), refresh tokens and the JWTs issued. For leak scans
    /// (`GET /__mock/secrets`); never log it.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![self.admin_api_key.clone(), self.admin_password.clone()];
        out.extend(self.users.values().map(|u| u.password.clone()));
        out.extend(self.keys.values().map(|k| k.key.clone()));
        for a in self.accounts.values() {
            for k in SENSITIVE_CREDENTIAL_KEYS {
                if let Some(v) = a.credentials.get(*k).and_then(Value::as_str) {
                    out.push(v.to_string());
                }
            }
        }
        out.extend(self.refresh_tokens.keys().cloned());
        out.extend(self.issued_tokens.iter().cloned());
        out.retain(|s| !s.trim().is_empty());
        out.sort();
        out.dedup();
        out
    }

    pub fn dump(&self) -> Value {
        let accounts: Vec<Value> = self
            .accounts
            .values()
            .map(|a| {
                let mut v = self.account_dto(a);
                v["api_key_sha256"] = a
                    .api_key()
                    .map(|k| json!(sha256_hex(k.as_bytes())))
                    .unwrap_or(Value::Null);
                v
            })
            .collect();
        let users: Vec<Value> = self
            .users
            .values()
            .map(|u| self.admin_user_dto(u))
            .collect();
        let keys: Vec<Value> = self
            .keys
            .values()
            .map(|k| {
                let mut v = self.key_dto(k);
                v["key_sha256"] = json!(sha256_hex(k.key.as_bytes()));
                v["key"] = json!(mask_secret(&k.key));
                v
            })
            .collect();
        json!({
            "host_version": self.host_version,
            "groups": self.groups.values().map(|g| self.admin_group_dto(g)).collect::<Vec<_>>(),
            "channels": self.channels.values().map(|c| self.channel_dto(c)).collect::<Vec<_>>(),
            "plans": self.plans.values().map(|p| self.plan_dto(p)).collect::<Vec<_>>(),
            "accounts": accounts,
            "users": users,
            "api_keys": keys,
            // Revoked (soft-deleted) ones too, with status `revoked`, as the host's
            // admin list shows them.
            "subscriptions": self.subscriptions.values().map(|s| self.admin_sub_dto(s)).collect::<Vec<_>>(),
            "counters": {
                "admin_calls": self.admin_calls,
                "admin_in_flight_peak": self.admin_in_flight_peak,
                "admin_concurrency_refused": self.admin_concurrency_refused,
                "by_route": self.counters,
            },
            "faults": self.faults_view(),
            "policy": self.policy,
            "limits": self.limits.dump(),
            "knobs": self.knobs,
            "compliance_accepted_by": self.compliance_accepted.keys().collect::<Vec<_>>(),
        })
    }
}
