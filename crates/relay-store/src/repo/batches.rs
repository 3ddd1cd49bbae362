//! Import batches and their per-key items.

use crate::db::{params, Conn, DbResult, Dialect, OptionalExtension, Row};
use relay_domain::{BatchEvent, BatchId, BatchStatus, HostId, PackId, ProviderId, Secret};
use serde_json::Value;

use crate::error::{Result, StoreError};
use crate::records::{
    BatchCounts, BatchFilter, BatchItemRecord, BatchRecord, ItemUpdate, NewBatch, NewBatchItem,
    ProbeResultRecord, ResourceRecord, SecretSlot, Timestamp,
};
use crate::repo::installs::{insert_install_if_absent, set_last_batch_in};
use crate::repo::probes::query_probes;
use crate::repo::resources::query_resources;
use crate::repo::secrets::SealedSlot;
use crate::sql::{
    fingerprint, json, json_opt, limit_clause, parsed, parsed_opt, ts, ts_opt, Filter,
};
use crate::Store;

/// Import batches. Status changes go through [`BatchStatus::transition`].
pub trait BatchRepository {
    /// Creates a batch in status `pending` together with its items, atomically.
    fn create(&self, batch: &NewBatch, items: &[NewBatchItem]) -> Result<BatchRecord>;
    /// Opens an import batch in ONE transaction: ensures the provider's install on
    /// the host, stores `probe_key` (sealed) in the install's probe-key slot when
    /// given, creates the batch with its items and its first `report` (the preview),
    /// moves it `pending → previewed → running` through [`BatchStatus::transition`]
    /// (stamping `started_at`), and records it as the install's last batch.
    ///
    /// Either everything is written or nothing is: a failure part-way (an existing
    /// batch id, a repeated item) leaves no install, secret, batch or item behind.
    fn open(
        &self,
        batch: &NewBatch,
        items: &[NewBatchItem],
        report: &Value,
        probe_key: Option<&Secret>,
    ) -> Result<BatchRecord>;
    /// The batch, or [`StoreError::NotFound`].
    fn get(&self, id: &BatchId) -> Result<BatchRecord>;
    /// Batches matching the filter, newest first.
    fn list(&self, filter: &BatchFilter) -> Result<Vec<BatchRecord>>;
    /// [`BatchRepository::list`] as summaries: each request record without its
    /// per-line lists (`keys`, `dropped`), so a list does not grow with the keys.
    fn list_summaries(&self, filter: &BatchFilter) -> Result<Vec<BatchRecord>>;
    /// Applies an event through [`BatchStatus::transition`]; an illegal move is
    /// [`StoreError::InvalidTransition`] and changes nothing. Stamps `started_at`
    /// (first start), `finished_at` (terminal states) and `interrupted_at`.
    fn transition(&self, id: &BatchId, event: BatchEvent) -> Result<BatchRecord>;
    /// Stores the final report and error message.
    fn set_report(&self, id: &BatchId, report: &Value, error: Option<&str>) -> Result<BatchRecord>;
    /// Marks every `running` or `rollback_running` batch `interrupted` in one
    /// transaction (start-up crash recovery); returns their ids.
    fn interrupt_running(&self) -> Result<Vec<BatchId>>;
    /// [`BatchRepository::interrupt_running`] for the batches of one provider on a
    /// host only (its work was left by a server whose lease lapsed).
    fn interrupt_running_of(
        &self,
        host_id: &HostId,
        pack_id: &relay_domain::PackId,
        provider_id: &ProviderId,
    ) -> Result<Vec<BatchId>>;
    /// Every provider on a host with a batch `running` or `rollback_running`, or a
    /// reconcile run `running`: the work a server may have left when it stopped.
    fn providers_with_running_work(
        &self,
    ) -> Result<Vec<(HostId, relay_domain::PackId, ProviderId)>>;
    /// Marks every `pending` or `previewed` batch `failed` with `message` in one
    /// transaction (start-up crash recovery); returns their ids. Such a batch never
    /// started, so nothing was written to the host for it: a batch opened with
    /// [`BatchRepository::open`] is never left in these states, but one created
    /// step by step (by an older version) can be.
    fn fail_unstarted(&self, message: &str) -> Result<Vec<BatchId>>;
    /// Adds items to an existing batch.
    fn add_items(&self, id: &BatchId, items: &[NewBatchItem]) -> Result<()>;
    /// The batch's items by `seq`.
    fn items(&self, id: &BatchId) -> Result<Vec<BatchItemRecord>>;
    /// One page of the batch's items by `seq`: those after `after_seq`, at most
    /// `limit` (a large batch's answer is written page by page).
    fn items_page(&self, id: &BatchId, after_seq: u32, limit: u32) -> Result<Vec<BatchItemRecord>>;
    /// One page of the host objects recorded for the batch, by row id: those after
    /// `after_id`, at most `limit`.
    fn resources_page(
        &self,
        id: &BatchId,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<ResourceRecord>>;
    /// One page of the probes run for the batch, by row id: those after `after_id`,
    /// at most `limit`.
    fn probes_page(
        &self,
        id: &BatchId,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<ProbeResultRecord>>;
    /// Updates the (non-duplicate) item of a key and recounts the batch.
    fn update_item(
        &self,
        id: &BatchId,
        fingerprint: &relay_domain::Fingerprint,
        update: &ItemUpdate,
    ) -> Result<BatchItemRecord>;
    /// Items of earlier batches of a provider on a host with this key fingerprint,
    /// newest first (already-imported detection and evidence).
    fn items_by_fingerprint(
        &self,
        host_id: &HostId,
        provider_id: &ProviderId,
        fingerprint: &relay_domain::Fingerprint,
    ) -> Result<Vec<BatchItemRecord>>;
}

/// SQLite implementation of [`BatchRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteBatches<'s> {
    store: &'s Store,
}

impl<'s> SqliteBatches<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteBatches { store }
    }

    /// Moves the running batches (of one provider when `scope` says) to
    /// `interrupted` in one transaction.
    fn interrupt_where(&self, scope: Option<ProviderScope<'_>>) -> Result<Vec<BatchId>> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            let ids = batches_moved_by(
                tx,
                &[BatchStatus::Running, BatchStatus::RollbackRunning],
                BatchEvent::Interrupt,
                scope,
            )?;
            for id in &ids {
                tx.execute(
                    "UPDATE import_batches
                     SET status = 'interrupted', interrupted_at = ?2, updated_at = ?2
                     WHERE id = ?1",
                    params![id.as_str(), now],
                )?;
            }
            Ok(ids)
        })
    }
}

