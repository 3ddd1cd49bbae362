//! In-memory implementations of the ports: a journal with the store's rules, a
//! vault, a (non-cryptographic) randomness source, an observer that records what it
//! receives and a virtual clock. Used by tests, demos and embedders that do not need
//! persistence.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use relay_domain::{BatchId, Fingerprint, ResourceState, ResourceType, Secret};
use relay_sub2api::ObjectId;
use serde_json::Value;

use crate::clock::Clock;
use crate::journal::{Journal, JournalEntry, JournalError, JournalScope, NewEntry};
use crate::observer::{ItemProgress, Observer, ProbeRecord};
use crate::vault::{ManagedSubscriber, Randomness, SubscriberVault, VaultError};

#[derive(Debug, Default)]
struct JournalData {
    entries: Vec<JournalEntry>,
    /// Writes still allowed before every write fails (`None`: unlimited).
    writes_left: Option<u64>,
}

/// An in-memory [`Journal`] enforcing the same rules as the SQLite store
/// (intent → created/adopted, reused/adopted for existing objects, one record per
/// host object, live states need a host id).
///
/// Handles made with [`MemoryJournal::with_batch`] / [`MemoryJournal::with_scope`]
/// share the entries, like several repositories over one database.
#[derive(Debug, Clone)]
pub struct MemoryJournal {
    data: Arc<Mutex<JournalData>>,
    scope: JournalScope,
}

impl MemoryJournal {
    /// An empty journal with this scope.
    pub fn new(scope: JournalScope) -> Self {
        MemoryJournal {
            data: Arc::new(Mutex::new(JournalData::default())),
            scope,
        }
    }

    /// A handle on the same entries with another scope.
    pub fn with_scope(&self, scope: JournalScope) -> Self {
        MemoryJournal {
            data: self.data.clone(),
            scope,
        }
    }

    /// A handle on the same entries for the same provider and another batch.
    pub fn with_batch(&self, batch_id: Option<BatchId>) -> Self {
        let mut scope = self.scope.clone();
        scope.batch_id = batch_id;
        self.with_scope(scope)
    }

    /// Every entry of every scope, in journal order.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.lock().entries.clone()
    }

    /// Lets the next `writes` writes succeed and fails every later one with
    /// [`JournalError::Storage`] (simulates a crash of the process that owns the
    /// journal); `None` removes the limit.
    pub fn fail_writes_after(&self, writes: Option<u64>) {
        self.lock().writes_left = writes;
    }

    fn lock(&self) -> MutexGuard<'_, JournalData> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut Vec<JournalEntry>) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        let mut data = self.lock();
        match data.writes_left {
            Some(0) => {
                return Err(JournalError::Storage(
                    "simulated journal outage".to_string(),
                ))
            }
            Some(n) => data.writes_left = Some(n - 1),
            None => {}
        }
        f(&mut data.entries)
    }

    fn in_scope(&self, e: &JournalEntry) -> bool {
        e.host_id == self.scope.host_id
            && e.pack_id == self.scope.pack_id
            && e.provider_id == self.scope.provider_id
    }

    fn insert(
        &self,
        entries: &mut Vec<JournalEntry>,
        entry: &NewEntry,
        host_resource_id: Option<ObjectId>,
        state: ResourceState,
    ) -> Result<JournalEntry, JournalError> {
        if let Some(hid) = host_resource_id {
            check_unique(entries, &self.scope, entry.resource_type, hid, None)?;
        }
        let e = JournalEntry {
            id: entries.len() as i64 + 1,
            host_id: self.scope.host_id.clone(),
            pack_id: self.scope.pack_id.clone(),
            provider_id: self.scope.provider_id.clone(),
            batch_id: self.scope.batch_id.clone(),
            resource_type: entry.resource_type,
            host_resource_id,
            logical_key: entry.logical_key.clone(),
            state,
            fingerprint: entry.fingerprint.clone(),
            details: entry.details.clone(),
        };
        entries.push(e.clone());
        Ok(e)
    }
}

fn check_unique(
    entries: &[JournalEntry],
    scope: &JournalScope,
    resource_type: ResourceType,
    host_resource_id: ObjectId,
    except: Option<i64>,
) -> Result<(), JournalError> {
    let taken = entries.iter().any(|e| {
        Some(e.id) != except
            && e.host_id == scope.host_id
            && e.resource_type == resource_type
            && e.host_resource_id == Some(host_resource_id)
    });
    if taken {
        Err(JournalError::AlreadyRecorded {
            resource_type,
            host_resource_id,
        })
    } else {
        Ok(())
    }
}

fn entry_mut(entries: &mut [JournalEntry], id: i64) -> Result<&mut JournalEntry, JournalError> {
    entries
        .iter_mut()
        .find(|e| e.id == id)
        .ok_or(JournalError::NotFound(id))
}

