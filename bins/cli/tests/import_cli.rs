//! `relay import|batch|status|resources|access` against the real server and a mock host.

use crate::common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};
use sub2api_mock::Faults;

const KEY_1: &str = "sk-demo-aaaaaaaaaaaaaaaaaaaaaaaa0001";
const KEY_2: &str = "sk-demo-aaaaaaaaaaaaaaaaaaaaaaaa0002";
const BAD_KEY: &str = "sk-demo-invalid-aaaaaaaaaaaaaaaa0003";

#[test]
fn an_import_creates_accounts_proves_access_and_rolls_back() {
    let Setup { mock, server, dir } = setup("import");
    let keys = write(
        &dir,
        "keys.txt",
        &format!("# team keys\n{KEY_1}\n\n{KEY_2}\n"),
    );

    // Preview first: a plan, nothing written.
    let out = server
        .relay(&[
            "import",
            "deepseek",
            "--host",
            "main",
            "--keys-file",
            s(&keys),
            "--preview",
        ])
        .expect(0);
    out.assert_hides(KEY_1);
    out.assert_hides(KEY_2);
    let text = out.stdout();
    assert!(
        text.contains("keys: 2 new, 0 duplicate_in_request, 0 already_imported"),
        "{text}"
    );
    assert!(row(&text, "group").contains(&"create"), "{text}");
    assert!(row(&text, "channel").contains(&"create"), "{text}");
    assert!(text.contains("nothing was written to the host"), "{text}");
    assert!(accounts(&mock).is_empty());
    assert!(mock.state()["groups"].as_array().unwrap().is_empty());

    // The import: exit 0, accounts created, subscription access proven.
    let out = server
        .relay(&[
            "import",
            "deepseek",
            "--host",
            "main",
            "--keys-file",
            s(&keys),
            "--subscriber",
            "alice@example.com",
            "--days",
            "30",
        ])
        .expect(0);
    out.assert_hides(KEY_1);
    out.assert_hides(KEY_2);
    // No terminal: no progress bar, nothing on stderr.
    assert_eq!(out.stderr(), "");
    let text = out.stdout();
    assert_eq!(field(&text, "status"), "succeeded", "{text}");
    let batch_id = field(&text, "batch").to_owned();
    assert!(batch_id.starts_with("bat"), "{text}");
    assert!(text.contains("keys:        2 total, "), "{text}");
    let account_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("account "))
        .collect();
    assert_eq!(account_rows.len(), 2, "{text}");
    assert!(text.contains("access: subscription_ready"), "{text}");
    assert!(text.contains("gateway proof:"), "{text}");
    assert!(text.contains("import succeeded (batch "), "{text}");
    let created = accounts(&mock);
    assert_eq!(created.len(), 2);
    for account in &created {
        let id = account["id"].to_string();
        assert!(
            account_rows
                .iter()
                .any(|r| r.split_whitespace().nth(1) == Some(id.as_str())),
            "account {id} not in the report:\n{text}"
        );
    }

    // The same keys again: a preview says they are imported.
    let out = server
        .relay(&[
            "import",
            "deepseek",
            "--host",
            "main",
            "--keys-file",
            s(&keys),
            "--preview",
        ])
        .expect(0);
    assert!(
        out.stdout()
            .contains("keys: 0 new, 0 duplicate_in_request, 2 already_imported"),
        "{}",
        out.stdout()
    );

    // Batches.
    let out = server.relay(&["batch", "list", "--host", "main"]).expect(0);
    let text = out.stdout();
    let listed = row(&text, &batch_id);
    assert!(listed.contains(&"succeeded"), "{text}");
    assert!(listed.contains(&"deepseek"), "{text}");
    assert!(listed.contains(&"main"), "{text}");
    let out = server
        .relay(&["batch", "list", "--status", "failed"])
        .expect(0);
    assert_eq!(out.stdout(), "no batch\n");
    let out = server.relay(&["batch", "show", &batch_id]).expect(0);
    assert_eq!(field(&out.stdout(), "status"), "succeeded");
    let doc = server
        .relay(&["--output", "json", "batch", "show", &batch_id])
        .expect(0)
        .json();
    assert_eq!(doc["batch"]["id"], batch_id.as_str());
    assert_eq!(doc["items"].as_array().unwrap().len(), 2);
    assert!(!doc.to_string().contains(KEY_1));

    // Status, resources and access of the provider.
    let out = server.relay(&["status", "--host", "main"]).expect(0);
    let line = out
        .stdout()
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("deepseek"))
        .unwrap()
        .to_owned();
    assert!(line.starts_with("main "), "{line}");
    assert!(line.contains("subscription_ready"), "{line}");
    assert!(line.contains(&batch_id), "{line}");

    let out = server
        .relay(&["status", "deepseek", "--host", "main"])
        .expect(0);
    let text = out.stdout();
    assert!(text.starts_with("provider:"), "{text}");
    assert!(text.contains("\nhost main (host_"), "{text}");
    assert_eq!(field(&text, "  status"), "active", "{text}");
    assert_eq!(field(&text, "  access"), "subscription_ready", "{text}");
    assert!(
        field(&text, "  resources").contains("account: 2 created"),
        "{text}"
    );
    assert!(text.contains("  gateway proof:\n"), "{text}");
    let doc = server
        .relay(&["--output", "json", "status", "deepseek", "--host", "main"])
        .expect(0)
        .json();
    assert!(doc.is_object());

    let out = server
        .relay(&["resources", "deepseek", "--host", "main"])
        .expect(0);
    let text = out.stdout();
    assert!(text.starts_with("TYPE "), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("account ")).count(),
        2,
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("group ")), "{text}");

    let out = server
        .relay(&["access", "status", "deepseek", "--host", "main"])
        .expect(0);
    let text = out.stdout();
    assert!(
        text.starts_with("access of deepseek on main: subscription_ready\n"),
        "{text}"
    );
    assert!(text.contains("gateway proof:"), "{text}");

    // Roll the batch back: every account it created is gone from the host.
    let out = server.relay(&["batch", "rollback", &batch_id]).expect(0);
    assert!(
        out.stdout()
            .contains(&format!("rolled back batch {batch_id}")),
        "{}",
        out.stdout()
    );
    assert!(accounts(&mock).is_empty(), "{:?}", accounts(&mock));
    let out = server.relay(&["batch", "show", &batch_id]).expect(0);
    assert_eq!(field(&out.stdout(), "status"), "rolled_back");

    assert!(!server.log().contains(KEY_1));
}

