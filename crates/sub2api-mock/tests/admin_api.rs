//! Admin API fidelity: auth, envelopes, CRUD, pagination, redaction, idempotency.

use crate::common::{eventually, Env};
use serde_json::json;

#[test]
fn admin_auth_shapes() {
    let env = Env::new();
    let r = env.c.call("GET", "/api/v1/admin/system/version", &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"code": "UNAUTHORIZED", "message": "Authorization required"})
    );

    // A present x-api-key alone decides, even with a valid JWT alongside.
    let jwt = env.login("admin@example.com", sub2api_mock::DEFAULT_ADMIN_PASSWORD);
    let bearer = format!("Bearer {jwt}");
    let r = env.c.call(
        "GET",
        "/api/v1/admin/system/version",
        &[("x-api-key", "admin-wrong"), ("authorization", &bearer)],
        None,
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"code": "INVALID_ADMIN_KEY", "message": "Invalid admin API key"})
    );

    let r = env.c.call(
        "GET",
        "/api/v1/admin/system/version",
        &[("authorization", &bearer)],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"code": 0, "message": "success", "data": {"version": "0.1.179"}})
    );

    let r = env.c.call(
        "GET",
        "/api/v1/admin/system/version",
        &[("authorization", "Bearer a.b.c")],
        None,
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "INVALID_TOKEN");

    env.create_user("plain@example.com", "secret1", 0.0);
    let user_jwt = env.login("plain@example.com", "secret1");
    let r = env.c.call(
        "GET",
        "/api/v1/admin/groups",
        &[("authorization", &format!("Bearer {user_jwt}"))],
        None,
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({"code": "FORBIDDEN", "message": "Admin access required"})
    );

    let r = env.c.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email": "plain@example.com", "password": "nope-nope"})),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], 401);
    assert_eq!(r.json()["reason"], "INVALID_CREDENTIALS");

    let r = env.c.call("POST", "/api/v1/auth/login", &[], Some(&json!({"email": "admin@example.com", "password": sub2api_mock::DEFAULT_ADMIN_PASSWORD})));
    let d = r.json()["data"].clone();
    assert_eq!(d["token_type"], "Bearer");
    assert!(d["refresh_token"].is_string() && d["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(d["user"]["id"], 1);
    assert_eq!(d["user"]["role"], "admin");
    assert_eq!(d["access_token"].as_str().unwrap().split('.').count(), 3);
}

#[test]
fn public_endpoints_and_plain_404() {
    let env = Env::new();
    assert_eq!(
        env.c.call("GET", "/health", &[], None).json(),
        json!({"status": "ok"})
    );
    let s = env
        .c
        .call("GET", "/api/v1/settings/public", &[], None)
        .json();
    assert_eq!(s["code"], 0);
    assert_eq!(s["data"]["version"], "0.1.179");
    assert_eq!(s["data"]["turnstile_enabled"], false);
    assert_eq!(s["data"]["backend_mode_enabled"], false);
    let setup = env.c.call("GET", "/setup/status", &[], None).json();
    assert_eq!(
        setup,
        json!({"code": 0, "data": {"needs_setup": false, "step": "completed"}})
    );

    for path in [
        "/api/v1/admin/nothing-here",
        "/v1/nothing",
        "/api/v1/unknown",
    ] {
        let r = env.c.call("GET", path, &[], None);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.text, "404 page not found");
        assert!(r.content_type.starts_with("text/plain"));
    }
    // Non-API paths get the SPA.
    let r = env.c.call("GET", "/dashboard", &[], None);
    assert_eq!(r.status, 200);
    assert!(r.text.contains("<html"));
}

