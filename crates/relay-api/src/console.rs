//! The web console at `/console/`: its embedded assets, and its sign-in.
//!
//! - **Assets.** `index.html`, `app.js` and `app.css` are compiled into the binary
//!   (`crates/relay-api/console/`, plain files: no build step, no CDN). They are open,
//!   like `/healthz`: they hold no data. Every answer under `/console` (assets, errors,
//!   sign-in) carries [`CONTENT_SECURITY_POLICY`], `Referrer-Policy: no-referrer`,
//!   `X-Frame-Options: DENY`, and the server's `Cache-Control: no-store` and `nosniff`.
//! - **Sign-in.** `POST /console/session` takes the operator token (JSON
//!   `{"token":"…"}` or a form field `token`), compares it in constant time and
//!   counts a failure against the per-address throttle of `/api` (a blocked address
//!   is answered `429` without a comparison). On success the server opens a session:
//!   a random 256-bit id kept in memory for [`SESSION_LIFETIME`], sent as the cookie
//!   [`COOKIE_NAME`] with `HttpOnly; SameSite=Strict; Path=/` and `Secure` when the
//!   request came over HTTPS through a trusted proxy (`X-Forwarded-Proto: https`).
//!   The token is never answered, never put in a URL and never stored by the page.
//!   `GET /console/session` tells the page whether its cookie is signed in;
//!   `DELETE /console/session` closes the session and clears the cookie.
//! - **The API with a session.** `/api/*` accepts the session cookie in place of the
//!   bearer token (`crate::server`); a cookie-authenticated `POST`, `PUT`, `PATCH` or
//!   `DELETE` must also carry [`CSRF_HEADER`]`: 1` (a header a cross-site form cannot
//!   send, and a cross-site script cannot send without a CORS preflight the server
//!   never grants), else `403 console_header_required`.
//!
//! Sessions live in the server process: a restart signs every console out.

use crate::auth::constant_time_eq;
use crate::error::ApiError;
use crate::throttle::AuthThrottle;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{
    HeaderValue, CONTENT_LENGTH, CONTENT_SECURITY_POLICY as CSP, CONTENT_TYPE, COOKIE, HOST,
    LOCATION, ORIGIN, REFERRER_POLICY, SET_COOKIE, X_FRAME_OPTIONS,
};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use relay_domain::Secret;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The console's mount point (`/console` redirects to it).
pub const PREFIX: &str = "/console/";
/// Name of the session cookie.
pub const COOKIE_NAME: &str = "relay_console";
/// How long a session lasts after sign-in (no sliding renewal).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Most sessions kept at once; beyond it the oldest is closed.
pub const MAX_SESSIONS: usize = 1024;
/// The header a cookie-authenticated unsafe request must carry with the value `1`.
pub const CSRF_HEADER: &str = "x-relay-console";
/// Largest sign-in body.
pub const SIGN_IN_BODY_LIMIT: usize = 4096;
/// The policy of every console answer: only the console's own script, style and
/// API; no inline code, no frames, no foreign form targets.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

const INDEX_HTML: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const APP_CSS: &str = include_str!("../console/app.css");

/// The embedded file served at `path`, with its content type.
pub fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/console/" | "/console/index.html" => Some(("text/html; charset=utf-8", INDEX_HTML)),
        "/console/app.js" => Some(("text/javascript; charset=utf-8", APP_JS)),
        "/console/app.css" => Some(("text/css; charset=utf-8", APP_CSS)),
        _ => None,
    }
}

/// True for `/console` and every path under it (served by this module, not by the
/// route table).
pub fn is_console_path(path: &str) -> bool {
    path == "/console" || path.starts_with(PREFIX)
}

