//! The `echo_secrets` host knob: a chatty host and vendor that quote secrets in
//! their answers, on some calls only.

use crate::common::Env;
use serde_json::json;

fn echoing() -> Env {
    let env = Env::new();
    let r = env.c.call(
        "POST",
        "/__mock/faults",
        &[],
        Some(&json!({"echo_secrets": true})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["echo_secrets"], true);
    env
}

#[test]
fn admin_errors_quote_the_admin_key_and_ordinary_calls_do_not_fail() {
    let env = echoing();
    let r = env.admin("GET", "/groups/999", None);
    assert_eq!(r.status, 404);
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains(&format!("x-api-key={}", env.key)),
        "{message}"
    );
    assert_eq!(r.json()["reason"], "GROUP_NOT_FOUND");
    // Calls that succeed are not touched.
    let g = env.create_group("grp", json!({}));
    assert!(g > 0);
}

#[test]
fn account_creates_of_marked_keys_are_refused_quoting_the_key() {
    let env = echoing();
    let g = env.create_group("grp", json!({}));
    let marked = "sk-echo-0123456789abcdef0123456789";
    let r = env.admin(
        "POST",
        "/accounts",
        Some(json!({
            "name": "a", "platform": "openai", "type": "apikey",
            "credentials": {"api_key": marked, "base_url": "https://v.example/v1"},
            "group_ids": [g],
        })),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let body = r.json();
    assert_eq!(body["reason"], "INVALID_CREDENTIALS");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("api_key {marked} is not accepted")),
        "{message}"
    );
    assert!(message.contains(&env.key), "{message}");
    // A batch create: the marked item fails with the key in its error, the other
    // is created.
    let item = |name: &str, key: &str| {
        json!({"name": name, "platform": "openai", "type": "apikey",
               "credentials": {"api_key": key, "base_url": "https://v.example/v1"}, "group_ids": [g]})
    };
    let data = env.admin_ok(
        "POST",
        "/accounts/batch",
        Some(json!({"accounts": [item("ok", "sk-good-0123456789abcdef"), item("bad", marked)]})),
    );
    assert_eq!(data["success"], 1);
    assert_eq!(data["results"][0]["success"], true);
    assert_eq!(data["results"][1]["success"], false);
    assert!(data["results"][1]["error"]
        .as_str()
        .unwrap()
        .contains(marked));
    // Updating an account to a marked key is refused the same way.
    let id = data["results"][0]["id"].as_i64().unwrap();
    let r = env.admin(
        "PUT",
        &format!("/accounts/{id}"),
        Some(json!({"credentials": {"api_key": marked}})),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains(marked));
}

#[test]
fn user_creates_of_marked_emails_quote_the_password() {
    let env = echoing();
    let r = env.admin(
        "POST",
        "/users",
        Some(json!({"email": "echo-bob@example.com", "password": "crm-0123456789abcdef0123456789abcdef01234567"})),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text
            .contains("password crm-0123456789abcdef0123456789abcdef01234567 for echo-bob@example.com is too weak"),
        "{}",
        r.text
    );
    assert!(env.create_user("bob@example.com", "secret-pw-1", 1.0) > 0);
}

#[test]
fn an_injected_failure_is_a_plain_text_body_quoting_the_credential() {
    let env = echoing();
    let r = env.c.call(
        "POST",
        "/__mock/faults",
        &[],
        Some(&json!({"fail_nth_admin_call": 1})),
    );
    assert_eq!(r.status, 200);
    let r = env.admin("GET", "/groups", None);
    assert_eq!(r.status, 500);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    assert!(r.text.contains(&env.key), "{}", r.text);
    assert!(serde_json::from_str::<serde_json::Value>(&r.text).is_err());
}

#[test]
fn account_tests_and_gateway_errors_relay_the_upstream_and_bearer_keys() {
    let env = echoing();
    let (g, user_key) = env.gateway_fixture("carol@example.com");
    let upstream = "sk-invalid-0123456789abcdef";
    let id = env.create_account(
        "acct",
        upstream,
        "https://v.example/v1",
        json!({}),
        &[g],
        json!({"extra": {"openai_responses_mode": "force_chat_completions", "openai_responses_supported": false}}),
    );
    let r = env.admin("POST", &format!("/accounts/{id}/test"), Some(json!({})));
    let events = r.sse();
    let error = events
        .iter()
        .find(|e| e["type"] == "error")
        .and_then(|e| e["error"].as_str())
        .expect("an error event")
        .to_string();
    assert!(
        error.starts_with("Chat Completions API (/v1/chat/completions) returned 401:"),
        "{error}"
    );
    assert!(
        error.contains(&format!("Incorrect API key provided: {upstream}")),
        "{error}"
    );
    // The account's error message quotes the vendor too.
    assert!(env.account(id)["error_message"]
        .as_str()
        .unwrap_or_default()
        .contains(upstream));
    // The gateway's error quotes the caller's bearer key.
    let r = env.chat(&user_key, "gpt-4o");
    assert!(r.status >= 400, "{}", r.text);
    assert!(
        r.text
            .contains(&format!("Authorization: Bearer {user_key}")),
        "{}",
        r.text
    );
    // Every secret the host holds is listed for leak scans.
    let secrets = env.c.call("GET", "/__mock/secrets", &[], None).json()["secrets"].clone();
    let list: Vec<&str> = secrets
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for s in [env.key.as_str(), upstream, user_key.as_str(), "secret-pw"] {
        assert!(list.contains(&s), "{s} missing from {list:?}");
    }
    assert!(list.iter().any(|s| s.starts_with("eyJ")), "{list:?}");
}

#[test]
fn without_the_knob_nothing_is_quoted() {
    let env = Env::new();
    let r = env.admin("GET", "/groups/999", None);
    assert_eq!(r.status, 404);
    assert!(!r.text.contains(&env.key));
    let g = env.create_group("grp", json!({}));
    let marked = "sk-echo-0123456789abcdef0123456789";
    let id = env.create_account(
        "a",
        marked,
        "https://v.example/v1",
        json!({}),
        &[g],
        json!({}),
    );
    assert!(id > 0);
    assert!(env.create_user("echo-bob@example.com", "secret-pw-1", 1.0) > 0);
}
