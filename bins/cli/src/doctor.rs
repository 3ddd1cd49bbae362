//! `relay doctor <PROVIDER> --host H [--pack P] [--repair] [--probe-key-file F]`: the
//! bindings that make a call through the host work, each checked with a fix, and the
//! safe repairs applied with `--repair`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use relay_api_types::{CheckStatus, DoctorCheck, DoctorReport, DoctorRequest};

use crate::client::{body, read, segment};
use crate::output::{print_failure, render_table, s, OutputFormat};
use crate::reconcile::{indent, repairs_table};
use crate::{input, Ctx};

/// Arguments of `relay doctor`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 when every check passes (after the repairs, with --repair); \
                  1 when a check fails (the fixes are printed)."
)]
pub struct DoctorArgs {
    /// Provider id (e.g. deepseek).
    provider: String,
    /// Host id or name.
    #[arg(long, value_name = "HOST")]
    host: String,
    /// Pack of the provider (needed when several packs have it).
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
    /// Apply the safe fixes (bind accounts and the channel to the group, re-assign the
    /// probe subscriber's subscription, clear account errors) and check again.
    #[arg(long)]
    repair: bool,
    /// File with a user key to check instead of the managed probe subscriber's key
    /// ('-' reads stdin).
    #[arg(long, value_name = "FILE")]
    probe_key_file: Option<PathBuf>,
}

