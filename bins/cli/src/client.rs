//! The blocking HTTP client of `relay-server`: bearer token, timeouts, JSON bodies and
//! the server's `{"error":{"code","message"}}` answers mapped to [`ApiError`].
//!
//! Every secret the command sends (admin key, password, upstream keys, probe key) is
//! registered with [`Client::redact`], so no error message the CLI prints can carry one,
//! whatever the server or the transport says. On top, every answer of the server and
//! every message passes the key-pattern pass ([`relay_domain::redact_patterns`]):
//! key-shaped strings the CLI does not know (`sk-…`, `admin-<hex>`, JWTs, bearer
//! tokens, refresh tokens, generated passwords) are printed as their masks, whatever
//! the server answers.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use ureq::http::Response;
use ureq::{Agent, Body};

/// Time allowed to open a connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for one whole request (host probes and pack uploads can be slow).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest response body read.
const RESPONSE_LIMIT: u64 = 64 * 1024 * 1024;

/// A failed call: an error answer of the server, or no answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the answer; `None` when the server could not be reached.
    pub status: Option<u16>,
    /// The server's error code (`host_not_found`, …) or the client's
    /// (`server_unreachable`, `timeout`, `bad_response`).
    pub code: String,
    /// What went wrong and what to fix.
    pub message: String,
}

impl ApiError {
    /// True when the server was not reached (no HTTP answer).
    pub fn is_transport(&self) -> bool {
        self.status.is_none()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// Client of one server with one operator token.
pub struct Client {
    agent: Agent,
    base: String,
    token: String,
    secrets: Vec<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the server at `base` (`http://host:port`, no trailing slash needed).
    pub fn new(base: &str, token: String) -> Client {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("relay-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut client = Client {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            token: token.clone(),
            secrets: Vec::new(),
        };
        client.redact(&token);
        client
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Registers a secret that must never appear in an error message.
    pub fn redact(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.len() >= 4 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
        }
    }

    /// `GET path?query`; `None` query values are left out.
    pub fn get(&self, path: &str, query: &[(&str, Option<&str>)]) -> Result<Value, ApiError> {
        let mut request = self
            .agent
            .get(self.url(path))
            .header("Authorization", self.bearer())
            .header("Accept", "application/json");
        for (name, value) in query {
            if let Some(value) = value {
                request = request.query(*name, *value);
            }
        }
        self.finish(request.call())
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let request = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.bearer())
            .header("Accept", "application/json");
        self.finish(request.send_json(body))
    }

    /// `POST path` without a body (routes that refuse one, e.g. a cancel).
    pub fn post_empty(&self, path: &str) -> Result<Value, ApiError> {
        let request = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.bearer())
            .header("Accept", "application/json");
        self.finish(request.send_empty())
    }

