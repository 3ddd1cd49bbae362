//! Row decoding helpers shared by the repositories.

use std::str::FromStr;

use crate::db::{Conn, DbError, DbResult, Row};
use serde_json::Value;

use crate::records::Timestamp;

fn conversion(idx: usize, e: impl std::fmt::Display) -> DbError {
    DbError::conversion(idx, e)
}

/// Parses a TEXT column with `FromStr` (status strings, ids).
pub(crate) fn parsed<T>(row: &Row<'_>, idx: usize) -> DbResult<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s: String = row.get(idx)?;
    s.parse::<T>().map_err(|e| conversion(idx, e))
}

/// Parses a nullable TEXT column with `FromStr`.
pub(crate) fn parsed_opt<T>(row: &Row<'_>, idx: usize) -> DbResult<Option<T>>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s: Option<String> = row.get(idx)?;
    s.map(|s| s.parse::<T>().map_err(|e| conversion(idx, e)))
        .transpose()
}

/// Decodes a JSON TEXT column.
pub(crate) fn json(row: &Row<'_>, idx: usize) -> DbResult<Value> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|e| conversion(idx, e))
}

/// Decodes a nullable JSON TEXT column.
pub(crate) fn json_opt(row: &Row<'_>, idx: usize) -> DbResult<Option<Value>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| serde_json::from_str(&s).map_err(|e| conversion(idx, e)))
        .transpose()
}

/// Decodes an INTEGER millisecond timestamp.
pub(crate) fn ts(row: &Row<'_>, idx: usize) -> DbResult<Timestamp> {
    row.get::<_, i64>(idx).map(Timestamp)
}

/// Decodes a nullable INTEGER millisecond timestamp.
pub(crate) fn ts_opt(row: &Row<'_>, idx: usize) -> DbResult<Option<Timestamp>> {
    row.get::<_, Option<i64>>(idx).map(|v| v.map(Timestamp))
}

/// Decodes a fingerprint column.
pub(crate) fn fingerprint(row: &Row<'_>, idx: usize) -> DbResult<relay_domain::Fingerprint> {
    let s: String = row.get(idx)?;
    relay_domain::Fingerprint::parse(&s).ok_or_else(|| conversion(idx, BadFingerprint))
}

/// Decodes a nullable fingerprint column.
pub(crate) fn fingerprint_opt(
    row: &Row<'_>,
    idx: usize,
) -> DbResult<Option<relay_domain::Fingerprint>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| relay_domain::Fingerprint::parse(&s).ok_or_else(|| conversion(idx, BadFingerprint)))
        .transpose()
}

#[derive(Debug)]
struct BadFingerprint;

impl std::fmt::Display for BadFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a 64-character hex fingerprint")
    }
}

impl std::error::Error for BadFingerprint {}

/// Builds a `WHERE` clause from optional equality filters.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    clauses: Vec<String>,
    params: Vec<String>,
}

impl Filter {
    /// Adds `column = ?` when `value` is present.
    pub(crate) fn eq(&mut self, column: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.params.push(v.to_string());
            self.clauses
                .push(format!("{column} = ?{}", self.params.len()));
        }
        self
    }

    /// The `WHERE …` text (empty when no filter).
    pub(crate) fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The bound parameters.
    pub(crate) fn params(&self) -> crate::db::ParamsFromIter<'_> {
        crate::db::params_from_iter(self.params.iter())
    }
}

/// A `LIMIT` clause.
pub(crate) fn limit_clause(limit: Option<u32>) -> String {
    limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
}

/// Moves one item from the count column `from` to `to` of the row `key = id` of
/// `table` (a column `None` is counted nowhere), and stamps `updated_at`: constant
/// work per item, where a recount scans every item of the parent. `table`, `key` and
/// the columns are the caller's constants, never input.
pub(crate) fn move_count(
    conn: &Conn<'_>,
    table: &str,
    key: &str,
    id: &str,
    from: Option<&str>,
    to: Option<&str>,
    now: i64,
) -> DbResult<()> {
    let mut sets = Vec::new();
    if from != to {
        if let Some(c) = from {
            sets.push(format!("{c} = {c} - 1"));
        }
        if let Some(c) = to {
            sets.push(format!("{c} = {c} + 1"));
        }
    }
    sets.push("updated_at = ?2".to_string());
    conn.execute(
        &format!("UPDATE {table} SET {} WHERE {key} = ?1", sets.join(", ")),
        crate::db::params![id, now],
    )?;
    Ok(())
}
