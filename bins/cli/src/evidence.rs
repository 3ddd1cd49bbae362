//! `relay evidence batch <ID> [--out FILE]`, `relay evidence reconcile <RUN> [--out FILE]`,
//! `relay evidence doctor <ID>` and `relay evidence access <ID>`: the server's
//! self-contained evidence document (no secrets), pretty-printed to a file or stdout;
//! `relay evidence operations PROVIDER --host H [--kind doctor|access_closure]` lists the
//! stored doctor runs and access closures whose evidence there is.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use relay_api_types::{OperationList, OperationRecord};

use crate::client::{read, segment};
use crate::input::{is_stdin, usage};
use crate::output::{at, print_json, render_table, OutputFormat};
use crate::Ctx;

/// Evidence subcommands.
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// The evidence document of an import batch.
    Batch {
        /// Batch id.
        id: String,
        /// Write the document to this file instead of stdout ('-' is stdout).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The evidence document of a reconcile run.
    Reconcile {
        /// Run id (`rec_…`).
        run: String,
        /// Write the document to this file instead of stdout ('-' is stdout).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The evidence document of a doctor run.
    Doctor {
        /// Doctor run id (`doc_…`; see `relay evidence operations`).
        id: String,
        /// Write the document to this file instead of stdout ('-' is stdout).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The evidence document of an access closure.
    Access {
        /// Access closure id (`acl_…`; see `relay evidence operations --kind access_closure`).
        id: String,
        /// Write the document to this file instead of stdout ('-' is stdout).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The stored doctor runs (or access closures) of a provider on a host, newest first.
    Operations {
        /// Provider id.
        provider: String,
        /// Host id or name.
        #[arg(long, value_name = "HOST")]
        host: String,
        /// Pack, when the provider id is in several packs.
        #[arg(long, value_name = "PACK")]
        pack: Option<String>,
        /// `doctor` (default) or `access_closure`.
        #[arg(long, value_name = "KIND", default_value = "doctor")]
        kind: String,
    },
}

/// Runs an evidence subcommand.
pub fn run(command: EvidenceCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let (path, what, out) = match command {
        EvidenceCommand::Batch { id, out } => (
            format!("/api/import-batches/{}/evidence", segment(&id)),
            format!("batch {id}"),
            out,
        ),
        EvidenceCommand::Reconcile { run, out } => (
            format!("/api/reconcile-runs/{}/evidence", segment(&run)),
            format!("reconcile run {run}"),
            out,
        ),
        EvidenceCommand::Doctor { id, out } => (
            format!("/api/operations/{}/evidence", segment(&id)),
            format!("doctor run {id}"),
            out,
        ),
        EvidenceCommand::Access { id, out } => (
            format!("/api/operations/{}/evidence", segment(&id)),
            format!("access closure {id}"),
            out,
        ),
        EvidenceCommand::Operations {
            provider,
            host,
            pack,
            kind,
        } => return operations(ctx, &provider, &host, pack.as_deref(), &kind),
    };
    let client = ctx.client()?;
    let doc = client.get(&path, &[])?;
    let mut pretty = client.scrub(&serde_json::to_string_pretty(&doc)?);
    pretty.push('\n');
    match out.filter(|p| !is_stdin(p)) {
        None => print!("{pretty}"),
        Some(file) => {
            write_file(&file, pretty.as_bytes())?;
            match ctx.format {
                OutputFormat::Json => print_json(&json!({
                    "written": file.display().to_string(),
                    "bytes": pretty.len(),
                }))?,
                OutputFormat::Table => println!(
                    "wrote the evidence of {what} to {} ({} bytes)",
                    file.display(),
                    pretty.len()
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists the stored doctor runs or access closures of a provider on a host.
fn operations(
    ctx: &Ctx,
    provider: &str,
    host: &str,
    pack: Option<&str>,
    kind: &str,
) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    let doc = client.get(
        "/api/operations",
        &[
            ("provider", Some(provider)),
            ("host_id", Some(host)),
            ("pack_id", pack),
            ("kind", Some(kind)),
        ],
    )?;
    match ctx.format {
        OutputFormat::Json => print_json(&client.scrub_json(doc))?,
        OutputFormat::Table => {
            let list: OperationList = read(&doc)?;
            print!("{}", client.scrub(&operations_table(&list.operations)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One row per stored operation.
fn operations_table(records: &[OperationRecord]) -> String {
    if records.is_empty() {
        return "no stored operation\n".into();
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.kind.to_string(),
                at(r.started_at),
                r.outcome.to_string(),
                r.error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    render_table(&["ID", "KIND", "STARTED", "OUTCOME", "ERROR"], &rows)
}

/// Writes the document; a file that cannot be written is a usage error naming `--out`.
fn write_file(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let result = std::fs::File::create(file).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    result.map_err(|e| usage(format!("--out {}: cannot write it: {e}", file.display())))
}
