//! Subscription access: managed subscribers, subscriptions and user keys
//! (SPEC §4.5), then the gateway probe with the probe subscriber's key.
//!
//! The host has no admin endpoint that creates a user key, so the manager creates
//! managed users with a generated password it keeps sealed, logs in as them and
//! creates the key with `custom_key`. Only a managed user can be logged in as, so one
//! managed *probe subscriber* is always part of the closure.

use relay_domain::naming::{balance_idempotency_key, user_key_idempotency_key};
use relay_domain::{
    mask, AccessMode, Fingerprint, ModeProof, Redactor, ResourceState, ResourceType, Secret,
};
use relay_sub2api::{
    retry_write, AssignOutcome, BalanceChange, BalanceOperation, LoginOutcome, NewUser, NewUserKey,
    ObjectId, ObjectStatus, Subscription, SubscriptionAssignment, SubscriptionFilter, User,
    UserUpdate, WriteRetry,
};
use serde_json::json;

use relay_core::{
    generate_password, generate_user_key, probe_gateway, record_reused_once,
    subscription_logical_key, AccessError, NewEntry, Ports, ProbeKeySource, ProbeSettings,
    RepairScope, SubscriberOutcome, SubscriberSelector, SubscriptionAccess, SubscriptionReport,
};

/// Machine code of the host's lock on creates with a chosen key.
const API_KEY_RATE_LIMITED: &str = "API_KEY_RATE_LIMITED";

/// Runs the subscription closure for `group_id` and probes the gateway with the
/// probe subscriber's key. Errors only when the journal or the vault fails; host
/// refusals (blocked login, conflicts, …) are problems in the report and make the
/// mode broken.
pub fn close_subscription(
    ports: &Ports<'_>,
    group_id: ObjectId,
    access: &SubscriptionAccess,
    settings: &ProbeSettings,
    repair: Option<&RepairScope<'_>>,
) -> Result<SubscriptionReport, AccessError> {
    let probe_email = access.probe_email.trim().to_lowercase();
    let mut selectors = vec![SubscriberSelector::Email(probe_email.clone())];
    for s in &access.subscribers {
        let s = match s {
            SubscriberSelector::Email(e) => SubscriberSelector::Email(e.trim().to_lowercase()),
            other => other.clone(),
        };
        if !selectors.contains(&s) {
            selectors.push(s);
        }
    }
    let mut subscribers = Vec::new();
    let mut probe_key = None;
    for (i, selector) in selectors.iter().enumerate() {
        let (mut outcome, key) = ensure_subscriber(ports, group_id, access, selector, i == 0)?;
        if !outcome.problems.is_empty() || !outcome.warnings.is_empty() {
            outcome.redact(&subscriber_redactor(
                ports,
                group_id,
                selector,
                key.as_ref(),
            )?);
        }
        if i == 0 {
            probe_key = key;
        }
        subscribers.push(outcome);
    }
    let proof = match &probe_key {
        Some(key) => Some(probe_gateway(
            ports,
            key,
            AccessMode::Subscription,
            ProbeKeySource::ManagedSubscription,
            settings,
            repair,
        )?),
        None => {
            if subscribers[0].problems.is_empty() {
                subscribers[0].problems.push(
                    AccessError::NoProbeKey {
                        email: probe_email.clone(),
                    }
                    .to_problem(probe_email.clone()),
                );
            }
            None
        }
    };
    let status = proof.as_ref().map_or(ModeProof::Broken, |p| p.proof);
    Ok(SubscriptionReport {
        group_id,
        subscribers,
        proof,
        status,
    })
}

