//! `relay batch list|show|rollback|resume`, and what imports share with them: waiting
//! for a batch with a progress bar, rendering a BatchView, the exit code of an outcome.
//! Answers are read as the contract's types (`relay-api-types`); `--output json`
//! prints them as the server sent them.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use relay_api_types::{
    AccessClosureRecord, AccessProof, BatchCounts, BatchList, BatchRecord, BatchReport,
    BatchStatus, BatchView, DomainVocabulary as _, ImportReport, ResumeRequest, RollbackReport,
};
use serde_json::{json, Value};

use crate::client::{body, read, segment, ApiError, Client};
use crate::output::{
    at, opt, opt_at, print_failure, print_json, render_fields, render_table, s, yes_no,
    OutputFormat,
};
use crate::status::host_names;
use crate::{input, Ctx};

/// How often a running batch is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(300);
/// How long polling tolerates an unreachable server (e.g. while it restarts).
const POLL_OUTAGE: Duration = Duration::from_secs(30);

/// `--status`: one of the batch statuses (the vocabulary of the contract), listed by
/// `--help` and in the error for another value.
fn batch_status_value() -> impl clap::builder::TypedValueParser<Value = BatchStatus> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(BatchStatus::ALL.iter().map(|s| s.as_str())).map(
        |value| {
            value
                .parse::<BatchStatus>()
                .expect("a listed batch status parses")
        },
    )
}

/// Batch subcommands.
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// List import batches, newest first.
    List {
        /// Only batches on this host (id or name).
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Only batches of this provider.
        #[arg(long, value_name = "PROVIDER")]
        provider: Option<String>,
        /// Only batches of this pack.
        #[arg(long, value_name = "PACK")]
        pack: Option<String>,
        /// Only batches in this status.
        #[arg(long, value_name = "STATUS", value_parser = batch_status_value())]
        status: Option<BatchStatus>,
        /// At most this many batches.
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Show a batch: host objects, per-key results, access proof, warnings.
    Show {
        /// Batch id.
        id: String,
    },
    /// Delete every host object the batch created (exit 1 when some remain).
    Rollback {
        /// Batch id.
        id: String,
    },
    /// Resume an interrupted batch.
    Resume {
        /// Batch id.
        id: String,
        /// The batch's keys again, for keys whose accounts were not created yet
        /// ('-' reads stdin).
        #[arg(long, value_name = "FILE")]
        keys_file: Option<PathBuf>,
    },
}