#[test]
fn groups_crud_and_errors() {
    let env = Env::new();
    let g = env.admin_ok("POST", "/groups", Some(json!({"name": "alpha", "platform": "openai", "rate_multiplier": 1.5, "subscription_type": "standard"})));
    assert_eq!(g["id"], 1);
    assert_eq!(g["rate_multiplier"], 1.5);
    assert_eq!(g["account_count"], 0);
    let dup = env.admin(
        "POST",
        "/groups",
        Some(json!({"name": "alpha", "rate_multiplier": 1})),
    );
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json()["reason"], "GROUP_EXISTS");
    assert_eq!(dup.json()["code"], 409);

    let missing = env.admin("POST", "/groups", Some(json!({"platform": "openai"})));
    assert_eq!(missing.status, 400);
    assert!(missing.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid request: "));
    assert!(missing.json().get("reason").is_none());

    let bad = env.admin("GET", "/groups/abc", None);
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json(),
        json!({"code": 400, "message": "Invalid group ID"})
    );
    let nf = env.admin("GET", "/groups/99", None);
    assert_eq!(nf.status, 404);
    assert_eq!(nf.json()["reason"], "GROUP_NOT_FOUND");

    // The host's service refuses a multiplier <= 0 (an omitted one is 0) with a bare 500.
    for body in [
        json!({"name": "beta", "platform": "anthropic"}),
        json!({"name": "beta", "platform": "anthropic", "rate_multiplier": 0}),
    ] {
        let r = env.admin("POST", "/groups", Some(body));
        assert_eq!(r.status, 500);
        assert_eq!(r.json(), json!({"code": 500, "message": "internal error"}));
    }
    let r = env.admin("PUT", "/groups/1", Some(json!({"rate_multiplier": -1})));
    assert_eq!(r.status, 500);
    // The host's platform list: `sora` is not a group platform, the CN ones are.
    let r = env.admin(
        "POST",
        "/groups",
        Some(json!({"name": "s", "platform": "sora", "rate_multiplier": 1})),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("'oneof'"));
    for p in ["kimi", "zhipu", "deepseek", "composite"] {
        let r = env.admin(
            "POST",
            "/groups",
            Some(json!({"name": format!("cn-{p}"), "platform": p, "rate_multiplier": 1})),
        );
        assert_eq!(r.status, 200, "{p}: {}", r.text);
        let id = r.json()["data"]["id"].as_i64().unwrap();
        env.admin_ok("DELETE", &format!("/groups/{id}"), None);
    }
    let beta = env.admin_ok(
        "POST",
        "/groups",
        Some(json!({"name": "beta", "platform": "anthropic", "rate_multiplier": 1})),
    )["id"]
        .as_i64()
        .unwrap();
    let upd = env.admin_ok(
        "PUT",
        "/groups/1",
        Some(json!({"status": "inactive", "daily_limit_usd": 5})),
    );
    assert_eq!(upd["status"], "inactive");
    assert_eq!(upd["daily_limit_usd"], 5.0);
    assert_eq!(upd["name"], "alpha");
    let cleared = env.admin_ok("PUT", "/groups/1", Some(json!({"daily_limit_usd": null})));
    assert!(cleared["daily_limit_usd"].is_null());

    let list = env.admin_ok("GET", "/groups?search=BET", None);
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["name"], "beta");
    let list = env.admin_ok("GET", "/groups?platform=openai", None);
    assert_eq!(list["total"], 1);
    let all = env.admin_ok("GET", "/groups/all", None);
    assert_eq!(
        all.as_array().unwrap().len(),
        1,
        "inactive groups are not in /all"
    );

    let del = env.admin_ok("DELETE", &format!("/groups/{beta}"), None);
    assert_eq!(del["message"], "Group deleted successfully");
    assert_eq!(
        env.admin("GET", &format!("/groups/{beta}"), None).status,
        404
    );
}

