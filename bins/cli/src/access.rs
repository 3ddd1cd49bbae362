//! `relay access status|preview|assign <PROVIDER> --host H [--pack P] …`: the access
//! closure of a provider on a host (who can call it through the gateway, and the proof).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use relay_api_types::{
    AccessPreview, AccessProblem, AccessReport, AccessRequest, AccessStatusView, AssignRequest,
    DomainVocabulary as _, ProbeKeyPreview, SubscriberPreview,
};

use crate::batch::{proof_table, Proof};
use crate::client::{body, read, segment};
use crate::import::{access_mode_arg, import_subscribers, subscribers, with_days};
use crate::output::{
    opt, print_failure, print_json, render_fields, render_table, s, yes_no, OutputFormat,
};
use crate::reconcile::indent;
use crate::{input, Ctx};
use relay_domain::AccessMode;

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
        #[arg(long = "access", value_parser = access_mode_arg(), value_name = "MODE")]
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
        /// Subscriber by e-mail (a managed user is found or created), with its own
        /// subscription validity in days after a colon (`bob@example.com:7`); repeatable.
        #[arg(long = "subscriber", value_name = "EMAIL[:DAYS]", value_parser = with_days::<String>)]
        subscribers: Vec<(String, Option<u32>)>,
        /// Subscriber by existing host user id, with its own validity in days after a
        /// colon (`3:30`); repeatable.
        #[arg(long = "subscriber-id", value_name = "ID[:DAYS]", value_parser = with_days::<i64>)]
        subscriber_ids: Vec<(i64, Option<u32>)>,
        /// Subscription validity in days (subscribers without their own).
        #[arg(long, value_name = "N")]
        days: Option<u32>,
    },
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
                OutputFormat::Table => {
                    print!("{}", access_text(&provider, &host, &read(&doc)?))
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AccessCommand::Preview {
            provider,
            host,
            pack,
            access_mode,
            subscribers: subscriber_list,
            subscriber_ids,
            probe_key_file,
        } => {
            input::one_stdin(&[
                ("--token-file", ctx.token_file()),
                ("--probe-key-file", probe_key_file.as_ref()),
            ])?;
            let mut client = ctx.client()?;
            let mut request = AccessRequest {
                host_id: host.clone(),
                pack_id: pack.clone(),
                access_mode,
                subscribers: subscribers(&subscriber_list, &subscriber_ids),
                validity_days: None,
                probe_key: None,
            };
            if let Some(file) = &probe_key_file {
                let key = input::read_secret(file, "--probe-key-file")?;
                client.redact(&key);
                request.probe_key = Some(key);
            }
            let doc = client.post(
                &format!("/api/providers/{}/access/preview", segment(&provider)),
                &body(&request),
            )?;
            let plan: AccessPreview = read(&doc)?;
            match ctx.format {
                OutputFormat::Json => {
                    println!("{}", client.scrub(&serde_json::to_string_pretty(&doc)?))
                }
                OutputFormat::Table => {
                    print!("{}", client.scrub(&preview_text(&provider, &host, &plan)))
                }
            }
            let problems = &plan.problems;
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
            subscribers: subscriber_list,
            subscriber_ids,
            days,
        } => {
            let client = ctx.client()?;
            let request = AssignRequest {
                host_id: host.clone(),
                pack_id: pack.clone(),
                subscribers: import_subscribers(&subscriber_list, &subscriber_ids),
                validity_days: days,
            };
            let doc = client.post(
                &format!(
                    "/api/providers/{}/access/assign-subscriptions",
                    segment(&provider)
                ),
                &body(&request),
            )?;
            let report: AccessReport = read(&doc)?;
            match ctx.format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => print!("{}", assign_text(&provider, &host, &report)),
            }
            let status = report.status;
            if status.is_ready() {
                return Ok(ExitCode::SUCCESS);
            }
            let mut reasons: Vec<String> =
                problems(&report).into_iter().map(problem_text).collect();
            if let Some(message) = report
                .subscription_detail
                .as_ref()
                .and_then(|d| d.proof.as_ref())
                .and_then(|p| p.message.as_deref())
            {
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
fn problems(report: &AccessReport) -> Vec<&AccessProblem> {
    report
        .subscription_detail
        .iter()
        .flat_map(|d| &d.subscribers)
        .flat_map(|s| &s.problems)
        .collect()
}

/// `subject: code: message`.
fn problem_text(p: &AccessProblem) -> String {
    format!("{}: {}: {}", s(&p.subject), p.code, s(&p.message))
}

/// An access preview as text: group, probe key, subscribers, warnings, problems.
fn preview_text(provider: &str, host: &str, plan: &AccessPreview) -> String {
    let group = &plan.group;
    let group_text = match group.host_id {
        Some(id) => format!("{} (id {id})", s(&group.name)),
        None => format!("{} (not on the host yet)", s(&group.name)),
    };
    let key_text = match &plan.probe_key {
        Some(ProbeKeyPreview::Supplied {
            mask,
            bound_to_group,
            ..
        }) => format!(
            "{}, {} to the group",
            s(mask),
            if *bound_to_group {
                "bound"
            } else {
                "NOT bound"
            }
        ),
        Some(ProbeKeyPreview::Stored { mask, stored, .. }) => {
            let mut parts = vec![s(mask)];
            if *stored {
                parts.push("stored probe key".into());
            }
            parts.join(", ")
        }
        None => "-".into(),
    };
    let mut out = format!(
        "access preview of {provider} ({}) on {host}\n",
        s(&plan.pack_id)
    );
    out.push_str(&render_fields(&[
        ("mode", plan.access_mode.to_string()),
        ("group", group_text),
        ("smoke_model", s(&plan.smoke_test_model)),
        ("probe_key", key_text),
    ]));
    if !plan.subscribers.is_empty() {
        let rows: Vec<Vec<String>> = plan
            .subscribers
            .iter()
            .map(|subscriber| match subscriber {
                SubscriberPreview::Email {
                    email,
                    host_user_id,
                    managed,
                    action,
                } => vec![
                    s(email),
                    opt(*host_user_id),
                    yes_no(*managed),
                    action.to_string(),
                ],
                SubscriberPreview::UserId {
                    user_id,
                    email,
                    action,
                } => vec![
                    s(email),
                    user_id.to_string(),
                    "-".into(),
                    action.to_string(),
                ],
            })
            .collect();
        out.push_str("\nsubscribers:\n");
        out.push_str(&indent(&render_table(
            &["SUBSCRIBER", "HOST_USER", "MANAGED", "ACTION"],
            &rows,
        )));
    }
    for (entries, title) in [
        (&plan.warnings, "warnings"),
        (&plan.problems, "problems (access would not be ready)"),
    ] {
        if !entries.is_empty() {
            out.push_str(&format!("\n{title}:\n"));
            for entry in entries {
                out.push_str(&format!("  - {}\n", s(entry)));
            }
        }
    }
    out.push_str("\nnothing was written to the host (preview)\n");
    out
}

/// An assign-subscriptions report as text: status, each subscriber, problems, the
/// gateway proof.
fn assign_text(provider: &str, host: &str, report: &AccessReport) -> String {
    let mut out = format!("access of {provider} on {host}: {}\n", report.status);
    out.push_str(&render_fields(&[
        ("group", report.group_id.to_string()),
        ("subscription", report.subscription.wire().to_owned()),
        ("self_service", report.self_service.wire().to_owned()),
    ]));
    let subscribers = report
        .subscription_detail
        .as_ref()
        .map_or(&[][..], |d| &d.subscribers[..]);
    if !subscribers.is_empty() {
        let rows: Vec<Vec<String>> = subscribers
            .iter()
            .map(|sub| {
                let created = |value: String, new: bool| {
                    if new {
                        format!("{value} (new)")
                    } else {
                        value
                    }
                };
                let mut notes = Vec::new();
                if sub.probe {
                    notes.push("probe subscriber".to_owned());
                }
                if sub.user_created {
                    notes.push("user created".to_owned());
                }
                notes.extend(sub.warnings.iter().map(|w| s(w)));
                vec![
                    s(&sub.subscriber),
                    opt(sub.user_id),
                    created(opt(sub.subscription_id), sub.subscription_created),
                    created(opt(sub.key_mask.as_deref()), sub.key_created),
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
            out.push_str(&format!("  - {}\n", problem_text(p)));
        }
    }
    let proofs: Vec<Proof<'_>> = [
        report
            .subscription_detail
            .as_ref()
            .and_then(|d| d.proof.as_ref()),
        report
            .self_service_detail
            .as_ref()
            .and_then(|d| d.proof.as_ref()),
    ]
    .into_iter()
    .flatten()
    .map(Proof::Probe)
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
fn access_text(provider: &str, host: &str, doc: &AccessStatusView) -> String {
    let mut out = format!("access of {provider} on {host}: {}\n", doc.access_status);
    let proofs: Vec<Proof<'_>> = [&doc.subscription, &doc.self_service]
        .into_iter()
        .flatten()
        .map(Proof::Closure)
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
    use crate::fixtures::{closure, proof, typed};
    use serde_json::json;

    fn status_view(subscription: serde_json::Value, access_status: &str) -> AccessStatusView {
        typed(json!({
            "host_id": "host_1", "pack_id": "p", "provider_id": "deepseek",
            "access_status": access_status, "subscription": subscription, "self_service": null
        }))
    }

    #[test]
    fn shows_each_recorded_proof() {
        let doc = status_view(json!(closure(json!({}))), "subscription_ready");
        let out = access_text("deepseek", "main", &doc);
        assert!(out.starts_with("access of deepseek on main: subscription_ready\n"));
        assert!(out.contains("subscription  sk-u…1234  200"), "{out}");
        let none = access_text(
            "deepseek",
            "main",
            &status_view(json!(null), "not_configured"),
        );
        assert!(none.contains("no gateway proof recorded yet"));
    }

    #[test]
    fn a_preview_shows_group_subscribers_and_problems() {
        let plan: AccessPreview = typed(json!({
            "host_id": "host_1", "pack_id": "openai-cn-pack", "provider_id": "deepseek",
            "access_mode": "self_service",
            "group": {"name": "crm-openai-cn-pack-deepseek-own", "host_id": null},
            "subscribers": [
                {"email": "relay-probe@relay-manager.invalid", "host_user_id": 2, "managed": true, "action": "reuse"},
                {"user_id": 1, "email": "admin@example.com", "action": "assign"}
            ],
            "probe_key": {"mask": "sk-u…1234", "fingerprint": "ab", "bound_to_group": false},
            "smoke_test_model": "deepseek-flash",
            "warnings": [], "problems": ["the supplied key is not bound to the provider's group"]
        }));
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
        let report: AccessReport = typed(json!({
            "group_id": 1, "status": "subscription_ready", "subscription": "ready", "self_service": "not_attempted",
            "subscription_detail": {
                "group_id": 1, "status": "ready",
                "subscribers": [
                    {"subscriber": "bob@example.com", "user_id": 3, "managed": true, "probe": false,
                     "user_created": true, "subscription_id": 2, "subscription_created": true,
                     "key_id": 9, "key_fingerprint": "cd", "key_mask": "sk-c…f526", "key_created": true,
                     "problems": [{"subject": "bob@example.com", "code": "login_invalid_credentials",
                                   "message": "no"}],
                     "warnings": []}
                ],
                "proof": proof(json!({}))
            },
            "self_service_detail": null
        }));
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
            out.contains("problems:\n  - bob@example.com: login_invalid_credentials: no\n"),
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