/// The secrets of one subscriber the closure handled: its password and user key as
/// the vault holds them, and the key just granted. Host texts about the subscriber
/// (a create error quoting the password, a key create error quoting the key) pass
/// through it.
fn subscriber_redactor(
    ports: &Ports<'_>,
    group_id: ObjectId,
    selector: &SubscriberSelector,
    key: Option<&Secret>,
) -> Result<Redactor, AccessError> {
    let mut r = Redactor::new();
    if let Some(k) = key {
        r.add(k);
    }
    if let SubscriberSelector::Email(email) = selector {
        if let Some(sub) = ports.vault.subscriber(email)? {
            r.add(&sub.password);
        }
        if let Some(k) = ports.vault.user_key(email, group_id)? {
            r.add(&k);
        }
    }
    Ok(r)
}

fn ensure_subscriber(
    ports: &Ports<'_>,
    group_id: ObjectId,
    access: &SubscriptionAccess,
    selector: &SubscriberSelector,
    is_probe: bool,
) -> Result<(SubscriberOutcome, Option<Secret>), AccessError> {
    let mut out = SubscriberOutcome::new(selector.label(), is_probe);
    let user = match selector {
        SubscriberSelector::UserId(id) => match existing_user(ports, group_id, *id) {
            Ok(u) => u,
            Err(e) => {
                out.problem(e)?;
                return Ok((out, None));
            }
        },
        SubscriberSelector::Email(email) => {
            match managed_user(ports, group_id, access, email, is_probe, &mut out) {
                Ok(Some(u)) => u,
                Ok(None) => return Ok((out, None)),
                Err(e) => {
                    out.problem(e)?;
                    return Ok((out, None));
                }
            }
        }
    };
    out.user_id = Some(user.id);
    let validity_days = access.validity_for(selector);
    match ensure_subscription(ports, group_id, access, validity_days, user.id, &mut out) {
        Ok(Some(id)) => out.subscription_id = Some(id),
        Ok(None) => return Ok((out, None)),
        Err(e) => {
            out.problem(e)?;
            return Ok((out, None));
        }
    }
    if !out.managed {
        return Ok((out, None));
    }
    let SubscriberSelector::Email(email) = selector else {
        return Ok((out, None));
    };
    match ensure_user_key(ports, group_id, access, email, user.id) {
        Ok(grant) => {
            out.key_id = Some(grant.id);
            out.key_fingerprint = Some(Fingerprint::of(grant.key.expose()));
            out.key_mask = Some(mask(grant.key.expose()));
            out.key_created = grant.created;
            if let Some(from) = grant.rebound_from {
                out.warnings.push(format!(
                    "key {} of {email} was bound to {}; it is bound to group {group_id} again",
                    grant.id,
                    from.map_or("no group".to_string(), |g| format!("group {g}"))
                ));
            }
            Ok((out, Some(grant.key)))
        }
        Err(e) => {
            out.problem(e)?;
            Ok((out, None))
        }
    }
}

/// An existing host user picked by id: its allowed groups gain the group when it
/// already restricts them (an empty list means "any standard group" and is left
/// alone). Its balance is not touched.
fn existing_user(ports: &Ports<'_>, group_id: ObjectId, id: ObjectId) -> Result<User, AccessError> {
    let user = match ports.adapter.get_user(id) {
        Ok(u) => u,
        Err(e) if e.is_not_found() => return Err(AccessError::UserNotFound { user_id: id }),
        Err(e) => return Err(AccessError::host(format!("reading user {id}"), e)),
    };
    if !user.allowed_groups.is_empty() && !user.allowed_groups.contains(&group_id) {
        let mut groups = user.allowed_groups.clone();
        groups.push(group_id);
        return ports
            .adapter
            .update_user(
                id,
                &UserUpdate {
                    allowed_groups: Some(groups),
                    ..UserUpdate::default()
                },
            )
            .map_err(|e| AccessError::host(format!("allowing group {group_id} to user {id}"), e));
    }
    Ok(user)
}

