//! Errors of reconcile and doctor. No message contains a secret.

use relay_core::{AccessError, CoreError, JournalError, ScopeMismatch, VaultError};
use relay_sub2api::HostError;

/// Why a reconcile (or doctor) run could not produce a report.
///
/// Everything the host *says* — deleted objects, failing accounts, a broken
/// gateway — is part of the report, not an error. These errors mean the run could
/// not look at the host or at the manager's own records.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReconcileError {
    /// The host did not answer at all (connect refused, DNS, TLS, timeout). The
    /// application marks the host `unreachable` and tries again later.
    #[error("the host is unreachable ({step}): {message}; check that it is running and that its base URL is right")]
    HostUnreachable {
        /// What was being done.
        step: String,
        /// The transport error's message.
        message: String,
    },
    /// The host answered, but refused a call the run cannot do without (a list
    /// of its objects). A 401/403 here means the stored admin credential no longer
    /// works.
    #[error("{step} failed: {source}")]
    Host {
        /// What was being done.
        step: String,
        /// The adapter's error (already free of secrets).
        #[source]
        source: HostError,
    },
    /// Kernel work failed: e.g. the journal handle belongs to another pack or
    /// provider than the target ([`CoreError::ScopeMismatch`]).
    #[error(transparent)]
    Core(CoreError),
    /// The journal records no live host object for the provider on this host:
    /// there is nothing to compare (import first).
    #[error("nothing is recorded for provider {provider_id} on this host; import it first")]
    NothingRecorded {
        /// The provider reconcile was asked for.
        provider_id: String,
    },
    /// The request is not usable.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The journal failed; stop and retry later.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The subscriber vault failed; stop and retry later.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The access probe could not continue for another reason than the host.
    #[error(transparent)]
    Access(AccessError),
}

impl ReconcileError {
    /// Wraps a host error with the step that failed: transport failures become
    /// [`ReconcileError::HostUnreachable`].
    pub fn host(step: impl Into<String>, source: HostError) -> Self {
        match source {
            HostError::Transport(message) => ReconcileError::HostUnreachable {
                step: step.into(),
                message,
            },
            source => ReconcileError::Host {
                step: step.into(),
                source,
            },
        }
    }

    /// A stable machine code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            ReconcileError::HostUnreachable { .. } => "host_unreachable",
            ReconcileError::Host { .. } => "host_error",
            ReconcileError::Core(e) => e.code(),
            ReconcileError::NothingRecorded { .. } => "nothing_recorded",
            ReconcileError::InvalidRequest(_) => "invalid_request",
            ReconcileError::Journal(_) => "journal_unavailable",
            ReconcileError::Vault(_) => "vault_unavailable",
            ReconcileError::Access(e) => e.code(),
        }
    }

    /// True when the host could not be reached (the host should be marked
    /// `unreachable`, not the provider changed).
    pub fn is_host_unreachable(&self) -> bool {
        matches!(self, ReconcileError::HostUnreachable { .. })
    }
}

impl From<AccessError> for ReconcileError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Journal(j) => ReconcileError::Journal(j),
            AccessError::Vault(v) => ReconcileError::Vault(v),
            other => ReconcileError::Access(other),
        }
    }
}

impl From<CoreError> for ReconcileError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Host { step, source } => ReconcileError::host(step, source),
            CoreError::Journal(j) => ReconcileError::Journal(j),
            CoreError::Vault(v) => ReconcileError::Vault(v),
            other => ReconcileError::Core(other),
        }
    }
}

impl From<ScopeMismatch> for ReconcileError {
    fn from(e: ScopeMismatch) -> Self {
        ReconcileError::Core(CoreError::ScopeMismatch(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_are_unreachable() {
        let e = ReconcileError::host("listing", HostError::Transport("refused".into()));
        assert!(e.is_host_unreachable());
        assert_eq!(e.code(), "host_unreachable");
        let e = ReconcileError::host("listing", HostError::Decode("bad".into()));
        assert_eq!(e.code(), "host_error");
    }
}
