//! Accounts: `/api/v1/admin/accounts` (CRUD, batch, idempotency, state endpoints,
//! models, the SSE account test, and the asynchronous Responses probe).

use std::time::Duration;

use hyper::header::HeaderValue;
use serde_json::{json, Map, Value};

use crate::http::{
    bad_request, err, ok, ok_message, page_params, paginate, path_id, raw, resp_body_bytes,
    resp_message, Body, Req, Resp,
};
use crate::server::{lock, Ctx};
use crate::sse;
use crate::state::{Account, IdemRecord, State, SENSITIVE_CREDENTIAL_KEYS};
use crate::util::{now_ms, sha256_hex};
use crate::vendor::{self, Endpoint};

type R = Result<Resp, Resp>;

const TYPES: &[&str] = &[
    "oauth",
    "setup-token",
    "apikey",
    "upstream",
    "bedrock",
    "service_account",
];

fn find(st: &State, id: i64) -> Result<&Account, Resp> {
    st.accounts
        .get(&id)
        .ok_or_else(|| err(404, "account not found", "ACCOUNT_NOT_FOUND"))
}

fn dto(st: &State, id: i64) -> Value {
    st.accounts
        .get(&id)
        .map(|a| st.account_dto(a))
        .unwrap_or(Value::Null)
}

/// Canonical JSON text (sorted keys) for idempotency fingerprints.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// Runs `f` under `Idempotency-Key` semantics (replay / conflict / store on 2xx).
pub(super) fn idempotent(
    st: &mut State,
    req: &Req,
    scope: &str,
    f: impl FnOnce(&mut State) -> R,
) -> R {
    let Some(key) = req
        .header("idempotency-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
    else {
        return f(st);
    };
    if key.len() > 128 || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(err(
            400,
            "invalid idempotency key",
            "IDEMPOTENCY_KEY_INVALID",
        ));
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let hash = sha256_hex(canonical(&body).as_bytes());
    let slot = format!("{scope}\u{0}{key}");
    if let Some(rec) = st.idempotency.get(&slot) {
        if rec.body_hash != hash {
            return Err(err(
                409,
                "idempotency key reused with a different payload",
                "IDEMPOTENCY_KEY_CONFLICT",
            ));
        }
        let mut r = raw(
            rec.status,
            "application/json; charset=utf-8",
            rec.body.clone(),
        );
        r.headers_mut()
            .insert("x-idempotency-replayed", HeaderValue::from_static("true"));
        return Ok(r);
    }
    let resp = f(st)?;
    let status = resp.status().as_u16();
    let bytes = resp_body_bytes(resp);
    if (200..300).contains(&status) {
        st.idempotency.insert(
            slot,
            IdemRecord {
                body_hash: hash,
                status,
                body: bytes.to_vec(),
            },
        );
    }
    Ok(raw(status, "application/json; charset=utf-8", bytes))
}

/// Schedules the asynchronous Responses-capability probe for an OpenAI API-key account.
pub(crate) fn spawn_responses_probe(ctx: &Ctx, st: &State, id: i64) {
    let Some(a) = st.accounts.get(&id) else {
        return;
    };
    if a.platform != "openai" || a.kind != "apikey" {
        return;
    }
    let delay = st.faults.responses_probe_delay_ms;
    let ctx = ctx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut st = lock(&ctx);
        let misdetect = st.faults.responses_misdetection;
        if let Some(a) = st.accounts.get_mut(&id) {
            if a.platform == "openai" && a.kind == "apikey" {
                let supported = if vendor::is_official(&a.platform, a.base_url()) {
                    true
                } else {
                    misdetect
                };
                a.extra
                    .insert("openai_responses_supported".into(), json!(supported));
            }
        }
    });
}

fn check_groups(st: &State, ids: &[i64]) -> Result<(), Resp> {
    for g in ids {
        if !st.groups.contains_key(g) {
            return Err(err(404, "group not found", "GROUP_NOT_FOUND"));
        }
    }
    Ok(())
}

fn check_proxy(b: &Body) -> Result<Option<i64>, Resp> {
    match b.i64("proxy_id")? {
        Some(p) if p > 0 => Err(err(404, "proxy not found", "PROXY_NOT_FOUND")),
        _ => Ok(None),
    }
}

