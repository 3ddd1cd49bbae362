//! The HTTP edge over real loopback HTTP: auth, limits, JSON errors, routing.

use hyper::{Method, StatusCode};
use relay_api::{serve, Access, ApiError, ApiResponse, Router, ServerConfig};
use relay_domain::Secret;
use serde_json::{json, Value};

struct Running {
    base: String,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Running {
    let mut router = Router::new();
    router.route(Method::GET, "/healthz", Access::Public, None, |_| {
        ApiResponse::ok(&json!({"status": "ok"}))
    });
    router.route(
        Method::GET,
        "/api/things/{id}",
        Access::Operator,
        None,
        |r| {
            let id = r.param("id")?.to_string();
            if id == "missing" {
                return Err(ApiError::not_found("thing missing does not exist"));
            }
            ApiResponse::ok(&json!({"id": id, "filter": r.query("host_id")}))
        },
    );
    router.route(
        Method::POST,
        "/api/things",
        Access::Operator,
        Some(64),
        |r| {
            let v: Value = r.json()?;
            ApiResponse::json(StatusCode::CREATED, &v)
        },
    );
    router.route(Method::POST, "/api/typed", Access::Operator, None, |r| {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Typed {
            host_id: String,
            keys: Vec<String>,
        }
        let t: Typed = r.json()?;
        ApiResponse::ok(&json!({"host_id": t.host_id, "keys": t.keys.len()}))
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
            body_limit: 1024,
            ..ServerConfig::new(Secret::new("op-token"))
        },
    );
    rt.spawn(fut);
    Running {
        base: format!("http://{addr}"),
        _rt: rt,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn body(resp: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn public_routes_need_no_token() {
    let s = start();
    let (status, v) = body(agent().get(format!("{}/healthz", s.base)).call().unwrap());
    assert_eq!(status, 200);
    assert_eq!(v, json!({"status": "ok"}));
}

#[test]
fn api_routes_require_the_operator_token() {
    let s = start();
    let a = agent();
    let (status, v) = body(a.get(format!("{}/api/things/1", s.base)).call().unwrap());
    assert_eq!(status, 401);
    assert_eq!(v["error"]["code"], "unauthorized");
    let (status, _) = body(
        a.get(format!("{}/api/things/1", s.base))
            .header("Authorization", "Bearer wrong")
            .call()
            .unwrap(),
    );
    assert_eq!(status, 401);
    // Unknown /api routes do not reveal themselves without a token.
    let (status, _) = body(a.get(format!("{}/api/nope", s.base)).call().unwrap());
    assert_eq!(status, 401);
    let resp = a
        .get(format!("{}/api/things/7?host_id=h%201", s.base))
        .header("Authorization", "Bearer op-token")
        .header("x-request-id", "abc-123")
        .call()
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    let (status, v) = body(resp);
    assert_eq!(status, 200);
    assert_eq!(v, json!({"id": "7", "filter": "h 1"}));
}

#[test]
fn errors_are_json_with_code_and_message() {
    let s = start();
    let a = agent();
    let auth = ("Authorization", "Bearer op-token");
    let (status, v) = body(
        a.get(format!("{}/api/things/missing", s.base))
            .header(auth.0, auth.1)
            .call()
            .unwrap(),
    );
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "not_found");
    assert_eq!(v["error"]["message"], "thing missing does not exist");
    let resp = a
        .delete(format!("{}/api/things/1", s.base))
        .header(auth.0, auth.1)
        .call()
        .unwrap();
    // RFC 9110: a 405 names the methods the resource has.
    assert_eq!(resp.headers()["allow"], "GET");
    let (status, v) = body(resp);
    assert_eq!(status, 405);
    assert_eq!(v["error"]["code"], "method_not_allowed");
    let (status, v) = body(
        a.get(format!("{}/api/unknown", s.base))
            .header(auth.0, auth.1)
            .call()
            .unwrap(),
    );
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "not_found");
    let (status, v) = body(
        a.post(format!("{}/api/things", s.base))
            .header(auth.0, auth.1)
            .send("{not json")
            .unwrap(),
    );
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "invalid_request");
}

#[test]
fn oversized_bodies_answer_413() {
    let s = start();
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(200));
    let (status, v) = body(
        agent()
            .post(format!("{}/api/things", s.base))
            .header("Authorization", "Bearer op-token")
            .send(big.as_str())
            .unwrap(),
    );
    assert_eq!(status, 413);
    assert_eq!(v["error"]["code"], "request_too_large");
    let (status, v) = body(
        agent()
            .post(format!("{}/api/things", s.base))
            .header("Authorization", "Bearer op-token")
            .send("{\"x\":1}")
            .unwrap(),
    );
    assert_eq!(status, 201);
    assert_eq!(v, json!({"x": 1}));
}

