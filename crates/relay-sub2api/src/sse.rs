//! Incremental parsers for the two server-sent-event streams the adapter reads:
//! the host's account test and the gateway's OpenAI-style chat stream.
//!
//! Both work on raw byte chunks split anywhere (even inside a UTF-8 sequence):
//! bytes are buffered up to a line end, so the result never depends on how the
//! transport chunked the stream. Neither parser panics on any input.

use serde_json::Value;

use crate::types::{GatewayError, ProbeOutcome, STREAM_ENDED_WITHOUT_RESULT};

/// Longest line kept; longer lines are dropped (a defence against a runaway stream).
const MAX_LINE: usize = 1 << 20;
/// Characters of content kept for previews.
pub(crate) const PREVIEW_CHARS: usize = 500;

/// Splits a byte stream into lines (`\n`, `\r\n` or `\r`... only `\n` and
/// `\r\n` are treated as ends; a lone trailing `\r` is stripped).
#[derive(Debug, Default)]
struct LineBuffer {
    buf: Vec<u8>,
    overflow: bool,
}

impl LineBuffer {
    fn push(&mut self, chunk: &[u8], mut on_line: impl FnMut(&str)) {
        for &b in chunk {
            if b == b'\n' {
                if !self.overflow {
                    let line = String::from_utf8_lossy(&self.buf);
                    on_line(line.strip_suffix('\r').unwrap_or(&line));
                }
                self.buf.clear();
                self.overflow = false;
            } else if self.buf.len() < MAX_LINE {
                self.buf.push(b);
            } else {
                self.overflow = true;
            }
        }
    }

    fn finish(&mut self, mut on_line: impl FnMut(&str)) {
        if !self.buf.is_empty() && !self.overflow {
            let line = String::from_utf8_lossy(&self.buf).into_owned();
            on_line(line.strip_suffix('\r').unwrap_or(&line));
        }
        self.buf.clear();
        self.overflow = false;
    }
}

/// The payload of a `data:` line, if the line is one.
fn data_payload(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("data:")?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

fn push_preview(preview: &mut String, text: &str) {
    let have = preview.chars().count();
    if have < PREVIEW_CHARS {
        preview.extend(text.chars().take(PREVIEW_CHARS - have));
    }
}

/// The upstream HTTP status in the host's account-test error message, in each of
/// the forms the host uses: `API returned 403: Forbidden` (Responses, Anthropic and
/// Gemini paths), `Chat Completions API (/v1/chat/completions) returned 401: {…}`
/// (OpenAI API-key accounts tested over Chat Completions, 0.1.130 and later),
/// `Responses API returned 502`. Only the host's own prefix (the text before the
/// first `:`) is read, never the quoted upstream body; the `… request failed: …`
/// forms (no HTTP answer) have no status.
pub(crate) fn parse_test_status(message: &str) -> Option<u16> {
    let head = message.split(':').next().unwrap_or("");
    let (_, rest) = head.rsplit_once("returned ")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.len() != 3 {
        return None;
    }
    digits.parse().ok().filter(|s| (100..=599).contains(s))
}

// ---------------------------------------------------------------------------
// Account test stream

/// What the account-test stream said, before timing is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountTestReport {
    pub outcome: ProbeOutcome,
    pub model_tested: Option<String>,
    pub message: String,
    pub content_preview: String,
    pub http_status: Option<u16>,
}

/// Incremental parser of `POST /api/v1/admin/accounts/:id/test`.
#[derive(Debug, Default)]
pub(crate) struct AccountTestParser {
    lines: LineBuffer,
    model: Option<String>,
    preview: String,
    status_code: Option<u16>,
    terminal: Option<(ProbeOutcome, String)>,
}

