//! The native CN platforms (`kimi`, `zhipu`, `deepseek`) as a real 0.1.179 host
//! serves them (checked on one, see `docs/host-api-notes.md`): group platforms by
//! build, `extra` written by the host, Chat Completions routing whatever `extra`
//! says, the account test, and a vendor's low balance as a recoverable bench.

use crate::common::{eventually, Env};
use serde_json::{json, Value};
use sub2api_mock::{Faults, HostKnobs};

const VENDOR: &str = "https://api.example-vendor.test/v1";

fn group(env: &Env, name: &str, platform: &str) -> crate::common::Res {
    env.admin(
        "POST",
        "/groups",
        Some(json!({"name": name, "platform": platform, "rate_multiplier": 1})),
    )
}

/// A `deepseek` group with one account of `key`, a user key in it, and the account id.
fn native_fixture(env: &Env, email: &str, key: &str) -> (i64, i64, String) {
    let r = group(env, &format!("grp-{email}"), "deepseek");
    assert_eq!(r.status, 200, "{}", r.text);
    let g = r.json()["data"]["id"].as_i64().unwrap();
    let a = env.create_account(
        &format!("acct-{email}"),
        key,
        VENDOR,
        json!({"deepseek-flash": "deepseek-flash"}),
        &[g],
        json!({"platform": "deepseek"}),
    );
    env.create_user(email, "secret-pw", 10.0);
    let jwt = env.login(email, "secret-pw");
    (g, a, env.user_key(&jwt, g))
}

#[test]
fn group_platforms_follow_the_build() {
    let env = Env::new();
    for p in ["deepseek", "kimi", "zhipu"] {
        assert_eq!(group(&env, &format!("new-{p}"), p).status, 200, "{p}");
    }
    // A build older than the native platforms (reported version 0.1.177).
    env.host.set_faults(Faults {
        host_version: Some("0.1.177".into()),
        ..Faults::default()
    });
    for p in ["deepseek", "kimi", "zhipu"] {
        let r = group(&env, &format!("mid-{p}"), p);
        assert_eq!(r.status, 400, "{p}: {}", r.text);
        assert!(r.json()["message"].as_str().unwrap().contains("'oneof'"));
    }
    assert_eq!(group(&env, "mid-grok", "grok").status, 200);
    // The old line (0.1.27): `oneof=anthropic openai gemini`.
    env.host.set_faults(Faults::default());
    env.host.set_knobs(HostKnobs {
        old_build: true,
        ..HostKnobs::default()
    });
    for p in ["deepseek", "kimi", "zhipu", "grok", "composite"] {
        assert_eq!(group(&env, &format!("old-{p}"), p).status, 400, "{p}");
    }
    assert_eq!(group(&env, "old-openai", "openai").status, 200);
    // Updates check the same enum.
    let r = env.admin("PUT", "/groups/1", Some(json!({"platform": "deepseek"})));
    assert_eq!(r.status, 400, "{}", r.text);
}

#[test]
fn the_host_writes_extra_and_routes_chat_whatever_extra_says() {
    let env = Env::new();
    let (g, a, key) = native_fixture(&env, "n1@example.com", "sk-native-ok-1");
    // The host writes `extra` right after the create (no vendor call).
    assert!(eventually(3_000, || env.account(a)["extra"]
        == json!({"openai_responses_mode": "auto", "openai_responses_supported": false})));
    // The create answer itself has none yet; `extra` sent with it is kept.
    let created = env.admin_ok(
        "POST",
        "/accounts",
        Some(json!({
            "name": "second", "platform": "kimi", "type": "apikey",
            "credentials": {"api_key": "sk-native-ok-5", "base_url": VENDOR},
            "extra": {"note": "mine"}, "group_ids": [g],
        })),
    );
    assert_eq!(created["extra"], json!({"note": "mine"}));
    let second = created["id"].as_i64().unwrap();
    assert!(eventually(3_000, || env.account(second)["extra"]
        == json!({"note": "mine", "openai_responses_mode": "auto", "openai_responses_supported": false})));

    // Account test: the Chat Completions path (status events) and a pass.
    let r = env.admin(
        "POST",
        &format!("/accounts/{a}/test"),
        Some(json!({"model_id": "deepseek-flash"})),
    );
    let types: Vec<Value> = r.sse().iter().map(|e| e["type"].clone()).collect();
    assert_eq!(
        types,
        ["test_start", "status", "content", "status", "test_complete"]
    );
    assert_eq!(
        env.admin_ok("GET", &format!("/accounts/{a}/models"), None)[0]["id"],
        "deepseek-flash"
    );

    let models = env.models(&key);
    assert_eq!(models.status, 200);
    assert_eq!(models.json()["data"][0]["id"], "deepseek-flash");
    assert_eq!(env.chat(&key, "deepseek-flash").status, 200);

    // A Responses marker set by hand changes nothing: the host ignores `extra` for
    // these platforms (the vendor has no /responses; chat still works).
    env.admin_ok(
        "PUT",
        &format!("/accounts/{a}"),
        Some(json!({"extra": {"openai_responses_supported": true}})),
    );
    let r = env.chat(&key, "deepseek-flash");
    assert_eq!(r.status, 200, "{}", r.text);

    // Errors come in the OpenAI shape, as for `openai` groups.
    let r = env.chat(&key, "no-such-model");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "model_not_found");
}