#[test]
fn pagination_is_clamped_silently() {
    let env = Env::new();
    for i in 0..25 {
        env.create_group(&format!("g{i:02}"), json!({}));
    }
    let d = env.admin_ok("GET", "/groups", None);
    assert_eq!(
        (
            d["page"].as_i64(),
            d["page_size"].as_i64(),
            d["total"].as_i64(),
            d["pages"].as_i64()
        ),
        (Some(1), Some(20), Some(25), Some(2))
    );
    assert_eq!(d["items"].as_array().unwrap().len(), 20);
    let d = env.admin_ok("GET", "/groups?page=2&page_size=20", None);
    assert_eq!(d["items"].as_array().unwrap().len(), 5);
    let d = env.admin_ok("GET", "/groups?page_size=5000", None);
    assert_eq!(d["page_size"], 20, "over the max is ignored, not an error");
    let d = env.admin_ok("GET", "/groups?limit=7&page=-3", None);
    assert_eq!(
        (
            d["page_size"].as_i64(),
            d["page"].as_i64(),
            d["pages"].as_i64()
        ),
        (Some(7), Some(1), Some(4))
    );
    let d = env.admin_ok("GET", "/groups?page_size=1000", None);
    assert_eq!(d["page_size"], 1000);
    let d = env.admin_ok("GET", "/channels", None);
    assert_eq!(
        (d["total"].as_i64(), d["pages"].as_i64()),
        (Some(0), Some(1))
    );
    assert_eq!(d["items"], json!([]));
}

#[test]
fn channels_crud_and_conflicts() {
    let env = Env::new();
    let g1 = env.create_group("g1", json!({}));
    let g2 = env.create_group("g2", json!({}));
    let ch = env.admin_ok(
        "POST",
        "/channels",
        Some(json!({
            "name": "cn", "group_ids": [g1],
            "model_pricing": [{"platform": "openai", "models": ["deepseek-chat"], "input_price": 0.000001, "output_price": 0.000002}],
            "model_mapping": {"openai": {"ds": "deepseek-chat"}},
            "billing_model_source": "requested", "restrict_models": true,
        })),
    );
    assert_eq!(ch["group_ids"], json!([g1]));
    assert_eq!(ch["model_mapping"]["openai"]["ds"], "deepseek-chat");
    assert!(ch["model_pricing"][0]["id"].is_i64());
    let created = ch["created_at"].as_str().unwrap();
    assert_eq!(created.len(), 20, "{created}");
    assert!(created.ends_with('Z') && !created.contains('.'));

    let dup = env.admin("POST", "/channels", Some(json!({"name": "cn"})));
    assert_eq!(
        (dup.status, dup.json()["reason"].clone()),
        (409, json!("CHANNEL_EXISTS"))
    );
    let taken = env.admin(
        "POST",
        "/channels",
        Some(json!({"name": "other", "group_ids": [g1]})),
    );
    assert_eq!(
        (taken.status, taken.json()["reason"].clone()),
        (409, json!("GROUP_ALREADY_IN_CHANNEL"))
    );
    let invalid = env.admin(
        "POST",
        "/channels",
        Some(json!({"name": "bad", "model_pricing": [{"models": []}]})),
    );
    assert_eq!(
        (invalid.status, invalid.json()["reason"].clone()),
        (400, json!("VALIDATION_ERROR"))
    );

    let id = ch["id"].as_i64().unwrap();
    let upd = env.admin_ok(
        "PUT",
        &format!("/channels/{id}"),
        Some(json!({"group_ids": [g1, g2], "status": "disabled"})),
    );
    assert_eq!(upd["group_ids"], json!([g1, g2]));
    assert_eq!(upd["status"], "disabled");
    assert_eq!(
        upd["restrict_models"], true,
        "absent fields keep their values"
    );
    let bad = env.admin("GET", "/channels/x", None);
    assert_eq!(bad.json()["reason"], "INVALID_CHANNEL_ID");
    assert_eq!(
        env.admin_ok("DELETE", &format!("/channels/{id}"), None)["message"],
        "Channel deleted successfully"
    );
    assert_eq!(
        env.admin("GET", &format!("/channels/{id}"), None).json()["reason"],
        "CHANNEL_NOT_FOUND"
    );
}