/// A batch with its counts (`import_batch_counts`, joined as `c`); the batch was last
/// changed when its row or its counts were.
const BATCH_COLUMNS: &str = "b.id, b.host_id, b.pack_id, b.provider_id, b.mode, b.access_mode, \
     b.status, b.request, b.report, b.error, COALESCE(c.total_count, 0), \
     COALESCE(c.passed_count, 0), COALESCE(c.warning_count, 0), COALESCE(c.failed_count, 0), \
     COALESCE(c.skipped_count, 0), b.created_at, CASE WHEN b.updated_at >= COALESCE(c.updated_at, 0) \
     THEN b.updated_at ELSE c.updated_at END, \
     b.started_at, b.finished_at, b.interrupted_at";

/// `import_batches b` with its counts.
const BATCH_FROM: &str = "import_batches b LEFT JOIN import_batch_counts c ON c.batch_id = b.id";

const ITEM_COLUMNS: &str = "i.batch_id, i.seq, i.fingerprint, i.mask, i.plan, i.status, \
     i.account_id, i.verdict, i.message, i.details, i.updated_at";

fn batch_row(row: &Row<'_>) -> DbResult<BatchRecord> {
    Ok(BatchRecord {
        id: BatchId::new(row.get::<_, String>(0)?),
        host_id: HostId::new(row.get::<_, String>(1)?),
        pack_id: PackId(row.get(2)?),
        provider_id: ProviderId(row.get(3)?),
        mode: parsed(row, 4)?,
        access_mode: parsed(row, 5)?,
        status: parsed(row, 6)?,
        request: json(row, 7)?,
        report: json_opt(row, 8)?,
        error: row.get(9)?,
        counts: BatchCounts {
            total: row.get(10)?,
            passed: row.get(11)?,
            warning: row.get(12)?,
            failed: row.get(13)?,
            skipped: row.get(14)?,
        },
        created_at: ts(row, 15)?,
        updated_at: ts(row, 16)?,
        started_at: ts_opt(row, 17)?,
        finished_at: ts_opt(row, 18)?,
        interrupted_at: ts_opt(row, 19)?,
    })
}

