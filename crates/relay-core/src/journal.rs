//! The managed-resource journal port, shared by provisioning, the access closure and
//! reconcile.
//!
//! Every host object the manager creates is journaled as an *intent* (type +
//! deterministic logical name) **before** the create call, and gets its host id
//! attached right after it. A crash therefore never leaks an unrecorded host object:
//! an intent left without an id is resolved later by looking its name up on the host.
//!
//! The trait mirrors the store's resource repository so the application can
//! implement it directly over SQLite; [`crate::fakes::MemoryJournal`] is an
//! in-memory implementation with the same rules.

use relay_domain::{BatchId, Fingerprint, HostId, PackId, ProviderId, ResourceState, ResourceType};
use relay_sub2api::ObjectId;
use serde::Serialize;
use serde_json::Value;

use crate::target::ProviderTarget;

/// What a journal handle records for: one provider of one pack on one host, and
/// optionally one import batch (entries recorded through the handle carry it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalScope {
    /// Host the journaled objects live on.
    pub host_id: HostId,
    /// Pack whose provider owns the objects.
    pub pack_id: PackId,
    /// Provider (of that pack) the objects are provisioned for.
    pub provider_id: ProviderId,
    /// The batch new entries belong to (`None` for closures run outside an import,
    /// e.g. by reconcile).
    pub batch_id: Option<BatchId>,
}

/// A resource to journal (no secrets anywhere, including `details`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewEntry {
    /// Kind of host object.
    pub resource_type: ResourceType,
    /// Deterministic name used to find the object on the host after a crash
    /// (group/channel/plan/account/user-key name, user e-mail, `subscription:<user>:<group>`).
    pub logical_key: String,
    /// Upstream key fingerprint, for accounts.
    pub fingerprint: Option<Fingerprint>,
    /// Extra facts (JSON object).
    pub details: Value,
}

impl NewEntry {
    /// A new entry without fingerprint.
    pub fn new(
        resource_type: ResourceType,
        logical_key: impl Into<String>,
        details: Value,
    ) -> Self {
        NewEntry {
            resource_type,
            logical_key: logical_key.into(),
            fingerprint: None,
            details,
        }
    }
}

/// One record of the managed-resource journal: a host object the manager meant to
/// create, created, adopted or reused, with its scope and where it stands now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    /// Journal row id (monotonic: a higher id was journaled later).
    pub id: i64,
    /// Host the object lives on.
    pub host_id: HostId,
    /// Pack whose provider owns the object.
    pub pack_id: PackId,
    /// Provider the object was provisioned for.
    pub provider_id: ProviderId,
    /// Batch that created or reused it.
    pub batch_id: Option<BatchId>,
    /// Kind of host object.
    pub resource_type: ResourceType,
    /// Host object id; `None` while an intent (or when known absent).
    pub host_resource_id: Option<ObjectId>,
    /// Deterministic name the object is found by on the host after a crash (see
    /// [`NewEntry::logical_key`]).
    pub logical_key: String,
    /// Where the record stands in its life (intent, created, reused, adopted, absent,
    /// deleted, retired); only `created` and `adopted` objects are rolled back.
    pub state: ResourceState,
    /// Key fingerprint, for accounts.
    pub fingerprint: Option<Fingerprint>,
    /// Extra facts as a JSON object (never a secret), e.g. capability repairs.
    pub details: Value,
}

impl JournalEntry {
    /// True when the object is on the host and owned by the manager
    /// (`created` or `adopted`): rollback deletes it.
    pub fn is_owned_live(&self) -> bool {
        self.state.is_owned_live()
    }

    /// True when the object is believed to be on the host (`created`, `adopted`
    /// or `reused`).
    pub fn is_live(&self) -> bool {
        self.state.is_owned_live() || self.state == ResourceState::Reused
    }

    /// A `u64`/`i64` field of `details`, if present.
    pub fn detail_i64(&self, key: &str) -> Option<i64> {
        self.details.get(key).and_then(Value::as_i64)
    }

    /// A string field of `details`, if present.
    pub fn detail_str(&self, key: &str) -> Option<&str> {
        self.details.get(key).and_then(Value::as_str)
    }
}

/// Why a journal operation failed. The application maps its storage errors here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The host object already has a record (records are unique per host, type and
    /// host id) — possibly under another provider.
    #[error("host {resource_type} {host_resource_id} is already recorded in the journal")]
    AlreadyRecorded {
        /// Kind of host object.
        resource_type: ResourceType,
        /// Host id of the object already recorded.
        host_resource_id: ObjectId,
    },
    /// The requested state change is not allowed (e.g. attaching an id to a record
    /// that is not an intent).
    #[error("journal state change refused: {0}")]
    InvalidState(String),
    /// No entry with this id.
    #[error("journal entry {0} does not exist")]
    NotFound(i64),
    /// The journal could not be read or written; stop and retry later.
    #[error("the journal is unavailable: {0}")]
    Storage(String),
}

