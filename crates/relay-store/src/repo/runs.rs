//! Batch auto-import runs ("URL + key", SPEC §5): runs, their items, the
//! append-only event trail of each item, leases and the sealed keys of items whose
//! account does not exist yet.
//!
//! Every state move goes through relay-domain's machines ([`RunState::transition`],
//! [`RunItemState::transition`], [`ConfirmationStatus::transition`]). A key is kept
//! sealed (associated data: the item id) only while its item may still need it, and
//! its row is deleted in the same transaction as the move that ends that need: the
//! account exists ([`RunRepository::record_account`]), the item is cancelled, or the
//! run ends.

use crate::db::{params, Conn, DbResult, OptionalExtension, Row};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
pub use relay_domain::RetryScope;
use relay_domain::{
    mask, AccessMode, AccessStatus, BatchId, ConfirmationEvent, ConfirmationStatus, Fingerprint,
    HostAnswerClass, HostId, PackId, ProviderId, ReuseDecision, RunEvent, RunId, RunItemEvent,
    RunItemEventKind, RunItemId, RunItemState, RunState, Secret,
};
use serde_json::Value;

use crate::error::{Result, StoreError};
use crate::records::Timestamp;
use crate::sql::{fingerprint, json, json_opt, parsed, parsed_opt, ts, ts_opt};
use crate::Store;

/// A run to record, with its persisted request context.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Its id.
    pub id: RunId,
    /// The host the accounts go to.
    pub host_id: HostId,
    /// The pack whose providers the lines are matched to.
    pub pack_id: PackId,
    /// How access is proven at the end.
    pub access_mode: AccessMode,
    /// Managed subscribers (e-mails) to grant access to.
    pub subscribers: Vec<String>,
    /// Validity of the subscriptions, in days.
    pub validity_days: Option<i64>,
    /// Subscribers (each also in `subscribers`) with their own validity in days.
    pub subscriber_validity_days: Vec<(String, i64)>,
    /// Reference to the sealed probe key (a `sealed_secrets` slot), never the key.
    pub probe_key_ref: Option<String>,
    /// A line whose URL matches no provider becomes an ad-hoc provider.
    pub allow_adhoc: bool,
    /// Profile the upstream of each item (spends the key).
    pub profile: bool,
}

/// One pasted line of a run to record. The key is sealed, never stored in clear.
#[derive(Debug, Clone)]
pub struct NewRunItem {
    /// Its id.
    pub id: RunItemId,
    /// Its line number in the paste (unique within the run).
    pub line_no: i64,
    /// The base URL as pasted (no key in it).
    pub base_url: String,
    /// The upstream key.
    pub key: Secret,
    /// The matched provider, when known at creation.
    pub provider_id: Option<ProviderId>,
    /// True when the provider is an ad-hoc one made from the URL.
    pub adhoc: bool,
    /// The model hint as pasted.
    pub model_hint: Option<String>,
    /// The canonical model the hint maps to.
    pub canonical_model: Option<String>,
    /// The correction, as shown to the operator (`kimi 2.6 → kimi-k2.6`).
    pub model_correction: Option<String>,
    /// True for a line repeating an earlier one: recorded `skipped`, its key not kept.
    pub skipped: bool,
    /// Recorded `failed` with this error at once (e.g. no provider serves its URL);
    /// its key is not kept.
    pub error: Option<String>,
    /// Warnings to show with the item (redacted on write).
    pub warnings: Vec<String>,
}

/// Item counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Every item.
    pub total: i64,
    /// Items `succeeded`.
    pub succeeded: i64,
    /// Items `failed`.
    pub failed: i64,
    /// Items `skipped`.
    pub skipped: i64,
    /// Items `cancelled`.
    pub cancelled: i64,
}

impl RunCounts {
    /// Items not finished yet (`pending` or `running`).
    pub fn open(&self) -> i64 {
        self.total - self.succeeded - self.failed - self.skipped - self.cancelled
    }
}

/// A stored run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Its id.
    pub id: RunId,
    /// Its state.
    pub state: RunState,
    /// The host.
    pub host_id: HostId,
    /// The pack.
    pub pack_id: PackId,
    /// The access mode.
    pub access_mode: AccessMode,
    /// Managed subscribers.
    pub subscribers: Vec<String>,
    /// Validity of the subscriptions, in days.
    pub validity_days: Option<i64>,
    /// Subscribers (each also in `subscribers`) with their own validity in days.
    pub subscriber_validity_days: Vec<(String, i64)>,
    /// Reference to the sealed probe key.
    pub probe_key_ref: Option<String>,
    /// Ad-hoc providers allowed.
    pub allow_adhoc: bool,
    /// Upstream profiling asked.
    pub profile: bool,
    /// The run's final access proof.
    pub access_status: AccessStatus,
    /// Item counts.
    pub counts: RunCounts,
    /// Why it failed (redacted).
    pub error: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last written.
    pub updated_at: Timestamp,
    /// Reached a terminal state.
    pub finished_at: Option<Timestamp>,
    /// The final access proof per provider (JSON array; empty until proven).
    pub access_proof: Value,
}

/// A stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct RunItemRecord {
    /// Its id.
    pub id: RunItemId,
    /// Its run.
    pub run_id: RunId,
    /// Line number in the paste.
    pub line_no: i64,
    /// Base URL as pasted.
    pub base_url: String,
    /// SHA-256 fingerprint of the key.
    pub fingerprint: Fingerprint,
    /// Display mask of the key.
    pub mask: String,
    /// The matched provider.
    pub provider_id: Option<ProviderId>,
    /// True for an ad-hoc provider.
    pub adhoc: bool,
    /// The model hint as pasted.
    pub model_hint: Option<String>,
    /// The canonical model.
    pub canonical_model: Option<String>,
    /// The correction shown.
    pub model_correction: Option<String>,
    /// The upstream profile.
    pub profile: Option<Value>,
    /// The reuse decision.
    pub reuse_decision: Option<ReuseDecision>,
    /// Why.
    pub reuse_reason: Option<String>,
    /// The host account.
    pub account_id: Option<i64>,
    /// Item state.
    pub state: RunItemState,
    /// Confirmation of its account.
    pub confirmation_status: ConfirmationStatus,
    /// Access proof of its model.
    pub access_status: AccessStatus,
    /// Attempts made.
    pub attempts: i64,
    /// Not taken before this time.
    pub next_retry_at: Timestamp,
    /// The worker holding it.
    pub lease_owner: Option<String>,
    /// Its lease ends then.
    pub lease_until: Option<Timestamp>,
    /// Fencing token: bumped at every acquisition and operator move.
    pub lease_generation: i64,
    /// The last error (redacted).
    pub last_error: Option<String>,
    /// True while its sealed key is kept.
    pub has_sealed_key: bool,
    /// Warnings to show with the item.
    pub warnings: Vec<String>,
    /// The import batch its account was created or reused in.
    pub batch_id: Option<BatchId>,
    /// Created.
    pub created_at: Timestamp,
    /// Last written.
    pub updated_at: Timestamp,
}

