//! `relay reconcile <PROVIDER> --host H [--pack P] [--repair] [--batch ID]`,
//! `relay reconcile runs [--host H] [--provider P] [--pack P] [--limit N]` and
//! `relay reconcile show <RUN>`.
//!
//! A reconcile compares what the manager recorded with the host, re-tests the accounts,
//! re-runs one access probe and (with `--repair`) applies the safe fixes. The command
//! exits 0 only when the verdict is `active`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::segment;
use crate::input::usage;
use crate::output::{
    items, print_failure, print_json, render_fields, render_table, text, time, OutputFormat,
};
use crate::status::host_names;
use crate::Ctx;

/// Arguments of `relay reconcile`: a run of one provider, or a subcommand.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit codes: 0 when the verdict is `active`; 1 when it is `degraded`, \
                  `drifted` or `failed` (stderr says why) or the run could not finish."
)]
pub struct ReconcileArgs {
    #[command(subcommand)]
    command: Option<ReconcileCommand>,
    /// Provider id (e.g. deepseek).
    #[arg(required = true)]
    provider: Option<String>,
    /// Host id or name.
    #[arg(long, value_name = "HOST", required = true)]
    host: Option<String>,
    /// Pack of the provider (needed when several packs have it).
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
    /// Apply the safe fixes (re-bind accounts, restore the channel) and record them.
    #[arg(long)]
    repair: bool,
    /// Scope the run to one import batch of the provider.
    #[arg(long = "batch", value_name = "ID")]
    batch_id: Option<String>,
}