#[test]
fn a_vendor_402_benches_the_account_for_20_minutes_instead_of_an_error() {
    let env = Env::new();
    let (_, a, key) = native_fixture(&env, "n2@example.com", "sk-native-quota-2");
    // The account test reports the 402 and changes nothing (as on `openai`).
    let r = env.admin(
        "POST",
        &format!("/accounts/{a}/test"),
        Some(json!({"model_id": "deepseek-flash"})),
    );
    let last = r.sse().last().cloned().unwrap();
    assert!(last["error"]
        .as_str()
        .unwrap()
        .starts_with("Chat Completions API (/v1/chat/completions) returned 402: "));
    assert!(env.account(a)["temp_unschedulable_until"].is_null());

    let before = now_s();
    let r = env.chat(&key, "deepseek-flash");
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"error": {"type": "upstream_error", "message": "Upstream request failed"}})
    );
    let acct = env.account(a);
    assert_eq!(acct["status"], "active");
    assert_eq!(acct["schedulable"], true);
    assert_eq!(acct["error_message"], "");
    assert_eq!(
        acct["temp_unschedulable_reason"],
        "cn_balance_low: Insufficient Balance"
    );
    assert_eq!(acct["extra"]["deepseek_balance_low"], true);
    let until = unix_of(acct["temp_unschedulable_until"].as_str().unwrap());
    assert!(
        (before + 19 * 60..=before + 21 * 60).contains(&until),
        "{until} vs {before}"
    );
    // Nothing schedulable now: 503, not another upstream call.
    let r = env.chat(&key, "deepseek-flash");
    assert_eq!(r.status, 503);
    // The host's recovery clears the bench (the product leaves that to the host).
    env.admin_ok("POST", &format!("/accounts/{a}/recover-state"), None);
    assert!(env.account(a)["temp_unschedulable_until"].is_null());
}

#[test]
fn a_429_saying_balance_benches_too_and_401_is_still_an_error() {
    let env = Env::new();
    // The vendor's rate limit without balance wording: the 5 s fallback cooldown.
    let (_, a, key) = native_fixture(&env, "n3@example.com", "sk-native-ratelimit-3");
    let r = env.chat(&key, "deepseek-flash");
    assert_eq!(r.status, 429);
    let acct = env.account(a);
    assert!(acct["temp_unschedulable_until"].is_null());
    assert!(!acct["rate_limit_reset_at"].is_null());

    let (_, a, key) = native_fixture(&env, "n4@example.com", "sk-native-invalid-4");
    let r = env.chat(&key, "deepseek-flash");
    assert_eq!(r.status, 502);
    let acct = env.account(a);
    assert_eq!(acct["status"], "error");
    assert_eq!(acct["schedulable"], false);
    assert_eq!(
        acct["error_message"],
        "Authentication failed (401): Incorrect API key provided."
    );
}

/// Seconds since the epoch, now.
fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Seconds since the epoch of an RFC 3339 UTC time (`YYYY-MM-DDTHH:MM:SS…Z`).
fn unix_of(t: &str) -> i64 {
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (hh, mm, ss) = (n(11, 13), n(14, 16), n(17, 19));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3_600 + mm * 60 + ss
}
