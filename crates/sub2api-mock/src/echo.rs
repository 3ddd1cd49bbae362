//! The `echo_secrets` host knob: a chatty host (or vendor) that quotes secrets in
//! its answers, the way the security review's echoing proxy did (H1, appendix A).
//!
//! With the knob on:
//! * every error answer (status ≥ 400) of the admin API, login, user keys and the
//!   gateway quotes the secrets of the request in its message: the `x-api-key` or
//!   bearer token, and the body's `password`, `custom_key` and
//!   `credentials.api_key` (also of every `accounts[]` item);
//! * account creates and updates whose `api_key` contains `echo` are refused with
//!   `400 INVALID_CREDENTIALS` `account validation failed: api_key <key> is not
//!   accepted` (a batch create item fails with the same text);
//! * user creates whose e-mail contains `echo` are refused with `400` `password
//!   <password> for <email> is too weak`;
//! * a `fail_nth_admin_call` failure answers a plain-text (non-JSON) 500 quoting the
//!   caller's credential;
//! * the simulated vendors' 401 says `Incorrect API key provided: <key>`, so account
//!   tests (`… returned 401: …`), accounts' `error_message` and gateway errors relay
//!   the upstream key verbatim.
//!
//! Errors therefore happen on some calls only: an import with ordinary keys and
//! subscribers proceeds, and the marked keys, subscribers and injected failures
//! leave chatty texts behind.

use hyper::header::HeaderValue;
use serde_json::{Map, Value};

use crate::http::{err, raw, resp_body_bytes, Req, Resp};

/// The substring that marks an upstream key or an e-mail a chatty host refuses.
pub(crate) const MARKER: &str = "echo";

/// The secrets a request carried, labelled as a chatty host would quote them.
pub(crate) fn request_secrets(req: &Req) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(k) = req.header("x-api-key").filter(|k| !k.trim().is_empty()) {
        out.push(("x-api-key".to_string(), k.trim().to_string()));
    }
    if let Some(auth) = req.header("authorization") {
        if let Some((scheme, token)) = auth.trim().split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
                out.push(("Bearer".to_string(), token.trim().to_string()));
            }
        }
    }
    if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) {
        body_secrets(&body, &mut out);
        if let Some(Value::Array(items)) = body.get("accounts") {
            for item in items {
                if let Value::Object(m) = item {
                    body_secrets(m, &mut out);
                }
            }
        }
    }
    out
}

fn body_secrets(body: &Map<String, Value>, out: &mut Vec<(String, String)>) {
    for field in ["password", "custom_key"] {
        if let Some(v) = body.get(field).and_then(Value::as_str) {
            out.push((field.to_string(), v.to_string()));
        }
    }
    if let Some(k) = body
        .get("credentials")
        .and_then(|c| c.get("api_key"))
        .and_then(Value::as_str)
    {
        out.push(("api_key".to_string(), k.to_string()));
    }
}

fn quoted(secrets: &[(String, String)]) -> String {
    let parts: Vec<String> = secrets
        .iter()
        .map(|(label, value)| {
            if label == "Bearer" {
                format!("Authorization: Bearer {value}")
            } else {
                format!("{label}={value}")
            }
        })
        .collect();
    format!(" (request: {})", parts.join(", "))
}

/// `resp` with the request's secrets quoted in its error message, when it is an
/// error answer with a JSON body (admin envelope, middleware shape, the gateway's
/// OpenAI/Anthropic `error` object, or a string `error`).
pub(crate) fn quote_in_error(req: &Req, resp: Resp) -> Resp {
    let status = resp.status().as_u16();
    let secrets = request_secrets(req);
    if status < 400 || secrets.is_empty() {
        return resp;
    }
    let content_type = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("application/json"));
    let headers = resp.headers().clone();
    let bytes = resp_body_bytes(resp);
    let Ok(mut body) = serde_json::from_slice::<Value>(&bytes) else {
        let mut r = raw(status, content_type.to_str().unwrap_or("text/plain"), bytes);
        *r.headers_mut() = headers;
        return r;
    };
    let suffix = quoted(&secrets);
    let appended = |v: &mut Value| {
        if let Value::String(s) = v {
            s.push_str(&suffix);
            true
        } else {
            false
        }
    };
    let done = body.get_mut("message").is_some_and(appended)
        || body
            .get_mut("error")
            .and_then(|e| e.get_mut("message"))
            .is_some_and(appended)
        || body.get_mut("error").is_some_and(appended);
    if !done {
        if let Value::Object(m) = &mut body {
            m.insert("message".into(), Value::String(suffix.trim().to_string()));
        }
    }
    let mut r = raw(
        status,
        content_type.to_str().unwrap_or("application/json"),
        serde_json::to_vec(&body).unwrap_or_default(),
    );
    *r.headers_mut() = headers;
    r
}

/// The refusal of an account create or update whose key carries [`MARKER`].
pub(crate) fn refused_key(api_key: &str) -> Option<Resp> {
    api_key
        .to_ascii_lowercase()
        .contains(MARKER)
        .then(|| err(400, &refused_key_text(api_key), "INVALID_CREDENTIALS"))
}

/// The error text of a refused key (also a batch item's error).
pub(crate) fn refused_key_text(api_key: &str) -> String {
    format!("account validation failed: api_key {api_key} is not accepted")
}

/// The refusal of a user create whose e-mail carries [`MARKER`].
pub(crate) fn refused_user(email: &str, password: &str) -> Option<Resp> {
    email.to_ascii_lowercase().contains(MARKER).then(|| {
        err(
            400,
            &format!("password {password} for {email} is too weak"),
            "",
        )
    })
}

/// The injected failure (`fail_nth_admin_call`) of a chatty host: a plain-text 500
/// quoting the caller's credential.
pub(crate) fn injected_failure(req: &Req) -> Resp {
    let credential: Vec<(String, String)> = request_secrets(req)
        .into_iter()
        .filter(|(label, _)| label == "x-api-key" || label == "Bearer")
        .collect();
    raw(
        500,
        "text/plain; charset=utf-8",
        format!(
            "internal error: upstream database refused the caller{}",
            quoted(&credential)
        ),
    )
}