#[test]
fn payment_plans() {
    let env = Env::new();
    let g = env.create_group("sub", json!({"subscription_type": "subscription"}));
    let r = env.admin("POST", "/payment/plans", Some(json!({"group_id": g, "name": "Monthly", "price": 9.9, "validity_days": 30, "validity_unit": "day"})));
    assert_eq!(r.status, 201);
    let plan = r.json()["data"].clone();
    assert_eq!(plan["name"], "Monthly");
    assert!(
        plan.get("original_price").is_none(),
        "zero fields are omitted"
    );
    let cases = [
        (
            json!({"group_id": g, "price": 1, "validity_days": 1, "validity_unit": "day"}),
            "PLAN_NAME_REQUIRED",
        ),
        (
            json!({"group_id": g, "name": "x", "price": 0, "validity_days": 1, "validity_unit": "day"}),
            "PLAN_PRICE_INVALID",
        ),
        (
            json!({"group_id": g, "name": "x", "price": 1, "validity_unit": "day"}),
            "PLAN_VALIDITY_REQUIRED",
        ),
        (
            json!({"group_id": g, "name": "x", "price": 1, "validity_days": 3}),
            "PLAN_VALIDITY_UNIT_REQUIRED",
        ),
    ];
    for (body, reason) in cases {
        let r = env.admin("POST", "/payment/plans", Some(body));
        assert_eq!(
            (r.status, r.json()["reason"].as_str().unwrap().to_string()),
            (400, reason.to_string())
        );
    }
    let list = env.admin_ok("GET", "/payment/plans", None);
    assert_eq!(list.as_array().unwrap().len(), 1, "bare array");
    let id = plan["id"].as_i64().unwrap();
    let upd = env.admin_ok(
        "PUT",
        &format!("/payment/plans/{id}"),
        Some(json!({"price": 19.9})),
    );
    assert_eq!(upd["price"], 19.9);
    assert_eq!(upd["name"], "Monthly");
    // The host answers a missing plan with a bare 500 (ent's not-found error is
    // not an application error), for update and delete alike.
    let missing = env.admin("PUT", "/payment/plans/77", Some(json!({"price": 1})));
    assert_eq!(missing.status, 500);
    assert_eq!(
        missing.json(),
        json!({"code": 500, "message": "internal error"})
    );
    let missing = env.admin("DELETE", "/payment/plans/77", None);
    assert_eq!(missing.status, 500);
    assert_eq!(
        missing.json(),
        json!({"code": 500, "message": "internal error"})
    );
    env.admin_ok("DELETE", &format!("/payment/plans/{id}"), None);
    assert_eq!(env.admin_ok("GET", "/payment/plans", None), json!([]));
}