impl AccountTestParser {
    /// Feeds a chunk. Returns true once a terminal event has been seen (the rest
    /// of the stream can be ignored).
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        let mut lines = std::mem::take(&mut self.lines);
        lines.push(chunk, |line| self.line(line));
        self.lines = lines;
        self.terminal.is_some()
    }

    /// True once a terminal event has been seen.
    pub fn is_done(&self) -> bool {
        self.terminal.is_some()
    }

    fn line(&mut self, line: &str) {
        if self.terminal.is_some() {
            return;
        }
        let Some(payload) = data_payload(line) else {
            return;
        };
        let Ok(Value::Object(event)) = serde_json::from_str::<Value>(payload.trim()) else {
            return;
        };
        let text = |key: &str| event.get(key).and_then(Value::as_str).map(str::to_owned);
        match event.get("type").and_then(Value::as_str).unwrap_or("") {
            "test_start" => {
                if let Some(model) = text("model").filter(|m| !m.is_empty()) {
                    self.model = Some(model);
                }
            }
            "content" => {
                if let Some(t) = text("text") {
                    push_preview(&mut self.preview, &t);
                }
            }
            "test_complete" => {
                let success = event.get("success").and_then(Value::as_bool) == Some(true);
                if success {
                    let message = text("text").or_else(|| text("message")).unwrap_or_default();
                    self.terminal = Some((ProbeOutcome::Passed, message));
                } else {
                    let message = text("error")
                        .or_else(|| text("text"))
                        .unwrap_or_else(|| "test completed without success".to_owned());
                    self.terminal = Some((ProbeOutcome::Failed, message));
                }
            }
            "error" => {
                let message = text("error")
                    .or_else(|| text("text"))
                    .or_else(|| text("message"))
                    .unwrap_or_else(|| "account test failed".to_owned());
                if self.status_code.is_none() {
                    self.status_code = text("code")
                        .and_then(|c| c.parse::<u16>().ok())
                        .filter(|c| (100..=599).contains(c));
                }
                self.terminal = Some((ProbeOutcome::Failed, message));
            }
            _ => {}
        }
    }

    /// Ends the stream and returns the report. A stream with no terminal event
    /// is a failure with [`STREAM_ENDED_WITHOUT_RESULT`].
    pub fn finish(mut self) -> AccountTestReport {
        let mut lines = std::mem::take(&mut self.lines);
        lines.finish(|line| self.line(line));
        let (outcome, message) = self
            .terminal
            .unwrap_or_else(|| (ProbeOutcome::Failed, STREAM_ENDED_WITHOUT_RESULT.to_owned()));
        let http_status = match outcome {
            ProbeOutcome::Failed => parse_test_status(&message).or(self.status_code),
            ProbeOutcome::Passed => None,
        };
        AccountTestReport {
            outcome,
            model_tested: self.model,
            message,
            content_preview: self.preview,
            http_status,
        }
    }
}

/// Parses a whole account-test stream.
#[cfg(test)]
pub(crate) fn parse_account_test(bytes: &[u8]) -> AccountTestReport {
    let mut p = AccountTestParser::default();
    p.push(bytes);
    p.finish()
}

// ---------------------------------------------------------------------------
// Gateway error bodies

/// Reads a gateway error body in any of its shapes: flat middleware
/// `{"code":"STRING","message"}`, OpenAI `{"error":{"type","message","code"}}`,
/// Anthropic `{"type":"error","error":{"type","message"}}`, Google
/// `{"error":{"code":401,"message","status"}}`. Falls back to the raw text.
pub(crate) fn parse_gateway_error(body: &str) -> GatewayError {
    let value: Value = match serde_json::from_str(body.trim()) {
        Ok(v) => v,
        Err(_) => {
            return GatewayError {
                message: body.trim().chars().take(PREVIEW_CHARS).collect(),
                ..GatewayError::default()
            }
        }
    };
    gateway_error_from_value(&value).unwrap_or_else(|| GatewayError {
        message: body.trim().chars().take(PREVIEW_CHARS).collect(),
        ..GatewayError::default()
    })
}

