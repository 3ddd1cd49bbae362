//! The host's idempotency coordinator and its two limiters, as verified on a real
//! 0.1.179 host: enforcement exactly on the writes that take a key, replay,
//! conflicts, the processing lock, the backoff after a failed execution, the login
//! limiter and the failed custom-key limiter.

use std::time::{Duration, Instant};

use crate::common::{Env, Res};
use serde_json::{json, Value};
use sub2api_mock::{Faults, HostPolicy};

fn account_body(name: &str, group: i64) -> Value {
    json!({"name": name, "platform": "openai", "type": "apikey",
           "credentials": {"api_key": format!("sk-{name}")}, "group_ids": [group]})
}

fn post(env: &Env, path: &str, key: Option<&str>, body: &Value) -> Res {
    let mut h = vec![("x-api-key", env.key.as_str())];
    if let Some(k) = key {
        h.push(("idempotency-key", k));
    }
    env.c
        .call("POST", &format!("/api/v1/admin{path}"), &h, Some(body))
}

fn user_post(env: &Env, jwt: &str, key: Option<&str>, body: &Value) -> Res {
    let bearer = format!("Bearer {jwt}");
    let mut h = vec![("authorization", bearer.as_str())];
    if let Some(k) = key {
        h.push(("idempotency-key", k));
    }
    env.c.call("POST", "/api/v1/keys", &h, Some(body))
}

fn enforced() -> HostPolicy {
    HostPolicy {
        idempotency_enforced: true,
        ..HostPolicy::default()
    }
}

#[test]
fn enforcement_applies_exactly_to_the_writes_that_take_a_key() {
    let env = Env::new();
    let g = env.create_group("g", json!({}));
    let uid = env.create_user("u@example.com", "secret1", 0.0);
    let jwt = env.login("u@example.com", "secret1");
    env.host.set_policy(enforced());

    let required = json!({"code": 400, "message": "idempotency key is required", "reason": "IDEMPOTENCY_KEY_REQUIRED"});
    let r = post(&env, "/accounts", None, &account_body("a1", g));
    assert_eq!((r.status, r.json()), (400, required.clone()));
    let r = post(
        &env,
        "/accounts/batch",
        None,
        &json!({"accounts": [account_body("a2", g)]}),
    );
    assert_eq!((r.status, r.json()), (400, required.clone()));
    let r = post(
        &env,
        &format!("/users/{uid}/balance"),
        None,
        &json!({"balance": 2, "operation": "set"}),
    );
    assert_eq!((r.status, r.json()), (400, required.clone()));
    let r = user_post(&env, &jwt, None, &json!({"name": "k", "group_id": g}));
    assert_eq!((r.status, r.json()), (400, required));
    assert_eq!(env.admin_ok("GET", "/accounts", None)["total"], 0);

    // Binding errors come first.
    let r = post(&env, "/accounts/batch", None, &json!({"accounts": []}));
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("'min' tag"));
    let r = user_post(&env, &jwt, None, &json!({"group_id": g}));
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("CreateAPIKeyRequest.Name"));

    // Writes the host does not guard accept no key.
    env.admin_ok(
        "POST",
        "/groups",
        Some(json!({"name": "g2", "platform": "openai", "rate_multiplier": 1})),
    );
    env.admin_ok(
        "POST",
        "/users",
        Some(json!({"email": "v@example.com", "password": "secret1"})),
    );

    // With a key every guarded write runs.
    let r = post(&env, "/accounts", Some("k-a1"), &account_body("a1", g));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post(
        &env,
        &format!("/users/{uid}/balance"),
        Some("k-bal"),
        &json!({"balance": 2, "operation": "set"}),
    );
    assert_eq!(r.json()["data"]["balance"], 2.0);
    let r = user_post(
        &env,
        &jwt,
        Some("k-key"),
        &json!({"name": "k", "group_id": g}),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // Invalid keys (a space is outside the host's printable range).
    let r = post(&env, "/accounts", Some("a key"), &account_body("a3", g));
    assert_eq!(r.json()["reason"], "IDEMPOTENCY_KEY_INVALID");
    let long = "k".repeat(129);
    let r = post(&env, "/accounts", Some(&long), &account_body("a3", g));
    assert_eq!(r.json()["reason"], "IDEMPOTENCY_KEY_INVALID");
}

