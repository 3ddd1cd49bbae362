//! Scenario fixtures: `fixtures/scenarios/<name>.json`, plain data.
//!
//! A scenario names the mock host's flags and fault knobs, the server's extra
//! environment, and a list of steps. Each step is an object whose `action` picks
//! the step kind; steps that talk to the server take an optional `expect`.

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
    /// Extra environment, e.g. `{"RELAY_WARMUP_SECS": "20"}` (default warm-up: 5 s).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

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
    /// `POST /api/import-batches/{id}/rollback`.
    RollbackBatch(BatchAction),
    /// `POST /api/import-batches/{id}/resume`.
    ResumeBatch(ResumeBatch),
    /// `GET` on the server (any path; `${batch}` is replaced by a captured batch id).
    Query(Query),
    /// `POST /__mock/faults` on the mock host.
    SetFaults(SetFaults),
    /// An end user on the mock host creates a key in the provider's group.
    EndUserKey(EndUserKey),
    /// SIGKILL the server, optionally once the mock holds a number of accounts.
    KillServer(KillServer),
    /// Start the server again on the same data directory.
    RestartServer(RestartServer),
    /// Remember the mock's objects under a name.
    SnapshotHost(SnapshotHost),
    /// The mock's objects equal a snapshot.
    ExpectHostUnchanged(ExpectHostUnchanged),
}

impl Step {
    /// The `action` name.
    pub fn action(&self) -> &'static str {
        match self {
            Step::RegisterHost(_) => "register_host",
            Step::InstallPack(_) => "install_pack",
            Step::Import(_) => "import",
            Step::GetBatch(_) => "get_batch",
            Step::RollbackBatch(_) => "rollback_batch",
            Step::ResumeBatch(_) => "resume_batch",
            Step::Query(_) => "query",
            Step::SetFaults(_) => "set_faults",
            Step::EndUserKey(_) => "end_user_key",
            Step::KillServer(_) => "kill_server",
            Step::RestartServer(_) => "restart_server",
            Step::SnapshotHost(_) => "snapshot_host",
            Step::ExpectHostUnchanged(_) => "expect_host_unchanged",
        }
    }
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
    /// Expectations on the answer (default: a 2xx status).
    #[serde(default)]
    pub expect: Expect,
}

/// `install_pack`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstallPack {
    /// Pack directory relative to the workspace root (default `packs/openai-cn-pack`).
    #[serde(default = "default_pack")]
    pub path: String,
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
    /// Expectations on the answer.
    #[serde(default)]
    pub expect: Expect,
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

/// `restart_server`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RestartServer {}

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
}

/// A check of one value found by JSON pointer; exactly one test per check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonCheck {
    /// JSON pointer, e.g. `/batch/report/access/subscription_detail/proof/attempts`.
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
    let mut batches = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut snapshots = BTreeSet::new();
    let mut server_up = true;
    for (i, step) in s.steps.iter().enumerate() {
        let at = format!("step {} ({})", i + 1, step.action());
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
                | Step::EndUserKey(_)
        );
        if needs_server && !server_up {
            bail!("{at}: the server is down (add restart_server first)");
        }
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
            Step::RestartServer(_) => {
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
        // Wrong name.
        assert!(parse(serde_json::json!({"name": "y", "description": "d", "steps": [{"action": "restart_server"}]})).is_err());
    }
}
