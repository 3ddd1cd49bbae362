//! `relay keys list|show <PROVIDER> [--host H] [--pack P]`: per-key health of a
//! provider on a host (state, failures in the window, last cause, since), and one key's
//! window of failures and disable/enable history.

use std::process::ExitCode;

use clap::Subcommand;
use relay_api_types::{
    HostList, KeyHealthDetail, KeyHealthList, KeyHealthPolicy, KeyHealthSummary,
};

use crate::client::{read, segment, Client};
use crate::input::usage;
use crate::output::{at, opt, opt_at, print_json, render_table, OutputFormat};
use crate::Ctx;

/// Key health subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The provider's keys on a host: account, key mask, state, failures in the
    /// window, last failure cause, since.
    List {
        /// Provider id.
        provider: String,
        /// Host id or name (default: the only registered host).
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Pack of the provider (needed when several packs have it).
        #[arg(long, value_name = "PACK")]
        pack: Option<String>,
    },
    /// One key: its window of failures (time, cause, message) and its disable and
    /// re-enable history.
    Show {
        /// Provider id.
        provider: String,
        /// Host account id of the key.
        account: i64,
        /// Host id or name (default: the only registered host).
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Pack of the provider (needed when several packs have it).
        #[arg(long, value_name = "PACK")]
        pack: Option<String>,
    },
}

/// The host to ask about: `--host`, else the only registered host.
fn host_or_only(client: &Client, host: Option<String>) -> anyhow::Result<String> {
    if let Some(h) = host {
        return Ok(h);
    }
    let hosts: HostList = read(&client.get("/api/hosts", &[])?)?;
    match hosts.hosts.as_slice() {
        [one] => Ok(one.record.id.clone()),
        [] => Err(usage(
            "no host is registered: add one with `relay host add`",
        )),
        _ => Err(usage("several hosts are registered: name one with --host")),
    }
}