/// A lease on an item, as handed out by [`RunRepository::acquire_items`]. Every
/// worker write carries it; a stale one is refused with [`StoreError::LeaseLost`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLease {
    /// The item.
    pub item_id: RunItemId,
    /// Its run.
    pub run_id: RunId,
    /// The worker.
    pub owner: String,
    /// The fencing token.
    pub generation: i64,
    /// The lease ends then.
    pub until: Timestamp,
}

/// An entry of an item's trail to append.
#[derive(Debug, Clone)]
pub struct NewRunItemEvent {
    /// What happened.
    pub kind: RunItemEventKind,
    /// The attempt number, for attempts.
    pub attempt: Option<i64>,
    /// The class of the host's answer.
    pub answer_class: Option<HostAnswerClass>,
    /// The decision taken (free vocabulary of the worker: `retry`, `give_up`, …).
    pub decision: Option<String>,
    /// A message (redacted on write).
    pub message: Option<String>,
    /// Details (redacted on write).
    pub details: Value,
}

impl NewRunItemEvent {
    /// An entry with only its kind.
    pub fn new(kind: RunItemEventKind) -> Self {
        NewRunItemEvent {
            kind,
            attempt: None,
            answer_class: None,
            decision: None,
            message: None,
            details: Value::Object(Default::default()),
        }
    }
}

/// A stored entry of an item's trail.
#[derive(Debug, Clone, PartialEq)]
pub struct RunItemEventRecord {
    /// Its id (increasing).
    pub id: i64,
    /// The item.
    pub item_id: RunItemId,
    /// The run.
    pub run_id: RunId,
    /// When.
    pub at: Timestamp,
    /// What happened.
    pub kind: RunItemEventKind,
    /// The attempt number.
    pub attempt: Option<i64>,
    /// The host's answer class.
    pub answer_class: Option<HostAnswerClass>,
    /// The decision taken.
    pub decision: Option<String>,
    /// The message (redacted).
    pub message: Option<String>,
    /// Details (redacted).
    pub details: Value,
}

/// Filters of [`RunRepository::list`].
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs on this host.
    pub host_id: Option<HostId>,
    /// Only runs with an item of this provider.
    pub provider_id: Option<ProviderId>,
    /// Matches the run id, an item's provider id or an item's base URL (substring,
    /// case-insensitive).
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (1..=500; 50 when 0).
    pub limit: u32,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor of the next page, `None` on the last one.
    pub next_cursor: Option<String>,
}

/// What a retry did.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryOutcome {
    /// The run after the retry.
    pub run: RunRecord,
    /// Items moved back to `pending`.
    pub retried: Vec<RunItemId>,
    /// Items in scope left as they are: no account and no sealed key any more (the
    /// key must be pasted again).
    pub without_key: Vec<RunItemId>,
}

/// Fields a worker sets on a leased item; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RunItemPatch {
    /// The matched provider and whether it is ad-hoc.
    pub provider: Option<(ProviderId, bool)>,
    /// The canonical model and the correction shown.
    pub model: Option<(String, Option<String>)>,
    /// The upstream profile (redacted on write).
    pub profile: Option<Value>,
    /// The reuse decision and its reason.
    pub reuse: Option<(ReuseDecision, String)>,
    /// The access proof of its model.
    pub access_status: Option<AccessStatus>,
    /// The last error (redacted on write); `Some(None)` clears it.
    pub last_error: Option<Option<String>>,
    /// Replaces the warnings (redacted on write).
    pub warnings: Option<Vec<String>>,
    /// The import batch of its account.
    pub batch_id: Option<BatchId>,
    /// Confirmation attempts made.
    pub attempts: Option<i64>,
}

