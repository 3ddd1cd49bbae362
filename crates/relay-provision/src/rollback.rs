//! Rollback (SPEC §4.6): delete what a batch (or every batch of a provider)
//! created, in reverse dependency order — subscriptions, user keys, accounts,
//! channel, plan, group, then users.
//!
//! Only objects recorded in a live owned state (`created`, `adopted`) are deleted;
//! `reused` objects are never touched. Intents left by a crash are resolved first.
//! An object already gone from the host counts as deleted. An object still used by
//! live managed resources outside the rollback (another batch's accounts in the
//! group, a subscriber's other subscriptions or keys) is kept and reported.

use std::cmp::Reverse;
use std::collections::HashSet;

use relay_core::{delete_managed_user_key, Journal, JournalEntry, SubscriberVault};
use relay_domain::{BatchId, ResourceState, ResourceType};
use relay_sub2api::{HostAdapter, HostError, SubscriptionFilter};

use crate::error::ProvisionError;
use crate::lookup::resolve_intents;
use crate::report::{KeptResource, RemainingResource, RollbackReport, RolledBackResource};

/// Rolls back one batch: every object the journal records for it in state
/// `created` or `adopted` (intents resolved first).
pub fn rollback_batch(
    adapter: &dyn HostAdapter,
    journal: &dyn Journal,
    vault: &dyn SubscriberVault,
    batch_id: &BatchId,
) -> Result<RollbackReport, ProvisionError> {
    let entries = journal.list_batch(batch_id)?;
    rollback_entries(adapter, journal, vault, Some(batch_id.clone()), entries)
}

/// Rolls back every batch of the journal's provider on its host. Refuses with
/// [`ProvisionError::NothingRecorded`] when no live or pending object is recorded.
pub fn rollback_provider(
    adapter: &dyn HostAdapter,
    journal: &dyn Journal,
    vault: &dyn SubscriberVault,
) -> Result<RollbackReport, ProvisionError> {
    let entries = journal.list_provider()?;
    if !entries
        .iter()
        .any(|e| e.is_owned_live() || e.state == ResourceState::Intent)
    {
        return Err(ProvisionError::NothingRecorded {
            provider_id: journal.scope().provider_id.to_string(),
        });
    }
    rollback_entries(adapter, journal, vault, None, entries)
}

pub(crate) fn rollback_entries(
    adapter: &dyn HostAdapter,
    journal: &dyn Journal,
    vault: &dyn SubscriberVault,
    batch_id: Option<BatchId>,
    entries: Vec<JournalEntry>,
) -> Result<RollbackReport, ProvisionError> {
    let mut report = RollbackReport {
        batch_id,
        resolved_intents: resolve_intents(adapter, journal, &entries)?,
        deleted: Vec::new(),
        kept: Vec::new(),
        remaining: Vec::new(),
        complete: true,
    };
    let in_scope: HashSet<i64> = entries.iter().map(|e| e.id).collect();
    let all = journal.list_provider()?;
    let mut targets: Vec<JournalEntry> = all
        .iter()
        .filter(|e| in_scope.contains(&e.id) && e.is_owned_live())
        .cloned()
        .collect();
    targets.sort_by_key(|e| (e.resource_type.rollback_rank(), Reverse(e.id)));
    // Live resources outside this rollback that may depend on what it deletes.
    let others: Vec<&JournalEntry> = all
        .iter()
        .filter(|e| !in_scope.contains(&e.id) && e.is_live())
        .collect();

    for entry in targets {
        let Some(host_id) = entry.host_resource_id else {
            continue;
        };
        let name = entry.logical_key.clone();
        match still_used(adapter, &entry, &others) {
            Ok(Some(reason)) => {
                report.kept.push(KeptResource {
                    resource_type: entry.resource_type,
                    host_id,
                    name,
                    reason,
                });
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                report.remaining.push(RemainingResource {
                    resource_type: entry.resource_type,
                    host_id,
                    name,
                    error: e,
                });
                continue;
            }
        }
        match delete(adapter, vault, &entry) {
            Ok(existed) => {
                journal.set_state(entry.id, ResourceState::Deleted)?;
                report.deleted.push(RolledBackResource {
                    resource_type: entry.resource_type,
                    host_id,
                    name,
                    already_gone: !existed,
                });
            }
            Err(error) => report.remaining.push(RemainingResource {
                resource_type: entry.resource_type,
                host_id,
                name,
                error,
            }),
        }
    }
    report.complete = report.remaining.is_empty();
    Ok(report)
}