/// Runs a batch subcommand.
pub fn run(command: BatchCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if let BatchCommand::Resume {
        keys_file: Some(file),
        ..
    } = &command
    {
        input::one_stdin(&[
            ("--token-file", ctx.token_file()),
            ("--keys-file", Some(file)),
        ])?;
    }
    let mut client = ctx.client()?;
    match command {
        BatchCommand::List {
            host,
            provider,
            pack,
            status,
            limit,
        } => {
            let limit = limit.map(|n| n.to_string());
            let doc = client.get(
                "/api/import-batches",
                &[
                    ("host_id", host.as_deref()),
                    ("provider_id", provider.as_deref()),
                    ("pack_id", pack.as_deref()),
                    ("status", status.map(BatchStatus::as_str)),
                    ("limit", limit.as_deref()),
                ],
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    let names = host_names(&client)?;
                    print!(
                        "{}",
                        batches_table(&read::<BatchList>(&doc)?.batches, &names)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchCommand::Show { id } => {
            let doc = client.get(&batch_path(&id), &[])?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => print!("{}", view_text(&read(&doc)?)),
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchCommand::Rollback { id } => {
            let doc = client.post(&format!("{}/rollback", batch_path(&id)), &json!({}))?;
            let (doc, view) = wait(&client, doc)?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    print!("{}", view_text(&view));
                    print!("{}", rollback_text(&view));
                }
            }
            let status = view.batch.status;
            if status == BatchStatus::RolledBack {
                if ctx.format == OutputFormat::Table {
                    println!("\nrolled back batch {id}");
                }
                Ok(ExitCode::SUCCESS)
            } else {
                print_failure(
                    "rollback_failed",
                    &format!(
                        "rollback of batch {id} ended {status}: {}; see the remaining objects above",
                        error_text(&view.batch)
                    ),
                );
                Ok(ExitCode::FAILURE)
            }
        }
        BatchCommand::Resume { id, keys_file } => {
            let mut request = ResumeRequest {
                keys: None,
                keys_text: None,
            };
            if let Some(file) = &keys_file {
                let list = input::read_keys(file, "--keys-file")?;
                for key in &list.keys {
                    client.redact(key);
                }
                request.keys = Some(list.keys);
            }
            let doc = client.post(&format!("{}/resume", batch_path(&id)), &body(&request))?;
            let (doc, view) = wait(&client, doc)?;
            finish_import(&doc, &view, ctx.format, &client)
        }
    }
}

fn batch_path(id: &str) -> String {
    format!("/api/import-batches/{}", segment(id))
}

/// True for the statuses after which a batch no longer changes by itself: the
/// terminal ones, and `interrupted` (it waits for a resume or a rollback).
fn is_terminal(status: BatchStatus) -> bool {
    status.is_terminal() || status == BatchStatus::Interrupted
}

/// Items done of a batch: passed + warning + failed + skipped.
fn done(counts: &BatchCounts) -> u64 {
    counts.passed + counts.warning + counts.failed + counts.skipped
}

/// Polls a batch until it reaches a terminal status, with a progress bar on stderr when
/// stderr is a terminal. Returns the final BatchView, as sent and as read.
pub fn wait(client: &Client, mut doc: Value) -> anyhow::Result<(Value, BatchView)> {
    let mut view: BatchView = read(&doc)?;
    let id = view.batch.id.clone();
    let bar = std::io::stderr().is_terminal().then(|| progress_bar(&id));
    let mut outage: Option<Instant> = None;
    loop {
        let status = view.batch.status;
        if let Some(bar) = &bar {
            let counts = &view.batch.counts;
            bar.set_length(counts.total);
            bar.set_position(done(counts));
            bar.set_message(status.to_string());
        }
        if is_terminal(status) {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            return Ok((doc, view));
        }
        std::thread::sleep(POLL_INTERVAL);
        match client.get(&batch_path(&id), &[]).and_then(|next| {
            let typed = read(&next)?;
            Ok((next, typed))
        }) {
            Ok((next, typed)) => {
                doc = next;
                view = typed;
                outage = None;
            }
            Err(error) if error.is_transport() => {
                let since = *outage.get_or_insert_with(Instant::now);
                if since.elapsed() > POLL_OUTAGE {
                    if let Some(bar) = &bar {
                        bar.abandon();
                    }
                    return Err(lost(error, &id));
                }
            }
            Err(error) => {
                if let Some(bar) = &bar {
                    bar.abandon();
                }
                return Err(lost(error, &id));
            }
        }
    }
}

fn lost(error: ApiError, id: &str) -> anyhow::Error {
    let message = format!(
        "lost track of batch {id} ({}); it may still be running: check it with `relay batch show {id}`",
        error.message
    );
    anyhow::Error::new(ApiError { message, ..error })
}

fn progress_bar(id: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(&format!(
        "{{spinner}} batch {id} {{msg}} [{{bar:30}}] {{pos}}/{{len}} keys"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Prints the final BatchView of an import (or resume) and returns its exit code:
/// 0 for `succeeded` and `partially_succeeded`, 1 otherwise. Whatever is printed is
/// scrubbed of the keys the client sent (host messages are quoted verbatim).
pub fn finish_import(
    doc: &Value,
    view: &BatchView,
    format: OutputFormat,
    client: &Client,
) -> anyhow::Result<ExitCode> {
    match format {
        OutputFormat::Json => println!("{}", client.scrub(&serde_json::to_string_pretty(doc)?)),
        OutputFormat::Table => print!("{}", client.scrub(&view_text(view))),
    }
    let batch = &view.batch;
    let id = s(&batch.id);
    let counts = &batch.counts;
    let table = format == OutputFormat::Table;
    match batch.status {
        BatchStatus::Succeeded => {
            if table {
                println!("\nimport succeeded (batch {id})");
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchStatus::PartiallySucceeded => {
            let good = counts.passed + counts.warning;
            let message = format!(
                "import partially succeeded (batch {id}): {} key(s) failed, {good} kept",
                counts.failed
            );
            if table {
                println!("\n{message}");
            } else {
                eprintln!("{message}");
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchStatus::Interrupted => {
            print_failure(
                "import_interrupted",
                &format!(
                    "batch {id} was interrupted (the server stopped while it ran); \
                     resume it with `relay batch resume {id} --keys-file FILE` or roll it back \
                     with `relay batch rollback {id}`"
                ),
            );
            Ok(ExitCode::FAILURE)
        }
        BatchStatus::RolledBack => {
            print_failure(
                "import_failed",
                &format!("batch {id} was rolled back: {}", error_text(batch)),
            );
            Ok(ExitCode::FAILURE)
        }
        other => {
            print_failure(
                "import_failed",
                &format!("batch {id} {other}: {}", error_text(batch)),
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The final report of a batch, when it has one.
fn import_report(batch: &BatchRecord) -> Option<&ImportReport> {
    match &batch.report {
        Some(BatchReport::Import(report)) => Some(report),
        _ => None,
    }
}

/// The error of a batch's stored report (final or not).
fn report_error(batch: &BatchRecord) -> Option<&str> {
    match &batch.report {
        Some(BatchReport::Import(report)) => report.error.as_deref(),
        Some(BatchReport::Progress(report)) => report.error.as_deref(),
        None => None,
    }
}

fn error_text(batch: &BatchRecord) -> String {
    match batch.error.as_deref().or_else(|| report_error(batch)) {
        Some(error) => error.to_owned(),
        None => {
            let failed = batch.counts.failed;
            if failed > 0 {
                format!("{failed} key(s) failed")
            } else {
                "see the report above".into()
            }
        }
    }
}

fn batches_table(batches: &[BatchRecord], host_names: &BTreeMap<String, String>) -> String {
    if batches.is_empty() {
        return "no batch\n".into();
    }
    let rows: Vec<Vec<String>> = batches
        .iter()
        .map(|b| {
            let counts = &b.counts;
            vec![
                s(&b.id),
                s(&b.provider_id),
                s(&b.pack_id),
                host_names
                    .get(&b.host_id)
                    .cloned()
                    .unwrap_or_else(|| s(&b.host_id)),
                b.status.to_string(),
                b.mode.to_string(),
                b.access_mode.to_string(),
                format!("{}/{}", counts.passed + counts.warning, counts.total),
                at(b.created_at),
            ]
        })
        .collect();
    render_table(
        &[
            "ID", "PROVIDER", "PACK", "HOST", "STATUS", "MODE", "ACCESS", "GOOD", "CREATED",
        ],
        &rows,
    )
}

/// A BatchView as text: summary, host objects, per-key results, access and gateway
/// proof, warnings.
pub fn view_text(view: &BatchView) -> String {
    let batch = &view.batch;
    let counts = &batch.counts;
    let mut out = render_fields(&[
        ("batch", s(&batch.id)),
        (
            "provider",
            format!("{} ({})", s(&batch.provider_id), s(&batch.pack_id)),
        ),
        ("host", s(&batch.host_id)),
        ("status", batch.status.to_string()),
        ("mode", batch.mode.to_string()),
        ("access_mode", batch.access_mode.to_string()),
        (
            "keys",
            format!(
                "{} total, {} passed, {} warning, {} failed, {} skipped",
                counts.total, counts.passed, counts.warning, counts.failed, counts.skipped
            ),
        ),
        ("created_at", at(batch.created_at)),
        ("finished_at", opt_at(batch.finished_at)),
    ]);
    if let Some(error) = &batch.error {
        out.push_str(&format!("error: {error}\n"));
    }

    out.push_str("\nhost objects:\n");
    out.push_str(&indent(&objects_table(view)));

    out.push_str("\nkeys:\n");
    out.push_str(&indent(&keys_table(view)));

    out.push_str(&format!("\naccess: {}\n", access_status(view)));
    let proofs = proofs(view);
    if !proofs.is_empty() {
        out.push_str("gateway proof:\n");
        out.push_str(&indent(&proof_table(&proofs)));
    }

    if !batch.request.balance_checks.is_empty() {
        out.push_str("\nbalance pre-flight:\n");
        out.push_str(&indent(&crate::models::balances_table(
            &batch.request.balance_checks,
        )));
    }
    if let Some(calls) = import_report(batch).and_then(|r| r.test_calls.as_ref()) {
        out.push_str(&format!(
            "\ntest calls: {}\n",
            crate::models::test_calls_text(calls)
        ));
    }

    let warnings = import_report(batch).map_or(&[][..], |r| &r.warnings[..]);
    if !warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for warning in warnings {
            out.push_str(&format!("  - {}\n", s(warning)));
        }
    }
    out
}

fn indent(block: &str) -> String {
    block.lines().map(|l| format!("  {l}\n")).collect()
}

/// The host objects of a batch: the journal's resources, else the report's.
fn objects_table(view: &BatchView) -> String {
    let rows: Vec<Vec<String>> = if !view.resources.is_empty() {
        view.resources
            .iter()
            .map(|r| {
                vec![
                    r.resource_type.to_string(),
                    opt(r.host_resource_id),
                    s(&r.logical_key),
                    r.state.to_string(),
                ]
            })
            .collect()
    } else {
        import_report(&view.batch)
            .map_or(&[][..], |r| &r.resources[..])
            .iter()
            .map(|r| {
                vec![
                    r.resource_type.to_string(),
                    r.host_id.to_string(),
                    s(&r.name),
                    match r.state {
                        Some(state) => state.to_string(),
                        None => r.change.to_string(),
                    },
                ]
            })
            .collect()
    };
    if rows.is_empty() {
        return "none\n".into();
    }
    render_table(&["TYPE", "ID", "NAME", "STATE"], &rows)
}

/// Per-key results: the batch items, else the report's keys.
fn keys_table(view: &BatchView) -> String {
    let rows: Vec<Vec<String>> = if !view.items.is_empty() {
        view.items
            .iter()
            .map(|i| {
                vec![
                    i.seq.to_string(),
                    s(&i.mask),
                    i.status.to_string(),
                    opt(i.verdict),
                    opt(i.account_id),
                    opt(i.message.as_deref()),
                ]
            })
            .collect()
    } else {
        import_report(&view.batch)
            .map_or(&[][..], |r| &r.keys[..])
            .iter()
            .map(|k| {
                vec![
                    k.line.to_string(),
                    s(&k.mask),
                    k.status.to_string(),
                    opt(k.verdict),
                    opt(k.account_id),
                    match &k.host_message {
                        Some(message) => s(message),
                        None => opt(k.reason),
                    },
                ]
            })
            .collect()
    };
    if rows.is_empty() {
        return "none\n".into();
    }
    render_table(
        &["#", "KEY", "STATUS", "VERDICT", "ACCOUNT", "MESSAGE"],
        &rows,
    )
}

fn access_status(view: &BatchView) -> String {
    if let Some(report) = import_report(&view.batch) {
        return report.access.status.to_string();
    }
    match view.closures.last() {
        Some(closure) => closure.access_status.to_string(),
        None => "-".into(),
    }
}

/// A gateway proof: a recorded access closure, or the proof of a report.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A closure record (`closures` of a batch or run, an access status).
    Closure(&'a AccessClosureRecord),
    /// The proof of an access report.
    Probe(&'a AccessProof),
}

/// The gateway proofs of a batch: its recorded access closures, else the report's
/// proofs.
fn proofs(view: &BatchView) -> Vec<Proof<'_>> {
    if !view.closures.is_empty() {
        return view.closures.iter().map(Proof::Closure).collect();
    }
    let Some(report) = import_report(&view.batch) else {
        return Vec::new();
    };
    let access = &report.access;
    let subscription = access
        .subscription_detail
        .as_ref()
        .and_then(|d| d.proof.as_ref());
    let self_service = access
        .self_service_detail
        .as_ref()
        .and_then(|d| d.proof.as_ref());
    subscription
        .into_iter()
        .chain(self_service)
        .map(Proof::Probe)
        .collect()
}

/// What a closure record's `details` says about the model list.
#[derive(Debug, Default, serde::Deserialize)]
struct ClosureDetails {
    models_listed: Option<u64>,
}

/// One table row per gateway proof, from either a closure record or a probe proof.
pub fn proof_table(proofs: &[Proof<'_>]) -> String {
    fn status(code: Option<i64>) -> String {
        opt(code)
    }
    let rows: Vec<Vec<String>> = proofs
        .iter()
        .map(|proof| {
            let (
                mode,
                key,
                models_status,
                listed,
                seen,
                completion_status,
                kind,
                preview,
                result,
                message,
            ) = match proof {
                Proof::Closure(c) => (
                    c.mode.to_string(),
                    opt(c.probe_key_mask.as_deref()),
                    c.models_status,
                    ClosureDetails::deserialize_from(&c.details).models_listed,
                    c.expected_model_seen,
                    c.completion_status,
                    c.completion_type.as_deref(),
                    c.completion_preview.as_deref(),
                    c.access_status.to_string(),
                    c.message.as_deref(),
                ),
                Proof::Probe(p) => (
                    p.mode.to_string(),
                    s(&p.key_mask),
                    p.models_status,
                    Some(p.models_listed),
                    p.smoke_model_seen,
                    p.completion_status,
                    p.completion_type.as_deref(),
                    p.completion_preview.as_deref(),
                    p.proof.wire().to_owned(),
                    p.message.as_deref(),
                ),
            };
            let models = match listed {
                Some(n) => format!("{} ({n} listed)", status(models_status)),
                None => status(models_status),
            };
            let completion = match kind {
                Some(kind) => format!("{} {kind}", status(completion_status)),
                None => status(completion_status),
            };
            let preview = match preview {
                Some(preview) => format!("{preview:?}"),
                None => "-".into(),
            };
            vec![
                mode,
                key,
                models,
                yes_no(seen),
                completion,
                preview,
                result,
                opt(message),
            ]
        })
        .collect();
    render_table(
        &[
            "MODE",
            "KEY",
            "MODELS",
            "SMOKE_MODEL_SEEN",
            "COMPLETION",
            "PREVIEW",
            "RESULT",
            "MESSAGE",
        ],
        &rows,
    )
}

impl ClosureDetails {
    fn deserialize_from(details: &Value) -> ClosureDetails {
        serde::Deserialize::deserialize(details).unwrap_or_default()
    }
}

/// The rollback report of a rollback answer: deleted, kept and remaining objects.
fn rollback_text(view: &BatchView) -> String {
    let report = view
        .rollback
        .as_ref()
        .or_else(|| import_report(&view.batch).and_then(|r| r.rollback.as_ref()));
    match report {
        Some(report) => format!("\nrollback:\n{}", rollback_report_text(report)),
        None => String::new(),
    }
}

/// A rollback report (`deleted`, `kept`, `remaining`, `complete`) as indented tables.
pub fn rollback_report_text(report: &RollbackReport) -> String {
    let mut out = String::new();
    let deleted: Vec<Vec<String>> = report
        .deleted
        .iter()
        .map(|r| {
            vec![
                r.resource_type.to_string(),
                r.host_id.to_string(),
                s(&r.name),
                yes_no(r.already_gone),
            ]
        })
        .collect();
    let kept: Vec<Vec<String>> = report
        .kept
        .iter()
        .map(|r| {
            vec![
                r.resource_type.to_string(),
                r.host_id.to_string(),
                s(&r.name),
                s(&r.reason),
            ]
        })
        .collect();
    let remaining: Vec<Vec<String>> = report
        .remaining
        .iter()
        .map(|r| {
            vec![
                r.resource_type.to_string(),
                r.host_id.to_string(),
                s(&r.name),
                s(&r.error),
            ]
        })
        .collect();
    for (field, header, rows) in [
        ("deleted", "ALREADY_GONE", deleted),
        ("kept", "REASON", kept),
        ("remaining", "ERROR", remaining),
    ] {
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("  {field}:\n"));
        for line in render_table(&["TYPE", "ID", "NAME", header], &rows).lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out.push_str(&format!("  complete: {}\n", yes_no(report.complete)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{closure, typed};

    fn view(status: &str) -> BatchView {
        typed(json!({
            "batch": {
                "id": "bat_1", "host_id": "host_1", "pack_id": "openai-cn-pack",
                "provider_id": "deepseek", "mode": "strict", "access_mode": "subscription",
                "status": status, "error": null,
                "request": {"probe_key": null, "validity_days": null},
                "counts": {"total": 2, "passed": 1, "warning": 1, "failed": 0, "skipped": 0},
                "report": {
                    "batch_id": "bat_1", "pack_id": "openai-cn-pack", "provider_id": "deepseek",
                    "mode": "strict", "access_mode": "subscription", "outcome": status,
                    "provider_event": "healthy", "preview": null, "resolved_intents": [],
                    "resources": [], "keys": [],
                    "counts": {"total": 2, "passed": 1, "warning": 1, "failed": 0, "skipped": 0,
                               "rolled_back": 0},
                    "retired": [],
                    "access": {"group_id": 3, "status": "subscription_ready", "subscription": "ready",
                               "self_service": "not_attempted", "subscription_detail": null,
                               "self_service_detail": null},
                    "rollback": null, "warnings": ["plan API missing"], "error": null,
                    "phase": "import"
                },
                "created_at": 0, "updated_at": 1000, "started_at": 0, "finished_at": 1000,
                "interrupted_at": null
            },
            "items": [
                {"batch_id": "bat_1", "seq": 1, "fingerprint": "aa", "mask": "sk-d…aaaa",
                 "plan": "new", "status": "passed", "verdict": "passed", "account_id": 7,
                 "message": null, "details": {}, "updated_at": 0},
                {"batch_id": "bat_1", "seq": 2, "fingerprint": "bb", "mask": "sk-d…bbbb",
                 "plan": "new", "status": "warning", "verdict": "warning", "account_id": 8,
                 "message": "API returned 403: Forbidden", "details": {}, "updated_at": 0}
            ],
            "resources": [
                {"id": 1, "host_id": "host_1", "pack_id": "openai-cn-pack", "provider_id": "deepseek",
                 "batch_id": "bat_1", "resource_type": "group", "host_resource_id": 3,
                 "logical_key": "crm-openai-cn-pack-deepseek-sub", "state": "created",
                 "fingerprint": null, "details": {}, "created_at": 0, "updated_at": 0}
            ],
            "probes": [],
            "closures": [closure(json!({
                "completion_type": "chat.completion", "details": {"models_listed": 2}
            }))],
            "reconcile_runs": []
        }))
    }

    #[test]
    fn a_batch_view_shows_objects_keys_and_proof() {
        let out = view_text(&view("succeeded"));
        assert!(out.contains("status:      succeeded\n"), "{out}");
        assert!(out.contains("keys:        2 total, 1 passed, 1 warning, 0 failed, 0 skipped\n"));
        assert!(
            out.contains("group  3   crm-openai-cn-pack-deepseek-sub  created"),
            "{out}"
        );
        assert!(
            out.contains("2  sk-d…bbbb  warning  warning  8        API returned 403: Forbidden"),
            "{out}"
        );
        assert!(out.contains("access: subscription_ready\n"));
        let proof: Vec<&str> = out
            .lines()
            .find(|l| l.trim_start().starts_with("subscription "))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            proof,
            [
                "subscription",
                "sk-u…1234",
                "200",
                "(2",
                "listed)",
                "yes",
                "200",
                "chat.completion",
                "\"pong\"",
                "subscription_ready",
                "-"
            ],
            "{out}"
        );
        assert!(out.contains("warnings:\n  - plan API missing\n"));
    }

    #[test]
    fn progress_counts_every_finished_item() {
        let counts: BatchCounts =
            typed(json!({"total": 9, "passed": 2, "warning": 1, "failed": 3, "skipped": 1}));
        assert_eq!(done(&counts), 7);
        assert!(is_terminal(BatchStatus::PartiallySucceeded));
        assert!(is_terminal(BatchStatus::Interrupted));
        assert!(!is_terminal(BatchStatus::RollbackRunning));
    }

    #[test]
    fn the_status_filter_takes_the_batch_statuses_only() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(subcommand)]
            command: BatchCommand,
        }
        match Cli::try_parse_from(["relay", "list", "--status", "rolled_back"]) {
            Ok(Cli {
                command: BatchCommand::List { status, .. },
            }) => assert_eq!(status, Some(BatchStatus::RolledBack)),
            other => panic!("{other:?}"),
        }
        let refused = Cli::try_parse_from(["relay", "list", "--status", "done"])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("partially_succeeded"), "{refused}");
    }
}
