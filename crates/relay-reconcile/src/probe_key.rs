//! Which user key proves access: the operator's supplied key, else the managed
//! probe subscriber's key from the vault.

use relay_core::{ProbeKeySource, SubscriberVault, DEFAULT_PROBE_EMAIL};
use relay_domain::{mask, AccessMode, Fingerprint, Secret};
use relay_sub2api::{HostAdapter, ObjectId, UserKey};

use crate::error::ReconcileError;
use crate::inventory::Inventory;

/// The key a run probes the gateway with.
#[derive(Debug, Clone)]
pub(crate) struct ProbeKey {
    pub key: Secret,
    pub source: ProbeKeySource,
    /// The group the key is (or should be) bound to.
    pub group_id: Option<ObjectId>,
    /// The key's owner on the host, when known.
    pub owner_user_id: Option<ObjectId>,
    /// The managed subscriber's e-mail (managed keys).
    pub email: Option<String>,
}

impl ProbeKey {
    pub fn mode(&self) -> AccessMode {
        match self.source {
            ProbeKeySource::ManagedSubscription => AccessMode::Subscription,
            ProbeKeySource::SuppliedKey => AccessMode::SelfService,
        }
    }

    pub fn mask(&self) -> String {
        mask(self.key.expose())
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.key.expose())
    }
}

/// The managed probe subscriber's key for one of the recorded, present groups
/// (preferring `probe_email`, then keys still on the host, then the newest).
pub(crate) fn managed_key(
    inv: &Inventory,
    vault: &dyn SubscriberVault,
    probe_email: Option<&str>,
) -> Result<Option<ProbeKey>, ReconcileError> {
    let want = probe_email
        .unwrap_or(DEFAULT_PROBE_EMAIL)
        .trim()
        .to_lowercase();
    let mut candidates: Vec<_> = inv
        .user_keys
        .iter()
        .filter_map(|k| {
            let email = k.entry.detail_str("email")?.to_lowercase();
            let group = k.entry.detail_i64("group_id")?;
            inv.group(group)?;
            Some((k, email, group))
        })
        .collect();
    candidates
        .sort_by_key(|(k, email, _)| (*email != want, !k.present(), std::cmp::Reverse(k.entry.id)));
    for (k, email, group) in candidates {
        if let Some(key) = vault.user_key(&email, group)? {
            return Ok(Some(ProbeKey {
                key,
                source: ProbeKeySource::ManagedSubscription,
                group_id: Some(group),
                owner_user_id: k.entry.detail_i64("user_id"),
                email: Some(email),
            }));
        }
    }
    Ok(None)
}

/// Finds `key` among the keys of the recorded, present groups (compared by
/// fingerprint). Host failures are returned per group as text.
pub(crate) fn locate_key(
    adapter: &dyn HostAdapter,
    inv: &Inventory,
    key: &Secret,
) -> (Option<(ObjectId, UserKey)>, Vec<String>) {
    let fp = Fingerprint::of(key.expose());
    let mut errors = Vec::new();
    for (_, g) in inv.present_groups() {
        match adapter.list_group_keys(g.id) {
            Ok(keys) => {
                if let Some(k) = keys
                    .into_iter()
                    .find(|k| Fingerprint::of(k.key.expose()) == fp)
                {
                    return (Some((g.id, k)), errors);
                }
            }
            Err(e) => errors.push(format!("listing the keys of group {}: {e}", g.id)),
        }
    }
    (None, errors)
}

/// The key to probe with: the supplied key when given, else the managed one.
pub(crate) fn choose(
    adapter: &dyn HostAdapter,
    inv: &Inventory,
    vault: &dyn SubscriberVault,
    supplied: Option<&Secret>,
    probe_email: Option<&str>,
) -> Result<Option<ProbeKey>, ReconcileError> {
    if let Some(key) = supplied {
        let (found, _) = locate_key(adapter, inv, key);
        let fallback = inv
            .present_groups()
            .find(|(_, g)| g.subscription_type != relay_sub2api::subscription_type::SUBSCRIPTION)
            .or_else(|| inv.present_groups().next())
            .map(|(_, g)| g.id);
        return Ok(Some(ProbeKey {
            key: key.clone(),
            source: ProbeKeySource::SuppliedKey,
            group_id: found.as_ref().map(|(g, _)| *g).or(fallback),
            owner_user_id: found.as_ref().map(|(_, k)| k.user_id),
            email: None,
        }));
    }
    managed_key(inv, vault, probe_email)
}
