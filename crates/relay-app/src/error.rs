//! Errors of the use-cases, each with a stable machine code the API answers with.

use relay_store::StoreError;
use relay_sub2api::HostError;

/// An error a caller can act on. `code()` is the stable machine code and
/// `Display` the message; neither ever contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: names the field and the fix.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field (`base_url`, `keys`, …).
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// Something the caller named does not exist.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// Kind of thing (`host`, `pack`, `provider`, `batch`).
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A provider id exists in several packs and the call did not say which.
    #[error("provider `{provider_id}` exists in several packs ({}); pass pack_id to choose one", candidates.join(", "))]
    Ambiguous {
        /// The provider id asked for.
        provider_id: String,
        /// Packs that contain it.
        candidates: Vec<String>,
    },
    /// A conflict with existing state, with a stable code (`host_in_use`,
    /// `host_exists`, `batch_not_resumable`, …).
    #[error("{message}")]
    Conflict {
        /// Stable machine code (`host_in_use`, `host_exists`, …) clients can match on.
        code: &'static str,
        /// Explanation and fix.
        message: String,
    },
    /// The host could not be reached.
    #[error("host unreachable: {0}")]
    HostUnreachable(String),
    /// The host refused the admin credentials.
    #[error("host rejected the admin credentials: {0}")]
    HostAuth(String),
    /// The host's admin API is locked until an administrator accepts its deployment
    /// compliance commitment (sub2api's `423 ADMIN_COMPLIANCE_ACK_REQUIRED`). The
    /// message names the version, the document, who must accept and how; the manager
    /// never accepts it.
    #[error("{0}")]
    HostComplianceRequired(String),
    /// The host answered with an error.
    #[error("host error: {0}")]
    Host(HostError),
    /// A host call a use-case could not do without failed.
    #[error("host error while {step}: {message}")]
    HostStep {
        /// What was being done.
        step: String,
        /// The host's error.
        message: String,
    },
    /// The state store failed.
    #[error("store error: {0}")]
    Store(StoreError),
    /// A pack is invalid or unsafe; every problem is listed.
    #[error("invalid pack: {}", problems.join("; "))]
    InvalidPack {
        /// Each problem as `file: message`.
        problems: Vec<String>,
    },
    /// A failure the caller cannot fix by changing the request (a flow or a worker broke).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// Builds an [`AppError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid { .. } => "invalid_request",
            AppError::NotFound { kind, .. } => match *kind {
                "host" => "host_not_found",
                "pack" => "pack_not_found",
                "provider" => "provider_not_found",
                "batch" => "batch_not_found",
                "reconcile run" => "reconcile_run_not_found",
                "import run" => "import_run_not_found",
                "import run item" => "import_run_item_not_found",
                "operation" => "operation_not_found",
                "key" => "key_not_found",
                _ => "not_found",
            },
            AppError::Ambiguous { .. } => "ambiguous_provider",
            AppError::Conflict { code, .. } => code,
            AppError::HostUnreachable(_) => "host_unreachable",
            AppError::HostAuth(_) => "host_auth_failed",
            AppError::HostComplianceRequired(_) => "host_compliance_required",
            AppError::Host(_) | AppError::HostStep { .. } => "host_error",
            AppError::Store(_) => "store_error",
            AppError::InvalidPack { .. } => "invalid_pack",
            AppError::Internal(_) => "internal",
        }
    }

    /// The HTTP status the API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            AppError::Invalid { .. }
            | AppError::Ambiguous { .. }
            | AppError::InvalidPack { .. } => 400,
            AppError::NotFound { .. } => 404,
            AppError::Conflict { .. } => 409,
            AppError::HostUnreachable(_) | AppError::Host(_) | AppError::HostStep { .. } => 502,
            AppError::HostAuth(_) => 502,
            AppError::HostComplianceRequired(_) => 423,
            AppError::Store(_) | AppError::Internal(_) => 500,
        }
    }
}

impl From<HostError> for AppError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Transport(m) => AppError::HostUnreachable(m),
            HostError::ComplianceRequired(lock) => {
                AppError::HostComplianceRequired(compliance_message(&lock, None, None))
            }
            other => AppError::Host(other),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, id } => AppError::NotFound {
                kind: match kind {
                    "host" => "host",
                    "pack" => "pack",
                    "provider" => "provider",
                    "import batch" => "batch",
                    "reconcile run" => "reconcile run",
                    other => other,
                },
                id,
            },
            other => AppError::Store(other),
        }
    }
}

