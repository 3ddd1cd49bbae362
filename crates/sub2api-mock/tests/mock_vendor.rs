//! The separate mock vendor: its routes, its switches and its key patterns, and the
//! record of what it received.

use serde_json::{json, Value};
use sub2api_mock::{MockVendor, MockVendorConfig};

use crate::common::{Client, Res};

fn send(c: &Client, method: &str, path: &str, key: &str, body: Option<Value>) -> Res {
    let auth = format!("Bearer {key}");
    c.call(
        method,
        path,
        &[("authorization", auth.as_str())],
        body.as_ref(),
    )
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8})
}

#[test]
fn a_good_key_reaches_every_route() {
    let v = MockVendor::start(MockVendorConfig::default()).unwrap();
    let c = Client::new(&v.origin());
    let r = send(&c, "GET", "/v1/models", "sk-good", None);
    assert_eq!(r.status, 200);
    let ids: Vec<String> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["deepseek-flash", "kimi-k2.6"]);

    let r = send(
        &c,
        "POST",
        "/v1/chat/completions",
        "sk-good",
        Some(chat("kimi-k2.6")),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["choices"][0]["message"]["content"], "pong");

    let mut streamed = chat("kimi-k2.6");
    streamed["stream"] = json!(true);
    let r = send(
        &c,
        "POST",
        "/v1/chat/completions",
        "sk-good",
        Some(streamed),
    );
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/event-stream"));
    assert_eq!(r.sse().len(), 3);

    let mut tools = chat("kimi-k2.6");
    tools["tools"] =
        json!([{"type": "function", "function": {"name": "get_time", "parameters": {}}}]);
    let r = send(&c, "POST", "/v1/chat/completions", "sk-good", Some(tools));
    assert_eq!(
        r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_time"
    );

    let r = send(
        &c,
        "POST",
        "/v1/responses",
        "sk-good",
        Some(json!({"model": "kimi-k2.6", "input": "hi", "max_output_tokens": 16})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["object"], "response");

    let r = c.call(
        "POST",
        "/anthropic/v1/messages",
        &[("x-api-key", "sk-good"), ("anthropic-version", "2023-06-01")],
        Some(&json!({"model": "kimi-k2.6", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["type"], "message");
    // Without anthropic-version the Messages route refuses.
    let r = c.call(
        "POST",
        "/anthropic/v1/messages",
        &[("x-api-key", "sk-good")],
        Some(&json!({"model": "kimi-k2.6", "max_tokens": 8, "messages": []})),
    );
    assert_eq!(r.status, 400);

    let seen = v.requests();
    assert_eq!(v.request_count(), 7);
    assert_eq!(seen[0].path, "/v1/models");
    assert_eq!(seen[0].header("Authorization"), Some("Bearer sk-good"));
    assert_eq!(seen[5].header("x-api-key"), Some("sk-good"));
    assert_eq!(seen[1].body["max_tokens"], 8);
}

#[test]
fn keys_and_switches_change_the_answers() {
    let v = MockVendor::start(MockVendorConfig {
        responses: false,
        anthropic: false,
        stream: false,
        tools: false,
        echo_key: true,
        ..MockVendorConfig::default()
    })
    .unwrap();
    let c = Client::new(&v.origin());
    let r = send(&c, "GET", "/v1/models", "sk-bad-key-1", None);
    assert_eq!(r.status, 401);
    assert!(
        r.text.contains("sk-bad-key-1"),
        "echoes the key: {}",
        r.text
    );
    assert_eq!(send(&c, "GET", "/v1/models", "sk-quota", None).status, 200);
    let r = send(
        &c,
        "POST",
        "/v1/chat/completions",
        "sk-quota",
        Some(chat("kimi-k2.6")),
    );
    assert_eq!(r.status, 402);
    assert_eq!(r.json()["error"]["message"], "Insufficient Balance");
    let r = send(
        &c,
        "POST",
        "/v1/chat/completions",
        "sk-ratelimit",
        Some(chat("kimi-k2.6")),
    );
    assert_eq!(r.status, 429);
    assert_eq!(c.call("GET", "/v1/models", &[], None).status, 401);
    let r = send(
        &c,
        "POST",
        "/v1/chat/completions",
        "sk-good",
        Some(chat("gpt-9")),
    );
    assert_eq!(r.status, 400);
    let r = send(
        &c,
        "POST",
        "/v1/responses",
        "sk-good",
        Some(chat("kimi-k2.6")),
    );
    assert_eq!(r.status, 404);
    let r = send(
        &c,
        "POST",
        "/anthropic/v1/messages",
        "sk-good",
        Some(chat("kimi-k2.6")),
    );
    assert_eq!(r.status, 404);
    let mut streamed = chat("kimi-k2.6");
    streamed["stream"] = json!(true);
    let r = send(
        &c,
        "POST",
        "/v1/chat/completions",
        "sk-good",
        Some(streamed),
    );
    assert!(r.content_type.starts_with("application/json"));
    let mut tools = chat("kimi-k2.6");
    tools["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
    assert_eq!(
        send(&c, "POST", "/v1/chat/completions", "sk-good", Some(tools)).status,
        400
    );
    v.set_config(MockVendorConfig::default());
    assert_eq!(
        send(
            &c,
            "POST",
            "/v1/responses",
            "sk-good",
            Some(json!({"model": "kimi-k2.6", "input": "hi"}))
        )
        .status,
        200
    );
}
