//! Keeping it true over HTTP: reconcile, drift, doctor, scheduler, host outages.

use crate::common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use sub2api_mock::{MockConfig, MockHost};

const KEY_A: &str = "sk-test-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "sk-test-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn setup_with(tag: &str, env: &[(&str, &str)]) -> (MockHost, Server) {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let server = start_with(&temp_dir(tag), Some(TOKEN), env);
    register_and_import(&mock, &server);
    (mock, server)
}

fn register_and_import(mock: &MockHost, server: &Server) {
    register_host_and_pack(server, mock);
    let (status, v) = server.post(
        "/api/providers/deepseek/import",
        &json!({"host_id": "main", "keys": [KEY_A, KEY_B]}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["batch"]["status"], "succeeded", "{v}");
}

fn admin(mock: &MockHost, method: &str, path: &str, body: Option<Value>) -> Value {
    let a = agent();
    let url = format!("{}{path}", mock.base_url());
    let key = mock.admin_api_key().to_string();
    let resp = match (method, body) {
        ("DELETE", _) => a.delete(&url).header("x-api-key", &key).call(),
        ("PUT", Some(b)) => a.put(&url).header("x-api-key", &key).send_json(b),
        ("GET", _) => a.get(&url).header("x-api-key", &key).call(),
        _ => unreachable!("unsupported admin call"),
    };
    let (status, v) = read(resp.unwrap());
    assert_eq!(status, 200, "{method} {path}: {v}");
    v
}

fn reconcile(server: &Server) -> Value {
    let (status, run) = server.post(
        "/api/providers/deepseek/reconcile",
        &json!({"host_id": "main"}),
    );
    assert_eq!(status, 200, "{run}");
    run
}

#[test]
fn clean_provider_reconciles_active_and_metrics_move() {
    let (_mock, server) = setup_with("rec-clean", &[("RELAY_RECONCILE_INTERVAL", "0")]);
    let run = reconcile(&server);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["verdict"], "active", "{run}");
    assert_eq!(run["access_status"], "subscription_ready");
    assert_eq!(run["differences"], json!([]));
    assert_eq!(run["trigger"], "manual");
    let (_, m) = server.get("/metrics");
    let m = m.as_str().unwrap();
    assert!(
        m.contains("relay_reconciles_total{verdict=\"active\"} 1"),
        "{m}"
    );
    assert!(m.contains("relay_provider_status{"), "{m}");
    assert!(m.contains("status=\"active\""), "{m}");
    let id = run["id"].as_str().unwrap();
    let (status, e) = server.get(&format!("/api/reconcile-runs/{id}/evidence"));
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["kind"], "reconcile_run");
    assert!(e["probes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["kind"] == "account_test"));
    assert!(e["report"]["accounts"].as_array().unwrap().len() == 2);
    let proofs = e["access_proofs"].as_array().unwrap();
    assert_eq!(proofs.len(), 1, "{e}");
    assert_eq!(proofs[0]["reconcile_run_id"], run["id"]);
    assert_eq!(proofs[0]["expected_model_seen"], true);
    let text = e.to_string();
    assert!(!text.contains(KEY_A) && !text.contains(KEY_B) && !text.contains("sk-crm-"));
    let (_, runs) = server.get("/api/providers/deepseek/reconcile-runs?host_id=main");
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
    // A disabled provider is not reconciled.
    server.post(
        "/api/providers/deepseek/disable",
        &json!({"host_id": "main"}),
    );
    let (status, e) = server.post(
        "/api/providers/deepseek/reconcile",
        &json!({"host_id": "main"}),
    );
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["error"]["code"], "provider_disabled");
    // Nothing recorded for another provider: doctor and reconcile say so.
    let (status, e) = server.post("/api/providers/qwen/reconcile", &json!({"host_id": "main"}));
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["error"]["code"], "nothing_recorded");
}

#[test]
fn an_account_deleted_by_hand_is_reported_as_drift() {
    let (mock, server) = setup_with("rec-drift", &[("RELAY_RECONCILE_INTERVAL", "0")]);
    let account = mock.state()["accounts"][0].clone();
    let id = account["id"].as_i64().unwrap();
    let name = account["name"].as_str().unwrap().to_string();
    admin(
        &mock,
        "DELETE",
        &format!("/api/v1/admin/accounts/{id}"),
        None,
    );
    let run = reconcile(&server);
    assert_eq!(run["verdict"], "drifted", "{run}");
    let diffs = run["differences"].as_array().unwrap();
    let missing = diffs
        .iter()
        .find(|d| d["kind"] == "missing")
        .expect("a missing difference");
    assert_eq!(missing["host_id"], id);
    assert!(
        missing["detail"].as_str().unwrap().contains(&name),
        "{missing}"
    );
    let (_, st) = server.get("/api/providers/deepseek/status?host_id=main");
    assert_eq!(st["hosts"][0]["install"]["status"], "drifted", "{st}");
}