impl Journal for MemoryJournal {
    fn scope(&self) -> JournalScope {
        self.scope.clone()
    }

    fn record_intent(&self, entry: &NewEntry) -> Result<JournalEntry, JournalError> {
        self.write(|entries| self.insert(entries, entry, None, ResourceState::Intent))
    }

    fn record_existing(
        &self,
        entry: &NewEntry,
        host_resource_id: ObjectId,
        state: ResourceState,
    ) -> Result<JournalEntry, JournalError> {
        if !matches!(state, ResourceState::Reused | ResourceState::Adopted) {
            return Err(JournalError::InvalidState(format!(
                "an existing host object is recorded as reused or adopted, not {state}"
            )));
        }
        self.write(|entries| self.insert(entries, entry, Some(host_resource_id), state))
    }

    fn attach_host_id(
        &self,
        id: i64,
        host_resource_id: ObjectId,
        state: ResourceState,
    ) -> Result<JournalEntry, JournalError> {
        if !matches!(state, ResourceState::Created | ResourceState::Adopted) {
            return Err(JournalError::InvalidState(format!(
                "an intent resolves to created or adopted, not {state}"
            )));
        }
        let scope = self.scope.clone();
        self.write(|entries| {
            let (resource_type, current) = {
                let e = entry_mut(entries, id)?;
                (e.resource_type, e.state)
            };
            if current != ResourceState::Intent {
                return Err(JournalError::InvalidState(format!(
                    "journal entry {id} is {current}, not an intent"
                )));
            }
            check_unique(entries, &scope, resource_type, host_resource_id, Some(id))?;
            let e = entry_mut(entries, id)?;
            e.host_resource_id = Some(host_resource_id);
            e.state = state;
            Ok(e.clone())
        })
    }

    fn set_state(&self, id: i64, state: ResourceState) -> Result<JournalEntry, JournalError> {
        self.write(|entries| {
            let e = entry_mut(entries, id)?;
            let needs_id = state.is_owned_live() || state == ResourceState::Reused;
            if needs_id && e.host_resource_id.is_none() {
                return Err(JournalError::InvalidState(format!(
                    "journal entry {id} has no host id; attach it first"
                )));
            }
            e.state = state;
            Ok(e.clone())
        })
    }

    fn set_details(&self, id: i64, details: &Value) -> Result<JournalEntry, JournalError> {
        self.write(|entries| {
            let e = entry_mut(entries, id)?;
            e.details = details.clone();
            Ok(e.clone())
        })
    }

    fn list_batch(&self, batch_id: &BatchId) -> Result<Vec<JournalEntry>, JournalError> {
        Ok(self
            .lock()
            .entries
            .iter()
            .filter(|e| e.batch_id.as_ref() == Some(batch_id))
            .cloned()
            .collect())
    }

    fn list_provider(&self) -> Result<Vec<JournalEntry>, JournalError> {
        Ok(self
            .lock()
            .entries
            .iter()
            .filter(|e| self.in_scope(e))
            .cloned()
            .collect())
    }

    fn get(&self, id: i64) -> Result<Option<JournalEntry>, JournalError> {
        Ok(self
            .lock()
            .entries
            .iter()
            .find(|e| e.id == id && self.in_scope(e))
            .cloned())
    }

    fn find_live_account(
        &self,
        fingerprint: &Fingerprint,
    ) -> Result<Option<JournalEntry>, JournalError> {
        Ok(self
            .lock()
            .entries
            .iter()
            .rev()
            .find(|e| {
                e.host_id == self.scope.host_id
                    && e.provider_id == self.scope.provider_id
                    && e.resource_type == ResourceType::Account
                    && e.fingerprint.as_ref() == Some(fingerprint)
                    && e.is_live()
            })
            .cloned())
    }
}

#[derive(Debug, Default)]
struct VaultData {
    subscribers: HashMap<String, ManagedSubscriber>,
    keys: HashMap<(String, ObjectId), Secret>,
}

/// An in-memory [`SubscriberVault`] (one host).
#[derive(Debug, Clone, Default)]
pub struct MemoryVault {
    data: Arc<Mutex<VaultData>>,
}

impl MemoryVault {
    /// An empty vault.
    pub fn new() -> Self {
        MemoryVault::default()
    }

    fn lock(&self) -> MutexGuard<'_, VaultData> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of user keys stored.
    pub fn key_count(&self) -> usize {
        self.lock().keys.len()
    }
}

impl SubscriberVault for MemoryVault {
    fn subscriber(&self, email: &str) -> Result<Option<ManagedSubscriber>, VaultError> {
        Ok(self.lock().subscribers.get(email).cloned())
    }

