//! `relay provider list [--pack P] [--host H]` and, for one provider on one host,
//! `relay provider disable|enable|rollback <PROVIDER> --host H [--pack P]`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use relay_api_types::{ProviderInstallRecord, ProviderList, ProviderSummary, ScopeRequest};
use serde_json::Value;

use crate::batch::rollback_report_text;
use crate::client::{body, read, segment};
use crate::output::{
    opt, opt_at, print_failure, print_json, render_fields, render_table, s, yes_no, OutputFormat,
};
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
    /// Disable a provider on a host: the scheduler stops reconciling it until enabled.
    Disable(Scope),
    /// Enable a disabled provider on a host again.
    Enable(Scope),
    /// Delete every host object recorded for a provider on a host (exit 1 unless the
    /// rollback is complete).
    Rollback(Scope),
}

/// One provider on one host.
#[derive(Debug, Args)]
pub struct Scope {
    /// Provider id (e.g. deepseek).
    provider: String,
    /// Host id or name.
    #[arg(long, value_name = "HOST")]
    host: String,
    /// Pack of the provider (needed when several packs have it).
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
}

impl Scope {
    fn body(&self) -> Value {
        body(&ScopeRequest {
            host_id: self.host.clone(),
            pack_id: self.pack.clone(),
        })
    }

    fn path(&self, action: &str) -> String {
        format!("/api/providers/{}/{action}", segment(&self.provider))
    }
}

/// Runs a provider subcommand.
pub fn run(command: ProviderCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match command {
        ProviderCommand::List { pack, host } => {
            let doc = ctx.client()?.get(
                "/api/providers",
                &[("pack_id", pack.as_deref()), ("host_id", host.as_deref())],
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => print!(
                    "{}",
                    providers_table(&read::<ProviderList>(&doc)?.providers, host.is_some())
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        ProviderCommand::Disable(scope) => set_enabled(&scope, false, ctx),
        ProviderCommand::Enable(scope) => set_enabled(&scope, true, ctx),
        ProviderCommand::Rollback(scope) => {
            let doc = ctx.client()?.post(&scope.path("rollback"), &scope.body())?;
            let report: relay_api_types::RollbackReport = read(&doc)?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    println!("rollback of {} on {}:", scope.provider, scope.host);
                    print!("{}", rollback_report_text(&report));
                }
            }
            if report.complete {
                if ctx.format == OutputFormat::Table {
                    println!("\nrolled back {} on {}", scope.provider, scope.host);
                }
                Ok(ExitCode::SUCCESS)
            } else {
                let remaining = report.remaining.len();
                print_failure(
                    "rollback_incomplete",
                    &format!(
                        "the rollback of {} on {} left {remaining} object(s) on the host (see \
                         `remaining` above); fix the host errors and run it again",
                        scope.provider, scope.host
                    ),
                );
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// `relay provider disable|enable`: prints the provider's install record on the host.
fn set_enabled(scope: &Scope, enabled: bool, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let action = if enabled { "enable" } else { "disable" };
    let doc = ctx.client()?.post(&scope.path(action), &scope.body())?;
    let install: ProviderInstallRecord = read(&doc)?;
    match ctx.format {
        OutputFormat::Json => print_json(&doc)?,
        OutputFormat::Table => {
            println!(
                "{} {} on {}",
                if enabled { "enabled" } else { "disabled" },
                scope.provider,
                scope.host
            );
            print!("{}", install_text(&install));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A provider's install record on a host.
fn install_text(install: &ProviderInstallRecord) -> String {
    render_fields(&[
        ("status", install.status.to_string()),
        ("disabled", yes_no(install.disabled)),
        ("access", install.access_status.to_string()),
        ("message", opt(install.status_message.as_deref())),
        ("last_batch", opt(install.last_batch_id.as_deref())),
        ("reconciled_at", opt_at(install.last_reconcile_at)),
    ])
}

fn providers_table(providers: &[ProviderSummary], on_host: bool) -> String {
    if providers.is_empty() {
        return "no provider (install a pack with `relay pack install`)\n".into();
    }
    let rows: Vec<Vec<String>> = providers
        .iter()
        .map(|p| {
            let mut row = vec![s(&p.pack_id), s(&p.provider_id), s(&p.display_name)];
            if on_host {
                match p.installs.first() {
                    Some(install) => row.extend([
                        install.status.to_string(),
                        install.access_status.to_string(),
                        opt(install.last_batch_id.as_deref()),
                    ]),
                    None => row.extend(["not imported".into(), "-".into(), "-".into()]),
                }
            } else {
                row.extend([
                    p.status.to_string(),
                    s(&p.smoke_test_model),
                    p.default_models.len().to_string(),
                    p.installs.len().to_string(),
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
