//! Checking answers against a step's expectations, and the evidence excerpts of
//! answers.

use super::scenario::{Expect, JsonCheck, MetricCheck, HOST_KINDS};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One checked expectation.
#[derive(Debug, Clone, Serialize)]
pub struct Assertion {
    /// What was checked.
    pub what: String,
    /// The expected value.
    pub expected: Value,
    /// What was found.
    pub actual: Value,
    /// Pass or fail.
    pub pass: bool,
}

impl Assertion {
    /// An assertion comparing two values for equality.
    pub fn eq(what: impl Into<String>, expected: Value, actual: Value) -> Assertion {
        let pass = expected == actual;
        Assertion {
            what: what.into(),
            expected,
            actual,
            pass,
        }
    }

    /// An assertion with its own verdict.
    pub fn new(what: impl Into<String>, expected: Value, actual: Value, pass: bool) -> Assertion {
        Assertion {
            what: what.into(),
            expected,
            actual,
            pass,
        }
    }
}

fn ptr<'a>(v: &'a Value, p: &str) -> &'a Value {
    v.pointer(p).unwrap_or(&Value::Null)
}

fn items(body: &Value) -> Vec<&Value> {
    body.get("items")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn count_by(items: &[&Value], field: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for i in items {
        if let Some(s) = i.get(field).and_then(Value::as_str) {
            *out.entry(s.to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// The gateway proofs of a batch answer's access report.
fn proofs(body: &Value) -> Vec<&Value> {
    let access = ptr(body, "/batch/report/access");
    ["subscription_detail", "self_service_detail"]
        .iter()
        .filter_map(|d| access.get(*d).and_then(|x| x.get("proof")))
        .filter(|p| !p.is_null())
        .collect()
}

/// Every warning text of a batch answer (see [`Expect::warnings_contain`]).
pub fn warnings(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = ptr(body, "/batch/report/warnings")
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(subs) = ptr(body, "/batch/report/access/subscription_detail/subscribers").as_array()
    {
        for s in subs {
            if let Some(ws) = s.get("warnings").and_then(Value::as_array) {
                out.extend(ws.iter().filter_map(|w| w.as_str().map(str::to_string)));
            }
        }
    }
    for i in items(body) {
        if i.get("verdict").and_then(Value::as_str) == Some("warning") {
            if let Some(m) = i.get("message").and_then(Value::as_str) {
                out.push(m.to_string());
            }
        }
    }
    out
}

fn ok_repairs<'a>(list: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    list.filter_map(Value::as_array)
        .flatten()
        .filter(|r| r.get("ok").and_then(Value::as_bool) == Some(true))
        .cloned()
        .collect()
}

/// Successful capability repairs in a batch answer's gateway proofs.
pub fn repairs(body: &Value) -> Vec<Value> {
    ok_repairs(proofs(body).into_iter().filter_map(|p| p.get("repairs")))
}

/// Successful capability repairs journaled on the batch's managed resources
/// (`details.capability_repairs`).
pub fn journaled_repairs(body: &Value) -> Vec<Value> {
    let resources = body
        .get("resources")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect::<Vec<_>>())
        .unwrap_or_default();
    ok_repairs(
        resources
            .into_iter()
            .filter_map(|r| r.pointer("/details/capability_repairs")),
    )
}

/// The text of a scalar, as a selector compares it.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// The value at a JSON pointer, where a segment `[field=value,…]` on an array
/// selects its first element whose fields have these values (compared as text).
pub fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(doc);
    }
    let mut cur = doc;
    for segment in path.strip_prefix('/')?.split('/') {
        let selector = segment
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .filter(|s| s.contains('='));
        cur = match (cur, selector) {
            (Value::Array(items), Some(sel)) => {
                let filters: Vec<(String, String)> = sel
                    .split(',')
                    .filter_map(|f| f.split_once('='))
                    .map(|(k, v)| (unescape(k.trim()), unescape(v.trim())))
                    .collect();
                items.iter().find(|item| {
                    filters
                        .iter()
                        .all(|(k, v)| item.get(k).and_then(scalar_text).as_deref() == Some(v))
                })?
            }
            (Value::Array(items), None) => items.get(segment.parse::<usize>().ok()?)?,
            (Value::Object(o), _) => o.get(&unescape(segment))?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Checks one JSON pointer test against `doc`.
pub fn check_json(scope: &str, doc: &Value, c: &JsonCheck) -> Assertion {
    let found = lookup(doc, &c.path);
    let actual = found.cloned().unwrap_or(Value::Null);
    let what = format!("{scope} {}", if c.path.is_empty() { "/" } else { &c.path });
    if let Some(v) = &c.equals {
        return Assertion::eq(format!("{what} equals"), v.clone(), actual);
    }
    if let Some(t) = &c.contains {
        let pass = actual.as_str().is_some_and(|s| s.contains(t.as_str()));
        return Assertion::new(format!("{what} contains"), json!(t), actual, pass);
    }
    if let Some(n) = c.at_least {
        let pass = actual.as_f64().is_some_and(|x| x >= n);
        return Assertion::new(format!("{what} at least"), json!(n), actual, pass);
    }
    if let Some(n) = c.len {
        let len = match &actual {
            Value::Array(a) => Some(a.len()),
            Value::Object(o) => Some(o.len()),
            _ => None,
        };
        return Assertion::new(
            format!("{what} length"),
            json!(n),
            json!(len),
            len == Some(n),
        );
    }
    let want = c.exists.unwrap_or(true);
    let present = found.is_some_and(|v| !v.is_null());
    Assertion::new(
        format!("{what} exists"),
        json!(want),
        json!(present),
        present == want,
    )
}

/// One sample of the Prometheus text exposition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Series name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// The series as Prometheus writes it, e.g. `relay_imports_total{outcome="succeeded"} 1`.
    pub fn line(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        if labels.is_empty() {
            format!("{} {}", self.name, self.value)
        } else {
            format!("{}{{{}}} {}", self.name, labels.join(","), self.value)
        }
    }
}

/// Parses the Prometheus text exposition format (comments skipped; a line that
/// does not parse is an error).
pub fn parse_metrics(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("line {}: cannot parse {raw:?}", n + 1);
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(bad)?;
        let name = line[..name_end].to_string();
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            let mut end = None;
            loop {
                while chars
                    .peek()
                    .is_some_and(|(_, c)| *c == ',' || c.is_whitespace())
                {
                    chars.next();
                }
                match chars.peek() {
                    Some((i, '}')) => {
                        end = Some(*i);
                        break;
                    }
                    None => break,
                    _ => {}
                }
                let mut key = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err(bad());
                }
                let mut value = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some(other) => value.push(other),
                            None => return Err(bad()),
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        other => value.push(other),
                    }
                }
                if !closed {
                    return Err(bad());
                }
                labels.insert(key.trim().to_string(), value);
            }
            let end = end.ok_or_else(bad)?;
            rest = &inner[end + 1..];
        }
        let value = rest.split_whitespace().next().ok_or_else(bad)?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse::<f64>().map_err(|_| bad())?,
        };
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    Ok(out)
}

