//! The hyper server: accept loop (see [`crate::listener`]), per-connection timeouts,
//! auth with per-address throttling, body limits, request ids, response headers and
//! blocking dispatch.
//!
//! Every answer carries `x-request-id`, `Cache-Control: no-store` and
//! `X-Content-Type-Options: nosniff`. An answer given without reading the request's
//! body (`401`, `408`, `413`, `429`, …) also carries `Connection: close`, so the unread
//! body is never drained or buffered.
//!
//! `/api/*` (and the other operator routes) accept the operator token as a bearer
//! token or a web-console session cookie ([`crate::console`]); `/console` itself is
//! served by the console module, outside the route table.

use crate::auth::bearer_matches;
use crate::console::{self, Sessions};
use crate::error::ApiError;
use crate::listener::{accept_loop, Limits, Listener, WriteGuard};
use crate::router::{Access, ApiRequest, ApiResponse, Lookup, Router};
use crate::stream::{self, ChannelBody};
use crate::throttle::{client_addr, is_trusted_proxy, AuthThrottle};
use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER,
    X_CONTENT_TYPE_OPTIONS,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use relay_domain::Secret;
use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Default JSON body limit (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The largest request head (request line and headers; a larger one answers `431`),
/// also the most a connection buffers while reading: keeps a slow client's memory
/// small.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Longest request path repeated in an error message.
const MAX_SHOWN_PATH: usize = 80;
/// Longest request path written to the request log.
const MAX_LOGGED_PATH: usize = 256;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The operator token every `/api/*` route requires.
    pub operator_token: Secret,
    /// Default request body limit in bytes.
    pub body_limit: usize,
    /// Timeouts, the connection cap and the throttling of failed token checks.
    pub limits: Limits,
    /// Peers (reverse proxies) whose `X-Forwarded-For` names the client address used
    /// for throttling and logs; empty: the peer address is the client's.
    pub trusted_proxies: Vec<IpAddr>,
}

impl ServerConfig {
    /// Settings with `operator_token` and every default: 1 MiB bodies, the default
    /// [`Limits`], no trusted proxy.
    pub fn new(operator_token: Secret) -> Self {
        ServerConfig {
            operator_token,
            body_limit: DEFAULT_BODY_LIMIT,
            limits: Limits::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

struct Shared {
    router: Router,
    config: ServerConfig,
    throttle: AuthThrottle,
    sessions: Sessions,
    next_id: AtomicU64,
    id_keys: RandomState,
}

/// A running server's handle: dropping it does not stop the server; call [`ServerHandle::shutdown`].
#[derive(Debug)]
pub struct ServerHandle {
    stop: Arc<Notify>,
}

impl ServerHandle {
    /// Stops accepting connections.
    pub fn shutdown(&self) {
        self.stop.notify_one();
    }
}

/// Serves `router` on `listener` until [`ServerHandle::shutdown`] is called.
/// Returns the handle and the accept-loop future to spawn or await.
pub fn serve(
    listener: TcpListener,
    router: Router,
    config: ServerConfig,
) -> (ServerHandle, impl std::future::Future<Output = ()> + Send) {
    serve_on(listener, router, config)
}

/// [`serve`] over any [`Listener`].
pub(crate) fn serve_on<L: Listener>(
    listener: L,
    router: Router,
    config: ServerConfig,
) -> (ServerHandle, impl std::future::Future<Output = ()> + Send) {
    let stop = Arc::new(Notify::new());
    let throttle = AuthThrottle::new(config.limits.auth_failures, config.limits.auth_lockout);
    let max_connections = config.limits.max_connections;
    let shared = Arc::new(Shared {
        router,
        config,
        throttle,
        sessions: Sessions::default(),
        next_id: AtomicU64::new(1),
        id_keys: RandomState::new(),
    });
    let fut = accept_loop(
        listener,
        max_connections,
        stop.clone(),
        move |io, peer, slot| {
            let shared = shared.clone();
            tokio::spawn(async move {
                serve_connection(io, peer, shared).await;
                drop(slot);
            });
        },
    );
    (ServerHandle { stop }, fut)
}

/// Serves one connection: hyper's header read timeout (also the keep-alive idle
/// limit), a read buffer of [`MAX_HEAD_BYTES`], a stall limit on writes, and a `408`
/// to a client cut off in the middle of a request head.
async fn serve_connection<T>(io: T, peer: SocketAddr, shared: Arc<Shared>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = shared.config.limits.clone();
    let io = TokioIo::new(WriteGuard::new(io, limits.body_timeout));
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(shared, req, peer).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let mut conn = builder.serve_connection(io, service);
    match (&mut conn).await {
        Ok(()) => {}
        Err(e) if e.is_timeout() => {
            let parts = conn.into_parts();
            if parts.read_buf.is_empty() {
                tracing::debug!(%peer, "closed an idle connection (RELAY_HEADER_TIMEOUT)");
                return;
            }
            tracing::debug!(%peer, "request head not received in time: 408");
            let mut io = parts.io.into_inner().into_inner();
            let answer = head_timeout_answer(limits.header_timeout);
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                io.write_all(&answer).await?;
                io.shutdown().await
            })
            .await;
        }
        Err(e) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
    }
}

/// The raw `408` written when a request head did not arrive in time (hyper closes the
/// connection without an answer; the server writes this one itself).
fn head_timeout_answer(limit: Duration) -> Vec<u8> {
    let e = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "the request head did not arrive within {}s (RELAY_HEADER_TIMEOUT)",
            limit.as_secs_f64()
        ),
    );
    let body = serde_json::to_vec(&e.body()).unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n\
         cache-control: no-store\r\nx-content-type-options: nosniff\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

