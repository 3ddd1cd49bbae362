//! `relay import <PROVIDER> --host H --keys-file F …`: preview or run an import, follow
//! the batch to its end and print its report.
//!
//! The keys are read from a file (or stdin) and sent as `keys_text`; they are never
//! printed, and every error message is scrubbed of them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::batch::{finish_import, wait};
use crate::client::segment;
use crate::output::{items, render_fields, render_table, text, OutputFormat};
use crate::{input, Ctx};

/// Strict or partial import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Any blocking failure rolls the whole batch back.
    Strict,
    /// Keep the keys that work.
    Partial,
}

/// How end users reach the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessMode {
    /// Subscriptions to the provider's group, proven with a managed user's key.
    Subscription,
    /// Users bring their own group-bound key; proven with --probe-key-file (without
    /// it, the first import creates the group and leaves access `not_configured`).
    #[value(name = "self_service", alias = "self-service")]
    SelfService,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Partial => "partial",
        }
    }
}

impl AccessMode {
    /// The server's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::Subscription => "subscription",
            AccessMode::SelfService => "self_service",
        }
    }
}

/// Arguments of `relay import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Provider id (e.g. deepseek).
    provider: String,
    /// Host id or name.
    #[arg(long, value_name = "HOST")]
    host: String,
    /// Pack of the provider (needed when several packs have it).
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
    /// File with the upstream keys, one per line ('-' reads stdin).
    #[arg(long, value_name = "FILE")]
    keys_file: PathBuf,
    /// strict: any blocking failure rolls everything back; partial: keep the good keys.
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// How users get access: subscription (default) or self_service.
    #[arg(long = "access", value_enum, value_name = "MODE")]
    access_mode: Option<AccessMode>,
    /// Subscriber by e-mail (a managed user is found or created); repeatable.
    #[arg(long = "subscriber", value_name = "EMAIL")]
    subscribers: Vec<String>,
    /// Subscriber by existing host user id; repeatable.
    #[arg(long = "subscriber-id", value_name = "ID")]
    subscriber_ids: Vec<i64>,
    /// Subscription validity in days.
    #[arg(long, value_name = "N")]
    days: Option<u32>,
    /// File with a user key bound to the provider's group, to prove self-service access
    /// ('-' reads stdin).
    #[arg(long, value_name = "FILE")]
    probe_key_file: Option<PathBuf>,
    /// Retire managed accounts of the provider whose keys are not in this import.
    #[arg(long)]
    replace_existing: bool,
    /// Keys tested at the same time.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: Option<u32>,
    /// Show the plan only; write nothing to the host.
    #[arg(long)]
    preview: bool,
}

/// Runs `relay import`.
pub fn run(args: ImportArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    input::one_stdin(&[
        ("--token-file", ctx.token_file()),
        ("--keys-file", Some(&args.keys_file)),
        ("--probe-key-file", args.probe_key_file.as_ref()),
    ])?;
    let mut client = ctx.client()?;
    let keys = input::read_keys(&args.keys_file, "--keys-file")?;
    for key in &keys.keys {
        client.redact(key);
    }
    let probe_key = match &args.probe_key_file {
        Some(file) => {
            let key = input::read_secret(file, "--probe-key-file")?;
            client.redact(&key);
            Some(key)
        }
        None => None,
    };

    let mut body = json!({
        "host_id": args.host,
        "keys_text": keys.text,
    });
    if let Some(pack) = &args.pack {
        body["pack_id"] = json!(pack);
    }
    if let Some(mode) = args.mode {
        body["mode"] = json!(mode.as_str());
    }
    if let Some(access) = args.access_mode {
        body["access_mode"] = json!(access.as_str());
    }
    let subscribers: Vec<Value> = args
        .subscribers
        .iter()
        .map(|email| json!({ "email": email }))
        .chain(
            args.subscriber_ids
                .iter()
                .map(|id| json!({ "user_id": id })),
        )
        .collect();
    if !subscribers.is_empty() {
        body["subscribers"] = Value::Array(subscribers);
    }
    if let Some(days) = args.days {
        body["validity_days"] = json!(days);
    }
    if let Some(key) = probe_key {
        body["probe_key"] = json!(key);
    }
    if args.replace_existing {
        body["replace_existing"] = json!(true);
    }
    if let Some(n) = args.concurrency {
        body["concurrency"] = json!(n);
    }

    let provider = segment(&args.provider);
    if args.preview {
        let plan = client.post(&format!("/api/providers/{provider}/preview-import"), &body)?;
        match ctx.format {
            OutputFormat::Json => {
                println!("{}", client.scrub(&serde_json::to_string_pretty(&plan)?))
            }
            OutputFormat::Table => print!("{}", client.scrub(&preview_text(&plan))),
        }
        return Ok(ExitCode::SUCCESS);
    }
    body["wait"] = json!(false);
    let started = client.post(&format!("/api/providers/{provider}/import"), &body)?;
    let view = wait(&client, started)?;
    finish_import(&view, ctx.format, &client)
}

