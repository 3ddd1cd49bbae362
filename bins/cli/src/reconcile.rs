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
use relay_api_types::{
    AccessStatus, AccountOutcome, Difference, ProviderStatus, ReconcileRequest, ReconcileRunList,
    ReconcileRunRecord, Repair,
};
use serde_json::Value;

use crate::client::{body, read, segment};
use crate::input::usage;
use crate::output::{
    at, opt, opt_at, print_failure, print_json, render_fields, render_table, s, yes_no,
    OutputFormat,
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
    /// Report managed accounts whose vendor balance (read through the host) is under
    /// this amount as `below`.
    #[arg(long, value_name = "AMOUNT")]
    min_balance: Option<f64>,
    /// Currency of --min-balance (CNY, USD; default: the vendor's main currency).
    #[arg(long, value_name = "CODE", requires = "min_balance")]
    balance_currency: Option<String>,
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
                    print!(
                        "{}",
                        runs_table(&read::<ReconcileRunList>(&doc)?.runs, &names)
                    );
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
                    let run: ReconcileRunRecord = read(&doc)?;
                    let host = names
                        .get(&run.host_id)
                        .cloned()
                        .unwrap_or_else(|| s(&run.host_id));
                    print!("{}", run_text(&run, &host));
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
            let request = ReconcileRequest {
                host_id: host.clone(),
                pack_id: args.pack.clone(),
                repair: args.repair,
                batch_id: args.batch_id.clone(),
                min_balance: args.min_balance,
                balance_currency: args.balance_currency.clone(),
            };
            let doc = client.post(
                &format!("/api/providers/{}/reconcile", segment(&provider)),
                &body(&request),
            )?;
            let run: ReconcileRunRecord = read(&doc)?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => print!("{}", run_text(&run, &host)),
            }
            Ok(verdict_exit(&run, &provider, &host, ctx.format))
        }
    }
}

/// Exit 0 for `active`; otherwise says why on stderr and exits 1.
fn verdict_exit(
    run: &ReconcileRunRecord,
    provider: &str,
    host: &str,
    format: OutputFormat,
) -> ExitCode {
    match run.verdict {
        Some(ProviderStatus::Active) => {
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
            let error = run.error.as_deref().unwrap_or("no verdict was reached");
            print_failure(
                "reconcile_failed",
                &format!(
                    "the reconcile run of {provider} on {host} ended {}: {error}",
                    run.status
                ),
            );
            ExitCode::FAILURE
        }
    }
}

/// The differences of a run not repaired.
fn remaining(differences: &[Difference]) -> impl Iterator<Item = &Difference> {
    differences.iter().filter(|d| !d.repaired)
}

/// Why a run's verdict is not `active`: the remaining differences, else the failed
/// accounts and a broken access, else the report's notes.
fn why(run: &ReconcileRunRecord) -> String {
    let left: Vec<String> = remaining(&run.differences).map(|d| s(&d.detail)).collect();
    if !left.is_empty() {
        return format!(
            "{} difference(s) between the record and the host remain: {}",
            left.len(),
            left.join("; ")
        );
    }
    let mut reasons = Vec::new();
    if let Some(report) = &run.report {
        reasons.extend(
            report
                .accounts
                .iter()
                .filter(|a| a.outcome == AccountOutcome::Failed)
                .map(|a| match &a.message {
                    Some(message) => format!(
                        "account {} ({}) failed: {message}",
                        a.account_id,
                        s(&a.name)
                    ),
                    None => format!("account {} ({}) failed", a.account_id, s(&a.name)),
                }),
        );
    }
    if run.access_status == Some(AccessStatus::Broken) {
        let message = run
            .report
            .as_ref()
            .and_then(|r| r.access.as_ref())
            .and_then(|a| a.message.as_deref())
            .unwrap_or("");
        reasons.push(format!("access is broken {message}").trim_end().to_owned());
    }
    if reasons.is_empty() {
        if let Some(report) = &run.report {
            reasons.extend(report.notes.iter().map(|n| s(n)));
        }
    }
    if reasons.is_empty() {
        "see the report above".into()
    } else {
        reasons.join("; ")
    }
}

