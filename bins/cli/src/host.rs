//! `relay host add|list|show|probe|set-credentials|rm`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use relay_api_types::{CreateHostRequest, Host, HostAuth, HostDeleted, HostList};
use serde_json::{json, Value};

use crate::client::{body, read, segment};
use crate::output::{
    at, list, opt, opt_at, print_json, render_fields, render_table, s, OutputFormat,
};
use crate::{input, Ctx};

/// Host subcommands.
#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Register a host: check its URL and admin credentials, detect its version and
    /// capabilities. Give --api-key-file, or --email with --password-file.
    Add {
        /// Unique name of the host (used instead of its id in other commands).
        name: String,
        /// Base URL of the sub2api host, e.g. https://relay.example.com.
        #[arg(long, value_name = "URL")]
        url: String,
        /// File holding the host's admin API key ('-' reads stdin).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "email",
            conflicts_with_all = ["email", "password_file"]
        )]
        api_key_file: Option<PathBuf>,
        /// Admin e-mail, to log in with --password-file instead of an API key.
        #[arg(long, value_name = "EMAIL", requires = "password_file")]
        email: Option<String>,
        /// File holding the admin password ('-' reads stdin).
        #[arg(long, value_name = "FILE", requires = "email")]
        password_file: Option<PathBuf>,
    },
    /// List registered hosts.
    List,
    /// Show one host (id or name).
    Show {
        /// Host id or name.
        host: String,
    },
    /// Probe a host again: version, capabilities, status.
    Probe {
        /// Host id or name.
        host: String,
    },
    /// Replace a host's admin credentials (after a leak, or as routine): the server
    /// checks the new ones against the host with a read-only probe, then seals them in
    /// place of the old ones; nothing changes when the host refuses them. Give
    /// --api-key-file, or --email with --password-file. Revoke the old key afterwards.
    SetCredentials {
        /// Host id or name.
        host: String,
        /// File holding the host's new admin API key ('-' reads stdin).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "email",
            conflicts_with_all = ["email", "password_file"]
        )]
        api_key_file: Option<PathBuf>,
        /// Admin e-mail, to log in with --password-file instead of an API key.
        #[arg(long, value_name = "EMAIL", requires = "password_file")]
        email: Option<String>,
        /// File holding the admin password ('-' reads stdin).
        #[arg(long, value_name = "FILE", requires = "email")]
        password_file: Option<PathBuf>,
    },
    /// Remove a host the manager no longer tracks anything on.
    Rm {
        /// Host id or name.
        host: String,
    },
}

/// Runs a host subcommand.
pub fn run(command: HostCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if let HostCommand::Add {
        api_key_file,
        password_file,
        ..
    }
    | HostCommand::SetCredentials {
        api_key_file,
        password_file,
        ..
    } = &command
    {
        input::one_stdin(&[
            ("--token-file", ctx.token_file()),
            ("--api-key-file", api_key_file.as_ref()),
            ("--password-file", password_file.as_ref()),
        ])?;
    }
    let mut client = ctx.client()?;
    let doc = match command {
        HostCommand::Add {
            name,
            url,
            api_key_file,
            email,
            password_file,
        } => {
            let auth = auth_body(&mut client, api_key_file, email, password_file)?;
            let host = client.post(
                "/api/hosts",
                &body(&CreateHostRequest {
                    name,
                    base_url: url,
                    auth,
                }),
            )?;
            print_host(&host, ctx.format, Some("registered"))?;
            return Ok(ExitCode::SUCCESS);
        }
        HostCommand::List => {
            let doc = client.get("/api/hosts", &[])?;
            if ctx.format == OutputFormat::Table {
                print!("{}", hosts_table(&read::<HostList>(&doc)?.hosts));
                return Ok(ExitCode::SUCCESS);
            }
            doc
        }
        HostCommand::Show { host } => {
            let doc = client.get(&format!("/api/hosts/{}", segment(&host)), &[])?;
            print_host(&doc, ctx.format, None)?;
            return Ok(ExitCode::SUCCESS);
        }
        HostCommand::Probe { host } => {
            let doc = client.post(&format!("/api/hosts/{}/probe", segment(&host)), &json!({}))?;
            print_host(&doc, ctx.format, Some("probed"))?;
            return Ok(ExitCode::SUCCESS);
        }
        HostCommand::SetCredentials {
            host,
            api_key_file,
            email,
            password_file,
        } => {
            let auth = auth_body(&mut client, api_key_file, email, password_file)?;
            let doc = client.put(
                &format!("/api/hosts/{}/credentials", segment(&host)),
                &body(&auth),
            )?;
            print_host(&doc, ctx.format, Some("credentials replaced for"))?;
            return Ok(ExitCode::SUCCESS);
        }
        HostCommand::Rm { host } => {
            let doc = client.delete(&format!("/api/hosts/{}", segment(&host)))?;
            if ctx.format == OutputFormat::Table {
                let gone: HostDeleted = read(&doc)?;
                println!("removed host {} ({})", s(&gone.name), s(&gone.host_id));
                return Ok(ExitCode::SUCCESS);
            }
            doc
        }
    };
    print_json(&doc)?;
    Ok(ExitCode::SUCCESS)
}

