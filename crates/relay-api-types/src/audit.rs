//! The audit trail of host mutations (`GET /api/audit`) and the evidence documents
//! of doctor runs and access closures (`GET /api/operations`,
//! `GET /api/operations/{id}/evidence`).

use crate::vocab::Domain;
use crate::EvidenceFormat;
use crate::EvidenceHost;
use crate::{AuditOriginKind, OperationKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What started a host mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditOrigin {
    /// The kind of operation (`import_batch`, `reconcile_run`, `doctor`, …).
    #[schemars(with = "Domain<AuditOriginKind>")]
    pub kind: AuditOriginKind,
    /// Its id (batch, run, doctor run, access closure), when it has one.
    pub id: Option<String>,
    /// The `x-request-id` of the operator request behind it, if any.
    pub request_id: Option<String>,
}

/// One field a host mutation changed. Secrets read `"***"` (and `"changed"` after an
/// update of one), never their value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditFieldChange {
    /// The field's path in the host object (`model_mapping.openai.deepseek-chat`).
    pub field: String,
    /// Its value before (any JSON; null for a create).
    pub before: serde_json::Value,
    /// Its value after (any JSON; null for a delete).
    pub after: serde_json::Value,
}

contract_enum!(
    /// Whether the host accepted a recorded mutation.
    AuditOutcome, "audit outcome" {
        /// The host accepted it.
        Ok => "ok",
        /// The host refused it, or it could not be sent (`error` says why).
        Error => "error",
    }
);

/// One host mutation the manager made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEvent {
    /// Position in the trail (only grows).
    pub seq: i64,
    /// When it was recorded (ms since the epoch).
    pub at: i64,
    /// The host.
    pub host_id: String,
    /// The pack, when known.
    pub pack_id: Option<String>,
    /// The provider, when known.
    pub provider_id: Option<String>,
    /// What started it.
    pub origin: AuditOrigin,
    /// The operation (`create`, `update`, `delete`, `set_schedulable`, `clear_error`,
    /// `recover_state`, `clear_temp_unschedulable`, `set_balance`, `rebind`).
    pub operation: String,
    /// The kind of host object (`group`, `channel`, `plan`, `account`, `user`,
    /// `user_key`, `subscription`).
    pub object_kind: String,
    /// The object's host id, when known.
    pub object_id: Option<i64>,
    /// The object's name (a user's e-mail), when known.
    pub object_name: Option<String>,
    /// `ok` or `error`.
    pub outcome: AuditOutcome,
    /// Why the host refused it (redacted), when it did.
    pub error: Option<String>,
    /// The changed fields, before → after.
    pub changes: Vec<AuditFieldChange>,
}

/// One page of the audit trail, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditList {
    /// The events.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

contract_enum!(
    /// How a stored operation ended.
    OperationOutcome, "operation outcome" {
        /// It finished with a report.
        Succeeded => "succeeded",
        /// It failed (`error` says why).
        Failed => "failed",
    }
);

/// A doctor run or access closure as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OperationRecord {
    /// Its id (`doc_…`, `acl_…`): the origin id of its audit events.
    pub id: String,
    /// Doctor run or access closure.
    #[schemars(with = "Domain<OperationKind>")]
    pub kind: OperationKind,
    /// The host.
    pub host_id: String,
    /// The pack.
    pub pack_id: String,
    /// The provider.
    pub provider_id: String,
    /// The `x-request-id` of the operator request, if any.
    pub request_id: Option<String>,
    /// What was asked (no secret).
    pub asked: serde_json::Value,
    /// `succeeded` or `failed`.
    pub outcome: OperationOutcome,
    /// Why it failed (redacted).
    pub error: Option<String>,
    /// Its report (the doctor report, or the access report), redacted; null when it failed.
    pub report: Option<serde_json::Value>,
    /// When it started (ms since the epoch).
    pub started_at: i64,
    /// When it ended (ms since the epoch).
    pub finished_at: i64,
}

/// Stored doctor runs and access closures, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OperationList {
    /// The records.
    pub operations: Vec<OperationRecord>,
}

/// Self-contained, secret-free evidence document of a doctor run or access closure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OperationEvidence {
    /// Always `relay-evidence/1`.
    pub format: EvidenceFormat,
    /// `doctor` or `access_closure`.
    #[schemars(with = "Domain<OperationKind>")]
    pub kind: OperationKind,
    /// When the document was made (RFC 3339, UTC).
    pub generated_at: String,
    /// The host.
    pub host: EvidenceHost,
    /// The operation as stored: what was asked, the outcome, the report.
    pub operation: OperationRecord,
    /// The host mutations it made.
    pub audit_events: Vec<AuditEvent>,
}
