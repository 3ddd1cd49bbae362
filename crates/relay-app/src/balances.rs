//! Balance pre-flight: before an import that names a threshold, every key whose
//! vendor has a balance route (DeepSeek, Moonshot/Kimi) is read with the vendor's own
//! route (`relay_upstream::read_balance`, one bounded `GET` per key, the key never
//! stored); a key under the threshold refuses the import (nothing is created on the
//! host) or is listed with a warning, per the request's policy. Vendors without a
//! route, and reads that fail, are `unknown`: never a failure.

use relay_domain::{
    mask, Balance, BalanceCheck, BalanceCheckStatus, BalancePolicy, BalanceThreshold, Fingerprint,
    Redactor, Secret,
};
use relay_pack::ProviderManifest;
use relay_upstream::{BalanceRoute, ProfileLimits};

use crate::error::AppError;
use crate::metrics::Metrics;

/// The balance route of a pack provider's vendor, if it has one.
pub(crate) fn route_of(provider: &ProviderManifest) -> Option<BalanceRoute> {
    BalanceRoute::for_vendor(relay_pack::matching::vendor_of(&provider.provider_id))
}

/// Reads the balance of each key (the vendor's own route) and compares it with the
/// threshold. Returns the checks and the vendor calls made.
pub(crate) fn preflight(
    provider: &ProviderManifest,
    keys: &[(Fingerprint, &Secret)],
    threshold: &BalanceThreshold,
    calls_made: &Metrics,
) -> (Vec<BalanceCheck>, u32) {
    let route = route_of(provider);
    let mut calls = 0;
    let checks = keys
        .iter()
        .map(|(fingerprint, key)| {
            let mut check = BalanceCheck {
                mask: mask(key.expose()),
                fingerprint: fingerprint.to_string(),
                account_id: None,
                status: BalanceCheckStatus::Unknown,
                balance: None,
                note: None,
            };
            let Some(route) = route else {
                check.note = Some(format!(
                    "{} has no balance route: balance unknown",
                    provider.display_name
                ));
                return check;
            };
            calls += 1;
            let started = std::time::Instant::now();
            let read = relay_upstream::read_balance(
                route,
                &provider.base_url,
                key,
                &ProfileLimits::default(),
            );
            let outcome = if read.is_ok() { "ok" } else { "vendor_error" };
            calls_made.observe_host_call("vendor_balance", outcome, started.elapsed());
            match read {
                Ok(balance) => judge(&mut check, balance, Some(threshold)),
                Err(failure) => {
                    check.note = Some(format!(
                        "the balance could not be read: {}",
                        Redactor::new().with(key).redact(&failure.to_string())
                    ))
                }
            }
            check
        })
        .collect();
    (checks, calls)
}

/// Sets `check`'s balance, status and note from `balance` against `threshold`.
pub(crate) fn judge(
    check: &mut BalanceCheck,
    balance: Balance,
    threshold: Option<&BalanceThreshold>,
) {
    check.status = BalanceCheck::status_of(&balance, threshold);
    check.note = match (check.status, threshold) {
        (BalanceCheckStatus::Below, Some(t)) => Some(format!(
            "balance {} is under the threshold {}",
            balance.describe(),
            t.describe()
        )),
        _ => None,
    };
    check.balance = Some(balance);
}

/// The refusal of an import whose keys are under a `refuse` threshold; `None` when
/// none is (or the policy is `warn`).
pub(crate) fn refusal(checks: &[BalanceCheck], threshold: &BalanceThreshold) -> Option<AppError> {
    if threshold.policy != BalancePolicy::Refuse {
        return None;
    }
    let below: Vec<String> = checks
        .iter()
        .filter(|c| c.status == BalanceCheckStatus::Below)
        .map(|c| {
            format!(
                "key {}: {}",
                c.mask,
                c.note.as_deref().unwrap_or("under the threshold")
            )
        })
        .collect();
    (!below.is_empty()).then(|| AppError::Conflict {
        code: "balance_below_threshold",
        message: format!(
            "the import is refused by its balance threshold (policy refuse); nothing was \
             created on the host: {}",
            below.join("; ")
        ),
    })
}

/// One managed account whose balance the host may read.
pub(crate) struct ManagedAccount {
    /// Host id of the account.
    pub id: i64,
    /// Its key's fingerprint.
    pub fingerprint: String,
    /// Its key's mask.
    pub mask: String,
}

/// Managed accounts whose balance a reconcile reads at most.
pub(crate) const HOST_BALANCE_READS: usize = 20;

/// Reads the balance of managed accounts through the host's CN-provider balance
/// route (the host asks the vendor with the stored key), for a vendor with a balance
/// route only; at most [`HOST_BALANCE_READS`]. A host without the route gives no
/// checks; an account the host cannot read is `unknown`. An account in
/// `out_of_balance` (found out of service for its balance by this run) is not read:
/// the host's read would clear the host's own low-balance marker; it is reported
/// `below` with the finding as its note.
pub(crate) fn host_balances(
    provider: &ProviderManifest,
    adapter: &dyn relay_sub2api::HostAdapter,
    accounts: &[ManagedAccount],
    threshold: Option<&BalanceThreshold>,
    out_of_balance: &[(i64, relay_domain::OutOfServiceReason)],
    redactor: &Redactor,
) -> Vec<BalanceCheck> {
    if route_of(provider).is_none() {
        return Vec::new();
    }
    let mut checks = Vec::new();
    for account in accounts.iter().take(HOST_BALANCE_READS) {
        let mut check = BalanceCheck {
            mask: account.mask.clone(),
            fingerprint: account.fingerprint.clone(),
            account_id: Some(account.id),
            status: BalanceCheckStatus::Unknown,
            balance: None,
            note: None,
        };
        if let Some((_, reason)) = out_of_balance.iter().find(|(id, _)| *id == account.id) {
            check.status = BalanceCheckStatus::Below;
            check.note = Some(format!(
                "not read through the host: {} (a read would clear the host's low-balance marker)",
                reason.label()
            ));
            checks.push(check);
            continue;
        }
        match adapter.account_balance(account.id) {
            Ok(read) => match read.balance {
                Some(balance) => judge(&mut check, balance, threshold),
                None => {
                    check.note = Some(format!(
                        "the host read no balance: {}",
                        redactor.redact(read.error.as_deref().unwrap_or("no answer"))
                    ))
                }
            },
            Err(relay_sub2api::HostError::UnsupportedRoute { .. }) => return Vec::new(),
            Err(e) => {
                check.note = Some(format!(
                    "the host could not read the balance: {}",
                    redactor.redact(&e.to_string())
                ))
            }
        }
        checks.push(check);
    }
    checks
}
