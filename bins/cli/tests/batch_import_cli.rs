//! `relay batch-import …` on the wire: the real CLI binary against an `httpmock` server
//! standing in for relay-server. Each test pins what the CLI sends (path, query, body)
//! and what it makes of the answer (tables, exit code), and that no key of the file is
//! ever printed, even when the server quotes one.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use httpmock::prelude::*;
use httpmock::Mock;
use serde_json::{json, Value};

use crate::common::*;

const KEY_1: &str = "sk-live-4f1c9a7d2b3e4f5a6b7c8d9e0f1a0001";
const KEY_2: &str = "sk-live-4f1c9a7d2b3e4f5a6b7c8d9e0f1a0002";
/// A key no key-shape pattern knows: only the CLI's own redaction of the file's keys
/// keeps it out of what it prints.
const OPAQUE_KEY: &str = "Zq8vN3opaqueUpstreamCredential";

/// `relay` aimed at `server` with the operator token.
fn relay(server: &MockServer, args: &[&str]) -> Command {
    let mut command = relay_command(args);
    command
        .env("RELAY_SERVER", server.base_url())
        .env("RELAY_TOKEN", TOKEN);
    command
}

fn relay_run(server: &MockServer, args: &[&str]) -> Run {
    run(relay(server, args), None)
}

/// `GET /api/hosts` with one host `host_1` named `main`.
fn mock_hosts(server: &MockServer) -> Mock<'_> {
    server.mock(|when, then| {
        when.method(GET).path("/api/hosts");
        then.status(200).json_body(json!({"hosts": [{
            "id": "host_1", "name": "main", "base_url": "https://gw.example.com",
            "auth_kind": "api_key", "admin_email": null, "version": "0.1.179",
            "status": "supported", "last_probe_at": 0, "created_at": 0, "updated_at": 0,
            "capabilities": {}, "problems": []
        }]}));
    })
}

/// A RunView with `over`'s fields.
fn run_doc(over: Value) -> Value {
    let mut doc = json!({
        "run_id": "run-1", "state": "pending", "host_id": "host_1",
        "pack_id": "openai-cn-pack", "access_mode": "subscription", "subscribers": [],
        "validity_days": null, "subscriber_validity": [], "allow_adhoc": false, "profile": false,
        "access_status": "not_configured", "access": [],
        "counts": {"total": 2, "open": 2, "succeeded": 0, "failed": 0, "skipped": 0,
                   "cancelled": 0},
        "error": null, "created_at": 1_764_900_000_000_i64,
        "updated_at": 1_764_900_000_000_i64, "finished_at": null
    });
    merge(&mut doc, over);
    doc
}

/// Counts of a run of two items.
fn counts(open: u64, succeeded: u64, failed: u64, cancelled: u64) -> Value {
    json!({"total": 2, "open": open, "succeeded": succeeded, "failed": failed,
           "skipped": 0, "cancelled": cancelled})
}

/// A RunItemView of line `line` with `over`'s fields.
fn item_doc(line: i64, over: Value) -> Value {
    let mut doc = json!({
        "item_id": format!("item-{line}"), "run_id": "run-1", "line": line,
        "base_url": "https://api.deepseek.com/v1", "fingerprint": "ab".repeat(32),
        "mask": format!("sk-l…000{line}"), "provider_id": "deepseek", "adhoc": false,
        "model_hint": null, "canonical_model": "deepseek-chat", "model_correction": null,
        "profile": null, "reuse_decision": null, "reuse_reason": null, "account_id": null,
        "state": "pending", "confirmation_status": "pending",
        "access_status": "not_configured", "attempts": 0, "next_retry_at": 0,
        "lease_owner": null, "lease_until": null, "last_error": null, "warnings": [],
        "key_held": true, "created_at": 1_764_900_000_000_i64,
        "updated_at": 1_764_900_001_000_i64
    });
    merge(&mut doc, over);
    doc
}

fn merge(doc: &mut Value, over: Value) {
    if let (Some(base), Value::Object(over)) = (doc.as_object_mut(), over) {
        base.extend(over);
    }
}

fn mock_run<'a>(server: &'a MockServer, doc: Value) -> Mock<'a> {
    server.mock(|when, then| {
        when.method(GET).path("/api/batch-import/runs/run-1");
        then.status(200).json_body(doc);
    })
}