/// A managed user by e-mail: found (and known to the vault) or created with a
/// generated password. Returns `Ok(None)` after recording why the user cannot be
/// used.
fn managed_user(
    ports: &Ports<'_>,
    group_id: ObjectId,
    access: &SubscriptionAccess,
    email: &str,
    is_probe: bool,
    out: &mut SubscriberOutcome,
) -> Result<Option<User>, AccessError> {
    let adapter = ports.adapter;
    let known = ports.vault.subscriber(email)?;
    let found = adapter
        .find_user_by_email(email)
        .map_err(|e| AccessError::host(format!("looking up user {email}"), e))?;
    let user = match (found, known) {
        (Some(user), None) => {
            record_reused_once(
                ports.journal,
                &NewEntry::new(ResourceType::User, email, json!({"email": email})),
                user.id,
            )?;
            if is_probe {
                return Err(AccessError::UnmanagedUser {
                    email: email.to_string(),
                });
            }
            out.warnings.push(format!(
                "user {email} was not created by the relay manager: it gets the subscription, but no key is created for it"
            ));
            return Ok(Some(user));
        }
        (Some(user), Some(known)) => {
            if known.host_user_id != Some(user.id) {
                ports.vault.set_host_user_id(email, user.id)?;
            }
            record_reused_once(
                ports.journal,
                &NewEntry::new(ResourceType::User, email, json!({"email": email})),
                user.id,
            )?;
            user
        }
        (None, _) => {
            let sub = ports
                .vault
                .get_or_create(email, generate_password(ports.random))?;
            let intent = ports.journal.record_intent(&NewEntry::new(
                ResourceType::User,
                email,
                json!({"email": email}),
            ))?;
            let created = adapter.create_user(&NewUser {
                email: email.to_string(),
                password: sub.password.clone(),
                username: None,
                notes: Some(access.notes.clone()),
                balance: Some(access.probe_balance_usd),
                // Host default (0 = no limit): a managed subscriber makes one probe
                // request at a time.
                concurrency: None,
                allowed_groups: vec![group_id],
            });
            match created {
                Ok(user) => {
                    ports
                        .journal
                        .attach_host_id(intent.id, user.id, ResourceState::Created)?;
                    ports.vault.set_host_user_id(email, user.id)?;
                    out.user_created = true;
                    user
                }
                Err(e) => {
                    // The create may have happened (timeout after the write): resolve
                    // the intent by e-mail before giving up.
                    match adapter.find_user_by_email(email) {
                        Ok(Some(user)) => {
                            ports.journal.attach_host_id(
                                intent.id,
                                user.id,
                                ResourceState::Adopted,
                            )?;
                            ports.vault.set_host_user_id(email, user.id)?;
                            user
                        }
                        _ => {
                            ports.journal.set_state(intent.id, ResourceState::Absent)?;
                            return Err(AccessError::host(format!("creating user {email}"), e));
                        }
                    }
                }
            }
        }
    };
    out.managed = true;
    let mut user = user;
    if user.balance < access.probe_balance_usd {
        user = top_up(ports, &user, access, email)?;
    }
    if !user.allowed_groups.contains(&group_id) {
        let mut groups = user.allowed_groups.clone();
        groups.push(group_id);
        user = adapter
            .update_user(
                user.id,
                &UserUpdate {
                    allowed_groups: Some(groups),
                    ..UserUpdate::default()
                },
            )
            .map_err(|e| AccessError::host(format!("allowing group {group_id} to {email}"), e))?;
    }
    Ok(Some(user))
}

/// Keys tried for one top-up: a replayed older top-up that no longer holds moves on
/// to the next key.
const TOP_UP_KEYS: u32 = 3;

