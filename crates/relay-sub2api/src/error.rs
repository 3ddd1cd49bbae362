//! Typed errors of the host adapter.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use relay_domain::Redactor;

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
    /// The host's message, as the host wrote it after the adapter's redaction step:
    /// every secret the adapter holds or sent in the request, and every key-shaped
    /// string, is replaced by its mask.
    pub message: String,
    /// The host's `metadata` object (string → string), empty when absent.
    pub metadata: BTreeMap<String, String>,
}

impl ErrorDetail {
    /// True when the machine code equals `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// This detail with its code, message and metadata passed through `redactor`.
    pub fn redacted(&self, redactor: &Redactor) -> ErrorDetail {
        ErrorDetail {
            status: self.status,
            code: self.code.as_deref().map(|c| redactor.redact(c)),
            message: redactor.redact(&self.message),
            metadata: self
                .metadata
                .iter()
                .map(|(k, v)| (redactor.redact(k), redactor.redact(v)))
                .collect(),
        }
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

/// The host's admin compliance lock (sub2api ≥ ≈0.1.136): every admin route except
/// the compliance routes answers `423 ADMIN_COMPLIANCE_ACK_REQUIRED` until the acting
/// admin has accepted the current deployment compliance commitment. Public facts only
/// (version and document URLs), never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComplianceLock {
    /// Version of the commitment to accept (e.g. `v2026.06.10`), when the host said.
    pub version: Option<String>,
    /// URL of the commitment document (English), when the host said.
    pub document_url: Option<String>,
    /// URL of the commitment document (Chinese), when the host said.
    pub document_url_zh: Option<String>,
}

impl fmt::Display for ComplianceLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the host's admin API is locked until an administrator accepts its deployment compliance commitment"
        )?;
        if let Some(v) = &self.version {
            write!(f, " {v}")?;
        }
        if let Some(url) = self.document_url.as_ref().or(self.document_url_zh.as_ref()) {
            write!(f, " ({url})")?;
        }
        Ok(())
    }
}

/// Machine code of the host's compliance lock answer (HTTP 423).
pub(crate) const COMPLIANCE_ACK_REQUIRED: &str = "ADMIN_COMPLIANCE_ACK_REQUIRED";

/// Every way a host call can fail. Messages never contain a secret: request
/// bodies are never echoed, decode errors report only a position, and every text
/// the host sent passes the adapter's redaction step ([`HostError::redacted`]).
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
    /// 423 `ADMIN_COMPLIANCE_ACK_REQUIRED`: the admin API is locked until the acting
    /// admin accepts the host's compliance commitment (see [`ComplianceLock`]). The
    /// manager never accepts it on the operator's behalf.
    #[error("{0}")]
    ComplianceRequired(ComplianceLock),
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
    /// This error with every text it carries passed through `redactor` (the host's
    /// message, code and metadata, transport and decode texts). The adapter applies
    /// it with the secrets of the call; callers that know more secrets (the upstream
    /// key of an account, say) apply it again with theirs.
    pub fn redacted(&self, redactor: &Redactor) -> HostError {
        let r = |s: &str| redactor.redact(s);
        match self {
            HostError::Config(s) => HostError::Config(r(s)),
            HostError::Unauthorized(d) => HostError::Unauthorized(d.redacted(redactor)),
            HostError::Forbidden(d) => HostError::Forbidden(d.redacted(redactor)),
            HostError::NotFound(d) => HostError::NotFound(d.redacted(redactor)),
            HostError::UnsupportedRoute { method, path } => HostError::UnsupportedRoute {
                method: method.clone(),
                path: r(path),
            },
            HostError::Conflict(d) => HostError::Conflict(d.redacted(redactor)),
            HostError::IdempotencyPending {
                retry_after,
                detail,
            } => HostError::IdempotencyPending {
                retry_after: *retry_after,
                detail: Box::new(detail.redacted(redactor)),
            },
            HostError::RateLimited {
                retry_after,
                detail,
            } => HostError::RateLimited {
                retry_after: *retry_after,
                detail: detail.redacted(redactor),
            },
            HostError::ComplianceRequired(lock) => HostError::ComplianceRequired(ComplianceLock {
                version: lock.version.as_deref().map(r),
                document_url: lock.document_url.as_deref().map(r),
                document_url_zh: lock.document_url_zh.as_deref().map(r),
            }),
            HostError::Host {
                status,
                code,
                message,
                metadata,
            } => HostError::Host {
                status: *status,
                code: code.as_deref().map(r),
                message: r(message),
                metadata: metadata.iter().map(|(k, v)| (r(k), r(v))).collect(),
            },
            HostError::Transport(s) => HostError::Transport(r(s)),
            HostError::Decode(s) => HostError::Decode(r(s)),
        }
    }

    /// The host's error detail, for the variants that carry one.
    pub fn detail(&self) -> Option<ErrorDetail> {
        match self {
            HostError::Unauthorized(d)
            | HostError::Forbidden(d)
            | HostError::NotFound(d)
            | HostError::Conflict(d)
            | HostError::RateLimited { detail: d, .. } => Some(d.clone()),
            HostError::IdempotencyPending { detail, .. } => Some((**detail).clone()),
            HostError::ComplianceRequired(lock) => {
                let mut metadata = BTreeMap::new();
                let fields = [
                    ("version", &lock.version),
                    ("document_url_en", &lock.document_url),
                    ("document_url_zh", &lock.document_url_zh),
                ];
                for (k, v) in fields {
                    if let Some(v) = v {
                        metadata.insert(k.to_owned(), v.clone());
                    }
                }
                Some(ErrorDetail {
                    status: 423,
                    code: Some(COMPLIANCE_ACK_REQUIRED.to_owned()),
                    message: lock.to_string(),
                    metadata,
                })
            }
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

    /// The compliance lock, when this is one.
    pub fn compliance_lock(&self) -> Option<&ComplianceLock> {
        match self {
            HostError::ComplianceRequired(lock) => Some(lock),
            _ => None,
        }
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
            423 if detail.has_code(COMPLIANCE_ACK_REQUIRED) => {
                let meta = |k: &str| detail.metadata.get(k).filter(|v| !v.is_empty()).cloned();
                HostError::ComplianceRequired(ComplianceLock {
                    version: meta("version"),
                    document_url: meta("document_url_en"),
                    document_url_zh: meta("document_url_zh"),
                })
            }
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
