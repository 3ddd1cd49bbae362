//! Reconcile (SPEC §4.7): compare the record with the host, re-test the
//! accounts, re-run one access probe, repair what is safe, derive the verdict.

use std::time::Instant;

use relay_core::{
    capability_flipped, probe_gateway, repair_recorded_account, AccessProof, CompletionFailure,
    OutOfServiceReason, Ports, ProbeSettings, ProviderTarget, RedactingObserver, RepairScope,
    TestReason, DEFAULT_CONCURRENCY,
};
use relay_domain::{
    AccessStatus, BatchId, HostId, ModeProof, PackId, ProviderEvent, ProviderId, ProviderStatus,
    ResourceType, Secret,
};
use relay_sub2api::{AccountErrorKind, ObjectId, ResponsesRoute, TempUnschedulableCause};
use serde::Serialize;

use crate::accounts::{test_all, AccountCheck, AccountOutcome};
use crate::diff::{find_differences, Finding};
use crate::error::ReconcileError;
use crate::inventory::Inventory;
use crate::key_health::{evaluate, retest_in_error, KeyHealthCheck, KeyHealthInput, Seen};
use crate::model::{Difference, DifferenceKind, Repair, ResourceCheck};
use crate::probe_key::choose;
use crate::redact::run_redactor;
use crate::repair::apply_safe_fixes;

/// What a reconcile run does.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileRequest {
    /// Apply the safe fixes of differences (re-bind an account to its group,
    /// restore the channel to the template) and record them.
    pub repair: bool,
    /// Accounts tested at once (at least 1; default 8).
    pub concurrency: usize,
    /// A user key to prove access with (self-service). Without it, the managed
    /// probe subscriber's key from the vault is used.
    pub probe_key: Option<Secret>,
    /// E-mail of the managed probe subscriber whose key is preferred (default
    /// `relay-probe@relay-manager.invalid`).
    pub probe_email: Option<String>,
    /// Gateway probe timing. `probe.repair` also enables the capability repair of
    /// SPEC §7.3 (flipped or lost Responses markers, and upstream failures from
    /// accounts on the Responses path).
    pub probe: ProbeSettings,
    /// Per-key health: the policy, the time and the stored records. With it, each
    /// account's result feeds its key's window, failing keys are taken out of
    /// scheduling and recovered ones put back ([`ReconcileReport::keys`]); without
    /// it, the run leaves scheduling alone.
    pub key_health: Option<KeyHealthInput>,
}

impl Default for ReconcileRequest {
    fn default() -> Self {
        ReconcileRequest {
            repair: false,
            concurrency: DEFAULT_CONCURRENCY,
            probe_key: None,
            probe_email: None,
            probe: ProbeSettings::default(),
            key_health: None,
        }
    }
}

/// Wall times of a run, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// Reading the journal and the host.
    pub inventory_ms: u64,
    /// Capability repairs and safe fixes before the tests.
    pub repairs_ms: u64,
    /// Account tests.
    pub account_tests_ms: u64,
    /// The access probe.
    pub access_ms: u64,
    /// The whole run.
    pub total_ms: u64,
}

/// Counts of the run's findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileCounts {
    /// Recorded objects checked.
    pub resources: usize,
    /// Differences found (repaired ones included).
    pub differences: usize,
    /// Differences still there at the end.
    pub remaining_differences: usize,
    /// Accounts that passed.
    pub accounts_passed: usize,
    /// Accounts with an advisory warning.
    pub accounts_warning: usize,
    /// Accounts that failed.
    pub accounts_failed: usize,
    /// Accounts not tested.
    pub accounts_not_tested: usize,
    /// Repairs applied (capability repairs and safe fixes).
    pub repairs: usize,
    /// Keys the manager took out of scheduling in this run.
    pub keys_disabled: usize,
    /// Keys the manager put back into scheduling in this run.
    pub keys_re_enabled: usize,
}

