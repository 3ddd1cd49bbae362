//! Private wire shapes of the host API and their conversion to domain types.
//! Every response field is optional here (hosts vary by build); unknown fields
//! are ignored. Request bodies are built as JSON maps that omit absent fields.

use std::collections::BTreeMap;

use relay_domain::{redact_patterns, Redactor, Secret};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ErrorDetail, HostError};
use crate::time::HostTime;
use crate::types::*;

// ---------------------------------------------------------------------------
// Decoding helpers

/// A decode error that names what failed and where, never the offending value
/// (it could be a secret).
pub(crate) fn decode_error(what: &str, err: &serde_json::Error) -> HostError {
    HostError::Decode(format!(
        "{what}: {:?} error at line {} column {}",
        err.classify(),
        err.line(),
        err.column()
    ))
}

/// Deserializes `value` into `T`, mapping failures to a secret-free decode error.
pub(crate) fn from_value<T: for<'de> Deserialize<'de>>(
    what: &str,
    value: Value,
) -> Result<T, HostError> {
    serde_json::from_value(value).map_err(|e| decode_error(what, &e))
}

fn opt_string(v: &Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn require_id(what: &str, id: Option<i64>) -> Result<i64, HostError> {
    id.ok_or_else(|| HostError::Decode(format!("{what}: object without an id")))
}

/// Reads the host error body of a non-2xx answer, in either shape (handler
/// envelope with an int `code` and `reason`, or middleware with a string `code`),
/// plus the limiter's `{"error","message"}` and plain text. Every text passes
/// `redactor`; a plain-text body is redacted whole before it is cut to an excerpt
/// ([`text_excerpt`]), so a cut never leaves the head of a key behind.
pub(crate) fn error_detail(status: u16, body: &str, redactor: &Redactor) -> (ErrorDetail, bool) {
    let (detail, is_json) = error_detail_raw(status, body, redactor);
    (detail.redacted(redactor), is_json)
}

fn error_detail_raw(status: u16, body: &str, redactor: &Redactor) -> (ErrorDetail, bool) {
    let mut detail = ErrorDetail {
        status,
        ..ErrorDetail::default()
    };
    match serde_json::from_str::<Value>(body.trim()) {
        Ok(Value::Object(obj)) => {
            let s = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
            detail.message = s("message")
                .or_else(|| s("error"))
                .unwrap_or_default()
                .to_owned();
            detail.code = s("reason")
                .or_else(|| s("code"))
                .or_else(|| {
                    // limiter / mixed-channel shape: {"error":"...","message":"..."}
                    if s("message").is_some() {
                        s("error")
                    } else {
                        None
                    }
                })
                .map(str::to_owned);
            if let Some(Value::Object(meta)) = obj.get("metadata") {
                for (k, v) in meta {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    detail.metadata.insert(k.clone(), v);
                }
            }
            (detail, true)
        }
        _ => {
            detail.message = text_excerpt(&redactor.redact(body));
            (detail, false)
        }
    }
}

/// Most characters of a non-JSON error body kept in an error message.
pub(crate) const TEXT_EXCERPT_CHARS: usize = 120;

/// A non-JSON error body as it may appear in an error: control and invisible
/// formatting characters (line breaks, escapes, bidirectional overrides) become
/// spaces, runs of white space collapse, and at most [`TEXT_EXCERPT_CHARS`]
/// characters are kept (`…` marks a cut). What the host sent beyond that is
/// dropped: an error page is not evidence, and anything reflected is bounded.
pub(crate) fn text_excerpt(body: &str) -> String {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    };
    let mut cleaned = String::new();
    let mut pending_space = false;
    for c in body.chars() {
        if invisible(c) || c.is_whitespace() {
            pending_space = !cleaned.is_empty();
            continue;
        }
        if pending_space {
            cleaned.push(' ');
            pending_space = false;
        }
        cleaned.push(c);
    }
    if cleaned.chars().count() <= TEXT_EXCERPT_CHARS {
        return cleaned;
    }
    let mut cut: String = cleaned.chars().take(TEXT_EXCERPT_CHARS).collect();
    cut.push('…');
    cut
}

// ---------------------------------------------------------------------------
// Envelope and pages

/// A paginated `data` object.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(crate) struct Page<T> {
    pub items: Option<Vec<T>>,
    pub total: Option<i64>,
    pub page: Option<i64>,
    pub pages: Option<i64>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            items: None,
            total: None,
            page: None,
            pages: None,
        }
    }
}