/// The samples a metric check selects: its name, and at least its labels.
pub fn select<'a>(c: &MetricCheck, samples: &'a [Sample]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| {
            s.name == c.name
                && c.labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).is_some_and(|x| x == v))
        })
        .collect()
}

/// What a metric check selects, e.g. `relay_host_calls_total{operation="create_account"}`.
pub fn selector(c: &MetricCheck) -> String {
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{}{{{}}}", c.name, labels.join(","))
}

/// Checks a metric against a scrape; `before` is the scrape named by
/// `increased_since`, when the check has one.
pub fn check_metric(c: &MetricCheck, now: &[Sample], before: Option<&[Sample]>) -> Assertion {
    let what = format!("metric {}", selector(c));
    let selected = select(c, now);
    let any = !selected.is_empty();
    // `Iterator::sum` of f64 starts at -0.0; a fold starts at 0.
    let sum = selected.iter().fold(0.0, |a, s| a + s.value);
    let actual = if any { json!(sum) } else { Value::Null };
    if let Some(v) = c.equals {
        return Assertion::new(format!("{what} equals"), json!(v), actual, any && sum == v);
    }
    if let Some(v) = c.at_least {
        return Assertion::new(
            format!("{what} at least"),
            json!(v),
            actual,
            any && sum >= v,
        );
    }
    if let Some(since) = &c.increased_since {
        let was = select(c, before.unwrap_or_default())
            .iter()
            .fold(0.0, |a, s| a + s.value);
        return Assertion::new(
            format!("{what} increased since scrape {since:?}"),
            json!(format!("> {was}")),
            json!({"before": was, "now": actual}),
            before.is_some() && any && sum > was,
        );
    }
    let want = c.exists.unwrap_or(true);
    Assertion::new(
        format!("{what} exists"),
        json!(want),
        json!(any),
        any == want,
    )
}