/// A preview-import answer as text: host objects to create/reuse/update or in
/// conflict, per-key plans, overlays, warnings and blocking problems.
pub fn preview_text(plan: &Value) -> String {
    let mut out = render_fields(&[
        (
            "preview",
            format!(
                "{} ({})",
                text(&plan["provider_id"]),
                text(&plan["pack_id"])
            ),
        ),
        ("mode", text(&plan["mode"])),
        ("access_mode", text(&plan["access_mode"])),
        ("host_version", text(&plan["host_version"])),
        ("platform", text(&plan["platform"]["platform"])),
    ]);
    if let Some(why) = plan["platform"]["explanation"].as_str() {
        out.push_str(&format!("  {why}\n"));
    }

    out.push_str("\nhost objects:\n");
    let resources: Vec<Vec<String>> = items(plan, "resources")
        .iter()
        .map(|r| {
            let id = if r["host_id"].is_null() {
                text(&r["candidates"])
            } else {
                text(&r["host_id"])
            };
            vec![
                text(&r["resource_type"]),
                text(&r["name"]),
                text(&r["action"]),
                id,
                text(&r["managed"]),
                text(&r["reason"]),
            ]
        })
        .collect();
    if resources.is_empty() {
        out.push_str("  none\n");
    } else {
        for line in render_table(
            &["TYPE", "NAME", "ACTION", "ID", "MANAGED", "REASON"],
            &resources,
        )
        .lines()
        {
            out.push_str(&format!("  {line}\n"));
        }
    }

    let counts = &plan["counts"];
    out.push_str(&format!(
        "\nkeys: {} new, {} duplicate_in_request, {} already_imported\n",
        counts["new"].as_u64().unwrap_or(0),
        counts["duplicate_in_request"].as_u64().unwrap_or(0),
        counts["already_imported"].as_u64().unwrap_or(0)
    ));
    let keys: Vec<Vec<String>> = items(plan, "keys")
        .iter()
        .map(|k| {
            let mut note = Vec::new();
            if let Some(line) = k["duplicate_of_line"].as_u64() {
                note.push(format!("same key as line {line}"));
            }
            if let Some(status) = k["account_status"].as_str() {
                note.push(format!("account {status}"));
            }
            if k["hint_mismatch"].as_bool() == Some(true) {
                note.push("does not look like this provider's key".into());
            }
            vec![
                text(&k["line"]),
                text(&k["mask"]),
                text(&k["plan"]),
                text(&k["account_name"]),
                text(&k["account_id"]),
                if note.is_empty() {
                    "-".into()
                } else {
                    note.join("; ")
                },
            ]
        })
        .collect();
    if !keys.is_empty() {
        for line in render_table(&["LINE", "KEY", "PLAN", "ACCOUNT", "ID", "NOTE"], &keys).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    let dropped = items(plan, "dropped");
    if !dropped.is_empty() {
        out.push_str(&format!("  {} line(s) dropped\n", dropped.len()));
    }

    let overlays = items(plan, "overlays");
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
    for (field, title) in [
        ("warnings", "warnings"),
        ("problems", "problems (the import would fail)"),
    ] {
        let list = items(plan, field);
        if !list.is_empty() {
            out.push_str(&format!("\n{title}:\n"));
            for entry in list {
                out.push_str(&format!("  - {}\n", text(entry)));
            }
        }
    }
    out.push_str("\nnothing was written to the host (preview)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_shows_the_plan() {
        let plan = json!({
            "pack_id": "openai-cn-pack", "provider_id": "deepseek", "mode": "strict",
            "access_mode": "subscription", "host_version": "0.1.131",
            "platform": {"platform": "openai", "reason": {"kind": "host_too_old"},
                         "explanation": "platform openai with forced Chat Completions: the host 0.1.131 predates the native platform (>=0.1.178)"},
            "resources": [
                {"resource_type": "group", "name": "crm-openai-cn-pack-deepseek-sub", "action": "create",
                 "host_id": null, "candidates": [], "managed": false, "reason": null},
                {"resource_type": "channel", "name": "crm-x", "action": "conflict",
                 "host_id": null, "candidates": [4, 5], "managed": false, "reason": "2 channels share the name"}
            ],
            "keys": [
                {"line": 1, "mask": "sk-d…aaaa", "plan": "new", "account_name": "deepseek-0a1b2c3d",
                 "account_id": null, "duplicate_of_line": null, "hint_mismatch": false},
                {"line": 2, "mask": "sk-d…aaaa", "plan": "duplicate_in_request", "account_name": "deepseek-0a1b2c3d",
                 "account_id": null, "duplicate_of_line": 1, "hint_mismatch": false}
            ],
            "counts": {"new": 1, "duplicate_in_request": 1, "already_imported": 0},
            "dropped": [], "overlays": [{"severity": "warning", "note": "old hosts lack plans"}],
            "warnings": [], "problems": ["channel crm-x: several channels share the name"]
        });
        let out = preview_text(&plan);
        assert!(
            out.contains("group    crm-openai-cn-pack-deepseek-sub  create"),
            "{out}"
        );
        assert!(out.contains("conflict  4, 5"), "{out}");
        assert!(out.contains("platform:"), "{out}");
        assert!(
            out.contains(
                "  platform openai with forced Chat Completions: the host 0.1.131 predates"
            ),
            "{out}"
        );
        assert!(out.contains("keys: 1 new, 1 duplicate_in_request, 0 already_imported\n"));
        assert!(out.contains("same key as line 1"));
        assert!(out.contains("[warning] old hosts lack plans"));
        assert!(out.contains("problems (the import would fail):\n  - channel crm-x"));
    }
}
