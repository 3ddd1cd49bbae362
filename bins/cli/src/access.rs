//! `relay access status <PROVIDER> --host H [--pack P]`.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use crate::batch::proof_table;
use crate::client::segment;
use crate::output::{print_json, text, OutputFormat};
use crate::Ctx;

/// Access subcommands.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Access status of a provider on a host, with the latest gateway proofs.
    Status {
        /// Provider id.
        provider: String,
        /// Host id or name.
        #[arg(long, value_name = "HOST")]
        host: String,
        /// Pack of the provider (needed when several packs have it).
        #[arg(long, value_name = "PACK")]
        pack: Option<String>,
    },
}

/// Runs an access subcommand.
pub fn run(command: AccessCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let AccessCommand::Status {
        provider,
        host,
        pack,
    } = command;
    let doc = ctx.client()?.get(
        &format!("/api/providers/{}/access/status", segment(&provider)),
        &[("host_id", Some(&host)), ("pack_id", pack.as_deref())],
    )?;
    match ctx.format {
        OutputFormat::Json => print_json(&doc)?,
        OutputFormat::Table => print!("{}", access_text(&provider, &host, &doc)),
    }
    Ok(ExitCode::SUCCESS)
}

/// An access status answer as text.
fn access_text(provider: &str, host: &str, doc: &Value) -> String {
    let mut out = format!(
        "access of {provider} on {host}: {}\n",
        text(&doc["access_status"])
    );
    let proofs: Vec<Value> = ["subscription", "self_service"]
        .iter()
        .filter(|m| doc[**m].is_object())
        .map(|m| doc[*m].clone())
        .collect();
    if proofs.is_empty() {
        out.push_str("no gateway proof recorded yet\n");
    } else {
        out.push_str("gateway proof:\n");
        for line in proof_table(&proofs).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_each_recorded_proof() {
        let doc = json!({
            "access_status": "subscription_ready",
            "subscription": {"mode": "subscription", "probe_key_mask": "sk-u…1234", "models_status": 200,
                             "expected_model_seen": true, "completion_status": 200,
                             "completion_preview": "pong", "access_status": "subscription_ready"},
            "self_service": null
        });
        let out = access_text("deepseek", "main", &doc);
        assert!(out.starts_with("access of deepseek on main: subscription_ready\n"));
        assert!(out.contains("subscription  sk-u…1234  200"), "{out}");
        let none = access_text(
            "deepseek",
            "main",
            &json!({"access_status": "not_configured"}),
        );
        assert!(none.contains("no gateway proof recorded yet"));
    }
}
