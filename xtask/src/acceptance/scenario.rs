//! Scenario fixtures: `fixtures/scenarios/<name>.json`, plain data.
//!
//! A scenario names the mock host's flags and fault knobs, the server's extra
//! environment, the database its servers share (`"database": "postgres"`: a fresh
//! schema of `RELAY_TEST_DATABASE_URL`; default: each server's own SQLite file), and a
//! list of steps. Each step is an object whose `action` picks
//! the step kind; steps that talk to the server take an optional `expect`.
//!
//! Any string of a step may hold `${name}` placeholders: a batch captured by an
//! `import` (its id), a run captured by a `create_run` (its id), a value captured by
//! `capture_host` or by a `wait_run`'s `capture`, or one of the [`BUILT_IN`] names
//! (`${upstream}`: the base URL of the vendor every account of the run calls). A
//! string that is exactly one placeholder is replaced by the value itself (a number
//! stays a number); a placeholder inside a longer string is replaced by the value's
//! text.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One scenario file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Same as the file stem: lowercase letters, digits and `-`.
    pub name: String,
    /// What the scenario proves.
    pub description: String,
    /// The mock host.
    #[serde(default)]
    pub mock: MockSpec,
    /// The relay server.
    #[serde(default)]
    pub server: ServerSpec,
    /// Where the servers keep their state (see [`Database`]).
    #[serde(default, skip_serializing_if = "Database::is_sqlite")]
    pub database: Database,
    /// The steps, run in order; the first failing step ends the scenario.
    pub steps: Vec<Step>,
}

/// How the mock host starts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MockSpec {
    /// Extra command-line flags (fault knobs), e.g. `["--first-test-forbidden"]`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Fault knobs set through `POST /__mock/faults` right after start.
    #[serde(default)]
    pub faults: Option<Value>,
}

/// How the server starts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Extra environment of every server of the scenario, e.g.
    /// `{"RELAY_WARMUP_SECS": "20"}` (default warm-up: 5 s).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Where a scenario's servers keep their state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Database {
    /// `relay.db` in each server's own data directory.
    #[default]
    Sqlite,
    /// A fresh schema of the PostgreSQL database of `RELAY_TEST_DATABASE_URL`, made
    /// for the scenario and dropped after it; every server of the scenario uses it
    /// (`RELAY_DATABASE_URL`) with one master key (`RELAY_MASTER_KEY`, random per
    /// scenario) and its own `RELAY_WORKER_ID`. Without the variable the scenario is
    /// skipped (an error under `CI=true`, unless `RELAY_SKIP_POSTGRES_TESTS` says why).
    Postgres,
}

impl Database {
    fn is_sqlite(&self) -> bool {
        *self == Database::Sqlite
    }
}

/// Settings the runner gives every server of a `postgres` scenario: the scenario's
/// `server.env` cannot set them.
pub const RUNNER_DATABASE_ENV: [&str; 4] = [
    "RELAY_DATABASE_URL",
    "RELAY_DATABASE_URL_FILE",
    "RELAY_MASTER_KEY",
    "RELAY_MASTER_KEY_FILE",
];

/// The name of the server a scenario starts with (`start_server` names the others).
pub const FIRST_SERVER: &str = "a";

/// The states of an import batch (what `wait_batch` can wait for).
pub const BATCH_STATES: [&str; 9] = [
    "pending",
    "previewed",
    "running",
    "succeeded",
    "partially_succeeded",
    "failed",
    "rollback_running",
    "rolled_back",
    "interrupted",
];

/// Placeholders every scenario may use without capturing them: `upstream`, the
/// base URL (no trailing `/`) of the vendor the run's accounts call (the mock's
/// vendor role on loopback, or `--upstream-url`); `scenario_dir`, the scenario's
/// own output directory (for files a `cli` step writes).
pub const BUILT_IN: [&str; 2] = ["upstream", "scenario_dir"];

/// One step.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    /// `POST /api/hosts` for the mock host (admin API key auth).
    RegisterHost(RegisterHost),
    /// `POST /api/packs/install` with a directory of the workspace.
    InstallPack(InstallPack),
    /// `POST /api/providers/{provider}/import`.
    Import(Import),
    /// `GET /api/import-batches/{id}` of a captured batch, optionally polling until
    /// it is no longer `running`.
    GetBatch(GetBatch),
    /// Polls `GET /api/import-batches/{id}` until the batch has a given status.
    WaitBatch(WaitBatch),
    /// `POST /api/import-batches/{id}/rollback`.
    RollbackBatch(BatchAction),
    /// `POST /api/import-batches/{id}/resume`.
    ResumeBatch(ResumeBatch),
    /// `GET` on the server (any path), optionally polled until its expectations pass.
    Query(Query),
    /// Any request to the server (method, path, JSON body).
    Call(Call),
    /// `POST /__mock/faults` on the mock host.
    SetFaults(SetFaults),
    /// An end user on the mock host creates a key in the provider's group.
    EndUserKey(EndUserKey),
    /// SIGKILL the server, optionally once the mock holds a number of accounts.
    KillServer(KillServer),
    /// Start the server again on the same data directory.
    RestartServer(RestartServer),
    /// Start another server on the scenario's database (and the same host); the
    /// steps after it talk to the new server.
    StartServer(StartServer),
    /// Remember the mock's objects under a name.
    SnapshotHost(SnapshotHost),
    /// The mock's objects equal a snapshot.
    ExpectHostUnchanged(ExpectHostUnchanged),
    /// A change "by hand" on the mock host: a call to its admin API (`x-api-key`).
    HostAdmin(HostAdmin),
    /// Remember values of the mock's state dump (by JSON pointer) for `${name}`.
    CaptureHost(CaptureHost),
    /// SIGKILL the mock host (the host goes down).
    KillHost(KillHost),
    /// Start the mock host again on the same address (fresh state, same faults).
    RestartHost(RestartHost),
    /// `GET /metrics` (Prometheus text) and checks on its series.
    ScrapeMetrics(ScrapeMetrics),
    /// Runs the `relay` CLI against the server; its output is kept and scanned.
    Cli(Cli),
    /// `POST /api/batch-import/runs`: a batch auto-import run from pasted lines.
    CreateRun(CreateRun),
    /// Polls `GET /api/batch-import/runs/{run}` until the run ends, then checks it
    /// and its items (`GET /api/batch-import/runs/{run}/items`).
    WaitRun(WaitRun),
    /// `POST /api/batch-import/runs/{run}/cancel`, optionally once the host holds a
    /// number of accounts.
    CancelRun(CancelRun),
    /// `POST /api/batch-import/runs/{run}/retry`.
    RetryRun(RetryRun),
}