#[test]
fn accounts_redaction_update_semantics_and_probe() {
    let env = Env::new();
    let g = env.create_group("g", json!({}));
    let id = env.create_account(
        "acc",
        "sk-secret-value-123",
        "https://vendor.example.com/v1",
        json!({"m": "up-m"}),
        &[g],
        json!({"extra": {"note": "x"}}),
    );
    let a = env.account(id);
    assert!(a["credentials"].get("api_key").is_none());
    assert_eq!(a["credentials_status"], json!({"has_api_key": true}));
    assert_eq!(
        a["credentials"]["base_url"],
        "https://vendor.example.com/v1"
    );
    assert_eq!(a["credentials"]["model_mapping"], json!({"m": "up-m"}));
    assert_eq!(a["group_ids"], json!([g]));
    assert!(!env
        .admin("GET", "/accounts", None)
        .text
        .contains("sk-secret-value-123"));

    // The asynchronous probe: false for a normal third-party vendor.
    assert!(eventually(2000, || env.account(id)["extra"]
        ["openai_responses_supported"]
        == json!(false)));

    // Credentials merge: api_key omitted keeps the stored key; extra replaced wholesale.
    let upd = env.admin_ok(
        "PUT",
        &format!("/accounts/{id}"),
        Some(json!({"credentials": {"base_url": "https://other.example.com", "model_mapping": {"n": "n"}}, "extra": {"openai_responses_mode": "force_chat_completions"}, "group_ids": []})),
    );
    assert_eq!(upd["credentials_status"]["has_api_key"], true);
    assert_eq!(upd["credentials"]["base_url"], "https://other.example.com");
    assert_eq!(
        upd["extra"],
        json!({"openai_responses_mode": "force_chat_completions"})
    );
    assert!(upd.get("group_ids").is_none(), "omitted when empty: {upd}");
    let st = env.host.state();
    let acct = &st["accounts"][0];
    assert_eq!(acct["api_key_sha256"], sha_hex("sk-secret-value-123"));
    assert!(!st.to_string().contains("sk-secret-value-123"));

    // An empty extra leaves it unchanged.
    let upd = env.admin_ok(
        "PUT",
        &format!("/accounts/{id}"),
        Some(json!({"extra": {}})),
    );
    assert_eq!(
        upd["extra"]["openai_responses_mode"],
        "force_chat_completions"
    );

    // List filters.
    env.create_account("zed", "sk-2", "", json!({}), &[g], json!({}));
    assert_eq!(
        env.admin_ok("GET", &format!("/accounts?group={g}"), None)["total"],
        1
    );
    assert_eq!(
        env.admin_ok("GET", "/accounts?group=ungrouped", None)["total"],
        1
    );
    assert_eq!(
        env.admin_ok("GET", "/accounts?search=ZE", None)["items"][0]["name"],
        "zed"
    );
    assert_eq!(
        env.admin("GET", "/accounts?group=weird", None).json()["reason"],
        "INVALID_GROUP_FILTER"
    );
    assert_eq!(
        env.admin("GET", "/accounts/x", None).json()["message"],
        "Invalid account ID"
    );

    // Models: mapping keys, else the default GPT list.
    let models = env.admin_ok("GET", &format!("/accounts/{id}/models"), None);
    assert_eq!(
        models,
        json!([{"id": "n", "object": "model", "created": 1704067200, "owned_by": "openai", "type": "model", "display_name": "n"}])
    );
    let defaults = env.admin_ok("GET", "/accounts/2/models", None);
    assert!(defaults
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"].as_str().unwrap().starts_with("gpt-")));

    // State endpoints.
    assert_eq!(
        env.admin_ok("GET", &format!("/accounts/{id}/temp-unschedulable"), None),
        json!({"active": false})
    );
    assert_eq!(
        env.admin_ok(
            "DELETE",
            &format!("/accounts/{id}/temp-unschedulable"),
            None
        )["message"],
        "Temp unschedulable cleared successfully"
    );
    assert_eq!(
        env.admin_ok(
            "POST",
            &format!("/accounts/{id}/schedulable"),
            Some(json!({"schedulable": false}))
        )["schedulable"],
        false
    );
    assert_eq!(
        env.admin_ok("POST", &format!("/accounts/{id}/recover-state"), None)["status"],
        "active"
    );
    assert_eq!(
        env.admin_ok("DELETE", &format!("/accounts/{id}"), None)["message"],
        "Account deleted successfully"
    );
    assert_eq!(
        env.admin("GET", &format!("/accounts/{id}"), None).json()["reason"],
        "ACCOUNT_NOT_FOUND"
    );
}

fn sha_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn batch_create_and_idempotency_replay() {
    let env = Env::new();
    let g = env.create_group("g", json!({}));
    let body = json!({"name": "idem", "platform": "openai", "type": "apikey", "credentials": {"api_key": "sk-a"}, "group_ids": [g]});
    let h = [
        ("x-api-key", env.key.as_str()),
        ("idempotency-key", "7f0c-uuid-1"),
    ];
    let first = env
        .c
        .call("POST", "/api/v1/admin/accounts", &h, Some(&body));
    assert_eq!(first.status, 200);
    assert!(first.header("x-idempotency-replayed").is_none());
    let again = env
        .c
        .call("POST", "/api/v1/admin/accounts", &h, Some(&body));
    assert_eq!(again.status, 200);
    assert_eq!(again.header("x-idempotency-replayed"), Some("true"));
    assert_eq!(again.json()["data"]["id"], first.json()["data"]["id"]);
    assert_eq!(
        env.admin_ok("GET", "/accounts", None)["total"],
        1,
        "no second account"
    );
    let mut other = body.clone();
    other["name"] = json!("different");
    let conflict = env
        .c
        .call("POST", "/api/v1/admin/accounts", &h, Some(&other));
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.json()["reason"], "IDEMPOTENCY_KEY_CONFLICT");

    // Batch items are not checked against the binding tags (an unknown platform is
    // accepted), and an item error is the Go error text; a missing group leaves the
    // inserted account behind without groups (real host 0.1.179).
    let batch = json!({"accounts": [
        {"name": "b1", "platform": "openai", "type": "apikey", "credentials": {"api_key": "sk-b1"}, "group_ids": [g]},
        {"name": "b2", "platform": "openai", "type": "nope", "credentials": {"api_key": "sk-b2"}},
        {"name": "b3", "platform": "openai", "type": "apikey", "credentials": {"api_key": "sk-b3"}, "group_ids": [999]},
        {"name": "b4", "platform": "openai", "type": "apikey", "credentials": {}, "rate_multiplier": -1},
        {"name": "", "platform": "openai", "type": "apikey", "credentials": {}},
    ]});
    let hb = [
        ("x-api-key", env.key.as_str()),
        ("idempotency-key", "batch-1"),
    ];
    let r = env
        .c
        .call("POST", "/api/v1/admin/accounts/batch", &hb, Some(&batch));
    let d = r.json()["data"].clone();
    assert_eq!(
        (d["success"].as_i64(), d["failed"].as_i64()),
        (Some(2), Some(3))
    );
    assert_eq!(d["results"][0]["success"], true);
    assert!(d["results"][0]["id"].is_i64());
    assert_eq!(d["results"][1]["success"], true);
    assert_eq!(
        d["results"][2],
        json!({"name": "b3", "success": false, "error": "ent: constraint failed: pq: insert or update on table \"account_groups\" violates foreign key constraint \"account_groups_group_id_fkey\""})
    );
    assert_eq!(
        d["results"][3],
        json!({"name": "b4", "success": false, "error": "rate_multiplier must be >= 0"})
    );
    assert_eq!(
        d["results"][4],
        json!({"name": "", "success": false, "error": "ent: validator failed for field \"Account.name\": value is less than the required length"})
    );
    let replay = env
        .c
        .call("POST", "/api/v1/admin/accounts/batch", &hb, Some(&batch));
    assert_eq!(replay.header("x-idempotency-replayed"), Some("true"));
    assert_eq!(replay.json()["data"], d);
    let accounts = env.admin_ok("GET", "/accounts?sort_by=id", None);
    assert_eq!(accounts["total"], 4, "idem, b1, b2 and the orphan b3");
    assert_eq!(accounts["items"][3]["name"], "b3");
    assert!(
        accounts["items"][3].get("group_ids").is_none(),
        "no group: omitted"
    );

    // A type error in an item fails the whole request before the coordinator.
    let bad = env.c.call(
        "POST",
        "/api/v1/admin/accounts/batch",
        &hb,
        Some(&json!({"accounts": [{"name": "x", "group_ids": ["1"]}]})),
    );
    assert_eq!(bad.status, 400);
}