/// Batch auto-import runs, items, trails and leases.
pub trait RunRepository {
    /// Records a run in state `pending` with its items (state `pending`, or
    /// `skipped` for repeated lines) and the sealed key of every pending item, in
    /// ONE transaction: a failure part-way leaves nothing.
    fn create(&self, run: &NewRun, items: &[NewRunItem]) -> Result<RunRecord>;
    /// The run, or [`StoreError::NotFound`].
    fn get(&self, id: &RunId) -> Result<RunRecord>;
    /// Runs matching the filter, newest first, one page.
    fn list(&self, filter: &RunFilter) -> Result<Page<RunRecord>>;
    /// Items of a run by line number, one page.
    fn items(
        &self,
        run_id: &RunId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<RunItemRecord>>;
    /// One item.
    fn item(&self, id: &RunItemId) -> Result<RunItemRecord>;
    /// The trail of an item, oldest first.
    fn events(&self, item_id: &RunItemId) -> Result<Vec<RunItemEventRecord>>;
    /// Appends an entry to an item's trail (message and details redacted).
    fn append_event(
        &self,
        item_id: &RunItemId,
        event: &NewRunItemEvent,
    ) -> Result<RunItemEventRecord>;
    /// Applies a run event through [`RunState::transition`]; an illegal move is
    /// [`StoreError::InvalidTransition`] and changes nothing. A run reaching a
    /// terminal state gets `finished_at`, and every sealed key of it is erased.
    fn transition_run(&self, id: &RunId, event: RunEvent, error: Option<&str>)
        -> Result<RunRecord>;
    /// Ends a run whose items are all finished: `succeeded` (no failure),
    /// `partially_succeeded` or `failed` (nothing succeeded), erasing its keys.
    /// Refused ([`StoreError::InvalidState`]) while items are open.
    fn complete_run(&self, id: &RunId) -> Result<RunRecord>;
    /// Takes up to `limit` due items (`pending` with `next_retry_at <= now`, or
    /// `running` with an expired lease) of runs that are `pending` or `running`,
    /// atomically: each becomes `running` for `owner` until `now + lease_for_ms`,
    /// with its fencing generation bumped. A pending run becomes `running`.
    fn acquire_items(
        &self,
        owner: &str,
        now: Timestamp,
        lease_for_ms: i64,
        limit: u32,
    ) -> Result<Vec<ItemLease>>;
    /// Extends a lease still held.
    fn renew(&self, lease: &ItemLease, now: Timestamp, lease_for_ms: i64) -> Result<ItemLease>;
    /// Gives the item back (`pending`, due now).
    fn release(&self, lease: &ItemLease) -> Result<RunItemRecord>;
    /// Gives the item back to be taken again at `next_retry_at`, after `attempts`.
    fn schedule_retry(
        &self,
        lease: &ItemLease,
        next_retry_at: Timestamp,
        attempts: i64,
    ) -> Result<RunItemRecord>;
    /// Applies an item event through [`RunItemState::transition`] under a lease.
    /// Leaving `running` clears the lease; `succeeded`, `failed` or `cancelled`
    /// erase the sealed key in the same transaction.
    fn transition_item(&self, lease: &ItemLease, event: RunItemEvent) -> Result<RunItemRecord>;
    /// Applies a confirmation event through [`ConfirmationStatus::transition`] under a lease.
    fn confirm(&self, lease: &ItemLease, event: ConfirmationEvent) -> Result<RunItemRecord>;
    /// Sets fields of a leased item.
    fn patch_item(&self, lease: &ItemLease, patch: &RunItemPatch) -> Result<RunItemRecord>;
    /// Records the item's account and its reuse decision and erases its sealed key,
    /// in one transaction (with a `key_erased` trail entry).
    fn record_account(
        &self,
        lease: &ItemLease,
        account_id: i64,
        decision: ReuseDecision,
        reason: &str,
    ) -> Result<RunItemRecord>;
    /// Opens the sealed key of a leased item (`None` once erased).
    fn open_key(&self, lease: &ItemLease) -> Result<Option<Secret>>;
    /// Erases the sealed key of an item; true when one was erased.
    fn erase_key(&self, item_id: &RunItemId) -> Result<bool>;
    /// Cancels a run in one transaction: every item not finished is `cancelled`
    /// (its lease fenced off, its confirmation cancelled), every sealed key of the
    /// run erased, the run `cancelling → cancelled`.
    fn cancel_run(&self, id: &RunId) -> Result<RunRecord>;
    /// Moves the run's `failed` items (or every `failed` and `cancelled` one) back
    /// to `pending`, due now, fencing off any lease, in one transaction; the run
    /// goes through [`RunEvent::Retry`].
    /// A retry that moves no item (every one in scope lacks both account and key)
    /// leaves the run as it is.
    fn retry_run(&self, id: &RunId, scope: RetryScope, now: Timestamp) -> Result<RetryOutcome>;
    /// Runs (`pending` or `running`) whose items are all finished: ready for their
    /// access proof and [`RunRepository::complete_run`].
    fn finishable(&self) -> Result<Vec<RunId>>;
    /// Records a run's final access proof (a JSON array, one entry per provider) and
    /// status, and the access status of each provider's succeeded items (with an
    /// `access_proven` trail entry each), in one transaction.
    fn record_access(
        &self,
        id: &RunId,
        status: AccessStatus,
        proof: &Value,
        per_provider: &[(ProviderId, AccessStatus)],
    ) -> Result<RunRecord>;
    /// Gives back every item leased by `owner` (`pending`, due now, generation bumped):
    /// a restarted worker's own leases, which no one holds any more. Returns how many.
    fn release_owner(&self, owner: &str) -> Result<usize>;
}

/// SQLite implementation of [`RunRepository`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteRuns<'s> {
    store: &'s Store,
}

impl<'s> SqliteRuns<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        SqliteRuns { store }
    }

    /// Warnings as stored: a JSON array of redacted texts.
    fn warnings_json(&self, warnings: &[String]) -> String {
        let scrubbed: Vec<String> = warnings.iter().map(|w| self.store.scrub(w)).collect();
        serde_json::to_string(&scrubbed).unwrap_or_else(|_| "[]".into())
    }
}

/// Associated data of an item's sealed key: the item id.
pub(crate) fn run_item_key_aad(item_id: &str) -> String {
    format!("import_run_item_keys:{item_id}")
}

const RUN_COLUMNS: &str = "r.id, r.state, r.host_id, r.pack_id, r.access_mode, r.subscribers, \
     r.validity_days, r.probe_key_ref, r.allow_adhoc, r.profile, r.access_status, \
     r.total_count, r.succeeded_count, r.failed_count, r.skipped_count, r.cancelled_count, \
     r.error, r.created_at, r.updated_at, r.finished_at, r.access_proof";

const ITEM_COLUMNS: &str = "i.id, i.run_id, i.line_no, i.base_url, i.fingerprint, i.mask, \
     i.provider_id, i.adhoc, i.model_hint, i.canonical_model, i.model_correction, i.profile, \
     i.reuse_decision, i.reuse_reason, i.account_id, i.state, i.confirmation_status, \
     i.access_status, i.attempts, i.next_retry_at, i.lease_owner, i.lease_until, \
     i.lease_generation, i.last_error, \
     EXISTS (SELECT 1 FROM import_run_item_keys k WHERE k.item_id = i.id), \
     i.created_at, i.updated_at, i.warnings, i.batch_id";

const EVENT_COLUMNS: &str =
    "id, item_id, run_id, at, kind, attempt, answer_class, decision, message, details";

/// The stored subscribers of a run: a JSON array whose items are a subscriber's text,
/// or `{"subscriber": text, "validity_days": n}` for one with its own validity (so runs
/// recorded before per-subscriber validity read back unchanged).
fn subscribers_json(subscribers: &[String], validity: &[(String, i64)]) -> Value {
    Value::Array(
        subscribers
            .iter()
            .map(|s| match validity.iter().find(|(v, _)| v == s) {
                Some((_, days)) => serde_json::json!({"subscriber": s, "validity_days": days}),
                None => Value::String(s.clone()),
            })
            .collect(),
    )
}

/// Reads [`subscribers_json`] back.
fn subscribers_of(value: &Value) -> (Vec<String>, Vec<(String, i64)>) {
    let mut subscribers = Vec::new();
    let mut validity = Vec::new();
    for item in value.as_array().into_iter().flatten() {
        match item {
            Value::String(s) => subscribers.push(s.clone()),
            Value::Object(o) => {
                if let Some(s) = o.get("subscriber").and_then(Value::as_str) {
                    subscribers.push(s.to_string());
                    if let Some(days) = o.get("validity_days").and_then(Value::as_i64) {
                        validity.push((s.to_string(), days));
                    }
                }
            }
            _ => {}
        }
    }
    (subscribers, validity)
}

