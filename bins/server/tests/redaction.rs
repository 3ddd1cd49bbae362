//! A chatty host and vendor (the mock's `echo_secrets`) quote every secret they
//! are sent; over HTTP, no answer of the server (registration errors, the import,
//! the batch view and its evidence, reconcile, doctor, rollback), no line of its log
//! and no byte of its data directory holds one.

use crate::common::*;
use serde_json::{json, Value};
use sub2api_mock::{Faults, HostKnobs, MockConfig, MockHost};

const GOOD: &str = "sk-srv-redact-good-0123456789abcdef";
const INVALID: &str = "sk-srv-redact-invalid-0123456789ab";
const REFUSED: &str = "sk-srv-redact-echo-0123456789abcdef";
const WRONG_ADMIN_KEY: &str = "wrong-admin-key-of-no-known-shape-77";

/// Every answer, as text.
#[derive(Default)]
struct Answers(String);

impl Answers {
    fn keep(&mut self, (status, v): (u16, Value)) -> (u16, Value) {
        self.0.push_str(&v.to_string());
        self.0.push('\n');
        (status, v)
    }
}

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_answer_log_line_or_stored_byte_holds_a_secret_the_host_echoed() {
    let mock = MockHost::start(MockConfig {
        faults: Faults {
            warmup_ms: 800,
            ..Faults::default()
        },
        ..MockConfig::default()
    })
    .unwrap();
    mock.set_knobs(HostKnobs {
        echo_secrets: true,
        ..HostKnobs::default()
    });
    let dir = temp_dir("redaction");
    let server = start_with(
        &dir,
        Some(TOKEN),
        &[("RELAY_RECONCILE_INTERVAL", "0"), ("RELAY_LOG", "debug")],
    );
    let mut answers = Answers::default();
    let host = |key: &str| json!({"name": "main", "base_url": mock.base_url(), "auth": {"kind": "api_key", "api_key": key}});

    // A wrong key: the host's 401 quotes it.
    let (status, _) = answers.keep(server.post("/api/hosts", &host(WRONG_ADMIN_KEY)));
    assert_eq!(status, 502);
    // An injected failure: a plain-text 500 quoting the real key.
    mock.set_faults(Faults {
        warmup_ms: 800,
        fail_nth_admin_call: Some(1),
        ..Faults::default()
    });
    let (status, v) = answers.keep(server.post("/api/hosts", &host(mock.admin_api_key())));
    assert_eq!(status, 502, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upstream database refused the caller"),
        "{v}"
    );
    let (status, v) = answers.keep(server.post("/api/hosts", &host(mock.admin_api_key())));
    assert_eq!(status, 201, "{v}");
    let pack = repo_root().join("packs/openai-cn-pack");
    let (status, _) = answers.keep(server.post(
        "/api/packs/install",
        &json!({"path": pack.to_string_lossy()}),
    ));
    assert_eq!(status, 201);

    let (status, v) = answers.keep(server.post(
        "/api/providers/deepseek/import",
        &json!({"host_id": "main", "keys": [GOOD, INVALID, REFUSED], "mode": "partial",
                "subscribers": [{"email": "echo-bob@example.com"}]}),
    ));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["batch"]["status"], "partially_succeeded", "{v}");
    let batch = v["batch"]["id"].as_str().unwrap().to_string();
    let messages: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["message"].as_str().map(str::to_string))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Incorrect API key provided: sk-s…")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("is not accepted")),
        "{messages:?}"
    );

    answers.keep(server.get(&format!("/api/import-batches/{batch}")));
    answers.keep(server.get(&format!("/api/import-batches/{batch}/evidence")));
    answers.keep(server.get("/api/providers/deepseek/status?host_id=main"));
    let (status, v) = answers.keep(server.post(
        "/api/providers/deepseek/reconcile",
        &json!({"host_id": "main"}),
    ));
    assert_eq!(status, 200, "{v}");
    if let Some(run) = v["id"].as_str() {
        answers.keep(server.get(&format!("/api/reconcile-runs/{run}/evidence")));
    }
    answers.keep(server.get("/api/providers/deepseek/doctor?host_id=main"));
    let (status, v) =
        answers.keep(server.post(&format!("/api/import-batches/{batch}/rollback"), &json!({})));
    assert_eq!(status, 200, "{v}");
    answers.keep(server.get(&format!("/api/import-batches/{batch}/evidence")));

    let mut secrets = vec![
        GOOD.to_string(),
        INVALID.to_string(),
        REFUSED.to_string(),
        WRONG_ADMIN_KEY.to_string(),
        TOKEN.to_string(),
    ];
    secrets.extend(mock.secrets());
    for s in &secrets {
        assert!(!answers.0.contains(s.as_str()), "{s} in an answer");
    }
    drop(server);
    let mut all = Vec::new();
    files(&dir, &mut all);
    let names: Vec<String> = all
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if let Some(url) = database_url_for(&dir) {
        // The state is in PostgreSQL: every row of the server's schema, as text.
        let rows: String = relay_store::schemas::postgres_rows(&url)
            .unwrap()
            .iter()
            .map(|(_, row)| format!("{row}\n"))
            .collect();
        assert!(rows.contains("deepseek"), "the schema holds the import");
        for s in &secrets {
            assert!(!rows.contains(s.as_str()), "{s} in the PostgreSQL schema");
        }
    } else {
        assert!(names.iter().any(|n| n == "relay.db"), "{names:?}");
    }
    assert!(names.iter().any(|n| n == "server.log"), "{names:?}");
    for path in all {
        let bytes = std::fs::read(&path).unwrap();
        for s in &secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s} in {}",
                path.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