/// A reconcile run as text: summary, differences with their fix, repairs, accounts
/// not passing, the access probe and notes.
pub fn run_text(run: &ReconcileRunRecord, host: &str) -> String {
    let report = run.report.as_ref();
    let differences = &run.differences;
    let remaining = remaining(differences).count();
    let mut fields = vec![
        ("run", s(&run.id)),
        (
            "provider",
            format!("{} ({}) on {host}", s(&run.provider_id), s(&run.pack_id)),
        ),
        ("trigger", run.trigger.to_string()),
        ("status", run.status.to_string()),
        ("verdict", opt(run.verdict)),
        ("access", opt(run.access_status)),
    ];
    if let Some(batch) = &run.batch_id {
        fields.push(("batch", s(batch)));
    }
    if let Some(report) = report {
        let counts = &report.counts;
        fields.push((
            "accounts",
            format!(
                "{} passed, {} warning, {} failed, {} not tested",
                counts.accounts_passed,
                counts.accounts_warning,
                counts.accounts_failed,
                counts.accounts_not_tested
            ),
        ));
    }
    fields.push((
        "differences",
        format!("{} ({remaining} remaining)", differences.len()),
    ));
    fields.push(("repairs", run.repairs.len().to_string()));
    if let Some(report) = report.filter(|r| !r.keys.is_empty()) {
        fields.push((
            "keys",
            format!(
                "{} disabled, {} re-enabled in this run",
                report.counts.keys_disabled, report.counts.keys_re_enabled
            ),
        ));
    }
    fields.push(("started_at", at(run.started_at)));
    fields.push(("finished_at", opt_at(run.finished_at)));
    let mut out = render_fields(&fields);
    if let Some(error) = &run.error {
        out.push_str(&format!("error: {error}\n"));
    }

    if !differences.is_empty() {
        out.push_str("\ndifferences:\n");
        out.push_str(&differences_text(differences));
    }

    if !run.repairs.is_empty() {
        out.push_str("\nrepairs:\n");
        out.push_str(&indent(&repairs_table(&run.repairs)));
    }

    let troubled: Vec<Vec<String>> = report
        .map_or(&[][..], |r| &r.accounts[..])
        .iter()
        .filter(|a| a.outcome != AccountOutcome::Passed)
        .map(|a| {
            vec![
                a.account_id.to_string(),
                s(&a.name),
                a.outcome.to_string(),
                opt(a.http_status),
                opt(a.message.as_deref()),
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

    let changed: Vec<Vec<String>> = report
        .map_or(&[][..], |r| &r.keys[..])
        .iter()
        .filter_map(|k| {
            let action = k.action?;
            Some(vec![
                k.account_id.to_string(),
                opt(k.key_mask.as_deref()),
                action.to_string(),
                k.state.to_string(),
                opt(k.cause),
                opt(k.error.as_deref()),
            ])
        })
        .collect();
    if !changed.is_empty() {
        out.push_str("\nkey changes (`relay keys list` shows every key):\n");
        out.push_str(&indent(&render_table(
            &["ACCOUNT", "KEY", "CHANGE", "STATE", "CAUSE", "ERROR"],
            &changed,
        )));
    }

    if let Some(access) = report.and_then(|r| r.access.as_ref()) {
        out.push_str(&format!(
            "\naccess probe: key {}, models {}, smoke model seen {}, completion {}{}\n",
            s(&access.key_mask),
            opt(access.models_status),
            yes_no(access.smoke_model_seen),
            opt(access.completion_status),
            match &access.message {
                Some(message) => format!(" ({message})"),
                None => String::new(),
            }
        ));
    }

    let balances = report.map_or(&[][..], |r| &r.balances[..]);
    if !balances.is_empty() {
        out.push_str("\nbalances (through the host):\n");
        out.push_str(&indent(&crate::models::balances_table(balances)));
    }
    if let Some(calls) = report.and_then(|r| r.test_calls.as_ref()) {
        out.push_str(&format!(
            "\ntest calls: {}\n",
            crate::models::test_calls_text(calls)
        ));
    }

    let notes = report.map_or(&[][..], |r| &r.notes[..]);
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        for note in notes {
            out.push_str(&format!("  - {}\n", s(note)));
        }
    }
    out
}

/// Differences as an indented list: what, the detail, the field values, the fix.
pub fn differences_text(differences: &[Difference]) -> String {
    let mut out = String::new();
    for d in differences {
        let repaired = if d.repaired {
            " [repaired]"
        } else if d.safe_fix {
            " [safe fix: --repair]"
        } else {
            ""
        };
        out.push_str(&format!(
            "  - {} {} {} {}{repaired}\n",
            d.kind,
            d.resource_type,
            opt(d.host_id),
            s(&d.name)
        ));
        out.push_str(&format!("    {}\n", s(&d.detail)));
        if let Some(field) = &d.field {
            out.push_str(&format!(
                "    {field}: expected {}, host has {}\n",
                compact(&d.expected),
                compact(&d.actual)
            ));
        }
        out.push_str(&format!("    fix: {}\n", s(&d.fix)));
    }
    out
}

/// Repairs as a table: kind, object, result, detail.
pub fn repairs_table(repairs: &[Repair]) -> String {
    let rows: Vec<Vec<String>> = repairs
        .iter()
        .map(|r| {
            let result = if r.ok {
                "ok".to_owned()
            } else {
                format!("failed: {}", opt(r.error.as_deref()))
            };
            vec![
                r.kind.to_string(),
                r.resource_type.to_string(),
                r.host_id.to_string(),
                s(&r.name),
                result,
                s(&r.detail),
            ]
        })
        .collect();
    render_table(&["KIND", "TYPE", "ID", "NAME", "RESULT", "DETAIL"], &rows)
}

fn runs_table(runs: &[ReconcileRunRecord], host_names: &BTreeMap<String, String>) -> String {
    if runs.is_empty() {
        return "no reconcile run\n".into();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                s(&r.id),
                s(&r.provider_id),
                s(&r.pack_id),
                host_names
                    .get(&r.host_id)
                    .cloned()
                    .unwrap_or_else(|| s(&r.host_id)),
                r.trigger.to_string(),
                r.status.to_string(),
                opt(r.verdict),
                opt(r.access_status),
                format!(
                    "{}/{}",
                    remaining(&r.differences).count(),
                    r.differences.len()
                ),
                r.repairs.len().to_string(),
                at(r.started_at),
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
    use crate::fixtures::{typed, with};
    use serde_json::json;

    /// A whole reconcile report with the given accounts and notes.
    fn report(accounts: Value, access: Value, notes: Value) -> Value {
        json!({
            "host_id": "host_1", "pack_id": "openai-cn-pack", "provider_id": "deepseek",
            "batch_id": null, "verdict": "drifted", "provider_event": "drift",
            "access_status": "subscription_ready", "resources": [], "differences": [],
            "accounts": accounts, "access": access, "access_group_id": null, "repairs": [],
            "notes": notes,
            "counts": {"resources": 0, "differences": 2, "remaining_differences": 1,
                       "accounts_passed": 1, "accounts_warning": 0, "accounts_failed": 0,
                       "accounts_not_tested": 1, "repairs": 1},
            "timings": {"inventory_ms": 0, "repairs_ms": 0, "account_tests_ms": 0,
                        "access_ms": 0, "total_ms": 0}
        })
    }

    fn account(id: i64, name: &str, outcome: &str, message: &str) -> Value {
        json!({"account_id": id, "name": name, "fingerprint": null, "group_id": null,
               "host_status": null, "outcome": outcome, "tested": false, "reason": null,
               "needs_gateway_confirmation": false, "message": message, "http_status": null,
               "model_tested": null, "models_include_smoke": null, "duration_ms": null})
    }

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
                 "detail": "account 1 (deepseek-84e6ad7d) bound to group 1 again", "ok": true, "error": null,
                 "capability": null}
            ],
            "error": null, "started_at": 0, "finished_at": 1000,
            "report": report(
                json!([account(2, "deepseek-61466140", "not_tested", "deleted on the host")]),
                json!(null),
                json!(["drifted: 1 difference(s) between the record and the host remain"])
            )
        })
    }

    #[test]
    fn a_run_shows_differences_with_their_fix_and_repairs() {
        let out = run_text(&typed(drifted()), "main");
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
    fn a_run_shows_the_keys_it_disabled_and_re_enabled() {
        let mut run: ReconcileRunRecord = typed(drifted());
        let report = run.report.as_mut().expect("a report");
        report.keys = typed(json!([
            {"account_id": 2, "fingerprint": null, "key_mask": "sk-a…aa61",
             "previous_state": "failing", "state": "disabled_by_manager", "action": "disabled",
             "cause": "auth", "failures_in_window": 3, "rate_limits_in_window": 0, "error": null},
            {"account_id": 3, "fingerprint": null, "key_mask": "sk-b…bb62",
             "previous_state": "healthy", "state": "healthy", "action": null,
             "cause": null, "failures_in_window": 0, "rate_limits_in_window": 0, "error": null}
        ]));
        report.counts.keys_disabled = 1;
        let out = run_text(&run, "main");
        assert!(
            out.contains("keys:        1 disabled, 0 re-enabled in this run\n"),
            "{out}"
        );
        assert!(out.contains("key changes"), "{out}");
        let row = out
            .lines()
            .find(|l| l.contains("sk-a…aa61"))
            .expect("the disabled key's row");
        for cell in ["disabled", "disabled_by_manager", "auth"] {
            assert!(row.contains(cell), "{row}");
        }
        assert!(
            !out.contains("sk-b…bb62"),
            "unchanged keys are not listed: {out}"
        );
        // Reports of older versions have no keys: no line, no table.
        let old = run_text(&typed(drifted()), "main");
        assert!(
            !old.contains("keys:") && !old.contains("key changes"),
            "{old}"
        );
    }

    #[test]
    fn why_names_the_remaining_differences_then_the_accounts() {
        assert_eq!(
            why(&typed(drifted())),
            "1 difference(s) between the record and the host remain: account 2 (deepseek-61466140) was deleted on the host"
        );
        let degraded = with(
            drifted(),
            json!({
                "verdict": "degraded", "access_status": "broken", "differences": [],
                "report": report(
                    json!([account(3, "a", "failed", "API returned 401")]),
                    json!(crate::fixtures::proof(json!({"message": "chat HTTP 503"}))),
                    json!(["an advisory note"])
                )
            }),
        );
        assert_eq!(
            why(&typed(degraded)),
            "account 3 (a) failed: API returned 401; access is broken chat HTTP 503"
        );
        let other = with(
            drifted(),
            json!({"verdict": "failed", "differences": [],
                   "report": report(json!([]), json!(null), json!(["no account"]))}),
        );
        assert_eq!(why(&typed(other)), "no account");
    }

    #[test]
    fn runs_are_listed_with_host_names() {
        let runs = vec![typed(drifted())];
        let names = BTreeMap::from([("host_1".to_owned(), "main".to_owned())]);
        let out = runs_table(&runs, &names);
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
