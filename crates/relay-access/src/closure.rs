//! The access closure of SPEC §4.5: both modes, one report, one access status.

use relay_core::{AccessCloser, AccessError, AccessPlan, AccessReport, Ports, RepairScope};
use relay_domain::AccessStatus;

use crate::self_service::check_self_service;
use crate::subscription::close_subscription;

/// Runs the requested modes against `plan.group_id` and derives the access status.
/// The capability repair runs at most once for the whole closure. Errors only when
/// the journal or the vault fails.
pub fn close_access(ports: &Ports<'_>, plan: &AccessPlan) -> Result<AccessReport, AccessError> {
    let repair = RepairScope::new(plan.group_id, ports.journal);
    let mut report = AccessReport::not_configured(plan.group_id);
    if let Some(access) = &plan.subscription {
        let detail = close_subscription(ports, plan.group_id, access, &plan.probe, Some(&repair))?;
        report.subscription = detail.status;
        report.subscription_detail = Some(detail);
    }
    if let Some(key) = &plan.supplied_key {
        let detail = check_self_service(ports, plan.group_id, key, &plan.probe, Some(&repair))?;
        report.self_service = detail.status;
        report.self_service_detail = Some(detail);
    }
    report.status = AccessStatus::derive(report.subscription, report.self_service);
    Ok(report)
}

/// The access closure as the [`AccessCloser`] port: what the application hands to
/// an import so that provisioning runs [`close_access`] without depending on this
/// crate.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessClosure;

impl AccessCloser for AccessClosure {
    fn close(&self, ports: &Ports<'_>, plan: &AccessPlan) -> Result<AccessReport, AccessError> {
        close_access(ports, plan)
    }
}
