//! Single reads of a vendor's own API with a pasted key: the model list and the
//! balance. Each is one bounded `GET` (the profile's limits: timeout, body cap, no
//! redirect), sent only to an `https://` base or an `http://` loopback base, with
//! the key only in `Authorization: Bearer`; every kept vendor text is redacted of
//! the key.
//!
//! Balance routes (vendor documentation, see the provider reference):
//! - DeepSeek: `GET {origin}/user/balance` →
//!   `{is_available, balance_infos: [{currency, total_balance, granted_balance,
//!   topped_up_balance}]}` (amounts are decimal strings);
//! - Moonshot / Kimi: `GET {origin}/v1/users/me/balance` →
//!   `{code, data: {available_balance, voucher_balance, cash_balance}, scode, status}`
//!   (success is `code == 0`; the amount is CNY).
//!
//! `{origin}` is the base URL without a trailing version segment
//! (`https://api.moonshot.cn/v1` → `https://api.moonshot.cn`).

use relay_domain::vocab::UpstreamSupport;
use relay_domain::{Balance, BalanceEntry, BaseUrl, Redactor, Secret};
use serde_json::Value;

use crate::request::ProfileLimits;
use crate::urls::openai_root;
use crate::wire::{Answer, Wire};

/// Characters of a vendor note kept (after redaction).
const NOTE_CHARS: usize = 240;

/// A vendor's balance route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceRoute {
    /// DeepSeek's `GET /user/balance`.
    DeepSeek,
    /// Moonshot's (Kimi's) `GET /v1/users/me/balance`.
    Moonshot,
}

impl BalanceRoute {
    /// The balance route of a vendor (a provider id without its region suffix:
    /// `deepseek`, `moonshot`, `kimi`); `None` for vendors without a public one.
    pub fn for_vendor(vendor: &str) -> Option<BalanceRoute> {
        match vendor.trim().to_ascii_lowercase().as_str() {
            "deepseek" => Some(BalanceRoute::DeepSeek),
            "moonshot" | "kimi" => Some(BalanceRoute::Moonshot),
            _ => None,
        }
    }

    /// The route's URL for an OpenAI-compatible base URL.
    pub fn url(self, base: &BaseUrl) -> String {
        let root = openai_root(base);
        let origin = root.strip_suffix("/v1").unwrap_or(&root);
        match self {
            BalanceRoute::DeepSeek => format!("{origin}/user/balance"),
            BalanceRoute::Moonshot => format!("{origin}/v1/users/me/balance"),
        }
    }

    /// Reads a body of this route.
    pub fn parse(self, body: &str) -> Result<Balance, String> {
        match self {
            BalanceRoute::DeepSeek => parse_deepseek_balance(body),
            BalanceRoute::Moonshot => parse_moonshot_balance(body),
        }
    }
}

/// Why a vendor read gave no answer to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFailure {
    /// The class of the failure (`auth_failed`, `quota`, `rate_limited`,
    /// `unsupported` for a missing route, `upstream_error`, `unreachable`,
    /// `rejected` for a refused URL or an unreadable answer).
    pub class: UpstreamSupport,
    /// The vendor's HTTP status, when there was one.
    pub status: Option<u16>,
    /// What happened, redacted of the key.
    pub note: String,
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} (HTTP {s}): {}", self.class, self.note),
            None => write!(f, "{}: {}", self.class, self.note),
        }
    }
}

/// Reads the vendor's balance with `key` (one `GET`).
pub fn read_balance(
    route: BalanceRoute,
    base_url: &str,
    key: &Secret,
    limits: &ProfileLimits,
) -> Result<Balance, ReadFailure> {
    let redactor = Redactor::new().with(key);
    let base = parse_base(base_url)?;
    let answer = get(&route.url(&base), key, limits, &redactor)?;
    route.parse(&answer.body).map_err(|e| ReadFailure {
        class: UpstreamSupport::Rejected,
        status: Some(answer.status),
        note: note(&redactor, &format!("unreadable balance answer: {e}")),
    })
}

/// Lists the vendor's models with `key` (`GET {root}/models`, one request): the
/// `data[].id` (or `models[].id`) values, sorted and deduplicated.
pub fn list_models(
    base_url: &str,
    key: &Secret,
    limits: &ProfileLimits,
) -> Result<Vec<String>, ReadFailure> {
    let redactor = Redactor::new().with(key);
    let base = parse_base(base_url)?;
    let url = format!("{}/models", openai_root(&base));
    let answer = get(&url, key, limits, &redactor)?;
    parse_model_list(&answer.body).map_err(|e| ReadFailure {
        class: UpstreamSupport::Rejected,
        status: Some(answer.status),
        note: note(&redactor, &format!("unreadable model list: {e}")),
    })
}

