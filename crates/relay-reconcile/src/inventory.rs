//! Loading what the journal records for a provider and what the host has.

use std::collections::{BTreeMap, HashMap};

use relay_core::JournalEntry;
use relay_domain::ResourceType;
use relay_sub2api::{
    Account, AccountFilter, Channel, Group, HostAdapter, HostError, ObjectId, Plan, Subscription,
    SubscriptionFilter, UserKey,
};

use crate::error::ReconcileError;
use crate::model::ResourceCheck;

/// A live journal entry and the host object it names (`None`: gone from the host).
#[derive(Debug, Clone)]
pub(crate) struct Recorded<T> {
    pub entry: JournalEntry,
    pub host: Option<T>,
}

impl<T> Recorded<T> {
    pub fn id(&self) -> ObjectId {
        self.entry
            .host_resource_id
            .expect("live entries have a host id")
    }

    pub fn present(&self) -> bool {
        self.host.is_some()
    }
}

/// The provider's recorded objects next to the host's state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inventory {
    /// Every journal entry of the provider (all states).
    pub entries: Vec<JournalEntry>,
    pub groups: Vec<Recorded<Group>>,
    pub channels: Vec<Recorded<Channel>>,
    pub plans: Vec<Recorded<Plan>>,
    pub accounts: Vec<Recorded<Account>>,
    pub users: Vec<Recorded<ObjectId>>,
    pub user_keys: Vec<Recorded<UserKey>>,
    pub subscriptions: Vec<Recorded<Subscription>>,
    /// Every host account seen: bound to a managed group, named like the
    /// provider's accounts, or recorded.
    pub host_accounts: BTreeMap<ObjectId, Account>,
    /// The host build has channels (a recorded channel can be checked).
    pub channels_supported: bool,
    /// Facts worth telling the operator that are not differences.
    pub notes: Vec<String>,
}

fn live(entries: &[JournalEntry], t: ResourceType) -> Vec<JournalEntry> {
    entries
        .iter()
        .filter(|e| e.resource_type == t && e.is_live() && e.host_resource_id.is_some())
        .cloned()
        .collect()
}

/// `Ok(None)` when the host says the object is gone.
fn gone<T>(
    r: Result<T, HostError>,
    step: impl FnOnce() -> String,
) -> Result<Option<T>, ReconcileError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(ReconcileError::host(step(), e)),
    }
}

