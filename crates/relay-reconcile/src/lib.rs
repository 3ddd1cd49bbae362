//! Keeping a provider true on a sub2api host (SPEC §4.7, §6.1, §6.2).
//!
//! * [`reconcile`] compares what the journal records for one (host, pack,
//!   provider) with what the host has, and reports every [`Difference`]
//!   (`missing`, `changed`, `unmanaged_duplicate`) with the field, both values
//!   and a fix; repairs flipped Responses capability flags (SPEC §7.3); applies
//!   safe fixes on request (re-bind an account, restore the channel); re-tests
//!   the active accounts once each with bounded parallelism; re-runs one
//!   completion-gated access probe; and derives the verdict
//!   (`active | degraded | drifted | failed`) through the domain's state machine.
//! * [`doctor`] runs the binding checks that make a call work — a schedulable
//!   account per group, the channel bound, the probe key bound, its owner's
//!   subscription active, the gateway's `401 API_KEY_REQUIRED`, a completion —
//!   each with evidence and a concrete fix, and repairs what is safe on request.
//! * [`diagnose`] (opt-in per call, with the operator's key) compares a direct
//!   vendor probe ([`relay_sub2api::probe_upstream`]) with the host's latest
//!   result for the key and names the cause ([`UpstreamClass`]).
//!
//! The crate is synchronous, talks to the host only through
//! [`relay_sub2api::HostAdapter`], and reads and writes the manager's records
//! through the kernel's [`relay_core::Ports`] (journal, vault, observer, clock).
//! It stands on `relay-core` beside provisioning and the access closure and
//! imports neither. It never touches SQLite or
//! HTTP routing.
//!
//! # What a run writes
//! Reconcile and doctor write to the journal only in these cases: a capability
//! repair appends to the account entry's `details.capability_repairs` (the same
//! record the access closure keeps); doctor's subscription re-assignment journals
//! the new subscription (intent first, host id after, with the journal handle's
//! batch) and marks the recorded subscriptions that are gone from the host
//! `deleted`. Nothing else changes the journal: a missing object stays recorded,
//! so the provider stays `drifted` until an import recreates it or a rollback
//! removes the record.
//!
//! # Persisting runs (for the application)
//! * [`ReconcileReport`] and [`DoctorReport`] are `Serialize` evidence documents
//!   with no secret in them (keys appear as mask and fingerprint only); store them
//!   as the run's JSON and export them as evidence (SPEC §6.3).
//! * Apply `report.provider_event` to the provider's stored status with
//!   `ProviderStatus::transition` (`report.verdict` is the resulting state from any
//!   non-disabled status), store `report.access_status` and, when present,
//!   `report.access` as the access closure record.
//! * [`ReconcileError::HostUnreachable`] means the host did not answer: mark the
//!   host `unreachable` and leave the provider's status alone.
//! * Every probe (account tests, account models, gateway models/chat,
//!   reachability) also reaches the [`relay_core::Observer`] as it happens.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accounts;
mod diagnose;
mod diff;
mod doctor;
mod error;
mod inventory;
mod key_health;
mod model;
mod probe_key;
mod reconcile;
mod redact;
mod repair;

pub use accounts::{AccountCheck, AccountOutcome};
pub use diagnose::{
    classify_vendor_call, diagnose, diagnose_key, HostObservation, HostObservationSource,
    UpstreamClass, UpstreamDiagnosis,
};
pub use doctor::{doctor, CheckName, CheckStatus, DoctorCheck, DoctorReport, DoctorRequest};
pub use error::ReconcileError;
pub use key_health::{KeyHealthCheck, KeyHealthInput};
pub use model::{Difference, DifferenceKind, Repair, RepairKind, ResourceCheck};
pub use reconcile::{
    derive_event, reconcile, verdict_of, ReconcileCounts, ReconcileReport, ReconcileRequest,
    Timings,
};
