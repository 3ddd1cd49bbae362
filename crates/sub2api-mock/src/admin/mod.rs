//! `/api/v1/admin/**`: route table, admin fault injection, authentication, dispatch.

mod accounts;
mod api_keys;
mod channels;
mod compliance;
mod groups;
mod plans;
mod subscriptions;
mod users;

pub(crate) use accounts::{rate_limit, set_account_error};

use std::time::Duration;

use serde_json::{json, Value};

use crate::auth::{admin_auth, Principal};
use crate::faults::ROUTES_MISSING_ON_OLD_BUILDS;
use crate::http::{internal_error, json_resp, not_found_route, ok, Req, Resp};
use crate::idempotency::{self, Spec};
use crate::server::{lock, Ctx};
use crate::state::State;

/// Every admin route the emulator serves: (method, template below `/api/v1/admin/`).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "compliance"),
    ("POST", "compliance/accept"),
    ("GET", "system/version"),
    ("GET", "settings/admin-api-key"),
    ("POST", "settings/admin-api-key/regenerate"),
    ("GET", "groups"),
    ("POST", "groups"),
    ("GET", "groups/all"),
    ("GET", "groups/:id"),
    ("PUT", "groups/:id"),
    ("DELETE", "groups/:id"),
    ("GET", "groups/:id/subscriptions"),
    ("GET", "groups/:id/api-keys"),
    ("GET", "channels"),
    ("POST", "channels"),
    ("GET", "channels/:id"),
    ("PUT", "channels/:id"),
    ("DELETE", "channels/:id"),
    ("GET", "payment/plans"),
    ("POST", "payment/plans"),
    ("PUT", "payment/plans/:id"),
    ("DELETE", "payment/plans/:id"),
    ("GET", "accounts"),
    ("POST", "accounts"),
    ("POST", "accounts/batch"),
    ("GET", "accounts/:id"),
    ("PUT", "accounts/:id"),
    ("DELETE", "accounts/:id"),
    ("POST", "accounts/:id/clear-error"),
    ("POST", "accounts/:id/clear-rate-limit"),
    ("GET", "accounts/:id/temp-unschedulable"),
    ("DELETE", "accounts/:id/temp-unschedulable"),
    ("POST", "accounts/:id/recover-state"),
    ("POST", "accounts/:id/schedulable"),
    ("POST", "accounts/batch-clear-error"),
    ("POST", "accounts/:id/test"),
    ("GET", "accounts/:id/models"),
    ("POST", "accounts/:id/models/sync-upstream"),
    ("POST", "accounts/models/sync-upstream-preview"),
    ("GET", "cn-providers/accounts/:id/balance"),
    ("GET", "users"),
    ("POST", "users"),
    ("GET", "users/:id"),
    ("PUT", "users/:id"),
    ("DELETE", "users/:id"),
    ("POST", "users/:id/balance"),
    ("GET", "users/:id/api-keys"),
    ("GET", "users/:id/subscriptions"),
    ("GET", "subscriptions"),
    ("POST", "subscriptions/assign"),
    ("GET", "subscriptions/:id"),
    ("DELETE", "subscriptions/:id"),
    ("PUT", "api-keys/:id"),
];

/// Finds the route template for a request, preferring static segments (like Gin).
fn match_route<'a>(method: &str, rest: &'a str) -> Option<(&'static str, Vec<&'a str>)> {
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let mut best: Option<(&'static str, Vec<&'a str>, usize)> = None;
    for (m, tpl) in ROUTES {
        if *m != method {
            continue;
        }
        let tsegs: Vec<&str> = tpl.split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut params = Vec::new();
        let mut statics = 0;
        let mut matched = true;
        for (t, s) in tsegs.iter().zip(&segs) {
            if *t == ":id" {
                if s.is_empty() {
                    matched = false;
                    break;
                }
                params.push(*s);
            } else if t == s {
                statics += 1;
            } else {
                matched = false;
                break;
            }
        }
        if matched && best.as_ref().is_none_or(|b| statics > b.2) {
            best = Some((tpl, params, statics));
        }
    }
    best.map(|(t, p, _)| (t, p))
}

/// What the admin fault knobs decided for one call.
#[derive(Debug, Clone, Copy)]
struct Injected {
    /// Extra latency (ms).
    latency_ms: u64,
    /// The call fails with 500 `internal error` (inside the handler).
    fail: bool,
}

