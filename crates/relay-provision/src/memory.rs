//! In-memory implementations of every port: the journal, the vault and the test
//! randomness from `relay-access`, plus a [`RecordingObserver`].

use std::sync::{Mutex, MutexGuard};

use relay_access::ProbeRecord;
use relay_domain::Fingerprint;

pub use relay_access::memory::{MemoryJournal, MemoryVault, TestRandomness};

use crate::ports::{BatchObserver, ItemProgress};

/// A [`BatchObserver`] that keeps everything it receives, in arrival order.
#[derive(Debug, Default)]
pub struct RecordingObserver {
    items: Mutex<Vec<(Fingerprint, ItemProgress)>>,
    probes: Mutex<Vec<ProbeRecord>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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

impl BatchObserver for RecordingObserver {
    fn item(&self, fingerprint: &Fingerprint, progress: ItemProgress) {
        lock(&self.items).push((fingerprint.clone(), progress));
    }

    fn probe(&self, record: ProbeRecord) {
        lock(&self.probes).push(record);
    }
}
