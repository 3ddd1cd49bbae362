//! Provisioning use-cases of the relay manager: preview, import, rollback and
//! resume of a provider's keys on a sub2api host (SPEC §4.3–§4.6).
//!
//! Synchronous; talks to the host only through [`relay_sub2api::HostAdapter`] and
//! records through small ports ([`ports`]) that the application implements over
//! its store:
//! * [`Journal`] — every host object is journaled as an *intent* before its create
//!   call and gets its host id right after, so a crash never leaks an unrecorded
//!   object (shared with `relay-access`, re-exported here);
//! * [`BatchObserver`] — per-key progress and probe records as they happen;
//! * the access closure's [`SubscriberVault`] and [`Randomness`].
//!
//! [`memory`] has in-memory implementations of every port.
//!
//! Entry points: [`preview`] (read-only), [`import`] (or [`prepare_import`] then
//! [`import_prepared`], previewing once), [`resume_batch`],
//! [`rollback_batch`], [`rollback_provider`], [`resolve_intents`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accounts;
pub mod classify;
mod ensure;
mod error;
mod import;
mod lookup;
pub mod memory;
pub mod ports;
mod preview;
mod probe_account;
mod report;
mod resume;
mod rollback;
mod target;

pub use classify::{classify_account_test, Classification, TestReason};
pub use error::ProvisionError;
pub use import::{import, import_prepared, prepare_import, PreparedImport};
pub use lookup::{find_on_host, resolve_intents, IntentResolution, Resolution};
pub use ports::{
    BatchObserver, ItemProgress, Journal, JournalEntry, JournalError, JournalScope, NewEntry,
    NoObserver, ProvisionPorts,
};
pub use preview::{
    preview, KeyPlanCounts, KeyPreview, OverlayNote, PreviewReport, PreviewRequest, ResourcePlan,
};
pub use probe_account::{host_failure_classification, probe_account, AccountProbe};
pub use relay_access::{
    AccessReport, ProbeKind, ProbeRecord, Randomness, SubscriberSelector, SubscriberVault,
};
pub use report::{
    ImportReport, ImportRequest, KeptResource, KeyCounts, KeyResult, ProbeTuning,
    RemainingResource, ResourceChange, ResourceOutcome, RetireReason, RetiredAccount,
    RollbackReport, RolledBackResource, DEFAULT_CONCURRENCY,
};
pub use resume::{resume_batch, ResumeItem, ResumeRequest, KEY_NOT_SUPPLIED};
pub use rollback::{rollback_batch, rollback_provider};
pub use target::{
    choose_platform, expected_subscription_type, pricing_matches, recorded_group, ExistingGroup,
    PlatformChoice, PlatformReason, ProviderTarget,
};
