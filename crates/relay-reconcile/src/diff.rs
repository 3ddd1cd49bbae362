//! Comparing the record (and the pack's templates) with the host.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use relay_core::JournalEntry;
use relay_core::{expected_subscription_type, ProviderTarget};
use relay_domain::{AccessMode, ResourceState, ResourceType};
use relay_sub2api::{
    Account, AccountStatus, Channel, ChannelModelMapping, ModelPricing, ObjectId, ObjectStatus,
};
use serde_json::{json, Value};

use crate::inventory::Inventory;
use crate::model::{Difference, DifferenceKind};

/// A safe fix of a difference (applied with `repair: true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SafeFix {
    /// Bind the managed account to its group again.
    RebindAccount {
        account_id: ObjectId,
        group_id: ObjectId,
    },
    /// Restore the channel's group binding, mapping, pricing, restriction and
    /// billing source to the template.
    RestoreChannel {
        channel_id: ObjectId,
        group_id: ObjectId,
    },
}

/// A difference and its safe fix, if any.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub diff: Difference,
    pub fix: Option<SafeFix>,
}

const REPAIR_HINT: &str = "run `relay reconcile --repair` (or `relay doctor --repair`)";

fn finding(
    kind: DifferenceKind,
    resource_type: ResourceType,
    host_id: Option<ObjectId>,
    name: &str,
    detail: String,
    fix: String,
) -> Finding {
    Finding {
        diff: Difference {
            kind,
            resource_type,
            host_id,
            name: name.to_string(),
            field: None,
            expected: None,
            actual: None,
            detail,
            fix,
            safe_fix: false,
            repaired: false,
        },
        fix: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn changed(
    resource_type: ResourceType,
    host_id: ObjectId,
    name: &str,
    field: &str,
    expected: Value,
    actual: Value,
    detail: String,
    fix: String,
    safe: Option<SafeFix>,
) -> Finding {
    Finding {
        diff: Difference {
            kind: DifferenceKind::Changed,
            resource_type,
            host_id: Some(host_id),
            name: name.to_string(),
            field: Some(field.to_string()),
            expected: Some(expected),
            actual: Some(actual),
            detail,
            fix,
            safe_fix: safe.is_some(),
            repaired: false,
        },
        fix: safe,
    }
}

fn missing(entry: &JournalEntry, fix: &str) -> Finding {
    let id = entry.host_resource_id.unwrap_or_default();
    finding(
        DifferenceKind::Missing,
        entry.resource_type,
        Some(id),
        &entry.logical_key,
        format!(
            "{} {id} ({}) was deleted on the host",
            entry.resource_type, entry.logical_key
        ),
        fix.to_string(),
    )
}

/// The access mode a group was created for, from its deterministic name.
pub(crate) fn group_mode(target: &ProviderTarget, name: &str) -> Option<AccessMode> {
    [AccessMode::Subscription, AccessMode::SelfService]
        .into_iter()
        .find(|m| target.resource_name(*m) == name)
}

/// JSON of pricing entries (the adapter's types carry no serde).
pub(crate) fn pricing_json(list: &[ModelPricing]) -> Value {
    Value::Array(
        list.iter()
            .map(|p| {
                json!({
                    "platform": p.platform,
                    "models": p.models,
                    "billing_mode": p.billing_mode,
                    "input_price": p.input_price,
                    "output_price": p.output_price,
                    "cache_write_price": p.cache_write_price,
                    "cache_read_price": p.cache_read_price,
                    "per_request_price": p.per_request_price,
                })
            })
            .collect(),
    )
}

fn mapping_json(m: &ChannelModelMapping) -> Value {
    serde_json::to_value(m).unwrap_or(Value::Null)
}

fn host_channel_mapping(channel: &Channel) -> ChannelModelMapping {
    channel
        .model_mapping
        .iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// How one recorded channel differs from the template, per field, using
/// [`ProviderTarget::channel_differences`] to decide what differs.
pub(crate) fn channel_findings(
    target: &ProviderTarget,
    entry: &JournalEntry,
    channel: &Channel,
    group_id: Option<ObjectId>,
) -> Vec<Finding> {
    let named = target.channel_differences(channel, group_id);
    let t = &target.provider.channel_template;
    let id = channel.id;
    let name = entry.logical_key.as_str();
    let safe = group_id.map(|g| SafeFix::RestoreChannel {
        channel_id: id,
        group_id: g,
    });
    let fix = if safe.is_some() {
        format!("restore it to the pack's channel template on the host, or {REPAIR_HINT}")
    } else {
        "restore it to the pack's channel template on the host".to_string()
    };
    let mut out = Vec::new();
    for text in named {
        let (field, expected, actual) = if text.starts_with("model_mapping") {
            (
                "model_mapping",
                mapping_json(&target.channel_model_mapping()),
                mapping_json(&host_channel_mapping(channel)),
            )
        } else if text.starts_with("model_pricing") {
            (
                "model_pricing",
                pricing_json(&target.channel_pricing()),
                pricing_json(&channel.model_pricing),
            )
        } else if text.starts_with("restrict_models") {
            (
                "restrict_models",
                json!(t.restrict_models),
                json!(channel.restrict_models),
            )
        } else if text.starts_with("billing_model_source") {
            (
                "billing_model_source",
                json!(t.billing_model_source.map(|b| b.as_str())),
                json!(channel.billing_model_source),
            )
        } else {
            (
                "group_ids",
                json!(group_id.map(|g| vec![g]).unwrap_or_default()),
                json!(channel.group_ids),
            )
        };
        let detail = if field == "group_ids" {
            format!(
                "channel {id} ({name}) is no longer bound to group {} (host group_ids {})",
                group_id.unwrap_or_default(),
                json!(channel.group_ids)
            )
        } else {
            format!("channel {id} ({name}) {field} was edited on the host: host {actual}, template {expected}")
        };
        out.push(changed(
            ResourceType::Channel,
            id,
            name,
            field,
            expected,
            actual,
            detail,
            fix.clone(),
            safe,
        ));
    }
    out
}

/// The expected key of a managed account: `<provider>-<fp8>`.
fn is_deterministic_account_name(provider_id: &str, name: &str) -> bool {
    name.strip_prefix(provider_id)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|fp8| fp8.len() == 8 && fp8.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn account_label(a: &Account) -> String {
    format!("account {} ({})", a.id, a.name)
}

/// Every difference between the record, the templates and the host.
pub(crate) fn find_differences(inv: &Inventory, target: &ProviderTarget) -> Vec<Finding> {
    let mut out = Vec::new();
    let platform = target.platform_str();

    // Groups.
    for g in &inv.groups {
        let Some(host) = &g.host else {
            out.push(missing(
                &g.entry,
                "the provider's group is gone: roll the provider back and import again",
            ));
            continue;
        };
        let name = g.entry.logical_key.as_str();
        let id = host.id;
        let expected_type = g
            .entry
            .detail_str("subscription_type")
            .map(str::to_string)
            .or_else(|| {
                group_mode(target, name).map(|m| expected_subscription_type(m).to_string())
            });
        if let Some(want) = expected_type {
            if host.subscription_type != want {
                out.push(changed(
                    ResourceType::Group,
                    id,
                    name,
                    "subscription_type",
                    json!(want),
                    json!(host.subscription_type),
                    format!(
                        "group {id} ({name}) type was changed on the host from {want} to {}",
                        host.subscription_type
                    ),
                    format!("set group {id} back to type {want} on the host, or roll the provider back and import again"),
                    None,
                ));
            }
        }
        let want_platform = g
            .entry
            .detail_str("platform")
            .unwrap_or(platform)
            .to_string();
        if host.platform.as_str() != want_platform {
            out.push(changed(
                ResourceType::Group,
                id,
                name,
                "platform",
                json!(want_platform),
                json!(host.platform),
                format!(
                    "group {id} ({name}) platform was changed on the host from {want_platform} to {}",
                    host.platform
                ),
                format!("the platform decides which gateway serves the group: set it back to {want_platform}, or roll the provider back and import again"),
                None,
            ));
        }
        if !host.status.is_active() {
            out.push(changed(
                ResourceType::Group,
                id,
                name,
                "status",
                json!(ObjectStatus::Active),
                json!(host.status),
                format!("group {id} ({name}) is {} on the host", host.status),
                format!("enable group {id} on the host"),
                None,
            ));
        }
        if host.name != name {
            out.push(changed(
                ResourceType::Group,
                id,
                name,
                "name",
                json!(name),
                json!(host.name),
                format!("group {id} was renamed on the host from {name} to {}", host.name),
                format!("rename group {id} back to {name}: the manager finds its objects by name after a crash"),
                None,
            ));
        }
    }

    // Channels.
    for c in &inv.channels {
        let Some(host) = &c.host else {
            out.push(missing(
                &c.entry,
                "re-run the import (`relay import`) to create the channel again",
            ));
            continue;
        };
        let group = inv.group_of(&c.entry);
        out.extend(channel_findings(target, &c.entry, host, group));
    }

    // Plans.
    for p in &inv.plans {
        let Some(host) = &p.host else {
            out.push(missing(
                &p.entry,
                "re-run the import (`relay import`) to create the plan again",
            ));
            continue;
        };
        let name = p.entry.logical_key.as_str();
        let id = host.id;
        let fix = "set the plan back on the host (payment plans), or roll the provider back and import again".to_string();
        if let Some(g) = inv.group_of(&p.entry) {
            if host.group_id != g {
                out.push(changed(
                    ResourceType::Plan,
                    id,
                    name,
                    "group_id",
                    json!(g),
                    json!(host.group_id),
                    format!(
                        "plan {id} ({name}) now grants group {} instead of group {g}",
                        host.group_id
                    ),
                    fix.clone(),
                    None,
                ));
            }
            // Only plans the manager made from the template must match it.
            if p.entry.state != ResourceState::Reused {
                let want = target.new_plan(g);
                if (host.price - want.price).abs() > 1e-9 {
                    out.push(changed(
                        ResourceType::Plan,
                        id,
                        name,
                        "price",
                        json!(want.price),
                        json!(host.price),
                        format!(
                            "plan {id} ({name}) price was changed on the host from {} to {}",
                            want.price, host.price
                        ),
                        fix.clone(),
                        None,
                    ));
                }
                if host.validity_days != want.validity_days
                    || host.validity_unit != want.validity_unit
                {
                    out.push(changed(
                        ResourceType::Plan,
                        id,
                        name,
                        "validity",
                        json!(format!("{} {}", want.validity_days, want.validity_unit)),
                        json!(format!("{} {}", host.validity_days, host.validity_unit)),
                        format!(
                            "plan {id} ({name}) validity was changed on the host from {} {} to {} {}",
                            want.validity_days, want.validity_unit, host.validity_days, host.validity_unit
                        ),
                        fix.clone(),
                        None,
                    ));
                }
            }
        }
    }

    // Accounts.
    let want_mapping = target.account_model_mapping();
    for a in &inv.accounts {
        let Some(host) = &a.host else {
            out.push(missing(
                &a.entry,
                "re-import its key (`relay import`) to create the account again, or roll the provider back",
            ));
            continue;
        };
        let name = a.entry.logical_key.as_str();
        let id = host.id;
        let label = format!("account {id} ({name})");
        if let Some(g) = inv.group_of(&a.entry).filter(|g| inv.group(*g).is_some()) {
            if !host.group_ids.contains(&g) {
                out.push(changed(
                    ResourceType::Account,
                    id,
                    name,
                    "group_ids",
                    json!([g]),
                    json!(host.group_ids),
                    format!(
                        "{label} was removed from group {g} (host group_ids {})",
                        json!(host.group_ids)
                    ),
                    format!("add {label} back to group {g}, or {REPAIR_HINT}"),
                    Some(SafeFix::RebindAccount {
                        account_id: id,
                        group_id: g,
                    }),
                ));
            }
        }
        if host.platform != platform {
            out.push(changed(
                ResourceType::Account,
                id,
                name,
                "platform",
                json!(platform),
                json!(host.platform),
                format!(
                    "{label} platform was changed on the host from {platform} to {}",
                    host.platform
                ),
                "re-import the key (`relay import`); the old account is retired".into(),
                None,
            ));
        }
        if host.base_url.as_deref() != Some(target.provider.base_url.as_str()) {
            out.push(changed(
                ResourceType::Account,
                id,
                name,
                "base_url",
                json!(target.provider.base_url),
                json!(host.base_url),
                format!(
                    "{label} credentials.base_url was changed on the host from {} to {}",
                    target.provider.base_url,
                    host.base_url.as_deref().unwrap_or("(none)")
                ),
                format!(
                    "set credentials.base_url of {label} back to {}, or re-import the key",
                    target.provider.base_url
                ),
                None,
            ));
        }
        if host.model_mapping != want_mapping {
            out.push(changed(
                ResourceType::Account,
                id,
                name,
                "model_mapping",
                json!(want_mapping),
                json!(host.model_mapping),
                format!(
                    "{label} credentials.model_mapping differs from the pack: host {}, pack {}",
                    json!(host.model_mapping),
                    json!(want_mapping)
                ),
                "restore credentials.model_mapping (without it the host's /v1/models falls back to its defaults), or re-import the key".into(),
                None,
            ));
        }
        if host.status == AccountStatus::Inactive {
            out.push(changed(
                ResourceType::Account,
                id,
                name,
                "status",
                json!(AccountStatus::Active),
                json!(host.status),
                format!("{label} was disabled on the host"),
                format!("enable {label} on the host"),
                None,
            ));
        }
    }

    // Unmanaged and duplicate accounts.
    let live_ids: HashSet<ObjectId> = inv.accounts.iter().map(|a| a.id()).collect();
    let by_name: HashMap<&str, ObjectId> = inv
        .accounts
        .iter()
        .map(|a| (a.entry.logical_key.as_str(), a.id()))
        .collect();
    let known: HashMap<ObjectId, &JournalEntry> = inv
        .entries
        .iter()
        .filter(|e| e.resource_type == ResourceType::Account)
        .filter_map(|e| e.host_resource_id.map(|id| (id, e)))
        .collect();
    let managed_groups: BTreeSet<ObjectId> = inv.present_groups().map(|(_, g)| g.id).collect();
    for acc in inv.host_accounts.values() {
        if live_ids.contains(&acc.id) {
            continue;
        }
        let label = account_label(acc);
        let in_groups: Vec<ObjectId> = acc
            .group_ids
            .iter()
            .copied()
            .filter(|g| managed_groups.contains(g))
            .collect();
        let twin = by_name.get(acc.name.as_str()).copied();
        let detail = if let Some(e) = known.get(&acc.id) {
            format!(
                "{label} is recorded as {} by the manager but still exists on the host",
                e.state
            )
        } else if let Some(twin) = twin {
            format!(
                "{label} has the deterministic name of managed account {twin}, so it carries the same key fingerprint{}",
                if in_groups.is_empty() {
                    String::new()
                } else {
                    format!(", and it is bound to managed group {}", join(&in_groups))
                }
            )
        } else if !in_groups.is_empty() {
            format!(
                "{label} is bound to managed group {} but the journal does not know it",
                join(&in_groups)
            )
        } else if is_deterministic_account_name(target.provider_id(), &acc.name) {
            // Named like one of ours but neither recorded nor in our groups: another
            // install may own it; not a difference of this provider.
            continue;
        } else {
            continue;
        };
        let mut f = finding(
            DifferenceKind::UnmanagedDuplicate,
            ResourceType::Account,
            Some(acc.id),
            &acc.name,
            detail,
            format!(
                "delete {label} on the host if it is a leftover (dead duplicates make the host fail over and answer 502){}",
                if in_groups.is_empty() {
                    String::new()
                } else {
                    format!(", or remove it from group {}", join(&in_groups))
                }
            ),
        );
        f.diff.actual = Some(json!({"group_ids": acc.group_ids, "status": acc.status}));
        out.push(f);
    }
    // Several live records with the same key fingerprint, all on the host.
    let mut by_fp: BTreeMap<&str, Vec<&crate::inventory::Recorded<Account>>> = BTreeMap::new();
    for a in inv.accounts.iter().filter(|a| a.present()) {
        if let Some(fp) = &a.entry.fingerprint {
            by_fp.entry(fp.as_str()).or_default().push(a);
        }
    }
    for list in by_fp.values().filter(|l| l.len() > 1) {
        let newest = list.iter().map(|a| a.entry.id).max().unwrap_or_default();
        let keep = list.iter().find(|a| a.entry.id == newest).map(|a| a.id());
        for a in list.iter().filter(|a| a.entry.id != newest) {
            let id = a.id();
            let mut f = finding(
                DifferenceKind::UnmanagedDuplicate,
                ResourceType::Account,
                Some(id),
                &a.entry.logical_key,
                format!(
                    "account {id} ({}) carries the same key (fingerprint {}…) as account {}",
                    a.entry.logical_key,
                    &a.entry
                        .fingerprint
                        .as_ref()
                        .map(|f| f.short().to_string())
                        .unwrap_or_default(),
                    keep.unwrap_or_default()
                ),
                format!(
                    "delete the older account {id} on the host (re-importing the key retires it)"
                ),
            );
            f.diff.expected = keep.map(|k| json!({"account_id": k}));
            out.push(f);
        }
    }

    // Subscribers, their keys and subscriptions.
    for u in &inv.users {
        if !u.present() {
            out.push(missing(
                &u.entry,
                "run `relay access assign-subscriptions` to create the managed subscriber again",
            ));
        }
    }
    for k in &inv.user_keys {
        match &k.host {
            None => out.push(missing(
                &k.entry,
                "run `relay access assign-subscriptions` to create a new key for the subscriber",
            )),
            Some(key) => {
                let want = k.entry.detail_i64("group_id");
                if want.is_some() && key.group_id != want {
                    let id = key.id;
                    let g = want.unwrap_or_default();
                    out.push(changed(
                        ResourceType::UserKey,
                        id,
                        &k.entry.logical_key,
                        "group_id",
                        json!(g),
                        json!(key.group_id),
                        format!(
                            "user key {id} ({}) was moved from group {g} to {}",
                            k.entry.logical_key,
                            key.group_id.map(|g| g.to_string()).unwrap_or_else(|| "no group".into())
                        ),
                        format!("bind key {id} back to group {g} on the host, or run `relay access assign-subscriptions`"),
                        None,
                    ));
                }
            }
        }
    }
    for s in &inv.subscriptions {
        if !s.present() {
            out.push(missing(
                &s.entry,
                "assign it again: `relay doctor --repair` or `relay access assign-subscriptions`",
            ));
        }
    }
    out
}

fn join(ids: &[ObjectId]) -> String {
    ids.iter()
        .map(ObjectId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_names() {
        assert!(is_deterministic_account_name(
            "deepseek",
            "deepseek-1a2b3c4d"
        ));
        assert!(!is_deterministic_account_name(
            "deepseek",
            "deepseek-1a2b3c4"
        ));
        assert!(!is_deterministic_account_name(
            "deepseek",
            "deepseek-r1-1a2b3c4d"
        ));
        assert!(!is_deterministic_account_name("deepseek", "kimi-1a2b3c4d"));
    }
}
