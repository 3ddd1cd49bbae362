//! Health answers and registered hosts.

#[allow(unused_imports)]
use crate::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
#[allow(unused_imports)]
use std::collections::BTreeMap;

/// `GET /healthz`: the process serves HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: HealthStatus,
}

contract_enum!(
    /// The one value of [`Health::status`].
    HealthStatus, "health status" {
        /// The server is up.
        Ok => "ok",
    }
);

/// `GET /readyz`: the state store answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    /// Always `ready` (otherwise the answer is `503 not_ready`).
    pub status: ReadinessStatus,
}

contract_enum!(
    /// The one value of [`Readiness::status`].
    ReadinessStatus, "readiness status" {
        /// The state store is usable.
        Ready => "ready",
    }
);

/// A registered host. Its admin secret is never part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostRecord {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Base URL.
    pub base_url: String,
    /// Admin auth kind.
    #[schemars(with = "Domain<HostAuthKind>")]
    pub auth_kind: HostAuthKind,
    /// Admin e-mail, for `login` auth.
    pub admin_email: Option<String>,
    /// Host version from the last successful probe.
    pub version: Option<String>,
    /// Current status.
    #[schemars(with = "Domain<HostStatus>")]
    pub status: HostStatus,
    /// When capabilities were last probed.
    pub last_probe_at: Option<i64>,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at: i64,
    /// When it last changed (ms since the Unix epoch).
    pub updated_at: i64,
}

/// A host with its latest capabilities and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Host {
    /// The record.
    #[serde(flatten)]
    pub record: HostRecord,
    /// Capability → present, from the latest probe (empty before any snapshot).
    pub capabilities: BTreeMap<String, bool>,
    /// Why the host is not `supported`, and advisory warnings (`warning: …`).
    pub problems: Vec<String>,
}

/// `GET /api/hosts`: every registered host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostList {
    /// The hosts.
    pub hosts: Vec<Host>,
}

/// `DELETE /api/hosts/{host}`: the host's record is gone (nothing on the host changed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostDeleted {
    /// Always `true`.
    pub deleted: bool,
    /// The registered host.
    pub host_id: String,
    /// Name.
    pub name: String,
}
