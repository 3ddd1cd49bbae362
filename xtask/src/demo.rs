//! `cargo xtask demo`: the main job on a laptop. Starts the bundled mock host and the
//! server on free loopback ports, registers the host, installs the bundled pack,
//! imports demo keys for DeepSeek in subscription mode with the `relay` CLI, shows
//! the report with the gateway proof, reconciles once, and stops both.

use crate::procs::{self, MockSettings, Profile, ServerSettings};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Demo upstream keys: the mock's simulated vendors accept any key that does not
/// contain `invalid`, `quota`, `ratelimit` or `slow`.
const DEMO_KEYS: &[&str] = &[
    "sk-demo-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "sk-demo-1b2c3d4e5f60718293a4b5c6d7e8f90a",
    "sk-demo-2c3d4e5f60718293a4b5c6d7e8f90a1b",
];

/// Keys of the batch auto-import step (Kimi and Qwen).
const BATCH_KEYS: &[&str] = &[
    "sk-demo-3d4e5f60718293a4b5c6d7e8f90a1b2c",
    "sk-demo-4e5f60718293a4b5c6d7e8f90a1b2c3d",
];

fn banner(text: &str) {
    println!();
    println!("==> {text}");
}

fn relay(bin: &Path, server: &str, token_file: &Path, args: &[&str]) -> Result<()> {
    println!("$ relay {}", args.join(" "));
    let status = Command::new(bin.join("relay"))
        .args(args)
        .env("RELAY_SERVER", server)
        .env("RELAY_TOKEN_FILE", token_file)
        .env_remove("RELAY_TOKEN")
        .status()
        .context("cannot run the relay CLI")?;
    if !status.success() {
        bail!("`relay {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs the demo.
pub fn run(args: &[String]) -> Result<()> {
    let profile = if args.iter().any(|a| a == "--debug") {
        Profile::Debug
    } else {
        Profile::Release
    };
    banner("building the mock host, the server and the CLI");
    let bin = procs::build_binaries(profile)?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let dir = procs::target_dir()
        .join("demo")
        .join(format!("run-{stamp}"));
    std::fs::create_dir_all(&dir)?;

    let mock_settings = MockSettings::default();
    let mock = procs::start_mock(&bin, &mock_settings, &dir.join("mock.log"))?;
    let token = format!("demo-operator-token-{stamp:016x}");
    let server = procs::start_server(
        &bin,
        &ServerSettings {
            data_dir: dir.join("data"),
            token: token.clone(),
            env: vec![("RELAY_LOG_FORMAT".into(), "text".into())],
        },
        &dir.join("server.log"),
    )?;
    banner(&format!(
        "mock sub2api host on {} · relay-server on {} · work dir {}",
        mock.base_url,
        server.base_url,
        dir.display()
    ));

    let token_file = dir.join("operator.token");
    let admin_key_file = dir.join("admin.key");
    let keys_file = dir.join("keys.txt");
    std::fs::write(&token_file, &token)?;
    std::fs::write(&admin_key_file, &mock_settings.admin_api_key)?;
    std::fs::write(
        &keys_file,
        format!("# demo DeepSeek keys\n{}\n", DEMO_KEYS.join("\n")),
    )?;
    let pack = procs::root().join("packs/openai-cn-pack");
    let pack = pack.to_string_lossy().to_string();
    let url = mock.base_url.clone();
    let keys = keys_file.to_string_lossy().to_string();
    let admin_key = admin_key_file.to_string_lossy().to_string();
    let s = server.base_url.as_str();

    banner("register the host (read-only capability probe)");
    relay(
        &bin,
        s,
        &token_file,
        &[
            "host",
            "add",
            "demo",
            "--url",
            &url,
            "--api-key-file",
            &admin_key,
        ],
    )?;
    banner("install the bundled model pack");
    relay(&bin, s, &token_file, &["pack", "install", &pack])?;
    banner("preview the import (writes nothing to the host)");
    relay(
        &bin,
        s,
        &token_file,
        &[
            "import",
            "deepseek",
            "--host",
            "demo",
            "--keys-file",
            &keys,
            "--preview",
        ],
    )?;
    banner("import the keys in subscription mode and prove access through the gateway");
    relay(
        &bin,
        s,
        &token_file,
        &[
            "import",
            "deepseek",
            "--host",
            "demo",
            "--keys-file",
            &keys,
            "--subscriber",
            "alice@example.com",
        ],
    )?;
    banner("importing the same keys again creates nothing");
    relay(
        &bin,
        s,
        &token_file,
        &["import", "deepseek", "--host", "demo", "--keys-file", &keys],
    )?;
    banner("reconcile: the host still matches the record");
    relay(
        &bin,
        s,
        &token_file,
        &["reconcile", "deepseek", "--host", "demo"],
    )?;
    banner("key pool: per-key health, the vendor's model list against the pack, the audit trail");
    relay(
        &bin,
        s,
        &token_file,
        &["keys", "list", "deepseek", "--host", "demo"],
    )?;
    relay(
        &bin,
        s,
        &token_file,
        &["models", "diff", "deepseek", "--host", "demo"],
    )?;
    relay(
        &bin,
        s,
        &token_file,
        &[
            "audit",
            "--provider",
            "deepseek",
            "--host",
            "demo",
            "--limit",
            "3",
        ],
    )?;
    banner("batch auto-import: paste base URL + key (+ model hint) lines and watch the run");
    let lines_file = dir.join("batch.txt");
    std::fs::write(
        &lines_file,
        format!(
            "# base_url key [model hint]\n\
             https://api.deepseek.com/v1 {} deepseek v4\n\
             https://api.moonshot.cn/v1 {} kimi 2.6\n\
             https://dashscope.aliyuncs.com {} qwen max\n",
            DEMO_KEYS[0], BATCH_KEYS[0], BATCH_KEYS[1]
        ),
    )?;
    let lines = lines_file.to_string_lossy().to_string();
    relay(
        &bin,
        s,
        &token_file,
        &[
            "batch-import",
            "create",
            "--host",
            "demo",
            "--file",
            &lines,
            "--watch",
        ],
    )?;
    relay(&bin, s, &token_file, &["batch-import", "list"])?;
    banner("status");
    relay(&bin, s, &token_file, &["status", "--host", "demo"])?;
    banner(&format!(
        "done: evidence, logs and the state database are in {}",
        dir.display()
    ));
    drop(server);
    drop(mock);
    Ok(())
}
