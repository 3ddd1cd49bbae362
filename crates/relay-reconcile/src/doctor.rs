//! Doctor (SPEC §6.1): the bindings that make a call work, each checked with
//! evidence and a concrete fix, and optionally repaired.

use std::time::Instant;

use relay_core::{
    check_reachability, probe_gateway, recover_accounts, subscription_logical_key, AccessProof,
    AccountRecovery, CompletionFailure, JournalError, NewEntry, OutOfServiceReason, OverlayNote,
    Ports, ProbeKeySource, ProbeSettings, ProviderTarget, RedactingObserver, RepairScope,
};
pub use relay_domain::{CheckName, CheckStatus};
use relay_domain::{Fingerprint, ResourceState, ResourceType, Secret};
use relay_pack::parse_host_version;
use relay_sub2api::{
    now_unix, subscription_type, AccountErrorKind, AssignOutcome, ChannelUpdate, HostAdapter,
    HostTime, ObjectId, ObjectStatus, SubscriptionAssignment, SubscriptionFilter,
    TempUnschedulableCause,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::ReconcileError;
use crate::inventory::Inventory;
use crate::model::{Repair, RepairKind};
use crate::probe_key::{locate_key, managed_key, ProbeKey};
use crate::reconcile::{check_scope, load_inventory, ms};
use crate::redact::run_redactor;
use crate::repair::rebind_account;

const REPAIR_HINT: &str = "or run `relay doctor --repair`";

/// What a doctor run does. The default checks the managed probe key, repairs
/// nothing and uses the default 30 s warm-up window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DoctorRequest {
    /// Apply the safe fixes (bind accounts and the channel to the group,
    /// re-assign the probe subscriber's subscription (which renews an expired one),
    /// clear accounts' error (back into scheduling) and temporary-unschedulable
    /// state — except a native CN platform account's low-balance bench, which the
    /// host lifts by itself —, and the capability repair when an upstream failure
    /// comes from accounts on the Responses path) and re-run the checks.
    pub repair: bool,
    /// A user key to check instead of the managed probe subscriber's key.
    pub supplied_key: Option<Secret>,
    /// E-mail of the managed probe subscriber whose key is preferred.
    pub probe_email: Option<String>,
    /// Gateway probe timing (the warm-up window bounds the completion check).
    pub probe: ProbeSettings,
    /// Accounts the manager's per-key health took out of scheduling, each with why
    /// (`auth`, `quota`, …): the doctor never clears their error or puts them back
    /// (that is the reconcile's, once their test passes).
    pub held_out: Vec<(ObjectId, String)>,
}

/// One check with its evidence and fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorCheck {
    /// Which binding this check verifies.
    pub name: CheckName,
    /// What it is about (`group 5`, `host`, `key sk-c…9f3c`).
    pub subject: String,
    /// Ok, fail or skipped.
    pub status: CheckStatus,
    /// One sentence: what was found (or why the check was skipped).
    pub summary: String,
    /// Structured facts (ids, statuses, host answers; never a secret).
    pub evidence: Value,
    /// What to do, when it failed (or was skipped for a reason the operator can
    /// change).
    pub fix: Option<String>,
    /// It failed before the repairs of this run and passes now.
    pub repaired: bool,
}

/// Result of a doctor run: a self-contained evidence document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorReport {
    /// Host the provider was checked on.
    pub host_id: relay_domain::HostId,
    /// Pack of the provider.
    pub pack_id: relay_domain::PackId,
    /// Provider checked.
    pub provider_id: relay_domain::ProviderId,
    /// No check failed.
    pub healthy: bool,
    /// The checks (after the repairs, when some were applied).
    pub checks: Vec<DoctorCheck>,
    /// The checks as first found, when repairs were attempted.
    pub before_repair: Option<Vec<DoctorCheck>>,
    /// Repairs applied in this run (only with `repair` on).
    pub repairs: Vec<Repair>,
    /// The last gateway proof of the completion check.
    pub access: Option<AccessProof>,
    /// The pack's advisory host overlays for this host version.
    pub overlays: Vec<OverlayNote>,
    /// Other facts worth reading (never a secret).
    pub notes: Vec<String>,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

impl DoctorReport {
    /// Every check named `name` (the per-group checks appear once per group).
    pub fn check(&self, name: CheckName) -> impl Iterator<Item = &DoctorCheck> {
        self.checks.iter().filter(move |c| c.name == name)
    }
}

/// A safe fix the doctor can apply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DoctorFix {
    RebindAccount {
        account_id: ObjectId,
        name: String,
        group_id: ObjectId,
    },
    ClearError {
        account_id: ObjectId,
        name: String,
    },
    ClearTemp {
        account_id: ObjectId,
        name: String,
    },
    RebindChannel {
        channel_id: ObjectId,
        name: String,
        group_id: ObjectId,
    },
    Reassign {
        user_id: ObjectId,
        group_id: ObjectId,
    },
    RebindKey {
        key_id: ObjectId,
        key_mask: String,
        from: Option<ObjectId>,
        group_id: ObjectId,
    },
}

impl DoctorFix {
    /// Clears an account's runtime state (applied together, see [`recover`]).
    fn is_recovery(&self) -> bool {
        matches!(
            self,
            DoctorFix::ClearError { .. } | DoctorFix::ClearTemp { .. }
        )
    }
}

/// One pass over every check.
struct Pass {
    checks: Vec<DoctorCheck>,
    access: Option<AccessProof>,
    repairs: Vec<Repair>,
    fixes: Vec<DoctorFix>,
    notes: Vec<String>,
    inventory: Option<Inventory>,
}

