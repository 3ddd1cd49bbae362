//! Error answers: `{"error":{"code","message"}}`.

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
#[allow(unused_imports)]
use std::collections::BTreeMap;

/// Every error answer: `{"error":{"code","message"}}`. The message never contains a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The code and message of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Stable snake_case code with its HTTP status (`host_in_use`, `provider_busy`, …; the
    /// `ErrorCode` schema of `docs/openapi.yaml` lists them). A string, not an enum: a
    /// client reads the codes of a newer server too.
    pub code: String,
    /// What was wrong and what to do, naming the field when there is one.
    pub message: String,
}
