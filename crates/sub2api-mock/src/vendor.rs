//! Simulated upstream vendors: every account `base_url` is served in-process.
//!
//! The upstream API key decides the behaviour: a key containing `invalid` → 401,
//! `quota` → 402 "Insufficient Balance" (`insufficient_user_quota`), `ratelimit` → 429
//! without reset headers, `rlreset` → 429 with a reset header [`RESET_AFTER_S`] ahead,
//! `unreachable` → no HTTP answer (connection refused), `slow` → a correct answer
//! after [`SLOW_MS`]; any other key is valid.

use serde_json::{json, Value};

/// Delay of a `slow` key's answer.
pub(crate) const SLOW_MS: u64 = 2000;
/// How far ahead the reset header of an `rlreset` key's 429 points.
pub(crate) const RESET_AFTER_S: i64 = 600;

/// Which upstream endpoint a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    ChatCompletions,
    Responses,
    Messages,
}

/// A simulated upstream answer.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// HTTP status; 0 when there was no HTTP answer (see `transport_error`).
    pub status: u16,
    pub body: String,
    pub delay_ms: u64,
    /// Seconds until the rate limit resets, from the answer's reset header.
    pub reset_after_s: Option<i64>,
    /// The request never got an HTTP answer (the Go client's error text).
    pub transport_error: Option<String>,
}

impl Upstream {
    pub fn is_success(&self) -> bool {
        self.transport_error.is_none() && (200..300).contains(&self.status)
    }

