//! Gateway behaviour: auth errors, models, chat, failover, vendor key patterns,
//! channel effects, billing checks, the Responses-path 502 and the SSE account test.

mod common;

use common::{eventually, Env};
use serde_json::json;

#[test]
fn gateway_auth_errors() {
    let env = Env::new();
    let r = env.c.call("GET", "/v1/models", &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"code": "API_KEY_REQUIRED", "message": "API key is required in Authorization header (Bearer scheme), x-api-key header, or x-goog-api-key header"})
    );
    let r = env.c.call(
        "POST",
        "/v1/chat/completions",
        &[("authorization", "Bearer sk-nope")],
        Some(&json!({"model": "m"})),
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"code": "INVALID_API_KEY", "message": "Invalid API key"})
    );

    // A key with no group.
    env.create_user("ng@example.com", "secret1", 5.0);
    let jwt = env.login("ng@example.com", "secret1");
    let r = env.c.call(
        "POST",
        "/api/v1/keys",
        &[("authorization", &format!("Bearer {jwt}"))],
        Some(&json!({"name": "nogroup"})),
    );
    let key = r.json()["data"]["key"].as_str().unwrap().to_string();
    let r = env
        .c
        .call("GET", "/v1/models", &[("x-api-key", &key)], None);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "permission_error");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("API Key is not assigned to any group"));
}

#[test]
fn end_to_end_models_and_chat() {
    let env = Env::new();
    // The admin logs in and uses the JWT for the admin API.
    let admin_jwt = env.login("admin@example.com", sub2api_mock::DEFAULT_ADMIN_PASSWORD);
    let ah = format!("Bearer {admin_jwt}");
    let h = [("authorization", ah.as_str())];
    let g = env.c.call("POST", "/api/v1/admin/groups", &h, Some(&json!({"name": "cn-openai", "platform": "openai", "rate_multiplier": 1, "subscription_type": "standard"})));
    let g = g.json()["data"]["id"].as_i64().unwrap();
    let ch = env.c.call(
        "POST",
        "/api/v1/admin/channels",
        &h,
        Some(&json!({"name": "cn", "group_ids": [g], "model_pricing": [{"platform": "openai", "models": ["deepseek-chat", "deepseek-reasoner"], "input_price": 0.000001, "output_price": 0.000002}]})),
    );
    assert_eq!(ch.status, 200, "{}", ch.text);
    let acct = env.c.call(
        "POST",
        "/api/v1/admin/accounts",
        &h,
        Some(&json!({
            "name": "deepseek-1", "platform": "openai", "type": "apikey",
            "credentials": {"api_key": "sk-live-good", "base_url": "https://api.deepseek.com/v1",
                             "model_mapping": {"deepseek-chat": "deepseek-chat", "deepseek-reasoner": "deepseek-reasoner"}},
            "extra": {"openai_responses_mode": "force_chat_completions"},
            "group_ids": [g], "concurrency": 5, "priority": 1,
        })),
    );
    assert_eq!(acct.status, 200, "{}", acct.text);
    env.c.call(
        "POST",
        "/api/v1/admin/users",
        &h,
        Some(&json!({"email": "team@example.com", "password": "team-pass", "balance": 20})),
    );
    let jwt = env.login("team@example.com", "team-pass");
    let key = env.user_key(&jwt, g);

    let r = env.models(&key);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["object"], "list");
    assert!(v.get("code").is_none(), "no envelope");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["deepseek-chat", "deepseek-reasoner"]);
    assert_eq!(v["data"][0]["object"], "model");
    assert_eq!(v["data"][0]["owned_by"], "openai");

    let r = env.chat(&key, "deepseek-chat");
    assert_eq!(r.status, 200, "{}", r.text);
    let c = r.json();
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(c["choices"][0]["message"]["content"], "pong");
    assert!(c["usage"]["total_tokens"].as_u64().unwrap() > 0);

    // /chat/completions without /v1, streaming.
    let r = env.c.call(
        "POST",
        "/chat/completions",
        &[("authorization", &format!("Bearer {key}"))],
        Some(&json!({"model": "deepseek-chat", "stream": true, "messages": []})),
    );
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/event-stream"));
    assert!(r.text.trim_end().ends_with("data: [DONE]"));
    let chunks = r.sse();
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["delta"]["content"] == "pong"));

    // A model outside the mapping: 503 no available accounts.
    let r = env.chat(&key, "gpt-4o");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "api_error");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("No available accounts"));
}

