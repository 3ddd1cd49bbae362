//! Errors of the provisioning use-cases. No message contains a secret.

use relay_core::{AccessError, CoreError, JournalError, ScopeMismatch};
use relay_sub2api::HostError;

/// Why a use-case stopped. An import that fails on the host (a key refused, a
/// create refused) is **not** an error: it returns a report with outcome `failed`
/// after rolling back. These errors mean the use-case could not run or could not
/// safely continue.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProvisionError {
    /// Kernel work failed: e.g. the journal handle belongs to another pack or
    /// provider than the target ([`CoreError::ScopeMismatch`]).
    #[error(transparent)]
    Core(CoreError),
    /// The journal handle has no batch, and the use-case needs one.
    #[error("the journal handle has no batch; imports, resumes and batch rollbacks journal into a batch")]
    NoBatch,
    /// The preview found problems that make the import fail; nothing was written.
    #[error("the import cannot run: {}", problems.join("; "))]
    Blocked {
        /// Every blocking problem.
        problems: Vec<String>,
    },
    /// A provider rollback found nothing to roll back.
    #[error("nothing is recorded for provider {provider_id} on this host; there is nothing to roll back")]
    NothingRecorded {
        /// The provider the rollback was asked for.
        provider_id: String,
    },
    /// A host call the use-case cannot do without failed (e.g. a list needed to plan).
    #[error("{step} failed: {source}")]
    Host {
        /// What was being done.
        step: String,
        /// The adapter's error (already free of secrets).
        #[source]
        source: HostError,
    },
    /// The journal failed; stop. The batch can be resumed or rolled back later.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The access closure could not continue (its journal or vault failed).
    #[error(transparent)]
    Access(AccessError),
    /// The request is not usable.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl ProvisionError {
    /// Wraps a host error with the step that failed.
    pub fn host(step: impl Into<String>, source: HostError) -> Self {
        ProvisionError::Host {
            step: step.into(),
            source,
        }
    }

    /// A stable machine code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            ProvisionError::Core(e) => e.code(),
            ProvisionError::NoBatch => "no_batch",
            ProvisionError::Blocked { .. } => "import_blocked",
            ProvisionError::NothingRecorded { .. } => "nothing_recorded",
            ProvisionError::Host { .. } => "host_error",
            ProvisionError::Journal(_) => "journal_unavailable",
            ProvisionError::Access(e) => e.code(),
            ProvisionError::InvalidRequest(_) => "invalid_request",
        }
    }
}

impl From<AccessError> for ProvisionError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Journal(j) => ProvisionError::Journal(j),
            other => ProvisionError::Access(other),
        }
    }
}

impl From<CoreError> for ProvisionError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Host { step, source } => ProvisionError::Host { step, source },
            CoreError::Journal(j) => ProvisionError::Journal(j),
            other => ProvisionError::Core(other),
        }
    }
}

impl From<ScopeMismatch> for ProvisionError {
    fn from(e: ScopeMismatch) -> Self {
        ProvisionError::Core(CoreError::ScopeMismatch(e))
    }
}