/// Number of objects per kind in a mock state dump.
pub fn host_counts(state: &Value) -> BTreeMap<String, usize> {
    HOST_KINDS
        .iter()
        .map(|k| {
            let live = state
                .get(*k)
                .and_then(Value::as_array)
                .map_or(0, |a| a.iter().filter(|o| is_live(k, o)).count());
            (k.to_string(), live)
        })
        .collect()
}

/// Checks an answer (`status`, `body`) against `e`. `host` is the mock's state
/// dump read right after the answer, when the expectations need it.
pub fn check(e: &Expect, status: u16, body: &Value, host: Option<&Value>) -> Vec<Assertion> {
    let mut out = Vec::new();
    match e.status {
        Some(s) => out.push(Assertion::eq("HTTP status", json!(s), json!(status))),
        None => out.push(Assertion::new(
            "HTTP status is 2xx",
            json!("2xx"),
            json!(status),
            (200..300).contains(&status),
        )),
    }
    if let Some(code) = &e.error_code {
        out.push(Assertion::eq(
            "error.code",
            json!(code),
            ptr(body, "/error/code").clone(),
        ));
    }
    if let Some(s) = &e.batch_status {
        out.push(Assertion::eq(
            "batch.status",
            json!(s),
            ptr(body, "/batch/status").clone(),
        ));
    }
    if let Some(s) = &e.access_status {
        let (what, actual) = if body.get("batch").is_some() {
            (
                "batch.report.access.status",
                ptr(body, "/batch/report/access/status"),
            )
        } else {
            ("access_status", ptr(body, "/access_status"))
        };
        out.push(Assertion::eq(what, json!(s), actual.clone()));
    }
    for (k, v) in &e.counts {
        out.push(Assertion::eq(
            format!("batch.counts.{k}"),
            json!(v),
            ptr(body, &format!("/batch/counts/{k}")).clone(),
        ));
    }
    let its = items(body);
    if !e.item_statuses.is_empty() {
        let by = count_by(&its, "status");
        for (k, v) in &e.item_statuses {
            out.push(Assertion::eq(
                format!("items with status {k}"),
                json!(v),
                json!(by.get(k).copied().unwrap_or(0)),
            ));
        }
    }
    if !e.item_verdicts.is_empty() {
        let by = count_by(&its, "verdict");
        for (k, v) in &e.item_verdicts {
            out.push(Assertion::eq(
                format!("items with verdict {k}"),
                json!(v),
                json!(by.get(k).copied().unwrap_or(0)),
            ));
        }
    }
    if !e.item_messages_contain.is_empty() {
        let messages: Vec<&str> = its
            .iter()
            .filter_map(|i| i.get("message").and_then(Value::as_str))
            .collect();
        for t in &e.item_messages_contain {
            let pass = messages.iter().any(|m| m.contains(t.as_str()));
            out.push(Assertion::new(
                "an item message contains",
                json!(t),
                json!(messages),
                pass,
            ));
        }
    }
    if !e.warnings_contain.is_empty() {
        let ws = warnings(body);
        for t in &e.warnings_contain {
            let pass = ws.iter().any(|w| w.contains(t.as_str()));
            out.push(Assertion::new(
                "a warning contains",
                json!(t),
                json!(ws),
                pass,
            ));
        }
    }
    if let Some(want) = e.repair_recorded {
        let found = repairs(body);
        out.push(Assertion::new(
            "capability repair recorded in the gateway proof",
            json!(want),
            json!(found),
            found.is_empty() != want,
        ));
        let journaled = journaled_repairs(body);
        out.push(Assertion::new(
            "capability repair journaled on a managed resource",
            json!(want),
            json!(journaled),
            journaled.is_empty() != want,
        ));
    }
    if let Some(want) = e.rollback_complete {
        out.push(Assertion::eq(
            "rollback.complete",
            json!(want),
            ptr(body, "/rollback/complete").clone(),
        ));
    }
    for c in &e.json {
        out.push(check_json("answer", body, c));
    }
    if e.reads_host() {
        match host {
            Some(state) => {
                if e.resources_match_host {
                    out.push(resources_vs_host(body, state));
                }
                let counts = host_counts(state);
                for (k, v) in &e.host_counts {
                    out.push(Assertion::eq(
                        format!("host {k}"),
                        json!(v),
                        json!(counts.get(k).copied().unwrap_or(0)),
                    ));
                }
                for c in &e.host_json {
                    out.push(check_json("host state", state, c));
                }
            }
            None => out.push(Assertion::new(
                "host state readable",
                json!(true),
                json!(false),
                false,
            )),
        }
    }
    out
}

