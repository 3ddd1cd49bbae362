//! The audit trail of host mutations (append-only: the database refuses UPDATE and
//! DELETE of its rows), and the records of doctor runs and access closures.

use crate::db::{params, params_from_iter, Conn, DbResult, OptionalExtension, Row, Value};
use relay_domain::{AuditOrigin, HostId, PackId, ProviderId};

use crate::error::{Result, StoreError};
use crate::records::{
    AuditEventRecord, AuditFilter, NewAuditEvent, NewOperationRecord, OperationKind,
    OperationRecord, Timestamp,
};
use crate::repo::Page;
use crate::sql::{json, json_opt, parsed, ts};
use crate::Store;

/// Default page size of [`AuditRepository::list`].
pub const AUDIT_PAGE_DEFAULT: u32 = 100;
/// Largest page of [`AuditRepository::list`].
pub const AUDIT_PAGE_MAX: u32 = 1000;

/// The audit trail: appended to, read page by page, never changed.
pub trait AuditRepository {
    /// Appends one event (its texts and changes through the store's redaction step).
    fn append(&self, event: &NewAuditEvent) -> Result<AuditEventRecord>;
    /// Events matching the filter, oldest first, one page; `next_cursor` continues.
    fn list(&self, filter: &AuditFilter) -> Result<Page<AuditEventRecord>>;
}

/// Stored doctor runs and access closures.
pub trait OperationRepository {
    /// Stores a finished doctor run or access closure (report and error redacted).
    fn insert(&self, record: &NewOperationRecord) -> Result<OperationRecord>;
    /// One record of `kind`, or [`StoreError::NotFound`].
    fn get(&self, kind: OperationKind, id: &str) -> Result<OperationRecord>;
    /// The records of `kind` for a provider on a host, newest first.
    fn list_for_provider(
        &self,
        kind: OperationKind,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        limit: u32,
    ) -> Result<Vec<OperationRecord>>;
}

/// The SQL implementation of [`AuditRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteAudit<'s> {
    store: &'s Store,
}

impl<'s> SqliteAudit<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteAudit { store }
    }
}

/// The SQL implementation of [`OperationRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteOperations<'s> {
    store: &'s Store,
}

impl<'s> SqliteOperations<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteOperations { store }
    }
}

const EVENT_COLUMNS: &str = "seq, at, host_id, pack_id, provider_id, origin_kind, origin_id, \
     request_id, operation, object_kind, object_id, object_name, outcome, error, changes";

fn event_row(row: &Row<'_>) -> DbResult<AuditEventRecord> {
    let changes = json(row, 14)?;
    Ok(AuditEventRecord {
        seq: row.get(0)?,
        at: ts(row, 1)?,
        host_id: HostId::new(row.get::<_, String>(2)?),
        pack_id: row.get::<_, Option<String>>(3)?.map(PackId),
        provider_id: row.get::<_, Option<String>>(4)?.map(ProviderId),
        origin: AuditOrigin {
            kind: parsed(row, 5)?,
            id: row.get(6)?,
            request_id: row.get(7)?,
        },
        operation: row.get(8)?,
        object_kind: row.get(9)?,
        object_id: row.get(10)?,
        object_name: row.get(11)?,
        outcome: row.get(12)?,
        error: row.get(13)?,
        changes: serde_json::from_value(changes)
            .map_err(|e| crate::db::DbError::conversion(14, e))?,
    })
}

fn page_size(limit: Option<u32>) -> u32 {
    match limit {
        None | Some(0) => AUDIT_PAGE_DEFAULT,
        Some(n) => n.min(AUDIT_PAGE_MAX),
    }
}