fn run_row(row: &Row<'_>) -> DbResult<RunRecord> {
    let (subscribers, subscriber_validity_days) = subscribers_of(&json(row, 5)?);
    Ok(RunRecord {
        id: RunId::new(row.get::<_, String>(0)?),
        state: parsed(row, 1)?,
        host_id: HostId::new(row.get::<_, String>(2)?),
        pack_id: PackId(row.get(3)?),
        access_mode: parsed(row, 4)?,
        subscribers,
        subscriber_validity_days,
        validity_days: row.get(6)?,
        probe_key_ref: row.get(7)?,
        allow_adhoc: row.get(8)?,
        profile: row.get(9)?,
        access_status: parsed(row, 10)?,
        counts: RunCounts {
            total: row.get(11)?,
            succeeded: row.get(12)?,
            failed: row.get(13)?,
            skipped: row.get(14)?,
            cancelled: row.get(15)?,
        },
        error: row.get(16)?,
        created_at: ts(row, 17)?,
        updated_at: ts(row, 18)?,
        finished_at: ts_opt(row, 19)?,
        access_proof: json(row, 20)?,
    })
}

fn item_row(row: &Row<'_>) -> DbResult<RunItemRecord> {
    Ok(RunItemRecord {
        id: RunItemId::new(row.get::<_, String>(0)?),
        run_id: RunId::new(row.get::<_, String>(1)?),
        line_no: row.get(2)?,
        base_url: row.get(3)?,
        fingerprint: fingerprint(row, 4)?,
        mask: row.get(5)?,
        provider_id: row.get::<_, Option<String>>(6)?.map(ProviderId),
        adhoc: row.get(7)?,
        model_hint: row.get(8)?,
        canonical_model: row.get(9)?,
        model_correction: row.get(10)?,
        profile: json_opt(row, 11)?,
        reuse_decision: parsed_opt(row, 12)?,
        reuse_reason: row.get(13)?,
        account_id: row.get(14)?,
        state: parsed(row, 15)?,
        confirmation_status: parsed(row, 16)?,
        access_status: parsed(row, 17)?,
        attempts: row.get(18)?,
        next_retry_at: ts(row, 19)?,
        lease_owner: row.get(20)?,
        lease_until: ts_opt(row, 21)?,
        lease_generation: row.get(22)?,
        last_error: row.get(23)?,
        has_sealed_key: row.get(24)?,
        created_at: ts(row, 25)?,
        updated_at: ts(row, 26)?,
        warnings: strings(json(row, 27)?),
        batch_id: row.get::<_, Option<String>>(28)?.map(BatchId::new),
    })
}

/// The strings of a JSON array (anything else: none).
fn strings(value: Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn event_row(row: &Row<'_>) -> DbResult<RunItemEventRecord> {
    Ok(RunItemEventRecord {
        id: row.get(0)?,
        item_id: RunItemId::new(row.get::<_, String>(1)?),
        run_id: RunId::new(row.get::<_, String>(2)?),
        at: ts(row, 3)?,
        kind: parsed(row, 4)?,
        attempt: row.get(5)?,
        answer_class: parsed_opt(row, 6)?,
        decision: row.get(7)?,
        message: row.get(8)?,
        details: json(row, 9)?,
    })
}

fn get_run(conn: &Conn<'_>, id: &str) -> Result<RunRecord> {
    conn.query_row(
        &format!("SELECT {RUN_COLUMNS} FROM import_runs r WHERE r.id = ?1"),
        [id],
        run_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found("import run", id))
}

fn get_item(conn: &Conn<'_>, id: &str) -> Result<RunItemRecord> {
    conn.query_row(
        &format!("SELECT {ITEM_COLUMNS} FROM import_run_items i WHERE i.id = ?1"),
        [id],
        item_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found("import run item", id))
}

/// The item, if `lease` is still its current lease; else [`StoreError::LeaseLost`].
fn fenced_item(conn: &Conn<'_>, lease: &ItemLease) -> Result<RunItemRecord> {
    let item = get_item(conn, lease.item_id.as_str())?;
    if item.lease_generation != lease.generation
        || item.lease_owner.as_deref() != Some(lease.owner.as_str())
    {
        return Err(StoreError::LeaseLost {
            item_id: lease.item_id.to_string(),
            generation: lease.generation,
        });
    }
    Ok(item)
}

/// Recomputes the count columns of a run from its items.
fn recount(conn: &Conn<'_>, run_id: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE import_runs SET
             total_count     = (SELECT COUNT(*) FROM import_run_items WHERE run_id = ?1),
             succeeded_count = (SELECT COUNT(*) FROM import_run_items
                                WHERE run_id = ?1 AND state = 'succeeded'),
             failed_count    = (SELECT COUNT(*) FROM import_run_items
                                WHERE run_id = ?1 AND state = 'failed'),
             skipped_count   = (SELECT COUNT(*) FROM import_run_items
                                WHERE run_id = ?1 AND state = 'skipped'),
             cancelled_count = (SELECT COUNT(*) FROM import_run_items
                                WHERE run_id = ?1 AND state = 'cancelled'),
             updated_at = ?2
         WHERE id = ?1",
        params![run_id, now],
    )?;
    Ok(())
}

/// Moves one item of run `run_id` from state `from` to `to` in the run's counts:
/// constant work per item (a recount scans every item of the run).
fn count_move(
    conn: &Conn<'_>,
    run_id: &str,
    from: RunItemState,
    to: RunItemState,
    now: i64,
) -> Result<()> {
    let column = |s: RunItemState| match s {
        RunItemState::Succeeded => Some("succeeded_count"),
        RunItemState::Failed => Some("failed_count"),
        RunItemState::Skipped => Some("skipped_count"),
        RunItemState::Cancelled => Some("cancelled_count"),
        RunItemState::Pending | RunItemState::Running => None,
    };
    crate::sql::move_count(
        conn,
        "import_runs",
        "id",
        run_id,
        column(from),
        column(to),
        now,
    )?;
    Ok(())
}

fn erase_item_key(conn: &Conn<'_>, item_id: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM import_run_item_keys WHERE item_id = ?1",
        [item_id],
    )? > 0)
}

fn insert_event(
    store: &Store,
    conn: &Conn<'_>,
    item_id: &str,
    run_id: &str,
    event: &NewRunItemEvent,
    now: i64,
) -> Result<i64> {
    let id: i64 = conn.query_row(
        "INSERT INTO import_run_item_events (item_id, run_id, at, kind, attempt, answer_class,
                                             decision, message, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        params![
            item_id,
            run_id,
            now,
            event.kind.as_str(),
            event.attempt,
            event.answer_class.map(HostAnswerClass::as_str),
            store.scrub_opt(event.decision.as_deref()),
            store.scrub_opt(event.message.as_deref()),
            store.scrub_json(&event.details),
        ],
        |r| r.get(0),
    )?;
    Ok(id)
}

fn set_item_state(conn: &Conn<'_>, item_id: &str, state: RunItemState, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE import_run_items SET state = ?2, updated_at = ?3 WHERE id = ?1",
        params![item_id, state.as_str(), now],
    )?;
    Ok(())
}

