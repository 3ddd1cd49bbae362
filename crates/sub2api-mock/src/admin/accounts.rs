//! Accounts: `/api/v1/admin/accounts` (CRUD, batch, idempotency, state endpoints,
//! models, the SSE account test, and the asynchronous Responses probe).

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::http::{
    bad_request, err, internal_error, ok, ok_message, page_params, paginate, path_id, raw, Body,
    Req, Resp,
};
use crate::server::{lock, Ctx};
use crate::sse;
use crate::state::{Account, State, SENSITIVE_CREDENTIAL_KEYS};
use crate::util::now_ms;
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

/// Schedules the asynchronous Responses-capability probe for an OpenAI-family API-key
/// account.
///
/// Like the host's `ProbeOpenAIAPIKeyResponsesSupport`: the upstream's `/responses`
/// answering 404/405 writes `openai_responses_supported = false`; any other answer
/// (2xx, but also 401/402/429/5xx) writes `true`; no HTTP answer writes nothing (the
/// account stays "unknown", i.e. on the Responses path). The official base is
/// supported; `responses_misdetection` makes third-party bases "supported" too.
/// A native CN platform account is not probed: the host writes
/// `openai_responses_mode = auto`, `openai_responses_supported = false` (or
/// `force_responses` / `true` for a DeepSeek account on its native `/responses`),
/// keeping the rest of `extra`.
pub(crate) fn spawn_responses_probe(ctx: &Ctx, st: &State, id: i64) {
    let Some(a) = st.accounts.get(&id) else {
        return;
    };
    if !a.is_openai_family_key() {
        return;
    }
    // The host writes a CN platform account's `extra` without calling the vendor, so
    // right after the create; the OpenAI probe waits `responses_probe_delay_ms`.
    let delay = if a.is_cn_provider() {
        0
    } else {
        st.faults.responses_probe_delay_ms
    };
    let ctx = ctx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut st = lock(&ctx);
        let misdetect = st.faults.responses_misdetection;
        if let Some(a) = st.accounts.get_mut(&id) {
            if a.is_cn_provider() && a.kind == "apikey" {
                let native_responses = a.uses_responses_path();
                a.extra.insert(
                    "openai_responses_mode".into(),
                    json!(if native_responses {
                        "force_responses"
                    } else {
                        "auto"
                    }),
                );
                a.extra
                    .insert("openai_responses_supported".into(), json!(native_responses));
            } else if a.platform == "openai" && a.kind == "apikey" {
                let up = vendor::call(
                    &a.platform,
                    a.api_key().unwrap_or(""),
                    a.base_url(),
                    Endpoint::Responses,
                );
                if up.transport_error.is_some() {
                    return;
                }
                let supported = vendor::is_official(&a.platform, a.base_url())
                    || misdetect
                    || !matches!(up.status, 404 | 405);
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

/// A bound `CreateAccountRequest` (JSON types checked, binding tags not yet).
#[derive(Debug, Clone)]
pub(crate) struct AccountInput {
    name: String,
    notes: Option<String>,
    platform: String,
    kind: String,
    credentials: Option<Map<String, Value>>,
    extra: Map<String, Value>,
    proxy_id: Option<i64>,
    group_ids: Vec<i64>,
    rate_multiplier: Option<f64>,
    concurrency: Option<i64>,
    priority: Option<i64>,
    load_factor: Option<i64>,
    expires_at: Option<i64>,
    auto_pause_on_expired: Option<bool>,
}

/// Decodes one account like Go's JSON binding (type errors are 400s).
fn bind_account(map: &Map<String, Value>, structure: &'static str) -> Result<AccountInput, Resp> {
    let b = Body::new(map, structure);
    Ok(AccountInput {
        name: b.str("name")?.unwrap_or_default(),
        notes: b.str("notes")?,
        platform: b.str("platform")?.unwrap_or_default(),
        kind: b.str("type")?.unwrap_or_default(),
        credentials: b.obj("credentials")?,
        extra: b.obj("extra")?.unwrap_or_default(),
        proxy_id: b.i64("proxy_id")?,
        group_ids: b.i64_vec("group_ids")?.unwrap_or_default(),
        rate_multiplier: b.f64("rate_multiplier")?,
        concurrency: b.i64("concurrency")?,
        priority: b.i64("priority")?,
        load_factor: b.i64("load_factor")?,
        expires_at: b.i64("expires_at")?,
        auto_pause_on_expired: b.bool("auto_pause_on_expired")?,
    })
}

/// Binds `POST /accounts` with its binding tags and pre-coordinator checks.
pub(crate) fn bind_create(req: &Req) -> Result<AccountInput, Resp> {
    let map = req.json_object()?;
    let b = Body::new(&map, "CreateAccountRequest");
    let input = bind_account(&map, "CreateAccountRequest")?;
    if input.name.is_empty() {
        return Err(b.invalid("name", "required"));
    }
    if input.platform.is_empty() {
        return Err(b.invalid("platform", "required"));
    }
    // The host requires a platform but does not check it against a list
    // (verified on 0.1.179: `sora` and `bogus` are stored as given).
    if input.kind.is_empty() {
        return Err(b.invalid("type", "required"));
    }
    if !TYPES.contains(&input.kind.as_str()) {
        return Err(b.invalid("type", "oneof"));
    }
    if input.credentials.is_none() {
        return Err(b.invalid("credentials", "required"));
    }
    if input.rate_multiplier.is_some_and(|r| r < 0.0) {
        return Err(bad_request("rate_multiplier must be >= 0"));
    }
    Ok(input)
}

/// Binds `POST /accounts/batch`: the outer `accounts` (required, at least one) and
/// each item's JSON types; the items' binding tags are not checked, as on the host.
pub(crate) fn bind_batch(req: &Req) -> Result<Vec<AccountInput>, Resp> {
    let map = req.json_object()?;
    let b = Body::new(&map, "BatchCreateAccountsRequest");
    let Some(items) = b.arr("accounts")? else {
        return Err(b.invalid("accounts", "required"));
    };
    if items.is_empty() {
        return Err(b.invalid("accounts", "min"));
    }
    items
        .iter()
        .map(|item| match item {
            Value::Object(m) => bind_account(m, "CreateAccountRequest.accounts"),
            other => Err(bad_request(&format!(
                "Invalid request: json: cannot unmarshal {} into Go struct field .accounts of type handler.CreateAccountRequest",
                crate::http::json_type(other)
            ))),
        })
        .collect()
}

/// Why the service's account create failed, as the host reports it.
#[derive(Debug)]
enum CreateFailure {
    /// `accounts.name` is empty (the ORM's validator).
    EmptyName,
    /// `proxy_id` names no proxy (foreign key on `accounts`).
    MissingProxy,
    /// A group does not exist (foreign key on `account_groups`): the account row was
    /// already inserted and stays, without groups.
    MissingGroup,
}

impl CreateFailure {
    /// The Go error text (`err.Error()`), as batch items report it.
    fn text(&self) -> &'static str {
        match self {
            CreateFailure::EmptyName => {
                "ent: validator failed for field \"Account.name\": value is less than the required length"
            }
            CreateFailure::MissingProxy => {
                "ent: constraint failed: pq: insert or update on table \"accounts\" violates foreign key constraint \"accounts_proxy_id_fkey\""
            }
            CreateFailure::MissingGroup => {
                "ent: constraint failed: pq: insert or update on table \"account_groups\" violates foreign key constraint \"account_groups_group_id_fkey\""
            }
        }
    }
}

/// The host's `CreateAccount`: insert the account, then bind its groups (not in one
/// transaction: a missing group leaves the inserted account behind, ungrouped).
fn insert_account(st: &mut State, input: &AccountInput) -> Result<i64, CreateFailure> {
    if input.name.is_empty() {
        return Err(CreateFailure::EmptyName);
    }
    if input.proxy_id.is_some_and(|p| p > 0) {
        return Err(CreateFailure::MissingProxy);
    }
    let now = now_ms();
    let a = Account {
        id: st.next_id("account"),
        name: input.name.clone(),
        notes: input.notes.clone(),
        platform: input.platform.clone(),
        kind: input.kind.clone(),
        credentials: input.credentials.clone().unwrap_or_default(),
        extra: input.extra.clone(),
        proxy_id: None,
        // An omitted concurrency is stored as 0, which the host treats as "no limit".
        concurrency: input.concurrency.unwrap_or(0),
        priority: input.priority.unwrap_or(1),
        rate_multiplier: input.rate_multiplier.unwrap_or(1.0),
        load_factor: input.load_factor,
        status: "active".into(),
        error_message: String::new(),
        schedulable: true,
        expires_at: input.expires_at,
        auto_pause_on_expired: input.auto_pause_on_expired.unwrap_or(true),
        group_ids: Vec::new(),
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
    if input.group_ids.iter().any(|g| !st.groups.contains_key(g)) {
        return Err(CreateFailure::MissingGroup);
    }
    let mut ids = input.group_ids.clone();
    ids.dedup();
    if let Some(a) = st.accounts.get_mut(&id) {
        a.group_ids = ids;
    }
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

/// The execution of `POST /accounts` (under the idempotency coordinator). The
/// service's failures are plain errors, so the handler answers 500 `internal error`.
pub(crate) fn execute_create(ctx: &Ctx, st: &mut State, input: &AccountInput) -> Resp {
    if st.knobs.echo_secrets {
        if let Some(refused) = input_key(input).and_then(crate::echo::refused_key) {
            return refused;
        }
    }
    match insert_account(st, input) {
        Ok(id) => {
            spawn_responses_probe(ctx, st, id);
            ok(dto(st, id))
        }
        Err(_) => internal_error(),
    }
}

/// The execution of `POST /accounts/batch`: one result per item, in order; an item
/// error is the Go error text. The execution itself never fails.
pub(crate) fn execute_batch(ctx: &Ctx, st: &mut State, items: &[AccountInput]) -> Resp {
    let mut results = Vec::new();
    let (mut success, mut failed) = (0, 0);
    for item in items {
        let refused = input_key(item)
            .filter(|k| {
                st.knobs.echo_secrets && k.to_ascii_lowercase().contains(crate::echo::MARKER)
            })
            .map(crate::echo::refused_key_text);
        let outcome = if let Some(text) = refused {
            Err(text)
        } else if item.rate_multiplier.is_some_and(|r| r < 0.0) {
            Err("rate_multiplier must be >= 0".to_string())
        } else {
            insert_account(st, item).map_err(|f| f.text().to_string())
        };
        match outcome {
            Ok(id) => {
                success += 1;
                spawn_responses_probe(ctx, st, id);
                results.push(json!({"name": item.name, "id": id, "success": true}));
            }
            Err(text) => {
                failed += 1;
                results.push(json!({"name": item.name, "success": false, "error": text}));
            }
        }
    }
    ok(json!({"success": success, "failed": failed, "results": results}))
}

/// The 0.1.27 placeholder of `POST /accounts/batch`: success for every item, no
/// results, nothing created.
pub(crate) fn legacy_batch(req: &Req) -> R {
    let map = req.json_object()?;
    let b = Body::new(&map, "BatchCreateAccountsRequest");
    let Some(items) = b.arr("accounts")? else {
        return Err(b.invalid("accounts", "required"));
    };
    if items.is_empty() {
        return Err(b.invalid("accounts", "min"));
    }
    Ok(ok(
        json!({"success": items.len(), "failed": 0, "results": []}),
    ))
}

/// The upstream key of an account create, if it has one.
fn input_key(input: &AccountInput) -> Option<&str> {
    input
        .credentials
        .as_ref()
        .and_then(|c| c.get("api_key"))
        .and_then(Value::as_str)
}

pub(super) fn update(ctx: &Ctx, st: &mut State, req: &Req, id: &str) -> R {
    let id = path_id(id, "account")?;
    let map = req.json_object()?;
    let b = Body::new(&map, "UpdateAccountRequest");
    if st.knobs.echo_secrets {
        let key = map
            .get("credentials")
            .and_then(|c| c.get("api_key"))
            .and_then(Value::as_str);
        if let Some(refused) = key.and_then(crate::echo::refused_key) {
            return Err(refused);
        }
    }
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

/// The host's `ClearAccountError`: status back to `active`, message, rate limit and
/// temporary-unschedulable state cleared; `schedulable` is **not** restored (an
/// account the host put into `error` stays out of scheduling until
/// `POST /accounts/:id/schedulable`).
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
    // This handler answers a missing account with a bare 404 (no reason).
    let a = st.accounts.get(&id).ok_or_else(|| {
        crate::http::json_resp(404, &json!({"code": 404, "message": "Account not found"}))
    })?;
    let items: Vec<Value> = account_model_ids(a)
        .iter()
        .map(|m| vendor::model_item(&a.platform, m))
        .collect();
    Ok(ok(Value::Array(items)))
}

/// The host's `SetError`: `status = error` with `message`, and the account taken
/// out of scheduling (`schedulable = false`; neither clear-error nor a successful
/// test sets it back, only `POST /accounts/:id/schedulable`).
pub(crate) fn set_account_error(st: &mut State, id: i64, message: String) {
    if let Some(a) = st.accounts.get_mut(&id) {
        a.status = "error".into();
        a.error_message = message;
        a.schedulable = false;
        a.updated_at = now_ms();
    }
}

/// The status event the host sends before and after a Chat Completions test.
const CC_TESTING: &str = "正在通过 /v1/chat/completions 测试连接";
const CC_PASSED: &str = "已通过 /v1/chat/completions 验证";

/// `POST /api/v1/admin/accounts/:id/test` — SSE, always HTTP 200 once the id parses.
///
/// Like the host (0.1.179), an OpenAI API-key account that is not on the Responses
/// path is tested over Chat Completions (`status` events, `Chat Completions API
/// (/v1/chat/completions) returned NNN: …` / `… request failed: …`); the Responses
/// path and the other platforms say `API returned NNN: …` / `Request failed: …`.
pub(super) async fn test(ctx: &Ctx, req: &Req, id: &str) -> Resp {
    let id = match path_id(id, "account") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body = req.json_object_lenient();
    let latency = lock(ctx).faults.account_test_latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    // The path is chosen from the account as it is now (the host loads it here).
    let prep = {
        let mut st = lock(ctx);
        let first_forbidden = st.faults.first_test_forbidden;
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
                Some((a.clone(), mapped, first && first_forbidden))
            }
        }
    };
    let Some((acct, model, forbidden)) = prep else {
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
    // `openai` and the native CN platforms share the OpenAI account test.
    let openai_key = acct.is_openai_family_key();
    let chat_path = openai_key && !acct.uses_responses_path();
    let mut events = vec![json!({"type": "test_start", "model": model})];
    if chat_path {
        events.push(json!({"type": "status", "text": CC_TESTING}));
    }
    let failed = |mut events: Vec<Value>, message: String| {
        events.push(json!({"type": "error", "error": message}));
        sse::stream_response(sse::frame(&events))
    };
    let returned = |status: u16, body: &str| {
        if chat_path {
            format!("Chat Completions API (/v1/chat/completions) returned {status}: {body}")
        } else {
            format!("API returned {status}: {body}")
        }
    };
    if forbidden {
        return failed(events, returned(403, "Forbidden"));
    }
    if openai_key && lock(ctx).faults.responses_only_test {
        return failed(
            events,
            crate::faults::RESPONSES_ONLY_TEST_MESSAGE.to_string(),
        );
    }
    let endpoint = if openai_key {
        if chat_path {
            Endpoint::ChatCompletions
        } else {
            Endpoint::Responses
        }
    } else if acct.platform == "openai" || acct.is_cn_provider() {
        Endpoint::ChatCompletions
    } else {
        Endpoint::Messages
    };
    let echo = lock(ctx).knobs.echo_secrets;
    let up = vendor::call_echo(&acct.platform, &key, acct.base_url(), endpoint, echo);
    if up.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(up.delay_ms)).await;
    }
    let mut st = lock(ctx);
    if !st.accounts.contains_key(&id) {
        return failed(events, "Account not found".into());
    }
    if let Some(e) = &up.transport_error {
        return failed(
            events,
            if chat_path {
                format!("Chat Completions API (/v1/chat/completions) request failed: {e}")
            } else {
                format!("Request failed: {e}")
            },
        );
    }
    if up.is_success() {
        // The host's RecoverAccountAfterSuccessfulTest: error and rate limit cleared,
        // `schedulable` left as it is.
        if let Some(a) = st.accounts.get_mut(&id) {
            if a.status == "error" {
                a.status = "active".into();
                a.error_message.clear();
            }
            a.rate_limited_at = None;
            a.rate_limit_reset_at = None;
            a.temp_unsched = None;
        }
        events.push(json!({"type": "content", "text": "pong"}));
        if chat_path {
            events.push(json!({"type": "status", "text": CC_PASSED}));
        }
        events.push(json!({"type": "test_complete", "success": true}));
        return sse::stream_response(sse::frame(&events));
    }
    match (openai_key, chat_path, up.status) {
        (true, true, 401) => set_account_error(
            &mut st,
            id,
            format!("Chat Completions authentication failed (401): {}", up.body),
        ),
        (true, false, 401) => set_account_error(
            &mut st,
            id,
            format!("Authentication failed (401): {}", up.body),
        ),
        (true, _, 429) => rate_limit(&mut st, id, up.reset_after_s, false),
        // Other platforms: an upstream 403 means the account is banned.
        (false, _, 403) => set_account_error(&mut st, id, returned(403, &up.body)),
        _ => {}
    }
    failed(events, returned(up.status, &up.body))
}

/// The host's 429 handling: with a reset header the account is rate limited until
/// then; without one the gateway applies its 5 s fallback cooldown (the account
/// test only records a reset it was told, `fallback = false`).
pub(crate) fn rate_limit(st: &mut State, id: i64, reset_after_s: Option<i64>, fallback: bool) {
    let now = now_ms();
    let until = match (reset_after_s, fallback) {
        (Some(s), _) => now + s * 1000,
        (None, true) => now + RATE_LIMIT_FALLBACK_MS,
        (None, false) => return,
    };
    if let Some(a) = st.accounts.get_mut(&id) {
        a.rate_limited_at = Some(now);
        a.rate_limit_reset_at = Some(until);
        a.updated_at = now;
    }
}

/// The host's default 429 cooldown when the upstream sends no reset time
/// (`defaultRateLimit429CooldownSeconds`).
pub(crate) const RATE_LIMIT_FALLBACK_MS: i64 = 5_000;

/// `POST /api/v1/admin/accounts/:id/models/sync-upstream` — the vendor's live model
/// list, read with the stored key (the host's `FetchUpstreamSupportedModels`):
/// `{models: [...]}` sorted; an OpenAI-family or Anthropic API-key account is listed,
/// others are `400 Unsupported …`; a vendor that refuses or fails is `502` with the
/// host's safe message. Changes nothing.
pub(super) fn sync_upstream(st: &mut State, id: &str) -> R {
    let id = path_id(id, "account")?;
    let a = st.accounts.get(&id).ok_or_else(|| {
        crate::http::json_resp(404, &json!({"code": 404, "message": "Account not found"}))
    })?;
    models_of_upstream(
        &a.platform,
        &a.kind,
        a.api_key().unwrap_or(""),
        a.base_url(),
    )
}

/// `POST /api/v1/admin/accounts/models/sync-upstream-preview` — as
/// [`sync_upstream`] with `{platform, type, base_url, api_key}` instead of an
/// account (`platform`, `type` and `api_key` required: else `400 Invalid request: …`).
pub(super) fn sync_upstream_preview(req: &Req) -> R {
    let body = req.json_object()?;
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    for required in ["platform", "type", "api_key"] {
        if field(required).is_empty() {
            return Err(bad_request(&format!(
                "Invalid request: Key: '{required}' Error:Field validation for '{required}' failed on the 'required' tag"
            )));
        }
    }
    models_of_upstream(
        &field("platform"),
        &field("type"),
        &field("api_key"),
        &field("base_url"),
    )
}

/// The host's `FetchUpstreamSupportedModels` against the simulated vendor.
fn models_of_upstream(platform: &str, kind: &str, key: &str, base_url: &str) -> R {
    let supported = match platform {
        "openai" | "anthropic" => kind == "apikey",
        p if crate::state::is_cn_provider(p) => kind == "apikey",
        _ => false,
    };
    if !supported {
        let message = if platform == "openai" {
            format!("Unsupported OpenAI account type for upstream model sync: {kind}")
        } else {
            format!("Unsupported platform for upstream model sync: {platform}")
        };
        return Err(bad_request(&message));
    }
    let key = key.trim();
    if key.is_empty() {
        return Err(bad_request("No OpenAI API key is available"));
    }
    let up = vendor::call(platform, key, base_url, Endpoint::ChatCompletions);
    if up.transport_error.is_some() {
        return Err(err(502, "Failed to request upstream model list", ""));
    }
    if !up.is_success() {
        return Err(err(
            502,
            &format!("Upstream model list request failed with HTTP {}", up.status),
            "",
        ));
    }
    let models = vendor::listed_models(base_url, key);
    if models.is_empty() {
        return Err(err(502, "Upstream returned no supported models", ""));
    }
    Ok(ok(json!({ "models": models })))
}

/// `GET /api/v1/admin/cn-providers/accounts/:id/balance` — the vendor balance of a
/// pay-as-you-go Kimi or DeepSeek account (the host's `CNProviderBalanceService`):
/// `{provider, success, balance, currency, balances, available, status_code,
/// fetched_at, persisted}`; a vendor refusal is a `200` with `success: false` and
/// `error`; other platforms are `400` with a reason code.
pub(super) fn cn_balance(st: &mut State, id: &str) -> R {
    let id = path_id(id, "account")?;
    let a = st
        .accounts
        .get(&id)
        .ok_or_else(|| err(404, "account not found", "CN_BALANCE_ACCOUNT_NOT_FOUND"))?;
    if !a.is_cn_provider() {
        return Err(err(
            400,
            "account is not a CN provider account",
            "CN_BALANCE_INVALID_PLATFORM",
        ));
    }
    if a.platform != "kimi" && a.platform != "deepseek" {
        return Err(err(
            400,
            "account provider has no balance endpoint",
            "CN_BALANCE_NO_ENDPOINT",
        ));
    }
    let key = a.api_key().unwrap_or("").trim().to_string();
    if key.is_empty() {
        return Err(err(400, "account api_key is empty", "CN_BALANCE_NO_APIKEY"));
    }
    let provider = a.platform.clone();
    let now = now_ms() / 1000;
    let up = vendor::call("openai", &key, a.base_url(), Endpoint::ChatCompletions);
    if up.transport_error.is_some() {
        return Err(err(
            502,
            "upstream request failed: connection refused",
            "CN_BALANCE_REQUEST_FAILED",
        ));
    }
    let mut result = json!({
        "provider": provider, "success": false, "balance": 0.0, "available": true,
        "status_code": up.status, "fetched_at": now, "persisted": false,
    });
    if up.status == 401 || up.status == 403 {
        result["error"] = json!(format!("Authentication failed (HTTP {})", up.status));
        return Ok(ok(result));
    }
    // The balance route answers an exhausted or rate-limited key like any other (a
    // zero balance is an answer); only a vendor failure is an error.
    if up.status >= 500 {
        result["error"] = json!(format!(
            "API error (HTTP {}): {}",
            up.status,
            up.body.trim()
        ));
        return Ok(ok(result));
    }
    let amount = vendor::balance_of(&key);
    let available = provider != "deepseek" || amount > 0.0;
    result["status_code"] = json!(200);
    result["success"] = json!(true);
    result["balance"] = json!(amount);
    result["currency"] = json!("CNY");
    result["balances"] = json!([{"currency": "CNY", "balance": amount}]);
    result["available"] = json!(available);
    result["persisted"] = json!(true);
    if let Some(acc) = st.accounts.get_mut(&id) {
        acc.extra
            .insert(format!("{provider}_balance"), json!(amount));
        acc.extra
            .insert(format!("{provider}_balance_currency"), json!("CNY"));
        acc.extra
            .insert(format!("{provider}_balance_available"), json!(available));
        acc.extra
            .insert(format!("{provider}_balance_low"), json!(false));
    }
    Ok(ok(result))
}