// ---------------------------------------------------------------------------
// Settings and version

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WVersion {
    pub version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WPublicSettings {
    version: Option<String>,
    backend_mode_enabled: Option<bool>,
    turnstile_enabled: Option<bool>,
    tencent_captcha_enabled: Option<bool>,
    aliyun_captcha_enabled: Option<bool>,
    totp_enabled: Option<bool>,
    payment_enabled: Option<bool>,
    registration_enabled: Option<bool>,
}

impl From<WPublicSettings> for PublicSettings {
    fn from(w: WPublicSettings) -> Self {
        PublicSettings {
            version: w.version.filter(|v| !v.is_empty()),
            backend_mode_enabled: w.backend_mode_enabled.unwrap_or(false),
            turnstile_enabled: w.turnstile_enabled.unwrap_or(false),
            login_captcha: if w.tencent_captcha_enabled == Some(true) {
                Some("tencent".into())
            } else if w.aliyun_captcha_enabled == Some(true) {
                Some("aliyun".into())
            } else {
                None
            },
            totp_enabled: w.totp_enabled.unwrap_or(false),
            payment_enabled: w.payment_enabled.unwrap_or(false),
            registration_enabled: w.registration_enabled.unwrap_or(false),
        }
    }
}

// ---------------------------------------------------------------------------
// Groups

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WGroup {
    id: Option<i64>,
    name: Option<String>,
    description: Option<String>,
    platform: Option<String>,
    status: Option<String>,
    subscription_type: Option<String>,
    rate_multiplier: Option<f64>,
    is_exclusive: Option<bool>,
    daily_limit_usd: Option<f64>,
    weekly_limit_usd: Option<f64>,
    monthly_limit_usd: Option<f64>,
    account_count: Option<i64>,
}

impl WGroup {
    pub fn into_domain(self) -> Result<Group, HostError> {
        Ok(Group {
            id: require_id("group", self.id)?,
            name: self.name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            platform: self.platform.unwrap_or_default().into(),
            status: self.status.unwrap_or_default().into(),
            subscription_type: self
                .subscription_type
                .unwrap_or_else(|| subscription_type::STANDARD.to_owned()),
            rate_multiplier: self.rate_multiplier.unwrap_or(0.0),
            is_exclusive: self.is_exclusive.unwrap_or(false),
            daily_limit_usd: self.daily_limit_usd,
            weekly_limit_usd: self.weekly_limit_usd,
            monthly_limit_usd: self.monthly_limit_usd,
            account_count: self.account_count,
        })
    }
}

fn put<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(key.to_owned(), v.into());
    }
}

pub(crate) fn new_group_body(g: &NewGroup) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), g.name.clone().into());
    put(&mut m, "description", g.description.clone());
    m.insert("platform".into(), g.platform.clone().into());
    m.insert("rate_multiplier".into(), g.rate_multiplier.into());
    m.insert("is_exclusive".into(), g.is_exclusive.into());
    m.insert(
        "subscription_type".into(),
        g.subscription_type.clone().into(),
    );
    put(&mut m, "daily_limit_usd", g.daily_limit_usd);
    put(&mut m, "weekly_limit_usd", g.weekly_limit_usd);
    put(&mut m, "monthly_limit_usd", g.monthly_limit_usd);
    Value::Object(m)
}

pub(crate) fn group_update_body(u: &GroupUpdate) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", u.name.clone());
    put(&mut m, "description", u.description.clone());
    put(&mut m, "rate_multiplier", u.rate_multiplier);
    put(&mut m, "is_exclusive", u.is_exclusive);
    put(&mut m, "status", u.status.clone());
    put(&mut m, "subscription_type", u.subscription_type.clone());
    put(&mut m, "daily_limit_usd", u.daily_limit_usd);
    put(&mut m, "weekly_limit_usd", u.weekly_limit_usd);
    put(&mut m, "monthly_limit_usd", u.monthly_limit_usd);
    Value::Object(m)
}