/// Applies admin-call faults: the rate limiter's 429 (middleware, before the handler)
/// is answered here; latency and the injected 500 are returned for the handler.
fn apply_faults(st: &mut State, method: &str, tpl: &str) -> Result<Injected, Resp> {
    st.admin_calls += 1;
    *st.counters
        .entry(format!("{method} /api/v1/admin/{tpl}"))
        .or_insert(0) += 1;
    if st.faults.rate_limit_next_admin_calls > 0 {
        st.faults.rate_limit_next_admin_calls -= 1;
        return Err(panel_rate_limited());
    }
    if st
        .faults
        .max_concurrent_admin
        .is_some_and(|max| st.admin_in_flight >= max)
    {
        st.admin_concurrency_refused += 1;
        return Err(panel_rate_limited());
    }
    // Counted in flight from here; `InFlight` (made by the caller) counts it out.
    st.admin_in_flight += 1;
    st.admin_in_flight_peak = st.admin_in_flight_peak.max(st.admin_in_flight);
    let mut fail = false;
    if st.fail_at == Some(st.admin_calls) {
        st.fail_at = None;
        st.faults.fail_nth_admin_call = None;
        fail = true;
    }
    if let Some(at) = st.fail_at {
        st.faults.fail_nth_admin_call = Some(at - st.admin_calls);
    }
    Ok(Injected {
        latency_ms: st.faults.admin_latency_ms,
        fail,
    })
}

/// The admin panel limiter's answer (`panel_rate_limit.go`).
fn panel_rate_limited() -> Resp {
    let mut r = json_resp(
        429,
        &json!({"code": "RATE_LIMITED", "message": "Too many requests, please slow down and try again later"}),
    );
    r.headers_mut()
        .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
    r
}

/// One admin call in flight (see [`apply_faults`]): counted out when its answer is
/// made, whatever path it takes.
struct InFlight(Ctx);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = lock(&self.0);
        st.admin_in_flight = st.admin_in_flight.saturating_sub(1);
    }
}

/// The answer of an injected failure: the bare `500 internal error`, or a chatty
/// host's plain-text 500 quoting the caller's credential (`echo_secrets`).
fn injected_failure(st: &State, req: &Req) -> Resp {
    if st.knobs.echo_secrets {
        crate::echo::injected_failure(req)
    } else {
        internal_error()
    }
}

/// An admin write that runs under the idempotency coordinator, bound and checked.
enum IdempotentWrite {
    CreateAccount(Box<accounts::AccountInput>),
    BatchCreate(Vec<accounts::AccountInput>),
    Balance(users::BalanceInput),
}

impl IdempotentWrite {
    /// Binds the request when `tpl` is one of the host's idempotent admin writes.
    fn bind(method: &str, tpl: &str, req: &Req, params: &[&str]) -> Option<Result<Self, Resp>> {
        Some(match (method, tpl) {
            ("POST", "accounts") => {
                accounts::bind_create(req).map(|a| IdempotentWrite::CreateAccount(Box::new(a)))
            }
            ("POST", "accounts/batch") => {
                accounts::bind_batch(req).map(IdempotentWrite::BatchCreate)
            }
            ("POST", "users/:id/balance") => {
                users::bind_balance(req, params[0]).map(IdempotentWrite::Balance)
            }
            _ => return None,
        })
    }

    /// The coordinator's scope, route and fingerprinted payload.
    fn spec(&self, who: Principal, req: &Req) -> Spec {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let (scope, route, payload) = match self {
            IdempotentWrite::CreateAccount(_) => {
                ("admin.accounts.create", "/api/v1/admin/accounts", body)
            }
            IdempotentWrite::BatchCreate(_) => (
                "admin.accounts.batch_create",
                "/api/v1/admin/accounts/batch",
                body,
            ),
            IdempotentWrite::Balance(b) => (
                "admin.users.balance.update",
                "/api/v1/admin/users/:id/balance",
                json!({"user_id": b.user, "body": body}),
            ),
        };
        Spec {
            scope,
            route,
            actor: format!("admin:{}", who.user_id),
            payload,
        }
    }

    fn execute(&self, ctx: &Ctx, st: &mut State) -> Resp {
        match self {
            IdempotentWrite::CreateAccount(input) => accounts::execute_create(ctx, st, input),
            IdempotentWrite::BatchCreate(items) => accounts::execute_batch(ctx, st, items),
            IdempotentWrite::Balance(input) => users::execute_balance(st, input),
        }
    }
}

