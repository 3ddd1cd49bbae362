//! Groups: `/api/v1/admin/groups`.

use serde_json::Value;

use crate::http::{
    bad_request, err, internal_error, ok, ok_message, page_params, paginate, path_id, Body, Req,
    Resp,
};
use crate::state::{Group, State};
use crate::util::now_ms;

/// The host's group platforms (`CreateGroupRequest.Platform` `oneof`, 0.1.179).
const PLATFORMS: &[&str] = &[
    "anthropic",
    "openai",
    "gemini",
    "antigravity",
    "grok",
    "kimi",
    "zhipu",
    "deepseek",
    "composite",
];

type R = Result<Resp, Resp>;

fn find(st: &State, id: i64) -> Result<&Group, Resp> {
    st.groups
        .get(&id)
        .ok_or_else(|| err(404, "group not found", "GROUP_NOT_FOUND"))
}

pub(super) fn list(st: &mut State, req: &Req) -> R {
    let (page, size) = page_params(req);
    let platform = req.q_nonempty("platform");
    let status = req.q_nonempty("status");
    let search = req.q_nonempty("search").map(str::to_lowercase);
    let exclusive = req.q_nonempty("is_exclusive").map(|v| v == "true");
    let mut groups: Vec<&Group> = st
        .groups
        .values()
        .filter(|g| platform.is_none_or(|p| g.platform == p))
        .filter(|g| status.is_none_or(|s| g.status == s))
        .filter(|g| {
            search
                .as_ref()
                .is_none_or(|s| g.name.to_lowercase().contains(s))
        })
        .filter(|g| exclusive.is_none_or(|e| g.is_exclusive == e))
        .collect();
    groups.sort_by_key(|g| (g.sort_order, g.id));
    if req.q("sort_order") == Some("desc") {
        groups.reverse();
    }
    let items: Vec<Value> = groups.iter().map(|g| st.admin_group_dto(g)).collect();
    Ok(ok(paginate(items, page, size)))
}

pub(super) fn all(st: &mut State, req: &Req) -> R {
    let platform = req.q_nonempty("platform");
    let items: Vec<Value> = st
        .groups
        .values()
        .filter(|g| g.status == "active" && platform.is_none_or(|p| g.platform == p))
        .map(|g| st.admin_group_dto(g))
        .collect();
    Ok(ok(Value::Array(items)))
}

pub(super) fn get(st: &mut State, id: &str) -> R {
    let id = path_id(id, "group")?;
    let g = find(st, id)?;
    Ok(ok(st.admin_group_dto(g)))
}

/// The group platforms of an old build (0.1.27: `oneof=anthropic openai gemini`).
const OLD_BUILD_PLATFORMS: &[&str] = &["anthropic", "openai", "gemini"];

/// Checks a group platform against this build's enum: the old build's with the
/// `old_build` knob, the 0.1.179 one without the native CN platforms on builds that
/// predate them, else the 0.1.179 one.
fn validate_platform(st: &State, b: &Body, p: &str) -> Result<(), Resp> {
    let known = if st.knobs.old_build {
        OLD_BUILD_PLATFORMS.contains(&p)
    } else {
        PLATFORMS.contains(&p) && (st.has_cn_platforms() || !crate::state::is_cn_provider(p))
    };
    if known {
        Ok(())
    } else {
        Err(b.invalid("platform", "oneof"))
    }
}

fn validate_subscription_type(b: &Body, s: &str) -> Result<(), Resp> {
    if s == "standard" || s == "subscription" {
        Ok(())
    } else {
        Err(b.invalid("subscription_type", "oneof"))
    }
}

/// Applies the optional fields shared by create and update.
fn apply_common(st: &State, b: &Body, g: &mut Group, is_update: bool) -> Result<(), Resp> {
    if let Some(v) = b.str("description")? {
        g.description = v;
    }
    if let Some(v) = b.str("platform")? {
        validate_platform(st, b, &v)?;
        g.platform = v;
    }
    if let Some(v) = b.f64("rate_multiplier")? {
        // The host's service refuses `<= 0` with a plain error: 500 `internal error`.
        if v <= 0.0 {
            return Err(internal_error());
        }
        g.rate_multiplier = v;
    }
    if let Some(v) = b.bool("is_exclusive")? {
        g.is_exclusive = v;
    }
    if let Some(v) = b.str("subscription_type")? {
        validate_subscription_type(b, &v)?;
        g.subscription_type = v;
    }
    for key in [
        "five_hour_limit_usd",
        "daily_limit_usd",
        "weekly_limit_usd",
        "monthly_limit_usd",
    ] {
        // New builds: absent = unchanged; null or "" = cleared (unlimited).
        if !b.has(key) {
            continue;
        }
        let v = b.f64_lenient(key)?;
        if v.is_some_and(|x| x < 0.0) {
            return Err(b.invalid(key, "min"));
        }
        let slot = match key {
            "five_hour_limit_usd" => &mut g.five_hour_limit_usd,
            "daily_limit_usd" => &mut g.daily_limit_usd,
            "weekly_limit_usd" => &mut g.weekly_limit_usd,
            _ => &mut g.monthly_limit_usd,
        };
        *slot = v;
    }
    if let Some(v) = b.bool("claude_code_only")? {
        g.claude_code_only = v;
    }
    if b.has("fallback_group_id") {
        g.fallback_group_id = b.i64("fallback_group_id")?.filter(|v| *v > 0);
    }
    if let Some(v) = b.i64("rpm_limit")? {
        g.rpm_limit = v;
    }
    if let Some(v) = b.obj("model_routing")? {
        g.model_routing = v;
    }
    if let Some(v) = b.bool("model_routing_enabled")? {
        g.model_routing_enabled = v;
    }
    if is_update {
        if let Some(v) = b.str("status")? {
            if v != "active" && v != "inactive" {
                return Err(b.invalid("status", "oneof"));
            }
            g.status = v;
        }
    }
    Ok(())
}

