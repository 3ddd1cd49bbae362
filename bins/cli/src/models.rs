//! `relay models diff PROVIDER --host H [--pack P] [--last] [--key-file F]`: the
//! provider's models compared with the vendor's live list (through the host's upstream
//! model sync; `--key-file` opts into the direct vendor probe where the host cannot
//! list them). Nothing changes on the host. Exit codes: 0 no drift, 1 drift found.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use relay_api_types::{BalanceCheckRecord, ModelsDiff, ModelsDiffRequest, TestCallsRecord};

use crate::client::{body, read, segment, Client};
use crate::output::{opt, render_fields, render_table, OutputFormat};
use crate::{input, Ctx};

/// Model subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Compare a provider's pack models with the vendor's live model list.
    #[command(
        after_help = "added: the vendor lists it, the pack does not name it; retired: the pack \
                      names it, the vendor does not list it; renamed: a retired id whose \
                      successor appeared (same model family, or a pack alias). Nothing changes \
                      on the host; `relay pack propose` writes the pack change. Exit codes: 0 \
                      no drift, 1 drift found."
    )]
    Diff(DiffArgs),
}

/// Which provider, on which host, and how to read the vendor's list.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Provider id (e.g. deepseek).
    pub provider: String,
    /// Host id or name whose managed account is asked.
    #[arg(long, value_name = "HOST")]
    pub host: String,
    /// Pack of the provider (needed when several packs have it).
    #[arg(long, value_name = "PACK")]
    pub pack: Option<String>,
    /// Show the last stored check instead of checking now.
    #[arg(long, conflicts_with = "key_file")]
    pub last: bool,
    /// File with a vendor key for the direct probe, used only where the host cannot
    /// list the models ('-' reads stdin). Sent to the vendor once, never stored.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

impl DiffArgs {
    /// The request body (reads the key file, and tells the client to redact the key).
    pub fn request(&self, ctx: &Ctx, client: &mut Client) -> anyhow::Result<ModelsDiffRequest> {
        let key = match &self.key_file {
            Some(path) => {
                input::one_stdin(&[
                    ("--token-file", ctx.token_file()),
                    ("--key-file", Some(path)),
                ])?;
                let key = input::read_secret(path, "--key-file")?;
                client.redact(&key);
                Some(key.trim().to_owned())
            }
            None => None,
        };
        Ok(ModelsDiffRequest {
            host_id: self.host.clone(),
            pack_id: self.pack.clone(),
            key,
        })
    }
}

/// Runs a models subcommand.
pub fn run(command: ModelsCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let ModelsCommand::Diff(args) = command;
    let mut client = ctx.client()?;
    let path = format!("/api/providers/{}/models/diff", segment(&args.provider));
    let doc = if args.last {
        client.get(
            &path,
            &[
                ("host_id", Some(args.host.as_str())),
                ("pack_id", args.pack.as_deref()),
                ("last", Some("true")),
            ],
        )?
    } else {
        let request = args.request(ctx, &mut client)?;
        client.post(&path, &body(&request))?
    };
    let diff: ModelsDiff = read(&doc)?;
    match ctx.format {
        OutputFormat::Json => println!("{}", client.scrub(&serde_json::to_string_pretty(&doc)?)),
        OutputFormat::Table => print!("{}", client.scrub(&diff_text(&diff))),
    }
    Ok(if diff.drifted {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The check as text: a header, then one row per model that differs.
pub fn diff_text(d: &ModelsDiff) -> String {
    let mut out = render_fields(&[
        ("provider", format!("{}/{}", d.pack_id, d.provider_id)),
        ("host", d.host_id.clone()),
        ("source", d.source.to_string()),
        ("account", opt(d.account_id)),
        ("vendor models", d.upstream_models.len().to_string()),
        ("pack models", d.pack_models.len().to_string()),
        ("vendor calls", d.vendor_calls.to_string()),
        (
            "drifted",
            if d.drifted { "yes".into() } else { "no".into() },
        ),
    ]);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for m in &d.drift.added {
        rows.push(vec![
            "added".into(),
            m.clone(),
            "the vendor lists it; the pack does not".into(),
        ]);
    }
    for m in &d.drift.retired {
        rows.push(vec![
            "retired".into(),
            m.clone(),
            "the vendor no longer lists it".into(),
        ]);
    }
    for r in &d.drift.renamed {
        rows.push(vec![
            "renamed".into(),
            format!("{} → {}", r.from, r.to),
            r.why.clone(),
        ]);
    }
    if rows.is_empty() {
        out.push_str(&format!(
            "no drift: the vendor lists all {} pack models\n",
            d.drift.unchanged.len()
        ));
    } else {
        out.push('\n');
        out.push_str(&render_table(&["CHANGE", "MODEL", "WHY"], &rows));
        out.push_str("\nrelay pack propose writes the pack change for review; nothing changed on the host.\n");
    }
    for n in &d.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

/// Balance checks as a table: key, account, status, balance, note.
pub fn balances_table(checks: &[BalanceCheckRecord]) -> String {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.mask.clone(),
                opt(c.account_id),
                c.status.to_string(),
                c.balance.as_ref().map_or_else(
                    || "-".to_string(),
                    |b| {
                        b.entries
                            .iter()
                            .map(|e| format!("{:.2} {}", e.amount, e.currency))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                ),
                opt(c.note.as_deref()),
            ]
        })
        .collect();
    render_table(&["KEY", "ACCOUNT", "STATUS", "BALANCE", "NOTE"], &rows)
}

/// Test calls on one line.
pub fn test_calls_text(c: &TestCallsRecord) -> String {
    format!(
        "{} ({} account tests, {} gateway model lists, {} gateway chats, {} vendor calls)",
        c.total, c.account_tests, c.gateway_models, c.gateway_chats, c.vendor_calls
    )
}