    /// `PUT path` with a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let request = self
            .agent
            .put(self.url(path))
            .header("Authorization", self.bearer())
            .header("Accept", "application/json");
        self.finish(request.send_json(body))
    }

    /// `POST path` with raw bytes of the given content type.
    pub fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let request = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.bearer())
            .header("Accept", "application/json")
            .header("Content-Type", content_type);
        self.finish(request.send(body))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Value, ApiError> {
        let request = self
            .agent
            .delete(self.url(path))
            .header("Authorization", self.bearer())
            .header("Accept", "application/json");
        self.finish(request.call())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn finish(&self, result: Result<Response<Body>, ureq::Error>) -> Result<Value, ApiError> {
        let response = result.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .with_config()
            .limit(RESPONSE_LIMIT)
            .read_to_string()
            .map_err(|e| self.transport_error(&e))?;
        let parsed: Option<Value> = serde_json::from_str(&text).ok().map(|v| self.scrub_json(v));
        if (200..300).contains(&status) {
            return parsed.ok_or_else(|| ApiError {
                status: Some(status),
                code: "bad_response".into(),
                message: self.scrub(&format!(
                    "the server at {} answered {status} without a JSON body; is --server pointing at relay-server?",
                    self.base
                )),
            });
        }
        let (code, message) = match parsed.as_ref().and_then(error_fields) {
            Some((code, message)) => (code, message),
            None => (
                format!("http_{status}"),
                format!(
                    "the server at {} answered {status}: {}",
                    self.base,
                    snippet(&text)
                ),
            ),
        };
        let message = match status {
            401 if code == "unauthorized" => format!(
                "{message} (the operator token was refused: check RELAY_TOKEN or --token-file)"
            ),
            _ => message,
        };
        Err(ApiError {
            status: Some(status),
            code,
            message: self.scrub(&message),
        })
    }

    fn transport_error(&self, error: &ureq::Error) -> ApiError {
        let (code, message) = match error {
            ureq::Error::Timeout(_) => (
                "timeout",
                format!("the server at {} did not answer in time ({error})", self.base),
            ),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => (
                "bad_request",
                format!("cannot build a request to {} ({error}); check --server or RELAY_SERVER", self.base),
            ),
            _ => (
                "server_unreachable",
                format!(
                    "cannot reach relay-server at {} ({error}); start it, or fix --server / RELAY_SERVER",
                    self.base
                ),
            ),
        };
        ApiError {
            status: None,
            code: code.into(),
            message: self.scrub(&message),
        }
    }

    /// Replaces every registered secret in `text` by `[redacted]`, then every
    /// key-shaped string by its mask.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        relay_domain::redact_patterns(&out)
    }

    /// `value` with every string (and object key) passed through [`Client::scrub`].
    pub fn scrub_json(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.scrub(&s)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.scrub_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (self.scrub(&k), self.scrub_json(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

fn error_fields(doc: &Value) -> Option<(String, String)> {
    let body: relay_api_types::ErrorBody = serde_json::from_value(doc.clone()).ok()?;
    Some((body.error.code, body.error.message))
}

/// The server's answer `doc` read as the contract's type `T` (`relay-api-types`); an
/// answer of another shape is a `bad_response` error naming the field.
pub fn read<T: serde::de::DeserializeOwned>(doc: &Value) -> Result<T, ApiError> {
    T::deserialize(doc).map_err(|e| ApiError {
        status: None,
        code: "bad_response".into(),
        message: format!(
            "the server's answer is not a {} ({e}); are the CLI and relay-server of the same release?",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("known answer")
        ),
    })
}

/// The contract's request type `body` as the JSON body to send.
pub fn body<T: serde::Serialize>(body: &T) -> Value {
    serde_json::to_value(body).expect("a request type serializes to JSON")
}

fn snippet(text: &str) -> String {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return "(empty body)".into();
    }
    let mut out: String = trimmed.chars().take(200).collect();
    if trimmed.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("main"), "main");
        assert_eq!(segment("host one/2"), "host%20one%2F2");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn secrets_are_scrubbed_from_messages() {
        let mut client = Client::new("http://127.0.0.1:1", "operator-token-123".into());
        client.redact("sk-demo-secret-key");
        client.redact("ab"); // too short to be a secret worth scrubbing
        let text = client.scrub("bad key sk-demo-secret-key with operator-token-123, ab");
        assert_eq!(text, "bad key [redacted] with [redacted], ab");
    }

    #[test]
    fn key_shaped_strings_it_never_read_are_masked() {
        let client = Client::new("http://127.0.0.1:1", "operator-token-123".into());
        let admin = format!("admin-{}", "8a75".repeat(16));
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoyM30.c2lnbmF0dXJl";
        let text = client.scrub(&format!(
            "db error for caller x-api-key={admin}; key sk-ee881299e3f224d4977a0102e943ea71; session {jwt}"
        ));
        assert!(!text.contains(&admin), "{text}");
        assert!(
            !text.contains("sk-ee881299e3f224d4977a0102e943ea71"),
            "{text}"
        );
        assert!(!text.contains(jwt), "{text}");
        assert!(text.contains("x-api-key=admi…"), "{text}");
        let doc = client.scrub_json(serde_json::json!({
            "items": [{"message": "api_key sk-ee881299e3f224d4977a0102e943ea71 refused", "mask": "sk-e…ea71"}],
        }));
        assert_eq!(
            doc,
            serde_json::json!({
                "items": [{"message": "api_key sk-e…ea71 refused", "mask": "sk-e…ea71"}],
            })
        );
    }

    #[test]
    fn error_documents_are_read() {
        let doc = serde_json::json!({"error": {"code": "host_not_found", "message": "no host x"}});
        assert_eq!(
            error_fields(&doc),
            Some(("host_not_found".into(), "no host x".into()))
        );
        assert_eq!(error_fields(&serde_json::json!({"ok": true})), None);
    }

    #[test]
    fn an_unreachable_server_is_a_transport_error() {
        // Port 9 (discard) is closed on test machines.
        let client = Client::new("http://127.0.0.1:9", "t0ken-value".into());
        let err = client.get("/api/hosts", &[]).unwrap_err();
        assert!(err.is_transport(), "{err:?}");
        assert_eq!(err.code, "server_unreachable");
        assert!(err.message.contains("http://127.0.0.1:9"));
        assert!(!err.message.contains("t0ken-value"));
    }
}