/// Result of a reconcile run: a self-contained evidence document (no secret:
/// keys appear only as mask and fingerprint).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconcileReport {
    /// Host the provider was reconciled on.
    pub host_id: HostId,
    /// Pack of the provider.
    pub pack_id: PackId,
    /// Provider reconciled.
    pub provider_id: ProviderId,
    /// The batch of the journal handle, when the run was triggered for one.
    pub batch_id: Option<BatchId>,
    /// `active`, `degraded`, `drifted` or `failed`.
    pub verdict: ProviderStatus,
    /// The event to apply to the provider's stored status
    /// (`ProviderStatus::transition`).
    pub provider_event: ProviderEvent,
    /// Access status from the probe (`not_configured` when no key was available).
    pub access_status: AccessStatus,
    /// Every recorded object and whether it is on the host.
    pub resources: Vec<ResourceCheck>,
    /// Differences between the record (and the pack) and the host.
    pub differences: Vec<Difference>,
    /// Every recorded account.
    pub accounts: Vec<AccountCheck>,
    /// The access proof, when a key was available.
    pub access: Option<AccessProof>,
    /// The group the probe key belongs to.
    pub access_group_id: Option<ObjectId>,
    /// Repairs applied (capability repairs and safe fixes).
    pub repairs: Vec<Repair>,
    /// Per-key health after the run (when the request asked for it), by account id.
    pub keys: Vec<KeyHealthCheck>,
    /// Why the verdict is what it is, and other facts.
    pub notes: Vec<String>,
    /// Counts of resources, differences, account outcomes and repairs.
    pub counts: ReconcileCounts,
    /// Wall time of each phase of the run.
    pub timings: Timings,
}

impl ReconcileReport {
    /// Differences still present at the end of the run.
    pub fn remaining_differences(&self) -> impl Iterator<Item = &Difference> {
        self.differences.iter().filter(|d| !d.repaired)
    }
}

pub(crate) use relay_core::millis as ms;

/// Checks that the journal belongs to the target.
pub(crate) fn check_scope(
    ports: &Ports<'_>,
    target: &ProviderTarget,
) -> Result<(), ReconcileError> {
    relay_core::check_scope(ports.journal, target)?;
    Ok(())
}

/// Reads the journal (refusing an empty record) and the host.
pub(crate) fn load_inventory(
    ports: &Ports<'_>,
    target: &ProviderTarget,
) -> Result<Inventory, ReconcileError> {
    let entries = ports.journal.list_provider()?;
    if !entries
        .iter()
        .any(|e| e.is_live() && e.host_resource_id.is_some())
    {
        return Err(ReconcileError::NothingRecorded {
            provider_id: target.provider.provider_id.clone(),
        });
    }
    Inventory::load(ports.adapter, entries, target.provider_id())
}

/// The provider event of a run (SPEC §3): `Drift` when a difference remains;
/// else `Fail` when no account can serve and access is not proven; else
/// `Degrade` when an account fails or access is not proven (broken, or no key
/// to prove it with); else `Healthy`.
pub fn derive_event(
    remaining_differences: usize,
    accounts: &[AccountCheck],
    access: AccessStatus,
) -> ProviderEvent {
    if remaining_differences > 0 {
        return ProviderEvent::Drift;
    }
    let any_good = accounts.iter().any(|a| a.outcome.is_good());
    let any_failed = accounts.iter().any(|a| a.outcome == AccountOutcome::Failed);
    let access_ok = access.is_ready();
    if !any_good && !access_ok {
        ProviderEvent::Fail
    } else if any_failed || !access_ok {
        ProviderEvent::Degrade
    } else {
        ProviderEvent::Healthy
    }
}

/// The verdict an event leads to from any provider status that reconcile runs
/// on (the domain's state machine decides).
pub fn verdict_of(event: ProviderEvent) -> ProviderStatus {
    ProviderStatus::Installed
        .transition(event)
        .unwrap_or(ProviderStatus::Failed)
}