fn request_id(shared: &Shared, req: &Request<Incoming>) -> String {
    if let Some(v) = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
    {
        if !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return v.to_string();
        }
    }
    // A keyed hash of a counter: unique per process, and it does not reveal how many
    // requests the server has answered.
    let n = shared.next_id.fetch_add(1, Ordering::Relaxed);
    format!("req-{:016x}", shared.id_keys.hash_one(n))
}

/// `path` when it is short and made of unreserved characters only; otherwise a
/// description that repeats none of it.
pub fn shown_path(path: &str) -> String {
    let plain = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
    if plain && path.len() <= MAX_SHOWN_PATH {
        path.to_string()
    } else {
        format!("this path ({} bytes; not repeated)", path.len())
    }
}

/// `method` when it is a short plain word; otherwise `this method`.
fn shown_method(method: &Method) -> &str {
    let m = method.as_str();
    if m.len() <= 16 && m.bytes().all(|b| b.is_ascii_uppercase()) {
        m
    } else {
        "this method"
    }
}

fn logged_path(path: &str) -> &str {
    if path.len() <= MAX_LOGGED_PATH {
        return path;
    }
    let mut end = MAX_LOGGED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// The body of an answer: whole, or written by a producer while it is sent.
type AnswerBody = Either<Full<Bytes>, ChannelBody>;

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<AnswerBody> {
    let started = Instant::now();
    let rid = request_id(&shared, &req);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client = client_addr(peer, req.headers(), &shared.config.trusted_proxies);
    let has_body = !req.body().is_end_stream();
    let mut body_read = false;
    let is_console = console::is_console_path(&path);
    let result = if is_console {
        let ctx = console::Context {
            token: &shared.config.operator_token,
            throttle: &shared.throttle,
            sessions: &shared.sessions,
            body_timeout: shared.config.limits.body_timeout,
            https: forwarded_https(peer, req.headers(), &shared.config.trusted_proxies),
        };
        console::serve(ctx, req, client, &mut body_read)
            .await
            .map(|r| r.map(Either::Left))
    } else {
        dispatch(&shared, req, &rid, client, &mut body_read)
            .await
            .map(to_response)
    };
    let mut response = match result {
        Ok(r) => r,
        Err(e) => error_response(&e).map(Either::Left),
    };
    let headers = response.headers_mut();
    if is_console {
        console::add_security_headers(headers);
    }
    if let Ok(v) = HeaderValue::from_str(&rid) {
        headers.insert("x-request-id", v);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if has_body && !body_read {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    tracing::info!(
        request_id = %rid,
        client = %client,
        method = %method,
        path = %logged_path(&path),
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// True when the request came through a trusted proxy that received it over HTTPS
/// (`X-Forwarded-Proto: https`): the console's cookie is then `Secure`.
fn forwarded_https(peer: SocketAddr, headers: &hyper::HeaderMap, trusted: &[IpAddr]) -> bool {
    is_trusted_proxy(peer.ip(), trusted)
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Checks the operator token of a request from `client`, throttled per address: a
/// bearer token, or an open console session cookie (which needs the console header
/// on a request that changes something).
fn authorize(shared: &Shared, req: &Request<Incoming>, client: IpAddr) -> Result<(), ApiError> {
    let now = Instant::now();
    if let Err(wait) = shared.throttle.check(client, now) {
        return Err(ApiError::rate_limited(wait));
    }
    if bearer_matches(req.headers(), &shared.config.operator_token) {
        shared.throttle.record_success(client);
        return Ok(());
    }
    if let Some(id) = console::session_cookie(req.headers()) {
        if shared.sessions.is_open(id, now) {
            if console::is_unsafe(req.method()) && !console::has_csrf_header(req.headers()) {
                return Err(console::csrf_refused());
            }
            shared.throttle.record_success(client);
            return Ok(());
        }
    }
    if let Some(lockout) = shared.throttle.record_failure(client, now) {
        tracing::warn!(
            client = %client,
            lockout_secs = lockout.as_secs(),
            "too many failed operator-token checks: the address is answered 429 for a while"
        );
    }
    Err(ApiError::unauthorized())
}

async fn dispatch(
    shared: &Shared,
    req: Request<Incoming>,
    rid: &str,
    client: IpAddr,
    body_read: &mut bool,
) -> Result<ApiResponse, ApiError> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let is_api = path == "/api" || path.starts_with("/api/");
    // Under /api the token is checked before routing: no route or method is revealed
    // without it.
    if is_api {
        authorize(shared, &req, client)?;
    }
    let (endpoint, params) = match shared.router.lookup(&method, &path) {
        Lookup::Found(e, p) => (e, p),
        Lookup::MethodNotAllowed(allowed) => {
            let mut e = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "{} is not allowed on {}; use {}",
                    shown_method(&method),
                    shown_path(&path),
                    allowed.join(", ")
                ),
            );
            // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
            e.allow = Some(allowed.join(", "));
            return Err(e);
        }
        Lookup::NotFound => {
            return Err(ApiError::not_found(format!(
                "no route for {} {}",
                shown_method(&method),
                shown_path(&path)
            )))
        }
    };
    if endpoint.access == Access::Operator && !is_api {
        authorize(shared, &req, client)?;
    }
    let has_body = !req.body().is_end_stream();
    if endpoint.access == Access::Public && has_body {
        // Open routes take no body: refused from the headers, nothing is read.
        return Err(ApiError::body_not_allowed());
    }
    let limit = endpoint.body_limit.unwrap_or(shared.config.body_limit);
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    let query = parse_query(req.uri().query().unwrap_or(""));
    let headers = req.headers().clone();
    let body = if has_body {
        let deadline = shared.config.limits.body_timeout;
        let collected =
            tokio::time::timeout(deadline, Limited::new(req.into_body(), limit).collect()).await;
        match collected {
            Err(_) => return Err(ApiError::request_timeout(deadline)),
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(ApiError::too_large(limit))
            }
            Ok(Err(e)) => return Err(ApiError::bad_request(format!("cannot read the body: {e}"))),
        }
    } else {
        Bytes::new()
    };
    *body_read = true;
    let api_req = ApiRequest {
        method,
        path,
        params,
        query,
        headers,
        body,
        request_id: rid.to_string(),
    };
    let handler = endpoint.handler.clone();
    let rid = rid.to_string();
    match tokio::task::spawn_blocking(move || {
        relay_app::audit::with_request_id(&rid, || handler(api_req))
    })
    .await
    {
        Ok(r) => r,
        Err(e) => Err(ApiError::internal(format!("handler failed: {e}"))),
    }
}

fn to_response(r: ApiResponse) -> Response<AnswerBody> {
    let body = match r.stream.as_ref().and_then(|s| s.take()) {
        Some(producer) => Either::Right(stream::start(producer)),
        None => Either::Left(Full::new(r.body)),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = r.status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(r.content_type));
    resp
}

fn error_response(e: &ApiError) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&e.body()).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = e.status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(allow) = e
        .allow
        .as_deref()
        .and_then(|a| HeaderValue::from_str(a).ok())
    {
        resp.headers_mut().insert(ALLOW, allow);
    }
    resp
}

/// Decodes `a=1&b=x%20y` (with `+` as space).
pub fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("host_id=h1&q=a%20b+c&empty=&bad=%zz&tail=%4");
        assert_eq!(q["host_id"], "h1");
        assert_eq!(q["q"], "a b c");
        assert_eq!(q["empty"], "");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(q["tail"], "%4");
    }
}