/// Sets the managed user's balance to the access balance, with an
/// `Idempotency-Key` derived from the batch, the user, the target and the balance
/// seen, so a retried top-up replays. The adapter reads the user again after a
/// replay; a balance still below the target means the host replayed an older top-up,
/// so the next key is used.
fn top_up(
    ports: &Ports<'_>,
    user: &User,
    access: &SubscriptionAccess,
    email: &str,
) -> Result<User, AccessError> {
    let scope = ports
        .journal
        .scope()
        .batch_id
        .map(|b| b.as_str().to_string())
        .unwrap_or_default();
    let change = BalanceChange {
        amount: access.probe_balance_usd,
        operation: BalanceOperation::Set,
        notes: Some(access.notes.clone()),
    };
    let mut current = user.clone();
    for attempt in 0..TOP_UP_KEYS {
        let key = balance_idempotency_key(
            &scope,
            user.id,
            access.probe_balance_usd,
            user.balance,
            attempt,
        );
        current = retry_write(&WriteRetry::default(), || {
            ports.adapter.set_user_balance(user.id, &change, Some(&key))
        })
        .map_err(|e| AccessError::host(format!("topping up the balance of {email}"), e))?;
        if current.balance >= access.probe_balance_usd {
            break;
        }
    }
    Ok(current)
}

fn find_subscription(
    ports: &Ports<'_>,
    user_id: ObjectId,
    group_id: ObjectId,
) -> Result<Option<Subscription>, AccessError> {
    let subs = ports
        .adapter
        .list_subscriptions(&SubscriptionFilter {
            user_id: Some(user_id),
            group_id: Some(group_id),
        })
        .map_err(|e| AccessError::host(format!("listing subscriptions of user {user_id}"), e))?;
    Ok(subs
        .into_iter()
        .filter(|s| s.user_id == user_id && s.group_id == group_id)
        .max_by_key(|s| (s.status.is_active(), s.id)))
}

/// Makes sure the user has an active subscription to the group. `Ok(None)` after
/// recording a problem in `out`.
fn ensure_subscription(
    ports: &Ports<'_>,
    group_id: ObjectId,
    access: &SubscriptionAccess,
    validity_days: u32,
    user_id: ObjectId,
    out: &mut SubscriberOutcome,
) -> Result<Option<ObjectId>, AccessError> {
    let logical = subscription_logical_key(user_id, group_id);
    let details = json!({
        "user_id": user_id,
        "group_id": group_id,
        "validity_days": validity_days,
        "notes": access.notes,
    });
    if let Some(existing) = find_subscription(ports, user_id, group_id)? {
        if existing.status == ObjectStatus::Expired {
            return renew_expired(
                ports,
                &logical,
                &details,
                access,
                validity_days,
                existing,
                out,
            );
        }
        return keep_existing(ports, &logical, &details, existing, out);
    }
    let intent = ports.journal.record_intent(&NewEntry::new(
        ResourceType::Subscription,
        logical.clone(),
        details.clone(),
    ))?;
    let assigned = ports.adapter.assign_subscription(&SubscriptionAssignment {
        user_id,
        group_id,
        validity_days: Some(validity_days),
        notes: Some(access.notes.clone()),
    });
    match assigned {
        Ok(AssignOutcome::Assigned(sub)) => {
            ports
                .journal
                .attach_host_id(intent.id, sub.id, ResourceState::Created)?;
            out.subscription_created = true;
            Ok(Some(sub.id))
        }
        Ok(AssignOutcome::Conflict { reason, message }) => {
            ports.journal.set_state(intent.id, ResourceState::Absent)?;
            match find_subscription(ports, user_id, group_id)? {
                Some(existing) => {
                    out.warnings.push(format!(
                        "the host kept an existing subscription of user {user_id} ({reason}: {message})"
                    ));
                    keep_existing(ports, &logical, &details, existing, out)
                }
                None => {
                    out.problem(AccessError::SubscriptionConflict {
                        user_id,
                        group_id,
                        reason,
                        message,
                    })?;
                    Ok(None)
                }
            }
        }
        Err(e) => match find_subscription(ports, user_id, group_id) {
            Ok(Some(sub)) => {
                ports
                    .journal
                    .attach_host_id(intent.id, sub.id, ResourceState::Adopted)?;
                Ok(Some(sub.id))
            }
            _ => {
                ports.journal.set_state(intent.id, ResourceState::Absent)?;
                out.problem(AccessError::host(
                    format!("assigning a subscription to user {user_id}"),
                    e,
                ))?;
                Ok(None)
            }
        },
    }
}

