//! Provisioning use-cases of the relay manager: preview, import, rollback and
//! resume of a provider's keys on a sub2api host (SPEC §4.3–§4.6).
//!
//! Synchronous; talks to the host only through [`relay_sub2api::HostAdapter`] and
//! records through the kernel's ports ([`relay_core::Ports`]) that the application
//! implements over its store:
//! * the journal — every host object is journaled as an *intent* before its create
//!   call and gets its host id right after, so a crash never leaks an unrecorded
//!   object;
//! * the observer — per-key progress and probe records as they happen;
//! * the access closure's vault and randomness, and the clock of the probes.
//!
//! The desired state ([`relay_core::ProviderTarget`]), the account probe and its
//! classification live in `relay-core`, and `relay_core::fakes` has in-memory
//! implementations of every port. The access closure runs through the
//! [`relay_core::AccessCloser`] port, so this crate does not depend on
//! `relay-access`.
//!
//! Entry points: [`preview`] (read-only), [`import`] (or [`prepare_import`] then
//! [`import_prepared`], previewing once), [`resume_batch`],
//! [`rollback_batch`], [`rollback_provider`], [`resolve_intents`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accounts;
mod ensure;
mod error;
mod import;
mod lookup;
mod preview;
mod report;
mod resume;
mod rollback;

pub use error::ProvisionError;
pub use import::{import, import_prepared, prepare_import, PreparedImport};
pub use lookup::{find_on_host, resolve_intents, IntentResolution, Resolution};
pub use preview::{
    preview, KeyPlanCounts, KeyPreview, PreviewReport, PreviewRequest, ResourcePlan,
};
pub use report::{
    ImportReport, ImportRequest, KeptResource, KeyCounts, KeyResult, RemainingResource,
    ResourceChange, ResourceOutcome, RetireReason, RetiredAccount, RollbackReport,
    RolledBackResource,
};
pub use resume::{resume_batch, ResumeItem, ResumeRequest, KEY_NOT_SUPPLIED};
pub use rollback::{rollback_batch, rollback_provider};
