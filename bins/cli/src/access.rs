//! `relay access status|preview|assign <PROVIDER> --host H [--pack P] …`: the access
//! closure of a provider on a host (who can call it through the gateway, and the proof).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use crate::batch::proof_table;
use crate::client::segment;
use crate::import::AccessMode;
use crate::output::{
    items, print_failure, print_json, render_fields, render_table, text, OutputFormat,
};
use crate::reconcile::indent;
use crate::{input, Ctx};

/// Access statuses in which users can call the provider.
const READY: [&str; 3] = ["subscription_ready", "self_service_ready", "fully_ready"];

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
    /// What an access closure would do, read-only: the group, each subscriber, the
    /// probe key (exit 1 when it names problems).
    Preview {
        /// Provider id.
        provider: String,
        /// Host id or name.
        #[arg(long, value_name = "HOST")]
        host: String,
        /// Pack of the provider (needed when several packs have it).
        #[arg(long, value_name = "PACK")]
        pack: Option<String>,
        /// The access mode to preview: subscription (default) or self_service.
        #[arg(long = "access", value_enum, value_name = "MODE")]
        access_mode: Option<AccessMode>,
        /// Subscriber by e-mail; repeatable.
        #[arg(long = "subscriber", value_name = "EMAIL")]
        subscribers: Vec<String>,
        /// Subscriber by existing host user id; repeatable.
        #[arg(long = "subscriber-id", value_name = "ID")]
        subscriber_ids: Vec<i64>,
        /// File with a user key bound to the provider's group, checked for the
        /// self-service proof ('-' reads stdin).
        #[arg(long, value_name = "FILE")]
        probe_key_file: Option<PathBuf>,
    },
    /// Assign subscriptions to the provider's subscription group and prove access
    /// through the gateway (exit 0 when access is ready).
    Assign {
        /// Provider id.
        provider: String,
        /// Host id or name.
        #[arg(long, value_name = "HOST")]
        host: String,
        /// Pack of the provider (needed when several packs have it).
        #[arg(long, value_name = "PACK")]
        pack: Option<String>,
        /// Subscriber by e-mail (a managed user is found or created); repeatable.
        #[arg(long = "subscriber", value_name = "EMAIL")]
        subscribers: Vec<String>,
        /// Subscriber by existing host user id; repeatable.
        #[arg(long = "subscriber-id", value_name = "ID")]
        subscriber_ids: Vec<i64>,
        /// Subscription validity in days.
        #[arg(long, value_name = "N")]
        days: Option<u32>,
    },
}

/// The `subscribers` array of a request: e-mails, then host user ids.
fn subscribers_body(emails: &[String], ids: &[i64]) -> Value {
    Value::Array(
        emails
            .iter()
            .map(|email| json!({ "email": email }))
            .chain(ids.iter().map(|id| json!({ "user_id": id })))
            .collect(),
    )
}