/// The host object kinds of a state dump and the journal's resource type of each;
/// `true` when every object of the kind on the host must be journaled (the host has
/// users of its own: only journaled users are checked).
const JOURNALED_KINDS: [(&str, &str, bool); 7] = [
    ("groups", "group", true),
    ("channels", "channel", true),
    ("plans", "plan", true),
    ("accounts", "account", true),
    ("api_keys", "user_key", true),
    ("subscriptions", "subscription", true),
    ("users", "user", false),
];

/// The journal states of a resource that exists on the host.
const LIVE_RESOURCE_STATES: [&str; 3] = ["created", "reused", "adopted"];

/// Compares the answer's journaled resources (`resources`) with the host's objects:
/// per kind, the host ids no live resource names (orphans) and the live resources'
/// ids the host does not hold (missing); see [`Expect::resources_match_host`].
pub fn resources_vs_host(body: &Value, state: &Value) -> Assertion {
    let resources: Vec<&Value> = body
        .get("resources")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut orphans = serde_json::Map::new();
    let mut missing = serde_json::Map::new();
    let mut compared = serde_json::Map::new();
    for (kind, resource_type, all_journaled) in JOURNALED_KINDS {
        let on_host: std::collections::BTreeSet<i64> = state
            .get(kind)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|o| is_live(kind, o))
                    .filter_map(|o| o.get("id").and_then(Value::as_i64))
                    .collect()
            })
            .unwrap_or_default();
        let journaled: std::collections::BTreeSet<i64> = resources
            .iter()
            .filter(|r| r.get("resource_type").and_then(Value::as_str) == Some(resource_type))
            .filter(|r| {
                r.get("state")
                    .and_then(Value::as_str)
                    .is_some_and(|s| LIVE_RESOURCE_STATES.contains(&s))
            })
            .filter_map(|r| r.get("host_resource_id").and_then(Value::as_i64))
            .collect();
        let lost: Vec<i64> = journaled.difference(&on_host).copied().collect();
        if !lost.is_empty() {
            missing.insert(kind.to_string(), json!(lost));
        }
        if all_journaled {
            let extra: Vec<i64> = on_host.difference(&journaled).copied().collect();
            if !extra.is_empty() {
                orphans.insert(kind.to_string(), json!(extra));
            }
        }
        compared.insert(
            kind.to_string(),
            json!({"host": on_host.len(), "journaled": journaled.len()}),
        );
    }
    let pass = orphans.is_empty() && missing.is_empty() && !resources.is_empty();
    Assertion::new(
        "the journaled resources are exactly the host's objects (no orphan, none missing)",
        json!({"orphans": {}, "missing": {}}),
        json!({"orphans": orphans, "missing": missing, "compared": compared}),
        pass,
    )
}

/// Whether the expectations read the mock's state.
pub fn needs_host(e: &Expect) -> bool {
    e.reads_host()
}