impl Step {
    /// The `action` name.
    pub fn action(&self) -> &'static str {
        match self {
            Step::RegisterHost(_) => "register_host",
            Step::InstallPack(_) => "install_pack",
            Step::Import(_) => "import",
            Step::GetBatch(_) => "get_batch",
            Step::WaitBatch(_) => "wait_batch",
            Step::RollbackBatch(_) => "rollback_batch",
            Step::ResumeBatch(_) => "resume_batch",
            Step::Query(_) => "query",
            Step::SetFaults(_) => "set_faults",
            Step::EndUserKey(_) => "end_user_key",
            Step::KillServer(_) => "kill_server",
            Step::RestartServer(_) => "restart_server",
            Step::StartServer(_) => "start_server",
            Step::SnapshotHost(_) => "snapshot_host",
            Step::ExpectHostUnchanged(_) => "expect_host_unchanged",
            Step::Call(_) => "call",
            Step::HostAdmin(_) => "host_admin",
            Step::CaptureHost(_) => "capture_host",
            Step::KillHost(_) => "kill_host",
            Step::RestartHost(_) => "restart_host",
            Step::ScrapeMetrics(_) => "scrape_metrics",
            Step::Cli(_) => "cli",
            Step::CreateRun(_) => "create_run",
            Step::WaitRun(_) => "wait_run",
            Step::CancelRun(_) => "cancel_run",
            Step::RetryRun(_) => "retry_run",
        }
    }
}

impl Step {
    /// The step's expectations on an answer, if it takes any.
    pub fn expect(&self) -> Option<&Expect> {
        match self {
            Step::RegisterHost(x) => Some(&x.expect),
            Step::InstallPack(x) => Some(&x.expect),
            Step::Import(x) => Some(&x.expect),
            Step::GetBatch(x) => Some(&x.expect),
            Step::WaitBatch(x) => Some(&x.expect),
            Step::RollbackBatch(x) => Some(&x.expect),
            Step::ResumeBatch(x) => Some(&x.expect),
            Step::Query(x) => Some(&x.expect),
            Step::Call(x) => Some(&x.expect),
            Step::HostAdmin(x) => Some(&x.expect),
            Step::CreateRun(x) => Some(&x.expect),
            Step::WaitRun(x) => Some(&x.expect),
            Step::CancelRun(x) => Some(&x.expect),
            Step::RetryRun(x) => Some(&x.expect),
            _ => None,
        }
    }
}

/// The names of the `${name}` placeholders in every string of `v`.
pub fn placeholders(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk_strings(v, &mut |s| {
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    out.insert(after[..end].to_string());
                    rest = &after[end + 1..];
                }
                None => {
                    out.insert(after.to_string());
                    break;
                }
            }
        }
    });
    out
}

/// Every string of `v`.
pub fn strings(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_strings(v, &mut |s| out.push(s.to_string()));
    out
}

fn walk_strings(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk_strings(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk_strings(x, f)),
        _ => {}
    }
}

/// `v` with every `${name}` placeholder replaced from `values` (see the module
/// documentation); an unknown name is an error.
pub fn substitute(v: &Value, values: &BTreeMap<String, Value>) -> Result<Value> {
    Ok(match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                if !name.contains("${") && !name.contains('}') {
                    return values
                        .get(name)
                        .cloned()
                        .with_context(|| format!("${{{name}}} is not captured"));
                }
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let end = after
                    .find('}')
                    .with_context(|| format!("unclosed placeholder in {s:?}"))?;
                let name = &after[..end];
                let value = values
                    .get(name)
                    .with_context(|| format!("${{{name}}} is not captured"))?;
                match value {
                    Value::String(t) => out.push_str(t),
                    other => out.push_str(&other.to_string()),
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, values))
                .collect::<Result<_>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), substitute(x, values)?)))
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}

fn default_host() -> String {
    "main".to_string()
}

fn default_pack() -> String {
    "packs/openai-cn-pack".to_string()
}

fn default_true() -> bool {
    true
}

/// `register_host`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterHost {
    /// Host name (default `main`).
    #[serde(default = "default_host")]
    pub name: String,
    /// An admin key to register with instead of the host's (a wrong one, say);
    /// handled as a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Expectations on the answer (default: a 2xx status).
    #[serde(default)]
    pub expect: Expect,
}

/// Where `install_pack` points the pack's providers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamMode {
    /// Every provider's `base_url` is the run's upstream itself.
    #[default]
    Shared,
    /// Each provider's `base_url` is `{upstream}/{provider_id}`, so a pasted line
    /// `${upstream}/deepseek/v1` matches one provider (the vendor serves any path
    /// prefix before its endpoints).
    PerProvider,
}

/// `install_pack`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstallPack {
    /// Pack directory relative to the workspace root (default `packs/openai-cn-pack`).
    #[serde(default = "default_pack")]
    pub path: String,
    /// `shared` (default) or `per_provider` (see [`UpstreamMode`]).
    #[serde(default, skip_serializing_if = "is_shared")]
    pub upstream: UpstreamMode,
    /// Expectations on the answer.
    #[serde(default)]
    pub expect: Expect,
}

/// `import`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Import {
    /// Provider id.
    pub provider: String,
    /// Host (default `main`).
    #[serde(default = "default_host")]
    pub host: String,
    /// Pack id, when needed.
    #[serde(default)]
    pub pack_id: Option<String>,
    /// Upstream keys (fake, but handled as secrets).
    pub keys: Vec<String>,
    /// `strict` | `partial` (server default when absent).
    #[serde(default)]
    pub mode: Option<String>,
    /// `subscription` | `self_service` (server default when absent).
    #[serde(default)]
    pub access_mode: Option<String>,
    /// Subscriber selectors, passed through.
    #[serde(default)]
    pub subscribers: Option<Value>,
    /// Name of a key captured by an earlier `end_user_key` step, sent as `probe_key`.
    #[serde(default)]
    pub probe_key: Option<String>,
    /// Parallel account tests.
    #[serde(default)]
    pub concurrency: Option<u64>,
    /// Wait for the end (`200`) or answer at once (`202`, batch `running`).
    #[serde(default = "default_true")]
    pub wait: bool,
    /// Remember the batch id under this name.
    #[serde(default)]
    pub capture: Option<String>,
    /// Expectations on the answer.
    #[serde(default)]
    pub expect: Expect,
}

/// `get_batch`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GetBatch {
    /// Captured batch name.
    pub batch: String,
    /// Poll until the batch is no longer `running` (up to `timeout_ms`).
    #[serde(default)]
    pub until_finished: bool,
    /// Poll limit (default 60 s).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Expectations on the answer.
    #[serde(default)]
    pub expect: Expect,
}

/// `wait_batch`: polls the batch every 200 ms until its `batch.status` is `status`;
/// at the time limit the step fails with the last status seen.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WaitBatch {
    /// Captured batch name.
    pub batch: String,
    /// The status to wait for (one of [`BATCH_STATES`]).
    pub status: String,
    /// Poll limit (default 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Expectations on the last answer.
    #[serde(default)]
    pub expect: Expect,
}

