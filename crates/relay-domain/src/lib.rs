//! Pure domain types of the relay manager: ids, every status of the specification
//! with its state machine, key normalisation, fingerprints and masks. No I/O.
//!
//! Every status string lives here once; other crates store and print
//! [`status`] values through their `as_str`/`FromStr` forms. The other vocabularies of
//! our records and reports ([`vocab`]) live here once too, and the crates that produce
//! them, and the HTTP contract, re-export them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod batch_import;
pub mod batch_input;
pub mod ids;
pub mod keys;
pub mod naming;
pub mod net;
pub mod redact;
pub mod secret;
pub mod status;
pub mod time;
pub mod vocab;

pub use audit::{
    AuditOrigin, AuditOriginKind, FieldChange, OperationKind, CHANGED_VALUE, REDACTED_VALUE,
};
pub use batch_import::{
    ConfirmationEvent, ConfirmationStatus, HostAnswerClass, RetryScope, ReuseDecision, RunEvent,
    RunItemEvent, RunItemEventKind, RunItemState, RunState,
};
pub use batch_input::{
    parse_batch_input, BaseUrl, BatchInput, BatchLine, LineError, LineProblem, UrlProblem,
};
pub use ids::{BatchId, HostId, PackId, ProviderId, ReconcileRunId, RunId, RunItemId};
pub use keys::{
    hex, mask, normalize_keys, AcceptedKey, DropReason, DroppedLine, Fingerprint, NormalizedKeys,
    MASK_FULL_CHARS, SHORT_KEY_CHARS,
};
pub use redact::{has_key_shape, redact_patterns, Redactor};
pub use secret::Secret;
pub use status::{
    AccessMode, AccessStatus, BatchEvent, BatchStatus, HostStatus, ImportMode, InvalidTransition,
    ItemStatus, KeyPlan, ModeProof, ProbeKeySource, ProbeKind, ProviderEvent, ProviderStatus,
    ResourceAction, ResourceState, ResourceType, UnknownStatus, Verdict,
};
pub use time::{parse_rfc3339_seconds, Timestamp};
pub use vocab::{
    AccountOutcome, CheckName, CheckStatus, CompletionFailure, DifferenceKind, HostAuthKind,
    HostObservationSource, OutOfServiceReason, PackSourceKind, Platform, ReconcileStatus,
    ReconcileTrigger, RepairKind, ResourceChange, RetireReason, Severity, SubscriberAction,
    TestReason, UpstreamClass,
};