    /// The `error.message` of an OpenAI-shaped body (the host's "upstream message").
    pub fn message(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// The URL the host would call for `endpoint` on an OpenAI-compatible base.
pub(crate) fn endpoint_url(base_url: &str, endpoint: Endpoint) -> String {
    let base = base_url.trim().trim_end_matches('/');
    let base = if base.is_empty() {
        "https://api.openai.com"
    } else {
        base
    };
    let tail = match endpoint {
        Endpoint::ChatCompletions => "chat/completions",
        Endpoint::Responses => "responses",
        Endpoint::Messages => "messages",
    };
    if base.ends_with("/v1") {
        format!("{base}/{tail}")
    } else {
        format!("{base}/v1/{tail}")
    }
}

/// Host part of a base URL (lowercase, without scheme, port and path).
pub(crate) fn host_of(base_url: &str) -> String {
    let s = base_url.trim();
    let s = s.split_once("://").map(|(_, r)| r).unwrap_or(s);
    let s = s.split(['/', '?', '#']).next().unwrap_or("");
    let s = s.rsplit_once('@').map(|(_, h)| h).unwrap_or(s);
    s.split(':').next().unwrap_or("").to_ascii_lowercase()
}

/// True when the base URL is the vendor's own API (empty means the official default).
pub(crate) fn is_official(platform: &str, base_url: &str) -> bool {
    if base_url.trim().is_empty() {
        return true;
    }
    let host = host_of(base_url);
    match platform {
        "openai" => host == "api.openai.com",
        "anthropic" => host == "api.anthropic.com",
        "gemini" => host == "generativelanguage.googleapis.com",
        _ => false,
    }
}

fn error_body(message: &str, kind: &str, code: &str) -> String {
    json!({"error": {"message": message, "type": kind, "param": Value::Null, "code": code}})
        .to_string()
}

/// Answers one upstream call.
pub(crate) fn call(platform: &str, api_key: &str, base_url: &str, endpoint: Endpoint) -> Upstream {
    call_echo(platform, api_key, base_url, endpoint, false)
}

/// Answers one upstream call; with `echo`, a chatty vendor whose 401 quotes the key
/// it was sent ("Incorrect API key provided: <key>").
pub(crate) fn call_echo(
    platform: &str,
    api_key: &str,
    base_url: &str,
    endpoint: Endpoint,
    echo: bool,
) -> Upstream {
    let key = api_key.to_ascii_lowercase();
    let reply = |status: u16, body: String| Upstream {
        status,
        body,
        delay_ms: 0,
        reset_after_s: None,
        transport_error: None,
    };
    if key.contains("unreachable") {
        let url = endpoint_url(base_url, endpoint);
        let host = host_of(base_url);
        return Upstream {
            transport_error: Some(format!(
                "Post \"{url}\": dial tcp {host}:443: connect: connection refused"
            )),
            ..reply(0, String::new())
        };
    }
    if key.contains("invalid") {
        let message = if echo {
            format!("Incorrect API key provided: {api_key}.")
        } else {
            "Incorrect API key provided.".to_string()
        };
        return reply(
            401,
            error_body(&message, "invalid_request_error", "invalid_api_key"),
        );
    }
    if key.contains("quota") {
        return reply(
            402,
            error_body(
                "Insufficient Balance",
                "insufficient_user_quota",
                "insufficient_user_quota",
            ),
        );
    }
    if key.contains("rlreset") {
        return Upstream {
            reset_after_s: Some(RESET_AFTER_S),
            ..reply(
                429,
                error_body(
                    "Rate limit reached for requests. Please try again later.",
                    "rate_limit_error",
                    "rate_limit_exceeded",
                ),
            )
        };
    }
    if key.contains("ratelimit") {
        return reply(
            429,
            error_body(
                "Rate limit reached for requests. Please try again later.",
                "rate_limit_error",
                "rate_limit_exceeded",
            ),
        );
    }
    if endpoint == Endpoint::Responses && !is_official(platform, base_url) {
        return reply(
            404,
            error_body(
                "Invalid URL (POST /v1/responses)",
                "invalid_request_error",
                "not_found",
            ),
        );
    }
    Upstream {
        delay_ms: if key.contains("slow") { SLOW_MS } else { 0 },
        ..reply(200, String::new())
    }
}

/// The built-in model list of a platform.
pub(crate) fn default_models(platform: &str) -> &'static [&'static str] {
    match platform {
        "openai" => &[
            "gpt-5.4",
            "gpt-5.4-mini",
            "gpt-5.2",
            "gpt-5.1",
            "gpt-5",
            "gpt-5-mini",
            "gpt-4.1",
            "gpt-4o",
            "gpt-4o-mini",
            "o3",
            "o4-mini",
        ],
        "gemini" => &["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash"],
        _ => &[
            "claude-opus-4-5",
            "claude-sonnet-4-5",
            "claude-haiku-4-5",
            "claude-opus-4-1",
            "claude-sonnet-4",
        ],
    }
}

/// The model-id prefixes of each vendor of the bundled pack, by the names a base
/// URL may carry (a provider path segment such as `/deepseek`, or the vendor's host).
const VENDOR_PREFIXES: &[(&str, &str)] = &[
    ("deepseek", "deepseek"),
    ("moonshot", "kimi"),
    ("kimi", "kimi"),
    ("minimax", "minimax"),
    ("qwen", "qwen"),
    ("dashscope", "qwen"),
    ("glm", "glm"),
    ("bigmodel", "glm"),
    ("z.ai", "glm"),
    ("stepfun", "step"),
];

/// The model-id prefix of the vendor a base URL names (its path segments first, then
/// its host), if any.
pub(crate) fn vendor_prefix(base_url: &str) -> Option<&'static str> {
    let lower = base_url.to_ascii_lowercase();
    let rest = lower.split_once("://").map_or(lower.as_str(), |(_, r)| r);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let by = |text: &str| {
        VENDOR_PREFIXES
            .iter()
            .find(|(name, _)| text.contains(name))
            .map(|(_, prefix)| *prefix)
    };
    path.split('/').find_map(by).or_else(|| by(host))
}

/// The model ids a simulated vendor lists (`GET …/models`) for a key: the bundled
/// pack's models of the vendor the base URL names (every vendor's when it names
/// none); a key containing `newmodel` also gets `<prefix>-next`, a model the pack
/// does not know (the vendor added it). Sorted, like the host's upstream model sync.
pub(crate) fn listed_models(base_url: &str, api_key: &str) -> Vec<String> {
    let prefix = vendor_prefix(base_url);
    let mut models: Vec<String> = crate::vendor_server::VENDOR_MODELS
        .iter()
        .filter(|m| prefix.is_none_or(|p| m.to_ascii_lowercase().starts_with(p)))
        .map(|m| m.to_string())
        .collect();
    if api_key.to_ascii_lowercase().contains("newmodel") {
        models.push(format!("{}-next", prefix.unwrap_or("mock")));
    }
    models.sort();
    models.dedup();
    models
}

