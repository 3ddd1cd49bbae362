//! A small mock *vendor* on its own port: the vendor's own API as an upstream
//! profile sees it, separate from the emulated host.
//!
//! Routes: `GET /v1/models`, `POST /v1/chat/completions` (JSON, SSE with
//! `"stream": true`, function tools), `POST /v1/responses` and
//! `POST /anthropic/v1/messages` (`x-api-key` and `anthropic-version`). The key comes
//! from `Authorization: Bearer` (or `x-api-key` on the Anthropic route). A key
//! containing `bad` gets 401, `quota` 402 ("Insufficient Balance"), `ratelimit` 429;
//! no key 401 (the model list, free at real vendors, refuses only a missing or bad
//! key). [`MockVendorConfig`] switches `/responses`, the Anthropic route,
//! streaming and tools off (each then answers like a vendor without it), sets the
//! listed models, and can make the 401 quote the key (a chatty vendor). Every request
//! is recorded ([`MockVendor::requests`]) so tests can check what was sent.
//!
//! ```no_run
//! let vendor = sub2api_mock::MockVendor::start(sub2api_mock::MockVendorConfig::default()).unwrap();
//! println!("{} {}", vendor.base_url(), vendor.anthropic_base_url());
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::http::{json_resp, raw, Req, Resp};
use crate::sse;

/// What the mock vendor offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockVendorConfig {
    /// The ids `GET /v1/models` lists; a chat for another model answers 400
    /// ("Model Not Exist").
    pub models: Vec<String>,
    /// `POST /v1/responses` exists (else 404 "Invalid URL").
    pub responses: bool,
    /// `POST /anthropic/v1/messages` exists (else 404).
    pub anthropic: bool,
    /// `"stream": true` gets server-sent events (else the plain JSON answer).
    pub stream: bool,
    /// Chats may offer tools (else 400 "tools are not supported").
    pub tools: bool,
    /// The 401 for a bad key quotes the key ("Incorrect API key provided: <key>").
    pub echo_key: bool,
}

impl Default for MockVendorConfig {
    /// Everything on, two models, no echo.
    fn default() -> Self {
        MockVendorConfig {
            models: vec!["deepseek-flash".into(), "kimi-k2.6".into()],
            responses: true,
            anthropic: true,
            stream: true,
            tools: true,
            echo_key: false,
        }
    }
}

/// One request the mock vendor received.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Every header, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`null` when empty or not JSON).
    pub body: Value,
}

impl VendorRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Shared {
    config: Mutex<MockVendorConfig>,
    requests: Mutex<Vec<VendorRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running mock vendor on its own Tokio runtime and thread; dropping it stops the
/// server.
#[derive(Debug)]
pub struct MockVendor {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl MockVendor {
    /// Starts a vendor on `127.0.0.1:0` (an ephemeral port).
    pub fn start(config: MockVendorConfig) -> std::io::Result<MockVendor> {
        let std_listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shared = Arc::new(Shared {
            config: Mutex::new(config),
            requests: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mock-vendor")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let (tx, rx) = watch::channel(false);
        let serve_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mock-vendor-server".into())
            .spawn(move || {
                runtime.block_on(serve(listener, serve_shared, rx));
                runtime.shutdown_background();
            })?;
        Ok(MockVendor {
            addr,
            shared,
            shutdown: tx,
            thread: Some(thread),
        })
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The OpenAI-compatible base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.origin())
    }

    /// The Anthropic-compatible base URL, `http://127.0.0.1:PORT/anthropic`.
    pub fn anthropic_base_url(&self) -> String {
        format!("{}/anthropic", self.origin())
    }

    /// Replaces what the vendor offers.
    pub fn set_config(&self, config: MockVendorConfig) {
        *lock(&self.shared.config) = config;
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<VendorRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many requests were received so far.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }
}

impl Drop for MockVendor {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, req, peer).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>, peer: SocketAddr) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return raw(400, "text/plain", "bad request body"),
    };
    let req = Req::new(
        parts.method,
        parts.uri.path(),
        parts.uri.query(),
        parts.headers,
        body,
        Some(peer.ip()),
    );
    lock(&shared.requests).push(VendorRequest {
        method: req.method.to_string(),
        path: req.path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: req
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: serde_json::from_slice(&req.body).unwrap_or(Value::Null),
    });
    let config = lock(&shared.config).clone();
    route(&config, &req)
}

fn openai_error(status: u16, message: &str, kind: &str, code: &str) -> Resp {
    json_resp(
        status,
        &json!({"error": {"message": message, "type": kind, "param": Value::Null, "code": code}}),
    )
}