#[test]
fn models_default_list_and_unbound_account() {
    let env = Env::new();
    let (g, key) = env.gateway_fixture("d@example.com");
    // No account at all: default list, but completion has nothing to schedule (SPEC 7.8).
    let ids: Vec<String> = env.models(&key).json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.iter().any(|i| i.starts_with("gpt-")));
    assert_eq!(env.chat(&key, "gpt-5.4").status, 503);
    // Bound account with an empty mapping serves any model.
    env.create_account(
        "any",
        "sk-any",
        "https://relay.example.com",
        json!({}),
        &[g],
        json!({}),
    );
    assert_eq!(env.chat(&key, "whatever-model").status, 200);
}

#[test]
fn vendor_key_patterns() {
    let env = Env::new();
    let (g, key) = env.gateway_fixture("p@example.com");
    let id = env.create_account(
        "bad",
        "sk-invalid-key",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        json!({}),
    );
    let r = env.chat(&key, "m");
    assert_eq!(r.status, 502);
    assert_eq!(
        r.json(),
        json!({"error": {"type": "upstream_error", "message": "Upstream request failed"}})
    );
    let a = env.account(id);
    assert_eq!(a["status"], "error");
    assert!(a["error_message"].as_str().unwrap().contains("401"));

    env.admin_ok("DELETE", &format!("/accounts/{id}"), None);
    let q = env.create_account(
        "quota",
        "sk-quota-empty",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        json!({}),
    );
    let r = env.chat(&key, "m");
    assert_eq!(r.status, 402);
    assert!(r.text.contains("Insufficient Balance") && r.text.contains("insufficient_user_quota"));
    assert_eq!(env.account(q)["status"], "active");

    env.admin_ok("DELETE", &format!("/accounts/{q}"), None);
    env.create_account(
        "rl",
        "sk-ratelimit",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        json!({}),
    );
    let r = env.chat(&key, "m");
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
}

#[test]
fn slow_key_answers_late() {
    let env = Env::new();
    let (g, key) = env.gateway_fixture("slow@example.com");
    env.create_account(
        "slow",
        "sk-slow-one",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        json!({}),
    );
    let t = std::time::Instant::now();
    assert_eq!(env.chat(&key, "m").status, 200);
    assert!(t.elapsed().as_millis() >= 1900, "{:?}", t.elapsed());
}

#[test]
fn failover_across_dead_and_good_accounts() {
    let env = Env::new();
    let (g, key) = env.gateway_fixture("f@example.com");
    let dead = env.create_account(
        "dead",
        "sk-invalid",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        json!({"priority": 0}),
    );
    let good = env.create_account(
        "good",
        "sk-good",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        json!({"priority": 5}),
    );
    assert_eq!(
        env.chat(&key, "m").status,
        200,
        "fails over to the good account"
    );
    assert_eq!(env.account(dead)["status"], "error");
    assert!(env.account(good)["last_used_at"].is_string());
    // Dead duplicates only: 502.
    env.admin_ok("DELETE", &format!("/accounts/{good}"), None);
    env.admin_ok("POST", &format!("/accounts/{dead}/clear-error"), None);
    env.create_account(
        "dead2",
        "sk-invalid-2",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        json!({}),
    );
    assert_eq!(env.chat(&key, "m").status, 502);
    // Errored accounts are not scheduled any more: 503.
    assert_eq!(env.chat(&key, "m").status, 503);
}