/// Who must accept a host's compliance commitment for the manager's credential.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ActingAdmin<'a> {
    /// The admin API key acts as the host's lowest-id active admin.
    ApiKey,
    /// The admin the host is registered with (e-mail).
    Login(&'a str),
}

/// The operator's instructions for a host whose admin API is locked by its
/// compliance gate: what to accept (version, document), as which admin, where, and
/// that the manager will not do it. `phrase` is the host's English acceptance phrase,
/// when known. `host` names the host for the follow-up command.
pub(crate) fn compliance_message(
    lock: &relay_sub2api::ComplianceLock,
    who: Option<ActingAdmin<'_>>,
    phrase: Option<&str>,
) -> String {
    let mut m = String::from(
        "the host's admin API is locked (HTTP 423 ADMIN_COMPLIANCE_ACK_REQUIRED) until an administrator accepts its deployment compliance commitment",
    );
    if let Some(v) = &lock.version {
        m.push_str(&format!(" {v}"));
    }
    match (&lock.document_url, &lock.document_url_zh) {
        (Some(en), Some(zh)) => m.push_str(&format!(" (document: {en}; 中文: {zh})")),
        (Some(url), None) | (None, Some(url)) => m.push_str(&format!(" (document: {url})")),
        (None, None) => {}
    }
    m.push_str(". Accept it as ");
    m.push_str(&match who {
        Some(ActingAdmin::ApiKey) => "the host's lowest-id active admin (the admin API key acts as that admin; another admin's acceptance does not unlock the key)".to_string(),
        Some(ActingAdmin::Login(email)) => format!("{email} (the admin this host is registered with)"),
        None => "the admin the manager's credential acts as (with an admin API key: the host's lowest-id active admin)".to_string(),
    });
    m.push_str(", in the host's admin UI or with POST /api/v1/admin/compliance/accept");
    match phrase {
        Some(phrase) => m.push_str(&format!(
            " and the body {{\"phrase\": \"{phrase}\", \"language\": \"en\"}}"
        )),
        None => m.push_str(" and the acceptance phrase the host shows"),
    }
    m.push_str(". The manager never accepts it for you; afterwards probe the host again (`relay host probe`), or add it again if it was not registered");
    m
}

/// Result of a use-case.
pub type AppResult<T> = Result<T, AppError>;

/// The application error of a provisioning error.
pub(crate) fn provision_error(e: relay_provision::ProvisionError) -> AppError {
    use relay_provision::ProvisionError;
    match e {
        ProvisionError::Blocked { problems } => AppError::Conflict {
            code: "import_blocked",
            message: format!("the import cannot run: {}", problems.join("; ")),
        },
        ProvisionError::NothingRecorded { .. } => AppError::Conflict {
            code: "nothing_recorded",
            message: e.to_string(),
        },
        ProvisionError::InvalidRequest(m) => AppError::invalid("request", m),
        ProvisionError::Host { step, source } => match source {
            relay_sub2api::HostError::Transport(m) => {
                AppError::HostUnreachable(format!("{step}: {m}"))
            }
            other => AppError::HostStep {
                step,
                message: other.to_string(),
            },
        },
        other => AppError::Internal(other.to_string()),
    }
}

/// `e` with its message passed through `redactor` (host texts it quotes).
pub(crate) fn redact_app_error(e: AppError, redactor: &relay_domain::Redactor) -> AppError {
    let r = |s: String| redactor.redact(&s);
    match e {
        AppError::Invalid { field, message } => AppError::Invalid {
            field,
            message: r(message),
        },
        AppError::Conflict { code, message } => AppError::Conflict {
            code,
            message: r(message),
        },
        AppError::HostUnreachable(m) => AppError::HostUnreachable(r(m)),
        AppError::HostAuth(m) => AppError::HostAuth(r(m)),
        AppError::HostComplianceRequired(m) => AppError::HostComplianceRequired(r(m)),
        AppError::Host(h) => AppError::Host(h.redacted(redactor)),
        AppError::HostStep { step, message } => AppError::HostStep {
            step: r(step),
            message: r(message),
        },
        AppError::InvalidPack { problems } => AppError::InvalidPack {
            problems: problems.into_iter().map(r).collect(),
        },
        AppError::Internal(m) => AppError::Internal(r(m)),
        other => other,
    }
}