fn mock_items<'a>(server: &'a MockServer, items: Vec<Value>) -> Mock<'a> {
    server.mock(|when, then| {
        when.method(GET)
            .path("/api/batch-import/runs/run-1/items")
            .query_param("limit", "500");
        then.status(200)
            .json_body(json!({"items": items, "next_cursor": null}));
    })
}

/// Both items done: created accounts, confirmed.
fn done_items() -> Vec<Value> {
    vec![
        item_doc(
            1,
            json!({"state": "succeeded", "confirmation_status": "confirmed",
                   "reuse_decision": "created", "account_id": 11, "attempts": 1,
                   "key_held": false, "updated_at": 1_764_900_003_000_i64}),
        ),
        item_doc(
            2,
            json!({"state": "succeeded", "confirmation_status": "confirmed",
                   "reuse_decision": "created", "account_id": 12, "attempts": 3,
                   "key_held": false, "updated_at": 1_764_900_004_000_i64}),
        ),
    ]
}

#[test]
fn create_sends_the_file_as_it_is_and_prints_no_key() {
    let server = MockServer::start();
    let dir = temp_dir("bi-create");
    let text = format!(
        "# two upstreams\nhttps://api.deepseek.com/v1 {KEY_1}\n\n\
         https://api.moonshot.cn/v1\t{KEY_2}\tkimi 2.6\n"
    );
    let file = write(&dir, "lines.txt", &text);
    let create = server.mock(|when, then| {
        when.method(POST)
            .path("/api/batch-import/runs")
            .header("authorization", format!("Bearer {TOKEN}"))
            .json_body(json!({
                "host_id": "main", "lines": text, "pack_id": "openai-cn-pack",
                "access_mode": "self_service", "allow_adhoc": true, "profile": true,
                "subscribers": [{"email": "alice@example.com"},
                                {"user_id": 42, "validity_days": 5}, {"user_id": 7}],
                "validity_days": 30
            }));
        then.status(202).json_body(run_doc(json!({
            "access_mode": "self_service", "allow_adhoc": true, "profile": true,
            "subscribers": ["alice@example.com", "42", "7"], "validity_days": 30,
            "subscriber_validity": [{"subscriber": "42", "validity_days": 5}]
        })));
    });
    let hosts = mock_hosts(&server);
    let out = relay_run(
        &server,
        &[
            "batch-import",
            "create",
            "--host",
            "main",
            "--file",
            s(&file),
            "--pack",
            "openai-cn-pack",
            "--access-mode",
            "self_service",
            "--allow-adhoc",
            "--profile",
            "--subscriber",
            "alice@example.com",
            "--subscriber",
            "42:5",
            "--subscriber-id",
            "7",
            "--validity-days",
            "30",
        ],
    )
    .expect(0);
    create.assert_calls(1);
    hosts.assert_calls(1);
    let text = out.stdout();
    assert_eq!(field(&text, "run"), "run-1", "{text}");
    assert_eq!(field(&text, "state"), "pending", "{text}");
    assert_eq!(field(&text, "host"), "main", "{text}");
    assert_eq!(field(&text, "subscribers"), "alice@example.com, 42, 7");
    assert_eq!(field(&text, "validity_days"), "30");
    assert_eq!(field(&text, "subscriber_validity"), "42:5");
    assert_eq!(field(&text, "allow_adhoc"), "yes");
    assert_eq!(
        field(&text, "items"),
        "2 total: 0 ok, 0 failed, 0 skipped, 0 cancelled, 2 open"
    );
    assert!(
        text.ends_with("\nstarted run run-1; follow it with `relay batch-import watch run-1`\n"),
        "{text}"
    );
    out.assert_hides(KEY_1);
    out.assert_hides(KEY_2);
}