/// The headers every answer carries, whatever its status.
fn assert_safe_headers(resp: &ureq::http::Response<ureq::Body>, what: &str) {
    let h = resp.headers();
    assert_eq!(
        h.get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{what}: {h:?}"
    );
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.to_str().unwrap()),
        Some("nosniff"),
        "{what}: {h:?}"
    );
    assert!(h.get("x-request-id").is_some(), "{what}: {h:?}");
}

#[test]
fn every_answer_is_marked_no_store_and_nosniff() {
    let s = start();
    let a = agent();
    let auth = ("Authorization", "Bearer op-token");
    let cases: Vec<(&str, u16, ureq::http::Response<ureq::Body>)> = vec![
        (
            "healthz",
            200,
            a.get(format!("{}/healthz", s.base)).call().unwrap(),
        ),
        (
            "operator 200",
            200,
            a.get(format!("{}/api/things/1", s.base))
                .header(auth.0, auth.1)
                .call()
                .unwrap(),
        ),
        (
            "401",
            401,
            a.get(format!("{}/api/things/1", s.base)).call().unwrap(),
        ),
        (
            "404",
            404,
            a.get(format!("{}/nowhere", s.base)).call().unwrap(),
        ),
        (
            "405",
            405,
            a.delete(format!("{}/api/things/1", s.base))
                .header(auth.0, auth.1)
                .call()
                .unwrap(),
        ),
        (
            "413",
            413,
            a.post(format!("{}/api/things", s.base))
                .header(auth.0, auth.1)
                .send("x".repeat(100).as_str())
                .unwrap(),
        ),
        (
            "400",
            400,
            a.post(format!("{}/api/typed", s.base))
                .header(auth.0, auth.1)
                .send("{")
                .unwrap(),
        ),
    ];
    for (what, status, resp) in &cases {
        assert_eq!(resp.status().as_u16(), *status, "{what}");
        assert_safe_headers(resp, what);
    }
}

#[test]
fn not_found_repeats_only_a_short_plain_path() {
    let s = start();
    let a = agent();
    let (status, v) = body(a.get(format!("{}/no/such-route", s.base)).call().unwrap());
    assert_eq!(status, 404);
    assert_eq!(v["error"]["message"], "no route for GET /no/such-route");
    let (status, v) = body(
        a.get(format!("{}/x%3Cscript%3Ealert(1)%3C/script%3E", s.base))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 404);
    let m = v["error"]["message"].as_str().unwrap();
    assert!(!m.contains("script") && !m.contains('%'), "{m}");
    assert!(m.starts_with("no route for GET this path ("), "{m}");
    let long = format!("/{}", "a".repeat(500));
    let (status, v) = body(a.get(format!("{}{long}", s.base)).call().unwrap());
    assert_eq!(status, 404);
    let m = v["error"]["message"].as_str().unwrap();
    assert!(!m.contains("aaaaaaaaaa") && m.contains("501 bytes"), "{m}");
}

