//! The hyper server: accept loop, auth, body limits, request ids, blocking dispatch.

use crate::auth::bearer_matches;
use crate::error::ApiError;
use crate::router::{Access, ApiRequest, ApiResponse, Lookup, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use relay_domain::Secret;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Default JSON body limit (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The operator token every `/api/*` route requires.
    pub operator_token: Secret,
    /// Default request body limit in bytes.
    pub body_limit: usize,
}

struct Shared {
    router: Router,
    config: ServerConfig,
    next_id: AtomicU64,
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
    let stop = Arc::new(Notify::new());
    let stopped = stop.clone();
    let shared = Arc::new(Shared {
        router,
        config,
        next_id: AtomicU64::new(1),
    });
    let fut = async move {
        loop {
            tokio::select! {
                _ = stopped.notified() => break,
                accepted = listener.accept() => {
                    let Ok((stream, _peer)) = accepted else { continue };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req| {
                            let shared = shared.clone();
                            async move { Ok::<_, Infallible>(handle(shared, req).await) }
                        });
                        let _ = http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    };
    (ServerHandle { stop }, fut)
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
    let n = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("req-{t:x}-{n}")
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let rid = request_id(&shared, &req);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let result = dispatch(&shared, req, &rid).await;
    let mut response = match result {
        Ok(r) => to_response(r),
        Err(e) => error_response(&e),
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::info!(
        request_id = %rid,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn dispatch(
    shared: &Shared,
    req: Request<Incoming>,
    rid: &str,
) -> Result<ApiResponse, ApiError> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let is_api = path == "/api" || path.starts_with("/api/");
    let authorized = bearer_matches(req.headers(), &shared.config.operator_token);
    if is_api && !authorized {
        return Err(ApiError::unauthorized());
    }
    let (endpoint, params) = match shared.router.lookup(&method, &path) {
        Lookup::Found(e, p) => (e, p),
        Lookup::MethodNotAllowed(allowed) => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "{method} is not allowed on {path}; use {}",
                    allowed.join(", ")
                ),
            ))
        }
        Lookup::NotFound => {
            return Err(ApiError::not_found(format!("no route for {method} {path}")))
        }
    };
    if endpoint.access == Access::Operator && !authorized {
        return Err(ApiError::unauthorized());
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
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::too_large(limit))
        }
        Err(e) => return Err(ApiError::bad_request(format!("cannot read the body: {e}"))),
    };
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
    match tokio::task::spawn_blocking(move || handler(api_req)).await {
        Ok(r) => r,
        Err(e) => Err(ApiError::internal(format!("handler failed: {e}"))),
    }
}

fn to_response(r: ApiResponse) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(r.body));
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
