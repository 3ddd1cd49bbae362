//! Each fault knob, via the Rust API and via `/__mock/faults`.

use std::time::Instant;

use crate::common::{eventually, Env};
use serde_json::json;
use sub2api_mock::Faults;

fn faults(f: Faults) -> Faults {
    Faults {
        responses_probe_delay_ms: 20,
        ..f
    }
}

#[test]
fn admin_latency() {
    let env = Env::with_faults(faults(Faults {
        admin_latency_ms: 1000,
        ..Default::default()
    }));
    let t = Instant::now();
    env.admin_ok("GET", "/groups", None);
    assert!(t.elapsed().as_millis() >= 990);
    // Gateway and public routes are not delayed.
    let t = Instant::now();
    env.c.call("GET", "/health", &[], None);
    assert!(t.elapsed().as_millis() < 800);
}

#[test]
fn account_test_latency_and_first_test_forbidden() {
    let env = Env::with_faults(faults(Faults {
        account_test_latency_ms: 300,
        first_test_forbidden: true,
        ..Default::default()
    }));
    let g = env.create_group("g", json!({}));
    let id = env.create_account(
        "a",
        "sk-good",
        "https://vendor.example.com",
        json!({}),
        &[g],
        json!({}),
    );
    let t = Instant::now();
    let first = env
        .admin("POST", &format!("/accounts/{id}/test"), None)
        .sse();
    assert!(t.elapsed().as_millis() >= 290);
    // The probe (20 ms) has marked the third-party base unsupported by then, so the
    // test runs over Chat Completions and says so, like the real host.
    assert_eq!(
        first,
        vec![
            json!({"type": "test_start", "model": "gpt-5.4"}),
            json!({"type": "status", "text": "正在通过 /v1/chat/completions 测试连接"}),
            json!({"type": "error", "error": "Chat Completions API (/v1/chat/completions) returned 403: Forbidden"}),
        ]
    );
    let second = env
        .admin("POST", &format!("/accounts/{id}/test"), None)
        .sse();
    assert_eq!(
        second.last().unwrap()["type"],
        "test_complete",
        "only once per account"
    );
    assert_eq!(env.account(id)["status"], "active");
}

#[test]
fn warmup_window() {
    let env = Env::with_faults(faults(Faults {
        warmup_ms: 1500,
        ..Default::default()
    }));
    let (g, key) = env.gateway_fixture("w@example.com");
    env.create_account(
        "a",
        "sk-good",
        "https://vendor.example.com",
        json!({"m": "m"}),
        &[g],
        json!({}),
    );
    let r = env.chat(&key, "m");
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        json!({"error": {"type": "api_error", "message": "Service temporarily unavailable"}})
    );
    assert!(eventually(6000, || env.chat(&key, "m").status == 200));
}

#[test]
fn fail_nth_admin_call() {
    let env = Env::new();
    env.host.set_faults(faults(Faults {
        fail_nth_admin_call: Some(2),
        ..Default::default()
    }));
    assert_eq!(env.admin("GET", "/groups", None).status, 200);
    let r = env.admin("GET", "/groups", None);
    assert_eq!(r.status, 500);
    assert_eq!(r.json(), json!({"code": 500, "message": "internal error"}));
    assert_eq!(env.admin("GET", "/groups", None).status, 200, "only once");
    assert_eq!(env.host.faults().fail_nth_admin_call, None);
}

#[test]
fn admin_rate_limit() {
    let env = Env::new();
    env.host.set_faults(faults(Faults {
        rate_limit_next_admin_calls: 2,
        ..Default::default()
    }));
    for _ in 0..2 {
        let r = env.admin("GET", "/groups", None);
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(
            r.json(),
            json!({"code": "RATE_LIMITED", "message": "Too many requests, please slow down and try again later"})
        );
    }
    assert_eq!(env.admin("GET", "/groups", None).status, 200);
    assert_eq!(env.host.faults().rate_limit_next_admin_calls, 0);
    assert_eq!(env.host.admin_call_count(), 3);
    assert_eq!(
        env.host.state()["counters"]["by_route"]["GET /api/v1/admin/groups"],
        3
    );
}

#[test]
fn backend_mode_and_host_version() {
    let env = Env::new();
    env.create_user("u@example.com", "secret1", 1.0);
    env.host.set_faults(faults(Faults {
        backend_mode: true,
        host_version: Some("0.1.140".into()),
        ..Default::default()
    }));
    let r = env.c.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email": "u@example.com", "password": "secret1"})),
    );
    assert_eq!(r.status, 403);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("Backend mode is active"));
    env.login("admin@example.com", sub2api_mock::DEFAULT_ADMIN_PASSWORD);
    assert_eq!(
        env.c
            .call("GET", "/api/v1/settings/public", &[], None)
            .json()["data"]["backend_mode_enabled"],
        true
    );
    assert_eq!(
        env.admin_ok("GET", "/system/version", None)["version"],
        "0.1.140"
    );
}

