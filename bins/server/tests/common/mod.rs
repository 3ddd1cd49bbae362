//! Runs the real `relay-server` binary against an in-process mock host.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const TOKEN: &str = "test-operator-token-0123456789abcdef";

pub struct Server {
    pub base: String,
    pub child: Child,
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
    private_dir(&d);
    d
}

/// Creates `dir` (and its parents) with mode 0700, as the server wants a data
/// directory.
pub fn private_dir(dir: &Path) {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).unwrap();
}

/// The server command with a clean environment: packs install by server path from
/// the repository (`RELAY_PACKS_DIR`), no token or key from the caller.
pub fn server_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relay-server"));
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("RELAY_ADMIN_TOKEN")
        .env_remove("RELAY_MASTER_KEY")
        .env_remove("RELAY_DATABASE_URL_FILE")
        .env("RELAY_PACKS_DIR", repo_root())
        .env("RELAY_WARMUP_SECS", "5");
    match database_url_for(data_dir) {
        Some(url) => cmd.env("RELAY_DATABASE_URL", url),
        None => cmd.env_remove("RELAY_DATABASE_URL"),
    };
    cmd
}

/// True when the suite runs on PostgreSQL (`RELAY_TEST_DATABASE_URL`, set by
/// `cargo xtask ci`): the servers keep their state there, one schema per data
/// directory, and the data directory holds no `relay.db`.
pub fn on_postgres() -> bool {
    std::env::var("RELAY_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

/// On PostgreSQL, the URL of `data_dir`'s own schema (created when missing).
pub fn database_url_for(data_dir: &Path) -> Option<String> {
    let url = std::env::var("RELAY_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name: String = data_dir
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    // Schema names hold at most 63 bytes: keep the unique tail of the path.
    let tail = &name[name.len().saturating_sub(50)..];
    let schema = format!("relay_srv_{}", tail.to_ascii_lowercase());
    Some(relay_store::schemas::postgres_schema_url(&url, &schema).unwrap())
}

/// Runs the server expecting it to refuse to start; returns its exit code and stderr.
pub fn refused(mut cmd: Command) -> (i32, String) {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("relay-server runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !stdout.contains("listening on"),
        "the server started: {stdout}"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts the server on a free port with the given data directory.
pub fn start(data_dir: &Path, token: Option<&str>) -> Server {
    start_with(data_dir, token, &[])
}

/// Starts the server with extra environment variables.
pub fn start_with(data_dir: &Path, token: Option<&str>, env: &[(&str, &str)]) -> Server {
    let stderr_path = data_dir.join("server.log");
    let mut cmd = server_command(data_dir);
    if let Some(t) = token {
        cmd.env("RELAY_ADMIN_TOKEN", t);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    spawn(cmd, &stderr_path)
}

/// Spawns a prepared server command with stderr appended to `stderr_path` and waits
/// for its "listening" line.
pub fn spawn(mut cmd: Command, stderr_path: &Path) -> Server {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_path)
        .unwrap();
    cmd.stdout(Stdio::piped()).stderr(Stdio::from(stderr));
    let mut child = cmd.spawn().expect("relay-server starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("relay-server listening on ")
        .unwrap_or_else(|| {
            panic!(
                "unexpected first line: {line:?}; stderr: {}",
                std::fs::read_to_string(stderr_path).unwrap_or_default()
            )
        })
        .to_string();
    Server {
        base,
        child,
        stderr_path: stderr_path.to_path_buf(),
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

/// Registers the mock host as `main` and installs the bundled pack.
pub fn register_host_and_pack(server: &Server, mock: &sub2api_mock::MockHost) {
    let (status, v) = server.post(
        "/api/hosts",
        &serde_json::json!({"name": "main", "base_url": mock.base_url(), "auth": {"kind": "api_key", "api_key": mock.admin_api_key()}}),
    );
    assert_eq!(status, 201, "{v}");
    let pack = repo_root().join("packs/openai-cn-pack");
    let (status, v) = server.post(
        "/api/packs/install",
        &serde_json::json!({"path": pack.to_string_lossy()}),
    );
    assert_eq!(status, 201, "{v}");
}

/// Asserts that no file directly in `dir` holds any of `keys` in clear.
pub fn assert_no_key_at_rest(dir: &Path, keys: &[&str]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            for key in keys {
                assert!(
                    !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                    "{} contains a raw key",
                    path.display()
                );
            }
        }
    }
}