/// An expired subscription: assigning again renews it on the host (same id, a new
/// term from now; 0.1.179 `assignSubscriptionWithReuse`), which is what the closure
/// wants. A host that answers anything but an active subscription leaves the
/// problem reported.
fn renew_expired(
    ports: &Ports<'_>,
    logical: &str,
    details: &serde_json::Value,
    access: &SubscriptionAccess,
    validity_days: u32,
    existing: Subscription,
    out: &mut SubscriberOutcome,
) -> Result<Option<ObjectId>, AccessError> {
    let assigned = ports.adapter.assign_subscription(&SubscriptionAssignment {
        user_id: existing.user_id,
        group_id: existing.group_id,
        validity_days: Some(validity_days),
        notes: Some(access.notes.clone()),
    });
    match assigned {
        Ok(AssignOutcome::Assigned(sub)) if sub.status.is_active() => {
            out.warnings.push(format!(
                "the subscription {} of user {} had expired; the host renewed it for {} days",
                sub.id, sub.user_id, validity_days
            ));
            keep_existing(ports, logical, details, sub, out)
        }
        Ok(AssignOutcome::Assigned(_)) => keep_existing(ports, logical, details, existing, out),
        Ok(AssignOutcome::Conflict { reason, message }) => {
            out.problem(AccessError::SubscriptionConflict {
                user_id: existing.user_id,
                group_id: existing.group_id,
                reason,
                message,
            })?;
            Ok(None)
        }
        Err(e) => {
            out.problem(AccessError::host(
                format!("renewing the expired subscription {}", existing.id),
                e,
            ))?;
            Ok(None)
        }
    }
}

fn keep_existing(
    ports: &Ports<'_>,
    logical: &str,
    details: &serde_json::Value,
    existing: Subscription,
    out: &mut SubscriberOutcome,
) -> Result<Option<ObjectId>, AccessError> {
    if !existing.status.is_active() {
        out.problem(AccessError::SubscriptionInactive {
            subscription_id: existing.id,
            user_id: existing.user_id,
            group_id: existing.group_id,
            status: existing.status.to_string(),
        })?;
        return Ok(None);
    }
    record_reused_once(
        ports.journal,
        &NewEntry::new(ResourceType::Subscription, logical, details.clone()),
        existing.id,
    )?;
    Ok(Some(existing.id))
}

/// A user key bound to the group.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyGrant {
    /// Host key id.
    pub id: ObjectId,
    /// The user key's value (kept in the vault; never logged or reported).
    pub key: Secret,
    /// Created now (else reused from the vault).
    pub created: bool,
    /// The reused key was bound to this other group (or to none) and was bound to
    /// the group again with admin rights.
    pub rebound_from: Option<Option<ObjectId>>,
}

