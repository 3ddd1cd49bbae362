//! The redaction pass over stored texts: every column that can hold text from a
//! host or a vendor, rewritten where the redactor changes it. Run by migration
//! `0003` with the key patterns, over records written by older versions.

use crate::db::{params, Conn};
use relay_domain::Redactor;
use serde_json::Value;

use crate::error::Result;

/// How a column holds its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Free text.
    Text,
    /// A JSON document (every string in it, object keys included).
    Json,
}

/// Every stored column that can hold host or vendor text, by table.
const COLUMNS: &[(&str, &[(&str, Kind)])] = &[
    (
        "import_batches",
        &[
            ("request", Kind::Json),
            ("report", Kind::Json),
            ("error", Kind::Text),
        ],
    ),
    (
        "import_batch_items",
        &[("message", Kind::Text), ("details", Kind::Json)],
    ),
    ("provider_installs", &[("status_message", Kind::Text)]),
    ("managed_resources", &[("details", Kind::Json)]),
    (
        "reconcile_runs",
        &[
            ("differences", Kind::Json),
            ("repairs", Kind::Json),
            ("error", Kind::Text),
            ("report", Kind::Json),
        ],
    ),
    (
        "probe_results",
        &[
            ("subject", Kind::Text),
            ("message", Kind::Text),
            ("details", Kind::Json),
        ],
    ),
    (
        "access_closure_records",
        &[
            ("completion_type", Kind::Text),
            ("completion_preview", Kind::Text),
            ("message", Kind::Text),
            ("details", Kind::Json),
        ],
    ),
];

/// The redacted form of a stored value, or `None` when the redactor leaves it as it
/// is. A JSON column that does not parse is redacted as text (the schema's
/// `json_valid` checks keep that from happening).
fn redacted(kind: Kind, stored: &str, redactor: &Redactor) -> Option<String> {
    let new = match (kind, serde_json::from_str::<Value>(stored)) {
        (Kind::Json, Ok(value)) => {
            let clean = redactor.redact_json(&value);
            if clean == value {
                return None;
            }
            clean.to_string()
        }
        _ => redactor.redact(stored),
    };
    (new != stored).then_some(new)
}

/// Rewrites every stored text that `redactor` changes, in the caller's
/// transaction; returns how many values were rewritten.
pub(crate) fn scrub_stored_texts(conn: &Conn<'_>, redactor: &Redactor) -> Result<usize> {
    let mut changed = 0;
    for (table, columns) in COLUMNS {
        for (column, kind) in *columns {
            let updates: Vec<(i64, String)> = {
                let mut stmt = conn.prepare(&format!(
                    "SELECT rowid, {column} FROM {table} WHERE {column} IS NOT NULL"
                ))?;
                let rows =
                    stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
                let mut out = Vec::new();
                for row in rows {
                    let (rowid, stored) = row?;
                    if let Some(new) = redacted(*kind, &stored, redactor) {
                        out.push((rowid, new));
                    }
                }
                out
            };
            let mut update = conn.prepare(&format!(
                "UPDATE {table} SET {column} = ?2 WHERE rowid = ?1"
            ))?;
            for (rowid, new) in &updates {
                update.execute(params![rowid, new])?;
            }
            changed += updates.len();
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_changed_values_are_rewritten() {
        let r = Redactor::new();
        assert_eq!(redacted(Kind::Text, "no secret here", &r), None);
        assert_eq!(
            redacted(Kind::Json, r#"{"b":1,"a":"sk-short"}"#, &r),
            None,
            "a JSON value the redactor leaves alone is not re-serialized"
        );
        let key = "sk-0957beb1f3bdf4a9ee786475a5a168d9";
        let out = redacted(
            Kind::Json,
            &json!({"m": format!("bad {key}")}).to_string(),
            &r,
        )
        .expect("changed");
        assert!(!out.contains(key));
        assert!(serde_json::from_str::<Value>(&out).is_ok());
        let out = redacted(Kind::Text, &format!("x-api-key={key}"), &r).expect("changed");
        assert!(!out.contains(key));
    }
}
