//! The OpenAI-compatible gateway: `/v1/models`, `/v1/chat/completions`
//! (also `/chat/completions`) and `/v1/usage`, with scheduling and failover.

use std::time::Duration;

use serde_json::{json, Value};

use crate::admin::{rate_limit, set_account_error};
use crate::faults::{INVALID_AUTH_BLOCK_SECS, INVALID_AUTH_WINDOW_SECS};
use crate::http::{json_resp, mw_err, Req, Resp};
use crate::server::{lock, Ctx};
use crate::sse;
use crate::state::{Account, Group, State, TempUnsched};
use crate::util::now_ms;
use crate::vendor::{self, Endpoint};

const NOT_IN_GROUP: &str = "API Key is not assigned to any group and cannot be used. Please contact the administrator to assign it to a group.";
/// The host's answer when no account can take a request and the pool is not
/// simply missing the model (`no_account_error.go`: 503 `api_error`).
pub(crate) const NO_ACCOUNTS: &str = "Service temporarily unavailable";
/// How long an upstream 403 or a transport failure benches an OpenAI account.
const COOLDOWN_MS: i64 = 10 * 60_000;
/// How long a vendor's low-balance answer benches a native CN platform account: two
/// balance-check intervals (`gateway.cn_providers.balance_check_interval_minutes`,
/// default 10), i.e. 20 min (seen on a real 0.1.179 host).
const CN_BALANCE_COOLDOWN_MS: i64 = 20 * 60_000;
/// Stable prefix of the host's low-balance bench reason.
const CN_BALANCE_LOW_PREFIX: &str = "cn_balance_low";

/// The authenticated caller of a gateway request.
#[derive(Debug)]
struct Caller {
    key_id: i64,
    user_id: i64,
    group: Group,
}

/// Routes gateway paths; `None` when the path is not a gateway route.
pub(crate) async fn handle(ctx: &Ctx, req: &Req) -> Option<Resp> {
    let route = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v1/models") => "models",
        ("POST", "/v1/chat/completions") | ("POST", "/chat/completions") => "chat",
        ("GET", "/v1/usage") => "usage",
        _ => return None,
    };
    let caller = {
        let mut st = lock(ctx);
        if let Some(blocked) = invalid_auth_blocked(&st) {
            return Some(blocked);
        }
        let caller = authenticate(&st, req);
        if let Err(fail) = &caller {
            if fail.invalid_auth {
                record_invalid_auth(&mut st);
            }
        }
        caller
    };
    let caller = match caller {
        Ok(c) => c,
        Err(fail) => return Some(fail.resp),
    };
    Some(match route {
        "models" => models(&mut lock(ctx), &caller),
        "usage" => usage(&lock(ctx), &caller),
        _ => chat(ctx, req, &caller).await,
    })
}

/// A refused gateway authentication.
struct AuthFail {
    resp: Resp,
    /// Counts as a failed key check for the invalid-auth limiter.
    invalid_auth: bool,
}

impl From<Resp> for AuthFail {
    fn from(resp: Resp) -> Self {
        AuthFail {
            resp,
            invalid_auth: false,
        }
    }
}

fn invalid_auth(resp: Resp) -> AuthFail {
    AuthFail {
        resp,
        invalid_auth: true,
    }
}

/// The host's invalid-auth limiter: while the client is blocked every gateway call
/// answers `429 INVALID_AUTH_RATE_LIMITED` with `Retry-After`. Every mock client is
/// on loopback, so there is one client IP.
fn invalid_auth_blocked(st: &State) -> Option<Resp> {
    let now = now_ms();
    let until = st.invalid_auth.blocked_until_ms;
    if st.knobs.invalid_auth_threshold == 0 || until <= now {
        return None;
    }
    let secs = ((until - now) + 999) / 1000;
    let mut r = mw_err(
        429,
        "INVALID_AUTH_RATE_LIMITED",
        "Too many invalid authentication attempts; retry later",
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers_mut().insert("retry-after", v);
    }
    Some(r)
}

