//! The access closure of SPEC §4.5: both modes, one report, one access status.

use relay_domain::{AccessStatus, ModeProof, Secret};
use relay_sub2api::ObjectId;
use serde::Serialize;

use crate::error::{AccessError, AccessProblem};
use crate::ports::AccessPorts;
use crate::probe::{AccessProof, CapabilityRepair, ProbeSettings, RepairScope};
use crate::self_service::{check_self_service, SelfServiceReport};
use crate::subscription::{close_subscription, SubscriptionAccess, SubscriptionReport};

/// What to prove for one group.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessPlan {
    /// The provider's group.
    pub group_id: ObjectId,
    /// Run the subscription closure (the group must be subscription-type).
    pub subscription: Option<SubscriptionAccess>,
    /// Check self-service access with this operator-supplied user key.
    pub supplied_key: Option<Secret>,
    /// How to probe the gateway.
    pub probe: ProbeSettings,
}

/// Result of the access closure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessReport {
    /// The group.
    pub group_id: ObjectId,
    /// Derived from both proofs ([`AccessStatus::derive`]).
    pub status: AccessStatus,
    /// Proof of subscription access.
    pub subscription: ModeProof,
    /// Proof of self-service access.
    pub self_service: ModeProof,
    /// Details of the subscription closure, when attempted.
    pub subscription_detail: Option<SubscriptionReport>,
    /// Details of the self-service check, when attempted.
    pub self_service_detail: Option<SelfServiceReport>,
}

impl AccessReport {
    /// The report of a closure that attempted nothing.
    pub fn not_configured(group_id: ObjectId) -> Self {
        AccessReport {
            group_id,
            status: AccessStatus::NotConfigured,
            subscription: ModeProof::NotAttempted,
            self_service: ModeProof::NotAttempted,
            subscription_detail: None,
            self_service_detail: None,
        }
    }

    /// The gateway proofs (subscription first).
    pub fn proofs(&self) -> Vec<&AccessProof> {
        let sub = self
            .subscription_detail
            .as_ref()
            .and_then(|d| d.proof.as_ref());
        let own = self
            .self_service_detail
            .as_ref()
            .and_then(|d| d.proof.as_ref());
        sub.into_iter().chain(own).collect()
    }

    /// Every capability repair applied.
    pub fn repairs(&self) -> Vec<&CapabilityRepair> {
        self.proofs().into_iter().flat_map(|p| &p.repairs).collect()
    }

    /// Every problem found.
    pub fn problems(&self) -> Vec<&AccessProblem> {
        let mut out: Vec<&AccessProblem> = self
            .subscription_detail
            .as_ref()
            .map(|d| d.problems())
            .unwrap_or_default();
        if let Some(d) = &self.self_service_detail {
            out.extend(&d.problems);
        }
        out
    }

    /// Every advisory warning of the subscription closure.
    pub fn warnings(&self) -> Vec<&str> {
        self.subscription_detail
            .iter()
            .flat_map(|d| &d.subscribers)
            .flat_map(|s| s.warnings.iter().map(String::as_str))
            .collect()
    }
}

/// Runs the requested modes against `plan.group_id` and derives the access status.
/// The capability repair runs at most once for the whole closure. Errors only when
/// the journal or the vault fails.
pub fn close_access(
    ports: &AccessPorts<'_>,
    plan: &AccessPlan,
) -> Result<AccessReport, AccessError> {
    let repair = RepairScope::new(plan.group_id, ports.journal);
    let mut report = AccessReport::not_configured(plan.group_id);
    if let Some(access) = &plan.subscription {
        let detail = close_subscription(ports, plan.group_id, access, &plan.probe, Some(&repair))?;
        report.subscription = detail.status;
        report.subscription_detail = Some(detail);
    }
    if let Some(key) = &plan.supplied_key {
        let detail = check_self_service(
            ports.adapter,
            plan.group_id,
            key,
            &plan.probe,
            Some(&repair),
            ports.observer,
        )?;
        report.self_service = detail.status;
        report.self_service_detail = Some(detail);
    }
    report.status = AccessStatus::derive(report.subscription, report.self_service);
    Ok(report)
}
