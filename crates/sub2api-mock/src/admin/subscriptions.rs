//! Subscriptions: `/api/v1/admin/subscriptions` and `/api/v1/admin/groups/:id/subscriptions`.

use serde_json::Value;

use crate::auth::Principal;
use crate::http::{err, err_meta, ok, ok_message, page_params, paginate, path_id, Body, Req, Resp};
use crate::state::{State, Subscription};
use crate::util::now_ms;

type R = Result<Resp, Resp>;

const DAY_MS: i64 = 86_400_000;

/// A subscription that is not revoked (revoked ones are soft-deleted: 404).
fn find(st: &State, id: i64) -> Result<&Subscription, Resp> {
    st.subscriptions
        .get(&id)
        .filter(|s| !s.is_revoked())
        .ok_or_else(|| err(404, "subscription not found", "SUBSCRIPTION_NOT_FOUND"))
}

fn listed(st: &State, req: &Req, group: Option<i64>) -> R {
    let (page, size) = page_params(req);
    let user_id = req
        .q_nonempty("user_id")
        .and_then(|v| v.parse::<i64>().ok());
    let group_id = group.or_else(|| {
        req.q_nonempty("group_id")
            .and_then(|v| v.parse::<i64>().ok())
    });
    let status = req.q_nonempty("status");
    let now = now_ms();
    let mut subs: Vec<&Subscription> = st
        .subscriptions
        .values()
        .filter(|s| user_id.is_none_or(|u| s.user_id == u))
        .filter(|s| group_id.is_none_or(|g| s.group_id == g))
        // No status filter lists revoked (soft-deleted) rows too, as the host does.
        .filter(|s| status.is_none_or(|x| s.effective_status(now) == x))
        // The admin list shows revoked subscriptions (status `revoked`); the
        // per-group list does not.
        .filter(|s| group.is_none() || !s.is_revoked())
        .collect();
    subs.sort_by_key(|s| (s.created_at, s.id));
    if req.q("sort_order") != Some("asc") {
        subs.reverse();
    }
    let items: Vec<Value> = subs.iter().map(|s| st.admin_sub_dto(s)).collect();
    Ok(ok(paginate(items, page, size)))
}

pub(super) fn list(st: &mut State, req: &Req) -> R {
    listed(st, req, None)
}

pub(super) fn list_for_group(st: &mut State, req: &Req, id: &str) -> R {
    let id = path_id(id, "group")?;
    if !st.groups.contains_key(&id) {
        return Err(err(404, "group not found", "GROUP_NOT_FOUND"));
    }
    listed(st, req, Some(id))
}

pub(super) fn get(st: &mut State, id: &str) -> R {
    let id = path_id(id, "subscription")?;
    Ok(ok(st.admin_sub_dto(find(st, id)?)))
}

pub(super) fn assign(st: &mut State, req: &Req, who: Principal) -> R {
    let map = req.json_object()?;
    let b = Body::new(&map, "AssignSubscriptionRequest");
    let Some(user_id) = b.i64("user_id")?.filter(|v| *v != 0) else {
        return Err(b.invalid("user_id", "required"));
    };
    let Some(group_id) = b.i64("group_id")?.filter(|v| *v != 0) else {
        return Err(b.invalid("group_id", "required"));
    };
    let validity_days = b.i64("validity_days")?.filter(|v| *v != 0).unwrap_or(30);
    if validity_days < 0 {
        return Err(b.invalid("validity_days", "min"));
    }
    if validity_days > 36_500 {
        return Err(b.invalid("validity_days", "max"));
    }
    let notes = b.str("notes")?.unwrap_or_default();
    if !st.users.contains_key(&user_id) {
        return Err(err(404, "user not found", "USER_NOT_FOUND"));
    }
    let Some(group) = st.groups.get(&group_id) else {
        return Err(err(404, "group not found", "GROUP_NOT_FOUND"));
    };
    if group.subscription_type != "subscription" {
        return Err(err(
            400,
            "group is not a subscription type group",
            "GROUP_NOT_SUBSCRIPTION_TYPE",
        ));
    }
    let now = now_ms();
    if let Some(existing) = st.subscription_for(user_id, group_id).cloned() {
        if existing.effective_status(now) == "expired" {
            // The host renews an expired subscription in place (same id): a new term
            // from now, status active, different notes appended on a new line.
            let notes = notes.trim();
            let renewed = Subscription {
                starts_at: now,
                expires_at: now + validity_days * DAY_MS,
                status: "active".into(),
                notes: if notes.is_empty() || existing.notes.trim() == notes {
                    existing.notes.clone()
                } else if existing.notes.is_empty() {
                    notes.to_string()
                } else {
                    format!("{}\n{notes}", existing.notes)
                },
                updated_at: now,
                ..existing
            };
            let id = renewed.id;
            st.subscriptions.insert(id, renewed);
            return Ok(ok(st.admin_sub_dto(&st.subscriptions[&id])));
        }
        let existing = &existing;
        let same_validity = existing.expires_at - existing.starts_at == validity_days * DAY_MS;
        if !same_validity {
            return Err(err_meta(
                409,
                "subscription already exists with a different validity",
                "SUBSCRIPTION_ASSIGN_CONFLICT",
                &[("conflict_reason", "validity_days_mismatch")],
            ));
        }
        if existing.notes != notes {
            return Err(err_meta(
                409,
                "subscription already exists with different notes",
                "SUBSCRIPTION_ASSIGN_CONFLICT",
                &[("conflict_reason", "notes_mismatch")],
            ));
        }
        return Ok(ok(st.admin_sub_dto(existing)));
    }
    let id = st.next_id("subscription");
    st.subscriptions.insert(
        id,
        Subscription {
            id,
            user_id,
            group_id,
            starts_at: now,
            expires_at: now + validity_days * DAY_MS,
            status: "active".into(),
            notes,
            assigned_by: Some(who.user_id),
            assigned_at: now,
            created_at: now,
            updated_at: now,
            revoked_at: None,
        },
    );
    Ok(ok(st.admin_sub_dto(&st.subscriptions[&id])))
}

/// Revoke: a soft delete. The row stays (admin list, status `revoked`), every
/// other read answers 404, the gateway refuses it and a new assign creates a new row.
pub(super) fn delete(st: &mut State, id: &str) -> R {
    let id = path_id(id, "subscription")?;
    find(st, id)?;
    // A soft delete: the row stays, listed as `revoked`; a new assign makes a new row.
    let now = now_ms();
    if let Some(s) = st.subscriptions.get_mut(&id) {
        s.revoked_at = Some(now);
        s.updated_at = now;
    }
    Ok(ok_message("Subscription revoked successfully"))
}