fn check(
    name: CheckName,
    subject: impl Into<String>,
    status: CheckStatus,
    summary: impl Into<String>,
    evidence: Value,
    fix: Option<String>,
) -> DoctorCheck {
    DoctorCheck {
        name,
        subject: subject.into(),
        status,
        summary: summary.into(),
        evidence,
        fix,
        repaired: false,
    }
}

fn skipped(name: CheckName, subject: impl Into<String>, why: impl Into<String>) -> DoctorCheck {
    check(name, subject, CheckStatus::Skipped, why, Value::Null, None)
}

/// Runs the binding checks of SPEC §6.1 for one provider on one host.
///
/// For every recorded group: (a) a schedulable account, (b) the channel bound;
/// for the probe key's group: (c) the key bound, (d) its owner's subscription
/// active; for the host: (e) `401 API_KEY_REQUIRED` without a key; with the key:
/// (f) a completion. With `repair: true` the safe fixes are applied and every
/// check runs again; the report keeps the first pass in `before_repair`.
///
/// Host failures are check results, not errors (an unreachable host fails (e) and
/// skips what depends on it). Errors: nothing recorded, a scope mismatch, or a
/// journal/vault failure.
pub fn doctor(
    ports: &Ports<'_>,
    target: &ProviderTarget,
    request: &DoctorRequest,
) -> Result<DoctorReport, ReconcileError> {
    let redactor = run_redactor(ports, request.supplied_key.as_ref())?;
    let observer = RedactingObserver {
        inner: ports.observer,
        redactor: &redactor,
    };
    let ports = ports.with_observer(&observer);
    let mut report = doctor_unredacted(&ports, target, request)?;
    report.redact(&redactor);
    Ok(report)
}

