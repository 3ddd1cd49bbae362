//! The host's idempotency coordinator for the writes that take an `Idempotency-Key`
//! (`service/idempotency.go`, `handler/idempotency_helper.go`,
//! `handler/admin/idempotency_helper.go` in the host source).
//!
//! Records are kept per (scope, key). A request runs through [`begin`] (key checks,
//! replay, conflicts, claim) and, once executed, [`finish`] (store the success, or
//! mark the key `failed_retryable` for the backoff window). Between the two the
//! record is `processing`: the admin driver sleeps the admin latency there, so a
//! concurrent request with the same key sees `IDEMPOTENCY_IN_PROGRESS`.

use std::collections::HashMap;

use hyper::header::HeaderValue;
use serde_json::Value;

use crate::http::{err_meta, raw, resp_body_bytes, Req, Resp};
use crate::state::State;
use crate::util::{now_ms, sha256_hex};

/// How long a record lives (`idempotency.default_ttl_seconds`, 24 h).
const RECORD_TTL_MS: i64 = 24 * 3600 * 1000;
/// How long a `processing` record is locked (`idempotency.processing_timeout_seconds`).
const PROCESSING_TIMEOUT_MS: i64 = 30 * 1000;

/// State of one record.
#[derive(Debug, Clone)]
pub(crate) enum Status {
    /// Being executed.
    Processing,
    /// Executed successfully: the stored answer (status and body).
    Succeeded { status: u16, body: Vec<u8> },
    /// The execution failed; the key may be retried after `locked_until_ms`.
    FailedRetryable,
}

/// A stored record.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    fingerprint: String,
    status: Status,
    locked_until_ms: i64,
    expires_at_ms: i64,
}

/// The records of one host, by `scope` + NUL + key hash.
pub(crate) type Records = HashMap<String, Record>;

/// One idempotent write: the coordinator's options.
#[derive(Debug)]
pub(crate) struct Spec {
    /// Host scope (`admin.accounts.create`, `user.api_keys.create`, …).
    pub scope: &'static str,
    /// Gin's full route path (part of the fingerprint).
    pub route: &'static str,
    /// `admin:<id>` or `user:<id>` (part of the fingerprint, not of the record key).
    pub actor: String,
    /// The bound request the fingerprint covers.
    pub payload: Value,
}

/// What [`begin`] decided.
#[derive(Debug)]
pub(crate) enum Claim {
    /// No key was sent (observe-only): execute without a record.
    Untracked,
    /// The request owns the record under this slot: execute, then [`finish`].
    Owned(String),
}

/// Canonical JSON text (sorted keys), like Go's `json.Marshal` of the bound struct.
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

/// Go's `int(lockedUntil.Sub(now).Seconds())`, at least 1.
fn retry_after_secs(locked_until_ms: i64, now: i64) -> i64 {
    ((locked_until_ms - now) / 1000).max(1)
}

/// A 409 with `metadata.retry_after` and the `Retry-After` header.
fn conflict_retry(message: &str, reason: &str, locked_until_ms: i64, now: i64) -> Resp {
    let secs = retry_after_secs(locked_until_ms, now).to_string();
    let mut r = err_meta(409, message, reason, &[("retry_after", &secs)]);
    if let Ok(v) = HeaderValue::from_str(&secs) {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

/// Phase 1: normalises the key, enforces it when the host requires one, answers a
/// replay, a conflict, an in-progress or a backoff, or claims the record.
pub(crate) fn begin(st: &mut State, req: &Req, spec: &Spec) -> Result<Claim, Resp> {
    let key = req.header("idempotency-key").unwrap_or("").trim();
    if key.is_empty() {
        if st.policy.idempotency_enforced {
            return Err(err_meta(
                400,
                "idempotency key is required",
                "IDEMPOTENCY_KEY_REQUIRED",
                &[],
            ));
        }
        return Ok(Claim::Untracked);
    }
    if key.len() > 128 || !key.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(err_meta(
            400,
            "idempotency key is invalid",
            "IDEMPOTENCY_KEY_INVALID",
            &[],
        ));
    }
    let fingerprint = sha256_hex(
        format!(
            "{}\n{}\n{}\n{}",
            req.method.as_str().to_uppercase(),
            spec.route,
            spec.actor,
            canonical(&spec.payload)
        )
        .as_bytes(),
    );
    let slot = format!("{}\u{0}{}", spec.scope, sha256_hex(key.as_bytes()));
    let now = now_ms();
    let fresh = Record {
        fingerprint: fingerprint.clone(),
        status: Status::Processing,
        locked_until_ms: now + PROCESSING_TIMEOUT_MS,
        expires_at_ms: now + RECORD_TTL_MS,
    };
    let Some(existing) = st.idempotency.get(&slot).cloned() else {
        st.idempotency.insert(slot.clone(), fresh);
        return Ok(Claim::Owned(slot));
    };
    if existing.fingerprint != fingerprint {
        return Err(err_meta(
            409,
            "idempotency key reused with different payload",
            "IDEMPOTENCY_KEY_CONFLICT",
            &[],
        ));
    }
    if existing.expires_at_ms <= now {
        st.idempotency.insert(slot.clone(), fresh);
        return Ok(Claim::Owned(slot));
    }
    match existing.status {
        Status::Succeeded { status, body } => {
            let mut r = raw(status, "application/json; charset=utf-8", body);
            r.headers_mut()
                .insert("x-idempotency-replayed", HeaderValue::from_static("true"));
            Err(r)
        }
        Status::Processing => Err(conflict_retry(
            "idempotent request is still processing",
            "IDEMPOTENCY_IN_PROGRESS",
            existing.locked_until_ms,
            now,
        )),
        Status::FailedRetryable if existing.locked_until_ms > now => Err(conflict_retry(
            "idempotent request is in retry backoff window",
            "IDEMPOTENCY_RETRY_BACKOFF",
            existing.locked_until_ms,
            now,
        )),
        Status::FailedRetryable => {
            st.idempotency.insert(slot.clone(), fresh);
            Ok(Claim::Owned(slot))
        }
    }
}

/// Phase 2: stores a 2xx answer for replay, or marks the key `failed_retryable` for
/// the backoff window; returns the answer unchanged.
pub(crate) fn finish(st: &mut State, claim: &Claim, resp: Resp) -> Resp {
    let Claim::Owned(slot) = claim else {
        return resp;
    };
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp_body_bytes(resp);
    let now = now_ms();
    let backoff = i64::try_from(st.policy.idempotency_retry_backoff_ms).unwrap_or(i64::MAX);
    if let Some(rec) = st.idempotency.get_mut(slot) {
        if (200..300).contains(&status) {
            rec.status = Status::Succeeded {
                status,
                body: body.to_vec(),
            };
            rec.expires_at_ms = now + RECORD_TTL_MS;
        } else {
            rec.status = Status::FailedRetryable;
            rec.locked_until_ms = now.saturating_add(backoff);
        }
    }
    let content_type = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json; charset=utf-8")
        .to_string();
    let mut out = raw(status, &content_type, body);
    for (name, value) in &headers {
        if name != hyper::header::CONTENT_TYPE {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_truncates_like_go_and_is_at_least_one() {
        assert_eq!(retry_after_secs(4_999, 0), 4);
        assert_eq!(retry_after_secs(5_000, 0), 5);
        assert_eq!(retry_after_secs(300, 0), 1);
        assert_eq!(retry_after_secs(0, 10), 1);
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"y":2,"x":1}],"c":null}}"#).unwrap();
        assert_eq!(
            canonical(&a),
            r#"{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}"#
        );
    }
}
