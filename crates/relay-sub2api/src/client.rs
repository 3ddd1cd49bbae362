//! The blocking `ureq` implementation of [`HostAdapter`].

use std::io::Read;
use std::sync::{Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use relay_domain::{Redactor, Secret};
use serde::Deserialize;
use serde_json::Value;
use ureq::http::Response;
use ureq::{Agent, Body};

use crate::adapter::HostAdapter;
use crate::error::{ErrorDetail, HostError};
use crate::sse::{parse_gateway_error, AccountTestParser, ChatStreamParser, PREVIEW_CHARS};
use crate::types::*;
use crate::wire;

/// Largest non-streamed body read from the host.
const MAX_BODY: u64 = 16 * 1024 * 1024;
/// Largest `Retry-After` the adapter waits out; longer ones surface as
/// [`HostError::RateLimited`].
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Largest `Retry-After` waited out on login: the host's login limiter (20 per
/// minute per client IP) answers at most the rest of its 60 s window.
const LOGIN_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// First backoff between read retries (doubles each time, capped).
const BASE_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// Page size used for every list (the largest every host build accepts).
const PAGE_SIZE: u32 = 100;
/// Hard stop on pagination loops.
const MAX_PAGES: u32 = 10_000;

/// How the adapter authenticates to the host's admin API.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminAuth {
    /// Admin API key, sent as `x-api-key` (recommended: no expiry, no login).
    ApiKey(Secret),
    /// Admin e-mail and password: the adapter logs in, caches the JWT and logs in
    /// again once when the host answers 401.
    Login {
        /// Admin e-mail.
        email: String,
        /// Admin password.
        password: Secret,
    },
}

/// Connection settings for one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    /// Base URL, `http(s)://host[:port][/prefix]`, no query.
    pub base_url: String,
    /// Admin credential.
    pub auth: AdminAuth,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Timeout waiting for response headers and for each read of a body.
    pub read_timeout: Duration,
    /// Retries of idempotent reads (GET) after transport errors, 502/503/504 and 429.
    pub max_read_retries: u32,
}

