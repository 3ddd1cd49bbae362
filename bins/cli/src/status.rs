//! `relay status [--host H]`, `relay status <PROVIDER> --host H [--pack P]` and
//! `relay resources <PROVIDER> --host H [--pack P]`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Args;
use relay_api_types::{
    HostList, ProviderList, ProviderStatusView, ProviderSummary, ResourceList, ResourceRecord,
};

use crate::batch::{proof_table, Proof};
use crate::client::{read, segment, Client};
use crate::output::{
    list, opt, opt_at, print_json, render_fields, render_table, render_value, s, yes_no,
    OutputFormat,
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
                OutputFormat::Table => match read::<ProviderStatusView>(&doc) {
                    Ok(view) => {
                        let names = host_names(&client)?;
                        print!("{}", provider_status_text(&view, &names));
                    }
                    // An answer of another shape is still shown, as it is.
                    Err(_) => {
                        println!("{provider} on {host}");
                        print!("{}", render_value(&doc));
                    }
                },
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
                    let providers = read::<ProviderList>(&doc)?.providers;
                    print!(
                        "{}",
                        overview_table(&providers, &names, args.host.as_deref())
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Host id → name, for tables that would otherwise show ids only.
pub fn host_names(client: &Client) -> anyhow::Result<BTreeMap<String, String>> {
    let hosts: HostList = read(&client.get("/api/hosts", &[])?)?;
    Ok(hosts
        .hosts
        .into_iter()
        .map(|h| (h.record.id, h.record.name))
        .collect())
}

/// One provider's status (`GET /api/providers/{p}/status`): the provider, then per host
/// its status, access, recorded resources and latest gateway proofs.
fn provider_status_text(
    view: &ProviderStatusView,
    host_names: &BTreeMap<String, String>,
) -> String {
    let provider = &view.provider;
    let mut out = render_fields(&[
        (
            "provider",
            format!(
                "{} ({}), {}",
                s(&provider.provider_id),
                s(&provider.pack_id),
                s(&provider.display_name)
            ),
        ),
        ("base_url", s(&provider.base_url)),
        ("smoke_model", s(&provider.smoke_test_model)),
        ("models", list(&provider.default_models)),
    ]);
    if view.hosts.is_empty() {
        out.push_str("\nnot imported on this host yet\n");
    }
    for entry in &view.hosts {
        let install = &entry.install;
        let host_id = s(&install.host_id);
        let name = host_names.get(&host_id).cloned().unwrap_or_default();
        out.push_str(&format!("\nhost {name} ({host_id}):\n"));
        let resources = entry
            .resources
            .iter()
            .map(|(kind, states)| {
                let states = states
                    .iter()
                    .map(|(state, n)| format!("{n} {state}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{kind}: {states}")
            })
            .collect::<Vec<_>>()
            .join("; ");
        let fields = render_fields(&[
            ("status", install.status.to_string()),
            ("access", install.access_status.to_string()),
            ("message", opt(install.status_message.as_deref())),
            ("disabled", yes_no(install.disabled)),
            ("last_batch", opt(install.last_batch_id.as_deref())),
            ("reconciled_at", opt_at(install.last_reconcile_at)),
            ("resources", s(&resources)),
        ]);
        for line in fields.lines() {
            out.push_str(&format!("  {line}\n"));
        }
        let proofs: Vec<Proof<'_>> = [&entry.subscription, &entry.self_service]
            .into_iter()
            .flatten()
            .map(Proof::Closure)
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
    providers: &[ProviderSummary],
    host_names: &BTreeMap<String, String>,
    host: Option<&str>,
) -> String {
    if providers.is_empty() {
        return "no provider (install a pack with `relay pack install`)\n".into();
    }
    let mut rows = Vec::new();
    for p in providers {
        if p.installs.is_empty() {
            rows.push(vec![
                host.unwrap_or("-").to_owned(),
                s(&p.pack_id),
                s(&p.provider_id),
                "not imported".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for install in &p.installs {
            let host_id = s(&install.host_id);
            let host = host_names.get(&host_id).cloned().unwrap_or(host_id);
            let status = if install.disabled {
                format!("{} (disabled)", install.status)
            } else {
                install.status.to_string()
            };
            rows.push(vec![
                host,
                s(&p.pack_id),
                s(&p.provider_id),
                status,
                install.access_status.to_string(),
                opt(install.last_batch_id.as_deref()),
                opt_at(install.last_reconcile_at),
                opt(install.status_message.as_deref()),
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
        OutputFormat::Table => print!(
            "{}",
            resources_table(&read::<ResourceList>(&doc)?.resources)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn resources_table(resources: &[ResourceRecord]) -> String {
    if resources.is_empty() {
        return "no host object recorded\n".into();
    }
    let rows: Vec<Vec<String>> = resources
        .iter()
        .map(|r| {
            vec![
                r.resource_type.to_string(),
                opt(r.host_resource_id),
                s(&r.logical_key),
                r.state.to_string(),
                opt(r.batch_id.as_deref()),
                crate::output::at(r.updated_at),
            ]
        })
        .collect();
    render_table(&["TYPE", "ID", "NAME", "STATE", "BATCH", "UPDATED"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{closure, install, provider, typed};
    use serde_json::json;

    #[test]
    fn the_overview_names_hosts_and_lists_uninstalled_providers() {
        let providers = vec![
            provider(
                "deepseek",
                vec![install(
                    "host_1",
                    json!({"status": "active", "access_status": "subscription_ready",
                           "last_batch_id": "bat_1"}),
                )],
            ),
            provider("qwen", vec![]),
        ];
        let names = BTreeMap::from([("host_1".to_owned(), "main".to_owned())]);
        let out = overview_table(&providers, &names, None);
        assert!(
            out.contains("main  p     deepseek  active        subscription_ready  bat_1"),
            "{out}"
        );
        assert!(out.contains("-     p     qwen      not imported"), "{out}");
        let out = overview_table(&providers, &names, Some("main"));
        assert!(out.contains("main  p     qwen      not imported"), "{out}");
    }

    #[test]
    fn one_provider_shows_each_host_with_resources_and_proof() {
        let view: ProviderStatusView = typed(json!({
            "provider": provider("deepseek", vec![]),
            "hosts": [{
                "install": install("host_1", json!({"status": "active",
                    "access_status": "subscription_ready", "last_batch_id": "bat_1"})),
                "subscription": closure(json!({})),
                "self_service": null,
                "resources": {"account": {"created": 2, "deleted": 1}, "group": {"created": 1}}
            }]
        }));
        let names = BTreeMap::from([("host_1".to_owned(), "main".to_owned())]);
        let out = provider_status_text(&view, &names);
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
        assert!(out.contains("    subscription  sk-u…1234  200"), "{out}");
    }
}
