//! Putting managed accounts back into service, in one place:
//!
//! * the **capability repair** of SPEC §7.3: an OpenAI account the host routes over
//!   the Responses API although the vendor only speaks Chat Completions is forced
//!   back to Chat Completions ([`repair_account`]); the gateway probe runs it once
//!   per [`RepairScope`] after an upstream failure ([`repair_accounts`]), reconcile
//!   when a recorded account's flag flipped ([`capability_flipped`],
//!   [`repair_recorded_account`]); every repair is appended to the account's journal
//!   details (`capability_repairs`);
//! * the **recovery** of an account's runtime state (error, rate limit, overload,
//!   temporary-unschedulable) with the fewest host calls the build offers
//!   ([`recover_account`], [`recover_accounts`]).

use std::sync::atomic::{AtomicBool, Ordering};

use relay_domain::ResourceType;
use relay_sub2api::{
    Account, AccountUpdate, HostAdapter, HostError, ObjectId, Platform as HostPlatform,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::AccessError;
use crate::journal::{append_detail, Journal, JournalEntry, JournalError};
use crate::target::ProviderTarget;

/// One account repaired by the capability repair (SPEC §7.3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilityRepair {
    /// Host account id.
    pub account_id: ObjectId,
    /// Account name.
    pub account_name: String,
    /// `extra.openai_responses_mode` before the repair.
    pub previous_mode: Option<String>,
    /// `extra.openai_responses_supported` before the repair.
    pub previous_supported: Option<bool>,
    /// The account's error state was cleared (and the account put back into
    /// scheduling, which the host's clear-error alone does not do).
    pub cleared_error: bool,
    /// The temporary-unschedulable state was cleared (false on builds without it).
    pub cleared_temp_unschedulable: bool,
    /// Every repair call succeeded.
    pub ok: bool,
    /// The host's error, when a call failed.
    pub error: Option<String>,
}

/// Where the capability repair may act: the managed accounts (journal entries of
/// the provider in state `created`/`adopted`) bound to one group. The repair runs
/// at most once per scope, whatever the number of probes sharing it.
pub struct RepairScope<'a> {
    /// The provider's group.
    pub group_id: ObjectId,
    /// The provider's journal (to find managed accounts and record the repair).
    pub journal: &'a dyn Journal,
    used: AtomicBool,
}

impl<'a> RepairScope<'a> {
    /// A fresh scope (repair not used yet).
    pub fn new(group_id: ObjectId, journal: &'a dyn Journal) -> Self {
        RepairScope {
            group_id,
            journal,
            used: AtomicBool::new(false),
        }
    }

    /// True once the repair ran.
    pub fn used(&self) -> bool {
        self.used.load(Ordering::SeqCst)
    }

    /// Claims the scope's one repair: true the first time only.
    pub(crate) fn claim(&self) -> bool {
        !self.used.swap(true, Ordering::SeqCst)
    }
}

impl std::fmt::Debug for RepairScope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepairScope")
            .field("group_id", &self.group_id)
            .field("used", &self.used())
            .finish_non_exhaustive()
    }
}

/// Applies the capability repair (SPEC §7.3) to every managed OpenAI account bound
/// to the scope's group that the host routes over the Responses API (its rule: see
/// [`relay_sub2api::Account::takes_responses_path`]; no marker counts): sends the
/// account's whole `extra` with `openai_responses_mode = force_chat_completions`
/// and `openai_responses_supported = false`, clears its error (back into
/// scheduling) and temporary-unschedulable state, and records the repair in the
/// account's journal details (`capability_repairs`). Accounts already on Chat
/// Completions are left alone, whatever their state. Host failures are reported
/// per account.
pub fn repair_accounts(
    adapter: &dyn HostAdapter,
    scope: &RepairScope<'_>,
) -> Result<Vec<CapabilityRepair>, AccessError> {
    let entries = scope.journal.list_provider()?;
    let mut out = Vec::new();
    for entry in entries
        .iter()
        .filter(|e| e.resource_type == ResourceType::Account && e.is_owned_live())
    {
        let Some(id) = entry.host_resource_id else {
            continue;
        };
        let account = match adapter.get_account(id) {
            Ok(a) => a,
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                out.push(CapabilityRepair {
                    account_id: id,
                    account_name: entry.logical_key.clone(),
                    previous_mode: None,
                    previous_supported: None,
                    cleared_error: false,
                    cleared_temp_unschedulable: false,
                    ok: false,
                    error: Some(e.to_string()),
                });
                continue;
            }
        };
        if account.platform != HostPlatform::Openai || !account.group_ids.contains(&scope.group_id)
        {
            continue;
        }
        // Only a capability problem is repaired: an account already on Chat
        // Completions that is in `error` (quota, key) or benched is left as it is.
        if !account.takes_responses_path() {
            continue;
        }
        let repair = repair_account(adapter, &account);
        let mut details = entry.details.clone();
        if !details.is_object() {
            details = json!({});
        }
        let list = details
            .as_object_mut()
            .map(|o| {
                o.entry("capability_repairs")
                    .or_insert_with(|| Value::Array(Vec::new()))
            })
            .and_then(Value::as_array_mut);
        if let Some(list) = list {
            list.push(serde_json::to_value(&repair).unwrap_or(Value::Null));
        }
        scope.journal.set_details(entry.id, &details)?;
        out.push(repair);
    }
    Ok(out)
}

