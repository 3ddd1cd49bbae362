//! `cargo xtask acceptance`: scenario fixtures run against the real binaries.
//!
//! Each `fixtures/scenarios/*.json` gets a fresh mock host and a fresh server (its
//! own data directory under `target/acceptance/<scenario>/`), runs its steps, and
//! leaves an evidence document at `target/acceptance/<scenario>.json`: what was
//! asked, every step with its requests, answer statuses and body excerpts, the
//! assertions and their outcome, the mock's state before and after, and timings.
//! Secrets (upstream keys, end-user keys, the mock's admin key, the operator token)
//! never reach the evidence: they are replaced by their masks. After every scenario,
//! the data directories, server and mock logs, evidence files, every answer of the
//! server (kept raw in `<scenario>/answers.log`) and the output of every `cli` step
//! (`<scenario>/cli/`) are scanned for every raw secret used — the scenario's keys,
//! the operator token, and every secret the mock host holds or issued (its admin
//! key, the managed subscribers' passwords and user keys the server generated, the
//! JWTs it issued; `GET /__mock/secrets`) — and the database files, the server log,
//! the answers and the CLI output for key-shaped strings (`sk-…`, `admin-<hex>`,
//! JWTs, bearer tokens, refresh tokens, generated passwords).
//!
//! A scenario with `"database": "postgres"` gets a fresh schema of the PostgreSQL
//! database of `RELAY_TEST_DATABASE_URL` instead: every server of the scenario (the
//! first, and each `start_server`, with its own data directory, log and
//! `RELAY_WORKER_ID`) is pointed at it with one random master key and the operator
//! token; after the scenario its rows are written to `<scenario>/database.txt` (scanned
//! like a database file) and the schema is dropped. Without the variable such a
//! scenario is skipped with the reason, except under `CI=true` without
//! `RELAY_SKIP_POSTGRES_TESTS`, where it fails.

mod expect;
mod real;
pub(crate) mod scenario;
mod secrets;

use crate::http::{Client, Reply};
use crate::procs::{self, MockSettings, Proc, Profile, ServerSettings};
use anyhow::{anyhow, bail, Context, Result};
use expect::Assertion;
use real::RealHost;
use scenario::{Database, Expect, Scenario, Step};
use secrets::Secrets;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Operator token of the servers started here.
const TOKEN: &str = "acceptance-operator-token-7c1e9a4f2b8d";
/// Password of the end users created on the mock host.
const END_USER_PASSWORD: &str = "end-user-password-5d3a";
/// Default warm-up window of the server (seconds), so that broken access fails fast.
const DEFAULT_WARMUP_SECS: &str = "5";
/// The batch-import worker's name: the same across restarts of a scenario's server,
/// so a restarted server takes its own item leases back at once.
const WORKER_ID: &str = "acceptance-worker";
/// The batch-import worker's first wait between confirmation attempts (ms) and its
/// confirmation window (s): short, so that runs end quickly.
const CONFIRM_BACKOFF_MS: &str = "300";
const CONFIRM_WINDOW_SECS: &str = "30";
/// Longest wait for one answer of the server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);
/// The PostgreSQL database whose schemas `postgres` scenarios run in.
const TEST_DATABASE_URL: &str = "RELAY_TEST_DATABASE_URL";
/// Why PostgreSQL is missing, when `.ci/run` could not start it.
const SKIP_POSTGRES: &str = "RELAY_SKIP_POSTGRES_TESTS";

/// `RELAY_TEST_DATABASE_URL`, when set.
fn test_database_url() -> Option<String> {
    std::env::var(TEST_DATABASE_URL)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// What becomes of a `postgres` scenario without a database: `Ok(reason)` to skip
/// it, `Err(reason)` to fail it (under `CI=true`, unless `RELAY_SKIP_POSTGRES_TESTS`
/// says why PostgreSQL is missing).
fn without_postgres(ci: Option<&str>, skip_reason: Option<&str>) -> Result<String, String> {
    let under_ci = ci.is_some_and(|v| v == "true" || v == "1");
    let missing = format!("needs PostgreSQL ({TEST_DATABASE_URL} is not set)");
    match skip_reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => Ok(format!("{missing}: {reason}")),
        None if under_ci => Err(format!(
            "{missing}, and CI=true requires it (or {SKIP_POSTGRES} saying why not)"
        )),
        None => Ok(format!(
            "{missing}; .ci/run starts one, or point it at a database"
        )),
    }
}

/// Command-line options of `cargo xtask acceptance`.
#[derive(Debug, Default)]
struct Options {
    filters: Vec<String>,
    host_url: Option<String>,
    admin_key_file: Option<PathBuf>,
    upstream_url: Option<String>,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow!("{flag} needs a value"))
        };
        match a.as_str() {
            "--host-url" => o.host_url = Some(value(a)?),
            "--admin-key-file" => o.admin_key_file = Some(PathBuf::from(value(a)?)),
            "--upstream-url" => o.upstream_url = Some(value(a)?),
            flag if flag.starts_with("--") => bail!(
                "unknown option {flag} (known: --host-url URL --admin-key-file FILE [--upstream-url URL])"
            ),
            filter => o.filters.push(filter.to_string()),
        }
    }
    match (&o.host_url, &o.admin_key_file) {
        (Some(_), None) => {
            bail!("--host-url needs --admin-key-file FILE (the host's admin API key)")
        }
        (None, Some(_)) | (None, None) if o.upstream_url.is_some() => {
            bail!("--upstream-url is only for a real host (--host-url)")
        }
        (None, Some(_)) => bail!("--admin-key-file is only for a real host (--host-url)"),
        _ => {}
    }
    Ok(o)
}

/// Connects to the real host of `--host-url` and chooses its accounts' upstream:
/// `--upstream-url`, or the mock's vendor role started here on loopback.
fn real_target(o: &Options, url: &str) -> Result<RealTarget> {
    let key_file = o
        .admin_key_file
        .as_ref()
        .ok_or_else(|| anyhow!("--admin-key-file is required"))?;
    let admin_key = std::fs::read_to_string(key_file)
        .with_context(|| format!("cannot read {}", key_file.display()))?
        .trim()
        .to_string();
    if admin_key.is_empty() {
        bail!("{} is empty", key_file.display());
    }
    let api = Client::with_timeout(url, None, REQUEST_TIMEOUT);
    let host = RealHost::new(url, &admin_key, api);
    let version = host.check_ready()?;
    println!("real host {url} (version {version})");
    Ok(RealTarget {
        host,
        admin_key,
        version,
    })
}

/// The upstream every account of the run uses: `--upstream-url`, or the mock's
/// vendor role started here on loopback (returned, so it lives as long as the run).
fn upstream(bin: &Path, out: &Path, o: &Options) -> Result<(String, Option<Proc>)> {
    Ok(match &o.upstream_url {
        Some(u) => (u.trim_end_matches('/').to_string(), None),
        None => {
            let mut cmd = std::process::Command::new(bin.join("sub2api-mock"));
            cmd.args(["--role", "vendor", "--listen", "127.0.0.1:0"]);
            let p = Proc::start(
                cmd,
                "sub2api-mock vendor listening on ",
                &out.join("vendor.log"),
            )?;
            (p.base_url.clone(), Some(p))
        }
    })
}