#[test]
fn users_and_balance() {
    let env = Env::new();
    let u = env.admin_ok(
        "POST",
        "/users",
        Some(json!({"email": "a@example.com", "password": "secret1", "username": "alice"})),
    );
    assert_eq!(
        (
            u["role"].as_str(),
            u["status"].as_str(),
            u["balance"].as_f64()
        ),
        (Some("user"), Some("active"), Some(0.0))
    );
    let dup = env.admin(
        "POST",
        "/users",
        Some(json!({"email": "A@example.com", "password": "secret1"})),
    );
    assert_eq!(
        (dup.status, dup.json()["reason"].clone()),
        (409, json!("EMAIL_EXISTS"))
    );
    let short = env.admin(
        "POST",
        "/users",
        Some(json!({"email": "b@example.com", "password": "12345"})),
    );
    assert_eq!(short.status, 400);
    assert!(short.json().get("reason").is_none());
    let id = u["id"].as_i64().unwrap();
    let d = env.admin_ok("GET", "/users?search=ALIC", None);
    assert_eq!(d["total"], 1);
    let d = env.admin_ok("GET", "/users?search=example.com", None);
    assert_eq!(d["total"], 2, "admin and alice");

    let p = format!("/users/{id}/balance");
    assert_eq!(
        env.admin_ok("POST", &p, Some(json!({"balance": 10, "operation": "set"})))["balance"],
        10.0
    );
    assert_eq!(
        env.admin_ok(
            "POST",
            &p,
            Some(json!({"balance": 2.5, "operation": "add"}))
        )["balance"],
        12.5
    );
    assert_eq!(
        env.admin_ok(
            "POST",
            &p,
            Some(json!({"balance": 0.5, "operation": "subtract", "notes": "fee"}))
        )["balance"],
        12.0
    );
    assert_eq!(
        env.admin(
            "POST",
            &p,
            Some(json!({"balance": 1, "operation": "multiply"}))
        )
        .status,
        400
    );

    let g = env.create_group("g", json!({}));
    let upd = env.admin_ok(
        "PUT",
        &format!("/users/{id}"),
        Some(json!({"allowed_groups": [g], "notes": "vip"})),
    );
    assert_eq!(upd["allowed_groups"], json!([g]));
    assert_eq!(upd["username"], "alice");
    assert_eq!(
        env.admin_ok("GET", &format!("/users/{id}/api-keys"), None)["total"],
        0
    );
    assert_eq!(
        env.admin_ok("GET", &format!("/users/{id}/subscriptions"), None),
        json!([])
    );
    assert_eq!(
        env.admin("GET", "/users/x", None).json()["message"],
        "Invalid user ID"
    );
    env.admin_ok("DELETE", &format!("/users/{id}"), None);
    assert_eq!(
        env.admin("GET", &format!("/users/{id}"), None).json()["reason"],
        "USER_NOT_FOUND"
    );
}

