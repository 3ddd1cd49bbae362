//! Gateway behaviour: auth errors, models, chat, failover, vendor key patterns,
//! channel effects, billing checks, the Responses-path 502 and the SSE account test.

use crate::common::{eventually, Env};
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

    // A model outside the mapping of every account in the pool: 404 model_not_found
    // (the real host's `no_account_error.go`), final, not a warm-up 503.
    let r = env.chat(&key, "gpt-4o");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": {"type": "model_not_found", "message": "Model \"gpt-4o\" is not supported by any configured account in this group"}})
    );
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

/// Upstream 401/402/429 through the gateway, as the real host 0.1.179 answers them
/// (checked against a vendor stand-in): 401 and 402 fail the account over and put it
/// into `error` (out of scheduling) with the host's message; the client gets a 502
/// `upstream_error` whose text does not say which; a 429 rate-limits the account.
#[test]
fn vendor_key_patterns() {
    let env = Env::new();
    let (g, key) = env.gateway_fixture("p@example.com");
    let force_chat = json!({"extra": {"openai_responses_mode": "force_chat_completions"}});
    let id = env.create_account(
        "bad",
        "sk-invalid-key",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        force_chat.clone(),
    );
    let r = env.chat(&key, "m");
    assert_eq!(r.status, 502);
    assert_eq!(
        r.json(),
        json!({"error": {"type": "upstream_error", "message": "Upstream authentication failed, please contact administrator"}})
    );
    let a = env.account(id);
    assert_eq!(a["status"], "error");
    assert_eq!(a["schedulable"], false);
    assert_eq!(
        a["error_message"],
        "Authentication failed (401): Incorrect API key provided."
    );
    // Out of service: the next request finds no account at all.
    let r = env.chat(&key, "m");
    assert_eq!(
        (r.status, r.json()),
        (
            503,
            json!({"error": {"type": "api_error", "message": "Service temporarily unavailable"}})
        )
    );

    env.admin_ok("DELETE", &format!("/accounts/{id}"), None);
    let q = env.create_account(
        "quota",
        "sk-quota-empty",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        force_chat.clone(),
    );
    let r = env.chat(&key, "m");
    assert_eq!(r.status, 502);
    assert_eq!(
        r.json(),
        json!({"error": {"type": "upstream_error", "message": "Upstream request failed"}})
    );
    let a = env.account(q);
    assert_eq!(a["status"], "error");
    assert_eq!(a["schedulable"], false);
    assert_eq!(
        a["error_message"],
        "Payment required (402): Insufficient Balance"
    );
    // clear-error brings the status back but not scheduling (the host's ClearError).
    let cleared = env.admin_ok("POST", &format!("/accounts/{q}/clear-error"), None);
    assert_eq!(
        (cleared["status"].as_str(), cleared["schedulable"].as_bool()),
        (Some("active"), Some(false))
    );
    assert_eq!(env.chat(&key, "m").status, 503);

    env.admin_ok("DELETE", &format!("/accounts/{q}"), None);
    let rl = env.create_account(
        "rl",
        "sk-ratelimit",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        force_chat.clone(),
    );
    let r = env.chat(&key, "m");
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json(),
        json!({"error": {"type": "rate_limit_error", "message": "Upstream rate limit exceeded, please retry later"}})
    );
    // No reset header: the host's 5 s fallback cooldown; meanwhile 503.
    let a = env.account(rl);
    assert_eq!(a["status"], "active");
    assert!(a["rate_limit_reset_at"].is_string());
    assert_eq!(env.chat(&key, "m").status, 503);
    env.admin_ok("DELETE", &format!("/accounts/{rl}"), None);

    // With a reset header the account is limited until then (≈ 10 min here).
    let rr = env.create_account(
        "rr",
        "sk-rlreset",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        force_chat,
    );
    assert_eq!(env.chat(&key, "m").status, 429);
    let reset = env.account(rr)["rate_limit_reset_at"]
        .as_str()
        .expect("reset time")
        .to_string();
    let limited = env.admin_ok("POST", &format!("/accounts/{rr}/clear-rate-limit"), None);
    assert!(limited["rate_limit_reset_at"].is_null(), "{reset}");
}

