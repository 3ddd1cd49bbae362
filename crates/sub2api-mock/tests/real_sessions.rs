//! The mock against the real host: the session script of
//! `fixtures/host/real/session.json` is played against a fresh mock (compliance lock
//! on, as a fresh 0.1.179 host has it), and every answer is compared with what the
//! real 0.1.179 host answered to the same request
//! (`fixtures/host/real/0.1.179/session.json`): the status; for errors the machine
//! code (and the OpenAI-style `error.type` of gateway errors); for objects, every
//! field the adapter reads, present on both sides with the same JSON type; for
//! account tests, the events and the host's words before the vendor's body; and the
//! idempotency and retry headers. A difference is the mock drifting from the host.

use std::collections::BTreeMap;

use crate::common::{Client, Res};
use serde_json::{json, Value};
use sub2api_mock::{HostKnobs, MockConfig, MockHost, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD};

fn read(rel: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/host/real/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `v` with `${name}` replaced from `values` (a string that is exactly one
/// placeholder becomes the value itself); `None` when a name is not known.
fn substitute(v: &Value, values: &BTreeMap<String, Value>) -> Option<Value> {
    Some(match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                if !name.contains('}') {
                    return values.get(name).cloned();
                }
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let end = after.find('}')?;
                match values.get(&after[..end])? {
                    Value::String(t) => out.push_str(t),
                    other => out.push_str(&other.to_string()),
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, values))
                .collect::<Option<_>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Some((k.clone(), substitute(x, values)?)))
                .collect::<Option<_>>()?,
        ),
        other => other.clone(),
    })
}

/// The fields the adapter reads, per kind of object (its wire DTOs).
fn contract_fields(op: &str) -> Option<&'static [&'static str]> {
    Some(match op {
        "create_group" | "get_group" | "update_group" | "list_groups" => &[
            "id",
            "name",
            "description",
            "platform",
            "status",
            "subscription_type",
            "rate_multiplier",
            "is_exclusive",
        ],
        "create_channel" | "get_channel" | "list_channels" => &[
            "id",
            "name",
            "status",
            "group_ids",
            "model_mapping",
            "model_pricing",
            "restrict_models",
            "billing_model_source",
        ],
        "create_plan" | "update_plan" | "list_plans" => &[
            "id",
            "group_id",
            "name",
            "price",
            "validity_days",
            "validity_unit",
            "for_sale",
        ],
        "create_account"
        | "get_account"
        | "update_account"
        | "list_accounts"
        | "clear_account_error"
        | "recover_account_state"
        | "set_account_schedulable" => &[
            "id",
            "name",
            "platform",
            "type",
            "status",
            "error_message",
            "schedulable",
            "credentials",
            "credentials_status",
            "extra",
            "concurrency",
            "priority",
        ],
        "create_user" | "get_user" | "find_user_by_email" | "set_user_balance" => {
            &["id", "email", "role", "status", "balance", "concurrency"]
        }
        "create_user_key"
        | "list_user_keys"
        | "list_user_keys_admin"
        | "list_group_keys"
        | "rebind_user_key" => &["id", "user_id", "name", "key", "group_id", "status"],
        "assign_subscription" | "list_subscriptions" => &[
            "id",
            "user_id",
            "group_id",
            "status",
            "starts_at",
            "expires_at",
        ],
        _ => return None,
    })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The first object of an answer's `data` (itself, or the first list item).
fn first_object(body: &Value) -> Option<&Value> {
    let data = body.get("data")?;
    match data {
        Value::Object(o) if o.contains_key("items") => data["items"].get(0),
        Value::Array(a) => a.first(),
        Value::Object(_) => Some(data),
        _ => None,
    }
}

/// The machine code of an error answer (`reason`, string `code`, gateway
/// `error.type`).
fn error_code(body: &Value) -> Option<String> {
    body.get("reason")
        .and_then(Value::as_str)
        .or_else(|| body.get("code").and_then(Value::as_str))
        .or_else(|| body.pointer("/error/type").and_then(Value::as_str))
        .map(str::to_string)
}

/// An SSE stream's events: `type`, and for `error` the host's words before the
/// first `:` (the vendor's body follows it).
fn sse_events(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] != "status" && e["type"] != "content")
        // A chat stream's chunks have no `type`: their `object` and finish.
        .map(|e| match e["type"].as_str().or(e["object"].as_str()) {
            Some("chat.completion.chunk") => format!(
                "chunk {}",
                e["choices"][0]["finish_reason"].as_str().unwrap_or("-")
            ),
            Some("error") => format!(
                "error: {}",
                e["error"]
                    .as_str()
                    .unwrap_or("")
                    .split(':')
                    .next()
                    .unwrap_or("")
            ),
            Some(t) => t.to_string(),
            None => e.to_string(),
        })
        .collect()
}

