//! Direct probe of a vendor's OpenAI-compatible API with the operator's own key
//! (SPEC §6.2), used — with the operator's consent, per call — to tell a vendor
//! problem (bad key, no balance, rate limit, outage) from a host problem.
//!
//! [`probe_upstream`] calls `GET {base}/models` and a minimal
//! `POST {base}/chat/completions` ([`PROBE_PROMPT`], tiny `max_tokens`) with
//! `Authorization: Bearer <key>`, and parses the error bodies vendors really send:
//! OpenAI-style `{"error":{"type","code","message"}}` (DeepSeek, Kimi, DashScope,
//! Zhipu GLM with string business codes, StepFun), MiniMax's wrapper
//! (`{"type":"error","error":{…,"message":"… (1008)"}}`) and native
//! `{"base_resp":{"status_code","status_msg"}}` (which can come with HTTP 200), and
//! flat `{"code","message"}` bodies (SiliconFlow, DashScope native).
//!
//! Only `https://` base URLs are accepted, except `http://` for loopback hosts
//! (`127.0.0.0/8`, `::1`, `localhost`): the key must never cross a network in clear
//! text. The key is sent only in the `Authorization` header, never logged, and
//! scrubbed from any vendor message that echoes it.

use std::time::{Duration, Instant};

use relay_domain::net::is_loopback_host;
use relay_domain::{mask, Fingerprint, Redactor, Secret};
use serde::Serialize;
use serde_json::{json, Value};
use ureq::Agent;

use crate::types::PROBE_PROMPT;

/// Largest vendor answer read.
const MAX_BODY: u64 = 1024 * 1024;
/// Characters of a completion kept as preview.
const PREVIEW_CHARS: usize = 64;
/// Characters of a vendor message kept.
pub(crate) const MESSAGE_CHARS: usize = 512;
/// Model ids kept from a model list.
const MAX_MODELS: usize = 500;
/// `max_tokens` of the chat probe.
pub const UPSTREAM_PROBE_MAX_TOKENS: u32 = 8;

/// Timeouts of a vendor probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UpstreamTimeouts {
    /// TCP/TLS connect timeout.
    pub connect: Duration,
    /// Timeout for the response headers and for each read of the body.
    pub read: Duration,
}

impl Default for UpstreamTimeouts {
    /// Connect 5 s, read 30 s.
    fn default() -> Self {
        UpstreamTimeouts {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(30),
        }
    }
}

/// A vendor base URL the probe refuses. Messages never repeat credentials that
/// may sit in the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamUrlError {
    /// Neither `https://` nor `http://`.
    #[error("the vendor base URL must start with https:// (got scheme `{scheme}`)")]
    UnsupportedScheme {
        /// The scheme found (text before `://`, or empty).
        scheme: String,
    },
    /// `http://` to a host that is not a loopback address: the key would travel in
    /// clear text.
    #[error("the vendor base URL uses http:// for {host}, which is not a loopback address; use https:// so the key is not sent in clear text")]
    InsecureScheme {
        /// The host of the URL.
        host: String,
    },
    /// Not a usable URL (no host, credentials, query, fragment, spaces).
    #[error("the vendor base URL is not usable: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
}

/// The vendor URLs a probe calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamEndpoints {
    /// The normalised base URL (no trailing `/`).
    pub base_url: String,
    /// `GET` model list.
    pub models_url: String,
    /// `POST` chat completions.
    pub chat_url: String,
}

/// True when the last path segment is a version (`v1`, `v4`, `v1beta`, `v3`, …).
fn ends_with_version(path: &str) -> bool {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let Some(rest) = last.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && rest[digits..].chars().all(|c| c.is_ascii_alphanumeric())
}