/// The capability repair of one account (SPEC §7.3): sends the account's whole
/// `extra` with `openai_responses_mode = force_chat_completions` and
/// `openai_responses_supported = false` (some builds replace `extra`), then recovers
/// its runtime state in one call where the host can (error, rate limit, overload,
/// temporary-unschedulable; see [`recover_account`]). Host failures are
/// recorded in the returned [`CapabilityRepair`] (`ok: false`), not raised.
pub fn repair_account(
    adapter: &dyn HostAdapter,
    account: &relay_sub2api::Account,
) -> CapabilityRepair {
    let id = account.id;
    let before = account.responses_route();
    let mut repair = CapabilityRepair {
        account_id: id,
        account_name: account.name.clone(),
        previous_mode: before.mode.map(String::from),
        previous_supported: before.supported,
        cleared_error: false,
        cleared_temp_unschedulable: false,
        ok: true,
        error: None,
    };
    let fail = |r: &mut CapabilityRepair, e: HostError| {
        r.ok = false;
        r.error.get_or_insert_with(|| e.to_string());
    };
    if let Err(e) = adapter.update_account(id, &AccountUpdate::force_chat_completions(account)) {
        fail(&mut repair, e);
    }
    let recovery = recover_account(adapter, account);
    repair.cleared_error = recovery.cleared_error;
    repair.cleared_temp_unschedulable = recovery.cleared_temp_unschedulable;
    if !recovery.ok {
        repair.ok = false;
        if let Some(e) = recovery.error {
            repair.error.get_or_insert(e);
        }
    }
    repair
}

/// True when a recorded managed account must be forced back to Chat Completions: it
/// is an OpenAI account on the Responses path although the provider is chat-only,
/// or although the manager already repaired it once (the flag flipped back).
pub fn capability_flipped(
    target: &ProviderTarget,
    entry: &JournalEntry,
    account: &Account,
) -> bool {
    let repaired_before = entry
        .details
        .get("capability_repairs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    account.is_openai_on_responses_path() && (target.chat_only() || repaired_before)
}

/// The capability repair of one recorded account (same effect and journal record
/// as [`repair_accounts`]): [`repair_account`], then the repair appended to the
/// entry's `capability_repairs` (re-reading the entry, so earlier appends of the
/// same run are kept).
pub fn repair_recorded_account(
    adapter: &dyn HostAdapter,
    journal: &dyn Journal,
    entry: &JournalEntry,
    account: &Account,
) -> Result<CapabilityRepair, JournalError> {
    let repair = repair_account(adapter, account);
    append_detail(journal, entry, "capability_repairs", json!(repair))?;
    Ok(repair)
}

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
    if !a.status.is_error() && !a.schedulable {
        return Some("the account is out of scheduling on the host".to_string());
    }
    if a.status.is_error() {
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
    if was_error && !after.status.is_error() && !after.schedulable {
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
    let was_error = account.status.is_error();
    match adapter
        .recover_account_state(account.id)
        .and_then(|after| reschedule(adapter, after, was_error))
    {
        Ok(after) => {
            out.routes.push(RecoveryRoute::RecoverState);
            out.cleared_error = was_error && !after.status.is_error();
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
            Ok(after) if !after.status.is_error() => out.cleared_error = true,
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
        .filter(|a| a.status.is_error())
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