/// Why an object must stay, if it must.
fn still_used(
    adapter: &dyn HostAdapter,
    entry: &JournalEntry,
    others: &[&JournalEntry],
) -> Result<Option<String>, String> {
    let Some(id) = entry.host_resource_id else {
        return Ok(None);
    };
    let users_of = |key: &str, value: i64| -> Vec<String> {
        others
            .iter()
            .filter(|o| o.detail_i64(key) == Some(value))
            .map(|o| {
                format!(
                    "{} {} ({})",
                    o.resource_type,
                    o.logical_key,
                    o.batch_id.as_ref().map_or("no batch", |b| b.as_str())
                )
            })
            .collect()
    };
    match entry.resource_type {
        ResourceType::Group => {
            let users = users_of("group_id", id);
            Ok((!users.is_empty()).then(|| format!("still used by {}", users.join(", "))))
        }
        ResourceType::Channel | ResourceType::Plan => {
            let Some(group) = entry.detail_i64("group_id") else {
                return Ok(None);
            };
            let users = users_of("group_id", group);
            Ok((!users.is_empty())
                .then(|| format!("its group {group} is still used by {}", users.join(", "))))
        }
        ResourceType::User => {
            let users = users_of("user_id", id);
            if !users.is_empty() {
                return Ok(Some(format!("still used by {}", users.join(", "))));
            }
            let subs = adapter
                .list_subscriptions(&SubscriptionFilter {
                    user_id: Some(id),
                    group_id: None,
                })
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|s| s.user_id == id)
                .count();
            let keys = match adapter.list_user_keys_admin(id) {
                Ok(k) => k.len(),
                Err(e) if e.is_not_found() => 0,
                Err(e) => return Err(e.to_string()),
            };
            Ok((subs + keys > 0).then(|| {
                format!(
                    "the user still has {subs} subscription(s) and {keys} key(s) this rollback did not remove"
                )
            }))
        }
        _ => Ok(None),
    }
}

/// Deletes one object; `Ok(false)` when it was already gone.
///
/// Two host answers need a second look (sub2api 0.1.179): deleting an account that
/// is already gone answers 200, so an account is read first; deleting a plan that is
/// gone answers a bare 500 `internal error`, so a 500 is settled by listing the plans
/// (absent: already gone; present: the delete really failed).
fn delete(
    adapter: &dyn HostAdapter,
    vault: &dyn SubscriberVault,
    entry: &JournalEntry,
) -> Result<bool, String> {
    let Some(id) = entry.host_resource_id else {
        return Ok(false);
    };
    let done = |r: Result<(), HostError>| match r {
        Ok(()) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(HostError::UnsupportedRoute { .. }) => Ok(false),
        Err(e) => Err(e.to_string()),
    };
    match entry.resource_type {
        ResourceType::Subscription => done(adapter.revoke_subscription(id)),
        ResourceType::UserKey => {
            delete_managed_user_key(adapter, vault, entry).map_err(|e| e.to_string())
        }
        ResourceType::Account => match adapter.get_account(id) {
            Err(e) if e.is_not_found() => Ok(false),
            _ => done(adapter.delete_account(id)),
        },
        ResourceType::Channel => done(adapter.delete_channel(id)),
        ResourceType::Plan => match adapter.delete_plan(id) {
            Err(e) if e.status() == Some(500) => match adapter.list_plans() {
                Ok(plans) if !plans.iter().any(|p| p.id == id) => Ok(false),
                Ok(_) => Err(e.to_string()),
                Err(list) => Err(format!(
                    "{e} (listing the plans to see whether plan {id} is gone failed too: {list})"
                )),
            },
            other => done(other),
        },
        ResourceType::Group => done(adapter.delete_group(id)),
        ResourceType::User => done(adapter.delete_user(id)),
    }
}