/// The host part of an authority (`host`, `host:port`, `[v6]:port`).
fn authority_host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// Validates a vendor base URL and derives the probe URLs.
///
/// Joining rule: when the base ends with a version segment (`/v1`, `/v4`,
/// `/compatible-mode/v1`, `/api/paas/v4`, …) `/models` and `/chat/completions` are
/// appended directly; a base without one (`https://api.deepseek.com`) gets
/// `/v1/models` and `/v1/chat/completions`, the OpenAI convention every listed
/// vendor accepts. A base that already ends with `/chat/completions` is cut back to
/// its prefix first.
pub fn upstream_endpoints(base_url: &str) -> Result<UpstreamEndpoints, UpstreamUrlError> {
    let url = base_url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(UpstreamUrlError::UnsupportedScheme {
            scheme: String::new(),
        });
    };
    let scheme_lc = scheme.to_ascii_lowercase();
    if scheme_lc != "https" && scheme_lc != "http" {
        return Err(UpstreamUrlError::UnsupportedScheme {
            scheme: scheme.chars().take(16).collect(),
        });
    }
    if url.chars().any(char::is_whitespace) {
        return Err(UpstreamUrlError::Invalid {
            reason: "it contains spaces".into(),
        });
    }
    if url.contains('?') || url.contains('#') {
        return Err(UpstreamUrlError::Invalid {
            reason: "it must not have a query or fragment".into(),
        });
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(UpstreamUrlError::Invalid {
            reason: "it must not carry credentials".into(),
        });
    }
    let host = authority_host(authority);
    if host.is_empty() {
        return Err(UpstreamUrlError::Invalid {
            reason: "it has no host".into(),
        });
    }
    if scheme_lc == "http" && !is_loopback_host(host) {
        return Err(UpstreamUrlError::InsecureScheme {
            host: host.to_string(),
        });
    }
    let mut path = path.trim_end_matches('/').to_string();
    if let Some(prefix) = path.strip_suffix("/chat/completions") {
        path = prefix.to_string();
    }
    let base = format!("{scheme_lc}://{authority}{path}");
    let root = if ends_with_version(&path) {
        base.clone()
    } else {
        format!("{base}/v1")
    };
    Ok(UpstreamEndpoints {
        models_url: format!("{root}/models"),
        chat_url: format!("{root}/chat/completions"),
        base_url: base,
    })
}

/// A vendor's error, as parsed from its answer (messages verbatim, minus the key).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct VendorError {
    /// `error.type` (`invalid_request_error`, `insufficient_balance_error`,
    /// `exceeded_current_quota_error`, `Arrearage`, …).
    pub error_type: Option<String>,
    /// `error.code` or the flat `code` as a string (`invalid_api_key`, `1113`,
    /// `Throttling.AllocationQuota`, MiniMax `base_resp.status_code`, or the
    /// `(NNNN)` business code at the end of a MiniMax message).
    pub code: Option<String>,
    /// The vendor's message, verbatim (bounded).
    pub message: String,
}

fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The `(NNNN)` business code MiniMax appends to its messages.
fn trailing_code(message: &str) -> Option<String> {
    let trimmed = message.trim_end();
    let inner = trimmed.strip_suffix(')')?;
    let open = inner.rfind('(')?;
    let code = &inner[open + 1..];
    (!code.is_empty() && code.len() <= 8 && code.chars().all(|c| c.is_ascii_digit()))
        .then(|| code.to_string())
}

fn bounded(s: &str) -> String {
    s.trim().chars().take(MESSAGE_CHARS).collect()
}

/// Parses a vendor error body in any of the shapes vendors use. `None` when the
/// body is a success (or empty and `status` is 2xx). A non-JSON error body becomes
/// its (bounded) text as the message.
pub fn parse_vendor_error(status: u16, body: &str) -> Option<VendorError> {
    let success = (200..300).contains(&status);
    let value: Value = match serde_json::from_str(body.trim()) {
        Ok(v) => v,
        Err(_) => {
            return (!success).then(|| VendorError {
                message: bounded(body),
                ..VendorError::default()
            })
        }
    };
    // MiniMax native: {"base_resp":{"status_code":N,"status_msg":"…"}}, even on 200.
    if let Some(base) = value.get("base_resp").filter(|b| b.is_object()) {
        let code = base.get("status_code").and_then(value_string);
        if code.as_deref().is_some_and(|c| c != "0") {
            return Some(VendorError {
                error_type: None,
                code,
                message: base
                    .get("status_msg")
                    .and_then(Value::as_str)
                    .map(bounded)
                    .unwrap_or_default(),
            });
        }
    }
    match value.get("error") {
        Some(Value::Object(e)) => {
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .map(bounded)
                .unwrap_or_default();
            let code = e
                .get("code")
                .and_then(value_string)
                .or_else(|| trailing_code(&message));
            return Some(VendorError {
                error_type: e.get("type").and_then(value_string),
                code,
                message,
            });
        }
        Some(Value::String(s)) => {
            return Some(VendorError {
                error_type: None,
                code: value.get("code").and_then(value_string),
                message: bounded(s),
            });
        }
        _ => {}
    }
    if success {
        return None;
    }
    // Flat {"code": …, "message": …} (SiliconFlow, DashScope native, gateways).
    let message = value
        .get("message")
        .or_else(|| value.get("msg"))
        .and_then(Value::as_str)
        .map(bounded)
        .unwrap_or_else(|| bounded(body));
    Some(VendorError {
        error_type: value.get("type").and_then(value_string),
        code: value
            .get("code")
            .and_then(value_string)
            .or_else(|| trailing_code(&message)),
        message,
    })
}

