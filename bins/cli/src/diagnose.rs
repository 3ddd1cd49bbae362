//! `relay diagnose <PROVIDER> --host H [--pack P] --key-file F|-`: with the operator's
//! consent, probe the vendor directly with one upstream key and compare with what the
//! host saw of the same key. The key is read from a file, sent once, and never printed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use relay_api_types::{DiagnoseRequest, DiagnosisView, UpstreamCall, UpstreamClass};

use crate::client::{body, read, segment};
use crate::output::{opt, print_failure, render_fields, render_table, s, yes_no, OutputFormat};
use crate::reconcile::indent;
use crate::{input, Ctx};

/// Arguments of `relay diagnose`.
#[derive(Debug, Args)]
#[command(
    after_help = "The server calls the vendor's base URL directly with the key (models and one \
                  short chat). Classes: ok, host_compatibility_gap, upstream_key_invalid, \
                  upstream_quota_exhausted, upstream_rate_limited, upstream_unreachable, \
                  upstream_rejected. Exit codes: 0 for ok, 1 otherwise."
)]
pub struct DiagnoseArgs {
    /// Provider id (e.g. deepseek).
    provider: String,
    /// Host id or name.
    #[arg(long, value_name = "HOST")]
    host: String,
    /// Pack of the provider (needed when several packs have it).
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
    /// File with the one upstream key to diagnose ('-' reads stdin).
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,
}