#[test]
fn old_host_without_channels_and_payment() {
    let env = Env::with_faults(faults(Faults {
        disable_channels: true,
        disable_payment: true,
        ..Default::default()
    }));
    for path in [
        "/api/v1/admin/channels?page=1&page_size=1",
        "/api/v1/admin/payment/plans",
    ] {
        // Even without credentials, like Gin's unmatched route.
        let r = env.c.call("GET", path, &[], None);
        assert_eq!((r.status, r.text.as_str()), (404, "404 page not found"));
    }
    assert_eq!(env.admin("GET", "/groups", None).status, 200);
}

#[test]
fn runtime_fault_api() {
    let env = Env::new();
    let r = env.c.call(
        "POST",
        "/__mock/faults",
        &[],
        Some(&json!({"rate_limit_next_admin_calls": 1, "warmup_ms": 5})),
    );
    assert_eq!(r.status, 200);
    let f = env.c.call("GET", "/__mock/faults", &[], None).json();
    assert_eq!(f["rate_limit_next_admin_calls"], 1);
    assert_eq!(f["warmup_ms"], 5);
    assert_eq!(
        f["responses_probe_delay_ms"], 30,
        "unspecified knobs keep their values"
    );
    assert_eq!(env.admin("GET", "/groups", None).status, 429);
    assert_eq!(
        env.c
            .call(
                "POST",
                "/__mock/faults",
                &[],
                Some(&json!({"warmup_ms": "x"}))
            )
            .status,
        400
    );

    env.create_group("g", json!({}));
    let st = env.c.call("GET", "/__mock/state", &[], None).json();
    assert_eq!(st["groups"].as_array().unwrap().len(), 1);
    assert_eq!(env.c.call("POST", "/__mock/reset", &[], None).status, 200);
    let st = env.c.call("GET", "/__mock/state", &[], None).json();
    assert_eq!(st["groups"], json!([]));
    assert_eq!(
        st["users"].as_array().unwrap().len(),
        1,
        "the admin is re-seeded"
    );
}

#[test]
fn responses_probe_delay() {
    let env = Env::with_faults(Faults {
        responses_probe_delay_ms: 500,
        ..Default::default()
    });
    let g = env.create_group("g", json!({}));
    let t = Instant::now();
    let id = env.create_account(
        "a",
        "sk-good",
        "https://vendor.example.com",
        json!({}),
        &[g],
        json!({}),
    );
    let early = env.account(id);
    if t.elapsed().as_millis() < 450 {
        assert!(
            early["extra"].get("openai_responses_supported").is_none(),
            "not written before the delay"
        );
    }
    assert!(eventually(3000, || env.account(id)["extra"]
        ["openai_responses_supported"]
        == json!(false)));
    assert!(t.elapsed().as_millis() >= 480);
    // Non-OpenAI accounts are never probed.
    let body = json!({"name": "claude", "platform": "anthropic", "type": "apikey", "credentials": {"api_key": "sk-ant"}});
    let cid = env.admin_ok("POST", "/accounts", Some(body))["id"]
        .as_i64()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(env.account(cid)["extra"]
        .get("openai_responses_supported")
        .is_none());
}

#[test]
fn max_concurrent_admin_refuses_calls_above_the_limit_with_retry_after() {
    let env = Env::with_faults(faults(Faults {
        admin_latency_ms: 400,
        max_concurrent_admin: Some(2),
        ..Default::default()
    }));
    let answers: Vec<(u16, Option<String>)> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..5)
            .map(|_| {
                s.spawn(|| {
                    let r = env.admin("GET", "/groups", None);
                    (r.status, r.header("retry-after").map(str::to_string))
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!((ok, refused.len()), (2, 3), "{answers:?}");
    assert!(refused.iter().all(|(_, ra)| ra.as_deref() == Some("1")));
    let counters = &env.host.state()["counters"];
    assert_eq!(counters["admin_concurrency_refused"], 3);
    assert_eq!(counters["admin_in_flight_peak"], 2);
    // Finished calls are counted out: the next one is served.
    assert_eq!(env.admin("GET", "/groups", None).status, 200);

    // An account test in flight counts too (its latency included), and the knob is
    // settable through `/__mock/faults`.
    let g = env.create_group("g", json!({}));
    let id = env.create_account(
        "a",
        "sk-good",
        "https://vendor.example.com",
        json!({}),
        &[g],
        json!({}),
    );
    let r = env.c.call(
        "POST",
        "/__mock/faults",
        &[],
        Some(&json!({"max_concurrent_admin": 1, "account_test_latency_ms": 600})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(env.host.faults().max_concurrent_admin, Some(1));
    std::thread::scope(|s| {
        let test = s.spawn(|| env.admin("POST", &format!("/accounts/{id}/test"), None));
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(env.admin("GET", "/groups", None).status, 429);
        assert_eq!(test.join().unwrap().status, 200);
    });
    assert_eq!(env.admin("GET", "/groups", None).status, 200);
}
