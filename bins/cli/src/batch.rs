//! `relay batch list|show|rollback|resume`, and what imports share with them: waiting
//! for a batch with a progress bar, rendering a BatchView, the exit code of an outcome.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use crate::client::{segment, ApiError, Client};
use crate::output::{
    items, print_failure, print_json, render_fields, render_table, text, time, OutputFormat,
};
use crate::status::host_names;
use crate::{input, Ctx};

/// Batch statuses, for `--status`.
const STATUSES: [&str; 9] = [
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

/// Statuses after which a batch no longer changes by itself.
const TERMINAL: [&str; 5] = [
    "succeeded",
    "partially_succeeded",
    "failed",
    "rolled_back",
    "interrupted",
];

/// How often a running batch is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(300);
/// How long polling tolerates an unreachable server (e.g. while it restarts).
const POLL_OUTAGE: Duration = Duration::from_secs(30);

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
        #[arg(long, value_name = "STATUS", value_parser = STATUSES)]
        status: Option<String>,
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
                    ("status", status.as_deref()),
                    ("limit", limit.as_deref()),
                ],
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    let names = host_names(&client)?;
                    print!("{}", batches_table(items(&doc, "batches"), &names));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchCommand::Show { id } => {
            let view = client.get(&batch_path(&id), &[])?;
            match ctx.format {
                OutputFormat::Json => print_json(&view)?,
                OutputFormat::Table => print!("{}", view_text(&view)),
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchCommand::Rollback { id } => {
            let view = client.post(&format!("{}/rollback", batch_path(&id)), &json!({}))?;
            let view = wait(&client, view)?;
            match ctx.format {
                OutputFormat::Json => print_json(&view)?,
                OutputFormat::Table => {
                    print!("{}", view_text(&view));
                    print!("{}", rollback_text(&view));
                }
            }
            let status = batch_status(&view);
            if status == "rolled_back" {
                if ctx.format == OutputFormat::Table {
                    println!("\nrolled back batch {id}");
                }
                Ok(ExitCode::SUCCESS)
            } else {
                print_failure(
                    "rollback_failed",
                    &format!(
                        "rollback of batch {id} ended {status}: {}; see the remaining objects above",
                        error_text(&view)
                    ),
                );
                Ok(ExitCode::FAILURE)
            }
        }
        BatchCommand::Resume { id, keys_file } => {
            let mut body = json!({});
            if let Some(file) = &keys_file {
                let list = input::read_keys(file, "--keys-file")?;
                for key in &list.keys {
                    client.redact(key);
                }
                body["keys"] = json!(list.keys);
            }
            let view = client.post(&format!("{}/resume", batch_path(&id)), &body)?;
            let view = wait(&client, view)?;
            finish_import(&view, ctx.format, &client)
        }
    }
}

fn batch_path(id: &str) -> String {
    format!("/api/import-batches/{}", segment(id))
}