/// Validates a create request and inserts the account; returns its id.
fn create_one(st: &mut State, map: &Map<String, Value>) -> Result<i64, Resp> {
    let b = Body::new(map, "CreateAccountRequest");
    let name = b.req_str("name")?;
    // The host requires a platform but does not check it against a list
    // (verified on 0.1.179: `sora` and `bogus` are stored as given).
    let platform = b.req_str("platform")?;
    let kind = b.req_str("type")?;
    if !TYPES.contains(&kind.as_str()) {
        return Err(b.invalid("type", "oneof"));
    }
    let Some(credentials) = b.obj("credentials")? else {
        return Err(b.invalid("credentials", "required"));
    };
    let extra = b.obj("extra")?.unwrap_or_default();
    let proxy_id = check_proxy(&b)?;
    let group_ids = b.i64_vec("group_ids")?.unwrap_or_default();
    check_groups(st, &group_ids)?;
    let rate_multiplier = b.f64("rate_multiplier")?.unwrap_or(1.0);
    if rate_multiplier < 0.0 {
        return Err(b.invalid("rate_multiplier", "min"));
    }
    // An omitted concurrency is stored as 0, which the host treats as "no limit".
    let concurrency = b.i64("concurrency")?.unwrap_or(0);
    let now = now_ms();
    let mut ids = group_ids;
    ids.dedup();
    let a = Account {
        id: st.next_id("account"),
        name,
        notes: b.str("notes")?,
        platform,
        kind,
        credentials,
        extra,
        proxy_id,
        concurrency,
        priority: b.i64("priority")?.unwrap_or(1),
        rate_multiplier,
        load_factor: b.i64("load_factor")?,
        status: "active".into(),
        error_message: String::new(),
        schedulable: true,
        expires_at: b.i64("expires_at")?,
        auto_pause_on_expired: b.bool("auto_pause_on_expired")?.unwrap_or(true),
        group_ids: ids,
        temp_unsched: None,
        rate_limited_at: None,
        rate_limit_reset_at: None,
        last_used_at: None,
        tested: false,
        created_at: now,
        updated_at: now,
    };
    let id = a.id;
    st.accounts.insert(id, a);
    Ok(id)
}

pub(super) fn list(st: &mut State, req: &Req) -> R {
    let (page, size) = page_params(req);
    let group_filter = match req.q_nonempty("group") {
        None => None,
        Some("ungrouped") => Some(None),
        Some(g) => match g.parse::<i64>() {
            Ok(id) => Some(Some(id)),
            Err(_) => return Err(err(400, "invalid group filter", "INVALID_GROUP_FILTER")),
        },
    };
    let platform = req.q_nonempty("platform");
    let kind = req.q_nonempty("type");
    let status = req.q_nonempty("status");
    let search = req.q_nonempty("search").map(str::to_lowercase);
    let mut accts: Vec<&Account> = st
        .accounts
        .values()
        .filter(|a| match group_filter {
            None => true,
            Some(None) => a.group_ids.is_empty(),
            Some(Some(g)) => a.group_ids.contains(&g),
        })
        .filter(|a| platform.is_none_or(|p| a.platform == p))
        .filter(|a| kind.is_none_or(|t| a.kind == t))
        .filter(|a| status.is_none_or(|s| a.status == s))
        .filter(|a| {
            search
                .as_ref()
                .is_none_or(|s| a.name.to_lowercase().contains(s))
        })
        .collect();
    match req.q("sort_by").unwrap_or("name") {
        "id" => accts.sort_by_key(|a| a.id),
        "created_at" => accts.sort_by_key(|a| (a.created_at, a.id)),
        "priority" => accts.sort_by_key(|a| (a.priority, a.id)),
        _ => accts.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id))),
    }
    if req.q("sort_order") == Some("desc") {
        accts.reverse();
    }
    let items: Vec<Value> = accts.iter().map(|a| st.account_dto(a)).collect();
    Ok(ok(paginate(items, page, size)))
}

pub(super) fn get(st: &mut State, id: &str) -> R {
    let id = path_id(id, "account")?;
    find(st, id)?;
    Ok(ok(dto(st, id)))
}