#[test]
fn user_keys_rules() {
    let env = Env::new();
    let std_group = env.create_group("std", json!({}));
    let excl = env.create_group("excl", json!({"is_exclusive": true}));
    let sub_group = env.create_group("sub", json!({"subscription_type": "subscription"}));
    env.create_user("k@example.com", "secret1", 1.0);
    let jwt = env.login("k@example.com", "secret1");
    let auth = format!("Bearer {jwt}");
    let h = [("authorization", auth.as_str())];
    let post = |body: serde_json::Value| env.c.call("POST", "/api/v1/keys", &h, Some(&body));

    let r = post(json!({"name": "gen", "group_id": std_group}));
    let key = r.json()["data"]["key"].as_str().unwrap().to_string();
    assert!(
        key.starts_with("sk-")
            && key.len() == 67
            && key[3..].chars().all(|c| c.is_ascii_hexdigit())
    );
    assert_eq!(
        post(json!({"name": "s", "custom_key": "short"})).json()["reason"],
        "API_KEY_TOO_SHORT"
    );
    assert_eq!(
        post(json!({"name": "s", "custom_key": "has spaces in it!!"})).json()["reason"],
        "API_KEY_INVALID_CHARS"
    );
    assert_eq!(
        post(json!({"name": "c", "custom_key": "my-custom_key-0001"})).status,
        200
    );
    let dup = post(json!({"name": "c2", "custom_key": "my-custom_key-0001"}));
    assert_eq!(
        (dup.status, dup.json()["reason"].clone()),
        (409, json!("API_KEY_EXISTS"))
    );
    let r = post(json!({"name": "x", "group_id": excl}));
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (403, json!("GROUP_NOT_ALLOWED"))
    );
    let r = post(json!({"name": "x", "group_id": sub_group}));
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (403, json!("GROUP_NOT_ALLOWED"))
    );
    env.admin_ok(
        "POST",
        "/subscriptions/assign",
        Some(json!({"user_id": 2, "group_id": sub_group})),
    );
    assert_eq!(
        post(json!({"name": "x", "group_id": sub_group})).status,
        200
    );

    let list = env
        .c
        .call("GET", "/api/v1/keys?page_size=2", &h, None)
        .json()["data"]
        .clone();
    assert_eq!(
        (list["total"].as_i64(), list["pages"].as_i64()),
        (Some(3), Some(2))
    );
    let id = list["items"][0]["id"].as_i64().unwrap();
    let upd = env.c.call(
        "PUT",
        &format!("/api/v1/keys/{id}"),
        &h,
        Some(&json!({"name": "renamed", "status": "inactive"})),
    );
    assert_eq!(upd.json()["data"]["name"], "renamed");
    assert_eq!(
        env.c
            .call("DELETE", &format!("/api/v1/keys/{id}"), &h, None)
            .json()["data"]["message"],
        "API key deleted successfully"
    );
    assert_eq!(
        env.c.call("GET", "/api/v1/keys", &[], None).json()["code"],
        "UNAUTHORIZED"
    );
    assert_eq!(env.admin_ok("GET", "/users/2/api-keys", None)["total"], 2);
}

