//! `relay import <PROVIDER> --host H --keys-file F …`: preview or run an import, follow
//! the batch to its end and print its report.
//!
//! The keys are read from a file (or stdin) and sent as `keys_text`; they are never
//! printed, and every error message is scrubbed of them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser as _;
use clap::Args;
use relay_api_types as api;
use relay_domain::{AccessMode, ImportMode};

use crate::batch::{finish_import, wait};
use crate::client::{body, read, segment};
use crate::output::{list, opt, render_fields, render_table, s, yes_no, OutputFormat};
use crate::{input, Ctx};

/// Parses `--mode`: `strict` (any blocking failure rolls the whole batch back) or
/// `partial` (keep the keys that work), into the domain's [`ImportMode`].
pub fn import_mode_arg() -> impl clap::builder::TypedValueParser<Value = ImportMode> {
    clap::builder::PossibleValuesParser::new(ImportMode::ALL.iter().map(|m| m.as_str()))
        .try_map(|s| s.parse::<ImportMode>())
}

/// Parses `--access`: `subscription` (subscriptions to the provider's group, proven
/// with a managed user's key) or `self_service` (users bring their own group-bound
/// key; also spelled `self-service`), into the domain's [`AccessMode`].
pub fn access_mode_arg() -> impl clap::builder::TypedValueParser<Value = AccessMode> {
    use clap::builder::PossibleValue;
    let mut values: Vec<PossibleValue> = AccessMode::ALL
        .iter()
        .map(|m| PossibleValue::new(m.as_str()))
        .collect();
    values.push(PossibleValue::new("self-service").hide(true));
    clap::builder::PossibleValuesParser::new(values)
        .try_map(|s| s.replace('-', "_").parse::<AccessMode>())
}

/// The subscriber selectors of `--subscriber EMAIL` and `--subscriber-id ID`.
pub fn subscribers(emails: &[String], ids: &[i64]) -> Vec<api::SubscriberSelector> {
    emails
        .iter()
        .map(|email| api::SubscriberSelector {
            email: Some(email.clone()),
            user_id: None,
        })
        .chain(ids.iter().map(|id| api::SubscriberSelector {
            email: None,
            user_id: Some(*id),
        }))
        .collect()
}

/// Parses `VALUE[:DAYS]` of `relay import --subscriber` / `--subscriber-id`: the
/// subscriber and its own subscription validity in days.
pub(crate) fn with_days<T: std::str::FromStr>(text: &str) -> Result<(T, Option<u32>), String> {
    let (value, days) = match text.rsplit_once(':') {
        Some((v, d)) => {
            let d = d
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=36500).contains(d))
                .ok_or_else(|| format!("`{d}` is not a number of days between 1 and 36500"))?;
            (v, Some(d))
        }
        None => (text, None),
    };
    let value = value
        .trim()
        .parse::<T>()
        .map_err(|_| format!("`{value}` is not valid here"))?;
    Ok((value, days))
}