/// Counts one failed key check; the threshold-th failure within the window blocks
/// the client for the block time (the failing call itself still gets its 401).
fn record_invalid_auth(st: &mut State) {
    let threshold = st.knobs.invalid_auth_threshold;
    if threshold == 0 {
        return;
    }
    let now = now_ms();
    let window = INVALID_AUTH_WINDOW_SECS as i64 * 1000;
    let ia = &mut st.invalid_auth;
    if ia.blocked_until_ms > now {
        return;
    }
    if ia.window_start_ms > now || now >= ia.window_start_ms + window {
        ia.window_start_ms = now;
        ia.failures = 0;
    }
    ia.failures += 1;
    if ia.failures >= threshold {
        ia.failures = 0;
        ia.blocked_until_ms = now + INVALID_AUTH_BLOCK_SECS as i64 * 1000;
        ia.window_start_ms = ia.blocked_until_ms;
    }
}

/// The API-key middleware, in the host's order of checks.
fn authenticate(st: &State, req: &Req) -> Result<Caller, AuthFail> {
    if req.q_nonempty("key").is_some() || req.q_nonempty("api_key").is_some() {
        return Err(invalid_auth(mw_err(
            400,
            "api_key_in_query_deprecated",
            "API key in query parameter is deprecated. Please use Authorization header instead.",
        )));
    }
    let mut key = String::new();
    if let Some(h) = req.header("authorization") {
        if let Some((scheme, rest)) = h.split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") {
                key = rest.trim().to_string();
            }
        }
    }
    if key.is_empty() {
        key = req.header("x-api-key").unwrap_or("").trim().to_string();
    }
    if key.is_empty() {
        key = req
            .header("x-goog-api-key")
            .unwrap_or("")
            .trim()
            .to_string();
    }
    if key.is_empty() {
        return Err(invalid_auth(mw_err(
            401,
            "API_KEY_REQUIRED",
            "API key is required in Authorization header (Bearer scheme), x-api-key header, or x-goog-api-key header",
        )));
    }
    let Some(k) = st.keys.values().find(|k| k.key == key) else {
        return Err(invalid_auth(mw_err(
            401,
            "INVALID_API_KEY",
            "Invalid API key",
        )));
    };
    authorize(st, k).map_err(AuthFail::from)
}

/// The checks after the key was found (none of them counts as a failed key check).
fn authorize(st: &State, k: &crate::state::ApiKey) -> Result<Caller, Resp> {
    if k.status != "active" {
        return Err(mw_err(401, "API_KEY_DISABLED", "API key is disabled"));
    }
    if k.expires_at.is_some_and(|e| e <= now_ms()) {
        return Err(mw_err(403, "API_KEY_EXPIRED", "API key has expired"));
    }
    let Some(user) = st.users.get(&k.user_id) else {
        return Err(mw_err(
            401,
            "USER_NOT_FOUND",
            "User associated with API key not found",
        ));
    };
    if user.status != "active" {
        return Err(mw_err(401, "USER_INACTIVE", "User account is not active"));
    }
    let Some(group) = k.group_id.and_then(|g| st.groups.get(&g)) else {
        return Err(json_resp(
            403,
            &json!({"type": "error", "error": {"type": "permission_error", "message": NOT_IN_GROUP}}),
        ));
    };
    if group.status != "active" {
        return Err(mw_err(403, "GROUP_DISABLED", "Group is disabled"));
    }
    if group.subscription_type == "subscription" {
        // Only an active, unexpired subscription counts; an expired or suspended one
        // is "not found" (the host's GetActiveSubscription).
        let active = st
            .subscription_for(user.id, group.id)
            .is_some_and(|s| s.effective_status(now_ms()) == "active");
        if !active {
            return Err(mw_err(
                403,
                "SUBSCRIPTION_NOT_FOUND",
                "No active subscription found for this group",
            ));
        }
    } else if user.balance <= 0.0 {
        return Err(mw_err(
            403,
            "INSUFFICIENT_BALANCE",
            "Insufficient account balance",
        ));
    }
    Ok(Caller {
        key_id: k.id,
        user_id: user.id,
        group: group.clone(),
    })
}