/// Runs `relay doctor`.
pub fn run(args: DoctorArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    input::one_stdin(&[
        ("--token-file", ctx.token_file()),
        ("--probe-key-file", args.probe_key_file.as_ref()),
    ])?;
    let mut client = ctx.client()?;
    let probe_key = match &args.probe_key_file {
        Some(file) => {
            let key = input::read_secret(file, "--probe-key-file")?;
            client.redact(&key);
            Some(key)
        }
        None => None,
    };
    let path = format!("/api/providers/{}/doctor", segment(&args.provider));
    let doc = if args.repair || probe_key.is_some() {
        // The key travels in the body, never in the URL.
        let request = DoctorRequest {
            host_id: args.host.clone(),
            pack_id: args.pack.clone(),
            repair: args.repair,
            probe_key,
        };
        client.post(&path, &body(&request))?
    } else {
        client.get(
            &path,
            &[
                ("host_id", Some(&args.host)),
                ("pack_id", args.pack.as_deref()),
            ],
        )?
    };
    let report: DoctorReport = read(&doc)?;
    match ctx.format {
        OutputFormat::Json => {
            println!("{}", client.scrub(&serde_json::to_string_pretty(&doc)?))
        }
        OutputFormat::Table => print!(
            "{}",
            client.scrub(&report_text(&report, &args.provider, &args.host))
        ),
    }
    if report.healthy {
        if ctx.format == OutputFormat::Table {
            println!("\n{} on {} is healthy", args.provider, args.host);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let failed = failed_checks(&report.checks);
    let hint = if args.repair {
        "the safe repairs were tried; apply the remaining fixes above by hand"
    } else {
        "apply the fixes above, or run again with --repair for the safe ones"
    };
    print_failure(
        "unhealthy",
        &client.scrub(&format!(
            "{} on {}: {} check(s) failed: {}; {hint}",
            args.provider,
            args.host,
            failed.len(),
            failed.join(", ")
        )),
    );
    Ok(ExitCode::FAILURE)
}

/// `name (subject)` of every failed check.
fn failed_checks(checks: &[DoctorCheck]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .map(|c| format!("{} ({})", c.name, s(&c.subject)))
        .collect()
}

/// A doctor report as text: the checks, the fixes of those that failed, the state
/// before the repairs, the repairs applied, overlays and notes.
fn report_text(report: &DoctorReport, provider: &str, host: &str) -> String {
    let mut out = format!(
        "doctor of {provider} ({}) on {host}: {}\n\n",
        s(&report.pack_id),
        if report.healthy {
            "healthy"
        } else {
            "unhealthy"
        }
    );
    let rows: Vec<Vec<String>> = report
        .checks
        .iter()
        .map(|c| {
            let status = if c.repaired {
                format!("{} (repaired)", c.status)
            } else {
                c.status.to_string()
            };
            vec![c.name.to_string(), s(&c.subject), status, s(&c.summary)]
        })
        .collect();
    out.push_str(&render_table(
        &["CHECK", "SUBJECT", "STATUS", "SUMMARY"],
        &rows,
    ));

    let fixes: Vec<(&DoctorCheck, &String)> = report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Ok)
        .filter_map(|c| c.fix.as_ref().map(|fix| (c, fix)))
        .collect();
    if !fixes.is_empty() {
        out.push_str("\nfixes:\n");
        for (c, fix) in fixes {
            out.push_str(&format!(
                "  {} ({}, {}): {}\n",
                c.name,
                s(&c.subject),
                c.status,
                s(fix)
            ));
        }
    }

    if let Some(before) = &report.before_repair {
        let failed = failed_checks(before);
        if failed.is_empty() {
            out.push_str("\nbefore the repairs: every check passed\n");
        } else {
            out.push_str(&format!(
                "\nbefore the repairs: {} check(s) failed: {}\n",
                failed.len(),
                failed.join(", ")
            ));
        }
    }

    if !report.repairs.is_empty() {
        out.push_str("\nrepairs applied:\n");
        out.push_str(&indent(&repairs_table(&report.repairs)));
    } else if report.before_repair.is_some() {
        out.push_str("no repair was needed or possible\n");
    }

    if !report.overlays.is_empty() {
        out.push_str("\noverlays:\n");
        for overlay in &report.overlays {
            out.push_str(&format!("  [{}] {}\n", overlay.severity, s(&overlay.note)));
        }
    }
    if !report.notes.is_empty() {
        out.push_str("\nnotes:\n");
        for note in &report.notes {
            out.push_str(&format!("  - {}\n", s(note)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::typed;
    use serde_json::json;

    fn check(
        name: &str,
        status: &str,
        summary: &str,
        fix: Option<&str>,
        repaired: bool,
    ) -> serde_json::Value {
        json!({"name": name, "subject": "group 1", "status": status, "summary": summary,
               "evidence": {}, "fix": fix, "repaired": repaired})
    }

    #[test]
    fn checks_fixes_and_repairs_are_shown() {
        let report: DoctorReport = typed(json!({
            "host_id": "host_1", "provider_id": "deepseek", "access": null, "elapsed_ms": 1,
            "pack_id": "openai-cn-pack", "healthy": false,
            "checks": [
                check("schedulable_account", "fail", "group 1 has no schedulable account",
                      Some("account 1 (deepseek-84e6ad7d) is not in group 1: add it, or run `relay doctor --repair`"),
                      false),
                check("channel_bound", "ok", "channel 1 is bound to group 1", None, true),
                check("completion_works", "skipped", "no probe key", Some("supply --probe-key-file"), false)
            ],
            "before_repair": [check("channel_bound", "fail", "channel 1 is not bound", None, false)],
            "repairs": [
                {"kind": "channel_rebound", "resource_type": "channel", "host_id": 1, "name": "crm-x",
                 "detail": "channel 1 bound to group 1 again", "ok": true, "error": null, "capability": null}
            ],
            "overlays": [], "notes": ["a note"]
        }));
        let out = report_text(&report, "deepseek", "main");
        assert!(
            out.starts_with("doctor of deepseek (openai-cn-pack) on main: unhealthy\n\nCHECK "),
            "{out}"
        );
        assert!(
            out.contains(
                "schedulable_account  group 1  fail           group 1 has no schedulable account\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("channel_bound        group 1  ok (repaired)"),
            "{out}"
        );
        assert!(
            out.contains("fixes:\n  schedulable_account (group 1, fail): account 1 (deepseek-84e6ad7d) is not in group 1"),
            "{out}"
        );
        assert!(
            out.contains("  completion_works (group 1, skipped): supply --probe-key-file\n"),
            "{out}"
        );
        assert!(!out.contains("channel_bound (group 1, ok)"), "{out}");
        assert!(
            out.contains("before the repairs: 1 check(s) failed: channel_bound (group 1)\n"),
            "{out}"
        );
        assert!(out.contains("repairs applied:\n  KIND "), "{out}");
        assert!(out.contains("notes:\n  - a note\n"), "{out}");
    }
}
