//! Finding and removing the host objects the access closure creates (users, user
//! keys, subscriptions) from their journal entries: resolving intents after a crash
//! and rolling a batch back both need them.

use relay_domain::ResourceType;
use relay_sub2api::{HostAdapter, HostError, LoginOutcome, ObjectId, SubscriptionFilter};

use crate::error::AccessError;
use crate::journal::JournalEntry;
use crate::vault::SubscriberVault;

/// Host ids of the objects matching a journal entry of the closure's types, found by
/// its deterministic name: a user by e-mail, a user key by owner + name (or by its
/// fingerprint), a subscription by user + group. `None` for other resource types.
pub fn find_access_resource(
    adapter: &dyn HostAdapter,
    entry: &JournalEntry,
) -> Option<Result<Vec<ObjectId>, HostError>> {
    let user_id = entry.detail_i64("user_id");
    let group_id = entry.detail_i64("group_id");
    match entry.resource_type {
        ResourceType::User => Some(
            adapter
                .find_user_by_email(&entry.logical_key)
                .map(|u| u.into_iter().map(|u| u.id).collect()),
        ),
        ResourceType::UserKey => Some(match user_id {
            None => Ok(Vec::new()),
            Some(uid) => match adapter.list_user_keys_admin(uid) {
                Ok(keys) => {
                    let fp = entry.detail_str("key_fingerprint");
                    Ok(keys
                        .into_iter()
                        .filter(|k| match fp {
                            Some(fp) => {
                                relay_domain::Fingerprint::of(k.key.expose()).as_str() == fp
                            }
                            None => {
                                k.name == entry.logical_key
                                    && group_id.is_none_or(|g| k.group_id == Some(g))
                            }
                        })
                        .map(|k| k.id)
                        .collect())
                }
                Err(e) if e.is_not_found() => Ok(Vec::new()),
                Err(e) => Err(e),
            },
        }),
        ResourceType::Subscription => Some(match (user_id, group_id) {
            (Some(u), Some(g)) => adapter
                .list_subscriptions(&SubscriptionFilter {
                    user_id: Some(u),
                    group_id: Some(g),
                })
                .map(|subs| {
                    subs.into_iter()
                        .filter(|s| s.user_id == u && s.group_id == g)
                        .map(|s| s.id)
                        .collect()
                }),
            _ => Ok(Vec::new()),
        }),
        _ => None,
    }
}

/// Deletes a user key the manager created for a managed subscriber. The host has
/// no admin delete for user keys, so this logs in as the owner (password from the
/// vault). Returns `Ok(false)` when the key (or its owner) is already gone, and
/// forgets the key in the vault either way.
pub fn delete_managed_user_key(
    adapter: &dyn HostAdapter,
    vault: &dyn SubscriberVault,
    entry: &JournalEntry,
) -> Result<bool, AccessError> {
    let Some(key_id) = entry.host_resource_id else {
        return Ok(false);
    };
    let email = entry.detail_str("email").unwrap_or_default().to_string();
    let user_id = entry.detail_i64("user_id");
    let group_id = entry.detail_i64("group_id");
    let forget = |vault: &dyn SubscriberVault| -> Result<(), AccessError> {
        if let Some(g) = group_id {
            vault.remove_user_key(&email, g)?;
        }
        Ok(())
    };
    if let Some(uid) = user_id {
        match adapter.list_user_keys_admin(uid) {
            Ok(keys) if !keys.iter().any(|k| k.id == key_id) => {
                forget(vault)?;
                return Ok(false);
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                forget(vault)?;
                return Ok(false);
            }
            Err(e) => return Err(AccessError::host(format!("listing the keys of {email}"), e)),
        }
    }
    let sub = vault
        .subscriber(&email)?
        .ok_or_else(|| AccessError::UnmanagedUser {
            email: email.clone(),
        })?;
    let session = match adapter
        .login_user(&email, &sub.password)
        .map_err(|e| AccessError::host(format!("logging in as {email}"), e))?
    {
        LoginOutcome::LoggedIn(s) => s,
        LoginOutcome::Blocked(b) => return Err(AccessError::login_blocked(&email, b)),
    };
    let deleted = match adapter.delete_user_key(&session, key_id) {
        Ok(()) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => {
            return Err(AccessError::host(
                format!("deleting key {key_id} of {email}"),
                e,
            ))
        }
    };
    forget(vault)?;
    Ok(deleted)
}