/// Accounts of the group that the scheduler may pick (ignoring the model): active,
/// schedulable, and neither temporarily unschedulable, rate limited nor expired.
fn schedulable<'a>(st: &'a State, group: &Group) -> Vec<&'a Account> {
    let now = now_ms();
    let mut v: Vec<&Account> = st
        .accounts
        .values()
        .filter(|a| a.group_ids.contains(&group.id))
        .filter(|a| a.platform == group.platform)
        .filter(|a| {
            a.status == "active"
                && a.schedulable
                && !a.temp_unsched_active(now)
                && !a.rate_limited(now)
        })
        .filter(|a| {
            a.expires_at
                .is_none_or(|e| !a.auto_pause_on_expired || e * 1000 > now)
        })
        .collect();
    v.sort_by_key(|a| (a.priority, a.id));
    v
}

/// `GET /v1/models`: the union of the schedulable accounts' mapping keys, else the
/// platform defaults, cached per (group, platform) for `models_cache_ttl_ms` like the
/// host's `GetAvailableModels` (which also caches "no mapping"; only an empty pool is
/// not cached).
fn models(st: &mut State, caller: &Caller) -> Resp {
    let now = now_ms();
    let key = (caller.group.id, caller.group.platform.clone());
    let cached = st
        .models_cache
        .get(&key)
        .filter(|(expires, _)| *expires > now)
        .map(|(_, list)| list.clone());
    let listed = match cached {
        Some(list) => list,
        None => {
            let accounts = schedulable(st, &caller.group);
            if accounts.is_empty() {
                None
            } else {
                let mut ids: Vec<String> = Vec::new();
                for a in accounts {
                    for (k, _) in a.model_mapping() {
                        if !ids.contains(&k) {
                            ids.push(k);
                        }
                    }
                }
                let list = (!ids.is_empty()).then_some(ids);
                let ttl = i64::try_from(st.models_cache_ttl_ms).unwrap_or(i64::MAX);
                if ttl > 0 {
                    st.models_cache
                        .insert(key, (now.saturating_add(ttl), list.clone()));
                }
                list
            }
        }
    };
    let ids = listed.unwrap_or_else(|| {
        vendor::default_models(&caller.group.platform)
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    let data: Vec<Value> = ids
        .iter()
        .map(|id| vendor::model_item(&caller.group.platform, id))
        .collect();
    json_resp(200, &json!({"object": "list", "data": data}))
}

fn usage(st: &State, caller: &Caller) -> Resp {
    let user = st.users.get(&caller.user_id);
    let balance = user.map(|u| u.balance).unwrap_or(0.0);
    let mut body = json!({
        "isValid": true,
        "planName": caller.group.name,
        "remaining": balance,
        "unit": "USD",
        "balance": balance,
        "mode": if caller.group.subscription_type == "subscription" { "subscription" } else { "balance" },
    });
    if let Some(sub) = st.subscription_for(caller.user_id, caller.group.id) {
        body["subscription"] = st.sub_dto(sub);
    }
    json_resp(200, &body)
}

/// Error in the shape of the group's platform (OpenAI style for `openai` and the
/// native CN platforms, which the OpenAI gateway serves; Anthropic style otherwise).
fn gw_err(platform: &str, status: u16, kind: &str, message: &str) -> Resp {
    if platform == "openai" || crate::state::is_cn_provider(platform) {
        json_resp(
            status,
            &json!({"error": {"type": kind, "message": message}}),
        )
    } else {
        json_resp(
            status,
            &json!({"type": "error", "error": {"type": kind, "message": message}}),
        )
    }
}

fn model_matches(pattern: &str, model: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => model.starts_with(prefix),
        None => pattern.eq_ignore_ascii_case(model),
    }
}

/// Applies the group's channel: rename via `model_mapping`, refuse via `restrict_models`.
fn apply_channel(st: &State, group: &Group, model: &str) -> Option<String> {
    let Some(ch) = st
        .channel_of_group(group.id)
        .filter(|c| c.status == "active")
    else {
        return Some(model.to_string());
    };
    let mapped = ch
        .model_mapping
        .get(&group.platform)
        .and_then(Value::as_object)
        .and_then(|m| {
            m.get(model).or_else(|| {
                m.iter()
                    .find(|(k, _)| model_matches(k, model))
                    .map(|(_, v)| v)
            })
        })
        .and_then(Value::as_str)
        .unwrap_or(model)
        .to_string();
    if ch.restrict_models {
        let listed = ch.model_pricing.iter().any(|e| {
            let platform = e["platform"].as_str().unwrap_or("anthropic");
            platform == group.platform
                && e["models"].as_array().is_some_and(|ms| {
                    ms.iter()
                        .filter_map(Value::as_str)
                        .any(|p| model_matches(p, model) || model_matches(p, &mapped))
                })
        });
        if !listed {
            return None;
        }
    }
    Some(mapped)
}

/// Applies an account's `temp_unschedulable_rules` to an upstream failure.
fn apply_temp_rules(a: &mut Account, status: u16, body: &str) {
    if a.credentials
        .get("temp_unschedulable_enabled")
        .and_then(Value::as_bool)
        != Some(true)
    {
        return;
    }
    let Some(rules) = a
        .credentials
        .get("temp_unschedulable_rules")
        .and_then(Value::as_array)
        .cloned()
    else {
        return;
    };
    let lower = body.to_lowercase();
    for (i, rule) in rules.iter().enumerate() {
        if rule["error_code"].as_i64() != Some(i64::from(status)) {
            continue;
        }
        let kws: Vec<&str> = rule["keywords"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let hit = if kws.is_empty() {
            Some("")
        } else {
            kws.iter()
                .copied()
                .find(|k| lower.contains(&k.to_lowercase()))
        };
        if let Some(kw) = hit {
            let now = now_ms();
            let minutes = rule["duration_minutes"].as_i64().unwrap_or(5).max(1);
            a.temp_unsched = Some(TempUnsched {
                until_ms: now + minutes * 60_000,
                triggered_at_ms: now,
                status_code: i64::from(status),
                matched_keyword: kw.to_string(),
                rule_index: i as i64,
                error_message: body.to_string(),
            });
            return;
        }
    }
}

fn prompt_tokens(body: &Value) -> u64 {
    let chars: usize = body["messages"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| m["content"].as_str().map(str::len).unwrap_or(8))
                .sum()
        })
        .unwrap_or(0);
    (chars as u64 / 4).max(1) + 8
}

