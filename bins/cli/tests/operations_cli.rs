//! `relay reconcile|doctor|diagnose|evidence`, `relay provider disable|enable|rollback` and
//! `relay access preview|assign` against the real server and a mock host changed by hand.

use crate::common::*;
use serde_json::{json, Value};

const KEY_1: &str = "sk-demo-aaaaaaaaaaaaaaaaaaaaaaaa0001";
const KEY_2: &str = "sk-demo-aaaaaaaaaaaaaaaaaaaaaaaa0002";

/// Imports KEY_1 and KEY_2 for deepseek on `main` (subscription access) and returns
/// the batch id.
fn import_two_keys(setup: &Setup) -> String {
    let keys = write(&setup.dir, "keys.txt", &format!("{KEY_1}\n{KEY_2}\n"));
    let out = setup
        .server
        .relay(&[
            "import",
            "deepseek",
            "--host",
            "main",
            "--keys-file",
            s(&keys),
        ])
        .expect(0);
    let text = out.stdout();
    assert_eq!(field(&text, "status"), "succeeded", "{text}");
    assert_eq!(accounts(&setup.mock).len(), 2);
    field(&text, "batch").to_owned()
}

/// The STATUS cell of a doctor check row (columns are two or more spaces apart; a
/// subject such as `group 1` has one).
fn check_status(text: &str, check: &str) -> String {
    let header = text
        .lines()
        .find(|l| l.starts_with("CHECK "))
        .unwrap_or_else(|| panic!("no checks table in\n{text}"));
    let start = header.find("STATUS").unwrap();
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(check))
        .unwrap_or_else(|| panic!("no check {check} in\n{text}"));
    let cell: String = line.chars().skip(start).collect();
    cell.split("  ").next().unwrap().trim().to_owned()
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn reconcile_is_active_then_names_an_account_deleted_by_hand() {
    let setup = setup("reconcile");
    let batch_id = import_two_keys(&setup);
    let Setup { mock, server, dir } = &setup;

    let out = server
        .relay(&["reconcile", "deepseek", "--host", "main"])
        .expect(0);
    let text = out.stdout();
    assert_eq!(field(&text, "verdict"), "active", "{text}");
    assert_eq!(field(&text, "access"), "subscription_ready", "{text}");
    assert_eq!(field(&text, "differences"), "0 (0 remaining)", "{text}");
    assert!(text.ends_with("\ndeepseek is active on main\n"), "{text}");
    assert_eq!(out.stderr(), "");
    let active_run = field(&text, "run").to_owned();
    assert!(active_run.starts_with("rec_"), "{text}");

    // Someone deletes an account in the host's UI.
    let gone = accounts(mock)[0].clone();
    let (gone_id, gone_name) = (gone["id"].to_string(), gone["name"].as_str().unwrap());
    mock_admin(mock, "DELETE", &format!("accounts/{gone_id}"), None);
    assert_eq!(accounts(mock).len(), 1);

    let out = server
        .relay(&["reconcile", "deepseek", "--host", "main"])
        .expect(1);
    let text = out.stdout();
    assert_eq!(field(&text, "verdict"), "drifted", "{text}");
    assert_eq!(field(&text, "differences"), "1 (1 remaining)", "{text}");
    assert!(
        text.contains(&format!("  - missing account {gone_id} {gone_name}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "    account {gone_id} ({gone_name}) was deleted on the host\n"
        )),
        "{text}"
    );
    assert!(text.contains("    fix: re-import its key"), "{text}");
    let err = out.stderr();
    assert!(
        err.starts_with("error: not_active: deepseek on main is drifted: "),
        "{err}"
    );
    assert!(err.contains(gone_name), "{err}");
    let drifted_run = field(&text, "run").to_owned();

    // The same in JSON: the server's run document.
    let out = server
        .relay(&[
            "--output",
            "json",
            "reconcile",
            "deepseek",
            "--host",
            "main",
        ])
        .expect(1);
    let doc = out.json();
    assert_eq!(doc["verdict"], "drifted");
    assert_eq!(doc["differences"][0]["kind"], "missing");
    assert_eq!(doc["differences"][0]["name"], gone_name);
    assert!(out.stderr().starts_with("error: not_active: "));

    // Runs are listed newest first and shown one by one.
    let out = server
        .relay(&[
            "reconcile",
            "runs",
            "--host",
            "main",
            "--provider",
            "deepseek",
        ])
        .expect(0);
    let text = out.stdout();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows[2].starts_with(&active_run), "{text}");
    assert!(row(&text, &active_run).contains(&"active"), "{text}");
    let listed = row(&text, &drifted_run);
    assert!(listed.contains(&"drifted"), "{text}");
    assert!(listed.contains(&"main"), "{text}");
    assert!(listed.contains(&"1/1"), "{text}");
    let out = server
        .relay(&["reconcile", "runs", "--limit", "1"])
        .expect(0);
    assert_eq!(out.stdout().lines().count(), 2, "{}", out.stdout());

    let out = server.relay(&["reconcile", "show", &drifted_run]).expect(0);
    let text = out.stdout();
    assert_eq!(field(&text, "verdict"), "drifted", "{text}");
    assert!(text.contains("deepseek (openai-cn-pack) on main"), "{text}");
    assert!(
        text.contains(&format!("  - missing account {gone_id} {gone_name}\n")),
        "{text}"
    );
    let out = server.relay(&["reconcile", "show", "rec_nope"]).expect(1);
    assert!(
        out.stderr().starts_with("error: reconcile_run_not_found: "),
        "{}",
        out.stderr()
    );

    // Evidence of the run and of the import batch, to a file and to stdout.
    let file = dir.join("reconcile-evidence.json");
    let out = server
        .relay(&["evidence", "reconcile", &drifted_run, "--out", s(&file)])
        .expect(0);
    assert!(
        out.stdout().starts_with(&format!(
            "wrote the evidence of reconcile run {drifted_run} to "
        )),
        "{}",
        out.stdout()
    );
    let doc = read_json(&file);
    assert_eq!(doc["kind"], "reconcile_run");
    assert_eq!(doc["run"]["id"], drifted_run.as_str());
    assert_eq!(doc["run"]["verdict"], "drifted");
    assert_eq!(doc["differences"][0]["name"], gone_name);

    let file = dir.join("batch-evidence.json");
    server
        .relay(&["evidence", "batch", &batch_id, "--out", s(&file)])
        .expect(0);
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(!written.contains(KEY_1) && !written.contains(KEY_2));
    assert!(
        written.starts_with("{\n  \""),
        "not pretty JSON:\n{written}"
    );
    let doc = read_json(&file);
    assert_eq!(doc["kind"], "import_batch");
    assert_eq!(doc["batch"]["id"], batch_id.as_str());
    assert_eq!(doc["keys"].as_array().unwrap().len(), 2);
    let out = server.relay(&["evidence", "batch", &batch_id]).expect(0);
    out.assert_hides(KEY_1);
    assert_eq!(out.json()["batch"]["id"], batch_id.as_str());
    let out = server
        .relay(&[
            "evidence",
            "batch",
            "batch_nope",
            "--out",
            s(&dir.join("x.json")),
        ])
        .expect(1);
    assert!(out.stderr().starts_with("error: "), "{}", out.stderr());
    assert!(!dir.join("x.json").exists());
    let out = server
        .relay(&[
            "evidence",
            "batch",
            &batch_id,
            "--out",
            s(&dir.join("no-such-dir/e.json")),
        ])
        .expect(2);
    assert!(
        out.stderr().starts_with("error: usage: --out "),
        "{}",
        out.stderr()
    );
}