fn anthropic_error(status: u16, kind: &str, message: &str) -> Resp {
    json_resp(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

/// The key's answer when it is not a good key.
fn key_refusal(config: &MockVendorConfig, key: &str) -> Option<Resp> {
    let lower = key.to_ascii_lowercase();
    if key.is_empty() {
        return Some(openai_error(
            401,
            "You didn't provide an API key.",
            "invalid_request_error",
            "invalid_api_key",
        ));
    }
    if lower.contains("bad") {
        let message = if config.echo_key {
            format!("Authentication Fails, Incorrect API key provided: {key}")
        } else {
            "Authentication Fails, Your api key is invalid".to_string()
        };
        return Some(openai_error(
            401,
            &message,
            "authentication_error",
            "invalid_api_key",
        ));
    }
    if lower.contains("quota") {
        return Some(openai_error(
            402,
            "Insufficient Balance",
            "unknown_error",
            "invalid_request_error",
        ));
    }
    if lower.contains("ratelimit") {
        return Some(openai_error(
            429,
            "Rate limit reached for requests",
            "rate_limit_error",
            "rate_limit_exceeded",
        ));
    }
    None
}

fn bearer(req: &Req) -> String {
    req.header("authorization")
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim().to_string())
        .unwrap_or_default()
}

fn route(config: &MockVendorConfig, req: &Req) -> Resp {
    let path = req.path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET", "/v1/models") => openai(config, req, models),
        ("POST", "/v1/chat/completions") => openai(config, req, chat),
        ("POST", "/v1/responses") if config.responses => openai(config, req, responses),
        ("POST", "/anthropic/v1/messages") if config.anthropic => messages(config, req),
        (method, _) => openai_error(
            404,
            &format!("Invalid URL ({method} {})", req.path),
            "invalid_request_error",
            "not_found",
        ),
    }
}

/// The OpenAI surface: the bearer key first, then the JSON body, then `handler`.
fn openai(
    config: &MockVendorConfig,
    req: &Req,
    handler: fn(&MockVendorConfig, &Value) -> Resp,
) -> Resp {
    let key = bearer(req);
    if req.method == "GET" {
        // Listing models is free: only a missing or bad key is refused.
        let lower = key.to_ascii_lowercase();
        if key.is_empty() || lower.contains("bad") {
            if let Some(refusal) = key_refusal(config, &key) {
                return refusal;
            }
        }
        return handler(config, &Value::Null);
    }
    if let Some(refusal) = key_refusal(config, &key) {
        return refusal;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return openai_error(
            400,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            "invalid_json",
        );
    };
    match body["model"].as_str() {
        None | Some("") => openai_error(
            400,
            "you must provide a model parameter",
            "invalid_request_error",
            "missing_model",
        ),
        Some(model) if !config.models.iter().any(|m| m == model) => openai_error(
            400,
            "Model Not Exist",
            "invalid_request_error",
            "invalid_request_error",
        ),
        Some(_) => handler(config, &body),
    }
}

fn models(config: &MockVendorConfig, _: &Value) -> Resp {
    let data: Vec<Value> = config
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "owned_by": "mock-vendor"}))
        .collect();
    json_resp(200, &json!({"object": "list", "data": data}))
}

fn chat(config: &MockVendorConfig, body: &Value) -> Resp {
    let model = body["model"].as_str().unwrap_or_default();
    if body.get("tools").is_some() && !config.tools {
        return openai_error(
            400,
            "tools are not supported",
            "invalid_request_error",
            "invalid_request_error",
        );
    }
    if body["stream"].as_bool() == Some(true) && config.stream {
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let mut text = sse::frame(&[
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": "pong"}), Value::Null),
            chunk(json!({}), json!("stop")),
        ]);
        text.push_str("data: [DONE]\n\n");
        return sse::stream_response(text);
    }
    let message = if body.get("tools").is_some() {
        json!({"role": "assistant", "content": Value::Null, "tool_calls": [{
            "id": "call_mock", "type": "function",
            "function": {"name": body["tools"][0]["function"]["name"], "arguments": "{}"}}]})
    } else {
        json!({"role": "assistant", "content": "pong"})
    };
    json_resp(
        200,
        &json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }),
    )
}

fn responses(_: &MockVendorConfig, body: &Value) -> Resp {
    json_resp(
        200,
        &json!({
            "id": "resp_mock", "object": "response", "status": "completed",
            "model": body["model"],
            "output": [{"type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": "pong"}]}],
            "usage": {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6},
        }),
    )
}

fn messages(config: &MockVendorConfig, req: &Req) -> Resp {
    let key = req
        .header("x-api-key")
        .map(str::to_string)
        .unwrap_or_else(|| bearer(req));
    if key_refusal(config, &key).is_some() {
        let lower = key.to_ascii_lowercase();
        return if lower.contains("quota") {
            anthropic_error(402, "billing_error", "Insufficient Balance")
        } else if lower.contains("ratelimit") {
            anthropic_error(429, "rate_limit_error", "Rate limit reached")
        } else {
            anthropic_error(401, "authentication_error", "invalid x-api-key")
        };
    }
    if req.header("anthropic-version").is_none() {
        return anthropic_error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return anthropic_error(400, "invalid_request_error", "invalid JSON body");
    };
    let model = body["model"].as_str().unwrap_or_default();
    if !config.models.iter().any(|m| m == model) {
        return anthropic_error(400, "invalid_request_error", "Model Not Exist");
    }
    json_resp(
        200,
        &json!({
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "pong"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 5, "output_tokens": 1},
        }),
    )
}
