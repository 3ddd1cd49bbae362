//! `relay doctor <PROVIDER> --host H [--pack P] [--repair] [--probe-key-file F]`: the
//! bindings that make a call through the host work, each checked with a fix, and the
//! safe repairs applied with `--repair`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};

use crate::client::segment;
use crate::output::{items, print_failure, render_table, text, OutputFormat};
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
    let report = if args.repair || probe_key.is_some() {
        // The key travels in the body, never in the URL.
        let mut body = json!({ "host_id": args.host, "repair": args.repair });
        if let Some(pack) = &args.pack {
            body["pack_id"] = json!(pack);
        }
        if let Some(key) = probe_key {
            body["probe_key"] = json!(key);
        }
        client.post(&path, &body)?
    } else {
        client.get(
            &path,
            &[
                ("host_id", Some(&args.host)),
                ("pack_id", args.pack.as_deref()),
            ],
        )?
    };
    match ctx.format {
        OutputFormat::Json => {
            println!("{}", client.scrub(&serde_json::to_string_pretty(&report)?))
        }
        OutputFormat::Table => print!(
            "{}",
            client.scrub(&report_text(&report, &args.provider, &args.host))
        ),
    }
    if report["healthy"].as_bool() == Some(true) {
        if ctx.format == OutputFormat::Table {
            println!("\n{} on {} is healthy", args.provider, args.host);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let failed: Vec<String> = items(&report, "checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| format!("{} ({})", text(&c["name"]), text(&c["subject"])))
        .collect();
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

/// A doctor report as text: the checks, the fixes of those that failed, the state
/// before the repairs, the repairs applied, overlays and notes.
fn report_text(report: &Value, provider: &str, host: &str) -> String {
    let healthy = report["healthy"].as_bool() == Some(true);
    let mut out = format!(
        "doctor of {provider} ({}) on {host}: {}\n\n",
        text(&report["pack_id"]),
        if healthy { "healthy" } else { "unhealthy" }
    );
    let checks = items(report, "checks");
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let status = if c["repaired"].as_bool() == Some(true) {
                format!("{} (repaired)", text(&c["status"]))
            } else {
                text(&c["status"])
            };
            vec![
                text(&c["name"]),
                text(&c["subject"]),
                status,
                text(&c["summary"]),
            ]
        })
        .collect();
    out.push_str(&render_table(
        &["CHECK", "SUBJECT", "STATUS", "SUMMARY"],
        &rows,
    ));

    let fixes: Vec<&Value> = checks
        .iter()
        .filter(|c| c["status"] != "ok" && c["fix"].is_string())
        .collect();
    if !fixes.is_empty() {
        out.push_str("\nfixes:\n");
        for c in fixes {
            out.push_str(&format!(
                "  {} ({}, {}): {}\n",
                text(&c["name"]),
                text(&c["subject"]),
                text(&c["status"]),
                text(&c["fix"])
            ));
        }
    }

    if let Some(before) = report["before_repair"].as_array() {
        let failed: Vec<String> = before
            .iter()
            .filter(|c| c["status"] == "fail")
            .map(|c| format!("{} ({})", text(&c["name"]), text(&c["subject"])))
            .collect();
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

    let repairs = items(report, "repairs");
    if !repairs.is_empty() {
        out.push_str("\nrepairs applied:\n");
        out.push_str(&indent(&repairs_table(repairs)));
    } else if report["before_repair"].is_array() {
        out.push_str("no repair was needed or possible\n");
    }

    let overlays = items(report, "overlays");
    if !overlays.is_empty() {
        out.push_str("\noverlays:\n");
        for overlay in overlays {
            out.push_str(&format!(
                "  [{}] {}\n",
                text(&overlay["severity"]),
                text(&overlay["note"])
            ));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_fixes_and_repairs_are_shown() {
        let report = json!({
            "pack_id": "openai-cn-pack", "healthy": false,
            "checks": [
                {"name": "schedulable_account", "subject": "group 1", "status": "fail",
                 "summary": "group 1 has no schedulable account",
                 "fix": "account 1 (deepseek-84e6ad7d) is not in group 1: add it, or run `relay doctor --repair`",
                 "repaired": false},
                {"name": "channel_bound", "subject": "group 1", "status": "ok",
                 "summary": "channel 1 is bound to group 1", "fix": null, "repaired": true},
                {"name": "completion_works", "subject": "group 1", "status": "skipped",
                 "summary": "no probe key", "fix": "supply --probe-key-file", "repaired": false}
            ],
            "before_repair": [
                {"name": "channel_bound", "subject": "group 1", "status": "fail"}
            ],
            "repairs": [
                {"kind": "channel_rebound", "resource_type": "channel", "host_id": 1, "name": "crm-x",
                 "detail": "channel 1 bound to group 1 again", "ok": true, "error": null}
            ],
            "overlays": [], "notes": ["a note"]
        });
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
