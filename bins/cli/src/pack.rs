//! `relay pack validate <DIR|ZIP>` and `relay pack checksum <DIR>`: offline pack commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use relay_pack::{Pack, PackError, Problem};
use serde_json::json;

use crate::output::{print_json, render_table, OutputFormat};

/// Pack subcommands.
#[derive(Debug, Subcommand)]
pub enum PackCommand {
    /// Validate a pack directory or .zip and list its providers (exit 1 when invalid).
    Validate {
        /// Pack directory or .zip file.
        path: PathBuf,
    },
    /// Write checksums.txt for every file of a pack directory.
    Checksum {
        /// Pack directory.
        dir: PathBuf,
    },
}

/// Runs a pack subcommand.
pub fn run(command: PackCommand, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match command {
        PackCommand::Validate { path } => validate(&path, format),
        PackCommand::Checksum { dir } => checksum(&dir, format),
    }
}

fn load(path: &Path) -> Result<Pack, PackError> {
    if path.is_dir() {
        relay_pack::load_dir(path)
    } else {
        relay_pack::load_zip(path)
    }
}

fn validate(path: &Path, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match load(path) {
        Ok(pack) => {
            print_pack(&pack, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(PackError::Invalid(problems)) => {
            print_problems(path, &problems, format)?;
            Ok(ExitCode::FAILURE)
        }
        Err(other) => Err(other).with_context(|| format!("cannot load pack {}", path.display())),
    }
}

fn print_pack(pack: &Pack, format: OutputFormat) -> anyhow::Result<()> {
    let m = &pack.manifest;
    match format {
        OutputFormat::Json => print_json(&json!({
            "valid": true,
            "pack_id": m.pack_id,
            "version": m.version.to_string(),
            "name": m.name,
            "host_compat": m.host_compat.to_string(),
            "source_digest": pack.source_digest,
            "providers": pack.providers.iter().map(|p| json!({
                "provider_id": p.provider_id,
                "display_name": p.display_name,
                "platform": p.platform.as_str(),
                "base_url": p.base_url,
                "smoke_test_model": p.smoke_test_model,
                "default_models": p.default_models,
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Table => {
            println!("pack {} {} ({})", m.pack_id, m.version, m.name);
            println!("host_compat: {}", m.host_compat);
            println!("source_digest: {}", pack.source_digest);
            println!();
            let rows: Vec<Vec<String>> = pack
                .providers
                .iter()
                .map(|p| {
                    vec![
                        p.provider_id.clone(),
                        p.platform.to_string(),
                        p.base_url.clone(),
                        p.smoke_test_model.clone(),
                        p.default_models.len().to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                render_table(
                    &["PROVIDER", "PLATFORM", "BASE_URL", "SMOKE_MODEL", "MODELS"],
                    &rows
                )
            );
            println!("\nvalid: {} provider(s)", pack.providers.len());
            Ok(())
        }
    }
}

fn print_problems(path: &Path, problems: &[Problem], format: OutputFormat) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => print_json(&json!({ "valid": false, "problems": problems })),
        OutputFormat::Table => {
            println!(
                "{}: invalid pack, {} problem(s):",
                path.display(),
                problems.len()
            );
            for problem in problems {
                println!("  {problem}");
            }
            Ok(())
        }
    }
}

fn checksum(dir: &Path, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let content = match relay_pack::write_checksums(dir) {
        Ok(content) => content,
        Err(PackError::Invalid(problems)) => {
            print_problems(dir, &problems, format)?;
            return Ok(ExitCode::FAILURE);
        }
        Err(other) => {
            return Err(other)
                .with_context(|| format!("cannot write checksums for {}", dir.display()))
        }
    };
    let count = content.lines().count();
    let target = dir.join(relay_pack::CHECKSUMS_FILE);
    match format {
        OutputFormat::Json => print_json(&json!({ "path": target, "files": count }))?,
        OutputFormat::Table => println!("wrote {} ({count} files)", target.display()),
    }
    Ok(ExitCode::SUCCESS)
}
