//! `PUT /api/v1/admin/api-keys/:id`: an admin moves a user's key to another group
//! (`{"group_id": n}`; 0 unbinds, absent leaves it), keeping the key value.

use serde_json::json;

use crate::http::{err, ok, path_id, Body, Req, Resp};
use crate::state::State;
use crate::util::now_ms;

type R = Result<Resp, Resp>;

pub(super) fn update_group(st: &mut State, req: &Req, id: &str) -> R {
    let id = path_id(id, "API key")?;
    let map = req.json_object()?;
    let b = Body::new(&map, "AdminUpdateAPIKeyGroupRequest");
    let group_id = b.i64("group_id")?;
    let Some(key) = st.keys.get(&id).cloned() else {
        return Err(err(404, "api key not found", "API_KEY_NOT_FOUND"));
    };
    let answer = |st: &State, granted: Option<(i64, String)>| {
        let mut v = json!({
            "api_key": st.key_dto(&st.keys[&id]),
            "auto_granted_group_access": granted.is_some(),
        });
        if let Some((gid, name)) = granted {
            v["granted_group_id"] = json!(gid);
            v["granted_group_name"] = json!(name);
        }
        ok(v)
    };
    let Some(gid) = group_id else {
        return Ok(answer(st, None));
    };
    if gid < 0 {
        return Err(err(
            400,
            "group_id must be non-negative",
            "INVALID_GROUP_ID",
        ));
    }
    let mut granted = None;
    if gid == 0 {
        if let Some(k) = st.keys.get_mut(&id) {
            k.group_id = None;
            k.updated_at = now_ms();
        }
        return Ok(answer(st, None));
    }
    let Some(group) = st.groups.get(&gid).cloned() else {
        return Err(err(404, "group not found", "GROUP_NOT_FOUND"));
    };
    if group.status != "active" {
        return Err(err(400, "target group is not active", "GROUP_NOT_ACTIVE"));
    }
    if group.subscription_type == "subscription" {
        let now = now_ms();
        let active = st
            .subscription_for(key.user_id, gid)
            .is_some_and(|s| s.effective_status(now) == "active");
        if !active {
            return Err(err(
                400,
                "user does not have an active subscription for this group",
                "SUBSCRIPTION_REQUIRED",
            ));
        }
    } else if group.is_exclusive {
        if let Some(u) = st.users.get_mut(&key.user_id) {
            if !u.allowed_groups.contains(&gid) {
                u.allowed_groups.push(gid);
            }
        }
        granted = Some((gid, group.name.clone()));
    }
    if let Some(k) = st.keys.get_mut(&id) {
        k.group_id = Some(gid);
        k.updated_at = now_ms();
    }
    Ok(answer(st, granted))
}