async fn chat(ctx: &Ctx, req: &Req, caller: &Caller) -> Resp {
    let platform = caller.group.platform.clone();
    if req.body.iter().all(|b| b.is_ascii_whitespace()) {
        return gw_err(
            &platform,
            400,
            "invalid_request_error",
            "Request body is empty",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return gw_err(
            &platform,
            400,
            "invalid_request_error",
            "Failed to parse request body",
        );
    };
    let Some(model) = body["model"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_string)
    else {
        return gw_err(&platform, 400, "invalid_request_error", "model is required");
    };
    let stream = body["stream"].as_bool().unwrap_or(false);
    let no_accounts = || gw_err(&platform, 503, "api_error", NO_ACCOUNTS);

    // Candidate selection under the lock.
    let candidates: Vec<(Account, String)> = {
        let st = lock(ctx);
        // A model the channel restricts leaves no account for it: the host then
        // answers as for any request no account takes (404 when the pool is in
        // service but none maps the model).
        let Some(routed) = apply_channel(&st, &caller.group, &model) else {
            return no_account_error(&st, &caller.group, &model, &model);
        };
        let warmup = st.faults.warmup_ms as i64;
        let now = now_ms();
        if warmup > 0
            && st
                .accounts
                .values()
                .any(|a| a.group_ids.contains(&caller.group.id) && a.created_at + warmup > now)
        {
            return no_accounts();
        }
        let candidates: Vec<(Account, String)> = schedulable(&st, &caller.group)
            .into_iter()
            .filter_map(|a| a.map_model(&routed).map(|m| (a.clone(), m)))
            .collect();
        if candidates.is_empty() {
            return no_account_error(&st, &caller.group, &routed, &model);
        }
        candidates
    };

    let echo = lock(ctx).knobs.echo_secrets;
    let mut last: Option<vendor::Upstream> = None;
    for (acct, upstream_model) in candidates {
        let openai_key = acct.is_openai_family_key();
        let endpoint = if openai_key && acct.uses_responses_path() {
            Endpoint::Responses
        } else {
            Endpoint::ChatCompletions
        };
        let key = acct.api_key().unwrap_or("");
        let mut up = vendor::call_echo(&acct.platform, key, acct.base_url(), endpoint, echo);
        // No capability marker: a 404/405 from `/responses` means "not supported",
        // and the host retries the same account over raw Chat Completions.
        if endpoint == Endpoint::Responses
            && acct.responses_support_unknown()
            && up.transport_error.is_none()
            && matches!(up.status, 404 | 405)
        {
            up = vendor::call_echo(
                &acct.platform,
                key,
                acct.base_url(),
                Endpoint::ChatCompletions,
                echo,
            );
        }
        if up.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(up.delay_ms)).await;
        }
        let mut st = lock(ctx);
        if up.is_success() {
            let now = now_ms();
            if let Some(a) = st.accounts.get_mut(&acct.id) {
                a.last_used_at = Some(now);
            }
            if let Some(k) = st.keys.get_mut(&caller.key_id) {
                k.last_used_at = Some(now);
            }
            if let Some(u) = st.users.get_mut(&caller.user_id) {
                u.last_active_at = Some(now);
            }
            let seq = st.next_seq();
            drop(st);
            let _served_as = upstream_model;
            return completion(&model, &body, stream, seq);
        }
        if let Some(a) = st.accounts.get_mut(&acct.id) {
            apply_temp_rules(a, up.status, &up.body);
        }
        let message = up.message();
        let detail = |fallback: &str| {
            if message.is_empty() {
                fallback.to_string()
            } else {
                message.clone()
            }
        };
        match (&up.transport_error, up.status) {
            (Some(e), _) => bench(
                &mut st,
                acct.id,
                0,
                format!("upstream transport error (proxy/network): {e}"),
            ),
            (None, 401) => set_account_error(
                &mut st,
                acct.id,
                format!(
                    "Authentication failed (401): {}",
                    detail("invalid or expired credentials")
                ),
            ),
            // Native CN platforms: a low vendor balance (a 402, or a 429 saying so)
            // is a recoverable bench, not an error (`handleCNProviderInsufficientBalance`).
            (None, 402) if acct.is_cn_provider() => {
                cn_balance_low(&mut st, acct.id, &acct.platform, &message)
            }
            (None, 429) if acct.is_cn_provider() && indicates_insufficient_balance(&up.body) => {
                cn_balance_low(&mut st, acct.id, &acct.platform, &message)
            }
            (None, 402) => set_account_error(
                &mut st,
                acct.id,
                format!(
                    "Payment required (402): {}",
                    detail("insufficient balance or billing issue")
                ),
            ),
            (None, 403) => bench(
                &mut st,
                acct.id,
                403,
                format!(
                    "OpenAI 403 temporary cooldown (1/3): Access forbidden (403): {}",
                    detail("forbidden")
                ),
            ),
            (None, 429) => rate_limit(&mut st, acct.id, up.reset_after_s, true),
            (None, s) if s >= 500 => {}
            // Not a failover status: the upstream's answer goes to the client.
            (None, s) => {
                let kind = match s {
                    400 => "invalid_request_error",
                    404 => "not_found_error",
                    _ => "api_error",
                };
                let text = if message.is_empty() {
                    format!("Upstream error: {s}")
                } else {
                    message
                };
                return gw_err(&platform, s, kind, &text);
            }
        }
        last = Some(up);
    }
    // Every candidate failed over: the host's `mapUpstreamError` of the last status.
    let (status, kind, message) = match last {
        Some(up) if up.transport_error.is_some() => (
            502,
            "upstream_error",
            "Upstream service temporarily unavailable",
        ),
        Some(up) => match up.status {
            401 => (
                502,
                "upstream_error",
                "Upstream authentication failed, please contact administrator",
            ),
            403 => (
                502,
                "upstream_error",
                "Upstream access forbidden, please contact administrator",
            ),
            429 => (
                429,
                "rate_limit_error",
                "Upstream rate limit exceeded, please retry later",
            ),
            529 => (
                503,
                "upstream_error",
                "Upstream service overloaded, please retry later",
            ),
            500 | 502 | 503 | 504 => (
                502,
                "upstream_error",
                "Upstream service temporarily unavailable",
            ),
            _ => (502, "upstream_error", "Upstream request failed"),
        },
        None => (502, "upstream_error", "Upstream request failed"),
    };
    gw_err(&platform, status, kind, message)
}