impl HostConfig {
    /// A configuration with default timeouts (connect 5 s, read 60 s) and two
    /// read retries.
    pub fn new(base_url: impl Into<String>, auth: AdminAuth) -> Self {
        HostConfig {
            base_url: base_url.into(),
            auth,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            max_read_retries: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum AuthKind<'a> {
    None,
    Admin,
    /// A user JWT (end-user self-service routes).
    User(&'a Secret),
    /// A user API key on the gateway.
    Gateway(&'a Secret),
}

/// One logical request (retries re-send it).
#[derive(Debug)]
struct Req<'a> {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    auth: AuthKind<'a>,
    idempotency_key: Option<&'a str>,
    /// Retry on 502/503/504 and 429 (only for reads whose status is not data).
    retry_status: bool,
    /// Retry on transport errors.
    retry_transport: bool,
    /// Largest `Retry-After` waited out on a 429.
    max_retry_after: Duration,
    /// Secrets this request sends in its body (an upstream key, a password, a
    /// chosen user key): the host's answer is redacted of them.
    secrets: Vec<&'a Secret>,
}

impl<'a> Req<'a> {
    fn new(method: Method, path: impl Into<String>, auth: AuthKind<'a>) -> Self {
        let read = method == Method::Get;
        Req {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            auth,
            idempotency_key: None,
            retry_status: read,
            retry_transport: read,
            max_retry_after: MAX_RETRY_AFTER,
            secrets: Vec::new(),
        }
    }
    /// Marks `secret` as sent by this request (see [`Req::secrets`]).
    fn secret(mut self, secret: &'a Secret) -> Self {
        self.secrets.push(secret);
        self
    }
    fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// A fully read answer.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    /// `X-Idempotency-Replayed: true`: the host answered with the stored result of an
    /// earlier execution of this `Idempotency-Key`.
    replayed: bool,
    body: String,
}

/// The sub2api host adapter over HTTP (blocking, one keep-alive `Agent`).
///
/// Every text the host answers (error messages, codes and metadata, account-test
/// messages, gateway errors, batch item errors, plain-text bodies) passes one
/// redaction step before it leaves the adapter: the admin key or password, every
/// admin JWT the client obtained, the secrets the request carried (its user JWT or
/// gateway key, an upstream key, a password, a chosen user key) and every
/// key-shaped string are replaced by their masks ([`relay_domain::Redactor`]).
#[derive(Debug)]
pub struct Sub2ApiClient {
    base: String,
    agent: Agent,
    auth: AdminAuth,
    token: Mutex<Option<Secret>>,
    /// The client's own secrets (admin key or password, admin JWTs obtained). Never
    /// locked while `token` is held by a login in progress.
    known: RwLock<Redactor>,
    max_read_retries: u32,
}

fn validate_base_url(raw: &str) -> Result<String, HostError> {
    let url = raw.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| HostError::Config("base URL must start with http:// or https://".into()))?;
    if url.contains('?') || url.contains('#') {
        return Err(HostError::Config(
            "base URL must not have a query or fragment".into(),
        ));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(HostError::Config("base URL must not contain spaces".into()));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(HostError::Config(
            "base URL needs a host and must not carry credentials".into(),
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn parse_retry_after(resp: &Response<Body>) -> Option<Duration> {
    let raw = resp.headers().get("retry-after")?.to_str().ok()?;
    raw.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn backoff(attempt: u32) -> Duration {
    BASE_BACKOFF
        .saturating_mul(1u32 << attempt.min(10))
        .min(MAX_BACKOFF)
}

fn transport(err: &ureq::Error) -> HostError {
    HostError::Transport(err.to_string())
}

fn read_answer(mut resp: Response<Body>) -> Result<Answer, HostError> {
    let status = resp.status().as_u16();
    let retry_after = parse_retry_after(&resp);
    let replayed = resp
        .headers()
        .get("x-idempotency-replayed")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .lossy_utf8(true)
        .read_to_string()
        .map_err(|e| transport(&e))?;
    Ok(Answer {
        status,
        retry_after,
        replayed,
        body,
    })
}

/// The `data` of a 2xx `/api/v1/**` answer's envelope `{code, message, data}`
/// (`Value::Null` when the body is empty or has no `data`). A non-zero `code` is
/// [`HostError::Host`] (its texts passed through `redactor`); a body that is not a
/// JSON object is [`HostError::Decode`] naming `what` and a position, never the body.
pub(crate) fn decode_envelope(
    what: &str,
    status: u16,
    body: &str,
    redactor: &Redactor,
) -> Result<Value, HostError> {
    if body.trim().is_empty() {
        return Ok(Value::Null);
    }
    let value: Value = serde_json::from_str(body).map_err(|e| wire::decode_error(what, &e))?;
    let Value::Object(mut obj) = value else {
        return Err(HostError::Decode(format!(
            "{what}: the answer is not a JSON object"
        )));
    };
    if let Some(code) = obj.get("code").and_then(Value::as_i64) {
        if code != 0 {
            let (detail, _) = wire::error_detail(status, body, redactor);
            return Err(HostError::Host {
                status,
                code: detail.code.or_else(|| Some(code.to_string())),
                message: detail.message,
                metadata: detail.metadata,
            });
        }
    }
    Ok(obj.remove("data").unwrap_or(Value::Null))
}

/// `error` with its texts passed through `redactor`.
fn redact_gateway_error(mut error: GatewayError, redactor: &Redactor) -> GatewayError {
    redactor.redact_in_place(&mut error.message);
    for field in [
        &mut error.code,
        &mut error.error_type,
        &mut error.error_code,
    ]
    .into_iter()
    .flatten()
    {
        redactor.redact_in_place(field);
    }
    error
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

impl Sub2ApiClient {
    /// Builds a client. Validates the base URL (http or https, no query) and
    /// strips a trailing `/`. Does not contact the host.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let base = validate_base_url(&config.base_url)?;
        match &config.auth {
            AdminAuth::ApiKey(key) if key.expose().trim().is_empty() => {
                return Err(HostError::Config("admin API key is empty".into()))
            }
            AdminAuth::Login { email, password }
                if email.trim().is_empty() || password.is_empty() =>
            {
                return Err(HostError::Config(
                    "admin e-mail and password are required".into(),
                ))
            }
            _ => {}
        }
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_per_read(Some(config.read_timeout))
            .user_agent(concat!("relay-sub2api/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0)
            .build()
            .into();
        let known = match &config.auth {
            AdminAuth::ApiKey(key) => Redactor::new().with(key),
            AdminAuth::Login { password, .. } => Redactor::new().with(password),
        };
        Ok(Sub2ApiClient {
            base,
            agent,
            auth: config.auth,
            token: Mutex::new(None),
            known: RwLock::new(known),
            max_read_retries: config.max_read_retries,
        })
    }

    /// The normalised base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    // -- redaction ----------------------------------------------------------

    /// The redaction step of `req`: the client's secrets, the request's auth token
    /// and body secrets, and the key patterns.
    fn redactor(&self, req: &Req<'_>) -> Redactor {
        let mut r = self
            .known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let AuthKind::User(token) | AuthKind::Gateway(token) = req.auth {
            r.add(token);
        }
        for s in &req.secrets {
            r.add(s);
        }
        r
    }

    /// `err` with every text redacted for `req`.
    fn scrub(&self, req: &Req<'_>, err: HostError) -> HostError {
        err.redacted(&self.redactor(req))
    }

    /// Remembers an admin JWT the client obtained, so answers quoting it are redacted.
    fn remember(&self, secret: &Secret) {
        self.known
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .add(secret);
    }

    // -- transport ----------------------------------------------------------

    fn auth_header(&self, auth: AuthKind<'_>) -> Result<Option<(&'static str, String)>, HostError> {
        Ok(match auth {
            AuthKind::None => None,
            AuthKind::Admin => match &self.auth {
                AdminAuth::ApiKey(key) => Some(("x-api-key", key.expose().to_owned())),
                AdminAuth::Login { .. } => {
                    let token = self.admin_token()?;
                    Some(("Authorization", format!("Bearer {}", token.expose())))
                }
            },
            AuthKind::User(token) | AuthKind::Gateway(token) => {
                Some(("Authorization", format!("Bearer {}", token.expose())))
            }
        })
    }

    fn attempt(&self, req: &Req<'_>) -> Result<Response<Body>, HostError> {
        let url = format!("{}{}", self.base, req.path);
        let auth = self.auth_header(req.auth)?;
        macro_rules! decorate {
            ($rb:expr) => {{
                let mut rb = $rb;
                for (k, v) in &req.query {
                    rb = rb.query(*k, v);
                }
                if let Some((name, value)) = &auth {
                    rb = rb.header(*name, value);
                }
                if let Some(key) = req.idempotency_key {
                    rb = rb.header("Idempotency-Key", key);
                }
                rb.header("Accept", "application/json, text/event-stream")
            }};
        }
        let result = match req.method {
            Method::Get => decorate!(self.agent.get(&url)).call(),
            Method::Delete => decorate!(self.agent.delete(&url)).call(),
            Method::Post | Method::Put => {
                let rb = if req.method == Method::Post {
                    self.agent.post(&url)
                } else {
                    self.agent.put(&url)
                };
                let rb = decorate!(rb);
                match &req.body {
                    Some(body) => rb.send_json(body),
                    None => rb.send_empty(),
                }
            }
        };
        result.map_err(|e| self.scrub(req, transport(&e)))
    }

    /// Sends a request with the retry policy: reads retry transport errors,
    /// 502/503/504 and 429 (waiting `Retry-After` up to a bound); an admin login
    /// session is refreshed once on 401. Writes are sent exactly once.
    fn call(&self, req: &Req<'_>) -> Result<Response<Body>, HostError> {
        let mut attempt: u32 = 0;
        let mut relogged = false;
        loop {
            let retries_left = attempt < self.max_read_retries;
            tracing::debug!(method = req.method.as_str(), path = %req.path, attempt, "host request");
            let resp = match self.attempt(req) {
                Ok(resp) => resp,
                Err(err @ HostError::Transport(_)) if req.retry_transport && retries_left => {
                    tracing::warn!(path = %req.path, error = %err, "host read failed; retrying");
                    thread::sleep(backoff(attempt));
                    attempt += 1;
                    continue;
                }
                Err(err) => return Err(err),
            };
            let status = resp.status().as_u16();
            tracing::debug!(method = req.method.as_str(), path = %req.path, status, "host answer");
            if status == 401
                && matches!(req.auth, AuthKind::Admin)
                && matches!(self.auth, AdminAuth::Login { .. })
                && !relogged
            {
                relogged = true;
                *self.lock_token() = None;
                tracing::info!("admin session refused; logging in again");
                continue;
            }
            if req.retry_status && retries_left {
                if matches!(status, 502..=504) {
                    thread::sleep(backoff(attempt));
                    attempt += 1;
                    continue;
                }
                if status == 429 {
                    let wait = parse_retry_after(&resp).unwrap_or_else(|| backoff(attempt));
                    if wait <= req.max_retry_after {
                        tracing::info!(path = %req.path, wait_ms = wait.as_millis() as u64, "host rate limited; waiting");
                        thread::sleep(wait);
                        attempt += 1;
                        continue;
                    }
                }
            }
            return Ok(resp);
        }
    }

    fn lock_token(&self) -> std::sync::MutexGuard<'_, Option<Secret>> {
        self.token
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached admin JWT, logging in when there is none. The lock is held
    /// during login so concurrent callers log in once.
    fn admin_token(&self) -> Result<Secret, HostError> {
        let AdminAuth::Login { email, password } = &self.auth else {
            return Err(HostError::Config("admin login not configured".into()));
        };
        let mut guard = self.lock_token();
        if let Some(token) = guard.as_ref() {
            return Ok(token.clone());
        }
        let data = self.envelope(&self.login_req(email, password))?;
        let login: wire::WLogin = wire::from_value("login", data)?;
        if login.requires_2fa == Some(true) {
            return Err(HostError::Unauthorized(ErrorDetail {
                status: 200,
                code: Some("REQUIRES_2FA".into()),
                message: "the admin account requires two-factor login; use an admin API key".into(),
                metadata: Default::default(),
            }));
        }
        let token = login
            .access_token
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| HostError::Decode("login: no access_token".into()))?;
        self.remember(&token);
        if let Some(refresh) = login.refresh_token.filter(|t| !t.is_empty()) {
            self.remember(&Secret::new(refresh));
        }
        *guard = Some(token.clone());
        Ok(token)
    }

    fn login_req<'a>(&self, email: &str, password: &'a Secret) -> Req<'a> {
        let mut req = Req::new(Method::Post, "/api/v1/auth/login", AuthKind::None)
            .body(wire::login_body(email, password))
            .secret(password);
        // Login has no side effect beyond the host's counters; honour 429 up to the
        // login limiter's whole window.
        req.retry_status = true;
        req.max_retry_after = LOGIN_MAX_RETRY_AFTER;
        req
    }

    /// Maps a non-2xx answer to the typed error (redacted for `req`).
    fn error_of(&self, req: &Req<'_>, answer: &Answer) -> HostError {
        let (detail, is_json) =
            wire::error_detail(answer.status, &answer.body, &self.redactor(req));
        if answer.status == 404 && !is_json {
            return HostError::UnsupportedRoute {
                method: req.method.as_str().to_owned(),
                path: req.path.clone(),
            };
        }
        HostError::from_detail(detail, answer.retry_after)
    }

    /// Sends a `/api/v1/**` request and returns the envelope's `data`
    /// (`Value::Null` when omitted).
    fn envelope(&self, req: &Req<'_>) -> Result<Value, HostError> {
        self.envelope_replay(req).map(|(data, _)| data)
    }

    /// Like [`Self::envelope`], and whether the host replayed a stored answer
    /// (`X-Idempotency-Replayed`).
    fn envelope_replay(&self, req: &Req<'_>) -> Result<(Value, bool), HostError> {
        let answer = read_answer(self.call(req)?).map_err(|e| self.scrub(req, e))?;
        if !is_success(answer.status) {
            return Err(self.error_of(req, &answer));
        }
        let what = format!("{} {}", req.method.as_str(), req.path);
        let data = decode_envelope(&what, answer.status, &answer.body, &self.redactor(req))?;
        Ok((data, answer.replayed))
    }

    /// An idempotent write: `data` decoded, and whether it was a replay.
    fn admin_write<T: for<'de> Deserialize<'de>>(
        &self,
        req: Req<'_>,
    ) -> Result<(T, bool), HostError> {
        let what = format!("{} {}", req.method.as_str(), req.path);
        let (data, replayed) = self.envelope_replay(&req)?;
        if replayed {
            tracing::info!(path = %req.path, "the host replayed an earlier answer of this idempotent write");
        }
        Ok((wire::from_value(&what, data)?, replayed))
    }

    fn admin<T: for<'de> Deserialize<'de>>(&self, req: Req<'_>) -> Result<T, HostError> {
        let what = format!("{} {}", req.method.as_str(), req.path);
        let data = self.envelope(&req)?;
        wire::from_value(&what, data)
    }

    fn admin_unit(&self, req: Req<'_>) -> Result<(), HostError> {
        self.envelope(&req).map(|_| ())
    }

    /// Every item of a paginated list.
    fn list_all<T: for<'de> Deserialize<'de>>(&self, base: Req<'_>) -> Result<Vec<T>, HostError> {
        let mut out = Vec::new();
        let mut page: u32 = 1;
        loop {
            let mut req = Req {
                method: base.method,
                path: base.path.clone(),
                query: base.query.clone(),
                body: None,
                auth: base.auth,
                idempotency_key: None,
                retry_status: base.retry_status,
                retry_transport: base.retry_transport,
                max_retry_after: base.max_retry_after,
                secrets: base.secrets.clone(),
            };
            req.query.push(("page", page.to_string()));
            req.query.push(("page_size", PAGE_SIZE.to_string()));
            let data: wire::Page<T> = self.admin(req)?;
            let items = data.items.unwrap_or_default();
            let got = items.len();
            out.extend(items);
            let more = match data.pages {
                Some(pages) => i64::from(page) < pages,
                None => got >= PAGE_SIZE as usize,
            };
            if !more || got == 0 || page >= MAX_PAGES {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// Whether a GET route exists: 2xx, a JSON 4xx (the handler ran) or a JSON 404
    /// (object missing) say yes; the router's plain-text 404 says no. A 423 (the
    /// compliance lock answers before any handler) proves nothing and is returned.
    fn route_exists(&self, req: Req<'_>) -> Result<bool, HostError> {
        match self.envelope(&req) {
            Ok(_) => Ok(true),
            Err(HostError::UnsupportedRoute { .. }) => Ok(false),
            Err(HostError::NotFound(_)) => Ok(true),
            Err(HostError::Host { status, .. })
                if (400..500).contains(&status) && status != 423 =>
            {
                Ok(true)
            }
            Err(HostError::Unauthorized(_)) if matches!(req.auth, AuthKind::None) => Ok(true),
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/chat/completions` with `key`, before the redaction step.
    fn chat_unredacted(
        &self,
        key: &Secret,
        request: &ChatProbeRequest,
    ) -> Result<CompletionProbe, HostError> {
        let req = Req::new(Method::Post, "/v1/chat/completions", AuthKind::Gateway(key))
            .body(wire::chat_body(request));
        let started = Instant::now();
        let mut resp = self.call(&req)?;
        let status = resp.status().as_u16();
        let is_sse = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("text/event-stream"));
        if !is_success(status) {
            let answer = read_answer(resp)?;
            return Ok(CompletionProbe {
                http_status: status,
                ok: false,
                model: None,
                preview: String::new(),
                error: Some(parse_gateway_error(&answer.body)),
                duration: started.elapsed(),
                retry_after: answer.retry_after,
            });
        }
        if request.stream && is_sse {
            let mut parser = ChatStreamParser::default();
            let mut reader = resp.body_mut().as_reader();
            let mut buf = [0u8; 8192];
            let mut interrupted = None;
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if parser.push(&buf[..n]) {
                            break;
                        }
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(err) => {
                        interrupted = Some(err.to_string());
                        break;
                    }
                }
            }
            let report = parser.finish();
            let ok = report.error.is_none() && (report.done || report.finished);
            let error = report.error.or_else(|| {
                (!ok).then(|| GatewayError {
                    message: match interrupted {
                        Some(e) => format!("stream interrupted: {e}"),
                        None => "stream ended without [DONE]".to_owned(),
                    },
                    ..GatewayError::default()
                })
            });
            return Ok(CompletionProbe {
                http_status: status,
                ok,
                model: report.model,
                preview: report.preview,
                error,
                duration: started.elapsed(),
                retry_after: None,
            });
        }
        let answer = read_answer(resp)?;
        let duration = started.elapsed();
        match serde_json::from_str::<wire::WCompletion>(&answer.body) {
            Ok(c) if c.choices.as_ref().is_some_and(|ch| !ch.is_empty()) => {
                let text = c
                    .choices
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|ch| ch.message.and_then(|m| m.content))
                    .map(|content| match content {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect::<String>();
                Ok(CompletionProbe {
                    http_status: status,
                    ok: true,
                    model: c.model.filter(|m| !m.is_empty()),
                    preview: text.chars().take(PREVIEW_CHARS).collect(),
                    error: None,
                    duration,
                    retry_after: None,
                })
            }
            _ => Ok(CompletionProbe {
                http_status: status,
                ok: false,
                model: None,
                preview: String::new(),
                error: Some(GatewayError {
                    message: "the completion has no choices".to_owned(),
                    ..parse_gateway_error(&answer.body)
                }),
                duration,
                retry_after: answer.retry_after,
            }),
        }
    }

    fn gateway_answer(&self, req: &Req<'_>) -> Result<(Answer, Duration), HostError> {
        let started = Instant::now();
        let answer = read_answer(self.call(req)?).map_err(|e| self.scrub(req, e))?;
        Ok((answer, started.elapsed()))
    }
}

fn groups_path(id: ObjectId) -> String {
    format!("/api/v1/admin/groups/{id}")
}
fn channels_path(id: ObjectId) -> String {
    format!("/api/v1/admin/channels/{id}")
}
fn plans_path(id: ObjectId) -> String {
    format!("/api/v1/admin/payment/plans/{id}")
}
fn accounts_path(id: ObjectId) -> String {
    format!("/api/v1/admin/accounts/{id}")
}
fn users_path(id: ObjectId) -> String {
    format!("/api/v1/admin/users/{id}")
}

/// The error for a replayed create whose object is gone (see [`REPLAYED_OBJECT_GONE`]).
fn replayed_gone(what: &str, id: ObjectId) -> HostError {
    HostError::Conflict(ErrorDetail {
        status: 409,
        code: Some(crate::error::REPLAYED_OBJECT_GONE.to_owned()),
        message: format!(
            "the host replayed an earlier create for this Idempotency-Key, but that {what} ({id}) no longer exists; retry with a new key"
        ),
        metadata: Default::default(),
    })
}

fn classify_login_error(err: HostError) -> Result<LoginOutcome, HostError> {
    let Some(detail) = err.detail() else {
        return Err(err);
    };
    let code = detail.code.clone().unwrap_or_default();
    let blocked = if code == "BACKEND_MODE_ADMIN_ONLY"
        || detail.message.starts_with("Backend mode is active")
    {
        LoginBlocked::BackendMode {
            message: detail.message,
        }
    } else if code.contains("TURNSTILE") {
        LoginBlocked::TurnstileRequired {
            message: detail.message,
        }
    } else if code.contains("CAPTCHA") {
        // TENCENT_CAPTCHA_*, ALIYUN_CAPTCHA_*, CAPTCHA_PROVIDER_CONFLICT,
        // CAPTCHA_INVALID_CREDENTIALS: checked before the password, like Turnstile.
        let provider = if code.starts_with("TENCENT") {
            "tencent"
        } else if code.starts_with("ALIYUN") || code == "CAPTCHA_INVALID_CREDENTIALS" {
            "aliyun"
        } else {
            "captcha"
        };
        LoginBlocked::CaptchaRequired {
            provider: provider.into(),
            message: detail.message,
        }
    } else if code == "INVALID_CREDENTIALS" {
        LoginBlocked::InvalidCredentials
    } else if matches!(code.as_str(), "USER_NOT_ACTIVE" | "USER_INACTIVE") {
        LoginBlocked::UserNotActive
    } else {
        return Err(err);
    };
    Ok(LoginOutcome::Blocked(blocked))
}

impl HostAdapter for Sub2ApiClient {
    fn version(&self) -> Result<String, HostError> {
        let v: wire::WVersion = self.admin(Req::new(
            Method::Get,
            "/api/v1/admin/system/version",
            AuthKind::Admin,
        ))?;
        v.version
            .filter(|v| !v.is_empty())
            .ok_or_else(|| HostError::Decode("version: no version in the answer".into()))
    }

    fn compliance(&self) -> Result<Option<ComplianceStatus>, HostError> {
        match self.admin::<wire::WCompliance>(Req::new(
            Method::Get,
            "/api/v1/admin/compliance",
            AuthKind::Admin,
        )) {
            Ok(status) => Ok(Some(status.into())),
            Err(HostError::UnsupportedRoute { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn public_settings(&self) -> Result<PublicSettings, HostError> {
        let s: wire::WPublicSettings = self.admin(Req::new(
            Method::Get,
            "/api/v1/settings/public",
            AuthKind::None,
        ))?;
        Ok(s.into())
    }

    fn capabilities(&self) -> Result<Capabilities, HostError> {
        self.capabilities_with_gateway().map(|(c, _)| c)
    }

    fn capabilities_with_gateway(&self) -> Result<(Capabilities, GatewayReachability), HostError> {
        let list = |path: &str| {
            Req::new(Method::Get, path, AuthKind::Admin)
                .query("page", "1")
                .query("page_size", "1")
        };
        let groups = self.route_exists(list("/api/v1/admin/groups"))?;
        let channels = self.route_exists(list("/api/v1/admin/channels"))?;
        let plans = self.route_exists(Req::new(
            Method::Get,
            "/api/v1/admin/payment/plans",
            AuthKind::Admin,
        ))?;
        let accounts = self.route_exists(list("/api/v1/admin/accounts"))?;
        let account_models = self.route_exists(Req::new(
            Method::Get,
            "/api/v1/admin/accounts/0/models",
            AuthKind::Admin,
        ))?;
        let subscriptions = self.route_exists(list("/api/v1/admin/subscriptions"))?;
        let users = self.route_exists(list("/api/v1/admin/users"))?;
        let user_keys = self.route_exists(Req::new(Method::Get, "/api/v1/keys", AuthKind::None))?;
        let gateway = self.gateway_reachability()?;
        let capabilities = Capabilities {
            groups,
            channels,
            plans,
            accounts,
            account_test: accounts,
            account_models,
            subscriptions,
            users,
            user_keys,
            chat_completions: gateway.chat_completions,
        };
        Ok((capabilities, gateway))
    }

    fn gateway_reachability(&self) -> Result<GatewayReachability, HostError> {
        let mut models = Req::new(Method::Get, "/v1/models", AuthKind::None);
        models.retry_status = false;
        let (m, _) = self.gateway_answer(&models)?;
        let models_code = parse_gateway_error(&m.body).code;
        let chat = Req::new(Method::Post, "/v1/chat/completions", AuthKind::None)
            .body(serde_json::json!({}));
        let limited = |a: &Answer| {
            a.status == 429
                && parse_gateway_error(&a.body).code.as_deref() == Some(INVALID_AUTH_RATE_LIMITED)
        };
        if limited(&m) {
            // Blocked for failed key checks: a second keyless call would only count
            // against this IP again, and proves nothing about chat completions.
            return Ok(GatewayReachability {
                models_status: m.status,
                api_key_required: false,
                models_code,
                chat_status: m.status,
                chat_completions: true,
                invalid_auth_limited: true,
                retry_after: m.retry_after,
            });
        }
        let (c, _) = self.gateway_answer(&chat)?;
        Ok(GatewayReachability {
            models_status: m.status,
            api_key_required: m.status == 401 && models_code.as_deref() == Some("API_KEY_REQUIRED"),
            models_code,
            chat_status: c.status,
            chat_completions: c.status != 404 && c.status != 405,
            invalid_auth_limited: limited(&c),
            retry_after: if limited(&c) { c.retry_after } else { None },
        })
    }

    // -- groups -------------------------------------------------------------

    fn list_groups(&self, filter: &GroupFilter) -> Result<Vec<Group>, HostError> {
        let mut req = Req::new(Method::Get, "/api/v1/admin/groups", AuthKind::Admin);
        if let Some(name) = &filter.name {
            req = req.query("search", name.clone());
        }
        if let Some(platform) = &filter.platform {
            req = req.query("platform", platform.clone());
        }
        let groups: Vec<wire::WGroup> = self.list_all(req)?;
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let g = g.into_domain()?;
            let name_ok = filter.name.as_ref().is_none_or(|n| &g.name == n);
            let platform_ok = filter.platform.as_ref().is_none_or(|p| &g.platform == p);
            if name_ok && platform_ok {
                out.push(g);
            }
        }
        Ok(out)
    }

    fn get_group(&self, id: ObjectId) -> Result<Group, HostError> {
        self.admin::<wire::WGroup>(Req::new(Method::Get, groups_path(id), AuthKind::Admin))?
            .into_domain()
    }

    fn create_group(&self, group: &NewGroup) -> Result<Group, HostError> {
        self.admin::<wire::WGroup>(
            Req::new(Method::Post, "/api/v1/admin/groups", AuthKind::Admin)
                .body(wire::new_group_body(group)),
        )?
        .into_domain()
    }

    fn update_group(&self, id: ObjectId, update: &GroupUpdate) -> Result<Group, HostError> {
        self.admin::<wire::WGroup>(
            Req::new(Method::Put, groups_path(id), AuthKind::Admin)
                .body(wire::group_update_body(update)),
        )?
        .into_domain()
    }

    fn delete_group(&self, id: ObjectId) -> Result<(), HostError> {
        self.admin_unit(Req::new(Method::Delete, groups_path(id), AuthKind::Admin))
    }

    fn list_group_keys(&self, group_id: ObjectId) -> Result<Vec<UserKey>, HostError> {
        let keys: Vec<wire::WKey> = self.list_all(Req::new(
            Method::Get,
            format!("{}/api-keys", groups_path(group_id)),
            AuthKind::Admin,
        ))?;
        keys.into_iter().map(wire::WKey::into_domain).collect()
    }

    // -- channels -----------------------------------------------------------

    fn list_channels(&self, name: Option<&str>) -> Result<Vec<Channel>, HostError> {
        let mut req = Req::new(Method::Get, "/api/v1/admin/channels", AuthKind::Admin);
        if let Some(name) = name {
            req = req.query("search", name);
        }
        let channels: Vec<wire::WChannel> = self.list_all(req)?;
        let mut out = Vec::with_capacity(channels.len());
        for c in channels {
            let c = c.into_domain()?;
            if name.is_none_or(|n| c.name == n) {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn get_channel(&self, id: ObjectId) -> Result<Channel, HostError> {
        self.admin::<wire::WChannel>(Req::new(Method::Get, channels_path(id), AuthKind::Admin))?
            .into_domain()
    }

    fn create_channel(&self, channel: &NewChannel) -> Result<Channel, HostError> {
        self.admin::<wire::WChannel>(
            Req::new(Method::Post, "/api/v1/admin/channels", AuthKind::Admin)
                .body(wire::new_channel_body(channel)),
        )?
        .into_domain()
    }

    fn update_channel(&self, id: ObjectId, update: &ChannelUpdate) -> Result<Channel, HostError> {
        self.admin::<wire::WChannel>(
            Req::new(Method::Put, channels_path(id), AuthKind::Admin)
                .body(wire::channel_update_body(update)),
        )?
        .into_domain()
    }

    fn delete_channel(&self, id: ObjectId) -> Result<(), HostError> {
        self.admin_unit(Req::new(Method::Delete, channels_path(id), AuthKind::Admin))
    }

    // -- plans --------------------------------------------------------------

    fn list_plans(&self) -> Result<Vec<Plan>, HostError> {
        let plans: Option<Vec<wire::WPlan>> = self.admin(Req::new(
            Method::Get,
            "/api/v1/admin/payment/plans",
            AuthKind::Admin,
        ))?;
        plans
            .unwrap_or_default()
            .into_iter()
            .map(wire::WPlan::into_domain)
            .collect()
    }

    fn create_plan(&self, plan: &NewPlan) -> Result<Plan, HostError> {
        self.admin::<wire::WPlan>(
            Req::new(Method::Post, "/api/v1/admin/payment/plans", AuthKind::Admin)
                .body(wire::new_plan_body(plan)),
        )?
        .into_domain()
    }

    fn update_plan(&self, id: ObjectId, update: &PlanUpdate) -> Result<Plan, HostError> {
        self.admin::<wire::WPlan>(
            Req::new(Method::Put, plans_path(id), AuthKind::Admin)
                .body(wire::plan_update_body(update)),
        )?
        .into_domain()
    }

    fn delete_plan(&self, id: ObjectId) -> Result<(), HostError> {
        self.admin_unit(Req::new(Method::Delete, plans_path(id), AuthKind::Admin))
    }

    // -- accounts -----------------------------------------------------------

    fn create_account(
        &self,
        account: &NewAccount,
        idempotency_key: Option<&str>,
    ) -> Result<Account, HostError> {
        let mut req = Req::new(Method::Post, "/api/v1/admin/accounts", AuthKind::Admin)
            .body(wire::new_account_body(account));
        if let Some(key) = &account.credentials.api_key {
            req = req.secret(key);
        }
        req.idempotency_key = idempotency_key;
        let (created, replayed) = self.admin_write::<wire::WAccount>(req)?;
        let created = created.into_domain()?;
        if !replayed {
            return Ok(created);
        }
        // A replay is the answer of an earlier execution: read the account as it is now.
        match self.get_account(created.id) {
            Err(HostError::NotFound(_)) => Err(replayed_gone("account", created.id)),
            other => other,
        }
    }

    fn create_accounts_batch(
        &self,
        accounts: &[NewAccount],
        idempotency_key: Option<&str>,
    ) -> Result<BatchCreateResult, HostError> {
        let items: Vec<Value> = accounts.iter().map(wire::new_account_body).collect();
        let mut req = Req::new(
            Method::Post,
            "/api/v1/admin/accounts/batch",
            AuthKind::Admin,
        )
        .body(serde_json::json!({ "accounts": items }));
        for key in accounts
            .iter()
            .filter_map(|a| a.credentials.api_key.as_ref())
        {
            req = req.secret(key);
        }
        req.idempotency_key = idempotency_key;
        let redactor = self.redactor(&req);
        let (result, replayed): (wire::WBatchResult, bool) = self.admin_write(req)?;
        let mut result: BatchCreateResult = result.into();
        result.replayed = replayed;
        for item in &mut result.results {
            if let Some(error) = &mut item.error {
                redactor.redact_in_place(error);
            }
        }
        // The 0.1.27 build's handler is a placeholder: it answers success for every
        // item with no results and creates nothing.
        if !accounts.is_empty()
            && result.results.is_empty()
            && result.failed == 0
            && result.success == accounts.len() as u64
        {
            return Err(HostError::UnsupportedRoute {
                method: "POST".into(),
                path: "/api/v1/admin/accounts/batch".into(),
            });
        }
        Ok(result)
    }

    fn get_account(&self, id: ObjectId) -> Result<Account, HostError> {
        self.admin::<wire::WAccount>(Req::new(Method::Get, accounts_path(id), AuthKind::Admin))?
            .into_domain()
    }

    fn list_accounts(&self, filter: &AccountFilter) -> Result<Vec<Account>, HostError> {
        let mut req = Req::new(Method::Get, "/api/v1/admin/accounts", AuthKind::Admin);
        if let Some(prefix) = &filter.name_prefix {
            req = req.query("search", prefix.clone());
        }
        if let Some(group) = filter.group_id {
            req = req.query("group", group.to_string());
        }
        if let Some(platform) = &filter.platform {
            req = req.query("platform", platform.clone());
        }
        let accounts: Vec<wire::WAccount> = self.list_all(req)?;
        let mut out = Vec::with_capacity(accounts.len());
        for a in accounts {
            let a = a.into_domain()?;
            let prefix_ok = filter
                .name_prefix
                .as_ref()
                .is_none_or(|p| a.name.starts_with(p.as_str()));
            if prefix_ok {
                out.push(a);
            }
        }
        Ok(out)
    }

    fn update_account(&self, id: ObjectId, update: &AccountUpdate) -> Result<Account, HostError> {
        let mut req = Req::new(Method::Put, accounts_path(id), AuthKind::Admin)
            .body(wire::account_update_body(update));
        if let Some(key) = update.credentials.as_ref().and_then(|c| c.api_key.as_ref()) {
            req = req.secret(key);
        }
        self.admin::<wire::WAccount>(req)?.into_domain()
    }

    fn clear_account_error(&self, id: ObjectId) -> Result<Account, HostError> {
        let account = self
            .admin::<wire::WAccount>(Req::new(
                Method::Post,
                format!("{}/clear-error", accounts_path(id)),
                AuthKind::Admin,
            ))?
            .into_domain()?;
        if account.schedulable {
            return Ok(account);
        }
        // The host's SetError also sets `schedulable = false` and clear-error does not
        // undo it; only the schedulable route does (an account update ignores it).
        self.set_account_schedulable(id, true)
    }

    fn set_account_schedulable(
        &self,
        id: ObjectId,
        schedulable: bool,
    ) -> Result<Account, HostError> {
        self.admin::<wire::WAccount>(
            Req::new(
                Method::Post,
                format!("{}/schedulable", accounts_path(id)),
                AuthKind::Admin,
            )
            .body(serde_json::json!({ "schedulable": schedulable })),
        )?
        .into_domain()
    }

    fn recover_account_state(&self, id: ObjectId) -> Result<Account, HostError> {
        self.admin::<wire::WAccount>(Req::new(
            Method::Post,
            format!("{}/recover-state", accounts_path(id)),
            AuthKind::Admin,
        ))?
        .into_domain()
    }

    fn clear_account_errors(&self, ids: &[ObjectId]) -> Result<BatchClearResult, HostError> {
        if ids.is_empty() {
            return Ok(BatchClearResult::default());
        }
        let req = Req::new(
            Method::Post,
            "/api/v1/admin/accounts/batch-clear-error",
            AuthKind::Admin,
        )
        .body(serde_json::json!({ "account_ids": ids }));
        let redactor = self.redactor(&req);
        let result: wire::WBatchClear = self.admin(req)?;
        let mut result: BatchClearResult = result.into();
        for (_, error) in &mut result.failed {
            redactor.redact_in_place(error);
        }
        Ok(result)
    }

    fn clear_account_temp_unschedulable(&self, id: ObjectId) -> Result<bool, HostError> {
        match self.admin_unit(Req::new(
            Method::Delete,
            format!("{}/temp-unschedulable", accounts_path(id)),
            AuthKind::Admin,
        )) {
            Ok(()) => Ok(true),
            Err(HostError::UnsupportedRoute { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    fn delete_account(&self, id: ObjectId) -> Result<(), HostError> {
        self.admin_unit(Req::new(Method::Delete, accounts_path(id), AuthKind::Admin))
    }

    fn test_account(&self, id: ObjectId, model_id: Option<&str>) -> Result<ProbeResult, HostError> {
        let body = match model_id {
            Some(model) => serde_json::json!({ "model_id": model }),
            None => serde_json::json!({}),
        };
        let req = Req::new(
            Method::Post,
            format!("{}/test", accounts_path(id)),
            AuthKind::Admin,
        )
        .body(body);
        let started = Instant::now();
        let mut resp = self.call(&req)?;
        let status = resp.status().as_u16();
        if !is_success(status) {
            let answer = read_answer(resp).map_err(|e| self.scrub(&req, e))?;
            return Err(self.error_of(&req, &answer));
        }
        let mut parser = AccountTestParser::default();
        let mut reader = resp.body_mut().as_reader();
        let mut buf = [0u8; 8192];
        let mut interrupted: Option<String> = None;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if parser.push(&buf[..n]) {
                        break;
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    interrupted = Some(err.to_string());
                    break;
                }
            }
        }
        let done = parser.is_done();
        let report = parser.finish();
        let mut result = ProbeResult {
            outcome: report.outcome,
            model_tested: report.model_tested,
            message: report.message,
            content_preview: report.content_preview,
            http_status: report.http_status,
            duration: started.elapsed(),
        };
        if let (false, Some(err)) = (done, interrupted) {
            result.message = format!("{STREAM_ENDED_WITHOUT_RESULT} (stream interrupted: {err})");
        }
        // The test's text relays the vendor's body verbatim, and vendors quote keys.
        let redactor = self.redactor(&req);
        redactor.redact_in_place(&mut result.message);
        redactor.redact_in_place(&mut result.content_preview);
        Ok(result)
    }

    fn account_models(&self, id: ObjectId) -> Result<Vec<String>, HostError> {
        let models: Option<Vec<wire::WModel>> = self.admin(Req::new(
            Method::Get,
            format!("{}/models", accounts_path(id)),
            AuthKind::Admin,
        ))?;
        Ok(models
            .unwrap_or_default()
            .into_iter()
            .filter_map(wire::WModel::into_id)
            .collect())
    }

    fn sync_upstream_models(&self, id: ObjectId) -> Result<Vec<String>, HostError> {
        let data: wire::WUpstreamModels = self.admin(Req::new(
            Method::Post,
            format!("{}/models/sync-upstream", accounts_path(id)),
            AuthKind::Admin,
        ))?;
        Ok(wire::model_ids(data))
    }

    fn sync_upstream_models_preview(
        &self,
        preview: &UpstreamModelsPreview,
    ) -> Result<Vec<String>, HostError> {
        let data: wire::WUpstreamModels = self.admin(
            Req::new(
                Method::Post,
                "/api/v1/admin/accounts/models/sync-upstream-preview",
                AuthKind::Admin,
            )
            .body(serde_json::json!({
                "platform": preview.platform.as_str(),
                "type": preview.account_type,
                "base_url": preview.base_url,
                "api_key": preview.api_key.expose(),
            }))
            .secret(&preview.api_key),
        )?;
        Ok(wire::model_ids(data))
    }

    fn account_balance(&self, id: ObjectId) -> Result<HostBalance, HostError> {
        let path = format!("/api/v1/admin/cn-providers/accounts/{id}/balance");
        let redactor = self.redactor(&Req::new(Method::Get, path.clone(), AuthKind::Admin));
        let data: wire::WCnBalance = self.admin(Req::new(Method::Get, path, AuthKind::Admin))?;
        let mut balance = data.into_domain();
        balance.error = balance.error.map(|e| redactor.redact(&e));
        Ok(balance)
    }

    // -- users --------------------------------------------------------------

    fn find_user_by_email(&self, email: &str) -> Result<Option<User>, HostError> {
        let req = Req::new(Method::Get, "/api/v1/admin/users", AuthKind::Admin)
            .query("search", email.trim());
        let users: Vec<wire::WUser> = self.list_all(req)?;
        for u in users {
            let u = u.into_domain()?;
            if u.email.eq_ignore_ascii_case(email.trim()) {
                return Ok(Some(u));
            }
        }
        Ok(None)
    }

    fn get_user(&self, id: ObjectId) -> Result<User, HostError> {
        self.admin::<wire::WUser>(Req::new(Method::Get, users_path(id), AuthKind::Admin))?
            .into_domain()
    }

    fn create_user(&self, user: &NewUser) -> Result<User, HostError> {
        self.admin::<wire::WUser>(
            Req::new(Method::Post, "/api/v1/admin/users", AuthKind::Admin)
                .body(wire::new_user_body(user))
                .secret(&user.password),
        )?
        .into_domain()
    }

    fn update_user(&self, id: ObjectId, update: &UserUpdate) -> Result<User, HostError> {
        let mut req = Req::new(Method::Put, users_path(id), AuthKind::Admin)
            .body(wire::user_update_body(update));
        if let Some(password) = &update.password {
            req = req.secret(password);
        }
        self.admin::<wire::WUser>(req)?.into_domain()
    }

    fn set_user_balance(
        &self,
        id: ObjectId,
        change: &BalanceChange,
        idempotency_key: Option<&str>,
    ) -> Result<User, HostError> {
        let mut req = Req::new(
            Method::Post,
            format!("{}/balance", users_path(id)),
            AuthKind::Admin,
        )
        .body(wire::balance_body(change));
        req.idempotency_key = idempotency_key;
        let (user, replayed) = self.admin_write::<wire::WUser>(req)?;
        let user = user.into_domain()?;
        if replayed {
            // The stored answer shows the balance of an earlier execution.
            return self.get_user(user.id);
        }
        Ok(user)
    }

    fn delete_user(&self, id: ObjectId) -> Result<(), HostError> {
        self.admin_unit(Req::new(Method::Delete, users_path(id), AuthKind::Admin))
    }

    fn list_user_keys_admin(&self, user_id: ObjectId) -> Result<Vec<UserKey>, HostError> {
        let keys: Vec<wire::WKey> = self.list_all(Req::new(
            Method::Get,
            format!("{}/api-keys", users_path(user_id)),
            AuthKind::Admin,
        ))?;
        keys.into_iter().map(wire::WKey::into_domain).collect()
    }

    fn rebind_user_key(&self, key_id: ObjectId, group_id: ObjectId) -> Result<UserKey, HostError> {
        let answer: wire::WKeyRebind = self.admin(
            Req::new(
                Method::Put,
                format!("/api/v1/admin/api-keys/{key_id}"),
                AuthKind::Admin,
            )
            .body(serde_json::json!({ "group_id": group_id })),
        )?;
        answer
            .api_key
            .ok_or_else(|| HostError::Decode("PUT api key: no api_key in the answer".into()))?
            .into_domain()
    }

    // -- user session -------------------------------------------------------

    fn login_user(&self, email: &str, password: &Secret) -> Result<LoginOutcome, HostError> {
        let data = match self.envelope(&self.login_req(email, password)) {
            Ok(data) => data,
            Err(err) => return classify_login_error(err),
        };
        let login: wire::WLogin = wire::from_value("login", data)?;
        if login.requires_2fa == Some(true) {
            return Ok(LoginOutcome::Blocked(LoginBlocked::TwoFactorRequired));
        }
        let token = login
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| HostError::Decode("login: no access_token".into()))?;
        let user = login
            .user
            .map(wire::WUser::into_domain)
            .transpose()?
            .ok_or_else(|| HostError::Decode("login: no user in the answer".into()))?;
        Ok(LoginOutcome::LoggedIn(UserSession {
            user_id: user.id,
            email: user.email,
            access_token: Secret::new(token),
            expires_in: login.expires_in,
        }))
    }

    fn create_user_key(
        &self,
        session: &UserSession,
        key: &NewUserKey,
        idempotency_key: Option<&str>,
    ) -> Result<UserKey, HostError> {
        let mut req = Req::new(
            Method::Post,
            "/api/v1/keys",
            AuthKind::User(&session.access_token),
        )
        .body(wire::new_key_body(key));
        if let Some(custom) = &key.custom_key {
            req = req.secret(custom);
        }
        req.idempotency_key = idempotency_key;
        let (created, replayed) = self.admin_write::<wire::WKey>(req)?;
        let created = created.into_domain()?;
        if !replayed {
            return Ok(created);
        }
        let current = self.admin::<wire::WKey>(Req::new(
            Method::Get,
            format!("/api/v1/keys/{}", created.id),
            AuthKind::User(&session.access_token),
        ));
        match current {
            Ok(k) => k.into_domain(),
            Err(HostError::NotFound(_)) => Err(replayed_gone("user key", created.id)),
            Err(e) => Err(e),
        }
    }

    fn list_user_keys(&self, session: &UserSession) -> Result<Vec<UserKey>, HostError> {
        let keys: Vec<wire::WKey> = self.list_all(Req::new(
            Method::Get,
            "/api/v1/keys",
            AuthKind::User(&session.access_token),
        ))?;
        keys.into_iter().map(wire::WKey::into_domain).collect()
    }

    fn delete_user_key(&self, session: &UserSession, key_id: ObjectId) -> Result<(), HostError> {
        self.admin_unit(Req::new(
            Method::Delete,
            format!("/api/v1/keys/{key_id}"),
            AuthKind::User(&session.access_token),
        ))
    }

    // -- subscriptions ------------------------------------------------------

    fn assign_subscription(
        &self,
        assignment: &SubscriptionAssignment,
    ) -> Result<AssignOutcome, HostError> {
        let req = Req::new(
            Method::Post,
            "/api/v1/admin/subscriptions/assign",
            AuthKind::Admin,
        )
        .body(wire::assign_body(assignment));
        match self.admin::<wire::WSubscription>(req) {
            Ok(sub) => Ok(AssignOutcome::Assigned(sub.into_domain()?)),
            Err(HostError::Conflict(detail)) if detail.has_code("SUBSCRIPTION_ASSIGN_CONFLICT") => {
                Ok(AssignOutcome::Conflict {
                    reason: detail
                        .metadata
                        .get("conflict_reason")
                        .cloned()
                        .unwrap_or_else(|| "unknown".to_owned()),
                    message: detail.message,
                })
            }
            Err(HostError::Conflict(detail)) if detail.has_code("SUBSCRIPTION_ALREADY_EXISTS") => {
                Ok(AssignOutcome::Conflict {
                    reason: "already_exists".to_owned(),
                    message: detail.message,
                })
            }
            Err(err) => Err(err),
        }
    }

    fn list_subscriptions(
        &self,
        filter: &SubscriptionFilter,
    ) -> Result<Vec<Subscription>, HostError> {
        let mut req = Req::new(Method::Get, "/api/v1/admin/subscriptions", AuthKind::Admin);
        if let Some(user) = filter.user_id {
            req = req.query("user_id", user.to_string());
        }
        if let Some(group) = filter.group_id {
            req = req.query("group_id", group.to_string());
        }
        let subs: Vec<wire::WSubscription> = self.list_all(req)?;
        let mut out = Vec::with_capacity(subs.len());
        for s in subs.into_iter().filter(|s| !s.is_revoked()) {
            let s = s.into_domain()?;
            // Revoked subscriptions are soft-deleted: the admin list still shows them.
            if s.status == wire::SUBSCRIPTION_REVOKED {
                continue;
            }
            if filter.user_id.is_none_or(|u| s.user_id == u)
                && filter.group_id.is_none_or(|g| s.group_id == g)
            {
                out.push(s);
            }
        }
        Ok(out)
    }

    fn revoke_subscription(&self, id: ObjectId) -> Result<(), HostError> {
        self.admin_unit(Req::new(
            Method::Delete,
            format!("/api/v1/admin/subscriptions/{id}"),
            AuthKind::Admin,
        ))
    }

    // -- gateway ------------------------------------------------------------

    fn gateway_models(&self, key: &Secret) -> Result<ModelsProbe, HostError> {
        let mut req = Req::new(Method::Get, "/v1/models", AuthKind::Gateway(key));
        req.retry_status = false;
        let (answer, duration) = self.gateway_answer(&req)?;
        if !is_success(answer.status) {
            return Ok(ModelsProbe {
                http_status: answer.status,
                models: Vec::new(),
                error: Some(redact_gateway_error(
                    parse_gateway_error(&answer.body),
                    &self.redactor(&req),
                )),
                duration,
            });
        }
        match serde_json::from_str::<wire::WModelList>(&answer.body) {
            Ok(list) => Ok(ModelsProbe {
                http_status: answer.status,
                models: list
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(wire::WModel::into_id)
                    .collect(),
                error: None,
                duration,
            }),
            Err(_) => Ok(ModelsProbe {
                http_status: answer.status,
                models: Vec::new(),
                error: Some(GatewayError {
                    message: "the model list is not OpenAI-shaped JSON".to_owned(),
                    ..GatewayError::default()
                }),
                duration,
            }),
        }
    }

    fn gateway_chat(
        &self,
        key: &Secret,
        request: &ChatProbeRequest,
    ) -> Result<CompletionProbe, HostError> {
        let mut probe = self.chat_unredacted(key, request)?;
        // Gateway errors relay the vendor's message, and a chatty host quotes the key.
        let redactor = self.redactor(&Req::new(
            Method::Post,
            "/v1/chat/completions",
            AuthKind::Gateway(key),
        ));
        probe.error = probe.error.map(|e| redact_gateway_error(e, &redactor));
        redactor.redact_in_place(&mut probe.preview);
        Ok(probe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_validation() {
        assert_eq!(
            validate_base_url("https://h.example/").unwrap(),
            "https://h.example"
        );
        assert_eq!(
            validate_base_url("http://127.0.0.1:8080/prefix//").unwrap(),
            "http://127.0.0.1:8080/prefix"
        );
        assert!(validate_base_url("ftp://h").is_err());
        assert!(validate_base_url("https://h/?a=1").is_err());
        assert!(validate_base_url("https://").is_err());
        assert!(validate_base_url("https://u:p@h").is_err());
        assert!(validate_base_url("h.example").is_err());
    }

    #[test]
    fn empty_credentials_are_refused() {
        let cfg = HostConfig::new("http://h", AdminAuth::ApiKey(Secret::new(" ")));
        assert!(matches!(Sub2ApiClient::new(cfg), Err(HostError::Config(_))));
        let cfg = HostConfig::new(
            "http://h",
            AdminAuth::Login {
                email: "a@b.c".into(),
                password: Secret::new(""),
            },
        );
        assert!(matches!(Sub2ApiClient::new(cfg), Err(HostError::Config(_))));
    }

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff(0), BASE_BACKOFF);
        assert!(backoff(30) <= MAX_BACKOFF);
    }
}