/// `rollback_batch`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BatchAction {
    /// Captured batch name.
    pub batch: String,
    /// Expectations on the answer.
    #[serde(default)]
    pub expect: Expect,
}

/// `resume_batch`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeBatch {
    /// Captured batch name.
    pub batch: String,
    /// Keys to supply again (the server never stored them).
    #[serde(default)]
    pub keys: Vec<String>,
    /// Expectations on the answer.
    #[serde(default)]
    pub expect: Expect,
}

/// `query`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Path and query string, e.g. `/api/providers/deepseek/status?host_id=main`.
    pub path: String,
    /// Repeat the request (every 100 ms) until every expectation passes, for at
    /// most this long; the last answer is the one checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// Expectations on the answer.
    #[serde(default)]
    pub expect: Expect,
}

/// `call`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// `GET`, `POST` or `DELETE`.
    pub method: String,
    /// Path and query string, e.g. `/api/providers/deepseek/reconcile`.
    pub path: String,
    /// JSON body (`POST`; `{}` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Expectations on the answer.
    #[serde(default)]
    pub expect: Expect,
}

/// `cli`: runs `relay ARGS…` with `RELAY_SERVER` and `RELAY_TOKEN` of the run. Its
/// stdout and stderr are kept under `<scenario>/cli/` and scanned for secrets with
/// the data directory and the logs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cli {
    /// The arguments after `relay`, e.g. `["batch", "show", "${b1}"]` (a captured
    /// number, such as a host account id, is passed as its text).
    #[serde(deserialize_with = "args_text")]
    pub args: Vec<String>,
    /// Expected exit code (default 0).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Each text is part of stdout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stdout_contains: Vec<String>,
}

/// Command-line arguments: strings, and numbers as their text.
fn args_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    let values: Vec<Value> = Vec::deserialize(d)?;
    values
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(serde::de::Error::custom(format!(
                "a command-line argument must be a string or a number, not {other}"
            ))),
        })
        .collect()
}

/// `host_admin`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostAdmin {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: String,
    /// A path under `/api/v1/admin/`, e.g. `/api/v1/admin/accounts/${account}`.
    pub path: String,
    /// JSON body (`POST`/`PUT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Expectations on the mock's answer (default: a 2xx status); `host_json` and
    /// `host_counts` read the state right after it.
    #[serde(default)]
    pub expect: Expect,
}

/// `capture_host`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureHost {
    /// Name → JSON pointer into `GET /__mock/state` (selectors allowed, see
    /// [`JsonCheck::path`]), e.g. `{"account": "/accounts/0/id"}`. A pointer that
    /// finds nothing (or null) fails the step.
    pub values: BTreeMap<String, String>,
}

/// `kill_host`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KillHost {}

/// `restart_host`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RestartHost {}

/// `scrape_metrics`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeMetrics {
    /// Remember this scrape under a name (for `increased_since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    /// Checks on the series.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<MetricCheck>,
}

/// A check of a metric: the sum of the series named `name` whose labels include
/// `labels`; exactly one test per check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricCheck {
    /// Series name, e.g. `relay_host_calls_total`.
    pub name: String,
    /// Labels the series must carry (others are free).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The sum equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<f64>,
    /// The sum is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    /// Some series matches (true) or none does (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// Some series matches and the sum is greater than in the scrape captured under
    /// this name (a series absent then counts 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub increased_since: Option<String>,
}

impl MetricCheck {
    fn tests(&self) -> usize {
        [
            self.equals.is_some(),
            self.at_least.is_some(),
            self.exists.is_some(),
            self.increased_since.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

/// `set_faults`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetFaults {
    /// Knobs to merge (see the mock's README).
    pub faults: Value,
}

/// `end_user_key`: as a real user would (admin creates the user with a balance,
/// optionally assigns a subscription to the group; the user logs in and creates a
/// key in the group).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndUserKey {
    /// Captured batch whose provider group the key goes into.
    pub batch: String,
    /// The user's e-mail.
    #[serde(default = "default_email")]
    pub email: String,
    /// Balance given at creation.
    #[serde(default = "default_balance")]
    pub balance: f64,
    /// Assign the user a subscription to the group first (needed for a
    /// subscription-type group).
    #[serde(default)]
    pub subscribe: bool,
    /// Remember the key under this name (a secret: never written to evidence).
    pub capture: String,
}

fn default_email() -> String {
    "enduser@example.com".to_string()
}

fn default_balance() -> f64 {
    5.0
}

fn is_shared(m: &UpstreamMode) -> bool {
    *m == UpstreamMode::Shared
}

/// `create_run`: `POST /api/batch-import/runs`. The keys of the lines are secrets
/// (never written to evidence, scanned for afterwards).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRun {
    /// Host (default `main`).
    #[serde(default = "default_host")]
    pub host: String,
    /// The pasted lines, `<base_url> <key> [model hint…]` each (joined with new
    /// lines); `${upstream}/<provider_id>` reaches a provider of a pack installed
    /// with `"upstream": "per_provider"`.
    pub lines: Vec<String>,
    /// Pack id, when needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// Unknown base URLs become ad-hoc providers.
    #[serde(default)]
    pub allow_adhoc: bool,
    /// Profile each upstream first.
    #[serde(default)]
    pub profile: bool,
    /// `subscription` | `self_service` (server default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<String>,
    /// Subscriber selectors, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribers: Option<Value>,
    /// Remember the run id under this name (a placeholder, and the `run` of later
    /// run steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    /// Expectations on the answer (default: a 2xx status).
    #[serde(default)]
    pub expect: Expect,
}

/// `wait_run`: polls the run every 200 ms until it is terminal (`succeeded`,
/// `partially_succeeded`, `failed`, `cancelled`), reads all its items, and checks
/// them; while a check fails and the time is not up, the run and its items are read
/// again (a cancelled run's last account may still be rolled back).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WaitRun {
    /// Captured run name.
    pub run: String,
    /// Poll limit (default 120 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The run's `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The run's `access_status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_status: Option<String>,
    /// Fields of the run's `counts` (`total`, `open`, `succeeded`, `failed`,
    /// `skipped`, `cancelled`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// Checks by JSON pointer on `{"items": [every item, by line]}`, e.g.
    /// `/items/[line=3]/reuse_decision` (selectors as in [`JsonCheck::path`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<JsonCheck>,
    /// Fields every item has with these values, e.g. `{"key_held": false}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub every_item: BTreeMap<String, Value>,
    /// The host's accounts are exactly the accounts of the run's succeeded items:
    /// no duplicate, no orphan, nothing half-made.
    #[serde(default)]
    pub accounts_recorded: bool,
    /// Name → JSON pointer into `{"run": the run, "items": [its items]}`, e.g.
    /// `{"acc": "/items/[line=1]/account_id"}`; remembered for `${name}`. A pointer
    /// that finds nothing (or null) fails the step.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture: BTreeMap<String, String>,
    /// Expectations on the run's answer (`json`, `host_counts`, `host_json`, …).
    #[serde(default)]
    pub expect: Expect,
}