#[test]
fn channel_restrict_models_and_mapping() {
    let env = Env::new();
    let (g, key) = env.gateway_fixture("c@example.com");
    env.create_account(
        "a",
        "sk-good",
        "https://vendor.example.com",
        json!({"deepseek-chat": "deepseek-chat", "other": "other"}),
        &[g],
        json!({}),
    );
    env.admin_ok(
        "POST",
        "/channels",
        Some(
            json!({"name": "ch", "group_ids": [g], "restrict_models": true,
                    "model_pricing": [{"platform": "openai", "models": ["deepseek-chat"]}],
                    "model_mapping": {"openai": {"ds": "deepseek-chat"}}}),
        ),
    );
    assert_eq!(env.chat(&key, "deepseek-chat").status, 200);
    assert_eq!(
        env.chat(&key, "ds").status,
        200,
        "channel mapping renames before selection"
    );
    let r = env.chat(&key, "other");
    assert_eq!(r.status, 503, "restricted model");
    // /v1/models is not filtered by the channel.
    assert!(env.models(&key).text.contains("\"other\""));
}

#[test]
fn billing_checks() {
    let env = Env::new();
    let g = env.create_group("std", json!({}));
    env.create_account("a", "sk-good", "", json!({}), &[g], json!({}));
    env.create_user("poor@example.com", "secret1", 0.0);
    let jwt = env.login("poor@example.com", "secret1");
    let key = env.user_key(&jwt, g);
    let r = env.chat(&key, "gpt-5.4");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "INSUFFICIENT_BALANCE");

    let sg = env.create_group("subg", json!({"subscription_type": "subscription"}));
    env.create_account("b", "sk-good", "", json!({}), &[sg], json!({}));
    let uid = env.create_user("sub@example.com", "secret1", 0.0);
    env.admin_ok(
        "POST",
        "/subscriptions/assign",
        Some(json!({"user_id": uid, "group_id": sg})),
    );
    let jwt = env.login("sub@example.com", "secret1");
    let key = env.user_key(&jwt, sg);
    assert_eq!(
        env.chat(&key, "gpt-5.4").status,
        200,
        "subscription groups ignore balance"
    );
    let subs = env.admin_ok("GET", &format!("/subscriptions?user_id={uid}"), None);
    let sid = subs["items"][0]["id"].as_i64().unwrap();
    env.admin_ok("DELETE", &format!("/subscriptions/{sid}"), None);
    let r = env.chat(&key, "gpt-5.4");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "SUBSCRIPTION_NOT_FOUND");
}

#[test]
fn responses_path_gives_502_until_repaired() {
    let env = Env::with_faults(sub2api_mock::Faults {
        responses_misdetection: true,
        responses_probe_delay_ms: 20,
        ..Default::default()
    });
    let (g, key) = env.gateway_fixture("r@example.com");
    let id = env.create_account(
        "third",
        "sk-good",
        "https://api.vendor-cn.com/v1",
        json!({"m": "m"}),
        &[g],
        json!({}),
    );
    assert!(eventually(2000, || env.account(id)["extra"]
        ["openai_responses_supported"]
        == json!(true)));
    let r = env.chat(&key, "m");
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"]["type"], "upstream_error");
    // The repair from SPEC 7.3: send the whole extra.
    env.admin_ok(
        "PUT",
        &format!("/accounts/{id}"),
        Some(json!({"extra": {"openai_responses_mode": "force_chat_completions", "openai_responses_supported": false}})),
    );
    assert_eq!(env.chat(&key, "m").status, 200);
    // An explicit mode wins over a later probe result.
    env.admin_ok("PUT", &format!("/accounts/{id}"), Some(json!({"credentials": {"base_url": "https://api.vendor-cn.com/v1", "model_mapping": {"m": "m"}}})));
    assert!(eventually(2000, || env.account(id)["extra"]
        ["openai_responses_supported"]
        == json!(true)));
    assert_eq!(env.chat(&key, "m").status, 200);
    // The official base is never hit by the 502.
    let off = env.create_account(
        "official",
        "sk-good",
        "https://api.openai.com",
        json!({"o": "o"}),
        &[g],
        json!({}),
    );
    assert!(eventually(2000, || env.account(off)["extra"]
        ["openai_responses_supported"]
        == json!(true)));
    assert_eq!(env.chat(&key, "o").status, 200);
}

