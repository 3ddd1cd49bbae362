//! Behaviours checked against a real sub2api 0.1.179 host (see
//! `docs/host-api-notes.md`): the admin compliance gate, the gateway's invalid-auth
//! limiter, account state routes, the admin key re-binding route, revoke as a soft
//! delete, key-name escaping and the defaults of omitted fields.

use crate::common::Env;
use serde_json::{json, Value};
use sub2api_mock::HostKnobs;

const PHRASE_EN: &str =
    "I have read, understood, and agree to the Sub2API Deployment and Operation Compliance Commitment";

fn locked() -> Env {
    let env = Env::new();
    env.host.set_knobs(HostKnobs {
        compliance_required: true,
        ..HostKnobs::default()
    });
    env
}

fn jwt_admin(
    env: &Env,
    jwt: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> crate::common::Res {
    let bearer = format!("Bearer {jwt}");
    env.c.call(
        method,
        &format!("/api/v1/admin{path}"),
        &[("authorization", &bearer)],
        body.as_ref(),
    )
}

#[test]
fn compliance_gate_locks_every_admin_route_but_its_own() {
    let env = locked();
    for (method, path) in [
        ("GET", "/system/version"),
        ("GET", "/groups"),
        ("POST", "/groups"),
        ("GET", "/payment/plans"),
        ("GET", "/accounts/0/models"),
        ("POST", "/accounts/1/test"),
    ] {
        let r = env.admin(method, path, Some(json!({})));
        assert_eq!(r.status, 423, "{method} {path}: {}", r.text);
        let body = r.json();
        assert_eq!(body["code"], "ADMIN_COMPLIANCE_ACK_REQUIRED");
        assert_eq!(
            body["message"],
            "administrator compliance acknowledgement is required"
        );
        assert_eq!(body["metadata"]["version"], "v2026.06.10");
        assert_eq!(
            body["metadata"]["document_url_en"],
            "https://github.com/Wei-Shaw/sub2api/blob/main/docs/legal/admin-compliance.en.md"
        );
    }
    // Credentials are checked first; an absent route stays Gin's plain 404.
    let bad = env.c.call(
        "GET",
        "/api/v1/admin/groups",
        &[("x-api-key", "admin-wrong")],
        None,
    );
    assert_eq!(bad.status, 401);
    assert_eq!(env.admin("GET", "/nope", None).status, 404);

    let status = env.admin_ok("GET", "/compliance", None);
    assert_eq!(status["required"], true);
    assert_eq!(status["ack_phrase_en"], PHRASE_EN);
    assert!(status.get("acknowledgement").is_none());

    let wrong = env.admin(
        "POST",
        "/compliance/accept",
        Some(json!({"phrase": "yes", "language": "en"})),
    );
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["reason"], "ADMIN_COMPLIANCE_INVALID_PHRASE");
    let empty = env.admin("POST", "/compliance/accept", Some(json!({})));
    assert_eq!(empty.status, 400);
    assert!(empty.json().get("reason").is_none());
    assert_eq!(env.admin("GET", "/groups", None).status, 423);

    let accepted = env.admin_ok(
        "POST",
        "/compliance/accept",
        Some(json!({"phrase": PHRASE_EN, "language": "en"})),
    );
    assert_eq!(accepted["required"], false);
    assert_eq!(accepted["acknowledgement"]["admin_user_id"], 1);
    assert_eq!(env.admin("GET", "/groups", None).status, 200);

    // Turning the gate on again (a new commitment version) forgets the acceptance.
    env.host.set_knobs(HostKnobs::default());
    env.host.set_knobs(HostKnobs {
        compliance_required: true,
        ..HostKnobs::default()
    });
    assert_eq!(env.admin("GET", "/groups", None).status, 423);
}