#[test]
fn subscriptions_assign_idempotency_and_conflicts() {
    let env = Env::new();
    let sub_group = env.create_group("sub", json!({"subscription_type": "subscription"}));
    let std_group = env.create_group("std", json!({}));
    let uid = env.create_user("s@example.com", "secret1", 0.0);
    let body = json!({"user_id": uid, "group_id": sub_group, "validity_days": 30, "notes": "n1"});
    let first = env.admin_ok("POST", "/subscriptions/assign", Some(body.clone()));
    assert_eq!(first["status"], "active");
    assert_eq!(first["assigned_by"], 1);
    let again = env.admin_ok("POST", "/subscriptions/assign", Some(body));
    assert_eq!(again["id"], first["id"], "idempotent");

    let r = env.admin(
        "POST",
        "/subscriptions/assign",
        Some(json!({"user_id": uid, "group_id": sub_group, "validity_days": 60, "notes": "n1"})),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "SUBSCRIPTION_ASSIGN_CONFLICT");
    assert_eq!(
        r.json()["metadata"],
        json!({"conflict_reason": "validity_days_mismatch"})
    );
    let r = env.admin(
        "POST",
        "/subscriptions/assign",
        Some(json!({"user_id": uid, "group_id": sub_group, "validity_days": 30, "notes": "other"})),
    );
    assert_eq!(r.json()["metadata"]["conflict_reason"], "notes_mismatch");
    let r = env.admin(
        "POST",
        "/subscriptions/assign",
        Some(json!({"user_id": uid, "group_id": std_group})),
    );
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (400, json!("GROUP_NOT_SUBSCRIPTION_TYPE"))
    );
    let r = env.admin(
        "POST",
        "/subscriptions/assign",
        Some(json!({"user_id": 999, "group_id": sub_group})),
    );
    assert_eq!(r.json()["reason"], "USER_NOT_FOUND");

    let list = env.admin_ok(
        "GET",
        &format!("/subscriptions?user_id={uid}&status=active"),
        None,
    );
    assert_eq!(list["total"], 1);
    assert_eq!(
        env.admin_ok("GET", &format!("/groups/{sub_group}/subscriptions"), None)["total"],
        1
    );
    assert_eq!(
        env.admin_ok("GET", &format!("/users/{uid}/subscriptions"), None)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let id = first["id"].as_i64().unwrap();
    assert_eq!(
        env.admin_ok("GET", &format!("/subscriptions/{id}"), None)["notes"],
        "n1"
    );
    assert_eq!(
        env.admin_ok("DELETE", &format!("/subscriptions/{id}"), None)["message"],
        "Subscription revoked successfully"
    );
    assert_eq!(
        env.admin("GET", &format!("/subscriptions/{id}"), None)
            .json()["reason"],
        "SUBSCRIPTION_NOT_FOUND"
    );
    // After a hard revoke a different validity is accepted.
    let fresh = env.admin_ok(
        "POST",
        "/subscriptions/assign",
        Some(json!({"user_id": uid, "group_id": sub_group, "validity_days": 7})),
    );
    assert_ne!(fresh["id"], first["id"]);
}