/// The part of an answer worth keeping as evidence: for a batch view, the batch,
/// access proof, warnings, items, resources and rollback summary; otherwise the body,
/// cut when large.
pub fn excerpt(body: &Value) -> Value {
    if let Some(batch) = body.get("batch") {
        let report = batch.get("report").unwrap_or(&Value::Null);
        let access = report.get("access").unwrap_or(&Value::Null);
        let proofs: Vec<Value> = proofs(body)
            .into_iter()
            .map(|p| {
                json!({
                    "mode": p.get("mode"),
                    "key_source": p.get("key_source"),
                    "key_mask": p.get("key_mask"),
                    "proof": p.get("proof"),
                    "attempts": p.get("attempts"),
                    "models_status": p.get("models_status"),
                    "smoke_model_seen": p.get("smoke_model_seen"),
                    "completion_status": p.get("completion_status"),
                    "completion_preview": p.get("completion_preview"),
                    "message": p.get("message"),
                    "repairs": p.get("repairs"),
                })
            })
            .collect();
        let all_items = items(body);
        let shown: Vec<Value> = all_items
            .iter()
            .take(50)
            .map(|i| {
                json!({
                    "seq": i.get("seq"),
                    "mask": i.get("mask"),
                    "status": i.get("status"),
                    "verdict": i.get("verdict"),
                    "account_id": i.get("account_id"),
                    "message": i.get("message"),
                })
            })
            .collect();
        let resources: Vec<Value> = body
            .get("resources")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|r| {
                        json!({
                            "resource_type": r.get("resource_type"),
                            "host_resource_id": r.get("host_resource_id"),
                            "logical_key": r.get("logical_key"),
                            "state": r.get("state"),
                            "capability_repairs": r.pointer("/details/capability_repairs"),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut out = json!({
            "batch": {
                "id": batch.get("id"),
                "provider_id": batch.get("provider_id"),
                "mode": batch.get("mode"),
                "access_mode": batch.get("access_mode"),
                "status": batch.get("status"),
                "counts": batch.get("counts"),
                "error": batch.get("error"),
                "interrupted_at": batch.get("interrupted_at"),
            },
            "access": {
                "status": access.get("status"),
                "subscription": access.get("subscription"),
                "self_service": access.get("self_service"),
                "group_id": access.get("group_id"),
                "proofs": proofs,
            },
            "warnings": warnings(body),
            "retired": report.get("retired"),
            "items_total": all_items.len(),
            "items": shown,
            "resources": resources,
        });
        if let Some(r) = body.get("rollback") {
            out["rollback"] = json!({
                "complete": r.get("complete"),
                "deleted": r.get("deleted").and_then(Value::as_array).map(Vec::len),
                "kept": r.get("kept"),
                "remaining": r.get("remaining"),
            });
        }
        return out;
    }
    let text = body.to_string();
    if text.len() <= 4000 {
        body.clone()
    } else {
        let mut cut = 4000;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        json!({"truncated": true, "bytes": text.len(), "start": &text[..cut]})
    }
}

/// Differences between two object dumps, per kind: ids added and removed, and for
/// each changed id the fields that differ; empty when equal. With `except_usage`,
/// the host's usage bookkeeping (see [`is_usage_field`]) is not a difference.
pub fn host_diff(before: &Value, after: &Value, except_usage: bool) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for kind in HOST_KINDS {
        let by_id = |v: &Value| -> BTreeMap<String, Value> {
            v.get(kind)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .enumerate()
                        .map(|(n, o)| {
                            let id = o
                                .get("id")
                                .map(Value::to_string)
                                .unwrap_or_else(|| format!("#{n}"));
                            (id, o.clone())
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let (b, a) = (by_id(before), by_id(after));
        let added: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
        let removed: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
        let mut changed = serde_json::Map::new();
        for (id, now) in &a {
            let Some(old) = b.get(id) else { continue };
            let fields = changed_fields(old, now, except_usage);
            if !fields.is_empty() {
                changed.insert(id.clone(), json!(fields));
            }
        }
        if !(added.is_empty() && removed.is_empty() && changed.is_empty()) {
            out.insert(
                kind.to_string(),
                json!({"added": added, "removed": removed, "changed": changed}),
            );
        }
    }
    out
}

/// The top-level fields of two objects that differ.
fn changed_fields(old: &Value, now: &Value, except_usage: bool) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        now.as_object().unwrap_or(&empty),
    );
    let mut fields: Vec<String> = o
        .keys()
        .chain(n.keys())
        .filter(|k| !(except_usage && is_usage_field(k)))
        .filter(|k| match (o.get(*k), n.get(*k)) {
            // An embedded object (a subscription's user, say) differs only in what
            // is not usage bookkeeping.
            (Some(a @ Value::Object(_)), Some(b @ Value::Object(_))) if except_usage => {
                !changed_fields(a, b, true).is_empty()
            }
            (a, b) => a != b,
        })
        .cloned()
        .collect();
    fields.sort();
    fields.dedup();
    if fields.is_empty() && old != now && !except_usage {
        fields.push("(value)".to_string());
    }
    fields
}

/// Fields the host updates when a key is used through its gateway (last use, usage
/// windows and totals, the user's balance and activity): a proof call changes them,
/// but they are not configuration.
pub fn is_usage_field(field: &str) -> bool {
    matches!(field, "updated_at" | "balance" | "quota_used" | "usage")
        || field.starts_with("last_used")
        || field.starts_with("last_active")
        || field.ends_with("_usage_usd")
        || field.ends_with("_window_start")
        || field.ends_with("_used")
}

/// The mock's objects (the kinds a snapshot compares).
pub fn host_objects(state: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for kind in HOST_KINDS {
        let live = match state.get(kind) {
            Some(Value::Array(a)) => {
                Value::Array(a.iter().filter(|o| is_live(kind, o)).cloned().collect())
            }
            other => other.cloned().unwrap_or(Value::Null),
        };
        out.insert(kind.to_string(), live);
    }
    Value::Object(out)
}

/// False for a revoked subscription: the host soft-deletes it and still lists the
/// row (status `revoked`), but it no longer exists for anything else.
fn is_live(kind: &str, object: &Value) -> bool {
    kind != "subscriptions" || object.get("status") != Some(&json!("revoked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_answer() -> Value {
        json!({
            "batch": {"status": "succeeded", "counts": {"passed": 1, "warning": 1},
                      "report": {"warnings": ["plan api missing"],
                                 "access": {"status": "subscription_ready",
                                            "subscription_detail": {"proof": {"repairs": [{"ok": true}]}, "subscribers": []}}}},
            "items": [
                {"status": "passed", "verdict": "passed", "message": null},
                {"status": "warning", "verdict": "warning", "message": "API returned 403: Forbidden"}
            ],
            "resources": [
                {"resource_type": "group", "details": {}},
                {"resource_type": "account", "details": {"capability_repairs": [{"ok": true}]}}
            ]
        })
    }

    #[test]
    fn expectations_pass_and_fail() {
        let body = batch_answer();
        let mut e = Expect {
            batch_status: Some("succeeded".into()),
            access_status: Some("subscription_ready".into()),
            warnings_contain: vec!["403".into(), "plan api".into()],
            repair_recorded: Some(true),
            ..Expect::default()
        };
        e.item_statuses.insert("warning".into(), 1);
        e.counts.insert("passed".into(), 1);
        let r = check(&e, 200, &body, None);
        assert!(r.iter().all(|a| a.pass), "{r:?}");

        e.batch_status = Some("failed".into());
        e.item_verdicts.insert("failed".into(), 1);
        e.repair_recorded = Some(false);
        let r = check(&e, 500, &body, None);
        let failed: Vec<&str> = r
            .iter()
            .filter(|a| !a.pass)
            .map(|a| a.what.as_str())
            .collect();
        assert_eq!(
            failed,
            [
                "HTTP status is 2xx",
                "batch.status",
                "items with verdict failed",
                "capability repair recorded in the gateway proof",
                "capability repair journaled on a managed resource"
            ]
        );
    }

    #[test]
    fn host_expectations_need_the_state() {
        let mut e = Expect::default();
        e.host_counts.insert("accounts".into(), 2);
        let state = json!({"accounts": [{"id": 1}, {"id": 2}]});
        assert!(check(&e, 200, &json!({}), Some(&state))
            .iter()
            .all(|a| a.pass));
        assert!(!check(&e, 200, &json!({}), None).iter().all(|a| a.pass));
        e.host_counts.insert("accounts".into(), 3);
        assert!(!check(&e, 200, &json!({}), Some(&state))
            .iter()
            .all(|a| a.pass));
    }

    #[test]
    fn journaled_resources_are_compared_with_the_host() {
        let state = json!({
            "groups": [{"id": 1}], "channels": [{"id": 1}], "plans": [],
            "accounts": [{"id": 1}, {"id": 2}], "api_keys": [{"id": 4}],
            "users": [{"id": 1}, {"id": 2}],
            "subscriptions": [{"id": 3, "status": "active"}, {"id": 9, "status": "revoked"}]
        });
        let r = |t: &str, id: i64, st: &str| json!({"resource_type": t, "host_resource_id": id, "state": st});
        let mut resources = vec![
            r("group", 1, "created"),
            r("channel", 1, "reused"),
            r("account", 1, "created"),
            r("account", 2, "adopted"),
            r("user_key", 4, "created"),
            r("user", 2, "created"),
            r("subscription", 3, "created"),
            // Gone from the host and journaled so: no difference.
            r("account", 7, "deleted"),
        ];
        let body = json!({"resources": resources});
        let a = resources_vs_host(&body, &state);
        assert!(a.pass, "{a:?}");
        // An account on the host that only an intent names is an orphan.
        resources[3] = r("account", 2, "intent");
        let a = resources_vs_host(&json!({"resources": resources}), &state);
        assert!(!a.pass);
        assert_eq!(a.actual["orphans"], json!({"accounts": [2]}));
        // A live resource the host lost is missing; a user of the host's own is not
        // an orphan.
        resources[3] = r("account", 2, "created");
        resources.push(r("group", 5, "created"));
        let a = resources_vs_host(&json!({"resources": resources}), &state);
        assert_eq!(a.actual["missing"], json!({"groups": [5]}));
        assert_eq!(a.actual["orphans"], json!({}));
        assert!(!a.pass);
        // No resources at all proves nothing.
        assert!(!resources_vs_host(&json!({}), &json!({})).pass);
        // Through an expectation, with and without the host's state.
        let e = Expect {
            resources_match_host: true,
            ..Expect::default()
        };
        assert!(needs_host(&e));
        assert!(!check(&e, 200, &body, None).iter().all(|a| a.pass));
        assert!(check(&e, 200, &body, Some(&state)).iter().all(|a| a.pass));
    }

    #[test]
    fn json_checks() {
        let doc = json!({"a": {"n": 3, "s": "hello", "l": [1, 2]}});
        let c = |v: Value| serde_json::from_value::<JsonCheck>(v).unwrap();
        assert!(check_json("x", &doc, &c(json!({"path": "/a/n", "at_least": 2}))).pass);
        assert!(!check_json("x", &doc, &c(json!({"path": "/a/n", "at_least": 4}))).pass);
        assert!(check_json("x", &doc, &c(json!({"path": "/a/s", "contains": "ell"}))).pass);
        assert!(check_json("x", &doc, &c(json!({"path": "/a/l", "len": 2}))).pass);
        assert!(check_json("x", &doc, &c(json!({"path": "/a/z", "exists": false}))).pass);
        assert!(!check_json("x", &doc, &c(json!({"path": "/a/s", "equals": "bye"}))).pass);
    }

    #[test]
    fn pointer_selectors_pick_the_first_matching_element() {
        let doc = json!({"differences": [
            {"kind": "changed", "resource_type": "channel", "host_id": 3},
            {"kind": "missing", "resource_type": "account", "host_id": 7, "detail": "account 7 (a/b)"},
            {"kind": "missing", "resource_type": "account", "host_id": 8}
        ]});
        let at = |p: &str| lookup(&doc, p).cloned();
        assert_eq!(at("/differences/[kind=missing]/host_id"), Some(json!(7)));
        assert_eq!(
            at("/differences/[kind=missing,host_id=8]/host_id"),
            Some(json!(8))
        );
        assert_eq!(
            at("/differences/[ kind = changed ]/host_id"),
            Some(json!(3))
        );
        assert_eq!(
            at("/differences/[kind=missing,resource_type=channel]"),
            None
        );
        assert_eq!(at("/differences/[kind=gone]/host_id"), None);
        assert_eq!(at("/differences/1/host_id"), Some(json!(7)));
        assert_eq!(at(""), Some(doc.clone()));
        assert_eq!(at("differences"), None);
        // A selector on an object is a plain key.
        assert_eq!(lookup(&json!({"[a=b]": 1}), "/[a=b]"), Some(&json!(1)));
        let c = |v: Value| serde_json::from_value::<JsonCheck>(v).unwrap();
        assert!(
            check_json(
                "x",
                &doc,
                &c(json!({"path": "/differences/[host_id=7]/detail", "contains": "a/b"}))
            )
            .pass
        );
        assert!(
            !check_json(
                "x",
                &doc,
                &c(json!({"path": "/differences/[host_id=9]/detail", "exists": true}))
            )
            .pass
        );
    }

    #[test]
    fn metrics_parse_and_checks() {
        let text = "# HELP relay_imports_total x\n# TYPE relay_imports_total counter\n\
            relay_imports_total{outcome=\"succeeded\"} 2\n\
            relay_imports_total{outcome=\"failed\"} 1\n\
            relay_host_calls_total{operation=\"create_account\",outcome=\"ok\"} 3\n\
            relay_provider_status{host_id=\"h\",provider_id=\"p\",status=\"active\",note=\"a \\\"q\\\" b,c}\"} 1\n\
            relay_scheduler_lag_seconds 0.5\n\
            relay_x_bucket{le=\"+Inf\"} 4 1700000000\n";
        let now = parse_metrics(text).unwrap();
        assert_eq!(now.len(), 6, "{now:?}");
        assert_eq!(now[3].labels["note"], "a \"q\" b,c}");
        assert_eq!(now[4].value, 0.5);
        assert!(parse_metrics("relay_x{a=\"b} 1").is_err());
        assert!(parse_metrics("relay_x one").is_err());
        let before = parse_metrics("relay_imports_total{outcome=\"succeeded\"} 2\n").unwrap();
        let c = |v: Value| serde_json::from_value::<MetricCheck>(v).unwrap();
        let check = |v: Value| check_metric(&c(v), &now, Some(&before)).pass;
        assert!(check(json!({"name": "relay_imports_total", "equals": 3})));
        assert!(check(
            json!({"name": "relay_imports_total", "increased_since": "b"})
        ));
        assert!(!check(
            json!({"name": "relay_imports_total", "labels": {"outcome": "succeeded"}, "increased_since": "b"})
        ));
        assert!(check(
            json!({"name": "relay_host_calls_total", "labels": {"operation": "create_account"}, "increased_since": "b"})
        ));
        assert!(!check(
            json!({"name": "relay_host_calls_total", "labels": {"operation": "delete_account"}, "at_least": 0})
        ));
        assert!(check(
            json!({"name": "relay_provider_status", "labels": {"provider_id": "p", "status": "active"}, "equals": 1})
        ));
        assert!(!check(
            json!({"name": "relay_provider_status", "labels": {"status": "drifted"}, "exists": true})
        ));
        // An empty "before" counts 0 (not -0), and nothing now is no increase.
        let a = check_metric(
            &c(json!({"name": "relay_reconciles_total", "increased_since": "b"})),
            &now,
            Some(&before),
        );
        assert!(!a.pass);
        assert_eq!(a.expected, json!("> 0"));
    }

    #[test]
    fn diff_names_what_moved() {
        let before = json!({"accounts": [{"id": 1, "x": 1}], "groups": []});
        let after = json!({"accounts": [{"id": 1, "x": 2}, {"id": 2}], "groups": []});
        let d = host_diff(&before, &after, false);
        assert_eq!(d["accounts"]["added"], json!(["2"]));
        assert_eq!(d["accounts"]["changed"], json!({"1": ["x"]}));
        assert!(host_diff(&before, &before, false).is_empty());
        // Usage bookkeeping, also inside an embedded object, is no difference when
        // asked; configuration still is.
        let before = json!({"subscriptions": [{"id": 1, "status": "active", "user": {"id": 2, "last_active_at": null}, "daily_usage_usd": 0}]});
        let used = json!({"subscriptions": [{"id": 1, "status": "active", "user": {"id": 2, "last_active_at": "now"}, "daily_usage_usd": 0.1}]});
        assert!(host_diff(&before, &used, true).is_empty());
        assert_eq!(
            host_diff(&before, &used, false)["subscriptions"]["changed"],
            json!({"1": ["daily_usage_usd", "user"]})
        );
        let revoked = json!({"subscriptions": [{"id": 1, "status": "expired", "user": {"id": 3}, "daily_usage_usd": 0}]});
        assert_eq!(
            host_diff(&before, &revoked, true)["subscriptions"]["changed"],
            json!({"1": ["status", "user"]})
        );
    }
}