fn doctor_unredacted(
    ports: &Ports<'_>,
    target: &ProviderTarget,
    request: &DoctorRequest,
) -> Result<DoctorReport, ReconcileError> {
    check_scope(ports, target)?;
    let started = Instant::now();
    let mut first = run_pass(ports, target, request)?;
    let mut repairs = std::mem::take(&mut first.repairs);
    let mut notes = std::mem::take(&mut first.notes);
    let (checks, before, access) = if request.repair && !first.fixes.is_empty() {
        for fix in first.fixes.iter().filter(|f| !f.is_recovery()) {
            repairs.push(apply(ports, target, first.inventory.as_ref(), fix)?);
        }
        repairs.extend(recover(
            ports.adapter,
            first.inventory.as_ref(),
            &first.fixes,
        ));
        let mut second = run_pass(ports, target, request)?;
        repairs.append(&mut second.repairs);
        notes.append(&mut second.notes);
        let mut checks = second.checks;
        for c in &mut checks {
            c.repaired = c.status == CheckStatus::Ok
                && first.checks.iter().any(|b| {
                    b.name == c.name && b.subject == c.subject && b.status == CheckStatus::Fail
                });
        }
        (checks, Some(first.checks), second.access)
    } else {
        (first.checks, None, first.access)
    };
    notes.sort();
    notes.dedup();
    let overlays = match target.host_version.as_deref().map(parse_host_version) {
        Some(Ok(v)) => target
            .provider
            .overlays_for(&v)
            .into_iter()
            .map(|o| OverlayNote {
                severity: o.severity,
                note: o.note.clone(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let scope = ports.journal.scope();
    Ok(DoctorReport {
        host_id: scope.host_id,
        pack_id: scope.pack_id,
        provider_id: scope.provider_id,
        healthy: checks.iter().all(|c| c.status != CheckStatus::Fail),
        checks,
        before_repair: before,
        repairs,
        access,
        overlays,
        notes,
        elapsed_ms: ms(started.elapsed()),
    })
}

fn run_pass(
    ports: &Ports<'_>,
    target: &ProviderTarget,
    request: &DoctorRequest,
) -> Result<Pass, ReconcileError> {
    let adapter = ports.adapter;
    let mut pass = Pass {
        checks: Vec::new(),
        access: None,
        repairs: Vec::new(),
        fixes: Vec::new(),
        notes: Vec::new(),
        inventory: None,
    };
    let inventory = match load_inventory(ports, target) {
        Ok(inv) => Ok(inv),
        Err(e @ (ReconcileError::HostUnreachable { .. } | ReconcileError::Host { .. })) => Err(e),
        Err(other) => return Err(other),
    };
    let reach = check_reachability(adapter, ports.observer);
    let reach_check = if reach.reachable {
        check(
            CheckName::GatewayReachable,
            "host",
            CheckStatus::Ok,
            "GET /v1/models without a key answered 401 API_KEY_REQUIRED",
            json!(reach),
            None,
        )
    } else {
        check(
            CheckName::GatewayReachable,
            "host",
            CheckStatus::Fail,
            reach
                .message
                .clone()
                .unwrap_or_else(|| "the gateway did not answer as expected".into()),
            json!(reach),
            Some(match reach.models_status {
                None => "the host did not answer: check that it is running and that its base URL is right".into(),
                Some(s) => format!("the gateway answered HTTP {s} instead of 401 API_KEY_REQUIRED: check that the base URL points at the sub2api host itself (not a proxy or the web console)"),
            }),
        )
    };

    let inv = match inventory {
        Ok(inv) => inv,
        Err(e) => {
            let subject = "host";
            if reach.reachable {
                pass.checks.push(check(
                    CheckName::SchedulableAccount,
                    subject,
                    CheckStatus::Fail,
                    format!("the host's admin API failed: {e}"),
                    json!({"error": e.to_string(), "code": e.code()}),
                    Some("check the host's admin credential and that the admin API answers (relay host probe)".into()),
                ));
            } else {
                pass.checks.push(skipped(
                    CheckName::SchedulableAccount,
                    subject,
                    "the host is unreachable (see gateway_reachable)",
                ));
            }
            for name in [
                CheckName::ChannelBound,
                CheckName::ProbeKeyBound,
                CheckName::SubscriptionActive,
            ] {
                pass.checks.push(skipped(
                    name,
                    subject,
                    "needs the host's objects, which could not be read",
                ));
            }
            pass.checks.push(reach_check);
            pass.checks.push(skipped(
                CheckName::CompletionWorks,
                subject,
                "needs the host's objects, which could not be read",
            ));
            return Ok(pass);
        }
    };

    // (a) and (b) for every recorded group.
    for g in &inv.groups {
        let gid = g.id();
        let subject = format!("group {gid}");
        if g.host.is_none() {
            pass.checks.push(check(
                CheckName::SchedulableAccount,
                subject.clone(),
                CheckStatus::Fail,
                format!(
                    "group {gid} ({}) was deleted on the host",
                    g.entry.logical_key
                ),
                json!({"group_id": gid, "present": false}),
                Some(
                    "the provider's group is gone: roll the provider back and import again".into(),
                ),
            ));
            pass.checks.push(skipped(
                CheckName::ChannelBound,
                subject,
                "the group is gone (see schedulable_account)",
            ));
            continue;
        }
        pass.checks.push(schedulable_check(
            &inv,
            gid,
            &request.held_out,
            &mut pass.fixes,
        ));
        pass.checks
            .push(channel_check(adapter, target, &inv, gid, &mut pass.fixes));
    }

    // The probe key.
    let key = match &request.supplied_key {
        Some(k) => Some(ProbeKey {
            key: k.clone(),
            source: ProbeKeySource::SuppliedKey,
            group_id: None,
            owner_user_id: None,
            email: None,
        }),
        None => managed_key(&inv, ports.vault, request.probe_email.as_deref())?,
    };
    let Some(mut key) = key else {
        let why = "no probe key: none was supplied and no managed subscriber key is recorded";
        let fix = "pass a user key bound to the group (`relay doctor --key …`), or run `relay access assign-subscriptions`";
        for name in [CheckName::ProbeKeyBound, CheckName::SubscriptionActive] {
            let mut c = skipped(name, "probe key", why);
            c.fix = Some(fix.into());
            pass.checks.push(c);
        }
        pass.checks.push(reach_check);
        let mut c = skipped(CheckName::CompletionWorks, "probe key", why);
        c.fix = Some(fix.into());
        pass.checks.push(c);
        pass.inventory = Some(inv);
        return Ok(pass);
    };

    // (c) the key is bound to its group.
    let key_ok = key_check(adapter, &inv, &mut key, &mut pass.checks, &mut pass.fixes);

    // (d) the owner's subscription.
    let group = key.group_id.and_then(|g| inv.group(g).cloned());
    let subject = key
        .group_id
        .map(|g| format!("group {g}"))
        .unwrap_or_else(|| format!("key {}", key.mask()));
    match (&group, key.owner_user_id) {
        _ if !key_ok => pass.checks.push(skipped(
            CheckName::SubscriptionActive,
            subject.clone(),
            "needs the probe key's owner and group (see probe_key_bound)",
        )),
        (Some(g), _) if g.subscription_type != subscription_type::SUBSCRIPTION => {
            pass.checks.push(skipped(
                CheckName::SubscriptionActive,
                subject.clone(),
                format!(
                    "group {} is a {} group: no subscription is needed",
                    g.id, g.subscription_type
                ),
            ))
        }
        (Some(g), Some(user)) => {
            pass.checks
                .push(subscription_check(adapter, g.id, user, &mut pass.fixes))
        }
        _ => pass.checks.push(skipped(
            CheckName::SubscriptionActive,
            subject.clone(),
            "the probe key's owner is unknown",
        )),
    }

    // (e) reachability.
    let reachable = reach.reachable;
    pass.checks.push(reach_check);

    // (f) a completion.
    if !reachable {
        pass.checks.push(skipped(
            CheckName::CompletionWorks,
            subject,
            "the gateway is unreachable (see gateway_reachable)",
        ));
    } else {
        let smoke = &target.provider.smoke_test_model;
        let mut settings = request.probe.for_model(smoke);
        settings.repair = request.repair && request.probe.repair;
        let scope_group = key
            .group_id
            .or_else(|| inv.present_groups().next().map(|(_, g)| g.id));
        let scope = scope_group.map(|g| RepairScope::new(g, ports.journal));
        let proof = probe_gateway(
            ports,
            &key.key,
            key.mode(),
            key.source,
            &settings,
            scope.as_ref(),
        )?;
        for c in &proof.repairs {
            pass.repairs.push(Repair::from_capability(
                c.clone(),
                "an upstream failure came from accounts on the Responses path",
            ));
        }
        pass.checks.push(completion_check(&proof, &subject, smoke));
        pass.access = Some(proof);
    }
    pass.inventory = Some(inv);
    Ok(pass)
}

fn schedulable_check(
    inv: &Inventory,
    gid: ObjectId,
    held_out: &[(ObjectId, String)],
    fixes: &mut Vec<DoctorFix>,
) -> DoctorCheck {
    let subject = format!("group {gid}");
    let recorded: Vec<(ObjectId, &str)> = inv
        .accounts
        .iter()
        .filter(|a| inv.group_of(&a.entry) == Some(gid))
        .map(|a| (a.id(), a.entry.logical_key.as_str()))
        .collect();
    let mut rows = Vec::new();
    let mut schedulable = Vec::new();
    let mut problems = Vec::new();
    let mut plan = Vec::new();
    let mut seen = Vec::new();
    for a in inv.host_accounts.values() {
        let bound = a.group_ids.contains(&gid);
        let managed = recorded.iter().any(|(id, _)| *id == a.id);
        if !bound && !managed {
            continue;
        }
        seen.push(a.id);
        let ok =
            bound && a.status.is_active() && a.schedulable && a.temp_unschedulable_until.is_none();
        if ok {
            schedulable.push(a.id);
        }
        rows.push(json!({
            "account_id": a.id,
            "name": a.name,
            "managed": managed,
            "bound": bound,
            "status": a.status,
            "schedulable": a.schedulable,
            "temp_unschedulable_until": a.temp_unschedulable_until,
            "temp_unschedulable_cause": match a.temp_unschedulable_cause() {
                Some(TempUnschedulableCause::VendorBalanceLow) => Some("vendor_balance_low"),
                Some(TempUnschedulableCause::Other) => Some("other"),
                None => None,
            },
        }));
        let label = format!("account {} ({})", a.id, a.name);
        if let Some((_, cause)) = held_out.iter().find(|(id, _)| *id == a.id) {
            // The manager's key health took it out; only a passing re-test in a
            // reconcile puts it back.
            problems.push(format!(
                "{label} was taken out of scheduling by the manager's key health (cause {cause}): a reconcile re-tests it and puts it back once its test passes (`relay keys show`)"
            ));
            continue;
        }
        if !bound {
            problems.push(format!(
                "{label} is not in group {gid}: add it, {REPAIR_HINT}"
            ));
            if managed {
                plan.push(DoctorFix::RebindAccount {
                    account_id: a.id,
                    name: a.name.clone(),
                    group_id: gid,
                });
            }
        }
        if let Some(kind) = a.error_kind() {
            // The host's own message can quote the vendor's answer: only its typed
            // reason goes into the problem text.
            let problem = match kind {
                AccountErrorKind::QuotaExhausted => format!(
                    "{label} is in error: the vendor answered 402 (no balance or quota left): top up the vendor account, then clear the error, {REPAIR_HINT}"
                ),
                // A 401 from `/responses` on an account the host routes there is a
                // capability problem, not the key's.
                AccountErrorKind::KeyInvalid if a.takes_responses_path() => format!(
                    "{label} is in error: 401 while the host routes it over the Responses API (the vendor may not serve /responses): force Chat Completions and clear the error, {REPAIR_HINT}"
                ),
                AccountErrorKind::KeyInvalid => format!(
                    "{label} is in error: the vendor rejected its key (401): put a valid key on it (import the provider again, or update the account on the host), then clear the error, {REPAIR_HINT}"
                ),
                AccountErrorKind::Other => format!(
                    "{label} is in error ({}): check its upstream key (`relay diagnose`), then clear the error, {REPAIR_HINT}",
                    a.error_message.as_deref().unwrap_or("no message")
                ),
            };
            problems.push(problem);
            if managed {
                plan.push(DoctorFix::ClearError {
                    account_id: a.id,
                    name: a.name.clone(),
                });
            }
        } else if !a.status.is_active() {
            problems.push(format!("{label} is {} on the host: enable it", a.status));
        }
        if !a.schedulable && !a.status.is_error() {
            // (An account the host put into `error` is also unschedulable; clearing
            // its error puts it back.)
            problems.push(format!(
                "{label} is excluded from scheduling on the host: turn scheduling back on"
            ));
        }
        if let Some(until) = &a.temp_unschedulable_until {
            if a.temp_unschedulable_cause() == Some(TempUnschedulableCause::VendorBalanceLow) {
                // The host benched it for a low vendor balance and lifts the bench by
                // itself once the vendor is topped up: clearing it by force would only
                // send calls to a vendor that refuses them.
                problems.push(format!(
                    "{label} is benched by the host until {until} for a low vendor balance: {}",
                    OutOfServiceReason::BalanceLow.fix()
                ));
            } else {
                problems.push(format!(
                    "{label} is temporarily unschedulable until {until}: wait, or clear it, {REPAIR_HINT}"
                ));
                if managed {
                    plan.push(DoctorFix::ClearTemp {
                        account_id: a.id,
                        name: a.name.clone(),
                    });
                }
            }
        }
    }
    for (id, name) in &recorded {
        if !seen.contains(id) {
            problems.push(format!(
                "account {id} ({name}) was deleted on the host: re-import its key (`relay import`)"
            ));
        }
    }
    let evidence = json!({"group_id": gid, "accounts": rows, "schedulable": schedulable});
    if !schedulable.is_empty() && problems.is_empty() {
        return check(
            CheckName::SchedulableAccount,
            subject,
            CheckStatus::Ok,
            format!(
                "{} schedulable account(s) in group {gid}",
                schedulable.len()
            ),
            evidence,
            None,
        );
    }
    fixes.extend(plan);
    if !schedulable.is_empty() {
        // Some account works, but a managed account is unbound, in error or
        // benched: calls that land on it fail over and can end in 502 (SPEC §7.6,
        // §7.8), so the check fails and names the fix.
        return check(
            CheckName::SchedulableAccount,
            subject,
            CheckStatus::Fail,
            format!(
                "{} schedulable account(s) in group {gid}, but {} account problem(s)",
                schedulable.len(),
                problems.len()
            ),
            evidence,
            Some(problems.join("; ")),
        );
    }
    if problems.is_empty() {
        problems.push(format!(
            "no account is recorded for group {gid}: import a key (`relay import`)"
        ));
    }
    check(
        CheckName::SchedulableAccount,
        subject,
        CheckStatus::Fail,
        format!(
            "group {gid} has no schedulable account: the gateway answers 503 \"Service temporarily unavailable\" (or 404 model_not_found)"
        ),
        evidence,
        Some(problems.join("; ")),
    )
}

fn channel_check(
    adapter: &dyn HostAdapter,
    target: &ProviderTarget,
    inv: &Inventory,
    gid: ObjectId,
    fixes: &mut Vec<DoctorFix>,
) -> DoctorCheck {
    let subject = format!("group {gid}");
    if !target.capabilities.channels || !inv.channels_supported {
        return skipped(
            CheckName::ChannelBound,
            subject,
            "the host build has no channels",
        );
    }
    let recorded = inv
        .channels
        .iter()
        .find(|c| inv.group_of(&c.entry) == Some(gid));
    match recorded {
        Some(c) => {
            let cid = c.id();
            let name = c.entry.logical_key.clone();
            match &c.host {
                None => check(
                    CheckName::ChannelBound,
                    subject,
                    CheckStatus::Fail,
                    format!("channel {cid} ({name}) was deleted on the host"),
                    json!({"channel_id": cid, "present": false}),
                    Some("re-run the import (`relay import`) to create the channel again".into()),
                ),
                Some(h) if h.group_ids.contains(&gid) => check(
                    CheckName::ChannelBound,
                    subject,
                    CheckStatus::Ok,
                    format!("channel {cid} ({name}) is bound to group {gid}"),
                    json!({"channel_id": cid, "group_ids": h.group_ids}),
                    None,
                ),
                Some(h) => {
                    fixes.push(DoctorFix::RebindChannel {
                        channel_id: cid,
                        name: name.clone(),
                        group_id: gid,
                    });
                    check(
                        CheckName::ChannelBound,
                        subject,
                        CheckStatus::Fail,
                        format!("channel {cid} ({name}) is not bound to group {gid}"),
                        json!({"channel_id": cid, "group_ids": h.group_ids}),
                        Some(format!(
                            "channel {cid} is not bound to group {gid}: bind it, {REPAIR_HINT}"
                        )),
                    )
                }
            }
        }
        None => match adapter.list_channels(None) {
            Ok(list) => match list.iter().find(|c| c.group_ids.contains(&gid)) {
                Some(c) => check(
                    CheckName::ChannelBound,
                    subject,
                    CheckStatus::Ok,
                    format!(
                        "channel {} ({}) is bound to group {gid} (not recorded by the manager)",
                        c.id, c.name
                    ),
                    json!({"channel_id": c.id, "group_ids": c.group_ids, "managed": false}),
                    None,
                ),
                None => check(
                    CheckName::ChannelBound,
                    subject,
                    CheckStatus::Fail,
                    format!("no channel is bound to group {gid}"),
                    json!({"group_id": gid}),
                    Some(
                        "re-run the import (`relay import`) to create the provider's channel"
                            .into(),
                    ),
                ),
            },
            Err(e) => check(
                CheckName::ChannelBound,
                subject,
                CheckStatus::Fail,
                format!("the channels could not be listed: {e}"),
                json!({"error": e.to_string()}),
                Some("check the host's admin API and try again".into()),
            ),
        },
    }
}

/// (c): fills the key's group and owner from the host. Returns true when bound.
fn key_check(
    adapter: &dyn HostAdapter,
    inv: &Inventory,
    key: &mut ProbeKey,
    out: &mut Vec<DoctorCheck>,
    fixes: &mut Vec<DoctorFix>,
) -> bool {
    let fp = key.fingerprint();
    let label = format!("key {}", key.mask());
    let source = key.source.as_str();
    let found = match key.group_id {
        // The managed key's group is known: look in that group only.
        Some(g) => match adapter.list_group_keys(g) {
            Ok(keys) => Ok(keys
                .into_iter()
                .find(|k| Fingerprint::of(k.key.expose()) == fp)
                .map(|k| (g, k))),
            Err(e) => Err(vec![format!("listing the keys of group {g}: {e}")]),
        },
        None => {
            let (found, errors) = locate_key(adapter, inv, &key.key);
            if found.is_none() && !errors.is_empty() {
                Err(errors)
            } else {
                Ok(found)
            }
        }
    };
    let groups: Vec<ObjectId> = inv.present_groups().map(|(_, g)| g.id).collect();
    // A managed key that is not in its group may have been moved by hand: find it
    // among its owner's keys, to bind it back (same key value).
    let moved = match (&found, key.source, key.group_id, key.owner_user_id) {
        (Ok(None), ProbeKeySource::ManagedSubscription, Some(g), Some(owner)) => adapter
            .list_user_keys_admin(owner)
            .ok()
            .and_then(|keys| {
                keys.into_iter()
                    .find(|k| Fingerprint::of(k.key.expose()) == fp)
            })
            .map(|k| (g, k)),
        _ => None,
    };
    if let Some((g, k)) = &moved {
        fixes.push(DoctorFix::RebindKey {
            key_id: k.id,
            key_mask: key.mask(),
            from: k.group_id,
            group_id: *g,
        });
    }
    let (status, summary, evidence, fix, ok) = match found {
        Err(errors) => (
            CheckStatus::Fail,
            format!("the group's keys could not be read: {}", errors.join("; ")),
            json!({"key_mask": key.mask(), "source": source, "errors": errors}),
            Some("check the host's admin API and try again".to_string()),
            false,
        ),
        Ok(None) => (
            CheckStatus::Fail,
            match (key.group_id, &moved) {
                (Some(g), Some((_, k))) => format!(
                    "{label} (key {}) is bound to {} instead of group {g}",
                    k.id,
                    k.group_id
                        .map_or("no group".to_string(), |o| format!("group {o}"))
                ),
                (Some(g), None) => format!("{label} is not bound to group {g}"),
                (None, _) => {
                    format!("{label} is not bound to any managed group ({})", join(&groups))
                }
            },
            json!({"key_mask": key.mask(), "key_fingerprint": fp, "source": source, "groups": groups,
                   "key_id": moved.as_ref().map(|(_, k)| k.id), "bound_to": moved.as_ref().map(|(_, k)| k.group_id)}),
            Some(match (key.source, key.group_id) {
                (ProbeKeySource::ManagedSubscription, Some(g)) if moved.is_some() => format!(
                    "bind the key to group {g} again on the host, {REPAIR_HINT}"
                ),
                (ProbeKeySource::ManagedSubscription, Some(g)) => format!("the probe subscriber's key was deleted or moved out of group {g}: run `relay access assign-subscriptions` to create it again"),
                _ => format!("bind the key to the provider's group ({}) on the host, or pass a key of that group", join(&groups)),
            }),
            false,
        ),
        Ok(Some((g, k))) => {
            key.group_id = Some(g);
            key.owner_user_id = Some(k.user_id);
            let evidence = json!({
                "key_mask": key.mask(), "key_fingerprint": fp, "source": source,
                "subscriber": key.email, "key_id": k.id, "owner_user_id": k.user_id, "group_id": g, "status": k.status,
            });
            if k.status.is_active() {
                (
                    CheckStatus::Ok,
                    format!("{label} (key {}, user {}) is bound to group {g}", k.id, k.user_id),
                    evidence,
                    None,
                    true,
                )
            } else {
                (
                    CheckStatus::Fail,
                    format!("{label} is bound to group {g} but {} on the host", k.status),
                    evidence,
                    Some(format!("enable key {} on the host", k.id)),
                    false,
                )
            }
        }
    };
    let subject = key
        .group_id
        .map(|g| format!("group {g}"))
        .unwrap_or_else(|| label.clone());
    out.push(check(
        CheckName::ProbeKeyBound,
        subject,
        status,
        summary,
        evidence,
        fix,
    ));
    ok
}

fn subscription_check(
    adapter: &dyn HostAdapter,
    gid: ObjectId,
    user: ObjectId,
    fixes: &mut Vec<DoctorFix>,
) -> DoctorCheck {
    let subject = format!("group {gid}");
    let subs = match adapter.list_subscriptions(&SubscriptionFilter {
        user_id: Some(user),
        group_id: Some(gid),
    }) {
        Ok(s) => s,
        Err(e) => {
            return check(
                CheckName::SubscriptionActive,
                subject,
                CheckStatus::Fail,
                format!("the subscriptions of user {user} could not be listed: {e}"),
                json!({"user_id": user, "group_id": gid, "error": e.to_string()}),
                Some("check the host's admin API and try again".into()),
            )
        }
    };
    let best = subs
        .iter()
        .filter(|s| s.user_id == user && s.group_id == gid)
        .max_by_key(|s| (s.status.is_active(), s.id));
    let now = now_unix();
    match best {
        None => {
            fixes.push(DoctorFix::Reassign {
                user_id: user,
                group_id: gid,
            });
            check(
                CheckName::SubscriptionActive,
                subject,
                CheckStatus::Fail,
                format!("user {user} (the probe key's owner) has no subscription to group {gid}: the gateway answers 403 SUBSCRIPTION_NOT_FOUND"),
                json!({"user_id": user, "group_id": gid, "subscriptions": []}),
                Some(format!("assign user {user} a subscription to group {gid} again: `relay access assign-subscriptions`, {REPAIR_HINT}")),
            )
        }
        Some(s) => {
            let expires = s.expires_at.as_ref().and_then(HostTime::unix_seconds);
            let evidence = json!({
                "user_id": user, "group_id": gid, "subscription_id": s.id,
                "status": s.status, "expires_at": s.expires_at, "now_unix": now,
            });
            let expired = expires.is_some_and(|t| t <= now);
            if s.status.is_active() && !expired {
                check(
                    CheckName::SubscriptionActive,
                    subject,
                    CheckStatus::Ok,
                    format!(
                        "subscription {} of user {user} to group {gid} is active until {}",
                        s.id,
                        s.expires_at.as_deref().unwrap_or("(no expiry)")
                    ),
                    evidence,
                    None,
                )
            } else {
                fixes.push(DoctorFix::Reassign {
                    user_id: user,
                    group_id: gid,
                });
                let state = if expired {
                    "expired"
                } else {
                    s.status.as_str()
                };
                check(
                    CheckName::SubscriptionActive,
                    subject,
                    CheckStatus::Fail,
                    format!(
                        "subscription {} of user {user} to group {gid} is {state} (expires_at {})",
                        s.id,
                        s.expires_at.as_deref().unwrap_or("-")
                    ),
                    evidence,
                    Some(if expired || s.status == ObjectStatus::Expired {
                        format!(
                            "subscription {} expired: assigning it again renews it on the host (a new term from now): `relay access assign-subscriptions`, {REPAIR_HINT}",
                            s.id
                        )
                    } else {
                        format!(
                            "renew or extend subscription {} on the host, {REPAIR_HINT}",
                            s.id
                        )
                    }),
                )
            }
        }
    }
}

fn completion_check(proof: &AccessProof, subject: &str, smoke: &str) -> DoctorCheck {
    let evidence = json!(proof);
    if proof.is_ready() {
        return check(
            CheckName::CompletionWorks,
            subject,
            CheckStatus::Ok,
            format!(
                "key {} listed {smoke} and completed a chat (HTTP {})",
                proof.key_mask,
                proof.completion_status.unwrap_or(200)
            ),
            evidence,
            None,
        );
    }
    let code = proof.completion_type.as_deref().unwrap_or("");
    let message = proof.message.as_deref().unwrap_or("");
    let status = proof.completion_status;
    let out_of_service: Vec<String> = proof
        .accounts_out_of_service
        .iter()
        .map(|a| {
            format!(
                "account {} ({}) is out of service ({}): {}",
                a.account_id,
                a.account_name,
                a.reason.label(),
                a.fix
            )
        })
        .collect();
    let failure = proof.completion_failure;
    let fix = if !out_of_service.is_empty() {
        out_of_service.join("; ")
    } else if failure == Some(CompletionFailure::SubscriptionMissing)
        || code.starts_with("SUBSCRIPTION_")
        || message.contains("subscription")
    {
        format!("the probe key's owner has no active subscription (none, expired or suspended): see subscription_active; assigning it again renews an expired one, {REPAIR_HINT}")
    } else if failure == Some(CompletionFailure::ModelNotSupported) {
        format!("no account of the group maps {smoke} (404 model_not_found): the accounts must carry it in credentials.model_mapping; re-import or reconcile the provider")
    } else if status == Some(503) {
        format!("no schedulable account serves {smoke} in the group: see schedulable_account (accounts bound, active, carrying {smoke} in credentials.model_mapping)")
    } else if status == Some(502) {
        "every account failed upstream: check the keys with `relay diagnose` (and let the capability repair run: `relay doctor --repair`)".to_string()
    } else if status == Some(401) {
        "the host does not know the probe key: see probe_key_bound".to_string()
    } else if status == Some(403) {
        "the host refused the probe key: see probe_key_bound and subscription_active".to_string()
    } else if proof.completion_ok && !proof.smoke_model_seen {
        format!(
            "the model list lacks {smoke} (after waiting out the host's models cache): the accounts must carry it in credentials.model_mapping"
        )
    } else {
        "see the host's message in the evidence".to_string()
    };
    check(
        CheckName::CompletionWorks,
        subject,
        CheckStatus::Fail,
        format!(
            "the completion through the gateway failed: models HTTP {}, chat HTTP {} {}{}",
            proof
                .models_status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            status.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            code,
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        ),
        evidence,
        Some(fix),
    )
}

fn join(ids: &[ObjectId]) -> String {
    ids.iter()
        .map(ObjectId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The accounts of `ids` as the inventory read them (unknown ids are left out).
fn accounts_in(inv: Option<&Inventory>, ids: &[ObjectId]) -> Vec<relay_sub2api::Account> {
    ids.iter()
        .filter_map(|id| inv.and_then(|inv| inv.host_accounts.get(id)).cloned())
        .collect()
}

/// The repair record of a `ClearError` (`temp: false`) or `ClearTemp` fix from the
/// recovery outcomes of this run.
fn recovery_repair(
    temp: bool,
    account_id: ObjectId,
    name: &str,
    outcomes: &[AccountRecovery],
) -> Repair {
    let (kind, what) = if temp {
        (
            RepairKind::TempUnschedulableCleared,
            "temporary-unschedulable state",
        )
    } else {
        (RepairKind::AccountErrorCleared, "error state")
    };
    let (ok, error, detail) = match outcomes.iter().find(|o| o.account_id == account_id) {
        Some(o) => {
            let via: Vec<&str> = o.routes.iter().map(|r| r.as_str()).collect();
            (
                o.ok,
                o.error.clone(),
                format!(
                    "{what} of account {account_id} ({name}) cleared ({})",
                    via.join(" + ")
                ),
            )
        }
        None => (
            false,
            Some("the account was not read from the host in this run".to_string()),
            format!("{what} of account {account_id} ({name}) cleared"),
        ),
    };
    Repair {
        kind,
        resource_type: ResourceType::Account,
        host_id: account_id,
        name: name.to_string(),
        detail,
        ok,
        error,
        capability: None,
    }
}

/// Applies every `ClearError` and `ClearTemp` fix together with as few host calls
/// as the build allows ([`recover_accounts`]: one batch clear of the accounts in
/// error, the one-call state recovery per account, or the old clear-error +
/// temporary-unschedulable calls), and reports one repair per fix.
fn recover(adapter: &dyn HostAdapter, inv: Option<&Inventory>, fixes: &[DoctorFix]) -> Vec<Repair> {
    let mut ids: Vec<ObjectId> = Vec::new();
    for fix in fixes {
        if let DoctorFix::ClearError { account_id, .. } | DoctorFix::ClearTemp { account_id, .. } =
            fix
        {
            if !ids.contains(account_id) {
                ids.push(*account_id);
            }
        }
    }
    let outcomes = recover_accounts(adapter, &accounts_in(inv, &ids));
    fixes
        .iter()
        .filter_map(|fix| match fix {
            DoctorFix::ClearError { account_id, name } => {
                Some(recovery_repair(false, *account_id, name, &outcomes))
            }
            DoctorFix::ClearTemp { account_id, name } => {
                Some(recovery_repair(true, *account_id, name, &outcomes))
            }
            _ => None,
        })
        .collect()
}

fn apply(
    ports: &Ports<'_>,
    target: &ProviderTarget,
    inv: Option<&Inventory>,
    fix: &DoctorFix,
) -> Result<Repair, ReconcileError> {
    let adapter = ports.adapter;
    Ok(match fix {
        DoctorFix::RebindAccount {
            account_id,
            name,
            group_id,
        } => rebind_account(adapter, *account_id, name, *group_id),
        DoctorFix::ClearError { account_id, name } => {
            let outcomes = recover_accounts(adapter, &accounts_in(inv, &[*account_id]));
            recovery_repair(false, *account_id, name, &outcomes)
        }
        DoctorFix::ClearTemp { account_id, name } => {
            let outcomes = recover_accounts(adapter, &accounts_in(inv, &[*account_id]));
            recovery_repair(true, *account_id, name, &outcomes)
        }
        DoctorFix::RebindChannel {
            channel_id,
            name,
            group_id,
        } => {
            let result = adapter.get_channel(*channel_id).and_then(|c| {
                let mut groups = c.group_ids.clone();
                if !groups.contains(group_id) {
                    groups.push(*group_id);
                }
                adapter.update_channel(
                    *channel_id,
                    &ChannelUpdate {
                        group_ids: Some(groups),
                        ..ChannelUpdate::default()
                    },
                )
            });
            let (ok, error) = match result {
                Ok(c) if c.group_ids.contains(group_id) => (true, None),
                Ok(c) => (
                    false,
                    Some(format!("the host kept group_ids {:?}", c.group_ids)),
                ),
                Err(e) => (false, Some(e.to_string())),
            };
            Repair {
                kind: RepairKind::ChannelRebound,
                resource_type: ResourceType::Channel,
                host_id: *channel_id,
                name: name.clone(),
                detail: format!("channel {channel_id} ({name}) bound to group {group_id} again"),
                ok,
                error,
                capability: None,
            }
        }
        DoctorFix::Reassign { user_id, group_id } => {
            reassign(ports, target, inv, *user_id, *group_id)?
        }
        DoctorFix::RebindKey {
            key_id,
            key_mask,
            from,
            group_id,
        } => {
            let (ok, error) = match adapter.rebind_user_key(*key_id, *group_id) {
                Ok(k) if k.group_id == Some(*group_id) => (true, None),
                Ok(k) => (
                    false,
                    Some(format!("the host kept the key in {:?}", k.group_id)),
                ),
                Err(e) => (false, Some(e.to_string())),
            };
            Repair {
                kind: RepairKind::ProbeKeyRebound,
                resource_type: ResourceType::UserKey,
                host_id: *key_id,
                name: key_mask.clone(),
                detail: format!(
                    "probe key {key_id} ({key_mask}) bound to group {group_id} again (it was in {})",
                    from.map_or("no group".to_string(), |g| format!("group {g}"))
                ),
                ok,
                error,
                capability: None,
            }
        }
    })
}

/// Assigns the subscription again (journaled as an intent first), and marks the
/// recorded subscriptions of (user, group) that are gone from the host deleted.
fn reassign(
    ports: &Ports<'_>,
    target: &ProviderTarget,
    inv: Option<&Inventory>,
    user_id: ObjectId,
    group_id: ObjectId,
) -> Result<Repair, ReconcileError> {
    let journal = ports.journal;
    let validity = target.plan_validity_days().max(1);
    let notes = target.notes();
    let logical = subscription_logical_key(user_id, group_id);
    let intent = journal.record_intent(&NewEntry::new(
        ResourceType::Subscription,
        logical.clone(),
        json!({"user_id": user_id, "group_id": group_id, "validity_days": validity, "notes": notes}),
    ))?;
    let assigned = ports.adapter.assign_subscription(&SubscriptionAssignment {
        user_id,
        group_id,
        validity_days: Some(validity),
        notes: Some(notes),
    });
    let mut repair = Repair {
        kind: RepairKind::SubscriptionReassigned,
        resource_type: ResourceType::Subscription,
        host_id: 0,
        name: logical,
        detail: format!(
            "subscription of user {user_id} to group {group_id} assigned again ({validity} days)"
        ),
        ok: false,
        error: None,
        capability: None,
    };
    match assigned {
        Ok(AssignOutcome::Assigned(sub)) => {
            repair.host_id = sub.id;
            match journal.attach_host_id(intent.id, sub.id, ResourceState::Created) {
                Ok(_) => {}
                // The host handed back a subscription the journal already records.
                Err(JournalError::AlreadyRecorded { .. }) => {
                    journal.set_state(intent.id, ResourceState::Absent)?;
                }
                Err(e) => return Err(e.into()),
            }
            repair.ok = sub.status.is_active();
            if !repair.ok {
                repair.error = Some(format!(
                    "the host answered with a {} subscription",
                    sub.status
                ));
            }
            if let Some(inv) = inv {
                for s in inv.subscriptions.iter().filter(|s| {
                    !s.present()
                        && s.id() != sub.id
                        && s.entry.detail_i64("user_id") == Some(user_id)
                        && s.entry.detail_i64("group_id") == Some(group_id)
                }) {
                    journal.set_state(s.entry.id, ResourceState::Deleted)?;
                }
            }
        }
        Ok(AssignOutcome::Conflict { reason, message }) => {
            journal.set_state(intent.id, ResourceState::Absent)?;
            repair.error = Some(format!(
                "the host kept the existing subscription ({reason}: {message}); extend it on the host"
            ));
        }
        Err(e) => {
            journal.set_state(intent.id, ResourceState::Absent)?;
            repair.error = Some(e.to_string());
        }
    }
    Ok(repair)
}
