//! Recovery of an account's runtime state (error, rate limit, overload,
//! temporary-unschedulable) with the fewest host calls the build offers.

use relay_sub2api::{Account, HostAdapter, HostError, ObjectId};
use serde::Serialize;

/// Which host operation recovered an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryRoute {
    /// The host's one-call recovery of every runtime state of the account.
    RecoverState,
    /// The host's batch clear of the error state of several accounts.
    BatchClearError,
    /// Builds without either: clear the error, then the temporary-unschedulable state.
    ClearErrorThenTemp,
}

impl RecoveryRoute {
    /// Stable name (`recover_state`, `batch_clear_error`, `clear_error_then_temp`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryRoute::RecoverState => "recover_state",
            RecoveryRoute::BatchClearError => "batch_clear_error",
            RecoveryRoute::ClearErrorThenTemp => "clear_error_then_temp",
        }
    }
}

/// What recovering one account did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRecovery {
    /// Host account id.
    pub account_id: ObjectId,
    /// The account was in `error` and no longer is.
    pub cleared_error: bool,
    /// Its temporary-unschedulable state was cleared (false on builds that have no
    /// such state, and when nothing could be cleared).
    pub cleared_temp_unschedulable: bool,
    /// The operations used, in order.
    pub routes: Vec<RecoveryRoute>,
    /// The account is usable as far as its state goes (not `error`, not benched).
    pub ok: bool,
    /// The host's error, when a call failed or the account stayed unusable.
    pub error: Option<String>,
}

fn unusable(a: &Account) -> Option<String> {
    if a.status != "error" && !a.schedulable {
        return Some("the account is out of scheduling on the host".to_string());
    }
    if a.status == "error" {
        Some(format!(
            "the account is still in error ({})",
            a.error_message.as_deref().unwrap_or("no message")
        ))
    } else {
        a.temp_unschedulable_until
            .as_ref()
            .map(|until| format!("the account is still temporarily unschedulable until {until}"))
    }
}

/// Puts an account the host took out of scheduling when it put it into `error` back
/// into scheduling: the host's recoveries (recover-state, batch clear-error) leave
/// `schedulable: false` behind (verified on 0.1.179). An account that was not in
/// error keeps its scheduling switch as the operator left it.
fn reschedule(
    adapter: &dyn HostAdapter,
    after: Account,
    was_error: bool,
) -> Result<Account, HostError> {
    if was_error && after.status != "error" && !after.schedulable {
        return adapter.set_account_schedulable(after.id, true);
    }
    Ok(after)
}

/// Recovers one account: the host's one-call recovery (error, rate limit, overload,
/// temporary-unschedulable); on builds without it, clears the error (when the
/// account is in error) and then the temporary-unschedulable state. Host failures
/// are in the result (`ok: false`), not raised.
pub fn recover_account(adapter: &dyn HostAdapter, account: &Account) -> AccountRecovery {
    let mut out = AccountRecovery {
        account_id: account.id,
        cleared_error: false,
        cleared_temp_unschedulable: false,
        routes: Vec::new(),
        ok: true,
        error: None,
    };
    let was_error = account.status == "error";
    match adapter
        .recover_account_state(account.id)
        .and_then(|after| reschedule(adapter, after, was_error))
    {
        Ok(after) => {
            out.routes.push(RecoveryRoute::RecoverState);
            out.cleared_error = was_error && after.status != "error";
            out.cleared_temp_unschedulable = after.temp_unschedulable_until.is_none();
            if let Some(why) = unusable(&after) {
                out.ok = false;
                out.error = Some(why);
            }
            return out;
        }
        Err(HostError::UnsupportedRoute { .. }) => {}
        Err(e) => {
            out.routes.push(RecoveryRoute::RecoverState);
            out.ok = false;
            out.error = Some(e.to_string());
            return out;
        }
    }
    out.routes.push(RecoveryRoute::ClearErrorThenTemp);
    if was_error {
        match adapter.clear_account_error(account.id) {
            Ok(after) if after.status != "error" => out.cleared_error = true,
            Ok(after) => {
                out.ok = false;
                out.error = unusable(&after);
            }
            Err(e) => {
                out.ok = false;
                out.error = Some(e.to_string());
            }
        }
    }
    match adapter.clear_account_temp_unschedulable(account.id) {
        Ok(cleared) => out.cleared_temp_unschedulable = cleared,
        Err(e) if e.is_not_found() => {}
        Err(e) => {
            out.ok = false;
            out.error.get_or_insert_with(|| e.to_string());
        }
    }
    out
}

/// Recovers several accounts with as few calls as the host allows: when two or more
/// are in `error`, one batch clear of their error state first (skipped on builds
/// without it); then the one-call recovery (or its fallback, see
/// [`recover_account`]) of every other account, and of those the batch cleared that
/// also have a temporary-unschedulable or rate-limit state. The result has one entry
/// per account, in the given order; the caller checks the host again afterwards.
pub fn recover_accounts(adapter: &dyn HostAdapter, accounts: &[Account]) -> Vec<AccountRecovery> {
    let in_error: Vec<ObjectId> = accounts
        .iter()
        .filter(|a| a.status == "error")
        .map(|a| a.id)
        .collect();
    let mut batch_cleared: Vec<ObjectId> = Vec::new();
    if in_error.len() >= 2 {
        if let Ok(result) = adapter.clear_account_errors(&in_error) {
            batch_cleared = in_error
                .iter()
                .copied()
                .filter(|id| !result.failed.iter().any(|(f, _)| f == id))
                .collect();
        }
    }
    accounts
        .iter()
        .map(|a| {
            if !batch_cleared.contains(&a.id) {
                return recover_account(adapter, a);
            }
            let benched = a.temp_unschedulable_until.is_some() || a.rate_limit_reset_at.is_some();
            if !benched {
                // The host cleared the error (status `active`, no message) but left
                // the account out of scheduling.
                let back = adapter.set_account_schedulable(a.id, true);
                return AccountRecovery {
                    account_id: a.id,
                    cleared_error: true,
                    cleared_temp_unschedulable: false,
                    routes: vec![RecoveryRoute::BatchClearError],
                    ok: back.is_ok(),
                    error: back.err().map(|e| e.to_string()),
                };
            }
            let mut r = recover_account(adapter, a);
            r.routes.insert(0, RecoveryRoute::BatchClearError);
            r
        })
        .collect()
}
