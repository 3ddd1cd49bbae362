//! The main job end to end over HTTP: import, re-import, rollback, crash recovery.

use crate::common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use sub2api_mock::{Faults, MockConfig, MockHost};

const KEY_A: &str = "sk-test-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "sk-test-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn setup(tag: &str) -> (MockHost, Server) {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let dir = temp_dir(tag);
    let server = start(&dir, Some(TOKEN));
    register_host_and_pack(&server, &mock);
    (mock, server)
}

fn objects(mock: &MockHost, kind: &str) -> Vec<Value> {
    mock.state()[kind].as_array().cloned().unwrap_or_default()
}

fn host_objects(mock: &MockHost) -> Value {
    let s = mock.state();
    json!({
        "groups": s["groups"], "channels": s["channels"], "plans": s["plans"],
        "accounts": s["accounts"], "subscriptions": s["subscriptions"], "api_keys": s["api_keys"],
        "users": s["users"],
    })
}

fn import(server: &Server, body: Value) -> (u16, Value) {
    server.post("/api/providers/deepseek/import", &body)
}

#[test]
fn subscription_import_is_completion_gated_and_recorded() {
    let (mock, server) = setup("import-ok");
    let (status, v) = import(
        &server,
        json!({"host_id": "main", "keys": [KEY_A, KEY_B, KEY_A], "mode": "strict"}),
    );
    assert_eq!(status, 200, "{v}");
    let batch = &v["batch"];
    assert_eq!(batch["status"], "succeeded", "{v}");
    let report = &batch["report"];
    assert_eq!(report["phase"], "import");
    assert_eq!(report["access"]["status"], "subscription_ready");
    let proof = &report["access"]["subscription_detail"]["proof"];
    assert_eq!(proof["smoke_model_seen"], true);
    assert_eq!(proof["completion_ok"], true);
    // Items: two new keys and one duplicate line; masks only.
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items.iter().filter(|i| i["status"] == "passed").count(), 2);
    assert_eq!(
        items
            .iter()
            .filter(|i| i["status"] == "duplicate_in_request")
            .count(),
        1
    );
    // The host has exactly what the report says.
    let accounts = objects(&mock, "accounts");
    assert_eq!(accounts.len(), 2);
    assert!(accounts
        .iter()
        .all(|a| a["credentials"]["model_mapping"]["deepseek-flash"] == "deepseek-flash"));
    // DeepSeek on a 0.1.179 host: its native platform, no forced Responses mode (the
    // host routes it over Chat Completions and writes `extra` itself).
    assert!(accounts.iter().all(|a| a["platform"] == "deepseek"));
    assert!(accounts
        .iter()
        .all(|a| a["extra"]["openai_responses_mode"] != "force_chat_completions"));
    assert_eq!(report["preview"]["platform"]["platform"], "deepseek", "{v}");
    assert_eq!(
        report["preview"]["platform"]["reason"]["kind"],
        "native_supported"
    );
    assert_eq!(objects(&mock, "groups").len(), 1);
    assert_eq!(objects(&mock, "groups")[0]["platform"], "deepseek");
    assert_eq!(
        objects(&mock, "groups")[0]["subscription_type"],
        "subscription"
    );
    assert_eq!(objects(&mock, "channels").len(), 1);
    assert_eq!(objects(&mock, "subscriptions").len(), 1);
    // Recorded resources and statuses.
    let (_, res) = server.get("/api/providers/deepseek/resources?host_id=main");
    let types: Vec<&str> = res["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource_type"].as_str().unwrap())
        .collect();
    for t in [
        "group",
        "channel",
        "plan",
        "account",
        "user",
        "user_key",
        "subscription",
    ] {
        assert!(types.contains(&t), "{t} not recorded: {types:?}");
    }
    let (_, st) = server.get("/api/providers/deepseek/status?host_id=main");
    assert_eq!(st["hosts"][0]["install"]["status"], "active", "{st}");
    assert_eq!(
        st["hosts"][0]["install"]["access_status"],
        "subscription_ready"
    );
    let (_, acc) = server.get("/api/providers/deepseek/access/status?host_id=main");
    assert_eq!(acc["access_status"], "subscription_ready");
    assert_eq!(acc["subscription"]["expected_model_seen"], true);
    // No key anywhere in what the server answered.
    for text in [v.to_string(), res.to_string(), st.to_string()] {
        assert!(!text.contains(KEY_A) && !text.contains(KEY_B));
    }

    // Re-import of the same keys creates nothing.
    let (status, v2) = import(&server, json!({"host_id": "main", "keys": [KEY_A, KEY_B]}));
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["batch"]["status"], "succeeded", "{v2}");
    assert!(v2["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["status"] == "already_imported"));
    assert_eq!(objects(&mock, "accounts").len(), 2);

    // The host cannot be deleted while it holds managed resources.
    let (status, err) = server.delete("/api/hosts/main");
    assert_eq!(status, 409);
    assert_eq!(err["error"]["code"], "host_in_use");

    // Metrics moved.
    let (_, m) = server.get("/metrics");
    let m = m.as_str().unwrap().to_string();
    assert!(
        m.contains("relay_imports_total{outcome=\"succeeded\"} 2"),
        "{m}"
    );
    // Two new keys: one batch create.
    assert!(
        m.contains("relay_host_calls_total{operation=\"create_accounts_batch\",outcome=\"ok\"} 1"),
        "{m}"
    );
}

#[test]
fn batch_rollback_leaves_nothing_behind() {
    let (mock, server) = setup("rollback");
    let before = host_objects(&mock);
    let (status, v) = import(&server, json!({"host_id": "main", "keys": [KEY_A]}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["batch"]["status"], "succeeded", "{v}");
    let id = v["batch"]["id"].as_str().unwrap().to_string();
    let (status, r) = server.post(&format!("/api/import-batches/{id}/rollback"), &json!({}));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["batch"]["status"], "rolled_back");
    assert_eq!(r["rollback"]["complete"], true);
    assert_eq!(host_objects(&mock), before);
    let (_, st) = server.get("/api/providers/deepseek/status?host_id=main");
    assert_eq!(st["hosts"][0]["install"]["status"], "installed", "{st}");
    // A second rollback is refused; a provider rollback finds nothing.
    let (status, e) = server.post(&format!("/api/import-batches/{id}/rollback"), &json!({}));
    assert_eq!(status, 409, "{e}");
    let (status, e) = server.post(
        "/api/providers/deepseek/rollback",
        &json!({"host_id": "main"}),
    );
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["error"]["code"], "nothing_recorded");
}

