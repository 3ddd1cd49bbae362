//! The vendor-only role: the simulated vendors alone on a port, as an
//! OpenAI-compatible upstream for a real sub2api host's accounts.
//!
//! A real host calls its accounts' `credentials.base_url`; pointing that at this
//! server (on loopback) gives the host's account tests and gateway the same
//! key-pattern behaviour the emulated host has in-process (see [`crate::vendor`]):
//! `invalid` → 401, `quota` → 402, `ratelimit` → 429, `slow` → a late answer, any
//! other key a correct completion ("pong"). It is a chat-only vendor: `/responses`
//! answers 404, as the Chinese vendors of the bundled pack do.
//!
//! Routes, matched on the end of the path so any prefix may come before them (with
//! or without `/v1`, since hosts join base URLs either way, and under a path per
//! provider such as `/deepseek/v1/…`, so one vendor serves every provider of a pack
//! with its own base URL): `GET …/models`, `POST …/chat/completions` (JSON or SSE
//! when `"stream": true`), `POST …/responses`. The key comes from
//! `Authorization: Bearer`. The model list is the bundled pack's models of the vendor
//! the path names ([`vendor::listed_models`]: a `newmodel` key also lists
//! `<vendor>-next`); the balance routes `…/user/balance` (DeepSeek) and
//! `…/v1/users/me/balance` (Moonshot) answer `0.00 CNY` for a `quota` key, `0.50 CNY` for a `lowbal` key, else
//! `100.00`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::gateway::completion;
use crate::http::{json_resp, raw, Req, Resp};
use crate::server::{lock, Ctx};
use crate::vendor::{self, Endpoint};

/// The vendor's answer to `GET /models`: the models of the bundled pack's vendors.
pub(crate) const VENDOR_MODELS: &[&str] = &[
    "deepseek-flash",
    "deepseek-v4-pro",
    "kimi-k2.6",
    "kimi-k3",
    "kimi-k2.7-code",
    "kimi-k2.7-code-highspeed",
    "MiniMax-M2.7",
    "MiniMax-M3",
    "MiniMax-M2.7-highspeed",
    "qwen-flash",
    "qwen-plus",
    "qwen-max",
    "glm-4.7-flash",
    "glm-5.3",
    "glm-5.3-flash",
    "glm-5",
    "step-3.5-flash",
    "step-3",
];

/// Routes one request of the vendor role.
pub(crate) async fn route(ctx: &Ctx, req: &Req, own_base_url: &str) -> Resp {
    let path = req.path.trim_end_matches('/');
    if req.method == "GET"
        && (path.ends_with("/user/balance") || path.ends_with("/users/me/balance"))
    {
        return balance(req, path);
    }
    let endpoint = match (req.method.as_str(), endpoint_of(path)) {
        ("GET", Some("/models")) => None,
        ("POST", Some("/chat/completions")) => Some(Endpoint::ChatCompletions),
        ("POST", Some("/responses")) => Some(Endpoint::Responses),
        _ => {
            return error(
                404,
                &format!("Invalid URL ({} {})", req.method, req.path),
                "invalid_request_error",
                "not_found",
            )
        }
    };
    let key = bearer(req);
    if key.is_empty() {
        return error(
            401,
            "You didn't provide an API key.",
            "invalid_request_error",
            "invalid_api_key",
        );
    }
    // `/models` answers like the vendor's other endpoints for a bad key.
    let up = vendor::call(
        "openai",
        &key,
        own_base_url,
        endpoint.unwrap_or(Endpoint::ChatCompletions),
    );
    if up.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(up.delay_ms)).await;
    }
    if !up.is_success() {
        return raw(up.status, "application/json", up.body);
    }
    match endpoint {
        None => {
            let data: Vec<Value> = vendor::listed_models(&req.path, &key)
                .iter()
                .map(|id| vendor::model_item("openai", id))
                .collect();
            json_resp(200, &json!({"object": "list", "data": data}))
        }
        Some(_) => {
            let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                return error(
                    400,
                    "We could not parse the JSON body of your request.",
                    "invalid_request_error",
                    "invalid_json",
                );
            };
            let Some(model) = body["model"].as_str().filter(|m| !m.is_empty()) else {
                return error(
                    400,
                    "you must provide a model parameter",
                    "invalid_request_error",
                    "missing_model",
                );
            };
            let stream = body["stream"].as_bool().unwrap_or(false);
            let seq = lock(ctx).next_seq();
            completion(model, &body, stream, seq)
        }
    }
}

/// The balance routes: DeepSeek's `GET …/user/balance` and Moonshot's
/// `GET …/v1/users/me/balance`, each in its vendor's shape (see
/// [`vendor::balance_of`]); a bad key is refused like the other endpoints.
fn balance(req: &Req, path: &str) -> Resp {
    let key = bearer(req);
    if key.is_empty() {
        return error(
            401,
            "You didn't provide an API key.",
            "invalid_request_error",
            "invalid_api_key",
        );
    }
    let lower = key.to_ascii_lowercase();
    if lower.contains("invalid") || lower.contains("unreachable") {
        let up = vendor::call("openai", &key, "", Endpoint::ChatCompletions);
        return raw(up.status.max(401), "application/json", up.body);
    }
    if path.ends_with("/user/balance") {
        json_resp(200, &vendor::deepseek_balance_body(&key))
    } else {
        json_resp(200, &vendor::kimi_balance_body(&key))
    }
}

/// The endpoint a path ends with (`/models`, `/chat/completions`, `/responses`),
/// whatever prefix comes before it.
fn endpoint_of(path: &str) -> Option<&'static str> {
    ["/models", "/chat/completions", "/responses"]
        .into_iter()
        .find(|e| path.ends_with(e))
}

fn bearer(req: &Req) -> String {
    req.header("authorization")
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim().to_string())
        .unwrap_or_default()
}

fn error(status: u16, message: &str, kind: &str, code: &str) -> Resp {
    json_resp(
        status,
        &json!({"error": {"message": message, "type": kind, "param": Value::Null, "code": code}}),
    )
}
