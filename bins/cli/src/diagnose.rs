//! `relay diagnose <PROVIDER> --host H [--pack P] --key-file F|-`: with the operator's
//! consent, probe the vendor directly with one upstream key and compare with what the
//! host saw of the same key. The key is read from a file, sent once, and never printed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};

use crate::client::segment;
use crate::output::{print_failure, render_fields, render_table, text, OutputFormat};
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
    let mut body = json!({ "host_id": args.host, "key": key.trim() });
    if let Some(pack) = &args.pack {
        body["pack_id"] = json!(pack);
    }
    let view = client.post(
        &format!("/api/providers/{}/diagnose", segment(&args.provider)),
        &body,
    )?;
    match ctx.format {
        OutputFormat::Json => println!("{}", client.scrub(&serde_json::to_string_pretty(&view)?)),
        OutputFormat::Table => print!(
            "{}",
            client.scrub(&diagnosis_text(&view, &args.provider, &args.host))
        ),
    }
    let diagnosis = &view["diagnosis"];
    match diagnosis["class"].as_str() {
        Some("ok") => Ok(ExitCode::SUCCESS),
        class => {
            print_failure(
                class.unwrap_or("unknown"),
                &client.scrub(&format!(
                    "{}; fix: {}",
                    text(&diagnosis["summary"]),
                    text(&diagnosis["fix"])
                )),
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A diagnosis as text: class, summary, fix, the vendor's two calls and the host's
/// latest observation of the key.
fn diagnosis_text(view: &Value, provider: &str, host: &str) -> String {
    let d = &view["diagnosis"];
    let vendor = &d["vendor"];
    let mut out = format!(
        "diagnosis of key {} for {provider} on {host}: {}\n",
        text(&vendor["key_mask"]),
        text(&d["class"])
    );
    out.push_str(&render_fields(&[
        ("summary", text(&d["summary"])),
        ("fix", text(&d["fix"])),
    ]));

    out.push_str(&format!(
        "\nvendor {} (model {}, {} ms):\n",
        text(&vendor["endpoints"]["base_url"]),
        text(&vendor["model"]),
        text(&vendor["elapsed_ms"])
    ));
    let rows: Vec<Vec<String>> = [("models", &vendor["models"]), ("chat", &vendor["chat"])]
        .iter()
        .filter(|(_, call)| call.is_object())
        .map(|(name, call)| {
            vec![
                (*name).to_owned(),
                text(&call["url"]),
                text(&call["http_status"]),
                text(&call["ok"]),
                text(&call["duration_ms"]),
                call_result(call),
            ]
        })
        .collect();
    out.push_str(&indent(&render_table(
        &["CALL", "URL", "HTTP", "OK", "MS", "RESULT"],
        &rows,
    )));
    let listed = vendor["models_listed"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    out.push_str(&format!(
        "  models listed: {listed}; {} listed: {}\n",
        text(&vendor["model"]),
        text(&vendor["model_listed"])
    ));
    if let Some(preview) = vendor["chat_preview"].as_str().filter(|p| !p.is_empty()) {
        out.push_str(&format!(
            "  chat preview: {preview:?} (model {})\n",
            text(&vendor["chat_model"])
        ));
    }

    let host_seen = if d["host"].is_object() {
        &d["host"]
    } else {
        &view["host_observation"]
    };
    match host_seen {
        Value::Object(_) => {
            out.push_str(&format!(
                "\nhost ({} {}):\n",
                text(&host_seen["source"]),
                text(&host_seen["subject"])
            ));
            out.push_str(&indent(&render_fields(&[
                ("ok", text(&host_seen["ok"])),
                ("http_status", text(&host_seen["http_status"])),
                ("message", text(&host_seen["message"])),
            ])));
        }
        _ => out.push_str("\nhost: no result of this key on the host to compare with\n"),
    }
    match view["account_id"].as_i64() {
        Some(id) => out.push_str(&format!("managed account of this key: {id}\n")),
        None => out.push_str("managed account of this key: none on this host\n"),
    }
    out
}

/// What one vendor call gave: `ok`, the vendor's error (code, type, message) or the
/// transport failure.
fn call_result(call: &Value) -> String {
    if call["ok"].as_bool() == Some(true) {
        return "ok".into();
    }
    if let Some(error) = call["error"].as_object() {
        let mut parts = Vec::new();
        for field in ["code", "error_type"] {
            if let Some(value) = error.get(field).and_then(Value::as_str) {
                parts.push(value.to_owned());
            }
        }
        let message = error.get("message").and_then(Value::as_str).unwrap_or("");
        return if parts.is_empty() {
            message.to_owned()
        } else {
            format!("{}: {message}", parts.join(" "))
        };
    }
    match call["transport_error"].as_str() {
        Some(error) => format!("no answer: {error}"),
        None => "failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnosis_shows_class_fix_and_evidence() {
        let view = json!({
            "diagnosis": {
                "class": "upstream_key_invalid",
                "summary": "the vendor refused key sk-d…0001 directly: 401 invalid_api_key",
                "fix": "replace the key",
                "vendor": {
                    "endpoints": {"base_url": "https://api.deepseek.com"},
                    "model": "deepseek-flash", "key_mask": "sk-d…0001",
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
        });
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