/// What differs between the real answer and the mock's.
fn differences(op: &str, real: &Value, mock: &Res) -> Vec<String> {
    let mut out = Vec::new();
    let status = real["status"].as_u64().unwrap_or(0) as u16;
    if status != mock.status {
        out.push(format!("status {} (host {status})", mock.status));
        return out;
    }
    for h in ["x-idempotency-replayed", "retry-after"] {
        let want = real["headers"].get(h).is_some();
        if want != mock.header(h).is_some() {
            out.push(format!("header {h}: host {want}"));
        }
    }
    let body = &real["body"];
    if let Value::String(text) = body {
        if text.contains("data: ") {
            let (r, m) = (sse_events(text), sse_events(&mock.text));
            if r != m {
                out.push(format!("events {m:?} (host {r:?})"));
            }
        } else if mock.text.trim() != text.trim() {
            out.push(format!("text {:?} (host {text:?})", mock.text));
        }
        return out;
    }
    let mock_body = mock.json();
    if !(200..300).contains(&status) {
        let (r, m) = (error_code(body), error_code(&mock_body));
        if r != m {
            out.push(format!("error code {m:?} (host {r:?})"));
        }
        return out;
    }
    if let Some(fields) = contract_fields(op) {
        match (first_object(body), first_object(&mock_body)) {
            (Some(r), Some(m)) => {
                for f in fields {
                    let (rv, mv) = (r.get(*f), m.get(*f));
                    match (rv, mv) {
                        (Some(a), Some(b))
                            if json_type(a) != json_type(b) && !a.is_null() && !b.is_null() =>
                        {
                            out.push(format!("{f}: {} (host {})", json_type(b), json_type(a)))
                        }
                        (Some(_), None) => out.push(format!("{f}: missing (host has it)")),
                        (None, Some(_)) => out.push(format!("{f}: present (host omits it)")),
                        _ => {}
                    }
                }
            }
            (Some(_), None) => out.push("no object (host has one)".into()),
            (None, Some(_)) => out.push("an object (host has none)".into()),
            (None, None) => {}
        }
    }
    out
}

#[test]
fn the_mock_answers_the_recorded_session_as_the_real_0_1_179_host_did() {
    let script = read("session.json");
    let recorded = read("0.1.179/session.json");
    let real: BTreeMap<&str, &Value> = recorded["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("response").is_some())
        .map(|s| (s["name"].as_str().unwrap(), &s["response"]))
        .collect();

    let host = MockHost::start(MockConfig::default()).unwrap();
    host.set_knobs(HostKnobs {
        compliance_required: true,
        ..HostKnobs::default()
    });
    let c = Client::new(&host.base_url());
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in [
        ("admin_email", DEFAULT_ADMIN_EMAIL.to_string()),
        ("admin_password", DEFAULT_ADMIN_PASSWORD.to_string()),
        ("upstream", "http://127.0.0.1:9".to_string()),
        ("user_password", "rec-pw-mock-0001".to_string()),
        ("wrong_password", "rec-wrong-mock".to_string()),
        ("user_key", "sk-crm-recmock0123456789abcdef01".to_string()),
        ("good_key", "sk-rec-good-mock".to_string()),
        ("invalid_key", "sk-rec-invalid-mock".to_string()),
        ("quota_key", "sk-rec-quota-mock".to_string()),
        ("ratelimit_key", "sk-rec-ratelimit-mock".to_string()),
        ("batch_key_1", "sk-rec-batchone-mock".to_string()),
        ("batch_key_2", "sk-rec-batchtwo-mock".to_string()),
        ("batch_key_3", "sk-rec-batchthree-mock".to_string()),
    ] {
        values.insert(k.to_string(), json!(v));
    }

    let mut compared = 0;
    let mut report = Vec::new();
    for step in script["steps"].as_array().unwrap() {
        let name = step["name"].as_str().unwrap();
        let Some(real_answer) = real.get(name) else {
            continue; // not played on the real host either
        };
        let template =
            json!({"path": step["path"], "body": step["body"], "headers": step["headers"]});
        let Some(resolved) = substitute(&template, &values) else {
            report.push(format!(
                "{name}: a value it needs was not captured from the mock"
            ));
            continue;
        };
        let path = resolved["path"].as_str().unwrap().to_string();
        let mut headers: Vec<(String, String)> = resolved["headers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let value = |k: &str| {
            values
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match step["auth"].as_str().unwrap() {
            "none" => {}
            "admin_key" => headers.push(("x-api-key".into(), value("admin_key"))),
            "admin_jwt" => headers.push((
                "authorization".into(),
                format!("Bearer {}", value("admin_jwt")),
            )),
            "user_jwt" => headers.push((
                "authorization".into(),
                format!("Bearer {}", value("user_jwt")),
            )),
            "user_key" => headers.push((
                "authorization".into(),
                format!("Bearer {}", value("user_key")),
            )),
            "bearer_invalid" => headers.push((
                "authorization".into(),
                "Bearer sk-not-a-key-of-this-host-0000000000".into(),
            )),
            other => panic!("{name}: auth {other}"),
        }
        let hdrs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let body = resolved.get("body").filter(|b| !b.is_null());
        let method = step["method"].as_str().unwrap();
        let mock = c.call(method, &path, &hdrs, body);
        if let Some(caps) = step["capture"].as_object() {
            if let Ok(j) = serde_json::from_str::<Value>(&mock.text) {
                for (k, pointer) in caps {
                    if let Some(v) = j
                        .pointer(pointer.as_str().unwrap())
                        .filter(|v| !v.is_null())
                    {
                        values.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        compared += 1;
        let op = step["op"].as_str().unwrap_or("");
        for d in differences(op, real_answer, &mock) {
            report.push(format!(
                "{name} ({method} {}): {d}",
                step["path"].as_str().unwrap()
            ));
        }
    }
    assert!(compared > 90, "only {compared} steps compared");
    assert!(
        report.is_empty(),
        "the mock differs from the real host:\n{}",
        report.join("\n")
    );
}
