//! The server end to end: hosts and packs against a mock host, auth, token file.

use crate::common::*;
use serde_json::json;
use sub2api_mock::{Faults, MockConfig, MockHost};

fn register(server: &Server, mock: &MockHost, name: &str) -> (u16, serde_json::Value) {
    server.post(
        "/api/hosts",
        &json!({
            "name": name,
            "base_url": mock.base_url(),
            "auth": {"kind": "api_key", "api_key": mock.admin_api_key()}
        }),
    )
}

#[test]
fn health_is_open_and_api_needs_the_token() {
    let dir = temp_dir("auth");
    let server = start(&dir, Some(TOKEN));
    let (status, v) = read(
        agent()
            .get(format!("{}/healthz", server.base))
            .call()
            .unwrap(),
    );
    assert_eq!((status, v), (200, json!({"status": "ok"})));
    let (status, v) = read(
        agent()
            .get(format!("{}/readyz", server.base))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 200);
    assert_eq!(v, json!({"status": "ready"}));
    let (status, v) = read(
        agent()
            .get(format!("{}/api/hosts", server.base))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 401);
    assert_eq!(v["error"]["code"], "unauthorized");
}

#[test]
fn register_probe_list_and_delete_a_host() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let dir = temp_dir("hosts");
    let server = start(&dir, Some(TOKEN));

    let (status, v) = register(&server, &mock, "main");
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["name"], "main");
    assert_eq!(v["status"], "supported");
    assert_eq!(v["version"], "0.1.179");
    assert_eq!(v["capabilities"]["channels"], true);
    assert_eq!(v["capabilities"]["chat_completions"], true);
    assert!(v.get("admin_secret").is_none());
    let id = v["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("host_"));
    // The response never echoes the admin key.
    assert!(!v.to_string().contains(mock.admin_api_key()));

    let (status, v) = register(&server, &mock, "main");
    assert_eq!(status, 409);
    assert_eq!(v["error"]["code"], "host_exists");

    let (status, v) = server.get("/api/hosts");
    assert_eq!(status, 200);
    assert_eq!(v["hosts"].as_array().unwrap().len(), 1);
    let (status, v) = server.get("/api/hosts/main");
    assert_eq!(status, 200);
    assert_eq!(v["id"], id);

    // The host loses its channels API (an older build): probe marks it and says why.
    mock.set_faults(Faults {
        disable_channels: true,
        ..Faults::default()
    });
    let (status, v) = server.post(&format!("/api/hosts/{id}/probe"), &json!({}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["capabilities"]["channels"], false);
    assert!(v["problems"].to_string().contains("channels"));

    let (status, v) = server.delete(&format!("/api/hosts/{id}"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["deleted"], true);
    let (status, v) = server.get(&format!("/api/hosts/{id}"));
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "host_not_found");
}

#[test]
fn bad_host_input_names_the_field_and_stores_nothing() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let dir = temp_dir("badhost");
    let server = start(&dir, Some(TOKEN));
    let (status, v) = server.post(
        "/api/hosts",
        &json!({"name": "x", "base_url": "ftp://nope", "auth": {"kind": "api_key", "api_key": "k"}}),
    );
    assert_eq!(status, 400);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("base_url:"));
    let (status, v) = server.post(
        "/api/hosts",
        &json!({"name": "x", "base_url": mock.base_url(), "auth": {"kind": "api_key", "api_key": "admin-wrong"}}),
    );
    assert_eq!(status, 502);
    assert_eq!(v["error"]["code"], "host_auth_failed");
    assert!(!v.to_string().contains("admin-wrong"));
    let (status, v) = server.post(
        "/api/hosts",
        &json!({"name": "x", "base_url": "http://127.0.0.1:9", "auth": {"kind": "api_key", "api_key": "k"}}),
    );
    assert_eq!(status, 502);
    assert_eq!(v["error"]["code"], "host_unreachable");
    let (_, v) = server.get("/api/hosts");
    assert_eq!(v["hosts"], json!([]));
}

