//! The observer: probe records and batch progress, reported as they happen so the
//! application can persist them (and the CLI can show a progress bar).

use relay_domain::{Fingerprint, ItemStatus, Redactor, Verdict};
use relay_sub2api::ObjectId;
use serde::Serialize;
use serde_json::Value;

pub use relay_domain::ProbeKind;

/// One probe, as it happened (never a secret: subjects are ids, models, masks).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeRecord {
    /// Which probe ran (account test, account models, gateway models or chat, reachability).
    pub kind: ProbeKind,
    /// What was probed: `account:<id>`, `key:<mask>`, `host`.
    pub subject: String,
    /// Classified outcome: passed, warning or failed.
    pub verdict: Verdict,
    /// HTTP status, when there was an answer.
    pub http_status: Option<u16>,
    /// The host's message, after the redaction step ([`ProbeRecord::redacted`]).
    pub message: Option<String>,
    /// Wall time of the probe in milliseconds, when measured.
    pub duration_ms: Option<u64>,
    /// Extra facts (attempt number, model, …).
    pub details: Value,
}

/// Progress of one key of a batch (the store's item update).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemProgress {
    /// The item's new status in the batch.
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

/// Receives what a flow observes, as it happens: every probe (account tests and
/// models, gateway models and chat, reachability) and, during imports and resumes,
/// the progress of each key of the batch. Calls come from several worker threads.
/// Infallible: an implementation that persists logs its own failures.
pub trait Observer: Send + Sync {
    /// One probe finished.
    fn probe(&self, record: ProbeRecord);

    /// A key's batch item changed. Only imports and resumes report items; the
    /// default drops them (an observer of probes only).
    fn item(&self, fingerprint: &Fingerprint, progress: ItemProgress) {
        let _ = (fingerprint, progress);
    }
}

/// An [`Observer`] that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn probe(&self, _record: ProbeRecord) {}
}

/// An [`Observer`] that passes every message, subject and detail through an
/// operation's redaction step (the keys it handles, the key patterns) before the
/// inner observer persists it.
pub struct RedactingObserver<'a> {
    /// Receives the redacted records and items.
    pub inner: &'a dyn Observer,
    /// The redaction step.
    pub redactor: &'a Redactor,
}

impl std::fmt::Debug for RedactingObserver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactingObserver")
            .field("redactor", self.redactor)
            .finish_non_exhaustive()
    }
}

impl Observer for RedactingObserver<'_> {
    fn probe(&self, record: ProbeRecord) {
        self.inner.probe(record.redacted(self.redactor));
    }

    fn item(&self, fingerprint: &Fingerprint, mut progress: ItemProgress) {
        if let Some(m) = &mut progress.message {
            self.redactor.redact_in_place(m);
        }
        self.redactor.redact_json_in_place(&mut progress.details);
        self.inner.item(fingerprint, progress);
    }
}

impl ProbeRecord {
    /// This record with its subject, message and details passed through `redactor`.
    pub fn redacted(mut self, redactor: &Redactor) -> ProbeRecord {
        redactor.redact_in_place(&mut self.subject);
        if let Some(m) = &mut self.message {
            redactor.redact_in_place(m);
        }
        redactor.redact_json_in_place(&mut self.details);
        self
    }
}