impl Inventory {
    /// Loads the host objects named by the live journal entries, plus every host
    /// account bound to a managed group or named `<provider>-…`.
    pub fn load(
        adapter: &dyn HostAdapter,
        entries: Vec<JournalEntry>,
        provider_id: &str,
    ) -> Result<Inventory, ReconcileError> {
        let mut inv = Inventory {
            channels_supported: true,
            ..Inventory::default()
        };

        for entry in live(&entries, ResourceType::Group) {
            let id = entry.host_resource_id.unwrap_or_default();
            let host = gone(adapter.get_group(id), || format!("reading group {id}"))?;
            inv.groups.push(Recorded { entry, host });
        }

        for entry in live(&entries, ResourceType::Channel) {
            let id = entry.host_resource_id.unwrap_or_default();
            let host = match adapter.get_channel(id) {
                Err(HostError::UnsupportedRoute { .. }) => {
                    inv.channels_supported = false;
                    inv.notes.push(format!(
                        "the host build has no channels: channel {id} ({}) was not checked",
                        entry.logical_key
                    ));
                    continue;
                }
                other => gone(other, || format!("reading channel {id}"))?,
            };
            inv.channels.push(Recorded { entry, host });
        }

        let plan_entries = live(&entries, ResourceType::Plan);
        if !plan_entries.is_empty() {
            match adapter.list_plans() {
                Ok(plans) => {
                    for entry in plan_entries {
                        let host = plans
                            .iter()
                            .find(|p| Some(p.id) == entry.host_resource_id)
                            .cloned();
                        inv.plans.push(Recorded { entry, host });
                    }
                }
                Err(HostError::UnsupportedRoute { .. }) => inv.notes.push(
                    "the host build has no payment module: the recorded plan was not checked"
                        .into(),
                ),
                Err(e) => return Err(ReconcileError::host("listing the payment plans", e)),
            }
        }

        // Accounts: every account bound to a managed group, every account named
        // like the provider's, then any recorded one not seen yet.
        for g in inv.groups.iter().filter(|g| g.present()) {
            let id = g.id();
            let list = adapter
                .list_accounts(&AccountFilter {
                    group_id: Some(id),
                    ..AccountFilter::default()
                })
                .map_err(|e| {
                    ReconcileError::host(format!("listing the accounts of group {id}"), e)
                })?;
            for a in list {
                inv.host_accounts.insert(a.id, a);
            }
        }
        let prefix = format!("{provider_id}-");
        let named = adapter
            .list_accounts(&AccountFilter {
                name_prefix: Some(prefix.clone()),
                ..AccountFilter::default()
            })
            .map_err(|e| {
                ReconcileError::host(format!("listing the accounts named {prefix}…"), e)
            })?;
        for a in named {
            inv.host_accounts.insert(a.id, a);
        }
        for entry in live(&entries, ResourceType::Account) {
            let id = entry.host_resource_id.unwrap_or_default();
            let host = match inv.host_accounts.get(&id) {
                Some(a) => Some(a.clone()),
                None => {
                    let found = gone(adapter.get_account(id), || format!("reading account {id}"))?;
                    if let Some(a) = &found {
                        inv.host_accounts.insert(a.id, a.clone());
                    }
                    found
                }
            };
            inv.accounts.push(Recorded { entry, host });
        }

        for entry in live(&entries, ResourceType::User) {
            let id = entry.host_resource_id.unwrap_or_default();
            let host = gone(adapter.get_user(id), || format!("reading user {id}"))?.map(|u| u.id);
            inv.users.push(Recorded { entry, host });
        }

        let mut keys_of: HashMap<ObjectId, Vec<UserKey>> = HashMap::new();
        for entry in live(&entries, ResourceType::UserKey) {
            let id = entry.host_resource_id.unwrap_or_default();
            let host = match entry.detail_i64("user_id") {
                None => None,
                Some(uid) => {
                    if let std::collections::hash_map::Entry::Vacant(slot) = keys_of.entry(uid) {
                        let keys = gone(adapter.list_user_keys_admin(uid), || {
                            format!("listing the keys of user {uid}")
                        })?
                        .unwrap_or_default();
                        slot.insert(keys);
                    }
                    keys_of[&uid].iter().find(|k| k.id == id).cloned()
                }
            };
            inv.user_keys.push(Recorded { entry, host });
        }

        let mut subs_of: HashMap<(ObjectId, ObjectId), Vec<Subscription>> = HashMap::new();
        for entry in live(&entries, ResourceType::Subscription) {
            let id = entry.host_resource_id.unwrap_or_default();
            let host = match (entry.detail_i64("user_id"), entry.detail_i64("group_id")) {
                (Some(u), Some(g)) => {
                    if let std::collections::hash_map::Entry::Vacant(slot) = subs_of.entry((u, g)) {
                        let subs = adapter
                            .list_subscriptions(&SubscriptionFilter {
                                user_id: Some(u),
                                group_id: Some(g),
                            })
                            .map_err(|e| {
                                ReconcileError::host(
                                    format!("listing the subscriptions of user {u}"),
                                    e,
                                )
                            })?;
                        slot.insert(subs);
                    }
                    subs_of[&(u, g)].iter().find(|s| s.id == id).cloned()
                }
                _ => None,
            };
            inv.subscriptions.push(Recorded { entry, host });
        }

        let intents = entries
            .iter()
            .filter(|e| e.state == relay_domain::ResourceState::Intent)
            .count();
        if intents > 0 {
            inv.notes.push(format!(
                "the journal holds {intents} unresolved intent(s) from an interrupted batch: resume or roll that batch back"
            ));
        }
        inv.entries = entries;
        Ok(inv)
    }

    /// Every recorded object with its presence on the host.
    pub fn resources(&self) -> Vec<ResourceCheck> {
        fn push<T>(out: &mut Vec<ResourceCheck>, list: &[Recorded<T>]) {
            for r in list {
                out.push(ResourceCheck {
                    entry_id: r.entry.id,
                    resource_type: r.entry.resource_type,
                    host_id: r.id(),
                    name: r.entry.logical_key.clone(),
                    state: r.entry.state,
                    present: r.present(),
                });
            }
        }
        let mut out = Vec::new();
        push(&mut out, &self.groups);
        push(&mut out, &self.channels);
        push(&mut out, &self.plans);
        push(&mut out, &self.accounts);
        push(&mut out, &self.users);
        push(&mut out, &self.user_keys);
        push(&mut out, &self.subscriptions);
        out
    }

    /// The recorded groups that exist on the host.
    pub fn present_groups(&self) -> impl Iterator<Item = (&JournalEntry, &Group)> {
        self.groups
            .iter()
            .filter_map(|g| g.host.as_ref().map(|h| (&g.entry, h)))
    }

    /// The host group with this id, when it is a recorded, present group.
    pub fn group(&self, id: ObjectId) -> Option<&Group> {
        self.present_groups().map(|(_, g)| g).find(|g| g.id == id)
    }

    /// The group a recorded object belongs to: `details.group_id`, else the only
    /// recorded group.
    pub fn group_of(&self, entry: &JournalEntry) -> Option<ObjectId> {
        entry
            .detail_i64("group_id")
            .or_else(|| (self.groups.len() == 1).then(|| self.groups[0].id()))
    }
}