#[test]
fn strict_failure_rolls_everything_back() {
    let (mock, server) = setup("strict-fail");
    let before = host_objects(&mock);
    let (status, v) = import(
        &server,
        json!({"host_id": "main", "keys": [KEY_A, "sk-invalid-cccccccccccccccccccccccc"], "mode": "strict"}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["batch"]["status"], "failed", "{v}");
    assert_eq!(host_objects(&mock), before);
    let failed: Vec<&Value> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["verdict"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["message"].as_str().unwrap().contains("401"));
    let (_, st) = server.get("/api/providers/deepseek/status?host_id=main");
    assert_eq!(st["hosts"][0]["install"]["status"], "failed", "{st}");
}

#[test]
fn async_import_reports_progress_until_done() {
    let (mock, server) = setup("async");
    mock.set_faults(Faults {
        account_test_latency_ms: 300,
        ..Faults::default()
    });
    let (status, v) = import(
        &server,
        json!({"host_id": "main", "keys": [KEY_A, KEY_B], "wait": false}),
    );
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["batch"]["status"], "running");
    let id = v["batch"]["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let (_, b) = server.get(&format!("/api/import-batches/{id}"));
        if b["batch"]["status"] != "running" {
            break b;
        }
        assert!(Instant::now() < deadline, "import did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["batch"]["status"], "succeeded", "{done}");
    assert_eq!(done["batch"]["counts"]["passed"], 2);
    let (_, list) = server.get("/api/import-batches?host_id=main&provider_id=deepseek");
    assert_eq!(list["batches"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_import_requests_name_the_field() {
    let (mock, server) = setup("badreq");
    let before = host_objects(&mock);
    let (status, e) = import(&server, json!({"host_id": "main", "keys": []}));
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().starts_with("keys:"),
        "{e}"
    );
    let (status, e) = import(
        &server,
        json!({"host_id": "main", "keys": [KEY_A], "mode": "yolo"}),
    );
    assert_eq!(status, 400, "{e}");
    // The field and what it takes are named; the value sent is not repeated.
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("`mode`: unknown value, expected `strict` or `partial`") && !m.contains("yolo"),
        "{e}"
    );
    let (status, e) = import(&server, json!({"keys": [KEY_A]}));
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("host_id"),
        "{e}"
    );
    let (status, e) = import(&server, json!({"host_id": "nope", "keys": [KEY_A]}));
    assert_eq!(status, 404, "{e}");
    assert_eq!(e["error"]["code"], "host_not_found");
    let (status, e) = server.post(
        "/api/providers/nosuch/import",
        &json!({"host_id": "main", "keys": [KEY_A]}),
    );
    assert_eq!(status, 404, "{e}");
    assert_eq!(e["error"]["code"], "provider_not_found");
    assert_eq!(host_objects(&mock), before);
    assert!(!e.to_string().contains(KEY_A));
}

#[test]
fn self_service_import_then_a_supplied_key_proves_access() {
    let (mock, server) = setup("selfsvc");
    let (status, v) = import(
        &server,
        json!({"host_id": "main", "keys": [KEY_A], "access_mode": "self_service"}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["batch"]["status"], "succeeded", "{v}");
    assert_eq!(v["batch"]["report"]["access"]["status"], "not_configured");
    let group = objects(&mock, "groups")[0]["id"].as_i64().unwrap();
    // An end user with a balance creates a key in the group, as a real user would.
    let key = end_user_key(&mock, group);
    let (status, v) = import(
        &server,
        json!({"host_id": "main", "keys": [KEY_A], "access_mode": "self_service", "probe_key": key}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["batch"]["report"]["access"]["status"], "self_service_ready",
        "{v}"
    );
    assert!(!v.to_string().contains(&key));
    let (_, acc) = server.get("/api/providers/deepseek/access/status?host_id=main");
    assert_eq!(acc["access_status"], "self_service_ready");
    assert_eq!(acc["self_service"]["probe_key_source"], "supplied_key");
    assert_eq!(objects(&mock, "accounts").len(), 1);
}

/// Creates a user with a balance, logs in as it and creates a key in `group`.
fn end_user_key(mock: &MockHost, group: i64) -> String {
    let a = agent();
    let base = mock.base_url();
    let admin = mock.admin_api_key().to_string();
    let (s, u) = read(
        a.post(format!("{base}/api/v1/admin/users"))
            .header("x-api-key", &admin)
            .send_json(
                json!({"email": "enduser@example.com", "password": "enduser-pass", "balance": 5.0}),
            )
            .unwrap(),
    );
    assert_eq!(s, 200, "{u}");
    let (s, login) = read(
        a.post(format!("{base}/api/v1/auth/login"))
            .send_json(json!({"email": "enduser@example.com", "password": "enduser-pass"}))
            .unwrap(),
    );
    assert_eq!(s, 200, "{login}");
    let token = login["data"]["access_token"].as_str().unwrap().to_string();
    let (s, k) = read(
        a.post(format!("{base}/api/v1/keys"))
            .header("Authorization", format!("Bearer {token}"))
            .send_json(json!({"name": "mine", "group_id": group}))
            .unwrap(),
    );
    assert_eq!(s, 200, "{k}");
    k["data"]["key"].as_str().unwrap().to_string()
}

#[test]
fn preview_writes_nothing() {
    let (mock, server) = setup("preview");
    let before = host_objects(&mock);
    let (status, p) = server.post(
        "/api/providers/deepseek/preview-import",
        &json!({"host_id": "main", "keys_text": format!("{KEY_A}\n# comment\n\n{KEY_A}\n")}),
    );
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["counts"]["new"], 1, "{p}");
    assert_eq!(p["counts"]["duplicate_in_request"], 1, "{p}");
    assert!(p["resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] == "create"));
    assert_eq!(host_objects(&mock), before);
    assert!(!p.to_string().contains(KEY_A));
}

#[test]
fn a_host_locked_after_registration_is_refused_and_its_preview_says_why() {
    let (mock, server) = setup("locked-preview");
    // An upgrade to a new compliance version locks the admin API again.
    mock.set_knobs(sub2api_mock::HostKnobs {
        compliance_required: true,
        ..sub2api_mock::HostKnobs::default()
    });
    let (status, e) = server.post("/api/hosts/main/probe", &json!({}));
    assert_eq!(status, 423, "{e}");
    assert_eq!(e["error"]["code"], "host_compliance_required");
    let (_, h) = server.get("/api/hosts/main");
    assert_eq!(h["status"], "unsupported", "{h}");
    // The preview still plans (read-only), and names the refusal the import would meet.
    mock.set_knobs(sub2api_mock::HostKnobs::default());
    let (status, p) = server.post(
        "/api/providers/deepseek/preview-import",
        &json!({"host_id": "main", "keys": [KEY_A]}),
    );
    assert_eq!(status, 200, "{p}");
    assert!(
        p["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().contains("an import is refused")),
        "{p}"
    );
    let (status, e) = import(&server, json!({"host_id": "main", "keys": [KEY_A]}));
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["error"]["code"], "host_not_supported");
    assert!(objects(&mock, "accounts").is_empty());
}

#[test]
fn killed_mid_import_becomes_interrupted_and_rolls_back_clean() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let dir = temp_dir("crash");
    let server = start(&dir, Some(TOKEN));
    let (status, _) = server.post(
        "/api/hosts",
        &json!({"name": "main", "base_url": mock.base_url(), "auth": {"kind": "api_key", "api_key": mock.admin_api_key()}}),
    );
    assert_eq!(status, 201);
    let pack = repo_root().join("packs/openai-cn-pack");
    server.post(
        "/api/packs/install",
        &json!({"path": pack.to_string_lossy()}),
    );
    let before = host_objects(&mock);
    mock.set_faults(Faults {
        account_test_latency_ms: 3_000,
        ..Faults::default()
    });
    let (status, v) = import(
        &server,
        json!({"host_id": "main", "keys": [KEY_A, KEY_B], "wait": false, "concurrency": 1}),
    );
    assert_eq!(status, 202, "{v}");
    let id = v["batch"]["id"].as_str().unwrap().to_string();
    // Wait until the first account exists on the host, then kill the server.
    let deadline = Instant::now() + Duration::from_secs(30);
    while objects(&mock, "accounts").is_empty() {
        assert!(Instant::now() < deadline, "no account was created");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut server = server;
    let _ = server.child.kill();
    let _ = server.child.wait();
    drop(server);
    mock.set_faults(Faults::default());

    let server = start(&dir, Some(TOKEN));
    let (_, b) = server.get(&format!("/api/import-batches/{id}"));
    assert_eq!(b["batch"]["status"], "interrupted", "{b}");
    let (status, r) = server.post(&format!("/api/import-batches/{id}/rollback"), &json!({}));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["batch"]["status"], "rolled_back", "{r}");
    assert_eq!(host_objects(&mock), before);
    // Neither the data directory nor the log holds a key.
    assert_no_key_at_rest(&dir, &[KEY_A, KEY_B]);
}

#[test]
fn evidence_is_self_contained_and_secret_free() {
    let (_mock, server) = setup("evidence");
    let (status, v) = import(&server, json!({"host_id": "main", "keys": [KEY_A, KEY_B]}));
    assert_eq!(status, 200, "{v}");
    let id = v["batch"]["id"].as_str().unwrap().to_string();
    let (status, e) = server.get(&format!("/api/import-batches/{id}/evidence"));
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["format"], "relay-evidence/1");
    // Not to be kept by caches on the way, nor sniffed as anything but JSON.
    let resp = crate::common::agent()
        .get(format!("{}/api/import-batches/{id}/evidence", server.base))
        .header("Authorization", format!("Bearer {}", crate::common::TOKEN))
        .call()
        .unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(e["kind"], "import_batch");
    assert_eq!(e["host"]["name"], "main");
    assert_eq!(e["batch"]["status"], "succeeded");
    assert_eq!(e["asked"]["keys"].as_array().unwrap().len(), 2);
    assert!(e["host_objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["resource_type"] == "account"));
    let probes = e["probes"].as_array().unwrap();
    assert!(probes
        .iter()
        .any(|p| p["kind"] == "account_test" && p["duration_ms"].is_number()));
    assert!(probes.iter().any(|p| p["kind"] == "gateway_chat"));
    assert_eq!(e["access_proofs"][0]["expected_model_seen"], true);
    let text = e.to_string();
    assert!(!text.contains(KEY_A) && !text.contains(KEY_B));
    assert!(!text.contains("sk-crm-"), "no managed user key in evidence");
}

#[test]
fn providers_can_be_disabled_and_enabled() {
    let (_mock, server) = setup("disable");
    let (status, v) = server.post(
        "/api/providers/deepseek/disable",
        &json!({"host_id": "main"}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "disabled");
    assert_eq!(v["disabled"], true);
    let (status, e) = import(&server, json!({"host_id": "main", "keys": [KEY_A]}));
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["error"]["code"], "provider_disabled");
    let (status, v) = server.post(
        "/api/providers/deepseek/enable",
        &json!({"host_id": "main"}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "installed");
    let (status, v) = import(&server, json!({"host_id": "main", "keys": [KEY_A]}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["batch"]["status"], "succeeded");
}

#[test]
fn a_provider_in_two_packs_needs_pack_id() {
    let (_mock, server) = setup("ambiguous");
    let other = repo_root().join("fixtures/packs/valid-minimal");
    let (status, v) = server.post(
        "/api/packs/install",
        &json!({"path": other.to_string_lossy()}),
    );
    assert_eq!(status, 201, "{v}");
    let (status, e) = import(&server, json!({"host_id": "main", "keys": [KEY_A]}));
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["code"], "ambiguous_provider");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("openai-cn-pack") && message.contains("fixture-pack"),
        "{message}"
    );
    assert!(message.contains("pack_id"), "{message}");
    let (status, v) = import(
        &server,
        json!({"host_id": "main", "pack_id": "openai-cn-pack", "keys": [KEY_A]}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["batch"]["pack_id"], "openai-cn-pack");
}