/// The subscriber selectors of `relay import`, each with its own validity when given.
pub(crate) fn import_subscribers(
    emails: &[(String, Option<u32>)],
    ids: &[(i64, Option<u32>)],
) -> Vec<api::ImportSubscriber> {
    emails
        .iter()
        .map(|(email, days)| api::ImportSubscriber {
            email: Some(email.clone()),
            user_id: None,
            validity_days: *days,
        })
        .chain(ids.iter().map(|(id, days)| api::ImportSubscriber {
            email: None,
            user_id: Some(*id),
            validity_days: *days,
        }))
        .collect()
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
    #[arg(long, value_parser = import_mode_arg())]
    mode: Option<ImportMode>,
    /// How users get access: subscription (default) or self_service.
    #[arg(long = "access", value_parser = access_mode_arg(), value_name = "MODE")]
    access_mode: Option<AccessMode>,
    /// Subscriber by e-mail (a managed user is found or created), with its own
    /// subscription validity in days after a colon (`bob@example.com:7`); repeatable.
    #[arg(long = "subscriber", value_name = "EMAIL[:DAYS]", value_parser = with_days::<String>)]
    subscribers: Vec<(String, Option<u32>)>,
    /// Subscriber by existing host user id, with its own validity in days after a
    /// colon (`3:30`); repeatable.
    #[arg(long = "subscriber-id", value_name = "ID[:DAYS]", value_parser = with_days::<i64>)]
    subscriber_ids: Vec<(i64, Option<u32>)>,
    /// Subscription validity in days (subscribers without their own).
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
    /// Read each key's vendor balance first (DeepSeek, Moonshot/Kimi) and act when it
    /// is under this amount (see --balance-policy); other vendors' balances are unknown.
    #[arg(long, value_name = "AMOUNT")]
    min_balance: Option<f64>,
    /// Currency of --min-balance (CNY, USD; default: the vendor's main currency).
    #[arg(long, value_name = "CODE", requires = "min_balance")]
    balance_currency: Option<String>,
    /// What a key under --min-balance does: refuse the import (default; nothing is
    /// created) or warn (the batch lists it).
    #[arg(long, value_name = "POLICY", requires = "min_balance", value_parser = ["warn", "refuse"])]
    balance_policy: Option<String>,
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

    let mut request = api::ImportRequest {
        host_id: args.host.clone(),
        pack_id: args.pack.clone(),
        keys_text: Some(keys.text.clone()),
        mode: args.mode,
        access_mode: args.access_mode,
        subscribers: import_subscribers(&args.subscribers, &args.subscriber_ids),
        validity_days: args.days,
        probe_key,
        replace_existing: args.replace_existing,
        concurrency: args.concurrency,
        min_balance: args.min_balance,
        balance_currency: args.balance_currency.clone(),
        balance_policy: match args.balance_policy.as_deref() {
            Some("warn") => Some(api::BalancePolicy::Warn),
            Some(_) => Some(api::BalancePolicy::Refuse),
            None => None,
        },
        ..api::ImportRequest::default()
    };

    let provider = segment(&args.provider);
    if args.preview {
        let plan = client.post(
            &format!("/api/providers/{provider}/preview-import"),
            &body(&request),
        )?;
        match ctx.format {
            OutputFormat::Json => {
                println!("{}", client.scrub(&serde_json::to_string_pretty(&plan)?))
            }
            OutputFormat::Table => print!("{}", client.scrub(&preview_text(&read(&plan)?))),
        }
        return Ok(ExitCode::SUCCESS);
    }
    request.wait = Some(false);
    let started = client.post(
        &format!("/api/providers/{provider}/import"),
        &body(&request),
    )?;
    let (doc, view) = wait(&client, started)?;
    finish_import(&doc, &view, ctx.format, &client)
}

