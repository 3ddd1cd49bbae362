//! The vocabulary of the audit trail: what started a host mutation, and one changed
//! field of it. The trail itself lives in the store; the recording in relay-app.

use serde::{Deserialize, Serialize};
use serde_json::Value;

crate::string_enum!(
    /// What started a host mutation the manager made (an audit event's origin).
    AuditOriginKind, "audit origin kind" {
        /// An import batch (origin id: the batch id).
        ImportBatch => "import_batch",
        /// A batch auto-import run (origin id: the run id).
        BatchImportRun => "batch_import_run",
        /// A reconcile run, its repairs included (origin id: the run id).
        ReconcileRun => "reconcile_run",
        /// A repair asked for on its own, outside a reconcile run or doctor run.
        Repair => "repair",
        /// A doctor run (origin id: the doctor run id).
        Doctor => "doctor",
        /// A rollback of a batch or of a provider (origin id: the batch, if one).
        Rollback => "rollback",
        /// The resume of an interrupted batch (origin id: the batch id).
        Resume => "resume",
        /// An access closure outside an import (origin id: the closure id).
        AccessClosure => "access_closure",
        /// Any other operator request (origin id: none; the HTTP request id says which).
        OperatorRequest => "operator_request",
    }
);

crate::string_enum!(
    /// The kind of a stored operation record (with an evidence document of its own).
    OperationKind, "operation kind" {
        /// A doctor run (binding checks, with or without repairs).
        Doctor => "doctor",
        /// An access closure outside an import (subscriptions assigned, access proven).
        AccessClosure => "access_closure",
    }
);

/// What started a host mutation: its kind, the id of the batch, run or closure, and
/// the HTTP request id of the operator request behind it, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditOrigin {
    /// The kind of operation.
    pub kind: AuditOriginKind,
    /// Its id (batch, run, closure, doctor run), when it has one.
    pub id: Option<String>,
    /// The `x-request-id` of the operator request that started it, if any.
    pub request_id: Option<String>,
}

impl AuditOrigin {
    /// An origin of `kind` with the id `id` and no request id.
    pub fn new(kind: AuditOriginKind, id: Option<impl Into<String>>) -> AuditOrigin {
        AuditOrigin {
            kind,
            id: id.map(Into::into),
            request_id: None,
        }
    }

    /// The same origin carrying the HTTP request id `request_id`.
    pub fn with_request_id(mut self, request_id: Option<String>) -> AuditOrigin {
        self.request_id = request_id;
        self
    }
}

/// The value a secret field is recorded with: never the secret itself.
pub const REDACTED_VALUE: &str = "***";
/// The `after` of a secret field an update changed (its value is never recorded).
pub const CHANGED_VALUE: &str = "changed";

/// One field a host mutation changed: `before` is `null` for a create, `after` is
/// `null` for a delete. Secret fields read [`REDACTED_VALUE`] / [`CHANGED_VALUE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field's path in the host object (`model_mapping.openai.gpt-4o`).
    pub field: String,
    /// Its value before the mutation.
    pub before: Value,
    /// Its value after it.
    pub after: Value,
}
