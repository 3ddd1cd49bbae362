//! `relay`: the command-line client of the relay manager.
//!
//! Offline commands (`relay pack …`) work without a server. Commands that talk to the server
//! are added as further variants of [`Command`], each in its own module.

mod output;
mod pack;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::OutputFormat;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "relay",
    version,
    about = "Control plane client for sub2api hosts driven by model packs"
)]
struct Cli {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,

    #[command(subcommand)]
    command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Validate and checksum model packs (offline).
    #[command(subcommand)]
    Pack(pack::PackCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pack(command) => pack::run(command, cli.output),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            output::print_error(cli.output, &error);
            ExitCode::FAILURE
        }
    }
}