// ---------------------------------------------------------------------------
// Channels

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WPricing {
    platform: Option<String>,
    models: Option<Vec<String>>,
    billing_mode: Option<String>,
    input_price: Option<f64>,
    output_price: Option<f64>,
    cache_write_price: Option<f64>,
    cache_read_price: Option<f64>,
    per_request_price: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WChannel {
    id: Option<i64>,
    name: Option<String>,
    description: Option<String>,
    status: Option<String>,
    group_ids: Option<Vec<i64>>,
    model_mapping: Option<BTreeMap<String, Option<BTreeMap<String, String>>>>,
    model_pricing: Option<Vec<WPricing>>,
    restrict_models: Option<bool>,
    billing_model_source: Option<String>,
}

impl WChannel {
    pub fn into_domain(self) -> Result<Channel, HostError> {
        Ok(Channel {
            id: require_id("channel", self.id)?,
            name: self.name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            status: self.status.unwrap_or_default().into(),
            group_ids: self.group_ids.unwrap_or_default(),
            model_mapping: self
                .model_mapping
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
            model_pricing: self
                .model_pricing
                .unwrap_or_default()
                .into_iter()
                .map(|p| ModelPricing {
                    platform: p.platform.unwrap_or_default().into(),
                    models: p.models.unwrap_or_default(),
                    billing_mode: p.billing_mode.unwrap_or_else(|| "token".to_owned()),
                    input_price: p.input_price,
                    output_price: p.output_price,
                    cache_write_price: p.cache_write_price,
                    cache_read_price: p.cache_read_price,
                    per_request_price: p.per_request_price,
                })
                .collect(),
            restrict_models: self.restrict_models.unwrap_or(false),
            billing_model_source: self.billing_model_source.unwrap_or_default(),
        })
    }
}

fn pricing_value(p: &ModelPricing) -> Value {
    let mut m = Map::new();
    m.insert("platform".into(), p.platform.clone().into());
    m.insert("models".into(), p.models.clone().into());
    let mode = if p.billing_mode.is_empty() {
        "token"
    } else {
        &p.billing_mode
    };
    m.insert("billing_mode".into(), mode.into());
    put(&mut m, "input_price", p.input_price);
    put(&mut m, "output_price", p.output_price);
    put(&mut m, "cache_write_price", p.cache_write_price);
    put(&mut m, "cache_read_price", p.cache_read_price);
    put(&mut m, "per_request_price", p.per_request_price);
    Value::Object(m)
}

fn mapping_value(mapping: &ChannelModelMapping) -> Value {
    serde_json::to_value(mapping).unwrap_or(Value::Object(Map::new()))
}

pub(crate) fn new_channel_body(c: &NewChannel) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), c.name.clone().into());
    put(&mut m, "description", c.description.clone());
    m.insert("group_ids".into(), c.group_ids.clone().into());
    m.insert("model_mapping".into(), mapping_value(&c.model_mapping));
    m.insert(
        "model_pricing".into(),
        Value::Array(c.model_pricing.iter().map(pricing_value).collect()),
    );
    m.insert("restrict_models".into(), c.restrict_models.into());
    put(
        &mut m,
        "billing_model_source",
        c.billing_model_source.clone(),
    );
    Value::Object(m)
}

pub(crate) fn channel_update_body(u: &ChannelUpdate) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", u.name.clone());
    put(&mut m, "description", u.description.clone());
    put(&mut m, "status", u.status.clone());
    put(&mut m, "group_ids", u.group_ids.clone());
    if let Some(mapping) = &u.model_mapping {
        m.insert("model_mapping".into(), mapping_value(mapping));
    }
    if let Some(pricing) = &u.model_pricing {
        m.insert(
            "model_pricing".into(),
            Value::Array(pricing.iter().map(pricing_value).collect()),
        );
    }
    put(&mut m, "restrict_models", u.restrict_models);
    put(
        &mut m,
        "billing_model_source",
        u.billing_model_source.clone(),
    );
    Value::Object(m)
}

// ---------------------------------------------------------------------------
// Plans

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WPlan {
    id: Option<i64>,
    group_id: Option<i64>,
    name: Option<String>,
    description: Option<String>,
    price: Option<f64>,
    original_price: Option<f64>,
    validity_days: Option<i64>,
    validity_unit: Option<String>,
    for_sale: Option<bool>,
}

impl WPlan {
    pub fn into_domain(self) -> Result<Plan, HostError> {
        Ok(Plan {
            id: require_id("plan", self.id)?,
            group_id: self.group_id.unwrap_or(0),
            name: self.name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            price: self.price.unwrap_or(0.0),
            original_price: self.original_price,
            validity_days: self.validity_days.unwrap_or(0),
            validity_unit: self.validity_unit.unwrap_or_default(),
            for_sale: self.for_sale.unwrap_or(false),
        })
    }
}

pub(crate) fn new_plan_body(p: &NewPlan) -> Value {
    let mut m = Map::new();
    m.insert("group_id".into(), p.group_id.into());
    m.insert("name".into(), p.name.clone().into());
    put(&mut m, "description", p.description.clone());
    m.insert("price".into(), p.price.into());
    put(&mut m, "original_price", p.original_price);
    m.insert("validity_days".into(), p.validity_days.into());
    m.insert("validity_unit".into(), p.validity_unit.clone().into());
    put(&mut m, "for_sale", p.for_sale);
    Value::Object(m)
}

