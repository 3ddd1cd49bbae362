//! End-user API keys: `/api/v1/keys` (user JWT).

use serde_json::Value;

use crate::auth::user_auth;
use crate::http::{err, ok, ok_message, page_params, paginate, path_id, Body, Req, Resp};
use crate::server::{lock, Ctx};
use crate::state::{ApiKey, State};
use crate::util::{now_ms, sha256_hex};

type R = Result<Resp, Resp>;

/// Routes `/api/v1/keys[/:id]`; `None` when no route matches.
pub(crate) fn handle(ctx: &Ctx, req: &Req) -> Option<Resp> {
    let rest = req.path.strip_prefix("/api/v1/keys").unwrap_or("");
    let id = rest
        .strip_prefix('/')
        .filter(|s| !s.is_empty() && !s.contains('/'));
    let method = req.method.as_str();
    let known = matches!(
        (method, id.is_some(), rest.is_empty()),
        ("GET" | "POST", false, true) | ("GET" | "PUT" | "DELETE", true, _)
    );
    if !known {
        return None;
    }
    let mut st = lock(ctx);
    let uid = match user_auth(&st, req) {
        Ok(u) => u,
        Err(r) => return Some(r),
    };
    let r = match (method, id) {
        ("GET", None) => list(&st, req, uid),
        ("POST", None) => create(&mut st, req, uid),
        ("GET", Some(id)) => get(&st, uid, id),
        ("PUT", Some(id)) => update(&mut st, req, uid, id),
        ("DELETE", Some(id)) => delete(&mut st, uid, id),
        _ => return None,
    };
    Some(r.unwrap_or_else(|e| e))
}

/// Go's `html.EscapeString`, which the host applies to key names on create and update.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

fn own_key(st: &State, uid: i64, id: &str) -> Result<i64, Resp> {
    let id = path_id(id, "key")?;
    match st.keys.get(&id) {
        Some(k) if k.user_id == uid => Ok(id),
        _ => Err(err(404, "api key not found", "API_KEY_NOT_FOUND")),
    }
}

/// Whether `uid` may bind a key to `group_id` (403 `GROUP_NOT_ALLOWED` otherwise).
pub(crate) fn check_group_allowed(st: &State, uid: i64, group_id: i64) -> Result<(), Resp> {
    let Some(g) = st.groups.get(&group_id) else {
        return Err(err(404, "group not found", "GROUP_NOT_FOUND"));
    };
    let not_allowed = || err(403, "not allowed to use this group", "GROUP_NOT_ALLOWED");
    if g.status != "active" {
        return Err(not_allowed());
    }
    let user = st.users.get(&uid).ok_or_else(not_allowed)?;
    if g.subscription_type == "subscription" {
        let now = now_ms();
        let active = st
            .subscription_for(uid, group_id)
            .is_some_and(|s| s.effective_status(now) == "active");
        return if active { Ok(()) } else { Err(not_allowed()) };
    }
    if !user.allowed_groups.is_empty() {
        return if user.allowed_groups.contains(&group_id) {
            Ok(())
        } else {
            Err(not_allowed())
        };
    }
    if g.is_exclusive {
        return Err(not_allowed());
    }
    Ok(())
}

fn list(st: &State, req: &Req, uid: i64) -> R {
    let (page, size) = page_params(req);
    let mut items: Vec<Value> = st
        .keys
        .values()
        .filter(|k| k.user_id == uid)
        .map(|k| st.key_dto(k))
        .collect();
    items.reverse();
    Ok(ok(paginate(items, page, size)))
}

fn get(st: &State, uid: i64, id: &str) -> R {
    let id = own_key(st, uid, id)?;
    Ok(ok(st.key_dto(&st.keys[&id])))
}

fn create(st: &mut State, req: &Req, uid: i64) -> R {
    let map = req.json_object()?;
    let b = Body::new(&map, "CreateAPIKeyRequest");
    let name = b.req_str("name")?;
    let group_id = b.i64("group_id")?.filter(|g| *g > 0);
    let custom = b.str("custom_key")?.filter(|k| !k.is_empty());
    if let Some(k) = &custom {
        if k.chars().count() < 16 {
            return Err(err(
                400,
                "custom key must be at least 16 characters",
                "API_KEY_TOO_SHORT",
            ));
        }
        if !k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(err(
                400,
                "custom key may only contain letters, digits, '_' and '-'",
                "API_KEY_INVALID_CHARS",
            ));
        }
        if st.keys.values().any(|x| &x.key == k) {
            return Err(err(409, "api key already exists", "API_KEY_EXISTS"));
        }
    }
    if let Some(g) = group_id {
        check_group_allowed(st, uid, g)?;
    }
    let quota = b.f64("quota")?.unwrap_or(0.0);
    let expires_at = b
        .i64("expires_in_days")?
        .filter(|d| *d > 0)
        .map(|d| now_ms() + d * 86_400_000);
    let key = match custom {
        Some(k) => k,
        None => {
            let seq = st.next_seq();
            format!(
                "sk-{}",
                sha256_hex(format!("{}:key:{uid}:{seq}:{}", st.token_secret, now_ms()).as_bytes())
            )
        }
    };
    let now = now_ms();
    let id = st.next_id("api_key");
    st.keys.insert(
        id,
        ApiKey {
            id,
            user_id: uid,
            key,
            name: html_escape(&name),
            group_id,
            status: "active".into(),
            ip_whitelist: b.arr("ip_whitelist")?.unwrap_or_default(),
            ip_blacklist: b.arr("ip_blacklist")?.unwrap_or_default(),
            quota,
            quota_used: 0.0,
            expires_at,
            last_used_at: None,
            created_at: now,
            updated_at: now,
        },
    );
    Ok(ok(st.key_dto(&st.keys[&id])))
}

fn update(st: &mut State, req: &Req, uid: i64, id: &str) -> R {
    let id = own_key(st, uid, id)?;
    let map = req.json_object()?;
    let b = Body::new(&map, "UpdateAPIKeyRequest");
    let mut k = st.keys[&id].clone();
    if let Some(n) = b.str("name")? {
        k.name = html_escape(&n);
    }
    if b.present("group_id") {
        match b.i64("group_id")?.filter(|g| *g > 0) {
            Some(g) => {
                check_group_allowed(st, uid, g)?;
                k.group_id = Some(g);
            }
            None => k.group_id = None,
        }
    }
    if let Some(s) = b.str("status")? {
        if s != "active" && s != "inactive" {
            return Err(b.invalid("status", "oneof"));
        }
        k.status = s;
    }
    if let Some(v) = b.arr("ip_whitelist")? {
        k.ip_whitelist = v;
    }
    if let Some(v) = b.arr("ip_blacklist")? {
        k.ip_blacklist = v;
    }
    if let Some(q) = b.f64("quota")? {
        k.quota = q;
    }
    if b.bool("reset_quota")? == Some(true) {
        k.quota_used = 0.0;
    }
    k.updated_at = now_ms();
    st.keys.insert(id, k);
    Ok(ok(st.key_dto(&st.keys[&id])))
}

fn delete(st: &mut State, uid: i64, id: &str) -> R {
    let id = own_key(st, uid, id)?;
    st.keys.remove(&id);
    Ok(ok_message("API key deleted successfully"))
}