/// The amount a simulated vendor's balance route answers for a key: `0.00` for a
/// `quota` key (its chat calls get 402 Insufficient Balance), `0.50` for a key
/// containing `lowbal`, else `100.00`.
pub(crate) fn balance_of(api_key: &str) -> f64 {
    let key = api_key.to_ascii_lowercase();
    if key.contains("quota") {
        0.0
    } else if key.contains("lowbal") {
        0.5
    } else {
        100.0
    }
}

/// DeepSeek's `GET /user/balance` answer for a key.
pub(crate) fn deepseek_balance_body(api_key: &str) -> Value {
    let amount = format!("{:.2}", balance_of(api_key));
    json!({
        "is_available": balance_of(api_key) > 0.0,
        "balance_infos": [{
            "currency": "CNY",
            "total_balance": amount,
            "granted_balance": "0.00",
            "topped_up_balance": amount,
        }],
    })
}

/// Moonshot/Kimi's `GET /v1/users/me/balance` answer for a key.
pub(crate) fn kimi_balance_body(api_key: &str) -> Value {
    let amount = balance_of(api_key);
    json!({
        "code": 0,
        "data": {"available_balance": amount, "voucher_balance": 0.0, "cash_balance": amount},
        "scode": "0x0",
        "status": true,
    })
}

/// The platform's default account-test model.
pub(crate) fn default_test_model(platform: &str) -> &'static str {
    match platform {
        "openai" => "gpt-5.4",
        "gemini" => "gemini-2.5-flash",
        _ => "claude-sonnet-4-5",
    }
}

/// A model list item in the shape the platform uses.
pub(crate) fn model_item(platform: &str, id: &str) -> Value {
    match platform {
        "openai" => json!({
            "id": id, "object": "model", "created": 1_704_067_200, "owned_by": "openai",
            "type": "model", "display_name": id,
        }),
        _ => {
            json!({"id": id, "type": "model", "display_name": id, "created_at": "2024-01-01T00:00:00Z"})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_patterns() {
        assert_eq!(host_of("https://API.openai.com:443/v1"), "api.openai.com");
        assert!(is_official("openai", ""));
        assert!(!is_official("openai", "https://vendor.example.com/v1"));
        assert_eq!(
            call("openai", "sk-invalid-1", "", Endpoint::ChatCompletions).status,
            401
        );
        assert_eq!(
            call("openai", "sk-QUOTA", "", Endpoint::ChatCompletions).status,
            402
        );
        assert_eq!(
            call("openai", "sk-ratelimit", "", Endpoint::ChatCompletions).status,
            429
        );
        let reset = call("openai", "sk-rlreset", "", Endpoint::ChatCompletions);
        assert_eq!(
            (reset.status, reset.reset_after_s),
            (429, Some(RESET_AFTER_S))
        );
        let down = call(
            "openai",
            "sk-unreachable",
            "https://v.example/v1",
            Endpoint::ChatCompletions,
        );
        assert!(!down.is_success());
        assert_eq!(
            down.transport_error.as_deref(),
            Some("Post \"https://v.example/v1/chat/completions\": dial tcp v.example:443: connect: connection refused")
        );
        assert_eq!(
            call("openai", "sk-quota", "", Endpoint::ChatCompletions).message(),
            "Insufficient Balance"
        );
        assert_eq!(
            call("openai", "sk-slow", "", Endpoint::ChatCompletions).delay_ms,
            SLOW_MS
        );
        assert_eq!(
            call(
                "openai",
                "sk-ok",
                "https://x.example/v1",
                Endpoint::Responses
            )
            .status,
            404
        );
        assert_eq!(
            call(
                "openai",
                "sk-ok",
                "https://api.openai.com",
                Endpoint::Responses
            )
            .status,
            200
        );
    }
}