#[test]
fn a_failed_execution_blocks_its_key_for_the_backoff_window() {
    let env = Env::new();
    let body = account_body("orphan", 999);
    // A missing group: the host inserts the account, fails to bind the group and
    // answers 500; the account stays behind without groups.
    let first = post(&env, "/accounts", Some("k-fail"), &body);
    assert_eq!(
        (first.status, first.json()),
        (500, json!({"code": 500, "message": "internal error"}))
    );
    let again = post(&env, "/accounts", Some("k-fail"), &body);
    assert_eq!(again.status, 409);
    // What is left of the 5 s window, in whole seconds (truncated): 4, or 5 when the
    // retry lands within the same millisecond.
    let left = again.header("retry-after").unwrap_or_default().to_string();
    assert!(left == "4" || left == "5", "Retry-After {left}");
    assert_eq!(
        again.json(),
        json!({"code": 409, "message": "idempotent request is in retry backoff window",
               "reason": "IDEMPOTENCY_RETRY_BACKOFF", "metadata": {"retry_after": left}})
    );
    let accounts = env.admin_ok("GET", "/accounts", None);
    assert_eq!(accounts["total"], 1);
    assert!(
        accounts["items"][0].get("group_ids").is_none(),
        "no group: omitted"
    );

    // After the window the key runs again (and fails again: a second orphan).
    env.host.set_policy(HostPolicy {
        idempotency_retry_backoff_ms: 300,
        ..HostPolicy::default()
    });
    let short = post(&env, "/accounts", Some("k-fail-2"), &body);
    assert_eq!(short.status, 500);
    std::thread::sleep(Duration::from_millis(400));
    let retried = post(&env, "/accounts", Some("k-fail-2"), &body);
    assert_eq!(retried.status, 500);
    assert_eq!(env.admin_ok("GET", "/accounts", None)["total"], 3);
}

#[test]
fn an_injected_500_happens_inside_the_handler_so_the_backoff_applies() {
    let env = Env::new();
    let g = env.create_group("g", json!({}));
    env.host.set_policy(HostPolicy {
        idempotency_retry_backoff_ms: 1_000,
        ..HostPolicy::default()
    });
    env.host.set_faults(Faults {
        fail_nth_admin_call: Some(1),
        ..Faults::default()
    });
    let body = account_body("acc", g);
    assert_eq!(post(&env, "/accounts", Some("k-500"), &body).status, 500);
    let blocked = post(&env, "/accounts", Some("k-500"), &body);
    assert_eq!(blocked.json()["reason"], "IDEMPOTENCY_RETRY_BACKOFF");
    assert_eq!(blocked.header("retry-after"), Some("1"));
    std::thread::sleep(Duration::from_millis(1_100));
    let ok = post(&env, "/accounts", Some("k-500"), &body);
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(ok.header("x-idempotency-replayed").is_none());
    let replay = post(&env, "/accounts", Some("k-500"), &body);
    assert_eq!(replay.header("x-idempotency-replayed"), Some("true"));
    assert_eq!(replay.json()["data"]["id"], ok.json()["data"]["id"]);
    assert_eq!(env.admin_ok("GET", "/accounts", None)["total"], 1);

    // Without a key nothing is stored: the next call simply runs.
    env.host.set_faults(Faults {
        fail_nth_admin_call: Some(1),
        ..Faults::default()
    });
    let body = account_body("acc2", g);
    assert_eq!(post(&env, "/accounts", None, &body).status, 500);
    assert_eq!(post(&env, "/accounts", None, &body).status, 200);
}

#[test]
fn a_concurrent_request_with_the_same_key_is_in_progress() {
    let env = Env::new();
    let g = env.create_group("g", json!({}));
    env.host.set_faults(Faults {
        admin_latency_ms: 800,
        ..Faults::default()
    });
    let batch = json!({"accounts": [account_body("p1", g), account_body("p2", g)]});
    let second = std::thread::scope(|s| {
        let first = s.spawn(|| post(&env, "/accounts/batch", Some("k-proc"), &batch));
        std::thread::sleep(Duration::from_millis(300));
        let second = post(&env, "/accounts/batch", Some("k-proc"), &batch);
        assert_eq!(first.join().unwrap().status, 200);
        second
    });
    assert_eq!(second.status, 409);
    assert_eq!(second.json()["reason"], "IDEMPOTENCY_IN_PROGRESS");
    assert_eq!(
        second.json()["message"],
        "idempotent request is still processing"
    );
    assert_eq!(second.header("retry-after"), Some("29"));
    assert_eq!(second.json()["metadata"]["retry_after"], "29");
    assert_eq!(env.admin_ok("GET", "/accounts", None)["total"], 2);
}

#[test]
fn a_key_is_shared_by_a_scope_not_by_a_user() {
    let env = Env::new();
    let g = env.create_group("g", json!({}));
    env.create_user("a@example.com", "secret1", 0.0);
    env.create_user("b@example.com", "secret1", 0.0);
    let a = env.login("a@example.com", "secret1");
    let b = env.login("b@example.com", "secret1");
    let body = json!({"name": "k", "group_id": g});
    let first = user_post(&env, &a, Some("same"), &body);
    assert_eq!(first.status, 200);
    let replay = user_post(&env, &a, Some("same"), &body);
    assert_eq!(replay.header("x-idempotency-replayed"), Some("true"));
    assert_eq!(replay.json()["data"]["key"], first.json()["data"]["key"]);
    let other = user_post(&env, &b, Some("same"), &body);
    assert_eq!(
        (other.status, other.json()),
        (
            409,
            json!({"code": 409, "message": "idempotency key reused with different payload", "reason": "IDEMPOTENCY_KEY_CONFLICT"})
        )
    );
    // An API_KEY_EXISTS is a failed execution too: its key backs off.
    let custom = json!({"name": "k2", "group_id": g, "custom_key": first.json()["data"]["key"]});
    let exists = user_post(&env, &b, Some("exists"), &custom);
    assert_eq!(exists.json()["reason"], "API_KEY_EXISTS");
    let again = user_post(&env, &b, Some("exists"), &custom);
    assert_eq!(again.json()["reason"], "IDEMPOTENCY_RETRY_BACKOFF");
}