/// Runs an idempotent admin write: claim the key, then (after the admin latency, so a
/// concurrent request with the same key sees it processing) execute and record the
/// outcome. An injected 500 is a failed execution: the key enters its backoff window.
async fn run_idempotent(
    ctx: &Ctx,
    req: &Req,
    who: Principal,
    write: IdempotentWrite,
    injected: Injected,
) -> Resp {
    let claim = {
        let mut st = lock(ctx);
        match idempotency::begin(&mut st, req, &write.spec(who, req)) {
            Ok(c) => c,
            Err(r) => return r,
        }
    };
    if injected.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(injected.latency_ms)).await;
    }
    let mut st = lock(ctx);
    let outcome = if injected.fail {
        injected_failure(&st, req)
    } else {
        write.execute(ctx, &mut st)
    };
    idempotency::finish(&mut st, &claim, outcome)
}

/// Entry point for `/api/v1/admin/<rest>`.
pub(crate) async fn handle(ctx: &Ctx, req: &Req, rest: &str) -> Resp {
    let method = req.method.as_str().to_string();
    let Some((tpl, params)) = match_route(&method, rest) else {
        return not_found_route();
    };
    let injected = {
        let mut st = lock(ctx);
        let missing_on_old_build = st.knobs.old_build
            && ROUTES_MISSING_ON_OLD_BUILDS
                .iter()
                .any(|(m, t)| *m == method && *t == tpl);
        if (st.faults.disable_channels && tpl.starts_with("channels"))
            || (st.faults.disable_payment && tpl.starts_with("payment"))
            || missing_on_old_build
        {
            return not_found_route();
        }
        match apply_faults(&mut st, &method, tpl) {
            Ok(i) => i,
            Err(r) => return r,
        }
    };
    let _in_flight = InFlight(ctx.clone());
    let legacy_batch = tpl == "accounts/batch" && lock(ctx).policy.legacy_account_batch;
    let idempotent = !legacy_batch
        && matches!(
            (method.as_str(), tpl),
            ("POST", "accounts") | ("POST", "accounts/batch") | ("POST", "users/:id/balance")
        );
    if !idempotent {
        if injected.fail {
            return injected_failure(&lock(ctx), req);
        }
        if injected.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(injected.latency_ms)).await;
        }
    }
    let principal = {
        let st = lock(ctx);
        match admin_auth(&st, req) {
            Ok(p) => p,
            Err(r) => return r,
        }
    };
    if !compliance::bypasses_guard(tpl) {
        let st = lock(ctx);
        if let Err(r) = compliance::guard(&st, principal) {
            return r;
        }
    }
    if legacy_batch {
        return accounts::legacy_batch(req).unwrap_or_else(|e| e);
    }
    if let Some(bound) = IdempotentWrite::bind(&method, tpl, req, &params) {
        return match bound {
            Ok(write) => run_idempotent(ctx, req, principal, write, injected).await,
            Err(r) => r,
        };
    }
    if tpl == "accounts/:id/test" {
        return accounts::test(ctx, req, params[0]).await;
    }
    let mut st = lock(ctx);
    dispatch(ctx, &mut st, principal, req, tpl, &params)
}

/// `GET /settings/admin-api-key`: whether a key exists, and its mask.
fn admin_key_status(st: &State) -> Value {
    let k = &st.admin_api_key;
    let masked = if k.len() > 14 {
        format!("{}...{}", &k[..10], &k[k.len() - 4..])
    } else {
        String::new()
    };
    json!({"exists": !k.is_empty(), "masked_key": masked})
}

/// `POST /settings/admin-api-key/regenerate`: a new `admin-<64 hex>` key replaces the
/// old one at once (the old one stops working); the answer is the only place it is
/// shown. [`crate::MockHost::admin_api_key`] keeps the key the mock started with.
fn regenerate_admin_key(st: &mut State) -> Value {
    let seq = st.next_seq();
    let seed = format!("{}:{}:{seq}", st.admin_api_key, crate::util::now_ms());
    st.admin_api_key = format!("admin-{}", crate::util::sha256_hex(seed.as_bytes()));
    json!({"key": st.admin_api_key})
}