/// Reconcile subcommands.
#[derive(Debug, Subcommand)]
enum ReconcileCommand {
    /// List reconcile runs, newest first.
    Runs {
        /// Only runs on this host (id or name).
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Only runs of this provider.
        #[arg(long, value_name = "PROVIDER")]
        provider: Option<String>,
        /// Only runs of this pack.
        #[arg(long, value_name = "PACK")]
        pack: Option<String>,
        /// At most this many runs.
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Show a reconcile run: verdict, differences, repairs, accounts.
    Show {
        /// Run id (`rec_…`).
        run: String,
    },
}

/// Runs `relay reconcile`.
pub fn run(args: ReconcileArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match args.command {
        Some(ReconcileCommand::Runs {
            host,
            provider,
            pack,
            limit,
        }) => {
            let limit = limit.map(|n| n.to_string());
            let doc = client.get(
                "/api/reconcile-runs",
                &[
                    ("host_id", host.as_deref()),
                    ("provider_id", provider.as_deref()),
                    ("pack_id", pack.as_deref()),
                    ("limit", limit.as_deref()),
                ],
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    let names = host_names(&client)?;
                    print!("{}", runs_table(items(&doc, "runs"), &names));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(ReconcileCommand::Show { run }) => {
            let doc = client.get(&format!("/api/reconcile-runs/{}", segment(&run)), &[])?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    let names = host_names(&client)?;
                    let host = text(&doc["host_id"]);
                    let host = names.get(&host).cloned().unwrap_or(host);
                    print!("{}", run_text(&doc, &host));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let (Some(provider), Some(host)) = (args.provider, args.host) else {
                return Err(usage(
                    "relay reconcile needs PROVIDER and --host HOST (or a subcommand: runs, show)",
                ));
            };
            let mut body = json!({ "host_id": host });
            if let Some(pack) = &args.pack {
                body["pack_id"] = json!(pack);
            }
            if args.repair {
                body["repair"] = json!(true);
            }
            if let Some(batch) = &args.batch_id {
                body["batch_id"] = json!(batch);
            }
            let doc = client.post(
                &format!("/api/providers/{}/reconcile", segment(&provider)),
                &body,
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => print!("{}", run_text(&doc, &host)),
            }
            Ok(verdict_exit(&doc, &provider, &host, ctx.format))
        }
    }
}

/// Exit 0 for an `active` verdict; otherwise says why on stderr and exits 1.
fn verdict_exit(run: &Value, provider: &str, host: &str, format: OutputFormat) -> ExitCode {
    match run["verdict"].as_str() {
        Some("active") => {
            if format == OutputFormat::Table {
                println!("\n{provider} is active on {host}");
            }
            ExitCode::SUCCESS
        }
        Some(verdict) => {
            print_failure(
                "not_active",
                &format!("{provider} on {host} is {verdict}: {}", why(run)),
            );
            ExitCode::FAILURE
        }
        None => {
            let error = run["error"].as_str().unwrap_or("no verdict was reached");
            print_failure(
                "reconcile_failed",
                &format!(
                    "the reconcile run of {provider} on {host} ended {}: {error}",
                    text(&run["status"])
                ),
            );
            ExitCode::FAILURE
        }
    }
}

/// Why a verdict is not `active`: the remaining differences, else the failed
/// accounts and the access status, else the run's notes.
fn why(run: &Value) -> String {
    let remaining: Vec<String> = items(run, "differences")
        .iter()
        .filter(|d| d["repaired"].as_bool() != Some(true))
        .map(|d| text(&d["detail"]))
        .collect();
    if !remaining.is_empty() {
        return format!(
            "{} difference(s) between the record and the host remain: {}",
            remaining.len(),
            remaining.join("; ")
        );
    }
    let report = &run["report"];
    let mut reasons = Vec::new();
    let failed: Vec<String> = items(report, "accounts")
        .iter()
        .filter(|a| a["outcome"] == "failed")
        .map(|a| match a["message"].as_str() {
            Some(message) => format!(
                "account {} ({}) failed: {message}",
                text(&a["account_id"]),
                text(&a["name"])
            ),
            None => format!(
                "account {} ({}) failed",
                text(&a["account_id"]),
                text(&a["name"])
            ),
        })
        .collect();
    reasons.extend(failed);
    if run["access_status"] == "broken" {
        let message = report["access"]["message"].as_str().unwrap_or("");
        reasons.push(format!("access is broken {message}").trim_end().to_owned());
    }
    if reasons.is_empty() {
        reasons.extend(items(report, "notes").iter().map(text));
    }
    if reasons.is_empty() {
        "see the report above".into()
    } else {
        reasons.join("; ")
    }
}

/// A reconcile run record as text: verdict, access, counts, differences (each with
/// its detail and fix), repairs, failed accounts and notes.
pub fn run_text(run: &Value, host: &str) -> String {
    let report = &run["report"];
    let counts = &report["counts"];
    let differences = items(run, "differences");
    let remaining = differences
        .iter()
        .filter(|d| d["repaired"].as_bool() != Some(true))
        .count();
    let mut fields = vec![
        ("run", text(&run["id"])),
        (
            "provider",
            format!(
                "{} ({}) on {host}",
                text(&run["provider_id"]),
                text(&run["pack_id"])
            ),
        ),
        ("trigger", text(&run["trigger"])),
        ("status", text(&run["status"])),
        ("verdict", text(&run["verdict"])),
        ("access", text(&run["access_status"])),
    ];
    if !run["batch_id"].is_null() {
        fields.push(("batch", text(&run["batch_id"])));
    }
    if counts.is_object() {
        fields.push((
            "accounts",
            format!(
                "{} passed, {} warning, {} failed, {} not tested",
                number(counts, "accounts_passed"),
                number(counts, "accounts_warning"),
                number(counts, "accounts_failed"),
                number(counts, "accounts_not_tested")
            ),
        ));
    }
    fields.push((
        "differences",
        format!("{} ({remaining} remaining)", differences.len()),
    ));
    fields.push(("repairs", items(run, "repairs").len().to_string()));
    fields.push(("started_at", time(&run["started_at"])));
    fields.push(("finished_at", time(&run["finished_at"])));
    let mut out = render_fields(&fields);
    if let Some(error) = run["error"].as_str() {
        out.push_str(&format!("error: {error}\n"));
    }

    if !differences.is_empty() {
        out.push_str("\ndifferences:\n");
        out.push_str(&differences_text(differences));
    }

    let repairs = items(run, "repairs");
    if !repairs.is_empty() {
        out.push_str("\nrepairs:\n");
        out.push_str(&indent(&repairs_table(repairs)));
    }

    let troubled: Vec<Vec<String>> = items(report, "accounts")
        .iter()
        .filter(|a| a["outcome"] != "passed")
        .map(|a| {
            vec![
                text(&a["account_id"]),
                text(&a["name"]),
                text(&a["outcome"]),
                text(&a["http_status"]),
                text(&a["message"]),
            ]
        })
        .collect();
    if !troubled.is_empty() {
        out.push_str("\naccounts not passing:\n");
        out.push_str(&indent(&render_table(
            &["ID", "NAME", "OUTCOME", "HTTP", "MESSAGE"],
            &troubled,
        )));
    }

    let access = &report["access"];
    if access.is_object() {
        out.push_str(&format!(
            "\naccess probe: key {}, models {}, smoke model seen {}, completion {}{}\n",
            text(&access["key_mask"]),
            text(&access["models_status"]),
            text(&access["smoke_model_seen"]),
            text(&access["completion_status"]),
            match access["message"].as_str() {
                Some(message) => format!(" ({message})"),
                None => String::new(),
            }
        ));
    }

    let notes = items(report, "notes");
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        for note in notes {
            out.push_str(&format!("  - {}\n", text(note)));
        }
    }
    out
}

/// One block per difference: kind, type, host id and name, then the detail and the fix.
pub fn differences_text(differences: &[Value]) -> String {
    let mut out = String::new();
    for d in differences {
        let repaired = if d["repaired"].as_bool() == Some(true) {
            " [repaired]"
        } else if d["safe_fix"].as_bool() == Some(true) {
            " [safe fix: --repair]"
        } else {
            ""
        };
        out.push_str(&format!(
            "  - {} {} {} {}{repaired}\n",
            text(&d["kind"]),
            text(&d["resource_type"]),
            text(&d["host_id"]),
            text(&d["name"])
        ));
        out.push_str(&format!("    {}\n", text(&d["detail"])));
        if let Some(field) = d["field"].as_str() {
            out.push_str(&format!(
                "    {field}: expected {}, host has {}\n",
                compact(&d["expected"]),
                compact(&d["actual"])
            ));
        }
        out.push_str(&format!("    fix: {}\n", text(&d["fix"])));
    }
    out
}

/// Repairs as a table: kind, type, id, name, result, detail.
pub fn repairs_table(repairs: &[Value]) -> String {
    let rows: Vec<Vec<String>> = repairs
        .iter()
        .map(|r| {
            let result = if r["ok"].as_bool() == Some(true) {
                "ok".to_owned()
            } else {
                format!("failed: {}", text(&r["error"]))
            };
            vec![
                text(&r["kind"]),
                text(&r["resource_type"]),
                text(&r["host_id"]),
                text(&r["name"]),
                result,
                text(&r["detail"]),
            ]
        })
        .collect();
    render_table(&["KIND", "TYPE", "ID", "NAME", "RESULT", "DETAIL"], &rows)
}

fn runs_table(runs: &[Value], host_names: &BTreeMap<String, String>) -> String {
    if runs.is_empty() {
        return "no reconcile run\n".into();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let differences = items(r, "differences");
            let remaining = differences
                .iter()
                .filter(|d| d["repaired"].as_bool() != Some(true))
                .count();
            vec![
                text(&r["id"]),
                text(&r["provider_id"]),
                text(&r["pack_id"]),
                host_names
                    .get(&text(&r["host_id"]))
                    .cloned()
                    .unwrap_or_else(|| text(&r["host_id"])),
                text(&r["trigger"]),
                text(&r["status"]),
                text(&r["verdict"]),
                text(&r["access_status"]),
                format!("{remaining}/{}", differences.len()),
                items(r, "repairs").len().to_string(),
                time(&r["started_at"]),
            ]
        })
        .collect();
    render_table(
        &[
            "ID", "PROVIDER", "PACK", "HOST", "TRIGGER", "STATUS", "VERDICT", "ACCESS", "DIFFS",
            "REPAIRS", "STARTED",
        ],
        &rows,
    )
}

fn number(counts: &Value, field: &str) -> u64 {
    counts[field].as_u64().unwrap_or(0)
}

fn compact(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Indents every line of a block by two spaces.
pub fn indent(block: &str) -> String {
    block.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drifted() -> Value {
        json!({
            "id": "rec_1", "host_id": "host_1", "pack_id": "openai-cn-pack", "provider_id": "deepseek",
            "batch_id": null, "trigger": "manual", "status": "completed", "verdict": "drifted",
            "access_status": "subscription_ready",
            "differences": [
                {"kind": "missing", "resource_type": "account", "host_id": 2, "name": "deepseek-61466140",
                 "field": null, "expected": null, "actual": null,
                 "detail": "account 2 (deepseek-61466140) was deleted on the host",
                 "fix": "re-import its key (`relay import`)", "safe_fix": false, "repaired": false},
                {"kind": "changed", "resource_type": "account", "host_id": 1, "name": "deepseek-84e6ad7d",
                 "field": "group_ids", "expected": [1], "actual": [],
                 "detail": "account 1 (deepseek-84e6ad7d) is not in group 1",
                 "fix": "bind it again", "safe_fix": true, "repaired": true}
            ],
            "repairs": [
                {"kind": "account_rebound", "resource_type": "account", "host_id": 1, "name": "deepseek-84e6ad7d",
                 "detail": "account 1 (deepseek-84e6ad7d) bound to group 1 again", "ok": true, "error": null}
            ],
            "error": null, "started_at": 0, "finished_at": 1000,
            "report": {
                "counts": {"accounts_passed": 1, "accounts_warning": 0, "accounts_failed": 0, "accounts_not_tested": 1},
                "accounts": [
                    {"account_id": 2, "name": "deepseek-61466140", "outcome": "not_tested", "http_status": null,
                     "message": "deleted on the host"}
                ],
                "notes": ["drifted: 1 difference(s) between the record and the host remain"]
            }
        })
    }

    #[test]
    fn a_run_shows_differences_with_their_fix_and_repairs() {
        let out = run_text(&drifted(), "main");
        assert!(out.contains("verdict:     drifted\n"), "{out}");
        assert!(out.contains("differences: 2 (1 remaining)\n"), "{out}");
        assert!(
            out.contains(
                "  - missing account 2 deepseek-61466140\n    account 2 (deepseek-61466140) was deleted on the host\n    fix: re-import its key (`relay import`)\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("  - changed account 1 deepseek-84e6ad7d [repaired]\n"),
            "{out}"
        );
        assert!(
            out.contains("    group_ids: expected [1], host has []\n"),
            "{out}"
        );
        assert!(
            out.contains("account_rebound  account  1   deepseek-84e6ad7d  ok"),
            "{out}"
        );
        assert!(out.contains("2   deepseek-61466140  not_tested"), "{out}");
        assert!(out.contains("notes:\n  - drifted: "), "{out}");
    }

    #[test]
    fn why_names_the_remaining_differences_then_the_accounts() {
        assert_eq!(
            why(&drifted()),
            "1 difference(s) between the record and the host remain: account 2 (deepseek-61466140) was deleted on the host"
        );
        let degraded = json!({
            "verdict": "degraded", "access_status": "broken", "differences": [],
            "report": {"accounts": [{"account_id": 3, "name": "a", "outcome": "failed", "message": "API returned 401"}],
                       "access": {"message": "chat HTTP 503"}, "notes": ["x"]}
        });
        assert_eq!(
            why(&degraded),
            "account 3 (a) failed: API returned 401; access is broken chat HTTP 503"
        );
        let other =
            json!({"verdict": "failed", "differences": [], "report": {"notes": ["no account"]}});
        assert_eq!(why(&other), "no account");
    }

    #[test]
    fn runs_are_listed_with_host_names() {
        let runs = json!([drifted()]);
        let names = BTreeMap::from([("host_1".to_owned(), "main".to_owned())]);
        let out = runs_table(runs.as_array().unwrap(), &names);
        let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            &row[..10],
            [
                "rec_1",
                "deepseek",
                "openai-cn-pack",
                "main",
                "manual",
                "completed",
                "drifted",
                "subscription_ready",
                "1/2",
                "1"
            ],
            "{out}"
        );
        assert_eq!(runs_table(&[], &names), "no reconcile run\n");
    }
}
