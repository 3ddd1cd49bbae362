//! Batch auto-import over HTTP against the real server binary and the mock host:
//! the seven `/api/batch-import` operations, paging and search, error codes, the
//! worker's end of a run, a kill -9 in the middle of a run, and no key in any answer.

use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use sub2api_mock::{MockConfig, MockHost};

const KEY_A: &str = "sk-test-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "sk-test-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const KEY_SLOW_1: &str = "sk-slow-1111111111111111111111111111aa01";
const KEY_SLOW_2: &str = "sk-slow-2222222222222222222222222222aa02";

/// Quick confirmation settings and a fixed worker name (a restart takes its leases back).
const FAST: &[(&str, &str)] = &[
    ("RELAY_CONFIRM_BACKOFF_MS", "200"),
    ("RELAY_CONFIRM_WINDOW_SECS", "20"),
    ("RELAY_WORKER_ID", "batch-test-worker"),
    ("RELAY_RECONCILE_INTERVAL", "0"),
];

fn setup(dir: &Path) -> (MockHost, Server) {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let server = start_with(dir, Some(TOKEN), FAST);
    register_host_and_pack(&server, &mock);
    (mock, server)
}

fn create(server: &Server, lines: &str) -> Value {
    let (status, v) = server.post(
        "/api/batch-import/runs",
        &json!({"host_id": "main", "lines": lines}),
    );
    assert_eq!(status, 202, "{v}");
    v
}

fn wait_ended(server: &Server, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, v) = server.get(&format!("/api/batch-import/runs/{run_id}"));
        assert_eq!(status, 200, "{v}");
        let state = v["state"].as_str().unwrap_or_default().to_string();
        if ["succeeded", "partially_succeeded", "failed", "cancelled"].contains(&state.as_str()) {
            return v;
        }
        assert!(Instant::now() < deadline, "run {run_id} did not end: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn accounts(mock: &MockHost) -> usize {
    mock.state()["accounts"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_run_goes_from_paste_to_confirmed_accounts_over_http_with_no_key_in_any_answer() {
    let dir = temp_dir("batch-http");
    let (mock, server) = setup(&dir);
    let lines = format!(
        "https://api.deepseek.com/v1 {KEY_A} deepseek v4\nhttps://api.moonshot.cn/v1 {KEY_B} kimi 2.6\nhttps://llm.unknown.example {KEY_B} m1\n"
    );
    let run = create(&server, &lines);
    let run_id = run["run_id"].as_str().unwrap().to_string();
    assert!(run_id.starts_with("run_"));
    assert_eq!(run["counts"]["total"], 3);
    let run = wait_ended(&server, &run_id);
    assert_eq!(run["state"], "partially_succeeded", "{run}");
    assert_eq!(run["access_status"], "subscription_ready", "{run}");
    assert_eq!(run["access"].as_array().unwrap().len(), 2, "{run}");
    assert_eq!(run["counts"]["succeeded"], 2);
    assert_eq!(run["counts"]["failed"], 1);
    assert!(run["finished_at"].is_i64());

    let (status, page) = server.get(&format!("/api/batch-import/runs/{run_id}/items?limit=2"));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    let (_, rest) = server.get(&format!(
        "/api/batch-import/runs/{run_id}/items?limit=2&cursor={cursor}"
    ));
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let first = &page["items"][0];
    assert_eq!(first["provider_id"], "deepseek");
    assert_eq!(first["canonical_model"], "deepseek-v4-pro");
    assert_eq!(first["reuse_decision"], "created");
    assert_eq!(first["confirmation_status"], "confirmed");
    assert_eq!(first["key_held"], false);
    assert_eq!(page["items"][1]["canonical_model"], "kimi-k2.6");
    let unknown = &rest["items"][0];
    assert_eq!(unknown["state"], "failed");
    assert!(unknown["provider_id"].is_null());

    let item_id = first["item_id"].as_str().unwrap();
    let (status, trail) = server.get(&format!("/api/batch-import/items/{item_id}/events"));
    assert_eq!(status, 200, "{trail}");
    let kinds: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for k in [
        "created",
        "decided",
        "account_ready",
        "key_erased",
        "attempt",
        "confirmed",
        "access_proven",
    ] {
        assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
    }
    assert_eq!(accounts(&mock), 2);

    // Search and filters.
    let (_, by_provider) = server.get("/api/batch-import/runs?q=MOONSHOT");
    assert_eq!(by_provider["runs"][0]["run_id"], run_id.as_str());
    let (_, by_url) = server.get("/api/batch-import/runs?q=llm.unknown");
    assert_eq!(by_url["runs"].as_array().unwrap().len(), 1);
    let (_, none) = server.get("/api/batch-import/runs?q=nothing-like-this");
    assert!(none["runs"].as_array().unwrap().is_empty());
    let (_, by_state) = server.get("/api/batch-import/runs?state=partially_succeeded&host_id=main");
    assert_eq!(by_state["runs"].as_array().unwrap().len(), 1);
    let (_, other_state) = server.get("/api/batch-import/runs?state=running");
    assert!(other_state["runs"].as_array().unwrap().is_empty());

    // Retry of the failed (refused) line: no key held any more.
    let (status, retry) = server.post(
        &format!("/api/batch-import/runs/{run_id}/retry"),
        &json!({"scope": "failed"}),
    );
    assert_eq!(status, 200, "{retry}");
    assert_eq!(retry["without_key"].as_array().unwrap().len(), 1);
    let (status, e) = server.post(
        &format!("/api/batch-import/runs/{run_id}/cancel"),
        &json!({}),
    );
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["error"]["code"], "run_state_conflict");

    // Nothing anywhere quotes a key: answers, log, database.
    let answers = format!("{run}{page}{rest}{trail}{by_provider}{retry}");
    for key in [KEY_A, KEY_B] {
        assert!(!answers.contains(key), "a key in an answer");
        assert!(!server.log().contains(key), "a key in the log");
    }
    drop(server);
    assert_no_key_at_rest(&dir, &[KEY_A, KEY_B]);
}

#[test]
fn bad_requests_name_the_field_and_unknown_ids_have_their_codes() {
    let dir = temp_dir("batch-errors");
    let (_mock, server) = setup(&dir);
    let (status, e) = server.post(
        "/api/batch-import/runs",
        &json!({"host_id": "main", "lines": format!("https://api.deepseek.com {KEY_A}\n{KEY_B}\n")}),
    );
    assert_eq!(status, 400, "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("lines: line 2"), "{message}");
    assert!(!message.contains(KEY_B));
    let (_, list) = server.get("/api/batch-import/runs");
    assert!(
        list["runs"].as_array().unwrap().is_empty(),
        "nothing recorded"
    );
    let (status, e) = server.post(
        "/api/batch-import/runs",
        &json!({"host_id": "nowhere", "lines": format!("https://api.deepseek.com {KEY_A}")}),
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("host_not_found"))
    );
    let (status, e) = server.get("/api/batch-import/runs/run_0000000000000000");
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("import_run_not_found"))
    );
    let (status, e) = server.get("/api/batch-import/items/item_0000000000000000/events");
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("import_run_item_not_found"))
    );
    for bad in [
        "limit=0",
        "limit=501",
        "limit=x",
        "state=sleeping",
        "cursor=not-a-cursor",
    ] {
        let (status, e) = server.get(&format!("/api/batch-import/runs?{bad}"));
        assert_eq!(status, 400, "{bad}: {e}");
        assert_eq!(e["error"]["code"], "invalid_request");
    }
}

