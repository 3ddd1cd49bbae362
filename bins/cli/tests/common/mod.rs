//! Runs the real `relay` binary against a real `relay-server` process (this test
//! binary running the server's library, see [`server_command`]), which talks to an
//! in-process sub2api mock host.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const TOKEN: &str = "cli-test-operator-token-0123456789";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "relay-cli-it-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    // Private (0700): the server refuses a data directory others can read.
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(&dir).unwrap();
    dir
}

/// Env var naming the data directory of [`server_process`]; its presence is what
/// makes that function serve.
const SERVE_DATA_DIR: &str = "RELAY_CLI_TEST_SERVE_DATA_DIR";
/// Env var with the address [`server_process`] listens on.
const SERVE_LISTEN: &str = "RELAY_CLI_TEST_SERVE_LISTEN";

/// The server process of these tests: this test binary, started again to run only
/// [`server_process`], which serves `relay-server` (its library, the very code of the
/// binary) until it is killed. A real process, so a test can crash it; no build of
/// another package from inside a test.
fn server_command(data_dir: &Path, listen: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([
            "common::server_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SERVE_DATA_DIR, data_dir)
        .env(SERVE_LISTEN, listen);
    command
}

/// Not a test: the body of the server process (see [`server_command`]). Run without
/// that command's environment, it fails.
#[test]
#[ignore = "the server process of the CLI tests; started by them"]
fn server_process() {
    let data_dir = std::env::var_os(SERVE_DATA_DIR)
        .expect("run by the CLI tests as their server process (needs its environment)");
    let listen = std::env::var_os(SERVE_LISTEN).expect("the address to listen on");
    let args: Vec<std::ffi::OsString> = vec![
        "relay-server".into(),
        "--listen".into(),
        listen,
        "--data-dir".into(),
        data_dir,
    ];
    if let Err(e) = relay_server::main_with_args(args) {
        eprintln!("relay-server: {e:#}");
        std::process::exit(1);
    }
}

pub struct Server {
    pub base: String,
    pub child: Child,
    pub data_dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `relay-server` on a free port with a fresh data directory.
    pub fn start(tag: &str) -> Server {
        Server::start_in(temp_dir(tag), "127.0.0.1:0")
    }

    fn start_in(data_dir: PathBuf, listen: &str) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .unwrap();
        let mut child = server_command(&data_dir, listen)
            .env("RELAY_ADMIN_TOKEN", TOKEN)
            .env_remove("RELAY_MASTER_KEY")
            // `relay pack install --on-server` names packs of the repository.
            .env("RELAY_PACKS_DIR", workspace())
            .env("RELAY_WARMUP_SECS", "5")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("relay-server starts");
        // The test harness of the child prints its own lines first.
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        let base = loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("the server process ended before listening; it printed {seen:?}");
            }
            // The harness prints `test common::server_process ... ` on the same line.
            const LISTENING: &str = "relay-server listening on ";
            if let Some(at) = line.find(LISTENING) {
                break line[at + LISTENING.len()..].trim().to_string();
            }
            seen.push_str(&line);
        };
        Server {
            base,
            child,
            data_dir,
        }
    }

    /// Kills the server (no clean shutdown) and starts it again on the same address
    /// with the same data directory.
    pub fn crash_and_restart(self) -> Server {
        let data_dir = self.data_dir.clone();
        let listen = self
            .base
            .strip_prefix("http://")
            .expect("an http base")
            .to_owned();
        drop(self);
        Server::start_in(data_dir, &listen)
    }

    /// Runs `relay` against this server with the operator token in RELAY_TOKEN.
    pub fn relay(&self, args: &[&str]) -> Run {
        self.relay_with(args, &[], None)
    }

    /// Runs `relay` with extra environment and optional stdin.
    pub fn relay_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut command = self.command(args);
        for (k, v) in env {
            command.env(k, v);
        }
        run(command, stdin)
    }

    /// A `relay` command aimed at this server, with the operator token.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = relay_command(args);
        command
            .env("RELAY_SERVER", &self.base)
            .env("RELAY_TOKEN", TOKEN);
        command
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }
}

/// `relay` with a clean environment (no server, token or token file from the caller).
pub fn relay_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_relay"));
    command
        .args(args)
        .env_remove("RELAY_SERVER")
        .env_remove("RELAY_TOKEN")
        .env_remove("RELAY_TOKEN_FILE");
    command
}

pub fn run(mut command: Command, stdin: Option<&str>) -> Run {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("relay runs");
    if let Some(input) = stdin {
        // A run that fails early (a usage error) may exit before it reads its input:
        // a broken pipe here is that, not a failure of the test.
        match child.stdin.take().unwrap().write_all(input.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("stdin: {e}"),
            _ => {}
        }
    }
    Run(child.wait_with_output().unwrap())
}

/// The outcome of one `relay` run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8(self.0.stdout.clone()).unwrap()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8(self.0.stderr.clone()).unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout()))
    }

    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Asserts that `secret` appears in neither stream.
    pub fn assert_hides(&self, secret: &str) {
        assert!(!self.stdout().contains(secret), "secret in stdout");
        assert!(!self.stderr().contains(secret), "secret in stderr");
    }
}

/// Writes `content` to a new file of `dir`.
pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A mock host registered as `main` and the bundled pack installed.
pub struct Setup {
    pub mock: sub2api_mock::MockHost,
    pub server: Server,
    pub dir: PathBuf,
}

pub fn setup(tag: &str) -> Setup {
    let mock = sub2api_mock::MockHost::start(sub2api_mock::MockConfig::default()).unwrap();
    let server = Server::start(tag);
    let dir = temp_dir(tag);
    let key_file = write(&dir, "admin.key", mock.admin_api_key());
    server
        .relay(&[
            "host",
            "add",
            "main",
            "--url",
            &mock.base_url(),
            "--api-key-file",
            s(&key_file),
        ])
        .expect(0);
    let pack = workspace().join("packs/openai-cn-pack");
    server.relay(&["pack", "install", s(&pack)]).expect(0);
    Setup { mock, server, dir }
}

/// The accounts on the mock host.
pub fn accounts(mock: &sub2api_mock::MockHost) -> Vec<serde_json::Value> {
    mock.state()["accounts"].as_array().unwrap().clone()
}

/// Changes the mock host by hand through its admin API (as an operator would in the
/// host's UI): `DELETE` or `PUT` of `/api/v1/admin/{path}`. Asserts success.
pub fn mock_admin(
    mock: &sub2api_mock::MockHost,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> serde_json::Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}/api/v1/admin/{path}", mock.base_url());
    let key = mock.admin_api_key();
    let response = match (method, body) {
        ("DELETE", None) => agent.delete(&url).header("x-api-key", key).call(),
        ("PUT", Some(body)) => agent.put(&url).header("x-api-key", key).send_json(body),
        _ => panic!("unsupported mock admin call {method} {path}"),
    };
    let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let doc: serde_json::Value = response.body_mut().read_json().unwrap();
    assert!(
        status == 200 && doc["code"] == 0,
        "{method} {url} answered {status}: {doc}"
    );
    doc
}

/// The value of the first `name:` line of a text report.
pub fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name}: line in\n{text}"))
        .trim()
}

/// The cells of the first line whose first cell is `first`.
pub fn row<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first} in\n{text}"))
}
