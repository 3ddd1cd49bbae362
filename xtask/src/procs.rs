//! Building and running the real binaries: the mock host and the relay server.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Cargo profile of the binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `target/debug` (shares the test build).
    Debug,
    /// `target/release`.
    Release,
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// The cargo target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Runs a cargo command in the workspace root, failing when it fails.
pub fn cargo(args: &[&str]) -> Result<()> {
    cargo_with(args, &[])
}

/// [`cargo`] with environment variables set (`Some`) or removed (`None`).
pub fn cargo_with(args: &[&str], env: &[(&str, Option<&str>)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    eprintln!("==> cargo {}", args.join(" "));
    let mut cmd = Command::new(&cargo);
    for (name, value) in env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let status = cmd
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

/// True when `cargo <subcommand> --version` works (the component is installed).
pub fn cargo_has(subcommand: &str) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    Command::new(cargo)
        .args([subcommand, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds the mock host, the server and the CLI; returns the binary directory.
pub fn build_binaries(profile: Profile) -> Result<PathBuf> {
    let mut args = vec![
        "build",
        "--locked",
        "-p",
        "sub2api-mock",
        "-p",
        "relay-server",
        "-p",
        "relay-cli",
    ];
    if profile == Profile::Release {
        args.push("--release");
    }
    cargo(&args)?;
    Ok(target_dir().join(match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    }))
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Its base URL, from the line it printed once listening.
    pub base_url: String,
    /// Where its stderr goes.
    pub log_path: PathBuf,
}

impl Proc {
    /// Starts `program`, waits for a line `<prefix>http://ADDR` on stdout.
    pub fn start(mut cmd: Command, prefix: &str, log_path: &Path) -> Result<Proc> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the child never blocks on a full pipe.
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                bail!(
                    "{cmd:?} did not report its address within 60 s (log: {})",
                    log_path.display()
                );
            }
        };
        let Some(base_url) = line.trim().strip_prefix(prefix) else {
            let _ = child.kill();
            bail!(
                "{cmd:?} printed {line:?} instead of its address (log: {})",
                log_path.display()
            );
        };
        Ok(Proc {
            child,
            base_url: base_url.to_string(),
            log_path: log_path.to_path_buf(),
        })
    }

    /// Kills the process at once (SIGKILL): a crash, not a shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Mock host settings.
#[derive(Debug, Clone)]
pub struct MockSettings {
    /// Admin API key the mock accepts.
    pub admin_api_key: String,
    /// Extra flags (fault knobs).
    pub flags: Vec<String>,
    /// Listen address (default `127.0.0.1:0`: a free loopback port).
    pub listen: String,
}

impl Default for MockSettings {
    fn default() -> Self {
        MockSettings {
            admin_api_key: format!("admin-{}", "5a".repeat(32)),
            flags: Vec::new(),
            listen: "127.0.0.1:0".to_string(),
        }
    }
}

/// Starts the mock host on its listen address (by default a free loopback port).
pub fn start_mock(bin: &Path, settings: &MockSettings, log: &Path) -> Result<Proc> {
    let mut cmd = Command::new(bin.join("sub2api-mock"));
    cmd.args([
        "--listen",
        &settings.listen,
        "--admin-api-key",
        &settings.admin_api_key,
    ])
    .args(&settings.flags);
    Proc::start(cmd, "sub2api-mock listening on ", log)
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Operator token.
    pub token: String,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

/// Starts the relay server on a free loopback port.
pub fn start_server(bin: &Path, settings: &ServerSettings, log: &Path) -> Result<Proc> {
    // The server creates its data directory 0700 (and refuses a looser one).
    if let Some(parent) = settings.data_dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut cmd = Command::new(bin.join("relay-server"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&settings.data_dir)
        .env("RELAY_ADMIN_TOKEN", &settings.token)
        .env_remove("RELAY_MASTER_KEY")
        .env_remove("RELAY_MASTER_KEY_FILE")
        .env_remove("RELAY_DATABASE_URL")
        .env_remove("RELAY_DATABASE_URL_FILE")
        .env("RELAY_LOG_FORMAT", "json");
    for (k, v) in &settings.env {
        cmd.env(k, v);
    }
    Proc::start(cmd, "relay-server listening on ", log)
}

/// `target/<name>`, emptied (created when missing).
pub fn fresh_dir(name: &str) -> Result<PathBuf> {
    let dir = target_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A default mock host and a `relay-server` over it on loopback, their logs and the
/// server's data in `dir`: no reconcile scheduler, packs from the repository's
/// `packs/`, plus `env`. Returns (mock, server, the mock's settings).
pub fn start_mock_and_server(
    bin: &Path,
    dir: &Path,
    token: &str,
    env: &[(&str, &str)],
) -> Result<(Proc, Proc, MockSettings)> {
    let mock_settings = MockSettings::default();
    let mock = start_mock(bin, &mock_settings, &dir.join("mock.log"))?;
    let mut all = vec![
        ("RELAY_RECONCILE_INTERVAL".to_string(), "0".to_string()),
        (
            "RELAY_PACKS_DIR".to_string(),
            root().join("packs").display().to_string(),
        ),
    ];
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let server = start_server(
        bin,
        &ServerSettings {
            data_dir: dir.join("data"),
            token: token.to_string(),
            env: all,
        },
        &dir.join("server.log"),
    )?;
    Ok((mock, server, mock_settings))
}