fn gateway_error_from_value(value: &Value) -> Option<GatewayError> {
    let obj = value.as_object()?;
    let str_of = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    if let Some(Value::Object(err)) = obj.get("error") {
        return Some(GatewayError {
            code: None,
            error_type: str_of(err.get("type")).or_else(|| str_of(err.get("status"))),
            error_code: str_of(err.get("code")),
            message: str_of(err.get("message")).unwrap_or_default(),
        });
    }
    let code = match obj.get("code") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let message = str_of(obj.get("message")).or_else(|| str_of(obj.get("error")))?;
    Some(GatewayError {
        code,
        error_type: None,
        error_code: None,
        message,
    })
}

// ---------------------------------------------------------------------------
// OpenAI chat completion stream

/// What a streamed chat completion said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ChatStreamReport {
    /// `data: [DONE]` seen.
    pub done: bool,
    /// A `finish_reason` was seen in some chunk.
    pub finished: bool,
    /// At least one chunk parsed.
    pub chunks: usize,
    /// Model echoed in chunks.
    pub model: Option<String>,
    /// Concatenated `delta.content` (bounded).
    pub preview: String,
    /// `event: error`, or a chunk carrying an `error` object.
    pub error: Option<GatewayError>,
}

/// Incremental parser of an OpenAI-style SSE chat stream.
#[derive(Debug, Default)]
pub(crate) struct ChatStreamParser {
    lines: LineBuffer,
    event: Option<String>,
    data: Vec<String>,
    report: ChatStreamReport,
}

impl ChatStreamParser {
    /// Feeds a chunk; returns true once the stream is over (`[DONE]` or error).
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        let mut lines = std::mem::take(&mut self.lines);
        lines.push(chunk, |line| self.line(line));
        self.lines = lines;
        self.is_over()
    }

    fn is_over(&self) -> bool {
        self.report.done || self.report.error.is_some()
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            self.dispatch();
        } else if let Some(rest) = line.strip_prefix("event:") {
            self.event = Some(rest.trim().to_owned());
        } else if let Some(payload) = data_payload(line) {
            self.data.push(payload.to_owned());
        }
    }

    fn dispatch(&mut self) {
        let event = self.event.take();
        let data = std::mem::take(&mut self.data).join("\n");
        if self.is_over() || (data.is_empty() && event.is_none()) {
            return;
        }
        if data.trim() == "[DONE]" {
            self.report.done = true;
            return;
        }
        let parsed: Option<Value> = serde_json::from_str(data.trim()).ok();
        if event.as_deref() == Some("error") {
            let err = parsed
                .as_ref()
                .and_then(gateway_error_from_value)
                .unwrap_or_else(|| GatewayError {
                    message: data.chars().take(PREVIEW_CHARS).collect(),
                    ..GatewayError::default()
                });
            self.report.error = Some(err);
            return;
        }
        let Some(Value::Object(chunk)) = parsed else {
            return;
        };
        if chunk.get("error").is_some_and(Value::is_object) {
            self.report.error = gateway_error_from_value(&Value::Object(chunk));
            return;
        }
        self.report.chunks += 1;
        if let Some(model) = chunk.get("model").and_then(Value::as_str) {
            if self.report.model.is_none() && !model.is_empty() {
                self.report.model = Some(model.to_owned());
            }
        }
        if let Some(choices) = chunk.get("choices").and_then(Value::as_array) {
            for choice in choices {
                if let Some(text) = choice
                    .get("delta")
                    .and_then(|d| d.get("content"))
                    .and_then(Value::as_str)
                {
                    push_preview(&mut self.report.preview, text);
                }
                if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
                    self.report.finished = true;
                }
            }
        }
    }

    /// Ends the stream and returns what it said.
    pub fn finish(mut self) -> ChatStreamReport {
        let mut lines = std::mem::take(&mut self.lines);
        lines.finish(|line| self.line(line));
        self.dispatch();
        self.report
    }
}