/// Runs the scenarios (see [`parse_options`]): against a fresh mock host each, or
/// with `--host-url` against one real host, where a scenario that needs a mock
/// fault knob is skipped with the reason and every scenario's objects are removed
/// from the host after it.
pub fn run(args: &[String]) -> Result<()> {
    let o = parse_options(args)?;
    let filters = &o.filters;
    let bin = procs::build_binaries(Profile::Debug)?;
    let dir = procs::root().join("fixtures/scenarios");
    let out = procs::target_dir().join(if o.host_url.is_some() {
        "acceptance-real"
    } else {
        "acceptance"
    });
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let target = match &o.host_url {
        Some(url) => Target::Real(Box::new(real_target(&o, url)?)),
        None => Target::Mock,
    };
    let (upstream_url, _vendor) = upstream(&bin, &out, &o)?;
    println!("accounts' upstream (every pack's base_url): {upstream_url}");
    let run_env = RunEnv {
        bin: bin.clone(),
        out: out.clone(),
        target,
        upstream_url,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    paths.retain(|p| filters.is_empty() || filters.iter().any(|f| stem(p).contains(f.as_str())));
    if paths.is_empty() {
        bail!("no scenario in {} matches {filters:?}", dir.display());
    }

    let started = Instant::now();
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut all_secrets = Secrets::default();
    all_secrets.add(TOKEN);
    all_secrets.add(&MockSettings::default().admin_api_key);
    if let Target::Real(r) = &run_env.target {
        all_secrets.add(&r.admin_key);
    }
    let mut scan_roots = Vec::new();
    let mut ran = 0usize;
    let mut shape_roots = Vec::new();
    for path in &paths {
        let name = stem(path);
        let t = Instant::now();
        let scenario = match scenario::load(path) {
            Ok(s) => s,
            Err(e) => {
                println!("FAIL {name}: {e:#}");
                failed += 1;
                continue;
            }
        };
        if let (Target::Real(_), Some(why)) = (&run_env.target, real::needs_mock(&scenario)) {
            println!("SKIP {name}: needs the mock host ({why})");
            skipped += 1;
            continue;
        }
        if scenario.database == Database::Postgres && test_database_url().is_none() {
            let ci = std::env::var("CI").ok();
            let reason = std::env::var(SKIP_POSTGRES).ok();
            match without_postgres(ci.as_deref(), reason.as_deref()) {
                Ok(why) => {
                    println!("SKIP {name}: {why}");
                    skipped += 1;
                }
                Err(why) => {
                    println!("FAIL {name}: {why}");
                    failed += 1;
                }
            }
            continue;
        }
        let outcome = run_scenario(&run_env, path, &scenario);
        ran += 1;
        all_secrets.extend(&outcome.secrets);
        let (data_dirs, server_logs) = server_files(&outcome.dir);
        for data in &data_dirs {
            for name in ["relay.db", "relay.db-wal", "relay.db-shm"] {
                shape_roots.push(data.join(name));
            }
            scan_roots.push(data.clone());
        }
        for log in &server_logs {
            shape_roots.push(log.clone());
            scan_roots.push(log.clone());
        }
        // The rows of a PostgreSQL scenario's schema, written before it was dropped.
        shape_roots.push(outcome.dir.join(DATABASE_DUMP));
        scan_roots.push(outcome.dir.join(DATABASE_DUMP));
        for name in ["answers.log", "cli"] {
            shape_roots.push(outcome.dir.join(name));
        }
        scan_roots.push(outcome.dir.join("answers.log"));
        scan_roots.push(outcome.dir.join("cli"));
        scan_roots.push(outcome.dir.join("mock.log"));
        scan_roots.push(out.join("vendor.log"));
        scan_roots.push(outcome.evidence.clone());
        let secs = t.elapsed().as_secs_f64();
        match outcome.failure {
            None => {
                println!(
                    "PASS {name} ({} steps, {} assertions, {secs:.1} s)",
                    outcome.steps, outcome.assertions
                );
                passed += 1;
            }
            Some(reason) => {
                println!(
                    "FAIL {name}: {} ({secs:.1} s, evidence: {})",
                    outcome.secrets.redact_str(&reason),
                    outcome.evidence.display()
                );
                failed += 1;
            }
        }
    }

    if ran == 0 {
        // Nothing was written: nothing to scan (every scenario asked was skipped).
        println!("SKIP the secret scans: no scenario ran");
    } else {
        let (p, f) = scan_for_secrets(&shape_roots, &scan_roots, &all_secrets);
        passed += p;
        failed += f;
    }
    println!(
        "{passed} passed, {failed} failed, {skipped} skipped ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        bail!("{failed} acceptance check(s) failed");
    }
    Ok(())
}

/// The scans after the scenarios: key-shaped strings in `shape_roots`, and every
/// secret of the run in `scan_roots`; returns the checks (passed, failed).
fn scan_for_secrets(
    shape_roots: &[PathBuf],
    scan_roots: &[PathBuf],
    all_secrets: &Secrets,
) -> (usize, usize) {
    let (mut passed, mut failed) = (0usize, 0usize);
    // No key-shaped string in what the server stored, logged, answered or the CLI
    // printed (secrets the harness cannot know: generated ones on a real host).
    const SHAPES: &str =
        "no key-shaped string in the databases, server logs, API answers or CLI output";
    match secrets::scan_shapes(shape_roots) {
        Ok((files, found)) if found.is_empty() && files > 0 => {
            println!("PASS {SHAPES} ({files} files)");
            passed += 1;
        }
        Ok((0, _)) => {
            println!("FAIL {SHAPES}: nothing to scan");
            failed += 1;
        }
        Ok((_, found)) => {
            let list: Vec<String> = found
                .iter()
                .take(20)
                .map(|f| format!("{} in {}", f.mask, f.path.display()))
                .collect();
            println!(
                "FAIL {SHAPES}: {} ({} in all)",
                list.join(", "),
                found.len()
            );
            failed += 1;
        }
        Err(e) => {
            println!("FAIL {SHAPES}: {e:#}");
            failed += 1;
        }
    }

    // No raw secret anywhere the server wrote or answered, the CLI printed, nor in
    // the evidence.
    const SCAN: &str =
        "no raw secret in the data directories, logs, API answers, CLI output or evidence";
    match secrets::scan(scan_roots, all_secrets) {
        Ok((files, found)) if found.is_empty() && files > 0 => {
            println!(
                "PASS {SCAN} ({files} files, {} secrets)",
                all_secrets.iter().count()
            );
            passed += 1;
        }
        Ok((0, _)) => {
            println!("FAIL {SCAN}: nothing to scan");
            failed += 1;
        }
        Ok((_, found)) => {
            let list: Vec<String> = found
                .iter()
                .map(|f| format!("{} in {}", f.mask, f.path.display()))
                .collect();
            println!("FAIL {SCAN}: {}", list.join(", "));
            failed += 1;
        }
        Err(e) => {
            println!("FAIL {SCAN}: {e:#}");
            failed += 1;
        }
    }
    (passed, failed)
}

/// Sets the scenario's fault knobs on a (re)started mock.
fn set_mock_faults(host_api: &Client, faults: Option<&Value>) -> Result<()> {
    if let Some(f) = faults {
        let r = host_api.post("/__mock/faults", f)?;
        if r.status != 200 {
            bail!("the mock refused the faults {f}: {} {}", r.status, r.body);
        }
    }
    Ok(())
}

/// Where a PostgreSQL scenario's rows are written before its schema is dropped.
const DATABASE_DUMP: &str = "database.txt";

/// The data directories (`data`, `data-<server>`) and logs (`server.log`,
/// `server-<server>.log`) of the servers of a scenario's directory.
fn server_files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut data, mut logs) = (Vec::new(), Vec::new());
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() && (name == "data" || name.starts_with("data-")) {
            data.push(path);
        } else if name == "server.log" || (name.starts_with("server-") && name.ends_with(".log")) {
            logs.push(path);
        }
    }
    data.sort();
    logs.sort();
    (data, logs)
}

/// The PostgreSQL schema of one scenario, in the database of
/// `RELAY_TEST_DATABASE_URL`, and the settings its servers share.
struct ScenarioDatabase {
    /// `RELAY_TEST_DATABASE_URL`: where the schema is made and dropped.
    admin_url: String,
    /// The schema (unique per run).
    schema: String,
    /// The servers' `RELAY_DATABASE_URL`: the admin URL with the schema as its
    /// search path.
    url: String,
    /// The servers' `RELAY_MASTER_KEY`: 32 random bytes, base64.
    master_key: String,
}

impl ScenarioDatabase {
    /// Creates a fresh schema for `scenario` and a master key.
    fn create(admin_url: &str, scenario: &str) -> Result<ScenarioDatabase> {
        let schema = schema_name(scenario, std::process::id(), unix_ms());
        let url = relay_store::schemas::postgres_schema_url(admin_url, &schema).map_err(|e| {
            anyhow!("cannot create the schema {schema} in the database of {TEST_DATABASE_URL}: {e}")
        })?;
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|e| anyhow!("no random master key: {e}"))?;
        use base64::Engine as _;
        Ok(ScenarioDatabase {
            admin_url: admin_url.to_string(),
            url,
            master_key: base64::engine::general_purpose::STANDARD.encode(key),
            schema,
        })
    }

    /// The secrets of the database: its URLs and password, and the master key.
    fn secrets(&self) -> Vec<String> {
        let mut out = vec![
            self.admin_url.clone(),
            self.url.clone(),
            self.master_key.clone(),
        ];
        if let Ok(config) = self.admin_url.parse::<postgres::Config>() {
            if let Some(p) = config.get_password() {
                out.push(String::from_utf8_lossy(p).into_owned());
            }
        }
        out
    }

    /// Writes every row of the schema's tables to `path` (`<table>\t<row as text>`
    /// per line); returns the number of rows.
    fn dump(&self, path: &Path) -> Result<usize> {
        let rows = relay_store::schemas::postgres_rows(&self.url)
            .map_err(|e| anyhow!("cannot read the schema {}: {e}", self.schema))?;
        let mut out = String::new();
        for (table, text) in &rows {
            out.push_str(table);
            out.push('\t');
            out.push_str(text);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(rows.len())
    }

    /// Drops the schema and everything in it.
    fn drop_schema(&self) -> Result<()> {
        relay_store::schemas::postgres_drop_schema(&self.admin_url, &self.schema)
            .map_err(|e| anyhow!("cannot drop the schema {}: {e}", self.schema))
    }
}