/// The host's wording test for a CN vendor's insufficient balance
/// (`cnProviderResponseIndicatesInsufficientBalance`).
fn indicates_insufficient_balance(body: &str) -> bool {
    let s = body.to_lowercase();
    [
        "余额不足",
        "insufficient balance",
        "insufficient_credit",
        "balance is not enough",
        "no enough balance",
    ]
    .iter()
    .any(|w| s.contains(w))
}

/// Benches a native CN platform account for a low vendor balance, like the host:
/// `extra.<platform>_balance_low = true` and temp-unschedulable for
/// [`CN_BALANCE_COOLDOWN_MS`] with reason `cn_balance_low: <vendor message>`; status
/// and scheduling switch unchanged.
fn cn_balance_low(st: &mut State, id: i64, platform: &str, message: &str) {
    let now = now_ms();
    if let Some(a) = st.accounts.get_mut(&id) {
        a.extra
            .insert(format!("{platform}_balance_low"), Value::Bool(true));
        let reason = if message.trim().is_empty() {
            format!("{CN_BALANCE_LOW_PREFIX}: 余额不足，账号临时停调")
        } else {
            format!("{CN_BALANCE_LOW_PREFIX}: {}", message.trim())
        };
        a.temp_unsched = Some(TempUnsched {
            until_ms: now + CN_BALANCE_COOLDOWN_MS,
            triggered_at_ms: 0,
            status_code: 0,
            matched_keyword: String::new(),
            rule_index: 0,
            error_message: reason,
        });
        a.updated_at = now;
    }
}