    fn get_or_create(
        &self,
        email: &str,
        candidate_password: Secret,
    ) -> Result<ManagedSubscriber, VaultError> {
        Ok(self
            .lock()
            .subscribers
            .entry(email.to_string())
            .or_insert_with(|| ManagedSubscriber {
                email: email.to_string(),
                password: candidate_password,
                host_user_id: None,
            })
            .clone())
    }

    fn set_host_user_id(&self, email: &str, host_user_id: ObjectId) -> Result<(), VaultError> {
        match self.lock().subscribers.get_mut(email) {
            Some(s) => {
                s.host_user_id = Some(host_user_id);
                Ok(())
            }
            None => Err(VaultError::Storage(format!(
                "no managed subscriber {email} in the vault"
            ))),
        }
    }

    fn user_key(&self, email: &str, group_id: ObjectId) -> Result<Option<Secret>, VaultError> {
        Ok(self
            .lock()
            .keys
            .get(&(email.to_string(), group_id))
            .cloned())
    }

    fn put_user_key(
        &self,
        email: &str,
        group_id: ObjectId,
        key: &Secret,
    ) -> Result<(), VaultError> {
        self.lock()
            .keys
            .insert((email.to_string(), group_id), key.clone());
        Ok(())
    }

    fn remove_user_key(&self, email: &str, group_id: ObjectId) -> Result<(), VaultError> {
        self.lock().keys.remove(&(email.to_string(), group_id));
        Ok(())
    }
}

/// A **non-cryptographic** [`Randomness`] for tests and demos: SipHash of a
/// per-instance random seed and a counter. Production code must use an OS RNG.
#[derive(Debug)]
pub struct TestRandomness {
    seed: RandomState,
    counter: AtomicU64,
}

impl Default for TestRandomness {
    fn default() -> Self {
        TestRandomness {
            seed: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }
}

impl TestRandomness {
    /// A new source with a fresh per-process seed.
    pub fn new() -> Self {
        TestRandomness::default()
    }
}

impl Randomness for TestRandomness {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let word = self.seed.hash_one(n).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An [`Observer`] that keeps everything it receives, in arrival order.
#[derive(Debug, Default)]
pub struct RecordingObserver {
    items: Mutex<Vec<(Fingerprint, ItemProgress)>>,
    probes: Mutex<Vec<ProbeRecord>>,
}

impl RecordingObserver {
    /// An empty recorder.
    pub fn new() -> Self {
        RecordingObserver::default()
    }

    /// Every item update received.
    pub fn items(&self) -> Vec<(Fingerprint, ItemProgress)> {
        lock(&self.items).clone()
    }

    /// Every probe record received.
    pub fn probes(&self) -> Vec<ProbeRecord> {
        lock(&self.probes).clone()
    }
}

impl Observer for RecordingObserver {
    fn probe(&self, record: ProbeRecord) {
        lock(&self.probes).push(record);
    }

    fn item(&self, fingerprint: &Fingerprint, progress: ItemProgress) {
        lock(&self.items).push((fingerprint.clone(), progress));
    }
}

/// A virtual [`Clock`]: `sleep` advances its time at once instead of waiting, so
/// backoffs and warm-up windows cost no real time. Shared by every thread of a flow.
#[derive(Debug)]
pub struct FakeClock {
    start: Instant,
    offset: Mutex<Duration>,
    slept: Mutex<Vec<Duration>>,
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new()
    }
}

impl FakeClock {
    /// A clock at the current instant that only moves when slept on or advanced.
    pub fn new() -> Self {
        FakeClock {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
            slept: Mutex::new(Vec::new()),
        }
    }

    /// Moves the time forward by `by` without recording a sleep.
    pub fn advance(&self, by: Duration) {
        *lock(&self.offset) += by;
    }

    /// Virtual time passed since the clock was made.
    pub fn elapsed_total(&self) -> Duration {
        *lock(&self.offset)
    }

    /// Every sleep asked for, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        lock(&self.slept).clone()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + *lock(&self.offset)
    }