pub(super) fn create(ctx: &Ctx, st: &mut State, req: &Req) -> R {
    let map = req.json_object()?;
    idempotent(st, req, "admin.accounts.create", |st| {
        let id = create_one(st, &map)?;
        spawn_responses_probe(ctx, st, id);
        Ok(ok(dto(st, id)))
    })
}

pub(super) fn batch(ctx: &Ctx, st: &mut State, req: &Req) -> R {
    let map = req.json_object()?;
    let b = Body::new(&map, "BatchCreateAccountsRequest");
    let Some(items) = b.arr("accounts")? else {
        return Err(b.invalid("accounts", "required"));
    };
    if items.is_empty() {
        return Err(b.invalid("accounts", "min"));
    }
    idempotent(st, req, "admin.accounts.batch", |st| {
        let mut results = Vec::new();
        let (mut success, mut failed) = (0, 0);
        for item in items {
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let outcome = match &item {
                Value::Object(m) => create_one(st, m),
                _ => Err(bad_request("Invalid request: account must be an object")),
            };
            match outcome {
                Ok(id) => {
                    success += 1;
                    spawn_responses_probe(ctx, st, id);
                    results.push(json!({"name": name, "id": id, "success": true}));
                }
                Err(r) => {
                    failed += 1;
                    results.push(json!({"name": name, "success": false, "error": resp_message(r)}));
                }
            }
        }
        Ok(ok(
            json!({"success": success, "failed": failed, "results": results}),
        ))
    })
}

pub(super) fn update(ctx: &Ctx, st: &mut State, req: &Req, id: &str) -> R {
    let id = path_id(id, "account")?;
    let map = req.json_object()?;
    let b = Body::new(&map, "UpdateAccountRequest");
    let mut a = find(st, id)?.clone();
    if let Some(v) = b.str("name")? {
        if v.is_empty() {
            return Err(b.invalid("name", "min"));
        }
        a.name = v;
    }
    if b.has("notes") {
        a.notes = b.str("notes")?;
    }
    if let Some(v) = b.str("type")? {
        if !TYPES.contains(&v.as_str()) {
            return Err(b.invalid("type", "oneof"));
        }
        a.kind = v;
    }
    let creds_updated = if let Some(new) = b.obj("credentials")? {
        let mut merged = new;
        for k in SENSITIVE_CREDENTIAL_KEYS {
            if !merged.contains_key(*k) {
                if let Some(old) = a.credentials.get(*k) {
                    merged.insert(k.to_string(), old.clone());
                }
            }
        }
        a.credentials = merged;
        true
    } else {
        false
    };
    if let Some(extra) = b.obj("extra")? {
        if !extra.is_empty() {
            a.extra = extra;
        }
    }
    if b.present("proxy_id") {
        a.proxy_id = check_proxy(&b)?;
    }
    if let Some(v) = b.i64("concurrency")? {
        a.concurrency = v;
    }
    if let Some(v) = b.i64("priority")? {
        a.priority = v;
    }
    if let Some(v) = b.f64("rate_multiplier")? {
        if v < 0.0 {
            return Err(b.invalid("rate_multiplier", "min"));
        }
        a.rate_multiplier = v;
    }
    if b.has("load_factor") {
        a.load_factor = b.i64("load_factor")?;
    }
    if b.has("expires_at") {
        a.expires_at = b.i64("expires_at")?;
    }
    if let Some(v) = b.bool("auto_pause_on_expired")? {
        a.auto_pause_on_expired = v;
    }
    if let Some(s) = b.str("status")? {
        if !["active", "inactive", "error"].contains(&s.as_str()) {
            return Err(b.invalid("status", "oneof"));
        }
        if s == "active" {
            a.error_message.clear();
        }
        a.status = s;
    }
    // `UpdateAccountRequest` has no `schedulable`: the host ignores it here
    // (`POST /accounts/:id/schedulable` sets it).
    if let Some(ids) = b.i64_vec("group_ids")? {
        check_groups(st, &ids)?;
        let mut ids = ids;
        ids.dedup();
        a.group_ids = ids;
    }
    a.updated_at = now_ms();
    st.accounts.insert(id, a);
    if creds_updated {
        spawn_responses_probe(ctx, st, id);
    }
    Ok(ok(dto(st, id)))
}

/// Deleting an account that is already gone succeeds, as on the host.
pub(super) fn delete(st: &mut State, id: &str) -> R {
    let id = path_id(id, "account")?;
    st.accounts.remove(&id);
    Ok(ok_message("Account deleted successfully"))
}

