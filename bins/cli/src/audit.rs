//! `relay audit [--provider P] [--host H] [--since T] [--origin KIND] [--origin-id ID]
//! [--limit N] [--all] [--json]`: the trail of host mutations the manager made, one row
//! per changed field (time, origin, operation, object, field: before → after).

use std::process::ExitCode;

use clap::Args;
use relay_api_types::{AuditEvent, AuditList};
use serde_json::Value;

use crate::client::read;
use crate::output::{at, print_json, render_table, OutputFormat};
use crate::Ctx;

/// Arguments of `relay audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only mutations made for this provider.
    #[arg(long, value_name = "PROVIDER")]
    provider: Option<String>,
    /// Only mutations on this host (id or name).
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// Only mutations of this pack.
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
    /// Only mutations recorded at or after this time (RFC 3339, or ms since the epoch).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only mutations of this kind of origin (`import_batch`, `reconcile_run`, `doctor`,
    /// `rollback`, `resume`, `access_closure`, `batch_import_run`, `operator_request`).
    #[arg(long, value_name = "KIND")]
    origin: Option<String>,
    /// Only mutations of this batch, run, doctor run or access closure.
    #[arg(long, value_name = "ID")]
    origin_id: Option<String>,
    /// Page size (1 to 1000).
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
    /// Continue after this cursor (the `next_cursor` of a previous page).
    #[arg(long, value_name = "CURSOR")]
    cursor: Option<String>,
    /// Read every page, not only the first.
    #[arg(long)]
    all: bool,
    /// Print the answer as JSON (as `--output json`).
    #[arg(long)]
    json: bool,
}

/// Runs `relay audit`.
pub fn run(args: AuditArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    let limit = args.limit.map(|n| n.to_string());
    let mut cursor = args.cursor.clone();
    let mut events: Vec<AuditEvent> = Vec::new();
    let mut docs: Vec<Value> = Vec::new();
    let next = loop {
        let doc = client.get(
            "/api/audit",
            &[
                ("provider", args.provider.as_deref()),
                ("host_id", args.host.as_deref()),
                ("pack_id", args.pack.as_deref()),
                ("since", args.since.as_deref()),
                ("origin", args.origin.as_deref()),
                ("origin_id", args.origin_id.as_deref()),
                ("limit", limit.as_deref()),
                ("cursor", cursor.as_deref()),
            ],
        )?;
        let page: AuditList = read(&doc)?;
        events.extend(page.events);
        docs.push(doc);
        match page.next_cursor {
            Some(c) if args.all => cursor = Some(c),
            other => break other,
        }
    };
    if args.json || ctx.format == OutputFormat::Json {
        let answer = if docs.len() == 1 {
            docs.remove(0)
        } else {
            serde_json::json!({ "events": events, "next_cursor": next })
        };
        print_json(&client.scrub_json(answer))?;
    } else {
        let mut out = audit_table(&events);
        if let Some(c) = next {
            out.push_str(&format!("more: relay audit … --cursor {c} (or --all)\n"));
        }
        print!("{}", client.scrub(&out));
    }
    Ok(ExitCode::SUCCESS)
}

/// A JSON value in one short line: strings bare, `-` for null.
fn short(v: &Value) -> String {
    let text = match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// One row per changed field (one per event without a listed field).
pub fn audit_table(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "no audit event\n".into();
    }
    let mut rows = Vec::new();
    for e in events {
        let origin = match &e.origin.id {
            Some(id) => format!("{} {id}", e.origin.kind),
            None => e.origin.kind.to_string(),
        };
        let operation = match &e.error {
            None => e.operation.clone(),
            Some(err) => format!(
                "{} (failed: {})",
                e.operation,
                short(&Value::String(err.clone()))
            ),
        };
        let object = match (&e.object_id, &e.object_name) {
            (Some(id), Some(name)) => format!("{} {id} {name}", e.object_kind),
            (Some(id), None) => format!("{} {id}", e.object_kind),
            (None, Some(name)) => format!("{} {name}", e.object_kind),
            (None, None) => e.object_kind.clone(),
        };
        let head = [at(e.at), origin, operation, object];
        if e.changes.is_empty() {
            let mut row = head.to_vec();
            row.push("-".into());
            rows.push(row);
        }
        for c in &e.changes {
            let mut row = head.to_vec();
            row.push(format!(
                "{}: {} → {}",
                c.field,
                short(&c.before),
                short(&c.after)
            ));
            rows.push(row);
        }
    }
    render_table(
        &[
            "TIME",
            "ORIGIN",
            "OPERATION",
            "OBJECT",
            "FIELD: BEFORE → AFTER",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_api_types::{AuditFieldChange, AuditOrigin, AuditOriginKind, AuditOutcome};
    use serde_json::json;

    fn event(changes: Vec<AuditFieldChange>, error: Option<&str>) -> AuditEvent {
        AuditEvent {
            seq: 1,
            at: 1_796_457_150_000,
            host_id: "host_1".into(),
            pack_id: Some("openai-cn-pack".into()),
            provider_id: Some("deepseek".into()),
            origin: AuditOrigin {
                kind: AuditOriginKind::ReconcileRun,
                id: Some("rec_1".into()),
                request_id: None,
            },
            operation: "update".into(),
            object_kind: "channel".into(),
            object_id: Some(7),
            object_name: Some("crm-openai-cn-pack-deepseek-sub".into()),
            outcome: if error.is_some() {
                AuditOutcome::Error
            } else {
                AuditOutcome::Ok
            },
            error: error.map(str::to_string),
            changes,
        }
    }

    #[test]
    fn each_changed_field_is_a_row_with_before_and_after() {
        let out = audit_table(&[event(
            vec![
                AuditFieldChange {
                    field: "model_mapping.deepseek.deepseek-flash".into(),
                    before: json!("something-else"),
                    after: json!("deepseek-flash"),
                },
                AuditFieldChange {
                    field: "group_ids".into(),
                    before: json!(null),
                    after: json!([1]),
                },
            ],
            None,
        )]);
        assert!(out.contains("FIELD: BEFORE → AFTER"), "{out}");
        assert!(
            out.contains("model_mapping.deepseek.deepseek-flash: something-else → deepseek-flash"),
            "{out}"
        );
        assert!(out.contains("group_ids: - → [1]"), "{out}");
        assert!(out.contains("reconcile_run rec_1"), "{out}");
        assert!(
            out.contains("channel 7 crm-openai-cn-pack-deepseek-sub"),
            "{out}"
        );
        assert_eq!(out.lines().count(), 3, "{out}");
    }

    #[test]
    fn a_refused_mutation_shows_its_error_and_an_empty_trail_says_so() {
        let out = audit_table(&[event(Vec::new(), Some("host error HTTP 500"))]);
        assert!(
            out.contains("update (failed: host error HTTP 500)"),
            "{out}"
        );
        assert_eq!(audit_table(&[]), "no audit event\n");
    }
}
