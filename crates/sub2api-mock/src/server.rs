//! The hyper server loop and top-level routing.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::http::{json_resp, not_found_route, ok, raw, Req, Resp};
use crate::state::State;
use crate::{admin, auth, gateway, inspect, keys, limits, vendor_server};

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// `Some(own base URL)` in the vendor-only role: only the simulated vendors answer.
    pub vendor_only: Option<String>,
}

/// Handle passed to every handler.
pub(crate) type Ctx = Arc<Shared>;

/// Locks the state (a poisoned lock is recovered; the state stays usable).
pub(crate) fn lock(ctx: &Ctx) -> MutexGuard<'_, State> {
    ctx.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Accepts connections until `shutdown` flips.
pub(crate) async fn serve(listener: TcpListener, ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let ctx = ctx.clone();
                        async move { Ok::<_, Infallible>(handle(ctx, req, peer.ip()).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
}

async fn handle(ctx: Ctx, req: Request<Incoming>, peer: IpAddr) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return raw(400, "text/plain", "bad request body"),
    };
    let req = Req::new(
        parts.method,
        parts.uri.path(),
        parts.uri.query(),
        parts.headers,
        body,
        Some(peer),
    );
    route(&ctx, &req).await
}

const SPA_HTML: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sub2API</title></head><body><div id=\"app\"></div></body></html>";

async fn route(ctx: &Ctx, req: &Req) -> Resp {
    let resp = route_inner(ctx, req).await;
    let host_api = ctx.vendor_only.is_none()
        && !req.path.starts_with("/__mock/")
        && (req.path.starts_with("/api/") || req.path.starts_with("/v1"));
    if host_api && lock(ctx).knobs.echo_secrets {
        return crate::echo::quote_in_error(req, resp);
    }
    resp
}

async fn route_inner(ctx: &Ctx, req: &Req) -> Resp {
    if let Some(own) = &ctx.vendor_only {
        return vendor_server::route(ctx, req, own).await;
    }
    let path = req.path.as_str();
    let m = &req.method;
    if let Some(rest) = path.strip_prefix("/__mock/") {
        return inspect::handle(ctx, req, rest);
    }
    if let Some(rest) = path.strip_prefix("/api/v1/admin/") {
        return admin::handle(ctx, req, rest).await;
    }
    match (m, path) {
        (&Method::GET, "/health") => return json_resp(200, &json!({"status": "ok"})),
        (&Method::GET, "/setup/status") => {
            return json_resp(
                200,
                &json!({"code": 0, "data": {"needs_setup": false, "step": "completed"}}),
            )
        }
        (&Method::GET, "/api/v1/settings/public") => {
            let st = lock(ctx);
            return ok(json!({
                "version": st.host_version,
                "site_name": "Sub2API",
                "site_logo": "",
                "site_subtitle": "",
                "api_base_url": "",
                "contact_info": "",
                "doc_url": "",
                "registration_enabled": false,
                "email_verify_enabled": false,
                "promo_code_enabled": false,
                "turnstile_enabled": false,
                "tencent_captcha_enabled": st.knobs.login_captcha.as_deref() == Some("tencent"),
                "aliyun_captcha_enabled": st.knobs.login_captcha.as_deref() == Some("aliyun"),
                "turnstile_site_key": "",
                "totp_enabled": false,
                "linuxdo_oauth_enabled": false,
                "backend_mode_enabled": st.faults.backend_mode,
                "payment_enabled": !st.faults.disable_payment,
                "available_channels_enabled": !st.faults.disable_channels,
                "channel_monitor_enabled": false,
            }));
        }
        (&Method::POST, "/api/v1/auth/login") => {
            let mut st = lock(ctx);
            *st.counters
                .entry("POST /api/v1/auth/login".to_string())
                .or_insert(0) += 1;
            if let Err(r) = limits::login_allowed(&mut st, req.peer) {
                return r;
            }
            return auth::login(&mut st, req);
        }
        (&Method::POST, "/api/v1/auth/refresh") => return auth::refresh(&mut lock(ctx), req),
        (&Method::GET, "/api/v1/auth/me") => {
            let st = lock(ctx);
            return match auth::user_auth(&st, req) {
                Ok(uid) => ok(st
                    .users
                    .get(&uid)
                    .map(|u| st.user_dto(u))
                    .unwrap_or_default()),
                Err(r) => r,
            };
        }
        _ => {}
    }
    if path == "/api/v1/keys" || path.starts_with("/api/v1/keys/") {
        if let Some(r) = keys::handle(ctx, req) {
            return r;
        }
    }
    if let Some(r) = gateway::handle(ctx, req).await {
        return r;
    }
    let passthrough = ["/api/", "/v1/", "/v1beta/", "/setup/"];
    if passthrough.iter().any(|p| path.starts_with(p)) || path == "/health" || path == "/responses"
    {
        return not_found_route();
    }
    raw(200, "text/html; charset=utf-8", SPA_HTML)
}