fn item_row(row: &Row<'_>) -> DbResult<BatchItemRecord> {
    Ok(BatchItemRecord {
        batch_id: BatchId::new(row.get::<_, String>(0)?),
        seq: row.get(1)?,
        fingerprint: fingerprint(row, 2)?,
        mask: row.get(3)?,
        plan: parsed(row, 4)?,
        status: parsed(row, 5)?,
        account_id: row.get(6)?,
        verdict: parsed_opt(row, 7)?,
        message: row.get(8)?,
        details: json(row, 9)?,
        updated_at: ts(row, 10)?,
    })
}

/// Batches matching `filter`, newest first, read as the `columns` of the store's
/// dialect ([`BATCH_COLUMNS`] or a variant of them, in [`batch_row`]'s order).
fn list_batches(
    store: &Store,
    filter: &BatchFilter,
    columns: impl FnOnce(Dialect) -> String,
) -> Result<Vec<BatchRecord>> {
    let mut f = Filter::default();
    f.eq("b.host_id", filter.host_id.as_ref().map(|h| h.as_str()))
        .eq("b.pack_id", filter.pack_id.as_ref().map(|p| p.0.as_str()))
        .eq(
            "b.provider_id",
            filter.provider_id.as_ref().map(|p| p.0.as_str()),
        )
        .eq("b.status", filter.status.map(|s| s.as_str()));
    store.read(|conn| {
        let columns = columns(conn.dialect());
        let mut stmt = conn.prepare(&format!(
            "SELECT {columns} FROM {BATCH_FROM} {} ORDER BY b.created_at DESC, b.id DESC{}",
            f.where_clause(),
            limit_clause(filter.limit)
        ))?;
        let rows = stmt.query_map(f.params(), batch_row)?;
        Ok(rows.collect::<DbResult<Vec<_>>>()?)
    })
}

fn get_batch(conn: &Conn<'_>, id: &BatchId) -> Result<BatchRecord> {
    conn.query_row(
        &format!("SELECT {BATCH_COLUMNS} FROM {BATCH_FROM} WHERE b.id = ?1"),
        [id.as_str()],
        batch_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found("import batch", id))
}

fn insert_items(conn: &Conn<'_>, id: &BatchId, items: &[NewBatchItem], now: i64) -> Result<()> {
    let mut stmt = conn.prepare(
        "INSERT INTO import_batch_items (batch_id, seq, fingerprint, mask, plan, status,
                                         account_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )?;
    for item in items {
        stmt.execute(params![
            id.as_str(),
            item.seq,
            item.fingerprint.as_str(),
            item.mask,
            item.plan.as_str(),
            item.status.as_str(),
            item.account_id,
            now
        ])?;
    }
    Ok(())
}

/// Recomputes the count columns of a batch from its items.
/// The count column of `import_batches` an item status is counted in.
fn count_column(status: &str) -> Option<&'static str> {
    match status {
        "passed" => Some("passed_count"),
        "warning" => Some("warning_count"),
        "failed" => Some("failed_count"),
        "already_imported" | "duplicate_in_request" => Some("skipped_count"),
        _ => None,
    }
}

/// Moves one item of batch `id` from status `old` to `new` in the batch's counts:
/// constant work per item (a recount scans every item of the batch, which made a
/// batch's cost grow with the square of its keys).
fn count_move(conn: &Conn<'_>, id: &BatchId, old: &str, new: &str, now: i64) -> Result<()> {
    crate::sql::move_count(
        conn,
        "import_batch_counts",
        "batch_id",
        id.as_str(),
        count_column(old),
        count_column(new),
        now,
    )?;
    Ok(())
}