/// `cancel_run`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRun {
    /// Captured run name.
    pub run: String,
    /// Wait until the host holds at least this many accounts first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_accounts: Option<usize>,
    /// Wait limit (default 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Expectations on the answer.
    #[serde(default)]
    pub expect: Expect,
}

/// `retry_run`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRun {
    /// Captured run name.
    pub run: String,
    /// `failed` | `all` (server default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Expectations on the answer.
    #[serde(default)]
    pub expect: Expect,
}

/// The keys of pasted lines: the second field of every line that is not blank or a
/// `#` comment (fields split at white space, tabs and commas).
pub fn line_keys(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|l| l.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split(|c: char| c.is_whitespace() || c == ',')
                .filter(|f| !f.is_empty())
                .nth(1)
                .map(str::to_string)
        })
        .collect()
}

/// `kill_server`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KillServer {
    /// Wait until the mock holds at least this many accounts first.
    #[serde(default)]
    pub after_accounts: Option<usize>,
    /// Wait limit (default 30 s).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// `restart_server`: the server the steps talk to, again on its data directory.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RestartServer {}

/// `start_server`: another relay server on the scenario's database (a `postgres`
/// scenario) and host, with its own data directory (`data-<name>/`), log
/// (`server-<name>.log`) and `RELAY_WORKER_ID`; the servers started before keep
/// running. The first server is [`FIRST_SERVER`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StartServer {
    /// Its name in the evidence: lowercase letters and digits, unique in the scenario.
    pub name: String,
}

/// `snapshot_host`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotHost {
    /// Snapshot name.
    pub name: String,
}

/// `expect_host_unchanged`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectHostUnchanged {
    /// Snapshot name.
    pub snapshot: String,
    /// Ignore the host's usage bookkeeping (last use, usage windows, balance), which
    /// a gateway proof call changes.
    #[serde(default)]
    pub except_usage: bool,
}

/// Expectations on an answer. Every field is optional; without `status` the
/// answer must be 2xx.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `error.code` of an error answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// `batch.status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_status: Option<String>,
    /// `batch.report.access.status`, or `access_status` of an access-status answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_status: Option<String>,
    /// Fields of `batch.counts`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// Number of items per `status` (statuses not named are not checked).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub item_statuses: BTreeMap<String, usize>,
    /// Number of items per `verdict`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub item_verdicts: BTreeMap<String, usize>,
    /// Each text is part of some item's `message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item_messages_contain: Vec<String>,
    /// Each text is part of a warning: `batch.report.warnings`, a subscriber
    /// warning of the access closure, or the message of an item whose verdict is
    /// `warning`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings_contain: Vec<String>,
    /// A successful capability repair is (true) or is not (false) both in the
    /// report's gateway proofs and journaled on the batch's managed resources
    /// (`details.capability_repairs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair_recorded: Option<bool>,
    /// `rollback.complete` of a rollback answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_complete: Option<bool>,
    /// Number of objects on the mock host per kind (`accounts`, `groups`, …),
    /// read right after the answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host_counts: BTreeMap<String, usize>,
    /// Checks on the answer by JSON pointer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json: Vec<JsonCheck>,
    /// Checks on the mock's state dump by JSON pointer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_json: Vec<JsonCheck>,
    /// The answer's journaled resources (`resources`, as `GET
    /// /api/providers/{p}/resources` answers) that are live (`created`, `reused`,
    /// `adopted`) are exactly the host's groups, channels, plans, accounts, user keys
    /// and subscriptions (no orphan on the host, nothing journaled missing), and every
    /// journaled user exists (the host has users of its own).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resources_match_host: bool,
}

/// A check of one value found by JSON pointer; exactly one test per check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonCheck {
    /// JSON pointer, e.g. `/batch/report/access/subscription_detail/proof/attempts`.
    /// A segment `[field=value,…]` on an array selects its first element whose
    /// fields have these values (compared as text), e.g.
    /// `/differences/[kind=missing,resource_type=account]/host_id`.
    pub path: String,
    /// Equal to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// A string containing this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// A number at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    /// An array (or object) of this length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<usize>,
    /// Present (true) or absent/null (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

impl Expect {
    /// Whether the expectations read the host's objects.
    pub fn reads_host(&self) -> bool {
        !self.host_counts.is_empty() || !self.host_json.is_empty() || self.resources_match_host
    }
}