#[test]
fn json_errors_never_repeat_the_submitted_value() {
    let s = start();
    let a = agent();
    let secret = "sk-SECRETKEYVALUE0123456789abcdef";
    let post = |body: String| {
        let resp = a
            .post(format!("{}/api/typed", s.base))
            .header("Authorization", "Bearer op-token")
            .send(body.as_str())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.into_body().read_to_string().unwrap();
        (status, text)
    };
    for (sent, expect) in [
        (
            format!(r#"{{"host_id":"main","keys":"{secret}"}}"#),
            "`keys`: expected an array, found a string",
        ),
        (
            format!(r#"{{"host_id":"main","keys":{{"k":"{secret}"}}}}"#),
            "`keys`: expected an array, found an object",
        ),
        (
            r#"{"host_id":"main","keys":[98765432109876543210]}"#.to_string(),
            "`keys[0]`: expected a string, found",
        ),
        (
            format!(r#"{{"host_id":"main","keys":[],"{secret}":1}}"#),
            "an unknown field (its name is not repeated)",
        ),
        (
            format!(r#"{{"host_id":["{secret}"],"keys":[]}}"#),
            "`host_id`: expected a string, found an array",
        ),
    ] {
        let (status, text) = post(sent.clone());
        assert_eq!(status, 400, "{sent}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "invalid_request");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(expect), "{sent}: {m}");
        assert!(
            !text.contains("SECRETKEY") && !text.contains("0123456789") && !text.contains("98765"),
            "{sent} was echoed: {text}"
        );
    }
    let (status, text) = post(r#"{"host_id":"main","keys":["a"]}"#.to_string());
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"host_id":"main","keys":1}"#)
    );
}

#[test]
fn the_real_routes_never_repeat_keys_in_body_errors() {
    use relay_api::{router, RouterOptions};
    use relay_app::{App, AppConfig};
    use relay_store::Store;
    use std::sync::Arc;

    let app = Arc::new(App::new(
        Store::open_in_memory().unwrap(),
        AppConfig::default(),
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_handle, fut) = serve(
        listener,
        router(app, RouterOptions::default()),
        ServerConfig::new(Secret::new("op-token")),
    );
    rt.spawn(fut);

    let secret = "sk-SECRETKEYVALUE0123456789abcdef";
    let admin = "admin-0123456789abcdef0123456789abcdef";
    for (path, sent) in [
        (
            "/api/providers/deepseek/preview-import",
            format!(r#"{{"host_id":"main","keys":"{secret}"}}"#),
        ),
        (
            "/api/providers/deepseek/import",
            format!(r#"{{"host_id":"main","keys":[{{"key":"{secret}"}}]}}"#),
        ),
        (
            "/api/import-batches/batch_x/resume",
            format!(r#"{{"keys":"{secret}"}}"#),
        ),
        (
            "/api/providers/deepseek/diagnose",
            format!(r#"{{"host_id":"main","key":["{secret}"]}}"#),
        ),
        (
            "/api/providers/deepseek/doctor",
            format!(r#"{{"host_id":"main","probe_key":{{"k":"{secret}"}}}}"#),
        ),
        (
            "/api/hosts",
            r#"{"name":"m","base_url":"https://h.example","auth":{"kind":"api_key","api_key":1234567890123456}}"#
                .to_string(),
        ),
        (
            "/api/hosts",
            format!(
                r#"{{"name":"m","base_url":"https://h.example","auth":{{"kind":"api_key","api_key":{{"v":"{admin}"}}}}}}"#
            ),
        ),
        (
            "/api/hosts",
            format!(r#"{{"name":"m","base_url":"https://h.example","auth":{{"kind":"{admin}"}}}}"#),
        ),
    ] {
        let resp = agent()
            .post(format!("{base}{path}"))
            .header("Authorization", "Bearer op-token")
            .send(sent.as_str())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.into_body().read_to_string().unwrap();
        assert_eq!(status, 400, "{path} {sent}: {text}");
        assert!(text.contains("invalid_request"), "{text}");
        for leak in ["SECRETKEY", "0123456789", "1234567890"] {
            assert!(!text.contains(leak), "{path} {sent}: echoed in {text}");
        }
    }
}