fn parse_base(base_url: &str) -> Result<BaseUrl, ReadFailure> {
    BaseUrl::parse(base_url).map_err(|problem| ReadFailure {
        class: UpstreamSupport::Rejected,
        status: None,
        note: format!("the base URL {problem}"),
    })
}

fn note(redactor: &Redactor, text: &str) -> String {
    redactor.redact(text).chars().take(NOTE_CHARS).collect()
}

fn get(
    url: &str,
    key: &Secret,
    limits: &ProfileLimits,
    redactor: &Redactor,
) -> Result<Answer, ReadFailure> {
    let wire = Wire::new(&limits.effective());
    let bearer = format!("Bearer {}", key.expose());
    let (answer, _) = wire.get(
        url,
        &[("Authorization", &bearer), ("Accept", "application/json")],
    );
    let answer = answer.map_err(|e| ReadFailure {
        class: UpstreamSupport::Unreachable,
        status: None,
        note: note(redactor, &e),
    })?;
    let class = match answer.status {
        200..=299 => return Ok(answer),
        401 | 403 => UpstreamSupport::AuthFailed,
        402 => UpstreamSupport::Quota,
        429 => UpstreamSupport::RateLimited,
        404 | 405 => UpstreamSupport::Unsupported,
        _ => UpstreamSupport::UpstreamError,
    };
    let message = serde_json::from_str::<Value>(answer.body.trim())
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("HTTP {}", answer.status));
    Err(ReadFailure {
        class,
        status: Some(answer.status),
        note: note(redactor, &message),
    })
}

/// A number or a decimal string.
fn amount(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|a| a.is_finite())
}

/// Reads DeepSeek's `/user/balance` answer: every `balance_infos` entry with a
/// readable `total_balance` (currency upper case, `CNY` when missing), and
/// `is_available` (missing counts as usable).
pub fn parse_deepseek_balance(body: &str) -> Result<Balance, String> {
    let v: Value = serde_json::from_str(body.trim()).map_err(|e| e.to_string())?;
    let infos = v
        .get("balance_infos")
        .and_then(Value::as_array)
        .ok_or("missing balance_infos")?;
    let entries: Vec<BalanceEntry> = infos
        .iter()
        .filter_map(|info| {
            let amount = amount(info.get("total_balance")?)?;
            let currency = info
                .get("currency")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .unwrap_or("CNY")
                .to_ascii_uppercase();
            Some(BalanceEntry { currency, amount })
        })
        .collect();
    if entries.is_empty() {
        return Err("no valid balance entries".into());
    }
    Ok(Balance {
        entries,
        available: Some(
            v.get("is_available")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        ),
    })
}

/// Reads Moonshot's `/v1/users/me/balance` answer: `data.available_balance` in CNY
/// when `code` is `0` (or absent).
pub fn parse_moonshot_balance(body: &str) -> Result<Balance, String> {
    let v: Value = serde_json::from_str(body.trim()).map_err(|e| e.to_string())?;
    if let Some(code) = v.get("code").and_then(Value::as_i64) {
        if code != 0 {
            return Err(format!("the vendor answered code {code}"));
        }
    }
    let available = v
        .pointer("/data/available_balance")
        .and_then(amount)
        .ok_or("missing data.available_balance")?;
    Ok(Balance {
        entries: vec![BalanceEntry {
            currency: "CNY".into(),
            amount: available,
        }],
        available: None,
    })
}

/// Reads a model list: `{data: [{id}]}`, `{models: [{id}]}` or a bare array; ids
/// trimmed, at most 200 characters, sorted, deduplicated.
pub fn parse_model_list(body: &str) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_str(body.trim()).map_err(|e| e.to_string())?;
    let items: Vec<&Value> = match &v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .chain(o.get("models").and_then(Value::as_array))
            .flatten()
            .collect(),
        _ => return Err("not a model list".into()),
    };
    let mut ids: Vec<String> = items
        .into_iter()
        .filter_map(|m| match m {
            Value::String(s) => Some(s.as_str()),
            _ => m.get("id").and_then(Value::as_str),
        })
        .map(|s| s.trim().chars().take(200).collect::<String>())
        .filter(|s| !s.is_empty())
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Err("the list names no model".into());
    }
    Ok(ids)
}
