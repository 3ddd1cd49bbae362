//! Typed errors of the host adapter.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Machine code of a write whose `Idempotency-Key` is still being executed (409).
pub const IDEMPOTENCY_IN_PROGRESS: &str = "IDEMPOTENCY_IN_PROGRESS";
/// Machine code of a write whose key failed moments ago and is in its backoff window (409).
pub const IDEMPOTENCY_RETRY_BACKOFF: &str = "IDEMPOTENCY_RETRY_BACKOFF";
/// Machine code of a key reused with a different payload, or by another user (409).
pub const IDEMPOTENCY_KEY_CONFLICT: &str = "IDEMPOTENCY_KEY_CONFLICT";
/// Machine code of a guarded write sent without a key to an enforcing host (400).
pub const IDEMPOTENCY_KEY_REQUIRED: &str = "IDEMPOTENCY_KEY_REQUIRED";
/// Code the adapter gives (as a 409 [`HostError::Conflict`]) to a create the host
/// replayed (`X-Idempotency-Replayed`) whose object no longer exists: the key was
/// used before for an object since deleted, so the write needs a new key.
pub const REPLAYED_OBJECT_GONE: &str = "REPLAYED_OBJECT_GONE";

/// What the host said when it refused a request: the HTTP status, the machine code
/// and the human-readable message, plus any `metadata` the host attached.
///
/// The machine code is the handler envelope's `reason` when present, else the
/// middleware shape's string `code`, else none (plain validation failures carry
/// no machine code).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorDetail {
    /// HTTP status of the answer.
    pub status: u16,
    /// Machine code (`GROUP_NOT_FOUND`, `INVALID_ADMIN_KEY`, …), if the host sent one.
    pub code: Option<String>,
    /// The host's message, verbatim (never contains a secret we sent).
    pub message: String,
    /// The host's `metadata` object (string → string), empty when absent.
    pub metadata: BTreeMap<String, String>,
}

impl ErrorDetail {
    /// True when the machine code equals `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "HTTP {} {}: {}", self.status, code, self.message),
            None => write!(f, "HTTP {}: {}", self.status, self.message),
        }
    }
}

/// Every way a host call can fail. Messages never contain a secret: request
/// bodies are never echoed and decode errors report only a position.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HostError {
    /// The adapter configuration is unusable (bad base URL, empty credential).
    #[error("invalid host configuration: {0}")]
    Config(String),
    /// 401: the admin credential (or user session) was refused.
    #[error("host refused the credentials ({0})")]
    Unauthorized(ErrorDetail),
    /// 403: authenticated but not allowed.
    #[error("host forbade the request ({0})")]
    Forbidden(ErrorDetail),
    /// 404 with a JSON body: the route exists, the object does not.
    #[error("object not found on the host ({0})")]
    NotFound(ErrorDetail),
    /// 404 with the router's plain-text body: this host build has no such route.
    #[error("the host has no route {method} {path} (older host build?)")]
    UnsupportedRoute {
        /// HTTP method used.
        method: String,
        /// Path (without query) that is missing.
        path: String,
    },
    /// 409: uniqueness or state conflict.
    #[error("conflict on the host ({0})")]
    Conflict(ErrorDetail),
    /// 409 `IDEMPOTENCY_IN_PROGRESS` or `IDEMPOTENCY_RETRY_BACKOFF`: the host holds
    /// the `Idempotency-Key` of this write (an earlier execution is still running, or
    /// failed moments ago and the key is in its backoff window). Retry the same write
    /// with the same key after `retry_after`; see [`crate::retry_write`].
    #[error(
        "the host is still holding this idempotent write (retry after {retry_after:?}; {detail})"
    )]
    IdempotencyPending {
        /// `Retry-After` (or `metadata.retry_after`), whole seconds rounded down by the host.
        retry_after: Option<Duration>,
        /// The host's answer (boxed: keeps `HostError` small).
        detail: Box<ErrorDetail>,
    },
    /// 429 that the adapter could not (or must not) wait out.
    #[error("rate limited by the host (retry after {retry_after:?}; {detail})")]
    RateLimited {
        /// Parsed `Retry-After`, when the host sent one.
        retry_after: Option<Duration>,
        /// The host's answer.
        detail: ErrorDetail,
    },
    /// Any other non-2xx answer (400, 5xx, …).
    #[error("host error HTTP {status} {}: {message}", code.as_deref().unwrap_or("-"))]
    Host {
        /// HTTP status.
        status: u16,
        /// Machine code, if any.
        code: Option<String>,
        /// The host's message.
        message: String,
        /// The host's `metadata` object.
        metadata: BTreeMap<String, String>,
    },
    /// Network failure: connect, TLS, timeout, connection reset.
    #[error("transport error talking to the host: {0}")]
    Transport(String),
    /// The host answered 2xx with a body the adapter cannot read.
    #[error("cannot decode the host answer: {0}")]
    Decode(String),
}

impl HostError {
    /// The host's error detail, for the variants that carry one.
    pub fn detail(&self) -> Option<ErrorDetail> {
        match self {
            HostError::Unauthorized(d)
            | HostError::Forbidden(d)
            | HostError::NotFound(d)
            | HostError::Conflict(d)
            | HostError::RateLimited { detail: d, .. } => Some(d.clone()),
            HostError::IdempotencyPending { detail, .. } => Some((**detail).clone()),
            HostError::Host {
                status,
                code,
                message,
                metadata,
            } => Some(ErrorDetail {
                status: *status,
                code: code.clone(),
                message: message.clone(),
                metadata: metadata.clone(),
            }),
            _ => None,
        }
    }

    /// The machine code of the host's answer, if any.
    pub fn code(&self) -> Option<String> {
        self.detail().and_then(|d| d.code)
    }

    /// The HTTP status of the host's answer, if the host answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HostError::UnsupportedRoute { .. } => Some(404),
            other => other.detail().map(|d| d.status),
        }
    }

    /// True for "the object is gone" (JSON 404). Deletes treat this as done.
    pub fn is_not_found(&self) -> bool {
        matches!(self, HostError::NotFound(_))
    }

    /// True when a retry later may succeed (transport failures, 429, 502/503/504, a
    /// pending idempotent write).
    pub fn is_transient(&self) -> bool {
        match self {
            HostError::Transport(_)
            | HostError::RateLimited { .. }
            | HostError::IdempotencyPending { .. } => true,
            HostError::Host { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// Builds the typed error for a non-2xx answer.
    pub(crate) fn from_detail(detail: ErrorDetail, retry_after: Option<Duration>) -> Self {
        match detail.status {
            401 => HostError::Unauthorized(detail),
            403 => HostError::Forbidden(detail),
            404 => HostError::NotFound(detail),
            409 if detail.has_code(IDEMPOTENCY_IN_PROGRESS)
                || detail.has_code(IDEMPOTENCY_RETRY_BACKOFF) =>
            {
                let retry_after = retry_after.or_else(|| {
                    detail
                        .metadata
                        .get("retry_after")
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                });
                HostError::IdempotencyPending {
                    retry_after,
                    detail: Box::new(detail),
                }
            }
            409 => HostError::Conflict(detail),
            429 => HostError::RateLimited {
                retry_after,
                detail,
            },
            status => HostError::Host {
                status,
                code: detail.code,
                message: detail.message,
                metadata: detail.metadata,
            },
        }
    }
}
