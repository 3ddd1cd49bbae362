//! Users: `/api/v1/admin/users`.

use serde_json::Value;

use crate::http::{
    bad_request, err, ok, ok_message, page_params, paginate, path_id, Body, Req, Resp,
};
use crate::state::{State, User};
use crate::util::now_ms;

type R = Result<Resp, Resp>;

fn find(st: &State, id: i64) -> Result<&User, Resp> {
    st.users
        .get(&id)
        .ok_or_else(|| err(404, "user not found", "USER_NOT_FOUND"))
}

fn valid_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(' ')
        }
        None => false,
    }
}

pub(super) fn list(st: &mut State, req: &Req) -> R {
    let (page, size) = page_params(req);
    let search = req.q_nonempty("search").map(str::to_lowercase);
    let status = req.q_nonempty("status");
    let role = req.q_nonempty("role");
    let mut users: Vec<&User> = st
        .users
        .values()
        .filter(|u| {
            search.as_ref().is_none_or(|s| {
                u.email.to_lowercase().contains(s) || u.username.to_lowercase().contains(s)
            })
        })
        .filter(|u| status.is_none_or(|s| u.status == s))
        .filter(|u| role.is_none_or(|r| u.role == r))
        .collect();
    users.sort_by_key(|u| (u.created_at, u.id));
    if req.q("sort_order") != Some("asc") {
        users.reverse();
    }
    let items: Vec<Value> = users.iter().map(|u| st.admin_user_dto(u)).collect();
    Ok(ok(paginate(items, page, size)))
}

pub(super) fn get(st: &mut State, id: &str) -> R {
    let id = path_id(id, "user")?;
    Ok(ok(st.admin_user_dto(find(st, id)?)))
}

pub(super) fn create(st: &mut State, req: &Req) -> R {
    let map = req.json_object()?;
    let b = Body::new(&map, "CreateUserRequest");
    let email = b.req_str("email")?;
    if !valid_email(&email) {
        return Err(b.invalid("email", "email"));
    }
    let password = b.req_str("password")?;
    if password.chars().count() < 6 {
        return Err(b.invalid("password", "min"));
    }
    if st.knobs.echo_secrets {
        if let Some(refused) = crate::echo::refused_user(&email, &password) {
            return Err(refused);
        }
    }
    let role = b
        .str("role")?
        .filter(|r| !r.is_empty())
        .unwrap_or("user".into());
    if role != "user" && role != "admin" {
        return Err(b.invalid("role", "oneof"));
    }
    let username = b.str("username")?.unwrap_or_default();
    let notes = b.str("notes")?.unwrap_or_default();
    let balance = b.f64("balance")?.unwrap_or(0.0);
    // The host stores an omitted concurrency as 0, which means "no limit".
    let concurrency = b.i64("concurrency")?.unwrap_or(0);
    let rpm_limit = b.i64("rpm_limit")?.unwrap_or(0);
    let allowed_groups = b.i64_vec("allowed_groups")?.unwrap_or_default();
    if st
        .users
        .values()
        .any(|u| u.email.eq_ignore_ascii_case(&email))
    {
        return Err(err(409, "email already exists", "EMAIL_EXISTS"));
    }
    let now = now_ms();
    let id = st.next_id("user");
    st.users.insert(
        id,
        User {
            id,
            email,
            username,
            password,
            role,
            balance,
            concurrency,
            status: "active".into(),
            allowed_groups,
            notes,
            rpm_limit,
            token_version: 0,
            last_active_at: None,
            created_at: now,
            updated_at: now,
        },
    );
    Ok(ok(st.admin_user_dto(&st.users[&id])))
}