    fn sleep(&self, duration: Duration) {
        lock(&self.slept).push(duration);
        *lock(&self.offset) += duration;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_domain::{HostId, PackId, ProviderId};
    use serde_json::json;

    fn scope(batch: Option<&str>) -> JournalScope {
        JournalScope {
            host_id: HostId::new("host_1"),
            pack_id: PackId("pack".into()),
            provider_id: ProviderId("prov".into()),
            batch_id: batch.map(BatchId::new),
        }
    }

    #[test]
    fn intent_then_attach_and_state_rules() {
        let j = MemoryJournal::new(scope(Some("batch_1")));
        let e = j
            .record_intent(&NewEntry::new(ResourceType::Group, "g", json!({})))
            .unwrap();
        assert_eq!(e.state, ResourceState::Intent);
        assert!(j.set_state(e.id, ResourceState::Created).is_err());
        assert!(j.attach_host_id(e.id, 7, ResourceState::Reused).is_err());
        let e = j.attach_host_id(e.id, 7, ResourceState::Created).unwrap();
        assert_eq!(e.host_resource_id, Some(7));
        assert!(matches!(
            j.attach_host_id(e.id, 8, ResourceState::Created),
            Err(JournalError::InvalidState(_))
        ));
        // One record per host object, across scopes of the same host.
        let other = j.with_scope(JournalScope {
            provider_id: ProviderId("other".into()),
            ..scope(None)
        });
        assert_eq!(
            other
                .record_existing(
                    &NewEntry::new(ResourceType::Group, "g", json!({})),
                    7,
                    ResourceState::Reused
                )
                .unwrap_err(),
            JournalError::AlreadyRecorded {
                resource_type: ResourceType::Group,
                host_resource_id: 7
            }
        );
        assert!(j
            .record_existing(
                &NewEntry::new(ResourceType::Group, "h", json!({})),
                9,
                ResourceState::Created
            )
            .is_err());
        assert_eq!(other.list_provider().unwrap().len(), 0);
        assert_eq!(j.list_provider().unwrap().len(), 1);
        assert_eq!(j.list_batch(&BatchId::new("batch_1")).unwrap().len(), 1);
    }

    #[test]
    fn live_account_is_the_newest_live_one() {
        let j = MemoryJournal::new(scope(Some("b1")));
        let fp = Fingerprint::of("sk-1");
        let mut entry = NewEntry::new(ResourceType::Account, "a", json!({}));
        entry.fingerprint = Some(fp.clone());
        let a = j.record_intent(&entry).unwrap();
        assert!(j.find_live_account(&fp).unwrap().is_none());
        j.attach_host_id(a.id, 1, ResourceState::Created).unwrap();
        let b = j.with_batch(Some(BatchId::new("b2")));
        let a2 = b.record_intent(&entry).unwrap();
        b.attach_host_id(a2.id, 2, ResourceState::Created).unwrap();
        assert_eq!(
            j.find_live_account(&fp).unwrap().unwrap().host_resource_id,
            Some(2)
        );
        b.set_state(a2.id, ResourceState::Deleted).unwrap();
        assert_eq!(
            j.find_live_account(&fp).unwrap().unwrap().host_resource_id,
            Some(1)
        );
    }

    #[test]
    fn simulated_outage_fails_writes_only() {
        let j = MemoryJournal::new(scope(Some("b1")));
        j.fail_writes_after(Some(1));
        j.record_intent(&NewEntry::new(ResourceType::Group, "g", json!({})))
            .unwrap();
        assert!(matches!(
            j.record_intent(&NewEntry::new(ResourceType::Group, "h", json!({}))),
            Err(JournalError::Storage(_))
        ));
        assert_eq!(j.list_provider().unwrap().len(), 1);
    }

    #[test]
    fn vault_keeps_the_first_password() {
        let v = MemoryVault::new();
        let a = v.get_or_create("a@x.io", Secret::new("one")).unwrap();
        let b = v.get_or_create("a@x.io", Secret::new("two")).unwrap();
        assert_eq!(a.password, b.password);
        v.set_host_user_id("a@x.io", 3).unwrap();
        assert_eq!(
            v.subscriber("a@x.io").unwrap().unwrap().host_user_id,
            Some(3)
        );
        assert!(v.set_host_user_id("b@x.io", 3).is_err());
        v.put_user_key("a@x.io", 5, &Secret::new("k")).unwrap();
        assert_eq!(v.user_key("a@x.io", 5).unwrap(), Some(Secret::new("k")));
        v.remove_user_key("a@x.io", 5).unwrap();
        assert_eq!(v.user_key("a@x.io", 5).unwrap(), None);
    }

    #[test]
    fn test_randomness_does_not_repeat() {
        let r = TestRandomness::new();
        let mut a = [0u8; 20];
        let mut b = [0u8; 20];
        r.fill(&mut a);
        r.fill(&mut b);
        assert_ne!(a, b);
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn the_fake_clock_advances_on_sleep_without_waiting() {
        let c = FakeClock::new();
        let t0 = c.now();
        let real = Instant::now();
        c.sleep(Duration::from_secs(30));
        c.advance(Duration::from_secs(1));
        assert_eq!(c.elapsed(t0), Duration::from_secs(31));
        assert_eq!(c.sleeps(), vec![Duration::from_secs(30)]);
        assert_eq!(c.elapsed_total(), Duration::from_secs(31));
        assert!(real.elapsed() < Duration::from_secs(5));
    }
}