/// Adds the console's security headers to an answer.
pub fn add_security_headers(headers: &mut HeaderMap) {
    headers.insert(CSP, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// The console's sessions, in memory.
#[derive(Debug)]
pub struct Sessions {
    lifetime: Duration,
    capacity: usize,
    table: Mutex<HashMap<String, Instant>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(SESSION_LIFETIME, MAX_SESSIONS)
    }
}

impl Sessions {
    /// Sessions lasting `lifetime`, at most `capacity` (at least 1) at once.
    pub fn new(lifetime: Duration, capacity: usize) -> Self {
        Sessions {
            lifetime,
            capacity: capacity.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // A panic while holding this lock cannot leave an entry half-written.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long a session lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Opens a session at `now`: its id (64 hex characters of 256 random bits).
    pub fn open(&self, now: Instant) -> Result<String, ApiError> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| ApiError::internal(format!("no randomness for a session id: {e}")))?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut table = self.table();
        if table.len() >= self.capacity {
            table.retain(|_, until| *until > now);
            if table.len() >= self.capacity {
                if let Some(oldest) = table
                    .iter()
                    .min_by_key(|(_, until)| **until)
                    .map(|(k, _)| k.clone())
                {
                    table.remove(&oldest);
                }
            }
        }
        table.insert(id.clone(), now + self.lifetime);
        Ok(id)
    }

    /// When the session `id` ends, if it is open at `now` (an expired one is dropped).
    pub fn expires(&self, id: &str, now: Instant) -> Option<Instant> {
        if !is_session_id(id) {
            return None;
        }
        let mut table = self.table();
        match table.get(id).copied() {
            Some(until) if until > now => Some(until),
            Some(_) => {
                table.remove(id);
                None
            }
            None => None,
        }
    }

    /// True when the session `id` is open at `now`.
    pub fn is_open(&self, id: &str, now: Instant) -> bool {
        self.expires(id, now).is_some()
    }

    /// Closes the session `id`; true when it was open.
    pub fn close(&self, id: &str) -> bool {
        self.table().remove(id).is_some()
    }

    /// Sessions kept (open or not yet dropped).
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// True when no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn is_session_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The value of the session cookie among the request's `Cookie` headers.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim())
}

/// True for the methods that change something, which a cookie-authenticated request
/// may only use with [`CSRF_HEADER`].
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// True when the request carries [`CSRF_HEADER`]`: 1`.
pub fn has_csrf_header(headers: &HeaderMap) -> bool {
    headers
        .get(CSRF_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1")
}

/// `403 console_header_required`.
pub fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "console_header_required",
        format!(
            "a request signed in with the console cookie that changes something must carry \
             `{CSRF_HEADER}: 1` (or use `Authorization: Bearer <token>`)"
        ),
    )
}

/// What the console's request handler needs of the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub token: &'a Secret,
    pub throttle: &'a AuthThrottle,
    pub sessions: &'a Sessions,
    pub body_timeout: Duration,
    /// The request reached a trusted proxy over HTTPS: the cookie is `Secure`.
    pub https: bool,
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn json_answer(status: StatusCode, value: &serde_json::Value) -> Answer {
    answer(
        status,
        "application/json",
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

fn method_not_allowed(method: &Method, path: &str, allowed: &str) -> ApiError {
    let shown = if method.as_str().len() <= 16 {
        method.as_str()
    } else {
        "this method"
    };
    let mut e = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{shown} is not allowed on {}; use {allowed}",
            crate::server::shown_path(path)
        ),
    );
    e.allow = Some(allowed.to_string());
    e
}

/// Serves a request under `/console` (see the module documentation). `body_read` is
/// set once the request body has been read.
pub(crate) async fn serve(
    ctx: Context<'_>,
    req: Request<Incoming>,
    client: IpAddr,
    body_read: &mut bool,
) -> Result<Answer, ApiError> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let has_body = !req.body().is_end_stream();
    if path == "/console/session" {
        return match method {
            Method::POST => sign_in(ctx, req, client, body_read).await,
            Method::GET | Method::HEAD if !has_body => Ok(session_state(ctx, req.headers())),
            Method::DELETE if !has_body => sign_out(ctx, req.headers()),
            Method::GET | Method::HEAD | Method::DELETE => Err(ApiError::body_not_allowed()),
            _ => Err(method_not_allowed(&method, &path, "GET, POST, DELETE")),
        };
    }
    if !matches!(method, Method::GET | Method::HEAD) {
        if path != "/console" && asset(&path).is_none() {
            return Err(not_found(&method, &path));
        }
        return Err(method_not_allowed(&method, &path, "GET, HEAD"));
    }
    if has_body {
        return Err(ApiError::body_not_allowed());
    }
    if path == "/console" {
        let mut resp = answer(StatusCode::PERMANENT_REDIRECT, "text/plain", "/console/");
        resp.headers_mut()
            .insert(LOCATION, HeaderValue::from_static(PREFIX));
        return Ok(resp);
    }
    match asset(&path) {
        Some((content_type, text)) => Ok(answer(StatusCode::OK, content_type, text)),
        None => Err(not_found(&method, &path)),
    }
}

fn not_found(method: &Method, path: &str) -> ApiError {
    let shown = if method.as_str().len() <= 16 {
        method.as_str()
    } else {
        "this method"
    };
    ApiError::not_found(format!(
        "no route for {shown} {}",
        crate::server::shown_path(path)
    ))
}

