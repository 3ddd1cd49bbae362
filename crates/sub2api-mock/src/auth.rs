//! Login, JWT-like tokens, admin and user authentication.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::http::{err, mw_err, ok, Body, Req, Resp};
use crate::state::State;
use crate::util::{now_ms, sha256_hex};

/// Access-token lifetime in seconds (the host's default `jwt.expire_hour` = 24).
pub(crate) const ACCESS_TTL_SECS: i64 = 24 * 3600;

/// Who an authenticated admin call runs as.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Principal {
    pub user_id: i64,
}

fn sign(secret: &str, signing_input: &str) -> String {
    let digest = sha256_hex(format!("{secret}.{signing_input}").as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_bytes())
}

/// Issues an HS256-looking access token (three base64url segments).
pub(crate) fn issue_token(st: &mut State, user_id: i64) -> String {
    let (email, role, version) = match st.users.get(&user_id) {
        Some(u) => (u.email.clone(), u.role.clone(), u.token_version),
        None => (String::new(), String::new(), 0),
    };
    let now = now_ms() / 1000;
    let nonce = st.next_seq();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = json!({
        "user_id": user_id, "email": email, "role": role, "token_version": version,
        "iat": now, "exp": now + ACCESS_TTL_SECS, "jti": nonce,
    });
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let sig = sign(&st.token_secret, &input);
    let token = format!("{input}.{sig}");
    st.issued_tokens.push(token.clone());
    token
}

/// Validates an access token; errors are middleware-shaped 401s.
pub(crate) fn verify_token(st: &State, token: &str) -> Result<i64, Resp> {
    let invalid = || mw_err(401, "INVALID_TOKEN", "Invalid token");
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(invalid());
    }
    let input = format!("{}.{}", parts[0], parts[1]);
    if sign(&st.token_secret, &input) != parts[2] {
        return Err(invalid());
    }
    let payload: Value = URL_SAFE_NO_PAD
        .decode(parts[1])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(invalid)?;
    let exp = payload["exp"].as_i64().unwrap_or(0);
    if exp <= now_ms() / 1000 {
        return Err(mw_err(401, "TOKEN_EXPIRED", "Token has expired"));
    }
    let uid = payload["user_id"].as_i64().ok_or_else(invalid)?;
    let user = st
        .users
        .get(&uid)
        .ok_or_else(|| mw_err(401, "USER_NOT_FOUND", "User not found"))?;
    if user.status != "active" {
        return Err(mw_err(401, "USER_INACTIVE", "User account is not active"));
    }
    if payload["token_version"].as_i64().unwrap_or(-1) != user.token_version {
        return Err(mw_err(401, "TOKEN_REVOKED", "Token has been revoked"));
    }
    Ok(uid)
}

fn bearer(req: &Req) -> Option<Result<String, ()>> {
    let h = req.header("authorization")?;
    let mut it = h.splitn(2, ' ');
    let scheme = it.next().unwrap_or("");
    let token = it.next().unwrap_or("").trim();
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Some(Err(()));
    }
    Some(Ok(token.to_string()))
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Admin middleware: `x-api-key` alone decides when present, else a Bearer JWT of an admin.
pub(crate) fn admin_auth(st: &State, req: &Req) -> Result<Principal, Resp> {
    if let Some(key) = req.header("x-api-key").filter(|k| !k.is_empty()) {
        if st.admin_api_key.is_empty() || !ct_eq(key.as_bytes(), st.admin_api_key.as_bytes()) {
            return Err(mw_err(401, "INVALID_ADMIN_KEY", "Invalid admin API key"));
        }
        let uid = st
            .first_admin_id()
            .ok_or_else(|| mw_err(500, "INTERNAL_ERROR", "No admin user found"))?;
        return Ok(Principal { user_id: uid });
    }
    match bearer(req) {
        None => Err(mw_err(401, "UNAUTHORIZED", "Authorization required")),
        Some(Err(())) => Err(mw_err(
            401,
            "INVALID_AUTH_HEADER",
            "Authorization header format must be 'Bearer {token}'",
        )),
        Some(Ok(t)) if t.is_empty() => Err(mw_err(401, "EMPTY_TOKEN", "Token cannot be empty")),
        Some(Ok(t)) => {
            let uid = verify_token(st, &t)?;
            let is_admin = st.users.get(&uid).is_some_and(|u| u.role == "admin");
            if !is_admin {
                return Err(mw_err(403, "FORBIDDEN", "Admin access required"));
            }
            Ok(Principal { user_id: uid })
        }
    }
}