#[test]
fn list_pages_with_cursors_newest_first() {
    let dir = temp_dir("batch-pages");
    let (_mock, server) = setup(&dir);
    let mut ids = Vec::new();
    for key in [KEY_A, KEY_B, KEY_SLOW_1] {
        ids.push(
            create(&server, &format!("https://api.deepseek.com {key}"))["run_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/batch-import/runs?limit=1&cursor={c}"),
            None => "/api/batch-import/runs?limit=1".to_string(),
        };
        let (status, page) = server.get(&path);
        assert_eq!(status, 200, "{page}");
        for r in page["runs"].as_array().unwrap() {
            seen.push(r["run_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "every run once, newest first");
}

#[test]
fn a_run_killed_mid_way_finishes_by_itself_after_a_restart_without_duplicates() {
    let dir = temp_dir("batch-kill");
    let (mock, mut server) = setup(&dir);
    let run = create(
        &server,
        &format!("https://api.deepseek.com {KEY_SLOW_1}\nhttps://api.deepseek.com {KEY_SLOW_2}\nhttps://api.deepseek.com {KEY_A}\n"),
    );
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while accounts(&mock) == 0 {
        assert!(Instant::now() < deadline, "no account was created");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let server = start_with(&dir, Some(TOKEN), FAST);
    let run = wait_ended(&server, &run_id);
    let (_, page) = server.get(&format!("/api/batch-import/runs/{run_id}/items"));
    assert_eq!(run["state"], "succeeded", "{run} {page}");
    assert_eq!(accounts(&mock), 3, "one account per key: no duplicate");
    let mut ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["account_id"]
                .as_i64()
                .expect("every item has its account")
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    let host_ids: Vec<i64> = mock.state()["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    for id in host_ids {
        assert!(
            ids.contains(&id),
            "host account {id} is recorded by an item: no orphan"
        );
    }
}
