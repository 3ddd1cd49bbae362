//! Output helpers shared by every command: the `--output` format, plain tables and errors.

use clap::ValueEnum;
use serde::Serialize;
use serde_json::{json, Value};

use crate::client::ApiError;
use crate::input::UsageError;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text and tables.
    Table,
    /// One JSON document on stdout.
    Json,
}

/// Renders rows under headers as left-aligned columns separated by two spaces.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The error code of a failure, when it has one: the server's code, the client's
/// transport code, or `usage`.
pub fn error_code(error: &anyhow::Error) -> Option<String> {
    if let Some(api) = error.downcast_ref::<ApiError>() {
        Some(api.code.clone())
    } else if error.downcast_ref::<UsageError>().is_some() {
        Some("usage".into())
    } else {
        None
    }
}

/// Prints a command failure: `error: <code>: <message>` on stderr (`error: <message>`
/// for failures without a code), plus a JSON error document on stdout in JSON mode.
pub fn print_error(format: OutputFormat, error: &anyhow::Error) {
    let message = format!("{error:#}");
    let code = error_code(error);
    match &code {
        Some(code) => eprintln!("error: {code}: {message}"),
        None => eprintln!("error: {message}"),
    }
    if format == OutputFormat::Json {
        let doc =
            json!({ "error": { "code": code.as_deref().unwrap_or("failed"), "message": message } });
        println!("{doc}");
    }
}

/// Reports an operation that ran but ended badly (its document is already printed):
/// `error: <code>: <message>` on stderr only.
pub fn print_failure(code: &str, message: &str) {
    eprintln!("error: {code}: {message}");
}

/// A scalar as table text: strings as they are, `null` or missing as `-`, arrays of
/// scalars joined with `, `.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Object(_) => value.to_string(),
    }
}

/// A timestamp (milliseconds since the epoch, or an RFC 3339 string) as
/// `YYYY-MM-DD HH:MM:SSZ`; `-` when absent.
pub fn time(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(ms) => format_millis(ms),
            None => n.to_string(),
        },
        other => text(other),
    }
}

fn format_millis(ms: i64) -> String {
    // `2026-05-01T10:00:00.123Z` (relay-domain's one calendar) → `2026-05-01 10:00:00Z`.
    let rfc3339 = relay_domain::Timestamp(ms).to_rfc3339();
    match rfc3339.split_once('T') {
        Some((date, rest)) => {
            let hms = rest.split(['.', 'Z']).next().unwrap_or(rest);
            format!("{date} {hms}Z")
        }
        None => rfc3339,
    }
}

/// `key: value` lines with the values aligned.
pub fn render_fields(fields: &[(&str, String)]) -> String {
    let width = fields
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    let mut out = String::new();
    for (key, value) in fields {
        let label = format!("{key}:");
        out.push_str(format!("{label:<width$} {value}").trim_end());
        out.push('\n');
    }
    out
}

/// A text value: `-` when empty.
pub fn s(value: &str) -> String {
    if value.is_empty() {
        "-".into()
    } else {
        value.to_owned()
    }
}

/// An optional value: `-` when absent or empty.
pub fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| s(&v.to_string()))
}

/// `yes` or `no`.
pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

/// A list as `a, b`, or `-` when empty.
pub fn list<T: std::fmt::Display>(values: &[T]) -> String {
    if values.is_empty() {
        "-".into()
    } else {
        values
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A timestamp (milliseconds since the epoch) in UTC.
pub fn at(ms: i64) -> String {
    format_millis(ms)
}

/// An optional timestamp: `-` when absent.
pub fn opt_at(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".into(), format_millis)
}

/// Renders any JSON document as text: scalar fields as aligned `key: value` lines
/// (times formatted), arrays of objects as tables, nested objects as indented sections.
pub fn render_value(value: &Value) -> String {
    let mut out = String::new();
    render_into(&mut out, value, 0);
    out
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Object(_))
        && !matches!(value, Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()))
}

fn field_text(key: &str, value: &Value) -> String {
    if key.ends_with("_at") {
        time(value)
    } else {
        text(value)
    }
}

fn render_into(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    let Value::Object(map) = value else {
        out.push_str(&format!("{pad}{}\n", text(value)));
        return;
    };
    let fields: Vec<(&str, String)> = map
        .iter()
        .filter(|(_, v)| is_scalar(v))
        .map(|(k, v)| (k.as_str(), field_text(k, v)))
        .collect();
    for line in render_fields(&fields).lines() {
        out.push_str(&format!("{pad}{line}\n"));
    }
    for (key, nested) in map.iter().filter(|(_, v)| !is_scalar(v)) {
        out.push('\n');
        out.push_str(&format!("{pad}{key}:\n"));
        match nested {
            Value::Array(rows) => {
                for line in render_rows(rows).lines() {
                    out.push_str(&format!("{pad}  {line}\n"));
                }
            }
            other => render_into(out, other, indent + 2),
        }
    }
}

/// Renders an array of objects as a table over the union of their scalar fields.
pub fn render_rows(rows: &[Value]) -> String {
    let mut columns: Vec<&str> = Vec::new();
    for row in rows {
        if let Value::Object(map) = row {
            for (key, value) in map {
                if is_scalar(value) && !columns.contains(&key.as_str()) {
                    columns.push(key);
                }
            }
        }
    }
    if columns.is_empty() {
        return rows.iter().map(|r| format!("{}\n", text(r))).collect();
    }
    let headers: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| field_text(c, row.get(*c).unwrap_or(&Value::Null)))
                .collect()
        })
        .collect();
    render_table(&header_refs, &table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["deepseek".to_owned(), "x".to_owned()],
            vec!["qwen".to_owned(), "yy".to_owned()],
        ];
        assert_eq!(
            render_table(&["ID", "V"], &rows),
            "ID        V\ndeepseek  x\nqwen      yy\n"
        );
    }

    #[test]
    fn times_and_scalars() {
        assert_eq!(time(&json!(0)), "1970-01-01 00:00:00Z");
        assert_eq!(time(&json!(1_735_689_600_123_i64)), "2025-01-01 00:00:00Z");
        assert_eq!(time(&Value::Null), "-");
        assert_eq!(text(&json!(["a", "b"])), "a, b");
        assert_eq!(text(&json!(true)), "yes");
        assert_eq!(text(&json!("")), "-");
    }

    #[test]
    fn any_document_renders() {
        let doc = json!({
            "status": "active",
            "last_reconcile_at": 0,
            "install": {"access_status": "subscription_ready"},
            "resources": [{"resource_type": "group", "host_resource_id": 3}],
        });
        let out = render_value(&doc);
        assert!(
            out.contains("last_reconcile_at: 1970-01-01 00:00:00Z\n"),
            "{out}"
        );
        assert!(out.contains("status:            active\n"), "{out}");
        assert!(
            out.contains("install:\n  access_status: subscription_ready\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "resources:\n  HOST_RESOURCE_ID  RESOURCE_TYPE\n  3                 group\n"
            ),
            "{out}"
        );
    }
}