pub(crate) fn plan_update_body(u: &PlanUpdate) -> Value {
    let mut m = Map::new();
    put(&mut m, "group_id", u.group_id);
    put(&mut m, "name", u.name.clone());
    put(&mut m, "description", u.description.clone());
    put(&mut m, "price", u.price);
    put(&mut m, "original_price", u.original_price);
    put(&mut m, "validity_days", u.validity_days);
    put(&mut m, "validity_unit", u.validity_unit.clone());
    put(&mut m, "for_sale", u.for_sale);
    Value::Object(m)
}

// ---------------------------------------------------------------------------
// Accounts

/// Credential keys that hold secrets. Old hosts return them in full; they are
/// removed from the domain type (only their presence is kept).
fn is_secret_credential(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "api_key"
        || k.ends_with("_api_key")
        || k.contains("token")
        || k.contains("secret")
        || k.contains("password")
        || k.contains("cookie")
        || k.contains("private")
        || k.contains("session_key")
        || k.contains("service_account")
        || k.contains("access_key")
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WAccount {
    id: Option<i64>,
    name: Option<String>,
    notes: Option<String>,
    platform: Option<String>,
    #[serde(rename = "type")]
    account_type: Option<String>,
    status: Option<String>,
    error_message: Option<String>,
    schedulable: Option<bool>,
    group_ids: Option<Vec<i64>>,
    groups: Option<Vec<WGroupRef>>,
    credentials: Option<Map<String, Value>>,
    credentials_status: Option<Map<String, Value>>,
    extra: Option<Map<String, Value>>,
    concurrency: Option<i64>,
    priority: Option<i64>,
    temp_unschedulable_until: Option<Value>,
    temp_unschedulable_reason: Option<String>,
    rate_limit_reset_at: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WGroupRef {
    id: Option<i64>,
}

impl WAccount {
    pub fn into_domain(self) -> Result<Account, HostError> {
        let id = require_id("account", self.id)?;
        let mut credentials = self.credentials.unwrap_or_default();
        let mut status = CredentialStatus::default();
        if let Some(reported) = self.credentials_status {
            for (k, v) in reported {
                if let (Some(name), Some(flag)) = (k.strip_prefix("has_"), v.as_bool()) {
                    status.present.insert(name.to_owned(), flag);
                }
            }
        }
        let secret_keys: Vec<String> = credentials
            .keys()
            .filter(|k| is_secret_credential(k))
            .cloned()
            .collect();
        for k in secret_keys {
            let non_empty = credentials
                .remove(&k)
                .is_some_and(|v| !(v.is_null() || v.as_str() == Some("")));
            status.present.entry(k).or_insert(non_empty);
        }
        status.has_api_key = status.present.get("api_key").copied().unwrap_or(false);
        let base_url = match credentials.remove("base_url") {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        let model_mapping = match credentials.remove("model_mapping") {
            Some(Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            _ => BTreeMap::new(),
        };
        let group_ids = match (self.group_ids, self.groups) {
            (Some(ids), _) => ids,
            (None, Some(groups)) => groups.into_iter().filter_map(|g| g.id).collect(),
            (None, None) => Vec::new(),
        };
        Ok(Account {
            id,
            name: self.name.unwrap_or_default(),
            notes: self.notes.filter(|n| !n.is_empty()),
            platform: self.platform.unwrap_or_default().into(),
            account_type: self.account_type.unwrap_or_default(),
            status: self.status.unwrap_or_default().into(),
            // The host's text quotes the vendor, which may quote the key.
            error_message: self
                .error_message
                .filter(|m| !m.is_empty())
                .map(|m| redact_patterns(&m)),
            schedulable: self.schedulable.unwrap_or(true),
            group_ids,
            base_url,
            model_mapping,
            credentials,
            credential_status: status,
            extra: self.extra.unwrap_or_default(),
            concurrency: self.concurrency.unwrap_or(0),
            priority: self.priority.unwrap_or(0),
            temp_unschedulable_until: opt_string(&self.temp_unschedulable_until)
                .map(HostTime::from),
            temp_unschedulable_reason: self
                .temp_unschedulable_reason
                .filter(|r| !r.trim().is_empty())
                .map(|r| redact_patterns(&r)),
            rate_limit_reset_at: opt_string(&self.rate_limit_reset_at).map(HostTime::from),
        })
    }
}

fn credentials_value(c: &AccountCredentials) -> Value {
    let mut m = c.other.clone();
    if let Some(key) = &c.api_key {
        m.insert("api_key".into(), key.expose().into());
    }
    put(&mut m, "base_url", c.base_url.clone());
    if !c.model_mapping.is_empty() {
        m.insert(
            "model_mapping".into(),
            serde_json::to_value(&c.model_mapping).unwrap_or(Value::Object(Map::new())),
        );
    }
    Value::Object(m)
}

pub(crate) fn new_account_body(a: &NewAccount) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), a.name.clone().into());
    put(&mut m, "notes", a.notes.clone());
    m.insert("platform".into(), a.platform.clone().into());
    m.insert("type".into(), a.account_type.clone().into());
    m.insert("credentials".into(), credentials_value(&a.credentials));
    m.insert("extra".into(), Value::Object(a.extra.clone()));
    m.insert("group_ids".into(), a.group_ids.clone().into());
    put(&mut m, "concurrency", a.concurrency);
    put(&mut m, "priority", a.priority);
    Value::Object(m)
}

pub(crate) fn account_update_body(u: &AccountUpdate) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", u.name.clone());
    put(&mut m, "notes", u.notes.clone());
    if let Some(c) = &u.credentials {
        m.insert("credentials".into(), credentials_value(c));
    }
    if let Some(extra) = &u.extra {
        m.insert("extra".into(), Value::Object(extra.clone()));
    }
    put(&mut m, "group_ids", u.group_ids.clone());
    put(&mut m, "status", u.status.clone());
    put(&mut m, "concurrency", u.concurrency);
    put(&mut m, "priority", u.priority);
    Value::Object(m)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WBatchClear {
    total: Option<u64>,
    success: Option<u64>,
    errors: Option<Vec<WBatchClearError>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WBatchClearError {
    account_id: Option<i64>,
    error: Option<String>,
}

impl From<WBatchClear> for BatchClearResult {
    fn from(w: WBatchClear) -> Self {
        BatchClearResult {
            total: w.total.unwrap_or(0),
            cleared: w.success.unwrap_or(0),
            failed: w
                .errors
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| Some((e.account_id?, e.error.unwrap_or_default())))
                .collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WBatchResult {
    success: Option<u64>,
    failed: Option<u64>,
    results: Option<Vec<WBatchItem>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WBatchItem {
    name: Option<String>,
    id: Option<i64>,
    success: Option<bool>,
    error: Option<String>,
}

impl From<WBatchResult> for BatchCreateResult {
    fn from(w: WBatchResult) -> Self {
        BatchCreateResult {
            success: w.success.unwrap_or(0),
            failed: w.failed.unwrap_or(0),
            results: w
                .results
                .unwrap_or_default()
                .into_iter()
                .map(|i| BatchItemResult {
                    name: i.name.unwrap_or_default(),
                    id: i.id,
                    success: i.success.unwrap_or(false),
                    error: i.error.filter(|e| !e.is_empty()),
                })
                .collect(),
            replayed: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WModel {
    pub id: Option<String>,
    pub name: Option<String>,
}

impl WModel {
    /// The model id (`id`, or Gemini's `name` without its `models/` prefix).
    pub fn into_id(self) -> Option<String> {
        self.id
            .or_else(|| {
                self.name
                    .map(|n| n.strip_prefix("models/").unwrap_or(&n).to_owned())
            })
            .filter(|s| !s.is_empty())
    }
}

// ---------------------------------------------------------------------------
// Users, login, keys

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WUser {
    id: Option<i64>,
    email: Option<String>,
    username: Option<String>,
    role: Option<String>,
    status: Option<String>,
    balance: Option<f64>,
    concurrency: Option<i64>,
    allowed_groups: Option<Vec<i64>>,
}

impl WUser {
    pub fn into_domain(self) -> Result<User, HostError> {
        Ok(User {
            id: require_id("user", self.id)?,
            email: self.email.unwrap_or_default(),
            username: self.username.unwrap_or_default(),
            role: self.role.unwrap_or_default(),
            status: self.status.unwrap_or_default().into(),
            balance: self.balance.unwrap_or(0.0),
            concurrency: self.concurrency.unwrap_or(0),
            allowed_groups: self.allowed_groups.unwrap_or_default(),
        })
    }
}

pub(crate) fn new_user_body(u: &NewUser) -> Value {
    let mut m = Map::new();
    m.insert("email".into(), u.email.clone().into());
    m.insert("password".into(), u.password.expose().into());
    put(&mut m, "username", u.username.clone());
    put(&mut m, "notes", u.notes.clone());
    put(&mut m, "balance", u.balance);
    put(&mut m, "concurrency", u.concurrency);
    m.insert("allowed_groups".into(), u.allowed_groups.clone().into());
    Value::Object(m)
}

pub(crate) fn user_update_body(u: &UserUpdate) -> Value {
    let mut m = Map::new();
    put(&mut m, "allowed_groups", u.allowed_groups.clone());
    if let Some(p) = &u.password {
        m.insert("password".into(), p.expose().into());
    }
    put(&mut m, "username", u.username.clone());
    put(&mut m, "notes", u.notes.clone());
    put(&mut m, "status", u.status.clone());
    put(&mut m, "concurrency", u.concurrency);
    Value::Object(m)
}

pub(crate) fn balance_body(c: &BalanceChange) -> Value {
    let mut m = Map::new();
    m.insert("balance".into(), c.amount.into());
    let op = match c.operation {
        BalanceOperation::Set => "set",
        BalanceOperation::Add => "add",
        BalanceOperation::Subtract => "subtract",
    };
    m.insert("operation".into(), op.into());
    put(&mut m, "notes", c.notes.clone());
    Value::Object(m)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WLogin {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
    pub requires_2fa: Option<bool>,
    pub user: Option<WUser>,
}

pub(crate) fn login_body(email: &str, password: &Secret) -> Value {
    serde_json::json!({ "email": email, "password": password.expose() })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WKey {
    id: Option<i64>,
    user_id: Option<i64>,
    name: Option<String>,
    key: Option<String>,
    group_id: Option<i64>,
    status: Option<String>,
}

/// Reverses Go's `html.EscapeString`, which the host applies to key names
/// (`&`, `<`, `>`, `"`, `'` → `&amp;`, `&lt;`, `&gt;`, `&#34;`, `&#39;`).
pub(crate) fn html_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    const ENTITIES: [(&str, char); 7] = [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&#34;", '"'),
        ("&quot;", '"'),
        ("&#39;", '\''),
        ("&apos;", '\''),
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match ENTITIES.iter().find(|(e, _)| tail.starts_with(e)) {
            Some((e, c)) => {
                out.push(*c);
                rest = &tail[e.len()..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WKeyRebind {
    pub api_key: Option<WKey>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WComplianceAck {
    admin_user_id: Option<i64>,
    accepted_at: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WCompliance {
    required: Option<bool>,
    version: Option<String>,
    document_url_en: Option<String>,
    document_url_zh: Option<String>,
    ack_phrase_en: Option<String>,
    ack_phrase_zh: Option<String>,
    acknowledgement: Option<WComplianceAck>,
}

impl From<WCompliance> for ComplianceStatus {
    fn from(w: WCompliance) -> Self {
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let ack = w.acknowledgement.unwrap_or_default();
        ComplianceStatus {
            // An answer without the flag cannot prove the lock is off.
            required: w.required.unwrap_or(true),
            version: w.version.unwrap_or_default(),
            document_url: nonempty(w.document_url_en),
            document_url_zh: nonempty(w.document_url_zh),
            ack_phrase: nonempty(w.ack_phrase_en),
            ack_phrase_zh: nonempty(w.ack_phrase_zh),
            accepted_by: ack.admin_user_id.filter(|id| *id > 0),
            accepted_at: opt_string(&ack.accepted_at),
        }
    }
}

impl WKey {
    pub fn into_domain(self) -> Result<UserKey, HostError> {
        Ok(UserKey {
            id: require_id("api key", self.id)?,
            user_id: self.user_id.unwrap_or(0),
            name: html_unescape(&self.name.unwrap_or_default()),
            key: Secret::new(self.key.unwrap_or_default()),
            group_id: self.group_id.filter(|g| *g > 0),
            status: self.status.unwrap_or_default().into(),
        })
    }
}

pub(crate) fn new_key_body(k: &NewUserKey) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), k.name.clone().into());
    m.insert("group_id".into(), k.group_id.into());
    if let Some(custom) = &k.custom_key {
        m.insert("custom_key".into(), custom.expose().into());
    }
    Value::Object(m)
}

// ---------------------------------------------------------------------------
// Subscriptions

/// Status the admin subscription list gives a revoked (soft-deleted) subscription.
pub(crate) const SUBSCRIPTION_REVOKED: &str = "revoked";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WSubscription {
    id: Option<i64>,
    user_id: Option<i64>,
    group_id: Option<i64>,
    status: Option<String>,
    starts_at: Option<Value>,
    expires_at: Option<Value>,
    notes: Option<String>,
    revoked_at: Option<Value>,
}

impl WSubscription {
    /// A revoked subscription: the host soft-deletes it, and its lists without a
    /// status filter still show the row (status `revoked`, `revoked_at` set).
    pub fn is_revoked(&self) -> bool {
        self.status.as_deref() == Some("revoked")
            || self.revoked_at.as_ref().is_some_and(|v| !v.is_null())
    }

    pub fn into_domain(self) -> Result<Subscription, HostError> {
        Ok(Subscription {
            id: require_id("subscription", self.id)?,
            user_id: self.user_id.unwrap_or(0),
            group_id: self.group_id.unwrap_or(0),
            status: self.status.unwrap_or_default().into(),
            starts_at: opt_string(&self.starts_at).map(HostTime::from),
            expires_at: opt_string(&self.expires_at).map(HostTime::from),
            notes: self.notes.filter(|n| !n.is_empty()),
        })
    }
}

pub(crate) fn assign_body(a: &SubscriptionAssignment) -> Value {
    let mut m = Map::new();
    m.insert("user_id".into(), a.user_id.into());
    m.insert("group_id".into(), a.group_id.into());
    put(&mut m, "validity_days", a.validity_days);
    put(&mut m, "notes", a.notes.clone());
    Value::Object(m)
}

// ---------------------------------------------------------------------------
// Gateway

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WModelList {
    pub data: Option<Vec<WModel>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WCompletion {
    pub model: Option<String>,
    pub choices: Option<Vec<WChoice>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WChoice {
    pub message: Option<WMessage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WMessage {
    pub content: Option<Value>,
}

pub(crate) fn chat_body(r: &ChatProbeRequest) -> Value {
    let mut body = serde_json::json!({
        "model": r.model,
        "messages": [{ "role": "user", "content": PROBE_PROMPT }],
        "max_tokens": r.max_tokens,
    });
    if r.stream {
        body["stream"] = Value::Bool(true);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_error_uses_reason_and_keeps_metadata() {
        let (d, json) = error_detail(
            409,
            r#"{"code":409,"message":"conflict","reason":"SUBSCRIPTION_ASSIGN_CONFLICT","metadata":{"conflict_reason":"notes_mismatch"}}"#,
            &Redactor::new(),
        );
        assert!(json);
        assert_eq!(d.code.as_deref(), Some("SUBSCRIPTION_ASSIGN_CONFLICT"));
        assert_eq!(d.metadata["conflict_reason"], "notes_mismatch");
    }

    #[test]
    fn middleware_error_uses_string_code() {
        let (d, _) = error_detail(
            401,
            r#"{"code":"INVALID_ADMIN_KEY","message":"Invalid admin API key"}"#,
            &Redactor::new(),
        );
        assert_eq!(d.code.as_deref(), Some("INVALID_ADMIN_KEY"));
        assert_eq!(d.message, "Invalid admin API key");
    }

    #[test]
    fn plain_validation_error_has_no_code() {
        let (d, _) = error_detail(
            400,
            r#"{"code":400,"message":"Invalid group ID"}"#,
            &Redactor::new(),
        );
        assert_eq!(d.code, None);
    }

    #[test]
    fn plain_text_is_not_json() {
        let (d, json) = error_detail(404, "404 page not found", &Redactor::new());
        assert!(!json);
        assert_eq!(d.message, "404 page not found");
    }

    #[test]
    fn plain_text_is_bounded_and_stripped_of_control_characters() {
        let body = "<html>\r\n<title>502</title>\x1b[31m\u{202e}evil\t\tline\n".to_string()
            + &"x".repeat(500);
        let (d, json) = error_detail(502, &body, &Redactor::new());
        assert!(!json);
        assert!(
            d.message
                .starts_with("<html> <title>502</title> [31m evil line x"),
            "{}",
            d.message
        );
        assert!(!d.message.chars().any(|c| c.is_control() || c == '\u{202e}'));
        assert_eq!(d.message.chars().count(), TEXT_EXCERPT_CHARS + 1);
        assert!(d.message.ends_with('…'));
        assert_eq!(text_excerpt("  short  \n"), "short");
    }

    #[test]
    fn key_names_are_unescaped_like_the_host_escaped_them() {
        assert_eq!(
            html_unescape("crm-a&amp;b&lt;c&gt;&#34;d&#39;e"),
            "crm-a&b<c>\"d'e"
        );
        assert_eq!(html_unescape("crm-kimi-sub-key"), "crm-kimi-sub-key");
        assert_eq!(html_unescape("a&amp;amp;b & c&x"), "a&amp;b & c&x");
    }

    #[test]
    fn compliance_lock_is_its_own_error() {
        let body = r#"{"code":"ADMIN_COMPLIANCE_ACK_REQUIRED","message":"administrator compliance acknowledgement is required","metadata":{"document_url_en":"https://example.test/en.md","version":"v2026.06.10"}}"#;
        let (d, _) = error_detail(423, body, &Redactor::new());
        let e = HostError::from_detail(d, None);
        let lock = e.compliance_lock().expect("compliance lock");
        assert_eq!(lock.version.as_deref(), Some("v2026.06.10"));
        assert_eq!(
            lock.document_url.as_deref(),
            Some("https://example.test/en.md")
        );
        assert_eq!(e.status(), Some(423));
        assert_eq!(e.code().as_deref(), Some("ADMIN_COMPLIANCE_ACK_REQUIRED"));
        assert!(!e.is_transient());
        // Another 423 stays a plain host error.
        let (d, _) = error_detail(423, r#"{"code":"LOCKED","message":"x"}"#, &Redactor::new());
        assert!(HostError::from_detail(d, None).compliance_lock().is_none());
    }

    #[test]
    fn old_host_credentials_are_redacted() {
        let w: WAccount = serde_json::from_value(serde_json::json!({
            "id": 3, "name": "a", "type": "apikey",
            "credentials": {"api_key": "sk-raw", "base_url": "https://x/v1", "model_mapping": {"m": "m"}, "refresh_token": ""}
        }))
        .unwrap();
        let a = w.into_domain().unwrap();
        assert!(a.credential_status.has_api_key);
        assert_eq!(
            a.credential_status.present.get("refresh_token"),
            Some(&false)
        );
        assert!(!format!("{a:?}").contains("sk-raw"));
        assert_eq!(a.base_url.as_deref(), Some("https://x/v1"));
        assert_eq!(a.model_mapping["m"], "m");
    }
}

// ---------------------------------------------------------------------------
// Upstream model sync, CN-provider balance

/// The data of `POST /api/v1/admin/accounts/:id/models/sync-upstream`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WUpstreamModels {
    pub models: Option<Vec<String>>,
}

/// The model ids of an upstream model sync: trimmed, blanks dropped, sorted, once.
pub(crate) fn model_ids(data: WUpstreamModels) -> Vec<String> {
    let mut models: Vec<String> = data
        .models
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    models.sort();
    models.dedup();
    models
}

/// One currency of the host's balance answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WBalanceEntry {
    currency: Option<String>,
    balance: Option<f64>,
}

/// The data of `GET /api/v1/admin/cn-providers/accounts/:id/balance`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WCnBalance {
    success: Option<bool>,
    balance: Option<f64>,
    currency: Option<String>,
    balances: Option<Vec<WBalanceEntry>>,
    available: Option<bool>,
    status_code: Option<u16>,
    error: Option<String>,
}

impl WCnBalance {
    pub fn into_domain(self) -> crate::types::HostBalance {
        use relay_domain::{Balance, BalanceEntry};
        let error = self.error.filter(|e| !e.trim().is_empty());
        let balance = if self.success.unwrap_or(false) {
            let mut entries: Vec<BalanceEntry> = self
                .balances
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| {
                    Some(BalanceEntry {
                        currency: e
                            .currency
                            .filter(|c| !c.trim().is_empty())
                            .unwrap_or_else(|| "CNY".into())
                            .to_ascii_uppercase(),
                        amount: e.balance?,
                    })
                })
                .collect();
            if entries.is_empty() {
                if let Some(amount) = self.balance {
                    entries.push(BalanceEntry {
                        currency: self
                            .currency
                            .filter(|c| !c.trim().is_empty())
                            .unwrap_or_else(|| "CNY".into())
                            .to_ascii_uppercase(),
                        amount,
                    });
                }
            }
            Some(Balance {
                entries,
                available: self.available,
            })
        } else {
            None
        };
        crate::types::HostBalance {
            balance,
            vendor_status: self.status_code.filter(|s| *s != 0),
            error: if self.success.unwrap_or(false) {
                None
            } else {
                Some(error.unwrap_or_else(|| "the host read no balance".into()))
            },
        }
    }
}