fn with_account(st: &mut State, id: &str, f: impl FnOnce(&mut Account)) -> R {
    let id = path_id(id, "account")?;
    find(st, id)?;
    if let Some(a) = st.accounts.get_mut(&id) {
        f(a);
        a.updated_at = now_ms();
    }
    Ok(ok(dto(st, id)))
}

/// The host's `ClearAccountError`: status `active`, no error message, and also no
/// rate limit and no temporary-unschedulable state.
fn clear_account_error(a: &mut Account) {
    a.status = "active".into();
    a.error_message.clear();
    a.rate_limited_at = None;
    a.rate_limit_reset_at = None;
    a.temp_unsched = None;
    a.updated_at = now_ms();
}

pub(super) fn clear_error(st: &mut State, id: &str) -> R {
    with_account(st, id, clear_account_error)
}

/// `POST /accounts/batch-clear-error` `{"account_ids": [...]}`: the single clear
/// for each id; per-account failures in `errors` (with the host's Go error text).
pub(super) fn batch_clear_error(st: &mut State, req: &Req) -> R {
    let map = req.json_object()?;
    let b = Body::new(&map, "BatchClearErrorRequest");
    let ids = b.i64_vec("account_ids")?.unwrap_or_default();
    if ids.is_empty() {
        return Err(bad_request("account_ids is required"));
    }
    let (mut success, mut errors) = (0, Vec::new());
    for id in &ids {
        match st.accounts.get_mut(id) {
            Some(a) => {
                clear_account_error(a);
                success += 1;
            }
            None => errors.push(json!({
                "account_id": id,
                "error": "error: code=404 reason=\"ACCOUNT_NOT_FOUND\" message=\"account not found\" metadata=map[]",
            })),
        }
    }
    Ok(ok(json!({
        "total": ids.len(),
        "success": success,
        "failed": errors.len(),
        "errors": errors,
    })))
}

pub(super) fn clear_rate_limit(st: &mut State, id: &str) -> R {
    with_account(st, id, |a| {
        a.rate_limited_at = None;
        a.rate_limit_reset_at = None;
    })
}

/// `POST /accounts/:id/recover-state`: clears the error (only when the status is
/// `error`) and every recoverable runtime state (rate limit, overload,
/// temporary-unschedulable) in one call, then answers the account.
pub(super) fn recover(st: &mut State, id: &str) -> R {
    with_account(st, id, |a| {
        if a.status == "error" {
            a.status = "active".into();
            a.error_message.clear();
        }
        a.rate_limited_at = None;
        a.rate_limit_reset_at = None;
        a.temp_unsched = None;
    })
}

pub(super) fn temp_get(st: &mut State, id: &str) -> R {
    let id = path_id(id, "account")?;
    let a = find(st, id)?;
    let now = now_ms();
    match a.temp_unsched.as_ref().filter(|t| t.until_ms > now) {
        None => Ok(ok(json!({"active": false}))),
        Some(t) => Ok(ok(json!({
            "active": true,
            "state": {
                "until_unix": t.until_ms / 1000,
                "triggered_at_unix": t.triggered_at_ms / 1000,
                "status_code": t.status_code,
                "matched_keyword": t.matched_keyword,
                "rule_index": t.rule_index,
                "error_message": t.error_message,
            }
        }))),
    }
}

pub(super) fn temp_clear(st: &mut State, id: &str) -> R {
    let id = path_id(id, "account")?;
    find(st, id)?;
    if let Some(a) = st.accounts.get_mut(&id) {
        a.temp_unsched = None;
    }
    Ok(ok_message("Temp unschedulable cleared successfully"))
}

pub(super) fn set_schedulable(st: &mut State, req: &Req, id: &str) -> R {
    let id_num = path_id(id, "account")?;
    let map = req.json_object()?;
    let b = Body::new(&map, "SetSchedulableRequest");
    // A plain `bool` on the host: an absent field means `false`.
    let v = b.bool("schedulable")?.unwrap_or(false);
    find(st, id_num)?;
    with_account(st, id, |a| a.schedulable = v)
}

