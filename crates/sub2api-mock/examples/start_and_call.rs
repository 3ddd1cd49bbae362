//! Embedding `sub2api-mock` in another Rust tool's tests: start a mock host in
//! process, set it up through its admin API (a group, an upstream account, a user
//! and their key), send a chat completion through its gateway to a simulated
//! vendor, then inject a fault and see the host answer with it.
//!
//! Run with `cargo run -p sub2api-mock --example start_and_call`. Only loopback is
//! used: the account's vendor URL is served by the mock's simulated vendors.

use std::time::Duration;

use serde_json::{json, Value};
use sub2api_mock::{Faults, MockConfig, MockHost};

/// Sends one request and returns the status and the JSON body.
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    auth: (&str, &str),
    body: Option<Value>,
) -> (u16, Value) {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header(auth.0, auth.1)
        .header("content-type", "application/json");
    let request = match body {
        Some(body) => request.body(body.to_string()),
        None => request.body(String::new()),
    };
    let mut response = agent
        .run(request.expect("request"))
        .expect("loopback transport");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Runs the example; `pub` so the crate's tests can run it too.
pub fn main() {
    // Port 0: the host picks a free loopback port; dropping `host` stops it.
    let host = MockHost::start(MockConfig::default()).expect("start the mock host");
    let base = host.base_url();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let admin = ("x-api-key", host.admin_api_key());
    let admin_call = |method: &str, path: &str, body: Option<Value>| -> Value {
        let (status, v) = call(
            &agent,
            method,
            &format!("{base}/api/v1/admin{path}"),
            admin,
            body,
        );
        assert_eq!(
            (status, &v["code"]),
            (200, &json!(0)),
            "{method} {path}: {v}"
        );
        v["data"].clone()
    };

    let version = admin_call("GET", "/system/version", None);
    println!("mock host {} at {base}", version["version"]);

    // The host's admin API, with its real envelopes: a group and an upstream account.
    let group = admin_call(
        "POST",
        "/groups",
        Some(json!({"name": "example", "platform": "openai", "rate_multiplier": 1})),
    )["id"]
        .as_i64()
        .expect("group id");
    let account = admin_call(
        "POST",
        "/accounts",
        Some(json!({
            "name": "example-deepseek", "platform": "openai", "type": "apikey",
            "credentials": {"api_key": "sk-example-0123456789abcdef", "base_url": "https://api.deepseek.com/v1"},
            "group_ids": [group]
        })),
    );
    println!("account {} is {}", account["id"], account["status"]);

    // A user of the group, their login and their key: what a gateway caller holds.
    admin_call(
        "POST",
        "/users",
        Some(json!({"email": "dev@example.test", "password": "dev-password", "balance": 5})),
    );
    let (status, login) = call(
        &agent,
        "POST",
        &format!("{base}/api/v1/auth/login"),
        ("accept", "application/json"),
        Some(json!({"email": "dev@example.test", "password": "dev-password"})),
    );
    assert_eq!(status, 200, "{login}");
    let bearer = format!(
        "Bearer {}",
        login["data"]["access_token"].as_str().expect("token")
    );
    let (status, key) = call(
        &agent,
        "POST",
        &format!("{base}/api/v1/keys"),
        ("authorization", &bearer),
        Some(json!({"name": "example", "group_id": group})),
    );
    assert_eq!(status, 200, "{key}");
    let user_key = format!("Bearer {}", key["data"]["key"].as_str().expect("user key"));

    // The gateway routes the call to the account's (simulated) vendor.
    let (status, chat) = call(
        &agent,
        "POST",
        &format!("{base}/v1/chat/completions"),
        ("authorization", &user_key),
        Some(json!({"model": "deepseek-chat", "messages": [{"role": "user", "content": "ping"}]})),
    );
    assert_eq!(status, 200, "{chat}");
    println!(
        "gateway answered: {}",
        chat["choices"][0]["message"]["content"]
    );

    // Fault knobs reproduce the host's awkward behaviours, e.g. a failing admin call.
    host.set_faults(Faults {
        fail_nth_admin_call: Some(1),
        ..Faults::default()
    });
    let (status, _) = call(
        &agent,
        "GET",
        &format!("{base}/api/v1/admin/groups"),
        admin,
        None,
    );
    assert_eq!(status, 500);
    println!("with fail_nth_admin_call = 1 the next admin call answers {status}");

    // The host's whole state, as `GET /__mock/state` shows it, for assertions.
    let state = host.state();
    assert_eq!(state["accounts"].as_array().map(Vec::len), Some(1));
    println!(
        "state holds {} group(s)",
        state["groups"].as_array().map_or(0, Vec::len)
    );
}