#[test]
fn a_host_locked_again_fails_the_reconcile_and_becomes_unsupported() {
    let (mock, server) = setup_with("rec-locked", &[("RELAY_RECONCILE_INTERVAL", "0")]);
    // A host upgrade to a new compliance version locks the admin API again.
    mock.set_knobs(sub2api_mock::HostKnobs {
        compliance_required: true,
        ..sub2api_mock::HostKnobs::default()
    });
    let (status, e) = server.post(
        "/api/providers/deepseek/reconcile",
        &json!({"host_id": "main"}),
    );
    assert_ne!(status, 200, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("compliance"),
        "{e}"
    );
    let (_, h) = server.get("/api/hosts/main");
    assert_eq!(h["status"], "unsupported", "{h}");
    assert_eq!(h["capabilities"]["admin_compliance"], false, "{h}");
    let (_, runs) = server.get("/api/providers/deepseek/reconcile-runs?host_id=main");
    assert_eq!(runs["runs"][0]["status"], "failed", "{runs}");
}

#[test]
fn a_channel_edited_by_hand_is_changed() {
    let (mock, server) = setup_with(
        "rec-channel",
        &[
            ("RELAY_RECONCILE_INTERVAL", "0"),
            ("RELAY_WARMUP_SECS", "1"),
        ],
    );
    let channel = mock.state()["channels"][0]["id"].as_i64().unwrap();
    admin(
        &mock,
        "PUT",
        &format!("/api/v1/admin/channels/{channel}"),
        Some(json!({"model_mapping": {"deepseek": {"deepseek-flash": "something-else"}}})),
    );
    let run = reconcile(&server);
    assert_eq!(run["verdict"], "drifted", "{run}");
    let changed = run["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "changed" && d["resource_type"] == "channel")
        .cloned()
        .unwrap_or_else(|| panic!("no channel change in {run}"));
    assert_eq!(changed["host_id"], channel);
    // Reconcile --repair restores the template on the host.
    let (status, fixed) = server.post(
        "/api/providers/deepseek/reconcile",
        &json!({"host_id": "main", "repair": true}),
    );
    assert_eq!(status, 200, "{fixed}");
    assert_eq!(fixed["verdict"], "active", "{fixed}");
    assert_eq!(
        mock.state()["channels"][0]["model_mapping"]["deepseek"]["deepseek-flash"],
        "deepseek-flash"
    );
}

#[test]
fn doctor_catches_an_unbound_account_and_repair_rebinds_it() {
    let (mock, server) = setup_with(
        "rec-doctor",
        &[
            ("RELAY_RECONCILE_INTERVAL", "0"),
            ("RELAY_WARMUP_SECS", "1"),
        ],
    );
    let (status, doc) = server.get("/api/providers/deepseek/doctor?host_id=main");
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["healthy"], true, "{doc}");
    let account = mock.state()["accounts"][0]["id"].as_i64().unwrap();
    admin(
        &mock,
        "PUT",
        &format!("/api/v1/admin/accounts/{account}"),
        Some(json!({"group_ids": []})),
    );
    let (status, doc) = server.get("/api/providers/deepseek/doctor?host_id=main");
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["healthy"], false, "{doc}");
    let check = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "schedulable_account")
        .cloned()
        .unwrap();
    assert_eq!(check["status"], "fail", "{check}");
    let fix = check["fix"].as_str().unwrap();
    assert!(
        fix.contains(&format!("account {account}")) && fix.contains("not in group"),
        "{fix}"
    );
    let (status, fixed) = server.post(
        "/api/providers/deepseek/doctor",
        &json!({"host_id": "main", "repair": true}),
    );
    assert_eq!(status, 200, "{fixed}");
    assert_eq!(fixed["healthy"], true, "{fixed}");
    assert!(!fixed["repairs"].as_array().unwrap().is_empty(), "{fixed}");
    let groups = mock.state()["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == account)
        .unwrap()["group_ids"]
        .clone();
    assert_ne!(groups, json!([]), "doctor --repair rebinds the account");
}

#[test]
fn scheduler_runs_on_its_own_and_survives_a_host_outage() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let addr = mock.addr();
    let server = start_with(
        &temp_dir("rec-sched"),
        Some(TOKEN),
        &[
            ("RELAY_RECONCILE_INTERVAL", "1s"),
            ("RELAY_WARMUP_SECS", "1"),
        ],
    );
    register_and_import(&mock, &server);
    let wait_for = |what: &str, f: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for("a scheduled run", &|| {
        let (_, runs) = server.get("/api/reconcile-runs?host_id=main");
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["trigger"] == "scheduled" && r["status"] == "completed")
    });
    // The host goes down: the scheduler marks it unreachable.
    drop(mock);
    wait_for("the host to be unreachable", &|| {
        let (_, h) = server.get("/api/hosts/main");
        h["status"] == "unreachable"
    });
    // It comes back on the same address (state lost, so the provider drifts), and recovers.
    let mock = MockHost::start_on(addr, MockConfig::default()).unwrap();
    wait_for("the host to recover", &|| {
        let (_, h) = server.get("/api/hosts/main");
        h["status"] == "supported"
    });
    drop(mock);
}