#[test]
fn install_the_bundled_pack_from_a_path_and_from_a_zip_upload() {
    let dir = temp_dir("packs");
    let server = start(&dir, Some(TOKEN));
    let pack_dir = repo_root().join("packs/openai-cn-pack");
    let (status, v) = server.post(
        "/api/packs/install",
        &json!({"path": pack_dir.to_string_lossy()}),
    );
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["pack_id"], "openai-cn-pack");
    assert_eq!(v["version"], "1.0.0");
    let providers: Vec<String> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider_id"].as_str().unwrap().to_string())
        .collect();
    for p in ["deepseek", "moonshot", "minimax", "qwen", "glm", "stepfun"] {
        assert!(providers.contains(&p.to_string()), "{p} missing");
    }
    assert!(v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["status"] == "installed"));

    // Recorded and shown relative to the packs directory (the repository here).
    assert_eq!(v["source_path"], "packs/openai-cn-pack");
    let (status, v) = server.get("/api/packs");
    assert_eq!(status, 200);
    assert_eq!(v["packs"].as_array().unwrap().len(), 1);
    assert_eq!(v["packs"][0]["source_path"], "packs/openai-cn-pack");
    assert!(!v.to_string().contains(&*repo_root().to_string_lossy()));
    // The same pack by a path relative to the packs directory.
    let (status, v) = server.post(
        "/api/packs/install",
        &json!({"path": "packs/openai-cn-pack"}),
    );
    assert_eq!(status, 201, "{v}");
    let (status, v) = server.get("/api/providers?pack_id=openai-cn-pack");
    assert_eq!(status, 200);
    assert_eq!(v["providers"].as_array().unwrap().len(), providers.len());

    // An invalid pack lists every problem and installs nothing.
    let bad = repo_root().join("fixtures/packs/smoke-model-not-in-defaults");
    let (status, v) = server.post(
        "/api/packs/install",
        &json!({"path": bad.to_string_lossy()}),
    );
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "invalid_pack");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("smoke_test_model"));
    let (_, v) = server.get("/api/packs");
    assert_eq!(v["packs"].as_array().unwrap().len(), 1);

    // A zip upload of garbage is refused precisely.
    let (status, v) = server.post_bytes("/api/packs/install", "application/zip", b"not a zip");
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "invalid_pack");

    // Outside the packs directory: one answer, whether the path exists or not,
    // naming no path; nothing is read.
    let outside: Vec<serde_json::Value> =
        ["/nonexistent/pack", "/etc", "/etc/shadow", "packs/../.."]
            .iter()
            .map(|p| {
                let (status, v) = server.post("/api/packs/install", &json!({ "path": p }));
                assert_eq!(status, 400, "{p}: {v}");
                v
            })
            .collect();
    assert!(outside.iter().all(|v| v == &outside[0]), "{outside:?}");
    let message = outside[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("path:") && message.contains("upload"),
        "{message}"
    );
    assert!(
        !message.contains("/etc") && !message.contains("nonexistent"),
        "{message}"
    );
    // Inside, a missing path is named relative to the packs directory.
    let (status, v) = server.post("/api/packs/install", &json!({"path": "packs/nope"}));
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`packs/nope` does not exist"),
        "{v}"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_packs_directory_never_pins_a_worker() {
    let dir = temp_dir("fifo");
    let packs = dir.join("packs");
    std::fs::create_dir(&packs).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(packs.join("pipe.zip"))
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::symlink("/etc", packs.join("etc")).unwrap();
    let packs_str = packs.to_string_lossy().to_string();
    let server = start_with(&dir, Some(TOKEN), &[("RELAY_PACKS_DIR", &packs_str)]);
    let (status, v) = server.post("/api/packs/install", &json!({"path": "pipe.zip"}));
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not a pack directory or a regular .zip file"));
    let (status, v) = server.post("/api/packs/install", &json!({"path": "etc/passwd"}));
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("symbolic links are not followed"));
    // The server still answers (no worker is stuck on the FIFO).
    let (status, _) = server.get("/api/packs");
    assert_eq!(status, 200);
}

#[test]
fn generated_token_file_is_private_and_never_logged() {
    let dir = temp_dir("token");
    let server = start(&dir, None);
    let token_path = dir.join("admin.token");
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (status, _) = read(
        agent()
            .get(format!("{}/api/hosts", server.base))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 200);
    let log = server.log();
    assert!(log.contains("admin.token"), "the path is logged: {log}");
    assert!(!log.contains(&token), "the token is never logged");
    drop(server);
    // A restart reuses the same token.
    let server = start(&dir, None);
    let (status, _) = read(
        agent()
            .get(format!("{}/api/hosts", server.base))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 200);
}

#[test]
fn metrics_need_the_token_and_count_host_calls() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let dir = temp_dir("metrics");
    let server = start(&dir, Some(TOKEN));
    let (status, _) = read(
        agent()
            .get(format!("{}/metrics", server.base))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 401);
    let (status, v) = register(&server, &mock, "m");
    assert_eq!(status, 201, "{v}");
    let (status, v) = server.get("/metrics");
    assert_eq!(status, 200);
    let text = v.as_str().unwrap();
    assert!(
        text.contains("relay_host_calls_total{operation=\"version\",outcome=\"ok\"} 1"),
        "{text}"
    );
    // One probe: the compliance status, then capabilities with one keyless gateway check.
    assert!(text.contains("relay_host_calls_total{operation=\"compliance\",outcome=\"ok\"} 1"));
    assert!(text.contains(
        "relay_host_calls_total{operation=\"capabilities_with_gateway\",outcome=\"ok\"} 1"
    ));
    assert!(
        !text.contains("operation=\"gateway_reachability\""),
        "the probe checks the gateway once: {text}"
    );
    assert!(text.contains("# TYPE relay_host_calls_duration_seconds histogram"));
    assert!(!text.contains(mock.admin_api_key()));
}

#[test]
fn json_logs_carry_request_ids_and_no_token() {
    let dir = temp_dir("jsonlog");
    let server = start_with(&dir, Some(TOKEN), &[("RELAY_LOG_FORMAT", "json")]);
    let (status, _) = read(
        agent()
            .get(format!("{}/api/hosts", server.base))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("x-request-id", "trace-abc-123")
            .call()
            .unwrap(),
    );
    assert_eq!(status, 200);
    // The request line is written after the answer; give the writer a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let line = loop {
        let log = server.log();
        if let Some(l) = log.lines().find(|l| l.contains("trace-abc-123")) {
            break l.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request line in {log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(v["fields"]["request_id"], "trace-abc-123", "{v}");
    assert_eq!(v["fields"]["status"], 200, "{v}");
    assert_eq!(v["fields"]["path"], "/api/hosts", "{v}");
    assert!(server
        .log()
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert!(!server.log().contains(TOKEN));
}

#[test]
fn metrics_can_be_public_and_sigterm_stops_the_server_cleanly() {
    let dir = temp_dir("public-metrics");
    let mut server = start_with(&dir, Some(TOKEN), &[("RELAY_METRICS_PUBLIC", "true")]);
    let (status, v) = read(
        agent()
            .get(format!("{}/metrics", server.base))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 200);
    assert!(v
        .as_str()
        .unwrap()
        .contains("# TYPE relay_host_calls_total counter"));
    // The API itself still needs the token.
    let (status, _) = read(
        agent()
            .get(format!("{}/api/hosts", server.base))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 401);
    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    assert!(server.log().contains("shutting down"));
}