impl AuditRepository for SqliteAudit<'_> {
    fn append(&self, event: &NewAuditEvent) -> Result<AuditEventRecord> {
        let store = self.store;
        let changes =
            serde_json::to_value(&event.changes).map_err(|e| StoreError::InvalidState {
                what: format!("audit changes are not JSON: {e}"),
            })?;
        let changes = store.scrub_json(&changes);
        let error = store.scrub_opt(event.error.as_deref());
        let name = store.scrub_opt(event.object_name.as_deref());
        let outcome = if event.error.is_some() { "error" } else { "ok" };
        let now = Timestamp::now().0;
        store.write(|tx| {
            let seq: i64 = tx.query_row(
                "INSERT INTO audit_events (at, host_id, pack_id, provider_id, origin_kind,
                     origin_id, request_id, operation, object_kind, object_id, object_name,
                     outcome, error, changes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 RETURNING seq",
                params![
                    now,
                    event.host_id.as_str(),
                    event.pack_id.as_ref().map(|p| p.0.as_str()),
                    event.provider_id.as_ref().map(|p| p.0.as_str()),
                    event.origin.kind.as_str(),
                    event.origin.id.as_deref(),
                    event.origin.request_id.as_deref(),
                    event.operation.as_str(),
                    event.object_kind.as_str(),
                    event.object_id,
                    name,
                    outcome,
                    error,
                    changes
                ],
                |r| r.get(0),
            )?;
            Ok(tx.query_row(
                &format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq = ?1"),
                [seq],
                event_row,
            )?)
        })
    }

    fn list(&self, filter: &AuditFilter) -> Result<Page<AuditEventRecord>> {
        let mut clauses: Vec<String> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let mut eq = |column: &str, value: Option<Value>| {
            if let Some(v) = value {
                values.push(v);
                clauses.push(format!("{column} = ?{}", values.len()));
            }
        };
        eq(
            "host_id",
            filter.host_id.as_ref().map(|h| h.as_str().into()),
        );
        eq(
            "pack_id",
            filter.pack_id.as_ref().map(|p| p.0.as_str().into()),
        );
        eq(
            "provider_id",
            filter.provider_id.as_ref().map(|p| p.0.as_str().into()),
        );
        eq("origin_kind", filter.origin_kind.map(|k| k.as_str().into()));
        eq("origin_id", filter.origin_id.as_deref().map(Into::into));
        if let Some(since) = filter.since {
            values.push(since.0.into());
            clauses.push(format!("at >= ?{}", values.len()));
        }
        let cursor = match &filter.cursor {
            Some(cursor) => Some(
                cursor
                    .strip_prefix('a')
                    .and_then(|n| n.parse::<i64>().ok())
                    .ok_or(StoreError::InvalidCursor)?,
            ),
            None => None,
        };
        if let Some(after) = cursor.max(filter.after_seq) {
            values.push(after.into());
            clauses.push(format!("seq > ?{}", values.len()));
        }
        let size = page_size(filter.limit);
        let where_clause = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let mut items = self.store.read(|conn: &Conn<'_>| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events {where_clause} ORDER BY seq LIMIT {}",
                size + 1
            ))?;
            let rows = stmt.query_map(params_from_iter(values.iter()), event_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })?;
        let next_cursor = if items.len() > size as usize {
            items.truncate(size as usize);
            items.last().map(|e| format!("a{}", e.seq))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

const OPERATION_COLUMNS: &str = "id, kind, host_id, pack_id, provider_id, request_id, asked, \
     outcome, error, report, started_at, finished_at";

fn operation_row(row: &Row<'_>) -> DbResult<OperationRecord> {
    Ok(OperationRecord {
        id: row.get(0)?,
        kind: parsed(row, 1)?,
        host_id: HostId::new(row.get::<_, String>(2)?),
        pack_id: PackId(row.get(3)?),
        provider_id: ProviderId(row.get(4)?),
        request_id: row.get(5)?,
        asked: json(row, 6)?,
        outcome: row.get(7)?,
        error: row.get(8)?,
        report: json_opt(row, 9)?,
        started_at: ts(row, 10)?,
        finished_at: ts(row, 11)?,
    })
}

fn get_operation(conn: &Conn<'_>, kind: OperationKind, id: &str) -> Result<OperationRecord> {
    conn.query_row(
        &format!("SELECT {OPERATION_COLUMNS} FROM operation_records WHERE id = ?1 AND kind = ?2"),
        params![id, kind.as_str()],
        operation_row,
    )
    .optional()?
    .ok_or_else(|| {
        StoreError::not_found(
            match kind {
                OperationKind::Doctor => "doctor run",
                OperationKind::AccessClosure => "access closure",
            },
            id,
        )
    })
}

impl OperationRepository for SqliteOperations<'_> {
    fn insert(&self, record: &NewOperationRecord) -> Result<OperationRecord> {
        let store = self.store;
        let asked = store.scrub_json(&record.asked);
        let report = record.report.as_ref().map(|r| store.scrub_json(r));
        let error = store.scrub_opt(record.error.as_deref());
        let outcome = if record.error.is_some() {
            "failed"
        } else {
            "succeeded"
        };
        let now = Timestamp::now().0;
        store.write(|tx| {
            tx.execute(
                "INSERT INTO operation_records (id, kind, host_id, pack_id, provider_id,
                     request_id, asked, outcome, error, report, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    record.id.as_str(),
                    record.kind.as_str(),
                    record.host_id.as_str(),
                    record.pack_id.0,
                    record.provider_id.0,
                    record.request_id.as_deref(),
                    asked,
                    outcome,
                    error,
                    report,
                    record.started_at.0,
                    now
                ],
            )?;
            get_operation(tx, record.kind, &record.id)
        })
    }

    fn get(&self, kind: OperationKind, id: &str) -> Result<OperationRecord> {
        self.store.read(|conn| get_operation(conn, kind, id))
    }

    fn list_for_provider(
        &self,
        kind: OperationKind,
        host_id: &HostId,
        pack_id: &PackId,
        provider_id: &ProviderId,
        limit: u32,
    ) -> Result<Vec<OperationRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {OPERATION_COLUMNS} FROM operation_records
                 WHERE kind = ?1 AND host_id = ?2 AND pack_id = ?3 AND provider_id = ?4
                 ORDER BY started_at DESC, id DESC LIMIT {}",
                limit.clamp(1, AUDIT_PAGE_MAX)
            ))?;
            let rows = stmt.query_map(
                params![kind.as_str(), host_id.as_str(), pack_id.0, provider_id.0],
                operation_row,
            )?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }
}