/// Moves a run through `event`, stamping `finished_at` and erasing every key of the
/// run when it ends.
fn move_run(
    store: &Store,
    conn: &Conn<'_>,
    id: &str,
    event: RunEvent,
    error: Option<&str>,
    now: i64,
) -> Result<RunRecord> {
    let run = get_run(conn, id)?;
    let next = run.state.transition(event)?;
    let finished = next.is_terminal().then_some(now);
    conn.execute(
        "UPDATE import_runs SET state = ?2, updated_at = ?3, finished_at = ?4,
                                error = COALESCE(?5, error)
         WHERE id = ?1",
        params![id, next.as_str(), now, finished, store.scrub_opt(error)],
    )?;
    if next.is_terminal() {
        conn.execute("DELETE FROM import_run_item_keys WHERE run_id = ?1", [id])?;
    }
    recount(conn, id, now)?;
    get_run(conn, id)
}

fn encode_cursor(created_at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let (at, id) = text.split_once(':').ok_or(StoreError::InvalidCursor)?;
    Ok((
        at.parse().map_err(|_| StoreError::InvalidCursor)?,
        id.to_string(),
    ))
}

fn page_size(limit: u32) -> u32 {
    match limit {
        0 => 50,
        n => n.min(500),
    }
}

impl RunRepository for SqliteRuns<'_> {
    fn create(&self, run: &NewRun, items: &[NewRunItem]) -> Result<RunRecord> {
        let now = Timestamp::now().0;
        // Seal before the transaction opens (the store remembers each key for redaction).
        let sealed: Vec<Option<String>> = items
            .iter()
            .map(|item| {
                (!item.skipped && item.error.is_none())
                    .then(|| {
                        self.store
                            .seal(&item.key, &run_item_key_aad(item.id.as_str()))
                    })
                    .transpose()
            })
            .collect::<Result<_>>()?;
        let subscribers =
            subscribers_json(&run.subscribers, &run.subscriber_validity_days).to_string();
        self.store.write(|tx| {
            tx.execute(
                "INSERT INTO import_runs (id, state, host_id, pack_id, access_mode, subscribers,
                                          validity_days, probe_key_ref, allow_adhoc, profile,
                                          created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
                params![
                    run.id.as_str(),
                    RunState::Pending.as_str(),
                    run.host_id.as_str(),
                    run.pack_id.0,
                    run.access_mode.as_str(),
                    subscribers,
                    run.validity_days,
                    run.probe_key_ref,
                    run.allow_adhoc,
                    run.profile,
                    now
                ],
            )?;
            let mut insert = tx.prepare(
                "INSERT INTO import_run_items (id, run_id, line_no, base_url, fingerprint, mask,
                                               provider_id, adhoc, model_hint, canonical_model,
                                               model_correction, state, confirmation_status,
                                               access_status, next_retry_at, created_at,
                                               updated_at, last_error, warnings)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15,
                         ?15, ?16, ?17)",
            )?;
            let mut insert_key = tx.prepare(
                "INSERT INTO import_run_item_keys (item_id, run_id, key_sealed, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (item, sealed) in items.iter().zip(&sealed) {
                let state = if item.skipped {
                    RunItemState::Pending.transition(RunItemEvent::Skip)?
                } else if item.error.is_some() {
                    RunItemState::Pending.transition(RunItemEvent::Fail)?
                } else {
                    RunItemState::Pending
                };
                insert.execute(params![
                    item.id.as_str(),
                    run.id.as_str(),
                    item.line_no,
                    self.store.scrub(&item.base_url),
                    Fingerprint::of(item.key.expose()).as_str(),
                    mask(item.key.expose()),
                    item.provider_id.as_ref().map(|p| p.0.as_str()),
                    item.adhoc,
                    self.store.scrub_opt(item.model_hint.as_deref()),
                    item.canonical_model,
                    self.store.scrub_opt(item.model_correction.as_deref()),
                    state.as_str(),
                    ConfirmationStatus::Pending.as_str(),
                    AccessStatus::NotConfigured.as_str(),
                    now,
                    self.store.scrub_opt(item.error.as_deref()),
                    self.warnings_json(&item.warnings),
                ])?;
                if let Some(sealed) = sealed {
                    insert_key.execute(params![item.id.as_str(), run.id.as_str(), sealed, now])?;
                }
                insert_event(
                    self.store,
                    tx,
                    item.id.as_str(),
                    run.id.as_str(),
                    &NewRunItemEvent::new(RunItemEventKind::Created),
                    now,
                )?;
                if let Some(error) = &item.error {
                    let mut failed = NewRunItemEvent::new(RunItemEventKind::Failed);
                    failed.decision = Some("refused".into());
                    failed.message = Some(error.clone());
                    insert_event(
                        self.store,
                        tx,
                        item.id.as_str(),
                        run.id.as_str(),
                        &failed,
                        now,
                    )?;
                }
            }
            recount(tx, run.id.as_str(), now)?;
            get_run(tx, run.id.as_str())
        })
    }

    fn get(&self, id: &RunId) -> Result<RunRecord> {
        self.store.read(|conn| get_run(conn, id.as_str()))
    }

    fn list(&self, filter: &RunFilter) -> Result<Page<RunRecord>> {
        let limit = page_size(filter.limit);
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<crate::db::Value> = Vec::new();
        let mut push = |clause: &str, value: crate::db::Value| {
            args.push(value);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(state) = filter.state {
            push("r.state = ?", state.as_str().to_string().into());
        }
        if let Some(host) = &filter.host_id {
            push("r.host_id = ?", host.as_str().to_string().into());
        }
        if let Some(provider) = &filter.provider_id {
            push(
                "EXISTS (SELECT 1 FROM import_run_items i WHERE i.run_id = r.id \
                 AND i.provider_id = ?)",
                provider.0.clone().into(),
            );
        }
        if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let escaped = q
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            args.push(format!("%{escaped}%").into());
            let n = args.len();
            clauses.push(format!(
                "(lower(r.id) LIKE ?{n} ESCAPE '\\' OR EXISTS (SELECT 1 FROM import_run_items i \
                 WHERE i.run_id = r.id AND (lower(COALESCE(i.provider_id, '')) LIKE ?{n} \
                 ESCAPE '\\' OR lower(i.base_url) LIKE ?{n} ESCAPE '\\')))"
            ));
        }
        if let Some(cursor) = &filter.cursor {
            let (at, id) = decode_cursor(cursor)?;
            args.push(at.into());
            let a = args.len();
            args.push(id.into());
            let b = args.len();
            clauses.push(format!(
                "(r.created_at < ?{a} OR (r.created_at = ?{a} AND r.id < ?{b}))"
            ));
        }
        let where_clause = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        self.store.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM import_runs r {where_clause}
                 ORDER BY r.created_at DESC, r.id DESC LIMIT {}",
                limit + 1
            ))?;
            let mut rows = stmt
                .query_map(crate::db::params_from_iter(args.iter()), run_row)?
                .collect::<DbResult<Vec<_>>>()?;
            let next_cursor = if rows.len() > limit as usize {
                rows.truncate(limit as usize);
                rows.last()
                    .map(|r| encode_cursor(r.created_at.0, r.id.as_str()))
            } else {
                None
            };
            Ok(Page {
                items: rows,
                next_cursor,
            })
        })
    }

    fn items(
        &self,
        run_id: &RunId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<RunItemRecord>> {
        let limit = page_size(limit);
        let after = match cursor {
            Some(c) => decode_cursor(c)?.0,
            None => i64::MIN,
        };
        self.store.read(|conn| {
            get_run(conn, run_id.as_str())?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {ITEM_COLUMNS} FROM import_run_items i
                 WHERE i.run_id = ?1 AND i.line_no > ?2 ORDER BY i.line_no LIMIT {}",
                limit + 1
            ))?;
            let mut rows = stmt
                .query_map(params![run_id.as_str(), after], item_row)?
                .collect::<DbResult<Vec<_>>>()?;
            let next_cursor = if rows.len() > limit as usize {
                rows.truncate(limit as usize);
                rows.last().map(|r| encode_cursor(r.line_no, "line"))
            } else {
                None
            };
            Ok(Page {
                items: rows,
                next_cursor,
            })
        })
    }

    fn item(&self, id: &RunItemId) -> Result<RunItemRecord> {
        self.store.read(|conn| get_item(conn, id.as_str()))
    }

    fn events(&self, item_id: &RunItemId) -> Result<Vec<RunItemEventRecord>> {
        self.store.read(|conn| {
            get_item(conn, item_id.as_str())?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM import_run_item_events WHERE item_id = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([item_id.as_str()], event_row)?;
            Ok(rows.collect::<DbResult<Vec<_>>>()?)
        })
    }

    fn append_event(
        &self,
        item_id: &RunItemId,
        event: &NewRunItemEvent,
    ) -> Result<RunItemEventRecord> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            let item = get_item(tx, item_id.as_str())?;
            let id = insert_event(
                self.store,
                tx,
                item_id.as_str(),
                item.run_id.as_str(),
                event,
                now,
            )?;
            Ok(tx.query_row(
                &format!("SELECT {EVENT_COLUMNS} FROM import_run_item_events WHERE id = ?1"),
                [id],
                event_row,
            )?)
        })
    }

    fn transition_run(
        &self,
        id: &RunId,
        event: RunEvent,
        error: Option<&str>,
    ) -> Result<RunRecord> {
        let now = Timestamp::now().0;
        self.store
            .write(|tx| move_run(self.store, tx, id.as_str(), event, error, now))
    }

    fn complete_run(&self, id: &RunId) -> Result<RunRecord> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            recount(tx, id.as_str(), now)?;
            let run = get_run(tx, id.as_str())?;
            if run.counts.open() > 0 {
                return Err(StoreError::InvalidState {
                    what: format!("import run `{id}` has {} open items", run.counts.open()),
                });
            }
            let event = if run.counts.failed + run.counts.cancelled == 0 {
                RunEvent::Succeed
            } else if run.counts.succeeded > 0 {
                RunEvent::PartiallySucceed
            } else {
                RunEvent::Fail
            };
            move_run(self.store, tx, id.as_str(), event, None, now)
        })
    }

    fn acquire_items(
        &self,
        owner: &str,
        now: Timestamp,
        lease_for_ms: i64,
        limit: u32,
    ) -> Result<Vec<ItemLease>> {
        let until = now.0.saturating_add(lease_for_ms);
        self.store.write(|tx| {
            let due: Vec<(String, String, String, i64)> = {
                let mut stmt = tx.prepare(
                    "SELECT i.id, i.run_id, i.state, i.lease_generation
                     FROM import_run_items i JOIN import_runs r ON r.id = i.run_id
                     WHERE r.state IN ('pending', 'running')
                       AND ((i.state = 'pending' AND i.next_retry_at <= ?1)
                            OR (i.state = 'running'
                                AND (i.lease_until IS NULL OR i.lease_until <= ?1)))
                     ORDER BY i.next_retry_at, i.created_at, i.line_no
                     LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![now.0, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?;
                rows.collect::<DbResult<_>>()?
            };
            let mut leases = Vec::with_capacity(due.len());
            for (item_id, run_id, state, generation) in due {
                let state: RunItemState = state.parse().map_err(|e| StoreError::Corrupt {
                    what: format!("import_run_items.state: {e}"),
                })?;
                let next = state.transition(RunItemEvent::Lease)?;
                let generation = generation + 1;
                tx.execute(
                    "UPDATE import_run_items SET state = ?2, lease_owner = ?3, lease_until = ?4,
                            lease_generation = ?5, updated_at = ?6
                     WHERE id = ?1",
                    params![item_id, next.as_str(), owner, until, generation, now.0],
                )?;
                let run = get_run(tx, &run_id)?;
                if run.state == RunState::Pending {
                    move_run(self.store, tx, &run_id, RunEvent::Start, None, now.0)?;
                }
                leases.push(ItemLease {
                    item_id: RunItemId::new(item_id),
                    run_id: RunId::new(run_id),
                    owner: owner.to_string(),
                    generation,
                    until: Timestamp(until),
                });
            }
            Ok(leases)
        })
    }

    fn renew(&self, lease: &ItemLease, now: Timestamp, lease_for_ms: i64) -> Result<ItemLease> {
        let until = now.0.saturating_add(lease_for_ms);
        self.store.write(|tx| {
            fenced_item(tx, lease)?;
            tx.execute(
                "UPDATE import_run_items SET lease_until = ?2, updated_at = ?3 WHERE id = ?1",
                params![lease.item_id.as_str(), until, now.0],
            )?;
            Ok(ItemLease {
                until: Timestamp(until),
                ..lease.clone()
            })
        })
    }

    fn release(&self, lease: &ItemLease) -> Result<RunItemRecord> {
        let now = Timestamp::now();
        let attempts = self.item(&lease.item_id)?.attempts;
        self.schedule_retry(lease, now, attempts)
    }

    fn schedule_retry(
        &self,
        lease: &ItemLease,
        next_retry_at: Timestamp,
        attempts: i64,
    ) -> Result<RunItemRecord> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            let item = fenced_item(tx, lease)?;
            let next = item.state.transition(RunItemEvent::Defer)?;
            tx.execute(
                "UPDATE import_run_items SET state = ?2, next_retry_at = ?3, attempts = ?4,
                        lease_owner = NULL, lease_until = NULL, updated_at = ?5
                 WHERE id = ?1",
                params![
                    lease.item_id.as_str(),
                    next.as_str(),
                    next_retry_at.0,
                    attempts,
                    now
                ],
            )?;
            get_item(tx, lease.item_id.as_str())
        })
    }

    fn transition_item(&self, lease: &ItemLease, event: RunItemEvent) -> Result<RunItemRecord> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            let item = fenced_item(tx, lease)?;
            let next = item.state.transition(event)?;
            set_item_state(tx, item.id.as_str(), next, now)?;
            if next != RunItemState::Running {
                tx.execute(
                    "UPDATE import_run_items SET lease_owner = NULL, lease_until = NULL
                     WHERE id = ?1",
                    [item.id.as_str()],
                )?;
            }
            if next.is_finished() && erase_item_key(tx, item.id.as_str())? {
                insert_event(
                    self.store,
                    tx,
                    item.id.as_str(),
                    item.run_id.as_str(),
                    &NewRunItemEvent::new(RunItemEventKind::KeyErased),
                    now,
                )?;
            }
            count_move(tx, item.run_id.as_str(), item.state, next, now)?;
            get_item(tx, item.id.as_str())
        })
    }

    fn confirm(&self, lease: &ItemLease, event: ConfirmationEvent) -> Result<RunItemRecord> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            let item = fenced_item(tx, lease)?;
            let next = item.confirmation_status.transition(event)?;
            tx.execute(
                "UPDATE import_run_items SET confirmation_status = ?2, updated_at = ?3
                 WHERE id = ?1",
                params![item.id.as_str(), next.as_str(), now],
            )?;
            get_item(tx, item.id.as_str())
        })
    }

    fn patch_item(&self, lease: &ItemLease, patch: &RunItemPatch) -> Result<RunItemRecord> {
        let now = Timestamp::now().0;
        let profile = patch.profile.as_ref().map(|p| self.store.scrub_json(p));
        let last_error = patch
            .last_error
            .as_ref()
            .map(|e| self.store.scrub_opt(e.as_deref()));
        let correction = patch
            .model
            .as_ref()
            .map(|(_, c)| self.store.scrub_opt(c.as_deref()));
        let reuse_reason = patch.reuse.as_ref().map(|(_, r)| self.store.scrub(r));
        let warnings = patch.warnings.as_ref().map(|w| self.warnings_json(w));
        self.store.write(|tx| {
            let item = fenced_item(tx, lease)?;
            let id = item.id.as_str();
            if let Some((provider, adhoc)) = &patch.provider {
                tx.execute(
                    "UPDATE import_run_items SET provider_id = ?2, adhoc = ?3 WHERE id = ?1",
                    params![id, provider.0, adhoc],
                )?;
            }
            if let (Some((model, _)), Some(correction)) = (&patch.model, &correction) {
                tx.execute(
                    "UPDATE import_run_items SET canonical_model = ?2, model_correction = ?3
                     WHERE id = ?1",
                    params![id, model, correction],
                )?;
            }
            if let Some(profile) = &profile {
                tx.execute(
                    "UPDATE import_run_items SET profile = ?2 WHERE id = ?1",
                    params![id, profile],
                )?;
            }
            if let (Some((decision, _)), Some(reason)) = (&patch.reuse, &reuse_reason) {
                tx.execute(
                    "UPDATE import_run_items SET reuse_decision = ?2, reuse_reason = ?3
                     WHERE id = ?1",
                    params![id, decision.as_str(), reason],
                )?;
            }
            if let Some(access) = patch.access_status {
                tx.execute(
                    "UPDATE import_run_items SET access_status = ?2 WHERE id = ?1",
                    params![id, access.as_str()],
                )?;
            }
            if let Some(error) = &last_error {
                tx.execute(
                    "UPDATE import_run_items SET last_error = ?2 WHERE id = ?1",
                    params![id, error],
                )?;
            }
            if let Some(warnings) = &warnings {
                tx.execute(
                    "UPDATE import_run_items SET warnings = ?2 WHERE id = ?1",
                    params![id, warnings],
                )?;
            }
            if let Some(attempts) = patch.attempts {
                tx.execute(
                    "UPDATE import_run_items SET attempts = ?2 WHERE id = ?1",
                    params![id, attempts],
                )?;
            }
            if let Some(batch) = &patch.batch_id {
                tx.execute(
                    "UPDATE import_run_items SET batch_id = ?2 WHERE id = ?1",
                    params![id, batch.as_str()],
                )?;
            }
            tx.execute(
                "UPDATE import_run_items SET updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            get_item(tx, id)
        })
    }

    fn record_account(
        &self,
        lease: &ItemLease,
        account_id: i64,
        decision: ReuseDecision,
        reason: &str,
    ) -> Result<RunItemRecord> {
        let now = Timestamp::now().0;
        let reason = self.store.scrub(reason);
        self.store.write(|tx| {
            let item = fenced_item(tx, lease)?;
            let id = item.id.as_str();
            tx.execute(
                "UPDATE import_run_items SET account_id = ?2, reuse_decision = ?3,
                        reuse_reason = ?4, updated_at = ?5
                 WHERE id = ?1",
                params![id, account_id, decision.as_str(), reason, now],
            )?;
            let mut ready = NewRunItemEvent::new(RunItemEventKind::AccountReady);
            ready.decision = Some(decision.as_str().to_string());
            ready.details = serde_json::json!({
                "account_id": account_id,
                "batch_id": item.batch_id.as_ref().map(|b| b.as_str()),
            });
            insert_event(self.store, tx, id, item.run_id.as_str(), &ready, now)?;
            if erase_item_key(tx, id)? {
                insert_event(
                    self.store,
                    tx,
                    id,
                    item.run_id.as_str(),
                    &NewRunItemEvent::new(RunItemEventKind::KeyErased),
                    now,
                )?;
            }
            get_item(tx, id)
        })
    }

    fn open_key(&self, lease: &ItemLease) -> Result<Option<Secret>> {
        let sealed: Option<String> = self.store.read(|conn| {
            fenced_item(conn, lease)?;
            Ok(conn
                .query_row(
                    "SELECT key_sealed FROM import_run_item_keys WHERE item_id = ?1",
                    [lease.item_id.as_str()],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        sealed
            .map(|s| {
                self.store
                    .open_sealed(&s, &run_item_key_aad(lease.item_id.as_str()))
            })
            .transpose()
    }

    fn erase_key(&self, item_id: &RunItemId) -> Result<bool> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            let item = get_item(tx, item_id.as_str())?;
            let erased = erase_item_key(tx, item_id.as_str())?;
            if erased {
                insert_event(
                    self.store,
                    tx,
                    item_id.as_str(),
                    item.run_id.as_str(),
                    &NewRunItemEvent::new(RunItemEventKind::KeyErased),
                    now,
                )?;
            }
            Ok(erased)
        })
    }

    fn cancel_run(&self, id: &RunId) -> Result<RunRecord> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            move_run(self.store, tx, id.as_str(), RunEvent::Cancel, None, now)?;
            let open: Vec<RunItemRecord> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT {ITEM_COLUMNS} FROM import_run_items i
                     WHERE i.run_id = ?1 AND i.state IN ('pending', 'running') ORDER BY i.line_no"
                ))?;
                let rows = stmt.query_map([id.as_str()], item_row)?;
                rows.collect::<DbResult<_>>()?
            };
            for item in open {
                let next = item.state.transition(RunItemEvent::Cancel)?;
                let confirmation = item
                    .confirmation_status
                    .transition(ConfirmationEvent::Cancel)
                    .unwrap_or(item.confirmation_status);
                tx.execute(
                    "UPDATE import_run_items SET state = ?2, confirmation_status = ?3,
                            lease_owner = NULL, lease_until = NULL,
                            lease_generation = lease_generation + 1, updated_at = ?4
                     WHERE id = ?1",
                    params![item.id.as_str(), next.as_str(), confirmation.as_str(), now],
                )?;
                insert_event(
                    self.store,
                    tx,
                    item.id.as_str(),
                    id.as_str(),
                    &NewRunItemEvent::new(RunItemEventKind::Cancelled),
                    now,
                )?;
            }
            // Every key of the run goes, finished items' included.
            tx.execute(
                "DELETE FROM import_run_item_keys WHERE run_id = ?1",
                [id.as_str()],
            )?;
            move_run(self.store, tx, id.as_str(), RunEvent::CancelDone, None, now)
        })
    }

    fn retry_run(&self, id: &RunId, scope: RetryScope, now: Timestamp) -> Result<RetryOutcome> {
        let states = match scope {
            RetryScope::Failed => "('failed')",
            RetryScope::All => "('failed', 'cancelled')",
        };
        self.store.write(|tx| {
            // Refuses a run the machine cannot retry (e.g. succeeded) before anything moves.
            let state = get_run(tx, id.as_str())?.state;
            state.transition(RunEvent::Retry)?;
            let candidates: Vec<RunItemRecord> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT {ITEM_COLUMNS} FROM import_run_items i
                     WHERE i.run_id = ?1 AND i.state IN {states} ORDER BY i.line_no"
                ))?;
                let rows = stmt.query_map([id.as_str()], item_row)?;
                rows.collect::<DbResult<_>>()?
            };
            let mut retried = Vec::new();
            let mut without_key = Vec::new();
            for item in candidates {
                if item.account_id.is_none() && !item.has_sealed_key {
                    without_key.push(item.id);
                    continue;
                }
                let next = item.state.transition(RunItemEvent::Retry)?;
                let confirmation = item
                    .confirmation_status
                    .transition(ConfirmationEvent::Retry)
                    .unwrap_or(item.confirmation_status);
                tx.execute(
                    "UPDATE import_run_items SET state = ?2, confirmation_status = ?3,
                            attempts = 0, next_retry_at = ?4, last_error = NULL,
                            lease_owner = NULL, lease_until = NULL,
                            lease_generation = lease_generation + 1, updated_at = ?4
                     WHERE id = ?1",
                    params![
                        item.id.as_str(),
                        next.as_str(),
                        confirmation.as_str(),
                        now.0
                    ],
                )?;
                insert_event(
                    self.store,
                    tx,
                    item.id.as_str(),
                    id.as_str(),
                    &NewRunItemEvent::new(RunItemEventKind::Retried),
                    now.0,
                )?;
                retried.push(item.id);
            }
            // A run moves only when an item does: retrying nothing leaves it as it is.
            if !retried.is_empty() {
                move_run(self.store, tx, id.as_str(), RunEvent::Retry, None, now.0)?;
            }
            recount(tx, id.as_str(), now.0)?;
            Ok(RetryOutcome {
                run: get_run(tx, id.as_str())?,
                retried,
                without_key,
            })
        })
    }
    fn finishable(&self) -> Result<Vec<RunId>> {
        self.store.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT r.id FROM import_runs r
                 WHERE r.state IN ('pending', 'running')
                   AND NOT EXISTS (SELECT 1 FROM import_run_items i WHERE i.run_id = r.id
                                   AND i.state IN ('pending', 'running'))
                 ORDER BY r.created_at",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows
                .collect::<DbResult<Vec<_>>>()?
                .into_iter()
                .map(RunId::new)
                .collect())
        })
    }

    fn record_access(
        &self,
        id: &RunId,
        status: AccessStatus,
        proof: &Value,
        per_provider: &[(ProviderId, AccessStatus)],
    ) -> Result<RunRecord> {
        let now = Timestamp::now().0;
        let proof = self.store.scrub_json(proof);
        self.store.write(|tx| {
            get_run(tx, id.as_str())?;
            tx.execute(
                "UPDATE import_runs SET access_status = ?2, access_proof = ?3, updated_at = ?4
                 WHERE id = ?1",
                params![id.as_str(), status.as_str(), proof, now],
            )?;
            for (provider, access) in per_provider {
                let items: Vec<String> = {
                    let mut stmt = tx.prepare(
                        "SELECT id FROM import_run_items
                         WHERE run_id = ?1 AND provider_id = ?2 AND state = 'succeeded'",
                    )?;
                    let rows = stmt.query_map(params![id.as_str(), provider.0], |r| r.get(0))?;
                    rows.collect::<DbResult<_>>()?
                };
                for item in items {
                    tx.execute(
                        "UPDATE import_run_items SET access_status = ?2, updated_at = ?3
                         WHERE id = ?1",
                        params![item, access.as_str(), now],
                    )?;
                    let mut event = NewRunItemEvent::new(RunItemEventKind::AccessProven);
                    event.decision = Some(access.as_str().to_string());
                    insert_event(self.store, tx, &item, id.as_str(), &event, now)?;
                }
            }
            get_run(tx, id.as_str())
        })
    }

    fn release_owner(&self, owner: &str) -> Result<usize> {
        let now = Timestamp::now().0;
        self.store.write(|tx| {
            Ok(tx.execute(
                "UPDATE import_run_items
                 SET state = 'pending', lease_owner = NULL, lease_until = NULL,
                     lease_generation = lease_generation + 1, next_retry_at = ?2,
                     updated_at = ?2
                 WHERE state = 'running' AND lease_owner = ?1",
                params![owner, now],
            )?)
        })
    }
}