pub(super) fn create(st: &mut State, req: &Req) -> R {
    let map = req.json_object()?;
    let b = Body::new(&map, "CreateGroupRequest");
    let name = b.req_str("name")?;
    let now = now_ms();
    let mut g = Group {
        id: 0,
        name,
        description: String::new(),
        platform: "anthropic".to_string(),
        rate_multiplier: 0.0,
        is_exclusive: false,
        status: "active".to_string(),
        subscription_type: "standard".to_string(),
        five_hour_limit_usd: None,
        daily_limit_usd: None,
        weekly_limit_usd: None,
        monthly_limit_usd: None,
        claude_code_only: false,
        fallback_group_id: None,
        rpm_limit: 0,
        sort_order: 0,
        model_routing: Default::default(),
        model_routing_enabled: false,
        created_at: now,
        updated_at: now,
    };
    apply_common(st, &b, &mut g, false)?;
    // An omitted multiplier is 0 for the host's service, which refuses it (500).
    if g.rate_multiplier <= 0.0 {
        return Err(internal_error());
    }
    if st.groups.values().any(|o| o.name == g.name) {
        return Err(err(409, "group name already exists", "GROUP_EXISTS"));
    }
    let copy_from = b
        .i64_vec("copy_accounts_from_group_ids")?
        .unwrap_or_default();
    for src in &copy_from {
        find(st, *src)?;
    }
    g.id = st.next_id("group");
    g.sort_order = g.id;
    let id = g.id;
    st.groups.insert(id, g);
    let ids: Vec<i64> = st
        .accounts
        .values()
        .filter(|a| a.group_ids.iter().any(|x| copy_from.contains(x)))
        .map(|a| a.id)
        .collect();
    for aid in ids {
        if let Some(a) = st.accounts.get_mut(&aid) {
            a.group_ids.push(id);
        }
    }
    Ok(ok(st.admin_group_dto(&st.groups[&id])))
}

pub(super) fn update(st: &mut State, req: &Req, id: &str) -> R {
    let id = path_id(id, "group")?;
    let map = req.json_object()?;
    let b = Body::new(&map, "UpdateGroupRequest");
    let mut g = find(st, id)?.clone();
    if let Some(name) = b.str("name")? {
        if name.is_empty() {
            return Err(bad_request("Invalid request: name cannot be empty"));
        }
        if st.groups.values().any(|o| o.id != id && o.name == name) {
            return Err(err(409, "group name already exists", "GROUP_EXISTS"));
        }
        g.name = name;
    }
    apply_common(st, &b, &mut g, true)?;
    g.updated_at = now_ms();
    st.groups.insert(id, g);
    Ok(ok(st.admin_group_dto(&st.groups[&id])))
}

pub(super) fn delete(st: &mut State, id: &str) -> R {
    let id = path_id(id, "group")?;
    find(st, id)?;
    st.groups.remove(&id);
    for a in st.accounts.values_mut() {
        a.group_ids.retain(|g| *g != id);
    }
    for c in st.channels.values_mut() {
        c.group_ids.retain(|g| *g != id);
    }
    for k in st.keys.values_mut() {
        if k.group_id == Some(id) {
            k.group_id = None;
        }
    }
    for u in st.users.values_mut() {
        u.allowed_groups.retain(|g| *g != id);
    }
    st.subscriptions.retain(|_, s| s.group_id != id);
    Ok(ok_message("Group deleted successfully"))
}

pub(super) fn api_keys(st: &mut State, req: &Req, id: &str) -> R {
    let id = path_id(id, "group")?;
    find(st, id)?;
    let (page, size) = page_params(req);
    let items: Vec<Value> = st
        .keys
        .values()
        .filter(|k| k.group_id == Some(id))
        .map(|k| st.key_dto(k))
        .collect();
    Ok(ok(paginate(items, page, size)))
}