impl JsonCheck {
    fn tests(&self) -> usize {
        [
            self.equals.is_some(),
            self.contains.is_some(),
            self.at_least.is_some(),
            self.len.is_some(),
            self.exists.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

/// Host object kinds that `host_counts` and snapshots know.
pub const HOST_KINDS: [&str; 7] = [
    "groups",
    "channels",
    "plans",
    "accounts",
    "users",
    "api_keys",
    "subscriptions",
];

/// The states a run ends in (what `wait_run` waits for).
pub const RUN_END_STATES: [&str; 4] = ["succeeded", "partially_succeeded", "failed", "cancelled"];

/// The fields of a run's `counts`.
pub const RUN_COUNTS: [&str; 6] = [
    "total",
    "open",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
];

/// Reads and checks one scenario file.
pub fn load(path: &Path) -> Result<Scenario> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let scenario: Scenario = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid scenario", path.display()))?;
    validate(&scenario, path)
        .with_context(|| format!("{} is not a valid scenario", path.display()))?;
    Ok(scenario)
}

fn validate(s: &Scenario, path: &Path) -> Result<()> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if s.name != stem {
        bail!("name {:?} differs from the file name {stem:?}", s.name);
    }
    if s.name.is_empty()
        || !s
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bail!("name {:?}: use lowercase letters, digits and '-'", s.name);
    }
    if s.steps.is_empty() {
        bail!("no steps");
    }
    if s.database == Database::Postgres {
        for k in RUNNER_DATABASE_ENV {
            if s.server.env.contains_key(k) {
                bail!("server.env: {k} is set by the runner in a postgres scenario");
            }
        }
    }
    let several = s.steps.iter().any(|x| matches!(x, Step::StartServer(_)));
    if several && s.server.env.contains_key("RELAY_WORKER_ID") {
        bail!("server.env: RELAY_WORKER_ID is set by the runner (one per server) when a scenario starts several servers");
    }
    let mut servers = BTreeSet::from([FIRST_SERVER.to_string()]);
    let mut batches = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut snapshots = BTreeSet::new();
    let mut values: BTreeSet<String> = BTreeSet::new();
    let mut scrapes = BTreeSet::new();
    let mut runs: BTreeSet<String> = BTreeSet::new();
    let mut server_up = true;
    let mut host_up = true;
    for (i, step) in s.steps.iter().enumerate() {
        let at = format!("step {} ({})", i + 1, step.action());
        for name in placeholders(&serde_json::to_value(step)?) {
            if !batches.contains(&name)
                && !values.contains(&name)
                && !runs.contains(&name)
                && !BUILT_IN.contains(&name.as_str())
            {
                bail!(
                    "{at}: ${{{name}}} is not captured earlier (by an import, a create_run, capture_host or a wait_run's capture)"
                );
            }
        }
        let need_run = |r: &str| -> Result<()> {
            if !runs.contains(r) {
                bail!("{at}: run {r:?} is not captured by an earlier create_run");
            }
            Ok(())
        };
        let capture_name = |name: &str| -> Result<()> {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                bail!("{at}: name {name:?}: use letters, digits, '_' and '-'");
            }
            if BUILT_IN.contains(&name) {
                bail!("{at}: ${{{name}}} is built in: capture under another name");
            }
            Ok(())
        };
        let need_batch = |b: &str| -> Result<()> {
            if !batches.contains(b) {
                bail!("{at}: batch {b:?} is not captured by an earlier import");
            }
            Ok(())
        };
        let needs_server = !matches!(
            step,
            Step::SetFaults(_)
                | Step::SnapshotHost(_)
                | Step::ExpectHostUnchanged(_)
                | Step::RestartServer(_)
                | Step::StartServer(_)
                | Step::EndUserKey(_)
                | Step::HostAdmin(_)
                | Step::CaptureHost(_)
                | Step::KillHost(_)
                | Step::RestartHost(_)
        );
        if needs_server && !server_up {
            bail!("{at}: the server is down (add restart_server first)");
        }
        let needs_host = match step {
            Step::SetFaults(_)
            | Step::SnapshotHost(_)
            | Step::ExpectHostUnchanged(_)
            | Step::EndUserKey(_)
            | Step::HostAdmin(_)
            | Step::CaptureHost(_)
            | Step::KillHost(_) => true,
            Step::KillServer(x) => x.after_accounts.is_some(),
            Step::CancelRun(x) if x.after_accounts.is_some() => true,
            Step::WaitRun(x) if x.accounts_recorded => true,
            _ => step.expect().is_some_and(Expect::reads_host),
        };
        if needs_host && !host_up {
            bail!("{at}: the mock host is down (add restart_host first)");
        }
        let method_in = |m: &str, allowed: &[&str]| -> Result<()> {
            if !allowed.contains(&m) {
                bail!("{at}: method {m:?} is not one of {allowed:?}");
            }
            Ok(())
        };
        let expect = match step {
            Step::RegisterHost(x) => Some(&x.expect),
            Step::InstallPack(x) => Some(&x.expect),
            Step::Import(x) => {
                if x.keys.is_empty() {
                    bail!("{at}: no keys");
                }
                for k in &x.keys {
                    if k.trim().len() < 16 {
                        bail!("{at}: keys must be at least 16 characters (they are scanned for)");
                    }
                }
                if let Some(p) = &x.probe_key {
                    if !keys.contains(p.as_str()) {
                        bail!("{at}: probe_key {p:?} is not captured by an earlier end_user_key");
                    }
                }
                if let Some(c) = &x.capture {
                    batches.insert(c.clone());
                }
                Some(&x.expect)
            }
            Step::GetBatch(x) => {
                need_batch(&x.batch)?;
                Some(&x.expect)
            }
            Step::WaitBatch(x) => {
                need_batch(&x.batch)?;
                if !BATCH_STATES.contains(&x.status.as_str()) {
                    bail!(
                        "{at}: status {:?} is not a batch status ({BATCH_STATES:?})",
                        x.status
                    );
                }
                Some(&x.expect)
            }
            Step::RollbackBatch(x) => {
                need_batch(&x.batch)?;
                Some(&x.expect)
            }
            Step::ResumeBatch(x) => {
                need_batch(&x.batch)?;
                Some(&x.expect)
            }
            Step::Query(x) => {
                if !x.path.starts_with('/') {
                    bail!("{at}: path must start with '/'");
                }
                Some(&x.expect)
            }
            Step::Cli(x) => {
                if x.args.is_empty() {
                    bail!("{at}: no arguments");
                }
                None
            }
            Step::Call(x) => {
                method_in(&x.method, &["GET", "POST", "DELETE"])?;
                if !x.path.starts_with('/') {
                    bail!("{at}: path must start with '/'");
                }
                if x.body.is_some() && x.method != "POST" {
                    bail!("{at}: only a POST takes a body");
                }
                Some(&x.expect)
            }
            Step::HostAdmin(x) => {
                method_in(&x.method, &["GET", "POST", "PUT", "DELETE"])?;
                if !x.path.starts_with("/api/v1/admin/") {
                    bail!("{at}: path must start with /api/v1/admin/");
                }
                if x.body.is_some() && !matches!(x.method.as_str(), "POST" | "PUT") {
                    bail!("{at}: only a POST or PUT takes a body");
                }
                Some(&x.expect)
            }
            Step::CaptureHost(x) => {
                if x.values.is_empty() {
                    bail!("{at}: nothing to capture");
                }
                for (name, path) in &x.values {
                    if name.is_empty()
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        bail!("{at}: name {name:?}: use letters, digits, '_' and '-'");
                    }
                    if !path.is_empty() && !path.starts_with('/') {
                        bail!("{at}: {path:?} is not a JSON pointer");
                    }
                    values.insert(name.clone());
                }
                None
            }
            Step::KillHost(_) => {
                host_up = false;
                None
            }
            Step::RestartHost(_) => {
                host_up = true;
                None
            }
            Step::ScrapeMetrics(x) => {
                for c in &x.checks {
                    if c.tests() != 1 {
                        bail!(
                            "{at}: check of {:?} needs exactly one of equals, at_least, exists, increased_since",
                            c.name
                        );
                    }
                    if let Some(since) = &c.increased_since {
                        if !scrapes.contains(since) {
                            bail!("{at}: scrape {since:?} is not captured earlier");
                        }
                    }
                }
                if let Some(c) = &x.capture {
                    scrapes.insert(c.clone());
                }
                None
            }
            Step::SetFaults(x) => {
                if !x.faults.is_object() {
                    bail!("{at}: faults must be an object");
                }
                None
            }
            Step::EndUserKey(x) => {
                need_batch(&x.batch)?;
                keys.insert(x.capture.clone());
                None
            }
            Step::KillServer(_) => {
                server_up = false;
                None
            }
            Step::CreateRun(x) => {
                let keys = line_keys(&x.lines);
                if keys.is_empty() {
                    bail!("{at}: no lines");
                }
                for l in x.lines.iter().flat_map(|l| l.lines()).map(str::trim) {
                    if !l.is_empty()
                        && !l.starts_with('#')
                        && line_keys(&[l.to_string()])
                            .first()
                            .is_none_or(|k| k.len() < 16)
                    {
                        bail!(
                            "{at}: line {l:?}: needs a base URL and a key of at least 16 characters (keys are scanned for)"
                        );
                    }
                }
                if let Some(m) = &x.access_mode {
                    if !["subscription", "self_service"].contains(&m.as_str()) {
                        bail!("{at}: access_mode {m:?} is not subscription or self_service");
                    }
                }
                if let Some(c) = &x.capture {
                    capture_name(c)?;
                    runs.insert(c.clone());
                }
                Some(&x.expect)
            }
            Step::WaitRun(x) => {
                need_run(&x.run)?;
                if let Some(st) = &x.state {
                    if !RUN_END_STATES.contains(&st.as_str()) {
                        bail!("{at}: state {st:?} is not one a run ends in ({RUN_END_STATES:?})");
                    }
                }
                for k in x.counts.keys() {
                    if !RUN_COUNTS.contains(&k.as_str()) {
                        bail!("{at}: counts: unknown field {k:?} (known: {RUN_COUNTS:?})");
                    }
                }
                for c in &x.items {
                    if c.tests() != 1 {
                        bail!(
                            "{at}: item check of {:?} needs exactly one of equals, contains, at_least, len, exists",
                            c.path
                        );
                    }
                    if !c.path.starts_with("/items") {
                        bail!("{at}: item check {:?} must start with /items", c.path);
                    }
                }
                for (name, path) in &x.capture {
                    capture_name(name)?;
                    if !path.starts_with("/run") && !path.starts_with("/items") {
                        bail!("{at}: capture {path:?} must start with /run or /items");
                    }
                    values.insert(name.clone());
                }
                Some(&x.expect)
            }
            Step::CancelRun(x) => {
                need_run(&x.run)?;
                Some(&x.expect)
            }
            Step::RetryRun(x) => {
                need_run(&x.run)?;
                if let Some(sc) = &x.scope {
                    if !["failed", "all"].contains(&sc.as_str()) {
                        bail!("{at}: scope {sc:?} is not failed or all");
                    }
                }
                Some(&x.expect)
            }
            Step::RestartServer(_) => {
                server_up = true;
                None
            }
            Step::StartServer(x) => {
                if s.database != Database::Postgres {
                    bail!("{at}: several servers need a shared database: set \"database\": \"postgres\"");
                }
                if x.name.is_empty()
                    || !x
                        .name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                {
                    bail!("{at}: name {:?}: use lowercase letters and digits", x.name);
                }
                if !servers.insert(x.name.clone()) {
                    bail!("{at}: a server named {:?} is already started", x.name);
                }
                server_up = true;
                None
            }
            Step::SnapshotHost(x) => {
                snapshots.insert(x.name.clone());
                None
            }
            Step::ExpectHostUnchanged(x) => {
                if !snapshots.contains(&x.snapshot) {
                    bail!("{at}: snapshot {:?} is not taken earlier", x.snapshot);
                }
                None
            }
        };
        if let Some(e) = expect {
            for kind in e.host_counts.keys() {
                if !HOST_KINDS.contains(&kind.as_str()) {
                    bail!("{at}: host_counts: unknown kind {kind:?} (known: {HOST_KINDS:?})");
                }
            }
            for c in e.json.iter().chain(&e.host_json) {
                if c.tests() != 1 {
                    bail!(
                        "{at}: check of {:?} needs exactly one of equals, contains, at_least, len, exists",
                        c.path
                    );
                }
                if !c.path.is_empty() && !c.path.starts_with('/') {
                    bail!("{at}: {:?} is not a JSON pointer", c.path);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Scenario> {
        let s: Scenario = serde_json::from_value(v)?;
        validate(&s, Path::new("fixtures/scenarios/x.json"))?;
        Ok(s)
    }

    #[test]
    fn a_minimal_scenario_loads() {
        let s = parse(serde_json::json!({
            "name": "x", "description": "d",
            "steps": [
                {"action": "register_host"},
                {"action": "install_pack"},
                {"action": "import", "provider": "deepseek", "keys": ["sk-0123456789abcdef"], "capture": "b"},
                {"action": "rollback_batch", "batch": "b", "expect": {"batch_status": "rolled_back"}}
            ]
        }))
        .unwrap();
        assert_eq!(s.steps.len(), 4);
        assert_eq!(s.steps[3].action(), "rollback_batch");
    }

    #[test]
    fn the_new_steps_load_and_placeholders_resolve() {
        let s = parse(serde_json::json!({
            "name": "x", "description": "d",
            "steps": [
                {"action": "import", "provider": "deepseek", "keys": ["sk-0123456789abcdef"], "capture": "b"},
                {"action": "scrape_metrics", "capture": "m0"},
                {"action": "capture_host", "values": {"acc": "/accounts/0/id", "groups": "/accounts/0/group_ids"}},
                {"action": "host_admin", "method": "PUT", "path": "/api/v1/admin/accounts/${acc}", "body": {"group_ids": []}},
                {"action": "kill_host"},
                {"action": "query", "path": "/api/import-batches/${b}", "wait_ms": 1000},
                {"action": "restart_host"},
                {"action": "call", "method": "POST", "path": "/api/providers/deepseek/reconcile", "body": {"host_id": "main"},
                 "expect": {"json": [{"path": "/differences/[host_id=${acc}]/name", "exists": true}],
                            "host_json": [{"path": "/accounts/[id=${acc}]/group_ids", "equals": "${groups}"}]}},
                {"action": "scrape_metrics", "checks": [{"name": "relay_imports_total", "increased_since": "m0"}]}
            ]
        }))
        .unwrap();
        assert_eq!(s.steps[7].action(), "call");
        let values = BTreeMap::from([
            ("acc".to_string(), serde_json::json!(7)),
            ("groups".to_string(), serde_json::json!([2])),
            ("b".to_string(), serde_json::json!("batch_1")),
        ]);
        let v = serde_json::to_value(&s.steps[7]).unwrap();
        assert_eq!(
            placeholders(&v).into_iter().collect::<Vec<_>>(),
            ["acc", "groups"]
        );
        let resolved: Step = serde_json::from_value(substitute(&v, &values).unwrap()).unwrap();
        let Step::Call(c) = resolved else {
            panic!("not a call")
        };
        assert_eq!(c.expect.json[0].path, "/differences/[host_id=7]/name");
        assert_eq!(c.expect.host_json[0].path, "/accounts/[id=7]/group_ids");
        assert_eq!(c.expect.host_json[0].equals, Some(serde_json::json!([2])));
        let q = serde_json::to_value(&s.steps[5]).unwrap();
        assert_eq!(
            substitute(&q, &values).unwrap()["path"],
            "/api/import-batches/batch_1"
        );
        assert!(substitute(&serde_json::json!("${nope}"), &values).is_err());
        assert!(substitute(&serde_json::json!("a ${acc"), &values).is_err());
    }

    #[test]
    fn the_run_steps_load_capture_and_resolve() {
        let s = parse(serde_json::json!({
            "name": "x", "description": "d",
            "steps": [
                {"action": "install_pack", "upstream": "per_provider"},
                {"action": "create_run", "lines": [
                    "# a comment",
                    "${upstream}/deepseek/v1 sk-0123456789abcdef deepseek v4",
                    "${upstream}/qwen,sk-fedcba9876543210,qwen turbo"
                 ], "allow_adhoc": true, "capture": "r1"},
                {"action": "cancel_run", "run": "r1", "after_accounts": 1},
                {"action": "wait_run", "run": "r1", "state": "cancelled",
                 "counts": {"open": 0}, "every_item": {"key_held": false},
                 "items": [{"path": "/items/[line=2]/state", "equals": "cancelled"}],
                 "accounts_recorded": true, "capture": {"item": "/items/0/item_id"}},
                {"action": "retry_run", "run": "r1", "scope": "all"},
                {"action": "call", "method": "GET", "path": "/api/batch-import/items/${item}/events"}
            ]
        }))
        .unwrap();
        let Step::InstallPack(p) = &s.steps[0] else {
            panic!("not an install")
        };
        assert_eq!(p.upstream, UpstreamMode::PerProvider);
        let Step::CreateRun(c) = &s.steps[1] else {
            panic!("not a create_run")
        };
        assert_eq!(
            line_keys(&c.lines),
            ["sk-0123456789abcdef", "sk-fedcba9876543210"]
        );
        let values = BTreeMap::from([(
            "upstream".to_string(),
            serde_json::json!("http://127.0.0.1:9"),
        )]);
        let v = substitute(&serde_json::to_value(&s.steps[1]).unwrap(), &values).unwrap();
        assert_eq!(
            v["lines"][1],
            "http://127.0.0.1:9/deepseek/v1 sk-0123456789abcdef deepseek v4"
        );
        // The default stays as it was: no `upstream` field written.
        let plain = parse(serde_json::json!({
            "name": "x", "description": "d", "steps": [{"action": "install_pack"}]
        }))
        .unwrap();
        assert!(serde_json::to_value(&plain.steps[0])
            .unwrap()
            .get("upstream")
            .is_none());
    }

    #[test]
    fn run_steps_refuse_what_cannot_work() {
        let base =
            |steps: Value| serde_json::json!({"name": "x", "description": "d", "steps": steps});
        let run = serde_json::json!({"action": "create_run", "lines": ["https://a.example sk-0123456789abcdef"], "capture": "r"});
        // A run never created.
        for step in [
            serde_json::json!({"action": "wait_run", "run": "r"}),
            serde_json::json!({"action": "cancel_run", "run": "r"}),
            serde_json::json!({"action": "retry_run", "run": "r"}),
        ] {
            assert!(parse(base(serde_json::json!([step]))).is_err());
        }
        // Lines without a key, or a key too short to scan for.
        assert!(parse(base(
            serde_json::json!([{"action": "create_run", "lines": []}])
        ))
        .is_err());
        assert!(parse(base(
            serde_json::json!([{"action": "create_run", "lines": ["https://a.example"]}])
        ))
        .is_err());
        assert!(parse(base(
            serde_json::json!([{"action": "create_run", "lines": ["https://a.example sk-short"]}])
        ))
        .is_err());
        // Unknown values.
        for bad in [
            serde_json::json!({"action": "wait_run", "run": "r", "state": "running"}),
            serde_json::json!({"action": "wait_run", "run": "r", "counts": {"passed": 1}}),
            serde_json::json!({"action": "wait_run", "run": "r", "items": [{"path": "/run/state", "equals": "x"}]}),
            serde_json::json!({"action": "wait_run", "run": "r", "items": [{"path": "/items/0/state"}]}),
            serde_json::json!({"action": "wait_run", "run": "r", "capture": {"upstream": "/run/run_id"}}),
            serde_json::json!({"action": "wait_run", "run": "r", "capture": {"a": "/counts"}}),
            serde_json::json!({"action": "retry_run", "run": "r", "scope": "everything"}),
            serde_json::json!({"action": "install_pack", "upstream": "elsewhere"}),
        ] {
            assert!(
                parse(base(serde_json::json!([run.clone(), bad.clone()]))).is_err(),
                "{bad}"
            );
        }
        assert!(parse(base(serde_json::json!([
            run.clone(),
            {"action": "create_run", "lines": ["https://a.example sk-0123456789abcdef"], "access_mode": "both"}
        ])))
        .is_err());
        // The server is down.
        assert!(parse(base(serde_json::json!([
            run.clone(), {"action": "kill_server"}, {"action": "wait_run", "run": "r"}
        ])))
        .is_err());
        // A wait_run capture is a placeholder afterwards, not before.
        assert!(parse(base(serde_json::json!([
            run.clone(),
            {"action": "call", "method": "GET", "path": "/api/batch-import/items/${i}/events"},
            {"action": "wait_run", "run": "r", "capture": {"i": "/items/0/item_id"}}
        ])))
        .is_err());
    }

    #[test]
    fn two_servers_on_one_database_load() {
        let s = parse(serde_json::json!({
            "name": "x", "description": "d",
            "database": "postgres",
            "server": {"env": {"RELAY_LEASE_SECS": "3"}},
            "steps": [
                {"action": "import", "provider": "deepseek", "keys": ["sk-0123456789abcdef"], "wait": false, "capture": "b1"},
                {"action": "kill_server", "after_accounts": 1},
                {"action": "start_server", "name": "b"},
                {"action": "wait_batch", "batch": "b1", "status": "interrupted", "timeout_ms": 30000},
                {"action": "resume_batch", "batch": "b1", "keys": ["sk-0123456789abcdef"]},
                {"action": "start_server", "name": "c2"},
                {"action": "wait_batch", "batch": "b1", "status": "succeeded",
                 "expect": {"batch_status": "succeeded"}},
                {"action": "query", "path": "/api/providers/deepseek/resources?host_id=main",
                 "expect": {"resources_match_host": true}}
            ]
        }))
        .unwrap();
        assert_eq!(s.database, Database::Postgres);
        assert_eq!(s.server.env["RELAY_LEASE_SECS"], "3");
        let Step::StartServer(b) = &s.steps[2] else {
            panic!("not a start_server")
        };
        assert_eq!(b.name, "b");
        let Step::WaitBatch(w) = &s.steps[3] else {
            panic!("not a wait_batch")
        };
        assert_eq!(
            (w.batch.as_str(), w.status.as_str(), w.timeout_ms),
            ("b1", "interrupted", Some(30000))
        );
        assert!(s.steps[7].expect().is_some_and(Expect::reads_host));
        // Written back as it was read; a SQLite scenario writes no `database`.
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["database"], "postgres");
        assert_eq!(
            v["steps"][2],
            serde_json::json!({"action": "start_server", "name": "b"})
        );
        let plain = parse(serde_json::json!({
            "name": "x", "description": "d", "steps": [{"action": "install_pack"}]
        }))
        .unwrap();
        assert_eq!(plain.database, Database::Sqlite);
        assert!(serde_json::to_value(&plain)
            .unwrap()
            .get("database")
            .is_none());
    }

    #[test]
    fn two_server_steps_refuse_what_cannot_work() {
        let pg = |steps: Value| serde_json::json!({"name": "x", "description": "d", "database": "postgres", "steps": steps});
        let import = serde_json::json!({"action": "import", "provider": "deepseek", "keys": ["sk-0123456789abcdef"], "capture": "b1"});
        // The baseline passes.
        assert!(parse(pg(
            serde_json::json!([import.clone(), {"action": "start_server", "name": "b"}])
        ))
        .is_ok());
        // A second server without a shared database.
        assert!(parse(serde_json::json!({"name": "x", "description": "d",
            "steps": [{"action": "start_server", "name": "b"}]}))
        .is_err());
        // Names: the first server's, twice, or not lowercase letters and digits.
        for bad in [
            serde_json::json!([{"action": "start_server", "name": "a"}]),
            serde_json::json!([{"action": "start_server", "name": "b"}, {"action": "start_server", "name": "b"}]),
            serde_json::json!([{"action": "start_server", "name": "B"}]),
            serde_json::json!([{"action": "start_server", "name": "b-2"}]),
            serde_json::json!([{"action": "start_server", "name": ""}]),
            serde_json::json!([{"action": "start_server"}]),
        ] {
            assert!(parse(pg(bad.clone())).is_err(), "{bad}");
        }
        // Unknown database.
        assert!(parse(
            serde_json::json!({"name": "x", "description": "d", "database": "mysql",
            "steps": [{"action": "install_pack"}]})
        )
        .is_err());
        // Settings the runner owns.
        for (k, v) in [
            ("RELAY_DATABASE_URL", "postgres://u:p@h/d"),
            ("RELAY_MASTER_KEY", "AAAA"),
            ("RELAY_WORKER_ID", "w"),
        ] {
            let mut doc =
                pg(serde_json::json!([import.clone(), {"action": "start_server", "name": "b"}]));
            doc["server"] = serde_json::json!({"env": {k: v}});
            assert!(parse(doc).is_err(), "{k}");
        }
        // wait_batch: a batch captured earlier, a known status, a running server.
        for bad in [
            serde_json::json!([{"action": "wait_batch", "batch": "b1", "status": "interrupted"}]),
            serde_json::json!([import.clone(), {"action": "wait_batch", "batch": "b1", "status": "crashed"}]),
            serde_json::json!([import.clone(), {"action": "wait_batch", "batch": "b1"}]),
            serde_json::json!([import.clone(), {"action": "kill_server"},
                               {"action": "wait_batch", "batch": "b1", "status": "interrupted"}]),
        ] {
            assert!(parse(pg(bad.clone())).is_err(), "{bad}");
        }
        // start_server brings a server back for the steps after it.
        assert!(parse(pg(serde_json::json!([
            import.clone(), {"action": "kill_server"}, {"action": "start_server", "name": "b"},
            {"action": "wait_batch", "batch": "b1", "status": "interrupted"}
        ])))
        .is_ok());
    }

    #[test]
    fn typos_and_dangling_references_are_refused() {
        let base =
            |steps: Value| serde_json::json!({"name": "x", "description": "d", "steps": steps});
        // Unknown field.
        assert!(parse(base(
            serde_json::json!([{"action": "register_host", "nmae": "a"}])
        ))
        .is_err());
        // Unknown action.
        assert!(parse(base(serde_json::json!([{"action": "reboot"}]))).is_err());
        // Batch never captured.
        assert!(parse(base(
            serde_json::json!([{"action": "rollback_batch", "batch": "b"}])
        ))
        .is_err());
        // Server down.
        assert!(parse(base(serde_json::json!([
            {"action": "kill_server"}, {"action": "query", "path": "/api/hosts"}
        ])))
        .is_err());
        // A check without a test.
        assert!(parse(base(serde_json::json!([
            {"action": "query", "path": "/api/hosts", "expect": {"json": [{"path": "/hosts"}]}}
        ])))
        .is_err());
        // A placeholder never captured, or captured only later.
        assert!(parse(base(serde_json::json!([
            {"action": "host_admin", "method": "DELETE", "path": "/api/v1/admin/accounts/${a}"},
            {"action": "capture_host", "values": {"a": "/accounts/0/id"}}
        ])))
        .is_err());
        // The host is down.
        assert!(parse(base(serde_json::json!([
            {"action": "kill_host"}, {"action": "capture_host", "values": {"a": "/accounts/0/id"}}
        ])))
        .is_err());
        assert!(parse(base(serde_json::json!([
            {"action": "kill_host"},
            {"action": "query", "path": "/api/hosts", "expect": {"host_counts": {"accounts": 1}}}
        ])))
        .is_err());
        // Methods and paths.
        assert!(parse(base(serde_json::json!([
            {"action": "host_admin", "method": "PATCH", "path": "/api/v1/admin/accounts/1"}
        ])))
        .is_err());
        assert!(parse(base(serde_json::json!([
            {"action": "host_admin", "method": "GET", "path": "/__mock/state"}
        ])))
        .is_err());
        assert!(parse(base(serde_json::json!([
            {"action": "call", "method": "GET", "path": "/api/hosts", "body": {}}
        ])))
        .is_err());
        // Metric checks: one test each, and a scrape taken earlier.
        assert!(parse(base(serde_json::json!([
            {"action": "scrape_metrics", "checks": [{"name": "m"}]}
        ])))
        .is_err());
        assert!(parse(base(serde_json::json!([
            {"action": "scrape_metrics", "checks": [{"name": "m", "increased_since": "before"}]}
        ])))
        .is_err());
        // Wrong name.
        assert!(parse(serde_json::json!({"name": "y", "description": "d", "steps": [{"action": "restart_server"}]})).is_err());
    }
}