/// Runs a keys subcommand.
pub fn run(command: KeysCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match command {
        KeysCommand::List {
            provider,
            host,
            pack,
        } => {
            let host = host_or_only(&client, host)?;
            let doc = client.get(
                &format!("/api/providers/{}/keys", segment(&provider)),
                &[("host_id", Some(&host)), ("pack_id", pack.as_deref())],
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => print!("{}", list_text(&read(&doc)?)),
            }
        }
        KeysCommand::Show {
            provider,
            account,
            host,
            pack,
        } => {
            let host = host_or_only(&client, host)?;
            let doc = client.get(
                &format!("/api/providers/{}/keys/{account}", segment(&provider)),
                &[("host_id", Some(&host)), ("pack_id", pack.as_deref())],
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => print!("{}", show_text(&read(&doc)?)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn policy_text(p: &KeyHealthPolicy) -> String {
    format!(
        "a key is taken out of scheduling after {} failures within {} (rate limits not counted)",
        p.max_failures,
        window(p.window_secs)
    )
}

fn window(secs: u64) -> String {
    if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

fn last_cause(k: &KeyHealthSummary) -> String {
    opt(k.last_failure.as_ref().map(|f| f.cause))
}

fn list_text(doc: &KeyHealthList) -> String {
    let mut out = format!(
        "keys of {} on {}: {}\n",
        doc.provider_id,
        doc.host_id,
        policy_text(&doc.policy)
    );
    if doc.keys.is_empty() {
        out.push_str("no key checked yet: run `relay reconcile` first\n");
        return out;
    }
    let rows: Vec<Vec<String>> = doc
        .keys
        .iter()
        .map(|k| {
            vec![
                k.account_id.to_string(),
                opt(k.key_mask.as_deref()),
                k.state.to_string(),
                format!("{}/{}", k.failures_in_window, doc.policy.max_failures),
                k.rate_limits_in_window.to_string(),
                last_cause(k),
                at(k.since),
            ]
        })
        .collect();
    out.push_str(&render_table(
        &[
            "ACCOUNT",
            "KEY",
            "STATE",
            "FAILURES",
            "RATE LIMITS",
            "LAST CAUSE",
            "SINCE",
        ],
        &rows,
    ));
    out
}

fn show_text(doc: &KeyHealthDetail) -> String {
    let k = &doc.key;
    let mut out = format!(
        "key {} (account {}) of {} on {}: {}\n",
        opt(k.key_mask.as_deref()),
        k.account_id,
        doc.provider_id,
        doc.host_id,
        k.state
    );
    out.push_str(&format!("since: {}\n", at(k.since)));
    out.push_str(&format!("checked: {}\n", at(k.checked_at)));
    out.push_str(&format!("last pass: {}\n", opt_at(doc.last_pass_at)));
    out.push_str(&format!(
        "failures in window: {}/{} (rate limits: {})\n",
        k.failures_in_window, doc.policy.max_failures, k.rate_limits_in_window
    ));
    if let Some(c) = k.disabled_cause {
        out.push_str(&format!("disabled for: {c}\n"));
    }
    out.push_str(&format!("policy: {}\n", policy_text(&doc.policy)));
    if doc.failures.is_empty() {
        out.push_str("failures: none\n");
    } else {
        out.push_str("failures:\n");
        let rows: Vec<Vec<String>> = doc
            .failures
            .iter()
            .map(|f| vec![at(f.at), f.cause.to_string(), opt(f.message.as_deref())])
            .collect();
        for line in render_table(&["AT", "CAUSE", "MESSAGE"], &rows).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if doc.events.is_empty() {
        out.push_str("history: none\n");
    } else {
        out.push_str("history:\n");
        let rows: Vec<Vec<String>> = doc
            .events
            .iter()
            .map(|e| vec![at(e.at), e.action.to_string(), opt(e.cause), e.note.clone()])
            .collect();
        for line in render_table(&["AT", "ACTION", "CAUSE", "NOTE"], &rows).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::typed;
    use serde_json::json;

    fn key(state: &str, failures: u64) -> serde_json::Value {
        json!({
            "account_id": 42, "fingerprint": null, "key_mask": "sk-a…ab12", "state": state,
            "since": 1_800_000_000_000_i64, "checked_at": 1_800_000_000_000_i64,
            "failures_in_window": failures, "rate_limits_in_window": 1,
            "last_failure": {"at": 1_800_000_000_000_i64, "cause": "auth", "message": "401"},
            "disabled_cause": if state == "disabled_by_manager" { json!("auth") } else { json!(null) }
        })
    }

    #[test]
    fn the_list_shows_state_failures_and_cause() {
        let doc: KeyHealthList = typed(json!({
            "host_id": "host_1", "pack_id": "p", "provider_id": "deepseek",
            "policy": {"max_failures": 3, "window_secs": 3600},
            "keys": [key("disabled_by_manager", 3)]
        }));
        let out = list_text(&doc);
        assert!(out.contains("after 3 failures within 1h"), "{out}");
        let row = out.lines().find(|l| l.starts_with("42")).expect("a row");
        for cell in ["sk-a…ab12", "disabled_by_manager", "3/3", "auth"] {
            assert!(row.contains(cell), "{row}");
        }
        let empty: KeyHealthList = typed(json!({
            "host_id": "host_1", "pack_id": "p", "provider_id": "deepseek",
            "policy": {"max_failures": 3, "window_secs": 3600}, "keys": []
        }));
        assert!(list_text(&empty).contains("no key checked yet"));
    }

    #[test]
    fn show_lists_failures_and_history() {
        let doc: KeyHealthDetail = typed(json!({
            "host_id": "host_1", "pack_id": "p", "provider_id": "deepseek",
            "policy": {"max_failures": 3, "window_secs": 1800},
            "key": key("disabled_by_operator", 0),
            "last_pass_at": null,
            "failures": [{"at": 1_800_000_000_000_i64, "cause": "auth", "message": "401"}],
            "events": [{"at": 1_800_000_000_000_i64, "action": "operator_disabled", "cause": null,
                        "note": "taken out of scheduling on the host by hand"}]
        }));
        let out = show_text(&doc);
        assert!(
            out.contains("(account 42) of deepseek on host_1: disabled_by_operator"),
            "{out}"
        );
        assert!(out.contains("within 30m"), "{out}");
        assert!(out.contains("operator_disabled"), "{out}");
        assert!(out.contains("by hand"), "{out}");
        assert!(out.contains("auth"), "{out}");
    }
}