#[test]
fn create_reads_stdin_and_defaults_to_the_servers_choices() {
    let server = MockServer::start();
    let text = format!("https://api.deepseek.com {KEY_1}\n");
    let create = server.mock(|when, then| {
        when.method(POST)
            .path("/api/batch-import/runs")
            .json_body(json!({
                "host_id": "host_1", "lines": text, "allow_adhoc": false, "profile": false,
                "subscribers": []
            }));
        then.status(202).json_body(run_doc(json!({})));
    });
    let out = run(
        relay(
            &server,
            &[
                "--output",
                "json",
                "batch-import",
                "create",
                "--host",
                "host_1",
                "--file",
                "-",
            ],
        ),
        Some(&text),
    )
    .expect(0);
    create.assert_calls(1);
    let doc = out.json();
    assert_eq!(doc["run_id"], "run-1");
    assert_eq!(doc["state"], "pending");
    out.assert_hides(KEY_1);
}

#[test]
fn a_refused_create_names_the_error_without_the_key_the_server_quoted() {
    let server = MockServer::start();
    let dir = temp_dir("bi-refused");
    let file = write(
        &dir,
        "lines.txt",
        &format!("https://api.deepseek.com {OPAQUE_KEY}\nhttps://x.example {KEY_2}\n"),
    );
    let create = server.mock(|when, then| {
        when.method(POST).path("/api/batch-import/runs");
        then.status(400).json_body(json!({"error": {
            "code": "invalid_request",
            "message": format!("line 1: key {OPAQUE_KEY} refused; line 2: key {KEY_2} refused")
        }}));
    });
    let out = relay_run(
        &server,
        &[
            "batch-import",
            "create",
            "--host",
            "main",
            "--file",
            s(&file),
        ],
    )
    .expect(1);
    create.assert_calls(1);
    assert_eq!(out.stdout(), "");
    let err = out.stderr();
    assert!(
        err.starts_with("error: invalid_request: line 1: key [redacted] refused; line 2: key "),
        "{err}"
    );
    out.assert_hides(OPAQUE_KEY);
    out.assert_hides(KEY_2);
}

#[test]
fn a_file_without_lines_is_a_usage_error_and_sends_nothing() {
    let server = MockServer::start();
    let dir = temp_dir("bi-empty");
    let file = write(&dir, "lines.txt", "# nothing yet\n\n");
    let create = server.mock(|when, then| {
        when.method(POST).path("/api/batch-import/runs");
        then.status(202).json_body(run_doc(json!({})));
    });
    let out = relay_run(
        &server,
        &[
            "batch-import",
            "create",
            "--host",
            "main",
            "--file",
            s(&file),
        ],
    )
    .expect(2);
    assert!(
        out.stderr().starts_with("error: usage: --file ")
            && out.stderr().contains(": no line found"),
        "{}",
        out.stderr()
    );
    // Both the token and the lines from stdin cannot be.
    let out = run(
        relay(
            &server,
            &[
                "--token-file",
                "-",
                "batch-import",
                "create",
                "--host",
                "main",
                "--file",
                "-",
            ],
        ),
        Some("x"),
    )
    .expect(2);
    assert!(
        out.stderr().contains("--token-file and --file"),
        "{}",
        out.stderr()
    );
    create.assert_calls(0);
}

#[test]
fn list_passes_the_filters_and_shows_counts_and_the_next_page() {
    let server = MockServer::start();
    let page = server.mock(|when, then| {
        when.method(GET)
            .path("/api/batch-import/runs")
            .query_param("state", "partially_succeeded")
            .query_param("host_id", "main")
            .query_param("provider_id", "moonshot")
            .query_param("q", "api.moonshot")
            .query_param("cursor", "c-0")
            .query_param("limit", "1");
        then.status(200).json_body(json!({
            "runs": [run_doc(json!({
                "state": "partially_succeeded", "access_status": "subscription_ready",
                "counts": {"total": 4, "open": 0, "succeeded": 2, "failed": 1, "skipped": 1,
                           "cancelled": 0}
            }))],
            "next_cursor": "c-1"
        }));
    });
    let hosts = mock_hosts(&server);
    let out = relay_run(
        &server,
        &[
            "batch-import",
            "list",
            "--state",
            "partially_succeeded",
            "--host",
            "main",
            "--provider",
            "moonshot",
            "--q",
            "api.moonshot",
            "--cursor",
            "c-0",
            "--limit",
            "1",
        ],
    )
    .expect(0);
    page.assert_calls(1);
    hosts.assert_calls(1);
    let text = out.stdout();
    assert_eq!(
        row(&text, "RUN"),
        [
            "RUN",
            "STATE",
            "HOST",
            "OK/FAILED/SKIPPED/OPEN",
            "ACCESS",
            "CREATED"
        ]
    );
    assert_eq!(
        row(&text, "run-1"),
        [
            "run-1",
            "partially_succeeded",
            "main",
            "2/1/1/0",
            "of",
            "4",
            "subscription_ready",
            "2025-12-05",
            "02:00:00Z"
        ],
        "{text}"
    );
    assert!(
        text.ends_with(
            "\nmore runs: add --cursor c-1 (same filters) for the next page, or --all\n"
        ),
        "{text}"
    );

    // A state outside the vocabulary never reaches the server.
    let out = relay_run(&server, &["batch-import", "list", "--state", "done"]).expect(2);
    assert!(
        out.stderr().contains("partially_succeeded"),
        "{}",
        out.stderr()
    );
    let out = relay_run(&server, &["batch-import", "list", "--limit", "501"]).expect(2);
    assert!(out.stderr().contains("501"), "{}", out.stderr());
    page.assert_calls(1);
}