/// Obtains a user key bound to `group_id` for the managed subscriber `email`
/// (host user `user_id`): reuses the vault's key when it still exists on the host,
/// active and bound to the group; when it is active but bound elsewhere (moved by
/// hand), binds it to the group again with admin rights where the host can; otherwise
/// logs in as the subscriber and creates a new key with `custom_key` (stored in the
/// vault before the create call, and journaled as an intent first).
pub fn ensure_user_key(
    ports: &Ports<'_>,
    group_id: ObjectId,
    access: &SubscriptionAccess,
    email: &str,
    user_id: ObjectId,
) -> Result<KeyGrant, AccessError> {
    let adapter = ports.adapter;
    if let Some(stored) = ports.vault.user_key(email, group_id)? {
        let keys = adapter
            .list_user_keys_admin(user_id)
            .map_err(|e| AccessError::host(format!("listing the keys of {email}"), e))?;
        if let Some(k) = keys
            .iter()
            .find(|k| k.key == stored && k.group_id == Some(group_id) && k.status.is_active())
        {
            return Ok(KeyGrant {
                id: k.id,
                key: stored,
                created: false,
                rebound_from: None,
            });
        }
        if let Some(k) = keys
            .iter()
            .find(|k| k.key == stored && k.status.is_active())
        {
            // Bound to another group (or none): move it back instead of a new key.
            // On builds without the route, or when the host refuses, a new key below.
            if let Ok(moved) = adapter.rebind_user_key(k.id, group_id) {
                if moved.group_id == Some(group_id) {
                    return Ok(KeyGrant {
                        id: moved.id,
                        key: stored,
                        created: false,
                        rebound_from: Some(k.group_id),
                    });
                }
            }
        }
    }
    let sub = ports
        .vault
        .subscriber(email)?
        .ok_or_else(|| AccessError::UnmanagedUser {
            email: email.to_string(),
        })?;
    let session = match adapter.login_user(email, &sub.password).map_err(|e| {
        let redactor = Redactor::new().with(&sub.password);
        AccessError::host(format!("logging in as {email}"), e.redacted(&redactor))
    })? {
        LoginOutcome::LoggedIn(s) => s,
        LoginOutcome::Blocked(b) => return Err(AccessError::login_blocked(email, b)),
    };
    let key = generate_user_key(ports.random);
    ports.vault.put_user_key(email, group_id, &key)?;
    let fingerprint = Fingerprint::of(key.expose());
    let intent = ports.journal.record_intent(&NewEntry::new(
        ResourceType::UserKey,
        access.key_name.clone(),
        json!({
            "user_id": user_id,
            "email": email,
            "group_id": group_id,
            "key_fingerprint": fingerprint,
            "key_mask": mask(key.expose()),
        }),
    ))?;
    // The same key value, hence the same Idempotency-Key, on every attempt: a retry
    // replays an execution the host finished instead of creating a second key.
    let idempotency_key = user_key_idempotency_key(user_id, group_id, &fingerprint);
    let new_key = NewUserKey {
        name: access.key_name.clone(),
        group_id,
        custom_key: Some(key.clone()),
    };
    let created = retry_write(&WriteRetry::default(), || {
        adapter.create_user_key(&session, &new_key, Some(&idempotency_key))
    });
    match created {
        Ok(k) => {
            ports
                .journal
                .attach_host_id(intent.id, k.id, ResourceState::Created)?;
            Ok(KeyGrant {
                id: k.id,
                key,
                created: true,
                rebound_from: None,
            })
        }
        // A refusal is never retried with the same chosen key: each API_KEY_EXISTS
        // counts towards the host's lock on chosen keys. Whether the key exists (a
        // create the host finished but did not answer) is decided by listing.
        Err(e) => {
            let adopted = adapter
                .list_user_keys_admin(user_id)
                .ok()
                .and_then(|keys| keys.into_iter().find(|k| k.key == key));
            match adopted {
                Some(k) => {
                    ports
                        .journal
                        .attach_host_id(intent.id, k.id, ResourceState::Adopted)?;
                    Ok(KeyGrant {
                        id: k.id,
                        key,
                        created: true,
                        rebound_from: None,
                    })
                }
                None => {
                    ports.journal.set_state(intent.id, ResourceState::Absent)?;
                    if e.code().as_deref() == Some(API_KEY_RATE_LIMITED) {
                        return Err(AccessError::KeyCreateLocked {
                            email: email.to_string(),
                        });
                    }
                    // The host may quote the session and the chosen key.
                    let redactor = Redactor::new()
                        .with(&session.access_token)
                        .with(&key)
                        .with(&sub.password);
                    Err(AccessError::host(
                        format!("creating a key for {email} in group {group_id}"),
                        e.redacted(&redactor),
                    ))
                }
            }
        }
    }
}
