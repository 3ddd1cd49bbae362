//! The audit trail over HTTP: `GET /api/audit` lists what a reconcile repair
//! changed, before → after, with the run and the operator request as its origin;
//! evidence documents carry the events; doctor runs have evidence of their own.

use crate::common::*;
use serde_json::{json, Value};
use sub2api_mock::{MockConfig, MockHost};

const KEY_A: &str = "sk-test-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn hand_edit_channel(mock: &MockHost) -> i64 {
    let channel = mock.state()["channels"][0]["id"].as_i64().unwrap();
    let resp = agent()
        .put(format!(
            "{}/api/v1/admin/channels/{channel}",
            mock.base_url()
        ))
        .header("x-api-key", mock.admin_api_key())
        .send_json(json!({"model_mapping": {"deepseek": {"deepseek-flash": "something-else"}}}))
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    channel
}

#[test]
fn the_audit_trail_lists_a_repair_s_fields_before_and_after() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let server = start_with(
        &temp_dir("audit-repair"),
        Some(TOKEN),
        &[
            ("RELAY_RECONCILE_INTERVAL", "0"),
            ("RELAY_WARMUP_SECS", "1"),
        ],
    );
    register_host_and_pack(&server, &mock);
    let (status, import) = server.post(
        "/api/providers/deepseek/import",
        &json!({"host_id": "main", "keys": [KEY_A]}),
    );
    assert_eq!(status, 200, "{import}");
    let batch_id = import["batch"]["id"].as_str().unwrap().to_string();
    let channel = hand_edit_channel(&mock);

    let resp = agent()
        .post(format!("{}/api/providers/deepseek/reconcile", server.base))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("x-request-id", "audit-repair-1")
        .send_json(json!({"host_id": "main", "repair": true}))
        .unwrap();
    let (status, run) = read(resp);
    assert_eq!(status, 200, "{run}");
    let run_id = run["id"].as_str().unwrap();

    let (status, page) = server.get("/api/audit?provider=deepseek&origin=reconcile_run");
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    let update = events
        .iter()
        .find(|e| e["object_kind"] == "channel" && e["operation"] == "update")
        .unwrap_or_else(|| panic!("no channel update in {page}"));
    assert_eq!(update["object_id"], channel);
    assert_eq!(update["outcome"], "ok");
    assert_eq!(update["origin"]["id"], run_id);
    assert_eq!(update["origin"]["request_id"], "audit-repair-1");
    let change = update["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "model_mapping.deepseek.deepseek-flash")
        .unwrap_or_else(|| panic!("the mapping is not listed: {update}"));
    assert_eq!(change["before"], "something-else");
    assert_eq!(change["after"], "deepseek-flash");

    // The import's creates are in the trail with the batch as origin.
    let (_, created) = server.get(&format!("/api/audit?origin_id={batch_id}"));
    let kinds: Vec<&Value> = created["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["object_kind"])
        .collect();
    assert!(kinds.contains(&&json!("account")), "{created}");
    assert!(created["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["origin"]["kind"] == "import_batch" && e["operation"] == "create"));
    // Paging: one at a time, to the end.
    let (_, first) = server.get(&format!("/api/audit?origin_id={batch_id}&limit=1"));
    assert_eq!(first["events"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = server.get(&format!(
        "/api/audit?origin_id={batch_id}&limit=1&cursor={cursor}"
    ));
    assert!(second["events"][0]["seq"].as_i64() > first["events"][0]["seq"].as_i64());
    // Bad filters are refused.
    let (status, _) = server.get("/api/audit?origin=nobody");
    assert_eq!(status, 400);
    let (status, _) = server.get("/api/audit?since=yesterday");
    assert_eq!(status, 400);
    let (status, later) = server.get("/api/audit?since=2999-01-01T00:00:00Z");
    assert_eq!(status, 200);
    assert_eq!(later["events"], json!([]));

    // The evidence of the run and of the batch carry their events.
    let (status, evidence) = server.get(&format!("/api/reconcile-runs/{run_id}/evidence"));
    assert_eq!(status, 200, "{evidence}");
    assert!(evidence["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["object_kind"] == "channel"));
    let (status, evidence) = server.get(&format!("/api/import-batches/{batch_id}/evidence"));
    assert_eq!(status, 200, "{evidence}");
    assert!(!evidence["audit_events"].as_array().unwrap().is_empty());
    // No key anywhere.
    let (_, all) = server.get("/api/audit");
    assert!(!all.to_string().contains(KEY_A));
}

#[test]
fn a_doctor_run_is_stored_with_its_evidence() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let server = start_with(
        &temp_dir("audit-doctor"),
        Some(TOKEN),
        &[
            ("RELAY_RECONCILE_INTERVAL", "0"),
            ("RELAY_WARMUP_SECS", "1"),
        ],
    );
    register_host_and_pack(&server, &mock);
    let (status, _) = server.post(
        "/api/providers/deepseek/import",
        &json!({"host_id": "main", "keys": [KEY_A]}),
    );
    assert_eq!(status, 200);
    // Someone unbinds the account at the host.
    let account = mock.state()["accounts"][0]["id"].as_i64().unwrap();
    let resp = agent()
        .put(format!(
            "{}/api/v1/admin/accounts/{account}",
            mock.base_url()
        ))
        .header("x-api-key", mock.admin_api_key())
        .send_json(json!({"group_ids": []}))
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (status, doctor) = server.post(
        "/api/providers/deepseek/doctor",
        &json!({"host_id": "main", "repair": true}),
    );
    assert_eq!(status, 200, "{doctor}");
    let (status, list) = server.get("/api/operations?provider=deepseek&host_id=main");
    assert_eq!(status, 200, "{list}");
    let op = &list["operations"][0];
    assert_eq!(op["kind"], "doctor");
    assert_eq!(op["asked"]["repair"], true);
    assert_eq!(op["outcome"], "succeeded");
    let id = op["id"].as_str().unwrap();
    let (status, evidence) = server.get(&format!("/api/operations/{id}/evidence"));
    assert_eq!(status, 200, "{evidence}");
    assert_eq!(evidence["kind"], "doctor");
    assert_eq!(
        evidence["operation"]["report"]["healthy"],
        doctor["healthy"]
    );
    let events = evidence["audit_events"].as_array().unwrap();
    let rebind = events
        .iter()
        .find(|e| e["object_id"] == account && e["origin"]["kind"] == "doctor")
        .unwrap_or_else(|| panic!("the rebind is not in {evidence}"));
    assert_eq!(rebind["origin"]["id"], id);
    let groups = rebind["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "group_ids")
        .unwrap_or_else(|| panic!("group_ids not listed: {rebind}"));
    assert_eq!(groups["before"], json!([]));
    assert_eq!(groups["after"].as_array().map(Vec::len), Some(1));
    let (status, missing) = server.get("/api/operations/doc_nothing/evidence");
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["code"], "operation_not_found");
}