/// One HTTP call to the vendor. HTTP errors are data; a transport failure leaves
/// `http_status` empty and fills `transport_error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamCall {
    /// The URL called (no secret: the key travels in a header).
    pub url: String,
    /// HTTP status, when the vendor answered.
    pub http_status: Option<u16>,
    /// The call succeeded (2xx with a usable body).
    pub ok: bool,
    /// The vendor's error, when it refused.
    pub error: Option<VendorError>,
    /// Connect/TLS/timeout failure text, when the vendor did not answer.
    pub transport_error: Option<String>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// Result of a direct vendor probe. Carries the key only as mask and fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamProbe {
    /// The URLs used.
    pub endpoints: UpstreamEndpoints,
    /// The model probed.
    pub model: String,
    /// Mask of the key.
    pub key_mask: String,
    /// Fingerprint of the key.
    pub key_fingerprint: Fingerprint,
    /// `GET {base}/models`.
    pub models: UpstreamCall,
    /// Model ids listed (bounded), empty on error.
    pub models_listed: Vec<String>,
    /// The model list named `model`.
    pub model_listed: bool,
    /// `POST {base}/chat/completions`.
    pub chat: UpstreamCall,
    /// First characters of the completion.
    pub chat_preview: String,
    /// Model echoed by the vendor.
    pub chat_model: Option<String>,
    /// Wall time of the whole probe in milliseconds.
    pub elapsed_ms: u64,
}