/// Refuses a sign-in or sign-out sent from another site: a browser names the page's
/// origin in `Origin` and `Sec-Fetch-Site`; a request without them (a script, `curl`)
/// passes.
fn check_same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let refused = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            "the console's sign-in accepts requests from its own pages only",
        )
    };
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return Err(refused());
    }
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers.get(HOST).and_then(|v| v.to_str().ok());
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        if authority.is_none() || authority != host {
            return Err(refused());
        }
    }
    Ok(())
}

fn unix_ms_after(d: Duration) -> i64 {
    SystemTime::now()
        .checked_add(d)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn session_cookie_header(id: &str, max_age: Duration, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        max_age.as_secs()
    ))
    .ok()
}

/// `{"signed_in": …, "expires_at": …}` for the request's cookie.
fn session_state(ctx: Context<'_>, headers: &HeaderMap) -> Answer {
    let now = Instant::now();
    let until = session_cookie(headers).and_then(|id| ctx.sessions.expires(id, now));
    match until {
        Some(until) => json_answer(
            StatusCode::OK,
            &serde_json::json!({
                "signed_in": true,
                "expires_at": unix_ms_after(until.saturating_duration_since(now)),
            }),
        ),
        None => json_answer(
            StatusCode::OK,
            &serde_json::json!({"signed_in": false, "expires_at": null}),
        ),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

/// The token of a sign-in body: JSON `{"token":"…"}` or a form `token=…`.
fn token_of(headers: &HeaderMap, body: &[u8]) -> Result<(Secret, bool), ApiError> {
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if form {
        let text = std::str::from_utf8(body).map_err(|_| {
            ApiError::bad_request("the sign-in form is not UTF-8 (send `token=<operator token>`)")
        })?;
        let mut fields = crate::server::parse_query(text);
        return match fields.remove("token") {
            Some(t) => Ok((Secret::new(t), true)),
            None => Err(ApiError::bad_request(
                "the sign-in form has no `token` field",
            )),
        };
    }
    let parsed: SignIn = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid sign-in body: {} (send {{\"token\": \"<operator token>\"}})",
            crate::json_error::describe(body, &e)
        ))
    })?;
    Ok((Secret::new(parsed.token), false))
}

async fn sign_in(
    ctx: Context<'_>,
    req: Request<Incoming>,
    client: IpAddr,
    body_read: &mut bool,
) -> Result<Answer, ApiError> {
    check_same_origin(req.headers())?;
    let now = Instant::now();
    if let Err(wait) = ctx.throttle.check(client, now) {
        return Err(ApiError::rate_limited(wait));
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > SIGN_IN_BODY_LIMIT as u64) {
        return Err(ApiError::too_large(SIGN_IN_BODY_LIMIT));
    }
    let headers = req.headers().clone();
    let collected = tokio::time::timeout(
        ctx.body_timeout,
        Limited::new(req.into_body(), SIGN_IN_BODY_LIMIT).collect(),
    )
    .await;
    let body = match collected {
        Err(_) => return Err(ApiError::request_timeout(ctx.body_timeout)),
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::too_large(SIGN_IN_BODY_LIMIT))
        }
        Ok(Err(e)) => return Err(ApiError::bad_request(format!("cannot read the body: {e}"))),
    };
    *body_read = true;
    let (token, from_form) = token_of(&headers, &body)?;
    let expected = ctx.token;
    let matches = !expected.is_empty()
        && constant_time_eq(
            token.expose().trim().as_bytes(),
            expected.expose().as_bytes(),
        );
    if !matches {
        if let Some(lockout) = ctx.throttle.record_failure(client, now) {
            tracing::warn!(
                client = %client,
                lockout_secs = lockout.as_secs(),
                "too many failed operator-token checks: the address is answered 429 for a while"
            );
        }
        return Err(ApiError::unauthorized());
    }
    ctx.throttle.record_success(client);
    let id = ctx.sessions.open(now)?;
    let lifetime = ctx.sessions.lifetime();
    tracing::info!(client = %client, "console session opened");
    let mut resp = if from_form {
        // A plain form post (no script): back to the console, signed in.
        let mut r = answer(StatusCode::SEE_OTHER, "text/plain", "/console/");
        r.headers_mut()
            .insert(LOCATION, HeaderValue::from_static(PREFIX));
        r
    } else {
        json_answer(
            StatusCode::OK,
            &serde_json::json!({"signed_in": true, "expires_at": unix_ms_after(lifetime)}),
        )
    };
    let cookie = session_cookie_header(&id, lifetime, ctx.https)
        .ok_or_else(|| ApiError::internal("cannot build the session cookie"))?;
    resp.headers_mut().insert(SET_COOKIE, cookie);
    Ok(resp)
}