/// Benches an account for the host's 10-minute cooldown (upstream 403, transport
/// failure).
fn bench(st: &mut State, id: i64, status: u16, message: String) {
    let now = now_ms();
    if let Some(a) = st.accounts.get_mut(&id) {
        a.temp_unsched = Some(TempUnsched {
            until_ms: now + COOLDOWN_MS,
            triggered_at_ms: 0,
            status_code: i64::from(status),
            matched_keyword: String::new(),
            rule_index: 0,
            error_message: message,
        });
        a.updated_at = now;
    }
}

/// The host's "no account" answer (`no_account_error.go`): 404 `model_not_found`
/// when the group has accounts in service (active and schedulable, whatever their
/// rate limits) but none maps the model; 503 "Service temporarily unavailable"
/// otherwise (empty pool, or accounts only temporarily out: rate limited, benched,
/// warming up).
fn no_account_error(st: &State, group: &Group, routed: &str, requested: &str) -> Resp {
    let pool: Vec<&Account> = st
        .accounts
        .values()
        .filter(|a| a.group_ids.contains(&group.id) && a.platform == group.platform)
        .filter(|a| a.status == "active" && a.schedulable)
        .collect();
    if !pool.is_empty() && pool.iter().all(|a| a.map_model(routed).is_none()) {
        return gw_err(
            &group.platform,
            404,
            "model_not_found",
            &format!(
                "Model \"{requested}\" is not supported by any configured account in this group"
            ),
        );
    }
    gw_err(&group.platform, 503, "api_error", NO_ACCOUNTS)
}

/// A successful completion of `model` (JSON, or SSE chunks ending in `[DONE]`).
pub(crate) fn completion(model: &str, body: &Value, stream: bool, seq: u64) -> Resp {
    let id = format!("chatcmpl-mock{seq:08}");
    let created = now_ms() / 1000;
    let pt = prompt_tokens(body);
    let usage = json!({"prompt_tokens": pt, "completion_tokens": 1, "total_tokens": pt + 1});
    if !stream {
        return json_resp(
            200,
            &json!({
                "id": id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
                "usage": usage,
            }),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut last = chunk(json!({}), json!("stop"));
    last["usage"] = usage;
    let mut text = sse::frame(&[
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "pong"}), Value::Null),
        last,
    ]);
    text.push_str("data: [DONE]\n\n");
    sse::stream_response(text)
}
