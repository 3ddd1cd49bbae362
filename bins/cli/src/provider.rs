//! `relay provider list [--pack P] [--host H]`.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use crate::output::{items, print_json, render_table, text, OutputFormat};
use crate::Ctx;

/// Provider subcommands.
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// List providers of the installed packs (with their state on a host with --host).
    List {
        /// Only the providers of this pack.
        #[arg(long, value_name = "PACK")]
        pack: Option<String>,
        /// Show the providers' state on this host (id or name).
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
    },
}

/// Runs a provider subcommand.
pub fn run(command: ProviderCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let ProviderCommand::List { pack, host } = command;
    let doc = ctx.client()?.get(
        "/api/providers",
        &[("pack_id", pack.as_deref()), ("host_id", host.as_deref())],
    )?;
    match ctx.format {
        OutputFormat::Json => print_json(&doc)?,
        OutputFormat::Table => print!(
            "{}",
            providers_table(items(&doc, "providers"), host.is_some())
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn providers_table(providers: &[Value], on_host: bool) -> String {
    if providers.is_empty() {
        return "no provider (install a pack with `relay pack install`)\n".into();
    }
    let rows: Vec<Vec<String>> = providers
        .iter()
        .map(|p| {
            let mut row = vec![
                text(&p["pack_id"]),
                text(&p["provider_id"]),
                text(&p["display_name"]),
            ];
            if on_host {
                match items(p, "installs").first() {
                    Some(install) => row.extend([
                        text(&install["status"]),
                        text(&install["access_status"]),
                        text(&install["last_batch_id"]),
                    ]),
                    None => row.extend(["not imported".into(), "-".into(), "-".into()]),
                }
            } else {
                row.extend([
                    text(&p["status"]),
                    text(&p["smoke_test_model"]),
                    items(p, "default_models").len().to_string(),
                    items(p, "installs").len().to_string(),
                ]);
            }
            row
        })
        .collect();
    let headers: &[&str] = if on_host {
        &["PACK", "PROVIDER", "NAME", "STATUS", "ACCESS", "LAST_BATCH"]
    } else {
        &[
            "PACK",
            "PROVIDER",
            "NAME",
            "STATUS",
            "SMOKE_MODEL",
            "MODELS",
            "HOSTS",
        ]
    };
    render_table(headers, &rows)
}