#[test]
fn doctor_shows_the_fix_of_an_unbound_account_and_repairs_it() {
    let setup = setup("doctor");
    import_two_keys(&setup);
    let Setup { mock, server, .. } = &setup;

    let out = server
        .relay(&["doctor", "deepseek", "--host", "main"])
        .expect(0);
    let text = out.stdout();
    assert!(
        text.starts_with("doctor of deepseek (openai-cn-pack) on main: healthy\n"),
        "{text}"
    );
    for check in [
        "schedulable_account",
        "channel_bound",
        "probe_key_bound",
        "subscription_active",
        "gateway_reachable",
        "completion_works",
    ] {
        assert_eq!(check_status(&text, check), "ok", "{check}:\n{text}");
    }
    assert!(!text.contains("fixes:"), "{text}");
    assert_eq!(out.stderr(), "");

    // Someone takes an account out of the provider's group by hand.
    let unbound = accounts(mock)[0].clone();
    let (id, name) = (unbound["id"].to_string(), unbound["name"].as_str().unwrap());
    mock_admin(
        mock,
        "PUT",
        &format!("accounts/{id}"),
        Some(&json!({ "group_ids": [] })),
    );

    let out = server
        .relay(&["doctor", "deepseek", "--host", "main"])
        .expect(1);
    let text = out.stdout();
    assert!(text.contains("on main: unhealthy\n"), "{text}");
    assert_eq!(check_status(&text, "schedulable_account"), "fail", "{text}");
    assert_eq!(check_status(&text, "gateway_reachable"), "ok", "{text}");
    let fixes = text
        .split("\nfixes:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no fixes in\n{text}"));
    assert!(
        fixes.contains(&format!("account {id} ({name}) is not in group")),
        "{text}"
    );
    assert!(fixes.contains("relay doctor --repair"), "{text}");
    let err = out.stderr();
    assert!(
        err.starts_with(
            "error: unhealthy: deepseek on main: 1 check(s) failed: schedulable_account"
        ),
        "{err}"
    );
    assert!(err.contains("--repair"), "{err}");
    // Nothing was changed on the host by the check.
    let still = accounts(mock);
    let account = still.iter().find(|a| a["id"] == unbound["id"]).unwrap();
    // The host omits `group_ids` of an account bound to no group.
    assert!(account.get("group_ids").is_none(), "{account}");

    let out = server
        .relay(&["doctor", "deepseek", "--host", "main", "--repair"])
        .expect(0);
    let text = out.stdout();
    assert!(text.contains("on main: healthy\n"), "{text}");
    assert_eq!(
        check_status(&text, "schedulable_account"),
        "ok (repaired)",
        "{text}"
    );
    assert!(
        text.contains("before the repairs: 1 check(s) failed: schedulable_account"),
        "{text}"
    );
    let repair = row(&text, "account_rebound");
    assert_eq!(repair[2..5], [id.as_str(), name, "ok"], "{text}");
    let group = accounts(mock)
        .into_iter()
        .find(|a| a["id"] == unbound["id"])
        .unwrap()["group_ids"]
        .clone();
    assert_eq!(group.as_array().map(Vec::len), Some(1), "{group}");

    let doc = server
        .relay(&["--output", "json", "doctor", "deepseek", "--host", "main"])
        .expect(0)
        .json();
    assert_eq!(doc["healthy"], true);
    assert_eq!(doc["checks"].as_array().unwrap().len(), 6);

    // A probe key from a file: checked, never printed.
    let probe = write(&setup.dir, "probe.key", "sk-user-not-bound-anywhere-0042\n");
    let out = server
        .relay(&[
            "doctor",
            "deepseek",
            "--host",
            "main",
            "--probe-key-file",
            s(&probe),
        ])
        .expect(1);
    out.assert_hides("sk-user-not-bound-anywhere-0042");
    assert_eq!(
        check_status(&out.stdout(), "probe_key_bound"),
        "fail",
        "{}",
        out.stdout()
    );
}