#[test]
fn a_strict_import_with_an_invalid_key_fails_and_exits_1() {
    let Setup { mock, server, dir } = setup("strict");
    let keys = write(&dir, "keys.txt", &format!("{KEY_1}\n{BAD_KEY}\n"));
    let out = server
        .relay(&[
            "import",
            "deepseek",
            "--host",
            "main",
            "--keys-file",
            s(&keys),
            "--mode",
            "strict",
        ])
        .expect(1);
    out.assert_hides(KEY_1);
    out.assert_hides(BAD_KEY);
    let text = out.stdout();
    assert_eq!(field(&text, "status"), "failed", "{text}");
    let bad = text
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap_or_else(|| panic!("no line for key 2 in\n{text}"));
    assert!(bad.contains("failed"), "{bad}");
    let err = out.stderr();
    assert!(err.starts_with("error: import_failed: batch "), "{err}");
    assert!(err.contains("failed"), "{err}");
    // Strict: nothing of the batch is left on the host.
    assert!(accounts(&mock).is_empty(), "{:?}", accounts(&mock));

    // The failed batch is listed as such; JSON mode prints the final BatchView.
    let out = server
        .relay(&["batch", "list", "--status", "failed"])
        .expect(0);
    assert!(out.stdout().contains("deepseek"), "{}", out.stdout());

    let out = server
        .relay(&[
            "--output",
            "json",
            "import",
            "deepseek",
            "--host",
            "main",
            "--keys-file",
            s(&keys),
            "--mode",
            "partial",
        ])
        .expect(0);
    let doc = out.json();
    assert_eq!(doc["batch"]["status"], "partially_succeeded");
    assert_eq!(doc["batch"]["counts"]["failed"], 1);
    assert!(
        out.stderr().contains("import partially succeeded"),
        "{}",
        out.stderr()
    );
    out.assert_hides(BAD_KEY);
    assert_eq!(accounts(&mock).len(), 1);

    // A second import of the same provider while none runs is fine; an unknown provider
    // is the server's error with its code.
    let out = server
        .relay(&[
            "import",
            "no-such-provider",
            "--host",
            "main",
            "--keys-file",
            s(&keys),
        ])
        .expect(1);
    assert!(out.stderr().starts_with("error: "), "{}", out.stderr());
    assert!(
        out.stderr().contains("no-such-provider"),
        "{}",
        out.stderr()
    );
    out.assert_hides(KEY_1);
}

#[test]
fn keys_can_come_from_stdin() {
    let Setup { mock, server, .. } = setup("stdin");
    let out = server
        .relay_with(
            &["import", "deepseek", "--host", "main", "--keys-file", "-"],
            &[],
            Some(&format!("{KEY_1}\n{KEY_1}\n")),
        )
        .expect(0);
    out.assert_hides(KEY_1);
    assert_eq!(
        field(&out.stdout(), "status"),
        "succeeded",
        "{}",
        out.stdout()
    );
    assert_eq!(accounts(&mock).len(), 1);
}

