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
            match relay_upstream::read_balance(
                route,
                &provider.base_url,
                key,
                &ProfileLimits::default(),
            ) {
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