/// A preview-import answer as text: host objects to create/reuse/update or in
/// conflict, per-key plans, overlays, warnings and blocking problems.
pub fn preview_text(plan: &api::PreviewReport) -> String {
    let mut out = render_fields(&[
        (
            "preview",
            format!("{} ({})", s(&plan.provider_id), s(&plan.pack_id)),
        ),
        ("mode", plan.mode.to_string()),
        ("access_mode", plan.access_mode.to_string()),
        ("host_version", opt(plan.host_version.as_deref())),
        ("platform", plan.platform.platform.to_string()),
    ]);
    out.push_str(&format!("  {}\n", plan.platform.explanation));

    out.push_str("\nhost objects:\n");
    let resources: Vec<Vec<String>> = plan
        .resources
        .iter()
        .map(|r| {
            let id = match r.host_id {
                Some(id) => id.to_string(),
                None => list(&r.candidates),
            };
            vec![
                r.resource_type.to_string(),
                s(&r.name),
                r.action.to_string(),
                id,
                yes_no(r.managed),
                opt(r.reason.as_deref()),
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

    let counts = &plan.counts;
    out.push_str(&format!(
        "\nkeys: {} new, {} duplicate_in_request, {} already_imported\n",
        counts.new, counts.duplicate_in_request, counts.already_imported
    ));
    let keys: Vec<Vec<String>> = plan
        .keys
        .iter()
        .map(|k| {
            let mut note = Vec::new();
            if let Some(line) = k.duplicate_of_line {
                note.push(format!("same key as line {line}"));
            }
            if let Some(status) = &k.account_status {
                note.push(format!("account {status}"));
            }
            if k.hint_mismatch {
                note.push("does not look like this provider's key".into());
            }
            vec![
                k.line.to_string(),
                s(&k.mask),
                k.plan.to_string(),
                s(&k.account_name),
                opt(k.account_id),
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
    if !plan.dropped.is_empty() {
        out.push_str(&format!("  {} line(s) dropped\n", plan.dropped.len()));
    }

    if !plan.overlays.is_empty() {
        out.push_str("\noverlays:\n");
        for overlay in &plan.overlays {
            out.push_str(&format!("  [{}] {}\n", overlay.severity, s(&overlay.note)));
        }
    }
    for (entries, title) in [
        (&plan.warnings, "warnings"),
        (&plan.problems, "problems (the import would fail)"),
    ] {
        if !entries.is_empty() {
            out.push_str(&format!("\n{title}:\n"));
            for entry in entries {
                out.push_str(&format!("  - {}\n", s(entry)));
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
    fn mode_arguments_parse_into_the_domain_vocabularies() {
        use clap::builder::TypedValueParser;
        let cmd = clap::Command::new("relay");
        let access = |v: &str| access_mode_arg().parse_ref(&cmd, None, std::ffi::OsStr::new(v));
        assert_eq!(access("subscription").unwrap(), AccessMode::Subscription);
        assert_eq!(access("self_service").unwrap(), AccessMode::SelfService);
        assert_eq!(access("self-service").unwrap(), AccessMode::SelfService);
        assert!(access("selfservice").is_err());
        let mode = |v: &str| import_mode_arg().parse_ref(&cmd, None, std::ffi::OsStr::new(v));
        assert_eq!(mode("strict").unwrap(), ImportMode::Strict);
        assert_eq!(mode("partial").unwrap(), ImportMode::Partial);
        assert!(mode("Strict").is_err());
    }

    #[test]
    fn a_preview_shows_the_plan() {
        let plan: api::PreviewReport = crate::fixtures::typed(serde_json::json!({
            "pack_id": "openai-cn-pack", "provider_id": "deepseek", "mode": "strict",
            "access_mode": "subscription", "host_version": "0.1.131",
            "platform": {"platform": "openai",
                         "reason": {"kind": "host_too_old", "host_version": "0.1.131", "requirement": ">=0.1.178"},
                         "explanation": "platform openai with forced Chat Completions: the host 0.1.131 predates the native platform (>=0.1.178)"},
            "resources": [
                {"resource_type": "group", "name": "crm-openai-cn-pack-deepseek-sub", "action": "create",
                 "host_id": null, "candidates": [], "managed": false, "reason": null},
                {"resource_type": "channel", "name": "crm-x", "action": "conflict",
                 "host_id": null, "candidates": [4, 5], "managed": false, "reason": "2 channels share the name"}
            ],
            "keys": [
                {"line": 1, "fingerprint": "aa", "mask": "sk-d…aaaa", "plan": "new",
                 "account_name": "deepseek-0a1b2c3d", "account_id": null, "account_status": null,
                 "duplicate_of_line": null, "hint_mismatch": false},
                {"line": 2, "fingerprint": "aa", "mask": "sk-d…aaaa", "plan": "duplicate_in_request",
                 "account_name": "deepseek-0a1b2c3d", "account_id": null, "account_status": null,
                 "duplicate_of_line": 1, "hint_mismatch": false}
            ],
            "counts": {"new": 1, "duplicate_in_request": 1, "already_imported": 0},
            "dropped": [], "overlays": [{"severity": "warning", "note": "old hosts lack plans"}],
            "warnings": [], "problems": ["channel crm-x: several channels share the name"]
        }));
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