/// A schema name for a scenario's run: `relay_acc_<pid>_<ms>_<scenario>`, in
/// lowercase letters, digits and `_`, at most 63 bytes (PostgreSQL's limit).
fn schema_name(scenario: &str, pid: u32, ms: u64) -> String {
    let tail: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("relay_acc_{pid}_{ms}_{tail}");
    name.truncate(63);
    name
}

/// The host a run talks to.
enum Target {
    /// A fresh mock host per scenario.
    Mock,
    /// One real host for every scenario (`--host-url`).
    Real(Box<RealTarget>),
}

/// A real host and its admin key.
struct RealTarget {
    host: RealHost,
    admin_key: String,
    version: String,
}

/// What every scenario of a run shares.
struct RunEnv {
    bin: PathBuf,
    out: PathBuf,
    target: Target,
    /// The vendor every pack's `base_url` is pointed at.
    upstream_url: String,
}

/// The host of one scenario.
enum HostSide {
    /// The scenario's own mock host.
    Mock {
        proc: Proc,
        settings: MockSettings,
        faults: Option<Value>,
        log: PathBuf,
    },
    /// The real host, with what was on it before the scenario.
    Real {
        real: RealHost,
        baseline: real::Baseline,
    },
}

/// What one scenario left behind.
struct Outcome {
    failure: Option<String>,
    /// Steps run and assertions checked.
    steps: usize,
    assertions: usize,
    dir: PathBuf,
    evidence: PathBuf,
    secrets: Secrets,
}