/// The managed-resource journal of one (host, pack, provider) scope.
///
/// Rules every implementation keeps (the in-memory one enforces them):
/// * [`Journal::record_intent`] stores state `intent` without a host id;
/// * [`Journal::attach_host_id`] moves an `intent` to `created` or `adopted` only;
/// * [`Journal::record_existing`] stores `reused` or `adopted` only;
/// * a host object (host, type, host id) is recorded at most once
///   ([`JournalError::AlreadyRecorded`]);
/// * live states (`created`, `adopted`, `reused`) need a host id.
pub trait Journal: Send + Sync {
    /// The scope of this handle.
    fn scope(&self) -> JournalScope;

    /// Journals an intent before a create call.
    fn record_intent(&self, entry: &NewEntry) -> Result<JournalEntry, JournalError>;

    /// Records an object that already exists on the host: `reused` (not created by
    /// the manager; rollback leaves it) or `adopted` (found while recovering).
    fn record_existing(
        &self,
        entry: &NewEntry,
        host_resource_id: ObjectId,
        state: ResourceState,
    ) -> Result<JournalEntry, JournalError>;

    /// Attaches the host id to an intent (`created`, or `adopted` when recovery
    /// found the object by name).
    fn attach_host_id(
        &self,
        id: i64,
        host_resource_id: ObjectId,
        state: ResourceState,
    ) -> Result<JournalEntry, JournalError>;

    /// Sets the state (`absent`, `deleted`, `retired`, …).
    fn set_state(&self, id: i64, state: ResourceState) -> Result<JournalEntry, JournalError>;

    /// Replaces the details JSON.
    fn set_details(&self, id: i64, details: &Value) -> Result<JournalEntry, JournalError>;

    /// One entry of the scope's provider on the scope's host, by id (`None` when
    /// there is none, or it belongs to another scope).
    fn get(&self, id: i64) -> Result<Option<JournalEntry>, JournalError>;

    /// Entries of a batch, in journal order.
    fn list_batch(&self, batch_id: &BatchId) -> Result<Vec<JournalEntry>, JournalError>;

    /// Entries of the scope's provider on the scope's host (every batch), in journal order.
    fn list_provider(&self) -> Result<Vec<JournalEntry>, JournalError>;

    /// The newest live account (`created`/`adopted`/`reused`) of the scope's
    /// provider on the host with this key fingerprint.
    fn find_live_account(
        &self,
        fingerprint: &Fingerprint,
    ) -> Result<Option<JournalEntry>, JournalError>;
}

/// Records an existing host object as `reused` unless the journal already knows it
/// (an earlier batch of this provider created/adopted/reused it, or another
/// provider recorded it). Returns the new entry when one was written.
pub fn record_reused_once(
    journal: &dyn Journal,
    entry: &NewEntry,
    host_resource_id: ObjectId,
) -> Result<Option<JournalEntry>, JournalError> {
    let known = journal.list_provider()?.into_iter().any(|e| {
        e.resource_type == entry.resource_type
            && e.host_resource_id == Some(host_resource_id)
            && e.is_live()
    });
    if known {
        return Ok(None);
    }
    match journal.record_existing(entry, host_resource_id, ResourceState::Reused) {
        Ok(e) => Ok(Some(e)),
        Err(JournalError::AlreadyRecorded { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A journal handle opened for another provider than the flow's target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the journal is scoped to {journal_pack}/{journal_provider} but the target is {pack}/{provider}; open the journal for the target provider")]
pub struct ScopeMismatch {
    /// Pack of the journal scope.
    pub journal_pack: String,
    /// Provider of the journal scope.
    pub journal_provider: String,
    /// Pack of the target.
    pub pack: String,
    /// Provider of the target.
    pub provider: String,
}

/// The journal's scope, after checking that it belongs to `target` (same pack and
/// provider). Every flow checks this before it reads or writes the journal.
pub fn check_scope(
    journal: &dyn Journal,
    target: &ProviderTarget,
) -> Result<JournalScope, ScopeMismatch> {
    let scope = journal.scope();
    if scope.pack_id.as_str() != target.pack_id
        || scope.provider_id.as_str() != target.provider.provider_id
    {
        return Err(ScopeMismatch {
            journal_pack: scope.pack_id.0,
            journal_provider: scope.provider_id.0,
            pack: target.pack_id.clone(),
            provider: target.provider.provider_id.clone(),
        });
    }
    Ok(scope)
}

/// Appends `item` to the array `key` of the entry's details, re-reading the entry
/// first so earlier appends of the same run are kept (a non-object details value,
/// or a non-array `key`, starts over).
pub fn append_detail(
    journal: &dyn Journal,
    entry: &JournalEntry,
    key: &str,
    item: Value,
) -> Result<(), JournalError> {
    let current = journal
        .get(entry.id)?
        .map(|e| e.details)
        .unwrap_or_else(|| entry.details.clone());
    let mut details = if current.is_object() {
        current
    } else {
        serde_json::json!({})
    };
    if let Some(obj) = details.as_object_mut() {
        let list = obj.entry(key).or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        if let Some(list) = list.as_array_mut() {
            list.push(item);
        }
    }
    journal.set_details(entry.id, &details)?;
    Ok(())
}