/// Runs `relay diagnose`.
pub fn run(args: DiagnoseArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    input::one_stdin(&[
        ("--token-file", ctx.token_file()),
        ("--key-file", Some(&args.key_file)),
    ])?;
    let mut client = ctx.client()?;
    let key = input::read_secret(&args.key_file, "--key-file")?;
    client.redact(&key);
    let request = DiagnoseRequest {
        host_id: args.host.clone(),
        pack_id: args.pack.clone(),
        key: key.trim().to_owned(),
    };
    let doc = client.post(
        &format!("/api/providers/{}/diagnose", segment(&args.provider)),
        &body(&request),
    )?;
    let view: DiagnosisView = read(&doc)?;
    match ctx.format {
        OutputFormat::Json => println!("{}", client.scrub(&serde_json::to_string_pretty(&doc)?)),
        OutputFormat::Table => print!(
            "{}",
            client.scrub(&diagnosis_text(&view, &args.provider, &args.host))
        ),
    }
    let diagnosis = &view.diagnosis;
    match diagnosis.class {
        UpstreamClass::Ok => Ok(ExitCode::SUCCESS),
        class => {
            print_failure(
                class.as_str(),
                &client.scrub(&format!(
                    "{}; fix: {}",
                    s(&diagnosis.summary),
                    s(&diagnosis.fix)
                )),
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A diagnosis as text: the class and fix, the vendor's answers, what the host saw.
fn diagnosis_text(view: &DiagnosisView, provider: &str, host: &str) -> String {
    let d = &view.diagnosis;
    let vendor = &d.vendor;
    let mut out = format!(
        "diagnosis of key {} for {provider} on {host}: {}\n",
        s(&vendor.key_mask),
        d.class
    );
    out.push_str(&render_fields(&[
        ("summary", s(&d.summary)),
        ("fix", s(&d.fix)),
    ]));

    out.push_str(&format!(
        "\nvendor {} (model {}, {} ms):\n",
        s(&vendor.endpoints.base_url),
        s(&vendor.model),
        vendor.elapsed_ms
    ));
    let rows: Vec<Vec<String>> = [("models", &vendor.models), ("chat", &vendor.chat)]
        .iter()
        .map(|(name, call)| {
            vec![
                (*name).to_owned(),
                s(&call.url),
                opt(call.http_status),
                yes_no(call.ok),
                call.duration_ms.to_string(),
                call_result(call),
            ]
        })
        .collect();
    out.push_str(&indent(&render_table(
        &["CALL", "URL", "HTTP", "OK", "MS", "RESULT"],
        &rows,
    )));
    out.push_str(&format!(
        "  models listed: {}; {} listed: {}\n",
        vendor.models_listed.len(),
        s(&vendor.model),
        yes_no(vendor.model_listed)
    ));
    if !vendor.chat_preview.is_empty() {
        out.push_str(&format!(
            "  chat preview: {:?} (model {})\n",
            vendor.chat_preview,
            opt(vendor.chat_model.as_deref())
        ));
    }

    match d.host.as_ref().or(view.host_observation.as_ref()) {
        Some(seen) => {
            out.push_str(&format!("\nhost ({} {}):\n", seen.source, s(&seen.subject)));
            out.push_str(&indent(&render_fields(&[
                ("ok", yes_no(seen.ok)),
                ("http_status", opt(seen.http_status)),
                ("message", opt(seen.message.as_deref())),
            ])));
        }
        None => out.push_str("\nhost: no result of this key on the host to compare with\n"),
    }
    match view.account_id {
        Some(id) => out.push_str(&format!("managed account of this key: {id}\n")),
        None => out.push_str("managed account of this key: none on this host\n"),
    }
    out
}

/// `ok`, the vendor's error (`code error_type: message`), or the transport error.
fn call_result(call: &UpstreamCall) -> String {
    if call.ok {
        return "ok".into();
    }
    if let Some(error) = &call.error {
        let parts: Vec<&str> = [error.code.as_deref(), error.error_type.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        return if parts.is_empty() {
            error.message.clone()
        } else {
            format!("{}: {}", parts.join(" "), error.message)
        };
    }
    match &call.transport_error {
        Some(error) => format!("no answer: {error}"),
        None => "failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnosis_shows_class_fix_and_evidence() {
        let view: DiagnosisView = crate::fixtures::typed(serde_json::json!({
            "diagnosis": {
                "class": "upstream_key_invalid",
                "summary": "the vendor refused key sk-d…0001 directly: 401 invalid_api_key",
                "fix": "replace the key",
                "vendor": {
                    "endpoints": {"base_url": "https://api.deepseek.com",
                                  "models_url": "https://api.deepseek.com/v1/models",
                                  "chat_url": "https://api.deepseek.com/v1/chat/completions"},
                    "model": "deepseek-flash", "key_mask": "sk-d…0001", "key_fingerprint": "ab",
                    "models": {"url": "https://api.deepseek.com/v1/models", "http_status": 401, "ok": false,
                               "error": {"error_type": "authentication_error", "code": "invalid_api_key",
                                         "message": "Authentication Fails"},
                               "transport_error": null, "duration_ms": 12},
                    "models_listed": [], "model_listed": false,
                    "chat": {"url": "https://api.deepseek.com/v1/chat/completions", "http_status": null, "ok": false,
                             "error": null, "transport_error": "io: connection reset", "duration_ms": 3},
                    "chat_preview": "", "chat_model": null, "elapsed_ms": 15
                },
                "host": {"source": "account_test", "subject": "account:2", "ok": false,
                         "http_status": 401, "message": "API returned 401"}
            },
            "account_id": 2,
            "host_observation": null
        }));
        let out = diagnosis_text(&view, "deepseek", "main");
        assert!(
            out.starts_with(
                "diagnosis of key sk-d…0001 for deepseek on main: upstream_key_invalid\nsummary: "
            ),
            "{out}"
        );
        assert!(out.contains("fix:     replace the key\n"), "{out}");
        assert!(
            out.contains(
                "401   no  12  invalid_api_key authentication_error: Authentication Fails"
            ),
            "{out}"
        );
        assert!(out.contains("no answer: io: connection reset"), "{out}");
        assert!(out.contains("host (account_test account:2):\n"), "{out}");
        assert!(out.contains("  message:     API returned 401\n"), "{out}");
        assert!(out.contains("managed account of this key: 2\n"), "{out}");
    }
}