pub(super) fn update(st: &mut State, req: &Req, id: &str) -> R {
    let id = path_id(id, "user")?;
    let map = req.json_object()?;
    let b = Body::new(&map, "UpdateUserRequest");
    let mut u = find(st, id)?.clone();
    if let Some(email) = b.str("email")? {
        if !valid_email(&email) {
            return Err(b.invalid("email", "email"));
        }
        if st
            .users
            .values()
            .any(|o| o.id != id && o.email.eq_ignore_ascii_case(&email))
        {
            return Err(err(409, "email already exists", "EMAIL_EXISTS"));
        }
        u.email = email;
    }
    if let Some(pw) = b.str("password")? {
        if !pw.is_empty() {
            if pw.chars().count() < 6 {
                return Err(b.invalid("password", "min"));
            }
            u.password = pw;
            u.token_version += 1;
        }
    }
    if let Some(v) = b.str("username")? {
        u.username = v;
    }
    if let Some(v) = b.str("notes")? {
        u.notes = v;
    }
    if let Some(role) = b.str("role")? {
        if role != "admin" && role != "user" {
            return Err(b.invalid("role", "oneof"));
        }
        u.role = role;
    }
    if let Some(v) = b.f64("balance")? {
        u.balance = v;
    }
    if let Some(v) = b.i64("concurrency")? {
        u.concurrency = v;
    }
    if let Some(v) = b.i64("rpm_limit")? {
        u.rpm_limit = v;
    }
    if let Some(s) = b.str("status")? {
        if s != "active" && s != "disabled" {
            return Err(b.invalid("status", "oneof"));
        }
        u.status = s;
    }
    if let Some(groups) = b.i64_vec("allowed_groups")? {
        u.allowed_groups = groups;
    }
    u.updated_at = now_ms();
    st.users.insert(id, u);
    Ok(ok(st.admin_user_dto(&st.users[&id])))
}

pub(super) fn delete(st: &mut State, id: &str) -> R {
    let id = path_id(id, "user")?;
    let u = find(st, id)?;
    if u.role == "admin" {
        return Err(bad_request("cannot delete admin user"));
    }
    st.users.remove(&id);
    st.keys.retain(|_, k| k.user_id != id);
    st.subscriptions.retain(|_, s| s.user_id != id);
    Ok(ok_message("User deleted successfully"))
}

/// A bound `UpdateBalanceRequest` for one user.
#[derive(Debug, Clone)]
pub(crate) struct BalanceInput {
    pub user: i64,
    amount: f64,
    operation: String,
}

/// Binds `POST /users/:id/balance` (`balance` required and > 0, `operation` one of
/// set/add/subtract) before the idempotency coordinator.
pub(crate) fn bind_balance(req: &Req, id: &str) -> Result<BalanceInput, Resp> {
    let user = path_id(id, "user")?;
    let map = req.json_object()?;
    let b = Body::new(&map, "UpdateBalanceRequest");
    let amount = match b.f64("balance")? {
        Some(a) if a > 0.0 => a,
        Some(_) => return Err(b.invalid("balance", "gt")),
        None => return Err(b.invalid("balance", "required")),
    };
    let operation = b.req_str("operation")?;
    if !["set", "add", "subtract"].contains(&operation.as_str()) {
        return Err(b.invalid("operation", "oneof"));
    }
    b.str("notes")?;
    Ok(BalanceInput {
        user,
        amount,
        operation,
    })
}

/// The execution of a balance change (under the idempotency coordinator).
pub(crate) fn execute_balance(st: &mut State, input: &BalanceInput) -> Resp {
    if let Err(r) = find(st, input.user) {
        return r;
    }
    let u = st.users.get_mut(&input.user).expect("checked");
    match input.operation.as_str() {
        "set" => u.balance = input.amount,
        "add" => u.balance += input.amount,
        _ => u.balance -= input.amount,
    }
    u.updated_at = now_ms();
    ok(st.admin_user_dto(&st.users[&input.user]))
}

pub(super) fn api_keys(st: &mut State, req: &Req, id: &str) -> R {
    let id = path_id(id, "user")?;
    find(st, id)?;
    let (page, size) = page_params(req);
    let mut keys: Vec<Value> = st
        .keys
        .values()
        .filter(|k| k.user_id == id)
        .map(|k| st.key_dto(k))
        .collect();
    keys.reverse();
    Ok(ok(paginate(keys, page, size)))
}

pub(super) fn subscriptions(st: &mut State, id: &str) -> R {
    let id = path_id(id, "user")?;
    find(st, id)?;
    let subs: Vec<Value> = st
        .subscriptions
        .values()
        .filter(|s| s.user_id == id && !s.is_revoked())
        .map(|s| st.sub_dto(s))
        .collect();
    Ok(ok(Value::Array(subs)))
}