/// User-JWT middleware (for `/api/v1/keys` and other self-service routes).
pub(crate) fn user_auth(st: &State, req: &Req) -> Result<i64, Resp> {
    match bearer(req) {
        None => Err(mw_err(
            401,
            "UNAUTHORIZED",
            "Authorization header is required",
        )),
        Some(Err(())) => Err(mw_err(
            401,
            "INVALID_AUTH_HEADER",
            "Authorization header format must be 'Bearer {token}'",
        )),
        Some(Ok(t)) if t.is_empty() => Err(mw_err(401, "EMPTY_TOKEN", "Token cannot be empty")),
        Some(Ok(t)) => verify_token(st, &t),
    }
}

fn token_response(st: &mut State, uid: i64) -> Value {
    let access = issue_token(st, uid);
    let nonce = st.next_seq();
    let refresh = format!(
        "rt_{}",
        sha256_hex(format!("{}:{uid}:{nonce}", st.token_secret).as_bytes())
    );
    st.refresh_tokens.insert(refresh.clone(), uid);
    let user = st
        .users
        .get(&uid)
        .map(|u| st.user_dto(u))
        .unwrap_or(Value::Null);
    json!({
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": ACCESS_TTL_SECS,
        "token_type": "Bearer",
        "user": user,
    })
}

/// `POST /api/v1/auth/login`.
pub(crate) fn login(st: &mut State, req: &Req) -> Resp {
    let map = match req.json_object() {
        Ok(m) => m,
        Err(r) => return r,
    };
    let b = Body::new(&map, "LoginRequest");
    let email = match b.req_str("email") {
        Ok(e) => e,
        Err(r) => return r,
    };
    if !email.contains('@') {
        return b.invalid("email", "email");
    }
    let password = match b.req_str("password") {
        Ok(p) => p,
        Err(r) => return r,
    };
    // The captcha is verified before the credentials (the login carries no ticket).
    if let Some(provider) = st.knobs.login_captcha.as_deref() {
        let code = format!(
            "{}_CAPTCHA_VERIFICATION_FAILED",
            provider.to_ascii_uppercase()
        );
        return err(
            400,
            &format!("{provider} captcha verification failed"),
            &code,
        );
    }
    let found = st
        .users
        .values()
        .find(|u| u.email.eq_ignore_ascii_case(&email))
        .map(|u| {
            (
                u.id,
                u.password == password,
                u.status.clone(),
                u.role.clone(),
            )
        });
    let Some((uid, pw_ok, status, role)) = found else {
        return err(401, "invalid email or password", "INVALID_CREDENTIALS");
    };
    if !pw_ok {
        return err(401, "invalid email or password", "INVALID_CREDENTIALS");
    }
    if status != "active" {
        return err(403, "user is not active", "USER_NOT_ACTIVE");
    }
    if st.faults.backend_mode && role != "admin" {
        return err(
            403,
            "Backend mode is active. Only admin login is allowed.",
            "BACKEND_MODE_ADMIN_ONLY",
        );
    }
    if let Some(u) = st.users.get_mut(&uid) {
        u.last_active_at = Some(now_ms());
    }
    ok(token_response(st, uid))
}

/// `POST /api/v1/auth/refresh`.
pub(crate) fn refresh(st: &mut State, req: &Req) -> Resp {
    let map = match req.json_object() {
        Ok(m) => m,
        Err(r) => return r,
    };
    let b = Body::new(&map, "RefreshTokenRequest");
    let token = match b.req_str("refresh_token") {
        Ok(t) => t,
        Err(r) => return r,
    };
    match st.refresh_tokens.remove(&token) {
        Some(uid) if st.users.get(&uid).is_some_and(|u| u.status == "active") => {
            ok(token_response(st, uid))
        }
        _ => err(401, "invalid refresh token", "INVALID_REFRESH_TOKEN"),
    }
}