/// One step as it ran.
#[derive(Debug, Serialize)]
struct StepRecord {
    index: usize,
    action: &'static str,
    /// The server the step talked to (`a`, or the name of a `start_server`).
    server: String,
    outcome: &'static str,
    started_ms: u64,
    duration_ms: u64,
    requests: Vec<Value>,
    notes: BTreeMap<String, Value>,
    assertions: Vec<Assertion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl StepRecord {
    fn failure(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        self.assertions.iter().find(|a| !a.pass).map(|a| {
            format!(
                "{}: expected {}, got {}",
                a.what,
                a.expected,
                short(&a.actual.to_string(), 300)
            )
        })
    }
}

fn short(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut cut = n;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// What evidence keeps of a run item.
fn item_summary(i: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for k in [
        "line",
        "item_id",
        "state",
        "provider_id",
        "adhoc",
        "mask",
        "model_hint",
        "canonical_model",
        "model_correction",
        "reuse_decision",
        "account_id",
        "confirmation_status",
        "access_status",
        "attempts",
        "key_held",
        "last_error",
        "warnings",
    ] {
        out.insert(k.to_string(), i.get(k).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A running scenario: its processes and what earlier steps captured.
struct Run {
    bin: PathBuf,
    /// The scenario's directory (`target/acceptance/<scenario>`).
    dir: PathBuf,
    /// `cli` steps run so far (numbers their output files).
    cli_runs: usize,
    host: HostSide,
    host_base_url: String,
    upstream_url: String,
    packs_dir: PathBuf,
    host_api: Client,
    admin_key: String,
    /// The server the steps talk to: its name, process (`None` once killed),
    /// settings and log.
    server_name: String,
    server: Option<Proc>,
    settings: ServerSettings,
    server_log: PathBuf,
    api: Client,
    /// The servers started before the current one (`start_server`), still running
    /// unless killed.
    others: Vec<OtherServer>,
    batches: BTreeMap<String, String>,
    keys: BTreeMap<String, String>,
    snapshots: BTreeMap<String, Value>,
    /// What `${name}` stands for: captured batch ids and host values.
    values: BTreeMap<String, Value>,
    scrapes: BTreeMap<String, Vec<expect::Sample>>,
    secrets: Secrets,
    t0: Instant,
}

/// A server of the scenario the steps no longer talk to.
struct OtherServer {
    name: String,
    proc: Option<Proc>,
    settings: ServerSettings,
    log: PathBuf,
}

/// The batch-import worker's name of a scenario's server: [`WORKER_ID`] for the
/// first, `<WORKER_ID>-<name>` for the others.
fn worker_id(server: &str) -> String {
    if server == scenario::FIRST_SERVER {
        WORKER_ID.to_string()
    } else {
        format!("{WORKER_ID}-{server}")
    }
}

/// What the evidence tells of a server.
fn server_summary(name: &str, proc: Option<&Proc>, settings: &ServerSettings, log: &Path) -> Value {
    let env: BTreeMap<&str, &str> = settings
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    json!({
        "name": name,
        "worker_id": env.get("RELAY_WORKER_ID"),
        "running": proc.is_some(),
        "pid": proc.map(|p| p.child.id()),
        "base_url": proc.map(|p| p.base_url.clone()),
        "data_dir": settings.data_dir.display().to_string(),
        "log": log.display().to_string(),
    })
}

fn run_scenario(env: &RunEnv, path: &Path, s: &Scenario) -> Outcome {
    let (bin, out) = (env.bin.as_path(), env.out.as_path());
    let dir = out.join(&s.name);
    let evidence = out.join(format!("{}.json", s.name));
    let mut secrets = Secrets::default();
    secrets.add(TOKEN);
    secrets.add(END_USER_PASSWORD);
    for step in &s.steps {
        match step {
            Step::Import(x) => x.keys.iter().for_each(|k| secrets.add(k)),
            Step::RegisterHost(x) => x.api_key.iter().for_each(|k| secrets.add(k)),
            Step::ResumeBatch(x) => x.keys.iter().for_each(|k| secrets.add(k)),
            Step::CreateRun(x) => scenario::line_keys(&x.lines)
                .iter()
                .for_each(|k| secrets.add(k)),
            // Upstream keys sent in a call (a diagnosis, say) or put on an account by
            // hand, and admin keys a call registers a host with, are secrets too.
            Step::Call(x) => {
                if let Some(body) = &x.body {
                    scenario::strings(body)
                        .into_iter()
                        .filter(|t| t.starts_with("sk-") || t.starts_with("admin-"))
                        .for_each(|k| secrets.add(&k));
                }
            }
            Step::HostAdmin(x) => {
                if let Some(body) = &x.body {
                    scenario::strings(body)
                        .into_iter()
                        .filter(|t| t.starts_with("sk-") || t.starts_with("admin-"))
                        .for_each(|k| secrets.add(&k));
                }
            }
            _ => {}
        }
    }
    let started_at = unix_ms();
    let t0 = Instant::now();
    let mut doc = json!({
        "scenario": s.name,
        "description": s.description,
        "file": path.strip_prefix(procs::root()).unwrap_or(path).display().to_string(),
        "asked": std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .unwrap_or(Value::Null),
        "started_at_unix_ms": started_at,
    });
    let mut steps: Vec<StepRecord> = Vec::new();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&evidence);
    let database = match s.database {
        Database::Sqlite => Ok(None),
        Database::Postgres => test_database_url()
            .ok_or_else(|| anyhow!("{TEST_DATABASE_URL} is not set"))
            .and_then(|url| ScenarioDatabase::create(&url, &s.name))
            .map(Some),
    };
    if let Ok(Some(db)) = &database {
        db.secrets().iter().for_each(|k| secrets.add(k));
        doc["database"] = json!({"kind": "postgres", "schema": db.schema});
    }
    let result = (|| -> Result<Option<String>> {
        std::fs::create_dir_all(&dir)?;
        let database = match &database {
            Ok(db) => db.as_ref(),
            Err(e) => bail!("{e:#}"),
        };
        let mut run = Run::start(
            bin,
            &dir,
            s,
            &env.target,
            &env.upstream_url,
            database,
            &mut doc,
        )?;
        secrets.add(&run.admin_key);
        doc["host_state_before"] = run.host_state()?;
        let mut failure = None;
        for (i, step) in s.steps.iter().enumerate() {
            let mut rec = StepRecord {
                index: i + 1,
                action: step.action(),
                server: run.server_name.clone(),
                outcome: "skipped",
                started_ms: t0.elapsed().as_millis() as u64,
                duration_ms: 0,
                requests: Vec::new(),
                notes: BTreeMap::new(),
                assertions: Vec::new(),
                error: None,
            };
            if failure.is_some() {
                steps.push(rec);
                continue;
            }
            let t = Instant::now();
            if let Err(e) = run.step(step, &mut rec) {
                rec.error = Some(format!("{e:#}"));
            }
            rec.duration_ms = t.elapsed().as_millis() as u64;
            match rec.failure() {
                Some(f) => {
                    rec.outcome = "failed";
                    failure = Some(format!("step {} ({}): {f}", i + 1, step.action()));
                }
                None => rec.outcome = "passed",
            }
            steps.push(rec);
        }
        secrets.extend(&run.secrets);
        // Every secret the mock holds or issued: the passwords and user keys the
        // server generated, the JWTs of its logins, the upstream keys.
        if let HostSide::Mock { .. } = &run.host {
            match run.host_api.get("/__mock/secrets") {
                Ok(r) if r.status == 200 => r.body["secrets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .for_each(|s| secrets.add(s)),
                Ok(r) => {
                    failure = failure.or(Some(format!("GET /__mock/secrets answered {}", r.status)))
                }
                Err(e) => failure = failure.or(Some(format!("GET /__mock/secrets: {e:#}"))),
            }
        }
        doc["host_state_after"] = run.host_state().unwrap_or(Value::Null);
        if let Some(server) = &run.server {
            doc["server_pid"] = json!(server.child.id());
        }
        doc["servers"] = run.servers();
        if let HostSide::Real { real, baseline, .. } = &run.host {
            // Stop the servers first (their schedulers must not recreate anything),
            // then leave the shared host as the scenario found it.
            if let Some(mut server) = run.server.take() {
                server.kill();
            }
            for other in &mut run.others {
                if let Some(mut p) = other.proc.take() {
                    p.kill();
                }
            }
            let left = real
                .clean_up(baseline)
                .unwrap_or_else(|e| vec![format!("{e:#}")]);
            doc["host_cleanup"] = json!({"left": left});
            if !left.is_empty() && failure.is_none() {
                failure = Some(format!("the clean-up of the host left {}", left.join(", ")));
            }
        }
        drop(run);
        Ok(failure)
    })();
    let mut failure = match result {
        Ok(f) => f,
        Err(e) => Some(format!("{e:#}")),
    };
    // Every server is stopped (the run is dropped): keep the schema's rows for the
    // secret scans, then drop it.
    if let Ok(Some(db)) = &database {
        let dumped = db.dump(&dir.join(DATABASE_DUMP));
        let dropped = db.drop_schema();
        doc["database"]["rows"] = json!(dumped.as_ref().ok());
        doc["database"]["dropped"] = json!(dropped.is_ok());
        if let Some(e) = dumped.err().or(dropped.err()) {
            failure = failure.or(Some(format!("{e:#}")));
        }
    }
    let total: usize = steps.iter().map(|r| r.assertions.len()).sum();
    let failed: usize = steps
        .iter()
        .map(|r| r.assertions.iter().filter(|a| !a.pass).count())
        .sum();
    doc["result"] = json!(if failure.is_none() {
        "passed"
    } else {
        "failed"
    });
    doc["failure"] = json!(failure);
    doc["duration_ms"] = json!(t0.elapsed().as_millis() as u64);
    doc["assertions"] = json!({"total": total, "passed": total - failed, "failed": failed});
    doc["data_dir"] = json!(dir.join("data").display().to_string());
    doc["server_log"] = json!(dir.join("server.log").display().to_string());
    doc["steps"] = serde_json::to_value(&steps).unwrap_or(Value::Null);
    let doc = secrets.redact(&doc);
    let write = serde_json::to_vec_pretty(&doc)
        .map_err(anyhow::Error::from)
        .and_then(|bytes| std::fs::write(&evidence, bytes).map_err(anyhow::Error::from));
    let failure = match (failure, write) {
        (f, Ok(())) => f,
        (Some(f), Err(_)) => Some(f),
        (None, Err(e)) => Some(format!("cannot write {}: {e:#}", evidence.display())),
    };
    Outcome {
        failure,
        steps: steps.len(),
        assertions: total,
        dir,
        evidence,
        secrets,
    }
}

impl Run {
    fn start(
        bin: &Path,
        dir: &Path,
        s: &Scenario,
        target: &Target,
        upstream_url: &str,
        database: Option<&ScenarioDatabase>,
        doc: &mut Value,
    ) -> Result<Run> {
        let (host, host_base_url, admin_key) = match target {
            Target::Mock => {
                let settings = MockSettings {
                    flags: s.mock.flags.clone(),
                    ..MockSettings::default()
                };
                let log = dir.join("mock.log");
                let proc = procs::start_mock(bin, &settings, &log)?;
                let api = Client::with_timeout(&proc.base_url, None, REQUEST_TIMEOUT);
                set_mock_faults(&api, s.mock.faults.as_ref())?;
                doc["host"] = json!({
                    "kind": "mock",
                    "base_url": proc.base_url,
                    "flags": s.mock.flags,
                    "faults": s.mock.faults,
                    "log": log.display().to_string(),
                });
                let (url, key) = (proc.base_url.clone(), settings.admin_api_key.clone());
                let host = HostSide::Mock {
                    proc,
                    settings,
                    faults: s.mock.faults.clone(),
                    log,
                };
                (host, url, key)
            }
            Target::Real(real) => {
                let baseline = real.host.baseline()?;
                doc["host"] = json!({
                    "kind": "real",
                    "base_url": real.host.base_url,
                    "version": real.version,
                });
                let host = HostSide::Real {
                    real: real.host.clone(),
                    baseline,
                };
                (host, real.host.base_url.clone(), real.admin_key.clone())
            }
        };
        let host_api = Client::with_timeout(&host_base_url, None, REQUEST_TIMEOUT);
        let mut env: BTreeMap<String, String> = [
            ("RELAY_WARMUP_SECS", DEFAULT_WARMUP_SECS),
            ("RELAY_WORKER_ID", WORKER_ID),
            ("RELAY_CONFIRM_BACKOFF_MS", CONFIRM_BACKOFF_MS),
            ("RELAY_CONFIRM_WINDOW_SECS", CONFIRM_WINDOW_SECS),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // Packs are installed by path from the scenario's own packs directory.
        env.insert(
            "RELAY_PACKS_DIR".to_string(),
            dir.join("packs").display().to_string(),
        );
        env.extend(s.server.env.clone());
        if let Some(db) = database {
            // One database, one master key (every server must open what another
            // sealed), one operator token; a worker name per server.
            env.insert("RELAY_DATABASE_URL".into(), db.url.clone());
            env.insert("RELAY_MASTER_KEY".into(), db.master_key.clone());
        }
        let settings = ServerSettings {
            data_dir: dir.join("data"),
            token: TOKEN.to_string(),
            env: env.into_iter().collect(),
        };
        let server_log = dir.join("server.log");
        let server = procs::start_server(bin, &settings, &server_log)?;
        let api = Client::with_timeout(&server.base_url, Some(TOKEN), REQUEST_TIMEOUT)
            .tapped(&dir.join("answers.log"));
        doc["server"] = json!({
            "base_url": server.base_url,
            "env": settings.env.iter().cloned().collect::<BTreeMap<_, _>>(),
            "log": server.log_path.display().to_string(),
        });
        Ok(Run {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            cli_runs: 0,
            admin_key,
            host,
            host_base_url,
            upstream_url: upstream_url.to_string(),
            packs_dir: dir.join("packs"),
            host_api,
            server_name: scenario::FIRST_SERVER.to_string(),
            server: Some(server),
            settings,
            server_log,
            api,
            others: Vec::new(),
            batches: BTreeMap::new(),
            keys: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            values: BTreeMap::from([
                ("upstream".to_string(), json!(upstream_url)),
                // The scenario's own directory, for files a `cli` step writes.
                ("scenario_dir".to_string(), json!(dir.display().to_string())),
            ]),
            scrapes: BTreeMap::new(),
            secrets: Secrets::default(),
            t0: Instant::now(),
        })
    }

    /// Every server of the scenario, in the order they were started.
    fn servers(&self) -> Value {
        let mut out: Vec<Value> = self
            .others
            .iter()
            .map(|o| server_summary(&o.name, o.proc.as_ref(), &o.settings, &o.log))
            .collect();
        out.push(server_summary(
            &self.server_name,
            self.server.as_ref(),
            &self.settings,
            &self.server_log,
        ));
        Value::Array(out)
    }

    /// A client of the server at `base_url` (its answers kept in `answers.log`).
    fn server_client(&self, base_url: &str) -> Client {
        Client::with_timeout(base_url, Some(TOKEN), REQUEST_TIMEOUT)
            .tapped(&self.dir.join("answers.log"))
    }

    /// `start_server`: another server on the scenario's database, with its own data
    /// directory, log and worker name; the current one keeps running (unless it was
    /// killed) and the following steps talk to the new one.
    fn start_other_server(
        &mut self,
        x: &scenario::StartServer,
        rec: &mut StepRecord,
    ) -> Result<()> {
        let mut settings = self.settings.clone();
        settings.data_dir = self.dir.join(format!("data-{}", x.name));
        settings.env.retain(|(k, _)| k != "RELAY_WORKER_ID");
        settings
            .env
            .push(("RELAY_WORKER_ID".into(), worker_id(&x.name)));
        let log = self.dir.join(format!("server-{}.log", x.name));
        let server = procs::start_server(&self.bin, &settings, &log)?;
        rec.notes.insert(
            "previous".into(),
            json!({"name": self.server_name, "running": self.server.is_some()}),
        );
        let previous = OtherServer {
            name: std::mem::replace(&mut self.server_name, x.name.clone()),
            proc: self.server.take(),
            settings: std::mem::replace(&mut self.settings, settings),
            log: std::mem::replace(&mut self.server_log, log),
        };
        self.others.push(previous);
        self.api = self.server_client(&server.base_url);
        rec.server = x.name.clone();
        rec.notes.insert(
            "started".into(),
            server_summary(&x.name, Some(&server), &self.settings, &self.server_log),
        );
        self.server = Some(server);
        let r = self.server_call(rec, "GET", "/readyz", None)?;
        rec.assertions
            .push(Assertion::eq("server ready", json!(200), json!(r.status)));
        Ok(())
    }

    /// `wait_batch`: polls the batch until it has the status asked for; at the time
    /// limit the step fails with the last status seen.
    fn wait_batch(&mut self, x: &scenario::WaitBatch, rec: &mut StepRecord) -> Result<()> {
        let id = self.batch_id(&x.batch)?;
        let path = format!("/api/import-batches/{id}");
        let limit = Duration::from_millis(x.timeout_ms.unwrap_or(60_000));
        let want = json!(x.status);
        let t = Instant::now();
        let mut polls = 0u32;
        // The statuses seen, in order (each once per stretch).
        let mut seen: Vec<Value> = Vec::new();
        let r = loop {
            polls += 1;
            let r = self.api.get(&path)?;
            let status = r
                .body
                .pointer("/batch/status")
                .cloned()
                .unwrap_or(Value::Null);
            if seen.last() != Some(&status) {
                seen.push(status.clone());
            }
            if status == want || t.elapsed() >= limit {
                break r;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let last = r
            .body
            .pointer("/batch/status")
            .cloned()
            .unwrap_or(Value::Null);
        rec.notes.insert("polls".into(), json!(polls));
        rec.notes
            .insert("waited_ms".into(), json!(t.elapsed().as_millis() as u64));
        rec.notes.insert("statuses_seen".into(), json!(seen));
        rec.requests.push(json!({
            "to": "server", "server": self.server_name, "method": "GET", "path": path,
            "at_ms": self.t0.elapsed().as_millis() as u64,
            "status": r.status, "excerpt": expect::excerpt(&r.body),
        }));
        rec.assertions.push(Assertion::new(
            format!(
                "batch.status is {} within {} ms",
                x.status,
                limit.as_millis()
            ),
            want.clone(),
            last.clone(),
            last == want,
        ));
        self.check(rec, &x.expect, &r)
    }

    /// The host's objects: the mock's state dump, or on a real host the objects
    /// read through its admin API in the same shape (those of the baseline left out).
    fn host_state(&self) -> Result<Value> {
        match &self.host {
            HostSide::Mock { .. } => {
                let r = self.host_api.get("/__mock/state")?;
                if r.status != 200 {
                    bail!("GET /__mock/state answered {}", r.status);
                }
                Ok(r.body)
            }
            HostSide::Real { real, baseline, .. } => real.view(baseline),
        }
    }

    /// The mock host's process and settings; an error on a real host.
    fn mock_side(
        &mut self,
        what: &str,
    ) -> Result<(&mut Proc, &MockSettings, &Option<Value>, &Path)> {
        match &mut self.host {
            HostSide::Mock {
                proc,
                settings,
                faults,
                log,
            } => Ok((proc, settings, faults, log.as_path())),
            HostSide::Real { .. } => bail!("{what} needs the mock host"),
        }
    }

    fn batch_id(&self, name: &str) -> Result<String> {
        self.batches
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow!("batch {name:?} was not captured (did its import fail?)"))
    }

    /// Records a request to the server and its answer.
    fn server_call(
        &self,
        rec: &mut StepRecord,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply> {
        if self.server.is_none() {
            bail!("the server is not running");
        }
        let t = Instant::now();
        let reply = self.api.send(method, path, body, &[])?;
        rec.requests.push(json!({
            "to": "server",
            "server": self.server_name,
            "method": method,
            "path": path,
            "body": body,
            "at_ms": self.t0.elapsed().as_millis() as u64,
            "duration_ms": t.elapsed().as_millis() as u64,
            "status": reply.status,
            "excerpt": expect::excerpt(&reply.body),
        }));
        Ok(reply)
    }

    /// Records a request to the mock host (status and a caller-chosen excerpt only:
    /// the mock's auth answers hold tokens and keys).
    fn host_note(rec: &mut StepRecord, method: &str, path: &str, status: u16, excerpt: Value) {
        rec.requests.push(json!({
            "to": "host",
            "method": method,
            "path": path,
            "status": status,
            "excerpt": excerpt,
        }));
    }

    fn check(&self, rec: &mut StepRecord, e: &Expect, reply: &Reply) -> Result<()> {
        let host = if expect::needs_host(e) {
            Some(self.host_state()?)
        } else {
            None
        };
        rec.assertions
            .extend(expect::check(e, reply.status, &reply.body, host.as_ref()));
        Ok(())
    }

    /// Records a request to the mock host's admin API and its answer.
    fn host_admin(
        &self,
        rec: &mut StepRecord,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply> {
        let t = Instant::now();
        let reply = self.host_api.send(
            method,
            path,
            body,
            &[("x-api-key", self.admin_key.as_str())],
        )?;
        rec.requests.push(json!({
            "to": "host",
            "method": method,
            "path": path,
            "body": body,
            "at_ms": self.t0.elapsed().as_millis() as u64,
            "duration_ms": t.elapsed().as_millis() as u64,
            "status": reply.status,
            "excerpt": expect::excerpt(&reply.body),
        }));
        Ok(reply)
    }

    /// `step` with its `${name}` placeholders replaced.
    fn resolve(&self, step: &Step) -> Result<Step> {
        let v = serde_json::to_value(step)?;
        if scenario::placeholders(&v).is_empty() {
            return Ok(step.clone());
        }
        Ok(serde_json::from_value(scenario::substitute(
            &v,
            &self.values,
        )?)?)
    }

    fn step(&mut self, step: &Step, rec: &mut StepRecord) -> Result<()> {
        let step = &self.resolve(step)?;
        match step {
            Step::RegisterHost(x) => {
                let key = x.api_key.as_deref().unwrap_or(&self.admin_key);
                let body = json!({
                    "name": x.name,
                    "base_url": self.host_base_url,
                    "auth": {"kind": "api_key", "api_key": key},
                });
                let r = self.server_call(rec, "POST", "/api/hosts", Some(&body))?;
                self.check(rec, &x.expect, &r)
            }
            Step::InstallPack(x) => {
                // Every provider of the pack calls the run's vendor (the mock host
                // serves its vendors in-process whatever the URL; a real host and the
                // direct vendor probe really call it).
                let per_provider = x.upstream == scenario::UpstreamMode::PerProvider;
                let dir = real::pack_for_upstream(
                    &self.bin,
                    &procs::root().join(&x.path),
                    &self.packs_dir,
                    &self.upstream_url,
                    per_provider,
                )?;
                let base_url = if per_provider {
                    format!("{}/{{provider_id}}", self.upstream_url)
                } else {
                    self.upstream_url.clone()
                };
                rec.notes
                    .insert("pack".into(), json!({"from": x.path, "base_url": base_url}));
                let body = json!({"path": dir.display().to_string()});
                let r = self.server_call(rec, "POST", "/api/packs/install", Some(&body))?;
                self.check(rec, &x.expect, &r)
            }
            Step::Import(x) => {
                let mut body = json!({"host_id": x.host, "keys": x.keys, "wait": x.wait});
                let opt = |v: &Option<String>| v.as_ref().map(|s| json!(s));
                for (k, v) in [
                    ("pack_id", opt(&x.pack_id)),
                    ("mode", opt(&x.mode)),
                    ("access_mode", opt(&x.access_mode)),
                    ("subscribers", x.subscribers.clone()),
                    ("concurrency", x.concurrency.map(|c| json!(c))),
                ] {
                    if let Some(v) = v {
                        body[k] = v;
                    }
                }
                if let Some(name) = &x.probe_key {
                    let key = self
                        .keys
                        .get(name)
                        .ok_or_else(|| anyhow!("key {name:?} was not captured"))?;
                    body["probe_key"] = json!(key);
                }
                let path = format!("/api/providers/{}/import", x.provider);
                let r = self.server_call(rec, "POST", &path, Some(&body))?;
                if let (Some(name), Some(id)) = (&x.capture, r.body.pointer("/batch/id")) {
                    let id = id.as_str().unwrap_or_default().to_string();
                    rec.notes.insert("captured_batch".into(), json!({name: id}));
                    self.values.insert(name.clone(), json!(id));
                    self.batches.insert(name.clone(), id);
                }
                self.check(rec, &x.expect, &r)
            }
            Step::GetBatch(x) => {
                let id = self.batch_id(&x.batch)?;
                let path = format!("/api/import-batches/{id}");
                let limit = Duration::from_millis(x.timeout_ms.unwrap_or(60_000));
                let t = Instant::now();
                let mut polls = 0u32;
                let r = loop {
                    polls += 1;
                    let r = self.api.get(&path)?;
                    let running = r.body.pointer("/batch/status") == Some(&json!("running"));
                    if !x.until_finished || !running || t.elapsed() > limit {
                        break r;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                };
                if x.until_finished {
                    rec.notes.insert("polls".into(), json!(polls));
                    rec.assertions.push(Assertion::new(
                        format!("batch finished within {} ms", limit.as_millis()),
                        json!("not running"),
                        r.body
                            .pointer("/batch/status")
                            .cloned()
                            .unwrap_or(Value::Null),
                        r.body.pointer("/batch/status") != Some(&json!("running")),
                    ));
                }
                rec.requests.push(json!({
                    "to": "server", "server": self.server_name, "method": "GET", "path": path,
                    "status": r.status, "excerpt": expect::excerpt(&r.body),
                }));
                self.check(rec, &x.expect, &r)
            }
            Step::RollbackBatch(x) => {
                let id = self.batch_id(&x.batch)?;
                let path = format!("/api/import-batches/{id}/rollback");
                let r = self.server_call(rec, "POST", &path, None)?;
                self.check(rec, &x.expect, &r)
            }
            Step::ResumeBatch(x) => {
                let id = self.batch_id(&x.batch)?;
                let path = format!("/api/import-batches/{id}/resume");
                let body = if x.keys.is_empty() {
                    json!({})
                } else {
                    json!({"keys": x.keys})
                };
                let r = self.server_call(rec, "POST", &path, Some(&body))?;
                self.check(rec, &x.expect, &r)
            }
            Step::Query(x) => {
                let Some(wait) = x.wait_ms.map(Duration::from_millis) else {
                    let r = self.server_call(rec, "GET", &x.path, None)?;
                    return self.check(rec, &x.expect, &r);
                };
                let t = Instant::now();
                let mut polls = 0u32;
                let (requests, assertions) = (rec.requests.len(), rec.assertions.len());
                loop {
                    polls += 1;
                    let r = self.server_call(rec, "GET", &x.path, None)?;
                    self.check(rec, &x.expect, &r)?;
                    let met = rec.assertions[assertions..].iter().all(|a| a.pass);
                    if met || t.elapsed() >= wait {
                        rec.notes.insert("polls".into(), json!(polls));
                        rec.notes
                            .insert("waited_ms".into(), json!(t.elapsed().as_millis() as u64));
                        rec.assertions.push(Assertion::new(
                            format!("expectations met within {} ms", wait.as_millis()),
                            json!(true),
                            json!(met),
                            met,
                        ));
                        return Ok(());
                    }
                    // Only the last attempt is kept as evidence.
                    rec.requests.truncate(requests);
                    rec.assertions.truncate(assertions);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            Step::Call(x) => {
                let r = self.server_call(rec, &x.method, &x.path, x.body.as_ref())?;
                self.check(rec, &x.expect, &r)
            }
            Step::HostAdmin(x) => {
                let r = self.host_admin(rec, &x.method, &x.path, x.body.as_ref())?;
                self.check(rec, &x.expect, &r)
            }
            Step::CaptureHost(x) => {
                let state = self.host_state()?;
                let mut captured = serde_json::Map::new();
                for (name, path) in &x.values {
                    let value = expect::lookup(&state, path)
                        .filter(|v| !v.is_null())
                        .cloned()
                        .ok_or_else(|| anyhow!("{path} finds nothing in the mock's state"))?;
                    captured.insert(name.clone(), value.clone());
                    self.values.insert(name.clone(), value);
                }
                rec.notes.insert("captured".into(), Value::Object(captured));
                Ok(())
            }
            Step::KillHost(_) => {
                let (proc, _, _, _) = self.mock_side("kill_host")?;
                rec.notes.insert("pid".into(), json!(proc.child.id()));
                rec.notes.insert("base_url".into(), json!(proc.base_url));
                proc.kill();
                rec.notes.insert("signal".into(), json!("SIGKILL"));
                // Nothing answers on the address any more.
                let r = self.host_api.get("/__mock/state");
                rec.assertions.push(Assertion::new(
                    "the mock host no longer answers",
                    json!("connection refused"),
                    json!(r.as_ref().map(|r| r.status).map_err(|e| format!("{e:#}"))),
                    r.is_err(),
                ));
                Ok(())
            }
            Step::RestartHost(_) => {
                let bin = self.bin.clone();
                let (proc, settings, faults, log) = self.mock_side("restart_host")?;
                proc.kill();
                let old_url = proc.base_url.clone();
                let addr = old_url
                    .strip_prefix("http://")
                    .ok_or_else(|| anyhow!("unexpected mock address {old_url}"))?
                    .to_string();
                let settings = MockSettings {
                    listen: addr.clone(),
                    ..settings.clone()
                };
                let (faults, log) = (faults.clone(), log.to_path_buf());
                // The port was just released: retry the bind briefly.
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut attempts = 0u32;
                let mock = loop {
                    attempts += 1;
                    match procs::start_mock(&bin, &settings, &log) {
                        Ok(p) => break p,
                        Err(e) if Instant::now() >= deadline => {
                            return Err(e.context(format!("cannot listen on {addr} again")))
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                };
                rec.notes.insert("pid".into(), json!(mock.child.id()));
                rec.notes.insert("base_url".into(), json!(mock.base_url));
                rec.notes.insert("attempts".into(), json!(attempts));
                rec.assertions.push(Assertion::eq(
                    "the mock host is back on the same address",
                    json!(old_url),
                    json!(mock.base_url),
                ));
                *proc = mock;
                set_mock_faults(&self.host_api, faults.as_ref())?;
                let state = self.host_state()?;
                rec.notes
                    .insert("counts".into(), json!(expect::host_counts(&state)));
                Ok(())
            }
            Step::ScrapeMetrics(x) => {
                let r = self.server_call(rec, "GET", "/metrics", None)?;
                rec.assertions
                    .push(Assertion::eq("HTTP status", json!(200), json!(r.status)));
                let text = r.body.as_str().unwrap_or_default();
                let samples = expect::parse_metrics(text).map_err(|e| anyhow!("/metrics: {e}"))?;
                if let Some(last) = rec.requests.last_mut() {
                    last["excerpt"] = json!({"bytes": text.len(), "samples": samples.len()});
                }
                let mut shown = BTreeMap::new();
                for c in &x.checks {
                    let before = match &c.increased_since {
                        Some(name) => Some(
                            self.scrapes
                                .get(name)
                                .ok_or_else(|| anyhow!("no scrape {name:?}"))?
                                .as_slice(),
                        ),
                        None => None,
                    };
                    rec.assertions
                        .push(expect::check_metric(c, &samples, before));
                    let lines: Vec<String> = expect::select(c, &samples)
                        .iter()
                        .map(|s| s.line())
                        .collect();
                    shown.insert(expect::selector(c), lines);
                }
                if let Some(name) = &x.capture {
                    // The counters and gauges of the relay (histogram buckets left out).
                    let kept: Vec<String> = samples
                        .iter()
                        .filter(|s| !s.name.ends_with("_bucket"))
                        .map(|s| s.line())
                        .collect();
                    rec.notes.insert("captured".into(), json!({name: kept}));
                    self.scrapes.insert(name.clone(), samples);
                }
                if !shown.is_empty() {
                    rec.notes.insert("series".into(), json!(shown));
                }
                Ok(())
            }
            Step::SetFaults(x) => {
                let r = self.host_api.post("/__mock/faults", &x.faults)?;
                Self::host_note(rec, "POST", "/__mock/faults", r.status, r.body.clone());
                rec.assertions.push(Assertion::eq(
                    "mock accepted the faults",
                    json!(200),
                    json!(r.status),
                ));
                Ok(())
            }
            Step::EndUserKey(x) => self.end_user_key(x, rec),
            Step::Cli(x) => self.cli(x, rec),
            Step::KillServer(x) => {
                if let Some(n) = x.after_accounts {
                    self.wait_accounts(rec, n, x.timeout_ms, "kill")?;
                }
                let mut server = self
                    .server
                    .take()
                    .ok_or_else(|| anyhow!("the server is not running"))?;
                rec.notes.insert("pid".into(), json!(server.child.id()));
                server.kill();
                rec.notes.insert("signal".into(), json!("SIGKILL"));
                Ok(())
            }
            Step::RestartServer(_) => {
                if let Some(mut old) = self.server.take() {
                    old.kill();
                }
                let server = procs::start_server(&self.bin, &self.settings, &self.server_log)?;
                self.api = self.server_client(&server.base_url);
                rec.notes.insert("pid".into(), json!(server.child.id()));
                rec.notes.insert("base_url".into(), json!(server.base_url));
                self.server = Some(server);
                let r = self.server_call(rec, "GET", "/readyz", None)?;
                rec.assertions
                    .push(Assertion::eq("server ready", json!(200), json!(r.status)));
                Ok(())
            }
            Step::CreateRun(x) => {
                let mut body = json!({
                    "host_id": x.host,
                    "lines": x.lines.join("\n"),
                    "allow_adhoc": x.allow_adhoc,
                    "profile": x.profile,
                });
                for (k, v) in [
                    ("pack_id", x.pack_id.as_ref().map(|s| json!(s))),
                    ("access_mode", x.access_mode.as_ref().map(|s| json!(s))),
                    ("subscribers", x.subscribers.clone()),
                ] {
                    if let Some(v) = v {
                        body[k] = v;
                    }
                }
                let r = self.server_call(rec, "POST", "/api/batch-import/runs", Some(&body))?;
                if let (Some(name), Some(id)) = (&x.capture, r.body["run_id"].as_str()) {
                    rec.notes.insert("captured_run".into(), json!({name: id}));
                    self.values.insert(name.clone(), json!(id));
                }
                self.check(rec, &x.expect, &r)
            }
            Step::WaitRun(x) => self.wait_run(x, rec),
            Step::WaitBatch(x) => self.wait_batch(x, rec),
            Step::StartServer(x) => self.start_other_server(x, rec),
            Step::CancelRun(x) => {
                if let Some(n) = x.after_accounts {
                    self.wait_accounts(rec, n, x.timeout_ms, "cancel")?;
                }
                let id = self.run_id(&x.run)?;
                let path = format!("/api/batch-import/runs/{id}/cancel");
                let r = self.server_call(rec, "POST", &path, Some(&json!({})))?;
                self.check(rec, &x.expect, &r)
            }
            Step::RetryRun(x) => {
                let id = self.run_id(&x.run)?;
                let path = format!("/api/batch-import/runs/{id}/retry");
                let body = match &x.scope {
                    Some(s) => json!({"scope": s}),
                    None => json!({}),
                };
                let r = self.server_call(rec, "POST", &path, Some(&body))?;
                self.check(rec, &x.expect, &r)
            }
            Step::SnapshotHost(x) => {
                let objects = expect::host_objects(&self.host_state()?);
                rec.notes
                    .insert("counts".into(), json!(expect::host_counts(&objects)));
                self.snapshots.insert(x.name.clone(), objects);
                Ok(())
            }
            Step::ExpectHostUnchanged(x) => {
                let before = self
                    .snapshots
                    .get(&x.snapshot)
                    .ok_or_else(|| anyhow!("no snapshot {:?}", x.snapshot))?;
                let now = expect::host_objects(&self.host_state()?);
                let diff = expect::host_diff(before, &now, x.except_usage);
                rec.notes
                    .insert("counts_now".into(), json!(expect::host_counts(&now)));
                rec.assertions.push(Assertion::new(
                    format!(
                        "host objects ({}) equal snapshot {:?}",
                        scenario::HOST_KINDS.join(", "),
                        x.snapshot
                    ),
                    json!({}),
                    json!(diff),
                    diff.is_empty() && (x.except_usage || *before == now),
                ));
                Ok(())
            }
        }
    }

    /// Waits until the host holds at least `n` accounts (at most `timeout_ms`,
    /// default 30 s), before the step's `what`.
    fn wait_accounts(
        &self,
        rec: &mut StepRecord,
        n: usize,
        timeout_ms: Option<u64>,
        what: &str,
    ) -> Result<()> {
        let limit = Duration::from_millis(timeout_ms.unwrap_or(30_000));
        let t = Instant::now();
        let mut count = 0;
        while t.elapsed() < limit {
            count = expect::host_counts(&self.host_state()?)["accounts"];
            if count >= n {
                break;
            }
            // A real host's objects take several admin calls to read.
            let pause = match self.host {
                HostSide::Mock { .. } => 10,
                HostSide::Real { .. } => 50,
            };
            std::thread::sleep(Duration::from_millis(pause));
        }
        rec.notes
            .insert(format!("accounts_at_{what}"), json!(count));
        rec.notes
            .insert("waited_ms".into(), json!(t.elapsed().as_millis() as u64));
        rec.assertions.push(Assertion::new(
            format!("the host holds at least {n} account(s) before the {what}"),
            json!(n),
            json!(count),
            count >= n,
        ));
        Ok(())
    }

    /// The id of a run captured by a `create_run`.
    fn run_id(&self, name: &str) -> Result<String> {
        self.values
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| anyhow!("run {name:?} was not captured (did its create_run fail?)"))
    }

    /// Every item of a run (all pages).
    fn run_items(&self, id: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/batch-import/runs/{id}/items?limit=500&cursor={c}"),
                None => format!("/api/batch-import/runs/{id}/items?limit=500"),
            };
            let r = self.api.get(&path)?;
            if r.status != 200 {
                bail!("GET {path} answered {}: {}", r.status, r.body);
            }
            items.extend(r.body["items"].as_array().cloned().unwrap_or_default());
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(items),
            }
        }
    }

    /// `wait_run`: polls until the run ends, then checks it and its items (again
    /// while a check fails and the time is not up).
    fn wait_run(&mut self, x: &scenario::WaitRun, rec: &mut StepRecord) -> Result<()> {
        let id = self.run_id(&x.run)?;
        let path = format!("/api/batch-import/runs/{id}");
        let limit = Duration::from_millis(x.timeout_ms.unwrap_or(120_000));
        let t = Instant::now();
        let mut polls = 0u32;
        let ended = |r: &Reply| {
            r.body["state"]
                .as_str()
                .is_some_and(|s| scenario::RUN_END_STATES.contains(&s))
        };
        let (requests, assertions) = (rec.requests.len(), rec.assertions.len());
        loop {
            polls += 1;
            let r = self.api.get(&path)?;
            if r.status != 200 {
                bail!("GET {path} answered {}: {}", r.status, r.body);
            }
            let out_of_time = t.elapsed() >= limit;
            if !ended(&r) && !out_of_time {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            rec.requests.truncate(requests);
            rec.assertions.truncate(assertions);
            rec.requests.push(json!({
                "to": "server", "server": self.server_name, "method": "GET", "path": path,
                "status": r.status, "excerpt": expect::excerpt(&r.body),
            }));
            rec.assertions.push(Assertion::new(
                format!("the run ended within {} ms", limit.as_millis()),
                json!(scenario::RUN_END_STATES),
                r.body["state"].clone(),
                ended(&r),
            ));
            let items = self.run_items(&id)?;
            self.check_run(x, rec, &r, &items)?;
            let met = rec.assertions[assertions..].iter().all(|a| a.pass);
            // A terminal state does not change by waiting.
            let state_wrong = x
                .state
                .as_ref()
                .is_some_and(|s| r.body["state"] != json!(s));
            if met || out_of_time || state_wrong {
                rec.notes.insert("polls".into(), json!(polls));
                rec.notes
                    .insert("waited_ms".into(), json!(t.elapsed().as_millis() as u64));
                rec.notes.insert(
                    "items".into(),
                    Value::Array(items.iter().map(item_summary).collect()),
                );
                if met {
                    let doc = json!({"run": r.body, "items": items});
                    let mut captured = serde_json::Map::new();
                    for (name, pointer) in &x.capture {
                        let value = expect::lookup(&doc, pointer)
                            .filter(|v| !v.is_null())
                            .cloned()
                            .ok_or_else(|| anyhow!("{pointer} finds nothing in the run"))?;
                        captured.insert(name.clone(), value.clone());
                        self.values.insert(name.clone(), value);
                    }
                    if !captured.is_empty() {
                        rec.notes.insert("captured".into(), Value::Object(captured));
                    }
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The checks of a `wait_run` on the run's answer and its items.
    fn check_run(
        &self,
        x: &scenario::WaitRun,
        rec: &mut StepRecord,
        r: &Reply,
        items: &[Value],
    ) -> Result<()> {
        if let Some(s) = &x.state {
            rec.assertions.push(Assertion::eq(
                "run state",
                json!(s),
                r.body["state"].clone(),
            ));
        }
        if let Some(s) = &x.access_status {
            rec.assertions.push(Assertion::eq(
                "run access_status",
                json!(s),
                r.body["access_status"].clone(),
            ));
        }
        for (k, v) in &x.counts {
            rec.assertions.push(Assertion::eq(
                format!("run counts.{k}"),
                json!(v),
                r.body["counts"][k].clone(),
            ));
        }
        let doc = json!({"items": items});
        for c in &x.items {
            rec.assertions.push(expect::check_json("items", &doc, c));
        }
        for (field, want) in &x.every_item {
            let off: Vec<Value> = items
                .iter()
                .filter(|i| i.get(field) != Some(want))
                .map(|i| json!({"line": i["line"], field.as_str(): i.get(field)}))
                .collect();
            rec.assertions.push(Assertion::new(
                format!("every item's {field} equals"),
                want.clone(),
                json!(off),
                off.is_empty(),
            ));
        }
        if x.accounts_recorded {
            let state = self.host_state()?;
            let on_host: std::collections::BTreeSet<i64> = state["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["id"].as_i64())
                .collect();
            let recorded: std::collections::BTreeSet<i64> = items
                .iter()
                .filter(|i| i["state"] == "succeeded")
                .filter_map(|i| i["account_id"].as_i64())
                .collect();
            let orphans: Vec<i64> = on_host.difference(&recorded).copied().collect();
            let missing: Vec<i64> = recorded.difference(&on_host).copied().collect();
            rec.assertions.push(Assertion::new(
                "the host's accounts are exactly the succeeded items' accounts",
                json!({"orphans": [], "missing": []}),
                json!({"orphans": orphans, "missing": missing, "on_host": on_host}),
                orphans.is_empty() && missing.is_empty(),
            ));
        }
        self.check(rec, &x.expect, r)
    }

    /// Runs the `relay` CLI against the server; keeps its output for the scans.
    fn cli(&mut self, x: &scenario::Cli, rec: &mut StepRecord) -> Result<()> {
        let server = self
            .server
            .as_ref()
            .ok_or_else(|| anyhow!("the server is not running"))?;
        self.cli_runs += 1;
        let out_dir = self.dir.join("cli");
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("cannot create {}", out_dir.display()))?;
        let t = Instant::now();
        let output = std::process::Command::new(self.bin.join("relay"))
            .args(&x.args)
            .env("RELAY_SERVER", &server.base_url)
            .env("RELAY_TOKEN", TOKEN)
            .env_remove("RELAY_TOKEN_FILE")
            .stdin(std::process::Stdio::null())
            .output()
            .context("cannot run relay")?;
        let base = out_dir.join(format!("{:02}", self.cli_runs));
        std::fs::write(base.with_extension("stdout"), &output.stdout)?;
        std::fs::write(base.with_extension("stderr"), &output.stderr)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let code = output.status.code();
        rec.requests.push(json!({
            "to": "cli",
            "args": x.args,
            "exit_code": code,
            "duration_ms": t.elapsed().as_millis() as u64,
            "stdout_bytes": output.stdout.len(),
            "stdout": short(&stdout, 1500),
            "stderr": short(&String::from_utf8_lossy(&output.stderr), 500),
        }));
        let want = x.exit_code.unwrap_or(0);
        rec.assertions.push(Assertion::eq(
            format!("relay {} exits {want}", x.args.join(" ")),
            json!(want),
            json!(code),
        ));
        for text in &x.stdout_contains {
            rec.assertions.push(Assertion::new(
                format!("stdout contains {text:?}"),
                json!(text),
                json!(short(&stdout, 300)),
                stdout.contains(text.as_str()),
            ));
        }
        Ok(())
    }

    /// Creates an end user on the mock host with a balance (and a subscription to
    /// the group when asked), logs in as it and creates a key in the provider's group.
    fn end_user_key(&mut self, x: &scenario::EndUserKey, rec: &mut StepRecord) -> Result<()> {
        let id = self.batch_id(&x.batch)?;
        let view = self.server_call(rec, "GET", &format!("/api/import-batches/{id}"), None)?;
        let group = view
            .body
            .pointer("/batch/report/access/group_id")
            .and_then(Value::as_i64)
            .or_else(|| {
                view.body["resources"].as_array().and_then(|rs| {
                    rs.iter()
                        .find(|r| r["resource_type"] == "group")
                        .and_then(|r| r["host_resource_id"].as_i64())
                })
            })
            .ok_or_else(|| anyhow!("batch {id} names no group"))?;
        rec.notes.insert("group_id".into(), json!(group));
        let admin = [("x-api-key", self.admin_key.as_str())];
        let r = self.host_api.post_with(
            "/api/v1/admin/users",
            &json!({"email": x.email, "password": END_USER_PASSWORD, "balance": x.balance}),
            &admin,
        )?;
        let user_id = r.body.pointer("/data/id").and_then(Value::as_i64);
        Self::host_note(
            rec,
            "POST",
            "/api/v1/admin/users",
            r.status,
            json!({"user_id": user_id, "email": x.email, "balance": x.balance}),
        );
        let user_id = user_id
            .ok_or_else(|| anyhow!("the mock did not create the user: {} {}", r.status, r.body))?;
        if x.subscribe {
            let r = self.host_api.post_with(
                "/api/v1/admin/subscriptions/assign",
                &json!({"user_id": user_id, "group_id": group, "validity_days": 30}),
                &admin,
            )?;
            Self::host_note(
                rec,
                "POST",
                "/api/v1/admin/subscriptions/assign",
                r.status,
                json!({"subscription_id": r.body.pointer("/data/id"), "status": r.body.pointer("/data/status")}),
            );
            if r.status != 200 {
                bail!("the mock refused the subscription: {} {}", r.status, r.body);
            }
        }
        let r = self.host_api.post(
            "/api/v1/auth/login",
            &json!({"email": x.email, "password": END_USER_PASSWORD}),
        )?;
        Self::host_note(rec, "POST", "/api/v1/auth/login", r.status, json!({}));
        let token = r
            .body
            .pointer("/data/access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("the end user cannot log in: {}", r.status))?
            .to_string();
        self.secrets.add(&token);
        let auth = format!("Bearer {token}");
        // A host that enforces idempotency refuses a key create without a key.
        let idempotency = format!("acceptance-end-user-key-{user_id}-{group}");
        let r = self.host_api.post_with(
            "/api/v1/keys",
            &json!({"name": "acceptance-end-user", "group_id": group}),
            &[
                ("Authorization", auth.as_str()),
                ("Idempotency-Key", idempotency.as_str()),
            ],
        )?;
        let key = r
            .body
            .pointer("/data/key")
            .and_then(Value::as_str)
            .map(str::to_string);
        Self::host_note(
            rec,
            "POST",
            "/api/v1/keys",
            r.status,
            json!({"key_id": r.body.pointer("/data/id"), "group_id": r.body.pointer("/data/group_id"),
                   "key": key.as_deref().map(secrets::mask)}),
        );
        let key = key.ok_or_else(|| {
            anyhow!(
                "the end user cannot create a key in group {group}: {} {}",
                r.status,
                r.body.pointer("/reason").unwrap_or(&Value::Null)
            )
        })?;
        self.secrets.add(&key);
        rec.notes.insert(
            "captured_key".into(),
            json!({&x.capture: secrets::mask(&key)}),
        );
        self.keys.insert(x.capture.clone(), key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_database_skips_or_fails_under_ci() {
        let skip = without_postgres(None, None).unwrap();
        assert!(skip.contains(TEST_DATABASE_URL), "{skip}");
        assert!(without_postgres(Some("false"), None).is_ok());
        let fail = without_postgres(Some("true"), None).unwrap_err();
        assert!(fail.contains("CI=true"), "{fail}");
        assert!(without_postgres(Some("1"), Some("  ")).is_err());
        // .ci/run says why it could not start PostgreSQL: a skip, with the reason.
        let why = without_postgres(Some("true"), Some("PostgreSQL not installed")).unwrap();
        assert!(why.ends_with("PostgreSQL not installed"), "{why}");
    }

    #[test]
    fn schema_names_are_unique_safe_and_short() {
        let a = schema_name("two-servers-kill-resume", 4_194_304, 1_796_443_175_492);
        assert!(a.len() <= 63, "{a}");
        assert!(
            a.starts_with("relay_acc_4194304_1796443175492_two_servers"),
            "{a}"
        );
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        assert_ne!(
            a,
            schema_name("two-servers-kill-resume", 4_194_304, 1_796_443_175_493)
        );
    }

    #[test]
    fn every_server_s_files_are_found_for_the_scans() {
        let dir = std::env::temp_dir().join(format!("xtask-server-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["data", "data-b", "cli", "packs"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        for f in ["server.log", "server-b.log", "mock.log", "answers.log"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let (data, logs) = server_files(&dir);
        let names = |v: &[PathBuf]| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(&data), ["data", "data-b"]);
        assert_eq!(names(&logs), ["server-b.log", "server.log"]);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(worker_id("a"), WORKER_ID);
        assert_eq!(worker_id("b"), format!("{WORKER_ID}-b"));
    }
}