#[test]
fn list_all_follows_the_cursor_to_the_last_page() {
    let server = MockServer::start();
    let first = server.mock(|when, then| {
        when.method(GET)
            .path("/api/batch-import/runs")
            .query_param_missing("cursor");
        then.status(200).json_body(json!({
            "runs": [run_doc(json!({"run_id": "run-2"}))], "next_cursor": "c-1"
        }));
    });
    let second = server.mock(|when, then| {
        when.method(GET)
            .path("/api/batch-import/runs")
            .query_param("cursor", "c-1");
        then.status(200).json_body(json!({
            "runs": [run_doc(json!({"run_id": "run-1"}))], "next_cursor": null
        }));
    });
    let out = relay_run(
        &server,
        &["--output", "json", "batch-import", "list", "--all"],
    )
    .expect(0);
    first.assert_calls(1);
    second.assert_calls(1);
    let doc = out.json();
    let ids: Vec<&str> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["run-2", "run-1"]);
    assert_eq!(doc["next_cursor"], Value::Null);
}

#[test]
fn show_prints_the_run_and_its_access_proof() {
    let server = MockServer::start();
    let run = mock_run(
        &server,
        run_doc(json!({
            "state": "succeeded", "access_status": "subscription_ready",
            "counts": counts(0, 2, 0, 0), "finished_at": 1_764_900_060_000_i64,
            "access": [{"provider_id": "deepseek", "access_status": "subscription_ready",
                        "subscription": "ready", "self_service": "not_attempted",
                        "completion_status": 200, "message": null}]
        })),
    );
    mock_hosts(&server);
    let out = relay_run(&server, &["batch-import", "show", "run-1"]).expect(0);
    run.assert_calls(1);
    let text = out.stdout();
    assert_eq!(field(&text, "state"), "succeeded");
    assert_eq!(field(&text, "access"), "subscription_ready");
    assert_eq!(field(&text, "finished_at"), "2025-12-05 02:01:00Z");
    assert!(
        text.contains("\naccess proof:\n  PROVIDER  ACCESS"),
        "{text}"
    );
    assert_eq!(
        row(&text, "deepseek"),
        [
            "deepseek",
            "subscription_ready",
            "ready",
            "not_attempted",
            "200",
            "-"
        ]
    );

    let missing = server.mock(|when, then| {
        when.method(GET).path("/api/batch-import/runs/run%2F9");
        then.status(404).json_body(json!({"error": {
            "code": "import_run_not_found", "message": "no batch-import run run/9"
        }}));
    });
    let out = relay_run(&server, &["batch-import", "show", "run/9"]).expect(1);
    missing.assert_calls(1);
    assert_eq!(
        out.stderr(),
        "error: import_run_not_found: no batch-import run run/9\n"
    );
}

