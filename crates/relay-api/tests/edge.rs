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
            operator_token: Secret::new("op-token"),
            body_limit: 1024,
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
    let (status, v) = body(
        a.delete(format!("{}/api/things/1", s.base))
            .header(auth.0, auth.1)
            .call()
            .unwrap(),
    );
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