/// Reconciles one provider on one host.
///
/// Reads the journal's live entries and the host, reports every difference,
/// repairs flipped Responses flags (SPEC §7.3, when `probe.repair`), applies safe
/// fixes (when `repair`), re-tests the accounts whose host status is `active`
/// (once each, `concurrency` at a time; an account the host benched for a low vendor
/// balance is reported, not tested), probes the gateway once (completion-gated,
/// warm-up window, capability repair on an upstream failure from accounts on the Responses path) and derives the
/// verdict.
///
/// Errors: [`ReconcileError::HostUnreachable`] when the host does not answer
/// (mark the host `unreachable`), [`ReconcileError::Host`] when it refuses a list
/// the run needs, [`ReconcileError::NothingRecorded`], a scope mismatch, or a
/// journal/vault failure. Everything else is in the report.
pub fn reconcile(
    ports: &Ports<'_>,
    target: &ProviderTarget,
    request: &ReconcileRequest,
) -> Result<ReconcileReport, ReconcileError> {
    let redactor = run_redactor(ports, request.probe_key.as_ref())?;
    let observer = RedactingObserver {
        inner: ports.observer,
        redactor: &redactor,
    };
    let ports = ports.with_observer(&observer);
    let mut report = reconcile_unredacted(&ports, target, request)?;
    report.redact(&redactor);
    Ok(report)
}