#[test]
fn diagnose_probes_the_vendor_with_a_key_file_and_never_prints_the_key() {
    let setup = setup("diagnose");
    // Point the provider at a closed loopback port, so the direct vendor probe never
    // leaves this machine: reinstall a copy of the pack with that base URL.
    let pack = setup.dir.join("loopback-pack");
    copy_dir(&workspace().join("packs/openai-cn-pack"), &pack);
    let manifest = pack.join("providers/deepseek.json");
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    doc["base_url"] = json!("https://127.0.0.1:9/v1");
    std::fs::write(&manifest, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    setup
        .server
        .relay(&["pack", "checksum", s(&pack)])
        .expect(0);
    setup.server.relay(&["pack", "install", s(&pack)]).expect(0);
    import_two_keys(&setup);
    let Setup { server, dir, .. } = &setup;
    let key_file = write(dir, "one.key", &format!("{KEY_1}\n"));

    // The vendor base URL is a closed loopback port: the vendor does not answer.
    let out = server
        .relay(&[
            "diagnose",
            "deepseek",
            "--host",
            "main",
            "--key-file",
            s(&key_file),
        ])
        .expect(1);
    out.assert_hides(KEY_1);
    let text = out.stdout();
    assert!(
        text.starts_with("diagnosis of key sk-d…0001 for deepseek on main: upstream_unreachable\n"),
        "{text}"
    );
    assert!(field(&text, "fix").contains("did not answer"), "{text}");
    assert!(
        row(&text, "models").contains(&"https://127.0.0.1:9/v1/models"),
        "{text}"
    );
    assert!(text.contains("no answer: "), "{text}");
    assert!(text.contains("managed account of this key: "), "{text}");
    let err = out.stderr();
    assert!(err.starts_with("error: upstream_unreachable: "), "{err}");
    assert!(err.contains("fix: "), "{err}");

    // JSON: the server's document; the key from stdin.
    let out = server
        .relay_with(
            &[
                "--output",
                "json",
                "diagnose",
                "deepseek",
                "--host",
                "main",
                "--key-file",
                "-",
            ],
            &[],
            Some(&format!("{KEY_2}\n")),
        )
        .expect(1);
    out.assert_hides(KEY_2);
    let doc = out.json();
    assert_eq!(doc["diagnosis"]["class"], "upstream_unreachable");
    assert_eq!(doc["diagnosis"]["vendor"]["key_mask"], "sk-d…0002");

    // No key: a usage error naming the flag; nothing is sent.
    let out = server
        .relay(&[
            "diagnose",
            "deepseek",
            "--host",
            "main",
            "--key-file",
            s(&dir.join("missing.key")),
        ])
        .expect(2);
    assert!(
        out.stderr().starts_with("error: usage: --key-file "),
        "{}",
        out.stderr()
    );
    let out = server
        .relay(&["diagnose", "deepseek", "--host", "main"])
        .expect(2);
    assert!(out.stderr().contains("--key-file"), "{}", out.stderr());
    assert!(!server.log().contains(KEY_1));
    assert!(!server.log().contains(KEY_2));
}

#[test]
fn providers_are_disabled_enabled_and_rolled_back() {
    let setup = setup("provider-ops");
    import_two_keys(&setup);
    let Setup { mock, server, .. } = &setup;

    let out = server
        .relay(&["provider", "disable", "deepseek", "--host", "main"])
        .expect(0);
    let text = out.stdout();
    assert!(text.starts_with("disabled deepseek on main\n"), "{text}");
    assert_eq!(field(&text, "status"), "disabled", "{text}");
    assert_eq!(field(&text, "disabled"), "yes", "{text}");
    let out = server.relay(&["status", "--host", "main"]).expect(0);
    let line = out
        .stdout()
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("deepseek"))
        .unwrap()
        .to_owned();
    assert!(line.contains("disabled (disabled)"), "{line}");

    let doc = server
        .relay(&[
            "--output", "json", "provider", "enable", "deepseek", "--host", "main",
        ])
        .expect(0)
        .json();
    assert_eq!(doc["disabled"], false);
    assert_eq!(doc["provider_id"], "deepseek");
    let out = server
        .relay(&["provider", "list", "--host", "main"])
        .expect(0);
    let line = out
        .stdout()
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("deepseek"))
        .unwrap()
        .to_owned();
    assert!(!line.contains("disabled"), "{line}");
    assert!(line.contains("subscription_ready"), "{line}");
    let out = server
        .relay(&["provider", "disable", "no-such-provider", "--host", "main"])
        .expect(1);
    assert!(out.stderr().starts_with("error: "), "{}", out.stderr());

    // Roll the provider back: every object it created leaves the host.
    let out = server
        .relay(&["provider", "rollback", "deepseek", "--host", "main"])
        .expect(0);
    let text = out.stdout();
    assert!(text.contains("  deleted:\n"), "{text}");
    assert!(text.contains("  complete: yes\n"), "{text}");
    assert!(text.ends_with("\nrolled back deepseek on main\n"), "{text}");
    assert!(accounts(mock).is_empty(), "{:?}", accounts(mock));
    assert!(mock.state()["groups"].as_array().unwrap().is_empty());
    let out = server
        .relay(&["provider", "rollback", "deepseek", "--host", "main"])
        .expect(1);
    assert!(
        out.stderr().starts_with("error: nothing_recorded: "),
        "{}",
        out.stderr()
    );
}

