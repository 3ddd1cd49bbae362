//! Reading a vendor answer into an [`UpstreamSupport`] and a note.
//!
//! Error bodies come in the shapes vendors really send: OpenAI-style
//! `{"error":{"type","code","message"}}` (DeepSeek, Kimi, DashScope, Zhipu with
//! string business codes), MiniMax's wrapper (`"message":"… (1008)"`) and native
//! `{"base_resp":{"status_code","status_msg"}}` (also with HTTP 200), flat
//! `{"code","message"}` bodies, `{"error":"text"}`, and plain text or HTML.

use relay_domain::vocab::UpstreamSupport;
use serde_json::Value;

use crate::wire::{first_event, Answer};

/// What a successful answer must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// `{"data":[…]}`.
    ModelList,
    /// `{"choices":[…]}`.
    Chat,
    /// `{"choices":[…]}`, to a chat offering a tool (asked only after a plain chat
    /// with the same model worked).
    ChatTools,
    /// `text/event-stream` whose first event is a chat chunk (asked only after a
    /// plain chat with the same model worked).
    ChatStream,
    /// A Responses object (`"object":"response"` or an `output` list).
    Responses,
    /// An Anthropic message (`"type":"message"` or a `content` list).
    Messages,
}

impl Expect {
    fn what(self) -> &'static str {
        match self {
            Expect::ModelList => "a model list (`data`)",
            Expect::Chat | Expect::ChatTools => "a completion (`choices`)",
            Expect::ChatStream => "a chat chunk",
            Expect::Responses => "a response object (`output`)",
            Expect::Messages => "a message (`content`)",
        }
    }

    fn fits(self, v: &Value) -> bool {
        match self {
            Expect::ModelList => v.get("data").is_some_and(Value::is_array),
            Expect::Chat | Expect::ChatTools | Expect::ChatStream => {
                v.get("choices").is_some_and(Value::is_array)
            }
            Expect::Responses => {
                v.get("object").and_then(Value::as_str) == Some("response")
                    || v.get("output").is_some_and(Value::is_array)
            }
            Expect::Messages => {
                v.get("type").and_then(Value::as_str) == Some("message")
                    || v.get("content").is_some_and(Value::is_array)
            }
        }
    }
}

/// A vendor's error: business code, type and message (verbatim; redacted later).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VendorError {
    pub code: Option<String>,
    pub kind: Option<String>,
    pub message: String,
}

impl VendorError {
    /// Code, type and message in one lowercase text, for the keyword rules.
    fn haystack(&self) -> String {
        format!(
            "{} {} {}",
            self.code.as_deref().unwrap_or(""),
            self.kind.as_deref().unwrap_or(""),
            self.message
        )
        .to_ascii_lowercase()
    }
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
    let inner = message.trim_end().strip_suffix(')')?;
    let code = &inner[inner.rfind('(')? + 1..];
    (!code.is_empty() && code.len() <= 8 && code.chars().all(|c| c.is_ascii_digit()))
        .then(|| code.to_string())
}