#[test]
fn the_admin_key_acts_as_the_lowest_id_active_admin() {
    let env = Env::new();
    let second = env.admin_ok(
        "POST",
        "/users",
        Some(json!({"email": "second@example.com", "password": "second-pw", "role": "admin"})),
    );
    assert_eq!(second["role"], "admin");
    env.host.set_knobs(HostKnobs {
        compliance_required: true,
        ..HostKnobs::default()
    });
    let status = env.admin_ok("GET", "/compliance", None);
    assert_eq!(status["required"], true);
    // Another admin's acceptance unlocks that admin only, not the key.
    let second_jwt = env.login("second@example.com", "second-pw");
    let r = jwt_admin(
        &env,
        &second_jwt,
        "POST",
        "/compliance/accept",
        Some(json!({"phrase": PHRASE_EN})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["data"]["acknowledgement"]["admin_user_id"],
        second["id"]
    );
    assert_eq!(
        jwt_admin(&env, &second_jwt, "GET", "/groups", None).status,
        200
    );
    assert_eq!(env.admin("GET", "/groups", None).status, 423);
    let admin_jwt = env.login(
        sub2api_mock::DEFAULT_ADMIN_EMAIL,
        sub2api_mock::DEFAULT_ADMIN_PASSWORD,
    );
    // The seeded admin (id 1) accepts through the UI (its JWT): the key is unlocked too.
    let r = jwt_admin(
        &env,
        &admin_jwt,
        "POST",
        "/compliance/accept",
        Some(
            json!({"phrase": "我已阅读、理解并同意 Sub2API 部署与运营合规承诺", "language": "zh-CN"}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(env.admin("GET", "/groups", None).status, 200);
    assert_eq!(
        env.host.state()["compliance_accepted_by"],
        json!([1, second["id"]])
    );
}

#[test]
fn invalid_auth_limiter_blocks_the_client_after_the_threshold() {
    let env = Env::new();
    assert_eq!(env.host.knobs().invalid_auth_threshold, 120);
    let (_, key) = env.gateway_fixture("limited@example.com");
    env.host.set_knobs(HostKnobs {
        invalid_auth_threshold: 3,
        ..HostKnobs::default()
    });
    let keyless = || env.c.call("GET", "/v1/models", &[], None);
    for _ in 0..2 {
        assert_eq!(keyless().status, 401);
    }
    // The third failure still gets its 401 and starts the block.
    assert_eq!(env.models("sk-unknown-key-000000").status, 401);
    let blocked = keyless();
    assert_eq!(blocked.status, 429);
    assert_eq!(
        blocked.json(),
        json!({"code": "INVALID_AUTH_RATE_LIMITED", "message": "Too many invalid authentication attempts; retry later"})
    );
    let secs: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    // Every gateway call from the client is refused, a valid key included.
    assert_eq!(env.models(&key).status, 429);
    // The knob turns it off.
    env.host.set_knobs(HostKnobs {
        invalid_auth_threshold: 0,
        ..HostKnobs::default()
    });
    assert_eq!(env.models(&key).status, 200);
}

#[test]
fn faults_endpoint_reads_and_writes_the_host_knobs() {
    let env = Env::new();
    let r = env.c.call(
        "POST",
        "/__mock/faults",
        &[],
        Some(&json!({"compliance_required": true, "invalid_auth_threshold": 10})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["compliance_required"], true);
    assert_eq!(
        env.host.knobs(),
        HostKnobs {
            compliance_required: true,
            invalid_auth_threshold: 10,
            old_build: false,
            login_captcha: None,
            echo_secrets: false,
        }
    );
    assert_eq!(env.admin("GET", "/groups", None).status, 423);
    let got = env.c.call("GET", "/__mock/faults", &[], None).json();
    assert_eq!(got["invalid_auth_threshold"], 10);
    assert_eq!(got["warmup_ms"], 0);
}

#[test]
fn account_state_routes_behave_like_the_host() {
    let env = Env::new();
    let g = env.create_group("st", json!({}));
    let a = env.create_account(
        "acct",
        "sk-state-ok-1",
        "https://api.example-vendor.test/v1",
        json!({"m": "m"}),
        &[g],
        json!({}),
    );
    let acct = env.account(a);
    assert_eq!(
        acct["concurrency"], 0,
        "omitted concurrency is 0 = unlimited"
    );

    // `schedulable` is not an update field; its own route sets it ({} = false).
    let upd = env.admin_ok(
        "PUT",
        &format!("/accounts/{a}"),
        Some(json!({"schedulable": false})),
    );
    assert_eq!(upd["schedulable"], true);
    let off = env.admin_ok(
        "POST",
        &format!("/accounts/{a}/schedulable"),
        Some(json!({})),
    );
    assert_eq!(off["schedulable"], false);
    let on = env.admin_ok(
        "POST",
        &format!("/accounts/{a}/schedulable"),
        Some(json!({"schedulable": true})),
    );
    assert_eq!(on["schedulable"], true);

    // recover-state answers the account; a missing one is 404 ACCOUNT_NOT_FOUND.
    let rec = env.admin_ok("POST", &format!("/accounts/{a}/recover-state"), None);
    assert_eq!(rec["id"], a);
    assert_eq!(rec["status"], "active");
    let missing = env.admin("POST", "/accounts/999/recover-state", None);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["reason"], "ACCOUNT_NOT_FOUND");

    let batch = env.admin_ok(
        "POST",
        "/accounts/batch-clear-error",
        Some(json!({"account_ids": [a, 999]})),
    );
    assert_eq!(
        (&batch["total"], &batch["success"], &batch["failed"]),
        (&json!(2), &json!(1), &json!(1))
    );
    assert_eq!(batch["errors"][0]["account_id"], 999);
    assert!(batch["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("ACCOUNT_NOT_FOUND"));
    let empty = env.admin(
        "POST",
        "/accounts/batch-clear-error",
        Some(json!({"account_ids": []})),
    );
    assert_eq!(empty.status, 400);
    assert_eq!(empty.json()["message"], "account_ids is required");

    // Deleting twice: the host answers 200 both times.
    env.admin_ok("DELETE", &format!("/accounts/{a}"), None);
    let again = env.admin_ok("DELETE", &format!("/accounts/{a}"), None);
    assert_eq!(again["message"], "Account deleted successfully");
    assert_eq!(
        env.admin("GET", &format!("/accounts/{a}"), None).status,
        404
    );
}

#[test]
fn credentials_redaction_uses_the_hosts_key_list() {
    let env = Env::new();
    let a = env.admin_ok(
        "POST",
        "/accounts",
        Some(json!({
            "name": "creds", "platform": "grok", "type": "oauth",
            "credentials": {"sso_token": "t1", "client_secret": "kept-by-the-host", "agent_private_key": "k"},
        })),
    );
    assert_eq!(a["credentials"]["client_secret"], "kept-by-the-host");
    assert!(a["credentials"].get("sso_token").is_none());
    assert_eq!(a["credentials_status"]["has_sso_token"], true);
    assert_eq!(a["credentials_status"]["has_agent_private_key"], true);
    // Account platforms are not checked against a list by the host.
    let any = env.admin(
        "POST",
        "/accounts",
        Some(json!({"name": "x", "platform": "sora", "type": "apikey", "credentials": {"api_key": "sk-x"}})),
    );
    assert_eq!(any.status, 200, "{}", any.text);
}

#[test]
fn admin_key_rebinding_moves_a_key_between_groups() {
    let env = Env::new();
    let (g1, key) = env.gateway_fixture("rebind@example.com");
    let g2 = env.create_group("second", json!({}));
    let sub = env.create_group("subs", json!({"subscription_type": "subscription"}));
    let keys = env.admin_ok("GET", &format!("/groups/{g1}/api-keys"), None);
    let id = keys["items"][0]["id"].as_i64().unwrap();
    let user = keys["items"][0]["user_id"].as_i64().unwrap();

    let moved = env.admin_ok(
        "PUT",
        &format!("/api-keys/{id}"),
        Some(json!({"group_id": g2})),
    );
    assert_eq!(moved["api_key"]["group_id"], g2);
    assert_eq!(moved["api_key"]["key"], key.as_str());
    assert_eq!(moved["auto_granted_group_access"], false);
    let unchanged = env.admin_ok("PUT", &format!("/api-keys/{id}"), Some(json!({})));
    assert_eq!(unchanged["api_key"]["group_id"], g2);

    let r = env.admin(
        "PUT",
        &format!("/api-keys/{id}"),
        Some(json!({"group_id": sub})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["reason"], "SUBSCRIPTION_REQUIRED");
    env.admin_ok(
        "POST",
        "/subscriptions/assign",
        Some(json!({"user_id": user, "group_id": sub, "validity_days": 30})),
    );
    let moved = env.admin_ok(
        "PUT",
        &format!("/api-keys/{id}"),
        Some(json!({"group_id": sub})),
    );
    assert_eq!(moved["api_key"]["group_id"], sub);

    for (body, status, reason) in [
        (json!({"group_id": 999}), 404, "GROUP_NOT_FOUND"),
        (json!({"group_id": -1}), 400, "INVALID_GROUP_ID"),
    ] {
        let r = env.admin("PUT", &format!("/api-keys/{id}"), Some(body));
        assert_eq!(
            (r.status, r.json()["reason"].clone()),
            (status, json!(reason))
        );
    }
    let r = env.admin("PUT", "/api-keys/999", Some(json!({"group_id": g1})));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["reason"], "API_KEY_NOT_FOUND");
    env.admin_ok(
        "PUT",
        &format!("/groups/{g2}"),
        Some(json!({"status": "inactive"})),
    );
    let r = env.admin(
        "PUT",
        &format!("/api-keys/{id}"),
        Some(json!({"group_id": g2})),
    );
    assert_eq!(r.json()["reason"], "GROUP_NOT_ACTIVE");
}

#[test]
fn key_names_are_html_escaped_and_users_default_to_unlimited_concurrency() {
    let env = Env::new();
    let g = env.create_group("esc", json!({}));
    let uid = env.create_user("esc@example.com", "secret-pw", 1.0);
    assert_eq!(
        env.admin_ok("GET", &format!("/users/{uid}"), None)["concurrency"],
        0
    );
    let jwt = env.login("esc@example.com", "secret-pw");
    let bearer = format!("Bearer {jwt}");
    let r = env.c.call(
        "POST",
        "/api/v1/keys",
        &[("authorization", &bearer)],
        Some(&json!({"name": "crm-a&b<c>\"d'e", "group_id": g})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["name"], "crm-a&amp;b&lt;c&gt;&#34;d&#39;e");
}

#[test]
fn revoke_is_a_soft_delete() {
    let env = Env::new();
    let g = env.create_group("rv", json!({"subscription_type": "subscription"}));
    let uid = env.create_user("rv@example.com", "secret-pw", 0.0);
    let assign = json!({"user_id": uid, "group_id": g, "validity_days": 30});
    let sub = env.admin_ok("POST", "/subscriptions/assign", Some(assign.clone()))["id"]
        .as_i64()
        .unwrap();
    let jwt = env.login("rv@example.com", "secret-pw");
    let key = env.user_key(&jwt, g);
    assert_eq!(env.models(&key).status, 200);

    env.admin_ok("DELETE", &format!("/subscriptions/{sub}"), None);
    assert_eq!(
        env.admin("GET", &format!("/subscriptions/{sub}"), None)
            .status,
        404
    );
    assert_eq!(
        env.admin("DELETE", &format!("/subscriptions/{sub}"), None)
            .status,
        404
    );
    let listed = env.admin_ok("GET", &format!("/subscriptions?user_id={uid}"), None);
    assert_eq!(listed["items"][0]["status"], "revoked");
    let by_group = env.admin_ok("GET", &format!("/groups/{g}/subscriptions"), None);
    assert_eq!(by_group["total"], 0);
    let gw = env.models(&key);
    assert_eq!(gw.status, 403);
    assert_eq!(gw.json()["code"], "SUBSCRIPTION_NOT_FOUND");

    let again = env.admin_ok("POST", "/subscriptions/assign", Some(assign))["id"]
        .as_i64()
        .unwrap();
    assert_ne!(again, sub, "a re-assign creates a new subscription");
    assert_eq!(env.models(&key).status, 200);
}

#[test]
fn backend_mode_refuses_users_with_the_hosts_reason() {
    let env = Env::with_faults(sub2api_mock::Faults {
        backend_mode: true,
        ..sub2api_mock::Faults::default()
    });
    env.create_user("bm@example.com", "secret-pw", 0.0);
    let r = env.c.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email": "bm@example.com", "password": "secret-pw"})),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reason"], "BACKEND_MODE_ADMIN_ONLY");
}

#[test]
fn old_build_knob_hides_the_routes_an_old_build_lacks() {
    let env = Env::new();
    let g = env.create_group("old", json!({}));
    let a = env.create_account(
        "acct",
        "sk-old-ok-1",
        "https://api.example-vendor.test/v1",
        json!({"m": "m"}),
        &[g],
        json!({}),
    );
    env.host.set_knobs(HostKnobs {
        old_build: true,
        ..HostKnobs::default()
    });
    for (method, path, body) in [
        ("POST", format!("/accounts/{a}/recover-state"), None),
        (
            "POST",
            "/accounts/batch-clear-error".to_string(),
            Some(json!({"account_ids": [a]})),
        ),
        ("DELETE", format!("/accounts/{a}/temp-unschedulable"), None),
        (
            "PUT",
            "/api-keys/1".to_string(),
            Some(json!({"group_id": g})),
        ),
        ("GET", "/compliance".to_string(), None),
    ] {
        let r = env.admin(method, &path, body);
        assert_eq!(
            (r.status, r.text.as_str()),
            (404, "404 page not found"),
            "{method} {path}"
        );
    }
    assert_eq!(
        env.admin_ok("POST", &format!("/accounts/{a}/clear-error"), None)["id"],
        a
    );
}
