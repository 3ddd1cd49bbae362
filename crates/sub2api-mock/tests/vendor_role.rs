//! The vendor-only role: the simulated vendors alone on a port, as an upstream for a
//! real host's accounts (the host joins base URLs with or without `/v1`).

use crate::common::Client;
use serde_json::json;
use sub2api_mock::MockHost;

fn vendor() -> (MockHost, Client) {
    let v = MockHost::start_vendor_on("127.0.0.1:0".parse().unwrap()).unwrap();
    let c = Client::new(&v.base_url());
    (v, c)
}

/// `method path` with `Authorization: Bearer key` (no header when `key` is empty).
fn send(
    c: &Client,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    key: &str,
) -> crate::common::Res {
    let auth = format!("Bearer {key}");
    let headers: Vec<(&str, &str)> = if key.is_empty() {
        Vec::new()
    } else {
        vec![("authorization", auth.as_str())]
    };
    c.call(method, path, &headers, body.as_ref())
}

#[test]
fn a_good_key_gets_a_completion_json_and_streamed_on_both_paths() {
    let (_v, c) = vendor();
    for path in ["/v1/chat/completions", "/chat/completions"] {
        let r = send(
            &c,
            "POST",
            path,
            Some(
                json!({"model": "deepseek-flash", "messages": [{"role": "user", "content": "hi"}]}),
            ),
            "sk-vendor-good-0001",
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let body = r.json();
        assert_eq!(body["choices"][0]["message"]["content"], "pong");
        assert_eq!(body["model"], "deepseek-flash");
    }
    let r = send(
        &c,
        "POST",
        "/v1/chat/completions",
        Some(json!({"model": "kimi-k2.6", "stream": true, "messages": []})),
        "sk-vendor-good-0002",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/event-stream"),
        "{}",
        r.content_type
    );
    assert!(r.text.trim_end().ends_with("data: [DONE]"), "{}", r.text);
    let chunks = r.sse();
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "pong");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[test]
fn key_patterns_choose_the_failure_and_responses_is_absent() {
    let (_v, c) = vendor();
    let chat = |key: &str| {
        send(
            &c,
            "POST",
            "/v1/chat/completions",
            Some(json!({"model": "deepseek-flash", "messages": []})),
            key,
        )
    };
    let r = chat("sk-vendor-invalid-1");
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (401, json!("invalid_api_key"))
    );
    let r = chat("sk-vendor-quota-1");
    assert_eq!(r.status, 402);
    assert_eq!(r.json()["error"]["type"], "insufficient_user_quota");
    let r = chat("sk-vendor-ratelimit-1");
    assert_eq!(r.status, 429);
    let r = send(
        &c,
        "POST",
        "/v1/chat/completions",
        Some(json!({"model": "x"})),
        "",
    );
    assert_eq!(r.status, 401, "no key");
    let r = send(
        &c,
        "POST",
        "/v1/responses",
        Some(json!({"model": "deepseek-flash", "input": "hi"})),
        "sk-vendor-good-0003",
    );
    assert_eq!(
        r.status, 404,
        "a chat-only vendor has no Responses API: {}",
        r.text
    );
    let r = send(
        &c,
        "POST",
        "/v1/chat/completions",
        Some(json!({"messages": []})),
        "sk-vendor-good-4",
    );
    assert_eq!(r.status, 400, "model is required");
}

#[test]
fn models_lists_the_bundled_vendors_models_for_a_good_key_only() {
    let (_v, c) = vendor();
    let r = send(&c, "GET", "/v1/models", None, "sk-vendor-good-0005");
    assert_eq!(r.status, 200);
    let ids: Vec<String> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    for m in [
        "deepseek-flash",
        "kimi-k2.6",
        "MiniMax-M2.7",
        "glm-4.7-flash",
        "qwen-flash",
    ] {
        assert!(ids.iter().any(|i| i == m), "{m} missing from {ids:?}");
    }
    assert_eq!(
        send(&c, "GET", "/models", None, "sk-vendor-invalid-2").status,
        401
    );
    // No host routes in this role.
    assert_eq!(
        send(&c, "GET", "/api/v1/admin/groups", None, "").status,
        404
    );
    assert_eq!(send(&c, "GET", "/__mock/state", None, "").status, 404);
}

#[test]
fn any_path_prefix_before_the_endpoint_is_served_so_each_provider_can_have_its_own_base_url() {
    let (_v, c) = vendor();
    for prefix in [
        "/deepseek",
        "/deepseek/v1",
        "/qwen/compatible-mode/v1",
        "/adhoc",
    ] {
        let r = send(
            &c,
            "POST",
            &format!("{prefix}/chat/completions"),
            Some(json!({"model": "qwen-flash", "messages": []})),
            "sk-vendor-good-0006",
        );
        assert_eq!(r.status, 200, "{prefix}: {}", r.text);
        assert_eq!(r.json()["choices"][0]["message"]["content"], "pong");
        let r = send(
            &c,
            "GET",
            &format!("{prefix}/models"),
            None,
            "sk-vendor-good-0007",
        );
        assert_eq!(r.status, 200, "{prefix}/models: {}", r.text);
        // The key patterns hold under every prefix.
        let r = send(
            &c,
            "POST",
            &format!("{prefix}/chat/completions"),
            Some(json!({"model": "qwen-flash", "messages": []})),
            "sk-vendor-invalid-3",
        );
        assert_eq!(r.status, 401, "{prefix}");
        let r = send(
            &c,
            "POST",
            &format!("{prefix}/responses"),
            Some(json!({"model": "qwen-flash", "input": "hi"})),
            "sk-vendor-good-0008",
        );
        assert_eq!(r.status, 404, "{prefix}: still chat-only");
    }
    // Anything else is still unknown, whatever the prefix.
    for (method, path) in [
        ("GET", "/deepseek/v1/chat/completions"),
        ("POST", "/deepseek/v1/models"),
        ("POST", "/deepseek/v1/messages"),
        ("GET", "/deepseek/v1/modelsx"),
    ] {
        let r = send(&c, method, path, None, "sk-vendor-good-0009");
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        assert_eq!(r.json()["error"]["code"], "not_found");
    }
}
