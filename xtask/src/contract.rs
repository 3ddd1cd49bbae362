//! `cargo xtask contract`: the HTTP API checked against `docs/openapi.yaml` by
//! schemathesis, live.
//!
//! Starts the mock host and the server (debug build) on loopback, registers the host,
//! installs the bundled pack and imports a few keys, so that most routes have real
//! data, then runs schemathesis with every check (`--checks all`) over every
//! operation: examples, the coverage phase, fuzzing and stateful sequences, with a
//! bounded number of examples. Any failure fails the step. Path parameters that name
//! a host, pack, provider, batch or run are pinned to the objects created here (see
//! the generated `schemathesis.toml`), so the answers carry real data.
//!
//! Without schemathesis (`st`) on the PATH the step says so and is skipped: `.ci/run`
//! installs the pinned version with pip when it can.

use crate::http::Client;
use crate::procs::{self, Profile};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::process::Command;
use std::time::Instant;

/// The schemathesis release the step is written against (`.ci/run` installs it).
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Test cases per operation and phase (the coverage phase adds its own).
const MAX_EXAMPLES: &str = "25";

/// Fixed seed: a run is reproducible, and a change of the document or the code is
/// what changes the outcome.
const SEED: &str = "20261204";

/// schemathesis's default for `positive_data_acceptance`, plus `400`.
const ACCEPTED_OR_400: &str = r#"["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]"#;

const TOKEN: &str = "contract-operator-token-0123456789";

const KEYS: &[&str] = &[
    "sk-contract-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "sk-contract-1b2c3d4e5f60718293a4b5c6d7e8f90a",
];