/// The status of a BatchView.
pub fn batch_status(view: &Value) -> String {
    view["batch"]["status"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned()
}

fn is_terminal(status: &str) -> bool {
    TERMINAL.contains(&status)
}

fn count(counts: &Value, field: &str) -> u64 {
    counts[field].as_u64().unwrap_or(0)
}

/// Items done of a batch: passed + warning + failed + skipped.
fn done(counts: &Value) -> u64 {
    ["passed", "warning", "failed", "skipped"]
        .iter()
        .map(|f| count(counts, f))
        .sum()
}

/// Polls a batch until it reaches a terminal status, with a progress bar on stderr when
/// stderr is a terminal. Returns the final BatchView.
pub fn wait(client: &Client, mut view: Value) -> anyhow::Result<Value> {
    let id = view["batch"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the server's answer has no batch id"))?
        .to_owned();
    let bar = std::io::stderr().is_terminal().then(|| progress_bar(&id));
    let mut outage: Option<Instant> = None;
    loop {
        let status = batch_status(&view);
        if let Some(bar) = &bar {
            let counts = &view["batch"]["counts"];
            bar.set_length(count(counts, "total"));
            bar.set_position(done(counts));
            bar.set_message(status.clone());
        }
        if is_terminal(&status) {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            return Ok(view);
        }
        std::thread::sleep(POLL_INTERVAL);
        match client.get(&batch_path(&id), &[]) {
            Ok(next) => {
                view = next;
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
    view: &Value,
    format: OutputFormat,
    client: &Client,
) -> anyhow::Result<ExitCode> {
    match format {
        OutputFormat::Json => println!("{}", client.scrub(&serde_json::to_string_pretty(view)?)),
        OutputFormat::Table => print!("{}", client.scrub(&view_text(view))),
    }
    let batch = &view["batch"];
    let id = text(&batch["id"]);
    let counts = &batch["counts"];
    let status = batch_status(view);
    let table = format == OutputFormat::Table;
    match status.as_str() {
        "succeeded" => {
            if table {
                println!("\nimport succeeded (batch {id})");
            }
            Ok(ExitCode::SUCCESS)
        }
        "partially_succeeded" => {
            let good = count(counts, "passed") + count(counts, "warning");
            let message = format!(
                "import partially succeeded (batch {id}): {} key(s) failed, {good} kept",
                count(counts, "failed")
            );
            if table {
                println!("\n{message}");
            } else {
                eprintln!("{message}");
            }
            Ok(ExitCode::SUCCESS)
        }
        "interrupted" => {
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
        "rolled_back" => {
            print_failure(
                "import_failed",
                &format!("batch {id} was rolled back: {}", error_text(view)),
            );
            Ok(ExitCode::FAILURE)
        }
        other => {
            print_failure(
                "import_failed",
                &format!("batch {id} {other}: {}", error_text(view)),
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn error_text(view: &Value) -> String {
    let batch = &view["batch"];
    let error = batch["error"]
        .as_str()
        .or_else(|| batch["report"]["error"].as_str());
    match error {
        Some(error) => error.to_owned(),
        None => {
            let failed = count(&batch["counts"], "failed");
            if failed > 0 {
                format!("{failed} key(s) failed")
            } else {
                "see the report above".into()
            }
        }
    }
}

fn batches_table(batches: &[Value], host_names: &BTreeMap<String, String>) -> String {
    if batches.is_empty() {
        return "no batch\n".into();
    }
    let rows: Vec<Vec<String>> = batches
        .iter()
        .map(|b| {
            let counts = &b["counts"];
            vec![
                text(&b["id"]),
                text(&b["provider_id"]),
                text(&b["pack_id"]),
                host_names
                    .get(&text(&b["host_id"]))
                    .cloned()
                    .unwrap_or_else(|| text(&b["host_id"])),
                text(&b["status"]),
                text(&b["mode"]),
                text(&b["access_mode"]),
                format!(
                    "{}/{}",
                    count(counts, "passed") + count(counts, "warning"),
                    count(counts, "total")
                ),
                time(&b["created_at"]),
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
pub fn view_text(view: &Value) -> String {
    let batch = &view["batch"];
    let report = &batch["report"];
    let counts = &batch["counts"];
    let mut out = render_fields(&[
        ("batch", text(&batch["id"])),
        (
            "provider",
            format!(
                "{} ({})",
                text(&batch["provider_id"]),
                text(&batch["pack_id"])
            ),
        ),
        ("host", text(&batch["host_id"])),
        ("status", text(&batch["status"])),
        ("mode", text(&batch["mode"])),
        ("access_mode", text(&batch["access_mode"])),
        (
            "keys",
            format!(
                "{} total, {} passed, {} warning, {} failed, {} skipped",
                count(counts, "total"),
                count(counts, "passed"),
                count(counts, "warning"),
                count(counts, "failed"),
                count(counts, "skipped")
            ),
        ),
        ("created_at", time(&batch["created_at"])),
        ("finished_at", time(&batch["finished_at"])),
    ]);
    if let Some(error) = batch["error"].as_str() {
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

    let warnings = items(report, "warnings");
    if !warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for warning in warnings {
            out.push_str(&format!("  - {}\n", text(warning)));
        }
    }
    out
}

fn indent(block: &str) -> String {
    block.lines().map(|l| format!("  {l}\n")).collect()
}

/// The host objects of a batch: the journal's resources, else the report's.
fn objects_table(view: &Value) -> String {
    let recorded = items(view, "resources");
    let rows: Vec<Vec<String>> = if !recorded.is_empty() {
        recorded
            .iter()
            .map(|r| {
                vec![
                    text(&r["resource_type"]),
                    text(&r["host_resource_id"]),
                    text(&r["logical_key"]),
                    text(&r["state"]),
                ]
            })
            .collect()
    } else {
        items(&view["batch"]["report"], "resources")
            .iter()
            .map(|r| {
                vec![
                    text(&r["resource_type"]),
                    text(&r["host_id"]),
                    text(&r["name"]),
                    text(if r["state"].is_null() {
                        &r["change"]
                    } else {
                        &r["state"]
                    }),
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
fn keys_table(view: &Value) -> String {
    let recorded = items(view, "items");
    let rows: Vec<Vec<String>> = if !recorded.is_empty() {
        recorded
            .iter()
            .map(|i| {
                vec![
                    text(&i["seq"]),
                    text(&i["mask"]),
                    text(&i["status"]),
                    text(&i["verdict"]),
                    text(&i["account_id"]),
                    text(&i["message"]),
                ]
            })
            .collect()
    } else {
        items(&view["batch"]["report"], "keys")
            .iter()
            .map(|k| {
                vec![
                    text(&k["line"]),
                    text(&k["mask"]),
                    text(&k["status"]),
                    text(&k["verdict"]),
                    text(&k["account_id"]),
                    text(if k["host_message"].is_null() {
                        &k["reason"]
                    } else {
                        &k["host_message"]
                    }),
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

fn access_status(view: &Value) -> String {
    let report = &view["batch"]["report"];
    if let Some(status) = report["access"]["status"].as_str() {
        return status.to_owned();
    }
    if let Some(status) = items(view, "closures")
        .last()
        .and_then(|c| c["access_status"].as_str())
    {
        return status.to_owned();
    }
    "-".into()
}

/// The gateway proofs of a batch: its recorded access closures, else the report's
/// proofs.
fn proofs(view: &Value) -> Vec<Value> {
    let closures = items(view, "closures");
    if !closures.is_empty() {
        return closures.to_vec();
    }
    let access = &view["batch"]["report"]["access"];
    ["subscription_detail", "self_service_detail"]
        .iter()
        .filter_map(|d| {
            let proof = &access[*d]["proof"];
            proof.is_object().then(|| proof.clone())
        })
        .collect()
}

/// One table row per gateway proof, from either a closure record or a probe proof.
pub fn proof_table(proofs: &[Value]) -> String {
    let rows: Vec<Vec<String>> = proofs
        .iter()
        .map(|p| {
            let key = first(p, &["probe_key_mask", "key_mask"]);
            let listed = p["models_listed"]
                .as_u64()
                .or_else(|| p["details"]["models_listed"].as_u64());
            let models = match listed {
                Some(n) => format!("{} ({n} listed)", text(&p["models_status"])),
                None => text(&p["models_status"]),
            };
            let seen = first(p, &["expected_model_seen", "smoke_model_seen"]);
            let completion = match p["completion_type"].as_str() {
                Some(kind) => format!("{} {kind}", text(&p["completion_status"])),
                None => text(&p["completion_status"]),
            };
            let preview = match p["completion_preview"].as_str() {
                Some(preview) => format!("{preview:?}"),
                None => "-".into(),
            };
            vec![
                text(&p["mode"]),
                text(&key),
                models,
                text(&seen),
                completion,
                preview,
                text(&first(p, &["access_status", "verdict", "proof"])),
                text(&p["message"]),
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

fn first(value: &Value, fields: &[&str]) -> Value {
    fields
        .iter()
        .map(|f| &value[*f])
        .find(|v| !v.is_null())
        .cloned()
        .unwrap_or(Value::Null)
}

/// The rollback report of a rollback answer: deleted, kept and remaining objects.
fn rollback_text(view: &Value) -> String {
    let report = if view["rollback"].is_object() {
        &view["rollback"]
    } else {
        &view["batch"]["report"]["rollback"]
    };
    if !report.is_object() {
        return String::new();
    }
    format!("\nrollback:\n{}", rollback_report_text(report))
}

/// A rollback report (`deleted`, `kept`, `remaining`, `complete`) as indented tables.
pub fn rollback_report_text(report: &Value) -> String {
    let mut out = String::new();
    let sections: [(&str, &str, &str); 3] = [
        ("deleted", "already_gone", "ALREADY_GONE"),
        ("kept", "reason", "REASON"),
        ("remaining", "error", "ERROR"),
    ];
    for (field, extra, header) in sections {
        let list = items(report, field);
        if list.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|r| {
                vec![
                    text(&r["resource_type"]),
                    text(&r["host_id"]),
                    text(&r["name"]),
                    text(&r[extra]),
                ]
            })
            .collect();
        out.push_str(&format!("  {field}:\n"));
        for line in render_table(&["TYPE", "ID", "NAME", header], &rows).lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    if let Some(complete) = report["complete"].as_bool() {
        out.push_str(&format!(
            "  complete: {}\n",
            if complete { "yes" } else { "no" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: &str) -> Value {
        json!({
            "batch": {
                "id": "bat_1", "host_id": "host_1", "pack_id": "openai-cn-pack",
                "provider_id": "deepseek", "mode": "strict", "access_mode": "subscription",
                "status": status, "error": null,
                "counts": {"total": 2, "passed": 1, "warning": 1, "failed": 0, "skipped": 0},
                "report": {"access": {"status": "subscription_ready"}, "warnings": ["plan API missing"]},
                "created_at": 0, "finished_at": 1000
            },
            "items": [
                {"seq": 1, "mask": "sk-d…aaaa", "status": "passed", "verdict": "passed", "account_id": 7, "message": null},
                {"seq": 2, "mask": "sk-d…bbbb", "status": "warning", "verdict": "warning", "account_id": 8, "message": "API returned 403: Forbidden"}
            ],
            "resources": [
                {"resource_type": "group", "host_resource_id": 3, "logical_key": "crm-openai-cn-pack-deepseek-sub", "state": "created"}
            ],
            "probes": [],
            "closures": [
                {"mode": "subscription", "probe_key_mask": "sk-u…1234", "models_status": 200,
                 "expected_model_seen": true, "completion_status": 200, "completion_type": "chat.completion",
                 "completion_preview": "pong", "access_status": "subscription_ready", "message": null,
                 "details": {"models_listed": 2}}
            ],
            "reconcile_runs": []
        })
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
        let counts = json!({"total": 9, "passed": 2, "warning": 1, "failed": 3, "skipped": 1});
        assert_eq!(done(&counts), 7);
        assert!(is_terminal("partially_succeeded"));
        assert!(!is_terminal("rollback_running"));
    }
}
