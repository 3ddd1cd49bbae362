//! `relay`: the command-line client of the relay manager.
//!
//! Offline commands (`relay pack validate|checksum`) work without a server. Every other
//! command is an HTTP client of `relay-server` (`--server` / `RELAY_SERVER`), authenticated
//! with the operator token (`RELAY_TOKEN` or `--token-file`). Secrets are only ever read
//! from files or standard input, never taken as command-line values.
//!
//! Exit codes: 0 success; 1 the operation failed (an error answer, no answer, a batch
//! that ended `failed` or `interrupted`, a watched batch-import run that did not end
//! `succeeded`, a reconcile verdict other than `active`, an
//! unhealthy doctor, a diagnosis other than `ok`, access not ready, an incomplete
//! rollback); 2 usage error.

mod access;
mod audit;
mod batch;
mod batch_import;
mod client;
mod diagnose;
mod doctor;
mod evidence;
#[cfg(test)]
mod fixtures;
mod host;
mod import;
mod input;
mod keys;
mod models;
mod output;
mod pack;
mod provider;
mod reconcile;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::Client;
use crate::input::{usage, UsageError};
use crate::output::OutputFormat;

/// Default address of `relay-server`.
const DEFAULT_SERVER: &str = "http://127.0.0.1:18190";

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "relay",
    version,
    about = "Control plane client for sub2api hosts driven by model packs",
    after_help = "The operator token comes from RELAY_TOKEN or --token-file (the server writes \
                  one to <data-dir>/admin.token). Secrets are read from files, or '-' for stdin."
)]
struct Cli {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,

    /// Base URL of relay-server.
    #[arg(long, global = true, env = "RELAY_SERVER", default_value = DEFAULT_SERVER)]
    server: String,

    /// File holding the operator token (instead of RELAY_TOKEN); '-' reads stdin.
    #[arg(long, global = true, value_name = "FILE", env = "RELAY_TOKEN_FILE")]
    token_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Register, inspect, probe and remove sub2api hosts.
    #[command(subcommand)]
    Host(host::HostCommand),
    /// Install and inspect model packs; validate and checksum them offline.
    #[command(subcommand)]
    Pack(pack::PackCommand),
    /// List providers; disable, enable or roll back a provider on a host.
    #[command(subcommand)]
    Provider(provider::ProviderCommand),
    /// Import upstream keys of a provider into a host (or preview the import).
    Import(import::ImportArgs),
    /// List, inspect, roll back and resume import batches.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// Batch auto-import runs from pasted `<base_url> <key> [model hint]` lines: create,
    /// list, show, items, events, retry, cancel, watch.
    #[command(subcommand, name = "batch-import")]
    BatchImport(batch_import::BatchImportCommand),
    /// Access closure of a provider on a host: status, preview, assign subscriptions.
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// Status of every provider on the hosts, or of one provider on one host.
    Status(status::StatusArgs),
    /// Host objects the manager recorded for a provider on a host.
    Resources(status::ResourcesArgs),
    /// Compare the record with the host, re-test, repair (`relay reconcile PROVIDER
    /// --host H`); list and show runs (`relay reconcile runs|show`).
    Reconcile(reconcile::ReconcileArgs),
    /// Per-key health of a provider on a host: `relay keys list PROVIDER`, `relay keys
    /// show PROVIDER ACCOUNT`.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Check the bindings that make a call work, with fixes; --repair applies the safe ones.
    Doctor(doctor::DoctorArgs),
    /// Probe the vendor directly with one upstream key and name the cause of a failure.
    Diagnose(diagnose::DiagnoseArgs),
    /// A provider's models against the vendor's live model list (drift).
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Evidence documents of import batches, reconcile runs, doctor runs and access
    /// closures (JSON, no secrets).
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// The trail of every host mutation the manager made: time, origin, operation,
    /// object, field: before → after (secrets never shown).
    Audit(audit::AuditArgs),
}

/// What every server command needs: where the server is, the token, the format.
#[derive(Debug)]
pub struct Ctx {
    server: String,
    token_file: Option<PathBuf>,
    /// Output format.
    pub format: OutputFormat,
}

impl Ctx {
    /// The `--token-file` path, when given.
    pub fn token_file(&self) -> Option<&PathBuf> {
        self.token_file.as_ref()
    }

    /// A client of the server, with the operator token. A missing token or a malformed
    /// server URL is a usage error.
    pub fn client(&self) -> anyhow::Result<Client> {
        let server = self.server.trim();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(usage(format!(
                "--server {server:?}: expected an http:// or https:// URL (or set RELAY_SERVER)"
            )));
        }
        let token = match &self.token_file {
            Some(path) => input::read_secret(path, "--token-file")?,
            None => match std::env::var("RELAY_TOKEN") {
                Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
                _ => {
                    return Err(usage(
                        "no operator token: set RELAY_TOKEN or pass --token-file FILE \
                         (relay-server writes one to <data-dir>/admin.token)",
                    ))
                }
            },
        };
        Ok(Client::new(server, token))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Ctx {
        server: cli.server,
        token_file: cli.token_file,
        format: cli.output,
    };
    let result = match cli.command {
        Command::Host(command) => host::run(command, &ctx),
        Command::Pack(command) => pack::run(command, &ctx),
        Command::Provider(command) => provider::run(command, &ctx),
        Command::Import(args) => import::run(args, &ctx),
        Command::Batch(command) => batch::run(command, &ctx),
        Command::BatchImport(command) => batch_import::run(command, &ctx),
        Command::Access(command) => access::run(command, &ctx),
        Command::Status(args) => status::status(args, &ctx),
        Command::Resources(args) => status::resources(args, &ctx),
        Command::Reconcile(args) => reconcile::run(args, &ctx),
        Command::Keys(command) => keys::run(command, &ctx),
        Command::Doctor(args) => doctor::run(args, &ctx),
        Command::Diagnose(args) => diagnose::run(args, &ctx),
        Command::Models(command) => models::run(command, &ctx),
        Command::Evidence(command) => evidence::run(command, &ctx),
        Command::Audit(args) => audit::run(args, &ctx),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            output::print_error(ctx.format, &error);
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