#[test]
fn an_import_cut_by_a_server_crash_exits_1_and_can_be_resumed() {
    let Setup { mock, server, dir } = setup("crash");
    let keys = write(&dir, "keys.txt", &format!("{KEY_1}\n{KEY_2}\n"));
    mock.set_faults(Faults {
        account_test_latency_ms: 3_000,
        ..Faults::default()
    });
    let mut command = server.command(&[
        "import",
        "deepseek",
        "--host",
        "main",
        "--keys-file",
        s(&keys),
        "--concurrency",
        "1",
    ]);
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let cli = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while accounts(&mock).is_empty() {
        assert!(Instant::now() < deadline, "no account was created");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The server dies mid-import and comes back: the CLI, still polling, sees the
    // batch interrupted and exits 1 naming the way out.
    let server = server.crash_and_restart();
    mock.set_faults(Faults::default());
    let out = Run(cli.wait_with_output().unwrap()).expect(1);
    out.assert_hides(KEY_1);
    let text = out.stdout();
    assert_eq!(field(&text, "status"), "interrupted", "{text}");
    let batch_id = field(&text, "batch").to_owned();
    let err = out.stderr();
    assert!(err.starts_with("error: import_interrupted: "), "{err}");
    assert!(
        err.contains(&format!("relay batch resume {batch_id}")),
        "{err}"
    );

    let out = server
        .relay(&["batch", "resume", &batch_id, "--keys-file", s(&keys)])
        .expect(0);
    out.assert_hides(KEY_1);
    out.assert_hides(KEY_2);
    let text = out.stdout();
    assert_eq!(field(&text, "status"), "succeeded", "{text}");
    assert!(text.contains("access: subscription_ready"), "{text}");
    assert_eq!(accounts(&mock).len(), 2, "{:?}", accounts(&mock));
}

#[test]
fn a_self_service_import_without_a_probe_key_leaves_access_not_configured() {
    let Setup { mock, server, dir } = setup("self-service");
    let keys = write(&dir, "keys.txt", &format!("{KEY_1}\n"));
    let out = server
        .relay(&[
            "import",
            "deepseek",
            "--host",
            "main",
            "--keys-file",
            s(&keys),
            "--access",
            "self_service",
            "--mode",
            "partial",
        ])
        .expect(0);
    let text = out.stdout();
    assert_eq!(field(&text, "status"), "succeeded", "{text}");
    assert_eq!(field(&text, "access_mode"), "self_service", "{text}");
    assert!(text.contains("access: not_configured"), "{text}");
    assert_eq!(accounts(&mock).len(), 1);
    let out = server
        .relay(&["access", "status", "deepseek", "--host", "main"])
        .expect(0);
    assert!(
        out.stdout()
            .starts_with("access of deepseek on main: not_configured\n"),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains("no gateway proof recorded yet"));
}

/// Days of the host subscription of the user with this e-mail (expiry − start).
fn subscription_days(mock: &sub2api_mock::MockHost, email: &str) -> i64 {
    let state = mock.state();
    let user = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("user {email} on the host"))
        .clone();
    let sub = state["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["user_id"] == user["id"])
        .unwrap_or_else(|| panic!("a subscription of {email}"))
        .clone();
    let at = |field: &str| {
        relay_domain::Timestamp::parse_rfc3339(sub[field].as_str().expect(field))
            .expect(field)
            .as_millis()
    };
    (at("expires_at") - at("starts_at")) / (24 * 3600 * 1000)
}

#[test]
fn each_subscriber_may_carry_its_own_validity() {
    let Setup { mock, server, dir } = setup("import-subscriber-days");
    let keys = write(&dir, "keys.txt", &format!("{KEY_1}\n"));
    // A number of days out of range is refused before anything is sent.
    server
        .relay(&[
            "import",
            "deepseek",
            "--host",
            "main",
            "--keys-file",
            s(&keys),
            "--subscriber",
            "carol@example.com:0",
        ])
        .expect(2);
    assert!(accounts(&mock).is_empty());

    let out = server
        .relay(&[
            "import",
            "deepseek",
            "--host",
            "main",
            "--keys-file",
            s(&keys),
            "--subscriber",
            "alice@example.com:7",
            "--subscriber",
            "bob@example.com",
            "--days",
            "30",
        ])
        .expect(0);
    let text = out.stdout();
    assert_eq!(field(&text, "status"), "succeeded", "{text}");
    assert_eq!(subscription_days(&mock, "alice@example.com"), 7);
    assert_eq!(subscription_days(&mock, "bob@example.com"), 30);
}