/// An account whose base cannot be reached: the host benches it for 10 minutes
/// and answers 502; its test says `request failed`.
#[test]
fn unreachable_upstream_benches_the_account() {
    let env = Env::new();
    let (g, key) = env.gateway_fixture("u@example.com");
    let id = env.create_account(
        "down",
        "sk-unreachable",
        "https://down.example.com/v1",
        json!({"m": "m"}),
        &[g],
        json!({"extra": {"openai_responses_mode": "force_chat_completions"}}),
    );
    let r = env.chat(&key, "m");
    assert_eq!(
        (r.status, r.json()),
        (
            502,
            json!({"error": {"type": "upstream_error", "message": "Upstream service temporarily unavailable"}})
        )
    );
    let a = env.account(id);
    assert_eq!(a["status"], "active");
    assert!(a["temp_unschedulable_until"].is_string());
    let events = env
        .admin(
            "POST",
            &format!("/accounts/{id}/test"),
            Some(json!({"model_id": "m"})),
        )
        .sse();
    assert_eq!(
        events.last().unwrap()["error"],
        "Chat Completions API (/v1/chat/completions) request failed: Post \"https://down.example.com/v1/chat/completions\": dial tcp down.example.com:443: connect: connection refused"
    );
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
fn responses_misdetection_gives_the_vendors_404_until_repaired() {
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
    // Marked "supported", so no fallback: the vendor's 404 is passed through, as the
    // real host does (not a 502).
    let r = env.chat(&key, "m");
    assert_eq!(
        (r.status, r.json()),
        (
            404,
            json!({"error": {"type": "not_found_error", "message": "Invalid URL (POST /v1/responses)"}})
        )
    );
    assert_eq!(env.account(id)["status"], "active");
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
    // The official base serves Responses.
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

/// No capability marker (the probe has not landed, or `extra` was replaced): the
/// host takes the Responses path; a vendor 404 there makes the gateway retry over
/// Chat Completions, but the account test has no such fallback.
#[test]
fn no_marker_is_the_responses_path() {
    let env = Env::with_faults(sub2api_mock::Faults {
        responses_probe_delay_ms: 60_000,
        ..Default::default()
    });
    let (g, key) = env.gateway_fixture("nm@example.com");
    let id = env.create_account(
        "nm",
        "sk-good",
        "https://api.vendor-cn.com/v1",
        json!({"m": "m"}),
        &[g],
        json!({"extra": {"foo": 1}}),
    );
    assert_eq!(env.chat(&key, "m").status, 200);
    let events = env
        .admin(
            "POST",
            &format!("/accounts/{id}/test"),
            Some(json!({"model_id": "m"})),
        )
        .sse();
    assert_eq!(
        events,
        vec![
            json!({"type": "test_start", "model": "m"}),
            json!({"type": "error", "error": "API returned 404: {\"error\":{\"code\":\"not_found\",\"message\":\"Invalid URL (POST /v1/responses)\",\"param\":null,\"type\":\"invalid_request_error\"}}"}),
        ]
    );
    // A flag that is not a boolean is still "no marker".
    env.admin_ok(
        "PUT",
        &format!("/accounts/{id}"),
        Some(json!({"extra": {"openai_responses_supported": "false"}})),
    );
    let events = env
        .admin(
            "POST",
            &format!("/accounts/{id}/test"),
            Some(json!({"model_id": "m"})),
        )
        .sse();
    assert!(events.last().unwrap()["error"]
        .as_str()
        .unwrap()
        .starts_with("API returned 404: "));
}

#[test]
fn account_test_sse() {
    let env = Env::new();
    let g = env.create_group("g", json!({}));
    let force_chat = json!({"extra": {"openai_responses_mode": "force_chat_completions"}});
    let ok_id = env.create_account(
        "ok",
        "sk-good",
        "https://vendor.example.com",
        json!({"alias": "upstream-model"}),
        &[g],
        force_chat.clone(),
    );
    let r = env.admin(
        "POST",
        &format!("/accounts/{ok_id}/test"),
        Some(json!({"model_id": "alias", "prompt": "hi"})),
    );
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/event-stream"));
    assert!(!r.text.contains("event:") && !r.text.contains("[DONE]"));
    // The real host's Chat Completions test (0.1.179), event for event.
    assert_eq!(
        r.sse(),
        vec![
            json!({"type": "test_start", "model": "upstream-model"}),
            json!({"type": "status", "text": "正在通过 /v1/chat/completions 测试连接"}),
            json!({"type": "content", "text": "pong"}),
            json!({"type": "status", "text": "已通过 /v1/chat/completions 验证"}),
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
        force_chat.clone(),
    );
    let r = env.admin("POST", &format!("/accounts/{bad}/test"), Some(json!({})));
    let ev = r.sse();
    assert_eq!(ev.len(), 3);
    let body = r#"{"error":{"code":"invalid_api_key","message":"Incorrect API key provided.","param":null,"type":"invalid_request_error"}}"#;
    assert_eq!(
        ev.last().unwrap(),
        &json!({"type": "error", "error": format!("Chat Completions API (/v1/chat/completions) returned 401: {body}")})
    );
    let a = env.account(bad);
    assert_eq!(a["status"], "error");
    assert_eq!(a["schedulable"], false);
    assert_eq!(
        a["error_message"],
        format!("Chat Completions authentication failed (401): {body}")
    );
    assert_eq!(
        env.admin_ok("POST", &format!("/accounts/{bad}/clear-error"), None)["status"],
        "active"
    );

    // On the Responses path the host keeps its older wording.
    let resp = env.create_account(
        "resp",
        "sk-invalid-2",
        "https://vendor.example.com",
        json!({}),
        &[g],
        json!({"extra": {"openai_responses_mode": "force_responses"}}),
    );
    let ev = env
        .admin("POST", &format!("/accounts/{resp}/test"), Some(json!({})))
        .sse();
    assert_eq!(ev.len(), 2);
    assert_eq!(
        ev.last().unwrap()["error"],
        format!("API returned 401: {body}")
    );
    assert_eq!(
        env.account(resp)["error_message"],
        format!("Authentication failed (401): {body}")
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
    // The 429 also rate-limited the account (5 s fallback): still nothing to schedule.
    assert_eq!(env.chat(&key, "m").status, 503);
    env.admin_ok("POST", &format!("/accounts/{id}/clear-rate-limit"), None);
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

/// An expired subscription: the gateway answers `403 SUBSCRIPTION_NOT_FOUND` (the
/// host only counts an active, unexpired one), and assigning again renews it in
/// place (same id, new term from now), as the real host 0.1.179 does.
#[test]
fn expired_subscription_is_not_found_and_reassign_renews_it() {
    let env = Env::new();
    let sg = env.create_group("subg", json!({"subscription_type": "subscription"}));
    env.create_account("b", "sk-good", "", json!({}), &[sg], json!({}));
    let uid = env.create_user("exp@example.com", "secret1", 0.0);
    let assign = json!({"user_id": uid, "group_id": sg, "validity_days": 1});
    let first = env.admin_ok("POST", "/subscriptions/assign", Some(assign.clone()));
    let sid = first["id"].as_i64().unwrap();
    let jwt = env.login("exp@example.com", "secret1");
    let key = env.user_key(&jwt, sg);
    assert_eq!(env.chat(&key, "gpt-5.4").status, 200);

    assert!(env.host.expire_subscription(sid));
    let expired = env.admin_ok("GET", &format!("/subscriptions/{sid}"), None);
    assert_eq!(expired["status"], "expired");
    for r in [env.chat(&key, "gpt-5.4"), env.models(&key)] {
        assert_eq!(
            (r.status, r.json()),
            (
                403,
                json!({"code": "SUBSCRIPTION_NOT_FOUND", "message": "No active subscription found for this group"})
            )
        );
    }

    let renewed = env.admin_ok("POST", "/subscriptions/assign", Some(assign));
    assert_eq!(renewed["id"], sid);
    assert_eq!(renewed["status"], "active");
    assert!(renewed["expires_at"].as_str() > expired["expires_at"].as_str());
    assert!(renewed["starts_at"].as_str() > expired["starts_at"].as_str());
    assert_eq!(env.chat(&key, "gpt-5.4").status, 200);
    // A live subscription with another validity is still a conflict.
    let r = env.admin(
        "POST",
        "/subscriptions/assign",
        Some(json!({"user_id": uid, "group_id": sg, "validity_days": 7})),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "SUBSCRIPTION_ASSIGN_CONFLICT");
}

/// `/v1/models` is cached per (group, platform) like the host's 15 s cache (shorter
/// here): a mapping change is not listed until the entry expires; an empty pool is
/// never cached.
#[test]
fn models_list_is_cached_per_group() {
    let env = Env::new();
    env.host
        .set_models_cache_ttl(std::time::Duration::from_millis(800));
    let (g, key) = env.gateway_fixture("mc@example.com");
    let ids = |env: &Env| -> Vec<String> {
        env.models(&key).json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    // Empty pool: defaults, not cached, so the first account shows at once.
    assert!(ids(&env).contains(&"gpt-5.4".to_string()));
    let id = env.create_account(
        "a",
        "sk-good",
        "https://vendor.example.com",
        json!({"m1": "m1"}),
        &[g],
        json!({}),
    );
    assert_eq!(ids(&env), vec!["m1"]);
    env.admin_ok(
        "PUT",
        &format!("/accounts/{id}"),
        Some(json!({"credentials": {"base_url": "https://vendor.example.com", "model_mapping": {"m1": "m1", "m2": "m2"}}})),
    );
    assert_eq!(ids(&env), vec!["m1"], "stale until the entry expires");
    // The completion is not cached: it already serves the new model.
    assert_eq!(env.chat(&key, "m2").status, 200);
    assert!(eventually(3000, || ids(&env) == vec!["m1", "m2"]));
    // The knob is also a `/__mock/faults` key, shown with the faults.
    let r = env.c.call(
        "POST",
        "/__mock/faults",
        &[],
        Some(&json!({"models_cache_ttl_ms": 15000})),
    );
    assert_eq!(r.json()["models_cache_ttl_ms"], 15000);
    assert_eq!(
        env.c.call("GET", "/__mock/faults", &[], None).json()["models_cache_ttl_ms"],
        15000
    );
}
