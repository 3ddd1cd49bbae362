//! End-user API keys: `/api/v1/keys` (user JWT).

use serde_json::Value;

use crate::auth::user_auth;
use crate::http::{
    bad_request, err, ok, ok_message, page_params, paginate, path_id, Body, Req, Resp,
};
use crate::idempotency::{self, Spec};
use crate::limits;
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

/// `POST /api/v1/keys`: binds and checks the request like the handler, then runs the
/// service's create under the idempotency coordinator (scope `user.api_keys.create`,
/// key required when enforced).
fn create(st: &mut State, req: &Req, uid: i64) -> R {
    *st.counters
        .entry("POST /api/v1/keys".to_string())
        .or_insert(0) += 1;
    let map = req.json_object()?;
    let b = Body::new(&map, "CreateAPIKeyRequest");
    let name = b.req_str("name")?;
    let group_id = b.i64("group_id")?.filter(|g| *g > 0);
    let custom = b.str("custom_key")?.filter(|k| !k.is_empty());
    let quota = b.f64("quota")?;
    let expires_in_days = b.i64("expires_in_days")?;
    let ip_whitelist = b.arr("ip_whitelist")?.unwrap_or_default();
    let ip_blacklist = b.arr("ip_blacklist")?.unwrap_or_default();
    if quota.is_some_and(|q| !q.is_finite() || q < 0.0) || expires_in_days.is_some_and(|d| d <= 0) {
        return Err(bad_request("Invalid request: numeric limits must be finite and non-negative, and expires_in_days must be greater than zero"));
    }
    let spec = Spec {
        scope: "user.api_keys.create",
        route: "/api/v1/keys",
        actor: format!("user:{uid}"),
        payload: Value::Object(map.clone()),
    };
    let claim = idempotency::begin(st, req, &spec)?;
    let outcome = (|| -> R {
        if let Some(g) = group_id {
            check_group_allowed(st, uid, g)?;
        }
        if let Some(k) = &custom {
            limits::custom_key_allowed(st, uid)?;
            if k.chars().count() < 16 {
                return Err(err(
                    400,
                    "api key must be at least 16 characters",
                    "API_KEY_TOO_SHORT",
                ));
            }
            if !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(err(
                    400,
                    "api key can only contain letters, numbers, underscores, and hyphens",
                    "API_KEY_INVALID_CHARS",
                ));
            }
            if st.keys.values().any(|x| &x.key == k) {
                limits::count_key_failure(st, uid);
                return Err(err(409, "api key already exists", "API_KEY_EXISTS"));
            }
        }
        let key = match &custom {
            Some(k) => k.clone(),
            None => {
                let seq = st.next_seq();
                format!(
                    "sk-{}",
                    sha256_hex(
                        format!("{}:key:{uid}:{seq}:{}", st.token_secret, now_ms()).as_bytes()
                    )
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
                ip_whitelist,
                ip_blacklist,
                quota: quota.unwrap_or(0.0),
                quota_used: 0.0,
                expires_at: expires_in_days.map(|d| now + d * 86_400_000),
                last_used_at: None,
                created_at: now,
                updated_at: now,
            },
        );
        Ok(ok(st.key_dto(&st.keys[&id])))
    })()
    .unwrap_or_else(|e| e);
    Ok(idempotency::finish(st, &claim, outcome))
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
