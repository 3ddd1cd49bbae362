//! Report vocabulary shared by reconcile and doctor: differences between the
//! record and the host, and the repairs a run applied.

use relay_core::CapabilityRepair;
pub use relay_domain::{DifferenceKind, RepairKind};
use relay_domain::{ResourceState, ResourceType};
use relay_sub2api::ObjectId;
use serde::Serialize;
use serde_json::Value;

/// One difference between the record and the host. Values are host data
/// (names, model mappings, prices, ids); never a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Missing, changed or unmanaged duplicate.
    pub kind: DifferenceKind,
    /// Kind of host object.
    pub resource_type: ResourceType,
    /// Host id of the object concerned.
    pub host_id: Option<ObjectId>,
    /// Its name (the journal's deterministic name, or the host's name).
    pub name: String,
    /// The field that changed (`group_ids`, `model_mapping`, `model_pricing`,
    /// `subscription_type`, …), for `changed`.
    pub field: Option<String>,
    /// What the record or the template says.
    pub expected: Option<Value>,
    /// What the host has.
    pub actual: Option<Value>,
    /// A sentence naming the object and both values.
    pub detail: String,
    /// What to do about it.
    pub fix: String,
    /// A safe fix exists that `repair: true` applies.
    pub safe_fix: bool,
    /// The safe fix was applied in this run and the host now matches.
    pub repaired: bool,
}

/// One repair applied to the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Repair {
    /// What kind of repair this was.
    pub kind: RepairKind,
    /// Kind of host object changed.
    pub resource_type: ResourceType,
    /// Its host id (for a subscription: the new subscription, when assigned).
    pub host_id: ObjectId,
    /// Its name (the journal's logical key, or the host's name).
    pub name: String,
    /// A sentence saying what changed.
    pub detail: String,
    /// Every host call succeeded (and, where checked, the host now matches).
    pub ok: bool,
    /// The host's error, when a call failed.
    pub error: Option<String>,
    /// Details of a capability repair.
    pub capability: Option<CapabilityRepair>,
}

impl Repair {
    pub(crate) fn from_capability(c: CapabilityRepair, trigger: &str) -> Repair {
        Repair {
            kind: RepairKind::CapabilityRepair,
            resource_type: ResourceType::Account,
            host_id: c.account_id,
            name: c.account_name.clone(),
            detail: format!(
                "account {} ({}) forced back to Chat Completions ({trigger}; was mode {}, supported {})",
                c.account_id,
                c.account_name,
                c.previous_mode.as_deref().unwrap_or("unset"),
                c.previous_supported
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "unset".into()),
            ),
            ok: c.ok,
            error: c.error.clone(),
            capability: Some(c),
        }
    }
}

/// Whether a recorded object was found on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceCheck {
    /// Journal entry id.
    pub entry_id: i64,
    /// Kind of host object.
    pub resource_type: ResourceType,
    /// Host id the journal records for the object.
    pub host_id: ObjectId,
    /// Deterministic name the journal records (its logical key).
    pub name: String,
    /// Journal state (`created`, `adopted`, `reused`).
    pub state: ResourceState,
    /// Found on the host.
    pub present: bool,
}