/// The `auth` body from the credential flags; the secret read is registered for
/// redaction.
fn auth_body(
    client: &mut crate::client::Client,
    api_key_file: Option<PathBuf>,
    email: Option<String>,
    password_file: Option<PathBuf>,
) -> anyhow::Result<HostAuth> {
    match (api_key_file, email, password_file) {
        (Some(file), _, _) => {
            let api_key = input::read_secret(&file, "--api-key-file")?;
            client.redact(&api_key);
            Ok(HostAuth::ApiKey { api_key })
        }
        (None, Some(email), Some(file)) => {
            let password = input::read_secret(&file, "--password-file")?;
            client.redact(&password);
            Ok(HostAuth::Login { email, password })
        }
        _ => Err(input::usage(
            "give --api-key-file FILE, or --email EMAIL with --password-file FILE",
        )),
    }
}

fn hosts_table(hosts: &[Host]) -> String {
    if hosts.is_empty() {
        return "no host registered (add one with `relay host add`)\n".into();
    }
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .map(|Host { record: h, .. }| {
            vec![
                s(&h.id),
                s(&h.name),
                s(&h.base_url),
                opt(h.version.as_deref()),
                h.status.to_string(),
                opt_at(h.last_probe_at),
            ]
        })
        .collect();
    render_table(
        &["ID", "NAME", "BASE_URL", "VERSION", "STATUS", "LAST_PROBE"],
        &rows,
    )
}

fn print_host(doc: &Value, format: OutputFormat, verb: Option<&str>) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        return print_json(doc);
    }
    let host: Host = read(doc)?;
    if let Some(verb) = verb {
        println!(
            "{verb} host {} ({})",
            s(&host.record.name),
            s(&host.record.id)
        );
    }
    print!("{}", host_text(&host));
    Ok(())
}

/// A host as `key: value` lines, capabilities and problems.
pub fn host_text(host: &Host) -> String {
    let h = &host.record;
    let present: Vec<&str> = host
        .capabilities
        .iter()
        .filter(|(_, v)| **v)
        .map(|(k, _)| k.as_str())
        .collect();
    let missing: Vec<&str> = host
        .capabilities
        .iter()
        .filter(|(_, v)| !**v)
        .map(|(k, _)| k.as_str())
        .collect();
    let mut auth = h.auth_kind.to_string();
    if let Some(email) = &h.admin_email {
        auth = format!("{auth} ({})", s(email));
    }
    let mut fields = vec![
        ("id", s(&h.id)),
        ("name", s(&h.name)),
        ("base_url", s(&h.base_url)),
        ("auth", auth),
        ("version", opt(h.version.as_deref())),
        ("status", h.status.to_string()),
        ("last_probe_at", opt_at(h.last_probe_at)),
        ("created_at", at(h.created_at)),
    ];
    if !host.capabilities.is_empty() {
        fields.push(("capabilities", list(&present)));
        fields.push(("missing", list(&missing)));
    }
    let mut out = render_fields(&fields);
    if !host.problems.is_empty() {
        out.push_str("problems:\n");
        for problem in &host.problems {
            out.push_str(&format!("  - {}\n", s(problem)));
        }
    }
    out
}