#[test]
fn access_is_previewed_and_subscriptions_assigned_after_a_subscription_import() {
    let setup = setup("access-ops");
    let Setup { mock, server, dir } = &setup;

    // Before any import there is no subscription group.
    let out = server
        .relay(&["access", "assign", "deepseek", "--host", "main"])
        .expect(1);
    assert!(
        out.stderr().starts_with("error: no_subscription_group: "),
        "{}",
        out.stderr()
    );
    let out = server
        .relay(&["access", "preview", "deepseek", "--host", "main"])
        .expect(1);
    assert!(
        out.stdout().contains("(not on the host yet)"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stderr().starts_with("error: access_not_ready: "),
        "{}",
        out.stderr()
    );

    import_two_keys(&setup);

    let out = server
        .relay(&[
            "access",
            "preview",
            "deepseek",
            "--host",
            "main",
            "--subscriber",
            "carol@example.com",
            "--subscriber-id",
            "1",
        ])
        .expect(0);
    let text = out.stdout();
    assert_eq!(field(&text, "mode"), "subscription", "{text}");
    assert_eq!(
        row(&text, "carol@example.com")[1..],
        ["-", "no", "create"],
        "{text}"
    );
    assert_eq!(
        row(&text, "admin@example.com")[1..],
        ["1", "-", "assign"],
        "{text}"
    );
    assert!(
        text.contains("nothing was written to the host (preview)"),
        "{text}"
    );
    assert!(!mock.state().to_string().contains("carol@example.com"));

    // Self-service with a key that is bound nowhere: problems, exit 1, key hidden.
    let probe = write(dir, "probe.key", "sk-user-not-bound-anywhere-0042\n");
    let out = server
        .relay(&[
            "access",
            "preview",
            "deepseek",
            "--host",
            "main",
            "--access",
            "self_service",
            "--probe-key-file",
            s(&probe),
        ])
        .expect(1);
    out.assert_hides("sk-user-not-bound-anywhere-0042");
    assert!(
        out.stdout()
            .contains("problems (access would not be ready):"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stderr().starts_with("error: access_not_ready: "),
        "{}",
        out.stderr()
    );

    let out = server
        .relay(&[
            "access",
            "assign",
            "deepseek",
            "--host",
            "main",
            "--subscriber",
            "carol@example.com",
            "--days",
            "7",
        ])
        .expect(0);
    let text = out.stdout();
    assert!(
        text.starts_with("access of deepseek on main: subscription_ready\n"),
        "{text}"
    );
    let carol = row(&text, "carol@example.com");
    assert!(carol.contains(&"(new)"), "{text}");
    assert!(text.contains("user created"), "{text}");
    assert!(text.contains("gateway proof:"), "{text}");
    assert!(row(&text, "subscription").contains(&"ready"), "{text}");
    let state = mock.state();
    let user = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "carol@example.com")
        .unwrap_or_else(|| panic!("carol is not on the host: {state}"));
    assert!(
        state["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["user_id"] == user["id"]),
        "no subscription for carol: {state}"
    );

    let doc = server
        .relay(&[
            "--output", "json", "access", "assign", "deepseek", "--host", "main",
        ])
        .expect(0)
        .json();
    assert_eq!(doc["status"], "subscription_ready");
}

#[test]
fn usage_errors_of_the_new_commands_exit_2() {
    for args in [
        vec!["reconcile"],
        vec!["reconcile", "deepseek"],
        vec!["doctor", "deepseek"],
        vec!["evidence", "batch"],
        vec!["provider", "rollback", "deepseek"],
        vec![
            "access", "assign", "deepseek", "--host", "main", "--days", "x",
        ],
        vec![
            "access", "preview", "deepseek", "--host", "main", "--access", "open",
        ],
    ] {
        let out = run(relay_command(&args), None).expect(2);
        assert!(
            out.stderr().starts_with("error: "),
            "{args:?}: {}",
            out.stderr()
        );
    }
    // Two secrets from stdin at once (refused before anything is read).
    let out = run(
        relay_command(&[
            "--token-file",
            "-",
            "diagnose",
            "deepseek",
            "--host",
            "main",
            "--key-file",
            "-",
        ]),
        None,
    )
    .expect(2);
    assert!(
        out.stderr().contains("--token-file and --key-file"),
        "{}",
        out.stderr()
    );
}

/// Copies a directory tree.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn audit_lists_the_fields_a_reconcile_repair_changed() {
    let setup = setup("audit");
    import_two_keys(&setup);
    let Setup { mock, server, .. } = &setup;
    let channel = mock.state()["channels"][0]["id"].clone();
    mock_admin(
        mock,
        "PUT",
        &format!("channels/{channel}"),
        Some(&json!({"model_mapping": {"deepseek": {"deepseek-flash": "something-else"}}})),
    );
    server
        .relay(&["reconcile", "deepseek", "--host", "main", "--repair"])
        .expect(0);

    let out = server
        .relay(&[
            "audit",
            "--provider",
            "deepseek",
            "--origin",
            "reconcile_run",
        ])
        .expect(0);
    let text = out.stdout();
    assert!(text.contains("FIELD: BEFORE → AFTER"), "{text}");
    assert!(
        text.contains("model_mapping.deepseek.deepseek-flash: something-else → deepseek-flash"),
        "{text}"
    );
    assert!(text.contains(&format!("channel {channel}")), "{text}");
    out.assert_hides(KEY_1);

    let out = server
        .relay(&["audit", "--provider", "deepseek", "--all", "--json"])
        .expect(0);
    let doc = out.json();
    let events = doc["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["origin"]["kind"] == "import_batch"
        && e["object_kind"] == "account"
        && e["operation"] == "create"));
    assert!(events
        .iter()
        .any(|e| e["origin"]["kind"] == "reconcile_run"));
    out.assert_hides(KEY_1);
    out.assert_hides(KEY_2);

    // A bad origin is refused by the server.
    server.relay(&["audit", "--origin", "nobody"]).expect(1);
}

#[test]
fn evidence_of_a_doctor_run_is_listed_and_written() {
    let setup = setup("doctor-evidence");
    import_two_keys(&setup);
    let Setup { server, dir, .. } = &setup;
    server
        .relay(&["doctor", "deepseek", "--host", "main"])
        .expect(0);
    let out = server
        .relay(&["evidence", "operations", "deepseek", "--host", "main"])
        .expect(0);
    let text = out.stdout();
    let id = text
        .split_whitespace()
        .find(|w| w.starts_with("doc_"))
        .unwrap_or_else(|| panic!("no doctor run listed:\n{text}"))
        .to_owned();
    let file = dir.join("doctor-evidence.json");
    server
        .relay(&["evidence", "doctor", &id, "--out", s(&file)])
        .expect(0);
    let doc = read_json(&file);
    assert_eq!(doc["kind"], "doctor");
    assert_eq!(doc["operation"]["id"], id.as_str());
    assert_eq!(doc["operation"]["outcome"], "succeeded");
    assert!(doc["audit_events"].is_array());
}