fn sign_out(ctx: Context<'_>, headers: &HeaderMap) -> Result<Answer, ApiError> {
    check_same_origin(headers)?;
    if let Some(id) = session_cookie(headers) {
        if ctx.sessions.is_open(id, Instant::now()) && !has_csrf_header(headers) {
            return Err(csrf_refused());
        }
        if ctx.sessions.close(id) {
            tracing::info!("console session closed");
        }
    }
    let mut resp = json_answer(
        StatusCode::OK,
        &serde_json::json!({"signed_in": false, "expires_at": null}),
    );
    let cleared = session_cookie_header("", Duration::ZERO, ctx.https)
        .ok_or_else(|| ApiError::internal("cannot build the session cookie"))?;
    resp.headers_mut().insert(SET_COOKIE, cleared);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_expire_and_close() {
        let s = Sessions::new(Duration::from_secs(60), 8);
        let now = Instant::now();
        let id = s.open(now).unwrap();
        assert_eq!(id.len(), 64);
        assert!(is_session_id(&id));
        assert!(s.is_open(&id, now + Duration::from_secs(59)));
        assert!(!s.is_open(&id, now + Duration::from_secs(60)));
        // Expired sessions are dropped when looked up.
        assert!(s.is_empty());
        let id = s.open(now).unwrap();
        assert!(s.close(&id));
        assert!(!s.is_open(&id, now));
        assert!(!s.close(&id));
        assert!(!s.is_open("not-a-session", now));
    }

    #[test]
    fn session_ids_are_random_and_the_table_is_bounded() {
        let s = Sessions::new(Duration::from_secs(60), 4);
        let now = Instant::now();
        let ids: Vec<String> = (0..10)
            .map(|i| s.open(now + Duration::from_millis(i)).unwrap())
            .collect();
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), 10);
        assert_eq!(s.len(), 4);
        // The newest sessions are kept, the oldest closed.
        assert!(s.is_open(&ids[9], now));
        assert!(!s.is_open(&ids[0], now));
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut h = HeaderMap::new();
        assert_eq!(session_cookie(&h), None);
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; relay_console=abc ; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("x=1"));
        h.append(COOKIE, HeaderValue::from_static("relay_console=def"));
        assert_eq!(session_cookie(&h), Some("def"));
    }

    #[test]
    fn the_cookie_has_its_flags() {
        let v = session_cookie_header("ab", Duration::from_secs(43_200), false).unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "relay_console=ab; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"
        );
        let v = session_cookie_header("ab", Duration::from_secs(1), true).unwrap();
        assert!(v.to_str().unwrap().ends_with("; Max-Age=1; Secure"));
    }

    #[test]
    fn sign_in_bodies_are_json_or_form() {
        let mut h = HeaderMap::new();
        let (t, form) = token_of(&h, br#"{"token":"abc"}"#).unwrap();
        assert_eq!((t.expose(), form), ("abc", false));
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let (t, form) = token_of(&h, b"token=a%2Bb+c").unwrap();
        assert_eq!((t.expose(), form), ("a+b c", true));
        assert!(token_of(&h, b"other=1").is_err());
        // A refused body does not repeat the submitted value.
        let e = token_of(&HeaderMap::new(), br#"{"token": 12345678, "x": 1}"#).unwrap_err();
        assert!(!e.message.contains("12345678"), "{}", e.message);
    }

    #[test]
    fn cross_site_sign_ins_are_refused() {
        let mut h = HeaderMap::new();
        assert!(check_same_origin(&h).is_ok());
        h.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(check_same_origin(&h).is_ok());
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(check_same_origin(&h).is_err());
        h.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(check_same_origin(&h).is_err());
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check_same_origin(&h).is_err());
    }

    #[test]
    fn assets_are_embedded_with_their_types() {
        let (t, html) = asset("/console/").unwrap();
        assert!(t.starts_with("text/html"));
        assert!(html.contains("app.js") && html.contains("app.css"));
        // No inline script or style: the policy forbids them.
        assert!(!html.contains("<script>") && !html.contains("style="));
        assert!(!html.contains("<style"));
        assert!(asset("/console/app.js")
            .unwrap()
            .0
            .starts_with("text/javascript"));
        assert!(asset("/console/app.css").unwrap().0.starts_with("text/css"));
        assert!(asset("/console/other.js").is_none());
        // The page never keeps the token in web storage, and never writes server text as HTML.
        let js = asset("/console/app.js").unwrap().1;
        assert!(!js.contains("localStorage") && !js.contains("sessionStorage"));
        assert!(!js.contains("innerHTML") && !js.contains("outerHTML"));
        assert!(!js.contains("insertAdjacentHTML") && !js.contains("document.write"));
    }
}