/// Runs the step. `args`: extra arguments passed to `st run` as they are.
pub fn run(args: &[String]) -> Result<()> {
    let Some(version) = schemathesis_version() else {
        eprintln!(
            "==> SKIP contract: schemathesis (`st`) is not installed \
             (pip install schemathesis=={SCHEMATHESIS_VERSION})"
        );
        return Ok(());
    };
    if !version.contains(SCHEMATHESIS_VERSION) {
        eprintln!(
            "==> NOTE contract: {version} found; the step is written against {SCHEMATHESIS_VERSION}"
        );
    }
    let started = Instant::now();
    let bin = procs::build_binaries(Profile::Debug)?;
    let dir = procs::fresh_dir("contract")?;
    let (mock, server, mock_settings) = procs::start_mock_and_server(
        &bin,
        &dir,
        TOKEN,
        &[
            // schemathesis sends requests without the token on purpose: do
            // not lock its address out.
            ("RELAY_AUTH_FAILURES", "0"),
            // Imports the run sends wait out the gateway warm-up window when
            // their proof fails; a short window keeps the step near a minute.
            ("RELAY_WARMUP_SECS", "1"),
        ],
    )?;
    // The run logs in with many wrong credentials on purpose: lift the mock host's
    // login and admin-key limiters (a real host's would make the server wait out
    // its window, up to a minute per call).
    let mock_api = Client::new(&mock.base_url, None);
    let knobs = mock_api.post(
        "/__mock/faults",
        &json!({"login_rate_limit": 1_000_000, "api_key_failure_limit": 1_000_000}),
    )?;
    expect(&knobs, 200, "lift the mock host's limiters")?;
    let api = Client::new(&server.base_url, Some(TOKEN));
    let host = api.post(
        "/api/hosts",
        &json!({"name": "main", "base_url": mock.base_url,
                "auth": {"kind": "api_key", "api_key": mock_settings.admin_api_key}}),
    )?;
    expect(&host, 201, "register the host")?;
    let pack = api.post("/api/packs/install", &json!({"path": "openai-cn-pack"}))?;
    expect(&pack, 201, "install the pack")?;
    let import = api.post(
        "/api/providers/deepseek/import",
        &json!({"host_id": "main", "keys": KEYS, "subscribers": [{"email": "alice@example.com"}]}),
    )?;
    expect(&import, 200, "import keys")?;
    let batch = import.body["batch"]["id"]
        .as_str()
        .context("the import answer has no batch id")?
        .to_string();
    let run = api.post(
        "/api/providers/deepseek/reconcile",
        &json!({"host_id": "main"}),
    )?;
    expect(&run, 200, "reconcile")?;
    let run_id = run.body["id"]
        .as_str()
        .context("the reconcile answer has no id")?
        .to_string();
    let host_id = host.body["id"].as_str().unwrap_or("main").to_string();
    let import_run = api.post(
        "/api/batch-import/runs",
        &json!({"host_id": "main", "lines": format!("https://api.deepseek.com/v1 {} deepseek v4", KEYS[0])}),
    )?;
    expect(&import_run, 202, "start a batch import run")?;
    let import_run_id = import_run.body["run_id"]
        .as_str()
        .context("the run answer has no run_id")?
        .to_string();
    let items = api.get(&format!("/api/batch-import/runs/{import_run_id}/items"))?;
    expect(&items, 200, "list the run's items")?;
    let item_id = items.body["items"][0]["item_id"]
        .as_str()
        .context("the run has no item")?
        .to_string();

    let config = dir.join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\n\
             \"path.host\" = \"{host_id}\"\n\
             \"path.pack\" = \"openai-cn-pack\"\n\
             \"path.provider\" = \"deepseek\"\n\
             \"path.batch\" = \"{batch}\"\n\
             \"path.run\" = \"{run_id}\"\n\
             \"path.run_id\" = \"{import_run_id}\"\n\
             \"path.item_id\" = \"{item_id}\"\n\
             \n\
             # 502 is the documented answer when the host (the upstream of this\n\
             # gateway's control plane) is unreachable or refuses the admin\n\
             # credentials; the run sends arbitrary base URLs and credentials. Any\n\
             # other 5xx is still a failure.\n\
             [checks.not_a_server_error]\n\
             expected-statuses = [\"2xx\", \"3xx\", \"4xx\", \"502\"]\n\
             \n\
             # What JSON Schema cannot say: a host's base URL must name a public https\n\
             # host or a private http one (not link-local, not cloud metadata), and an\n\
             # uploaded pack must be a valid pack archive. Schema-valid values that break\n\
             # these rules are refused with the documented 400; every other check runs.\n\
             [[operations]]\n\
             include-operation-id = \"createHost\"\n\
             checks.positive_data_acceptance.expected-statuses = {ACCEPTED_OR_400}\n\
             \n\
             [[operations]]\n\
             include-operation-id = \"installPack\"\n\
             checks.positive_data_acceptance.expected-statuses = {ACCEPTED_OR_400}\n\
             \n\
             # The pasted lines of a batch import must parse (a base URL and a key per\n\
             # line), and a paging cursor must be one the server gave.\n\
             [[operations]]\n\
             include-operation-id = \"createImportRun\"\n\
             checks.positive_data_acceptance.expected-statuses = {ACCEPTED_OR_400}\n\
             \n\
             [[operations]]\n\
             include-operation-id = \"listImportRuns\"\n\
             checks.positive_data_acceptance.expected-statuses = {ACCEPTED_OR_400}\n\
             \n\
             [[operations]]\n\
             include-operation-id = \"listImportRunItems\"\n\
             checks.positive_data_acceptance.expected-statuses = {ACCEPTED_OR_400}\n\
             \n\
             [[operations]]\n\
             include-operation-id = \"listAuditEvents\"\n\
             checks.positive_data_acceptance.expected-statuses = {ACCEPTED_OR_400}\n"
        ),
    )?;
    eprintln!(
        "==> contract: schemathesis against {} (setup {:.1}s)",
        server.base_url,
        started.elapsed().as_secs_f64()
    );
    let spec = procs::root().join("docs/openapi.yaml");
    let st_started = Instant::now();
    let status = Command::new("st")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(&spec)
        .args(["--url", &server.base_url])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--checks", "all"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED])
        .args(["--workers", "2"])
        .args(["--request-timeout", "60"])
        .arg("--report-dir")
        .arg(dir.join("report"))
        .args(["--report", "junit"])
        .args(args)
        .current_dir(&dir)
        .env("SCHEMATHESIS_HOOKS", "")
        .status()
        .context("cannot run schemathesis (`st`)")?;
    eprintln!(
        "==> contract: schemathesis took {:.1}s (whole step {:.1}s)",
        st_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    drop(server);
    drop(mock);
    if !status.success() {
        bail!(
            "schemathesis found failures ({status}); logs and reports in {}",
            dir.display()
        );
    }
    Ok(())
}

fn expect(reply: &crate::http::Reply, status: u16, what: &str) -> Result<()> {
    if reply.status != status {
        bail!(
            "contract setup: {what}: expected {status}, got {} {}",
            reply.status,
            reply.body
        );
    }
    Ok(())
}

/// True when schemathesis (`st`) is on the PATH.
pub fn available() -> bool {
    schemathesis_version().is_some()
}

/// `st --version`'s line, when schemathesis is installed.
fn schemathesis_version() -> Option<String> {
    let out = Command::new("st").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