#[test]
fn account_test_sse() {
    let env = Env::new();
    let g = env.create_group("g", json!({}));
    let ok_id = env.create_account(
        "ok",
        "sk-good",
        "https://vendor.example.com",
        json!({"alias": "upstream-model"}),
        &[g],
        json!({}),
    );
    let r = env.admin(
        "POST",
        &format!("/accounts/{ok_id}/test"),
        Some(json!({"model_id": "alias", "prompt": "hi"})),
    );
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/event-stream"));
    assert!(!r.text.contains("event:") && !r.text.contains("[DONE]"));
    assert_eq!(
        r.sse(),
        vec![
            json!({"type": "test_start", "model": "upstream-model"}),
            json!({"type": "content", "text": "pong"}),
            json!({"type": "test_complete", "success": true}),
        ]
    );
    // Empty body is fine.
    let r = env.c.raw(
        "POST",
        &format!("/api/v1/admin/accounts/{ok_id}/test"),
        &[("x-api-key", &env.key)],
        None,
    );
    assert_eq!(r.sse().last().unwrap()["type"], "test_complete");

    let bad = env.create_account(
        "bad",
        "sk-invalid",
        "https://vendor.example.com",
        json!({}),
        &[g],
        json!({}),
    );
    let r = env.admin("POST", &format!("/accounts/{bad}/test"), Some(json!({})));
    let ev = r.sse();
    assert_eq!(ev.last().unwrap()["type"], "error");
    assert!(ev.last().unwrap()["error"]
        .as_str()
        .unwrap()
        .starts_with("API returned 401: "));
    let a = env.account(bad);
    assert_eq!(a["status"], "error");
    assert!(!a["error_message"].as_str().unwrap().is_empty());
    assert_eq!(
        env.admin_ok("POST", &format!("/accounts/{bad}/clear-error"), None)["status"],
        "active"
    );

    let r = env.admin("POST", "/accounts/4242/test", None);
    assert_eq!(r.status, 200);
    assert!(!r.content_type.starts_with("text/event-stream"));
    assert_eq!(
        r.sse(),
        vec![json!({"type": "error", "error": "Account not found"})]
    );
    assert_eq!(
        env.admin("POST", "/accounts/zz/test", None).json(),
        json!({"code": 400, "message": "Invalid account ID"})
    );
}

#[test]
fn temp_unschedulable_rules_bench_the_account() {
    let env = Env::new();
    let (g, key) = env.gateway_fixture("t@example.com");
    let id = env.create_account(
        "rl",
        "sk-ratelimit",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        json!({}),
    );
    env.admin_ok(
        "PUT",
        &format!("/accounts/{id}"),
        Some(json!({"credentials": {"base_url": "https://vendor.example.com", "model_mapping": {"m": "m"},
            "temp_unschedulable_enabled": true,
            "temp_unschedulable_rules": [{"error_code": 429, "keywords": ["rate limit"], "duration_minutes": 10, "description": "bench"}]}})),
    );
    assert_eq!(env.chat(&key, "m").status, 429);
    let t = env.admin_ok("GET", &format!("/accounts/{id}/temp-unschedulable"), None);
    assert_eq!(t["active"], true);
    assert_eq!(t["state"]["status_code"], 429);
    assert_eq!(t["state"]["matched_keyword"], "rate limit");
    assert!(env.account(id)["temp_unschedulable_until"].is_string());
    assert_eq!(
        env.chat(&key, "m").status,
        503,
        "benched account is not scheduled"
    );
    env.admin_ok(
        "DELETE",
        &format!("/accounts/{id}/temp-unschedulable"),
        None,
    );
    assert_eq!(env.chat(&key, "m").status, 429);
}

#[test]
fn usage_endpoint() {
    let env = Env::new();
    let (_, key) = env.gateway_fixture("usage@example.com");
    let r = env.c.call(
        "GET",
        "/v1/usage",
        &[("authorization", &format!("Bearer {key}"))],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["isValid"], true);
    assert_eq!(r.json()["balance"], 10.0);
}

#[test]
fn dropping_the_host_stops_the_server() {
    let host = sub2api_mock::MockHost::start(sub2api_mock::MockConfig::default()).unwrap();
    let addr = host.addr();
    assert!(std::net::TcpStream::connect(addr).is_ok());
    drop(host);
    assert!(eventually(2000, || std::net::TcpStream::connect(addr).is_err()));
}