impl UpstreamProbe {
    /// True when the vendor completed a chat with the key (the model list is
    /// advisory: some vendor surfaces have none).
    pub fn works(&self) -> bool {
        self.chat.ok
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `text` through the redaction step with the probed key (and the key patterns).
fn scrub(text: &str, key: &Secret) -> String {
    let raw = key.expose();
    // Keys shorter than the redactor's floor are still replaced here: this text
    // quotes the very key that was sent.
    let text = if raw.len() >= 4 && raw.len() < relay_domain::redact::MIN_SECRET_CHARS {
        text.replace(raw, &mask(raw))
    } else {
        text.to_string()
    };
    Redactor::new().with(key).redact(&text)
}

fn scrub_error(mut e: VendorError, key: &Secret) -> VendorError {
    e.message = scrub(&e.message, key);
    e
}

/// Sends one request and reads the whole answer.
fn send(
    agent: &Agent,
    url: &str,
    key: &Secret,
    body: Option<&Value>,
) -> (Result<(u16, String), String>, Duration) {
    let started = Instant::now();
    let bearer = format!("Bearer {}", key.expose());
    let result = match body {
        None => agent
            .get(url)
            .header("Authorization", &bearer)
            .header("Accept", "application/json")
            .call(),
        Some(b) => agent
            .post(url)
            .header("Authorization", &bearer)
            .header("Accept", "application/json")
            .send_json(b),
    };
    let answer = result.and_then(|mut resp| {
        let status = resp.status().as_u16();
        resp.body_mut()
            .with_config()
            .limit(MAX_BODY)
            .lossy_utf8(true)
            .read_to_string()
            .map(|text| (status, text))
    });
    (answer.map_err(|e| e.to_string()), started.elapsed())
}

fn failed_transport(url: &str, error: String, d: Duration, key: &Secret) -> UpstreamCall {
    UpstreamCall {
        url: url.to_string(),
        http_status: None,
        ok: false,
        error: None,
        transport_error: Some(scrub(&error, key)),
        duration_ms: ms(d),
    }
}

/// Probes a vendor directly: `GET {base}/models`, then a minimal chat completion
/// with `model`. Both calls always run; every vendor answer, including transport
/// failures, is part of the result. Errors only when the base URL is refused
/// ([`upstream_endpoints`]).
pub fn probe_upstream(
    base_url: &str,
    key: &Secret,
    model: &str,
    timeouts: &UpstreamTimeouts,
) -> Result<UpstreamProbe, UpstreamUrlError> {
    let endpoints = upstream_endpoints(base_url)?;
    let started = Instant::now();
    let agent: Agent = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(timeouts.connect))
        .timeout_recv_response(Some(timeouts.read))
        .timeout_per_read(Some(timeouts.read))
        .user_agent(concat!("relay-sub2api/", env!("CARGO_PKG_VERSION")))
        .max_redirects(0)
        .build()
        .into();
    tracing::debug!(url = %endpoints.models_url, "vendor probe: model list");

    let mut probe = UpstreamProbe {
        model: model.to_string(),
        key_mask: mask(key.expose()),
        key_fingerprint: Fingerprint::of(key.expose()),
        models: failed_transport(&endpoints.models_url, String::new(), Duration::ZERO, key),
        models_listed: Vec::new(),
        model_listed: false,
        chat: failed_transport(&endpoints.chat_url, String::new(), Duration::ZERO, key),
        chat_preview: String::new(),
        chat_model: None,
        elapsed_ms: 0,
        endpoints,
    };

    // GET /models
    let url = probe.endpoints.models_url.clone();
    let (answer, took) = send(&agent, &url, key, None);
    probe.models = match answer {
        Err(e) => failed_transport(&url, e, took, key),
        Ok((status, text)) => {
            let error = parse_vendor_error(status, &text).map(|e| scrub_error(e, key));
            let list = serde_json::from_str::<Value>(text.trim())
                .ok()
                .and_then(|v| v.get("data").and_then(Value::as_array).cloned());
            let ok = error.is_none() && list.is_some();
            if let Some(list) = list.filter(|_| ok) {
                probe.models_listed = list
                    .iter()
                    .filter_map(|m| m.get("id").and_then(Value::as_str))
                    .take(MAX_MODELS)
                    .map(str::to_string)
                    .collect();
                probe.model_listed = probe.models_listed.iter().any(|m| m == model);
            }
            UpstreamCall {
                url: url.clone(),
                http_status: Some(status),
                ok,
                error: if ok {
                    None
                } else {
                    Some(error.unwrap_or_else(|| VendorError {
                        message: "the answer has no model list (`data`)".into(),
                        ..VendorError::default()
                    }))
                },
                transport_error: None,
                duration_ms: ms(took),
            }
        }
    };
    tracing::debug!(status = ?probe.models.http_status, "vendor probe: model list answered");

    // POST /chat/completions
    let url = probe.endpoints.chat_url.clone();
    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": PROBE_PROMPT}],
        "max_tokens": UPSTREAM_PROBE_MAX_TOKENS,
        "stream": false,
    });
    let (answer, took) = send(&agent, &url, key, Some(&body));
    probe.chat = match answer {
        Err(e) => failed_transport(&url, e, took, key),
        Ok((status, text)) => {
            let error = parse_vendor_error(status, &text).map(|e| scrub_error(e, key));
            let value = serde_json::from_str::<Value>(text.trim()).ok();
            let first = value
                .as_ref()
                .and_then(|v| v.get("choices"))
                .and_then(Value::as_array)
                .and_then(|c| c.first())
                .cloned();
            let ok = error.is_none() && first.is_some();
            if ok {
                let message = first.as_ref().and_then(|c| c.get("message"));
                let text = message
                    .and_then(|m| m.get("content"))
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .or_else(|| {
                        message
                            .and_then(|m| m.get("reasoning_content"))
                            .and_then(Value::as_str)
                    })
                    .unwrap_or_default();
                probe.chat_preview =
                    scrub(&text.chars().take(PREVIEW_CHARS).collect::<String>(), key);
                probe.chat_model = value
                    .as_ref()
                    .and_then(|v| v.get("model"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            UpstreamCall {
                url: url.clone(),
                http_status: Some(status),
                ok,
                error: if ok {
                    None
                } else {
                    Some(error.unwrap_or_else(|| VendorError {
                        message: "the answer has no completion (`choices`)".into(),
                        ..VendorError::default()
                    }))
                },
                transport_error: None,
                duration_ms: ms(took),
            }
        }
    };
    tracing::debug!(status = ?probe.chat.http_status, ok = probe.chat.ok, "vendor probe: chat answered");
    probe.elapsed_ms = ms(started.elapsed());
    Ok(probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_versioned_and_bare_bases() {
        let e = upstream_endpoints("https://api.moonshot.ai/v1/").unwrap();
        assert_eq!(e.base_url, "https://api.moonshot.ai/v1");
        assert_eq!(e.models_url, "https://api.moonshot.ai/v1/models");
        assert_eq!(e.chat_url, "https://api.moonshot.ai/v1/chat/completions");
        let e = upstream_endpoints("https://open.bigmodel.cn/api/paas/v4").unwrap();
        assert_eq!(
            e.chat_url,
            "https://open.bigmodel.cn/api/paas/v4/chat/completions"
        );
        let e = upstream_endpoints("https://dashscope.aliyuncs.com/compatible-mode/v1").unwrap();
        assert_eq!(
            e.models_url,
            "https://dashscope.aliyuncs.com/compatible-mode/v1/models"
        );
        let e = upstream_endpoints("https://api.deepseek.com").unwrap();
        assert_eq!(e.models_url, "https://api.deepseek.com/v1/models");
        assert_eq!(e.chat_url, "https://api.deepseek.com/v1/chat/completions");
        let e = upstream_endpoints("https://ark.cn-beijing.volces.com/api/v3").unwrap();
        assert_eq!(
            e.chat_url,
            "https://ark.cn-beijing.volces.com/api/v3/chat/completions"
        );
        let e = upstream_endpoints("https://api.x.com/v1/chat/completions").unwrap();
        assert_eq!(e.chat_url, "https://api.x.com/v1/chat/completions");
        assert!(!ends_with_version("/api/video"));
        assert!(ends_with_version("/v1beta"));
    }

    #[test]
    fn http_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:8080/v1",
            "http://127.3.4.5/v1",
            "http://localhost:9/v1",
            "http://[::1]:8080/v1",
            "HTTP://LOCALHOST/v1",
        ] {
            assert!(upstream_endpoints(ok).is_ok(), "{ok}");
        }
        for (bad, host) in [
            ("http://api.deepseek.com/v1", "api.deepseek.com"),
            ("http://10.0.0.1/v1", "10.0.0.1"),
            ("http://127.0.0.1.evil.example/v1", "127.0.0.1.evil.example"),
            ("http://[::2]/v1", "::2"),
        ] {
            assert_eq!(
                upstream_endpoints(bad),
                Err(UpstreamUrlError::InsecureScheme { host: host.into() }),
                "{bad}"
            );
        }
        assert!(matches!(
            upstream_endpoints("ftp://x/v1"),
            Err(UpstreamUrlError::UnsupportedScheme { .. })
        ));
        let err = upstream_endpoints("https://user:sk-secret@x.com/v1").unwrap_err();
        assert!(!err.to_string().contains("sk-secret"));
        assert!(upstream_endpoints("https:///v1").is_err());
        assert!(upstream_endpoints("https://x.com/v1?key=1").is_err());
    }

    #[test]
    fn parses_vendor_error_shapes() {
        let openai = r#"{"error":{"message":"Incorrect API key provided. ","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        let e = parse_vendor_error(401, openai).unwrap();
        assert_eq!(e.code.as_deref(), Some("invalid_api_key"));
        assert_eq!(e.error_type.as_deref(), Some("invalid_request_error"));
        let glm = r#"{"error":{"code":"1113","message":"Insufficient balance or no resource package. Please recharge."}}"#;
        assert_eq!(
            parse_vendor_error(429, glm).unwrap().code.as_deref(),
            Some("1113")
        );
        let minimax = r#"{"type":"error","error":{"type":"insufficient_balance_error","message":"insufficient balance (1008)","http_code":"402"},"request_id":"r"}"#;
        let e = parse_vendor_error(402, minimax).unwrap();
        assert_eq!(e.code.as_deref(), Some("1008"));
        assert_eq!(e.error_type.as_deref(), Some("insufficient_balance_error"));
        let native = r#"{"base_resp":{"status_code":2049,"status_msg":"invalid api key"}}"#;
        let e = parse_vendor_error(200, native).unwrap();
        assert_eq!(e.code.as_deref(), Some("2049"));
        assert_eq!(e.message, "invalid api key");
        assert!(parse_vendor_error(
            200,
            r#"{"base_resp":{"status_code":0,"status_msg":""},"choices":[]}"#
        )
        .is_none());
        let silicon = r#"{"code":30014,"data":null,"message":"Token is invalid."}"#;
        let e = parse_vendor_error(401, silicon).unwrap();
        assert_eq!(e.code.as_deref(), Some("30014"));
        assert_eq!(e.message, "Token is invalid.");
        let e = parse_vendor_error(502, "<html>bad gateway</html>").unwrap();
        assert_eq!(e.message, "<html>bad gateway</html>");
        assert!(parse_vendor_error(200, r#"{"choices":[{}]}"#).is_none());
    }

    #[test]
    fn scrubs_the_key_from_vendor_text() {
        let key = Secret::new("sk-abcdefghijklmnop");
        let s = scrub("Incorrect API key provided: sk-abcdefghijklmnop.", &key);
        assert!(!s.contains("sk-abcdefghijklmnop"));
        assert!(s.contains(&mask(key.expose())));
    }

    proptest::proptest! {
        /// The error parser never panics and never invents a success for a 4xx/5xx.
        #[test]
        fn error_parser_is_total(status in 100u16..600, body in ".{0,200}") {
            let parsed = parse_vendor_error(status, &body);
            if status >= 400 {
                proptest::prop_assert!(parsed.is_some());
            }
        }
    }
}