/// Runs an access subcommand.
pub fn run(command: AccessCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match command {
        AccessCommand::Status {
            provider,
            host,
            pack,
        } => {
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
        AccessCommand::Preview {
            provider,
            host,
            pack,
            access_mode,
            subscribers,
            subscriber_ids,
            probe_key_file,
        } => {
            input::one_stdin(&[
                ("--token-file", ctx.token_file()),
                ("--probe-key-file", probe_key_file.as_ref()),
            ])?;
            let mut client = ctx.client()?;
            let mut body = json!({
                "host_id": host,
                "subscribers": subscribers_body(&subscribers, &subscriber_ids),
            });
            if let Some(pack) = &pack {
                body["pack_id"] = json!(pack);
            }
            if let Some(mode) = access_mode {
                body["access_mode"] = json!(mode.as_str());
            }
            if let Some(file) = &probe_key_file {
                let key = input::read_secret(file, "--probe-key-file")?;
                client.redact(&key);
                body["probe_key"] = json!(key);
            }
            let plan = client.post(
                &format!("/api/providers/{}/access/preview", segment(&provider)),
                &body,
            )?;
            match ctx.format {
                OutputFormat::Json => {
                    println!("{}", client.scrub(&serde_json::to_string_pretty(&plan)?))
                }
                OutputFormat::Table => {
                    print!("{}", client.scrub(&preview_text(&provider, &host, &plan)))
                }
            }
            let problems: Vec<String> = items(&plan, "problems").iter().map(text).collect();
            if problems.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            print_failure(
                "access_not_ready",
                &client.scrub(&format!(
                    "access of {provider} on {host} would not be ready: {}",
                    problems.join("; ")
                )),
            );
            Ok(ExitCode::FAILURE)
        }
        AccessCommand::Assign {
            provider,
            host,
            pack,
            subscribers,
            subscriber_ids,
            days,
        } => {
            let client = ctx.client()?;
            let mut body = json!({
                "host_id": host,
                "subscribers": subscribers_body(&subscribers, &subscriber_ids),
            });
            if let Some(pack) = &pack {
                body["pack_id"] = json!(pack);
            }
            if let Some(days) = days {
                body["validity_days"] = json!(days);
            }
            let report = client.post(
                &format!(
                    "/api/providers/{}/access/assign-subscriptions",
                    segment(&provider)
                ),
                &body,
            )?;
            match ctx.format {
                OutputFormat::Json => print_json(&report)?,
                OutputFormat::Table => print!("{}", assign_text(&provider, &host, &report)),
            }
            let status = text(&report["status"]);
            if READY.contains(&status.as_str()) {
                return Ok(ExitCode::SUCCESS);
            }
            let mut reasons: Vec<String> = problems(&report)
                .iter()
                .map(|p| {
                    format!(
                        "{}: {}: {}",
                        text(&p["subject"]),
                        text(&p["code"]),
                        text(&p["message"])
                    )
                })
                .collect();
            if let Some(message) = report["subscription_detail"]["proof"]["message"].as_str() {
                reasons.push(format!("gateway proof: {message}"));
            }
            if reasons.is_empty() {
                reasons.push("see the gateway proof above".into());
            }
            print_failure(
                "access_not_ready",
                &format!(
                    "access of {provider} on {host} is {status}: {}",
                    reasons.join("; ")
                ),
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Every subscriber problem of an assign report.
fn problems(report: &Value) -> Vec<Value> {
    items(&report["subscription_detail"], "subscribers")
        .iter()
        .flat_map(|s| items(s, "problems").iter().cloned())
        .collect()
}

/// An access preview as text: group, probe key, subscribers, warnings, problems.
fn preview_text(provider: &str, host: &str, plan: &Value) -> String {
    let group = &plan["group"];
    let group_text = match group["host_id"].as_i64() {
        Some(id) => format!("{} (id {id})", text(&group["name"])),
        None => format!("{} (not on the host yet)", text(&group["name"])),
    };
    let key = &plan["probe_key"];
    let key_text = if key.is_object() {
        let mut parts = vec![text(&key["mask"])];
        if let Some(bound) = key["bound_to_group"].as_bool() {
            parts.push(format!(
                "{} to the group",
                if bound { "bound" } else { "NOT bound" }
            ));
        }
        if key["stored"].as_bool() == Some(true) {
            parts.push("stored probe key".into());
        }
        parts.join(", ")
    } else {
        "-".into()
    };
    let mut out = format!(
        "access preview of {provider} ({}) on {host}\n",
        text(&plan["pack_id"])
    );
    out.push_str(&render_fields(&[
        ("mode", text(&plan["access_mode"])),
        ("group", group_text),
        ("smoke_model", text(&plan["smoke_test_model"])),
        ("probe_key", key_text),
    ]));
    let subscribers = items(plan, "subscribers");
    if !subscribers.is_empty() {
        let rows: Vec<Vec<String>> = subscribers
            .iter()
            .map(|s| {
                let user = if s["host_user_id"].is_null() {
                    &s["user_id"]
                } else {
                    &s["host_user_id"]
                };
                vec![
                    text(&s["email"]),
                    text(user),
                    text(&s["managed"]),
                    text(&s["action"]),
                ]
            })
            .collect();
        out.push_str("\nsubscribers:\n");
        out.push_str(&indent(&render_table(
            &["SUBSCRIBER", "HOST_USER", "MANAGED", "ACTION"],
            &rows,
        )));
    }
    for (field, title) in [
        ("warnings", "warnings"),
        ("problems", "problems (access would not be ready)"),
    ] {
        let list = items(plan, field);
        if !list.is_empty() {
            out.push_str(&format!("\n{title}:\n"));
            for entry in list {
                out.push_str(&format!("  - {}\n", text(entry)));
            }
        }
    }
    out.push_str("\nnothing was written to the host (preview)\n");
    out
}

/// An assign-subscriptions report as text: status, each subscriber, problems, the
/// gateway proof.
fn assign_text(provider: &str, host: &str, report: &Value) -> String {
    let mut out = format!(
        "access of {provider} on {host}: {}\n",
        text(&report["status"])
    );
    out.push_str(&render_fields(&[
        ("group", text(&report["group_id"])),
        ("subscription", text(&report["subscription"])),
        ("self_service", text(&report["self_service"])),
    ]));
    let detail = &report["subscription_detail"];
    let subscribers = items(detail, "subscribers");
    if !subscribers.is_empty() {
        let rows: Vec<Vec<String>> = subscribers
            .iter()
            .map(|s| {
                let created = |id: &Value, flag: &str| {
                    if s[flag].as_bool() == Some(true) {
                        format!("{} (new)", text(id))
                    } else {
                        text(id)
                    }
                };
                let mut notes = Vec::new();
                if s["probe"].as_bool() == Some(true) {
                    notes.push("probe subscriber".to_owned());
                }
                if s["user_created"].as_bool() == Some(true) {
                    notes.push("user created".to_owned());
                }
                notes.extend(items(s, "warnings").iter().map(text));
                vec![
                    text(&s["subscriber"]),
                    text(&s["user_id"]),
                    created(&s["subscription_id"], "subscription_created"),
                    created(&s["key_mask"], "key_created"),
                    if notes.is_empty() {
                        "-".into()
                    } else {
                        notes.join("; ")
                    },
                ]
            })
            .collect();
        out.push_str("\nsubscribers:\n");
        out.push_str(&indent(&render_table(
            &["SUBSCRIBER", "USER", "SUBSCRIPTION", "KEY", "NOTE"],
            &rows,
        )));
    }
    let problems = problems(report);
    if !problems.is_empty() {
        out.push_str("\nproblems:\n");
        for p in problems {
            out.push_str(&format!(
                "  - {}: {}: {}\n",
                text(&p["subject"]),
                text(&p["code"]),
                text(&p["message"])
            ));
        }
    }
    let proofs: Vec<Value> = ["subscription_detail", "self_service_detail"]
        .iter()
        .map(|d| &report[*d]["proof"])
        .filter(|p| p.is_object())
        .cloned()
        .collect();
    if proofs.is_empty() {
        out.push_str("\nno gateway proof was made\n");
    } else {
        out.push_str("\ngateway proof:\n");
        out.push_str(&indent(&proof_table(&proofs)));
    }
    out
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

    #[test]
    fn a_preview_shows_group_subscribers_and_problems() {
        let plan = json!({
            "pack_id": "openai-cn-pack", "access_mode": "self_service",
            "group": {"name": "crm-openai-cn-pack-deepseek-own", "host_id": null},
            "subscribers": [
                {"email": "relay-probe@relay-manager.invalid", "host_user_id": 2, "managed": true, "action": "reuse"},
                {"user_id": 1, "email": "admin@example.com", "action": "assign"}
            ],
            "probe_key": {"mask": "sk-u…1234", "fingerprint": "ab", "bound_to_group": false},
            "smoke_test_model": "deepseek-flash",
            "warnings": [], "problems": ["the supplied key is not bound to the provider's group"]
        });
        let out = preview_text("deepseek", "main", &plan);
        assert!(
            out.starts_with("access preview of deepseek (openai-cn-pack) on main\n"),
            "{out}"
        );
        assert!(
            out.contains("group:       crm-openai-cn-pack-deepseek-own (not on the host yet)\n"),
            "{out}"
        );
        assert!(
            out.contains("probe_key:   sk-u…1234, NOT bound to the group\n"),
            "{out}"
        );
        assert!(
            out.contains("  relay-probe@relay-manager.invalid  2          yes      reuse\n"),
            "{out}"
        );
        assert!(
            out.contains("  admin@example.com                  1          -        assign\n"),
            "{out}"
        );
        assert!(
            out.contains("problems (access would not be ready):\n  - the supplied key"),
            "{out}"
        );
    }

    #[test]
    fn an_assign_report_shows_subscribers_and_the_proof() {
        let report = json!({
            "group_id": 1, "status": "subscription_ready", "subscription": "ready", "self_service": "not_attempted",
            "subscription_detail": {
                "subscribers": [
                    {"subscriber": "bob@example.com", "user_id": 3, "probe": false, "user_created": true,
                     "subscription_id": 2, "subscription_created": true, "key_mask": "sk-c…f526", "key_created": true,
                     "problems": [{"subject": "bob@example.com", "code": "login_failed", "message": "no"}], "warnings": []}
                ],
                "proof": {"mode": "subscription", "key_mask": "sk-c…4133", "models_status": 200, "models_listed": 2,
                          "smoke_model_seen": true, "completion_status": 200, "completion_type": "chat.completion",
                          "completion_preview": "pong", "message": null, "proof": "ready"}
            },
            "self_service_detail": null
        });
        let out = assign_text("deepseek", "main", &report);
        assert!(
            out.starts_with("access of deepseek on main: subscription_ready\n"),
            "{out}"
        );
        assert!(
            out.contains("  bob@example.com  3     2 (new)       sk-c…f526 (new)  user created\n"),
            "{out}"
        );
        assert!(
            out.contains("problems:\n  - bob@example.com: login_failed: no\n"),
            "{out}"
        );
        let proof: Vec<&str> = out
            .lines()
            .find(|l| l.trim_start().starts_with("subscription "))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(proof.first(), Some(&"subscription"), "{out}");
        assert!(proof.contains(&"ready"), "{out}");
    }
}