fn dispatch(ctx: &Ctx, st: &mut State, who: Principal, req: &Req, tpl: &str, p: &[&str]) -> Resp {
    let r = match (req.method.as_str(), tpl) {
        ("GET", "compliance") => compliance::get(st, who),
        ("POST", "compliance/accept") => compliance::accept(st, req, who),
        ("GET", "system/version") => Ok(ok(json!({"version": st.host_version}))),
        ("GET", "settings/admin-api-key") => Ok(ok(admin_key_status(st))),
        ("POST", "settings/admin-api-key/regenerate") => Ok(ok(regenerate_admin_key(st))),
        ("GET", "groups") => groups::list(st, req),
        ("POST", "groups") => groups::create(st, req),
        ("GET", "groups/all") => groups::all(st, req),
        ("GET", "groups/:id") => groups::get(st, p[0]),
        ("PUT", "groups/:id") => groups::update(st, req, p[0]),
        ("DELETE", "groups/:id") => groups::delete(st, p[0]),
        ("GET", "groups/:id/subscriptions") => subscriptions::list_for_group(st, req, p[0]),
        ("GET", "groups/:id/api-keys") => groups::api_keys(st, req, p[0]),
        ("GET", "channels") => channels::list(st, req),
        ("POST", "channels") => channels::create(st, req),
        ("GET", "channels/:id") => channels::get(st, p[0]),
        ("PUT", "channels/:id") => channels::update(st, req, p[0]),
        ("DELETE", "channels/:id") => channels::delete(st, p[0]),
        ("GET", "payment/plans") => plans::list(st),
        ("POST", "payment/plans") => plans::create(st, req),
        ("PUT", "payment/plans/:id") => plans::update(st, req, p[0]),
        ("DELETE", "payment/plans/:id") => plans::delete(st, p[0]),
        ("GET", "accounts") => accounts::list(st, req),
        ("GET", "accounts/:id") => accounts::get(st, p[0]),
        ("PUT", "accounts/:id") => accounts::update(ctx, st, req, p[0]),
        ("DELETE", "accounts/:id") => accounts::delete(st, p[0]),
        ("POST", "accounts/:id/clear-error") => accounts::clear_error(st, p[0]),
        ("POST", "accounts/:id/clear-rate-limit") => accounts::clear_rate_limit(st, p[0]),
        ("GET", "accounts/:id/temp-unschedulable") => accounts::temp_get(st, p[0]),
        ("DELETE", "accounts/:id/temp-unschedulable") => accounts::temp_clear(st, p[0]),
        ("POST", "accounts/:id/recover-state") => accounts::recover(st, p[0]),
        ("POST", "accounts/:id/schedulable") => accounts::set_schedulable(st, req, p[0]),
        ("POST", "accounts/batch-clear-error") => accounts::batch_clear_error(st, req),
        ("GET", "accounts/:id/models") => accounts::models(st, p[0]),
        ("POST", "accounts/:id/models/sync-upstream") => accounts::sync_upstream(st, p[0]),
        ("POST", "accounts/models/sync-upstream-preview") => accounts::sync_upstream_preview(req),
        ("GET", "cn-providers/accounts/:id/balance") => accounts::cn_balance(st, p[0]),
        ("GET", "users") => users::list(st, req),
        ("POST", "users") => users::create(st, req),
        ("GET", "users/:id") => users::get(st, p[0]),
        ("PUT", "users/:id") => users::update(st, req, p[0]),
        ("DELETE", "users/:id") => users::delete(st, p[0]),
        ("GET", "users/:id/api-keys") => users::api_keys(st, req, p[0]),
        ("GET", "users/:id/subscriptions") => users::subscriptions(st, p[0]),
        ("GET", "subscriptions") => subscriptions::list(st, req),
        ("POST", "subscriptions/assign") => subscriptions::assign(st, req, who),
        ("GET", "subscriptions/:id") => subscriptions::get(st, p[0]),
        ("DELETE", "subscriptions/:id") => subscriptions::delete(st, p[0]),
        ("PUT", "api-keys/:id") => api_keys::update_group(st, req, p[0]),
        _ => Ok(not_found_route()),
    };
    r.unwrap_or_else(|e| e)
}

#[cfg(test)]
mod tests {
    use super::match_route;

    #[test]
    fn static_segments_win() {
        assert_eq!(
            match_route("GET", "groups/all").map(|r| r.0),
            Some("groups/all")
        );
        assert_eq!(match_route("GET", "groups/7").map(|r| r.1), Some(vec!["7"]));
        assert_eq!(
            match_route("POST", "accounts/batch").map(|r| r.0),
            Some("accounts/batch")
        );
        assert!(match_route("PATCH", "groups/7").is_none());
        assert!(match_route("GET", "nope").is_none());
    }
}