/// Parses a whole chat stream.
#[cfg(test)]
pub(crate) fn parse_chat_stream(bytes: &[u8]) -> ChatStreamReport {
    let mut p = ChatStreamParser::default();
    p.push(bytes);
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SUCCESS: &str = "data: {\"type\":\"test_start\",\"model\":\"deepseek-chat\"}\n\n\
        data: {\"type\":\"content\",\"text\":\"po\"}\n\n\
        data: {\"type\":\"content\",\"text\":\"ng\"}\n\n\
        data: {\"type\":\"test_complete\",\"success\":true}\n\n";
    const FAILURE: &str = "data: {\"type\":\"test_start\",\"model\":\"gpt-5.4\"}\n\n\
        data: {\"type\":\"error\",\"error\":\"API returned 403: Forbidden\"}\n\n";

    #[test]
    fn success_stream() {
        let r = parse_account_test(SUCCESS.as_bytes());
        assert_eq!(r.outcome, ProbeOutcome::Passed);
        assert_eq!(r.model_tested.as_deref(), Some("deepseek-chat"));
        assert_eq!(r.content_preview, "pong");
        assert_eq!(r.http_status, None);
    }

    #[test]
    fn failure_stream_keeps_message_and_status() {
        let r = parse_account_test(FAILURE.as_bytes());
        assert_eq!(r.outcome, ProbeOutcome::Failed);
        assert_eq!(r.message, "API returned 403: Forbidden");
        assert_eq!(r.http_status, Some(403));
    }

    #[test]
    fn truncated_stream_fails() {
        let r = parse_account_test(b"data: {\"type\":\"test_start\",\"model\":\"m\"}\n\ndata: {\"type\":\"content\",\"text\":\"x\"}\n");
        assert_eq!(r.outcome, ProbeOutcome::Failed);
        assert_eq!(r.message, STREAM_ENDED_WITHOUT_RESULT);
        assert_eq!(r.model_tested.as_deref(), Some("m"));
    }

    #[test]
    fn events_after_terminal_are_ignored_and_crlf_is_accepted() {
        let s = "data:{\"type\":\"error\",\"error\":\"Request failed: timeout\"}\r\n\r\ndata: {\"type\":\"test_complete\",\"success\":true}\r\n";
        let r = parse_account_test(s.as_bytes());
        assert_eq!(r.outcome, ProbeOutcome::Failed);
        assert_eq!(r.message, "Request failed: timeout");
        assert_eq!(r.http_status, None);
    }

    #[test]
    fn final_line_without_newline_counts() {
        let r = parse_account_test(b"data: {\"type\":\"test_complete\",\"success\":true}");
        assert_eq!(r.outcome, ProbeOutcome::Passed);
    }

    #[test]
    fn test_status_in_every_host_form() {
        assert_eq!(parse_test_status("API returned 404: x"), Some(404));
        assert_eq!(
            parse_test_status(
                "Chat Completions API (/v1/chat/completions) returned 401: {\"error\":{}}"
            ),
            Some(401)
        );
        assert_eq!(parse_test_status("Responses API returned 502"), Some(502));
        assert_eq!(parse_test_status("API returned 5xx"), None);
        assert_eq!(parse_test_status("API returned 4044"), None);
        assert_eq!(parse_test_status("nothing"), None);
        // The upstream body is never read for a status.
        assert_eq!(
            parse_test_status(
                "Chat Completions API (/v1/chat/completions) request failed: Post \"http://v/x\": upstream returned 503"
            ),
            None
        );
        assert_eq!(
            parse_test_status("Request failed: proxy returned 502: bad gateway"),
            None
        );
    }

    #[test]
    fn chat_completions_path_failure_carries_its_status() {
        let s = "data: {\"type\":\"test_start\",\"model\":\"deepseek-chat\"}\n\n\
            data: {\"type\":\"status\",\"text\":\"正在通过 /v1/chat/completions 测试连接\"}\n\n\
            data: {\"type\":\"error\",\"error\":\"Chat Completions API (/v1/chat/completions) returned 429: {\\\"error\\\": {}}\"}\n\n";
        let r = parse_account_test(s.as_bytes());
        assert_eq!(r.outcome, ProbeOutcome::Failed);
        assert_eq!(r.http_status, Some(429));
        assert!(r.message.starts_with("Chat Completions API"));
    }

    const CHAT: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"po\"},\"finish_reason\":null}]}\n\n\
        data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ng\"},\"finish_reason\":\"stop\"}]}\n\n\
        data: [DONE]\n\n";

    #[test]
    fn chat_stream_to_done() {
        let r = parse_chat_stream(CHAT.as_bytes());
        assert!(r.done && r.finished);
        assert_eq!(r.preview, "pong");
        assert_eq!(r.model.as_deref(), Some("deepseek-chat"));
        assert_eq!(r.chunks, 2);
        assert!(r.error.is_none());
    }

    #[test]
    fn chat_stream_error_event() {
        let s = "data: {\"choices\":[{\"delta\":{\"content\":\"p\"}}]}\n\nevent: error\ndata: {\"error\":{\"type\":\"upstream_error\",\"message\":\"Upstream request failed\"}}\n\n";
        let r = parse_chat_stream(s.as_bytes());
        assert!(!r.done);
        let e = r.error.expect("error event");
        assert_eq!(e.error_type.as_deref(), Some("upstream_error"));
        assert_eq!(e.message, "Upstream request failed");
    }

    #[test]
    fn gateway_error_shapes() {
        let flat =
            parse_gateway_error(r#"{"code":"API_KEY_REQUIRED","message":"API key is required"}"#);
        assert_eq!(flat.code.as_deref(), Some("API_KEY_REQUIRED"));
        let openai = parse_gateway_error(
            r#"{"error":{"type":"api_error","message":"Service temporarily unavailable"}}"#,
        );
        assert_eq!(openai.error_type.as_deref(), Some("api_error"));
        let anthropic = parse_gateway_error(
            r#"{"type":"error","error":{"type":"permission_error","message":"not assigned"}}"#,
        );
        assert_eq!(anthropic.error_type.as_deref(), Some("permission_error"));
        let text = parse_gateway_error("404 page not found");
        assert_eq!(text.message, "404 page not found");
        assert!(text.code.is_none());
    }

    fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut out = Vec::new();
        let mut last = 0;
        for p in points {
            out.push(bytes[last..p].to_vec());
            last = p;
        }
        out.push(bytes[last..].to_vec());
        out
    }

    proptest! {
        #[test]
        fn account_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let r = parse_account_test(&bytes);
            prop_assert!(r.content_preview.chars().count() <= PREVIEW_CHARS);
        }

        #[test]
        fn account_parser_never_panics_on_sse_like_text(s in "(data: ?\\{\"type\":\"(test_start|status|content|error|test_complete)\"[^\n]{0,40}\n\n?|[^\n]{0,30}\n){0,20}") {
            let _ = parse_account_test(s.as_bytes());
        }

        #[test]
        fn chat_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let r = parse_chat_stream(&bytes);
            prop_assert!(r.preview.chars().count() <= PREVIEW_CHARS);
        }

        #[test]
        fn account_chunking_does_not_matter(
            which in 0usize..3,
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let utf8 = "data: {\"type\":\"test_start\",\"model\":\"模型-k2\"}\n\ndata: {\"type\":\"content\",\"text\":\"你好\"}\n\ndata: {\"type\":\"test_complete\",\"success\":true}\n\n";
            let stream = [SUCCESS, FAILURE, utf8][which].as_bytes();
            let whole = parse_account_test(stream);
            let mut p = AccountTestParser::default();
            for c in chunked(stream, &cuts) {
                p.push(&c);
            }
            prop_assert_eq!(p.finish(), whole);
        }

        #[test]
        fn chat_chunking_does_not_matter(cuts in proptest::collection::vec(any::<usize>(), 0..12)) {
            let whole = parse_chat_stream(CHAT.as_bytes());
            let mut p = ChatStreamParser::default();
            for c in chunked(CHAT.as_bytes(), &cuts) {
                p.push(&c);
            }
            prop_assert_eq!(p.finish(), whole);
        }
    }
}