/// Model ids an account serves: its mapping keys, else the platform defaults.
pub(crate) fn account_model_ids(a: &Account) -> Vec<String> {
    let mapping = a.model_mapping();
    if mapping.is_empty() {
        vendor::default_models(&a.platform)
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        mapping.into_iter().map(|(k, _)| k).collect()
    }
}

pub(super) fn models(st: &mut State, id: &str) -> R {
    let id = path_id(id, "account")?;
    let a = find(st, id)?;
    let items: Vec<Value> = account_model_ids(a)
        .iter()
        .map(|m| vendor::model_item(&a.platform, m))
        .collect();
    Ok(ok(Value::Array(items)))
}

/// Marks an account `error` after an upstream 401/403.
pub(crate) fn mark_auth_error(st: &mut State, id: i64, status: u16, body: &str) {
    if let Some(a) = st.accounts.get_mut(&id) {
        a.status = "error".into();
        a.error_message = format!("Authentication failed ({status}): {body}");
        a.updated_at = now_ms();
    }
}

/// `POST /api/v1/admin/accounts/:id/test` — SSE, always HTTP 200 once the id parses.
pub(super) async fn test(ctx: &Ctx, req: &Req, id: &str) -> Resp {
    let id = match path_id(id, "account") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body = req.json_object_lenient();
    let prep = {
        let mut st = lock(ctx);
        let first_forbidden = st.faults.first_test_forbidden;
        let latency = st.faults.account_test_latency_ms;
        match st.accounts.get_mut(&id) {
            None => None,
            Some(a) => {
                let first = !a.tested;
                a.tested = true;
                let requested = body
                    .get("model_id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| match a.model_mapping().first() {
                        Some((k, _)) => k.clone(),
                        None => vendor::default_test_model(&a.platform).to_string(),
                    });
                let mapped = a.map_model(&requested).unwrap_or(requested);
                Some((a.clone(), mapped, first && first_forbidden, latency))
            }
        }
    };
    let Some((acct, model, forbidden, latency)) = prep else {
        return raw(
            200,
            "text/plain; charset=utf-8",
            sse::frame(&[json!({"type": "error", "error": "Account not found"})]),
        );
    };
    let key = acct.api_key().unwrap_or("").to_string();
    if acct.kind == "apikey" && key.is_empty() {
        return raw(
            200,
            "text/plain; charset=utf-8",
            sse::frame(&[json!({"type": "error", "error": "No API key available"})]),
        );
    }
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let start = json!({"type": "test_start", "model": model});
    if forbidden {
        return sse::stream_response(sse::frame(&[
            start,
            json!({"type": "error", "error": "API returned 403: Forbidden"}),
        ]));
    }
    let endpoint = match acct.platform.as_str() {
        "openai" if acct.uses_responses_path() => Endpoint::Responses,
        "openai" => Endpoint::ChatCompletions,
        _ => Endpoint::Messages,
    };
    let up = vendor::call(&acct.platform, &key, acct.base_url(), endpoint);
    if up.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(up.delay_ms)).await;
    }
    let mut st = lock(ctx);
    if !st.accounts.contains_key(&id) {
        return sse::stream_response(sse::frame(&[
            start,
            json!({"type": "error", "error": "Account not found"}),
        ]));
    }
    if up.is_success() {
        if let Some(a) = st.accounts.get_mut(&id) {
            if a.status == "error" {
                a.status = "active".into();
                a.error_message.clear();
            }
            a.rate_limited_at = None;
            a.rate_limit_reset_at = None;
        }
        return sse::stream_response(sse::frame(&[
            start,
            json!({"type": "content", "text": "pong"}),
            json!({"type": "test_complete", "success": true}),
        ]));
    }
    if up.status == 401 || up.status == 403 {
        mark_auth_error(&mut st, id, up.status, &up.body);
    }
    let msg = format!("API returned {}: {}", up.status, up.body);
    sse::stream_response(sse::frame(&[start, json!({"type": "error", "error": msg})]))
}

#[cfg(test)]
mod tests {
    use super::canonical;
    use serde_json::json;

    #[test]
    fn canonical_is_order_independent() {
        assert_eq!(
            canonical(&json!({"b": 1, "a": [1, {"y": 2, "x": 1}]})),
            canonical(&json!({"a": [1, {"x": 1, "y": 2}], "b": 1}))
        );
    }
}
