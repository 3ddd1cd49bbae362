//! Repairs: the capability repair of SPEC §7.3 for one account, and the safe
//! fixes of differences (re-bind an account, restore a channel).

use std::collections::BTreeMap;

use relay_core::ProviderTarget;
use relay_domain::ResourceType;
use relay_sub2api::{AccountUpdate, ChannelUpdate, HostAdapter, ObjectId};

use crate::diff::{Finding, SafeFix};

use crate::model::{Repair, RepairKind};

/// Binds an account to a group (keeping its other groups).
pub(crate) fn rebind_account(
    adapter: &dyn HostAdapter,
    account_id: ObjectId,
    name: &str,
    group_id: ObjectId,
) -> Repair {
    let result = adapter.get_account(account_id).and_then(|a| {
        let mut groups = a.group_ids.clone();
        if !groups.contains(&group_id) {
            groups.push(group_id);
        }
        adapter.update_account(
            account_id,
            &AccountUpdate {
                group_ids: Some(groups),
                ..AccountUpdate::default()
            },
        )
    });
    let (ok, error) = match result {
        Ok(a) if a.group_ids.contains(&group_id) => (true, None),
        Ok(a) => (
            false,
            Some(format!(
                "the host kept group_ids {:?} after the update",
                a.group_ids
            )),
        ),
        Err(e) => (false, Some(e.to_string())),
    };
    Repair {
        kind: RepairKind::AccountRebound,
        resource_type: ResourceType::Account,
        host_id: account_id,
        name: name.to_string(),
        detail: format!("account {account_id} ({name}) bound to group {group_id} again"),
        ok,
        error,
        capability: None,
    }
}

/// Restores a channel to the template and binds it to the group.
pub(crate) fn restore_channel(
    adapter: &dyn HostAdapter,
    target: &ProviderTarget,
    channel_id: ObjectId,
    name: &str,
    group_id: ObjectId,
) -> Repair {
    let result = adapter.get_channel(channel_id).and_then(|c| {
        let mut groups = c.group_ids.clone();
        if !groups.contains(&group_id) {
            groups.push(group_id);
        }
        let t = &target.provider.channel_template;
        adapter.update_channel(
            channel_id,
            &ChannelUpdate {
                group_ids: Some(groups),
                model_mapping: Some(target.channel_model_mapping()),
                model_pricing: Some(target.channel_pricing()),
                restrict_models: Some(t.restrict_models),
                billing_model_source: t.billing_model_source.map(|b| b.as_str().to_string()),
                ..ChannelUpdate::default()
            },
        )
    });
    let (ok, error) = match result {
        Ok(c) => {
            let left = target.channel_differences(&c, Some(group_id));
            if left.is_empty() {
                (true, None)
            } else {
                (
                    false,
                    Some(format!("the host still differs: {}", left.join("; "))),
                )
            }
        }
        Err(e) => (false, Some(e.to_string())),
    };
    Repair {
        kind: RepairKind::ChannelRestored,
        resource_type: ResourceType::Channel,
        host_id: channel_id,
        name: name.to_string(),
        detail: format!(
            "channel {channel_id} ({name}) restored to the template and bound to group {group_id}"
        ),
        ok,
        error,
        capability: None,
    }
}

/// Applies the safe fix of every finding that has one (one call per object) and
/// marks the findings repaired when the host now matches.
pub(crate) fn apply_safe_fixes(
    adapter: &dyn HostAdapter,
    target: &ProviderTarget,
    findings: &mut [Finding],
) -> Vec<Repair> {
    let mut done: BTreeMap<(u8, ObjectId), bool> = BTreeMap::new();
    let mut repairs = Vec::new();
    for f in findings.iter_mut() {
        let Some(fix) = f.fix else { continue };
        let key = match fix {
            SafeFix::RebindAccount { account_id, .. } => (0u8, account_id),
            SafeFix::RestoreChannel { channel_id, .. } => (1u8, channel_id),
        };
        let ok = match done.get(&key) {
            Some(ok) => *ok,
            None => {
                let r = match fix {
                    SafeFix::RebindAccount {
                        account_id,
                        group_id,
                    } => rebind_account(adapter, account_id, &f.diff.name, group_id),
                    SafeFix::RestoreChannel {
                        channel_id,
                        group_id,
                    } => restore_channel(adapter, target, channel_id, &f.diff.name, group_id),
                };
                let ok = r.ok;
                repairs.push(r);
                done.insert(key, ok);
                ok
            }
        };
        f.diff.repaired = ok;
    }
    repairs
}
