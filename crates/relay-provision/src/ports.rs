//! Ports of the provisioning use-cases, implemented by the application over its
//! store. The journal is shared with `relay-access` and re-exported from here.

use std::fmt;

use relay_access::{AccessPorts, ProbeObserver, ProbeRecord, Randomness, SubscriberVault};
use relay_domain::{Fingerprint, ItemStatus, Redactor, Verdict};
use relay_sub2api::{HostAdapter, ObjectId};
use serde::Serialize;
use serde_json::Value;

pub use relay_access::{Journal, JournalEntry, JournalError, JournalScope, NewEntry};

/// Progress of one key of a batch (the store's item update).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemProgress {
    /// New status.
    pub status: ItemStatus,
    /// Host account id, once created.
    pub account_id: Option<ObjectId>,
    /// Classified test outcome.
    pub verdict: Option<Verdict>,
    /// The host's message, after the redaction step (never a key).
    pub message: Option<String>,
    /// Extra facts (reason, tested model, …).
    pub details: Value,
}

/// Receives batch progress as it happens, so the application persists it (and the
/// CLI can show a progress bar). Calls come from several worker threads.
/// Infallible: an implementation that persists logs its own failures.
pub trait BatchObserver: Send + Sync {
    /// A key's item changed.
    fn item(&self, fingerprint: &Fingerprint, progress: ItemProgress);
    /// A probe finished (account test, account models, gateway models/chat).
    fn probe(&self, record: ProbeRecord);
}

/// A [`BatchObserver`] that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl BatchObserver for NoObserver {
    fn item(&self, _fingerprint: &Fingerprint, _progress: ItemProgress) {}
    fn probe(&self, _record: ProbeRecord) {}
}

/// A [`BatchObserver`] that passes every message, subject and detail through the
/// operation's redaction step (the upstream keys of the batch, the supplied key,
/// the key patterns) before the inner observer persists it.
pub(crate) struct RedactingObserver<'a> {
    pub inner: &'a dyn BatchObserver,
    pub redactor: &'a Redactor,
}

impl BatchObserver for RedactingObserver<'_> {
    fn item(&self, fingerprint: &Fingerprint, mut progress: ItemProgress) {
        if let Some(m) = &mut progress.message {
            self.redactor.redact_in_place(m);
        }
        self.redactor.redact_json_in_place(&mut progress.details);
        self.inner.item(fingerprint, progress);
    }

    fn probe(&self, mut record: ProbeRecord) {
        if let Some(m) = &mut record.message {
            self.redactor.redact_in_place(m);
        }
        self.redactor.redact_in_place(&mut record.subject);
        self.redactor.redact_json_in_place(&mut record.details);
        self.inner.probe(record);
    }
}

/// Presents a [`BatchObserver`] as the access closure's [`ProbeObserver`].
pub(crate) struct ProbeSink<'a>(pub &'a dyn BatchObserver);

impl ProbeObserver for ProbeSink<'_> {
    fn probe(&self, record: ProbeRecord) {
        self.0.probe(record);
    }
}

/// Everything an import or resume talks to.
#[derive(Clone, Copy)]
pub struct ProvisionPorts<'a> {
    /// The host (the only way to reach it).
    pub adapter: &'a dyn HostAdapter,
    /// The journal of the provider, scoped to the batch.
    pub journal: &'a dyn Journal,
    /// Sealed passwords and keys of managed subscribers on this host.
    pub vault: &'a dyn SubscriberVault,
    /// Randomness for generated subscriber passwords and user keys.
    pub random: &'a dyn Randomness,
    /// Progress sink.
    pub observer: &'a dyn BatchObserver,
}

impl fmt::Debug for ProvisionPorts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisionPorts")
            .field("scope", &self.journal.scope())
            .finish_non_exhaustive()
    }
}

impl<'a> ProvisionPorts<'a> {
    pub(crate) fn access<'s>(&'s self, sink: &'s ProbeSink<'a>) -> AccessPorts<'s> {
        AccessPorts {
            adapter: self.adapter,
            journal: self.journal,
            vault: self.vault,
            random: self.random,
            observer: sink,
        }
    }
}