fn reconcile_unredacted(
    ports: &Ports<'_>,
    target: &ProviderTarget,
    request: &ReconcileRequest,
) -> Result<ReconcileReport, ReconcileError> {
    if request.concurrency == 0 {
        return Err(ReconcileError::InvalidRequest(
            "concurrency must be at least 1".into(),
        ));
    }
    check_scope(ports, target)?;
    let started = Instant::now();
    let mut timings = Timings::default();
    let inv = load_inventory(ports, target)?;
    timings.inventory_ms = ms(started.elapsed());
    let mut notes = inv.notes.clone();
    let mut findings: Vec<Finding> = find_differences(&inv, target);
    let mut repairs: Vec<Repair> = Vec::new();

    // Capability flags that flipped back (SPEC §7.3), before any test.
    let phase = Instant::now();
    for a in &inv.accounts {
        let Some(host) = &a.host else { continue };
        let in_group = inv
            .group_of(&a.entry)
            .is_some_and(|g| host.group_ids.contains(&g));
        if !capability_flipped(target, &a.entry, host) {
            continue;
        }
        if request.probe.repair {
            let c = repair_recorded_account(ports.adapter, ports.journal, &a.entry, host)?;
            repairs.push(Repair::from_capability(
                c,
                "its Responses capability flag flipped back",
            ));
        } else {
            let name = &a.entry.logical_key;
            findings.push(Finding {
                diff: Difference {
                    kind: DifferenceKind::Changed,
                    resource_type: ResourceType::Account,
                    host_id: Some(host.id),
                    name: name.clone(),
                    field: Some(ResponsesRoute::CAPABILITY_FIELD.into()),
                    expected: Some(ResponsesRoute::forced_chat_completions_extra()),
                    actual: Some(serde_json::Value::Object(host.extra.clone())),
                    detail: format!(
                        "account {} ({name}) is routed over the Responses API again{}; chat completions through it fail unless the vendor serves /responses",
                        host.id,
                        if in_group { "" } else { " (not bound to its group)" }
                    ),
                    fix: "run reconcile with the capability repair on (force_chat_completions, SPEC §7.3)".into(),
                    safe_fix: false,
                    repaired: false,
                },
                fix: None,
            });
        }
    }
    if request.repair {
        repairs.extend(apply_safe_fixes(ports.adapter, target, &mut findings));
    }
    timings.repairs_ms = ms(phase.elapsed());

    // Accounts: test the active ones once (reading again the ones just repaired).
    let phase = Instant::now();
    let smoke = target.provider.smoke_test_model.as_str();
    let touched: Vec<ObjectId> = repairs
        .iter()
        .filter(|r| r.resource_type == ResourceType::Account)
        .map(|r| r.host_id)
        .collect();
    let mut checks = Vec::new();
    let mut pending = Vec::new();
    let mut hosts: Vec<(ObjectId, Option<relay_sub2api::Account>, Option<String>)> = Vec::new();
    for a in &inv.accounts {
        let id = a.id();
        let name = a.entry.logical_key.as_str();
        let fp = a.entry.fingerprint.clone();
        let group = inv.group_of(&a.entry);
        let host = match &a.host {
            Some(_) if touched.contains(&id) => {
                ports.adapter.get_account(id).ok().or(a.host.clone())
            }
            other => other.clone(),
        };
        let mask = a
            .entry
            .details
            .get("mask")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        hosts.push((id, host.clone(), mask));
        let untested = |status: Option<String>, outcome, message: String| {
            AccountCheck::untested(id, name, fp.clone(), group, status, outcome, message)
        };
        match host {
            None => checks.push(untested(
                None,
                AccountOutcome::NotTested,
                "deleted on the host".into(),
            )),
            // Benched by the host for a low vendor balance (native CN platforms): it
            // cannot serve now, and the host schedules it again by itself once the
            // vendor account is topped up. Testing it would only ask the vendor again.
            Some(h)
                if h.status.is_active()
                    && h.temp_unschedulable_cause()
                        == Some(TempUnschedulableCause::VendorBalanceLow) =>
            {
                let mut c = untested(
                    Some(h.status.to_string()),
                    AccountOutcome::Failed,
                    format!(
                        "benched by the host until {} for a low vendor balance, not tested: {}",
                        h.temp_unschedulable_until.as_deref().unwrap_or("?"),
                        OutOfServiceReason::BalanceLow.fix()
                    ),
                );
                c.reason = Some(TestReason::UpstreamQuotaExhausted);
                checks.push(c);
            }
            Some(h)
                if h.status.is_active()
                    || (h.status.is_error()
                        && retest_in_error(request.key_health.as_ref(), id)) =>
            {
                pending.push(untested(
                    Some(h.status.to_string()),
                    AccountOutcome::NotTested,
                    String::new(),
                ));
            }
            Some(h) if h.status.is_error() => {
                // Typed when the host says why (its message can quote the vendor).
                let (reason, message) = match h.error_kind() {
                    Some(AccountErrorKind::QuotaExhausted) => (
                        Some(TestReason::UpstreamQuotaExhausted),
                        format!(
                            "in error on the host after a vendor 402 (no balance or quota left), not tested again: {}",
                            OutOfServiceReason::QuotaExhausted.fix()
                        ),
                    ),
                    Some(AccountErrorKind::KeyInvalid) if !h.takes_responses_path() => (
                        Some(TestReason::UpstreamKeyInvalid),
                        format!(
                            "in error on the host after a vendor 401 (key rejected), not tested again: {}",
                            OutOfServiceReason::KeyInvalid.fix()
                        ),
                    ),
                    _ => (
                        None,
                        format!(
                            "in error on the host, not tested again: {}",
                            h.error_message.as_deref().unwrap_or("no message")
                        ),
                    ),
                };
                let mut c = untested(Some(h.status.to_string()), AccountOutcome::Failed, message);
                c.reason = reason;
                checks.push(c);
            }
            Some(h) => checks.push(untested(
                Some(h.status.to_string()),
                AccountOutcome::NotTested,
                format!("{} on the host; not tested", h.status),
            )),
        }
    }
    checks.extend(test_all(ports, smoke, pending, request.concurrency));
    checks.sort_by_key(|c| c.account_id);
    timings.account_tests_ms = ms(phase.elapsed());

    // One access probe.
    let phase = Instant::now();
    let key = choose(
        ports.adapter,
        &inv,
        ports.vault,
        request.probe_key.as_ref(),
        request.probe_email.as_deref(),
    )?;
    let mut access = None;
    let mut access_group_id = None;
    let access_status = match &key {
        None => {
            notes.push("no probe key: no managed subscriber key is recorded for this provider and none was supplied, so access was not probed".into());
            AccessStatus::NotConfigured
        }
        Some(k) => {
            access_group_id = k.group_id;
            let group = k
                .group_id
                .or_else(|| inv.present_groups().next().map(|(_, g)| g.id));
            let scope = group.map(|g| RepairScope::new(g, ports.journal));
            let proof = probe_gateway(
                ports,
                &k.key,
                k.mode(),
                k.source,
                &request.probe.for_model(smoke),
                scope.as_ref(),
            )?;
            for c in &proof.repairs {
                repairs.push(Repair::from_capability(
                    c.clone(),
                    "an upstream failure came from accounts on the Responses path",
                ));
            }
            for a in &proof.accounts_out_of_service {
                notes.push(format!(
                    "account {} ({}) is out of service on the host ({}): {}",
                    a.account_id,
                    a.account_name,
                    a.reason.label(),
                    a.fix
                ));
            }
            if proof.completion_failure == Some(CompletionFailure::SubscriptionMissing) {
                notes.push(
                    "the probe subscriber has no active subscription for the group (expired, suspended or revoked): run `relay access assign-subscriptions` (the host renews an expired subscription when it is assigned again)".into(),
                );
            }
            let status = match k.mode() {
                relay_domain::AccessMode::Subscription => {
                    AccessStatus::derive(proof.proof, ModeProof::NotAttempted)
                }
                relay_domain::AccessMode::SelfService => {
                    AccessStatus::derive(ModeProof::NotAttempted, proof.proof)
                }
            };
            access = Some(proof);
            status
        }
    };
    timings.access_ms = ms(phase.elapsed());

    // `API returned 404` and "Responses API only" warnings hold only when the gateway proves access.
    if access.is_some() && !access_status.is_ready() {
        for c in checks
            .iter_mut()
            .filter(|c| c.needs_gateway_confirmation && c.outcome == AccountOutcome::Warning)
        {
            c.outcome = AccountOutcome::Failed;
            let what = if c.reason == Some(TestReason::ResponsesOnlyPendingGateway) {
                "\"Responses API only\""
            } else {
                c.reason = Some(TestReason::NotFoundPendingGateway);
                "404"
            };
            notes.push(format!(
                "account {} answered {what} in the account test and the gateway probe did not pass",
                c.account_id
            ));
        }
    }

    // Per-key health, from the final account outcomes.
    let keys = match &request.key_health {
        None => Vec::new(),
        Some(input) => {
            let out_of_service = |id: ObjectId| {
                access.as_ref().and_then(|p| {
                    p.accounts_out_of_service
                        .iter()
                        .find(|a| a.account_id == id)
                        .map(|a| (a.reason, a.fix.clone()))
                })
            };
            let seen: Vec<Seen<'_>> = hosts
                .iter()
                .filter_map(|(id, host, mask)| {
                    let check = checks.iter().find(|c| c.account_id == *id)?;
                    Some(Seen {
                        check,
                        host: host.as_ref(),
                        key_mask: mask.clone(),
                        out_of_service: out_of_service(*id),
                    })
                })
                .collect();
            let keys = evaluate(ports.adapter, input, &seen);
            for k in &keys {
                if let Some(e) = &k.error {
                    notes.push(format!("account {}: {e}", k.account_id));
                } else if k.disabled_now() {
                    notes.push(format!(
                        "account {} taken out of scheduling: {} failure(s) within the window (last cause: {})",
                        k.account_id,
                        k.failures_in_window,
                        k.cause.map_or("unknown", |c| c.as_str())
                    ));
                } else if k.re_enabled_now() {
                    notes.push(format!(
                        "account {} put back into scheduling: its test passed again",
                        k.account_id
                    ));
                }
            }
            keys
        }
    };

    let differences: Vec<Difference> = findings.into_iter().map(|f| f.diff).collect();
    let remaining = differences.iter().filter(|d| !d.repaired).count();
    let event = derive_event(remaining, &checks, access_status);
    let verdict = verdict_of(event);
    match event {
        ProviderEvent::Drift => notes.push(format!(
            "drifted: {remaining} difference(s) between the record and the host remain"
        )),
        ProviderEvent::Fail => {
            notes.push("failed: no account passes and access is not proven".into())
        }
        ProviderEvent::Degrade => {
            let failed = checks
                .iter()
                .filter(|c| c.outcome == AccountOutcome::Failed)
                .count();
            if failed > 0 {
                notes.push(format!("degraded: {failed} account(s) fail"));
            }
            if !access_status.is_ready() {
                notes.push(format!("degraded: access is {access_status}"));
            }
        }
        _ => {}
    }
    let count = |o: AccountOutcome| checks.iter().filter(|c| c.outcome == o).count();
    let resources = inv.resources();
    let counts = ReconcileCounts {
        resources: resources.len(),
        differences: differences.len(),
        remaining_differences: remaining,
        accounts_passed: count(AccountOutcome::Passed),
        accounts_warning: count(AccountOutcome::Warning),
        accounts_failed: count(AccountOutcome::Failed),
        accounts_not_tested: count(AccountOutcome::NotTested),
        repairs: repairs.len(),
        keys_disabled: keys.iter().filter(|k| k.disabled_now()).count(),
        keys_re_enabled: keys.iter().filter(|k| k.re_enabled_now()).count(),
    };
    timings.total_ms = ms(started.elapsed());
    let scope = ports.journal.scope();
    Ok(ReconcileReport {
        host_id: scope.host_id,
        pack_id: scope.pack_id,
        provider_id: scope.provider_id,
        batch_id: scope.batch_id,
        verdict,
        provider_event: event,
        access_status,
        resources,
        differences,
        accounts: checks,
        access,
        access_group_id,
        repairs,
        keys,
        notes,
        counts,
        timings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(outcome: AccountOutcome) -> AccountCheck {
        AccountCheck::untested(1, "a", None, None, None, outcome, String::new())
    }

    #[test]
    fn verdicts_follow_the_specification() {
        use AccountOutcome::*;
        let ready = AccessStatus::SubscriptionReady;
        let broken = AccessStatus::Broken;
        assert_eq!(
            derive_event(1, &[check(Passed)], ready),
            ProviderEvent::Drift
        );
        assert_eq!(
            derive_event(0, &[check(Passed)], ready),
            ProviderEvent::Healthy
        );
        assert_eq!(
            derive_event(0, &[check(Passed), check(Warning)], ready),
            ProviderEvent::Healthy
        );
        assert_eq!(
            derive_event(0, &[check(Passed), check(Failed)], ready),
            ProviderEvent::Degrade
        );
        assert_eq!(
            derive_event(0, &[check(Passed)], broken),
            ProviderEvent::Degrade
        );
        assert_eq!(
            derive_event(0, &[check(Passed)], AccessStatus::NotConfigured),
            ProviderEvent::Degrade
        );
        assert_eq!(
            derive_event(0, &[check(Failed)], broken),
            ProviderEvent::Fail
        );
        assert_eq!(
            derive_event(0, &[check(Failed)], ready),
            ProviderEvent::Degrade
        );
        assert_eq!(verdict_of(ProviderEvent::Healthy), ProviderStatus::Active);
        assert_eq!(verdict_of(ProviderEvent::Degrade), ProviderStatus::Degraded);
        assert_eq!(verdict_of(ProviderEvent::Drift), ProviderStatus::Drifted);
        assert_eq!(verdict_of(ProviderEvent::Fail), ProviderStatus::Failed);
    }
}
