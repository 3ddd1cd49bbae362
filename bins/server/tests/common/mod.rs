//! Runs the real `relay-server` binary against an in-process mock host.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const TOKEN: &str = "test-operator-token-0123456789";

pub struct Server {
    pub base: String,
    pub child: Child,
    pub data_dir: PathBuf,
    pub stderr_path: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "relay-server-test-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts the server on a free port with the given data directory.
pub fn start(data_dir: &Path, token: Option<&str>) -> Server {
    start_with(data_dir, token, &[])
}

/// Starts the server with extra environment variables.
pub fn start_with(data_dir: &Path, token: Option<&str>, env: &[(&str, &str)]) -> Server {
    let stderr_path = data_dir.join("server.log");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&stderr_path)
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relay-server"));
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("RELAY_ADMIN_TOKEN")
        .env_remove("RELAY_MASTER_KEY")
        .env("RELAY_WARMUP_SECS", "5")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr));
    if let Some(t) = token {
        cmd.env("RELAY_ADMIN_TOKEN", t);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("relay-server starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("relay-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    Server {
        base,
        child,
        data_dir: data_dir.to_path_buf(),
        stderr_path,
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub fn read(resp: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp
        .into_body()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

impl Server {
    pub fn get(&self, path: &str) -> (u16, Value) {
        read(
            agent()
                .get(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {TOKEN}"))
                .call()
                .unwrap(),
        )
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        read(
            agent()
                .delete(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {TOKEN}"))
                .call()
                .unwrap(),
        )
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        read(
            agent()
                .post(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {TOKEN}"))
                .send_json(body)
                .unwrap(),
        )
    }

    pub fn post_bytes(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        read(
            agent()
                .post(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {TOKEN}"))
                .header("Content-Type", content_type)
                .send(body)
                .unwrap(),
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}