fn recount(conn: &Conn<'_>, id: &BatchId, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO import_batch_counts (batch_id, total_count, passed_count, warning_count,
                                          failed_count, skipped_count, updated_at)
         SELECT ?1,
                COUNT(*),
                COUNT(*) FILTER (WHERE status = 'passed'),
                COUNT(*) FILTER (WHERE status = 'warning'),
                COUNT(*) FILTER (WHERE status = 'failed'),
                COUNT(*) FILTER (WHERE status IN ('already_imported', 'duplicate_in_request')),
                ?2
         FROM import_batch_items WHERE batch_id = ?1
         ON CONFLICT (batch_id) DO UPDATE SET
             total_count = excluded.total_count, passed_count = excluded.passed_count,
             warning_count = excluded.warning_count, failed_count = excluded.failed_count,
             skipped_count = excluded.skipped_count, updated_at = excluded.updated_at",
        params![id.as_str(), now],
    )?;
    Ok(())
}

impl BatchRepository for SqliteBatches<'_> {
    fn create(&self, batch: &NewBatch, items: &[NewBatchItem]) -> Result<BatchRecord> {
        let now = Timestamp::now().0;
        let request = self.store.scrub_json(&batch.request);
        self.store.write(|tx| {
            tx.execute(
                "INSERT INTO import_batches (id, host_id, pack_id, provider_id, mode, access_mode,
                                             status, request, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![
                    batch.id.as_str(),
                    batch.host_id.as_str(),
                    batch.pack_id.0,
                    batch.provider_id.0,
                    batch.mode.as_str(),
                    batch.access_mode.as_str(),
                    BatchStatus::Pending.as_str(),
                    request,
                    now
                ],
            )?;
            insert_items(tx, &batch.id, items, now)?;
            recount(tx, &batch.id, now)?;
            get_batch(tx, &batch.id)
        })
    }

    fn open(
        &self,
        batch: &NewBatch,
        items: &[NewBatchItem],
        report: &Value,
        probe_key: Option<&Secret>,
    ) -> Result<BatchRecord> {
        let now = Timestamp::now().0;
        let request = self.store.scrub_json(&batch.request);
        let report = self.store.scrub_json(report);
        let slot = SecretSlot::probe_key(&batch.host_id, &batch.pack_id, &batch.provider_id);
        let sealed = probe_key
            .map(|key| SealedSlot::seal(self.store, &slot, key))
            .transpose()?;
        // The domain machine decides the status the batch opens in.
        let status = BatchStatus::Pending
            .transition(BatchEvent::Preview)?
            .transition(BatchEvent::Start)?;
        self.store.write(|tx| {
            insert_install_if_absent(tx, &batch.host_id, &batch.pack_id, &batch.provider_id, now)?;
            if let Some(sealed) = &sealed {
                sealed.write(tx, now)?;
            }
            tx.execute(
                "INSERT INTO import_batches (id, host_id, pack_id, provider_id, mode, access_mode,
                                             status, request, report, created_at, updated_at,
                                             started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?10)",
                params![
                    batch.id.as_str(),
                    batch.host_id.as_str(),
                    batch.pack_id.0,
                    batch.provider_id.0,
                    batch.mode.as_str(),
                    batch.access_mode.as_str(),
                    status.as_str(),
                    request,
                    report,
                    now
                ],
            )?;
            insert_items(tx, &batch.id, items, now)?;
            recount(tx, &batch.id, now)?;
            set_last_batch_in(
                tx,
                &batch.host_id,
                &batch.pack_id,
                &batch.provider_id,
                &batch.id,
                now,
            )?;
            get_batch(tx, &batch.id)
        })
    }

    fn get(&self, id: &BatchId) -> Result<BatchRecord> {
        self.store.read(|conn| get_batch(conn, id))
    }

    fn list(&self, filter: &BatchFilter) -> Result<Vec<BatchRecord>> {
        list_batches(self.store, filter, |_| BATCH_COLUMNS.to_string())
    }

    fn list_summaries(&self, filter: &BatchFilter) -> Result<Vec<BatchRecord>> {
        list_batches(self.store, filter, |dialect| {
            let request = match dialect {
                Dialect::Sqlite => "json_remove(b.request, '$.keys', '$.dropped')",
                Dialect::Postgres => "CAST(CAST(b.request AS jsonb) - 'keys' - 'dropped' AS TEXT)",
            };
            BATCH_COLUMNS.replace("b.request", request)
        })
    }

    fn transition(&self, id: &BatchId, event: BatchEvent) -> Result<BatchRecord> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            let current = get_batch(tx, id)?;
            let next = current.status.transition(event)?;
            tx.execute(
                "UPDATE import_batches SET
                     status = ?3,
                     started_at = CASE WHEN ?3 = 'running' THEN COALESCE(started_at, ?4)
                                       ELSE started_at END,
                     finished_at = CASE WHEN ?5 THEN ?4 ELSE finished_at END,
                     interrupted_at = CASE WHEN ?3 = 'interrupted' THEN ?4
                                           ELSE interrupted_at END,
                     updated_at = ?4
                 WHERE id = ?1 AND status = ?2",
                params![
                    id.as_str(),
                    current.status.as_str(),
                    next.as_str(),
                    now,
                    next.is_terminal()
                ],
            )?;
            get_batch(tx, id)
        })
    }

    fn set_report(&self, id: &BatchId, report: &Value, error: Option<&str>) -> Result<BatchRecord> {
        let (report, error) = (self.store.scrub_json(report), self.store.scrub_opt(error));
        self.store.write(|tx| {
            let n = tx.execute(
                "UPDATE import_batches SET report = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
                params![id.as_str(), report, error, Timestamp::now().0],
            )?;
            if n == 0 {
                return Err(StoreError::not_found("import batch", id));
            }
            get_batch(tx, id)
        })
    }

    fn interrupt_running(&self) -> Result<Vec<BatchId>> {
        self.interrupt_where(None)
    }

    fn interrupt_running_of(
        &self,
        host_id: &HostId,
        pack_id: &relay_domain::PackId,
        provider_id: &ProviderId,
    ) -> Result<Vec<BatchId>> {
        self.interrupt_where(Some((host_id, pack_id, provider_id)))
    }

    fn providers_with_running_work(
        &self,
    ) -> Result<Vec<(HostId, relay_domain::PackId, ProviderId)>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT host_id, pack_id, provider_id FROM import_batches
                 WHERE status IN ('running', 'rollback_running')
                 UNION
                 SELECT host_id, pack_id, provider_id FROM reconcile_runs WHERE status = 'running'
                 ORDER BY 1, 2, 3",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    HostId::new(r.get::<_, String>(0)?),
                    relay_domain::PackId(r.get(1)?),
                    ProviderId(r.get(2)?),
                ))
            })?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn fail_unstarted(&self, message: &str) -> Result<Vec<BatchId>> {
        let now = Timestamp::now().0;
        let message = self.store.scrub(message);
        self.store.write(|tx| {
            let ids = batches_moved_by(
                tx,
                &[BatchStatus::Pending, BatchStatus::Previewed],
                BatchEvent::Fail,
                None,
            )?;
            for id in &ids {
                tx.execute(
                    "UPDATE import_batches
                     SET status = 'failed', error = ?2, finished_at = ?3, updated_at = ?3
                     WHERE id = ?1",
                    params![id.as_str(), message, now],
                )?;
            }
            Ok(ids)
        })
    }

    fn add_items(&self, id: &BatchId, items: &[NewBatchItem]) -> Result<()> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            get_batch(tx, id)?;
            insert_items(tx, id, items, now)?;
            recount(tx, id, now)
        })
    }

    fn items(&self, id: &BatchId) -> Result<Vec<BatchItemRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {ITEM_COLUMNS} FROM import_batch_items i WHERE i.batch_id = ?1 ORDER BY i.seq"
            ))?;
            let rows = stmt.query_map([id.as_str()], item_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn items_page(&self, id: &BatchId, after_seq: u32, limit: u32) -> Result<Vec<BatchItemRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {ITEM_COLUMNS} FROM import_batch_items i
                 WHERE i.batch_id = ?1 AND i.seq > ?2 ORDER BY i.seq LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![id.as_str(), after_seq, limit], item_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn resources_page(
        &self,
        id: &BatchId,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<ResourceRecord>> {
        self.store.read(|conn| {
            query_resources(
                conn,
                "batch_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                params![id.as_str(), after_id, limit],
            )
        })
    }

    fn probes_page(
        &self,
        id: &BatchId,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<ProbeResultRecord>> {
        self.store.read(|conn| {
            query_probes(
                conn,
                "batch_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                params![id.as_str(), after_id, limit],
            )
        })
    }

    fn update_item(
        &self,
        id: &BatchId,
        fingerprint: &relay_domain::Fingerprint,
        update: &ItemUpdate,
    ) -> Result<BatchItemRecord> {
        let now = Timestamp::now().0;
        let message = self.store.scrub_opt(update.message.as_deref());
        let details = update.details.as_ref().map(|d| self.store.scrub_json(d));
        self.store.write(|tx| {
            let old_status: Option<String> = tx
                .query_row(
                    "SELECT status FROM import_batch_items
                     WHERE batch_id = ?1 AND fingerprint = ?2 AND plan <> 'duplicate_in_request'",
                    [id.as_str(), fingerprint.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let n = tx.execute(
                "UPDATE import_batch_items SET
                     status = COALESCE(?3, status),
                     account_id = COALESCE(?4, account_id),
                     verdict = COALESCE(?5, verdict),
                     message = COALESCE(?6, message),
                     details = COALESCE(?7, details),
                     updated_at = ?8
                 WHERE batch_id = ?1 AND fingerprint = ?2 AND plan <> 'duplicate_in_request'",
                params![
                    id.as_str(),
                    fingerprint.as_str(),
                    update.status.map(|s| s.as_str()),
                    update.account_id,
                    update.verdict.map(|v| v.as_str()),
                    message,
                    details,
                    now
                ],
            )?;
            let Some(old_status) = old_status.filter(|_| n > 0) else {
                return Err(StoreError::not_found(
                    "import batch item",
                    format!("{id}/{}", fingerprint.short()),
                ));
            };
            let new_status = update.status.map_or(old_status.as_str(), |s| s.as_str());
            count_move(tx, id, &old_status, new_status, now)?;
            Ok(tx.query_row(
                &format!(
                    "SELECT {ITEM_COLUMNS} FROM import_batch_items i
                     WHERE i.batch_id = ?1 AND i.fingerprint = ?2
                       AND i.plan <> 'duplicate_in_request'"
                ),
                [id.as_str(), fingerprint.as_str()],
                item_row,
            )?)
        })
    }

    fn items_by_fingerprint(
        &self,
        host_id: &HostId,
        provider_id: &ProviderId,
        fingerprint: &relay_domain::Fingerprint,
    ) -> Result<Vec<BatchItemRecord>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {ITEM_COLUMNS} FROM import_batch_items i
                 JOIN import_batches b ON b.id = i.batch_id
                 WHERE i.fingerprint = ?1 AND b.host_id = ?2 AND b.provider_id = ?3
                 ORDER BY b.created_at DESC, b.id DESC, i.seq"
            ))?;
            let rows = stmt.query_map(
                [fingerprint.as_str(), host_id.as_str(), &provider_id.0],
                item_row,
            )?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }
}

/// The batches in one of `statuses` (oldest first), each checked against the domain
/// machine: `event` must be a legal move from its status, so the machine stays
/// authoritative over the bulk updates of start-up recovery.
/// One provider on a host.
type ProviderScope<'a> = (&'a HostId, &'a relay_domain::PackId, &'a ProviderId);

fn batches_moved_by(
    tx: &Conn<'_>,
    statuses: &[BatchStatus],
    event: BatchEvent,
    scope: Option<ProviderScope<'_>>,
) -> Result<Vec<BatchId>> {
    let list = statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut f = Filter::default();
    if let Some((host, pack, provider)) = scope {
        f.eq("host_id", Some(host.as_str()))
            .eq("pack_id", Some(pack.0.as_str()))
            .eq("provider_id", Some(provider.0.as_str()));
    }
    let scoped = match f.where_clause() {
        w if w.is_empty() => String::new(),
        w => format!("AND {}", w.trim_start_matches("WHERE ")),
    };
    let mut stmt = tx.prepare(&format!(
        "SELECT id, status FROM import_batches WHERE status IN ({list}) {scoped} \
         ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map(f.params(), |r| {
        Ok((r.get::<_, String>(0)?, parsed::<BatchStatus>(r, 1)?))
    })?;
    let mut ids = Vec::new();
    for row in rows {
        let (id, status) = row?;
        status.transition(event)?;
        ids.push(BatchId::new(id));
    }
    Ok(ids)
}