#[test]
fn failed_custom_key_creates_lock_custom_keys_for_the_user() {
    let env = Env::new();
    env.host.set_policy(HostPolicy {
        api_key_failure_limit: 3,
        ..HostPolicy::default()
    });
    let g = env.create_group("g", json!({}));
    env.create_user("a@example.com", "secret1", 0.0);
    env.create_user("b@example.com", "secret1", 0.0);
    let a = env.login("a@example.com", "secret1");
    let b = env.login("b@example.com", "secret1");
    let custom = |k: &str| json!({"name": "k", "group_id": g, "custom_key": k});
    assert_eq!(
        user_post(&env, &a, None, &custom("sk-custom-key-0000001")).status,
        200
    );
    for _ in 0..3 {
        let r = user_post(&env, &a, None, &custom("sk-custom-key-0000001"));
        assert_eq!(r.json()["reason"], "API_KEY_EXISTS");
    }
    let locked = user_post(&env, &a, None, &custom("sk-custom-key-0000002"));
    assert_eq!(
        (locked.status, locked.json()),
        (
            429,
            json!({"code": 429, "message": "too many failed attempts, please try again later", "reason": "API_KEY_RATE_LIMITED"})
        )
    );
    assert!(locked.header("retry-after").is_none());
    let uid =
        env.admin_ok("GET", "/users?search=a%40example.com", None)["items"][0]["id"].to_string();
    assert_eq!(env.host.state()["limits"]["key_create_failures"][&uid], 3);
    // Generated keys and other users are not affected.
    assert_eq!(
        user_post(&env, &a, None, &json!({"name": "gen", "group_id": g})).status,
        200
    );
    assert_eq!(
        user_post(&env, &b, None, &custom("sk-custom-key-0000003")).status,
        200
    );
    // The host's own texts for malformed custom keys.
    let short = user_post(&env, &b, None, &custom("short"));
    assert_eq!(
        short.json()["message"],
        "api key must be at least 16 characters"
    );
}

#[test]
fn logins_are_limited_per_client_in_a_fixed_window() {
    let env = Env::new();
    env.host.set_policy(HostPolicy {
        login_rate_limit: 3,
        login_rate_window_secs: 2,
        ..HostPolicy::default()
    });
    env.create_user("a@example.com", "secret1", 0.0);
    let started = Instant::now();
    let login = |pw: &str| {
        env.c.call(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(&json!({"email": "a@example.com", "password": pw})),
        )
    };
    assert_eq!(login("wrong-pw").status, 401, "refused logins count too");
    assert_eq!(login("secret1").status, 200);
    assert_eq!(login("secret1").status, 200);
    let limited = login("secret1");
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.json(),
        json!({"error": "rate limit exceeded", "message": "Too many requests, please try again later"})
    );
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    std::thread::sleep(
        Duration::from_secs(2).saturating_sub(started.elapsed()) + Duration::from_millis(100),
    );
    assert_eq!(login("secret1").status, 200, "a new window");
}

#[test]
fn the_legacy_batch_placeholder_creates_nothing() {
    let env = Env::new();
    let g = env.create_group("g", json!({}));
    env.host.set_policy(HostPolicy {
        legacy_account_batch: true,
        idempotency_enforced: true,
        ..HostPolicy::default()
    });
    let r = post(
        &env,
        "/accounts/batch",
        None,
        &json!({"accounts": [account_body("x1", g), account_body("x2", g)]}),
    );
    assert_eq!(
        r.json(),
        json!({"code": 0, "message": "success", "data": {"success": 2, "failed": 0, "results": []}})
    );
    assert_eq!(env.admin_ok("GET", "/accounts", None)["total"], 0);
}

#[test]
fn policy_travels_with_the_faults_document() {
    let env = Env::new();
    let r = env.c.call(
        "POST",
        "/__mock/faults",
        &[],
        Some(&json!({"idempotency_enforced": true, "login_rate_limit": 5, "warmup_ms": 10})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["idempotency_enforced"], true);
    assert_eq!(r.json()["warmup_ms"], 10);
    let p = env.host.policy();
    assert!(p.idempotency_enforced);
    assert_eq!(p.login_rate_limit, 5);
    assert_eq!(p.api_key_failure_limit, 20);
}
