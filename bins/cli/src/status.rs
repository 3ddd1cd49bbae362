//! `relay status [--host H]`, `relay status <PROVIDER> --host H [--pack P]` and
//! `relay resources <PROVIDER> --host H [--pack P]`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::batch::proof_table;
use crate::client::{segment, Client};
use crate::output::{
    items, print_json, render_fields, render_table, render_value, text, time, OutputFormat,
};
use crate::Ctx;

/// Arguments of `relay status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One provider (needs --host); without it, every provider.
    #[arg(requires = "host")]
    provider: Option<String>,
    /// Host id or name (for all providers: only this host).
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// Pack of the provider(s).
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
}

/// Arguments of `relay resources`.
#[derive(Debug, Args)]
pub struct ResourcesArgs {
    /// Provider id.
    provider: String,
    /// Host id or name.
    #[arg(long, value_name = "HOST")]
    host: String,
    /// Pack of the provider (needed when several packs have it).
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
}

/// Runs `relay status`.
pub fn status(args: StatusArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match (&args.provider, &args.host) {
        (Some(provider), Some(host)) => {
            let doc = client.get(
                &format!("/api/providers/{}/status", segment(provider)),
                &[("host_id", Some(host)), ("pack_id", args.pack.as_deref())],
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table if doc["provider"].is_object() => {
                    let names = host_names(&client)?;
                    print!("{}", provider_status_text(&doc, &names));
                }
                OutputFormat::Table => {
                    println!("{provider} on {host}");
                    print!("{}", render_value(&doc));
                }
            }
        }
        _ => {
            let doc = client.get(
                "/api/providers",
                &[
                    ("host_id", args.host.as_deref()),
                    ("pack_id", args.pack.as_deref()),
                ],
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    let names = host_names(&client)?;
                    print!(
                        "{}",
                        overview_table(items(&doc, "providers"), &names, args.host.as_deref())
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Host id → name, for tables that would otherwise show ids only.
pub fn host_names(client: &Client) -> anyhow::Result<BTreeMap<String, String>> {
    let hosts = client.get("/api/hosts", &[])?;
    Ok(items(&hosts, "hosts")
        .iter()
        .map(|h| (text(&h["id"]), text(&h["name"])))
        .collect())
}

/// One provider's status (`GET /api/providers/{p}/status`): the provider, then per host
/// its status, access, recorded resources and latest gateway proofs.
fn provider_status_text(doc: &Value, host_names: &BTreeMap<String, String>) -> String {
    let provider = &doc["provider"];
    let mut out = render_fields(&[
        (
            "provider",
            format!(
                "{} ({}), {}",
                text(&provider["provider_id"]),
                text(&provider["pack_id"]),
                text(&provider["display_name"])
            ),
        ),
        ("base_url", text(&provider["base_url"])),
        ("smoke_model", text(&provider["smoke_test_model"])),
        ("models", text(&provider["default_models"])),
    ]);
    let hosts = items(doc, "hosts");
    if hosts.is_empty() {
        out.push_str("\nnot imported on this host yet\n");
    }
    for entry in hosts {
        let install = &entry["install"];
        let host_id = text(&install["host_id"]);
        let name = host_names.get(&host_id).cloned().unwrap_or_default();
        out.push_str(&format!("\nhost {name} ({host_id}):\n"));
        let resources = entry["resources"]
            .as_object()
            .map(|by_type| {
                by_type
                    .iter()
                    .map(|(kind, states)| {
                        let states = states
                            .as_object()
                            .map(|m| {
                                m.iter()
                                    .map(|(state, n)| format!("{} {state}", text(n)))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            })
                            .unwrap_or_default();
                        format!("{kind}: {states}")
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let fields = render_fields(&[
            ("status", text(&install["status"])),
            ("access", text(&install["access_status"])),
            ("message", text(&install["status_message"])),
            ("disabled", text(&install["disabled"])),
            ("last_batch", text(&install["last_batch_id"])),
            ("reconciled_at", time(&install["last_reconcile_at"])),
            (
                "resources",
                if resources.is_empty() {
                    "-".into()
                } else {
                    resources
                },
            ),
        ]);
        for line in fields.lines() {
            out.push_str(&format!("  {line}\n"));
        }
        let proofs: Vec<Value> = ["subscription", "self_service"]
            .iter()
            .filter(|m| entry[**m].is_object())
            .map(|m| entry[*m].clone())
            .collect();
        if !proofs.is_empty() {
            out.push_str("  gateway proof:\n");
            for line in proof_table(&proofs).lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    out
}

/// One row per provider and host it is on; providers on no host (on `host`, when the
/// listing is for one host) get one row.
fn overview_table(
    providers: &[Value],
    host_names: &BTreeMap<String, String>,
    host: Option<&str>,
) -> String {
    if providers.is_empty() {
        return "no provider (install a pack with `relay pack install`)\n".into();
    }
    let mut rows = Vec::new();
    for p in providers {
        let installs = items(p, "installs");
        if installs.is_empty() {
            rows.push(vec![
                host.unwrap_or("-").to_owned(),
                text(&p["pack_id"]),
                text(&p["provider_id"]),
                "not imported".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for install in installs {
            let host_id = text(&install["host_id"]);
            let host = host_names.get(&host_id).cloned().unwrap_or(host_id);
            let status = if install["disabled"].as_bool() == Some(true) {
                format!("{} (disabled)", text(&install["status"]))
            } else {
                text(&install["status"])
            };
            rows.push(vec![
                host,
                text(&p["pack_id"]),
                text(&p["provider_id"]),
                status,
                text(&install["access_status"]),
                text(&install["last_batch_id"]),
                time(&install["last_reconcile_at"]),
                text(&install["status_message"]),
            ]);
        }
    }
    render_table(
        &[
            "HOST",
            "PACK",
            "PROVIDER",
            "STATUS",
            "ACCESS",
            "LAST_BATCH",
            "RECONCILED",
            "MESSAGE",
        ],
        &rows,
    )
}

/// Runs `relay resources`.
pub fn resources(args: ResourcesArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let doc = ctx.client()?.get(
        &format!("/api/providers/{}/resources", segment(&args.provider)),
        &[
            ("host_id", Some(&args.host)),
            ("pack_id", args.pack.as_deref()),
        ],
    )?;
    match ctx.format {
        OutputFormat::Json => print_json(&doc)?,
        OutputFormat::Table => print!("{}", resources_table(items(&doc, "resources"))),
    }
    Ok(ExitCode::SUCCESS)
}

fn resources_table(resources: &[Value]) -> String {
    if resources.is_empty() {
        return "no host object recorded\n".into();
    }
    let rows: Vec<Vec<String>> = resources
        .iter()
        .map(|r| {
            vec![
                text(&r["resource_type"]),
                text(&r["host_resource_id"]),
                text(&r["logical_key"]),
                text(&r["state"]),
                text(&r["batch_id"]),
                time(&r["updated_at"]),
            ]
        })
        .collect();
    render_table(&["TYPE", "ID", "NAME", "STATE", "BATCH", "UPDATED"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_overview_names_hosts_and_lists_uninstalled_providers() {
        let providers = json!([
            {"pack_id": "p", "provider_id": "deepseek", "installs": [
                {"host_id": "host_1", "status": "active", "access_status": "subscription_ready",
                 "last_batch_id": "bat_1", "last_reconcile_at": null, "status_message": null, "disabled": false}
            ]},
            {"pack_id": "p", "provider_id": "qwen", "installs": []}
        ]);
        let names = BTreeMap::from([("host_1".to_owned(), "main".to_owned())]);
        let out = overview_table(providers.as_array().unwrap(), &names, None);
        assert!(
            out.contains("main  p     deepseek  active        subscription_ready  bat_1"),
            "{out}"
        );
        assert!(out.contains("-     p     qwen      not imported"), "{out}");
        let out = overview_table(providers.as_array().unwrap(), &names, Some("main"));
        assert!(out.contains("main  p     qwen      not imported"), "{out}");
    }

    #[test]
    fn one_provider_shows_each_host_with_resources_and_proof() {
        let doc = json!({
            "provider": {"pack_id": "p", "provider_id": "deepseek", "display_name": "DeepSeek",
                         "base_url": "https://api.deepseek.com", "smoke_test_model": "deepseek-flash",
                         "default_models": ["deepseek-flash", "deepseek-v4-pro"], "installs": []},
            "hosts": [{
                "install": {"host_id": "host_1", "status": "active", "access_status": "subscription_ready",
                            "status_message": null, "disabled": false, "last_batch_id": "bat_1",
                            "last_reconcile_at": null},
                "subscription": {"mode": "subscription", "probe_key_mask": "sk-c…671c", "models_status": 200,
                                 "expected_model_seen": true, "completion_status": 200,
                                 "completion_preview": "pong", "access_status": "subscription_ready"},
                "self_service": null,
                "resources": {"account": {"created": 2, "deleted": 1}, "group": {"created": 1}}
            }]
        });
        let names = BTreeMap::from([("host_1".to_owned(), "main".to_owned())]);
        let out = provider_status_text(&doc, &names);
        assert!(
            out.starts_with("provider:    deepseek (p), DeepSeek\n"),
            "{out}"
        );
        assert!(
            out.contains("models:      deepseek-flash, deepseek-v4-pro\n"),
            "{out}"
        );
        assert!(
            out.contains("\nhost main (host_1):\n  status:        active\n"),
            "{out}"
        );
        assert!(
            out.contains("  resources:     account: 2 created, 1 deleted; group: 1 created\n"),
            "{out}"
        );
        assert!(out.contains("  gateway proof:\n    MODE "), "{out}");
        assert!(out.contains("    subscription  sk-c…671c  200"), "{out}");
    }
}
