//! The host's two limiters the product meets when it provisions subscribers:
//!
//! * `POST /api/v1/auth/login`: 20 requests per client IP in a fixed 60 s window that
//!   starts with the first request; every request counts, refused ones too
//!   (`routes/auth.go`, `middleware/rate_limiter.go`). Over the limit: 429
//!   `{"error":"rate limit exceeded","message":"Too many requests, please try again later"}`
//!   with `Retry-After` = the window's remaining seconds, rounded up.
//! * Custom-key creation: each `API_KEY_EXISTS` counts against the user; at 20 the
//!   host answers 429 `API_KEY_RATE_LIMITED` (no `Retry-After`) to every create with a
//!   `custom_key` until 24 h after the last counted failure
//!   (`service/api_key_service.go`, `repository/api_key_cache.go`).

use std::collections::HashMap;
use std::net::IpAddr;

use hyper::header::HeaderValue;
use serde_json::json;

use crate::http::{err, json_resp, Resp};
use crate::state::State;
use crate::util::now_ms;

/// How long failed custom-key creates are remembered after the last one.
const KEY_FAILURE_TTL_MS: i64 = 24 * 3600 * 1000;

/// Counters of both limiters.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    /// Login window per client IP: (window end, requests in the window).
    login: HashMap<Option<IpAddr>, (i64, u64)>,
    /// Failed custom-key creates per user: (count, expiry).
    key_failures: HashMap<i64, (u32, i64)>,
}

impl Limits {
    /// The counters for `/__mock/state`: failed custom-key creates per user id (live
    /// counts only).
    pub(crate) fn dump(&self) -> serde_json::Value {
        let now = now_ms();
        let failures: serde_json::Map<String, serde_json::Value> = self
            .key_failures
            .iter()
            .filter(|(_, (_, expires))| *expires > now)
            .map(|(user, (count, _))| (user.to_string(), json!(count)))
            .collect();
        json!({ "key_create_failures": failures })
    }
}

/// Counts a login request from `peer`; the 429 to answer when over the limit.
pub(crate) fn login_allowed(st: &mut State, peer: Option<IpAddr>) -> Result<(), Resp> {
    let now = now_ms();
    let limit = u64::from(st.policy.login_rate_limit);
    let window = i64::try_from(st.policy.login_rate_window_secs.saturating_mul(1000))
        .unwrap_or(i64::MAX)
        .max(1);
    let slot = st.limits.login.entry(peer).or_insert((0, 0));
    if slot.0 <= now {
        *slot = (now.saturating_add(window), 0);
    }
    slot.1 += 1;
    if slot.1 <= limit {
        return Ok(());
    }
    let remaining = slot.0 - now;
    let secs = (remaining + 999) / 1000;
    let mut r = json_resp(
        429,
        &json!({"error": "rate limit exceeded", "message": "Too many requests, please try again later"}),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers_mut().insert("retry-after", v);
    }
    Err(r)
}

/// 429 `API_KEY_RATE_LIMITED` when `user` has used up its failed custom-key creates.
pub(crate) fn custom_key_allowed(st: &State, user: i64) -> Result<(), Resp> {
    let now = now_ms();
    let count = match st.limits.key_failures.get(&user) {
        Some((count, expires)) if *expires > now => *count,
        _ => 0,
    };
    if count >= st.policy.api_key_failure_limit {
        return Err(err(
            429,
            "too many failed attempts, please try again later",
            "API_KEY_RATE_LIMITED",
        ));
    }
    Ok(())
}

/// Counts one failed custom-key create of `user` (the expiry restarts, as the
/// host's `EXPIRE` after `INCR` does).
pub(crate) fn count_key_failure(st: &mut State, user: i64) {
    let now = now_ms();
    let slot = st.limits.key_failures.entry(user).or_insert((0, 0));
    if slot.1 <= now {
        slot.0 = 0;
    }
    slot.0 += 1;
    slot.1 = now + KEY_FAILURE_TTL_MS;
}
