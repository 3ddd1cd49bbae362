//! The web console over real loopback HTTP: its assets and their security headers,
//! the sign-in with the operator token, the session cookie on `/api`, its CSRF
//! header, the throttle of failed sign-ins and the sign-out.

use hyper::{Method, StatusCode};
use relay_api::console::{CONTENT_SECURITY_POLICY, COOKIE_NAME, CSRF_HEADER};
use relay_api::{serve, Access, ApiResponse, Limits, Router, ServerConfig};
use relay_domain::Secret;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;

const TOKEN: &str = "console-operator-token-0123456789abcdef";

struct Running {
    base: String,
    _rt: tokio::runtime::Runtime,
}

fn start_with(auth_failures: u32, trusted_proxies: Vec<IpAddr>) -> Running {
    let mut router = Router::new();
    router.route(
        Method::GET,
        "/api/things/{id}",
        Access::Operator,
        None,
        |r| ApiResponse::ok(&json!({"id": r.param("id")?})),
    );
    router.route(Method::POST, "/api/things", Access::Operator, None, |r| {
        let v: Value = r.json()?;
        ApiResponse::json(StatusCode::CREATED, &v)
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (_handle, fut) = serve(
        listener,
        router,
        ServerConfig {
            limits: Limits {
                auth_failures,
                auth_lockout: Duration::from_secs(120),
                ..Limits::default()
            },
            trusted_proxies,
            ..ServerConfig::new(Secret::new(TOKEN))
        },
    );
    rt.spawn(fut);
    Running {
        base: format!("http://{addr}"),
        _rt: rt,
    }
}

fn start() -> Running {
    start_with(10, Vec::new())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// One answer: status, headers (lowercase names) and body text.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The session id of a `Set-Cookie` answer.
    fn session(&self) -> String {
        let cookie = self.header("set-cookie").expect("a Set-Cookie header");
        let value = cookie
            .split(';')
            .next()
            .unwrap()
            .strip_prefix(&format!("{COOKIE_NAME}="))
            .expect("the session cookie");
        value.to_string()
    }
}

fn read(resp: ureq::http::Response<ureq::Body>) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let text = resp.into_body().read_to_string().unwrap();
    Answer {
        status,
        headers,
        text,
    }
}

fn get(s: &Running, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = agent().get(format!("{}{path}", s.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read(req.call().unwrap())
}

fn post(s: &Running, path: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = agent()
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read(req.send(body).unwrap())
}

fn delete(s: &Running, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = agent().delete(format!("{}{path}", s.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read(req.call().unwrap())
}

fn sign_in(s: &Running) -> Answer {
    post(
        s,
        "/console/session",
        &json!({"token": TOKEN}).to_string(),
        &[],
    )
}

fn assert_console_headers(a: &Answer, what: &str) {
    assert_eq!(
        a.header("content-security-policy"),
        Some(CONTENT_SECURITY_POLICY),
        "{what}"
    );
    assert_eq!(
        a.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(a.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(a.header("cache-control"), Some("no-store"), "{what}");
    assert_eq!(a.header("x-frame-options"), Some("DENY"), "{what}");
}

#[test]
fn assets_are_served_with_their_types_and_a_strict_policy() {
    let s = start();
    for (path, content_type, marker) in [
        ("/console/", "text/html; charset=utf-8", "<!doctype html>"),
        ("/console/index.html", "text/html; charset=utf-8", "app.js"),
        (
            "/console/app.js",
            "text/javascript; charset=utf-8",
            "'use strict'",
        ),
        ("/console/app.css", "text/css; charset=utf-8", ".badge"),
    ] {
        let a = get(&s, path, &[]);
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.header("content-type"), Some(content_type), "{path}");
        assert!(a.text.contains(marker), "{path}");
        assert_console_headers(&a, path);
    }
    // The policy allows the console's own files only: no inline code, no frames.
    assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
    assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));

    let a = get(&s, "/console", &[]);
    assert_eq!(a.status, 308);
    assert_eq!(a.header("location"), Some("/console/"));
    assert_console_headers(&a, "/console");

    // Errors under /console carry the same headers.
    let a = get(&s, "/console/missing.js", &[]);
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["code"], "not_found");
    assert_console_headers(&a, "404");
    let a = post(&s, "/console/app.js", "{}", &[]);
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow"), Some("GET, HEAD"));
    assert_console_headers(&a, "405");
    // The assets need no session; the API still does.
    assert_eq!(get(&s, "/api/things/1", &[]).status, 401);
}

#[test]
fn signing_in_sets_a_strict_session_cookie_and_never_answers_the_token() {
    let s = start();
    let state = get(&s, "/console/session", &[]);
    assert_eq!(state.status, 200);
    assert_eq!(state.json()["signed_in"], false);

    let a = sign_in(&s);
    assert_eq!(a.status, 200, "{}", a.text);
    assert_console_headers(&a, "sign-in");
    let cookie = a.header("set-cookie").unwrap().to_string();
    assert!(cookie.starts_with(&format!("{COOKIE_NAME}=")), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.split("; ").any(|f| f == flag), "{flag} in {cookie}");
    }
    // Plain HTTP straight to the server: not `Secure` (the browser would drop it).
    assert!(!cookie.contains("Secure"), "{cookie}");
    let id = a.session();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a.json()["signed_in"], true);
    assert!(a.json()["expires_at"].as_i64().unwrap() > 0);

    // A second sign-in opens another session.
    assert_ne!(sign_in(&s).session(), id);

    let with_cookie = format!("{COOKIE_NAME}={id}");
    let state = get(&s, "/console/session", &[("cookie", &with_cookie)]);
    assert_eq!(state.json()["signed_in"], true);

    // No answer of the whole exchange repeats the token.
    let answers = [
        a,
        state,
        get(&s, "/console/", &[("cookie", &with_cookie)]),
        get(&s, "/console/app.js", &[]),
        post(
            &s,
            "/console/session",
            &json!({"token": format!("{TOKEN}-wrong")}).to_string(),
            &[],
        ),
        post(&s, "/console/session", r#"{"token": 1234}"#, &[]),
        post(
            &s,
            "/console/session",
            &format!(r#"{{"token": "{TOKEN}", "extra": "{TOKEN}"}}"#),
            &[],
        ),
        get(&s, "/api/things/1", &[("cookie", &with_cookie)]),
    ];
    for answer in &answers {
        assert!(!answer.text.contains(TOKEN), "{}", answer.text);
        assert!(
            answer.headers.iter().all(|(_, v)| !v.contains(TOKEN)),
            "{:?}",
            answer.headers
        );
    }
}

#[test]
fn the_session_cookie_authorizes_the_api_and_unsafe_methods_need_the_console_header() {
    let s = start();
    let id = sign_in(&s).session();
    let cookie = format!("{COOKIE_NAME}={id}");

    let a = get(&s, "/api/things/7", &[("cookie", &cookie)]);
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json(), json!({"id": "7"}));

    // A cookie alone cannot change anything (a cross-site form could send it).
    let a = post(&s, "/api/things", r#"{"n":1}"#, &[("cookie", &cookie)]);
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.json()["error"]["code"], "console_header_required");
    let a = post(
        &s,
        "/api/things",
        r#"{"n":1}"#,
        &[("cookie", &cookie), (CSRF_HEADER, "yes")],
    );
    assert_eq!(a.status, 403);
    let a = post(
        &s,
        "/api/things",
        r#"{"n":1}"#,
        &[("cookie", &cookie), (CSRF_HEADER, "1")],
    );
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json(), json!({"n": 1}));

    // The bearer token still works alone, with no console header.
    let bearer = format!("Bearer {TOKEN}");
    let a = post(
        &s,
        "/api/things",
        r#"{"n":2}"#,
        &[("authorization", &bearer)],
    );
    assert_eq!(a.status, 201);

    // An unknown or malformed session id is no session.
    let forged = format!("{COOKIE_NAME}={}", "0".repeat(64));
    assert_eq!(get(&s, "/api/things/7", &[("cookie", &forged)]).status, 401);
    let junk = format!("{COOKIE_NAME}=../../etc");
    assert_eq!(get(&s, "/api/things/7", &[("cookie", &junk)]).status, 401);
}

#[test]
fn signing_out_ends_the_session() {
    let s = start();
    let id = sign_in(&s).session();
    let cookie = format!("{COOKIE_NAME}={id}");
    assert_eq!(get(&s, "/api/things/1", &[("cookie", &cookie)]).status, 200);

    // Sign-out changes something: it needs the console header too.
    let a = delete(&s, "/console/session", &[("cookie", &cookie)]);
    assert_eq!(a.status, 403);
    assert_eq!(get(&s, "/api/things/1", &[("cookie", &cookie)]).status, 200);

    let a = delete(
        &s,
        "/console/session",
        &[("cookie", &cookie), (CSRF_HEADER, "1")],
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert_console_headers(&a, "sign-out");
    let cleared = a.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with(&format!("{COOKIE_NAME}=;")),
        "{cleared}"
    );
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    assert_eq!(get(&s, "/api/things/1", &[("cookie", &cookie)]).status, 401);
    let state = get(&s, "/console/session", &[("cookie", &cookie)]);
    assert_eq!(state.json()["signed_in"], false);
}

#[test]
fn failed_sign_ins_count_against_the_token_throttle() {
    let s = start_with(3, Vec::new());
    for _ in 0..2 {
        let a = post(&s, "/console/session", r#"{"token":"not-the-token"}"#, &[]);
        assert_eq!(a.status, 401);
        assert_eq!(a.json()["error"]["code"], "unauthorized");
        assert!(a.header("set-cookie").is_none());
    }
    // A wrong bearer token on /api is the same count.
    let a = get(&s, "/api/things/1", &[("authorization", "Bearer nope")]);
    assert_eq!(a.status, 401);
    // Blocked now: even the right token is not compared.
    let a = sign_in(&s);
    assert_eq!(a.status, 429, "{}", a.text);
    assert_eq!(a.json()["error"]["code"], "rate_limited");
    assert!(a.header("retry-after").is_some());
    assert!(a.header("set-cookie").is_none());
    assert_console_headers(&a, "429");
}

#[test]
fn a_form_sign_in_returns_to_the_console() {
    let s = start();
    let a = read(
        agent()
            .post(format!("{}/console/session", s.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .send(format!("token={TOKEN}"))
            .unwrap(),
    );
    assert_eq!(a.status, 303, "{}", a.text);
    assert_eq!(a.header("location"), Some("/console/"));
    let cookie = format!("{COOKIE_NAME}={}", a.session());
    assert_eq!(get(&s, "/api/things/1", &[("cookie", &cookie)]).status, 200);
}

#[test]
fn a_sign_in_from_another_site_is_refused() {
    let s = start();
    let a = post(
        &s,
        "/console/session",
        &json!({"token": TOKEN}).to_string(),
        &[("origin", "https://evil.example")],
    );
    assert_eq!(a.status, 403);
    assert_eq!(a.json()["error"]["code"], "cross_site_request");
    assert!(a.header("set-cookie").is_none());
    let a = post(
        &s,
        "/console/session",
        &json!({"token": TOKEN}).to_string(),
        &[("sec-fetch-site", "cross-site")],
    );
    assert_eq!(a.status, 403);
    // The console's own page names its own origin.
    let host = s.base.strip_prefix("http://").unwrap().to_string();
    let a = post(
        &s,
        "/console/session",
        &json!({"token": TOKEN}).to_string(),
        &[("origin", &s.base), ("sec-fetch-site", "same-origin")],
    );
    assert_eq!(a.status, 200, "{} (host {host})", a.text);
}

#[test]
fn the_cookie_is_secure_behind_a_trusted_https_proxy() {
    let s = start_with(10, vec!["127.0.0.1".parse().unwrap()]);
    let a = post(
        &s,
        "/console/session",
        &json!({"token": TOKEN}).to_string(),
        &[("x-forwarded-proto", "https")],
    );
    assert_eq!(a.status, 200);
    let cookie = a.header("set-cookie").unwrap();
    assert!(cookie.split("; ").any(|f| f == "Secure"), "{cookie}");
    // An untrusted peer cannot claim HTTPS.
    let s = start();
    let a = post(
        &s,
        "/console/session",
        &json!({"token": TOKEN}).to_string(),
        &[("x-forwarded-proto", "https")],
    );
    assert!(!a.header("set-cookie").unwrap().contains("Secure"));
}