#[test]
fn items_show_masks_corrections_reuse_and_ad_hoc_providers() {
    let server = MockServer::start();
    let page = server.mock(|when, then| {
        when.method(GET)
            .path("/api/batch-import/runs/run-1/items")
            .query_param("limit", "2");
        then.status(200).json_body(json!({
            "items": [
                item_doc(1, json!({
                    "state": "succeeded", "confirmation_status": "confirmed",
                    "reuse_decision": "reactivated", "reuse_reason": "account 9 was disabled",
                    "account_id": 9, "attempts": 2
                })),
                item_doc(2, json!({
                    "base_url": "https://llm.example.org/v1", "provider_id": "adhoc-llm-example-org",
                    "adhoc": true, "model_hint": "kimi 2.6", "canonical_model": "kimi-k2.6",
                    "model_correction": "\"kimi 2.6\" → \"kimi-k2.6\" (alias)",
                    "state": "failed", "confirmation_status": "failed_confirmation",
                    "reuse_decision": "created", "account_id": 12, "attempts": 5,
                    "last_error": "503 no available accounts after 5 attempts",
                    "warnings": ["unknown model hint"]
                }))
            ],
            "next_cursor": "i-2"
        }));
    });
    let out = relay_run(&server, &["batch-import", "items", "run-1", "--limit", "2"]).expect(0);
    page.assert_calls(1);
    let text = out.stdout();
    assert_eq!(
        row(&text, "LINE"),
        [
            "LINE",
            "ITEM",
            "KEY",
            "PROVIDER",
            "MODEL",
            "REUSE",
            "ACCOUNT",
            "STATE",
            "CONFIRMATION",
            "ATTEMPTS",
            "LAST_ERROR"
        ]
    );
    assert_eq!(
        row(&text, "1"),
        [
            "1",
            "item-1",
            "sk-l…0001",
            "deepseek",
            "deepseek-chat",
            "reactivated",
            "9",
            "succeeded",
            "confirmed",
            "2",
            "-"
        ],
        "{text}"
    );
    assert!(
        text.contains(
            "2     item-2  sk-l…0002  adhoc-llm-example-org (ad-hoc)  \"kimi 2.6\" → \"kimi-k2.6\" (alias)  \
             created      12       failed     failed_confirmation  5         503 no available \
             accounts after 5 attempts\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "\nnotes:\n  line 1: reactivated: account 9 was disabled\n  line 2: warning: \
             unknown model hint\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("\nmore items: add --cursor i-2 for the next page, or --all\n"),
        "{text}"
    );
}

#[test]
fn events_show_the_trail() {
    let server = MockServer::start();
    let trail = server.mock(|when, then| {
        when.method(GET)
            .path("/api/batch-import/items/item-2/events");
        then.status(200).json_body(json!({"events": [
            {"id": 1, "item_id": "item-2", "run_id": "run-1", "at": 1_764_900_000_000_i64,
             "kind": "created", "attempt": null, "answer_class": null, "decision": null,
             "message": "line 2", "details": {}},
            {"id": 2, "item_id": "item-2", "run_id": "run-1", "at": 1_764_900_002_000_i64,
             "kind": "attempt", "attempt": 1, "answer_class": "warmup_forbidden_403",
             "decision": "retry", "message": "first-test 403 race", "details": {"status": 403}}
        ]}));
    });
    let out = relay_run(&server, &["batch-import", "events", "item-2"]).expect(0);
    trail.assert_calls(1);
    let text = out.stdout();
    assert_eq!(
        text.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["TIME", "KIND", "ATTEMPT", "ANSWER", "DECISION", "MESSAGE"]
    );
    assert!(
        text.contains(
            "2025-12-05 02:00:02Z  attempt  1        warmup_forbidden_403  retry     \
             first-test 403 race\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("2025-12-05 02:00:00Z  created  -        -"),
        "{text}"
    );
}

#[test]
fn retry_sends_its_scope_and_names_items_without_a_key() {
    let server = MockServer::start();
    let answer = |retried: Vec<&str>, without_key: Vec<&str>| {
        json!({"run": run_doc(json!({"state": "pending"})), "retried": retried,
               "without_key": without_key})
    };
    let failed = server.mock(|when, then| {
        when.method(POST)
            .path("/api/batch-import/runs/run-1/retry")
            .json_body(json!({"scope": "failed"}));
        then.status(200).json_body(answer(vec!["item-2"], vec![]));
    });
    let all = server.mock(|when, then| {
        when.method(POST)
            .path("/api/batch-import/runs/run-1/retry")
            .json_body(json!({"scope": "all"}));
        then.status(200)
            .json_body(answer(vec!["item-2"], vec!["item-3"]));
    });
    mock_hosts(&server);
    let out = relay_run(&server, &["batch-import", "retry", "run-1"]).expect(0);
    failed.assert_calls(1);
    let text = out.stdout();
    assert!(text.contains("\nretried 1 item(s): item-2\n"), "{text}");
    assert_eq!(out.stderr(), "");

    let out = relay_run(&server, &["batch-import", "retry", "run-1", "--all"]).expect(0);
    all.assert_calls(1);
    assert!(
        out.stderr().starts_with(
            "warning: 1 item(s) left as they are: no account and no key held any more"
        ) && out.stderr().contains("item-3"),
        "{}",
        out.stderr()
    );
}

#[test]
fn cancel_asks_for_yes_and_posts_without_a_body() {
    let server = MockServer::start();
    let cancel = server.mock(|when, then| {
        when.method(POST)
            .path("/api/batch-import/runs/run-1/cancel")
            .body("")
            .header_missing("content-type")
            .header_missing("transfer-encoding");
        then.status(200).json_body(run_doc(json!({
            "state": "cancelled", "counts": counts(0, 1, 0, 1),
            "error": "cancelled by the operator"
        })));
    });
    mock_hosts(&server);
    // No terminal to ask on: refused, nothing sent.
    let out = relay_run(&server, &["batch-import", "cancel", "run-1"]).expect(2);
    assert!(out.stderr().contains("pass --yes"), "{}", out.stderr());
    cancel.assert_calls(0);

    let out = relay_run(&server, &["batch-import", "cancel", "run-1", "--yes"]).expect(0);
    cancel.assert_calls(1);
    let text = out.stdout();
    assert_eq!(field(&text, "state"), "cancelled");
    assert!(
        text.contains("error: cancelled by the operator\n"),
        "{text}"
    );
    assert!(text.ends_with("\ncancelled run run-1\n"), "{text}");

    let conflict = server.mock(|when, then| {
        when.method(POST)
            .path("/api/batch-import/runs/run-2/cancel");
        then.status(409).json_body(json!({"error": {
            "code": "run_state_conflict", "message": "run run-2 already ended (succeeded): nothing to cancel"
        }}));
    });
    let out = relay_run(&server, &["batch-import", "cancel", "run-2", "--yes"]).expect(1);
    conflict.assert_calls(1);
    assert_eq!(
        out.stderr(),
        "error: run_state_conflict: run run-2 already ended (succeeded): nothing to cancel\n"
    );
}

/// Waits until `mock` was called at least `n` times.
fn wait_calls(mock: &Mock<'_>, n: usize) {
    let start = Instant::now();
    while mock.calls() < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the CLI never called"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn watch_prints_each_change_and_exits_0_when_the_run_succeeds() {
    let server = MockServer::start();
    let mut run_mock = mock_run(
        &server,
        run_doc(json!({"state": "running", "counts": counts(2, 0, 0, 0)})),
    );
    let mut items_mock = mock_items(
        &server,
        vec![
            item_doc(
                1,
                json!({"state": "running", "confirmation_status": "confirming",
                       "reuse_decision": "created", "account_id": 11, "attempts": 1}),
            ),
            item_doc(2, json!({})),
        ],
    );
    mock_hosts(&server);
    let child = relay(&server, &["batch-import", "watch", "run-1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first poll is seen; the run ends before the next one.
    wait_calls(&items_mock, 1);
    run_mock.delete();
    items_mock.delete();
    let run_mock = mock_run(
        &server,
        run_doc(json!({
            "state": "succeeded", "access_status": "subscription_ready",
            "counts": counts(0, 2, 0, 0), "finished_at": 1_764_900_005_000_i64
        })),
    );
    let items_mock = mock_items(&server, done_items());
    let out = Run(child.wait_with_output().unwrap()).expect(0);
    run_mock.assert_calls(1);
    items_mock.assert_calls(1);
    let lines: Vec<String> = out.stdout().lines().map(str::to_owned).collect();
    assert_eq!(
        lines[..6],
        [
            "02:00:01Z line 1 sk-l…0001 deepseek: running (confirmation confirming, created, \
             account 11, attempts 1)",
            "02:00:01Z line 2 sk-l…0002 deepseek: pending (confirmation pending)",
            "run run-1 running: 0 ok, 0 failed, 0 skipped, 0 cancelled, 2 open of 2",
            "02:00:03Z line 1 sk-l…0001 deepseek: running → succeeded (confirmation \
             confirming → confirmed, created, account 11, attempts 1)",
            "02:00:04Z line 2 sk-l…0002 deepseek: pending → succeeded (confirmation \
             pending → confirmed, created, account 12, attempts 3)",
            "run run-1 succeeded: 2 ok, 0 failed, 0 skipped, 0 cancelled, 0 open of 2",
        ],
        "{}",
        out.stdout()
    );
    let text = out.stdout();
    assert_eq!(field(&text, "state"), "succeeded");
    assert!(
        text.ends_with("\nrun run-1 succeeded (access subscription_ready)\n"),
        "{text}"
    );
    assert_eq!(out.stderr(), "");
}

#[test]
fn watch_exits_1_for_a_run_that_did_not_succeed() {
    for (state, counts, code) in [
        (
            "partially_succeeded",
            counts(0, 1, 1, 0),
            "error: import_run_partially_succeeded: run run-1 partially succeeded: 1 item(s) \
             failed, 1 succeeded",
        ),
        (
            "failed",
            counts(0, 0, 2, 0),
            "error: import_run_failed: run run-1 failed: 2 item(s) failed",
        ),
        (
            "cancelled",
            counts(0, 0, 0, 2),
            "error: import_run_cancelled: run run-1 was cancelled (2 item(s) cancelled)",
        ),
    ] {
        let server = MockServer::start();
        mock_run(&server, run_doc(json!({"state": state, "counts": counts})));
        mock_items(&server, done_items());
        mock_hosts(&server);
        let out = relay_run(&server, &["batch-import", "watch", "run-1"]).expect(1);
        assert!(out.stderr().starts_with(code), "{state}: {}", out.stderr());
        assert_eq!(field(&out.stdout(), "state"), state);

        // With --output json: progress on stderr, the final run alone on stdout.
        let out = relay_run(
            &server,
            &["--output", "json", "batch-import", "watch", "run-1"],
        )
        .expect(1);
        assert_eq!(out.json()["state"], state);
        assert!(out
            .stderr()
            .contains("line 2 sk-l…0002 deepseek: succeeded"));
    }
}

#[test]
fn create_watch_follows_the_new_run() {
    let server = MockServer::start();
    let dir = temp_dir("bi-create-watch");
    let file = write(
        &dir,
        "lines.txt",
        &format!("https://api.deepseek.com {KEY_1}\nhttps://api.deepseek.com {KEY_2}\n"),
    );
    let create = server.mock(|when, then| {
        when.method(POST).path("/api/batch-import/runs");
        then.status(202).json_body(run_doc(json!({})));
    });
    // By the first look at its items the run has ended.
    mock_items(&server, done_items());
    let run = mock_run(
        &server,
        run_doc(json!({"state": "succeeded", "counts": counts(0, 2, 0, 0)})),
    );
    mock_hosts(&server);
    let out = relay_run(
        &server,
        &[
            "batch-import",
            "create",
            "--host",
            "main",
            "--file",
            s(&file),
            "--watch",
        ],
    )
    .expect(0);
    create.assert_calls(1);
    run.assert_calls(1);
    let text = out.stdout();
    assert!(
        text.starts_with("started run run-1 (2 line(s))\n"),
        "{text}"
    );
    assert!(
        text.contains("run run-1 pending: 0 ok, 0 failed, 0 skipped, 0 cancelled, 2 open of 2\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\nrun run-1 succeeded (access not_configured)\n"),
        "{text}"
    );
    out.assert_hides(KEY_1);
    out.assert_hides(KEY_2);
}

/// End to end: the real server and a mock host; two good lines are imported, confirmed
/// and shown with their masks and `created` decisions.
#[test]
fn a_run_of_two_good_lines_succeeds_against_the_real_server() {
    let setup = setup("bi-e2e");
    let Setup { mock, server, dir } = &setup;
    let key_1 = "sk-demo-batchimport-aaaaaaaaaaaa0001";
    let key_2 = "sk-demo-batchimport-aaaaaaaaaaaa0002";
    let file = write(
        dir,
        "lines.txt",
        &format!(
            "# two upstreams\nhttps://api.deepseek.com {key_1}\nhttps://api.moonshot.cn/v1 {key_2}\n"
        ),
    );
    let out = server
        .relay(&[
            "batch-import",
            "create",
            "--host",
            "main",
            "--file",
            s(&file),
            "--watch",
        ])
        .expect(0);
    let text = out.stdout();
    let run_id = text
        .lines()
        .find_map(|l| l.strip_prefix("started run "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in\n{text}"))
        .to_owned();
    assert_eq!(field(&text, "state"), "succeeded", "{text}");
    assert!(
        text.contains(&format!("\nrun {run_id} succeeded (access ")),
        "{text}"
    );
    out.assert_hides(key_1);
    out.assert_hides(key_2);
    assert_eq!(accounts(mock).len(), 2);

    let out = server.relay(&["batch-import", "items", &run_id]).expect(0);
    let text = out.stdout();
    for (line, key, provider) in [("2", key_1, "deepseek"), ("3", key_2, "moonshot")] {
        let cells = row(&text, line);
        assert_eq!(cells[2], relay_domain::mask(key), "{text}");
        assert_eq!(cells[3], provider, "{text}");
        assert!(cells.contains(&"created"), "{text}");
        assert!(cells.contains(&"succeeded"), "{text}");
        assert!(cells.contains(&"confirmed"), "{text}");
    }
    out.assert_hides(key_1);
    out.assert_hides(key_2);

    // The item id of the table opens the item's trail.
    let item_id = row(&text, "2")[1].to_owned();
    let out = server
        .relay(&["batch-import", "events", &item_id])
        .expect(0);
    let kinds: Vec<String> = out
        .stdout()
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(2).unwrap_or_default().to_owned())
        .collect();
    for kind in [
        "created",
        "matched",
        "decided",
        "account_ready",
        "attempt",
        "confirmed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {}", out.stdout());
    }
    out.assert_hides(key_1);

    let out = server
        .relay(&["batch-import", "list", "--host", "main"])
        .expect(0);
    assert_eq!(
        row(&out.stdout(), &run_id)[1],
        "succeeded",
        "{}",
        out.stdout()
    );

    // Nothing to retry or cancel in a run that succeeded.
    let out = server.relay(&["batch-import", "retry", &run_id]).expect(1);
    assert!(
        out.stderr().starts_with("error: run_state_conflict: "),
        "{}",
        out.stderr()
    );
    // The cancel goes without a body, as the route wants: the answer is about the run.
    let out = server
        .relay(&["batch-import", "cancel", &run_id, "--yes"])
        .expect(1);
    assert!(
        out.stderr().starts_with("error: run_state_conflict: ")
            && out.stderr().contains("nothing to cancel"),
        "{}",
        out.stderr()
    );
    assert_eq!(accounts(mock).len(), 2);
}

/// `create --watch` rides out a kill -9 and restart of the server in the middle of the
/// run: the run goes on by itself and the watch ends with it, with one account per key.
#[test]
fn watch_follows_a_run_through_a_server_crash() {
    let Setup { mock, server, dir } = setup("bi-crash");
    // `slow` keys answer after 2 s: the run is still going when the server dies.
    let keys = [
        "sk-slow-batchimport-aaaaaaaaaaaa0001",
        "sk-slow-batchimport-aaaaaaaaaaaa0002",
        "sk-demo-batchimport-aaaaaaaaaaaa0003",
    ];
    let file = write(
        &dir,
        "lines.txt",
        &keys
            .iter()
            .map(|k| format!("https://api.deepseek.com {k}\n"))
            .collect::<String>(),
    );
    let child = server
        .command(&[
            "batch-import",
            "create",
            "--host",
            "main",
            "--file",
            s(&file),
            "--watch",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while accounts(&mock).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no account was created"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let server = server.crash_and_restart();
    let out = Run(child.wait_with_output().unwrap()).expect(0);
    let text = out.stdout();
    assert_eq!(field(&text, "state"), "succeeded", "{text}");
    assert_eq!(
        field(&text, "items"),
        "3 total: 3 ok, 0 failed, 0 skipped, 0 cancelled, 0 open"
    );
    for key in keys {
        out.assert_hides(key);
    }
    assert_eq!(accounts(&mock).len(), 3, "one account per key");
    drop(server);
}