/// The error a body carries, in any of the vendors' shapes. `None` for a body
/// that is not an error (a non-JSON body is an error only for a non-2xx status).
pub(crate) fn vendor_error(status: u16, body: &str) -> Option<VendorError> {
    let success = (200..300).contains(&status);
    let Ok(value) = serde_json::from_str::<Value>(body.trim()) else {
        return (!success).then(|| VendorError {
            message: body.trim().to_string(),
            ..VendorError::default()
        });
    };
    if let Some(base) = value.get("base_resp").filter(|b| b.is_object()) {
        let code = base.get("status_code").and_then(value_string);
        if code.as_deref().is_some_and(|c| c != "0") {
            return Some(VendorError {
                code,
                kind: None,
                message: base
                    .get("status_msg")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
    }
    match value.get("error") {
        Some(Value::Object(e)) => {
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            return Some(VendorError {
                code: e
                    .get("code")
                    .and_then(value_string)
                    .or_else(|| trailing_code(&message)),
                kind: e.get("type").and_then(value_string),
                message,
            });
        }
        Some(Value::String(s)) => {
            return Some(VendorError {
                code: value.get("code").and_then(value_string),
                kind: None,
                message: s.clone(),
            })
        }
        _ => {}
    }
    if success {
        return None;
    }
    let message = value
        .get("message")
        .or_else(|| value.get("msg"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| body.trim().to_string());
    Some(VendorError {
        code: value
            .get("code")
            .and_then(value_string)
            .or_else(|| trailing_code(&message)),
        kind: value.get("type").and_then(value_string),
        message,
    })
}

/// Texts and codes that mean "no balance or quota left", whatever the status
/// (Kimi answers 429, MiniMax once answered 500 with `1008`, relays 403).
const QUOTA_WORDS: &[&str] = &[
    "insufficient balance",
    "insufficient_balance",
    "insufficient account balance",
    "insufficient_quota",
    "insufficient_user_quota",
    "exceeded_current_quota",
    "exceeded your current quota",
    "quota is not enough",
    "quota exceeded",
    "quota exhausted",
    "usage limit exceeded",
    "arrearage",
    "overdue",
    "no resource package",
    "please recharge",
    "余额不足",
    "欠费",
];

/// Business codes that mean "no balance or quota left" (MiniMax 1008/1028/1030/2056,
/// Zhipu 1113).
const QUOTA_CODES: &[&str] = &["1008", "1028", "1030", "2056", "1113"];

/// Business codes that mean "the key is refused" (MiniMax 1004/2049, Zhipu 1000/1001/1002 are
/// not listed: 1002 is MiniMax's rate limit).
const AUTH_CODES: &[&str] = &["1004", "2049"];

/// Business codes of a rate limit (MiniMax 1002).
const RATE_CODES: &[&str] = &["1002"];

/// Texts of a 400 that name an unknown route rather than a bad request.
const ROUTE_WORDS: &[&str] = &[
    "invalid url",
    "unknown url",
    "unrecognized request url",
    "no route",
    "route not found",
    "path not found",
    "page not found",
    "unknown endpoint",
    "unsupported endpoint",
    "endpoint not found",
    "endpoint is not supported",
    "not implemented",
];

fn is_quota(e: &VendorError) -> bool {
    let text = e.haystack();
    QUOTA_WORDS.iter().any(|w| text.contains(w))
        || e.code.as_deref().is_some_and(|c| QUOTA_CODES.contains(&c))
}

/// A 400 naming an unknown route.
fn names_unknown_route(e: &VendorError) -> bool {
    let text = e.haystack();
    ROUTE_WORDS.iter().any(|w| text.contains(w))
}

/// The class of a business code carried by an answer, when it has one.
fn code_class(e: &VendorError) -> Option<UpstreamSupport> {
    let code = e.code.as_deref()?;
    if QUOTA_CODES.contains(&code) {
        Some(UpstreamSupport::Quota)
    } else if AUTH_CODES.contains(&code) {
        Some(UpstreamSupport::AuthFailed)
    } else if RATE_CODES.contains(&code) {
        Some(UpstreamSupport::RateLimited)
    } else {
        None
    }
}

/// The vendor's message for a note (`status: message`, or the status alone).
fn error_note(status: u16, e: Option<&VendorError>) -> String {
    match e.map(|e| e.message.trim()).filter(|m| !m.is_empty()) {
        Some(m) => format!("HTTP {status}: {m}"),
        None => format!("HTTP {status}"),
    }
}

/// The class of an error status (not 2xx). A 400/422 to a streamed or
/// tool-offering chat is `unsupported`: the plain chat with the same model worked,
/// so what was refused is the feature.
fn classify_error(expect: Expect, status: u16, e: Option<&VendorError>) -> UpstreamSupport {
    if status != 401 && e.is_some_and(is_quota) {
        return UpstreamSupport::Quota;
    }
    match status {
        401 | 403 => UpstreamSupport::AuthFailed,
        402 => UpstreamSupport::Quota,
        429 => UpstreamSupport::RateLimited,
        300..=399 | 404 | 405 | 501 => UpstreamSupport::Unsupported,
        408 | 500..=599 => UpstreamSupport::UpstreamError,
        _ => match e {
            Some(e) if code_class(e) == Some(UpstreamSupport::AuthFailed) => {
                UpstreamSupport::AuthFailed
            }
            Some(e) if names_unknown_route(e) => UpstreamSupport::Unsupported,
            _ if matches!(status, 400 | 422)
                && matches!(expect, Expect::ChatStream | Expect::ChatTools) =>
            {
                UpstreamSupport::Unsupported
            }
            _ => UpstreamSupport::Rejected,
        },
    }
}

fn is_json(content_type: &str) -> bool {
    content_type.is_empty() || content_type.contains("json")
}

/// The class of one answer for `expect`, and its note (raw vendor text: the
/// caller redacts it before keeping it).
pub(crate) fn classify(expect: Expect, a: &Answer) -> (UpstreamSupport, Option<String>) {
    let status = a.status;
    if !(200..300).contains(&status) {
        if (300..400).contains(&status) {
            return (
                UpstreamSupport::Unsupported,
                Some(format!("HTTP {status}: a redirect (not followed)")),
            );
        }
        let e = if a.truncated {
            None
        } else {
            vendor_error(status, &a.body)
        };
        return (
            classify_error(expect, status, e.as_ref()),
            Some(error_note(status, e.as_ref())),
        );
    }
    if expect == Expect::ChatStream {
        return classify_stream(a);
    }
    if a.truncated {
        return if is_json(&a.content_type) {
            (
                UpstreamSupport::Supported,
                Some(format!(
                    "HTTP {status}: the answer was cut at the body limit"
                )),
            )
        } else {
            (
                UpstreamSupport::Unsupported,
                Some(format!(
                    "HTTP {status}: answered {}, not JSON",
                    a.content_type
                )),
            )
        };
    }
    if let Some(e) = vendor_error(status, &a.body) {
        // An error inside a 2xx answer (MiniMax `base_resp`, gateways).
        let class = code_class(&e).unwrap_or(if is_quota(&e) {
            UpstreamSupport::Quota
        } else {
            UpstreamSupport::Rejected
        });
        return (class, Some(error_note(status, Some(&e))));
    }
    if let Some(error) = &a.read_error {
        return (
            UpstreamSupport::UpstreamError,
            Some(format!("HTTP {status}: the answer broke off: {error}")),
        );
    }
    match serde_json::from_str::<Value>(a.body.trim()) {
        Ok(v) if expect.fits(&v) => (UpstreamSupport::Supported, None),
        _ => (
            UpstreamSupport::Unsupported,
            Some(format!(
                "HTTP {status}: the answer is not {}{}",
                expect.what(),
                if a.content_type.is_empty() || is_json(&a.content_type) {
                    String::new()
                } else {
                    format!(" ({})", a.content_type)
                }
            )),
        ),
    }
}

/// A 2xx answer to a `stream: true` chat.
fn classify_stream(a: &Answer) -> (UpstreamSupport, Option<String>) {
    let status = a.status;
    if !a.content_type.contains("event-stream") {
        return (
            UpstreamSupport::Unsupported,
            Some(format!(
                "HTTP {status}: answered {} instead of a stream",
                if a.content_type.is_empty() {
                    "without a content type"
                } else {
                    &a.content_type
                }
            )),
        );
    }
    match first_event(&a.body) {
        Some(payload) => match serde_json::from_str::<Value>(payload) {
            Ok(v) if Expect::ChatStream.fits(&v) => (UpstreamSupport::Supported, None),
            Ok(v) => match vendor_error(200, &v.to_string()) {
                Some(e) => (
                    code_class(&e).unwrap_or(if is_quota(&e) {
                        UpstreamSupport::Quota
                    } else {
                        UpstreamSupport::Rejected
                    }),
                    Some(error_note(status, Some(&e))),
                ),
                None => (
                    UpstreamSupport::Unsupported,
                    Some(format!(
                        "HTTP {status}: the first event is not a chat chunk"
                    )),
                ),
            },
            Err(_) => (
                UpstreamSupport::Unsupported,
                Some(format!(
                    "HTTP {status}: the first event is not a chat chunk"
                )),
            ),
        },
        None => {
            let why = match (&a.read_error, a.truncated) {
                (Some(e), _) => format!("the stream broke off before its first event: {e}"),
                (None, true) => "no event within the body limit".to_string(),
                (None, false) => "the stream ended without an event".to_string(),
            };
            (
                if a.read_error.is_some() {
                    UpstreamSupport::UpstreamError
                } else {
                    UpstreamSupport::Unsupported
                },
                Some(format!("HTTP {status}: {why}")),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, content_type: &str, body: &str) -> Answer {
        Answer {
            status,
            content_type: content_type.into(),
            body: body.into(),
            truncated: false,
            read_error: None,
        }
    }

    fn class(status: u16, body: &str) -> UpstreamSupport {
        classify(Expect::Chat, &answer(status, "application/json", body)).0
    }

    #[test]
    fn statuses_and_vendor_texts() {
        use UpstreamSupport::*;
        let openai = |m: &str, t: &str| {
            format!(r#"{{"error":{{"message":"{m}","type":"{t}","code":null}}}}"#)
        };
        assert_eq!(class(200, r#"{"choices":[]}"#), Supported);
        assert_eq!(
            class(401, &openai("Authentication Fails", "authentication_error")),
            AuthFailed
        );
        assert_eq!(class(403, "forbidden"), AuthFailed);
        assert_eq!(
            class(402, &openai("Insufficient Balance", "unknown_error")),
            Quota
        );
        // Kimi: no balance is a 429.
        assert_eq!(
            class(
                429,
                &openai(
                    "suspended due to insufficient balance",
                    "exceeded_current_quota_error"
                )
            ),
            Quota
        );
        assert_eq!(
            class(429, &openai("rate limit", "rate_limit_error")),
            RateLimited
        );
        // MiniMax's older 500 with 1008, relays' 403 quota.
        assert_eq!(
            class(
                500,
                r#"{"type":"error","error":{"type":"api_error","message":"insufficient balance (1008)"}}"#
            ),
            Quota
        );
        assert_eq!(
            class(403, r#"{"error":{"message":"user quota is not enough"}}"#),
            Quota
        );
        assert_eq!(class(404, "404 page not found"), Unsupported);
        assert_eq!(class(405, ""), Unsupported);
        assert_eq!(class(501, ""), Unsupported);
        assert_eq!(
            class(
                400,
                &openai("Invalid URL (POST /v1/responses)", "invalid_request_error")
            ),
            Unsupported
        );
        assert_eq!(
            class(400, &openai("Model Not Exist", "invalid_request_error")),
            Rejected
        );
        // A parameter the endpoint does not take is not a missing endpoint …
        assert_eq!(
            class(
                400,
                &openai(
                    "Unsupported parameter: 'max_tokens'",
                    "invalid_request_error"
                )
            ),
            Rejected
        );
        // … but a refused tool or stream, after a plain chat worked, is a missing feature.
        let tools = answer(
            400,
            "application/json",
            &openai("tools are not supported", "x"),
        );
        assert_eq!(classify(Expect::ChatTools, &tools).0, Unsupported);
        assert_eq!(classify(Expect::ChatStream, &tools).0, Unsupported);
        assert_eq!(classify(Expect::Chat, &tools).0, Rejected);
        assert_eq!(
            class(422, &openai("bad max_tokens", "invalid_request_error")),
            Rejected
        );
        assert_eq!(class(500, "oops"), UpstreamError);
        assert_eq!(class(503, ""), UpstreamError);
        assert_eq!(class(408, ""), UpstreamError);
        assert_eq!(class(302, ""), Unsupported);
        // MiniMax native, HTTP 200.
        assert_eq!(
            class(
                200,
                r#"{"base_resp":{"status_code":2049,"status_msg":"invalid api key"}}"#
            ),
            AuthFailed
        );
        assert_eq!(
            class(
                200,
                r#"{"base_resp":{"status_code":1008,"status_msg":"insufficient balance"}}"#
            ),
            Quota
        );
        assert_eq!(
            class(
                200,
                r#"{"base_resp":{"status_code":1002,"status_msg":"rate limit"}}"#
            ),
            RateLimited
        );
        assert_eq!(
            class(
                400,
                r#"{"base_resp":{"status_code":1004,"status_msg":"login fail"}}"#
            ),
            AuthFailed
        );
        assert_eq!(
            class(
                200,
                r#"{"base_resp":{"status_code":0,"status_msg":""},"choices":[]}"#
            ),
            Supported
        );
        // Zhipu's quota code with a 429.
        assert_eq!(
            class(429, r#"{"error":{"code":"1113","message":"余额不足"}}"#),
            Quota
        );
    }

    #[test]
    fn shapes_of_successful_answers() {
        let html = answer(
            200,
            "text/html; charset=utf-8",
            "<!doctype html><html></html>",
        );
        assert_eq!(
            classify(Expect::Chat, &html).0,
            UpstreamSupport::Unsupported
        );
        let list = answer(200, "application/json", r#"{"object":"list","data":[]}"#);
        assert_eq!(
            classify(Expect::ModelList, &list).0,
            UpstreamSupport::Supported
        );
        assert_eq!(
            classify(Expect::Responses, &list).0,
            UpstreamSupport::Unsupported
        );
        let resp = answer(
            200,
            "application/json",
            r#"{"object":"response","output":[]}"#,
        );
        assert_eq!(
            classify(Expect::Responses, &resp).0,
            UpstreamSupport::Supported
        );
        let msg = answer(
            200,
            "application/json",
            r#"{"type":"message","content":[]}"#,
        );
        assert_eq!(
            classify(Expect::Messages, &msg).0,
            UpstreamSupport::Supported
        );
        let mut cut = answer(200, "application/json", r#"{"data":["#);
        cut.truncated = true;
        let (class, note) = classify(Expect::ModelList, &cut);
        assert_eq!(class, UpstreamSupport::Supported);
        assert!(note.unwrap().contains("body limit"));
    }

    #[test]
    fn streams() {
        let sse = |body: &str| answer(200, "text/event-stream", body);
        let ok = sse(": keep-alive\n\ndata: {\"choices\":[{\"delta\":{}}]}\n\n");
        assert_eq!(
            classify(Expect::ChatStream, &ok).0,
            UpstreamSupport::Supported
        );
        let json = answer(200, "application/json", r#"{"choices":[]}"#);
        assert_eq!(
            classify(Expect::ChatStream, &json).0,
            UpstreamSupport::Unsupported
        );
        assert_eq!(
            classify(Expect::ChatStream, &sse("")).0,
            UpstreamSupport::Unsupported
        );
        let err = sse("data: {\"error\":{\"message\":\"insufficient balance\"}}\n\n");
        assert_eq!(classify(Expect::ChatStream, &err).0, UpstreamSupport::Quota);
        let refused = answer(
            401,
            "application/json",
            r#"{"error":{"message":"bad key"}}"#,
        );
        assert_eq!(
            classify(Expect::ChatStream, &refused).0,
            UpstreamSupport::AuthFailed
        );
    }

    proptest::proptest! {
        /// The classifier never panics and never calls an error status supported.
        #[test]
        fn classify_is_total(status in 100u16..600, body in ".{0,200}") {
            for expect in [Expect::ModelList, Expect::Chat, Expect::ChatTools, Expect::ChatStream, Expect::Responses, Expect::Messages] {
                let (class, _) = classify(expect, &answer(status, "application/json", &body));
                if !(200..300).contains(&status) {
                    proptest::prop_assert_ne!(class, UpstreamSupport::Supported);
                }
            }
        }
    }
}
