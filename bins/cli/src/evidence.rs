//! `relay evidence batch <ID> [--out FILE]` and `relay evidence reconcile <RUN> [--out FILE]`:
//! the server's self-contained evidence document (no secrets), pretty-printed to a file
//! or stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use crate::client::segment;
use crate::input::{is_stdin, usage};
use crate::output::{print_json, OutputFormat};
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

/// Writes the document; a file that cannot be written is a usage error naming `--out`.
fn write_file(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let result = std::fs::File::create(file).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    result.map_err(|e| usage(format!("--out {}: cannot write it: {e}", file.display())))
}
